#!/bin/sh
# A DataVolume's secretRef and certConfigMap in embedded mode (issue 15):
# the controller writes the Secret's accessKeyId/secretKey and the
# ConfigMap's keys into a private directory for the import and hands the
# importer its source's directory options; never a value on a command line
# or in a log, and nothing left afterwards.  Real peers on 127.0.0.1:
#   - imageio: tests/importer/imageio-standin.py (no real oVirt here; see its
#     header), https with a CA made here given as certConfigMap;
#     a wrong password fails the DV with the engine's refusal;
#   - s3: s3rver behind tests/importer/sigv4-check.py (s3rver itself does not
#     check signatures): right secret Succeeded, wrong secretKey Failed with
#     SignatureDoesNotMatch;
#   - registry: docker-registry with htpasswd (bcrypt), pushed by skopeo;
#   - http: nginx with auth_basic and an https server with a self-signed CA,
#     when this build's http source has the options; else the DV fails at
#     once naming the field;
#   - source.vddk refused naming the vmware:// way; a missing Secret fails
#     the attempts with the Secret's name.
. "$(dirname "$0")/lib.sh"
need_importer
for t in python3 openssl curl qemu-img; do
    command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
done
HERE="$(cd "$(dirname "$0")/.." && pwd)"
IMP="$FERRY_BIN/ferry-importer"
PASS='p4ss word&=$'   # a value that must never show up in a log

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || fail "openssl req"
chmod 644 "$T/key.pem" "$T/cert.pem"

# A disk with data in places and holes elsewhere.
python3 - "$T/www/disk.raw" $((8 << 20)) <<'PY'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.truncate(size)
    for off in (0, 3 << 20, size - (1 << 20)):
        f.seek(off)
        f.write(os.urandom(1 << 20))
PY
chmod 644 "$T/www/disk.raw"

# secret NAME USER PASSWORD (stringData, as users write it) / configmap NAME FILE
secret_yaml() {
    printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\nstringData:\n  accessKeyId: "%s"\n  secretKey: '"'"'%s'"'"'\n' \
        "$1" "$2" "$3"
}
configmap_yaml() {
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  ca.crt: |\n' "$1"
    sed 's/^/    /' "$2"
}
wait_phase() {   # NAME PHASE
    "$FERRY" wait "dv/$1" --for=jsonpath='{.status.phase}'="$2" --timeout=90s >/dev/null ||
        fail "$1 not $2: $(field dv "$1" status.conditions)"
}
ready_message() {
    "$FERRY" get dv "$1" -o json | python3 -c 'import json,sys
o=json.load(sys.stdin)
print([c for c in o["status"]["conditions"] if c["type"]=="Ready"][0].get("message",""))'
}
# imported NAME: DataVolume NAME Succeeded with the bytes of disk.raw.
imported() {
    wait_phase "$1" Succeeded
    cmp "$T/www/disk.raw" "$FERRY_STATE_DIR/volumes/default/$1/disk.img" || fail "$1: bytes differ"
}
# imported_or_refused OPTION NAME REFUSAL NOTE: with this ferry-importer's
# OPTION, NAME is imported; without it NAME fails with the Ready message
# REFUSAL (a grep pattern), NOTE says what is not tested, and it is false.
imported_or_refused() {
    if "$IMP" --help | grep -q -- "$1"; then
        imported "$2"
        return 0
    fi
    wait_phase "$2" Failed
    ready_message "$2" | grep -q "$3" || fail "$2 without $1: $(ready_message "$2")"
    echo "note: $4"
    return 1
}
no_leftovers() {
    [ -z "$(ls -A "$FERRY_STATE_DIR/import-secrets" 2>/dev/null)" ] ||
        fail "credentials left behind: $(ls -lR "$FERRY_STATE_DIR/import-secrets")"
}

start_controller --import-retries 2 --import-backoff 200

{
    secret_yaml engine admin@internal "$PASS"
    echo ---
    secret_yaml badengine admin@internal wrong
    echo ---
    configmap_yaml engine-ca "$T/cert.pem"
} > "$T/creds.yaml"
"$FERRY" apply -f "$T/creds.yaml" >/dev/null || fail "apply secrets"
"$FERRY" get secret engine > "$T/get-secret.txt" || fail "get secret"
grep -Eq '^engine +Opaque +2 ' "$T/get-secret.txt" || fail "get secret: $(cat "$T/get-secret.txt")"
[ "$(field secret engine data.secretKey | base64 -d)" = "$PASS" ] || fail "stringData not merged into data"
[ -z "$(field secret engine stringData)" ] || fail "stringData kept"
"$FERRY" describe secret engine > "$T/describe-secret.txt" || fail "describe secret"
grep -q '^secretKey:  12 bytes$' "$T/describe-secret.txt" || fail "describe secret: $(cat "$T/describe-secret.txt")"
! grep -qF "$PASS" "$T/describe-secret.txt" || fail "describe shows the password"
! grep -qF "$(printf %s "$PASS" | base64)" "$T/describe-secret.txt" || fail "describe shows the password (base64)"

