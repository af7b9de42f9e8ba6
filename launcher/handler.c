/* ferry-handler: registers its Node, watches the VMIs placed on it, runs one
 * ferry-launcher per VMI and writes VMI status from what the launchers say.
 *
 * Hand-off (KubeVirt's): the controller moves a VMI to Scheduled with
 * status.nodeName; from there the handler owns it: Scheduled -> Running ->
 * Succeeded/Failed.  Status written: phase, nodeName, interfaces (MAC, from
 * the domain; for the bridge binding the guest's addresses once the host sees
 * them, see launcher.c), conditions Ready, Paused (PausedByUser, or
 * PausedIOError with a Warning event) and Synchronized (False with libvirt's
 * or Ferry's error when the domain could not run; the Failed event is named
 * after the cause: NoKVM, GuestPanicked, KVMInternalError, ...).
 *
 * KVM: decided once per start by booting probe guests (kvmprobe.h), since a
 * /dev/kvm can exist and not run guests; the verdict is the Node condition
 * KVM (and an event), and launchers get --no-kvm=WHY when KVM cannot run
 * guests, --force-emulation when they should use TCG.
 *
 * Launchers run in their own session with their log in
 * <vmi-dir>/launcher.log; the handler talks to each over
 * <vmi-dir>/launcher.sock (protocol in launcher.c) and also reads
 * <vmi-dir>/status.json, so it learns an outcome it was not there to hear.
 * A killed launcher is started again and adopts the running domain; a
 * restarted handler connects to the launchers that are still running.
 *
 * Deletion: a VMI with a deletionTimestamp and the ferry.io/node-cleanup
 * finalizer gets its domain stopped gracefully (ACPI, destroy after
 * terminationGracePeriodSeconds: by its launcher, or by a launcher started
 * with --stop), then its directory removed and the finalizer dropped.
 *
 * One thread: poll() over the launcher sockets with a short timeout, then
 * the store's watch drained without waiting, children reaped, every VMI
 * reconciled (level-triggered: each pass compares and acts). */
#include "launcher/handler.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/spawn.h"
#include "common/store/store.h"
#include "common/util.h"
#include "common/volume.h"
#include "launcher/domain.h"
#include "launcher/kvmprobe.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct entry {
    char *ns, *name;
    json_object *vmi;            /* latest seen */
    pid_t pid;                   /* our child launcher, 0 when none */
    bool stop_mode;              /* the child was started with --stop */
    int fd;                      /* subscription, -1 when none */
    struct ferry_proto_reader r;
    bool stop_sent;
    bool stopped_ok;             /* domain stopped and undefined for a deleted VMI */
    bool final_seen;
    int failures;                /* launcher deaths in a row: backoff */
    uint64_t next_try_ns;
    struct entry *next;
};

struct handler {
    const struct ferry_handler_opts *o;
    struct ferry_store *st;
    const struct ferry_resource *vmi_res, *node_res;
    char *node;
    char *launcher;
    struct entry *entries;
    struct ferry_watch *w;
    uint64_t next_heartbeat_ns;
    bool kvm_unusable;   /* /dev/kvm exists but cannot run guests (the probe says) */
    /* the verdict, for the Node condition KVM and its event */
    const char *kvm_status, *kvm_reason;
    char *kvm_message;
    char *kvm_why;       /* for the launchers' NoKVM message */
    bool kvm_event_due;
    bool pod_launchers;  /* launchers run in Pods (Kubernetes mode) */
    bool cluster_node;   /* the Node is the kubelet's: touch only our condition */
};

static volatile sig_atomic_t quit_signal;

static void
on_signal(int sig)
{
    quit_signal = sig;
}

