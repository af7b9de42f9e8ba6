#!/bin/sh
# The controller's guest conversion hook, for real (issue 17): the
# VMware-like Debian guest of tests/converter/vmware-guest.sh (initramfs
# without virtio, fstab on /dev/sda1) served by nginx as qcow2, its .vmx
# converted with `ferry convert --guest-conversion controller`, applied with
# runStrategy Always.  The controller imports the disk, then converts the
# guest on the volume (a ferry-converter child), and only then creates the
# VMI: while it converts, the DataVolume is Succeeded, the VM Provisioning
# with the condition GuestConversion/Converting and no VMI exists.  The
# controller is killed in the middle of the conversion: its child dies with
# it and the restarted controller converts again.  Afterwards the annotations
# hold the result and the changes, the events say GuestConverted, and the
# volume boots under TCG on virtio-blk to the guest's marker.
# Before that, a VM on a blank disk: the conversion fails, the VM does not
# start, its condition and a Warning event say why, and it is not retried
# over several resyncs (no hot loop).
# Slow: one debootstrap the first time (cached), about three conversions in
# the libguestfs appliance under TCG and one boot.  Exits 77 without
# libguestfs, qemu, nginx or the guest.
set -u
. "$(dirname "$0")/lib.sh"
SRC=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CACHE=${FERRY_TEST_GUEST_CACHE:-/var/tmp/ferry-test-converter-guest}
need_importer
[ -x "$FERRY_BIN/ferry-converter" ] || skip "ferry-converter is not built"
. "$SRC/tests/converter/guest-lib.sh"
QEMU_PID=
trap '[ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null; cleanup' EXIT
guest_prepare "$CACHE" "$T"
command -v qemu-img >/dev/null 2>&1 || skip "qemu-img is not installed"

# anns VM: the VM's annotations as JSON
anns() { "$FERRY" get vm "$1" -o json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["metadata"].get("annotations",{})))'; }
cond() { vm_cond "$@"; }
cond_reason_is() { vm_cond_reason_is "$@"; }
conversions() { grep -c "vm default/$1: converting the guest" "$T/controller.log"; }

start_nginx
qemu-img convert -O qcow2 "$CACHE/vmware-guest.raw" "$T/www/disk.qcow2" || fail "qemu-img convert"
chmod 644 "$T/www/disk.qcow2"
start_controller

# ---- (b) a disk without an operating system: not converted, not started ----
dv_yaml blankvm-root 64Mi "    blank: {}" >"$T/blank-dv.yaml"
{
    vm_yaml blankvm "runStrategy: Always" "  annotations:
    ferry.io/guest-conversion: pending"
    printf '%s\n' "      volumes:" "      - name: root" "        dataVolume:" "          name: blankvm-root"
} | sed 's/^        devices: {}$/        devices:\n          disks:\n          - name: root\n            disk:\n              bus: virtio/' >"$T/blank.yaml"
"$FERRY" apply -f "$T/blank-dv.yaml" >/dev/null || fail "apply blankvm-root"
"$FERRY" apply -f "$T/blank.yaml" >/dev/null || fail "apply blankvm"
wait_for 300 cond_reason_is blankvm GuestConversion GuestConversionFailed ||
    fail "blankvm: no GuestConversionFailed condition: $(cond blankvm GuestConversion)"
msg=$(cond blankvm GuestConversion)
echo "$msg" | grep -q "no operating system found on '.*/volumes/default/blankvm-root/disk.img'" ||
    fail "blankvm: the condition does not say why: $msg"
cond_reason_is blankvm Failure GuestConversionFailed || fail "blankvm: no Failure condition"
anns blankvm | grep -q '"ferry.io/guest-conversion": "failed: .*no operating system found' ||
    fail "blankvm: annotation: $(anns blankvm)"
"$FERRY" describe vm blankvm >"$T/blank.describe" 2>&1
grep -q "Warning.*GuestConversionFailed.*no operating system found" "$T/blank.describe" ||
    { cat "$T/blank.describe"; fail "blankvm: no Warning event GuestConversionFailed"; }
field_is vm blankvm status.printableStatus Stopped ||
    fail "blankvm: printableStatus $(field vm blankvm status.printableStatus)"
no_vmi blankvm || fail "blankvm: a VMI was created for a guest that was not converted"
# no hot loop: three resyncs (2 s each) later, still the one conversion

sleep 7
[ "$(conversions blankvm)" = 1 ] || fail "blankvm: converted $(conversions blankvm) times"
no_vmi blankvm || fail "blankvm: a VMI appeared later"
echo "ok: a blank disk: GuestConversionFailed, Warning event, no VMI, one attempt"

# ---- (a) the VMware-like guest ----
guest_vmx disk.qcow2 >"$T/www/guest.vmx"   # beside its disk: the converter sizes it
"$FERRY" convert "$T/www/guest.vmx" --disk-source "http:http://127.0.0.1:$PORT" \
    --guest-conversion controller --run-strategy Always >"$T/guest.yaml" 2>"$T/convert.err" ||
    { cat "$T/convert.err"; fail "ferry convert --guest-conversion controller"; }
