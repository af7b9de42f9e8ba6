# Shared parts of the Kubernetes-mode tests (tests/kube/*.sh) and of
# bench/kube.sh: sourced, not run.  Before sourcing, a script may set SRC
# (the source tree) and BIN (the programs); else FERRY_SRC / FERRY_BIN, else
# the tree this file is in and its build/bin.
#
#   kube_skip MSG               exit 77 with "SKIP: MSG"
#   kube_need_kubectl | kube_need_root | kube_need_libvirt (its programs)
#   kube_need_bin P [--kubeconfig]  P built (and with Kubernetes mode)
#   kube_start NAME             WORK=/tmp/ferry-kube-NAME.XXXXXX, the exit trap
#                               (kube_cleanup), a cluster.sh cluster in
#                               WORK/cluster, KUBECONFIG exported; a skip or
#                               failure of cluster.sh is this script's exit
#   kube_libvirtd               the machine's libvirtd: the one answering, or one
#                               started by pid (tests/lib/libvirtd.sh), stopped
#                               on exit; with the ctest RESOURCE_LOCK libvirtd
#   kube_bg LOG CMD...          CMD in the background into LOG; its pid in
#                               BGPID and in PIDS (stopped by pid on exit)
#   kube_kubelet [ARGS...]      tests/kube/kubelet.py as node-a (state
#                               WORK/state, log WORK/kubelet.log); pid in KPID
#   kube_template_pods WHAT...  the pods of deploy/ferry.yaml's templates as a
#                               List on stdout: Deployment (its -0 pod),
#                               Deployment* (every replica), DaemonSet (its
#                               node-a pod)
#   kube_crds                   deploy/crds applied, and Established
#   kube_fail_logs GLOB MSG...  FAIL: MSG with the last lines of the pod logs
#                               WORK/state/pods/*/GLOB and of the kubelet; exit 1
#   wait_for WHAT CMD...        until CMD succeeds, at most KUBE_WAIT tenths
#                               of a second (default 600), else fail; also
#                               fails when the kubelet (KPID) exited
#
# On exit, kube_cleanup stops every pid in PIDS (TERM, then waits), runs
# kube_cleanup_hook if the script defined one, stops a libvirtd that
# kube_libvirtd started, stops the cluster by the pids
# cluster.sh recorded and removes WORK and KUBE_RM (paths).  A script's own
# fail() replaces the plain one below when defined after sourcing.
SRC=${SRC:-${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}}
BIN=${BIN:-${FERRY_BIN:-$SRC/build/bin}}
WORK=
PIDS=
KPID=
BGPID=
KUBE_RM=
KUBE_WAIT=${KUBE_WAIT:-600}

kube_skip() { echo "SKIP: $*" >&2; exit 77; }
kube_need_kubectl() { command -v kubectl >/dev/null 2>&1 || kube_skip "kubectl missing"; }
kube_need_libvirt() {
    # shellcheck source=tests/lib/libvirtd.sh
    . "$SRC/tests/lib/libvirtd.sh"
    if m=$(libvirtd_missing); then kube_skip "$m missing"; fi
}
kube_need_root() { [ "$(id -u)" = 0 ] || kube_skip "needs root (the test kubelet's mount namespaces)"; }
kube_need_bin() {
    [ -x "$BIN/$1" ] || kube_skip "$BIN/$1 not built"
    if [ "${2:-}" = --kubeconfig ]; then
        "$BIN/$1" --help 2>&1 | grep -q -- --kubeconfig ||
            kube_skip "$1 has no Kubernetes mode (--kubeconfig)"
    fi
}

fail() { echo "FAIL: $*" >&2; exit 1; }

kube_fail_logs() {
    glob=$1; shift
    echo "FAIL: $*" >&2
    # shellcheck disable=SC2231 # GLOB is a pattern
    for f in "$WORK"/state/pods/*/$glob; do [ -f "$f" ] && { echo "== $f" >&2; tail -5 "$f" >&2; }; done
    tail -10 "$WORK/kubelet.log" >&2 || true
    exit 1
}

kube_cleanup() {
    for p in $PIDS; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if command -v kube_cleanup_hook >/dev/null 2>&1; then kube_cleanup_hook || true; fi
    if command -v libvirtd_stop >/dev/null 2>&1; then libvirtd_stop; fi
    if [ -n "$WORK" ]; then
        "$SRC/tests/kube/cluster.sh" stop "$WORK/cluster" || true
        rm -rf "$WORK"
    fi
    # shellcheck disable=SC2086 # a list of paths
    [ -z "$KUBE_RM" ] || rm -rf $KUBE_RM
}

kube_start() {
    WORK=$(mktemp -d "/tmp/ferry-kube-$1.XXXXXX")
    trap kube_cleanup EXIT
    trap 'exit 1' INT TERM HUP
    mkdir -p "$WORK/cluster"
    rc=0
    KUBECONFIG=$("$SRC/tests/kube/cluster.sh" start "$WORK/cluster") || rc=$?
    [ $rc = 0 ] || exit $rc
    export KUBECONFIG
}

# The machine's libvirtd, started by pid into WORK/libvirt when none answers
# (tests/lib/libvirtd.sh; the ctest RESOURCE_LOCK libvirtd), stopped on exit.
kube_libvirtd() {
    libvirtd_start "$WORK/libvirt" || exit 1
}

kube_bg() {
    log=$1; shift
    "$@" >"$log" 2>&1 &
    BGPID=$!
    PIDS="$PIDS $BGPID"
}

kube_kubelet() {
    kube_bg "$WORK/kubelet.log" python3 "$SRC/tests/kube/kubelet.py" --kubeconfig "$KUBECONFIG" \
        --node node-a --state-dir "$WORK/state" "$@"
    KPID=$BGPID
}

kube_template_pods() {
    python3 - "$SRC/deploy/ferry.yaml" "$@" <<'P'
import json, sys, yaml
want = sys.argv[2:]
items = []
for d in yaml.safe_load_all(open(sys.argv[1])):
    if not d or d["kind"] not in ("Deployment", "DaemonSet"):
        continue
    t, kind, name = d["spec"]["template"], d["kind"], d["metadata"]["name"]
    if kind == "DaemonSet" and kind in want:
        pods = [(name + "-node-a", dict(t["spec"], nodeName="node-a"))]
    elif kind == "Deployment" and kind + "*" in want:
        pods = [("%s-%d" % (name, i), t["spec"]) for i in range(d["spec"]["replicas"])]
    elif kind == "Deployment" and kind in want:
        pods = [(name + "-0", t["spec"])]
    else:
        continue
    for n, spec in pods:
        items.append({"apiVersion": "v1", "kind": "Pod",
                      "metadata": dict(t["metadata"], name=n, namespace="ferry"), "spec": spec})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
P
}

kube_established() {
    [ "$(kubectl get crd "$1" -o 'jsonpath={.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" = True ]
}
kube_crds() {
    kubectl apply -f "$SRC/deploy/crds/" >/dev/null
    for crd in virtualmachines.kubevirt.io virtualmachineinstances.kubevirt.io datavolumes.cdi.kubevirt.io; do
        wait_for "crd $crd Established" kube_established $crd
    done
}

wait_for() { # wait_for WHAT COMMAND...: until COMMAND succeeds (bounded, not timed)
    what=$1; shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt "$KUBE_WAIT" ] || fail "never: $what"
        if [ -n "$KPID" ] && ! kill -0 "$KPID" 2>/dev/null; then fail "kubelet exited"; fi
        sleep 0.1
    done
}
