/* The kube store driver against a real kube-apiserver (tests/kube/
 * kube-store.sh starts it and installs the CRDs):
 *
 *   kube-store-test core WHERE           the store's semantics, as test-store checks
 *                                        them on sqlite, where they apply
 *   kube-store-test ping WHERE [N]       open, N lists of namespaces; "ok" or the error
 *   kube-store-test rotate WHERE FILE TOKEN
 *                                        a tokenFile with a bad token fails; rewritten,
 *                                        the same handle succeeds
 *   kube-store-test bench WHERE N        N objects: create, list, watch latency (numbers)
 *
 * Exit 0 when every check held, 1 otherwise (each failure printed). */
#include "common/store/store.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/util.h"
#include "../unit/testlib-objects.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                    \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fprintf(stderr, " (last error: %s)\n", ferry_error_message());                     \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)
#define OK(call) CHECK((call) == 0, "%s", #call)

static json_object *
parse(const char *text)
{
    json_object *o = NULL;

    if (ferry_json_parse(text, strlen(text), "test", &o) < 0) {
        fprintf(stderr, "bad test JSON: %s\n", ferry_error_message());
        exit(2);
    }
    return o;
}

static json_object *
vm(const char *name, const char *ns, const char *labels)
{
    FERRY_AUTOFREE char *t = test_vm_text(name, ns, labels);

    return parse(t);
}

static int64_t
rv_of(json_object *o)
{
    return strtoll(ferry_obj_resource_version(o) ?: "-1", NULL, 10);
}

/* The next event within ms, or fail. */
static bool
next_event(struct ferry_watch *w, int ms, struct ferry_event *ev)
{
    int r = ferry_watch_next(w, ms, ev);

    if (r != 1) {
        CHECK(r == 1, "watch_next gave %d", r);
        ferry_error_reset();
        return false;
    }
    return true;
}

static bool
expect_event(struct ferry_watch *w, enum ferry_event_type type, const char *name)
{
    struct ferry_event ev;

    for (;;) {
        if (!next_event(w, 10000, &ev))
            return false;
        /* a watch of every kind also sees other kinds (Events ...) */
        if (!ferry_str_eq(ferry_obj_kind(ev.object), "VirtualMachine") ||
            !ferry_str_eq(ferry_obj_name(ev.object), name)) {
            if (!ferry_str_eq(ferry_obj_kind(ev.object), "VirtualMachine")) {
                ferry_event_release(&ev);
                continue;
            }
        }
        break;
    }
    CHECK(ev.type == type && ferry_str_eq(ferry_obj_name(ev.object), name),
          "want %s %s, got %s %s", ferry_event_type_name(type), name,
          ferry_event_type_name(ev.type), ferry_obj_name(ev.object));
    CHECK(ev.resource_version == rv_of(ev.object), "event rv %lld vs object rv %s",
          (long long)ev.resource_version, ferry_obj_resource_version(ev.object));
    ferry_event_release(&ev);
    return true;
}

