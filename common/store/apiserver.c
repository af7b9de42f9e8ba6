/* The Kubernetes API server's semantics of the store, apart from where the
 * rows live: generateName, the metadata the server owns, resourceVersion and
 * uid preconditions (conflicts), the status subresource, generation,
 * finalizers and the namespaces that are never deleted, in the server's
 * words.  The sqlite driver calls these around its SQL rows (sqlite.c);
 * another driver that keeps objects itself (a future `kube` one that serves
 * rather than forwards) can reuse them.  Internal to common/store. */
#include "common/store/apiserver.h"
#include "common/base64.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/name.h"
#include "common/object.h"
#include "common/util.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

/* The API server's generateName suffix: 5 characters from a vowel-free alphabet. */
char *
ferry_apiserver_generate_name(const char *prefix)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char b[5];
    char suffix[6];

    if (RAND_bytes(b, sizeof b) != 1)
        ferry_oom();
    for (int i = 0; i < 5; i++)
        suffix[i] = alphabet[b[i] % (sizeof alphabet - 1)];
    suffix[5] = 0;
    return ferry_printf("%s%s", prefix, suffix);
}

void
ferry_apiserver_set_rv(json_object *obj, int64_t rv)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%lld", (long long)rv);
    ferry_json_set_string(obj, "metadata.resourceVersion", buf);
}

json_object *
ferry_apiserver_finalizers(json_object *obj)
{
    json_object *f = ferry_json_get(obj, "metadata.finalizers");

    return f && json_object_is_type(f, json_type_array) && json_object_array_length(f) > 0
               ? f
               : NULL;
}

/* A and B equal but for the fields at PATHS (NULL-terminated, dotted). */
static bool
equal_except(json_object *a, json_object *b, const char *const *paths)
{
    FERRY_AUTOPTR(json_object) ca = ferry_json_copy(a);
    FERRY_AUTOPTR(json_object) cb = ferry_json_copy(b);

    for (const char *const *p = paths; *p; p++) {
        ferry_json_del(ca, *p);
        ferry_json_del(cb, *p);
    }
    return ferry_json_equal(ca, cb);
}

/* Everything but metadata and status: what bumps metadata.generation. */
bool
ferry_apiserver_spec_equal(json_object *a, json_object *b)
{
    static const char *const ignored[] = { "metadata", "status", NULL };
    return equal_except(a, b, ignored);
}

/* Equal but for metadata.resourceVersion. */
bool
ferry_apiserver_same_object(json_object *a, json_object *b)
{
    static const char *const ignored[] = { "metadata.resourceVersion", NULL };
    return equal_except(a, b, ignored);
}

/* Resource, namespace (NULL for cluster-scoped) and name of obj, checked. */
int
ferry_apiserver_identify(json_object *obj, const struct ferry_resource **ret_res,
                         const char **ret_ns, const char **ret_name)
{
    const struct ferry_resource *res = ferry_resource_for_object(obj);
    const char *name = ferry_json_get_string(obj, "metadata.name");
    const char *ns = ferry_json_get_string(obj, "metadata.namespace");

    if (!res)
        return -1;
    if (!name || !*name)
        return ferry_error(FERRY_ERR_INVALID,
                           "The %s \"\" is invalid: metadata.name: Required value: name is required",
                           res->kind);
    if (res->namespaced && (!ns || !*ns))
        ns = "default";
    *ret_res = res;
    *ret_ns = res->namespaced ? ns : NULL;
    *ret_name = name;
    return 0;
}

/* Check obj's resourceVersion precondition against cur's. */
int
ferry_apiserver_check_rv(const char *key, const char *name, json_object *obj,
                         json_object *cur)
{
    const char *want = ferry_json_get_string(obj, "metadata.resourceVersion");
    const char *have = ferry_json_get_string(cur, "metadata.resourceVersion");

    if (want && *want && !ferry_str_eq(want, have))
        return ferry_apiserver_err_conflict(key, name);
    return 0;
}

/* ---- messages as the API server words them ---------------------------- */

