# The control plane (controller/ and the object verbs of the CLI): integration
# tests against the real store, real ferry-importer children and a real nginx.
# cp-helper does the node side's store writes (heartbeat, VMI finalizer).
add_executable(cp-helper ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/cp-helper.c)
target_link_libraries(cp-helper PRIVATE ferry-common)
set_target_properties(cp-helper PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

foreach(t cli dv-import dv-crash vm upload watch vm-status hostile cli-promises wakeup)
  ferry_script_test(controlplane-${t}
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/test-${t}.sh
    LABELS integration TIMEOUT 240)
endforeach()
set_tests_properties(controlplane-dv-crash PROPERTIES LABELS "integration;slow")

# A DataVolume with source.registry, from a real docker-registry (issue 15).
ferry_script_test(controlplane-dv-registry
  SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/test-dv-registry.sh
  LABELS integration TIMEOUT 240)

# A DataVolume's secretRef/certConfigMap (imageio stand-in, s3rver behind the
# SigV4 check, docker-registry with htpasswd, nginx basic auth and https).
ferry_script_test(controlplane-dv-secrets
  SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/test-dv-secrets.sh
  LABELS integration TIMEOUT 300)

# The DataVolume reconciler with a fake importer in place of ferry-importer
# (struct ferry_import_ops): phases, slots, retries, deletion while importing.
ferry_unit_test(test-dv-reconcile SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-dv-reconcile.c
                LIBS ferry-controller-lib)

# The guest conversion hook for real: a VMware-like Debian guest (built by
# tests/converter/vmware-guest.sh, cached) imported, converted by the
# controller before its VMI exists (also across a controller restart), and
# booted to its marker under TCG; a blank disk's VM refused without retries.
ferry_script_test(controlplane-guest-conversion
  SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/controlplane/test-guest-conversion.sh
  LABELS integration slow TIMEOUT 2400)
set_tests_properties(controlplane-guest-conversion PROPERTIES RESOURCE_LOCK libguestfs COST 9000)

# The guest conversion hook's decisions (controller/guestconv.c): the
# annotation and condition, the disks in order, the report -> annotations.
ferry_unit_test(test-guestconv SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-guestconv.c
                LIBS ferry-controller-lib)
