# The node side (launcher/): domain XML golden files, cloud-init ISOs, and
# integration tests against a real libvirtd that the tests start and stop by
# pid.  Tests that use libvirtd hold the RESOURCE_LOCK "libvirtd": there is
# one system daemon per machine.
if(TARGET ferry-launcher-lib AND CMOCKA_FOUND)
  # One test per golden case (node-domain-golden/<case>) and one for the
  # directory (node-domain-golden-files: orphaned files).
  ferry_unit_test(node-domain-golden SOURCES ${CMAKE_SOURCE_DIR}/tests/node/test-domain-golden.c
                  LIBS ferry-launcher-lib LABELS golden NO_TEST)
  add_test(NAME node-domain-golden-files COMMAND node-domain-golden --files)
  ferry_test_properties(node-domain-golden-files golden golden "" 120)
  file(GLOB domain_cases CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR}/tests/golden/domain
       ${CMAKE_SOURCE_DIR}/tests/golden/domain/*.vmi.yaml)
  foreach(c ${domain_cases})
    string(REGEX REPLACE "\\.vmi\\.yaml$" "" c "${c}")
    add_test(NAME node-domain-golden/${c} COMMAND node-domain-golden ${c})
    ferry_test_properties(node-domain-golden/${c} golden golden "" 120)
  endforeach()
  ferry_unit_test(node-cloudinit SOURCES ${CMAKE_SOURCE_DIR}/tests/node/test-cloudinit.c
                  LIBS ferry-launcher-lib LABELS unit)
  ferry_unit_test(node-proto SOURCES ${CMAKE_SOURCE_DIR}/tests/node/test-proto.c
                  LIBS ferry-launcher-lib LABELS unit)
  ferry_unit_test(node-leases SOURCES ${CMAKE_SOURCE_DIR}/tests/node/test-leases.c
                  LIBS ferry-launcher-lib LABELS unit)
endif()
ferry_script_test(node-domain-validate SCRIPT ${CMAKE_SOURCE_DIR}/tests/node/validate-golden.sh
                  LABELS golden TIMEOUT 300)
foreach(t lifecycle survive bridge)
  ferry_script_test(node-${t} SCRIPT ${CMAKE_SOURCE_DIR}/tests/node/${t}.sh
                    LABELS integration TIMEOUT 400)
  set_tests_properties(node-${t} PROPERTIES RESOURCE_LOCK libvirtd)
endforeach()
if(TARGET ferry-launcher-lib)
  add_executable(node-store-tool ${CMAKE_SOURCE_DIR}/tests/node/node-store-tool.c)
  target_link_libraries(node-store-tool PRIVATE ferry-common)
  set_target_properties(node-store-tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()
if(TARGET ferry-launcher-lib AND COMMAND ferry_fuzz_target)
  ferry_fuzz_target(fuzz-domain SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz-domain.c
                    LIBS ferry-launcher-lib CORPUS ${CMAKE_SOURCE_DIR}/tests/golden/domain)
endif()
# The KVM probe's verdicts and a domain that stops by itself (I/O error,
# guest panic): launcher/kvmprobe.c, launcher/launcher.c.
foreach(t kvm selfstop)
  ferry_script_test(node-${t} SCRIPT ${CMAKE_SOURCE_DIR}/tests/node/${t}.sh
                    LABELS integration TIMEOUT 400)
  set_tests_properties(node-${t} PROPERTIES RESOURCE_LOCK libvirtd)
endforeach()

# containerDisk volumes from a real docker-registry (issue 15).
ferry_script_test(node-containerdisk SCRIPT ${CMAKE_SOURCE_DIR}/tests/node/containerdisk.sh
                  LABELS integration TIMEOUT 400)
set_tests_properties(node-containerdisk PROPERTIES RESOURCE_LOCK libvirtd)
