/* Resource quantities (common/quantity.c) against Kubernetes' own table:
 * the cases are those of k8s.io/apimachinery pkg/api/resource
 * quantity_test.go (TestQuantityParse, TestQuantityRoundUp), with Value()
 * and MilliValue() worked out from the expected decimal amounts, plus the
 * strings the CRD schema pattern refuses.  Kubernetes keeps values beyond
 * int64 ("12E", "9Ei" capped); Ferry refuses them (test_out_of_range). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/quantity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"

#define KI 1024LL
#define MI (KI * KI)
#define GI (MI * KI)
#define TI (GI * KI)
#define PI (TI * KI)
#define EI (PI * KI)

static const struct {
    const char *in;
    int64_t value; /* Value(): rounded up, away from zero */
    int64_t milli; /* MilliValue() */
    char format;
} good[] = {
    /* the examples */
    { "10Gi", 10 * GI, 10 * GI * 1000, 'b' },
    { "1G", 1000000000, 1000000000000LL, 'd' },
    { "1.5Gi", 3 * GI / 2, 3 * GI / 2 * 1000, 'b' },
    { "500M", 500000000, 500000000000LL, 'd' },
    { "100m", 1, 100, 'd' },
    { "1e3", 1000, 1000000, 'e' },
    { "1E-3", 1, 1, 'e' },
    { "+1", 1, 1000, 'd' },
    { ".5", 1, 500, 'd' },
    { "5.", 5, 5000, 'd' },
    { "0.1Ki", 103, 102400, 'b' },
    /* TestQuantityParse: zeros */
    { "0", 0, 0, 'd' }, { "0n", 0, 0, 'd' }, { "0u", 0, 0, 'd' }, { "0m", 0, 0, 'd' },
    { "0Ki", 0, 0, 'b' }, { "0k", 0, 0, 'd' }, { "0Mi", 0, 0, 'b' }, { "0M", 0, 0, 'd' },
    { "0Gi", 0, 0, 'b' }, { "0G", 0, 0, 'd' }, { "0Ti", 0, 0, 'b' }, { "0T", 0, 0, 'd' },
    /* binary suffixes */
    { "1", 1, 1000, 'd' },
    { "1Ki", KI, KI * 1000, 'b' }, { "8Ki", 8 * KI, 8 * KI * 1000, 'b' },
    { "7Mi", 7 * MI, 7 * MI * 1000, 'b' }, { "6Gi", 6 * GI, 6 * GI * 1000, 'b' },
    { "5Ti", 5 * TI, 5 * TI * 1000, 'b' }, { "4Pi", 4 * PI, 4 * PI * 1000, 'b' },
    { "3Ei", 3 * EI, INT64_MAX, 'b' }, /* milli saturates */
    { "10Ti", 10 * TI, 10 * TI * 1000, 'b' }, { "100Ti", 100 * TI, 100 * TI * 1000, 'b' },
    /* decimal suffixes */
    { "5n", 1, 1, 'd' }, { "4u", 1, 1, 'd' }, { "3m", 1, 3, 'd' }, { "9", 9, 9000, 'd' },
    { "8k", 8000, 8000000, 'd' }, { "50k", 50000, 50000000, 'd' },
    { "7M", 7000000, 7000000000LL, 'd' }, { "6G", 6000000000LL, 6000000000000LL, 'd' },
    { "5T", 5000000000000LL, 5000000000000000LL, 'd' },
    { "40T", 40000000000000LL, 40000000000000000LL, 'd' },
    { "300T", 300000000000000LL, 300000000000000000LL, 'd' },
    { "2P", 2000000000000000LL, 2000000000000000000LL, 'd' },
    { "1E", 1000000000000000000LL, INT64_MAX, 'd' },
    /* decimal exponents */
    { "1e3", 1000, 1000000, 'e' }, { "1E6", 1000000, 1000000000, 'e' },
    { "1e9", 1000000000, 1000000000000LL, 'e' }, { "1E12", 1000000000000LL, 1000000000000000LL, 'e' },
    { "1e15", 1000000000000000LL, 1000000000000000000LL, 'e' },
    { "1E18", 1000000000000000000LL, INT64_MAX, 'e' },
    { "1e14", 100000000000000LL, 100000000000000000LL, 'e' },
    { "1e13", 10000000000000LL, 10000000000000000LL, 'e' },
    { "100.035k", 100035, 100035000, 'd' },
    /* things that look like floating point */
    { "0.001", 1, 1, 'd' }, { "0.0005k", 1, 500, 'd' }, { "0.005", 1, 5, 'd' },
    { "0.05", 1, 50, 'd' }, { "0.5", 1, 500, 'd' }, { "0.00050k", 1, 500, 'd' },
    { "0.00500", 1, 5, 'd' }, { "0.05000", 1, 50, 'd' }, { "0.50000", 1, 500, 'd' },
    { "0.5e0", 1, 500, 'e' }, { "0.5e-1", 1, 50, 'e' }, { "0.5e-2", 1, 5, 'e' },
    { "10.035M", 10035000, 10035000000LL, 'd' },
    { "1.2e3", 1200, 1200000, 'e' }, { "1.3E+6", 1300000, 1300000000, 'e' },
    { "1.40e9", 1400000000, 1400000000000LL, 'e' },
    { "1.53E12", 1530000000000LL, 1530000000000000LL, 'e' },
    { "1.6e15", 1600000000000000LL, 1600000000000000000LL, 'e' },
    { "1.7E18", 1700000000000000000LL, INT64_MAX, 'e' },
    { "9.01", 10, 9010, 'd' }, { "8.1k", 8100, 8100000, 'd' },
    { "7.123456M", 7123456, 7123456000LL, 'd' },
    { "6.987654321G", 6987654321LL, 6987654321000LL, 'd' },
    { "5.444T", 5444000000000LL, 5444000000000000LL, 'd' },
    { "40.1T", 40100000000000LL, 40100000000000000LL, 'd' },
    { "300.2T", 300200000000000LL, 300200000000000000LL, 'd' },
    { "2.5P", 2500000000000000LL, 2500000000000000000LL, 'd' },
    { "1.01E", 1010000000000000000LL, INT64_MAX, 'd' },
    /* things that saturate or round (up, to the nano) */
    { "3.001n", 1, 1, 'd' }, { "1.1E-9", 1, 1, 'e' }, { "0.0000000001", 1, 1, 'd' },
    { "0.0000000005", 1, 1, 'd' }, { "0.00000000050", 1, 1, 'd' }, { "0.5e-9", 1, 1, 'e' },
    { "0.9n", 1, 1, 'd' }, { "0.00000012345", 1, 1, 'd' }, { "0.00000012354", 1, 1, 'd' },
    /* fractional binary */
    { "100.035Ki", 102436, 102435840, 'b' }, /* 102435.84 */
    { "0.5Mi", MI / 2, MI / 2 * 1000, 'b' },
    { "0.05Gi", 53687092, 53687091200LL, 'b' }, /* 53687091.2 */
    { "0.025Ti", 27487790695LL, 27487790694400LL, 'b' }, /* 27487790694.4 */
    /* things written by trolls */
    { "0.000000000001Ki", 1, 1, 'd' }, /* rounds up, becomes DecimalSI */
    { ".001", 1, 1, 'd' }, { ".0001k", 1, 100, 'd' }, { "1.", 1, 1000, 'd' },
    { "1.G", 1000000000, 1000000000000LL, 'd' },
    /* negatives round away from zero (TestQuantityRoundUp) */
    { "-9.01", -10, -9010, 'd' }, { "-1.5Gi", -3 * GI / 2, -3 * GI / 2 * 1000, 'b' },
    { "-100m", -1, -100, 'd' },
    /* the largest value that fits */
    { "9223372036854775807", INT64_MAX, INT64_MAX, 'd' },
    { "7Ei", 7 * EI, INT64_MAX, 'b' },
};

