# shellcheck shell=sh
# Manifests the tests apply, written out by shell functions (sourced by
# tests/controlplane/lib.sh and tests/install/install.sh).

# A VirtualMachine manifest: vm_yaml NAME [RUNFIELD] [EXTRA-METADATA-LINES]
# (RUNFIELD defaults to "runStrategy: Halted"; the extra lines go under
# metadata as written, indented by two spaces).
vm_yaml() {
    cat <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: $1
${3:-}
spec:
  ${2:-runStrategy: Halted}
  template:
    spec:
      domain:
        devices: {}
        resources:
          requests:
            memory: 64Mi
YAML
}

# dv_yaml NAME SIZE SOURCE: a DataVolume of SIZE whose spec.source is SOURCE
# (YAML lines indented four spaces, e.g. "    blank: {}").
dv_yaml() {
    printf '%s\n' "apiVersion: cdi.kubevirt.io/v1beta1" "kind: DataVolume" "metadata:" \
        "  name: $1" "spec:" "  source:" "$3" "  storage:" "    resources:" \
        "      requests:" "        storage: $2"
}
