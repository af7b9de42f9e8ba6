/* Guest conversion on libguestfs (see guest.h).  The steps follow virt-v2v's
 * convert/convert_linux.ml (do_convert): remove the other hypervisors'
 * tools, remap block device names, rebuild the initramfs with virtio
 * drivers, relabel for SELinux.  Each change is one report line.
 *
 * Device names.  A guest's /dev/sdX, /dev/hdX or /dev/xvdX names the disks
 * in the order the source attached them; the appliance sees the same disks
 * as /dev/sda, /dev/sdb ... in the order given.  A name is rewritten to the
 * UUID= of the filesystem (or swap) the appliance finds there, which holds
 * on any bus; /dev/vdX when it has no UUID.
 */
#include "converter/guest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/util.h"

void
ferry_guest_report_clear(struct ferry_guest_report *r)
{
    free(r->os);
    ferry_strv_free(r->changes);
    ferry_strv_free(r->notes);
    memset(r, 0, sizeof(*r));
}

static void
report_print(FILE *f, const struct ferry_guest_report *r)
{
    if (r->os)
        fprintf(f, "guest: %s\n", r->os);
    for (char **c = r->changes; c && *c; c++)
        fprintf(f, "changed: %s\n", *c);
    for (char **n = r->notes; n && *n; n++)
        fprintf(f, "note: %s\n", *n);
}

#define TERMINATION_MAX 4096u

char *
ferry_guest_termination_text(const struct ferry_guest_report *r, const char *err)
{
    char *s = ferry_printf("result: %s\n%s%s%s%s%s", err ? "not converted" : "converted",
                           r->os ? "guest: " : "", r->os ? r->os : "", r->os ? "\n" : "",
                           err ? "ferry-converter: error: " : "", err ? err : "");
    size_t n = ferry_strv_len(r->changes), kept = 0;

    if (err) {
        char *t = ferry_printf("%s\n", s);

        free(s);
        s = t;
    }
    if (strlen(s) > TERMINATION_MAX - 64) {
        s[TERMINATION_MAX - 65] = '\n';
        s[TERMINATION_MAX - 64] = '\0';
    }
    for (; kept < n; kept++) {
        size_t room = TERMINATION_MAX - 64 - strlen(s);
        char *t;

        if (strlen(r->changes[kept]) + 10 > room)
            break;
        t = ferry_printf("%schanged: %s\n", s, r->changes[kept]);
        free(s);
        s = t;
    }
    if (kept < n) {
        char *t = ferry_printf("%schanged: ... and %zu more (the pod's log)\n", s, n - kept);

        free(s);
        s = t;
    }
    return s;
}

static int
termination_write(const char *path, const char *text)
{
    FERRY_AUTOCLOSE int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(text);

    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "--termination-log '%s'", path);
    if (write(fd, text, len) != (ssize_t)len)
        return ferry_error_errno(FERRY_ERR_IO, errno, "--termination-log '%s': write", path);
    return 0;
}

int
ferry_guest_main(char *const *disks, size_t ndisks, const char *termination_log)
{
    struct ferry_guest_report r = {0};
    int rc = ferry_guest_convert(disks, ndisks, &r);
    FERRY_AUTOFREE char *err = rc < 0 ? ferry_strdup(ferry_error_message()) : NULL;

    report_print(stdout, &r);
    if (rc < 0) {
        ferry_log_last_error();
        printf("result: not converted (the disks are unchanged)\n");
    } else {
        printf("result: converted\n");
    }
    fflush(stdout);
    if (termination_log) {
        FERRY_AUTOFREE char *text = ferry_guest_termination_text(&r, err);

        ferry_error_reset();
        if (termination_write(termination_log, text) < 0)
            ferry_log_last_error(); /* the exit code still says the outcome */
    }
    ferry_guest_report_clear(&r);
    return rc < 0 ? 1 : 0;
}

/* ---- a growing string ------------------------------------------------------- */

struct sbuf {
    char *s;
    size_t len, cap;
};

static void
sb_add(struct sbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = ferry_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* ---- device names -------------------------------------------------------- */

/* At P, a "/dev/sdb2", "/dev/hda1", "/dev/xvdc" (a name ending at a
 * non-name character): its length, the disk index and the partition
 * digits; 0 when not such a name. */
static size_t
old_device(const char *p, int *ret_disk, const char **ret_part, size_t *ret_partlen)
{
    if (strncmp(p, "/dev/", 5))
        return 0;
    const char *q = p + 5;
    if (!strncmp(q, "sd", 2) || !strncmp(q, "hd", 2))
        q += 2;
    else if (!strncmp(q, "xvd", 3))
        q += 3;
    else
        return 0;
    int disk = 0;
    const char *l = q;
    while (*q >= 'a' && *q <= 'z' && q - l < 2)
        disk = disk * 26 + (*q++ - 'a' + 1);
    if (q == l)
        return 0;
    const char *part = q;
    while (isdigit((unsigned char)*q))
        q++;
    if (isalnum((unsigned char)*q) || *q == '_' || *q == '-')
        return 0;
    *ret_disk = disk - 1;
    *ret_part = part;
    *ret_partlen = (size_t)(q - part);
    return (size_t)(q - p);
}

static bool
kernel_context(const char *text, const char *p)
{
    static const char *const keys[] = {"root=", "resume=", "RESUME="};
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(keys); i++) {
        size_t n = strlen(keys[i]);
        if ((size_t)(p - text) >= n && !strncmp(p - n, keys[i], n) &&
            (p - n == text || !isalnum((unsigned char)p[-n - 1])))
            return true;
    }
    return false;
}

