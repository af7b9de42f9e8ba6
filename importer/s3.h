/* The pieces of the s3 source (sources/s3.c) that unit tests check against
 * AWS's published examples. */
#ifndef FERRY_IMPORTER_S3_H
#define FERRY_IMPORTER_S3_H

#include <stdbool.h>

/* AWS's URI encoding (SigV4 "UriEncode": every byte but A-Z a-z 0-9 - . _ ~
 * as %XY, upper case; '/' kept in object keys) is ferry_remote_escape of
 * importer/sources/remote-common.h. */

/* One request to sign with AWS Signature Version 4. */
struct ferry_sigv4_request {
    const char *access_key, *secret_key;
    const char *region, *service;       /* "us-east-1", "s3" */
    const char *method;                 /* "GET" */
    const char *canonical_uri;          /* already encoded: "/bucket/my%20key" */
    const char *canonical_query;        /* encoded and sorted, "" when none */
    const char *amz_date;               /* "20130524T000000Z" (the x-amz-date header) */
    const char *payload_hash;           /* hex sha256 of the body, or "UNSIGNED-PAYLOAD" */
    /* The signed headers: name (lower case), value, name, value ..., NULL;
     * sorted by name, values trimmed. */
    const char *const *headers;
};
/* The Authorization header's value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=..."); *ret_signature (may be NULL) gets the
 * hex signature alone. */
char *ferry_sigv4_authorization(const struct ferry_sigv4_request *r, char **ret_signature);

#endif