static void
test_table(void **state)
{
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        struct ferry_quantity q;

        if (ferry_quantity_parse(good[k].in, &q) < 0)
            fail_msg("%s: %s", good[k].in, ferry_error_message());
        if (q.value != good[k].value || q.milli != good[k].milli || q.format != good[k].format)
            fail_msg("%s: got value %lld milli %lld format %c, want %lld %lld %c", good[k].in,
                     (long long)q.value, (long long)q.milli, q.format, (long long)good[k].value,
                     (long long)good[k].milli, good[k].format);
    }
}

static const struct {
    const char *in;
    const char *why;
} bad[] = {
    /* quantity_test.go's invalid list */
    { "1.1.M", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { "1+1.0M", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { "0.1mi", "unable to parse quantity's suffix" },
    { "0.1am", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { "aoeu", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { ".5i", "unable to parse quantity's suffix" },
    { "1i", "unable to parse quantity's suffix" },
    { "-3.01i", "unable to parse quantity's suffix" },
    { "-3.01e-", "unable to parse quantity's suffix" },
    { " 1", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { "1 ", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    /* the rejects */
    { "1.5.Gi", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { "1 Gi", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { "1iB", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { "1e", "unable to parse quantity's suffix" },
    { "1.1.1", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { "1Mi1", "unable to parse quantity's suffix" },
    { "10GB", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { "10gi", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    /* the Go scanner reads these as zero; the CRD schema refuses them */
    { "Gi", "quantities must match the regular expression '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$'" },
    { "-", "quantities must match the regular expression '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$'" },
    { ".", "quantities must match the regular expression '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$'" },
    { "", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
};

static void
test_rejects(void **state)
{
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct ferry_quantity q;
        char want[1024];

        ferry_error_reset();
        if (ferry_quantity_parse(bad[k].in, &q) == 0)
            fail_msg("'%s' parsed as %lld", bad[k].in, (long long)q.value);
        snprintf(want, sizeof want, "quantity \"%s\" is invalid: %s", bad[k].in, bad[k].why);
        if (strcmp(ferry_error_message(), want) != 0)
            fail_msg("'%s':\n got  %s\n want %s", bad[k].in, ferry_error_message(), want);
        assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    }
}

static void
test_out_of_range(void **state)
{
    const char *big[] = { "12E", "9Ei", "8Ei", "9223372036854775808", "1e19", "9223372036854775807Ki",
                          "1e1000000" };
    struct ferry_quantity q;

    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        if (ferry_quantity_parse(big[k], &q) == 0)
            fail_msg("'%s' accepted as %lld", big[k], (long long)q.value);
        assert_non_null(strstr(ferry_error_message(), "out of range"));
    }
    /* exponents are int32, as Go's ParseInt(s, 10, 32) reads them */
    assert_int_equal(ferry_quantity_parse("1e2147483647", &q), -1);
    assert_non_null(strstr(ferry_error_message(), "out of range"));
    assert_int_equal(ferry_quantity_parse("1e2147483648", &q), -1);
    assert_non_null(strstr(ferry_error_message(), "unable to parse quantity's suffix"));
    assert_int_equal(ferry_quantity_parse("0e2147483647", &q), 0);
    assert_int_equal(q.value, 0);
    /* tiny values round up to the smallest unit, huge negative exponents too */
    assert_int_equal(ferry_quantity_parse("1e-2147483648", &q), 0);
    assert_int_equal(q.value, 1);
    assert_int_equal(ferry_quantity_parse("1e-1000000", &q), 0);
    assert_int_equal(q.value, 1);
    assert_int_equal(q.milli, 1);
}

static void
test_bytes(void **state)
{
    uint64_t b;

    assert_int_equal(ferry_quantity_parse_bytes("10Gi", &b), 0);
    assert_true(b == 10ull << 30);
    assert_int_equal(ferry_quantity_parse_bytes("1.5G", &b), 0);
    assert_true(b == 1500000000ull);
    assert_int_equal(ferry_quantity_parse_bytes("0.1Ki", &b), 0);
    assert_true(b == 103); /* 102.4 rounds up, as Value() does */
    assert_int_equal(ferry_quantity_parse_bytes("-1Gi", &b), -1);
    assert_string_equal(ferry_error_message(), "quantity \"-1Gi\" is invalid: must not be negative");
    assert_int_equal(ferry_quantity_parse_bytes("1 Gi", &b), -1);
}

static void
test_format_bytes(void **state)
{
    static const struct {
        uint64_t bytes;
        const char *want;
    } t[] = {
        { 0, "0" }, { 1, "1" }, { 1000, "1000" }, { 1024, "1Ki" }, { 1536, "1536" },
        { 1536ull * 1024, "1536Ki" }, { 1ull << 30, "1Gi" }, { 10ull << 30, "10Gi" },
        { 300ull << 20, "300Mi" }, { 1001ull << 30, "1001Gi" }, { 1ull << 40, "1Ti" },
        { 5ull << 60, "5Ei" }, { (1ull << 30) + 512, "1073742336" },
    };

    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        FERRY_AUTOFREE char *s = ferry_quantity_format_bytes(t[k].bytes);
        uint64_t back;

        assert_string_equal(s, t[k].want);
        assert_int_equal(ferry_quantity_parse_bytes(s, &back), 0);
        assert_true(back == t[k].bytes);
    }
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_table),
          cmocka_unit_test(test_rejects),
          cmocka_unit_test(test_out_of_range),
          cmocka_unit_test(test_bytes),
          cmocka_unit_test(test_format_bytes))
