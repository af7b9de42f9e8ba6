#!/usr/bin/env python3
"""Craft hostile VDI, VHD and VHDX images from sound ones made by qemu-img.

    craft.py BASEDIR OUTDIR

BASEDIR holds base.vdi (dynamic, data in block 0), base.vpc (dynamic, data
in block 0), base-fixed.vpc (fixed), base.vhdx (dynamic, data in block 0).
Each crafted image is written to OUTDIR/<case>.<ext>; OUTDIR/cases.txt lists
one case a line: "<file>\t<expected>[\t<qemu>]".  <expected> is the error
substring Ferry must print, or "OK" (converts like `qemu-img convert -f FMT`),
"RAW" (like `qemu-img convert -f raw`: qemu's probe, too, sees no image),
"SAME <file>" (like qemu-img's conversion of that other crafted file) or
"SKIP" (a helper file).  <qemu>, when present, says what qemu-img does with
the image: "refuses" (convert -f FMT fails as well), or "replays <file>"
(convert refuses the read-only image, and `qemu-img check -r all` on a copy
turns it into <file>: the crafted log is one qemu itself replays).
Checksums and CRCs are recomputed so each image is wrong in exactly one way.
"""
import os
import struct
import sys
import uuid


def crc32c(data):
    if not hasattr(crc32c, "table"):
        t = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            t.append(c)
        crc32c.table = t
    t = crc32c.table
    c = 0xFFFFFFFF
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def load(path):
    with open(path, "rb") as f:
        return bytearray(f.read())


cases = []


def save(outdir, name, data, expect, qemu=None):
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)
    cases.append((name, expect) if qemu is None else (name, expect, qemu))


# ---- VDI -------------------------------------------------------------------

def vdi_cases(base, out):
    def put32(d, off, v):
        struct.pack_into("<I", d, off, v)

    blocks = struct.unpack_from("<I", base, 0x180)[0]
    bmap = struct.unpack_from("<I", base, 0x154)[0]

    d = bytearray(base); d[0x1b8:0x1c8] = uuid.uuid4().bytes
    save(out, "vdi-parent.vdi", d, "differencing image")
    d = bytearray(base); put32(d, 0x4c, 4)
    save(out, "vdi-type-diff.vdi", d, "differencing image")
    d = bytearray(base); put32(d, 0x178, 0)
    save(out, "vdi-blocksize0.vdi", d, "block size 0 out of range")
    d = bytearray(base); struct.pack_into("<Q", d, 0x170, 1 << 62)
    save(out, "vdi-huge.vdi", d, "exceeds the limit")
    d = bytearray(base); put32(d, bmap, blocks + 7)
    save(out, "vdi-entry-range.vdi", d, "block map entry %d of block 0 out of range" % (blocks + 7))
    d = bytearray(base); put32(d, bmap, blocks - 1)
    save(out, "vdi-entry-eof.vdi", d, "points past the end of the file")
    d = bytearray(base); put32(d, 0x154, 0x10000000); put32(d, 0x158, 0x20000000)
    save(out, "vdi-bmap-eof.vdi", d, "extends past the end of the file")
    d = bytearray(base); put32(d, 0x44, 0x00010000)
    save(out, "vdi-version.vdi", d, "header version 1.0 not supported")


# ---- VHD -------------------------------------------------------------------

def vhd_sum(b, field):
    s = sum(b[i] for i in range(len(b)) if not field <= i < field + 4)
    return (~s) & 0xFFFFFFFF


def vhd_fix_footer(d, off):
    struct.pack_into(">I", d, off + 64, vhd_sum(d[off:off + 512], 64))


def vhd_set_footer(d, fn):
    """Apply fn(d, offset) to the footer copies at the head and at the end."""
    offs = [len(d) - 512]
    if d[0:8] == b"conectix":
        offs.append(0)
    for o in offs:
        fn(d, o)
        vhd_fix_footer(d, o)


