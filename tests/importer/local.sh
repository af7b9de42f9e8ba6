#!/bin/bash
# Every corpus image from a local path: Ferry's raw output must equal
# qemu-img convert -O raw byte for byte (cmp) and be as sparse.
. "$(dirname "$0")/lib.sh"

n=0
while IFS= read -r ref; do
    img="${ref%.ref}"
    name="$(echo "${img#$CORPUS/}" | tr / _)"
    check_import "$name" "$img" "$ref"
    n=$((n + 1))
done < <(find "$CORPUS" -name '*.ref' | sort)
[ "$n" -ge 35 ] || fail "only $n corpus images"

# file:// URLs, and the second disk of a tar.
check_import file-url "file://$CORPUS/scattered.v3.qcow2" "$CORPUS/scattered.v3.qcow2.ref"
check_import tar-disk-2 "$CORPUS/scattered.tar.gz" "$CORPUS/scattered.v3.qcow2.ref" --disk 2

# The multi-extent VMDKs (4100 MiB): the reference is the raw they came from.
for sub in twoGbMaxExtentSparse twoGbMaxExtentFlat; do
    check_import "big-$sub" "$CORPUS/big.$sub/disk.vmdk" "$CORPUS/big.raw"
done
echo "all $((n + 4)) imports match qemu-img"