# ---- imageio (the stand-in) ----
DISK=3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60
python3 "$HERE/importer/imageio-standin.py" --image "$T/www/disk.raw" --disk-id "$DISK" \
    --cert "$T/cert.pem" --key "$T/key.pem" --user admin@internal --password "$PASS" \
    --port-file "$T/iio.port" --log "$T/iio.log" 2>"$T/iio.err" &
PIDS="$PIDS $!"
wait_for 10 test -s "$T/iio.port" || fail "imageio stand-in did not start: $(cat "$T/iio.err")"
IPORT=$(cut -d" " -f1 "$T/iio.port")
for n in engine badengine; do
    dv_yaml "iio-$n" 8Mi "    imageio:
      url: https://127.0.0.1:$IPORT/ovirt-engine/api
      diskId: $DISK
      secretRef: $n
      certConfigMap: engine-ca"
    echo ---
done > "$T/iio.yaml"
"$FERRY" apply -f "$T/iio.yaml" >/dev/null || fail "apply imageio"
imported iio-engine
wait_phase iio-badengine Failed
ready_message iio-badengine | grep -q "refused the login of 'admin@internal'" ||
    fail "imageio wrong password: $(ready_message iio-badengine)"
no_leftovers

# the engine's API URL without a disk id, and one that is not https: refused at once
dv_yaml iio-nodisk 8Mi "    imageio:
      url: http://127.0.0.1:$IPORT/ovirt-engine/api
      diskId: $DISK
      secretRef: engine
      certConfigMap: engine-ca" > "$T/iio-bad.yaml"
"$FERRY" apply -f "$T/iio-bad.yaml" >/dev/null || fail "apply iio-nodisk"
wait_phase iio-nodisk Failed
ready_message iio-nodisk | grep -q '^spec.source.imageio: Invalid value: imageio endpoint' ||
    fail "imageio http endpoint: $(ready_message iio-nodisk)"
[ "$(field dv iio-nodisk status.restartCount)" = 0 ] || fail "iio-nodisk was retried"

# ---- vddk: refused, naming the way in ----
dv_yaml vd 8Mi "    vddk:
      url: https://esxi.example/sdk
      uuid: 52260566-b032-36cb-55b1-79bf29e30490
      backingFile: '[datastore1] vm/vm.vmdk'
      thumbprint: 'AA:BB'
      secretRef: engine" > "$T/vddk.yaml"
"$FERRY" apply -f "$T/vddk.yaml" >/dev/null || fail "apply vddk"
wait_phase vd Failed
ready_message vd | grep -q '^spec.source.vddk: Unsupported value: VDDK is proprietary.*vmware://HOST/DATASTORE/PATH.vmdk' ||
    fail "vddk: $(ready_message vd)"

# ---- a Secret that does not exist ----
dv_yaml nosecret 8Mi "    imageio:
      url: https://127.0.0.1:$IPORT/ovirt-engine/api
      diskId: $DISK
      secretRef: nope
      certConfigMap: engine-ca" > "$T/nosecret.yaml"
"$FERRY" apply -f "$T/nosecret.yaml" >/dev/null || fail "apply nosecret"
wait_phase nosecret Failed
ready_message nosecret | grep -q 'spec.source.imageio.secretRef: secrets "nope" not found' ||
    fail "missing secret: $(ready_message nosecret)"
no_leftovers

# ---- s3 behind the SigV4 check ----
if start_s3rver "$T/www/disk.raw" disk.raw; then
    python3 "$HERE/importer/sigv4-check.py" "$T/sigv4.port" "$S3PORT" S3RVER S3RVER 2>"$T/sigv4.log" &
    PIDS="$PIDS $!"
    wait_for 10 test -s "$T/sigv4.port" || fail "sigv4-check.py did not start"
    SPORT=$(cat "$T/sigv4.port")
    {
        secret_yaml s3good S3RVER S3RVER; echo ---
        secret_yaml s3bad S3RVER "$PASS"; echo ---
        dv_yaml s3-good 8Mi "    s3:
      url: http://127.0.0.1:$SPORT/bkt/disk.raw
      secretRef: s3good"; echo ---
        dv_yaml s3-bad 8Mi "    s3:
      url: http://127.0.0.1:$SPORT/bkt/disk.raw
      secretRef: s3bad"
    } > "$T/s3.yaml"
    "$FERRY" apply -f "$T/s3.yaml" >/dev/null || fail "apply s3"
    imported s3-good
    wait_phase s3-bad Failed
    ready_message s3-bad | grep -q 'SignatureDoesNotMatch' || fail "s3 wrong secret: $(ready_message s3-bad)"
    no_leftovers
else
    echo "note: s3rver is not installed: source.s3 with secretRef not tested"
fi

