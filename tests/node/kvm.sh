#!/bin/sh
# The KVM probe's two verdicts on any machine, by pointing the probe at
# payloads whose outcome is known under TCG (domain type qemu): the boot
# sector that reaches long mode and prints -> "KVM runs guests"; the one that
# faults on purpose (triple fault before it prints) -> "KVM is present but
# cannot run guests", with the reason; a disk that boots nothing -> the bound.
# End to end: with that verdict the Node's KVM condition says so, a VMI fails
# with NoKVM and a message that says why (event NoKVM), and with
# --allow-emulation the same VMI runs under TCG.  `ferry up` prints the
# verdict.
# On a machine whose /dev/kvm cannot run guests (the real probe says so, as
# on nested kvm-pvm hosts), a VMI forced onto that KVM (ferry-launcher run
# directly, CPU kvm64 so that qemu starts) must end Failed, never stay
# Running: KVMInternalError when qemu reports one.
. "$FERRY_SRC/tests/node/lib.sh"
TESTPREFIX=kv
GOOD=$FERRY_BUILD/share/ferry/kvm-probe.img
FAULT=$FERRY_BUILD/tests/kvm-probe-fault.img
[ -f "$GOOD" ] && [ -f "$FAULT" ] || { echo "missing: the probe images (GNU as, ld, objcopy)"; exit 77; }
node_setup
trap 'rc=$?; [ $rc != 0 ] && [ $rc != 77 ] && { dump_logs; cat "$WORK/probe.log" 2>/dev/null || true; }; node_cleanup; exit $rc' EXIT
export FERRY_STATE_DIR=$STATE
FERRY=$FERRY_BIN/ferry
PROBE="--kvm-probe-type qemu --kvm-probe-kernel none"

probe() {   # probe IMAGE [ARGS]: prints the verdict, sets RC
    mkdir -p "$WORK/probe"
    if OUT=$("$FERRY_BIN/ferry-handler" --state-dir "$WORK/probe" --probe-kvm $PROBE \
             --kvm-probe-image "$@" 2>>"$WORK/probe.log"); then RC=0; else RC=$?; fi
    node_log "probe $(basename "$1"): exit $RC: $OUT"
}

# 1. the good payload: usable
probe "$GOOD"
[ "$RC" = 0 ] && echo "$OUT" | grep -q "^KVM True KVMRunsGuests: KVM runs guests: a boot sector wrote its line from long mode" ||
    { echo "good payload: unexpected verdict"; exit 1; }

# 2. the payload that faults before printing: unusable, and why
probe "$FAULT"
[ "$RC" = 3 ] || { echo "fault payload: exit $RC, not 3"; exit 1; }
echo "$OUT" | grep -q "^KVM False KVMCannotRunGuests: KVM is present but cannot run guests: the boot sector guest stopped .* before it wrote its line" ||
    { echo "fault payload: unexpected verdict"; exit 1; }

# 3. a disk that boots nothing: the bound
head -c 512 /dev/zero > "$WORK/blank.img"
probe "$WORK/blank.img" --kvm-probe-timeout 3
[ "$RC" = 3 ] && echo "$OUT" | grep -q "the boot sector guest did not write its line within 3 s" ||
    { echo "blank payload: unexpected verdict"; exit 1; }
! virsh -q -c qemu:///system list --all --name | grep -q '^ferry-kvm-probe-' ||
    { echo "a probe domain was left behind"; exit 1; }

# 4. end to end without --allow-emulation: the Node says it, the VMI fails with NoKVM
node_kvm_condition() {   # REGEX: wait until the Node's KVM condition ("STATUS REASON MESSAGE") matches
    _i=0
    until tool get "" "$NODE" node > "$WORK/node.json" 2>/dev/null &&
          jq -e --arg re "$1" '.status.conditions[] | select(.type == "KVM")
                               | "\(.status) \(.reason) \(.message)" | test($re)' \
              "$WORK/node.json" >/dev/null; do
        _i=$((_i + 1))
        [ $_i -lt 600 ] || { echo "Node condition KVM does not match '$1':"; jq '.status.conditions' "$WORK/node.json"; exit 1; }
        sleep 0.1
    done
    node_log "Node condition KVM: $(jq -r '.status.conditions[] | select(.type == "KVM") | "\(.status) \(.reason) \(.message)"' "$WORK/node.json")"
}
EMU=""
node_start_handler $PROBE --kvm-probe-image "$FAULT"
node_kvm_condition "^False KVMCannotRunGuests KVM is present but cannot run guests: .*VMIs fail with reason NoKVM"
tool get "" "$NODE" node | jq -e '.status.allocatable["devices.kubevirt.io/kvm"] == "0"' >/dev/null
"$FERRY" describe node "$NODE" | grep -q "KVMCannotRunGuests" || { "$FERRY" describe node "$NODE"; exit 1; }
node_volume kv-a
node_vmi_yaml kv-a > "$WORK/kv-a.yaml"
tool create "$WORK/kv-a.yaml" "$NODE"
tool wait-phase "$NS" kv-a Failed 60
tool get "$NS" kv-a | jq -e '.status.conditions[] | select(.type == "Synchronized" and .reason == "NoKVM")
    | .message | test("^KVM is present but cannot run guests: the boot sector guest stopped .*software emulation is not allowed")' >/dev/null ||
    { tool get "$NS" kv-a; exit 1; }
