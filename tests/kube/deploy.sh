#!/bin/sh
# deploy/ on a real kube-apiserver + etcd (tests/kube/cluster.sh):
#  (a) `kubectl apply -f deploy/` installs everything, and a second apply
#      changes nothing; the service accounts hold the rights the programs need
#      and not more than asked (spot checks with `kubectl auth can-i`);
#  (b) every upstream example VirtualMachine, VirtualMachineInstance and
#      DataVolume in tests/admission/examples applies unchanged (the stored
#      spec equals the file's: nothing pruned), and so does what Ferry writes
#      (tests/golden/convert outputs, samples/manifests) - one namespace per
#      file, since names repeat; the one kubevirt.io/v1alpha3 example is
#      refused as Ferry's own store refuses it (no v1alpha3 is served); and
#      objects with a wrong type are refused by the structural schema on the
#      server (kubectl's client-side validation off);
#  (c) `kubectl get vm,vmi,dv` prints KubeVirt's and CDI's columns, with the
#      values of a status written through the status subresource (VM, DV) or
#      the object itself (VMI, which has no status subresource, as KubeVirt's);
#      writing status through a VM's main resource changes nothing.
set -eu
# shellcheck source=tests/kube/lib.sh
. "$(dirname "$0")/lib.sh"
kube_need_kubectl
kube_start deploy
k() { kubectl "$@"; }

# (a) install, idempotent.
k apply -f "$SRC/deploy/" >"$WORK/apply1" 2>&1 || { cat "$WORK/apply1" >&2; fail "first kubectl apply -f deploy/"; }
for obj in customresourcedefinition.apiextensions.k8s.io/virtualmachines.kubevirt.io \
           customresourcedefinition.apiextensions.k8s.io/virtualmachineinstances.kubevirt.io \
           customresourcedefinition.apiextensions.k8s.io/datavolumes.cdi.kubevirt.io \
           namespace/ferry deployment.apps/ferry-controller daemonset.apps/ferry-handler \
           clusterrole.rbac.authorization.k8s.io/ferry-controller \
           clusterrole.rbac.authorization.k8s.io/ferry-handler; do
    grep -q "^$obj created" "$WORK/apply1" || { cat "$WORK/apply1" >&2; fail "$obj not created"; }
done
k wait --for condition=established --timeout=60s crd/virtualmachines.kubevirt.io \
    crd/virtualmachineinstances.kubevirt.io crd/datavolumes.cdi.kubevirt.io >/dev/null
k apply -f "$SRC/deploy/" >"$WORK/apply2" 2>&1 || { cat "$WORK/apply2" >&2; fail "second kubectl apply -f deploy/"; }
n1=$(wc -l <"$WORK/apply1")
n2=$(grep -c ' unchanged$' "$WORK/apply2" || true)
[ "$n1" = "$n2" ] || { cat "$WORK/apply2" >&2; fail "second apply: $n2 of $n1 objects unchanged"; }
echo "ok: kubectl apply -f deploy/ created $n1 objects; a second apply left all $n2 unchanged"
[ "$(k get deployment -n ferry ferry-controller -o 'jsonpath={.spec.replicas}')" = 2 ] ||
    fail "ferry-controller replicas"

can() { # can SA VERB RESOURCE [NS] -> yes|no
    if [ -n "${4:-}" ]; then set -- "$1" "$2" "$3" -n "$4"; fi
    sa=$1; shift
    k auth can-i --as="system:serviceaccount:ferry:$sa" "$@" 2>/dev/null || true
}
expect() { # expect yes|no SA VERB RESOURCE [NS]
    want=$1; shift
    got=$(can "$@")
    [ "$got" = "$want" ] || fail "auth can-i as $1: $2 $3 ${4:-}: '$got', expected '$want'"
}
expect yes ferry-controller create virtualmachineinstances.kubevirt.io default
expect yes ferry-controller patch virtualmachines.kubevirt.io/status default
expect yes ferry-controller update datavolumes.cdi.kubevirt.io/status default
expect yes ferry-controller create jobs.batch default
expect yes ferry-controller create persistentvolumeclaims default
expect yes ferry-controller delete pods default
expect yes ferry-controller create events default
expect yes ferry-controller update leases.coordination.k8s.io ferry
expect no ferry-controller update leases.coordination.k8s.io default
expect yes ferry-controller list nodes
expect no ferry-controller patch nodes
expect no ferry-controller get secrets default
expect yes ferry-handler watch virtualmachineinstances.kubevirt.io default
expect yes ferry-handler patch virtualmachineinstances.kubevirt.io default
expect no ferry-handler create virtualmachineinstances.kubevirt.io default
expect no ferry-handler update virtualmachines.kubevirt.io default
expect yes ferry-handler get pods default
expect no ferry-handler create pods default
expect yes ferry-handler patch nodes/status
expect yes ferry-handler create events default
echo "ok: RBAC of ferry-controller and ferry-handler"

