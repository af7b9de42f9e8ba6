#!/bin/sh
# Install Ferry on a Kubernetes cluster: deploy/ferry.yaml (the CRDs, the
# ferry namespace, RBAC, the controller Deployment and the handler DaemonSet),
# after a preflight that refuses a cluster where KubeVirt or CDI is installed.
#
#   deploy/install.sh [--check] [KUBECTL_ARGS...]
#
# Ferry serves KubeVirt's and CDI's own API (kubevirt.io/v1 VirtualMachine and
# VirtualMachineInstance, cdi.kubevirt.io/v1beta1 DataVolume), so it owns the
# same CustomResourceDefinitions.  Two owners of one CRD cannot work: applying
# Ferry's would replace KubeVirt's schema under a running KubeVirt, and both
# controllers would act on every VM.  A CRD is Ferry's when it carries the
# label app.kubernetes.io/managed-by=ferry; any other owner of those names (or
# the KubeVirt and CDI operators' own CRDs) stops the install before anything
# is written.  `kubectl apply -f deploy/` applies the same file without this
# check.
#
# KUBECTL_ARGS (e.g. --context NAME, --kubeconfig FILE) go to every kubectl
# call.  --check runs the preflight only.
# Exit: 0 installed (or the check passed), 1 refused or kubectl failed, 2 usage.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bundle=$here/ferry.yaml
check=
if [ "${1:-}" = --check ]; then check=1; shift; fi
case ${1:-} in -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
command -v kubectl >/dev/null 2>&1 || { echo "install: kubectl not found in PATH" >&2; exit 2; }
[ -r "$bundle" ] || { echo "install: '$bundle' missing" >&2; exit 2; }

# The API Ferry serves, then the operators' CRDs whose presence means
# KubeVirt or CDI is installed (their operators recreate the others).
crds="virtualmachines.kubevirt.io virtualmachineinstances.kubevirt.io datavolumes.cdi.kubevirt.io
kubevirts.kubevirt.io cdis.cdi.kubevirt.io"
refused=0
for crd in $crds; do
    # name|managed-by label; empty when the CRD does not exist.
    if ! out=$(kubectl "$@" get customresourcedefinition "$crd" --ignore-not-found \
            -o 'jsonpath={.metadata.name}|{.metadata.labels.app\.kubernetes\.io/managed-by}' 2>&1); then
        echo "install: cannot read customresourcedefinition $crd: $out" >&2
        exit 1
    fi
    [ -z "$out" ] && continue
    owner=${out#*|}
    [ "$owner" = ferry ] && continue
    case $crd in
    *.cdi.kubevirt.io) who=CDI ;;
    *) who=KubeVirt ;;
    esac
    echo "install: customresourcedefinition $crd exists and is not Ferry's" \
        "(label app.kubernetes.io/managed-by is '${owner}', not 'ferry'): $who is installed" >&2
    refused=1
done
if [ $refused = 1 ]; then
    cat >&2 <<'EOF'
install: refusing to install: Ferry serves KubeVirt's and CDI's API itself and cannot share
install: their CustomResourceDefinitions with them; nothing was changed.  Use a cluster without
install: KubeVirt and CDI, or uninstall them first (their VMs, VMIs and DataVolumes go with them).
EOF
    exit 1
fi

if [ -n "$check" ]; then
    echo "install: preflight passed: no KubeVirt or CDI CustomResourceDefinitions found"
    exit 0
fi
kubectl "$@" apply -f "$bundle"
