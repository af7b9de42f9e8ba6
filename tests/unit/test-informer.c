/* The shared informer (common/informer.h) on the real SQLite store, and the
 * controller's handlers on it.  Covered: the first sync delivers every
 * object as ADDED; watch events keep the cache current and reach the
 * handler; after FERRY_ERR_EXPIRED (a history of 5 changes outrun while not
 * pumping) the relist is diffed against the cache and comes out as the right
 * synthetic events: ADDED for an object made meanwhile, MODIFIED (with the
 * old object) for a changed one, DELETED (with its last known state) for a
 * removed one, a resync (old == new) for an unchanged one; the listers
 * (get, list with namespace and selector) answer from the cache and share
 * its objects; a write observed by the writer is in the cache at once and an
 * older event does not take it back; the label-selected watch (client-side
 * on SQLite) sends DELETED for an object leaving the selector; the
 * controller's handler enqueues a Pod's, a Job's and a PVC's controlling
 * owner (client-go's EnqueueRequestForOwner) and a VMI's VM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/informer.h"
#include "common/json.h"
#include "common/object.h"
#include "common/store/store.h"
#include "common/util.h"
#include "controller/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "testlib-objects.h"

static int
setup(void **state)
{
    *state = test_store_new("informer", false);
    return 0;
}

/* What the handler saw: "TYPE name" lines, and for MODIFIED whether old was
 * given and equal to the new object. */
struct seen {
    char log[8192];
};

static void
record(void *opaque, enum ferry_event_type type, const struct ferry_resource *res,
       json_object *obj, json_object *old)
{
    struct seen *s = opaque;
    size_t n = strlen(s->log);

    (void)res;
    snprintf(s->log + n, sizeof s->log - n, "%s %s%s\n", ferry_event_type_name(type),
             ferry_obj_name(obj),
             type != FERRY_EVENT_MODIFIED ? ""
             : !old                       ? " (no old)"
             : old == obj                 ? " (resync)"
                                          : " (changed)");
}

static json_object *
vm(const char *name, const char *ns, const char *mark)
{
    FERRY_AUTOFREE char *labels = ferry_printf("{\"mark\":\"%s\"}", mark);
    FERRY_AUTOFREE char *t = test_vm_text(name, ns, labels);

    return json_tokener_parse(t);
}

static json_object *
make(struct ferry_store *st, json_object *o)
{
    json_object *out = NULL;

    assert_int_equal(ferry_store_create(st, o, &out), 0);
    json_object_put(o);
    return out;
}

static void
drain(struct ferry_informer *inf)
{
    while (ferry_informer_pump(inf, 50, 0) > 0) {
    }
}

static bool
has(const struct seen *s, const char *line)
{
    return strstr(s->log, line) != NULL;
}

/* An informer of the VMs in F's store, its events recorded in S. */
static struct ferry_informer *
vm_informer(struct test_store *f, struct seen *s)
{
    const struct ferry_resource *kinds[] = { ferry_resource_vm };
    struct ferry_informer *inf = NULL;

    assert_int_equal(ferry_informer_new(f->st, kinds, 1, NULL, NULL, record, s, &inf), 0);
    return inf;
}

