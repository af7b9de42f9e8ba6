#!/bin/bash
# The imageio source (issue 15) against imageio-standin.py: a stand-in for
# an oVirt engine (SSO, image transfers) and an ovirt-imageio daemon
# (OPTIONS, /extents, Range reads) written from the published APIs (see
# its header), on 127.0.0.1 over HTTPS with a certificate made here.  There
# is no real oVirt server to test against.  qemu-img is the oracle for the
# bytes (qemu-img compare against the disk the stand-in serves).
#   - token, transfer create / poll / finalize, logout, in that order; an
#     expired engine session logs in again; the token never goes to the
#     daemon;
#   - only data extents are read (every range the daemon served lies in a
#     data extent of its /extents answer), zeros stay holes;
#   - a short ticket: extended while a slow transfer runs (and without
#     extension the same transfer fails on 403 and is cancelled);
#   - a failing read cancels; SIGTERM cancels; a wrong password is a clear
#     error and creates no transfer; a daemon without extents; a locked
#     disk is asked for again; the daemon's max_readers is respected;
#   - a guest disk that holds a qcow2 image is imported raw (no probing).
FERRY_NO_CORPUS=1
. "$(dirname "$0")/lib.sh"
need openssl

tls_cert "$WORK/key.pem" "$WORK/cert.pem"
write_secret "$WORK/secret" admin@internal 'p4ss word&='
write_secret "$WORK/badsecret" admin@internal wrong -n
mkdir -p "$WORK/ca"
cp "$WORK/cert.pem" "$WORK/ca/ca.pem"   # a certConfigMap mounted as a directory
DISK=3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60

# A 256 MiB disk: 20 MiB of data in a few places, the rest holes.
python3 - "$WORK/disk.raw" $((256 << 20)) <<'PY'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.truncate(size)
    for off, n in ((0, 1 << 20), (16 << 20, 16 << 20), (100 << 20, 3 << 20), (size - (1 << 20), 1 << 20)):
        f.seek(off)
        f.write(os.urandom(n))
PY

start_server() {   # NAME [extra args]: sets PORT_<NAME>; log in $WORK/NAME.log
    local name="$1"; shift
    start_standin "$name" imageio-standin.py --image "${IMAGE:-$WORK/disk.raw}" --disk-id "$DISK" \
        --cert "$WORK/cert.pem" --key "$WORK/key.pem" --user admin@internal \
        --password 'p4ss word&=' "$@"
}

OPTS=(--imageio-ca "$WORK/ca" --imageio-secret-dir "$WORK/secret" --progress none)

check() {   # NAME URL [args]
    local name="$1" url="$2"; shift 2
    local out="$WORK/out-$name.raw"
    rm -f "$out"
    "$IMPORTER" --url "$url" --dest "$out" "${OPTS[@]}" "$@" 2>"$WORK/err" ||
        { cat "$WORK/err" >&2; fail "$name: import of $url failed"; }
    qemu-img compare -q -f raw -F raw "$WORK/disk.raw" "$out" ||
        fail "$name: the output differs from the disk"
    local a r
    a=$(du -k "$out" | cut -f1); r=$(du -k "$WORK/disk.raw" | cut -f1)
    [ "$a" -le $((r + 1024)) ] || fail "$name: not sparse: $a KiB allocated, the disk $r KiB"
    ls "$out".tmp-* >/dev/null 2>&1 && fail "$name: temporary file left"
    echo "ok  $name"
}

refuse() {   # NAME URL MESSAGE [args]
    local name="$1" url="$2" msg="$3"; shift 3
    expect_refusal "$name" "$url" "$msg" "${OPTS[@]}" "$@"
}

# The log's transfer verbs, in order, without ids ("TOKEN CREATE POLL ...").
verbs() { awk '{print $1}' "$1" | uniq | tr '\n' ' ' | sed 's/ $//'; }

start_server main
E="imageio://127.0.0.1:$PORT_main"

# ---- a transfer from start to end ----------------------------------------------
check basic "$E/$DISK"
[ "$(verbs "$WORK/main.log")" = "TOKEN CREATE POLL OPTIONS EXTENTS READ FINALIZE LOGOUT" ] ||
    { cat "$WORK/main.log" >&2; fail "basic: unexpected sequence: $(verbs "$WORK/main.log")"; }
grep -q '^CREATE .* format=raw$' "$WORK/main.log" || fail "basic: the transfer is not in raw format"
grep -q '^POLL .* initializing$' "$WORK/main.log" || fail "basic: no poll while initializing"
grep -q '^LOGOUT ok$' "$WORK/main.log" || fail "basic: the token was not revoked"
echo "ok  token, create, poll until transferring, finalize, logout"

