/* http source (skeleton; being written). */
#include "importer/format.h"

static bool http_handles(const char *url) { return false; }

const struct ferry_source_ops ferry_source_http = {
    .name = "http",
    .handles = http_handles,
};
