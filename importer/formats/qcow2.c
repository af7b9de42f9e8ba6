/* qcow2 reader (versions 2 and 3): zero clusters, zlib- and zstd-compressed
 * clusters, extended L2 entries (subclusters).  Refused: backing files,
 * external data files, encryption, images marked corrupt, unknown
 * incompatible features, tables or data past the end of the file, sizes
 * beyond FERRY_MAX_VIRTUAL_SIZE.  Layout facts from qemu's
 * docs/interop/qcow2.txt.  Snapshots are ignored: the active L1 table is
 * the disk.  Reads are thread-safe (an L2 cache under a lock, pread for
 * data), so the pipeline decompresses clusters on every core. */
#include <endian.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef FERRY_HAVE_ZSTD
#include <zstd.h>
#endif

#include "common/error.h"
#include "common/util.h"
#include "importer/bytes.h"
#include "importer/importer.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define L2_SLOTS 8

#define INCOMPAT_DIRTY (1u << 0)
#define INCOMPAT_CORRUPT (1u << 1)
#define INCOMPAT_DATA_FILE (1u << 2)
#define INCOMPAT_COMPRESSION (1u << 3)
#define INCOMPAT_EXTL2 (1u << 4)
#define INCOMPAT_KNOWN 0x1fu

#define EXT_END 0
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURES 0x6803f857u
#define EXT_BITMAPS 0x23852875u
#define EXT_ENCRYPTION 0x0537be77u
#define EXT_DATA_FILE 0x44415441u

#define L2_COMPRESSED (UINT64_C(1) << 62)
#define L2_ZERO UINT64_C(1)
#define OFFSET_MASK UINT64_C(0x00fffffffffffe00)   /* bits 9-55 */

struct l2slot {
    uint64_t index;             /* L1 index, UINT64_MAX when empty */
    uint8_t *table;             /* big-endian entries as on disk */
    unsigned refs;
    uint64_t used;              /* LRU tick */
};

struct ferry_image {
    struct ferry_source *src;
    uint64_t file_size;
    unsigned version;
    unsigned cluster_bits;
    uint64_t cluster_size;
    uint64_t size;
    bool extended;              /* extended L2: 16-byte entries, 32 subclusters */
    unsigned entry_size;
    uint64_t l2_entries;        /* entries per L2 table */
    uint64_t subcluster_size;
    int compression;            /* 0 zlib, 1 zstd */
    unsigned csize_shift;
    uint64_t csize_mask, coffset_mask;
    uint64_t l1_entries;
    uint64_t *l1;               /* host order */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct l2slot slots[L2_SLOTS];
    uint64_t tick;
};

static int
qcow2_probe(const uint8_t *head, size_t len, int64_t size)
{
    if (len >= 8 && ferry_be32(head) == QCOW2_MAGIC &&
        (ferry_be32(head + 4) == 2 || ferry_be32(head + 4) == 3))
        return 100;
    return 0;
}

static int
qcow2_head_bounds(const uint8_t *head, size_t len, uint64_t *ret_vsize, uint64_t *ret_max)
{
    if (len < 72 || !qcow2_probe(head, len, -1))
        return -1;
    uint32_t snapshots = ferry_be32(head + 60);
    if (snapshots > 65536)
        return -1;
    /* Each internal snapshot may hold as much data again. */
    return ferry_image_head_bounds(ferry_be64(head + 24), snapshots + 1, ret_vsize, ret_max);
}

static bool
qcow2_can_stream(const uint8_t *head, size_t len)
{
    return false;
}

static void
qcow2_close(struct ferry_image *img)
{
    if (!img)
        return;
    for (size_t i = 0; i < L2_SLOTS; i++)
        free(img->slots[i].table);
    free(img->l1);
    pthread_mutex_destroy(&img->lock);
    pthread_cond_destroy(&img->cond);
    free(img);
}

static void
qcow2_freep(struct ferry_image **img)
{
    qcow2_close(*img);
}

