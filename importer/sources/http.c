/* The http(s) source, through libcurl: TLS verification stays on, only
 * http and https are allowed (also across redirects).  Opening asks for the
 * first byte with a Range request: a 206 answer makes the source seekable
 * (pread is one Range GET, on a small pool of kept-alive handles so that
 * worker threads read in parallel); a 200 answer means the server ignores
 * Range and the source is a stream.  The sequential read runs the transfer
 * in its own thread, which fills a bounded ring buffer: fetching overlaps
 * with converting, and memory stays bounded. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "importer/importer.h"
#include "importer/sources/curl-common.h"

#define HTTP_RING (4u << 20)
#define HTTP_POOL 4
#define MOD "importer.http"

struct http_priv {
    pthread_mutex_t lock;
    CURL *pool[HTTP_POOL];
    size_t npool;

    /* streaming */
    bool started;
    pthread_t thread;
    pthread_cond_t cond;
    uint8_t *ring;
    size_t head, fill;           /* ring read position and bytes held */
    bool eof, abort;
    char *error;                 /* set by the thread on failure */
    uint64_t received;           /* body bytes of the stream */
};

static bool
http_handles(const char *url)
{
    return ferry_str_has_prefix(url, "http://") || ferry_str_has_prefix(url, "https://");
}

static CURL *
http_easy(const char *url)
{
    return ferry_curl_easy(url, true, ferry_log_debug_enabled(MOD));
}

static int
http_status_error(const char *url, long code)
{
    return ferry_error(code == 404 ? FERRY_ERR_NOTFOUND : FERRY_ERR_NETWORK,
                       "http '%s': the server answered %ld", url, code);
}

/* ---- open: one Range request for the first byte ------------------------- */

/* A Content-Range header: "bytes FIRST-LAST/TOTAL" (TOTAL may be "*"). */
struct content_range {
    bool seen, valid;
    int64_t first, last, total;  /* total -1: "*" */
};

static size_t
range_header(char *buf, size_t size, size_t n, void *opaque)
{
    struct content_range *cr = opaque;
    size_t len = size * n;
    char line[256];

    if (len >= 7 && strncasecmp(buf, "HTTP/", 5) == 0)
        *cr = (struct content_range){ .total = -1 };   /* a new response (redirects) */
    if (len < sizeof(line) && strncasecmp(buf, "Content-Range:", 14) == 0) {
        long long a, b;
        int used = 0;
        memcpy(line, buf, len);
        line[len] = '\0';
        cr->seen = true;
        cr->total = -1;
        if (sscanf(line + 14, " bytes %lld-%lld/%n", &a, &b, &used) == 2 && used > 0 &&
            a >= 0 && b >= a) {
            const char *t = line + 14 + used;
            cr->first = a;
            cr->last = b;
            cr->valid = true;
            if (*t >= '0' && *t <= '9')
                cr->total = strtoll(t, NULL, 10);
            else if (*t != '*')
                cr->valid = false;
        }
    }
    return len;
}

static size_t
probe_write(char *buf, size_t size, size_t n, void *opaque)
{
    long code = 0;

    curl_easy_getinfo((CURL *)opaque, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206 && size * n <= 1)
        return size * n;
    return 0;   /* a whole body is coming (200) or an error page: stop here */
}

