/* Microsoft VHDX reader (Hyper-V): fixed and dynamic disks, version 1.
 *
 * Layout (little-endian, MS-VHDX): the file type identifier "vhdxfile" at 0;
 * two 4 KiB headers at 64 KiB and 128 KiB, each with a CRC-32C and a sequence
 * number (the valid one with the highest number is current); two copies of
 * the region table at 192 KiB and 256 KiB (CRC-32C) locating the BAT and the
 * metadata region; metadata items give the block size, whether the file has
 * a parent, the virtual size and the logical sector size.  The BAT holds one
 * 64-bit entry per payload block (state in bits 0-2, file offset in MiB in
 * bits 20-63) with a sector-bitmap entry after every chunk_ratio payload
 * entries.  NOT_PRESENT, UNDEFINED, ZERO and UNMAPPED blocks read as zeros;
 * FULLY_PRESENT blocks are data; PARTIALLY_PRESENT only exists in differencing
 * disks, which are refused with images that have a parent.
 *
 * A header whose LogGuid is set may have log entries that were never applied
 * to the file (the image was not closed cleanly).  qemu-img opens an image
 * read-only to convert it, and refuses one whose log needs replaying ("opened
 * read-only, but contains a log that needs to be replayed"; only `qemu-img
 * check -r all` replays it, in place).  Ferry never writes its source, so it
 * refuses such an image the same way and says how to replay it.  When the log
 * holds no valid entry under the LogGuid it is empty and the image is read as
 * is (qemu does the same). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"
#include "importer/blockmap.h"
#include "importer/bytes.h"
#include "importer/format.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define VHDX_HEADER1 (64 * KiB)
#define VHDX_HEADER2 (128 * KiB)
#define VHDX_REGION1 (192 * KiB)
#define VHDX_REGION2 (256 * KiB)
#define VHDX_HEADER_SIZE (4 * KiB)
#define VHDX_REGION_SIZE (64 * KiB)
#define VHDX_METATABLE_SIZE (64 * KiB)
#define VHDX_MAX_ENTRIES 2047u
#define VHDX_MAX_SIZE (UINT64_C(64) << 40)
#define VHDX_WINDOW 32768u               /* BAT entries kept in memory */

enum {
    PB_NOT_PRESENT = 0,
    PB_UNDEFINED = 1,
    PB_ZERO = 2,
    PB_UNMAPPED = 3,
    PB_UNMAPPED_QEMU = 5, /* qemu's vhdx.h numbers UNMAPPED 5 (an early draft) */
    PB_FULLY_PRESENT = 6,
    PB_PARTIALLY_PRESENT = 7,
};

/* MS GUIDs as stored: data1..3 little-endian, data4 as bytes. */
#define GUID(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7)                                              \
    {                                                                                          \
        (a) & 0xff, (a) >> 8 & 0xff, (a) >> 16 & 0xff, (a) >> 24 & 0xff, (b) & 0xff, (b) >> 8,  \
            (c) & 0xff, (c) >> 8, d0, d1, d2, d3, d4, d5, d6, d7                               \
    }
static const uint8_t guid_bat[16] = GUID(0x2dc27766, 0xf623, 0x4200, 0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08);
static const uint8_t guid_metadata[16] = GUID(0x8b7ca206, 0x4790, 0x4b9a, 0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e);
static const uint8_t guid_file_params[16] = GUID(0xcaa16737, 0xfa36, 0x4d43, 0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b);
static const uint8_t guid_vsize[16] = GUID(0x2fa54224, 0xcd1b, 0x4876, 0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8);
static const uint8_t guid_page83[16] = GUID(0xbeca12ab, 0xb2e6, 0x4523, 0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46);
static const uint8_t guid_lsector[16] = GUID(0x8141bf1d, 0xa96f, 0x4709, 0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f);
static const uint8_t guid_psector[16] = GUID(0xcda348c7, 0x445d, 0x4471, 0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56);
static const uint8_t guid_parent[16] = GUID(0xa8d35f2d, 0xb30b, 0x454d, 0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c);

