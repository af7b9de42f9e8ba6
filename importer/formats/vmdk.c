/* VMDK reader: hosted sparse extents (monolithicSparse, twoGbMaxExtentSparse)
 * with grain directories and tables, streamOptimized (deflated grains with
 * markers, the grain directory in a footer at the end), flat extents
 * (monolithicFlat, twoGbMaxExtentFlat, vmfs) and descriptor files with
 * several extents.  Extent files are opened through the source's
 * open_sibling, which refuses absolute paths, "..", and symbolic links or
 * URLs leading out of the descriptor's directory.  Delta disks (a parent)
 * and extent types other than FLAT, VMFS, SPARSE and ZERO are refused.
 * Facts from VMware's "Virtual Disk Format 5.0" and qemu's block/vmdk.c.
 * A streamOptimized image from a stream-only source is converted in one
 * pass (stream()); other sparse variants need random access. */
#include <ctype.h>
#include <endian.h>
#include <pthread.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/bytes.h"
#include "importer/importer.h"

#define VMDK_MAGIC "KDMV"
#define GD_AT_END UINT64_C(0xffffffffffffffff)
#define FLAG_COMPRESSED (1u << 16)
#define FLAG_MARKERS (1u << 17)
#define MARKER_EOS 0
#define MARKER_GT 1
#define MARKER_GD 2
#define MARKER_FOOTER 3
#define MAX_EXTENTS 1000
#define MAX_GD_BYTES (16u << 20)
#define MAX_DESCRIPTOR (1u << 20)
#define GT_SLOTS 16

enum vext_type { VEXT_FLAT, VEXT_SPARSE, VEXT_ZERO };

struct gtslot {
    uint64_t index;             /* GD index, UINT64_MAX when empty */
    uint32_t *gt;               /* host order */
    uint64_t used;
};

struct vext {
    enum vext_type type;
    uint64_t start, length;     /* bytes of the virtual disk */
    struct ferry_source *src;   /* owned when own_src */
    bool own_src;
    uint64_t flat_offset;       /* bytes into the file */
    /* sparse */
    uint64_t file_size;
    uint64_t capacity;          /* bytes per the header */
    uint64_t grain;             /* bytes */
    uint64_t gtes;              /* entries per grain table */
    uint64_t gd_entries;
    uint32_t *gd;               /* sector offsets of grain tables */
    bool compressed;
    pthread_mutex_t lock;
    bool lock_init;
    struct gtslot slots[GT_SLOTS];
    uint64_t tick;
};

struct ferry_image {
    struct vext *ext;
    size_t n;
    uint64_t size;
    uint64_t gd_bytes;          /* all extents' grain directories */
};

static bool
is_descriptor_text(const uint8_t *head, size_t len)
{
    static const char sig[] = "# Disk DescriptorFile";
    size_t n = len < 4096 ? len : 4096;

    if (len >= sizeof(sig) - 1 && memcmp(head, sig, sizeof(sig) - 1) == 0)
        return true;
    /* Text only, with a createType line. */
    for (size_t i = 0; i < n; i++)
        if (head[i] == 0 || (head[i] < 32 && !isspace(head[i])))
            return false;
    return memmem(head, n, "createType=", 11) != NULL;
}

static int
vmdk_probe(const uint8_t *head, size_t len, int64_t size)
{
    if (len >= 8 && memcmp(head, VMDK_MAGIC, 4) == 0) {
        uint32_t v = ferry_le32(head + 4);
        return v >= 1 && v <= 3 ? 100 : 0;
    }
    return is_descriptor_text(head, len) ? 80 : 0;
}

static bool
vmdk_can_stream(const uint8_t *head, size_t len)
{
    if (len < 512 || memcmp(head, VMDK_MAGIC, 4) != 0)
        return false;
    uint32_t flags = ferry_le32(head + 8);
    return (flags & FLAG_COMPRESSED) && (flags & FLAG_MARKERS);
}

/* ---- sparse extent header ----------------------------------------------- */

static int
vmdk_head_bounds(const uint8_t *head, size_t len, uint64_t *ret_vsize, uint64_t *ret_max)
{
    if (len < 512 || memcmp(head, VMDK_MAGIC, 4) != 0)
        return -1;   /* a descriptor: its extents are other files */
    uint64_t cap = ferry_le64(head + 12);
    if (cap > FERRY_MAX_VIRTUAL_SIZE / 512)
        return -1;   /* cap * 512 would wrap */
    return ferry_image_head_bounds(cap * 512, 1, ret_vsize, ret_max);
}

struct sparse_header {
    uint32_t version, flags;
    uint64_t capacity, grain, desc_off, desc_size, gd_off, overhead;
    uint32_t gtes;
    uint16_t compress;
};

static void
parse_header(const uint8_t *h, struct sparse_header *s)
{
    s->version = ferry_le32(h + 4);
    s->flags = ferry_le32(h + 8);
    s->capacity = ferry_le64(h + 12);
    s->grain = ferry_le64(h + 20);
    s->desc_off = ferry_le64(h + 28);
    s->desc_size = ferry_le64(h + 36);
    s->gtes = ferry_le32(h + 44);
    s->gd_off = ferry_le64(h + 56);
    s->overhead = ferry_le64(h + 64);
    s->compress = h[77] | (h[78] << 8);
}

static int
check_header(const char *url, const struct sparse_header *s)
{
    if (s->version < 1 || s->version > 3)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vmdk '%s': version %u is not supported", url,
                           s->version);
    /* VMware writes 128-sector grains; 1 MiB bounds the memory of every
     * grain buffer (a hostile header must not make them huge). */
    if (s->grain == 0 || s->grain > 2048 || (s->grain & (s->grain - 1)))
        return ferry_error(FERRY_ERR_FORMAT,
                           "vmdk '%s': grainSize %llu sectors is not a power of two up to 2048",
                           url, (unsigned long long)s->grain);
    if (s->gtes == 0 || s->gtes > 8192)
        return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': numGTEsPerGT %u out of range 1..8192",
                           url, s->gtes);
    if (s->capacity > FERRY_MAX_VIRTUAL_SIZE / 512) {
        FERRY_AUTOFREE char *h = ferry_size_human(s->capacity > UINT64_MAX / 512
                                                      ? UINT64_MAX
                                                      : s->capacity * 512);
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "vmdk '%s': capacity %s is beyond the 64 TiB limit", url, h);
    }
    if ((s->flags & FLAG_COMPRESSED) && s->compress != 1)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vmdk '%s': compressAlgorithm %u unknown", url,
                           s->compress);
    if ((s->flags & FLAG_COMPRESSED) && !(s->flags & FLAG_MARKERS))
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "vmdk '%s': compressed grains without markers", url);
    return 0;
}

