/* The store: Kubernetes API semantics behind one interface, two drivers
 * (ARCHITECTURE.md).  "sqlite" is the embedded default (one database in the
 * state directory, WAL mode, an objects table and an events log); "kube"
 * talks to a real API server (kube.c).  Controllers, the handler and the CLI
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
 * The kube driver is the API server itself, so the semantics are the
 * server's by construction; where they would differ it bridges (kube.c):
 * updates without a resourceVersion, update/update_status of a kind whose
 * CRD has no status subresource (KubeVirt's VMI), apiVersion/kind on list
 * items.  What it cannot make the same: ownerReferences cascade only where
 * a garbage collector runs (kube-controller-manager), a Namespace is
 * deleted with what it holds, history is the server's watch cache and etcd
 * compaction (ferry_store_set_history does nothing), events of a watch of
 * every kind are in resourceVersion order per kind only, and admission
 * (common/admission.h) runs on create only.
 *
 * Every returned json_object is a new reference owned by the caller; input
 * objects are never modified (the store works on a copy).  ret pointers of
 * create/update/update_status may be NULL when the result is not wanted.
 *
 * Errors (ferry_error_code()) and messages, worded as the API server's:
 *   FERRY_ERR_NOTFOUND  virtualmachines.kubevirt.io "web01" not found
 *   FERRY_ERR_EXISTS    virtualmachines.kubevirt.io "web01" already exists
 *   FERRY_ERR_CONFLICT  Operation cannot be fulfilled on virtualmachines.kubevirt.io
 *                       "web01": the object has been modified; please apply your
 *                       changes to the latest version and try again
 *   FERRY_ERR_INVALID   admission refused it (common/admission.h), or a bad request
 *   FERRY_ERR_EXPIRED   too old resource version: 12 (40)
 *   FERRY_ERR_UNSUPPORTED  no matches for kind "X" in version "kubevirt.io/v1alpha3"
 *
 * Writers' recipe (a controller's read-modify-write):
 *     for (;;) { get; change; if (update(...) == 0) break;
 *                if (ferry_error_code() != FERRY_ERR_CONFLICT) fail; }
 * An update or update_status that changes nothing is a no-op: no new
 * resourceVersion, no watch event (so level-triggered controllers may write
 * status every pass without waking each other).
 *
 * Update keeps from the stored object what a client cannot change: uid,
 * creationTimestamp, generation (recomputed: +1 when anything outside
 * metadata and status changed), deletionTimestamp, and .status for the kinds
 * with a status subresource (all but Event).  update_status takes only
 * .status from its argument (and honours its resourceVersion).
 *
 * Deletion: delete on an object with metadata.finalizers sets
 * deletionTimestamp (and generation + 1, as the API server does; MODIFIED
 * event); the update that removes the last finalizer removes the object
 * (DELETED event).  No finalizer may be added while deleting.  When an
 * object goes, its dependents (metadata.ownerReferences[].uid = its uid) go
 * too, in the same transaction ("background" propagation): a dependent that
 * still has another live owner only loses the dangling reference; one with
 * finalizers is marked instead of removed.
 *
 * The sqlite driver: a handle may be shared by threads; it must not cross a
 * fork() (the child opens its own).  Any number of processes may open the
 * same state directory at once.
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
    bool status_subresource; /* update ignores .status (all but Event); create drops
                              * it too, except for Node (as the API server does) */
    bool not_in_all;         /* a watch of every kind (res NULL) leaves it out, as
                              * `kubectl get all` does: Secrets and ConfigMaps are
                              * read by name when needed, never streamed to every
                              * watcher (nor a 403 on a cluster without the right) */
};
/* Is the store key (ferry_resource_key: "secrets") of a not_in_all kind? */
bool ferry_resource_key_not_in_all(const char *key);

/* NULL-terminated table of the known kinds: VirtualMachine,
 * VirtualMachineInstance, DataVolume, Node (ferry's node registration, kind
 * "Node", group ""), Event (core v1, for describe), Namespace (core v1),
 * KubeVirt, for Kubernetes mode Pod, PersistentVolumeClaim, batch/v1 Job
 * and coordination.k8s.io/v1 Lease, and core v1 Secret and ConfigMap (a
 * DataVolume's secretRef and certConfigMap).  A Secret's stringData is
 * merged into data (base64) on every write, as the API server does; data
 * values must be base64, keys [-._a-zA-Z0-9]+.
 *
 * Namespaces: every namespace given to the store (an object's
 * metadata.namespace, the ns argument of get/list/delete/watch) must be a
 * DNS-1123 label, else FERRY_ERR_INVALID:
 *   metadata.namespace: Invalid value: "Bad_NS": a lowercase RFC 1123 label must ...
 * With admission on, a namespaced object is created only in a Namespace that
 * exists (FERRY_ERR_NOTFOUND: namespaces "x" not found).  The sqlite driver
 * creates "default", "kube-system" and "kube-public" in a new store; they
 * cannot be deleted, and a Namespace that still holds objects cannot either
 * (Ferry does not empty a namespace for you, unlike the API server). */
