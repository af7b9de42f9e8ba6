#!/bin/sh
# ferry-controller SIGKILLed at several points of an import and restarted
# converges: the DataVolume ends Succeeded with the exact bytes; no two
# importers ever run for one volume (sampled all along); an importer does not
# outlive its controller; a disk.img nobody vouches for is imported again; a
# done record for the DV's uid is honoured without importing again.
. "$(dirname "$0")/lib.sh"
need_importer
# 256 KiB/s a connection: the importer opens up to four, so a whole import
# takes 16 s or more, long enough to be caught midway on a loaded machine.
LIMIT_RATE=256k start_nginx
head -c 16777216 /dev/urandom > "$T/www/big.raw"; chmod 644 "$T/www/big.raw"
DEST="$FERRY_STATE_DIR/volumes/default/crash1/disk.img"

# sample_importers VOLUMES FILE: in the background, the most importers ever
# seen at once writing to the volumes VOLUMES (a regular expression of names)
# into FILE; of this state directory only: another checkout may run this
# test at the same time.
sample_importers() {
    ( max=0
      while :; do
          n=$(pgrep -fc "[f]erry-importer .*$FERRY_STATE_DIR/volumes/default/$1/disk.img" 2>/dev/null || true)
          [ "${n:-0}" -gt "$max" ] && { max=$n; echo "$max" > "$2"; }
          sleep 0.02
      done ) &
    PIDS="$PIDS $!"
}
sample_importers crash1 "$T/max-importers"

dv_yaml crash1 16Mi "    http:
      url: http://127.0.0.1:$PORT/slow/big.raw" > "$T/dv.yaml"
start_controller --import-backoff 200
"$FERRY" apply -f "$T/dv.yaml" >/dev/null || fail "apply"

importer_gone() { ! pgrep -f "[f]erry-importer .*$FERRY_STATE_DIR/volumes/default/crash1/disk.img" >/dev/null; }

# 1: as soon as the import is in progress.
# The phase and the conditions are taken from one read: a second read may
# already see the import finished on a loaded machine.
in_progress() {
    "$FERRY" get dv crash1 -o json >"$T/dv.json" 2>/dev/null &&
        python3 -c 'import json,sys
sys.exit(json.load(open(sys.argv[1]))["status"].get("phase") != "ImportInProgress")' "$T/dv.json"
}
wait_for 20 in_progress || fail "never ImportInProgress"
# CDI's conditions while the importer runs: Bound, Running True, Ready False TransferRunning.
python3 -c 'import json,sys
c={x["type"]: x for x in json.load(open(sys.argv[1]))["status"]["conditions"]}
assert c["Bound"]["status"]=="True" and c["Bound"]["reason"]=="Bound", c["Bound"]
assert c["Running"]["status"]=="True", c["Running"]
assert c["Ready"]["status"]=="False" and c["Ready"]["reason"]=="TransferRunning", c["Ready"]' "$T/dv.json" ||
    fail "conditions while importing: $(cat "$T/dv.json")"
kill_controller
wait_for 5 importer_gone || fail "the importer outlived its controller"
[ ! -e "$DEST" ] || fail "disk.img exists after a killed import"
start_controller --import-backoff 200

# 2 and 3: mid-transfer, twice, at different progress.
for _ in 1 2; do
    wait_for 30 sh -c "p=\$('$FERRY' get dv crash1 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"].get(\"progress\",\"\"))'); echo \"\$p\" > '$T/progress'; case \"\$p\" in N/A|''|100.0%) exit 1;; esac" ||
        fail "no progress reported"
    # CDI's format: "%.2f%%"
    grep -Eq '^[0-9]{1,2}\.[0-9]{2}%$' "$T/progress" || fail "progress format: $(cat "$T/progress")"
    sleep 0.5
    kill_controller
    wait_for 5 importer_gone || fail "the importer outlived its controller"
    start_controller --import-backoff 200
done
"$FERRY" wait dv/crash1 --for=jsonpath='{.status.phase}'=Succeeded --timeout=180s >/dev/null || fail "not Succeeded"
cmp "$T/www/big.raw" "$DEST" || fail "bytes differ"
# 1: the sampler saw the importer, and never two.
[ "$(cat "$T/max-importers" 2>/dev/null || echo 0)" = 1 ] || fail "importers at once: $(cat "$T/max-importers" 2>/dev/null || echo none seen)"
[ "$(field dv crash1 status.restartCount)" = 0 ] || fail "a controller crash counted as an import failure"

# 4: a controller that died after import.done but before its status write:
# the next one finishes the status without importing again.
"$CPH" dv-phase default crash1 ImportInProgress || fail "dv-phase"
starts=$(grep -c 'import default/crash1: started' "$T/controller.log")
kill_controller
start_controller --import-backoff 200
wait_for 20 field_is dv crash1 status.phase Succeeded || fail "done record not honoured"
[ "$(grep -c 'import default/crash1: started' "$T/controller.log")" = "$starts" ] || fail "imported again despite the done record"
cmp "$T/www/big.raw" "$DEST" || fail "bytes differ after replay"

# 5: a disk.img without a done record (an importer of a dead controller that
# may have written anything) is never taken for a finished import.
kill_controller
mkdir -p "$FERRY_STATE_DIR/volumes/default/stale"
head -c 1048576 /dev/zero > "$FERRY_STATE_DIR/volumes/default/stale/disk.img"
sed -e 's/crash1/stale/' -e 's|/slow/big.raw|/big.raw|' "$T/dv.yaml" > "$T/stale.yaml"
"$FERRY" apply -f "$T/stale.yaml" >/dev/null || fail "apply stale"
start_controller --import-backoff 200
"$FERRY" wait dv/stale --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s >/dev/null || fail "stale not Succeeded"
cmp "$T/www/big.raw" "$FERRY_STATE_DIR/volumes/default/stale/disk.img" || fail "stale bytes were kept"
# 6: the concurrency limit: with --max-imports 1 the second DataVolume waits
# in ImportScheduled, and at no time do two importers run.
kill_controller
sed -e 's/crash1/q1/' "$T/dv.yaml" > "$T/q.yaml"; echo '---' >> "$T/q.yaml"
sed -e 's/crash1/q2/' "$T/dv.yaml" >> "$T/q.yaml"
"$FERRY" get dv -w --no-headers > "$T/qwatch.txt" 2>&1 &
QW=$!; PIDS="$PIDS $QW"
sample_importers "q[12]" "$T/max-q"
start_controller --max-imports 1
"$FERRY" apply -f "$T/q.yaml" >/dev/null || fail "apply q"
wait_for 5 "$FERRY" get dv q1 || fail "no q1"
"$FERRY" wait dv/q1 dv/q2 --for=jsonpath='{.status.phase}'=Succeeded --timeout=90s >/dev/null || fail "queued imports"
kill "$QW"
grep -Eq '^q[12] +ImportScheduled ' "$T/qwatch.txt" || fail "no DV waited in ImportScheduled: $(cat "$T/qwatch.txt")"
[ "$(cat "$T/max-q" 2>/dev/null || echo 0)" = 1 ] || fail "importers at once with --max-imports 1: $(cat "$T/max-q" 2>/dev/null)"
cmp "$T/www/big.raw" "$FERRY_STATE_DIR/volumes/default/q2/disk.img" || fail "q2 bytes"
echo PASS
