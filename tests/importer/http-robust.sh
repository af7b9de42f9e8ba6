#!/bin/bash
# Issue 15: the http source grown up, against a real nginx on 127.0.0.1 (its
# own config, pid and port, killed on exit) and cutproxy.py in front of it
# (a relay written for these tests: nginx alone cannot cut a connection at
# a random offset, nor answer 503 twice and then serve):
#   resume     20 cuts at random offsets, random access (4 and 1
#              connections) and streams (qcow2 through a scratch file with
#              --checksum, gzip): right bytes (qemu-img compare), sha256;
#   changed    the file replaced at the first cut: 200 to If-Range, the
#              import starts over (logged) and ends with the new bytes;
#   novalid    no ETag nor Last-Modified (nginx proxying itself): a cut
#              mid-body starts the import over (logged);
#   retries    503 + Retry-After (seconds, HTTP-date) then success; 429 to
#              the bound: a clear error, nothing left; --retry-time;
#   auth       basic auth from a secret directory (accessKeyId, secretKey);
#   headers    --header and --header-dir received (nginx's access log);
#   CA         a self-signed TLS nginx trusted only through --cert-dir;
#   proxies    http_proxy and HTTP_PROXY, https_proxy and HTTPS_PROXY,
#              no_proxy and NO_PROXY, --proxy (cutproxy.py as the proxy).
. "$(dirname "$0")/lib.sh"
need nginx curl openssl sha256sum gzip
PROXY_PY="$HERE/cutproxy.py"

D="$WORK/data"
NGX="$WORK/nginx"
mkdir -p "$D" "$NGX/logs" "$NGX/tmp"

# A 40 MiB disk: data, a hole, data.
python3 - "$D/data.raw" <<'PY'
import random, sys
r = random.Random(15)
with open(sys.argv[1], "wb") as f:
    f.write(r.randbytes(20 << 20))
    f.write(bytes(8 << 20))
    f.write(r.randbytes(12 << 20))
PY
qemu-img convert -f raw -O qcow2 "$D/data.raw" "$D/data.qcow2"
gzip -1 -c "$D/data.raw" >"$D/data.raw.gz"
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(16).randbytes(6 << 20))' >"$D/small.raw"
RAW_SUM=$(sha256sum <"$D/data.raw" | cut -d' ' -f1)

# TLS: a self-signed certificate for 127.0.0.1, trusted only via --cert-dir.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$NGX/key.pem" -out "$NGX/cert.pem" 2>/dev/null ||
    fail "openssl req"
printf 'ferry:%s\n' "$(openssl passwd -apr1 's3cret pass')" >"$NGX/htpasswd"

# The files under /d/ (and /auth/ behind basic auth, /novalid/ without a
# validator) on $NGX_PORT, the same over TLS on $NGX_PORT2; the access log
# shows the user and headers each request came with.
robust_servers() {
    cat <<CONF
    log_format ferry '\$request_method \$uri status=\$status user=\$remote_user one=\$http_x_ferry_one two=\$http_x_ferry_two range=\$http_range ifrange=\$http_if_range';
    server {
        listen 127.0.0.1:$NGX_PORT;
        access_log $NGX/logs/access.log ferry;
        location /d/ { alias $D/; }
        location /auth/ { alias $D/; auth_basic "ferry"; auth_basic_user_file $NGX/htpasswd; }
        # The same files without a validator (nginx in front of itself).
        location /novalid/ {
            proxy_pass http://127.0.0.1:$NGX_PORT/d/;
            proxy_hide_header ETag;
            proxy_hide_header Last-Modified;
        }
    }
    server {
        listen 127.0.0.1:$NGX_PORT2 ssl;
        access_log $NGX/logs/access.log ferry;
        ssl_certificate $NGX/cert.pem;
        ssl_certificate_key $NGX/key.pem;
        location /d/ { alias $D/; }
    }
CONF
}
NGX_WORKER_CONNECTIONS=256 start_nginx robust_servers /d/small.raw
PORT=$NGX_PORT
TPORT=$NGX_PORT2
BASE="http://127.0.0.1:$PORT"

# start_proxy NAME [cutproxy options]: PROXY_PORT, PROXY_PID; the log of
# request lines is $WORK/NAME.log, the count of cuts $WORK/NAME.cuts.
start_proxy() {
    local name="$1"; shift
    rm -f "$WORK/$name.port" "$WORK/$name.log" "$WORK/$name.cuts"
    python3 "$PROXY_PY" --upstream "127.0.0.1:$PORT" --port-file "$WORK/$name.port" \
        --log "$WORK/$name.log" --count-file "$WORK/$name.cuts" "$@" &
    PROXY_PID=$!
    PIDS="$PIDS $PROXY_PID"
    for i in $(seq 50); do
        [ -s "$WORK/$name.port" ] && { PROXY_PORT=$(cat "$WORK/$name.port"); return 0; }
        sleep 0.1
    done
    fail "cutproxy.py $name did not start"
}
stop_proxy() { kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; }

