/* The http(s) source, through libcurl: TLS verification stays on, only
 * http and https are allowed (also across redirects).
 *
 * Opening asks for the first byte with a Range request (retried as below):
 * a 206 answer makes the source seekable, a 200 answer means the server
 * ignores Range and the source is a stream.  The answer's validator is
 * kept: a strong ETag (not W/), else Last-Modified.
 *
 * With Range, every read is ranges fetched by one engine thread over a curl
 * multi handle with at most --connections connections (default 4; 1 without
 * Range): pread splits its range in pieces fetched in parallel, and the
 * sequential read keeps a window of pieces in flight and hands them out in
 * order, so that the decoders above (gzip, xz, zstd, the stream formats)
 * see one continuous byte stream.  Every range request carries If-Range
 * with the validator: a cut piece is resumed from its last byte, a 200
 * answer means the file changed, and a 206 whose Content-Range does not
 * start where asked is refused.
 *
 * Without Range, the sequential read runs one GET in its own thread, which
 * fills a bounded ring buffer.  A cut there cannot be resumed.
 *
 * Restart: when the file changed (200 to If-Range), or a transfer was cut
 * mid-body and there is no validator to resume it safely (or no Range),
 * the source fails with FERRY_ERR_CONFLICT: the pipeline starts the whole
 * import over from byte 0 (pipeline.c), and the log says why.
 *
 * Retries: connection errors (refused, reset, cut, timeouts) and HTTP 408,
 * 429 and 5xx (but 501, 505) are retried after Retry-After (seconds or an
 * HTTP-date) or an exponential backoff from 1 s (doubling, at most 30 s,
 * with jitter: half to all of it), each retry logged with its reason.  The
 * bound is per episode (failures in a row without a byte of progress):
 * --retries tries and --retry-time seconds; a cut after progress is
 * retried at once. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "importer/importer.h"
#include "importer/sources/curl-common.h"
#include "importer/sources/remote-common.h"

#define MOD "importer.http"
#define HTTP_RING (4u << 20)
#define PIECE_MIN (256u << 10)       /* pread pieces: at least this */
#define STREAM_PIECE (8u << 20)      /* the sequential read's pieces */
#define BLOCK (8u << 20)             /* pread's read-ahead blocks */
#define MAX_CONNECTIONS 16
#define BACKOFF_FIRST 1.0            /* seconds */
#define BACKOFF_CAP 30.0
#define MAX_HEADER_FILE (64u << 10)

/* ---- options ------------------------------------------------------------- */

static struct {
    char **headers;          /* "Name: value", --header */
    char **header_dirs;      /* --header-dir */
    char *secret_dir;        /* --http-secret-dir */
    unsigned retries;
    double retry_time;
    unsigned connections;    /* 0: 4 with Range, else 1 */
    /* read at the first open (before confinement) */
    bool loaded;
    char *user, *pass;
    struct curl_slist *base; /* the extra headers */
} opt = { .retries = 10, .retry_time = 600 };

static const struct ferry_source_option http_options[] = {
    { "header", "'NAME: VALUE'", "an extra request header (repeatable; CDI's extraHeaders)" },
    { "header-dir", "DIR",
      "extra request headers, one 'NAME: VALUE' a file, every\nfile of DIR not starting with "
      "a dot (CDI's secretExtraHeaders)" },
    { "http-secret-dir", "DIR", "basic auth: files accessKeyId (user) and secretKey" },
    { "cert-dir", "DIR",
      "trust the PEM certificates of every file in DIR besides\nthe system roots (repeatable; "
      "CDI's certConfigMap; every https source)" },
    { "proxy", "URL",
      "the proxy for every URL (\"\" none); default: http_proxy,\nhttps_proxy, HTTP_PROXY, "
      "HTTPS_PROXY" },
    { "no-proxy", "LIST", "hosts reached without the proxy (default: no_proxy, NO_PROXY)" },
    { "retries", "N", "tries after a failure without progress (default 10)" },
    { "retry-time", "SECONDS", "the longest time spent retrying without progress (default 600)" },
    { "connections", "N", "parallel Range connections (default 4 when the server has\nRange, "
      "else 1; at most 16)" },
    { NULL, NULL, NULL },
};

/* A header "Name: value": a token, a colon, no line break. */
static int
check_header(const char *what, const char *h)
{
    size_t n = strcspn(h, ":");

    if (h[n] != ':' || n == 0 || h[strcspn(h, "\r\n")] != '\0')
        return ferry_error(FERRY_ERR_INVALID, "%s '%s': expected one line 'NAME: VALUE'", what, h);
    for (size_t i = 0; i < n; i++)
        if (!strchr("!#$%&'*+-.^_`|~", h[i]) && !(h[i] >= '0' && h[i] <= '9') &&
            !((h[i] | 0x20) >= 'a' && (h[i] | 0x20) <= 'z'))
            return ferry_error(FERRY_ERR_INVALID, "%s '%s': '%.*s' is not a header name", what, h,
                               (int)n, h);
    return 0;
}

static int
parse_unsigned(const char *name, const char *value, unsigned long min, unsigned long max,
               unsigned long *ret)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(value, &end, 10);
    if (!*value || *value == '-' || *end || errno || v < min || v > max)
        return ferry_error(FERRY_ERR_INVALID, "--%s '%s': expected a number from %lu to %lu", name,
                           value, min, max);
    *ret = v;
    return 0;
}

