/* Unit tests of the importer's library (run under ASan+UBSan by make
 * check): checksum specs, extent arrays, probing by content, qcow2 and VMDK
 * header refusals on crafted files, the raw stream at its buffers' sizes,
 * the sink's zero detection and atomic commit, whole imports of raw and
 * gzip-streamed images, and archive refusals. */
#include <archive.h>
#include <archive_entry.h>
#include <endian.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/importer.h"
#include "../unit/testlib.h"

extern const struct ferry_format ferry_format_qcow2, ferry_format_vmdk, ferry_format_raw,
    ferry_format_iso;

static char dir[] = "/tmp/ferry-test-importer.XXXXXX";

static char *
path(const char *name)
{
    return ferry_printf("%s/%s", dir, name);
}

static void
write_file(const char *name, const void *buf, size_t len, uint64_t size)
{
    FERRY_AUTOFREE char *p = path(name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
    if (size)
        assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
}

static int
setup(void **state)
{
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int
teardown(void **state)
{
    ferry_rm_rf(dir);
    return 0;
}

static void
test_checksum(void **state)
{
    struct ferry_checksum *sum = NULL;

    assert_int_equal(ferry_checksum_new("sha256", &sum), -1);
    assert_non_null(strstr(ferry_error_message(), "ALG:HEX"));
    assert_int_equal(ferry_checksum_new("crc32:00000000", &sum), -1);
    assert_non_null(strstr(ferry_error_message(), "unknown algorithm 'crc32'"));
    assert_int_equal(ferry_checksum_new("md5:abc", &sum), -1);
    assert_non_null(strstr(ferry_error_message(), "32 hex digits"));
    assert_int_equal(ferry_checksum_new("md5:900150983cd24fb0d6963f7d28e17f7g", &sum), -1);

    assert_int_equal(ferry_checksum_new("MD5:900150983CD24FB0D6963F7D28E17F72", &sum), 0);
    ferry_checksum_update(sum, "ab", 2);
    ferry_checksum_update(sum, "c", 1);
    assert_int_equal(ferry_checksum_verify(sum), 0);
    ferry_checksum_free(sum);

    assert_int_equal(ferry_checksum_new("sha1:a9993e364706816aba3e25717850c26c9cd0d89e", &sum), 0);
    ferry_checksum_update(sum, "abd", 3);
    assert_int_equal(ferry_checksum_verify(sum), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_CHECKSUM);
    assert_non_null(strstr(ferry_error_message(), "checksum mismatch: sha1 expected a9993e"));
    ferry_checksum_free(sum);
}

static void
test_extent_push(void **state)
{
    struct ferry_extent *e = NULL;
    size_t n = 0;

    ferry_extent_push(&e, &n, 0, 10, FERRY_EXTENT_DATA);
    ferry_extent_push(&e, &n, 10, 5, FERRY_EXTENT_DATA);
    ferry_extent_push(&e, &n, 15, 0, FERRY_EXTENT_ZERO);
    ferry_extent_push(&e, &n, 15, 5, FERRY_EXTENT_ZERO);
    ferry_extent_push(&e, &n, 30, 5, FERRY_EXTENT_ZERO);
    assert_int_equal(n, 3);
    assert_int_equal(e[0].length, 15);
    assert_int_equal(e[1].offset, 15);
    assert_int_equal(e[2].offset, 30);
    /* Past the first doublings, then again from n == 0 on the same array
     * (a map call reuses it): every extent kept, none merged. */
    for (int round = 0; round < 2; round++) {
        n = 0;
        for (uint64_t i = 0; i < 1000; i++)
            ferry_extent_push(&e, &n, 2 * i, 1, FERRY_EXTENT_DATA);
        assert_int_equal(n, 1000);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(e[i].offset, 2 * i);
    }
    free(e);
}

/* ferry_ramp: 64 KiB until that much has been read, then the maximum. */
static void
test_ramp(void **state)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(ferry_ramp(&buf, &len, 0, 1 << 20), FERRY_RAMP_FIRST);
    assert_non_null(buf);
    memset(buf, 1, len);
    assert_int_equal(ferry_ramp(&buf, &len, FERRY_RAMP_FIRST - 1, 1 << 20), FERRY_RAMP_FIRST);
    assert_int_equal(ferry_ramp(&buf, &len, FERRY_RAMP_FIRST, 1 << 20), 1 << 20);
    memset(buf, 2, len);
    assert_int_equal(ferry_ramp(&buf, &len, 5 << 20, 1 << 20), 1 << 20);
    free(buf);
    buf = NULL;
    len = 0;
    assert_int_equal(ferry_ramp(&buf, &len, 1 << 20, 4096), FERRY_RAMP_FIRST);
    free(buf);
}

/* The gzip layer reads its input through ferry_ramp: members whose
 * compressed size is around its first 64 KiB and past its 1 MiB reads
 * decode whole, every byte at its place. */
static void
test_gunzip_sizes(void **state)
{
    static const size_t sizes[] = { 1, 65535, 65536, 65537, 3 << 20 };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
        size_t len = sizes[k];
        FERRY_AUTOFREE uint8_t *data = ferry_malloc(len);
        uint32_t x = 2463534242u;
        for (size_t i = 0; i < len; i++) {      /* xorshift: incompressible */
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            data[i] = (uint8_t)x;
        }
        FERRY_AUTOFREE char *p = path("ramp.gz");
        gzFile gz = gzopen(p, "wb");
        assert_non_null(gz);
        assert_int_equal(gzwrite(gz, data, len), (int)len);
        assert_int_equal(gzclose(gz), Z_OK);
        struct ferry_source *src;
        assert_int_equal(ferry_source_open(p, &src), 0);
        src = ferry_stream_gunzip(src);
        FERRY_AUTOFREE uint8_t *out = ferry_malloc(len + 1);
        assert_int_equal(ferry_source_read_full(src, out, len + 1), (ssize_t)len);
        assert_memory_equal(out, data, len);
        ferry_source_free(src);
    }
}