# import NAME URL [args]: into $WORK/NAME.raw, stderr in $WORK/NAME.err.
import() {
    local name="$1" url="$2"; shift 2
    rm -f "$WORK/$name.raw"
    "$IMPORTER" --url "$url" --dest "$WORK/$name.raw" --progress none "$@" 2>"$WORK/$name.err"
}
# same_bytes NAME ORIGINAL FORMAT RAW: qemu-img compare and the sha256 of RAW.
same_bytes() {
    local name="$1" orig="$2" fmt="$3" raw="$4"
    qemu-img compare -q -f "$fmt" -F raw "$orig" "$WORK/$name.raw" ||
        fail "$name: qemu-img compare: the import differs from $orig"
    [ "$(sha256sum <"$WORK/$name.raw" | cut -d' ' -f1)" = "$(sha256sum <"$raw" | cut -d' ' -f1)" ] ||
        fail "$name: the sha256 of the import is not that of $raw"
}
nothing_left() {
    local name="$1"
    [ ! -e "$WORK/$name.raw" ] || fail "$name: a destination exists after the failure"
    ! ls "$WORK/$name".raw.tmp-* >/dev/null 2>&1 || fail "$name: a temporary file is left"
}

# ---- resume: 20 cuts at random offsets ---------------------------------------
# cuts NAME FILE ORACLE FORMAT [importer args]: a fresh proxy that cuts the
# first 20 transfers after 1 byte to 1 MiB (FIN or RST at random); the
# import must be ORACLE (of FORMAT) for qemu-img compare.
cuts() {
    local name="$1" file="$2" oracle="$3" fmt="$4"; shift 4
    start_proxy "$name" --cuts 20 --cut-min 1 --cut-max $((1 << 20)) --seed "$RANDOM"
    import "$name" "http://127.0.0.1:$PROXY_PORT/d/$file" --debug importer.http "$@" ||
        { cat "$WORK/$name.err" >&2; fail "$name: the import failed"; }
    stop_proxy
    [ "$(cat "$WORK/$name.cuts" 2>/dev/null)" = 20 ] ||
        fail "$name: the proxy cut $(cat "$WORK/$name.cuts" 2>/dev/null || echo 0) times, not 20"
    same_bytes "$name" "$D/$oracle" "$fmt" "$D/data.raw"
    grep -q "resuming at byte [0-9]* with If-Range" "$WORK/$name.err" ||
        { cat "$WORK/$name.err" >&2; fail "$name: no resume logged"; }
    grep -q "starting the import over" "$WORK/$name.err" &&
        { cat "$WORK/$name.err" >&2; fail "$name: restarted instead of resuming"; }
    echo "ok  $name (20 cuts, $(grep -c 'resuming at byte' "$WORK/$name.err") resumed mid-body)"
}
cuts cut-qcow2-4conn data.qcow2 data.qcow2 qcow2
cuts cut-raw-1conn data.raw data.raw raw --connections 1
cuts cut-qcow2-stream data.qcow2 data.qcow2 qcow2 --checksum "sha256:$(sha256sum <"$D/data.qcow2" | cut -d' ' -f1)"
cuts cut-gzip-stream data.raw.gz data.raw raw --checksum "sha256:$(sha256sum <"$D/data.raw.gz" | cut -d' ' -f1)"
cuts cut-raw-stream-1conn data.raw data.raw raw --connections 1 --checksum "sha256:$RAW_SUM"

# restarted NAME PATH REF WARNING [proxy options]: one cut at 2-3 MiB into
# the import of /PATH through the proxy; the importer logs WARNING (a grep
# pattern, what comes before "starting the import over"), starts over from
# byte 0 and ends with REF's bytes.
restarted() {
    local name="$1" path="$2" ref="$3" warning="$4"; shift 4
    start_proxy "$name" --cuts 1 --cut-min $((2 << 20)) --cut-max $((3 << 20)) "$@"
    import "$name" "http://127.0.0.1:$PROXY_PORT/$path" --connections 2 ||
        { cat "$WORK/$name.err" >&2; fail "$name: the import failed"; }
    stop_proxy
    [ "$(cat "$WORK/$name.cuts")" = 1 ] || fail "$name: no cut"
    grep -q "warning: .*${warning}starting the import over from byte 0 (1 of 3)" "$WORK/$name.err" ||
        { cat "$WORK/$name.err" >&2; fail "$name: the restart is not logged"; }
    same_bytes "$name" "$ref" raw "$ref"
}

