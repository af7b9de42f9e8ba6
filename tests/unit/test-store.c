/* The sqlite store against a real database in a temporary directory: the API
 * server's semantics (uid, resourceVersion, generation, status subresource,
 * finalizers, cascading deletion, watch resume and expiry, Events), and
 * several processes writing at once (no lost update; kill -9 mid-write
 * leaves a consistent database). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testlib.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/store/store.h"
#include "common/util.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


static int
setup(void **state)
{
    /* these tests are about the store, not about admission */
    *state = test_store_new("test-store", false);
    return 0;
}

/* A new store holds the namespaces default, kube-system and kube-public:
 * resourceVersions 1..3. */
#define BUILTIN_RV 3

/* The object of the JSON TEXT, named NAME. */
static json_object *
named(const char *text, const char *name)
{
    json_object *o = test_json(text);

    ferry_json_set_string(o, "metadata.name", name);
    return o;
}

static json_object *
vm(const char *name)
{
    return named("{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\","
                 "\"metadata\":{},\"spec\":{\"runStrategy\":\"Halted\","
                 "\"template\":{\"spec\":{\"domain\":{\"devices\":{}}}}}}",
                 name);
}

static json_object *
namespace_obj(const char *name)
{
    return named("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{}}", name);
}

static json_object *
dv(const char *name)
{
    return named("{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
                 "\"metadata\":{},\"spec\":{\"source\":{\"blank\":{}},"
                 "\"storage\":{\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}}",
                 name);
}

static json_object *
must_create(struct ferry_store *st, json_object *in)
{
    json_object *out = NULL;

    if (ferry_store_create(st, in, &out) < 0)
        fail_msg("create: %s", ferry_error_message());
    json_object_put(in);
    return out;
}

static int64_t
rv_of(json_object *o)
{
    const char *rv = ferry_json_get_string(o, "metadata.resourceVersion");

    assert_non_null(rv);
    return strtoll(rv, NULL, 10);
}

static void
add_owner(json_object *o, json_object *owner)
{
    json_object *refs = json_object_new_array();
    json_object *ref = json_object_new_object();

    ferry_json_set_string(ref, "apiVersion", ferry_json_get_string(owner, "apiVersion"));
    ferry_json_set_string(ref, "kind", ferry_json_get_string(owner, "kind"));
    ferry_json_set_string(ref, "name", ferry_json_get_string(owner, "metadata.name"));
    ferry_json_set_string(ref, "uid", ferry_json_get_string(owner, "metadata.uid"));
    json_object_array_add(refs, ref);
    ferry_json_set(o, "metadata.ownerReferences", refs);
}

/* ---- basics ----------------------------------------------------------- */

