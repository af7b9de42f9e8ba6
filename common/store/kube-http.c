/* The kube driver's HTTP: one CURLSH share (connections, DNS, TLS sessions)
 * under every request, so that requests reuse keep-alive connections
 * whichever thread makes them, plus a small pool of easy handles taken
 * under a mutex.  PEM material goes to libcurl from memory (the *_BLOB
 * options), never through temporary files.  tls-server-name: the URL
 * carries that name (SNI and certificate check) and CURLOPT_CONNECT_TO
 * sends the connection to the server's real address, the Host header
 * keeping the real one.  Also here: the server's Status answers turned
 * into Ferry errors, and resource paths. */
#include "common/store/kube-internal.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POOL_MAX 8
#define BODY_MAX (512 * 1024 * 1024)

struct kube_http {
    struct kube_config *cfg;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *pool[POOL_MAX];
    size_t npool;
    char *url_base;          /* scheme://host:port[/prefix] the URLs use */
    char *connect_to;        /* "tlsname:port:host:port" or NULL */
    char *host_header;       /* "Host: host:port" or NULL */
    unsigned long requests, connects; /* for the debug line at free (pool_lock) */
};

static void
share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *opaque)
{
    struct kube_http *h = opaque;

    (void)handle;
    (void)access;
    pthread_mutex_lock(&h->share_locks[data]);
}

static void
share_unlock(CURL *handle, curl_lock_data data, void *opaque)
{
    struct kube_http *h = opaque;

    (void)handle;
    pthread_mutex_unlock(&h->share_locks[data]);
}

static void
curl_global_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Split "https://host:port/prefix" into host, port and prefix. */
static void
split_server(const char *server, char **ret_scheme, char **ret_host, char **ret_port,
             char **ret_rest)
{
    const char *p = strstr(server, "://"), *hs, *he, *ps, *rest;
    bool https = ferry_str_has_prefix(server, "https://");

    hs = p ? p + 3 : server;
    rest = hs + strcspn(hs, "/");
    if (*hs == '[') {
        he = strchr(hs, ']');
        he = he && he < rest ? he + 1 : rest;
    } else {
        he = hs + strcspn(hs, ":/");
    }
    ps = (*he == ':') ? he + 1 : NULL;
    *ret_scheme = ferry_strndup(server, (size_t)(hs - server));
    *ret_host = ferry_strndup(hs, (size_t)(he - hs));
    *ret_port = ps ? ferry_strndup(ps, (size_t)(rest - ps)) : ferry_strdup(https ? "443" : "80");
    *ret_rest = ferry_strdup(rest);
}

struct kube_http *
ferry_kube_http_new(struct kube_config *cfg)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct kube_http *h = ferry_calloc(1, sizeof *h);

    pthread_once(&once, curl_global_once);
    h->cfg = cfg;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->share_locks[i], NULL);
    pthread_mutex_init(&h->pool_lock, NULL);
    h->share = curl_share_init();
    if (!h->share)
        ferry_oom();
    curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (cfg->tls_server_name) {
        FERRY_AUTOFREE char *scheme = NULL, *host = NULL, *port = NULL, *rest = NULL;
        split_server(cfg->server, &scheme, &host, &port, &rest);
        h->url_base = ferry_printf("%s%s:%s%s", scheme, cfg->tls_server_name, port, rest);
        h->connect_to = ferry_printf("%s:%s:%s:%s", cfg->tls_server_name, port, host, port);
        h->host_header = ferry_printf("Host: %s:%s", host, port);
    } else
        h->url_base = ferry_strdup(cfg->server);
    return h;
}