/* Open a sparse extent in SRC as virtual bytes [start, start+length). */
static int
open_sparse(struct vext *e, struct ferry_source *src)
{
    uint8_t h[512];
    struct sparse_header s;
    uint64_t gd_bytes, per_gt;

    pthread_mutex_init(&e->lock, NULL);
    e->lock_init = true;
    for (size_t i = 0; i < GT_SLOTS; i++)
        e->slots[i].index = UINT64_MAX;
    e->file_size = src->size;
    if (ferry_source_pread_exact(src, h, 512, 0, "vmdk header") < 0)
        return -1;
    if (memcmp(h, VMDK_MAGIC, 4) != 0)
        return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': sparse extent without the KDMV magic",
                           src->url);
    parse_header(h, &s);
    if (s.gd_off == GD_AT_END) {
        /* streamOptimized: the real header is in the footer. */
        uint8_t f[1536];
        if (src->size < 1536 + 512)
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': too short for a footer", src->url);
        if (ferry_source_pread_exact(src, f, sizeof(f), src->size - 1536, "vmdk footer") < 0)
            return -1;
        if (ferry_le64(f) != 1 || ferry_le32(f + 8) != 0 || ferry_le32(f + 12) != MARKER_FOOTER ||
            memcmp(f + 512, VMDK_MAGIC, 4) != 0 || ferry_le32(f + 1024 + 12) != MARKER_EOS)
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': the footer at the end is invalid",
                               src->url);
        parse_header(f + 512, &s);
        if (s.gd_off == GD_AT_END)
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': the footer has no grain directory",
                               src->url);
    }
    if (check_header(src->url, &s) < 0)
        return -1;
    e->capacity = s.capacity * 512;
    e->grain = s.grain * 512;
    e->gtes = s.gtes;
    e->compressed = s.flags & FLAG_COMPRESSED;
    per_gt = e->grain * e->gtes;
    e->gd_entries = e->capacity / per_gt + (e->capacity % per_gt != 0);
    if (!ferry_mul_ok(e->gd_entries, 4, &gd_bytes) || gd_bytes > MAX_GD_BYTES)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "vmdk '%s': grain directory too large",
                           src->url);
    if (s.gd_off > UINT64_MAX / 512 || s.gd_off * 512 + gd_bytes > (uint64_t)src->size)
        return ferry_error(FERRY_ERR_FORMAT,
                           "vmdk '%s': grain directory at sector %llu is past the end of the file",
                           src->url, (unsigned long long)s.gd_off);
    e->gd = ferry_malloc(gd_bytes ? gd_bytes : 4);
    if (gd_bytes &&
        ferry_source_pread_exact(src, e->gd, gd_bytes, s.gd_off * 512, "vmdk grain directory") < 0)
        return -1;
    for (uint64_t i = 0; i < e->gd_entries; i++) {
        e->gd[i] = le32toh(e->gd[i]);
        if (e->gd[i] && (uint64_t)e->gd[i] * 512 + e->gtes * 4 > (uint64_t)src->size)
            return ferry_error(FERRY_ERR_FORMAT,
                               "vmdk '%s': grain table %llu at sector %u is past the end of the "
                               "file",
                               src->url, (unsigned long long)i, e->gd[i]);
    }
    return 0;
}

/* Copy COUNT grain table entries starting at grain G (inside one table). */
static int
gt_entries(struct vext *e, uint64_t g, uint64_t count, uint32_t *out)
{
    uint64_t gdi = g / e->gtes, first = g % e->gtes;
    struct gtslot *slot = NULL, *victim = NULL;

    if (gdi >= e->gd_entries || e->gd[gdi] == 0) {
        memset(out, 0, count * 4);
        return 0;
    }
    pthread_mutex_lock(&e->lock);
    for (size_t i = 0; i < GT_SLOTS; i++) {
        if (e->slots[i].index == gdi) {
            slot = &e->slots[i];
            break;
        }
        if (!victim || e->slots[i].used < victim->used)
            victim = &e->slots[i];
    }
    if (!slot) {
        slot = victim;
        if (!slot->gt)
            slot->gt = ferry_malloc(e->gtes * 4);
        slot->index = UINT64_MAX;
        if (ferry_source_pread_exact(e->src, slot->gt, e->gtes * 4, (uint64_t)e->gd[gdi] * 512,
                                     "vmdk grain table") < 0) {
            pthread_mutex_unlock(&e->lock);
            return -1;
        }
        for (uint64_t i = 0; i < e->gtes; i++)
            slot->gt[i] = le32toh(slot->gt[i]);
        slot->index = gdi;
    }
    slot->used = ++e->tick;
    memcpy(out, slot->gt + first, count * 4);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

/* ---- descriptor ------------------------------------------------------------ */

static void
vext_release(struct vext *e)
{
    if (e->own_src)
        ferry_source_free(e->src);
    free(e->gd);
    if (e->lock_init) {
        for (size_t i = 0; i < GT_SLOTS; i++)
            free(e->slots[i].gt);
        pthread_mutex_destroy(&e->lock);
    }
}

static void
vmdk_close(struct ferry_image *img)
{
    if (!img)
        return;
    for (size_t i = 0; i < img->n; i++)
        vext_release(&img->ext[i]);
    free(img->ext);
    free(img);
}

static void
vmdk_freep(struct ferry_image **img)
{
    vmdk_close(*img);
}

static struct vext *
add_extent(struct ferry_image *img, enum vext_type type, uint64_t length)
{
    struct vext *e;

    img->ext = ferry_grow(img->ext, img->n, sizeof(*img->ext));
    e = &img->ext[img->n++];
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->start = img->size;
    e->length = length;
    return e;
}

/* Check the descriptor's keys that matter: no parent (delta disks). */
static int
check_descriptor_keys(const char *url, const char *text)
{
    const char *p = strstr(text, "parentCID");
    if (p) {
        const char *v = p + strlen("parentCID");
        while (*v == ' ' || *v == '\t' || *v == '=' || *v == '"')
            v++;
        if (strncasecmp(v, "ffffffff", 8) != 0)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "vmdk '%s': refusing a delta disk (parentCID is set): import the "
                               "consolidated disk",
                               url);
    }
    if (strstr(text, "parentFileNameHint"))
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "vmdk '%s': refusing a delta disk (parentFileNameHint)", url);
    return 0;
}

