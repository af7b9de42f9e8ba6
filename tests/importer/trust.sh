#!/bin/bash
# Issue 13: nothing outside the image is read, a stream is as strict as a
# file, every layer checks its integrity.  Every hostile input is built
# here; each refusal asserts its text, exit status 1, one error line, and no
# destination nor temporary file left (expect_refusal).
. "$(dirname "$0")/lib.sh"
need tar gzip xz zstd bzip2 curl
cd "$WORK"
T="$WORK/trust"
mkdir -p "$T"
CRAFT="$HERE/craft-vmdk.py"

# expect_refusal_pipe NAME FILE MESSAGE [args]: FILE piped in as /dev/stdin.
expect_refusal_pipe() {
    local name="$1" file="$2" msg="$3"; shift 3
    local out="$WORK/refused-$name.raw" st=0
    rm -f "$out"
    cat "$file" | "$IMPORTER" --url /dev/stdin --dest "$out" --progress none "$@" 2>"$WORK/err" || st=$?
    check_refusal "$name" "$msg" "$st"
}
# check_pipe NAME FILE REF: FILE piped in imports as REF.
check_pipe() {
    local out="$WORK/out-$1.raw"
    rm -f "$out"
    cat "$2" | "$IMPORTER" --url /dev/stdin --dest "$out" --progress none 2>"$WORK/err" ||
        { cat "$WORK/err" >&2; fail "$1: import from a pipe failed"; }
    cmp "$3" "$out" >/dev/null || fail "$1: output differs"
    rm -f "$out"
    echo "ok  $1"
}
no_scratch_left() {
    ls -A "$WORK" | grep -q '^\.ferry-scratch' && fail "a scratch file is left in $WORK"
    return 0
}

# ---- the misbehaving HTTP server ----------------------------------------------
HTTPDIR="$T/http"
mkdir -p "$HTTPDIR"
python3 "$HERE/bad-http.py" "$HTTPDIR" "$T/port" &
SRV=$!
PIDS="$PIDS $SRV"
for i in $(seq 100); do [ -f "$T/port" ] && break; sleep 0.1; done
[ -f "$T/port" ] || fail "bad-http.py did not start"
URL="http://127.0.0.1:$(cat "$T/port")"

# ============================================================================
# 1. Nothing outside the image is read
# ============================================================================
desc() {  # desc FILE EXTENT-LINE
    printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\n# Extent description\n%s\n' "$2" >"$1"
}
# (a) A descriptor piped in as /dev/stdin has no directory: its extents
# would resolve in /dev (a loop device, shm/<file>).
desc "$T/stdin.vmdk" 'RW 8 FLAT "shm/ferry-test" 0'
expect_refusal_pipe vmdk-stdin-shm "$T/stdin.vmdk" "only a regular file in a directory has files beside it"
desc "$T/stdin-null.vmdk" 'RW 8 FLAT "null" 0'
expect_refusal_pipe vmdk-stdin-dev "$T/stdin-null.vmdk" "only a regular file in a directory has files beside it"
gzip -c "$T/stdin.vmdk" >"$T/stdin.vmdk.gz"
expect_refusal_pipe vmdk-stdin-gz "$T/stdin.vmdk.gz" "only a regular file in a directory has files beside it"

# Extents that are not regular files: a FIFO (which must not block the
# import either) and a socket.
mkdir -p "$T/special"
mkfifo "$T/special/fifo-flat.vmdk"
desc "$T/special/fifo.vmdk" 'RW 8 FLAT "fifo-flat.vmdk" 0'
expect_refusal vmdk-extent-fifo "$T/special/fifo.vmdk" "refusing 'fifo-flat.vmdk': not a regular file"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/special/sock-flat.vmdk"
desc "$T/special/sock.vmdk" 'RW 8 FLAT "sock-flat.vmdk" 0'
expect_refusal vmdk-extent-socket "$T/special/sock.vmdk" "refusing 'sock-flat.vmdk': not a regular file"
mkdir "$T/special/dir-flat.vmdk"
desc "$T/special/dir.vmdk" 'RW 8 FLAT "dir-flat.vmdk" 0'
expect_refusal vmdk-extent-directory "$T/special/dir.vmdk" "dir-flat.vmdk"

