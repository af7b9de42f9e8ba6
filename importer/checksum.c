/* --checksum ALG:HEX: a digest (OpenSSL EVP) over every byte fetched from
 * the source, compared before the destination is put in place. */
#include <ctype.h>
#include <openssl/evp.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/importer.h"

struct ferry_checksum {
    EVP_MD_CTX *ctx;
    char *alg;
    char *expected;              /* lower-case hex */
};

static const char *const algorithms[] = { "sha256", "sha512", "sha1", "md5", NULL };

int
ferry_checksum_new(const char *spec, struct ferry_checksum **ret)
{
    const char *colon = strchr(spec, ':');
    FERRY_AUTOFREE char *alg = NULL;
    const EVP_MD *md = NULL;
    size_t hexlen;

    if (!colon)
        return ferry_error(FERRY_ERR_INVALID,
                           "checksum '%s': expected ALG:HEX (sha256, sha512, sha1, md5)", spec);
    alg = ferry_strndup(spec, colon - spec);
    for (char *c = alg; *c; c++)
        *c = tolower((unsigned char)*c);
    for (size_t i = 0; algorithms[i]; i++)
        if (strcmp(alg, algorithms[i]) == 0)
            md = EVP_get_digestbyname(alg);
    if (!md)
        return ferry_error(FERRY_ERR_INVALID,
                           "checksum '%s': unknown algorithm '%s' (sha256, sha512, sha1, md5)",
                           spec, alg);
    hexlen = strlen(colon + 1);
    if (hexlen != (size_t)EVP_MD_get_size(md) * 2)
        return ferry_error(FERRY_ERR_INVALID,
                           "checksum '%s': a %s digest has %d hex digits, not %zu", spec, alg,
                           EVP_MD_get_size(md) * 2, hexlen);
    for (const char *c = colon + 1; *c; c++)
        if (!isxdigit((unsigned char)*c))
            return ferry_error(FERRY_ERR_INVALID, "checksum '%s': '%c' is not a hex digit",
                               spec, *c);

    struct ferry_checksum *sum = ferry_calloc(1, sizeof(*sum));
    sum->ctx = EVP_MD_CTX_new();
    if (!sum->ctx || EVP_DigestInit_ex(sum->ctx, md, NULL) != 1)
        ferry_oom();
    sum->alg = FERRY_STEAL(alg);
    sum->expected = ferry_strdup(colon + 1);
    for (char *c = sum->expected; *c; c++)
        *c = tolower((unsigned char)*c);
    *ret = sum;
    return 0;
}

void
ferry_checksum_update(struct ferry_checksum *sum, const void *buf, size_t len)
{
    if (sum && len)
        EVP_DigestUpdate(sum->ctx, buf, len);
}

int
ferry_checksum_verify(struct ferry_checksum *sum)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char hex[EVP_MAX_MD_SIZE * 2 + 1];

    EVP_DigestFinal_ex(sum->ctx, md, &len);
    for (unsigned int i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * len] = '\0';
    if (strcmp(hex, sum->expected) != 0)
        return ferry_error(FERRY_ERR_CHECKSUM, "checksum mismatch: %s expected %s, got %s",
                           sum->alg, sum->expected, hex);
    return 0;
}

void
ferry_checksum_free(struct ferry_checksum *sum)
{
    if (!sum)
        return;
    EVP_MD_CTX_free(sum->ctx);
    free(sum->alg);
    free(sum->expected);
    free(sum);
}
