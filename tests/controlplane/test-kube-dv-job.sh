#!/bin/sh
# Kubernetes mode's DataVolume path on the SQLite store (FERRY_KUBE_OBJECTS=1),
# with the real ferry-importer run as the importer Job's pod: an http
# DataVolume (a qcow2 served by nginx on 127.0.0.1) and a blank one each get
# a PVC and a Job; the test plays the Job controller and the kubelet
# (kube-play makes the pod from the Job's template and writes its status;
# the pod's container runs with exactly the Job's environment, its /data,
# termination log and metrics port moved by the importer's test variables);
# both DataVolumes end Succeeded with progress 100.0%, the bytes are the
# source's (qemu-img compare) and the blank image is the size asked for.
# A failing attempt shows as restartCount and its termination message; a
# slow import (nginx limit_rate) shows CDI's progress scraped from the
# importer's metric while it runs.
# Skips when ferry-importer does not implement CDI's importer contract.
. "$(dirname "$0")/lib.sh"

need_importer
grep -q IMPORTER_SOURCE "$FERRY_BIN/ferry-importer" ||
    skip "ferry-importer does not read CDI's importer environment (IMPORTER_SOURCE)"
command -v qemu-img >/dev/null || skip "qemu-img is not installed"
KP="$FERRY_BUILD/tests/kube-play"
[ -x "$KP" ] || skip "kube-play is not built"
export FERRY_KUBE_OBJECTS=1

# 256 KiB/s a connection (the importer opens several): slow enough to be
# scraped midway on a loaded machine.
LIMIT_RATE=256k start_nginx
# the source: 8 MiB with a pattern, as qcow2
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i*7)%251 for i in range(8*1024*1024)))' \
    > "$T/src.raw"
qemu-img convert -f raw -O qcow2 "$T/src.raw" "$T/www/disk.qcow2" || fail "qemu-img convert"
cp "$T/src.raw" "$T/www/disk.raw"   # streamed: its progress moves with the bytes
chmod 644 "$T/www/disk.qcow2" "$T/www/disk.raw"
start_controller

dv() {  # dv NAME SOURCE-YAML SIZE
    cat <<YAML
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: $1
spec:
  source:
$2
  storage:
    resources:
      requests:
        storage: $3
YAML
}
dv web "    http:
      url: http://127.0.0.1:$PORT/disk.qcow2" 8Mi | "$FERRY" apply -f - >/dev/null || fail "apply web"
dv empty "    blank: {}" 4Mi | "$FERRY" apply -f - >/dev/null || fail "apply empty"
dv slow "    http:
      url: http://127.0.0.1:$PORT/slow/disk.raw" 8Mi | "$FERRY" apply -f - >/dev/null ||
    fail "apply slow"
dv broken "    http:
      url: http://127.0.0.1:$PORT/nothing.qcow2" 8Mi | "$FERRY" apply -f - >/dev/null ||
    fail "apply broken"

job_exists() { "$FERRY" get job "importer-$1" >/dev/null 2>&1; }

for d in web empty broken slow; do
    wait_for 30 job_exists "$d" || fail "no Job for $d"
    wait_for 30 field_is dv "$d" status.phase ImportScheduled || fail "$d is not ImportScheduled"
    "$FERRY" get pvc "$d" >/dev/null 2>&1 || fail "no PVC for $d"
done

# web: one attempt, success
code=$(kube_run_importer web importer-web-a1b2c)
[ "$code" = 0 ] || { cat "$T/importer-importer-web-a1b2c.log" >&2; fail "the web import exited $code"; }
"$KP" job-status default importer-web 1 0 Complete || fail "job-status"
wait_for 30 field_is dv web status.phase Succeeded || fail "web did not succeed"
[ "$(field dv web status.progress)" = "100.0%" ] || fail "web progress is not 100.0%"
grep -qx "IMPORTER_SOURCE=http" "$T/env-importer-web-a1b2c" || fail "IMPORTER_SOURCE"
grep -qx "IMPORTER_ENDPOINT=http://127.0.0.1:$PORT/disk.qcow2" "$T/env-importer-web-a1b2c" ||
    fail "IMPORTER_ENDPOINT"