/* "past the end" check for a table or cluster: off + len <= file size */
static int
check_range(struct ferry_image *img, uint64_t off, uint64_t len, const char *what)
{
    uint64_t end;

    if (!ferry_add_ok(off, len, &end) || end > img->file_size)
        return ferry_error(FERRY_ERR_FORMAT,
                           "qcow2 '%s': %s at offset %llu (%llu bytes) is past the end of the "
                           "file (%llu bytes)",
                           img->src->url, what, (unsigned long long)off, (unsigned long long)len,
                           (unsigned long long)img->file_size);
    return 0;
}

static int
check_extensions(struct ferry_image *img, const uint8_t *hdr, size_t hdr_len, uint64_t start)
{
    uint64_t off = start;

    while (off + 8 <= hdr_len) {
        uint32_t type = ferry_be32(hdr + off);
        uint32_t len = ferry_be32(hdr + off + 4);

        if (type == EXT_END)
            return 0;
        if (off + 8 + (uint64_t)len > hdr_len)
            return ferry_error(FERRY_ERR_FORMAT,
                               "qcow2 '%s': header extension 0x%08x at %llu (%u bytes) runs past "
                               "the first cluster",
                               img->src->url, type, (unsigned long long)off, len);
        if (type == EXT_DATA_FILE)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "qcow2 '%s': refusing an image with an external data file",
                               img->src->url);
        if (type == EXT_ENCRYPTION)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "qcow2 '%s': encrypted images are not supported", img->src->url);
        off += 8 + (((uint64_t)len + 7) & ~UINT64_C(7));
    }
    return 0;
}

