# The plugin tables describe themselves (issue 14, part 3).
#   test-tables   every format, source and converter input has its name, help
#                 line, extensions or schemes; --help and the error lists
#                 generated from the tables name each entry
#   tables-cli    the programs: --list-formats, --list-sources, --list-inputs
#                 agree with --help; a source's options parsed from its table
#                 entry; an unsupported scheme names the ones that work
if(NOT TARGET ferry-importer-lib OR NOT TARGET ferry-converter-lib)
  return()
endif()
ferry_unit_test(test-tables SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-tables.c
                LIBS ferry-importer-lib ferry-converter-lib)
ferry_script_test(tables-cli SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/tables/cli.sh
                  LABELS unit TIMEOUT 60)
