/* What the reconcilers of ferry-controller share: the controller state, the
 * work queue (dirty keys with a not-before time) and a small string map. */
#ifndef FERRY_CONTROLLER_INTERNAL_H
#define FERRY_CONTROLLER_INTERNAL_H

#include "controller/controller.h"
#include "common/expectations.h"
#include "common/informer.h"
#include "common/keymap.h"
#include "common/leaderelection.h"
#include "common/store/store.h"
#include "common/workqueue.h"
#include "common/volume.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A string-keyed hash map of owned values: common/keymap.h's map, the
 * value in each entry's ptr, freed by free_value. */
struct strmap {
    struct ferry_keymap map;
    void (*free_value)(void *);
};
void strmap_init(struct strmap *m, void (*free_value)(void *));
void strmap_release(struct strmap *m);
void *strmap_get(struct strmap *m, const char *key);
/* Replaces (and frees) an existing value. */
void strmap_put(struct strmap *m, const char *key, void *value);
void strmap_remove(struct strmap *m, const char *key);
/* Calls fn for each entry; fn may not modify the map. */
void strmap_foreach(struct strmap *m, void (*fn)(const char *key, void *value, void *opaque),
                    void *opaque);

/* Queue kinds: the first character of a key, then "ns/name". */
enum { Q_DV = 'D', Q_VM = 'M', Q_VMI = 'I' };

/* One import job (a ferry-importer child) or the memory of a failed one. */
struct dvjob {
    char *uid;               /* the DV it works for */
    pid_t pid;               /* 0 when not running */
    int out_fd;              /* its stdout (progress JSON lines), -1 when closed */
    char line[4096];
    size_t line_len;
    uint64_t bytes_done, bytes_total;
    bool exited;
    int status;              /* wait status once exited */
    bool saw_done;           /* final {"phase":"done"} line seen */
    bool started;            /* a progress line seen: it runs (CDI: pod Running) */
    bool started_written;    /* ... and ImportInProgress written for it */
    uint64_t retry_at_ns;    /* monotonic; 0: no pending backoff */
    uint64_t last_write_ns;  /* last progress status write */
    char *last_progress;
};

/* How the DataVolume reconciler runs an import job.  The real table
 * (ferry_import_ops_spawn) starts ferry-importer with ferry_spawn(); the unit
 * tests put a fake importer in its place and drive the same reconciler. */
struct ferry_import_ops {
    /* Start argv with lock_fd as its fd 3 and stderr to log_fd (both stay
     * the caller's).  *ret_pid (> 0) names the job, *ret_out_fd is a
     * non-blocking pipe of its JSON progress lines (stdout). */
    int (*start)(void *opaque, char *const argv[], int lock_fd, int log_fd, pid_t *ret_pid,
                 int *ret_out_fd);
    /* Without blocking: 1 and the wait status when the job ended (it is then
     * forgotten), 0 while it runs, -1 on error. */
    int (*poll)(void *opaque, pid_t pid, int *ret_status);
    /* Stop it now (no grace: a restarted import starts over) and reap it. */
    void (*cancel)(void *opaque, pid_t pid);
};
extern const struct ferry_import_ops ferry_import_ops_spawn;

/* How DataVolumes become volumes: "local" (a volume directory under the
 * state directory filled by a ferry-importer child, datavolume.c) or "kube"
 * (a PersistentVolumeClaim and a batch/v1 importer Job running
 * ferry-importer with CDI's environment, dvkube.c). */
struct ferry_dv_ops {
    const char *name;
    /* The DV as just read (reconcile may change it). */
    int (*reconcile)(struct ferry_controller *c, json_object *dv);
    /* The DV ns/name is gone: drop what is kept for it. */
    void (*forget)(struct ferry_controller *c, const char *ns, const char *name);
};
extern const struct ferry_dv_ops ferry_dv_ops_local;
extern const struct ferry_dv_ops ferry_dv_ops_kube;

