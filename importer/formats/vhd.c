/* Microsoft VHD (Virtual PC / Hyper-V "vpc") reader: fixed and dynamic disks.
 *
 * Every VHD ends with a 512-byte big-endian footer ("conectix" cookie, a
 * one's-complement checksum, the disk type and size).  A fixed disk is raw
 * data followed by that footer and nothing else, so it is recognised by the
 * end of the source (probe_tail); a dynamic disk also keeps a copy of the
 * footer at offset 0, then a "cxsparse" dynamic header pointing at the block
 * allocation table (BAT: one big-endian sector number per block, 0xffffffff
 * when unallocated).  Each allocated block is a sector bitmap (bit set: the
 * sector is present; most significant bit first) followed by the block's
 * data; sectors whose bit is clear read as zeros.  Differencing disks (type 4)
 * are refused: they need their parent.
 *
 * The virtual size follows qemu (the oracle): images written by Virtual PC
 * ("vpc ") and old qemu ("qemu") are sized by their CHS geometry, everything
 * else (Hyper-V, disk2vhd, XenServer, Azure, qemu's force_size "qem2") by
 * current_size; a disk at the maximum geometry always uses current_size. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/blockmap.h"
#include "importer/bytes.h"
#include "importer/format.h"
#include "importer/importer.h"

#define VHD_FOOTER 512u
#define VHD_DYNHDR 1024u
#define VHD_FIXED 2u
#define VHD_DYNAMIC 3u
#define VHD_DIFF 4u
#define VHD_UNALLOCATED 0xffffffffu
#define VHD_MAX_GEOMETRY (65535ull * 16 * 255)
#define VHD_MAX_SIZE (UINT64_C(0xff000000) * 512)   /* 2040 GiB, as qemu */
#define VHD_WINDOW 65536u                            /* BAT entries kept in memory */

struct vhd {
    struct ferry_blockmap blockmap;  /* map and read (blockmap.h) */
    struct ferry_source *src;
    const char *name;
    int64_t file_size;
    uint64_t vsize;
    bool fixed;
    /* dynamic disks */
    uint32_t block_size, bitmap_size, entries;
    pthread_mutex_t lock;            /* guards the two caches */
    struct ferry_blockmap_table bat; /* the BAT's window */
    uint64_t bm_block;               /* block whose bitmap is cached, or UINT64_MAX */
    uint8_t *bm;
};

static int vhd_lookup(void *opaque, uint64_t offset, uint64_t len, bool *ret_data,
                      uint64_t *ret_off, uint64_t *ret_len);

static int
vhd_pread(void *opaque, void *buf, size_t len, uint64_t off, const char *what)
{
    struct vhd *v = opaque;
    return ferry_blockmap_pread_source(v->src, "vhd", v->name, buf, len, off, what);
}

static bool
is_footer(const uint8_t *p)
{
    return memcmp(p, "conectix", 8) == 0;
}

/* A dynamic or differencing disk has its footer copy at the head. */
static int
vhd_probe(const uint8_t *head, size_t len, int64_t size)
{
    if (len < VHD_FOOTER || !is_footer(head))
        return 0;
    return 100;
}

static int
vhd_head_bounds(const uint8_t *head, size_t len, uint64_t *ret_vsize, uint64_t *ret_max)
{
    if (!vhd_probe(head, len, -1))
        return -1;
    return ferry_image_head_bounds(ferry_be64(head + 48), 1, ret_vsize, ret_max);
}

/* Where the footer at the end of a SIZE-byte file starts (SIZE >= 512):
 * in the last sector, counted as qemu counts a file's sectors, so that a file
 * whose size is not a multiple of 512 (cut short, or padded) has its footer
 * in its last partial sector, the bytes past the end read as zeros. */
static uint64_t
footer_offset(uint64_t size)
{
    return (size + 511) / 512 * 512 - VHD_FOOTER;
}

/* The footer at the end, from TAIL (the last LEN bytes of a SIZE-byte
 * source) into F; false when TAIL does not reach it. */
static bool
tail_footer(const uint8_t *tail, size_t len, uint64_t size, uint8_t f[VHD_FOOTER])
{
    if (size < VHD_FOOTER)
        return false;
    size_t have = (size_t)(size - footer_offset(size));
    if (len < have)
        return false;
    memset(f, 0, VHD_FOOTER);
    memcpy(f, tail + len - have, have);
    return true;
}