struct vhdx {
    struct ferry_blockmap blockmap;  /* map and read (blockmap.h) */
    struct ferry_source *src;
    const char *name;
    int64_t file_size;               /* bytes the source holds (-1 unknown) */
    uint64_t vsize;
    uint32_t block_size, lsector;
    uint64_t chunk_ratio;
    uint64_t blocks;                 /* payload blocks */
    pthread_mutex_t lock;            /* guards the window */
    struct ferry_blockmap_table bat; /* the BAT's window */
    /* the file's own regions, which no payload block may overlap */
    uint64_t region_off[3], region_len[3];   /* BAT, metadata, log */
};

static const char *const region_name[3] = { "BAT", "metadata", "log" };

static bool
overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

static int vhdx_block(void *opaque, uint64_t block, bool *ret_data, uint64_t *ret_off);

/* CRC-32C (Castagnoli, reflected 0x82f63b78): SSE 4.2's crc32 instruction
 * where the CPU has it (the same polynomial and bit order), else a table.
 * Every header, region table and log entry is checksummed, and a log entry
 * can be 1 MiB or more. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static uint32_t
crc32c_table(uint32_t c, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
    return c;
}

static uint32_t (*crc32c_run)(uint32_t c, const uint8_t *buf, size_t len) = crc32c_table;

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc32c_sse42(uint32_t c, const uint8_t *buf, size_t len)
{
    uint64_t c64 = c;

    for (; len >= 8; buf += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, buf, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
    }
    c = (uint32_t)c64;
    for (; len; buf++, len--)
        c = __builtin_ia32_crc32qi(c, *buf);
    return c;
}
#endif

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    /* The instruction is used only if it agrees with the table, on bytes
     * that reach both of its loops. */
    uint8_t probe[67];
    for (size_t i = 0; i < sizeof(probe); i++)
        probe[i] = (uint8_t)(i * 37 + 11);
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2") &&
        crc32c_sse42(~0u, probe, sizeof(probe)) == crc32c_table(~0u, probe, sizeof(probe)))
        crc32c_run = crc32c_sse42;
#endif
}

/* CRC-32C of BUF with the 4-byte checksum field at FIELD counted as zero
 * (the bytes before it, four zeros, the bytes after it: no test per byte). */
static uint32_t
crc32c(const uint8_t *buf, size_t len, size_t field)
{
    static const uint8_t zero[4];

    pthread_once(&crc_once, crc_init);
    if (field + 4 > len)
        return ~crc32c_run(0xffffffffu, buf, len);
    uint32_t c = crc32c_run(0xffffffffu, buf, field);
    c = crc32c_run(c, zero, 4);
    return ~crc32c_run(c, buf + field + 4, len - field - 4);
}

static int
vhdx_pread(void *opaque, void *buf, size_t len, uint64_t off, const char *what)
{
    struct vhdx *v = opaque;
    return ferry_blockmap_pread_source(v->src, "vhdx", v->name, buf, len, off, what);
}

static int
vhdx_probe(const uint8_t *head, size_t len, int64_t size)
{
    return len >= 8 && memcmp(head, "vhdxfile", 8) == 0 ? 100 : 0;
}

static void
vhdx_free(struct vhdx *v)
{
    if (!v)
        return;
    pthread_mutex_destroy(&v->lock);
    free(v->bat.raw);
    free(v);
}

/* Is [off, off+len) inside the file (when its size is known)? */
static bool
in_file(struct vhdx *v, uint64_t off, uint64_t len)
{
    uint64_t end;
    if (__builtin_add_overflow(off, len, &end))
        return false;
    return v->file_size < 0 || end <= (uint64_t)v->file_size;
}