static void
test_crud(struct ferry_store *st)
{
    FERRY_AUTOPTR(json_object) in = vm("web", "default", "{\"app\":\"web\"}");
    FERRY_AUTOPTR(json_object) a = NULL;
    FERRY_AUTOPTR(json_object) b = NULL;
    FERRY_AUTOPTR(json_object) c = NULL;
    FERRY_AUTOPTR(json_object) d = NULL;
    FERRY_AUTOPTR(json_object) e = NULL;

    ferry_json_set_string(in, "status.printableStatus", "Bogus");
    OK(ferry_store_create(st, in, &a));
    CHECK(ferry_obj_uid(a) && rv_of(a) > 0 && ferry_obj_generation(a) == 1, "create metadata");
    CHECK(!ferry_json_get(a, "status.printableStatus"), "create drops status");
    CHECK(ferry_json_get_bool(a, "spec.x-unknown.kept", false), "unknown field kept");
    CHECK(ferry_store_create(st, in, NULL) == -1 && ferry_error_code() == FERRY_ERR_EXISTS &&
              strstr(ferry_error_message(), "virtualmachines.kubevirt.io \"web\" already exists"),
          "create twice: %s", ferry_error_message());
    ferry_error_reset();
    OK(ferry_store_get(st, ferry_resource_vm, NULL, "web", &b));
    CHECK(ferry_str_eq(ferry_obj_uid(a), ferry_obj_uid(b)), "get the same");
    CHECK(ferry_str_eq(ferry_obj_kind(b), "VirtualMachine"), "get kind");
    CHECK(ferry_store_get(st, ferry_resource_vm, NULL, "nope", &c) == -1 &&
              ferry_error_code() == FERRY_ERR_NOTFOUND &&
              strstr(ferry_error_message(), "virtualmachines.kubevirt.io \"nope\" not found"),
          "get missing: %s", ferry_error_message());
    ferry_error_reset();

    /* update: spec bumps generation, status ignored, stale rv conflicts */
    ferry_json_set_string(b, "spec.runStrategy", "Always");
    ferry_json_set_string(b, "status.printableStatus", "Ignored");
    OK(ferry_store_update(st, b, &c));
    CHECK(ferry_obj_generation(c) == 2 && rv_of(c) > rv_of(a), "update bumps generation");
    CHECK(!ferry_json_get(c, "status.printableStatus"), "update ignores status");
    CHECK(ferry_store_update(st, a, NULL) == -1 && ferry_error_code() == FERRY_ERR_CONFLICT &&
              strstr(ferry_error_message(), "the object has been modified"),
          "stale update: %s", ferry_error_message());
    ferry_error_reset();
    /* no-op: nothing changes, not even the resourceVersion */
    OK(ferry_store_update(st, c, &d));
    CHECK(rv_of(d) == rv_of(c), "no-op update keeps rv (%lld vs %lld)", (long long)rv_of(d),
          (long long)rv_of(c));
    json_object_put(d);
    d = NULL;
    /* unconditional: no resourceVersion */
    ferry_json_del(a, "metadata.resourceVersion");
    ferry_json_set_string(a, "metadata.labels.extra", "yes");
    OK(ferry_store_update(st, a, &d));
    CHECK(ferry_str_eq(ferry_obj_label(d, "extra"), "yes"), "unconditional update");
    /* update_status: only status, generation kept */
    CHECK(ferry_str_eq(ferry_json_get_string(d, "spec.runStrategy"), "Halted"),
          "unconditional update wrote its spec");
    ferry_json_set_string(d, "status.printableStatus", "Stopped");
    ferry_json_set_string(d, "spec.runStrategy", "Manual");
    OK(ferry_store_update_status(st, d, &e));
    CHECK(ferry_str_eq(ferry_json_get_string(e, "status.printableStatus"), "Stopped"),
          "status written");
    CHECK(ferry_str_eq(ferry_json_get_string(e, "spec.runStrategy"), "Halted"),
          "update_status ignores spec");
    CHECK(ferry_obj_generation(e) == ferry_obj_generation(d), "status keeps generation");
    CHECK(ferry_store_update_status(st, c, NULL) == -1 &&
              ferry_error_code() == FERRY_ERR_CONFLICT, "stale status update");
    ferry_error_reset();
    OK(ferry_store_delete(st, ferry_resource_vm, NULL, "web"));
    CHECK(ferry_store_delete(st, ferry_resource_vm, NULL, "web") == -1 &&
              ferry_error_code() == FERRY_ERR_NOTFOUND, "delete twice");
    ferry_error_reset();
}

/* KubeVirt's VMI CRD has no status subresource: the driver keeps the
 * store's semantics by itself. */
static void
test_vmi_status(struct ferry_store *st)
{
    FERRY_AUTOPTR(json_object) in = parse(
        "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstance\",\"metadata\":"
        "{\"name\":\"vmi1\"},\"spec\":{\"domain\":{\"devices\":{}}},\"status\":{\"phase\":\"X\"}}");
    FERRY_AUTOPTR(json_object) a = NULL;
    FERRY_AUTOPTR(json_object) b = NULL;
    FERRY_AUTOPTR(json_object) c = NULL;

    OK(ferry_store_create(st, in, &a));
    CHECK(!ferry_json_get(a, "status.phase"), "vmi create drops status");
    ferry_json_set_string(a, "status.phase", "Running");
    ferry_json_set_string(a, "spec.domain.changed", "no");
    OK(ferry_store_update_status(st, a, &b));
    CHECK(ferry_str_eq(ferry_json_get_string(b, "status.phase"), "Running"), "vmi status");
    CHECK(!ferry_json_get(b, "spec.domain.changed"), "vmi update_status keeps spec");
    ferry_json_set_string(b, "status.phase", "Failed");
    ferry_json_set_string(b, "metadata.labels.l", "v");
    OK(ferry_store_update(st, b, &c));
    CHECK(ferry_str_eq(ferry_json_get_string(c, "status.phase"), "Running"),
          "vmi update keeps status");
    CHECK(ferry_str_eq(ferry_obj_label(c, "l"), "v"), "vmi update writes metadata");
    CHECK(ferry_store_update_status(st, a, NULL) == -1 && ferry_error_code() == FERRY_ERR_CONFLICT,
          "vmi stale status update");
    ferry_error_reset();
    OK(ferry_store_delete(st, ferry_resource_vmi, NULL, "vmi1"));
}

