#!/bin/sh
# The kube store driver against a real kube-apiserver and etcd on loopback
# (tests/kube/cluster.sh; exit 77 when they are not there): the store's
# semantics (kube-store-test core), every way of configuring the client
# (KUBECONFIG merging, token file rotation, exec plugins, client
# certificates, tls-server-name, insecure, in-cluster), a 403 that names
# verb and resource, a watch across an apiserver restart, and the numbers
# for 1,000 objects (printed, not asserted).
set -eu
SRC=${FERRY_SRC:?}
T=${FERRY_BUILD:?}/tests/kube-store-test
[ -x "$T" ] || { echo "kube-store-test not built" >&2; exit 1; }
command -v kubectl >/dev/null 2>&1 || { echo "SKIP: kubectl missing" >&2; exit 77; }
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl missing" >&2; exit 77; }

RUN=$(mktemp -d /tmp/ferry-kube-store.XXXXXX)
cleanup() {
    sh "$SRC/tests/kube/cluster.sh" stop "$RUN" || true
    rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

export FERRY_KUBE_APISERVER_FLAGS="--client-ca-file=$RUN/ca.crt --etcd-compaction-interval=10s"
rc=0
KC=$(sh "$SRC/tests/kube/cluster.sh" start "$RUN") || rc=$?
[ $rc -eq 0 ] || exit $rc
. "$RUN/ports"
SERVER="https://127.0.0.1:$KP"
TOKEN=ferry-test-admin-token
unset KUBECONFIG

kubectl --kubeconfig "$KC" apply -f "$SRC/tests/kube/store-crds.yaml" >/dev/null
kubectl --kubeconfig "$KC" wait --for condition=established --timeout=120s \
    crd/virtualmachines.kubevirt.io crd/virtualmachineinstances.kubevirt.io \
    crd/datavolumes.cdi.kubevirt.io >/dev/null

fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1" >&2; fails=$((fails + 1)); }
# expect_ok NAME WHERE [N] ; expect_err NAME PATTERN WHERE
expect_ok() {
    name=$1; shift
    if out=$("$T" ping "$@" 2>&1) && [ "$out" = ok ]; then pass "$name"; else fail "$name: $out"; fi
}
expect_err() {
    name=$1 pat=$2; shift 2
    if out=$("$T" ping "$@" 2>&1); then fail "$name: succeeded"; return; fi
    if echo "$out" | grep -q -- "$pat"; then pass "$name ($out)"; else fail "$name: $out"; fi
}
b64() { base64 -w0 <"$1"; }

# ---- the store's semantics ------------------------------------------------
if "$T" core "kube:$KC"; then pass "store semantics"; else fail "store semantics"; fi

# ---- KUBECONFIG merging: the first file to set a name wins ----------------
cat >"$RUN/k1" <<K
apiVersion: v1
kind: Config
current-context: merged
clusters: [{name: c, cluster: {server: "$SERVER", certificate-authority: ca.crt}}]
users: [{name: u, user: {token: $TOKEN}}]
K
cat >"$RUN/k2" <<K
apiVersion: v1
kind: Config
current-context: elsewhere
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: wrong}}]
contexts: [{name: merged, context: {cluster: c, user: u}}]
K
KUBECONFIG="$RUN/missing:$RUN/k1:$RUN/k2" expect_ok "KUBECONFIG list merged (first wins, missing skipped)" "kube:"
KUBECONFIG="$RUN/k2:$RUN/k1" expect_err "KUBECONFIG order matters" 'context "elsewhere" not found' "kube:"
HOME=$RUN/nohome KUBECONFIG= expect_err "no kubeconfig at all" "no kubeconfig" "kube:"

# ---- token file, re-read: a rotated token is used by the same handle -------
printf 'not-a-valid-token\n' >"$RUN/tokenfile"
cat >"$RUN/k-tokenfile" <<K
apiVersion: v1
kind: Config
current-context: t
clusters: [{name: c, cluster: {server: "$SERVER", certificate-authority-data: $(b64 "$RUN/ca.crt")}}]
users: [{name: u, user: {tokenFile: tokenfile, token: also-wrong}}]
contexts: [{name: t, context: {cluster: c, user: u}}]
K
if "$T" rotate "kube:$RUN/k-tokenfile" "$RUN/tokenfile" "$TOKEN"; then
    pass "tokenFile rotation"
