#!/bin/sh
# A user's clone stands alone: the committed HEAD of the source tree is
# `git clone`d into an empty temporary directory (nothing beside it),
# built there, and the tests that read schemas, example
# manifests and golden files run in it and must pass, not skip:
# converter-golden/*, test-yaml, test-admission, unit-data-manifests,
# samples-manifests, and yaml-kubectl (which may skip without kubectl).
# Also no file under tests/, bench/, scripts/ or the build files names a path
# outside the repository.
#   usage: clone.sh              (FERRY_SRC: the git checkout to clone)
# Skips (77) when the source is not a git checkout or git is missing.
set -eu
src=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v git >/dev/null 2>&1 || { echo "SKIP: git is not installed"; exit 77; }
for t in cmake make cc; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not installed"; exit 77; }
done
head=$(git -C "$src" rev-parse --verify -q HEAD 2>/dev/null) ||
    { echo "SKIP: $src is not a git checkout"; exit 77; }
T=$(mktemp -d /tmp/ferry-clone.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
fail() { echo "FAIL: $*"; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)
unset FERRY_BIN FERRY_SRC FERRY_BUILD FERRY_OPENAPI_DIR

git clone -q --no-hardlinks "$src" "$T/ferry" || fail "git clone $src"
git -C "$T/ferry" checkout -q --detach "$head" || fail "checkout $head"
[ "$(ls -A "$T")" = ferry ] || fail "the clone's directory is not otherwise empty"
echo "cloned $head into $T/ferry"

# Nothing reaches outside the repository (the pattern is written so that it
# does not match this file).
if grep -rnE '\.\./+shared|FERRY_''SHARED|/wo''rk/' "$T/ferry/tests" "$T/ferry/bench" "$T/ferry/scripts" \
        "$T/ferry/CMakeLists.txt" "$T/ferry/Makefile" "$T/ferry/.ci" >"$T/outside" 2>/dev/null; then
    cat "$T/outside"; fail "files name paths outside the repository"
fi

cd "$T/ferry"
cmake -S . -B build >"$T/cmake.log" 2>&1 || { cat "$T/cmake.log"; fail "cmake configure"; }
targets=
for t in ferry ferry-converter test-yaml test-admission ferry-yaml-tool; do
    grep -q "^$t:" build/Makefile && targets="$targets --target $t"
done
# shellcheck disable=SC2086
cmake --build build -j"$jobs" $targets >"$T/build.log" 2>&1 || { tail -30 "$T/build.log"; fail "build"; }

cd build
rc=0
ctest --output-on-failure -R '^(converter-golden|test-yaml$|test-admission$|unit-data-manifests$|samples-manifests$|yaml-kubectl$)' \
    >"$T/ctest.log" 2>&1 || rc=$?
cat "$T/ctest.log"
[ $rc -eq 0 ] || fail "tests failed in the clone"
n=$(grep -c ' Test *#[0-9]*: .* Passed' "$T/ctest.log" || true)
[ "$n" -ge 40 ] || fail "only $n tests passed in the clone"
if grep ' Test *#[0-9]*: ' "$T/ctest.log" | grep -v 'yaml-kubectl' | grep -q 'Skipped'; then
    fail "tests skipped in the clone"
fi
echo "PASS clone: $n tests passed in a clone of $head"