def vhd_cases(base, fixed, out):
    d = bytearray(base)
    vhd_set_footer(d, lambda d, o: struct.pack_into(">I", d, o + 60, 4))
    save(out, "vhd-diff.vpc", d, "differencing disk (disk type 4)")

    d = bytearray(base); d[40] ^= 0x55
    save(out, "vhd-badsum.vpc", d, "footer checksum")

    def huge(d, o):
        d[o + 28:o + 32] = b"win "
        struct.pack_into(">Q", d, o + 48, 1 << 50)
    d = bytearray(base); vhd_set_footer(d, huge)
    save(out, "vhd-huge.vpc", d, "exceeds the VHD limit")

    dyn = struct.unpack_from(">Q", base, 16)[0]
    bat = struct.unpack_from(">Q", base, dyn + 16)[0]
    d = bytearray(base); struct.pack_into(">I", d, bat, 0x7FFFFF00)
    save(out, "vhd-bat-eof.vpc", d, "BAT entry 0 (sector 2147483392) points past the end")

    def dynhdr(fmt, field, value):
        """The base with one dynamic header field changed, its checksum fixed."""
        d = bytearray(base)
        struct.pack_into(fmt, d, dyn + field, value)
        struct.pack_into(">I", d, dyn + 36, vhd_sum(d[dyn:dyn + 1024], 36))
        return d
    save(out, "vhd-bat-table-eof.vpc", dynhdr(">Q", 16, 1 << 40), "extends past the end of the file")
    save(out, "vhd-blocksize0.vpc", dynhdr(">I", 32, 0), "block size 0 out of range")

    def big_fixed(d, o):
        d[o + 28:o + 32] = b"qem2"
        struct.pack_into(">Q", d, o + 48, 1 << 40)
    d = bytearray(fixed); vhd_set_footer(d, big_fixed)
    save(out, "vhd-fixed-short.vpc", d, "needs more than")

    vhd_ragged_cases(base, fixed, out)


def vhd_ragged_cases(base, fixed, out):
    """Ragged files (issue 13): a size that is not whole sectors, a cut BAT
    or block, footer copies that disagree, a current_size that is not whole
    sectors.  Each converts as `qemu-img convert -f vpc` does, or is refused
    where qemu would read zeros for bytes the file lacks."""
    save(out, "vhd-base.vpc", base, "OK")
    save(out, "vhd-base-fixed.vpc", fixed, "OK")
    # A dynamic disk's footer copy at the head serves when the end is cut
    # or padded (qemu reads the head copy too).
    save(out, "vhd-no-tail.vpc", base[:-512], "OK")
    save(out, "vhd-cut-100.vpc", base[:-100], "OK")
    save(out, "vhd-junk.vpc", base + b"x" * 100, "OK")
    d = bytearray(base)
    o = len(d) - 512
    struct.pack_into(">Q", d, o + 48, 2 * struct.unpack_from(">Q", d, o + 48)[0])
    vhd_fix_footer(d, o)
    save(out, "vhd-footer-mismatch.vpc", d, "OK")
    # A fixed disk cut inside its footer: the footer is in the last partial
    # sector, its missing bytes zeros (qemu counts the file in sectors).
    save(out, "vhd-fixed-cut-100.vpc", fixed[:-100], "OK")
    # A fixed disk with bytes after its footer is no VHD (qemu's probe and
    # -f vpc agree): a raw disk.
    save(out, "vhd-fixed-junk.vpc", fixed + b"x" * 100, "RAW")
    # The data of a fixed disk cut short: qemu reads the lost bytes as zeros.
    save(out, "vhd-fixed-cut-data.vpc", fixed[:1 << 20] + fixed[-512:], "needs more than")
    dyn = struct.unpack_from(">Q", base, 16)[0]
    bat = struct.unpack_from(">Q", base, dyn + 16)[0]
    save(out, "vhd-cut-bat.vpc", base[:bat + 2], "extends past the end of the file", "refuses")
    e0 = struct.unpack_from(">I", base, bat)[0]
    assert e0 != 0xFFFFFFFF, "block 0 of the base must hold data"
    save(out, "vhd-cut-block.vpc", base[:e0 * 512 + 512 + 4096],
         "BAT entry 0 (sector %d) points past the end of the file" % e0, "refuses")

    # current_size 100 bytes short of whole sectors, used (creator "win ")
    # instead of the CHS geometry: qemu rounds it down and drops the last
    # sector's bytes; Ferry keeps them (the base's own size and data).
    def ragged(d, o):
        d[o + 28:o + 32] = b"win "
        struct.pack_into(">Q", d, o + 48, struct.unpack_from(">Q", d, o + 48)[0] - 100)
    d = bytearray(base); vhd_set_footer(d, ragged)
    save(out, "vhd-size-ragged.vpc", d, "SAME vhd-base.vpc")
    d = bytearray(fixed); vhd_set_footer(d, ragged)
    save(out, "vhd-fixed-size-ragged.vpc", d, "SAME vhd-base-fixed.vpc")


# ---- VHDX ------------------------------------------------------------------

