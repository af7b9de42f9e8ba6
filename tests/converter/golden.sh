#!/bin/sh
# Golden tests for ferry-converter (STYLE.md).  Every input under
# tests/golden/convert/ (<case>.EXT for each extension the converter's input
# table lists, `ferry-converter --list-inputs`: .vmx .ovf .vbox .xml .cfg
# ...; or <case>.EXT.d/, a directory packed into the tar <case>.EXT at test
# time with any .ovf first, as an OVA wants) is
# converted and compared with <case>.yaml (stdout, exit 0) or <case>.err
# (stderr, exit 1).  Optional per-case files:
#   <case>.args    extra command-line arguments, one line
#   <case>.images  "PATH FORMAT SIZE" lines: disk images created with qemu-img
#                  next to a copy of the input (binary files are not kept)
# Files under files/ are disk descriptors the inputs refer to.  Every .yaml is
# also validated, strictly, against KubeVirt's and CDI's OpenAPI schemas in
# deploy/openapi/ (scripts/validate-manifests).
#
# usage: golden.sh CASE      one case: CASE is the input's name without its
#                            extension (tests/converter.cmake registers one
#                            ctest per case: converter-golden/CASE)
#        golden.sh --files   the directory itself: a file that belongs to no
#                            case, two inputs for one case, or an input with
#                            neither .yaml nor .err fails; at least 30 cases
#
# FERRY_TEST_REGENERATE=1 rewrites the expected file of the case (review the
# diff).  It never changes what a case expects: a .yaml case whose input now
# fails, or an .err case whose input now converts, fails and writes nothing
# (delete the expected file to change the case's kind).  A case with no
# expected file yet gets the one that matches what the converter did.
set -u
: "${FERRY_BIN:?}" "${FERRY_SRC:?}"
DIR="$FERRY_SRC/tests/golden/convert"
VALIDATE="$FERRY_SRC/scripts/validate-manifests"
CONV="$(cd "$FERRY_BIN" && pwd)/ferry-converter"
export FERRY_LOG_FORMAT=text
REGEN=
[ "${FERRY_TEST_REGENERATE:-}" = 1 ] && REGEN=1

# The input extensions, from the converter's table: adding an input is its
# file and its table line, never an edit here.
[ -x "$CONV" ] || { echo "FAIL: $CONV is not built"; exit 1; }
EXTS=$("$CONV" --list-inputs | awk '{ for (i = 2; i <= NF && $i ~ /^\./; i++) print substr($i, 2) }')
[ -n "$EXTS" ] || { echo "FAIL: ferry-converter --list-inputs names no extension"; exit 1; }

is_input() {
    for ext in $EXTS; do
        case "$1" in
            *."$ext"|*."$ext".d) return 0 ;;
        esac
    done
    return 1
}

case_of() { # input file name -> case name
    c=${1%.d}
    echo "${c%.*}"
}

inputs_of() { # case -> its input file names, one a line
    for ext in $EXTS; do
        for b in "$1.$ext" "$1.$ext.d"; do
            [ -e "$DIR/$b" ] && echo "$b"
        done
    done
}