/* Pick the current header (valid, highest sequence number) into H. */
static int
vhdx_pick_header(struct vhdx *v, uint8_t h[VHDX_HEADER_SIZE])
{
    uint8_t (*b)[VHDX_HEADER_SIZE] = ferry_malloc(2 * VHDX_HEADER_SIZE);
    bool valid[2] = { false, false };
    const char *why[2] = { "", "" };
    char crcmsg[2][64];
    for (int i = 0; i < 2; i++) {
        if (vhdx_pread(v, b[i], VHDX_HEADER_SIZE, i ? VHDX_HEADER2 : VHDX_HEADER1, "header") < 0) {
            free(b);
            return -1;
        }
        uint32_t want = crc32c(b[i], VHDX_HEADER_SIZE, 4);
        if (memcmp(b[i], "head", 4) != 0) {
            why[i] = "no signature \"head\"";
        } else if (ferry_le32(b[i] + 4) != want) {
            snprintf(crcmsg[i], sizeof(crcmsg[i]), "checksum 0x%08x does not match 0x%08x",
                     ferry_le32(b[i] + 4), want);
            why[i] = crcmsg[i];
        } else if (ferry_le16(b[i] + 66) != 1) {
            snprintf(crcmsg[i], sizeof(crcmsg[i]), "version %u is not 1", ferry_le16(b[i] + 66));
            why[i] = crcmsg[i];
        } else {
            valid[i] = true;
        }
    }
    int cur;
    if (!valid[0] && !valid[1]) {
        ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': no valid header (header 1: %s; header 2: %s)",
                    v->name, why[0], why[1]);
        free(b);
        return -1;
    } else if (valid[0] != valid[1]) {
        cur = valid[0] ? 0 : 1;
    } else {
        uint64_t s1 = ferry_le64(b[0] + 8), s2 = ferry_le64(b[1] + 8);
        if (s1 == s2 && memcmp(b[0], b[1], VHDX_HEADER_SIZE) != 0) {
            ferry_error(FERRY_ERR_FORMAT,
                        "vhdx '%s': both headers have sequence number %" PRIu64 " but differ",
                        v->name, s1);
            free(b);
            return -1;
        }
        cur = s2 > s1 ? 1 : 0;
    }
    memcpy(h, b[cur], VHDX_HEADER_SIZE);
    free(b);
    return 0;
}

/* ---- the log (MS-VHDX 2.3) ------------------------------------------------
 * The log is a circular buffer of entries, each a 4 KiB-aligned header
 * ("loge", CRC-32C over the whole entry, sequence number, the LogGuid, ...)
 * with 32-byte descriptors ("zero": zero a range; "desc": write one 4 KiB
 * sector) padded to a sector, followed by one "data" sector per write.  Any
 * valid entry under the header's LogGuid means the log needs replaying. */
#define VHDX_MAX_LOG (32 * MiB)
#define LOG_SECTOR (4 * KiB)

/* Copy LEN bytes at POS of the circular log into OUT. */
/* The log is scanned LOG_WINDOW bytes at a time; only a sector that starts
 * with an entry's signature is read whole, so a clean log (all zeros, or
 * old entries of another GUID) costs no log-sized buffer. */
#define LOG_WINDOW (64 * KiB)

/* LEN bytes of the log from POS, wrapping around its end, into OUT. */
static int
log_read(struct vhdx *v, uint64_t log_off, uint32_t log_len, uint64_t pos, uint8_t *out,
         size_t len)
{
    pos %= log_len;
    size_t first = log_len - pos < len ? log_len - pos : len;
    if (vhdx_pread(v, out, first, log_off + pos, "log") < 0)
        return -1;
    return len > first ? vhdx_pread(v, out + first, len - first, log_off, "log") : 0;
}

/* Is there a valid entry at POS, whose first 64 bytes are HDR?  1 and
 * *ret_seq, *ret_len if so, 0 if not, -1 if the log cannot be read.  The
 * entry is read into *SCRATCH (grown as needed, *scratch_len bytes). */
static int
log_entry(struct vhdx *v, uint64_t log_off, uint32_t log_len, uint64_t pos, const uint8_t *hdr,
          const uint8_t *guid, uint8_t **scratch, uint32_t *scratch_len, uint64_t *ret_seq,
          uint32_t *ret_len)
{
    uint32_t elen = ferry_le32(hdr + 8), dcount = ferry_le32(hdr + 24);
    uint64_t seq = ferry_le64(hdr + 16);
    if (memcmp(hdr, "loge", 4) != 0 || memcmp(hdr + 32, guid, 16) != 0 || elen == 0 ||
        elen % LOG_SECTOR || elen > log_len || seq == 0 || dcount > log_len / 32)
        return 0;
    uint64_t dsectors = (64 + (uint64_t)dcount * 32 + LOG_SECTOR - 1) / LOG_SECTOR;
    if (dsectors * LOG_SECTOR > elen)
        return 0;
    if (*scratch_len < elen) {
        free(*scratch);
        *scratch = ferry_malloc(elen);
        *scratch_len = elen;
    }
    const uint8_t *e = *scratch;
    if (log_read(v, log_off, log_len, pos, *scratch, elen) < 0)
        return -1;
    if (crc32c(e, elen, 4) != ferry_le32(e + 4))
        return 0;
    uint64_t data = dsectors;
    for (uint32_t i = 0; i < dcount; i++) {
        const uint8_t *d = e + 64 + i * 32;
        if (ferry_le64(d + 24) != seq || ferry_le64(d + 16) % LOG_SECTOR)
            return 0;
        if (memcmp(d, "zero", 4) == 0) {
            if (ferry_le64(d + 8) % LOG_SECTOR)
                return 0;
        } else if (memcmp(d, "desc", 4) == 0) {
            if ((data + 1) * LOG_SECTOR > elen)
                return 0;
            const uint8_t *ds = e + data * LOG_SECTOR;
            if (memcmp(ds, "data", 4) != 0 ||
                ((uint64_t)ferry_le32(ds + 4) << 32 | ferry_le32(ds + LOG_SECTOR - 4)) != seq)
                return 0;
            data++;
        } else {
            return 0;
        }
    }
    if (data * LOG_SECTOR != elen)
        return 0;
    *ret_seq = seq;
    *ret_len = elen;
    return 1;
}

