/* The KVM probe: boot throwaway guests and watch them run (see kvmprobe.h).
 *
 * Each guest is a transient libvirt domain (autodestroyed with our
 * connection), its serial port written to a file in the probe directory;
 * the payloads are copied there first so qemu can read them whatever the
 * permissions of their source (and libvirt relabels only our copies).  The
 * domain resets into on_reboot=destroy, so a guest that triple-faults or a
 * kernel that panics with panic=-1 ends its domain at once. */
#include "launcher/kvmprobe.h"
#include "launcher/launcher.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const paused_reasons[] = {
    "unknown", "user", "migration", "save", "dump", "I/O error", "watchdog", "from snapshot",
    "shutting down", "snapshot", "guest panicked", "starting up", "postcopy", "postcopy failed",
    "API error",
};
static const char *const shutoff_reasons[] = {
    "unknown", "shut down", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot",
    "daemon",
};

#define REASON(arr, r) ((r) >= 0 && (size_t)(r) < FERRY_ARRAY_SIZE(arr) ? (arr)[r] : "unknown")

/* The last line of qemu's log for domain NAME that says why a guest stopped
 * (the log keeps earlier runs: the last one is this run's). */
char *
ferry_kvm_probe_qemu_says(const char *name)
{
    FERRY_AUTOFREE char *path = ferry_printf("/var/log/libvirt/qemu/%s.log", name);
    FERRY_AUTOFREE char *text = NULL;
    size_t len;
    static const char *const keys[] = { "KVM internal error", "emulation failure", "KVM: ",
                                        "error:", "Assertion" };

    if (ferry_file_read(path, 1 << 20, &text, &len) < 0) {
        ferry_error_reset();
        return NULL;
    }
    for (size_t k = 0; k < FERRY_ARRAY_SIZE(keys); k++) {
        char *hit = NULL, *start, *end;
        for (char *p = strstr(text, keys[k]); p; p = strstr(p + 1, keys[k]))
            hit = p;
        if (!hit)
            continue;
        for (start = hit; start > text && start[-1] != '\n'; start--)
            ;
        end = strchr(hit, '\n');
        {
            FERRY_AUTOFREE char *line = ferry_strndup(start, end ? (size_t)(end - start) : strlen(start));
            /* KVM_INTERNAL_ERROR_EMULATION: say it in words */
            if (strstr(line, "internal error. Suberror: 1") && !strstr(line, "emulation failure"))
                return ferry_printf("%s (emulation failure)", line);
            return FERRY_STEAL(line);
        }
    }
    return NULL;
}

static bool
serial_has(const char *path, const char *marker)
{
    FERRY_AUTOFREE char *text = NULL;
    size_t len;
    if (ferry_file_read(path, 8 << 20, &text, &len) < 0) {
        ferry_error_reset();
        return false;
    }
    return memmem(text, len, marker, strlen(marker)) != NULL;
}

/* Copy SRC to DST, at least MIN_SIZE bytes long (SeaBIOS does not boot a
 * disk of one sector). */