static bool
names_are(json_object *items, const char *want)
{
    FERRY_AUTOFREE char *got = ferry_strdup("");

    for (size_t i = 0; i < json_object_array_length(items); i++) {
        char *n = ferry_printf("%s%s%s", got, i ? "," : "",
                               ferry_obj_name(json_object_array_get_idx(items, i)));
        free(got);
        got = n;
    }
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  names: got \"%s\", want \"%s\"\n", got, want);
        return false;
    }
    return true;
}

static void
test_list_selectors(struct ferry_store *st)
{
    static const char *const sels[][2] = {
        { "app=a", "l1,l3" },
        { "app in (a,b),!x", "l1,l2" },
        { "app!=a", "l2,l4" },
        { "x", "l3" },
        { "app notin (a),tier", "l2" },
    };
    FERRY_AUTOPTR(json_object) ns = parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                                          "\"metadata\":{\"name\":\"kst-other\"}}");
    FERRY_AUTOPTR(json_object) items = NULL;
    int64_t rv = 0;

    if (ferry_store_create(st, ns, NULL) < 0 && ferry_error_code() != FERRY_ERR_EXISTS)
        CHECK(0, "namespace");
    ferry_error_reset();
    const char *objs[][3] = {
        { "l1", "default", "{\"app\":\"a\"}" },
        { "l2", "default", "{\"app\":\"b\",\"tier\":\"t\"}" },
        { "l3", "kst-other", "{\"app\":\"a\",\"x\":\"1\"}" },
        { "l4", "kst-other", "{}" },
    };
    for (size_t i = 0; i < 4; i++) {
        FERRY_AUTOPTR(json_object) o = vm(objs[i][0], objs[i][1], objs[i][2]);
        OK(ferry_store_create(st, o, NULL));
    }
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(sels); i++) {
        struct ferry_selector *sel = NULL;

        OK(ferry_selector_parse(sels[i][0], &sel));
        OK(ferry_store_list(st, ferry_resource_vm, NULL, sel, &items, &rv));
        CHECK(items && names_are(items, sels[i][1]), "selector \"%s\"", sels[i][0]);
        CHECK(rv > 0, "list rv");
        json_object_put(items);
        items = NULL;
        ferry_selector_free(sel);
    }
    OK(ferry_store_list(st, ferry_resource_vm, "kst-other", NULL, &items, NULL));
    CHECK(items && names_are(items, "l3,l4"), "list one namespace");
    CHECK(ferry_str_eq(ferry_obj_api_version(json_object_array_get_idx(items, 0)),
                       "kubevirt.io/v1"), "list items have apiVersion");
    json_object_put(items);
    items = NULL;
    /* built-in kinds: the server leaves kind out of list items; the driver does not */
    OK(ferry_store_list(st, ferry_resource_namespace, NULL, NULL, &items, NULL));
    CHECK(items && json_object_array_length(items) > 0 &&
              ferry_str_eq(ferry_obj_kind(json_object_array_get_idx(items, 0)), "Namespace"),
          "namespace list items have kind");
    for (size_t i = 0; i < 4; i++)
        OK(ferry_store_delete(st, ferry_resource_vm, objs[i][1], objs[i][0]));
}

