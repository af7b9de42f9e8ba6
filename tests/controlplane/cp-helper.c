/* cp-helper: the few store writes the control plane tests need that belong
 * to ferry-handler (the node side), done through the real store so tests of
 * the controller run without a libvirt:
 *   cp-helper node-heartbeat NAME      create/refresh Node NAME, Ready=True now
 *   cp-helper vmi-release NS NAME      remove ferry.io/node-cleanup from a VMI
 *   cp-helper vmi-phase NS NAME PHASE  set a VMI's status.phase (Running, Failed ...)
 *   cp-helper vmi-paused NS NAME       set the conditions of a paused guest
 *   cp-helper dv-phase NS NAME PHASE   set a DataVolume's status.phase (to replay a
 *                                      controller that died before its status write) */
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/store/store.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

static int
heartbeat(struct ferry_store *st, const char *name)
{
    json_object *node = NULL, *out = NULL;
    char *now = ferry_time_now_rfc3339();
    int r;

    if (ferry_store_get(st, ferry_resource_node, NULL, name, &node) < 0) {
        ferry_error_reset();
        node = json_object_new_object();
        ferry_json_set_string(node, "apiVersion", "v1");
        ferry_json_set_string(node, "kind", "Node");
        ferry_json_set_string(node, "metadata.name", name);
        if (ferry_store_create(st, node, &out) < 0)
            return -1;
        json_object_put(node);
        node = out;
        out = NULL;
    }
    ferry_condition_set(node, "Ready", "True", "KubeletReady", "ferry-handler is posting ready status");
    /* lastHeartbeatTime moves on every beat, unlike lastTransitionTime. */
    ferry_json_set_string(ferry_condition_get(node, "Ready"), "lastHeartbeatTime", now);
    r = ferry_store_update_status(st, node, &out);
    json_object_put(node);
    json_object_put(out);
    free(now);
    return r;
}

/* What the node side writes, retried on conflicts:
 *   PHASE     status.phase (and Ready True for a Running VMI);
 *   "paused"  Paused True (PausedByUser) and Ready False, as ferry-handler
 *             writes for a paused guest;
 *   NULL      the finalizers dropped (the handler releasing the VMI). */
static int
vmi_edit(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
         const char *name, const char *phase)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        json_object *vmi = NULL, *out = NULL;
        int r;

        if (ferry_store_get(st, res, ns, name, &vmi) < 0)
            return -1;
        if (phase && strcmp(phase, "paused") == 0) {
            ferry_condition_set(vmi, "Ready", "False", "Paused", "the VMI is paused");
            ferry_condition_set(vmi, "Paused", "True", "PausedByUser", "VMI was paused by user");
            r = ferry_store_update_status(st, vmi, &out);
        } else if (phase) {
            ferry_json_set_string(vmi, "status.phase", phase);
            if (strcmp(phase, "Running") == 0 && res == ferry_resource_vmi)
                ferry_condition_set(vmi, "Ready", "True", NULL, NULL);
            r = ferry_store_update_status(st, vmi, &out);
        } else {
            json_object *fin = json_object_new_array();

            ferry_json_set(vmi, "metadata.finalizers", fin);
            r = ferry_store_update(st, vmi, &out);
        }
        json_object_put(vmi);
        json_object_put(out);
        if (r == 0 || ferry_error_code() != FERRY_ERR_CONFLICT)
            return r;
        ferry_error_reset();
    }
    return -1;
}

int
main(int argc, char **argv)
{
    struct ferry_store *st;
    int r = -1;

    if (argc < 3) {
        fprintf(stderr, "usage: cp-helper node-heartbeat NAME | vmi-release NS NAME | "
                        "vmi-phase NS NAME PHASE | vmi-paused NS NAME | dv-phase NS NAME PHASE\n");
        return 2;
    }
    if (ferry_store_open(NULL, &st) < 0) {
        fprintf(stderr, "cp-helper: %s\n", ferry_error_message());
        return 1;
    }
    if (strcmp(argv[1], "node-heartbeat") == 0)
        r = heartbeat(st, argv[2]);
    else if (strcmp(argv[1], "vmi-release") == 0 && argc == 4)
        r = vmi_edit(st, ferry_resource_vmi, argv[2], argv[3], NULL);
    else if (strcmp(argv[1], "vmi-phase") == 0 && argc == 5)
        r = vmi_edit(st, ferry_resource_vmi, argv[2], argv[3], argv[4]);
    else if (strcmp(argv[1], "vmi-paused") == 0 && argc == 4)
        r = vmi_edit(st, ferry_resource_vmi, argv[2], argv[3], "paused");
    else if (strcmp(argv[1], "dv-phase") == 0 && argc == 5)
        r = vmi_edit(st, ferry_resource_dv, argv[2], argv[3], argv[4]);
    else
        fprintf(stderr, "cp-helper: bad arguments\n");
    if (r < 0 && ferry_error_message()[0])
        fprintf(stderr, "cp-helper: %s\n", ferry_error_message());
    ferry_store_free(st);
    return r < 0 ? 1 : 0;
}
