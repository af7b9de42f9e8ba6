#!/usr/bin/env python3
"""Seeds for tests/fuzz/fuzz-stream.c, written to tests/fuzz/corpus-stream.

    make-stream-corpus.py OUTDIR

The first byte of each seed chooses the layer (fuzz-stream.c): 0 Ferry's
gzip decoder, 1 libarchive's filters on a bare disk, 2 a tar/OVA read as a
stream, 3 a tar/OVA on a seekable source, 4 --content-type archive
extraction; bits 3.. are the --disk number.  The seeds are small (a few KiB)
and cover the hostile cases of tests/importer/hostile.sh: '..', absolute
paths, symbolic links leaving the tree, hard links, entries through a link,
an OVA with its .ovf/.mf, a sparse (GNU) member, long names (pax, GNU),
truncated streams, gzip with FEXTRA/FNAME/FCOMMENT/FHCRC and a bad trailer,
multi-member gzip.  Run by hand; the output is committed.
"""
import bz2
import gzip
import io
import lzma
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import zlib

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
disk = bytes(range(256)) * 8 + b"\0" * 2048 + b"ferry" * 100


def put(name, mode, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([mode]) + data)


def tar(entries, fmt=tarfile.USTAR_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, kind, arg in entries:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(arg)
                t.addfile(ti, io.BytesIO(arg))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = arg
                t.addfile(ti)
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE
                ti.linkname = arg
                t.addfile(ti)
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                t.addfile(ti)
    return b.getvalue()


def zstd(data):
    if not shutil.which("zstd"):
        return None
    return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def gz_flags(data):
    """gzip with FEXTRA, FNAME, FCOMMENT and FHCRC set."""
    head = bytearray(b"\x1f\x8b\x08\x1e" + struct.pack("<I", 0) + b"\x00\xff")
    head += struct.pack("<H", 4) + b"ab\x00\x00" + b"disk.raw\0" + b"a comment\0"
    head += struct.pack("<H", zlib.crc32(bytes(head)) & 0xffff)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return bytes(head) + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xffffffff)


g = gzip.compress(disk, mtime=0)
# Ferry's gzip decoder
put("gz-plain", 0, g)
put("gz-flags", 0, gz_flags(disk))
put("gz-multi", 0, g + gzip.compress(b"second member", mtime=0))
put("gz-cut", 0, g[:len(g) // 2])
put("gz-bad-crc", 0, g[:-8] + b"\0\0\0\0" + g[-4:])
put("gz-bad-size", 0, g[:-4] + b"\1\0\0\0")
put("gz-nested", 0, gzip.compress(g, mtime=0))
put("gz-stored", 0, gzip.compress(disk, compresslevel=0, mtime=0))
put("gz-empty", 0, gzip.compress(b"", mtime=0))
# libarchive's filters on a bare disk
put("raw-gz", 1, g)
put("raw-xz", 1, lzma.compress(disk))
put("raw-lzma", 1, lzma.compress(disk, format=lzma.FORMAT_ALONE))
put("raw-bz2", 1, bz2.compress(disk))
z = zstd(disk)
if z:
    put("raw-zst", 1, z)
put("raw-xz-cut", 1, lzma.compress(disk)[:100])
put("raw-bz2-cut", 1, bz2.compress(disk)[:60])
# tar / OVA
ova = tar([("vm.ovf", "file", b"<Envelope/>\n"), ("vm.mf", "file", b"SHA256(vm.ovf)= 00\n"),
           ("vm-disk1.vmdk", "file", disk), ("vm-disk2.vmdk", "file", disk[:1024])])
vmdk_desc = (b"# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
             b"createType=\"monolithicFlat\"\nRW 8 FLAT \"disk-flat.vmdk\" 0\n")
desc_tar = tar([("dir/disk.vmdk", "file", vmdk_desc), ("dir/disk-flat.vmdk", "file", disk[:4096])])
for mode in (2, 3):
    put("ova-%d" % mode, mode, ova)
    put("ova-disk2-%d" % mode, mode | (2 << 3), ova)
    put("ova-gz-%d" % mode, mode, gzip.compress(ova, mtime=0))
    put("ova-xz-%d" % mode, mode, lzma.compress(ova))
    put("ova-cut-%d" % mode, mode, ova[:len(ova) - 1500])
    put("tar-desc-%d" % mode, mode, desc_tar)
    put("tar-pax-%d" % mode, mode, tar([("n" * 150 + ".img", "file", disk)], tarfile.PAX_FORMAT))
    put("tar-gnu-%d" % mode, mode, tar([("g" * 120 + ".img", "file", disk)], tarfile.GNU_FORMAT))
    put("tar-empty-member-%d" % mode, mode, tar([("empty.img", "file", b"")]))
    put("tar-only-ovf-%d" % mode, mode, tar([("a.ovf", "file", b"<Envelope/>")]))
    put("tar-link-%d" % mode, mode, tar([("disk.img", "sym", "../etc/passwd")]))
# a GNU sparse member (old GNU format, hand-made header)
hdr = bytearray(512)
hdr[0:9] = b"sparse.img"[:9]
hdr[100:108] = b"0000644\0"
hdr[108:116] = b"0000000\0"
hdr[116:124] = b"0000000\0"
hdr[124:136] = b"%011o\0" % 512
hdr[136:148] = b"%011o\0" % 0
hdr[156] = ord("S")
hdr[257:265] = b"ustar  \0"
hdr[386:398] = b"%011o\0" % 4096      # sparse[0].offset
hdr[398:410] = b"%011o\0" % 512       # sparse[0].numbytes
hdr[483:495] = b"%011o\0" % 8192      # realsize
hdr[148:156] = b"        "
hdr[148:156] = b"%06o\0 " % sum(hdr)
sparse_tar = bytes(hdr) + disk[:512] + b"\0" * 1024
put("tar-gnu-sparse-2", 2, sparse_tar)
put("tar-gnu-sparse-3", 3, sparse_tar)
# --content-type archive: the hostile trees of tests/importer/hostile.sh
ok = tar([("d", "dir", None), ("d/a.txt", "file", b"hello\n"), ("d/l", "sym", "a.txt"),
          ("d/h", "hard", "d/a.txt"), ("p", "fifo", None)])
put("x-ok", 4, gzip.compress(ok, mtime=0))
put("x-ok-xz", 4, lzma.compress(ok))
put("x-ok-bz2", 4, bz2.compress(ok))
put("x-dotdot", 4, tar([("../evil", "file", b"x")]))
put("x-abs", 4, tar([("/etc/evil", "file", b"x")]))
put("x-sym-abs", 4, tar([("etc", "sym", "/etc")]))
put("x-sym-up", 4, tar([("d", "dir", None), ("d/up", "sym", "../../x")]))
put("x-hard-out", 4, tar([("h", "hard", "/etc/passwd")]))
put("x-through", 4, tar([("alias", "sym", "."), ("alias/x", "file", b"x")]))
put("x-chain", 4, tar([("a", "sym", "b"), ("b", "sym", "c"), ("c", "sym", "a"), ("a/x", "file", b"x")]))
put("x-cut", 4, gzip.compress(ok, mtime=0)[:80])