static int
http_config(const char *name, const char *value)
{
    unsigned long v;

    if (strcmp(name, "header") == 0) {
        if (check_header("--header", value) < 0)
            return -1;
        ferry_strv_push(&opt.headers, value);
    } else if (strcmp(name, "header-dir") == 0) {
        ferry_strv_push(&opt.header_dirs, value);
    } else if (strcmp(name, "http-secret-dir") == 0) {
        ferry_source_option_string(&opt.secret_dir, value);
    } else if (strcmp(name, "cert-dir") == 0) {
        return ferry_curl_add_cert_dir(value);
    } else if (strcmp(name, "proxy") == 0) {
        ferry_curl_set_proxy(value);
    } else if (strcmp(name, "no-proxy") == 0) {
        ferry_curl_set_noproxy(value);
    } else if (strcmp(name, "retries") == 0) {
        if (parse_unsigned(name, value, 0, 1000, &v) < 0)
            return -1;
        opt.retries = v;
    } else if (strcmp(name, "retry-time") == 0) {
        if (parse_unsigned(name, value, 0, 7 * 86400, &v) < 0)
            return -1;
        opt.retry_time = v;
    } else if (strcmp(name, "user") == 0 || strcmp(name, "password") == 0) {
        /* Not on the command line (no entry in http_options): for CDI's
         * IMPORTER_ACCESS_KEY_ID / IMPORTER_SECRET_KEY, which come in the
         * environment, through ferry_source_http.config(). */
        char **slot = name[0] == 'u' ? &opt.user : &opt.pass;
        if (strpbrk(value, "\r\n"))
            return ferry_error(FERRY_ERR_INVALID, "http %s: a line break", name);
        free(*slot);
        *slot = ferry_strdup(value);
    } else if (strcmp(name, "connections") == 0) {
        if (parse_unsigned(name, value, 1, MAX_CONNECTIONS, &v) < 0)
            return -1;
        opt.connections = v;
    } else {
        return ferry_error(FERRY_ERR_INVALID, "option '--%s' is unknown", name);
    }
    return 0;
}

/* A secret file: its content without the final line break. */
static int
read_secret(const char *dir, const char *key, char **ret)
{
    FERRY_AUTOFREE char *path = ferry_printf("%s/%s", dir, key);
    char *buf = NULL;
    size_t len = 0;

    if (ferry_file_read(path, MAX_HEADER_FILE, &buf, &len) < 0)
        return ferry_error_prefix("http secret: ");
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (memchr(buf, '\0', len) || strpbrk(buf, "\r\n")) {
        free(buf);
        return ferry_error(FERRY_ERR_INVALID, "http secret '%s': a NUL byte or a line break",
                           path);
    }
    *ret = buf;
    return 0;
}

/* Every file of DIR (and of its subdirectories) whose name does not start
 * with a dot holds one header, in name order. */
static int
load_header_dir(const char *dir, int depth)
{
    FERRY_AUTOSTRV char **names = NULL;

    if (ferry_dir_names("header dir", dir, &names) < 0)
        return -1;
    for (char **n = names; n && *n; n++) {
        FERRY_AUTOFREE char *path = ferry_printf("%s/%s", dir, *n);
        FERRY_AUTOFREE char *h = NULL;
        struct stat st;

        if (stat(path, &st) < 0)
            return ferry_error_errno(FERRY_ERR_INVALID, errno, "header file '%s'", path);
        if (S_ISDIR(st.st_mode)) {
            if (depth < 4 && load_header_dir(path, depth + 1) < 0)
                return -1;
            continue;
        }
        if (read_secret(dir, *n, &h) < 0)
            return -1;
        FERRY_AUTOFREE char *what = ferry_printf("header file '%s'", path);
        if (check_header(what, h) < 0)
            return -1;
        opt.base = curl_slist_append(opt.base, h);
    }
    return 0;
}

static int
load_options(void)
{
    if (opt.loaded)
        return 0;
    for (char **h = opt.headers; h && *h; h++)
        opt.base = curl_slist_append(opt.base, *h);
    for (char **d = opt.header_dirs; d && *d; d++)
        if (load_header_dir(*d, 0) < 0)
            return -1;
    if (opt.secret_dir) {
        free(opt.user);
        free(opt.pass);
        opt.user = opt.pass = NULL;
        if (read_secret(opt.secret_dir, "accessKeyId", &opt.user) < 0 ||
            read_secret(opt.secret_dir, "secretKey", &opt.pass) < 0)
            return -1;
    }
    if (opt.user && !opt.pass)
        opt.pass = ferry_strdup("");
    opt.loaded = true;
    return 0;
}

/* ---- state ----------------------------------------------------------------- */

/* What one response's headers said (reset at each status line: redirects). */
struct resp {
    struct ferry_content_range cr;
    double retry_after;          /* -1: none */
    char etag[256];
    char last_modified[64];
};

/* A caller's request: pieces, all done when left is 0. */
struct batch {
    unsigned left;
    bool failed;
    enum ferry_err code;
    char *msg;
};

struct piece {
    struct ferry_source *src;
    struct batch *batch;
    uint8_t *buf;
    uint64_t off;
    size_t len, got;
    unsigned tries;
    uint64_t episode_ns, not_before_ns, start_ns;
    struct piece *next;          /* in the queue */
    /* the attempt in flight */
    CURL *easy;
    size_t attempt_got;
    bool checked, discard;
    char *bad;
    enum ferry_err bad_code;
    struct resp resp;
    char range[64];
    char errbuf[CURL_ERROR_SIZE];
};

/* A piece of the sequential read's window. */
struct slot {
    uint8_t *buf;
    size_t len, pos;
    bool busy;                   /* submitted, not yet handed out entirely */
    struct batch batch;
    struct piece piece;
};

/* A cached block of the file for pread's read-ahead. */
struct block {
    uint64_t index;              /* offset / BLOCK */
    uint8_t *buf;
    size_t len;
    bool used;                   /* holds block INDEX (fetched or in flight) */
    unsigned refs;               /* readers waiting for it or copying */
    uint64_t tick;               /* last use (LRU) */
    uint64_t copied;             /* bytes handed out: >= len, consumed */
    struct batch batch;          /* left > 0: in flight */
    struct piece piece;
};

