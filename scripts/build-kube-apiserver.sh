#!/bin/sh
# Build a real upstream kube-apiserver and install Debian's etcd, for the
# Kubernetes-mode tests (tests/kube/).  Nothing built here is shipped with
# Ferry; the tests start both on loopback (tests/kube/cluster.sh).
#
#   scripts/build-kube-apiserver.sh [PREFIX]
#
# PREFIX defaults to $FERRY_KUBE_PREFIX or /opt/ferry-kube; prints
# PREFIX/bin/kube-apiserver.  The apiserver is v1.20.2 from Debian
# bookworm's `kubernetes` source package, built with Debian's Go 1.19: about
# 8 minutes and 1.5 GB of RAM on 2 cores when cold, nothing when PREFIX has
# it already.  Needs root (apt-get); the deb-src entry is derived from the
# machine's own apt sources and removed again afterwards.
set -eu
PREFIX=${1:-${FERRY_KUBE_PREFIX:-/opt/ferry-kube}}
BIN=$PREFIX/bin/kube-apiserver
if [ -x "$BIN" ] && command -v etcd >/dev/null 2>&1; then echo "$BIN"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
    echo "build-kube-apiserver: $BIN or etcd missing (run as root to build them)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -q update >/dev/null
apt-get -q -o DPkg::Lock::Timeout=600 install -y --no-install-recommends golang-1.19-go \
    etcd-server dpkg-dev golang-github-modern-go-reflect2-dev openssl make rsync >/dev/null

src=/etc/apt/sources.list.d/ferry-kube-src.sources
cleanup() { rm -f "$src"; }
trap cleanup EXIT
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$src"
else
    src=/etc/apt/sources.list.d/ferry-kube-src.list
    grep -h '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >"$src"
fi
apt-get -q update >/dev/null

work=$PREFIX/src
mkdir -p "$work" "$PREFIX/bin"
cd "$work"
ls -d kubernetes-*/cmd/kube-apiserver >/dev/null 2>&1 || apt-get -q source kubernetes >/dev/null
cd kubernetes-*/
# The vendored reflect2 1.0.1 breaks on Go >= 1.18; Debian's 1.0.2 is the fix.
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
export PATH=/usr/lib/go-1.19/bin:$PATH GOFLAGS=-mod=vendor GO111MODULE=on
export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean
# `make WHAT=cmd/kube-apiserver` would first build and run all six code
# generators (about 3 of its 10 minutes here); the source package already
# holds their output but for the OpenAPI definitions of pkg/generated/openapi.
{ make gen_openapi && hack/make-rules/build.sh cmd/kube-apiserver; } >"$PREFIX/build.log" 2>&1 ||
    { tail -30 "$PREFIX/build.log" >&2; exit 1; }
cp _output/bin/kube-apiserver "$BIN" 2>/dev/null || cp _output/local/bin/linux/amd64/kube-apiserver "$BIN"
strip "$BIN" 2>/dev/null || true
echo "$BIN"
