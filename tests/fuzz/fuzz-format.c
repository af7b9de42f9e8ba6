/* libFuzzer target for one image-format reader, chosen at build time with
 * -DFUZZ_FORMAT=<name> (raw, iso, qcow2, vmdk, vdi, vhd, vhdx): the input is
 * an in-memory source fed through probe/probe_tail, open, virtual_size, map
 * and read (and stream, for formats that stream), with bounded work per
 * input so that a 64 TiB virtual size does not make one run take hours.
 *
 * Without libFuzzer, tests/fuzz/replay.c supplies a main() that replays the
 * corpus through the same function, so `make check` runs the seed corpus and
 * the crafted hostile images through the readers under ASan/UBSan.  The
 * corpora are generated at test time (tests/importer-formats/make-corpus.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "importer/format.h"
#include "importer/importer.h"
#include "mem-source.h"
#include <stdbool.h>
#include <sys/types.h>

#ifndef FUZZ_FORMAT
#error "build with -DFUZZ_FORMAT=<format name>"
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
extern const struct ferry_format CAT(ferry_format_, FUZZ_FORMAT);
#define FORMAT CAT(ferry_format_, FUZZ_FORMAT)

/* Work limits per input.  Each data extent is sampled, not read whole:
 * READ_SAMPLE bytes at its start and an unaligned READ_SAMPLE at its end,
 * at most MAX_READ_BYTES per input.  Reading a whole MiB of every extent
 * (up to 8 MiB per input) made a run cost milliseconds of memcpy for no
 * new code: the readers' paths depend on where an extent is, not how much
 * of it is read. */
#define MAX_MAP_CALLS 64
#define MAP_WINDOW (UINT64_C(64) << 20)
#define READ_SAMPLE (UINT64_C(64) << 10)
#define MAX_READ_BYTES (UINT64_C(1) << 20)
#define MAX_EMIT_BYTES (UINT64_C(256) << 20)
/* The stream phase sees at most the first STREAM_SHORT bytes of the image,
 * or STREAM_MAX when the input's length is a multiple of STREAM_LONG_EVERY.  A raw or ISO
 * stream is read to its end whatever it holds, and one over 64 KiB gets two
 * 1 MiB buffers, fresh pages under ASan: an input cost milliseconds of page
 * faults and memset (most of fuzz-raw's and fuzz-iso's time; a 64 MiB
 * FZSPARSE input was read whole).  3 MiB reach the swap of the chunks and a
 * footer across them; a 64th of the inputs pays for that.  (A 16th did:
 * those 3 MiB, fresh pages of the two chunks under ASan, were then 70 % of
 * fuzz-raw's time, and the paths they reach do not depend on the bytes.) */
#define STREAM_SHORT (UINT64_C(60) << 10)
#define STREAM_MAX (UINT64_C(3) << 20)
#define STREAM_LONG_EVERY 64

/* Formats whose structures sit at MiB offsets (VHDX: regions at >= 1 MiB,
 * a 1 MiB log) make plain inputs larger than libFuzzer likes.  An input that
 * starts with "FZSPARSE" is a sparse file instead: a u64 LE file size (at
 * most SPARSE_MAX) then records of u32 LE offset, u16 LE length and that many
 * bytes; everything else is zeros, and a later record overwrites an earlier
 * one.  make-corpus.sh writes such seeds.  The file is never expanded: the
 * source answers each read from the records (a plain input is one record),
 * so a 14 MiB VHDX costs no 14 MiB allocation per run. */
#define SPARSE_MAX (UINT64_C(64) << 20)

struct rec {
    uint64_t off;
    const uint8_t *p;
    size_t len;
};

struct img {
    struct rec *recs;
    size_t nrecs;
    uint64_t size, pos;
};

static ssize_t
img_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    const struct img *m = src->priv;
    if (off >= m->size)
        return 0;
    size_t n = m->size - off < len ? (size_t)(m->size - off) : len;
    memset(buf, 0, n);
    for (size_t i = 0; i < m->nrecs; i++) {
        const struct rec *r = &m->recs[i];
        uint64_t a = r->off > off ? r->off : off;
        uint64_t b = r->off + r->len < off + n ? r->off + r->len : off + n;
        if (a < b)
            memcpy((uint8_t *)buf + (a - off), r->p + (a - r->off), b - a);
    }
    return (ssize_t)n;
}

static ssize_t
img_read(struct ferry_source *src, void *buf, size_t len)
{
    struct img *m = src->priv;
    ssize_t n = img_pread(src, buf, len, m->pos);
    m->pos += (uint64_t)n;
    return n;
}

/* DATA as an image: its records, or one record of all of it. */
static bool
img_init(struct img *m, const uint8_t *data, size_t size)
{
    memset(m, 0, sizeof(*m));
    if (size < 16 || memcmp(data, "FZSPARSE", 8) != 0) {
        m->recs = malloc(sizeof(*m->recs));
        if (!m->recs)
            return false;
        m->recs[0] = (struct rec){ 0, data, size };
        m->nrecs = 1;
        m->size = size;
        return true;
    }
    for (int i = 0; i < 8; i++)
        m->size |= (uint64_t)data[8 + i] << (8 * i);
    if (m->size > SPARSE_MAX)
        m->size = SPARSE_MAX;
    m->recs = malloc(((size - 16) / 6 + 1) * sizeof(*m->recs));
    if (!m->recs)
        return false;
    for (size_t p = 16; p + 6 <= size;) {
        uint64_t off = data[p] | data[p + 1] << 8 | data[p + 2] << 16 | (uint64_t)data[p + 3] << 24;
        size_t len = data[p + 4] | data[p + 5] << 8;
        p += 6;
        if (len > size - p)
            len = size - p;
        if (off < m->size && len)
            m->recs[m->nrecs++] = (struct rec){ off, data + p,
                                                off + len > m->size ? m->size - off : len };
        p += len;
    }
    return true;
}