BAT_GUID = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08").bytes_le
META_GUID = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
PARAMS_GUID = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
VSIZE_GUID = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8").bytes_le


def vhdx_regions(d):
    rt = 192 * 1024
    n = struct.unpack_from("<I", d, rt + 8)[0]
    regs = {}
    for i in range(n):
        e = rt + 16 + 32 * i
        regs[bytes(d[e:e + 16])] = struct.unpack_from("<QI", d, e + 16)
    return regs


def vhdx_meta_item(d, guid):
    meta = vhdx_regions(d)[META_GUID][0]
    n = struct.unpack_from("<H", d, meta + 10)[0]
    for i in range(n):
        e = meta + 32 + 32 * i
        if bytes(d[e:e + 16]) == guid:
            return meta + struct.unpack_from("<I", d, e + 16)[0]
    raise SystemExit("metadata item not found")


def vhdx_move_bat(d, off):
    """Point the BAT entry of both region tables at OFF, CRCs fixed up."""
    for rt in (192 * 1024, 256 * 1024):
        n = struct.unpack_from("<I", d, rt + 8)[0]
        for i in range(n):
            e = rt + 16 + 32 * i
            if bytes(d[e:e + 16]) == BAT_GUID:
                struct.pack_into("<Q", d, e + 16, off)
        struct.pack_into("<I", d, rt + 4, 0)
        struct.pack_into("<I", d, rt + 4, crc32c(d[rt:rt + 65536]))


def vhdx_fix_header(d, off):
    struct.pack_into("<I", d, off + 4, 0)
    struct.pack_into("<I", d, off + 4, crc32c(d[off:off + 4096]))


def vhdx_cases(base, out):
    d = bytearray(base)
    p = vhdx_meta_item(d, PARAMS_GUID)
    struct.pack_into("<I", d, p + 4, struct.unpack_from("<I", d, p + 4)[0] | 2)
    save(out, "vhdx-parent.vhdx", d, "differencing image (has parent)")

    d = bytearray(base)
    struct.pack_into("<Q", d, vhdx_meta_item(d, VSIZE_GUID), 1 << 60)
    save(out, "vhdx-huge.vhdx", d, "exceeds the limit")

    d = bytearray(base)
    for h in (64 * 1024, 128 * 1024):
        d[h + 100] ^= 1
    save(out, "vhdx-badcrc.vhdx", d, "no valid header")

    d = bytearray(base)
    for r in (192 * 1024, 256 * 1024):
        d[r + 16 + 2047 * 32 - 1] ^= 1
    save(out, "vhdx-region-badcrc.vhdx", d, "no valid region table")

    # The BAT region moved past the end, both region table copies fixed up.
    d = bytearray(base)
    vhdx_move_bat(d, 1 << 40)
    save(out, "vhdx-bat-region-eof.vhdx", d, "BAT region (")

    d = bytearray(base)
    meta = vhdx_regions(d)[META_GUID][0]
    n = struct.unpack_from("<H", d, meta + 10)[0]
    for i in range(n):
        e = meta + 32 + 32 * i
        if bytes(d[e:e + 16]) == VSIZE_GUID:
            struct.pack_into("<I", d, e + 16, 0xFFFFFFF0)
    save(out, "vhdx-meta-range.vhdx", d, "metadata item virtual disk size (8 bytes at offset 4294967280) out of range")

    bat = vhdx_regions(base)[BAT_GUID][0]
    d = bytearray(base); struct.pack_into("<Q", d, bat, (1 << 40) << 20 | 6)
    save(out, "vhdx-bat-eof.vhdx", d, "past the end of the file")

    d = bytearray(base); struct.pack_into("<Q", d, bat, struct.unpack_from("<Q", d, bat)[0] | 7)
    save(out, "vhdx-partial.vhdx", d, "partially present")

    # Payload blocks on the file's own regions (issue 13): refused, not
    # copied as disk data.
    regs = vhdx_regions(base)
    meta_off = regs[META_GUID][0]
    log_off = struct.unpack_from("<Q", base, 64 * 1024 + 72)[0]
    for what, off in (("BAT", bat), ("metadata", meta_off), ("log", log_off)):
        d = bytearray(base); struct.pack_into("<Q", d, bat, (off >> 20 << 20) | 6)
        save(out, "vhdx-block-on-%s.vhdx" % what.lower(), d, "overlaps the %s region" % what)

    # The BAT region moved onto the metadata region (both tables fixed up).
    d = bytearray(base)
    vhdx_move_bat(d, meta_off)
    save(out, "vhdx-regions-overlap.vhdx", d, "the BAT and metadata regions overlap")

    # A set LogGuid whose log holds no entry: clean (qemu opens it too).
    guid = uuid.uuid4().bytes
    d = bytearray(base)
    vhdx_set_log_guid(d, guid)
    save(out, "vhdx-empty-log.vhdx", d, "OK")

    vhdx_log_cases(base, out)
    vhdx_ragged_cases(base, out)


