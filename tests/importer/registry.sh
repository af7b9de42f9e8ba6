#!/bin/bash
# The registry source against real peers on 127.0.0.1: Debian's
# docker-registry (anonymous, and a second one with htpasswd Basic auth),
# images built by hand as OCI layouts (tests/importer/regtool.py) and pushed
# by skopeo; every imported disk is compared with qemu-img's conversion.
# Hostile content (escaping members, links, two disks) goes through the real
# registry too, which does not look inside layers.  What docker-registry
# cannot serve (a Bearer token service without a JWT issuer, blobs that do
# not match their digest, a manifest naming a 100 GiB layer) comes from
# regtool.py's small loopback registry, started here by pid.
. "$(dirname "$0")/lib.sh"
need docker-registry skopeo htpasswd curl zstd
REGTOOL="$HERE/regtool.py"
IMG="$WORK/img"
mkdir -p "$IMG"
cd "$WORK"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry NAME [HTPASSWD]: a docker-registry on a free port; sets PORT_<NAME>
start_registry() {
    local name="$1" htp="${2:-}" port dir="$WORK/reg-$1"
    mkdir -p "$dir/store"
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        {
            echo "version: 0.1"
            echo "log: {level: error}"
            echo "storage: {filesystem: {rootdirectory: $dir/store}, delete: {enabled: true}}"
            echo "http: {addr: 127.0.0.1:$port, secret: ferry-test}"
            [ -n "$htp" ] && echo "auth: {htpasswd: {realm: ferry-test, path: $htp}}"
        } >"$dir/config.yml"
        docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
        local pid=$!
        PIDS="$PIDS $pid"
        for i in $(seq 100); do
            code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
            if [ "$code" = 200 ] || [ "$code" = 401 ]; then
                eval "PORT_$name=$port"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
    done
    cat "$dir/log" >&2
    fail "docker-registry did not start"
}

# push LAYOUT TAG DEST [skopeo args]
push() {
    local layout="$1" tag="$2" dest="$3"; shift 3
    skopeo --insecure-policy copy -q --dest-tls-verify=false "$@" "oci:$layout:$tag" "docker://$dest" \
        >"$WORK/skopeo.log" 2>&1 || { cat "$WORK/skopeo.log" >&2; fail "skopeo copy to $dest failed"; }
}

# image LAYOUT TAG ARCH LAYER...: a one-manifest image tagged TAG; prints its digest
image() {
    local layout="$1" tag="$2" arch="$3"; shift 3
    local d s
    read -r d s < <(python3 "$REGTOOL" manifest "$layout" "$arch" "$@")
    python3 "$REGTOOL" tag "$layout" "$tag" "$d"
    echo "$d"
}

layer() { python3 "$REGTOOL" layer "$@"; }

# ---- disks: a qcow2 and a raw one, with qemu-img's raw as the reference ----
python3 - "$IMG" <<'EOF'
import os, random, sys
r = random.Random(15)
for name, seed in (("a", 1), ("b", 2)):
    with open(os.path.join(sys.argv[1], name + ".raw"), "wb") as f:
        f.truncate(48 << 20)
        for i in range(0, 48, 3):
            f.seek((i << 20) + r.randrange(4096))
            f.write(bytes(r.randrange(256) for _ in range(20000)) * 4)
EOF
qemu-img convert -f raw -O qcow2 "$IMG/a.raw" "$IMG/a.qcow2"
qemu-img convert -f raw -O qcow2 "$IMG/b.raw" "$IMG/b.qcow2"
qemu-img convert -O raw "$IMG/a.qcow2" "$IMG/a.ref"
qemu-img convert -O raw "$IMG/b.qcow2" "$IMG/b.ref"

start_registry anon
R="127.0.0.1:$PORT_anon"
L="$WORK/layout"