int
ferry_apiserver_err_not_found(const char *key, const char *name)
{
    return ferry_error(FERRY_ERR_NOTFOUND, "%s \"%s\" not found", key, name);
}

int
ferry_apiserver_err_conflict(const char *key, const char *name)
{
    return ferry_error(FERRY_ERR_CONFLICT,
                       "Operation cannot be fulfilled on %s \"%s\": the object has been "
                       "modified; please apply your changes to the latest version and try again",
                       key, name);
}

/* Check obj's metadata.uid precondition against cur's. */
int
ferry_apiserver_check_uid(const char *key, const char *name, json_object *obj,
                          json_object *cur)
{
    const char *uid = ferry_json_get_string(obj, "metadata.uid");

    if (uid && *uid && !ferry_str_eq(uid, ferry_json_get_string(cur, "metadata.uid")))
        return ferry_error(FERRY_ERR_CONFLICT,
                           "Operation cannot be fulfilled on %s \"%s\": Precondition failed: "
                           "UID in precondition: %s, UID in object meta: %s",
                           key, name, uid, ferry_json_get_string(cur, "metadata.uid"));
    return 0;
}

/* What the API server does to a new object before admission: name or
 * generateName required, the namespace defaulted (dropped for a
 * cluster-scoped kind), status dropped where it is a subresource (but for
 * Nodes), the server's metadata set (uid, creationTimestamp, generation 1)
 * and the client's cleared; a Namespace's name checked and its phase Active.
 * *ret_obj is a copy of IN. */
/* ---- Secret and ConfigMap: what the API server's conversion and
 * validation do to them (k8s.io/kubernetes pkg/apis/core/v1 conversion:
 * stringData into data; validation: config keys, base64, 1 MiB). ---- */

#define DATA_MAX_BYTES (1024 * 1024) /* core.MaxSecretSize */

static int
check_config_key(const char *kind, const char *name, const char *field, const char *key)
{
    size_t n = strlen(key);

    if (n == 0 || n > 253 || strspn(key, "-._abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789") != n ||
        strcmp(key, ".") == 0 || strcmp(key, "..") == 0 || strncmp(key, "..", 2) == 0)
        return ferry_error(FERRY_ERR_INVALID,
                           "The %s \"%s\" is invalid: %s[%s]: Invalid value: \"%s\": a valid "
                           "config key must consist of alphanumeric characters, '-', '_' or '.' "
                           "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                           "validation is '[-._a-zA-Z0-9]+')",
                           kind, name, field, key, key);
    return 0;
}

/* Every value of obj.FIELD a string; base64 when B64.  *total grows by the
 * decoded size. */
static int
check_values(const char *kind, const char *name, json_object *obj, const char *field, bool b64,
             size_t *total)
{
    json_object *map = json_object_object_get(obj, field);

    if (!map)
        return 0;
    if (!json_object_is_type(map, json_type_object))
        return ferry_error(FERRY_ERR_INVALID, "%s in version \"v1\" cannot be handled as a %s: "
                           "%s: expected an object of strings", kind, kind, field);
    json_object_object_foreach(map, k, v) {
        if (!json_object_is_type(v, json_type_string))
            return ferry_error(FERRY_ERR_INVALID, "%s in version \"v1\" cannot be handled as "
                               "a %s: %s[%s]: expected a string", kind, kind, field, k);
        if (check_config_key(kind, name, field, k) < 0)
            return -1;
        if (b64) {
            FERRY_AUTOFREE char *bytes = NULL;
            FERRY_AUTOFREE char *what = ferry_printf("%s in version \"v1\" cannot be handled "
                                                     "as a %s: %s[%s]", kind, kind, field, k);
            size_t len;

            if (ferry_base64_decode(what, json_object_get_string(v), &bytes, &len) < 0) {
                FERRY_AUTOFREE char *msg = ferry_strdup(ferry_error_message());

                ferry_error_reset();
                return ferry_error(FERRY_ERR_INVALID, "%s", msg);
            }
            *total += len;
        } else {
            *total += (size_t)json_object_get_string_len(v);
        }
    }
    return 0;
}

