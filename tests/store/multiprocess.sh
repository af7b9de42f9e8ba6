#!/bin/sh
# The store shared by separate programs, with the sqlite3 shell as the
# independent oracle of what is on disk: no lost update among concurrent
# writers, a writer killed with SIGKILL mid-loop leaves an intact database
# whose counter and objects agree, watches resume across processes, and the
# state directory and database are private (0700, 0600).
set -eu

tool="$FERRY_BUILD/tests/store-stress"
[ -x "$tool" ] || { echo "missing $tool"; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 shell not installed: skipped"; exit 77; }

work=$(mktemp -d /tmp/ferry-store-mp.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
dir="$work/state"
db="$dir/ferry.db"
fail() { echo "FAIL: $*"; exit 1; }
q() { sqlite3 -cmd '.timeout 10000' "$db" "$1"; }

# 1. concurrent read-modify-write increments from 4 programs
for i in 1 2 3 4; do
    "$tool" "$dir" incr counter 100 &
    pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "an incrementing process failed"; done
pids=""
count=$("$tool" "$dir" get counter metadata.annotations.count)
[ "$count" = 400 ] || fail "counter is $count after 4 x 100 increments"
echo "ok: 4 processes x 100 increments = $count"

[ "$(stat -c %a "$dir")" = 700 ] || fail "state directory mode $(stat -c %a "$dir")"
[ "$(stat -c %a "$db")" = 600 ] || fail "database mode $(stat -c %a "$db")"
echo "ok: modes 700/600"

# 2. a watcher in another process sees the next changes, resuming after rv
rv=$("$tool" "$dir" rv)
"$tool" "$dir" watch "$rv" 3 > "$work/watch.out" &
watcher=$!
pids="$watcher"
"$tool" "$dir" incr counter 3
wait "$watcher" || fail "watcher failed"
pids=""
[ "$(wc -l < "$work/watch.out")" = 3 ] || fail "watcher saw $(cat "$work/watch.out")"
grep -qv '^MODIFIED counter ' "$work/watch.out" && fail "unexpected events: $(cat "$work/watch.out")"
echo "ok: watch from $rv in another process: $(tr '\n' ';' < "$work/watch.out")"

# 3. SIGKILL a writer in the middle of its loop, twice
for round in 1 2; do
    "$tool" "$dir" create "r$round-" &
    writer=$!
    pids="$writer"
    n=0
    tries=0
    while [ "$n" -lt 300 ]; do
        sleep 0.05
        n=$(q "SELECT count(*) FROM objects WHERE name LIKE 'r$round-%'")
        tries=$((tries + 1))
        [ $tries -lt 2400 ] || fail "writer made no progress"
    done
    kill -9 "$writer"
    wait "$writer" 2>/dev/null || true
    pids=""
    [ "$(q 'PRAGMA integrity_check')" = ok ] || fail "integrity_check after kill -9"
    objs=$(q "SELECT count(*) FROM objects WHERE name LIKE 'r$round-%'")
    maxi=$(q "SELECT max(CAST(substr(name, length('r$round-') + 1) AS INTEGER)) FROM objects WHERE name LIKE 'r$round-%'")
    [ "$maxi" = $((objs - 1)) ] || fail "objects r$round-0..r$round-$maxi but $objs of them"
    agree=$(q "SELECT (SELECT value FROM meta WHERE key = 'rv') = max((SELECT max(rv) FROM objects), (SELECT max(rv) FROM events))")
    [ "$agree" = 1 ] || fail "the resourceVersion counter disagrees with the rows"
    stale=$(q "SELECT count(*) FROM objects WHERE CAST(json_extract(json, '\$.metadata.resourceVersion') AS INTEGER) != rv")
    [ "$stale" = 0 ] || fail "$stale objects whose JSON and row disagree"
    echo "ok: killed a writer after $objs objects: intact, counter and rows agree"
done

# and the next program carries on
"$tool" "$dir" incr counter 1
[ "$("$tool" "$dir" get counter metadata.annotations.count)" = 404 ] || fail "counter after the kills"
echo "ok: writes continue after the kills"
