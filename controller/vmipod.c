/* VMI placement in Kubernetes mode: a launcher Pod per VMI, scheduled by the
 * cluster (virt-controller's VMI controller, kv:pkg/virt-controller/services/
 * template.go renderLaunchManifest, in Ferry's measure).
 *
 * The Pod: generateName virt-launcher-<vmi>- (the API server adds the five
 * characters), controller ownerReference to the VMI, labels
 * kubevirt.io=virt-launcher, kubevirt.io/created-by=<vmi uid>,
 * vm.kubevirt.io/name and the VMI's own labels, annotation kubevirt.io/domain;
 * restartPolicy Never, no service links, no service-account token (the
 * launcher has no API credentials: it talks to the handler only); one
 * container "compute" running ferry-launcher for the VMI.
 *
 * Volumes:
 *   ferry-state   hostPath /var/lib/ferry (the handler's state directory,
 *                 same path inside): the VMI's directory with vmi.json, which
 *                 the handler writes once the VMI is on its node (the node's
 *                 libvirtd, which runs the guest, reads the VMI's node files
 *                 there too)
 *   ferry-run     hostPath /var/run/ferry (deploy/ gives the handler the same
 *                 host path): the launcher's control socket
 *                 /var/run/ferry/<vmi uid>/launcher.sock, where the handler
 *                 connects (short whatever the VMI's name)
 *   libvirt       hostPath /var/run/libvirt: the node's libvirtd socket
 *   <volume>      each dataVolume / persistentVolumeClaim volume's PVC:
 *                 Filesystem at /var/run/kubevirt-private/vmi-disks/<volume>,
 *                 Block as the device /dev/<volume> (KubeVirt's places)
 * /dev/kvm is not requested: qemu runs under the node's libvirtd, which the
 * privileged handler DaemonSet shares (deploy/, "no device plugin"); KVM or
 * TCG is the handler's verdict, as in the embedded mode.
 *
 * Resources: requests.memory = guest memory + FERRY_LAUNCHER_OVERHEAD (see
 * below; KubeVirt adds ~280Mi for a 2Gi/2-vCPU guest), limits.memory the
 * VMI's limit + the same overhead when it has one; cpu the VMI's requests /
 * limits when given, else 100m per vCPU (KubeVirt's cpuAllocationRatio 10).
 *
 * Phases (KubeVirt's): Pending -> Scheduling when the Pod is created ->
 * Scheduled with status.nodeName and the label kubevirt.io/nodeName once the
 * Pod runs on a node; from there the node's handler owns the VMI.  A Pod that
 * ends or vanishes before that fails the VMI, and so does a Pod deleted
 * afterwards (an ended one is left to the handler, which reports the guest's
 * own end first); a Pod the scheduler cannot place shows as the VMI's
 * PodScheduled=False condition. */
