/* The kube driver's watches, as client-go's reflector makes them: one
 * streaming GET ?watch=1 per kind (every kind of ferry_resources[] the
 * server serves when the caller asked for all), with allowWatchBookmarks
 * and a timeoutSeconds drawn from [300, 600] (FERRY_KUBE_WATCH_TIMEOUT
 * seconds instead, for tests), all on one curl multi handle that
 * ferry_watch_next() drives for at most its timeout.
 *
 * The stream is newline-delimited {"type","object"}: ADDED, MODIFIED and
 * DELETED become events; BOOKMARK only moves the stream's resourceVersion;
 * ERROR carries a Status.  A watch the server ends (its timeout) is made
 * again from the last resourceVersion seen, without telling the caller;
 * connection failures, 429 and 5xx are retried with client-go's backoff
 * (0.8 s doubling to 30 s, with jitter).  410 Gone -- as the HTTP status or
 * as an in-stream ERROR (what 1.20's watch cache sends) -- is
 * FERRY_ERR_EXPIRED: the caller lists again.
 *
 * from_rv == 0 lists each kind (consistent, paginated) into ADDED events and
 * watches from the list's resourceVersion; from_rv < 0 reads the current
 * resourceVersion with a one-item list and watches from there (a watch
 * without one would start with ADDED events for everything).  Events of
 * several kinds come in the order the streams deliver them, which is
 * resourceVersion order within each kind. */
#include "common/store/kube-internal.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES (64 * 1024 * 1024)
#define HEADERS_WAIT_MS 30000

struct kube_watch;

struct kube_stream {
    struct kube_watch *w;
    const struct ferry_resource *res;
    CURL *easy;
    struct curl_slist *headers;
    char *buf;               /* the line being received */
    size_t len, cap;
    int64_t rv;              /* last resourceVersion seen */
    long code;               /* HTTP status of the running request, 0 before */
    char *errbody;           /* body of a non-200 answer */
    size_t errlen;
    bool running;
    bool disabled;           /* kind not served (watch of every kind) */
    bool refresh;            /* next request with fresh credentials (after a 401) */
    bool got_401;
    bool errored;            /* this request saw an in-stream ERROR */
    bool got_lines;          /* this request delivered anything */
    uint64_t started;        /* CLOCK_MONOTONIC ns of this request */
    int failures;
    uint64_t retry_at;       /* CLOCK_MONOTONIC ns; 0: start now */
};

struct kube_watch {
    struct ferry_watch base;
    struct kube_store *k;
    char *ns;
    char *esel;              /* URL-escaped labelSelector, or NULL */
    char *sel;               /* the same, unescaped (for the initial list) */
    CURLM *multi;
    struct kube_stream *streams;
    size_t n;
    struct ferry_event *queue;
    size_t head, qlen, cap;
    bool failed;
    enum ferry_err err;
    char *errmsg;
    int timeout_s;           /* 0: random per request */
    bool all;                /* every kind: a kind not served is left out */
};

static void
queue_push(struct kube_watch *w, enum ferry_event_type type, int64_t rv, json_object *obj)
{
    if (w->qlen == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 64;
        struct ferry_event *q = ferry_calloc(ncap, sizeof *q);

        for (size_t i = 0; i < w->qlen; i++)
            q[i] = w->queue[(w->head + i) % w->cap];
        free(w->queue);
        w->queue = q;
        w->cap = ncap;
        w->head = 0;
    }
    w->queue[(w->head + w->qlen) % w->cap] =
        (struct ferry_event){ .type = type, .resource_version = rv, .object = obj };
    w->qlen++;
}

static void
fail(struct kube_watch *w, enum ferry_err code, const char *msg)
{
    if (w->failed)
        return;
    w->failed = true;
    w->err = code;
    w->errmsg = ferry_strdup(msg);
}