struct ferry_controller {
    struct ferry_controller_opts o;
    const struct ferry_import_ops *import_ops; /* ferry_import_ops_spawn unless a test's */
    const struct ferry_dv_ops *dv_ops;         /* local, or kube in Kubernetes mode */
    void *import_opaque;
    char *state_dir;
    char *importer;
    struct ferry_store *st;
    /* DV, VM, VMI, Node, Pod, Job, PVC: the listers reconcilers read (NULL
     * or not yet synced: reads go to the store, as in the unit tests that
     * call reconcilers without the loop) */
    struct ferry_informer *inf;
    struct ferry_workqueue *queue;  /* keys "<kind char>ns/name" (client-go's semantics) */
    struct ferry_expectations *expect; /* "<kind char>ns/name" of owners -> children to see */
    bool store_is_kube;      /* the store is an API server: no state directory of ours */
    bool kube_objects;       /* Kubernetes mode: PVC + importer Job, launcher Pod */
    struct ferry_leader *leader;    /* NULL without --leader-elect */
    struct strmap jobs;      /* "ns/name" -> struct dvjob */
    struct strmap dv_users;  /* "ns/dvname" -> "ns/vmname" (a VM waiting for this DV) */
    struct strmap convs;     /* "ns/vmname" -> struct guestjob (guestconv.c) */
    char *converter;         /* ferry-converter path */
    int running_imports;
    int lock_fd;             /* flock()ed run/ferry-controller.lock */
    pthread_mutex_t mu;      /* held by a batch's workers (process_queue) */
    bool in_batch;           /* workers run: ctl_write_status drops mu around its write */
};

/* Mark a key dirty, due after delay_ms (0: now). An earlier due time wins
 * (the work queue's add_after). */
void ctl_enqueue(struct ferry_controller *c, char kind, const char *ns, const char *name,
                 int delay_ms);

/* The same for KEY, "ns/name" as the job maps have it. */
void ctl_enqueue_key(struct ferry_controller *c, char kind, const char *key, int delay_ms);

/* An object changed (or is resynced): mark it and its owner dirty. */
void ctl_enqueue_for(struct ferry_controller *c, const struct ferry_resource *res,
                     json_object *obj, bool added);

/* Reads, through the informer's listers once it has synced, else from the
 * store.  ctl_get: a shared, READ-ONLY object (do not change it; a cached
 * object is shared with the cache); ctl_get_copy: a private copy to change.
 * Not found: FERRY_ERR_NOTFOUND, as the store. */
int ctl_get(struct ferry_controller *c, const struct ferry_resource *res, const char *ns,
            const char *name, json_object **ret);
int ctl_get_copy(struct ferry_controller *c, const struct ferry_resource *res, const char *ns,
                 const char *name, json_object **ret);
/* A json array of shared, read-only objects (ns NULL: all; sel may be NULL). */
int ctl_list(struct ferry_controller *c, const struct ferry_resource *res, const char *ns,
             const struct ferry_selector *sel, json_object **ret);
/* We just wrote obj (the store's answer): the informer's cache takes it when
 * newer, so our next read is not older than our own write. */
void ctl_observe(struct ferry_controller *c, json_object *obj);

/* Reconcilers: 0 when done (or requeued), -1 on a store error (the caller
 * logs it and requeues with a delay). */
int ferry_dv_reconcile(struct ferry_controller *c, const char *ns, const char *name);
int ferry_vm_reconcile(struct ferry_controller *c, const char *ns, const char *name);
int ferry_vmi_reconcile(struct ferry_controller *c, const char *ns, const char *name);

/* Import jobs: read progress from their pipes, collect exits (marking their
 * DVs dirty), and kill them all at shutdown. */
void ferry_dv_poll_jobs(struct ferry_controller *c);
void ferry_dv_reap_jobs(struct ferry_controller *c);
void ferry_dv_kill_jobs(struct ferry_controller *c);
void dvjob_free(void *p);