static void
test_create_get(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOPTR(json_object) in = vm("web01");
    FERRY_AUTOPTR(json_object) out = NULL;
    FERRY_AUTOPTR(json_object) got = NULL;
    struct stat sb;
    char path[128];

    ferry_json_set_string(in, "status.printableStatus", "Running");
    assert_int_equal(ferry_store_create(f->st, in, &out), 0);
    assert_string_equal(ferry_json_get_string(out, "metadata.namespace"), "default");
    assert_int_equal(strlen(ferry_json_get_string(out, "metadata.uid")), 36);
    assert_int_equal(ferry_json_get_string(out, "metadata.uid")[14], '4');
    assert_non_null(ferry_json_get_string(out, "metadata.creationTimestamp"));
    assert_int_equal(ferry_json_get_int(out, "metadata.generation", 0), 1);
    assert_true(rv_of(out) > 0);
    assert_null(ferry_json_get(out, "status")); /* status subresource: dropped on create */
    assert_null(ferry_json_get(in, "metadata.uid")); /* the input is left alone */

    assert_int_equal(ferry_store_get(f->st, ferry_resource_vm, "default", "web01", &got), 0);
    assert_true(ferry_json_equal(got, out));

    assert_int_equal(ferry_store_create(f->st, in, NULL), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_EXISTS);
    assert_string_equal(ferry_error_message(),
                        "virtualmachines.kubevirt.io \"web01\" already exists");

    assert_int_equal(ferry_store_get(f->st, ferry_resource_vm, "other", "web01", &got), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    assert_string_equal(ferry_error_message(), "virtualmachines.kubevirt.io \"web01\" not found");

    snprintf(path, sizeof path, "%s/ferry.db", f->dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/ferry.db-wal", f->dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

/* ferry_state_dir() is computed once per process: each case in a child. */
static int
state_dir_in_child(const char *env, const char *xdg, const char *home, const char *want)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        if (env)
            setenv("FERRY_STATE_DIR", env, 1);
        else
            unsetenv("FERRY_STATE_DIR");
        if (xdg)
            setenv("XDG_STATE_HOME", xdg, 1);
        else
            unsetenv("XDG_STATE_HOME");
        setenv("HOME", home, 1);
        _exit(strcmp(ferry_state_dir(), want) == 0 ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_state_dir(void **state)
{
    assert_int_equal(state_dir_in_child("/srv/ferry", "/x", "/home/u", "/srv/ferry"), 0);
    if (geteuid() == 0) {
        assert_int_equal(state_dir_in_child(NULL, "/x", "/home/u", "/var/lib/ferry"), 0);
    } else {
        assert_int_equal(state_dir_in_child(NULL, "/x", "/home/u", "/x/ferry"), 0);
        assert_int_equal(state_dir_in_child(NULL, NULL, "/home/u", "/home/u/.local/state/ferry"), 0);
    }
}

/* Several processes opening a database that does not exist yet, at once. */
static void
test_concurrent_open(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOFREE char *dir = ferry_printf("%s/fresh", f->dir);
    FERRY_AUTOPTR(json_object) items = NULL;
    struct ferry_store *st = NULL;
    enum { N = 6 };
    pid_t pids[N];

    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char name[16];
            snprintf(name, sizeof name, "p%d", i);
            json_object *o = vm(name);
            if (ferry_store_open(dir, &st) < 0) {
                fprintf(stderr, "child %d: %s\n", i, ferry_error_message());
                _exit(2);
            }
            ferry_store_set_admission(st, false);
            _exit(ferry_store_create(st, o, NULL) < 0 ? 3 : 0);
        }
    }
    for (int i = 0; i < N; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(ferry_store_open(dir, &st), 0);
    assert_int_equal(ferry_store_list(st, ferry_resource_vm, NULL, NULL, &items, NULL), 0);
    assert_int_equal(json_object_array_length(items), N);
    ferry_store_free(st);
}

static void
test_open_creates_dir(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOFREE char *sub = ferry_printf("%s/a/b", f->dir);
    FERRY_AUTOFREE char *where = ferry_printf("sqlite:%s", sub);
    struct ferry_store *st = NULL;
    struct stat sb;

    assert_int_equal(ferry_store_open(where, &st), 0);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    ferry_store_free(st);

    /* the kube driver (tests/kube for the real thing): a missing kubeconfig is named */
    assert_int_equal(ferry_store_open("kube:/nonexistent/kubeconfig", &st), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    assert_non_null(strstr(ferry_error_message(), "/nonexistent/kubeconfig"));
}

static void
test_generate_name_and_cluster_scope(void **state)
{
    struct test_store *f = *state;
    json_object *in = vm("");
    FERRY_AUTOPTR(json_object) a = NULL;
    FERRY_AUTOPTR(json_object) b = NULL;
    FERRY_AUTOPTR(json_object) node = NULL;

    ferry_json_set_string(in, "metadata.name", ""); /* empty counts as absent */
    ferry_json_set_string(in, "metadata.generateName", "web-");
    assert_int_equal(ferry_store_create(f->st, in, &a), 0);
    assert_int_equal(ferry_store_create(f->st, in, &b), 0);
    json_object_put(in);
    assert_true(ferry_str_has_prefix(ferry_json_get_string(a, "metadata.name"), "web-"));
    assert_int_equal(strlen(ferry_json_get_string(a, "metadata.name")), 9);
    assert_string_not_equal(ferry_json_get_string(a, "metadata.name"),
                            ferry_json_get_string(b, "metadata.name"));

    node = must_create(f->st, test_json("{\"apiVersion\":\"v1\",\"kind\":\"Node\","
                                    "\"metadata\":{\"name\":\"n1\",\"namespace\":\"x\"},"
                                    "\"status\":{\"phase\":\"Running\"}}"));
    assert_null(ferry_json_get(node, "metadata.namespace"));
    assert_string_equal(ferry_json_get_string(node, "status.phase"), "Running");
    json_object_put(FERRY_STEAL(node));
    assert_int_equal(ferry_store_get(f->st, ferry_resource_node, NULL, "n1", &node), 0);

    in = test_json("{\"apiVersion\":\"kubevirt.io/v1alpha3\",\"kind\":\"VirtualMachine\","
               "\"metadata\":{\"name\":\"old\"}}");
    assert_int_equal(ferry_store_create(f->st, in, NULL), -1);
    assert_string_equal(ferry_error_message(),
                        "no matches for kind \"VirtualMachine\" in version \"kubevirt.io/v1alpha3\"");
    json_object_put(in);
}

static void
test_resource_lookup(void **state)
{
    static const char *const vm_names[] = { "vm", "vms", "virtualmachine", "virtualmachines",
                                            "VirtualMachine", "virtualmachines.kubevirt.io",
                                            "virtualmachine.kubevirt.io",
                                            "virtualmachines.v1.kubevirt.io" };

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(vm_names); i++)
        assert_ptr_equal(ferry_resource_lookup(vm_names[i]), ferry_resource_vm);
    assert_ptr_equal(ferry_resource_lookup("vmi"), ferry_resource_vmi);
    assert_ptr_equal(ferry_resource_lookup("vmis"), ferry_resource_vmi);
    assert_ptr_equal(ferry_resource_lookup("dv"), ferry_resource_dv);
    assert_ptr_equal(ferry_resource_lookup("datavolumes.cdi.kubevirt.io"), ferry_resource_dv);
    assert_ptr_equal(ferry_resource_lookup("nodes"), ferry_resource_node);
    assert_ptr_equal(ferry_resource_lookup("ev"), ferry_resource_event);
    assert_ptr_equal(ferry_resource_lookup("pods"), ferry_resource_pod);
    assert_ptr_equal(ferry_resource_lookup("jobs.batch"), ferry_resource_job);
    assert_ptr_equal(ferry_resource_lookup("pvc"), ferry_resource_pvc);
    assert_null(ferry_resource_lookup("deployments"));
    assert_string_equal(ferry_error_message(),
                        "the server doesn't have a resource type \"deployments\"");
    assert_null(ferry_resource_lookup("virtualmachines.cdi.kubevirt.io"));
}

static void
test_list(void **state)
{
    struct test_store *f = *state;
    const char *names[] = { "c", "a", "b" };
    FERRY_AUTOPTR(json_object) items = NULL;
    int64_t rv = 0;

    for (size_t i = 0; i < 3; i++) {
        json_object *o = vm(names[i]);
        if (i == 2)
            ferry_json_set_string(o, "metadata.namespace", "prod");
        json_object_put(must_create(f->st, o));
    }
    json_object_put(must_create(f->st, dv("d")));
    assert_int_equal(ferry_store_list(f->st, ferry_resource_vm, NULL, NULL, &items, &rv), 0);
    assert_int_equal(json_object_array_length(items), 3);
    /* by namespace, then name */
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(items, 0), "metadata.name"), "a");
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(items, 1), "metadata.name"), "c");
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(items, 2), "metadata.name"), "b");
    assert_int_equal(rv, BUILTIN_RV + 4);
    json_object_put(FERRY_STEAL(items));
    assert_int_equal(ferry_store_list(f->st, ferry_resource_vm, "prod", NULL, &items, NULL), 0);
    assert_int_equal(json_object_array_length(items), 1);
}

static void
test_list_selector(void **state)
{
    struct test_store *f = *state;
    static const char *const labels[][2] = { { "web", "prod" }, { "web", "dev" }, { "db", "prod" } };
    FERRY_AUTOPTR(json_object) items = NULL;
    struct ferry_selector *sel = NULL;

    for (size_t i = 0; i < 3; i++) {
        json_object *o = vm("");
        char name[8];
        snprintf(name, sizeof name, "v%zu", i);
        ferry_json_set_string(o, "metadata.name", name);
        ferry_json_set_string(o, "metadata.labels.app", labels[i][0]);
        ferry_json_set_string(o, "metadata.labels.env", labels[i][1]);
        json_object_put(must_create(f->st, o));
    }
    json_object_put(must_create(f->st, vm("nolabels")));
    assert_int_equal(ferry_selector_parse("app=web,env!=dev", &sel), 0);
    assert_int_equal(ferry_store_list(f->st, ferry_resource_vm, NULL, sel, &items, NULL), 0);
    assert_int_equal(json_object_array_length(items), 1);
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(items, 0), "metadata.name"), "v0");
    ferry_selector_free(sel);
    json_object_put(FERRY_STEAL(items));
    assert_int_equal(ferry_selector_parse("env in (prod),!missing", &sel), 0);
    assert_int_equal(ferry_store_list(f->st, ferry_resource_vm, NULL, sel, &items, NULL), 0);
    assert_int_equal(json_object_array_length(items), 2);
    ferry_selector_free(sel);
}

/* ---- update, generation, status subresource --------------------------- */

