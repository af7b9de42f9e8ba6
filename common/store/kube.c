/* The "kube" store driver: the store's operations as requests to a real
 * Kubernetes API server, so that the controllers, the handler and the CLI
 * run unchanged on a cluster (issue 16).  Objects stay json-c trees from
 * the wire to the caller, so fields Ferry does not know survive a
 * read-modify-write.  Where the API server's semantics and store.h's differ,
 * this file bridges them:
 *   - an update without metadata.resourceVersion is unconditional: the
 *     driver reads the current version and retries on conflict (custom
 *     resources refuse PUTs without one);
 *   - update ignores .status and update_status writes only .status even for
 *     a kind whose CRD has no status subresource (KubeVirt's VMI): the
 *     driver finds out by discovery and keeps the stored status (update) or
 *     the stored object (update_status) itself;
 *   - list items get their apiVersion and kind back (the server leaves them
 *     out of lists of built-in kinds);
 *   - admission (common/admission.h) runs on create only, where a webhook
 *     (virt-api) would default what Ferry itself creates (a VMI from a VM
 *     template); objects written by kubectl are the cluster's business.
 * Every write carries fieldManager=ferry. */
#include "common/store/kube-internal.h"
#include "common/store/apiserver.h"
#include "common/admission.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIELD_MANAGER "fieldManager=ferry"
#define PAGE_SIZE 500
#define UPDATE_TRIES 5

int64_t
ferry_kube_parse_rv(const char *rv)
{
    char *end;
    long long v;

    if (!rv || !*rv)
        return -1;
    v = strtoll(rv, &end, 10);
    if (*end || v < 0)
        return -1;
    return v;
}

static int
res_index(const struct ferry_resource *res)
{
    for (int i = 0; ferry_resources[i] && i < 32; i++)
        if (ferry_resources[i] == res)
            return i;
    return -1;
}

static void
set_type(json_object *obj, const struct ferry_resource *res)
{
    if (!ferry_json_get_string(obj, "apiVersion")) {
        FERRY_AUTOFREE char *av = res->group[0] ? ferry_printf("%s/%s", res->group, res->version)
                                                : ferry_strdup(res->version);
        ferry_json_set_string(obj, "apiVersion", av);
    }
    if (!ferry_json_get_string(obj, "kind"))
        ferry_json_set_string(obj, "kind", res->kind);
}

/* One request with a JSON answer: 0 and the object for a 2xx, else the
 * server's error. */
static int
call(struct kube_store *k, const char *verb, const struct ferry_resource *res,
     const char *method, const char *path, const char *ctype, json_object *body,
     json_object **ret)
{
    struct kube_resp resp;
    const char *text = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
    json_object *obj;
    int r;

    if (ferry_kube_http_request(k->http, method, path, ctype, text, &resp) < 0)
        return -1;
    if (resp.code < 200 || resp.code > 299) {
        r = ferry_kube_error(verb, res, resp.code, resp.body, resp.len);
        ferry_kube_resp_release(&resp);
        return r;
    }
    if (!ret) {
        ferry_kube_resp_release(&resp);
        return 0;
    }
    r = ferry_json_parse(resp.body ? resp.body : "", resp.len, ferry_kube_http_server(k->http),
                         &obj);
    ferry_kube_resp_release(&resp);
    if (r < 0)
        return -1;
    *ret = obj;
    return 0;
}

/* A write (create, update, patch): the object the server answers, typed,
 * in *RET (NULL: dropped). */
static int
write_obj(struct kube_store *k, const char *verb, const struct ferry_resource *res,
          const char *method, const char *path, const char *ctype, json_object *body,
          json_object **ret)
{
    json_object *out;

    if (call(k, verb, res, method, path, ctype, body, &out) < 0)
        return -1;
    set_type(out, res);
    if (ret)
        *ret = out;
    else
        json_object_put(out);
    return 0;
}

