/* Kubernetes names (common/name.c): DNS-1123 labels and subdomains with the
 * API server's messages, label keys and values, and the sanitizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/name.h"
#include "common/util.h"

#include <string.h>
#include "testlib.h"

/* PRED holds for each of the strings OK and for none of NO (arrays); a
 * failure names the string and WHAT PRED says it is. */
#define check_names(pred, what, ok, no)                                                            \
    check_names_((pred), (what), (ok), FERRY_ARRAY_SIZE(ok), (no), FERRY_ARRAY_SIZE(no))

static void
check_names_(bool (*pred)(const char *), const char *what, const char *const *ok, size_t nok,
             const char *const *no, size_t nno)
{
    for (size_t k = 0; k < nok; k++)
        if (!pred(ok[k]))
            fail_msg("'%s' should be %s", ok[k], what);
    for (size_t k = 0; k < nno; k++)
        if (pred(no[k]))
            fail_msg("'%s' should not be %s", no[k], what);
}

static void
test_labels(void **state)
{
    const char *ok[] = { "a", "0", "vm-1", "123-abc", "my-name", "a1b2c3",
                         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk" /* 63 */ };
    const char *no[] = { "", "-a", "a-", "A", "my_name", "a.b", "a b", "ünï",
                         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl" /* 64 */ };

    check_names(ferry_name_is_dns1123_label, "a label", ok, no);
    assert_false(ferry_name_is_dns1123_label(NULL));
}

static void
test_subdomains(void **state)
{
    const char *ok[] = { "example.com", "a", "vm-1.default", "1.2.3", "a-b.c-d.e" };
    const char *no[] = { "", ".a", "a.", "a..b", "Example.com", "a_b.c", "-a.b", "a.-b" };
    char long_ok[254], long_no[255];

    check_names(ferry_name_is_dns1123_subdomain, "a subdomain", ok, no);
    memset(long_ok, 'a', 253);
    for (int i = 50; i < 253; i += 51)
        long_ok[i] = '.';
    long_ok[253] = '\0';
    assert_true(ferry_name_is_dns1123_subdomain(long_ok));
    memset(long_no, 'a', 254);
    long_no[254] = '\0';
    assert_false(ferry_name_is_dns1123_subdomain(long_no));
}

static void
test_messages(void **state)
{
    assert_int_equal(ferry_name_check_subdomain("metadata.name", "web-1"), 0);
    assert_int_equal(ferry_name_check_subdomain("metadata.name", "Web_1"), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    assert_string_equal(ferry_error_message(),
                        "metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain "
                        "must consist of lower case alphanumeric characters, '-' or '.', and must "
                        "start and end with an alphanumeric character (e.g. 'example.com', regex "
                        "used for validation is "
                        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");

    assert_int_equal(ferry_name_check_label("spec.template.spec.volumes[0].name", "Disk0"), -1);
    assert_string_equal(ferry_error_message(),
                        "spec.template.spec.volumes[0].name: Invalid value: \"Disk0\": a lowercase "
                        "RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                        "and must start and end with an alphanumeric character (e.g. 'my-name',  "
                        "or '123-abc', regex used for validation is "
                        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')");

    char longname[70];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    assert_int_equal(ferry_name_check_label("metadata.name", longname), -1);
    assert_non_null(strstr(ferry_error_message(), "must be no more than 63 characters"));
}

static void
test_sanitize(void **state)
{
    static const struct {
        const char *in;
        int max;
        const char *want;
    } t[] = {
        { "Web Server #1 (prod)", 63, "web-server-1-prod" },
        { "  --Hello__World--  ", 63, "hello-world" },
        { "already-fine", 63, "already-fine" },
        { "ÜBER Système", 63, "ber-syst-me" },
        { "", 63, "vm" },
        { "###", 63, "vm" },
        { NULL, 63, "vm" },
        { "abcdefghij-klmnop", 11, "abcdefghij" }, /* no trailing '-' after the cut */
        { "Windows 2019 DC", 0, "windows-2019-dc" }, /* 0: 63 */
        { "a.b.c", 63, "a-b-c" },
    };

    for (size_t k = 0; k < FERRY_ARRAY_SIZE(t); k++) {
        FERRY_AUTOFREE char *s = ferry_name_sanitize(t[k].in, t[k].max);

        assert_string_equal(s, t[k].want);
        assert_true(ferry_name_is_dns1123_label(s));
    }
    char big[300];
    memset(big, 'X', 299);
    big[299] = '\0';
    FERRY_AUTOFREE char *s = ferry_name_sanitize(big, 63);
    assert_int_equal(strlen(s), 63);
}

static void
test_label_keys_values(void **state)
{
    const char *keys_ok[] = { "app", "kubevirt.io/vm", "app.kubernetes.io/name", "A_b.c-d", "x/y" };
    const char *keys_no[] = { "", "/app", "a/", "a/b/c", "Kubevirt.IO/vm", "-app", "app-", "a b" };
    const char *vals_ok[] = { "", "v1", "MyValue", "my_value", "12345", "a.b-c_d" };
    const char *vals_no[] = { "-a", "a-", "a b", "a/b", "_x" };

    check_names(ferry_name_is_label_key, "a valid label key", keys_ok, keys_no);
    check_names(ferry_name_is_label_value, "a valid label value", vals_ok, vals_no);
}

/* apimachinery's IsQualifiedName messages, one per problem. */
static void
test_qualified_name_errors(void **state)
{
    char **m;
    char longname[80], longprefix[300];

    assert_null(ferry_name_qualified_name_errors("kubevirt.io/size"));
    assert_null(ferry_name_qualified_name_errors("app"));
    m = ferry_name_qualified_name_errors("a/b/c");
    assert_non_null(m);
    assert_true(strncmp(m[0], "a qualified name must consist of", 32) == 0);
    ferry_strv_free(m);
    m = ferry_name_qualified_name_errors("/x");
    assert_string_equal(m[0], "prefix part must be non-empty");
    ferry_strv_free(m);
    m = ferry_name_qualified_name_errors("Bad_Prefix/x");
    assert_true(strncmp(m[0], "prefix part a lowercase RFC 1123 subdomain", 42) == 0);
    ferry_strv_free(m);
    m = ferry_name_qualified_name_errors("x/");
    assert_string_equal(m[0], "name part must be non-empty");
    ferry_strv_free(m);
    memset(longname, 'a', 64);
    longname[64] = '\0';
    m = ferry_name_qualified_name_errors(longname);
    assert_string_equal(m[0], "name part must be no more than 63 characters");
    assert_null(m[1]);
    ferry_strv_free(m);
    memset(longprefix, 'p', 254);
    strcpy(longprefix + 254, "/n");
    m = ferry_name_qualified_name_errors(longprefix);
    assert_string_equal(m[0], "prefix part must be no more than 253 characters");
    ferry_strv_free(m);
    m = ferry_name_qualified_name_errors("-bad-");
    assert_true(strncmp(m[0], "name part must consist of alphanumeric characters", 49) == 0);
    ferry_strv_free(m);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_labels),
          cmocka_unit_test(test_subdomains),
          cmocka_unit_test(test_messages),
          cmocka_unit_test(test_sanitize),
          cmocka_unit_test(test_label_keys_values),
          cmocka_unit_test(test_qualified_name_errors))
