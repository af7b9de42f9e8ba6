/* The importer confines itself once its source is open (issue 13): whatever
 * a hostile image makes a reader do, the process can read only its source's
 * directory (VMDK extents beside a descriptor) and what libraries need,
 * write only where its destination and scratch files go, and run nothing.
 *
 *   Landlock   every file system access right the kernel knows is handled;
 *              read rights are granted beneath the source's directory (a
 *              regular file's; none for a pipe or a device), the system
 *              libraries (/usr/lib, /lib: gconv, NSS modules) and, for
 *              http(s), the resolver and CA files; write rights beneath the
 *              destination's directory and the scratch directory (or on the
 *              block device itself).  Execute is never granted.
 *   seccomp    a filter refuses (EPERM) execve, ptrace and process memory
 *              access, mounts and namespaces, module and kexec loading,
 *              bpf, perf, keyrings, userfaultfd, io_uring, handle-based
 *              opens; socket() too unless the source is http(s).
 *
 * Landlock's ABI comes from the kernel (syscalls, no libc wrapper); without
 * Landlock (an old kernel, disabled LSM) the importer runs unconfined by
 * Landlock and says so under --debug importer.  landlock_restrict_self
 * applies to the calling thread and its future threads: ferry_import calls
 * this before it starts any thread that reads or writes files.
 *
 * FERRY_IMPORTER_SANDBOX_PROBE=PATH (for the tests) makes the importer try,
 * once confined, to open PATH, to run /bin/true and to open a socket, and
 * log a warning with what happened to each. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "importer/importer.h"

#define MOD "importer"

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* Newer rights than the build's kernel headers may know (ABI 3 and 5). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

/* The rights each Landlock ABI knows (1: 6.1 without REFER ... ). */
static uint64_t
landlock_fs_rights(int abi)
{
    uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;   /* ABI 1: bits 0..12 */

    if (abi >= 2)
        r |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        r |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return r;
}

/* Grant ACCESS beneath PATH (a directory) or on it (a file); a path that
 * does not exist is skipped (e.g. /lib64 on some systems). */
