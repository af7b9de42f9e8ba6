/* vmdk reader (skeleton; being written). */
#include "importer/format.h"

static int vmdk_probe(const uint8_t *head, size_t len, int64_t size) { return 0; }

const struct ferry_format ferry_format_vmdk = {
    .name = "vmdk",
    .probe = vmdk_probe,
};
