#!/bin/sh
# deploy/crds/*.yaml and deploy/ferry.yaml are what scripts/gen-crds makes of
# deploy/openapi and deploy/manifests: regenerate into a temporary directory
# and diff, so the committed CRDs never drift from the OpenAPI documents.
# Also: the generator refuses a schema it cannot make structural.
set -eu
SRC=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml missing" >&2; exit 77; }
WORK=$(mktemp -d /tmp/ferry-gen-crds.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$SRC/scripts/gen-crds" --out "$WORK"
diff -ru "$SRC/deploy/crds" "$WORK/crds" || { echo "FAIL: deploy/crds is stale: run scripts/gen-crds" >&2; exit 1; }
diff -u "$SRC/deploy/ferry.yaml" "$WORK/ferry.yaml" ||
    { echo "FAIL: deploy/ferry.yaml is stale: run scripts/gen-crds" >&2; exit 1; }
"$SRC/scripts/gen-crds" --check
echo "ok: deploy/crds and deploy/ferry.yaml match scripts/gen-crds"

# Structural: no $ref, every schema typed (or int-or-string / preserve-unknown).
python3 - "$SRC/deploy/crds" <<'P'
import glob, os, sys, yaml
bad = []
def walk(s, path):
    if not isinstance(s, dict):
        return
    if "$ref" in s:
        bad.append("%s: $ref" % path)
    if "type" not in s and not s.get("x-kubernetes-int-or-string") and path.count(".") > 0:
        bad.append("%s: no type" % path)
    for k, v in s.get("properties", {}).items():
        walk(v, path + "." + k)
    for k in ("items", "additionalProperties"):
        if isinstance(s.get(k), dict):
            walk(s[k], path + "." + k)
n = 0
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.yaml"))):
    crd = yaml.safe_load(open(f))
    for v in crd["spec"]["versions"]:
        walk(v["schema"]["openAPIV3Schema"], os.path.basename(f) + ":")
        n += 1
if bad:
    print("\n".join(bad[:20]))
    sys.exit(1)
print("ok: %d schemas structural (no $ref, every field typed)" % n)
P

# A recursive definition cannot be inlined: refused, naming it.
mkdir -p "$WORK/tree/scripts" "$WORK/tree/deploy/openapi" "$WORK/tree/deploy/manifests"
cp "$SRC/scripts/gen-crds" "$WORK/tree/scripts/"
cp "$SRC/deploy/openapi/cdi-swagger.json" "$WORK/tree/deploy/openapi/"
python3 - "$WORK/tree/deploy/openapi" <<'P'
import json, sys
d = sys.argv[1]
cdi = json.load(open(d + "/cdi-swagger.json"))
json.dump({"definitions": {"v1.VirtualMachine": {"type": "object", "properties": {
    "spec": {"$ref": "#/definitions/v1.Loop"}}},
    "v1.Loop": {"type": "object", "properties": {"next": {"$ref": "#/definitions/v1.Loop"}}}}},
    open(d + "/kubevirt-swagger.json", "w"))
P
if "$WORK/tree/scripts/gen-crds" --out "$WORK/out" 2>"$WORK/err"; then
    echo "FAIL: gen-crds accepted a recursive definition" >&2; exit 1
fi
grep -q "spec.next: recursive definition 'v1.Loop' cannot be inlined" "$WORK/err" ||
    { cat "$WORK/err" >&2; echo "FAIL: recursion error does not name the path" >&2; exit 1; }
[ ! -e "$WORK/out/crds" ] || { echo "FAIL: gen-crds wrote files after an error" >&2; exit 1; }
echo "ok: refused: $(cat "$WORK/err")"