static struct entry *
find_entry(struct handler *h, const char *ns, const char *name)
{
    for (struct entry *e = h->entries; e; e = e->next)
        if (strcmp(e->ns, ns) == 0 && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static const char *
ns_of(json_object *o)
{
    const char *ns = ferry_obj_namespace(o);
    return ns ? ns : "default";
}

static char *
vmi_dir(struct handler *h, struct entry *e)
{
    return ferry_vmi_dir(h->o->state_dir, e->ns, e->name);
}

static void
close_sub(struct entry *e)
{
    if (e->fd >= 0)
        close(e->fd);
    e->fd = -1;
    ferry_proto_reader_release(&e->r);
}

static void
free_entry(struct entry *e)
{
    close_sub(e);
    json_object_put(e->vmi);
    free(e->ns);
    free(e->name);
    free(e);
}

/* ---- the Node ------------------------------------------------------------ */

/* Write NODE's status with the handler's part in it: KubeVirt's device-plugin
 * resource devices.kubevirt.io/kvm ("1k" only when KVM runs guests) and the
 * KVM condition; then the KVM verdict's event when one is due. */
static int
update_node_kvm(struct handler *h, json_object *node)
{
    FERRY_AUTOPTR(json_object) updated = NULL;
    bool kvm = access("/dev/kvm", R_OK | W_OK) == 0 && !ferry_str_eq(h->kvm_status, "False");

    json_object_object_add(ferry_json_ensure_object(node, "status.capacity"),
                           "devices.kubevirt.io/kvm", json_object_new_string(kvm ? "1k" : "0"));
    json_object_object_add(ferry_json_ensure_object(node, "status.allocatable"),
                           "devices.kubevirt.io/kvm", json_object_new_string(kvm ? "1k" : "0"));
    if (h->kvm_status)
        ferry_condition_set(node, "KVM", h->kvm_status, h->kvm_reason, h->kvm_message);
    else
        ferry_condition_set(node, "KVM", "Unknown", "Probing", "probing whether KVM runs guests");
    if (ferry_store_update_status(h->st, node, &updated) < 0)
        return -1;
    if (h->kvm_event_due) {
        ferry_store_record_event(h->st, updated,
                                 ferry_str_eq(h->kvm_status, "True") ? "Normal" : "Warning",
                                 h->kvm_reason, h->kvm_message);
        h->kvm_event_due = false;
    }
    return 0;
}

static int
heartbeat(struct handler *h, const char *status, const char *reason, const char *message)
{
    FERRY_AUTOPTR(json_object) node = NULL;
    FERRY_AUTOFREE char *now = ferry_time_now_rfc3339();
    json_object *cond;

    if (h->cluster_node) {
        /* a real Node: the kubelet owns Ready, nodeInfo and the other
         * resources; the handler adds only its KVM condition and KubeVirt's
         * device resource */
        if (ferry_store_get(h->st, h->node_res, NULL, h->node, &node) < 0)
            return -1;
        return update_node_kvm(h, node);
    }
    if (ferry_store_get(h->st, h->node_res, NULL, h->node, &node) < 0) {
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        FERRY_AUTOPTR(json_object) fresh = json_object_new_object();
        json_object_object_add(fresh, "apiVersion", json_object_new_string("v1"));
        json_object_object_add(fresh, "kind", json_object_new_string("Node"));
        ferry_json_set_string(fresh, "metadata.name", h->node);
        ferry_obj_set_label(fresh, "kubernetes.io/hostname", h->node);
        ferry_obj_set_label(fresh, "kubevirt.io/schedulable", "true");
        if (ferry_store_create(h->st, fresh, &node) < 0 && ferry_error_code() != FERRY_ERR_EXISTS)
            return -1;
        if (!node && ferry_store_get(h->st, h->node_res, NULL, h->node, &node) < 0)
            return -1;
    }
    ferry_condition_set(node, "Ready", status, reason, message);
    cond = ferry_condition_get(node, "Ready");
    json_object_object_add(cond, "lastHeartbeatTime", json_object_new_string(now));
    ferry_json_set_string(node, "status.nodeInfo.kubeletVersion", "ferry-" FERRY_VERSION);
    ferry_json_set_string(node, "status.nodeInfo.architecture", "amd64");
    ferry_json_set_string(node, "status.nodeInfo.operatingSystem", "linux");
    /* our own Node: its only resource is the KVM one */
    ferry_json_set(node, "status.capacity", json_object_new_object());
    ferry_json_set(node, "status.allocatable", json_object_new_object());
    ferry_json_del(node, "metadata.resourceVersion");
    return update_node_kvm(h, node);
}

/* ---- VMI status ------------------------------------------------------------ */

static bool
phase_final(const char *p)
{
    return ferry_str_eq(p, "Succeeded") || ferry_str_eq(p, "Failed");
}

/* Writes the VMI e names after mutate changed it, reading it again and trying
 * again (5 tries at most) while the write loses to a newer resourceVersion;
 * status picks the status subresource.  mutate returns false when there is
 * nothing to write.  Returns 1 with *ret_updated when written; 0 when nothing
 * was written (the VMI could not be read, mutate declined, or every try
 * conflicted); -1 when the write failed otherwise, the error unreported. */
static int
update_vmi(struct handler *h, struct entry *e, bool status,
           bool (*mutate)(json_object *obj, void *data), void *data, json_object **ret_updated)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        FERRY_AUTOPTR(json_object) obj = NULL;
        int r;

        if (ferry_store_get(h->st, h->vmi_res, e->ns, e->name, &obj) < 0)
            return 0;
        if (!mutate(obj, data))
            return 0;
        r = status ? ferry_store_update_status(h->st, obj, ret_updated)
                   : ferry_store_update(h->st, obj, ret_updated);
        if (r == 0)
            return 1;
        if (ferry_error_code() != FERRY_ERR_CONFLICT)
            return -1;
    }
    return 0;
}

/* One launcher status message, and what the stored VMI said before it. */
struct status_msg {
    json_object *msg;
    const char *node, *phase, *reason, *message, *uid;
    bool paused;
    char *cur;        /* status.phase before; a copy: setting status.phase frees the original */
    char *prev_pause; /* the Paused condition's reason before */
};

