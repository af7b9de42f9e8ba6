#!/bin/bash
# Builds the importer test corpus with qemu-img, once per ctest run (the
# importer-corpus fixture): small disks (64 MiB) with data scattered, at the
# end and none, in every format and subformat the importer reads (qcow2,
# VMDK, VDI, VHD, VHDX), wrapped in every compression and container; plus a
# 4100 MiB disk for the multi-extent VMDK variants.  Each image IMG has a reference IMG.ref from
# `qemu-img convert -O raw` (the oracle).  Prints the list it made.
set -eu
: "${FERRY_BUILD:?FERRY_BUILD not set}"
CORPUS="$FERRY_BUILD/tests/importer-corpus"
for t in qemu-img gzip xz zstd bzip2 tar python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not installed"; exit 77; }
done
rm -rf "$CORPUS"
mkdir -p "$CORPUS"
cd "$CORPUS"

# Patterns: deterministic pseudo-random data.
python3 - <<'PY'
import os, random
MiB = 1 << 20
def make(name, size, chunks):
    r = random.Random(name)
    with open(name, "wb") as f:
        f.truncate(size)
        for off, ln in chunks:
            f.seek(off)
            f.write(bytes(r.getrandbits(8) for _ in range(min(ln, 4096))) * (ln // 4096) +
                    bytes(r.getrandbits(8) for _ in range(ln % 4096)))
make("scattered.raw", 64 * MiB,
     [(0, 64 * 1024), (3 * MiB + 512, 5000), (10 * MiB, 3 * MiB), (33 * MiB - 4096, 12288),
      (50 * MiB + 65536 * 3, 200000)])
make("end.raw", 64 * MiB, [(64 * MiB - 1536 * 1024, 1536 * 1024)])
make("none.raw", 64 * MiB, [])
# Crosses the 2 GiB extent boundary and ends at 4100 MiB.
make("big.raw", 4100 * MiB, [(0, MiB), (2048 * MiB - 8192, 65536), (4100 * MiB - MiB, MiB)])
PY
# A block of zeros inside data, which the importer must not write.
dd if=/dev/zero of=scattered.raw bs=64k count=4 seek=170 conv=notrunc status=none

img() {  # img NAME SRC FORMAT [options]
    local name="$1" src="$2" fmt="$3"; shift 3
    qemu-img convert -f raw -O "$fmt" "$@" "$src" "$name"
    # -f: qemu-img itself probes a fixed VHD (a footer only) as raw.
    qemu-img convert -f "$fmt" -O raw "$name" "$name.ref"
}
for p in scattered end none; do
    cp --sparse=always "$p.raw" "$p.raw.img"
    qemu-img convert -f raw -O raw "$p.raw" "$p.raw.img.ref"
    img "$p.v2.qcow2" "$p.raw" qcow2 -o compat=0.10
    img "$p.v3.qcow2" "$p.raw" qcow2 -o compat=1.1
    img "$p.c.qcow2" "$p.raw" qcow2 -c
    img "$p.l2.qcow2" "$p.raw" qcow2 -o extended_l2=on,cluster_size=128k
    # (64 MiB twoGbMaxExtent* disks have one extent file; big.raw below
    # makes three.)
    for sub in monolithicSparse streamOptimized monolithicFlat twoGbMaxExtentSparse \
               twoGbMaxExtentFlat; do
        mkdir -p "$p.$sub"
        img "$p.$sub/disk.vmdk" "$p.raw" vmdk -o subformat=$sub
    done
    img "$p.dynamic.vdi" "$p.raw" vdi
    img "$p.static.vdi" "$p.raw" vdi -o static=on
    img "$p.dynamic.vhd" "$p.raw" vpc -o subformat=dynamic
    img "$p.fixed.vhd" "$p.raw" vpc -o subformat=fixed,force_size=on
    img "$p.dynamic.vhdx" "$p.raw" vhdx
    img "$p.fixed.vhdx" "$p.raw" vhdx -o subformat=fixed
done
img scattered.zstd.qcow2 scattered.raw qcow2 -c -o compression_type=zstd
img scattered.512.qcow2 scattered.raw qcow2 -o cluster_size=512
img scattered.2m.qcow2 scattered.raw qcow2 -o cluster_size=2M
# Zero clusters and subclusters written by qemu-io, when it is there.
if command -v qemu-io >/dev/null; then
    for o in compat=1.1 extended_l2=on,cluster_size=64k; do
        n="zeros.$(echo "$o" | cut -d, -f1 | tr = -).qcow2"
        qemu-img create -q -f qcow2 -o "$o" "$n" 64M
        qemu-io -f qcow2 -c "write -P 0x55 0 8M" -c "write -z 1M 2M" -c "write -P 0x66 5000k 12k" \
            -c "write -z 6M 4k" -c "write -P 0x77 63M 1M" -c "discard 7M 64k" "$n" >/dev/null
        qemu-img convert -O raw "$n" "$n.ref"
    done
fi
for sub in twoGbMaxExtentSparse twoGbMaxExtentFlat; do
    mkdir -p "big.$sub"
    qemu-img convert -f raw -O vmdk -o subformat=$sub big.raw "big.$sub/disk.vmdk"
done
# ESXi's flat descriptor (VMFS extent type), and a descriptor mixing FLAT,
# ZERO and SPARSE extents; references built from the raw pieces.
mkdir -p vmfs multi
cp scattered.monolithicFlat/disk-flat.vmdk vmfs/disk-flat.vmdk
printf '# Disk DescriptorFile\nversion=1\nCID=1a2b3c4d\nparentCID=ffffffff\ncreateType="vmfs"\n\nRW 131072 VMFS "disk-flat.vmdk"\n\nddb.adapterType = "lsilogic"\n' >vmfs/disk.vmdk
cp scattered.raw.img.ref vmfs/disk.vmdk.ref
cp scattered.monolithicFlat/disk-flat.vmdk multi/part1-flat.vmdk
cp end.monolithicSparse/disk.vmdk multi/part3.vmdk
printf '# Disk DescriptorFile\nversion=1\nCID=1a2b3c4e\nparentCID=ffffffff\ncreateType="custom"\n\nRW 65536 FLAT "part1-flat.vmdk" 32768\nRW 2048 ZERO\nRW 131072 SPARSE "part3.vmdk"\n' >multi/disk.vmdk
{ dd if=scattered.raw bs=1M skip=16 count=32 status=none; head -c $((1 << 20)) /dev/zero; cat end.raw; } >multi/disk.vmdk.ref
# An ISO 9660 image, when genisoimage is there (imported as it is).
if command -v genisoimage >/dev/null; then
    mkdir -p isotree; head -c 300000 scattered.raw >isotree/blob.bin; echo hello >isotree/readme.txt
    genisoimage -quiet -o cd.iso isotree
    qemu-img convert -f raw -O raw cd.iso cd.iso.ref
    rm -rf isotree
fi

# Compression layers and containers (references: the inner image's).
for z in "gzip -1:gz" "xz -0 -T1:xz" "zstd -q -1:zst" "bzip2 -1:bz2"; do
    cmd="${z%%:*}"; ext="${z##*:}"
    $cmd -c scattered.raw >"scattered.raw.$ext"; cp scattered.raw.img.ref "scattered.raw.$ext.ref"
    $cmd -c scattered.v3.qcow2 >"scattered.qcow2.$ext"; cp scattered.v3.qcow2.ref "scattered.qcow2.$ext.ref"
done
# A fixed VHD as a stream: its footer, the only magic, comes last.
gzip -1 -c end.fixed.vhd >end.fixed.vhd.gz; cp end.fixed.vhd.ref end.fixed.vhd.gz.ref
cp scattered.streamOptimized/disk.vmdk disk.vmdk
printf '<?xml version="1.0"?><Envelope/>\n' >disk.ovf
tar cf scattered.ova disk.ovf disk.vmdk
cp scattered.streamOptimized/disk.vmdk.ref scattered.ova.ref
cp scattered.v3.qcow2 disk2.qcow2
tar czf scattered.tar.gz disk.ovf disk.vmdk disk2.qcow2
cp scattered.streamOptimized/disk.vmdk.ref scattered.tar.gz.ref
# Random-access formats inside uncompressed tars (read in place, no
# scratch), one with pax headers (a long name) before the disk.
long=disk-with-a-name-long-enough-for-a-pax-extended-header-$(printf 'x%.0s' $(seq 90)).vmdk
cp scattered.monolithicSparse/disk.vmdk "$long"
tar --format=pax -cf scattered.pax.ova disk.ovf "$long"
cp scattered.monolithicSparse/disk.vmdk.ref scattered.pax.ova.ref
tar cf scattered.qcow2.ova disk.ovf disk2.qcow2
cp scattered.v3.qcow2.ref scattered.qcow2.ova.ref
rm -f disk.vmdk disk.ovf disk2.qcow2 "$long"
touch .done
find . -type f ! -name '*.ref' ! -name '.done' | sort
