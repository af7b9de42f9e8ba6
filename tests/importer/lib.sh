# Shared helpers for the importer tests (sourced).  The corpus is built once
# per ctest run by corpus.sh (the importer-corpus fixture) into
# $FERRY_BUILD/tests/importer-corpus; each test works in its own temp dir.
set -eu
: "${FERRY_BIN:?FERRY_BIN not set (run through ctest)}"
: "${FERRY_BUILD:?FERRY_BUILD not set}"
IMPORTER="$FERRY_BIN/ferry-importer"
export FERRY_LOG_FORMAT=text
CORPUS="$FERRY_BUILD/tests/importer-corpus"
HERE="$(cd "$(dirname "$0")" && pwd)"

skip() { echo "SKIP: $*"; exit 77; }
# FERRY_TEST_KEEP_GOING=1 (by hand, e.g. against an older binary): report
# every failure and go on, to see which cases a change makes pass.
# The corpus tests (local.sh, http.sh) set it themselves: every image is
# checked, each mismatch named, and finish_keep_going fails at the end.
FAILED=0
FAILED_NAMES=""
if [ "${FERRY_TEST_KEEP_GOING:-}" = 1 ]; then
    fail() {
        echo "FAIL: $*" >&2
        FAILED=$((FAILED + 1))
        case " $FAILED_NAMES " in *" ${1%%:*} "*) ;; *) FAILED_NAMES="$FAILED_NAMES ${1%%:*}" ;; esac
        return 0
    }
else
    fail() { echo "FAIL: $*" >&2; exit 1; }