/* update_vmi's mutate for apply_status: the VMI's status as the message says. */
static bool
set_status(json_object *obj, void *data)
{
    struct status_msg *s = data;
    const char *phase = s->phase, *reason = s->reason, *message = s->message;
    FERRY_AUTOPTR(json_object) before = NULL;

    if (s->uid && !ferry_str_eq(s->uid, ferry_obj_uid(obj)))
        return false; /* about an older VMI of that name */
    free(s->cur);
    s->cur = ferry_strdup(ferry_json_get_string(obj, "status.phase"));
    if (phase_final(s->cur))
        return false; /* final phases never change */
    before = ferry_json_copy(ferry_json_get(obj, "status"));
    free(s->prev_pause);
    s->prev_pause =
        ferry_strdup(ferry_json_get_string(ferry_condition_get(obj, "Paused"), "reason"));
    if (phase && strcmp(phase, "Scheduled") != 0)
        ferry_json_set_string(obj, "status.phase", phase);
    ferry_json_set_string(obj, "status.nodeName", s->node);
    if (ferry_json_get(s->msg, "interfaces"))
        ferry_json_set(obj, "status.interfaces",
                       ferry_json_copy(ferry_json_get(s->msg, "interfaces")));
    if (ferry_str_eq(phase, "Running") && !s->paused)
        ferry_condition_set(obj, "Ready", "True", NULL, NULL);
    else if (ferry_str_eq(phase, "Running"))
        ferry_condition_set(obj, "Ready", "False", "Paused", "the VMI is paused");
    else if (phase_final(phase))
        ferry_condition_set(obj, "Ready", "False", "GuestNotRunning", "the guest is not running");
    if (s->paused)
        ferry_condition_set(obj, "Paused", "True", reason ? reason : "PausedByUser",
                            message ? message : "VMI was paused by user");
    else
        ferry_condition_remove(obj, "Paused");
    if (ferry_str_eq(phase, "Failed"))
        ferry_condition_set(obj, "Synchronized", "False", reason ? reason : "Failed", message);
    else
        ferry_condition_remove(obj, "Synchronized");
    return !ferry_json_equal(before, ferry_json_get(obj, "status"));
}

/* Apply one launcher status message to the stored VMI. */
static void
apply_status(struct handler *h, struct entry *e, json_object *msg)
{
    struct status_msg s = {
        .msg = msg,
        .node = h->node,
        .phase = ferry_json_get_string(msg, "phase"),
        .reason = ferry_json_get_string(msg, "reason"),
        .message = ferry_json_get_string(msg, "message"),
        .uid = ferry_json_get_string(msg, "uid"),
        .paused = ferry_json_get_bool(msg, "paused", false),
    };
    const char *phase = s.phase, *reason = s.reason, *message = s.message;
    FERRY_AUTOFREE char *cur = NULL;
    FERRY_AUTOFREE char *prev_pause = NULL;
    FERRY_AUTOPTR(json_object) updated = NULL;
    int r;

    if (ferry_json_get_bool(msg, "final", false))
        e->final_seen = true;
    if (ferry_str_eq(phase, "Running"))
        e->failures = 0;
    r = update_vmi(h, e, true, set_status, &s, &updated);
    cur = s.cur;
    prev_pause = s.prev_pause;
    if (r < 0)
        ferry_log_last_error();
    if (r <= 0)
        return;
    if (!ferry_str_eq(cur, phase) && phase && strcmp(phase, "Scheduled")) {
        FERRY_AUTOFREE char *m = ferry_printf("VMI %s on node %s%s%s", phase, h->node,
                                              message ? ": " : "", message ? message : "");
        /* a failure's event names its cause (NoKVM, GuestPanicked, KVMInternalError ...) */
        ferry_store_record_event(h->st, updated, ferry_str_eq(phase, "Failed") ? "Warning" : "Normal",
                                 ferry_str_eq(phase, "Running")                ? "Started"
                                 : ferry_str_eq(phase, "Failed") && reason ? reason
                                                                           : phase, m);
        ferry_log_info("vmi %s/%s: %s%s%s", e->ns, e->name, phase, message ? ": " : "",
                       message ? message : "");
    }
    if (s.paused && !ferry_str_eq(prev_pause, reason ? reason : "PausedByUser")) {
        /* the guest paused: by the user, or by itself (an I/O error) */
        bool user = !reason || ferry_str_eq(reason, "PausedByUser");
        ferry_store_record_event(h->st, updated, user ? "Normal" : "Warning",
                                 user ? "Paused" : reason,
                                 message ? message : "VMI was paused by user");
        if (!user)
            ferry_log_warn("vmi %s/%s: paused: %s", e->ns, e->name, message ? message : reason);
    }
}