/* A Secret: stringData (plain strings) merged into data (base64), a key of
 * both taking stringData's value, stringData itself not kept; type Opaque
 * by default.  A ConfigMap: data strings, binaryData base64, no key in
 * both.  Either at most 1 MiB of values.  On every write (create and
 * update), as the API server converts every request. */
static int
prepare_data(const struct ferry_resource *res, json_object *obj)
{
    const char *name = ferry_json_get_string(obj, "metadata.name");
    size_t total = 0;

    if (!name)
        name = "";
    if (res == ferry_resource_secret) {
        json_object *sd = json_object_object_get(obj, "stringData");

        if (check_values("Secret", name, obj, "stringData", false, &total) < 0)
            return -1;
        total = 0;
        if (sd) {
            json_object *data = json_object_object_get(obj, "data");

            if (!data) {
                data = json_object_new_object();
                json_object_object_add(obj, "data", data);
            }
            if (!json_object_is_type(data, json_type_object))
                return check_values("Secret", name, obj, "data", true, &total);
            json_object_object_foreach(sd, k, v) {
                FERRY_AUTOFREE char *b64 = ferry_base64_encode(
                    json_object_get_string(v), (size_t)json_object_get_string_len(v));

                json_object_object_add(data, k, json_object_new_string(b64));
            }
            json_object_object_del(obj, "stringData");
        }
        if (check_values("Secret", name, obj, "data", true, &total) < 0)
            return -1;
        if (!ferry_json_get_string(obj, "type"))
            json_object_object_add(obj, "type", json_object_new_string("Opaque"));
    } else if (res == ferry_resource_configmap) {
        json_object *bin = json_object_object_get(obj, "binaryData");
        json_object *data = json_object_object_get(obj, "data");

        if (check_values("ConfigMap", name, obj, "data", false, &total) < 0 ||
            check_values("ConfigMap", name, obj, "binaryData", true, &total) < 0)
            return -1;
        if (bin) {
            json_object_object_foreach(bin, k, v) {
                (void)v;
                if (json_object_object_get_ex(data, k, NULL))
                    return ferry_error(FERRY_ERR_INVALID,
                                       "The ConfigMap \"%s\" is invalid: data[%s]: Invalid "
                                       "value: \"%s\": duplicate of key present in binaryData",
                                       name, k, k);
            }
        }
    } else {
        return 0;
    }
    if (total > DATA_MAX_BYTES)
        return ferry_error(FERRY_ERR_INVALID, "The %s \"%s\" is invalid: data: Too long: must "
                           "have at most %d bytes", res->kind, name, DATA_MAX_BYTES);
    return 0;
}

int
ferry_apiserver_prepare_create(const struct ferry_resource *res, json_object *in,
                               json_object **ret_obj)
{
    FERRY_AUTOPTR(json_object) obj = NULL;
    FERRY_AUTOFREE char *uid = NULL, *now = NULL;
    json_object *meta;
    const char *name, *generate;
    bool named;

    obj = ferry_json_copy(in);
    meta = ferry_json_ensure_object(obj, "metadata");
    name = ferry_json_get_string(meta, "name");
    generate = ferry_json_get_string(meta, "generateName");
    if ((!name || !*name) && (!generate || !*generate))
        return ferry_error(FERRY_ERR_INVALID,
                           "The %s \"\" is invalid: metadata.name: Required value: name or "
                           "generateName is required",
                           res->kind);
    named = name && *name; /* name is borrowed: replaced below when generated */
    if (res->namespaced) {
        const char *ns = ferry_json_get_string(meta, "namespace");
        if (!ns || !*ns)
            ferry_json_set_string(meta, "namespace", "default");
    } else {
        json_object_object_del(meta, "namespace");
    }
    if (res->status_subresource && res != ferry_resource_node)
        json_object_object_del(obj, "status");
    uid = ferry_uuid_random();
    now = ferry_time_now_rfc3339();
    ferry_json_set_string(meta, "uid", uid);
    ferry_json_set_string(meta, "creationTimestamp", now);
    ferry_json_set_int(meta, "generation", 1);
    json_object_object_del(meta, "deletionTimestamp");
    json_object_object_del(meta, "deletionGracePeriodSeconds");
    json_object_object_del(meta, "resourceVersion");
    json_object_object_del(meta, "managedFields");

    if (res == ferry_resource_namespace) {
        if (named && ferry_name_check_label("metadata.name", name) < 0)
            return ferry_error_prefix("The Namespace \"%s\" is invalid", name);
        if (!ferry_json_get(obj, "status.phase"))
            ferry_json_set_string(obj, "status.phase", "Active");
    }
    if (prepare_data(res, obj) < 0)
        return -1;
    *ret_obj = FERRY_STEAL(obj);
    return 0;
}