static int
http_open(struct ferry_source *src, const char *url)
{
    struct http_priv *p = ferry_calloc(1, sizeof(*p));
    struct content_range ctx = { .total = -1 };
    CURL *c = http_easy(url);
    CURLcode rc;
    long code = 0;
    curl_off_t clen = -1;

    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    src->priv = p;

    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_RANGE, "0-0");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, range_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &ctx);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, probe_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, c);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    /* With HEADERDATA set and no HEADERFUNCTION, curl would hand headers
     * to the write callback: reset both before pooling the handle. */
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, NULL);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, NULL);
    curl_easy_setopt(c, CURLOPT_RANGE, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR) {
        curl_easy_cleanup(c);
        return ferry_error(FERRY_ERR_NETWORK, "http '%s': %s", url,
                           errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    if (code == 206 && (!ctx.valid || ctx.total < 0 || ctx.first != 0 || ctx.last != 0)) {
        curl_easy_cleanup(c);
        return ferry_error(FERRY_ERR_NETWORK,
                           "http '%s': the server answered 206 to the range 0-0 without "
                           "'Content-Range: bytes 0-0/SIZE' (the total size is needed)",
                           url);
    }
    if (code == 206) {
        src->seekable = true;
        src->size = ctx.total;
        p->pool[p->npool++] = c;
    } else if (code == 200 || code == 416) {
        src->seekable = false;
        src->size = code == 416 ? 0 : clen;
        curl_easy_cleanup(c);
    } else {
        curl_easy_cleanup(c);
        return http_status_error(url, code);
    }
    ferry_log_debug(MOD, "'%s': %s, size %lld", url,
                    src->seekable ? "Range supported" : "no Range: stream", (long long)src->size);
    return 0;
}

/* ---- pread: one Range GET ----------------------------------------------- */

struct range_ctx {
    uint8_t *buf;
    size_t len, got;
};

static size_t
range_write(char *data, size_t size, size_t n, void *opaque)
{
    struct range_ctx *ctx = opaque;
    size_t len = size * n;

    if (len > ctx->len - ctx->got)
        return 0;   /* more than asked: the server ignored the range */
    memcpy(ctx->buf + ctx->got, data, len);
    ctx->got += len;
    return len;
}

static ssize_t
http_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct http_priv *p = src->priv;
    struct range_ctx ctx = { .buf = buf };
    struct content_range cr = { .total = -1 };
    char range[64];
    CURL *c = NULL;
    CURLcode rc;
    long code = 0;

    if (src->size >= 0 && off >= (uint64_t)src->size)
        return 0;
    if (src->size >= 0 && len > (uint64_t)src->size - off)
        len = src->size - off;
    if (len == 0)
        return 0;
    ctx.len = len;

    pthread_mutex_lock(&p->lock);
    if (p->npool > 0)
        c = p->pool[--p->npool];
    pthread_mutex_unlock(&p->lock);
    if (!c)
        c = http_easy(src->url);

    snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_RANGE, range);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, range_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, range_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &cr);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, NULL);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);

    pthread_mutex_lock(&p->lock);
    if (p->npool < HTTP_POOL) {
        p->pool[p->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    if (c)
        curl_easy_cleanup(c);

    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && code != 206))
        return ferry_error(FERRY_ERR_NETWORK, "http '%s': range %s: %s", src->url, range,
                           errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (code != 206)
        return ferry_error(FERRY_ERR_NETWORK,
                           "http '%s': range %s: the server answered %ld instead of 206",
                           src->url, range, code);
    /* The body must be the bytes asked for, of the same file. */
    if (!cr.valid || (uint64_t)cr.first != off || (uint64_t)cr.last != off + len - 1 ||
        (src->size >= 0 && cr.total != src->size) || ctx.got != len)
        return ferry_error(FERRY_ERR_NETWORK,
                           "http '%s': range %s: the server answered 206 with %s%lld-%lld/%lld "
                           "and %zu bytes, expected 'bytes %s/%lld' and %zu bytes",
                           src->url, range, cr.valid ? "bytes " : "no valid Content-Range ",
                           (long long)cr.first, (long long)cr.last, (long long)cr.total,
                           ctx.got, range, (long long)src->size, len);
    return ctx.got;
}

/* ---- read: a transfer thread filling a ring buffer ---------------------- */

static size_t
stream_write(char *data, size_t size, size_t n, void *opaque)
{
    struct http_priv *p = opaque;
    size_t len = size * n, done = 0;

    pthread_mutex_lock(&p->lock);
    while (done < len) {
        while (p->fill == HTTP_RING && !p->abort)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->abort)
            break;
        size_t tail = (p->head + p->fill) % HTTP_RING;
        size_t room = HTTP_RING - p->fill;
        size_t chunk = len - done;
        if (chunk > room)
            chunk = room;
        if (chunk > HTTP_RING - tail)
            chunk = HTTP_RING - tail;
        memcpy(p->ring + tail, data + done, chunk);
        p->fill += chunk;
        p->received += chunk;
        done += chunk;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return done;
}

