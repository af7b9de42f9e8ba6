/* Kubernetes object helpers (common/object.c): metadata accessors, labels,
 * selectors in kubectl's string form and as LabelSelector objects,
 * ownerReferences, conditions as meta.SetStatusCondition keeps them, and
 * finalizers; also the program's directory and UUIDs (common/util.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testlib.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/util.h"
#include "common/yaml.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char vm_yaml[] =
    "apiVersion: kubevirt.io/v1\n"
    "kind: VirtualMachine\n"
    "metadata:\n"
    "  name: web\n"
    "  namespace: prod\n"
    "  uid: 1111-2222\n"
    "  resourceVersion: \"42\"\n"
    "  generation: 3\n"
    "  labels: {app: web, tier: frontend, kubevirt.io/os: fedora}\n"
    "  annotations: {ferry.io/source: esx01}\n"
    "spec: {runStrategy: Always}\n";

static void
test_accessors(void **state)
{
    FERRY_AUTOPTR(json_object) vm = test_yaml(vm_yaml);
    FERRY_AUTOPTR(json_object) bare = test_yaml("kind: X\nmetadata: {name: a, namespace: \"\"}\n");
    char *g, *v;

    assert_string_equal(ferry_obj_api_version(vm), "kubevirt.io/v1");
    assert_string_equal(ferry_obj_kind(vm), "VirtualMachine");
    assert_string_equal(ferry_obj_name(vm), "web");
    assert_string_equal(ferry_obj_namespace(vm), "prod");
    assert_string_equal(ferry_obj_uid(vm), "1111-2222");
    assert_string_equal(ferry_obj_resource_version(vm), "42");
    assert_int_equal(ferry_obj_generation(vm), 3);
    assert_string_equal(ferry_obj_label(vm, "kubevirt.io/os"), "fedora");
    assert_string_equal(ferry_obj_annotation(vm, "ferry.io/source"), "esx01");
    assert_null(ferry_obj_label(vm, "nope"));
    assert_null(ferry_obj_namespace(bare)); /* "" is unset */
    assert_null(ferry_obj_api_version(bare));
    assert_null(ferry_obj_labels(bare));
    assert_null(ferry_obj_annotations(bare));
    assert_int_equal(ferry_obj_generation(bare), 0);
    assert_null(ferry_obj_name(NULL));

    ferry_obj_split_api_version("kubevirt.io/v1", &g, &v);
    assert_string_equal(g, "kubevirt.io");
    assert_string_equal(v, "v1");
    free(g), free(v);
    ferry_obj_split_api_version("v1", &g, &v);
    assert_string_equal(g, "");
    assert_string_equal(v, "v1");
    free(g), free(v);
}

static void
test_set_labels(void **state)
{
    FERRY_AUTOPTR(json_object) o = json_object_new_object();

    ferry_obj_set_label(o, "app.kubernetes.io/name", "web"); /* dots stay in the key */
    ferry_obj_set_annotation(o, "ferry.io/imported-from", "vmx");
    assert_string_equal(ferry_obj_label(o, "app.kubernetes.io/name"), "web");
    assert_string_equal(ferry_obj_annotation(o, "ferry.io/imported-from"), "vmx");
    ferry_obj_set_label(o, "app.kubernetes.io/name", "db");
    assert_string_equal(ferry_obj_label(o, "app.kubernetes.io/name"), "db");
    ferry_obj_set_label(o, "app.kubernetes.io/name", NULL);
    assert_null(ferry_obj_label(o, "app.kubernetes.io/name"));
    ferry_obj_set_annotation(o, "x", NULL); /* deleting what is absent is fine */
}

static bool
sel_matches(const char *selector, const char *labels_json)
{
    struct ferry_selector *sel = NULL;
    FERRY_AUTOPTR(json_object) labels = NULL;
    bool m;

    if (ferry_selector_parse(selector, &sel) < 0)
        fail_msg("selector '%s': %s", selector, ferry_error_message());
    if (labels_json)
        assert_int_equal(ferry_json_parse(labels_json, strlen(labels_json), "l", &labels), 0);
    m = ferry_selector_matches(sel, labels);
    ferry_selector_free(sel);
    return m;
}

