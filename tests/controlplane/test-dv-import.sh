#!/bin/sh
# A DataVolume importing from a real nginx reaches Succeeded with the exact
# bytes (cmp), through ImportScheduled (until the importer speaks, as CDI's
# pod Pending) and ImportInProgress with CDI's conditions; a URL that
# 404s ends Failed after the retry budget with restartCount = budget.
. "$(dirname "$0")/lib.sh"
need_importer
start_nginx
head -c 3145728 /dev/urandom > "$T/www/disk.raw"; chmod 644 "$T/www/disk.raw"
start_controller --import-retries 3 --import-backoff 200

{
    dv_yaml good 3Mi "    http:
      url: http://127.0.0.1:$PORT/disk.raw"
    echo ---
    dv_yaml bad 1Mi "    http:
      url: http://127.0.0.1:$PORT/missing.raw"
} > "$T/dv.yaml"
"$FERRY" get dv -w --no-headers > "$T/watch.txt" 2>&1 &
PIDS="$PIDS $!"
out=$("$FERRY" apply -f "$T/dv.yaml") || fail "apply"
[ "$out" = "datavolume.cdi.kubevirt.io/good created
datavolume.cdi.kubevirt.io/bad created" ] || fail "apply output: $out"

"$FERRY" wait dv/good --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s || fail "good not Succeeded"
cmp "$T/www/disk.raw" "$FERRY_STATE_DIR/volumes/default/good/disk.img" || fail "bytes differ"
field_is dv good status.progress "100.0%" || fail "progress $(field dv good status.progress)"
# The phases it went through, in order, each once: ImportScheduled first.
wait_for 5 grep -Eq '^good +Succeeded ' "$T/watch.txt" || fail "watch: $(cat "$T/watch.txt")"
seq=$(awk '$1 == "good" && $2 ~ /^[A-Z]/ && $2 != last { printf "%s ", $2; last = $2 }' "$T/watch.txt")
case "$seq" in
"ImportScheduled ImportInProgress Succeeded " | "Pending ImportScheduled ImportInProgress Succeeded " | \
"ImportScheduled Succeeded " | "Pending ImportScheduled Succeeded ") ;;
*) fail "phases of good: $seq" ;;
esac
field_is dv good status.claimName good || fail "claimName"
"$FERRY" wait dv good --for=condition=Ready --timeout=5s >/dev/null || fail "Ready condition"
"$FERRY" wait dv good --for=condition=Bound --timeout=5s >/dev/null || fail "Bound condition"
"$FERRY" wait dv good --for=condition=Running=False --timeout=5s >/dev/null || fail "Running=False"
[ "$(field dv good status.restartCount)" = 0 ] || fail "restartCount of good"

"$FERRY" wait dv/bad --for=jsonpath='{.status.phase}'=Failed --timeout=60s || fail "bad not Failed"
[ "$(field dv bad status.restartCount)" = 3 ] || fail "restartCount of bad: $(field dv bad status.restartCount)"
msg=$("$FERRY" get dv bad -o json | python3 -c 'import json,sys
o=json.load(sys.stdin)
print([c for c in o["status"]["conditions"] if c["type"]=="Ready"][0]["message"])')
case "$msg" in "Import failed after 3 attempts: "*) ;; *) fail "Ready message: $msg" ;; esac
# The importer's message text, not its JSON log line; the repeated failures
# are one Warning Event with a count, as client-go's recorder aggregates.
case "$msg" in *'{"time"'*|*'\/'*) fail "Ready message carries a raw log line: $msg" ;; esac
"$FERRY" get events -o json | python3 -c 'import json,sys
items=json.load(sys.stdin)
items=items.get("items",items) if isinstance(items,dict) else items
errs=[e for e in items if e["involvedObject"]["name"]=="bad" and e["reason"]=="Error"]
assert len(errs)==1, [e["message"] for e in errs]
assert errs[0]["count"]==2, errs[0]["count"]
assert not errs[0]["message"].startswith("{"), errs[0]["message"]' || fail "import errors did not aggregate into one Event"

[ ! -e "$FERRY_STATE_DIR/volumes/default/bad/disk.img" ] || fail "a failed import left disk.img"

