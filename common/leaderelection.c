/* Lease-based leader election (leaderelection.h), after client-go's
 * leaderelection.go: tryAcquireOrRenew, acquire and renew loops, release. */
#include "common/leaderelection.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/store/store.h"
#include "common/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ferry_leader {
    struct ferry_store *st;
    char *ns, *name, *identity;
    int lease_s, deadline_ms, retry_ms;
    char *observed_raw;     /* the record (spec) as last seen */
    uint64_t observed_ns;   /* when it was seen to change (monotonic) */
    uint64_t last_renew_ns; /* last successful acquire/renew (monotonic) */
    bool other_holder;      /* the last try found the Lease held by another */
    atomic_bool leading, lost;
};

int
ferry_leader_new(struct ferry_store *st, const struct ferry_leader_opts *o,
                 struct ferry_leader **ret)
{
    struct ferry_leader *l;
    const char *ns = o->ns ? o->ns : getenv("POD_NAMESPACE");
    int lease_s = o->lease_duration_s ? o->lease_duration_s : 15;
    int deadline = o->renew_deadline_ms ? o->renew_deadline_ms : 10000;
    int retry = o->retry_period_ms ? o->retry_period_ms : 2000;

    /* client-go's NewLeaderElector checks */
    if ((int64_t)lease_s * 1000 <= deadline)
        return ferry_error(FERRY_ERR_INVALID,
                           "leader election: leaseDuration %ds must be greater "
                           "than renewDeadline %dms",
                           lease_s, deadline);
    if (deadline <= retry * 12 / 10)
        return ferry_error(FERRY_ERR_INVALID,
                           "leader election: renewDeadline %dms must be greater "
                           "than 1.2 x retryPeriod %dms",
                           deadline, retry);
    l = ferry_calloc(1, sizeof *l);
    l->st = st;
    l->ns = ferry_strdup(ns && *ns ? ns : "kube-system");
    l->name = ferry_strdup(o->name ? o->name : "ferry-controller");
    if (o->identity) {
        l->identity = ferry_strdup(o->identity);
    } else {
        char host[256] = "";
        FERRY_AUTOFREE char *u = ferry_uuid_random();

        gethostname(host, sizeof host - 1);
        l->identity = ferry_printf("%s_%s", host[0] ? host : "ferry", u);
    }
    l->lease_s = lease_s;
    l->deadline_ms = deadline;
    l->retry_ms = retry;
    *ret = l;
    return 0;
}

void
ferry_leader_free(struct ferry_leader *l)
{
    if (!l)
        return;
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l->observed_raw);
    free(l);
}

const char *
ferry_leader_identity(struct ferry_leader *l)
{
    return l->identity;
}

bool
ferry_leader_is_leading(struct ferry_leader *l)
{
    return atomic_load(&l->leading);
}

bool
ferry_leader_lost(struct ferry_leader *l)
{
    return atomic_load(&l->lost);
}

static void
observe(struct ferry_leader *l, json_object *spec)
{
    const char *raw = spec ? json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN) : "";

    if (!ferry_str_eq(raw, l->observed_raw)) {
        free(l->observed_raw);
        l->observed_raw = ferry_strdup(raw);
        l->observed_ns = ferry_now_ns();
    }
}

static json_object *
new_spec(struct ferry_leader *l, const char *acquire, int64_t transitions, const char *now)
{
    json_object *spec = json_object_new_object();

    json_object_object_add(spec, "holderIdentity", json_object_new_string(l->identity));
    json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(l->lease_s));
    json_object_object_add(spec, "acquireTime", json_object_new_string(acquire));
    json_object_object_add(spec, "renewTime", json_object_new_string(now));
    json_object_object_add(spec, "leaseTransitions", json_object_new_int64(transitions));
    return spec;
}

int
ferry_leader_try(struct ferry_leader *l)
{
    FERRY_AUTOPTR(json_object) lease = NULL;
    FERRY_AUTOPTR(json_object) out = NULL;
    FERRY_AUTOFREE char *now = ferry_time_now_micro();
    json_object *spec;
    const char *holder;
    int64_t dur, transitions;
    bool mine;

    l->other_holder = false;
    if (ferry_store_get(l->st, ferry_resource_lease, l->ns, l->name, &lease) < 0) {
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        lease = json_object_new_object();
        json_object_object_add(lease, "apiVersion",
                               json_object_new_string("coordination.k8s.io/v1"));
        json_object_object_add(lease, "kind", json_object_new_string("Lease"));
        ferry_json_set_string(lease, "metadata.name", l->name);
        ferry_json_set_string(lease, "metadata.namespace", l->ns);
        json_object_object_add(lease, "spec", new_spec(l, now, 0, now));
        if (ferry_store_create(l->st, lease, &out) < 0) {
            if (ferry_error_code() == FERRY_ERR_EXISTS ||
                ferry_error_code() == FERRY_ERR_CONFLICT) {
                ferry_error_reset();
                return 0; /* another candidate was quicker */
            }
            return -1;
        }
        observe(l, ferry_json_get(out, "spec"));
        l->last_renew_ns = ferry_now_ns();
        return 1;
    }
    spec = ferry_json_get(lease, "spec");
    observe(l, spec);
    holder = ferry_json_get_string(spec, "holderIdentity");
    mine = ferry_str_eq(holder, l->identity);
    dur = ferry_json_get_int(spec, "leaseDurationSeconds", l->lease_s);
    if (holder && *holder && !mine &&
        ferry_now_ns() < l->observed_ns + (uint64_t)(dur > 0 ? dur : 0) * 1000000000ULL) {
        l->other_holder = true;
        return 0; /* held, and not expired by our clock */
    }
    transitions = ferry_json_get_int(spec, "leaseTransitions", 0);
    if (mine) {
        const char *acq = ferry_json_get_string(spec, "acquireTime");

        json_object_object_add(lease, "spec", new_spec(l, acq ? acq : now, transitions, now));
    } else {
        json_object_object_add(lease, "spec", new_spec(l, now, transitions + 1, now));
    }
    if (ferry_store_update(l->st, lease, &out) < 0) {
        if (ferry_error_code() == FERRY_ERR_CONFLICT || ferry_error_code() == FERRY_ERR_NOTFOUND) {
            ferry_error_reset();
            return 0; /* lost the race: read again next round */
        }
        return -1;
    }
    observe(l, ferry_json_get(out, "spec"));
    l->last_renew_ns = ferry_now_ns();
    if (!mine)
        ferry_log_info("leader election: %s acquired lease %s/%s", l->identity, l->ns, l->name);
    return 1;
}