char *
ferry_guest_rewrite_devices(const char *text, bool fstab, ferry_guest_map_fn map, void *opaque,
                            char ***ret_changes, char ***ret_left)
{
    struct sbuf b = {0};
    bool changed = false;
    const char *p = text, *copied = text;
    while ((p = strstr(p, "/dev/"))) {
        int disk;
        const char *part;
        size_t partlen, n = old_device(p, &disk, &part, &partlen);
        bool where = false;
        if (n && fstab) {
            const char *ls = p;
            while (ls > text && ls[-1] != '\n')
                ls--;
            while (ls < p && (*ls == ' ' || *ls == '\t'))
                ls++;
            where = ls == p;
        } else if (n) {
            where = kernel_context(text, p);
        }
        if (!where) {
            p += 5;
            continue;
        }
        FERRY_AUTOFREE char *partition = ferry_strndup(part, partlen);
        FERRY_AUTOFREE char *old = ferry_strndup(p, n);
        FERRY_AUTOFREE char *repl = map(opaque, disk, partition);
        if (!repl) {
            ferry_strv_push(ret_left, old);
            p += n;
            continue;
        }
        FERRY_AUTOFREE char *line = ferry_printf("%s -> %s", old, repl);
        ferry_strv_push(ret_changes, line);
        sb_add(&b, copied, (size_t)(p - copied));
        sb_add(&b, repl, strlen(repl));
        p += n;
        copied = p;
        changed = true;
    }
    if (!changed) {
        free(b.s);
        return NULL;
    }
    sb_add(&b, copied, strlen(copied));
    return b.s;
}

#ifdef FERRY_HAVE_GUESTFS
#include <guestfs.h>

bool
ferry_guest_available(void)
{
    return true;
}

/* The drivers a guest needs on KubeVirt's virtio devices (virtio and
 * virtio_ring come with them as dependencies). */
static const char *const virtio_modules[] = {"virtio_blk", "virtio_scsi", "virtio_net",
                                             "virtio_pci"};

/* Packages of other hypervisors' guest tools: virt-v2v's lists
 * (convert_linux.ml unconfigure_vmware and unconfigure_vbox: vmware-tools-*,
 * VMwareTools, kmod-vmware-tools*, open-vm-tools and open-vm-tools-*, the
 * VirtualBox additions) plus the Hyper-V daemons and Debian's VirtualBox
 * guest packages.  A trailing '*' is a prefix. */
static const char *const tools_packages[] = {
    "vmware-tools-*", "VMwareTools", "kmod-vmware-tools*", "open-vm-tools", "open-vm-tools-*",
    "virtualbox-guest-additions", "virtualbox-guest-utils", "virtualbox-guest-x11",
    "virtualbox-guest-dkms", "hyperv-daemons", "hyperv-daemons-license", "hypervkvpd",
    "hypervvssd", "hypervfcopyd", "hyperv-tools",
};

struct conv {
    guestfs_h *g;
    const char *root;
    char **devices;              /* the appliance's whole disks, in the VM's order */
    struct ferry_guest_report *r;
};