# The table and describe show what CDI's would.
"$FERRY" get dv > "$T/get.txt"
head -1 "$T/get.txt" | grep -Eq '^NAME +PHASE +PROGRESS +RESTARTS +AGE$' || fail "header: $(head -1 "$T/get.txt")"
grep -Eq '^good +Succeeded +100.0% +0 +[0-9]+s$' "$T/get.txt" || fail "good row: $(cat "$T/get.txt")"
grep -Eq '^bad +Failed +N/A +3 +[0-9]+s$' "$T/get.txt" || fail "bad row: $(cat "$T/get.txt")"
"$FERRY" describe dv bad > "$T/describe.txt"
grep -q 'Warning  *ImportFailed' "$T/describe.txt" || fail "no ImportFailed event: $(cat "$T/describe.txt")"

# The source's checksum reaches the importer: a wrong one fails the import.
sum=$(sha256sum "$T/www/disk.raw" | cut -d' ' -f1)
sed -e 's/name: good/name: summed/' -e "s|url: http://127.0.0.1:$PORT/disk.raw|url: http://127.0.0.1:$PORT/disk.raw\n      checksum: sha256:$sum|" "$T/dv.yaml" |
    awk '/^---/{exit} {print}' > "$T/summed.yaml"
sed -e 's/summed/badsum/' -e "s/sha256:$sum/sha256:$(echo "$sum" | tr 0-9a-f 1-9a-f0)/" "$T/summed.yaml" > "$T/badsum.yaml"
"$FERRY" apply -f "$T/summed.yaml" -f "$T/badsum.yaml" >/dev/null || fail "apply checksums"
"$FERRY" wait dv/summed --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s >/dev/null || fail "summed not Succeeded"
"$FERRY" wait dv/badsum --for=jsonpath='{.status.phase}'=Failed --timeout=60s >/dev/null || fail "badsum not Failed"
field dv badsum status.conditions | grep -qi 'checksum' || fail "badsum's conditions do not say checksum: $(field dv badsum status.conditions)"

# Deleting a DV removes its volume (finalizer ferry.io/volume-cleanup).
"$FERRY" delete dv good --timeout=30s >/dev/null || fail "delete"
[ ! -e "$FERRY_STATE_DIR/volumes/default/good" ] || fail "volume left behind"

# Blank: a sparse file of the size, Succeeded at once.
dv_yaml scratch 64Mi "    blank: {}" > "$T/blank.yaml"
"$FERRY" apply -f "$T/blank.yaml" >/dev/null || fail "apply blank"
"$FERRY" wait dv/scratch --for=jsonpath='{.status.phase}'=Succeeded --timeout=30s >/dev/null || fail "blank"
[ "$(stat -c %s "$FERRY_STATE_DIR/volumes/default/scratch/disk.img")" = 67108864 ] || fail "blank size"
# Sources Ferry cannot import fail at once, without an importer or retries.
dv_yaml reg 64Mi "    gcs:
      url: gs://bucket/disk.img" > "$T/reg.yaml"
"$FERRY" apply -f "$T/reg.yaml" >/dev/null || fail "apply gcs"
"$FERRY" wait dv/reg --for=jsonpath='{.status.phase}'=Failed --timeout=30s >/dev/null || fail "gcs not Failed"
field dv reg status.conditions | grep -q 'UnsupportedSource' || fail "gcs: $(field dv reg status.conditions)"
field dv reg status.conditions | grep -q 'ferry imports http, imageio, registry, s3, upload and blank sources' ||
    fail "gcs message: $(field dv reg status.conditions)"
[ "$(field dv reg status.restartCount)" = 0 ] || fail "gcs was retried"

# source.s3 (CDI's endpoint URL, path-style) from a real s3rver, when there
# is one (scripts/install-deps.sh puts it under /opt/ferry-npm): a public
# object, read without credentials.
if start_s3rver "$T/www/disk.raw" "my%20disk.raw"; then
    dv_yaml from-s3 3Mi "    s3:
      url: http://127.0.0.1:$S3PORT/bkt/my%20disk.raw" > "$T/s3.yaml"
    "$FERRY" apply -f "$T/s3.yaml" >/dev/null || fail "apply s3"
    "$FERRY" wait dv/from-s3 --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s >/dev/null ||
        fail "s3 not Succeeded: $(field dv from-s3 status.conditions)"
    cmp "$T/www/disk.raw" "$FERRY_STATE_DIR/volumes/default/from-s3/disk.img" || fail "s3: bytes differ"
else
    echo "note: s3rver is not installed: source.s3 not imported"
fi
echo PASS
