/* libguestfs inspection, bounded in time.  The libguestfs handle lives in a
 * forked child: the appliance launch alone takes 12-25 s here and can hang
 * on a broken image, and libguestfs offers no overall deadline.  The child
 * writes one JSON object on a pipe; the parent waits for it with poll() up to
 * the deadline.  Disks inside an OVA are opened in place: the child serves
 * each member with nbdkit's tar filter on a unix socket and adds it to
 * libguestfs as an NBD drive with the member's format on top.
 *
 * Nothing outlives a run.  The parent creates one run directory under
 * TMPDIR for nbdkit's sockets and libguestfs's temporary directory (and, when
 * not root, its socket directory), and removes it recursively at the end.
 * The child leads its own process group, which holds everything it starts
 * (qemu, nbdkit, supermin); the parent is their subreaper.  At the deadline
 * the parent sends the child SIGTERM: the child stops the group, so that the
 * pending libguestfs call fails and guestfs_close() removes what libguestfs
 * made -- root's socket directory is always in /tmp, where only libguestfs
 * knows its name.  After a grace period, or when the child is done, the
 * group is killed and every member reaped.  The appliance cache stays where
 * libguestfs keeps it between runs (LIBGUESTFS_CACHEDIR, else /var/tmp):
 * building it afresh doubled the launch time (22.7 s -> 43.8 s here).
 */
#include "converter/inspect.h"

#include <json-c/json.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/util.h"

#ifdef FERRY_HAVE_GUESTFS
#include <guestfs.h>

bool
ferry_inspect_available(void)
{
    return true;
}

static void
guestfs_close_(guestfs_h *g)
{
    guestfs_close(g);
}
FERRY_DEFINE_AUTOPTR(guestfs_h, guestfs_close_)

static const char *
qemu_format(const char *fmt)
{
    if (!fmt)
        return NULL;
    if (!strcmp(fmt, "vhd"))
        return "vpc";
    if (!strcmp(fmt, "iso"))
        return "raw";
    return fmt;
}

static void
put_str(json_object *o, const char *key, char *v)
{
    if (v && strcmp(v, "unknown"))
        json_object_object_add(o, key, json_object_new_string(v));
    free(v);
}

/* Has any disk a GPT EFI system partition? */
static bool
has_esp(guestfs_h *g)
{
    bool found = false;
    char **parts = guestfs_list_partitions(g);
    for (size_t i = 0; parts && parts[i]; i++) {
        int num = guestfs_part_to_partnum(g, parts[i]);
        char *dev = guestfs_part_to_dev(g, parts[i]);
        char *pt = dev ? guestfs_part_get_parttype(g, dev) : NULL;
        if (pt && !strcmp(pt, "gpt") && num > 0) {
            char *type = guestfs_part_get_gpt_type(g, dev, num);
            if (type && !strcasecmp(type, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"))
                found = true;
            free(type);
        }
        free(pt);
        free(dev);
    }
    ferry_strv_free(parts);
    return found;
}

/* Mount ROOT's filesystems read-only and look for virtio drivers. */
static bool
has_virtio(guestfs_h *g, const char *root, const char *type)
{
    if (strcmp(type, "windows"))
        return true; /* Linux carries virtio since 2.6.25 */
    char **mps = guestfs_inspect_get_mountpoints(g, root);
    bool ok = false;
    /* mount shortest mountpoint first: "/" before "/boot" */
    for (size_t len = 1; mps && len < 64; len++)
        for (size_t i = 0; mps[i]; i += 2)
            if (strlen(mps[i]) == len)
                guestfs_mount_ro(g, mps[i + 1], mps[i]);
    const char *drivers[] = {"/windows/system32/drivers/viostor.sys",
                             "/windows/system32/drivers/vioscsi.sys"};
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(drivers) && !ok; i++) {
        char *p = guestfs_case_sensitive_path(g, drivers[i]);
        if (p && guestfs_exists(g, p) > 0)
            ok = true;
        free(p);
    }
    ferry_strv_free(mps);
    guestfs_umount_all(g);
    return ok;
}

/* OVA members are served in place by nbdkit's tar filter (no unpacking):
 * one nbdkit per member on a unix socket in the run's directory, started
 * with --exit-with-parent and stopped by pid. */
struct nbd_server {
    struct ferry_child child;    /* pid 0 until started */
    char *socket;
};

#define NBD_START_MS 30000
#define NBD_STOP_GRACE_MS 5000

static void
nbd_stop(struct nbd_server *srv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (srv[i].child.pid > 0)
            ferry_child_stop(&srv[i].child, NBD_STOP_GRACE_MS);
        free(srv[i].socket);
    }
    free(srv);
}

