/* VMI placement (virt-controller's VMI controller; in Kubernetes mode through
 * a launcher Pod, vmipod.c): a new VMI goes
 * Pending -> Scheduling -> Scheduled with status.nodeName and the label
 * kubevirt.io/nodeName on the one Ready node; from Scheduled on, the node's
 * ferry-handler owns the VMI's status.  A node is Ready when its Node object
 * has condition Ready=True with a lastHeartbeatTime younger than
 * node_ready_seconds (the handler refreshes it every ~10 s).
 *
 * Deletion: a VMI carries the finalizer ferry.io/node-cleanup from its
 * creation; the handler removes it once the domain is gone.  A VMI that never
 * reached a node (or whose Node object is gone) has nobody else to do that,
 * so this file removes it. */
#include "controller/internal.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/util.h"

#include <string.h>
#include <time.h>

static bool
node_ready(struct ferry_controller *c, json_object *node)
{
    json_object *rc = ferry_condition_get(node, "Ready");
    const char *hb = ferry_json_get_string(rc, "lastHeartbeatTime");
    time_t t;

    if (!rc || !ferry_str_eq(ferry_json_get_string(rc, "status"), "True") || !hb)
        return false;
    if (ferry_time_parse_rfc3339(hb, &t) < 0) {
        ferry_error_reset();
        return false;
    }
    return time(NULL) - t < c->o.node_ready_seconds;
}

char *
ferry_placement_ready_node(struct ferry_controller *c, int *ret_total)
{
    FERRY_AUTOPTR(json_object) nodes = NULL;

    *ret_total = 0;
    if (ctl_list(c, ferry_resource_node, NULL, NULL, &nodes) < 0) {
        ferry_error_reset();
        return NULL;
    }
    *ret_total = (int)json_object_array_length(nodes);
    for (size_t i = 0; i < json_object_array_length(nodes); i++) {
        json_object *n = json_object_array_get_idx(nodes, i);

        if (node_ready(c, n) && !ferry_json_get_bool(n, "spec.unschedulable", false))
            return ferry_strdup(ferry_obj_name(n));
    }
    return NULL;
}

static int
set_unschedulable(struct ferry_controller *c, json_object *vmi, json_object *status, int total)
{
    FERRY_AUTOFREE char *msg =
        ferry_printf("0/%d nodes are available: %s", total,
                     total ? "no node has a fresh heartbeat (is ferry-handler running?)"
                           : "no node is registered (is ferry-handler running?)");

    ctl_status_condition(status, "PodScheduled", "False", "Unschedulable", msg);
    /* Look again: nodes also come back by heartbeat, not only by event. */
    ctl_enqueue(c, Q_VMI, ferry_obj_namespace(vmi), ferry_obj_name(vmi), 5000);
    return ctl_write_status(c, vmi, status);
}

int
ctl_vmi_assign_node(struct ferry_controller *c, json_object *vmi, json_object *status,
                    const char *node)
{
    if (!ferry_str_eq(ferry_obj_label(vmi, "kubevirt.io/nodeName"), node)) {
        FERRY_AUTOPTR(json_object) copy = ferry_json_copy(vmi);
        FERRY_AUTOPTR(json_object) out = NULL;

        ferry_obj_set_label(copy, "kubevirt.io/nodeName", node);
        if (ferry_store_update(c->st, copy, &out) < 0)
            return -1;
        ctl_observe(c, out);
        ferry_json_set(vmi, "metadata", ferry_json_copy(ferry_json_get(out, "metadata")));
    }
    json_object_object_add(status, "phase", json_object_new_string("Scheduled"));
    json_object_object_add(status, "nodeName", json_object_new_string(node));
    return 0;
}

int
ferry_vmi_reconcile(struct ferry_controller *c, const char *ns, const char *name)
{
    FERRY_AUTOPTR(json_object) vmi = NULL;
    FERRY_AUTOPTR(json_object) status = NULL;
    FERRY_AUTOFREE char *node = NULL;
    const char *phase, *node_name;
    int total;

    if (ctl_get_copy(c, ferry_resource_vmi, ns, name, &vmi) < 0) {
        FERRY_AUTOFREE char *ekey = ferry_printf("%c%s/%s", Q_VMI, ns, name);

        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        ferry_expectations_delete(c->expect, ekey);
        return 0;
    }
    node_name = ferry_json_get_string(vmi, "status.nodeName");
    if (ctl_is_deleting(vmi)) {
        FERRY_AUTOPTR(json_object) n = NULL;

        if (!ctl_has_finalizer(vmi, FERRY_FINALIZER_NODE))
            return 0;
        if (node_name) {
            if (ctl_get(c, ferry_resource_node, NULL, node_name, &n) == 0)
                return 0; /* the handler of that node cleans up */
            if (ferry_error_code() != FERRY_ERR_NOTFOUND)
                return -1;
            ferry_error_reset();
        }
        return ctl_set_finalizer(c, vmi, FERRY_FINALIZER_NODE, false);
    }
    status = ctl_status_copy(vmi);
    phase = ferry_json_get_string(status, "phase");
    if (node_name && c->kube_objects && (ferry_str_eq(phase, "Scheduled") ||
                                         ferry_str_eq(phase, "Running")))
        return ctl_kube_vmi_check_pod(c, vmi, status);
    if (node_name || (phase && phase[0] && strcmp(phase, "Pending") != 0 &&
                      strcmp(phase, "Scheduling") != 0))
        return 0; /* the handler's from here on */

    if (!phase || !phase[0]) {
        json_object_object_add(status, "phase", json_object_new_string("Pending"));
        if (ctl_write_status(c, vmi, status) < 0)
            return -1;
        if (!c->kube_objects)
            return 0;
    }
    if (c->kube_objects) /* a launcher Pod, placed by the cluster (vmipod.c) */
        return ctl_kube_vmi_reconcile(c, vmi, status);
    node = ferry_placement_ready_node(c, &total);
    if (!node)
        return set_unschedulable(c, vmi, status, total);
    if (strcmp(phase, "Pending") == 0) {
        json_object_object_add(status, "phase", json_object_new_string("Scheduling"));
        ctl_status_condition(status, "PodScheduled", NULL, NULL, NULL);
        return ctl_write_status(c, vmi, status);
    }
    if (ctl_vmi_assign_node(c, vmi, status, node) < 0 || ctl_write_status(c, vmi, status) < 0)
        return -1;
    ferry_store_record_event(c->st, vmi, "Normal", "Scheduled",
                             "Successfully assigned the VirtualMachineInstance to a node");
    ferry_log_info("vmi %s/%s: scheduled on %s", ns, name, node);
    return 0;
}
