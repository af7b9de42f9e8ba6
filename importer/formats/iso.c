/* iso reader (skeleton; being written). */
#include "importer/format.h"

static int iso_probe(const uint8_t *head, size_t len, int64_t size) { return 0; }

const struct ferry_format ferry_format_iso = {
    .name = "iso",
    .probe = iso_probe,
};