/* Start nbdkit for ARCHIVE's MEMBER, read-only, and wait for its socket. */
static int
nbd_start(const char *dir, size_t index, const char *archive, const char *member,
          struct nbd_server *srv, char **ret_err)
{
    static const struct ferry_spawn_opts quiet = { .stdout_file = "/dev/null" };
    FERRY_AUTOFREE char *entry = ferry_printf("tar-entry=%s", member);
    srv->socket = ferry_printf("%s/nbd%zu.sock", dir, index);
    char *const argv[] = { "nbdkit", "--exit-with-parent", "-f", "-r", "-U", srv->socket,
                           "--filter=tar", "file", (char *)archive, entry, NULL };

    if (ferry_spawn(argv, &quiet, &srv->child) < 0) {
        *ret_err = ferry_printf("nbdkit: %s", ferry_error_message());
        ferry_error_reset();
        srv->child.pid = 0;
        return -1;
    }
    for (int waited = 0; waited < NBD_START_MS; waited += 20) {
        struct stat st;
        int status;

        if (stat(srv->socket, &st) == 0 && S_ISSOCK(st.st_mode))
            return 0;
        if (ferry_child_wait(&srv->child, 0, &status) == 0) {
            srv->child.pid = 0;
            *ret_err = ferry_printf("nbdkit could not serve '%s' from %s (exit %d; is nbdkit "
                                    "with its tar filter installed?)",
                                    member, archive, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            return -1;
        }
        ferry_error_reset();   /* not yet exited */
        usleep(20000);
    }
    *ret_err = ferry_printf("nbdkit did not open '%s' from %s in %d s", member, archive,
                            NBD_START_MS / 1000);
    return -1;
}

/* Set by SIGTERM from the parent at the deadline. */
static volatile sig_atomic_t cancelled;

/* In the child, at the deadline: stop everything in our process group
 * (qemu, nbdkit, supermin) so that the pending libguestfs call fails and the
 * handle is closed -- which removes libguestfs's directories. */
static void
on_cancel(int sig)
{
    struct sigaction sa = {.sa_handler = on_cancel, .sa_flags = SA_RESTART | SA_NODEFER};
    struct sigaction ign = {.sa_handler = SIG_IGN};
    cancelled = 1;
    /* the group includes us: ignore our own SIGTERM meanwhile (SA_NODEFER:
     * not blocked here, so it is discarded, not left pending), then be ready
     * for the next one (the parent repeats it, for whatever was started in
     * between) */
    sigaction(sig, &ign, NULL);
    kill(0, SIGTERM);
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* Where the appliance cache is: libguestfs's own choice, except that the
 * per-run TMPDIR does not move it (the cache is meant to outlive the run). */
static const char *
cache_dir(const char *dir)
{
    const char *c = getenv("LIBGUESTFS_CACHEDIR");
    if (c && c[0] == '/')
        return c;
    return access("/var/tmp", W_OK) == 0 ? "/var/tmp" : dir;
}

/* A launched handle with DEF's local disks, read-only; NULL with *ret_err.
 * libguestfs's temporary files go into DIR. */
static guestfs_h *
launch(struct ferry_vm_def *def, const struct nbd_server *srv, const char *dir, bool force_tcg,
       char **ret_err)
{
    FERRY_AUTOPTR(guestfs_h) g = guestfs_create();
    if (!g) {
        *ret_err = ferry_strdup("cannot create a libguestfs handle");
        return NULL;
    }
    guestfs_set_error_handler(g, NULL, NULL);
    /* The parent stops and reaps the whole process group itself. */
    guestfs_set_recovery_proc(g, 0);
    if (guestfs_set_tmpdir(g, dir) < 0 || guestfs_set_cachedir(g, cache_dir(dir)) < 0) {
        *ret_err = ferry_printf("libguestfs: %s", guestfs_last_error(g));
        return NULL;
    }
    if (force_tcg) {
        char *settings[] = {(char *)"force_tcg", NULL};
        guestfs_set_backend_settings(g, settings);
    }
    size_t added = 0;
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct ferry_vm_disk *d = &def->disks[i];
        if (d->kind != FERRY_DISK_DISK || (!d->path && !srv[i].socket))
            continue;
        const char *fmt = qemu_format(d->format);
        int r;
        if (d->path) {
            r = fmt ? guestfs_add_drive_opts(g, d->path, GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
                                             GUESTFS_ADD_DRIVE_OPTS_FORMAT, fmt, -1)
                    : guestfs_add_drive_opts(g, d->path, GUESTFS_ADD_DRIVE_OPTS_READONLY, 1, -1);
        } else {
            /* the member over NBD; qemu's format driver on top (a
             * streamOptimized VMDK is read-only, which is all we need) */
            FERRY_AUTOFREE char *server = ferry_printf("unix:%s", srv[i].socket);
            char *servers[] = {server, NULL};
            r = fmt ? guestfs_add_drive_opts(g, "", GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
                                             GUESTFS_ADD_DRIVE_OPTS_PROTOCOL, "nbd",
                                             GUESTFS_ADD_DRIVE_OPTS_SERVER, servers,
                                             GUESTFS_ADD_DRIVE_OPTS_FORMAT, fmt, -1)
                    : guestfs_add_drive_opts(g, "", GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
                                             GUESTFS_ADD_DRIVE_OPTS_PROTOCOL, "nbd",
                                             GUESTFS_ADD_DRIVE_OPTS_SERVER, servers, -1);
        }
        if (r < 0) {
            *ret_err = ferry_printf("%s: %s", d->path ? d->path : d->member,
                                    guestfs_last_error(g));
            return NULL;
        }
        added++;
    }
    if (!added) {
        *ret_err = ferry_strdup("no local disk file to inspect");
        return NULL;
    }
    if (cancelled || guestfs_launch(g) < 0 || cancelled) {
        *ret_err = cancelled ? ferry_strdup("cancelled at the deadline")
                             : ferry_printf("libguestfs launch: %s", guestfs_last_error(g));
        return NULL;
    }
    return FERRY_STEAL(g);
}

static json_object *inspect_guest(guestfs_h *g, char **ret_err);

/* In the child: serve OVA members, launch, inspect, stop the servers. */
static json_object *
inspect_child(struct ferry_vm_def *def, const char *dir, char **ret_err)
{
    struct nbd_server *srv = ferry_calloc(def->ndisks ? def->ndisks : 1, sizeof(*srv));
    json_object *o = NULL;
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct ferry_vm_disk *d = &def->disks[i];
        if (cancelled) {
            *ret_err = ferry_strdup("cancelled at the deadline");
            goto out;
        }
        if (d->kind == FERRY_DISK_DISK && !d->path && d->archive && d->member &&
            nbd_start(dir, i, d->archive, d->member, &srv[i], ret_err) < 0)
            goto out;
    }
    guestfs_h *g = launch(def, srv, dir, false, ret_err);
    if (!g && !cancelled && *ret_err && strstr(*ret_err, "launch") &&
        !getenv("LIBGUESTFS_BACKEND_SETTINGS")) {
        /* Under nested virtualization KVM may be present but unusable
         * (qemu aborts setting MSRs): retry once under TCG. */
        free(*ret_err);
        *ret_err = NULL;
        g = launch(def, srv, dir, true, ret_err);
    }
    if (g) {
        o = inspect_guest(g, ret_err);
        guestfs_close(g);
    }
out:
    nbd_stop(srv, def->ndisks);
    return o;
}