static void
test_finalizers_and_patch(struct ferry_store *st)
{
    FERRY_AUTOPTR(json_object) in = vm("fin", "default", NULL);
    FERRY_AUTOPTR(json_object) a = NULL;
    FERRY_AUTOPTR(json_object) b = NULL;
    FERRY_AUTOPTR(json_object) c = NULL;
    FERRY_AUTOPTR(json_object) p = NULL;

    ferry_json_set(in, "metadata.finalizers", parse("[\"ferry.io/a\",\"ferry.io/b\"]"));
    OK(ferry_store_create(st, in, &a));
    OK(ferry_store_delete(st, ferry_resource_vm, NULL, "fin"));
    OK(ferry_store_get(st, ferry_resource_vm, NULL, "fin", &b));
    CHECK(ferry_json_get(b, "metadata.deletionTimestamp"), "marked for deletion");
    /* merge patch with a stale resourceVersion: conflict */
    p = parse("{\"metadata\":{\"finalizers\":[\"ferry.io/b\"]}}");
    ferry_json_set_string(p, "metadata.resourceVersion", ferry_obj_resource_version(a));
    CHECK(ferry_store_patch(st, ferry_resource_vm, NULL, "fin", p, false, NULL) == -1 &&
              ferry_error_code() == FERRY_ERR_CONFLICT, "stale patch");
    ferry_error_reset();
    ferry_json_del(p, "metadata.resourceVersion");
    OK(ferry_store_patch(st, ferry_resource_vm, NULL, "fin", p, false, &c));
    CHECK(c && json_object_array_length(ferry_json_get(c, "metadata.finalizers")) == 1,
          "patch removed a finalizer");
    /* status patch */
    json_object_put(p);
    p = parse("{\"status\":{\"printableStatus\":\"Terminating\"},\"spec\":{\"runStrategy\":\"X\"}}");
    json_object_put(c);
    c = NULL;
    OK(ferry_store_patch(st, ferry_resource_vm, NULL, "fin", p, true, &c));
    CHECK(c && ferry_str_eq(ferry_json_get_string(c, "status.printableStatus"), "Terminating") &&
              ferry_str_eq(ferry_json_get_string(c, "spec.runStrategy"), "Halted"),
          "status patch touches only status");
    /* the update that removes the last finalizer removes the object */
    ferry_json_del(c, "metadata.finalizers");
    OK(ferry_store_update(st, c, NULL));
    json_object_put(b);
    b = NULL;
    CHECK(ferry_store_get(st, ferry_resource_vm, NULL, "fin", &b) == -1 &&
              ferry_error_code() == FERRY_ERR_NOTFOUND, "gone after the last finalizer");
    ferry_error_reset();
}

static void
test_watch(struct ferry_store *st)
{
    FERRY_AUTOPTR(json_object) in = vm("w1", "default", NULL);
    FERRY_AUTOPTR(json_object) a = NULL;
    FERRY_AUTOPTR(json_object) b = NULL;
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    int64_t rv = 0, last;

    OK(ferry_store_list(st, ferry_resource_vm, NULL, NULL, NULL, &rv));
    OK(ferry_store_watch(st, ferry_resource_vm, NULL, rv, &w));
    CHECK(w && ferry_watch_next(w, 200, &ev) == 0, "nothing yet: timeout");
    OK(ferry_store_create(st, in, &a));
    ferry_json_set_string(a, "spec.runStrategy", "Always");
    OK(ferry_store_update(st, a, &b));
    OK(ferry_store_delete(st, ferry_resource_vm, NULL, "w1"));
    if (w) {
        expect_event(w, FERRY_EVENT_ADDED, "w1");
        expect_event(w, FERRY_EVENT_MODIFIED, "w1");
        if (next_event(w, 10000, &ev)) {
            CHECK(ev.type == FERRY_EVENT_DELETED && ev.resource_version > rv_of(b),
                  "deleted with the deletion's rv");
            last = ev.resource_version;
            ferry_event_release(&ev);
        } else
            last = rv_of(b);
        ferry_watch_free(w);
        w = NULL;
        /* resume from the last event: only what came after */
        FERRY_AUTOPTR(json_object) in2 = vm("w2", "default", NULL);
        OK(ferry_store_create(st, in2, NULL));
        OK(ferry_store_watch(st, ferry_resource_vm, NULL, last, &w));
        if (w) {
            expect_event(w, FERRY_EVENT_ADDED, "w2");
            CHECK(ferry_watch_next(w, 300, &ev) == 0, "nothing more after resume");
            ferry_watch_free(w);
            w = NULL;
        }
    }
    /* from 0: the current objects as ADDED, then the changes */
    OK(ferry_store_watch(st, ferry_resource_vm, "default", 0, &w));
    if (w) {
        expect_event(w, FERRY_EVENT_ADDED, "w2");
        OK(ferry_store_delete(st, ferry_resource_vm, NULL, "w2"));
        expect_event(w, FERRY_EVENT_DELETED, "w2");
        ferry_watch_free(w);
        w = NULL;
    }
    /* from -1: only changes from now on */
    FERRY_AUTOPTR(json_object) in3 = vm("w3", "default", NULL);
    OK(ferry_store_create(st, in3, NULL));
    OK(ferry_store_watch(st, ferry_resource_vm, NULL, -1, &w));
    if (w) {
        CHECK(ferry_watch_next(w, 300, &ev) == 0, "from -1: no old objects");
        OK(ferry_store_delete(st, ferry_resource_vm, NULL, "w3"));
        expect_event(w, FERRY_EVENT_DELETED, "w3");
        ferry_watch_free(w);
        w = NULL;
    }
}

/* 410: a watch from a resourceVersion the server no longer has: rv 1 is
 * older than the watch cache's window (and than etcd's compaction, every
 * 10 s in kube-store.sh), and 1.20 answers with an in-stream ERROR. */
