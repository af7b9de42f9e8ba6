/* Shared informers: list-then-watch caches, handlers and listers
 * (informer.h). */
#include "common/informer.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/keymap.h"
#include "common/log.h"
#include "common/object.h"
#include "common/store/driver.h"
#include "common/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One kind's cache: "ns/name" -> object (the entry's value holds the
 * json_object pointer, value2 its resourceVersion). */
struct kind_cache {
    const struct ferry_resource *res;
    struct ferry_keymap objs;
};

struct ferry_informer {
    struct ferry_store *st;
    struct kind_cache *kinds;
    size_t n;
    char *ns;
    struct ferry_selector *sel;  /* our own copy, or NULL */
    char *sel_str;
    ferry_informer_handler handler;
    void *opaque;
    struct ferry_watch *w;
    bool synced;
};

static json_object *
entry_obj(struct ferry_keymap_entry *e)
{
    return (json_object *)(intptr_t)e->value;
}

/* client-go's TransformStripManagedFields: metadata.managedFields is the
 * server's bookkeeping of who set which field, often the biggest part of an
 * object, and nothing a reconciler reads.  An update without it keeps the
 * stored one (the API server's rule), so writes of cached objects lose
 * nothing.  Done in place: the objects the cache takes are its own (a list's
 * items, a watch event's object, an observed copy). */
static void
strip(json_object *obj)
{
    json_object *md = NULL;

    if (json_object_object_get_ex(obj, "metadata", &md) && md)
        json_object_object_del(md, "managedFields");
}

static void
entry_set(struct ferry_keymap_entry *e, json_object *obj, int64_t rv)
{
    strip(obj);
    json_object_put(entry_obj(e));
    e->value = (int64_t)(intptr_t)obj;
    e->value2 = rv;
}

static int64_t
obj_rv(json_object *o)
{
    const char *s = ferry_obj_resource_version(o);

    return s && *s ? strtoll(s, NULL, 10) : 0;
}

static char *
obj_key(const struct ferry_resource *res, const char *ns, const char *name)
{
    return ferry_printf("%s/%s", res->namespaced ? (ns && *ns ? ns : "default") : "", name);
}

static struct kind_cache *
find_kind(struct ferry_informer *inf, const struct ferry_resource *res)
{
    for (size_t i = 0; i < inf->n; i++)
        if (inf->kinds[i].res == res)
            return &inf->kinds[i];
    return NULL;
}

static bool
wanted(struct ferry_informer *inf, struct kind_cache *kc, json_object *obj)
{
    if (inf->ns && kc->res->namespaced && !ferry_str_eq(ferry_obj_namespace(obj), inf->ns))
        return false;
    return !inf->sel || ferry_selector_matches(inf->sel, ferry_obj_labels(obj));
}

int
ferry_informer_new(struct ferry_store *st, const struct ferry_resource *const *kinds, size_t n,
                   const char *ns, const struct ferry_selector *sel,
                   ferry_informer_handler handler, void *opaque, struct ferry_informer **ret)
{
    struct ferry_informer *inf = ferry_calloc(1, sizeof *inf);

    inf->st = st;
    inf->n = n;
    inf->kinds = ferry_calloc(n ? n : 1, sizeof *inf->kinds);
    for (size_t i = 0; i < n; i++) {
        inf->kinds[i].res = kinds[i];
        ferry_keymap_init(&inf->kinds[i].objs);
    }
    inf->ns = ns ? ferry_strdup(ns) : NULL;
    if (sel) {
        inf->sel_str = ferry_selector_to_string(sel);
        if (ferry_selector_parse(inf->sel_str, &inf->sel) < 0) {
            ferry_informer_free(inf);
            return -1;
        }
    }
    inf->handler = handler;
    inf->opaque = opaque;
    *ret = inf;
    return 0;
}

static void
put_entry(struct ferry_keymap_entry *e, void *opaque)
{
    (void)opaque;
    json_object_put(entry_obj(e));
}