static json_object *
inspect_guest(guestfs_h *g, char **ret_err)
{
    char **roots = guestfs_inspect_os(g);
    if (!roots || !roots[0]) {
        ferry_strv_free(roots);
        *ret_err = ferry_strdup("no operating system found on the disks");
        return NULL;
    }
    const char *root = roots[0];
    json_object *o = json_object_new_object();
    char *type = guestfs_inspect_get_type(g, root);
    put_str(o, "type", ferry_strdup(type));
    put_str(o, "distro", guestfs_inspect_get_distro(g, root));
    put_str(o, "product", guestfs_inspect_get_product_name(g, root));
    put_str(o, "arch", guestfs_inspect_get_arch(g, root));
    put_str(o, "osinfo", guestfs_inspect_get_osinfo(g, root));
    json_object_object_add(o, "major", json_object_new_int(guestfs_inspect_get_major_version(g, root)));
    json_object_object_add(o, "minor", json_object_new_int(guestfs_inspect_get_minor_version(g, root)));
    json_object_object_add(o, "virtio", json_object_new_boolean(type && has_virtio(g, root, type)));
    json_object_object_add(o, "efi", json_object_new_boolean(has_esp(g)));
    free(type);
    ferry_strv_free(roots);
    return o;
}

static char *
dup_json_str(json_object *o, const char *key)
{
    return ferry_strdup(ferry_json_get_string(o, key));
}

