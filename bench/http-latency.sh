#!/bin/bash
# Benchmark: HTTP imports across 20 ms of latency each way (issue 15).
# Two network namespaces made here, joined by a veth pair with `tc netem
# delay 20ms` on both ends (40 ms round trip), addresses 10.213.0.1/.2 only
# inside them (nothing in the host's own namespace); nginx serves in one, the
# clients run in the other.  A kernel without netem (no CONFIG_NET_SCH_NETEM)
# gets bench/delayline.py instead: a tun device in each namespace, every
# packet forwarded DELAY later by a userspace delay line (said in the output).
#   ferry-importer --connections 1, ferry-importer --connections 4, and CDI's
#   path: nbdkit curl (with the retry filter, as CDI) exposing the URL over
#   NBD to `qemu-img convert -t writeback -O raw`;
# on a raw and a qcow2 image of a SIZE_MIB (default 1024) MiB disk with
# DATA_MIB (default 768) MiB of random data in 16 MiB extents, built once in
# $FERRY_BENCH_DIR (default /var/tmp/ferry-bench-http) and served from a
# copy in /dev/shm (removed on exit).  ROUNDS rounds
# (default 1), the median time; every output is compared with the source
# once.  Goals: 4 connections at least 3x faster than 1; Ferry with 4 at
# most 0.7 of nbdkit + qemu-img's time.  Needs root (ip netns), tc, nginx,
# nbdkit with its curl plugin, qemu-img.
#   usage: bench/http-latency.sh BINDIR
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
BIN=$(bench_bindir "${1:?usage: $0 BINDIR}")
IMPORTER="$BIN/ferry-importer"
ROUNDS="${ROUNDS:-1}"
SIZE_MIB="${SIZE_MIB:-1024}"
DATA_MIB="${DATA_MIB:-768}"
DELAY="${DELAY:-20ms}"
DIR="${FERRY_BENCH_DIR:-/var/tmp/ferry-bench-http}"
bench_built ferry-importer
[ "$(id -u)" = 0 ] || bench_fail "needs root (ip netns, tc)"
bench_need ip tc nginx nbdkit qemu-img curl cmp
nbdkit curl --dump-plugin >/dev/null 2>&1 || bench_fail "nbdkit's curl plugin is not installed"
mkdir -p "$DIR"
cd "$DIR"

key="$SIZE_MIB-$DATA_MIB"
if [ ! -f "img-$key.done" ]; then
    echo "building a $SIZE_MIB MiB disk with $DATA_MIB MiB of random data, raw and qcow2 (once) ..." >&2
    rm -f img.raw img.qcow2 img-*.done
    truncate -s "${SIZE_MIB}M" img.raw
    slots=$((SIZE_MIB / 16)) n=$((DATA_MIB / 16))
    for i in $(seq 0 $((n - 1))); do
        off=$(( (i * (slots - 1) / (n > 1 ? n - 1 : 1)) ))
        dd if=/dev/urandom of=img.raw bs=1M count=16 seek=$((off * 16)) conv=notrunc status=none
    done
    qemu-img convert -f raw -O qcow2 img.raw img.qcow2
    touch "img-$key.done"
fi

WORK="$(mktemp -d "$DIR/run.XXXXXX")"
NS_S="ferry-bench-srv-$$"
NS_C="ferry-bench-cli-$$"
VS="fbs$$" VC="fbc$$"
NGINX_PID= DELAY_PID= SERVE=
cleanup() {
    [ -n "$DELAY_PID" ] && { kill "$DELAY_PID" 2>/dev/null || true; wait "$DELAY_PID" 2>/dev/null || true; }
    [ -n "$NGINX_PID" ] && { kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; }
    ip netns del "$NS_C" 2>/dev/null || true
    ip netns del "$NS_S" 2>/dev/null || true
    rm -rf "$WORK" "${SERVE:-}"
}
trap cleanup EXIT INT TERM

ip netns add "$NS_S"
ip netns add "$NS_C"
for ns in "$NS_S" "$NS_C"; do ip -n "$ns" link set lo up; done
HOW="tc netem on a veth pair"
ip link add "$VS" netns "$NS_S" type veth peer name "$VC" netns "$NS_C"
# A queue long enough for the bandwidth-delay product: netem drops beyond it.
if ip netns exec "$NS_S" tc qdisc add dev "$VS" root netem delay "$DELAY" limit 100000 2>/dev/null &&
   ip netns exec "$NS_C" tc qdisc add dev "$VC" root netem delay "$DELAY" limit 100000; then
    ip -n "$NS_S" addr add 10.213.0.1/30 dev "$VS"
    ip -n "$NS_C" addr add 10.213.0.2/30 dev "$VC"
    ip -n "$NS_S" link set "$VS" up
    ip -n "$NS_C" link set "$VC" up
