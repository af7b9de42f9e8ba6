/* ferry-importer: the program entry; all the work is in pipeline.c.  The
 * registry source's options (importer/registry.h) are taken out of the
 * command line here, so that the pipeline's own parser stays the source of
 * every other option. */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/quantity.h"
#include "common/util.h"
#include "importer/importer.h"
#include "importer/registry.h"

int
main(int argc, char **argv)
{
    FERRY_AUTOFREE char **rest = ferry_calloc(argc + 1, sizeof(*rest));
    bool help = false;
    int n = 0;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0)
            help = true;
        if (strcmp(a, "--") == 0) {
            while (i < argc)
                rest[n++] = argv[i++];
            break;
        }
        if (i == 0 || !ferry_str_has_prefix(a, "--")) {
            rest[n++] = argv[i];
            continue;
        }
        FERRY_AUTOFREE char *name = ferry_strndup(a + 2, strcspn(a + 2, "="));
        const char *eq = strchr(a, '=');
        int arity = ferry_registry_option_arity(name);

        if (strcmp(name, "help") == 0)
            help = true;
        if (strcmp(name, "size") == 0) {
            /* The pipeline parses it; the registry bounds layers by it. */
            const char *v = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
            uint64_t b;
            if (v && ferry_quantity_parse_bytes(v, &b) == 0)
                ferry_registry_set_volume_size(b);
            ferry_error_reset();
        }
        if (arity < 0) {
            rest[n++] = argv[i];
            continue;
        }
        const char *value = NULL;
        if (arity == 1) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            if (!value) {
                ferry_log_init("ferry-importer");
                ferry_log_error("option '--%s' needs a value (see --help)", name);
                return 2;
            }
        } else if (eq) {
            ferry_log_init("ferry-importer");
            ferry_log_error("option '--%s' takes no value (see --help)", name);
            return 2;
        }
        if (ferry_registry_set_option(name, value) < 0) {
            ferry_log_init("ferry-importer");
            ferry_log_last_error();
            return 2;
        }
    }
    rest[n] = NULL;
    int rc = ferry_importer_main(n, rest);
    if (help && rc == 0)
        ferry_registry_usage(stdout);
    return rc;
}
