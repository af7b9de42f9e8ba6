#!/bin/sh
# The controller Deployment of deploy/ as a cluster runs it, on a real
# kube-apiserver + etcd with tests/kube/kubelet.py as the node: two pods made
# from the Deployment's own pod template (no controller-manager turns the
# Deployment into pods here), each running build/bin/ferry-controller
# (kubelet.py --bin-dir) with the in-cluster config of the ferry-controller
# ServiceAccount, so deploy/'s RBAC is what it gets:
# - one replica holds the Lease ferry/ferry-controller;
# - a DataVolume gets its PVC and importer Job, owned by it;
# - deleting the leader's pod hands the Lease to the other replica;
# - neither replica was refused anything (403) beyond the kinds deploy/README.md
#   says the store leaves out of its watch (cluster-wide Leases, kubevirts).
# Skipped (77) while ferry-controller has no Kubernetes mode (--kubeconfig).
set -eu
# shellcheck source=tests/kube/lib.sh
. "$(dirname "$0")/lib.sh"
kube_need_kubectl
kube_need_root
kube_need_bin ferry-controller --kubeconfig
kube_start ctl
KUBE_WAIT=900
fail() { kube_fail_logs ferry-controller.log "$@"; }
holder() { kubectl get lease -n ferry ferry-controller -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null; }

kubectl apply -f "$SRC/deploy/" >/dev/null
kube_kubelet --controller-manager --bin-dir "$BIN"
# The Deployment's replicas, from its template.
kube_template_pods 'Deployment*' | kubectl apply -f - >/dev/null
[ "$(kubectl get pods -n ferry -o name | wc -l)" = 2 ] || fail "not 2 replicas"
wait_for "a replica holds the Lease" sh -c "kubectl get lease -n ferry ferry-controller -o 'jsonpath={.spec.holderIdentity}' | grep -q '^ferry-controller-[01]$'"
first=$(holder)
echo "ok: Lease ferry/ferry-controller held by $first"

kubectl apply -f - >/dev/null <<'Y'
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata: {name: blank1}
spec: {source: {blank: {}}, storage: {resources: {requests: {storage: 16Mi}}}}
Y
wait_for "PVC blank1" kubectl get pvc blank1
# shellcheck disable=SC2016 # expanded by the inner sh
wait_for "an importer Job" sh -c '[ -n "$(kubectl get jobs -o name)" ]'
job=$(kubectl get jobs -o 'jsonpath={.items[0].metadata.name}')
owner=$(kubectl get pvc blank1 -o 'jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')
[ "$owner" = DataVolume/blank1 ] || fail "PVC blank1 owner '$owner'"
echo "ok: DataVolume blank1 -> PVC blank1 (owned by it) and Job $job"

kubectl delete pod -n ferry "$first" --wait=false >/dev/null
wait_for "the other replica takes the Lease" sh -c "h=\$(kubectl get lease -n ferry ferry-controller -o 'jsonpath={.spec.holderIdentity}'); [ -n \"\$h\" ] && [ \"\$h\" != $first ]"
echo "ok: leader pod $first deleted: Lease now held by $(holder)"

# RBAC: nothing refused beyond the kinds left out of the watch on purpose.
cat "$WORK"/state/pods/*/ferry-controller.log >"$WORK/ctl.log"
if grep -i 'forbidden' "$WORK/ctl.log" | grep -v 'left out: permission denied to watch \(leases.coordination.k8s.io\|kubevirts.kubevirt.io\)' \
        >"$WORK/refused"; then
    cat "$WORK/refused" >&2
    fail "the controller was refused by deploy/'s RBAC"
fi
echo "ok: deploy/'s RBAC refused the controller nothing it needs ($(grep -c 'left out' "$WORK/ctl.log") kinds left out of its watch, as documented)"
