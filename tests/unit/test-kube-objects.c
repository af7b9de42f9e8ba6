/* Kubernetes mode's objects and their reconcilers (controller/dvkube.c,
 * controller/vmipod.c) on the real SQLite store, the tests playing the Job
 * controller, the scheduler and the kubelet by writing Pods and their status.
 *
 * Covered: the importer Job's environment, owner references, volumes, restart
 * policy and back-off limit against CDI's names (filesystem, block, blank,
 * secret and certificate sources, imageio; vddk refused); the PVC's size with CDI's filesystem
 * overhead, access and volume modes; a long DataVolume's Job name; a DV from
 * Pending through ImportScheduled, ImportInProgress, a failed attempt
 * (restartCount, the termination message in the Running condition) to
 * Succeeded, and to Failed after the back-off limit and at once on a checksum
 * mismatch; upload refused; the launcher Pod's name, labels, owner, memory
 * request (guest + the measured overhead), cpu and volumes; a VMI from
 * Pending through Scheduling to Scheduled with the Pod's node; the
 * expectation that keeps a second Pod from being made while the first has
 * not been seen; ownerReferences cascading on delete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/util.h"
#include "controller/internal.h"
#include "testlib.h"
#include "testlib-controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
setup(void **state)
{
    struct test_ctl *fx = ferry_calloc(1, sizeof *fx);
    struct ferry_controller_opts o;

    ferry_controller_opts_init(&o);
    o.import_retries = 3;
    o.kube_objects = 1;
    o.leader_elect = 0;
    if (test_controller_new("kube-objects", &o, &fx->dir, &fx->c) < 0)
        return -1;
    *state = fx;
    return 0;
}

/* The element of ARR whose "name" is NAME, or NULL. */
static json_object *
named(json_object *arr, const char *name)
{
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
        if (ferry_str_eq(ferry_json_get_string(json_object_array_get_idx(arr, i), "name"), name))
            return json_object_array_get_idx(arr, i);
    return NULL;
}

/* The value of env NAME of the Job's (or Pod's) first container, or NULL. */
static json_object *
env_entry(json_object *podspec, const char *name)
{
    return named(
        ferry_json_get(json_object_array_get_idx(ferry_json_get(podspec, "containers"), 0), "env"),
        name);
}

static const char *
env_value(json_object *podspec, const char *name)
{
    json_object *e = env_entry(podspec, name);

    assert_non_null(e);
    return ferry_json_get_string(e, "value");
}

/* Each env NAME of the pod spec has VALUE; the list ends with a NULL name. */
struct env_want {
    const char *name, *value;
};

static void
assert_env(json_object *podspec, const struct env_want *want)
{
    for (; want->name; want++) {
        const char *got = env_value(podspec, want->name);

        if (!ferry_str_eq(got, want->value))
            fail_msg("env %s: '%s', want '%s'", want->name, got ? got : "(none)", want->value);
    }
}

/* Env NAME of the pod spec is key KEY of the Secret SECRET, never a value. */
static void
assert_secret_env(json_object *podspec, const char *name, const char *secret, const char *key)
{
    json_object *e = env_entry(podspec, name);

    assert_non_null(e);
    assert_string_equal(ferry_json_get_string(e, "valueFrom.secretKeyRef.name"), secret);
    assert_string_equal(ferry_json_get_string(e, "valueFrom.secretKeyRef.key"), key);
    assert_null(ferry_json_get(e, "value"));
}

/* The importer Job ctl_kube_dv_job makes for DV, its pod spec in *RET_POD
 * and its (first) container in *RET_CTR. */
static json_object *
dv_job(struct test_ctl *fx, json_object *dv, json_object **ret_pod, json_object **ret_ctr)
{
    json_object *job = NULL;

    assert_int_equal(ctl_kube_dv_job(&fx->c->o, dv, &job), 0);
    *ret_pod = ferry_json_get(job, "spec.template.spec");
    *ret_ctr = json_object_array_get_idx(ferry_json_get(*ret_pod, "containers"), 0);
    return job;
}

static void
assert_owned(json_object *obj, json_object *owner)
{
    json_object *ref = ferry_obj_controller_ref(obj);

    assert_non_null(ref);
    assert_string_equal(ferry_json_get_string(ref, "uid"), ferry_obj_uid(owner));
    assert_string_equal(ferry_json_get_string(ref, "kind"), ferry_obj_kind(owner));
    assert_string_equal(ferry_json_get_string(ref, "name"), ferry_obj_name(owner));
    assert_true(ferry_json_get_bool(ref, "controller", false));
    assert_true(ferry_json_get_bool(ref, "blockOwnerDeletion", false));
}

