#!/bin/sh
# Layering check: every #include "X/..." in the C code under a folder of
# scripts/layers.txt names a folder that folder may include from.  Prints
# each include that crosses a layer ("FILE:LINE: includes "X/y.h": FOLDER
# may include only A B C") and exits 1; exits 0 when there is none.
#   check-layers.sh [SOURCE_DIR [TABLE]]     (defaults: the tree, its table)
set -u
SRC=${1:-${FERRY_SRC:-$(dirname "$0")/..}}
TABLE=${2:-$SRC/scripts/layers.txt}
[ -r "$TABLE" ] || { echo "check-layers: cannot read '$TABLE'" >&2; exit 2; }
cd "$SRC" || exit 2

fail=0
folders=$(sed -n 's/^\([a-z][a-z0-9_-]*\):.*/\1/p' "$TABLE")
[ -n "$folders" ] || { echo "check-layers: no layers in '$TABLE'" >&2; exit 2; }

# A top-level folder of C code that the table does not know is an error too.
for d in */; do
    d=${d%/}
    case "$d" in tests|bench|build|build-*|samples|docs|deploy|scripts) continue ;; esac
    if [ -n "$(find "$d" -name '*.[ch]' -print -quit 2>/dev/null)" ] &&
        ! printf '%s\n' $folders | grep -qx "$d"; then
        echo "$d/: a folder of C code with no line in $TABLE"
        fail=1
    fi
done

for f in $folders; do
    allowed=$(sed -n "s/^$f:[[:space:]]*//p" "$TABLE")
    [ -d "$f" ] || continue
    out=$(find "$f" -name '*.[ch]' | sort | xargs -r awk -v allowed="$allowed" -v folder="$f" '
        BEGIN { n = split(allowed, a, /[[:space:]]+/); for (i = 1; i <= n; i++) ok[a[i]] = 1 }
        /^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"\/]+\// {
            s = $0; sub(/^[^"]*"/, "", s); inc = s; sub(/".*/, "", inc)
            top = inc; sub(/\/.*/, "", top)
            if (!(top in ok))
                printf "%s:%d: includes \"%s\": %s/ may include only %s\n", FILENAME, FNR, inc, folder, allowed
        }')
    if [ -n "$out" ]; then
        printf '%s\n' "$out"
        fail=1
    fi
done
exit $fail
