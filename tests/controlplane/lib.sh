# Shared by the control plane's integration tests: a private state
# directory, an nginx on 127.0.0.1 serving $T/www, ferry-controller runs, and
# a cleanup trap that kills every process started here by pid.
set -u

: "${FERRY_BIN:?FERRY_BIN must point at the build's bin directory}"
FERRY="$FERRY_BIN/ferry"
T=$(mktemp -d /tmp/ferry-cp.XXXXXX)
export FERRY_STATE_DIR="$T/state"
export FERRY_LOG_FORMAT=text
mkdir -p "$FERRY_STATE_DIR" "$T/www"
chmod 755 "$T" "$T/www"   # nginx workers run as another user
PIDS=""
NGINX_PID=""
CTL_PID=""

cleanup() {
    for p in $CTL_PID $PIDS; do kill -9 "$p" 2>/dev/null; done
    if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null; fi
    [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid" 2>/dev/null)" 2>/dev/null
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; [ -f "$T/controller.log" ] && tail -30 "$T/controller.log" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
need_importer() { [ -x "$FERRY_BIN/ferry-importer" ] || skip "ferry-importer is not built"; }

# A port nobody listens on (bind test with python, else a random high one).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 20000))
}

# start_nginx [SERVERS]: nginx on 127.0.0.1:$PORT serving $T/www (and
# $T/www under /slow/ at $LIMIT_RATE bytes/s), and in its http { } the server
# blocks SERVERS (nginx.conf text: a test's servers with auth_basic, ssl or
# header checks, on ports of its own).  Sets NGINX_PID.
start_nginx() {
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || skip "nginx is not installed"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    PORT=$(free_port)
    mkdir -p "$T/nginx-tmp"
    cat > "$T/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $T/nginx-tmp;
    proxy_temp_path $T/nginx-tmp;
    fastcgi_temp_path $T/nginx-tmp;
    uwsgi_temp_path $T/nginx-tmp;
    scgi_temp_path $T/nginx-tmp;
    # Slow enough that a test can kill the controller mid-import.
    server { listen 127.0.0.1:$PORT; root $T/www; location /slow/ { alias $T/www/; limit_rate \${LIMIT_RATE}; } }
${1:-}
}
CONF
    sed -i "s/\${LIMIT_RATE}/${LIMIT_RATE:-0}/" "$T/nginx.conf"
    "$NGINX" -c "$T/nginx.conf" -p "$T" 2>"$T/nginx-start.log" &
    NGINX_PID=$!
    for _ in $(seq 50); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null ||
           curl -sS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    cat "$T/nginx-start.log" >&2
    fail "nginx did not start"
}

start_controller() {
    "$FERRY_BIN/ferry-controller" --state-dir "$FERRY_STATE_DIR" --resync 2000 "$@" \
        >>"$T/controller.log" 2>&1 &
    CTL_PID=$!
    # read-only verbs refuse a state directory without a store: wait for it
    wait_for 30 test -s "$FERRY_STATE_DIR/ferry.db" || fail "the controller made no store"
}

kill_controller() {
    [ -n "$CTL_PID" ] && kill -9 "$CTL_PID" 2>/dev/null
    wait "$CTL_PID" 2>/dev/null
    CTL_PID=""
}

# jsonpath-ish field of an object: field KIND NAME PATH (dotted)
field() {
    "$FERRY" get "$1" "$2" -o json 2>/dev/null |
        python3 -c 'import json,sys
o=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    o=o.get(k) if isinstance(o,dict) else None
print("" if o is None else (json.dumps(o) if isinstance(o,(dict,list)) else o))' "$3"
}