struct collect {
    uint8_t *buf;
    size_t len;
};

static int
collect(void *opaque, uint64_t off, const void *buf, size_t len)
{
    struct collect *c = opaque;
    assert_true(off + len <= c->len);
    memcpy(c->buf + off, buf, len);
    return 0;
}

/* ferry_raw_stream at the sizes around its buffers (a 64 KiB first read,
 * then two 1 MiB chunks): every byte comes out once, at its offset. */
static void
test_raw_stream_sizes(void **state)
{
    static const size_t sizes[] = { 0, 1, 511, 512, 65535, 65536, 65537, 1 << 20,
                                    (1 << 20) + 1, (1 << 20) + 511, (1 << 20) + 512,
                                    (2 << 20) + 4097, (3 << 20) };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
        size_t len = sizes[k];
        FERRY_AUTOFREE uint8_t *data = ferry_malloc(len + 1);
        for (size_t i = 0; i < len; i++)
            data[i] = (uint8_t)(i * 7 + i / 4096 + 1);
        write_file("stream.raw", data, len, 0);
        FERRY_AUTOFREE char *p = path("stream.raw");
        struct ferry_source *src;
        assert_int_equal(ferry_source_open(p, &src), 0);
        struct collect c = { ferry_calloc(1, len + 1), len };
        uint64_t vsize = 0;
        const struct ferry_format *fmt = &ferry_format_raw;
        assert_int_equal(ferry_raw_stream(src, collect, &c, &vsize, &fmt), 0);
        assert_int_equal(vsize, len);
        assert_ptr_equal(fmt, &ferry_format_raw);
        assert_memory_equal(c.buf, data, len);
        free(c.buf);
        ferry_source_free(src);
    }
}

