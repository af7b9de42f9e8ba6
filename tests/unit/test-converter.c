/* Unit tests for ferry-converter's library: the OS id map (every spelling a
 * source uses for the same OS gives the same preference), the MAC and UUID
 * normalizers, disk order, and image sizes (the image library). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "converter/inputs.h"
#include "converter/inputs/ovf.h"
#include "converter/osmap.h"
#include "converter/outputs/kubevirt.h"
#include "converter/vm_def.h"
#include "image/image.h"
#include "testlib.h"

/* What the OS id map gives for one spelling FMT uses. */
struct os_case {
    const char *fmt, *id;
    enum ferry_vm_os_family family;
    const char *osinfo, *preference;
};

static void
check_os(const struct os_case *c)
{
    struct ferry_os_info os;
    ferry_osmap_lookup(c->fmt, c->id, &os);
    if (os.family != c->family || strcmp(os.osinfo, c->osinfo) ||
        strcmp(os.preference, c->preference))
        fail_msg("%s '%s': got family %d osinfo '%s' preference '%s', want %d '%s' '%s'", c->fmt,
                 c->id, os.family, os.osinfo, os.preference, c->family, c->osinfo, c->preference);
}

/* Every spelling of an OS the sources use, and what the map gives for it. */
static const struct os_case os_ids[] = {
    /* Windows.  VMware names newer Windows as "previous version + Next". */
    { "vmx", "windows2019srvNext-64", FERRY_OS_WINDOWS, "win2k22", "windows.2k22" },
    { "ovf", "windows2019srvNext_64Guest", FERRY_OS_WINDOWS, "win2k22", "windows.2k22" },
    { "vmx", "windows2022srvNext-64", FERRY_OS_WINDOWS, "win2k25", "windows.2k25" },
    { "vmx", "windows2019srv-64", FERRY_OS_WINDOWS, "win2k19", "windows.2k19" },
    { "vmx", "windows9srv-64", FERRY_OS_WINDOWS, "win2k16", "windows.2k16" },
    { "ovf", "windows9Server64Guest", FERRY_OS_WINDOWS, "win2k16", "windows.2k16" },
    { "vmx", "windows9-64", FERRY_OS_WINDOWS, "win10", "windows.10" },
    { "vmx", "windows11-64", FERRY_OS_WINDOWS, "win11", "windows.11" },
    { "vbox", "Windows2019_64", FERRY_OS_WINDOWS, "win2k19", "windows.2k19" },
    { "vbox", "Windows10_64", FERRY_OS_WINDOWS, "win10", "windows.10" },
    { "libvirt", "http://microsoft.com/win/2k19", FERRY_OS_WINDOWS, "win2k19", "windows.2k19" },
    { "ovf", "118", FERRY_OS_WINDOWS, "win2k16", "windows.2k16" },
    { "vmx", "winnetenterprise", FERRY_OS_WINDOWS, "win2k3", "windows.2k3" },
    /* oVirt unique names (osinfo-defaults.properties), as Forklift's oVirt map reads them */
    { "ovf", "windows_2019x64", FERRY_OS_WINDOWS, "win2k19", "windows.2k19" },
    { "ovf", "windows_2012R2x64", FERRY_OS_WINDOWS, "win2k12r2", "windows.2k12" },
    { "ovf", "windows_2022", FERRY_OS_WINDOWS, "win2k22", "windows.2k22" },
    { "ovf", "windows_10x64", FERRY_OS_WINDOWS, "win10", "windows.10" },
    { "ovf", "windows_11", FERRY_OS_WINDOWS, "win11", "windows.11" },
    /* Linux and the others */
    { "vmx", "rhel9-64", FERRY_OS_LINUX, "rhel9", "rhel.9" },
    { "ovf", "rhel8_64Guest", FERRY_OS_LINUX, "rhel8", "rhel.8" },
    { "vmx", "rhel6-64", FERRY_OS_LINUX, "rhel6", "" },
    { "libvirt", "http://redhat.com/rhel/9.2", FERRY_OS_LINUX, "rhel9.2", "rhel.9" },
    { "vmx", "centos7-64", FERRY_OS_LINUX, "centos7", "centos.7" },
    { "vmx", "centos8-64", FERRY_OS_LINUX, "centos8", "centos.stream8" },
    { "libvirt", "http://centos.org/centos-stream/9", FERRY_OS_LINUX, "centos-stream9",
      "centos.stream9" },
    { "vmx", "ubuntu-64", FERRY_OS_LINUX, "ubuntu", "ubuntu" },
    { "vbox", "Ubuntu_64", FERRY_OS_LINUX, "ubuntu", "ubuntu" },
    { "libvirt", "http://ubuntu.com/ubuntu/22.04", FERRY_OS_LINUX, "ubuntu22.04", "ubuntu" },
    { "vmx", "debian11-64", FERRY_OS_LINUX, "debian11", "debian" },
    { "inspect", "debian12", FERRY_OS_LINUX, "debian12", "debian" },
    { "vmx", "other4xlinux-64", FERRY_OS_LINUX, "linux", "" },
    { "vmx", "sles15-64", FERRY_OS_LINUX, "sles15", "sles" },
    { "vbox", "ArchLinux_64", FERRY_OS_LINUX, "archlinux", "" },
    { "vmx", "freebsd-64", FERRY_OS_OTHER, "freebsd", "" },
    { "ovf", "rhel_8x64", FERRY_OS_LINUX, "rhel8", "rhel.8" },
    { "ovf", "rhel_9x64", FERRY_OS_LINUX, "rhel9", "rhel.9" },
    { "ovf", "RHEL6x64", FERRY_OS_LINUX, "rhel6", "" },
    { "ovf", "ubuntu_14_04", FERRY_OS_LINUX, "ubuntu14.04", "ubuntu" },
    { "ovf", "debian_7", FERRY_OS_LINUX, "debian7", "debian" },
    { "ovf", "sles_11", FERRY_OS_LINUX, "sles11", "sles" },
    { "ovf", "other_linux", FERRY_OS_LINUX, "linux", "" },
    { "ovf", "OtherLinux", FERRY_OS_LINUX, "linux", "" },
    { "vmx", "no-such-os", FERRY_OS_UNKNOWN, "", "" },
    { "vmx", NULL, FERRY_OS_UNKNOWN, "", "" },
};

