/* libguestfs inspection, bounded in time.  The libguestfs handle lives in a
 * forked child: the appliance launch alone takes 12-25 s here and can hang
 * on a broken image, and libguestfs offers no overall deadline.  The child
 * writes one JSON object on a pipe; the parent waits for it with poll() up to
 * the deadline, then kills the child by pid.  Disks inside an OVA are opened
 * in place: the child serves each member with nbdkit's tar filter on a unix
 * socket (in a directory the parent creates and removes) and adds it to
 * libguestfs as an NBD drive with the member's format on top.
 */
#include "converter/inspect.h"

#include <json-c/json.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
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
    pid_t pid;
    char *socket;
};

#define NBD_START_MS 30000

static void
nbd_stop(struct nbd_server *srv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (srv[i].pid > 0) {
            kill(srv[i].pid, SIGTERM);
            while (waitpid(srv[i].pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        free(srv[i].socket);
    }
    free(srv);
}

/* Start nbdkit for ARCHIVE's MEMBER, read-only, and wait for its socket. */
static int
nbd_start(const char *dir, size_t index, const char *archive, const char *member,
          struct nbd_server *srv, char **ret_err)
{
    srv->socket = ferry_printf("%s/nbd%zu.sock", dir, index);
    FERRY_AUTOFREE char *entry = ferry_printf("tar-entry=%s", member);
    pid_t pid = fork();
    if (pid < 0) {
        *ret_err = ferry_printf("fork nbdkit: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("nbdkit", "nbdkit", "--exit-with-parent", "-f", "-r", "-U", srv->socket,
               "--filter=tar", "file", archive, entry, (char *)NULL);
        _exit(127);
    }
    srv->pid = pid;
    for (int waited = 0; waited < NBD_START_MS; waited += 20) {
        struct stat st;
        if (stat(srv->socket, &st) == 0 && S_ISSOCK(st.st_mode))
            return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            srv->pid = 0;
            *ret_err = ferry_printf("nbdkit could not serve '%s' from %s (exit %d; is nbdkit "
                                    "with its tar filter installed?)",
                                    member, archive, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            return -1;
        }
        usleep(20000);
    }
    *ret_err = ferry_printf("nbdkit did not open '%s' from %s in %d s", member, archive,
                            NBD_START_MS / 1000);
    return -1;
}

/* A launched handle with DEF's local disks, read-only; NULL with *ret_err. */
static guestfs_h *
launch(struct ferry_vm_def *def, const struct nbd_server *srv, bool force_tcg, char **ret_err)
{
    FERRY_AUTOPTR(guestfs_h) g = guestfs_create();
    if (!g) {
        *ret_err = ferry_strdup("cannot create a libguestfs handle");
        return NULL;
    }
    guestfs_set_error_handler(g, NULL, NULL);
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
    if (guestfs_launch(g) < 0) {
        *ret_err = ferry_printf("libguestfs launch: %s", guestfs_last_error(g));
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
        if (d->kind == FERRY_DISK_DISK && !d->path && d->archive && d->member &&
            nbd_start(dir, i, d->archive, d->member, &srv[i], ret_err) < 0)
            goto out;
    }
    guestfs_h *g = launch(def, srv, false, ret_err);
    if (!g && *ret_err && strstr(*ret_err, "launch") && !getenv("LIBGUESTFS_BACKEND_SETTINGS")) {
        /* Under nested virtualization KVM may be present but unusable
         * (qemu aborts setting MSRs): retry once under TCG. */
        free(*ret_err);
        *ret_err = NULL;
        g = launch(def, srv, true, ret_err);
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

/* Remove the run directory and the sockets nbdkit left in it. */
static void
remove_run_dir(char *dir)
{
    if (!dir)
        return;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            FERRY_AUTOFREE char *p = ferry_printf("%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

int
ferry_inspect_run(struct ferry_vm_def *def, unsigned timeout_seconds)
{
    /* The parent owns the directory for nbdkit's sockets, so that it is
     * removed even when the child is killed at the deadline. */
    char *dir = NULL;
    for (size_t i = 0; i < def->ndisks && !dir; i++)
        if (def->disks[i].archive && !def->disks[i].path) {
            const char *tmp = getenv("TMPDIR");
            dir = ferry_printf("%s/ferry-inspect-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
            if (!mkdtemp(dir)) {
                int e = errno;
                free(dir);
                return ferry_error_errno(FERRY_ERR_IO, e, "inspect: mkdtemp");
            }
        }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        remove_run_dir(dir);
        return ferry_error_errno(FERRY_ERR_IO, errno, "inspect: pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        remove_run_dir(dir);
        return ferry_error_errno(FERRY_ERR_IO, errno, "inspect: fork");
    }
    if (pid == 0) {
        close(fds[0]);
        setpgid(0, 0); /* so that the appliance's qemu dies with us */
        char *err = NULL;
        json_object *o = inspect_child(def, dir, &err);
        if (!o) {
            o = json_object_new_object();
            json_object_object_add(o, "error", json_object_new_string(err ? err : "failed"));
        }
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        size_t len = strlen(s), off = 0;
        while (off < len) {
            ssize_t n = write(fds[1], s + off, len - off);
            if (n <= 0)
                break;
            off += n;
        }
        _exit(0);
    }
    close(fds[1]);
    FERRY_AUTOCLOSE int rfd = fds[0];
    setpgid(pid, pid);

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
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    if (dir)
        /* nbdkit servers are in the child's process group: a killed child
         * leaves them to --exit-with-parent, which is asynchronous.  The
         * child is a zombie at worst here, so its group id is not reused. */
        kill(-pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
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
    def->inspect.major = (int)ferry_json_get_int(o, "major", 0);
    def->inspect.minor = (int)ferry_json_get_int(o, "minor", 0);
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