qemu-img compare -f raw -F raw "$T/src.raw" "$T/pvc-web/disk.img" >/dev/null ||
    fail "the imported bytes differ from the source"

# blank: a sparse image of the size asked for
code=$(kube_run_importer empty importer-empty-d3e4f)
[ "$code" = 0 ] || { cat "$T/importer-importer-empty-d3e4f.log" >&2; fail "the blank import exited $code"; }
"$KP" job-status default importer-empty 1 0 Complete || fail "job-status"
wait_for 30 field_is dv empty status.phase Succeeded || fail "empty did not succeed"
[ "$(stat -c %s "$T/pvc-empty/disk.img")" = $((4 * 1024 * 1024)) ] ||
    fail "the blank image is $(stat -c %s "$T/pvc-empty/disk.img") bytes, not 4Mi"

# broken: a failed attempt is a restart with the importer's message
code=$(kube_run_importer broken importer-broken-g5h6i)
[ "$code" != 0 ] || fail "the import of a missing file succeeded"
"$KP" job-status default importer-broken 0 1 || fail "job-status"
wait_for 30 field_is dv broken status.restartCount 1 || fail "restartCount is not 1"
"$FERRY" get dv broken -o json | grep -q "$(head -c 40 "$T/term-importer-broken-g5h6i" |
    sed 's/[][\.*^$"]/./g')" || fail "the termination message is not in the DV's status"

# slow: progress while it runs, from the importer's metric on the pod's port
MPORT=$(free_port)
"$KP" job-pod default importer-slow importer-slow-j7k8l "$MPORT" || fail "job-pod slow"
"$KP" bind default importer-slow-j7k8l node1 || fail "bind slow"
mkdir -p "$T/pvc-slow"
"$FERRY" get job importer-slow -o json | python3 -c 'import json,sys
c=json.load(sys.stdin)["spec"]["template"]["spec"]["containers"][0]
for e in c.get("env",[]):
    if "value" in e: print("%s=%s" % (e["name"], e["value"]))' > "$T/env-slow"
set -- env -i PATH="$PATH" FERRY_CDI_DATA_DIR="$T/pvc-slow" FERRY_CDI_TERMINATION_LOG="$T/term-slow" \
    FERRY_CDI_METRICS_PORT="$MPORT" FERRY_CDI_METRICS_ADDRESS=127.0.0.1
while IFS= read -r kv; do set -- "$@" "$kv"; done < "$T/env-slow"
"$@" "$FERRY_BIN/ferry-importer" >>"$T/importer-slow.log" 2>&1 &
SLOW_PID=$!
PIDS="$PIDS $SLOW_PID"
# a figure below 100 (not "N/A"): scraped mid-import (the importer may
# still say 0 for a small stream: its figure moves as it flushes)
progress_figure() { field dv slow status.progress | grep -Eq '^([1-9][0-9]?|0)\.[0-9]{2}%$'; }
wait_for 60 progress_figure || { cat "$T/importer-slow.log" >&2; fail "no progress figure while importing"; }
echo "progress while running: $(field dv slow status.progress)"
[ "$(field dv slow status.phase)" = ImportInProgress ] || fail "slow is not ImportInProgress"
wait "$SLOW_PID"
code=$?
"$KP" terminate default importer-slow-j7k8l "$code" "$T/term-slow" || fail "terminate slow"
"$KP" job-status default importer-slow 1 0 Complete || fail "job-status slow"
wait_for 30 field_is dv slow status.phase Succeeded || fail "slow did not succeed"

# deletion takes the PVC, the Job and its pods along
"$FERRY" delete dv web >/dev/null || fail "delete web"
wait_for 30 sh -c "! \"$FERRY\" get pod importer-web-a1b2c >/dev/null 2>&1" || fail "the pod outlived its DV"
"$FERRY" get pvc web >/dev/null 2>&1 && fail "the PVC outlived its DV"
echo PASS