# ---- the file changes while it is read: 200 to If-Range, start over ---------
cp "$D/data.raw" "$D/changing.raw"
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(17).randbytes(40 << 20))' >"$D/new.raw"
touch -d '2020-01-01 00:00:00' "$D/new.raw"
cp "$D/new.raw" "$WORK/new.ref"
restarted changed d/changing.raw "$WORK/new.ref" \
    "the file changed on the server (200 to a Range request with If-Range .*" \
    --swap "$D/new.raw" "$D/changing.raw"
echo "ok  changed (200 to If-Range: started over, the new bytes)"

# ---- no validator: a cut mid-body cannot be resumed safely, start over ------
curl -sfI -r 0-0 "$BASE/novalid/data.raw" | grep -qi '^etag\|^last-modified' &&
    fail "novalid: nginx still sends a validator"
restarted novalid novalid/data.raw "$D/data.raw" \
    "after [0-9]* bytes, and the server gave no validator (strong ETag, Last-Modified) to resume safely: "
echo "ok  novalid (no validator: a cut restarts from byte 0, logged)"

# ---- retries -----------------------------------------------------------------
start_proxy busy --fail-first 2 --status 503 --retry-after 1
import busy "http://127.0.0.1:$PROXY_PORT/d/small.raw" ||
    { cat "$WORK/busy.err" >&2; fail "busy: the import failed"; }
stop_proxy
[ "$(grep -c "warning: http '.*': the server answered 503: retry [12] of 10 in 1.0 s (Retry-After)" "$WORK/busy.err")" = 2 ] ||
    { cat "$WORK/busy.err" >&2; fail "busy: two retries after Retry-After: 1 are not logged"; }
cmp -s "$WORK/busy.raw" "$D/small.raw" || fail "busy: wrong bytes"
echo "ok  busy (503 + Retry-After twice, then success)"

start_proxy busy-date --fail-first 1 --status 503 --retry-after-date 2
import busy-date "http://127.0.0.1:$PROXY_PORT/d/small.raw" ||
    { cat "$WORK/busy-date.err" >&2; fail "busy-date: the import failed"; }
stop_proxy
grep -q "the server answered 503: retry 1 of 10 in [1-3]\.0 s (Retry-After)" "$WORK/busy-date.err" ||
    { cat "$WORK/busy-date.err" >&2; fail "busy-date: the HTTP-date Retry-After is not honoured"; }
cmp -s "$WORK/busy-date.raw" "$D/small.raw" || fail "busy-date: wrong bytes"
echo "ok  busy-date (Retry-After as an HTTP-date)"

start_proxy flaky --fail-first 2 --status 502
import flaky "http://127.0.0.1:$PROXY_PORT/d/small.raw" ||
    { cat "$WORK/flaky.err" >&2; fail "flaky: the import failed"; }
stop_proxy
grep -q "the server answered 502: retry 2 of 10 in [1-2]\.[0-9] s$" "$WORK/flaky.err" ||
    { cat "$WORK/flaky.err" >&2; fail "flaky: no exponential backoff logged"; }
echo "ok  flaky (502 twice: backoff with jitter, then success)"

st=0
start_proxy limited --fail-first 1000 --status 429 --retry-after 1
import limited "http://127.0.0.1:$PROXY_PORT/d/small.raw" --retries 2 || st=$?
stop_proxy
[ "$st" = 1 ] || { cat "$WORK/limited.err" >&2; fail "limited: exit status $st, expected 1"; }
[ "$(grep -c 'warning: .*answered 429: retry' "$WORK/limited.err")" = 2 ] ||
    { cat "$WORK/limited.err" >&2; fail "limited: not 2 retries logged"; }
grep -q "error: http '.*small.raw': the server answered 429: gave up after 2 retries in [0-9]* s (--retries 2)$" "$WORK/limited.err" ||
    { cat "$WORK/limited.err" >&2; fail "limited: no clear error"; }
nothing_left limited
echo "ok  limited (429 to the bound: $(grep error: "$WORK/limited.err" | cut -c1-120))"