struct http_priv {
    pthread_mutex_t lock;
    pthread_cond_t cond;         /* batches done; the ring */
    char *validator;             /* strong ETag or Last-Modified, or NULL */
    struct curl_slist *hdr;      /* the extra headers + If-Range */
    unsigned conns;
    unsigned seed;               /* the backoff's jitter */

    /* the engine (Range) */
    bool engine_started, stop;
    pthread_t engine;
    CURLM *multi;
    struct piece *queue;
    CURL *idle[MAX_CONNECTIONS];
    size_t nidle;
    CURL *inflight[MAX_CONNECTIONS];
    unsigned active;
    bool warned_no_validator;

    /* pread's blocks */
    struct block **blocks;
    unsigned nblocks, max_blocks;
    uint64_t tick;

    /* the sequential read over pieces */
    struct slot *slots;
    unsigned nslots, head;
    uint64_t next_off;
    enum ferry_err read_code;    /* a failed sequential read stays failed */
    char *read_error;

    /* the sequential read without Range: a thread and a ring */
    bool started;
    pthread_t thread;
    uint8_t *ring;
    size_t rhead, fill;
    bool eof, abort;
    enum ferry_err err_code;
    char *error;
    uint64_t received;
};

static bool
http_handles(const char *url)
{
    return ferry_str_has_prefix(url, "http://") || ferry_str_has_prefix(url, "https://");
}

static CURL *
http_easy(const char *url)
{
    CURL *c = ferry_curl_easy(url, true, ferry_log_debug_enabled(MOD));

    if (opt.user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, opt.user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, opt.pass);
    }
    return c;
}

static size_t
resp_header(char *buf, size_t size, size_t n, void *opaque)
{
    struct resp *r = opaque;
    size_t len = size * n;
    char line[512];

    if (len >= 7 && strncasecmp(buf, "HTTP/", 5) == 0) {
        /* a new response (redirects, 100 Continue) */
        *r = (struct resp){ .cr.total = -1, .retry_after = -1 };
        return len;
    }
    if (len >= sizeof(line))
        return len;
    memcpy(line, buf, len);
    line[len] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "Content-Range:", 14) == 0) {
        ferry_content_range_header(&r->cr, line, strlen(line));
    } else if (strncasecmp(line, "Retry-After:", 12) == 0) {
        r->retry_after = ferry_curl_retry_after(line + 12, time(NULL));
    } else if (strncasecmp(line, "ETag:", 5) == 0) {
        const char *v = line + 5 + strspn(line + 5, " \t");
        snprintf(r->etag, sizeof(r->etag), "%s", v);
    } else if (strncasecmp(line, "Last-Modified:", 14) == 0) {
        const char *v = line + 14 + strspn(line + 14, " \t");
        snprintf(r->last_modified, sizeof(r->last_modified), "%s", v);
    }
    return len;
}

