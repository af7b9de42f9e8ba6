/* VirtualBox VDI reader (header version 1.1, static and dynamic images).
 *
 * A VDI file is a 512-byte header, a block map of little-endian uint32
 * entries (one per block of the virtual disk: the index of the block's data
 * in the data area, 0xffffffff for never written, 0xfffffffe for discarded,
 * both read as zeros), then the data blocks.  A static image is a dynamic one
 * whose map is full.  Differencing and undo images (a parent UUID, or image
 * type 3/4) are refused: they need their parent.
 *
 * Every field is range-checked before use; the block map is read through a
 * small window so memory stays bounded whatever the virtual size, and every
 * map entry is checked against the file size when it is used. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/blockmap.h"
#include "importer/bytes.h"
#include "importer/format.h"

#define VDI_SIGNATURE 0xbeda107fu
#define VDI_VERSION_1_1 0x00010001u
#define VDI_PREHEADER 0x48u          /* text[64], signature, version */
#define VDI_HEADER_MIN 0x180u        /* header v1.1 fields through the parent UUID */
#define VDI_TYPE_DYNAMIC 1u
#define VDI_TYPE_STATIC 2u
#define VDI_TYPE_UNDO 3u
#define VDI_TYPE_DIFF 4u
#define VDI_UNALLOCATED 0xffffffffu
#define VDI_DISCARDED 0xfffffffeu
#define VDI_WINDOW 65536u            /* block-map entries kept in memory */

struct vdi {
    struct ferry_blockmap blockmap;  /* map and read (blockmap.h) */
    struct ferry_source *src;
    const char *name;
    int64_t file_size;               /* -1 when the source does not know */
    uint64_t disk_size;
    uint32_t block_size;
    uint32_t blocks;                 /* blocks_in_image */
    uint64_t data_off;
    pthread_mutex_t lock;            /* guards the window */
    struct ferry_blockmap_table bmap; /* the block map's window */
};

static int vdi_block(void *opaque, uint64_t block, bool *ret_data, uint64_t *ret_off);

static int
vdi_pread(void *opaque, void *buf, size_t len, uint64_t off, const char *what)
{
    struct vdi *v = opaque;
    return ferry_blockmap_pread_source(v->src, "vdi", v->name, buf, len, off, what);
}

static int
vdi_probe(const uint8_t *head, size_t len, int64_t size)
{
    if (len < VDI_PREHEADER || ferry_le32(head + 0x40) != VDI_SIGNATURE)
        return 0;
    return 100;
}

static int
vdi_head_bounds(const uint8_t *head, size_t len, uint64_t *ret_vsize, uint64_t *ret_max)
{
    if (len < 0x178 || !vdi_probe(head, len, -1))
        return -1;
    return ferry_image_head_bounds(ferry_le64(head + 0x170), 1, ret_vsize, ret_max);
}

static void
vdi_free(struct vdi *v)
{
    if (!v)
        return;
    pthread_mutex_destroy(&v->lock);
    free(v->bmap.raw);
    free(v);
}