# Every range read lies in a data extent; zeros were never fetched.
python3 - "$WORK/main.log" <<'PY' || fail "zeros-not-fetched: see above"
import json, sys
ext, reads = None, []
for line in open(sys.argv[1]):
    w = line.split(" ", 1)
    if w[0] == "EXTENTS":
        ext = json.loads(w[1])
    elif w[0] == "READ":
        a, b, st = w[1].split()
        reads.append((int(a), int(b)))
data = [(e["start"], e["start"] + e["length"]) for e in ext if not e["zero"]]
bad = [r for r in reads if not any(s <= r[0] and r[1] <= e for s, e in data)]
if bad:
    print("reads outside data extents: %s" % bad[:5], file=sys.stderr)
    sys.exit(1)
total = sum(b - a for a, b in reads)
dtotal = sum(e - s for s, e in data)
if total > dtotal + (1 << 20):
    print("%d bytes read for %d bytes of data" % (total, dtotal), file=sys.stderr)
    sys.exit(1)
print("ok  zeros-not-fetched: %d reads, %d bytes of %d MiB of data, disk %d MiB" %
      (len(reads), total, dtotal >> 20, sum(e["length"] for e in ext) >> 20))
PY

# The disk's API href as the URL.
check api-href "$E/ovirt-engine/api/disks/$DISK"
# As CDI's importer pod runs it: credentials and the certConfigMap from its
# environment, no options.
out="$WORK/out-cdi.raw"
IMPORTER_ACCESS_KEY_ID=admin@internal IMPORTER_SECRET_KEY='p4ss word&=' \
    IMPORTER_CERT_DIR="$WORK/ca" "$IMPORTER" --url "$E/ovirt-engine/api/disks/$DISK" \
    --dest "$out" --progress none 2>"$WORK/err" || { cat "$WORK/err" >&2; fail "cdi-env: failed"; }
qemu-img compare -q -f raw -F raw "$WORK/disk.raw" "$out" || fail "cdi-env: output differs"
echo "ok  cdi-env: IMPORTER_ACCESS_KEY_ID, IMPORTER_SECRET_KEY, IMPORTER_CERT_DIR"

# ---- ticket extension ------------------------------------------------------------
# The ticket lives 4 s; 21 MiB of data read at 0.6 s a MiB on 2 threads
# takes more.  Extended every second, it does not expire.
start_server slow --ticket-ttl 4 --read-delay 0.6
check extended "imageio://127.0.0.1:$PORT_slow/$DISK" --threads 2 --imageio-extend-interval 1
grep -q '^EXTEND ' "$WORK/slow.log" || fail "extended: the ticket was never extended"
grep -q '^FORBIDDEN' "$WORK/slow.log" && fail "extended: a request was refused (403)"
grep -q '^FINALIZE ' "$WORK/slow.log" || fail "extended: not finalized"
echo "ok  ticket extended $(grep -c '^EXTEND ' "$WORK/slow.log") times during a slow transfer"
# The same transfer without extension (every 30 s): the ticket expires.
start_server slow2 --ticket-ttl 4 --read-delay 0.6
refuse not-extended "imageio://127.0.0.1:$PORT_slow2/$DISK" "the daemon refused the ticket (403" \
    --threads 2
grep -q '^CANCEL ' "$WORK/slow2.log" || fail "not-extended: the transfer was not cancelled"
grep -q '^FINALIZE ' "$WORK/slow2.log" && fail "not-extended: finalized after a failure"

# ---- failures cancel ---------------------------------------------------------------
start_server failing --fail-read 4
refuse failing-read "imageio://127.0.0.1:$PORT_failing/$DISK" "the daemon answered 500"
grep -q '^CANCEL ' "$WORK/failing.log" || fail "failing-read: the transfer was not cancelled"
grep -q '^FINALIZE ' "$WORK/failing.log" && fail "failing-read: finalized after a failure"

: >"$WORK/main.log"
refuse wrong-password "$E/$DISK" \
    "the engine's SSO refused the login of 'admin@internal' (HTTP 400): Cannot authenticate user" \
    --imageio-secret-dir "$WORK/badsecret"
grep -q '^CREATE' "$WORK/main.log" && fail "wrong-password: a transfer was created"
refuse wrong-disk "$E/0000aaaa-0000-0000-0000-000000000000" \
    "creating the download of disk 0000aaaa-0000-0000-0000-000000000000: the engine answered 404"
st=0
"$IMPORTER" --url "$E/$DISK" --dest "$WORK/no-ca.raw" --imageio-secret-dir "$WORK/secret" \
    --progress none 2>"$WORK/err" || st=$?
