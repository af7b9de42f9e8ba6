/* Base64 for the store's Secrets and the controller that writes their
 * values to files (common/base64.h).  Strict as Go's StdEncoding, which the
 * API server uses: a value kubectl would refuse is refused here too. */
#include "common/base64.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"

#include <string.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
ferry_base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = ferry_malloc((len + 2) / 3 * 4 + 1), *o = out;

    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;

        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *o++ = alphabet[(v >> 18) & 63];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? alphabet[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int
value(char c)
{
    const char *p = c ? strchr(alphabet, c) : NULL;

    return p ? (int)(p - alphabet) : -1;
}

int
ferry_base64_decode(const char *what, const char *in, char **ret, size_t *ret_len)
{
    size_t n = 0, len = 0;
    FERRY_AUTOFREE char *text = ferry_malloc(strlen(in) + 1);
    FERRY_AUTOFREE char *out = NULL;

    /* Go's decoder skips line breaks, nothing else */
    for (const char *p = in; *p; p++)
        if (*p != '\r' && *p != '\n')
            text[n++] = *p;
    text[n] = '\0';
    out = ferry_malloc(n / 4 * 3 + 1);

    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t pad = 0;

        for (size_t k = 0; k < 4; k++) {
            char c = i + k < n ? text[i + k] : '\0';

            if (c == '=' && i + 4 >= n && k >= 2 && (k == 3 || text[i + 3] == '=')) {
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = value(c);
            if (v[k] < 0 || pad)
                return ferry_error(FERRY_ERR_FORMAT, "%s: illegal base64 data at input byte %zu",
                                   what, i + k < n ? i + k : n);
        }
        unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
                     (unsigned)v[3];

        /* Go refuses non-zero bits under the padding (strict) */
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
            return ferry_error(FERRY_ERR_FORMAT, "%s: illegal base64 data at input byte %zu",
                               what, i + 3 - pad);
        out[len++] = (char)(w >> 16);
        if (pad < 2)
            out[len++] = (char)(w >> 8);
        if (pad < 1)
            out[len++] = (char)w;
    }
    out[len] = '\0';
    *ret_len = len;
    *ret = FERRY_STEAL(out);
    return 0;
}