/* Does the server serve RES's status subresource?  Discovery, once. */
static bool
server_status_sub(struct kube_store *k, const struct ferry_resource *res)
{
    int i = res_index(res);
    int8_t known;
    FERRY_AUTOPTR(json_object) list = NULL;
    FERRY_AUTOFREE char *path = NULL, *want = NULL;
    bool yes = false;

    if (!res->status_subresource)
        return false;
    if (i < 0)
        return true;
    pthread_mutex_lock(&k->lock);
    known = k->status_sub[i];
    pthread_mutex_unlock(&k->lock);
    if (known)
        return known > 0;
    path = res->group[0] ? ferry_printf("/apis/%s/%s", res->group, res->version)
                         : ferry_printf("/api/%s", res->version);
    if (call(k, "discover", res, "GET", path, NULL, NULL, &list) < 0) {
        /* unknown: assume KubeVirt's CRDs (no status subresource on VMIs) */
        ferry_error_reset();
        return res != ferry_resource_vmi;
    }
    want = ferry_printf("%s/status", res->plural);
    json_object *arr = ferry_json_get(list, "resources");
    for (size_t j = 0; json_object_is_type(arr, json_type_array) &&
                       j < json_object_array_length(arr); j++)
        if (ferry_str_eq(ferry_json_get_string(json_object_array_get_idx(arr, j), "name"), want))
            yes = true;
    pthread_mutex_lock(&k->lock);
    k->status_sub[i] = yes ? 1 : -1;
    pthread_mutex_unlock(&k->lock);
    ferry_log_debug("store.kube", "%s: status subresource %s", res->plural, yes ? "yes" : "no");
    return yes;
}

/* ---- get, list -------------------------------------------------------- */

static int
kube_get(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
         const char *name, json_object **ret)
{
    FERRY_AUTOFREE char *path = ferry_kube_path(res, ns, name, NULL);
    json_object *obj;

    if (call(KUBE(st), "get", res, "GET", path, NULL, NULL, &obj) < 0)
        return -1;
    set_type(obj, res);
    *ret = obj;
    return 0;
}

int
ferry_kube_list(struct kube_store *k, const struct ferry_resource *res, const char *ns,
                const char *selector, json_object **ret_items, int64_t *ret_rv)
{
    FERRY_AUTOPTR(json_object) items = json_object_new_array();
    FERRY_AUTOFREE char *base = ferry_kube_path(res, ns, NULL, NULL);
    FERRY_AUTOFREE char *cont = NULL, *esel = NULL;
    int64_t rv = -1;
    int restarts = 0;

    if (selector && *selector)
        esel = ferry_kube_escape(selector);
    for (;;) {
        FERRY_AUTOPTR(json_object) page = NULL;
        FERRY_AUTOFREE char *path = ferry_printf(
            "%s?limit=%d%s%s%s%s", base, ret_items ? PAGE_SIZE : 1, esel ? "&labelSelector=" : "",
            esel ? esel : "", cont ? "&continue=" : "", cont ? cont : "");
        json_object *arr;
        const char *next;

        if (call(k, "list", res, "GET", path, NULL, NULL, &page) < 0) {
            if (cont && ferry_error_code() == FERRY_ERR_EXPIRED && restarts++ < 3) {
                /* the continue token outlived the history: start again */
                ferry_error_reset();
                free(cont);
                cont = NULL;
                json_object_put(items);
                items = json_object_new_array();
                continue;
            }
            return -1;
        }
        if (rv < 0 || !cont)
            rv = ferry_kube_parse_rv(ferry_json_get_string(page, "metadata.resourceVersion"));
        if (!ret_items)
            break;
        arr = ferry_json_get(page, "items");
        for (size_t i = 0; json_object_is_type(arr, json_type_array) &&
                           i < json_object_array_length(arr); i++) {
            json_object *o = json_object_get(json_object_array_get_idx(arr, i));
            set_type(o, res);
            json_object_array_add(items, o);
        }
        next = ferry_json_get_string(page, "metadata.continue");
        free(cont);
        cont = next && *next ? ferry_kube_escape(next) : NULL;
        if (!cont)
            break;
    }
    if (rv < 0)
        return ferry_error(FERRY_ERR_FORMAT, "list %s: the server's answer has no decimal "
                           "metadata.resourceVersion", res->plural);
    if (ret_items)
        *ret_items = FERRY_STEAL(items);
    if (ret_rv)
        *ret_rv = rv;
    return 0;
}

