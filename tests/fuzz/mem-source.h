/* An image held in memory as a ferry_source's private data, for the fuzz
 * targets that feed their input to the importer's layers (fuzz-format.c,
 * fuzz-stream.c).  Each target brings its own ops table; the close that
 * frees the private data, and refusing siblings (no open_sibling: see
 * ferry_source_open_sibling), are the same in both. */
#ifndef FERRY_TESTS_FUZZ_MEM_SOURCE_H
#define FERRY_TESTS_FUZZ_MEM_SOURCE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "importer/importer.h"

struct mem {
    const uint8_t *data;
    size_t size, pos;
};

static inline ssize_t
mem_read(struct ferry_source *src, void *buf, size_t len)
{
    struct mem *m = src->priv;
    size_t n = m->size - m->pos < len ? m->size - m->pos : len;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static inline ssize_t
mem_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct mem *m = src->priv;
    if (off >= m->size)
        return 0;
    size_t n = m->size - off < len ? m->size - (size_t)off : len;
    memcpy(buf, m->data + off, n);
    return (ssize_t)n;
}

static inline void
mem_close(struct ferry_source *src)
{
    free(src->priv);
}

#endif
