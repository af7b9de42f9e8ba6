#!/bin/bash
# Crafted hostile images and archives: each is refused with a message that
# says why, exit status 1, one error line, and no destination (nor a
# temporary file) left behind.  Nothing from the host is read through them.
. "$(dirname "$0")/lib.sh"
need tar
cd "$WORK"
H="$WORK/hostile"
mkdir -p "$H"
cp "$CORPUS/scattered.v3.qcow2" "$H/good.qcow2"

# ---- qcow2 ------------------------------------------------------------------
qemu-img create -q -f qcow2 "$H/base.qcow2" 64M
qemu-img create -q -f qcow2 -b "$H/base.qcow2" -F qcow2 "$H/backing.qcow2"
expect_refusal qcow2-backing "$H/backing.qcow2" "backing file"
qemu-img create -q -f qcow2 -o data_file="$H/data.raw" "$H/datafile.qcow2" 64M
expect_refusal qcow2-data-file "$H/datafile.qcow2" "external data file"
# (LUKS key setup times the CPU and can fail on a loaded machine: then the
# crafted crypt_method below still covers encryption.)
if qemu-img create -q -f qcow2 --object secret,id=sec0,data=secret \
    -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10 "$H/luks.qcow2" 64M; then
    expect_refusal qcow2-luks "$H/luks.qcow2" "encrypted"
else
    echo "note: qemu-img could not create a LUKS image here"
fi

# Patch header fields of a good image (big-endian, qcow2.txt offsets).
patch() {  # patch OUT OFFSET FORMAT VALUE [OFFSET FORMAT VALUE...]
    local out="$1"; shift
    cp "$H/good.qcow2" "$out"
    python3 - "$out" "$@" <<'PY'
import struct, sys
path, args = sys.argv[1], sys.argv[2:]
with open(path, "r+b") as f:
    for i in range(0, len(args), 3):
        off, fmt, val = int(args[i], 0), args[i + 1], int(args[i + 2], 0)
        f.seek(off); f.write(struct.pack(fmt, val))
PY
}
patch "$H/aes.qcow2" 32 '>I' 1
expect_refusal qcow2-aes "$H/aes.qcow2" "encrypted"
patch "$H/l1-eof.qcow2" 40 '>Q' 0x100000000
expect_refusal qcow2-l1-past-eof "$H/l1-eof.qcow2" "L1 table.*past the end"
patch "$H/rc-eof.qcow2" 48 '>Q' 0x100000000
expect_refusal qcow2-refcount-past-eof "$H/rc-eof.qcow2" "refcount table.*past the end"
patch "$H/huge.qcow2" 24 '>Q' 0x1000000000000000 36 '>I' 0x10000000
expect_refusal qcow2-huge "$H/huge.qcow2" "beyond the 64 TiB limit"
patch "$H/bits.qcow2" 20 '>I' 31
expect_refusal qcow2-cluster-bits "$H/bits.qcow2" "cluster_bits 31 out of range"
patch "$H/l1small.qcow2" 36 '>I' 0
expect_refusal qcow2-l1-too-small "$H/l1small.qcow2" "l1_size 0 is too small"
patch "$H/corrupt.qcow2" 72 '>Q' 2
expect_refusal qcow2-corrupt "$H/corrupt.qcow2" "marked corrupt"
patch "$H/unknown.qcow2" 72 '>Q' 0x100
expect_refusal qcow2-unknown-feature "$H/unknown.qcow2" "unknown incompatible features"
# The L1 entry points an L2 table past the end.
l1=$(python3 -c 'import struct,sys; print(struct.unpack(">Q", open(sys.argv[1],"rb").read()[40:48])[0])' "$H/good.qcow2")
patch "$H/l2-eof.qcow2" "$l1" '>Q' 0x80000000F0000000
expect_refusal qcow2-l2-past-eof "$H/l2-eof.qcow2" "L2 table.*past the end"
# Truncated: data clusters missing at the end (qemu-img would fill zeros).
cp "$CORPUS/end.v3.qcow2" "$H/truncated.qcow2"
truncate -s -512K "$H/truncated.qcow2"
expect_refusal qcow2-truncated "$H/truncated.qcow2" "past the end"
# A backing file through the header: name pointed at /etc/passwd.
patch "$H/backing-passwd.qcow2" 8 '>Q' 4096 16 '>I' 11
printf '/etc/passwd' | dd of="$H/backing-passwd.qcow2" bs=1 seek=4096 conv=notrunc status=none
expect_refusal qcow2-backing-passwd "$H/backing-passwd.qcow2" "backing file ('/etc/passwd')"