static void
change(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
change(struct conv *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = ferry_vprintf(fmt, ap);
    va_end(ap);
    ferry_log_info("guest: %s", s);
    ferry_strv_push(&c->r->changes, s);
    free(s);
}

static void
note(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
note(struct conv *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = ferry_vprintf(fmt, ap);
    va_end(ap);
    ferry_strv_push(&c->r->notes, s);
    free(s);
}

static int
gerr(struct conv *c, const char *what)
{
    return ferry_error(FERRY_ERR_UNSUPPORTED, "guest conversion: %s: %s", what,
                       guestfs_last_error(c->g) ? guestfs_last_error(c->g) : "failed");
}

static bool
is_file(struct conv *c, const char *path)
{
    return guestfs_is_file_opts(c->g, path, GUESTFS_IS_FILE_OPTS_FOLLOWSYMLINKS, 0, -1) > 0;
}

static bool
exists(struct conv *c, const char *path)
{
    return guestfs_exists(c->g, path) > 0;
}

/* Run a shell command line in the guest (its own /bin/sh and tools); its
 * output, or NULL with the error set naming WHAT. */
static char *
run(struct conv *c, const char *what, const char *cmd)
{
    FERRY_AUTOFREE char *full =
        ferry_printf("PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH; "
                     "DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND; %s", cmd);
    ferry_log_debug("converter", "guest: sh: %s", cmd);
    char *out = guestfs_sh(c->g, full);
    if (!out)
        gerr(c, what);
    return out;
}

/* The stable name for old disk DISK, partition PART: "UUID=..." of what
 * the appliance finds there, else "/dev/vdX[N]"; NULL when the disk index
 * is beyond the VM's disks. */
static char *
new_device(void *opaque, int disk, const char *part)
{
    struct conv *c = opaque;
    if (disk < 0 || (size_t)disk >= ferry_strv_len(c->devices))
        return NULL;
    FERRY_AUTOFREE char *dev = ferry_printf("%s%s", c->devices[disk], part);
    guestfs_push_error_handler(c->g, NULL, NULL);
    char *uuid = guestfs_vfs_uuid(c->g, dev);
    guestfs_pop_error_handler(c->g);
    char *ret;
    if (uuid && uuid[0])
        ret = ferry_printf("UUID=%s", uuid);
    else /* /dev/sdb -> /dev/vdb: the letters the appliance gave */
        ret = ferry_printf("/dev/vd%s%s", c->devices[disk] + strlen("/dev/sd"), part);
    free(uuid);
    return ret;
}

static char *
rewrite_text(struct conv *c, const char *file, const char *text, bool fstab)
{
    char **changes = NULL, **left = NULL;
    char *out = ferry_guest_rewrite_devices(text, fstab, new_device, c, &changes, &left);
    for (char **v = changes; v && *v; v++)
        change(c, "%s: %s", file, *v);
    for (char **v = left; v && *v; v++)
        note(c, "%s: %s is not on one of the VM's %zu disks; left as it is", file, *v,
             ferry_strv_len(c->devices));
    ferry_strv_free(changes);
    ferry_strv_free(left);
    return out;
}

/* Read PATH (a regular file, not a link), rewrite, write back. */
static int
rewrite_file(struct conv *c, const char *path, bool fstab)
{
    if (!is_file(c, path))
        return 0;
    size_t size;
    FERRY_AUTOFREE char *text = guestfs_read_file(c->g, path, &size);
    if (!text)
        return gerr(c, path);
    if (strlen(text) != size)
        return 0; /* binary */
    FERRY_AUTOFREE char *out = rewrite_text(c, path, text, fstab);
    if (out && guestfs_write(c->g, path, out, strlen(out)) < 0)
        return gerr(c, path);
    return 0;
}

/* GRUB 2 would write root=/dev/sdX again on its next update-grub. */
static int
grub_defaults(struct conv *c)
{
    const char *path = "/etc/default/grub";
    if (!is_file(c, path))
        return 0;
    if (rewrite_file(c, path, false) < 0)
        return -1;
    FERRY_AUTOFREE char *text = guestfs_cat(c->g, path);
    if (!text)
        return gerr(c, path);
    const char *key = "GRUB_DISABLE_LINUX_UUID=true";
    char *p = strstr(text, key);
    if (!p || (p != text && p[-1] != '\n'))
        return 0;
    FERRY_AUTOFREE char *out =
        ferry_printf("%.*s#%s  # ferry-converter: UUIDs name the disk on any bus%s",
                     (int)(p - text), text, key, p + strlen(key));
    if (guestfs_write(c->g, path, out, strlen(out)) < 0)
        return gerr(c, path);
    change(c, "%s: %s commented out", path, key);
    return 0;
}

static int
remap_block_devices(struct conv *c)
{
    static const char *const boot_files[] = {
        "/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/boot/grub/menu.lst",
        "/boot/grub/grub.conf", "/boot/extlinux/extlinux.conf", "/boot/syslinux/syslinux.cfg",
        "/boot/extlinux.conf", "/etc/lilo.conf", "/etc/initramfs-tools/conf.d/resume",
        "/etc/sysconfig/grub",
    };
    if (rewrite_file(c, "/etc/fstab", true) < 0)
        return -1;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(boot_files); i++)
        if (rewrite_file(c, boot_files[i], false) < 0)
            return -1;
    /* EFI: the grub.cfg beside the EFI binaries */
    char **efi = guestfs_glob_expand(c->g, "/boot/efi/EFI/*/grub.cfg");
    for (size_t i = 0; efi && efi[i]; i++)
        if (rewrite_file(c, efi[i], false) < 0) {
            ferry_strv_free(efi);
            return -1;
        }
    ferry_strv_free(efi);
    return grub_defaults(c);
}

/* ---- other hypervisors' tools -------------------------------------------- */

static bool
tools_package(const char *name)
{
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(tools_packages); i++) {
        const char *t = tools_packages[i];
        size_t n = strlen(t);
        if (t[n - 1] == '*' ? !strncmp(name, t, n - 1) : !strcmp(name, t))
            return true;
    }
    return false;
}

static int
remove_tools(struct conv *c)
{
    FERRY_AUTOFREE char *fmt = guestfs_inspect_get_package_format(c->g, c->root);
    struct guestfs_application2_list *apps = guestfs_inspect_list_applications2(c->g, c->root);
    if (!apps)
        return gerr(c, "listing the installed packages");
    struct sbuf names = {0};
    /* as virt-v2v: Ubuntu's ubuntu-server depends on open-vm-tools */
    bool ubuntu_server = false;
    for (uint32_t i = 0; i < apps->len; i++)
        ubuntu_server |= !strcmp(apps->val[i].app2_name, "ubuntu-server");
    for (uint32_t i = 0; i < apps->len; i++) {
        const char *n = apps->val[i].app2_name;
        if (!tools_package(n))
            continue;
        if (ferry_str_has_prefix(n, "vmware-tools-libraries-")) {
            note(c, "package %s provides libraries other packages may need; not removed", n);
            continue;
        }
        if (ubuntu_server && !strcmp(n, "open-vm-tools")) {
            note(c, "package open-vm-tools kept: ubuntu-server depends on it");
            continue;
        }
        if (names.len)
            sb_add(&names, " ", 1);
        sb_add(&names, n, strlen(n));
    }
    guestfs_free_application2_list(apps);
    FERRY_AUTOFREE char *list = names.s;
    if (list) {
        FERRY_AUTOFREE char *cmd = NULL;
        if (fmt && !strcmp(fmt, "deb"))
            cmd = ferry_printf("dpkg --purge %s", list);
        else if (fmt && !strcmp(fmt, "rpm"))
            cmd = ferry_printf("rpm -e %s", list);
        if (!cmd) {
            note(c, "packages %s: package format %s not handled; not removed", list,
                 fmt ? fmt : "unknown");
        } else {
            FERRY_AUTOFREE char *what = ferry_printf("removing %s", list);
            FERRY_AUTOFREE char *out = run(c, what, cmd);
            if (!out)
                return -1;
            change(c, "removed package%s %s (%s)", strchr(list, ' ') ? "s" : "", list,
                   strcmp(fmt, "deb") ? "rpm -e" : "dpkg --purge");
        }
    }
    /* VMware Tools installed from VMware's tarball, the VirtualBox
     * additions from their .run: their own uninstallers */
    if (is_file(c, "/usr/bin/vmware-uninstall-tools.pl")) {
        /* as virt-v2v: keep the uninstaller from restoring old ramdisks
         * (the initramfs is rebuilt below) */
        const char *loc = "/etc/vmware-tools/locations";
        const char *answers = "remove_answer RESTORE_RAMDISK_CMD\n"
                              "remove_answer RESTORE_RAMDISK_KERNELS\n"
                              "remove_answer RESTORE_RAMDISK_ONECALL\n";
        if (is_file(c, loc) && guestfs_write_append(c->g, loc, answers, strlen(answers)) < 0)
            return gerr(c, loc);
        FERRY_AUTOFREE char *out =
            run(c, "vmware-uninstall-tools.pl", "/usr/bin/vmware-uninstall-tools.pl </dev/null");
        if (!out)
            return -1;
        change(c, "removed VMware Tools (vmware-uninstall-tools.pl)");
    }
    char **vbox = guestfs_glob_expand(c->g, "/opt/VBoxGuestAdditions-*/uninstall.sh");
    for (size_t i = 0; vbox && vbox[i]; i++) {
        FERRY_AUTOFREE char *cmd = ferry_printf("sh %s </dev/null", vbox[i]);
        FERRY_AUTOFREE char *out = run(c, vbox[i], cmd);
        if (!out) {
            ferry_strv_free(vbox);
            return -1;
        }
        change(c, "removed the VirtualBox Guest Additions (%s)", vbox[i]);
    }
    ferry_strv_free(vbox);
    return 0;
}

