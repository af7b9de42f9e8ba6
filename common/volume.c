/* Paths under the state directory (see volume.h): one maker of the
 * <area>/<ns>/<name>/<file> paths, which checks every part, and the
 * beneath-root file operations the controller, the CLI, the handler and the
 * launcher use on them. */
#include "common/volume.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/name.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BENEATH (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

/* A plain file name: no '/', not "." or "..", not empty. */
static bool
plain_name(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

int
ferry_state_check(const char *ns, const char *name)
{
    if (ferry_name_check_label("metadata.namespace", ns ? ns : "") < 0)
        return -1;
    if (ferry_name_check_subdomain("metadata.name", name ? name : "") < 0)
        return -1;
    return 0;
}

static char *
rel_path(const char *area, const char *ns, const char *name, const char *file)
{
    if (!plain_name(area)) {
        ferry_error(FERRY_ERR_INVALID, "state path: invalid area \"%s\"", area ? area : "");
        return NULL;
    }
    if (ns && ferry_name_check_label("metadata.namespace", ns) < 0)
        return NULL;
    if (name && (!ns || ferry_name_check_subdomain("metadata.name", name) < 0)) {
        if (!ns)
            ferry_error(FERRY_ERR_INVALID, "state path: a name needs a namespace");
        return NULL;
    }
    if (file && (!name || !plain_name(file))) {
        ferry_error(FERRY_ERR_INVALID, "state path: invalid file name \"%s\"", file);
        return NULL;
    }
    if (file)
        return ferry_printf("%s/%s/%s/%s", area, ns, name, file);
    if (name)
        return ferry_printf("%s/%s/%s", area, ns, name);
    if (ns)
        return ferry_printf("%s/%s", area, ns);
    return ferry_strdup(area);
}

char *
ferry_state_path(const char *root, const char *area, const char *ns, const char *name,
                 const char *file)
{
    FERRY_AUTOFREE char *rel = rel_path(area, ns, name, file);

    if (!rel)
        return NULL;
    return ferry_printf("%s/%s", root, rel);
}

/* openat2 beneath dirfd; on kernels without it (ENOSYS), one component at a
 * time with O_NOFOLLOW, refusing ".." (the same guarantee, slower). */
static int
open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = BENEATH,
    };
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);

    if (fd >= 0 || errno != ENOSYS)
        return (int)fd;
    {
        FERRY_AUTOFREE char *copy = ferry_strdup(rel);
        char *save = NULL, *part, *next;
        int cur = dup(dirfd);

        if (cur < 0)
            return -1;
        part = strtok_r(copy, "/", &save);
        while (part) {
            int nfd;

            next = strtok_r(NULL, "/", &save);
            if (strcmp(part, "..") == 0) {
                close(cur);
                errno = EXDEV;
                return -1;
            }
            if (next)
                nfd = openat(cur, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            else
                nfd = openat(cur, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
            close(cur);
            if (nfd < 0)
                return -1;
            cur = nfd;
            part = next;
        }
        return cur;
    }
}

static int
open_root(const char *root)
{
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "state directory '%s'", root);
    return fd;
}

static int
beneath_error(const char *root, const char *rel, int e)
{
    if (e == EXDEV || e == ELOOP)
        return ferry_error(FERRY_ERR_INVALID, "'%s/%s': refused: the path leaves the state "
                           "directory or goes through a symlink", root, rel);
    return ferry_error_errno(FERRY_ERR_IO, e, "'%s/%s'", root, rel);
}

int
ferry_state_openat(const char *root, const char *rel, int flags, mode_t mode)
{
    FERRY_AUTOCLOSE int rfd = open_root(root);
    int fd;

    if (rfd < 0)
        return -1;
    if (!rel || !*rel || rel[0] == '/')
        return ferry_error(FERRY_ERR_INVALID, "state path '%s': not relative", rel ? rel : "");
    fd = open_beneath(rfd, rel, flags, mode);
    if (fd < 0)
        return beneath_error(root, rel, errno);
    return fd;
}

