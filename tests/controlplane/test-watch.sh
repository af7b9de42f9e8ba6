#!/bin/sh
# `ferry get -w` outlives an expired watch: when the store's history moved
# past it (the 410 Gone answer), it re-lists, prints only what changed
# meanwhile (no duplicate of an unchanged object; the last state of one that
# went away), and goes on watching from the list's resourceVersion, as
# kubectl's reflector does.  The watchers are stopped (SIGSTOP) while more
# changes than the kept history are written, so the expiry is certain.
. "$(dirname "$0")/lib.sh"

# Writers compact the history to their own setting: keep only 4 changes.
export FERRY_STORE_HISTORY=4

vm() { # vm NAME [NAMESPACE] [REV]
    vm_yaml "$1" "runStrategy: Halted" "  namespace: ${2:-default}
  labels:
    rev: \"${3:-1}\""
}
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n' | "$FERRY" apply -f - >/dev/null ||
    fail "namespace"
{ vm alpha; echo ---; vm beta; echo ---; vm keep; } | "$FERRY" apply -f - >/dev/null || fail "apply"

"$FERRY" --debug get get vm -w > "$T/table" 2> "$T/table.err" &
W1=$!; PIDS="$PIDS $W1"
"$FERRY" --debug get get vm/alpha -w -o name > "$T/name" 2> "$T/name.err" &
W2=$!; PIDS="$PIDS $W2"
lines() { [ "$(wc -l < "$1")" -ge "$2" ]; }
wait_for 30 lines "$T/table" 4 || fail "get -w printed no list: $(cat "$T/table" "$T/table.err")"
wait_for 30 lines "$T/name" 1 || fail "get vm/alpha -w printed nothing: $(cat "$T/name.err")"
head -1 "$T/table" | grep -Eq '^NAME +AGE +STATUS +READY$' || fail "header: $(cat "$T/table")"

kill -STOP "$W1" "$W2"
vm alpha default 2 | "$FERRY" apply -f - >/dev/null || fail "change alpha"
vm gamma | "$FERRY" apply -f - >/dev/null || fail "create gamma"
"$FERRY" delete vm beta >/dev/null || fail "delete beta"
for i in 1 2 3 4 5 6; do vm "other$i" other; echo ---; done | "$FERRY" apply -f - >/dev/null ||
    fail "churn in another namespace"
kill -CONT "$W1" "$W2"

count() { grep -c "^$2\( \|\$\)" "$1"; }
wait_for 30 sh -c "[ \$(grep -c '^gamma ' '$T/table') -ge 1 ] && [ \$(grep -c '^beta ' '$T/table') -ge 2 ] &&
                   [ \$(grep -c '^alpha ' '$T/table') -ge 2 ]" ||
    fail "after the expiry get -w printed:
$(cat "$T/table" "$T/table.err")"
wait_for 30 lines "$T/name" 2 || fail "named watch after the expiry: $(cat "$T/name" "$T/name.err")"
grep -q 'expired' "$T/table.err" || fail "the table watch never expired, the test proves nothing: $(cat "$T/table.err")"
grep -q 'expired' "$T/name.err" || fail "the named watch never expired: $(cat "$T/name.err")"

# Changes after the re-list are still printed.
vm alpha default 3 | "$FERRY" apply -f - >/dev/null || fail "change alpha again"
"$FERRY" delete vm gamma >/dev/null || fail "delete gamma"
wait_for 30 sh -c "[ \$(grep -c '^gamma ' '$T/table') -ge 2 ] && [ \$(grep -c '^alpha ' '$T/table') -ge 3 ]" ||
    fail "get -w stopped after the re-list:
$(cat "$T/table" "$T/table.err")"
wait_for 30 lines "$T/name" 3 || fail "named watch stopped after the re-list: $(cat "$T/name")"

kill "$W1" "$W2"; wait "$W1" "$W2" 2>/dev/null

# Exactly: header; alpha beta keep; after the re-list alpha (changed), gamma
# (new), beta (gone, last state); then alpha and gamma once more.  keep,
# unchanged, is never printed twice; the other namespace never shows.
[ "$(count "$T/table" keep)" = 1 ] || fail "unchanged keep printed again: $(cat "$T/table")"
[ "$(count "$T/table" alpha)" = 3 ] || fail "alpha rows: $(cat "$T/table")"
[ "$(count "$T/table" beta)" = 2 ] || fail "beta rows: $(cat "$T/table")"
[ "$(count "$T/table" gamma)" = 2 ] || fail "gamma rows: $(cat "$T/table")"
grep -q '^other' "$T/table" && fail "another namespace's objects printed: $(cat "$T/table")"
[ "$(wc -l < "$T/table")" = 9 ] || fail "get -w output: $(cat "$T/table")"
[ "$(cat "$T/name")" = "virtualmachine.kubevirt.io/alpha
virtualmachine.kubevirt.io/alpha
virtualmachine.kubevirt.io/alpha" ] || fail "named watch output: $(cat "$T/name")"

# One kind at a time, as kubectl.
"$FERRY" get vm,dv -w 2>"$T/err" && fail "get -w of two kinds succeeded"
grep -q 'you may only specify a single resource type' "$T/err" || fail "two kinds: $(cat "$T/err")"
"$FERRY" get vm/alpha vm/keep -w 2>"$T/err" && fail "get -w of two objects succeeded"
grep -q 'watch is only supported on individual resources' "$T/err" || fail "two objects: $(cat "$T/err")"
echo PASS