/* ---- network ------------------------------------------------------------- */

/* Comment out LINE-starting KEY= in PATH. */
static int
comment_key(struct conv *c, const char *path, const char *key)
{
    FERRY_AUTOFREE char *text = guestfs_cat(c->g, path);
    if (!text)
        return gerr(c, path);
    struct sbuf b = {0};
    bool changed = false;
    size_t klen = strlen(key);
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l + 1) : strlen(l);
        if (!strncmp(l, key, klen) && l[klen] == '=') {
            sb_add(&b, "#", 1);
            changed = true;
        }
        sb_add(&b, l, n);
        l += n;
    }
    FERRY_AUTOFREE char *out = b.s;
    if (!changed)
        return 0;
    if (guestfs_write(c->g, path, out, b.len) < 0)
        return gerr(c, path);
    change(c, "%s: %s= commented out (the NIC's MAC may change)", path, key);
    return 0;
}

static int
fix_network(struct conv *c)
{
    /* udev rules that pin interface names to the old MACs */
    const char *rules = "/etc/udev/rules.d/70-persistent-net.rules";
    if (is_file(c, rules)) {
        if (guestfs_rm(c->g, rules) < 0)
            return gerr(c, rules);
        change(c, "%s removed (it names NICs by their old MACs)", rules);
    }
    char **ifcfg = guestfs_glob_expand(c->g, "/etc/sysconfig/network-scripts/ifcfg-*");
    char **suse = guestfs_glob_expand(c->g, "/etc/sysconfig/network/ifcfg-*");
    int rc = 0;
    for (char **v = ifcfg; rc == 0 && v && *v; v++)
        if (is_file(c, *v))
            rc = comment_key(c, *v, "HWADDR");
    for (char **v = suse; rc == 0 && v && *v; v++)
        if (is_file(c, *v))
            rc = comment_key(c, *v, "LLADDR");
    ferry_strv_free(ifcfg);
    ferry_strv_free(suse);
    if (rc < 0)
        return -1;
    /* ifupdown names interfaces: VMware's ens160/ens192/ens224 or eth0
     * become enp1s0 ... on KubeVirt's q35.  With one physical interface,
     * an ifupdown pattern maps whatever the first NIC is called to its old
     * stanza: an "auto" line with the pattern e* (first match) mapped to the
     * old name (interfaces(5), PATTERN MATCHING).  auto, not allow-hotplug:
     * ifup -a applies the mapping, the hotplug path (ifup --allow=hotplug
     * IFACE) does not -- checked with ifup --no-act in a bookworm chroot. */
    const char *ifaces = "/etc/network/interfaces";
    if (is_file(c, ifaces)) {
        FERRY_AUTOFREE char *text = guestfs_cat(c->g, ifaces);
        if (!text)
            return gerr(c, ifaces);
        char **names = NULL;
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            char word[32], name[64];
            if (sscanf(l, "%31s %63s", word, name) == 2 && !strcmp(word, "iface") &&
                strcmp(name, "lo")) {
                bool dup = false;
                for (char **n = names; n && *n; n++)
                    dup |= !strcmp(*n, name);
                if (!dup)
                    ferry_strv_push(&names, name);
            }
        }
        size_t nnames = ferry_strv_len(names);
        if (nnames == 1 && (ferry_str_has_prefix(names[0], "ens") ||
                            ferry_str_has_prefix(names[0], "eth") ||
                            ferry_str_has_prefix(names[0], "eno") ||
                            ferry_str_has_prefix(names[0], "enp"))) {
            struct sbuf b = {0};
            bool changed = false;
            for (const char *l = text; *l;) {
                const char *e = strchr(l, '\n');
                size_t n = e ? (size_t)(e - l + 1) : strlen(l);
                char word[32], name[64];
                if (sscanf(l, "%31s %63s", word, name) == 2 && !strcmp(name, names[0]) &&
                    (!strcmp(word, "auto") || !strcmp(word, "allow-hotplug"))) {
                    /* the first such line becomes the pattern, later ones comments */
                    FERRY_AUTOFREE char *line =
                        ferry_printf("# ferry-converter: was \"%s %s\"\n%s%s%s", word, names[0],
                                     changed ? "" : "auto /e*/1=", changed ? "" : names[0],
                                     changed ? "" : "\n");
                    sb_add(&b, line, strlen(line));
                    changed = true;
                } else {
                    sb_add(&b, l, n);
                }
                l += n;
            }
            FERRY_AUTOFREE char *out = b.s;
            if (changed) {
                if (guestfs_write(c->g, ifaces, out, b.len) < 0) {
                    ferry_strv_free(names);
                    return gerr(c, ifaces);
                }
                change(c, "%s: interface %s matched by the pattern \"auto /e*/1=%s\" (its name "
                       "changes on virtio-net)", ifaces, names[0], names[0]);
            }
        } else if (nnames > 1) {
            note(c, "%s configures %zu interfaces by name; check them after the first boot "
                 "(names change on virtio-net)", ifaces, nnames);
        }
        ferry_strv_free(names);
    }
    if (exists(c, "/etc/netplan"))
        note(c, "netplan configuration is not rewritten: interfaces matched by name may "
                "need a change (matched by macaddress they keep working: the MACs are kept)");
    return 0;
}