# ---- VMDK -------------------------------------------------------------------
desc() {  # desc FILE EXTENT-LINE [parentCID]
    printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=%s\ncreateType="monolithicFlat"\n\n# Extent description\n%s\n' \
        "${3:-ffffffff}" "$2" >"$1"
}
mkdir -p "$H/vm" "$H/outside"
cp "$CORPUS/scattered.raw" "$H/outside/secret-flat.vmdk"
desc "$H/vm/abs.vmdk" 'RW 8 FLAT "/etc/passwd" 0'
expect_refusal vmdk-absolute "$H/vm/abs.vmdk" "absolute path '/etc/passwd'"
desc "$H/vm/dotdot.vmdk" 'RW 8 FLAT "../outside/secret-flat.vmdk" 0'
expect_refusal vmdk-dotdot "$H/vm/dotdot.vmdk" "leaves the directory"
ln -s ../outside/secret-flat.vmdk "$H/vm/link-flat.vmdk"
desc "$H/vm/symlink.vmdk" 'RW 8 FLAT "link-flat.vmdk" 0'
expect_refusal vmdk-symlink "$H/vm/symlink.vmdk" "symbolic link"
ln -s /etc "$H/vm/etc"
desc "$H/vm/symdir.vmdk" 'RW 8 FLAT "etc/passwd" 0'
expect_refusal vmdk-symlink-dir "$H/vm/symdir.vmdk" "symbolic link"
desc "$H/vm/delta.vmdk" 'RW 8 FLAT "x-flat.vmdk" 0' 0badcafe
expect_refusal vmdk-delta "$H/vm/delta.vmdk" "delta disk"
truncate -s 4096 "$H/vm/short-flat.vmdk"
desc "$H/vm/short.vmdk" 'RW 131072 FLAT "short-flat.vmdk" 0'
expect_refusal vmdk-flat-short "$H/vm/short.vmdk" "past the end"
desc "$H/vm/type.vmdk" 'RW 8 VMFSSPARSE "x.vmdk"'
expect_refusal vmdk-extent-type "$H/vm/type.vmdk" "extent type VMFSSPARSE"
# Sparse header fields (little-endian): capacity, grain size, GD offset.
vpatch() {  # vpatch OUT OFFSET FORMAT VALUE
    cp "$CORPUS/scattered.monolithicSparse/disk.vmdk" "$1"
    python3 -c 'import struct,sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(struct.pack(sys.argv[3], int(sys.argv[4],0)))' "$@"
}
vpatch "$H/vhuge.vmdk" 12 '<Q' 0x4000000000000000
expect_refusal vmdk-huge "$H/vhuge.vmdk" "beyond the 64 TiB limit"
vpatch "$H/vgrain.vmdk" 20 '<Q' 3
expect_refusal vmdk-grain "$H/vgrain.vmdk" "grainSize 3"
vpatch "$H/vgd.vmdk" 56 '<Q' 0x10000000
expect_refusal vmdk-gd-past-eof "$H/vgd.vmdk" "grain directory.*past the end"