# (b) A genuine OVA: descriptor + flat extent.  Its extent is the member of
# the OVA, never the file of the same name beside it (here a decoy).
O="$T/ova"
mkdir -p "$O/src" "$O/host"
head -c 1048576 /dev/urandom >"$O/src/disk-flat.vmdk"
desc "$O/src/disk.vmdk" 'RW 2048 FLAT "disk-flat.vmdk" 0'
echo '<Envelope/>' >"$O/src/vm.ovf"
tar -C "$O/src" -cf "$O/host/vm.ova" vm.ovf disk.vmdk disk-flat.vmdk
head -c 1048576 /dev/urandom >"$O/host/disk-flat.vmdk"   # the decoy beside the OVA
gzip -c "$O/host/vm.ova" >"$O/host/vm.ova.gz"
cp "$O/host/vm.ova" "$O/host/vm.ova.gz" "$HTTPDIR/"
REF="$O/src/disk-flat.vmdk"
check_import ova-flat-file "$O/host/vm.ova" "$REF"
check_import ova-flat-gz "$O/host/vm.ova.gz" "$REF"
check_pipe ova-flat-pipe "$O/host/vm.ova" "$REF"
check_import ova-flat-http-range "$URL/ok/vm.ova" "$REF"
check_import ova-flat-http-norange "$URL/norange/vm.ova" "$REF"
check_import ova-flat-http-gz "$URL/ok/vm.ova.gz" "$REF"
no_scratch_left
# The same in a subdirectory of the tar: the extent is beside the
# descriptor there.
mkdir -p "$O/sub/dir"
cp "$O/src/disk.vmdk" "$O/src/disk-flat.vmdk" "$O/sub/dir/"
tar -C "$O/sub" -cf "$O/host/sub.ova" dir/disk.vmdk dir/disk-flat.vmdk
check_import ova-flat-subdir "$O/host/sub.ova" "$REF"

# A crafted OVA whose descriptor names a host file beside the archive.
head -c 1048576 /dev/urandom >"$O/host/secret"
desc "$O/src/evil.vmdk" 'RW 2048 FLAT "secret" 0'
tar -C "$O/src" -cf "$O/host/evil.ova" vm.ovf evil.vmdk
gzip -c "$O/host/evil.ova" >"$O/host/evil.ova.gz"
cp "$O/host/evil.ova" "$O/host/secret" "$HTTPDIR/"
expect_refusal ova-host-file "$O/host/evil.ova" "no member 'secret' in the archive"
expect_refusal ova-host-file-gz "$O/host/evil.ova.gz" "no member 'secret' in the archive"
expect_refusal_pipe ova-host-file-pipe "$O/host/evil.ova" "no member 'secret' in the archive"
expect_refusal ova-host-file-http "$URL/ok/evil.ova" "no member 'secret' in the archive"
expect_refusal ova-host-file-http-norange "$URL/norange/evil.ova" "no member 'secret' in the archive"
# An extent member that is a symbolic link (to a host file).
ln -s /etc/passwd "$O/src/link-flat.vmdk"
desc "$O/src/link.vmdk" 'RW 8 FLAT "link-flat.vmdk" 0'
tar -C "$O/src" -cf "$O/host/link.ova" link.vmdk link-flat.vmdk
gzip -c "$O/host/link.ova" >"$O/host/link.ova.gz"
expect_refusal ova-extent-symlink "$O/host/link.ova" "refusing the member 'link-flat.vmdk': not a regular file"
expect_refusal ova-extent-symlink-gz "$O/host/link.ova.gz" "refusing the member 'link-flat.vmdk': not a regular file"
# A stream cannot go back to an extent before its descriptor.
tar -C "$O/src" -cf "$O/host/rev.ova" vm.ovf disk-flat.vmdk disk.vmdk
gzip -c "$O/host/rev.ova" >"$O/host/rev.ova.gz"
check_import ova-rev-file "$O/host/rev.ova" "$REF" --disk 2
expect_refusal ova-rev-stream "$O/host/rev.ova.gz" "comes before the descriptor in the archive" --disk 2
# An empty first disk member is no 0-byte disk.
: >"$O/src/empty.img"
tar -C "$O/src" -cf "$O/host/empty.ova" vm.ovf empty.img disk.vmdk
expect_refusal tar-empty-disk "$O/host/empty.ova" "the disk member is empty"
gzip -c "$O/host/empty.ova" >"$O/host/empty.ova.gz"
expect_refusal tar-empty-disk-gz "$O/host/empty.ova.gz" "the disk member is empty"