static void
test_update_rules(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOPTR(json_object) v1 = must_create(f->st, vm("web01"));
    FERRY_AUTOPTR(json_object) v2 = NULL;
    FERRY_AUTOPTR(json_object) v3 = NULL;
    FERRY_AUTOPTR(json_object) v4 = NULL;
    FERRY_AUTOPTR(json_object) v5 = NULL;
    FERRY_AUTOPTR(json_object) stale = ferry_json_copy(v1);

    /* spec change: generation + 1 */
    ferry_json_set_string(v1, "spec.runStrategy", "Always");
    assert_int_equal(ferry_store_update(f->st, v1, &v2), 0);
    assert_int_equal(ferry_json_get_int(v2, "metadata.generation", 0), 2);
    assert_true(rv_of(v2) > rv_of(v1));
    assert_string_equal(ferry_json_get_string(v2, "metadata.uid"),
                        ferry_json_get_string(v1, "metadata.uid"));

    /* stale resourceVersion: conflict, worded as the API server words it */
    ferry_json_set_string(stale, "spec.runStrategy", "Manual");
    assert_int_equal(ferry_store_update(f->st, stale, NULL), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_CONFLICT);
    assert_string_equal(ferry_error_message(),
                        "Operation cannot be fulfilled on virtualmachines.kubevirt.io \"web01\": "
                        "the object has been modified; please apply your changes to the latest "
                        "version and try again");

    /* metadata change only: no generation bump; status in an update is ignored;
     * uid and creationTimestamp cannot be changed by update */
    ferry_json_set_string(v2, "metadata.labels.app", "web");
    ferry_json_set_string(v2, "status.printableStatus", "Hacked");
    ferry_json_set_string(v2, "metadata.creationTimestamp", "2000-01-01T00:00:00Z");
    assert_int_equal(ferry_store_update(f->st, v2, &v3), 0);
    assert_int_equal(ferry_json_get_int(v3, "metadata.generation", 0), 2);
    assert_string_equal(ferry_json_get_string(v3, "metadata.labels.app"), "web");
    assert_null(ferry_json_get(v3, "status"));
    assert_string_equal(ferry_json_get_string(v3, "metadata.creationTimestamp"),
                        ferry_json_get_string(v1, "metadata.creationTimestamp"));

    /* update_status: only status, never generation; the spec sent along is ignored */
    ferry_json_set_string(v3, "status.printableStatus", "Stopped");
    ferry_json_set_string(v3, "spec.runStrategy", "Once");
    ferry_json_set_string(v3, "metadata.labels.app", "changed");
    assert_int_equal(ferry_store_update_status(f->st, v3, &v4), 0);
    assert_string_equal(ferry_json_get_string(v4, "status.printableStatus"), "Stopped");
    assert_string_equal(ferry_json_get_string(v4, "spec.runStrategy"), "Always");
    assert_string_equal(ferry_json_get_string(v4, "metadata.labels.app"), "web");
    assert_int_equal(ferry_json_get_int(v4, "metadata.generation", 0), 2);

    /* an update carrying the old status keeps the stored status */
    ferry_json_del(v4, "status");
    ferry_json_set_string(v4, "spec.runStrategy", "Halted");
    assert_int_equal(ferry_store_update(f->st, v4, &v5), 0);
    assert_string_equal(ferry_json_get_string(v5, "status.printableStatus"), "Stopped");
    assert_int_equal(ferry_json_get_int(v5, "metadata.generation", 0), 3);

    /* a no-op write changes nothing, not even the resourceVersion */
    {
        FERRY_AUTOPTR(json_object) v6 = NULL;
        assert_int_equal(ferry_store_update(f->st, v5, &v6), 0);
        assert_int_equal(rv_of(v6), rv_of(v5));
    }

    /* unconditional update: no resourceVersion given */
    ferry_json_del(stale, "metadata.resourceVersion");
    assert_int_equal(ferry_store_update(f->st, stale, NULL), 0);

    /* update of a missing object */
    {
        FERRY_AUTOPTR(json_object) missing = vm("nope");
        assert_int_equal(ferry_store_update(f->st, missing, NULL), -1);
        assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
        assert_int_equal(ferry_store_update_status(f->st, missing, NULL), -1);
        assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    }
}

/* ---- deletion --------------------------------------------------------- */

