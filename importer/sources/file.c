/* The file source: local paths and file:// URLs.  Regular files are
 * seekable (pread); pipes and character devices are streams.  Siblings
 * (VMDK extents) are opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)
 * relative to the file's own directory, so a crafted descriptor can name
 * neither an absolute path, nor "..", nor a symbolic link leading out.
 * Only a regular file that really is in a directory has siblings: the
 * directory is the one of its resolved path, and the file must be found
 * there (so /dev/stdin, a pipe or a device has none), and a sibling must be
 * a regular file itself (no device, FIFO or socket is read as an extent). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/importer.h"

struct file_priv {
    int fd;
    int dirfd;                       /* directory for siblings, -1 if none */
    bool own_fd;
    char *path;
    char *dir;
    struct ferry_source *siblings;   /* scratch files: resolve through this (owned) */
    char *scratch_dir;               /* ... and copy stream-only siblings there */
};

static bool
file_handles(const char *url)
{
    return ferry_str_has_prefix(url, "file://") || !strstr(url, "://");
}

static int file_open_sibling(struct ferry_source *src, const char *relname,
                             struct ferry_source **ret);

static void
file_setup(struct ferry_source *src, struct file_priv *p)
{
    struct stat st;

    src->priv = p;
    if (fstat(p->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        src->size = st.st_size;
        src->seekable = true;
    } else if (fstat(p->fd, &st) == 0 && S_ISBLK(st.st_mode)) {
        off_t end = lseek(p->fd, 0, SEEK_END);
        if (end >= 0) {
            src->size = end;
            src->seekable = true;
        }
    }
    src->open_sibling = file_open_sibling;
}

/* The directory of a regular file's resolved path, when the file is found
 * in it under its own name: an fd on it and its path in *RET_DIR; -1 when
 * the file has no siblings (not a regular file, /dev/stdin, /proc/self/fd/N
 * of a pipe, a path that does not lead to it). */
static int
file_sibling_dir(int fd, const char *path, char **ret_dir)
{
    struct stat st, there;
    FERRY_AUTOFREE char *real = NULL;
    int dirfd;

    *ret_dir = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    real = realpath(path, NULL);
    if (!real)
        return -1;
    FERRY_AUTOFREE char *copy = ferry_strdup(real);
    FERRY_AUTOFREE char *copy2 = ferry_strdup(real);
    const char *dir = dirname(copy), *base = basename(copy2);
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    if (fstatat(dirfd, base, &there, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(there.st_mode) ||
        there.st_dev != st.st_dev || there.st_ino != st.st_ino) {
        close(dirfd);
        return -1;
    }
    *ret_dir = ferry_strdup(dir);
    return dirfd;
}

static int
file_open(struct ferry_source *src, const char *url)
{
    const char *path = ferry_str_has_prefix(url, "file://") ? url + strlen("file://") : url;
    struct file_priv *p = ferry_calloc(1, sizeof(*p));

    p->dirfd = -1;
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->fd < 0) {
        free(p);
        return ferry_error_errno(errno == ENOENT ? FERRY_ERR_NOTFOUND : FERRY_ERR_IO, errno,
                                 "source '%s'", path);
    }
    p->own_fd = true;
    p->path = ferry_strdup(path);
    p->dirfd = file_sibling_dir(p->fd, path, &p->dir);
    file_setup(src, p);
    return 0;
}

struct ferry_source *
ferry_source_file_from_fd(int fd, const char *name, struct ferry_source *siblings,
                          const char *scratch_dir)
{
    struct ferry_source *src = ferry_source_new(&ferry_source_file, name);
    struct file_priv *p = ferry_calloc(1, sizeof(*p));

    p->fd = fd;
    p->own_fd = true;
    p->dirfd = -1;
    p->siblings = siblings;
    p->scratch_dir = scratch_dir ? ferry_strdup(scratch_dir) : NULL;
    file_setup(src, p);
    return src;
}

static ssize_t
file_read(struct ferry_source *src, void *buf, size_t len)
{
    struct file_priv *p = src->priv;

    for (;;) {
        ssize_t n = read(p->fd, buf, len);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return ferry_error_errno(FERRY_ERR_IO, errno, "reading '%s'", src->url);
    }
}

static ssize_t
file_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct file_priv *p = src->priv;

    if (off > INT64_MAX)
        return 0;
    for (;;) {
        ssize_t n = pread(p->fd, buf, len, off);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return ferry_error_errno(FERRY_ERR_IO, errno, "reading '%s' at offset %llu",
                                     src->url, (unsigned long long)off);
    }
}

static void
file_close(struct ferry_source *src)
{
    struct file_priv *p = src->priv;

    if (!p)
        return;
    if (p->own_fd && p->fd >= 0)
        close(p->fd);
    if (p->dirfd >= 0)
        close(p->dirfd);
    ferry_source_free(p->siblings);
    free(p->scratch_dir);
    free(p->path);
    free(p->dir);
    free(p);
}

/* A sibling's name must stay inside the directory: relative, no ".."
 * component, no symbolic link anywhere on the way (openat2 enforces it). */
