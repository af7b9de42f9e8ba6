#!/bin/sh
# The KVM probe's two verdicts on any machine, by pointing the probe at
# payloads whose outcome is known under TCG (domain type qemu): the boot
# sector that reaches long mode and prints -> "KVM runs guests"; the one that
# faults on purpose (triple fault before it prints) -> "KVM is present but
# cannot run guests", with the reason; a disk that boots nothing -> the bound.
# End to end: with that verdict the Node's KVM condition says so, a VMI fails
# with NoKVM and a message that says why (event NoKVM), and with
# --allow-emulation the same VMI runs under TCG.
. "$FERRY_SRC/tests/node/lib.sh"
TESTPREFIX=kv
GOOD=$FERRY_BUILD/share/ferry/kvm-probe.img
FAULT=$FERRY_BUILD/tests/kvm-probe-fault.img
[ -f "$GOOD" ] && [ -f "$FAULT" ] || { echo "missing: the probe images (GNU as, ld, objcopy)"; exit 77; }
node_setup
trap 'rc=$?; [ $rc != 0 ] && [ $rc != 77 ] && { dump_logs; cat "$WORK/probe.log"; }; node_cleanup; exit $rc' EXIT
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
node_kvm_condition() {   # wait until the handler decided; prints status reason message
    _i=0
    until tool get "" "$NODE" node > "$WORK/node.json" 2>/dev/null &&
          jq -e '.status.conditions[] | select(.type == "KVM" and .reason != "Probing")' \
              "$WORK/node.json" >/dev/null; do
        _i=$((_i + 1)); [ $_i -lt 600 ] || { echo "no KVM verdict on the Node"; exit 1; }; sleep 0.1
    done
    tool get "" "$NODE" node | jq -r '.status.conditions[] | select(.type == "KVM") | "\(.status) \(.reason) \(.message)"'
}
EMU=""
node_start_handler $PROBE --kvm-probe-image "$FAULT"
cond=$(node_kvm_condition)
node_log "Node condition KVM: $cond"
echo "$cond" | grep -q "^False KVMCannotRunGuests KVM is present but cannot run guests: .*VMIs fail with reason NoKVM" ||
    { echo "unexpected Node condition"; exit 1; }
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
cond=$(node_kvm_condition)
echo "$cond" | grep -q "^False KVMCannotRunGuests .*VMIs run under emulation (TCG)" ||
    { echo "unexpected Node condition: $cond"; exit 1; }
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
echo "PASS kvm"
