/* What the sources that log in to a management server share (vmware,
 * imageio): credentials from a secret directory or CDI's environment, a CA
 * bundle loaded into memory before the importer confines itself, and the
 * parsing of a Content-Range header. */
#ifndef FERRY_IMPORTER_REMOTE_COMMON_H
#define FERRY_IMPORTER_REMOTE_COMMON_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* User and password: the files accessKeyId and secretKey in SECRET_DIR
 * (the keys of CDI's secrets for registry, imageio and vddk sources), or,
 * without SECRET_DIR, the environment CDI's importer pod gets from such a
 * secret (IMPORTER_ACCESS_KEY_ID, IMPORTER_SECRET_KEY).  WHAT names the
 * source in errors ("vmware 'vmware://esxi/...'"), OPTION the option to
 * give ("--vmware-secret-dir").  Both malloc'd. */
int ferry_remote_credentials(const char *what, const char *option, const char *secret_dir,
                             char **ret_user, char **ret_password);

/* A PEM bundle in memory: PATH a file, or a directory whose regular files
 * are concatenated (a mounted ConfigMap: ca.pem, tls.crt ...).  Loaded
 * once, before the sandbox: libcurl gets it as a blob on every handle. */
int ferry_remote_ca_load(const char *option, const char *path, char **ret_pem, size_t *ret_len);

/* TLS settings on an easy handle: PEM (may be NULL) added to the system
 * roots, or no verification at all with INSECURE. */
void ferry_remote_tls(CURL *c, const char *pem, size_t len, bool insecure);

/* "Content-Range: bytes FIRST-LAST/TOTAL" (TOTAL may be "*": total -1). */
struct ferry_content_range {
    bool seen, valid;
    int64_t first, last, total;
};
/* Feed one header line (as libcurl's header callback gets it); a status
 * line ("HTTP/...") starts a new response and resets CR. */
void ferry_content_range_header(struct ferry_content_range *cr, const char *line, size_t len);

/* Percent-encode S (everything but unreserved characters, and '/' when
 * KEEP_SLASH).  malloc'd. */
char *ferry_remote_escape(const char *s, bool keep_slash);

#endif