int
ferry_state_mkdir(const char *root, const char *rel, mode_t mode)
{
    FERRY_AUTOFREE char *copy = ferry_strdup(rel ? rel : "");
    char *save = NULL, *part;
    int cur = open_root(root);

    if (cur < 0)
        return -1;
    for (part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        int nfd;

        if (!plain_name(part)) {
            close(cur);
            return ferry_error(FERRY_ERR_INVALID, "state path '%s': invalid part \"%s\"", rel,
                               part);
        }
        if (mkdirat(cur, part, mode) < 0 && errno != EEXIST) {
            int e = errno;
            close(cur);
            return ferry_error_errno(FERRY_ERR_IO, e, "cannot create directory '%s/%s'", root,
                                     rel);
        }
        nfd = open_beneath(cur, part, O_PATH | O_DIRECTORY, 0);
        if (nfd < 0) {
            int e = errno;
            close(cur);
            return beneath_error(root, rel, e);
        }
        close(cur);
        cur = nfd;
    }
    close(cur);
    return 0;
}

/* Remove name inside dirfd, recursively, never following a symlink. */
static int
remove_at(int dfd, const char *name)
{
    struct stat sb;
    DIR *d;
    struct dirent *de;
    int fd, r = 0;

    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(sb.st_mode))
        return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (remove_at(dirfd(d), de->d_name) < 0)
            r = -1;
    }
    closedir(d);
    if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return -1;
    return r;
}

int
ferry_state_remove(const char *root, const char *rel)
{
    FERRY_AUTOFREE char *parent = ferry_strdup(rel ? rel : "");
    char *slash = strrchr(parent, '/');
    const char *base;
    FERRY_AUTOCLOSE int pfd = -1;

    if (!slash || !plain_name(slash + 1))
        return ferry_error(FERRY_ERR_INVALID, "state path '%s': refusing to remove it",
                           rel ? rel : "");
    *slash = '\0';
    base = slash + 1;
    {
        FERRY_AUTOCLOSE int rfd = open_root(root);

        if (rfd < 0)
            return -1;
        pfd = open_beneath(rfd, parent, O_RDONLY | O_DIRECTORY, 0);
        if (pfd < 0)
            return errno == ENOENT ? 0 : beneath_error(root, parent, errno);
    }
    if (remove_at(pfd, base) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot remove '%s/%s'", root, rel);
    return 0;
}

/* rel_path() of an object's directory (or FILE in it); WHAT says whose in
 * the error when NAME is missing ("volume: no name"). */
static char *
named_rel(const char *area, const char *what, const char *ns, const char *name, const char *file)
{
    if (!name)
        return ferry_error(FERRY_ERR_INVALID, "%s: no name", what), NULL;
    return rel_path(area, ns, name, file);
}

/* Remove the directory of the object NAME in AREA, as ferry_state_remove. */
static int
remove_named(const char *root, const char *area, const char *what, const char *ns,
             const char *name)
{
    FERRY_AUTOFREE char *rel = named_rel(area, what, ns, name, NULL);

    if (!rel)
        return -1;
    return ferry_state_remove(root, rel);
}

/* ---- volumes ---------------------------------------------------------- */

char *
ferry_volume_dir(const char *root, const char *ns, const char *name)
{
    if (!name)
        return ferry_error(FERRY_ERR_INVALID, "volume: no name"), NULL;
    return ferry_state_path(root, FERRY_AREA_VOLUMES, ns, name, NULL);
}

char *
ferry_volume_file(const char *root, const char *ns, const char *name, const char *file)
{
    if (!name || !file)
        return ferry_error(FERRY_ERR_INVALID, "volume: no name"), NULL;
    return ferry_state_path(root, FERRY_AREA_VOLUMES, ns, name, file);
}

int
ferry_volume_mkdir(const char *root, const char *ns, const char *name)
{
    FERRY_AUTOFREE char *rel = named_rel(FERRY_AREA_VOLUMES, "volume", ns, name, NULL);

    if (!rel)
        return -1;
    return ferry_state_mkdir(root, rel, 0755);
}

int
ferry_volume_open(const char *root, const char *ns, const char *name, const char *file,
                  int flags, mode_t mode)
{
    FERRY_AUTOFREE char *rel = named_rel(FERRY_AREA_VOLUMES, "volume", ns, name, file);

    if (!rel)
        return -1;
    return ferry_state_openat(root, rel, flags, mode);
}

int
ferry_volume_remove(const char *root, const char *ns, const char *name)
{
    return remove_named(root, FERRY_AREA_VOLUMES, "volume", ns, name);
}

int
ferry_volume_lock(const char *root, const char *ns, const char *name, bool *ret_busy)
{
    int fd = ferry_volume_open(root, ns, name, FERRY_VOLUME_LOCK, O_RDWR | O_CREAT, 0644);

    *ret_busy = false;
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        close(fd);
        if (e == EWOULDBLOCK) {
            *ret_busy = true;
            return ferry_error(FERRY_ERR_EXISTS, "volume %s/%s is busy", ns, name);
        }
        return ferry_error_errno(FERRY_ERR_IO, e, "volume lock of %s/%s", ns, name);
    }
    return fd;
}

