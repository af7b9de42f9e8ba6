#!/bin/sh
# 1,000 VirtualMachines (runStrategy Halted, `kubectl create -f` of one List)
# reconciled by ferry-controller --kubeconfig through a real kube-apiserver +
# etcd (tests/kube/cluster.sh): every one ends printableStatus Stopped, none
# gets a VMI.  Prints the time from the controller's start to the last
# Stopped and the controller's peak RSS (VmHWM); neither is asserted.
# FERRY_KUBE_VMS overrides the count (bench/kube.sh uses this test's steps).
set -eu
# shellcheck source=tests/kube/lib.sh
. "$(dirname "$0")/lib.sh"
kube_need_kubectl
kube_need_bin ferry-controller --kubeconfig
N=${FERRY_KUBE_VMS:-1000}
kube_start vms
CTL=$WORK/controller.log
fail() { echo "FAIL: $*" >&2; tail -20 "$CTL" >&2 || true; exit 1; }

kube_crds
python3 - "$N" >"$WORK/vms.json" <<'P'
import json, sys
n = int(sys.argv[1])
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
     "metadata": {"name": "vm-%04d" % i, "namespace": "default"},
     "spec": {"runStrategy": "Halted",
              "template": {"spec": {"domain": {"devices": {}, "memory": {"guest": "64Mi"}}}}}}
    for i in range(n)]}))
P
t0=$(date +%s.%N)
kubectl create -f "$WORK/vms.json" >/dev/null
t1=$(date +%s.%N)
[ "$(kubectl get vm -o name | wc -l)" = "$N" ] || fail "not $N VMs created"
echo "ok: kubectl create -f of $N VMs: $(echo "$t1 $t0" | awk '{printf "%.1f", $1 - $2}') s"

stopped() { kubectl get vm -o 'jsonpath={range .items[*]}{.status.printableStatus}{"\n"}{end}' | grep -c '^Stopped$' || true; }
t0=$(date +%s.%N)
kube_bg "$CTL" "$BIN/ferry-controller" --state-dir "$WORK/ctl" --kubeconfig "$KUBECONFIG"
CPID=$BGPID
i=0
while :; do
    s=$(stopped)
    [ "$s" -lt "$N" ] || break
    kill -0 "$CPID" 2>/dev/null || fail "ferry-controller exited"
    i=$((i + 1))
    [ $i -lt 600 ] || fail "after $i polls only $s of $N VMs Stopped"
    sleep 0.5
done
t1=$(date +%s.%N)
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$CPID/status")
[ -z "$(kubectl get vmi -o name)" ] || fail "Halted VMs got VMIs"
echo "ok: all $N VMs Stopped $(echo "$t1 $t0" | awk '{printf "%.1f", $1 - $2}') s after ferry-controller --kubeconfig started; its VmHWM $hwm kB; no VMI"