/* "the server answered 503", "Connection reset by peer" ... */
static char *
describe(CURLcode rc, long code, const char *errbuf)
{
    if (code >= 300 && (rc == CURLE_OK || rc == CURLE_WRITE_ERROR ||
                        rc == CURLE_HTTP_RETURNED_ERROR))
        return ferry_printf("the server answered %ld", code);
    return ferry_strdup(errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* The retry policy (top of the file).  0 and *ret_delay seconds to wait,
 * or -1 with the error when the bound is reached.  PROGRESSED: the failed
 * attempt moved bytes (a new episode).  Called with p->lock held or from
 * the only thread using TRIES. */
static int
retry_decide(struct ferry_source *src, unsigned *tries, uint64_t *episode_ns, bool progressed,
             double retry_after, const char *what, const char *reason, double *ret_delay)
{
    struct http_priv *p = src->priv;
    uint64_t now = ferry_now_ns();
    double d, elapsed;

    if (progressed)
        *tries = 0;
    if (*tries == 0)
        *episode_ns = now;
    (*tries)++;
    elapsed = (now - *episode_ns) / 1e9;
    if (*tries > opt.retries)
        return ferry_error(FERRY_ERR_NETWORK,
                           "http '%s': %s%s%s: gave up after %u %s in %.0f s (--retries %u)",
                           src->url, what, *what ? ": " : "", reason, *tries - 1,
                           *tries - 1 == 1 ? "retry" : "retries", elapsed, opt.retries);
    if (retry_after >= 0) {
        d = retry_after;
    } else if (progressed) {
        d = 0;
    } else {
        d = BACKOFF_FIRST;
        for (unsigned i = 1; i < *tries && d < BACKOFF_CAP; i++)
            d *= 2;
        if (d > BACKOFF_CAP)
            d = BACKOFF_CAP;
        d = d / 2 + d / 2 * (rand_r(&p->seed) / (double)RAND_MAX);
    }
    if (elapsed + d > opt.retry_time)
        return ferry_error(FERRY_ERR_NETWORK,
                           "http '%s': %s%s%s: gave up after %u %s in %.0f s: the next in %.0f s "
                           "would pass --retry-time %.0f",
                           src->url, what, *what ? ": " : "", reason, *tries - 1,
                           *tries - 1 == 1 ? "retry" : "retries", elapsed, d, opt.retry_time);
    ferry_log_warn("http '%s': %s%s%s: retry %u of %u in %.1f s%s", src->url, what,
                   *what ? ": " : "", reason, *tries, opt.retries, d,
                   retry_after >= 0 ? " (Retry-After)" : "");
    *ret_delay = d;
    return 0;
}

static void
sleep_seconds(double s)
{
    struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- the engine: ranges over a curl multi handle --------------------------- */

static void
batch_fail(struct batch *b, enum ferry_err code, const char *msg)
{
    if (!b->failed) {
        b->failed = true;
        b->code = code;
        b->msg = ferry_strdup(msg);
    }
}

/* Lock held. */
static void
piece_finish(struct http_priv *p, struct piece *pc)
{
    if (--pc->batch->left == 0)
        pthread_cond_broadcast(&p->cond);
}

static size_t
piece_write(char *data, size_t size, size_t n, void *opaque)
{
    struct piece *pc = opaque;
    struct ferry_source *src = pc->src;
    struct http_priv *p = src->priv;
    size_t len = size * n;

    if (!pc->checked) {
        long code = 0;
        uint64_t start = pc->off + pc->got, end = pc->off + pc->len - 1;
        struct ferry_content_range *cr = &pc->resp.cr;

        curl_easy_getinfo(pc->easy, CURLINFO_RESPONSE_CODE, &code);
        pc->checked = true;
        if (code == 206) {
            if (!cr->valid || (uint64_t)cr->first != start || (uint64_t)cr->last > end ||
                (src->size >= 0 && cr->total != src->size)) {
                pc->bad_code = FERRY_ERR_NETWORK;
                pc->bad = ferry_printf(
                    "http '%s': range %s: refused: the server answered 206 with %s%lld-%lld/%lld, "
                    "expected bytes %s/%lld",
                    src->url, pc->range, cr->valid ? "bytes " : "no valid Content-Range ",
                    (long long)cr->first, (long long)cr->last, (long long)cr->total, pc->range,
                    (long long)src->size);
                return 0;
            }
        } else if (code == 200) {
            if (p->validator) {
                pc->bad_code = FERRY_ERR_CONFLICT;
                pc->bad = ferry_printf(
                    "http '%s': the file changed on the server (200 to a Range request with "
                    "If-Range %s; now ETag %s, Last-Modified %s)",
                    src->url, p->validator, pc->resp.etag[0] ? pc->resp.etag : "none",
                    pc->resp.last_modified[0] ? pc->resp.last_modified : "none");
            } else {
                pc->bad_code = FERRY_ERR_NETWORK;
                pc->bad = ferry_printf("http '%s': range %s: the server answered 200 instead of "
                                       "206",
                                       src->url, pc->range);
            }
            return 0;
        } else {
            pc->discard = true;   /* an error page: judged by its status */
        }
    }
    if (pc->discard)
        return len;
    if (len > pc->len - pc->got) {
        pc->bad_code = FERRY_ERR_NETWORK;
        pc->bad = ferry_printf("http '%s': range %s: the server sent more bytes than asked",
                               src->url, pc->range);
        return 0;
    }
    memcpy(pc->buf + pc->got, data, len);
    pc->got += len;
    pc->attempt_got += len;
    return len;
}

/* Lock held. */
static void
piece_start(struct ferry_source *src, struct piece *pc)
{
    struct http_priv *p = src->priv;
    CURL *c = p->nidle ? p->idle[--p->nidle] : http_easy(src->url);

    pc->easy = c;
    pc->start_ns = ferry_now_ns();
    pc->attempt_got = 0;
    pc->checked = pc->discard = false;
    pc->resp = (struct resp){ .cr.total = -1, .retry_after = -1 };
    pc->errbuf[0] = '\0';
    snprintf(pc->range, sizeof(pc->range), "%llu-%llu", (unsigned long long)(pc->off + pc->got),
             (unsigned long long)(pc->off + pc->len - 1));
    curl_easy_setopt(c, CURLOPT_RANGE, pc->range);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, p->hdr);
    ferry_curl_deliver(c, resp_header, &pc->resp, piece_write, pc, pc->errbuf);
    curl_easy_setopt(c, CURLOPT_PRIVATE, pc);
    for (unsigned i = 0; i < MAX_CONNECTIONS; i++)
        if (!p->inflight[i]) {
            p->inflight[i] = c;
            break;
        }
    p->active++;
    curl_multi_add_handle(p->multi, c);
}

static void
queue_push(struct http_priv *p, struct piece *pc, bool front)
{
    if (front) {
        pc->next = p->queue;
        p->queue = pc;
        return;
    }
    struct piece **pp = &p->queue;
    while (*pp)
        pp = &(*pp)->next;
    pc->next = NULL;
    *pp = pc;
}

/* Lock held; the handle is out of the multi. */
static void
piece_done(struct ferry_source *src, struct piece *pc, CURLcode rc)
{
    struct http_priv *p = src->priv;
    CURL *c = pc->easy;
    long code = 0;

    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    for (unsigned i = 0; i < MAX_CONNECTIONS; i++)
        if (p->inflight[i] == c)
            p->inflight[i] = NULL;
    p->active--;
    if (p->nidle < MAX_CONNECTIONS)
        p->idle[p->nidle++] = c;
    else
        curl_easy_cleanup(c);
    pc->easy = NULL;

    if (pc->bad) {
        batch_fail(pc->batch, pc->bad_code, pc->bad);
        free(pc->bad);
        pc->bad = NULL;
        piece_finish(p, pc);
        return;
    }
    if (rc == CURLE_OK && code == 206 && pc->got == pc->len) {
        ferry_log_debug(MOD, "range %s: %zu bytes in %.0f ms (%u active)", pc->range,
                        pc->attempt_got, (ferry_now_ns() - pc->start_ns) / 1e6, p->active);
        piece_finish(p, pc);
        return;
    }
    FERRY_AUTOFREE char *reason = NULL;
    if (rc == CURLE_OK && code == 206)
        reason = ferry_printf("the server sent %zu of %zu bytes", pc->attempt_got,
                              pc->len - (pc->got - pc->attempt_got));
    else
        reason = describe(rc, code, pc->errbuf);
    if (!ferry_curl_retryable(rc, code) && !(rc == CURLE_OK && code == 206)) {
        FERRY_AUTOFREE char *msg = ferry_printf("http '%s': range %s: %s", src->url, pc->range,
                                                reason);
        batch_fail(pc->batch, code == 404 ? FERRY_ERR_NOTFOUND : FERRY_ERR_NETWORK, msg);
        piece_finish(p, pc);
        return;
    }
    if (pc->attempt_got > 0 && !p->validator) {
        FERRY_AUTOFREE char *msg = ferry_printf(
            "http '%s': range %s: %s after %zu bytes, and the server gave no validator (strong "
            "ETag, Last-Modified) to resume safely",
            src->url, pc->range, reason, pc->attempt_got);
        batch_fail(pc->batch, FERRY_ERR_CONFLICT, msg);
        piece_finish(p, pc);
        return;
    }
    FERRY_AUTOFREE char *what = ferry_printf("range %s", pc->range);
    double delay = 0;
    if (pc->batch->failed ||
        retry_decide(src, &pc->tries, &pc->episode_ns, pc->attempt_got > 0,
                     pc->resp.retry_after, what, reason, &delay) < 0) {
        batch_fail(pc->batch, ferry_error_code(), ferry_error_message());
        piece_finish(p, pc);
        return;
    }
    if (pc->attempt_got > 0)
        ferry_log_info("http '%s': resuming at byte %llu with If-Range %s", src->url,
                       (unsigned long long)(pc->off + pc->got), p->validator);
    pc->not_before_ns = ferry_now_ns() + (uint64_t)(delay * 1e9);
    queue_push(p, pc, true);
}

static void *
engine_main(void *opaque)
{
    struct ferry_source *src = opaque;
    struct http_priv *p = src->priv;

    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        uint64_t now = ferry_now_ns(), wake = UINT64_MAX;
        struct piece **pp = &p->queue;

        while (*pp) {
            struct piece *pc = *pp;
            if (pc->batch->failed) {   /* the rest of a failed request */
                *pp = pc->next;
                piece_finish(p, pc);
                continue;
            }
            if (pc->not_before_ns > now) {
                if (pc->not_before_ns < wake)
                    wake = pc->not_before_ns;
                pp = &pc->next;
                continue;
            }
            if (p->active >= p->conns)
                break;
            *pp = pc->next;
            piece_start(src, pc);
        }
        pthread_mutex_unlock(&p->lock);

        int timeout = 1000, running = 0, left = 0;
        if (wake != UINT64_MAX) {
            uint64_t ms = wake <= now ? 0 : (wake - now) / 1000000 + 1;
            timeout = ms < 1000 ? (int)ms : 1000;
        }
        curl_multi_poll(p->multi, NULL, 0, timeout, NULL);
        curl_multi_perform(p->multi, &running);
        CURLMsg *m;
        while ((m = curl_multi_info_read(p->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *c = m->easy_handle;
            CURLcode rc = m->data.result;
            struct piece *pc = NULL;
            curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&pc);
            curl_multi_remove_handle(p->multi, c);
            pthread_mutex_lock(&p->lock);
            piece_done(src, pc, rc);
            pthread_mutex_unlock(&p->lock);
        }
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Lock held.  Started lazily: after the importer confined itself. */
static int
engine_start(struct ferry_source *src)
{
    struct http_priv *p = src->priv;

    if (p->engine_started)
        return 0;
    p->multi = curl_multi_init();
    if (!p->multi)
        ferry_oom();
    curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)p->conns);
    curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)p->conns);
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, (long)p->conns);
    if (pthread_create(&p->engine, NULL, engine_main, src) != 0) {
        curl_multi_cleanup(p->multi);
        p->multi = NULL;
        return ferry_error(FERRY_ERR_INTERNAL, "http '%s': cannot start a thread", src->url);
    }
    p->engine_started = true;
    return 0;
}

