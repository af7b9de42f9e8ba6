/* ferry-controller as a library: the DataVolume, VirtualMachine and VMI
 * placement reconcilers and the loop that feeds them from store watches
 * (virt-controller and cdi-controller in one process).  main.c parses options
 * and calls ferry_controller_run(); tests link ferry-controller-lib and drive
 * the same code.
 *
 * The loop is level-triggered: a watch event or the periodic resync only marks
 * an object "dirty"; the reconciler then reads the object from the informer's
 * cache (common/informer.h; the store is touched only to write),
 * compares what is wanted with what is there, acts, and writes status when it
 * changed.  Nothing the loop keeps in memory is needed for correctness after a
 * restart: import jobs are guarded by a lock file in the volume directory and
 * their success by a done record written after the importer exited 0. */
#ifndef FERRY_CONTROLLER_H
#define FERRY_CONTROLLER_H

#include <signal.h>
#include <stdbool.h>

struct ferry_controller_opts {
    const char *state_dir;        /* volumes live in <state_dir>/volumes */
    const char *store;            /* store location, NULL: state_dir */
    const char *importer;         /* ferry-importer path */
    const char *converter;        /* ferry-converter path (guest conversion) */
    int max_imports;              /* concurrent import jobs (default 2) */
    int import_retries;           /* failed attempts before the DV is Failed (default 5) */
    int import_backoff_ms;        /* first retry delay, doubles per failure (default 10000) */
    int import_backoff_max_ms;    /* cap (default 300000) */
    int resync_ms;                /* periodic full resync (default 30000) */
    int node_ready_seconds;       /* heartbeat age still counted Ready (default 40) */
    int vm_backoff_s;             /* start-failure backoff base (default 10) */
    int vm_backoff_max_s;         /* cap (default 300) */
    int workers;                  /* reconcile workers per batch (0: 4 with a
                                   * kube store, else 1 (inline);
                                   * $FERRY_CONTROLLER_WORKERS) */
    /* Kubernetes mode (issue 16).  kube_objects: -1 auto (on when the store
     * is "kube:..."; FERRY_KUBE_OBJECTS=1 turns it on for a SQLite store, for
     * tests), 0 off, 1 on: DataVolumes get a PVC and an importer Job, VMIs a
     * launcher Pod, instead of local volumes and handler-run launchers. */
    int kube_objects;
    /* Leader election over a Lease: -1 auto (on for a kube store, off for
     * SQLite), 0 off, 1 on.  Namespace NULL: $POD_NAMESPACE or kube-system;
     * name NULL: ferry-controller. */
    int leader_elect;
    const char *lease_namespace;
    const char *lease_name;
    const char *leader_identity;  /* NULL: hostname_random */
    int lease_duration_s;         /* 0: 15 */
    int renew_deadline_ms;        /* 0: 10000 */
    int retry_period_ms;          /* 0: 2000 */
    /* Kubernetes mode's images */
    const char *launcher_image;   /* NULL: ferry/ferry-launcher:<version> */
    const char *importer_image;   /* NULL: ferry/ferry-importer:<version> */
    const char *converter_image;  /* NULL: ferry/ferry-converter:<version> */
};

/* Fill defaults, then let FERRY_IMPORT_RETRIES, FERRY_IMPORT_BACKOFF_MS,
 * FERRY_MAX_IMPORTS, FERRY_RESYNC_MS, FERRY_VM_BACKOFF_S and
 * FERRY_CONTROLLER_WORKERS override them. */
void ferry_controller_opts_init(struct ferry_controller_opts *o);

struct ferry_controller;
int ferry_controller_new(const struct ferry_controller_opts *o, struct ferry_controller **ret);
/* Kills running import jobs (they are restarted by the next controller). */
void ferry_controller_free(struct ferry_controller *c);
/* Run until *stop becomes non-zero. Returns 0, or -1 on a store error that
 * does not go away, or when leadership was lost (the process must exit, as
 * KubeVirt's and CDI's controllers do).  With leader election it first waits
 * to become the leader. */
int ferry_controller_run(struct ferry_controller *c, volatile sig_atomic_t *stop);

/* Annotations and names Ferry adds (documented in ferry-controller(1)). */
#define FERRY_FINALIZER_VOLUME "ferry.io/volume-cleanup"    /* on DataVolumes */
#define FERRY_FINALIZER_NODE "ferry.io/node-cleanup"        /* on VMIs, removed by the handler */
#define FERRY_ANN_UPLOAD "ferry.io/upload"                  /* "done" when image-upload finished */
/* On VMs: "pending" asks for the guest conversion before the first start;
 * the controller writes "converted: <os>" or "failed: <why>", and the
 * changes one a line in the second. */
#define FERRY_ANN_GUEST_CONVERSION "ferry.io/guest-conversion"
#define FERRY_ANN_GUEST_CONVERSION_CHANGES "ferry.io/guest-conversion-changes"
#define FERRY_GUEST_CONVERSION_PENDING "pending"

/* The volume paths and the done record: common/volume.h. */

#endif