# The confinement itself: once its source is open, the importer can read
# nothing but the source's directory (and system libraries), run nothing,
# and open no socket unless the source is http(s).  The probe (a test hook)
# tries each after confining and logs what happened; the import goes on.
probe() {  # probe NAME PATH URL [args]: import with the probe, stderr in $WORK/probe
    local name="$1" path="$2" url="$3"; shift 3
    rm -f "$WORK/pdest/probe.raw"
    FERRY_IMPORTER_SANDBOX_PROBE="$path" "$IMPORTER" --url "$url" --dest "$WORK/pdest/probe.raw" \
        --progress none "$@" 2>"$WORK/probe" || { cat "$WORK/probe" >&2; fail "$name: the import failed"; }
}
probe_says() {  # probe_says NAME TEXT
    grep -qF -- "$2" "$WORK/probe" || { cat "$WORK/probe" >&2; fail "$1: the probe does not say: $2"; }
}
if python3 -c 'import ctypes,sys; sys.exit(0 if ctypes.CDLL(None).syscall(444, None, 0, 1) >= 1 else 1)'; then
    mkdir -p "$WORK/pdest"   # the destination's directory is writable (and readable)
    cp "$CORPUS/scattered.v3.qcow2" "$T/special/probe.qcow2"
    echo readable >"$T/special/beside"
    echo secret >"$T/elsewhere"
    probe sandbox-file /etc/passwd "$T/special/probe.qcow2"
    probe_says sandbox-file "sandbox probe: open '/etc/passwd': Permission denied"
    probe_says sandbox-file "sandbox probe: execve '/bin/true': Operation not permitted"
    probe_says sandbox-file "sandbox probe: socket: Operation not permitted"
    cmp "$WORK/pdest/probe.raw" "$CORPUS/scattered.v3.qcow2.ref" >/dev/null || fail "sandbox-file: output differs"
    echo "ok  sandbox-file: /etc/passwd, execve and socket denied, the import done"
    probe sandbox-elsewhere "$T/elsewhere" "$T/special/probe.qcow2"
    probe_says sandbox-elsewhere "open '$T/elsewhere': Permission denied"
    # The control: a file beside the source is readable (extents), so the
    # probe can tell.
    probe sandbox-beside "$T/special/beside" "$T/special/probe.qcow2"
    probe_says sandbox-beside "open '$T/special/beside' succeeded"
    echo "ok  sandbox: a file beside the source is readable, one elsewhere is not"
    # A pipe has no directory: even a file beside the pipe's writer is denied.
    FERRY_IMPORTER_SANDBOX_PROBE="$T/special/beside" "$IMPORTER" --url /dev/stdin \
        --dest "$WORK/pdest/probe.raw" --progress none <"$T/special/probe.qcow2" 2>"$WORK/probe" ||
        { cat "$WORK/probe" >&2; fail "sandbox-redirect: the import failed"; }
    probe_says sandbox-redirect "open '$T/special/beside' succeeded"
    cat "$T/special/probe.qcow2" | FERRY_IMPORTER_SANDBOX_PROBE="$T/special/beside" "$IMPORTER" \
        --url /dev/stdin --dest "$WORK/pdest/probe.raw" --progress none 2>"$WORK/probe" ||
        { cat "$WORK/probe" >&2; fail "sandbox-pipe: the import failed"; }
    probe_says sandbox-pipe "open '$T/special/beside': Permission denied"
    echo "ok  sandbox: a pipe source reads nothing beside it (a redirected file does)"
    # http: sockets are allowed, the host's files still are not.
    cp "$CORPUS/scattered.v3.qcow2" "$HTTPDIR/probe.qcow2"
    probe sandbox-http /etc/passwd "$URL/ok/probe.qcow2"
    probe_says sandbox-http "sandbox probe: open '/etc/passwd': Permission denied"
    probe_says sandbox-http "sandbox probe: socket succeeded"
    probe_says sandbox-http "sandbox probe: execve '/bin/true': Operation not permitted"
    echo "ok  sandbox-http: sockets allowed, /etc/passwd and execve denied"
    # --content-type archive is confined too.
    probe sandbox-archive /etc/passwd "$O/host/vm.ova" --content-type archive
    probe_says sandbox-archive "sandbox probe: open '/etc/passwd': Permission denied"
    rm -rf "$WORK/pdest/probe.raw"
    echo "ok  sandbox-archive"
else
    echo "note: Landlock is not available on this kernel: the confinement is not tested"
fi