# ---- well-formed images ------------------------------------------------------
layer "$IMG/qcow2.tar.gz" dir:disk file:disk/disk.qcow2="$IMG/a.qcow2"
image "$L" gzip amd64 "$IMG/qcow2.tar.gz" >/dev/null
push "$L" gzip "$R/disks/gzip:v1"
check_import registry-qcow2-gzip "docker://$R/disks/gzip:v1" "$IMG/a.ref"

# Docker schema2 (skopeo converts the manifest)
push "$L" gzip "$R/disks/schema2:v1" --format v2s2
check_import registry-docker-schema2 "docker://$R/disks/schema2:v1" "$IMG/a.ref"

# a raw disk in a plain tar streams straight to the volume (no scratch phase)
layer "$IMG/raw.tar" file:disk/disk.img="$IMG/b.raw"
image "$L" plain amd64 "$IMG/raw.tar" >/dev/null
push "$L" plain "$R/disks/plain:v1"
check_import registry-raw-plain "docker://$R/disks/plain:v1" "$IMG/b.ref"
"$IMPORTER" --url "docker://$R/disks/plain:v1" --dest "$WORK/p.raw" --progress json >"$WORK/progress" 2>"$WORK/err" ||
    { cat "$WORK/err" >&2; fail "json progress import failed"; }
grep -q '"scratch"' "$WORK/progress" && fail "registry-raw-plain: a raw disk went through a scratch file"
rm -f "$WORK/p.raw"
echo "ok  registry-raw-streamed (no scratch phase)"

layer "$IMG/zstd.tar.zst" dir:disk file:disk/disk.qcow2="$IMG/b.qcow2"
image "$L" zstd amd64 "$IMG/zstd.tar.zst" >/dev/null
push "$L" zstd "$R/disks/zstd:v1"
check_import registry-zstd "docker://$R/disks/zstd:v1" "$IMG/b.ref"

# by digest
dig=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/disks/zstd:v1")
check_import registry-by-digest "docker://$R/disks/zstd@$dig" "$IMG/b.ref"

# whiteouts: the lower layer's disk is deleted, the upper one's is the disk
layer "$IMG/low.tar.gz" dir:disk file:disk/old.qcow2="$IMG/a.qcow2" data:etc/motd=hello
layer "$IMG/wh.tar.gz" whiteout:disk/old.qcow2 file:disk/new.qcow2="$IMG/b.qcow2"
image "$L" whiteout amd64 "$IMG/low.tar.gz" "$IMG/wh.tar.gz" >/dev/null
push "$L" whiteout "$R/disks/whiteout:v1"
check_import registry-whiteout "docker://$R/disks/whiteout:v1" "$IMG/b.ref"
layer "$IMG/opq.tar.gz" opaque:disk file:disk/new.qcow2="$IMG/a.qcow2"
image "$L" opaque amd64 "$IMG/low.tar.gz" "$IMG/wh.tar.gz" "$IMG/opq.tar.gz" >/dev/null
push "$L" opaque "$R/disks/opaque:v1"
check_import registry-opaque "docker://$R/disks/opaque:v1" "$IMG/a.ref"
# the same name in an upper layer replaces the lower file
layer "$IMG/over.tar.gz" file:disk/old.qcow2="$IMG/b.qcow2"
image "$L" overwrite amd64 "$IMG/low.tar.gz" "$IMG/over.tar.gz" >/dev/null
push "$L" overwrite "$R/disks/overwrite:v1"
check_import registry-overwrite "docker://$R/disks/overwrite:v1" "$IMG/b.ref"

# an index: linux/amd64 by default, --platform for another
da=$(python3 "$REGTOOL" manifest "$L" amd64 "$IMG/qcow2.tar.gz" | cut -d' ' -f1)
db=$(python3 "$REGTOOL" manifest "$L" arm64 "$IMG/zstd.tar.zst" | cut -d' ' -f1)
di=$(python3 "$REGTOOL" index "$L" "$db" "$da" | cut -d' ' -f1)
python3 "$REGTOOL" tag "$L" multi "$di"
push "$L" multi "$R/disks/multi:v1" --all
check_import registry-index-default "docker://$R/disks/multi:v1" "$IMG/a.ref"
check_import registry-index-arm64 "docker://$R/disks/multi:v1" "$IMG/b.ref" --platform linux/arm64
expect_refusal registry-index-missing "docker://$R/disks/multi:v1" "has no image for linux/s390x" \
    --platform linux/s390x