/* The status subresource's update: cur with in's status, nothing else. */
json_object *
ferry_apiserver_status_update(json_object *in, json_object *cur)
{
    /* status subresource: only .status changes */
    json_object *status = json_object_object_get(in, "status");
    json_object *obj = ferry_json_copy(cur);

    json_object_object_del(obj, "status");
    if (status) /* a copy: the caller's object stays theirs */
        json_object_object_add(obj, "status", ferry_json_copy(status));
    return obj;
}

/* The update of an object (not its status): in, with the metadata the
 * server owns kept from cur, cur's status where status is a subresource, and
 * no new finalizers once the object is being deleted.  *ret_obj is new. */
int
ferry_apiserver_spec_update(const struct ferry_resource *res, const char *name, json_object *in,
                            json_object *cur, json_object **ret_obj)
{
    FERRY_AUTOPTR(json_object) obj = NULL;
    json_object *meta, *cmeta = ferry_json_get(cur, "metadata");
    static const char *const kept[] = { "uid", "creationTimestamp", "deletionTimestamp",
                                        "deletionGracePeriodSeconds", "generation",
                                        "namespace", "name" };

    obj = ferry_json_copy(in);
    meta = ferry_json_ensure_object(obj, "metadata");
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(kept); i++) {
        json_object *v = json_object_object_get(cmeta, kept[i]);
        if (v)
            json_object_object_add(meta, kept[i], ferry_json_copy(v));
        else
            json_object_object_del(meta, kept[i]);
    }
    json_object_object_del(meta, "managedFields");
    json_object_object_del(meta, "generateName");
    if (json_object_object_get(cmeta, "generateName"))
        json_object_object_add(meta, "generateName",
                               ferry_json_copy(json_object_object_get(cmeta, "generateName")));
    if (res->status_subresource) {
        json_object *status = json_object_object_get(cur, "status");
        json_object_object_del(obj, "status");
        if (status)
            json_object_object_add(obj, "status", ferry_json_copy(status));
    }
    if (ferry_json_get(cur, "metadata.deletionTimestamp")) {
        json_object *nf = ferry_apiserver_finalizers(obj);
        for (size_t i = 0; nf && i < json_object_array_length(nf); i++) {
            const char *f = json_object_get_string(json_object_array_get_idx(nf, i));
            if (!ferry_obj_has_finalizer(cur, f)) {
                ferry_error(FERRY_ERR_INVALID,
                            "The %s \"%s\" is invalid: metadata.finalizers: Forbidden: no new "
                            "finalizers can be added if the object is being deleted, found "
                            "new finalizers []string{\"%s\"}",
                            res->kind, name, f);
                return -1;
            }
        }
    }
    if (prepare_data(res, obj) < 0)
        return -1;
    *ret_obj = FERRY_STEAL(obj);
    return 0;
}

/* metadata.generation + 1 when anything but metadata and status changed. */
void
ferry_apiserver_bump_generation(json_object *obj, json_object *cur)
{
    json_object *meta = ferry_json_ensure_object(obj, "metadata");

    if (!ferry_apiserver_spec_equal(obj, cur))
        ferry_json_set_int(meta, "generation",
                           ferry_json_get_int(cur, "metadata.generation", 0) + 1);
}