/* Queue the pieces of B (lock held); the engine wakes up. */
static int
submit(struct ferry_source *src, struct batch *b, struct piece *pcs, unsigned n)
{
    struct http_priv *p = src->priv;

    if (engine_start(src) < 0)
        return -1;
    *b = (struct batch){ .left = n };
    for (unsigned i = 0; i < n; i++) {
        pcs[i].batch = b;
        queue_push(p, &pcs[i], false);
    }
    curl_multi_wakeup(p->multi);
    return 0;
}

/* Lock held: wait for B, then its error. */
static int
batch_wait(struct http_priv *p, struct batch *b)
{
    while (b->left > 0)
        pthread_cond_wait(&p->cond, &p->lock);
    if (b->failed) {
        ferry_error(b->code, "%s", b->msg);
        free(b->msg);
        b->msg = NULL;
        return -1;
    }
    return 0;
}

/* ---- open: one Range request for the first byte ------------------------- */

static size_t
probe_write(char *buf, size_t size, size_t n, void *opaque)
{
    long code = 0;

    (void)buf;
    curl_easy_getinfo((CURL *)opaque, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206 && size * n <= 1)
        return size * n;
    return 0;   /* a whole body is coming (200) or an error page: stop here */
}

static int
http_open(struct ferry_source *src, const char *url)
{
    struct http_priv *p = ferry_calloc(1, sizeof(*p));
    struct resp r;
    unsigned tries = 0;
    uint64_t episode = 0;
    long code = 0;
    curl_off_t clen = -1;

    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->seed = (unsigned)(ferry_now_ns() ^ (uintptr_t)p);
    src->priv = p;
    if (load_options() < 0)
        return -1;

    for (;;) {
        CURL *c = http_easy(url);
        char errbuf[CURL_ERROR_SIZE] = "";
        CURLcode rc;

        r = (struct resp){ .cr.total = -1, .retry_after = -1 };
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, opt.base);
        curl_easy_setopt(c, CURLOPT_RANGE, "0-0");
        ferry_curl_deliver(c, resp_header, &r, probe_write, c, errbuf);
        rc = curl_easy_perform(c);
        code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
        curl_easy_cleanup(c);
        if ((rc == CURLE_OK || rc == CURLE_WRITE_ERROR) &&
            (code == 206 || code == 200 || code == 416))
            break;
        FERRY_AUTOFREE char *reason = describe(rc, code, errbuf);
        double delay;
        if (!ferry_curl_retryable(rc, code))
            return ferry_error(code == 404 ? FERRY_ERR_NOTFOUND : FERRY_ERR_NETWORK,
                               "http '%s': %s", url, reason);
        if (retry_decide(src, &tries, &episode, false, r.retry_after, "", reason, &delay) < 0)
            return -1;
        sleep_seconds(delay);
    }
    if (code == 206 && (!r.cr.valid || r.cr.total < 0 || r.cr.first != 0 || r.cr.last != 0))
        return ferry_error(FERRY_ERR_NETWORK,
                           "http '%s': the server answered 206 to the range 0-0 without "
                           "'Content-Range: bytes 0-0/SIZE' (the total size is needed)",
                           url);
    /* The validator for If-Range: a strong ETag, else Last-Modified. */
    if (r.etag[0] && strncmp(r.etag, "W/", 2) != 0)
        p->validator = ferry_strdup(r.etag);
    else if (r.last_modified[0])
        p->validator = ferry_strdup(r.last_modified);
    for (struct curl_slist *h = opt.base; h; h = h->next)
        p->hdr = curl_slist_append(p->hdr, h->data);
    if (p->validator) {
        FERRY_AUTOFREE char *ir = ferry_printf("If-Range: %s", p->validator);
        p->hdr = curl_slist_append(p->hdr, ir);
    }
    if (code == 206) {
        src->seekable = true;
        src->size = r.cr.total;
        p->conns = opt.connections ? opt.connections : 4;
        p->max_blocks = 2 * p->conns + 4;
    } else {
        src->seekable = false;
        src->size = code == 416 ? 0 : clen;
        p->conns = 1;
    }
    ferry_log_debug(MOD, "'%s': %s, size %lld, validator %s, %u connection%s", url,
                    src->seekable ? "Range supported" : "no Range: stream", (long long)src->size,
                    p->validator ? p->validator : "none", p->conns, p->conns == 1 ? "" : "s");
    return 0;
}