/* One line of the stream. */
static void
on_line(struct kube_stream *s, const char *line, size_t len)
{
    struct kube_watch *w = s->w;
    FERRY_AUTOPTR(json_object) ev = NULL;
    json_object *obj;
    const char *type;
    int64_t rv;

    if (len == 0 || w->failed)
        return;
    s->got_lines = true;
    if (ferry_json_parse(line, len, "watch stream", &ev) < 0) {
        fail(w, FERRY_ERR_FORMAT, ferry_error_message());
        ferry_error_reset();
        return;
    }
    type = ferry_json_get_string(ev, "type");
    obj = ferry_json_get(ev, "object");
    if (ferry_str_eq(type, "ERROR")) {
        long code = ferry_json_get_int(obj, "code", 0);
        const char *msg = ferry_json_get_string(obj, "message");
        char key[128];

        if (code == 410) {
            fail(w, FERRY_ERR_EXPIRED, msg ? msg : "too old resource version");
            return;
        }
        /* the server ends the stream after an ERROR: made again with backoff */
        ferry_log_warn("watch %s: %s", ferry_resource_key(s->res, key, sizeof key),
                       msg ? msg : json_object_to_json_string(obj));
        s->errored = true;
        return;
    }
    rv = ferry_kube_parse_rv(ferry_json_get_string(obj, "metadata.resourceVersion"));
    if (rv >= 0)
        s->rv = rv;
    if (ferry_str_eq(type, "BOOKMARK"))
        return;
    enum ferry_event_type t;
    if (ferry_str_eq(type, "ADDED"))
        t = FERRY_EVENT_ADDED;
    else if (ferry_str_eq(type, "MODIFIED"))
        t = FERRY_EVENT_MODIFIED;
    else if (ferry_str_eq(type, "DELETED"))
        t = FERRY_EVENT_DELETED;
    else {
        ferry_log_warn("watch: unknown event type \"%s\" ignored", type ? type : "");
        return;
    }
    if (!json_object_is_type(obj, json_type_object))
        return;
    if (!ferry_json_get_string(obj, "kind"))
        ferry_json_set_string(obj, "kind", s->res->kind);
    if (!ferry_json_get_string(obj, "apiVersion")) {
        FERRY_AUTOFREE char *av = s->res->group[0]
                                      ? ferry_printf("%s/%s", s->res->group, s->res->version)
                                      : ferry_strdup(s->res->version);
        ferry_json_set_string(obj, "apiVersion", av);
    }
    queue_push(w, t, rv, json_object_get(obj));
}

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    struct kube_stream *s = opaque;
    size_t n = size * nmemb;

    if (!s->code)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->code);
    if (s->code != 200) {
        if (s->errlen < 64 * 1024)
            ferry_buf_append(&s->errbody, &s->errlen, ptr, n);
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] == '\n') {
            on_line(s, s->buf ? s->buf : "", s->len);
            s->len = 0;
            continue;
        }
        if (s->len + 2 > s->cap) {
            if (s->cap >= LINE_MAX_BYTES)
                return 0;
            s->cap = s->cap ? s->cap * 2 : 16384;
            s->buf = ferry_realloc(s->buf, s->cap);
        }
        s->buf[s->len++] = ptr[i];
        s->buf[s->len] = '\0';
    }
    return n;
}

static int
timeout_seconds(struct kube_watch *w)
{
    if (w->timeout_s > 0)
        return w->timeout_s;
    return 300 + (int)(random() % 301);
}

static int
stream_start(struct kube_stream *s)
{
    struct kube_watch *w = s->w;
    FERRY_AUTOFREE char *path = ferry_kube_path(s->res, w->ns, NULL, NULL);
    FERRY_AUTOFREE char *pq = NULL;
    int t = timeout_seconds(w);

    pq = ferry_printf("%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d"
                      "&resourceVersion=%lld%s%s", path, t, (long long)s->rv,
                      w->esel ? "&labelSelector=" : "", w->esel ? w->esel : "");
    s->easy = ferry_kube_http_easy(w->k->http, pq, s->refresh, &s->headers);
    if (!s->easy)
        return -1;
    s->refresh = false;
    s->errored = false;
    s->got_lines = false;
    s->started = ferry_now_ns();
    s->code = 0;
    s->len = 0;
    free(s->errbody);
    s->errbody = NULL;
    s->errlen = 0;
    curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, (long)t + 30);
    curl_easy_setopt(s->easy, CURLOPT_ACCEPT_ENCODING, NULL); /* a stream: no gzip */
    curl_multi_add_handle(w->multi, s->easy);
    s->running = true;
    ferry_log_debug("store.kube", "watch %s from %lld (timeout %d s)", s->res->plural,
                    (long long)s->rv, t);
    return 0;
}

static void
stream_stop(struct kube_stream *s)
{
    if (!s->easy)
        return;
    curl_multi_remove_handle(s->w->multi, s->easy);
    ferry_kube_http_easy_free(s->easy);
    curl_slist_free_all(s->headers);
    s->easy = NULL;
    s->headers = NULL;
    s->running = false;
}

static void
backoff(struct kube_stream *s)
{
    uint64_t ms = 800;

    for (int i = 1; i < s->failures && ms < 30000; i++)
        ms *= 2;
    if (ms > 30000)
        ms = 30000;
    ms += (uint64_t)(random() % (long)ms); /* jitter 1.0 */
    if (ms > 30000)
        ms = 30000;
    s->retry_at = ferry_now_ns() + ms * 1000000ULL;
}