void
ferry_kube_http_free(struct kube_http *h)
{
    if (!h)
        return;
    ferry_log_debug("store.kube", "%lu requests over %lu new connections", h->requests,
                    h->connects);
    for (size_t i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    curl_share_cleanup(h->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->share_locks[i]);
    pthread_mutex_destroy(&h->pool_lock);
    free(h->url_base);
    free(h->connect_to);
    free(h->host_header);
    free(h);
}

const char *
ferry_kube_http_server(struct kube_http *h)
{
    return h->cfg->server;
}

void
ferry_kube_resp_release(struct kube_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* Options every request shares; credentials fetched (refresh after a 401). */
static int
setup(struct kube_http *h, CURL *c, const char *path_query, bool refresh,
      struct curl_slist **headers)
{
    FERRY_AUTOFREE char *url = ferry_printf("%s%s", h->url_base, path_query);
    FERRY_AUTOFREE char *token = NULL, *cert = NULL, *key = NULL;
    struct kube_config *cfg = h->cfg;

    if (ferry_kube_config_credentials(cfg, refresh, &token, &cert, &key) < 0)
        return -1;
    curl_easy_setopt(c, CURLOPT_SHARE, h->share);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 15L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    if (!cfg->no_compression)
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, cfg->insecure ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cfg->insecure ? 0L : 2L);
    if (cfg->ca_pem) {
        struct curl_blob blob = { cfg->ca_pem, cfg->ca_len, CURL_BLOB_COPY };
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (cert && key) {
        struct curl_blob cb = { cert, strlen(cert), CURL_BLOB_COPY };
        struct curl_blob kb = { key, strlen(key), CURL_BLOB_COPY };
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &kb);
    }
    if (h->connect_to) {
        /* libcurl does not copy the list: it lives in the handle's private
         * pointer until unsetup() */
        struct curl_slist *ct = curl_slist_append(NULL, h->connect_to);

        curl_easy_setopt(c, CURLOPT_CONNECT_TO, ct);
        curl_easy_setopt(c, CURLOPT_PRIVATE, ct);
        *headers = curl_slist_append(*headers, h->host_header);
    }
    *headers = curl_slist_append(*headers, "Accept: application/json");
    for (char **imp = cfg->impersonate; imp && *imp; imp++)
        *headers = curl_slist_append(*headers, *imp);
    if (cfg->proxy_url)
        curl_easy_setopt(c, CURLOPT_PROXY, cfg->proxy_url);
    if (token) {
        FERRY_AUTOFREE char *auth = ferry_printf("Authorization: Bearer %s", token);
        *headers = curl_slist_append(*headers, auth);
    }
    return 0;
}

/* Free what setup() attached to the handle. */
static void
unsetup(CURL *c)
{
    char *priv = NULL;

    curl_easy_getinfo(c, CURLINFO_PRIVATE, &priv);
    if (priv) {
        curl_easy_setopt(c, CURLOPT_CONNECT_TO, NULL);
        curl_slist_free_all((struct curl_slist *)priv);
        curl_easy_setopt(c, CURLOPT_PRIVATE, NULL);
    }
}

CURL *
ferry_kube_http_easy(struct kube_http *h, const char *path_query, bool refresh,
                     struct curl_slist **ret_headers)
{
    CURL *c = curl_easy_init();
    struct curl_slist *headers = NULL;

    if (!c)
        ferry_oom();
    if (setup(h, c, path_query, refresh, &headers) < 0) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(c);
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    *ret_headers = headers;
    return c;
}

void
ferry_kube_http_easy_free(CURL *c)
{
    if (!c)
        return;
    unsetup(c);
    curl_easy_cleanup(c);
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    struct kube_resp *r = opaque;
    size_t n = size * nmemb;

    if (r->len + n > BODY_MAX)
        return 0;
    ferry_buf_append(&r->body, &r->len, ptr, n);
    return n;
}

static CURL *
pool_take(struct kube_http *h)
{
    CURL *c = NULL;

    pthread_mutex_lock(&h->pool_lock);
    if (h->npool)
        c = h->pool[--h->npool];
    pthread_mutex_unlock(&h->pool_lock);
    if (!c && !(c = curl_easy_init()))
        ferry_oom();
    return c;
}

static void
pool_give(struct kube_http *h, CURL *c)
{
    unsetup(c);
    curl_easy_reset(c);
    pthread_mutex_lock(&h->pool_lock);
    if (h->npool < POOL_MAX) {
        h->pool[h->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->pool_lock);
    if (c)
        curl_easy_cleanup(c);
}

static int
request_once(struct kube_http *h, const char *method, const char *path_query,
             const char *content_type, const char *body, bool refresh, struct kube_resp *ret,
             long *ret_retry_after)
{
    CURL *c = pool_take(h);
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc;
    curl_off_t retry_after = 0;

    memset(ret, 0, sizeof *ret);
    if (setup(h, c, path_query, refresh, &headers) < 0) {
        curl_slist_free_all(headers);
        pool_give(h, c);
        return -1;
    }
    if (content_type) {
        FERRY_AUTOFREE char *ct = ferry_printf("Content-Type: %s", content_type);
        headers = curl_slist_append(headers, ct);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else if (strcmp(method, "GET") == 0)
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, ret);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        long nc = 0;

        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->code);
        curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nc);
        pthread_mutex_lock(&h->pool_lock);
        h->requests++;
        h->connects += (unsigned long)nc;
        pthread_mutex_unlock(&h->pool_lock);
    }
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    pool_give(h, c);
    if (rc != CURLE_OK) {
        ferry_kube_resp_release(ret);
        return ferry_error(FERRY_ERR_NETWORK, "%s %s%s: %s", method, h->cfg->server, path_query,
                           *errbuf ? errbuf : curl_easy_strerror(rc));
    }
    *ret_retry_after = (long)retry_after;
    return 0;
}

