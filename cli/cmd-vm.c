/* `ferry start|stop|restart VM`: what virtctl's commands and virt-api's
 * start/stop/restart subresources do.  Always/Once and Halted VMs flip their
 * run strategy (Always+stop -> Halted, Halted+start -> Always; `running:
 * true/false` where the VM uses that field); Manual and RerunOnFailure VMs
 * keep theirs and get status.stateChangeRequests ({action: Start} /
 * {action: Stop, uid: <vmi uid>}) that ferry-controller works off.  Restart
 * is Stop (the current VMI) then Start. */
#include "cli/objects.h"
#include "cli/verbs.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum vm_action { VM_START, VM_STOP, VM_RESTART };

static const char *const action_names[] = { "start", "stop", "restart" };
static const char *const action_errs[] = { "starting", "stopping", "restarting" };

static bool
is_final(json_object *vmi)
{
    const char *p = ferry_json_get_string(vmi, "status.phase");

    return ferry_str_eq(p, "Succeeded") || ferry_str_eq(p, "Failed");
}

static void
push_request_data(json_object *status, const char *action, const char *uid, bool paused)
{
    json_object *scr = ferry_json_get(status, "stateChangeRequests");
    json_object *req = json_object_new_object();

    if (!scr || !json_object_is_type(scr, json_type_array)) {
        scr = json_object_new_array();
        json_object_object_add(status, "stateChangeRequests", scr);
    }
    json_object_object_add(req, "action", json_object_new_string(action));
    if (uid)
        json_object_object_add(req, "uid", json_object_new_string(uid));
    if (paused) /* virt-api's StartRequestDataPausedKey */
        ferry_json_set_string(req, "data.paused", "true");
    json_object_array_add(scr, req);
}

static void
push_request(json_object *status, const char *action, const char *uid)
{
    push_request_data(status, action, uid, false);
}

/* Start or stop a VM by its spec: spec.running where the VM uses that field,
 * else runStrategy Always or Halted. */
static int
set_running(struct ferry_store *st, json_object *vm, bool uses_running, bool run)
{
    FERRY_AUTOPTR(json_object) out = NULL;

    if (uses_running)
        ferry_json_set_bool(vm, "spec.running", run);
    else
        ferry_json_set_string(vm, "spec.runStrategy", run ? "Always" : "Halted");
    return ferry_store_update(st, vm, &out) < 0 ? -1 : 0;
}

/* 0 done, 1 refused (message printed), -1 store error. */
static int
act(struct ferry_store *st, enum vm_action a, const char *ns, const char *name, bool paused)
{
    FERRY_AUTOPTR(json_object) vm = NULL;
    FERRY_AUTOPTR(json_object) vmi = NULL;
    FERRY_AUTOPTR(json_object) out = NULL;
    const char *rs;
    bool uses_running, running;
    const char *refuse = NULL;
    FERRY_AUTOFREE char *refuse_buf = NULL;

    if (ferry_store_get(st, ferry_resource_vm, ns, name, &vm) < 0)
        return -1;
    if (ferry_store_get(st, ferry_resource_vmi, ns, name, &vmi) < 0) {
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
    }
    uses_running = !ferry_json_get_string(vm, "spec.runStrategy");
    rs = ferry_json_get_string(vm, "spec.runStrategy");
    if (!rs)
        rs = ferry_json_get_bool(vm, "spec.running", false) ? "Always" : "Halted";
    running = vmi && !is_final(vmi) && !ferry_json_get_string(vmi, "metadata.deletionTimestamp");

    if (a == VM_START) {
        if (strcmp(rs, "Halted") == 0) {
            if (paused) {
                /* as virt-api: the request first (the controller keeps it
                 * while the VM is Halted), then the run strategy */
                FERRY_AUTOPTR(json_object) copy = ferry_json_copy(vm);
                json_object *status = ferry_json_ensure_object(copy, "status");

                json_object_object_del(status, "stateChangeRequests");
                push_request_data(status, "Start", NULL, true);
                if (ferry_store_update_status(st, copy, &out) < 0)
                    return -1;
                ferry_json_set_string(vm, "metadata.resourceVersion",
                                      ferry_obj_resource_version(out));
                json_object_put(FERRY_STEAL(out));
            }
            return set_running(st, vm, uses_running, true);
        }
        if (running)
            refuse = "VM is already running";
        else if (strcmp(rs, "Always") == 0 || strcmp(rs, "Once") == 0)
            refuse = refuse_buf = ferry_printf("%s does not support manual start requests", rs);
        else {
            json_object *status = ferry_json_ensure_object(vm, "status");

            if (vmi && is_final(vmi))
                push_request(status, "Stop", ferry_obj_uid(vmi));
            push_request_data(status, "Start", NULL, paused);
            if (ferry_store_update_status(st, vm, &out) < 0)
                return -1;
            return 0;
        }
    } else if (a == VM_STOP) {
        if (strcmp(rs, "Always") == 0 || strcmp(rs, "Once") == 0)
            return set_running(st, vm, uses_running, false);
        if (!running)
            refuse = "VM is not running";
        else {
            push_request(ferry_json_ensure_object(vm, "status"), "Stop", ferry_obj_uid(vmi));
            if (ferry_store_update_status(st, vm, &out) < 0)
                return -1;
            return 0;
        }
    } else {
        if (strcmp(rs, "Halted") == 0)
            refuse = "RunStrategy Halted does not support manual restart requests";
        else if (!vmi)
            refuse = "VM is not running";
        else {
            json_object *status = ferry_json_ensure_object(vm, "status");

            push_request(status, "Stop", ferry_obj_uid(vmi));
            push_request(status, "Start", NULL);
            if (ferry_store_update_status(st, vm, &out) < 0)
                return -1;
            return 0;
        }
    }
    fprintf(stderr, "Error %s VirtualMachine Operation cannot be fulfilled on "
                    "virtualmachine.kubevirt.io \"%s\": %s\n", action_errs[a], name, refuse);
    return 1;
}

