# The layering check (libvirt's sc_prohibit_cross_inclusion): every include
# in the tree stays within the edges of scripts/layers.txt, and the check's
# self-test on a made-up tree with one crossing include.
ferry_script_test(layers SCRIPT ${CMAKE_SOURCE_DIR}/scripts/check-layers.sh
                  LABELS unit TIMEOUT 60)
ferry_script_test(layers-selftest SCRIPT ${CMAKE_SOURCE_DIR}/tests/layers/selftest.sh
                  LABELS unit TIMEOUT 60)
