/* raw: the disk itself, the fallback when no other format claims the
 * content.  Over a local file the map comes from SEEK_DATA/SEEK_HOLE, so a
 * sparse raw image is copied at the speed of its data; over a stream the
 * bytes go straight to the sink (which skips zero blocks). */
#include <stdlib.h>

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

/* The stream: everything, in order. */
int
ferry_raw_stream(struct ferry_source *src,
                 int (*emit)(void *opaque, uint64_t off, const void *buf, size_t len),
                 void *opaque, uint64_t *ret_virtual_size)
{
    FERRY_AUTOFREE uint8_t *buf = NULL;
    uint64_t off = 0;

    if (posix_memalign((void **)&buf, 4096, 1 << 20) != 0)   /* for O_DIRECT sinks */
        ferry_oom();

    for (;;) {
        ssize_t n = ferry_source_read_full(src, buf, 1 << 20);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (emit(opaque, off, buf, n) < 0)
            return -1;
        off += n;
    }
    *ret_virtual_size = off;
    return 0;
}

const struct ferry_format ferry_format_raw = {
    .name = "raw",
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