static void
test_osmap_ids(void **state)
{
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(os_ids); i++)
        check_os(&os_ids[i]);
}

static void
test_osmap_windows(void **state)
{
    struct ferry_os_info os;
    ferry_osmap_lookup("vmx", "windows9-64", &os);
    assert_false(os.virtio_capable);
    assert_true(os.virtio_variant);
    assert_int_equal(os.min_memory, 2ULL << 30);
}

/* oVirt OVA exports may name the OS only by its number (ovirt:id, from
 * ovirt-engine's osinfo-defaults.properties).  Each id Forklift's oVirt
 * preference map (the forklift-ovirt-osmap ConfigMap) covers must reach the
 * same preference as the unique name; the emitter adds ".virtio" when the
 * guest has virtio drivers, as that map's Windows entries say. */
static void
test_ovirt_os_ids(void **state)
{
    static const struct {
        unsigned id;
        const char *name, *osinfo, *preference;
    } cases[] = {
        {24, "rhel_7x64", "rhel7", "rhel.7"},
        {30, "rhel_8x64", "rhel8", "rhel.8"},
        {34, "rhel_9x64", "rhel9", "rhel.9"},
        {1252, "ubuntu_12_04", "ubuntu12.04", "ubuntu"},
        {1253, "ubuntu_12_10", "ubuntu12.10", "ubuntu"},
        {1254, "ubuntu_13_04", "ubuntu13.04", "ubuntu"},
        {1255, "ubuntu_13_10", "ubuntu13.10", "ubuntu"},
        {1256, "ubuntu_14_04", "ubuntu14.04", "ubuntu"},
        {26, "windows_10", "win10", "windows.10"},
        {27, "windows_10x64", "win10", "windows.10"},
        {23, "windows_2012x64", "win2k12r2", "windows.2k12"},
        {25, "windows_2012R2x64", "win2k12r2", "windows.2k12"},
        {29, "windows_2016x64", "win2k16", "windows.2k16"},
        {31, "windows_2019x64", "win2k19", "windows.2k19"},
        {37, "windows_2022", "win2k22", "windows.2k22"},
        {36, "windows_11", "win11", "windows.11"},
        /* newer than that map: the engine's ids all the same */
        {1257, "ubuntu_18_04", "ubuntu18.04", "ubuntu"},
        {1301, "debian_9", "debian9", "debian"},
        {1193, "sles_11", "sles11", "sles"},
        {33, "other_linux_kernel_4", "linux", ""},
        {35, "rhcos_x64", "linux", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *name = ferry_ovirt_os_name(cases[i].id);
        if (!name || strcmp(name, cases[i].name))
            fail_msg("ovirt:id %u: got '%s', want '%s'", cases[i].id, name ? name : "(none)",
                     cases[i].name);
        check_os(&(struct os_case){ "ova", name,
                                    strncmp(name, "windows", 7) ? FERRY_OS_LINUX : FERRY_OS_WINDOWS,
                                    cases[i].osinfo, cases[i].preference });
    }
    /* 32 was never assigned; ppc64 (1008 rhel_8_ppc64) and s390x guests are
     * left out on purpose */
    assert_null(ferry_ovirt_os_name(32));
    assert_null(ferry_ovirt_os_name(1008));
    assert_null(ferry_ovirt_os_name(2003));
}

static void
test_mac_uuid(void **state)
{
    /* WANT NULL: refused */
    static const struct {
        char *(*normalize)(const char *);
        const char *in, *want;
    } cases[] = {
        { ferry_vm_mac_normalize, "080027A1B2C3", "08:00:27:a1:b2:c3" },
        { ferry_vm_mac_normalize, "00-50-56-AB-CD-EF", "00:50:56:ab:cd:ef" },
        { ferry_vm_mac_normalize, "00:50:56:zz:00:01", NULL },
        { ferry_vm_mac_normalize, "00:50:56:00:01", NULL },
        { ferry_vm_uuid_normalize, "42 25 6e 9c 1a 2b 3c 4d-5e 6f 70 81 92 a3 b4 c5",
          "42256e9c-1a2b-3c4d-5e6f-708192a3b4c5" },
        { ferry_vm_uuid_normalize, "{3B9A1F2E-7C4D-4E8A-9F0B-1C2D3E4F5A6B}",
          "3b9a1f2e-7c4d-4e8a-9f0b-1c2d3e4f5a6b" },
        { ferry_vm_uuid_normalize, "not-a-uuid", NULL },
    };
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(cases); i++) {
        char *s = cases[i].normalize(cases[i].in);
        if (!cases[i].want)
            assert_null(s);
        else
            assert_string_equal(s, cases[i].want);
        free(s);
    }
}

