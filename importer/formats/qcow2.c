/* qcow2 reader (skeleton; being written). */
#include "importer/format.h"

static int qcow2_probe(const uint8_t *head, size_t len, int64_t size) { return 0; }

const struct ferry_format ferry_format_qcow2 = {
    .name = "qcow2",
    .probe = qcow2_probe,
};
