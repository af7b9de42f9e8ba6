#!/bin/sh
# Seed corpora for the format fuzz targets, generated at test time:
#
#     make-corpus.sh OUTDIR
#
# writes OUTDIR/<format>/ for every format of ferry-importer --list-formats
# (the format table; seeds for raw, iso, qcow2, vmdk, vdi, vhd, vhdx): small
# images (4 MiB virtual, one or two blocks of data, so libFuzzer's inputs stay
# a few MiB at most) made by qemu-img in every subformat, plus the crafted
# hostile images of craft.py for vdi/vhd/vhdx.  Idempotent: an existing
# OUTDIR/.done is left alone.
set -eu
out=${1:?usage: make-corpus.sh OUTDIR}
[ -e "$out/.done" ] && exit 0
for tool in qemu-img python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is missing"; exit 77; }
done
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferry-corpus.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
# One directory per format of the table, as tests/importer-formats.cmake
# makes one fuzz target per format of the table.
formats=$("${FERRY_BIN:?FERRY_BIN not set (run through ctest)}/ferry-importer" --list-formats |
          cut -d' ' -f1)
[ -n "$formats" ] || { echo "FAIL: ferry-importer --list-formats printed nothing"; exit 1; }
for f in $formats; do mkdir -p "$out/$f"; done

# A 4 MiB disk with data in its first and last 64 KiB.
truncate -s 4M "$tmp/src.raw"
head -c 65536 /dev/urandom > "$tmp/chunk"
dd if="$tmp/chunk" of="$tmp/src.raw" conv=notrunc status=none
dd if="$tmp/chunk" of="$tmp/src.raw" bs=65536 seek=63 conv=notrunc status=none
truncate -s 4M "$tmp/empty.raw"

head -c 8192 "$tmp/src.raw" > "$out/raw/small.raw"
: > "$out/raw/empty.raw"
if command -v genisoimage >/dev/null 2>&1; then
    mkdir "$tmp/iso"; echo hello > "$tmp/iso/hello.txt"
    genisoimage -quiet -o "$out/iso/hello.iso" "$tmp/iso" 2>/dev/null || true
fi
# A bare primary volume descriptor when genisoimage is absent.
[ -e "$out/iso/hello.iso" ] || { truncate -s 40960 "$out/iso/pvd.iso";
    printf '\001CD001\001' | dd of="$out/iso/pvd.iso" bs=1 seek=32768 conv=notrunc status=none; }

mk() {  # mk DIR NAME SRC FMT [OPTIONS]
    d=$1 n=$2 s=$3 f=$4; shift 4
    qemu-img convert -f raw -O "$f" ${1:+-o "$1"} "$tmp/$s.raw" "$out/$d/$n" 2>/dev/null || true
}
for s in src empty; do
    mk qcow2 "$s-v3.qcow2" "$s" qcow2
    mk qcow2 "$s-v2.qcow2" "$s" qcow2 compat=0.10
    mk qcow2 "$s-l2.qcow2" "$s" qcow2 extended_l2=on,cluster_size=65536
    mk vmdk "$s-sparse.vmdk" "$s" vmdk
    mk vmdk "$s-stream.vmdk" "$s" vmdk subformat=streamOptimized
    mk vdi "$s-dynamic.vdi" "$s" vdi
    mk vdi "$s-static.vdi" "$s" vdi static=on
    mk vhd "$s-dynamic.vpc" "$s" vpc
    mk vhd "$s-fixed.vpc" "$s" vpc subformat=fixed,force_size=on
    mk vhdx "$s-dynamic.vhdx" "$s" vhdx block_size=1M
done
qemu-img convert -c -f raw -O qcow2 "$tmp/src.raw" "$out/qcow2/src-compressed.qcow2"
mk vhdx "src-fixed.vhdx" src vhdx subformat=fixed,block_size=1M