static void
test_finalizers(void **state)
{
    struct test_store *f = *state;
    json_object *in = vm("web01");
    FERRY_AUTOPTR(json_object) cur = NULL;
    FERRY_AUTOPTR(json_object) next = NULL;
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    json_object *fins = json_object_new_array();
    int64_t gen;

    json_object_array_add(fins, json_object_new_string("kubevirt.io/virtualMachineControllerFinalize"));
    ferry_json_set(in, "metadata.finalizers", json_object_get(fins));
    cur = must_create(f->st, in);
    gen = ferry_json_get_int(cur, "metadata.generation", 0);
    assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, NULL, rv_of(cur), &w), 0);

    assert_int_equal(ferry_store_delete(f->st, ferry_resource_vm, "default", "web01"), 0);
    json_object_put(FERRY_STEAL(cur));
    assert_int_equal(ferry_store_get(f->st, ferry_resource_vm, "default", "web01", &cur), 0);
    assert_non_null(ferry_json_get_string(cur, "metadata.deletionTimestamp"));
    assert_int_equal(ferry_json_get_int(cur, "metadata.generation", 0), gen + 1);
    assert_int_equal(ferry_watch_next(w, 1000, &ev), 1);
    assert_int_equal(ev.type, FERRY_EVENT_MODIFIED);
    ferry_event_release(&ev);

    /* deleting again changes nothing */
    assert_int_equal(ferry_store_delete(f->st, ferry_resource_vm, "default", "web01"), 0);
    assert_int_equal(ferry_watch_next(w, 0, &ev), 0);

    /* no new finalizers on a deleting object */
    ferry_json_set(cur, "metadata.finalizers", json_object_new_array());
    json_object_array_add(ferry_json_get(cur, "metadata.finalizers"),
                          json_object_new_string("other"));
    assert_int_equal(ferry_store_update(f->st, cur, NULL), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    assert_string_equal(ferry_error_message(),
                        "The VirtualMachine \"web01\" is invalid: metadata.finalizers: Forbidden: "
                        "no new finalizers can be added if the object is being deleted, found new "
                        "finalizers []string{\"other\"}");

    /* status writes go on while deleting */
    ferry_json_set(cur, "metadata.finalizers", ferry_json_copy(fins));
    ferry_json_set_string(cur, "status.printableStatus", "Terminating");
    assert_int_equal(ferry_store_update_status(f->st, cur, &next), 0);
    json_object_put(FERRY_STEAL(cur));
    cur = FERRY_STEAL(next);
    assert_int_equal(ferry_watch_next(w, 1000, &ev), 1);
    ferry_event_release(&ev);

    /* removing the last finalizer removes the object */
    ferry_json_set(cur, "metadata.finalizers", json_object_new_array());
    assert_int_equal(ferry_store_update(f->st, cur, NULL), 0);
    assert_int_equal(ferry_store_get(f->st, ferry_resource_vm, "default", "web01", &next), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    assert_int_equal(ferry_watch_next(w, 1000, &ev), 1);
    assert_int_equal(ev.type, FERRY_EVENT_DELETED);
    assert_string_equal(ferry_json_get_string(ev.object, "metadata.name"), "web01");
    assert_int_equal(rv_of(ev.object), ev.resource_version);
    ferry_event_release(&ev);
    ferry_watch_free(w);
    json_object_put(fins);

    assert_int_equal(ferry_store_delete(f->st, ferry_resource_vm, "default", "web01"), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
}

static void
test_cascade(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOPTR(json_object) owner = must_create(f->st, vm("web01"));
    FERRY_AUTOPTR(json_object) other = must_create(f->st, vm("other"));
    FERRY_AUTOPTR(json_object) got = NULL;
    FERRY_AUTOPTR(json_object) d1 = NULL;
    json_object *in;

    /* web01 -> dv1 -> vmi (a chain), web01 -> dv2 (finalizer),
     * web01 + other -> dv3 (two owners) */
    in = dv("dv1");
    add_owner(in, owner);
    d1 = must_create(f->st, in);
    in = test_json("{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstance\","
               "\"metadata\":{\"name\":\"web01\"},\"spec\":{\"domain\":{\"devices\":{}}}}");
    add_owner(in, d1);
    json_object_put(must_create(f->st, in));
    in = dv("dv2");
    add_owner(in, owner);
    ferry_json_set(in, "metadata.finalizers", json_object_new_array());
    json_object_array_add(ferry_json_get(in, "metadata.finalizers"), json_object_new_string("x/y"));
    json_object_put(must_create(f->st, in));
    in = dv("dv3");
    add_owner(in, owner);
    json_object_array_add(ferry_json_get(in, "metadata.ownerReferences"),
                          json_object_new_object());
    ferry_json_set_string(json_object_array_get_idx(ferry_json_get(in, "metadata.ownerReferences"), 1),
                          "uid", ferry_json_get_string(other, "metadata.uid"));
    json_object_put(must_create(f->st, in));

    assert_int_equal(ferry_store_delete(f->st, ferry_resource_vm, "default", "web01"), 0);
    assert_int_equal(ferry_store_get(f->st, ferry_resource_vm, "default", "web01", &got), -1);
    assert_int_equal(ferry_store_get(f->st, ferry_resource_dv, "default", "dv1", &got), -1);
    assert_int_equal(ferry_store_get(f->st, ferry_resource_vmi, "default", "web01", &got), -1);
    /* the dependent with a finalizer is only marked */
    assert_int_equal(ferry_store_get(f->st, ferry_resource_dv, "default", "dv2", &got), 0);
    assert_non_null(ferry_json_get(got, "metadata.deletionTimestamp"));
    json_object_put(FERRY_STEAL(got));
    /* the dependent with a live owner stays and loses the dangling reference */
    assert_int_equal(ferry_store_get(f->st, ferry_resource_dv, "default", "dv3", &got), 0);
    assert_null(ferry_json_get(got, "metadata.deletionTimestamp"));
    assert_int_equal(json_object_array_length(ferry_json_get(got, "metadata.ownerReferences")), 1);
    json_object_put(FERRY_STEAL(got));
    /* and goes with its last owner */
    assert_int_equal(ferry_store_delete(f->st, ferry_resource_vm, "default", "other"), 0);
    assert_int_equal(ferry_store_get(f->st, ferry_resource_dv, "default", "dv3", &got), -1);
}

/* ---- watch ------------------------------------------------------------ */

static void
test_watch_resume(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOPTR(json_object) a = must_create(f->st, vm("a"));
    FERRY_AUTOPTR(json_object) b = NULL;
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    int64_t mid;

    json_object_put(must_create(f->st, dv("d")));
    ferry_json_set_string(a, "spec.runStrategy", "Always");
    assert_int_equal(ferry_store_update(f->st, a, &b), 0);
    mid = rv_of(b);
    json_object_put(must_create(f->st, vm("c")));
    assert_int_equal(ferry_store_delete(f->st, ferry_resource_vm, "default", "a"), 0);

    /* from the start: every VM change, in order, DataVolumes filtered out */
    assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, NULL, BUILTIN_RV + 1, &w), 0);
    test_expect_event(w, FERRY_EVENT_MODIFIED, "a");
    test_expect_event(w, FERRY_EVENT_ADDED, "c");
    test_expect_event(w, FERRY_EVENT_DELETED, "a");
    assert_int_equal(ferry_watch_next(w, 0, &ev), 0);
    ferry_watch_free(w);

    /* resume after mid */
    assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, "default", mid, &w), 0);
    test_expect_event(w, FERRY_EVENT_ADDED, "c");
    test_expect_event(w, FERRY_EVENT_DELETED, "a");
    ferry_watch_free(w);

    /* every kind */
    assert_int_equal(ferry_store_watch(f->st, NULL, NULL, BUILTIN_RV + 1, &w), 0);
    test_expect_event(w, FERRY_EVENT_ADDED, "d");
    ferry_watch_free(w);

    /* 0: the current objects as ADDED, then what follows */
    assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, NULL, 0, &w), 0);
    test_expect_event(w, FERRY_EVENT_ADDED, "c");
    json_object_put(must_create(f->st, vm("e")));
    test_expect_event(w, FERRY_EVENT_ADDED, "e");
    ferry_watch_free(w);

    /* -1: only what follows */
    assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, "other", -1, &w), 0);
    json_object_put(must_create(f->st, vm("f")));
    {
        json_object *o = vm("g");
        ferry_json_set_string(o, "metadata.namespace", "other");
        json_object_put(must_create(f->st, o));
    }
    test_expect_event(w, FERRY_EVENT_ADDED, "g");
    ferry_watch_free(w);
}

static void
test_watch_expiry(void **state)
{
    struct test_store *f = *state;
    struct ferry_watch *w = NULL, *slow = NULL;
    struct ferry_event ev;
    char name[32];

    ferry_store_set_history(f->st, 10);
    assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, NULL, -1, &slow), 0);
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "vm%d", i);
        json_object_put(must_create(f->st, vm(name)));
    }
    assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, NULL, 1, &w), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_EXPIRED);
    assert_true(ferry_str_has_prefix(ferry_error_message(), "too old resource version: 1 ("));

    /* a watcher left behind learns it when it reads */
    assert_int_equal(ferry_watch_next(slow, 1000, &ev), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_EXPIRED);
    ferry_watch_free(slow);

    /* the recent history is still there */
    assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, NULL, BUILTIN_RV + 195, &w), 0);
    test_expect_event(w, FERRY_EVENT_ADDED, "vm195");
    ferry_watch_free(w);
}