# (b) upstream examples, and what Ferry itself writes (the converter's golden
# outputs, samples/manifests), one namespace per file (names repeat across files).
python3 - "$SRC" <<'EOF' || fail "manifests"
import glob, json, os, subprocess, sys
import yaml
src = sys.argv[1]
SHORT = {"VirtualMachine": "vm", "VirtualMachineInstance": "vmi", "DataVolume": "dv"}

def drop_nulls(o):
    """The apiserver drops nulls of non-nullable fields (clone-datavolume's storage: null)."""
    if isinstance(o, dict):
        return {k: drop_nulls(v) for k, v in o.items() if v is not None}
    if isinstance(o, list):
        return [drop_nulls(v) for v in o]
    return o

def run(*args, data=None):
    return subprocess.run(["kubectl", *args], input=data, capture_output=True, text=True)

bad = 0
n = 0
def check(label, pattern):
    global bad, n
    count = {k: 0 for k in SHORT}
    alpha = 0
    for f in sorted(glob.glob(os.path.join(src, pattern))):
        rel = os.path.relpath(f, src)
        with open(f) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d and d.get("kind") in SHORT]
        if not docs:
            continue
        n += 1
        ns = "m%d" % n
        run("create", "namespace", ns)
        ok = []
        for d in docs:
            d["metadata"].pop("namespace", None)
            if d["apiVersion"] == "kubevirt.io/v1alpha3":
                # Ferry's store refuses v1alpha3 too; the CRDs serve only v1.
                r = run("apply", "-n", ns, "-f", "-", data=json.dumps(d))
                if r.returncode == 0 or "no matches for kind" not in r.stderr:
                    print("%s: kubevirt.io/v1alpha3 not refused: %s" % (rel, r.stderr.strip()))
                    bad = 1
                alpha += 1
            else:
                ok.append(d)
        if not ok:
            continue
        r = run("apply", "-n", ns, "-f", "-", data=json.dumps({"apiVersion": "v1", "kind": "List", "items": ok}))
        if r.returncode != 0:
            print("%s: refused: %s" % (rel, r.stderr.strip()))
            bad = 1
            continue
        g = run("get", "-n", ns, "vm,vmi,dv", "-o", "json")
        stored = {(o["kind"], o["metadata"]["name"]): o for o in json.loads(g.stdout)["items"]}
        for d in ok:
            got = stored.get((d["kind"], d["metadata"]["name"]))
            if got is None or got.get("spec") != drop_nulls(d.get("spec")):
                print("%s: %s %s: stored spec differs from the file (pruned?)" % (rel, d["kind"], d["metadata"]["name"]))
                bad = 1
            count[d["kind"]] += 1
    print("ok: %s applied and stored as written: %s%s" % (label, ", ".join("%d %s" % (v, k) for k, v in count.items() if v),
          "; kubevirt.io/v1alpha3 refused: %d" % alpha if alpha else ""))
    return count

c = check("upstream examples", "tests/admission/examples/*/*.yaml")
if min(c.values()) == 0:
    print("no upstream example of some kind: %s" % c)
    bad = 1
c = check("converter golden outputs", "tests/golden/convert/*.yaml")
if c["VirtualMachine"] == 0:
    print("no converter output")
    bad = 1
check("samples/manifests", "samples/manifests/*.yaml")
sys.exit(bad)
EOF

refuse() { # refuse NAME PATTERN: the server refuses stdin, naming PATTERN
    if k apply --validate=false -f - >"$WORK/out" 2>&1; then fail "$1 accepted"; fi
    grep -q "$2" "$WORK/out" || { cat "$WORK/out" >&2; fail "$1: refusal does not name '$2'"; }
    echo "ok: $1 refused: $(grep -m1 "$2" "$WORK/out" | sed 's/^ *//' | cut -c1-110)"
}
refuse "VM with running: \"yes\"" 'spec.running in body must be of type boolean' <<'EOF'
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: bad-running}
spec: {running: "yes", template: {spec: {domain: {devices: {}}}}}
EOF
refuse "VM with memory.guest: lots" 'spec.template.spec.domain.memory.guest in body should match' <<'EOF'
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: bad-quantity}
spec: {runStrategy: Halted, template: {spec: {domain: {devices: {}, memory: {guest: lots}}}}}
EOF
refuse "VMI with cpu.cores: two" 'spec.domain.cpu.cores in body must be of type integer' <<'EOF'
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata: {name: bad-cores}
spec: {domain: {devices: {}, cpu: {cores: two}}}
EOF
refuse "DataVolume with http.url: 5" 'spec.source.http.url in body must be of type string' <<'EOF'
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata: {name: bad-url}
spec: {source: {http: {url: 5}}, storage: {resources: {requests: {storage: 1Gi}}}}
EOF
refuse "DataVolume without spec" 'spec: Required value' <<'EOF'
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata: {name: bad-nospec}
EOF

