/* libFuzzer target for the importer's archive and decompression layers
 * (importer/stream.c, importer/archive.c): the gzip decoder of its own
 * (ferry_stream_gunzip), libarchive's filters (gz, xz, lzma, zstd, bz2)
 * through ferry_stream_unpack, tar/OVA member selection (stream and
 * seekable "positional" tars, the --disk N choice, sibling members for a
 * VMDK's extents) and --content-type archive extraction with its path and
 * link checks (ferry_archive_extract).
 *
 * The first input byte chooses the layer (low 3 bits) and the disk number
 * (next bits); the rest is the stream.  Work per input is bounded: at most
 * MAX_OUT decompressed bytes are read.  Extraction goes under a private
 * temporary directory and its verify step always refuses, so nothing is
 * renamed into place and the tree is removed (no sync(2) per input).
 *
 * Without libFuzzer, tests/fuzz/replay.c supplies main() and the ordinary
 * and ASan+UBSan builds replay tests/fuzz/corpus-stream through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/format.h"
#include "importer/importer.h"
#include "mem-source.h"

#define MAX_OUT (UINT64_C(32) << 20)


static const struct ferry_source_ops mem_ops = {
    .name = "memory",
    .read = mem_read,
    .pread = mem_pread,
    .close = mem_close,
};

static struct ferry_source *
mem_source(const uint8_t *data, size_t size, bool seekable)
{
    struct ferry_source *src = ferry_source_new(&mem_ops, "fuzz.ova");
    struct mem *m = ferry_calloc(1, sizeof(*m));
    m->data = data;
    m->size = size;
    src->priv = m;
    src->size = seekable ? (int64_t)size : -1;
    src->seekable = seekable;
    return src;
}

/* Read SRC to its end (at most MAX_OUT bytes), with pread too when it can. */
static void
drain(struct ferry_source *src)
{
    static uint8_t buf[1 << 16];
    uint64_t total = 0;
    ssize_t n;

    if (src->seekable && src->ops->pread && src->size > 0) {
        (void)src->ops->pread(src, buf, 512, 0);
        (void)src->ops->pread(src, buf, 3, (uint64_t)src->size - 1);
        (void)src->ops->pread(src, buf, 512, (uint64_t)src->size + 512);
    }
    while (total < MAX_OUT && (n = src->ops->read(src, buf, sizeof(buf))) > 0)
        total += (uint64_t)n;
}

static int
refuse(void *opaque)
{
    return ferry_error(FERRY_ERR_CHECKSUM, "fuzz: verify refuses");
}

static char *workdir;

/* Extraction removes its own tree; the directory around it goes at exit. */
static void
remove_workdir(void)
{
    if (workdir)
        (void)rmdir(workdir);
}

static void
extract(const uint8_t *data, size_t size)
{
    if (!workdir) {
        char tmpl[] = "/tmp/ferry-fuzz-stream.XXXXXX";
        if (!mkdtemp(tmpl))
            return;
        workdir = ferry_strdup(tmpl);
        atexit(remove_workdir);
    }
    FERRY_AUTOFREE char *dest = ferry_printf("%s/dest", workdir);
    struct ferry_source *src = mem_source(data, size, false);
    (void)ferry_archive_extract(src, dest, -1, -1, refuse, NULL);
    ferry_source_free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] & 7, disk = data[0] >> 3;
    data++;
    size--;
    struct ferry_source *out = NULL;

    /* Stream detection as pipeline.c does it. */
    (void)ferry_stream_is_compressed(data, size);
    (void)ferry_stream_is_tar(data, size);
    (void)ferry_stream_is_gzip(data, size);
    switch (mode) {
    case 0:   /* Ferry's own gzip decoder */
        out = ferry_stream_gunzip(mem_source(data, size, false));
        drain(out);
        break;
    case 1:   /* a compressed disk (raw format after the filters) */
        if (ferry_stream_unpack(mem_source(data, size, false), false, 0, &out) == 0)
            drain(out);
        break;
    case 2:   /* a tar/OVA read as a stream */
    case 3:   /* a tar/OVA on a seekable source: a range of it */
        if (ferry_stream_unpack(mem_source(data, size, mode == 3), true, disk, &out) == 0) {
            struct ferry_source *sib = NULL;
            /* The disk (a VMDK descriptor, say), then its extent in the
             * same tar, as the VMDK reader opens it. */
            drain(out);
            if (ferry_source_open_sibling(out, "disk-flat.vmdk", &sib) == 0) {
                drain(sib);
                ferry_source_free(sib);
            }
        }
        break;
    case 4:   /* --content-type archive */
        extract(data, size);
        break;
    default:
        break;
    }
    ferry_source_free(out);
    ferry_error_reset();
    return 0;
}