struct waiter {
    struct ferry_store *st;
    int64_t from;
    int got;
};

static void *
waiter_main(void *p)
{
    struct waiter *wt = p;
    struct ferry_watch *w = NULL;
    struct ferry_event ev;

    if (ferry_store_watch(wt->st, ferry_resource_vm, NULL, wt->from, &w) < 0)
        return NULL;
    while (wt->got < 50 && ferry_watch_next(w, 10000, &ev) == 1) {
        wt->got++;
        ferry_event_release(&ev);
    }
    ferry_watch_free(w);
    return NULL;
}

/* One handle shared by a watching thread and a writing one. */
static void
test_watch_thread(void **state)
{
    struct test_store *f = *state;
    struct waiter wt = { .st = f->st, .from = -1 };
    pthread_t th;
    char name[32];

    wt.from = 0; /* nothing there yet: all we get are the creates below */
    assert_int_equal(pthread_create(&th, NULL, waiter_main, &wt), 0);
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "t%d", i);
        json_object_put(must_create(f->st, vm(name)));
    }
    pthread_join(th, NULL);
    assert_int_equal(wt.got, 50);
}

/* ---- Events ----------------------------------------------------------- */

static void
test_record_event(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOPTR(json_object) v = must_create(f->st, vm("web01"));
    FERRY_AUTOPTR(json_object) items = NULL;
    json_object *ev;

    ferry_store_record_event(f->st, v, "Normal", "SuccessfulCreate", "Started the virtual machine");
    ferry_store_record_event(f->st, v, "Normal", "SuccessfulCreate", "Started the virtual machine");
    ferry_store_record_event(f->st, v, "Warning", "FailedCreate", "boom");
    assert_int_equal(ferry_store_list(f->st, ferry_resource_event, "default", NULL, &items, NULL), 0);
    assert_int_equal(json_object_array_length(items), 2);
    for (size_t i = 0; i < 2; i++) {
        ev = json_object_array_get_idx(items, i);
        assert_string_equal(ferry_json_get_string(ev, "involvedObject.uid"),
                            ferry_json_get_string(v, "metadata.uid"));
        assert_string_equal(ferry_json_get_string(ev, "involvedObject.kind"), "VirtualMachine");
        if (ferry_str_eq(ferry_json_get_string(ev, "reason"), "SuccessfulCreate"))
            assert_int_equal(ferry_json_get_int(ev, "count", 0), 2);
        else
            assert_string_equal(ferry_json_get_string(ev, "type"), "Warning");
    }
}

/* Admission runs inside create and update (a store opened as the programs
 * open it). */
/* Namespaces are DNS-1123 labels everywhere, and (with admission) must exist. */
static void
test_namespaces(void **state)
{
    struct test_store *f = *state;
    static const char *const bad[] = { "..", ".", "a/b", "/etc", "Bad_NS", "ferry.db",
                                       "caf\xc3\xa9", "-x", "" };
    FERRY_AUTOPTR(json_object) items = NULL;
    FERRY_AUTOPTR(json_object) got = NULL;
    struct ferry_watch *w = NULL;

    /* the built-in ones are there, in a new store */
    assert_int_equal(ferry_store_list(f->st, ferry_resource_namespace, NULL, NULL, &items, NULL), 0);
    assert_int_equal(json_object_array_length(items), 3);
    assert_int_equal(ferry_store_get(f->st, ferry_resource_namespace, NULL, "default", &got), 0);
    assert_string_equal(ferry_json_get_string(got, "status.phase"), "Active");

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(bad); i++) {
        FERRY_AUTOPTR(json_object) o = dv("ferry.db");
        if (!*bad[i])
            continue;
        ferry_json_set_string(o, "metadata.namespace", bad[i]);
        assert_int_equal(ferry_store_create(f->st, o, NULL), -1);
        assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
        assert_non_null(strstr(ferry_error_message(), "metadata.namespace: Invalid value"));
        assert_int_equal(ferry_store_get(f->st, ferry_resource_dv, bad[i], "x", &got), -1);
        assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
        assert_int_equal(ferry_store_delete(f->st, ferry_resource_dv, bad[i], "x"), -1);
        assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
        assert_int_equal(ferry_store_list(f->st, ferry_resource_dv, bad[i], NULL, NULL, NULL), -1);
        assert_int_equal(ferry_store_watch(f->st, ferry_resource_dv, bad[i], -1, &w), -1);
        /* nor may a Namespace carry such a name */
        json_object_put(o);
        o = namespace_obj(bad[i]);
        assert_int_equal(ferry_store_create(f->st, o, NULL), -1);
        assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    }

    /* a namespace that does not exist: NotFound, as NamespaceLifecycle says it */
    ferry_store_set_admission(f->st, true);
    {
        FERRY_AUTOPTR(json_object) o = dv("d");
        ferry_json_set_string(o, "metadata.namespace", "prod");
        assert_int_equal(ferry_store_create(f->st, o, NULL), -1);
        assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
        assert_string_equal(ferry_error_message(), "namespaces \"prod\" not found");
        json_object_put(must_create(f->st, namespace_obj("prod")));
        json_object_put(must_create(f->st, FERRY_STEAL(o)));
        /* not while it holds something; the built-in ones never */
        assert_int_equal(ferry_store_delete(f->st, ferry_resource_namespace, NULL, "prod"), -1);
        assert_int_equal(ferry_store_delete(f->st, ferry_resource_namespace, NULL, "default"), -1);
        assert_int_equal(ferry_store_delete(f->st, ferry_resource_dv, "prod", "d"), 0);
        assert_int_equal(ferry_store_delete(f->st, ferry_resource_namespace, NULL, "prod"), 0);
    }
}

/* The API server's limit on a request body: 3 MiB. */
static void
test_request_size(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOPTR(json_object) o = dv("big");
    size_t n = 3 * 1024 * 1024;
    FERRY_AUTOFREE char *blob = ferry_malloc(n + 1);

    memset(blob, 'b', n);
    blob[n] = '\0';
    ferry_json_set_string(o, "spec.source.blank.x", blob);
    assert_int_equal(ferry_store_create(f->st, o, NULL), -1);
    assert_string_equal(ferry_error_message(), "Request entity too large: limit is 3145728");
    /* and an update that makes it too big */
    json_object_put(FERRY_STEAL(o));
    o = must_create(f->st, dv("big"));
    ferry_json_set_string(o, "metadata.labels.x", "y");
    ferry_json_set_string(o, "spec.source.blank.x", blob);
    assert_int_equal(ferry_store_update(f->st, o, NULL), -1);
    assert_string_equal(ferry_error_message(), "Request entity too large: limit is 3145728");
}