static int
qcow2_open(struct ferry_source *src, struct ferry_image **ret)
{
    __attribute__((cleanup(qcow2_freep))) struct ferry_image *img = NULL;
    FERRY_AUTOFREE uint8_t *hdr = NULL;
    const char *url = src->url;
    uint64_t backing_off, l1_off, rc_off, need, l1_bytes, hdr_len = 104, ext_start = 72;
    uint32_t l1_size, rc_clusters, crypt;
    uint64_t incompat = 0;

    if (src->size < 72)
        return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': the file is too short for a header",
                           url);
    img = ferry_calloc(1, sizeof(*img));
    pthread_mutex_init(&img->lock, NULL);
    pthread_cond_init(&img->cond, NULL);
    for (size_t i = 0; i < L2_SLOTS; i++)
        img->slots[i].index = UINT64_MAX;
    img->src = src;
    img->file_size = src->size;

    hdr = ferry_calloc(1, 512);
    if (ferry_source_pread_exact(src, hdr, src->size < 512 ? src->size : 512, 0,
                                 "qcow2 header") < 0)
        return -1;
    if (ferry_be32(hdr) != QCOW2_MAGIC)
        return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': bad magic", url);
    img->version = ferry_be32(hdr + 4);
    if (img->version != 2 && img->version != 3)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "qcow2 '%s': version %u is not supported", url,
                           img->version);
    backing_off = ferry_be64(hdr + 8);
    img->cluster_bits = ferry_be32(hdr + 20);
    img->size = ferry_be64(hdr + 24);
    crypt = ferry_be32(hdr + 32);
    l1_size = ferry_be32(hdr + 36);
    l1_off = ferry_be64(hdr + 40);
    rc_off = ferry_be64(hdr + 48);
    rc_clusters = ferry_be32(hdr + 56);

    if (img->cluster_bits < 9 || img->cluster_bits > 21)
        return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': cluster_bits %u out of range 9..21",
                           url, img->cluster_bits);
    img->cluster_size = UINT64_C(1) << img->cluster_bits;
    if (backing_off != 0) {
        uint32_t blen = ferry_be32(hdr + 16);
        char name[256] = "";
        if (blen > 0 && blen < sizeof(name) && backing_off + blen <= img->file_size &&
            ferry_source_pread_exact(src, name, blen, backing_off, "backing file name") == 0) {
            name[blen] = '\0';
            for (char *c = name; *c; c++)
                if ((unsigned char)*c < 32 || (unsigned char)*c > 126)
                    *c = '?';
        }
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "qcow2 '%s': refusing an image with a backing file ('%s'): import "
                           "the flattened image (qemu-img convert) instead",
                           url, name);
    }
    if (crypt != 0)
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "qcow2 '%s': encrypted images are not supported (crypt_method %u)",
                           url, crypt);
    if (img->size > FERRY_MAX_VIRTUAL_SIZE) {
        FERRY_AUTOFREE char *h = ferry_size_human(img->size);
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "qcow2 '%s': virtual size %s is beyond the 64 TiB limit", url, h);
    }
    if (img->version == 3) {
        uint32_t refcount_order = ferry_be32(hdr + 96);
        hdr_len = ferry_be32(hdr + 100);
        incompat = ferry_be64(hdr + 72);
        if (hdr_len < 104 || hdr_len > img->cluster_size || hdr_len % 8)
            return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': header_length %llu is invalid",
                               url, (unsigned long long)hdr_len);
        if (refcount_order > 6)
            return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': refcount_order %u out of range",
                               url, refcount_order);
        if (incompat & INCOMPAT_CORRUPT)
            return ferry_error(FERRY_ERR_FORMAT,
                               "qcow2 '%s': the image is marked corrupt (run qemu-img check -r)",
                               url);
        if (incompat & INCOMPAT_DATA_FILE)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "qcow2 '%s': refusing an image with an external data file", url);
        if (incompat & ~(uint64_t)INCOMPAT_KNOWN)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "qcow2 '%s': unknown incompatible features 0x%llx", url,
                               (unsigned long long)(incompat & ~(uint64_t)INCOMPAT_KNOWN));
        if (incompat & INCOMPAT_COMPRESSION) {
            if (hdr_len < 105)
                return ferry_error(FERRY_ERR_FORMAT,
                                   "qcow2 '%s': compression type bit set but no field", url);
            img->compression = hdr[104];
        } else if (hdr_len >= 105 && hdr[104] != 0) {
            return ferry_error(FERRY_ERR_FORMAT,
                               "qcow2 '%s': compression type %u without the feature bit", url,
                               hdr[104]);
        }
        if (img->compression > 1)
            return ferry_error(FERRY_ERR_UNSUPPORTED, "qcow2 '%s': compression type %d unknown",
                               url, img->compression);
#ifndef FERRY_HAVE_ZSTD
        if (img->compression == 1)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "qcow2 '%s': zstd compression: built without libzstd", url);