/* The run directory: nbdkit's sockets and libguestfs's temporary files.
 * Absolute (libguestfs wants that), under TMPDIR. */
static int
make_run_dir(char **ret_dir)
{
    const char *tmp = getenv("TMPDIR");
    FERRY_AUTOFREE char *tmpl =
        ferry_printf("%s/ferry-inspect-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(tmpl))
        return ferry_error_errno(FERRY_ERR_IO, errno, "inspect: cannot create '%s'", tmpl);
    char *abs = realpath(tmpl, NULL);
    if (!abs) {
        int e = errno;
        rmdir(tmpl);
        return ferry_error_errno(FERRY_ERR_IO, e, "inspect: realpath '%s'", tmpl);
    }
    *ret_dir = abs;
    return 0;
}

static void
remove_run_dir(char *dir)
{
    if (dir && ferry_rm_rf(dir) < 0)
        ferry_log_warn("inspect: run directory %s not removed", dir);
    free(dir);
}

/* Has PID exited (left unreaped, so that its process group id stays taken)
 * within MS milliseconds?  MS < 0 waits as long as it takes. */
static bool
exited_within(pid_t pid, int ms)
{
    for (int waited = 0;; waited += 20) {
        siginfo_t si = {0};
        int r = waitid(P_PID, pid, &si, WEXITED | WNOWAIT | (ms < 0 ? 0 : WNOHANG));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || si.si_pid == pid)
            return true; /* ECHILD: nothing left to wait for */
        if (waited >= ms)
            return false;
        usleep(20000);
    }
}

/* Kill whatever is left in the child's process group and reap every member:
 * as their subreaper the parent also inherits the child's children (qemu,
 * nbdkit) when the child dies first, so ECHILD means the group is gone. */
static void
end_group(pid_t pgid)
{
    kill(-pgid, SIGKILL);
    for (;;) {
        pid_t r = waitpid(-pgid, NULL, 0);
        if (r < 0 && errno != EINTR)
            break;
    }
}

/* How long the child has, after SIGTERM at the deadline, to close its
 * handle (the appliance is stopped at once; closing takes well under 1 s). */
#define CANCEL_GRACE_MS 10000
#define CANCEL_REPEAT_MS 500

/* In the child: inspect and write the answer (or {"error": ...}) on FD. */
static void __attribute__((noreturn))
child_main(struct ferry_vm_def *def, const char *dir, int fd)
{
    /* ferry_spawn_call made us lead our own group: everything we start
     * stays in it */
    /* SA_RESTART: a repeated SIGTERM must not break guestfs_close();
     * SA_NODEFER: see on_cancel() */
    struct sigaction sa = {.sa_handler = on_cancel, .sa_flags = SA_RESTART | SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    /* Unprivileged libguestfs puts its sockets in XDG_RUNTIME_DIR: the run
     * directory too, unless a socket path there would not fit sun_path.
     * (Root's are always in /tmp; closing the handle removes them.) */
    if (geteuid() != 0 && strlen(dir) + sizeof("/libguestfsXXXXXX/guestfsd.sock") <=
                              sizeof(((struct sockaddr_un *)0)->sun_path))
        setenv("XDG_RUNTIME_DIR", dir, 1);
    char *err = NULL;
    json_object *o = inspect_child(def, dir, &err);
    if (!o) {
        o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string(err ? err : "failed"));
    }
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(fd, s + off, len - off);
        if (n <= 0)
            break;
        off += n;
    }
    _exit(0);
}

struct child_args {
    struct ferry_vm_def *def;
    const char *dir;
    int read_fd, write_fd;
};

/* ferry_spawn_call's entry: the child keeps our descriptors, so it drops
 * the parent's end of the answer pipe first. */
