/* The API server's semantics of the store, apart from the rows (internal to
 * common/store; apiserver.c says what it owns).  key is the resource's
 * "plural.group" (ferry_resource_key), as the server's messages name it. */
#ifndef FERRY_STORE_APISERVER_H
#define FERRY_STORE_APISERVER_H

#include "common/store/store.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- names and metadata ---------------------------------------------- */

/* PREFIX + the server's generateName suffix (5 characters). */
char *ferry_apiserver_generate_name(const char *prefix);
/* Resource, namespace (NULL for cluster-scoped) and name of obj, checked. */
int ferry_apiserver_identify(json_object *obj, const struct ferry_resource **ret_res,
                             const char **ret_ns, const char **ret_name);
/* metadata.resourceVersion = rv. */
void ferry_apiserver_set_rv(json_object *obj, int64_t rv);
/* metadata.finalizers when it is a non-empty array, else NULL. */
json_object *ferry_apiserver_finalizers(json_object *obj);
/* Equal but for metadata and status (what bumps metadata.generation). */
bool ferry_apiserver_spec_equal(json_object *a, json_object *b);
/* Equal but for metadata.resourceVersion (a no-op write). */
bool ferry_apiserver_same_object(json_object *a, json_object *b);

/* ---- Events ---------------------------------------------------------- */

/* The name and namespace of the Event that client-go's recorder writes about
 * ABOUT: one per object uid + TYPE + REASON + MESSAGE, named
 * OBJECT.HASH, in ABOUT's namespace ("default" when it has none).  false
 * when ABOUT has no name. */
bool ferry_apiserver_event_name(json_object *about, const char *type, const char *reason,
                                const char *message, char **ret_name, const char **ret_ns);
/* That Event, new: involvedObject ABOUT, source.component and
 * reportingComponent this program, count 1, first and last timestamp NOW. */
json_object *ferry_apiserver_event_new(json_object *about, const char *ns, const char *name,
                                       const char *type, const char *reason,
                                       const char *message, const char *now);

/* ---- the server's words ---------------------------------------------- */

int ferry_apiserver_err_not_found(const char *key, const char *name);
int ferry_apiserver_err_conflict(const char *key, const char *name);

/* ---- create, update, update status, delete --------------------------- */

/* A new object as the server stores it (before admission); *ret_obj is a
 * copy of IN. */
int ferry_apiserver_prepare_create(const struct ferry_resource *res, json_object *in,
                                   json_object **ret_obj);
/* The resourceVersion and uid preconditions of obj against the stored cur:
 * -1 and FERRY_ERR_CONFLICT when they do not hold. */
int ferry_apiserver_check_rv(const char *key, const char *name, json_object *obj,
                             json_object *cur);
int ferry_apiserver_check_uid(const char *key, const char *name, json_object *obj,
                              json_object *cur);
/* The status subresource's update: a new object, cur with in's status. */
json_object *ferry_apiserver_status_update(json_object *in, json_object *cur);
/* The update of the rest (before admission); *ret_obj is new.  Refuses new
 * finalizers on an object being deleted. */
int ferry_apiserver_spec_update(const struct ferry_resource *res, const char *name,
                                json_object *in, json_object *cur, json_object **ret_obj);
/* After admission: metadata.generation + 1 when the spec changed. */
void ferry_apiserver_bump_generation(json_object *obj, json_object *cur);
/* The delete of an object with finalizers: mark it (deletionTimestamp,
 * generation + 1); false when it was marked already (nothing to write). */
bool ferry_apiserver_mark_deleted(json_object *obj);
/* Refuse deleting the namespaces the server never deletes. */
int ferry_apiserver_check_delete(const struct ferry_resource *res, const char *name);

/* ---- watch ------------------------------------------------------------ */

/* -1 and FERRY_ERR_EXPIRED ("too old resource version") when a watch from
 * FROM needs events the store compacted (those with rv <= COMPACTED). */
int ferry_apiserver_check_watch_rv(int64_t from, int64_t compacted);

#endif
