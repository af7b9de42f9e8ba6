/* --content-type archive: a tar (optionally gz/xz/zstd/bz2 compressed)
 * extracted into a directory, as CDI does for archive DataVolumes.  Every
 * entry is checked before libarchive sees it (absolute paths, "..",
 * symbolic and hard links whose target leaves the tree: refused, naming the
 * entry), and libarchive's ARCHIVE_EXTRACT_SECURE_* flags stay on as the
 * second line (e.g. they refuse extracting through a symbolic link).
 * Extraction goes to a temporary directory that is renamed into place only
 * on success: a failure leaves no destination. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/importer.h"

/* libarchive may have no message (a stream cut in the wrong place): never
 * print "(null)". */
#define AERR(a)                                                                                \
    (archive_error_string(a) ? archive_error_string(a)                                         \
                             : "truncated or corrupt (libarchive gives no detail)")

/* libarchive is fed 64 KiB blocks, then blocks of this size (ferry_ramp). */
#define ARCHIVE_BUF (1u << 20)

struct reader {
    struct ferry_source *src;
    uint8_t *buf;
    size_t buf_len;
    uint64_t done;              /* bytes read from src */
    bool failed;
};

static la_ssize_t
reader_cb(struct archive *a, void *opaque, const void **ret)
{
    struct reader *r = opaque;
    /* The block libarchive had is no longer in use when it asks again. */
    size_t want = ferry_ramp(&r->buf, &r->buf_len, r->done, ARCHIVE_BUF);
    ssize_t n = r->src->ops->read(r->src, r->buf, want);

    if (n > 0)
        r->done += (uint64_t)n;
    return ferry_archive_read_result(a, n, r->buf, ret, &r->failed);
}

/* Depth of a relative path after lexical resolution from directory DEPTH;
 * -1 when it climbs above the root. */
static int
path_depth(const char *path, int depth)
{
    FERRY_AUTOSTRV char **parts = ferry_strv_split(path, "/");

    for (char **p = parts; p && *p; p++) {
        if (strcmp(*p, ".") == 0)
            continue;
        if (strcmp(*p, "..") == 0) {
            if (--depth < 0)
                return -1;
        } else {
            depth++;
        }
    }
    return depth;
}

/* The symbolic links extracted so far, to follow chains of them: a link
 * that is inside the tree by its own text can lead out through another
 * ("a -> .", "a/b -> .." is the tree's parent). */
struct linkset {
    char **names, **targets;
    size_t n;
};

#define LINK_HOPS 40
#define LINK_DEPTH 256

static const char *
linkset_find(const struct linkset *ls, char **stack, int depth)
{
    char path[4096];
    size_t len = 0;

    for (int i = 0; i < depth; i++) {
        int w = snprintf(path + len, sizeof(path) - len, "%s%s", i ? "/" : "", stack[i]);
        if (w < 0 || (size_t)w >= sizeof(path) - len)
            return NULL;
        len += w;
    }
    path[len] = '\0';
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->names[i], path) == 0)
            return ls->targets[i];
    return NULL;
}

/* Walk PATH from the directory STACK[0..*DEPTH) following the known links;
 * -1 when it leaves the tree (or loops). */
static int
linkset_walk(const struct linkset *ls, char **stack, int *depth, const char *path, int hops)
{
    FERRY_AUTOSTRV char **parts = ferry_strv_split(path, "/");

    if (path[0] == '/' || hops > LINK_HOPS)
        return -1;
    for (char **p = parts; p && *p; p++) {
        if (!**p || strcmp(*p, ".") == 0)
            continue;
        if (strcmp(*p, "..") == 0) {
            if (*depth == 0)
                return -1;
            free(stack[--*depth]);
            continue;
        }
        if (*depth >= LINK_DEPTH)
            return -1;
        stack[(*depth)++] = ferry_strdup(*p);
        const char *target = linkset_find(ls, stack, *depth);
        if (target) {
            free(stack[--*depth]);   /* the link resolves from its directory */
            if (linkset_walk(ls, stack, depth, target, hops + 1) < 0)
                return -1;
        }
    }
    return 0;
}

/* Does the symbolic link NAME -> TARGET stay inside the tree, also through
 * the links before it? */
static bool
linkset_inside(const struct linkset *ls, const char *name, const char *target)
{
    char *stack[LINK_DEPTH];
    int depth = 0;
    FERRY_AUTOFREE char *dir = ferry_strdup(name);
    char *slash = strrchr(dir, '/');
    bool ok;

    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    ok = linkset_walk(ls, stack, &depth, dir, 0) == 0 &&
         linkset_walk(ls, stack, &depth, target, 0) == 0;
    while (depth > 0)
        free(stack[--depth]);
    return ok;
}

/* A path of the archive that goes through one of its symbolic links. */
static const char *
linkset_through(const struct linkset *ls, const char *name)
{
    for (size_t i = 0; i < ls->n; i++) {
        size_t l = strlen(ls->names[i]);
        if (strncmp(name, ls->names[i], l) == 0 && name[l] == '/')
            return ls->names[i];
    }
    return NULL;
}

