# The kube store driver (common/store/kube*.c) against a real kube-apiserver
# and etcd on loopback (tests/kube/cluster.sh; skipped, exit 77, when the
# apiserver is not built).  Label kube.
add_executable(kube-store-test ${CMAKE_SOURCE_DIR}/tests/kube/kube-store-test.c)
target_link_libraries(kube-store-test PRIVATE ferry-common)
set_target_properties(kube-store-test PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
ferry_script_test(kube-store SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/kube-store.sh
                  LABELS "kube;integration" TIMEOUT 900)
# The same driver's configuration without a server: kubeconfig errors,
# daemon store selection, label selectors in the server's syntax.
ferry_unit_test(test-kubeconfig SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test-kubeconfig.c)
