/* Unit tests of the registry source's parsers (importer/sources/registry.c):
 * docker:// references normalised as containers/image does (Docker Hub,
 * library/, ports, tags, digests), their refusals, and WWW-Authenticate
 * challenge parameters.  The pull itself is tested against real registries
 * by tests/importer/registry.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/registry.h"
#include "../unit/testlib.h"

static void
expect_ref(const char *url, const char *api, const char *repo, const char *ref)
{
    char *a = NULL, *r = NULL, *f = NULL;

    if (ferry_registry_parse_url(url, &a, &r, &f) < 0)
        fail_msg("%s: %s", url, ferry_error_message());
    assert_string_equal(a, api);
    assert_string_equal(r, repo);
    assert_string_equal(f, ref);
    free(a);
    free(r);
    free(f);
}

static void
expect_bad(const char *url, const char *msg)
{
    char *a = NULL, *r = NULL, *f = NULL;

    ferry_error_reset();
    if (ferry_registry_parse_url(url, &a, &r, &f) == 0)
        fail_msg("%s: accepted", url);
    if (!strstr(ferry_error_message(), msg))
        fail_msg("%s: '%s' does not say '%s'", url, ferry_error_message(), msg);
    ferry_error_reset();
}

static void
test_references(void **state)
{
    (void)state;
    expect_ref("docker://quay.io/containerdisks/fedora:40", "https://quay.io",
               "containerdisks/fedora", "40");
    expect_ref("docker://127.0.0.1:5000/disks/x", "https://127.0.0.1:5000", "disks/x", "latest");
    expect_ref("docker://localhost/a/b/c:v1.2-rc_3", "https://localhost", "a/b/c", "v1.2-rc_3");
    expect_ref("docker://fedora", "https://registry-1.docker.io", "library/fedora", "latest");
    expect_ref("docker://kubevirt/cirros-container-disk-demo:v1.0", "https://registry-1.docker.io",
               "kubevirt/cirros-container-disk-demo", "v1.0");
    expect_ref("docker://r.example:5000/x@sha256:"
               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
               "https://r.example:5000", "x",
               "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    /* repo:tag@digest: the digest wins */
    expect_ref("docker://r.example/x:v1@sha256:"
               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
               "https://r.example", "x",
               "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    expect_ref("docker://[::1]:5000/a:b", "https://[::1]:5000", "a", "b");
}

static void
test_refusals(void **state)
{
    (void)state;
    expect_bad("docker://r.example/UPPER:v1", "is not a repository name");
    expect_bad("docker://r.example/a//b", "is not a repository name");
    expect_bad("docker://r.example/a/:v1", "is not a repository name");
    expect_bad("docker://r.example/a:-bad", "is not a tag");
    expect_bad("docker://r.example/a@sha256:abc", "is not sha256:<64 hex>");
    expect_bad("docker://r.example/a@md5:0123456789abcdef0123456789abcdef", "is not sha256");
    expect_bad("docker://r.ex%41mple/a", "is not a host");
    expect_bad("docker://r.example/../etc", "is not a repository name");
    expect_bad("http://r.example/a", "not docker://");
}

static void
test_challenges(void **state)
{
    const char *c = "realm=\"https://auth.example/token\",service=\"registry.example\","
                    "scope=\"repository:a/b:pull,push\"";
    char *v;

    (void)state;
    v = ferry_registry_challenge_param(c, "realm");
    assert_string_equal(v, "https://auth.example/token");
    free(v);
    v = ferry_registry_challenge_param(c, "scope");
    assert_string_equal(v, "repository:a/b:pull,push");
    free(v);
    v = ferry_registry_challenge_param(c, "SERVICE");
    assert_string_equal(v, "registry.example");
    free(v);
    assert_null(ferry_registry_challenge_param(c, "error"));
    v = ferry_registry_challenge_param("realm=plain, service=x", "service");
    assert_string_equal(v, "x");
    free(v);
    assert_null(ferry_registry_challenge_param("realm=\"unterminated", "realm"));
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_references),
          cmocka_unit_test(test_refusals),
          cmocka_unit_test(test_challenges))