static int
parse_descriptor(struct ferry_image *img, struct ferry_source *src, char *text)
{
    char *save = NULL;

    if (check_descriptor_keys(src->url, text) < 0)
        return -1;
    for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        char access[16], type[16], name[1024] = "";
        unsigned long long sectors, offset = 0;
        int consumed = 0;

        while (*line == ' ' || *line == '\t')
            line++;
        if (strncmp(line, "RW ", 3) && strncmp(line, "RDONLY ", 7) && strncmp(line, "NOACCESS ", 9))
            continue;
        if (sscanf(line, "%15s %llu %15s %n", access, &sectors, type, &consumed) < 3)
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': bad extent line '%.80s'", src->url,
                               line);
        const char *rest = line + consumed;
        if (*rest == '"') {
            const char *q = strchr(rest + 1, '"');
            if (!q || (size_t)(q - rest - 1) >= sizeof(name))
                return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': bad file name in '%.80s'",
                                   src->url, line);
            memcpy(name, rest + 1, q - rest - 1);
            name[q - rest - 1] = '\0';
            rest = q + 1;
            if (sscanf(rest, "%llu", &offset) < 1)
                offset = 0;
        }
        if (sectors > FERRY_MAX_VIRTUAL_SIZE / 512 ||
            img->size + sectors * 512 > FERRY_MAX_VIRTUAL_SIZE)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "vmdk '%s': the extents add up beyond the 64 TiB limit", src->url);
        if (img->n >= MAX_EXTENTS)
            return ferry_error(FERRY_ERR_UNSUPPORTED, "vmdk '%s': more than %d extents",
                               src->url, MAX_EXTENTS);
        if (strcmp(type, "ZERO") == 0) {
            add_extent(img, VEXT_ZERO, sectors * 512);
            img->size += sectors * 512;
            continue;
        }
        bool flat = strcmp(type, "FLAT") == 0 || strcmp(type, "VMFS") == 0;
        if (!flat && strcmp(type, "SPARSE") != 0)
            return ferry_error(FERRY_ERR_UNSUPPORTED, "vmdk '%s': extent type %s is not supported",
                               src->url, type);
        if (!name[0])
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': extent without a file name",
                               src->url);
        struct ferry_source *sib = NULL;
        if (ferry_source_open_sibling(src, name, &sib) < 0)
            return ferry_error_prefix("vmdk extent '%s'", name);
        struct vext *e = add_extent(img, flat ? VEXT_FLAT : VEXT_SPARSE, sectors * 512);
        e->src = sib;
        e->own_src = true;
        if (!sib->seekable || sib->size < 0)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "vmdk extent '%s': needs random access, which '%s' does not offer "
                               "(a server without Range support?)",
                               name, sib->url);
        if (flat) {
            uint64_t end;
            if (offset > UINT64_MAX / 512 || !ferry_add_ok(offset * 512, e->length, &end) ||
                end > (uint64_t)sib->size)
                return ferry_error(FERRY_ERR_FORMAT,
                                   "vmdk extent '%s': %llu sectors at sector %llu are past the end "
                                   "of the file (%lld bytes)",
                                   name, sectors, offset, (long long)sib->size);
            e->flat_offset = offset * 512;
        } else if (open_sparse(e, sib) < 0) {
            return -1;
        } else {
            img->gd_bytes += e->gd_entries * 4;
            if (img->gd_bytes > MAX_GD_BYTES)
                return ferry_error(FERRY_ERR_UNSUPPORTED,
                                   "vmdk '%s': the grain directories of the extents add up to "
                                   "more than %u MiB",
                                   src->url, MAX_GD_BYTES >> 20);
        }
        img->size += e->length;
    }
    if (img->n == 0)
        return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': the descriptor lists no extents",
                           src->url);
    return 0;
}

static int
vmdk_open(struct ferry_source *src, struct ferry_image **ret)
{
    __attribute__((cleanup(vmdk_freep))) struct ferry_image *img = ferry_calloc(1, sizeof(*img));
    uint8_t h[512];

    if (src->size < 0)
        return ferry_error(FERRY_ERR_INTERNAL, "vmdk '%s': unknown size", src->url);
    size_t hl = src->size < 512 ? src->size : 512;
    if (ferry_source_pread_exact(src, h, hl, 0, "vmdk header") < 0)
        return -1;
    if (hl >= 4 && memcmp(h, VMDK_MAGIC, 4) == 0) {
        /* monolithicSparse or streamOptimized: the file is the one extent;
         * its embedded descriptor only matters for a parent. */
        struct sparse_header s;
        if (hl < 512)
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': header is truncated", src->url);
        parse_header(h, &s);
        if (s.desc_off && s.desc_size && s.desc_size <= MAX_DESCRIPTOR / 512 &&
            s.desc_off <= UINT64_MAX / 512 && s.desc_off * 512 + s.desc_size * 512 <= (uint64_t)src->size) {
            FERRY_AUTOFREE char *text = ferry_calloc(1, s.desc_size * 512 + 1);
            if (ferry_source_pread_exact(src, text, s.desc_size * 512, s.desc_off * 512,
                                         "vmdk descriptor") < 0)
                return -1;
            if (check_descriptor_keys(src->url, text) < 0)
                return -1;
        }
        struct vext *e = add_extent(img, VEXT_SPARSE, 0);
        e->src = src;
        if (open_sparse(e, src) < 0)
            return -1;
        e->length = e->capacity;
        img->size = e->capacity;
    } else {
        if (src->size > MAX_DESCRIPTOR)
            return ferry_error(FERRY_ERR_FORMAT,
                               "vmdk '%s': a descriptor of %lld bytes is too large", src->url,
                               (long long)src->size);
        FERRY_AUTOFREE char *text = ferry_calloc(1, src->size + 1);
        if (ferry_source_pread_exact(src, text, src->size, 0, "vmdk descriptor") < 0)
            return -1;
        /* qemu pads descriptors with NULs: the text ends at the first. */
        if (parse_descriptor(img, src, text) < 0)
            return -1;
    }
    *ret = FERRY_STEAL(img);
    return 0;
}