#include "controller/internal.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/quantity.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The memory the launcher and qemu need beside the guest's own.  Measured
 * on the development machine (Debian 12, qemu 7.2 under TCG, libvirt 9.0)
 * for a 64 MiB guest: `ferry up --allow-emulation`, a VM with 64Mi and no
 * disk (SeaBIOS idles), 20 s after Ready, `ps -o pid,rss -p PID` and
 * /proc/PID/status of ferry-launcher and of the guest's qemu-system-x86_64:
 *     ferry-launcher       RSS 19276 KiB (RssAnon 2280, RssFile 16996)
 *     qemu-system-x86_64   RSS 52044 KiB (RssAnon 29268, RssFile 22776)
 * = 71320 KiB, 69.6 MiB, of which the guest's own touched pages are a few
 * MiB.  96 MiB leaves room for TCG's translation cache growing with a guest
 * that runs more code; KubeVirt adds ~220 MiB + 8 MiB per vCPU.  In the Pod
 * only the launcher runs (qemu is a child of the node's libvirtd), so the
 * request reserves what the node gives up per VM rather than what the
 * Pod's cgroup holds. */
#define FERRY_LAUNCHER_OVERHEAD_MIB 96

static const char *
vmi_memory(json_object *vmi)
{
    const char *m = ferry_json_get_string(vmi, "spec.domain.memory.guest");

    if (!m)
        m = ferry_json_get_string(vmi, "spec.domain.resources.requests.memory");
    if (!m)
        m = ferry_json_get_string(vmi, "spec.domain.resources.limits.memory");
    return m;
}

static int64_t
vmi_vcpus(json_object *vmi)
{
    int64_t s = ferry_json_get_int(vmi, "spec.domain.cpu.sockets", 1);
    int64_t c = ferry_json_get_int(vmi, "spec.domain.cpu.cores", 1);
    int64_t t = ferry_json_get_int(vmi, "spec.domain.cpu.threads", 1);

    return (s > 0 ? s : 1) * (c > 0 ? c : 1) * (t > 0 ? t : 1);
}

static void
host_path(json_object *vols, json_object *mounts, const char *name, const char *path,
          const char *type)
{
    json_object *v = json_object_new_object(), *m = json_object_new_object();

    json_object_object_add(v, "name", json_object_new_string(name));
    ferry_json_set_string(v, "hostPath.path", path);
    ferry_json_set_string(v, "hostPath.type", type);
    json_object_array_add(vols, v);
    json_object_object_add(m, "name", json_object_new_string(name));
    json_object_object_add(m, "mountPath", json_object_new_string(path));
    json_object_array_add(mounts, m);
}

static bool
in_list(json_object *names, const char *s)
{
    for (size_t i = 0; names && i < json_object_array_length(names); i++)
        if (ferry_str_eq(json_object_get_string(json_object_array_get_idx(names, i)), s))
            return true;
    return false;
}

int
ctl_kube_vmi_pod(const struct ferry_controller_opts *o, json_object *vmi, json_object *block_claims,
                 json_object **ret)
{
    FERRY_AUTOPTR(json_object) pod = json_object_new_object();
    const char *ns = ferry_obj_namespace(vmi), *name = ferry_obj_name(vmi);
    const char *mem = vmi_memory(vmi);
    const char *limit = ferry_json_get_string(vmi, "spec.domain.resources.limits.memory");
    json_object *labels = ferry_obj_labels(vmi), *spec, *ctr, *vols, *mounts, *devs, *cmd;
    json_object *volumes = ferry_json_get(vmi, "spec.volumes");
    uint64_t bytes;
    FERRY_AUTOFREE char *gen = ferry_printf("virt-launcher-%s-", name);
    FERRY_AUTOFREE char *req = NULL;
    FERRY_AUTOFREE char *lim = NULL;
    static const char *const caps[] = { "NET_BIND_SERVICE", NULL };
    FERRY_AUTOFREE char *sockdir = ferry_printf("/var/run/ferry/%s", ferry_obj_uid(vmi));
    /* clang-format off */
    const char *argv[] = {
        "ferry-launcher", "--state-dir", "/var/lib/ferry", "--namespace", ns, "--name", name,
        "--wait-for-vmi", "600", "--socket-dir", sockdir,
        "--pvc-root", "/var/run/kubevirt-private/vmi-disks", NULL
    };
    /* clang-format on */

    if (!mem)
        return ferry_error(FERRY_ERR_INVALID,
                           "virtualmachineinstance %s/%s: "
                           "spec.domain.resources.requests.memory: Required value",
                           ns, name);
    if (ferry_quantity_parse_bytes(mem, &bytes) < 0)
        return ferry_error_prefix("virtualmachineinstance %s/%s: guest memory", ns, name);
    req = ferry_printf("%llu",
                       (unsigned long long)(bytes + FERRY_LAUNCHER_OVERHEAD_MIB * 1048576ULL));
    if (limit) {
        uint64_t lb;

        if (ferry_quantity_parse_bytes(limit, &lb) < 0)
            return ferry_error_prefix("virtualmachineinstance %s/%s: memory limit", ns, name);
        lim = ferry_printf("%llu",
                           (unsigned long long)(lb + FERRY_LAUNCHER_OVERHEAD_MIB * 1048576ULL));
    }

    json_object_object_add(pod, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(pod, "kind", json_object_new_string("Pod"));
    ferry_json_set_string(pod, "metadata.generateName", gen);
    ferry_json_set_string(pod, "metadata.namespace", ns);
    if (labels)
        ferry_json_set(pod, "metadata.labels", ferry_json_copy(labels));
    ferry_obj_set_label(pod, "kubevirt.io", "virt-launcher");
    ferry_obj_set_label(pod, "kubevirt.io/created-by", ferry_obj_uid(vmi));
    if (strlen(name) <= 63)
        ferry_obj_set_label(pod, "vm.kubevirt.io/name", name);
    ferry_obj_set_annotation(pod, "kubevirt.io/domain", name);
    ferry_obj_add_owner(pod, vmi, true);

    spec = ferry_json_ensure_object(pod, "spec");
    json_object_object_add(spec, "restartPolicy", json_object_new_string("Never"));
    json_object_object_add(spec, "enableServiceLinks", json_object_new_boolean(false));
    json_object_object_add(spec, "automountServiceAccountToken", json_object_new_boolean(false));
    json_object_object_add(
        spec, "terminationGracePeriodSeconds",
        json_object_new_int64(ferry_json_get_int(vmi, "spec.terminationGracePeriodSeconds", 30) +
                              30));
    /* the launcher talks to the node's libvirtd (root) */
    ferry_json_set_int(spec, "securityContext.runAsUser", 0);
    if (ferry_json_get(vmi, "spec.nodeSelector"))
        json_object_object_add(spec, "nodeSelector",
                               ferry_json_copy(ferry_json_get(vmi, "spec.nodeSelector")));
    if (ferry_json_get(vmi, "spec.affinity"))
        json_object_object_add(spec, "affinity",
                               ferry_json_copy(ferry_json_get(vmi, "spec.affinity")));
    if (ferry_json_get(vmi, "spec.tolerations"))
        json_object_object_add(spec, "tolerations",
                               ferry_json_copy(ferry_json_get(vmi, "spec.tolerations")));
    ferry_json_copy_string(spec, "priorityClassName", vmi, "spec.priorityClassName");

    ctr = json_object_new_object();
    json_object_object_add(ctr, "name", json_object_new_string("compute"));
    json_object_object_add(ctr, "image",
                           json_object_new_string(o->launcher_image
                                                      ? o->launcher_image
                                                      : "ferry/ferry-launcher:" FERRY_VERSION));
    json_object_object_add(ctr, "imagePullPolicy", json_object_new_string("IfNotPresent"));
    cmd = ferry_json_new_string_array(argv);
    json_object_object_add(ctr, "command", cmd);
    ferry_json_set_string(ctr, "resources.requests.memory", req);
    if (lim)
        ferry_json_set_string(ctr, "resources.limits.memory", lim);
    if (!ferry_json_copy_string(ctr, "resources.requests.cpu", vmi,
                                "spec.domain.resources.requests.cpu")) {
        FERRY_AUTOFREE char *cpu = ferry_printf("%lldm", (long long)vmi_vcpus(vmi) * 100);

        ferry_json_set_string(ctr, "resources.requests.cpu", cpu);
    }
    ferry_json_copy_string(ctr, "resources.limits.cpu", vmi, "spec.domain.resources.limits.cpu");
    ferry_json_set(ctr, "securityContext.capabilities.add", ferry_json_new_string_array(caps));
    json_object_object_add(ctr, "terminationMessagePath",
                           json_object_new_string("/dev/termination-log"));

    vols = json_object_new_array();
    mounts = json_object_new_array();
    devs = json_object_new_array();
    host_path(vols, mounts, "ferry-state", "/var/lib/ferry", "DirectoryOrCreate");
    host_path(vols, mounts, "ferry-run", "/var/run/ferry", "DirectoryOrCreate");
    host_path(vols, mounts, "libvirt", "/var/run/libvirt", "Directory");
    for (size_t i = 0; volumes && i < json_object_array_length(volumes); i++) {
        json_object *vol = json_object_array_get_idx(volumes, i);
        const char *vname = ferry_json_get_string(vol, "name");
        const char *claim = ferry_json_get_string(vol, "dataVolume.name");
        json_object *v, *m;

        if (!claim)
            claim = ferry_json_get_string(vol, "persistentVolumeClaim.claimName");
        if (!claim || !vname)
            continue;
        v = json_object_new_object();
        json_object_object_add(v, "name", json_object_new_string(vname));
        ferry_json_set_string(v, "persistentVolumeClaim.claimName", claim);
        json_object_array_add(vols, v);
        m = json_object_new_object();
        json_object_object_add(m, "name", json_object_new_string(vname));
        if (in_list(block_claims, claim)) {
            FERRY_AUTOFREE char *dev = ferry_printf("/dev/%s", vname);

            json_object_object_add(m, "devicePath", json_object_new_string(dev));
            json_object_array_add(devs, m);
        } else {
            FERRY_AUTOFREE char *dir =
                ferry_printf("/var/run/kubevirt-private/vmi-disks/%s", vname);

            json_object_object_add(m, "mountPath", json_object_new_string(dir));
            json_object_array_add(mounts, m);
        }
    }
    json_object_object_add(ctr, "volumeMounts", mounts);
    if (json_object_array_length(devs))
        json_object_object_add(ctr, "volumeDevices", devs);
    else
        json_object_put(devs);
    json_object_object_add(spec, "containers", json_object_new_array());
    json_object_array_add(ferry_json_get(spec, "containers"), ctr);
    json_object_object_add(spec, "volumes", vols);
    *ret = FERRY_STEAL(pod);
    return 0;
}

/* The claims of the VMI's volumes whose PVC has volumeMode Block. */
static json_object *
block_claims(struct ferry_controller *c, json_object *vmi)
{
    json_object *out = json_object_new_array();
    json_object *volumes = ferry_json_get(vmi, "spec.volumes");

    for (size_t i = 0; volumes && i < json_object_array_length(volumes); i++) {
        json_object *vol = json_object_array_get_idx(volumes, i);
        const char *claim = ferry_json_get_string(vol, "dataVolume.name");
        FERRY_AUTOPTR(json_object) pvc = NULL;

        if (!claim)
            claim = ferry_json_get_string(vol, "persistentVolumeClaim.claimName");
        if (!claim)
            continue;
        if (ctl_get(c, ferry_resource_pvc, ferry_obj_namespace(vmi), claim, &pvc) < 0) {
            ferry_error_reset();
            continue;
        }
        if (ferry_str_eq(ferry_json_get_string(pvc, "spec.volumeMode"), "Block"))
            json_object_array_add(out, json_object_new_string(claim));
    }
    return out;
}

static int
fail_vmi(struct ferry_controller *c, json_object *vmi, json_object *status, const char *reason,
         const char *msg)
{
    json_object_object_add(status, "phase", json_object_new_string("Failed"));
    ctl_status_condition(status, "Ready", "False", reason, msg);
    ferry_store_record_event(c->st, vmi, "Warning", reason, msg);
    return ctl_write_status(c, vmi, status);
}

/* The VMI's live launcher Pod (borrowed from *ret_pods), or NULL. */
static json_object *
launcher_pod(struct ferry_controller *c, json_object *vmi, json_object **ret_pods)
{
    FERRY_AUTOFREE char *selstr = ferry_printf("kubevirt.io/created-by=%s", ferry_obj_uid(vmi));
    struct ferry_selector *sel = NULL;
    json_object *pod = NULL;
    int r;

    *ret_pods = NULL;
    if (ferry_selector_parse(selstr, &sel) < 0)
        return NULL;
    r = ctl_list(c, ferry_resource_pod, ferry_obj_namespace(vmi), sel, ret_pods);
    ferry_selector_free(sel);
    if (r < 0)
        return NULL;
    for (size_t i = 0; i < json_object_array_length(*ret_pods); i++) {
        json_object *p = json_object_array_get_idx(*ret_pods, i);

        if (!ctl_is_deleting(p) &&
            ferry_str_eq(ferry_json_get_string(ferry_obj_controller_ref(p), "uid"),
                         ferry_obj_uid(vmi)))
            pod = p;
    }
    return pod;
}

int
ctl_kube_vmi_check_pod(struct ferry_controller *c, json_object *vmi, json_object *status)
{
    FERRY_AUTOFREE char *ekey =
        ferry_printf("%c%s/%s", Q_VMI, ferry_obj_namespace(vmi), ferry_obj_name(vmi));
    FERRY_AUTOPTR(json_object) pods = NULL;

    if (launcher_pod(c, vmi, &pods))
        return 0;
    if (!pods)
        return -1; /* the list failed */
    if (!ferry_expectations_satisfied(c->expect, ekey))
        return 0;
    ferry_log_warn("vmi %s/%s: its virt-launcher pod is gone", ferry_obj_namespace(vmi),
                   ferry_obj_name(vmi));
    return fail_vmi(c, vmi, status, "PodNotExists",
                    "the virt-launcher pod of the VMI was deleted while it ran");
}

int
ctl_kube_vmi_reconcile(struct ferry_controller *c, json_object *vmi, json_object *status)
{
    FERRY_AUTOFREE char *ns = ferry_strdup(ferry_obj_namespace(vmi));
    FERRY_AUTOFREE char *name = ferry_strdup(ferry_obj_name(vmi));
    FERRY_AUTOFREE char *ekey = ferry_printf("%c%s/%s", Q_VMI, ns, name);
    FERRY_AUTOFREE char *selstr = ferry_printf("kubevirt.io/created-by=%s", ferry_obj_uid(vmi));
    FERRY_AUTOPTR(json_object) pods = NULL;
    struct ferry_selector *sel = NULL;
    const char *phase = ferry_json_get_string(status, "phase");
    json_object *pod = NULL;
    const char *node, *pphase;
    int r;

    if (ferry_selector_parse(selstr, &sel) < 0)
        return -1;
    r = ctl_list(c, ferry_resource_pod, ns, sel, &pods);
    ferry_selector_free(sel);
    if (r < 0)
        return -1;
    for (size_t i = 0; i < json_object_array_length(pods); i++) {
        json_object *p = json_object_array_get_idx(pods, i);

        if (!ctl_is_deleting(p) &&
            ferry_str_eq(ferry_json_get_string(ferry_obj_controller_ref(p), "uid"),
                         ferry_obj_uid(vmi)))
            pod = p;
    }

    if (!pod) {
        FERRY_AUTOPTR(json_object) want = NULL;
        FERRY_AUTOPTR(json_object) blocks = NULL;
        FERRY_AUTOPTR(json_object) made = NULL;
        FERRY_AUTOFREE char *msg = NULL;

        if (!ferry_expectations_satisfied(c->expect, ekey))
            return 0; /* ours is on its way: the watch brings us back */
        if (ferry_str_eq(phase, "Scheduling"))
            return fail_vmi(c, vmi, status, "PodNotExists",
                            "the virt-launcher pod of the VMI vanished before it ran");
        blocks = block_claims(c, vmi);
        if (ctl_kube_vmi_pod(&c->o, vmi, blocks, &want) < 0) {
            msg = ferry_strdup(ferry_error_message());
            ferry_error_reset();
            return fail_vmi(c, vmi, status, "FailedCreate", msg);
        }
        ferry_expectations_expect_creations(c->expect, ekey, 1);
        if (ferry_store_create(c->st, want, &made) < 0) {
            ferry_expectations_creation_observed(c->expect, ekey);
            if (ferry_error_code() == FERRY_ERR_INVALID ||
                ferry_error_code() == FERRY_ERR_NOTFOUND) {
                msg = ferry_printf("Error creating pod: %s", ferry_error_message());
                ferry_error_reset();
                ferry_store_record_event(c->st, vmi, "Warning", "FailedCreate", msg);
                ctl_status_condition(status, "Synchronized", "False", "FailedCreate", msg);
                return ctl_write_status(c, vmi, status);
            }
            return -1;
        }
        msg = ferry_printf("Created virtual machine pod %s", ferry_obj_name(made));
        ferry_store_record_event(c->st, vmi, "Normal", "SuccessfulCreate", msg);
        ferry_log_info("vmi %s/%s: created pod %s", ns, name, ferry_obj_name(made));
        json_object_object_add(status, "phase", json_object_new_string("Scheduling"));
        ctl_status_condition(status, "Synchronized", NULL, NULL, NULL);
        return ctl_write_status(c, vmi, status);
    }

    pphase = ferry_json_get_string(pod, "status.phase");
    node = ferry_json_get_string(pod, "spec.nodeName");
    if (ferry_str_eq(pphase, "Failed") || ferry_str_eq(pphase, "Succeeded")) {
        FERRY_AUTOFREE char *msg = ferry_printf("the virt-launcher pod %s ended (%s) before the "
                                                "VMI was scheduled",
                                                ferry_obj_name(pod), pphase);

        return fail_vmi(c, vmi, status, "PodTerminating", msg);
    }
    if (!ferry_str_eq(phase, "Scheduling")) {
        json_object_object_add(status, "phase", json_object_new_string("Scheduling"));
        return ctl_write_status(c, vmi, status);
    }
    if (!node || !ferry_str_eq(pphase, "Running")) {
        json_object *cond = ferry_condition_get(pod, "PodScheduled");

        /* the scheduler's word, as KubeVirt copies it */
        if (cond && ferry_str_eq(ferry_json_get_string(cond, "status"), "False"))
            ctl_status_condition(status, "PodScheduled", "False",
                                 ferry_json_get_string(cond, "reason"),
                                 ferry_json_get_string(cond, "message"));
        else
            ctl_status_condition(status, "PodScheduled", NULL, NULL, NULL);
        return ctl_write_status(c, vmi, status);
    }
    if (ctl_vmi_assign_node(c, vmi, status, node) < 0)
        return -1;
    ctl_status_condition(status, "PodScheduled", NULL, NULL, NULL);
    if (ctl_write_status(c, vmi, status) < 0)
        return -1;
    ferry_store_record_event(c->st, vmi, "Normal", "Scheduled",
                             "Successfully assigned the VirtualMachineInstance to a node");
    ferry_log_info("vmi %s/%s: pod %s runs on %s", ns, name, ferry_obj_name(pod), node);
    return 0;
}