static void
test_selector_strings(void **state)
{
    const char *l = "{\"app\":\"web\",\"tier\":\"frontend\",\"env\":\"prod\",\"replicas\":\"3\"}";

    assert_true(sel_matches("", l));
    assert_true(sel_matches("", NULL));
    assert_true(sel_matches("app=web", l));
    assert_true(sel_matches("app==web", l));
    assert_false(sel_matches("app=db", l));
    assert_true(sel_matches("app!=db", l));
    assert_true(sel_matches("missing!=x", l)); /* != matches when the label is absent */
    assert_false(sel_matches("app!=web", l));
    assert_true(sel_matches("app=web,tier=frontend", l));
    assert_false(sel_matches("app=web,tier=backend", l));
    assert_true(sel_matches("env in (prod, staging)", l));
    assert_true(sel_matches("env in (prod)", l));
    assert_false(sel_matches("env in (dev,staging)", l));
    assert_true(sel_matches("env notin (dev,staging)", l));
    assert_false(sel_matches("env notin (prod)", l));
    assert_true(sel_matches("missing notin (prod)", l));
    assert_true(sel_matches("app", l));
    assert_false(sel_matches("missing", l));
    assert_true(sel_matches("!missing", l));
    assert_false(sel_matches("!app", l));
    assert_true(sel_matches("  app = web , !missing , env in(prod) ", l));
    assert_true(sel_matches("replicas>2", l));
    assert_false(sel_matches("replicas<3", l));
    assert_true(sel_matches("app=", "{\"app\":\"\"}")); /* empty value is a value */
    assert_false(sel_matches("app=web", NULL));
    /* as labels.Parse: an empty member of a value list is the empty value */
    assert_true(sel_matches("app in (a,,b)", "{\"app\":\"\"}"));
}

static void
test_selector_string_errors(void **state)
{
    const char *bad[] = { "app=web,", "=web", "app in prod", "app in (prod", "a b",
                          "app=we b", "Bad Key=1", "app=-x", "replicas>x", "app in (a b)", "!" };
    struct ferry_selector *sel = NULL;

    for (size_t k = 0; k < FERRY_ARRAY_SIZE(bad); k++) {
        ferry_error_reset();
        if (ferry_selector_parse(bad[k], &sel) == 0) {
            ferry_selector_free(sel);
            fail_msg("'%s' parsed", bad[k]);
        }
        assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
        FERRY_AUTOFREE char *quoted = ferry_printf("label selector \"%s\"", bad[k]);
        if (!strstr(ferry_error_message(), quoted))
            fail_msg("message does not name the selector: %s", ferry_error_message());
    }
}

