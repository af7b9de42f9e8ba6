#!/bin/sh
# Kubernetes mode beside embedded mode (issue 16), in one run:
#   (a) `kubectl apply` of a blank and of an http DataVolume (3 MiB raw from a
#       python3 http.server on 127.0.0.1) to its importer Job created and to
#       phase Succeeded;
#   (b) `kubectl apply` of a VM (runStrategy Always, a tiny diskless guest
#       under TCG, as tests/kube/deploy-vm.sh) to its VMI Running;
#   (c) 1,000 Halted VMs: ferry-controller started over them to all
#       printableStatus Stopped, and its peak RSS (VmHWM).
# Kubernetes mode: tests/kube/cluster.sh (kube-apiserver + etcd on loopback),
# deploy/ applied, tests/kube/kubelet.py as node-a (and the Job controller),
# the controller and handler pods from deploy/'s templates running BINDIR's
# programs; for (c) the controller pod is deleted and a ferry-controller
# --kubeconfig process of BINDIR runs alone.  Embedded mode: `ferry up
# --allow-emulation` on a fresh state directory (SQLite), `ferry apply`;
# for (c) ferry-controller --state-dir alone.  For (a) embedded mode has no
# Job: "importer started" is the DataVolume leaving Pending (its importer
# process is running).  Ratios are kube / embedded.
# Usage: bench/kube.sh BINDIR [N]   (BINDIR absolute, as the other benches; N
# default 1000).  Needs root, libvirtd, kubectl and the built apiserver.
set -eu
BIN_ARG=${1:?usage: bench/kube.sh BINDIR [N]}
N=${2:-1000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/lib.sh"
BIN=$(bench_bindir "$BIN_ARG")
export FERRY_LOG_FORMAT=text
# shellcheck source=tests/kube/lib.sh
. "$SRC/tests/kube/lib.sh"
fail() { bench_fail "$@"; }
kube_need_kubectl
kube_need_root
for p in ferry ferry-importer ferry-launcher; do kube_need_bin $p; done
kube_need_bin ferry-controller --kubeconfig
kube_need_bin ferry-handler --kubeconfig
[ -S /var/run/libvirt/libvirt-sock ] || kube_skip "no libvirtd (/var/run/libvirt/libvirt-sock)"
for p in /var/lib/ferry /var/run/ferry; do
    [ ! -e $p ] || kube_skip "$p exists on this host; the handler pod would share it"
done
NS=kbench-$$
EMB=
kube_cleanup_hook() {
    [ -z "$EMB" ] || FERRY_STATE_DIR=$EMB "$BIN/ferry" down >/dev/null 2>&1 || true
    command -v virsh >/dev/null 2>&1 || return 0
    if virsh -c qemu:///system domstate "${NS}_tiny" >/dev/null 2>&1; then
        virsh -c qemu:///system destroy "${NS}_tiny" >/dev/null 2>&1 || true
        virsh -c qemu:///system undefine --nvram "${NS}_tiny" >/dev/null 2>&1 || true
    fi
}
KUBE_RM="/var/lib/ferry /var/run/ferry"
KUBE_WAIT=6000
kube_start bench
EMB=$WORK/emb

ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.1f", $1 / $2; else print "-" }'; }
mkdir -p "$WORK/www"
head -c 3145728 /dev/urandom >"$WORK/www/disk.raw"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
kube_bg "$WORK/http.log" python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/www"
dvs() { # dvs SUFFIX: a blank and an http DataVolume
    printf 'apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata: {name: blank%s}\n' "$1"
    printf 'spec: {source: {blank: {}}, storage: {resources: {requests: {storage: 16Mi}}}}\n---\n'
    printf 'apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata: {name: http%s}\n' "$1"
    printf 'spec: {source: {http: {url: "http://127.0.0.1:%s/disk.raw"}}, storage: {resources: {requests: {storage: 8Mi}}}}\n' "$PORT"
}
tiny() {
    printf 'apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: tiny}\nspec:\n  runStrategy: Always\n'
    printf '  template:\n    spec:\n      domain:\n        devices: {}\n        memory: {guest: 64Mi}\n'
}
vms() { # vms N: a List of N Halted VMs, JSON
    python3 - "$1" <<'PY'
import json, sys
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "vm-%04d" % i},
     "spec": {"runStrategy": "Halted",
              "template": {"spec": {"domain": {"devices": {}, "memory": {"guest": "64Mi"}}}}}}
    for i in range(int(sys.argv[1]))]}))
