#!/bin/bash
# The vmware source (issue 15) against esxi-standin.py: a stand-in for an
# ESXi host's /folder datastore access written from VMware's published API
# (see its header), on 127.0.0.1 over HTTPS with a certificate made here.
# There is no real ESXi server to test against.  qemu-img is the oracle for
# the bytes (qemu-img compare against the VMDK on the "datastore").
#   - Basic on the first request, the vmware_soap_session cookie after it;
#   - a cookie that expires (the stand-in's --cookie-uses) makes the
#     importer log in again, and the import still succeeds;
#   - a vmfs descriptor + -flat extent, monolithicFlat, monolithicSparse,
#     streamOptimized, twoGbMaxExtentFlat, a twoGbMaxExtentSparse
#     -s001/-s002 set: all through Range requests;
#   - descriptors naming ../other.vmdk or /etc/passwd, and a snapshot
#     (delta) disk: refused, nothing written, nothing requested outside;
#   - a SHA-1 or SHA-256 thumbprint instead of a CA (CDI's vddk
#     thumbprint), a wrong one refused before credentials are sent;
#   - wrong password, unknown path, no --vmware-ca, a server without Range.
FERRY_NO_CORPUS=1
. "$(dirname "$0")/lib.sh"
need openssl

tls_cert "$WORK/key.pem" "$WORK/cert.pem"
write_secret "$WORK/secret" root s3cret
write_secret "$WORK/badsecret" root wrong -n

# ---- the datastore -----------------------------------------------------------
DS="$WORK/ds"
mkdir -p "$DS"/{flat,vmfs,sparse,split,evil,snap,other}
# A 64 MiB disk with data at a few places (random, so nothing compresses
# into matching by chance), holes between.
python3 - "$WORK/src.raw" $((64 << 20)) <<'PY'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.truncate(size)
    for off, n in ((0, 65536), (1 << 20, 3 << 20), (9 << 20 | 4096, 12345), (size - 8192, 8192)):
        f.seek(off)
        f.write(os.urandom(n))
PY
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat "$WORK/src.raw" "$DS/flat/disk.vmdk"
qemu-img convert -q -f raw -O vmdk "$WORK/src.raw" "$DS/sparse/disk.vmdk"
mkdir -p "$DS/stream" "$DS/splitflat"
qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized "$WORK/src.raw" \
    "$DS/stream/disk.vmdk"
qemu-img convert -q -f raw -O vmdk -o subformat=twoGbMaxExtentFlat "$WORK/src.raw" \
    "$DS/splitflat/disk.vmdk"
# ESXi's own layout: a "vmfs" descriptor and its -flat.vmdk.
cp "$DS/flat/disk-flat.vmdk" "$DS/vmfs/g-flat.vmdk"
cat >"$DS/vmfs/g.vmdk" <<EOF
# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=fffffffe
parentCID=ffffffff
createType="vmfs"

# Extent description
RW $(((64 << 20) / 512)) VMFS "g-flat.vmdk"

# The Disk Data Base
#DDB
ddb.adapterType = "lsilogic"
ddb.thinProvisioned = "1"
ddb.virtualHWVersion = "14"
EOF
# A split set: 3 GiB, data on both sides of the 2 GiB boundary.
python3 - "$WORK/split.raw" $((3 << 30)) <<'PY'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.truncate(size)
    for off, n in ((0, 1 << 20), ((2 << 30) - 65536, 131072), ((5 << 29) + 512, 777777)):
        f.seek(off)
        f.write(os.urandom(n))
PY
qemu-img convert -q -f raw -O vmdk -o subformat=twoGbMaxExtentSparse "$WORK/split.raw" \
    "$DS/split/disk.vmdk"
[ -f "$DS/split/disk-s001.vmdk" ] && [ -f "$DS/split/disk-s002.vmdk" ] ||
    fail "qemu-img did not make disk-s001.vmdk and disk-s002.vmdk: $(ls "$DS/split")"
# Descriptors that name files outside their folder.
cp "$DS/flat/disk-flat.vmdk" "$DS/other/other-flat.vmdk"
for c in up:../other/other-flat.vmdk abs:/etc/passwd; do
    cat >"$DS/evil/${c%%:*}.vmdk" <<EOF
# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="vmfs"
RW 2048 VMFS "${c#*:}"
EOF
done
# A snapshot: a delta disk whose parent is the sparse disk.
cp "$DS/sparse/disk.vmdk" "$DS/snap/disk.vmdk"
(cd "$DS/snap" && qemu-img create -q -f vmdk -b disk.vmdk -F vmdk disk-000001.vmdk) ||
    fail "qemu-img create of a delta disk"
grep -aq parentFileNameHint "$DS/snap/disk-000001.vmdk" || fail "the delta disk names no parent"

