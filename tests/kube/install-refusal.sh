#!/bin/sh
# deploy/install.sh on a real kube-apiserver + etcd (tests/kube/cluster.sh):
# where KubeVirt owns virtualmachines.kubevirt.io (a CRD of that name without
# Ferry's label app.kubernetes.io/managed-by=ferry, labelled as virt-operator
# labels its CRDs) the install refuses, names the CRD and writes nothing; the
# same for CDI's operator CRD; on a clean cluster it installs, and a second
# run over Ferry's own CRDs succeeds.
set -eu
# shellcheck source=tests/kube/lib.sh
. "$(dirname "$0")/lib.sh"
kube_need_kubectl
kube_start install
INSTALL=$SRC/deploy/install.sh

# A stand-in for KubeVirt's CRD: same name, KubeVirt's label, a minimal schema.
kubectl apply -f - >/dev/null <<'Y'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: virtualmachines.kubevirt.io
  labels: {kubevirt.io: ""}
spec:
  group: kubevirt.io
  scope: Namespaced
  names: {kind: VirtualMachine, plural: virtualmachines, singular: virtualmachine, shortNames: [vm]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
Y
before=$(kubectl get crd virtualmachines.kubevirt.io -o 'jsonpath={.metadata.resourceVersion}')

for mode in --check ""; do
    if "$INSTALL" $mode >"$WORK/out" 2>&1; then cat "$WORK/out" >&2; fail "install.sh $mode accepted a cluster with KubeVirt's CRD"; fi
    grep -q "customresourcedefinition virtualmachines.kubevirt.io exists and is not Ferry's" "$WORK/out" ||
        { cat "$WORK/out" >&2; fail "refusal does not name the CRD"; }
    grep -q "KubeVirt is installed" "$WORK/out" || { cat "$WORK/out" >&2; fail "refusal does not say KubeVirt"; }
    grep -q "cannot share" "$WORK/out" || { cat "$WORK/out" >&2; fail "refusal does not say why"; }
done
echo "ok: refused: $(head -1 "$WORK/out")"
[ "$(kubectl get crd virtualmachines.kubevirt.io -o 'jsonpath={.metadata.resourceVersion}')" = "$before" ] ||
    fail "KubeVirt's CRD was modified"
for crd in virtualmachineinstances.kubevirt.io datavolumes.cdi.kubevirt.io; do
    [ -z "$(kubectl get crd $crd --ignore-not-found -o name)" ] || fail "$crd was created"
done
[ -z "$(kubectl get namespace ferry --ignore-not-found -o name)" ] || fail "namespace ferry was created"
echo "ok: nothing written"

# CDI's operator CRD alone also stops it.
kubectl delete crd virtualmachines.kubevirt.io >/dev/null
kubectl apply -f - >/dev/null <<'Y'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: cdis.cdi.kubevirt.io
  labels: {operator.cdi.kubevirt.io: ""}
spec:
  group: cdi.kubevirt.io
  scope: Cluster
  names: {kind: CDI, plural: cdis, singular: cdi}
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
Y
if "$INSTALL" >"$WORK/out" 2>&1; then fail "install.sh accepted a cluster with CDI's operator CRD"; fi
grep -q "cdis.cdi.kubevirt.io exists and is not Ferry's.*CDI is installed" "$WORK/out" ||
    { cat "$WORK/out" >&2; fail "refusal does not name CDI's CRD"; }
echo "ok: refused: $(head -1 "$WORK/out")"

# A clean cluster: installed; again over Ferry's own CRDs: fine.
kubectl delete crd cdis.cdi.kubevirt.io >/dev/null
"$INSTALL" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; fail "install.sh on a clean cluster"; }
grep -q "daemonset.apps/ferry-handler created" "$WORK/out" || { cat "$WORK/out" >&2; fail "not installed"; }
"$INSTALL" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; fail "install.sh over Ferry's own install"; }
[ "$(kubectl get crd virtualmachines.kubevirt.io -o 'jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}')" = ferry ] ||
    fail "Ferry's CRD lacks its label"
echo "ok: installed on a clean cluster, and again over itself"
