# The machine's libvirt daemon (qemu:///system) for a test, by pid: there is
# one per machine, so every test that uses it holds the ctest RESOURCE_LOCK
# "libvirtd" (sourced by tests/node/lib.sh, tests/kube/deploy-*.sh,
# tests/controlplane/test-kube-vmi-pod.sh and tests/samples/run-demo.sh).
#
# libvirtd_start DIR: use the daemon already answering, or start virtlogd and
# libvirtd with their pid files in DIR (LIBVIRTD_OWN=1); after a
# `libvirtd_stop libvirtd` of our own daemon, start libvirtd alone again.
# Returns once qemu:///system answers, 1 after 30 s.
# libvirtd_stop [DAEMONS]: stop what libvirtd_start started (TERM, 10 s, then
# KILL), default "libvirtd virtlogd"; nothing when we use someone else's.
# libvirtd_missing: prints the first program these tests need that is not
# installed and returns 0; returns 1 when all are there.
LIBVIRTD_OWN=0
LIBVIRTD_DIR=

libvirtd_missing() {
    for _lv_t in virtlogd libvirtd virsh qemu-system-x86_64; do
        command -v "$_lv_t" >/dev/null 2>&1 || { echo "$_lv_t"; return 0; }
    done
    return 1
}

libvirtd_wait() {
    _lv_i=0
    until virsh -q -c qemu:///system version >/dev/null 2>&1; do
        _lv_i=$((_lv_i + 1))
        [ $_lv_i -lt 300 ] || { echo "libvirtd did not answer in 30 s" >&2; return 1; }
        sleep 0.1
    done
}

libvirtd_start() {
    if [ "$LIBVIRTD_OWN" = 1 ] && [ -f "$LIBVIRTD_DIR/virtlogd.pid" ]; then   # a restart
        libvirtd -d -p "$LIBVIRTD_DIR/libvirtd.pid"
        libvirtd_wait
        return
    fi
    if virsh -q -c qemu:///system version >/dev/null 2>&1; then
        echo "using the libvirtd already running"
        return 0
    fi
    LIBVIRTD_OWN=1
    LIBVIRTD_DIR=$1
    mkdir -p "$LIBVIRTD_DIR" /run/libvirt
    virtlogd -d -p "$LIBVIRTD_DIR/virtlogd.pid"
    libvirtd -d -p "$LIBVIRTD_DIR/libvirtd.pid"
    libvirtd_wait || return 1
    echo "libvirtd pid $(cat "$LIBVIRTD_DIR/libvirtd.pid") up"
}

libvirtd_stop() {
    [ "$LIBVIRTD_OWN" = 1 ] || return 0
    for _lv_d in ${1:-libvirtd virtlogd}; do
        _lv_f=$LIBVIRTD_DIR/$_lv_d.pid
        [ -f "$_lv_f" ] || continue
        _lv_p=$(cat "$_lv_f")
        kill -TERM "$_lv_p" 2>/dev/null || true
        _lv_i=0
        while kill -0 "$_lv_p" 2>/dev/null && [ $_lv_i -lt 100 ]; do sleep 0.1; _lv_i=$((_lv_i + 1)); done
        kill -9 "$_lv_p" 2>/dev/null || true
        rm -f "$_lv_f"
    done
}
