#!/bin/sh
# The handler DaemonSet of deploy/ as a cluster runs it, on a real
# kube-apiserver + etcd with tests/kube/kubelet.py as node-a: a pod made from
# the DaemonSet's own template runs build/bin/ferry-handler (kubelet.py
# --bin-dir) with the ferry-handler ServiceAccount's in-cluster credentials,
# the host's libvirtd through /var/run/libvirt, its /dev/kvm, and the host
# paths /var/lib/ferry and /var/run/ferry - the real ones, since libvirtd on
# the host reads the files the handler puts there (a redirected path breaks
# the KVM probe): the test runs only when neither exists, and removes both.
# With allowEmulation "true" in the ConfigMap ferry-config:
# - the handler runs with --allow-emulation;
# - it decides KVM and writes its verdict to node-a (condition KVM True or
#   False, devices.kubevirt.io/kvm capacity), and the verdict survives the
#   test kubelet's heartbeats;
# - deploy/'s RBAC refused it nothing.
# Skipped (77) while ferry-handler has no Kubernetes mode, or without libvirtd.
set -eu
SRC=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${FERRY_BIN:-$SRC/build/bin}
command -v kubectl >/dev/null 2>&1 || { echo "SKIP: kubectl missing" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (the test kubelet's mount namespaces)" >&2; exit 77; }
[ -x "$BIN/ferry-handler" ] || { echo "SKIP: $BIN/ferry-handler not built (libvirt)" >&2; exit 77; }
"$BIN/ferry-handler" --help 2>&1 | grep -q -- --kubeconfig ||
    { echo "SKIP: ferry-handler has no Kubernetes mode (--kubeconfig)" >&2; exit 77; }
[ -S /var/run/libvirt/libvirt-sock ] || { echo "SKIP: no libvirtd (/var/run/libvirt/libvirt-sock)" >&2; exit 77; }
for p in /var/lib/ferry /var/run/ferry; do
    [ ! -e $p ] || { echo "SKIP: $p exists on this host; the handler pod would share it" >&2; exit 77; }
done
WORK=$(mktemp -d /tmp/ferry-kube-handler.XXXXXX)
KPID=
cleanup() {
    if [ -n "$KPID" ]; then kill "$KPID" 2>/dev/null || true; wait "$KPID" 2>/dev/null || true; fi
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
    for f in "$WORK"/state/pods/*/ferry-handler.log; do [ -f "$f" ] && tail -5 "$f" >&2; done
    tail -10 "$WORK/kubelet.log" >&2 || true
    exit 1
}
wait_for() { # wait_for WHAT COMMAND...: until COMMAND succeeds (bounded, not timed)
    what=$1; shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 1200 ] || fail "never: $what"
        kill -0 "$KPID" 2>/dev/null || fail "kubelet exited"
        sleep 0.1
    done
}
kvm() { kubectl get node node-a -o "jsonpath={.status.conditions[?(@.type==\"KVM\")].$1}" 2>/dev/null; }

kubectl apply -f "$SRC/deploy/" >/dev/null
kubectl patch configmap -n ferry ferry-config -p '{"data":{"allowEmulation":"true"}}' >/dev/null
python3 "$SRC/tests/kube/kubelet.py" --kubeconfig "$KUBECONFIG" --node node-a --state-dir "$WORK/state" \
    --bin-dir "$BIN" >"$WORK/kubelet.log" 2>&1 &
KPID=$!
# The DaemonSet's pod for node-a, from its template.
python3 - "$SRC/deploy/ferry.yaml" <<'P' | kubectl apply -f - >/dev/null
import json, sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "DaemonSet" and d["metadata"]["name"] == "ferry-handler":
        t = d["spec"]["template"]
        print(json.dumps({"apiVersion": "v1", "kind": "Pod",
                          "metadata": dict(t["metadata"], name="ferry-handler-node-a", namespace="ferry"),
                          "spec": dict(t["spec"], nodeName="node-a")}))
P
# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "handler Running" sh -c '[ "$(kubectl get pod -n ferry ferry-handler-node-a -o "jsonpath={.status.phase}")" = Running ]'
pid=$(kubectl get pod -n ferry ferry-handler-node-a -o 'jsonpath={.status.containerStatuses[0].containerID}' | sed 's,^ferry-test://,,')
# Running from the moment the kubelet spawned it; the exec into the handler follows.
# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "pid $pid execs ferry-handler" sh -c 'tr "\0" " " </proc/$0/cmdline | grep -q "^\\([^ ]*/\\)\\{0,1\\}ferry-handler "' "$pid"
tr '\0' ' ' </proc/"$pid"/cmdline >"$WORK/cmdline" || fail "handler pid $pid"
grep -q -- '--allow-emulation' "$WORK/cmdline" || fail "ConfigMap allowEmulation true, but: $(cat "$WORK/cmdline")"
grep -q -- '--node-name node-a' "$WORK/cmdline" || fail "node name: $(cat "$WORK/cmdline")"
echo "ok: handler pid $pid: $(cat "$WORK/cmdline")"

wait_for "a KVM verdict on node-a" sh -c "kubectl get node node-a -o 'jsonpath={.status.conditions[?(@.type==\"KVM\")].status}' | grep -qx 'True\|False'"
echo "ok: node-a KVM=$(kvm status) $(kvm reason); devices.kubevirt.io/kvm=$(kubectl get node node-a -o 'jsonpath={.status.capacity.devices\.kubevirt\.io/kvm}')"
[ -n "$(kubectl get node node-a -o 'jsonpath={.status.capacity.devices\.kubevirt\.io/kvm}')" ] ||
    fail "no devices.kubevirt.io/kvm capacity"
# A heartbeat of the test kubelet later, the verdict is still there.
hb() { kubectl get node node-a -o 'jsonpath={.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}'; }
hb0=$(hb)
# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "a heartbeat" sh -c '[ "$(kubectl get node node-a -o "jsonpath={.status.conditions[?(@.type==\"Ready\")].lastHeartbeatTime}")" != "$0" ]' "$hb0"
kvm status | grep -qx 'True\|False' || fail "the KVM verdict is gone after a heartbeat"
[ -d /var/lib/ferry/vmis ] || fail "the handler made no /var/lib/ferry/vmis on the host path"

if grep -i 'forbidden' "$WORK"/state/pods/*/ferry-handler.log; then
    fail "the handler was refused by deploy/'s RBAC"
fi
echo "ok: deploy/'s RBAC refused the handler nothing"
