#!/bin/sh
# Kubernetes mode's VMI path on the SQLite store (FERRY_KUBE_OBJECTS=1): a VM's
# VMI gets a launcher Pod virt-launcher-<vmi>-xxxxx (Scheduling); the test
# plays the scheduler (kube-play bind: spec.nodeName, Running) and the
# VMI goes Scheduled on that node; ferry-handler in DaemonSet mode writes the
# VMI's files under the host path; the test plays the kubelet and runs the
# Pod's own command (its host paths /var/lib/ferry and /var/run/ferry mapped
# to the state directory and $T/run); the handler connects to that launcher and the VMI reaches
# Running under TCG on the machine's libvirtd, with a PVC disk that only the
# Pod's mount namespace holds (passed to libvirt as an open file).  Deleting the VM stops the
# domain through the Pod's launcher, and the Pod goes with its VMI.
# A DataVolume gets its PVC and importer Job on the way (checked, not run).
. "$(dirname "$0")/lib.sh"

# shellcheck source=tests/lib/libvirtd.sh
. "$FERRY_SRC/tests/lib/libvirtd.sh"
if m=$(libvirtd_missing); then skip "$m is not installed"; fi
KP="$FERRY_BUILD/tests/kube-play"
[ -x "$KP" ] || skip "kube-play is not built"
export FERRY_KUBE_OBJECTS=1
VM="kpod$$"
HANDLER_PID=""
LAUNCHER_PID=""
dom_cleanup() {
    for p in $LAUNCHER_PID $HANDLER_PID; do kill -9 "$p" 2>/dev/null; done
    virsh -c qemu:///system destroy "default_$VM" >/dev/null 2>&1
    virsh -c qemu:///system undefine --nvram "default_$VM" >/dev/null 2>&1
    libvirtd_stop
    cleanup
}
trap dom_cleanup EXIT INT TERM
libvirtd_start "$T/libvirt" || exit 1

start_controller
mkdir -p "$T/run"
"$FERRY_BIN/ferry-handler" --state-dir "$FERRY_STATE_DIR" --node-name node1 --allow-emulation \
    --force-emulation --launcher-socket-root "$T/run" >>"$T/handler.log" 2>&1 &
HANDLER_PID=$!

cat > "$T/vm.yaml" <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: $VM
spec:
  runStrategy: Always
  template:
    metadata:
      labels: {app: kpod}
    spec:
      domain:
        devices:
          disks:
          - name: data
            disk: {bus: virtio}
        resources:
          requests:
            memory: 64Mi
      volumes:
      - name: data
        persistentVolumeClaim: {claimName: kdata}
YAML
cat > "$T/pvc.yaml" <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: kdata
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 16Mi
YAML
"$FERRY" apply -f "$T/pvc.yaml" >/dev/null || fail "apply the PVC"
"$FERRY" apply -f "$T/vm.yaml" >/dev/null || fail "apply"
wait_for 30 field_is vmi "$VM" status.phase Scheduling || fail "the VMI is not Scheduling"

