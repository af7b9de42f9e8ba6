/* The VirtualMachine reconciler (virt-controller's VM controller).
 *
 * Each pass reads the VM, its VMI (same name) and the DataVolumes its volumes
 * use, then: creates missing DataVolumes from dataVolumeTemplates (owned by
 * the VM); works off status.stateChangeRequests (what `ferry start/stop/
 * restart` write for Manual and RerunOnFailure VMs, as virt-api's
 * subresources do); applies the run strategy (Always, RerunOnFailure, Once,
 * Manual, Halted; `running: true/false` mean Always/Halted) by creating the
 * VMI from the template only when every volume is ready (and, for a VM
 * annotated ferry.io/guest-conversion: pending, the guest on them converted:
 * guestconv.c), or deleting it;
 * counts failed starts into status.startFailure with a growing back-off
 * (CrashLoopBackOff); and writes status: created, ready, conditions,
 * printableStatus in KubeVirt's order of precedence. */
#include "controller/internal.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

/* What the volumes of the template say. */
struct vols {
    bool provisioning;          /* some DV is not Succeeded yet, or the guest is converted */
    char *dv_missing;           /* a dataVolume that does not exist */
    char *dv_error;             /* a DV that Failed */
    char *pvc_missing;          /* a persistentVolumeClaim with neither DV nor volume */
};

static void
vols_release(struct vols *v)
{
    free(v->dv_missing);
    free(v->dv_error);
    free(v->pvc_missing);
}

static bool
in_templates(json_object *vm, const char *dvname)
{
    json_object *t = ferry_json_get(vm, "spec.dataVolumeTemplates");

    for (size_t i = 0; t && i < json_object_array_length(t); i++)
        if (ferry_str_eq(ferry_json_get_string(json_object_array_get_idx(t, i), "metadata.name"),
                         dvname))
            return true;
    return false;
}

/* 1: DV found (phase in *ret_phase, borrowed from a static set), 0: absent. */
static int
dv_phase(struct ferry_controller *c, const char *ns, const char *name, char **ret_phase)
{
    FERRY_AUTOPTR(json_object) dv = NULL;

    if (ctl_get(c, ferry_resource_dv, ns, name, &dv) < 0) {
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        return 0;
    }
    *ret_phase = ferry_strdup(ferry_json_get_string(dv, "status.phase"));
    return 1;
}

static int
check_volumes(struct ferry_controller *c, json_object *vm, struct vols *v)
{
    const char *ns = ferry_obj_namespace(vm);
    json_object *vols = ferry_json_get(vm, "spec.template.spec.volumes");

    for (size_t i = 0; vols && i < json_object_array_length(vols); i++) {
        json_object *vol = json_object_array_get_idx(vols, i);
        const char *dvname = ferry_json_get_string(vol, "dataVolume.name");
        const char *claim = ferry_json_get_string(vol, "persistentVolumeClaim.claimName");
        const char *name = dvname ? dvname : claim;
        FERRY_AUTOFREE char *phase = NULL;
        FERRY_AUTOFREE char *key = NULL;
        int r;

        if (!name)
            continue;
        key = ferry_printf("%s/%s", ns, name);
        strmap_put(&c->dv_users, key, ferry_printf("%s/%s", ns, ferry_obj_name(vm)));
        r = dv_phase(c, ns, name, &phase);
        if (r < 0)
            return -1;
        if (r == 0) {
            FERRY_AUTOCLOSE int disk = -1;

            if (in_templates(vm, name)) {
                v->provisioning = true;
                continue;
            }
            if (dvname) {
                if (!v->dv_missing)
                    v->dv_missing = ferry_strdup(name);
                continue;
            }
            /* A plain PVC: a PersistentVolumeClaim in Kubernetes mode, else
             * a volume directory someone filled. */
            if (c->kube_objects) {
                FERRY_AUTOPTR(json_object) pvc = NULL;

                if (ctl_get(c, ferry_resource_pvc, ns, name, &pvc) < 0) {
                    if (ferry_error_code() != FERRY_ERR_NOTFOUND)
                        return -1;
                    ferry_error_reset();
                    if (!v->pvc_missing)
                        v->pvc_missing = ferry_strdup(name);
                }
                continue;
            }
            disk = ferry_volume_open(c->state_dir, ns, name, FERRY_VOLUME_DISK, O_PATH, 0);
            ferry_error_reset();
            if (disk < 0 && !v->pvc_missing)
                v->pvc_missing = ferry_strdup(name);
            continue;
        }
        if (ferry_str_eq(phase, "Succeeded"))
            continue;
        if (ferry_str_eq(phase, "Failed")) {
            if (!v->dv_error)
                v->dv_error = ferry_strdup(name);
            continue;
        }
        v->provisioning = true;
    }
    return 0;
}

