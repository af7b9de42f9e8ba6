# ferry-converter tests.
#  converter-golden   every tests/golden/convert/<case> input -> .yaml/.err, and every
#                     .yaml through validate-manifests (tests/converter/golden.sh)
#  converter-cli      usage errors (exit 2), --help/--version, --name, JSON List
#  converter-unmapped every golden input that converts, walked by a reader of its own:
#                     each source element not carried over is named by a warning
#                     (tests/converter/unmapped.py; issue 17)
#  converter-unit     OS map, MAC/UUID normalizers, image header sizes (cmocka)
#  converter-inspect  --inspect on a tiny Linux disk built at test time (slow:
#                     the libguestfs appliance)
if(TARGET ferry-converter)
  ferry_script_test(converter-golden
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/converter/golden.sh
    LABELS golden TIMEOUT 240)
  ferry_script_test(converter-unmapped
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/converter/unmapped.py
    LABELS golden TIMEOUT 240)
  ferry_script_test(converter-cli
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/converter/cli.sh
    LABELS integration TIMEOUT 60)
  ferry_unit_test(converter-unit
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-converter.c
    LIBS ferry-converter-lib)
  ferry_script_test(converter-inspect
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/converter/inspect.sh
    LABELS integration slow TIMEOUT 600)
endif()

# Every input parser behind one fuzz target; the golden inputs are its seeds.
if(TARGET ferry-converter-lib AND COMMAND ferry_fuzz_target)
  ferry_fuzz_target(fuzz-converter
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-converter.c
    LIBS ferry-converter-lib
    CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/golden/convert)
endif()
