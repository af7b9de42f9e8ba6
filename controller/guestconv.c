/* Guest conversion before a VM's first start, in the order Forklift keeps:
 * the disks are copied (the VM's DataVolumes Succeeded), then the guest on
 * them is converted (virt-v2v there, `ferry-converter --convert-guest`
 * here), then the VM starts.  A VM asks for it with the annotation
 * ferry.io/guest-conversion: pending (`ferry-converter --guest-conversion
 * controller`); a VM without it is not touched.
 *
 * Embedded mode: the conversion is a ferry-converter child writing its
 * report and its log to conversions/<ns>/<vm>/convert.log under the state
 * directory.  It holds the import.lock of every volume it converts (passed
 * as fds 3...), so no import and no second conversion touches those disks
 * while it runs, also from a restarted controller; it dies with the
 * controller (PR_SET_PDEATHSIG), and a controller that finds the annotation
 * still pending converts again from the start (guest.c changes the disks
 * only when every step succeeded, so a conversion cut short left them as
 * they were).  The outcome is written to the annotations
 * ferry.io/guest-conversion ("converted: <os>" or "failed: <why>") and
 * ferry.io/guest-conversion-changes, an Event and the VM's GuestConversion
 * condition; only after success may the VMI be created.  A conversion that
 * says the guest cannot be converted is final (the VM does not start until
 * the annotation is set to pending again); a converter that crashed or was
 * killed is retried with the VM back-off, three attempts in all.
 *
 * Kubernetes mode, as Forklift runs virt-v2v in a pod: a batch/v1 Job
 * guestconv-<vm> owned by the VM (controller), one container running
 * `ferry-converter --convert-guest --termination-log /dev/termination-log
 * /disks/0/disk.img ...` with the claims mounted at /disks/N (disk.img as
 * CDI lays out a filesystem volume) or, for a Block claim, attached as the
 * device /disks/N/disk.img.  The pod is dvkube.c's importer pod
 * (ctl_kube_job_new): CDI's restricted security context, uid 107, no
 * capabilities, not privileged (libguestfs' direct backend runs qemu as
 * that user, under TCG when the node has no /dev/kvm for it), as Forklift's
 * virt-v2v pod runs non-root.  backoffLimit 2: three attempts, as the
 * embedded mode's crashed converters; a guest that cannot be converted fails
 * every attempt the same way, so the Job's failure is the verdict.  The
 * outcome comes from the pod's termination message (the result, the guest,
 * the error and the changes, within the kubelet's 4096 bytes) and is
 * recorded as in the embedded mode.  One Job per VM: the name is fixed and
 * its creation expected (ferry_expectations); a finished Job left from an
 * earlier round (the annotation set to pending again) is deleted first. */
#include "controller/internal.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/spawn.h"
#include "common/util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AREA "conversions"
#define LOG_FILE "convert.log"
#define ATTEMPTS 3
#define CHANGES_MAX (32u << 10) /* the changes annotation; the full list stays in the log */
#define RESULT_MAX 1024u
#define COND "GuestConversion"
#define NO_DISKS "failed: the VM has no dataVolume or persistentVolumeClaim disk"

struct guestjob {
    char *uid;              /* the VM's */
    struct ferry_child child; /* pid 0 when not running */
    bool exited;
    int status;             /* wait status once exited */
    int attempts;           /* ended without a verdict (crashed, killed) */
    uint64_t retry_at_ns;   /* monotonic; 0: no back-off */
    uint64_t started_ns;
};

void
ctl_guestjob_free(void *p)
{
    struct guestjob *j = p;

    if (!j)
        return;
    free(j->uid);
    free(j);
}

/* ---- decisions, without I/O ---- */

