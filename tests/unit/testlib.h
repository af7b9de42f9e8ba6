/* What the cmocka tests share: a document parsed from a string in the test,
 * the test failing with the parser's message when it does not parse.
 * Include it after <cmocka.h>. */
#ifndef FERRY_TESTS_TESTLIB_H
#define FERRY_TESTS_TESTLIB_H

#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "common/yaml.h"

static inline json_object *
test_json(const char *text)
{
    json_object *o = NULL;

    if (ferry_json_parse(text, strlen(text), "test", &o) < 0)
        fail_msg("json: %s", ferry_error_message());
    return o;
}

static inline json_object *
test_yaml(const char *text)
{
    json_object *o = NULL;

    if (ferry_yaml_parse_one(text, strlen(text), "test", &o) < 0)
        fail_msg("yaml: %s", ferry_error_message());
    return o;
}

#endif
