#!/bin/sh
# Every sample manifest: a first comment line saying what it shows, and a
# strict schema check against KubeVirt's and CDI's OpenAPI documents in
# deploy/openapi (scripts/validate-manifests).
set -eu
src=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! python3 -c 'import jsonschema, yaml' 2>/dev/null; then
    echo "SKIP: python3-jsonschema and python3-yaml are needed"
    exit 77
fi
n=0
for f in "$src"/samples/manifests/*.yaml; do
    head -n1 "$f" | grep -q '^# ..........' || { echo "FAIL: $f: the first line must be a comment saying what it shows"; exit 1; }
    n=$((n + 1))
done
[ "$n" -ge 7 ] || { echo "FAIL: only $n sample manifests"; exit 1; }
python3 "$src/scripts/validate-manifests" "$src"/samples/manifests/*.yaml