static int
kube_list(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
          const struct ferry_selector *sel, json_object **ret_items, int64_t *ret_rv)
{
    FERRY_AUTOFREE char *s = NULL;

    if (sel) {
        s = ferry_selector_to_string(sel);
        if (!s) { /* selects nothing: still the resourceVersion */
            if (ferry_kube_list(KUBE(st), res, ns, NULL, NULL, ret_rv) < 0)
                return -1;
            if (ret_items)
                *ret_items = json_object_new_array();
            return 0;
        }
    }
    return ferry_kube_list(KUBE(st), res, ns, s, ret_items, ret_rv);
}

/* ---- create, update, delete ------------------------------------------- */

/* Admission with the gates of the cluster's KubeVirt CR, if it has one. */
static int
admit(struct kube_store *k, json_object *obj)
{
    FERRY_AUTOPTR(json_object) kvs = NULL;
    struct ferry_admission_config cfg = { 0 };
    const char *kind = ferry_json_get_string(obj, "kind");
    int r;

    if (!ferry_str_eq(kind, "VirtualMachine") && !ferry_str_eq(kind, "VirtualMachineInstance") &&
        !ferry_str_eq(kind, "DataVolume"))
        return 0;
    if (ferry_kube_list(k, ferry_resource_kubevirt, NULL, NULL, &kvs, NULL) < 0) {
        if (ferry_error_code() != FERRY_ERR_UNSUPPORTED &&
            !(ferry_error_code() == FERRY_ERR_SECURITY &&
              ferry_str_has_prefix(ferry_error_message(), "permission denied")))
            return -1;
        ferry_error_reset(); /* no KubeVirt CR kind on this cluster: no gates */
    }
    if (kvs && json_object_array_length(kvs) > 0)
        ferry_admission_config_from_kubevirt(json_object_array_get_idx(kvs, 0), &cfg);
    r = ferry_admission_admit_config(obj, true, NULL, &cfg);
    ferry_admission_config_release(&cfg);
    return r;
}

/* Resource, namespace (defaulted) and name of an object to write. */
static int
identify(json_object *obj, const struct ferry_resource **ret_res, const char **ret_ns,
         const char **ret_name, bool need_name)
{
    const struct ferry_resource *res = ferry_resource_for_object(obj);
    const char *ns, *name;

    if (!res)
        return -1;
    name = ferry_json_get_string(obj, "metadata.name");
    if (need_name && (!name || !*name))
        return ferry_error(FERRY_ERR_INVALID, "resource name may not be empty");
    ns = ferry_json_get_string(obj, "metadata.namespace");
    if (res->namespaced && (!ns || !*ns))
        ns = "default";
    if (!res->namespaced)
        ns = NULL;
    *ret_res = res;
    *ret_ns = ns;
    *ret_name = name;
    return 0;
}

static int
kube_create(struct ferry_store *st, json_object *in, json_object **ret)
{
    struct kube_store *k = KUBE(st);
    FERRY_AUTOPTR(json_object) obj = ferry_json_copy(in);
    FERRY_AUTOFREE char *path = NULL, *pq = NULL;
    const struct ferry_resource *res;
    const char *ns, *name;

    FERRY_AUTOFREE char *ns_copy = NULL;

    if (identify(obj, &res, &ns, &name, false) < 0)
        return -1;
    ns = ns_copy = ferry_strdup(ns); /* metadata.namespace is rewritten below */
    if ((!name || !*name) && !ferry_json_get_string(obj, "metadata.generateName"))
        return ferry_error(FERRY_ERR_INVALID, "The %s \"\" is invalid: metadata.name: Required "
                           "value: name or generateName is required", res->kind);
    if (res->namespaced)
        ferry_json_set_string(obj, "metadata.namespace", ns);
    else
        ferry_json_del(obj, "metadata.namespace");
    ferry_json_del(obj, "metadata.resourceVersion");
    ferry_json_del(obj, "metadata.uid");
    ferry_json_del(obj, "metadata.creationTimestamp");
    if (res->status_subresource && res != ferry_resource_node && !server_status_sub(k, res))
        json_object_object_del(obj, "status"); /* as the server does where it has one */
    if (st->admission && admit(k, obj) < 0)
        return -1;
    path = ferry_kube_path(res, ns, NULL, NULL);
    pq = ferry_printf("%s?%s", path, FIELD_MANAGER);
    return write_obj(k, "create", res, "POST", pq, "application/json", obj, ret);
}

