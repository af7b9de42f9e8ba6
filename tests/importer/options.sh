#!/bin/bash
# The command-line contract: --size grows or refuses, --checksum (sha256,
# sha512, sha1, md5; local files hashed alongside, streams in line),
# --content-type archive, --progress json lines, usage errors (exit 2),
# DEST replaced only on success, a block device written in place.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
Q="$CORPUS/scattered.c.qcow2"
REF="$CORPUS/scattered.c.qcow2.ref"

# --size: grown to the volume size, zeros after the image.
"$IMPORTER" --url "$Q" --dest grown.raw --size 100Mi --progress none
[ "$(stat -c %s grown.raw)" = $((100 << 20)) ] || fail "--size 100Mi: size $(stat -c %s grown.raw)"
cmp -n $((64 << 20)) "$REF" grown.raw || fail "--size: data differs"
cmp -s -i $((64 << 20)):0 -n $((36 << 20)) grown.raw /dev/zero || fail "--size: tail not zero"
echo "ok  --size grows 64 MiB to 100 MiB"
expect_refusal size-too-small "$Q" "virtual size 64 MiB is larger than the 10 MiB volume" --size 10Mi
expect_refusal size-too-small-stream "$CORPUS/scattered.raw.gz" "is larger than the 10 MiB volume" --size 10Mi
"$IMPORTER" --url "$CORPUS/scattered.raw.gz" --dest grown2.raw --size 1Gi --progress none
[ "$(stat -c %s grown2.raw)" = $((1 << 30)) ] || fail "--size 1Gi on a stream"
echo "ok  --size 1Gi on a stream"

# --checksum: local seekable file, a compressed stream; each algorithm.
for alg in sha256 sha512 sha1 md5; do
    sum=$(${alg}sum "$Q" | cut -d' ' -f1)
    check_import "checksum-$alg" "$Q" "$REF" --checksum "$alg:$sum"
done
sum=$(sha256sum "$CORPUS/scattered.raw.zst" | cut -d' ' -f1)
check_import checksum-stream "$CORPUS/scattered.raw.zst" "$CORPUS/scattered.raw.zst.ref" --checksum "sha256:$sum"
sum=$(sha256sum "$CORPUS/scattered.ova" | cut -d' ' -f1)
check_import checksum-ova "$CORPUS/scattered.ova" "$CORPUS/scattered.ova.ref" --checksum "SHA256:$sum"
bad=$(printf 'f%.0s' $(seq 64))
expect_refusal checksum-mismatch "$Q" "checksum mismatch: sha256 expected $bad" --checksum "sha256:$bad"
expect_refusal checksum-mismatch-stream "$CORPUS/scattered.raw.gz" "checksum mismatch" --checksum "md5:$(printf '0%.0s' $(seq 32))"

# DEST is replaced only on success; a failure leaves the old one alone.
echo old >kept.raw
"$IMPORTER" --url "$Q" --dest kept.raw --checksum "sha256:$bad" --progress none 2>/dev/null && fail "mismatch accepted"
[ "$(cat kept.raw)" = old ] || fail "a failed import changed the existing destination"
"$IMPORTER" --url "$Q" --dest kept.raw --progress none
cmp -s "$REF" kept.raw || fail "a successful import did not replace the destination"
echo "ok  destination replaced only on success"
# Written under a temporary name, flushed, then renamed (strace shows the order).
if command -v strace >/dev/null; then
    strace -f -qq -o trace.txt -e trace=openat,fsync,fdatasync,rename,renameat,renameat2 \
        "$IMPORTER" --url "$Q" --dest "$WORK/traced.raw" --progress none
    python3 - trace.txt "$WORK/traced.raw" <<'PY' || fail "temporary name, fsync, rename: $(cat trace.txt)"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
dest = sys.argv[2]
tmp = next(re.search(r'"(%s\.tmp-\w+)", .*O_CREAT.* = (\d+)' % re.escape(dest), l).groups()
           for l in lines if dest + ".tmp-" in l and "O_CREAT" in l)