/* A fixed disk: a footer at the end of the source. */
static int
vhd_probe_tail(const uint8_t *tail, size_t len, int64_t size)
{
    uint8_t f[VHD_FOOTER];
    if (size < 0 || !tail_footer(tail, len, (uint64_t)size, f))
        return 0;
    uint32_t type = ferry_be32(f + 60);
    if (!is_footer(f) || (type != VHD_FIXED && type != VHD_DYNAMIC && type != VHD_DIFF))
        return 0;
    return 100;
}

static void
vhd_free(struct vhd *v)
{
    if (!v)
        return;
    pthread_mutex_destroy(&v->lock);
    free(v->bat.raw);
    free(v->bm);
    free(v);
}

static int
vhd_open_dynamic(struct vhd *v, uint64_t hdr_off)
{
    uint8_t h[VHD_DYNHDR];
    if (hdr_off < VHD_FOOTER || hdr_off > INT64_MAX) {
        return ferry_error(FERRY_ERR_FORMAT, "vhd '%s': dynamic header offset %" PRIu64 " out of range",
                           v->name, hdr_off);
    }
    if (vhd_pread(v, h, sizeof(h), hdr_off, "dynamic header") < 0)
        return -1;
    if (memcmp(h, "cxsparse", 8) != 0)
        return ferry_error(FERRY_ERR_FORMAT,
                           "vhd '%s': no dynamic header (cookie \"cxsparse\") at offset %" PRIu64,
                           v->name, hdr_off);
    uint32_t sum = ferry_be32(h + 36), want = ferry_vhd_checksum(h, sizeof(h), 36);
    if (sum != want)
        return ferry_error(FERRY_ERR_FORMAT,
                           "vhd '%s': dynamic header checksum 0x%08x does not match the computed 0x%08x",
                           v->name, sum, want);
    uint64_t bat_off = ferry_be64(h + 16);
    uint32_t entries = ferry_be32(h + 28), block_size = ferry_be32(h + 32);

    if (block_size < 512 || block_size > (256u << 20) || (block_size & (block_size - 1)))
        return ferry_error(FERRY_ERR_FORMAT,
                           "vhd '%s': block size %u out of range (a power of two, 512..256 MiB)",
                           v->name, block_size);
    uint64_t used = v->vsize / block_size + (v->vsize % block_size != 0);
    if (entries < used)
        return ferry_error(FERRY_ERR_FORMAT,
                           "vhd '%s': max table entries %u too small for the %" PRIu64
                           "-byte disk (needs %" PRIu64 " blocks of %u bytes)",
                           v->name, entries, v->vsize, used, block_size);
    uint64_t bat_end;
    if (bat_off < VHD_FOOTER || __builtin_add_overflow(bat_off, used * 4, &bat_end) ||
        (v->file_size >= 0 && bat_end > (uint64_t)v->file_size))
        return ferry_error(FERRY_ERR_FORMAT,
                           "vhd '%s': BAT (%" PRIu64 " entries at offset %" PRIu64
                           ") extends past the end of the file (%" PRId64 " bytes)",
                           v->name, used, bat_off, v->file_size);
    v->block_size = block_size;
    /* One bit per sector, padded to whole sectors. */
    v->bitmap_size = ((block_size / 512 / 8) + 511) & ~511u;
    v->entries = entries;
    v->bat = (struct ferry_blockmap_table){
        .off = bat_off, .entries = used, .width = 4, .big_endian = true, .window = VHD_WINDOW,
        .what = "BAT", .raw = ferry_malloc(VHD_WINDOW * 4),
    };
    v->bm = ferry_malloc(v->bitmap_size);
    v->bm_block = UINT64_MAX;
    return 0;
}

