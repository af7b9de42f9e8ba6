/* The resource table: the kinds the store and the CLI know, and lookup by the
 * names kubectl accepts (short name, plural, singular, kind, and those with
 * ".group" or ".version.group" appended), as kubectl's RESTMapper does. */
#include "common/store/driver.h"
#include "common/error.h"
#include "common/json.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const vm_short[] = { "vm", "vms", NULL };
static const char *const vmi_short[] = { "vmi", "vmis", NULL };
static const char *const dv_short[] = { "dv", "dvs", NULL };
static const char *const node_short[] = { "no", NULL };
static const char *const event_short[] = { "ev", NULL };
static const char *const ns_short[] = { "ns", NULL };
static const char *const kv_short[] = { "kv", "kvs", NULL };

static const struct ferry_resource res_vm = {
    .group = "kubevirt.io", .version = "v1", .kind = "VirtualMachine",
    .plural = "virtualmachines", .singular = "virtualmachine", .short_names = vm_short,
    .namespaced = true, .status_subresource = true,
};
/* KubeVirt's VMI CRD has no status subresource (virt-handler writes the
 * whole object).  Ferry's store keeps status apart for VMIs too, so that a
 * controller's update can never undo what the handler reported; the kube
 * driver will have to do update_status of a VMI as get + PUT of the object. */
static const struct ferry_resource res_vmi = {
    .group = "kubevirt.io", .version = "v1", .kind = "VirtualMachineInstance",
    .plural = "virtualmachineinstances", .singular = "virtualmachineinstance",
    .short_names = vmi_short, .namespaced = true, .status_subresource = true,
};
static const struct ferry_resource res_dv = {
    .group = "cdi.kubevirt.io", .version = "v1beta1", .kind = "DataVolume",
    .plural = "datavolumes", .singular = "datavolume", .short_names = dv_short,
    .namespaced = true, .status_subresource = true,
};
static const struct ferry_resource res_node = {
    .group = "", .version = "v1", .kind = "Node", .plural = "nodes", .singular = "node",
    .short_names = node_short, .namespaced = false, .status_subresource = true,
};
static const struct ferry_resource res_event = {
    .group = "", .version = "v1", .kind = "Event", .plural = "events", .singular = "event",
    .short_names = event_short, .namespaced = true, .status_subresource = false,
};

/* Namespaces: "default", "kube-system" and "kube-public" are there from the
 * start; objects may be created only in a namespace that exists (the API
 * server's NamespaceLifecycle admission).  status.phase is "Active". */
static const struct ferry_resource res_namespace = {
    .group = "", .version = "v1", .kind = "Namespace", .plural = "namespaces",
    .singular = "namespace", .short_names = ns_short, .namespaced = false,
    .status_subresource = false,
};

/* KubeVirt's own CR: Ferry reads its feature gates
 * (spec.configuration.developerConfiguration.featureGates) at admission;
 * `ferry up --feature-gates` writes kubevirt/kubevirt. */
static const struct ferry_resource res_kubevirt = {
    .group = "kubevirt.io", .version = "v1", .kind = "KubeVirt", .plural = "kubevirts",
    .singular = "kubevirt", .short_names = kv_short, .namespaced = true,
    .status_subresource = true,
};

/* The kinds Kubernetes mode works through (issue 16): a DataVolume's
 * PersistentVolumeClaim and importer Job, a VMI's launcher Pod, and the
 * controllers' leader-election Lease.  The embedded store keeps them as it
 * keeps any object (no admission schema of Ferry's own); on a cluster they
 * are the API server's. */
static const char *const pod_short[] = { "po", NULL };
static const char *const pvc_short[] = { "pvc", NULL };
static const struct ferry_resource res_pod = {
    .group = "", .version = "v1", .kind = "Pod", .plural = "pods", .singular = "pod",
    .short_names = pod_short, .namespaced = true, .status_subresource = true,
};
static const struct ferry_resource res_pvc = {
    .group = "", .version = "v1", .kind = "PersistentVolumeClaim",
    .plural = "persistentvolumeclaims", .singular = "persistentvolumeclaim",
    .short_names = pvc_short, .namespaced = true, .status_subresource = true,
};
static const struct ferry_resource res_job = {
    .group = "batch", .version = "v1", .kind = "Job", .plural = "jobs", .singular = "job",
    .short_names = NULL, .namespaced = true, .status_subresource = true,
};
static const struct ferry_resource res_lease = {
    .group = "coordination.k8s.io", .version = "v1", .kind = "Lease", .plural = "leases",
    .singular = "lease", .short_names = NULL, .namespaced = true,
    .status_subresource = false,
};

