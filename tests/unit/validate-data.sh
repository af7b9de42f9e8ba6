#!/bin/sh
# The hand-written manifests the YAML tests use are real API objects:
# KubeVirt's and CDI's OpenAPI schemas (deploy/openapi) accept them, strictly.
set -eu
src=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
python3 -c 'import jsonschema, yaml' 2>/dev/null || { echo "python3-jsonschema/python3-yaml missing: skipping"; exit 77; }
exec python3 "$src/scripts/validate-manifests" "$src"/tests/unit/data/*.yaml "$src"/tests/unit/data/*.json
