/* Shared informers (client-go's tools/cache, Kubernetes mode reference §2):
 * per kind, a cache filled by list-then-watch, event handlers, and listers
 * that controllers read from instead of GETs.  One code path for both store
 * drivers.
 *
 *   ferry_informer_new(st, kinds, n, handler, opaque, &inf)
 *   ferry_informer_sync(inf)         list every kind, diff against the cache,
 *                                    start the watch (also after EXPIRED)
 *   ferry_informer_pump(inf, ms)     apply watch events to the cache and call
 *                                    the handler; relists by itself on EXPIRED
 *   ferry_informer_get / _list       the listers
 *
 * The cache keeps each object as the store (watch or list) returned it and
 * hands out new references to the same json_object (json_object_get): the
 * objects are shared and READ-ONLY.  A caller that wants to change one
 * copies it (ferry_json_copy) first.  The cache drops metadata.managedFields
 * from what it keeps (client-go's TransformStripManagedFields); the objects
 * given to the handler and the listers have none.
 *
 * A relist (the first sync, and the answer to FERRY_ERR_EXPIRED) is diffed
 * against the cache and turned into synthetic events, as client-go's
 * DeltaFIFO Replace: ADDED for objects new to the cache, MODIFIED for those
 * whose resourceVersion changed, DELETED (with the last object known) for
 * those gone while the watch was away.  So handlers see every change.
 *
 * Writes still go to the store.  ferry_informer_observe() puts an object the
 * caller just wrote into the cache when it is newer than what the cache
 * holds (client-go's mutation cache), so the writer's next read is not older
 * than its own write; the watch event for it still reaches the handler.
 * Events older than the cached object (replayed after a relist) update
 * nothing but still reach the handler, which only enqueues keys.
 *
 * Not thread-safe: one thread pumps and reads (the controller's loop). */
#ifndef FERRY_INFORMER_H
#define FERRY_INFORMER_H

#include "common/store/store.h"

#include <stdbool.h>
#include <stddef.h>

struct ferry_informer;

/* Called for each change, from sync and pump.  obj is borrowed (read-only);
 * for DELETED it is the last state known.  old is the cached object before a
 * MODIFIED (NULL otherwise, or when not cached). */
typedef void (*ferry_informer_handler)(void *opaque, enum ferry_event_type type,
                                       const struct ferry_resource *res, json_object *obj,
                                       json_object *old);

/* kinds: the kinds to cache (the array is copied).  ns NULL: all namespaces.
 * sel NULL: every object; else only objects matching it are cached (the
 * watch is made with the selector, ferry_store_watch_selected). */
int ferry_informer_new(struct ferry_store *st, const struct ferry_resource *const *kinds,
                       size_t n, const char *ns, const struct ferry_selector *sel,
                       ferry_informer_handler handler, void *opaque,
                       struct ferry_informer **ret);
void ferry_informer_free(struct ferry_informer *inf);

/* List every kind and diff (synthetic events to the handler), then (re)start
 * the watch from the lists' resourceVersion. */
int ferry_informer_sync(struct ferry_informer *inf);
/* Read watch events for at most timeout_ms (and at most max_events, 0: no
 * limit); returns the number handled, or -1 on a store error that a relist
 * did not cure (the caller retries later; the watch is remade by the next
 * pump).  FERRY_ERR_EXPIRED is handled inside: relist and diff. */
int ferry_informer_pump(struct ferry_informer *inf, int timeout_ms, int max_events);
/* True once the first sync succeeded (client-go's HasSynced). */
bool ferry_informer_synced(struct ferry_informer *inf);

/* The lister.  get: a new reference to the cached object (read-only) or
 * FERRY_ERR_NOTFOUND worded as the store's.  ns NULL: "default" for a
 * namespaced kind.  res must be one of the informer's kinds
 * (FERRY_ERR_INVALID otherwise). */
int ferry_informer_get(struct ferry_informer *inf, const struct ferry_resource *res,
                       const char *ns, const char *name, json_object **ret);
/* A new json array of references to the cached objects of res in ns (NULL:
 * all) matching sel (NULL: all), ordered by namespace/name. */
int ferry_informer_list(struct ferry_informer *inf, const struct ferry_resource *res,
                        const char *ns, const struct ferry_selector *sel, json_object **ret);
/* Call fn for every cached object of res (any order; fn must not change the
 * informer). */
void ferry_informer_foreach(struct ferry_informer *inf, const struct ferry_resource *res,
                            void (*fn)(void *opaque, json_object *obj), void *opaque);
/* Number of cached objects of res. */
size_t ferry_informer_count(struct ferry_informer *inf, const struct ferry_resource *res);
/* The caller wrote obj (the store's answer): cache it when newer.  A kind
 * the informer does not cache is ignored.  deleted: the caller deleted it. */
void ferry_informer_observe(struct ferry_informer *inf, json_object *obj);

#endif
