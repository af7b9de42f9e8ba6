/* file source (skeleton; being written). */
#include "importer/format.h"

static bool file_handles(const char *url) { return false; }

const struct ferry_source_ops ferry_source_file = {
    .name = "file",
    .handles = file_handles,
};
