/* The work queue of workqueue.h: client-go's Type (queue + dirty +
 * processing sets), its delaying queue (a map of waiting keys with a ready
 * time, the earlier time winning) and DefaultControllerRateLimiter (the
 * larger of a per-key exponential back-off and a token bucket), under one
 * mutex with a condition variable on CLOCK_MONOTONIC. */
#include "common/workqueue.h"
#include "common/keymap.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ferry_workqueue {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* the FIFO of ready keys: fifo[head .. head+len) */
    char **fifo;
    size_t head, len, cap;
    struct ferry_keymap dirty;      /* queued or to be re-queued at done() */
    struct ferry_keymap processing; /* handed out, not done */
    struct ferry_keymap waiting;    /* delayed: value = ready time (ns, monotonic) */
    struct ferry_keymap failures;   /* value = failures since the last forget() */
    uint64_t base_ns, max_ns;
    double qps, tokens;
    int burst;
    uint64_t bucket_ns; /* when tokens was last brought up to date */
    bool shutting_down;
};

struct ferry_workqueue *
ferry_workqueue_new(const struct ferry_workqueue_opts *o)
{
    struct ferry_workqueue *q = ferry_calloc(1, sizeof *q);
    pthread_condattr_t ca;

    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &ca);
    pthread_condattr_destroy(&ca);
    ferry_keymap_init(&q->dirty);
    ferry_keymap_init(&q->processing);
    ferry_keymap_init(&q->waiting);
    ferry_keymap_init(&q->failures);
    q->base_ns = (o && o->base_ms ? o->base_ms : 5) * 1000000ULL;
    q->max_ns = (o && o->max_ms ? o->max_ms : 1000000) * 1000000ULL;
    q->qps = o && o->qps ? o->qps : 10.0;
    q->burst = o && o->burst > 0 ? o->burst : 100;
    q->tokens = q->burst;
    q->bucket_ns = ferry_now_ns();
    return q;
}

void
ferry_workqueue_free(struct ferry_workqueue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->len; i++)
        free(q->fifo[q->head + i]);
    free(q->fifo);
    ferry_keymap_release(&q->dirty);
    ferry_keymap_release(&q->processing);
    ferry_keymap_release(&q->waiting);
    ferry_keymap_release(&q->failures);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

static void
push(struct ferry_workqueue *q, const char *key)
{
    if (q->head + q->len == q->cap) {
        if (q->head > q->cap / 2) {
            memmove(q->fifo, q->fifo + q->head, q->len * sizeof *q->fifo);
            q->head = 0;
        } else {
            q->cap = q->cap ? q->cap * 2 : 64;
            q->fifo = ferry_realloc(q->fifo, q->cap * sizeof *q->fifo);
        }
    }
    q->fifo[q->head + q->len++] = ferry_strdup(key);
}

/* client-go Type.Add, with q->mu held. */
static void
add_locked(struct ferry_workqueue *q, const char *key)
{
    bool is_new;

    if (q->shutting_down)
        return;
    ferry_keymap_ensure(&q->dirty, key, &is_new);
    if (!is_new)
        return;
    if (ferry_keymap_get(&q->processing, key))
        return; /* queued again by done() */
    push(q, key);
    pthread_cond_signal(&q->cond);
}

void
ferry_workqueue_add(struct ferry_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    add_locked(q, key);
    pthread_mutex_unlock(&q->mu);
}

static void
add_after_locked(struct ferry_workqueue *q, const char *key, uint64_t delay_ns)
{
    struct ferry_keymap_entry *e;
    uint64_t ready;
    bool is_new;

    if (q->shutting_down)
        return;
    if (delay_ns == 0) {
        add_locked(q, key);
        return;
    }
    ready = ferry_now_ns() + delay_ns;
    e = ferry_keymap_ensure(&q->waiting, key, &is_new);
    if (is_new || ready < (uint64_t)e->value)
        e->value = (int64_t)ready;
    /* a get() waiting for a later key must look again */
    pthread_cond_broadcast(&q->cond);
}

void
ferry_workqueue_add_after(struct ferry_workqueue *q, const char *key, int64_t delay_ms)
{
    pthread_mutex_lock(&q->mu);
    add_after_locked(q, key, delay_ms > 0 ? (uint64_t)delay_ms * 1000000ULL : 0);
    pthread_mutex_unlock(&q->mu);
}

/* ItemExponentialFailureRateLimiter.When + BucketRateLimiter.When, the
 * larger of the two (MaxOfRateLimiter). */
static uint64_t
when_locked(struct ferry_workqueue *q, const char *key)
{
    struct ferry_keymap_entry *e = ferry_keymap_ensure(&q->failures, key, NULL);
    uint64_t backoff = q->base_ns, bucket = 0, now = ferry_now_ns();

    for (int64_t i = 0; i < e->value && backoff < q->max_ns; i++)
        backoff *= 2;
    if (backoff > q->max_ns)
        backoff = q->max_ns;
    e->value++;
    if (q->qps > 0) {
        q->tokens += (double)(now - q->bucket_ns) / 1e9 * q->qps;
        if (q->tokens > q->burst)
            q->tokens = q->burst;
        q->bucket_ns = now;
        q->tokens -= 1.0; /* a reservation: may go negative, the debt is the wait */
        if (q->tokens < 0)
            bucket = (uint64_t)(-q->tokens / q->qps * 1e9);
    }
    return backoff > bucket ? backoff : bucket;
}

