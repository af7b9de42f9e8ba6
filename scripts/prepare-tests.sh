#!/bin/sh
# What the test suite needs besides the packages, made side by side and
# cached, so that a cold `make check` pays for the slower of the two rather
# than for both:
#   - the kube-apiserver of the Kubernetes-mode tests
#     (scripts/build-kube-apiserver.sh: a Go build, bound by the CPU);
#   - the converter's VMware-like test guest (tests/converter/vmware-guest.sh
#     into $FERRY_TEST_GUEST_CACHE, default /var/tmp/ferry-test-converter-guest:
#     a debootstrap, bound by the download and the disk).
# A failed apiserver build fails this step; a guest that cannot be built is
# only reported (the guest tests say why when they run).  Both logs are in
# $LOGDIR (default build/prepare-tests).
#
#   scripts/prepare-tests.sh [LOGDIR]
set -u
cd "$(dirname "$0")/.."
LOGDIR=${1:-build/prepare-tests}
CACHE=${FERRY_TEST_GUEST_CACHE:-/var/tmp/ferry-test-converter-guest}
mkdir -p "$LOGDIR"

./tests/converter/vmware-guest.sh "$CACHE" >"$LOGDIR/guest.log" 2>&1 &
guest=$!
api_rc=0
./scripts/build-kube-apiserver.sh >"$LOGDIR/kube-apiserver.log" 2>&1 || api_rc=$?
guest_rc=0
wait "$guest" || guest_rc=$?

if [ "$guest_rc" -ne 0 ]; then
    echo "prepare-tests: the test guest was not built (exit $guest_rc; $LOGDIR/guest.log):" >&2
    tail -3 "$LOGDIR/guest.log" >&2
fi
if [ "$api_rc" -ne 0 ]; then
    echo "prepare-tests: scripts/build-kube-apiserver.sh failed (exit $api_rc):" >&2
    tail -10 "$LOGDIR/kube-apiserver.log" >&2
    exit 1
fi
