#!/bin/sh
# `ferry image-upload dv NAME --image-path FILE --size SIZE`: the DataVolume
# is created with an upload source, the controller brings it to UploadReady,
# the CLI writes the volume with ferry-importer under the import lock, and the
# controller marks it Succeeded; the bytes are the image's (a qcow2 image is
# converted: qemu-img is the oracle).
. "$(dirname "$0")/lib.sh"
need_importer
command -v qemu-img >/dev/null || skip "qemu-img is not installed"
head -c 2097152 /dev/urandom > "$T/img.raw"
qemu-img convert -f raw -O qcow2 "$T/img.raw" "$T/img.qcow2" || fail "qemu-img"
start_controller

"$FERRY" image-upload dv up1 --image-path "$T/img.qcow2" --size 2Mi --insecure > "$T/out" 2>&1 ||
    fail "image-upload: $(cat "$T/out")"
grep -q '^DataVolume default/up1 created$' "$T/out" || fail "output: $(cat "$T/out")"
grep -q 'completed successfully' "$T/out" || fail "output: $(cat "$T/out")"
field_is dv up1 status.phase Succeeded || fail "phase $(field dv up1 status.phase)"
field_is dv up1 status.progress "100.0%" || fail "progress"
cmp "$T/img.raw" "$FERRY_STATE_DIR/volumes/default/up1/disk.img" || fail "bytes differ"
field dv up1 spec.source | grep -q '"upload"' || fail "not an upload DV"

# A second upload into a finished DataVolume is refused, as virtctl does.
"$FERRY" image-upload dv up1 --image-path "$T/img.raw" 2>"$T/err" && fail "re-upload accepted"
grep -q 'already successfully imported' "$T/err" || fail "re-upload message: $(cat "$T/err")"
# No DataVolume and no --size: nothing to upload into.
"$FERRY" image-upload dv nosuch --image-path "$T/img.raw" 2>"$T/err" && fail "upload without DV"
grep -q 'pass --size' "$T/err" || fail "missing DV message: $(cat "$T/err")"
echo PASS