/* Readers do not create a store; a 0-byte ferry.db is damage, not a new store. */
static void
test_open_guards(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOFREE char *missing = ferry_printf("%s/typo", f->dir);
    FERRY_AUTOFREE char *empty = ferry_printf("%s/empty", f->dir);
    FERRY_AUTOFREE char *db = ferry_printf("%s/empty/ferry.db", f->dir);
    struct ferry_store *st = NULL;
    struct stat sb;
    int fd;

    assert_int_equal(ferry_store_open_existing(missing, &st), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    assert_int_equal(stat(missing, &sb), -1);
    assert_int_equal(mkdir(empty, 0700), 0);
    assert_int_equal(ferry_store_open_existing(empty, &st), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    assert_int_equal(stat(db, &sb), -1);
    fd = open(db, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ferry_store_open(empty, &st), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_FORMAT);
    assert_non_null(strstr(ferry_error_message(), "is empty (0 bytes)"));
    assert_int_equal(ferry_store_open_existing(empty, &st), -1);
    /* the one a writer opened is there for readers */
    assert_int_equal(ferry_store_open_existing(f->dir, &st), 0);
    ferry_store_free(st);
    ferry_error_reset();
}

/* A store from before Namespaces: its namespaces are adopted at open. */
static void
test_namespaces_adopted(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOFREE char *db = ferry_printf("%s/ferry.db", f->dir);
    json_object *o = vm("old");
    struct ferry_store *st = NULL;
    FERRY_AUTOPTR(json_object) got = NULL;
    sqlite3 *h = NULL;

    ferry_json_set_string(o, "metadata.namespace", "legacy");
    json_object_put(must_create(f->st, o));
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "DELETE FROM objects WHERE resource = 'namespaces'", NULL,
                                  NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(ferry_store_open(f->dir, &st), 0);
    assert_int_equal(ferry_store_get(st, ferry_resource_namespace, NULL, "legacy", &got), 0);
    json_object_put(FERRY_STEAL(got));
    assert_int_equal(ferry_store_get(st, ferry_resource_namespace, NULL, "default", &got), 0);
    ferry_store_free(st);
}

static void
test_admission_in_store(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOPTR(json_object) in = vm("web01");
    FERRY_AUTOPTR(json_object) out = NULL;
    FERRY_AUTOPTR(json_object) vmi = NULL;

    ferry_store_set_admission(f->st, true);
    /* no memory: refused, with the API server's message */
    assert_int_equal(ferry_store_create(f->st, in, NULL), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    assert_true(ferry_str_has_prefix(ferry_error_message(),
                                     "The VirtualMachine \"web01\" is invalid: "));
    ferry_json_set_string(in, "spec.template.spec.domain.memory.guest", "128Mi");
    assert_int_equal(ferry_store_create(f->st, in, &out), 0);
    assert_string_equal(ferry_json_get_string(out, "spec.template.spec.domain.machine.type"), "q35");
    /* an update that breaks it is refused and changes nothing */
    ferry_json_set_string(out, "spec.runStrategy", "Sometimes");
    assert_int_equal(ferry_store_update(f->st, out, NULL), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);

    /* a VMI gets KubeVirt's defaults, its status included */
    vmi = test_json("{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstance\","
                "\"metadata\":{\"name\":\"v\"},\"spec\":{\"domain\":{\"devices\":{},"
                "\"memory\":{\"guest\":\"64Mi\"}}}}");
    json_object_put(FERRY_STEAL(out));
    assert_int_equal(ferry_store_create(f->st, vmi, &out), 0);
    assert_int_equal(ferry_json_get_int(out, "spec.domain.cpu.sockets", 0), 1);
    assert_string_equal(ferry_json_get_string(out, "status.memory.guestAtBoot"), "64Mi");
}

/* The Event objects are bounded: the oldest go first. */
static void
test_events_bounded(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOPTR(json_object) v = must_create(f->st, vm("web01"));
    FERRY_AUTOPTR(json_object) items = NULL;
    struct ferry_store *st = NULL;
    char msg[32];

    setenv("FERRY_STORE_MAX_EVENTS", "5", 1);
    assert_int_equal(ferry_store_open(f->dir, &st), 0);
    unsetenv("FERRY_STORE_MAX_EVENTS");
    for (int i = 0; i < 12; i++) {
        snprintf(msg, sizeof msg, "message %d", i);
        ferry_store_record_event(st, v, "Normal", "Test", msg);
    }
    assert_int_equal(ferry_store_list(st, ferry_resource_event, NULL, NULL, &items, NULL), 0);
    assert_int_equal(json_object_array_length(items), 5);
    for (size_t i = 0; i < 5; i++) {
        const char *m = ferry_json_get_string(json_object_array_get_idx(items, i), "message");
        assert_true(atoi(m + strlen("message ")) >= 7);
    }
    ferry_store_free(st);
}

/* ---- several processes ------------------------------------------------ */

/* Read-modify-write an annotation counter N times, retrying on conflict. */
static int
increment_loop(const char *dir, int n)
{
    struct ferry_store *st = NULL;

    if (ferry_store_open(dir, &st) < 0)
        return 2;
    ferry_store_set_admission(st, false);
    for (int i = 0; i < n; i++) {
        for (;;) {
            FERRY_AUTOPTR(json_object) o = NULL;
            json_object *ann;
            char buf[32];

            if (ferry_store_get(st, ferry_resource_vm, "default", "counter", &o) < 0)
                return 3;
            ann = ferry_json_ensure_object(o, "metadata.annotations");
            json_object *c = json_object_object_get(ann, "count");
            snprintf(buf, sizeof buf, "%lld",
                     (long long)(c ? strtoll(json_object_get_string(c), NULL, 10) : 0) + 1);
            json_object_object_add(ann, "count", json_object_new_string(buf));
            if (ferry_store_update(st, o, NULL) == 0)
                break;
            if (ferry_error_code() != FERRY_ERR_CONFLICT)
                return 4;
        }
    }
    ferry_store_free(st);
    return 0;
}

static void
test_concurrent_writers(void **state)
{
    struct test_store *f = *state;
    enum { CHILDREN = 4, EACH = 150 };
    FERRY_AUTOPTR(json_object) o = NULL;
    pid_t pids[CHILDREN];
    uint64_t t0 = ferry_now_ns();

    json_object_put(must_create(f->st, vm("counter")));
    for (int i = 0; i < CHILDREN; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(increment_loop(f->dir, EACH));
    }
    for (int i = 0; i < CHILDREN; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(ferry_store_get(f->st, ferry_resource_vm, "default", "counter", &o), 0);
    assert_string_equal(ferry_json_get_string(o, "metadata.annotations.count"), "600");
    print_message("# %d processes x %d read-modify-write increments: %.0f ms\n", CHILDREN, EACH,
                  (ferry_now_ns() - t0) / 1e6);
}

/* Create objects c0, c1, ... and bump a counter object in the same rhythm
 * until killed. */
static void
writer_main(const char *dir)
{
    struct ferry_store *st = NULL;
    char name[32];

    if (ferry_store_open(dir, &st) < 0)
        _exit(2);
    ferry_store_set_admission(st, false);
    ferry_store_set_history(st, 300); /* compaction runs during the kill too */
    for (int i = 0;; i++) {
        snprintf(name, sizeof name, "c%d", i);
        json_object *o = vm(name);
        if (ferry_store_create(st, o, NULL) < 0)
            _exit(3);
        json_object_put(o);
    }
}

static int
count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return n;
}

static void
test_crash_consistency(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOFREE char *path = ferry_printf("%s/ferry.db", f->dir);

    for (int round = 0; round < 3; round++) {
        struct ferry_watch *w = NULL;
        struct ferry_event ev;
        int seen = 0, status;
        pid_t pid;
        sqlite3 *db = NULL;
        sqlite3_stmt *q = NULL;

        assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, NULL, -1, &w), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            writer_main(f->dir);
        /* kill it in the middle of its loop: after some hundred writes seen */
        while (seen < 100 + round * 77) {
            int r = ferry_watch_next(w, 10000, &ev);
            if (r < 0 && ferry_error_code() == FERRY_ERR_EXPIRED) {
                ferry_watch_free(w);
                assert_int_equal(ferry_store_watch(f->st, ferry_resource_vm, NULL, -1, &w), 0);
                continue;
            }
            assert_int_equal(r, 1);
            ferry_event_release(&ev);
            seen++;
        }
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        ferry_watch_free(w);

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        sqlite3_busy_timeout(db, 10000);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
        sqlite3_finalize(q);
        /* the counter is the newest resourceVersion anywhere; objects are a
         * gap-free prefix c0..c(n-1); each live object's stored rv is the
         * one in its JSON */
        int objs = count_rows(db, "SELECT count(*) FROM objects WHERE name LIKE 'c%'");
        assert_true(objs > 0);
        print_message("# round %d: killed after %d objects\n", round, objs);
        assert_int_equal(count_rows(db, "SELECT (SELECT value FROM meta WHERE key='rv') = "
                                        "max((SELECT max(rv) FROM objects), "
                                        "(SELECT max(rv) FROM events))"), 1);
        assert_int_equal(count_rows(db, "SELECT count(*) FROM objects WHERE "
                                        "CAST(json_extract(json, '$.metadata.resourceVersion') "
                                        "AS INTEGER) != rv"), 0);
        assert_int_equal(count_rows(db, "SELECT max(CAST(substr(name, 2) AS INTEGER)) FROM "
                                        "objects WHERE name LIKE 'c%'"), objs - 1);
        assert_int_equal(count_rows(db, "SELECT count(*) FROM owners WHERE dep_uid NOT IN "
                                        "(SELECT uid FROM objects)"), 0);
        sqlite3_close(db);

        /* and it goes on: the next writer continues where this one died */
        for (int i = 0; i < objs; i++) {
            char name[32];
            snprintf(name, sizeof name, "c%d", i);
            assert_int_equal(ferry_store_delete(f->st, ferry_resource_vm, "default", name), 0);
        }
    }
}

/* Creates/s through one handle and the delay from a write in another
 * process to a watcher here: measured, printed, not asserted. */
static void
test_measure(void **state)
{
    struct test_store *f = *state;
    enum { N = 500 };
    char name[32];
    uint64_t t0 = ferry_now_ns(), t1;
    struct ferry_watch *w = NULL;
    struct ferry_event ev;
    double lat_sum = 0, lat_max = 0;
    int pipefd[2];
    pid_t pid;

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "m%d", i);
        json_object_put(must_create(f->st, vm(name)));
    }
    t1 = ferry_now_ns();
    print_message("# %d creates: %.0f/s\n", N, N / ((t1 - t0) / 1e9));
    ferry_store_set_admission(f->st, true);
    json_object_put(must_create(f->st, namespace_obj("admitted")));
    t0 = ferry_now_ns();
    for (int i = 0; i < 200; i++) {
        json_object *o = vm("");
        snprintf(name, sizeof name, "adm%d", i);
        ferry_json_set_string(o, "metadata.name", name);
        ferry_json_set_string(o, "metadata.namespace", "admitted");
        ferry_json_set_string(o, "spec.template.spec.domain.memory.guest", "1Gi");
        json_object_put(must_create(f->st, o));
    }
    print_message("# 200 creates with admission: %.0f/s\n", 200 / ((ferry_now_ns() - t0) / 1e9));
    ferry_store_set_admission(f->st, false);

    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(ferry_store_watch(f->st, ferry_resource_dv, NULL, -1, &w), 0);
    pid = fork();
    if (pid == 0) {
        struct ferry_store *st = NULL;
        char c;
        close(pipefd[1]);
        if (ferry_store_open(f->dir, &st) < 0)
            _exit(2);
        ferry_store_set_admission(st, false);
        for (int i = 0; read(pipefd[0], &c, 1) == 1; i++) {
            snprintf(name, sizeof name, "x%d", i);
            json_object *o = dv(name);
            ferry_store_create(st, o, NULL);
            json_object_put(o);
        }
        _exit(0);
    }
    close(pipefd[0]);
    for (int i = 0; i < 20; i++) {
        uint64_t s = ferry_now_ns();
        assert_int_equal(write(pipefd[1], "x", 1), 1);
        assert_int_equal(ferry_watch_next(w, 10000, &ev), 1);
        double ms = (ferry_now_ns() - s) / 1e6;
        lat_sum += ms;
        if (ms > lat_max)
            lat_max = ms;
        ferry_event_release(&ev);
    }
    close(pipefd[1]);
    waitpid(pid, NULL, 0);
    ferry_watch_free(w);
    print_message("# watch latency across processes: mean %.1f ms, max %.1f ms\n", lat_sum / 20,
                  lat_max);

    t0 = ferry_now_ns();
    {
        FERRY_AUTOPTR(json_object) items = NULL;
        assert_int_equal(ferry_store_list(f->st, ferry_resource_vm, "default", NULL, &items, NULL), 0);
        assert_int_equal(json_object_array_length(items), N);
    }
    print_message("# list of %d: %.1f ms\n", N, (ferry_now_ns() - t0) / 1e6);
}