#define DV_HTTP                                                                                    \
    "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","                         \
    "\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"11111111-2222-4333-8444-"  \
    "555555555555\"},"                                                                             \
    "\"spec\":{\"source\":{\"http\":{\"url\":\"https://files/"                                     \
    "disk.qcow2\",\"secretRef\":\"creds\","                                                        \
    "\"certConfigMap\":\"ca\",\"extraHeaders\":[\"X-A: 1\",\"X-B: 2\"],"                           \
    "\"secretExtraHeaders\":[\"hdrs\"],\"checksum\":\"sha256:abcd\"}},"                            \
    "\"preallocation\":true,"                                                                      \
    "\"storage\":{\"resources\":{\"requests\":{\"storage\":\"1Gi\"}},\"storageClassName\":"        \
    "\"fast\"}}}"

static void
test_job_http(void **state)
{
    static const struct env_want env[] = {
        /* CDI's importer environment */
        { "IMPORTER_SOURCE", "http" },
        { "IMPORTER_ENDPOINT", "https://files/disk.qcow2" },
        { "IMPORTER_CONTENTTYPE", "kubevirt" },
        /* the PVC's request: 1Gi with the 6% filesystem overhead */
        { "IMPORTER_IMAGE_SIZE", "1142278537" },
        { "OWNER_UID", "11111111-2222-4333-8444-555555555555" },
        { "FILESYSTEM_OVERHEAD", "0.06" },
        { "PREALLOCATION", "true" },
        { "IMPORTER_CHECKSUM", "sha256:abcd" },
        { "IMPORTER_EXTRA_HEADER_0", "X-A: 1" },
        { "IMPORTER_EXTRA_HEADER_1", "X-B: 2" },
        { "IMPORTER_CERT_DIR", "/certs" },
        { NULL, NULL },
    };
    json_object *pod, *ctr, *m;
    FERRY_AUTOPTR(json_object) dv = test_json(DV_HTTP);
    FERRY_AUTOPTR(json_object) job = dv_job(*state, dv, &pod, &ctr);

    assert_string_equal(ferry_obj_api_version(job), "batch/v1");
    assert_string_equal(ferry_obj_kind(job), "Job");
    assert_string_equal(ferry_obj_name(job), "importer-web");
    assert_owned(job, dv);
    /* 3 attempts in all: 2 retries */
    assert_int_equal(ferry_json_get_int(job, "spec.backoffLimit", -1), 2);
    assert_string_equal(ferry_json_get_string(pod, "restartPolicy"), "Never");
    assert_false(ferry_json_get_bool(pod, "enableServiceLinks", true));
    assert_string_equal(ferry_json_get_string(ctr, "name"), "importer");
    /* ferry-importer with no arguments */
    assert_int_equal(json_object_array_length(ferry_json_get(ctr, "command")), 1);
    assert_string_equal(
        json_object_get_string(json_object_array_get_idx(ferry_json_get(ctr, "command"), 0)),
        "ferry-importer");
    assert_null(ferry_json_get(ctr, "args"));
    assert_string_equal(ferry_json_get_string(ctr, "terminationMessagePath"),
                        "/dev/termination-log");
    assert_env(pod, env);
    assert_non_null(env_entry(pod, "http_proxy"));
    assert_non_null(env_entry(pod, "https_proxy"));
    assert_non_null(env_entry(pod, "no_proxy"));
    assert_secret_env(pod, "IMPORTER_ACCESS_KEY_ID", "creds", "accessKeyId");
    assert_secret_env(pod, "IMPORTER_SECRET_KEY", "creds", "secretKey");
    /* volumes: the PVC at /data, the CA at /certs, the header secret */
    m = named(ferry_json_get(ctr, "volumeMounts"), "cdi-data-vol");
    assert_string_equal(ferry_json_get_string(m, "mountPath"), "/data");
    assert_null(ferry_json_get(ctr, "volumeDevices"));
    assert_string_equal(ferry_json_get_string(named(ferry_json_get(pod, "volumes"), "cdi-data-vol"),
                                              "persistentVolumeClaim.claimName"),
                        "web");
    m = named(ferry_json_get(ctr, "volumeMounts"), "cdi-cert-vol");
    assert_string_equal(ferry_json_get_string(m, "mountPath"), "/certs");
    assert_string_equal(ferry_json_get_string(named(ferry_json_get(pod, "volumes"), "cdi-cert-vol"),
                                              "configMap.name"),
                        "ca");
    m = named(ferry_json_get(ctr, "volumeMounts"), "cdi-secret-extra-headers-vol-0");
    assert_string_equal(ferry_json_get_string(m, "mountPath"), "/extraheaders/0");
    /* the pods find their DataVolume */
    assert_string_equal(
        ferry_json_get_string(ferry_json_get(job, "spec.template.metadata.labels"), "app"),
        "containerized-data-importer");
}

