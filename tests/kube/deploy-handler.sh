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
# Skipped (77) while ferry-handler has no Kubernetes mode, or without libvirt installed;
# libvirtd is started by pid when none is running.
set -eu
# shellcheck source=tests/kube/lib.sh
. "$(dirname "$0")/lib.sh"
kube_need_kubectl
kube_need_root
[ -x "$BIN/ferry-handler" ] || kube_skip "$BIN/ferry-handler not built (libvirt)"
kube_need_bin ferry-handler --kubeconfig
kube_need_libvirt
for p in /var/lib/ferry /var/run/ferry; do
    [ ! -e $p ] || kube_skip "$p exists on this host; the handler pod would share it"
done
KUBE_RM="/var/lib/ferry /var/run/ferry"
kube_start handler
kube_libvirtd
KUBE_WAIT=1200
fail() { kube_fail_logs ferry-handler.log "$@"; }
kvm() { kubectl get node node-a -o "jsonpath={.status.conditions[?(@.type==\"KVM\")].$1}" 2>/dev/null; }

kubectl apply -f "$SRC/deploy/" >/dev/null
kubectl patch configmap -n ferry ferry-config -p '{"data":{"allowEmulation":"true"}}' >/dev/null
kube_kubelet --bin-dir "$BIN"
# The DaemonSet's pod for node-a, from its template.
kube_template_pods DaemonSet | kubectl apply -f - >/dev/null
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