/* ---- initramfs ----------------------------------------------------------- */

/* Is module NAME built into KVER, or available as a module?  From
 * modules.builtin and modules.dep. */
static int
module_state(struct conv *c, const char *kver, const char *name, bool *builtin, bool *available)
{
    *builtin = *available = false;
    const char *files[] = {"modules.builtin", "modules.dep"};
    for (int f = 0; f < 2; f++) {
        FERRY_AUTOFREE char *path = ferry_printf("/lib/modules/%s/%s", kver, files[f]);
        if (!is_file(c, path))
            continue;
        FERRY_AUTOFREE char *text = guestfs_cat(c->g, path);
        if (!text)
            return gerr(c, path);
        FERRY_AUTOFREE char *needle = ferry_printf("/%s.ko", name);
        for (const char *p = text; (p = strstr(p, needle)); p++) {
            char after = p[strlen(needle)];
            if (after == '\n' || after == ':' || after == '.' || after == '\0') {
                const char *ls = p;
                while (ls > text && ls[-1] != '\n')
                    ls--;
                const char *colon = strchr(ls, ':');
                if (f == 1 && colon && colon < p)
                    continue; /* a dependency, not the module's own line */
                if (f == 0)
                    *builtin = true;
                else
                    *available = true;
                break;
            }
        }
    }
    return 0;
}

enum initrd_tool { TOOL_NONE, TOOL_UPDATE_INITRAMFS, TOOL_DRACUT, TOOL_MKINITRD };

static const char *
first_file(struct conv *c, const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (paths[i] && exists(c, paths[i]))
            return paths[i];
    return NULL;
}

/* As virt-v2v picks it: Debian's update-initramfs, else dracut, else
 * mkinitrd. */
static enum initrd_tool
initrd_tool(struct conv *c)
{
    static const char *const ui[] = {"/usr/sbin/update-initramfs", "/sbin/update-initramfs"};
    static const char *const dr[] = {"/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut"};
    static const char *const mk[] = {"/usr/sbin/mkinitrd", "/sbin/mkinitrd"};
    if (first_file(c, ui, 2))
        return TOOL_UPDATE_INITRAMFS;
    if (first_file(c, dr, 3))
        return TOOL_DRACUT;
    if (first_file(c, mk, 2))
        return TOOL_MKINITRD;
    return TOOL_NONE;
}

/* Add MODS (one per line) missing from /etc/initramfs-tools/modules. */
static int
initramfs_tools_modules(struct conv *c, char **mods)
{
    const char *path = "/etc/initramfs-tools/modules";
    FERRY_AUTOFREE char *text = is_file(c, path) ? guestfs_cat(c->g, path) : ferry_strdup("");
    if (!text)
        return gerr(c, path);
    struct sbuf b = {0};
    sb_add(&b, text, strlen(text));
    if (b.len && b.s[b.len - 1] != '\n')
        sb_add(&b, "\n", 1);
    struct sbuf added = {0};
    for (char **m = mods; m && *m; m++) {
        bool have = false;
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            size_t n = strlen(*m);
            if (!strncmp(l, *m, n) && (l[n] == '\n' || l[n] == ' ' || l[n] == '\0'))
                have = true;
        }
        if (have)
            continue;
        if (!added.len)
            sb_add(&b, "# virtio drivers for KubeVirt (ferry-converter)\n",
                   strlen("# virtio drivers for KubeVirt (ferry-converter)\n"));
        sb_add(&b, *m, strlen(*m));
        sb_add(&b, "\n", 1);
        if (added.len)
            sb_add(&added, " ", 1);
        sb_add(&added, *m, strlen(*m));
    }
    FERRY_AUTOFREE char *out = b.s;
    FERRY_AUTOFREE char *list = added.s;
    if (!list)
        return 0;
    if (guestfs_write(c->g, path, out, b.len) < 0)
        return gerr(c, path);
    change(c, "%s: added %s", path, list);
    return 0;
}

/* Does the initramfs INITRD hold every module of MODS?  Listed with the
 * guest's own tool. */
static int
initrd_has(struct conv *c, enum initrd_tool tool, const char *initrd, char **mods, bool *ret)
{
    FERRY_AUTOFREE char *cmd =
        ferry_printf("%s %s 2>/dev/null", tool == TOOL_UPDATE_INITRAMFS ? "lsinitramfs" : "lsinitrd",
                     initrd);
    FERRY_AUTOFREE char *what = ferry_printf("listing %s", initrd);
    FERRY_AUTOFREE char *list = run(c, what, cmd);
    if (!list)
        return -1;
    *ret = true;
    for (char **m = mods; m && *m; m++) {
        FERRY_AUTOFREE char *needle = ferry_printf("/%s.ko", *m);
        if (!strstr(list, needle))
            *ret = false;
    }
    return 0;
}