extern const struct ferry_resource *const ferry_resources[];
/* The same entries by name, for code that means one kind: X(name) for each
 * ferry_resource_<name>, in the order of ferry_resources[]. */
#define FERRY_RESOURCE_NAMES(X)                                                                    \
    X(vm) X(vmi) X(dv) X(node) X(event) X(namespace) X(kubevirt) X(pod) X(pvc) X(job) X(lease)    \
    X(secret) X(configmap)
#define FERRY_RESOURCE_EXTERN(name) extern const struct ferry_resource *const ferry_resource_##name;
FERRY_RESOURCE_NAMES(FERRY_RESOURCE_EXTERN)
#undef FERRY_RESOURCE_EXTERN
/* "vm", "vms", "virtualmachine", "virtualmachines", "virtualmachines.kubevirt.io",
 * "VirtualMachine" -> the resource; NULL and an error otherwise. */
const struct ferry_resource *ferry_resource_lookup(const char *name);
const struct ferry_resource *ferry_resource_for_object(json_object *obj); /* by apiVersion+kind */

/* The state directory: $FERRY_STATE_DIR, else /var/lib/ferry as root, else
 * $XDG_STATE_HOME/ferry or ~/.local/state/ferry.  Static string. */
const char *ferry_state_dir(void);

struct ferry_store;

/* "sqlite:DIR", a plain DIR (sqlite), or NULL/"" for $FERRY_STORE (another
 * "where", set by `ferry --kubeconfig`), else ferry_state_dir().
 * The sqlite driver creates DIR (0700) and DIR/ferry.db (0600) if missing.
 * "kube:" talks to the API server of $KUBECONFIG (a ':' list merged as
 * client-go merges it), else ~/.kube/config, else the in-cluster config
 * (KUBERNETES_SERVICE_HOST/PORT and the service account's token, ca.crt and
 * namespace; $FERRY_KUBE_SERVICEACCOUNT_DIR replaces
 * /var/run/secrets/kubernetes.io/serviceaccount, for tests); "kube:FILE"
 * reads that kubeconfig.  Nothing is sent at open: a server that cannot be
 * reached fails the first call (FERRY_ERR_NETWORK).  The kube driver's
 * handle may be shared by threads and must not cross a fork(). */
int ferry_store_open(const char *where, struct ferry_store **ret);
/* What a daemon (ferry-controller, ferry-handler) opens, chosen as
 * KubeVirt's components choose: --store WHERE or --kubeconfig FILE as given
 * (both at once: FERRY_ERR_INVALID), else "kube:" when $KUBECONFIG is set or
 * when running in a pod ($KUBERNETES_SERVICE_HOST), else NULL (the state
 * directory's sqlite store).  *ret is NULL or a string the caller frees. */
int ferry_store_daemon_where(const char *store, const char *kubeconfig, char **ret);
/* The same for readers that must not create a store: FERRY_ERR_NOTFOUND
 * when DIR or DIR/ferry.db does not exist.  Either open refuses a 0-byte
 * ferry.db (FERRY_ERR_FORMAT): a new store is made under a private name and
 * linked into place, so an empty ferry.db is damage, not a new store. */
int ferry_store_open_existing(const char *where, struct ferry_store **ret);
/* Free the handle's watches first: they use it. */
void ferry_store_free(struct ferry_store *st);
/* Admission (common/admission.h) runs on create and update unless turned off
 * (tests of the store alone; a controller never turns it off). */
void ferry_store_set_admission(struct ferry_store *st, bool on);
/* Admission as the store runs it (common/admission.h), with the feature
 * gates of the store's KubeVirt CR: for callers that admit without writing
 * (apply's dry run and its unchanged check). */
int ferry_store_admit(struct ferry_store *st, json_object *obj, bool is_create, json_object *old);
/* How many changes the watch history keeps (default 10000, or
 * $FERRY_STORE_HISTORY); older resourceVersions get FERRY_ERR_EXPIRED.
 * Writers compact, each by its own setting: the smallest in use wins. */
void ferry_store_set_history(struct ferry_store *st, int64_t events);

/* ns NULL: namespace "default" for namespaced kinds (as kubectl without -n);
 * ignored for cluster-scoped kinds.  Not found: FERRY_ERR_NOTFOUND. */