expect_refusal registry-arch-mismatch "docker://$R/disks/gzip:v1" "not the requested linux/arm64" \
    --platform linux/arm64

# oci-archive: a tarred layout, by tag name
(cd "$L" && tar cf "$WORK/layout.tar" .)
check_import registry-oci-archive "oci-archive:$WORK/layout.tar:zstd" "$IMG/b.ref"
check_import registry-oci-archive-index "oci-archive:$WORK/layout.tar:multi" "$IMG/b.ref" \
    --platform linux/arm64
expect_refusal registry-oci-archive-noref "oci-archive:$WORK/layout.tar:nosuch" "no image named 'nosuch'"

# ---- hostile content through the real registry ------------------------------
hostile() {
    local name="$1" msg="$2"; shift 2
    layer "$IMG/$name.tar.gz" "$@"
    image "$L" "$name" amd64 "$IMG/$name.tar.gz" >/dev/null
    push "$L" "$name" "$R/hostile/$name:v1"
    expect_refusal "registry-$name" "docker://$R/hostile/$name:v1" "$msg"
}
hostile dotdot "leaves the image ('..')" file:disk/disk.qcow2="$IMG/a.qcow2" raw:../../etc/evil=x
hostile symlink "links are never followed" dir:disk symlink:disk/disk.qcow2=/etc/shadow
hostile hardlink "hard link" data:etc/passwd=x dir:disk hardlink:disk/disk.img=etc/passwd
hostile hardlink-out "points outside the image" file:disk/disk.img="$IMG/b.raw" hardlink:x=../../etc/passwd
hostile disk-symlink "/disk is a symbolic link" symlink:disk=/etc
hostile two-disks "more than one file" file:disk/a.qcow2="$IMG/a.qcow2" file:disk/b.qcow2="$IMG/b.qcow2"
hostile subdir "is a directory" file:disk/sub/disk.qcow2="$IMG/a.qcow2"
hostile no-disk "no disk in the image" data:etc/motd=hello
# a whiteout in an upper layer deleting the only disk
layer "$IMG/del.tar.gz" whiteout:disk
image "$L" deleted amd64 "$IMG/qcow2.tar.gz" "$IMG/del.tar.gz" >/dev/null
push "$L" deleted "$R/hostile/deleted:v1"
expect_refusal registry-whiteout-all "docker://$R/hostile/deleted:v1" "no disk in the image"
# a second disk in a lower layer, below the one found first
image "$L" lower-second amd64 "$IMG/low.tar.gz" "$IMG/zstd.tar.zst" >/dev/null
push "$L" lower-second "$R/hostile/lower-second:v1"
expect_refusal registry-lower-second "docker://$R/hostile/lower-second:v1" "more than one file"
expect_refusal registry-unknown-tag "docker://$R/disks/gzip:nosuch" "answered 404"
expect_refusal registry-bad-ref "docker://$R/Disks/UPPER:v1" "is not a repository name"

# ---- Basic auth (htpasswd, bcrypt) ------------------------------------------
htpasswd -Bbn ferry s3cret >"$WORK/htpasswd" 2>/dev/null
start_registry auth "$WORK/htpasswd"
RA="127.0.0.1:$PORT_auth"
push "$L" gzip "$RA/disks/private:v1" --dest-creds ferry:s3cret
mkdir -p "$WORK/secret" "$WORK/badsecret"
printf ferry >"$WORK/secret/accessKeyId"
printf s3cret >"$WORK/secret/secretKey"
printf ferry >"$WORK/badsecret/accessKeyId"
printf wrong >"$WORK/badsecret/secretKey"
expect_refusal registry-basic-none "docker://$RA/disks/private:v1" "asks for credentials"
expect_refusal registry-basic-wrong "docker://$RA/disks/private:v1" "credentials were refused (401)" \
    --secret-dir "$WORK/badsecret"