static int
ensure_datavolumes(struct ferry_controller *c, json_object *vm, json_object *status)
{
    json_object *t = ferry_json_get(vm, "spec.dataVolumeTemplates");
    const char *ns = ferry_obj_namespace(vm);

    for (size_t i = 0; t && i < json_object_array_length(t); i++) {
        json_object *tpl = json_object_array_get_idx(t, i);
        const char *name = ferry_json_get_string(tpl, "metadata.name");
        FERRY_AUTOPTR(json_object) dv = NULL;
        FERRY_AUTOPTR(json_object) out = NULL;
        json_object *md;

        if (!name)
            continue;
        if (ctl_get(c, ferry_resource_dv, ns, name, &dv) == 0)
            continue;
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        dv = json_object_new_object();
        json_object_object_add(dv, "apiVersion", json_object_new_string("cdi.kubevirt.io/v1beta1"));
        json_object_object_add(dv, "kind", json_object_new_string("DataVolume"));
        md = ferry_json_get(tpl, "metadata");
        md = md ? ferry_json_copy(md) : json_object_new_object();
        json_object_object_del(md, "creationTimestamp");
        json_object_object_add(md, "namespace", json_object_new_string(ns));
        json_object_object_add(dv, "metadata", md);
        json_object_object_add(dv, "spec", ferry_json_copy(ferry_json_get(tpl, "spec")));
        ferry_obj_add_owner(dv, vm, true);
        if (ferry_store_create(c->st, dv, &out) < 0) {
            FERRY_AUTOFREE char *msg = NULL;

            if (ferry_error_code() == FERRY_ERR_EXISTS) {
                ferry_error_reset();
                continue;
            }
            if (ferry_error_code() != FERRY_ERR_INVALID)
                return -1;
            msg = ferry_printf("Error creating DataVolume %s: %s", name, ferry_error_message());
            ferry_error_reset();
            ferry_store_record_event(c->st, vm, "Warning", "FailedDataVolumeCreate", msg);
            ctl_status_condition(status, "Failure", "True", "FailedCreate", msg);
            continue;
        }
        ctl_observe(c, out);
        {
            FERRY_AUTOFREE char *msg = ferry_printf("Created DataVolume %s", name);

            ferry_store_record_event(c->st, vm, "Normal", "SuccessfulDataVolumeCreate", msg);
        }
    }
    return 0;
}

static const char *
run_strategy(json_object *vm)
{
    const char *rs = ferry_json_get_string(vm, "spec.runStrategy");

    if (rs)
        return rs;
    return ferry_json_get_bool(vm, "spec.running", false) ? "Always" : "Halted";
}

static bool
vmi_final(json_object *vmi)
{
    const char *p = ferry_json_get_string(vmi, "status.phase");

    return vmi && (ferry_str_eq(p, "Succeeded") || ferry_str_eq(p, "Failed"));
}

static int
delete_vmi(struct ferry_controller *c, json_object *vm, json_object *vmi)
{
    FERRY_AUTOFREE char *msg = NULL;

    if (ctl_is_deleting(vmi))
        return 0;
    if (ferry_store_delete(c->st, ferry_resource_vmi, ferry_obj_namespace(vmi),
                           ferry_obj_name(vmi)) < 0) {
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
    }
    msg = ferry_printf("Stopped the virtual machine by deleting the virtual machine instance %s",
                       ferry_obj_uid(vmi));
    ferry_store_record_event(c->st, vm, "Normal", "SuccessfulDelete", msg);
    ferry_log_info("vm %s/%s: deleted its VMI", ferry_obj_namespace(vm), ferry_obj_name(vm));
    return 0;
}