int ferry_store_get(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                    const char *name, json_object **ret);
/* ns NULL: all namespaces. sel may be NULL.  Returns a json array of objects
 * ordered by namespace/name and the store's resourceVersion at list time
 * (to watch from).  ret_items NULL: only the resourceVersion, nothing read. */
int ferry_store_list(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                     const struct ferry_selector *sel, json_object **ret_items, int64_t *ret_rv);
/* obj must carry apiVersion, kind, metadata.name (metadata.generateName is
 * honoured); namespace defaults to "default" for namespaced kinds and is
 * dropped for cluster-scoped ones.  The store sets uid (random UUID v4),
 * creationTimestamp, generation 1 and resourceVersion; .status is dropped for
 * kinds with a status subresource (VM, VMI, DV: write it with
 * update_status after create).  Admission runs first (defaults applied to the
 * stored object, which ret returns). */
int ferry_store_create(struct ferry_store *st, json_object *obj, json_object **ret);
int ferry_store_update(struct ferry_store *st, json_object *obj, json_object **ret);
int ferry_store_update_status(struct ferry_store *st, json_object *obj, json_object **ret);
/* An RFC 7386 JSON merge patch (null deletes a key, arrays are replaced
 * whole) of the object res/ns/name; status: only the patch's .status, to
 * the status subresource (and nothing else of the patch but
 * metadata.resourceVersion).  A metadata.resourceVersion in the patch is a
 * precondition (FERRY_ERR_CONFLICT when stale); without one the patch
 * applies to whatever is stored.  The kube driver sends it as a PATCH
 * (application/merge-patch+json, fieldManager=ferry); strategic merge is
 * left out on purpose, custom resources do not support it.  Meant for
 * removing a finalizer or setting a label without a read-modify-write. */
int ferry_store_patch(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                      const char *name, json_object *merge_patch, bool status, json_object **ret);
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
/* Events for res (NULL: every kind) in ns (NULL: all namespaces; ignored
 * for cluster-scoped kinds):
 *   from_rv > 0: the changes strictly after from_rv (the rv a list returned,
 *                or the last event's resource_version, to resume);
 *                FERRY_ERR_EXPIRED when from_rv is older than the kept history.
 *   from_rv == 0: Kubernetes' "unset": first an ADDED event for every current
 *                object (by kind, namespace, name), then the changes after them.
 *   from_rv < 0: only the changes from now on.
 * Events come in resourceVersion order.  The object of a DELETED event is the
 * object as it was when removed, with the resourceVersion of the deletion.
 * Changes made through the same handle wake the watcher at once; other
 * processes' commits are noticed within ~10 ms. */
int ferry_store_watch(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                      int64_t from_rv, struct ferry_watch **ret);
/* The same, only for objects whose labels match sel (NULL: all, as
 * ferry_store_watch), as the API server's ?labelSelector= watch: an object
 * that stops matching comes as a DELETED event (with its new state).  from_rv
 * 0 lists only matching objects.  KubeVirt's handler watches its node's VMIs
 * this way (kubevirt.io/nodeName=NODE).  The kube driver sends the selector
 * to the server; the sqlite driver filters a plain watch on the client, where
 * an object that starts matching comes as MODIFIED (the server says ADDED),
 * and the change that made one stop matching is known only for objects this
 * watch saw matching (a resumed watch learns them as they change). */
int ferry_store_watch_selected(struct ferry_store *st, const struct ferry_resource *res,
                               const char *ns, const struct ferry_selector *sel,
                               int64_t from_rv, struct ferry_watch **ret);
/* 1 and an event (release it with ferry_event_release()); 0 on timeout
 * (timeout_ms; 0 polls, -1 waits forever); -1 on error (FERRY_ERR_EXPIRED
 * when the history moved past this watcher: re-list and watch again; after
 * any error, free the watch). */
int ferry_watch_next(struct ferry_watch *w, int timeout_ms, struct ferry_event *ret);
void ferry_watch_free(struct ferry_watch *w);

/* Record a core/v1 Event about obj (for describe); failures are ignored.
 * type "Normal" or "Warning", reason CamelCase ("SuccessfulCreate").  As
 * client-go's recorder: a repeat of the same object+type+reason+message bumps
 * count and lastTimestamp of one Event (named "<obj name>.<hash>", in obj's
 * namespace, "default" for cluster-scoped objects); involvedObject
 * {apiVersion, kind, name, namespace, uid, resourceVersion}, source.component
 * = the program name (ferry_log_init).  The oldest beyond 1000 are dropped.
 * List them with ferry_resource_event and match involvedObject.uid. */
void ferry_store_record_event(struct ferry_store *st, json_object *obj, const char *type,
                              const char *reason, const char *message);

#endif