/* Refuse an image whose log holds an entry that was never replayed. */
static int
vhdx_check_log(struct vhdx *v, const uint8_t *h)
{
    const uint8_t *guid = h + 48;
    if (ferry_all_zero(guid, 16))
        return 0;
    uint32_t log_len = ferry_le32(h + 68);
    uint64_t log_off = ferry_le64(h + 72);
    if (log_len == 0 || log_len % MiB || log_off % MiB || log_off < MiB ||
        !in_file(v, log_off, log_len))
        return ferry_error(FERRY_ERR_FORMAT,
                           "vhdx '%s': log (%u bytes at offset %" PRIu64 ") out of range", v->name,
                           log_len, log_off);
    if (log_len > VHDX_MAX_LOG)
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "vhdx '%s': the log's %u bytes exceed the %u this reader checks",
                           v->name, log_len, VHDX_MAX_LOG);
    FERRY_AUTOFREE uint8_t *win = ferry_malloc(LOG_WINDOW);
    FERRY_AUTOFREE uint8_t *e = NULL;
    uint32_t e_len = 0;
    /* log_len is a multiple of 1 MiB, so of LOG_WINDOW and LOG_SECTOR. */
    for (uint64_t base = 0; base < log_len; base += LOG_WINDOW) {
        if (vhdx_pread(v, win, LOG_WINDOW, log_off + base, "log") < 0)
            return -1;
        for (uint32_t s = 0; s < LOG_WINDOW; s += LOG_SECTOR) {
            uint64_t seq;
            uint32_t elen;
            int r = log_entry(v, log_off, log_len, base + s, win + s, guid, &e, &e_len, &seq,
                              &elen);
            if (r < 0)
                return -1;
            if (r > 0)
                return ferry_error(
                    FERRY_ERR_UNSUPPORTED,
                    "vhdx '%s': the log holds entries that were never replayed (sequence %" PRIu64
                    " at log offset %" PRIu64 "): the image was not closed cleanly; "
                    "qemu-img refuses it read-only too: replay the log on a copy with "
                    "'qemu-img check -r all' and import that",
                    v->name, seq, base + s);
        }
    }
    return 0;
}