static void
test_job_block_blank(void **state)
{
    static const struct env_want env[] = {
        { "IMPORTER_SOURCE", "none" },
        { "IMPORTER_ENDPOINT", "" },
        { "FILESYSTEM_OVERHEAD", "0" },
        { "PREALLOCATION", "false" },
        { "IMPORTER_IMAGE_SIZE", "2Gi" }, /* spec.pvc as given */
        { NULL, NULL },
    };
    json_object *pod, *ctr, *d;
    FERRY_AUTOPTR(json_object)
    dv = test_json("{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
               "\"metadata\":{\"name\":\"blk\",\"namespace\":\"ns1\",\"uid\":\"u-1\"},"
               "\"spec\":{\"source\":{\"blank\":{}},"
               "\"pvc\":{\"accessModes\":[\"ReadWriteMany\"],\"volumeMode\":\"Block\","
               "\"resources\":{\"requests\":{\"storage\":\"2Gi\"}}}}}");
    FERRY_AUTOPTR(json_object) job = dv_job(*state, dv, &pod, &ctr);
    FERRY_AUTOPTR(json_object) pvc = NULL;

    assert_env(pod, env);
    assert_null(env_entry(pod, "IMPORTER_ACCESS_KEY_ID"));
    d = named(ferry_json_get(ctr, "volumeDevices"), "cdi-data-vol");
    assert_string_equal(ferry_json_get_string(d, "devicePath"), "/dev/cdi-block-volume");
    assert_null(named(ferry_json_get(ctr, "volumeMounts"), "cdi-data-vol"));
    /* spec.pvc: as given, no overhead */
    assert_int_equal(ctl_kube_dv_pvc(dv, &pvc), 0);
    assert_string_equal(ferry_obj_name(pvc), "blk");
    assert_string_equal(ferry_obj_namespace(pvc), "ns1");
    assert_owned(pvc, dv);
    assert_string_equal(ferry_json_get_string(pvc, "spec.resources.requests.storage"), "2Gi");
    assert_string_equal(ferry_json_get_string(pvc, "spec.volumeMode"), "Block");
    assert_string_equal(json_object_get_string(
                            json_object_array_get_idx(ferry_json_get(pvc, "spec.accessModes"), 0)),
                        "ReadWriteMany");
}

static void
test_pvc_storage_overhead(void **state)
{
    FERRY_AUTOPTR(json_object) dv = test_json(DV_HTTP);
    FERRY_AUTOPTR(json_object) pvc = NULL;
    FERRY_AUTOPTR(json_object)
    nosize = test_json("{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
                   "\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"},"
                   "\"spec\":{\"source\":{\"blank\":{}},\"storage\":{}}}");
    FERRY_AUTOPTR(json_object) p2 = NULL;

    (void)state;
    assert_int_equal(ctl_kube_dv_pvc(dv, &pvc), 0);
    assert_string_equal(ferry_obj_api_version(pvc), "v1");
    assert_string_equal(ferry_obj_kind(pvc), "PersistentVolumeClaim");
    /* ceil(1 GiB / (1 - 0.06)) */
    assert_string_equal(ferry_json_get_string(pvc, "spec.resources.requests.storage"),
                        "1142278537");
    assert_string_equal(ferry_json_get_string(pvc, "spec.volumeMode"), "Filesystem");
    assert_string_equal(ferry_json_get_string(pvc, "spec.storageClassName"), "fast");
    assert_string_equal(json_object_get_string(
                            json_object_array_get_idx(ferry_json_get(pvc, "spec.accessModes"), 0)),
                        "ReadWriteOnce");
    assert_int_equal(ctl_kube_dv_pvc(nosize, &p2), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    assert_non_null(strstr(ferry_error_message(), "spec.storage.resources.requests.storage"));
    ferry_error_reset();
}

static void
test_long_name(void **state)
{
    FERRY_AUTOFREE char *longname = ferry_malloc(201);
    FERRY_AUTOFREE char *n1 = NULL;
    FERRY_AUTOFREE char *n2 = NULL;

    (void)state;
    memset(longname, 'a', 200);
    longname[200] = '\0';
    n1 = ctl_kube_importer_name(longname);
    assert_true(strlen(n1) <= 63);
    assert_true(ferry_str_has_prefix(n1, "importer-aaaa"));
    longname[199] = 'b';
    n2 = ctl_kube_importer_name(longname);
    assert_string_not_equal(n1, n2); /* the hash tells them apart */
}

/* ---- the DataVolume reconciler, with the test as Job controller + kubelet ---- */

static json_object *
get(struct test_ctl *fx, const struct ferry_resource *res, const char *name)
{
    json_object *o = NULL;

    assert_int_equal(ferry_store_get(fx->c->st, res, "default", name, &o), 0);
    return o;
}

static void
create_dv(struct test_ctl *fx, const char *name, const char *src)
{
    FERRY_AUTOFREE char *text =
        ferry_printf("{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
                     "\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\"},"
                     "\"spec\":{\"source\":%s,"
                     "\"storage\":{\"resources\":{\"requests\":{\"storage\":\"1Mi\"}}}}}",
                     name, src);
    FERRY_AUTOPTR(json_object) dv = test_json(text);

    assert_int_equal(ferry_store_create(fx->c->st, dv, NULL), 0);
}

/* A pod of the importer Job (testlib-controller.h) */
static void
importer_pod(struct test_ctl *fx, const char *dvname, const char *pod, const char *phase,
             int exit_code, const char *message)
{
    FERRY_AUTOFREE char *jn = ferry_printf("importer-%s", dvname);

    test_job_pod(fx->c, jn, pod, phase, exit_code, message);
}

