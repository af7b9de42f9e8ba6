/* Unit tests for what qemu-img cannot be the oracle of in the VDI, VHD and
 * VHDX readers: VHD sector bitmaps (qemu ignores them; a clear bit must read
 * as zeros), the VHD size rule per creator application (CHS geometry for
 * "vpc "/"qemu", current_size for everyone else, current_size at the maximum
 * geometry), probe_tail for fixed disks, and VDI discarded blocks.  Images
 * are built in memory and read through an in-memory source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "importer/bytes.h"
#include "importer/format.h"

#include "../fuzz/mem-source.h"   /* struct mem, mem_pread */
#include "../unit/testlib.h"

extern const struct ferry_format ferry_format_vdi, ferry_format_vhd, ferry_format_vhdx;

static const struct ferry_source_ops mem_ops = { .name = "memory", .pread = mem_pread };

static struct ferry_source
mem_source(struct mem *m)
{
    return (struct ferry_source){ .ops = &mem_ops, .url = "test.img", .size = (int64_t)m->size,
                                  .seekable = true, .priv = m };
}

/* The image in M, probed as F's by its head and opened: its size VSIZE. */
static struct ferry_image *
open_image(const struct ferry_format *f, struct ferry_source *src, const struct mem *m,
           uint64_t vsize)
{
    struct ferry_image *img;
    assert_int_equal(f->probe(m->data, 4096, (int64_t)m->size), 100);
    assert_int_equal(f->open(src, &img), 0);
    assert_int_equal(f->virtual_size(img), vsize);
    return img;
}

/* The extents of IMG's first LEN bytes are the N of WANT. */
static void
assert_map(const struct ferry_format *f, struct ferry_image *img, uint64_t len,
           const struct ferry_extent *want, size_t n)
{
    struct ferry_extent *ex = NULL;
    size_t got = 0;

    assert_int_equal(f->map(img, 0, len, &ex, &got), 0);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++) {
        if (ex[i].type != want[i].type || ex[i].offset != want[i].offset ||
            ex[i].length != want[i].length)
            fail_msg("extent %zu: type %d at %" PRIu64 " length %" PRIu64
                     ", want type %d at %" PRIu64 " length %" PRIu64,
                     i, ex[i].type, ex[i].offset, ex[i].length, want[i].type, want[i].offset,
                     want[i].length);
    }
    free(ex);
}

static void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, v >> 32), put_be32(p + 4, (uint32_t)v);
}

static void
put_le32(uint8_t *p, uint32_t v)
{
    p[0] = v, p[1] = v >> 8, p[2] = v >> 16, p[3] = v >> 24;
}

static void
vhd_footer(uint8_t *f, uint32_t type, const char *creator, uint64_t size, uint16_t cyl,
           uint8_t heads, uint8_t spt, uint64_t data_off)
{
    memset(f, 0, 512);
    memcpy(f, "conectix", 8);
    put_be32(f + 8, 2);
    put_be32(f + 12, 0x10000);
    put_be64(f + 16, data_off);
    memcpy(f + 28, creator, 4);
    put_be64(f + 40, size);
    put_be64(f + 48, size);
    f[56] = cyl >> 8, f[57] = cyl & 0xff, f[58] = heads, f[59] = spt;
    put_be32(f + 60, type);
    put_be32(f + 64, ferry_vhd_checksum(f, 512, 64));
}

/* A dynamic VHD of 4 MiB (two 2 MiB blocks): block 0 allocated with sectors
 * 0-7 and 16 present, its data all 0xAB; block 1 unallocated. */
static struct mem
vhd_dynamic(void)
{
    size_t bm = 512, block = 2 << 20;
    size_t size = 512 + 1024 + 512 + bm + block + 512;
    uint8_t *d = calloc(1, size);
    struct mem m = { .data = d, .size = size };
    vhd_footer(d, 3, "win ", 4 << 20, 0, 0, 0, 512);
    uint8_t *h = d + 512;
    memcpy(h, "cxsparse", 8);
    put_be64(h + 8, UINT64_MAX);
    put_be64(h + 16, 1536);
    put_be32(h + 24, 0x10000);
    put_be32(h + 28, 2);
    put_be32(h + 32, (uint32_t)block);
    put_be32(h + 36, ferry_vhd_checksum(h, 1024, 36));
    put_be32(d + 1536, 2048 / 512);    /* block 0 at sector 4 */
    put_be32(d + 1540, 0xffffffff);
    d[2048] = 0xff;                    /* sectors 0-7 */
    d[2048 + 2] = 0x80;                /* sector 16 */
    memset(d + 2048 + bm, 0xab, block);
    memcpy(d + size - 512, d, 512);
    return m;
}

