#!/bin/sh
# KubeVirt's containerDisk on a real libvirtd: the tiny guest's disk, as
# qcow2 in /disk of an image built by hand (tests/importer/regtool.py) and
# pushed by skopeo to Debian's docker-registry on 127.0.0.1, boots (its
# console marker seen); the node's cache holds qemu-img's bytes of it (cmp)
# and the VMI runs on a qcow2 overlay.  With the registry stopped, a second
# VMI (imagePullPolicy IfNotPresent) boots from the cache: one import per
# node.  A tag that does not exist fails the VMI naming the importer's error.
. "$FERRY_SRC/tests/node/lib.sh"
. "$FERRY_SRC/tests/lib/docker-registry.sh"
TESTPREFIX=cd
for t in docker-registry skopeo python3 curl qemu-img jq; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not installed"; exit 77; }
done
node_setup
trap 'rc=$?; [ $rc != 0 ] && [ $rc != 77 ] && dump_logs; node_cleanup; exit $rc' EXIT
REGTOOL=$FERRY_SRC/tests/importer/regtool.py

docker_registry_start "$WORK/reg" || exit 1
port=$REG_PORT
qemu-img convert -f raw -O qcow2 "$WORK/guest/disk.raw" "$WORK/guest.qcow2"
qemu-img convert -O raw "$WORK/guest.qcow2" "$WORK/guest.ref"
python3 "$REGTOOL" layer "$WORK/guest.tar.gz" dir:disk file:disk/guest.qcow2="$WORK/guest.qcow2"
d=$(python3 "$REGTOOL" manifest "$WORK/layout" amd64 "$WORK/guest.tar.gz" | cut -d' ' -f1)
python3 "$REGTOOL" tag "$WORK/layout" v1 "$d"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$WORK/layout:v1" \
    "docker://127.0.0.1:$port/disks/guest:v1"
node_log "containerDisk pushed"

export FERRY_STATE_DIR=$STATE
node_start_handler

cd_vmi() {   # NAME IMAGE POLICY
    GRACE=5 ROOT_VOLUME="    containerDisk:
      image: $2
      imagePullPolicy: $3" node_vmi_yaml "$1"
}

cd_vmi cd-a "127.0.0.1:$port/disks/guest:v1" Always > "$WORK/cd-a.yaml"
tool create "$WORK/cd-a.yaml" "$NODE"
tool wait-phase "$NS" cd-a Running 120
wait_console_log "$NS" cd-a "FERRY-GUEST-MARKER ready" 180
node_log "cd-a booted from its containerDisk"
cache=$(ls "$STATE"/containerdisks/*.img)
cmp "$cache" "$WORK/guest.ref"
[ -f "$STATE/vmis/$NS/cd-a/containerdisk-root.qcow2" ]
qemu-img info -U --output=json "$STATE/vmis/$NS/cd-a/containerdisk-root.qcow2" > "$WORK/overlay.json"
jq -e --arg c "$cache" '.format == "qcow2" and ."backing-filename" == $c' "$WORK/overlay.json" >/dev/null

# the registry gone: the cache serves the next VMI
kill "$REG_PID"; wait "$REG_PID" 2>/dev/null || true
cd_vmi cd-b "127.0.0.1:$port/disks/guest:v1" IfNotPresent > "$WORK/cd-b.yaml"
tool create "$WORK/cd-b.yaml" "$NODE"
tool wait-phase "$NS" cd-b Running 120
wait_console_log "$NS" cd-b "FERRY-GUEST-MARKER ready" 180
node_log "cd-b booted from the node's cache"

# an image that cannot be pulled fails the VMI with the importer's error
cd_vmi cd-c "127.0.0.1:$port/disks/guest:nosuch" Always > "$WORK/cd-c.yaml"
tool create "$WORK/cd-c.yaml" "$NODE"
tool wait-phase "$NS" cd-c Failed 60
tool get "$NS" cd-c | jq -e '.status.conditions[] | select(.type == "Synchronized" and .status == "False")
                             | .message | test("ferry-importer exited with status 1: .*registry")' >/dev/null ||
    { tool get "$NS" cd-c; exit 1; }
node_log "cd-c failed with the importer's error"
for v in cd-a cd-b cd-c; do tool delete "$NS" $v; done
for v in cd-a cd-b cd-c; do tool wait-gone "$NS" $v 60; done
echo "ok"