else fail "tokenFile rotation"; fi

# ---- exec credential plugins ---------------------------------------------
cat >"$RUN/plugin.sh" <<'P'
#!/bin/sh
# A credential plugin: counts its runs; PLUGIN_EXPIRY is the expiry it
# reports; PLUGIN_FIRST_BAD: the first run gives a token the server refuses.
n=$(($(cat "$PLUGIN_COUNT" 2>/dev/null || echo 0) + 1))
echo $n >"$PLUGIN_COUNT"
case $KUBERNETES_EXEC_INFO in *'"kind":"ExecCredential"'*) ;; *) echo "no exec info" >&2; exit 1 ;; esac
tok=$1
[ "${PLUGIN_FIRST_BAD:-}" = yes ] && [ $n -eq 1 ] && tok=refused-token
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\n' \
    "$PLUGIN_API" "$tok" "$PLUGIN_EXPIRY"
P
chmod +x "$RUN/plugin.sh"
exec_kc() { # FILE API EXPIRY FIRST_BAD
    cat >"$1" <<K
apiVersion: v1
kind: Config
current-context: e
clusters: [{name: c, cluster: {server: "$SERVER", certificate-authority: $RUN/ca.crt}}]
users:
- name: u
  user:
    exec:
      apiVersion: $2
      command: ./plugin.sh
      args: [$TOKEN]
      interactiveMode: Never
      env:
      - {name: PLUGIN_COUNT, value: "$1.count"}
      - {name: PLUGIN_API, value: "$2"}
      - {name: PLUGIN_EXPIRY, value: "$3"}
      - {name: PLUGIN_FIRST_BAD, value: "$4"}
contexts: [{name: e, context: {cluster: c, user: u}}]
K
}
exec_kc "$RUN/k-exec1" client.authentication.k8s.io/v1beta1 2099-01-01T00:00:00Z no
expect_ok "exec plugin v1beta1" "kube:$RUN/k-exec1" 5
[ "$(cat "$RUN/k-exec1.count")" = 1 ] && pass "exec credential cached until expiry (1 run for 5 requests)" \
    || fail "exec credential cached: $(cat "$RUN/k-exec1.count") runs"
exec_kc "$RUN/k-exec2" client.authentication.k8s.io/v1 2000-01-01T00:00:00Z no
expect_ok "exec plugin v1, expired credential" "kube:$RUN/k-exec2" 3
[ "$(cat "$RUN/k-exec2.count")" = 3 ] && pass "expired exec credential re-run per request (3 runs)" \
    || fail "expired exec credential: $(cat "$RUN/k-exec2.count") runs"
exec_kc "$RUN/k-exec3" client.authentication.k8s.io/v1beta1 2099-01-01T00:00:00Z yes
expect_ok "exec plugin re-run after a 401" "kube:$RUN/k-exec3"
[ "$(cat "$RUN/k-exec3.count")" = 2 ] && pass "401 -> plugin run again" \
    || fail "401 -> plugin: $(cat "$RUN/k-exec3.count") runs"