# start_s3rver FILE KEY: a real s3rver (scripts/install-deps.sh puts it
# under /opt/ferry-npm) on 127.0.0.1:$S3PORT, FILE uploaded as bkt/KEY;
# false when there is no s3rver or node, for the test to say what it skips.
start_s3rver() {
    S3RVER="${FERRY_S3RVER:-/opt/ferry-npm/node_modules/s3rver/bin/s3rver.js}"
    [ -f "$S3RVER" ] && command -v node >/dev/null 2>&1 || return 1
    S3PORT=$(free_port)
    mkdir -p "$T/s3data"
    node "$S3RVER" -d "$T/s3data" -a 127.0.0.1 -p "$S3PORT" --configure-bucket bkt >"$T/s3rver.log" 2>&1 &
    PIDS="$PIDS $!"
    wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$S3PORT/" || fail "s3rver did not start"
    curl -s -f -o /dev/null -X PUT -T "$1" --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user S3RVER:S3RVER -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
        "http://127.0.0.1:$S3PORT/bkt/$2" || fail "upload to s3rver"
}

# What ferry-handler does, done by the test helper (real store writes):
# register the node with a fresh heartbeat; remove a VMI's finalizer.
CPH="$FERRY_BUILD/tests/cp-helper"
register_node() {
    "$CPH" node-heartbeat "${1:-testnode}" || fail "cannot register the node"
    # ... and keep the heartbeat fresh, as the handler does every ~10 s.
    ( while sleep 5; do "$CPH" node-heartbeat "${1:-testnode}" >/dev/null 2>&1; done ) &
    PIDS="$PIDS $!"
}
handler_release() { "$CPH" vmi-release "${2:-default}" "$1" || fail "cannot release VMI $1"; }

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
    end=$(( $(date +%s) + $1 )); shift
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.1
    done
}
field_is() { [ "$(field "$1" "$2" "$3")" = "$4" ]; }

# Manifests: vm_yaml NAME [RUNFIELD] [EXTRA-METADATA-LINES], dv_yaml NAME SIZE SOURCE.
# shellcheck source=tests/lib/manifests.sh
. "$(dirname "$0")/../lib/manifests.sh"

# kube_run_importer DV POD: the Job controller's and the kubelet's part for
# the importer Job of DV (Kubernetes mode, kube-play in $KP): the pod, bound,
# its container run with only the Job's environment (and PATH), its /data
# at $T/pvc-DV and its termination log at $T/term-POD, then terminated with
# its exit code, which is printed.
kube_run_importer() {
    rp_dv=$1 rp_pod=$2
    "$KP" job-pod default "importer-$rp_dv" "$rp_pod" || fail "job-pod $rp_pod"
    "$KP" bind default "$rp_pod" node1 || fail "bind $rp_pod"
    mkdir -p "$T/pvc-$rp_dv"
    "$FERRY" get job "importer-$rp_dv" -o json | python3 -c 'import json,sys
j=json.load(sys.stdin)
c=j["spec"]["template"]["spec"]["containers"][0]
for e in c.get("env",[]):
    if "value" in e: print("%s=%s" % (e["name"], e["value"]))' > "$T/env-$rp_pod"
    rm -f "$T/term-$rp_pod"
    set -- env -i PATH="$PATH" FERRY_CDI_DATA_DIR="$T/pvc-$rp_dv" \
        FERRY_CDI_TERMINATION_LOG="$T/term-$rp_pod" FERRY_CDI_METRICS_PORT="$(free_port)" \
        FERRY_CDI_METRICS_ADDRESS=127.0.0.1
    while IFS= read -r kv; do set -- "$@" "$kv"; done < "$T/env-$rp_pod"
    "$@" "$FERRY_BIN/ferry-importer" >>"$T/importer-$rp_pod.log" 2>&1
    code=$?
    "$KP" terminate default "$rp_pod" "$code" "$T/term-$rp_pod" || fail "terminate $rp_pod"
    echo "$code"
}

# vm_cond VM TYPE: "status/reason/message" of the VM's condition TYPE;
# vm_cond_reason_is VM TYPE REASON; no_vmi VM: the VM has no VMI.
vm_cond() {
    "$FERRY" get vm "$1" -o json | python3 -c 'import json,sys
for c in json.load(sys.stdin).get("status",{}).get("conditions",[]):
    if c["type"]==sys.argv[1]: print("%s/%s/%s" % (c["status"], c.get("reason",""), c.get("message","")))' "$2"
}
vm_cond_reason_is() { vm_cond "$1" "$2" | grep -q "^[^/]*/$3/"; }
no_vmi() { ! "$FERRY" get vmi "$1" >/dev/null 2>&1; }