static int
create_vmi(struct ferry_controller *c, json_object *vm, json_object *status, bool paused,
           bool *ret_created)
{
    FERRY_AUTOPTR(json_object) vmi = json_object_new_object();
    FERRY_AUTOPTR(json_object) out = NULL;
    json_object *md = ferry_json_get(vm, "spec.template.metadata");
    json_object *fin = json_object_new_array();
    FERRY_AUTOFREE char *msg = NULL;

    json_object_object_add(vmi, "apiVersion", json_object_new_string("kubevirt.io/v1"));
    json_object_object_add(vmi, "kind", json_object_new_string("VirtualMachineInstance"));
    md = md ? ferry_json_copy(md) : json_object_new_object();
    json_object_object_del(md, "creationTimestamp");
    json_object_object_del(md, "generateName");
    json_object_object_add(md, "name", json_object_new_string(ferry_obj_name(vm)));
    json_object_object_add(md, "namespace", json_object_new_string(ferry_obj_namespace(vm)));
    json_object_array_add(fin, json_object_new_string(FERRY_FINALIZER_NODE));
    json_object_object_add(md, "finalizers", fin);
    json_object_object_add(vmi, "metadata", md);
    ferry_obj_set_label(vmi, "kubevirt.io/created-by", ferry_obj_uid(vm));
    ferry_obj_set_annotation(vmi, "kubevirt.io/latest-observed-api-version", "v1");
    ferry_obj_set_annotation(vmi, "kubevirt.io/storage-observed-api-version", "v1");
    json_object_object_add(vmi, "spec",
                           ferry_json_copy(ferry_json_get(vm, "spec.template.spec")));
    if (paused) /* `ferry start --paused` (virt-api's start with paused=true) */
        ferry_json_set_string(vmi, "spec.startStrategy", "Paused");
    ferry_obj_add_owner(vmi, vm, true);
    if (ferry_store_create(c->st, vmi, &out) < 0) {
        if (ferry_error_code() == FERRY_ERR_EXISTS) {
            ferry_error_reset();
            return 0; /* a VMI of an earlier pass; the next pass sees it */
        }
        if (ferry_error_code() != FERRY_ERR_INVALID)
            return -1;
        msg = ferry_printf("Error creating VirtualMachineInstance: %s", ferry_error_message());
        ferry_error_reset();
        ferry_store_record_event(c->st, vm, "Warning", "FailedCreate", msg);
        ctl_status_condition(status, "Failure", "True", "FailedCreate", msg);
        return 0;
    }
    ctl_observe(c, out);
    ctl_status_condition(status, "Failure", NULL, NULL, NULL);
    *ret_created = true;
    msg = ferry_printf("Started the virtual machine by creating the new virtual machine instance %s",
                       ferry_obj_name(vm));
    ferry_store_record_event(c->st, vm, "Normal", "SuccessfulCreate", msg);
    ferry_log_info("vm %s/%s: created its VMI", ferry_obj_namespace(vm), ferry_obj_name(vm));
    return 0;
}

/* Seconds until the start back-off allows a new VMI; 0 when it does. */
static int64_t
backoff_left(json_object *status)
{
    const char *ra = ferry_json_get_string(status, "startFailure.retryAfterTimestamp");
    time_t t;

    if (!ra || ferry_time_parse_rfc3339(ra, &t) < 0) {
        ferry_error_reset();
        return 0;
    }
    return t > time(NULL) ? (int64_t)(t - time(NULL)) : 0;
}

