/* The libcurl easy-handle constructor of the http and registry sources. */
#include "importer/sources/curl-common.h"

#include <pthread.h>

#include "common/error.h"

static void
curl_global_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURL *
ferry_curl_easy(const char *url, bool verify_tls, bool verbose)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    CURL *c;

    pthread_once(&once, curl_global_once);
    c = curl_easy_init();
    if (!c)
        ferry_oom();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry-importer/" FERRY_VERSION);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify_tls ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify_tls ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 60L);
    if (verbose)
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    return c;
}