# ============================================================================
# 2. A stream is as strict as a file
# ============================================================================
S="$CORPUS/scattered.streamOptimized/disk.vmdk"
SREF="$T/so.ref"
qemu-img convert -O raw "$S" "$SREF"
python3 "$CRAFT" vmware "$S" "$T/vmware.vmdk"
qemu-img convert -O raw "$T/vmware.vmdk" "$T/vmware.ref"
cmp "$SREF" "$T/vmware.ref" >/dev/null || fail "the VMware layout made here is not the same disk for qemu-img"
# Both layouts import whole from a file and from every stream.
for v in so vmware; do
    f="$S"; [ $v = vmware ] && f="$T/vmware.vmdk"
    cp "$f" "$HTTPDIR/$v.vmdk"
    gzip -c "$f" >"$T/$v.vmdk.gz"; xz -c "$f" >"$T/$v.vmdk.xz"; zstd -q -c "$f" >"$T/$v.vmdk.zst"
    check_import "stream-$v-file" "$f" "$SREF"
    for z in gz xz zst; do check_import "stream-$v-$z" "$T/$v.vmdk.$z" "$SREF"; done
    check_pipe "stream-$v-pipe" "$f" "$SREF"
    check_import "stream-$v-http-norange" "$URL/norange/$v.vmdk" "$SREF"
done
# Cut at a grain boundary (qemu's layout and VMware's), before the footer,
# between the footer and the end-of-stream marker: refused from a file and
# from every stream.
python3 "$CRAFT" cut-grain "$S" "$T/cut-so.vmdk" 10
python3 "$CRAFT" cut-grain "$T/vmware.vmdk" "$T/cut-vmware.vmdk" 10
python3 "$CRAFT" cut-before-footer "$T/vmware.vmdk" "$T/cut-footer.vmdk"
python3 "$CRAFT" cut-before-eos "$T/vmware.vmdk" "$T/cut-eos.vmdk"
for c in cut-so cut-vmware cut-footer cut-eos; do
    case $c in
    cut-eos) msg="without the end-of-stream marker after its footer" ;;
    *) msg="without its footer and end-of-stream marker" ;;
    esac
    f="$T/$c.vmdk"
    gzip -c "$f" >"$f.gz"; xz -c "$f" >"$f.xz"; zstd -q -c "$f" >"$f.zst"; cp "$f" "$HTTPDIR/"
    fmsg="the footer at the end is invalid"; [ $c = cut-so ] && fmsg="is past the end of the file"
    expect_refusal "$c-file" "$f" "$fmsg"
    for z in gz xz zst; do expect_refusal "$c-$z" "$f.$z" "$msg"; done
    expect_refusal_pipe "$c-pipe" "$f" "$msg"
    expect_refusal "$c-http-norange" "$URL/norange/$c.vmdk" "$msg"
done
# A grain whose size overstates its data swallows the next grain.
python3 "$CRAFT" overstate "$T/vmware.vmdk" "$T/over.vmdk"
gzip -c "$T/over.vmdk" >"$T/over.vmdk.gz"
expect_refusal grain-overstated-file "$T/over.vmdk" "overstates the compressed data"
expect_refusal grain-overstated-gz "$T/over.vmdk.gz" "overstates the compressed data"
expect_refusal_pipe grain-overstated-pipe "$T/over.vmdk" "overstates the compressed data"
# The embedded descriptor elsewhere than sector 1, with a parent.
python3 "$CRAFT" parent-desc "$S" "$T/parent.vmdk"
zstd -q -c "$T/parent.vmdk" >"$T/parent.vmdk.zst"
expect_refusal delta-desc2-file "$T/parent.vmdk" "refusing a delta disk"
expect_refusal delta-desc2-zst "$T/parent.vmdk.zst" "refusing a delta disk"
expect_refusal_pipe delta-desc2-pipe "$T/parent.vmdk" "refusing a delta disk"
# HTTP: a close-delimited body cut midway, a 206 not from the offset asked
# for, a 206 without the total size.
cp "$CORPUS/scattered.raw" "$CORPUS/scattered.v3.qcow2" "$CORPUS/cd.iso" "$HTTPDIR/"
for f in scattered.raw scattered.v3.qcow2 cd.iso; do
    # No Range to resume: the import starts over (a warning each time, issue
    # 15), then gives up with one error line.
    st=0; rm -f "$WORK/refused-cut.raw"
    "$IMPORTER" --url "$URL/cut/$f" --dest "$WORK/refused-cut.raw" --progress none 2>"$WORK/err" || st=$?
    [ "$st" = 1 ] || { cat "$WORK/err" >&2; fail "http-cut-$f: exit status $st, expected 1"; }
    [ "$(grep -c 'warning: .*the body ended after [0-9]* bytes, but the server announced .*: starting the import over from byte 0' "$WORK/err")" = 3 ] ||
        { cat "$WORK/err" >&2; fail "http-cut-$f: not 3 restarts logged"; }
    [ "$(grep -c 'error: .*the body ended after [0-9]* bytes, but the server announced '"$(stat -c %s "$HTTPDIR/$f")"'.*started over 3 times' "$WORK/err")" = 1 ] ||
        { cat "$WORK/err" >&2; fail "http-cut-$f: no final error"; }
    [ "$(wc -l <"$WORK/err")" = 4 ] || { cat "$WORK/err" >&2; fail "http-cut-$f: more lines than 3 warnings and an error"; }
    [ ! -e "$WORK/refused-cut.raw" ] && ! ls "$WORK"/refused-cut.raw.tmp-* >/dev/null 2>&1 ||
        fail "http-cut-$f: something left after the failure"
    echo "ok  http-cut-$f (restarted 3 times, then refused)"
    expect_refusal "http-206-shifted-$f" "$URL/shifted/$f" "the server answered 206 with bytes 0-"
    expect_refusal "http-206-nototal-$f" "$URL/nototal/$f" "without 'Content-Range: bytes 0-0/SIZE'"
