#!/bin/sh
# Every golden domain XML must pass libvirt's own schema (virt-xml-validate).
set -eu
command -v virt-xml-validate >/dev/null || { echo "missing: virt-xml-validate (libvirt-clients)"; exit 77; }
dir=${FERRY_SRC:?}/tests/golden/domain
n=0; bad=0
for f in "$dir"/*.xml; do
    n=$((n + 1))
    if ! out=$(virt-xml-validate "$f" domain 2>&1); then
        echo "INVALID $f: $out"; bad=$((bad + 1))
    fi
done
echo "$n domain XML files, $bad invalid"
[ "$n" -ge 25 ] && [ "$bad" -eq 0 ]
