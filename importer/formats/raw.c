/* raw: the disk itself, the fallback when no other format claims the
 * content.  Over a local file the map comes from SEEK_DATA/SEEK_HOLE, so a
 * sparse raw image is copied at the speed of its data; over a stream the
 * bytes go straight to the sink (which skips zero blocks), and one that
 * ends in a fixed VHD's footer is read as that VHD
 * (ferry_raw_stream). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/importer.h"

struct ferry_image {
    struct ferry_source *src;
    uint64_t size;
};

static int
raw_probe(const uint8_t *head, size_t len, int64_t size)
{
    return 1;
}

static int
raw_open(struct ferry_source *src, struct ferry_image **ret)
{
    struct ferry_image *img;

    if (src->size < 0)
        return ferry_error(FERRY_ERR_INTERNAL, "raw '%s': unknown size", src->url);
    img = ferry_calloc(1, sizeof(*img));
    img->src = src;
    img->size = src->size;
    *ret = img;
    return 0;
}

static uint64_t
raw_virtual_size(struct ferry_image *img)
{
    return img->size;
}

static int
raw_map(struct ferry_image *img, uint64_t offset, uint64_t length, struct ferry_extent **extents,
        size_t *n)
{
    uint64_t end = offset + length, pos = offset;

    while (pos < end) {
        uint64_t data, hole;
        if (ferry_source_file_next_data(img->src, pos, &data, &hole) < 0) {
            ferry_extent_push(extents, n, pos, end - pos, FERRY_EXTENT_DATA);
            return 0;
        }
        if (data >= end)
            break;
        if (hole > end)
            hole = end;
        ferry_extent_push(extents, n, data, hole - data, FERRY_EXTENT_DATA);
        pos = hole;
    }
    return 0;
}

static int
raw_read(struct ferry_image *img, void *buf, size_t len, uint64_t offset)
{
    return ferry_source_pread_exact(img->src, buf, len, offset, "raw data");
}

static void
raw_close(struct ferry_image *img)
{
    free(img);
}

#define CHUNK (1u << 20)
#define FIRST_CHUNK (64u << 10)
#define FOOTER 512u

static uint8_t *
chunk_alloc(size_t len)
{
    void *p;

    if (posix_memalign(&p, 4096, len) != 0)   /* for O_DIRECT sinks */
        ferry_oom();
    return p;
}

/* A raw (or ISO) stream may be a fixed VHD, whose only magic is a footer at
 * the very end (from a file, probe_tail finds it).  Each chunk is emitted
 * only once the next read shows the footer cannot reach into it; at the end
 * the last 512 bytes are handed to vhd.c, which decides as vhd_open does for
 * a file: no VHD footer (the stream is what it seemed), a fixed disk's (the
 * disk is its first vsize bytes: the footer, and any data after vsize
 * already emitted, are dropped), or a refusal with the file's message.  So a
 * stream and a file of the same image give the same disk, or the same
 * error.
 *
 * The first read is FIRST_CHUNK bytes: a stream that ends there (a small
 * image, an ISO's volume descriptors cut short, most refusals) costs no
 * 1 MiB buffers.  One that fills it grows to two CHUNK buffers. */
int
ferry_raw_stream(struct ferry_source *src,
                 int (*emit)(void *opaque, uint64_t off, const void *buf, size_t len),
                 void *opaque, uint64_t *ret_virtual_size,
                 const struct ferry_format **ret_format)
{
    FERRY_AUTOFREE uint8_t *a = chunk_alloc(FIRST_CHUNK);
    FERRY_AUTOFREE uint8_t *b = NULL;
    uint8_t head[FOOTER] = { 0 }, footer[FOOTER];
    uint64_t off = 0, total, end, vsize;
    ssize_t alen, blen = 0;
    bool vhd = false;

    alen = ferry_source_read_full(src, a, FIRST_CHUNK);
    if (alen < 0)
        return -1;
    if (alen == FIRST_CHUNK) {
        uint8_t *big = chunk_alloc(CHUNK);
        memcpy(big, a, FIRST_CHUNK);
        free(a);
        a = big;
        ssize_t more = ferry_source_read_full(src, a + FIRST_CHUNK, CHUNK - FIRST_CHUNK);
        if (more < 0)
            return -1;
        alen += more;
        if (alen == CHUNK)
            b = chunk_alloc(CHUNK);
    }
    memcpy(head, a, alen < (ssize_t)FOOTER ? (size_t)alen : FOOTER);
    while (alen == CHUNK) {
        blen = ferry_source_read_full(src, b, CHUNK);
        if (blen < 0)
            return -1;
        if (blen < (ssize_t)FOOTER)
            break;   /* a and b are the end */
        if (emit(opaque, off, a, alen) < 0)
            return -1;
        off += alen;
        uint8_t *t = a;
        a = b;
        b = t;
        alen = blen;
        blen = 0;
    }
    /* Pending: a (alen bytes at off), then b (blen < 512 bytes); the last
     * 512 bytes of the stream lie in them. */
    total = off + alen + blen;
    end = total;
    if (total >= FOOTER) {
        for (size_t i = 0; i < FOOTER; i++) {
            uint64_t p = total - FOOTER + i - off;
            footer[i] = p < (uint64_t)alen ? a[p] : b[p - alen];
        }
        int r = ferry_vhd_stream_footer(src->url, head, footer, total, &vsize);
        if (r < 0)
            return -1;
        if (r > 0) {
            end = vsize;
            vhd = true;
        }
    }
    if (end > off && emit(opaque, off, a, end - off < (uint64_t)alen ? end - off : alen) < 0)
        return -1;
    if (end > off + alen && emit(opaque, off + alen, b, end - off - alen) < 0)
        return -1;
    *ret_virtual_size = end;
    if (vhd)
        *ret_format = &ferry_format_vhd;
    return 0;
}

static const char *const raw_extensions[] = { ".img", ".raw", ".bin", NULL };

const struct ferry_format ferry_format_raw = {
    .name = "raw",
    .help = "a plain disk, byte for byte (the fallback when nothing else matches)",
    .extensions = raw_extensions,
    .probe = raw_probe,
    .needs_random_access = false,
    .open = raw_open,
    .virtual_size = raw_virtual_size,
    .map = raw_map,
    .read = raw_read,
    .close = raw_close,
    .stream = ferry_raw_stream,
    .parallel_read = true,
};
