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
add_executable(kube-play ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/kube-play.c)
target_link_libraries(kube-play PRIVATE ferry-common)
set_target_properties(kube-play PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
ferry_script_test(controlplane-kube-vmi-pod
  SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/test-kube-vmi-pod.sh
  LABELS integration TIMEOUT 300)
set_tests_properties(controlplane-kube-vmi-pod PROPERTIES RESOURCE_LOCK libvirtd)
ferry_script_test(controlplane-kube-dv-job
  SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/test-kube-dv-job.sh
  LABELS integration TIMEOUT 240)
# The shared informer: list-then-watch cache, relist diff after EXPIRED,
# listers, the label-selected watch, and the controller's owner enqueue.
ferry_unit_test(test-informer SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-informer.c
                LIBS ferry-controller-lib)

# Kubernetes mode's guest conversion Job, with kube-play as the Job
# controller and kubelet and the real ferry-converter on a blank disk: the
# failure path from the pod's termination message (libguestfs under TCG).
ferry_script_test(controlplane-kube-guest-job
  SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/test-kube-guest-job.sh
  LABELS integration slow TIMEOUT 900)
set_tests_properties(controlplane-kube-guest-job PROPERTIES RESOURCE_LOCK libguestfs)