static int
rebuild_initrd(struct conv *c)
{
    enum initrd_tool tool = initrd_tool(c);
    if (tool == TOOL_NONE)
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "guest conversion: no update-initramfs, dracut or mkinitrd in the "
                           "guest: cannot add virtio drivers to its initramfs");
    char **kvers = guestfs_ls(c->g, "/lib/modules");
    if (!kvers)
        kvers = guestfs_ls(c->g, "/usr/lib/modules");
    size_t done = 0;
    int rc = 0;
    for (size_t k = 0; rc == 0 && kvers && kvers[k]; k++) {
        const char *kver = kvers[k];
        FERRY_AUTOFREE char *vmlinuz = ferry_printf("/boot/vmlinuz-%s", kver);
        if (!exists(c, vmlinuz))
            continue; /* modules left behind by a removed kernel */
        char **mods = NULL;
        bool blk = false;
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(virtio_modules); i++) {
            bool builtin, available;
            if (module_state(c, kver, virtio_modules[i], &builtin, &available) < 0) {
                rc = -1;
                break;
            }
            if (!strcmp(virtio_modules[i], "virtio_blk"))
                blk = builtin || available;
            if (available && !builtin)
                ferry_strv_push(&mods, virtio_modules[i]);
        }
        if (rc < 0) {
            ferry_strv_free(mods);
            break;
        }
        if (!blk) {
            note(c, "kernel %s has no virtio_blk driver: it cannot boot on virtio", kver);
            ferry_strv_free(mods);
            continue;
        }
        FERRY_AUTOFREE char *modlist = NULL;
        for (char **m = mods; m && *m; m++) {
            char *s = ferry_printf("%s%s%s", modlist ? modlist : "", modlist ? " " : "", *m);
            free(modlist);
            modlist = s;
        }
        if (!modlist) {
            change(c, "kernel %s: virtio drivers are built in; initramfs left as it is", kver);
            done++;
            ferry_strv_free(mods);
            continue;
        }
        const char *const initrds[] = {
            tool == TOOL_UPDATE_INITRAMFS ? NULL : ferry_printf("/boot/initramfs-%s.img", kver),
            ferry_printf("/boot/initrd.img-%s", kver), ferry_printf("/boot/initrd-%s", kver),
            ferry_printf("/boot/initrd-%s.img", kver)};
        const char *found = first_file(c, initrds, FERRY_ARRAY_SIZE(initrds));
        FERRY_AUTOFREE char *initrd =
            ferry_strdup(found ? found
                               : tool == TOOL_UPDATE_INITRAMFS ? initrds[1] : initrds[0]);
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(initrds); i++)
            free((char *)initrds[i]);
        FERRY_AUTOFREE char *cmd = NULL;
        const char *how = NULL;
        switch (tool) {
        case TOOL_UPDATE_INITRAMFS:
            if (initramfs_tools_modules(c, mods) < 0) {
                rc = -1;
                break;
            }
            cmd = ferry_printf("update-initramfs -%s -k %s", found ? "u" : "c", kver);
            how = "update-initramfs";
            break;
        case TOOL_DRACUT: {
            const char *conf = "/etc/dracut.conf.d/ferry-virtio.conf";
            FERRY_AUTOFREE char *line = ferry_printf(
                "# virtio drivers for KubeVirt (ferry-converter)\nadd_drivers+=\" %s \"\n",
                modlist);
            if (!exists(c, conf)) {
                if (guestfs_mkdir_p(c->g, "/etc/dracut.conf.d") < 0 ||
                    guestfs_write(c->g, conf, line, strlen(line)) < 0) {
                    rc = gerr(c, conf);
                    break;
                }
                change(c, "%s: add_drivers %s", conf, modlist);
            }
            cmd = ferry_printf("dracut -f --add-drivers '%s' %s %s", modlist, initrd, kver);
            how = "dracut";
            break;
        }
        case TOOL_MKINITRD: {
            struct sbuf b = {0};
            for (char **m = mods; m && *m; m++) {
                FERRY_AUTOFREE char *w = ferry_printf(" --with=%s", *m);
                sb_add(&b, w, strlen(w));
            }
            FERRY_AUTOFREE char *with = b.s;
            cmd = ferry_printf("mkinitrd -f%s %s %s", with, initrd, kver);
            how = "mkinitrd";
            break;
        }
        case TOOL_NONE:
            break;
        }
        if (rc < 0) {
            ferry_strv_free(mods);
            break;
        }
        FERRY_AUTOFREE char *what = ferry_printf("%s for kernel %s", how, kver);
        FERRY_AUTOFREE char *out = run(c, what, cmd);
        if (!out) {
            rc = -1;
            ferry_strv_free(mods);
            break;
        }
        bool ok = true;
        if (tool != TOOL_MKINITRD && initrd_has(c, tool, initrd, mods, &ok) < 0) {
            rc = -1;
        } else if (!ok) {
            rc = ferry_error(FERRY_ERR_UNSUPPORTED,
                             "guest conversion: %s rebuilt %s, but it lacks some of %s", how,
                             initrd, modlist);
        } else {
            change(c, "%s rebuilt by %s with %s", initrd, how, modlist);
            done++;
        }
        ferry_strv_free(mods);
    }
    ferry_strv_free(kvers);
    if (rc < 0)
        return -1;
    if (!done)
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "guest conversion: no installed kernel has virtio drivers");
    return 0;
}

/* ---- SELinux ------------------------------------------------------------- */

