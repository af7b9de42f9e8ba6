#!/bin/sh
# The fuzzing campaign (issue 13): libFuzzer targets of a FERRY_FUZZ build
# (ASan+UBSan, `make fuzz`) for SECONDS each, one at a time on one core.
#
#     campaign.sh FUZZDIR SECONDS LOG [TARGET ...]    run, record
#     campaign.sh --summary [RUNS]                    cumulative totals
#
# (`make fuzz-campaign FUZZ_SECONDS=3600`).  Each run appends one line
#
#     date target seconds executions exec/s corpus-units crashes
#
# to LOG and to tests/fuzz/campaign-runs.txt (in the tree, committed: the
# campaign's record across sessions).  A target's cumulative executions are
# the sum of its recorded runs; --summary prints them against the issue's
# goal of 10 million per target.
#
# The working corpus of TARGET is tests/fuzz/campaign/TARGET, in the tree:
# a run continues from it, and afterwards it is minimized (-merge=1, same
# coverage, fewer and smaller units) so that it stays small enough to
# commit.  The replay tests (ctest -R fuzz) feed it through the target too.
# The seeds (first run) are the target's own corpus; for the format readers
# only the seeds that fit in -max_len (make-corpus.sh writes FZSPARSE copies
# of the large ones).  Crashers go to FUZZDIR/campaign/TARGET-crashes; once
# the bug is fixed, the crasher is kept in tests/fuzz/campaign/TARGET.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
runs=$src/tests/fuzz/campaign-runs.txt
goal=10000000

if [ "${1:-}" = --summary ]; then
    awk -v goal=$goal '!/^#/ && NF >= 7 { n[$2] += $4; s[$2] += $3; c[$2] += $7; r[$2]++ }
        END { for (t in n) printf "%-15s runs %3d  seconds %7d  executions %10d  %6.2f %% of 10M  crashes %d\n",
                                   t, r[t], s[t], n[t], 100 * n[t] / goal, c[t] }' \
        "${2:-$runs}" | sort
    exit 0
fi
fuzzdir=${1:?usage: campaign.sh FUZZDIR SECONDS LOG [TARGET ...]}
secs=${2:?usage: campaign.sh FUZZDIR SECONDS LOG [TARGET ...]}
log=${3:?usage: campaign.sh FUZZDIR SECONDS LOG [TARGET ...]}
shift 3
bin=$fuzzdir/tests/fuzz
[ -d "$bin" ] || { echo "campaign: no $bin (run make fuzz first)" >&2; exit 1; }
fuzzdir=$(cd "$fuzzdir" && pwd)
bin=$fuzzdir/tests/fuzz
# The formats' seeds are made at test time (qemu-img): make them once.
if [ ! -e "$fuzzdir/tests/formats-corpus/.done" ]; then
    (cd "$fuzzdir" && ctest -R '^importer-formats-corpus$' >/dev/null) ||
        echo "campaign: the formats corpus could not be made (qemu-img?)" >&2
fi
seeds_of() {
    case $1 in
    fuzz-yaml) echo "$src/tests/fuzz/corpus-yaml" ;;
    fuzz-quantity) echo "$src/tests/fuzz/corpus-quantity" ;;
    fuzz-admission) echo "$src/tests/fuzz/corpus-admission" ;;
    fuzz-stream) echo "$src/tests/fuzz/corpus-stream" ;;
    fuzz-remote) echo "$src/tests/fuzz/corpus-remote" ;;
    fuzz-converter) echo "$src/tests/golden/convert" ;;
    fuzz-domain) echo "$src/tests/golden/domain" ;;
    *) echo "$fuzzdir/tests/formats-corpus/${1#fuzz-}" ;;
    esac
}
# Inputs longer than a reader needs only slow every mutation down: raw and
# ISO (volume descriptors at 32 KiB) get 64 KiB, the other readers 160 KiB
# (their FZSPARSE seeds reach 150 KiB), fuzz-remote refuses more than 64 KiB.
maxlen_of() {
    case $1 in
    fuzz-raw | fuzz-iso | fuzz-remote) echo 65536 ;;
    fuzz-qcow2 | fuzz-vmdk | fuzz-vdi | fuzz-vhd | fuzz-vhdx) echo 163840 ;;
    *) echo 0 ;;   # libFuzzer's choice (the longest seed)
    esac
}
dict_of() {
    case $1 in
    fuzz-yaml) echo "-dict=$src/tests/fuzz/yaml.dict" ;;
    esac
}
# Under ASan a free or malloc of more than 64 KiB re-maps its shadow by
# default (an mmap and a TLB shootdown each); the importer's 1 MiB stream
# buffers made that most of a run's time.  Clearing the shadow with memset
# instead finds the same bugs.
ASAN_OPTIONS=${ASAN_OPTIONS:-clear_shadow_mmap_threshold=1073741824}
export ASAN_OPTIONS
# The machine is shared: the fuzzer yields to everything else (FUZZ_NICE).
nice=${FUZZ_NICE:-19}

[ $# -gt 0 ] || set -- $(cd "$bin" && ls fuzz-* | grep -v -- '-new$' | sort)
mkdir -p "$fuzzdir/campaign"
status=0
for t in "$@"; do
    [ -x "$bin/$t" ] || { echo "campaign: no target $t" >&2; status=1; continue; }
    work=$src/tests/fuzz/campaign/$t
    crashes=$fuzzdir/campaign/$t-crashes
    out=$fuzzdir/campaign/$t.log
    maxlen=$(maxlen_of "$t")
    seeds=$fuzzdir/campaign/$t-seeds
    mkdir -p "$work" "$crashes"
    rm -rf "$seeds"
    mkdir -p "$seeds"
    for f in "$(seeds_of "$t")"/*; do
        [ -f "$f" ] || continue
        [ "$maxlen" -eq 0 ] || [ "$(wc -c <"$f")" -le "$maxlen" ] || continue
        ln -s "$f" "$seeds/"
    done
    echo "campaign: $t for $secs s (-max_len=$maxlen, $(ls "$seeds" | wc -l) seeds, corpus $work)"
    start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    touch "$fuzzdir/campaign/$t.start"
    # -fork is not used: one process, one core.  A crash stops the run.
    nice -n "$nice" "$bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$maxlen" -print_final_stats=1 -artifact_prefix="$crashes/" $(dict_of "$t") \
        "$work" "$seeds" >"$out" 2>&1 || status=1
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -1)
    ncrash=$(find "$crashes" -type f -newer "$fuzzdir/campaign/$t.start" | wc -l)
    # Minimize the working corpus: the units that keep its coverage.
    rm -rf "$work.min"
    mkdir -p "$work.min"
    if nice -n "$nice" "$bin/$t" -merge=1 -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" \
        "$work.min" "$work" >"$out.merge" 2>&1; then
        rm -rf "$work"
        mv "$work.min" "$work"
    else
        echo "campaign: $t: -merge=1 failed (see $out.merge); corpus left as it was" >&2
        rm -rf "$work.min"
    fi
    corp=$(ls "$work" | wc -l)
    line="$start $t $secs ${execs:-?} ${rate:-?} $corp $ncrash"
    echo "$line" | tee -a "$log" >>"$runs"
    echo "$line"
done
exit $status