static void
test_probe(void **state)
{
    uint8_t *head = ferry_calloc(1, 64 << 10);

    assert_ptr_equal(ferry_format_probe(head, 64 << 10, 1 << 20, NULL, 0), &ferry_format_raw);
    memcpy(head + 0x8001, "CD001", 5);
    assert_ptr_equal(ferry_format_probe(head, 64 << 10, 1 << 20, NULL, 0), &ferry_format_iso);
    memcpy(head, "QFI\xfb\0\0\0\3", 8);
    assert_ptr_equal(ferry_format_probe(head, 64 << 10, 1 << 20, NULL, 0), &ferry_format_qcow2);
    memcpy(head, "QFI\xfb\0\0\0\7", 8);   /* an unknown version is not qcow2 */
    assert_ptr_not_equal(ferry_format_probe(head, 64 << 10, 1 << 20, NULL, 0), &ferry_format_qcow2);
    memcpy(head, "KDMV\1\0\0\0", 8);
    assert_ptr_equal(ferry_format_probe(head, 64 << 10, 1 << 20, NULL, 0), &ferry_format_vmdk);
    const char *d = "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\n";
    assert_ptr_equal(ferry_format_probe((const uint8_t *)d, strlen(d), strlen(d), NULL, 0),
                     &ferry_format_vmdk);
    uint8_t gz[3] = { 0x1f, 0x8b, 8 };
    assert_true(ferry_stream_is_compressed(gz, 3));
    assert_true(ferry_stream_is_compressed((const uint8_t *)"\xfd" "7zXZ\0", 6));
    assert_false(ferry_stream_is_compressed(head, 64));
    free(head);
}

/* A qcow2 v3 header: 64 KiB clusters, 64 MiB, L1 at 196608, refcount table
 * at 65536, in a file of FILE_SIZE bytes. */
static void
qcow2_header(uint8_t *h)
{
    uint32_t v32;
    uint64_t v64;
#define BE32(off, v) (v32 = htobe32(v), memcpy(h + (off), &v32, 4))
#define BE64(off, v) (v64 = htobe64(v), memcpy(h + (off), &v64, 8))
    memset(h, 0, 512);
    memcpy(h, "QFI\xfb", 4);
    BE32(4, 3);
    BE32(20, 16);
    BE64(24, 64 << 20);
    BE32(36, 1);
    BE64(40, 196608);
    BE64(48, 65536);
    BE32(56, 1);
    BE32(96, 4);
    BE32(100, 104);
}

static int
qcow2_open_file(const char *name, const uint8_t *h, uint64_t size)
{
    FERRY_AUTOFREE char *p = path(name);
    struct ferry_source *src = NULL;
    struct ferry_image *img = NULL;
    int r;

    write_file(name, h, 512, size);
    assert_int_equal(ferry_source_open(p, &src), 0);
    r = ferry_format_qcow2.open(src, &img);
    if (r == 0) {
        assert_int_equal(ferry_format_qcow2.virtual_size(img), 64 << 20);
        ferry_format_qcow2.close(img);
    }
    ferry_source_free(src);
    return r;
}

static void
test_qcow2_header(void **state)
{
    /* The header with up to two fields set (big-endian, WIDTH bytes at OFF),
     * written as NAME, SIZE bytes long: opened, or refused saying WANT. */
    static const struct {
        const char *name;
        struct {
            unsigned off, width;
            uint64_t v;
        } set[2];
        uint64_t size;
        const char *want;
    } cases[] = {
        { "ok.qcow2", { { 0 } }, 262144, NULL },
        { "b.qcow2", { { 8, 8, 4096 }, { 16, 4, 8 } }, 262144, "backing file" },
        { "c.qcow2", { { 32, 4, 2 } }, 262144, "encrypted" },
        { "d.qcow2", { { 20, 4, 8 } }, 262144, "cluster_bits 8 out of range" },
        { "e.qcow2", { { 0 } }, 196608, "L1 table at offset 196608" },
        { "f.qcow2", { { 24, 8, UINT64_MAX } }, 262144, "64 TiB limit" },
        { "g.qcow2", { { 72, 8, 1 << 2 } }, 262144, "external data file" },
        /* A header extension naming an external data file. */
        { "h.qcow2", { { 104, 4, 0x44415441 }, { 108, 4, 8 } }, 262144, "external data file" },
        /* An extension that runs past the first cluster. */
        { "i.qcow2", { { 104, 4, 0x12345678 }, { 108, 4, 0x7fffffff } }, 262144, "runs past" },
    };
    uint8_t h[512];
    uint32_t v32;
    uint64_t v64;

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(cases); i++) {
        qcow2_header(h);
        for (size_t j = 0; j < 2 && cases[i].set[j].width; j++) {
            if (cases[i].set[j].width == 4)
                BE32(cases[i].set[j].off, (uint32_t)cases[i].set[j].v);
            else
                BE64(cases[i].set[j].off, cases[i].set[j].v);
        }
        if (!cases[i].want) {
            assert_int_equal(qcow2_open_file(cases[i].name, h, cases[i].size), 0);
            continue;
        }
        assert_int_equal(qcow2_open_file(cases[i].name, h, cases[i].size), -1);
        if (!strstr(ferry_error_message(), cases[i].want))
            fail_msg("%s: '%s', want '%s'", cases[i].name, ferry_error_message(), cases[i].want);
    }