def vhdx_ragged_cases(base, out):
    """Ragged VHDX files (issue 13): refused where qemu would read zeros for
    bytes the file lacks, or where its size drops bytes of the disk."""
    bat = vhdx_regions(base)[BAT_GUID][0]
    p0 = struct.unpack_from("<Q", base, bat)[0] >> 20 << 20
    save(out, "vhdx-junk.vhdx", base + b"x" * 100, "OK")
    save(out, "vhdx-cut-bat.vhdx", base[:bat + 8], "BAT region (", "refuses")
    save(out, "vhdx-cut-block.vhdx", base[:p0 + 4096],
         "BAT entry 0 (block 0) at offset %d" % p0, "refuses")
    # Cut inside the last sector: qemu counts the file in whole sectors and
    # reads the missing bytes as zeros.
    save(out, "vhdx-cut-100.vhdx", base[:-100], "the image was cut short")
    # A virtual size that is not whole logical sectors breaks MS-VHDX; qemu
    # rounds it down, dropping the last bytes of the disk.
    d = bytearray(base)
    v = vhdx_meta_item(d, VSIZE_GUID)
    struct.pack_into("<Q", d, v, struct.unpack_from("<Q", d, v)[0] - 100)
    save(out, "vhdx-size-ragged.vhdx", d, "is not a multiple of the 512-byte sector")
    # Whole sectors but not whole blocks: a short last block (qemu agrees).
    d = bytearray(base)
    struct.pack_into("<Q", d, v, struct.unpack_from("<Q", d, v)[0] - 3 * 512)
    save(out, "vhdx-size-sectors.vhdx", d, "OK")


def vhdx_set_log_guid(d, guid):
    for h in (64 * 1024, 128 * 1024):
        d[h + 48:h + 64] = guid
        vhdx_fix_header(d, h)


def log_entry(guid, seq, tail, flushed, last, zeros, writes):
    """One log entry: zero descriptors (offset, length), data descriptors
    (offset, 4 KiB bytes)."""
    n = len(zeros) + len(writes)
    dsec = (64 + 32 * n + 4095) // 4096
    e = bytearray(4096 * (dsec + len(writes)))
    e[0:4] = b"loge"
    struct.pack_into("<IIQII", e, 8, len(e), tail, seq, n, 0)
    e[32:48] = guid
    struct.pack_into("<QQ", e, 48, flushed, last)
    p = 64
    for off, length in zeros:
        e[p:p + 4] = b"zero"
        struct.pack_into("<IQQQ", e, p + 4, 0, length, off, seq)
        p += 32
    for i, (off, data) in enumerate(writes):
        e[p:p + 4] = b"desc"
        struct.pack_into("<I", e, p + 4, struct.unpack_from("<I", data, 4092)[0])
        e[p + 8:p + 16] = data[0:8]
        struct.pack_into("<QQ", e, p + 16, off, seq)
        p += 32
        s = 4096 * (dsec + i)
        e[s:s + 4] = b"data"
        struct.pack_into("<I", e, s + 4, seq >> 32)
        e[s + 8:s + 4092] = data[8:4092]
        struct.pack_into("<I", e, s + 4092, seq & 0xFFFFFFFF)
    struct.pack_into("<I", e, 4, crc32c(e))
    return e


