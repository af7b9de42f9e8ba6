/* The controller machinery of common/: the work queue (workqueue.h) and the
 * expectations (expectations.h).  Covered: a queued key is queued once; a key
 * is never handed to two workers at once (real threads hammer one key and
 * count overlaps) and a key added while processing comes back after done();
 * per-key back-off grows 5 ms, 10 ms, 20 ms ... up to its cap and forget()
 * resets it; the token bucket delays the burst+1st failure; add_after keeps
 * the earlier time; shutdown wakes a blocked get; expectations block until
 * observed and expire after their timeout.  No timed assertions: delays are
 * checked through when_ms()/next_ready_ms() values, not by the wall clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/expectations.h"
#include "common/workqueue.h"
#include "common/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testlib.h"

static struct ferry_workqueue *
no_bucket(void)
{
    struct ferry_workqueue_opts o = { .qps = -1 };

    return ferry_workqueue_new(&o);
}

static void
test_dedup(void **state)
{
    struct ferry_workqueue *q = no_bucket();
    char *k = NULL;

    (void)state;
    ferry_workqueue_add(q, "default/a");
    ferry_workqueue_add(q, "default/b");
    ferry_workqueue_add(q, "default/a");
    ferry_workqueue_add(q, "default/a");
    assert_int_equal(ferry_workqueue_len(q), 2);
    assert_int_equal(ferry_workqueue_get(q, 0, &k), 1);
    assert_string_equal(k, "default/a"); /* FIFO */
    ferry_workqueue_done(q, k);
    free(k);
    assert_int_equal(ferry_workqueue_get(q, 0, &k), 1);
    assert_string_equal(k, "default/b");
    ferry_workqueue_done(q, k);
    free(k);
    assert_int_equal(ferry_workqueue_get(q, 0, &k), 0);
    assert_int_equal(ferry_workqueue_len(q), 0);
    ferry_workqueue_free(q);
}

static void
test_readd_while_processing(void **state)
{
    struct ferry_workqueue *q = no_bucket();
    char *k = NULL, *k2 = NULL;

    (void)state;
    ferry_workqueue_add(q, "ns/x");
    assert_int_equal(ferry_workqueue_get(q, 0, &k), 1);
    /* processing: an add marks it dirty but does not hand it out */
    ferry_workqueue_add(q, "ns/x");
    ferry_workqueue_add(q, "ns/x");
    assert_int_equal(ferry_workqueue_len(q), 0);
    assert_int_equal(ferry_workqueue_get(q, 0, &k2), 0);
    ferry_workqueue_done(q, k);
    /* ... and done() queues it once more, once */
    assert_int_equal(ferry_workqueue_len(q), 1);
    assert_int_equal(ferry_workqueue_get(q, 0, &k2), 1);
    assert_string_equal(k2, "ns/x");
    ferry_workqueue_done(q, k2);
    assert_int_equal(ferry_workqueue_get(q, 0, &k2), 0);
    free(k);
    free(k2);
    ferry_workqueue_free(q);
}

/* Workers that each take keys, note how many hold the same key at once and
 * add the key back while they hold it. */
struct hammer {
    struct ferry_workqueue *q;
    atomic_int holding[4];
    atomic_int overlaps;
    atomic_int processed;
    atomic_int adds_left;
};

static void *
worker(void *p)
{
    struct hammer *h = p;
    char *k;

    while (ferry_workqueue_get(h->q, -1, &k) == 1) {
        int i = k[0] - 'a';

        if (atomic_fetch_add(&h->holding[i], 1) != 0)
            atomic_fetch_add(&h->overlaps, 1);
        /* hold it a little while the others try */
        usleep(200);
        if (atomic_fetch_sub(&h->adds_left, 1) > 0)
            ferry_workqueue_add(h->q, k);
        atomic_fetch_sub(&h->holding[i], 1);
        atomic_fetch_add(&h->processed, 1);
        ferry_workqueue_done(h->q, k);
        free(k);
    }
    return NULL;
}

static void *
adder(void *p)
{
    struct hammer *h = p;
    static const char *keys[] = { "a", "b", "c", "d" };

    for (int n = 0; n < 2000; n++)
        ferry_workqueue_add(h->q, keys[n % 4]);
    return NULL;
}

