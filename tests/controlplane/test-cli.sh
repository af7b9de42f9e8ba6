#!/bin/sh
# The object verbs' output, as kubectl prints it: apply's created/
# configured/unchanged lines (multi-document YAML, JSON, a directory, stdin),
# get's columns and -o yaml|json|name|wide, -A, -l, several kinds, describe,
# wait's messages and timeout, delete, and `ferry up`/`down` idempotence.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/m"
{
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n---\n'
    vm_yaml alpha "runStrategy: Halted" "  labels:
    tier: web"
    echo ---
    vm_yaml beta "running: false" "  namespace: other
  labels:
    tier: db"
} > "$T/m/vms.yaml"
cat > "$T/m/dv.json" <<'JSON'
{"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
 "metadata": {"name": "empty"},
 "spec": {"source": {"blank": {}}, "storage": {"resources": {"requests": {"storage": "1Mi"}}}}}
JSON

expect() { [ "$1" = "$2" ] || fail "expected:
$2
got:
$1"; }

expect "$("$FERRY" apply -f "$T/m")" "datavolume.cdi.kubevirt.io/empty created
namespace/other created
virtualmachine.kubevirt.io/alpha created
virtualmachine.kubevirt.io/beta created"
expect "$("$FERRY" apply -f "$T/m")" "datavolume.cdi.kubevirt.io/empty unchanged
namespace/other unchanged
virtualmachine.kubevirt.io/alpha unchanged
virtualmachine.kubevirt.io/beta unchanged"
sed 's/tier: web/tier: front/' "$T/m/vms.yaml" | "$FERRY" apply -f - > "$T/out" || fail "apply -"
expect "$(cat "$T/out")" "namespace/other unchanged
virtualmachine.kubevirt.io/alpha configured
virtualmachine.kubevirt.io/beta unchanged"

# Admission errors read like the API server's.
cat > "$T/bad.yaml" <<'YAML'
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: bad
spec:
  running: true
  runStrategy: Always
  template:
    spec:
      domain:
        devices: {}
YAML
"$FERRY" apply -f "$T/bad.yaml" 2>"$T/err" && fail "an invalid VM was accepted"
grep -q 'The VirtualMachine "bad" is invalid' "$T/err" || fail "admission message: $(cat "$T/err")"
printf 'apiVersion: v9\nkind: Gadget\nmetadata:\n  name: g\n' > "$T/gadget.yaml"
"$FERRY" apply -f "$T/gadget.yaml" 2>"$T/err" && fail "an unknown kind was accepted"
grep -q 'no matches for kind "Gadget" in version "v9"' "$T/err" || fail "unknown kind: $(cat "$T/err")"

# Without a controller: STATUS is empty; the columns are kubectl's.
"$FERRY" get vm > "$T/out"
head -1 "$T/out" | grep -Eq '^NAME +AGE +STATUS +READY$' || fail "vm header: $(cat "$T/out")"
grep -Eq '^alpha +[0-9]+s +False$' "$T/out" || fail "vm row: $(cat "$T/out")"
"$FERRY" get vms -A | head -1 | grep -Eq '^NAMESPACE +NAME +AGE +STATUS +READY$' || fail "-A header"
[ "$("$FERRY" get vm -A -o name)" = "virtualmachine.kubevirt.io/alpha
virtualmachine.kubevirt.io/beta" ] || fail "-o name: $("$FERRY" get vm -A -o name)"
[ "$("$FERRY" get virtualmachines.kubevirt.io -n other -o name)" = "virtualmachine.kubevirt.io/beta" ] || fail "-n/full name"
[ "$("$FERRY" get vm -A -l tier=db -o name)" = "virtualmachine.kubevirt.io/beta" ] || fail "-l"
"$FERRY" get vmi 2>"$T/err" >/dev/null; grep -q 'No resources found in default namespace.' "$T/err" || fail "empty message"
"$FERRY" get vm nosuch 2>"$T/err" && fail "get of a missing VM succeeded"
expect "$(cat "$T/err")" 'Error from server (NotFound): virtualmachines.kubevirt.io "nosuch" not found'
"$FERRY" get dv -o wide | head -1 | grep -Eq '^NAME +PHASE +PROGRESS +RESTARTS +AGE$' || fail "dv header"
"$FERRY" get vmi -o wide 2>/dev/null; "$FERRY" get vm,dv > "$T/out"
grep -q '^virtualmachine.kubevirt.io/alpha ' "$T/out" && grep -q '^datavolume.cdi.kubevirt.io/empty ' "$T/out" ||
    fail "several kinds: $(cat "$T/out")"
"$FERRY" get vm alpha -o json | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["kind"]=="VirtualMachine" and o["metadata"]["labels"]["tier"]=="front"' ||
    fail "-o json"
"$FERRY" get vm -o yaml | grep -q '^kind: List' || fail "-o yaml list"
"$FERRY" get vm/alpha -o yaml | grep -q '^  name: alpha' || fail "KIND/NAME -o yaml"
"$FERRY" get vm -o bogus 2>"$T/err"; grep -q 'unable to match a printer' "$T/err" || fail "bad -o"
"$FERRY" get gadgets 2>"$T/err"; grep -q "doesn't have a resource type \"gadgets\"" "$T/err" || fail "bad kind"

# The controller fills the status; wait and describe see it.
start_controller
"$FERRY" wait vm/alpha --for=jsonpath='{.status.printableStatus}'=Stopped --timeout=30s > "$T/out" || fail "wait jsonpath"
expect "$(cat "$T/out")" "virtualmachine.kubevirt.io/alpha condition met"
"$FERRY" wait dv empty --for=condition=Ready --timeout=30s >/dev/null || fail "wait condition"
"$FERRY" get vm alpha | grep -Eq '^alpha +[0-9]+s +Stopped +False$' || fail "Stopped row: $("$FERRY" get vm alpha)"
"$FERRY" wait vm/alpha --for=condition=Ready --timeout=1s 2>"$T/err" && fail "wait on a stopped VM succeeded"
expect "$(cat "$T/err")" "error: timed out waiting for the condition on virtualmachines/alpha"
"$FERRY" describe vm alpha > "$T/out"
grep -Eq '^Name: +alpha$' "$T/out" && grep -Eq '^Kind: +VirtualMachine$' "$T/out" &&
    grep -Eq '^  Printable Status: +Stopped$' "$T/out" && grep -Eq '^ +Reason: +VMINotExists$' "$T/out" ||
    fail "describe: $(cat "$T/out")"
"$FERRY" describe dv empty | grep -Eq 'Normal +ImportSucceeded' || fail "describe events"

# Delete, with the kubectl line, and wait --for=delete.
expect "$("$FERRY" delete vm beta -n other)" 'virtualmachine.kubevirt.io "beta" deleted'
expect "$("$FERRY" wait vm/beta -n other --for=delete --timeout=5s)" "virtualmachine.kubevirt.io/beta condition met"
"$FERRY" delete vm beta -n other 2>"$T/err" && fail "second delete succeeded"
expect "$(cat "$T/err")" 'Error from server (NotFound): virtualmachines.kubevirt.io "beta" not found'
"$FERRY" delete -f "$T/m/dv.json" --timeout=20s >/dev/null || fail "delete -f"
kill_controller

# A watch that fell behind the store's history (410 Gone) is answered by a
# re-list: a stopped controller with no periodic resync still converges.
FERRY_STORE_HISTORY=20 start_controller --resync 600000
sleep 0.5
kill -STOP "$CTL_PID"
i=0; while [ $i -lt 40 ]; do
    sed "s/name: alpha/name: many$i/" "$T/m/vms.yaml"; echo '---'; i=$((i + 1))
done | FERRY_STORE_HISTORY=20 "$FERRY" apply -f - >/dev/null || fail "apply many"
kill -CONT "$CTL_PID"
wait_for 30 sh -c "[ \"\$('$FERRY' get vm --no-headers | grep -c ' Stopped ')\" -ge 41 ]" ||
    fail "after an expired watch: $("$FERRY" get vm --no-headers | grep -vc ' Stopped ') VMs not reconciled"
grep -q 'watch expired' "$T/controller.log" || fail "the watch never expired: the test proves nothing"
kill_controller

# up/down: idempotent, pid files, the controller reconciles.
# (ferry-handler may be missing or unable to reach libvirt here: only the
# controller's line is asserted.)
"$FERRY" up > "$T/up1" 2>&1
for p in "$FERRY_STATE_DIR"/run/*.pid; do [ -f "$p" ] && PIDS="$PIDS $(cat "$p")"; done
grep -q '^ferry-controller started (pid [0-9]*' "$T/up1" || fail "up output: $(cat "$T/up1")"
"$FERRY" up > "$T/up2" 2>&1
grep -q '^ferry-controller is already running (pid ' "$T/up2" || fail "second up output: $(cat "$T/up2")"
sed 's/name: alpha/name: gamma/' "$T/m/vms.yaml" | "$FERRY" apply -f - >/dev/null
"$FERRY" wait vm/gamma --for=jsonpath='{.status.printableStatus}'=Stopped --timeout=30s >/dev/null || fail "controller of up"
"$FERRY" down > "$T/down1" || fail "down"
grep -q '^ferry-controller stopped (pid ' "$T/down1" || fail "down output: $(cat "$T/down1")"
"$FERRY" down | grep -q '^ferry-controller is not running' || fail "second down"
echo PASS
