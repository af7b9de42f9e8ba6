/* Leader election over a Lease (common/leaderelection.h) on the real SQLite
 * store, two candidates in one process with short timings (lease 1 s, renew
 * deadline 500 ms, retry 100 ms).  Covered: the first candidate creates the
 * Lease with client-go's fields; the second is refused while the record
 * changes and takes over (leaseTransitions + 1) once it has not changed for
 * leaseDurationSeconds on its own clock; a renewal keeps acquireTime; the old
 * leader then sees another holder; the run loop's release at stop empties the
 * holder so the next candidate need not wait; the run loop reports a lease
 * taken from it as lost; bad timings are refused.  Waits are loops on the condition, never timed assertions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testlib.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/leaderelection.h"
#include "common/store/store.h"
#include "common/util.h"

#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
setup(void **state)
{
    *state = test_store_new("leader", true);
    return 0;
}

static struct ferry_leader *
candidate(struct ferry_store *st, const char *id)
{
    struct ferry_leader_opts o = { .ns = "kube-system",
                                   .name = "ferry-controller",
                                   .identity = id,
                                   .lease_duration_s = 1,
                                   .renew_deadline_ms = 500,
                                   .retry_period_ms = 100 };
    struct ferry_leader *l = NULL;

    assert_int_equal(ferry_leader_new(st, &o, &l), 0);
    return l;
}

static json_object *
lease(struct ferry_store *st)
{
    json_object *o = NULL;

    assert_int_equal(
        ferry_store_get(st, ferry_resource_lease, "kube-system", "ferry-controller", &o), 0);
    return o;
}

static void
assert_micro_time(const char *s)
{
    regex_t re;

    assert_non_null(s);
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                             "\\.[0-9]{6}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    assert_int_equal(regexec(&re, s, 0, NULL, 0), 0);
    regfree(&re);
}

static void
test_acquire_takeover_release(void **state)
{
    struct test_store *f = *state;
    struct ferry_leader *a = candidate(f->st, "replica-a");
    struct ferry_leader *b = candidate(f->st, "replica-b");
    FERRY_AUTOPTR(json_object) l1 = NULL;
    FERRY_AUTOPTR(json_object) l2 = NULL;
    FERRY_AUTOPTR(json_object) l3 = NULL;
    FERRY_AUTOPTR(json_object) l4 = NULL;
    FERRY_AUTOFREE char *acquired = NULL;
    int tries = 0;

    assert_int_equal(ferry_leader_try(a), 1);
    assert_int_equal(ferry_leader_try(b), 0);
    l1 = lease(f->st);
    assert_string_equal(ferry_json_get_string(l1, "spec.holderIdentity"), "replica-a");
    assert_int_equal(ferry_json_get_int(l1, "spec.leaseDurationSeconds", -1), 1);
    assert_int_equal(ferry_json_get_int(l1, "spec.leaseTransitions", -1), 0);
    assert_micro_time(ferry_json_get_string(l1, "spec.renewTime"));
    assert_micro_time(ferry_json_get_string(l1, "spec.acquireTime"));
    acquired = ferry_strdup(ferry_json_get_string(l1, "spec.acquireTime"));

    /* a renewal: same acquireTime, new renewTime, no transition */
    usleep(2000);
    assert_int_equal(ferry_leader_try(a), 1);
    l2 = lease(f->st);
    assert_string_equal(ferry_json_get_string(l2, "spec.acquireTime"), acquired);
    assert_string_not_equal(ferry_json_get_string(l2, "spec.renewTime"),
                            ferry_json_get_string(l1, "spec.renewTime"));
    assert_int_equal(ferry_json_get_int(l2, "spec.leaseTransitions", -1), 0);

    /* while a renews, b never gets it */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ferry_leader_try(a), 1);
        assert_int_equal(ferry_leader_try(b), 0);
        usleep(100000);
    }
    /* a stops renewing: b takes over once the record stood still 1 s */
    while (ferry_leader_try(b) == 0) {
        usleep(50000);
        tries++;
    }
    assert_true(tries >= 1);
    l3 = lease(f->st);
    assert_string_equal(ferry_json_get_string(l3, "spec.holderIdentity"), "replica-b");
    assert_int_equal(ferry_json_get_int(l3, "spec.leaseTransitions", -1), 1);
    /* a now sees another holder */
    assert_int_equal(ferry_leader_try(a), 0);

    ferry_leader_free(a);
    ferry_leader_free(b);
}

