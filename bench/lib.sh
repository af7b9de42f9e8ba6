# shellcheck shell=sh
# What the benchmarks share; each bench/*.sh sources it first (POSIX sh).
#
# bench_fail MSG...   "bench: MSG" on stderr and exit 1: the run cannot measure.
# bench_bindir DIR    DIR as an absolute path, or bench_fail when it is none.
# bench_need TOOL...  bench_fail naming the first TOOL not installed.
# bench_built PROG... bench_fail naming the first PROG not built in $BIN.
# now                 the time, seconds with nanoseconds.
# since T             the seconds since T (a `now`), two decimals.
# median              the median of the numbers on stdin, one a line (of an
#                     even count the lower middle one).

bench_fail() { echo "bench: $*" >&2; exit 1; }

bench_bindir() { (cd "$1" 2>/dev/null && pwd) || bench_fail "no bin directory $1"; }

bench_need() {
    for _bench_t in "$@"; do
        command -v "$_bench_t" >/dev/null || bench_fail "$_bench_t is not installed (scripts/install-deps.sh)"
    done
}

bench_built() {
    for _bench_p in "$@"; do
        [ -x "$BIN/$_bench_p" ] || bench_fail "$BIN/$_bench_p is not built"
    done
}

now() { date +%s.%N; }
since() { echo "$(now) $1" | awk '{printf "%.2f", $1 - $2}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