#endif
        img->extended = incompat & INCOMPAT_EXTL2;
        if (img->extended && img->cluster_bits < 14)
            return ferry_error(FERRY_ERR_FORMAT,
                               "qcow2 '%s': extended L2 entries need clusters of 16 KiB or more",
                               url);
        ext_start = hdr_len;
    }

    /* Header extensions live in the first cluster. */
    {
        uint64_t first = img->cluster_size < img->file_size ? img->cluster_size : img->file_size;
        FERRY_AUTOFREE uint8_t *cl = ferry_malloc(first);
        if (ferry_source_pread_exact(src, cl, first, 0, "qcow2 header cluster") < 0)
            return -1;
        if (check_extensions(img, cl, first, ext_start) < 0)
            return -1;
    }

    img->entry_size = img->extended ? 16 : 8;
    img->l2_entries = img->cluster_size / img->entry_size;
    img->subcluster_size = img->extended ? img->cluster_size / 32 : img->cluster_size;
    img->csize_shift = 62 - (img->cluster_bits - 8);
    img->csize_mask = (UINT64_C(1) << (img->cluster_bits - 8)) - 1;
    img->coffset_mask = (UINT64_C(1) << img->csize_shift) - 1;

    /* L1: enough entries for the disk, inside the file. */
    {
        uint64_t per_l2 = img->l2_entries * img->cluster_size;
        need = img->size / per_l2 + (img->size % per_l2 != 0);
    }
    if (l1_size < need)
        return ferry_error(FERRY_ERR_FORMAT,
                           "qcow2 '%s': l1_size %u is too small for %llu bytes (needs %llu)", url,
                           l1_size, (unsigned long long)img->size, (unsigned long long)need);
    if (!ferry_mul_ok(need, 8, &l1_bytes) || l1_bytes > QCOW2_MAX_L1_BYTES)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "qcow2 '%s': L1 table of %llu entries is too "
                           "large", url, (unsigned long long)need);
    if (need && l1_off % img->cluster_size)
        return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': l1_table_offset %llu is not aligned",
                           url, (unsigned long long)l1_off);
    if (check_range(img, l1_off, l1_bytes, "L1 table") < 0)
        return -1;
    if (rc_off % img->cluster_size)
        return ferry_error(FERRY_ERR_FORMAT,
                           "qcow2 '%s': refcount_table_offset %llu is not aligned", url,
                           (unsigned long long)rc_off);
    if (rc_clusters == 0 ||
        check_range(img, rc_off, (uint64_t)rc_clusters << img->cluster_bits, "refcount table") < 0) {
        if (rc_clusters == 0)
            return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': refcount_table_clusters is 0", url);
        return -1;
    }

    img->l1_entries = need;
    img->l1 = ferry_malloc(l1_bytes ? l1_bytes : 8);
    if (l1_bytes && ferry_source_pread_exact(src, img->l1, l1_bytes, l1_off, "qcow2 L1 table") < 0)
        return -1;
    for (uint64_t i = 0; i < need; i++) {
        uint64_t e = be64toh(img->l1[i]);
        uint64_t l2 = e & OFFSET_MASK;
        img->l1[i] = e;
        if (!l2)
            continue;
        if (l2 % img->cluster_size)
            return ferry_error(FERRY_ERR_FORMAT,
                               "qcow2 '%s': L1 entry %llu: L2 table offset %llu is not aligned",
                               url, (unsigned long long)i, (unsigned long long)l2);
        if (check_range(img, l2, img->cluster_size, "L2 table") < 0)
            return -1;
    }
    *ret = FERRY_STEAL(img);
    return 0;
}

static uint64_t
qcow2_virtual_size(struct ferry_image *img)
{
    return img->size;
}

/* Pin the L2 table of L1 entry INDEX (which must have one). */
static int
l2_get(struct ferry_image *img, uint64_t index, struct l2slot **ret)
{
    struct l2slot *slot = NULL;

    pthread_mutex_lock(&img->lock);
    for (;;) {
        struct l2slot *victim = NULL;
        for (size_t i = 0; i < L2_SLOTS; i++) {
            if (img->slots[i].index == index) {
                slot = &img->slots[i];
                break;
            }
            if (img->slots[i].refs == 0 && (!victim || img->slots[i].used < victim->used))
                victim = &img->slots[i];
        }
        if (slot)
            break;
        if (victim) {
            uint64_t off = img->l1[index] & OFFSET_MASK;
            if (!victim->table)
                victim->table = ferry_malloc(img->cluster_size);
            victim->index = UINT64_MAX;
            victim->refs = 1;   /* reserved while loading */
            pthread_mutex_unlock(&img->lock);
            int r = ferry_source_pread_exact(img->src, victim->table, img->cluster_size, off,
                                             "qcow2 L2 table");
            pthread_mutex_lock(&img->lock);
            victim->refs = 0;
            if (r < 0) {
                pthread_cond_broadcast(&img->cond);
                pthread_mutex_unlock(&img->lock);
                return -1;
            }
            /* Another thread may have loaded it meanwhile: keep one copy. */
            bool dup = false;
            for (size_t i = 0; i < L2_SLOTS; i++)
                if (img->slots[i].index == index)
                    dup = true;
            if (!dup)
                victim->index = index;
            pthread_cond_broadcast(&img->cond);
            continue;
        }
        pthread_cond_wait(&img->cond, &img->lock);
    }
    slot->refs++;
    slot->used = ++img->tick;
    pthread_mutex_unlock(&img->lock);
    *ret = slot;
    return 0;
}