/* The outcome a launcher left in status.json, when it is final and ours. */
static bool
apply_status_file(struct handler *h, struct entry *e)
{
    FERRY_AUTOFREE char *dir = vmi_dir(h, e);
    FERRY_AUTOFREE char *path = dir ? ferry_printf("%s/status.json", dir) : NULL;
    FERRY_AUTOPTR(json_object) msg = NULL;

    if (!path) {
        ferry_error_reset(); /* a name the store would not hold */
        return false;
    }
    if (access(path, F_OK) != 0 || ferry_json_read_file(path, &msg) < 0)
        return false;
    if (!ferry_json_get_bool(msg, "final", false) ||
        !ferry_str_eq(ferry_json_get_string(msg, "uid"), ferry_obj_uid(e->vmi)))
        return false;
    apply_status(h, e, msg);
    return true;
}

/* ---- KVM ------------------------------------------------------------------------ */

/* The probe guest beside the binary (<prefix>/bin -> <prefix>/share/ferry,
 * also build/bin -> build/share/ferry), else the configured datadir. */
static char *
probe_image_path(void)
{
    char *p = ferry_self_data_path("kvm-probe.img");

    if (p && access(p, R_OK) == 0)
        return p;
    free(p);
#ifdef FERRY_DATADIR
    if (access(FERRY_DATADIR "/kvm-probe.img", R_OK) == 0)
        return ferry_strdup(FERRY_DATADIR "/kvm-probe.img");
#endif
    return NULL;
}

/* Decide once per start whether VMIs run under KVM, and why: /dev/kvm can
 * exist and still not run guests (kvmprobe.h).  Sets h->kvm_unusable and the
 * Node condition KVM that heartbeat() writes. */
static void
decide_kvm(struct handler *h)
{
    const struct ferry_handler_opts *o = h->o;
    bool dev = access("/dev/kvm", R_OK | W_OK) == 0;
    bool told = o->kvm_probe_image || o->kvm_probe_type; /* tests: probe whatever there is */
    const char *then = o->allow_emulation ? "VMIs run under emulation (TCG)"
                                          : "VMIs fail with reason NoKVM (start ferry-handler "
                                            "with --allow-emulation to run them under TCG)";
    FERRY_AUTOFREE char *detail = NULL;
    FERRY_AUTOFREE char *image = NULL;
    FERRY_AUTOFREE char *kernel = NULL;
    struct ferry_kvm_probe_opts po = { .uri = o->uri, .domain_type = o->kvm_probe_type,
                                       .timeout_seconds = o->kvm_probe_timeout };
    FERRY_AUTOFREE char *dir = ferry_printf("%s/kvm-probe", o->state_dir);
    int rc;

    if (o->force_emulation) {
        h->kvm_status = "False";
        h->kvm_reason = "EmulationForced";
        h->kvm_message = ferry_strdup("ferry-handler runs with --force-emulation: VMIs run under "
                                      "emulation (TCG)");
        return;
    }
    if (!dev && !told) {
        h->kvm_status = "False";
        h->kvm_reason = "NoDevKVM";
        h->kvm_message = ferry_printf("/dev/kvm is not available on this node: %s", then);
        return;
    }
    image = o->kvm_probe_image ? ferry_strdup(o->kvm_probe_image) : probe_image_path();
    if (!ferry_str_eq(o->kvm_probe_kernel, "none"))
        kernel = o->kvm_probe_kernel ? ferry_strdup(o->kvm_probe_kernel)
                                     : ferry_kvm_probe_default_kernel();
    po.dir = dir;
    po.image = image;
    po.kernel = kernel;
    ferry_log_info("node %s: probing whether KVM runs guests (%s%s%s%s, domain type %s)", h->node,
                   image ? "boot sector " : "", image ? image : "", image && kernel ? ", kernel " : kernel ? "kernel " : "",
                   kernel ? kernel : "", o->kvm_probe_type ? o->kvm_probe_type : "kvm");
    rc = ferry_kvm_probe(&po, &detail);
    ferry_rm_rf(dir);
    if (rc == 1) {
        h->kvm_status = "True";
        h->kvm_reason = "KVMRunsGuests";
        h->kvm_message = ferry_printf("KVM runs guests: %s; VMIs run under KVM", detail);
    } else if (rc == 0) {
        h->kvm_unusable = true;
        h->kvm_status = "False";
        h->kvm_reason = "KVMCannotRunGuests";
        h->kvm_why = ferry_printf("KVM is present but cannot run guests: %s", detail);
        h->kvm_message = ferry_printf("%s; %s", h->kvm_why, then);
    } else {
        /* each VMI finds out for itself */
        h->kvm_status = "Unknown";
        h->kvm_reason = "KVMProbeFailed";
        h->kvm_message = ferry_printf("cannot tell whether KVM runs guests: %s; VMIs use KVM",
                                      ferry_error_message());
        ferry_error_reset();
    }
}