/* Region table: BAT and metadata offsets/lengths. */
static int
vhdx_regions(struct vhdx *v, uint64_t *bat_off, uint32_t *bat_len, uint64_t *meta_off,
             uint32_t *meta_len)
{
    uint8_t *rt = ferry_malloc(VHDX_REGION_SIZE);
    const char *why = NULL;
    char msg[96];
    int copy;
    for (copy = 0; copy < 2; copy++) {
        if (vhdx_pread(v, rt, VHDX_REGION_SIZE, copy ? VHDX_REGION2 : VHDX_REGION1,
                       "region table") < 0)
            goto fail;
        uint32_t want = crc32c(rt, VHDX_REGION_SIZE, 4);
        if (memcmp(rt, "regi", 4) != 0) {
            why = "no signature \"regi\"";
        } else if (ferry_le32(rt + 4) != want) {
            snprintf(msg, sizeof(msg), "checksum 0x%08x does not match 0x%08x", ferry_le32(rt + 4),
                     want);
            why = msg;
        } else if (ferry_le32(rt + 8) > VHDX_MAX_ENTRIES) {
            snprintf(msg, sizeof(msg), "entry count %u out of range 0..%u", ferry_le32(rt + 8),
                     VHDX_MAX_ENTRIES);
            why = msg;
        } else {
            break;
        }
    }
    if (copy == 2) {
        ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': no valid region table (%s)", v->name, why);
        goto fail;
    }
    bool have_bat = false, have_meta = false;
    uint32_t count = ferry_le32(rt + 8);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = rt + 16 + i * 32;
        uint64_t off = ferry_le64(e + 16);
        uint32_t len = ferry_le32(e + 24), flags = ferry_le32(e + 28);
        bool is_bat = memcmp(e, guid_bat, 16) == 0, is_meta = memcmp(e, guid_metadata, 16) == 0;
        if (!is_bat && !is_meta) {
            if (flags & 1) {
                ferry_error(FERRY_ERR_UNSUPPORTED,
                            "vhdx '%s': region table entry %u is required but unknown", v->name, i);
                goto fail;
            }
            continue;
        }
        const char *what = is_bat ? "BAT" : "metadata";
        if ((is_bat && have_bat) || (is_meta && have_meta)) {
            ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': %s region listed twice", v->name, what);
            goto fail;
        }
        if (off % MiB || off < MiB || len == 0 || len % MiB || !in_file(v, off, len)) {
            ferry_error(FERRY_ERR_FORMAT,
                        "vhdx '%s': %s region (%u bytes at offset %" PRIu64 ") out of range or past the end of the file",
                        v->name, what, len, off);
            goto fail;
        }
        if (is_bat) {
            have_bat = true;
            *bat_off = off;
            *bat_len = len;
        } else {
            have_meta = true;
            *meta_off = off;
            *meta_len = len;
        }
    }
    if (!have_bat || !have_meta) {
        ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': region table lacks the %s region", v->name,
                    have_bat ? "metadata" : "BAT");
        goto fail;
    }
    v->region_off[0] = *bat_off;
    v->region_len[0] = *bat_len;
    v->region_off[1] = *meta_off;
    v->region_len[1] = *meta_len;
    for (int a = 0; a < 3; a++) {
        if (v->region_len[a] && v->region_off[a] < MiB) {
            ferry_error(FERRY_ERR_FORMAT,
                        "vhdx '%s': the %s region at offset %" PRIu64 " overlaps the headers",
                        v->name, region_name[a], v->region_off[a]);
            goto fail;
        }
        for (int b = a + 1; b < 3; b++)
            if (overlaps(v->region_off[a], v->region_len[a], v->region_off[b],
                         v->region_len[b])) {
                ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': the %s and %s regions overlap",
                            v->name, region_name[a], region_name[b]);
                goto fail;
            }
    }
    free(rt);
    return 0;
fail:
    free(rt);
    return -1;
}

