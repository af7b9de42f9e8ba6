/* The cluster's parts a SQLite store lacks, for the Kubernetes-mode tests of
 * the control plane (real store writes, as a scheduler and a kubelet make
 * them on a cluster):
 *
 *   kube-play bind NS POD NODE      scheduler: spec.nodeName = NODE, then the
 *                                   kubelet: phase Running, PodScheduled True,
 *                                   podIP 127.0.0.1 (it runs pods on loopback)
 *   kube-play phase NS POD PHASE    kubelet: status.phase (Succeeded, Failed)
 *   kube-play job-pod NS JOB POD [PORT]
 *                                   Job controller: pod POD from JOB's template,
 *                                   owned by JOB; PORT replaces the "metrics"
 *                                   containerPort (pods share the host here)
 *   kube-play terminate NS POD EXIT MSGFILE
 *                                   kubelet: the container ended with EXIT and
 *                                   the termination message in MSGFILE;
 *                                   phase Succeeded (EXIT 0) or Failed
 *   kube-play job-status NS JOB SUCCEEDED FAILED [Complete|Failed]
 *                                   Job controller: counts and condition
 *
 * The store is $FERRY_STATE_DIR's. */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/store/store.h"
#include "common/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read RES NS/NAME, let EDIT change it, and write it back (its status
 * when STATUS), again on a conflict, as a controller does. */
static int
modify(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
       const char *name, bool status, void (*edit)(json_object *, const void *), const void *arg)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        FERRY_AUTOPTR(json_object) obj = NULL;

        if (ferry_store_get(st, res, ns, name, &obj) < 0)
            return -1;
        edit(obj, arg);
        int r = status ? ferry_store_update_status(st, obj, NULL)
                       : ferry_store_update(st, obj, NULL);
        if (r == 0)
            return 0;
        if (ferry_error_code() != FERRY_ERR_CONFLICT)
            return -1;
        ferry_error_reset();
    }
    return -1;
}

static void
edit_node(json_object *pod, const void *node)
{
    ferry_json_set_string(pod, "spec.nodeName", node);
}

static void
edit_phase(json_object *pod, const void *phase)
{
    ferry_json_set_string(pod, "status.phase", phase);
    if (ferry_str_eq(phase, "Running")) {
        ferry_condition_set(pod, "PodScheduled", "True", NULL, NULL);
        ferry_json_set_string(pod, "status.podIP", "127.0.0.1");
    }
}

static int
set_phase(struct ferry_store *st, const char *ns, const char *name, const char *phase)
{
    return modify(st, ferry_resource_pod, ns, name, true, edit_phase, phase);
}

static int
job_pod(struct ferry_store *st, const char *ns, const char *job_name, const char *pod_name,
        const char *port)
{
    FERRY_AUTOPTR(json_object) job = NULL;
    FERRY_AUTOPTR(json_object) pod = json_object_new_object();
    json_object *md;

    if (ferry_store_get(st, ferry_resource_job, ns, job_name, &job) < 0)
        return -1;
    md = ferry_json_copy(ferry_json_get(job, "spec.template.metadata"));
    json_object_object_add(pod, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(pod, "kind", json_object_new_string("Pod"));
    json_object_object_add(pod, "metadata", md ? md : json_object_new_object());
    ferry_json_set_string(pod, "metadata.name", pod_name);
    ferry_json_set_string(pod, "metadata.namespace", ns);
    ferry_obj_set_label(pod, "job-name", job_name);
    ferry_obj_add_owner(pod, job, true);
    json_object_object_add(pod, "spec", ferry_json_copy(ferry_json_get(job, "spec.template.spec")));
    if (port) {
        json_object *ports = ferry_json_get(
            json_object_array_get_idx(ferry_json_get(pod, "spec.containers"), 0), "ports");

        for (size_t i = 0; ports && i < json_object_array_length(ports); i++)
            ferry_json_set_int(json_object_array_get_idx(ports, i), "containerPort", atoi(port));
    }
    return ferry_store_create(st, pod, NULL);
}

struct termination {
    int code;
    const char *msg;
};

static void
edit_terminated(json_object *pod, const void *arg)
{
    const struct termination *t = arg;
    json_object *cs = json_object_new_array(), *c = json_object_new_object();

    ferry_json_set_string(pod, "status.phase", t->code == 0 ? "Succeeded" : "Failed");
    json_object_object_add(c, "name", json_object_new_string("importer"));
    ferry_json_set_int(c, "state.terminated.exitCode", t->code);
    ferry_json_set_string(c, "state.terminated.reason", t->code == 0 ? "Completed" : "Error");
    if (*t->msg)
        ferry_json_set_string(c, "state.terminated.message", t->msg);
    json_object_array_add(cs, c);
    ferry_json_set(pod, "status.containerStatuses", cs);
}

static int
terminate(struct ferry_store *st, const char *ns, const char *name, int code, const char *msgfile)
{
    FERRY_AUTOFREE char *msg = NULL;
    size_t len;

    if (ferry_file_read(msgfile, 4096, &msg, &len) < 0) {
        ferry_error_reset();
        msg = ferry_strdup("");
    }
    struct termination t = { code, msg };
    return modify(st, ferry_resource_pod, ns, name, true, edit_terminated, &t);
}

struct job_counts {
    int ok, failed;
    const char *cond;
};

static void
edit_job(json_object *job, const void *arg)
{
    const struct job_counts *j = arg;

    ferry_json_set_int(job, "status.succeeded", j->ok);
    ferry_json_set_int(job, "status.failed", j->failed);
    if (j->cond)
        ferry_condition_set(job, j->cond, "True", j->cond, NULL);
}

static int
job_status(struct ferry_store *st, const char *ns, const char *name, int ok, int failed,
           const char *cond)
{
    struct job_counts j = { ok, failed, cond };
    return modify(st, ferry_resource_job, ns, name, true, edit_job, &j);
}

int
main(int argc, char **argv)
{
    struct ferry_store *st = NULL;
    int r = -1;

    if (argc < 2 || ferry_store_open_existing(NULL, &st) < 0) {
        fprintf(stderr, "kube-play: %s\n",
                argc < 2 ? "usage: kube-play bind|phase ..." : ferry_error_message());
        return 2;
    }
    if (strcmp(argv[1], "bind") == 0 && argc == 5) {
        r = modify(st, ferry_resource_pod, argv[2], argv[3], false, edit_node, argv[4]);
        if (r == 0)
            r = set_phase(st, argv[2], argv[3], "Running");
    } else if (strcmp(argv[1], "phase") == 0 && argc == 5) {
        r = set_phase(st, argv[2], argv[3], argv[4]);
    } else if (strcmp(argv[1], "job-pod") == 0 && (argc == 5 || argc == 6)) {
        r = job_pod(st, argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    } else if (strcmp(argv[1], "terminate") == 0 && argc == 6) {
        r = terminate(st, argv[2], argv[3], atoi(argv[4]), argv[5]);
    } else if (strcmp(argv[1], "job-status") == 0 && (argc == 6 || argc == 7)) {
        r = job_status(st, argv[2], argv[3], atoi(argv[4]), atoi(argv[5]),
                       argc == 7 ? argv[6] : NULL);
    } else {
        fprintf(stderr, "kube-play: bad arguments\n");
        ferry_store_free(st);
        return 2;
    }
    if (r < 0)
        fprintf(stderr, "kube-play: %s\n", ferry_error_message());
    ferry_store_free(st);
    return r < 0 ? 1 : 0;
}