/* The namespaces the API server never deletes. */
int
ferry_apiserver_check_delete(const struct ferry_resource *res, const char *name)
{
    if (res == ferry_resource_namespace &&
        (ferry_str_eq(name, "default") || ferry_str_eq(name, "kube-system") ||
         ferry_str_eq(name, "kube-public")))
        return ferry_error(FERRY_ERR_INVALID, "namespaces \"%s\" is forbidden: this namespace "
                           "may not be deleted", name);
    return 0;
}

/* The delete of an object with finalizers: deletionTimestamp, and
 * generation + 1 as the registry does; false when it was marked already. */
bool
ferry_apiserver_mark_deleted(json_object *obj)
{
    FERRY_AUTOFREE char *now = NULL;

    if (ferry_json_get(obj, "metadata.deletionTimestamp"))
        return false;
    now = ferry_time_now_rfc3339();
    ferry_json_set_string(obj, "metadata.deletionTimestamp", now);
    ferry_json_set_int(obj, "metadata.deletionGracePeriodSeconds", 0);
    ferry_json_set_int(obj, "metadata.generation",
                       ferry_json_get_int(obj, "metadata.generation", 0) + 1);
    return true;
}

/* A watch from resourceVersion FROM when the history before COMPACTED + 1 is
 * gone: 410 Gone, as the server says it. */
int
ferry_apiserver_check_watch_rv(int64_t from, int64_t compacted)
{
    if (from < compacted)
        return ferry_error(FERRY_ERR_EXPIRED, "too old resource version: %lld (%lld)",
                           (long long)from, (long long)compacted + 1);
    return 0;
}

/* ---- Events ------------------------------------------------------------ */

static uint64_t
fnv1a(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL;
}

bool
ferry_apiserver_event_name(json_object *about, const char *type, const char *reason,
                           const char *message, char **ret_name, const char **ret_ns)
{
    const char *oname = ferry_json_get_string(about, "metadata.name");
    const char *ons = ferry_json_get_string(about, "metadata.namespace");
    const char *ouid = ferry_json_get_string(about, "metadata.uid");
    uint64_t h = 0xcbf29ce484222325ULL;

    if (!oname)
        return false;
    h = fnv1a(fnv1a(fnv1a(fnv1a(h, ouid), type), reason), message);
    *ret_name = ferry_printf("%s.%016llx", oname, (unsigned long long)h);
    *ret_ns = ons && *ons ? ons : "default";
    return true;
}

json_object *
ferry_apiserver_event_new(json_object *about, const char *ns, const char *name, const char *type,
                          const char *reason, const char *message, const char *now)
{
    json_object *ev = json_object_new_object();
    json_object *inv = json_object_new_object();
    const char *ouid = ferry_json_get_string(about, "metadata.uid");

    ferry_json_set_string(ev, "apiVersion", "v1");
    ferry_json_set_string(ev, "kind", "Event");
    ferry_json_set_string(ev, "metadata.name", name);
    ferry_json_set_string(ev, "metadata.namespace", ns);
    json_object_object_add(ev, "involvedObject", inv);
    ferry_json_copy_string(inv, "apiVersion", about, "apiVersion");
    ferry_json_copy_string(inv, "kind", about, "kind");
    ferry_json_set_string(inv, "name", ferry_json_get_string(about, "metadata.name"));
    if (ferry_json_get_string(about, "metadata.namespace"))
        ferry_json_set_string(inv, "namespace", ns);
    if (ouid)
        ferry_json_set_string(inv, "uid", ouid);
    ferry_json_copy_string(inv, "resourceVersion", about, "metadata.resourceVersion");
    ferry_json_set_string(ev, "type", type ? type : "Normal");
    ferry_json_set_string(ev, "reason", reason ? reason : "");
    ferry_json_set_string(ev, "message", message ? message : "");
    ferry_json_set_string(ev, "source.component", ferry_log_prog());
    ferry_json_set_string(ev, "reportingComponent", ferry_log_prog());
    ferry_json_set_string(ev, "firstTimestamp", now);
    ferry_json_set_string(ev, "lastTimestamp", now);
    ferry_json_set_int(ev, "count", 1);
    return ev;
}