static void
l2_put(struct ferry_image *img, struct l2slot *slot)
{
    pthread_mutex_lock(&img->lock);
    slot->refs--;
    pthread_cond_broadcast(&img->cond);
    pthread_mutex_unlock(&img->lock);
}

/* What one piece of a cluster is. */
enum piece { P_ZERO, P_DATA, P_COMPRESSED };

struct cluster {
    uint64_t entry, bitmap;
};

/* Classify [off, off+len) of cluster C (len stays inside one subcluster
 * for extended L2); *host is the data offset for P_DATA. */
static int
classify(struct ferry_image *img, const struct cluster *c, uint64_t in_cluster, enum piece *ret,
         uint64_t *host)
{
    uint64_t e = c->entry;

    if (e & L2_COMPRESSED) {
        if (img->extended && c->bitmap)
            return ferry_error(FERRY_ERR_FORMAT,
                               "qcow2 '%s': compressed cluster with a subcluster bitmap",
                               img->src->url);
        *ret = P_COMPRESSED;
        return 0;
    }
    uint64_t off = e & OFFSET_MASK;
    if (img->extended) {
        unsigned sc = in_cluster / img->subcluster_size;
        bool alloc = c->bitmap & (UINT64_C(1) << sc);
        bool zero = c->bitmap & (UINT64_C(1) << (32 + sc));
        if (alloc && zero)
            return ferry_error(FERRY_ERR_FORMAT,
                               "qcow2 '%s': subcluster %u both allocated and zero", img->src->url,
                               sc);
        if (!alloc) {
            *ret = P_ZERO;
            return 0;
        }
        if (!off)
            return ferry_error(FERRY_ERR_FORMAT,
                               "qcow2 '%s': allocated subcluster without a cluster offset",
                               img->src->url);
    } else if (!off || (img->version >= 3 && (e & L2_ZERO))) {
        *ret = P_ZERO;
        return 0;
    }
    if (off % img->cluster_size)
        return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': data cluster offset %llu not aligned",
                           img->src->url, (unsigned long long)off);
    *ret = P_DATA;
    *host = off + in_cluster;
    return 0;
}

/* Walk [offset, offset+length) in pieces of one (sub)cluster at most and
 * call FN for each with its classification. */
typedef int (*piece_fn)(struct ferry_image *img, void *opaque, uint64_t voff, uint64_t len,
                        enum piece kind, uint64_t host, const struct cluster *c);

