/* raw reader (skeleton; being written). */
#include "importer/format.h"

static int raw_probe(const uint8_t *head, size_t len, int64_t size) { return 0; }

const struct ferry_format ferry_format_raw = {
    .name = "raw",
    .probe = raw_probe,
};