int
ferry_handler_probe_kvm(const struct ferry_handler_opts *o)
{
    struct handler h = { .o = o, .node = (char *)"(probe only)" };
    int rc;

    if (ferry_mkdir_p(o->state_dir, 0755) < 0)
        return -1;
    decide_kvm(&h);
    printf("KVM %s %s: %s\n", h.kvm_status, h.kvm_reason, h.kvm_message);
    rc = ferry_str_eq(h.kvm_status, "True") ? 0 : ferry_str_eq(h.kvm_status, "False") ? 3 : 1;
    free(h.kvm_message);
    free(h.kvm_why);
    return rc;
}

/* ---- launchers --------------------------------------------------------------- */

/* What a launcher reads from the VMI's directory: vmi.json (the VMI) and,
 * for a launcher in a Pod (which the handler does not start), the handler's
 * verdict on KVM in launcher-opts.json ({"allowEmulation", "forceEmulation",
 * "noKvm": reason or null}), read by ferry-launcher --wait-for-vmi. */
static int
write_vmi_files(struct handler *h, struct entry *e)
{
    FERRY_AUTOFREE char *dir = vmi_dir(h, e);
    FERRY_AUTOFREE char *vmi_json = NULL;
    FERRY_AUTOFREE char *text = NULL;

    if (!dir || ferry_vmi_mkdir(h->o->state_dir, e->ns, e->name) < 0)
        return -1;
    vmi_json = ferry_printf("%s/vmi.json", dir);
    text = ferry_json_to_string(e->vmi, false);
    if (h->pod_launchers) {
        FERRY_AUTOPTR(json_object) lo = json_object_new_object();
        FERRY_AUTOFREE char *opts = ferry_printf("%s/launcher-opts.json", dir);
        FERRY_AUTOFREE char *otext = NULL;
        bool force = h->o->force_emulation || (h->kvm_unusable && h->o->allow_emulation);

        json_object_object_add(lo, "allowEmulation", json_object_new_boolean(h->o->allow_emulation));
        json_object_object_add(lo, "forceEmulation", json_object_new_boolean(force));
        json_object_object_add(lo, "noKvm", !force && h->kvm_unusable
                                            ? json_object_new_string(h->kvm_why ? h->kvm_why : "")
                                            : NULL);
        otext = ferry_json_to_string(lo, false);
        /* the options first: the launcher reads them once vmi.json is there */
        if (ferry_file_write_atomic(opts, otext, strlen(otext), 0644) < 0)
            return -1;
    }
    return ferry_file_write_atomic(vmi_json, text, strlen(text), 0644);
}

static int
spawn_launcher(struct handler *h, struct entry *e, bool stop)
{
    FERRY_AUTOFREE char *dir = vmi_dir(h, e);
    FERRY_AUTOFREE char *log = NULL;
    const char *argv[24];
    FERRY_AUTOFREE char *no_kvm = NULL;
    int n = 0;
    pid_t pid;

    if (!dir || write_vmi_files(h, e) < 0)
        return -1;
    log = ferry_printf("%s/launcher.log", dir);
    argv[n++] = h->launcher;
    argv[n++] = "--state-dir";
    argv[n++] = h->o->state_dir;
    argv[n++] = "--namespace";
    argv[n++] = e->ns;
    argv[n++] = "--name";
    argv[n++] = e->name;
    if (h->o->uri) {
        argv[n++] = "--libvirt-uri";
        argv[n++] = h->o->uri;
    }
    if (h->o->bridge) {
        argv[n++] = "--bridge";
        argv[n++] = h->o->bridge;
    }
    if (h->o->dhcp_leases) {
        argv[n++] = "--dhcp-leases";
        argv[n++] = h->o->dhcp_leases;
    }
    if (h->o->allow_emulation)
        argv[n++] = "--allow-emulation";
    if (h->o->force_emulation || (h->kvm_unusable && h->o->allow_emulation))
        argv[n++] = "--force-emulation";
    else if (h->kvm_unusable)
        argv[n++] = no_kvm = ferry_printf("--no-kvm=%s", h->kvm_why);
    if (stop)
        argv[n++] = "--stop";
    argv[n] = NULL;

    {
        /* Its own session: a launcher outlives the handler (the VM keeps
         * running across a handler restart).  Output appends to the log. */
        struct ferry_spawn_opts so = { .stdin_null = true, .stdout_file = log, .new_session = true };
        struct ferry_child child;

        if (ferry_spawn((char *const *)argv, &so, &child) < 0)
            return -1;
        pid = child.pid;
    }
    ferry_log_info("vmi %s/%s: started ferry-launcher%s (pid %d)", e->ns, e->name,
                   stop ? " --stop" : "", (int)pid);
    e->pid = pid;
    e->stop_mode = stop;
    e->next_try_ns = ferry_now_ns() + 1000000000ULL;
    return 0;
}

/* A launcher Pod's socket directory: <socket root>/<vmi uid> (short, so the
 * socket path fits sun_path whatever the VMI's name; a new VMI of the same
 * name gets a new one). */