static uint64_t
vmdk_virtual_size(struct ferry_image *img)
{
    return img->size;
}

/* ---- map and read -------------------------------------------------------- */

/* Find the extent holding OFF (binary search: extents are contiguous). */
static struct vext *
find_extent(struct ferry_image *img, uint64_t off)
{
    size_t lo = 0, hi = img->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        struct vext *e = &img->ext[mid];
        if (off < e->start)
            hi = mid;
        else if (off >= e->start + e->length)
            lo = mid + 1;
        else
            return e;
    }
    return NULL;
}

/* Walk [off, off+len) piece by piece (grain-sized in sparse extents). */
enum vpiece { VP_ZERO, VP_DATA, VP_GRAIN };

typedef int (*vpiece_fn)(struct ferry_image *img, void *opaque, struct vext *e, uint64_t voff,
                         uint64_t len, enum vpiece kind, uint64_t where);

static int
vwalk(struct ferry_image *img, uint64_t off, uint64_t len, vpiece_fn fn, void *opaque)
{
    uint64_t end = off + len;

    if (end > img->size || end < off)
        return ferry_error(FERRY_ERR_INTERNAL, "vmdk: access beyond the disk");
    while (off < end) {
        struct vext *e = find_extent(img, off);
        if (!e)
            return ferry_error(FERRY_ERR_INTERNAL, "vmdk: no extent at %llu",
                               (unsigned long long)off);
        uint64_t stop = e->start + e->length < end ? e->start + e->length : end;
        uint64_t rel = off - e->start;

        if (e->type == VEXT_ZERO) {
            if (fn(img, opaque, e, off, stop - off, VP_ZERO, 0) < 0)
                return -1;
            off = stop;
            continue;
        }
        if (e->type == VEXT_FLAT) {
            if (fn(img, opaque, e, off, stop - off, VP_DATA, e->flat_offset + rel) < 0)
                return -1;
            off = stop;
            continue;
        }
        /* sparse: one grain table at a time */
        while (off < stop) {
            rel = off - e->start;
            if (rel >= e->capacity) {
                if (fn(img, opaque, e, off, stop - off, VP_ZERO, 0) < 0)
                    return -1;
                off = stop;
                break;
            }
            uint64_t g = rel / e->grain;
            uint64_t g_end_bytes = (g / e->gtes + 1) * e->gtes * e->grain;
            uint64_t tstop = e->start + (g_end_bytes < e->capacity ? g_end_bytes : e->capacity);
            if (tstop > stop)
                tstop = stop;
            uint64_t last = (tstop - 1 - e->start) / e->grain;
            uint32_t gte[8192];
            if (gt_entries(e, g, last - g + 1, gte) < 0)
                return -1;
            while (off < tstop) {
                rel = off - e->start;
                uint64_t gi = rel / e->grain;
                uint64_t in = rel % e->grain;
                uint64_t n = e->grain - in;
                if (n > tstop - off)
                    n = tstop - off;
                uint32_t sec = gte[gi - g];
                int r;
                if (sec == 0 || sec == 1) {
                    r = fn(img, opaque, e, off, n, VP_ZERO, 0);
                } else if (e->compressed) {
                    r = fn(img, opaque, e, off, n, VP_GRAIN, (uint64_t)sec * 512);
                } else {
                    uint64_t host = (uint64_t)sec * 512 + in;
                    if ((uint64_t)sec * 512 + e->grain > e->file_size)
                        return ferry_error(FERRY_ERR_FORMAT,
                                           "vmdk '%s': grain at sector %u is past the end of the "
                                           "file",
                                           e->src->url, sec);
                    r = fn(img, opaque, e, off, n, VP_DATA, host);
                }
                if (r < 0)
                    return -1;
                off += n;
            }
        }
    }
    return 0;
}

struct vmap_ctx {
    struct ferry_extent **extents;
    size_t *n;
};

static int
map_piece(struct ferry_image *img, void *opaque, struct vext *e, uint64_t voff, uint64_t len,
          enum vpiece kind, uint64_t where)
{
    struct vmap_ctx *m = opaque;

    if (e->type == VEXT_FLAT) {
        /* A local flat file may itself be sparse: map its holes as zeros. */
        uint64_t pos = where, end = where + len;
        while (pos < end) {
            uint64_t data, hole;
            if (ferry_source_file_next_data(e->src, pos, &data, &hole) < 0) {
                ferry_extent_push(m->extents, m->n, voff + (pos - where), end - pos,
                                  FERRY_EXTENT_DATA);
                return 0;
            }
            if (data >= end)
                break;
            if (hole > end)
                hole = end;
            ferry_extent_push(m->extents, m->n, voff + (pos - where), data - pos,
                              FERRY_EXTENT_ZERO);
            ferry_extent_push(m->extents, m->n, voff + (data - where), hole - data,
                              FERRY_EXTENT_DATA);
            pos = hole;
        }
        ferry_extent_push(m->extents, m->n, voff + (pos - where), end - pos, FERRY_EXTENT_ZERO);
        return 0;
    }
    ferry_extent_push(m->extents, m->n, voff, len,
                      kind == VP_ZERO ? FERRY_EXTENT_ZERO : FERRY_EXTENT_DATA);
    return 0;
}

