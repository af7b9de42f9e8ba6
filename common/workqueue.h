/* A work queue with client-go's semantics (k8s.io/client-go/util/workqueue),
 * shared by ferry-controller and ferry-handler in both store modes:
 *
 *  - a key is queued at most once: adding a queued key does nothing;
 *  - a key handed out by get() is "processing" until done(); adding it
 *    meanwhile marks it dirty, and done() queues it again, so no two
 *    workers ever hold the same key at once;
 *  - add_after() delays a key; when it is already waiting, the earlier time
 *    wins (the delaying queue's rule);
 *  - add_rate_limited() delays it by the larger of a per-key exponential
 *    back-off (base_ms * 2^failures, capped at max_ms: 5 ms .. 1000 s by
 *    default) and an overall token bucket (qps 10, burst 100 by default),
 *    client-go's DefaultControllerRateLimiter; forget() resets the key's
 *    failures (call it after a successful pass).
 *
 * Thread-safe: any number of threads may add, get and done. */
#ifndef FERRY_WORKQUEUE_H
#define FERRY_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ferry_workqueue_opts {
    uint64_t base_ms; /* first back-off, 0: 5 */
    uint64_t max_ms;  /* back-off cap, 0: 1000000 (1000 s) */
    double qps;       /* overall bucket refill per second, 0: 10; < 0: no bucket */
    int burst;        /* bucket size, 0: 100 */
};

struct ferry_workqueue;

/* opts may be NULL (the defaults above). */
struct ferry_workqueue *ferry_workqueue_new(const struct ferry_workqueue_opts *opts);
void ferry_workqueue_free(struct ferry_workqueue *q);

void ferry_workqueue_add(struct ferry_workqueue *q, const char *key);
/* delay_ms <= 0 is add(). */
void ferry_workqueue_add_after(struct ferry_workqueue *q, const char *key, int64_t delay_ms);
void ferry_workqueue_add_rate_limited(struct ferry_workqueue *q, const char *key);
/* The delay add_rate_limited() would use now; counts as a failure too. */
uint64_t ferry_workqueue_when_ms(struct ferry_workqueue *q, const char *key);
void ferry_workqueue_forget(struct ferry_workqueue *q, const char *key);
int ferry_workqueue_num_requeues(struct ferry_workqueue *q, const char *key);

/* 1 and the next key (the caller frees it and must call done() with it);
 * 0 when none became ready within timeout_ms (0 polls, -1 waits forever);
 * -1 after shutdown() once the queue is empty. */
int ferry_workqueue_get(struct ferry_workqueue *q, int timeout_ms, char **ret_key);
void ferry_workqueue_done(struct ferry_workqueue *q, const char *key);

/* Keys ready to be handed out now (not counting delayed ones). */
size_t ferry_workqueue_len(struct ferry_workqueue *q);
/* Milliseconds until a key is ready: 0 when one is, -1 when none is queued
 * or waiting (for single-threaded loops that also wait on something else). */
int64_t ferry_workqueue_next_ready_ms(struct ferry_workqueue *q);
/* Wake every get(); later adds are ignored. */
void ferry_workqueue_shutdown(struct ferry_workqueue *q);

#endif
