/* Expectations against a stale cache (KubeVirt's and the ReplicaSet
 * controller's ControllerExpectations, k8s.io/kubernetes/pkg/controller):
 * after creating (or deleting) N children of an owner, the owner's
 * reconciler must not create (delete) more until the watch has shown it
 * those N, or until the expectation is older than the timeout (a lost event
 * must not block the owner for ever; client-go's ExpectationsTimeout is
 * 5 minutes).
 *
 *     if (!ferry_expectations_satisfied(e, key)) return 0;  // wait for the watch
 *     ferry_expectations_expect_creations(e, key, 1);
 *     if (create(...) < 0) ferry_expectations_creation_observed(e, key); // never coming
 *     ... watch ADDED child of key -> ferry_expectations_creation_observed(e, key)
 *
 * Keys are the owner's "ns/name" (or any string).  Thread-safe. */
#ifndef FERRY_EXPECTATIONS_H
#define FERRY_EXPECTATIONS_H

#include <stdbool.h>
#include <stdint.h>

struct ferry_expectations;

/* timeout_ms 0: 300000 (5 minutes). */
struct ferry_expectations *ferry_expectations_new(uint64_t timeout_ms);
void ferry_expectations_free(struct ferry_expectations *e);

/* Replace the key's record with these counts (and now as its time). */
void ferry_expectations_expect_creations(struct ferry_expectations *e, const char *key, int n);
void ferry_expectations_expect_deletions(struct ferry_expectations *e, const char *key, int n);
/* Lower the count by one; a key without a record is left alone. */
void ferry_expectations_creation_observed(struct ferry_expectations *e, const char *key);
void ferry_expectations_deletion_observed(struct ferry_expectations *e, const char *key);
/* true when the key has no record, its counts are down to 0, or the record
 * is older than the timeout (then it is dropped). */
bool ferry_expectations_satisfied(struct ferry_expectations *e, const char *key);
/* Forget the key (its owner is gone). */
void ferry_expectations_delete(struct ferry_expectations *e, const char *key);

#endif
