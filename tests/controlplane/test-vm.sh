#!/bin/sh
# VirtualMachine lifecycle against the real controller and store, with the
# node side played by cp-helper (Node heartbeat, VMI phase, finalizer
# removal) exactly as ferry-handler writes them:
#   dataVolumeTemplates -> Provisioning -> VMI Pending/Scheduling/Scheduled on
#   the Ready node (Starting) -> Running -> stop -> Stopping -> Stopped;
#   start/restart; Manual via stateChangeRequests; CrashLoopBackOff;
#   ErrorDataVolumeNotFound.  printableStatus sequences come from `ferry get
#   -w`, which sees every status write (no timing assumptions).
. "$(dirname "$0")/lib.sh"
need_importer
start_nginx
head -c 2097152 /dev/urandom > "$T/www/disk.raw"; chmod 644 "$T/www/disk.raw"
register_node testnode
start_controller --vm-backoff 2

cat > "$T/vm.yaml" <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: vm1
  labels:
    app: web
spec:
  runStrategy: Always
  dataVolumeTemplates:
  - metadata:
      name: vm1-root
    spec:
      source:
        http:
          url: http://127.0.0.1:$PORT/disk.raw
      storage:
        resources:
          requests:
            storage: 2Mi
  template:
    metadata:
      labels:
        app: web
    spec:
      domain:
        devices:
          disks:
          - name: root
            disk:
              bus: virtio
        resources:
          requests:
            memory: 64Mi
      volumes:
      - name: root
        dataVolume:
          name: vm1-root
YAML
"$FERRY" get vm vm1 -w --no-headers > "$T/watch1.txt" 2>&1 &
WATCH=$!
PIDS="$PIDS $WATCH"
sleep 0.3
"$FERRY" apply -f "$T/vm.yaml" >/dev/null || fail "apply vm"
wait_for 60 "$FERRY" get vmi vm1 || fail "no VMI: $(cat "$T/watch1.txt")"
"$FERRY" wait vmi/vm1 --for=jsonpath='{.status.phase}'=Scheduled --timeout=60s >/dev/null ||
    fail "VMI not Scheduled: $(cat "$T/watch1.txt")"
wait_for 10 field_is vm vm1 status.printableStatus Starting || fail "VM not Starting"
cmp "$T/www/disk.raw" "$FERRY_STATE_DIR/volumes/default/vm1-root/disk.img" || fail "root disk bytes"

# The VMI as KubeVirt's controller would have made it.
field_is vmi vm1 status.nodeName testnode || fail "nodeName"
[ "$(field vmi vm1 metadata.labels | python3 -c 'import json,sys; print(json.load(sys.stdin)["kubevirt.io/nodeName"])')" = testnode ] ||
    fail "kubevirt.io/nodeName label"
field vmi vm1 metadata.ownerReferences | grep -q '"kind": *"VirtualMachine"' || fail "VMI ownerReference"
field vmi vm1 metadata.finalizers | grep -q 'ferry.io/node-cleanup' || fail "VMI finalizer"
field vmi vm1 metadata.labels | grep -q '"app": *"web"' || fail "template labels"
field dv vm1-root metadata.ownerReferences | grep -q '"name": *"vm1"' || fail "DV ownerReference"

# The handler reports Running.
"$CPH" vmi-phase default vm1 Running || fail "vmi-phase"
wait_for 10 field_is vm vm1 status.printableStatus Running || fail "VM not Running"
wait_for 10 field_is vm vm1 status.ready True || fail "VM not ready"
"$FERRY" get vm vm1 | grep -Eq '^vm1 +[0-9]+s +Running +True$' || fail "get row: $("$FERRY" get vm vm1)"

# Stop: Always -> Halted (virtctl), the VMI is deleted, the handler releases it.
[ "$("$FERRY" stop vm1)" = "VM vm1 was scheduled to stop" ] || fail "stop output"
field_is vm vm1 spec.runStrategy Halted || fail "runStrategy after stop"
wait_for 10 field_is vm vm1 status.printableStatus Stopping || fail "VM not Stopping"
handler_release vm1
"$FERRY" wait vmi/vm1 --for=delete --timeout=20s >/dev/null || fail "VMI not deleted"
wait_for 10 field_is vm vm1 status.printableStatus Stopped || fail "VM not Stopped"
kill "$WATCH"
seq=$(awk '{print $3}' "$T/watch1.txt" | uniq | tr '\n' ' ')
echo "vm1: $seq"
echo "$seq" | grep -Eq 'Provisioning .*Starting .*Running .*Stopping .*Stopped' || fail "status sequence: $seq"

