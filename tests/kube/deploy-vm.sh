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
# shellcheck source=tests/kube/lib.sh
. "$(dirname "$0")/lib.sh"
kube_need_kubectl
kube_need_root
kube_need_bin ferry-controller --kubeconfig
kube_need_bin ferry-handler --kubeconfig
kube_need_bin ferry-launcher
kube_need_libvirt
for p in /var/lib/ferry /var/run/ferry; do
    [ ! -e $p ] || kube_skip "$p exists on this host; the handler pod would share it"
done
NS=kdeploy-vm-$$
# Run by kube_cleanup after the kubelet is stopped, before the cluster.
kube_cleanup_hook() {
    if command -v virsh >/dev/null 2>&1 && virsh -c qemu:///system domstate "${NS}_tiny" >/dev/null 2>&1; then
        virsh -c qemu:///system destroy "${NS}_tiny" >/dev/null 2>&1 || true
        virsh -c qemu:///system undefine --nvram "${NS}_tiny" >/dev/null 2>&1 || true
    fi
}
KUBE_RM="/var/lib/ferry /var/run/ferry"
kube_start vm
kube_libvirtd
KUBE_WAIT=1800
fail() { kube_fail_logs '*.log' "$@"; }

kubectl apply -f "$SRC/deploy/" >/dev/null
kubectl patch configmap -n ferry ferry-config -p '{"data":{"allowEmulation":"true"}}' >/dev/null
kube_kubelet --controller-manager --bin-dir "$BIN"
kube_template_pods Deployment DaemonSet | kubectl apply -f - >/dev/null
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