uint64_t
ferry_workqueue_when_ms(struct ferry_workqueue *q, const char *key)
{
    uint64_t ns;

    pthread_mutex_lock(&q->mu);
    ns = when_locked(q, key);
    pthread_mutex_unlock(&q->mu);
    return ns / 1000000ULL;
}

void
ferry_workqueue_add_rate_limited(struct ferry_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    add_after_locked(q, key, when_locked(q, key));
    pthread_mutex_unlock(&q->mu);
}

void
ferry_workqueue_forget(struct ferry_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    ferry_keymap_remove(&q->failures, key);
    pthread_mutex_unlock(&q->mu);
}

int
ferry_workqueue_num_requeues(struct ferry_workqueue *q, const char *key)
{
    struct ferry_keymap_entry *e;
    int n;

    pthread_mutex_lock(&q->mu);
    e = ferry_keymap_get(&q->failures, key);
    n = e ? (int)e->value : 0;
    pthread_mutex_unlock(&q->mu);
    return n;
}

struct ready_ctx {
    uint64_t now, earliest;
    char **keys;
    size_t n, cap;
};

static void
collect_ready(struct ferry_keymap_entry *e, void *opaque)
{
    struct ready_ctx *r = opaque;

    if ((uint64_t)e->value <= r->now) {
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 16;
            r->keys = ferry_realloc(r->keys, r->cap * sizeof *r->keys);
        }
        r->keys[r->n++] = e->key;
    } else if (!r->earliest || (uint64_t)e->value < r->earliest) {
        r->earliest = (uint64_t)e->value;
    }
}

/* Move waiting keys whose time has come into the queue; returns the ready
 * time of the earliest one still waiting (0: none). */
static uint64_t
promote_waiting(struct ferry_workqueue *q)
{
    struct ready_ctx r = { .now = ferry_now_ns() };

    if (q->waiting.count == 0)
        return 0;
    ferry_keymap_foreach(&q->waiting, collect_ready, &r);
    for (size_t i = 0; i < r.n; i++) {
        char *key = ferry_strdup(r.keys[i]);

        ferry_keymap_remove(&q->waiting, key);
        add_locked(q, key);
        free(key);
    }
    free(r.keys);
    return r.earliest;
}

int
ferry_workqueue_get(struct ferry_workqueue *q, int timeout_ms, char **ret_key)
{
    uint64_t deadline = timeout_ms >= 0 ? ferry_now_ns() + (uint64_t)timeout_ms * 1000000ULL : 0;
    int r;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        uint64_t earliest = promote_waiting(q), until, now;
        struct timespec ts;

        if (q->len > 0) {
            char *key = q->fifo[q->head++];

            if (--q->len == 0)
                q->head = 0;
            ferry_keymap_ensure(&q->processing, key, NULL);
            ferry_keymap_remove(&q->dirty, key);
            *ret_key = key;
            r = 1;
            break;
        }
        if (q->shutting_down) {
            r = -1;
            break;
        }
        now = ferry_now_ns();
        if (timeout_ms >= 0 && now >= deadline) {
            r = 0;
            break;
        }
        until = timeout_ms >= 0 ? deadline : 0;
        if (earliest && (!until || earliest < until))
            until = earliest;
        if (!until) {
            pthread_cond_wait(&q->cond, &q->mu);
            continue;
        }
        ts.tv_sec = (time_t)(until / 1000000000ULL);
        ts.tv_nsec = (long)(until % 1000000000ULL);
        pthread_cond_timedwait(&q->cond, &q->mu, &ts);
    }
    pthread_mutex_unlock(&q->mu);
    return r;
}

void
ferry_workqueue_done(struct ferry_workqueue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    ferry_keymap_remove(&q->processing, key);
    if (ferry_keymap_get(&q->dirty, key)) {
        push(q, key);
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&q->mu);
}

size_t
ferry_workqueue_len(struct ferry_workqueue *q)
{
    size_t n;

    pthread_mutex_lock(&q->mu);
    promote_waiting(q);
    n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int64_t
ferry_workqueue_next_ready_ms(struct ferry_workqueue *q)
{
    int64_t ms = -1;
    uint64_t earliest, now;

    pthread_mutex_lock(&q->mu);
    earliest = promote_waiting(q);
    now = ferry_now_ns();
    if (q->len > 0)
        ms = 0;
    else if (earliest)
        ms = earliest <= now ? 0 : (int64_t)((earliest - now + 999999ULL) / 1000000ULL);
    pthread_mutex_unlock(&q->mu);
    return ms;
}

void
ferry_workqueue_shutdown(struct ferry_workqueue *q)
{
    pthread_mutex_lock(&q->mu);
    q->shutting_down = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}