static int
vhd_open(struct ferry_source *src, struct ferry_image **ret)
{
    uint8_t f[VHD_FOOTER];
    struct vhd *v = ferry_calloc(1, sizeof(*v));
    v->src = src;
    v->name = src->url ? src->url : "?";
    v->file_size = src->size;
    pthread_mutex_init(&v->lock, NULL);

    /* The footer copy at the head (dynamic), else the footer at the end. */
    bool at_head = false;
    if (v->file_size < 0 || v->file_size >= (int64_t)VHD_FOOTER) {
        if (vhd_pread(v, f, sizeof(f), 0, "footer copy") < 0)
            goto fail;
        at_head = is_footer(f) && ferry_be32(f + 60) != VHD_FIXED;
    }
    if (!at_head) {
        if (v->file_size < (int64_t)VHD_FOOTER) {
            ferry_error(FERRY_ERR_FORMAT, "vhd '%s': %s", v->name,
                        v->file_size < 0 ? "the size of the source is unknown: cannot find the footer"
                                         : "file too short for a footer");
            goto fail;
        }
        uint64_t foff = footer_offset((uint64_t)v->file_size);
        memset(f, 0, sizeof(f));
        if (vhd_pread(v, f, (size_t)((uint64_t)v->file_size - foff), foff, "footer") < 0)
            goto fail;
        if (!is_footer(f)) {
            ferry_error(FERRY_ERR_FORMAT, "vhd '%s': no footer (cookie \"conectix\")", v->name);
            goto fail;
        }
    }
    uint32_t sum = ferry_be32(f + 64), want = ferry_vhd_checksum(f, sizeof(f), 64);
    if (sum != want) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vhd '%s': footer checksum 0x%08x does not match the computed 0x%08x", v->name,
                    sum, want);
        goto fail;
    }
    uint32_t type = ferry_be32(f + 60);
    if (type == VHD_DIFF) {
        ferry_error(FERRY_ERR_UNSUPPORTED,
                    "vhd '%s': differencing disk (disk type 4) is not supported: "
                    "convert it with its parent first", v->name);
        goto fail;
    }
    if (type != VHD_FIXED && type != VHD_DYNAMIC) {
        ferry_error(FERRY_ERR_FORMAT, "vhd '%s': disk type %u out of range (2 fixed, 3 dynamic)",
                    v->name, type);
        goto fail;
    }

    uint64_t current_size = ferry_be64(f + 48);
    uint64_t chs = (uint64_t)(f[56] << 8 | f[57]) * f[58] * f[59];
    bool use_chs = memcmp(f + 28, "vpc ", 4) == 0 || memcmp(f + 28, "qemu", 4) == 0;
    /* qemu rounds a current_size that is not whole sectors down, which
     * drops the last bytes of the disk; they are kept here (issue 13). */
    uint64_t sectors = use_chs && chs != VHD_MAX_GEOMETRY
                       ? chs : current_size / 512 + (current_size % 512 != 0);
    if (sectors > VHD_MAX_SIZE / 512 || sectors * 512 > FERRY_MAX_VIRTUAL_SIZE) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vhd '%s': virtual size %" PRIu64 " sectors exceeds the VHD limit of 2040 GiB",
                    v->name, sectors);
        goto fail;
    }
    v->vsize = sectors * 512;

    if (type == VHD_FIXED) {
        v->fixed = true;
        if (v->file_size < 0 || v->vsize > footer_offset((uint64_t)v->file_size)) {
            ferry_error(FERRY_ERR_FORMAT,
                        "vhd '%s': fixed disk of %" PRIu64 " bytes needs more than the %" PRId64
                        " bytes of the file", v->name, v->vsize, v->file_size);
            goto fail;
        }
    } else if (vhd_open_dynamic(v, ferry_be64(f + 16)) < 0) {
        goto fail;
    }
    v->blockmap = (struct ferry_blockmap){
        .format = "vhd", .name = v->name, .size = v->vsize, .data_what = "data block",
        .opaque = v, .lookup = vhd_lookup, .pread = vhd_pread,
    };
    *ret = (struct ferry_image *)v;
    return 0;

fail:
    vhd_free(v);
    return -1;
}

/* BAT entry of BLOCK; caller holds lock. */
static int
vhd_entry(struct vhd *v, uint64_t block, uint32_t *ret)
{
    uint64_t raw;
    if (ferry_blockmap_entry(&v->blockmap, &v->bat, block, &raw) < 0)
        return -1;
    uint32_t e = (uint32_t)raw;
    if (e != VHD_UNALLOCATED) {
        uint64_t need = v->vsize - block * v->block_size;
        if (need > v->block_size)
            need = v->block_size;
        uint64_t end = (uint64_t)e * 512 + v->bitmap_size + need;
        if (v->file_size >= 0 && end > (uint64_t)v->file_size)
            return ferry_error(FERRY_ERR_FORMAT,
                               "vhd '%s': BAT entry %" PRIu64 " (sector %u) points past the end of the file (%" PRId64 " bytes)",
                               v->name, block, e, v->file_size);
    }
    *ret = e;
    return 0;
}

static bool
bit(const uint8_t *bm, uint64_t i)
{
    return bm[i >> 3] & (0x80 >> (i & 7));
}

/* What lies at OFFSET: *ret_len bytes (<= len) of zeros or of data at file
 * offset *ret_off. */
