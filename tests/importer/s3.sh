#!/bin/bash
# The s3 source against a real S3 server on 127.0.0.1: s3rver (npm; installed
# by scripts/install-deps.sh under /opt/ferry-npm, else this test is
# skipped), objects uploaded with curl's own SigV4 (--aws-sigv4) under keys
# that need encoding (space, '+', UTF-8).  s3rver 3.7.1 never computes SigV4
# signatures (it only checks that the access key exists), so the signed
# requests go through tests/importer/sigv4-check.py, which recomputes each
# one independently (Python hmac) and forwards it to s3rver: a wrong secret
# key is then the 403 SignatureDoesNotMatch that AWS would answer.
# Cases: raw and qcow2 objects, path- and virtual-hosted-style, s3:// with
# --s3-endpoint, --s3-secret-dir and the AWS_* variables, a wrong secret, a
# wrong access key, a missing key, 503 SlowDown retried, TLS with CDI's
# cert directory, Range reads (a qcow2 whose file holds
# 32 MiB of freed clusters is imported fetching a fraction of it), and
# CDI's importer environment (IMPORTER_SOURCE=s3).
FERRY_NO_CORPUS=1
. "$(dirname "$0")/lib.sh"
need node curl qemu-io openssl
S3RVER="${FERRY_S3RVER:-/opt/ferry-npm/node_modules/s3rver/bin/s3rver.js}"
if [ ! -f "$S3RVER" ]; then
    S3RVER="$(command -v s3rver || true)"
    [ -n "$S3RVER" ] || skip "s3rver is not installed (scripts/install-deps.sh: npm install --prefix /opt/ferry-npm s3rver)"
fi
cd "$WORK"
# start_s3rver NAME SCHEME [args]: s3rver on a free port (a few tries: the
# port may be taken between free_port and the bind); sets PORT_NAME.
start_s3rver() {
    local name="$1" scheme="$2" port pid; shift 2
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        node "$S3RVER" -d "$WORK/s3data" -a 127.0.0.1 -p "$port" "$@" >"$WORK/$name.log" 2>&1 &
        pid=$!
        PIDS="$PIDS $pid"
        if wait_until "$pid" 100 curl -s -k -o /dev/null "$scheme://127.0.0.1:$port/"; then
            eval "PORT_$name=$port"
            return 0
        fi
        kill "$pid" 2>/dev/null || true
    done
    cat "$WORK/$name.log" >&2
    fail "$name did not start"
}

# s3rver: bucket "bkt"; virtual-hosted names BUCKET.s3.localhost (curl
# resolves *.localhost to the loopback itself).
mkdir -p s3data
start_s3rver s3rver http --service-endpoint localhost --configure-bucket bkt
PORT=$PORT_s3rver
python3 "$HERE/sigv4-check.py" "$WORK/proxy.port" "$PORT" S3RVER S3RVER 2>"$WORK/proxy.log" &
PIDS="$PIDS $!"
wait_until "$!" 100 test -s "$WORK/proxy.port" ||
    { cat "$WORK/proxy.log" >&2; fail "sigv4-check.py did not start"; }
PPORT=$(cat "$WORK/proxy.port")
echo "s3rver on 127.0.0.1:$PORT, SigV4 check on 127.0.0.1:$PPORT"

