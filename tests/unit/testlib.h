/* What the cmocka tests share: a document parsed from a string in the test,
 * the test failing with the parser's message when it does not parse.
 * Include it after <cmocka.h>. */
#ifndef FERRY_TESTS_TESTLIB_H
#define FERRY_TESTS_TESTLIB_H

#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "common/yaml.h"

/* TEXT parsed by PARSE (ferry_json_parse, ferry_yaml_parse_one). */
static inline json_object *
test_parse(int (*parse)(const char *, size_t, const char *, json_object **), const char *what,
           const char *text)
{
    json_object *o = NULL;

    if (parse(text, strlen(text), "test", &o) < 0)
        fail_msg("%s: %s", what, ferry_error_message());
    return o;
}

#define test_json(text) test_parse(ferry_json_parse, "json", (text))
#define test_yaml(text) test_parse(ferry_yaml_parse_one, "yaml", (text))

#endif