static int
vmdk_map(struct ferry_image *img, uint64_t offset, uint64_t length, struct ferry_extent **extents,
         size_t *n)
{
    struct vmap_ctx m = { extents, n };
    return vwalk(img, offset, length, map_piece, &m);
}

struct vread_ctx {
    struct ferry_read_run run;  /* the call's buffer, pending data */
    uint8_t *cbuf, *grain;
    size_t cbuf_len, grain_len;
    struct vext *cached_ext;
    uint64_t cached_where;
    z_stream z;
    bool z_init;
};

/* Inflate one grain (zlib format) of at most GRAIN_LEN bytes into OUT;
 * returns the length produced, or -1. */
static ssize_t
inflate_grain(z_stream *z, bool *init, const uint8_t *in, size_t in_len, uint8_t *out,
              size_t out_len, const char *url, uint64_t where)
{
    int zr;

    if (!*init) {
        if (inflateInit(z) != Z_OK)
            ferry_oom();
        *init = true;
    } else {
        inflateReset(z);
    }
    z->next_in = (uint8_t *)in;
    z->avail_in = in_len;
    z->next_out = out;
    z->avail_out = out_len;
    zr = inflate(z, Z_FINISH);
    if (zr != Z_STREAM_END)
        return ferry_error(FERRY_ERR_FORMAT,
                           "vmdk '%s': grain at offset %llu does not inflate within a grain (%s)",
                           url, (unsigned long long)where, z->msg ? z->msg : "corrupt or too large");
    /* The size in the marker is the compressed length: one that overstates
     * it would swallow what follows (on a stream, the next grain). */
    for (size_t i = in_len - z->avail_in; i < in_len; i++)
        if (in[i])
            return ferry_error(FERRY_ERR_FORMAT,
                               "vmdk '%s': grain at offset %llu: its size %zu overstates the "
                               "compressed data (%zu bytes)",
                               url, (unsigned long long)where, in_len, in_len - z->avail_in);
    return out_len - z->avail_out;
}

static int
read_grain(struct vread_ctx *r, struct vext *e, uint64_t where, uint64_t vgrain_sector)
{
    uint8_t m[12];
    uint32_t size;
    ssize_t got;

    if (!r->grain || r->grain_len < e->grain) {
        free(r->grain);
        r->grain = ferry_malloc(e->grain);
        r->grain_len = e->grain;
    }
    if (ferry_source_pread_exact(e->src, m, 12, where, "vmdk grain marker") < 0)
        return -1;
    size = ferry_le32(m + 8);
    if (ferry_le64(m) != vgrain_sector)
        return ferry_error(FERRY_ERR_FORMAT,
                           "vmdk '%s': grain at offset %llu is for sector %llu, not %llu",
                           e->src->url, (unsigned long long)where,
                           (unsigned long long)ferry_le64(m), (unsigned long long)vgrain_sector);
    if (size == 0 || size > 2 * e->grain + 1024)
        return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': grain at offset %llu has size %u",
                           e->src->url, (unsigned long long)where, size);
    if (r->cbuf_len < size) {
        free(r->cbuf);
        r->cbuf = ferry_malloc(size);
        r->cbuf_len = size;
    }
    if (ferry_source_pread_exact(e->src, r->cbuf, size, where + 12, "vmdk grain") < 0)
        return -1;
    got = inflate_grain(&r->z, &r->z_init, r->cbuf, size, r->grain, e->grain, e->src->url, where);
    if (got < 0)
        return -1;
    memset(r->grain + got, 0, e->grain - got);
    r->cached_ext = e;
    r->cached_where = where;
    return 0;
}

static int
read_piece(struct ferry_image *img, void *opaque, struct vext *e, uint64_t voff, uint64_t len,
           enum vpiece kind, uint64_t where)
{
    struct vread_ctx *r = opaque;
    uint8_t *dst = r->run.buf + (voff - r->run.base);

    if (kind == VP_DATA)
        return ferry_read_run_add(&r->run, e->src, where, voff, len);
    if (kind == VP_ZERO) {
        memset(dst, 0, len);
        return 0;
    }
    uint64_t rel = voff - e->start;
    if (r->cached_ext != e || r->cached_where != where)
        if (read_grain(r, e, where, (rel - rel % e->grain) / 512) < 0)
            return -1;
    memcpy(dst, r->grain + rel % e->grain, len);
    return 0;
}

static int
vmdk_read(struct ferry_image *img, void *buf, size_t len, uint64_t offset)
{
    struct vread_ctx r = { .run = { .buf = buf, .base = offset, .what = "vmdk data" } };
    int ret = vwalk(img, offset, len, read_piece, &r);

    if (ret == 0)
        ret = ferry_read_run_flush(&r.run);
    if (r.z_init)
        inflateEnd(&r.z);
    free(r.cbuf);
    free(r.grain);
    return ret;
}

/* ---- stream: streamOptimized in one pass --------------------------------- */


/* Grains are inflated by a few worker threads while the reader thread
 * walks the stream: jobs go through a bounded ring of slots.  The first
 * INLINE_GRAINS grains the reader thread inflates itself: a small image, or
 * a stream refused early, then costs no thread start and no buffers it does
 * not use.  A worker starts when the first grain after those comes, another
 * whenever a job waits, up to MAX_WORKERS (and the CPUs); buffers are
 * allocated as they are needed, up to STREAM_SLOTS. */
#define STREAM_SLOTS 8
#define MAX_WORKERS 4
#define INLINE_GRAINS 16

struct gjob {
    uint8_t *cbuf;
    uint32_t size;
    uint64_t lba;
};

/* One inflater: a worker's, or the reader thread's for its inline grains. */
struct ginfl {
    z_stream z;
    bool z_init;
    uint8_t *out;
};