static void
linkset_add(struct linkset *ls, const char *name, const char *target)
{
    ls->names = ferry_grow(ls->names, ls->n, sizeof(*ls->names));
    ls->targets = ferry_grow(ls->targets, ls->n, sizeof(*ls->targets));
    ls->names[ls->n] = ferry_strdup(name);
    ls->targets[ls->n] = ferry_strdup(target);
    ls->n++;
}

static void
linkset_clear(struct linkset *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->names[i]);
        free(ls->targets[i]);
    }
    free(ls->names);
    free(ls->targets);
}

/* An entry's name without "./" and trailing slashes. */
static char *
clean_name(const char *name)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    char *c = ferry_strdup(name);
    size_t l = strlen(c);
    while (l > 1 && c[l - 1] == '/')
        c[--l] = '\0';
    return c;
}

static int
check_entry(struct archive_entry *entry)
{
    const char *name = archive_entry_pathname(entry);
    const char *sym = archive_entry_symlink(entry);
    const char *hard = archive_entry_hardlink(entry);

    if (!name || !*name)
        return ferry_error(FERRY_ERR_FORMAT, "archive entry without a name");
    if (name[0] == '/')
        return ferry_error(FERRY_ERR_SECURITY, "archive entry '%s': absolute path refused", name);
    FERRY_AUTOSTRV char **parts = ferry_strv_split(name, "/");
    for (char **p = parts; p && *p; p++)
        if (strcmp(*p, "..") == 0)
            return ferry_error(FERRY_ERR_SECURITY, "archive entry '%s': '..' refused", name);
    if (hard) {
        if (hard[0] == '/' || path_depth(hard, 0) < 0 || strstr(hard, ".."))
            return ferry_error(FERRY_ERR_SECURITY,
                               "archive entry '%s': hard link to '%s' outside the archive refused",
                               name, hard);
    }
    if (sym && archive_entry_filetype(entry) == AE_IFLNK) {
        /* The link lives in the entry's directory: depth = components - 1. */
        int dir_depth = path_depth(name, 0) - 1;
        if (sym[0] == '/' || dir_depth < 0 || path_depth(sym, dir_depth) < 0)
            return ferry_error(FERRY_ERR_SECURITY,
                               "archive entry '%s': symbolic link to '%s' leaves the archive",
                               name, sym);
    }
    return 0;
}

/* Move the entries of TMP into DEST (an existing directory). */
static int
move_up(const char *tmp, const char *dest)
{
    DIR *d = opendir(tmp);
    struct dirent *de;

    if (!d)
        return ferry_error_errno(FERRY_ERR_IO, errno, "'%s'", tmp);
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        FERRY_AUTOFREE char *from = ferry_printf("%s/%s", tmp, de->d_name);
        FERRY_AUTOFREE char *to = ferry_printf("%s/%s", dest, de->d_name);
        struct stat st;
        if (lstat(to, &st) == 0 && ferry_rm_rf(to) < 0) {
            closedir(d);
            return -1;
        }
        if (rename(from, to) < 0) {
            int e = errno;
            closedir(d);
            return ferry_error_errno(FERRY_ERR_IO, e, "moving '%s' to '%s'", from, to);
        }
    }
    closedir(d);
    return 0;
}

static int
extract(struct archive *in, struct archive *out, const char *url, long uid, long gid)
{
    struct archive_entry *entry;
    __attribute__((cleanup(linkset_clear))) struct linkset links = { 0 };

    for (;;) {
        int r = archive_read_next_header(in, &entry);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s", url, AERR(in));
        unsigned type = archive_entry_filetype(entry);
        if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK &&
            !archive_entry_hardlink(entry))
            continue;   /* devices, fifos, sockets: not for a volume */
        if (check_entry(entry) < 0)
            return -1;
        FERRY_AUTOFREE char *name = clean_name(archive_entry_pathname(entry));
        const char *via = linkset_through(&links, name);
        if (via)
            return ferry_error(FERRY_ERR_SECURITY,
                               "archive entry '%s': goes through the symbolic link '%s' (refused)",
                               name, via);
        if (type == AE_IFLNK) {
            const char *sym = archive_entry_symlink(entry);
            if (!sym || !linkset_inside(&links, name, sym))
                return ferry_error(FERRY_ERR_SECURITY,
                                   "archive entry '%s': symbolic link to '%s' leaves the archive "
                                   "through the links before it",
                                   name, sym ? sym : "");
            linkset_add(&links, name, sym);
        }
        /* No setuid or setgid file for whoever runs it later; the owner
         * is the one asked for (CDI's importer runs as uid 107). */
        archive_entry_set_perm(entry, archive_entry_perm(entry) & ~(S_ISUID | S_ISGID));
        if (uid >= 0) {
            archive_entry_set_uid(entry, uid);
            archive_entry_set_gid(entry, gid >= 0 ? gid : uid);
            archive_entry_set_uname(entry, NULL);
            archive_entry_set_gname(entry, NULL);
        }
        r = archive_write_header(out, entry);
        if (r < ARCHIVE_WARN)
            return ferry_error(FERRY_ERR_SECURITY, "archive entry '%s': %s",
                               archive_entry_pathname(entry), AERR(out));
        if (archive_entry_size(entry) > 0) {
            const void *buf;
            size_t len;
            la_int64_t off;
            while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK) {
                if (archive_write_data_block(out, buf, len, off) < ARCHIVE_WARN)
                    return ferry_error(FERRY_ERR_IO, "archive entry '%s': %s",
                                       archive_entry_pathname(entry), AERR(out));
            }
            if (r != ARCHIVE_EOF)
                return ferry_error(FERRY_ERR_FORMAT, "'%s': entry '%s': %s", url,
                                   archive_entry_pathname(entry), AERR(in));
        }
        if (archive_write_finish_entry(out) < ARCHIVE_WARN)
            return ferry_error(FERRY_ERR_IO, "archive entry '%s': %s",
                               archive_entry_pathname(entry), AERR(out));
    }
}