enum ctl_guest_step
ctl_guest_step(json_object *vm, bool volumes_ready)
{
    const char *ann = ferry_obj_annotation(vm, FERRY_ANN_GUEST_CONVERSION);

    if (ferry_str_eq(ann, FERRY_GUEST_CONVERSION_PENDING))
        return volumes_ready ? CTL_GUEST_CONVERT : CTL_GUEST_WAIT;
    /* what this controller failed: final, even when the status write after
     * the annotation's was lost (`ferry-converter --guest-disk` writes "not
     * converted: ..." on a VM emitted with SATA disks, free to start) */
    if (ann && ferry_str_has_prefix(ann, "failed: "))
        return CTL_GUEST_FAILED;
    return CTL_GUEST_NONE;
}

char **
ctl_guest_claims(json_object *vm)
{
    json_object *disks = ferry_json_get(vm, "spec.template.spec.domain.devices.disks");
    json_object *vols = ferry_json_get(vm, "spec.template.spec.volumes");
    char **out = NULL;

    /* the disks in the order the guest sees them (its /dev/sda first) */
    for (size_t i = 0; disks && i < json_object_array_length(disks); i++) {
        json_object *d = json_object_array_get_idx(disks, i);
        const char *name = ferry_json_get_string(d, "name");

        if (ferry_json_get(d, "cdrom") || ferry_json_get(d, "lun"))
            continue;
        for (size_t k = 0; vols && k < json_object_array_length(vols); k++) {
            json_object *v = json_object_array_get_idx(vols, k);
            const char *claim = ferry_json_get_string(v, "dataVolume.name");

            if (!claim)
                claim = ferry_json_get_string(v, "persistentVolumeClaim.claimName");
            if (claim && ferry_str_eq(ferry_json_get_string(v, "name"), name)) {
                ferry_strv_push(&out, claim);
                break;
            }
        }
    }
    return out;
}

void
ctl_guest_parse_report(const char *log, char **ret_result, char **ret_changes)
{
    FERRY_AUTOFREE char *os = NULL;
    FERRY_AUTOFREE char *err = NULL;
    char *changes = NULL;
    size_t nchanges = 0, kept = 0, len = 0;
    bool converted = false;

    for (const char *p = log ? log : ""; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        FERRY_AUTOFREE char *line = ferry_strndup(p, n);

        if (ferry_str_has_prefix(line, "guest: ")) {
            free(os);
            os = ferry_strdup(line + 7);
        } else if (ferry_str_has_prefix(line, "changed: ")) {
            size_t l = strlen(line + 9);

            nchanges++;
            if (len + l + 1 <= CHANGES_MAX) {
                changes = ferry_realloc(changes, len + l + 2);
                if (len)
                    changes[len++] = '\n';
                memcpy(changes + len, line + 9, l + 1);
                len += l;
                kept++;
            }
        } else if (ferry_str_eq(line, "result: converted")) {
            converted = true;
        } else if (ferry_str_has_prefix(line, "ferry-converter: error: ")) {
            free(err);
            err = ferry_strdup(line + 24);
        }
        p += n + (nl ? 1 : 0);
    }
    if (kept < nchanges) {
        char *s = ferry_printf("%s\n... and %zu more (" LOG_FILE ")", changes ? changes : "",
                               nchanges - kept);
        free(changes);
        changes = s;
    }
    if (converted)
        *ret_result = ferry_printf("converted: %s", os ? os : "?");
    else
        *ret_result = ferry_printf("failed: %.*s", (int)RESULT_MAX,
                                   err ? err : "the guest was not converted");
    *ret_changes = changes;
}

/* ---- the child ---- */

static char *
log_path(struct ferry_controller *c, const char *ns, const char *name)
{
    return ferry_state_path(c->state_dir, AREA, ns, name, LOG_FILE);
}

static void
job_stop(struct guestjob *j)
{
    if (j->child.pid > 0) {
        if (ferry_child_stop(&j->child, 0) < 0) {
            ferry_log_warn("guest conversion pid %d: %s", (int)j->child.pid, ferry_error_message());
            ferry_error_reset();
        }
        j->child.pid = 0;
    }
}

static void
kill_one(const char *key, void *value, void *opaque)
{
    (void)key;
    (void)opaque;
    job_stop(value);
}