static int
selinux_relabel(struct conv *c)
{
    const char *cfg = "/etc/selinux/config";
    if (!is_file(c, cfg))
        return 0;
    FERRY_AUTOFREE char *text = guestfs_cat(c->g, cfg);
    if (!text)
        return gerr(c, cfg);
    if (!strstr(text, "\nSELINUX=enforcing") && !strstr(text, "\nSELINUX=permissive") &&
        strncmp(text, "SELINUX=enforcing", 17) && strncmp(text, "SELINUX=permissive", 18))
        return 0;
    char type[64] = "targeted";
    const char *t = strstr(text, "SELINUXTYPE=");
    if (t)
        sscanf(t + strlen("SELINUXTYPE="), "%63[A-Za-z0-9_-]", type);
    FERRY_AUTOFREE char *spec = ferry_printf("/etc/selinux/%s/contexts/files/file_contexts", type);
    if (is_file(c, spec)) {
        guestfs_push_error_handler(c->g, NULL, NULL);
        int r = guestfs_selinux_relabel(c->g, spec, "/", GUESTFS_SELINUX_RELABEL_FORCE, 1, -1);
        guestfs_pop_error_handler(c->g);
        if (r == 0) {
            change(c, "SELinux: relabelled with %s", spec);
            return 0;
        }
    }
    if (guestfs_touch(c->g, "/.autorelabel") < 0)
        return gerr(c, "/.autorelabel");
    change(c, "SELinux: /.autorelabel created (relabel at the first boot)");
    return 0;
}

/* ---- the run ------------------------------------------------------------- */

static void
guestfs_close_(guestfs_h *g)
{
    guestfs_close(g);
}
FERRY_DEFINE_AUTOPTR(guestfs_h, guestfs_close_)

static int
mount_root(struct conv *c)
{
    char **mps = guestfs_inspect_get_mountpoints(c->g, c->root);
    if (!mps)
        return gerr(c, "mount points");
    int rc = 0;
    /* shortest mount point first: "/" before "/boot" */
    for (size_t len = 1; rc == 0 && len < 256; len++)
        for (size_t i = 0; rc == 0 && mps[i]; i += 2)
            if (strlen(mps[i]) == len && guestfs_mount(c->g, mps[i + 1], mps[i]) < 0) {
                FERRY_AUTOFREE char *what = ferry_printf("mounting %s on %s", mps[i + 1], mps[i]);
                rc = gerr(c, what);
            }
    ferry_strv_free(mps);
    return rc;
}

static int
convert_linux(struct conv *c)
{
    if (mount_root(c) < 0)
        return -1;
    if (remove_tools(c) < 0 || remap_block_devices(c) < 0 || fix_network(c) < 0 ||
        rebuild_initrd(c) < 0 || selinux_relabel(c) < 0)
        return -1;
    if (guestfs_umount_all(c->g) < 0 || guestfs_sync(c->g) < 0)
        return gerr(c, "unmounting");
    return 0;
}

static char *
os_string(guestfs_h *g, const char *root)
{
    FERRY_AUTOFREE char *type = guestfs_inspect_get_type(g, root);
    FERRY_AUTOFREE char *distro = guestfs_inspect_get_distro(g, root);
    FERRY_AUTOFREE char *arch = guestfs_inspect_get_arch(g, root);
    FERRY_AUTOFREE char *product = guestfs_inspect_get_product_name(g, root);
    return ferry_printf("%s %s %d.%d %s (%s)", type ? type : "unknown",
                        distro ? distro : "unknown", guestfs_inspect_get_major_version(g, root),
                        guestfs_inspect_get_minor_version(g, root), arch ? arch : "unknown",
                        product ? product : "unknown");
}

static guestfs_h *
launch(char *const *overlays, size_t n, bool force_tcg)
{
    FERRY_AUTOPTR(guestfs_h) g = guestfs_create();
    if (!g) {
        ferry_error(FERRY_ERR_INTERNAL, "guest conversion: cannot create a libguestfs handle");
        return NULL;
    }
    guestfs_set_error_handler(g, NULL, NULL);
    if (force_tcg) {
        char *settings[] = {(char *)"force_tcg", NULL};
        guestfs_set_backend_settings(g, settings);
    }
    for (size_t i = 0; i < n; i++)
        if (guestfs_add_drive_opts(g, overlays[i], GUESTFS_ADD_DRIVE_OPTS_FORMAT, "qcow2", -1) <
            0) {
            ferry_error(FERRY_ERR_IO, "guest conversion: %s: %s", overlays[i],
                        guestfs_last_error(g));
            return NULL;
        }
    if (guestfs_launch(g) < 0) {
        ferry_error(FERRY_ERR_UNSUPPORTED, "guest conversion: libguestfs launch: %s",
                    guestfs_last_error(g));
        return NULL;
    }
    return FERRY_STEAL(g);
}