static void
test_watch_expired(struct ferry_store *st)
{
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    int r = ferry_store_watch(st, ferry_resource_vm, NULL, 1, &w);

    if (r == 0) {
        r = ferry_watch_next(w, 5000, &ev);
        if (r == 1)
            ferry_event_release(&ev);
        ferry_watch_free(w);
    }
    CHECK(r == -1 && ferry_error_code() == FERRY_ERR_EXPIRED, "watch from rv 1 expired: %d", r);
    ferry_error_reset();
}

/* The server ends each watch after timeoutSeconds (2 here): the driver
 * watches again from where it was without the caller noticing. */
static void
test_watch_rewatch(struct ferry_store *st)
{
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    int64_t rv;

    setenv("FERRY_KUBE_WATCH_TIMEOUT", "2", 1);
    OK(ferry_store_list(st, ferry_resource_vm, NULL, NULL, NULL, &rv));
    OK(ferry_store_watch(st, ferry_resource_vm, NULL, rv, &w));
    unsetenv("FERRY_KUBE_WATCH_TIMEOUT");
    if (!w)
        return;
    CHECK(ferry_watch_next(w, 4500, &ev) == 0, "quiet across two server timeouts");
    FERRY_AUTOPTR(json_object) in = vm("rw", "default", NULL);
    OK(ferry_store_create(st, in, NULL));
    expect_event(w, FERRY_EVENT_ADDED, "rw");
    OK(ferry_store_delete(st, ferry_resource_vm, NULL, "rw"));
    expect_event(w, FERRY_EVENT_DELETED, "rw");
    ferry_watch_free(w);
}

/* Every kind (what ferry-controller watches): kinds the server lacks (no
 * KubeVirt CR CRD here) are left out; VMs and DataVolumes both come. */
static void
test_watch_all(struct ferry_store *st)
{
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    int64_t rv;
    bool saw_vm = false, saw_dv = false;
    FERRY_AUTOPTR(json_object) dv = parse(
        "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\",\"metadata\":"
        "{\"name\":\"d1\"},\"spec\":{\"source\":{\"blank\":{}},\"storage\":{}}}");
    FERRY_AUTOPTR(json_object) in = vm("all1", "default", NULL);

    OK(ferry_store_list(st, ferry_resource_vm, NULL, NULL, NULL, &rv));
    OK(ferry_store_watch(st, NULL, NULL, rv, &w));
    if (!w)
        return;
    OK(ferry_store_create(st, dv, NULL));
    OK(ferry_store_create(st, in, NULL));
    for (int i = 0; i < 50 && !(saw_vm && saw_dv); i++) {
        if (!next_event(w, 10000, &ev))
            break;
        if (ferry_str_eq(ferry_obj_name(ev.object), "d1") &&
            ferry_str_eq(ferry_obj_kind(ev.object), "DataVolume"))
            saw_dv = true;
        if (ferry_str_eq(ferry_obj_name(ev.object), "all1") &&
            ferry_str_eq(ferry_obj_kind(ev.object), "VirtualMachine"))
            saw_vm = true;
        ferry_event_release(&ev);
    }
    CHECK(saw_vm && saw_dv, "watch of every kind: vm %d dv %d", saw_vm, saw_dv);
    ferry_watch_free(w);
    OK(ferry_store_delete(st, ferry_resource_vm, NULL, "all1"));
    OK(ferry_store_delete(st, ferry_resource_dv, NULL, "d1"));
}

static void
test_events(struct ferry_store *st, const char *where)
{
    struct ferry_store *other = NULL;
    FERRY_AUTOPTR(json_object) in = vm("ev1", "default", NULL);
    FERRY_AUTOPTR(json_object) a = NULL;
    FERRY_AUTOPTR(json_object) items = NULL;
    int found = 0;
    int64_t count = 0;

    OK(ferry_store_create(st, in, &a));
    ferry_store_record_event(st, a, "Normal", "Tested", "one message");
    ferry_store_record_event(st, a, "Normal", "Tested", "one message");
    ferry_store_record_event(st, a, "Warning", "Tested", "another");
    /* another handle (a second replica) bumps the same Event; then ours
     * again, its cached resourceVersion stale by now */
    OK(ferry_store_open(where, &other));
    if (other) {
        ferry_store_record_event(other, a, "Normal", "Tested", "one message");
        ferry_store_free(other);
    }
    ferry_store_record_event(st, a, "Normal", "Tested", "one message");
    OK(ferry_store_list(st, ferry_resource_event, "default", NULL, &items, NULL));
    for (size_t i = 0; items && i < json_object_array_length(items); i++) {
        json_object *e = json_object_array_get_idx(items, i);
        if (!ferry_str_eq(ferry_json_get_string(e, "involvedObject.uid"), ferry_obj_uid(a)))
            continue;
        found++;
        if (ferry_str_eq(ferry_json_get_string(e, "message"), "one message"))
            count = ferry_json_get_int(e, "count", 0);
    }
    CHECK(found == 2 && count == 4, "events aggregated: %d events, count %lld", found,
          (long long)count);
    OK(ferry_store_delete(st, ferry_resource_vm, NULL, "ev1"));
}