# ---- servers ---------------------------------------------------------------------
start_server() {   # NAME [extra args]: sets PORT_<NAME>, log in $WORK/NAME.log
    local name="$1"; shift
    start_standin "$name" esxi-standin.py --root "$DS" --datastore datastore1 \
        --cert "$WORK/cert.pem" --key "$WORK/key.pem" --user root --password s3cret "$@"
}
start_server main
start_server expiring --cookie-uses 3
start_server norange --no-range

TLS=(--vmware-ca "$WORK/cert.pem")
AUTH=(--vmware-secret-dir "$WORK/secret")

check() {   # NAME URL VMDK-ON-DATASTORE [args]
    local name="$1" url="$2" img="$3"; shift 3
    local out="$WORK/out-$name.raw"
    "$IMPORTER" --url "$url" --dest "$out" --progress none "${TLS[@]}" "$@" 2>"$WORK/err" ||
        { cat "$WORK/err" >&2; fail "$name: import of $url failed"; }
    qemu-img compare -q -f vmdk -F raw "$img" "$out" ||
        fail "$name: the output differs from what qemu-img reads in $img"
    ls "$out".tmp-* >/dev/null 2>&1 && fail "$name: temporary file left"
    echo "ok  $name"
}

refuse() {   # NAME URL MESSAGE [args]
    local name="$1" url="$2" msg="$3"; shift 3
    local out="$WORK/refused-$name.raw" st=0
    "$IMPORTER" --url "$url" --dest "$out" --progress none "$@" 2>"$WORK/err" || st=$?
    [ "$st" = 1 ] || { cat "$WORK/err" >&2; fail "$name: exit status $st, expected 1"; }
    grep -q -- "$msg" "$WORK/err" || { cat "$WORK/err" >&2; fail "$name: error does not say '$msg'"; }
    [ ! -e "$out" ] || fail "$name: a destination exists after the failure"
    ls "$out".tmp-* >/dev/null 2>&1 && fail "$name: temporary file left after the failure"
    echo "ok  $name (refused: $(head -c 160 "$WORK/err"))"
}

M="vmware://127.0.0.1:$PORT_main"

# ---- imports -----------------------------------------------------------------
: >"$WORK/main.log"
check vmfs-descriptor "$M/datastore1/vmfs/g.vmdk" "$DS/vmfs/g.vmdk" "${AUTH[@]}"
# Basic once (the first request), the cookie on every request after it.
[ "$(grep -c ' basic ' "$WORK/main.log")" = 1 ] ||
    { cat "$WORK/main.log" >&2; fail "vmfs-descriptor: expected exactly one request with Basic"; }
head -1 "$WORK/main.log" | grep -q '^GET /folder/vmfs/g.vmdk basic 206 bytes=0-0$' ||
    { cat "$WORK/main.log" >&2; fail "vmfs-descriptor: the first request is not Basic with Range 0-0"; }
[ "$(grep -c ' cookie 206 ' "$WORK/main.log")" -ge 3 ] ||
    { cat "$WORK/main.log" >&2; fail "vmfs-descriptor: the session cookie is not used"; }
# Every read is a Range request answered 206 (no whole-file GET).
grep -v ' 206 bytes=[0-9]*-[0-9]*$' "$WORK/main.log" && fail "vmfs-descriptor: a request without Range"
grep -q '^GET /folder/vmfs/g-flat.vmdk cookie 206 ' "$WORK/main.log" ||
    fail "vmfs-descriptor: the -flat extent was not fetched beside the descriptor"
echo "ok  basic-then-cookie, every read a Range request"

check monolithic-flat "$M/folder/flat/disk.vmdk?dcPath=ha-datacenter&dsName=datastore1" \
    "$DS/flat/disk.vmdk" "${AUTH[@]}"
check monolithic-sparse "$M/datastore1/sparse/disk.vmdk" "$DS/sparse/disk.vmdk" "${AUTH[@]}"
check stream-optimized "$M/datastore1/stream/disk.vmdk" "$DS/stream/disk.vmdk" "${AUTH[@]}"
check split-flat "$M/datastore1/splitflat/disk.vmdk" "$DS/splitflat/disk.vmdk" "${AUTH[@]}"
: >"$WORK/main.log"
check split-s001 "$M/datastore1/split/disk.vmdk?dcPath=ha-datacenter" "$DS/split/disk.vmdk" \
    "${AUTH[@]}"
grep -q '^GET /folder/split/disk-s002.vmdk cookie 206 ' "$WORK/main.log" ||
    fail "split-s001: disk-s002.vmdk was not read"
# Credentials from CDI's environment instead of a secret directory.
IMPORTER_ACCESS_KEY_ID=root IMPORTER_SECRET_KEY=s3cret \
    check cdi-env "$M/datastore1/sparse/disk.vmdk" "$DS/sparse/disk.vmdk"

# The session expires after 3 requests: 401, Basic again, and on.
check cookie-expiry "vmware://127.0.0.1:$PORT_expiring/datastore1/vmfs/g.vmdk" \
    "$DS/vmfs/g.vmdk" "${AUTH[@]}" --threads 1