/* ---- pread: read-ahead blocks, or pieces in parallel ---------------------- *
 *
 * Reads that look sequential (large ones, or next to a block already
 * fetched) go through BLOCK-sized cached blocks, with as many blocks
 * fetched ahead as there are connections: each connection then moves a
 * whole block per request (the round trip of each request is paid once per
 * 8 MiB, not per 4 MiB chunk of the pipeline).  Other reads (qcow2 tables,
 * headers) are fetched as they are, split in pieces over the connections. */

static struct block *
block_find(struct http_priv *p, uint64_t index)
{
    for (unsigned i = 0; i < p->nblocks; i++)
        if (p->blocks[i]->used && p->blocks[i]->index == index)
            return p->blocks[i];
    return NULL;
}

/* A slot for block INDEX, its fetch submitted; NULL when every slot is busy
 * and GROW is false (read-ahead never grows the cache). */
static struct block *
block_fetch(struct ferry_source *src, uint64_t index, bool grow)
{
    struct http_priv *p = src->priv;
    struct block *bl = NULL;

    /* A free slot; else the least recently used block that was read to
     * its end (sequential reads are done with it).  A block not yet read is
     * never evicted (that made the cache thrash: blocks fetched again and
     * again): a read-ahead then stops, a needed block grows the cache, by
     * at most two blocks per reader. */
    for (unsigned i = 0; i < p->nblocks && !bl; i++)
        if (!p->blocks[i]->used)
            bl = p->blocks[i];
    if (!bl) {
        for (unsigned i = 0; i < p->nblocks; i++) {
            struct block *b = p->blocks[i];
            if (b->refs == 0 && b->batch.left == 0 && b->copied >= b->len &&
                (!bl || b->tick < bl->tick))
                bl = b;
        }
    }
    if (!bl && (p->nblocks < p->max_blocks || grow)) {
        bl = ferry_calloc(1, sizeof(*bl));
        bl->buf = ferry_malloc(BLOCK);
        p->blocks = ferry_grow(p->blocks, p->nblocks, sizeof(*p->blocks));
        p->blocks[p->nblocks++] = bl;
    }
    if (!bl)
        return NULL;
    free(bl->batch.msg);
    bl->batch.msg = NULL;
    bl->index = index;
    bl->used = true;
    bl->copied = 0;
    bl->tick = ++p->tick;
    bl->len = (uint64_t)src->size - index * BLOCK < BLOCK ? (uint64_t)src->size - index * BLOCK
                                                           : BLOCK;
    bl->piece = (struct piece){ .src = src, .buf = bl->buf, .off = index * BLOCK, .len = bl->len };
    if (submit(src, &bl->batch, &bl->piece, 1) < 0) {
        bl->used = false;
        return NULL;
    }
    return bl;
}

