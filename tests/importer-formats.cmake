# The VDI, VHD and VHDX readers, and the fuzz targets of every format reader.
#
# - importer-formats-convert: qemu-img corpus -> Ferry vs qemu-img (cmp,
#   sparseness) and crafted hostile images (message, no destination).
# - importer-formats-corpus: seed corpora for the fuzz targets (qemu-img at
#   test time, plus the hostile images); a ctest fixture.
# - one target per reader from tests/fuzz/fuzz-format.c (-DFUZZ_FORMAT=name):
#   with FERRY_FUZZ a libFuzzer binary and a short run on the seed corpus; in
#   every other build a replay program run over the corpus, so `make check`
#   (and its ASan+UBSan pass) pushes every seed and hostile image through
#   every reader.
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
                  LABELS integration TIMEOUT 900)

ferry_script_test(importer-formats-corpus SCRIPT ${FERRY_FORMATS_DIR}/make-corpus.sh
                  ARGS ${FERRY_FORMATS_CORPUS} LABELS unit TIMEOUT 600)
set_tests_properties(importer-formats-corpus PROPERTIES FIXTURES_SETUP ferry-formats-corpus)

# ferry_fuzz_target (tests/common.cmake, included before this file) makes
# fuzz-<fmt> a libFuzzer binary under FERRY_FUZZ and a replay program (its
# tests/fuzz/replay.c main) otherwise; fuzz-<fmt>-short runs it on the seeds.
# The formats are the lines `&ferry_format_NAME,` of the table in
# importer/formats.c: a new format gets its fuzz target from its table line.
file(STRINGS ${CMAKE_SOURCE_DIR}/importer/formats.c FERRY_FORMAT_LINES
     REGEX "^[ \t]*&ferry_format_[a-z0-9_]+,")
set(FERRY_FORMAT_NAMES)
foreach(line ${FERRY_FORMAT_LINES})
  string(REGEX REPLACE "^[ \t]*&ferry_format_([a-z0-9_]+),.*" "\\1" fmt "${line}")
  list(APPEND FERRY_FORMAT_NAMES ${fmt})
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/importer/formats.c)
if(NOT FERRY_FORMAT_NAMES)
  message(FATAL_ERROR "no &ferry_format_NAME, lines in importer/formats.c")
endif()
foreach(fmt ${FERRY_FORMAT_NAMES})
  ferry_fuzz_target(fuzz-${fmt} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-format.c
                    LIBS ferry-importer-lib CORPUS ${FERRY_FORMATS_CORPUS}/${fmt} RUNS 3000)
  target_compile_definitions(fuzz-${fmt} PRIVATE FUZZ_FORMAT=${fmt})
  set_tests_properties(fuzz-${fmt}-short PROPERTIES FIXTURES_REQUIRED ferry-formats-corpus)
endforeach()

# The archive and decompression layers (gzip, xz, lzma, zstd, bz2, tar/OVA,
# --content-type archive): tests/fuzz/fuzz-stream.c over the seeds in
# tests/fuzz/corpus-stream (tests/fuzz/make-stream-corpus.py made them; the
# first byte of each chooses the layer), regression inputs included.
ferry_fuzz_target(fuzz-stream SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-stream.c
                  LIBS ferry-importer-lib CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus-stream
                  RUNS 3000)
