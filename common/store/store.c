/* The store's front: picks a driver from the "where" string, dispatches the
 * public calls to it, and knows the default state directory.  Argument checks
 * common to every driver live here so that drivers see sane input. */
#include "common/store/driver.h"
#include "common/cleanup.h"
#include "common/admission.h"
#include "common/error.h"
#include "common/json.h"
#include "common/keymap.h"
#include "common/object.h"
#include "common/name.h"
#include "common/util.h"

#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *state_dir;
static pthread_once_t state_dir_once = PTHREAD_ONCE_INIT;

static void
state_dir_init(void)
{
    const char *env = getenv("FERRY_STATE_DIR");
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");

    if (env && *env)
        state_dir = ferry_strdup(env);
    else if (geteuid() == 0)
        state_dir = ferry_strdup("/var/lib/ferry");
    else if (xdg && *xdg)
        state_dir = ferry_printf("%s/ferry", xdg);
    else {
        if (!home || !*home) {
            struct passwd *pw = getpwuid(geteuid());
            home = pw ? pw->pw_dir : "/tmp";
        }
        state_dir = ferry_printf("%s/.local/state/ferry", home);
    }
}

const char *
ferry_state_dir(void)
{
    pthread_once(&state_dir_once, state_dir_init);
    return state_dir;
}

static int
store_open(const char *where, bool create, struct ferry_store **ret)
{
    struct ferry_store *st = NULL;
    int r;

    if (!where || !*where)
        where = getenv("FERRY_STORE");
    if (!where || !*where)
        where = ferry_state_dir();
    if (ferry_str_has_prefix(where, "sqlite:"))
        r = ferry_sqlite_open(where + strlen("sqlite:"), create, &st);
    else if (ferry_str_has_prefix(where, "kube:"))
        r = ferry_kube_open(where + strlen("kube:"), &st);
    else
        r = ferry_sqlite_open(where, create, &st);
    if (r < 0)
        return -1;
    st->admission = true;
    *ret = st;
    return 0;
}

int
ferry_store_daemon_where(const char *store, const char *kubeconfig, char **ret)
{
    const char *env = getenv("KUBECONFIG");

    *ret = NULL;
    if (store && kubeconfig)
        return ferry_error(FERRY_ERR_INVALID, "--store '%s' and --kubeconfig '%s': give one "
                           "of them", store, kubeconfig);
    if (store)
        *ret = ferry_strdup(store);
    else if (kubeconfig)
        *ret = ferry_printf("kube:%s", kubeconfig);
    else if ((env && *env) || getenv("KUBERNETES_SERVICE_HOST"))
        *ret = ferry_strdup("kube:");
    return 0;
}

int
ferry_store_open(const char *where, struct ferry_store **ret)
{
    return store_open(where, true, ret);
}

int
ferry_store_open_existing(const char *where, struct ferry_store **ret)
{
    return store_open(where, false, ret);
}

void
ferry_store_free(struct ferry_store *st)
{
    if (st)
        st->ops->free(st);
}

void
ferry_store_set_admission(struct ferry_store *st, bool on)
{
    st->admission = on;
}

int
ferry_store_admit(struct ferry_store *st, json_object *obj, bool is_create, json_object *old)
{
    FERRY_AUTOPTR(json_object) kvs = NULL;
    struct ferry_admission_config cfg = { 0 };
    int r;

    if (st->ops->list(st, ferry_resource_kubevirt, NULL, NULL, &kvs, NULL) < 0) {
        /* a cluster without KubeVirt's CR kind (kube driver): no gates */
        if (ferry_error_code() != FERRY_ERR_UNSUPPORTED)
            return -1;
        ferry_error_reset();
    }
    if (kvs && json_object_array_length(kvs) > 0)
        ferry_admission_config_from_kubevirt(json_object_array_get_idx(kvs, 0), &cfg);
    r = ferry_admission_admit_config(obj, is_create, old, &cfg);
    ferry_admission_config_release(&cfg);
    return r;
}