static void
test_no_parallel_same_key(void **state)
{
    struct hammer h = { .q = no_bucket() };
    pthread_t w[6], a[2];

    (void)state;
    atomic_store(&h.adds_left, 3000);
    for (int i = 0; i < 6; i++)
        assert_int_equal(pthread_create(&w[i], NULL, worker, &h), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&a[i], NULL, adder, &h), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(a[i], NULL);
    /* let the workers drain what is queued, then stop them */
    while (ferry_workqueue_len(h.q) > 0 || atomic_load(&h.adds_left) > 0)
        usleep(1000);
    ferry_workqueue_shutdown(h.q);
    for (int i = 0; i < 6; i++)
        pthread_join(w[i], NULL);
    assert_int_equal(atomic_load(&h.overlaps), 0);
    /* dedup: far fewer passes than adds, but every key was processed */
    assert_true(atomic_load(&h.processed) >= 4);
    assert_true(atomic_load(&h.processed) < 4000 + 3000);
    ferry_workqueue_free(h.q);
}

static void
test_backoff_growth_and_forget(void **state)
{
    struct ferry_workqueue *q = no_bucket();
    uint64_t want = 5;

    (void)state;
    /* 5 ms, 10, 20, ... doubling per failure */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(ferry_workqueue_when_ms(q, "k"), want);
        want *= 2;
    }
    assert_int_equal(ferry_workqueue_num_requeues(q, "k"), 10);
    /* the cap: 1000 s */
    for (int i = 0; i < 30; i++)
        ferry_workqueue_when_ms(q, "k");
    assert_int_equal(ferry_workqueue_when_ms(q, "k"), 1000000);
    /* other keys have their own count */
    assert_int_equal(ferry_workqueue_when_ms(q, "other"), 5);
    ferry_workqueue_forget(q, "k");
    assert_int_equal(ferry_workqueue_num_requeues(q, "k"), 0);
    assert_int_equal(ferry_workqueue_when_ms(q, "k"), 5);
    ferry_workqueue_free(q);
}

static void
test_rate_limited_requeue(void **state)
{
    struct ferry_workqueue *q = no_bucket();
    char *k = NULL;
    int64_t ms;

    (void)state;
    ferry_workqueue_add_rate_limited(q, "k");    /* 5 ms */
    assert_int_equal(ferry_workqueue_len(q), 0); /* not before its time */
    ms = ferry_workqueue_next_ready_ms(q);
    assert_true(ms >= 0 && ms <= 5);
    /* a blocking get returns it once due */
    assert_int_equal(ferry_workqueue_get(q, 5000, &k), 1);
    assert_string_equal(k, "k");
    ferry_workqueue_done(q, k);
    free(k);
    assert_int_equal(ferry_workqueue_num_requeues(q, "k"), 1);
    ferry_workqueue_free(q);
}

static void
test_bucket(void **state)
{
    struct ferry_workqueue_opts o = { .qps = 10, .burst = 3 };
    struct ferry_workqueue *q = ferry_workqueue_new(&o);

    (void)state;
    /* three failures of different keys pass on their 5 ms back-off ... */
    assert_int_equal(ferry_workqueue_when_ms(q, "a"), 5);
    assert_int_equal(ferry_workqueue_when_ms(q, "b"), 5);
    assert_int_equal(ferry_workqueue_when_ms(q, "c"), 5);
    /* ... the fourth waits for a token: about 1/qps */
    assert_true(ferry_workqueue_when_ms(q, "d") >= 90);
    ferry_workqueue_free(q);
}

static void
test_add_after_earlier_wins(void **state)
{
    struct ferry_workqueue *q = no_bucket();
    int64_t ms;

    (void)state;
    assert_int_equal(ferry_workqueue_next_ready_ms(q), -1);
    ferry_workqueue_add_after(q, "k", 600000);
    ms = ferry_workqueue_next_ready_ms(q);
    assert_true(ms > 500000);
    ferry_workqueue_add_after(q, "k", 1000);
    ms = ferry_workqueue_next_ready_ms(q);
    assert_true(ms > 0 && ms <= 1000);
    /* a later time does not push it back */
    ferry_workqueue_add_after(q, "k", 600000);
    assert_true(ferry_workqueue_next_ready_ms(q) <= 1000);
    ferry_workqueue_add(q, "k");
    assert_int_equal(ferry_workqueue_next_ready_ms(q), 0);
    ferry_workqueue_free(q);
}

