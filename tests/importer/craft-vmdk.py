#!/usr/bin/env python3
"""Craft streamOptimized VMDK variants from one qemu-img made (issue 13).

qemu-img writes the grain directory and tables before the grains (the
header points there); VMware writes them after the grains, in markers, with
a footer and an end-of-stream marker.  Commands (IN is qemu-img's file):

  vmware IN OUT             the VMware layout: grains, GT markers, GD marker,
                            footer marker + footer, EOS marker
  cut-grain IN OUT N        IN cut right after its N-th grain (a sector
                            boundary: what a stream cut there looks like)
  cut-before-eos IN OUT     (vmware layout) everything but the EOS marker
  cut-before-footer IN OUT  (vmware layout) cut before the footer marker
  overstate IN OUT          the first grain's size overstates its data so
                            that it swallows the next grain's marker
  parent-desc IN OUT        the embedded descriptor moved to sector 2 and
                            given a parentCID
"""
import struct
import sys
import zlib


def records(d):
    """(offset, lba/val, size, type) of each record after the overhead."""
    pos = struct.unpack("<Q", d[64:72])[0] * 512
    out = []
    while pos + 512 <= len(d):
        val, size, typ = struct.unpack("<QII", d[pos:pos + 16])
        out.append((pos, val, size, typ))
        if size:
            pos += (12 + size + 511) // 512 * 512
        elif typ == 0:
            break
        else:
            pos += 512 + val * 512
    return out


def grains(d):
    return [r for r in records(d) if r[2]]


def vmware(d):
    capacity, grain = struct.unpack("<QQ", d[12:28])
    gtes = struct.unpack("<I", d[44:48])[0]
    overhead = struct.unpack("<Q", d[64:72])[0]
    out = bytearray(d[:overhead * 512])
    # No tables in the header area: the header says "at the end".
    gd_old = struct.unpack("<Q", d[56:64])[0]
    rgd_old = struct.unpack("<Q", d[48:56])[0]
    for sec in range(min(gd_old, rgd_old), overhead):
        out[sec * 512:(sec + 1) * 512] = bytes(512)
    struct.pack_into("<Q", out, 56, 0xffffffffffffffff)
    struct.pack_into("<Q", out, 48, 0)
    ngr = (capacity + grain - 1) // grain
    table = [0] * ngr
    for pos, lba, size, _ in grains(d):
        table[lba // grain] = len(out) // 512
        out += d[pos:pos + (12 + size + 511) // 512 * 512]
    ngt = (ngr + gtes - 1) // gtes
    gtsec = gtes * 4 // 512
    gd = []
    for t in range(ngt):
        ents = table[t * gtes:(t + 1) * gtes]
        ents += [0] * (gtes - len(ents))
        out += struct.pack("<QII", gtsec, 0, 1) + bytes(496)
        gd.append(len(out) // 512)
        out += struct.pack("<%dI" % gtes, *ents)
    gdsec = (ngt * 4 + 511) // 512
    out += struct.pack("<QII", gdsec, 0, 2) + bytes(496)
    gd_at = len(out) // 512
    out += struct.pack("<%dI" % ngt, *gd) + bytes(gdsec * 512 - ngt * 4)
    out += struct.pack("<QII", 1, 0, 3) + bytes(496)
    footer = bytearray(d[:512])
    struct.pack_into("<Q", footer, 56, gd_at)
    struct.pack_into("<Q", footer, 48, 0)
    out += footer
    out += bytes(512)  # EOS
    return out


def main():
    cmd, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    d = bytearray(open(src, "rb").read())
    if cmd == "vmware":
        out = vmware(d)
    elif cmd == "cut-grain":
        n = int(sys.argv[4])
        pos, _, size, _ = grains(d)[n - 1]
        out = d[:pos + (12 + size + 511) // 512 * 512]
    elif cmd == "cut-before-eos":
        out = d[:-512]
        assert struct.unpack("<QII", out[-1024:-1008]) == (1, 0, 3), "no footer before the EOS"
    elif cmd == "cut-before-footer":
        out = d[:-1536]
    elif cmd == "overstate":
        g = grains(d)
        pos, lba, size, _ = g[0]
        end = g[1][0] + (12 + g[1][2] + 511) // 512 * 512
        # The first grain's size swallows the whole second grain: the
        # stream goes on at a record boundary, one grain short.
        struct.pack_into("<I", d, pos + 8, end - pos - 12)
        out = d
    elif cmd == "parent-desc":
        off, size = struct.unpack("<QQ", d[28:44])
        text = bytes(d[off * 512:(off + size) * 512]).split(b"\0")[0]
        text = text.replace(b"parentCID=ffffffff", b"parentCID=0badcafe")
        d[off * 512:(off + size) * 512] = bytes(size * 512)
        new = 2
        d[new * 512:new * 512 + len(text)] = text
        struct.pack_into("<Q", d, 28, new)
        out = d
    else:
        sys.exit("unknown command " + cmd)
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
