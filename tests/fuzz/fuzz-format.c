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

#ifndef FUZZ_FORMAT
#error "build with -DFUZZ_FORMAT=<format name>"
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
extern const struct ferry_format CAT(ferry_format_, FUZZ_FORMAT);
#define FORMAT CAT(ferry_format_, FUZZ_FORMAT)

/* Work limits per input. */
#define MAX_MAP_CALLS 64
#define MAP_WINDOW (UINT64_C(64) << 20)
#define MAX_READ_BYTES (UINT64_C(8) << 20)
#define MAX_EMIT_BYTES (UINT64_C(256) << 20)


static const struct ferry_source_ops mem_ops = {
    .name = "memory",
    .read = mem_read,
    .pread = mem_pread,
};

static int
no_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    return ferry_error(FERRY_ERR_SECURITY, "fuzz: no sibling files ('%s')", relname);
}

static void
sib_close(struct ferry_source *src)
{
    free(src->priv);
}

static const struct ferry_source_ops sib_ops = {
    .name = "memory",
    .read = mem_read,
    .pread = mem_pread,
    .close = sib_close,
};

/* A VMDK descriptor's extents: every sibling is the input itself (its own
 * siblings refused), so the extent lines past the first one, the FLAT
 * bounds checks and SPARSE extents behind a descriptor are reached too. */
static int
self_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    if (ferry_check_relname(src->url, relname) < 0)
        return -1;
    const struct mem *m = src->priv;
    struct mem *copy = calloc(1, sizeof(*copy));
    if (!copy)
        return ferry_error(FERRY_ERR_NOMEM, "fuzz: out of memory");
    copy->data = m->data;
    copy->size = m->size;
    struct ferry_source *sib = ferry_source_new(&sib_ops, relname);
    sib->priv = copy;
    sib->size = (int64_t)m->size;
    sib->seekable = true;
    sib->open_sibling = no_sibling;
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
    uint8_t *buf = malloc(1 << 20);
    /* Map the start and the end of the disk, a few windows each. */
    for (int call = 0; call < MAX_MAP_CALLS && buf; call++) {
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
            uint64_t rl = ex[i].length < (1 << 20) ? ex[i].length : (1 << 20);
            if (rl > read_budget)
                rl = read_budget;
            if (rl == 0)
                continue;
            if (f->read(img, buf, rl, ex[i].offset) < 0)
                goto out;
            read_budget -= rl;
            /* An unaligned tail read exercises partial blocks. */
            if (rl > 3 && f->read(img, buf, 3, ex[i].offset + rl - 3) < 0)
                goto out;
        }
        if (covered != len)
            abort();  /* map must cover exactly what was asked */
        if (len < win)
            break;
    }
out:
    free(buf);
    free(ex);
    f->close(img);
}

/* Formats whose structures sit at MiB offsets (VHDX: regions at >= 1 MiB,
 * a 1 MiB log) make plain inputs larger than libFuzzer likes.  An input that
 * starts with "FZSPARSE" is a sparse file instead: a u64 LE file size (at
 * most SPARSE_MAX) then records of u32 LE offset, u16 LE length and that many
 * bytes; everything else is zeros.  make-corpus.sh writes such seeds. */
#define SPARSE_MAX (UINT64_C(64) << 20)

static uint8_t *
unsparse(const uint8_t *data, size_t size, size_t *ret_size)
{
    uint64_t total = 0;
    if (size < 16 || memcmp(data, "FZSPARSE", 8) != 0)
        return NULL;
    for (int i = 0; i < 8; i++)
        total |= (uint64_t)data[8 + i] << (8 * i);
    if (total > SPARSE_MAX)
        total = SPARSE_MAX;
    uint8_t *buf = calloc(1, total ? total : 1);
    if (!buf)
        return NULL;
    for (size_t p = 16; p + 6 <= size;) {
        uint64_t off = data[p] | data[p + 1] << 8 | data[p + 2] << 16 | (uint64_t)data[p + 3] << 24;
        size_t len = data[p + 4] | data[p + 5] << 8;
        p += 6;
        if (len > size - p)
            len = size - p;
        if (off < total)
            memcpy(buf + off, data + p, off + len > total ? total - off : len);
        p += len;
    }
    *ret_size = total;
    return buf;
}

static int run_input(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    uint8_t *sparse = unsparse(data, size, &n);
    if (!sparse)
        return run_input(data, size);
    run_input(sparse, n);
    free(sparse);
    return 0;
}

static int
run_input(const uint8_t *data, size_t size)
{
    const struct ferry_format *f = &FORMAT;
    size_t head = size < 4096 ? size : 4096;
    if (f->probe)
        (void)f->probe(data, head, (int64_t)size);
    if (f->probe_tail)
        (void)f->probe_tail(data + size - head, head, (int64_t)size);
    if (f->can_stream)
        (void)f->can_stream(data, head);

    struct mem m = { .data = data, .size = size };
    struct ferry_source src = {
        .ops = &mem_ops,
        .url = "fuzz.img",
        .size = (int64_t)size,
        .seekable = true,
        .priv = &m,
        .open_sibling = self_sibling,
    };
    run_image(f, &src);
    ferry_error_reset();

    if (f->stream) {
        struct mem sm = { .data = data, .size = size };
        struct ferry_source ssrc = src;
        ssrc.priv = &sm;
        ssrc.seekable = false;
        ssrc.size = -1;
        struct emit_state st = { 0 };
        uint64_t vsize = 0;
        const struct ferry_format *found = f;
        (void)f->stream(&ssrc, emit, &st, &vsize, &found);
        ferry_error_reset();
    }
    return 0;
}