static char *
pod_socket_dir(struct handler *h, struct entry *e)
{
    const char *uid = ferry_obj_uid(e->vmi);

    if (!uid || !*uid || strchr(uid, '/') || strcmp(uid, "..") == 0 || strcmp(uid, ".") == 0)
        return NULL;
    return ferry_printf("%s/%s", h->o->socket_root ? h->o->socket_root : "/var/run/ferry", uid);
}

static void
try_subscribe(struct handler *h, struct entry *e)
{
    /* our own child (a --stop launcher) listens in the VMI's directory; a
     * launcher Pod's under the socket root */
    FERRY_AUTOFREE char *dir = h->pod_launchers && e->pid == 0 ? pod_socket_dir(h, e)
                                                               : vmi_dir(h, e);
    FERRY_AUTOFREE char *sock = dir ? ferry_printf("%s/launcher.sock", dir) : NULL;
    FERRY_AUTOPTR(json_object) req = json_object_new_object();
    int fd;

    if (!sock) {
        ferry_error_reset();
        return;
    }
    if (e->fd >= 0 || access(sock, F_OK) != 0)
        return;
    fd = ferry_proto_connect(sock);
    if (fd < 0) {
        ferry_error_reset();
        return;
    }
    json_object_object_add(req, "op", json_object_new_string("subscribe"));
    if (ferry_proto_send(fd, req) < 0) {
        close(fd);
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    e->fd = fd;
    e->stop_sent = false;
}

static bool
has_finalizer(json_object *o)
{
    return ferry_obj_has_finalizer(o, FERRY_NODE_FINALIZER);
}

static bool
drop_finalizer(json_object *obj, void *data)
{
    (void)data;
    ferry_obj_set_finalizer(obj, FERRY_NODE_FINALIZER, false);
    return true;
}

static void
remove_finalizer(struct handler *h, struct entry *e)
{
    FERRY_AUTOPTR(json_object) updated = NULL;
    int r = update_vmi(h, e, false, drop_finalizer, NULL, &updated);

    if (r > 0 || (r < 0 && ferry_error_code() == FERRY_ERR_NOTFOUND))
        ferry_log_info("vmi %s/%s: cleaned up; finalizer %s removed", e->ns, e->name,
                       FERRY_NODE_FINALIZER);
    else if (r < 0)
        ferry_log_last_error();
}

static void
reconcile(struct handler *h, struct entry *e)
{
    json_object *vmi = e->vmi;
    const char *phase = ferry_json_get_string(vmi, "status.phase");
    bool deleting = ferry_json_get(vmi, "metadata.deletionTimestamp") != NULL;
    bool alive;
    uint64_t now = ferry_now_ns();

    if (!ferry_str_eq(ferry_json_get_string(vmi, "status.nodeName"), h->node) && e->pid == 0 &&
        e->fd < 0)
        return;
    if (e->pid > 0 && e->fd < 0)
        try_subscribe(h, e);
    alive = e->pid > 0 || e->fd >= 0;

    if (deleting) {
        if (!has_finalizer(vmi))
            return;
        if (alive) {
            if (e->fd >= 0 && !e->stop_sent && !e->stop_mode) {
                FERRY_AUTOPTR(json_object) req = json_object_new_object();
                json_object_object_add(req, "op", json_object_new_string("shutdown"));
                json_object_object_add(req, "gracePeriodSeconds",
                                       json_object_new_int64(ferry_json_get_int(
                                           vmi, "spec.terminationGracePeriodSeconds", 30)));
                if (ferry_proto_send(e->fd, req) == 0) {
                    e->stop_sent = true;
                    ferry_log_info("vmi %s/%s: deleted; stopping its domain", e->ns, e->name);
                }
            }
            return;
        }
        if (e->stopped_ok) {
            if (ferry_vmi_remove(h->o->state_dir, e->ns, e->name) < 0)
                ferry_log_last_error();
            if (h->pod_launchers) {
                FERRY_AUTOFREE char *sd = pod_socket_dir(h, e);

                if (sd)
                    rmdir(sd); /* empty once its launcher is gone; else left */
            }
            remove_finalizer(h, e);
            e->stopped_ok = false;
            return;
        }
        if (now >= e->next_try_ns)
            spawn_launcher(h, e, true);
        return;
    }
    if (!ferry_str_eq(phase, "Scheduled") && !ferry_str_eq(phase, "Running"))
        return;
    if (alive)
        return;
    if (apply_status_file(h, e))
        return;
    try_subscribe(h, e); /* a launcher left by an earlier handler */
    if (e->fd >= 0)
        return;
    if (h->pod_launchers) {
        /* the launcher runs in the VMI's Pod: give it its VMI, then connect */
        if (now >= e->next_try_ns) {
            if (write_vmi_files(h, e) < 0)
                ferry_log_last_error();
            e->next_try_ns = now + 1000000000ULL;
        }
        return;
    }
    if (now >= e->next_try_ns && spawn_launcher(h, e, false) < 0) {
        ferry_log_last_error();
        e->next_try_ns = now + 5000000000ULL;
    }
}

/* A launcher is gone (socket closed and, if ours, reaped). */
static void
launcher_gone(struct handler *h, struct entry *e, int status, bool known_status)
{
    bool deleting = e->vmi && ferry_json_get(e->vmi, "metadata.deletionTimestamp");
    apply_status_file(h, e);
    if (deleting && ((known_status && WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                     (!known_status && e->final_seen)))
        e->stopped_ok = true;
    if (known_status && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        /* start the next one after 1, 2, 4 ... 30 s: a launcher that keeps dying
         * must not take the node with it */
        uint64_t delay_s = e->failures < 5 ? 1ULL << e->failures : 30;
        e->failures++;
        e->next_try_ns = ferry_now_ns() + delay_s * 1000000000ULL;
        ferry_log_warn("vmi %s/%s: ferry-launcher %s; next one in %llu s", e->ns, e->name,
                       WIFSIGNALED(status) ? "was killed" : "failed (see launcher.log)",
                       (unsigned long long)delay_s);
    }
    e->final_seen = false;
}

static void
reap(struct handler *h)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (struct entry *e = h->entries; e; e = e->next)
            if (e->pid == pid) {
                e->pid = 0;
                close_sub(e);
                launcher_gone(h, e, status, true);
                break;
            }
    }
}