struct runner {
    struct ferry_leader *l;
    volatile sig_atomic_t stop;
    int rc;
};

static void *
run_thread(void *p)
{
    struct runner *r = p;

    r->rc = ferry_leader_run(r->l, &r->stop);
    return NULL;
}

static void
test_run_release_and_lost(void **state)
{
    struct test_store *f = *state;
    struct ferry_store *st2 = NULL;
    struct runner r = { 0 };
    pthread_t t;
    FERRY_AUTOPTR(json_object) l = NULL;
    FERRY_AUTOPTR(json_object) l2 = NULL;
    struct ferry_leader *b;

    /* the election's own handle, as ferry-controller gives it */
    assert_int_equal(ferry_store_open(f->dir, &st2), 0);
    r.l = candidate(st2, "replica-a");
    assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
    while (!ferry_leader_is_leading(r.l))
        usleep(10000);
    /* stop: the lease is released (empty holder, 1 s) */
    r.stop = 1;
    pthread_join(t, NULL);
    assert_int_equal(r.rc, 0);
    assert_false(ferry_leader_lost(r.l));
    l = lease(f->st);
    assert_string_equal(ferry_json_get_string(l, "spec.holderIdentity"), "");
    assert_int_equal(ferry_json_get_int(l, "spec.leaseDurationSeconds", -1), 1);
    /* a released lease is free at once for a newcomer */
    b = candidate(f->st, "replica-b");
    assert_int_equal(ferry_leader_try(b), 1);
    ferry_leader_free(r.l);

    /* a leader whose lease is taken from it reports it lost */
    r = (struct runner){ .l = candidate(st2, "replica-a") };
    ferry_leader_free(b);
    {
        json_object *spec;

        l2 = lease(f->st);
        spec = ferry_json_get(l2, "spec");
        json_object_object_add(spec, "holderIdentity", json_object_new_string(""));
        assert_int_equal(ferry_store_update(f->st, l2, NULL), 0);
    }
    assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
    while (!ferry_leader_is_leading(r.l))
        usleep(10000);
    {
        FERRY_AUTOPTR(json_object) cur = lease(f->st);

        json_object_object_add(ferry_json_get(cur, "spec"), "holderIdentity",
                               json_object_new_string("intruder"));
        assert_int_equal(ferry_store_update(f->st, cur, NULL), 0);
    }
    pthread_join(t, NULL);
    assert_int_equal(r.rc, -1);
    assert_true(ferry_leader_lost(r.l));
    assert_false(ferry_leader_is_leading(r.l));
    ferry_leader_free(r.l);
    ferry_store_free(st2);
}

static void
test_bad_timings(void **state)
{
    struct test_store *f = *state;
    struct ferry_leader_opts o = { .lease_duration_s = 5, .renew_deadline_ms = 10000 };
    struct ferry_leader *l = NULL;

    assert_int_equal(ferry_leader_new(f->st, &o, &l), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    assert_non_null(strstr(ferry_error_message(), "leaseDuration"));
    ferry_error_reset();
    o = (struct ferry_leader_opts){ .renew_deadline_ms = 2000, .retry_period_ms = 2000 };
    assert_int_equal(ferry_leader_new(f->st, &o, &l), -1);
    assert_non_null(strstr(ferry_error_message(), "retryPeriod"));
    ferry_error_reset();
    /* defaults: 15 s / 10 s / 2 s, namespace kube-system, name ferry-controller */
    unsetenv("POD_NAMESPACE");
    o = (struct ferry_leader_opts){ 0 };
    assert_int_equal(ferry_leader_new(f->st, &o, &l), 0);
    assert_int_equal(ferry_leader_try(l), 1);
    {
        FERRY_AUTOPTR(json_object) ls = lease(f->st);

        assert_int_equal(ferry_json_get_int(ls, "spec.leaseDurationSeconds", -1), 15);
        assert_string_equal(ferry_json_get_string(ls, "spec.holderIdentity"),
                            ferry_leader_identity(l));
    }
    ferry_leader_free(l);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test_setup_teardown(test_acquire_takeover_release, setup, test_store_teardown),
          cmocka_unit_test_setup_teardown(test_run_release_and_lost, setup, test_store_teardown),
          cmocka_unit_test_setup_teardown(test_bad_timings, setup, test_store_teardown))