void
ctl_guest_kill_jobs(struct ferry_controller *c)
{
    strmap_foreach(&c->convs, kill_one, c);
}

static void
reap_one(const char *key, void *value, void *opaque)
{
    struct ferry_controller *c = opaque;
    struct guestjob *j = value;
    int status;

    if (j->child.pid <= 0)
        return;
    if (ferry_child_wait(&j->child, 0, &status) < 0) {
        if (ferry_error_code() != FERRY_ERR_TIMEOUT) /* else still running */
            ferry_log_warn("guest conversion %s: %s", key, ferry_error_message());
        ferry_error_reset();
        return;
    }
    j->child.pid = 0;
    j->exited = true;
    j->status = status;
    ctl_enqueue_key(c, Q_VM, key, 0);
}

void
ctl_guest_reap_jobs(struct ferry_controller *c)
{
    strmap_foreach(&c->convs, reap_one, c);
}

void
ctl_guest_forget(struct ferry_controller *c, const char *ns, const char *name)
{
    FERRY_AUTOFREE char *key = ferry_printf("%s/%s", ns, name);
    struct guestjob *j = strmap_get(&c->convs, key);

    if (j) {
        job_stop(j);
        strmap_remove(&c->convs, key);
    }
    if (c->kube_objects) {
        FERRY_AUTOFREE char *ekey = ferry_printf("%c%s/%s", Q_VM, ns, name);

        ferry_expectations_delete(c->expect, ekey); /* its Job goes with it */
    }
    if (!c->store_is_kube) {
        FERRY_AUTOFREE char *dir = ferry_state_path(c->state_dir, AREA, ns, name, NULL);

        if (dir && ferry_state_remove(c->state_dir, dir + strlen(c->state_dir) + 1) < 0)
            ferry_log_warn("vm %s: %s", key, ferry_error_message());
        ferry_error_reset();
    }
}

/* Take every volume's import.lock and start ferry-converter with them:
 * 1 started, 0 a volume is busy (an import, or a conversion of an earlier
 * controller still dying), -1 error. */
static int
start(struct ferry_controller *c, json_object *vm, char *const *claims, struct guestjob *j)
{
    const char *ns = ferry_obj_namespace(vm), *name = ferry_obj_name(vm);
    struct ferry_spawn_fd fds[FERRY_SPAWN_MAX_FDS];
    size_t n = ferry_strv_len(claims), nlocks = 0;
    FERRY_AUTOSTRV char **argv = NULL;
    FERRY_AUTOFREE char *dir = ferry_state_path(c->state_dir, AREA, ns, name, NULL);
    FERRY_AUTOFREE char *logp = log_path(c, ns, name);
    char *const env[] = { "FERRY_LOG_FORMAT=text", NULL };
    struct ferry_spawn_opts o = { .env = env, .stdin_null = true, .death_signal = SIGKILL };
    struct ferry_child child;
    int r = -1;

    if (n > FERRY_SPAWN_MAX_FDS)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "guest conversion of %zu disks: at most %d",
                           n, FERRY_SPAWN_MAX_FDS);
    if (!dir || !logp)
        return -1;
    ferry_strv_push(&argv, c->converter);
    ferry_strv_push(&argv, "--convert-guest");
    for (size_t i = 0; i < n; i++) {
        FERRY_AUTOFREE char *disk = ferry_volume_file(c->state_dir, ns, claims[i],
                                                      FERRY_VOLUME_DISK);
        bool busy = false;
        int fd;

        if (!disk)
            goto out;
        ferry_strv_push(&argv, disk);
        fd = ferry_volume_lock(c->state_dir, ns, claims[i], &busy);
        if (fd < 0) {
            if (busy) {
                ferry_error_reset();
                r = 0;
            }
            goto out;
        }
        fds[nlocks].fd = fd;
        fds[nlocks].child_fd = 3 + (int)nlocks;
        nlocks++;
    }
    if (ferry_state_mkdir(c->state_dir, dir + strlen(c->state_dir) + 1, 0750) < 0)
        goto out;
    o.log_fd = ferry_state_openat(c->state_dir, logp + strlen(c->state_dir) + 1,
                                  O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (o.log_fd < 0)
        goto out;
    o.fds = fds;
    o.n_fds = nlocks;
    if (ferry_spawn(argv, &o, &child) < 0) {
        close(o.log_fd);
        goto out;
    }
    close(o.log_fd);
    j->child = child;
    j->exited = false;
    j->started_ns = ferry_now_ns();
    ferry_log_info("vm %s/%s: converting the guest on %zu disk(s) (pid %d, log %s)", ns, name,
                   n, (int)child.pid, logp);
    r = 1;
out:
    for (size_t i = 0; i < nlocks; i++)
        close(fds[i].fd);
    return r;
}

