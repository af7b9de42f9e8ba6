#!/bin/sh
# The hand-written manifests the YAML tests use are real API objects:
# KubeVirt's and CDI's OpenAPI schemas accept them, strictly.
set -eu
tool=${FERRY_SHARED:-}/tools/validate-manifests
[ -x "$tool" ] || { echo "$tool is missing: skipping"; exit 77; }
python3 -c 'import jsonschema, yaml' 2>/dev/null || { echo "python3 jsonschema/yaml missing: skipping"; exit 77; }
exec "$tool" "${FERRY_SRC:?}"/tests/unit/data/*.yaml "${FERRY_SRC:?}"/tests/unit/data/*.json