void
ferry_informer_free(struct ferry_informer *inf)
{
    if (!inf)
        return;
    ferry_watch_free(inf->w);
    for (size_t i = 0; i < inf->n; i++) {
        ferry_keymap_foreach(&inf->kinds[i].objs, put_entry, NULL);
        ferry_keymap_release(&inf->kinds[i].objs);
    }
    free(inf->kinds);
    free(inf->ns);
    ferry_selector_free(inf->sel);
    free(inf->sel_str);
    free(inf);
}

bool
ferry_informer_synced(struct ferry_informer *inf)
{
    return inf->synced;
}

static void
emit(struct ferry_informer *inf, enum ferry_event_type type, const struct ferry_resource *res,
     json_object *obj, json_object *old)
{
    if (inf->handler)
        inf->handler(inf->opaque, type, res, obj, old);
}

/* Drop entry E (KEY) from the cache and tell the handler the object is
 * gone, showing SHOWN (NULL: the last one cached). */
static void
forget(struct ferry_informer *inf, struct kind_cache *kc, struct ferry_keymap_entry *e,
       const char *key, json_object *shown)
{
    json_object *last = entry_obj(e);

    e->value = 0;
    ferry_keymap_remove(&kc->objs, key);
    emit(inf, FERRY_EVENT_DELETED, kc->res, shown ? shown : last, NULL);
    json_object_put(last);
}

/* Apply one change to the cache and tell the handler.  obj is borrowed. */
static void
apply(struct ferry_informer *inf, struct kind_cache *kc, enum ferry_event_type type,
      json_object *obj, int64_t rv)
{
    FERRY_AUTOFREE char *key = obj_key(kc->res, ferry_obj_namespace(obj), ferry_obj_name(obj));
    struct ferry_keymap_entry *e = ferry_keymap_get(&kc->objs, key);

    if (type == FERRY_EVENT_DELETED) {
        if (e && e->value2 <= rv)
            forget(inf, kc, e, key, obj);
        else if (!e)
            emit(inf, FERRY_EVENT_DELETED, kc->res, obj, NULL);
        return;
    }
    if (!wanted(inf, kc, obj)) {
        /* out of our selector now: gone, as far as we are concerned */
        if (e && e->value2 <= rv)
            forget(inf, kc, e, key, NULL);
        return;
    }
    if (!e) {
        bool made;

        e = ferry_keymap_ensure(&kc->objs, key, &made);
        entry_set(e, json_object_get(obj), rv);
        emit(inf, FERRY_EVENT_ADDED, kc->res, obj, NULL);
        return;
    }
    if (e->value2 < rv) {
        json_object *old = json_object_get(entry_obj(e));

        entry_set(e, json_object_get(obj), rv);
        emit(inf, FERRY_EVENT_MODIFIED, kc->res, obj, old);
        json_object_put(old);
        return;
    }
    /* a replay, or our own write seen again: the handler still hears of it
     * as it came (owners are enqueued by it; an ADDED child satisfies its
     * owner's expectation), the newer cached object stays */
    emit(inf, type, kc->res, entry_obj(e), NULL);
}

struct diff_ctx {
    struct ferry_keymap *listed;
    char **gone;
    size_t ngone, cap;
};

static void
find_gone(struct ferry_keymap_entry *e, void *opaque)
{
    struct diff_ctx *d = opaque;

    if (ferry_keymap_get(d->listed, e->key))
        return;
    if (d->ngone == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->gone = ferry_realloc(d->gone, d->cap * sizeof *d->gone);
    }
    d->gone[d->ngone++] = ferry_strdup(e->key);
}

/* Replace kc's content with items (client-go's Replace), emitting the
 * differences. */