def vhdx_log_cases(base, out):
    """A dirty log of two entries that allocates a new block and zeroes part
    of block 0, with the same changes made directly as the expected result;
    then the same log broken and truncated."""
    M = 1 << 20
    bat = vhdx_regions(base)[BAT_GUID][0]
    bsize = struct.unpack_from("<I", base, vhdx_meta_item(base, PARAMS_GUID))[0]
    vsize = struct.unpack_from("<Q", base, vhdx_meta_item(base, VSIZE_GUID))[0]
    blocks = (vsize + bsize - 1) // bsize
    ratio = (1 << 23) * 512 // bsize
    log_off = struct.unpack_from("<Q", base, 64 * 1024 + 72)[0]
    e0 = struct.unpack_from("<Q", base, bat)[0]
    assert e0 & 7 == 6, "block 0 of the base must hold data"
    p0 = e0 >> 20 << 20
    empty = [k for k in range(blocks)
             if struct.unpack_from("<Q", base, bat + 8 * (k + k // ratio))[0] & 7 != 6]
    assert empty, "the base needs an unallocated block"
    k = empty[-1]
    kidx = k + k // ratio
    x = (len(base) + M - 1) // M * M
    last = x + bsize
    sec = (bat + 8 * kidx) // 4096 * 4096
    batsec = bytearray(base[sec:sec + 4096])
    struct.pack_into("<Q", batsec, bat + 8 * kidx - sec, x | 6)
    rnd = [bytearray(os.urandom(4096)) for _ in range(4)]
    # The last write ends the new block: qemu's replay extends the file only
    # as far as it writes, and refuses a BAT entry past the end of the file.
    woff = [x, x + 4096, x + 8192, x + bsize - 4096]

    # Expected: the changes made directly.
    c = bytearray(base) + bytearray(last - len(base))
    c[sec:sec + 4096] = batsec
    for i in range(4):
        c[woff[i]:woff[i] + 4096] = rnd[i]
    c[p0:p0 + 8192] = bytearray(8192)
    save(out, "vhdx-replay.clean.vhdx", c, "SKIP")

    guid = uuid.uuid4().bytes

    def with_log(*entries):
        """The base with the LogGuid set and ENTRIES at the log's start."""
        d = bytearray(base)
        vhdx_set_log_guid(d, guid)
        pos = log_off
        for e in entries:
            d[pos:pos + len(e)] = e
            pos += len(e)
        return d

    def dirty(flushed, break_first):
        a = log_entry(guid, 5, 0, flushed, last, [(p0, 8192)], [(sec, batsec)])
        b = log_entry(guid, 6, 0, flushed, last, [],
                      [(woff[i], rnd[i]) for i in range(4)])
        if break_first:
            a[200] ^= 1
        return with_log(a, b)

    # qemu-img opens the source read-only and refuses a log that needs
    # replaying; so does Ferry (issue 13), whatever the log would do.
    dirty_msg = "the log holds entries that were never replayed"
    save(out, "vhdx-replay.vhdx", dirty(len(base), False), dirty_msg,
         "replays vhdx-replay.clean.vhdx")
    save(out, "vhdx-log-broken.vhdx", dirty(len(base), True), dirty_msg, "refuses")
    save(out, "vhdx-log-truncated.vhdx", dirty(len(base) + M, False), dirty_msg, "refuses")

    # An entry that wraps around the log's end: its first two sectors are
    # the log's last, the rest its first (MS-VHDX 2.3.1: the log is circular).
    log_len = struct.unpack_from("<I", base, 64 * 1024 + 68)[0]
    w = log_entry(guid, 7, 0, len(base), last, [], [(woff[0], rnd[0]), (woff[1], rnd[1])])
    assert len(w) > 8192
    d = bytearray(base)
    vhdx_set_log_guid(d, guid)
    d[log_off + log_len - 8192:log_off + log_len] = w[:8192]
    d[log_off:log_off + len(w) - 8192] = w[8192:]
    save(out, "vhdx-log-wrapped.vhdx", d, dirty_msg, "refuses")

    # A log that points the BAT at a new block past the end of the file but
    # writes nothing there.
    a = log_entry(guid, 5, 0, len(base), last, [(p0, 8192)], [(sec, batsec)])
    b = log_entry(guid, 6, 0, len(base), last, [], [(p0 + 16384, rnd[0])])
    save(out, "vhdx-log-empty-block.vhdx", with_log(a, b), dirty_msg, "refuses")

    # Entries whose checksums are all wrong are no entries: the log is empty
    # and the image reads as it is (qemu's search finds nothing either).
    a[300] ^= 1
    b[300] ^= 1
    save(out, "vhdx-log-corrupt.vhdx", with_log(a, b), "OK")


def main():
    basedir, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    vdi_cases(load(os.path.join(basedir, "base.vdi")), outdir)
    vhd_cases(load(os.path.join(basedir, "base.vpc")),
              load(os.path.join(basedir, "base-fixed.vpc")), outdir)
    vhdx_cases(load(os.path.join(basedir, "base.vhdx")), outdir)
    with open(os.path.join(outdir, "cases.txt"), "w") as f:
        for case in cases:
            f.write("\t".join(case) + "\n")


if __name__ == "__main__":
    main()
