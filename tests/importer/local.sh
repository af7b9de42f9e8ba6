#!/bin/bash
# Every corpus image from a local path: Ferry's raw output must equal
# qemu-img convert -O raw byte for byte (cmp) and be as sparse.
. "$(dirname "$0")/lib.sh"

# Every format and subformat of issue 3, each with data scattered, at the
# end and none: a corpus that lost one fails here, not silently.
for p in scattered end none; do
    for v in raw.img v2.qcow2 v3.qcow2 c.qcow2 l2.qcow2 \
             monolithicSparse/disk.vmdk streamOptimized/disk.vmdk monolithicFlat/disk.vmdk \
             twoGbMaxExtentSparse/disk.vmdk twoGbMaxExtentFlat/disk.vmdk \
             dynamic.vdi static.vdi dynamic.vhd fixed.vhd dynamic.vhdx fixed.vhdx; do
        [ -f "$CORPUS/$p.$v.ref" ] || fail "the corpus lacks $p.$v"
    done
done
for f in zeros.compat-1.1.qcow2 zeros.extended_l2-on.qcow2 scattered.zstd.qcow2 multi/disk.vmdk \
         vmfs/disk.vmdk scattered.raw.gz scattered.raw.xz scattered.raw.zst scattered.raw.bz2 \
         scattered.ova scattered.tar.gz end.fixed.vhd.gz; do
    [ -f "$CORPUS/$f.ref" ] || fail "the corpus lacks $f"
done

n=0
while IFS= read -r ref; do
    img="${ref%.ref}"
    name="$(echo "${img#$CORPUS/}" | tr / _)"
    check_import "$name" "$img" "$ref"
    n=$((n + 1))
done < <(find "$CORPUS" -name '*.ref' | sort)
[ "$n" -ge 68 ] || fail "only $n corpus images"

# file:// URLs, and the second disk of a tar.
check_import file-url "file://$CORPUS/scattered.v3.qcow2" "$CORPUS/scattered.v3.qcow2.ref"
check_import tar-disk-2 "$CORPUS/scattered.tar.gz" "$CORPUS/scattered.v3.qcow2.ref" --disk 2

# The multi-extent VMDKs (4100 MiB): the reference is the raw they came from.
for sub in twoGbMaxExtentSparse twoGbMaxExtentFlat; do
    check_import "big-$sub" "$CORPUS/big.$sub/disk.vmdk" "$CORPUS/big.raw"
done
echo "all $((n + 4)) imports match qemu-img"