/* A finished request: made again, or the watch's error. */
static void
stream_done(struct kube_stream *s, CURLcode rc)
{
    struct kube_watch *w = s->w;
    char key[128];
    long code = s->code;

    if (!code)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    stream_stop(s);
    ferry_resource_key(s->res, key, sizeof key);
    if (w->failed)
        return;
    if (rc != CURLE_OK && rc != CURLE_OPERATION_TIMEDOUT) {
        s->failures++;
        ferry_log_warn("watch %s: %s; retrying", key, curl_easy_strerror(rc));
        backoff(s);
        return;
    }
    if (code == 200) {
        /* the server's timeout: again from the last resourceVersion, at
         * once unless the request failed or ended at once with nothing */
        if (s->errored || (!s->got_lines && ferry_now_ns() - s->started < 1000000000ULL)) {
            s->failures++;
            backoff(s);
        } else {
            s->failures = 0;
            s->retry_at = 0;
        }
        s->got_401 = false;
        return;
    }
    if (code == 401 && !s->got_401) {
        s->got_401 = true;
        s->refresh = true;
        s->retry_at = 0;
        return;
    }
    if (code == 429 || code >= 500 || code == 0) {
        s->failures++;
        ferry_log_warn("watch %s: HTTP %ld; retrying", key, code);
        backoff(s);
        return;
    }
    ferry_kube_error("watch", s->res, code, s->errbody, s->errlen);
    if (w->all && (ferry_error_code() == FERRY_ERR_UNSUPPORTED || code == 403)) {
        static bool warned[64]; /* once per kind and process: a watcher re-watches often */
        int i = 0;

        while (ferry_resources[i] && ferry_resources[i] != s->res && i < 63)
            i++;
        if (!warned[i])
            ferry_log_warn("watch: %s left out: %s", key, ferry_error_message());
        else
            ferry_log_debug("store.kube", "watch: %s left out: %s", key, ferry_error_message());
        warned[i] = true;
        s->disabled = true;
        ferry_error_reset();
        return;
    }
    fail(w, ferry_error_code(), ferry_error_message());
    ferry_error_reset();
}

static void
drive(struct kube_watch *w)
{
    int running, left;
    CURLMsg *m;

    curl_multi_perform(w->multi, &running);
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        for (size_t i = 0; i < w->n; i++)
            if (w->streams[i].easy == m->easy_handle) {
                stream_done(&w->streams[i], m->data.result);
                break;
            }
    }
}

/* Start the streams whose time has come; the next wake-up in ms (-1: none). */
static int
start_due(struct kube_watch *w)
{
    uint64_t now = ferry_now_ns();
    int wait = -1;

    for (size_t i = 0; i < w->n && !w->failed; i++) {
        struct kube_stream *s = &w->streams[i];

        if (s->running || s->disabled)
            continue;
        if (s->retry_at <= now) {
            if (stream_start(s) < 0) {
                fail(w, ferry_error_code(), ferry_error_message());
                ferry_error_reset();
            }
            continue;
        }
        int ms = (int)((s->retry_at - now) / 1000000ULL) + 1;
        if (wait < 0 || ms < wait)
            wait = ms;
    }
    return wait;
}

static int
kw_next(struct ferry_watch *base, int timeout_ms, struct ferry_event *ret)
{
    struct kube_watch *w = (struct kube_watch *)base;
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
                                       : ferry_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

    for (;;) {
        uint64_t now;
        int wait, due;

        if (w->qlen) {
            *ret = w->queue[w->head];
            w->head = (w->head + 1) % w->cap;
            w->qlen--;
            return 1;
        }
        if (w->failed)
            return ferry_error(w->err, "%s", w->errmsg);
        due = start_due(w);
        drive(w);
        if (w->qlen || w->failed)
            continue;
        now = ferry_now_ns();
        if (now >= deadline)
            return 0;
        wait = deadline == UINT64_MAX ? 1000 : (int)((deadline - now) / 1000000ULL) + 1;
        if (wait > 1000)
            wait = 1000;
        if (due >= 0 && due < wait)
            wait = due;
        curl_multi_poll(w->multi, NULL, 0, wait, NULL);
    }
}

static void
kw_free(struct ferry_watch *base)
{
    struct kube_watch *w = (struct kube_watch *)base;

    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        stream_stop(&w->streams[i]);
        free(w->streams[i].buf);
        free(w->streams[i].errbody);
    }
    while (w->qlen) {
        ferry_event_release(&w->queue[w->head]);
        w->head = (w->head + 1) % w->cap;
        w->qlen--;
    }
    free(w->queue);
    free(w->streams);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    free(w->ns);
    free(w->esel);
    free(w->sel);
    free(w->errmsg);
    free(w);
}

static const struct ferry_watch_ops kube_watch_ops = {
    .next = kw_next,
    .free = kw_free,
};

/* A kind the server does not serve (or we may not watch) is left out of a
 * watch of every kind. */