done
no_scratch_left

# ============================================================================
# 3. Every layer checks its integrity
# ============================================================================
R="$CORPUS/scattered.raw"
gzip -c "$R" >"$T/r.gz"
sz=$(stat -c %s "$T/r.gz")
cp "$T/r.gz" "$T/crc.gz"; printf '\x00\x00' | dd of="$T/crc.gz" bs=1 seek=$((sz - 7)) conv=notrunc status=none
cp "$T/r.gz" "$T/isize.gz"; printf '\x01' | dd of="$T/isize.gz" bs=1 seek=$((sz - 2)) conv=notrunc status=none
head -c $((sz - 3)) "$T/r.gz" >"$T/trailer.gz"
! gzip -t "$T/crc.gz" 2>/dev/null || fail "crc.gz is not corrupt for gzip -t"
expect_refusal gzip-crc "$T/crc.gz" "incorrect data check (its CRC32 does not match: corrupt)"
expect_refusal gzip-isize "$T/isize.gz" "incorrect length check (its size does not match: corrupt)"
expect_refusal gzip-cut-trailer "$T/trailer.gz" "gzip: the stream is truncated"
grep -q '(null)' "$WORK/err" && fail "gzip-cut-trailer: the message says (null)"
expect_refusal_pipe gzip-crc-pipe "$T/crc.gz" "its CRC32 does not match"
cp "$T/crc.gz" "$HTTPDIR/"
expect_refusal gzip-crc-http "$URL/norange/crc.gz" "its CRC32 does not match"
# The second member of a multi-member gzip is checked too; a good one imports.
head -c 1048576 "$R" >"$T/m1"; tail -c +1048577 "$R" >"$T/m2"
gzip -c "$T/m1" >"$T/multi.gz"; gzip -c "$T/m2" >>"$T/multi.gz"
check_import gzip-multi-member "$T/multi.gz" "$R"
gzip -c "$T/m1" >"$T/multi-bad.gz"; cat "$T/crc.gz" >>"$T/multi-bad.gz"
expect_refusal gzip-member2-crc "$T/multi-bad.gz" "member 2: incorrect data check"
# Every optional header field (FEXTRA, FNAME, FCOMMENT, FHCRC) is parsed.
python3 - "$R" "$T/fields.gz" <<'PY'
import sys, zlib, struct
data = open(sys.argv[1], "rb").read()
c = zlib.compressobj(6, zlib.DEFLATED, -15); body = c.compress(data) + c.flush()
hdr = bytearray(b"\x1f\x8b\x08" + bytes([4 | 8 | 16 | 2]) + b"\0\0\0\0\0\3")
hdr += struct.pack("<H", 6) + b"AB\2\0xy" + b"name.raw\0" + b"a comment\0"
hdr += struct.pack("<H", zlib.crc32(bytes(hdr)) & 0xffff)
open(sys.argv[2], "wb").write(bytes(hdr) + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xffffffff))
PY
gzip -t "$T/fields.gz" || fail "fields.gz is not valid for gzip -t"
check_import gzip-header-fields "$T/fields.gz" "$R"
# --content-type archive: a tar.gz with a bad CRC.
tar -C "$O/src" -czf "$T/a.tar.gz" vm.ovf disk.vmdk
asz=$(stat -c %s "$T/a.tar.gz")
printf '\x00\x00' | dd of="$T/a.tar.gz" bs=1 seek=$((asz - 7)) conv=notrunc status=none
expect_refusal archive-gzip-crc "$T/a.tar.gz" "its CRC32 does not match" --content-type archive
# xz, zstd, bzip2: corruption in the middle and a cut end.
for z in xz zstd bzip2; do
    $z -c "$R" >"$T/r.$z"
    zs=$(stat -c %s "$T/r.$z")
    cp "$T/r.$z" "$T/bad.$z"
    printf '\x55\x55\x55\x55' | dd of="$T/bad.$z" bs=1 seek=$((zs / 2)) conv=notrunc status=none
    head -c $((zs - 3)) "$T/r.$z" >"$T/cut.$z"
