#!/bin/sh
# kubectl as the oracle for common/yaml.c.  `kubectl label --local -f FILE
# -o json` reads manifests through sigs.k8s.io/yaml without any server.  For
# every hand-written manifest, every KubeVirt/CDI example (tests/admission/
# examples) and a typing table:
#   1. Ferry's JSON equals kubectl's JSON;
#   2. Ferry's emitted YAML, read by kubectl, equals kubectl's JSON of the
#      original (what Ferry writes, kubectl accepts as the same object).
# kubectl runs once over all files (it is slow to start); a file it refuses
# is reported and left out.
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
  s9: 2026-11-26T15:04:05Z
  y: key y is the boolean true
  n: and n is false
  1.5: float key
  1e6: exponent key
  0x10: hex key
  merged:
    <<: {a: 1, b: 2}
    b: 3
YAML

set -- "$work/typing.yaml" "$src"/tests/unit/data/*.yaml "$src"/tests/unit/data/*.json \
    "$src"/tests/admission/examples/kubevirt/*.yaml "$src"/tests/admission/examples/cdi/*.yaml

python3 - "$tool" "$work" "$@" <<'PY'
import json, os, subprocess, sys

tool, work, files = sys.argv[1], sys.argv[2], sys.argv[3:]

def kubectl(paths):
    args = ["kubectl", "label", "--local", "ferry-oracle=x", "-o", "json"]
    for p in paths:
        args += ["-f", p]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"
    dec, i, out, text = json.JSONDecoder(), 0, [], r.stdout
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
    return out, None

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

# Which files does kubectl take?  One call for all; one per file only if that fails.
usable = files
if kubectl(files)[0] is None:
    usable = []
    for f in files:
        objs, err = kubectl([f])
        if objs is None:
            print("kubectl refused %s (left out): %s" % (f, err))
        else:
            usable.append(f)

kube, err = kubectl(usable)
ferry, emitted = [], []
for n, f in enumerate(usable):
    out = subprocess.run([tool, "json", f], capture_output=True, text=True, check=True).stdout
    ferry.extend(json.loads(l) for l in out.splitlines() if l.strip())
    y = subprocess.run([tool, "yaml", f], capture_output=True, text=True, check=True).stdout
    path = os.path.join(work, "emitted-%03d.yaml" % n)
    open(path, "w").write(y)
    emitted.append(path)
kube2, err2 = kubectl(emitted)
if kube is None or kube2 is None:
    print("kubectl failed:", err or err2)
    sys.exit(1)

fails = 0
if len(kube) != len(ferry) or len(kube2) != len(kube):
    print("object counts differ: kubectl %d, ferry %d, kubectl on ferry's YAML %d"
          % (len(kube), len(ferry), len(kube2)))
    sys.exit(1)
for k, f, k2 in zip(kube, ferry, kube2):
    name = "%s/%s" % (k.get("kind"), k["metadata"].get("name"))
    if not same(k, f):
        fails += 1
        print("%s: ferry's JSON differs from kubectl's" % name)
        print(" kubectl:", json.dumps(k, sort_keys=True)[:2000])
        print(" ferry:  ", json.dumps(f, sort_keys=True)[:2000])
    if not same(k, k2):
        fails += 1
        print("%s: kubectl reads ferry's emitted YAML differently" % name)
print("%d files, %d objects compared with kubectl both ways, %d differences"
      % (len(usable), len(kube), fails))
sys.exit(1 if fails or not kube else 0)
PY