sync = next(i for i, l in enumerate(lines) if re.search(r"\bf(data)?sync\(%s\)" % tmp[1], l))
ren = next(i for i, l in enumerate(lines) if "rename" in l and '"%s", "%s"' % (tmp[0], dest) in l)
assert sync < ren, (sync, ren)
PY
    cmp -s "$REF" traced.raw || fail "traced import differs"
    echo "ok  written as $(basename "$(grep -o 'traced.raw.tmp-[A-Za-z0-9]*' trace.txt | head -1)"), fsynced, renamed"
else
    echo "note: no strace: the fsync before the rename is not checked"
fi

# --progress json: one object a line, phases, and the final report.
"$IMPORTER" --url "$Q" --dest p.raw --progress json >progress.json
python3 - progress.json <<'PY' || fail "progress JSON"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
for l in lines[:-1]:
    assert set(l) == {"phase", "bytes_done", "bytes_total", "rate"}, l
    assert l["phase"] in ("probing", "fetching", "scratch", "converting", "syncing"), l
conv = [l for l in lines if l["phase"] == "converting"]
assert conv and conv[-1]["bytes_done"] == conv[-1]["bytes_total"] == 64 << 20, conv
d = lines[-1]
assert d["phase"] == "done" and d["format"] == "qcow2" and d["virtual_size"] == 64 << 20, d
assert 0 < d["data_bytes"] < 8 << 20 and d["seconds"] >= 0, d
PY
echo "ok  progress JSON"
# --progress bar: percent, rate and ETA on stderr, then the line saying what was written.
"$IMPORTER" --url "$Q" --dest bar.raw --progress bar >out.txt 2>bar.txt
[ ! -s out.txt ] || fail "--progress bar wrote to stdout"
grep -q '%.*/s  ETA ' bar.txt || fail "--progress bar: no percent, rate, ETA: $(cat -v bar.txt)"
tail -1 bar.txt | grep -q "ferry-importer: wrote .*bar.raw: 64 MiB qcow2 disk, .* of data, in .* s" ||
    fail "--progress bar: final line $(tail -1 bar.txt | cat -v)"
# --progress auto (the default) without a terminal: JSON on stdout.
"$IMPORTER" --url "$Q" --dest auto.raw >auto.json 2>/dev/null
tail -1 auto.json | grep -q '"phase":"done".*"format":"qcow2"' || fail "--progress auto: $(tail -1 auto.json)"
echo "ok  progress bar and auto"
"$IMPORTER" --url "$Q" --dest p2.raw --progress none >out.txt 2>err.txt
[ ! -s out.txt ] && [ ! -s err.txt ] || fail "--progress none printed something"
echo "ok  --progress none is quiet"

# --content-type archive: a fresh directory, and into an existing one.
mkdir -p tree/sub; echo hello >tree/sub/a.txt; ln -s sub/a.txt tree/link; echo top >tree/b.txt
tar -C tree -cJf tree.tar.xz .
"$IMPORTER" --url tree.tar.xz --dest extracted --content-type archive --progress none
[ "$(cat extracted/sub/a.txt)" = hello ] && [ "$(readlink extracted/link)" = sub/a.txt ] &&
    [ "$(cat extracted/b.txt)" = top ] || fail "archive not extracted: $(find extracted)"
mkdir existing; echo keep >existing/keep
"$IMPORTER" --url tree.tar.xz --dest existing --content-type archive --progress none
[ -f existing/keep ] && [ "$(cat existing/sub/a.txt)" = hello ] || fail "archive into an existing directory"
ls -A existing | grep -q ferry-extract && fail "temporary directory left"
echo "ok  --content-type archive"
expect_refusal archive-not-tar "$Q" "not a tar archive\|Unrecognized" --content-type archive

# Usage errors: exit 2, one line naming the problem.
usage() {  # usage MESSAGE ARGS...
    local msg="$1"; shift
    set +e; "$IMPORTER" "$@" >/dev/null 2>err.txt; rc=$?; set -e
    [ "$rc" = 2 ] || fail "'$*': exit $rc, expected 2"
    grep -q -- "$msg" err.txt || fail "'$*': message $(cat err.txt)"
}
usage "required" --url x
usage "--size 'ten'" --url x --dest y --size ten
usage "--progress 'loud'" --url x --dest y --progress loud
usage "--content-type 'iso'" --url x --dest y --content-type iso
usage "unknown" --url x --dest y --bogus
usage "--disk '0'" --url x --dest y --disk 0
"$IMPORTER" --help | grep -q -- "--checksum" || fail "--help"
"$IMPORTER" --version | grep -q "ferry-importer" || fail "--version"
echo "ok  usage errors"
expect_refusal missing-source "$WORK/nope.qcow2" "nope.qcow2"
expect_refusal disk-3-of-2 "$CORPUS/scattered.tar.gz" "--disk 3: the archive has 2 disks" --disk 3

