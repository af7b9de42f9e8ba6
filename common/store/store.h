/* The store: Kubernetes API semantics behind one interface, two drivers
 * (ARCHITECTURE.md).  "sqlite" is the embedded default (one database in the
 * state directory, WAL mode, an objects table and an events log); "kube"
 * talks to a real API server (later).  Controllers, the handler and the CLI
 * use only this header.
 *
 * Semantics are the API server's: uid, creationTimestamp, resourceVersion (one
 * counter for the whole store, a decimal string), generation (bumped by spec
 * changes only), create fails with FERRY_ERR_EXISTS, update with a stale
 * resourceVersion fails with FERRY_ERR_CONFLICT (an empty/absent
 * resourceVersion in an update means "unconditional"), update_status writes
 * only .status and never bumps generation, update ignores .status, delete
 * sets deletionTimestamp while finalizers remain and removes the object when
 * they are gone; ownerReferences cascade in the background; watch from a
 * resourceVersion returns FERRY_ERR_EXPIRED when that is older than the kept
 * history (the 410 Gone answer: re-list).
 *
 * Every returned json_object is a new reference owned by the caller.
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/object.h"

/* A kind the store (and the CLI) knows. */
struct ferry_resource {
    const char *group;      /* "kubevirt.io", "cdi.kubevirt.io", "" for core */
    const char *version;    /* "v1", "v1beta1" */
    const char *kind;       /* "VirtualMachine" */
    const char *plural;     /* "virtualmachines" */
    const char *singular;   /* "virtualmachine" */
    const char *const *short_names; /* { "vm", "vms", NULL } */
    bool namespaced;
    bool status_subresource; /* create drops .status; update ignores it (all but Event) */
};

/* NULL-terminated table of the known kinds: VirtualMachine,
 * VirtualMachineInstance, DataVolume, Node (ferry's node registration, kind
 * "Node", group ""), Event (core v1, for describe). */
extern const struct ferry_resource *const ferry_resources[];
/* The same entries by name, for code that means one kind. */
extern const struct ferry_resource *const ferry_resource_vm;
extern const struct ferry_resource *const ferry_resource_vmi;
extern const struct ferry_resource *const ferry_resource_dv;
extern const struct ferry_resource *const ferry_resource_node;
extern const struct ferry_resource *const ferry_resource_event;
/* "vm", "vms", "virtualmachine", "virtualmachines", "virtualmachines.kubevirt.io",
 * "VirtualMachine" -> the resource; NULL and an error otherwise. */
const struct ferry_resource *ferry_resource_lookup(const char *name);
const struct ferry_resource *ferry_resource_for_object(json_object *obj); /* by apiVersion+kind */

/* The state directory: $FERRY_STATE_DIR, else /var/lib/ferry as root, else
 * $XDG_STATE_HOME/ferry or ~/.local/state/ferry.  Static string. */
const char *ferry_state_dir(void);

struct ferry_store;

/* "sqlite:DIR", a plain DIR (sqlite), or NULL for ferry_state_dir(). "kube:" later. */
int ferry_store_open(const char *where, struct ferry_store **ret);
void ferry_store_free(struct ferry_store *st);
/* Admission (common/admission.h) runs on create and update unless turned off
 * (tests of the store alone; a controller never turns it off). */
void ferry_store_set_admission(struct ferry_store *st, bool on);
/* How many changes the watch history keeps (default 10000, or
 * $FERRY_STORE_HISTORY); older resourceVersions get FERRY_ERR_EXPIRED. */
void ferry_store_set_history(struct ferry_store *st, int64_t events);

int ferry_store_get(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                    const char *name, json_object **ret);
/* ns NULL: all namespaces. sel may be NULL.  Returns a json array of objects
 * ordered by namespace/name and the store's resourceVersion at list time
 * (to watch from). */
int ferry_store_list(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                     const struct ferry_selector *sel, json_object **ret_items, int64_t *ret_rv);
/* obj must carry apiVersion, kind, metadata.name (metadata.generateName is
 * honoured); namespace defaults to "default" for namespaced kinds. */
int ferry_store_create(struct ferry_store *st, json_object *obj, json_object **ret);
int ferry_store_update(struct ferry_store *st, json_object *obj, json_object **ret);
int ferry_store_update_status(struct ferry_store *st, json_object *obj, json_object **ret);
/* Returns 0 when deleted or marked for deletion; FERRY_ERR_NOTFOUND when absent. */
int ferry_store_delete(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                       const char *name);

enum ferry_event_type { FERRY_EVENT_ADDED, FERRY_EVENT_MODIFIED, FERRY_EVENT_DELETED };
struct ferry_event {
    enum ferry_event_type type;
    int64_t resource_version;
    json_object *object;     /* owned by the event; ferry_event_release() */
};
void ferry_event_release(struct ferry_event *ev);
const char *ferry_event_type_name(enum ferry_event_type t);  /* "ADDED" ... */

struct ferry_watch;
/* Events for res (NULL: every kind) in ns (NULL: all) strictly after from_rv. */
int ferry_store_watch(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                      int64_t from_rv, struct ferry_watch **ret);
/* 1 and an event; 0 on timeout (timeout_ms, -1 forever); -1 on error
 * (FERRY_ERR_EXPIRED when history moved past us: re-list and watch again). */
int ferry_watch_next(struct ferry_watch *w, int timeout_ms, struct ferry_event *ret);
void ferry_watch_free(struct ferry_watch *w);

/* Record a core/v1 Event about obj (for describe); failures are ignored. */
void ferry_store_record_event(struct ferry_store *st, json_object *obj, const char *type,
                              const char *reason, const char *message);

#endif