static int
vdi_open(struct ferry_source *src, struct ferry_image **ret)
{
    uint8_t h[512];
    struct vdi *v = ferry_calloc(1, sizeof(*v));
    v->src = src;
    v->name = src->url ? src->url : "?";
    v->file_size = src->size;
    pthread_mutex_init(&v->lock, NULL);

    if (vdi_pread(v, h, sizeof(h), 0, "header") < 0)
        goto fail;

    uint32_t sig = ferry_le32(h + 0x40), version = ferry_le32(h + 0x44);
    uint32_t hdr_size = ferry_le32(h + 0x48);
    uint32_t type = ferry_le32(h + 0x4c);
    uint32_t off_bmap = ferry_le32(h + 0x154), off_data = ferry_le32(h + 0x158);
    uint32_t sector_size = ferry_le32(h + 0x168);
    uint64_t disk_size = ferry_le64(h + 0x170);
    uint32_t block_size = ferry_le32(h + 0x178), block_extra = ferry_le32(h + 0x17c);
    uint32_t blocks = ferry_le32(h + 0x180);
    const uint8_t *uuid_link = h + 0x1a8, *uuid_parent = h + 0x1b8;

    if (sig != VDI_SIGNATURE) {
        ferry_error(FERRY_ERR_FORMAT, "vdi '%s': signature 0x%08x is not 0x%08x", v->name, sig,
                    VDI_SIGNATURE);
        goto fail;
    }
    if (version != VDI_VERSION_1_1) {
        ferry_error(FERRY_ERR_UNSUPPORTED, "vdi '%s': header version %u.%u not supported (only 1.1)",
                    v->name, version >> 16, version & 0xffff);
        goto fail;
    }
    if (hdr_size < VDI_HEADER_MIN || hdr_size > 65536) {
        ferry_error(FERRY_ERR_FORMAT, "vdi '%s': header size %u out of range %u..65536", v->name,
                    hdr_size, VDI_HEADER_MIN);
        goto fail;
    }
    if (type == VDI_TYPE_DIFF || type == VDI_TYPE_UNDO || !ferry_all_zero(uuid_parent, 16) ||
        !ferry_all_zero(uuid_link, 16)) {
        ferry_error(FERRY_ERR_UNSUPPORTED,
                    "vdi '%s': differencing image (image type %u, with a parent) is not supported: "
                    "convert it with its parent first", v->name, type);
        goto fail;
    }
    if (type != VDI_TYPE_DYNAMIC && type != VDI_TYPE_STATIC) {
        ferry_error(FERRY_ERR_FORMAT, "vdi '%s': image type %u out of range 1..2", v->name, type);
        goto fail;
    }
    if (sector_size != 512) {
        ferry_error(FERRY_ERR_UNSUPPORTED, "vdi '%s': sector size %u is not 512", v->name,
                    sector_size);
        goto fail;
    }
    if (block_size < 512 || block_size > (256u << 20) || (block_size & (block_size - 1))) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vdi '%s': block size %u out of range (a power of two, 512..256 MiB)", v->name,
                    block_size);
        goto fail;
    }
    if (block_extra != 0) {
        ferry_error(FERRY_ERR_UNSUPPORTED, "vdi '%s': block extra %u is not supported (only 0)",
                    v->name, block_extra);
        goto fail;
    }
    if (off_bmap % 512 || off_bmap < VDI_PREHEADER + hdr_size) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vdi '%s': block map offset %u out of range (512-aligned, after the header)",
                    v->name, off_bmap);
        goto fail;
    }
    if (off_data % 512) {
        ferry_error(FERRY_ERR_FORMAT, "vdi '%s': data offset %u is not 512-aligned", v->name,
                    off_data);
        goto fail;
    }
    if (disk_size > FERRY_MAX_VIRTUAL_SIZE) {
        ferry_error(FERRY_ERR_UNSUPPORTED, "vdi '%s': disk size %" PRIu64 " exceeds the limit of %" PRIu64,
                    v->name, disk_size, FERRY_MAX_VIRTUAL_SIZE);
        goto fail;
    }
    /* As qemu 7.2 (VBoxManage convertfromraw writes odd sizes): a ragged
     * size is rounded up to whole sectors, so the last bytes stay. */
    disk_size = (disk_size + 511) & ~UINT64_C(511);
    if (disk_size > (uint64_t)blocks * block_size) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vdi '%s': disk size %" PRIu64 " exceeds the %u blocks of %u bytes in the block map",
                    v->name, disk_size, blocks, block_size);
        goto fail;
    }
    uint64_t used = disk_size / block_size + (disk_size % block_size != 0);
    uint64_t bmap_end = (uint64_t)off_bmap + (uint64_t)blocks * 4;
    if (off_data < bmap_end) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vdi '%s': data offset %u overlaps the block map (%u entries at %u)", v->name,
                    off_data, blocks, off_bmap);
        goto fail;
    }
    if (v->file_size >= 0 && (uint64_t)off_bmap + used * 4 > (uint64_t)v->file_size) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vdi '%s': block map (%" PRIu64 " entries at %u) extends past the end of the file (%" PRId64 " bytes)",
                    v->name, used, off_bmap, v->file_size);
        goto fail;
    }

    v->disk_size = disk_size;
    v->block_size = block_size;
    v->blocks = blocks;
    v->data_off = off_data;
    v->bmap = (struct ferry_blockmap_table){
        .off = off_bmap, .entries = blocks, .width = 4, .window = VDI_WINDOW,
        .what = "block map", .raw = ferry_malloc(VDI_WINDOW * 4),
    };
    v->blockmap = (struct ferry_blockmap){
        .format = "vdi", .name = v->name, .size = v->disk_size, .data_what = "data block",
        .opaque = v, .block_size = v->block_size, .lock = &v->lock, .block = vdi_block,
        .pread = vdi_pread,
    };
    *ret = (struct ferry_image *)v;
    return 0;

fail:
    vdi_free(v);
    return -1;
}

/* Whether BLOCK is stored, and where it starts in the file: its block map
 * entry, checked against the file.  Caller holds lock. */
static int
vdi_block(void *opaque, uint64_t block, bool *ret_data, uint64_t *ret_off)
{
    struct vdi *v = opaque;
    uint64_t raw;
    if (ferry_blockmap_entry(&v->blockmap, &v->bmap, block, &raw) < 0)
        return -1;
    uint32_t e = (uint32_t)raw;
    uint64_t off = v->data_off + (uint64_t)e * v->block_size;
    bool data = e != VDI_UNALLOCATED && e != VDI_DISCARDED;
    if (data) {
        uint64_t need = v->disk_size - block * v->block_size;
        if (need > v->block_size)
            need = v->block_size;
        if (e >= v->blocks)
            return ferry_error(FERRY_ERR_FORMAT,
                               "vdi '%s': block map entry %u of block %" PRIu64 " out of range 0..%u",
                               v->name, e, block, v->blocks - 1);
        if (v->file_size >= 0 && off + need > (uint64_t)v->file_size)
            return ferry_error(FERRY_ERR_FORMAT,
                               "vdi '%s': block map entry %u of block %" PRIu64
                               " points past the end of the file (offset %" PRIu64 ", file %" PRId64 " bytes)",
                               v->name, e, block, off, v->file_size);
    }
    *ret_data = data;
    *ret_off = off;
    return 0;
}

FERRY_BLOCKMAP_IMAGE_OPS(vdi)

static const char *const vdi_extensions[] = { ".vdi", NULL };

const struct ferry_format ferry_format_vdi = {
    .name = "vdi",
    .help = "VirtualBox disk image, dynamic or fixed",
    .extensions = vdi_extensions,
    .probe = vdi_probe,
    .needs_random_access = true,
    .open = vdi_open,
    .virtual_size = vdi_virtual_size,
    .map = vdi_map,
    .read = vdi_read,
    .close = vdi_close,
    .parallel_read = true,
    .head_bounds = vdi_head_bounds,
};