static void
test_disk_order(void **state)
{
    /* libvirt order: SCSI, SATA, IDE, NVMe; then controller, unit. */
    struct ferry_vm_def *def = ferry_vm_def_new("vmx", "x.vmx");
    const struct {
        enum ferry_vm_bus bus;
        int c, u;
    } in[] = {{FERRY_BUS_NVME, 0, 0}, {FERRY_BUS_IDE, 0, 1}, {FERRY_BUS_SCSI, 1, 0},
              {FERRY_BUS_SATA, 0, 3}, {FERRY_BUS_SCSI, 0, 2}, {FERRY_BUS_SCSI, 0, 0}};
    for (size_t i = 0; i < 6; i++) {
        struct ferry_vm_disk *d = ferry_vm_def_add_disk(def);
        d->bus = in[i].bus;
        d->controller = in[i].c;
        d->unit = in[i].u;
    }
    ferry_vm_def_sort_disks(def);
    const enum ferry_vm_bus want[] = {FERRY_BUS_SCSI, FERRY_BUS_SCSI, FERRY_BUS_SCSI,
                                      FERRY_BUS_SATA, FERRY_BUS_IDE,  FERRY_BUS_NVME};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(def->disks[i].bus, want[i]);
    assert_int_equal(def->disks[0].unit, 0);
    assert_int_equal(def->disks[1].unit, 2);
    assert_int_equal(def->disks[2].controller, 1);
    ferry_vm_def_free(def);
}