/* A DataVolume's secretRef and certConfigMap (CDI's credentials and CA
 * bundle).  Stored as any object; the API server's write rules for them are
 * in apiserver.c (ferry_apiserver_prepare_create: stringData merged into
 * data, values checked).  No status. */
static const char *const cm_short[] = { "cm", NULL };
static const struct ferry_resource res_secret = {
    .group = "", .version = "v1", .kind = "Secret", .plural = "secrets", .singular = "secret",
    .short_names = NULL, .namespaced = true, .status_subresource = false, .not_in_all = true,
};
static const struct ferry_resource res_configmap = {
    .group = "", .version = "v1", .kind = "ConfigMap", .plural = "configmaps",
    .singular = "configmap", .short_names = cm_short, .namespaced = true,
    .status_subresource = false, .not_in_all = true,
};

#define RESOURCE_ENTRY(name) &res_##name,
const struct ferry_resource *const ferry_resources[] = {
    FERRY_RESOURCE_NAMES(RESOURCE_ENTRY) NULL,
};

#define RESOURCE_BY_NAME(name)                                                                     \
    const struct ferry_resource *const ferry_resource_##name = &res_##name;
FERRY_RESOURCE_NAMES(RESOURCE_BY_NAME)

const char *
ferry_resource_key(const struct ferry_resource *res, char *buf, size_t size)
{
    if (res->group[0])
        snprintf(buf, size, "%s.%s", res->plural, res->group);
    else
        snprintf(buf, size, "%s", res->plural);
    return buf;
}

bool
ferry_resource_key_not_in_all(const char *key)
{
    char buf[128];

    for (size_t i = 0; key && ferry_resources[i]; i++)
        if (ferry_resources[i]->not_in_all &&
            strcmp(ferry_resource_key(ferry_resources[i], buf, sizeof buf), key) == 0)
            return true;
    return false;
}

/* Does NAME (case-insensitive) name RES, bare? */
static bool
matches_bare(const struct ferry_resource *res, const char *name, size_t len)
{
    const char *cands[3] = { res->plural, res->singular, res->kind };

    for (size_t i = 0; i < 3; i++)
        if (strlen(cands[i]) == len && strncasecmp(cands[i], name, len) == 0)
            return true;
    return false;
}

const struct ferry_resource *
ferry_resource_lookup(const char *name)
{
    if (!name || !*name) {
        ferry_error(FERRY_ERR_INVALID, "resource type is empty");
        return NULL;
    }
    for (size_t i = 0; ferry_resources[i]; i++) {
        const struct ferry_resource *res = ferry_resources[i];
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);

        if (!dot) {
            for (const char *const *s = res->short_names; s && *s; s++)
                if (strcmp(*s, name) == 0)
                    return res;
            if (matches_bare(res, name, len))
                return res;
            continue;
        }
        if (!res->group[0] || !matches_bare(res, name, len))
            continue;
        /* "plural.group" or "plural.version.group" */
        const char *rest = dot + 1;
        if (strcasecmp(rest, res->group) == 0)
            return res;
        size_t vlen = strlen(res->version);
        if (strncasecmp(rest, res->version, vlen) == 0 && rest[vlen] == '.' &&
            strcasecmp(rest + vlen + 1, res->group) == 0)
            return res;
    }
    ferry_error(FERRY_ERR_NOTFOUND, "the server doesn't have a resource type \"%s\"", name);
    return NULL;
}

const struct ferry_resource *
ferry_resource_for_object(json_object *obj)
{
    const char *apiversion = ferry_json_get_string(obj, "apiVersion");
    const char *kind = ferry_json_get_string(obj, "kind");

    if (!apiversion || !*apiversion) {
        ferry_error(FERRY_ERR_INVALID, "Object 'apiVersion' is missing in '%s'",
                    obj ? json_object_to_json_string(obj) : "null");
        return NULL;
    }
    if (!kind || !*kind) {
        ferry_error(FERRY_ERR_INVALID, "Object 'Kind' is missing in '%s'",
                    json_object_to_json_string(obj));
        return NULL;
    }
    for (size_t i = 0; ferry_resources[i]; i++) {
        const struct ferry_resource *res = ferry_resources[i];
        char want[128];

        if (strcmp(res->kind, kind) != 0)
            continue;
        if (res->group[0])
            snprintf(want, sizeof want, "%s/%s", res->group, res->version);
        else
            snprintf(want, sizeof want, "%s", res->version);
        if (strcmp(want, apiversion) == 0)
            return res;
    }
    /* kubectl's wording for a kind or version the server does not serve. */
    ferry_error(FERRY_ERR_UNSUPPORTED, "no matches for kind \"%s\" in version \"%s\"", kind,
                apiversion);
    return NULL;
}