struct gpool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct gjob slots[STREAM_SLOTS];
    size_t head, count;         /* queued jobs */
    uint8_t *free_bufs[STREAM_SLOTS];
    size_t nfree, nbufs;        /* free, allocated */
    size_t cmax;                /* a buffer's size */
    pthread_t threads[MAX_WORKERS];
    size_t nthreads, max_threads;
    struct ginfl inl;           /* the reader thread's */
    unsigned inline_left;
    bool done, failed;
    struct ferry_error_saved err;   /* the first failure */
    const char *url;
    uint64_t capacity, grain;
    int (*emit)(void *opaque, uint64_t off, const void *buf, size_t len);
    void *opaque;
    /* the reader thread's view of the stream, to prove it complete */
    uint64_t pos;               /* bytes read so far */
    uint64_t header_gd;         /* the header's grain directory sector, GD_AT_END */
    uint64_t gd_sector;         /* where the last GD marker's table was, 0: none */
    bool footer;                /* a valid footer was read */
    /* qemu's streams: the grain directory and tables before the grains
     * (the header points there); expect[grain] is the sector of its marker,
     * 0 when unallocated or seen.  NULL: the tables come in markers. */
    uint32_t *expect;
    uint64_t nexpect, expected, seen;
};

static void
gpool_fail(struct gpool *p)
{
    pthread_mutex_lock(&p->lock);
    p->failed = true;
    ferry_error_save(&p->err);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Inflate JOB's grain and emit it. */
static int
ginfl_run(struct gpool *p, struct ginfl *g, const struct gjob *job)
{
    if (!g->out && posix_memalign((void **)&g->out, 4096, p->grain) != 0)   /* O_DIRECT */
        ferry_oom();
    ssize_t got = inflate_grain(&g->z, &g->z_init, job->cbuf + 12, job->size, g->out, p->grain,
                                p->url, job->lba * 512);
    if (got < 0)
        return -1;
    uint64_t off = job->lba * 512;
    uint64_t len = p->capacity - off < (uint64_t)got ? p->capacity - off : (uint64_t)got;
    return p->emit(p->opaque, off, g->out, len);
}

static void
ginfl_end(struct ginfl *g)
{
    if (g->z_init)
        inflateEnd(&g->z);
    free(g->out);
}

static void
gpool_put_buf(struct gpool *p, uint8_t *buf)
{
    pthread_mutex_lock(&p->lock);
    p->free_bufs[p->nfree++] = buf;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void *
gpool_worker(void *opaque)
{
    struct gpool *p = opaque;
    struct ginfl g = { 0 };

    for (;;) {
        struct gjob job;
        pthread_mutex_lock(&p->lock);
        while (p->count == 0 && !p->done && !p->failed)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->failed || p->count == 0) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        job = p->slots[p->head];
        p->head = (p->head + 1) % STREAM_SLOTS;
        p->count--;
        pthread_mutex_unlock(&p->lock);

        int r = ginfl_run(p, &g, &job);
        gpool_put_buf(p, job.cbuf);
        if (r < 0) {
            gpool_fail(p);
            break;
        }
    }
    ginfl_end(&g);
    return NULL;
}

/* A free compressed-grain buffer, or NULL when a worker failed. */
static uint8_t *
gpool_get_buf(struct gpool *p)
{
    uint8_t *buf = NULL;

    pthread_mutex_lock(&p->lock);
    if (p->nfree == 0 && p->nbufs < STREAM_SLOTS && !p->failed) {
        p->free_bufs[p->nfree++] = ferry_malloc(p->cmax);
        p->nbufs++;
    }
    while (p->nfree == 0 && !p->failed)
        pthread_cond_wait(&p->cond, &p->lock);
    if (!p->failed)
        buf = p->free_bufs[--p->nfree];
    pthread_mutex_unlock(&p->lock);
    return buf;
}

static void
gpool_put_job(struct gpool *p, uint8_t *buf, uint32_t size, uint64_t lba)
{
    pthread_mutex_lock(&p->lock);
    /* A buffer is free, so a slot is free too (slots == buffers). */
    p->slots[(p->head + p->count) % STREAM_SLOTS] = (struct gjob){ buf, size, lba };
    p->count++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Hand a grain on: inflate it here while it is one of the first, else
 * queue it, starting a worker when none runs or a job is waiting.  When no
 * thread can be started, this thread inflates every grain. */
static int
gpool_grain(struct gpool *p, uint8_t *buf, uint32_t size, uint64_t lba)
{
    if (p->nthreads == 0 && p->inline_left > 0)
        p->inline_left--;
    else if (p->nthreads < p->max_threads) {
        pthread_mutex_lock(&p->lock);
        bool want = p->nthreads == 0 || p->count > 0;
        pthread_mutex_unlock(&p->lock);
        if (want && pthread_create(&p->threads[p->nthreads], NULL, gpool_worker, p) == 0)
            p->nthreads++;
    }
    if (p->nthreads == 0) {
        struct gjob job = { buf, size, lba };
        int r = ginfl_run(p, &p->inl, &job);
        gpool_put_buf(p, buf);
        return r;
    }
    gpool_put_job(p, buf, size, lba);
    return 0;
}

static int
skip_bytes(struct ferry_source *src, uint64_t n, uint8_t *buf, size_t buf_len)
{
    while (n) {
        size_t c = n < buf_len ? n : buf_len;
        ssize_t r = ferry_source_read_full(src, buf, c);
        if (r < 0)
            return -1;
        if ((size_t)r < c)
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': the stream ends early", src->url);
        n -= c;
    }
    return 0;
}

/* A marker's data (a grain table, the grain directory, the footer). */
static int
stream_marker(struct ferry_source *src, struct gpool *p, uint32_t type, uint64_t val,
              uint8_t *scratch, size_t cmax)
{
    if (type != MARKER_GT && type != MARKER_GD && type != MARKER_FOOTER)
        return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': unknown marker type %u", src->url,
                           type);
    if (val > (UINT64_C(1) << 40))
        return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': marker of %llu sectors", src->url,
                           (unsigned long long)val);
    if (type == MARKER_GD)
        p->gd_sector = p->pos / 512;
    if (type == MARKER_FOOTER) {
        struct sparse_header f;
        if (val != 1)
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': footer marker of %llu sectors",
                               src->url, (unsigned long long)val);
        ssize_t n = ferry_source_read_full(src, scratch, 512);
        if (n < 0)
            return -1;
        if (n < 512)
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': the stream ends inside the footer",
                               src->url);
        p->pos += 512;
        parse_header(scratch, &f);
        if (memcmp(scratch, VMDK_MAGIC, 4) != 0 || f.capacity * 512 != p->capacity ||
            f.grain * 512 != p->grain || f.gd_off == GD_AT_END)
            return ferry_error(FERRY_ERR_FORMAT,
                               "vmdk '%s': the footer at offset %llu is not a header of this disk",
                               src->url, (unsigned long long)(p->pos - 512));
        if (!p->gd_sector || f.gd_off != p->gd_sector)
            return ferry_error(FERRY_ERR_FORMAT,
                               "vmdk '%s': the footer's grain directory (sector %llu) is not the "
                               "one in the stream",
                               src->url, (unsigned long long)f.gd_off);
        p->footer = true;
        return 0;
    }
    if (skip_bytes(src, val * 512, scratch, cmax) < 0)
        return -1;
    p->pos += val * 512;
    return 0;
}