static void
job_status(struct test_ctl *fx, const char *dvname, int succeeded, int failed, const char *cond)
{
    FERRY_AUTOFREE char *jn = ferry_printf("importer-%s", dvname);

    test_job_status(fx->c, jn, succeeded, failed, cond);
}

static const char *
dv_field(struct test_ctl *fx, const char *name, const char *path, json_object **keep)
{
    json_object_put(*keep);
    *keep = get(fx, ferry_resource_dv, name);
    return ferry_json_get_string(*keep, path);
}

static void
test_dv_flow(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object) dv = NULL;
    FERRY_AUTOPTR(json_object) pvc = NULL;
    FERRY_AUTOPTR(json_object) job = NULL;
    json_object *keep = NULL, *cond;

    create_dv(fx, "web", "{\"http\":{\"url\":\"http://files/disk.img\"}}");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "web"), 0);
    dv = get(fx, ferry_resource_dv, "web");
    pvc = get(fx, ferry_resource_pvc, "web");
    job = get(fx, ferry_resource_job, "importer-web");
    assert_owned(pvc, dv);
    assert_owned(job, dv);
    assert_string_equal(dv_field(fx, "web", "status.phase", &keep), "ImportScheduled");
    assert_string_equal(dv_field(fx, "web", "status.claimName", &keep), "web");
    assert_string_equal(dv_field(fx, "web", "status.progress", &keep), "N/A");
    /* again: nothing new is made */
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "web"), 0);

    /* the first attempt runs */
    importer_pod(fx, "web", "importer-web-aaaaa", "Running", 0, NULL);
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "web"), 0);
    assert_string_equal(dv_field(fx, "web", "status.phase", &keep), "ImportInProgress");
    cond = ferry_condition_get(keep, "Running");
    assert_string_equal(ferry_json_get_string(cond, "status"), "True");

    /* ... and fails; the Job controller counts it */
    importer_pod(fx, "web", "importer-web-aaaaa", "Failed", 1,
                 "Unable to connect to http data source: connection refused");
    job_status(fx, "web", 0, 1, NULL);
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "web"), 0);
    dv_field(fx, "web", "status.phase", &keep);
    assert_int_equal(ferry_json_get_int(keep, "status.restartCount", -1), 1);
    cond = ferry_condition_get(keep, "Running");
    assert_string_equal(ferry_json_get_string(cond, "status"), "False");
    assert_string_equal(ferry_json_get_string(cond, "message"),
                        "Unable to connect to http data source: connection refused");

    /* the second attempt succeeds with CDI's JSON termination message */
    importer_pod(fx, "web", "importer-web-bbbbb", "Succeeded", 0,
                 "{\"scratchSpaceRequired\":false,\"preallocationApplied\":false,"
                 "\"message\":\"Import Complete\"}");
    job_status(fx, "web", 1, 1, "Complete");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "web"), 0);
    assert_string_equal(dv_field(fx, "web", "status.phase", &keep), "Succeeded");
    assert_string_equal(dv_field(fx, "web", "status.progress", &keep), "100.0%");
    cond = ferry_condition_get(keep, "Running");
    assert_string_equal(ferry_json_get_string(cond, "message"), "Import Complete");
    assert_true(ferry_condition_is_true(keep, "Ready"));

    /* deleting the DV takes the PVC, the Job and its pods with it */
    json_object_put(keep);
    keep = NULL;
    assert_int_equal(ferry_store_delete(fx->c->st, ferry_resource_dv, "default", "web"), 0);
    assert_int_equal(ferry_store_get(fx->c->st, ferry_resource_dv, "default", "web", &keep), -1);
    ferry_error_reset();
    assert_int_equal(ferry_store_get(fx->c->st, ferry_resource_pvc, "default", "web", &keep), -1);
    ferry_error_reset();
    assert_int_equal(
        ferry_store_get(fx->c->st, ferry_resource_job, "default", "importer-web", &keep), -1);
    ferry_error_reset();
    assert_int_equal(
        ferry_store_get(fx->c->st, ferry_resource_pod, "default", "importer-web-bbbbb", &keep), -1);
    ferry_error_reset();
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "web"), 0);
}