# streamOptimized: a corrupt grain, and a stream cut inside a grain, read
# both with random access and as a stream (gzip makes it one).
S="$CORPUS/scattered.streamOptimized/disk.vmdk"
python3 - "$S" "$H/badgrain.vmdk" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
overhead = struct.unpack("<Q", data[64:72])[0] * 512
size = struct.unpack("<I", data[overhead + 8:overhead + 12])[0]
assert size > 0, "first record is not a grain"
data[overhead + 12 + 2:overhead + 12 + 40] = b"\xff" * 38
open(sys.argv[2], "wb").write(data)
PY
expect_refusal vmdk-bad-grain "$H/badgrain.vmdk" "does not inflate"
gzip -c "$H/badgrain.vmdk" >"$H/badgrain.vmdk.gz"
expect_refusal vmdk-bad-grain-stream "$H/badgrain.vmdk.gz" "does not inflate"
head -c $(( $(stat -c %s "$S") / 2 + 100 )) "$S" | gzip >"$H/cut.vmdk.gz"
expect_refusal vmdk-cut-stream "$H/cut.vmdk.gz" "stream ends"
# A grain that inflates beyond a grain (a zlib bomb in place of the first
# grain), and a grain for a sector outside the disk: refused from a file
# (random access through the grain tables) and from a stream.
python3 - "$S" "$H" <<'PY'
import struct, sys, zlib
src, out = sys.argv[1], sys.argv[2]
data = bytearray(open(src, "rb").read())
capacity, grain = struct.unpack("<QQ", data[12:28])
rec = struct.unpack("<Q", data[64:72])[0] * 512
lba, size = struct.unpack("<QI", data[rec:rec + 12])
assert size > 0, "first record is not a grain"
bomb = zlib.compress(bytes(grain * 512 * 64))
assert len(bomb) <= size
# (The record keeps its size, so the stream finds the next one where it was.)
d = bytearray(data); d[rec + 12:rec + 12 + len(bomb)] = bomb
open(out + "/bomb.vmdk", "wb").write(d)
d = bytearray(data); d[rec:rec + 8] = struct.pack("<Q", capacity)
open(out + "/outside.vmdk", "wb").write(d)
PY
expect_refusal vmdk-grain-bomb "$H/bomb.vmdk" "does not inflate within a grain"
gzip -c "$H/bomb.vmdk" >"$H/bomb.vmdk.gz"
expect_refusal vmdk-grain-bomb-stream "$H/bomb.vmdk.gz" "does not inflate within a grain"
expect_refusal vmdk-grain-wrong-sector "$H/outside.vmdk" "is for sector 131072, not 0"
gzip -c "$H/outside.vmdk" >"$H/outside.vmdk.gz"
expect_refusal vmdk-grain-outside-stream "$H/outside.vmdk.gz" "grain for sector 131072 is outside the disk"
# A grain table past the end of a monolithicSparse extent.
python3 - "$CORPUS/scattered.monolithicSparse/disk.vmdk" "$H/gt-eof.vmdk" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
gd = struct.unpack("<Q", data[56:64])[0] * 512
data[gd:gd + 4] = struct.pack("<I", 0x7ffffff0)
open(sys.argv[2], "wb").write(data)
PY
expect_refusal vmdk-gt-past-eof "$H/gt-eof.vmdk" "grain table 0 at sector 2147483632 is past the end"
# A real delta disk made by qemu-img: refused for its parent.
qemu-img create -q -f vmdk -b "$CORPUS/scattered.monolithicSparse/disk.vmdk" -F vmdk "$H/child.vmdk"
expect_refusal vmdk-delta-qemu "$H/child.vmdk" "delta disk"

# Layers in layers (a compression quine or a tar holding itself would
# loop): Ferry peels at most 8 layers of gzip (its own, checked decoder) and
# 4 archives or other filter stacks (libarchive stacks those itself).
cp "$CORPUS/scattered.qcow2.gz" "$H/gz.1"
for i in $(seq 2 30); do gzip -1 -c "$H/gz.$((i - 1))" >"$H/gz.$i"; done
check_import gzip-5-deep "$H/gz.5" "$CORPUS/scattered.qcow2.gz.ref"
expect_refusal gzip-30-deep "$H/gz.30" "more than 8 layers of gzip"
cp "$CORPUS/scattered.qcow2.ova" "$H/t.1"
for i in 2 3 4 5; do tar -C "$H" -cf "$H/t.$i" "t.$((i - 1))"; done
check_import tar-4-deep "$H/t.4" "$CORPUS/scattered.qcow2.ova.ref"
expect_refusal tar-5-deep "$H/t.5" "more than 4 layers of compression or archives"