static void
test_selector_json(void **state)
{
    FERRY_AUTOPTR(json_object) ls = test_yaml(
        "matchLabels: {app: web}\n"
        "matchExpressions:\n"
        "- {key: env, operator: In, values: [prod, staging]}\n"
        "- {key: tier, operator: NotIn, values: [db]}\n"
        "- {key: kubevirt.io/os, operator: Exists}\n"
        "- {key: legacy, operator: DoesNotExist}\n");
    FERRY_AUTOPTR(json_object) yes = test_yaml("{app: web, env: prod, tier: frontend, kubevirt.io/os: fedora}");
    FERRY_AUTOPTR(json_object) no1 = test_yaml("{app: web, env: dev, kubevirt.io/os: fedora}");
    FERRY_AUTOPTR(json_object) no2 = test_yaml("{app: web, env: prod, kubevirt.io/os: fedora, legacy: \"1\"}");
    FERRY_AUTOPTR(json_object) empty = json_object_new_object();
    struct ferry_selector *sel = NULL;

    assert_int_equal(ferry_selector_from_json(ls, &sel), 0);
    assert_true(ferry_selector_matches(sel, yes));
    assert_false(ferry_selector_matches(sel, no1));
    assert_false(ferry_selector_matches(sel, no2));
    ferry_selector_free(sel);

    /* {} selects everything, null selects nothing (LabelSelectorAsSelector) */
    assert_int_equal(ferry_selector_from_json(empty, &sel), 0);
    assert_true(ferry_selector_matches(sel, yes));
    ferry_selector_free(sel);
    assert_int_equal(ferry_selector_from_json(NULL, &sel), 0);
    assert_false(ferry_selector_matches(sel, yes));
    ferry_selector_free(sel);

    const char *bad[] = {
        "matchExpressions: [{key: a, operator: In}]",
        "matchExpressions: [{key: a, operator: Exists, values: [x]}]",
        "matchExpressions: [{key: a, operator: Equals, values: [x]}]",
        "matchExpressions: [{operator: Exists}]",
        "matchLabels: {a: [x]}",
        "matchLabels: {\"bad key\": x}",
    };
    for (size_t k = 0; k < FERRY_ARRAY_SIZE(bad); k++) {
        FERRY_AUTOPTR(json_object) b = test_yaml(bad[k]);

        if (ferry_selector_from_json(b, &sel) == 0) {
            ferry_selector_free(sel);
            fail_msg("'%s' accepted", bad[k]);
        }
    }
    FERRY_AUTOPTR(json_object) eq = test_yaml("matchExpressions: [{key: a, operator: Equals, values: [x]}]");
    assert_int_equal(ferry_selector_from_json(eq, &sel), -1);
    assert_string_equal(ferry_error_message(),
                        "labelSelector.matchExpressions[0].operator: Unsupported value: \"Equals\": "
                        "supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"");
}

static void
test_owners(void **state)
{
    FERRY_AUTOPTR(json_object) vm = test_yaml(vm_yaml);
    FERRY_AUTOPTR(json_object) vmi = test_yaml("kind: VirtualMachineInstance\nmetadata: {name: web}\n");
    FERRY_AUTOPTR(json_object) other = test_yaml("apiVersion: v1\nkind: Thing\nmetadata: {name: t, uid: u-3}\n");

    assert_null(ferry_obj_controller_ref(vmi));
    assert_false(ferry_obj_is_owned_by(vmi, "1111-2222"));
    ferry_obj_add_owner(vmi, vm, true);
    ferry_obj_add_owner(vmi, other, false);
    ferry_obj_add_owner(vmi, vm, true); /* again: replaced, not duplicated */
    assert_int_equal(json_object_array_length(ferry_json_get(vmi, "metadata.ownerReferences")), 2);
    assert_true(ferry_obj_is_owned_by(vmi, "1111-2222"));
    assert_true(ferry_obj_is_owned_by(vmi, "u-3"));
    assert_false(ferry_obj_is_owned_by(vmi, "nope"));
    json_object *ref = ferry_obj_controller_ref(vmi);
    assert_non_null(ref);
    FERRY_AUTOPTR(json_object) want = test_yaml("{apiVersion: kubevirt.io/v1, kind: VirtualMachine, name: web, "
                                           "uid: 1111-2222, controller: true, blockOwnerDeletion: true}");
    assert_true(ferry_json_equal(ref, want));
}

static void
test_conditions(void **state)
{
    FERRY_AUTOPTR(json_object) dv = test_yaml("kind: DataVolume\nmetadata: {name: d}\n");
    json_object *c;
    FERRY_AUTOFREE char *t1 = NULL;

    assert_null(ferry_condition_get(dv, "Ready"));
    assert_false(ferry_condition_is_true(dv, "Ready"));
    assert_true(ferry_condition_set(dv, "Ready", "False", "ImportInProgress", "importing"));
    c = ferry_condition_get(dv, "Ready");
    assert_non_null(c);
    assert_string_equal(ferry_json_get_string(c, "status"), "False");
    assert_string_equal(ferry_json_get_string(c, "reason"), "ImportInProgress");
    t1 = ferry_strdup(ferry_json_get_string(c, "lastTransitionTime"));
    time_t parsed;
    assert_int_equal(ferry_time_parse_rfc3339(t1, &parsed), 0);

    /* same values again: nothing changes */
    assert_false(ferry_condition_set(dv, "Ready", "False", "ImportInProgress", "importing"));

    /* a reason or message change alone keeps lastTransitionTime; make sure a
     * clock tick would show (RFC 3339 has whole seconds) by backdating it */
    json_object_object_add(c, "lastTransitionTime", json_object_new_string("2020-01-01T00:00:00Z"));
    assert_true(ferry_condition_set(dv, "Ready", "False", "Importing", "50% done"));
    c = ferry_condition_get(dv, "Ready");
    assert_string_equal(ferry_json_get_string(c, "lastTransitionTime"), "2020-01-01T00:00:00Z");
    assert_string_equal(ferry_json_get_string(c, "reason"), "Importing");
    assert_string_equal(ferry_json_get_string(c, "message"), "50% done");

    /* NULL reason/message are removed */
    assert_true(ferry_condition_set(dv, "Ready", "False", NULL, NULL));
    assert_null(ferry_json_get(c, "reason"));
    assert_null(ferry_json_get(c, "message"));
    assert_string_equal(ferry_json_get_string(c, "lastTransitionTime"), "2020-01-01T00:00:00Z");

    /* a status change moves it */
    assert_true(ferry_condition_set(dv, "Ready", "True", "Succeeded", NULL));
    assert_true(ferry_condition_is_true(dv, "Ready"));
    assert_string_not_equal(ferry_json_get_string(c, "lastTransitionTime"), "2020-01-01T00:00:00Z");

    /* several types keep their order; remove drops one */
    assert_true(ferry_condition_set(dv, "Bound", "True", "Bound", NULL));
    assert_true(ferry_condition_set(dv, "Running", "False", NULL, NULL));
    json_object *conds = ferry_json_get(dv, "status.conditions");
    assert_int_equal(json_object_array_length(conds), 3);
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(conds, 1), "type"), "Bound");
    assert_true(ferry_condition_remove(dv, "Bound"));
    assert_false(ferry_condition_remove(dv, "Bound"));
    assert_int_equal(json_object_array_length(conds), 2);
    assert_string_equal(ferry_json_get_string(json_object_array_get_idx(conds, 1), "type"), "Running");
}