done
expect_refusal xz-corrupt "$T/bad.xz" "Corrupted input data"
expect_refusal zstd-corrupt "$T/bad.zstd" "Data corruption detected"
expect_refusal bzip2-corrupt "$T/bad.bzip2" "bzip decompression failed"
expect_refusal xz-cut "$T/cut.xz" "unpacking: Lzma library error"
expect_refusal zstd-cut "$T/cut.zstd" "Truncated zstd input"
expect_refusal bzip2-cut "$T/cut.bzip2" "truncated bzip2 input"
no_scratch_left

# ============================================================================
# 4. Work is bounded by what the user and the header allow
# ============================================================================
# A compressed random-access image goes through a scratch file: the copy
# stops at what the header allows (zeros or garbage behind a qcow2), and a
# header larger than --size is refused before any copy.
qemu-img create -q -f qcow2 "$T/small.qcow2" 100M
qemu-io -c "write -P 0x5a 1M 1M" "$T/small.qcow2" >/dev/null
qemu-img convert -O raw "$T/small.qcow2" "$T/small.ref"
cp "$T/small.qcow2" "$T/tail.qcow2"
truncate -s +512M "$T/tail.qcow2"
zstd -q -1 -c "$T/tail.qcow2" >"$T/tail.qcow2.zst"; rm -f "$T/tail.qcow2"
zstd -q -c "$T/small.qcow2" >"$T/small.qcow2.zst"
check_import bounded-good-zst "$T/small.qcow2.zst" "$T/small.ref" --size 100Mi
expect_refusal bounded-tail-zst "$T/tail.qcow2.zst" "the image goes on beyond 165.6 MiB, more than a qcow2 of 100 MiB takes"
expect_refusal bounded-tail-zst-size "$T/tail.qcow2.zst" "the image goes on beyond 165.6 MiB" --size 100Mi
qemu-img create -q -f qcow2 "$T/big.qcow2" 3G
zstd -q -c "$T/big.qcow2" >"$T/big.qcow2.zst"
expect_refusal bounded-header-size "$T/big.qcow2.zst" "virtual size 3 GiB is larger than the 100 MiB volume" --size 100Mi
no_scratch_left

# ============================================================================
# 6. --checksum means the disk
# ============================================================================
sum=$(sha256sum "$O/src/disk.vmdk" | cut -d' ' -f1)
expect_refusal checksum-descriptor "$O/src/disk.vmdk" "--checksum covers only this file, not 'disk-flat.vmdk' beside it" --checksum "sha256:$sum"
cp "$O/src/disk.vmdk" "$O/src/disk-flat.vmdk" "$HTTPDIR/"
expect_refusal checksum-descriptor-http "$URL/ok/disk.vmdk" "--checksum covers only this file" --checksum "sha256:$sum"
check_import checksum-descriptor-none "$O/src/disk.vmdk" "$REF"
osum=$(sha256sum "$O/host/vm.ova" | cut -d' ' -f1)
check_import checksum-ova "$O/host/vm.ova" "$REF" --checksum "sha256:$osum"
check_import checksum-ova-gz "$O/host/vm.ova.gz" "$REF" --checksum "sha256:$(sha256sum "$O/host/vm.ova.gz" | cut -d' ' -f1)"

# ============================================================================
# 7. Archive content (--content-type archive)
# ============================================================================
mkarch() {  # mkarch OUT KIND
    python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
out, kind = sys.argv[1], sys.argv[2]
def add(t, name, data=b"x", type=tarfile.REGTYPE, link="", mode=0o644, uid=0):
    i = tarfile.TarInfo(name); i.type = type; i.linkname = link; i.mode = mode; i.uid = uid
    i.size = len(data) if type == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if type == tarfile.REGTYPE else None)