/* DataVolume pieces both tables use (datavolume.c). */
const char *ctl_dv_phase(json_object *status);                /* "" when unset */
const char *ctl_dv_source_kind(json_object *dv);
/* "spec.source.KIND.secretRef: Unsupported value: ..." when a credential
 * field of the DV's source has no option in this importer, else NULL. */
char *ctl_dv_unsupported_field(json_object *dv, const char *kind);              /* "http", "blank" ... or NULL */
char *ctl_dv_size_string(json_object *dv);                    /* spec.storage / spec.pvc request */
void ctl_dv_set_phase(struct ferry_controller *c, json_object *dv, json_object *status,
                      const char *phase, const char *ev_type, const char *reason, const char *msg);
int ctl_dv_succeed(struct ferry_controller *c, json_object *dv, json_object *status,
                   const char *name);
int ctl_dv_fail(struct ferry_controller *c, json_object *dv, json_object *status,
                const char *reason, const char *msg);
int ctl_dv_check_source(struct ferry_controller *c, json_object *dv, json_object *status,
                        const char **ret_src);

/* Kubernetes mode's objects, built without I/O (dvkube.c, vmipod.c). */
char *ctl_kube_job_name(const char *prefix, const char *name); /* <= 63, hashed */
char *ctl_kube_importer_name(const char *dv);                 /* importer-<dv>, <= 63 */
bool ctl_kube_dv_is_block(json_object *dv);
/* The DV's PersistentVolumeClaim / importer Job; FERRY_ERR_INVALID for a
 * DV without a size (the PVC) or a source (the Job). */
int ctl_kube_dv_pvc(json_object *dv, json_object **ret);
int ctl_kube_dv_job(const struct ferry_controller_opts *o, json_object *dv, json_object **ret);
/* A batch/v1 Job NAME in OWNER's namespace, controlled by it, managed-by
 * ferry, BACKOFF retries, pods of restartPolicy Never with CDI's restricted
 * security context (uid/fsGroup 107, no capabilities, no privilege
 * escalation) and one container CTR_NAME running COMMAND in IMAGE, its
 * termination message at /dev/termination-log.  *ret_pod (the template's
 * spec) and *ret_ctr are the Job's, to add to. */
json_object *ctl_kube_job_new(json_object *owner, const char *name, const char *ctr_name,
                              const char *image, const char *const *command, int backoff,
                              json_object **ret_pod, json_object **ret_ctr);
/* Create WANT, its creation expected under EKEY (the owner's
 * ferry_expectations key): 1 created (*ret), 0 it exists already (made
 * meanwhile: look again), -1 error. */
int ctl_kube_create_expected(struct ferry_controller *c, const char *ekey, json_object *want,
                             json_object **ret);
/* The claim as the pod's VOLUME, at PATH in the container: a volumeMount, or
 * a volumeDevice when BLOCK. */
void ctl_kube_job_add_claim(json_object *pod, json_object *ctr, const char *volume,
                            const char *claim, bool block, const char *path);
/* A pod's container termination message (state, else lastState), the
 * "message" of a JSON one; NULL when none. */
char *ctl_kube_termination_message(json_object *pod);
/* The pods of SELECTOR in NS, counted by phase, the newest of each end. */
struct ctl_pods_view {
    int running, pending, failed, succeeded;
    json_object *newest; /* borrowed from items */
    json_object *newest_failed;
    json_object *newest_succeeded;
};
int ctl_kube_view_pods(struct ferry_controller *c, const char *ns, const char *selector,
                       json_object **ret_items, struct ctl_pods_view *v);
/* The VMI's launcher Pod; block_claims lists the claims whose PVC is Block. */
int ctl_kube_vmi_pod(const struct ferry_controller_opts *o, json_object *vmi,
                     json_object *block_claims, json_object **ret);
/* Placement through the Pod: status is the VMI's working status (phase set). */
int ctl_kube_vmi_reconcile(struct ferry_controller *c, json_object *vmi, json_object *status);
/* A VMI the handler owns (Scheduled, Running): Failed when its launcher Pod
 * is gone (virt-controller's rule); the VM's run strategy takes it from there. */