# ---- registry with htpasswd ----
if command -v docker-registry >/dev/null && command -v skopeo >/dev/null &&
   command -v htpasswd >/dev/null; then
    RPORT=$(free_port)
    mkdir -p "$T/reg"
    htpasswd -Bbn reguser "$PASS" > "$T/reg/htpasswd" 2>/dev/null || fail "htpasswd"
    printf '%s\n' "version: 0.1" "log: {level: error}" \
        "storage: {filesystem: {rootdirectory: $T/reg/store}}" \
        "http: {addr: 127.0.0.1:$RPORT, secret: ferry-test}" \
        "auth: {htpasswd: {realm: ferry-test, path: $T/reg/htpasswd}}" > "$T/reg/config.yml"
    docker-registry serve "$T/reg/config.yml" > "$T/reg/log" 2>&1 &
    PIDS="$PIDS $!"
    wait_for 10 sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$RPORT/v2/ | grep -q 401" ||
        fail "docker-registry did not start: $(cat "$T/reg/log")"
    REGTOOL="$HERE/importer/regtool.py"
    qemu-img convert -f raw -O qcow2 "$T/www/disk.raw" "$T/disk.qcow2"
    python3 "$REGTOOL" layer "$T/l.tar.gz" dir:disk file:disk/disk.qcow2="$T/disk.qcow2"
    dg=$(python3 "$REGTOOL" manifest "$T/layout" amd64 "$T/l.tar.gz" | cut -d' ' -f1)
    python3 "$REGTOOL" tag "$T/layout" v1 "$dg"
    skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-creds "reguser:$PASS" \
        "oci:$T/layout:v1" "docker://127.0.0.1:$RPORT/disks/d:v1" > "$T/skopeo.log" 2>&1 ||
        fail "skopeo: $(cat "$T/skopeo.log")"
    {
        secret_yaml regcreds reguser "$PASS"; echo ---
        dv_yaml reg-auth 8Mi "    registry:
      url: docker://127.0.0.1:$RPORT/disks/d:v1
      secretRef: regcreds"; echo ---
        dv_yaml reg-anon 8Mi "    registry:
      url: docker://127.0.0.1:$RPORT/disks/d:v1"
    } > "$T/reg.yaml"
    "$FERRY" apply -f "$T/reg.yaml" >/dev/null || fail "apply registry"
    imported reg-auth
    wait_phase reg-anon Failed
    no_leftovers
else
    echo "note: docker-registry, skopeo or htpasswd missing: source.registry with secretRef not tested"
fi

# ---- http: basic auth (secretRef) and an https server's CA (certConfigMap) ----
HPORT=$(free_port); SPORT2=$(free_port); HPORT3=$(free_port)
printf 'webuser:%s\n' "$(openssl passwd -apr1 "$PASS")" > "$T/htpasswd"
chmod 644 "$T/htpasswd"
start_nginx "    server { listen 127.0.0.1:$HPORT; root $T/www;
             auth_basic \"ferry\"; auth_basic_user_file $T/htpasswd; }
    server { listen 127.0.0.1:$HPORT3; root $T/www;
             if (\$http_x_plain != \"one\") { return 403; }
             if (\$http_x_token != \"s3cr3t\") { return 403; } }
    server { listen 127.0.0.1:$SPORT2 ssl; root $T/www;
             ssl_certificate $T/cert.pem; ssl_certificate_key $T/key.pem; }"
{
    secret_yaml webcreds webuser "$PASS"; echo ---
    secret_yaml webbad webuser wrong; echo ---
    dv_yaml web-auth 8Mi "    http:
      url: http://127.0.0.1:$HPORT/disk.raw
      secretRef: webcreds"; echo ---
    dv_yaml web-bad 8Mi "    http:
      url: http://127.0.0.1:$HPORT/disk.raw
      secretRef: webbad"; echo ---
    dv_yaml web-tls 8Mi "    http:
      url: https://127.0.0.1:$SPORT2/disk.raw
      certConfigMap: engine-ca"; echo ---
    printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: hdr\nstringData:\n  token: "X-Token: s3cr3t"\n'; echo ---
    dv_yaml web-hdr 8Mi "    http:
      url: http://127.0.0.1:$HPORT3/disk.raw
      extraHeaders: ['X-Plain: one']
      secretExtraHeaders: [hdr]"
} > "$T/web.yaml"
"$FERRY" apply -f "$T/web.yaml" >/dev/null || fail "apply http"
if imported_or_refused --http-secret-dir web-auth \
    "^spec.source.http.secretRef: Unsupported value: this ferry-importer's http source takes no credentials" \
    "this ferry-importer's http source has no --http-secret-dir: basic auth not imported"; then
    wait_phase web-bad Failed
    ready_message web-bad | grep -q '401' || fail "http wrong password: $(ready_message web-bad)"
else
    [ "$(field dv web-auth status.restartCount)" = 0 ] || fail "web-auth was retried"
fi
imported_or_refused --cert-dir web-tls "^spec.source.http.certConfigMap: Unsupported value" \
    "this ferry-importer's http source has no CA option: certConfigMap not imported" || :
imported_or_refused --header-dir web-hdr "^spec.source.http.extraHeaders: Unsupported value" \
    "this ferry-importer's http source has no header options: extra headers not imported" || :
no_leftovers

# Never a secret value in a log (the controller's, the importers').
for f in "$T/controller.log" "$FERRY_STATE_DIR"/volumes/default/*/import.log; do
    if grep -qF "$PASS" "$f"; then fail "the password is in $f"; fi
done
echo PASS