enum write_kind { WRITE_SPEC, WRITE_STATUS };

static int
kube_write(struct ferry_store *st, json_object *in, json_object **ret, enum write_kind kind)
{
    struct kube_store *k = KUBE(st);
    const struct ferry_resource *res;
    const char *ns, *name, *in_rv;
    FERRY_AUTOFREE char *path = NULL, *pq = NULL;
    bool sub;

    if (identify(in, &res, &ns, &name, true) < 0)
        return -1;
    in_rv = ferry_json_get_string(in, "metadata.resourceVersion");
    if (in_rv && !*in_rv)
        in_rv = NULL;
    sub = server_status_sub(k, res);
    path = ferry_kube_path(res, ns, name, kind == WRITE_STATUS && sub ? "status" : NULL);
    pq = ferry_printf("%s?%s", path, FIELD_MANAGER);

    for (int tries = 0;; tries++) {
        FERRY_AUTOPTR(json_object) cur = NULL;
        FERRY_AUTOPTR(json_object) obj = NULL;
        bool keep_status = kind == WRITE_SPEC && res->status_subresource && !sub;
        bool keep_spec = kind == WRITE_STATUS && !sub;

        if (!in_rv || keep_status || keep_spec) {
            if (kube_get(st, res, ns, name, &cur) < 0)
                return -1;
            if (in_rv && !ferry_str_eq(in_rv, ferry_obj_resource_version(cur))) {
                char key[128];
                return ferry_error(FERRY_ERR_CONFLICT, "Operation cannot be fulfilled on %s "
                                   "\"%s\": the object has been modified; please apply your "
                                   "changes to the latest version and try again",
                                   ferry_resource_key(res, key, sizeof key), name);
            }
        }
        if (keep_spec) {
            /* no status subresource: the stored object with the new status */
            json_object *status = ferry_json_get(in, "status");
            obj = ferry_json_copy(cur);
            json_object_object_del(obj, "status");
            if (status)
                json_object_object_add(obj, "status", ferry_json_copy(status));
        } else {
            obj = ferry_json_copy(in);
            if (keep_status) {
                json_object *status = ferry_json_get(cur, "status");
                json_object_object_del(obj, "status");
                if (status)
                    json_object_object_add(obj, "status", ferry_json_copy(status));
            }
            if (res->namespaced)
                ferry_json_set_string(obj, "metadata.namespace", ns);
        }
        if (cur)
            ferry_json_set_string(obj, "metadata.resourceVersion", ferry_obj_resource_version(cur));
        if (write_obj(k, kind == WRITE_STATUS ? "update status of" : "update", res, "PUT", pq,
                      "application/json", obj, ret) == 0)
            return 0;
        /* our own read-modify-write raced: read again (the caller's stale
         * resourceVersion is the caller's conflict) */
        if (ferry_error_code() != FERRY_ERR_CONFLICT || in_rv || tries + 1 >= UPDATE_TRIES)
            return -1;
        ferry_error_reset();
        usleep(10000);
    }
}

static int
kube_update(struct ferry_store *st, json_object *obj, json_object **ret)
{
    return kube_write(st, obj, ret, WRITE_SPEC);
}

static int
kube_update_status(struct ferry_store *st, json_object *obj, json_object **ret)
{
    return kube_write(st, obj, ret, WRITE_STATUS);
}