with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
    add(t, "d", type=tarfile.DIRTYPE, mode=0o755)
    if kind == "setuid":
        add(t, "d/suid", b"#!/bin/sh\n", mode=0o4755)
        add(t, "d/sgid", b"#!/bin/sh\n", mode=0o2755)
    if kind == "chain":     # d/up -> .. is the tree; x -> d/up/.. is its parent
        add(t, "d/up", type=tarfile.SYMTYPE, link="..")
        add(t, "x", type=tarfile.SYMTYPE, link="d/up/..")
    if kind == "chain2":    # a -> d/up (the tree), then b -> a/.. (its parent)
        add(t, "d/up", type=tarfile.SYMTYPE, link="..")
        add(t, "a", type=tarfile.SYMTYPE, link="d/up")
        add(t, "b", type=tarfile.SYMTYPE, link="a/..")
    if kind == "through":   # a link, then an entry written through it
        add(t, "d/up", type=tarfile.SYMTYPE, link="..")
        add(t, "d/up/f", b"through")
    if kind == "good":
        add(t, "d/f", b"fine")
        add(t, "d/self", type=tarfile.SYMTYPE, link="f")
        add(t, "top", type=tarfile.SYMTYPE, link="d/self")
PY
}
for k in setuid chain chain2 through good; do mkarch "$T/$k.tar" $k; done
rm -rf "$WORK/ax"
"$IMPORTER" --url "$T/setuid.tar" --dest "$WORK/ax" --content-type archive --progress none ||
    fail "archive-setuid: the import failed"
[ "$(stat -c %a "$WORK/ax/d/suid")" = 755 ] || fail "archive-setuid: mode $(stat -c %a "$WORK/ax/d/suid"), expected 755"
[ "$(stat -c %a "$WORK/ax/d/sgid")" = 755 ] || fail "archive-setgid: mode $(stat -c %a "$WORK/ax/d/sgid"), expected 755"
if [ "$(id -u)" = 0 ]; then
    [ "$(stat -c %u:%g "$WORK/ax/d/suid")" = 107:107 ] || fail "archive-owner: $(stat -c %u:%g "$WORK/ax/d/suid"), expected CDI's 107:107"
    rm -rf "$WORK/ax"
    "$IMPORTER" --url "$T/setuid.tar" --dest "$WORK/ax" --content-type archive --progress none --owner 1234:4321 ||
        fail "archive-owner: the import failed"
    [ "$(stat -c %u:%g "$WORK/ax/d/suid")" = 1234:4321 ] || fail "archive-owner: $(stat -c %u:%g "$WORK/ax/d/suid"), expected 1234:4321"
    echo "ok  archive: setuid/setgid stripped, owner 107:107 or --owner"
else
    echo "ok  archive: setuid/setgid stripped (not root: ownership not tested)"
fi
rm -rf "$WORK/ax"
expect_refusal archive-link-chain "$T/chain.tar" "symbolic link to 'd/up/..' leaves the archive through the links before it" --content-type archive
expect_refusal archive-link-chain2 "$T/chain2.tar" "symbolic link to 'a/..' leaves the archive through the links before it" --content-type archive
expect_refusal archive-through-link "$T/through.tar" "goes through the symbolic link 'd/up'" --content-type archive
"$IMPORTER" --url "$T/good.tar" --dest "$WORK/ax" --content-type archive --progress none || fail "archive-good-links: refused"
[ "$(cat "$WORK/ax/top")" = fine ] || fail "archive-good-links: top does not lead to d/f"
rm -rf "$WORK/ax"
echo "ok  archive-good-links: links inside the tree, also chained, are kept"
# SIGTERM in the middle of an extraction leaves no partial tree.
python3 - "$T/slow.tar" <<'PY'
import io, os, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for i in range(4):
        data = os.urandom(1 << 20)
        ti = tarfile.TarInfo("f%d" % i); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
