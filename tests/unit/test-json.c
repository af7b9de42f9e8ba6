/* json-c helpers (common/json.h): dotted paths, typed getters, setting and
 * deleting, equality, parsing errors with offsets, and file reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testlib.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_get(void **state)
{
    FERRY_AUTOPTR(json_object) o = test_json(
        "{\"spec\":{\"template\":{\"spec\":{\"domain\":{\"cpu\":{\"cores\":4}}}},\"running\":true,"
        "\"name\":\"x\",\"list\":[1]}}");

    assert_int_equal(ferry_json_get_int(o, "spec.template.spec.domain.cpu.cores", 0), 4);
    assert_int_equal(ferry_json_get_int(o, "spec.template.spec.domain.cpu.threads", 7), 7);
    assert_true(ferry_json_get_bool(o, "spec.running", false));
    assert_false(ferry_json_get_bool(o, "spec.missing", false));
    assert_string_equal(ferry_json_get_string(o, "spec.name"), "x");
    assert_null(ferry_json_get_string(o, "spec.running")); /* not a string */
    assert_null(ferry_json_get(o, "spec.list.0"));          /* arrays are not walked */
    assert_null(ferry_json_get(o, "spec.name.deeper"));
}

static void
test_set_and_delete(void **state)
{
    FERRY_AUTOPTR(json_object) o = json_object_new_object();

    ferry_json_set_string(o, "metadata.name", "vm1");
    ferry_json_set_int(o, "spec.template.spec.domain.cpu.cores", 2);
    ferry_json_set_bool(o, "spec.running", false);
    assert_string_equal(ferry_json_get_string(o, "metadata.name"), "vm1");
    assert_int_equal(ferry_json_get_int(o, "spec.template.spec.domain.cpu.cores", 0), 2);
    ferry_json_del(o, "spec.running");
    assert_null(ferry_json_get(o, "spec.running"));
    ferry_json_set(o, "metadata.name", NULL);
    assert_null(ferry_json_get(o, "metadata.name"));
    assert_non_null(ferry_json_ensure_object(o, "status.conditions_holder"));
    assert_true(json_object_is_type(ferry_json_get(o, "status"), json_type_object));
}

static void
test_equal_and_copy(void **state)
{
    FERRY_AUTOPTR(json_object) a = test_json("{\"a\":1,\"b\":[1,2,{\"c\":null}]}");
    FERRY_AUTOPTR(json_object) b = test_json("{\"b\":[1,2,{\"c\":null}],\"a\":1}");
    FERRY_AUTOPTR(json_object) c = test_json("{\"a\":1.0,\"b\":[1,2,{\"c\":null}]}");
    FERRY_AUTOPTR(json_object) copy = ferry_json_copy(a);

    assert_true(ferry_json_equal(a, b)); /* key order ignored */
    assert_false(ferry_json_equal(a, c)); /* 1 and 1.0 are different types */
    assert_true(ferry_json_equal(a, copy));
    ferry_json_set_int(copy, "a", 2);
    assert_int_equal(ferry_json_get_int(a, "a", 0), 1);
}

static void
test_parse_errors(void **state)
{
    json_object *o = NULL;

    assert_int_equal(ferry_json_parse("{\"a\": }", 7, "bad.json", &o), -1);
    assert_non_null(strstr(ferry_error_message(), "'bad.json': invalid JSON at offset"));
    assert_int_equal(ferry_json_parse("{} x", 4, "trail.json", &o), -1);
    assert_string_equal(ferry_error_message(), "'trail.json': trailing data at offset 3");
    assert_int_equal(ferry_json_parse("{} \n", 4, "ok.json", &o), 0);
    json_object_put(o);
    assert_int_equal(ferry_json_parse("{\"a\": 1", 8, "open.json", &o), -1);
}

/* A bare literal is a whole document: json-c alone waits for more input. */
static void
test_parse_bare_literals(void **state)
{
    json_object *o = NULL;

    assert_int_equal(ferry_json_parse("42", 2, "n.json", &o), 0);
    assert_int_equal(json_object_get_int(o), 42);
    json_object_put(o);
    assert_int_equal(ferry_json_parse("true", 4, "b.json", &o), 0);
    assert_true(json_object_get_boolean(o));
    json_object_put(o);
    assert_int_equal(ferry_json_parse("-1.5e3", 6, "f.json", &o), 0);
    assert_true(json_object_get_double(o) == -1500.0);
    json_object_put(o);
}

static void
test_files(void **state)
{
    char dir[] = "/tmp/ferry-test-json-XXXXXX";
    json_object *o = NULL;

    assert_non_null(mkdtemp(dir));
    FERRY_AUTOFREE char *path = ferry_printf("%s/x.json", dir);
    assert_int_equal(ferry_file_write_atomic(path, "{\"k\":\"v\"}", 9, 0644), 0);
    assert_int_equal(ferry_json_read_file(path, &o), 0);
    assert_string_equal(ferry_json_get_string(o, "k"), "v");
    json_object_put(o);
    FERRY_AUTOPTR(json_object) small = test_json("{\"a\":[1]}");
    FERRY_AUTOFREE char *pretty = ferry_json_to_string(small, true);
    assert_non_null(strstr(pretty, "\n"));
    assert_int_equal(ferry_rm_rf(dir), 0);
    assert_int_equal(ferry_json_read_file(path, &o), -1);
    assert_non_null(strstr(ferry_error_message(), path));
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_get),
          cmocka_unit_test(test_set_and_delete),
          cmocka_unit_test(test_equal_and_copy),
          cmocka_unit_test(test_parse_errors),
          cmocka_unit_test(test_parse_bare_literals),
          cmocka_unit_test(test_files))
