/* Shared engine of the block-table formats (VDI, VHD, VHDX): images whose
 * virtual disk is cut into fixed blocks, each either stored somewhere in the
 * file or read as zeros.  A format supplies a lookup callback (what lies at
 * a virtual offset, up to the end of its block) and a pread; this module
 * does the range check and the map and read loops the format table calls
 * (extents merge through ferry_extent_push, as qcow2's and vmdk's do).  Both
 * loops are safe to run from several threads when the format's lookup and
 * pread are (the formats lock their caches). */
#ifndef FERRY_IMPORTER_BLOCKMAP_H
#define FERRY_IMPORTER_BLOCKMAP_H

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
    /* Read LEN bytes at file offset OFF; an error names WHAT. */
    int (*pread)(void *opaque, void *buf, size_t len, uint64_t off, const char *what);
};

/* An internal error unless [offset, offset+length) lies inside the disk. */
int ferry_blockmap_check_range(const struct ferry_blockmap *bm, uint64_t offset, uint64_t length);

/* The format table's map and read, done through bm->lookup and bm->pread. */
int ferry_blockmap_map(const struct ferry_blockmap *bm, uint64_t offset, uint64_t length,
                       struct ferry_extent **extents, size_t *n);
int ferry_blockmap_read(const struct ferry_blockmap *bm, void *buf, size_t len, uint64_t offset);

#endif