void
ferry_store_set_history(struct ferry_store *st, int64_t events)
{
    if (st->ops->set_history)
        st->ops->set_history(st, events);
}

/* A namespace is a DNS-1123 label wherever it is given: it names a
 * directory under the state directory (common/volume.h). */
static int
check_namespace(const struct ferry_resource *res, const char *ns)
{
    if (res && !res->namespaced)
        return 0;
    if (ns && *ns && ferry_name_check_label("metadata.namespace", ns) < 0)
        return -1;
    return 0;
}

static int
check_name(const struct ferry_resource *res, const char *ns, const char *name)
{
    if (!res)
        return ferry_error(FERRY_ERR_INVALID, "store: no resource type given");
    if (!name || !*name)
        return ferry_error(FERRY_ERR_INVALID, "resource name may not be empty");
    return check_namespace(res, ns);
}

/* The API server's limit on a request body (apiserver's MaxRequestBodyBytes). */
#define REQUEST_MAX_BYTES (3 * 1024 * 1024)

static int
check_size(json_object *obj)
{
    size_t len = 0;

    json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
    if (len > REQUEST_MAX_BYTES)
        return ferry_error(FERRY_ERR_INVALID, "Request entity too large: limit is %d",
                           REQUEST_MAX_BYTES);
    return 0;
}

/* The object's metadata.namespace, when it has one, for a namespaced kind. */
static int
check_object(json_object *obj)
{
    const struct ferry_resource *res = ferry_resource_for_object(obj);
    json_object *ns = ferry_json_get(obj, "metadata.namespace");

    ferry_error_reset(); /* the driver reports an unknown kind itself */
    if (!res || !res->namespaced || !ns)
        return 0;
    if (!json_object_is_type(ns, json_type_string))
        return ferry_error(FERRY_ERR_INVALID, "metadata.namespace: Invalid value: %s: must be "
                           "a string", json_object_to_json_string(ns));
    if (check_namespace(res, json_object_get_string(ns)) < 0)
        return ferry_error_prefix("The %s \"%s\" is invalid", res->kind,
                                  ferry_json_get_string(obj, "metadata.name") ?: "");
    return 0;
}

int
ferry_store_get(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                const char *name, json_object **ret)
{
    if (check_name(res, ns, name) < 0)
        return -1;
    return st->ops->get(st, res, res->namespaced ? (ns && *ns ? ns : "default") : NULL, name,
                        ret);
}

int
ferry_store_list(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                 const struct ferry_selector *sel, json_object **ret_items, int64_t *ret_rv)
{
    if (!res)
        return ferry_error(FERRY_ERR_INVALID, "store: no resource type given");
    if (check_namespace(res, ns) < 0)
        return -1;
    return st->ops->list(st, res, res->namespaced && ns && *ns ? ns : NULL, sel, ret_items,
                         ret_rv);
}

/* What every write checks before the driver sees OBJ: a JSON object, its
 * metadata.namespace valid for its kind, and (SIZED) within the API
 * server's request limit.  VERB names the write in errors. */
static int
check_write(json_object *obj, const char *verb, bool sized)
{
    if (!obj || !json_object_is_type(obj, json_type_object))
        return ferry_error(FERRY_ERR_INVALID, "store: object to %s is not a JSON object", verb);
    if ((sized && check_size(obj) < 0) || check_object(obj) < 0)
        return -1;
    return 0;
}

/* The driver's write OP of OBJ, after check_write(). */
static int
write_checked(struct ferry_store *st, json_object *obj, json_object **ret, const char *verb,
              bool sized, int (*op)(struct ferry_store *, json_object *, json_object **))
{
    if (check_write(obj, verb, sized) < 0)
        return -1;
    return op(st, obj, ret);
}

int
ferry_store_create(struct ferry_store *st, json_object *obj, json_object **ret)
{
    return write_checked(st, obj, ret, "create", true, st->ops->create);
}

