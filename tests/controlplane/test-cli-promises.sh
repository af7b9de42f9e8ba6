#!/bin/sh
# What the CLI promises it does (issue 12, item 6): start --paused starts the
# guest paused; stop/restart --force and --grace-period are refused, never
# accepted and ignored; get -w -o json|yaml prints the current objects first;
# -o=name works; AGE reads as kubectl's HumanDuration.
. "$(dirname "$0")/lib.sh"
register_node testnode
start_controller

{ vm_yaml halted; echo ---; vm_yaml manual "runStrategy: Manual"; } | "$FERRY" apply -f - >/dev/null ||
    fail "apply"

# ---- start --paused: the VMI is created with startStrategy Paused ----
"$FERRY" start --paused halted > "$T/out" 2>&1 || fail "start --paused: $(cat "$T/out")"
wait_for 20 field_is vmi halted spec.startStrategy Paused ||
    fail "start --paused of a Halted VM: VMI startStrategy '$(field vmi halted spec.startStrategy)'"
[ "$(field vm halted spec.runStrategy)" = Always ] || fail "runStrategy not Always"
"$FERRY" start --paused manual > "$T/out" 2>&1 || fail "start --paused manual: $(cat "$T/out")"
wait_for 20 field_is vmi manual spec.startStrategy Paused ||
    fail "start --paused of a Manual VM: VMI startStrategy '$(field vmi manual spec.startStrategy)'"
# ... and without it, no startStrategy
vm_yaml plain | "$FERRY" apply -f - >/dev/null || fail "apply plain"
"$FERRY" start plain >/dev/null 2>&1 || fail "start plain"
wait_for 20 sh -c "'$FERRY' get vmi plain >/dev/null 2>&1" || fail "no VMI for plain"
[ -z "$(field vmi plain spec.startStrategy)" ] || fail "plain start got a startStrategy"

# ---- flags that are not implemented are refused ----
for args in "stop halted --force" "stop halted --grace-period 0" "stop halted --force --grace-period=0" \
            "restart halted --force"; do
    # shellcheck disable=SC2086
    "$FERRY" $args > "$T/out" 2>&1 && fail "'ferry $args' accepted"
    grep -q "is not supported: Ferry stops a VM gracefully" "$T/out" || fail "'ferry $args': $(cat "$T/out")"
done
"$FERRY" stop halted --paused > "$T/out" 2>&1 && fail "stop --paused accepted"
grep -q "unknown flag: '--paused'" "$T/out" || fail "stop --paused: $(cat "$T/out")"
[ "$(field vm halted spec.runStrategy)" = Always ] || fail "a refused stop changed the VM"

# ---- get -w -o json|yaml: the current objects first ----
for fmt in json yaml; do
    "$FERRY" get vm -w -o "$fmt" > "$T/w.$fmt" 2>&1 &
    W=$!; PIDS="$PIDS $W"
    wait_for 20 sh -c "grep -q halted '$T/w.$fmt' && grep -q manual '$T/w.$fmt'" ||
        fail "get -w -o $fmt printed no current objects: $(cat "$T/w.$fmt")"
    kill "$W"
done

# ---- start takes no --force ----
"$FERRY" start plain --force > "$T/out" 2>&1 && fail "start --force accepted"
grep -q "unknown flag: '--force'" "$T/out" || fail "start --force: $(cat "$T/out")"

# ---- namespaces print as kubectl's: NAME STATUS AGE ----
"$FERRY" get ns > "$T/ns.txt" || fail "get ns"
head -1 "$T/ns.txt" | grep -Eq '^NAME +STATUS +AGE$' || fail "get ns header: $(cat "$T/ns.txt")"
grep -Eq '^default +Active +[0-9]+[smh]' "$T/ns.txt" || fail "get ns: $(cat "$T/ns.txt")"

# ---- -o=name ----
[ "$("$FERRY" get vm halted -o=name)" = "virtualmachine.kubevirt.io/halted" ] || fail "-o=name"

# ---- AGE as kubectl prints it: 10m, not 0h10m ----
command -v python3 >/dev/null || skip "python3 is not installed"
kill_controller
age_of() { # age_of SECONDS-AGO -> the AGE column of VM 'plain'
    python3 - "$FERRY_STATE_DIR/ferry.db" "$1" <<'PY'
import sqlite3, sys, json, datetime
db = sqlite3.connect(sys.argv[1])
t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=int(sys.argv[2]))
for rowid, text in db.execute("SELECT rowid, json FROM objects WHERE resource='virtualmachines.kubevirt.io' AND name='plain'"):
    o = json.loads(text)
    o["metadata"]["creationTimestamp"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    db.execute("UPDATE objects SET json=? WHERE rowid=?", (json.dumps(o), rowid))
db.commit()
PY
    "$FERRY" get vm plain --no-headers | awk '{print $2}'
}
# (ages whose text stays the same for a minute: no timing in the assertion)
for c in "600 10m" "11100 3h5m" "32400 9h" "273600 3d4h" "2592000 30d"; do
    set -- $c
    got=$(age_of "$1")
    [ "$got" = "$2" ] || fail "AGE of ${1}s: '$got', kubectl prints '$2'"
done
echo ok
