/* What the curl-based sources (http, registry, s3, vmware ...) share of
 * libcurl: the easy-handle constructor, and the process-wide settings every
 * handle it makes takes (extra CA certificates, an explicit proxy), plus the
 * retry policy's helpers. */
#ifndef FERRY_IMPORTER_CURL_COMMON_H
#define FERRY_IMPORTER_CURL_COMMON_H

#include <curl/curl.h>
#include <stdbool.h>
#include <time.h>

/* An easy handle for URL, with libcurl initialised once per process: at
 * most 10 redirects, http and https only (also across redirects), the
 * importer's User-Agent, no signals, 60 s to connect, and a transfer that
 * moves no byte for 120 s fails.  VERIFY_TLS checks the peer's certificate
 * and host name; VERBOSE has libcurl trace the transfer on stderr.  Never
 * NULL (out of memory aborts).
 *
 * Also: the certificates of ferry_curl_add_cert_dir() are trusted beside
 * the system roots, the proxy of ferry_curl_set_proxy() is used, and the
 * proxy environment works in both cases as in CDI (Go): curl alone ignores
 * HTTP_PROXY in upper case; it is taken when http_proxy is unset (and
 * REQUEST_METHOD is unset: not a CGI program). */
CURL *ferry_curl_easy(const char *url, bool verify_tls, bool verbose);

/* Where one transfer on C delivers: the HEADER callback gets HEADER_DATA,
 * WRITE gets WRITE_DATA, and libcurl's message for a failure goes to ERRBUF
 * (CURL_ERROR_SIZE bytes).  All NULL clears them, before a handle whose
 * buffers go out of scope is kept for another transfer. */
void ferry_curl_deliver(CURL *c, curl_write_callback header, void *header_data,
                        curl_write_callback write, void *write_data, char *errbuf);

/* Trust the PEM certificates of every file in DIR whose name does not
 * start with a dot (CDI's cert directory: a ConfigMap's keys, any name)
 * IN ADDITION to the system roots: the handles get one bundle in memory
 * (CURLOPT_CAINFO_BLOB) of the system bundle and these.  A file without a
 * certificate is a warning; a missing directory or an unreadable file an
 * error naming it.  Call before the first transfer (option parsing). */
int ferry_curl_add_cert_dir(const char *dir);
/* An explicit proxy for every URL (CURLOPT_PROXY; "" means none, even when
 * the environment names one), and the hosts reached directly
 * (CURLOPT_NOPROXY: a comma list, "*" all).  NULL leaves the environment's
 * (http_proxy, https_proxy, no_proxy, both cases). */
void ferry_curl_set_proxy(const char *proxy);
void ferry_curl_set_noproxy(const char *list);

/* Is a failed transfer worth another try: connection errors (refused,
 * reset, cut mid-body, timeouts, TLS handshake) and HTTP 408, 429 and 5xx
 * but 501 and 505.  RC is the transfer's result, CODE the HTTP status (0
 * when none came). */
bool ferry_curl_retryable(CURLcode rc, long code);
/* A Retry-After value, delay-seconds or an HTTP-date, as seconds from NOW
 * (0 for a date in the past); -1 when it is neither. */
double ferry_curl_retry_after(const char *value, time_t now);

#endif
