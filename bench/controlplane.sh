#!/bin/sh
# Control plane benchmark (issue 5): apply N VirtualMachines (Halted) to a
# fresh store with ferry-controller running, and report
#   - the time `ferry apply` takes for all N (one process, admission included),
#   - the time until every VM is reconciled (printableStatus Stopped),
#   - the controller's resident memory (VmRSS and peak VmHWM) afterwards,
#   - `ferry get vms` latency over the N objects (median of 5), and -o json,
#   - the controller alone: N VMs applied while it is stopped, then the time
#     until it has reconciled them all from its watch, and its peak RSS.
# Each N runs on its own fresh store, so the figures side by side show how
# the cost grows (issue 12: 10,000 beside 1,000).
# Usage: bench/controlplane.sh [BINDIR] [N...]   (BINDIR default build/bin,
# N default "1000 10000")
set -eu
. "$(dirname "$0")/lib.sh"
BIN=${1:-$(dirname "$0")/../build/bin}
[ $# -gt 0 ] && shift
NS=${*:-1000 10000}
# Exits 1 with the reason when it cannot measure (a program missing, apply
# failing, the controller dying or not reconciling within 10 minutes).
BIN=$(bench_bindir "$BIN")
bench_built ferry ferry-controller
T=$(mktemp -d /tmp/ferry-bench-cp.XXXXXX)
export FERRY_LOG_FORMAT=text
CTL=""
trap '[ -n "$CTL" ] && kill "$CTL" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT INT TERM

run() {
N=$1
export FERRY_STATE_DIR="$T/state-$N"
mkdir -p "$FERRY_STATE_DIR"

i=0
while [ $i -lt "$N" ]; do
    printf -- '---\napiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: vm%04d\n  labels:\n    bench: cp\nspec:\n  runStrategy: Halted\n  template:\n    spec:\n      domain:\n        devices: {}\n        resources:\n          requests:\n            memory: 64Mi\n' "$i"
    i=$((i + 1))
done > "$T/vms.yaml"

"$BIN/ferry-controller" --state-dir "$FERRY_STATE_DIR" > "$T/controller.log" 2>&1 &
CTL=$!
while [ ! -s "$FERRY_STATE_DIR/ferry.db" ]; do sleep 0.1; done

t0=$(now)
"$BIN/ferry" apply -f "$T/vms.yaml" > "$T/apply.out" 2>&1 ||
    { tail -5 "$T/apply.out" >&2; bench_fail "ferry apply failed"; }
t_apply=$(since "$t0")
while :; do
    n=$("$BIN/ferry" get vms --no-headers 2>/dev/null | grep -c ' Stopped ' || true)
    [ "$n" -ge "$N" ] && break
    kill -0 "$CTL" 2>/dev/null || { tail -5 "$T/controller.log" >&2; bench_fail "ferry-controller died"; }
    [ "$(since "$t0" | cut -d. -f1)" -lt 600 ] ||
        bench_fail "only $n of $N VMs reconciled after 600 s"
    sleep 0.2
done
t_all=$(since "$t0")

rss=$(awk '/^VmRSS/ {print $2}' /proc/$CTL/status)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$CTL/status)

lat() {
    for _ in 1 2 3 4 5; do
        s=$(now); "$BIN/ferry" get vms "$@" > /dev/null; since "$s"; echo
    done | median
}
get_table=$(lat)
get_json=$(lat -o json)

echo "controlplane: $N VMs (Halted)"
echo "  ferry apply of $N VMs:                 ${t_apply} s"
echo "  apply start -> all printableStatus Stopped: ${t_all} s"
echo "  ferry-controller RSS after:            $((rss / 1024)) MiB (peak $((hwm / 1024)) MiB)"
echo "  ferry get vms (table), median of 5:    ${get_table} s"
echo "  ferry get vms -o json, median of 5:    ${get_json} s"
kill "$CTL"; wait "$CTL" 2>/dev/null || true; CTL=""
rm -rf "$FERRY_STATE_DIR"

# The controller alone: the VMs are applied while it is stopped (SIGSTOP),
# then it works them all off from its watch (no resync within the run).
mkdir -p "$FERRY_STATE_DIR"
"$BIN/ferry-controller" --state-dir "$FERRY_STATE_DIR" --resync 3600000 > "$T/controller.log" 2>&1 &
CTL=$!
while [ ! -s "$FERRY_STATE_DIR/ferry.db" ]; do sleep 0.1; done
kill -STOP "$CTL"
"$BIN/ferry" apply -f "$T/vms.yaml" > /dev/null
t0=$(now)
kill -CONT "$CTL"
while [ "$("$BIN/ferry" get vms --no-headers 2>/dev/null | grep -c ' Stopped ' || true)" -lt "$N" ]; do
    sleep 0.2
done
t_rec=$(since "$t0")
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$CTL/status)
echo "  reconcile alone (applied while stopped): ${t_rec} s, peak RSS $((hwm / 1024)) MiB"
kill "$CTL"; wait "$CTL" 2>/dev/null || true; CTL=""
rm -rf "$FERRY_STATE_DIR"
}

for n in $NS; do run "$n"; done