static int
kube_delete(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
            const char *name)
{
    FERRY_AUTOFREE char *path = ferry_kube_path(res, ns, name, NULL);
    FERRY_AUTOPTR(json_object) opts = NULL;

    opts = json_object_new_object();
    ferry_json_set_string(opts, "apiVersion", "v1");
    ferry_json_set_string(opts, "kind", "DeleteOptions");
    ferry_json_set_string(opts, "propagationPolicy", "Background");
    return call(KUBE(st), "delete", res, "DELETE", path, "application/json", opts, NULL);
}

/* RFC 7386 merge patch, with fieldManager=ferry; status: only the patch's
 * status (and resourceVersion), to the status subresource where the kind
 * has one. */
static int
kube_patch(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
           const char *name, json_object *patch, bool status, json_object **ret)
{
    struct kube_store *k = KUBE(st);
    bool sub = status && server_status_sub(k, res);
    FERRY_AUTOFREE char *path = ferry_kube_path(res, ns, name, sub ? "status" : NULL);
    FERRY_AUTOFREE char *pq = ferry_printf("%s?%s", path, FIELD_MANAGER);
    FERRY_AUTOPTR(json_object) body = NULL;

    if (status) {
        const char *rv = ferry_json_get_string(patch, "metadata.resourceVersion");
        body = json_object_new_object();
        if (ferry_json_get(patch, "status"))
            json_object_object_add(body, "status", ferry_json_copy(ferry_json_get(patch, "status")));
        if (rv)
            ferry_json_set_string(body, "metadata.resourceVersion", rv);
    } else
        body = json_object_get(patch);
    return write_obj(k, status ? "patch status of" : "patch", res, "PATCH", pq,
                     "application/merge-patch+json", body, ret);
}

/* ---- core/v1 Events --------------------------------------------------- */

/* The count and resourceVersion of an Event this handle wrote last. */
static bool
seen_get(struct kube_store *k, const char *key, int64_t *ret_count, char **ret_rv)
{
    bool found = false;

    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(k->events); i++)
        if (k->events[i].key && strcmp(k->events[i].key, key) == 0) {
            *ret_count = k->events[i].count;
            *ret_rv = ferry_strdup(k->events[i].rv);
            found = true;
            break;
        }
    pthread_mutex_unlock(&k->lock);
    return found;
}

/* Takes ev (the server's answer); a new key replaces the oldest entry. */
static void
seen_put(struct kube_store *k, const char *key, json_object *ev)
{
    struct kube_event_seen *e = NULL;

    if (!ev || !ferry_obj_resource_version(ev))
        return;
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(k->events); i++)
        if (k->events[i].key && strcmp(k->events[i].key, key) == 0)
            e = &k->events[i];
    if (!e) {
        e = &k->events[k->next_event++ % FERRY_ARRAY_SIZE(k->events)];
        free(e->key);
        e->key = ferry_strdup(key);
    }
    e->count = ferry_json_get_int(ev, "count", 1);
    free(e->rv);
    e->rv = ferry_strdup(ferry_obj_resource_version(ev));
    pthread_mutex_unlock(&k->lock);
}

/* As the sqlite driver (and client-go's recorder): one Event per
 * object+type+reason+message, named after it; a repeat bumps count and
 * lastTimestamp with a merge patch that carries the resourceVersion last
 * seen (one request when this handle wrote the Event last; else, or after
 * a lost race, read and bump again). */
