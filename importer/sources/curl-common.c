/* The libcurl easy-handle constructor of the curl-based sources, the
 * process-wide CA bundle and proxy they share, and the retry helpers. */
#include "importer/sources/curl-common.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#define MAX_CERT_FILE (4u << 20)

static struct {
    char *bundle;     /* the system roots and the cert directories' (PEM) */
    size_t bundle_len;
    unsigned system_certs, added_certs;
    char **dirs;
    char **warnings;  /* told at the first handle: logging starts after the options */
    char *proxy, *noproxy;
} shared;

static void
curl_global_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* HTTP_PROXY in upper case, as Go's ProxyFromEnvironment takes it
     * (not in a CGI program, where a client's "Proxy:" header becomes
     * HTTP_PROXY).  Before any thread of ours runs a transfer. */
    const char *up = getenv("HTTP_PROXY");
    if (up && *up && !getenv("http_proxy") && !getenv("REQUEST_METHOD"))
        setenv("http_proxy", up, 0);
}

static void
curl_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_global_once);
}

static unsigned
count_certs(const char *pem)
{
    unsigned n = 0;
    for (const char *p = pem; (p = strstr(p, "-----BEGIN CERTIFICATE-----")); p++)
        n++;
    return n;
}

/* Once, at the first handle: the options were parsed before --debug. */
static void
bundle_log(void)
{
    if (!shared.bundle)
        return;
    for (char **w = shared.warnings; w && *w; w++)
        ferry_log_warn("%s", *w);
    FERRY_AUTOFREE char *dirs = NULL;
    for (char **d = shared.dirs; d && *d; d++) {
        char *n = ferry_printf("%s%s'%s'", dirs ? dirs : "", dirs ? ", " : "", *d);
        free(dirs);
        dirs = n;
    }
    ferry_log_debug("importer.curl", "CA bundle: %u system certificates and %u from %s",
                    shared.system_certs, shared.added_certs, dirs ? dirs : "none");
}

CURL *
ferry_curl_easy(const char *url, bool verify_tls, bool verbose)
{
    static pthread_once_t logged = PTHREAD_ONCE_INIT;
    CURL *c;

    curl_init();
    pthread_once(&logged, bundle_log);
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
    if (shared.bundle) {
        struct curl_blob blob = { .data = shared.bundle, .len = shared.bundle_len,
                                  .flags = CURL_BLOB_NOCOPY };
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
        curl_easy_setopt(c, CURLOPT_PROXY_CAINFO_BLOB, &blob);
    }
    if (shared.proxy)
        curl_easy_setopt(c, CURLOPT_PROXY, shared.proxy);
    if (shared.noproxy)
        curl_easy_setopt(c, CURLOPT_NOPROXY, shared.noproxy);
    if (verbose)
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    return c;
}

/* ---- CA certificates ------------------------------------------------------ */

static void
bundle_append(const char *buf, size_t len)
{
    shared.bundle = ferry_realloc(shared.bundle, shared.bundle_len + len + 2);
    memcpy(shared.bundle + shared.bundle_len, buf, len);
    shared.bundle_len += len;
    if (len > 0 && buf[len - 1] != '\n')
        shared.bundle[shared.bundle_len++] = '\n';
    shared.bundle[shared.bundle_len] = '\0';
}

/* The system roots first: the file libcurl would read by default. */
static int
bundle_start(void)
{
    char *path = NULL;
    CURL *c;

    if (shared.bundle)
        return 0;
    curl_init();
    c = curl_easy_init();
    if (!c)
        ferry_oom();
    curl_easy_getinfo(c, CURLINFO_CAINFO, &path);
    FERRY_AUTOFREE char *file = ferry_strdup(path);
    curl_easy_cleanup(c);
    shared.bundle = ferry_strdup("");
    if (file) {
        char *buf = NULL;
        size_t len = 0;
        if (ferry_file_read(file, 16u << 20, &buf, &len) < 0) {
            /* No system bundle (a minimal container): only the given ones. */
            ferry_log_debug("importer.curl", "no system CA bundle: %s", ferry_error_message());
            ferry_error_reset();
        } else {
            bundle_append(buf, len);
            shared.system_certs = count_certs(buf);
            free(buf);
        }
    }
    return 0;
}

int
ferry_curl_add_cert_dir(const char *dir)
{
    FERRY_AUTOSTRV char **names = NULL;

    if (ferry_dir_names("cert dir", dir, &names) < 0)
        return -1;
    if (bundle_start() < 0)
        return -1;
    ferry_strv_push(&shared.dirs, dir);
    for (char **n = names; n && *n; n++) {
        FERRY_AUTOFREE char *path = ferry_printf("%s/%s", dir, *n);
        FERRY_AUTOFREE char *buf = NULL;
        size_t len = 0;
        struct stat st;

        if (stat(path, &st) < 0)
            return ferry_error_errno(FERRY_ERR_INVALID, errno, "cert dir '%s': '%s'", dir, *n);
        if (!S_ISREG(st.st_mode))
            continue;   /* Kubernetes' ..data and subdirectories */
        if (ferry_file_read(path, MAX_CERT_FILE, &buf, &len) < 0)
            return ferry_error_prefix("cert dir '%s': ", dir);
        if (!strstr(buf, "-----BEGIN CERTIFICATE-----")) {
            FERRY_AUTOFREE char *w =
                ferry_printf("cert dir '%s': '%s' holds no PEM certificate: ignored", dir, *n);
            ferry_strv_push(&shared.warnings, w);
            continue;
        }
        bundle_append(buf, len);
        shared.added_certs += count_certs(buf);
    }
    return 0;
}

void
ferry_curl_set_proxy(const char *proxy)
{
    free(shared.proxy);
    shared.proxy = ferry_strdup(proxy);
}

void
ferry_curl_set_noproxy(const char *list)
{
    free(shared.noproxy);
    shared.noproxy = ferry_strdup(list);
}

void
ferry_curl_deliver(CURL *c, curl_write_callback header, void *header_data,
                   curl_write_callback write, void *write_data, char *errbuf)
{
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, header_data);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, write_data);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
}

/* ---- retries ------------------------------------------------------------- */

bool
ferry_curl_retryable(CURLcode rc, long code)
{
    switch (rc) {
    case CURLE_OK:
    case CURLE_HTTP_RETURNED_ERROR:
    case CURLE_WRITE_ERROR:   /* our callback stopped it: a status to judge */
        break;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
        return true;
    default:
        return false;
    }
    return code == 408 || code == 429 || (code >= 500 && code <= 599 && code != 501 && code != 505);
}

double
ferry_curl_retry_after(const char *value, time_t now)
{
    char *end;
    double s;

    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        s = strtod(value, &end);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        return *end ? -1 : s;
    }
    FERRY_AUTOFREE char *v = ferry_strndup(value, strcspn(value, "\r\n"));
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    return t > now ? (double)(t - now) : 0;
}
