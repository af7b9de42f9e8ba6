/* Fuzz target for ferry-converter's inputs and emitter: any bytes, detected
 * by content as VMX, OVF, OVA, .vbox, libvirt XML or xl.cfg, must convert or
 * fail with an error message, never crash; what converts must emit.  The
 * bytes go through a memfd so the real file-based entry point is used. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "converter/inputs.h"
#include "converter/outputs/kubevirt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        ferry_log_init("fuzz-converter");
        ferry_log_set_quiet(true);
        init = true;
    }
    if (size > 1 << 20)
        return 0;
    FERRY_AUTOCLOSE int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct ferry_vm_list list = {0};
    if (ferry_inputs_parse_file(path, &list) == 0) {
        struct ferry_kubevirt_opts o = {.run_strategy = "Halted"};
        for (size_t i = 0; i < list.n; i++) {
            json_object *vm = NULL;
            if (ferry_kubevirt_emit(list.vms[i], "fuzz", &o, &vm) == 0)
                json_object_put(vm);
            else if (!ferry_error_message()[0])
                abort(); /* a failure must say why */
        }
    } else if (!ferry_error_message()[0]) {
        abort();
    }
    ferry_vm_list_free(&list);
    ferry_error_reset();
    return 0;
}