static void
test_dv_failed(void **state)
{
    struct test_ctl *fx = *state;
    json_object *keep = NULL;

    /* back-off limit 2 (3 attempts): the third failure fails the DV */
    create_dv(fx, "bad", "{\"http\":{\"url\":\"http://files/nothing\"}}");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "bad"), 0);
    importer_pod(fx, "bad", "importer-bad-1", "Failed", 1, "Unable to process data: 404");
    importer_pod(fx, "bad", "importer-bad-2", "Failed", 1, "Unable to process data: 404");
    job_status(fx, "bad", 0, 2, NULL);
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "bad"), 0);
    assert_string_not_equal(dv_field(fx, "bad", "status.phase", &keep), "Failed");
    importer_pod(fx, "bad", "importer-bad-3", "Failed", 1, "Unable to process data: 404");
    job_status(fx, "bad", 0, 3, "Failed");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "bad"), 0);
    assert_string_equal(dv_field(fx, "bad", "status.phase", &keep), "Failed");
    assert_int_equal(ferry_json_get_int(keep, "status.restartCount", -1), 3);
    assert_non_null(strstr(ferry_json_get_string(ferry_condition_get(keep, "Ready"), "message"),
                           "Import failed after 3 attempts: Unable to process data: 404"));

    /* a checksum mismatch: the importer exits 0, the DV fails at once */
    create_dv(fx, "sum",
              "{\"http\":{\"url\":\"http://files/a\",\"checksum\":\"sha256:"
              "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\"}}");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "sum"), 0);
    importer_pod(fx, "sum", "importer-sum-1", "Succeeded", 0,
                 "{\"message\":\"Unable to process data: checksum mismatch: sha256 want 00\"}");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "sum"), 0);
    assert_string_equal(dv_field(fx, "sum", "status.phase", &keep), "Failed");

    /* upload: refused in Kubernetes mode, nothing made */
    create_dv(fx, "up", "{\"upload\":{}}");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "up"), 0);
    assert_string_equal(dv_field(fx, "up", "status.phase", &keep), "Failed");
    assert_string_equal(ferry_json_get_string(ferry_condition_get(keep, "Ready"), "message"),
                        "upload needs the upload proxy, not available in Kubernetes mode");
    json_object_put(keep);
    keep = NULL;
    assert_int_equal(ferry_store_get(fx->c->st, ferry_resource_pvc, "default", "up", &keep), -1);
    ferry_error_reset();
}

/* ---- the launcher Pod ---- */

#define VMI_JSON                                                                                   \
    "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachineInstance\","                      \
    "\"metadata\":{\"name\":\"vm1\",\"namespace\":\"default\",\"labels\":{\"app\":\"web\"}},"      \
    "\"spec\":{\"domain\":{\"cpu\":{\"cores\":2},\"devices\":{},"                                  \
    "\"resources\":{\"requests\":{\"memory\":\"64Mi\"}}},"                                         \
    "\"volumes\":[{\"name\":\"root\",\"dataVolume\":{\"name\":\"rootdv\"}},"                       \
    "{\"name\":\"raw\",\"persistentVolumeClaim\":{\"claimName\":\"rawpvc\"}},"                     \
    "{\"name\":\"ci\",\"cloudInitNoCloud\":{\"userData\":\"#cloud-config\"}}]}}"

static void
test_pod_object(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object) vmi = test_json(VMI_JSON);
    FERRY_AUTOPTR(json_object) blocks = test_json("[\"rawpvc\"]");
    FERRY_AUTOPTR(json_object) pod = NULL;
    json_object *spec, *ctr, *m, *v, *cmd;

    ferry_json_set_string(vmi, "metadata.uid", "vmi-uid-1");
    assert_int_equal(ctl_kube_vmi_pod(&fx->c->o, vmi, blocks, &pod), 0);
    assert_string_equal(ferry_json_get_string(pod, "metadata.generateName"), "virt-launcher-vm1-");
    assert_string_equal(ferry_obj_label(pod, "kubevirt.io"), "virt-launcher");
    assert_string_equal(ferry_obj_label(pod, "kubevirt.io/created-by"), "vmi-uid-1");
    assert_string_equal(ferry_obj_label(pod, "app"), "web"); /* the VMI's labels too */
    assert_owned(pod, vmi);
    spec = ferry_json_get(pod, "spec");
    assert_string_equal(ferry_json_get_string(spec, "restartPolicy"), "Never");
    assert_false(ferry_json_get_bool(spec, "automountServiceAccountToken", true));
    ctr = json_object_array_get_idx(ferry_json_get(spec, "containers"), 0);
    assert_string_equal(ferry_json_get_string(ctr, "name"), "compute");
    cmd = ferry_json_get(ctr, "command");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(cmd, 0)),
                        "ferry-launcher");
    {
        FERRY_AUTOFREE char *joined = ferry_json_to_string(cmd, false);

        assert_non_null(strstr(joined, "\"--namespace\",\"default\",\"--name\",\"vm1\""));
        /* the socket in the shared host path, by uid */
        {
            size_t n = json_object_array_length(cmd), i;

            for (i = 0; i + 1 < n; i++)
                if (ferry_str_eq(json_object_get_string(json_object_array_get_idx(cmd, i)),
                                 "--socket-dir"))
                    break;
            assert_true(i + 1 < n);
            assert_string_equal(json_object_get_string(json_object_array_get_idx(cmd, i + 1)),
                                "/var/run/ferry/vmi-uid-1");
        }
    }
    /* 64 MiB + the measured 96 MiB overhead; 2 vCPUs at 100m each */
    assert_string_equal(ferry_json_get_string(ctr, "resources.requests.memory"), "167772160");
    assert_string_equal(ferry_json_get_string(ctr, "resources.requests.cpu"), "200m");
    /* host paths shared with the handler, libvirt's socket, the PVCs */
    v = named(ferry_json_get(spec, "volumes"), "ferry-state");
    assert_string_equal(ferry_json_get_string(v, "hostPath.path"), "/var/lib/ferry");
    v = named(ferry_json_get(spec, "volumes"), "ferry-run");
    assert_string_equal(ferry_json_get_string(v, "hostPath.path"), "/var/run/ferry");
    v = named(ferry_json_get(spec, "volumes"), "libvirt");
    assert_string_equal(ferry_json_get_string(v, "hostPath.path"), "/var/run/libvirt");
    v = named(ferry_json_get(spec, "volumes"), "root");
    assert_string_equal(ferry_json_get_string(v, "persistentVolumeClaim.claimName"), "rootdv");
    m = named(ferry_json_get(ctr, "volumeMounts"), "root");
    assert_string_equal(ferry_json_get_string(m, "mountPath"),
                        "/var/run/kubevirt-private/vmi-disks/root");
    m = named(ferry_json_get(ctr, "volumeDevices"), "raw");
    assert_string_equal(ferry_json_get_string(m, "devicePath"), "/dev/raw");
    assert_null(named(ferry_json_get(spec, "volumes"), "ci"));
}