int ctl_kube_vmi_check_pod(struct ferry_controller *c, json_object *vmi, json_object *status);

/* Guest conversion before a VM's first start (guestconv.c). */
enum ctl_guest_step {
    CTL_GUEST_NONE,     /* not asked for (or done): the VM starts as it would */
    CTL_GUEST_WAIT,     /* asked; its volumes are not all ready */
    CTL_GUEST_CONVERT,  /* asked, volumes ready: convert (or it is converting) */
    CTL_GUEST_FAILED,   /* this controller's conversion failed: the VM does not start */
};
/* What the VM's annotation and GuestConversion condition call for. */
enum ctl_guest_step ctl_guest_step(json_object *vm, bool volumes_ready);
/* The claim (DataVolume or PVC) names of the VM's disks, in the order of
 * domain.devices.disks (CD-ROMs and LUNs left out); NULL when none. */
char **ctl_guest_claims(json_object *vm);
/* From `ferry-converter --convert-guest`'s output and log (LOG may be
 * NULL): "converted: <os>" or "failed: <why>", and the changes one a line
 * (NULL when none), cut to 32 KiB at a line with a count of the rest. */
void ctl_guest_parse_report(const char *log, char **ret_result, char **ret_changes);
/* For a VM that is to start now, its volumes ready: 1 it may start, 0 not
 * yet (converting, backing off, failed, refused; status conditions set and
 * the VM requeued where needed), -1 on a store error.  *ret_converting says
 * the conversion is under way (printableStatus Provisioning). */
int ctl_guest_gate(struct ferry_controller *c, json_object *vm, json_object *status,
                   bool *ret_converting);
/* Kubernetes mode: the VM's conversion Job guestconv-<vm> on CLAIMS, BLOCK[i]
 * saying claim i's PVC is volumeMode Block. */
int ctl_guest_kube_job(const struct ferry_controller_opts *o, json_object *vm,
                       char *const *claims, const bool *block, json_object **ret);
/* The VM is gone: stop its conversion, remove its log. */
void ctl_guest_forget(struct ferry_controller *c, const char *ns, const char *name);
void ctl_guest_reap_jobs(struct ferry_controller *c);
void ctl_guest_kill_jobs(struct ferry_controller *c);
void ctl_guestjob_free(void *p);

/* Placement: the name of the Ready node (heartbeat younger than
 * node_ready_seconds), or NULL; *ret_total counts Node objects. */
char *ferry_placement_ready_node(struct ferry_controller *c, int *ret_total);
/* Scheduling -> Scheduled on NODE, both ways a VMI gets there (placement.c,
 * vmipod.c): the nodeName label first (metadata; VMI, the caller's copy,
 * takes the stored metadata), then phase and nodeName into STATUS for the
 * caller to write. */
int ctl_vmi_assign_node(struct ferry_controller *c, json_object *vmi, json_object *status,
                        const char *node);

/* Helpers shared by the reconcilers. */
json_object *ctl_status_copy(json_object *obj);              /* status deep copy or {} */
/* Write status when it differs from obj's; returns 0 (also when unchanged). */
int ctl_write_status(struct ferry_controller *c, json_object *obj, json_object *status);
/* Set (st non-NULL) or remove a condition in a bare status object, with
 * ferry_condition_set()'s rules for lastTransitionTime. */
void ctl_status_condition(json_object *status, const char *type, const char *st,
                          const char *reason, const char *message);
/* A condition's message from TEXT, what an importer wrote (its last log line,
 * its termination message): the string KEY when TEXT is a JSON object with
 * one (SOURCE names TEXT in a parse error, which is dropped), else TEXT
 * without trailing white space.  A copy. */
char *ctl_message_text(const char *text, const char *source, const char *key);
bool ctl_is_deleting(json_object *obj);
bool ctl_has_finalizer(json_object *obj, const char *f);
/* Add or remove a finalizer with a metadata update; 0 also when nothing to do. */
int ctl_set_finalizer(struct ferry_controller *c, json_object *obj, const char *f, bool on);

#endif
