# The store (common/store) and admission (common/admission.c): real SQLite in
# temporary directories, real child processes for the concurrency and crash
# cases.
ferry_unit_test(test-store SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test-store.c TIMEOUT 300)
ferry_unit_test(test-admission SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test-admission.c)
