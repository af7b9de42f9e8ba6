#!/bin/sh
# kubectl as the oracle for common/yaml.c.  `kubectl label --local -f FILE
# -o json` reads a manifest through sigs.k8s.io/yaml without any server.  For
# every hand-written manifest, every KubeVirt/CDI example and a typing table:
#   1. Ferry's JSON equals kubectl's JSON;
#   2. Ferry's emitted YAML, read by kubectl, equals kubectl's JSON of the
#      original (what Ferry writes, kubectl accepts as the same object).
# usage: yaml-kubectl.sh PATH/TO/ferry-yaml-tool
set -eu
tool=$1
command -v kubectl >/dev/null 2>&1 || { echo "kubectl is not installed: skipping"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "python3 is not installed: skipping"; exit 77; }
src=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
export KUBECONFIG=$work/none   # never talk to a cluster

cat >"$work/typing.yaml" <<'YAML'
apiVersion: test.ferry.io/v1
kind: Typing
metadata:
  name: typing
data:
  b1: yes
  b2: On
  b3: "yes"
  b4: FALSE
  n1: ~
  n2:
  n3: Null
  i1: 0x1F
  i2: 0o17
  i3: 017
  i4: 1_000
  i5: -0x10
  i6: 0b101
  i7: +1
  f1: 1e3
  f2: .5
  f3: 08
  f4: 1.
  f5: -2.5E-3
  f6: 99999999999999999999
  s1: 2001-12-14
  s2: 1:20
  s3: 0x
  s4: 1e400
  s5: "0x1F"
  s6: 10Gi
  s7: !!str 42
  s8: |
    multi
    line
  y: key y is the boolean true
  n: and n is false
  1.5: float key
  1e6: exponent key
  0x10: hex key
YAML

files="$work/typing.yaml $src/tests/unit/data/*.yaml $src/tests/unit/data/*.json"
if [ -n "${FERRY_SHARED:-}" ] && [ -d "$FERRY_SHARED/api/examples" ]; then
    files="$files $FERRY_SHARED/api/examples/kubevirt/*.yaml $FERRY_SHARED/api/examples/cdi/*.yaml"
else
    echo "note: FERRY_SHARED/api/examples missing: checking the local manifests only"
fi

n=0
fail=0
for f in $files; do
    base=$work/$(basename "$f")
    if ! kubectl label --local -f "$f" ferry-oracle=x -o json >"$base.kubectl" 2>"$base.err"; then
        echo "kubectl refused $f (skipped): $(head -1 "$base.err")"
        continue
    fi
    "$tool" json "$f" >"$base.ferry"
    "$tool" yaml "$f" >"$base.emitted.yaml"
    kubectl label --local -f "$base.emitted.yaml" ferry-oracle=x -o json >"$base.kubectl2"
    if ! python3 - "$f" "$base.kubectl" "$base.ferry" "$base.kubectl2" <<'PY'
import json, sys

name, kfile, ffile, k2file = sys.argv[1:]

def load_kubectl(path):
    text = open(path).read()
    dec, i, out = json.JSONDecoder(), 0, []
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        out.extend(obj["items"] if obj.get("kind") == "List" else [obj])
    for o in out:  # drop the label we added to make kubectl run
        labels = o["metadata"]["labels"]
        del labels["ferry-oracle"]
        if not labels:
            del o["metadata"]["labels"]
    return out

def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)  # kubectl keeps big integers as float64
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b

kube = load_kubectl(kfile)
ferry = [json.loads(l) for l in open(ffile) if l.strip()]
kube2 = load_kubectl(k2file)
ok = True
if not same(kube, ferry):
    print("%s: ferry's JSON differs from kubectl's" % name)
    print(" kubectl:", json.dumps(kube, sort_keys=True)[:2000])
    print(" ferry:  ", json.dumps(ferry, sort_keys=True)[:2000])
    ok = False
if not same(kube, kube2):
    print("%s: kubectl reads ferry's emitted YAML differently" % name)
    ok = False
sys.exit(0 if ok else 1)
PY
    then
        fail=$((fail + 1))
    fi
    n=$((n + 1))
done
echo "$n manifests compared with kubectl, $fail differ"
[ "$n" -gt 0 ] && [ "$fail" -eq 0 ]