[ "$st" = 1 ] && grep -q "certificate" "$WORK/err" && [ ! -e "$WORK/no-ca.raw" ] ||
    { cat "$WORK/err" >&2; fail "no-ca: the self-signed certificate was not refused"; }
echo "ok  no-ca (refused: $(head -c 160 "$WORK/err"))"
refuse bad-ca "$E/$DISK" "no PEM certificate" --imageio-ca /dev/null
refuse bad-url "imageio://127.0.0.1:$PORT_main/not-a-disk!" "expected imageio://ENGINE"

# SIGTERM while reading: cancelled, the importer dies of the signal, nothing left.
start_server sig --read-delay 1
out="$WORK/out-sig.raw"
"$IMPORTER" --url "imageio://127.0.0.1:$PORT_sig/$DISK" --dest "$out" "${OPTS[@]}" \
    2>"$WORK/sig.err" &
ipid=$!
for _ in $(seq 300); do
    grep -q '^READ ' "$WORK/sig.log" && break
    kill -0 "$ipid" 2>/dev/null || break
    sleep 0.1
done
grep -q '^READ ' "$WORK/sig.log" || { kill "$ipid"; fail "sigterm: the import never read"; }
kill -TERM "$ipid"
st=0
wait "$ipid" || st=$?
[ "$st" = 143 ] || { cat "$WORK/sig.err" >&2; fail "sigterm: exit status $st, expected 143"; }
grep -q '^CANCEL ' "$WORK/sig.log" || { cat "$WORK/sig.log" >&2; fail "sigterm: not cancelled"; }
[ ! -e "$out" ] || fail "sigterm: a destination exists"
ls "$out".tmp-* >/dev/null 2>&1 && fail "sigterm: temporary file left"
echo "ok  sigterm cancels the transfer"

# A daemon without the extents feature: every byte fetched, still right.
start_server noext --no-extents
check no-extents "imageio://127.0.0.1:$PORT_noext/$DISK"
grep -q '^FINALIZE ' "$WORK/noext.log" || fail "no-extents: not finalized"

# The engine's session expires after 3 API calls: 401, log in again, go on.
start_server expiring --token-uses 3
check token-expiry "imageio://127.0.0.1:$PORT_expiring/$DISK"
grep -q '^UNAUTHORIZED' "$WORK/expiring.log" || fail "token-expiry: no call was refused"
[ "$(grep -c '^TOKEN ok' "$WORK/expiring.log")" -ge 2 ] || fail "token-expiry: no second login"
grep -q '^FINALIZE ' "$WORK/expiring.log" || fail "token-expiry: not finalized"

# A daemon that reports no max_readers takes one reader at a time, and one
# that says 2 no more than 2, whatever the importer's threads.
start_server onereader --max-readers 0 --read-delay 0.05
check one-reader "imageio://127.0.0.1:$PORT_onereader/$DISK" --threads 4
start_server tworeaders --max-readers 2 --read-delay 0.05
check two-readers "imageio://127.0.0.1:$PORT_tworeaders/$DISK" --threads 4
grep -h '^OVERLOAD' "$WORK/onereader.log" "$WORK/tworeaders.log" &&
    fail "max-readers: more parallel reads than the daemon allows"
echo "ok  max_readers respected"

# A disk locked by another operation: tried again until it is free.
start_server locked --locked 2
check locked "imageio://127.0.0.1:$PORT_locked/$DISK"
[ "$(grep -c '^CREATE locked' "$WORK/locked.log")" = 2 ] || fail "locked: not refused twice"
grep -q '^FINALIZE ' "$WORK/locked.log" || fail "locked: not finalized"

# A guest disk whose content is a qcow2 image (a disk used as raw storage
# for an image) is imported as it is: raw, never probed as qcow2.
qemu-img create -q -f qcow2 "$WORK/inner.qcow2" 64M || fail "qemu-img create"
qemu-img resize -q -f raw "$WORK/inner.qcow2" 8M || fail "qemu-img resize"
IMAGE="$WORK/inner.qcow2" start_server qcow
out="$WORK/out-qcow.raw"
"$IMPORTER" --url "imageio://127.0.0.1:$PORT_qcow/$DISK" --dest "$out" "${OPTS[@]}" 2>"$WORK/err" ||
    { cat "$WORK/err" >&2; fail "qcow2-content: import failed"; }
cmp "$WORK/inner.qcow2" "$out" || fail "qcow2-content: not imported byte for byte"
echo "ok  qcow2-content: a raw transfer is never probed"

# The engine's token never went to a daemon.
cat "$WORK"/*.log | grep '^LEAK' && fail "the engine's token was sent to the imageio daemon"

echo "PASS"
