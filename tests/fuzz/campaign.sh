#!/bin/sh
# The fuzzing campaign (issue 13): every libFuzzer target of a FERRY_FUZZ
# build (ASan+UBSan, `make fuzz`) for SECONDS each, seeded with its corpus,
# one target at a time on one core.  Appends one line per target to LOG:
#
#     date target seconds executions exec/s corpus-units crashes
#
#     campaign.sh FUZZDIR SECONDS LOG [TARGET ...]
#
# (`make fuzz-campaign FUZZ_SECONDS=3600`).  New inputs go to
# FUZZDIR/campaign/TARGET (kept between runs, so a later run continues the
# corpus), crashers to FUZZDIR/campaign/TARGET-crashes.  A crasher belongs in
# the target's corpus under tests/fuzz (or tests/importer-formats for the
# formats' seeds) once fixed: the replay tests of `make check` run it.
# The issue's goal is 10 million executions per target.
set -eu
fuzzdir=${1:?usage: campaign.sh FUZZDIR SECONDS LOG [TARGET ...]}
secs=${2:?usage: campaign.sh FUZZDIR SECONDS LOG [TARGET ...]}
log=${3:?usage: campaign.sh FUZZDIR SECONDS LOG [TARGET ...]}
shift 3
src=$(cd "$(dirname "$0")/../.." && pwd)
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
    fuzz-converter) echo "$src/tests/golden/convert" ;;
    fuzz-domain) echo "$src/tests/golden/domain" ;;
    *) echo "$fuzzdir/tests/formats-corpus/${1#fuzz-}" ;;
    esac
}
dict_of() {
    case $1 in
    fuzz-yaml) echo "-dict=$src/tests/fuzz/yaml.dict" ;;
    esac
}
[ $# -gt 0 ] || set -- $(cd "$bin" && ls fuzz-* | grep -v -- '-new$' | sort)
mkdir -p "$fuzzdir/campaign"
status=0
for t in "$@"; do
    [ -x "$bin/$t" ] || { echo "campaign: no target $t" >&2; status=1; continue; }
    work=$fuzzdir/campaign/$t
    crashes=$fuzzdir/campaign/$t-crashes
    mkdir -p "$work" "$crashes"
    seeds=$(seeds_of "$t")
    out=$fuzzdir/campaign/$t.log
    echo "campaign: $t for $secs s (seeds $seeds)"
    # -fork is not used: one process, one core.  Crashes stop the run.
    nice -n 10 "$bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" $(dict_of "$t") \
        "$work" "$seeds" >"$out" 2>&1 || status=1
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -1)
    corp=$(grep -o 'corp: [0-9]*' "$out" | tail -1 | cut -d' ' -f2)
    ncrash=$(find "$crashes" -type f | wc -l)
    line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $t $secs ${execs:-?} ${rate:-?} ${corp:-?} $ncrash"
    echo "$line" | tee -a "$log"
done
exit $status