# the launcher Pod
pod_json() { "$FERRY" get pods -o json 2>/dev/null; }
POD=$(pod_json | python3 -c 'import json,sys
for p in json.load(sys.stdin)["items"]:
    if p["metadata"]["name"].startswith("virt-launcher-'"$VM"'-"): print(p["metadata"]["name"])')
[ -n "$POD" ] || fail "no virt-launcher pod"
[ "$(echo "$POD" | wc -l)" = 1 ] || fail "more than one launcher pod: $POD"
[ ${#POD} = $(( ${#VM} + 20 )) ] || fail "pod name '$POD' is not virt-launcher-$VM-xxxxx"
field pod "$POD" metadata.labels > "$T/labels"
grep -q '"kubevirt.io": "virt-launcher"' "$T/labels" || fail "label kubevirt.io missing"
grep -q '"app": "kpod"' "$T/labels" || fail "the VMI's labels are not on the pod"
[ "$(field pod "$POD" metadata.ownerReferences | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["kind"])')" = VirtualMachineInstance ] ||
    fail "the pod is not owned by the VMI"
[ "$(field vmi "$VM" status.nodeName)" = "" ] || fail "nodeName before the pod is scheduled"

# the scheduler and kubelet: bind and run
"$KP" bind default "$POD" node1 || fail "bind"
wait_for 30 field_is vmi "$VM" status.nodeName node1 || fail "the VMI did not get the pod's node"
wait_for 30 test -s "$FERRY_STATE_DIR/vmis/default/$VM/vmi.json" || {
    tail -20 "$T/handler.log" >&2; fail "the handler did not write vmi.json"; }
# the Pod's command, /var/lib/ferry (its host path) mapped to our state dir
pod_json | python3 -c 'import json,sys
for p in json.load(sys.stdin)["items"]:
    if p["metadata"]["name"] == sys.argv[1]:
        for a in p["spec"]["containers"][0]["command"]: print(a)' "$POD" > "$T/cmd"
[ "$(head -1 "$T/cmd")" = ferry-launcher ] || fail "the pod does not run ferry-launcher"
grep -qx -- "--wait-for-vmi" "$T/cmd" || fail "no --wait-for-vmi"
set --
while IFS= read -r a; do
    case $a in
    ferry-launcher) a="$FERRY_BIN/ferry-launcher" ;;
    /var/lib/ferry) a="$FERRY_STATE_DIR" ;;
    /var/run/ferry/*) a="$T/run/${a#/var/run/ferry/}" ;;
    /var/run/kubevirt-private/vmi-disks) a="$T/pvcs" ;;
    esac
    set -- "$@" "$a"
done < "$T/cmd"
grep -qx -- "--pvc-root" "$T/cmd" || fail "no --pvc-root"
# the PVC is a mount of the pod's own (a tmpfs in a private mount namespace):
# the node's libvirtd cannot see the file, only the descriptor the launcher
# hands it
command -v unshare >/dev/null || skip "unshare is not installed"
mkdir -p "$T/pvcs"
unshare -m sh -c 'mount -t tmpfs tmpfs "$0" && mkdir "$0/data" &&
    truncate -s 16M "$0/data/disk.img" && exec "$@"' "$T/pvcs" "$@" >>"$T/launcher.log" 2>&1 &
LAUNCHER_PID=$!
wait_for 120 field_is vmi "$VM" status.phase Running || {
    tail -20 "$T/launcher.log" "$T/handler.log" >&2; fail "the VMI did not reach Running"; }
echo "VMI Running through its launcher pod $POD"
virsh -c qemu:///system domblklist "default_$VM" | grep -q "$T/pvcs/data/disk.img" ||
    fail "the PVC's disk is not the domain's"
[ ! -e "$T/pvcs/data/disk.img" ] || fail "the test's PVC was visible outside the pod"

# delete: the handler stops the domain through the pod's launcher
"$FERRY" delete vm "$VM" >/dev/null || fail "delete"
wait_for 120 sh -c "! \"$FERRY\" get vmi $VM >/dev/null 2>&1" || {
    tail -20 "$T/launcher.log" "$T/handler.log" >&2; fail "the VMI was not deleted"; }
wait_for 30 sh -c "! kill -0 $LAUNCHER_PID 2>/dev/null" || fail "the pod's launcher did not exit"
[ -z "$(ls "$T/run")" ] || fail "the launcher's socket directory was left: $(ls "$T/run")"
"$FERRY" get pod "$POD" >/dev/null 2>&1 && fail "the launcher pod outlived its VMI"
virsh -c qemu:///system domstate "default_$VM" >/dev/null 2>&1 && fail "the domain is still defined"

# a DataVolume: PVC + importer Job (nothing runs it here)
dv_yaml kdv 1Mi "    blank: {}" > "$T/dv.yaml"
"$FERRY" apply -f "$T/dv.yaml" >/dev/null || fail "apply dv"
wait_for 30 field_is dv kdv status.phase ImportScheduled || fail "the DV is not ImportScheduled"
"$FERRY" get pvc kdv >/dev/null 2>&1 || fail "no PVC"
"$FERRY" get job importer-kdv >/dev/null 2>&1 || fail "no importer Job"
"$FERRY" delete dv kdv >/dev/null || fail "delete dv"
wait_for 30 sh -c "! \"$FERRY\" get job importer-kdv >/dev/null 2>&1" || fail "the Job outlived its DV"
echo PASS