/* A VMI that failed counts once into startFailure. */
static void
count_failure(struct ferry_controller *c, json_object *status, json_object *vmi)
{
    json_object *sf = ferry_json_get(status, "startFailure");
    int64_t n;
    int64_t delay;
    FERRY_AUTOFREE char *ra = NULL;

    if (sf && ferry_str_eq(ferry_json_get_string(sf, "lastFailedVMIUID"), ferry_obj_uid(vmi)))
        return;
    n = ferry_json_get_int(sf, "consecutiveFailCount", 0) + 1;
    delay = c->o.vm_backoff_s;
    for (int64_t i = 1; i < n && delay < c->o.vm_backoff_max_s; i++)
        delay *= 2;
    if (delay > c->o.vm_backoff_max_s)
        delay = c->o.vm_backoff_max_s;
    ra = ferry_time_rfc3339(time(NULL) + delay);
    sf = json_object_new_object();
    json_object_object_add(sf, "consecutiveFailCount", json_object_new_int64(n));
    json_object_object_add(sf, "lastFailedVMIUID", json_object_new_string(ferry_obj_uid(vmi)));
    json_object_object_add(sf, "retryAfterTimestamp", json_object_new_string(ra));
    json_object_object_add(status, "startFailure", sf);
}

/* Drop the first state change request. */
static void
pop_request(json_object *status)
{
    json_object *scr = ferry_json_get(status, "stateChangeRequests");
    json_object *rest = json_object_new_array();

    for (size_t i = 1; scr && i < json_object_array_length(scr); i++)
        json_object_array_add(rest, json_object_get(json_object_array_get_idx(scr, i)));
    if (json_object_array_length(rest) == 0) {
        json_object_put(rest);
        json_object_object_del(status, "stateChangeRequests");
    } else {
        json_object_object_add(status, "stateChangeRequests", rest);
    }
}

/* Append {action: Start} unless the last request already is one. */
static void
push_start(json_object *status)
{
    json_object *scr = ferry_json_get(status, "stateChangeRequests");
    json_object *req;
    size_t n;

    if (!scr || !json_object_is_type(scr, json_type_array)) {
        scr = json_object_new_array();
        json_object_object_add(status, "stateChangeRequests", scr);
    }
    n = json_object_array_length(scr);
    if (n && ferry_str_eq(ferry_json_get_string(json_object_array_get_idx(scr, n - 1), "action"),
                          "Start"))
        return;
    req = json_object_new_object();
    json_object_object_add(req, "action", json_object_new_string("Start"));
    json_object_array_add(scr, req);
}

static const char *
printable_status(json_object *vm, json_object *vmi, json_object *status, const struct vols *v,
                 bool should_run, bool wants_start, bool created)
{
    bool final = vmi_final(vmi);

    if (ctl_is_deleting(vm))
        return "Terminating";
    if (vmi && !final && (ctl_is_deleting(vmi) || !should_run))
        return "Stopping";
    if (vmi && ferry_condition_is_true(vmi, "Paused"))
        return "Paused";
    if (vmi && ferry_str_eq(ferry_json_get_string(vmi, "status.phase"), "Running"))
        return "Running";
    if (wants_start && (!vmi || final)) {
        if (v->pvc_missing)
            return "ErrorPvcNotFound";
        if (v->dv_missing)
            return "ErrorDataVolumeNotFound";
    }
    if (v->dv_error)
        return "DataVolumeError";
    if (vmi && !final) {
        json_object *ps = ferry_condition_get(vmi, "PodScheduled");

        if (ps && ferry_str_eq(ferry_json_get_string(ps, "reason"), "Unschedulable"))
            return "ErrorUnschedulable";
    }
    if (v->provisioning)
        return "Provisioning";
    if ((vmi && !final) || created)
        return "Starting";
    if (ferry_json_get(status, "startFailure") && backoff_left(status) > 0)
        return "CrashLoopBackOff";
    if (!vmi || final)
        return "Stopped";
    return "Unknown";
}