static void
test_relist_diff(void **state)
{
    struct test_store *f = *state;
    struct ferry_informer *inf = NULL;
    struct seen s = { { 0 } };
    FERRY_AUTOPTR(json_object) a = make(f->st, vm("a", "default", "x"));
    FERRY_AUTOPTR(json_object) b = make(f->st, vm("b", "default", "x"));
    FERRY_AUTOPTR(json_object) c = make(f->st, vm("c", "default", "y"));
    FERRY_AUTOPTR(json_object) got = NULL;
    FERRY_AUTOPTR(json_object) got2 = NULL;
    FERRY_AUTOPTR(json_object) items = NULL;
    FERRY_AUTOPTR(json_object) b2 = NULL;
    FERRY_AUTOPTR(json_object) d = NULL;
    struct ferry_selector *sel = NULL;

    inf = vm_informer(f, &s);
    assert_false(ferry_informer_synced(inf));
    assert_int_equal(ferry_informer_sync(inf), 0);
    assert_true(ferry_informer_synced(inf));
    assert_string_equal(s.log, "ADDED a\nADDED b\nADDED c\n");
    assert_int_equal(ferry_informer_count(inf, ferry_resource_vm), 3);

    /* a live event */
    s.log[0] = '\0';
    {
        FERRY_AUTOPTR(json_object) copy = ferry_json_copy(a);

        ferry_json_set_string(copy, "spec.runStrategy", "Always");
        assert_int_equal(ferry_store_update(f->st, copy, NULL), 0);
    }
    drain(inf);
    assert_string_equal(s.log, "MODIFIED a (changed)\n");
    assert_int_equal(ferry_informer_get(inf, ferry_resource_vm, "default", "a", &got), 0);
    assert_string_equal(ferry_json_get_string(got, "spec.runStrategy"), "Always");

    /* the listers share the cache's objects */
    assert_int_equal(ferry_informer_get(inf, ferry_resource_vm, NULL, "a", &got2), 0);
    assert_ptr_equal(got, got2);
    json_object_put(got2);
    got2 = NULL;
    assert_int_equal(ferry_selector_parse("mark=x", &sel), 0);
    assert_int_equal(ferry_informer_list(inf, ferry_resource_vm, "default", sel, &items), 0);
    ferry_selector_free(sel);
    assert_int_equal(json_object_array_length(items), 2);
    assert_string_equal(ferry_obj_name(json_object_array_get_idx(items, 0)), "a");
    assert_ptr_equal(json_object_array_get_idx(items, 0), got);
    json_object_put(items);
    assert_int_equal(ferry_informer_list(inf, ferry_resource_vm, "other", NULL, &items), 0);
    assert_int_equal(json_object_array_length(items), 0);
    assert_int_equal(ferry_informer_get(inf, ferry_resource_vm, "default", "zz", &got2), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    assert_non_null(strstr(ferry_error_message(), "virtualmachines.kubevirt.io \"zz\" not found"));
    ferry_error_reset();
    assert_int_equal(ferry_informer_get(inf, ferry_resource_dv, "default", "a", &got2), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    ferry_error_reset();

    /* away: d made, b changed, c deleted, and the history (5 changes)
     * outrun by writes of another kind */
    ferry_store_set_history(f->st, 5);
    d = make(f->st, vm("d", "default", "x"));
    b2 = ferry_json_copy(b);
    ferry_json_set_string(b2, "spec.runStrategy", "Always");
    assert_int_equal(ferry_store_update(f->st, b2, NULL), 0);
    assert_int_equal(ferry_store_delete(f->st, ferry_resource_vm, "default", "c"), 0);
    for (int i = 0; i < 12; i++) {
        FERRY_AUTOFREE char *name = ferry_printf("dv%d", i);
        FERRY_AUTOFREE char *t = ferry_printf(
            "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
            "\"metadata\":{\"name\":\"%s\"},\"spec\":{}}", name);
        json_object_put(make(f->st, json_tokener_parse(t)));
    }
    s.log[0] = '\0';
    /* the pump meets EXPIRED and re-lists by itself */
    assert_true(ferry_informer_pump(inf, 100, 0) >= 0);
    assert_true(has(&s, "DELETED c\n"));
    assert_true(has(&s, "ADDED d\n"));
    assert_true(has(&s, "MODIFIED b (changed)\n"));
    assert_true(has(&s, "MODIFIED a (resync)\n"));
    assert_false(has(&s, "ADDED a"));
    assert_false(has(&s, "ADDED b"));
    assert_int_equal(ferry_informer_count(inf, ferry_resource_vm), 3);
    assert_int_equal(ferry_informer_get(inf, ferry_resource_vm, "default", "c", &got2), -1);
    ferry_error_reset();
    assert_int_equal(ferry_informer_get(inf, ferry_resource_vm, "default", "b", &got2), 0);
    assert_string_equal(ferry_json_get_string(got2, "spec.runStrategy"), "Always");
    json_object_put(got2);
    got2 = NULL;
    /* and it watches on: a live delete */
    s.log[0] = '\0';
    assert_int_equal(ferry_store_delete(f->st, ferry_resource_vm, "default", "d"), 0);
    drain(inf);
    assert_string_equal(s.log, "DELETED d\n");

    ferry_informer_free(inf);
}

static void
test_observe(void **state)
{
    struct test_store *f = *state;
    struct seen s = { { 0 } };
    FERRY_AUTOPTR(json_object) a = make(f->st, vm("a", "default", "x"));
    struct ferry_informer *inf = vm_informer(f, &s);
    FERRY_AUTOPTR(json_object) copy = ferry_json_copy(a);
    FERRY_AUTOPTR(json_object) out = NULL;
    FERRY_AUTOPTR(json_object) got = NULL;

    assert_int_equal(ferry_informer_sync(inf), 0);
    ferry_json_set_string(copy, "spec.runStrategy", "Always");
    assert_int_equal(ferry_store_update(f->st, copy, &out), 0);
    ferry_informer_observe(inf, out);
    assert_int_equal(ferry_informer_get(inf, ferry_resource_vm, "default", "a", &got), 0);
    assert_string_equal(ferry_json_get_string(got, "spec.runStrategy"), "Always");
    json_object_put(got);
    got = NULL;
    /* an older state observed late does not take it back */
    ferry_informer_observe(inf, a);
    assert_int_equal(ferry_informer_get(inf, ferry_resource_vm, "default", "a", &got), 0);
    assert_string_equal(ferry_json_get_string(got, "spec.runStrategy"), "Always");
    json_object_put(got);
    got = NULL;
    /* the write's own event still reaches the handler */
    s.log[0] = '\0';
    drain(inf);
    assert_true(has(&s, "MODIFIED a"));
    ferry_informer_free(inf);
}

static json_object *
vmi_labeled(const char *name, const char *node)
{
    FERRY_AUTOFREE char *t = ferry_printf(
        "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstance\","
        "\"metadata\":{\"name\":\"%s\",\"labels\":{\"kubevirt.io/nodeName\":\"%s\"}},"
        "\"spec\":{}}", name, node);

    return json_tokener_parse(t);
}

static void
test_watch_selected(void **state)
{
    struct test_store *f = *state;
    struct ferry_selector *sel = NULL;
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    FERRY_AUTOPTR(json_object) x = NULL;
    FERRY_AUTOPTR(json_object) y = NULL;

    assert_int_equal(ferry_selector_parse("kubevirt.io/nodeName=n1", &sel), 0);
    x = make(f->st, vmi_labeled("x", "n1"));
    y = make(f->st, vmi_labeled("y", "n2"));
    /* from 0: only the matching objects are listed */
    assert_int_equal(ferry_store_watch_selected(f->st, ferry_resource_vmi, NULL, sel, 0, &w), 0);
    test_expect_event(w, FERRY_EVENT_ADDED, "x");
    assert_int_equal(ferry_watch_next(w, 50, &ev), 0);
    /* x leaves the selector: DELETED; y joins it: its event */
    ferry_obj_set_label(x, "kubevirt.io/nodeName", "n2");
    assert_int_equal(ferry_store_update(f->st, x, NULL), 0);
    test_expect_event(w, FERRY_EVENT_DELETED, "x");
    ferry_obj_set_label(y, "kubevirt.io/nodeName", "n1");
    assert_int_equal(ferry_store_update(f->st, y, NULL), 0);
    test_expect_event(w, FERRY_EVENT_MODIFIED, "y");
    /* a change of an object outside the selector: nothing */
    assert_int_equal(ferry_store_delete(f->st, ferry_resource_vmi, "default", "x"), 0);
    assert_int_equal(ferry_watch_next(w, 50, &ev), 0);
    ferry_watch_free(w);
    ferry_selector_free(sel);
}

/* ---- the controller's handlers: owner keys ---- */

static char *
queued(struct ferry_controller *c)
{
    char *key, *all = ferry_strdup("");

    while (ferry_workqueue_get(c->queue, 0, &key) == 1) {
        char *n = ferry_printf("%s%s\n", all, key);

        free(all);
        all = n;
        ferry_workqueue_done(c->queue, key);
        ferry_workqueue_forget(c->queue, key);
        free(key);
    }
    return all;
}

static json_object *
owned(const char *api, const char *kind, const char *name, json_object *owner,
      const char *extra)
{
    FERRY_AUTOFREE char *t = ferry_printf(
        "{\"apiVersion\":\"%s\",\"kind\":\"%s\",\"metadata\":{\"name\":\"%s\","
        "\"ownerReferences\":[{\"apiVersion\":\"%s\",\"kind\":\"%s\",\"name\":\"%s\","
        "\"uid\":\"%s\",\"controller\":true}]%s},\"spec\":{}}",
        api, kind, name, ferry_json_get_string(owner, "apiVersion"),
        ferry_json_get_string(owner, "kind"), ferry_obj_name(owner), ferry_obj_uid(owner),
        extra);

    return json_tokener_parse(t);
}

static void
test_owner_enqueue(void **state)
{
    struct test_store *f = *state;
    struct ferry_controller_opts o;
    struct ferry_controller *c = NULL;
    FERRY_AUTOFREE char *cdir = ferry_printf("%s/ctl", f->dir);
    FERRY_AUTOFREE char *keys = NULL;
    FERRY_AUTOPTR(json_object) v = NULL;
    FERRY_AUTOPTR(json_object) vmi = NULL;
    FERRY_AUTOPTR(json_object) dv = NULL;

    ferry_controller_opts_init(&o);
    o.state_dir = cdir;
    o.kube_objects = 1;
    o.leader_elect = 0;
    assert_int_equal(ferry_controller_new(&o, &c), 0);
    ferry_store_set_admission(c->st, false);
    v = make(c->st, vm("web", "default", "x"));
    vmi = make(c->st, owned("kubevirt.io/v1", "VirtualMachineInstance", "web", v, ""));
    dv = make(c->st, json_tokener_parse("{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\","
                                        "\"kind\":\"DataVolume\",\"metadata\":{\"name\":"
                                        "\"disk\"},\"spec\":{}}"));
    assert_int_equal(ferry_informer_sync(c->inf), 0);
    keys = queued(c);
    /* the VMI's event enqueues it and its VM */
    assert_non_null(strstr(keys, "Idefault/web\n"));
    assert_non_null(strstr(keys, "Mdefault/web\n"));
    assert_non_null(strstr(keys, "Ddefault/disk\n"));
    free(keys);

    /* a Pod of the VMI, a Job and a PVC of the DV: their owners, and
     * nothing under their own names */
    json_object_put(make(c->st, owned("v1", "Pod", "virt-launcher-web-abcde", vmi, "")));
    while (ferry_informer_pump(c->inf, 50, 0) > 0) {
    }
    keys = queued(c);
    assert_string_equal(keys, "Idefault/web\n");
    free(keys);
    json_object_put(make(c->st, owned("batch/v1", "Job", "importer-disk", dv, "")));
    json_object_put(make(c->st, owned("v1", "PersistentVolumeClaim", "disk", dv, "")));
    while (ferry_informer_pump(c->inf, 50, 0) > 0) {
    }
    keys = queued(c);
    assert_string_equal(keys, "Ddefault/disk\n");
    free(keys);
    /* an importer pod (owned by the Job): the DataVolume it names */
    {
        FERRY_AUTOPTR(json_object) job = NULL;

        assert_int_equal(ctl_get(c, ferry_resource_job, "default", "importer-disk", &job), 0);
        json_object_put(make(c->st, owned("v1", "Pod", "importer-disk-xyz", job,
                                          ",\"annotations\":{\"ferry.io/datavolume\":\"disk\"}")));
    }
    while (ferry_informer_pump(c->inf, 50, 0) > 0) {
    }
    keys = queued(c);
    assert_string_equal(keys, "Ddefault/disk\n");
    free(keys);
    /* the lister answers for all of it */
    assert_int_equal(ferry_informer_count(c->inf, ferry_resource_pod), 2);
    assert_int_equal(ferry_informer_count(c->inf, ferry_resource_pvc), 1);
    keys = NULL;
    ferry_controller_free(c);
}

#define TEST_SETUP setup
#define TEST_TEARDOWN test_store_teardown

TEST_MAIN(NULL, NULL,
          TEST_FX(test_relist_diff),
          TEST_FX(test_observe),
          TEST_FX(test_watch_selected),
          TEST_FX(test_owner_enqueue))
