/* Guest OS id -> libosinfo short id and common-instancetypes preference.
 *
 * Every spelling is first reduced to a key: lower case, a trailing "guest"
 * (vSphere) and "-64"/"_64"/"64" (VMware, VirtualBox) dropped, '-' and '_'
 * removed; libosinfo URLs ("http://microsoft.com/win/2k19") become their
 * short id ("win2k19"); OVF CIM numbers go through their own table; oVirt's
 * unique names (rhel_8x64, windows_2019x64, ubuntu_14_04) reduce the same
 * way ("x64" is the 64 suffix, '_' between digits a version dot).  The key
 * is then matched by prefix against one table, most specific first, so that
 * "windows2019srvnext" (VMware's name for Server 2022) wins over
 * "windows2019srv".  Versions for Linux families are read after the prefix.
 *
 * Preference names and the requirements they carry follow
 * kubevirt/common-instancetypes (preferences/<os>/requirements); a VM below a
 * preference's requirements would be rejected, so the caller checks them.
 */
#include "converter/osmap.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "converter/inputs.h"

#define GiB (1ULL << 30)

struct os_entry {
    const char *prefix;
    enum ferry_vm_os_family family;
    const char *osinfo;
    const char *preference;
    unsigned min_cpus;
    uint64_t min_memory;
};

/* Windows: VMware guestOS/guestId, VirtualBox OSType and libosinfo ids.
 * "VMware naming of newer windows is the previous version and Next". */
static const struct os_entry windows_table[] = {
    {"windows2022srvnext", FERRY_OS_WINDOWS, "win2k25", "windows.2k25", 1, 2 * GiB},
    {"windows2019srvnext", FERRY_OS_WINDOWS, "win2k22", "windows.2k22", 1, 2 * GiB},
    {"windows2019srv", FERRY_OS_WINDOWS, "win2k19", "windows.2k19", 1, 2 * GiB},
    {"windows9srv", FERRY_OS_WINDOWS, "win2k16", "windows.2k16", 1, 2 * GiB},
    {"windows9server", FERRY_OS_WINDOWS, "win2k16", "windows.2k16", 1, 2 * GiB},
    {"windows8srv", FERRY_OS_WINDOWS, "win2k12r2", "windows.2k12", 1, 2 * GiB},
    {"windows8server", FERRY_OS_WINDOWS, "win2k12r2", "windows.2k12", 1, 2 * GiB},
    {"windows7srv", FERRY_OS_WINDOWS, "win2k8r2", "windows.2k8", 1, 2 * GiB},
    {"windows7server", FERRY_OS_WINDOWS, "win2k8r2", "windows.2k8", 1, 2 * GiB},
    {"longhorn", FERRY_OS_WINDOWS, "win2k8", "windows.2k8", 1, 2 * GiB},
    {"winnet", FERRY_OS_WINDOWS, "win2k3", "windows.2k3", 1, 2 * GiB},
    {"windows2025", FERRY_OS_WINDOWS, "win2k25", "windows.2k25", 1, 2 * GiB},
    {"windows2022", FERRY_OS_WINDOWS, "win2k22", "windows.2k22", 1, 2 * GiB},
    {"windows2019", FERRY_OS_WINDOWS, "win2k19", "windows.2k19", 1, 2 * GiB},
    {"windows2016", FERRY_OS_WINDOWS, "win2k16", "windows.2k16", 1, 2 * GiB},
    {"windows2012", FERRY_OS_WINDOWS, "win2k12r2", "windows.2k12", 1, 2 * GiB},
    {"windows2008", FERRY_OS_WINDOWS, "win2k8r2", "windows.2k8", 1, 2 * GiB},
    {"windows2003", FERRY_OS_WINDOWS, "win2k3", "windows.2k3", 1, 2 * GiB},
    {"windows12", FERRY_OS_WINDOWS, "win11", "windows.11", 2, 4 * GiB},
    {"windows11", FERRY_OS_WINDOWS, "win11", "windows.11", 2, 4 * GiB},
    {"windows10", FERRY_OS_WINDOWS, "win10", "windows.10", 1, 2 * GiB},
    {"windows9", FERRY_OS_WINDOWS, "win10", "windows.10", 1, 2 * GiB},
    {"windows8", FERRY_OS_WINDOWS, "win8", NULL, 0, 0},
    {"windows7", FERRY_OS_WINDOWS, "win7", "windows.7", 1, 2 * GiB},
    {"winxp", FERRY_OS_WINDOWS, "winxp", "windows.xp", 1, 2 * GiB},
    {"windowsxp", FERRY_OS_WINDOWS, "winxp", "windows.xp", 1, 2 * GiB},
    {"win2k25", FERRY_OS_WINDOWS, "win2k25", "windows.2k25", 1, 2 * GiB},
    {"win2k22", FERRY_OS_WINDOWS, "win2k22", "windows.2k22", 1, 2 * GiB},
    {"win2k19", FERRY_OS_WINDOWS, "win2k19", "windows.2k19", 1, 2 * GiB},
    {"win2k16", FERRY_OS_WINDOWS, "win2k16", "windows.2k16", 1, 2 * GiB},
    {"win2k12", FERRY_OS_WINDOWS, "win2k12r2", "windows.2k12", 1, 2 * GiB},
    {"win2k8", FERRY_OS_WINDOWS, "win2k8r2", "windows.2k8", 1, 2 * GiB},
    {"win2k3", FERRY_OS_WINDOWS, "win2k3", "windows.2k3", 1, 2 * GiB},
    {"win11", FERRY_OS_WINDOWS, "win11", "windows.11", 2, 4 * GiB},
    {"win10", FERRY_OS_WINDOWS, "win10", "windows.10", 1, 2 * GiB},
    {"win8", FERRY_OS_WINDOWS, "win8", NULL, 0, 0},
    {"win7", FERRY_OS_WINDOWS, "win7", "windows.7", 1, 2 * GiB},
    {"win", FERRY_OS_WINDOWS, "windows", NULL, 0, 0},
};