static int
allow(int ruleset, const char *path, uint64_t access, uint64_t handled)
{
    struct landlock_path_beneath_attr attr = { 0 };
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC);

    if (fd < 0)
        return 0;
    if (fstat(fd, &st) < 0 ||
        (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
        close(fd);   /* a pipe or socket: nothing to open again */
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        /* Rights that only apply to directories are refused on files. */
        access &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                  LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_TRUNCATE |
                  LANDLOCK_ACCESS_FS_IOCTL_DEV;
    attr.allowed_access = access & handled;
    attr.parent_fd = fd;
    int r = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
    int e = errno;
    close(fd);
    if (r < 0)
        return ferry_error_errno(FERRY_ERR_INTERNAL, e, "sandbox: landlock rule for '%s'", path);
    ferry_log_debug(MOD, "sandbox: '%s' allowed 0x%llx", path,
                    (unsigned long long)attr.allowed_access);
    return 0;
}

static int
confine_landlock(const struct ferry_sandbox *sb)
{
    int abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

    if (abi < 1) {
        ferry_log_debug(MOD, "sandbox: Landlock is not available (%s): not confined by it",
                        strerror(errno));
        return 0;
    }
    uint64_t handled = landlock_fs_rights(abi);
    struct landlock_ruleset_attr attr = { .handled_access_fs = handled };
    FERRY_AUTOCLOSE int rs = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (rs < 0)
        return ferry_error_errno(FERRY_ERR_INTERNAL, errno, "sandbox: landlock ruleset");

    /* What every import reads: libraries loaded late (gconv for
     * libarchive's name conversion), the CPU count, the time zone. */
    static const char *const system_read[] = {
        "/usr/lib", "/lib", "/lib64", "/usr/lib64", "/sys/devices/system/cpu", "/etc/localtime",
        "/usr/share/zoneinfo",
#if defined(__SANITIZE_ADDRESS__)
        "/proc",   /* LeakSanitizer lists the threads at exit (ASan builds only) */
#endif
        NULL,
    };
    /* What http(s) reads: the resolver and TLS trust. */
    static const char *const http_read[] = {
        "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf",
        "/etc/gai.conf", "/etc/services", "/etc/ssl", "/etc/pki", "/etc/ca-certificates",
        "/usr/share/ca-certificates", "/usr/local/share/ca-certificates", "/usr/lib/ssl",
        "/run/systemd/resolve", NULL,
    };
    uint64_t write = handled & ~(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                                 LANDLOCK_ACCESS_FS_MAKE_BLOCK);

    for (size_t i = 0; system_read[i]; i++)
        if (allow(rs, system_read[i], FS_READ, handled) < 0)
            return -1;
    if (sb->network) {
        for (size_t i = 0; http_read[i]; i++)
            if (allow(rs, http_read[i], FS_READ, handled) < 0)
                return -1;
        static const char *const envs[] = { "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
                                            NULL };
        for (size_t i = 0; envs[i]; i++) {
            const char *v = getenv(envs[i]);
            if (v && v[0] == '/' && allow(rs, v, FS_READ, handled) < 0)
                return -1;
        }
    }
    if (sb->read_dir && allow(rs, sb->read_dir, FS_READ, handled) < 0)
        return -1;
    for (size_t i = 0; i < 2; i++)
        if (sb->write_dir[i] && allow(rs, sb->write_dir[i], write, handled) < 0)
            return -1;
    if (sb->read_file && allow(rs, sb->read_file, FS_READ, handled) < 0)
        return -1;
    /* A block device: written in place, its size asked (BLKGETSIZE64),
     * discarded or zeroed (BLKZEROOUT). */
    if (sb->write_file &&
        allow(rs, sb->write_file,
              LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                  LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV,
              handled) < 0)
        return -1;
    if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
        return ferry_error_errno(FERRY_ERR_INTERNAL, errno, "sandbox: landlock_restrict_self");
    ferry_log_debug(MOD, "sandbox: Landlock ABI %d enforced", abi);
    return 0;
}

/* ---- seccomp ------------------------------------------------------------- */

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#endif

#define DENY(nr)                                                                               \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                           \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

static int
confine_seccomp(const struct ferry_sandbox *sb)
{
#ifdef SANDBOX_ARCH
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        /* x32 system calls: none of ours. */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
        DENY(__NR_execve),
        DENY(__NR_execveat),
#if !defined(__SANITIZE_ADDRESS__)
        /* (LeakSanitizer stops the world with ptrace at exit: ASan builds
         * keep it.) */
        DENY(__NR_ptrace),
#endif
        DENY(__NR_process_vm_readv),
        DENY(__NR_process_vm_writev),
        DENY(__NR_mount),
        DENY(__NR_umount2),
        DENY(__NR_pivot_root),
        DENY(__NR_chroot),
        DENY(__NR_setns),
        DENY(__NR_unshare),
        DENY(__NR_kexec_load),
        DENY(__NR_kexec_file_load),
        DENY(__NR_init_module),
        DENY(__NR_finit_module),
        DENY(__NR_delete_module),
        DENY(__NR_bpf),
        DENY(__NR_perf_event_open),
        DENY(__NR_keyctl),
        DENY(__NR_add_key),
        DENY(__NR_request_key),
        DENY(__NR_userfaultfd),
        DENY(__NR_open_by_handle_at),
        DENY(__NR_name_to_handle_at),
        DENY(__NR_io_uring_setup),
        DENY(__NR_io_uring_enter),
        DENY(__NR_io_uring_register),
        DENY(__NR_swapon),
        DENY(__NR_swapoff),
        DENY(__NR_reboot),
        DENY(__NR_acct),
        /* Last: socket() only for network sources (a jump over it). */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sb->network ? 0xffffffffu : (unsigned)__NR_socket, 0,
                 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) < 0) {
        if (errno == ENOSYS || errno == EINVAL) {
            ferry_log_debug(MOD, "sandbox: seccomp is not available (%s)", strerror(errno));
            return 0;
        }
        return ferry_error_errno(FERRY_ERR_INTERNAL, errno, "sandbox: seccomp filter");
    }
    ferry_log_debug(MOD, "sandbox: seccomp filter installed");
#else
    (void)sb;
    ferry_log_debug(MOD, "sandbox: no seccomp filter for this architecture");
#endif
    return 0;
}

static void
probe(void)
{
    const char *path = getenv("FERRY_IMPORTER_SANDBOX_PROBE");

    if (!path || !*path)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ferry_log_warn("sandbox probe: open '%s' succeeded", path);
        close(fd);
    } else {
        ferry_log_warn("sandbox probe: open '%s': %s", path, strerror(errno));
    }
    char *const argv[] = { (char *)"true", NULL };
    execve("/bin/true", argv, (char *const[]){ NULL });
    ferry_log_warn("sandbox probe: execve '/bin/true': %s", strerror(errno));
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        ferry_log_warn("sandbox probe: socket succeeded");
        close(s);
    } else {
        ferry_log_warn("sandbox probe: socket: %s", strerror(errno));
    }
}

int
ferry_sandbox_confine(const struct ferry_sandbox *sb)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return ferry_error_errno(FERRY_ERR_INTERNAL, errno, "sandbox: no_new_privs");
    if (confine_landlock(sb) < 0 || confine_seccomp(sb) < 0)
        return -1;
    probe();
    return 0;
}
