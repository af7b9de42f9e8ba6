#!/bin/sh
# An installed Ferry stands alone.  A copy of the source tree is built,
# `cmake --install`ed into a temporary prefix, and the copy and its build are
# removed; then the installed programs (and nothing else: PATH holds the
# prefix and the system only, FERRY_* is unset) apply a VirtualMachine and a
# DataVolume, the installed ferry-controller reconciles the VM, `ferry get`
# shows it, admission refuses an unknown field (the schemas were found), and
# the VM is deleted.  Without <prefix>/share/ferry/openapi the same apply is
# refused with a message naming where the schemas should be.
#   usage: install.sh            (FERRY_SRC: the source tree to copy)
set -eu
# shellcheck source=tests/lib/manifests.sh
. "$(dirname "$0")/../lib/manifests.sh"
src=${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
for t in cmake make cc tar; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not installed"; exit 77; }
done
T=$(mktemp -d /tmp/ferry-install.XXXXXX)
CTL_PID=
cleanup() {
    [ -n "$CTL_PID" ] && kill -TERM "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() { echo "FAIL: $*"; [ -f "$T/controller.log" ] && tail -20 "$T/controller.log"; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)

# 1. a copy of the source (what git tracks, or everything but build trees)
mkdir "$T/src"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 tar -cf - --no-recursion --ignore-failed-read) | tar -xf - -C "$T/src"
else
    (cd "$src" && tar -cf - --exclude='./build*' .) | tar -xf - -C "$T/src"
fi
[ -f "$T/src/CMakeLists.txt" ] || fail "copying $src"

# 2. build the installed programs only, install, remove source and build
echo "building in $T/build ..."
cmake -S "$T/src" -B "$T/build" -DCMAKE_BUILD_TYPE=Release >"$T/cmake.log" 2>&1 ||
    { cat "$T/cmake.log"; fail "cmake configure"; }
targets=
for p in ferry ferry-importer ferry-converter ferry-controller ferry-handler ferry-launcher; do
    grep -q "^$p:" "$T/build/Makefile" 2>/dev/null && targets="$targets --target $p"
done
# shellcheck disable=SC2086
cmake --build "$T/build" -j"$jobs" $targets >"$T/build.log" 2>&1 || { tail -30 "$T/build.log"; fail "build"; }
P=$T/prefix
cmake --install "$T/build" --prefix "$P" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "cmake --install"; }
rm -rf "$T/src" "$T/build"
for f in bin/ferry bin/ferry-controller bin/ferry-importer bin/ferry-converter \
         share/ferry/openapi/kubevirt-swagger.json share/ferry/openapi/cdi-swagger.json \
         share/man/man1/ferry.1; do
    [ -e "$P/$f" ] || fail "$f was not installed"
done
# the handler's KVM probe guest, where the handler is built
if [ -e "$P/bin/ferry-handler" ]; then
    [ -s "$P/share/ferry/kvm-probe.img" ] || fail "share/ferry/kvm-probe.img was not installed"
fi
echo "installed into $P: $(cd "$P" && find . -type f | wc -l) files; source and build removed"

# 3. the installed programs on their own
unset FERRY_BIN FERRY_SRC FERRY_BUILD FERRY_OPENAPI_DIR
export PATH="$P/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export FERRY_STATE_DIR="$T/state" FERRY_LOG_FORMAT=text
mkdir -p "$FERRY_STATE_DIR"
[ "$(command -v ferry)" = "$P/bin/ferry" ] || fail "ferry on PATH is $(command -v ferry)"

{ vm_yaml installed; echo ---; dv_yaml installed-blank 16Mi "    blank: {}"; } >"$T/vm.yaml"
sed 's/^  runStrategy: Halted$/  runStrategy: Halted\n  runStrategyy: Always/' "$T/vm.yaml" | sed '/^---$/,$d' >"$T/bad.yaml"

ferry-controller --state-dir "$FERRY_STATE_DIR" >"$T/controller.log" 2>&1 &
CTL_PID=$!
ferry apply -f "$T/vm.yaml" >"$T/apply.out" 2>&1 || { cat "$T/apply.out"; fail "ferry apply of a VM and a DataVolume"; }
cat "$T/apply.out"
grep -q 'virtualmachine.kubevirt.io/installed created' "$T/apply.out" || fail "the VM was not created"
grep -q 'datavolume.cdi.kubevirt.io/installed-blank created' "$T/apply.out" || fail "the DataVolume was not created"

i=0
until ferry get vm installed --no-headers 2>/dev/null | grep -q ' Stopped '; do
    i=$((i + 1)); [ $i -lt 300 ] || { ferry get vm installed -o yaml; fail "the installed controller did not reconcile the VM"; }
    sleep 0.1
done
ferry get vm installed >"$T/get.out" || fail "ferry get vm"
cat "$T/get.out"
grep -q '^installed .* Stopped ' "$T/get.out" || fail "ferry get vm shows no Stopped VM"

if ferry apply -f "$T/bad.yaml" >"$T/bad.out" 2>&1; then
    cat "$T/bad.out"; fail "an unknown field was accepted: the schemas are not in use"
fi
cat "$T/bad.out"
grep -q 'unknown field "spec.runStrategyy"' "$T/bad.out" || fail "the refusal does not name the unknown field"

ferry delete vm installed >"$T/delete.out" 2>&1 || { cat "$T/delete.out"; fail "ferry delete vm"; }
ferry delete dv installed-blank >>"$T/delete.out" 2>&1 || { cat "$T/delete.out"; fail "ferry delete dv"; }
cat "$T/delete.out"
i=0
while ferry get vm installed >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 300 ] || fail "the VM is still there after delete"
    sleep 0.1
done

# 4. the check above can fail: without the installed schemas, admission refuses
mv "$P/share/ferry/openapi" "$P/share/ferry/openapi.away"
if ferry apply -f "$T/vm.yaml" >"$T/noschema.out" 2>&1; then
    cat "$T/noschema.out"; fail "apply succeeded without the OpenAPI documents"
fi
cat "$T/noschema.out"
grep -q "$P/share/ferry/openapi/kubevirt-swagger.json" "$T/noschema.out" ||
    fail "the refusal does not name $P/share/ferry/openapi"
echo "PASS install"
