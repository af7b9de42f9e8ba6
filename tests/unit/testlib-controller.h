/* What the controller's cmocka tests share: a controller on a state
 * directory of its own.  Include it after <cmocka.h>. */
#ifndef FERRY_TESTS_TESTLIB_CONTROLLER_H
#define FERRY_TESTS_TESTLIB_CONTROLLER_H

#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"
#include "common/json.h"
#include "common/object.h"
#include "common/store/store.h"
#include "controller/controller.h"
#include "controller/internal.h"

/* A controller with the options O, its state directory a new
 * /tmp/ferry-TAG.XXXXXX (O's state_dir, and *RET_DIR for
 * test_controller_free). */
static inline int
test_controller_new(const char *tag, struct ferry_controller_opts *o, char **ret_dir,
                    struct ferry_controller **ret)
{
    FERRY_AUTOFREE char *dir = ferry_printf("/tmp/ferry-%s.XXXXXX", tag);

    if (!mkdtemp(dir))
        return -1;
    o->state_dir = dir;
    if (ferry_controller_new(o, ret) < 0) {
        fprintf(stderr, "controller: %s\n", ferry_error_message());
        ferry_rm_rf(dir);
        return -1;
    }
    *ret_dir = FERRY_STEAL(dir);
    return 0;
}

static inline void
test_controller_free(struct ferry_controller *c, char *dir)
{
    ferry_controller_free(c);
    ferry_rm_rf(dir);
    free(dir);
}

/* The fixture of the controller tests that need nothing more: a controller
 * on its own state directory (test_controller_new), freed by
 * test_ctl_teardown. */
struct test_ctl {
    char *dir;
    struct ferry_controller *c;
};

static inline int
test_ctl_teardown(void **state)
{
    struct test_ctl *fx = *state;

    test_controller_free(fx->c, fx->dir);
    free(fx);
    return 0;
}

/* A pod of the Job JOB in "default", as the Job controller makes it, with a
 * status as the kubelet writes it; MESSAGE: the container's termination
 * message.  An existing pod gets the status only. */
static inline void
test_job_pod(struct ferry_controller *c, const char *job_name, const char *pod,
             const char *phase, int exit_code, const char *message)
{
    FERRY_AUTOPTR(json_object) job = NULL;
    FERRY_AUTOPTR(json_object) p = json_object_new_object();
    FERRY_AUTOPTR(json_object) out = NULL;
    json_object *tmd, *cs, *ct;
    const char *ctr;

    assert_int_equal(ferry_store_get(c->st, ferry_resource_job, "default", job_name, &job), 0);
    tmd = ferry_json_get(job, "spec.template.metadata");
    ctr = ferry_json_get_string(
        json_object_array_get_idx(ferry_json_get(job, "spec.template.spec.containers"), 0), "name");
    json_object_object_add(p, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(p, "kind", json_object_new_string("Pod"));
    json_object_object_add(p, "metadata", ferry_json_copy(tmd));
    ferry_json_set_string(p, "metadata.name", pod);
    ferry_json_set_string(p, "metadata.namespace", "default");
    ferry_obj_add_owner(p, job, true);
    json_object_object_add(p, "spec", ferry_json_copy(ferry_json_get(job, "spec.template.spec")));
    ferry_json_set_string(p, "spec.nodeName", "node1");
    if (ferry_store_create(c->st, p, &out) < 0) {
        assert_int_equal(ferry_error_code(), FERRY_ERR_EXISTS);
        ferry_error_reset();
        assert_int_equal(ferry_store_get(c->st, ferry_resource_pod, "default", pod, &out), 0);
    }
    ferry_json_set_string(out, "status.phase", phase);
    cs = json_object_new_array();
    ct = json_object_new_object();
    json_object_object_add(ct, "name", json_object_new_string(ctr ? ctr : "c"));
    if (ferry_str_eq(phase, "Running")) {
        ferry_json_set_string(ct, "state.running.startedAt", "2026-12-02T00:00:00Z");
    } else if (ferry_str_eq(phase, "Failed") || ferry_str_eq(phase, "Succeeded")) {
        ferry_json_set_int(ct, "state.terminated.exitCode", exit_code);
        ferry_json_set_string(ct, "state.terminated.reason", exit_code ? "Error" : "Completed");
        if (message)
            ferry_json_set_string(ct, "state.terminated.message", message);
    }
    json_object_array_add(cs, ct);
    ferry_json_set(out, "status.containerStatuses", cs);
    assert_int_equal(ferry_store_update_status(c->st, out, NULL), 0);
}

/* The Job's counts and, COND, a True condition of that type. */
static inline void
test_job_status(struct ferry_controller *c, const char *job_name, int succeeded, int failed,
                const char *cond)
{
    FERRY_AUTOPTR(json_object) job = NULL;

    assert_int_equal(ferry_store_get(c->st, ferry_resource_job, "default", job_name, &job), 0);
    ferry_json_set_int(job, "status.succeeded", succeeded);
    ferry_json_set_int(job, "status.failed", failed);
    if (cond)
        ferry_condition_set(job, cond, "True", "Test", "set by the test");
    assert_int_equal(ferry_store_update_status(c->st, job, NULL), 0);
}

#endif
