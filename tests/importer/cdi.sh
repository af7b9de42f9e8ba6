#!/bin/bash
# CDI's importer pod contract: ferry-importer run as CDI's importer pod runs
# cdi-importer, with no arguments but -v=1, CDI's environment (env -i: nothing
# else), and a mount namespace giving it the pod's file system: a private
# root (tmpfs) with the host's /usr, /etc and libraries, /data a tmpfs of the
# PVC's size (filesystem volumes), /dev a tmpfs holding null, zero, urandom,
# /dev/termination-log (bound to a file of the test) and, for block volumes,
# /dev/cdi-block-volume (a loop device).  No test-only path variable is used
# here; only the metrics port is moved (FERRY_CDI_METRICS_PORT/ADDRESS,
# 127.0.0.1) so that tests run side by side.  Sources: nginx on 127.0.0.1.
# Checked: the files written, the termination message and the exit code of
# http (qcow2, raw stream), blank, archive, checksum (right and wrong), an
# unreachable and a missing endpoint, a volume too small, the filesystem
# overhead, block volumes, unknown and unsupported sources, and the progress
# metric scraped over HTTPS while an import runs (it rises and ends at 100).
FERRY_NO_CORPUS=1
. "$(dirname "$0")/lib.sh"
need nginx curl unshare chroot losetup tar openssl sha256sum
[ "$(id -u)" = 0 ] || skip "a mount namespace and loop devices need root"
unshare -m --propagation private true 2>/dev/null || skip "unshare -m is not permitted here"
cd "$WORK"
LOOPS=""
cleanup_loops() { for l in $LOOPS; do losetup -d "$l" 2>/dev/null || true; done; }
trap 'cleanup_loops; cleanup' EXIT INT TERM

# ---- images and nginx ---------------------------------------------------------
mkdir -p www/arch/sub
python3 - www/disk.raw www/stream.raw <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:          # 24 MiB: data and holes
    f.truncate(24 << 20)
    for off in (0, 7 << 20, (24 << 20) - 65536):
        f.seek(off); f.write(os.urandom(65536))
with open(sys.argv[2], "wb") as f:          # 16 MiB of data, for the slow stream
    f.write(os.urandom(16 << 20))
PY
qemu-img convert -q -f raw -O qcow2 www/disk.raw www/disk.qcow2
echo hello >www/arch/hello.txt
head -c 100000 /dev/urandom >www/arch/sub/blob.bin
tar -C www/arch -cf www/data.tar hello.txt sub
SUM=$(sha256sum www/disk.qcow2 | cut -d' ' -f1)