static void
write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static void
test_image_capacity(void **state)
{
    char dir[] = "/tmp/ferry-conv-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = ferry_printf("%s/d.vmdk", dir);
    /* A descriptor without its extents beside it: the extent lines say the size. */
    const char *desc = "# Disk DescriptorFile\nversion=1\ncreateType=\"twoGbMaxExtentSparse\"\n"
                       "RW 4192256 SPARSE \"d-s001.vmdk\"\nRW 2048 SPARSE \"d-s002.vmdk\"\n";
    write_file(path, desc, strlen(desc));
    struct ferry_image_info info = {0};
    assert_int_equal(ferry_image_file_info(path, &info), 0);
    assert_int_equal(info.virtual_size, (4192256ULL + 2048) * 512);
    assert_string_equal(info.format, "vmdk");

    /* Sectors that add up beyond 64 TiB are refused, not wrapped. */
    desc = "# Disk DescriptorFile\nRW 18446744073709551615 SPARSE \"a.vmdk\"\n"
           "RW 2 SPARSE \"b.vmdk\"\n";
    write_file(path, desc, strlen(desc));
    assert_int_equal(ferry_image_file_info(path, &info), -1);

    write_file(path, "# Disk DescriptorFile\nnothing\n", 30);
    assert_int_equal(ferry_image_file_info(path, &info), -1);

    /* A qcow2 header cut short is refused by the qcow2 reader. */
    unsigned char q[64] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3};
    q[24 + 4] = 0x40;
    write_file(path, q, sizeof(q));
    assert_int_equal(ferry_image_file_info(path, &info), -1);
    unlink(path);
    rmdir(dir);
    free(path);
}

/* Numbers from outside: the parse helpers and the validation pass. */
static void
test_numbers(void **state)
{
    uint64_t v = 7;
    int i = 7;
    assert_true(ferry_parse_range("4096", 1, 4096, &v) && v == 4096);
    assert_false(ferry_parse_range("4097", 1, 4096, &v));
    assert_false(ferry_parse_range("0", 1, 4096, &v));
    assert_false(ferry_parse_range("-1", 0, 10, &v));
    assert_false(ferry_parse_range("18446744073709551616", 0, UINT64_MAX, &v));
    assert_int_equal(v, 4096);                       /* untouched on failure */
    assert_true(ferry_parse_int(" 65535 ", 0, 65535, &i) && i == 65535);
    assert_false(ferry_parse_int("2147483648", 0, 2147483647, &i));
    assert_false(ferry_parse_int("1x", 0, 10, &i));
    assert_int_equal(i, 65535);

    assert_int_equal(ferry_vm_bytes("t", "memsize", UINT64_C(1) << 44, 1 << 20, &v), -1);
    assert_int_equal(ferry_vm_bytes("t", "memsize", UINT64_C(1) << 43, 1 << 20, &v), 0);
    assert_int_equal(v, UINT64_C(1) << 63);
    unsigned u = 9;
    assert_int_equal(ferry_vm_count("t", "numvcpus", 0, &u), -1);
    assert_int_equal(ferry_vm_count("t", "numvcpus", UINT64_C(1) << 32, &u), -1);
    assert_int_equal(u, 9);

    struct ferry_vm_def *def = ferry_vm_def_new("vmx", "t.vmx");
    def->name = ferry_strdup("t");
    def->vcpus = 2;
    def->memory = 1 << 30;
    struct ferry_vm_disk *d = ferry_vm_def_add_disk(def);
    d->where = ferry_strdup("scsi0:0");
    assert_int_equal(ferry_vm_def_validate(def, "t.vmx"), 0);
    d->capacity = (UINT64_C(64) << 40) + 1;
    assert_int_equal(ferry_vm_def_validate(def, "t.vmx"), -1);
    assert_non_null(strstr(ferry_error_message(), "disk scsi0:0: size"));
    d->capacity = 0;
    d->boot_order = 1001;
    assert_int_equal(ferry_vm_def_validate(def, "t.vmx"), -1);
    d->boot_order = 1;
    d->unit = 70000;
    assert_int_equal(ferry_vm_def_validate(def, "t.vmx"), -1);
    d->unit = 0;
    def->sockets = 65536;                           /* x 65536 wraps a 32-bit product to 0 */
    def->cores = 65536;
    assert_int_equal(ferry_vm_def_validate(def, "t.vmx"), -1);
    def->sockets = def->cores = 0;
    def->vcpus = 0;
    assert_int_equal(ferry_vm_def_validate(def, "t.vmx"), -1);
    ferry_vm_def_free(def);
}

/* Real images from qemu-img (the oracle): every format's size, VHDX's too
 * (the converter's old header sniffer gave it 0). */