/* Sleep ms in short steps; false when *stop came first. */
static bool
nap(int ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !*stop) {
        int step = ms > 50 ? 50 : ms;

        usleep((useconds_t)step * 1000);
        ms -= step;
    }
    return !*stop;
}

static int
jittered(int ms)
{
    /* wait.JitterUntil(..., 1.2): [ms, 2.2 ms) in client-go; keep it tighter */
    return ms + (int)(random() % (ms / 5 + 1));
}

/* A failed try is logged and tried again, not returned. */
static void
warn_try(struct ferry_leader *l, const char *doing)
{
    ferry_log_warn("leader election: %slease %s/%s: %s", doing, l->ns, l->name,
                   ferry_error_message());
    ferry_error_reset();
}

int
ferry_leader_run(struct ferry_leader *l, volatile sig_atomic_t *stop)
{
    int r;

    /* acquire */
    for (;;) {
        if (*stop)
            return 0;
        r = ferry_leader_try(l);
        if (r == 1)
            break;
        if (r < 0)
            warn_try(l, "");
        if (!nap(jittered(l->retry_ms), stop))
            return 0;
    }
    atomic_store(&l->leading, true);
    ferry_log_info("leader election: %s is the leader (lease %s/%s)", l->identity, l->ns, l->name);
    {
        /* client-go's event on the lock: "<id> became leader" */
        FERRY_AUTOPTR(json_object) lease = NULL;
        FERRY_AUTOFREE char *msg = ferry_printf("%s became leader", l->identity);

        if (ferry_store_get(l->st, ferry_resource_lease, l->ns, l->name, &lease) == 0)
            ferry_store_record_event(l->st, lease, "Normal", "LeaderElection", msg);
        else
            ferry_error_reset();
    }
    /* renew */
    while (nap(l->retry_ms, stop)) {
        r = ferry_leader_try(l);
        if (r == 1)
            continue;
        if (r < 0)
            warn_try(l, "renewing ");
        if (ferry_now_ns() - l->last_renew_ns >= (uint64_t)l->deadline_ms * 1000000ULL ||
            l->other_holder) {
            /* the deadline passed, or another replica holds it now */
            atomic_store(&l->leading, false);
            atomic_store(&l->lost, true);
            ferry_log_error("leader election: lost lease %s/%s (%s)", l->ns, l->name,
                            r == 0 ? "another replica holds it" : "renew deadline passed");
            return -1;
        }
    }
    ferry_leader_release(l);
    return 0;
}

void
ferry_leader_release(struct ferry_leader *l)
{
    FERRY_AUTOPTR(json_object) lease = NULL;
    FERRY_AUTOFREE char *now = NULL;
    json_object *spec;

    if (!atomic_load(&l->leading))
        return;
    atomic_store(&l->leading, false);
    if (ferry_store_get(l->st, ferry_resource_lease, l->ns, l->name, &lease) < 0) {
        ferry_error_reset();
        return;
    }
    spec = ferry_json_get(lease, "spec");
    if (!ferry_str_eq(ferry_json_get_string(spec, "holderIdentity"), l->identity))
        return;
    now = ferry_time_now_micro();
    /* client-go's release: no holder, a 1 s lease, times of now */
    ferry_json_set_string(lease, "spec.holderIdentity", "");
    ferry_json_set_int(lease, "spec.leaseDurationSeconds", 1);
    ferry_json_set_string(lease, "spec.renewTime", now);
    ferry_json_set_string(lease, "spec.acquireTime", now);
    if (ferry_store_update(l->st, lease, NULL) < 0) {
        ferry_log_warn("leader election: releasing lease %s/%s: %s", l->ns, l->name,
                       ferry_error_message());
        ferry_error_reset();
        return;
    }
    ferry_log_info("leader election: %s released lease %s/%s", l->identity, l->ns, l->name);
}