/* Overlays in DIR over each disk, qcow2 with the disk as backing file. */
static int
make_overlays(char *const *disks, size_t n, const char *dir, char ***ret)
{
    FERRY_AUTOPTR(guestfs_h) g = guestfs_create();
    if (!g)
        return ferry_error(FERRY_ERR_INTERNAL, "guest conversion: cannot create a libguestfs handle");
    guestfs_set_error_handler(g, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(disks[i], &st) < 0)
            return ferry_error_errno(FERRY_ERR_NOTFOUND, errno, "guest conversion: disk '%s'",
                                     disks[i]);
        if (access(disks[i], W_OK) < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno,
                                     "guest conversion: disk '%s': not writable", disks[i]);
        FERRY_AUTOFREE char *abs = realpath(disks[i], NULL);
        FERRY_AUTOFREE char *fmt = abs ? guestfs_disk_format(g, abs) : NULL;
        if (!fmt)
            return ferry_error(FERRY_ERR_FORMAT, "guest conversion: disk '%s': %s", disks[i],
                               abs ? guestfs_last_error(g) : "cannot resolve the path");
        if (!strcmp(fmt, "unknown"))
            return ferry_error(FERRY_ERR_FORMAT, "guest conversion: disk '%s': format unknown",
                               disks[i]);
        FERRY_AUTOFREE char *ov = ferry_printf("%s/overlay%zu.qcow2", dir, i);
        if (guestfs_disk_create(g, ov, "qcow2", -1, GUESTFS_DISK_CREATE_BACKINGFILE, abs,
                                GUESTFS_DISK_CREATE_BACKINGFORMAT, fmt, -1) < 0)
            return ferry_error(FERRY_ERR_IO, "guest conversion: overlay for '%s': %s", disks[i],
                               guestfs_last_error(g));
        ferry_strv_push(ret, ov);
    }
    return 0;
}

/* Write each overlay's clusters into its disk. */
static int
commit_overlays(char **overlays, char *const *disks)
{
    for (size_t i = 0; overlays && overlays[i]; i++) {
        char *argv[] = {"qemu-img", "commit", "-q", overlays[i], NULL};
        FERRY_AUTOFREE char *out = NULL;
        int status;
        if (ferry_run(argv, &out, &status) < 0)
            return ferry_error_prefix("guest conversion: qemu-img commit into '%s'", disks[i]);
        if (status != 0) {
            FERRY_AUTOFREE char *why = ferry_wait_status_string(status);
            return ferry_error(FERRY_ERR_IO, "guest conversion: qemu-img commit into '%s' %s",
                               disks[i], why);
        }
    }
    return 0;
}

static int
convert_in(guestfs_h *g, char *const *disks, struct ferry_guest_report *r)
{
    char **roots = guestfs_inspect_os(g);
    if (!roots || !roots[0]) {
        ferry_strv_free(roots);
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "guest conversion: no operating system found on '%s'%s", disks[0],
                           disks[1] ? " and the VM's other disks" : "");
    }
    struct conv c = {.g = g, .root = roots[0], .r = r};
    r->os = os_string(g, c.root);
    if (roots[1])
        note(&c, "%zu operating systems found; converting the one on %s", ferry_strv_len(roots),
             c.root);
    FERRY_AUTOFREE char *type = guestfs_inspect_get_type(g, c.root);
    int rc;
    if (type && !strcmp(type, "windows")) {
        rc = ferry_error(FERRY_ERR_UNSUPPORTED,
                         "guest conversion: %s: Windows guests are not converted yet: the "
                         "virtio-win drivers are not available (Debian does not package them); "
                         "the VM keeps SATA disks and e1000 NICs, which Windows drives itself",
                         r->os);
    } else if (!type || strcmp(type, "linux")) {
        rc = ferry_error(FERRY_ERR_UNSUPPORTED,
                         "guest conversion: %s: only Linux guests are converted", r->os);
    } else {
        c.devices = guestfs_list_devices(g);
        rc = c.devices ? convert_linux(&c) : gerr(&c, "listing the disks");
        ferry_strv_free(c.devices);
    }
    ferry_strv_free(roots);
    return rc;
}

int
ferry_guest_convert(char *const *disks, size_t ndisks, struct ferry_guest_report *r)
{
    if (ndisks == 0)
        return ferry_error(FERRY_ERR_INVALID, "guest conversion: no disk");
    const char *tmp = getenv("TMPDIR");
    FERRY_AUTOFREE char *dir =
        ferry_printf("%s/ferry-guest-XXXXXX", tmp && tmp[0] ? tmp : "/var/tmp");
    if (!mkdtemp(dir))
        return ferry_error_errno(FERRY_ERR_IO, errno, "guest conversion: cannot create '%s'", dir);
    char **overlays = NULL;
    char **argv_disks = ferry_calloc(ndisks + 1, sizeof(char *));
    for (size_t i = 0; i < ndisks; i++)
        argv_disks[i] = disks[i];
    int rc = make_overlays(disks, ndisks, dir, &overlays);
    if (rc == 0) {
        guestfs_h *g = launch(overlays, ndisks, false);
        if (!g && !getenv("LIBGUESTFS_BACKEND_SETTINGS")) {
            /* KVM under nested virtualization may abort qemu: TCG */
            ferry_log_debug("converter", "guest: %s; again under TCG", ferry_error_message());
            ferry_error_reset();
            g = launch(overlays, ndisks, true);
        }
        if (!g) {
            rc = -1;
        } else {
            rc = convert_in(g, argv_disks, r);
            if (guestfs_shutdown(g) < 0 && rc == 0)
                rc = ferry_error(FERRY_ERR_IO, "guest conversion: closing the appliance: %s",
                                 guestfs_last_error(g));
            guestfs_close(g);
        }
    }
    if (rc == 0)
        rc = commit_overlays(overlays, disks);
    ferry_strv_free(overlays);
    free(argv_disks);
    if (ferry_rm_rf(dir) < 0)
        ferry_log_warn("guest conversion: %s not removed", dir);
    return rc;
}

#else /* !FERRY_HAVE_GUESTFS */

bool
ferry_guest_available(void)
{
    return false;
}

int
ferry_guest_convert(char *const *disks, size_t ndisks, struct ferry_guest_report *r)
{
    (void)disks;
    (void)ndisks;
    (void)r;
    return ferry_error(FERRY_ERR_UNSUPPORTED,
                       "guest conversion: built without libguestfs (libguestfs-dev)");
}

#endif
