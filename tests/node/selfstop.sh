#!/bin/sh
# A domain that stops by itself is never reported as plain Running.
# I/O error, for real: the VMI's data disk is a file on its own ext4
# filesystem (on a loop device); the VMI starts paused (startStrategy
# Paused: qemu has the file open), the filesystem is shut down
# (EXT4_IOC_SHUTDOWN: every read fails with EIO from then on; the machine
# may have no device-mapper), the VMI is unpaused, the guest kernel reads the
# disk's partition table, qemu gets EIO and stops the guest (errorPolicy
# stop, KubeVirt's default).  The VMI keeps phase Running (as KubeVirt's does) with the Paused
# condition PausedIOError, Ready False, and a Warning event PausedIOError.
# Guest panic, for real: a VMI with a panic device (panicDevices isa) whose
# tiny guest crashes its kernel on the console command "panic"; qemu hears
# pvpanic, libvirt destroys the domain (on_crash), and the VMI is Failed
# with reason GuestPanicked and a Warning event GuestPanicked.
. "$FERRY_SRC/tests/node/lib.sh"
TESTPREFIX=io
for t in losetup mkfs.ext4 filefrag mount umount; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || [ -x "/sbin/$t" ] || { echo "missing: $t"; exit 77; }
done
PATH=$PATH:/usr/sbin:/sbin
node_setup
LOOP=""
MNT=""
io_cleanup() {
    set +e
    virsh -q -c qemu:///system destroy "${NS}_io-a" >/dev/null 2>&1
    [ -n "$MNT" ] && mountpoint -q "$MNT" && umount "$MNT"
    [ -n "$LOOP" ] && losetup -d "$LOOP"
}
trap 'rc=$?; [ $rc != 0 ] && [ $rc != 77 ] && dump_logs; io_cleanup; node_cleanup; exit $rc' EXIT
export FERRY_STATE_DIR=$STATE
FERRY=$FERRY_BIN/ferry

# the disk that will fail: a file on its own ext4 (a loop device)
truncate -s 32M "$WORK/fs.img"
mkfs.ext4 -q -F "$WORK/fs.img"
LOOP=$(losetup -f --show "$WORK/fs.img") || { echo "missing: a loop device"; exit 77; }
MNT=$STATE/volumes/$NS/io-data
mkdir -p "$MNT"
chmod 755 "$STATE/volumes" "$STATE/volumes/$NS"
mount "$LOOP" "$MNT"
chmod 755 "$MNT"
truncate -s 8M "$MNT/disk.img"

node_start_handler
node_volume io-a
EXTRA_DISKS='      - name: data
        disk:
          bus: sata' \
EXTRA_VOLUMES='  - name: data
    dataVolume:
      name: io-data' \
EXTRA_SPEC='  startStrategy: Paused' \
GRACE=2 node_vmi_yaml io-a > "$WORK/io-a.yaml"
tool create "$WORK/io-a.yaml" "$NODE"
tool wait-phase "$NS" io-a Running 60
tool wait-cond "$NS" io-a Paused True 20
tool shutdown-fs "$MNT/disk.img"
! dd if="$MNT/disk.img" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null ||
    { echo "the disk does not fail"; exit 1; }
node_log "the filesystem of io-data's disk.img is shut down: reads fail"
"$FERRY" unpause vmi io-a >/dev/null
i=0
until virsh -q -c qemu:///system domstate --reason "${NS}_io-a" | grep -q "paused (I/O error)"; do
    i=$((i + 1)); [ $i -lt 2400 ] || { echo "the guest did not stop on the I/O error"; exit 1; }; sleep 0.1
done
tool wait-cond "$NS" io-a Paused True 20
virsh -q -c qemu:///system domstate --reason "${NS}_io-a" | grep -q "paused (I/O error)" ||
    { virsh -q -c qemu:///system domstate --reason "${NS}_io-a"; exit 1; }
tool get "$NS" io-a > "$WORK/io-a.json"
jq -e '.status.phase == "Running"
       and ([.status.conditions[] | select(.type == "Paused" and .status == "True"
             and .reason == "PausedIOError" and (.message | test("IO error")))] | length == 1)
       and ([.status.conditions[] | select(.type == "Ready" and .status == "False")] | length == 1)' \
    "$WORK/io-a.json" >/dev/null || { cat "$WORK/io-a.json"; exit 1; }
"$FERRY" describe vmi io-a | grep -q "Warning *PausedIOError" || { "$FERRY" describe vmi io-a; exit 1; }
grep -q "io-a: paused: VMI was paused, low-level IO error detected" "$WORK/handler.log"
node_log "io-a: Paused PausedIOError, Ready False, event PausedIOError"
tool delete "$NS" io-a
tool wait-gone "$NS" io-a 60

node_volume io-p
EXTRA_DEVICES='      panicDevices:
      - model: isa' \
GRACE=2 node_vmi_yaml io-p > "$WORK/io-p.yaml"
tool create "$WORK/io-p.yaml" "$NODE"
tool wait-phase "$NS" io-p Running 60
virsh -q -c qemu:///system dumpxml "${NS}_io-p" | grep -q "<panic model='isa'"
wait_console_log "$NS" io-p "FERRY-GUEST-MARKER ready" 240
printf 'panic\n' | "$FERRY" console io-p --linger 2 >/dev/null || true
tool wait-phase "$NS" io-p Failed 60
tool get "$NS" io-p | jq -e '.status.conditions[] | select(.type == "Synchronized" and .reason == "GuestPanicked")
                             | .message | test("panicked")' >/dev/null || { tool get "$NS" io-p; exit 1; }
"$FERRY" describe vmi io-p | grep -q "Warning *GuestPanicked" || { "$FERRY" describe vmi io-p; exit 1; }
node_log "io-p: the guest kernel panicked; Failed with GuestPanicked"
tool delete "$NS" io-p
tool wait-gone "$NS" io-p 60
echo "PASS selfstop"
