/* The kube store driver's configuration, without a server: what a broken
 * kubeconfig says (file, field, value), and label selectors in the API
 * server's syntax.  tests/kube/kube-store.sh runs the driver against a real
 * kube-apiserver. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/object.h"
#include "common/store/store.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>
#include "testlib.h"

static char dir[] = "/tmp/ferry-test-kubeconfig.XXXXXX";

static int
setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    ferry_rm_rf(dir);
    return 0;
}

/* Open a kubeconfig with this text: the error code, message in *ret_msg. */
static enum ferry_err
open_text(const char *name, const char *text, char **ret_msg)
{
    FERRY_AUTOFREE char *path = ferry_printf("%s/%s", dir, name);
    FERRY_AUTOFREE char *where = ferry_printf("kube:%s", path);
    struct ferry_store *st = NULL;

    assert_int_equal(ferry_file_write_atomic(path, text, strlen(text), 0600), 0);
    if (ferry_store_open(where, &st) == 0) {
        ferry_store_free(st);
        *ret_msg = ferry_strdup("");
        return FERRY_ERR_OK;
    }
    *ret_msg = ferry_strdup(ferry_error_message());
    return ferry_error_code();
}

#define CLUSTER "clusters: [{name: c, cluster: {server: \"https://127.0.0.1:6443\"}}]\n"
#define CONTEXT "contexts: [{name: x, context: {cluster: c, user: u}}]\n"

static void
test_errors(void **state)
{
    static const struct {
        const char *text;
        enum ferry_err code;
        const char *msg;
    } cases[] = {
        { CLUSTER CONTEXT "users: [{name: u, user: {}}]\n", FERRY_ERR_INVALID,
          "current-context is not set" },
        { "current-context: other\n" CLUSTER CONTEXT, FERRY_ERR_INVALID,
          "current-context: context \"other\" not found" },
        { "current-context: x\n" CLUSTER CONTEXT, FERRY_ERR_INVALID, "user \"u\" not found" },
        { "current-context: x\nclusters: [{name: c, cluster: {server: \"ftp://h\"}}]\n" CONTEXT
          "users: [{name: u, user: {}}]\n", FERRY_ERR_INVALID,
          "server: Invalid value: \"ftp://h\"" },
        { "current-context: x\n" CLUSTER CONTEXT
          "users: [{name: u, user: {client-certificate-data: \"!!notbase64\"}}]\n",
          FERRY_ERR_FORMAT, "client-certificate-data: not valid base64" },
        { "current-context: x\n" CLUSTER CONTEXT
          "users: [{name: u, user: {client-certificate-data: \"aGVsbG8=\"}}]\n",
          FERRY_ERR_INVALID, "client-certificate and client-key must be given together" },
        { "current-context: x\n" CLUSTER CONTEXT
          "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, "
          "command: x}}}]\n", FERRY_ERR_UNSUPPORTED,
          "exec.apiVersion: Unsupported value: \"client.authentication.k8s.io/v1alpha1\"" },
        { "current-context: x\n" CLUSTER CONTEXT
          "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n", FERRY_ERR_UNSUPPORTED,
          "auth-provider: not supported" },
        { "current-context: x\n"
          "clusters: [{name: c, cluster: {server: \"https://h\", certificate-authority: nope.crt}}]\n"
          CONTEXT "users: [{name: u, user: {}}]\n", FERRY_ERR_IO,
          "certificate-authority: cannot open" },
        { "current-context: x\n" CLUSTER CONTEXT "users: [{name: u, user: {token: t}}]\n",
          FERRY_ERR_OK, "" },
    };

    (void)state;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(cases); i++) {
        FERRY_AUTOFREE char *name = ferry_printf("k%zu", i);
        FERRY_AUTOFREE char *msg = NULL;
        enum ferry_err code = open_text(name, cases[i].text, &msg);

        if (code != cases[i].code || !strstr(msg, cases[i].msg))
            fail_msg("case %zu: got %s \"%s\", want %s \"%s\"", i, ferry_error_code_name(code),
                     msg, ferry_error_code_name(cases[i].code), cases[i].msg);
        /* the message names the file */
        if (code != FERRY_ERR_OK)
            assert_non_null(strstr(msg, name));
        ferry_error_reset();
    }
}

static void
test_missing_and_selection(void **state)
{
    struct ferry_store *st = NULL;
    char *where = NULL;
    FERRY_AUTOFREE char *home = ferry_printf("%s/home", dir);

    (void)state;
    assert_int_equal(ferry_store_open("kube:/nonexistent/config", &st), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    /* KUBECONFIG naming only missing files */
    setenv("KUBECONFIG", "/nonexistent/a:/nonexistent/b", 1);
    assert_int_equal(ferry_store_open("kube:", &st), -1);
    assert_non_null(strstr(ferry_error_message(), "/nonexistent/a:/nonexistent/b"));
    unsetenv("KUBECONFIG");
    setenv("HOME", home, 1);
    assert_int_equal(ferry_store_open("kube:", &st), -1);
    assert_non_null(strstr(ferry_error_message(), "no kubeconfig"));
    ferry_error_reset();

    /* daemons: explicit options, then KUBECONFIG, then in-cluster */
    assert_int_equal(ferry_store_daemon_where("sqlite:/x", NULL, &where), 0);
    assert_string_equal(where, "sqlite:/x");
    free(where);
    assert_int_equal(ferry_store_daemon_where(NULL, "/k", &where), 0);
    assert_string_equal(where, "kube:/k");
    free(where);
    assert_int_equal(ferry_store_daemon_where(NULL, NULL, &where), 0);
    assert_null(where);
    setenv("KUBECONFIG", "/k", 1);
    assert_int_equal(ferry_store_daemon_where(NULL, NULL, &where), 0);
    assert_string_equal(where, "kube:");
    free(where);
    unsetenv("KUBECONFIG");
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    assert_int_equal(ferry_store_daemon_where(NULL, NULL, &where), 0);
    assert_string_equal(where, "kube:");
    free(where);
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(ferry_store_daemon_where("a", "b", &where), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    ferry_error_reset();
}

static void
test_selector_string(void **state)
{
    static const char *const cases[][2] = {
        { "", "" },
        { "a=b", "a in (b)" },
        { "a==b,c!=d", "a in (b),c notin (d)" },
        { "x in (p, q),!y,z", "x in (p,q),!y,z" },
        { "n>3,m<2", "n>3,m<2" },
        { "app.kubernetes.io/name notin (a)", "app.kubernetes.io/name notin (a)" },
    };

    (void)state;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(cases); i++) {
        struct ferry_selector *sel = NULL, *again = NULL;
        FERRY_AUTOFREE char *s = NULL, *s2 = NULL;

        assert_int_equal(ferry_selector_parse(cases[i][0], &sel), 0);
        s = ferry_selector_to_string(sel);
        assert_string_equal(s, cases[i][1]);
        /* and it parses back to the same */
        assert_int_equal(ferry_selector_parse(s, &again), 0);
        s2 = ferry_selector_to_string(again);
        assert_string_equal(s, s2);
        ferry_selector_free(sel);
        ferry_selector_free(again);
    }
    {
        /* a null LabelSelector selects nothing: no string */
        struct ferry_selector *none = NULL;
        assert_int_equal(ferry_selector_from_json(NULL, &none), 0);
        assert_null(ferry_selector_to_string(none));
        ferry_selector_free(none);
    }
}

TEST_MAIN(setup, teardown,
          cmocka_unit_test(test_errors),
          cmocka_unit_test(test_missing_and_selection),
          cmocka_unit_test(test_selector_string))
