/* Expectations (expectations.h): one record per key with the creations and
 * deletions still to be seen and the time it was set, under a mutex.  The
 * creation count is the keymap entry's value, the deletions its value2; the
 * time lives beside them in a second map. */
#include "common/expectations.h"
#include "common/keymap.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>

struct ferry_expectations {
    pthread_mutex_t mu;
    struct ferry_keymap counts; /* value: creations, value2: deletions */
    struct ferry_keymap since;  /* value: when set (monotonic ns) */
    uint64_t timeout_ns;
};

struct ferry_expectations *
ferry_expectations_new(uint64_t timeout_ms)
{
    struct ferry_expectations *e = ferry_calloc(1, sizeof *e);

    pthread_mutex_init(&e->mu, NULL);
    ferry_keymap_init(&e->counts);
    ferry_keymap_init(&e->since);
    e->timeout_ns = (timeout_ms ? timeout_ms : 300000) * 1000000ULL;
    return e;
}

void
ferry_expectations_free(struct ferry_expectations *e)
{
    if (!e)
        return;
    ferry_keymap_release(&e->counts);
    ferry_keymap_release(&e->since);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* Drop KEY's record, both maps (e->mu held). */
static void
forget(struct ferry_expectations *e, const char *key)
{
    ferry_keymap_remove(&e->counts, key);
    ferry_keymap_remove(&e->since, key);
}

static void
expect(struct ferry_expectations *e, const char *key, int adds, int dels)
{
    struct ferry_keymap_entry *c;

    pthread_mutex_lock(&e->mu);
    c = ferry_keymap_ensure(&e->counts, key, NULL);
    c->value = adds;
    c->value2 = dels;
    ferry_keymap_ensure(&e->since, key, NULL)->value = (int64_t)ferry_now_ns();
    pthread_mutex_unlock(&e->mu);
}

void
ferry_expectations_expect_creations(struct ferry_expectations *e, const char *key, int n)
{
    expect(e, key, n, 0);
}

void
ferry_expectations_expect_deletions(struct ferry_expectations *e, const char *key, int n)
{
    expect(e, key, 0, n);
}

static void
observed(struct ferry_expectations *e, const char *key, bool add)
{
    struct ferry_keymap_entry *c;

    pthread_mutex_lock(&e->mu);
    c = ferry_keymap_get(&e->counts, key);
    if (c) {
        if (add && c->value > 0)
            c->value--;
        else if (!add && c->value2 > 0)
            c->value2--;
    }
    pthread_mutex_unlock(&e->mu);
}

void
ferry_expectations_creation_observed(struct ferry_expectations *e, const char *key)
{
    observed(e, key, true);
}

void
ferry_expectations_deletion_observed(struct ferry_expectations *e, const char *key)
{
    observed(e, key, false);
}

bool
ferry_expectations_satisfied(struct ferry_expectations *e, const char *key)
{
    struct ferry_keymap_entry *c, *t;
    bool ok;

    pthread_mutex_lock(&e->mu);
    c = ferry_keymap_get(&e->counts, key);
    t = ferry_keymap_get(&e->since, key);
    if (!c) {
        ok = true;
    } else if (c->value <= 0 && c->value2 <= 0) {
        ok = true;
    } else if (t && ferry_now_ns() - (uint64_t)t->value > e->timeout_ns) {
        /* the event was lost (or never came): let the owner act again */
        forget(e, key);
        ok = true;
    } else {
        ok = false;
    }
    pthread_mutex_unlock(&e->mu);
    return ok;
}

void
ferry_expectations_delete(struct ferry_expectations *e, const char *key)
{
    pthread_mutex_lock(&e->mu);
    forget(e, key);
    pthread_mutex_unlock(&e->mu);
}