# Start again (Halted -> Always), then restart makes a new VMI.
[ "$("$FERRY" start vm1)" = "VM vm1 was scheduled to start" ] || fail "start output"
field_is vm vm1 spec.runStrategy Always || fail "runStrategy after start"
wait_for 10 "$FERRY" get vmi vm1 || fail "no VMI after start"
"$FERRY" wait vmi/vm1 --for=jsonpath='{.status.phase}'=Scheduled --timeout=20s >/dev/null || fail "restarted VMI"
uid1=$(field vmi vm1 metadata.uid)
"$FERRY" restart vm1 >/dev/null || fail "restart"
wait_for 10 sh -c "[ -n \"\$('$FERRY' get vmi vm1 -o json | grep deletionTimestamp)\" ]" || fail "restart did not delete the VMI"
handler_release vm1
wait_for 20 sh -c "[ \"\$('$FERRY' get vmi vm1 -o name 2>/dev/null)\" = virtualmachineinstance.kubevirt.io/vm1 ] && [ \"\$('$FERRY' get vmi vm1 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"metadata\"][\"uid\"])')\" != $uid1 ]" ||
    fail "no new VMI after restart"
"$FERRY" start vm1 2>"$T/err.txt" && fail "start of a running VM succeeded"
grep -q 'VM is already running' "$T/err.txt" || fail "start error: $(cat "$T/err.txt")"

# CrashLoopBackOff: the VMI fails, the controller counts it and waits.
"$FERRY" wait vmi/vm1 --for=jsonpath='{.status.phase}'=Scheduled --timeout=20s >/dev/null || fail "VMI before crash"
# crash VM N: its VMI fails; the controller deletes it and counts failure N.
crash() {
    "$CPH" vmi-phase default "$1" Failed || fail "vmi-phase Failed ($2)"
    wait_for 10 sh -c "'$FERRY' get vmi $1 -o json | grep -q deletionTimestamp" || fail "failed VMI not deleted ($2)"
    handler_release "$1"
    wait_for 10 field_is vm "$1" status.printableStatus CrashLoopBackOff || fail "no CrashLoopBackOff ($2): $(field vm "$1" status)"
    [ "$(field vm "$1" status.startFailure.consecutiveFailCount)" = "$2" ] || fail "consecutiveFailCount $2"
}
crash vm1 1
wait_for 30 "$FERRY" get vmi vm1 || fail "no VMI after back-off"
"$FERRY" wait vmi/vm1 --for=jsonpath='{.status.phase}'=Scheduled --timeout=30s >/dev/null || fail "VMI after back-off not Scheduled"
# Stopping a crash-looping VM ends the loop: Stopped, startFailure gone.
crash vm1 2
"$FERRY" stop vm1 >/dev/null || fail "stop in crash loop"
# On a loaded machine the back-off can run out before the stop is seen: the
# VMI it started then stops as a running one does, once its handler lets go.
stopped_or_release() {
    field_is vm vm1 status.printableStatus Stopped && return 0
    "$FERRY" get vmi vm1 >/dev/null 2>&1 && "$CPH" vmi-release default vm1 >/dev/null 2>&1
    return 1
}
wait_for 10 stopped_or_release || fail "crash-looping VM not Stopped: $(field vm vm1 status.printableStatus)"
[ -z "$(field vm vm1 status.startFailure)" ] || fail "startFailure kept after stop"
"$FERRY" start vm1 >/dev/null || fail "start after crash loop"
wait_for 20 "$FERRY" get vmi vm1 || fail "no VMI after start"