st=0
start_proxy slow --fail-first 1000 --status 503 --retry-after 100
import slow "http://127.0.0.1:$PROXY_PORT/d/small.raw" --retry-time 5 || st=$?
stop_proxy
[ "$st" = 1 ] || fail "slow: exit status $st, expected 1"
grep -q "error: .*the server answered 503: gave up after 0 retries in 0 s: the next in 100 s would pass --retry-time 5$" "$WORK/slow.err" ||
    { cat "$WORK/slow.err" >&2; fail "slow: --retry-time is not the bound"; }
nothing_left slow
echo "ok  slow (Retry-After beyond --retry-time: refused at once)"

# A connection refused, retried: nothing listens on the port.
st=0
import refused "http://127.0.0.1:$(free_port)/d/small.raw" --retries 1 || st=$?
[ "$st" = 1 ] && grep -q "retry 1 of 1 in" "$WORK/refused.err" &&
    grep -q "gave up after 1 retry in" "$WORK/refused.err" ||
    { cat "$WORK/refused.err" >&2; fail "refused: a refused connection is not retried"; }
nothing_left refused
echo "ok  refused (connection refused: retried, then a clear error)"

# ---- basic auth from a secret directory ------------------------------------
mkdir -p "$WORK/secret"
printf 'ferry\n' >"$WORK/secret/accessKeyId"
printf 's3cret pass' >"$WORK/secret/secretKey"
import auth "$BASE/auth/small.raw" --http-secret-dir "$WORK/secret" ||
    { cat "$WORK/auth.err" >&2; fail "auth: the import failed"; }
cmp -s "$WORK/auth.raw" "$D/small.raw" || fail "auth: wrong bytes"
grep -q "/auth/small.raw status=206 user=ferry" "$NGX/logs/access.log" || fail "auth: nginx saw no user"
st=0
import noauth "$BASE/auth/small.raw" || st=$?
[ "$st" = 1 ] && grep -q "error: http '.*': the server answered 401$" "$WORK/noauth.err" ||
    { cat "$WORK/noauth.err" >&2; fail "noauth: 401 is not a clear error"; }
nothing_left noauth
st=0
import auth-missing "$BASE/auth/small.raw" --http-secret-dir "$WORK/nonexistent" || st=$?
[ "$st" = 1 ] && grep -q "nonexistent/accessKeyId" "$WORK/auth-missing.err" ||
    { cat "$WORK/auth-missing.err" >&2; fail "auth-missing: the missing secret file is not named"; }
echo "ok  auth (basic auth from accessKeyId/secretKey; 401 without)"

# ---- extra headers -----------------------------------------------------------
mkdir -p "$WORK/hdrs/secret0" "$WORK/hdrs/.hidden"
printf 'X-Ferry-Two: from the secret\n' >"$WORK/hdrs/secret0/key"
printf 'X-Ferry-Two: never\n' >"$WORK/hdrs/.hidden/key"
: >"$NGX/logs/access.log.mark"
lines=$(wc -l <"$NGX/logs/access.log")
import headers "$BASE/d/data.qcow2" --header 'X-Ferry-One: one' --header-dir "$WORK/hdrs" ||
    { cat "$WORK/headers.err" >&2; fail "headers: the import failed"; }
same_bytes headers "$D/data.qcow2" qcow2 "$D/data.raw"
tail -n +$((lines + 1)) "$NGX/logs/access.log" >"$WORK/headers.log"
[ -s "$WORK/headers.log" ] || fail "headers: no request logged"
! grep -v "one=one two=from the secret " "$WORK/headers.log" ||
    fail "headers: a request without both extra headers"
st=0
"$IMPORTER" --url "$BASE/d/small.raw" --dest "$WORK/bad.raw" --header 'Bad Header' 2>"$WORK/bad.err" || st=$?
[ "$st" = 2 ] && grep -q "header 'Bad Header': expected one line 'NAME: VALUE'" "$WORK/bad.err" ||
    { cat "$WORK/bad.err" >&2; fail "bad-header: not refused"; }
echo "ok  headers ($(wc -l <"$WORK/headers.log") requests, each with --header and --header-dir's)"

# ---- CA certificates added to the system roots -------------------------------
TBASE="https://127.0.0.1:$TPORT"
st=0
import tls-untrusted "$TBASE/d/small.raw" --retries 0 || st=$?
[ "$st" = 1 ] && grep -qi "certificate" "$WORK/tls-untrusted.err" ||
    { cat "$WORK/tls-untrusted.err" >&2; fail "tls-untrusted: a self-signed server is not refused"; }
mkdir -p "$WORK/certs"
cp "$NGX/cert.pem" "$WORK/certs/ca.crt"
echo "not a certificate" >"$WORK/certs/readme"
import tls "$TBASE/d/data.qcow2" --cert-dir "$WORK/certs" ||
    { cat "$WORK/tls.err" >&2; fail "tls: the import with --cert-dir failed"; }