/* Write the annotations (a metadata update; obj's metadata follows). */
static int
annotate(struct ferry_controller *c, json_object *vm, const char *result, const char *changes)
{
    FERRY_AUTOPTR(json_object) copy = ferry_json_copy(vm);
    FERRY_AUTOPTR(json_object) out = NULL;
    json_object *ann;

    ferry_obj_set_annotation(copy, FERRY_ANN_GUEST_CONVERSION, result);
    ann = ferry_obj_annotations(copy);
    if (changes)
        ferry_obj_set_annotation(copy, FERRY_ANN_GUEST_CONVERSION_CHANGES, changes);
    else if (ann)
        json_object_object_del(ann, FERRY_ANN_GUEST_CONVERSION_CHANGES);
    json_object_object_del(copy, "status");
    if (ferry_store_update(c->st, copy, &out) < 0)
        return -1;
    ctl_observe(c, out);
    ferry_json_set(vm, "metadata", ferry_json_copy(ferry_json_get(out, "metadata")));
    return 0;
}

static void
set_condition(struct ferry_controller *c, json_object *vm, json_object *status, const char *st,
              const char *reason, const char *msg, const char *ev_type)
{
    json_object *old = ferry_condition_get(vm, COND);

    /* one Event per change of state, not one per pass */
    if (ev_type && !(old && ferry_str_eq(ferry_json_get_string(old, "reason"), reason) &&
                     ferry_str_eq(ferry_json_get_string(old, "message"), msg)))
        ferry_store_record_event(c->st, vm, ev_type, reason, msg);
    ctl_status_condition(status, COND, st, reason, msg);
}