static void
test_image_capacity_qemu_img(void **state)
{
    if (system("qemu-img --version >/dev/null 2>&1") != 0)
        skip();
    static const struct {
        const char *qemu, *ours;
    } fmts[] = { { "qcow2", "qcow2" }, { "vmdk", "vmdk" }, { "vdi", "vdi" },
                 { "vhdx", "vhdx" },   { "raw", "raw" } };
    char dir[] = "/tmp/ferry-conv-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        char *path = ferry_printf("%s/d.%s", dir, fmts[i].qemu);
        char *cmd = ferry_printf("qemu-img create -q -f %s '%s' 3G", fmts[i].qemu, path);
        assert_int_equal(system(cmd), 0);
        struct ferry_image_info info = {0};
        assert_int_equal(ferry_image_file_info(path, &info), 0);
        assert_string_equal(info.format, fmts[i].ours);
        assert_int_equal(info.virtual_size, 3ULL << 30);
        unlink(path);
        free(cmd);
        free(path);
    }
    rmdir(dir);
}

/* Issue 17 class 4: only Linux, and FreeBSD from 10 (virtio in GENERIC), of
 * the non-Windows entries have virtio drivers; DOS, NetWare, Solaris,
 * Darwin, an unversioned FreeBSD and "other" do not. */
static void
test_osmap_virtio(void **state)
{
    static const struct {
        const char *fmt, *id;
        bool virtio_capable;
    } cases[] = {
        { "vmx", "dos", false },
        { "vmx", "other-64", false },
        { "vmx", "other", false },
        { "vbox", "Other", false },
        { "vbox", "Other_64", false },
        { "vbox", "DOS", false },
        { "vmx", "netware6", false },
        { "vmx", "solaris11-64", false },
        { "vmx", "darwin19-64", false },
        { "vbox", "MacOS_64", false },
        { "vmx", "freebsd-64", false },
        { "vmx", "freebsd9-64", false },
        { "vmx", "freebsd12-64", true },
        { "vbox", "FreeBSD_64", false },
        { "vmx", "ubuntu-64", true },
        { "vmx", "other5xlinux-64", true },
        { "vmx", "windows2019srv-64", false },
    };
    (void)state;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(cases); i++) {
        struct ferry_os_info os;
        ferry_osmap_lookup(cases[i].fmt, cases[i].id, &os);
        if (os.virtio_capable != cases[i].virtio_capable)
            fail_msg("%s '%s': virtio_capable %d, want %d", cases[i].fmt, cases[i].id,
                     os.virtio_capable, cases[i].virtio_capable);
    }
}

/* A name or MAC and whether the predicate holds for it. */
struct str_case {
    const char *s;
    bool want;
};

static void
check_str_cases(const char *what, bool (*pred)(const char *), const struct str_case *cases,
                size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pred(cases[i].s) != cases[i].want)
            fail_msg("%s(\"%s\"): got %d, want %d", what, cases[i].s ? cases[i].s : "(null)",
                     !cases[i].want, cases[i].want);
}

static void
test_host_device_mac(void **state)
{
    static const struct str_case host_devices[] = {
        { "/dev/cdrom", true },
        { "/dev/sr0", true },
        { "CD/DVD drive 0", true },
        { "auto detect", true },
        { "D:", true },
        { "\\\\.\\CdRom0", true },
        { "/vmfs/devices/cdrom/mpx.vmhba64:C0:T0:L0", true },
        { "[datastore1] isos/debian-12.iso", false },
        { "D:\\isos\\win.iso", false },
        { "debian.iso", false },
        { NULL, false },
    };
    static const struct str_case macs[] = {
        { "00:00:00:00:00:00", false }, { "ff:ff:ff:ff:ff:ff", false },
        { "01:00:5e:00:00:01", false }, { "not a mac", false },
        { "00:50:56:01:02:03", true },  { "52:54:00:6b:3c:58", true },
    };
    (void)state;
    check_str_cases("ferry_vm_is_host_device", ferry_vm_is_host_device, host_devices,
                    FERRY_ARRAY_SIZE(host_devices));
    check_str_cases("ferry_vm_mac_usable", ferry_vm_mac_usable, macs, FERRY_ARRAY_SIZE(macs));
}