int
ferry_store_update(struct ferry_store *st, json_object *obj, json_object **ret)
{
    return write_checked(st, obj, ret, "update", true, st->ops->update);
}

int
ferry_store_update_status(struct ferry_store *st, json_object *obj, json_object **ret)
{
    return write_checked(st, obj, ret, "update", false, st->ops->update_status);
}

int
ferry_store_delete(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                   const char *name)
{
    if (check_name(res, ns, name) < 0)
        return -1;
    return st->ops->delete(st, res, res->namespaced ? (ns && *ns ? ns : "default") : NULL,
                           name);
}

int
ferry_store_watch(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                  int64_t from_rv, struct ferry_watch **ret)
{
    if (res && !res->namespaced)
        ns = NULL; /* cluster-scoped: a namespace filter would match nothing */
    if (check_namespace(res, ns) < 0)
        return -1;
    return st->ops->watch(st, res, ns && *ns ? ns : NULL, from_rv, ret);
}

/* A label-selected watch done on the client (sqlite): the events of a plain
 * watch, filtered as the API server filters them.  An object that stops
 * matching comes as DELETED (its new state), one that starts matching as the
 * event it came with (the server says ADDED; see store.h). */
struct sel_watch {
    struct ferry_watch base;
    struct ferry_watch *inner;
    struct ferry_selector *sel;
    struct ferry_keymap matching;   /* "kind/ns/name" of objects seen matching */
};

static int
sel_next(struct ferry_watch *base, int timeout_ms, struct ferry_event *ret)
{
    struct sel_watch *w = (struct sel_watch *)base;
    uint64_t deadline = timeout_ms < 0 ? 0 : ferry_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

    for (;;) {
        int left = timeout_ms;
        struct ferry_event ev;
        FERRY_AUTOFREE char *key = NULL;
        bool match, known, made;
        int r;

        if (timeout_ms > 0) {
            uint64_t now = ferry_now_ns();

            left = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
        }
        r = ferry_watch_next(w->inner, left, &ev);
        if (r != 1)
            return r;
        key = ferry_printf("%s/%s/%s", ferry_json_get_string(ev.object, "kind"),
                           ferry_obj_namespace(ev.object) ? ferry_obj_namespace(ev.object) : "",
                           ferry_obj_name(ev.object));
        match = ferry_selector_matches(w->sel, ferry_obj_labels(ev.object));
        known = ferry_keymap_get(&w->matching, key) != NULL;
        if (ev.type == FERRY_EVENT_DELETED) {
            ferry_keymap_remove(&w->matching, key);
            if (match || known) {
                *ret = ev;
                return 1;
            }
        } else if (match) {
            ferry_keymap_ensure(&w->matching, key, &made);
            *ret = ev;
            return 1;
        } else if (known) {
            ferry_keymap_remove(&w->matching, key);
            ev.type = FERRY_EVENT_DELETED;
            *ret = ev;
            return 1;
        }
        ferry_event_release(&ev);
        if (timeout_ms == 0 || (timeout_ms > 0 && ferry_now_ns() >= deadline))
            return 0;
    }
}

static void
sel_free(struct ferry_watch *base)
{
    struct sel_watch *w = (struct sel_watch *)base;

    ferry_watch_free(w->inner);
    ferry_selector_free(w->sel);
    ferry_keymap_release(&w->matching);
    free(w);
}

static const struct ferry_watch_ops sel_watch_ops = { sel_next, sel_free };

int
ferry_store_watch_selected(struct ferry_store *st, const struct ferry_resource *res,
                           const char *ns, const struct ferry_selector *sel, int64_t from_rv,
                           struct ferry_watch **ret)
{
    struct sel_watch *w;
    FERRY_AUTOFREE char *copy = NULL;