# ---- client certificates (signed by the run's CA, O=system:masters) -------
(
    cd "$RUN"
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=ferry-cert-admin" \
        -keyout admin.key -out admin.csr 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
        -out admin.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=nobody-in-particular" \
        -keyout bob.key -out bob.csr 2>/dev/null
    openssl x509 -req -in bob.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
        -out bob.crt 2>/dev/null
)
cert_kc() { # FILE USER-YAML CLUSTER-EXTRA
    cat >"$1" <<K
apiVersion: v1
kind: Config
current-context: x
clusters: [{name: c, cluster: {server: "$3", $4}}]
users: [{name: u, user: {$2}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
K
}
cert_kc "$RUN/k-cert-data" "client-certificate-data: $(b64 "$RUN/admin.crt"), client-key-data: $(b64 "$RUN/admin.key")" \
    "$SERVER" "certificate-authority: ca.crt"
expect_ok "client certificate (-data)" "kube:$RUN/k-cert-data"
cert_kc "$RUN/k-cert-file" "client-certificate: admin.crt, client-key: admin.key" \
    "$SERVER" "certificate-authority: ca.crt"
expect_ok "client certificate (relative files)" "kube:$RUN/k-cert-file"
cert_kc "$RUN/k-bob" "client-certificate: bob.crt, client-key: bob.key" \
    "$SERVER" "certificate-authority: ca.crt"
expect_err "403 names verb and resource" 'security: permission denied to list namespaces: .*cannot list resource "namespaces"' "kube:$RUN/k-bob"

# ---- impersonation (as / as-groups): the admin acts as someone else -------
cert_kc "$RUN/k-as" "token: $TOKEN, as: ferry-nobody" "$SERVER" "certificate-authority: ca.crt"
expect_err "as: impersonated user's permissions" 'User "ferry-nobody" cannot list resource "namespaces"' "kube:$RUN/k-as"
cert_kc "$RUN/k-as-group" "token: $TOKEN, as: ferry-somebody, as-groups: [system:masters]" "$SERVER" "certificate-authority: ca.crt"
expect_ok "as-groups: impersonated group's permissions" "kube:$RUN/k-as-group"

# ---- tls-server-name, insecure --------------------------------------------
cert_kc "$RUN/k-tsn" "token: $TOKEN" "$SERVER" "certificate-authority: ca.crt, tls-server-name: localhost"
expect_ok "tls-server-name (localhost for 127.0.0.1)" "kube:$RUN/k-tsn"
cert_kc "$RUN/k-tsn-bad" "token: $TOKEN" "$SERVER" "certificate-authority: ca.crt, tls-server-name: wrong.invalid"
expect_err "tls-server-name checked against the certificate" "network: .*wrong.invalid" "kube:$RUN/k-tsn-bad"
cert_kc "$RUN/k-insecure" "token: $TOKEN" "$SERVER" "insecure-skip-tls-verify: true"
expect_ok "insecure-skip-tls-verify" "kube:$RUN/k-insecure"
cert_kc "$RUN/k-noca" "token: $TOKEN" "$SERVER" "tls-server-name: localhost"
expect_err "no CA: the server's certificate is refused" "network: .*certificate" "kube:$RUN/k-noca"

# ---- in-cluster config ------------------------------------------------------
mkdir -p "$RUN/sa"
cp "$RUN/ca.crt" "$RUN/sa/ca.crt"
printf '%s' "$TOKEN" >"$RUN/sa/token"
printf 'default' >"$RUN/sa/namespace"
incluster() {
    env -u KUBECONFIG HOME="$RUN/nohome" KUBERNETES_SERVICE_HOST=127.0.0.1 \
        KUBERNETES_SERVICE_PORT="$KP" FERRY_KUBE_SERVICEACCOUNT_DIR="$RUN/sa" "$@"
}
if out=$(incluster "$T" ping "kube:" 2>&1) && [ "$out" = ok ]; then pass "in-cluster config"
else fail "in-cluster config: $out"; fi
printf 'rotated-away\n' >"$RUN/sa/token"
if incluster "$T" rotate "kube:" "$RUN/sa/token" "$TOKEN" >/dev/null; then
    pass "in-cluster token re-read"
else fail "in-cluster token re-read"; fi

# ---- one keep-alive connection ----------------------------------------------
if KST_DEBUG=store.kube "$T" ping "kube:$KC" 20 2>&1 | grep -q '21 requests over 1 new connections\|20 requests over 1 new connections'; then
    pass "20 requests over one connection"
else fail "connection reuse: $(KST_DEBUG=store.kube "$T" ping "kube:$KC" 20 2>&1 | grep 'new connections')"; fi

# ---- a watch across an apiserver restart: events again, or 410 -> relist ----
if KST_RESTART="sh $SRC/tests/kube/cluster.sh stop $RUN && sh $SRC/tests/kube/cluster.sh start $RUN" \
    "$T" restart "kube:$KC"; then pass "watch across an apiserver restart"
else fail "watch across an apiserver restart"; fi

# ---- numbers ----------------------------------------------------------------
"$T" bench "kube:$KC" 1000 || fail "bench"

echo "kube-store: $fails failure(s)"
[ $fails -eq 0 ]