/* generateName, a namespace that does not exist, one that is not a label. */
static void
test_names(struct ferry_store *st)
{
    FERRY_AUTOPTR(json_object) gen = vm("", "default", NULL);
    FERRY_AUTOPTR(json_object) a = NULL;
    FERRY_AUTOPTR(json_object) nons = vm("x", "kst-missing", NULL);
    FERRY_AUTOPTR(json_object) badns = vm("x", "Bad_NS", NULL);

    ferry_json_del(gen, "metadata.name");
    ferry_json_set_string(gen, "metadata.generateName", "gen-");
    OK(ferry_store_create(st, gen, &a));
    CHECK(a && ferry_str_has_prefix(ferry_obj_name(a), "gen-") && strlen(ferry_obj_name(a)) == 9,
          "generateName: %s", a ? ferry_obj_name(a) : "");
    if (a)
        OK(ferry_store_delete(st, ferry_resource_vm, NULL, ferry_obj_name(a)));
    CHECK(ferry_store_create(st, nons, NULL) == -1 && ferry_error_code() == FERRY_ERR_NOTFOUND &&
              strstr(ferry_error_message(), "namespaces \"kst-missing\" not found"),
          "missing namespace: %s", ferry_error_message());
    ferry_error_reset();
    CHECK(ferry_store_create(st, badns, NULL) == -1 && ferry_error_code() == FERRY_ERR_INVALID,
          "bad namespace");
    ferry_error_reset();
}

/* A Node (cluster-scoped, built in, status subresource). */
static void
test_cluster_scoped(struct ferry_store *st)
{
    FERRY_AUTOPTR(json_object) in = parse("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":"
                                          "{\"name\":\"kst-store-node\",\"namespace\":\"ignored\"},"
                                          "\"status\":{\"capacity\":{\"cpu\":\"2\"}}}");
    FERRY_AUTOPTR(json_object) a = NULL;
    FERRY_AUTOPTR(json_object) b = NULL;

    OK(ferry_store_create(st, in, &a));
    CHECK(a && !ferry_obj_namespace(a), "cluster-scoped: no namespace");
    ferry_json_set_string(a, "status.capacity.cpu", "4");
    OK(ferry_store_update_status(st, a, &b));
    CHECK(b && ferry_str_eq(ferry_json_get_string(b, "status.capacity.cpu"), "4"),
          "node status");
    OK(ferry_store_delete(st, ferry_resource_node, NULL, "kst-store-node"));
}

/* One handle, several threads (as the sqlite handle allows). */
struct thread_arg {
    struct ferry_store *st;
    int id;
    int errors;
};

static void *
thread_main(void *opaque)
{
    struct thread_arg *a = opaque;

    for (int i = 0; i < 25; i++) {
        FERRY_AUTOFREE char *name = ferry_printf("t%d-%d", a->id, i);
        FERRY_AUTOPTR(json_object) o = vm(name, "default", NULL);
        FERRY_AUTOPTR(json_object) got = NULL;

        if (ferry_store_create(a->st, o, NULL) < 0 ||
            ferry_store_get(a->st, ferry_resource_vm, NULL, name, &got) < 0 ||
            ferry_store_delete(a->st, ferry_resource_vm, NULL, name) < 0) {
            fprintf(stderr, "thread %d: %s\n", a->id, ferry_error_message());
            a->errors++;
        }
    }
    return NULL;
}

static void
test_threads(struct ferry_store *st)
{
    pthread_t t[4];
    struct thread_arg args[4];

    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){ .st = st, .id = i };
        pthread_create(&t[i], NULL, thread_main, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(args[i].errors == 0, "thread %d: %d errors", i, args[i].errors);
    }
}