#undef BE32
#undef BE64
}

static void
test_vmdk_extent_escape(void **state)
{
    const char *desc = "# Disk DescriptorFile\nversion=1\nparentCID=ffffffff\n"
                       "createType=\"monolithicFlat\"\nRW 8 FLAT \"../../etc/passwd\" 0\n";
    FERRY_AUTOFREE char *p = path("esc.vmdk");
    struct ferry_source *src = NULL;
    struct ferry_image *img = NULL;

    write_file("esc.vmdk", desc, strlen(desc), 0);
    assert_int_equal(ferry_source_open(p, &src), 0);
    assert_int_equal(ferry_format_vmdk.open(src, &img), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_SECURITY);
    assert_non_null(strstr(ferry_error_message(), "leaves the directory"));
    ferry_source_free(src);
}

static void
test_sink(void **state)
{
    FERRY_AUTOFREE char *dest = path("sink.raw");
    FERRY_AUTOFREE uint8_t *buf = ferry_calloc(1, 64 << 10);
    struct ferry_sink *sink = NULL;
    struct stat st;

    /* Not committed: nothing stays. */
    assert_int_equal(ferry_sink_open(dest, 1 << 20, &sink), 0);
    ferry_sink_free(sink);
    assert_int_equal(stat(dest, &st), -1);

    buf[5000] = 1;           /* block 1 */
    buf[40000] = 2;          /* block 9 */
    assert_int_equal(ferry_sink_open(dest, 1 << 20, &sink), 0);
    assert_int_equal(ferry_sink_write(sink, 4096, buf, 64 << 10), 0);
    assert_int_equal(ferry_sink_data_bytes(sink), 2 * 4096);
    assert_int_equal(ferry_sink_commit(sink), 0);
    ferry_sink_free(sink);
    assert_int_equal(stat(dest, &st), 0);
    assert_int_equal(st.st_size, 1 << 20);

    FERRY_AUTOFREE uint8_t *back = ferry_malloc(64 << 10);
    int fd = open(dest, O_RDONLY);
    assert_int_equal(pread(fd, back, 64 << 10, 4096), 64 << 10);
    close(fd);
    assert_memory_equal(back, buf, 64 << 10);

    assert_int_equal(ferry_sink_error_too_small(20ull << 30, 10ull << 30), -1);
    assert_string_equal(ferry_error_message(),
                        "virtual size 20 GiB is larger than the 10 GiB volume");
}

/* Discarding what a stream wrote past the end of its disk: it reads as
 * zeros, and the data count keeps only what a write stopping there would
 * have counted (a block that straddles the cut counts its part before the
 * cut when that part holds data). */
static void
test_sink_discard(void **state)
{
    FERRY_AUTOFREE char *dest = path("discard.raw");
    FERRY_AUTOFREE uint8_t *buf = ferry_calloc(1, 64 << 10);
    FERRY_AUTOFREE uint8_t *back = ferry_malloc(64 << 10);
    struct ferry_sink *sink = NULL;

    buf[100] = 1;            /* block 0 */
    buf[4096 + 3000] = 2;    /* block 1: after a cut at 4096 + 1024 */
    buf[8192 + 10] = 3;      /* block 2: before a cut at 8192 + 512 */
    buf[8192 + 600] = 4;     /*          and after it */
    buf[40000] = 5;          /* block 9 */
    assert_int_equal(ferry_sink_open(dest, 0, &sink), 0);
    assert_int_equal(ferry_sink_write(sink, 0, buf, 64 << 10), 0);
    assert_int_equal(ferry_sink_data_bytes(sink), 4 * 4096);
    /* Block 2 stays, as 512 bytes; 3.. go. */
    assert_int_equal(ferry_sink_discard(sink, 8192 + 512, (64 << 10) - 8192 - 512), 0);
    assert_int_equal(ferry_sink_data_bytes(sink), 2 * 4096 + 512);
    /* Block 1 keeps nothing before the cut: it goes whole. */
    assert_int_equal(ferry_sink_discard(sink, 4096 + 1024, 4096 - 1024 + 512), 0);
    assert_int_equal(ferry_sink_data_bytes(sink), 4096);
    assert_int_equal(ferry_sink_set_size(sink, 64 << 10), 0);
    assert_int_equal(ferry_sink_commit(sink), 0);
    ferry_sink_free(sink);

    int fd = open(dest, O_RDONLY);
    assert_int_equal(pread(fd, back, 64 << 10, 0), 64 << 10);
    close(fd);
    memset(buf + 4096 + 1024, 0, (64 << 10) - 4096 - 1024);
    assert_memory_equal(back, buf, 64 << 10);
}

