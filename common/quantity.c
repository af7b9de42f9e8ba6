/* Kubernetes resource quantities, parsed as the API server parses them.
 *
 * Two gates, both Kubernetes' own:
 *  1. The scanner of k8s.io/apimachinery's parseQuantityString and the suffix
 *     table of ParseQuantity ("1.5.Gi", "1 Gi", "1iB", "1Mi1", "1e" fail here,
 *     with its error texts).
 *  2. The OpenAPI pattern controller-gen writes into every CRD for a
 *     resource.Quantity field -- KubeVirt's and CDI's CRDs included -- which
 *     the API server checks before the Go parser ever runs.  It refuses the
 *     odd strings the Go scanner lets through as zero ("Gi", "-", ".").
 *
 * The value is then exact: the decimal digits times 10^exp (or 2^exp for
 * Ki..Ei), computed with OpenSSL's BIGNUM, rounded up (away from zero) the way
 * Quantity.Value() and MilliValue() round.  Values beyond int64 are refused;
 * a milli value beyond int64 (quantities above ~9.2 PB) saturates.
 */
#include "common/quantity.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"

#include <inttypes.h>
#include <openssl/bn.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* k8s.io/apimachinery pkg/api/resource: splitREString and its errors */
#define SPLIT_RE "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
#define ERR_FORMAT "quantities must match the regular expression '" SPLIT_RE "'"
#define ERR_NUMERIC "unable to parse numeric part of quantity"
#define ERR_SUFFIX "unable to parse quantity's suffix"

/* The CRD schema pattern (controller-gen, for resource.Quantity). */
#define CRD_PATTERN                                                                            \
    "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"                    \
    "([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$"

#define MAX_LEN 1024

static const struct {
    const char *suffix;
    int base; /* 2 or 10 */
    int exp;
    char format;
} suffixes[] = {
    { "Ki", 2, 10, 'b' }, { "Mi", 2, 20, 'b' }, { "Gi", 2, 30, 'b' }, { "Ti", 2, 40, 'b' },
    { "Pi", 2, 50, 'b' }, { "Ei", 2, 60, 'b' }, { "n", 10, -9, 'd' }, { "u", 10, -6, 'd' },
    { "m", 10, -3, 'd' }, { "", 10, 0, 'd' },   { "k", 10, 3, 'd' },  { "M", 10, 6, 'd' },
    { "G", 10, 9, 'd' },  { "T", 10, 12, 'd' }, { "P", 10, 15, 'd' }, { "E", 10, 18, 'd' },
};

static int
qerr(const char *s, const char *why)
{
    return ferry_error(FERRY_ERR_INVALID, "quantity \"%s\" is invalid: %s", s, why);
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* parseQuantityString, returning the pieces as offsets into s. */
struct pieces {
    bool positive;
    const char *num;
    size_t num_len;
    const char *denom;
    size_t denom_len;
    const char *suffix;
};

static int
scan(const char *s, struct pieces *p)
{
    size_t pos = 0, end = strlen(s), i;

    memset(p, 0, sizeof *p);
    p->positive = true;
    p->suffix = s + end;
    if (pos < end && (s[0] == '-' || s[0] == '+')) {
        p->positive = s[0] == '+';
        pos++;
    }
    while (pos < end && s[pos] == '0')
        pos++;
    if (pos >= end) {
        p->num = "0", p->num_len = 1;
        return 0;
    }
    for (i = pos; i < end && is_digit(s[i]); i++)
        ;
    p->num = s + pos, p->num_len = i - pos;
    pos = i;
    if (pos >= end)
        return 0;
    if (p->num_len == 0)
        p->num = "0", p->num_len = 1;
    if (s[pos] == '.') {
        pos++;
        for (i = pos; i < end && is_digit(s[i]); i++)
            ;
        p->denom = s + pos, p->denom_len = i - pos;
        pos = i;
        if (pos >= end)
            return 0;
    }
    p->suffix = s + pos;
    for (i = pos; i < end && strchr("eEinumkKMGTP", s[i]); i++)
        ;
    if (i >= end)
        return 0;
    pos = i;
    if (s[pos] == '-' || s[pos] == '+')
        pos++;
    for (i = pos; i < end && is_digit(s[i]); i++)
        ;
    if (i >= end)
        return 0;
    return -1;
}

/* quantitySuffixer.interpret */
static bool
interpret(const char *suf, int *ret_base, int *ret_exp, char *ret_format)
{
    for (size_t k = 0; k < FERRY_ARRAY_SIZE(suffixes); k++)
        if (strcmp(suf, suffixes[k].suffix) == 0) {
            *ret_base = suffixes[k].base;
            *ret_exp = suffixes[k].exp;
            *ret_format = suffixes[k].format;
            return true;
        }
    if (strlen(suf) > 1 && (suf[0] == 'e' || suf[0] == 'E')) {
        /* Go's strconv.ParseInt(suf[1:], 10, 32) */
        const char *p = suf + 1;
        long long v = 0;

        if (*p == '+' || *p == '-')
            p++;
        if (!*p)
            return false;
        for (; *p; p++) {
            if (!is_digit(*p))
                return false;
            v = v * 10 + (*p - '0');
            if (v > 2147483647LL + (suf[1] == '-'))
                return false;
        }
        *ret_base = 10;
        *ret_exp = (int)(suf[1] == '-' ? -v : v);
        *ret_format = 'e';
        return true;
    }
    return false;
}

static regex_t crd_re;
static pthread_once_t crd_once = PTHREAD_ONCE_INIT;

static void
crd_compile(void)
{
    if (regcomp(&crd_re, CRD_PATTERN, REG_EXTENDED | REG_NOSUB) != 0)
        ferry_oom();
}

static bool
crd_pattern_matches(const char *s)
{
    pthread_once(&crd_once, crd_compile);
    return regexec(&crd_re, s, 0, NULL, 0) == 0;
}

/* ceil(|digits| * base^exp * 10^k); false when beyond int64. */
static bool
scaled_ceil(const char *digits, int base, long exp, int k, bool *ret_zero, uint64_t *ret)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *num = NULL, *den = NULL, *t = NULL, *q = NULL, *r = NULL;
    long e10 = k;
    bool ok = false;

    if (!ctx)
        ferry_oom();
    num = BN_new(), den = BN_new(), t = BN_new(), q = BN_new(), r = BN_new();
    if (!num || !den || !t || !q || !r)
        ferry_oom();
    if (!BN_dec2bn(&num, digits))
        ferry_oom();
    *ret_zero = BN_is_zero(num);
    if (*ret_zero) {
        *ret = 0;
        ok = true;
        goto out;
    }
    if (base == 2) {
        if (!BN_lshift(num, num, (int)exp))
            ferry_oom();
    } else {
        e10 += exp;
    }
    BN_one(den);
    /* digits has at most MAX_LEN characters, so |e10| bounds what matters:
     * 10^e10 beyond 10^40 overflows int64 for sure; below 10^-(len+40) the
     * result is 1 (a non-zero value rounds up to the smallest unit). */
    if (e10 > 40)
        goto out;
    if (e10 < -(long)(MAX_LEN + 80)) {
        *ret = 1;
        ok = true;
        goto out;
    }
    if (!BN_set_word(t, 10))
        ferry_oom();
    {
        BIGNUM *p = BN_new();

        if (!p || !BN_set_word(p, (unsigned long)(e10 < 0 ? -e10 : e10)) ||
            !BN_exp(t, t, p, ctx))
            ferry_oom();
        BN_free(p);
    }
    if (e10 >= 0) {
        if (!BN_mul(num, num, t, ctx))
            ferry_oom();
    } else {
        BN_copy(den, t);
    }
    if (!BN_div(q, r, num, den, ctx))
        ferry_oom();
    if (!BN_is_zero(r) && !BN_add_word(q, 1))
        ferry_oom();
    if (BN_num_bits(q) > 63)
        goto out;
    *ret = BN_get_word(q);
    ok = true;
out:
    BN_free(num), BN_free(den), BN_free(t), BN_free(q), BN_free(r);
    BN_CTX_free(ctx);
    return ok;
}