/* The launcher pods of the VMI MADE: those created by its uid. */
static json_object *
launcher_pods(struct test_ctl *fx, json_object *made)
{
    FERRY_AUTOFREE char *selstr = ferry_printf("kubevirt.io/created-by=%s", ferry_obj_uid(made));
    struct ferry_selector *sel = NULL;
    json_object *pods = NULL;
    int64_t rv;

    assert_int_equal(ferry_selector_parse(selstr, &sel), 0);
    assert_int_equal(ferry_store_list(fx->c->st, ferry_resource_pod, "default", sel, &pods, &rv),
                     0);
    ferry_selector_free(sel);
    return pods;
}

/* VMI_JSON created in the store and reconciled once: the VMI as created. */
static json_object *
create_vmi(struct test_ctl *fx)
{
    FERRY_AUTOPTR(json_object) vmi = test_json(VMI_JSON);
    json_object *made = NULL;

    assert_int_equal(ferry_store_create(fx->c->st, vmi, &made), 0);
    assert_int_equal(ferry_vmi_reconcile(fx->c, "default", "vm1"), 0);
    return made;
}

static void
test_vmi_flow(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object) made = create_vmi(fx);
    FERRY_AUTOPTR(json_object) pods = NULL;
    FERRY_AUTOPTR(json_object) pod = NULL;
    FERRY_AUTOFREE char *ekey = ferry_printf("%cdefault/vm1", Q_VMI);
    json_object *keep = NULL;

    keep = get(fx, ferry_resource_vmi, "vm1");
    assert_string_equal(ferry_json_get_string(keep, "status.phase"), "Scheduling");
    pods = launcher_pods(fx, made);
    assert_int_equal(json_object_array_length(pods), 1);
    pod = json_object_get(json_object_array_get_idx(pods, 0));
    assert_true(ferry_str_has_prefix(ferry_obj_name(pod), "virt-launcher-vm1-"));
    assert_int_equal(strlen(ferry_obj_name(pod)), strlen("virt-launcher-vm1-") + 5);

    /* a stale cache: the pod is not listed yet (here: gone), the watch has
     * not shown it: no second pod, the VMI waits */
    assert_int_equal(
        ferry_store_delete(fx->c->st, ferry_resource_pod, "default", ferry_obj_name(pod)), 0);
    assert_int_equal(ferry_vmi_reconcile(fx->c, "default", "vm1"), 0);
    json_object_put(pods);
    pods = launcher_pods(fx, made);
    assert_int_equal(json_object_array_length(pods), 0);
    json_object_put(keep);
    keep = get(fx, ferry_resource_vmi, "vm1");
    assert_string_equal(ferry_json_get_string(keep, "status.phase"), "Scheduling");
    /* the watch shows it: the pod of a Scheduling VMI vanished: Failed */
    ferry_expectations_creation_observed(fx->c->expect, ekey);
    assert_int_equal(ferry_vmi_reconcile(fx->c, "default", "vm1"), 0);
    json_object_put(keep);
    keep = get(fx, ferry_resource_vmi, "vm1");
    assert_string_equal(ferry_json_get_string(keep, "status.phase"), "Failed");
    json_object_put(keep);
}