PY
mkdir -p "$WORK/sig"
mkfifo "$T/slow.fifo"
"$IMPORTER" --url "$T/slow.fifo" --dest "$WORK/sig/tree" --content-type archive --progress none 2>/dev/null &
IMP=$!
PIDS="$PIDS $IMP"
exec 7>"$T/slow.fifo"
head -c $((2 << 20)) "$T/slow.tar" >&7
for i in $(seq 100); do ls "$WORK/sig"/tree.tmp-*/f1 >/dev/null 2>&1 && break; sleep 0.1; done
ls "$WORK/sig"/tree.tmp-*/f0 >/dev/null 2>&1 || fail "archive-sigterm: no partial tree to begin with"
kill -TERM "$IMP"
st=0; wait "$IMP" || st=$?
exec 7>&-
[ "$st" = 143 ] || fail "archive-sigterm: exit status $st, expected 143 (SIGTERM)"
[ -z "$(ls -A "$WORK/sig")" ] || fail "archive-sigterm: left behind: $(ls -A "$WORK/sig")"
echo "ok  archive-sigterm: the partial tree is removed"

# ============================================================================
# 8. Sizes match qemu-img for ragged sizes
# ============================================================================
# A size that is not whole sectors is rounded up, as qemu-img does for raw
# and VDI; for qcow2 qemu-img rounds down and drops the last bytes, which
# Ferry keeps (rounded up too).
RG="$T/ragged"
mkdir -p "$RG"
head -c 1000000 /dev/urandom >"$RG/r.raw"
qemu-img convert -f raw -O raw "$RG/r.raw" "$RG/r.ref"
[ "$(stat -c %s "$RG/r.ref")" = 1000448 ] || fail "qemu-img does not round a raw of 1000000 bytes to 1000448"
gzip -c "$RG/r.raw" >"$RG/r.raw.gz"
cp "$RG/r.raw" "$HTTPDIR/ragged.raw"
check_import ragged-raw "$RG/r.raw" "$RG/r.ref"
check_import ragged-raw-gz "$RG/r.raw.gz" "$RG/r.ref"
check_pipe ragged-raw-pipe "$RG/r.raw" "$RG/r.ref"
check_import ragged-raw-http "$URL/ok/ragged.raw" "$RG/r.ref"
check_import ragged-raw-http-norange "$URL/norange/ragged.raw" "$RG/r.ref"
# VDI and qcow2 whose header says 1000000 bytes.
qemu-img convert -f raw -O vdi "$RG/r.raw" "$RG/r.vdi"
qemu-img convert -f raw -O qcow2 "$RG/r.raw" "$RG/r.qcow2"
python3 -c 'import struct,sys; f=open(sys.argv[1],"r+b"); f.seek(0x170); f.write(struct.pack("<Q",1000000))' "$RG/r.vdi"
python3 -c 'import struct,sys; f=open(sys.argv[1],"r+b"); f.seek(24); f.write(struct.pack(">Q",1000000))' "$RG/r.qcow2"
qemu-img convert -O raw "$RG/r.vdi" "$RG/vdi.ref"
check_import ragged-vdi "$RG/r.vdi" "$RG/vdi.ref"
gzip -c "$RG/r.vdi" >"$RG/r.vdi.gz"
check_import ragged-vdi-gz "$RG/r.vdi.gz" "$RG/vdi.ref"
qemu-img convert -O raw "$RG/r.qcow2" "$RG/qcow2.qemu"
[ "$(stat -c %s "$RG/qcow2.qemu")" = 999936 ] || fail "qemu-img's ragged qcow2 is not 999936 bytes"
head -c 1000000 "$RG/r.raw" >"$RG/qcow2.ref"; truncate -s 1000448 "$RG/qcow2.ref"
check_import ragged-qcow2 "$RG/r.qcow2" "$RG/qcow2.ref"
echo "ok  ragged-qcow2: 1000448 bytes, the last 64 bytes kept (qemu-img drops them: 999936)"

# ============================================================================
# 9. Messages
# ============================================================================
tsz=$(stat -c %s "$CORPUS/scattered.qcow2.ova")
head -c $((tsz / 2)) "$CORPUS/scattered.qcow2.ova" >"$T/cut.ova"
gzip -c "$T/cut.ova" >"$T/cut.ova.gz"
expect_refusal tar-truncated "$T/cut.ova" "the tar is truncated"
expect_refusal tar-truncated-gz "$T/cut.ova.gz" "Truncated tar archive"
expect_refusal_pipe tar-truncated-pipe "$T/cut.ova" "Truncated tar archive"
expect_refusal tar-truncated-archive "$T/cut.ova" "Truncated tar archive" --content-type archive
# A bomb refused by --size says how big it got from how little.
head -c 300M /dev/zero | gzip -1 >"$T/bomb.gz"
expect_refusal bomb-size "$T/bomb.gz" "virtual size (at least 101 MiB, from the first [0-9.]* [KM]iB fetched) is larger than the 100 MiB volume" --size 100Mi

echo "trust: all checked"