static void
test_vhd_bitmap(void **state)
{
    /* sectors 0-7 and 16 present */
    static const struct ferry_extent want[] = {
        { 0, 8 * 512, FERRY_EXTENT_DATA },
        { 8 * 512, 8 * 512, FERRY_EXTENT_ZERO },
        { 16 * 512, 512, FERRY_EXTENT_DATA },
        { 17 * 512, (4 << 20) - 17 * 512, FERRY_EXTENT_ZERO },
    };
    struct mem m = vhd_dynamic();
    struct ferry_source src = mem_source(&m);
    const struct ferry_format *f = &ferry_format_vhd;
    struct ferry_image *img = open_image(f, &src, &m, 4 << 20);

    assert_map(f, img, 4 << 20, want, FERRY_ARRAY_SIZE(want));

    /* A read across present and absent sectors, unaligned at both ends. */
    uint8_t buf[20 * 512];
    assert_int_equal(f->read(img, buf, sizeof(buf) - 100, 100), 0);
    for (size_t i = 0; i < sizeof(buf) - 100; i++) {
        uint64_t s = (i + 100) / 512;
        assert_int_equal(buf[i], s < 8 || s == 16 ? 0xab : 0);
    }
    /* Past the virtual size is the caller's bug, reported. */
    assert_int_equal(f->read(img, buf, 1, 4 << 20), -1);
    f->close(img);
    free((void *)m.data);
}

/* A fixed VHD sized by CHS or by current_size depending on its creator. */
static uint64_t
vhd_fixed_size(const char *creator, uint16_t cyl, uint8_t heads, uint8_t spt, uint64_t cur)
{
    size_t data = 8 << 20;
    uint8_t *d = calloc(1, data + 512);
    vhd_footer(d + data, 2, creator, cur, cyl, heads, spt, UINT64_MAX);
    struct mem m = { .data = d, .size = data + 512 };
    struct ferry_source src = mem_source(&m);
    struct ferry_image *img;
    uint64_t size = 0;
    assert_int_equal(ferry_format_vhd.probe(m.data, 4096, (int64_t)m.size), 0);
    assert_int_equal(ferry_format_vhd.probe_tail(m.data + m.size - 4096, 4096, (int64_t)m.size), 100);
    if (ferry_format_vhd.open(&src, &img) == 0) {
        size = ferry_format_vhd.virtual_size(img);
        ferry_format_vhd.close(img);
    }
    free(d);
    return size;
}

static void
test_vhd_size_rule(void **state)
{
    /* 120 cylinders x 4 heads x 17 sectors = 8160 sectors = 4177920 bytes. */
    assert_int_equal(vhd_fixed_size("vpc ", 120, 4, 17, 6 << 20), 8160 * 512);
    assert_int_equal(vhd_fixed_size("qemu", 120, 4, 17, 6 << 20), 8160 * 512);
    assert_int_equal(vhd_fixed_size("win ", 120, 4, 17, 6 << 20), 6 << 20);
    assert_int_equal(vhd_fixed_size("qem2", 120, 4, 17, 6 << 20), 6 << 20);
    assert_int_equal(vhd_fixed_size("wa\0\0", 120, 4, 17, 6 << 20), 6 << 20);
    /* At the maximum geometry current_size wins even for "vpc ". */
    assert_int_equal(vhd_fixed_size("vpc ", 65535, 16, 255, 7 << 20), 7 << 20);
    /* More than the file holds: refused, naming the file. */
    assert_int_equal(vhd_fixed_size("win ", 0, 0, 0, 9 << 20), 0);
    assert_non_null(strstr(ferry_error_message(), "vhd 'test.img'"));
}

/* A VDI with 4 blocks of 1 MiB: allocated (index 0), unallocated,
 * discarded, allocated (index 1). */
