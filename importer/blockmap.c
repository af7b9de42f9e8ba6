/* The map and read loops shared by the block-table formats (blockmap.h):
 * each walks the requested range one lookup at a time, so a format only
 * says what one block holds. */
#include <inttypes.h>
#include <string.h>

#include "common/error.h"
#include "importer/blockmap.h"
#include "importer/bytes.h"
#include "importer/importer.h"

int
ferry_blockmap_check_range(const struct ferry_blockmap *bm, uint64_t offset, uint64_t length)
{
    uint64_t end;
    if (__builtin_add_overflow(offset, length, &end) || end > bm->size)
        return ferry_error(FERRY_ERR_INTERNAL,
                           "%s '%s': range %" PRIu64 "+%" PRIu64 " is outside the %" PRIu64 "-byte disk",
                           bm->format, bm->name, offset, length, bm->size);
    return 0;
}

int
ferry_blockmap_entry(const struct ferry_blockmap *bm, struct ferry_blockmap_table *t, uint64_t idx,
                     uint64_t *ret)
{
    if (idx < t->first || idx >= t->first + t->n) {
        uint64_t first = idx - idx % t->window;
        uint64_t n = t->entries - first;
        if (n > t->window)
            n = t->window;
        t->n = 0;
        if (bm->pread(bm->opaque, t->raw, n * t->width, t->off + first * t->width, t->what) < 0)
            return -1;
        t->first = first;
        t->n = (uint32_t)n;
    }
    const uint8_t *p = t->raw + (idx - t->first) * t->width;
    if (t->width == 8)
        *ret = t->big_endian ? ferry_be64(p) : ferry_le64(p);
    else
        *ret = t->big_endian ? ferry_be32(p) : ferry_le32(p);
    return 0;
}

int
ferry_blockmap_pread_source(struct ferry_source *src, const char *format, const char *name,
                            void *buf, size_t len, uint64_t off, const char *what)
{
    ssize_t n = ferry_source_pread_full(src, buf, len, off);
    if (n < 0)
        return -1;
    if ((size_t)n < len)
        return ferry_error(FERRY_ERR_FORMAT,
                           "%s '%s': %s at offset %" PRIu64 " (%zu bytes) is past the end of the file",
                           format, name, what, off, len);
    return 0;
}

/* What lies at OFFSET, through bm->lookup or, for whole blocks, bm->block. */
static int
lookup(const struct ferry_blockmap *bm, uint64_t offset, uint64_t len, bool *ret_data,
       uint64_t *ret_off, uint64_t *ret_len)
{
    if (!bm->block)
        return bm->lookup(bm->opaque, offset, len, ret_data, ret_off, ret_len);
    uint64_t b = offset / bm->block_size, in = offset % bm->block_size;
    uint64_t n = bm->block_size - in, start = 0;
    pthread_mutex_lock(bm->lock);
    int r = bm->block(bm->opaque, b, ret_data, &start);
    pthread_mutex_unlock(bm->lock);
    if (r < 0)
        return -1;
    *ret_len = n < len ? n : len;
    *ret_off = start + in;
    return 0;
}

/* Call FN for each run of [offset, offset+length) that is all zeros (DATA
 * false) or all stored at file offset OFF, in order. */
static int
walk(const struct ferry_blockmap *bm, uint64_t offset, uint64_t length,
     int (*fn)(const struct ferry_blockmap *bm, void *opaque, uint64_t offset, uint64_t run,
               bool data, uint64_t off),
     void *opaque)
{
    if (ferry_blockmap_check_range(bm, offset, length) < 0)
        return -1;
    while (length > 0) {
        bool data;
        uint64_t off, run;
        if (lookup(bm, offset, length, &data, &off, &run) < 0 ||
            fn(bm, opaque, offset, run, data, off) < 0)
            return -1;
        offset += run;
        length -= run;
    }
    return 0;
}

struct map_ctx {
    struct ferry_extent **extents;
    size_t *n;
};

static int
map_run(const struct ferry_blockmap *bm, void *opaque, uint64_t offset, uint64_t run, bool data,
        uint64_t off)
{
    struct map_ctx *m = opaque;
    ferry_extent_push(m->extents, m->n, offset, run, data ? FERRY_EXTENT_DATA : FERRY_EXTENT_ZERO);
    return 0;
}

int
ferry_blockmap_map(const struct ferry_blockmap *bm, uint64_t offset, uint64_t length,
                   struct ferry_extent **extents, size_t *n)
{
    struct map_ctx m = { extents, n };
    return walk(bm, offset, length, map_run, &m);
}

struct read_ctx {
    uint8_t *buf;
    uint64_t base;              /* virtual offset of buf[0] */
};

static int
read_run(const struct ferry_blockmap *bm, void *opaque, uint64_t offset, uint64_t run, bool data,
         uint64_t off)
{
    struct read_ctx *r = opaque;
    uint8_t *p = r->buf + (offset - r->base);
    if (!data) {
        memset(p, 0, run);
        return 0;
    }
    return bm->pread(bm->opaque, p, run, off, bm->data_what);
}

int
ferry_blockmap_read(const struct ferry_blockmap *bm, void *buf, size_t len, uint64_t offset)
{
    struct read_ctx r = { buf, offset };
    return walk(bm, offset, len, read_run, &r);
}
