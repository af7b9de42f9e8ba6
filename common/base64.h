/* Base64 (RFC 4648, standard alphabet, padded), as Kubernetes stores a
 * Secret's data and a ConfigMap's binaryData. */
#ifndef FERRY_BASE64_H
#define FERRY_BASE64_H

#include <stddef.h>

/* LEN bytes -> base64 text; caller frees. */
char *ferry_base64_encode(const void *data, size_t len);
/* Strict: the canonical padded form only (no white space, padding bits
 * zero; line breaks skipped), as Go's base64.StdEncoding.  The bytes are NUL-terminated (not
 * counted in *ret_len); caller frees.  FERRY_ERR_FORMAT "WHAT: illegal
 * base64 data at input byte N" otherwise. */
int ferry_base64_decode(const char *what, const char *text, char **ret, size_t *ret_len);

#endif