static void
test_import_raw_and_gzip(void **state)
{
    FERRY_AUTOFREE char *src = path("disk.raw");
    FERRY_AUTOFREE char *gzp = path("disk.raw.gz");
    FERRY_AUTOFREE char *dest = path("out.raw");
    FERRY_AUTOFREE char *dest2 = path("out2.raw");
    FERRY_AUTOFREE uint8_t *data = ferry_malloc(3 << 20);
    FERRY_AUTOFREE uint8_t *back = ferry_malloc(3 << 20);
    struct ferry_import_result res = { 0 };
    struct ferry_import_options o = { .url = src, .dest = dest, .progress = FERRY_PROGRESS_NONE };

    for (size_t i = 0; i < (3 << 20); i++)
        data[i] = (i / 4096) % 3 ? 0 : (uint8_t)(i * 7 + 1);
    write_file("disk.raw", data, 3 << 20, 16 << 20);
    assert_int_equal(ferry_import(&o, &res), 0);
    assert_string_equal(res.format, "raw");
    assert_int_equal(res.virtual_size, 16 << 20);
    assert_int_equal(res.data_bytes, 256 * 4096);   /* one 4 KiB block in three */

    gzFile gz = gzopen(gzp, "wb1");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, 3 << 20), 3 << 20);
    gzclose(gz);
    o.url = gzp;
    o.dest = dest2;
    o.size = 8 << 20;
    assert_int_equal(ferry_import(&o, &res), 0);
    assert_int_equal(res.virtual_size, 8 << 20);
    int fd = open(dest2, O_RDONLY);
    assert_int_equal(pread(fd, back, 3 << 20, 0), 3 << 20);
    close(fd);
    assert_memory_equal(back, data, 3 << 20);

    o.size = 1 << 20;
    assert_int_equal(ferry_import(&o, &res), -1);
    assert_non_null(strstr(ferry_error_message(), "larger than the 1 MiB volume"));
}

static void
test_archive_refusal(void **state)
{
    FERRY_AUTOFREE char *tar = path("evil.tar");
    FERRY_AUTOFREE char *dest = path("extracted");
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    struct ferry_source *src = NULL;
    struct stat st;

    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open_filename(a, tar), ARCHIVE_OK);
    archive_entry_set_pathname(e, "fine.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 2);
    archive_write_header(a, e);
    archive_write_data(a, "ok", 2);
    archive_entry_clear(e);
    archive_entry_set_pathname(e, "a/../../escape.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 2);
    archive_write_header(a, e);
    archive_write_data(a, "no", 2);
    archive_entry_free(e);
    archive_write_free(a);

    assert_int_equal(ferry_source_open(tar, &src), 0);
    assert_int_equal(ferry_archive_extract(src, dest, -1, -1, NULL, NULL), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_SECURITY);
    assert_non_null(strstr(ferry_error_message(), "'..' refused"));
    ferry_source_free(src);
    assert_int_equal(stat(dest, &st), -1);
}

TEST_MAIN(setup, teardown,
          cmocka_unit_test(test_checksum),
          cmocka_unit_test(test_extent_push),
          cmocka_unit_test(test_ramp),
          cmocka_unit_test(test_gunzip_sizes),
          cmocka_unit_test(test_raw_stream_sizes),
          cmocka_unit_test(test_probe),
          cmocka_unit_test(test_qcow2_header),
          cmocka_unit_test(test_vmdk_extent_escape),
          cmocka_unit_test(test_sink),
          cmocka_unit_test(test_sink_discard),
          cmocka_unit_test(test_import_raw_and_gzip),
          cmocka_unit_test(test_archive_refusal))
