# The VDI, VHD and VHDX readers, and the fuzz targets of every format reader.
#
# - importer-formats-convert: qemu-img corpus -> Ferry vs qemu-img (cmp,
#   sparseness) and crafted hostile images (message, no destination).
# - importer-formats-corpus: seed corpora for the fuzz targets (qemu-img at
#   test time, plus the hostile images); a ctest fixture.
# - one target per reader from tests/fuzz/fuzz-format.c (-DFUZZ_FORMAT=name):
#   with FERRY_FUZZ a libFuzzer binary (ferry_fuzz_target, tests/common.cmake)
#   and a short run on the seed corpus; in every other build a plain replay
#   program run over the corpus, so `make check` (and its ASan+UBSan pass)
#   pushes every seed and hostile image through every reader.
if(NOT TARGET ferry-importer-lib)
  return()
endif()

set(FERRY_FORMATS_DIR ${CMAKE_CURRENT_SOURCE_DIR}/importer-formats)
set(FERRY_FORMATS_CORPUS ${CMAKE_BINARY_DIR}/tests/formats-corpus)

add_executable(formats-convert ${FERRY_FORMATS_DIR}/formats-convert.c)
target_link_libraries(formats-convert PRIVATE ferry-importer-lib)
set_target_properties(formats-convert PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

ferry_unit_test(test-importer-formats SOURCES ${FERRY_FORMATS_DIR}/test-formats.c
                LIBS ferry-importer-lib)

ferry_script_test(importer-formats-convert SCRIPT ${FERRY_FORMATS_DIR}/convert.sh
                  LABELS integration TIMEOUT 300)

ferry_script_test(importer-formats-corpus SCRIPT ${FERRY_FORMATS_DIR}/make-corpus.sh
                  ARGS ${FERRY_FORMATS_CORPUS} LABELS unit TIMEOUT 120)
set_tests_properties(importer-formats-corpus PROPERTIES FIXTURES_SETUP ferry-formats-corpus)

foreach(fmt raw iso qcow2 vmdk vdi vhd vhdx)
  if(FERRY_FUZZ AND COMMAND ferry_fuzz_target)
    ferry_fuzz_target(fuzz-${fmt} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-format.c
                      LIBS ferry-importer-lib)
    target_compile_definitions(fuzz-${fmt} PRIVATE FUZZ_FORMAT=${fmt})
    # New inputs go to a scratch directory; the seeds stay as generated.
    add_test(NAME fuzz-${fmt}-short
             COMMAND sh -c "mkdir -p \"$1\" && exec \"$0\" -runs=3000 -max_total_time=20 -timeout=10 -rss_limit_mb=2048 \"$1\" \"$2\""
                     $<TARGET_FILE:fuzz-${fmt}> ${FERRY_FORMATS_CORPUS}/new-${fmt} ${FERRY_FORMATS_CORPUS}/${fmt})
  else()
    add_executable(fuzz-replay-${fmt} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-format.c)
    target_compile_definitions(fuzz-replay-${fmt} PRIVATE FUZZ_FORMAT=${fmt} FERRY_FUZZ_REPLAY)
    target_link_libraries(fuzz-replay-${fmt} PRIVATE ferry-importer-lib)
    set_target_properties(fuzz-replay-${fmt} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME fuzz-${fmt}-short COMMAND fuzz-replay-${fmt} ${FERRY_FORMATS_CORPUS}/${fmt})
  endif()
  set_tests_properties(fuzz-${fmt}-short PROPERTIES LABELS unit TIMEOUT 120
                       FIXTURES_REQUIRED ferry-formats-corpus SKIP_RETURN_CODE 77
                       ENVIRONMENT "${FERRY_TEST_ENV}")
endforeach()
