#!/bin/sh
# A DataVolume with source.registry imports a containerDisk from a real
# docker-registry on 127.0.0.1 (pushed by skopeo from an OCI layout built by
# tests/importer/regtool.py): Succeeded with qemu-img's bytes (cmp), and
# platform.architecture picks the entry of an index (arm64 here).  A tag
# that does not exist ends Failed, and so does an oci-archive: URL at once
# (a path on the node).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/docker-registry.sh"
need_importer
for t in docker-registry skopeo qemu-img python3 curl; do
    command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
done
REGTOOL="$(cd "$(dirname "$0")/../importer" && pwd)/regtool.py"

docker_registry_start "$T/reg" || fail "docker-registry did not start"
port=$REG_PORT

# two disks: amd64 gets a, arm64 gets b
for n in a b; do
    truncate -s 8M "$T/$n.raw"
    head -c 1048576 /dev/urandom | dd of="$T/$n.raw" bs=1M seek=2 conv=notrunc status=none
    qemu-img convert -f raw -O qcow2 "$T/$n.raw" "$T/$n.qcow2"
    qemu-img convert -O raw "$T/$n.qcow2" "$T/$n.ref"
    python3 "$REGTOOL" layer "$T/$n.tar.gz" dir:disk file:disk/disk.qcow2="$T/$n.qcow2"
done
da=$(python3 "$REGTOOL" manifest "$T/layout" amd64 "$T/a.tar.gz" | cut -d' ' -f1)
db=$(python3 "$REGTOOL" manifest "$T/layout" arm64 "$T/b.tar.gz" | cut -d' ' -f1)
di=$(python3 "$REGTOOL" index "$T/layout" "$da" "$db" | cut -d' ' -f1)
python3 "$REGTOOL" tag "$T/layout" v1 "$di"
skopeo --insecure-policy copy -q --all --dest-tls-verify=false "oci:$T/layout:v1" \
    "docker://127.0.0.1:$port/disks/multi:v1" > "$T/skopeo.log" 2>&1 || fail "skopeo: $(cat "$T/skopeo.log")"

start_controller --import-retries 1 --import-backoff 200
{
    dv_yaml cd-amd64 8Mi "    registry:
      url: docker://127.0.0.1:$port/disks/multi:v1"
    echo ---
    dv_yaml cd-arm64 8Mi "    registry:
      url: docker://127.0.0.1:$port/disks/multi:v1
      platform:
        architecture: arm64"
    echo ---
    dv_yaml cd-missing 8Mi "    registry:
      url: docker://127.0.0.1:$port/disks/multi:nosuch"
    echo ---
    dv_yaml cd-local 8Mi "    registry:
      url: oci-archive:///etc/shadow"
} > "$T/dv.yaml"
"$FERRY" apply -f "$T/dv.yaml" > /dev/null || fail "apply"
"$FERRY" wait dv/cd-amd64 --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s || fail "cd-amd64 not Succeeded"
"$FERRY" wait dv/cd-arm64 --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s || fail "cd-arm64 not Succeeded"
cmp "$T/a.ref" "$FERRY_STATE_DIR/volumes/default/cd-amd64/disk.img" || fail "cd-amd64: bytes differ"
cmp "$T/b.ref" "$FERRY_STATE_DIR/volumes/default/cd-arm64/disk.img" || fail "cd-arm64: bytes differ"
"$FERRY" wait dv/cd-missing --for=jsonpath='{.status.phase}'=Failed --timeout=60s || fail "cd-missing not Failed"
"$FERRY" wait dv/cd-local --for=jsonpath='{.status.phase}'=Failed --timeout=30s || fail "cd-local not Failed"
field dv cd-local status.conditions | grep -q 'docker:// registry sources only' ||
    fail "cd-local: $(field dv cd-local status.conditions)"
echo "ok"