/* Linux families whose preference depends on the major version. */
static void
versioned_preference(const char *family, int major, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!strcmp(family, "rhel") && major >= 7 && major <= 10)
        snprintf(buf, size, "rhel.%d", major);
    else if (!strcmp(family, "centos") && major == 7)
        snprintf(buf, size, "centos.7");
    else if (!strcmp(family, "centos") && major >= 8 && major <= 10)
        snprintf(buf, size, "centos.stream%d", major);
}

static void
set(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static const struct os_entry linux_table[] = {
    /* prefix, family, osinfo (version appended when one follows), preference */
    {"centosstream", FERRY_OS_LINUX, "centos-stream", "centos", 1, 2 * GiB},
    {"centos", FERRY_OS_LINUX, "centos", "centos", 1, 2 * GiB},
    {"rhel", FERRY_OS_LINUX, "rhel", "rhel", 1, 2 * GiB},
    {"redhat", FERRY_OS_LINUX, "rhel", "rhel", 1, 2 * GiB},
    {"rhcos", FERRY_OS_LINUX, "linux", NULL, 0, 0}, /* oVirt's rhcos_x64: no preference */
    {"rockylinux", FERRY_OS_LINUX, "rocky", "rhel", 1, 2 * GiB},
    {"rocky", FERRY_OS_LINUX, "rocky", "rhel", 1, 2 * GiB},
    {"almalinux", FERRY_OS_LINUX, "almalinux", "rhel", 1, 2 * GiB},
    {"oraclelinux", FERRY_OS_LINUX, "ol", NULL, 0, 0},
    {"oracle", FERRY_OS_LINUX, "ol", NULL, 0, 0},
    {"ol", FERRY_OS_LINUX, "ol", NULL, 0, 0},
    {"fedora", FERRY_OS_LINUX, "fedora", "fedora", 1, 2 * GiB},
    {"debian", FERRY_OS_LINUX, "debian", "debian", 1, 2 * GiB},
    {"ubuntu", FERRY_OS_LINUX, "ubuntu", "ubuntu", 1, 2 * GiB},
    {"opensuse", FERRY_OS_LINUX, "opensuse", "opensuse.leap", 1, 2 * GiB},
    {"sles", FERRY_OS_LINUX, "sles", "sles", 1, 2 * GiB},
    {"suse", FERRY_OS_LINUX, "sles", "sles", 1, 2 * GiB},
    {"alpine", FERRY_OS_LINUX, "alpinelinux", "alpine", 1, 2 * GiB},
    {"archlinux", FERRY_OS_LINUX, "archlinux", NULL, 0, 0},
    {"gentoo", FERRY_OS_LINUX, "gentoo", NULL, 0, 0},
    {"photon", FERRY_OS_LINUX, "photon", NULL, 0, 0},
    {"vmwarephoton", FERRY_OS_LINUX, "photon", NULL, 0, 0},
    {"mandriva", FERRY_OS_LINUX, "mandriva", NULL, 0, 0},
    {"genericlinux", FERRY_OS_LINUX, "linux", NULL, 0, 0},
    {"other", FERRY_OS_OTHER, NULL, NULL, 0, 0}, /* refined below: other26xlinux */
    {"linux", FERRY_OS_LINUX, "linux", NULL, 0, 0},
    {"freebsd", FERRY_OS_OTHER, "freebsd", NULL, 0, 0},
    {"solaris", FERRY_OS_OTHER, "solaris", NULL, 0, 0},
    {"darwin", FERRY_OS_OTHER, "macos", NULL, 0, 0},
    {"macos", FERRY_OS_OTHER, "macos", NULL, 0, 0},
    {"netware", FERRY_OS_OTHER, "netware", NULL, 0, 0},
    {"dos", FERRY_OS_OTHER, "msdos", NULL, 0, 0},
};

/* OVF OperatingSystemSection ovf:id (CIM OsType, VirtualBox ovfreader.h). */
static const struct {
    int id;
    const char *key;
} cim_table[] = {
    {58, "win2k"},      {67, "winxp"},       {69, "win2k3"},     {70, "win2k3"},
    {73, "winvista"},   {74, "winvista"},    {76, "win2k8"},     {77, "win2k8"},
    {103, "win2k8r2"},  {105, "win7"},       {112, "win2k12"},   {113, "win8"},
    {114, "win8"},      {115, "win2k12r2"},  {116, "win8"},      {118, "win2k16"},
    {119, "win10"},     {120, "win10"},      {36, "linux"},      {79, "rhel"},
    {80, "rhel"},       {82, "sles"},        {83, "sles"},       {84, "sles"},
    {85, "sles"},       {93, "ubuntu"},      {94, "ubuntu"},     {95, "debian"},
    {96, "debian"},     {99, "linux"},       {100, "linux"},     {101, "linux"},
    {106, "centos"},    {107, "centos"},     {108, "oraclelinux"}, {109, "oraclelinux"},
    {42, "freebsd"},    {78, "freebsd"},     {1, "other"},       {102, "other"},
};

/* Normalize an OS id into a lookup key (see the file comment). */
static char *
os_key(const char *source_format, const char *id)
{
    char *s = ferry_str_lower(ferry_strdup(id));

    if (ferry_str_has_prefix(s, "http://") || ferry_str_has_prefix(s, "https://")) {
        /* libosinfo: http://<vendor>/<distro>/<version> -> <distro><version> */
        char *p = strchr(s + 8, '/');
        char *r = ferry_strdup(p ? p + 1 : "");
        char *slash = strchr(r, '/');
        if (slash)
            memmove(slash, slash + 1, strlen(slash));
        free(s);
        s = r;
    } else if (source_format && (!strcmp(source_format, "ovf") || !strcmp(source_format, "ova"))) {
        int cim;
        if (ferry_parse_int(s, 0, 65535, &cim)) {
            for (size_t i = 0; i < FERRY_ARRAY_SIZE(cim_table); i++)
                if (cim_table[i].id == cim) {
                    free(s);
                    return ferry_strdup(cim_table[i].key);
                }
        }
    }
    size_t n = strlen(s);
    if (n > 5 && !strcmp(s + n - 5, "guest"))
        s[n -= 5] = '\0';
    if (n > 3 && (!strcmp(s + n - 3, "-64") || !strcmp(s + n - 3, "_64")))
        s[n -= 3] = '\0';
    else if (n > 2 && !strcmp(s + n - 2, "64") && !isdigit((unsigned char)s[n - 3]))
        s[n -= 2] = '\0';
    /* oVirt writes versions with '_': ubuntu_14_04 is ubuntu14.04 */
    for (char *c = s + 1; *c; c++)
        if (*c == '_' && isdigit((unsigned char)c[-1]) && isdigit((unsigned char)c[1]))
            *c = '.';
    char *o = s;
    for (char *c = s; *c; c++)
        if (*c != '-' && *c != '_' && *c != ' ')
            *o++ = *c;
    *o = '\0';
    return s;
}

void
ferry_osmap_lookup(const char *source_format, const char *id, struct ferry_os_info *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->virtio_capable = true;
    if (!id || !id[0])
        return;
    FERRY_AUTOFREE char *key = os_key(source_format, id);

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(windows_table); i++) {
        const struct os_entry *e = &windows_table[i];
        if (!ferry_str_has_prefix(key, e->prefix))
            continue;
        ret->family = e->family;
        set(ret->osinfo, sizeof(ret->osinfo), e->osinfo);
        set(ret->preference, sizeof(ret->preference), e->preference);
        ret->virtio_variant = e->preference != NULL;
        ret->min_cpus = e->min_cpus;
        ret->min_memory = e->min_memory;
        /* Windows ships no virtio drivers: a converted guest needs them
         * injected (virt-v2v) or a preinstalled virtio-win. */
        ret->virtio_capable = false;
        ret->known = true;
        return;
    }
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(linux_table); i++) {
        const struct os_entry *e = &linux_table[i];
        if (!ferry_str_has_prefix(key, e->prefix))
            continue;
        if (!strcmp(e->prefix, "other") && strstr(key, "linux")) {
            /* other26xlinux, other3xlinux, otherlinux: a Linux of unknown distro */
            ret->family = FERRY_OS_LINUX;
            set(ret->osinfo, sizeof(ret->osinfo), "linux");
            ret->known = true;
            return;
        }
        ret->family = e->family;
        ret->known = true;
        const char *rest = key + strlen(e->prefix);
        int major = 0;   /* the leading digits, bounded */
        for (const char *q = rest; isdigit((unsigned char)*q) && major < 100000; q++)
            major = major * 10 + (*q - '0');
        if (e->osinfo && major) {
            /* keep "9.2" as libosinfo does: rhel9.2, ubuntu22.04 */
            size_t vl = strspn(rest, "0123456789.");
            snprintf(ret->osinfo, sizeof(ret->osinfo), "%s%.*s", e->osinfo, (int)vl, rest);
        } else {
            set(ret->osinfo, sizeof(ret->osinfo), e->osinfo);
        }
        if (e->preference && (!strcmp(e->preference, "rhel") || !strcmp(e->preference, "centos")))
            versioned_preference(e->preference, major, ret->preference, sizeof(ret->preference));
        else
            set(ret->preference, sizeof(ret->preference), e->preference);
        ret->min_cpus = ret->preference[0] ? e->min_cpus : 0;
        ret->min_memory = ret->preference[0] ? e->min_memory : 0;
        /* Linux since 2.6.25 carries virtio.  Of the others only FreeBSD 10
         * and later has it in GENERIC; DOS, NetWare, Solaris, Darwin, an
         * older or unversioned FreeBSD and VMware's or VirtualBox's "other"
         * are not known to: --compat auto gives them emulated devices. */
        if (e->family == FERRY_OS_LINUX)
            ret->virtio_capable = true;
        else
            ret->virtio_capable = !strcmp(e->prefix, "freebsd") && major >= 10;
        return;
    }
}

void
ferry_osmap_resolve(const struct ferry_vm_def *def, struct ferry_os_info *ret)
{
    if (def->inspect.done && (def->inspect.osinfo || def->inspect.distro)) {
        const char *id = def->inspect.osinfo;
        FERRY_AUTOFREE char *composed = NULL;
        if (!id || !strcmp(id, "unknown")) {
            composed = ferry_printf("%s%d", def->inspect.distro, def->inspect.major);
            id = composed;
        }
        ferry_osmap_lookup("inspect", id, ret);
        if (ret->known) {
            if (ret->family == FERRY_OS_WINDOWS)
                ret->virtio_capable = def->inspect.virtio;
            return;
        }
    }
    ferry_osmap_lookup(def->source_format, def->os_id, ret);
}