int
ferry_quantity_parse(const char *s, struct ferry_quantity *ret)
{
    struct pieces p;
    int base, exp;
    char format;
    uint64_t value, milli;
    bool zero;

    if (!s || !*s)
        return ferry_error(FERRY_ERR_INVALID, "quantity \"\" is invalid: %s", ERR_FORMAT);
    if (strlen(s) > MAX_LEN)
        return ferry_error(FERRY_ERR_INVALID, "quantity \"%.32s...\" is invalid: longer than %d characters",
                           s, MAX_LEN);
    if (scan(s, &p) < 0)
        return qerr(s, ERR_FORMAT);
    if (!interpret(p.suffix, &base, &exp, &format))
        return qerr(s, ERR_SUFFIX);
    if (!crd_pattern_matches(s))
        return qerr(s, "quantities must match the regular expression '" CRD_PATTERN "'");

    /* digits of num and denom, and the decimal shift of the denominator */
    FERRY_AUTOFREE char *digits = ferry_malloc(p.num_len + p.denom_len + 1);
    memcpy(digits, p.num, p.num_len);
    memcpy(digits + p.num_len, p.denom ? p.denom : "", p.denom_len);
    digits[p.num_len + p.denom_len] = '\0';

    long e = base == 10 ? (long)exp - (long)p.denom_len : 0;
    int b = base;

    if (base == 2) {
        /* value = digits * 10^-denom_len * 2^exp: the shift goes to k below */
        if (!scaled_ceil(digits, 2, exp, -(int)p.denom_len, &zero, &value) ||
            value > INT64_MAX)
            return qerr(s, "value out of range (int64)");
        if (!scaled_ceil(digits, 2, exp, 3 - (int)p.denom_len, &zero, &milli) || milli > INT64_MAX)
            milli = INT64_MAX;
    } else {
        if (!scaled_ceil(digits, b, e, 0, &zero, &value) || value > INT64_MAX)
            return qerr(s, "value out of range (int64)");
        if (!scaled_ceil(digits, b, e, 3, &zero, &milli) || milli > INT64_MAX)
            milli = INT64_MAX;
    }
    ret->value = p.positive ? (int64_t)value : -(int64_t)value;
    ret->milli = p.positive ? (int64_t)milli : -(int64_t)milli;
    /* Kubernetes turns a binary quantity strictly between 0 and 1 into DecimalSI */
    if (format == 'b' && !zero && value <= 1 && milli < 1000)
        format = 'd';
    ret->format = format;
    return 0;
}

int
ferry_quantity_parse_bytes(const char *s, uint64_t *ret_bytes)
{
    struct ferry_quantity q;

    if (ferry_quantity_parse(s, &q) < 0)
        return -1;
    if (q.value < 0)
        return ferry_error(FERRY_ERR_INVALID, "quantity \"%s\" is invalid: must not be negative",
                           s);
    *ret_bytes = (uint64_t)q.value;
    return 0;
}

char *
ferry_quantity_format_bytes(uint64_t bytes)
{
    static const char *const units[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    size_t u = 0;

    if (bytes == 0)
        return ferry_strdup("0");
    while (u + 1 < FERRY_ARRAY_SIZE(units) && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    return ferry_printf("%" PRIu64 "%s", bytes, units[u]);
}
