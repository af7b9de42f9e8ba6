/* Shared engine of the block-table formats (VDI, VHD, VHDX): images whose
 * virtual disk is cut into fixed blocks, each either stored somewhere in the
 * file or read as zeros.  A format supplies a lookup callback (what lies at
 * a virtual offset, up to the end of its block, or what one whole block
 * is) and a pread; this module
 * does the range check and the map and read loops the format table calls
 * (extents merge through ferry_extent_push, as qcow2's and vmdk's do).  Both
 * loops are safe to run from several threads when the format's lookup and
 * pread are (the formats lock their caches). */
#ifndef FERRY_IMPORTER_BLOCKMAP_H
#define FERRY_IMPORTER_BLOCKMAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "importer/format.h"

struct ferry_blockmap {
    const char *format;              /* "vdi", "vhd" ...: prefixes messages */
    const char *name;                /* the source's name */
    uint64_t size;                   /* virtual disk size */
    const char *data_what;           /* what pread reads: "data block" ... */
    void *opaque;                    /* passed to the callbacks */
    /* What lies at OFFSET: *ret_len bytes (<= len, > 0) of zeros
     * (*ret_data false) or of data at file offset *ret_off. */
    int (*lookup)(void *opaque, uint64_t offset, uint64_t len, bool *ret_data, uint64_t *ret_off,
                  uint64_t *ret_len);
    /* Instead of lookup, for formats whose blocks are stored whole or not at
     * all (VDI, VHDX): blocks of BLOCK_SIZE bytes, and BLOCK, called with
     * LOCK held, says whether block B is stored (*ret_data) and the file
     * offset where it starts (*ret_off). */
    uint64_t block_size;
    pthread_mutex_t *lock;
    int (*block)(void *opaque, uint64_t b, bool *ret_data, uint64_t *ret_off);
    /* Read LEN bytes at file offset OFF; an error names WHAT. */
    int (*pread)(void *opaque, void *buf, size_t len, uint64_t off, const char *what);
};

/* A window onto a table of per-block entries in the file (a BAT, a block
 * map): WINDOW entries are read at a time so memory stays bounded whatever
 * the virtual size.  The format's lock guards it. */
struct ferry_blockmap_table {
    uint64_t off;                    /* file offset of the table */
    uint64_t entries;                /* entries in it */
    unsigned width;                  /* bytes an entry: 4 or 8 */
    bool big_endian;
    uint32_t window;                 /* entries kept in memory */
    const char *what;                /* "BAT", "block map": for messages */
    uint64_t first;                  /* the window: entries first..first+n-1 */
    uint32_t n;
    uint8_t *raw;                    /* window * width bytes, as stored */
};

/* Entry IDX (< t->entries) of table T, read through bm->pread when it is
 * not in the window. */
int ferry_blockmap_entry(const struct ferry_blockmap *bm, struct ferry_blockmap_table *t,
                         uint64_t idx, uint64_t *ret);

/* An internal error unless [offset, offset+length) lies inside the disk. */
int ferry_blockmap_check_range(const struct ferry_blockmap *bm, uint64_t offset, uint64_t length);

struct ferry_source;

/* Read exactly LEN bytes at file offset OFF of SRC; a file that ends first
 * is a format error naming FORMAT, NAME and WHAT (a block-table format's
 * pread). */
int ferry_blockmap_pread_source(struct ferry_source *src, const char *format, const char *name,
                                void *buf, size_t len, uint64_t off, const char *what);

/* The format table's map and read, done through bm->lookup and bm->pread. */
int ferry_blockmap_map(const struct ferry_blockmap *bm, uint64_t offset, uint64_t length,
                       struct ferry_extent **extents, size_t *n);
int ferry_blockmap_read(const struct ferry_blockmap *bm, void *buf, size_t len, uint64_t offset);

/* The format table's virtual_size, map, read and close of the format whose
 * image is struct NAME, with a struct ferry_blockmap member blockmap (its
 * size the virtual size), freed by NAME##_free(): defines
 * NAME##_virtual_size, NAME##_map, NAME##_read and NAME##_close. */
#define FERRY_BLOCKMAP_IMAGE_OPS(name)                                                             \
    static uint64_t name##_virtual_size(struct ferry_image *img)                                  \
    {                                                                                              \
        return ((struct name *)img)->blockmap.size;                                                \
    }                                                                                              \
    static int name##_map(struct ferry_image *img, uint64_t offset, uint64_t length,              \
                          struct ferry_extent **extents, size_t *n)                                \
    {                                                                                              \
        return ferry_blockmap_map(&((struct name *)img)->blockmap, offset, length, extents, n);    \
    }                                                                                              \
    static int name##_read(struct ferry_image *img, void *buf, size_t len, uint64_t offset)       \
    {                                                                                              \
        return ferry_blockmap_read(&((struct name *)img)->blockmap, buf, len, offset);             \
    }                                                                                              \
    static void name##_close(struct ferry_image *img)                                              \
    {                                                                                              \
        name##_free((struct name *)img);                                                           \
    }

#endif