same_bytes tls "$D/data.qcow2" qcow2 "$D/data.raw"
grep -q "warning: cert dir '.*/certs': 'readme' holds no PEM certificate: ignored" "$WORK/tls.err" ||
    { cat "$WORK/tls.err" >&2; fail "tls: the file without certificate is not named"; }
# The system roots stay: the bundle handed to curl holds them and ours.
sys_bundle=$(curl-config --ca 2>/dev/null || true)
if [ -s "$sys_bundle" ]; then
    import tls-debug "$TBASE/d/small.raw" --cert-dir "$WORK/certs" --debug importer.curl ||
        fail "tls-debug: import failed"
    grep -q "CA bundle: [1-9][0-9]* system certificates and 1 from" "$WORK/tls-debug.err" ||
        { cat "$WORK/tls-debug.err" >&2; fail "tls-debug: the system roots are not in the bundle"; }
fi
echo "ok  tls (a self-signed CA only in --cert-dir, added to the system roots)"

# ---- proxies -------------------------------------------------------------------
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY no_proxy NO_PROXY all_proxy ALL_PROXY
start_proxy fwd
P="http://127.0.0.1:$PROXY_PORT"
# via_proxy NAME URL EXPECT(yes|no) [env assignments...]
via_proxy() {
    local name="$1" url="$2" expect="$3"; shift 3
    local before=0
    [ -f "$WORK/fwd.log" ] && before=$(wc -l <"$WORK/fwd.log")
    env "$@" "$IMPORTER" --url "$url" --dest "$WORK/$name.raw" --progress none --retries 1 \
        --cert-dir "$WORK/certs" 2>"$WORK/$name.err" ||
        { cat "$WORK/$name.err" >&2; fail "$name: the import failed"; }
    cmp -s "$WORK/$name.raw" "$D/small.raw" || fail "$name: wrong bytes"
    local after=0
    [ -f "$WORK/fwd.log" ] && after=$(wc -l <"$WORK/fwd.log")
    if [ "$expect" = yes ]; then
        [ "$after" -gt "$before" ] || fail "$name: the request did not go through the proxy"
    else
        [ "$after" = "$before" ] || fail "$name: the request went through the proxy"
    fi
    echo "ok  $name (proxy: $expect)"
}
# A host that does not resolve: only the proxy can reach it.
via_proxy proxy-lower "http://ferry-test.invalid:$PORT/d/small.raw" yes http_proxy="$P"
grep -q "^GET http://ferry-test.invalid:$PORT/d/small.raw HTTP/1.1" "$WORK/fwd.log" ||
    fail "proxy-lower: the proxy saw no absolute-URI request"
via_proxy proxy-upper "http://ferry-test.invalid:$PORT/d/small.raw" yes HTTP_PROXY="$P"
via_proxy proxy-https-lower "$TBASE/d/small.raw" yes https_proxy="$P"
via_proxy proxy-https-upper "$TBASE/d/small.raw" yes HTTPS_PROXY="$P"
grep -q "^CONNECT 127.0.0.1:$TPORT HTTP/1.1" "$WORK/fwd.log" || fail "proxy-https: no CONNECT"
via_proxy noproxy-lower "$BASE/d/small.raw" no http_proxy="$P" no_proxy=127.0.0.1
via_proxy noproxy-upper "$BASE/d/small.raw" no HTTP_PROXY="$P" NO_PROXY=localhost,127.0.0.1
via_proxy noproxy-https "$TBASE/d/small.raw" no HTTPS_PROXY="$P" NO_PROXY='*'
# The options over the environment.
before=$(wc -l <"$WORK/fwd.log")
import proxy-option "http://ferry-test.invalid:$PORT/d/small.raw" --proxy "$P" ||
    { cat "$WORK/proxy-option.err" >&2; fail "proxy-option: the import failed"; }
[ "$(wc -l <"$WORK/fwd.log")" -gt "$before" ] || fail "proxy-option: not through the proxy"
before=$(wc -l <"$WORK/fwd.log")
http_proxy="$P" import noproxy-option "$BASE/d/small.raw" --no-proxy 127.0.0.1 ||
    { cat "$WORK/noproxy-option.err" >&2; fail "noproxy-option: the import failed"; }
[ "$(wc -l <"$WORK/fwd.log")" = "$before" ] || fail "noproxy-option: through the proxy"
echo "ok  proxy-option, noproxy-option (--proxy, --no-proxy)"
stop_proxy
echo "PASS"
