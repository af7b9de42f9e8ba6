#!/bin/sh
# Runs the demo itself (scripts/demo.sh, what `make demo` runs) end to end
# against a private state directory, then takes everything down again.
set -eu
src=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${FERRY_BIN:-$src/build/bin}
for p in qemu-img nginx libvirtd virtlogd virsh busybox syslinux; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || [ -x "/bin/$p" ] ||
        { echo "SKIP: $p is not installed (scripts/install-deps.sh installs it)"; exit 77; }
done
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: the demo talks to the system libvirt daemon and needs root"
    exit 77
fi
work=$(mktemp -d /tmp/ferry-demo-test.XXXXXX)
chmod 755 "$work"   # the demo's nginx workers read the disks below it
export FERRY_STATE_DIR="$work/state" DEMO_WORKDIR="$work/demo"
# shellcheck source=tests/lib/libvirtd.sh
. "$src/tests/lib/libvirtd.sh"
cleanup() {
    # Deleting the VM stops its domain (the handler must still be up for that);
    # ferry down leaves running VMs alone, as virt-handler does.
    "$bin/ferry" delete vm demo-vm --ignore-not-found --timeout=60s >/dev/null 2>&1 || true
    "$bin/ferry" down >/dev/null 2>&1 || true
    # Backstop for a failed run: nothing of this state directory survives.
    pkill -f "ferry-launcher --state-dir $work/state" 2>/dev/null || true
    if virsh -c qemu:///system domblklist default_demo-vm 2>/dev/null | grep -q "$work/"; then
        virsh -c qemu:///system destroy default_demo-vm >/dev/null 2>&1 || true
    fi
    libvirtd_stop
    rm -rf "$work"
}
trap cleanup EXIT
# The demo uses a running system libvirt daemon or starts one; here the test
# starts it, so that it stops it again by pid.
libvirtd_start "$work/libvirt" || exit 1
if ! "$src/scripts/demo.sh" "$bin" >"$work/demo.out" 2>&1; then
    cat "$work/demo.out"
    for log in "$work"/state/logs/*.log; do
        echo "--- last lines of $log"
        tail -n 25 "$log"
    done
    "$bin/ferry" describe vm demo-vm 2>&1 | tail -n 30
    exit 1
fi
cat "$work/demo.out"
grep -q 'guest: FERRY-GUEST-MARKER booted' "$work/demo.out" ||
    { echo "FAIL: the demo did not show the guest's boot line"; exit 1; }
grep -Eq '^virtualmachine.kubevirt.io/demo-vm +[0-9a-z]+ +Running +True' "$work/demo.out" ||
    { echo "FAIL: the demo's final listing does not show demo-vm Running and Ready"; exit 1; }
grep -Eq '^virtualmachineinstance.kubevirt.io/demo-vm +[0-9a-z]+ +Running ' "$work/demo.out" ||
    { echo "FAIL: the demo's final listing does not show its VMI Running"; exit 1; }
[ "$(grep -Ec '^datavolume.cdi.kubevirt.io/demo-vm-disk[01] +Succeeded +100.0%' "$work/demo.out")" -eq 2 ] ||
    { echo "FAIL: the demo's two DataVolumes did not both succeed"; exit 1; }