static ssize_t
pread_blocks(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct http_priv *p = src->priv;
    uint64_t first = off / BLOCK, last = (off + len - 1) / BLOCK;
    uint64_t nblk = ((uint64_t)src->size + BLOCK - 1) / BLOCK;
    size_t done = 0;
    int r = 0;

    pthread_mutex_lock(&p->lock);
    for (uint64_t k = first; k <= last + p->conns && k < nblk; k++) {
        if (block_find(p, k))
            continue;
        if (!block_fetch(src, k, k <= last)) {
            if (k <= last) {
                r = -1;
                goto out;
            }
            break;
        }
    }
    for (uint64_t k = first; k <= last; k++) {
        struct block *bl = block_find(p, k);
        if (!bl && !(bl = block_fetch(src, k, true))) {
            r = -1;
            goto out;
        }
        bl->refs++;
        while (bl->batch.left > 0)
            pthread_cond_wait(&p->cond, &p->lock);
        bl->refs--;
        bl->tick = ++p->tick;
        if (bl->batch.failed) {
            ferry_error(bl->batch.code, "%s", bl->batch.msg);
            bl->used = bl->refs > 0;   /* tried again by a later read */
            r = -1;
            goto out;
        }
        uint64_t start = k * BLOCK;
        uint64_t a = off + done - start;
        size_t n = bl->len - a < len - done ? bl->len - a : len - done;
        memcpy((uint8_t *)buf + done, bl->buf + a, n);
        bl->copied += n;
        done += n;
    }
out:
    pthread_mutex_unlock(&p->lock);
    return r < 0 ? -1 : (ssize_t)done;
}

static ssize_t
http_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct http_priv *p = src->priv;
    struct piece pcs[MAX_CONNECTIONS];
    struct batch b;
    unsigned n;
    size_t each;
    int r;

    len = ferry_source_clamp(src, off, len);
    if (len == 0)
        return 0;
    pthread_mutex_lock(&p->lock);
    bool seq = len >= BLOCK / 8 || block_find(p, off / BLOCK) ||
               (off >= BLOCK && block_find(p, off / BLOCK - 1));
    pthread_mutex_unlock(&p->lock);
    if (seq)
        return pread_blocks(src, buf, len, off);

    /* As many pieces as connections, none smaller than PIECE_MIN. */
    n = len / PIECE_MIN ? len / PIECE_MIN : 1;
    if (n > p->conns)
        n = p->conns;
    each = (len + n - 1) / n;
    memset(pcs, 0, sizeof(pcs));
    for (unsigned i = 0; i < n; i++) {
        pcs[i].src = src;
        pcs[i].buf = (uint8_t *)buf + i * each;
        pcs[i].off = off + i * each;
        pcs[i].len = i == n - 1 ? len - i * each : each;
    }
    pthread_mutex_lock(&p->lock);
    r = submit(src, &b, pcs, n);
    if (r == 0)
        r = batch_wait(p, &b);
    pthread_mutex_unlock(&p->lock);
    return r < 0 ? -1 : (ssize_t)len;
}

/* ---- read with Range: a window of pieces in order --------------------------- */

/* Lock held: put every idle slot, in ring order from the head, on the next
 * bytes. */
static int
window_fill(struct ferry_source *src)
{
    struct http_priv *p = src->priv;

    for (unsigned k = 0; k < p->nslots; k++) {
        struct slot *s = &p->slots[(p->head + k) % p->nslots];
        if (s->busy)
            continue;
        if (p->next_off >= (uint64_t)src->size)
            break;
        uint64_t left = (uint64_t)src->size - p->next_off;
        s->len = left < STREAM_PIECE ? left : STREAM_PIECE;
        s->pos = 0;
        s->piece = (struct piece){ .src = src, .buf = s->buf, .off = p->next_off, .len = s->len };
        p->next_off += s->len;
        s->busy = true;
        if (submit(src, &s->batch, &s->piece, 1) < 0)
            return -1;
    }
    return 0;
}

