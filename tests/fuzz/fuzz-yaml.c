/* Fuzz target for common/yaml.c: any bytes must parse or fail cleanly, and
 * whatever parses must emit, re-parse, and come back equal (the round trip
 * the store and `ferry get -o yaml` rely on). */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/yaml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FERRY_AUTOPTR(json_object) docs = NULL;
    FERRY_AUTOPTR(json_object) again = NULL;

    if (size > 256 * 1024)
        return 0;
    if (ferry_yaml_parse((const char *)data, size, "fuzz", &docs) < 0)
        return 0;
    FERRY_AUTOFREE char *out = ferry_yaml_emit_stream(docs);
    if (!out) {
        /* only strings libyaml cannot write (invalid UTF-8 from escapes) may fail */
        if (!strstr(ferry_error_message(), "UTF-8") && !strstr(ferry_error_message(), "NUL"))
            abort();
        return 0;
    }
    if (ferry_yaml_parse(out, strlen(out), "emitted", &again) < 0)
        abort();
    if (!ferry_json_equal(docs, again))
        abort();
    return 0;
}
