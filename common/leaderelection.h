/* Leader election with a coordination.k8s.io/v1 Lease, as client-go's
 * tools/leaderelection does it, so that two ferry-controller replicas (on a
 * cluster, or on one SQLite store) never reconcile at once.
 *
 * The Lease <ns>/<name> holds spec.holderIdentity, leaseDurationSeconds,
 * acquireTime, renewTime (MicroTime) and leaseTransitions.  A candidate tries
 * every retry period (x 1.0..1.2 jitter); it takes the Lease when there is
 * none, when it has no holder, or when the record has not changed for the
 * record's leaseDurationSeconds, timed on the candidate's own monotonic clock
 * from when it saw the record change (no comparison with the holder's
 * clock).  A new holder bumps leaseTransitions.  The leader renews every
 * retry period; when it cannot for renew_deadline (or sees another holder),
 * it has lost and must stop work at once (the controller exits).  All writes
 * carry the resourceVersion read: a CONFLICT means another replica won.
 * Releasing (at shutdown) writes an empty holder and leaseDurationSeconds 1,
 * so a successor need not wait out the lease.
 *
 * Timings (KubeVirt's, CDI's and controller-runtime's): lease 15 s, renew
 * deadline 10 s, retry period 2 s; lease > deadline > 1.2 x retry is
 * required. */
#ifndef FERRY_LEADERELECTION_H
#define FERRY_LEADERELECTION_H

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>

struct ferry_store;

struct ferry_leader_opts {
    const char *ns;        /* Lease namespace, NULL: $POD_NAMESPACE, else "kube-system" */
    const char *name;      /* Lease name, NULL: "ferry-controller" */
    const char *identity;  /* NULL: "<hostname>_<random>" */
    int lease_duration_s;  /* 0: 15 */
    int renew_deadline_ms; /* 0: 10000 */
    int retry_period_ms;   /* 0: 2000 */
};

struct ferry_leader;

/* st is used by the election only (give it a handle of its own when
 * ferry_leader_run() runs in a thread beside other users of a store whose
 * driver is not thread-safe).  FERRY_ERR_INVALID for timings that break
 * lease > deadline > 1.2 x retry. */
int ferry_leader_new(struct ferry_store *st, const struct ferry_leader_opts *o,
                     struct ferry_leader **ret);
void ferry_leader_free(struct ferry_leader *l);
const char *ferry_leader_identity(struct ferry_leader *l);

/* One round of client-go's tryAcquireOrRenew: 1 when this candidate holds
 * the Lease afterwards, 0 when another does (or won a write race), -1 on a
 * store error. */
int ferry_leader_try(struct ferry_leader *l);

/* Run the election until *stop, or until leadership is lost: acquire (every
 * retry period), then renew (every retry period, giving up after the renew
 * deadline).  For a thread of its own.  Returns 0 when stopped (the Lease is
 * released if held), -1 when leadership was lost or never came because of
 * stop (see the flags below). */
int ferry_leader_run(struct ferry_leader *l, volatile sig_atomic_t *stop);
bool ferry_leader_is_leading(struct ferry_leader *l);
/* true once a leader has lost the Lease (it must stop and exit). */
bool ferry_leader_lost(struct ferry_leader *l);
/* Give the Lease up if held (best effort). */
void ferry_leader_release(struct ferry_leader *l);

#endif