/* Has the stream proved that it is whole: a footer, or the grain directory
 * the header points to as a marker, or every grain its tables (before the
 * grains) list? */
static bool
stream_complete(const struct gpool *p)
{
    if (p->footer)
        return true;
    if (p->header_gd != GD_AT_END && p->gd_sector && p->gd_sector == p->header_gd)
        return true;
    return p->expect && p->seen == p->expected;
}

/* Read the stream's grains and markers, queueing grains for the pool.  The
 * stream must prove it is whole: an end-of-stream marker after a footer (or
 * after the grain directory the header points to); the end of the source
 * before that is a cut stream, not zeros. */
static int
stream_grains(struct ferry_source *src, struct gpool *p, uint8_t *scratch, size_t cmax)
{
    for (;;) {
        uint8_t *buf = gpool_get_buf(p);
        if (!buf)
            return 0;   /* a worker failed: its error wins */
        ssize_t n = ferry_source_read_full(src, buf, 512);
        if (n < 512) {
            gpool_put_buf(p, buf);
            if (n < 0)
                return -1;
            if (n > 0)
                return ferry_error(FERRY_ERR_FORMAT,
                                   "vmdk '%s': the stream ends inside a marker", src->url);
            if (p->expect && p->seen == p->expected)
                return 0;   /* every grain the tables list came */
            return ferry_error(FERRY_ERR_FORMAT,
                               "vmdk '%s': the stream ends at offset %llu without %s (cut "
                               "short?)",
                               src->url, (unsigned long long)p->pos,
                               p->footer ? "the end-of-stream marker after its footer"
                                         : "its footer and end-of-stream marker");
        }
        uint64_t val = ferry_le64(buf);
        uint32_t size = ferry_le32(buf + 8);
        uint32_t type = ferry_le32(buf + 12);
        if (size == 0) {
            gpool_put_buf(p, buf);
            p->pos += 512;
            if (type == MARKER_EOS) {
                if (!stream_complete(p))
                    return ferry_error(FERRY_ERR_FORMAT,
                                       "vmdk '%s': end-of-stream marker at offset %llu without "
                                       "a footer or the grain directory the header points to",
                                       src->url, (unsigned long long)(p->pos - 512));
                return 0;
            }
            if (stream_marker(src, p, type, val, scratch, cmax) < 0)
                return -1;
            continue;
        }
        /* a grain: lba, size, data; padded to a sector */
        uint64_t total = (12 + (uint64_t)size + 511) & ~UINT64_C(511);
        int r = 0;
        if (size > 2 * p->grain + 1024)
            r = ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': grain for sector %llu has size %u",
                            src->url, (unsigned long long)val, size);
        else if (ferry_source_read_full(src, buf + 512, total - 512) != (ssize_t)(total - 512))
            r = ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': the stream ends inside a grain",
                            src->url);
        else if (val > UINT64_MAX / 512 || val * 512 >= p->capacity || (val * 512) % p->grain)
            r = ferry_error(FERRY_ERR_FORMAT,
                            "vmdk '%s': grain for sector %llu is outside the disk", src->url,
                            (unsigned long long)val);
        if (r < 0) {
            gpool_put_buf(p, buf);
            return -1;
        }
        if (p->expect) {
            uint64_t g = val * 512 / p->grain;
            if (p->expect[g] != p->pos / 512) {
                gpool_put_buf(p, buf);
                return ferry_error(FERRY_ERR_FORMAT,
                                   "vmdk '%s': grain for sector %llu at offset %llu is not where "
                                   "the grain table says (sector %u)",
                                   src->url, (unsigned long long)val,
                                   (unsigned long long)p->pos, p->expect[g]);
            }
            p->expect[g] = 0;
            p->seen++;
        }
        p->pos += total;
        if (gpool_grain(p, buf, size, val) < 0)
            return -1;
    }
}

#define MAX_STREAM_TABLES (UINT64_C(256) << 20)

/* Read the stream up to the first grain (overhead).  When the header's
 * grain directory and its tables lie there (qemu writes them so), keep
 * where each grain must come, so that the stream proves it is whole. */
static int
stream_tables(struct ferry_source *src, const struct sparse_header *s, uint64_t pos,
              struct gpool *p, uint8_t *scratch, size_t cmax)
{
    uint64_t end = s->overhead * 512;
    uint64_t ngrains = (p->capacity + p->grain - 1) / p->grain;
    uint64_t ngt = (ngrains + s->gtes - 1) / s->gtes;

