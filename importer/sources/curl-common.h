/* What the http and registry sources share of libcurl. */
#ifndef FERRY_IMPORTER_CURL_COMMON_H
#define FERRY_IMPORTER_CURL_COMMON_H

#include <curl/curl.h>
#include <stdbool.h>

/* An easy handle for URL, with libcurl initialised once per process: at
 * most 10 redirects, http and https only (also across redirects), the
 * importer's User-Agent, no signals, 60 s to connect, and a transfer that
 * moves no byte for 120 s fails.  VERIFY_TLS checks the peer's certificate
 * and host name; VERBOSE has libcurl trace the transfer on stderr.  Never
 * NULL (out of memory aborts). */
CURL *ferry_curl_easy(const char *url, bool verify_tls, bool verbose);

#endif
