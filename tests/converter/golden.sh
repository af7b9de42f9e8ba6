#!/bin/sh
# Golden tests for ferry-converter (STYLE.md): every input under
# tests/golden/convert/ (<case>.vmx .ovf .vbox .xml .cfg, or <case>.ova.d/, a
# directory packed into <case>.ova at test time with the .ovf first) is
# converted and compared with <case>.yaml (stdout, exit 0) or <case>.err
# (stderr, exit 1).  Optional per-case files:
#   <case>.args    extra command-line arguments, one line
#   <case>.images  "PATH FORMAT SIZE" lines: disk images created with qemu-img
#                  next to a copy of the input (binary files are not kept)
# Files under files/ are disk descriptors the inputs refer to.
# FERRY_TEST_REGENERATE=1 rewrites the expected files (review the diff).  An
# input without expected output, or an expected file without input, fails.
# Every .yaml is then validated with $FERRY_SHARED/tools/validate-manifests.
set -u
: "${FERRY_BIN:?}" "${FERRY_SRC:?}"
DIR="$FERRY_SRC/tests/golden/convert"
CONV="$(cd "$FERRY_BIN" && pwd)/ferry-converter"
export FERRY_LOG_FORMAT=text
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
fail=0
count=0

is_input() {
    case "$1" in
        *.vmx|*.ovf|*.vbox|*.xml|*.cfg|*.ova.d) return 0 ;;
    esac
    return 1
}

# Orphans: expected files without input, per-case files without input.
for f in "$DIR"/*; do
    b=$(basename "$f")
    case "$b" in
        files) continue ;;
        *.yaml|*.err|*.args|*.images)
            case_=${b%.*}
            found=
            for ext in vmx ovf vbox xml cfg ova.d; do
                [ -e "$DIR/$case_.$ext" ] && found=1
            done
            if [ -z "$found" ]; then
                echo "ORPHAN: $b has no input file"
                fail=1
            fi ;;
        *)
            if ! is_input "$b"; then
                echo "ORPHAN: $b is neither an input nor an expected output"
                fail=1
            fi ;;
    esac
done

for f in "$DIR"/*; do
    b=$(basename "$f")
    is_input "$b" || continue
    case_=${b%.ova.d}
    case_=${case_%.*}
    count=$((count + 1))
    input="$f"
    work="$TMP/$case_"
    mkdir -p "$work"
    if [ -d "$f" ]; then
        # OVA: the descriptor first, as the OVF spec requires, then the rest.
        (cd "$f" && tar --format=ustar -cf "$work/$case_.ova" $(ls | grep '\.ovf$') \
            $(ls | grep -v '\.ovf$')) || { echo "FAIL $case_: cannot build the OVA"; fail=1; continue; }
        input="$work/$case_.ova"
    elif [ -f "$DIR/$case_.images" ]; then
        cp "$f" "$work/"
        input="$work/$b"
        while read -r path fmt size; do
            [ -n "$path" ] || continue
            mkdir -p "$work/$(dirname "$path")"
            qemu-img create -q -f "$fmt" "$work/$path" "$size" || { echo "FAIL $case_: qemu-img"; fail=1; }
        done < "$DIR/$case_.images"
    fi
    args=
    [ -f "$DIR/$case_.args" ] && args=$(cat "$DIR/$case_.args")
    # .args may quote (network names have spaces): let the shell parse it.
    (cd "$DIR" && eval "\"\$CONV\" \"\$input\" $args") >"$work/out" 2>"$work/stderr"
    rc=$?
    # Messages name the input by its base name; keep paths out of the files.
    sed -i "s|$TMP/$case_/||g" "$work/stderr"
    if [ -n "${FERRY_TEST_REGENERATE:-}" ]; then
        if [ $rc -eq 0 ]; then
            cp "$work/out" "$DIR/$case_.yaml"; rm -f "$DIR/$case_.err"
        else
            cp "$work/stderr" "$DIR/$case_.err"; rm -f "$DIR/$case_.yaml"
        fi
        continue
    fi
    if [ -f "$DIR/$case_.yaml" ]; then
        if [ $rc -ne 0 ]; then
            echo "FAIL $case_: exit $rc, expected 0"; cat "$work/stderr"; fail=1
        elif ! diff -u "$DIR/$case_.yaml" "$work/out"; then
            echo "FAIL $case_: output differs"; fail=1
        fi
    elif [ -f "$DIR/$case_.err" ]; then
        if [ $rc -ne 1 ]; then
            echo "FAIL $case_: exit $rc, expected 1"; fail=1
        elif ! diff -u "$DIR/$case_.err" "$work/stderr"; then
            echo "FAIL $case_: stderr differs"; fail=1
        fi
    else
        echo "ORPHAN: $b has no $case_.yaml or $case_.err"
        fail=1
    fi
done

if [ -z "${FERRY_TEST_REGENERATE:-}" ]; then
    VALIDATE="${FERRY_SHARED:-$FERRY_SRC/../shared}/tools/validate-manifests"
    if [ -x "$VALIDATE" ] || [ -f "$VALIDATE" ]; then
        set -- "$DIR"/*.yaml
        if ! python3 "$VALIDATE" "$@" >"$TMP/validate" 2>&1; then
            cat "$TMP/validate"; echo "FAIL: manifests do not validate"; fail=1
        else
            tail -1 "$TMP/validate"
        fi
    else
        echo "FAIL: validate-manifests not found at $VALIDATE"; fail=1
    fi
fi
echo "$count golden cases"
[ $count -ge 30 ] || { echo "FAIL: fewer than 30 golden cases"; fail=1; }
exit $fail
