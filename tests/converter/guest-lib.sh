# The VMware-like Debian test guest, shared by the tests that convert it
# (sourced; tests/converter/guest-boot.sh, tests/controlplane/
# test-guest-conversion.sh).  The caller sets QEMU_PID= and kills it in its
# cleanup.
#
#   guest_prepare CACHE TMP   exit 77 unless qemu and libguestfs run here; build
#                             (or reuse) CACHE/vmware-guest.raw
#   guest_vmx DISKFILE        the guest's .vmx (one pvscsi disk, one vmxnet3 NIC) on stdout
#   guest_boot DISK LOG       boot DISK (raw) under TCG on virtio-blk until it
#                             powers off (or panics: -no-reboot); console in LOG
#   guest_marker LOG          the guest's marker line in LOG ("" when none)
#   GUEST_MARKER_CONVERTED    what a converted guest prints

. "$SRC/tests/lib/vmx.sh"

GUEST_MARKER_CONVERTED="FERRY-GUEST-BOOTED root=/dev/vda1 fstab=ok vmtools=absent"

guest_prepare() {
    export LIBGUESTFS_BACKEND="${LIBGUESTFS_BACKEND:-direct}"
    # KVM under nested virtualization aborts qemu here: TCG is slower but sure.
    export LIBGUESTFS_BACKEND_SETTINGS="${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}"
    for t in qemu-system-x86_64 guestfish; do
        command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not installed"; exit 77; }
    done
    if ! guestfish -a /dev/null run >"$2/gf.log" 2>&1; then
        tail -3 "$2/gf.log"
        echo "SKIP: libguestfs cannot run here (guestfish -a /dev/null run)"
        exit 77
    fi
    "$SRC/tests/converter/vmware-guest.sh" "$1"
    rc=$?
    [ $rc -eq 77 ] && { echo "SKIP: the test guest cannot be built here"; exit 77; }
    [ $rc -eq 0 ] || { echo "FAIL: tests/converter/vmware-guest.sh exited $rc"; exit 1; }
}

guest_vmx() {
    vmx_head vmware-guest debian12-64 512 1
    vmx_pvscsi
    vmx_disk scsi0:0 "$1" scsi-hardDisk
    vmx_nic 0 vmxnet3 "VM Network" 00:0c:29:be:c0:01
}

guest_boot() {
    qemu-system-x86_64 -accel tcg -m 512 -display none -no-reboot -monitor none -net none \
        -serial "file:$2" -drive "file=$1,format=raw,if=virtio,snapshot=on" >"$2.qemu" 2>&1 &
    QEMU_PID=$!
    waited=0
    while kill -0 "$QEMU_PID" 2>/dev/null && [ $waited -lt 600 ]; do
        sleep 1
        waited=$((waited + 1))
    done
    kill "$QEMU_PID" 2>/dev/null && echo "note: qemu stopped after $waited s"
    wait "$QEMU_PID" 2>/dev/null
    QEMU_PID=
}

guest_marker() {
    grep -a -m1 FERRY-GUEST-BOOTED "$1" | tr -d '\r'
}
