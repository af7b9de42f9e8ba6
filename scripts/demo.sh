#!/bin/bash
# The main job, end to end (README Quick start, `make demo`):
#
#   1. build a small legacy VMware VM from scratch: a .vmx with a bootable
#      streamOptimized VMDK (kernel + busybox initramfs) and a data disk
#   2. ferry up                      (controller + node agent on the embedded store)
#   3. ferry convert the .vmx        -> VirtualMachine + DataVolumes
#   4. ferry apply, disks imported over HTTP from a local nginx, with progress
#   5. ferry start, wait for Running, the guest's boot line through ferry console,
#      ferry get vm,vmi,dv
#
# Each step prints one line; a failure names the step and exits non-zero.
# Usage: scripts/demo.sh [BINDIR]   (default build/bin)
# Environment: FERRY_STATE_DIR (default: ferry's own default), DEMO_WORKDIR,
# DEMO_KEEP=1 leaves the VM running and ferry up (the default for make demo).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib/vmx.sh"
bindir=$(cd "${1:-$top/build/bin}" && pwd)
ferry="$bindir/ferry"
export PATH="$bindir:$PATH"
work=${DEMO_WORKDIR:-$(mktemp -d /tmp/ferry-demo.XXXXXX)}
mkdir -p "$work"
chmod 755 "$work"   # nginx's workers (not root) read the disks from here
vm=demo-vm
step_name=
t0=$(date +%s)

step() {
    step_name=$1
    printf '\033[1m==> %s\033[0m\n' "$1" 2>/dev/null || echo "==> $1"
}
fail() {
    echo "demo: step '$step_name' failed${1:+: $1}" >&2
    exit 1
}
trap 'rc=$?; [ $rc -eq 0 ] || echo "demo: step \"$step_name\" failed (exit $rc); files in $work" >&2; stop_http' EXIT

http_pid=
stop_http() {
    if [ -n "$http_pid" ]; then
        kill "$http_pid" 2>/dev/null || true
        wait "$http_pid" 2>/dev/null || true
        http_pid=
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------
step "building a legacy VMware VM in $work/legacy (bootable streamOptimized VMDK + data disk)"
mkdir -p "$work/legacy" "$work/guest"
"$top/scripts/build-tiny-guest.sh" "$work/guest" >"$work/guest.log" 2>&1 || fail "see $work/guest.log"
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized \
    "$work/guest/disk.raw" "$work/legacy/$vm.vmdk" || fail "qemu-img convert"
qemu-img create -q -f vmdk -o subformat=streamOptimized "$work/legacy/$vm-data.vmdk" 64M
{
    vmx_head "Demo VM |28tiny|29" other5xlinux-64 256 1
    echo 'firmware = "bios"'
    vmx_pvscsi
    vmx_disk scsi0:0 "$vm.vmdk"
    echo 'sata0.present = "TRUE"'
    vmx_disk sata0:1 "$vm-data.vmdk"
    vmx_nic 0 vmxnet3 "VM Network" 00:50:56:3f:00:01 static
    echo 'floppy0.present = "FALSE"'
} >"$work/legacy/$vm.vmx"

# ---------------------------------------------------------------------------
step "starting libvirtd (if not running) and ferry up (state in ${FERRY_STATE_DIR:-the default state dir})"
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
    mkdir -p /run/libvirt
    virtlogd -d -p /run/virtlogd.pid
    libvirtd -d -p /run/libvirtd.pid
    for _ in $(seq 100); do
        virsh -c qemu:///system version >/dev/null 2>&1 && break
        sleep 0.1
    done
fi
# KVM when it works; the handler falls back to TCG (a /dev/kvm that cannot run
# a guest counts as none) because the demo allows emulation.
"$ferry" up --allow-emulation || fail "ferry up"

# ---------------------------------------------------------------------------
port=$(free_port)
step "serving the disks on http://127.0.0.1:$port/ and converting $vm.vmx"
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$port;
        root $work/legacy;
    }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
http_pid=$!
"$ferry" convert "$work/legacy/$vm.vmx" --name "$vm" --run-strategy Halted \
    --disk-source "http:http://127.0.0.1:$port" >"$work/$vm.yaml" || fail "ferry convert"
sed 's/^/    /' "$work/$vm.yaml"

# ---------------------------------------------------------------------------
step "applying the VirtualMachine; its DataVolumes import the disks"
"$ferry" delete vm "$vm" --ignore-not-found >/dev/null || fail "removing an earlier demo VM"
"$ferry" apply -f "$work/$vm.yaml" || fail "ferry apply"
deadline=$(( $(date +%s) + 120 ))
while :; do
    rows=$("$ferry" get dv --no-headers 2>/dev/null | grep "^$vm" || true)
    [ -z "$rows" ] || sed 's/^/    /' <<<"$rows"
    phases=$(awk '{print $2}' <<<"$rows" | sort -u)
    case "$phases" in
        *Failed*) fail "a DataVolume failed" ;;
        Succeeded) break ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || fail "imports did not finish in 120 s"
    sleep 1
done

# ---------------------------------------------------------------------------
step "starting $vm and waiting for it to run"
"$ferry" start "$vm" || fail "ferry start"
"$ferry" wait "vm/$vm" --for=condition=Ready --timeout=120s || fail "VM not Ready"

step "reading the guest's serial console (ferry console $vm)"
# The tiny guest answers "marker" on its console with its boot line.
booted=
for _ in 1 2 3 4 5 6; do
    echo marker | "$ferry" console "$vm" --timeout 20 --linger 3 >"$work/console.log" 2>&1 || true
    if grep -q 'FERRY-GUEST-MARKER booted' "$work/console.log"; then
        booted=1
        break
    fi
    sleep 2
done
[ -n "$booted" ] || fail "no boot line on the console (see $work/console.log)"
grep -m1 'FERRY-GUEST-MARKER booted' "$work/console.log" | sed 's/^/    guest: /'

step "what is there now"
"$ferry" get vm,vmi,dv

echo
echo "Done in $(( $(date +%s) - t0 )) s.  The VM keeps running:"
echo "  ferry console $vm        # its serial console (Ctrl-] leaves)"
echo "  ferry stop $vm           # stop it"
echo "  ferry delete vm $vm      # remove it and its disks"
echo "  ferry down                   # stop the controller and node agent"
