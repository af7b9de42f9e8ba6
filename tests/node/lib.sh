# Helpers for the node integration tests (sourced).  They start their own
# virtlogd and libvirtd by pid (no systemd here) unless a libvirtd already
# answers on the system socket, build the tiny guest, run ferry-handler on a
# private state directory, and clean everything in a trap, by pid.
#
#   node_setup            prerequisites (exit 77 when missing), work dir, guest, libvirtd
#   node_start_libvirtd / node_stop_libvirtd
#   node_start_handler [ARGS]  / node_kill_handler [SIG]
#   node_vmi_yaml NAME [EXTRA-SPEC-YAML]   a VMI booting the tiny guest's disk
#   tool ARGS...          node-store-tool on the state directory
#   wait_console_log NS NAME TEXT SECONDS
set -eu

: "${FERRY_BIN:?}" "${FERRY_BUILD:?}" "${FERRY_SRC:?}"
TOOL=$FERRY_BUILD/tests/node-store-tool
NODE=testnode
NS=default
PIDS=""

node_log() { echo "[$(date +%T)] $*"; }

node_cleanup() {
    set +e
    if [ -n "${STATE:-}" ] && [ -d "$STATE/vmis" ]; then
        for x in $(virsh -q -c qemu:///system list --all --name 2>/dev/null | grep "^${NS}_${TESTPREFIX:-zz}" ); do
            virsh -q -c qemu:///system destroy "$x" >/dev/null 2>&1
            virsh -q -c qemu:///system undefine --nvram "$x" >/dev/null 2>&1
        done
        # qemu of our domains, should libvirtd be down
        for f in /run/libvirt/qemu/${NS}_${TESTPREFIX:-zz}*.pid; do
            [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
        done
        # launchers write their pid beside their socket
        for f in "$STATE"/vmis/*/*/launcher.pid; do
            [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
        done
    fi
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    node_stop_libvirtd
    [ -n "${WORK:-}" ] && [ -z "${FERRY_NODE_KEEP:-}" ] && rm -rf "$WORK"
}

# shellcheck source=tests/lib/libvirtd.sh
. "$FERRY_SRC/tests/lib/libvirtd.sh"
node_start_libvirtd() { libvirtd_start "$WORK"; }
node_stop_libvirtd() { libvirtd_stop "$@"; }   # [DAEMONS]: "libvirtd" for a restart

node_setup() {
    if m=$(libvirtd_missing); then echo "missing: $m"; exit 77; fi
    [ "$(id -u)" = 0 ] || { echo "missing: root (qemu:///system)"; exit 77; }
    [ -x "$TOOL" ] || { echo "missing: $TOOL"; exit 77; }
    WORK=$(mktemp -d /tmp/ferry-node.XXXXXX)
    chmod 755 "$WORK"
    STATE=$WORK/state
    mkdir -p "$STATE"
    chmod 755 "$STATE"
    trap node_cleanup EXIT
    trap 'exit 1' INT TERM HUP PIPE
    "$FERRY_SRC/scripts/build-tiny-guest.sh" "$WORK/guest" >/dev/null || {
        rc=$?; [ $rc = 77 ] && echo "missing: tiny guest packages"; exit $rc; }
    node_start_libvirtd
    # KVM when it works (the handler probes it), TCG otherwise;
    # FERRY_NODE_EMULATION=force skips the probe.
    EMU="--allow-emulation"
    if [ "${FERRY_NODE_EMULATION:-}" = force ]; then EMU="--force-emulation"; fi
}

node_start_handler() {
    "$FERRY_BIN/ferry-handler" --state-dir "$STATE" --node-name "$NODE" $EMU "$@" \
        >>"$WORK/handler.log" 2>&1 &
    HANDLER_PID=$!
    PIDS="$PIDS $HANDLER_PID"
}

node_kill_handler() {
    kill "-${1:-TERM}" "$HANDLER_PID" 2>/dev/null || true
    wait "$HANDLER_PID" 2>/dev/null || true
}

# A volume holding the tiny guest's bootable disk: DataVolume NAME.
node_volume() {
    mkdir -p "$STATE/volumes/$NS/$1"
    chmod 755 "$STATE/volumes" "$STATE/volumes/$NS" "$STATE/volumes/$NS/$1"
    cp --sparse=always "$WORK/guest/disk.raw" "$STATE/volumes/$NS/$1/disk.img"
}

# node_vmi_yaml NAME [DV]: a VMI booting the tiny guest from volume DV (NAME);
# EXTRA_DISKS (more disks entries), EXTRA_DEVICES (more devices keys),
# EXTRA_SPEC (more spec keys), EXTRA_VOLUMES and GRACE add to it, as written;
# ROOT_VOLUME replaces the root volume's source (default: the DataVolume).
node_vmi_yaml() {
    cat <<YAML
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: $1
  namespace: $NS
spec:
  terminationGracePeriodSeconds: ${GRACE:-20}
  domain:
    devices:
      disks:
      - name: root
        disk:
          bus: sata
${EXTRA_DISKS:-}
${EXTRA_DEVICES:-}
    resources:
      requests:
        memory: 128Mi
${EXTRA_SPEC:-}
  volumes:
  - name: root
${ROOT_VOLUME:-    dataVolume:
      name: ${2:-$1}}
${EXTRA_VOLUMES:-}
YAML
}

tool() { "$TOOL" "$STATE" "$@"; }

# SIGKILL the launcher of the VMI whose runtime directory is $1 and wait for
# the handler to start a new one; prints nothing, fails the test after 30 s.
node_replace_launcher() {
    _l0=$(cat "$1/launcher.pid")
    kill -9 "$_l0"
    _i=0
    while [ "$(cat "$1/launcher.pid" 2>/dev/null)" = "$_l0" ]; do
        _i=$((_i + 1)); [ $_i -lt 300 ] || { echo "no new launcher"; exit 1; }; sleep 0.1
    done
}

wait_console_log() {
    f=$STATE/vmis/$1/$2/console.log
    i=0
    until [ -f "$f" ] && grep -q "$3" "$f"; do
        i=$((i + 1))
        if [ $i -gt $(($4 * 10)) ]; then
            echo "'$3' not in $f within $4 s"; [ -f "$f" ] && tail -5 "$f"; return 1
        fi
        sleep 0.1
    done
}

dump_logs() {
    echo "---- handler.log"; tail -30 "$WORK/handler.log" 2>/dev/null
    for f in "$STATE"/vmis/*/*/launcher.log; do [ -f "$f" ] && { echo "---- $f"; tail -20 "$f"; }; done
    return 0   # it ends the && list of the tests' EXIT traps: a failure would skip node_cleanup
}
