#!/bin/sh
# The guest conversion, for real: a Debian 12 guest that looks like it ran on
# VMware (tests/converter/vmware-guest.sh: initramfs without virtio drivers,
# fstab and GRUB on /dev/sda1, open-vm-tools, ifupdown on ens192) does not
# boot on virtio-blk; converted by ferry-converter --guest-disk from its .vmx,
# it boots to its marker line under TCG on virtio-blk, with root on
# /dev/vda1, every fstab entry found and the VMware tools gone; the emitted VM
# has virtio disks and NICs and names the changes in its annotations.  Then a
# disk with no operating system: the conversion fails, the disk is left as it
# was and the VM gets SATA disks and e1000 NICs.
# Slow: building the guest once (debootstrap, cached in
# FERRY_TEST_GUEST_CACHE, default /var/tmp/ferry-test-converter-guest), two
# boots under TCG and one conversion (rebuilding the initramfs in the
# libguestfs appliance under TCG): about 6 minutes here.
# Exits 77 when libguestfs or qemu cannot run, or the guest cannot be built.
set -u
: "${FERRY_BIN:?}"
SRC=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
export FERRY_LOG_FORMAT=text
CACHE=${FERRY_TEST_GUEST_CACHE:-/var/tmp/ferry-test-converter-guest}
TMP=$(mktemp -d /var/tmp/ferry-guest-test.XXXXXX)
QEMU_PID=
cleanup() {
    [ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; exit 1; }

. "$SRC/tests/converter/guest-lib.sh"
guest_prepare "$CACHE" "$TMP"

cp --sparse=always "$CACHE/vmware-guest.raw" "$TMP/disk.raw"

# 1. Before: the initramfs has no virtio_blk, root=/dev/sda1 is never found.
guest_boot "$TMP/disk.raw" "$TMP/before.log"
if grep -aq FERRY-GUEST-BOOTED "$TMP/before.log"; then
    fail "the unconverted guest booted on virtio-blk: the test guest is not what it should be"
fi
grep -aq -E 'ALERT!  /dev/sda1 does not exist|Gave up waiting for root' "$TMP/before.log" ||
    { tail -5 "$TMP/before.log"; fail "the unconverted guest did not fail the way expected"; }
echo "ok: before conversion the guest does not find its root on virtio-blk"

# 2. The conversion from the VM's definition.
guest_vmx disk.raw >"$TMP/vmware-guest.vmx"
"$FERRY_BIN/ferry-converter" "$TMP/vmware-guest.vmx" --guest-disk "$TMP/disk.raw" \
    >"$TMP/vm.yaml" 2>"$TMP/conv.err"
rc=$?
[ $rc -eq 0 ] || { cat "$TMP/conv.err"; fail "ferry-converter --guest-disk exited $rc"; }
python3 "$SRC/scripts/validate-manifests" "$TMP/vm.yaml" || fail "the VM does not validate"
python3 - "$TMP/vm.yaml" <<'PY' || { cat "$TMP/vm.yaml"; fail "the emitted VM is not the converted one"; }
import sys, yaml
vm = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "VirtualMachine")
ann = vm["metadata"]["annotations"]
dev = vm["spec"]["template"]["spec"]["domain"]["devices"]
res, changes = ann.get("ferry.io/guest-conversion", ""), ann.get("ferry.io/guest-conversion-changes", "")
assert res.startswith("converted: linux debian 12"), res
for want in ("removed package open-vm-tools", "/etc/fstab: /dev/sda1 -> UUID=",
             "/boot/grub/grub.cfg: /dev/sda1 -> UUID=", "GRUB_DISABLE_LINUX_UUID=true commented out",
             "70-persistent-net.rules removed", '/etc/network/interfaces: interface ens192 matched by the pattern "auto /e*/1=ens192"',
             "rebuilt by update-initramfs with virtio_blk virtio_scsi virtio_net virtio_pci"):
    assert want in changes, (want, changes)
assert ann["ferry.io/compat"] == "virtio", ann
assert [d["disk"]["bus"] for d in dev["disks"]] == ["virtio"], dev["disks"]
assert [i["model"] for i in dev["interfaces"]] == ["virtio"], dev["interfaces"]
PY
echo "ok: converted; the VM has virtio devices and lists the changes"

# 3. After: the guest boots on virtio-blk to its marker.
guest_boot "$TMP/disk.raw" "$TMP/after.log"
marker=$(guest_marker "$TMP/after.log")
[ -n "$marker" ] || { tail -15 "$TMP/after.log"; fail "the converted guest did not reach its marker"; }
[ "$marker" = "$GUEST_MARKER_CONVERTED" ] ||
    fail "converted guest: '$marker'"
echo "ok: after conversion: $marker"

# 4. No operating system: not converted, the disk untouched, SATA and e1000.
truncate -s 64M "$TMP/blank.raw"
sed 's/disk.raw/blank.raw/' "$TMP/vmware-guest.vmx" >"$TMP/blank.vmx"
"$FERRY_BIN/ferry-converter" "$TMP/blank.vmx" --guest-disk "$TMP/blank.raw" \
    >"$TMP/blank.yaml" 2>"$TMP/blank.err"
rc=$?
[ $rc -eq 0 ] || { cat "$TMP/blank.err"; fail "ferry-converter on a blank disk exited $rc"; }
grep -q "no operating system found on '$TMP/blank.raw'" "$TMP/blank.err" ||
    { cat "$TMP/blank.err"; fail "no warning naming the blank disk"; }
cmp -s -n 67108864 "$TMP/blank.raw" /dev/zero || fail "the failed conversion changed the blank disk"
python3 - "$TMP/blank.yaml" <<'PY' || { cat "$TMP/blank.yaml"; fail "the VM of an unconverted guest is wrong"; }
import sys, yaml
vm = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "VirtualMachine")
ann = vm["metadata"]["annotations"]
dev = vm["spec"]["template"]["spec"]["domain"]["devices"]
assert ann["ferry.io/guest-conversion"].startswith("not converted: "), ann
assert ann["ferry.io/compat"] == "legacy", ann
assert [d["disk"]["bus"] for d in dev["disks"]] == ["sata"], dev["disks"]
assert [i["model"] for i in dev["interfaces"]] == ["e1000"], dev["interfaces"]
PY
echo "ok: a disk without an OS is not converted, left as it was; the VM keeps SATA and e1000"

# 5. Usage.
"$FERRY_BIN/ferry-converter" --convert-guest >/dev/null 2>"$TMP/usage.err"
[ $? -eq 2 ] && grep -q 'missing DISK' "$TMP/usage.err" || fail "--convert-guest without a disk"
# 6. A definition the emitter refuses is refused before the disks change.
{ cat "$TMP/blank.vmx"; printf 'ethernet1.present = "TRUE"\nethernet1.networkName = "Backup"\n'; } >"$TMP/two.vmx"
printf 'not a disk yet' >"$TMP/blank.raw"
"$FERRY_BIN/ferry-converter" "$TMP/two.vmx" --guest-disk "$TMP/blank.raw" >/dev/null 2>"$TMP/two.err"
[ $? -eq 1 ] && grep -q "network not mapped: 'Backup'" "$TMP/two.err" ||
    { cat "$TMP/two.err"; fail "a VM with an unmapped second NIC"; }
grep -q 'guest conversion' "$TMP/two.err" && fail "the guest was converted before the VM was refused"
[ "$(cat "$TMP/blank.raw")" = "not a disk yet" ] || fail "the disk of a refused VM changed"
echo "ok: a VM the emitter refuses is refused before its guest is converted"
echo "PASS"