static void
replace(struct ferry_informer *inf, struct kind_cache *kc, json_object *items)
{
    struct ferry_keymap listed;
    struct diff_ctx d = { .listed = &listed };
    size_t n = json_object_array_length(items);

    ferry_keymap_init(&listed);
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(items, i);
        FERRY_AUTOFREE char *key = NULL;
        bool made;

        if (!wanted(inf, kc, o))
            continue;
        key = obj_key(kc->res, ferry_obj_namespace(o), ferry_obj_name(o));
        ferry_keymap_ensure(&listed, key, &made);
    }
    ferry_keymap_foreach(&kc->objs, find_gone, &d);
    for (size_t i = 0; i < d.ngone; i++) {
        struct ferry_keymap_entry *e = ferry_keymap_get(&kc->objs, d.gone[i]);
        json_object *last = entry_obj(e);

        e->value = 0;
        ferry_keymap_remove(&kc->objs, d.gone[i]);
        /* DeletedFinalStateUnknown: the last state we had */
        emit(inf, FERRY_EVENT_DELETED, kc->res, last, NULL);
        json_object_put(last);
        free(d.gone[i]);
    }
    free(d.gone);
    ferry_keymap_release(&listed);
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(items, i);
        int64_t rv = obj_rv(o);
        FERRY_AUTOFREE char *key = obj_key(kc->res, ferry_obj_namespace(o), ferry_obj_name(o));
        struct ferry_keymap_entry *e = ferry_keymap_get(&kc->objs, key);

        if (!wanted(inf, kc, o))
            continue;
        if (e && e->value2 == rv) {
            /* unchanged: client-go's Replace still delivers it as an update
             * (a resync); ours too, with old == new */
            emit(inf, FERRY_EVENT_MODIFIED, kc->res, entry_obj(e), entry_obj(e));
            continue;
        }
        if (e) {
            /* a list is authoritative, even over a newer observed write */
            e->value2 = rv - 1;
        }
        apply(inf, kc, FERRY_EVENT_ADDED, o, rv);
    }
}

int
ferry_informer_sync(struct ferry_informer *inf)
{
    int64_t from = -1;

    ferry_watch_free(inf->w);
    inf->w = NULL;
    for (size_t k = 0; k < inf->n; k++) {
        struct kind_cache *kc = &inf->kinds[k];
        FERRY_AUTOPTR(json_object) items = NULL;
        int64_t rv;

        if (ferry_store_list(inf->st, kc->res, kc->res->namespaced ? inf->ns : NULL, inf->sel,
                             &items, &rv) < 0)
            return -1;
        /* the oldest list: events after it are replayed; the cache keeps
         * the newer objects (apply compares resourceVersions) */
        if (from < 0 || rv < from)
            from = rv;
        replace(inf, kc, items);
    }
    /* one kind: a watch of that kind; more: a watch of every kind, the
     * others' events ignored */
    if (ferry_store_watch_selected(inf->st, inf->n == 1 ? inf->kinds[0].res : NULL, inf->ns,
                                   inf->sel, from > 0 ? from : -1, &inf->w) < 0)
        return -1;
    inf->synced = true;
    return 0;
}

int
ferry_informer_pump(struct ferry_informer *inf, int timeout_ms, int max_events)
{
    struct ferry_event ev;
    int n = 0, r;

    if (!inf->w && ferry_informer_sync(inf) < 0)
        return -1;
    r = ferry_watch_next(inf->w, timeout_ms, &ev);
    while (r == 1) {
        const struct ferry_resource *res = ferry_resource_for_object(ev.object);
        struct kind_cache *kc = res ? find_kind(inf, res) : NULL;

        if (!res)
            ferry_error_reset();
        if (kc)
            apply(inf, kc, ev.type, ev.object,
                  ev.type == FERRY_EVENT_DELETED || !obj_rv(ev.object) ? ev.resource_version
                                                                        : obj_rv(ev.object));
        ferry_event_release(&ev);
        n++;
        if (max_events > 0 && n >= max_events)
            return n;
        r = ferry_watch_next(inf->w, 0, &ev);
    }
    if (r < 0) {
        if (ferry_error_code() == FERRY_ERR_EXPIRED)
            ferry_log_info("informer: watch expired (history moved on); re-listing");
        else
            ferry_log_warn("informer: watch: %s; re-listing", ferry_error_message());
        ferry_error_reset();
        ferry_watch_free(inf->w);
        inf->w = NULL;
        if (ferry_informer_sync(inf) < 0)
            return -1;
    }
    return n;
}