"$FERRY" describe vmi kv-a | grep -q "Warning *NoKVM" || { "$FERRY" describe vmi kv-a; exit 1; }
node_log "without --allow-emulation: kv-a Failed with NoKVM and the probe's reason"
tool delete "$NS" kv-a
tool wait-gone "$NS" kv-a 30
node_kill_handler

# 5. with --allow-emulation: the same verdict, and the VMI runs under TCG
EMU="--allow-emulation"
node_start_handler $PROBE --kvm-probe-image "$FAULT"
node_kvm_condition "^False KVMCannotRunGuests .*VMIs run under emulation [(]TCG[)]"
node_volume kv-b
node_vmi_yaml kv-b > "$WORK/kv-b.yaml"
tool create "$WORK/kv-b.yaml" "$NODE"
tool wait-phase "$NS" kv-b Running 60
virsh -q -c qemu:///system dumpxml "${NS}_kv-b" | grep -q "<domain type='qemu'" ||
    { echo "kv-b is not under TCG"; exit 1; }
virsh -q -c qemu:///system domstate "${NS}_kv-b" | grep -q running
node_log "with --allow-emulation: kv-b Running under TCG"
GRACE=0 tool delete "$NS" kv-b
tool wait-gone "$NS" kv-b 60

# 6. `ferry up` says the verdict (this machine's own, whatever it is)
UPDIR=$WORK/up
mkdir -p "$UPDIR"; chmod 755 "$UPDIR"
FERRY_STATE_DIR=$UPDIR "$FERRY" up --allow-emulation > "$WORK/up.out" 2>&1 || { cat "$WORK/up.out"; exit 1; }
for f in "$UPDIR"/run/*.pid; do PIDS="$PIDS $(cat "$f")"; done
FERRY_STATE_DIR=$UPDIR "$FERRY" down >/dev/null
grep -E "^KVM: (KVM runs guests|KVM is present but cannot run guests: |/dev/kvm is not available)" "$WORK/up.out" ||
    { echo "ferry up did not show the KVM verdict"; cat "$WORK/up.out"; exit 1; }

# 7. this machine's own KVM, when it cannot run guests
if [ -w /dev/kvm ]; then
    if OUT=$("$FERRY_BIN/ferry-handler" --state-dir "$WORK/probe" --probe-kvm 2>>"$WORK/probe.log"); then RC=0; else RC=$?; fi
    node_log "this machine: exit $RC: $OUT"
    if [ "$RC" = 3 ]; then
        node_volume kv-k
        D=$STATE/vmis/$NS/kv-k
        mkdir -p "$D"
        cat > "$D/vmi.json" <<JSON
{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstance",
 "metadata":{"name":"kv-k","namespace":"$NS","uid":"$(cat /proc/sys/kernel/random/uuid)"},
 "spec":{"domain":{"cpu":{"model":"kvm64"},"devices":{"disks":[{"name":"root","disk":{"bus":"sata"}}]},
         "resources":{"requests":{"memory":"128Mi"}}},
         "volumes":[{"name":"root","dataVolume":{"name":"kv-k"}}]}}
JSON
        timeout 120 "$FERRY_BIN/ferry-launcher" --state-dir "$STATE" --namespace "$NS" --name kv-k \
            > "$D/launcher.log" 2>&1 || true
        jq -e '.final and .phase == "Failed"' "$D/status.json" >/dev/null ||
            { echo "kv-k under this KVM did not end Failed"; cat "$D/status.json" "$D/launcher.log"; exit 1; }
        node_log "kv-k under this KVM: $(jq -r '"\(.phase) \(.reason): \(.message)"' "$D/status.json")"
        if grep -q "phase Running" "$D/launcher.log"; then
            jq -e '.reason == "KVMInternalError" or .reason == "PausedUnknown" or .reason == "Crashed"' \
                "$D/status.json" >/dev/null || { echo "kv-k: unexpected reason"; exit 1; }
        fi
        ! virsh -q -c qemu:///system dominfo "${NS}_kv-k" >/dev/null 2>&1 || { echo "kv-k's domain left"; exit 1; }
    fi
fi
echo "PASS kvm"
