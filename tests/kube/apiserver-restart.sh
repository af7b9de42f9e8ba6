#!/bin/sh
# ferry-controller --kubeconfig survives a restart of the kube-apiserver
# (tests/kube/cluster.sh, etcd compacting every 10 s): while the apiserver is
# down and right after it is back (same ports), a Halted VM is switched to
# runStrategy Always and a DataVolume is created, with enough other writes
# that the controller's last resourceVersion is history.  The same controller
# process then says it re-lists, gives the VM its VMI and the DataVolume its
# PVC and importer Job, and keeps running.
# The controller leads through its Lease as by default on a kube store, with
# a renew deadline (100 s) longer than the outage: with the default 10 s, a
# leader that cannot renew for 10 s exits 1 (client-go's rule; its
# Deployment restarts it), which is not what this test is about.
set -eu
# shellcheck source=tests/kube/lib.sh
. "$(dirname "$0")/lib.sh"
kube_need_kubectl
kube_need_bin ferry-controller --kubeconfig
FERRY_KUBE_APISERVER_FLAGS="${FERRY_KUBE_APISERVER_FLAGS:-} --etcd-compaction-interval=10s"
export FERRY_KUBE_APISERVER_FLAGS
kube_start restart
KUBE_WAIT=1200
CTL=$WORK/controller.log
fail() {
    echo "FAIL: $*" >&2
    tail -30 "$CTL" >&2 || true
    kubectl get vm,vmi,dv,pvc,jobs >&2 || true
    exit 1
}
ctl_alive() { kill -0 "$CPID" 2>/dev/null || fail "ferry-controller exited"; }

kube_crds
vm() { # vm NAME STRATEGY
    printf 'apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: %s}\n' "$1"
    printf 'spec:\n  runStrategy: %s\n  template:\n    spec:\n' "$2"
    printf '      domain: {devices: {}, memory: {guest: 64Mi}}\n'
}
vm before Halted | kubectl apply -f - >/dev/null
vm later Halted | kubectl apply -f - >/dev/null
# A long resync: what the controller learns after the restart comes from its
# re-list and watch, not from a periodic pass.
kube_bg "$CTL" "$BIN/ferry-controller" --state-dir "$WORK/ctl" --kubeconfig "$KUBECONFIG" --resync 600000 \
    --leader-elect-lease-duration 120s --leader-elect-renew-deadline 100s
CPID=$BGPID
wait_for "the controller leads" grep -q 'is the leader' "$CTL"
status() { kubectl get vm "$1" -o 'jsonpath={.status.printableStatus}' 2>/dev/null; }
stopped() { [ "$(status "$1")" = Stopped ]; }
wait_for "VM before Stopped" stopped before
wait_for "VM later Stopped" stopped later
echo "ok: the controller reconciled VMs before and later (Stopped)"

# The apiserver goes away (etcd stays); the controller keeps running.
apid=$(cat "$WORK/cluster/apiserver.pid")
kill "$apid"
i=0
while kill -0 "$apid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -9 "$apid" 2>/dev/null || true
rm -f "$WORK/cluster/apiserver.pid"
sleep 5
ctl_alive
lines=$(wc -l <"$CTL")
echo "ok: kube-apiserver (pid $apid) stopped; ferry-controller (pid $CPID) still running"

t0=$(date +%s)
"$SRC/tests/kube/cluster.sh" start "$WORK/cluster" >/dev/null
echo "ok: kube-apiserver ready again after $(($(date +%s) - t0)) s of its start"
kubectl patch vm later --type merge -p '{"spec":{"runStrategy":"Always"}}' >/dev/null
kubectl apply -f - >/dev/null <<'Y'
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata: {name: whiledown}
spec: {source: {blank: {}}, storage: {resources: {requests: {storage: 16Mi}}}}
Y
for n in $(seq 1 40); do
    kubectl create configmap "churn-$n" --from-literal=n="$n" >/dev/null
done
echo "ok: kube-apiserver restarted; VM later set to Always, DataVolume whiledown created, 40 other writes"

relisted() { tail -n +"$((lines + 1))" "$CTL" | grep -q 're-listing'; }
wait_for "the controller re-lists" relisted
ctl_alive
echo "ok: the controller says: $(tail -n +"$((lines + 1))" "$CTL" | grep 're-listing' | head -1)"
wait_for "VMI later" kubectl get vmi later
owner=$(kubectl get vmi later -o 'jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')
[ "$owner" = VirtualMachine/later ] || fail "VMI later owned by '$owner'"
wait_for "PVC whiledown" kubectl get pvc whiledown
# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "the importer Job of whiledown" sh -c '[ -n "$(kubectl get jobs -o "jsonpath={.items[?(@.metadata.ownerReferences[0].name==\"whiledown\")].metadata.name}")" ]'
[ -z "$(kubectl get vmi before --ignore-not-found -o name)" ] || fail "VM before (Halted) got a VMI"
ctl_alive
echo "ok: after the restart: VMI later (owned by VM later), PVC whiledown and its Job; VM before still without VMI"