# SIGTERM (a deleted DataVolume) leaves no temporary file behind.
mkfifo slow.fifo
"$IMPORTER" --url slow.fifo --dest killed.raw --progress none 2>/dev/null &
imp=$!
PIDS="$PIDS $imp"
exec 7>slow.fifo
head -c $((8 << 20)) "$CORPUS/scattered.raw" >&7
for i in $(seq 100); do ls killed.raw.tmp-* >/dev/null 2>&1 && break; sleep 0.1; done
ls killed.raw.tmp-* >/dev/null 2>&1 || fail "no temporary file while importing"
kill -TERM "$imp"
wait "$imp" 2>/dev/null || true
exec 7>&-
ls killed.raw* >/dev/null 2>&1 && fail "SIGTERM left $(ls killed.raw*)"
echo "ok  SIGTERM removes the temporary file"

# A block device (a loop device over a file full of garbage), when allowed.
head -c $((80 << 20)) /dev/urandom >loop.img
if [ "$(id -u)" = 0 ] && command -v losetup >/dev/null && dev=$(losetup -f --show loop.img 2>/dev/null); then
    trap 'losetup -d "$dev" 2>/dev/null; cleanup' EXIT INT TERM
    "$IMPORTER" --url "$Q" --dest "$dev" --progress none
    cmp -n $((64 << 20)) "$REF" "$dev" || fail "block device: data differs"
    # The whole volume reads as the (grown) image: no garbage after it.
    cmp -s -n $((16 << 20)) -i $((64 << 20)):0 "$dev" /dev/zero || fail "block device: tail not zeroed"
    if command -v strace >/dev/null; then
        # Zeroes done efficiently: the 76 MiB of zeros are not written.
        head -c $((80 << 20)) /dev/urandom >"$dev"
        strace -f -qq -o trace.txt -e trace=ioctl,fallocate,pwrite64,pwritev,pwritev2,write \
            "$IMPORTER" --url "$Q" --dest "$dev" --progress none
        cmp -s -n $((80 << 20)) "$dev" <(cat "$REF"; head -c $((16 << 20)) /dev/zero) ||
            fail "block device: differs after the traced import"
        written=$(grep -E 'write' trace.txt | grep -oE '= [0-9]+$' | awk '{s += $2} END {print s + 0}')
        [ "$written" -lt $((8 << 20)) ] || fail "block device: $written bytes written for < 8 MiB of data"
        grep -qE 'BLKZEROOUT|FALLOC_FL_ZERO_RANGE' trace.txt || fail "block device: zeroed without BLKZEROOUT"
        echo "ok  block device: $written bytes written, zeros by BLKZEROOUT"
    fi
    head -c $((80 << 20)) /dev/urandom >"$dev"
    cat "$CORPUS/scattered.streamOptimized/disk.vmdk" | "$IMPORTER" --url /dev/stdin --dest "$dev" --progress none
    cmp -n $((64 << 20)) "$CORPUS/scattered.streamOptimized/disk.vmdk.ref" "$dev" || fail "block device: stream differs"
    cmp -s -n $((16 << 20)) -i $((64 << 20)):0 "$dev" /dev/zero || fail "block device: tail not zeroed after a stream"
    "$IMPORTER" --url "$CORPUS/big.twoGbMaxExtentSparse/disk.vmdk" --dest "$dev" --progress none 2>err.txt &&
        fail "a 4100 MiB image went onto an 80 MiB device"
    grep -q "virtual size 4.0 GiB is larger than the 80 MiB volume" err.txt || fail "block too small: $(cat err.txt)"
    losetup -d "$dev"
    trap cleanup EXIT INT TERM
    echo "ok  block device written in place"
else
    echo "note: no loop device here: block device path not tested"
fi
echo "options: all passed"
