#!/bin/sh
# What survives what: a launcher killed with SIGKILL is replaced and the new
# one adopts the running domain (same qemu process); a handler killed with
# SIGKILL and started again reconnects to the launchers and keeps writing
# status; a libvirtd restart (when the test owns libvirtd) is reconnected to
# and the domain can still be stopped gracefully and cleaned.
. "$FERRY_SRC/tests/node/lib.sh"
TESTPREFIX=sv
node_setup
trap 'rc=$?; [ $rc != 0 ] && [ $rc != 77 ] && dump_logs; node_cleanup; exit $rc' EXIT
export FERRY_STATE_DIR=$STATE
FERRY=$FERRY_BIN/ferry
node_start_handler

node_volume sv-a
node_vmi_yaml sv-a > "$WORK/sv-a.yaml"
tool create "$WORK/sv-a.yaml" "$NODE"
tool wait-phase "$NS" sv-a Running 60
wait_console_log "$NS" sv-a "FERRY-GUEST-MARKER ready" 180
DIR=$STATE/vmis/$NS/sv-a
qemu_pid() { cat "/run/libvirt/qemu/${NS}_sv-a.pid"; }
Q0=$(qemu_pid)

# 1. SIGKILL the launcher: a new one adopts the domain
node_replace_launcher "$DIR"
L1=$(cat "$DIR/launcher.pid")
node_log "launcher killed, $L1 took over"
tool wait-phase "$NS" sv-a Running 5
[ "$(qemu_pid)" = "$Q0" ] || { echo "qemu restarted"; exit 1; }
printf 'marker\n' | "$FERRY" console sv-a --linger 3 | grep -q "FERRY-GUEST-MARKER booted"
"$FERRY" pause sv-a >/dev/null
tool wait-cond "$NS" sv-a Paused True 20
node_log "adopted domain answers (console, pause)"

# 2. SIGKILL the handler, start another: it reconnects and writes status
node_kill_handler KILL
kill -0 "$L1"                              # the launcher outlives its handler
node_start_handler
"$FERRY" unpause sv-a >/dev/null
tool wait-cond "$NS" sv-a Paused absent 20
[ "$(qemu_pid)" = "$Q0" ] || { echo "qemu restarted"; exit 1; }
[ "$(cat "$DIR/launcher.pid")" = "$L1" ] || { echo "launcher replaced needlessly"; exit 1; }
node_log "restarted handler re-adopted launcher $L1"

# 3. libvirtd restart
if [ "$LIBVIRTD_OWN" = 1 ]; then
    node_stop_libvirtd libvirtd
    node_start_libvirtd
    [ "$(qemu_pid)" = "$Q0" ] || { echo "qemu restarted"; exit 1; }
    i=0
    until grep -q "reconnected to libvirt" "$DIR/launcher.log"; do
        i=$((i + 1)); [ $i -lt 200 ] || { echo "launcher did not notice"; exit 1; }; sleep 0.1
    done
    "$FERRY" pause sv-a >/dev/null            # goes through the reconnected connection
    tool wait-cond "$NS" sv-a Paused True 30
    "$FERRY" unpause sv-a >/dev/null
    tool wait-cond "$NS" sv-a Paused absent 30
    node_log "libvirtd restarted; launcher reconnected"
else
    node_log "libvirtd not ours: restart part skipped"
fi

# 4. deletion still stops and cleans
tool delete "$NS" sv-a
tool wait-gone "$NS" sv-a 90
[ ! -d "$DIR" ] || { echo "VMI directory left behind"; exit 1; }
i=0
while kill -0 "$L1" 2>/dev/null && ! ps -o stat= -p "$L1" | grep -q Z; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "launcher still running"; exit 1; }; sleep 0.1
done
echo "PASS survive"