/* Secret and ConfigMap as the API server keeps them: stringData merged into
 * data as base64 (overriding a key of both) and not kept, type Opaque by
 * default, data values base64 and keys config keys, on create and update;
 * a ConfigMap's key in both data and binaryData refused. */
static void
test_secret_configmap(void **state)
{
    struct test_store *f = *state;
    FERRY_AUTOPTR(json_object) got = NULL;
    FERRY_AUTOPTR(json_object) upd = NULL;
    json_object *in;

    in = test_json("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},"
                   "\"data\":{\"accessKeyId\":\"dXNlcg==\",\"secretKey\":\"b2xk\"},"
                   "\"stringData\":{\"secretKey\":\"p@ss w\\u00f6rd\",\"extra\":\"\"}}");
    if (ferry_store_create(f->st, in, &got) < 0)
        fail_msg("create: %s", ferry_error_message());
    json_object_put(in);
    assert_string_equal(ferry_json_get_string(got, "data.accessKeyId"), "dXNlcg==");
    assert_string_equal(ferry_json_get_string(got, "data.secretKey"), "cEBzcyB3w7ZyZA==");
    assert_string_equal(ferry_json_get_string(got, "data.extra"), "");
    assert_null(ferry_json_get(got, "stringData"));
    assert_string_equal(ferry_json_get_string(got, "type"), "Opaque");
    json_object_put(got);
    got = NULL;
    assert_int_equal(ferry_store_get(f->st, ferry_resource_secret, "default", "s", &got), 0);
    assert_string_equal(ferry_json_get_string(got, "data.secretKey"), "cEBzcyB3w7ZyZA==");
    assert_ptr_equal(ferry_resource_lookup("secrets"), ferry_resource_secret);
    assert_ptr_equal(ferry_resource_lookup("cm"), ferry_resource_configmap);

    /* update: stringData merged again */
    ferry_json_set(got, "stringData", test_json("{\"accessKeyId\":\"admin@internal\"}"));
    if (ferry_store_update(f->st, got, &upd) < 0)
        fail_msg("update: %s", ferry_error_message());
    assert_string_equal(ferry_json_get_string(upd, "data.accessKeyId"), "YWRtaW5AaW50ZXJuYWw=");
    assert_null(ferry_json_get(upd, "stringData"));

    /* refused, nothing stored */
    static const struct {
        const char *json, *msg;
    } bad[] = {
        { "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"b1\"},"
          "\"data\":{\"k\":\"abc\"}}",
          "Secret in version \"v1\" cannot be handled as a Secret: data[k]: illegal base64 data "
          "at input byte 3" },
        { "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"b2\"},"
          "\"data\":{\"k\":\"QQ=A\"}}",
          "illegal base64 data at input byte 2" },
        { "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"b3\"},"
          "\"stringData\":{\"a/b\":\"x\"}}",
          "The Secret \"b3\" is invalid: stringData[a/b]: Invalid value: \"a/b\": a valid config "
          "key must consist of alphanumeric characters" },
        { "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"b4\"},"
          "\"stringData\":{\"k\":1}}",
          "stringData[k]: expected a string" },
        { "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c1\"},"
          "\"data\":{\"ca.crt\":\"x\"},\"binaryData\":{\"ca.crt\":\"AA==\"}}",
          "The ConfigMap \"c1\" is invalid: data[ca.crt]: Invalid value: \"ca.crt\": duplicate "
          "of key present in binaryData" },
        { "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c2\"},"
          "\"data\":{\"..x\":\"x\"}}",
          "data[..x]: Invalid value" },
    };
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(bad); i++) {
        FERRY_AUTOPTR(json_object) o = test_json(bad[i].json);
        FERRY_AUTOPTR(json_object) none = NULL;

        assert_int_equal(ferry_store_create(f->st, o, NULL), -1);
        assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
        if (!strstr(ferry_error_message(), bad[i].msg))
            fail_msg("case %zu: %s", i, ferry_error_message());
        ferry_error_reset();
        assert_int_equal(ferry_store_get(f->st, ferry_resource_for_object(o), "default",
                                         ferry_json_get_string(o, "metadata.name"), &none),
                         -1);
        ferry_error_reset();
    }
    {
        FERRY_AUTOPTR(json_object) cm = test_json(
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"ca\"},"
            "\"data\":{\"ca.crt\":\"-----BEGIN CERTIFICATE-----\"},"
            "\"binaryData\":{\"der\":\"AAE=\"}}");
        FERRY_AUTOPTR(json_object) out = NULL;

        if (ferry_store_create(f->st, cm, &out) < 0)
            fail_msg("create configmap: %s", ferry_error_message());
        assert_string_equal(ferry_json_get_string(out, "binaryData.der"), "AAE=");
        assert_null(ferry_json_get(out, "type"));
    }
    /* a watch of every kind leaves Secrets and ConfigMaps out (listed or
     * changed); a watch of secrets has them */
    {
        struct ferry_watch *all = NULL, *sec = NULL;
        struct ferry_event ev;
        int secrets = 0;

        assert_int_equal(ferry_store_watch(f->st, NULL, NULL, 0, &all), 0);
        assert_int_equal(ferry_store_watch(f->st, ferry_resource_secret, NULL, 0, &sec), 0);
        ferry_json_set(upd, "stringData", test_json("{\"accessKeyId\":\"again\"}"));
        assert_int_equal(ferry_store_update(f->st, upd, NULL), 0);
        {
            FERRY_AUTOPTR(json_object) v = vm("after-secret");
            assert_int_equal(ferry_store_create(f->st, v, NULL), 0);
        }
        while (ferry_watch_next(all, 200, &ev) == 1) {
            const char *kind = ferry_json_get_string(ev.object, "kind");

            assert_string_not_equal(kind, "Secret");
            assert_string_not_equal(kind, "ConfigMap");
            ferry_event_release(&ev);
        }
        while (ferry_watch_next(sec, 200, &ev) == 1) {
            assert_string_equal(ferry_json_get_string(ev.object, "kind"), "Secret");
            secrets++;
            ferry_event_release(&ev);
        }
        assert_int_equal(secrets, 2); /* listed, then updated */
        ferry_watch_free(all);
        ferry_watch_free(sec);
    }
}

#define TEST_SETUP setup
#define TEST_TEARDOWN test_store_teardown

TEST_MAIN(NULL, NULL,
          TEST_FX(test_create_get),
          TEST_FX(test_open_creates_dir),
          TEST_FX(test_concurrent_open),
          TEST_FX(test_generate_name_and_cluster_scope),
          cmocka_unit_test(test_resource_lookup),
          cmocka_unit_test(test_state_dir),
          TEST_FX(test_list),
          TEST_FX(test_list_selector),
          TEST_FX(test_update_rules),
          TEST_FX(test_finalizers),
          TEST_FX(test_cascade),
          TEST_FX(test_watch_resume),
          TEST_FX(test_watch_expiry),
          TEST_FX(test_watch_thread),
          TEST_FX(test_record_event),
          TEST_FX(test_events_bounded),
          TEST_FX(test_namespaces),
          TEST_FX(test_secret_configmap),
          TEST_FX(test_request_size),
          TEST_FX(test_open_guards),
          TEST_FX(test_namespaces_adopted),
          TEST_FX(test_admission_in_store),
          TEST_FX(test_concurrent_writers),
          TEST_FX(test_crash_consistency),
          TEST_FX(test_measure))