/* metadata.finalizers: add once, remove, an emptied list disappears. */
static void
test_finalizers(void **state)
{
    FERRY_AUTOPTR(json_object) o = test_yaml("metadata: {name: a, finalizers: [x.io/one]}\n");

    assert_true(ferry_obj_has_finalizer(o, "x.io/one"));
    assert_false(ferry_obj_has_finalizer(o, "x.io/two"));
    assert_true(ferry_obj_set_finalizer(o, "x.io/two", true));
    assert_false(ferry_obj_set_finalizer(o, "x.io/two", true));
    assert_int_equal(json_object_array_length(ferry_json_get(o, "metadata.finalizers")), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(
                            ferry_json_get(o, "metadata.finalizers"), 1)),
                        "x.io/two");
    assert_true(ferry_obj_set_finalizer(o, "x.io/one", false));
    assert_false(ferry_obj_set_finalizer(o, "x.io/one", false));
    assert_true(ferry_obj_set_finalizer(o, "x.io/two", false));
    assert_null(ferry_json_get(o, "metadata.finalizers"));
}

/* The program's own directory and random UUIDs (common/util.c). */
static void
test_self_dir_uuid(void **state)
{
    const char *dir = ferry_self_dir();
    assert_non_null(dir);
    char *me = ferry_printf("%s/test-object", dir);
    assert_int_equal(access(me, X_OK), 0);
    free(me);

    char *a = ferry_uuid_random(), *b = ferry_uuid_random();
    assert_int_equal(strlen(a), 36);
    assert_true(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    assert_int_equal(a[14], '4');                      /* version 4 */
    assert_non_null(strchr("89ab", a[19]));            /* RFC 4122 variant */
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_accessors),
          cmocka_unit_test(test_set_labels),
          cmocka_unit_test(test_selector_strings),
          cmocka_unit_test(test_selector_string_errors),
          cmocka_unit_test(test_selector_json),
          cmocka_unit_test(test_owners),
          cmocka_unit_test(test_conditions),
          cmocka_unit_test(test_finalizers),
          cmocka_unit_test(test_self_dir_uuid))
