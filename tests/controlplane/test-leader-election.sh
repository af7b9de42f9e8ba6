#!/bin/sh
# Two ferry-controller replicas on one store elect one leader through the
# coordination.k8s.io/v1 Lease kube-system/ferry-controller; the follower
# does no work; when the leader is killed (SIGKILL, by pid: no release) the
# follower takes over once the Lease has stood still for its 15 s duration
# (leaseTransitions 1) and reconciles; a replica stopped with SIGTERM
# releases the Lease (empty holder).
#
# The store is the state directory's SQLite database, or a real API server
# when FERRY_TEST_KUBECONFIG names a kubeconfig (the same steps, read with
# kubectl).  The takeover time is printed, not asserted: the bound waited
# for is generous (lease 15 s + retry 2 s x 1.2 + slack).
. "$(dirname "$0")/lib.sh"

KCFG=${FERRY_TEST_KUBECONFIG:-}
if [ -n "$KCFG" ]; then
    command -v kubectl >/dev/null || skip "kubectl is not installed"
    STORE_ARGS="--kubeconfig $KCFG"
    KC="kubectl --kubeconfig $KCFG"
    # a Lease of an earlier run must not be taken for this one's
    $KC -n kube-system delete lease ferry-controller --ignore-not-found >/dev/null 2>&1
else
    STORE_ARGS=""
fi
# apply and read objects in the store under test
apply_f() { if [ -n "$KCFG" ]; then $KC apply -f - >/dev/null; else "$FERRY" apply -f - >/dev/null; fi; }
vm_status() {
    if [ -n "$KCFG" ]; then
        $KC get vm "$1" -o jsonpath='{.status.printableStatus}' 2>/dev/null
    else
        field vm "$1" status.printableStatus
    fi
}
vm_stopped() { [ "$(vm_status "$1")" = Stopped ]; }

# lease_field PATH: a field of the Lease (dotted, under spec)
lease_field() {
    if [ -n "$KCFG" ]; then
        kubectl --kubeconfig "$KCFG" -n kube-system get lease ferry-controller -o json 2>/dev/null
    else
        "$FERRY" get lease ferry-controller -n kube-system -o json 2>/dev/null
    fi | python3 -c 'import json,sys
o=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    o=o.get(k) if isinstance(o,dict) else None
print("" if o is None else o)' "$1"
}
holder_is() { [ "$(lease_field spec.holderIdentity)" = "$1" ]; }

start_replica() {
    # $1 identity; the pid goes to PIDS (killed by the trap) and to $1.pid
    "$FERRY_BIN/ferry-controller" --state-dir "$FERRY_STATE_DIR" $STORE_ARGS --resync 2000 \
        --leader-elect --leader-elect-identity "$1" >>"$T/$1.log" 2>&1 &
    echo $! > "$T/$1.pid"
    PIDS="$PIDS $!"
}

start_replica ctl-a
[ -n "$KCFG" ] || wait_for 30 test -s "$FERRY_STATE_DIR/ferry.db" || fail "no store"
wait_for 30 holder_is ctl-a || { cat "$T/ctl-a.log" >&2; fail "ctl-a did not take the lease"; }
start_replica ctl-b
wait_for 30 grep -q "ctl-b waiting for the lease" "$T/ctl-b.log" || fail "ctl-b did not start"
[ "$(lease_field spec.leaseDurationSeconds)" = 15 ] || fail "leaseDurationSeconds is not 15"
[ "$(lease_field spec.leaseTransitions)" = 0 ] || fail "leaseTransitions is not 0"
[ -n "$(lease_field spec.renewTime)" ] && [ -n "$(lease_field spec.acquireTime)" ] ||
    fail "renewTime/acquireTime missing"

# the leader reconciles: a Halted VM gets printableStatus Stopped
vm_yaml one | apply_f || fail "apply vm one"
wait_for 30 vm_stopped one || fail "the leader did not reconcile"
# renewals go on (renewTime moves) and the follower stays a follower
r1=$(lease_field spec.renewTime)
renew_moved() { [ "$(lease_field spec.renewTime)" != "$r1" ]; }
wait_for 10 renew_moved || fail "the leader does not renew"
holder_is ctl-a || fail "the lease moved while ctl-a lives"
grep -q "ctl-b is the leader" "$T/ctl-b.log" && fail "ctl-b leads beside ctl-a"
grep -q "reconcile\|created its VMI" "$T/ctl-b.log" && fail "the follower reconciled"

# kill the leader without a chance to release; the follower takes over
kill -9 "$(cat "$T/ctl-a.pid")"
t0=$(date +%s.%N)
wait_for 40 holder_is ctl-b || { cat "$T/ctl-b.log" >&2; fail "ctl-b did not take over"; }
t1=$(date +%s.%N)
echo "takeover after SIGKILL of the leader: $(echo "$t1 - $t0" | bc) s (lease 15 s)"
[ "$(lease_field spec.leaseTransitions)" = 1 ] || fail "leaseTransitions is not 1 after the takeover"
grep -q "ctl-b is the leader" "$T/ctl-b.log" || fail "ctl-b does not say it leads"
if [ -z "$KCFG" ]; then
    "$FERRY" get events -n kube-system -o json 2>/dev/null | grep -q "ctl-b became leader" ||
        fail "no LeaderElection event"
fi
# ... and works
vm_yaml two | apply_f || fail "apply vm two"
wait_for 30 vm_stopped two || fail "the new leader did not reconcile"

# SIGTERM: the leader releases the lease on its way out
kill -TERM "$(cat "$T/ctl-b.pid")"
wait_for 20 sh -c "! kill -0 $(cat "$T/ctl-b.pid") 2>/dev/null" || fail "ctl-b did not stop"
holder_is "" || fail "ctl-b did not release the lease"
[ "$(lease_field spec.leaseDurationSeconds)" = 1 ] || fail "a released lease is not 1 s"

# a leader whose Lease is taken from it stops leading and exits 1
start_replica ctl-c
wait_for 30 holder_is ctl-c || fail "ctl-c did not take the released lease at once"
cat <<YAML | apply_f || fail "apply the intruder's lease"
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: ferry-controller
  namespace: kube-system
spec:
  holderIdentity: intruder
  leaseDurationSeconds: 15
YAML
CPID=$(cat "$T/ctl-c.pid")
wait_for 30 sh -c "! kill -0 $CPID 2>/dev/null" || fail "ctl-c kept running without the lease"
wait "$CPID" 2>/dev/null
rc=$?
[ "$rc" = 1 ] || fail "ctl-c exited $rc, not 1, after losing the lease"
grep -q "leader election lost" "$T/ctl-c.log" || fail "ctl-c does not say it lost the lease"
echo "PASS"
