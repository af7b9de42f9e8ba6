#!/bin/sh
# Build one Ferry program inside a container build's first stage and stage
# what its image needs under OUT (an install root):
#
#   deploy/containers/build.sh PROGRAM OUT
#
# Called by deploy/containers/Containerfile.<program> with the source tree at
# /src.  The binary goes to OUT/usr/bin, the OpenAPI documents admission reads
# to OUT/usr/share/ferry/openapi, the man page to OUT/usr/share/man/man1;
# programs that start others get those too (the launcher runs ferry-importer
# for containerDisks; the handler runs ferry-launcher outside Kubernetes and
# boots the KVM probe guest).
set -eu
prog=${1:?usage: build.sh PROGRAM OUT}
out=${2:?usage: build.sh PROGRAM OUT}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FERRY_CONTAINER_BUILD:-/tmp/ferry-build}

case $prog in
ferry-handler) targets="ferry-handler ferry-launcher ferry-kvm-probe"; bins="ferry-handler ferry-launcher"; libvirt=1 ;;
ferry-launcher) targets="ferry-launcher ferry-importer"; bins="ferry-launcher ferry-importer"; libvirt=1 ;;
ferry|ferry-importer|ferry-converter|ferry-controller) targets=$prog; bins=$prog; libvirt=0 ;;
*) echo "build.sh: unknown program '$prog'" >&2; exit 2 ;;
esac

flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr"
[ $libvirt = 1 ] || flags="$flags -DFERRY_WITHOUT_LIBVIRT=ON"
# shellcheck disable=SC2086
cmake -S "$src" -B "$build" $flags >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets

for b in $bins; do
    install -D -m 0755 "$build/bin/$b" "$out/usr/bin/$b"
    install -D -m 0644 "$src/docs/man/$b.1" "$out/usr/share/man/man1/$b.1"
done
install -d "$out/usr/share/ferry/openapi"
install -m 0644 "$src/deploy/openapi/"*.json "$out/usr/share/ferry/openapi/"
if [ -f "$build/share/ferry/kvm-probe.img" ] && [ "$prog" = ferry-handler ]; then
    install -m 0644 "$build/share/ferry/kvm-probe.img" "$out/usr/share/ferry/kvm-probe.img"
fi