static void
test_vdi_discarded(void **state)
{
    /* The header's 32-bit fields: offset, value. */
    static const uint32_t header[][2] = {
        { 0x40, 0xbeda107f }, /* signature */
        { 0x44, 0x00010001 }, /* version 1.1 */
        { 0x48, 0x190 },      /* header size */
        { 0x4c, 1 },          /* image type: dynamic */
        { 0x154, 0x200 },     /* offset of the block map */
        { 0x158, 0x400 },     /* offset of the data */
        { 0x168, 512 },       /* sector size */
        { 0x178, 1 << 20 },   /* block size */
        { 0x180, 4 },         /* blocks */
        { 0x184, 2 },         /* blocks allocated */
        /* the block map: 0, unallocated, discarded, 1 */
        { 0x200, 0 },
        { 0x204, 0xffffffff },
        { 0x208, 0xfffffffe },
        { 0x20c, 1 },
    };
    static const struct ferry_extent want[] = {
        { 0, 1 << 20, FERRY_EXTENT_DATA },
        { 1 << 20, 2 << 20, FERRY_EXTENT_ZERO },
        { 3 << 20, 1 << 20, FERRY_EXTENT_DATA },
    };
    size_t size = 0x400 + 2 * (1 << 20);
    uint8_t *d = calloc(1, size);
    struct mem m = { .data = d, .size = size };
    memcpy(d, "<<< Oracle VM VirtualBox Disk Image >>>\n", 40);
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(header); i++)
        put_le32(d + header[i][0], header[i][1]);
    d[0x170 + 2] = 0x40; /* disk size 4 MiB */
    memset(d + 0x400, 0x11, 1 << 20);
    memset(d + 0x400 + (1 << 20), 0x22, 1 << 20);

    struct ferry_source src = mem_source(&m);
    const struct ferry_format *f = &ferry_format_vdi;
    struct ferry_image *img = open_image(f, &src, &m, 4 << 20);

    assert_map(f, img, 4 << 20, want, FERRY_ARRAY_SIZE(want));
    uint8_t b[4];
    assert_int_equal(f->read(img, b, 4, (1 << 20) - 2), 0);
    assert_memory_equal(b, "\x11\x11\0\0", 4);
    assert_int_equal(f->read(img, b, 4, (3 << 20) - 2), 0);
    assert_memory_equal(b, "\0\0\x22\x22", 4);
    f->close(img);
    free(d);
}

/* A fixed VHD whose file is cut inside its footer's reserved bytes (or
 * padded) has its footer in its last partial sector, as qemu reads it. */
static void
test_vhd_ragged_tail(void **state)
{
    size_t data = 1 << 20;
    uint8_t *d = calloc(1, data + 1024);
    vhd_footer(d + data, 2, "win ", data, 0, 0, 0, UINT64_MAX);
    for (size_t cut = 0; cut <= 400; cut += 100) {   /* the reserved bytes go */
        struct mem m = { .data = d, .size = data + 512 - cut };
        struct ferry_source src = mem_source(&m);
        struct ferry_image *img;
        assert_int_equal(ferry_format_vhd.probe_tail(d + m.size - 4096, 4096, (int64_t)m.size), 100);
        assert_int_equal(ferry_format_vhd.open(&src, &img), 0);
        assert_int_equal(ferry_format_vhd.virtual_size(img), data);
        ferry_format_vhd.close(img);
    }
    /* Bytes after a whole footer: the footer is not at the end, no VHD. */
    struct mem m = { .data = d, .size = data + 512 + 100 };
    assert_int_equal(ferry_format_vhd.probe_tail(d + m.size - 4096, 4096, (int64_t)m.size), 0);
    free(d);
}

static void
test_probes_reject_others(void **state)
{
    uint8_t zeros[4096] = { 0 };
    assert_int_equal(ferry_format_vdi.probe(zeros, sizeof(zeros), 4096), 0);
    assert_int_equal(ferry_format_vhd.probe(zeros, sizeof(zeros), 4096), 0);
    assert_int_equal(ferry_format_vhd.probe_tail(zeros, sizeof(zeros), 4096), 0);
    assert_int_equal(ferry_format_vhdx.probe(zeros, sizeof(zeros), 4096), 0);
    assert_int_equal(ferry_format_vhdx.probe((const uint8_t *)"vhdxfile", 8, 8), 100);
    assert_int_equal(ferry_format_vhd.probe((const uint8_t *)"conectix", 8, 8), 0);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_vhd_bitmap),
          cmocka_unit_test(test_vhd_size_rule),
          cmocka_unit_test(test_vdi_discarded),
          cmocka_unit_test(test_vhd_ragged_tail),
          cmocka_unit_test(test_probes_reject_others))