/* Metadata: block size, has-parent, virtual size, logical sector size. */
static int
vhdx_metadata(struct vhdx *v, uint64_t meta_off, uint32_t meta_len)
{
    uint8_t *t = ferry_malloc(VHDX_METATABLE_SIZE);
    if (vhdx_pread(v, t, VHDX_METATABLE_SIZE, meta_off, "metadata table") < 0)
        goto fail;
    if (memcmp(t, "metadata", 8) != 0) {
        ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': no metadata table signature at offset %" PRIu64,
                    v->name, meta_off);
        goto fail;
    }
    uint16_t count = ferry_le16(t + 10);
    if (count > VHDX_MAX_ENTRIES) {
        ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': metadata entry count %u out of range 0..%u",
                    v->name, count, VHDX_MAX_ENTRIES);
        goto fail;
    }
    struct {
        const uint8_t *guid;
        const char *name;
        uint32_t size;               /* bytes we read */
        uint8_t val[8];
        bool seen;
    } items[] = {
        { .guid = guid_file_params, .name = "file parameters", .size = 8 },
        { .guid = guid_vsize, .name = "virtual disk size", .size = 8 },
        { .guid = guid_lsector, .name = "logical sector size", .size = 4 },
        { .guid = guid_psector, .name = "physical sector size" },
        { .guid = guid_page83, .name = "page 83 data" },
        { .guid = guid_parent, .name = "parent locator" },
    };
    for (uint16_t i = 0; i < count; i++) {
        const uint8_t *e = t + 32 + i * 32;
        uint32_t off = ferry_le32(e + 16), len = ferry_le32(e + 20), flags = ferry_le32(e + 24);
        size_t k;
        for (k = 0; k < sizeof(items) / sizeof(items[0]); k++)
            if (memcmp(e, items[k].guid, 16) == 0)
                break;
        if (k == sizeof(items) / sizeof(items[0])) {
            if (flags & 4) {
                ferry_error(FERRY_ERR_UNSUPPORTED,
                            "vhdx '%s': metadata item %u is required but unknown", v->name, i);
                goto fail;
            }
            continue;
        }
        if (items[k].seen) {
            ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': metadata item %s listed twice", v->name,
                        items[k].name);
            goto fail;
        }
        items[k].seen = true;
        if (items[k].size == 0)
            continue;
        if (len < items[k].size || off < VHDX_METATABLE_SIZE || (uint64_t)off + len > meta_len) {
            ferry_error(FERRY_ERR_FORMAT,
                        "vhdx '%s': metadata item %s (%u bytes at offset %u) out of range of the %u-byte region",
                        v->name, items[k].name, len, off, meta_len);
            goto fail;
        }
        if (vhdx_pread(v, items[k].val, items[k].size, meta_off + off, "metadata item") < 0)
            goto fail;
    }
    for (size_t k = 0; k < 3; k++) {
        if (!items[k].seen) {
            ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': metadata item %s is missing", v->name,
                        items[k].name);
            goto fail;
        }
    }
    uint32_t block_size = ferry_le32(items[0].val), bits = ferry_le32(items[0].val + 4);
    uint64_t vsize = ferry_le64(items[1].val);
    uint32_t lsector = ferry_le32(items[2].val);
    if (bits & 2) {
        ferry_error(FERRY_ERR_UNSUPPORTED,
                    "vhdx '%s': differencing image (has parent) is not supported: "
                    "convert it with its parent first", v->name);
        goto fail;
    }
    if (block_size < MiB || block_size > 256 * MiB || (block_size & (block_size - 1))) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vhdx '%s': block size %u out of range (a power of two, 1..256 MiB)", v->name,
                    block_size);
        goto fail;
    }
    if (lsector != 512 && lsector != 4096) {
        ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': logical sector size %u is not 512 or 4096",
                    v->name, lsector);
        goto fail;
    }
    if (vsize > VHDX_MAX_SIZE || vsize > FERRY_MAX_VIRTUAL_SIZE) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vhdx '%s': virtual disk size %" PRIu64 " exceeds the limit of %" PRIu64,
                    v->name, vsize, FERRY_MAX_VIRTUAL_SIZE);
        goto fail;
    }
    if (vsize % lsector) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vhdx '%s': virtual disk size %" PRIu64 " is not a multiple of the %u-byte sector",
                    v->name, vsize, lsector);
        goto fail;
    }
    v->block_size = block_size;
    v->lsector = lsector;
    v->vsize = vsize;
    free(t);
    return 0;
fail:
    free(t);
    return -1;
}

static int
vhdx_open(struct ferry_source *src, struct ferry_image **ret)
{
    uint8_t *h = ferry_malloc(VHDX_HEADER_SIZE);
    struct vhdx *v = ferry_calloc(1, sizeof(*v));
    v->src = src;
    v->name = src->url ? src->url : "?";
    v->file_size = src->size;
    pthread_mutex_init(&v->lock, NULL);

    uint8_t sig[8];
    if (vhdx_pread(v, sig, 8, 0, "file type identifier") < 0)
        goto fail;
    if (memcmp(sig, "vhdxfile", 8) != 0) {
        ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': no file type identifier \"vhdxfile\"", v->name);
        goto fail;
    }
    if (vhdx_pick_header(v, h) < 0 || vhdx_check_log(v, h) < 0)
        goto fail;
    v->region_off[2] = ferry_le64(h + 72);
    v->region_len[2] = ferry_le32(h + 68);
    uint64_t bat_off = 0, meta_off = 0;
    uint32_t bat_len = 0, meta_len = 0;
    if (vhdx_regions(v, &bat_off, &bat_len, &meta_off, &meta_len) < 0 ||
        vhdx_metadata(v, meta_off, meta_len) < 0)
        goto fail;

    /* 2^23 sectors of bitmap per sector-bitmap block. */
    v->chunk_ratio = ((UINT64_C(1) << 23) * v->lsector) / v->block_size;
    v->blocks = v->vsize / v->block_size + (v->vsize % v->block_size != 0);
    uint64_t entries = v->blocks ? v->blocks + (v->blocks - 1) / v->chunk_ratio : 0;
    if (entries > bat_len / 8) {
        ferry_error(FERRY_ERR_FORMAT,
                    "vhdx '%s': BAT region of %u bytes holds fewer than the %" PRIu64 " entries the disk needs",
                    v->name, bat_len, entries);
        goto fail;
    }
    v->bat = (struct ferry_blockmap_table){
        .off = bat_off, .entries = entries, .width = 8, .window = VHDX_WINDOW,
        .what = "BAT", .raw = ferry_malloc(VHDX_WINDOW * 8),
    };
    free(h);
    v->blockmap = (struct ferry_blockmap){
        .format = "vhdx", .name = v->name, .size = v->vsize, .data_what = "payload block",
        .opaque = v, .block_size = v->block_size, .lock = &v->lock, .block = vhdx_block,
        .pread = vhdx_pread,
    };
    *ret = (struct ferry_image *)v;
    return 0;

fail:
    free(h);
    vhdx_free(v);
    return -1;
}