# put FILE ENCODED_KEY
put() {
    local code
    code=$(curl -s -o "$WORK/put.out" -w '%{http_code}' -X PUT -T "$1" --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user S3RVER:S3RVER -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://127.0.0.1:$PORT/bkt/$2")
    [ "$code" = 200 ] || { cat "$WORK/put.out" >&2; fail "upload of $2: HTTP $code"; }
}

# Images: a raw disk of random data and holes; a qcow2 of it.
python3 - "$WORK/disk.raw" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.truncate(24 << 20)
    for off in (0, 5 << 20, 13 << 20, (24 << 20) - 65536):
        f.seek(off); f.write(os.urandom(65536))
PY
qemu-img convert -q -f raw -O qcow2 disk.raw disk.qcow2
# A qcow2 whose file is mostly freed clusters: 32 MiB written then
# discarded, 1 MiB kept.  An importer that downloads the object reads it
# all; one that follows the tables reads ~1 MiB.
qemu-img create -q -f qcow2 sparse.qcow2 1G
qemu-io -f qcow2 -c 'write -P 0xab 0 32M' -c 'write -P 0xcd 512M 1M' sparse.qcow2 >/dev/null
qemu-io -f qcow2 -c 'discard 0 32M' sparse.qcow2 >/dev/null
qemu-img convert -q -f qcow2 -O raw sparse.qcow2 sparse.ref
[ "$(stat -c %s sparse.qcow2)" -gt $((32 << 20)) ] || fail "sparse.qcow2 did not keep its freed clusters"

RAWKEY='raw/my disk+ü.raw'
RAWENC='raw/my%20disk%2B%C3%BC.raw'
QKEY='q/a+b ü (1).qcow2'
QENC='q/a%2Bb%20%C3%BC%20%281%29.qcow2'
put disk.raw "$RAWENC"
put disk.qcow2 "$QENC"
put sparse.qcow2 big/sparse.qcow2
put disk.raw flaky/disk.raw
write_secret secret S3RVER S3RVER
write_secret badsecret S3RVER not-the-secret -n

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
check_import raw-path-style "s3+http://127.0.0.1:$PPORT/bkt/$RAWENC" disk.raw
check_import qcow2-path-style "s3+http://127.0.0.1:$PPORT/bkt/$QENC" disk.raw
check_import raw-s3-endpoint "s3://bkt/$RAWKEY" disk.raw --s3-endpoint "http://127.0.0.1:$PPORT"
check_import qcow2-vhost "s3+http://bkt.s3.localhost:$PPORT/$QENC" disk.raw
check_import qcow2-s3-vhost-endpoint "s3://bkt/$QKEY" disk.raw \
    --s3-endpoint "http://s3.localhost:$PPORT" --s3-virtual-hosted
grep -q "GET /$QENC 206" proxy.log || fail "no virtual-hosted request reached the server"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
check_import qcow2-secret-dir "s3://bkt/$QKEY" disk.raw --s3-endpoint "http://127.0.0.1:$PPORT" \
    --s3-secret-dir "$WORK/secret" --s3-region eu-west-1

# 503 SlowDown twice (the front's "flaky" keys): retried, then imported.
check_import retry-503 "s3://bkt/flaky/disk.raw" disk.raw --s3-endpoint "http://127.0.0.1:$PPORT" \
    --s3-secret-dir "$WORK/secret"
[ "$(grep -c 'GET /bkt/flaky/disk.raw 503 SlowDown' proxy.log)" = 2 ] || fail "retry-503: not two 503s"

# Refusals: a clear message naming bucket and key, nothing written.
expect_refusal wrong-secret "s3://bkt/$RAWKEY" \
    "s3 'bkt/$RAWKEY' at http://127.0.0.1:$PPORT/bkt/$RAWENC: access denied: the server answered 403 (SignatureDoesNotMatch" \
    --s3-endpoint "http://127.0.0.1:$PPORT" --s3-secret-dir "$WORK/badsecret"
AWS_ACCESS_KEY_ID=NOBODY AWS_SECRET_ACCESS_KEY=S3RVER \
    expect_refusal wrong-access-key "s3://bkt/$RAWKEY" "access denied: the server answered 403 (InvalidAccessKeyId" \
    --s3-endpoint "http://127.0.0.1:$PORT"
expect_refusal missing-key "s3://bkt/raw/none.raw" \
    "s3 'bkt/raw/none.raw' at http://127.0.0.1:$PPORT/bkt/raw/none.raw: the server answered 404 (NoSuchKey" \
    --s3-endpoint "http://127.0.0.1:$PPORT" --s3-secret-dir "$WORK/secret"
expect_refusal bad-url "s3://bkt" "expected s3://BUCKET/KEY"
AWS_ACCESS_KEY_ID=S3RVER expect_refusal half-credentials "s3://bkt/$RAWKEY" \
    "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not" --s3-endpoint "http://127.0.0.1:$PPORT"

# Range reads: the sparse qcow2 through its tables.
size=$(stat -c %s sparse.qcow2)
"$IMPORTER" --url s3://bkt/big/sparse.qcow2 --s3-endpoint "http://127.0.0.1:$PPORT" \
    --s3-secret-dir "$WORK/secret" --dest sparse.out --progress none --debug importer.s3 \
    2>debug.log || { grep -v '^[*<>{}]' debug.log | tail -5 >&2; fail "sparse qcow2 import failed"; }
qemu-img compare -q -f raw -F raw sparse.ref sparse.out || fail "sparse qcow2: output differs from qemu-img's"
summary=$(grep -o '[0-9]* requests, [0-9]* bytes fetched of [0-9]*' debug.log | tail -1)
[ -n "$summary" ] || fail "no fetch summary in the debug log"
read -r nreq _ fetched _ _ _ total <<<"$summary"
[ "$total" = "$size" ] || fail "range: the object's size is $total, the file's $size"
[ "$fetched" -lt $((size / 8)) ] ||
    fail "range: fetched $fetched bytes of a $size-byte object (the freed clusters were downloaded)"
[ "$nreq" -gt 2 ] || fail "range: only $nreq requests"
if grep "GET /bkt/big/sparse.qcow2 " proxy.log | grep -qv ' 206 bytes='; then
    fail "range: a request for the object was not a 206 Range answer: $(grep 'sparse.qcow2' proxy.log | grep -v ' 206 bytes=' | head -1)"
fi
echo "ok  range-reads ($nreq Range GETs, $fetched of $size bytes)"

# TLS: a second s3rver over https (same objects) with a self-signed
# certificate: refused by default, trusted through --s3-ca-dir (CDI's cert
# directory: any file name).
mkdir -p certs
tls_cert tls.key certs/ca.crt
start_s3rver s3rver_tls https --key tls.key --cert certs/ca.crt
TPORT=$PORT_s3rver_tls
expect_refusal tls-untrusted "s3+https://127.0.0.1:$TPORT/bkt/$RAWENC" "SSL certificate problem" \
    --s3-secret-dir "$WORK/secret"
check_import tls-ca-dir "s3+https://127.0.0.1:$TPORT/bkt/$RAWENC" disk.raw \
    --s3-secret-dir "$WORK/secret" --s3-ca-dir "$WORK/certs"

# CDI's importer pod environment (paths moved by the test-only variables).
mkdir -p cdi/data
: >cdi/termination-log
run_cdi() {
    env -i PATH="$PATH" IMPORTER_SOURCE=s3 IMPORTER_CONTENTTYPE=kubevirt IMPORTER_IMAGE_SIZE=64Mi \
        PREALLOCATION=false FILESYSTEM_OVERHEAD=0 OWNER_UID=s3-uid \
        FERRY_CDI_DATA_DIR="$WORK/cdi/data" FERRY_CDI_BLOCK_PATH="$WORK/cdi/none" \
        FERRY_CDI_TERMINATION_LOG="$WORK/cdi/termination-log" FERRY_CDI_METRICS_PORT=0 \
        FERRY_CDI_METRICS_ADDRESS=127.0.0.1 "$@" "$IMPORTER" >"$WORK/cdi/out" 2>&1
}
# cdi_case NAME STATUS TERMINATION-PATTERN VAR=VALUE...: the importer as
# CDI's pod with those variables; its exit status and termination message
# (a grep pattern); with status 0, disk.img holds the image.
cdi_case() {
    local name="$1" want="$2" msg="$3" st=0; shift 3
    run_cdi "$@" || st=$?
    [ "$st" = "$want" ] || { cat cdi/out >&2; fail "$name: exit status $st, expected $want"; }
    grep -q -- "$msg" cdi/termination-log || fail "$name: termination message $(cat cdi/termination-log)"
    if [ "$want" = 0 ]; then
        cmp <(head -c $((24 << 20)) cdi/data/disk.img) disk.raw || fail "$name: disk.img differs"
    fi
    echo "ok  $name ($(cut -c1-100 cdi/termination-log))"
}
OK='^{"scratchSpaceRequired":false,"preallocationApplied":false,"message":"Import Complete"}$'
cdi_case cdi-s3 0 "$OK" IMPORTER_ENDPOINT="http://127.0.0.1:$PPORT/bkt/$QENC" \
    IMPORTER_ACCESS_KEY_ID=S3RVER IMPORTER_SECRET_KEY=S3RVER
[ "$(stat -c %s cdi/data/disk.img)" = $((64 << 20)) ] || fail "cdi-s3: disk.img is not the requested 64Mi"
cdi_case cdi-s3-denied 1 \
    "^Unable to connect to s3 data source: s3 'bkt/$QKEY' at .*: access denied: the server answered 403 (SignatureDoesNotMatch" \
    IMPORTER_ENDPOINT="http://127.0.0.1:$PPORT/bkt/$QENC" IMPORTER_ACCESS_KEY_ID=S3RVER \
    IMPORTER_SECRET_KEY=wrong
cdi_case cdi-s3-tls 0 "$OK" IMPORTER_ENDPOINT="https://127.0.0.1:$TPORT/bkt/$QENC" \
    IMPORTER_ACCESS_KEY_ID=S3RVER IMPORTER_SECRET_KEY=S3RVER IMPORTER_CERT_DIR="$WORK/certs"
finish_keep_going