else
    # No netem in this kernel: delayline.py, a userspace delay line between
    # a tun device in each namespace, delays every packet instead.
    ip -n "$NS_S" link del "$VS" 2>/dev/null || true
    HOW="delayline.py between tun devices (this kernel has no tc netem)"
    python3 "$HERE/delayline.py" "$NS_S" "$VS" "$NS_C" "$VC" "${DELAY%ms}" "$WORK/delayline.ready" &
    DELAY_PID=$!
    for i in $(seq 50); do [ -f "$WORK/delayline.ready" ] && break; sleep 0.1; done
    [ -f "$WORK/delayline.ready" ] || bench_fail "delayline.py did not start"
    ip -n "$NS_S" addr add 10.213.0.1 peer 10.213.0.2 dev "$VS"
    ip -n "$NS_C" addr add 10.213.0.2 peer 10.213.0.1 dev "$VC"
    for x in "$NS_S $VS" "$NS_C $VC"; do
        set -- $x
        ip -n "$1" link set "$2" mtu 65000 txqueuelen 20000 up
    done
fi

# The server reads the images from tmpfs: its disk is not what is measured
# (on a busy machine, nginx blocked in a disk read stalled every connection
# for seconds).  The outputs go to $DIR, on disk, for every tool.
SERVE="$(mktemp -d /dev/shm/ferry-bench-http.XXXXXX)"
cp img.raw img.qcow2 "$SERVE/"
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 10.213.0.1:8080;
        location / { root $SERVE; }
    }
}
CONF
ip netns exec "$NS_S" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
URL="http://10.213.0.1:8080"
for i in $(seq 50); do
    ip netns exec "$NS_C" curl -sf -o /dev/null -r 0-0 "$URL/img.raw" && break
    [ "$i" = 50 ] && { cat "$WORK/nginx/logs/error.log" >&2; bench_fail "nginx did not start"; }
    sleep 0.2
done
rtt=$(ip netns exec "$NS_C" curl -s -o /dev/null -w '%{time_connect}' "$URL/img.raw" -r 0-0)

OUT="$WORK/out.raw"
# run NAME CMD...: seconds on stdout; the output checked against img.raw once.
declare -A checked
run() {
    local name="$1"; shift
    rm -f "$OUT"; sync
    local s e
    s=$(now)
    ip netns exec "$NS_C" "$@" >"$WORK/$name.log" 2>&1 ||
        { cat "$WORK/$name.log" >&2; bench_fail "$name failed"; }
    e=$(now)
    if [ -z "${checked[$name]:-}" ]; then
        cmp -s "$OUT" "$DIR/img.raw" || bench_fail "$name: the output differs from img.raw"
        checked[$name]=1
    fi
    echo "$e - $s" | bc -l
}

echo "HTTP import across ${DELAY} each way ($HOW; TCP connect $rtt s), $SIZE_MIB MiB disk, $DATA_MIB MiB data, median of $ROUNDS"
printf '%-6s %10s %10s %14s %10s %14s\n' image "ferry 1c s" "ferry 4c s" "nbdkit+qemu s" "4c vs 1c" "4c/nbdkit"
for fmt in raw qcow2; do
    t1=(); t4=(); tn=()
    for r in $(seq "$ROUNDS"); do
        t1+=("$(run "ferry1-$fmt" "$IMPORTER" --url "$URL/img.$fmt" --dest "$OUT" --progress none --connections 1)")
        t4+=("$(run "ferry4-$fmt" "$IMPORTER" --url "$URL/img.$fmt" --dest "$OUT" --progress none --connections 4)")
        tn+=("$(run "nbdkit-$fmt" nbdkit -r -U - --filter=retry curl "url=$URL/img.$fmt" \
            --run "qemu-img convert -t writeback -f $fmt -O raw \"\$uri\" $OUT")")
    done
    m1=$(printf '%s\n' "${t1[@]}" | median)
    m4=$(printf '%s\n' "${t4[@]}" | median)
    mn=$(printf '%s\n' "${tn[@]}" | median)
    printf '%-6s %10.2f %10.2f %14.2f %9.2fx %14.2f\n' "$fmt" "$m1" "$m4" "$mn" \
        "$(echo "$m1 / $m4" | bc -l)" "$(echo "$m4 / $mn" | bc -l)"
done
