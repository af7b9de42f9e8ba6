/* What the cmocka tests share: their main(), a document parsed from a string
 * in the test, the test failing with the parser's message when it does not
 * parse, and a store in a temporary directory as a test's fixture.
 * Include it after <cmocka.h>. */
#ifndef FERRY_TESTS_TESTLIB_H
#define FERRY_TESTS_TESTLIB_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "common/store/store.h"
#include "common/util.h"
#include "common/yaml.h"

/* A test program's main(): the cmocka tests given (cmocka_unit_test(...),
 * cmocka_unit_test_setup_teardown(...)) run as one group, between the group
 * fixture GROUP_SETUP and GROUP_TEARDOWN (NULL for none). */
#define TEST_MAIN(group_setup, group_teardown, ...)                                                \
    int main(void)                                                                                 \
    {                                                                                              \
        const struct CMUnitTest tests[] = { __VA_ARGS__ };                                         \
        return cmocka_run_group_tests(tests, group_setup, group_teardown);                         \
    }

/* A test on the fixture most tests of a file share: the file defines
 * TEST_SETUP and TEST_TEARDOWN (a cmocka setup and teardown) once, and lists
 * such a test as TEST_FX(test) in TEST_MAIN. */
#define TEST_FX(test) cmocka_unit_test_setup_teardown(test, TEST_SETUP, TEST_TEARDOWN)

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

/* A store of its own in /tmp/ferry-TAG.XXXXXX (admission as ADMISSION
 * says): the fixture of the tests about the store and what runs on it. */
struct test_store {
    char dir[64];
    struct ferry_store *st;
};

static inline struct test_store *
test_store_new(const char *tag, bool admission)
{
    struct test_store *f = ferry_calloc(1, sizeof *f);

    snprintf(f->dir, sizeof f->dir, "/tmp/ferry-%s.XXXXXX", tag);
    assert_non_null(mkdtemp(f->dir));
    if (ferry_store_open(f->dir, &f->st) < 0)
        fail_msg("open: %s", ferry_error_message());
    ferry_store_set_admission(f->st, admission);
    return f;
}

/* A cmocka teardown for a test_store in *STATE. */
static inline int
test_store_teardown(void **state)
{
    struct test_store *f = *state;

    ferry_store_free(f->st);
    ferry_rm_rf(f->dir);
    free(f);
    return 0;
}

/* The next event of the watch W, within 2 s, is TYPE of the object NAME,
 * at its resourceVersion. */
static inline void
test_expect_event(struct ferry_watch *w, enum ferry_event_type type, const char *name)
{
    struct ferry_event ev = { 0 };
    const char *rv;

    if (ferry_watch_next(w, 2000, &ev) != 1)
        fail_msg("expected %s %s: %s", ferry_event_type_name(type), name, ferry_error_message());
    assert_string_equal(ferry_event_type_name(ev.type), ferry_event_type_name(type));
    assert_string_equal(ferry_json_get_string(ev.object, "metadata.name"), name);
    rv = ferry_json_get_string(ev.object, "metadata.resourceVersion");
    assert_non_null(rv);
    assert_int_equal(strtoll(rv, NULL, 10), ev.resource_version);
    ferry_event_release(&ev);
}

#endif
