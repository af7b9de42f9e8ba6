/* ferry-importer: the program entry; all the work is in pipeline.c.  The
 * sources' own options (each source's .options in the table of
 * importer/sources.c) are taken out of the command line here and handed to
 * that source's config(), so that the pipeline's own parser stays the
 * source of every other option. */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/quantity.h"
#include "common/util.h"
#include "importer/cdi.h"
#include "importer/importer.h"

int
main(int argc, char **argv)
{
    FERRY_AUTOFREE char **rest = ferry_calloc(argc + 1, sizeof(*rest));
    int n = 0;

    /* CDI's importer pod: no arguments, the IMPORTER_* environment (cdi.c). */
    if (ferry_cdi_mode(argc, argv))
        return ferry_cdi_main(argc, argv);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
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
        const struct ferry_source_option *o = NULL;
        const struct ferry_source_ops *src = ferry_sources_find_option(name, &o);

        if (strcmp(name, "size") == 0) {
            /* The pipeline parses it; a source may bound its data by it. */
            const char *v = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
            uint64_t b;
            if (v && ferry_quantity_parse_bytes(v, &b) == 0)
                ferry_sources_volume_size(b);
            ferry_error_reset();
        }
        if (!src) {
            rest[n++] = argv[i];
            continue;
        }
        const char *value = NULL;
        if (o->arg) {
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
        if (src->config(name, value) < 0) {
            ferry_log_init("ferry-importer");
            ferry_log_last_error();
            return 2;
        }
    }
    rest[n] = NULL;
    return ferry_importer_main(n, rest);
}