# (c) printer columns.
k create namespace cols >/dev/null
k apply -n cols -f - >/dev/null <<'EOF'
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: vm1}
spec: {runStrategy: Always, template: {spec: {domain: {devices: {}, memory: {guest: 64Mi}}}}}
---
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata: {name: vm1}
spec: {domain: {devices: {}, memory: {guest: 64Mi}}}
---
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata: {name: dv1}
spec: {source: {blank: {}}, storage: {resources: {requests: {storage: 1Mi}}}}
EOF
# Through the main resource a VM's status is ignored (status subresource) ...
k patch -n cols vm vm1 --type merge -p '{"status":{"printableStatus":"Bogus"}}' >/dev/null
[ -z "$(k get -n cols vm vm1 -o 'jsonpath={.status.printableStatus}')" ] ||
    fail "VM status written through the main resource"
# ... and through /status it is taken.  The VMI has no /status.
k patch -n cols vm vm1 --subresource=status --type merge \
    -p '{"status":{"printableStatus":"Running","ready":true,"conditions":[{"type":"Ready","status":"True"}]}}' >/dev/null
k patch -n cols dv dv1 --subresource=status --type merge \
    -p '{"status":{"phase":"Succeeded","progress":"100.0%","restartCount":2}}' >/dev/null
if k patch -n cols vmi vm1 --subresource=status --type merge -p '{"status":{"phase":"Running"}}' \
        >"$WORK/out" 2>&1; then
    fail "VMI has a status subresource (KubeVirt's has none)"
fi
k patch -n cols vmi vm1 --type merge -p '{"status":{"phase":"Running","nodeName":"node-a",
    "interfaces":[{"name":"default","ipAddress":"10.244.0.7"}],
    "conditions":[{"type":"Ready","status":"True"},{"type":"Paused","status":"False"}]}}' >/dev/null

k get -n cols vm,vmi,dv >"$WORK/get"
cat "$WORK/get"
row() { # row KIND/NAME -> that line, whitespace squeezed
    grep "^$1 " "$WORK/get" | tr -s ' '
}
header() { # header FIRST-WORD-OF-ROW -> the header line above that row
    awk -v p="^$1" 'prev != "" && $0 ~ p { print prev; exit } { prev = $0 }' "$WORK/get" | tr -s ' '
}
check() { # check WHAT GOT WANT
    [ "$2" = "$3" ] || fail "$1: '$2', expected '$3'"
}
check "VM header" "$(header virtualmachine.kubevirt.io/vm1)" "NAME AGE STATUS READY"
check "VM row" "$(row virtualmachine.kubevirt.io/vm1 | cut -d' ' -f1,3-)" \
    "virtualmachine.kubevirt.io/vm1 Running True"
check "VMI header" "$(header virtualmachineinstance.kubevirt.io/vm1)" "NAME AGE PHASE IP NODENAME READY"
check "VMI row" "$(row virtualmachineinstance.kubevirt.io/vm1 | cut -d' ' -f1,3-)" \
    "virtualmachineinstance.kubevirt.io/vm1 Running 10.244.0.7 node-a True"
check "DV header" "$(header datavolume.cdi.kubevirt.io/dv1)" "NAME PHASE PROGRESS RESTARTS AGE"
check "DV row" "$(row datavolume.cdi.kubevirt.io/dv1 | cut -d' ' -f1-4)" \
    "datavolume.cdi.kubevirt.io/dv1 Succeeded 100.0% 2"
# -o wide adds the VMI's priority-1 columns.
check "VMI wide header" "$(k get -n cols vmi -o wide | head -1 | tr -s ' ')" \
    "NAME AGE PHASE IP NODENAME READY LIVE-MIGRATABLE PAUSED"
# Short names and the "all" category.
check "short names" "$(k get -n cols vms,vmis,dvs -o name | sort | tr '\n' ' ')" \
    "datavolume.cdi.kubevirt.io/dv1 virtualmachine.kubevirt.io/vm1 virtualmachineinstance.kubevirt.io/vm1 "
k get -n cols all -o name | grep -q '^virtualmachine.kubevirt.io/vm1$' || fail "category all lacks the VM"
echo "ok: kubectl get vm,vmi,dv shows KubeVirt's and CDI's columns"