static void *
stream_thread(void *opaque)
{
    struct ferry_source *src = opaque;
    struct http_priv *p = src->priv;
    CURL *c = http_easy(src->url);
    CURLcode rc;
    long code = 0;
    char *err = NULL;

    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, p);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    pthread_mutex_lock(&p->lock);
    bool aborted = p->abort;
    pthread_mutex_unlock(&p->lock);
    if (rc == CURLE_HTTP_RETURNED_ERROR)
        err = ferry_printf("http '%s': the server answered %ld", src->url, code);
    else if (rc == CURLE_WRITE_ERROR && aborted)
        err = NULL;   /* closed before the end: nobody reads any more */
    else if (rc != CURLE_OK)
        err = ferry_printf("http '%s': %s", src->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (src->size >= 0 && p->received != (uint64_t)src->size)
        /* A close-delimited body cut short looks like a complete one. */
        err = ferry_printf("http '%s': the body ended after %llu bytes, but the server announced "
                           "%lld",
                           src->url, (unsigned long long)p->received, (long long)src->size);

    pthread_mutex_lock(&p->lock);
    p->eof = true;
    p->error = err;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static ssize_t
http_read(struct ferry_source *src, void *buf, size_t len)
{
    struct http_priv *p = src->priv;
    size_t done = 0;

    pthread_mutex_lock(&p->lock);
    if (!p->started) {
        p->ring = ferry_malloc(HTTP_RING);
        if (pthread_create(&p->thread, NULL, stream_thread, src) != 0) {
            pthread_mutex_unlock(&p->lock);
            return ferry_error(FERRY_ERR_INTERNAL, "http '%s': cannot start a thread", src->url);
        }
        p->started = true;
    }
    while (p->fill == 0 && !p->eof)
        pthread_cond_wait(&p->cond, &p->lock);
    while (p->fill > 0 && done < len) {
        size_t chunk = len - done;
        if (chunk > p->fill)
            chunk = p->fill;
        if (chunk > HTTP_RING - p->head)
            chunk = HTTP_RING - p->head;
        memcpy((uint8_t *)buf + done, p->ring + p->head, chunk);
        p->head = (p->head + chunk) % HTTP_RING;
        p->fill -= chunk;
        done += chunk;
    }
    pthread_cond_broadcast(&p->cond);
    if (done == 0 && p->error) {
        pthread_mutex_unlock(&p->lock);
        return ferry_error(FERRY_ERR_NETWORK, "%s", p->error);
    }
    pthread_mutex_unlock(&p->lock);
    return done;
}

static void
http_close(struct ferry_source *src)
{
    struct http_priv *p = src->priv;

    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->lock);
        p->abort = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    for (size_t i = 0; i < p->npool; i++)
        curl_easy_cleanup(p->pool[i]);
    free(p->ring);
    free(p->error);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

/* ---- siblings: beside the URL, never outside its directory -------------- */

static int
http_open_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *q = strpbrk(src->url, "?#");
    size_t end = q ? (size_t)(q - src->url) : strlen(src->url);
    size_t dir = end;
    size_t schemelen = strstr(src->url, "://") - src->url + 3;
    FERRY_AUTOFREE char *enc = NULL;
    size_t n = 0;

    if (ferry_check_relname(src->url, relname) < 0)
        return -1;
    while (dir > schemelen && src->url[dir - 1] != '/')
        dir--;
    if (dir <= schemelen)
        return ferry_error(FERRY_ERR_INVALID, "http '%s': no directory for '%s'", src->url,
                           relname);
    /* Percent-encode everything but unreserved characters and '/': the
     * name can then only be a path below the base directory. */
    enc = ferry_malloc(strlen(relname) * 3 + 1);
    for (const unsigned char *c = (const unsigned char *)relname; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~/", *c)) {
            enc[n++] = *c;
        } else {
            enc[n++] = '%';
            enc[n++] = hex[*c >> 4];
            enc[n++] = hex[*c & 15];
        }
    }
    enc[n] = '\0';
    FERRY_AUTOFREE char *url = ferry_printf("%.*s%s", (int)dir, src->url, enc);
    return ferry_source_open(url, ret) < 0 ? -1 : 0;
}

static int
http_open_wrapper(struct ferry_source *src, const char *url)
{
    if (http_open(src, url) < 0)
        return -1;
    src->open_sibling = http_open_sibling;
    return 0;
}

/* Every read after confinement is a request. */
static bool
http_needs_network(const char *url)
{
    (void)url;
    return true;
}

static const char *const http_schemes[] = { "http://", "https://", NULL };

const struct ferry_source_ops ferry_source_http = {
    .name = "http",
    .help = "a URL over HTTP(S) (Range requests when the server has them, else streamed)",
    .schemes = http_schemes,
    .dv_source = "http",
    .needs_network = http_needs_network,
    .handles = http_handles,
    .open = http_open_wrapper,
    .read = http_read,
    .pread = http_pread,
    .close = http_close,
};
