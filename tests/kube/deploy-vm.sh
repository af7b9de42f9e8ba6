#!/bin/sh
# A VM through the whole of deploy/ on a real kube-apiserver + etcd, with
# tests/kube/kubelet.py (--controller-manager: Job controller and garbage
# collector) as node-a: the controller Deployment's and the handler
# DaemonSet's pods, from their templates, run build/bin's programs with their
# ServiceAccounts' in-cluster credentials; allowEmulation "true" (TCG).
# - a VM with runStrategy Always gets a VMI that reaches Running through a
#   launcher pod on node-a; `kubectl get vm` shows Running / True;
# - deleting the VM removes the VMI, the launcher pod and the libvirt domain.
# Uses the host's libvirtd, /var/lib/ferry and /var/run/ferry (runs only where
# neither path exists; removes both).  Skipped (77) while the programs have no
# Kubernetes mode.
set -eu
SRC=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${FERRY_BIN:-$SRC/build/bin}
command -v kubectl >/dev/null 2>&1 || { echo "SKIP: kubectl missing" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (the test kubelet's mount namespaces)" >&2; exit 77; }
for p in ferry-controller ferry-handler ferry-launcher; do
    [ -x "$BIN/$p" ] || { echo "SKIP: $BIN/$p not built" >&2; exit 77; }
    "$BIN/$p" --help 2>&1 | grep -q -- --kubeconfig ||
        [ $p = ferry-launcher ] || { echo "SKIP: $p has no Kubernetes mode (--kubeconfig)" >&2; exit 77; }
done
[ -S /var/run/libvirt/libvirt-sock ] || { echo "SKIP: no libvirtd (/var/run/libvirt/libvirt-sock)" >&2; exit 77; }
for p in /var/lib/ferry /var/run/ferry; do
    [ ! -e $p ] || { echo "SKIP: $p exists on this host; the handler pod would share it" >&2; exit 77; }
done
WORK=$(mktemp -d /tmp/ferry-kube-vm.XXXXXX)
NS=kdeploy-vm-$$
KPID=
cleanup() {
    if [ -n "$KPID" ]; then kill "$KPID" 2>/dev/null || true; wait "$KPID" 2>/dev/null || true; fi
    if command -v virsh >/dev/null 2>&1 && virsh -c qemu:///system domstate "${NS}_tiny" >/dev/null 2>&1; then
        virsh -c qemu:///system destroy "${NS}_tiny" >/dev/null 2>&1 || true
        virsh -c qemu:///system undefine --nvram "${NS}_tiny" >/dev/null 2>&1 || true
    fi
    "$SRC/tests/kube/cluster.sh" stop "$WORK/cluster" || true
    rm -rf "$WORK" /var/lib/ferry /var/run/ferry
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mkdir -p "$WORK/cluster"
rc=0
KUBECONFIG=$("$SRC/tests/kube/cluster.sh" start "$WORK/cluster") || rc=$?
[ $rc = 0 ] || exit $rc
export KUBECONFIG
fail() {
    echo "FAIL: $*" >&2
    for f in "$WORK"/state/pods/*/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -5 "$f" >&2; }; done
    tail -10 "$WORK/kubelet.log" >&2 || true
    exit 1
}
wait_for() { # wait_for WHAT COMMAND...: until COMMAND succeeds (bounded, not timed)
    what=$1; shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 1800 ] || fail "never: $what"
        kill -0 "$KPID" 2>/dev/null || fail "kubelet exited"
        sleep 0.1
    done
}

kubectl apply -f "$SRC/deploy/" >/dev/null
kubectl patch configmap -n ferry ferry-config -p '{"data":{"allowEmulation":"true"}}' >/dev/null
python3 "$SRC/tests/kube/kubelet.py" --kubeconfig "$KUBECONFIG" --node node-a --state-dir "$WORK/state" \
    --controller-manager --bin-dir "$BIN" >"$WORK/kubelet.log" 2>&1 &
KPID=$!
python3 - "$SRC/deploy/ferry.yaml" <<'P' | kubectl apply -f - >/dev/null
import json, sys, yaml
items = []
for d in yaml.safe_load_all(open(sys.argv[1])):
    if not d or d["kind"] not in ("Deployment", "DaemonSet"):
        continue
    t = d["spec"]["template"]
    name = d["metadata"]["name"] + ("-0" if d["kind"] == "Deployment" else "-node-a")
    spec = dict(t["spec"], nodeName="node-a") if d["kind"] == "DaemonSet" else t["spec"]
    items.append({"apiVersion": "v1", "kind": "Pod",
                  "metadata": dict(t["metadata"], name=name, namespace="ferry"), "spec": spec})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
P
kubectl create namespace "$NS" >/dev/null
kubectl apply -n "$NS" -f - >/dev/null <<'Y'
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: tiny}
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        devices: {}
        memory: {guest: 64Mi}
Y
# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "VMI tiny Running" sh -c '[ "$(kubectl get vmi -n "$0" tiny -o "jsonpath={.status.phase}")" = Running ]' "$NS"
pod=$(kubectl get pods -n "$NS" -l kubevirt.io=virt-launcher -o 'jsonpath={.items[*].metadata.name}')
[ -n "$pod" ] || fail "no launcher pod"
[ "$(kubectl get pod -n "$NS" "$pod" -o 'jsonpath={.spec.nodeName}/{.status.phase}')" = node-a/Running ] ||
    fail "launcher pod $pod not Running on node-a"
[ "$(kubectl get vmi -n "$NS" tiny -o 'jsonpath={.status.nodeName}')" = node-a ] || fail "VMI nodeName"
# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "VM tiny Running/True" sh -c '[ "$(kubectl get vm -n "$0" tiny -o "jsonpath={.status.printableStatus}/{.status.conditions[?(@.type==\"Ready\")].status}")" = Running/True ]' "$NS"
if command -v virsh >/dev/null 2>&1; then
    [ "$(virsh -c qemu:///system domstate "${NS}_tiny" 2>/dev/null | head -1)" = running ] ||
        fail "no running libvirt domain ${NS}_tiny"
fi
echo "ok: VM tiny -> VMI Running on node-a through launcher pod $pod (domain ${NS}_tiny running)"
kubectl get -n "$NS" vm,vmi

kubectl delete vm -n "$NS" tiny --wait=false >/dev/null
# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "VMI and launcher pod gone" sh -c '[ -z "$(kubectl get vmi,pods -n "$0" -o name)" ]' "$NS"
if command -v virsh >/dev/null 2>&1; then
    ! virsh -c qemu:///system domstate "${NS}_tiny" >/dev/null 2>&1 || fail "domain ${NS}_tiny left in libvirt"
fi
echo "ok: VM deleted: its VMI, launcher pod and domain are gone"