# qcow2: a compressed cluster that does not inflate.
python3 - "$CORPUS/scattered.c.qcow2" "$H/badc.qcow2" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
cb = struct.unpack(">I", data[20:24])[0]
l1 = struct.unpack(">Q", data[40:48])[0]
l2 = struct.unpack(">Q", data[l1:l1 + 8])[0] & 0x00fffffffffffe00
for i in range(1 << (cb - 3)):
    e = struct.unpack(">Q", data[l2 + 8 * i:l2 + 8 * i + 8])[0]
    if e & (1 << 62):
        off = e & ((1 << (62 - (cb - 8))) - 1)
        data[off:off + 64] = b"\xee" * 64
        break
else:
    raise SystemExit("no compressed cluster")
open(sys.argv[2], "wb").write(data)
PY
expect_refusal qcow2-bad-compressed "$H/badc.qcow2" "does not inflate"

# ---- fixed VHD: a file and a stream of it refuse alike ----------------------
# A fixed VHD's only magic is its footer, after the data: a stream (here
# gzip) sees it last.  Whatever the file is refused for, so is the stream.
vhdfoot() {  # vhdfoot IN OUT [size=BYTES] [type=N] [dynhdr=OFFSET] [badsum]: patch the footer
    python3 - "$@" <<'PY'
import struct, sys
src, out, args = sys.argv[1], sys.argv[2], sys.argv[3:]
data = bytearray(open(src, "rb").read())
f = len(data) - 512
assert data[f:f + 8] == b"conectix"
for a in args:
    if a.startswith("size="):
        data[f + 40:f + 56] = struct.pack(">QQ", int(a[5:]), int(a[5:]))
    if a.startswith("type="):
        data[f + 60:f + 64] = struct.pack(">I", int(a[5:]))
    if a.startswith("dynhdr="):
        data[f + 16:f + 24] = struct.pack(">Q", int(a[7:]))
data[f + 64:f + 68] = b"\0" * 4
csum = ~sum(data[f:f + 512]) & 0xffffffff
if "badsum" in args:
    csum ^= 1
data[f + 64:f + 68] = struct.pack(">I", csum)
open(out, "wb").write(data)
PY
    gzip -1 -c "$2" >"$2.gz"
}
vsz=$(( $(stat -c %s "$CORPUS/end.fixed.vhd") - 512 ))
vhdfoot "$CORPUS/end.fixed.vhd" "$H/badsum.vhd" badsum
vhdfoot "$CORPUS/end.fixed.vhd" "$H/big.vhd" size=$((vsz + 1048576))
vhdfoot "$CORPUS/end.fixed.vhd" "$H/diff.vhd" type=4
vhdfoot "$CORPUS/end.fixed.vhd" "$H/dyn.vhd" type=3
for src in "" .gz; do
    expect_refusal "vhd-fixed-bad-checksum$src" "$H/badsum.vhd$src" "footer checksum 0x[0-9a-f]* does not match"
    expect_refusal "vhd-fixed-too-big$src" "$H/big.vhd$src" \
        "fixed disk of $((vsz + 1048576)) bytes needs more than the $((vsz + 512)) bytes"
    expect_refusal "vhd-tail-differencing$src" "$H/diff.vhd$src" "differencing disk (disk type 4)"
    # A dynamic disk's footer with a fixed disk's data offset (none).
    expect_refusal "vhd-tail-dynamic$src" "$H/dyn.vhd$src" "dynamic header offset [0-9]* out of range"