# Manual: only stateChangeRequests start and stop it.
vm_yaml man "runStrategy: Manual" > "$T/manual.yaml"
"$FERRY" apply -f "$T/manual.yaml" >/dev/null || fail "apply manual"
wait_for 10 field_is vm man status.printableStatus Stopped || fail "Manual VM not Stopped"
"$FERRY" get vmi man >/dev/null 2>&1 && fail "Manual VM started by itself"
"$FERRY" start man >/dev/null || fail "start man"
field_is vm man spec.runStrategy Manual || fail "Manual changed by start"
wait_for 10 "$FERRY" get vmi man || fail "no Manual VMI"
"$FERRY" wait vmi/man --for=jsonpath='{.status.phase}'=Scheduled --timeout=20s >/dev/null || fail "Manual VMI"
"$FERRY" stop man >/dev/null || fail "stop man"
wait_for 10 field_is vm man status.printableStatus Stopping || fail "man not Stopping"
handler_release man
wait_for 10 field_is vm man status.printableStatus Stopped || fail "man not Stopped"
[ -z "$(field vm man status.stateChangeRequests)" ] || fail "requests left: $(field vm man status.stateChangeRequests)"

# RerunOnFailure: a guest shutdown stays stopped, a failure is rerun, a stop
# request sticks.
sed -e 's/name: man/name: rof/' -e 's/runStrategy: Manual/runStrategy: RerunOnFailure/' "$T/manual.yaml" > "$T/rof.yaml"
"$FERRY" apply -f "$T/rof.yaml" >/dev/null || fail "apply rof"
wait_for 20 field_is vmi rof status.phase Scheduled || fail "rof VMI"
"$CPH" vmi-phase default rof Succeeded || fail "vmi-phase Succeeded"
wait_for 10 field_is vm rof status.printableStatus Stopped || fail "rof after shutdown: $(field vm rof status.printableStatus)"
field_is vmi rof status.phase Succeeded || fail "the Succeeded VMI was replaced"
"$FERRY" start rof >/dev/null || fail "start rof"
wait_for 10 sh -c "'$FERRY' get vmi rof -o json | grep -q deletionTimestamp" || fail "start did not clear the old VMI"
handler_release rof
wait_for 20 field_is vmi rof status.phase Scheduled || fail "rof not restarted by start"
"$CPH" vmi-phase default rof Failed || fail "vmi-phase Failed"
wait_for 10 sh -c "'$FERRY' get vmi rof -o json | grep -q deletionTimestamp" || fail "failed rof VMI not deleted"
handler_release rof
wait_for 20 field_is vmi rof status.phase Scheduled || fail "rof not rerun after failure"
"$FERRY" stop rof >/dev/null || fail "stop rof"
field_is vm rof spec.runStrategy RerunOnFailure || fail "stop changed RerunOnFailure"
wait_for 10 field_is vm rof status.printableStatus Stopping || fail "rof not Stopping"
handler_release rof
wait_for 10 field_is vm rof status.printableStatus Stopped || fail "rof not Stopped"
sleep 3   # two resyncs: the stopped VM must not come back by itself
"$FERRY" get vmi rof >/dev/null 2>&1 && fail "rof restarted after a stop"

# A volume naming a DataVolume that does not exist.
sed -e 's/name: man/name: lost/' -e 's/runStrategy: Manual/runStrategy: Always/' "$T/manual.yaml" > "$T/lost.yaml"
python3 - "$T/lost.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace("      domain:\n        devices: {}",
    "      domain:\n        devices:\n          disks:\n          - name: d\n            disk: {}")
s += "      volumes:\n      - name: d\n        dataVolume:\n          name: nope\n"
open(p, "w").write(s)
PY
"$FERRY" apply -f "$T/lost.yaml" >/dev/null || fail "apply lost"
wait_for 10 field_is vm lost status.printableStatus ErrorDataVolumeNotFound || fail "lost: $(field vm lost status.printableStatus)"

# Deleting the VM takes its VMI and DataVolumes along.
"$FERRY" delete vm vm1 --wait=false >/dev/null || fail "delete vm1"
wait_for 10 sh -c "'$FERRY' get vmi vm1 -o json | grep -q deletionTimestamp" || fail "VMI not deleting"
handler_release vm1
"$FERRY" wait dv/vm1-root --for=delete --timeout=30s >/dev/null || fail "DV not deleted with its VM"
[ ! -e "$FERRY_STATE_DIR/volumes/default/vm1-root" ] || fail "volume left behind"
echo PASS
