#!/bin/sh
# ferry-importer --list-formats / --list-sources and ferry-converter
# --list-inputs print the tables; --help names every entry they print; the
# registry's options are parsed from its table entry; a URL with a scheme no
# source reads is refused naming the schemes that work, and nothing is
# written.
set -eu
: "${FERRY_BIN:?FERRY_BIN not set (run through ctest)}"
export FERRY_LOG_FORMAT=text
IMP="$FERRY_BIN/ferry-importer"
CONV="$FERRY_BIN/ferry-converter"
WORK=$(mktemp -d /tmp/ferry-tables.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$IMP" --list-formats >formats.txt
"$IMP" --list-sources >sources.txt
"$IMP" --help >help.txt
[ "$(wc -l <formats.txt)" -ge 7 ] || fail "--list-formats: $(cat formats.txt)"
for f in raw iso qcow2 vmdk vdi vhd vhdx; do
    grep -q "^$f " formats.txt || fail "--list-formats lacks $f"
done
while read -r name exts _; do
    case "$exts" in .*) ;; *) fail "--list-formats: $name has no extension" ;; esac
    grep -q "[ (]$name[,;)]" help.txt || fail "--help does not name the format $name"
done <formats.txt
while read -r name schemes _; do
    [ -n "$schemes" ] || fail "--list-sources: $name has no scheme"
    grep -q "$name" help.txt || fail "--help does not name the source $name"
done <sources.txt
for s in file:// http:// https:// docker:// oci-archive: s3:// s3+http:// s3+https://; do
    grep -q " $s" sources.txt || grep -q "^[a-z]* *$s" sources.txt || fail "--list-sources lacks $s"
done
for o in --platform --secret-dir --auth-file --token-origin --insecure; do
    grep -q -- "^  $o" help.txt || fail "--help lacks the registry option $o"
done
for o in --s3-endpoint --s3-virtual-hosted --s3-region --s3-secret-dir --s3-ca-dir; do
    grep -q -- "^  $o" help.txt || fail "--help lacks the s3 option $o"
done
echo "ok  importer lists and --help"

# A source's options: parsed from the table, errors exit 2.
usage() {  # usage MESSAGE ARGS...
    msg="$1"; shift
    set +e; "$IMP" "$@" >/dev/null 2>err.txt; rc=$?; set -e
    [ "$rc" = 2 ] || fail "'$*': exit $rc, expected 2 ($(cat err.txt))"
    grep -q -- "$msg" err.txt || fail "'$*': message $(cat err.txt)"
}
usage "option '--insecure' takes no value" --insecure=yes --url x --dest y
usage "option '--platform' needs a value" --url x --dest y --platform
usage "--platform 'linux': expected OS/ARCH" --platform linux --url x --dest y
usage "--token-origin 'ftp://x'" --token-origin ftp://x --url x --dest y
usage "--s3-endpoint 'ftp://x': expected http" --s3-endpoint ftp://x --url x --dest y
usage "--s3-region 'EU WEST': expected a region name" --s3-region 'EU WEST' --url x --dest y
echo "ok  source options"

set +e; "$IMP" --url gs://bucket/disk.img --dest out.img 2>err.txt; rc=$?; set -e
[ "$rc" = 1 ] || fail "gs://: exit $rc"
grep -q "unsupported scheme 'gs': ferry-importer reads docker, oci-archive, vmware, imageio, http, https, s3, s3+http, s3+https, file" \
    err.txt || fail "gs://: $(cat err.txt)"
[ -z "$(ls -A | grep -v '\.txt$')" ] || fail "gs://: left $(ls -A)"
echo "ok  unsupported scheme"

"$CONV" --list-inputs >inputs.txt
"$CONV" --help >chelp.txt
[ "$(wc -l <inputs.txt)" -ge 6 ] || fail "--list-inputs: $(cat inputs.txt)"
for i in vmx ovf ova vbox libvirt xl; do
    grep -q "^$i " inputs.txt || fail "--list-inputs lacks $i"
    grep -q "^  $i " chelp.txt || fail "ferry-converter --help lacks $i"
done
while read -r name exts _; do
    case "$exts" in .*) ;; *) fail "--list-inputs: $name has no extension" ;; esac
done <inputs.txt
printf 'not a vm\n' >nothing.cfg
set +e; "$CONV" nothing.cfg >/dev/null 2>err.txt; rc=$?; set -e
[ "$rc" = 1 ] || fail "not a VM: exit $rc"
grep -q "not a recognized VM definition (OVA, OVF, .vbox, libvirt XML, VMX, xl.cfg)" err.txt ||
    fail "not a VM: $(cat err.txt)"
echo "ok  converter lists and --help"
