#!/bin/bash
# Benchmark: a containerDisk imported from a registry by ferry-importer
# against what CDI does in steps: `skopeo copy` of the image to a local
# directory, the layer untarred to scratch, `qemu-img convert -t writeback
# -O raw` (each tool flushes at the end).  The registry is Debian's
# docker-registry on 127.0.0.1 (started here by pid, stopped on exit); the
# image is one gzip layer holding disk/disk.qcow2 of a SIZE_GIB (default 2)
# GiB disk with DATA_MIB (default 512) MiB of random data in 32 extents,
# built once in $FERRY_BENCH_DIR (default /var/tmp/ferry-bench-registry).
# ROUNDS rounds (default 3) of each, the median time; ratio = ferry/steps.
#   usage: bench/registry.sh BINDIR
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
. "$HERE/../tests/lib/docker-registry.sh"
BIN=$(bench_bindir "${1:?usage: $0 BINDIR}")
IMPORTER="$BIN/ferry-importer"
REGTOOL="$HERE/../tests/importer/regtool.py"
ROUNDS="${ROUNDS:-3}"
SIZE_GIB="${SIZE_GIB:-2}"
DATA_MIB="${DATA_MIB:-512}"
DIR="${FERRY_BENCH_DIR:-/var/tmp/ferry-bench-registry}"
bench_built ferry-importer
bench_need qemu-img docker-registry skopeo python3 curl tar
mkdir -p "$DIR"
cd "$DIR"
WORK="$(mktemp -d "$DIR/run.XXXXXX")"
REG_PID=
cleanup() {
    [ -n "$REG_PID" ] && { kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

key="$SIZE_GIB-$DATA_MIB"
if [ ! -f "layer-$key.done" ]; then
    echo "building a $SIZE_GIB GiB qcow2 with $DATA_MIB MiB of data and its gzip layer (once) ..." >&2
    rm -f base.raw disk.qcow2 "layer-$key.tar.gz"
    truncate -s "${SIZE_GIB}G" base.raw
    slots=$((SIZE_GIB * 64))          # 16 MiB slots
    per=$((DATA_MIB / 32))
    for i in $(seq 0 31); do
        off=$(( (i * 37 + 5) % slots ))
        dd if=/dev/urandom of=base.raw bs=1M count="$per" seek=$((off * 16)) conv=notrunc status=none
    done
    qemu-img convert -f raw -O qcow2 base.raw disk.qcow2
    python3 "$REGTOOL" layer "layer-$key.tar.gz" dir:disk file:disk/disk.qcow2=disk.qcow2
    rm -f base.raw
    touch "layer-$key.done"
fi

docker_registry_start "$WORK/registry"
port=$REG_PORT
d=$(python3 "$REGTOOL" manifest "$WORK/layout" amd64 "layer-$key.tar.gz" | cut -d' ' -f1)
python3 "$REGTOOL" tag "$WORK/layout" v1 "$d"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$WORK/layout:v1" \
    "docker://127.0.0.1:$port/bench/disk:v1"
REF="127.0.0.1:$port/bench/disk:v1"


ft=() st=()
for r in $(seq "$ROUNDS"); do
    rm -f "$WORK/ferry.raw"
    sync
    t0=$(now)
    "$IMPORTER" --url "docker://$REF" --dest "$WORK/ferry.raw" --progress none
    t1=$(now)
    ft+=("$(echo "$t1 - $t0" | bc -l)")

    rm -rf "$WORK/pulled" "$WORK/scratch" "$WORK/steps.raw"
    sync
    t0=$(now)
    skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$REF" "dir:$WORK/pulled"
    mkdir "$WORK/scratch"
    layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' \
        "$WORK/pulled/manifest.json")
    tar -xzf "$WORK/pulled/$layer" -C "$WORK/scratch"
    qemu-img convert -t writeback -O raw "$WORK/scratch/disk/disk.qcow2" "$WORK/steps.raw"
    t1=$(now)
    st+=("$(echo "$t1 - $t0" | bc -l)")
done
cmp "$WORK/ferry.raw" "$WORK/steps.raw" || bench_fail "the two disks differ"
fm=$(printf '%s\n' "${ft[@]}" | median)
sm=$(printf '%s\n' "${st[@]}" | median)
printf '%-26s %9s %22s %7s\n' "registry containerDisk" "ferry s" "skopeo+tar+qemu-img s" ratio
printf '%-26s %9.2f %22.2f %7.2f\n' "qcow2 ${SIZE_GIB}G/${DATA_MIB}M gzip" "$fm" "$sm" \
    "$(echo "$fm / $sm" | bc -l)"