static int
walk(struct ferry_image *img, uint64_t offset, uint64_t length, piece_fn fn, void *opaque)
{
    uint64_t end = offset + length;

    if (end > img->size || end < offset)
        return ferry_error(FERRY_ERR_INTERNAL, "qcow2: access beyond the disk");
    while (offset < end) {
        uint64_t cl = offset >> img->cluster_bits;
        uint64_t l1i = cl / img->l2_entries;
        uint64_t l2_end = (l1i + 1) * img->l2_entries * img->cluster_size;
        uint64_t stop = end < l2_end ? end : l2_end;
        struct l2slot *slot = NULL;

        if (l1i >= img->l1_entries || !(img->l1[l1i] & OFFSET_MASK)) {
            struct cluster zero = { 0 };
            if (fn(img, opaque, offset, stop - offset, P_ZERO, 0, &zero) < 0)
                return -1;
            offset = stop;
            continue;
        }
        if (l2_get(img, l1i, &slot) < 0)
            return -1;
        while (offset < stop) {
            uint64_t idx = (offset >> img->cluster_bits) % img->l2_entries;
            const uint8_t *p = slot->table + idx * img->entry_size;
            struct cluster c = { .entry = ferry_be64(p),
                                 .bitmap = img->extended ? ferry_be64(p + 8) : 0 };
            uint64_t in = offset & (img->cluster_size - 1);
            uint64_t piece_end;
            enum piece kind = P_ZERO;
            uint64_t host = 0;

            /* A run of all-zero entries (unallocated clusters) is one
             * piece: a sparse table costs no call per cluster. */
            if (c.entry == 0 && c.bitmap == 0) {
                uint64_t last = ((stop - 1) >> img->cluster_bits) % img->l2_entries;
                uint64_t next = idx + 1;
                while (next <= last &&
                       ferry_all_zero(slot->table + next * img->entry_size, img->entry_size))
                    next++;
                piece_end = ((offset >> img->cluster_bits) - idx + next) << img->cluster_bits;
                if (piece_end > stop)
                    piece_end = stop;
                if (fn(img, opaque, offset, piece_end - offset, P_ZERO, 0, &c) < 0) {
                    l2_put(img, slot);
                    return -1;
                }
                offset = piece_end;
                continue;
            }
            if (classify(img, &c, in, &kind, &host) < 0) {
                l2_put(img, slot);
                return -1;
            }
            if (kind == P_COMPRESSED || !img->extended)
                piece_end = (offset | (img->cluster_size - 1)) + 1;
            else
                piece_end = (offset | (img->subcluster_size - 1)) + 1;
            if (piece_end > stop)
                piece_end = stop;
            if (fn(img, opaque, offset, piece_end - offset, kind, host, &c) < 0) {
                l2_put(img, slot);
                return -1;
            }
            offset = piece_end;
        }
        l2_put(img, slot);
    }
    return 0;
}

struct map_ctx {
    struct ferry_extent **extents;
    size_t *n;
};

static int
map_piece(struct ferry_image *img, void *opaque, uint64_t voff, uint64_t len, enum piece kind,
          uint64_t host, const struct cluster *c)
{
    struct map_ctx *m = opaque;

    ferry_extent_push(m->extents, m->n, voff, len,
                      kind == P_ZERO ? FERRY_EXTENT_ZERO : FERRY_EXTENT_DATA);
    return 0;
}

static int
qcow2_map(struct ferry_image *img, uint64_t offset, uint64_t length, struct ferry_extent **extents,
          size_t *n)
{
    struct map_ctx m = { extents, n };
    return walk(img, offset, length, map_piece, &m);
}

struct read_ctx {
    struct ferry_read_run run;  /* the call's buffer, pending data */
    /* compressed cluster cache for this call */
    uint8_t *cdata, *cluster;
    uint64_t cached_entry;
    bool cached;
    z_stream z;
    bool z_init;
#ifdef FERRY_HAVE_ZSTD
    ZSTD_DCtx *zd;
#endif
};

