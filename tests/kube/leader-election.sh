#!/bin/sh
# tests/controlplane/test-leader-election.sh against a real kube-apiserver +
# etcd (tests/kube/cluster.sh) instead of the SQLite store: two
# ferry-controller --kubeconfig replicas elect one leader on the Lease
# kube-system/ferry-controller; SIGKILL of the leader by pid, the other takes
# the Lease over (leaseTransitions 1) and reconciles a new VM; SIGTERM
# releases it; a leader whose Lease is taken exits 1.
set -eu
# shellcheck source=tests/kube/lib.sh
. "$(dirname "$0")/lib.sh"
kube_need_kubectl
kube_need_bin ferry-controller --kubeconfig
kube_start leader
kube_crds
FERRY_BIN=$BIN FERRY_TEST_KUBECONFIG=$KUBECONFIG "$SRC/tests/controlplane/test-leader-election.sh"
