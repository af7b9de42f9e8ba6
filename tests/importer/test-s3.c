/* Unit tests of the s3 source's signing (importer/sources/s3.c): AWS
 * Signature Version 4 against AWS's own published examples, and the key
 * encoding.  The source itself is tested against s3rver by
 * tests/importer/s3.sh. */
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "importer/s3.h"
#include "importer/sources/remote-common.h"
#include "../unit/testlib.h"

/* The three examples of the Amazon S3 API Reference, "Examples: Signature
 * Calculations in AWS Signature Version 4 > Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk"
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html):
 * access key AKIAIOSFODNN7EXAMPLE, secret key
 * wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, bucket examplebucket, region
 * us-east-1, 20130524T000000Z; the signatures are the ones printed there. */
#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DATE "20130524T000000Z"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HOST "examplebucket.s3.amazonaws.com"

/* One of the examples: the request, and the signature and signed headers
 * printed there. */
struct example {
    const char *name;
    const char *uri, *query;
    const char *const *headers;
    const char *want_sig, *want_signed;
};

static const struct example examples[] = {
    /* "GET Object": the first 10 bytes of test.txt, Range signed. */
    { "GET Object", "/test.txt", "",
      (const char *const[]){ "host", HOST, "range", "bytes=0-9", "x-amz-content-sha256", EMPTY,
                             "x-amz-date", DATE, NULL },
      "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
      "host;range;x-amz-content-sha256;x-amz-date" },
    /* "GET Bucket Lifecycle": an empty query parameter. */
    { "GET Bucket Lifecycle", "/", "lifecycle=",
      (const char *const[]){ "host", HOST, "x-amz-content-sha256", EMPTY, "x-amz-date", DATE,
                             NULL },
      "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
      "host;x-amz-content-sha256;x-amz-date" },
    /* "Get Bucket (List Objects)": a sorted query. */
    { "Get Bucket (List Objects)", "/", "max-keys=2&prefix=J",
      (const char *const[]){ "host", HOST, "x-amz-content-sha256", EMPTY, "x-amz-date", DATE,
                             NULL },
      "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
      "host;x-amz-content-sha256;x-amz-date" },
};

/* The example in *STATE signed as AWS signed it. */
static void
test_example(void **state)
{
    const struct example *e = *state;
    struct ferry_sigv4_request r = {
        .access_key = AK, .secret_key = SK, .region = "us-east-1", .service = "s3",
        .method = "GET", .canonical_uri = e->uri, .canonical_query = e->query, .amz_date = DATE,
        .payload_hash = EMPTY, .headers = e->headers,
    };
    char *sig = NULL;
    char *auth = ferry_sigv4_authorization(&r, &sig);
    char *want = NULL;

    assert_string_equal(sig, e->want_sig);
    if (asprintf(&want,
                 "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request, "
                 "SignedHeaders=%s, Signature=%s",
                 e->want_signed, e->want_sig) < 0)
        fail();
    assert_string_equal(auth, want);
    free(want);
    free(auth);
    free(sig);
}

/* A cmocka test of the example I, named as AWS names it. */
#define TEST_EXAMPLE(i)                                                                            \
    { .name = examples[i].name, .test_func = test_example, .initial_state = (void *)&examples[i] }

/* UriEncode: unreserved bytes kept, '/' kept in keys only, UTF-8 byte by
 * byte in upper-case hex, '+' and space encoded (never '+' for space). */
static void
test_uri_encode(void **state)
{
    (void)state;
    struct {
        const char *in, *key, *other;
    } cases[] = {
        { "test.txt", "test.txt", "test.txt" },
        { "a-b_c.d~e", "a-b_c.d~e", "a-b_c.d~e" },
        { "dir/my disk+1.qcow2", "dir/my%20disk%2B1.qcow2", "dir%2Fmy%20disk%2B1.qcow2" },
        { "\xc3\xbc\xe2\x82\xac", "%C3%BC%E2%82%AC", "%C3%BC%E2%82%AC" },
        { "a=b&c*(d)!'", "a%3Db%26c%2A%28d%29%21%27", "a%3Db%26c%2A%28d%29%21%27" },
        { "%41", "%2541", "%2541" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *k = ferry_remote_escape(cases[i].in, true);
        char *o = ferry_remote_escape(cases[i].in, false);
        assert_string_equal(k, cases[i].key);
        assert_string_equal(o, cases[i].other);
        free(k);
        free(o);
    }
}

TEST_MAIN(NULL, NULL,
          TEST_EXAMPLE(0),
          TEST_EXAMPLE(1),
          TEST_EXAMPLE(2),
          cmocka_unit_test(test_uri_encode))