    if (!sel)
        return ferry_store_watch(st, res, ns, from_rv, ret);
    if (res && !res->namespaced)
        ns = NULL;
    if (check_namespace(res, ns) < 0)
        return -1;
    if (st->ops->watch_selected)
        return st->ops->watch_selected(st, res, ns && *ns ? ns : NULL, sel, from_rv, ret);
    w = ferry_calloc(1, sizeof *w);
    w->base.ops = &sel_watch_ops;
    ferry_keymap_init(&w->matching);
    copy = ferry_selector_to_string(sel);
    if (ferry_selector_parse(copy, &w->sel) < 0 ||
        ferry_store_watch(st, res, ns, from_rv, &w->inner) < 0) {
        sel_free(&w->base);
        return -1;
    }
    *ret = &w->base;
    return 0;
}

int
ferry_watch_next(struct ferry_watch *w, int timeout_ms, struct ferry_event *ret)
{
    return w->ops->next(w, timeout_ms, ret);
}

void
ferry_watch_free(struct ferry_watch *w)
{
    if (w)
        w->ops->free(w);
}

void
ferry_event_release(struct ferry_event *ev)
{
    if (!ev)
        return;
    json_object_put(ev->object);
    ev->object = NULL;
}

const char *
ferry_event_type_name(enum ferry_event_type t)
{
    switch (t) {
    case FERRY_EVENT_ADDED:
        return "ADDED";
    case FERRY_EVENT_MODIFIED:
        return "MODIFIED";
    case FERRY_EVENT_DELETED:
        return "DELETED";
    }
    return "UNKNOWN";
}

/* RFC 7386 applied to a copy of target. */
static json_object *
merge_apply(json_object *target, json_object *patch)
{
    json_object *out;

    if (!json_object_is_type(patch, json_type_object))
        return ferry_json_copy(patch);
    out = json_object_is_type(target, json_type_object) ? ferry_json_copy(target)
                                                        : json_object_new_object();
    json_object_object_foreach(patch, key, val) {
        json_object *cur = NULL;

        if (!val) {
            json_object_object_del(out, key);
            continue;
        }
        json_object_object_get_ex(out, key, &cur);
        json_object_object_add(out, key, merge_apply(cur, val));
    }
    return out;
}

int
ferry_store_patch(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
                  const char *name, json_object *patch, bool status, json_object **ret)
{
    const char *rv;

    if (check_name(res, ns, name) < 0)
        return -1;
    if (!json_object_is_type(patch, json_type_object))
        return ferry_error(FERRY_ERR_INVALID, "store: merge patch is not a JSON object");
    ns = res->namespaced ? (ns && *ns ? ns : "default") : NULL;
    if (st->ops->patch)
        return st->ops->patch(st, res, ns, name, patch, status, ret);
    rv = ferry_json_get_string(patch, "metadata.resourceVersion");
    for (int tries = 0;; tries++) {
        FERRY_AUTOPTR(json_object) cur = NULL;
        FERRY_AUTOPTR(json_object) obj = NULL;
        int r;

        if (st->ops->get(st, res, ns, name, &cur) < 0)
            return -1;
        if (status) {
            FERRY_AUTOPTR(json_object) part = json_object_new_object();
            if (ferry_json_get(patch, "status"))
                json_object_object_add(part, "status",
                                       json_object_get(ferry_json_get(patch, "status")));
            obj = merge_apply(cur, part);
        } else
            obj = merge_apply(cur, patch);
        if (rv)
            ferry_json_set_string(obj, "metadata.resourceVersion", rv);
        r = status ? ferry_store_update_status(st, obj, ret) : ferry_store_update(st, obj, ret);
        if (r == 0 || rv || ferry_error_code() != FERRY_ERR_CONFLICT || tries >= 4)
            return r;
        ferry_error_reset();
    }
}

void
ferry_store_record_event(struct ferry_store *st, json_object *obj, const char *type,
                         const char *reason, const char *message)
{
    if (st && obj && st->ops->record_event)
        st->ops->record_event(st, obj, type, reason, message);
}
