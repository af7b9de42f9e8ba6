# The project stands alone.
#  install  a copy of the source built, installed into a temporary prefix and
#           removed; the installed programs apply, get and delete a VM (the
#           OpenAPI schemas come from <prefix>/share/ferry/openapi)
#  clone    `git clone` of the committed HEAD into an empty directory, built
#           there, and a subset of the tests run in it: nothing they use lies
#           outside the repository
ferry_script_test(install SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/install/install.sh
                  LABELS integration slow TIMEOUT 1800)
ferry_script_test(clone SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/install/clone.sh
                  LABELS integration slow TIMEOUT 1800)