static int
core(const char *where)
{
    struct ferry_store *st = NULL;

    if (ferry_store_open(where, &st) < 0) {
        fprintf(stderr, "open %s: %s\n", where, ferry_error_message());
        return 1;
    }
    ferry_store_set_admission(st, false);
    test_crud(st);
    test_vmi_status(st);
    test_list_selectors(st);
    test_finalizers_and_patch(st);
    test_watch(st);
    test_watch_expired(st);
    test_watch_rewatch(st);
    test_watch_all(st);
    test_events(st, where);
    test_cluster_scoped(st);
    test_names(st);
    test_threads(st);
    ferry_store_free(st);
    printf("core: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}

static int
ping(const char *where, int n)
{
    struct ferry_store *st = NULL;

    if (ferry_store_open(where, &st) < 0) {
        printf("error: %s: %s\n", ferry_error_code_name(ferry_error_code()), ferry_error_message());
        return 1;
    }
    for (int i = 0; i < n; i++) {
        FERRY_AUTOPTR(json_object) items = NULL;

        if (ferry_store_list(st, ferry_resource_namespace, NULL, NULL, &items, NULL) < 0) {
            printf("error: %s: %s\n", ferry_error_code_name(ferry_error_code()),
                   ferry_error_message());
            ferry_store_free(st);
            return 1;
        }
    }
    ferry_store_free(st);
    printf("ok\n");
    return 0;
}

static int
rotate(const char *where, const char *file, const char *token)
{
    struct ferry_store *st = NULL;
    FERRY_AUTOPTR(json_object) items = NULL;

    if (ferry_store_open(where, &st) < 0) {
        fprintf(stderr, "open: %s\n", ferry_error_message());
        return 1;
    }
    CHECK(ferry_store_list(st, ferry_resource_namespace, NULL, NULL, &items, NULL) == -1 &&
              ferry_error_code() == FERRY_ERR_SECURITY, "bad token refused");
    printf("bad token: %s\n", ferry_error_message());
    ferry_error_reset();
    CHECK(ferry_file_write_atomic(file, token, strlen(token), 0600) == 0, "rewrite token file");
    OK(ferry_store_list(st, ferry_resource_namespace, NULL, NULL, &items, NULL));
    ferry_store_free(st);
    printf("rotate: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}

/* A watch while the apiserver restarts ($KST_RESTART does it): the watch
 * never fails but with FERRY_ERR_EXPIRED, and after it (or after a relist)
 * a change made after the restart is seen. */
static int
restart(const char *where)
{
    struct ferry_store *st = NULL;
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    const char *cmd = getenv("KST_RESTART");
    FERRY_AUTOPTR(json_object) in = vm("after-restart", "default", NULL);
    int64_t rv;
    bool seen = false;
    int r;

    if (!cmd || ferry_store_open(where, &st) < 0) {
        fprintf(stderr, "restart: KST_RESTART unset or open failed: %s\n", ferry_error_message());
        return 1;
    }
    ferry_store_set_admission(st, false);
    OK(ferry_store_list(st, ferry_resource_vm, NULL, NULL, NULL, &rv));
    OK(ferry_store_watch(st, ferry_resource_vm, NULL, rv, &w));
    if (!w)
        return 1;
    CHECK(system(cmd) == 0, "restart command");
    /* the watch is quiet or expired while the server comes back */
    r = ferry_watch_next(w, 1000, &ev);
    CHECK(r == 0 || (r == -1 && ferry_error_code() == FERRY_ERR_EXPIRED), "watch_next gave %d", r);
    ferry_error_reset();
    OK(ferry_store_create(st, in, NULL));
    for (uint64_t t0 = ferry_now_ns(); !seen && ferry_now_ns() - t0 < 60000000000ULL;) {
        r = w ? ferry_watch_next(w, 1000, &ev) : -1;
        if (r == 1) {
            seen = ferry_str_eq(ferry_obj_name(ev.object), "after-restart");
            ferry_event_release(&ev);
        } else if (r < 0) {
            CHECK(!w || ferry_error_code() == FERRY_ERR_EXPIRED, "watch error %s",
                  ferry_error_message());
            printf("restart: watch %s; relisting\n", w ? ferry_error_message() : "gone");
            ferry_error_reset();
            ferry_watch_free(w);
            w = NULL;
            /* the controller's way: list (sees the object), watch from there */
            FERRY_AUTOPTR(json_object) items = NULL;
            OK(ferry_store_list(st, ferry_resource_vm, NULL, NULL, &items, &rv));
            for (size_t i = 0; items && i < json_object_array_length(items); i++)
                if (ferry_str_eq(ferry_obj_name(json_object_array_get_idx(items, i)),
                                 "after-restart"))
                    seen = true;
            OK(ferry_store_watch(st, ferry_resource_vm, NULL, rv, &w));
        }
    }
    CHECK(seen, "the object made after the restart was seen");
    ferry_watch_free(w);
    OK(ferry_store_delete(st, ferry_resource_vm, NULL, "after-restart"));
    ferry_store_free(st);
    printf("restart: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}

static double
ms_since(uint64_t t0)
{
    return (double)(ferry_now_ns() - t0) / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int
bench(const char *where, int n)
{
    struct ferry_store *st = NULL;
    FERRY_AUTOPTR(json_object) ns = parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                                          "\"metadata\":{\"name\":\"kst-bench\"}}");
    FERRY_AUTOPTR(json_object) items = NULL;
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    double lat[200];
    int nlat = 0;
    uint64_t t0;
    int64_t rv;

    if (ferry_store_open(where, &st) < 0) {
        fprintf(stderr, "open: %s\n", ferry_error_message());
        return 1;
    }
    ferry_store_set_admission(st, false);
    if (ferry_store_create(st, ns, NULL) < 0 && ferry_error_code() != FERRY_ERR_EXISTS)
        CHECK(0, "bench namespace");
    ferry_error_reset();
    t0 = ferry_now_ns();
    for (int i = 0; i < n; i++) {
        FERRY_AUTOFREE char *name = ferry_printf("b%04d", i);
        FERRY_AUTOPTR(json_object) o = vm(name, "kst-bench", "{\"bench\":\"yes\"}");
        if (ferry_store_create(st, o, NULL) < 0) {
            CHECK(0, "create %s", name);
            break;
        }
    }
    printf("bench: create %d VirtualMachines: %.0f ms (%.2f ms each)\n", n, ms_since(t0),
           ms_since(t0) / n);
    for (int round = 0; round < 3; round++) {
        t0 = ferry_now_ns();
        OK(ferry_store_list(st, ferry_resource_vm, "kst-bench", NULL, &items, &rv));
        printf("bench: list %zu VirtualMachines (pages of 500): %.1f ms\n",
               items ? json_object_array_length(items) : 0, ms_since(t0));
        CHECK(items && (int)json_object_array_length(items) == n, "list size");
        if (round < 2) {
            json_object_put(items);
            items = NULL;
        }
    }
    /* watch latency: update one object, time until its event arrives */
    OK(ferry_store_watch(st, ferry_resource_vm, "kst-bench", rv, &w));
    for (int i = 0; w && items && i < 200; i++) {
        json_object *o = json_object_array_get_idx(items, (size_t)i % (size_t)n);
        FERRY_AUTOPTR(json_object) out = NULL;
        FERRY_AUTOFREE char *v = ferry_printf("%d", i);

        ferry_json_set_string(o, "metadata.labels.round", v);
        t0 = ferry_now_ns();
        if (ferry_store_update(st, o, &out) < 0) {
            CHECK(0, "bench update");
            break;
        }
        if (ferry_watch_next(w, 10000, &ev) != 1) {
            CHECK(0, "bench watch event");
            break;
        }
        lat[nlat++] = ms_since(t0);
        ferry_event_release(&ev);
    }
    if (nlat) {
        qsort(lat, (size_t)nlat, sizeof lat[0], cmp_double);
        printf("bench: update -> watch event, %d rounds: median %.2f ms, p90 %.2f ms, "
               "max %.2f ms\n", nlat, lat[nlat / 2], lat[nlat * 9 / 10], lat[nlat - 1]);
    }
    ferry_watch_free(w);
    t0 = ferry_now_ns();
    for (int i = 0; i < n; i++) {
        FERRY_AUTOFREE char *name = ferry_printf("b%04d", i);
        if (ferry_store_delete(st, ferry_resource_vm, "kst-bench", name) < 0) {
            CHECK(0, "delete %s", name);
            break;
        }
    }
    printf("bench: delete %d: %.0f ms\n", n, ms_since(t0));
    ferry_store_free(st);
    return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
    ferry_log_init("kube-store-test");
    if (getenv("KST_DEBUG"))
        ferry_log_set_debug(getenv("KST_DEBUG"));
    if (argc >= 3 && strcmp(argv[1], "core") == 0)
        return core(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "ping") == 0)
        return ping(argv[2], argc > 3 ? atoi(argv[3]) : 1);
    if (argc == 5 && strcmp(argv[1], "rotate") == 0)
        return rotate(argv[2], argv[3], argv[4]);
    if (argc == 3 && strcmp(argv[1], "restart") == 0)
        return restart(argv[2]);
    if (argc == 4 && strcmp(argv[1], "bench") == 0)
        return bench(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: kube-store-test core|ping|rotate|bench WHERE ...\n");
    return 2;
}