    if (s->gd_off == GD_AT_END || s->gd_off > UINT64_MAX / 1024 || s->gd_off * 512 < pos ||
        s->gd_off * 512 + ngt * 4 > end || end - pos > MAX_STREAM_TABLES ||
        ngrains * 4 > MAX_STREAM_TABLES)
        return skip_bytes(src, end - pos, scratch, cmax);
    FERRY_AUTOFREE uint8_t *meta = ferry_malloc(end - pos);
    if (ferry_source_read_full(src, meta, end - pos) != (ssize_t)(end - pos))
        return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': the stream ends early", src->url);
    p->expect = ferry_calloc(ngrains ? ngrains : 1, sizeof(uint32_t));
    p->nexpect = ngrains;
    for (uint64_t t = 0; t < ngt; t++) {
        uint64_t gt = ferry_le32(meta + s->gd_off * 512 - pos + t * 4);
        if (gt == 0)
            continue;
        if (gt * 512 < pos || gt * 512 + (uint64_t)s->gtes * 4 > end)
            return ferry_error(FERRY_ERR_FORMAT,
                               "vmdk '%s': grain table %llu at sector %llu is not before the "
                               "grains",
                               src->url, (unsigned long long)t, (unsigned long long)gt);
        for (uint64_t i = 0; i < s->gtes && t * s->gtes + i < ngrains; i++) {
            uint32_t e = ferry_le32(meta + gt * 512 - pos + i * 4);
            if (e <= 1)
                continue;
            if ((uint64_t)e < s->overhead)
                return ferry_error(FERRY_ERR_FORMAT,
                                   "vmdk '%s': grain %llu at sector %u is inside the header area",
                                   src->url, (unsigned long long)(t * s->gtes + i), e);
            p->expect[t * s->gtes + i] = e;
            p->expected++;
        }
    }
    return 0;
}

static int
vmdk_stream(struct ferry_source *src,
            int (*emit)(void *opaque, uint64_t off, const void *buf, size_t len), void *opaque,
            uint64_t *ret_virtual_size, const struct ferry_format **ret_format)
{
    uint8_t h[512];
    struct sparse_header s;
    uint64_t pos;
    struct gpool p = { .url = src->url, .emit = emit, .opaque = opaque,
                       .inline_left = INLINE_GRAINS };
    size_t cmax;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    FERRY_AUTOFREE uint8_t *scratch = NULL;
    int r;

    if (ferry_source_read_full(src, h, 512) != 512 || memcmp(h, VMDK_MAGIC, 4) != 0)
        return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': no sparse header", src->url);
    parse_header(h, &s);
    if (check_header(src->url, &s) < 0)
        return -1;
    if (!(s.flags & FLAG_COMPRESSED))
        return ferry_error(FERRY_ERR_INTERNAL, "vmdk '%s': not streamOptimized", src->url);
    p.capacity = s.capacity * 512;
    p.grain = s.grain * 512;
    cmax = 2 * p.grain + 1024 + 512;
    scratch = ferry_malloc(cmax);
    pos = 512;
    if (s.desc_off || s.desc_size) {
        /* The embedded descriptor (a parent?) is read wherever it is; the
         * grains start after it at the earliest. */
        if (!s.desc_off || !s.desc_size || s.desc_size > MAX_DESCRIPTOR / 512 ||
            s.desc_off > (UINT64_C(1) << 40))
            return ferry_error(FERRY_ERR_FORMAT,
                               "vmdk '%s': embedded descriptor of %llu sectors at sector %llu is "
                               "invalid",
                               src->url, (unsigned long long)s.desc_size,
                               (unsigned long long)s.desc_off);
        FERRY_AUTOFREE char *text = ferry_calloc(1, s.desc_size * 512 + 1);
        if (skip_bytes(src, s.desc_off * 512 - pos, scratch, cmax) < 0)
            return -1;
        if (ferry_source_read_full(src, text, s.desc_size * 512) != (ssize_t)(s.desc_size * 512))
            return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': the stream ends early", src->url);
        if (check_descriptor_keys(src->url, text) < 0)
            return -1;
        pos = (s.desc_off + s.desc_size) * 512;
    }
    if (s.overhead > UINT64_MAX / 512 || s.overhead * 512 < pos)
        s.overhead = pos / 512;
    p.header_gd = s.gd_off;
    if (stream_tables(src, &s, pos, &p, scratch, cmax) < 0) {
        free(p.expect);
        return -1;
    }
    p.pos = s.overhead * 512;

    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    p.cmax = cmax;
    p.max_threads = cpus < 1 ? 1 : cpus < MAX_WORKERS ? (size_t)cpus : MAX_WORKERS;
    r = stream_grains(src, &p, scratch, cmax);
    if (r < 0)
        gpool_fail(&p);   /* stops the workers; keeps this thread's error */
    pthread_mutex_lock(&p.lock);
    p.done = true;
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.lock);
    for (size_t i = 0; i < p.nthreads; i++)
        pthread_join(p.threads[i], NULL);
    if (r == 0 && p.failed) {
        ferry_error_restore(&p.err);
        r = -1;
    }
    for (size_t i = 0; i < p.nfree; i++)
        free(p.free_bufs[i]);
    for (size_t i = 0; i < p.count; i++)   /* left queued after a failure */
        free(p.slots[(p.head + i) % STREAM_SLOTS].cbuf);
    ginfl_end(&p.inl);
    free(p.err.message);
    free(p.expect);
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.cond);
    if (r == 0)
        *ret_virtual_size = p.capacity;
    return r;
}

static const char *const vmdk_extensions[] = { ".vmdk", NULL };

const struct ferry_format ferry_format_vmdk = {
    .name = "vmdk",
    .help = "VMware disk: monolithic/split sparse or flat, streamOptimized, ESXi descriptors",
    .extensions = vmdk_extensions,
    .probe = vmdk_probe,
    .needs_random_access = true,
    .open = vmdk_open,
    .virtual_size = vmdk_virtual_size,
    .map = vmdk_map,
    .read = vmdk_read,
    .close = vmdk_close,
    .stream = vmdk_stream,
    .parallel_read = true,
    .can_stream = vmdk_can_stream,
    .head_bounds = vmdk_head_bounds,
};
