/* The DataVolume reconciler's Kubernetes table (ferry_dv_ops_kube): a
 * PersistentVolumeClaim named as the DataVolume and a batch/v1 Job
 * "importer-<dv>" whose one container runs ferry-importer with no arguments
 * and CDI's importer environment (cdi:pkg/controller/import-controller.go
 * makeImportEnv, names from cdi:pkg/common/common.go), both owned by the DV
 * (controller, blockOwnerDeletion: the API server's garbage collector, or the
 * SQLite store's cascade, removes them with it).
 *
 * CDI runs a bare importer Pod owned by the PVC with restartPolicy OnFailure
 * and retries for ever (CDI#642, PR#3619).  Ferry runs a Job:
 *  - restartPolicy Never: every attempt is a pod of its own, so each failed
 *    attempt keeps its exit code and termination message for the DV's
 *    condition and event (OnFailure would overwrite them in place), a retry
 *    starts with a fresh container, and the Job's status.failed counts
 *    attempts exactly;
 *  - backoffLimit = import_retries - 1: the same budget of attempts as the
 *    embedded mode (--import-retries, default 5 attempts), after which the
 *    Job controller marks the Job Failed and the DV goes Failed.
 *
 * Phases as CDI: Pending (PVC made, no Job yet), ImportScheduled (the Job
 * exists, its pod is not running), ImportInProgress (a pod runs), Succeeded
 * (the Job completed: progress "100.0%", the termination message's text in
 * the Running condition), Failed (the Job failed: the last attempt's
 * termination message).  restartCount is the Job's failed pods.  Progress
 * while running: CDI's, scraped every 2 s from the importer's metric
 * kubevirt_cdi_import_progress_total{ownerUID="<dv uid>"} on
 * https://<podIP>:<port "metrics">/metrics (self-signed, not verified, as
 * CDI); "N/A" until it answers.  A successful pod whose termination message says
 * "Unable to process data" (a checksum mismatch: the importer exits 0 so that
 * no retry happens) fails the DV at once.
 *
 * Blank DataVolumes get a Job too (IMPORTER_SOURCE=none: the importer makes
 * the sparse image, as CDI's blank importer pod does).  Upload DataVolumes
 * are refused: they need CDI's upload proxy, which Kubernetes mode lacks.
 *
 * Pods of the Job carry the annotation ferry.io/datavolume=<dv name> (the
 * Job controller makes them owned by the Job, not the DV) so that their
 * changes wake the DataVolume. */
#include "controller/internal.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/quantity.h"
#include "common/util.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FS_OVERHEAD "0.06"        /* cdi:pkg/common/common.go DefaultGlobalOverhead */
#define ALIGN_BYTES (1024 * 1024) /* cdi util.DefaultAlignBlockSize */

/* ---- small builders ---- */

static void
env_add(json_object *env, const char *name, const char *value)
{
    json_object *e = json_object_new_object();

    json_object_object_add(e, "name", json_object_new_string(name));
    json_object_object_add(e, "value", json_object_new_string(value ? value : ""));
    json_object_array_add(env, e);
}

static void
env_secret(json_object *env, const char *name, const char *secret, const char *key)
{
    json_object *e = json_object_new_object();
    json_object *ref = json_object_new_object();

    json_object_object_add(ref, "name", json_object_new_string(secret));
    json_object_object_add(ref, "key", json_object_new_string(key));
    json_object_object_add(e, "name", json_object_new_string(name));
    ferry_json_set(e, "valueFrom.secretKeyRef", ref);
    json_object_array_add(env, e);
}

static void
mount_add(json_object *mounts, const char *name, const char *path)
{
    json_object *m = json_object_new_object();

    json_object_object_add(m, "name", json_object_new_string(name));
    json_object_object_add(m, "mountPath", json_object_new_string(path));
    json_object_array_add(mounts, m);
}

static json_object *
volume_new(const char *name, const char *type, const char *field, const char *value)
{
    json_object *v = json_object_new_object();
    json_object *src = json_object_new_object();

    json_object_object_add(src, field, json_object_new_string(value));
    json_object_object_add(v, "name", json_object_new_string(name));
    json_object_object_add(v, type, src);
    return v;
}

/* PREFIX<name>, kept a valid label value (63) as CDI's naming.GetResourceName
 * does: a long name is cut and given a hash of the whole. */