done
# A dynamic disk's footer that points into the data: a file reads there
# (and finds no dynamic header); a stream has gone past it and says so.
vhdfoot "$CORPUS/end.fixed.vhd" "$H/dyn512.vhd" type=3 dynhdr=512
expect_refusal vhd-tail-dynamic-header "$H/dyn512.vhd" 'no dynamic header (cookie "cxsparse") at offset 512'
expect_refusal vhd-tail-dynamic-header.gz "$H/dyn512.vhd.gz" "offset 512 is out of reach (import it from a file)"

# ---- unknown content under a familiar name ----------------------------------
printf 'QFI\373\0\0\0\7' >"$H/v7.qcow2"
"$IMPORTER" --url "$H/v7.qcow2" --dest "$WORK/v7.raw" --progress none ||
    fail "an unknown qcow2 version does not import as raw bytes"
# (8 bytes of raw: rounded up to a sector, as qemu-img does.)
cmp -s -n 8 "$H/v7.qcow2" "$WORK/v7.raw" && [ "$(stat -c %s "$WORK/v7.raw")" = 512 ] ||
    fail "v7.qcow2 is not copied as raw"
echo "ok  content decides: an unknown qcow2 version imports as raw bytes"

# ---- archives (--content-type archive) --------------------------------------
mktar() {  # mktar OUT.tar.gz KIND: entries made by python's tarfile
    python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
out, kind = sys.argv[1], sys.argv[2]
def add(t, name, data=b"x", type=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name); i.type = type; i.linkname = link
    i.size = len(data) if type == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if type == tarfile.REGTYPE else None)
with tarfile.open(out, "w:gz", format=tarfile.GNU_FORMAT) as t:
    add(t, "ok.txt", b"fine")
    if kind == "dotdot": add(t, "../evil.txt")
    if kind == "abs": add(t, "/tmp/ferry-evil.txt")
    if kind == "symlink-abs": add(t, "link", type=tarfile.SYMTYPE, link="/etc")
    if kind == "symlink-up": add(t, "sub/link", type=tarfile.SYMTYPE, link="../../etc/passwd")
    if kind == "hardlink": add(t, "hard", type=tarfile.LNKTYPE, link="../outside")
    if kind == "through":   # a link inside, then a file through it (libarchive's SECURE_SYMLINKS)
        add(t, "dir", type=tarfile.DIRTYPE)
        add(t, "alias", type=tarfile.SYMTYPE, link="dir")
        add(t, "alias/file.txt", b"through a link")
    if kind == "good":
        add(t, "dir", type=tarfile.DIRTYPE)
        add(t, "dir/inner.txt", b"inner")
        add(t, "dir/rel", type=tarfile.SYMTYPE, link="../ok.txt")
PY
}
for kind in dotdot abs symlink-abs symlink-up hardlink through; do
    mktar "$H/$kind.tar.gz" "$kind"
done
expect_refusal archive-dotdot "$H/dotdot.tar.gz" "'..' refused" --content-type archive
expect_refusal archive-absolute "$H/abs.tar.gz" "absolute path refused" --content-type archive
[ ! -e /tmp/ferry-evil.txt ] || fail "archive wrote /tmp/ferry-evil.txt"
expect_refusal archive-symlink-abs "$H/symlink-abs.tar.gz" "symbolic link to '/etc' leaves" --content-type archive
expect_refusal archive-symlink-up "$H/symlink-up.tar.gz" "leaves the archive" --content-type archive
expect_refusal archive-hardlink "$H/hardlink.tar.gz" "hard link" --content-type archive
expect_refusal archive-through-symlink "$H/through.tar.gz" "goes through the symbolic link 'alias'" --content-type archive
# An existing destination directory keeps only what it had after a refusal.
mkdir -p "$WORK/existing"; echo keep >"$WORK/existing/keep"
"$IMPORTER" --url "$H/dotdot.tar.gz" --dest "$WORK/existing" --content-type archive --progress none 2>/dev/null &&
    fail "archive into an existing directory succeeded"
[ "$(ls -A "$WORK/existing")" = keep ] || fail "leftovers in the existing directory: $(ls -A "$WORK/existing")"
echo "ok  archive refusal leaves an existing directory as it was"
echo "hostile: all refused"
