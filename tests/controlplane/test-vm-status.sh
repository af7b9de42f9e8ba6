#!/bin/sh
# The VirtualMachine states test-vm.sh does not reach, against the real
# controller and store (cp-helper plays the node side):
#   printableStatus ErrorUnschedulable (no node yet), Paused, ErrorPvcNotFound,
#   DataVolumeError, Terminating;
#   runStrategy Once (runs once, a guest shutdown is final, start refused),
#   Always after a guest shutdown (a new VMI), and `running: true/false`
#   VMs flipped by stop/start in that field, as virtctl does.
. "$(dirname "$0")/lib.sh"
need_importer
start_controller --import-retries 1 --import-backoff 100

vm() { vm_yaml "$@"; }   # vm NAME RUNFIELD [EXTRA-METADATA]
uid_of() { field vmi "$1" metadata.uid; }
status_is() { field_is vm "$1" status.printableStatus "$2"; }
expect_status() {
    wait_for 20 status_is "$1" "$2" || fail "$1: printableStatus $(field vm "$1" status.printableStatus), expected $2"
}

# No node registered: the VMI cannot be placed.
vm unsched "runStrategy: Always" | "$FERRY" apply -f - >/dev/null || fail "apply unsched"
expect_status unsched ErrorUnschedulable
field vmi unsched status.conditions | grep -q '"Unschedulable"' || fail "VMI condition: $(field vmi unsched status.conditions)"
register_node testnode
wait_for 20 field_is vmi unsched status.phase Scheduled || fail "VMI not Scheduled once a node is there"
expect_status unsched Starting

# Paused: the handler reports the paused guest.
"$CPH" vmi-phase default unsched Running || fail "vmi-phase Running"
expect_status unsched Running
"$CPH" vmi-paused default unsched || fail "vmi-paused"
expect_status unsched Paused
field_is vm unsched status.ready False || fail "a paused VM is ready"
# kubectl's VMI columns, -o wide adding LIVE-MIGRATABLE and PAUSED.
"$FERRY" get vmi unsched -o wide > "$T/wide"
head -1 "$T/wide" | grep -Eq '^NAME +AGE +PHASE +IP +NODENAME +READY +LIVE-MIGRATABLE +PAUSED$' ||
    fail "vmi -o wide header: $(cat "$T/wide")"
grep -Eq '^unsched +[0-9]+s +Running +testnode +False +True$' "$T/wide" || fail "vmi -o wide row: $(cat "$T/wide")"
"$FERRY" get vmi unsched | head -1 | grep -Eq '^NAME +AGE +PHASE +IP +NODENAME +READY$' || fail "vmi header"

# Always: a guest shutdown (VMI Succeeded) gets a new VMI.
uid1=$(uid_of unsched)
"$CPH" vmi-phase default unsched Succeeded || fail "vmi-phase Succeeded"
wait_for 10 sh -c "'$FERRY' get vmi unsched -o json | grep -q deletionTimestamp" || fail "Always: the finished VMI was not deleted"
handler_release unsched
wait_for 20 sh -c "u=\$('$FERRY' get vmi unsched -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"metadata\"][\"uid\"])'); [ -n \"\$u\" ] && [ \"\$u\" != $uid1 ]" ||
    fail "Always: no new VMI after the guest shut down"

# Once: runs once; neither a shutdown nor a failure brings it back; start is refused.
vm once "runStrategy: Once" | "$FERRY" apply -f - >/dev/null || fail "apply once"
wait_for 20 field_is vmi once status.phase Scheduled || fail "Once: no VMI"
uid=$(uid_of once)
"$CPH" vmi-phase default once Succeeded || fail "vmi-phase Succeeded"
expect_status once Stopped
[ "$(uid_of once)" = "$uid" ] || fail "Once: the VMI was replaced"
field_is vmi once status.phase Succeeded || fail "Once: the finished VMI changed"
"$FERRY" get vmi once -o json | grep -q deletionTimestamp && fail "Once: the finished VMI is being deleted"
"$FERRY" describe vm once | grep -q 'SuccessfulDelete' && fail "Once: the controller deleted a VMI"
"$FERRY" start once 2>"$T/err" && fail "start of a finished Once VM succeeded"
grep -q 'Once does not support manual start requests' "$T/err" || fail "Once start: $(cat "$T/err")"
# stop: Once -> Halted (virtctl)
"$FERRY" stop once >/dev/null || fail "stop once"
field_is vm once spec.runStrategy Halted || fail "Once after stop: $(field vm once spec.runStrategy)"

# running: true/false (deprecated field): stop and start flip it, not runStrategy.
vm legacy "running: true" | "$FERRY" apply -f - >/dev/null || fail "apply legacy"
wait_for 20 field_is vmi legacy status.phase Scheduled || fail "running: true started nothing"
"$FERRY" stop legacy >/dev/null || fail "stop legacy"
field_is vm legacy spec.running False || fail "spec.running after stop: $(field vm legacy spec.running)"
[ -z "$(field vm legacy spec.runStrategy)" ] || fail "stop set runStrategy on a running: VM"
expect_status legacy Stopping
handler_release legacy
expect_status legacy Stopped
"$FERRY" start legacy >/dev/null || fail "start legacy"
field_is vm legacy spec.running True || fail "spec.running after start"
wait_for 20 field_is vmi legacy status.phase Scheduled || fail "start of a running: VM"

# A persistentVolumeClaim volume nothing provides.
cat > "$T/pvc.yaml" <<'YAML'
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: nopvc
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        devices:
          disks:
          - name: d
            disk: {}
        resources:
          requests:
            memory: 64Mi
      volumes:
      - name: d
        persistentVolumeClaim:
          claimName: missing
YAML
"$FERRY" apply -f "$T/pvc.yaml" >/dev/null || fail "apply nopvc"
expect_status nopvc ErrorPvcNotFound
"$FERRY" get vmi nopvc >/dev/null 2>&1 && fail "a VMI was created without its PVC"

# A DataVolume that fails (a port nobody listens on, retry budget 1).
DEAD=$(free_port)
sed -e 's/name: nopvc/name: dverr/' -e 's/persistentVolumeClaim:/dataVolume:/' \
    -e 's/claimName: missing/name: dverr-root/' "$T/pvc.yaml" > "$T/dverr.yaml"
cat >> "$T/dverr.yaml" <<YAML
  dataVolumeTemplates:
  - metadata:
      name: dverr-root
    spec:
      source:
        http:
          url: http://127.0.0.1:$DEAD/disk.raw
      storage:
        resources:
          requests:
            storage: 1Mi
YAML
"$FERRY" apply -f "$T/dverr.yaml" >/dev/null || fail "apply dverr"
wait_for 20 "$FERRY" get dv dverr-root || fail "the VM made no DataVolume"
"$FERRY" wait dv/dverr-root --for=jsonpath='{.status.phase}'=Failed --timeout=60s >/dev/null ||
    fail "the DataVolume did not fail: $(field dv dverr-root status)"
expect_status dverr DataVolumeError

# Terminating: a VM held by a finalizer while it is deleted.
vm held "runStrategy: Halted" "  finalizers:
  - example.com/hold" | "$FERRY" apply -f - >/dev/null || fail "apply held"
expect_status held Stopped
"$FERRY" delete vm held --wait=false >/dev/null || fail "delete held"
expect_status held Terminating
echo PASS