static bool
skippable(struct kube_watch *w, const struct ferry_resource *res, bool all)
{
    char key[128];

    if (!all)
        return false;
    /* a kind not served, or one we may not read (403; not a 401: bad credentials) */
    if (ferry_error_code() != FERRY_ERR_UNSUPPORTED &&
        !(ferry_error_code() == FERRY_ERR_SECURITY &&
          ferry_str_has_prefix(ferry_error_message(), "permission denied")))
        return false;
    ferry_log_debug("store.kube", "watch: %s left out: %s",
                    ferry_resource_key(res, key, sizeof key), ferry_error_message());
    ferry_error_reset();
    return true;
}

static void
seed_random(void)
{
    srandom((unsigned)(time(NULL) ^ (ferry_now_ns() >> 10)));
}

int
ferry_kube_watch(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                 int64_t from_rv, struct ferry_watch **ret)
{
    return ferry_kube_watch_selected(st, res, ns, NULL, from_rv, ret);
}

/* The same with a labelSelector on the lists and the watch requests: the
 * server filters (and sends DELETED for an object leaving the selector). */
int
ferry_kube_watch_selected(struct ferry_store *st, const struct ferry_resource *res,
                          const char *ns, const struct ferry_selector *sel, int64_t from_rv,
                          struct ferry_watch **ret)
{
    struct kube_store *k = KUBE(st);
    struct kube_watch *w = ferry_calloc(1, sizeof *w);
    const char *env = getenv("FERRY_KUBE_WATCH_TIMEOUT");
    static pthread_once_t seeded = PTHREAD_ONCE_INIT;
    int64_t now_rv = -1;
    bool all = res == NULL;
    uint64_t deadline;

    pthread_once(&seeded, seed_random);
    w->base.ops = &kube_watch_ops;
    w->k = k;
    w->ns = ferry_strdup(ns);
    if (sel) {
        w->sel = ferry_selector_to_string(sel);
        w->esel = ferry_kube_escape(w->sel);
    }
    w->timeout_s = env && *env ? atoi(env) : 0;
    w->all = all;
    w->multi = curl_multi_init();
    if (!w->multi)
        ferry_oom();
    for (size_t i = 0; ferry_resources[i]; i++)
        if (all ? !ferry_resources[i]->not_in_all : ferry_resources[i] == res)
            w->n++;
    w->streams = ferry_calloc(w->n, sizeof *w->streams);
    for (size_t i = 0, j = 0; ferry_resources[i]; i++) {
        if (all ? ferry_resources[i]->not_in_all : ferry_resources[i] != res)
            continue;
        w->streams[j].w = w;
        w->streams[j].res = ferry_resources[i];
        j++;
    }

    for (size_t i = 0; i < w->n; i++) {
        struct kube_stream *s = &w->streams[i];
        const char *sns = s->res->namespaced ? ns : NULL;

        if (from_rv > 0) {
            s->rv = from_rv;
        } else if (from_rv < 0) {
            /* resourceVersions are etcd's revision, one for every kind */
            if (now_rv < 0 && ferry_kube_list(k, s->res, sns, NULL, NULL, &now_rv) < 0) {
                if (skippable(w, s->res, all)) {
                    s->disabled = true;
                    continue;
                }
                goto fail;
            }
            s->rv = now_rv;
        } else {
            FERRY_AUTOPTR(json_object) items = NULL;

            if (ferry_kube_list(k, s->res, sns, w->sel, &items, &s->rv) < 0) {
                if (skippable(w, s->res, all)) {
                    s->disabled = true;
                    continue;
                }
                goto fail;
            }
            for (size_t j = 0; j < json_object_array_length(items); j++) {
                json_object *o = json_object_array_get_idx(items, j);
                int64_t orv = ferry_kube_parse_rv(ferry_obj_resource_version(o));
                queue_push(w, FERRY_EVENT_ADDED, orv >= 0 ? orv : s->rv, json_object_get(o));
            }
        }
    }

    /* Wait for every stream's answer, so that a refused watch (410, 403, a
     * kind the server lacks) is this call's error. */
    start_due(w);
    deadline = ferry_now_ns() + HEADERS_WAIT_MS * 1000000ULL;
    for (;;) {
        bool waiting = false;

        drive(w);
        for (size_t i = 0; i < w->n; i++) {
            struct kube_stream *s = &w->streams[i];
            long code = 0;

            if (!s->running)
                continue;
            curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
            if (!code)
                waiting = true;
        }
        if (!waiting || w->failed || ferry_now_ns() >= deadline)
            break;
        curl_multi_poll(w->multi, NULL, 0, 50, NULL);
    }
    /* an in-stream ERROR comes right behind the headers */
    if (!w->failed) {
        curl_multi_poll(w->multi, NULL, 0, 20, NULL);
        drive(w);
    }
    if (w->failed) {
        ferry_error(w->err, "%s", w->errmsg);
        goto fail;
    }
    *ret = &w->base;
    return 0;
fail:
    kw_free(&w->base);
    return -1;
}