static int
child_call(void *opaque)
{
    struct child_args *a = opaque;
    close(a->read_fd);
    child_main(a->def, a->dir, a->write_fd);
}

int
ferry_inspect_run(struct ferry_vm_def *def, unsigned timeout_seconds)
{
    /* The parent owns the run directory, so that it is removed even when
     * the child is killed. */
    char *dir = NULL;
    if (make_run_dir(&dir) < 0)
        return -1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        remove_run_dir(dir);
        return ferry_error_errno(FERRY_ERR_IO, errno, "inspect: pipe");
    }
    int was_subreaper = 0;
    prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    struct child_args args = { .def = def, .dir = dir, .read_fd = fds[0], .write_fd = fds[1] };
    struct ferry_spawn_opts so = { .new_process_group = true };
    struct ferry_child child;
    if (ferry_spawn_call(child_call, &args, &so, &child) < 0) {
        close(fds[0]);
        close(fds[1]);
        prctl(PR_SET_CHILD_SUBREAPER, was_subreaper);
        remove_run_dir(dir);
        return ferry_error_prefix("inspect");
    }
    pid_t pid = child.pid;
    close(fds[1]);
    FERRY_AUTOCLOSE int rfd = fds[0];

    uint64_t deadline = ferry_now_ns() + (uint64_t)timeout_seconds * 1000000000ULL;
    FERRY_AUTOFREE char *buf = NULL;
    size_t len = 0;
    bool timed_out = false;
    for (;;) {
        uint64_t now = ferry_now_ns();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = rfd, .events = POLLIN};
        int r = poll(&p, 1, (int)((deadline - now) / 1000000ULL) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char chunk[4096];
        ssize_t n = read(rfd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf = ferry_realloc(buf, len + n + 1);
        memcpy(buf + len, chunk, n);
        len += n;
        buf[len] = '\0';
    }
    if (timed_out) {
        bool stopped = false;
        for (int waited = 0; !stopped && waited < CANCEL_GRACE_MS; waited += CANCEL_REPEAT_MS) {
            kill(pid, SIGTERM); /* again: something may have started since */
            stopped = exited_within(pid, CANCEL_REPEAT_MS);
        }
        if (!stopped)
            ferry_log_warn("inspection of %s: the child did not stop in %d s; killed", def->name,
                           CANCEL_GRACE_MS / 1000);
    } else {
        /* EOF: the child is exiting */
        exited_within(pid, CANCEL_GRACE_MS);
    }
    end_group(pid);
    prctl(PR_SET_CHILD_SUBREAPER, was_subreaper);
    remove_run_dir(dir);
    if (timed_out)
        return ferry_error(FERRY_ERR_TIMEOUT, "inspection of %s did not finish in %u s",
                           def->name, timeout_seconds);
    FERRY_AUTOPTR(json_object) o = NULL;
    if (!buf || ferry_json_parse(buf, len, "inspection", &o) < 0)
        return ferry_error(FERRY_ERR_INTERNAL, "inspection of %s: the child died", def->name);
    const char *err = ferry_json_get_string(o, "error");
    if (err)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "inspection of %s: %s", def->name, err);
    def->inspect.done = true;
    def->inspect.type = dup_json_str(o, "type");
    def->inspect.distro = dup_json_str(o, "distro");
    def->inspect.product = dup_json_str(o, "product");
    def->inspect.arch = dup_json_str(o, "arch");
    def->inspect.osinfo = dup_json_str(o, "osinfo");
    /* Versions a guest's files claim: 0 (unknown) unless 0..99999. */
    int64_t major = ferry_json_get_int(o, "major", 0), minor = ferry_json_get_int(o, "minor", 0);
    def->inspect.major = major >= 0 && major < 100000 ? (int)major : 0;
    def->inspect.minor = minor >= 0 && minor < 100000 ? (int)minor : 0;
    def->inspect.virtio = ferry_json_get_bool(o, "virtio", false);
    def->inspect.efi = ferry_json_get_bool(o, "efi", false);
    return 0;
}

#else /* !FERRY_HAVE_GUESTFS */

bool
ferry_inspect_available(void)
{
    return false;
}

int
ferry_inspect_run(struct ferry_vm_def *def, unsigned timeout_seconds)
{
    return ferry_error(FERRY_ERR_UNSUPPORTED, "built without libguestfs: cannot inspect %s",
                       def->name);
}

#endif