python3 - "$T/guest.yaml" <<'PY' || { cat "$T/guest.yaml"; fail "the emitted VM does not ask for the conversion"; }
import sys, yaml
vm = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "VirtualMachine")
assert vm["metadata"]["annotations"]["ferry.io/guest-conversion"] == "pending", vm["metadata"]
dev = vm["spec"]["template"]["spec"]["domain"]["devices"]
assert [d["disk"]["bus"] for d in dev["disks"]] == ["virtio"], dev["disks"]
PY
VM=$(python3 -c 'import sys,yaml; print(next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"]=="VirtualMachine")["metadata"]["name"])' "$T/guest.yaml")
DV=$(python3 -c 'import sys,yaml; print(next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"]=="VirtualMachine")["spec"]["dataVolumeTemplates"][0]["metadata"]["name"])' "$T/guest.yaml")
t0=$(date +%s)
"$FERRY" apply -f "$T/guest.yaml" >/dev/null || fail "apply $VM"

# before the import is done: no conversion, no VMI
wait_for 600 cond_reason_is "$VM" GuestConversion Converting ||
    fail "$VM: the conversion did not start: $(cond "$VM" GuestConversion); DV $(field dv "$DV" status.phase)"
t1=$(date +%s)
field_is dv "$DV" status.phase Succeeded || fail "$VM: converting before its DV Succeeded"
no_vmi "$VM" || fail "$VM: a VMI exists while the guest is converted"
field_is vm "$VM" status.printableStatus Provisioning ||
    fail "$VM: printableStatus $(field vm "$VM" status.printableStatus) while converting"
grep -q "import default/$DV: succeeded" "$T/controller.log" || fail "no import success logged"
echo "ok: import done in $((t1 - t0)) s; converting: DV Succeeded, VM Provisioning, no VMI"

# the controller dies mid-conversion: its converter goes with it, the next one converts again
cpid=$(sed -n "s/.*vm default\/$VM: converting the guest on .* (pid \([0-9]*\),.*/\1/p" "$T/controller.log" | tail -1)
[ -n "$cpid" ] || fail "no converter pid in the log"
sleep 5
kill_controller
wait_for 30 sh -c "! kill -0 $cpid 2>/dev/null || grep -q '^State:.*Z' /proc/$cpid/status" ||
    fail "the converter (pid $cpid) outlived the controller"
anns "$VM" | grep -q '"ferry.io/guest-conversion": "pending"' || fail "annotation changed by a cut conversion"
t2=$(date +%s)
start_controller
wait_for 1200 sh -c "\"$FERRY\" get vmi $VM" ||
    fail "$VM: no VMI after the conversion: $(cond "$VM" GuestConversion)"
t3=$(date +%s)
[ "$(conversions "$VM")" = 2 ] || fail "$VM: $(conversions "$VM") conversions, want 2 (one cut, one whole)"
cond_reason_is "$VM" GuestConversion GuestConverted || fail "$VM: condition $(cond "$VM" GuestConversion)"
python3 - "$(anns "$VM")" <<'PY' || fail "$VM: annotations after the conversion"
import json, sys
ann = json.loads(sys.argv[1])
res, ch = ann["ferry.io/guest-conversion"], ann.get("ferry.io/guest-conversion-changes", "")
assert res.startswith("converted: linux debian 12"), res
for want in ("removed package open-vm-tools", "/etc/fstab: /dev/sda1 -> UUID=",
             "rebuilt by update-initramfs with virtio_blk virtio_scsi virtio_net virtio_pci"):
    assert want in ch, (want, ch)
PY
"$FERRY" describe vm "$VM" >"$T/guest.describe" 2>&1
grep -q "Normal.*GuestConverted.*Converted the guest in" "$T/guest.describe" ||
    { cat "$T/guest.describe"; fail "$VM: no GuestConverted event"; }
# the order in the log: import, conversion, VMI
python3 - "$T/controller.log" "$VM" "$DV" <<'PY' || fail "the controller did things out of order"
import sys
log = open(sys.argv[1]).read().splitlines()
vm, dv = sys.argv[2], sys.argv[3]
def first(s):
    return next(i for i, l in enumerate(log) if s in l)
imp = first("import default/%s: succeeded" % dv)
conv = max(i for i, l in enumerate(log) if "vm default/%s: Converted the guest" % vm in l)
vmi = first("vm default/%s: created its VMI" % vm)
assert imp < conv < vmi, (imp, conv, vmi)
PY
echo "ok: converted in $((t3 - t2)) s after the restart (total $((t3 - t0)) s); annotations, event, then the VMI"

# the volume the VMI runs boots on virtio-blk
kill_controller
guest_boot "$FERRY_STATE_DIR/volumes/default/$DV/disk.img" "$T/boot.log"
marker=$(guest_marker "$T/boot.log")
[ "$marker" = "$GUEST_MARKER_CONVERTED" ] || { tail -15 "$T/boot.log"; fail "boot: '$marker'"; }
echo "ok: the converted volume boots under TCG: $marker"
echo "PASS"