static void *
blocked_get(void *p)
{
    char *k = NULL;
    intptr_t r = ferry_workqueue_get(p, -1, &k);

    free(k);
    return (void *)r;
}

static void
test_shutdown(void **state)
{
    struct ferry_workqueue *q = no_bucket();
    pthread_t t;
    void *r;

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, blocked_get, q), 0);
    usleep(20000);
    ferry_workqueue_shutdown(q);
    pthread_join(t, &r);
    assert_int_equal((intptr_t)r, -1);
    ferry_workqueue_add(q, "late"); /* ignored */
    assert_int_equal(ferry_workqueue_len(q), 0);
    ferry_workqueue_free(q);
}

static void
test_expectations(void **state)
{
    enum step {
        LOOK,
        EXPECT_CREATIONS,
        EXPECT_DELETIONS,
        CREATED,
        DELETED,
        FORGET
    };
    /* Each step on KEY (N for the expect ones), then whether KEY's
     * expectations are satisfied. */
    static const struct {
        enum step step;
        const char *key;
        int n;
        bool satisfied;
    } steps[] = {
        { LOOK, "ns/dv", 0, true },
        { EXPECT_CREATIONS, "ns/dv", 2, false },
        { CREATED, "ns/dv", 0, false },
        { CREATED, "ns/dv", 0, true },
        /* an observation beyond what was expected does not go negative */
        { CREATED, "ns/dv", 0, true },
        { EXPECT_CREATIONS, "ns/dv", 1, false },
        /* other keys are not affected; deletions count apart */
        { LOOK, "ns/other", 0, true },
        { EXPECT_DELETIONS, "ns/other", 1, false },
        { CREATED, "ns/other", 0, false },
        { DELETED, "ns/other", 0, true },
        { FORGET, "ns/dv", 0, true },
    };
    struct ferry_expectations *e = ferry_expectations_new(0);

    (void)state;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(steps); i++) {
        const char *key = steps[i].key;

        switch (steps[i].step) {
        case LOOK:
            break;
        case EXPECT_CREATIONS:
            ferry_expectations_expect_creations(e, key, steps[i].n);
            break;
        case EXPECT_DELETIONS:
            ferry_expectations_expect_deletions(e, key, steps[i].n);
            break;
        case CREATED:
            ferry_expectations_creation_observed(e, key);
            break;
        case DELETED:
            ferry_expectations_deletion_observed(e, key);
            break;
        case FORGET:
            ferry_expectations_delete(e, key);
            break;
        }
        if (ferry_expectations_satisfied(e, key) != steps[i].satisfied)
            fail_msg("step %zu on %s: satisfied %d, want %d", i, key, !steps[i].satisfied,
                     steps[i].satisfied);
    }
    ferry_expectations_free(e);
}

static void
test_expectations_timeout(void **state)
{
    struct ferry_expectations *e = ferry_expectations_new(1); /* 1 ms */

    (void)state;
    ferry_expectations_expect_creations(e, "ns/vmi", 1);
    /* the watch event never comes: after the timeout the owner may act */
    while (!ferry_expectations_satisfied(e, "ns/vmi"))
        usleep(1000);
    /* ... and the record is gone */
    ferry_expectations_creation_observed(e, "ns/vmi");
    assert_true(ferry_expectations_satisfied(e, "ns/vmi"));
    ferry_expectations_free(e);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_dedup),
          cmocka_unit_test(test_readd_while_processing),
          cmocka_unit_test(test_no_parallel_same_key),
          cmocka_unit_test(test_backoff_growth_and_forget),
          cmocka_unit_test(test_rate_limited_requeue),
          cmocka_unit_test(test_bucket),
          cmocka_unit_test(test_add_after_earlier_wins),
          cmocka_unit_test(test_shutdown),
          cmocka_unit_test(test_expectations),
          cmocka_unit_test(test_expectations_timeout))
