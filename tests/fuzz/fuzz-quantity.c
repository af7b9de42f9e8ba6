/* Fuzz target for the small parsers of outside strings in common/: resource
 * quantities, label selectors and names.  Invariants: a parsed quantity's
 * Value() and MilliValue() agree in sign and magnitude, the canonical byte
 * form parses back to the same value, and a sanitized name is always a
 * valid DNS-1123 label. */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/name.h"
#include "common/object.h"
#include "common/quantity.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FERRY_AUTOFREE char *s = NULL;
    struct ferry_quantity q;
    struct ferry_selector *sel = NULL;

    if (size > 4096)
        return 0;
    s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    if (ferry_quantity_parse(s, &q) == 0) {
        if ((q.value > 0) != (q.milli > 0) || (q.value < 0) != (q.milli < 0))
            abort();
        if (q.milli != INT64_MAX && q.milli != -INT64_MAX &&
            (q.milli > q.value * 1000 || q.milli <= (q.value - (q.value > 0)) * 1000) && q.value > 0)
            abort(); /* value is milli/1000 rounded up */
        if (q.value >= 0) {
            FERRY_AUTOFREE char *canon = ferry_quantity_format_bytes((uint64_t)q.value);
            uint64_t back;

            if (ferry_quantity_parse_bytes(canon, &back) < 0 || back != (uint64_t)q.value)
                abort();
        }
    }
    if (ferry_selector_parse(s, &sel) == 0)
        ferry_selector_free(sel);

    FERRY_AUTOFREE char *name = ferry_name_sanitize(s, 63);
    if (!ferry_name_is_dns1123_label(name))
        abort();
    (void)ferry_name_check_subdomain("metadata.name", s);
    (void)ferry_name_is_label_key(s);
    return 0;
}
