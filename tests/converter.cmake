# ferry-converter tests.
#  converter-golden/<case>  tests/golden/convert/<case> input -> .yaml/.err, and the
#                     .yaml through scripts/validate-manifests (tests/converter/golden.sh);
#                     converter-golden-files: no orphaned files, at least 30 cases
#  converter-cli      usage errors (exit 2), --help/--version, --name, JSON List
#  converter-unmapped every golden input that converts, walked by a reader of its own:
#                     each source element not carried over is named by a warning
#                     (tests/converter/unmapped.py; issue 17)
#  converter-unit     OS map, MAC/UUID normalizers, image header sizes (cmocka)
#  converter-inspect  --inspect on a tiny Linux disk built at test time (slow:
#                     the libguestfs appliance)
if(TARGET ferry-converter)
  # One test per golden case (converter-golden/<case>), and one for the
  # directory (orphaned files, cases without expected output).
  ferry_script_test(converter-golden-files
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/converter/golden.sh ARGS --files
    LABELS golden TIMEOUT 60)
  # Every file there that is not an expected output or a per-case option
  # file is an input (no list of extensions here: golden.sh --files checks
  # each against the converter's table, --list-inputs).  <case>.EXT.d is a
  # directory packed into an archive at test time.
  file(GLOB golden_inputs CONFIGURE_DEPENDS LIST_DIRECTORIES true RELATIVE
       ${CMAKE_CURRENT_SOURCE_DIR}/golden/convert ${CMAKE_CURRENT_SOURCE_DIR}/golden/convert/*)
  list(FILTER golden_inputs EXCLUDE REGEX "^files$|\\.(yaml|err|args|images)$")
  foreach(input ${golden_inputs})
    string(REGEX REPLACE "(\\.[a-z]+\\.d|\\.[a-z]+)$" "" golden_case "${input}")
    ferry_script_test(converter-golden/${golden_case}
      SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/converter/golden.sh ARGS ${golden_case}
      LABELS golden TIMEOUT 60)
  endforeach()
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
  # inspect.sh checks the libguestfs* entries /tmp keeps when it cannot have
  # a private /tmp (a build under /tmp): no other libguestfs user at once.
  set_tests_properties(converter-inspect PROPERTIES RESOURCE_LOCK libguestfs COST 5000)
endif()

# Every input parser behind one fuzz target; the golden inputs are its seeds.
if(TARGET ferry-converter-lib AND COMMAND ferry_fuzz_target)
  ferry_fuzz_target(fuzz-converter
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz-converter.c
    LIBS ferry-converter-lib
    CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/golden/convert)
endif()

# converter-guest-boot: the guest conversion on a real Debian guest made to look
# like a VMware one (tests/converter/vmware-guest.sh, cached): it does not boot
# on virtio-blk before, boots to its marker under TCG after; a disk without an
# OS is left alone and its VM keeps SATA/e1000 (tests/converter/guest-boot.sh;
# slow: two TCG boots and one initramfs rebuild in the appliance)
if(TARGET ferry-converter)
  # converter-guest-unit: the device-name rewrite of fstab and kernel lines
  ferry_unit_test(converter-guest-unit
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/converter/test-guest.c
    LIBS ferry-converter-lib)
  ferry_script_test(converter-guest-boot
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/converter/guest-boot.sh
    LABELS integration slow TIMEOUT 1800)
  # The libguestfs tests run one after another (the lock) and are the longest
  # chain of the suite: a high COST starts them first on a build with no
  # timings yet, so the rest runs beside them.
  set_tests_properties(converter-guest-boot PROPERTIES RESOURCE_LOCK libguestfs COST 10000)
endif()