check_files() {
    fail=0
    count=0
    for f in "$DIR"/*; do
        b=$(basename "$f")
        case "$b" in
            files) continue ;;
            *.yaml|*.err|*.args|*.images)
                if [ -z "$(inputs_of "${b%.*}")" ]; then
                    echo "ORPHAN: $b has no input file"
                    fail=1
                fi ;;
            *)
                if ! is_input "$b"; then
                    echo "ORPHAN: $b is neither an input nor an expected output"
                    fail=1
                    continue
                fi
                c=$(case_of "$b")
                count=$((count + 1))
                if [ "$(inputs_of "$c" | wc -l)" -gt 1 ]; then
                    echo "FAIL: case $c has more than one input: $(inputs_of "$c" | tr '\n' ' ')"
                    fail=1
                fi
                if [ ! -f "$DIR/$c.yaml" ] && [ ! -f "$DIR/$c.err" ]; then
                    echo "ORPHAN: $b has no $c.yaml or $c.err"
                    fail=1
                elif [ -f "$DIR/$c.yaml" ] && [ -f "$DIR/$c.err" ]; then
                    echo "FAIL: case $c has both $c.yaml and $c.err"
                    fail=1
                fi ;;
        esac
    done
    echo "$count golden cases"
    [ $count -ge 30 ] || { echo "FAIL: fewer than 30 golden cases"; fail=1; }
    exit $fail
}

[ $# -eq 1 ] || { echo "usage: $0 CASE | --files" >&2; exit 2; }
[ "$1" = --files ] && check_files

case_=$1
b=$(inputs_of "$case_" | head -1)
[ -n "$b" ] || { echo "FAIL $case_: no input $DIR/$case_.EXT for any of:" $EXTS; exit 1; }
f="$DIR/$b"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
input="$f"
work="$TMP/$case_"
mkdir -p "$work"
if [ -d "$f" ]; then
    # An archive (OVA): the descriptor first, as the OVF spec requires, then
    # the rest.
    input="$work/${b%.d}"
    (cd "$f" && tar --format=ustar -cf "$input" $(ls | grep '\.ovf$') \
        $(ls | grep -v '\.ovf$')) || { echo "FAIL $case_: cannot build ${b%.d}"; exit 1; }
elif [ -f "$DIR/$case_.images" ]; then
    command -v qemu-img >/dev/null || { echo "SKIP $case_: qemu-img is not installed"; exit 77; }
    cp "$f" "$work/"
    input="$work/$b"
    while read -r path fmt size; do
        [ -n "$path" ] || continue
        mkdir -p "$work/$(dirname "$path")"
        qemu-img create -q -f "$fmt" "$work/$path" "$size" || { echo "FAIL $case_: qemu-img"; exit 1; }
    done < "$DIR/$case_.images"
fi
args=
[ -f "$DIR/$case_.args" ] && args=$(cat "$DIR/$case_.args")
# .args may quote (network names have spaces): let the shell parse it.
(cd "$DIR" && eval "\"\$CONV\" \"\$input\" $args") >"$work/out" 2>"$work/stderr"
rc=$?
# Messages name the input by its base name; keep paths out of the files.
sed -i "s|$TMP/$case_/||g" "$work/stderr"

validate() {
    python3 -c 'import jsonschema, yaml' 2>/dev/null ||
        { echo "SKIP $case_: python3-jsonschema and python3-yaml are needed to validate"; exit 77; }
    if ! python3 "$VALIDATE" "$1" >"$TMP/validate" 2>&1; then
        cat "$TMP/validate"; echo "FAIL $case_: the manifest does not validate"; exit 1
    fi
    tail -1 "$TMP/validate"
}

# check EXT WANT_RC GOT WHAT OTHER: the case's expected file $case_.EXT
# against GOT (the converter's WHAT), which it wanted to exit WANT_RC; OTHER
# names the other kind, which regeneration never turns the case into.
check() {
    if [ $rc -ne "$2" ]; then
        echo "FAIL $case_: exit $rc, expected $2"; cat "$work/stderr"
        [ -n "$REGEN" ] && echo "(not regenerated: a .$1 case stays one; delete $case_.$1 to make it $5)"
        exit 1
    fi
    [ "$1" = yaml ] && validate "$3"
    if [ -n "$REGEN" ]; then
        cmp -s "$3" "$DIR/$case_.$1" || { cp "$3" "$DIR/$case_.$1"; echo "rewrote $case_.$1"; }
    elif ! diff -u "$DIR/$case_.$1" "$3"; then
        echo "FAIL $case_: $4 differs"; exit 1
    fi
}

if [ -f "$DIR/$case_.yaml" ]; then
    check yaml 0 "$work/out" output "an error case"
elif [ -f "$DIR/$case_.err" ]; then
    check err 1 "$work/stderr" stderr "a success case"
elif [ -n "$REGEN" ]; then
    # A new case: it becomes what the converter did (review it).
    if [ $rc -eq 0 ]; then
        validate "$work/out"
        cp "$work/out" "$DIR/$case_.yaml"; echo "wrote $case_.yaml"
    elif [ $rc -eq 1 ]; then
        cp "$work/stderr" "$DIR/$case_.err"; echo "wrote $case_.err"
    else
        echo "FAIL $case_: exit $rc"; cat "$work/stderr"; exit 1
    fi
else
    echo "FAIL $case_: no $case_.yaml or $case_.err (FERRY_TEST_REGENERATE=1 writes it)"; exit 1
fi
echo "ok $case_"
exit 0