static void
test_vmi_scheduled(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object) made = create_vmi(fx);
    FERRY_AUTOPTR(json_object) pods = NULL;
    FERRY_AUTOFREE char *ekey = ferry_printf("%cdefault/vm1", Q_VMI);
    json_object *pod, *keep = NULL;

    ferry_expectations_creation_observed(fx->c->expect, ekey); /* the watch */
    pods = launcher_pods(fx, made);
    assert_int_equal(json_object_array_length(pods), 1);
    pod = json_object_array_get_idx(pods, 0);
    /* unschedulable: the scheduler's condition shows on the VMI */
    ferry_condition_set(pod, "PodScheduled", "False", "Unschedulable",
                        "0/1 nodes are available: 1 Insufficient memory.");
    assert_int_equal(ferry_store_update_status(fx->c->st, pod, NULL), 0);
    assert_int_equal(ferry_vmi_reconcile(fx->c, "default", "vm1"), 0);
    keep = get(fx, ferry_resource_vmi, "vm1");
    assert_string_equal(ferry_json_get_string(ferry_condition_get(keep, "PodScheduled"), "reason"),
                        "Unschedulable");
    json_object_put(keep);
    /* the fake scheduler binds it, the fake kubelet runs it */
    {
        FERRY_AUTOPTR(json_object) cur = NULL;

        assert_int_equal(
            ferry_store_get(fx->c->st, ferry_resource_pod, "default", ferry_obj_name(pod), &cur),
            0);
        ferry_json_set_string(cur, "spec.nodeName", "node1");
        assert_int_equal(ferry_store_update(fx->c->st, cur, NULL), 0);
        json_object_put(cur);
        cur = NULL;
        assert_int_equal(
            ferry_store_get(fx->c->st, ferry_resource_pod, "default", ferry_obj_name(pod), &cur),
            0);
        ferry_condition_set(cur, "PodScheduled", "True", NULL, NULL);
        ferry_json_set_string(cur, "status.phase", "Running");
        assert_int_equal(ferry_store_update_status(fx->c->st, cur, NULL), 0);
    }
    assert_int_equal(ferry_vmi_reconcile(fx->c, "default", "vm1"), 0);
    keep = get(fx, ferry_resource_vmi, "vm1");
    assert_string_equal(ferry_json_get_string(keep, "status.phase"), "Scheduled");
    assert_string_equal(ferry_json_get_string(keep, "status.nodeName"), "node1");
    assert_string_equal(ferry_obj_label(keep, "kubevirt.io/nodeName"), "node1");
    assert_null(ferry_condition_get(keep, "PodScheduled"));
    json_object_put(keep);
    /* from here the handler owns it: the controller leaves it alone ... */
    keep = get(fx, ferry_resource_vmi, "vm1");
    ferry_json_set_string(keep, "status.phase", "Running");
    assert_int_equal(ferry_store_update_status(fx->c->st, keep, NULL), 0);
    json_object_put(keep);
    assert_int_equal(ferry_vmi_reconcile(fx->c, "default", "vm1"), 0);
    keep = get(fx, ferry_resource_vmi, "vm1");
    assert_string_equal(ferry_json_get_string(keep, "status.phase"), "Running");
    json_object_put(keep);
    /* ... unless its launcher Pod is deleted: Failed, as virt-controller */
    assert_int_equal(ferry_store_delete(fx->c->st, ferry_resource_pod, "default",
                                        ferry_obj_name(pod)),
                     0);
    assert_int_equal(ferry_vmi_reconcile(fx->c, "default", "vm1"), 0);
    keep = get(fx, ferry_resource_vmi, "vm1");
    assert_string_equal(ferry_json_get_string(keep, "status.phase"), "Failed");
    assert_string_equal(ferry_json_get_string(ferry_condition_get(keep, "Ready"), "reason"),
                        "PodNotExists");
    json_object_put(keep);
}

/* A VM's persistentVolumeClaim volume is a PVC object in Kubernetes mode,
 * not a volume directory. */
static void
test_vm_pvc_volume(void **state)
{
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object)
    vm = test_json(
        "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\","
        "\"metadata\":{\"name\":\"v\",\"namespace\":\"default\"},"
        "\"spec\":{\"runStrategy\":\"Always\",\"template\":{\"spec\":{"
        "\"domain\":{\"devices\":{},\"resources\":{\"requests\":{\"memory\":\"64Mi\"}}},"
        "\"volumes\":[{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"claim1\"}}]}}}}");
    FERRY_AUTOPTR(json_object)
    pvc = test_json("{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
                "\"metadata\":{\"name\":\"claim1\",\"namespace\":\"default\"},"
                "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
                "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}");
    json_object *keep = NULL;

    assert_int_equal(ferry_store_create(fx->c->st, vm, NULL), 0);
    assert_int_equal(ferry_vm_reconcile(fx->c, "default", "v"), 0);
    keep = get(fx, ferry_resource_vm, "v");
    assert_string_equal(ferry_json_get_string(keep, "status.printableStatus"), "ErrorPvcNotFound");
    json_object_put(keep);
    assert_int_equal(ferry_store_create(fx->c->st, pvc, NULL), 0);
    assert_int_equal(ferry_vm_reconcile(fx->c, "default", "v"), 0);
    keep = get(fx, ferry_resource_vmi, "v"); /* the VMI is made */
    json_object_put(keep);
}

/* source.imageio: CDI's env (the engine's API URL as the endpoint, the disk
 * id, the secret's two keys by secretKeyRef, the CA config map at /certs);
 * through the reconciler a Job is made.  source.vddk: refused at once,
 * naming the field and the vmware:// way in, no PVC and no Job. */