int
ferry_kube_http_request(struct kube_http *h, const char *method, const char *path_query,
                        const char *content_type, const char *body, struct kube_resp *ret)
{
    bool refresh = false;
    int tries429 = 0;

    for (;;) {
        long retry_after = 0;

        if (request_once(h, method, path_query, content_type, body, refresh, ret,
                         &retry_after) < 0)
            return -1;
        ferry_log_debug("store.kube", "%s %s -> %ld", method, path_query, ret->code);
        if (ret->code == 401 && !refresh && (h->cfg->exec || h->cfg->token_file)) {
            refresh = true; /* rotated token or expired plugin credential */
            ferry_kube_resp_release(ret);
            continue;
        }
        if (ret->code == 429 && tries429 < 10) {
            long s = retry_after > 0 ? retry_after : 1;
            tries429++;
            ferry_kube_resp_release(ret);
            usleep((useconds_t)(s > 10 ? 10 : s) * 1000000);
            continue;
        }
        return 0;
    }
}

/* ---- errors ----------------------------------------------------------- */

int
ferry_kube_error(const char *verb, const struct ferry_resource *res, long code,
                 const char *body, size_t len)
{
    FERRY_AUTOPTR(json_object) st = NULL;
    FERRY_AUTOFREE char *msg = NULL;
    const char *reason = NULL;
    char key[128];

    ferry_resource_key(res ? res : ferry_resource_namespace, key, sizeof key);
    if (body && len) {
        enum json_tokener_error jerr;
        st = json_tokener_parse_verbose(body, &jerr);
    }
    if (st && ferry_json_get_string(st, "message"))
        msg = ferry_strdup(ferry_json_get_string(st, "message"));
    else {
        int n = (int)(len > 200 ? 200 : len);

        while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' '))
            n--;
        msg = ferry_printf("%s %s: HTTP %ld%s%.*s", verb, res ? key : "", code,
                           n ? ": " : "", n, body ? body : "");
    }
    reason = st ? ferry_json_get_string(st, "reason") : NULL;
    switch (code) {
    case 404: {
        json_object *details = st ? ferry_json_get(st, "details") : NULL;
        if (!details || !ferry_json_get_string(details, "name"))
            return ferry_error(FERRY_ERR_UNSUPPORTED, "the server doesn't have a resource type "
                               "\"%s\" (is its CRD installed?)", key);
        return ferry_error(FERRY_ERR_NOTFOUND, "%s", msg);
    }
    case 409:
        if (ferry_str_eq(reason, "AlreadyExists"))
            return ferry_error(FERRY_ERR_EXISTS, "%s", msg);
        return ferry_error(FERRY_ERR_CONFLICT, "%s", msg);
    case 400:
    case 422:
        return ferry_error(FERRY_ERR_INVALID, "%s", msg);
    case 401:
        return ferry_error(FERRY_ERR_SECURITY, "%s %s: Unauthorized: the server refused the "
                           "credentials (%s)", verb, key, msg);
    case 403:
        return ferry_error(FERRY_ERR_SECURITY, "permission denied to %s %s: %s", verb, key, msg);
    case 410:
        return ferry_error(FERRY_ERR_EXPIRED, "%s", msg);
    case 415:
        return ferry_error(FERRY_ERR_UNSUPPORTED, "%s", msg);
    case 504:
        return ferry_error(FERRY_ERR_TIMEOUT, "%s", msg);
    default:
        return ferry_error(FERRY_ERR_NETWORK, "%s %s: %s", verb, key, msg);
    }
}

/* ---- paths ------------------------------------------------------------ */

char *
ferry_kube_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r;

    if (!e)
        ferry_oom();
    r = ferry_strdup(e);
    curl_free(e);
    return r;
}

char *
ferry_kube_path(const struct ferry_resource *res, const char *ns, const char *name,
                const char *sub)
{
    FERRY_AUTOFREE char *base = res->group[0]
                                    ? ferry_printf("/apis/%s/%s", res->group, res->version)
                                    : ferry_printf("/api/%s", res->version);
    FERRY_AUTOFREE char *ens = ns && res->namespaced ? ferry_kube_escape(ns) : NULL;
    FERRY_AUTOFREE char *ename = name ? ferry_kube_escape(name) : NULL;

    return ferry_printf("%s%s%s/%s%s%s%s%s", base, ens ? "/namespaces/" : "", ens ? ens : "",
                        res->plural, ename ? "/" : "", ename ? ename : "", sub ? "/" : "",
                        sub ? sub : "");
}
