#!/bin/bash
# The corpus over HTTP from a real nginx on 127.0.0.1 (its own config, pid
# and port, killed on exit): /range/ serves Range requests (random-access
# formats read through them), /norange/ has `max_ranges 0` so that random
# access formats fall back to a scratch file (progress phase "scratch").
# Every image is checked; the failures are named at the end (issue 14).
FERRY_TEST_KEEP_GOING=1
. "$(dirname "$0")/lib.sh"
need nginx curl

NGX="$WORK/nginx"
mkdir -p "$NGX"
corpus_servers() {
    cat <<CONF
    server {
        listen 127.0.0.1:$NGX_PORT;
        location /range/ { alias $CORPUS/; }
        location /norange/ { alias $CORPUS/; max_ranges 0; }
    }
    server {
        listen 127.0.0.1:$NGX_PORT2 ssl;
        ssl_certificate $NGX/cert.pem;
        ssl_certificate_key $NGX/key.pem;
        location / { alias $CORPUS/; }
    }
CONF
}
# A self-signed certificate: TLS verification must refuse it.
tls_cert "$NGX/key.pem" "$NGX/cert.pem"
start_nginx corpus_servers /range/.done
PORT=$NGX_PORT
TLS_PORT=$NGX_PORT2
BASE="http://127.0.0.1:$PORT"
curl -sf -r 0-0 -o /dev/null -w '%{http_code}' "$BASE/range/scattered.raw" | grep -q 206 ||
    fail "nginx does not answer Range requests on /range/"
curl -sf -r 0-0 -o /dev/null -w '%{http_code}' "$BASE/norange/scattered.raw" | grep -q 200 ||
    fail "nginx answers Range requests on /norange/"

# Every corpus image over Range (the 4100 MiB ones below), and without
# Range: random-access formats through a scratch file, streams in one pass.
n=0
while IFS= read -r ref; do
    img="${ref#$CORPUS/}"; img="${img%.ref}"
    case "$img" in big.*) continue ;; esac
    name="$(echo "$img" | tr / _)"
    check_import "range-$name" "$BASE/range/$img" "$ref"
    check_import "norange-$name" "$BASE/norange/$img" "$ref"
    n=$((n + 1))
done < <(find "$CORPUS" -name '*.ref' | sort)
[ "$n" -ge 68 ] || fail "only $n corpus images over HTTP"
# twoGbMaxExtentSparse over Range (extents are siblings under the base URL).
check_import "range-big-twoGbMaxExtentSparse" "$BASE/range/big.twoGbMaxExtentSparse/disk.vmdk" "$CORPUS/big.raw"

# What the progress says: scratch for a random-access format without Range,
# fetching for a stream, converting with Range.
phases() {
    "$IMPORTER" --url "$1" --dest "$WORK/p.raw" --progress json | python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin]
assert lines[-1]["phase"] == "done", lines[-1]
print(" ".join(dict.fromkeys(l["phase"] for l in lines)))'
    rm -f "$WORK/p.raw"
}
p=$(phases "$BASE/norange/scattered.v3.qcow2"); echo "$p" | grep -q "scratch converting" || fail "no scratch phase: $p"
p=$(phases "$BASE/norange/scattered.streamOptimized/disk.vmdk"); echo "$p" | grep -q scratch && fail "streamOptimized used scratch: $p"
echo "$p" | grep -q fetching || fail "no fetching phase: $p"
p=$(phases "$BASE/range/scattered.v3.qcow2"); echo "$p" | grep -q scratch && fail "scratch despite Range: $p"
p=$(phases "$BASE/range/scattered.qcow2.ova"); echo "$p" | grep -q scratch && fail "scratch for a qcow2 in an OVA with Range: $p"
p=$(phases "$BASE/norange/scattered.qcow2.ova"); echo "$p" | grep -q scratch || fail "no scratch for a qcow2 in an OVA without Range: $p"
# Compression layers are peeled as a stream: raw inside each is never spooled.
for z in gz xz zst bz2; do
    p=$(phases "$BASE/norange/scattered.raw.$z"); echo "$p" | grep -q scratch && fail "raw.$z used scratch: $p"
    echo "$p" | grep -q fetching || fail "no fetching phase for raw.$z: $p"
done
p=$(phases "$BASE/norange/end.fixed.vhd.gz"); echo "$p" | grep -q scratch && fail "fixed VHD .gz used scratch: $p"
echo "ok  progress phases"
# A scratch file never stays behind.
ls -a "$WORK" | grep -q ferry-scratch && fail "scratch file left in $WORK"

# Checksums over HTTP: of the fetched bytes.
sum=$(sha256sum "$CORPUS/scattered.c.qcow2" | cut -d' ' -f1)
check_import "checksum-http" "$BASE/range/scattered.c.qcow2" "$CORPUS/scattered.c.qcow2.ref" --checksum "sha256:$sum"
expect_refusal "checksum-http-mismatch" "$BASE/norange/scattered.c.qcow2" "checksum mismatch" \
    --checksum "sha256:$(printf '0%.0s' $(seq 64))"

# Errors: 404, a VMDK whose extent leaves the base URL.
expect_refusal "http-404" "$BASE/range/missing.qcow2" "404"
mkdir -p "$CORPUS/escape"
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 FLAT "../scattered.raw" 0\n' >"$CORPUS/escape/up.vmdk"
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 FLAT "%%2e%%2e/scattered.raw" 0\n' >"$CORPUS/escape/enc.vmdk"
printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 FLAT "http://127.0.0.1:1/x" 0\n' >"$CORPUS/escape/url.vmdk"
expect_refusal "http-extent-dotdot" "$BASE/range/escape/up.vmdk" "leaves the directory"
expect_refusal "http-extent-encoded" "$BASE/range/escape/enc.vmdk" "404"
expect_refusal "http-extent-url" "$BASE/range/escape/url.vmdk" "vmdk extent"
# TLS is verified: a self-signed server is refused (curl -k proves it serves).
curl -skf -o /dev/null "https://127.0.0.1:$TLS_PORT/scattered.raw" || fail "nginx does not serve https"
expect_refusal "https-self-signed" "https://127.0.0.1:$TLS_PORT/scattered.v3.qcow2" "SSL certificate problem"
finish_keep_going
echo "http: all passed"
