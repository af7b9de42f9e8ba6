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
    size_t done = 0;
    while (done < len) {
        ssize_t r = src->ops->pread(src, (uint8_t *)buf + done, len - done, off + done);
        if (r < 0)
            return -1;
        if (r == 0)
            return ferry_error(FERRY_ERR_FORMAT,
                               "%s '%s': %s at offset %" PRIu64 " (%zu bytes) is past the end of the file",
                               format, name, what, off, len);
        done += (size_t)r;
    }
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

int
ferry_blockmap_map(const struct ferry_blockmap *bm, uint64_t offset, uint64_t length,
                   struct ferry_extent **extents, size_t *n)
{
    if (ferry_blockmap_check_range(bm, offset, length) < 0)
        return -1;
    while (length > 0) {
        bool data;
        uint64_t off, run;
        if (lookup(bm, offset, length, &data, &off, &run) < 0)
            return -1;
        ferry_extent_push(extents, n, offset, run, data ? FERRY_EXTENT_DATA : FERRY_EXTENT_ZERO);
        offset += run;
        length -= run;
    }
    return 0;
}

int
ferry_blockmap_read(const struct ferry_blockmap *bm, void *buf, size_t len, uint64_t offset)
{
    uint8_t *p = buf;
    if (ferry_blockmap_check_range(bm, offset, len) < 0)
        return -1;
    while (len > 0) {
        bool data;
        uint64_t off, run;
        if (lookup(bm, offset, len, &data, &off, &run) < 0)
            return -1;
        if (!data)
            memset(p, 0, run);
        else if (bm->pread(bm->opaque, p, run, off, bm->data_what) < 0)
            return -1;
        p += run;
        offset += run;
        len -= run;
    }
    return 0;
}