int
ferry_volume_write_done(const char *root, const char *ns, const char *name, const char *uid)
{
    FERRY_AUTOFREE char *tmp = NULL;
    FERRY_AUTOFREE char *text = ferry_printf("%s\n", uid ? uid : "");
    FERRY_AUTOCLOSE int fd = -1;
    FERRY_AUTOCLOSE int dfd = -1;
    FERRY_AUTOFREE char *rel = rel_path(FERRY_AREA_VOLUMES, ns, name, NULL);
    size_t len = strlen(text);

    if (!rel)
        return -1;
    dfd = ferry_state_openat(root, rel, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0)
        return -1;
    tmp = ferry_printf(".%s.tmp.%d", FERRY_VOLUME_DONE, (int)getpid());
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "volume %s/%s: %s", ns, name, tmp);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ||
        renameat(dfd, tmp, dfd, FERRY_VOLUME_DONE) < 0) {
        int e = errno;
        unlinkat(dfd, tmp, 0);
        return ferry_error_errno(FERRY_ERR_IO, e, "volume %s/%s: cannot write %s", ns, name,
                                 FERRY_VOLUME_DONE);
    }
    fsync(dfd);
    return 0;
}

bool
ferry_volume_is_done(const char *root, const char *ns, const char *name, const char *uid)
{
    FERRY_AUTOCLOSE int disk = -1;
    FERRY_AUTOCLOSE int fd = -1;
    char buf[256];
    ssize_t n;

    if (!uid)
        return false;
    disk = ferry_volume_open(root, ns, name, FERRY_VOLUME_DISK, O_PATH, 0);
    fd = disk < 0 ? -1 : ferry_volume_open(root, ns, name, FERRY_VOLUME_DONE, O_RDONLY, 0);
    if (fd < 0) {
        ferry_error_reset();
        return false;
    }
    n = read(fd, buf, sizeof buf - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return strcmp(buf, uid) == 0;
}

char *
ferry_vmi_dir(const char *root, const char *ns, const char *name)
{
    if (!name)
        return ferry_error(FERRY_ERR_INVALID, "vmi: no name"), NULL;
    return ferry_state_path(root, FERRY_AREA_VMIS, ns, name, NULL);
}

int
ferry_vmi_mkdir(const char *root, const char *ns, const char *name)
{
    FERRY_AUTOFREE char *nsrel = rel_path(FERRY_AREA_VMIS, ns, NULL, NULL);
    FERRY_AUTOFREE char *rel = name ? rel_path(FERRY_AREA_VMIS, ns, name, NULL) : NULL;
    FERRY_AUTOCLOSE int fd = -1;

    if (!nsrel || !rel)
        return nsrel && !name ? ferry_error(FERRY_ERR_INVALID, "vmi: no name") : -1;
    if (ferry_state_mkdir(root, nsrel, 0755) < 0 || ferry_state_mkdir(root, rel, 0750) < 0)
        return -1;
    fd = ferry_state_openat(root, nsrel, O_RDONLY | O_DIRECTORY, 0);
    if (fd >= 0)
        fchmod(fd, 0755);
    ferry_error_reset();
    return 0;
}

int
ferry_vmi_remove(const char *root, const char *ns, const char *name)
{
    return remove_named(root, FERRY_AREA_VMIS, "vmi", ns, name);
}