static int
decompress(struct ferry_image *img, struct read_ctx *r, uint64_t entry)
{
    uint64_t coff = entry & img->coffset_mask;
    uint64_t nsec = ((entry >> img->csize_shift) & img->csize_mask) + 1;
    uint64_t csize = nsec * 512 - (coff & 511);
    ssize_t got;

    if (coff >= img->file_size)
        return ferry_error(FERRY_ERR_FORMAT,
                           "qcow2 '%s': compressed cluster at %llu is past the end of the file",
                           img->src->url, (unsigned long long)coff);
    if (csize > img->file_size - coff)
        csize = img->file_size - coff;   /* the last one may be rounded past the end */
    if (!r->cdata) {
        /* nsec is at most cluster_size / 512 + 1 sectors. */
        r->cdata = ferry_malloc(img->cluster_size + 1024);
        r->cluster = ferry_malloc(img->cluster_size);
    }
    if (csize > img->cluster_size + 1024)
        return ferry_error(FERRY_ERR_FORMAT, "qcow2 '%s': compressed size %llu too large",
                           img->src->url, (unsigned long long)csize);
    got = ferry_source_pread_full(img->src, r->cdata, csize, coff);
    if (got < 0)
        return -1;
    if (img->compression == 0) {
        if (!r->z_init) {
            if (inflateInit2(&r->z, -12) != Z_OK)
                ferry_oom();
            r->z_init = true;
        } else {
            inflateReset(&r->z);
        }
        r->z.next_in = r->cdata;
        r->z.avail_in = got;
        r->z.next_out = r->cluster;
        r->z.avail_out = img->cluster_size;
        int zr = inflate(&r->z, Z_FINISH);
        if (!((zr == Z_STREAM_END || zr == Z_BUF_ERROR) && r->z.avail_out == 0))
            return ferry_error(FERRY_ERR_FORMAT,
                               "qcow2 '%s': compressed cluster at %llu does not inflate to a "
                               "cluster",
                               img->src->url, (unsigned long long)coff);
    } else {
#ifdef FERRY_HAVE_ZSTD
        if (!r->zd)
            r->zd = ZSTD_createDCtx();
        ZSTD_DCtx_reset(r->zd, ZSTD_reset_session_only);
        ZSTD_inBuffer in = { r->cdata, got, 0 };
        ZSTD_outBuffer out = { r->cluster, img->cluster_size, 0 };
        while (out.pos < out.size) {
            size_t zr = ZSTD_decompressStream(r->zd, &out, &in);
            if (ZSTD_isError(zr))
                return ferry_error(FERRY_ERR_FORMAT,
                                   "qcow2 '%s': compressed cluster at %llu: zstd: %s",
                                   img->src->url, (unsigned long long)coff, ZSTD_getErrorName(zr));
            if (out.pos < out.size && (zr == 0 || in.pos == in.size))
                return ferry_error(FERRY_ERR_FORMAT,
                                   "qcow2 '%s': compressed cluster at %llu is truncated",
                                   img->src->url, (unsigned long long)coff);
        }
#endif
    }
    r->cached_entry = entry;
    r->cached = true;
    return 0;
}

static int
read_piece(struct ferry_image *img, void *opaque, uint64_t voff, uint64_t len, enum piece kind,
           uint64_t host, const struct cluster *c)
{
    struct read_ctx *r = opaque;
    uint8_t *dst = r->run.buf + (voff - r->run.base);

    if (kind == P_DATA) {
        if (check_range(img, host, len, "data cluster") < 0)
            return -1;
        return ferry_read_run_add(&r->run, img->src, host, voff, len);
    }
    if (kind == P_ZERO) {
        memset(dst, 0, len);
        return 0;
    }
    if (!r->cached || r->cached_entry != c->entry)
        if (decompress(img, r, c->entry) < 0)
            return -1;
    memcpy(dst, r->cluster + (voff & (img->cluster_size - 1)), len);
    return 0;
}

static int
qcow2_read(struct ferry_image *img, void *buf, size_t len, uint64_t offset)
{
    struct read_ctx r = { .run = { .buf = buf, .base = offset, .what = "qcow2 data" } };
    int ret = walk(img, offset, len, read_piece, &r);

    if (ret == 0)
        ret = ferry_read_run_flush(&r.run);
    if (r.z_init)
        inflateEnd(&r.z);
#ifdef FERRY_HAVE_ZSTD
    ZSTD_freeDCtx(r.zd);
#endif
    free(r.cdata);
    free(r.cluster);
    return ret;
}

static const char *const qcow2_extensions[] = { ".qcow2", ".qcow", NULL };

const struct ferry_format ferry_format_qcow2 = {
    .name = "qcow2",
    .help = "QEMU copy-on-write v2/v3 (zlib or zstd clusters, backing files refused)",
    .extensions = qcow2_extensions,
    .probe = qcow2_probe,
    .needs_random_access = true,
    .open = qcow2_open,
    .virtual_size = qcow2_virtual_size,
    .map = qcow2_map,
    .read = qcow2_read,
    .close = qcow2_close,
    .parallel_read = true,
    .can_stream = qcow2_can_stream,
    .head_bounds = qcow2_head_bounds,
};