/* Whether payload BLOCK is stored (fully present), and where it starts in
 * the file: its BAT entry, checked against the file.  Caller holds lock. */
static int
vhdx_block(void *opaque, uint64_t block, bool *ret_data, uint64_t *ret_off)
{
    struct vhdx *v = opaque;
    uint64_t idx = block + block / v->chunk_ratio;
    uint64_t e;
    if (ferry_blockmap_entry(&v->blockmap, &v->bat, idx, &e) < 0)
        return -1;
    unsigned state = e & 7;
    uint64_t off = e >> 20 << 20;
    switch (state) {
    case PB_NOT_PRESENT:
    case PB_UNDEFINED:
    case PB_ZERO:
    case PB_UNMAPPED:
    case PB_UNMAPPED_QEMU:
        break;
    case PB_FULLY_PRESENT: {
        uint64_t need = v->vsize - block * v->block_size;
        if (need > v->block_size)
            need = v->block_size;
        if (off < MiB)
            return ferry_error(FERRY_ERR_FORMAT,
                               "vhdx '%s': BAT entry %" PRIu64 " (block %" PRIu64 ") offset %" PRIu64
                               " out of range (below 1 MiB)", v->name, idx, block, off);
        if (!in_file(v, off, need))
            return ferry_error(FERRY_ERR_FORMAT,
                               "vhdx '%s': BAT entry %" PRIu64 " (block %" PRIu64 ") at offset %" PRIu64
                               " (%" PRIu64 " bytes) reaches past the end of the file (%" PRId64
                               " bytes): the image was cut short", v->name, idx, block, off, need,
                               v->file_size);
        /* The region where the block starts first, then any it reaches. */
        for (int pass = 0; pass < 2; pass++)
            for (int r = 0; r < 3; r++)
                if (overlaps(off, pass ? need : 1, v->region_off[r], v->region_len[r]))
                    return ferry_error(FERRY_ERR_FORMAT,
                                       "vhdx '%s': BAT entry %" PRIu64 " (block %" PRIu64
                                       ") at offset %" PRIu64 " overlaps the %s region",
                                       v->name, idx, block, off, region_name[r]);
        break;
    }
    case PB_PARTIALLY_PRESENT:
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "vhdx '%s': block %" PRIu64 " is partially present (a differencing-disk state): not supported",
                           v->name, block);
    default:
        return ferry_error(FERRY_ERR_FORMAT, "vhdx '%s': BAT entry %" PRIu64 " state %u out of range",
                           v->name, idx, state);
    }
    *ret_data = state == PB_FULLY_PRESENT;
    *ret_off = off;
    return 0;
}

FERRY_BLOCKMAP_IMAGE_OPS(vhdx)

static const char *const vhdx_extensions[] = { ".vhdx", NULL };

const struct ferry_format ferry_format_vhdx = {
    .name = "vhdx",
    .help = "Microsoft Hyper-V VHDX, dynamic or fixed",
    .extensions = vhdx_extensions,
    .probe = vhdx_probe,
    .needs_random_access = true,
    .open = vhdx_open,
    .virtual_size = vhdx_virtual_size,
    .map = vhdx_map,
    .read = vhdx_read,
    .close = vhdx_close,
    .parallel_read = true,
};