static int
vhd_lookup(void *opaque, uint64_t offset, uint64_t len, bool *ret_data, uint64_t *ret_off,
           uint64_t *ret_len)
{
    struct vhd *v = opaque;
    if (v->fixed) {
        *ret_data = true;
        *ret_off = offset;
        *ret_len = len;
        return 0;
    }
    uint64_t block = offset / v->block_size, in = offset % v->block_size;
    uint64_t n = v->block_size - in;
    if (n > len)
        n = len;
    uint32_t e;
    int r = -1;
    pthread_mutex_lock(&v->lock);
    if (vhd_entry(v, block, &e) < 0)
        goto out;
    if (e == VHD_UNALLOCATED) {
        *ret_data = false;
        *ret_len = n;
        r = 0;
        goto out;
    }
    uint64_t base = (uint64_t)e * 512;
    if (v->bm_block != block) {
        v->bm_block = UINT64_MAX;
        if (vhd_pread(v, v->bm, v->bitmap_size, base, "sector bitmap") < 0)
            goto out;
        v->bm_block = block;
    }
    /* The run of sectors with the same bit as the first one. */
    uint64_t s = in / 512, last = (in + n - 1) / 512;
    bool present = bit(v->bm, s);
    uint64_t t = s + 1;
    while (t <= last) {
        uint8_t byte = v->bm[t >> 3];
        if ((t & 7) == 0 && t + 8 <= last + 1 && byte == (present ? 0xff : 0x00)) {
            t += 8;
            continue;
        }
        if (bit(v->bm, t) != present)
            break;
        t++;
    }
    uint64_t run = t * 512 - in;
    *ret_len = run < n ? run : n;
    *ret_data = present;
    *ret_off = base + v->bitmap_size + in;
    r = 0;
out:
    pthread_mutex_unlock(&v->lock);
    return r;
}

FERRY_BLOCKMAP_IMAGE_OPS(vhd)

/* ---- a fixed disk from a stream (raw.c) ---------------------------------- */

struct tailmem {
    const uint8_t *head, *footer;
    uint64_t size;
};

/* A stream keeps only the head and the footer: all that opening a fixed
 * disk reads.  A dynamic disk's footer (with no copy at the head) points
 * further: out of reach, said plainly. */
static ssize_t
tailmem_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct tailmem *m = src->priv;
    if (off == 0 && len <= VHD_FOOTER) {
        memcpy(buf, m->head, len);
        return (ssize_t)len;
    }
    if (off == footer_offset(m->size) && len <= m->size - off) {
        memcpy(buf, m->footer + VHD_FOOTER - (m->size - off), len);
        return (ssize_t)len;
    }
    return ferry_error(FERRY_ERR_UNSUPPORTED,
                       "vhd '%s': footer at the end of a stream with no copy at its head: "
                       "offset %" PRIu64 " is out of reach (import it from a file)",
                       src->url, off);
}

int
ferry_vhd_stream_footer(const char *url, const uint8_t *head, const uint8_t *footer,
                        uint64_t size, uint64_t *ret_vsize)
{
    static const struct ferry_source_ops ops = { .name = "stream tail", .pread = tailmem_pread };
    struct tailmem m = { .head = head, .footer = footer, .size = size };
    struct ferry_source src = {
        .ops = &ops, .url = (char *)url, .size = (int64_t)size, .seekable = true, .priv = &m,
    };
    struct ferry_image *img;

    /* What a file's probe_tail would claim, vhd_open decides as for a file:
     * a refusal is the file's refusal. */
    if (size < VHD_FOOTER || size > INT64_MAX || !vhd_probe_tail(footer, VHD_FOOTER, size))
        return 0;
    if (vhd_open(&src, &img) < 0)
        return -1;
    /* A fixed disk (the head is not a footer copy, or the pipeline would
     * have probed the stream as vhd): its first vsize bytes are the disk. */
    *ret_vsize = vhd_virtual_size(img);
    vhd_close(img);
    return 1;
}

static const char *const vhd_extensions[] = { ".vhd", ".vpc", NULL };

const struct ferry_format ferry_format_vhd = {
    .name = "vhd",
    .help = "Microsoft Virtual PC / Hyper-V VHD, dynamic or fixed",
    .extensions = vhd_extensions,
    .probe = vhd_probe,
    .needs_random_access = true,
    .open = vhd_open,
    .virtual_size = vhd_virtual_size,
    .map = vhd_map,
    .read = vhd_read,
    .close = vhd_close,
    .parallel_read = true,
    .probe_tail = vhd_probe_tail,
    .head_bounds = vhd_head_bounds,
};
