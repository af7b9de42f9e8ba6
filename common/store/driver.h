/* The store's driver interface (internal to common/store): each driver fills
 * a struct ferry_store_ops and embeds struct ferry_store as the first member
 * of its own handle, the way libvirt's drivers fill a virHypervisorDriver.
 * store.c dispatches the public ferry_store_* calls through it.  Callers of
 * the store never include this file. */
#ifndef FERRY_STORE_DRIVER_H
#define FERRY_STORE_DRIVER_H

#include "common/store/store.h"

struct ferry_store_ops {
    const char *name;
    void (*free)(struct ferry_store *st);
    int (*get)(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
               const char *name, json_object **ret);
    int (*list)(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                const struct ferry_selector *sel, json_object **ret_items, int64_t *ret_rv);
    int (*create)(struct ferry_store *st, json_object *obj, json_object **ret);
    int (*update)(struct ferry_store *st, json_object *obj, json_object **ret);
    int (*update_status)(struct ferry_store *st, json_object *obj, json_object **ret);
    int (*delete)(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                  const char *name);
    int (*watch)(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                 int64_t from_rv, struct ferry_watch **ret);
    void (*record_event)(struct ferry_store *st, json_object *obj, const char *type,
                         const char *reason, const char *message);
    void (*set_history)(struct ferry_store *st, int64_t events);
    /* Optional (appended): a merge patch done by the server (kube).  When
     * NULL, store.c applies the patch to a read object and updates. */
    int (*patch)(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                 const char *name, json_object *merge_patch, bool status, json_object **ret);
    /* Optional (appended): a watch filtered by a label selector on the
     * server (kube).  When NULL, store.c filters the events of a plain
     * watch (ferry_store_watch_selected). */
    int (*watch_selected)(struct ferry_store *st, const struct ferry_resource *res,
                          const char *ns, const struct ferry_selector *sel, int64_t from_rv,
                          struct ferry_watch **ret);
};

struct ferry_store {
    const struct ferry_store_ops *ops;
    bool admission;      /* run ferry_admission_admit() on create/update */
};

struct ferry_watch_ops {
    int (*next)(struct ferry_watch *w, int timeout_ms, struct ferry_event *ret);
    void (*free)(struct ferry_watch *w);
};

struct ferry_watch {
    const struct ferry_watch_ops *ops;
};

/* Drivers: "sqlite:DIR" / "DIR", and "kube:" / "kube:KUBECONFIG" (kube.c). */
int ferry_sqlite_open(const char *dir, bool create, struct ferry_store **ret);
int ferry_kube_open(const char *arg, struct ferry_store **ret);

/* "virtualmachines.kubevirt.io", "nodes": the key objects are filed under,
 * and the resource name the API server's messages use. */
const char *ferry_resource_key(const struct ferry_resource *res, char *buf, size_t size);

#endif