char *
ctl_kube_job_name(const char *prefix, const char *name)
{
    char *n = ferry_printf("%s%s", prefix, name);
    uint32_t h = 2166136261u;

    if (strlen(n) <= 63)
        return n;
    for (const char *p = n; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    n[54] = '\0';
    while (n[strlen(n) - 1] == '-' || n[strlen(n) - 1] == '.')
        n[strlen(n) - 1] = '\0';
    {
        char *r = ferry_printf("%s-%08x", n, h);

        free(n);
        return r;
    }
}

char *
ctl_kube_importer_name(const char *dv)
{
    return ctl_kube_job_name("importer-", dv);
}

/* ---- the PersistentVolumeClaim ---- */

static json_object *
dv_claim_spec(json_object *dv, bool *ret_storage)
{
    json_object *s = ferry_json_get(dv, "spec.pvc");

    *ret_storage = false;
    if (s && json_object_is_type(s, json_type_object))
        return s;
    s = ferry_json_get(dv, "spec.storage");
    if (s && json_object_is_type(s, json_type_object)) {
        *ret_storage = true;
        return s;
    }
    return NULL;
}

bool
ctl_kube_dv_is_block(json_object *dv)
{
    bool storage;
    json_object *s = dv_claim_spec(dv, &storage);

    return ferry_str_eq(ferry_json_get_string(s, "volumeMode"), "Block");
}

int
ctl_kube_dv_pvc(json_object *dv, json_object **ret)
{
    FERRY_AUTOPTR(json_object) pvc = json_object_new_object();
    json_object *spec, *src;
    const char *size;
    uint64_t bytes;
    bool storage;

    src = dv_claim_spec(dv, &storage);
    size = ferry_json_get_string(src, "resources.requests.storage");
    if (!size)
        return ferry_error(FERRY_ERR_INVALID,
                           "datavolume %s/%s: spec.%s.resources.requests.storage: "
                           "Required value",
                           ferry_obj_namespace(dv), ferry_obj_name(dv),
                           storage ? "storage" : "pvc");
    if (ferry_quantity_parse_bytes(size, &bytes) < 0)
        return ferry_error_prefix("datavolume %s/%s: spec.%s.resources.requests.storage",
                                  ferry_obj_namespace(dv), ferry_obj_name(dv),
                                  storage ? "storage" : "pvc");
    json_object_object_add(pvc, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(pvc, "kind", json_object_new_string("PersistentVolumeClaim"));
    ferry_json_set_string(pvc, "metadata.name", ferry_obj_name(dv));
    ferry_json_set_string(pvc, "metadata.namespace", ferry_obj_namespace(dv));
    ferry_obj_set_label(pvc, "app", "containerized-data-importer");
    ferry_obj_set_label(pvc, "app.kubernetes.io/managed-by", "ferry");
    ferry_obj_add_owner(pvc, dv, true);
    if (!storage) {
        /* spec.pvc: a PersistentVolumeClaimSpec, Kubernetes' semantics as is */
        spec = ferry_json_copy(src);
        if (!ferry_json_get(spec, "volumeMode"))
            json_object_object_add(spec, "volumeMode", json_object_new_string("Filesystem"));
    } else {
        /* spec.storage: CDI fills the gaps (its StorageProfile defaults) and
         * inflates a filesystem volume by the filesystem overhead:
         * ceil(align_1MiB(size) / (1 - 0.06)), GetRequiredSpace */
        static const char *const rwo[] = { "ReadWriteOnce", NULL };
        const char *mode = ferry_json_get_string(src, "volumeMode");
        const char *keep[] = { "storageClassName", "selector", "volumeName", "dataSource",
                               "dataSourceRef" };
        FERRY_AUTOFREE char *req = NULL;

        spec = json_object_new_object();
        if (ferry_json_get(src, "accessModes"))
            json_object_object_add(spec, "accessModes",
                                   ferry_json_copy(ferry_json_get(src, "accessModes")));
        else
            json_object_object_add(spec, "accessModes", ferry_json_new_string_array(rwo));
        json_object_object_add(spec, "volumeMode",
                               json_object_new_string(mode ? mode : "Filesystem"));
        if (!ferry_str_eq(mode, "Block")) {
            uint64_t aligned = (bytes + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;

            bytes = (uint64_t)ceil((double)aligned / (1.0 - atof(FS_OVERHEAD)));
        }
        req = ferry_printf("%llu", (unsigned long long)bytes);
        ferry_json_set_string(spec, "resources.requests.storage", req);
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(keep); i++)
            if (ferry_json_get(src, keep[i]))
                json_object_object_add(spec, keep[i],
                                       ferry_json_copy(ferry_json_get(src, keep[i])));
    }
    json_object_object_add(pvc, "spec", spec);
    *ret = FERRY_STEAL(pvc);
    return 0;
}

/* ---- a Job of one container (the importer's, the guest conversion's) ---- */

json_object *
ctl_kube_job_new(json_object *owner, const char *name, const char *ctr_name, const char *image,
                 const char *const *command, int backoff, json_object **ret_pod,
                 json_object **ret_ctr)
{
    json_object *job = json_object_new_object();
    json_object *pod, *ctr;
    static const char *const drop[] = { "ALL", NULL };

    json_object_object_add(job, "apiVersion", json_object_new_string("batch/v1"));
    json_object_object_add(job, "kind", json_object_new_string("Job"));
    ferry_json_set_string(job, "metadata.name", name);
    ferry_json_set_string(job, "metadata.namespace", ferry_obj_namespace(owner));
    ferry_obj_set_label(job, "app.kubernetes.io/managed-by", "ferry");
    ferry_obj_add_owner(job, owner, true);
    ferry_json_set_int(job, "spec.backoffLimit", backoff);

    pod = ferry_json_ensure_object(job, "spec.template.spec");
    json_object_object_add(pod, "restartPolicy", json_object_new_string("Never"));
    json_object_object_add(pod, "enableServiceLinks", json_object_new_boolean(false));
    json_object_object_add(pod, "automountServiceAccountToken", json_object_new_boolean(false));
    /* CDI's restricted security (util.go SetRestrictedSecurityContext), qemu's
     * uid/gid 107 so that KubeVirt can open the image */
    ferry_json_set_int(pod, "securityContext.fsGroup", 107);
    ferry_json_set_bool(pod, "securityContext.runAsNonRoot", true);
    ferry_json_set_int(pod, "securityContext.runAsUser", 107);
    ferry_json_set_string(pod, "securityContext.seccompProfile.type", "RuntimeDefault");

    ctr = json_object_new_object();
    json_object_object_add(ctr, "name", json_object_new_string(ctr_name));
    json_object_object_add(ctr, "image", json_object_new_string(image));
    json_object_object_add(ctr, "imagePullPolicy", json_object_new_string("IfNotPresent"));
    json_object_object_add(ctr, "command", ferry_json_new_string_array(command));
    json_object_object_add(ctr, "terminationMessagePath",
                           json_object_new_string("/dev/termination-log"));
    json_object_object_add(ctr, "terminationMessagePolicy",
                           json_object_new_string("FallbackToLogsOnError"));
    ferry_json_set_bool(ctr, "securityContext.allowPrivilegeEscalation", false);
    ferry_json_set(ctr, "securityContext.capabilities.drop", ferry_json_new_string_array(drop));
    ferry_json_set_bool(ctr, "securityContext.runAsNonRoot", true);
    ferry_json_set_int(ctr, "securityContext.runAsUser", 107);
    json_object_object_add(pod, "containers", json_object_new_array());
    json_object_array_add(ferry_json_get(pod, "containers"), ctr);
    json_object_object_add(pod, "volumes", json_object_new_array());
    *ret_pod = pod;
    *ret_ctr = ctr;
    return job;
}

void
ctl_kube_job_add_claim(json_object *pod, json_object *ctr, const char *volume,
                       const char *claim, bool block, const char *path)
{
    json_object *list;
    json_object *m = json_object_new_object();

    json_object_array_add(ferry_json_get(pod, "volumes"),
                          volume_new(volume, "persistentVolumeClaim", "claimName", claim));
    json_object_object_add(m, "name", json_object_new_string(volume));
    json_object_object_add(m, block ? "devicePath" : "mountPath", json_object_new_string(path));
    list = ferry_json_get(ctr, block ? "volumeDevices" : "volumeMounts");
    if (!list) {
        list = json_object_new_array();
        json_object_object_add(ctr, block ? "volumeDevices" : "volumeMounts", list);
    }
    json_object_array_add(list, m);
}

int
ctl_kube_create_expected(struct ferry_controller *c, const char *ekey, json_object *want,
                         json_object **ret)
{
    ferry_expectations_expect_creations(c->expect, ekey, 1);
    if (ferry_store_create(c->st, want, ret) < 0) {
        ferry_expectations_creation_observed(c->expect, ekey);
        if (ferry_error_code() != FERRY_ERR_EXISTS)
            return -1;
        ferry_error_reset();
        return 0;
    }
    return 1;
}

/* ---- the importer Job ---- */

static const char *
importer_source(const char *src)
{
    return ferry_str_eq(src, "blank") ? "none" : src;
}

int
ctl_kube_dv_job(const struct ferry_controller_opts *o, json_object *dv, json_object **ret)
{
    FERRY_AUTOPTR(json_object) job = NULL;
    FERRY_AUTOFREE char *name = ctl_kube_importer_name(ferry_obj_name(dv));
    FERRY_AUTOFREE char *size = ctl_dv_size_string(dv);
    const char *src = ctl_dv_source_kind(dv);
    json_object *s = src ? ferry_json_get(ferry_json_get(dv, "spec.source"), src) : NULL;
    json_object *tmpl, *pod, *ctr, *env, *mounts, *vols, *labels, *hdrs;
    const char *ctype = ferry_json_get_string(dv, "spec.contentType");
    const char *secret = ferry_json_get_string(s, "secretRef");
    const char *certs = ferry_json_get_string(s, "certConfigMap");
    bool block = ctl_kube_dv_is_block(dv);
    int backoff = o->import_retries > 1 ? o->import_retries - 1 : 0;
    /* no arguments: the environment is the contract */
    static const char *const cmd[] = { "ferry-importer", NULL };

    if (!src)
        return ferry_error(FERRY_ERR_INVALID, "datavolume %s/%s: spec.source: Required value",
                           ferry_obj_namespace(dv), ferry_obj_name(dv));
    job = ctl_kube_job_new(dv, name, "importer",
                           o->importer_image ? o->importer_image
                                             : "ferry/ferry-importer:" FERRY_VERSION,
                           cmd, backoff, &pod, &ctr);
    ferry_obj_set_label(job, "app", "containerized-data-importer");
    ferry_obj_set_label(job, "cdi.kubevirt.io", "importer");
    ferry_obj_set_annotation(job, "ferry.io/datavolume", ferry_obj_name(dv));
    tmpl = ferry_json_get(job, "spec.template");
    labels = ferry_json_ensure_object(tmpl, "metadata.labels");
    json_object_object_add(labels, "app", json_object_new_string("containerized-data-importer"));
    json_object_object_add(labels, "cdi.kubevirt.io", json_object_new_string("importer"));
    json_object_object_add(labels, "prometheus.cdi.kubevirt.io", json_object_new_string("true"));
    json_object_object_add(labels, "ferry.io/datavolume-uid",
                           json_object_new_string(ferry_obj_uid(dv) ? ferry_obj_uid(dv) : ""));
    ferry_json_set(tmpl, "metadata.annotations", json_object_new_object());
    json_object_object_add(ferry_json_get(tmpl, "metadata.annotations"), "ferry.io/datavolume",
                           json_object_new_string(ferry_obj_name(dv)));
    ferry_json_copy_string(pod, "priorityClassName", dv, "spec.priorityClassName");
    {
        json_object *port = json_object_new_object(), *ports = json_object_new_array();

        json_object_object_add(port, "name", json_object_new_string("metrics"));
        json_object_object_add(port, "containerPort", json_object_new_int(8443));
        json_object_object_add(port, "protocol", json_object_new_string("TCP"));
        json_object_array_add(ports, port);
        json_object_object_add(ctr, "ports", ports);
    }
    /* CDI's defaults (config-controller.go) */
    ferry_json_set_string(ctr, "resources.limits.cpu", "750m");
    ferry_json_set_string(ctr, "resources.limits.memory", "600M");
    ferry_json_set_string(ctr, "resources.requests.cpu", "100m");
    ferry_json_set_string(ctr, "resources.requests.memory", "60M");

    env = json_object_new_array();
    env_add(env, "IMPORTER_SOURCE", importer_source(src));
    env_add(env, "IMPORTER_ENDPOINT", ferry_json_get_string(s, "url"));
    env_add(env, "IMPORTER_CONTENTTYPE", ctype ? ctype : "kubevirt");
    /* The PVC's request, as CDI (GetRequestedImageSize): the importer takes
     * (1 - FILESYSTEM_OVERHEAD) of it (and of the free space), which gives
     * back the DataVolume's size for a spec.storage claim inflated by the
     * same overhead */
    {
        FERRY_AUTOPTR(json_object) pvc = NULL;

        if (ctl_kube_dv_pvc(dv, &pvc) == 0)
            env_add(env, "IMPORTER_IMAGE_SIZE",
                    ferry_json_get_string(pvc, "spec.resources.requests.storage"));
        else {
            ferry_error_reset();
            env_add(env, "IMPORTER_IMAGE_SIZE", size);
        }
    }
    env_add(env, "OWNER_UID", ferry_obj_uid(dv));
    env_add(env, "FILESYSTEM_OVERHEAD", block ? "0" : FS_OVERHEAD);
    env_add(env, "INSECURE_TLS",
            ferry_json_get_bool(s, "insecureSkipVerify", false) ? "true" : "false");
    if (ferry_json_get_string(s, "diskId"))
        env_add(env, "IMPORTER_DISK_ID", ferry_json_get_string(s, "diskId"));
    if (ferry_json_get_string(s, "uuid"))
        env_add(env, "IMPORTER_UUID", ferry_json_get_string(s, "uuid"));
    if (ferry_json_get_string(s, "backingFile"))
        env_add(env, "IMPORTER_BACKING_FILE", ferry_json_get_string(s, "backingFile"));
    if (ferry_json_get_string(s, "thumbprint"))
        env_add(env, "IMPORTER_THUMBPRINT", ferry_json_get_string(s, "thumbprint"));
    if (ferry_str_eq(src, "registry"))
        env_add(env, "IMPORTER_PULL_METHOD",
                ferry_json_get_string(s, "pullMethod") ? ferry_json_get_string(s, "pullMethod")
                                                       : "pod");
    if (ferry_json_get_string(s, "platform.architecture"))
        env_add(env, "IMPORTER_REGISTRY_IMAGE_ARCHITECTURE",
                ferry_json_get_string(s, "platform.architecture"));
    if (ferry_json_get_string(s, "checksum"))
        env_add(env, "IMPORTER_CHECKSUM", ferry_json_get_string(s, "checksum"));
    /* CDI passes CDIConfig's importProxy; Ferry has no CDIConfig and passes
     * the controller's own proxy settings (empty when it has none) */
    env_add(env, "http_proxy", getenv("http_proxy") ? getenv("http_proxy") : getenv("HTTP_PROXY"));
    env_add(env, "https_proxy",
            getenv("https_proxy") ? getenv("https_proxy") : getenv("HTTPS_PROXY"));
    env_add(env, "no_proxy", getenv("no_proxy") ? getenv("no_proxy") : getenv("NO_PROXY"));
    env_add(env, "PREALLOCATION",
            ferry_json_get_bool(dv, "spec.preallocation", false) ? "true" : "false");
    if (secret && !ferry_str_eq(src, "gcs")) {
        env_secret(env, "IMPORTER_ACCESS_KEY_ID", secret, "accessKeyId");
        env_secret(env, "IMPORTER_SECRET_KEY", secret, "secretKey");
    }
    hdrs = ferry_json_get(s, "extraHeaders");
    for (size_t i = 0; hdrs && i < json_object_array_length(hdrs); i++) {
        FERRY_AUTOFREE char *n = ferry_printf("IMPORTER_EXTRA_HEADER_%zu", i);

        env_add(env, n, json_object_get_string(json_object_array_get_idx(hdrs, i)));
    }

    vols = ferry_json_get(pod, "volumes");
    ctl_kube_job_add_claim(pod, ctr, "cdi-data-vol", ferry_obj_name(dv), block,
                           block ? "/dev/cdi-block-volume" : "/data");
    mounts = ferry_json_get(ctr, "volumeMounts");
    if (!mounts) {
        mounts = json_object_new_array();
        json_object_object_add(ctr, "volumeMounts", mounts);
    }
    if (certs) {
        env_add(env, "IMPORTER_CERT_DIR", "/certs");
        mount_add(mounts, "cdi-cert-vol", "/certs");
        json_object_array_add(vols, volume_new("cdi-cert-vol", "configMap", "name", certs));
    }
    if (secret && ferry_str_eq(src, "gcs")) {
        env_add(env, "GOOGLE_APPLICATION_CREDENTIALS", "/google/credentials.json");
        mount_add(mounts, "cdi-secret-vol", "/google");
        json_object_array_add(vols, volume_new("cdi-secret-vol", "secret", "secretName", secret));
    }
    hdrs = ferry_json_get(s, "secretExtraHeaders");
    for (size_t i = 0; hdrs && i < json_object_array_length(hdrs); i++) {
        FERRY_AUTOFREE char *vn = ferry_printf("cdi-secret-extra-headers-vol-%zu", i);
        FERRY_AUTOFREE char *path = ferry_printf("/extraheaders/%zu", i);

        mount_add(mounts, vn, path);
        json_object_array_add(
            vols, volume_new(vn, "secret", "secretName",
                             json_object_get_string(json_object_array_get_idx(hdrs, i))));
    }
    json_object_object_add(ctr, "env", env);
    if (!json_object_array_length(mounts))
        json_object_object_del(ctr, "volumeMounts");
    *ret = FERRY_STEAL(job);
    return 0;
}

/* ---- status from the Job and its pods ---- */

static bool
owned_by(json_object *obj, json_object *dv)
{
    json_object *ref = ferry_obj_controller_ref(obj);

    return ref && ferry_str_eq(ferry_json_get_string(ref, "uid"), ferry_obj_uid(dv));
}

/* The container's termination message (state.terminated.message, else
 * lastState's), the text of CDI's JSON form when it is JSON. */
char *
ctl_kube_termination_message(json_object *pod)
{
    json_object *cs = ferry_json_get(pod, "status.containerStatuses");
    const char *m = NULL;

    for (size_t i = 0; cs && i < json_object_array_length(cs); i++) {
        json_object *c = json_object_array_get_idx(cs, i);

        m = ferry_json_get_string(c, "state.terminated.message");
        if (!m)
            m = ferry_json_get_string(c, "lastState.terminated.message");
        if (m)
            break;
    }
    if (!m)
        return NULL;
    return ctl_message_text(m, "termination message", "message");
}

/* NAME, the DV's PVC or Job, exists but another owns it: CDI's
 * ErrResourceExists, as an event and on the DV's condition COND. */
static int
not_owned(struct ferry_controller *c, json_object *dv, json_object *status, const char *cond,
          const char *name)
{
    FERRY_AUTOFREE char *msg =
        ferry_printf("Resource \"%s\" already exists and is not managed by DataVolume", name);

    ferry_store_record_event(c->st, dv, "Warning", "ErrResourceExists", msg);
    ctl_status_condition(status, cond, "False", "ErrResourceExists", msg);
    return ctl_write_status(c, dv, status);
}

static const char *
container_reason(json_object *pod)
{
    json_object *cs = ferry_json_get(pod, "status.containerStatuses");

    for (size_t i = 0; cs && i < json_object_array_length(cs); i++) {
        json_object *c = json_object_array_get_idx(cs, i);
        const char *r = ferry_json_get_string(c, "state.waiting.reason");

        if (!r)
            r = ferry_json_get_string(c, "state.terminated.reason");
        if (r)
            return r;
    }
    return NULL;
}

int
ctl_kube_view_pods(struct ferry_controller *c, const char *ns, const char *selstr,
                   json_object **ret_items, struct ctl_pods_view *v)
{
    struct ferry_selector *sel = NULL;
    int r;

    memset(v, 0, sizeof *v);
    if (ferry_selector_parse(selstr, &sel) < 0)
        return -1;
    r = ctl_list(c, ferry_resource_pod, ns, sel, ret_items);
    ferry_selector_free(sel);
    if (r < 0)
        return -1;
    for (size_t i = 0; i < json_object_array_length(*ret_items); i++) {
        json_object *p = json_object_array_get_idx(*ret_items, i);
        const char *phase = ferry_json_get_string(p, "status.phase");
        const char *ts = ferry_json_get_string(p, "metadata.creationTimestamp");
        json_object **slot = NULL;

        if (ferry_str_eq(phase, "Running"))
            v->running++;
        else if (ferry_str_eq(phase, "Failed"))
            v->failed++, slot = &v->newest_failed;
        else if (ferry_str_eq(phase, "Succeeded"))
            v->succeeded++, slot = &v->newest_succeeded;
        else
            v->pending++;
        /* RFC 3339 UTC strings order as times; the name breaks ties */
        if (!v->newest ||
            strcmp(ts ? ts : "",
                   ferry_json_get_string(v->newest, "metadata.creationTimestamp") ?: "") >= 0)
            v->newest = p;
        if (slot && (!*slot ||
                     strcmp(ts ? ts : "",
                            ferry_json_get_string(*slot, "metadata.creationTimestamp") ?: "") >= 0))
            *slot = p;
    }
    return 0;
}

/* ---- progress: the importer's metric ---- */

struct scrape_buf {
    char data[65536];
    size_t len;
};

static size_t
scrape_write(char *p, size_t size, size_t n, void *opaque)
{
    struct scrape_buf *b = opaque;
    size_t len = size * n, room = sizeof b->data - 1 - b->len;

    memcpy(b->data + b->len, p, len < room ? len : room);
    b->len += len < room ? len : room;
    return len;
}

/* "45.12%" from the running pod's metric, or NULL when it does not answer. */
static char *
scrape_progress(json_object *pod, const char *owner_uid)
{
    const char *ip = ferry_json_get_string(pod, "status.podIP");
    json_object *ctrs = ferry_json_get(pod, "spec.containers");
    json_object *ports = ferry_json_get(json_object_array_get_idx(ctrs, 0), "ports");
    int64_t port = 8443;
    struct scrape_buf *b = NULL;
    FERRY_AUTOFREE char *url = NULL;
    FERRY_AUTOFREE char *needle = NULL;
    char *hit, *end, *out = NULL;
    CURL *h;
    double v;

    if (!ip || !owner_uid)
        return NULL;
    for (size_t i = 0; ports && i < json_object_array_length(ports); i++)
        if (ferry_str_eq(ferry_json_get_string(json_object_array_get_idx(ports, i), "name"),
                         "metrics"))
            port = ferry_json_get_int(json_object_array_get_idx(ports, i), "containerPort", 8443);
    url = strchr(ip, ':') ? ferry_printf("https://[%s]:%lld/metrics", ip, (long long)port)
                          : ferry_printf("https://%s:%lld/metrics", ip, (long long)port);
    h = curl_easy_init();
    if (!h)
        return NULL;
    b = ferry_calloc(1, sizeof *b);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L); /* the importer's own certificate */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 500L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1500L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, scrape_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    if (curl_easy_perform(h) == CURLE_OK) {
        b->data[b->len] = '\0';
        /* CDI's regular expression, by hand; older importers say import_progress */
        needle = ferry_printf("kubevirt_cdi_import_progress_total{ownerUID=\"%s\"} ", owner_uid);
        hit = strstr(b->data, needle);
        if (!hit) {
            free(needle);
            needle = ferry_printf("import_progress{ownerUID=\"%s\"} ", owner_uid);
            hit = strstr(b->data, needle);
        }
        if (hit) {
            v = strtod(hit + strlen(needle), &end);
            if (end != hit + strlen(needle) && v >= 0 && v <= 100)
                out = ferry_printf("%.2f%%", v);
        }
    }
    curl_easy_cleanup(h);
    free(b);
    return out;
}

static bool
job_condition(json_object *job, const char *type)
{
    return ferry_condition_is_true(job, type);
}

static int
ensure_pvc(struct ferry_controller *c, json_object *dv, json_object *status, json_object **ret_pvc)
{
    FERRY_AUTOPTR(json_object) pvc = NULL;
    FERRY_AUTOPTR(json_object) want = NULL;
    const char *ns = ferry_obj_namespace(dv), *name = ferry_obj_name(dv);

    if (ctl_get(c, ferry_resource_pvc, ns, name, &pvc) == 0) {
        *ret_pvc = FERRY_STEAL(pvc);
        return 0;
    }
    if (ferry_error_code() != FERRY_ERR_NOTFOUND)
        return -1;
    ferry_error_reset();
    if (ctl_kube_dv_pvc(dv, &want) < 0) {
        FERRY_AUTOFREE char *msg = ferry_strdup(ferry_error_message());

        ferry_error_reset();
        *ret_pvc = NULL;
        return ctl_dv_fail(c, dv, status, "InvalidSize", msg) < 0 ? -1 : 1;
    }
    if (ferry_store_create(c->st, want, ret_pvc) < 0) {
        if (ferry_error_code() != FERRY_ERR_EXISTS)
            return -1;
        /* made meanwhile (another pass): read it next time */
        ferry_error_reset();
        ctl_enqueue(c, Q_DV, ns, name, 100);
        *ret_pvc = NULL;
        return 1;
    }
    ctl_observe(c, *ret_pvc);
    ferry_log_info("datavolume %s/%s: created PersistentVolumeClaim %s", ns, name, name);
    ferry_store_record_event(c->st, dv, "Normal", "Pending", "PVC Pending");
    return 0;
}

static int
kube_reconcile(struct ferry_controller *c, json_object *dv)
{
    FERRY_AUTOFREE char *ns = ferry_strdup(ferry_obj_namespace(dv));
    FERRY_AUTOFREE char *name = ferry_strdup(ferry_obj_name(dv));
    FERRY_AUTOFREE char *jobname = ctl_kube_importer_name(name);
    FERRY_AUTOFREE char *ekey = ferry_printf("%c%s/%s", Q_DV, ns, name);
    FERRY_AUTOPTR(json_object) status = NULL;
    FERRY_AUTOPTR(json_object) pvc = NULL;
    FERRY_AUTOPTR(json_object) job = NULL;
    FERRY_AUTOPTR(json_object) pods = NULL;
    FERRY_AUTOFREE char *podsel = ferry_printf("ferry.io/datavolume-uid=%s", ferry_obj_uid(dv));
    struct ctl_pods_view v;
    const char *src, *pvc_phase;
    int64_t failed, limit;
    int r;

    if (ctl_is_deleting(dv)) {
        /* the PVC and the Job go with the DV (ownerReferences); a finalizer
         * left by the embedded mode must not hold it */
        ferry_expectations_delete(c->expect, ekey);
        return ctl_set_finalizer(c, dv, FERRY_FINALIZER_VOLUME, false);
    }
    status = ctl_status_copy(dv);
    if (ferry_str_eq(ctl_dv_phase(status), "Succeeded") ||
        ferry_str_eq(ctl_dv_phase(status), "Failed"))
        return 0;
    r = ctl_dv_check_source(c, dv, status, &src);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (ferry_str_eq(src, "upload"))
        return ctl_dv_fail(c, dv, status, "UploadNotSupported",
                           "upload needs the upload proxy, not available in Kubernetes mode");

    /* the PVC */
    r = ensure_pvc(c, dv, status, &pvc);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (!owned_by(pvc, dv))
        return not_owned(c, dv, status, "Bound", name);
    json_object_object_add(status, "claimName", json_object_new_string(name));
    pvc_phase = ferry_json_get_string(pvc, "status.phase");
    if (ferry_str_eq(pvc_phase, "Bound")) {
        FERRY_AUTOFREE char *msg = ferry_printf("PVC %s Bound", name);

        if (!ferry_condition_is_true(dv, "Bound"))
            ferry_store_record_event(c->st, dv, "Normal", "Bound", msg);
        ctl_status_condition(status, "Bound", "True", "Bound", msg);
    } else {
        FERRY_AUTOFREE char *msg = ferry_printf("PVC %s Pending", name);

        /* a WaitForFirstConsumer claim binds when the importer's pod is
         * scheduled: the Job is made regardless */
        ctl_status_condition(status, "Bound", "False", "Pending", msg);
    }

    /* the Job */
    if (ctl_get(c, ferry_resource_job, ns, jobname, &job) < 0) {
        FERRY_AUTOPTR(json_object) want = NULL;

        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        if (!ferry_expectations_satisfied(c->expect, ekey))
            return ctl_write_status(c, dv, status); /* our Job is on its way */
        if (ctl_kube_dv_job(&c->o, dv, &want) < 0)
            return -1;
        r = ctl_kube_create_expected(c, ekey, want, &job);
        if (r < 0)
            return -1;
        if (r == 0) {
            ctl_enqueue(c, Q_DV, ns, name, 100);
            return ctl_write_status(c, dv, status);
        }
        ferry_log_info("datavolume %s/%s: created Job %s", ns, name, jobname);
        ctl_dv_set_phase(c, dv, status, "ImportScheduled", "Normal", "ImportScheduled",
                         "Import into the volume scheduled");
        json_object_object_add(status, "progress", json_object_new_string("N/A"));
        ctl_status_condition(status, "Running", "False", "Pending", "the importer Job is created");
        ctl_status_condition(status, "Ready", "False", NULL, NULL);
        return ctl_write_status(c, dv, status);
    }
    if (!owned_by(job, dv))
        return not_owned(c, dv, status, "Running", jobname);

    if (ctl_kube_view_pods(c, ns, podsel, &pods, &v) < 0)
        return -1;
    failed = ferry_json_get_int(job, "status.failed", 0);
    if (failed < v.failed)
        failed = v.failed; /* before the Job controller counted them */
    limit = ferry_json_get_int(job, "spec.backoffLimit", 6);
    if (failed > ferry_json_get_int(status, "restartCount", 0)) {
        FERRY_AUTOFREE char *why = v.newest_failed ? ctl_kube_termination_message(v.newest_failed) : NULL;

        json_object_object_add(status, "restartCount", json_object_new_int64(failed));
        ferry_store_record_event(c->st, dv, "Warning", "Error", why ? why : "the importer failed");
    }

    if (job_condition(job, "Complete") || ferry_json_get_int(job, "status.succeeded", 0) > 0 ||
        v.succeeded > 0) {
        FERRY_AUTOFREE char *msg =
            v.newest_succeeded ? ctl_kube_termination_message(v.newest_succeeded) : NULL;

        if (msg && (ferry_str_has_prefix(msg, "Unable to process data") ||
                    strstr(msg, "checksum mismatch"))) {
            /* the importer exits 0 on a wrong checksum: no retry can help */
            json_object_object_add(status, "progress", json_object_new_string("N/A"));
            return ctl_dv_fail(c, dv, status, "ImportFailed", msg);
        }
        ferry_log_info("datavolume %s/%s: import Job %s completed", ns, name, jobname);
        if (ctl_dv_succeed(c, dv, status, name) < 0)
            return -1;
        if (msg) {
            ctl_status_condition(status, "Running", "False", "Completed", msg);
            return ctl_write_status(c, dv, status);
        }
        return 0;
    }
    if (job_condition(job, "Failed") || failed > limit) {
        FERRY_AUTOFREE char *why = v.newest_failed ? ctl_kube_termination_message(v.newest_failed) : NULL;
        FERRY_AUTOFREE char *msg =
            ferry_printf("Import failed after %lld attempts: %s", (long long)failed,
                         why ? why : "the importer Job failed");

        json_object_object_add(status, "progress", json_object_new_string("N/A"));
        return ctl_dv_fail(c, dv, status, "ImportFailed", msg);
    }
    if (v.running > 0) {
        FERRY_AUTOFREE char *progress = NULL;

        for (size_t i = 0; !progress && i < json_object_array_length(pods); i++) {
            json_object *p = json_object_array_get_idx(pods, i);

            if (ferry_str_eq(ferry_json_get_string(p, "status.phase"), "Running"))
                progress = scrape_progress(p, ferry_obj_uid(dv));
        }
        ctl_dv_set_phase(c, dv, status, "ImportInProgress", "Normal", "ImportInProgress",
                         "Import into the volume in progress");
        if (progress)
            json_object_object_add(status, "progress", json_object_new_string(progress));
        else if (!json_object_object_get_ex(status, "progress", NULL))
            json_object_object_add(status, "progress", json_object_new_string("N/A"));
        /* nothing else says when the figure changes: look again in 2 s */
        ctl_enqueue(c, Q_DV, ns, name, 2000);
        ctl_status_condition(status, "Running", "True", "Pod is running", NULL);
        ctl_status_condition(status, "Ready", "False", "TransferRunning", NULL);
        return ctl_write_status(c, dv, status);
    }
    /* scheduled, between attempts, or waiting for the pod */
    if (!ferry_str_eq(ctl_dv_phase(status), "ImportInProgress"))
        ctl_dv_set_phase(c, dv, status, "ImportScheduled", "Normal", "ImportScheduled",
                         "Import into the volume scheduled");
    if (!json_object_object_get_ex(status, "progress", NULL))
        json_object_object_add(status, "progress", json_object_new_string("N/A"));
    if (v.newest && ferry_str_eq(ferry_json_get_string(v.newest, "status.phase"), "Failed")) {
        FERRY_AUTOFREE char *why = ctl_kube_termination_message(v.newest);

        ctl_status_condition(status, "Running", "False", "Error",
                             why ? why : "the importer failed");
    } else {
        const char *reason = v.newest ? container_reason(v.newest) : NULL;

        ctl_status_condition(status, "Running", "False", reason ? reason : "Pending",
                             v.newest ? NULL : "the importer pod is not created yet");
    }
    ctl_status_condition(status, "Ready", "False", NULL, NULL);
    return ctl_write_status(c, dv, status);
}

static void
kube_forget(struct ferry_controller *c, const char *ns, const char *name)
{
    FERRY_AUTOFREE char *ekey = ferry_printf("%c%s/%s", Q_DV, ns, name);

    ferry_expectations_delete(c->expect, ekey);
}

const struct ferry_dv_ops ferry_dv_ops_kube = {
    .name = "kube",
    .reconcile = kube_reconcile,
    .forget = kube_forget,
};