static ssize_t
read_ranges(struct ferry_source *src, void *buf, size_t len)
{
    struct http_priv *p = src->priv;
    ssize_t r = -1;

    pthread_mutex_lock(&p->lock);
    if (p->read_error) {
        ferry_error(p->read_code, "%s", p->read_error);
        goto out;
    }
    if (!p->slots) {
        p->nslots = p->conns * 2 < 2 ? 2 : p->conns * 2;
        p->slots = ferry_calloc(p->nslots, sizeof(*p->slots));
        for (unsigned i = 0; i < p->nslots; i++)
            p->slots[i].buf = ferry_malloc(STREAM_PIECE);
    }
    if (window_fill(src) < 0)
        goto out;
    struct slot *s = &p->slots[p->head];
    if (!s->busy) {
        r = 0;   /* the end */
        goto out;
    }
    if (batch_wait(p, &s->batch) < 0) {
        s->busy = false;
        p->read_code = ferry_error_code();
        p->read_error = ferry_strdup(ferry_error_message());
        goto out;
    }
    size_t n = s->len - s->pos < len ? s->len - s->pos : len;
    memcpy(buf, s->buf + s->pos, n);
    s->pos += n;
    if (s->pos == s->len) {
        s->busy = false;
        p->head = (p->head + 1) % p->nslots;
        if (window_fill(src) < 0)
            goto out;
    }
    r = n;
out:
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* ---- read without Range: a transfer thread filling a ring buffer ----------- */

struct stream_ctx {
    struct ferry_source *src;
    CURL *easy;
    bool checked, discard;
    uint64_t attempt_got;
};

static size_t
stream_write(char *data, size_t size, size_t n, void *opaque)
{
    struct stream_ctx *sc = opaque;
    struct http_priv *p = sc->src->priv;
    size_t len = size * n, done = 0;

    if (!sc->checked) {
        long code = 0;
        curl_easy_getinfo(sc->easy, CURLINFO_RESPONSE_CODE, &code);
        sc->checked = true;
        sc->discard = code != 200;
    }
    if (sc->discard)
        return len;
    pthread_mutex_lock(&p->lock);
    while (done < len) {
        while (p->fill == HTTP_RING && !p->abort)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->abort)
            break;
        size_t tail = (p->rhead + p->fill) % HTTP_RING;
        size_t room = HTTP_RING - p->fill;
        size_t chunk = len - done;
        if (chunk > room)
            chunk = room;
        if (chunk > HTTP_RING - tail)
            chunk = HTTP_RING - tail;
        memcpy(p->ring + tail, data + done, chunk);
        p->fill += chunk;
        p->received += chunk;
        sc->attempt_got += chunk;
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
    unsigned tries = 0;
    uint64_t episode = 0;
    enum ferry_err ecode = FERRY_ERR_NETWORK;
    char *err = NULL;

    for (;;) {
        CURL *c = http_easy(src->url);
        struct stream_ctx sc = { .src = src, .easy = c };
        struct resp r = { .cr.total = -1, .retry_after = -1 };
        char errbuf[CURL_ERROR_SIZE] = "";
        CURLcode rc;
        long code = 0;

        curl_easy_setopt(c, CURLOPT_HTTPHEADER, opt.base);
        ferry_curl_deliver(c, resp_header, &r, stream_write, &sc, errbuf);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        pthread_mutex_lock(&p->lock);
        bool aborted = p->abort;
        pthread_mutex_unlock(&p->lock);
        if (aborted)
            break;   /* closed before the end: nobody reads any more */
        if (rc == CURLE_OK && code == 200) {
            if (src->size >= 0 && p->received != (uint64_t)src->size) {
                /* A close-delimited body cut short looks like a complete one. */
                ecode = FERRY_ERR_CONFLICT;
                err = ferry_printf("http '%s': the body ended after %llu bytes, but the server "
                                   "announced %lld, and it has no Range requests to resume",
                                   src->url, (unsigned long long)p->received,
                                   (long long)src->size);
            }
            break;
        }
        FERRY_AUTOFREE char *reason = describe(rc, code, errbuf);
        if (!ferry_curl_retryable(rc, code)) {
            ecode = code == 404 ? FERRY_ERR_NOTFOUND : FERRY_ERR_NETWORK;
            err = ferry_printf("http '%s': %s", src->url, reason);
            break;
        }
        if (p->received > 0) {
            ecode = FERRY_ERR_CONFLICT;
            err = ferry_printf("http '%s': %s after %llu bytes, and the server has no Range "
                               "requests to resume",
                               src->url, reason, (unsigned long long)p->received);
            break;
        }
        double delay;
        if (retry_decide(src, &tries, &episode, false, r.retry_after, "", reason, &delay) < 0) {
            ecode = ferry_error_code();
            err = ferry_strdup(ferry_error_message());
            break;
        }
        sleep_seconds(delay);
    }

    pthread_mutex_lock(&p->lock);
    p->eof = true;
    p->err_code = ecode;
    p->error = err;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static ssize_t
read_stream(struct ferry_source *src, void *buf, size_t len)
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
        if (chunk > HTTP_RING - p->rhead)
            chunk = HTTP_RING - p->rhead;
        memcpy((uint8_t *)buf + done, p->ring + p->rhead, chunk);
        p->rhead = (p->rhead + chunk) % HTTP_RING;
        p->fill -= chunk;
        done += chunk;
    }
    pthread_cond_broadcast(&p->cond);
    if (done == 0 && p->error) {
        pthread_mutex_unlock(&p->lock);
        return ferry_error(p->err_code, "%s", p->error);
    }
    pthread_mutex_unlock(&p->lock);
    return done;
}

static ssize_t
http_read(struct ferry_source *src, void *buf, size_t len)
{
    if (len == 0)
        return 0;
    return src->seekable ? read_ranges(src, buf, len) : read_stream(src, buf, len);
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
    if (p->engine_started) {
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_mutex_unlock(&p->lock);
        curl_multi_wakeup(p->multi);
        pthread_join(p->engine, NULL);
        for (unsigned i = 0; i < MAX_CONNECTIONS; i++)
            if (p->inflight[i]) {
                curl_multi_remove_handle(p->multi, p->inflight[i]);
                curl_easy_cleanup(p->inflight[i]);
            }
        for (size_t i = 0; i < p->nidle; i++)
            curl_easy_cleanup(p->idle[i]);
        curl_multi_cleanup(p->multi);
    }
    for (unsigned i = 0; p->slots && i < p->nslots; i++) {
        free(p->slots[i].buf);
        free(p->slots[i].batch.msg);
        free(p->slots[i].piece.bad);
    }
    free(p->slots);
    for (unsigned i = 0; i < p->nblocks; i++) {
        free(p->blocks[i]->buf);
        free(p->blocks[i]->batch.msg);
        free(p->blocks[i]->piece.bad);
        free(p->blocks[i]);
    }
    free(p->blocks);
    free(p->read_error);
    curl_slist_free_all(p->hdr);
    free(p->validator);
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
    const char *q = strpbrk(src->url, "?#");
    size_t end = q ? (size_t)(q - src->url) : strlen(src->url);
    size_t dir = end;
    size_t schemelen = strstr(src->url, "://") - src->url + 3;

    if (ferry_check_relname(src->url, relname) < 0)
        return -1;
    while (dir > schemelen && src->url[dir - 1] != '/')
        dir--;
    if (dir <= schemelen)
        return ferry_error(FERRY_ERR_INVALID, "http '%s': no directory for '%s'", src->url,
                           relname);
    /* Percent-encode everything but unreserved characters and '/': the
     * name can then only be a path below the base directory. */
    FERRY_AUTOFREE char *enc = ferry_remote_escape(relname, true);
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

static const char *const http_schemes[] = { "http://", "https://", NULL };

const struct ferry_source_ops ferry_source_http = {
    .name = "http",
    .help = "a URL over HTTP(S): parallel Range connections, retries, resume",
    .schemes = http_schemes,
    .options = http_options,
    .config = http_config,
    .dv_source = "http",
    .needs_network = ferry_remote_needs_network,   /* every read is a request */
    .handles = http_handles,
    .open = http_open_wrapper,
    .read = http_read,
    .pread = http_pread,
    .close = http_close,
};
