/* Fuzz target for admission (common/admission.c), which reads manifests from
 * users: any YAML/JSON stream, each document admitted as a create.
 * Invariants: no crash, no leak; an admitted object admits again unchanged
 * (the defaults are idempotent) and a refusal always says why. */
#include "common/admission.h"
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

    if (size > 65536)
        return 0;
    if (ferry_yaml_parse((const char *)data, size, "fuzz", &docs) < 0) {
        ferry_error_reset();
        return 0;
    }
    for (size_t i = 0; i < json_object_array_length(docs); i++) {
        json_object *doc = json_object_array_get_idx(docs, i);
        FERRY_AUTOPTR(json_object) again = NULL;

        if (ferry_admission_admit(doc, true, NULL) < 0) {
            if (!*ferry_error_message())
                abort();
            ferry_error_reset();
            continue;
        }
        again = ferry_json_copy(doc);
        if (ferry_admission_admit(again, true, NULL) < 0 || !ferry_json_equal(again, doc))
            abort();
        /* and as an update of itself */
        if (ferry_admission_admit(again, false, doc) < 0)
            abort();
    }
    return 0;
}
