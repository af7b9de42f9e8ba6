/* What the sources that read from a server with Range requests share
 * (vmware, imageio, s3, registry): credentials from a secret directory or
 * CDI's environment, a CA bundle loaded into memory before the importer
 * confines itself, https-only easy handles and a pool of kept-alive ones,
 * one Range GET and the parsing of its Content-Range header. */
#ifndef FERRY_IMPORTER_REMOTE_COMMON_H
#define FERRY_IMPORTER_REMOTE_COMMON_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ferry_source;

/* User and password: the files accessKeyId and secretKey in SECRET_DIR
 * (the keys of CDI's secrets for registry, imageio and vddk sources), or,
 * without SECRET_DIR, the environment CDI's importer pod gets from such a
 * secret (IMPORTER_ACCESS_KEY_ID, IMPORTER_SECRET_KEY).  WHAT names the
 * source in errors ("vmware 'vmware://esxi/...'"), OPTION the option to
 * give ("--vmware-secret-dir").  Both malloc'd. */
/* One secret file DIR/KEY, its trailing line breaks cut; a NUL byte in it
 * is refused, and so is an empty one when NONEMPTY.  malloc'd. */
int ferry_remote_read_secret(const char *dir, const char *key, bool nonempty, char **ret);

int ferry_remote_credentials(const char *what, const char *option, const char *secret_dir,
                             char **ret_user, char **ret_password);

/* A PEM bundle in memory: PATH a file, or a directory whose regular files
 * are concatenated (a mounted ConfigMap: ca.pem, tls.crt ...).  Loaded
 * once, before the sandbox: libcurl gets it as a blob on every handle. */
int ferry_remote_ca_load(const char *option, const char *path, char **ret_pem, size_t *ret_len);

/* The CA bundle of OPTION (PATH, may be NULL) or else of IMPORTER_CERT_DIR
 * (where CDI mounts a source's certConfigMap); neither: *RET_PEM NULL. */
int ferry_remote_ca_option(const char *option, const char *path, char **ret_pem,
                           size_t *ret_len);

/* TLS settings on an easy handle: PEM (may be NULL) added to the system
 * roots, or no verification at all with INSECURE. */
void ferry_remote_tls(CURL *c, const char *pem, size_t len, bool insecure);

/* An easy handle for URL (ferry_curl_easy) that speaks only https and
 * follows no redirect, so that credentials go to no other host.  TLS: PIN
 * ("sha256//...", CURLOPT_PINNEDPUBLICKEY, checked in every handshake
 * instead of the certificate chain) when not NULL, else ferry_remote_tls. */
CURL *ferry_remote_https_handle(const char *url, bool verbose, const char *pem, size_t len,
                                bool insecure, const char *pin);

/* Kept-alive easy handles that the threads of one source share. */
#define FERRY_CURL_POOL_MAX 8
struct ferry_curl_pool {
    pthread_mutex_t lock;
    CURL *h[FERRY_CURL_POOL_MAX];
    size_t n, max;
};
void ferry_curl_pool_init(struct ferry_curl_pool *pool, size_t max);
/* A kept handle, NULL when there is none (the caller makes one). */
CURL *ferry_curl_pool_take(struct ferry_curl_pool *pool);
/* Keep C, or clean it up when the pool is full. */
void ferry_curl_pool_give(struct ferry_curl_pool *pool, CURL *c);
void ferry_curl_pool_destroy(struct ferry_curl_pool *pool);

/* "Content-Range: bytes FIRST-LAST/TOTAL" (TOTAL may be "*": total -1), or
 * a 416's "bytes * /TOTAL" (not valid, but TOTAL known). */
struct ferry_content_range {
    bool seen, valid;
    int64_t first, last, total;
};
/* Feed one header line (as libcurl's header callback gets it); a status
 * line ("HTTP/...") starts a new response and resets CR. */
void ferry_content_range_header(struct ferry_content_range *cr, const char *line, size_t len);

/* One Range GET ("bytes=OFF-OFF+LEN-1") on an easy handle whose URL and
 * credentials are set: a 206's body goes to BUF (more than LEN bytes stops
 * the transfer: OVERFLOW), a 200 stops it at once (the server ignores
 * Range), the start of any other answer is kept in BODY for messages. */
struct ferry_range_get {
    uint8_t *buf;
    size_t len, got;
    CURL *c;
    struct ferry_content_range cr;
    char body[200];
    size_t body_len;
    bool overflow;
    char range[64];               /* "FIRST-LAST", for messages */
    char errbuf[CURL_ERROR_SIZE];
    CURLcode rc;
    long code;
};
/* HEADER: NULL, or a header callback that gets Q and calls
 * ferry_range_get_header itself (Q may then be the first member of a
 * larger struct). */
void ferry_range_get(struct ferry_range_get *q, CURL *c, uint64_t off, void *buf, size_t len,
                     curl_write_callback header);
size_t ferry_range_get_header(char *buf, size_t size, size_t n, void *opaque);
/* The transfer failed (not stopped on purpose by a 200 or an overflow). */
bool ferry_range_get_failed(const struct ferry_range_get *q);
/* The 206 holds exactly the bytes asked for, as its Content-Range says
 * (its total is the caller's to check). */
bool ferry_range_get_exact(const struct ferry_range_get *q, uint64_t off);
/* libcurl's error for a failed transfer. */
const char *ferry_range_get_error(const struct ferry_range_get *q);

/* Keep the start of an answer's body for messages (an error page): DATA
 * appended to TEXT, a string in SIZE bytes of which *USED are taken, as far
 * as it fits. */
void ferry_remote_keep_body(char *text, size_t size, size_t *used, const char *data, size_t len);

/* A source's needs_network: a remote source needs it all along. */
bool ferry_remote_needs_network(const char *url);

/* Percent-encode S (everything but unreserved characters, and '/' when
 * KEEP_SLASH).  malloc'd. */
char *ferry_remote_escape(const char *s, bool keep_slash);

/* read() over PREAD at *CURSOR, at most MAX bytes at a time. */
ssize_t ferry_remote_read(struct ferry_source *src, void *buf, size_t len, size_t max,
                          uint64_t *cursor,
                          ssize_t (*pread)(struct ferry_source *, void *, size_t, uint64_t));

#endif
