#!/bin/sh
# A real kube-apiserver and etcd on loopback, for the Kubernetes-mode tests.
#
#   tests/kube/cluster.sh start RUN_DIR   prints RUN_DIR/kubeconfig once /readyz answers
#   tests/kube/cluster.sh stop RUN_DIR    stops both by the pids start recorded
#
# The apiserver comes from scripts/build-kube-apiserver.sh (FERRY_KUBE_PREFIX,
# default /opt/ferry-kube); etcd from Debian's etcd-server.  When either is
# missing, start exits 77 (the test's "skipped") and says so.  Ports are
# picked free on 127.0.0.1 (FERRY_KUBE_PORT and FERRY_ETCD_PORT override);
# the ports in use are in RUN_DIR/ports.  Authentication: a static admin
# token (system:masters), RBAC on, service accounts signed by a key of the
# run's own, so RBAC and service-account behaviour are real.
# FERRY_KUBE_APISERVER_FLAGS: extra kube-apiserver flags (word-split), e.g.
# "--client-ca-file=RUN_DIR/ca.crt" for client-certificate tests (the CA is
# RUN_DIR/ca.crt, made before the apiserver starts).
# As envtest's: privileged pods are allowed (the handler DaemonSet in deploy/
# is one) and the ServiceAccount admission plugin is off (with no
# controller-manager there are no default service accounts or token secrets,
# so it would refuse every pod).
set -eu
cmd=${1:?usage: cluster.sh start|stop RUN_DIR}
RUN=${2:?usage: cluster.sh start|stop RUN_DIR}
PREFIX=${FERRY_KUBE_PREFIX:-/opt/ferry-kube}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop() {
    for p in apiserver etcd; do
        if [ -f "$RUN/$p.pid" ]; then
            pid=$(cat "$RUN/$p.pid")
            kill "$pid" 2>/dev/null || true
            i=0
            while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$RUN/$p.pid"
        fi
    done
}

case $cmd in
stop) stop; exit 0 ;;
start) ;;
*) echo "cluster.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac

if [ ! -x "$PREFIX/bin/kube-apiserver" ]; then
    echo "SKIP: $PREFIX/bin/kube-apiserver missing (run scripts/build-kube-apiserver.sh)" >&2
    exit 77
fi
command -v etcd >/dev/null 2>&1 || { echo "SKIP: etcd missing (apt-get install etcd-server)" >&2; exit 77; }

KP=${FERRY_KUBE_PORT:-$(free_port)}
EP=${FERRY_ETCD_PORT:-$(free_port)}
PP=$(free_port)
mkdir -p "$RUN/certdir"
RUN=$(cd "$RUN" && pwd)
cd "$RUN"
if [ ! -f ca.crt ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=ferry-test-ca \
        -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout apiserver.key \
        -out apiserver.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -extfile san.ext -out apiserver.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    printf 'ferry-test-admin-token,ferry-admin,ferry-admin-uid,"system:masters"\n' >tokens.csv
fi
# A restart (same RUN_DIR) keeps the ports, so clients' kubeconfigs stay true.
if [ -f ports ]; then . ./ports; else printf 'KP=%s\nEP=%s\nPP=%s\n' "$KP" "$EP" "$PP" >ports; fi
cat >kubeconfig <<K
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:$KP", certificate-authority: "$RUN/ca.crt"}}]
users: [{name: admin, user: {token: ferry-test-admin-token}}]
contexts: [{name: test, context: {cluster: test, user: admin, namespace: default}}]
current-context: test
K
if [ ! -f etcd.pid ]; then
    etcd --name ferry-test --data-dir "$RUN/etcd-data" \
        --listen-client-urls "http://127.0.0.1:$EP" --advertise-client-urls "http://127.0.0.1:$EP" \
        --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
        --initial-cluster "ferry-test=http://127.0.0.1:$PP" --initial-cluster-state new \
        --log-level warn --logger zap >>etcd.log 2>&1 &
    echo $! >etcd.pid
fi
"$PREFIX/bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$EP" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$KP" --insecure-port=0 \
    --tls-cert-file="$RUN/apiserver.crt" --tls-private-key-file="$RUN/apiserver.key" \
    --cert-dir="$RUN/certdir" --token-auth-file="$RUN/tokens.csv" --authorization-mode=RBAC \
    --anonymous-auth=false --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$RUN/sa.pub" --service-account-signing-key-file="$RUN/sa.key" \
    --service-cluster-ip-range=10.96.0.0/24 --endpoint-reconciler-type=none --profiling=false \
    --allow-privileged=true --disable-admission-plugins=ServiceAccount \
    --v=1 ${FERRY_KUBE_APISERVER_FLAGS:-} >>apiserver.log 2>&1 &
echo $! >apiserver.pid
i=0
until curl -s --cacert ca.crt -H 'Authorization: Bearer ferry-test-admin-token' \
        "https://127.0.0.1:$KP/readyz" 2>/dev/null | grep -q '^ok'; do
    i=$((i + 1))
    if [ $i -gt 240 ] || ! kill -0 "$(cat apiserver.pid)" 2>/dev/null; then
        echo "kube-apiserver not ready; see $RUN/apiserver.log" >&2
        tail -5 apiserver.log >&2
        stop
        exit 1
    fi
    sleep 0.5
done
echo "$RUN/kubeconfig"