cdi_servers() {
    cat <<CONF
    server {
        listen 127.0.0.1:$NGX_PORT;
        location /img/ { alias $WORK/www/; }
        location /slow/ { alias $WORK/www/; max_ranges 0; limit_rate 4m; }
    }
    # a forward proxy for plain http (absolute-URI requests), logging each
    server {
        listen 127.0.0.1:$NGX_PORT2;
        access_log $NGX/logs/proxy.log;
        location / { proxy_pass http://127.0.0.1:$NGX_PORT; }
    }
CONF
}
start_nginx cdi_servers /img/data.tar
HPORT=$NGX_PORT
XPORT=$NGX_PORT2
BASE="http://127.0.0.1:$HPORT"

# ---- the pod ------------------------------------------------------------------
# pod NAME [VAR=VALUE ...]: run the importer as CDI's pod; POD_DATA_SIZE (a
# tmpfs size, default 128m) or POD_BLOCK (a block device) is the volume.
# /shared is $WORK/NAME/shared (the node pull's ready and done files);
# /extraheaders is $WORK/NAME/extraheaders when the test makes it.
# After: $WORK/NAME/rc, termination-log, log, data/ (a sparse copy of /data),
# alloc (the KiB disk.img held on the volume), tmp-left (what /tmp kept).
pod() {
    local name="$1"; shift
    local d="$WORK/$name"
    mkdir -p "$d/root" "$d/data"
    : >"$d/termination-log"
    unshare -m --propagation private /bin/bash -s "$d" "${POD_BLOCK:-}" "${POD_DATA_SIZE:-128m}" \
        "$IMPORTER" "$FERRY_BIN" "$@" <<'SH' >"$d/log" 2>&1 || true
set -eu
D=$1 BLK=$2 SIZE=$3 IMP=$4 BIN=$5; shift 5
R=$D/root
mount -t tmpfs -o mode=755 pod-root "$R"
for x in usr bin sbin lib lib32 lib64 libx32 etc; do
    if [ -L "/$x" ]; then ln -s "$(readlink "/$x")" "$R/$x"
    elif [ -d "/$x" ]; then mkdir "$R/$x"; mount --rbind "/$x" "$R/$x"; fi
done
mkdir -p "$R/proc" "$R/dev" "$R/tmp" "$R/data" "$R/shared" "$R$BIN"
mkdir -p "$D/shared"
mount --bind "$D/shared" "$R/shared"
if [ -d "$D/extraheaders" ]; then
    mkdir "$R/extraheaders"
    mount --bind "$D/extraheaders" "$R/extraheaders"
fi
mount --rbind /proc "$R/proc"
mount --bind "$BIN" "$R$BIN"
mount -t tmpfs -o mode=755 pod-dev "$R/dev"
for n in null zero urandom random full; do : >"$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
: >"$R/dev/termination-log"
mount --bind "$D/termination-log" "$R/dev/termination-log"
if [ -n "$BLK" ]; then
    : >"$R/dev/cdi-block-volume"
    mount --bind "$BLK" "$R/dev/cdi-block-volume"
else
    mount -t tmpfs -o "size=$SIZE,mode=777" pod-data "$R/data"
fi
rc=0
chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin "$@" "$IMP" -v=1 || rc=$?
echo "$rc" >"$D/rc"
# what /tmp kept, but for the directories that lead to the bind-mounted
# build (a build under /tmp, as CI's clone may be)
find "$R/tmp" -mindepth 1 \( -path "$R$BIN" -prune \) -o -print | while read -r p; do
    case "$R$BIN/" in "$p"/*) ;; *) echo "${p#"$R"}" ;; esac
done >"$D/tmp-left"
# what the volume holds (the copy below is sparse whatever it was)
[ ! -f "$R/data/disk.img" ] || du -k "$R/data/disk.img" | cut -f1 >"$D/alloc"
[ -n "$BLK" ] || cp -a --sparse=always "$R/data/." "$D/data/"
SH
    [ -f "$d/rc" ] || { cat "$d/log" >&2; fail "$name: the pod did not run"; }
}
# Every variable CDI's controller sets for an http import (makeImportEnv).
cdi_env() {
    echo IMPORTER_SOURCE=http IMPORTER_CONTENTTYPE=kubevirt IMPORTER_IMAGE_SIZE=64Mi \
        OWNER_UID=5fd0e9a5-0000-4000-8000-000000000001 FILESYSTEM_OVERHEAD=0.06 INSECURE_TLS=false \
        IMPORTER_DISK_ID= IMPORTER_UUID= IMPORTER_PULL_METHOD= IMPORTER_READY_FILE= \
        IMPORTER_DONE_FILE= IMPORTER_BACKING_FILE= IMPORTER_THUMBPRINT= http_proxy= https_proxy= \
        no_proxy= IMPORTER_CURRENT_CHECKPOINT= IMPORTER_PREVIOUS_CHECKPOINT= \
        IMPORTER_FINAL_CHECKPOINT= PREALLOCATION=false FERRY_CDI_METRICS_ADDRESS=127.0.0.1 \
        FERRY_CDI_METRICS_PORT=0
}
# expect NAME RC MESSAGE: exit code and the exact termination message.
expect() {
    local rc msg
    rc=$(cat "$WORK/$1/rc"); msg=$(cat "$WORK/$1/termination-log")
    [ "$rc" = "$2" ] || { cat "$WORK/$1/log" >&2; fail "$1: exit code $rc, expected $2"; }
    [ "$msg" = "$3" ] || { cat "$WORK/$1/log" >&2; fail "$1: termination message '$msg', expected '$3'"; }
}
expect_prefix() {
    local rc msg
    rc=$(cat "$WORK/$1/rc"); msg=$(cat "$WORK/$1/termination-log")
    [ "$rc" = "$2" ] || { cat "$WORK/$1/log" >&2; fail "$1: exit code $rc, expected $2"; }
    case "$msg" in "$3"*) ;; *) cat "$WORK/$1/log" >&2; fail "$1: termination message '$msg', expected '$3...'" ;; esac
    [ "$(wc -l <"$WORK/$1/termination-log")" -le 1 ] || fail "$1: more than one line"
}
OK='{"scratchSpaceRequired":false,"preallocationApplied":false,"message":"Import Complete"}'
OKP='{"scratchSpaceRequired":false,"preallocationApplied":true,"message":"Import Complete"}'
# same_disk FILE REF SIZE: FILE is REF then zeros up to SIZE bytes.
same_disk() {
    [ "$(stat -c %s "$1")" = "$3" ] || fail "$1: size $(stat -c %s "$1"), expected $3"
    cmp -n "$(stat -c %s "$2")" "$1" "$2" >/dev/null || fail "$1: differs from $2"
    if [ "$3" -gt "$(stat -c %s "$2")" ]; then
        cmp -i "$(stat -c %s "$2")":0 -n $(($3 - $(stat -c %s "$2"))) "$1" /dev/zero >/dev/null ||
            fail "$1: not zeros after the image"
    fi
}

# ---- http: a qcow2 through Range requests, the requested size ----------------
# shellcheck disable=SC2046
pod http-qcow2 $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.qcow2"
expect http-qcow2 0 "$OK"
same_disk http-qcow2/data/disk.img www/disk.raw $((64 << 20))
[ "$(stat -c %a http-qcow2/data/disk.img)" = 660 ] || fail "http-qcow2: disk.img mode $(stat -c %a http-qcow2/data/disk.img)"
[ "$(cat http-qcow2/alloc)" -lt 2048 ] || fail "http-qcow2: disk.img is not sparse"
echo "ok  http-qcow2"

# The checksum CDI passes: right, then wrong (exit 0, JSON, fatal for the controller).
# shellcheck disable=SC2046
pod checksum-ok $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.qcow2" IMPORTER_CHECKSUM="sha256:$SUM"
expect checksum-ok 0 "$OK"
echo "ok  checksum-ok"
BAD=$(printf '%064d' 0)
# shellcheck disable=SC2046
pod checksum-bad $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.qcow2" IMPORTER_CHECKSUM="sha256:$BAD"
expect checksum-bad 0 "{\"message\":\"Unable to process data: checksum mismatch: sha256 expected $BAD, got $SUM\"}"
[ ! -e checksum-bad/data/disk.img ] || fail "checksum-bad: disk.img written"
[ -z "$(ls -A checksum-bad/data)" ] || fail "checksum-bad: left behind: $(ls -A checksum-bad/data)"
echo "ok  checksum-bad"

# Filesystem overhead: 1Gi asked of a 100 MiB volume: (1 - 0.06) x free, whole sectors.
# shellcheck disable=SC2046
POD_DATA_SIZE=100m pod overhead $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.qcow2" \
    IMPORTER_IMAGE_SIZE=1Gi
expect overhead 0 "$OK"
s=$(stat -c %s overhead/data/disk.img)
[ $((s % 512)) = 0 ] || fail "overhead: $s is not whole sectors"
[ "$s" -le $((100 * 1048576 * 94 / 100)) ] && [ "$s" -gt $((99 * 1048576 * 94 / 100)) ] ||
    fail "overhead: disk.img is $s bytes, expected 0.94 x the ~100 MiB free"
same_disk overhead/data/disk.img www/disk.raw "$s"
echo "ok  overhead ($s bytes of a 100 MiB volume)"

# A volume too small for the image's virtual size: CDI's words, exit 1.
# shellcheck disable=SC2046
POD_DATA_SIZE=16m pod too-small $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.qcow2"
expect_prefix too-small 1 "Unable to process data: Virtual image size 24 MiB is larger than the reported available storage"
grep -q "A larger PVC is required" too-small/termination-log || fail "too-small: $(cat too-small/termination-log)"
[ -z "$(ls -A too-small/data)" ] || fail "too-small: left behind: $(ls -A too-small/data)"
echo "ok  too-small"

# Endpoints that cannot be read: "Unable to connect to http data source", exit 1.
DEAD=$(free_port)
# shellcheck disable=SC2046
pod unreachable $(cdi_env) IMPORTER_ENDPOINT="http://127.0.0.1:$DEAD/disk.img"
expect_prefix unreachable 1 "Unable to connect to http data source: http 'http://127.0.0.1:$DEAD/disk.img': "
# shellcheck disable=SC2046
pod not-found $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/none.img"
expect not-found 1 "Unable to connect to http data source: http '$BASE/img/none.img': the server answered 404"
# An endpoint that is not an http URL is never read as a path of the pod.
# shellcheck disable=SC2046
pod local-path $(cdi_env) IMPORTER_ENDPOINT=/etc/passwd
expect local-path 1 "Unable to connect to http data source: endpoint '/etc/passwd': expected a URL starting with http://, https://"
[ -z "$(ls -A local-path/data)" ] || fail "local-path: wrote $(ls -A local-path/data)"
echo "ok  unreachable, not-found, local-path"

# Proxies: CDI's http_proxy/no_proxy (libcurl reads them), through nginx as
# a forward proxy; no_proxy bypasses it.
# shellcheck disable=SC2046
pod proxy $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.qcow2" http_proxy="http://127.0.0.1:$XPORT"
expect proxy 0 "$OK"
grep -q 'GET http://127.0.0.1:'"$HPORT"'/img/disk.qcow2' "$NGX/logs/proxy.log" ||
    fail "proxy: no request went through the proxy"
same_disk proxy/data/disk.img www/disk.raw $((64 << 20))
n=$(wc -l <"$NGX/logs/proxy.log")
# shellcheck disable=SC2046
pod no-proxy $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.qcow2" http_proxy="http://127.0.0.1:$XPORT" \
    no_proxy=127.0.0.1
expect no-proxy 0 "$OK"
[ "$(wc -l <"$NGX/logs/proxy.log")" = "$n" ] || fail "no-proxy: requests went through the proxy"
echo "ok  proxy, no-proxy ($n requests through the proxy)"

# Node pull: wait for the ready file, take the image's name from it, touch
# the done file.
mkdir -p node-pull/shared
printf 'disk.qcow2' >node-pull/shared/ready
# shellcheck disable=SC2046
pod node-pull $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.img" IMPORTER_PULL_METHOD=node \
    IMPORTER_READY_FILE=/shared/ready IMPORTER_DONE_FILE=/shared/done
expect node-pull 0 "$OK"
[ -e node-pull/shared/done ] || fail "node-pull: no done file"
same_disk node-pull/data/disk.img www/disk.raw $((64 << 20))
echo "ok  node-pull"

# Basic auth (IMPORTER_ACCESS_KEY_ID/IMPORTER_SECRET_KEY) and extra headers
# (IMPORTER_EXTRA_HEADER_0 and a secret's file under /extraheaders), to a
# server that refuses a request without all three, when the http source
# has the options for them.
if "$IMPORTER" --help | grep -q -- '--http-secret-dir' && "$IMPORTER" --help | grep -q -- '--header '; then
    cat >auth-server.py <<'PY'
import base64, http.server, os, sys
os.chdir(sys.argv[1])
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        ok = (self.headers.get("Authorization") == "Basic " + base64.b64encode(b"user:pa ss").decode()
              and self.headers.get("X-Ferry-Test") == "yes" and self.headers.get("X-Secret") == "s3cr3t")
        if not ok:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        return super().do_GET()
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2] + ".tmp", "w").write(str(s.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()
PY
    python3 auth-server.py "$WORK/www" "$WORK/auth.port" 2>auth.err &
    PIDS="$PIDS $!"
    wait_until "$!" 100 test -s auth.port || { cat auth.err >&2; fail "auth server did not start"; }
    APORT=$(cat auth.port)
    mkdir -p auth/extraheaders/secret1
    printf 'X-Secret: s3cr3t' >auth/extraheaders/secret1/secretHeader
    # shellcheck disable=SC2046
    pod auth $(cdi_env) IMPORTER_ENDPOINT="http://127.0.0.1:$APORT/disk.qcow2" \
        IMPORTER_ACCESS_KEY_ID=user IMPORTER_SECRET_KEY='pa ss' IMPORTER_EXTRA_HEADER_0='X-Ferry-Test: yes'
    expect auth 0 "$OK"
    same_disk auth/data/disk.img www/disk.raw $((64 << 20))
    mkdir -p auth-denied/extraheaders/secret1
    printf 'X-Secret: s3cr3t' >auth-denied/extraheaders/secret1/secretHeader
    # shellcheck disable=SC2046
    pod auth-denied $(cdi_env) IMPORTER_ENDPOINT="http://127.0.0.1:$APORT/disk.qcow2" \
        IMPORTER_ACCESS_KEY_ID=user IMPORTER_SECRET_KEY=wrong IMPORTER_EXTRA_HEADER_0='X-Ferry-Test: yes'
    expect_prefix auth-denied 1 "Unable to connect to http data source: "
    grep -q 403 auth-denied/termination-log || fail "auth-denied: $(cat auth-denied/termination-log)"
    echo "ok  auth, auth-denied (basic auth, extra headers)"
else
    echo "note: the http source has no --http-secret-dir/--header: CDI's credentials and headers not tested"
fi

# ---- blank ------------------------------------------------------------------------
# shellcheck disable=SC2046
pod blank $(cdi_env) IMPORTER_SOURCE=none IMPORTER_ENDPOINT= IMPORTER_IMAGE_SIZE=50Mi
expect blank 0 "$OK"
[ "$(stat -c %s blank/data/disk.img)" = 49283072 ] ||   # 0.94 x 50 MiB
    fail "blank: disk.img is $(stat -c %s blank/data/disk.img) bytes, expected 49283072"
[ "$(cat blank/alloc)" = 0 ] || fail "blank: disk.img is not sparse"
# shellcheck disable=SC2046
pod blank-prealloc $(cdi_env) IMPORTER_SOURCE=none IMPORTER_ENDPOINT= IMPORTER_IMAGE_SIZE=8Mi \
    PREALLOCATION=true
expect blank-prealloc 0 "$OKP"
# 0.94 x 8 MiB = 7700 KiB
[ "$(cat blank-prealloc/alloc)" -ge 7700 ] || fail "blank-prealloc: not allocated"
# shellcheck disable=SC2046
pod blank-archive $(cdi_env) IMPORTER_SOURCE=none IMPORTER_CONTENTTYPE=archive IMPORTER_IMAGE_SIZE=8Mi
expect blank-archive 1 "Cannot create empty disk with content type archive"
echo "ok  blank, blank-prealloc, blank-archive"

# ---- archive: a tar extracted into /data ----------------------------------------
# shellcheck disable=SC2046
pod archive $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/data.tar" IMPORTER_CONTENTTYPE=archive
expect archive 0 "$OK"
cmp archive/data/hello.txt www/arch/hello.txt && cmp archive/data/sub/blob.bin www/arch/sub/blob.bin ||
    fail "archive: extracted files differ"
# owned by qemu (107), as CDI's importer (which runs as 107) leaves them
[ "$(stat -c %u:%g archive/data/sub/blob.bin)" = 107:107 ] ||
    fail "archive: owner $(stat -c %u:%g archive/data/sub/blob.bin), expected 107:107"
[ ! -e archive/data/disk.img ] || fail "archive: a disk.img was written"
echo "ok  archive"

# ---- the environment's errors ------------------------------------------------------
# shellcheck disable=SC2046
pod unknown $(cdi_env) IMPORTER_SOURCE=ftp IMPORTER_ENDPOINT=ftp://x/y
expect unknown 1 "Unknown data source: ftp"
# shellcheck disable=SC2046
pod vddk $(cdi_env) IMPORTER_SOURCE=vddk IMPORTER_ENDPOINT=https://vcenter/sdk
expect_prefix vddk 1 "Unable to connect to vddk data source: ferry-importer has no vddk source"
# shellcheck disable=SC2046
pod prealloc-bad $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.qcow2" PREALLOCATION=
expect prealloc-bad 1 'the PREALLOCATION environment variable is with a wrong value ""; should be "true" or "false"'
# shellcheck disable=SC2046
pod registry-archive $(cdi_env) IMPORTER_SOURCE=registry IMPORTER_ENDPOINT=docker://127.0.0.1:1/x \
    IMPORTER_CONTENTTYPE=archive
expect registry-archive 1 "Unsupported content type archive when importing from registry"
echo "ok  unknown, vddk, prealloc-bad, registry-archive"

# ---- block volumes: a loop device at /dev/cdi-block-volume --------------------------
head -c $((32 << 20)) /dev/zero | tr '\0' '\377' >blockfile   # old contents: 0xff
LOOP=$(losetup -f --show blockfile) || skip "no loop device"
LOOPS="$LOOPS $LOOP"
# shellcheck disable=SC2046
POD_BLOCK=$LOOP pod block $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/disk.qcow2" PREALLOCATION=true
expect block 0 "$OKP"
same_disk blockfile www/disk.raw $((32 << 20))
echo "ok  block"
head -c $((32 << 20)) /dev/zero | tr '\0' '\377' | dd of="$LOOP" bs=1M conv=fsync status=none
# shellcheck disable=SC2046
POD_BLOCK=$LOOP pod block-blank $(cdi_env) IMPORTER_SOURCE=none IMPORTER_ENDPOINT= \
    IMPORTER_IMAGE_SIZE=8Mi PREALLOCATION=true
expect block-blank 0 "$OKP"
cmp -n $((8 << 20)) blockfile /dev/zero >/dev/null || fail "block-blank: the first 8 MiB are not zeros"
# shellcheck disable=SC2046
POD_BLOCK=$LOOP pod block-archive $(cdi_env) IMPORTER_ENDPOINT="$BASE/img/data.tar" \
    IMPORTER_CONTENTTYPE=archive
expect_prefix block-archive 1 "Unable to process data: content type archive needs a filesystem volume"
echo "ok  block-blank, block-archive"

# ---- registry with credentials: IMPORTER_ACCESS_KEY_ID/SECRET_KEY become a
# private secret directory for the registry source, removed afterwards ----
if command -v docker-registry >/dev/null && command -v skopeo >/dev/null &&
    command -v htpasswd >/dev/null; then
    mkdir -p reg/store reg/layout
    htpasswd -Bbn ferry 's3 cret' >reg/htpasswd 2>/dev/null
    reg_asks_login() {
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RPORT/v2/" || true)" = 401 ]
    }
    for attempt in 1 2 3 4 5; do
        RPORT=$(free_port)
        cat >reg/config.yml <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/reg/store}}
http: {addr: 127.0.0.1:$RPORT, secret: ferry-test}
auth: {htpasswd: {realm: ferry-test, path: $WORK/reg/htpasswd}}
YML
        docker-registry serve reg/config.yml >reg/log 2>&1 &
        RPID=$!
        PIDS="$PIDS $RPID"
        up=
        wait_until "$RPID" 100 reg_asks_login && { up=1; break; }
        kill "$RPID" 2>/dev/null || true
    done
    [ -n "$up" ] || { cat reg/log >&2; fail "docker-registry did not start"; }
    python3 "$HERE/regtool.py" layer reg/layer.tar.gz dir:disk file:disk/disk.qcow2=www/disk.qcow2
    read -r d _ < <(python3 "$HERE/regtool.py" manifest reg/layout amd64 reg/layer.tar.gz)
    python3 "$HERE/regtool.py" tag reg/layout v1 "$d"
    skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-creds 'ferry:s3 cret' \
        oci:reg/layout:v1 "docker://127.0.0.1:$RPORT/vm/disk:v1" >reg/skopeo.log 2>&1 ||
        { cat reg/skopeo.log >&2; fail "skopeo copy"; }
    # shellcheck disable=SC2046
    pod registry $(cdi_env) IMPORTER_SOURCE=registry \
        IMPORTER_ENDPOINT="docker://127.0.0.1:$RPORT/vm/disk:v1" IMPORTER_ACCESS_KEY_ID=ferry \
        IMPORTER_SECRET_KEY='s3 cret' IMPORTER_REGISTRY_IMAGE_ARCHITECTURE=amd64
    expect registry 0 "$OK"
    same_disk registry/data/disk.img www/disk.raw $((64 << 20))
    [ ! -s registry/tmp-left ] || fail "registry: left in /tmp: $(cat registry/tmp-left)"
    # shellcheck disable=SC2046
    pod registry-denied $(cdi_env) IMPORTER_SOURCE=registry \
        IMPORTER_ENDPOINT="docker://127.0.0.1:$RPORT/vm/disk:v1" IMPORTER_ACCESS_KEY_ID=ferry \
        IMPORTER_SECRET_KEY=wrong
    expect_prefix registry-denied 1 "Unable to process data: "
    grep -q "401" registry-denied/termination-log || fail "registry-denied: $(cat registry-denied/termination-log)"
    [ ! -s registry-denied/tmp-left ] || fail "registry-denied: left in /tmp: $(cat registry-denied/tmp-left)"
    echo "ok  registry, registry-denied (credentials, nothing left in /tmp)"
else
    echo "note: docker-registry, skopeo or htpasswd missing: CDI's registry credentials not tested"
fi

# ---- imageio: CDI's engine URL and disk id (when the build has the source) --
if "$IMPORTER" --list-sources | grep -q '^imageio ' && [ -f "$HERE/imageio-standin.py" ]; then
    IOID=3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60
    mkdir -p io/ca
    tls_cert io/key.pem io/ca/ca.crt
    start_standin io imageio-standin.py --image www/disk.raw --disk-id "$IOID" \
        --cert io/ca/ca.crt --key io/key.pem --user admin@internal --password 'p w'
    IOPORT=$PORT_io
    # the pod sees it as /shared/certs (CDI mounts the certConfigMap at /certs)
    mkdir -p imageio/shared/certs
    cp io/ca/ca.crt imageio/shared/certs/
    # shellcheck disable=SC2046
    pod imageio $(cdi_env) IMPORTER_SOURCE=imageio \
        IMPORTER_ENDPOINT="https://127.0.0.1:$IOPORT/ovirt-engine/api" IMPORTER_DISK_ID="$IOID" \
        IMPORTER_ACCESS_KEY_ID=admin@internal IMPORTER_SECRET_KEY='p w' IMPORTER_CERT_DIR=/shared/certs
    expect imageio 0 "$OK"
    same_disk imageio/data/disk.img www/disk.raw $((64 << 20))
    # shellcheck disable=SC2046
    pod imageio-id $(cdi_env) IMPORTER_SOURCE=imageio \
        IMPORTER_ENDPOINT="https://127.0.0.1:$IOPORT/ovirt-engine/api" IMPORTER_DISK_ID="../x"
    expect imageio-id 1 "Unable to connect to imageio data source: IMPORTER_DISK_ID '../x': expected a disk id (a UUID)"
    echo "ok  imageio, imageio-id"
else
    echo "note: no imageio source in this build: CDI's imageio endpoint not imported"
fi

# ---- the progress metric over HTTPS while an import runs ----------------------------
MPORT=$(free_port)
# shellcheck disable=SC2046
pod metric $(cdi_env) IMPORTER_ENDPOINT="$BASE/slow/stream.raw" IMPORTER_IMAGE_SIZE=16Mi \
    OWNER_UID=uid-metric FERRY_CDI_METRICS_PORT="$MPORT" FERRY_CDI_METRICS_LINGER=3 &
POD_PID=$!
PIDS="$PIDS $POD_PID"
: >scrapes
subject=
for i in $(seq 600); do
    v=$(curl -sk --max-time 2 "https://127.0.0.1:$MPORT/metrics" |
        sed -n 's/^kubevirt_cdi_import_progress_total{ownerUID="uid-metric"} \([0-9.]*\)$/\1/p')
    [ -n "$v" ] && echo "$v" >>scrapes
    # the self-signed certificate made at start (CN as CDI's: cloner_target)
    [ -n "$v" ] && [ -z "$subject" ] && subject=$(openssl s_client -connect "127.0.0.1:$MPORT" \
        </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null || true)
    [ "$v" = "100.00" ] && break
    kill -0 "$POD_PID" 2>/dev/null || break
    sleep 0.1
done
wait "$POD_PID" || true
expect metric 0 "$OK"
same_disk metric/data/disk.img www/stream.raw $((16 << 20))
[ "$(tail -1 scrapes)" = "100.00" ] || fail "metric: the last value scraped is '$(tail -1 scrapes)', not 100.00"
sort -n -c scrapes 2>/dev/null || fail "metric: the values went down: $(tr '\n' ' ' <scrapes)"
mid=$(awk '$1 > 0 && $1 < 100' scrapes | sort -u | wc -l)
[ "$mid" -ge 2 ] || fail "metric: fewer than 2 values between 0 and 100: $(sort -u scrapes | tr '\n' ' ')"
echo "$subject" | grep -q 'CN *= *cloner_target' || fail "metric: certificate subject '$subject'"
echo "ok  metric ($(sort -u -n scrapes | tr '\n' ' '))"
finish_keep_going