int
ferry_check_relname(const char *base, const char *relname)
{
    if (!relname[0])
        return ferry_error(FERRY_ERR_SECURITY, "'%s': empty file name for a sibling", base);
    if (relname[0] == '/')
        return ferry_error(FERRY_ERR_SECURITY,
                           "'%s': refusing the absolute path '%s' (files must be beside it)",
                           base, relname);
    FERRY_AUTOSTRV char **parts = ferry_strv_split(relname, "/");
    for (char **q = parts; q && *q; q++)
        if (strcmp(*q, "..") == 0)
            return ferry_error(FERRY_ERR_SECURITY,
                               "'%s': refusing '%s': it leaves the directory ('..')", base,
                               relname);
    if (strchr(relname, '\\'))
        return ferry_error(FERRY_ERR_SECURITY, "'%s': refusing '%s' (backslash)", base, relname);
    return 0;
}

static int
file_open_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    struct file_priv *p = src->priv;
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int fd;

    if (p->siblings) {
        struct ferry_source *sib = NULL;
        if (ferry_source_open_sibling(p->siblings, relname, &sib) < 0)
            return -1;
        if (sib->seekable || !p->scratch_dir) {
            *ret = sib;
            return 0;
        }
        /* The descriptor came through a scratch file: its extents need one too. */
        return ferry_stream_scratch(sib, p->scratch_dir, NULL, 0, NULL, ret);
    }
    if (ferry_check_relname(src->url, relname) < 0)
        return -1;
    if (p->dirfd < 0)
        return ferry_error(FERRY_ERR_SECURITY,
                           "'%s': refusing '%s': only a regular file in a directory has files "
                           "beside it (not a pipe, a device or /dev/stdin)",
                           src->url, relname);
    /* Not even opened when it is plainly no regular file (opening a device
     * can have effects); O_NONBLOCK: a FIFO swapped in meanwhile must not
     * wait for a writer (fstat below refuses it); cleared again after. */
    struct stat pre;
    if (fstatat(p->dirfd, relname, &pre, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(pre.st_mode) &&
        !S_ISLNK(pre.st_mode) && !S_ISDIR(pre.st_mode))
        return ferry_error(FERRY_ERR_SECURITY,
                           "'%s': refusing '%s': not a regular file (a device, FIFO, socket or "
                           "directory)",
                           src->url, relname);
    fd = syscall(SYS_openat2, p->dirfd, relname, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS) {
        if (strchr(relname, '/'))
            return ferry_error(FERRY_ERR_SECURITY, "'%s': refusing '%s' (subdirectory)",
                               src->url, relname);
        fd = openat(p->dirfd, relname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    }
    if (fd < 0) {
        if (errno == ELOOP || errno == EXDEV)
            return ferry_error(FERRY_ERR_SECURITY,
                               "'%s': refusing '%s': it is a symbolic link or leaves the directory",
                               src->url, relname);
        return ferry_error_errno(errno == ENOENT ? FERRY_ERR_NOTFOUND : FERRY_ERR_IO, errno,
                                 "'%s': opening '%s' beside it", src->url, relname);
    }

    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ferry_error(FERRY_ERR_SECURITY,
                           "'%s': refusing '%s': not a regular file (a device, FIFO, socket or "
                           "directory)",
                           src->url, relname);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);

    FERRY_AUTOFREE char *path = ferry_printf("%s/%s", p->dir, relname);
    struct ferry_source *sib = ferry_source_new(&ferry_source_file, path);
    struct file_priv *q = ferry_calloc(1, sizeof(*q));
    q->fd = fd;
    q->own_fd = true;
    q->path = ferry_strdup(path);
    FERRY_AUTOFREE char *copy = ferry_strdup(path);
    q->dir = ferry_strdup(dirname(copy));
    /* Siblings have no siblings of their own (extents are leaves): no
     * directory descriptor, one fd per extent. */
    q->dirfd = -1;
    file_setup(sib, q);
    *ret = sib;
    return 0;
}

int
ferry_source_file_next_data(struct ferry_source *src, uint64_t off, uint64_t *ret_data,
                            uint64_t *ret_hole)
{
    struct file_priv *p;
    off_t d, h;

    src = ferry_source_base(src);
    if (src->next_data)
        return src->next_data(src, off, ret_data, ret_hole);
    p = src->priv;
    if (src->ops != &ferry_source_file || !src->seekable || src->size < 0)
        return -1;
    if (off >= (uint64_t)src->size) {
        *ret_data = *ret_hole = src->size;
        return 0;
    }
    d = lseek(p->fd, off, SEEK_DATA);
    if (d < 0) {
        if (errno == ENXIO) {
            *ret_data = *ret_hole = src->size;
            return 0;
        }
        return -1;
    }
    h = lseek(p->fd, d, SEEK_HOLE);
    if (h < 0)
        return -1;
    *ret_data = d;
    *ret_hole = h;
    return 0;
}

const char *
ferry_source_file_path(struct ferry_source *src)
{
    src = ferry_source_base(src);
    if (src->ops != &ferry_source_file)
        return NULL;
    return ((struct file_priv *)src->priv)->path;
}

const char *
ferry_source_file_dir(struct ferry_source *src)
{
    src = ferry_source_base(src);
    if (src->ops != &ferry_source_file)
        return NULL;
    struct file_priv *p = src->priv;
    return p->dirfd >= 0 ? p->dir : NULL;
}

static const char *const file_schemes[] = { "file://", NULL };

const struct ferry_source_ops ferry_source_file = {
    .name = "file",
    .help = "a local file, block device or pipe: a plain path or file://PATH",
    .schemes = file_schemes,
    .handles = file_handles,
    .open = file_open,
    .read = file_read,
    .pread = file_pread,
    .close = file_close,
};