static void
test_job_imageio_vddk(void **state)
{
    static const struct env_want env[] = {
        { "IMPORTER_SOURCE", "imageio" },
        { "IMPORTER_ENDPOINT", "https://engine/ovirt-engine/api" },
        { "IMPORTER_DISK_ID", "3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60" },
        { "IMPORTER_CONTENTTYPE", "kubevirt" },
        { "IMPORTER_CERT_DIR", "/certs" },
        { NULL, NULL },
    };
    struct test_ctl *fx = *state;
    FERRY_AUTOPTR(json_object)
    dv = test_json("{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
               "\"metadata\":{\"name\":\"iio\",\"namespace\":\"default\",\"uid\":\"u-2\"},"
               "\"spec\":{\"source\":{\"imageio\":{\"url\":\"https://engine/ovirt-engine/api\","
               "\"diskId\":\"3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60\",\"secretRef\":\"engine\","
               "\"certConfigMap\":\"engine-ca\"}},"
               "\"storage\":{\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}}");
    json_object *pod, *ctr, *keep = NULL;
    FERRY_AUTOPTR(json_object) job = dv_job(fx, dv, &pod, &ctr);
    const char *msg;

    assert_env(pod, env);
    assert_secret_env(pod, "IMPORTER_ACCESS_KEY_ID", "engine", "accessKeyId");
    assert_secret_env(pod, "IMPORTER_SECRET_KEY", "engine", "secretKey");
    assert_string_equal(ferry_json_get_string(named(ferry_json_get(ctr, "volumeMounts"),
                                                    "cdi-cert-vol"), "mountPath"),
                        "/certs");
    assert_string_equal(ferry_json_get_string(named(ferry_json_get(pod, "volumes"),
                                                    "cdi-cert-vol"), "configMap.name"),
                        "engine-ca");
    assert_null(env_entry(pod, "IMPORTER_BACKING_FILE"));

    /* the reconciler takes source.imageio: a PVC and a Job */
    create_dv(fx, "iio2",
              "{\"imageio\":{\"url\":\"https://engine/ovirt-engine/api\","
              "\"diskId\":\"3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60\",\"secretRef\":\"engine\","
              "\"certConfigMap\":\"engine-ca\"}}");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "iio2"), 0);
    json_object_put(get(fx, ferry_resource_job, "importer-iio2"));
    /* ... and refuses an engine URL it cannot map, at once */
    create_dv(fx, "iio3", "{\"imageio\":{\"url\":\"https://engine/ovirt-engine/api\","
                          "\"diskId\":\"../x\",\"secretRef\":\"e\",\"certConfigMap\":\"c\"}}");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "iio3"), 0);
    assert_string_equal(dv_field(fx, "iio3", "status.phase", &keep), "Failed");
    msg = ferry_json_get_string(ferry_condition_get(keep, "Ready"), "message");
    assert_true(ferry_str_has_prefix(msg, "spec.source.imageio: Invalid value: imageio endpoint"));
    json_object_put(keep);
    keep = NULL;

    create_dv(fx, "vd", "{\"vddk\":{\"url\":\"https://esxi/sdk\",\"uuid\":\"u\","
                        "\"backingFile\":\"[ds] vm/vm.vmdk\",\"thumbprint\":\"AA\","
                        "\"secretRef\":\"s\"}}");
    assert_int_equal(ferry_dv_reconcile(fx->c, "default", "vd"), 0);
    assert_string_equal(dv_field(fx, "vd", "status.phase", &keep), "Failed");
    msg = ferry_json_get_string(ferry_condition_get(keep, "Ready"), "message");
    assert_true(ferry_str_has_prefix(msg, "spec.source.vddk: Unsupported value: VDDK is proprietary"));
    assert_non_null(strstr(msg, "vmware://HOST/DATASTORE/PATH.vmdk"));
    assert_int_equal(ferry_json_get_int(keep, "status.restartCount", -1), 0);
    json_object_put(keep);
    keep = NULL;
    assert_int_equal(ferry_store_get(fx->c->st, ferry_resource_job, "default", "importer-vd", &keep),
                     -1);
    ferry_error_reset();
    assert_int_equal(ferry_store_get(fx->c->st, ferry_resource_pvc, "default", "vd", &keep), -1);
    ferry_error_reset();
}

#define TEST_SETUP setup
#define TEST_TEARDOWN test_ctl_teardown

TEST_MAIN(NULL, NULL,
          TEST_FX(test_job_http),
          TEST_FX(test_job_block_blank),
          TEST_FX(test_job_imageio_vddk),
          cmocka_unit_test(test_pvc_storage_overhead),
          cmocka_unit_test(test_long_name),
          TEST_FX(test_dv_flow),
          TEST_FX(test_dv_failed),
          TEST_FX(test_pod_object),
          TEST_FX(test_vmi_flow),
          TEST_FX(test_vmi_scheduled),
          TEST_FX(test_vm_pvc_volume))
