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

#define ARCHIVE_BUF (1u << 20)

struct reader {
    struct ferry_source *src;
    uint8_t *buf;
    bool failed;
};

static la_ssize_t
reader_cb(struct archive *a, void *opaque, const void **ret)
{
    struct reader *r = opaque;
    ssize_t n = r->src->ops->read(r->src, r->buf, ARCHIVE_BUF);

    if (n < 0) {
        r->failed = true;
        archive_set_error(a, EIO, "%s", ferry_error_message());
        return -1;
    }
    *ret = r->buf;
    return n;
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
extract(struct archive *in, struct archive *out, const char *url)
{
    struct archive_entry *entry;

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
ferry_archive_extract(struct ferry_source *src, const char *dest, int (*verify)(void *opaque),
                      void *opaque)
{
    struct reader rd = { .src = src };
    struct archive *in = archive_read_new();
    struct archive *out = archive_write_disk_new();
    FERRY_AUTOFREE char *tmp = NULL;
    /* O_PATH: enough for fchdir, and no read access that the sandbox
     * would refuse outside the destination. */
    FERRY_AUTOCLOSE int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
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
    rd.buf = ferry_malloc(ARCHIVE_BUF);
    archive_read_support_filter_gzip(in);
    archive_read_support_filter_xz(in);
    archive_read_support_filter_lzma(in);
    archive_read_support_filter_zstd(in);
    archive_read_support_filter_bzip2(in);
    archive_read_support_format_tar(in);
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                                            ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM);
    if (archive_read_open(in, &rd, NULL, reader_cb, NULL) != ARCHIVE_OK) {
        ferry_error(FERRY_ERR_FORMAT, "'%s': not a tar archive: %s", src->url,
                    AERR(in));
        goto out;
    }
    if (cwd < 0 || chdir(tmp) < 0) {
        ferry_error_errno(FERRY_ERR_IO, errno, "'%s'", tmp);
        goto out;
    }
    r = extract(in, out, src->url);
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
    if (tmp) {
        int saved_code = ferry_error_code();
        FERRY_AUTOFREE char *msg = ferry_strdup(ferry_error_message());
        ferry_rm_rf(tmp);
        if (r < 0)
            ferry_error(saved_code, "%s", msg);
    }
    archive_read_free(in);
    archive_write_free(out);
    free(rd.buf);
    return r;
}