PY
}
# poll COND ARGS...: until COND succeeds (bounded by KUBE_WAIT tenths), without output
poll() { wait_for "$*" "$@"; }

# ---------------- Kubernetes mode ----------------
kubectl apply -f "$SRC/deploy/" >/dev/null
kubectl patch configmap -n ferry ferry-config -p '{"data":{"allowEmulation":"true"}}' >/dev/null
kube_kubelet --controller-manager --bin-dir "$BIN"
kube_template_pods Deployment DaemonSet | kubectl apply -f - >/dev/null
# shellcheck disable=SC2016 # expanded by the inner sh
poll sh -c '[ "$(kubectl get pod -n ferry ferry-controller-0 -o "jsonpath={.status.phase}")" = Running ]'
# shellcheck disable=SC2016 # expanded by the inner sh
poll sh -c '[ "$(kubectl get node node-a -o "jsonpath={.status.conditions[?(@.type==\"KVM\")].status}")" != "" ]'
kubectl create namespace "$NS" >/dev/null
kjob() { [ -n "$(kubectl get jobs -n "$NS" -o "jsonpath={.items[?(@.metadata.ownerReferences[0].name==\"$1\")].metadata.name}")" ]; }
kphase() { [ "$(kubectl get dv -n "$NS" "$1" -o 'jsonpath={.status.phase}')" = "$2" ]; }
kvmi() { [ "$(kubectl get vmi -n "$NS" tiny -o 'jsonpath={.status.phase}')" = Running ]; }

dv_run() { # dv_run MODE NAME-SUFFIX: sets <name>_start and <name>_done for blank and http
    mode=$1
    t0=$(now)
    if [ "$mode" = kube ]; then
        dvs "$2" | kubectl apply -n "$NS" -f - >/dev/null
        poll kjob "blank$2"; blank_start=$(since "$t0")
        poll kjob "http$2"; http_start=$(since "$t0")
        poll kphase "blank$2" Succeeded; blank_done=$(since "$t0")
        poll kphase "http$2" Succeeded; http_done=$(since "$t0")
    else
        dvs "$2" | FERRY_STATE_DIR=$EMB "$BIN/ferry" apply -n "$NS" -f - >/dev/null
        poll eleft "blank$2"; blank_start=$(since "$t0")
        poll eleft "http$2"; http_start=$(since "$t0")
        poll ephase dv "blank$2" Succeeded; blank_done=$(since "$t0")
        poll ephase dv "http$2" Succeeded; http_done=$(since "$t0")
    fi
}

dv_run kube ""
k_blank_start=$blank_start k_http_start=$http_start k_blank_done=$blank_done k_http_done=$http_done
t0=$(now)
tiny | kubectl apply -n "$NS" -f - >/dev/null
poll kvmi
k_vm=$(since "$t0")
kubectl delete vm -n "$NS" tiny --wait=false >/dev/null
# shellcheck disable=SC2016 # expanded by the inner sh
poll sh -c '[ -z "$(kubectl get vmi -n "$0" -o name)$(kubectl get pods -n "$0" -l kubevirt.io=virt-launcher -o name)" ]' "$NS"
echo "kube: DataVolumes (blank Job $k_blank_start s, Succeeded $k_blank_done s; http Job $k_http_start s, Succeeded $k_http_done s) and VM Running $k_vm s" >&2

# (c): the controller pod goes; a ferry-controller --kubeconfig process alone.
kubectl delete pod -n ferry ferry-controller-0 --wait=false >/dev/null
poll sh -c '! kubectl get pod -n ferry ferry-controller-0'
kubectl create namespace "$NS-vms" >/dev/null
vms "$N" >"$WORK/vms.json"
kubectl create -n "$NS-vms" -f "$WORK/vms.json" >/dev/null
stopped_k() { sleep 0.4; [ "$(kubectl get vm -n "$NS-vms" -o 'jsonpath={range .items[*]}{.status.printableStatus}{"\n"}{end}' | grep -c '^Stopped$')" -ge "$N" ]; }
t0=$(now)
kube_bg "$WORK/ctl-kube.log" "$BIN/ferry-controller" --state-dir "$WORK/ctl-kube" --kubeconfig "$KUBECONFIG"
CPID=$BGPID
poll stopped_k
k_vms=$(since "$t0")
k_hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$CPID/status")
kill "$CPID"; wait "$CPID" 2>/dev/null || true
echo "kube: $N VMs Stopped $k_vms s, VmHWM $k_hwm kB" >&2
# The Kubernetes side stops (kubelet, its pods, the cluster) before embedded mode runs.
kill "$KPID"; wait "$KPID" 2>/dev/null || true
KPID=
"$SRC/tests/kube/cluster.sh" stop "$WORK/cluster"
rm -rf /var/lib/ferry /var/run/ferry
# ferry-controller takes a KUBECONFIG from the environment as its store.
unset KUBECONFIG

# ---------------- embedded mode ----------------
mkdir -p "$EMB"
chmod 755 "$WORK" "$EMB" # qemu runs as another user
ejson() { FERRY_STATE_DIR=$EMB "$BIN/ferry" get "$1" "$2" -n "$NS" -o json 2>/dev/null; }
efield() { # efield KIND NAME PATH
    ejson "$1" "$2" | python3 -c 'import json,sys
o=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    o=o.get(k) if isinstance(o,dict) else None
print("" if o is None else o)' "$3"
}
ephase() { [ "$(efield "$1" "$2" status.phase)" = "$3" ]; }
eleft() { p=$(efield dv "$1" status.phase); [ -n "$p" ] && [ "$p" != Pending ]; }
FERRY_STATE_DIR=$EMB "$BIN/ferry" up --allow-emulation >"$WORK/up.out" 2>&1 || { cat "$WORK/up.out" >&2; fail "ferry up"; }
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$NS" | FERRY_STATE_DIR=$EMB "$BIN/ferry" apply -f - >/dev/null
dv_run emb ""
e_blank_start=$blank_start e_http_start=$http_start e_blank_done=$blank_done e_http_done=$http_done
t0=$(now)
tiny | FERRY_STATE_DIR=$EMB "$BIN/ferry" apply -n "$NS" -f - >/dev/null
poll ephase vmi tiny Running
e_vm=$(since "$t0")
FERRY_STATE_DIR=$EMB "$BIN/ferry" delete vm tiny -n "$NS" >/dev/null 2>&1 || true
# shellcheck disable=SC2016 # expanded by the inner sh
poll sh -c '! FERRY_STATE_DIR=$0 "$1/ferry" get vmi tiny -n "$2"' "$EMB" "$BIN" "$NS"
FERRY_STATE_DIR=$EMB "$BIN/ferry" down >/dev/null
echo "embedded: DataVolumes and VM done" >&2

EMB2=$WORK/emb-vms
mkdir -p "$EMB2"
FERRY_STATE_DIR=$EMB2 "$BIN/ferry" apply -f "$WORK/vms.json" >/dev/null
stopped_e() { sleep 0.4; [ "$(FERRY_STATE_DIR=$EMB2 "$BIN/ferry" get vms --no-headers 2>/dev/null | grep -c ' Stopped ')" -ge "$N" ]; }
t0=$(now)
kube_bg "$WORK/ctl-emb.log" "$BIN/ferry-controller" --state-dir "$EMB2"
CPID=$BGPID
poll stopped_e
e_vms=$(since "$t0")
e_hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$CPID/status")
kill "$CPID"; wait "$CPID" 2>/dev/null || true

row() { printf '| %-52s | %8s | %8s | %5s |\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
echo "kube: Kubernetes mode ($("${FERRY_KUBE_PREFIX:-/opt/ferry-kube}/bin/kube-apiserver" --version 2>/dev/null || true)) vs embedded (SQLite); ratio kube/embedded"
printf '| %-52s | %8s | %8s | %5s |\n' step kube embedded ratio
printf '|%s|%s|%s|%s|\n' ------------------------------------------------------ ---------- ---------- -------
row "blank DV: apply -> importer Job (emb: started), s" "$k_blank_start" "$e_blank_start"
row "blank DV: apply -> Succeeded, s" "$k_blank_done" "$e_blank_done"
row "http DV (3 MiB): apply -> importer Job (emb: started), s" "$k_http_start" "$e_http_start"
row "http DV (3 MiB): apply -> Succeeded, s" "$k_http_done" "$e_http_done"
row "VM Always (TCG): apply -> VMI Running, s" "$k_vm" "$e_vm"
row "$N Halted VMs: controller start -> all Stopped, s" "$k_vms" "$e_vms"
row "$N Halted VMs: controller VmHWM, MiB" "$((k_hwm / 1024))" "$((e_hwm / 1024))"
