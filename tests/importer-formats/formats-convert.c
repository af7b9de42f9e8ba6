/* Test driver for the format readers alone, without the importer pipeline:
 *
 *     formats-convert IMAGE OUT      detect IMAGE's format by content through
 *                                    the format table (probe and probe_tail),
 *                                    write its virtual disk to OUT as a sparse
 *                                    raw file (DATA extents only, all-zero
 *                                    chunks skipped), print one line:
 *                                    "format=NAME size=BYTES data=BYTES"
 *
 * On failure it prints the reader's error message, exits 1 and leaves no OUT
 * (it writes OUT.tmp and renames).  The integration script compares OUT with
 * `qemu-img convert -O raw`, so each reader is checked against the oracle
 * even when the ferry-importer program is not built. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "importer/format.h"

#define CHUNK (1u << 20)
#define WINDOW (UINT64_C(256) << 20)

static ssize_t
fd_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    ssize_t r = pread(*(int *)src->priv, buf, len, (off_t)off);
    if (r < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "pread '%s'", src->url);
    return r;
}

static const struct ferry_source_ops fd_ops = { .name = "file", .pread = fd_pread };

static bool
zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int
convert(const char *in, const char *out, const char *tmp)
{
    int fd = open(in, O_RDONLY);
    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "open '%s'", in);
    struct stat st;
    fstat(fd, &st);
    struct ferry_source src = {
        .ops = &fd_ops, .url = (char *)in, .size = st.st_size, .seekable = true, .priv = &fd,
    };
    uint8_t head[4096], tail[4096];
    size_t hl = st.st_size < 4096 ? (size_t)st.st_size : 4096;
    if (pread(fd, head, hl, 0) != (ssize_t)hl || pread(fd, tail, hl, st.st_size - hl) != (ssize_t)hl)
        return ferry_error(FERRY_ERR_IO, "'%s': cannot read head and tail", in);

    const struct ferry_format *best = NULL;
    int best_score = 0;
    for (size_t i = 0; ferry_formats[i]; i++) {
        const struct ferry_format *f = ferry_formats[i];
        int s = f->probe ? f->probe(head, hl, st.st_size) : 0;
        int t = f->probe_tail ? f->probe_tail(tail, hl, st.st_size) : 0;
        if (t > s)
            s = t;
        if (s > best_score && f->open) {
            best = f;
            best_score = s;
        }
    }
    if (!best)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': no format recognises it", in);

    struct ferry_image *img;
    if (best->open(&src, &img) < 0)
        return -1;
    uint64_t vsize = best->virtual_size(img), data = 0;
    int ofd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (ofd < 0 || ftruncate(ofd, (off_t)vsize) < 0) {
        best->close(img);
        return ferry_error_errno(FERRY_ERR_IO, errno, "create '%s'", tmp);
    }
    uint8_t *buf = malloc(CHUNK);
    struct ferry_extent *ex = NULL;
    int r = 0;
    for (uint64_t off = 0; off < vsize && r == 0; off += WINDOW) {
        size_t n = 0;
        uint64_t len = vsize - off < WINDOW ? vsize - off : WINDOW;
        if (best->map(img, off, len, &ex, &n) < 0) {
            r = -1;
            break;
        }
        for (size_t i = 0; i < n && r == 0; i++) {
            if (ex[i].type != FERRY_EXTENT_DATA)
                continue;
            for (uint64_t p = ex[i].offset; p < ex[i].offset + ex[i].length; p += CHUNK) {
                size_t l = ex[i].offset + ex[i].length - p < CHUNK ? ex[i].offset + ex[i].length - p : CHUNK;
                if (best->read(img, buf, l, p) < 0) {
                    r = -1;
                    break;
                }
                /* Write runs of non-zero 4 KiB pieces, as a sparse sink would. */
                for (size_t a = 0; a < l && r == 0;) {
                    size_t b = a;
                    while (b < l && !zero(buf + b, l - b < 4096 ? l - b : 4096))
                        b += l - b < 4096 ? l - b : 4096;
                    if (b > a) {
                        if (pwrite(ofd, buf + a, b - a, (off_t)(p + a)) != (ssize_t)(b - a))
                            r = ferry_error_errno(FERRY_ERR_IO, errno, "write '%s'", tmp);
                        data += b - a;
                        a = b;
                    } else {
                        a += l - a < 4096 ? l - a : 4096;
                    }
                }
                if (r < 0)
                    break;
            }
        }
    }
    free(ex);
    free(buf);
    best->close(img);
    close(fd);
    if (close(ofd) < 0 && r == 0)
        r = ferry_error_errno(FERRY_ERR_IO, errno, "close '%s'", tmp);
    if (r == 0 && rename(tmp, out) < 0)
        r = ferry_error_errno(FERRY_ERR_IO, errno, "rename '%s'", tmp);
    if (r == 0)
        printf("format=%s size=%" PRIu64 " data=%" PRIu64 "\n", best->name, vsize, data);
    return r;
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: formats-convert IMAGE OUT\n");
        return 2;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
    if (convert(argv[1], argv[2], tmp) < 0) {
        unlink(tmp);
        fprintf(stderr, "formats-convert: %s\n", ferry_error_message());
        return 1;
    }
    return 0;
}