/* The last line the guest wrote on its serial port, shortened, or NULL. */
static char *
serial_last_line(const char *path)
{
    FERRY_AUTOFREE char *text = NULL;
    size_t len;
    char *end, *start;

    if (ferry_file_read(path, 8 << 20, &text, &len) < 0) {
        ferry_error_reset();
        return NULL;
    }
    for (size_t i = 0; i < len; i++) /* escape sequences and control characters */
        if ((unsigned char)text[i] < 0x20 && text[i] != '\n')
            text[i] = ' ';
    end = text + len;
    while (end > text && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    if (end == text)
        return NULL;
    for (start = end; start > text && start[-1] != '\n'; start--)
        ;
    while (start < end && *start == ' ')
        start++;
    if (end - start > 100)
        start = end - 100;
    return ferry_strndup(start, (size_t)(end - start));
}

static int
copy_payload(const char *src, const char *dst, off_t min_size)
{
    FERRY_AUTOFREE char *buf = NULL;
    size_t len;
    if (ferry_file_read(src, 256 << 20, &buf, &len) < 0 ||
        ferry_file_write_atomic(dst, buf, len, 0644) < 0)
        return -1;
    if ((off_t)len < min_size && truncate(dst, min_size) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "kvm probe: extend '%s'", dst);
    return 0;
}

/* Boot one guest; 1 when it wrote MARKER, 0 with *ret_why when not. */
static int
run_guest(virConnectPtr conn, const struct ferry_kvm_probe_opts *o, const char *what,
          const char *devices_or_kernel, bool kernel, const char *marker, char **ret_why)
{
    static int seq;
    const char *type = o->domain_type ? o->domain_type : "kvm";
    int timeout = o->timeout_seconds > 0 ? o->timeout_seconds : 20;
    FERRY_AUTOFREE char *name = ferry_printf("ferry-kvm-probe-%d-%d", (int)getpid(), ++seq);
    FERRY_AUTOFREE char *serial = ferry_printf("%s/%s.serial", o->dir, name);
    FERRY_AUTOFREE char *xml = NULL;
    FERRY_AUTOFREE char *why = NULL;
    virDomainPtr dom;
    uint64_t deadline;
    int state = 0, reason = 0;
    bool seen = false;

    unlink(serial);
    xml = ferry_printf(
        "<domain type='%s'><name>%s</name><memory unit='MiB'>%d</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='q35'>hvm</type>%s%s%s</os>%s"
        "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
        "<on_crash>destroy</on_crash><devices>%s"
        "<serial type='file'><source path='%s'/><target port='0'/></serial>"
        "<controller type='usb' model='none'/><memballoon model='none'/></devices></domain>",
        type, name, kernel ? 256 : 32,
        kernel ? "<kernel>" : "<boot dev='hd'/>", kernel ? devices_or_kernel : "",
        kernel ? "</kernel><cmdline>console=ttyS0 panic=-1 quiet</cmdline>" : "",
        ferry_str_eq(type, "kvm") ? "<cpu mode='host-model'/>" : "",
        kernel ? "" : devices_or_kernel, serial);
    dom = virDomainCreateXML(conn, xml, VIR_DOMAIN_START_AUTODESTROY);
    if (!dom) {
        *ret_why = ferry_printf("the %s guest did not start: %s", what, ferry_virt_msg());
        return 0;
    }
    deadline = ferry_now_ns() + (uint64_t)timeout * 1000000000ULL;
    for (;;) {
        if (serial_has(serial, marker)) {
            seen = true;
            break;
        }
        if (virDomainGetState(dom, &state, &reason, 0) < 0) {
            state = VIR_DOMAIN_SHUTOFF;
            reason = VIR_DOMAIN_SHUTOFF_UNKNOWN;
        }
        if (state == VIR_DOMAIN_PAUSED) {
            why = ferry_printf("the %s guest paused (reason: %s) before it wrote its line",
                               what, REASON(paused_reasons, reason));
            break;
        }
        if (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED) {
            if (serial_has(serial, marker)) {
                seen = true;
                break;
            }
            why = ferry_printf("the %s guest stopped (%s) before it wrote its line "
                               "(it reset itself, e.g. after a triple fault)",
                               what, state == VIR_DOMAIN_CRASHED ? "crashed"
                                                                 : REASON(shutoff_reasons, reason));
            break;
        }
        if (ferry_now_ns() >= deadline) {
            FERRY_AUTOFREE char *last = serial_last_line(serial);
            why = ferry_printf("the %s guest did not write its line within %d s (%s%s%s)", what,
                               timeout, last ? "its last output: '" : "it wrote nothing",
                               last ? last : "", last ? "'" : "");
            break;
        }
        usleep(100 * 1000);
    }
    if (virDomainIsActive(dom) == 1)
        virDomainDestroy(dom);
    virDomainFree(dom);
    if (seen) {
        unlink(serial);
        return 1;
    }
    {
        FERRY_AUTOFREE char *q = ferry_kvm_probe_qemu_says(name);
        char *full = q ? ferry_printf("%s; qemu: %s", why, q) : FERRY_STEAL(why);
        free(why);
        why = full;
    }
    *ret_why = FERRY_STEAL(why);
    return 0;
}

int
ferry_kvm_probe(const struct ferry_kvm_probe_opts *o, char **ret_detail)
{
    const char *uri = o->uri ? o->uri : "qemu:///system";
    FERRY_AUTOFREE char *why = NULL;
    FERRY_AUTOFREE char *done = ferry_strdup("");
    virConnectPtr conn;
    int rc = 1;

    if (!o->image && !o->kernel)
        return ferry_error(FERRY_ERR_NOTFOUND, "kvm probe: neither a probe image nor a kernel to boot");
    if (ferry_mkdir_p(o->dir, 0755) < 0)
        return -1;
    chmod(o->dir, 0755);
    ferry_virt_quiet();
    if (!(conn = virConnectOpen(uri)))
        return ferry_error(FERRY_ERR_LIBVIRT, "kvm probe: cannot connect to %s: %s", uri, ferry_virt_msg());
    if (o->image) {
        FERRY_AUTOFREE char *copy = ferry_printf("%s/probe.img", o->dir);
        FERRY_AUTOFREE char *disk = NULL;
        if (copy_payload(o->image, copy, 1 << 20) < 0) {
            rc = -1;
            goto out;
        }
        disk = ferry_printf("<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                            "<source file='%s'/><target dev='sda' bus='sata'/></disk>", copy);
        rc = run_guest(conn, o, "boot sector", disk, false, FERRY_KVM_PROBE_MARKER, &why);
        if (rc == 1) {
            free(done);
            done = ferry_printf("a boot sector wrote its line from long mode");
        }
    }
    if (rc == 1 && o->kernel) {
        FERRY_AUTOFREE char *copy = ferry_printf("%s/vmlinuz", o->dir);
        if (copy_payload(o->kernel, copy, 0) < 0) {
            rc = -1;
            goto out;
        }
        rc = run_guest(conn, o, "Linux kernel", copy, true, FERRY_KVM_PROBE_KERNEL_MARKER, &why);
        if (rc == 1) {
            char *d = ferry_printf("%s%sthe kernel %s booted up to mounting root", done,
                                   *done ? "; " : "", o->kernel);
            free(done);
            done = d;
        } else {
            char *w = ferry_printf("%s (%s)", why, o->kernel);
            free(why);
            why = w;
        }
    }
    if (rc == 0 && access("/sys/module/kvm_pvm", F_OK) == 0) {
        char *w = ferry_printf("%s; the host's KVM is kvm-pvm, a software-assisted nested KVM", why);
        free(why);
        why = w;
    }
    *ret_detail = rc == 1 ? FERRY_STEAL(done) : FERRY_STEAL(why);
    for (char *p = *ret_detail; *p; p++) /* qemu's messages span lines; a condition does not */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
out:
    virConnectClose(conn);
    return rc;
}

char *
ferry_kvm_probe_default_kernel(void)
{
    DIR *d = opendir("/boot");
    struct dirent *de;
    char *best = NULL;

    if (!d)
        return NULL;
    while ((de = readdir(d))) {
        if (!ferry_str_has_prefix(de->d_name, "vmlinuz-"))
            continue;
        if (!best || strverscmp(de->d_name, best) > 0) {
            free(best);
            best = ferry_strdup(de->d_name);
        }
    }
    closedir(d);
    if (best) {
        char *p = ferry_printf("/boot/%s", best);
        free(best);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}
