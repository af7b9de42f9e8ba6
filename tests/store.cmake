# The store (common/store) and admission (common/admission.c): real SQLite in
# temporary directories, real child processes for the concurrency and crash
# cases.
ferry_unit_test(test-store SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test-store.c TIMEOUT 300)
# common/volume.c: paths under the state directory stay under it.
ferry_unit_test(test-volume SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test-volume.c)
ferry_unit_test(test-admission SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test-admission.c)
# Admission reads users' manifests: fuzzed (replayed over the seeds in
# ordinary builds).
ferry_fuzz_target(fuzz-admission SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz-admission.c
                  CORPUS ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus-admission)
# Separate programs sharing one state directory, the sqlite3 shell as oracle.
add_executable(store-stress ${CMAKE_SOURCE_DIR}/tests/store/store-stress.c)
target_link_libraries(store-stress PRIVATE ferry-common)
set_target_properties(store-stress PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
ferry_script_test(store-multiprocess SCRIPT ${CMAKE_SOURCE_DIR}/tests/store/multiprocess.sh
                  LABELS integration TIMEOUT 300)
