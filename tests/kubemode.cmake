# Kubernetes mode's controller side (issue 16): the controller machinery of
# common/ (work queue, expectations, Lease leader election), the objects the
# reconcilers make for a cluster (PVC + importer Job, launcher Pod), and two
# ferry-controller replicas electing a leader on one store.
ferry_unit_test(test-workqueue SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-workqueue.c)
ferry_unit_test(test-leader SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-leader.c)
ferry_script_test(controlplane-leader-election
  SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/test-leader-election.sh
  LABELS integration TIMEOUT 180)
ferry_unit_test(test-kube-objects SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-kube-objects.c
                LIBS ferry-controller-lib)