static void
kube_record_event(struct ferry_store *st, json_object *about, const char *type,
                  const char *reason, const char *message)
{
    struct kube_store *k = KUBE(st);
    FERRY_AUTOFREE char *key = NULL, *rv = NULL;
    FERRY_AUTOPTR(json_object) created = NULL;
    int64_t count = 0;
    const char *oname = ferry_json_get_string(about, "metadata.name");
    const char *ons = NULL;
    FERRY_AUTOFREE char *name = NULL, *now = NULL, *host = NULL;
    FERRY_AUTOPTR(json_object) ev = NULL;
    char hostbuf[256] = "";

    if (!ferry_apiserver_event_name(about, type, reason, message, &name, &ons))
        return;
    now = ferry_time_now_rfc3339();
    ev = ferry_apiserver_event_new(about, ons, name, type, reason, message, now);
    if (gethostname(hostbuf, sizeof hostbuf - 1) == 0 && *hostbuf) {
        host = ferry_str_lower(ferry_strdup(hostbuf));
        ferry_json_set_string(ev, "source.host", host);
    }

    key = ferry_printf("%s/%s", ons, name);
    if (seen_get(k, key, &count, &rv)) {
        /* a repeat we wrote: one conditional patch, no read */
        FERRY_AUTOPTR(json_object) patch = json_object_new_object();
        FERRY_AUTOPTR(json_object) out = NULL;

        ferry_json_set_int(patch, "count", count + 1);
        ferry_json_set_string(patch, "lastTimestamp", now);
        ferry_json_set_string(patch, "metadata.resourceVersion", rv);
        if (kube_patch(st, ferry_resource_event, ons, name, patch, false, &out) == 0) {
            seen_put(k, key, out);
            return;
        }
        ferry_error_reset(); /* changed or expired meanwhile: the slow way */
    }
    if (kube_create(st, ev, &created) == 0) {
        seen_put(k, key, created);
        return;
    }
    for (int tries = 0; ferry_error_code() == FERRY_ERR_EXISTS || ferry_error_code() ==
                        FERRY_ERR_CONFLICT; tries++) {
        FERRY_AUTOPTR(json_object) cur = NULL;
        FERRY_AUTOPTR(json_object) patch = json_object_new_object();

        if (tries >= UPDATE_TRIES)
            break;
        ferry_error_reset();
        if (kube_get(st, ferry_resource_event, ons, name, &cur) < 0)
            break;
        ferry_json_set_int(patch, "count", ferry_json_get_int(cur, "count", 1) + 1);
        ferry_json_set_string(patch, "lastTimestamp", now);
        ferry_json_set_string(patch, "metadata.resourceVersion", ferry_obj_resource_version(cur));
        if (kube_patch(st, ferry_resource_event, ons, name, patch, false, &created) == 0) {
            seen_put(k, key, created);
            return;
        }
    }
    ferry_log_debug("store", "recording event %s for %s: %s", reason ? reason : "", oname,
                    ferry_error_message());
    ferry_error_reset();
}

/* ---- open, free ------------------------------------------------------- */

static void
kube_free(struct ferry_store *st)
{
    struct kube_store *k = KUBE(st);

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(k->events); i++) {
        free(k->events[i].key);
        free(k->events[i].rv);
    }
    ferry_kube_http_free(k->http);
    ferry_kube_config_free(k->cfg);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static const struct ferry_store_ops kube_ops = {
    .name = "kube",
    .free = kube_free,
    .get = kube_get,
    .list = kube_list,
    .create = kube_create,
    .update = kube_update,
    .update_status = kube_update_status,
    .delete = kube_delete,
    .watch = ferry_kube_watch,
    .record_event = kube_record_event,
    .set_history = NULL, /* the API server's etcd compaction decides */
    .patch = kube_patch,
    .watch_selected = ferry_kube_watch_selected,
};

int
ferry_kube_open(const char *arg, struct ferry_store **ret)
{
    struct kube_config *cfg = NULL;
    struct kube_store *k;

    if (ferry_kube_config_load(arg, &cfg) < 0)
        return arg && *arg ? -1 : ferry_error_prefix("store 'kube:'");
    k = ferry_calloc(1, sizeof *k);
    k->base.ops = &kube_ops;
    k->cfg = cfg;
    k->http = ferry_kube_http_new(cfg);
    pthread_mutex_init(&k->lock, NULL);
    ferry_log_debug("store.kube", "%s: server %s, user \"%s\"", cfg->source, cfg->server,
                    cfg->user_name ? cfg->user_name : "");
    *ret = &k->base;
    return 0;
}