static void
on_readable(struct handler *h, struct entry *e)
{
    json_object *msg;
    int r = ferry_proto_fill(&e->r, e->fd);
    while (r >= 0 && ferry_proto_next(&e->r, &msg) > 0) {
        if (ferry_str_eq(ferry_json_get_string(msg, "type"), "status"))
            apply_status(h, e, msg);
        json_object_put(msg);
    }
    if (r <= 0) {
        close_sub(e);
        if (e->pid == 0) /* not our child (adopted): the socket is all we have */
            launcher_gone(h, e, 0, false);
    }
}

/* ---- the store -------------------------------------------------------------- */

static void
upsert(struct handler *h, json_object *vmi)
{
    const char *ns = ns_of(vmi), *name = ferry_obj_name(vmi);
    struct entry *e = find_entry(h, ns, name);

    if (!name)
        return;
    if (!e) {
        if (!ferry_str_eq(ferry_json_get_string(vmi, "status.nodeName"), h->node))
            return;
        e = ferry_calloc(1, sizeof *e);
        e->ns = ferry_strdup(ns);
        e->name = ferry_strdup(name);
        e->fd = -1;
        e->next = h->entries;
        h->entries = e;
    } else if (e->vmi && !ferry_str_eq(ferry_obj_uid(e->vmi), ferry_obj_uid(vmi))) {
        e->stopped_ok = false;
        e->final_seen = false;
    }
    json_object_put(e->vmi);
    e->vmi = json_object_get(vmi);
}

static void
forget(struct handler *h, json_object *vmi)
{
    for (struct entry **p = &h->entries; *p; p = &(*p)->next) {
        struct entry *e = *p;
        if (strcmp(e->ns, ns_of(vmi)) == 0 && ferry_str_eq(e->name, ferry_obj_name(vmi)) &&
            ferry_str_eq(ferry_obj_uid(e->vmi), ferry_obj_uid(vmi))) {
            if (e->pid > 0)
                return; /* keep until reaped */
            *p = e->next;
            free_entry(e);
            return;
        }
    }
}

static int
relist(struct handler *h)
{
    FERRY_AUTOPTR(json_object) items = NULL;
    struct ferry_selector *sel = NULL;
    int64_t rv;
    int r;

    if (h->w) {
        ferry_watch_free(h->w);
        h->w = NULL;
    }
    /* In Kubernetes mode, as virt-handler: only this node's VMIs, by the
     * label the controller sets when it schedules one (before nodeName) */
    if (h->pod_launchers) {
        FERRY_AUTOFREE char *s = ferry_printf("kubevirt.io/nodeName=%s", h->node);

        if (ferry_selector_parse(s, &sel) < 0)
            return -1;
    }
    r = ferry_store_list(h->st, h->vmi_res, NULL, sel, &items, &rv);
    if (r == 0) {
        for (size_t i = 0; i < json_object_array_length(items); i++)
            upsert(h, json_object_array_get_idx(items, i));
        r = ferry_store_watch_selected(h->st, h->vmi_res, NULL, sel, rv, &h->w);
    }
    ferry_selector_free(sel);
    return r;
}

static int
drain_watch(struct handler *h)
{
    struct ferry_event ev;
    int r;
    for (int i = 0; i < 256; i++) {
        r = ferry_watch_next(h->w, 0, &ev);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (ferry_error_code() == FERRY_ERR_EXPIRED)
                return relist(h);
            return -1;
        }
        if (ev.type == FERRY_EVENT_DELETED)
            forget(h, ev.object);
        else
            upsert(h, ev.object);
        ferry_event_release(&ev);
    }
    return 0;
}

static char *
self_dir_launcher(void)
{
    const char *dir = ferry_self_dir();
    return dir ? ferry_printf("%s/ferry-launcher", dir) : ferry_strdup("ferry-launcher");
}

