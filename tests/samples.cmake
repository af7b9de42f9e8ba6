# samples/: every manifest validates against KubeVirt's and CDI's OpenAPI
# schemas and says in its first line what it shows.
ferry_script_test(samples-manifests SCRIPT ${CMAKE_SOURCE_DIR}/tests/samples/check-manifests.sh
                  LABELS unit TIMEOUT 120)
ferry_script_test(demo SCRIPT ${CMAKE_SOURCE_DIR}/tests/samples/run-demo.sh
                  LABELS integration slow TIMEOUT 900)
set_tests_properties(demo PROPERTIES RESOURCE_LOCK libvirtd)