fi
need() { for t in "$@"; do command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"; done; }

[ -x "$IMPORTER" ] || { echo "FAIL: $IMPORTER is missing" >&2; exit 1; }
need qemu-img cmp du python3

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-importer-test.XXXXXX")"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The end of a keep-going test: fail naming every case that failed.
finish_keep_going() {
    if [ "$FAILED" -gt 0 ]; then
        echo "FAIL: $FAILED failure(s) in:$FAILED_NAMES" >&2
        exit 1
    fi
}

# allocated KiB of a file
alloc_kb() { du -k "$1" | cut -f1; }

# check_import NAME URL REF [extra importer args...]: import, compare with REF
# (a raw file from qemu-img convert -O raw), check sparseness.
check_import() {
    local name="$1" url="$2" ref="$3"; shift 3
    local out="$WORK/out-$name.raw" before=$FAILED
    rm -f "$out"
    if ! "$IMPORTER" --url "$url" --dest "$out" --progress none "$@" 2>"$WORK/err"; then
        cat "$WORK/err" >&2
        fail "$name: import of $url failed"
        return 0
    fi
    if [ "$(stat -c %s "$ref")" -gt $((1 << 30)) ]; then
        # Big sparse disks: qemu-img compare reads only what is allocated.
        [ "$(stat -c %s "$ref")" = "$(stat -c %s "$out")" ] || fail "$name: size differs"
        qemu-img compare -q -f raw -F raw "$ref" "$out" || fail "$name: output differs from qemu-img's"
    else
        cmp "$ref" "$out" >/dev/null ||
            fail "$name: output differs from qemu-img's ($(cmp "$ref" "$out" 2>&1 | head -1))"
    fi
    local a r
    a=$(alloc_kb "$out"); r=$(alloc_kb "$ref")
    [ "$a" -le $((r + 256)) ] || fail "$name: not sparse: $a KiB allocated, qemu-img's $r KiB"
    ls "$WORK"/out-"$name".raw.tmp-* >/dev/null 2>&1 && fail "$name: temporary file left"
    rm -f "$out"
    [ "$FAILED" = "$before" ] && echo "ok  $name"
    return 0
}

# expect_refusal NAME URL MESSAGE [extra args]: fails, names MESSAGE, no destination.
expect_refusal() {
    local name="$1" url="$2" msg="$3"; shift 3
    local out="$WORK/refused-$name.raw" st=0
    rm -f "$out"
    "$IMPORTER" --url "$url" --dest "$out" --progress none "$@" 2>"$WORK/err" || st=$?
    [ "$st" != 0 ] || fail "$name: import of $url succeeded; expected an error with '$msg'"
    check_refusal "$name" "$msg" "$st"
}

# check_refusal NAME MESSAGE STATUS: the importer that wrote
# $WORK/refused-NAME.raw exited with STATUS and stderr $WORK/err: status 1,
# one error line naming MESSAGE, no destination nor temporary file.
check_refusal() {
    local name="$1" msg="$2" st="$3"
    local out="$WORK/refused-$name.raw"
    [ "$st" = 1 ] || { cat "$WORK/err" >&2; fail "$name: exit status $st, expected 1"; }
    grep -q -- "$msg" "$WORK/err" || { cat "$WORK/err" >&2; fail "$name: error does not say '$msg'"; }
    [ ! -e "$out" ] || fail "$name: a destination exists after the failure"
    ls "$out".tmp-* >/dev/null 2>&1 && fail "$name: temporary file left after the failure"
    [ "$(wc -l <"$WORK/err")" -eq 1 ] || { cat "$WORK/err" >&2; fail "$name: more than one error line"; }
    echo "ok  $name (refused: $(cut -c1-140 "$WORK/err"))"
}

# Tests that make their own images set FERRY_NO_CORPUS=1 before sourcing.
[ "${FERRY_NO_CORPUS:-}" = 1 ] || [ -f "$CORPUS/.done" ] || { echo "FAIL: the corpus is missing: run the importer-corpus test first" >&2; exit 1; }

# wait_until PID TRIES CMD...: run CMD every 0.1 s, at most TRIES times, while
# PID lives; true once CMD succeeds.
wait_until() {
    local pid="$1" tries="$2" i; shift 2
    for i in $(seq "$tries"); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start_standin NAME SCRIPT [args]: python3 $HERE/SCRIPT, a loopback stand-in
# that writes its port to --port-file $WORK/NAME.port and its requests to
# --log $WORK/NAME.log (stderr: $WORK/NAME.err); sets PORT_NAME.
start_standin() {
    local name="$1" script="$2"; shift 2
    python3 "$HERE/$script" --port-file "$WORK/$name.port" --log "$WORK/$name.log" "$@" \
        2>"$WORK/$name.err" &
    PIDS="$PIDS $!"
    wait_until "$!" 100 test -s "$WORK/$name.port" ||
        { cat "$WORK/$name.err" >&2; fail "$name server did not start"; }
    eval "PORT_$name=$(cut -d' ' -f1 "$WORK/$name.port")"
}

# tls_cert KEY CERT: a self-signed certificate for 127.0.0.1 (CN and
# subjectAltName).
tls_cert() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
        -addext "subjectAltName=IP:127.0.0.1" -keyout "$1" -out "$2" 2>/dev/null ||
        fail "openssl req"
}

# write_secret DIR USER PASSWORD [-n]: a source's credentials as CDI's secret
# mounts them (files accessKeyId and secretKey; -n: without the final newline).
write_secret() {
    local fmt='%s\n'
    [ "${4:-}" = -n ] && fmt='%s'
    mkdir -p "$1"
    printf "$fmt" "$2" >"$1/accessKeyId"
    printf "$fmt" "$3" >"$1/secretKey"
}

# free_port: a TCP port that is free on 127.0.0.1 now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_nginx SERVERS PROBE: nginx with its own config, pid and logs in $NGX
# (default $WORK/nginx), whose http { } holds the server blocks that the
# function SERVERS prints for the free ports $NGX_PORT and $NGX_PORT2; up
# once http://127.0.0.1:$NGX_PORT$PROBE answers (a few tries: a port may be
# taken between free_port and the bind).  $NGX_WORKER_CONNECTIONS (default
# 64) bounds its connections.  Sets NGINX_PID.
start_nginx() {
    local servers="$1" probe="$2" attempt
    : "${NGX:=$WORK/nginx}"
    mkdir -p "$NGX/logs" "$NGX/tmp"
    for attempt in 1 2 3 4 5; do
        NGX_PORT=$(free_port)
        NGX_PORT2=$(free_port)
        {
            cat <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log;
events { worker_connections ${NGX_WORKER_CONNECTIONS:-64}; }
http {
    access_log off;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
CONF
            "$servers"
            echo "}"
        } >"$NGX/nginx.conf"
        nginx -p "$NGX" -c "$NGX/nginx.conf" 2>>"$NGX/logs/start.log" &
        NGINX_PID=$!
        PIDS="$PIDS $NGINX_PID"
        wait_until "$NGINX_PID" 50 curl -sf -o /dev/null "http://127.0.0.1:$NGX_PORT$probe" &&
            return 0
        kill "$NGINX_PID" 2>/dev/null || true
    done
    cat "$NGX/logs/"*.log >&2
    fail "nginx did not start"
}
