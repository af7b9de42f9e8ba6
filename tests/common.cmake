# common/ and the `ferry` front door: cmocka unit tests per module, kubectl as
# the oracle for YAML typing, script tests of the CLI, and the fuzz targets.
#
#   ferry_fuzz_target(NAME SOURCES a.c ... [LIBS lib ...] [CORPUS dir] [RUNS n] [DICT file])
#
# tests/fuzz/campaign/NAME, the campaign's corpus, is added to CORPUS.
#
# With -DFERRY_FUZZ=ON (clang; `make fuzz`) NAME is a libFuzzer binary in
# BUILD/tests/fuzz.  Otherwise it is a replay program (tests/fuzz/replay.c
# supplies main()) that feeds every file of the corpus to
# LLVMFuzzerTestOneInput once, so the ordinary and the ASan+UBSan test runs
# push the seeds through the target too.  With CORPUS, the ctest NAME-short
# runs it: -runs=RUNS (default 2000) over the seeds, new inputs going to a
# scratch directory in the build tree, never into the source tree.
# Other areas call this from their own tests/<area>.cmake.  The globbed
# .cmake files are included in sorted order, so a file that sorts before
# "common.cmake" (e.g. "cli.cmake") must not call it at top level; test for it
# with `if(COMMAND ferry_fuzz_target)` or name the file after "common".

function(ferry_fuzz_target name)
  cmake_parse_arguments(F "" "CORPUS;RUNS;DICT" "SOURCES;LIBS" ${ARGN})
  if(NOT F_RUNS)
    set(F_RUNS 2000)
  endif()
  if(FERRY_FUZZ)
    add_executable(${name} ${F_SOURCES})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${name} ${F_SOURCES} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay.c)
  endif()
  target_link_libraries(${name} PRIVATE ${F_LIBS} ferry-common)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/fuzz)
  # The campaign's minimized working corpus (tests/fuzz/campaign.sh), where
  # crashers stay as regression inputs, is replayed beside the seeds.
  set(campaign ${CMAKE_SOURCE_DIR}/tests/fuzz/campaign/${name})
  if(F_CORPUS AND IS_DIRECTORY ${campaign})
    list(APPEND F_CORPUS ${campaign})
  endif()
  if(F_CORPUS)
    if(FERRY_FUZZ)
      set(scratch ${CMAKE_BINARY_DIR}/tests/fuzz/${name}-new)
      set(dict "")
      if(F_DICT)
        set(dict -dict=${F_DICT})
      endif()
      add_test(NAME ${name}-short
               COMMAND sh -c "mkdir -p \"$1\" && shift && exec \"$@\""
                       sh ${scratch} $<TARGET_FILE:${name}> -runs=${F_RUNS} -max_total_time=60
                       -timeout=10 -rss_limit_mb=2048 ${dict} ${scratch} ${F_CORPUS})
    else()
      add_test(NAME ${name}-short COMMAND ${name} ${F_CORPUS})
    endif()
    set_tests_properties(${name}-short PROPERTIES LABELS unit TIMEOUT 180 SKIP_RETURN_CODE 77
                         ENVIRONMENT "${FERRY_TEST_ENV}")
  endif()
endfunction()

# ---- unit tests -----------------------------------------------------------
foreach(t yaml quantity name object spawn json)
  ferry_unit_test(test-${t} SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test-${t}.c LABELS unit)
endforeach()

# A small converter over common/yaml.c for the script tests (not installed).
add_executable(ferry-yaml-tool ${CMAKE_SOURCE_DIR}/tests/unit/yaml-tool.c)
target_link_libraries(ferry-yaml-tool PRIVATE ferry-common)
set_target_properties(ferry-yaml-tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

# kubectl (sigs.k8s.io/yaml) is the oracle: same JSON for every manifest and
# for the typing table, and kubectl reads our emitted YAML back identically.
ferry_script_test(yaml-kubectl SCRIPT ${CMAKE_SOURCE_DIR}/tests/unit/yaml-kubectl.sh
                  ARGS ${CMAKE_BINARY_DIR}/tests/ferry-yaml-tool LABELS unit TIMEOUT 300)

ferry_script_test(unit-data-manifests SCRIPT ${CMAKE_SOURCE_DIR}/tests/unit/validate-data.sh
                  LABELS unit TIMEOUT 120)

# ---- the front door -------------------------------------------------------
ferry_script_test(cli-front-door SCRIPT ${CMAKE_SOURCE_DIR}/tests/cli/front-door.sh
                  LABELS unit TIMEOUT 60)

# ---- fuzzing --------------------------------------------------------------
ferry_fuzz_target(fuzz-yaml SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz-yaml.c
                  CORPUS ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus-yaml
                  DICT ${CMAKE_SOURCE_DIR}/tests/fuzz/yaml.dict)
ferry_fuzz_target(fuzz-quantity SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz-quantity.c
                  CORPUS ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus-quantity)