static char *
temp_dir(void)
{
    const char *t = getenv("TMPDIR");
    char *dir = ferry_printf("%s/ferry-conv-unit-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(dir));
    return dir;
}

/* Issue 17 class 5: a VMX of 15 MB (235,000 keys; guestinfo blobs make such
 * files) is read, and a key set twice at its end is still found; a text
 * file over 16 MiB is refused saying it is too large. */
static void
test_sizes(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char *path = ferry_printf("%s/big.vmx", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(".encoding = \"UTF-8\"\nconfig.version = \"8\"\ndisplayName = \"big\"\n"
          "memsize = \"1024\"\nguestOS = \"ubuntu-64\"\n", f);
    for (int i = 0; i < 235000; i++)
        fprintf(f, "guestinfo.key%06d = \"%040d\"\n", i, i);
    fclose(f);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 15000000 && st.st_size < (16 << 20));
    struct ferry_vm_list list = {0};
    assert_int_equal(ferry_inputs_parse_file(path, &list), 0);
    assert_int_equal(list.n, 1);
    assert_int_equal(list.vms[0]->memory, 1ULL << 30);
    ferry_vm_list_free(&list);

    f = fopen(path, "a");
    fputs("guestinfo.key000007 = \"again\"\n", f);
    fclose(f);
    memset(&list, 0, sizeof(list));
    assert_int_equal(ferry_inputs_parse_file(path, &list), -1);
    assert_non_null(strstr(ferry_error_message(), "line 235006: guestinfo.key000007: already "
                                                  "set on line 13"));
    ferry_error_reset();
    ferry_vm_list_free(&list);

    f = fopen(path, "a");
    for (int i = 0; i < 40000; i++)
        fprintf(f, "# padding line %05d to grow the file past the 16 MiB limit\n", i);
    fclose(f);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > (16 << 20));
    memset(&list, 0, sizeof(list));
    assert_int_equal(ferry_inputs_parse_file(path, &list), -1);
    assert_non_null(strstr(ferry_error_message(), "larger than the 16 MiB"));
    ferry_error_reset();
    ferry_vm_list_free(&list);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* Issue 17 class 5: a 400 KB description (multi-byte UTF-8) is cut so that
 * the VM's annotations stay within the API server's 256 KiB, at a character
 * boundary, with a mark. */
static void
test_annotations_fit(void **state)
{
    (void)state;
    struct ferry_vm_def *def = ferry_vm_def_new("libvirt", "big.xml");
    def->name = ferry_strdup("big");
    def->memory = 1ULL << 30;
    def->vcpus = 1;
    size_t n = 400000;
    def->description = ferry_malloc(n + 1);
    for (size_t i = 0; i < n; i += 2)
        memcpy(def->description + i, "\xc3\xa9", 2);   /* é */
    def->description[n] = '\0';
    struct ferry_kubevirt_opts o = {.run_strategy = "Halted"};
    json_object *vm = NULL;
    assert_int_equal(ferry_kubevirt_emit(def, "big", &o, &vm), 0);
    json_object *meta, *ann;
    assert_true(json_object_object_get_ex(vm, "metadata", &meta));
    assert_true(json_object_object_get_ex(meta, "annotations", &ann));
    size_t total = 0;
    json_object_object_foreach(ann, k, v) total += strlen(k) + strlen(json_object_get_string(v));
    assert_true(total <= 256u << 10);
    assert_true(total > 250u << 10);
    json_object *desc;
    assert_true(json_object_object_get_ex(ann, "ferry.io/description", &desc));
    const char *d = json_object_get_string(desc);
    const char *mark = strstr(d, " [cut by ferry-converter]");
    assert_non_null(mark);
    assert_true((mark - d) % 2 == 0);   /* no é split in half */
    json_object_put(vm);
    ferry_vm_def_free(def);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_osmap_ids),
          cmocka_unit_test(test_osmap_windows),
          cmocka_unit_test(test_ovirt_os_ids),
          cmocka_unit_test(test_mac_uuid),
          cmocka_unit_test(test_disk_order),
          cmocka_unit_test(test_image_capacity),
          cmocka_unit_test(test_image_capacity_qemu_img),
          cmocka_unit_test(test_numbers),
          cmocka_unit_test(test_osmap_virtio),
          cmocka_unit_test(test_host_device_mac),
          cmocka_unit_test(test_sizes),
          cmocka_unit_test(test_annotations_fit))
