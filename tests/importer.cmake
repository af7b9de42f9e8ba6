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
                  LABELS integration TIMEOUT 600)
set_tests_properties(importer-corpus PROPERTIES FIXTURES_SETUP importer-corpus)

# Timeouts are backstops for a hang, not measures: http, trust and registry
# took up to 260 s at load average 12 (about 100 s on a quiet machine).
foreach(t local http hostile options trust)
  ferry_script_test(importer-${t} SCRIPT ${FERRY_IMPORTER_TESTS}/${t}.sh
                    LABELS integration TIMEOUT 600)
  set_tests_properties(importer-${t} PROPERTIES FIXTURES_REQUIRED importer-corpus)
endforeach()

ferry_unit_test(test-importer SOURCES ${FERRY_IMPORTER_TESTS}/test-importer.c
                LIBS ferry-importer-lib)

# The registry source (issue 15): docker-registry (anonymous, htpasswd) and
# skopeo pushes, regtool.py's loopback registry for Bearer and hostile
# blobs; containerDisks, indexes, whiteouts, links, digests.
ferry_script_test(importer-registry SCRIPT ${FERRY_IMPORTER_TESTS}/registry.sh
                  LABELS integration TIMEOUT 600)
set_tests_properties(importer-registry PROPERTIES FIXTURES_REQUIRED importer-corpus)
ferry_unit_test(test-registry SOURCES ${FERRY_IMPORTER_TESTS}/test-registry.c
                LIBS ferry-importer-lib)

# The s3 source: SigV4 against AWS's published examples (test-s3), and
# imports from a real s3rver on 127.0.0.1 (s3.sh; skipped without it:
# scripts/install-deps.sh installs it under /opt/ferry-npm).
ferry_unit_test(test-s3 SOURCES ${FERRY_IMPORTER_TESTS}/test-s3.c LIBS ferry-importer-lib)
ferry_script_test(importer-s3 SCRIPT ${FERRY_IMPORTER_TESTS}/s3.sh
                  LABELS integration TIMEOUT 240)

# CDI's importer pod contract: ferry-importer with CDI's environment in a
# mount namespace giving it /data and /dev/termination-log (cdi.sh).  With
# the http source's retries (10, backoff) its unreachable endpoint takes
# about 140 s before "Unable to connect": hence the timeout.
ferry_script_test(importer-cdi SCRIPT ${FERRY_IMPORTER_TESTS}/cdi.sh
                  LABELS integration TIMEOUT 600)

# The vmware source (issue 15) against tests/importer/esxi-standin.py, a
# loopback stand-in for ESXi's /folder datastore access written from
# VMware's published API (no ESXi server here); qemu-img is the oracle.
ferry_script_test(importer-vmware SCRIPT ${FERRY_IMPORTER_TESTS}/vmware.sh
                  LABELS "integration;importer" TIMEOUT 240)

# The imageio source (issue 15) against tests/importer/imageio-standin.py, a
# loopback stand-in for an oVirt engine and an ovirt-imageio daemon written
# from their published APIs (no oVirt here); qemu-img is the oracle.
ferry_script_test(importer-imageio SCRIPT ${FERRY_IMPORTER_TESTS}/imageio.sh
                  LABELS "integration;importer" TIMEOUT 240)

# The vmware and imageio sources before the network: URLs, credentials,
# CA bundles, Content-Range (issue 15).
ferry_unit_test(test-remote SOURCES ${FERRY_IMPORTER_TESTS}/test-remote.c
                LIBS ferry-importer-lib LABELS "unit;importer")

# What the vmware and imageio sources parse of servers' answers and CDI's
# environment: /extents lists, Content-Range, endpoint mappings.
ferry_fuzz_target(fuzz-remote SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz-remote.c
                  LIBS ferry-importer-lib
                  CORPUS ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus-remote)

# The http source grown up (issue 15): resume after 20 cuts at random offsets
# (cutproxy.py, a relay written for the test, in front of nginx), a file
# changed mid-import, retries (503/429, Retry-After), basic auth, extra
# headers, a CA directory, proxies from the environment (both cases).
ferry_script_test(importer-http-robust SCRIPT ${FERRY_IMPORTER_TESTS}/http-robust.sh
                  LABELS integration importer TIMEOUT 300)
set_tests_properties(importer-http-robust PROPERTIES FIXTURES_REQUIRED importer-corpus)