int
ferry_archive_extract(struct ferry_source *src, const char *dest, long uid, long gid,
                      int (*verify)(void *opaque), void *opaque)
{
    struct reader rd = { .src = src };
    struct archive *in = archive_read_new();
    struct archive *out = archive_write_disk_new();
    FERRY_AUTOFREE char *tmp = NULL;
    /* O_PATH: enough for fchdir, and no read access that the sandbox
     * would refuse outside the destination. */
    FERRY_AUTOCLOSE int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    FERRY_AUTOCLOSE int parent = -1;
    struct stat st;
    bool into_existing = stat(dest, &st) == 0;
    int r = -1;

    if (into_existing && !S_ISDIR(st.st_mode)) {
        ferry_error(FERRY_ERR_INVALID, "destination '%s' exists and is not a directory", dest);
        goto out;
    }
    tmp = into_existing ? ferry_printf("%s/.ferry-extract-XXXXXX", dest)
                        : ferry_printf("%s.tmp-XXXXXX", dest);
    if (!mkdtemp(tmp)) {
        ferry_error_errno(FERRY_ERR_IO, errno, "temporary directory '%s'", tmp);
        free(tmp);
        tmp = NULL;
        goto out;
    }
    chmod(tmp, 0755);
    /* SIGTERM (a deleted DataVolume) removes the partial tree. */
    {
        FERRY_AUTOFREE char *copy = ferry_strdup(tmp);
        FERRY_AUTOFREE char *copy2 = ferry_strdup(tmp);
        parent = open(dirname(copy), O_PATH | O_DIRECTORY | O_CLOEXEC);
        ferry_sink_signal_dir(parent, basename(copy2));
    }
    archive_read_support_filter_gzip(in);
    archive_read_support_filter_xz(in);
    archive_read_support_filter_lzma(in);
    archive_read_support_filter_zstd(in);
    archive_read_support_filter_bzip2(in);
    archive_read_support_format_tar(in);
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                                            ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                            (uid >= 0 ? ARCHIVE_EXTRACT_OWNER : 0));
    if (archive_read_open(in, &rd, NULL, reader_cb, NULL) != ARCHIVE_OK) {
        ferry_error(FERRY_ERR_FORMAT, "'%s': not a tar archive: %s", src->url,
                    AERR(in));
        goto out;
    }
    if (cwd < 0 || chdir(tmp) < 0) {
        ferry_error_errno(FERRY_ERR_IO, errno, "'%s'", tmp);
        goto out;
    }
    r = extract(in, out, src->url, uid, gid);
    if (r == 0 && archive_write_close(out) != ARCHIVE_OK)
        r = ferry_error(FERRY_ERR_IO, "'%s': %s", dest, AERR(out));
    if (fchdir(cwd) < 0 && r == 0)
        r = ferry_error_errno(FERRY_ERR_IO, errno, "returning to the working directory");
    if (r < 0 && rd.failed)
        ferry_error_prefix("'%s'", src->url);
    if (r == 0 && verify)
        r = verify(opaque);
    if (r == 0) {
        if (into_existing)
            r = move_up(tmp, dest);
        else if (rename(tmp, dest) < 0)
            r = ferry_error_errno(FERRY_ERR_IO, errno, "renaming '%s' to '%s'", tmp, dest);
        else {
            free(tmp);
            tmp = NULL;
        }
    }
    if (r == 0)
        sync();
out:
    ferry_sink_signal_dir(-1, "");
    if (tmp) {
        struct ferry_error_saved saved = { 0 };
        ferry_error_save(&saved);
        ferry_rm_rf(tmp);
        if (r < 0)
            ferry_error_restore(&saved);
        free(saved.message);
    }
    archive_read_free(in);
    archive_write_free(out);
    free(rd.buf);
    return r;
}
