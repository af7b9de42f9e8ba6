/* Test helper over common/yaml.c for tests/unit/yaml-kubectl.sh:
 *   ferry-yaml-tool json FILE   every document as one compact JSON line
 *   ferry-yaml-tool yaml FILE   the documents re-emitted as a YAML stream
 * FILE may be "-" (stdin).  Exit 1 with the error message on failure. */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/yaml.h"

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
    FERRY_AUTOPTR(json_object) docs = NULL;

    if (argc != 3 || (strcmp(argv[1], "json") && strcmp(argv[1], "yaml"))) {
        fprintf(stderr, "usage: ferry-yaml-tool json|yaml FILE\n");
        return 2;
    }
    if (ferry_yaml_parse_file(argv[2], &docs) < 0) {
        fprintf(stderr, "ferry-yaml-tool: %s\n", ferry_error_message());
        return 1;
    }
    if (strcmp(argv[1], "json") == 0) {
        for (size_t k = 0; k < json_object_array_length(docs); k++)
            printf("%s\n", json_object_to_json_string_ext(json_object_array_get_idx(docs, k),
                                                          JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
    }
    FERRY_AUTOFREE char *out = ferry_yaml_emit_stream(docs);
    if (!out) {
        fprintf(stderr, "ferry-yaml-tool: %s\n", ferry_error_message());
        return 1;
    }
    fputs(out, stdout);
    return 0;
}