# The hostile images, built from these same small images.
mkdir "$tmp/base"
cp "$out/vdi/src-dynamic.vdi" "$tmp/base/base.vdi"
cp "$out/vhd/src-dynamic.vpc" "$tmp/base/base.vpc"
cp "$out/vhd/src-fixed.vpc" "$tmp/base/base-fixed.vpc"
cp "$out/vhdx/src-dynamic.vhdx" "$tmp/base/base.vhdx"
python3 "$(dirname "$0")/craft.py" "$tmp/base" "$tmp/hostile"
for f in "$tmp"/hostile/*; do
    case $f in
    *.vdi) cp "$f" "$out/vdi/" ;;
    *.vpc) cp "$f" "$out/vhd/" ;;
    *.vhdx) cp "$f" "$out/vhdx/" ;;
    esac
done
# streamOptimized VMDK variants (issue 13): VMware's layout (tables and a
# footer after the grains), cut at a grain, before the footer, before the
# end-of-stream marker, a grain size that swallows the next grain, and an
# embedded descriptor with a parent away from sector 1.
cv="$(dirname "$0")/../importer/craft-vmdk.py"
sv="$out/vmdk/src-stream.vmdk"
if [ -s "$sv" ]; then
    python3 "$cv" vmware "$sv" "$out/vmdk/stream-vmware.vmdk"
    python3 "$cv" cut-grain "$sv" "$out/vmdk/stream-cut-grain.vmdk" 1
    python3 "$cv" cut-grain "$out/vmdk/stream-vmware.vmdk" "$out/vmdk/stream-vmware-cut-grain.vmdk" 1
    python3 "$cv" cut-before-footer "$out/vmdk/stream-vmware.vmdk" "$out/vmdk/stream-cut-footer.vmdk"
    python3 "$cv" cut-before-eos "$out/vmdk/stream-vmware.vmdk" "$out/vmdk/stream-cut-eos.vmdk"
    python3 "$cv" overstate "$out/vmdk/stream-vmware.vmdk" "$out/vmdk/stream-overstate.vmdk"
    python3 "$cv" parent-desc "$sv" "$out/vmdk/stream-parent-desc.vmdk"
fi
# Hostile qcow2 headers (tests/importer/hostile.sh's patches of a good
# image, qcow2.txt offsets, big-endian): encryption, tables past the end, a
# 64 TiB+ size, cluster_bits 31, l1_size 0, corrupt and unknown features.
[ -s "$out/qcow2/src-v3.qcow2" ] && python3 - "$out/qcow2/src-v3.qcow2" "$out/qcow2" <<'PY'
import struct, sys
good = open(sys.argv[1], "rb").read()
patches = {"aes": [(32, ">I", 1)], "l1-eof": [(40, ">Q", 0x100000000)],
           "rc-eof": [(48, ">Q", 0x100000000)],
           "huge": [(24, ">Q", 0x1000000000000000), (36, ">I", 0x10000000)],
           "bits": [(20, ">I", 31)], "l1small": [(36, ">I", 0)],
           "corrupt": [(72, ">Q", 2)], "unknown": [(72, ">Q", 0x100)],
           "l2-eof": [(struct.unpack(">Q", good[40:48])[0], ">Q", 0x80000000F0000000)]}
for name, ps in patches.items():
    d = bytearray(good)
    for off, fmt, val in ps:
        d[off:off + struct.calcsize(fmt)] = struct.pack(fmt, val)
    open("%s/hostile-%s.qcow2" % (sys.argv[2], name), "wb").write(bytes(d))
PY
# VMDK descriptors (the descriptor parser): the fuzz target resolves every
# extent file to the input itself, so these reach the extent checks.
d="$out/vmdk"
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\n# Extent description\nRW 1 FLAT "d-flat.vmdk" 0\n\nddb.virtualHWVersion = "4"\n' >"$d/desc-flat.vmdk"
printf '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType="twoGbMaxExtentFlat"\nRW 1 FLAT "d-f001.vmdk" 0\nRDONLY 2 VMFS "d-f002.vmdk" 1\nRW 8 ZERO\nNOACCESS 1 FLAT "d-f003.vmdk"\n' >"$d/desc-multi.vmdk"
printf '# Disk DescriptorFile\nversion=1\nparentCID=ffffffff\ncreateType="twoGbMaxExtentSparse"\nRW 8192 SPARSE "d-s001.vmdk"\n' >"$d/desc-sparse.vmdk"
printf '# Disk DescriptorFile\r\nversion=1\r\nparentCID=12345678\r\nparentFileNameHint="base.vmdk"\r\nRW 1 FLAT "x.vmdk" 0\r\n' >"$d/desc-parent.vmdk"
printf '# Disk DescriptorFile\nRW 1 FLAT "../escape.vmdk" 0\nRW 1 FLAT "/etc/passwd" 0\nRW 99999999999999999999 FLAT "big.vmdk" 0\nRW 1 EXOTIC "e.vmdk"\nRW 1 FLAT\n' >"$d/desc-hostile.vmdk"
[ -s "$out/vmdk/src-sparse.vmdk" ] && qemu-img create -q -f vmdk -o subformat=monolithicFlat "$tmp/flat.vmdk" 64K 2>/dev/null &&
    cp "$tmp/flat.vmdk" "$d/qemu-monolithic-flat.vmdk" || true
# Sparse-encoded copies (see tests/fuzz/fuzz-format.c) of every seed over
# 64 KiB, so libFuzzer's inputs stay small (the campaign's -max_len is
# 160 KiB, tests/fuzz/campaign.sh): only non-zero sectors.
python3 - "$out" <<'PY'
import os, struct, sys
out = sys.argv[1]
for fmt in ("vhdx", "vhd", "vdi", "qcow2", "vmdk", "iso"):
    d = os.path.join(out, fmt)
    for name in sorted(os.listdir(d)):
        data = open(os.path.join(d, name), "rb").read()
        if len(data) > 64 << 20 or len(data) <= 64 << 10 or name.endswith(".fzsp"):
            continue
        rec = bytearray(b"FZSPARSE" + struct.pack("<Q", len(data)))
        i = 0
        while i < len(data):
            if not any(data[i:i + 512]):
                i += 512
                continue
            j = i
            while j < len(data) and j - i < 65024 and any(data[j:j + 512]):
                j += 512
            rec += struct.pack("<IH", i, j - i) + data[i:j]
            i = j
        open(os.path.join(d, name + ".fzsp"), "wb").write(rec)
PY
touch "$out/.done"
echo "corpus: $(find "$out" -type f ! -name .done | wc -l) files in $out"