int
ferry_informer_get(struct ferry_informer *inf, const struct ferry_resource *res,
                   const char *ns, const char *name, json_object **ret)
{
    struct kind_cache *kc = find_kind(inf, res);
    FERRY_AUTOFREE char *key = NULL;
    struct ferry_keymap_entry *e;
    char buf[128];

    if (!kc)
        return ferry_error(FERRY_ERR_INVALID, "informer: kind %s is not cached", res->kind);
    key = obj_key(res, ns, name);
    e = ferry_keymap_get(&kc->objs, key);
    if (!e)
        return ferry_error(FERRY_ERR_NOTFOUND, "%s \"%s\" not found",
                           ferry_resource_key(res, buf, sizeof buf), name);
    *ret = json_object_get(entry_obj(e));
    return 0;
}

struct list_ctx {
    const char *ns;
    const struct ferry_selector *sel;
    bool namespaced;
    json_object *arr;
};

static void
collect(struct ferry_keymap_entry *e, void *opaque)
{
    struct list_ctx *l = opaque;
    json_object *o = entry_obj(e);

    if (l->ns && l->namespaced && !ferry_str_eq(ferry_obj_namespace(o), l->ns))
        return;
    if (l->sel && !ferry_selector_matches(l->sel, ferry_obj_labels(o)))
        return;
    json_object_array_add(l->arr, json_object_get(o));
}

static int
cmp_objs(const void *a, const void *b)
{
    json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
    const char *nx = ferry_obj_namespace(x), *ny = ferry_obj_namespace(y);
    int r = strcmp(nx ? nx : "", ny ? ny : "");

    return r ? r : strcmp(ferry_obj_name(x), ferry_obj_name(y));
}

int
ferry_informer_list(struct ferry_informer *inf, const struct ferry_resource *res,
                    const char *ns, const struct ferry_selector *sel, json_object **ret)
{
    struct kind_cache *kc = find_kind(inf, res);
    struct list_ctx l = { .ns = ns, .sel = sel, .namespaced = res->namespaced };

    if (!kc)
        return ferry_error(FERRY_ERR_INVALID, "informer: kind %s is not cached", res->kind);
    l.arr = json_object_new_array();
    ferry_keymap_foreach(&kc->objs, collect, &l);
    json_object_array_sort(l.arr, cmp_objs);
    *ret = l.arr;
    return 0;
}

struct foreach_ctx {
    void (*fn)(void *opaque, json_object *obj);
    void *opaque;
};

static void
foreach_one(struct ferry_keymap_entry *e, void *opaque)
{
    struct foreach_ctx *f = opaque;

    f->fn(f->opaque, entry_obj(e));
}

void
ferry_informer_foreach(struct ferry_informer *inf, const struct ferry_resource *res,
                       void (*fn)(void *opaque, json_object *obj), void *opaque)
{
    struct kind_cache *kc = find_kind(inf, res);
    struct foreach_ctx f = { fn, opaque };

    if (kc)
        ferry_keymap_foreach(&kc->objs, foreach_one, &f);
}

size_t
ferry_informer_count(struct ferry_informer *inf, const struct ferry_resource *res)
{
    struct kind_cache *kc = find_kind(inf, res);

    return kc ? kc->objs.count : 0;
}

void
ferry_informer_observe(struct ferry_informer *inf, json_object *obj)
{
    const struct ferry_resource *res = obj ? ferry_resource_for_object(obj) : NULL;
    struct kind_cache *kc = res ? find_kind(inf, res) : NULL;
    FERRY_AUTOFREE char *key = NULL;
    struct ferry_keymap_entry *e;
    int64_t rv;
    bool made;

    if (!res)
        ferry_error_reset();
    if (!kc || !wanted(inf, kc, obj))
        return;
    rv = obj_rv(obj);
    key = obj_key(res, ferry_obj_namespace(obj), ferry_obj_name(obj));
    e = ferry_keymap_get(&kc->objs, key);
    if (e && e->value2 >= rv)
        return;
    /* no handler call: the watch event for this write brings that */
    e = ferry_keymap_ensure(&kc->objs, key, &made);
    /* a private copy: the caller may go on changing its object */
    entry_set(e, ferry_json_copy(obj), rv);
}