/* The input's source lives on the stack and is never freed; a sibling's
 * (a heap copy of its struct img) is, by mem_close. */
static const struct ferry_source_ops img_ops = {
    .name = "memory",
    .read = img_read,
    .pread = img_pread,
    .close = mem_close,
};

/* A VMDK descriptor's extents: every sibling is the input itself (its own
 * siblings refused), so the extent lines past the first one, the FLAT
 * bounds checks and SPARSE extents behind a descriptor are reached too. */
static int
self_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    if (ferry_check_relname(src->url, relname) < 0)
        return -1;
    const struct img *m = src->priv;
    struct img *copy = calloc(1, sizeof(*copy));
    if (!copy)
        return ferry_error(FERRY_ERR_NOMEM, "fuzz: out of memory");
    *copy = *m;
    copy->pos = 0;
    struct ferry_source *sib = ferry_source_new(&img_ops, relname);
    sib->priv = copy;
    sib->size = (int64_t)m->size;
    sib->seekable = true;
    *ret = sib;
    return 0;
}

struct emit_state {
    uint64_t bytes;
};

static int
emit(void *opaque, uint64_t off, const void *buf, size_t len)
{
    struct emit_state *st = opaque;
    st->bytes += len;
    if (len)
        (void)((volatile const uint8_t *)buf)[len - 1];
    return st->bytes > MAX_EMIT_BYTES ? -1 : 0;
}

/* Read at most LEN bytes at OFF, within the per-input budget. */
static int
sample(const struct ferry_format *f, struct ferry_image *img, uint64_t off, uint64_t len,
       uint64_t *budget)
{
    static uint8_t buf[READ_SAMPLE];
    if (len > READ_SAMPLE)
        len = READ_SAMPLE;
    if (len > *budget)
        len = *budget;
    if (len == 0)
        return 0;
    *budget -= len;
    return f->read(img, buf, len, off);
}

static void
run_image(const struct ferry_format *f, struct ferry_source *src)
{
    struct ferry_image *img = NULL;
    if (!f->open || f->open(src, &img) < 0)
        return;
    uint64_t vsize = f->virtual_size(img);
    struct ferry_extent *ex = NULL;
    size_t n = 0;
    uint64_t read_budget = MAX_READ_BYTES;
    /* Map the start and the end of the disk, a few windows each. */
    for (int call = 0; call < MAX_MAP_CALLS; call++) {
        uint64_t win = MAP_WINDOW;
        uint64_t off = (uint64_t)(call / 2) * win;
        if (call % 2)
            off = vsize > off + win ? vsize - off - win : 0;
        if (off >= vsize)
            break;
        uint64_t len = vsize - off < win ? vsize - off : win;
        n = 0;
        if (f->map(img, off, len, &ex, &n) < 0)
            break;
        uint64_t covered = 0;
        for (size_t i = 0; i < n; i++) {
            covered += ex[i].length;
            if (ex[i].type != FERRY_EXTENT_DATA)
                continue;
            /* The start of the extent, then its last bytes from an
             * unaligned offset (partial blocks, the extent's end). */
            uint64_t l = ex[i].length;
            if (sample(f, img, ex[i].offset, l, &read_budget) < 0)
                goto out;
            if (l > 3) {
                uint64_t t = l - 3 < READ_SAMPLE - 3 ? l - 3 : READ_SAMPLE - 3;
                if (sample(f, img, ex[i].offset + l - t - 3, t + 3, &read_budget) < 0)
                    goto out;
            }
        }
        if (covered != len)
            abort();  /* map must cover exactly what was asked */
        if (len < win)
            break;
    }
out:
    free(ex);
    f->close(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct ferry_format *f = &FORMAT;
    struct img m;
    if (!img_init(&m, data, size))
        return 0;
    struct ferry_source src = {
        .ops = &img_ops,
        .url = "fuzz.img",
        .size = (int64_t)m.size,
        .seekable = true,
        .priv = &m,
        .open_sibling = self_sibling,
    };
    static uint8_t head[4096], tail[4096];
    size_t hlen = m.size < sizeof(head) ? (size_t)m.size : sizeof(head);
    (void)img_pread(&src, head, hlen, 0);
    (void)img_pread(&src, tail, hlen, m.size - hlen);
    if (f->probe)
        (void)f->probe(head, hlen, (int64_t)m.size);
    if (f->probe_tail)
        (void)f->probe_tail(tail, hlen, (int64_t)m.size);
    if (f->can_stream)
        (void)f->can_stream(head, hlen);

    run_image(f, &src);
    ferry_error_reset();

    if (f->stream) {
        struct ferry_source ssrc = src;
        m.pos = 0;
        uint64_t limit = size % STREAM_LONG_EVERY == 0 ? STREAM_MAX : STREAM_SHORT;
        if (m.size > limit)
            m.size = limit;
        ssrc.seekable = false;
        ssrc.size = -1;
        struct emit_state st = { 0 };
        uint64_t vsize = 0;
        const struct ferry_format *found = f;
        (void)f->stream(&ssrc, emit, &st, &vsize, &found);
        ferry_error_reset();
    }
    free(m.recs);
    return 0;
}