int
ferry_handler_run(const struct ferry_handler_opts *o)
{
    struct handler h = { .o = o };
    struct sigaction sa = { .sa_handler = on_signal };
    char host[256];
    int rc = -1;
    uint64_t hb_ns = (uint64_t)(o->heartbeat_seconds > 0 ? o->heartbeat_seconds : 10) * 1000000000ULL;

    if (!o->node_name) {
        if (gethostname(host, sizeof host) < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "gethostname");
        host[sizeof host - 1] = '\0';
    }
    h.node = ferry_strdup(o->node_name ? o->node_name : host);
    h.launcher = o->launcher_path ? ferry_strdup(o->launcher_path) : self_dir_launcher();
    if (access(h.launcher, X_OK) != 0) {
        ferry_error_errno(FERRY_ERR_NOTFOUND, errno, "ferry-launcher '%s'", h.launcher);
        goto out;
    }
    h.vmi_res = ferry_resource_lookup("virtualmachineinstances");
    h.node_res = ferry_resource_lookup("node");
    if (!h.vmi_res || !h.node_res)
        goto out;
    {
        FERRY_AUTOFREE char *vd = ferry_state_path(o->state_dir, FERRY_AREA_VMIS, NULL, NULL, NULL);
        if (ferry_mkdir_p(o->state_dir, 0755) < 0 ||
            ferry_state_mkdir(o->state_dir, FERRY_AREA_VMIS, 0755) < 0)
            goto out;
        chmod(o->state_dir, 0755); /* qemu (libvirt-qemu) must reach the VMI directories */
        chmod(vd, 0755);
    }
    h.cluster_node = o->store && ferry_str_has_prefix(o->store, "kube:");
    h.pod_launchers = o->pod_launchers > 0 ||
                      (o->pod_launchers < 0 && (h.cluster_node ||
                                                ferry_str_eq(getenv("FERRY_KUBE_OBJECTS"), "1")));
    if (ferry_store_open(o->store ? o->store : o->state_dir, &h.st) < 0)
        goto out;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* the Node first (its KVM condition says "Probing"), then the verdict */
    if (heartbeat(&h, "True", "FerryHandlerReady", "ferry-handler is running") < 0)
        goto out;
    decide_kvm(&h);
    if (ferry_str_eq(h.kvm_status, "True"))
        ferry_log_info("node %s: %s", h.node, h.kvm_message);
    else
        ferry_log_warn("node %s: %s", h.node, h.kvm_message);
    h.kvm_event_due = true;
    if (heartbeat(&h, "True", "FerryHandlerReady", "ferry-handler is running") < 0)
        goto out;
    h.next_heartbeat_ns = ferry_now_ns() + hb_ns;
    if (relist(&h) < 0)
        goto out;
    ferry_log_info("node %s: ready (state %s, libvirt %s%s)", h.node, o->state_dir,
                   o->uri ? o->uri : "qemu:///system",
                   o->force_emulation || (h.kvm_unusable && o->allow_emulation) ? ", emulation (TCG)"
                   : h.kvm_unusable ? ", KVM unusable" : o->allow_emulation ? ", emulation allowed" : "");

    while (!quit_signal) {
        struct pollfd pfd[512];
        struct entry *pe[512];
        int n = 0;

        for (struct entry *e = h.entries; e && n < 512; e = e->next)
            if (e->fd >= 0) {
                pfd[n].fd = e->fd;
                pfd[n].events = POLLIN;
                pe[n++] = e;
            }
        if (poll(pfd, (nfds_t)n, 20) > 0)
            for (int i = 0; i < n; i++)
                if (pfd[i].revents && pe[i]->fd == pfd[i].fd)
                    on_readable(&h, pe[i]);
        if (drain_watch(&h) < 0) {
            ferry_log_last_error();
            sleep(1);
            if (relist(&h) < 0)
                ferry_log_last_error();
        }
        reap(&h);
        for (struct entry *e = h.entries; e; e = e->next)
            if (e->vmi)
                reconcile(&h, e);
        if (ferry_now_ns() >= h.next_heartbeat_ns) {
            if (heartbeat(&h, "True", "FerryHandlerReady", "ferry-handler is running") < 0)
                ferry_log_last_error();
            h.next_heartbeat_ns = ferry_now_ns() + hb_ns;
        }
    }
    ferry_log_info("node %s: signal %d: stopping; launchers and domains keep running", h.node,
                   (int)quit_signal);
    heartbeat(&h, "False", "FerryHandlerStopped", "ferry-handler was stopped");
    rc = 0;
out:
    while (h.entries) {
        struct entry *e = h.entries;
        h.entries = e->next;
        free_entry(e);
    }
    if (h.w)
        ferry_watch_free(h.w);
    ferry_store_free(h.st);
    free(h.node);
    free(h.launcher);
    free(h.kvm_message);
    free(h.kvm_why);
    return rc;
}