int
ferry_vm_reconcile(struct ferry_controller *c, const char *ns, const char *name)
{
    FERRY_AUTOPTR(json_object) vm = NULL;
    FERRY_AUTOPTR(json_object) vmi = NULL;
    FERRY_AUTOPTR(json_object) status = NULL;
    struct vols v = { 0 };
    const char *rs, *vmi_phase = NULL, *ps;
    bool should_run, wants_start = false, volumes_ready, created = false, converting = false;
    json_object *scr, *rc;
    int r = -1;

    if (ctl_get_copy(c, ferry_resource_vm, ns, name, &vm) < 0) {
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        ctl_guest_forget(c, ns, name);
        return 0; /* ownerReferences take its VMI and DataVolumes away */
    }
    if (ctl_get_copy(c, ferry_resource_vmi, ns, name, &vmi) < 0) {
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
    }
    if (vmi) {
        json_object *owner = ferry_obj_controller_ref(vmi);

        /* A VMI of an earlier VM of this name, or a stand-alone one. */
        if (owner && !ferry_str_eq(ferry_json_get_string(owner, "uid"), ferry_obj_uid(vm))) {
            json_object_put(vmi);
            vmi = NULL;
        }
    }
    status = ctl_status_copy(vm);
    rs = run_strategy(vm);

    if (ctl_is_deleting(vm)) {
        ctl_guest_forget(c, ns, name);
        if (vmi && delete_vmi(c, vm, vmi) < 0)
            return -1;
        json_object_object_add(status, "printableStatus", json_object_new_string("Terminating"));
        return ctl_write_status(c, vm, status);
    }

    if (ensure_datavolumes(c, vm, status) < 0)
        goto out;
    if (check_volumes(c, vm, &v) < 0)
        goto out;
    volumes_ready = !v.provisioning && !v.dv_missing && !v.dv_error && !v.pvc_missing;
    if (vmi)
        vmi_phase = ferry_json_get_string(vmi, "status.phase");
    if (vmi && ferry_str_eq(vmi_phase, "Failed") &&
        (ferry_str_eq(rs, "Always") || ferry_str_eq(rs, "RerunOnFailure")))
        count_failure(c, status, vmi);
    /* A running VMI ends the crash loop; so does stopping the VM. */
    if ((vmi && ferry_str_eq(vmi_phase, "Running")) || ferry_str_eq(rs, "Halted"))
        json_object_object_del(status, "startFailure");

    scr = ferry_json_get(status, "stateChangeRequests");
    should_run = !ferry_str_eq(rs, "Halted");
    if (scr && json_object_array_length(scr) > 0) {
        json_object *req = json_object_array_get_idx(scr, 0);
        const char *action = ferry_json_get_string(req, "action");
        const char *uid = ferry_json_get_string(req, "uid");

        if (ferry_str_eq(action, "Stop")) {
            should_run = false;
            json_object_object_del(status, "startFailure");
            if (vmi && (!uid || ferry_str_eq(uid, ferry_obj_uid(vmi)))) {
                if (delete_vmi(c, vm, vmi) < 0)
                    goto out;
            } else {
                pop_request(status); /* done: that VMI is gone */
                ctl_enqueue(c, Q_VM, ns, name, 0);
            }
        } else if (ferry_str_eq(action, "Start") && ferry_str_eq(rs, "Halted") && !vmi) {
            /* `start --paused` of a Halted VM: its run strategy follows */
            should_run = false;
        } else if (ferry_str_eq(action, "Start")) {
            bool paused = ferry_str_eq(ferry_json_get_string(req, "data.paused"), "true");

            wants_start = true;
            should_run = true;
            if (vmi && vmi_final(vmi)) {
                if (delete_vmi(c, vm, vmi) < 0)
                    goto out;
            } else if (vmi) {
                pop_request(status); /* already running */
            } else if (volumes_ready && backoff_left(status) > 0) {
                ctl_enqueue(c, Q_VM, ns, name, (int)backoff_left(status) * 1000 + 100);
            } else if (volumes_ready) {
                int g = ctl_guest_gate(c, vm, status, &converting);

                if (g < 0)
                    goto out;
                if (g > 0) { /* else the request waits for the conversion */
                    if (create_vmi(c, vm, status, paused, &created) < 0)
                        goto out;
                    pop_request(status);
                }
            }
        } else {
            pop_request(status); /* unknown action: drop it */
        }
    } else if (ferry_str_eq(rs, "Halted")) {
        if (vmi && delete_vmi(c, vm, vmi) < 0)
            goto out;
    } else if (ferry_str_eq(rs, "Always") || ferry_str_eq(rs, "RerunOnFailure") ||
               ferry_str_eq(rs, "Once")) {
        bool restart = vmi_final(vmi) &&
                       (ferry_str_eq(rs, "Always") ||
                        (ferry_str_eq(rs, "RerunOnFailure") && ferry_str_eq(vmi_phase, "Failed")));

        if (ferry_str_eq(rs, "Once") || ferry_str_eq(rs, "RerunOnFailure"))
            should_run = !vmi_final(vmi) || restart;
        wants_start = !vmi || restart;
        if (restart) {
            if (delete_vmi(c, vm, vmi) < 0)
                goto out;
            /* RerunOnFailure starts again only on request (below): ask. */
            if (ferry_str_eq(rs, "RerunOnFailure"))
                push_start(status);
        } else if (!vmi && ferry_str_eq(rs, "RerunOnFailure") &&
                   ferry_str_eq(ferry_json_get_string(status, "runStrategy"), "RerunOnFailure")) {
            /* It ran under this strategy and was stopped (by request, or its
             * VMI was deleted): it stays stopped until started. */
            should_run = wants_start = false;
        } else if (!vmi && volumes_ready) {
            int64_t left = backoff_left(status);

            if (left > 0) {
                ctl_enqueue(c, Q_VM, ns, name, (int)left * 1000 + 100);
            } else {
                int g = ctl_guest_gate(c, vm, status, &converting);

                if (g < 0 || (g > 0 && create_vmi(c, vm, status, false, &created) < 0))
                    goto out;
            }
        }
    } else if (ferry_str_eq(rs, "Manual")) {
        should_run = vmi && !vmi_final(vmi);
    }

    /* Status, as virt-controller writes it. */
    json_object_object_add(status, "created", json_object_new_boolean(vmi != NULL || created));
    rc = vmi ? ferry_condition_get(vmi, "Ready") : NULL;
    json_object_object_add(status, "ready",
                           json_object_new_boolean(rc && ferry_condition_is_true(vmi, "Ready") &&
                                                   !ctl_is_deleting(vmi)));
    if (!vmi)
        ctl_status_condition(status, "Ready", "False", "VMINotExists", "VMI does not exist");
    else if (rc)
        ctl_status_condition(status, "Ready", ferry_json_get_string(rc, "status"),
                    ferry_json_get_string(rc, "reason"), ferry_json_get_string(rc, "message"));
    else
        ctl_status_condition(status, "Ready", "False", "GuestNotRunning", "VMI is not running");
    if (vmi && ferry_condition_is_true(vmi, "Paused")) {
        /* the VMI's reason: paused by the user, or by itself (PausedIOError) */
        json_object *pc = ferry_condition_get(vmi, "Paused");
        const char *pr = ferry_json_get_string(pc, "reason");
        ctl_status_condition(status, "Paused", "True", pr ? pr : "PausedByUser",
                             pr ? ferry_json_get_string(pc, "message") : "VMI was paused by user");
    }
    else
        ctl_status_condition(status, "Paused", NULL, NULL, NULL);
    /* KubeVirt shows Provisioning until the volumes are ready; here also
     * while the guest on them is converted */
    v.provisioning |= converting;
    ps = printable_status(vm, vmi, status, &v, should_run,
                          wants_start || (vmi && !vmi_final(vmi)), created);
    json_object_object_add(status, "printableStatus", json_object_new_string(ps));
    /* status.runStrategy is the strategy the VM last acted on; a
     * RerunOnFailure VM without a VMI keeps the older value, so that one
     * switched to RerunOnFailure (or new) starts and one stopped stays so. */
    if (!ferry_str_eq(rs, "RerunOnFailure") || vmi || created)
        json_object_object_add(status, "runStrategy", json_object_new_string(rs));
    json_object_object_add(status, "observedGeneration",
                           json_object_new_int64(ferry_obj_generation(vm)));
    json_object_object_add(status, "desiredGeneration",
                           json_object_new_int64(ferry_obj_generation(vm)));
    r = ctl_write_status(c, vm, status);
out:
    vols_release(&v);
    return r;
}