static int
vm_verb(enum vm_action a, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_OPT_NAMESPACE,
        FERRY_MAIN_OPT_HELP,
        /* virtctl's; --force and --grace-period are refused */
        { "paused", no_argument, NULL, 'P' },
        { "grace-period", required_argument, NULL, 'G' },
        { "force", no_argument, NULL, 'f' },
        FERRY_MAIN_OPT_END,
    };
    const char *ns = NULL;
    bool paused = false;
    struct ferry_store *st;
    int c, r = 0;

    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("Usage: ferry %s VM [-n NAMESPACE]%s\n", action_names[a],
                   a == VM_START ? " [--paused]\n\n--paused starts the guest paused (its "
                                   "VMI gets startStrategy Paused);\n'ferry unpause vm VM' "
                                   "lets it run" : "");
            return 0;
        case 'P':
            if (a != VM_START)
                return cli_option_error('?', argv);
            paused = true;
            break;
        case 'G':
        case 'f':
            if (a == VM_START)
                return cli_option_error('?', argv);
            /* virtctl's forced stop shortens the VMI's grace period through a
             * subresource Ferry does not have: refused, not ignored */
            fprintf(stderr, "error: ferry %s: %s is not supported: Ferry stops a VM gracefully "
                            "within its terminationGracePeriodSeconds\n", action_names[a],
                    c == 'f' ? "--force" : "--grace-period");
            return 2;
        default:
            if ((c = cli_common_option(c, argv, &ns, NULL)) != CLI_OPT_NEXT)
                return c;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "error: argument validation failed: 'ferry %s' needs exactly one VM "
                        "name\n", action_names[a]);
        return 2;
    }
    if (!(st = cli_store_open_existing()))
        return 1;
    for (int attempt = 0; attempt < 5; attempt++) {
        r = act(st, a, cli_namespace(ns), argv[optind], paused);
        if (r < 0 && ferry_error_code() == FERRY_ERR_CONFLICT) {
            ferry_error_reset();
            continue;
        }
        break;
    }
    if (r < 0) {
        if (ferry_error_code() == FERRY_ERR_NOTFOUND)
            fprintf(stderr, "Error %s VirtualMachine virtualmachine.kubevirt.io \"%s\" not found\n",
                    action_errs[a], argv[optind]);
        else
            fprintf(stderr, "Error %s VirtualMachine %s\n", action_errs[a], ferry_error_message());
        ferry_error_reset();
    } else if (r == 0) {
        printf("VM %s was scheduled to %s\n", argv[optind], action_names[a]);
    }
    ferry_store_free(st);
    return r == 0 ? 0 : 1;
}

int
cmd_start(int argc, char **argv)
{
    return vm_verb(VM_START, argc, argv);
}

int
cmd_stop(int argc, char **argv)
{
    return vm_verb(VM_STOP, argc, argv);
}

int
cmd_restart(int argc, char **argv)
{
    return vm_verb(VM_RESTART, argc, argv);
}