/* The outcome, in the annotations, the condition and an Event: 1. */
static int
record_converted(struct ferry_controller *c, json_object *vm, json_object *status,
                 const char *key, const char *result, const char *changes, double secs)
{
    FERRY_AUTOFREE char *msg = NULL;
    size_t nch = 0;

    for (const char *p = changes; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
        nch++;
    if (annotate(c, vm, result, changes) < 0)
        return -1;
    msg = ferry_printf("Converted the guest in %.0f s: %s; %zu change(s)", secs,
                       result + strlen("converted: "), nch);
    set_condition(c, vm, status, "True", "GuestConverted", msg, "Normal");
    ctl_status_condition(status, "Failure", NULL, NULL, NULL);
    ferry_log_info("vm %s: %s", key, msg);
    strmap_remove(&c->convs, key);
    return 1;
}

/* The failure, final until the annotation says pending again: 0.  LOG (or
 * NULL) says where the whole story is. */
static int
record_failed(struct ferry_controller *c, json_object *vm, json_object *status,
              const char *key, const char *result, const char *changes, const char *log)
{
    FERRY_AUTOFREE char *msg = NULL;

    if (annotate(c, vm, result, changes) < 0)
        return -1;
    msg = ferry_printf("Guest conversion failed, the VM is not started: %s%s%s%s",
                       result + strlen("failed: "), log ? " (log: " : "", log ? log : "",
                       log ? ")" : "");
    set_condition(c, vm, status, "False", "GuestConversionFailed", msg, "Warning");
    ctl_status_condition(status, "Failure", "True", "GuestConversionFailed", msg);
    ferry_log_warn("vm %s: %s", key, msg);
    strmap_remove(&c->convs, key);
    return 0;
}

/* The child ended: record what it said.  1 converted, 0 not. */
static int
finish(struct ferry_controller *c, json_object *vm, json_object *status, const char *key,
       struct guestjob *j)
{
    const char *ns = ferry_obj_namespace(vm), *name = ferry_obj_name(vm);
    FERRY_AUTOFREE char *logp = log_path(c, ns, name);
    FERRY_AUTOFREE char *log = NULL;
    FERRY_AUTOFREE char *result = NULL;
    FERRY_AUTOFREE char *changes = NULL;
    FERRY_AUTOFREE char *msg = NULL;
    FERRY_AUTOFREE char *ws = ferry_wait_status_string(j->status);
    bool verdict = WIFEXITED(j->status) &&
                   (WEXITSTATUS(j->status) == 0 || WEXITSTATUS(j->status) == 1);
    double secs = (double)(ferry_now_ns() - j->started_ns) / 1e9;
    int attempts = j->attempts + (verdict ? 0 : 1); /* written to j once recorded */

    /* j stays exited until the outcome is written: a failed write (a
     * conflict) comes back here, it does not convert again */
    if (logp && ferry_file_read(logp, 4u << 20, &log, NULL) < 0)
        ferry_error_reset();
    ctl_guest_parse_report(log, &result, &changes);
    if (verdict && WEXITSTATUS(j->status) == 0 && ferry_str_has_prefix(result, "converted"))
        return record_converted(c, vm, status, key, result, changes, secs);
    if (!verdict && attempts < ATTEMPTS) {
        int delay = c->o.vm_backoff_s;

        j->attempts = attempts;
        for (int i = 1; i < j->attempts && delay < c->o.vm_backoff_max_s; i++)
            delay *= 2;
        if (delay > c->o.vm_backoff_max_s)
            delay = c->o.vm_backoff_max_s;
        j->exited = false;
        j->retry_at_ns = ferry_now_ns() + (uint64_t)delay * 1000000000ULL;
        msg = ferry_printf("ferry-converter %s (attempt %d of %d); back-off %d s", ws,
                           j->attempts, ATTEMPTS, delay);
        set_condition(c, vm, status, "False", "GuestConversionBackOff", msg, "Warning");
        ferry_log_warn("vm %s: guest conversion: %s", key, msg);
        ctl_enqueue(c, Q_VM, ns, name, delay * 1000 + 100);
        return 0;
    }
    if (!verdict) {
        free(result);
        result = ferry_printf("failed: ferry-converter %s, %d times", ws, attempts);
    }
    return record_failed(c, vm, status, key, result, changes, logp ? logp : LOG_FILE);
}

/* ---- Kubernetes mode: a Job ---- */

#define JOB_BACKOFF 2 /* three attempts */

int
ctl_guest_kube_job(const struct ferry_controller_opts *o, json_object *vm, char *const *claims,
                   const bool *block, json_object **ret)
{
    FERRY_AUTOFREE char *name = ctl_kube_job_name("guestconv-", ferry_obj_name(vm));
    FERRY_AUTOSTRV char **cmd = NULL;
    FERRY_AUTOPTR(json_object) job = NULL;
    json_object *pod, *ctr, *tmpl;
    size_t n = ferry_strv_len(claims);

    ferry_strv_push(&cmd, "ferry-converter");
    ferry_strv_push(&cmd, "--convert-guest");
    ferry_strv_push(&cmd, "--termination-log");
    ferry_strv_push(&cmd, "/dev/termination-log");
    for (size_t i = 0; i < n; i++) {
        FERRY_AUTOFREE char *disk = ferry_printf("/disks/%zu/disk.img", i);

        ferry_strv_push(&cmd, disk);
    }
    job = ctl_kube_job_new(vm, name, "converter",
                           o->converter_image ? o->converter_image
                                              : "ferry/ferry-converter:" FERRY_VERSION,
                           (const char *const *)cmd, JOB_BACKOFF, &pod, &ctr);
    ferry_obj_set_label(job, "app", "ferry-guest-conversion");
    ferry_obj_set_annotation(job, "ferry.io/virtualmachine", ferry_obj_name(vm));
    tmpl = ferry_json_get(job, "spec.template");
    ferry_json_set_string(tmpl, "metadata.labels.app", "ferry-guest-conversion");
    json_object_object_add(ferry_json_get(tmpl, "metadata.labels"), "ferry.io/virtualmachine-uid",
                           json_object_new_string(ferry_obj_uid(vm) ? ferry_obj_uid(vm) : ""));
    ferry_json_set(tmpl, "metadata.annotations", json_object_new_object());
    json_object_object_add(ferry_json_get(tmpl, "metadata.annotations"),
                           "ferry.io/virtualmachine", json_object_new_string(ferry_obj_name(vm)));
    {
        json_object *env = json_object_new_array(), *e = json_object_new_object();

        json_object_object_add(e, "name", json_object_new_string("FERRY_LOG_FORMAT"));
        json_object_object_add(e, "value", json_object_new_string("text"));
        json_object_array_add(env, e);
        json_object_object_add(ctr, "env", env);
    }
    for (size_t i = 0; i < n; i++) {
        FERRY_AUTOFREE char *vol = ferry_printf("disk-%zu", i);
        FERRY_AUTOFREE char *path =
            ferry_printf(block[i] ? "/disks/%zu/disk.img" : "/disks/%zu", i);

        ctl_kube_job_add_claim(pod, ctr, vol, claims[i], block[i], path);
    }
    *ret = FERRY_STEAL(job);
    return 0;
}

static bool
controlled_by(json_object *obj, json_object *owner)
{
    json_object *ref = ferry_obj_controller_ref(obj);

    return ref && ferry_str_eq(ferry_json_get_string(ref, "uid"), ferry_obj_uid(owner));
}

static int
kube_create(struct ferry_controller *c, json_object *vm, json_object *status, const char *key,
            const char *jobname, const char *ekey, bool *ret_converting)
{
    const char *ns = ferry_obj_namespace(vm), *name = ferry_obj_name(vm);
    FERRY_AUTOSTRV char **claims = ctl_guest_claims(vm);
    FERRY_AUTOPTR(json_object) want = NULL;
    FERRY_AUTOPTR(json_object) job = NULL;
    FERRY_AUTOFREE bool *block = NULL;
    FERRY_AUTOFREE char *msg = NULL;
    size_t n = ferry_strv_len(claims);
    int r;

    if (!claims) {
        *ret_converting = false;
        return record_failed(c, vm, status, key, NO_DISKS, NULL, NULL);
    }
    block = ferry_calloc(n, sizeof *block);
    for (size_t i = 0; i < n; i++) {
        FERRY_AUTOPTR(json_object) pvc = NULL;

        if (ctl_get(c, ferry_resource_pvc, ns, claims[i], &pvc) < 0)
            return -1;
        block[i] = ferry_str_eq(ferry_json_get_string(pvc, "spec.volumeMode"), "Block");
    }
    if (ctl_guest_kube_job(&c->o, vm, claims, block, &want) < 0)
        return -1;
    r = ctl_kube_create_expected(c, ekey, want, &job);
    if (r <= 0) {
        if (r == 0)
            ctl_enqueue(c, Q_VM, ns, name, 100);
        return r;
    }
    ctl_observe(c, job);
    ferry_log_info("vm %s: created Job %s to convert the guest on %zu disk(s)", key, jobname, n);
    msg = ferry_printf("Converting the guest on %zu disk(s) in Job %s", n, jobname);
    set_condition(c, vm, status, "False", "Converting", msg, "Normal");
    return 0;
}

static int
kube_gate(struct ferry_controller *c, json_object *vm, json_object *status, const char *key,
          bool *ret_converting)
{
    const char *ns = ferry_obj_namespace(vm), *name = ferry_obj_name(vm);
    FERRY_AUTOFREE char *jobname = ctl_kube_job_name("guestconv-", name);
    FERRY_AUTOFREE char *ekey = ferry_printf("%c%s/%s", Q_VM, ns, name);
    FERRY_AUTOFREE char *podsel = ferry_printf("ferry.io/virtualmachine-uid=%s", ferry_obj_uid(vm));
    FERRY_AUTOFREE char *where = ferry_printf("the pods of Job %s", jobname);
    FERRY_AUTOPTR(json_object) job = NULL;
    FERRY_AUTOPTR(json_object) pods = NULL;
    json_object *cond = ferry_condition_get(vm, COND);
    const char *creason = ferry_json_get_string(cond, "reason");
    struct ctl_pods_view v;
    bool complete, failed;

    if (ctl_get(c, ferry_resource_job, ns, jobname, &job) < 0) {
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        if (!ferry_expectations_satisfied(c->expect, ekey))
            return 0; /* ours is on its way; its ADDED enqueues the VM */
        return kube_create(c, vm, status, key, jobname, ekey, ret_converting);
    }
    if (!controlled_by(job, vm)) {
        FERRY_AUTOFREE char *msg = ferry_printf("Job %s exists and is not this VM's: waiting "
                                                "for it to go", jobname);

        set_condition(c, vm, status, "False", "ErrResourceExists", msg, "Warning");
        ctl_enqueue(c, Q_VM, ns, name, 5000);
        return 0;
    }
    if (ctl_kube_view_pods(c, ns, podsel, &pods, &v) < 0)
        return -1;
    complete = ferry_condition_is_true(job, "Complete") ||
               ferry_json_get_int(job, "status.succeeded", 0) > 0 || v.succeeded > 0;
    failed = ferry_condition_is_true(job, "Failed") ||
             ferry_json_get_int(job, "status.failed", 0) > ferry_json_get_int(job, "spec.backoffLimit", 6);
    if ((complete || failed) &&
        (ferry_str_eq(creason, "GuestConverted") || ferry_str_eq(creason, "GuestConversionFailed"))) {
        /* an earlier round's Job, the annotation set to pending again */
        if (ferry_store_delete(c->st, ferry_resource_job, ns, jobname) < 0 &&
            ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        set_condition(c, vm, status, "False", "Converting", "Converting the guest again",
                      "Normal");
        ctl_enqueue(c, Q_VM, ns, name, 1000);
        return 0;
    }
    if (complete || failed) {
        json_object *pod = complete ? v.newest_succeeded : v.newest_failed;
        FERRY_AUTOFREE char *text = pod ? ctl_kube_termination_message(pod) : NULL;
        FERRY_AUTOFREE char *result = NULL;
        FERRY_AUTOFREE char *changes = NULL;
        const char *t0 = ferry_json_get_string(job, "status.startTime");
        const char *t1 = ferry_json_get_string(job, "status.completionTime");
        time_t s0, s1;

        ctl_guest_parse_report(text, &result, &changes);
        if (complete && ferry_str_has_prefix(result, "converted"))
            return record_converted(c, vm, status, key, result, changes,
                                    t0 && t1 && ferry_time_parse_rfc3339(t0, &s0) == 0 &&
                                            ferry_time_parse_rfc3339(t1, &s1) == 0
                                        ? (double)(s1 - s0)
                                        : 0);
        ferry_error_reset();
        if (text && !strstr(text, "ferry-converter: error: ") && !strstr(text, "result: ")) {
            /* not the converter's report: the log's tail, an OOM kill ... */
            free(result);
            result = ferry_printf("failed: %.*s", (int)RESULT_MAX, text);
        } else if (!text) {
            free(result);
            result = ferry_printf("failed: Job %s failed after %lld attempt(s)", jobname,
                                  (long long)ferry_json_get_int(job, "status.failed", 0));
        }
        return record_failed(c, vm, status, key, result, changes, where);
    }
    *ret_converting = true;
    if (!ferry_str_eq(creason, "Converting")) {
        FERRY_AUTOFREE char *msg = ferry_printf("Converting the guest in Job %s", jobname);

        set_condition(c, vm, status, "False", "Converting", msg, "Normal");
    }
    return 0;
}

int
ctl_guest_gate(struct ferry_controller *c, json_object *vm, json_object *status,
               bool *ret_converting)
{
    const char *ns = ferry_obj_namespace(vm), *name = ferry_obj_name(vm);
    FERRY_AUTOFREE char *key = ferry_printf("%s/%s", ns, name);
    struct guestjob *j = strmap_get(&c->convs, key);
    FERRY_AUTOSTRV char **claims = NULL;
    FERRY_AUTOFREE char *msg = NULL;
    uint64_t now = ferry_now_ns();
    int r;

    *ret_converting = false;
    if (j && !ferry_str_eq(j->uid, ferry_obj_uid(vm))) {
        /* a VM of the same name, recreated */
        job_stop(j);
        strmap_remove(&c->convs, key);
        j = NULL;
    }
    switch (ctl_guest_step(vm, true)) {
    case CTL_GUEST_NONE:
        if (!ferry_obj_annotation(vm, FERRY_ANN_GUEST_CONVERSION)) {
            /* the user took the request back: what it left goes too */
            json_object *f = ferry_condition_get(vm, "Failure");

            ctl_status_condition(status, COND, NULL, NULL, NULL);
            if (f && ferry_str_eq(ferry_json_get_string(f, "reason"), "GuestConversionFailed"))
                ctl_status_condition(status, "Failure", NULL, NULL, NULL);
        }
        return 1;
    case CTL_GUEST_FAILED:
        return 0; /* until the annotation says pending again */
    default:
        break;
    }
    *ret_converting = true;
    if (c->kube_objects)
        return kube_gate(c, vm, status, key, ret_converting);
    if (j && j->child.pid > 0)
        return 0; /* its exit enqueues the VM */
    if (j && j->exited) {
        r = finish(c, vm, status, key, j);
        if (r != 0)
            return r;
        *ret_converting = strmap_get(&c->convs, key) != NULL; /* backing off */
        return 0;
    }
    if (j && j->retry_at_ns > now) {
        ctl_enqueue(c, Q_VM, ns, name, (int)((j->retry_at_ns - now) / 1000000ULL) + 1);
        return 0;
    }
    claims = ctl_guest_claims(vm);
    if (!claims) {
        *ret_converting = false;
        return record_failed(c, vm, status, key, NO_DISKS, NULL, NULL);
    }
    if (!j) {
        j = ferry_calloc(1, sizeof *j);
        j->uid = ferry_strdup(ferry_obj_uid(vm));
        strmap_put(&c->convs, key, j);
    }
    j->retry_at_ns = 0;
    r = start(c, vm, claims, j);
    if (r < 0) {
        /* cannot exec, too many disks ...: an attempt that failed */
        msg = ferry_strdup(ferry_error_message());
        ferry_error_reset();
        j->exited = true;
        j->status = 127 << 8;
        ferry_log_warn("vm %s: guest conversion: %s", key, msg);
        ctl_enqueue(c, Q_VM, ns, name, 0);
        return 0;
    }
    if (r == 0) {
        /* a volume's lock is held: the import, or the conversion of a
         * controller that died and whose child is going */
        ctl_enqueue(c, Q_VM, ns, name, 1000);
        return 0;
    }
    {
        FERRY_AUTOFREE char *list = NULL;

        for (char **p = claims; *p; p++) {
            char *s = ferry_printf("%s%s%s", list ? list : "", list ? ", " : "", *p);
            free(list);
            list = s;
        }
        msg = ferry_printf("Converting the guest on %s", list);
    }
    set_condition(c, vm, status, "False", "Converting", msg, "Normal");
    return 0;
}