grep -q ' cookie 401 ' "$WORK/expiring.log" ||
    { cat "$WORK/expiring.log" >&2; fail "cookie-expiry: no request was refused"; }
[ "$(grep -c ' basic 206 ' "$WORK/expiring.log")" -ge 2 ] ||
    { cat "$WORK/expiring.log" >&2; fail "cookie-expiry: the importer did not log in again"; }
awk '$4 == 401 { getline n; if (n !~ / basic 206 /) exit 1 }' "$WORK/expiring.log" ||
    { cat "$WORK/expiring.log" >&2; fail "cookie-expiry: a refused cookie was not followed by Basic"; }
echo "ok  cookie-expiry: re-login after 401"

# A thumbprint instead of a CA (CDI's vddk thumbprint: the certificate's
# SHA-1; SHA-256 too), the server's key pinned after it.
SHA1=$(openssl x509 -noout -fingerprint -sha1 -in "$WORK/cert.pem" | cut -d= -f2)
SHA256=$(openssl x509 -noout -fingerprint -sha256 -in "$WORK/cert.pem" | cut -d= -f2)
TLS=()
check thumbprint-sha1 "$M/datastore1/sparse/disk.vmdk" "$DS/sparse/disk.vmdk" "${AUTH[@]}" \
    --vmware-thumbprint "$SHA1"
IMPORTER_THUMBPRINT="$(echo "$SHA256" | tr -d : | tr A-F a-f)" \
    check thumbprint-sha256-env "$M/datastore1/sparse/disk.vmdk" "$DS/sparse/disk.vmdk" "${AUTH[@]}"
TLS=(--vmware-ca "$WORK/cert.pem")
: >"$WORK/main.log"
refuse wrong-thumbprint "$M/datastore1/sparse/disk.vmdk" "the server's certificate has the thumbprint $SHA1, not 00:11" \
    "${AUTH[@]}" --vmware-thumbprint 00112233445566778899AABBCCDDEEFF00112233
grep -q ' basic ' "$WORK/main.log" && fail "wrong-thumbprint: credentials were sent"
st=0
"$IMPORTER" --url "$M/datastore1/sparse/disk.vmdk" --dest "$WORK/bad-tp.raw" "${AUTH[@]}" \
    --vmware-thumbprint 00:11:zz 2>"$WORK/err" || st=$?
[ "$st" = 2 ] && grep -q "expected a SHA-1 or SHA-256 fingerprint" "$WORK/err" ||
    { cat "$WORK/err" >&2; fail "bad-thumbprint: status $st, expected a usage error (2)"; }
echo "ok  bad-thumbprint (usage error: $(head -c 120 "$WORK/err"))"

# ---- refusals ------------------------------------------------------------------
: >"$WORK/main.log"
refuse escape-dotdot "$M/datastore1/evil/up.vmdk" "leaves the directory" "${TLS[@]}" "${AUTH[@]}"
refuse escape-absolute "$M/datastore1/evil/abs.vmdk" "refusing the absolute path '/etc/passwd'" \
    "${TLS[@]}" "${AUTH[@]}"
grep -Eq 'other|passwd|\.\.' "$WORK/main.log" &&
    { cat "$WORK/main.log" >&2; fail "escape: a file outside the descriptor's folder was requested"; }
refuse snapshot "$M/datastore1/snap/disk-000001.vmdk" "refusing a delta disk" "${TLS[@]}" \
    "${AUTH[@]}"
refuse wrong-password "$M/datastore1/sparse/disk.vmdk" "refused the user 'root' (401)" \
    "${TLS[@]}" --vmware-secret-dir "$WORK/badsecret"
refuse not-found "$M/datastore1/sparse/nothere.vmdk" "not found on the datastore (404" \
    "${TLS[@]}" "${AUTH[@]}"
refuse wrong-datastore "$M/datastore2/sparse/disk.vmdk" "not found on the datastore (404" \
    "${TLS[@]}" "${AUTH[@]}"
refuse no-ca "$M/datastore1/sparse/disk.vmdk" "certificate" "${AUTH[@]}"
refuse no-credentials "$M/datastore1/sparse/disk.vmdk" "no credentials: give --vmware-secret-dir" \
    "${TLS[@]}"
refuse no-range "vmware://127.0.0.1:$PORT_norange/datastore1/sparse/disk.vmdk" \
    "answered 200 to a Range request" "${TLS[@]}" "${AUTH[@]}"
refuse bad-url "vmware://root@127.0.0.1:$PORT_main/datastore1/sparse/disk.vmdk" \
    "credentials go in --vmware-secret-dir" "${TLS[@]}" "${AUTH[@]}"
refuse dotdot-url "$M/datastore1/../etc/disk.vmdk" "expected vmware://HOST" "${TLS[@]}" "${AUTH[@]}"

echo "PASS"
