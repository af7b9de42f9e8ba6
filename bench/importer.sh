#!/bin/bash
# Benchmark: ferry-importer against `qemu-img convert -t writeback -O raw`
# (both flush to disk at the end) on the same inputs.  A 4 GiB raw disk with
# ~1 GiB of random data in 64 scattered extents is built once (kept in
# $FERRY_BENCH_DIR, default /var/tmp/ferry-bench-importer, and reused), and
# converted by qemu-img to every format Ferry reads.  Each format: ROUNDS
# rounds (default 3) of each tool, the median time, and Ferry's peak RSS.
# A format ferry-importer cannot read is reported with its error and fails
# the run (exit 1) after the table.
#   usage: bench/importer.sh [BINDIR]     (default build/bin beside this script)
# FERRY_BENCH_COMPRESSED=1 adds qcow2 -c (slow to build).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/lib.sh"
# Absolute: the script works in $DIR.
BIN=$(bench_bindir "${1:-$SRC/build/bin}")
IMPORTER="$BIN/ferry-importer"
ROUNDS="${ROUNDS:-3}"
DIR="${FERRY_BENCH_DIR:-/var/tmp/ferry-bench-importer}"
bench_built ferry-importer
bench_need qemu-img
[ -x /usr/bin/time ] || bench_fail "/usr/bin/time is not installed (package time)"
mkdir -p "$DIR"
cd "$DIR"
OUT="$DIR/out.raw"
trap 'rm -f "$OUT" "$OUT".tmp-*' EXIT

if [ ! -f base.raw.done ]; then
    echo "building a 4 GiB raw disk with 1 GiB of random data (once) ..." >&2
    rm -f base.raw
    truncate -s 4G base.raw
    # 64 extents of 16 MiB at spread offsets (deterministic, not aligned to 1 MiB)
    for i in $(seq 0 63); do
        off=$(( (i * 61 + 7) % 256 ))    # in 16 MiB slots
        dd if=/dev/urandom of=base.raw bs=1M count=16 seek=$((off * 16)) conv=notrunc status=none
    done
    touch base.raw.done
fi

# format name | qemu-img -f | file | how to build
FORMATS=(
    "raw|raw|base.raw|"
    "qcow2|qcow2|img.qcow2|qemu-img convert -f raw -O qcow2 base.raw img.qcow2"
    "vmdk-sparse|vmdk|img-sparse.vmdk|qemu-img convert -f raw -O vmdk -o subformat=monolithicSparse base.raw img-sparse.vmdk"
    "vmdk-stream|vmdk|img-stream.vmdk|qemu-img convert -f raw -O vmdk -o subformat=streamOptimized base.raw img-stream.vmdk"
    "vdi|vdi|img.vdi|qemu-img convert -f raw -O vdi base.raw img.vdi"
    "vhd|vpc|img.vhd|qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on base.raw img.vhd"
    "vhdx|vhdx|img.vhdx|qemu-img convert -f raw -O vhdx base.raw img.vhdx"
)
if [ "${FERRY_BENCH_COMPRESSED:-0}" = 1 ]; then
    FORMATS+=("qcow2-c|qcow2|img-c.qcow2|qemu-img convert -f raw -O qcow2 -c base.raw img-c.qcow2")
fi

failed=
printf '%-12s %9s %12s %7s %16s\n' format "ferry s" "qemu-img s" ratio "ferry RSS MiB"
for entry in "${FORMATS[@]}"; do
    IFS='|' read -r name qfmt file build <<<"$entry"
    if [ -n "$build" ] && { [ ! -f "$file.done" ] || [ "$file.done" -ot base.raw.done ]; }; then
        echo "building $file ..." >&2
        rm -f "$file"
        eval "$build"
        touch "$file.done"
    fi
    # Ferry must read it (the other formats may not be there yet).
    rm -f "$OUT"
    if ! "$IMPORTER" --url "$file" --dest "$OUT" --progress none 2>"$DIR/importer.err"; then
        printf '%-12s %s\n' "$name" "FAILED: ferry-importer cannot read $DIR/$file: $(tail -1 "$DIR/importer.err")"
        failed="$failed $name"
        continue
    fi
    ft=(); qt=(); rss=0
    for r in $(seq "$ROUNDS"); do
        rm -f "$OUT"; sync
        t=$( { /usr/bin/time -f '%e %M' "$IMPORTER" --url "$file" --dest "$OUT" --progress none >/dev/null; } 2>&1 | tail -1)
        ft+=("${t% *}")
        [ "${t#* }" -gt "$rss" ] && rss="${t#* }"
        rm -f "$OUT"; sync
        s=$(now)
        qemu-img convert -t writeback -f "$qfmt" -O raw "$file" "$OUT"
        e=$(now)
        qt+=("$(echo "$e - $s" | bc)")
    done
    fm=$(printf '%s\n' "${ft[@]}" | median)
    qm=$(printf '%s\n' "${qt[@]}" | median)
    printf '%-12s %9.2f %12.2f %7.2f %16.1f\n' "$name" "$fm" "$qm" "$(echo "$fm / $qm" | bc -l)" \
        "$(echo "$rss / 1024" | bc -l)"
done
if [ -n "$failed" ]; then
    echo "bench/importer.sh: could not measure:$failed" >&2
    exit 1
fi
