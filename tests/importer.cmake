# ferry-importer (issue 3).  The corpus is built once per run by the
# importer-corpus fixture (qemu-img); the other tests require it.
#   importer-local    every format/subformat/compression/container vs qemu-img (cmp, sparseness)
#   importer-http     the same over a real nginx, with Range and without (scratch fallback)
#   importer-hostile  crafted images and archives: refused, message asserted, no destination
#   importer-options  --size, --checksum, --content-type archive, progress JSON, usage errors
#   importer-trust    issue 13: nothing outside the image read (pipes, OVA members, the
#                     sandbox), streams as strict as files, every layer's integrity
if(NOT TARGET ferry-importer)
  return()
endif()
set(FERRY_IMPORTER_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/importer)

ferry_script_test(importer-corpus SCRIPT ${FERRY_IMPORTER_TESTS}/corpus.sh
                  LABELS integration TIMEOUT 120)
set_tests_properties(importer-corpus PROPERTIES FIXTURES_SETUP importer-corpus)

foreach(t local http hostile options trust)
  ferry_script_test(importer-${t} SCRIPT ${FERRY_IMPORTER_TESTS}/${t}.sh
                    LABELS integration TIMEOUT 240)
  set_tests_properties(importer-${t} PROPERTIES FIXTURES_REQUIRED importer-corpus)
endforeach()

ferry_unit_test(test-importer SOURCES ${FERRY_IMPORTER_TESTS}/test-importer.c
                LIBS ferry-importer-lib)

# The registry source (issue 15): docker-registry (anonymous, htpasswd) and
# skopeo pushes, regtool.py's loopback registry for Bearer and hostile
# blobs; containerDisks, indexes, whiteouts, links, digests.
ferry_script_test(importer-registry SCRIPT ${FERRY_IMPORTER_TESTS}/registry.sh
                  LABELS integration TIMEOUT 240)
set_tests_properties(importer-registry PROPERTIES FIXTURES_REQUIRED importer-corpus)
ferry_unit_test(test-registry SOURCES ${FERRY_IMPORTER_TESTS}/test-registry.c
                LIBS ferry-importer-lib)

# The http source grown up (issue 15): resume after 20 cuts at random offsets
# (cutproxy.py, a relay written for the test, in front of nginx), a file
# changed mid-import, retries (503/429, Retry-After), basic auth, extra
# headers, a CA directory, proxies from the environment (both cases).
ferry_script_test(importer-http-robust SCRIPT ${FERRY_IMPORTER_TESTS}/http-robust.sh
                  LABELS integration importer TIMEOUT 300)
set_tests_properties(importer-http-robust PROPERTIES FIXTURES_REQUIRED importer-corpus)
