#!/bin/sh
# No lost wake-up (issue 12, item 8): more changes than the controller takes
# in one pass (1000 watch events) are all reconciled from the watch, not
# left to the periodic resync.  The controller is stopped (SIGSTOP) while
# 1100 VMs are applied, so its watch holds them all when it goes on; the
# resync is set to an hour, so a VM that was dropped would stay unreconciled.
. "$(dirname "$0")/lib.sh"
N=1100
start_controller --resync 3600000
i=0
while [ $i -lt $N ]; do
    printf -- '---\napiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: vm%04d\nspec:\n  runStrategy: Halted\n  template:\n    spec:\n      domain:\n        devices: {}\n        memory: {guest: 64Mi}\n' "$i"
    i=$((i + 1))
done > "$T/vms.yaml"
kill -STOP "$CTL_PID"
"$FERRY" apply -f "$T/vms.yaml" > /dev/null || fail "apply"
kill -CONT "$CTL_PID"
stopped() { [ "$("$FERRY" get vms --no-headers | grep -c ' Stopped ')" -ge $N ]; }
wait_for 120 stopped || fail "only $("$FERRY" get vms --no-headers | grep -c ' Stopped ') of $N VMs reconciled; missing: $("$FERRY" get vms --no-headers | grep -v ' Stopped ' | head -5)"
echo ok