check_import registry-basic-secret "docker://$RA/disks/private:v1" "$IMG/a.ref" --secret-dir "$WORK/secret"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$RA" "$(printf ferry:s3cret | base64)" >"$WORK/config.json"
check_import registry-basic-authfile "docker://$RA/disks/private:v1" "$IMG/a.ref" --auth-file "$WORK/config.json"

# ---- the small registry: Bearer, and what a real registry would not serve ----
# start_fake NAME LAYOUT MODE: sets PORT_<NAME>
start_fake() {
    local name="$1" layout="$2" mode="$3" pf="$WORK/fake-$1.port"
    python3 "$REGTOOL" serve "$layout" "$pf" "$mode" 2>"$WORK/fake-$name.log" &
    PIDS="$PIDS $!"
    for i in $(seq 100); do
        [ -s "$pf" ] && { eval "PORT_$name=$(cat "$pf")"; return 0; }
        sleep 0.1
    done
    cat "$WORK/fake-$name.log" >&2
    fail "regtool.py serve did not start"
}
start_fake bearer "$L" bearer
check_import registry-bearer "docker://127.0.0.1:$PORT_bearer/disks/x:gzip" "$IMG/a.ref"
# tokens that stop working: renewed when a blob answers 401 (two layers)
start_fake expiring "$L" bearer-expiring
check_import registry-bearer-renewed "docker://127.0.0.1:$PORT_expiring/disks/x:whiteout" "$IMG/b.ref"
start_fake foreign "$L" bearer-foreign
expect_refusal registry-token-foreign "docker://127.0.0.1:$PORT_foreign/disks/x:gzip" \
    "token endpoint 'http://localhost:$PORT_foreign/token' on another origin"

# connections cut mid-blob: resumed with Range; a registry ignoring Range fails
start_fake cut "$L" cut
check_import registry-resume "docker://127.0.0.1:$PORT_cut/disks/x:plain" "$IMG/b.ref"
start_fake cutnr "$L" cut-norange
expect_refusal registry-resume-norange "docker://127.0.0.1:$PORT_cutnr/disks/x:plain" \
    "the registry answered 200 without that range"

H="$WORK/hostile-layout"
start_fake hostile "$H" anon
FH="127.0.0.1:$PORT_hostile"
# a manifest naming a 100 GiB layer: refused before a byte of it is fetched
image "$H" huge amd64 --size-of 1=107374182400 "$IMG/qcow2.tar.gz" >/dev/null
expect_refusal registry-huge-layer "docker://$FH/x/y:huge" "is 100 GiB, more than" --size 1Gi
# more bytes than the descriptor says
size=$(stat -c %s "$IMG/raw.tar")
image "$H" short amd64 --size-of 1=$((size - 4096)) "$IMG/raw.tar" >/dev/null
expect_refusal registry-size-lie "docker://$FH/x/y:short" "more bytes than"
# a layer whose bytes are not its digest (one byte changed, same size)
cp "$IMG/raw.tar" "$IMG/corrupt.tar"
dd_digest=$(image "$H" corrupt amd64 "$IMG/corrupt.tar")
ldig=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' \
    "$H/blobs/sha256/${dd_digest#sha256:}")
printf 'X' | dd of="$H/blobs/sha256/$ldig" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_refusal registry-bad-digest "docker://$FH/x/y:corrupt" "the content's digest is sha256:"
# a manifest fetched by digest whose bytes are another manifest's
good=$(image "$H" good amd64 "$IMG/raw.tar")
other=$(image "$H" other amd64 "$IMG/qcow2.tar.gz")
cp "$H/blobs/sha256/${other#sha256:}" "$H/blobs/sha256/${good#sha256:}"
expect_refusal registry-manifest-digest "docker://$FH/x/y@$good" "the content's digest is"

echo "all registry tests passed"
