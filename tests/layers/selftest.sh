#!/bin/sh
# The layering check fails on a crossing include and names it: a made-up
# tree with the real table, one clean file and one that includes across.
set -u
: "${FERRY_SRC:?}"
CHECK="$FERRY_SRC/scripts/check-layers.sh"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
mkdir -p "$TMP/cli" "$TMP/common" "$TMP/launcher" "$TMP/proto"
printf '#include "common/error.h"\n#include "proto/proto.h"\n' > "$TMP/cli/ok.c"
printf '/* x */\n#include "common/util.h"\n#include "launcher/domain.h"\n' > "$TMP/cli/bad.c"
fail=0

if "$CHECK" "$TMP" "$FERRY_SRC/scripts/layers.txt" > "$TMP/out" 2>&1; then
    echo "FAIL: check-layers accepted cli/bad.c including launcher/domain.h"
    fail=1
fi
want='cli/bad.c:3: includes "launcher/domain.h": cli/ may include only common cli proto'
if ! grep -qxF "$want" "$TMP/out"; then
    echo "FAIL: expected the line: $want"
    echo "got:"; cat "$TMP/out"
    fail=1
fi
if grep -q 'ok.c' "$TMP/out"; then
    echo "FAIL: cli/ok.c was reported"
    fail=1
fi

# A folder of C code without a line in the table.
rm "$TMP/cli/bad.c"
mkdir "$TMP/newlayer" && printf 'int x;\n' > "$TMP/newlayer/x.c"
if "$CHECK" "$TMP" "$FERRY_SRC/scripts/layers.txt" > "$TMP/out" 2>&1 ||
    ! grep -q '^newlayer/: a folder of C code with no line' "$TMP/out"; then
    echo "FAIL: an unknown folder of C code was not reported"; cat "$TMP/out"
    fail=1
fi
rm -r "$TMP/newlayer"
if ! "$CHECK" "$TMP" "$FERRY_SRC/scripts/layers.txt" > "$TMP/out" 2>&1; then
    echo "FAIL: a clean tree was refused"; cat "$TMP/out"
    fail=1
fi
[ $fail = 0 ] && echo "layers self-test: ok"
exit $fail
