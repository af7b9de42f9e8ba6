/* Admission step 3b (see admission.c): KubeVirt's and CDI's own rules for
 * VirtualMachines, VirtualMachineInstances and DataVolumes, and the API
 * server's for metadata (labels, annotations), each refusal a cause. */

#include "common/admission-internal.h"
#include "common/admission.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/name.h"
#include "common/quantity.h"
#include "common/util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- 3b: KubeVirt's and CDI's rules ----------------------------------- */

static const char *const volume_sources[] = {
    "cloudInitConfigDrive", "cloudInitNoCloud", "configMap", "containerDisk", "dataVolume",
    "downwardAPI", "downwardMetrics", "emptyDisk", "ephemeral", "hostDisk",
    "memoryDump", "persistentVolumeClaim", "secret", "serviceAccount", "sysprep",
};

static const char *const binding_methods[] = { "bridge", "masquerade", "sriov", "slirp",
                                               "macvtap", "passt", "binding" };

/* Names given to items of arr (at path) must be unique. */
static void
check_unique_names(struct causes *c, json_object *arr, const char *path)
{
    for (size_t i = 0; i < alen(arr); i++) {
        const char *n = sget(aget(arr, i), "name");
        for (size_t j = 0; n && j < i; j++)
            if (ferry_str_eq(sget(aget(arr, j), "name"), n)) {
                cause(c, "%s[%zu].name: Duplicate value: \"%s\"", path, i, n);
                break;
            }
    }
}

static bool
name_in(json_object *arr, const char *name)
{
    for (size_t i = 0; i < alen(arr); i++)
        if (ferry_str_eq(sget(aget(arr, i), "name"), name))
            return true;
    return false;
}

/* The quantity's string form for messages (also for a bare number). */
static const char *
qstr(json_object *q)
{
    return json_object_get_string(q);
}

/* KubeVirt's checks of a memory quantity: not negative, and (at_least_1m)
 * at least 1M when given at all ("'1k': must be greater than or equal to 1M."). */
static void
check_memory_quantity(struct causes *c, json_object *q, const char *path, bool at_least_1m)
{
    int64_t v;

    if (!q)
        return;
    v = quantity_value(q);
    if (v < 0)
        cause(c, "%s '%s': must be greater than or equal to 0.", path, qstr(q));
    else if (at_least_1m && v > 0 && v < 1000000)
        cause(c, "%s '%s': must be greater than or equal to 1M.", path, qstr(q));
}

/* cpu.cores/sockets/threads/maxSockets are uint32 in KubeVirt's Go types:
 * what does not fit is refused while the request is decoded. */
static void
check_uint32(struct causes *c, json_object *cpu, const char *field, const char *p)
{
    json_object *v = oget(cpu, field);
    int64_t n;

    if (!v || !json_object_is_type(v, json_type_int))
        return;
    n = json_object_get_int64(v);
    if (n < 0 || n > UINT32_MAX)
        cause(c, "json: cannot unmarshal number %lld into Go struct field CPU.%s.domain.cpu.%s "
                 "of type uint32", (long long)n, p, field);
}

/* KubeVirt's default emulatedMachines for amd64 (globs), also what
 * ferry-launcher runs. */
static const char *const emulated_machines[] = { "q35*", "pc-q35*" };

static bool
machine_supported(const char *type)
{
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(emulated_machines); i++) {
        size_t n = strlen(emulated_machines[i]) - 1; /* the '*' */
        if (strncmp(type, emulated_machines[i], n) == 0)
            return true;
    }
    return false;
}

void
ferry_admission_check_vmi_spec(struct causes *c, json_object *spec, const char *p,
                               bool has_instancetype)
{
    json_object *domain = oget(spec, "domain");
    json_object *devices = oget(domain, "devices");
    json_object *disks = oget(devices, "disks");
    json_object *volumes = oget(spec, "volumes");
    json_object *ifaces = oget(devices, "interfaces");
    json_object *networks = oget(spec, "networks");
    json_object *resources = oget(domain, "resources");
    int64_t boot_orders[256];
    size_t n_boot = 0;

    FERRY_AUTOFREE char *vpath = ferry_printf("%s.volumes", p);
    FERRY_AUTOFREE char *npath = ferry_printf("%s.networks", p);

    /* disks name volumes; a volume is used by one disk */
    check_unique_names(c, volumes, vpath);
    for (size_t i = 0; i < alen(disks); i++) {
        json_object *d = aget(disks, i);
        const char *n = sget(d, "name");
        int targets = has(d, "disk") + has(d, "cdrom") + has(d, "lun");
        json_object *bo = oget(d, "bootOrder");

        if (n && !name_in(volumes, n))
            cause(c, "%s.domain.devices.disks[%zu].name: Not found: \"%s\"", p, i, n);
        for (size_t j = 0; n && j < i; j++)
            if (ferry_str_eq(sget(aget(disks, j), "name"), n)) {
                cause(c, "%s.domain.devices.disks[%zu].name: Duplicate value: \"%s\"", p, i, n);
                break;
            }
        if (targets > 1)
            cause(c, "%s.domain.devices.disks[%zu]: Forbidden: should have only one of disk, "
                     "cdrom, lun", p, i);
        static const char *const tnames[] = { "disk", "cdrom", "lun" };
        for (size_t t = 0; t < 3; t++) {
            const char *bus = sget(oget(d, tnames[t]), "bus");
            if (!bus)
                continue;
            if (strcmp(bus, "virtio") && strcmp(bus, "sata") && strcmp(bus, "scsi") &&
                strcmp(bus, "usb"))
                cause(c, "%s.domain.devices.disks[%zu].%s.bus: Unsupported value: \"%s\": "
                         "supported values: \"virtio\", \"sata\", \"scsi\", \"usb\"",
                      p, i, tnames[t], bus);
            else if (t == 1 && strcmp(bus, "virtio") == 0)
                cause(c, "%s.domain.devices.disks[%zu].cdrom.bus: Invalid value: \"virtio\": "
                         "Bus type virtio is invalid for CD-ROM device", p, i);
        }
        {
            const char *cache = sget(d, "cache"), *io = sget(d, "io");
            const char *ep = sget(d, "errorPolicy");
            if (cache && strcmp(cache, "none") && strcmp(cache, "writethrough") &&
                strcmp(cache, "writeback"))
                cause(c, "%s.domain.devices.disks[%zu].cache: Unsupported value: \"%s\": "
                         "supported values: \"none\", \"writethrough\", \"writeback\"",
                      p, i, cache);
            if (io && strcmp(io, "native") && strcmp(io, "threads") && strcmp(io, "default"))
                cause(c, "%s.domain.devices.disks[%zu].io: Unsupported value: \"%s\": "
                         "supported values: \"native\", \"threads\", \"default\"", p, i, io);
            if (ep && strcmp(ep, "stop") && strcmp(ep, "ignore") && strcmp(ep, "report") &&
                strcmp(ep, "enospace"))
                cause(c, "%s.domain.devices.disks[%zu].errorPolicy: Unsupported value: \"%s\": "
                         "supported values: \"stop\", \"ignore\", \"report\", \"enospace\"",
                      p, i, ep);
        }
        if (bo && json_object_is_type(bo, json_type_int)) {
            int64_t b = json_object_get_int64(bo);
            if (b < 1)
                cause(c, "%s.domain.devices.disks[%zu].bootOrder: Invalid value: %lld: must "
                         "have a boot order > 0, if supplied", p, i, (long long)b);
            else {
                for (size_t k = 0; k < n_boot; k++)
                    if (boot_orders[k] == b) {
                        cause(c, "%s.domain.devices.disks[%zu].bootOrder: Invalid value: %lld: "
                                 "Boot order for %s.domain.devices.disks[%zu].bootOrder already "
                                 "set for a different device.", p, i, (long long)b, p, i);
                        break;
                    }
                if (n_boot < FERRY_ARRAY_SIZE(boot_orders))
                    boot_orders[n_boot++] = b;
            }
        }
    }

    /* each volume: exactly one source */
    for (size_t i = 0; i < alen(volumes); i++) {
        json_object *vol = aget(volumes, i);
        char **set = NULL;
        for (size_t s = 0; s < FERRY_ARRAY_SIZE(volume_sources); s++)
            if (has(vol, volume_sources[s]))
                ferry_strv_push(&set, volume_sources[s]);
        if (ferry_strv_len(set) != 1) {
            FERRY_AUTOFREE char *list = join(set, ", ");
            cause(c, "%s.volumes[%zu]: Invalid value: \"%s\": must have exactly one source type "
                     "set", p, i, list);
        }
        ferry_strv_free(set);
    }

    /* interfaces name networks; one binding each; masquerade on the pod network */
    check_unique_names(c, networks, npath);
    for (size_t i = 0; i < alen(ifaces); i++) {
        json_object *ifc = aget(ifaces, i);
        const char *n = sget(ifc, "name");
        int bindings = 0;

        for (size_t b = 0; b < FERRY_ARRAY_SIZE(binding_methods); b++)
            bindings += has(ifc, binding_methods[b]);
        if (n && !name_in(networks, n))
            cause(c, "%s.domain.devices.interfaces[%zu].name: Not found: \"%s\"", p, i, n);
        for (size_t j = 0; n && j < i; j++)
            if (ferry_str_eq(sget(aget(ifaces, j), "name"), n)) {
                cause(c, "%s.domain.devices.interfaces[%zu].name: Duplicate value: \"%s\"", p, i,
                      n);
                break;
            }
        {
            static const char *const models[] = { "e1000", "e1000e", "igb", "ne2k_pci",
                                                  "pcnet", "rtl8139", "virtio" };
            const char *model = sget(ifc, "model");
            bool ok = !model;
            for (size_t m = 0; model && m < FERRY_ARRAY_SIZE(models); m++)
                ok |= strcmp(model, models[m]) == 0;
            if (!ok)
                cause(c, "%s.domain.devices.interfaces[%zu].model: Unsupported value: \"%s\": "
                         "supported values: \"e1000\", \"e1000e\", \"igb\", \"ne2k_pci\", "
                         "\"pcnet\", \"rtl8139\", \"virtio\"", p, i, model);
        }
        if (bindings > 1)
            cause(c, "%s.domain.devices.interfaces[%zu]: Forbidden: should have only one "
                     "binding method", p, i);
        if (has(ifc, "masquerade") && n) {
            for (size_t j = 0; j < alen(networks); j++)
                if (ferry_str_eq(sget(aget(networks, j), "name"), n) &&
                    !has(aget(networks, j), "pod"))
                    cause(c, "%s.domain.devices.interfaces[%zu].masquerade: Forbidden: "
                             "Masquerade interface only implemented with pod network", p, i);
        }
    }
    for (size_t i = 0; i < alen(networks); i++) {
        const char *n = sget(aget(networks, i), "name");
        if (n && alen(ifaces) > 0 && !name_in(ifaces, n))
            cause(c, "%s.networks[%zu].name: Not found: \"%s\"", p, i, n);
    }

    /* EFI secure boot (on unless turned off) needs SMM */
    {
        json_object *efi = ferry_json_get(domain, "firmware.bootloader.efi");
        json_object *smm = ferry_json_get(domain, "features.smm");
        if (efi && ferry_json_get_bool(efi, "secureBoot", true) &&
            !(smm && ferry_json_get_bool(smm, "enabled", true)))
            cause(c, "%s.domain.firmware.bootloader.efi.secureBoot: Invalid value: true: %s has "
                     "EFI SecureBoot enabled. SecureBoot requires SMM, which is currently "
                     "disabled.", p, p);
    }

    /* machine type: one of the cluster's emulatedMachines */
    {
        const char *type = ferry_json_get_string(domain, "machine.type");
        if (type && *type && !machine_supported(type))
            cause(c, "%s.domain.machine.type is not supported: %s (allowed values: [q35* "
                     "pc-q35*])", p, type);
    }

    /* quantities that cannot be: negative or tiny memory, negative cpu */
    {
        FERRY_AUTOFREE char *mg = ferry_printf("%s.domain.memory.guest", p);
        FERRY_AUTOFREE char *rm = ferry_printf("%s.domain.resources.requests.memory", p);
        FERRY_AUTOFREE char *lm = ferry_printf("%s.domain.resources.limits.memory", p);
        json_object *cpu = oget(domain, "cpu");
        static const char *const lists[] = { "requests", "limits" };

        /* KubeVirt checks requests for both; limits only for a sign; the
         * guest size here as the request (a 1k guest cannot boot either) */
        check_memory_quantity(c, ferry_json_get(domain, "memory.guest"), mg, true);
        check_memory_quantity(c, quantity_at(resources, "requests", "memory"), rm, true);
        check_memory_quantity(c, quantity_at(resources, "limits", "memory"), lm, false);
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(lists); i++) {
            json_object *q = quantity_at(resources, lists[i], "cpu");
            struct ferry_quantity fq;

            if (q && ferry_quantity_parse(qstr(q), &fq) == 0 && fq.milli < 0)
                cause(c, "%s.domain.resources.%s.cpu '%s': must be greater than or equal to 0.",
                      p, lists[i], qstr(q));
            ferry_error_reset();
        }
        check_uint32(c, cpu, "cores", p);
        check_uint32(c, cpu, "sockets", p);
        check_uint32(c, cpu, "threads", p);
        check_uint32(c, cpu, "maxSockets", p);
    }

    /* volumes behind feature gates */
    for (size_t i = 0; i < alen(volumes); i++)
        if (has(aget(volumes, i), "hostDisk") && !ferry_admission_gate_enabled("HostDisk"))
            cause(c, "%s.volumes[%zu]: HostDisk feature gate is not enabled", p, i);

    /* memory: something must say how much, and no more than the limit */
    if (!has_instancetype) {
        json_object *guest = ferry_json_get(domain, "memory.guest");
        json_object *req = quantity_at(resources, "requests", "memory");
        json_object *lim = quantity_at(resources, "limits", "memory");
        json_object *hp = ferry_json_get(domain, "memory.hugepages");

        if (!guest && !req && !lim && !hp)
            cause(c, "%s.domain.resources.requests.memory: Required value: no memory requested, "
                     "at least one of '%s.domain.memory.guest', '%s.domain.memory.hugepages.size' "
                     "or '%s.domain.resources.requests.memory' must be set", p, p, p, p);
        if (req && lim && quantity_value(req) > quantity_value(lim))
            cause(c, "%s.domain.resources.requests.memory: Invalid value: \"%s\": must be less "
                     "than or equal to memory limit %s", p, json_object_get_string(req),
                  json_object_get_string(lim));
        if (guest && lim && quantity_value(guest) > quantity_value(lim))
            cause(c, "%s.domain.memory.guest: Invalid value: \"%s\": must be less than or equal "
                     "to memory limit %s", p, json_object_get_string(guest),
                  json_object_get_string(lim));
    }
    {
        json_object *req = quantity_at(resources, "requests", "cpu");
        json_object *lim = quantity_at(resources, "limits", "cpu");
        struct ferry_quantity qr, ql;
        if (req && lim && json_object_is_type(req, json_type_string) &&
            json_object_is_type(lim, json_type_string) &&
            ferry_quantity_parse(json_object_get_string(req), &qr) == 0 &&
            ferry_quantity_parse(json_object_get_string(lim), &ql) == 0 && qr.milli > ql.milli)
            cause(c, "%s.domain.resources.requests.cpu: Invalid value: \"%s\": must be less than "
                     "or equal to cpu limit %s", p, json_object_get_string(req),
                  json_object_get_string(lim));
        ferry_error_reset();
    }
}

static const char *const dv_sources[] = { "blank", "gcs", "http", "imageio", "pvc", "registry",
                                          "s3", "snapshot", "upload", "vddk" };

/* The URL of each URL source, and the schemes CDI fetches it with. */
static const char *const http_schemes[] = { "http", "https", NULL };
static const char *const gcs_schemes[] = { "gs", "http", "https", NULL };
static const struct {
    const char *source;
    const char *const *schemes;
    bool required;
} url_sources[] = {
    { "http", http_schemes, true },     { "s3", http_schemes, true },
    { "gcs", gcs_schemes, true },       { "imageio", http_schemes, true },
    { "vddk", http_schemes, false },
};

/* The scheme of an absolute URL ("scheme://..."), lower case, as
 * url.ParseRequestURI finds it; NULL when url is not one. */
static char *
url_scheme(const char *url)
{
    const char *colon = strchr(url, ':');
    char *scheme;

    if (!colon || colon == url || strncmp(colon, "://", 3) != 0 || !colon[3])
        return NULL;
    if (!isalpha((unsigned char)url[0]))
        return NULL;
    for (const char *q = url; q < colon; q++)
        if (!isalnum((unsigned char)*q) && *q != '+' && *q != '-' && *q != '.')
            return NULL;
    for (const char *q = url; *q; q++)
        if ((unsigned char)*q < 0x21 || *q == 0x7f)
            return NULL; /* a space or a control character: not a request URI */
    scheme = ferry_strndup(url, (size_t)(colon - url));
    ferry_str_lower(scheme);
    return scheme;
}

static bool
scheme_in(const char *scheme, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(scheme, *list) == 0)
            return true;
    return false;
}

/* http.checksum "algorithm:hex" (CDI's pkg/importer/checksum.go). */
static void
check_checksum(struct causes *c, const char *sum, const char *p)
{
    static const struct { const char *name; size_t hexlen; } algos[] = {
        { "md5", 32 }, { "sha1", 40 }, { "sha256", 64 }, { "sha512", 128 },
    };
    const char *colon = strchr(sum, ':');
    size_t alen_ = colon ? (size_t)(colon - sum) : 0;

    if (!colon) {
        cause(c, "%s.source.http.checksum: Invalid value: \"%s\": invalid checksum format, "
                 "expected algorithm:hash", p, sum);
        return;
    }
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(algos); i++) {
        if (strlen(algos[i].name) != alen_ || strncmp(sum, algos[i].name, alen_) != 0)
            continue;
        if (strlen(colon + 1) != algos[i].hexlen ||
            strspn(colon + 1, "0123456789abcdefABCDEF") != algos[i].hexlen)
            cause(c, "%s.source.http.checksum: Invalid value: \"%s\": invalid %s hash: must be "
                     "%zu hexadecimal characters", p, sum, algos[i].name, algos[i].hexlen);
        return;
    }
    cause(c, "%s.source.http.checksum: Unsupported value: \"%.*s\": supported values: \"md5\", "
             "\"sha1\", \"sha256\", \"sha512\"", p, (int)alen_, sum);
}

void
ferry_admission_check_dv_spec(struct causes *c, json_object *spec, const char *p, bool in_vm)
{
    json_object *source = oget(spec, "source");
    bool external = ferry_json_get(spec, "pvc.dataSource") || ferry_json_get(spec, "pvc.dataSourceRef") ||
                    ferry_json_get(spec, "storage.dataSource") ||
                    ferry_json_get(spec, "storage.dataSourceRef");
    const char *ct = sget(spec, "contentType");
    char **set = NULL;

    /* A clone may leave out the target entirely (CDI's own clone example
     * has "storage:" with nothing under it): the size is the source's. */
    if (!has(spec, "pvc") && !has(spec, "storage") && !has(source, "pvc") &&
        !has(source, "snapshot"))
        cause(c, "%s: Required value: Missing Data volume PVC or Storage", p);
    if (has(spec, "pvc") && has(spec, "storage"))
        cause(c, "%s: Invalid value: \"pvc, storage\": Duplicate storage definition, both target "
                 "storage and target pvc defined", p);
    if (external && (source || has(spec, "sourceRef")))
        cause(c, "%s.source: Invalid value: \"source\": External population is incompatible with "
                 "Source and SourceRef", p);
    else if (!external && !source && !has(spec, "sourceRef"))
        cause(c, "%s.source: Required value: Data volume should have either Source, SourceRef, or "
                 "be externally populated", p);
    else if (source && has(spec, "sourceRef"))
        cause(c, "%s.source: Invalid value: \"source, sourceRef\": Data volume should have either "
                 "Source or SourceRef", p);
    if (source) {
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(dv_sources); i++)
            if (has(source, dv_sources[i]))
                ferry_strv_push(&set, dv_sources[i]);
        if (!set)
            cause(c, "%s.source: Required value: Missing %s source", p,
                  in_vm ? "dataVolume" : "Data volume");
        else if (ferry_strv_len(set) > 1) {
            FERRY_AUTOFREE char *list = join(set, ", ");
            cause(c, "%s.source: Invalid value: \"%s\": Multiple %s sources", p, list,
                  in_vm ? "dataVolume" : "Data volume");
        }
    }
    if (ct && *ct && strcmp(ct, "kubevirt") && strcmp(ct, "archive"))
        cause(c, "%s.contentType: Unsupported value: \"%s\": supported values: \"kubevirt\", "
                 "\"archive\"", p, ct);
    if (ct && strcmp(ct, "archive") == 0 && has(source, "blank"))
        cause(c, "%s.contentType: Invalid value: \"archive\": SourceType cannot be blank and the "
                 "contentType be archive", p);
    if (ct && strcmp(ct, "archive") == 0 && has(source, "registry"))
        cause(c, "%s.contentType: Invalid value: \"archive\": ContentType must be kubevirt when "
                 "Source is Registry", p);
    /* CDI's validateSourceURL: the URL sources are fetched over http(s) and
     * nothing else (a file:// URL would copy a host file into the volume) */
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(url_sources); i++) {
        json_object *src = oget(source, url_sources[i].source);
        const char *url = sget(src, "url");
        FERRY_AUTOFREE char *scheme = NULL;

        if (!src)
            continue;
        if (!url || !*url) {
            if (url_sources[i].required)
                cause(c, "%s.source.%s.url: Required value: source URL is empty", p,
                      url_sources[i].source);
            continue;
        }
        scheme = url_scheme(url);
        if (!scheme)
            cause(c, "%s.source.%s.url: Invalid value: \"%s\": Invalid source URL", p,
                  url_sources[i].source, url);
        else if (!scheme_in(scheme, url_sources[i].schemes))
            cause(c, "%s.source.%s.url: Invalid source URL scheme: %s", p,
                  url_sources[i].source, url); /* CDI names the whole URL */
    }
    /* CDI's validateImageIOSource and validateVDDKSource: the credentials,
     * the CA and the disk are required */
    {
        static const struct {
            const char *source, *field;
            const char *const required[5];
        } needs[] = {
            { "imageio", "Imageio", { "secretRef", "certConfigMap", "diskId", NULL } },
            { "vddk", "VDDK", { "secretRef", "uuid", "backingFile", "thumbprint", NULL } },
        };
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(needs); i++) {
            json_object *src = oget(source, needs[i].source);
            bool ok = true;

            for (size_t k = 0; src && needs[i].required[k]; k++) {
                const char *v = sget(src, needs[i].required[k]);
                if (!v || !*v)
                    ok = false;
            }
            if (src && !ok)
                cause(c, "%s.source.%s source %s is not valid", p, needs[i].field,
                      needs[i].field); /* CDI's words */
        }
    }
    {
        const char *url = sget(oget(source, "registry"), "url");
        if (url && !ferry_str_has_prefix(url, "docker://") &&
            !ferry_str_has_prefix(url, "oci-archive://"))
            cause(c, "%s.source.registry.url: Invalid value: \"%s\": Illegal registry source URL "
                     "scheme", p, url);
    }
    /* CDI's validateStorageSize: a size, when given, is above zero */
    {
        static const char *const targets[][2] = { { "pvc", "PVC" }, { "storage", "Storage" } };
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(targets); i++) {
            json_object *q = ferry_json_get(oget(spec, targets[i][0]), "resources.requests.storage");
            if (q && quantity_value(q) <= 0)
                cause(c, "%s.%s.resources.requests.storage: Invalid value: \"%s\": %s size can't "
                         "be equal or less than zero", p, targets[i][0], qstr(q), targets[i][1]);
        }
    }
    /* an import or a blank volume needs to know how big the volume is */
    if (has(spec, "storage") && !external && !ferry_json_get(spec, "storage.resources.requests.storage") &&
        source && !has(source, "pvc") && !has(source, "snapshot"))
        cause(c, "%s.storage.resources.requests.storage: Required value: Storage size is missing",
              p);
    {
        const char *sum = sget(oget(source, "http"), "checksum");
        if (sum)
            check_checksum(c, sum, p);
    }
    if (has(spec, "pvc") && !has(spec, "storage") && !has(source, "pvc") &&
        !has(source, "snapshot") && !external &&
        !ferry_json_get(spec, "pvc.resources.requests.storage"))
        cause(c, "%s.pvc.resources.requests.storage: Required value: PVC size is missing", p);
    ferry_strv_free(set);
}

void
ferry_admission_check_vm(struct causes *c, json_object *vm)
{
    json_object *spec = oget(vm, "spec");
    json_object *running = oget(spec, "running");
    json_object *tmpl_spec = ferry_json_get(spec, "template.spec");
    json_object *dvts = oget(spec, "dataVolumeTemplates");
    json_object *volumes = oget(tmpl_spec, "volumes");

    if (running && has(spec, "runStrategy"))
        cause(c, "spec.running: Invalid value: %s: Running and RunStrategy are mutually exclusive. "
                 "Note that Running is deprecated, please use RunStrategy instead",
              json_object_to_json_string(running));
    if (!running && !has(spec, "runStrategy"))
        cause(c, "spec.running: Required value: RunStrategy must be specified");
    {
        const char *rs = sget(spec, "runStrategy");
        static const char *const valid[] = { "Always", "RerunOnFailure", "Halted", "Manual",
                                             "Once", "WaitAsReceiver" };
        bool ok = !rs;
        for (size_t i = 0; rs && i < FERRY_ARRAY_SIZE(valid); i++)
            ok |= strcmp(rs, valid[i]) == 0;
        if (!ok)
            cause(c, "spec.runStrategy: Unsupported value: \"%s\": supported values: \"Always\", "
                     "\"RerunOnFailure\", \"Halted\", \"Manual\", \"Once\", \"WaitAsReceiver\"", rs);
    }
    if (tmpl_spec)
        ferry_admission_check_vmi_spec(c, tmpl_spec, "spec.template.spec",
                       has(spec, "instancetype"));
    for (size_t i = 0; i < alen(dvts); i++) {
        json_object *t = aget(dvts, i);
        const char *n = ferry_json_get_string(t, "metadata.name");
        FERRY_AUTOFREE char *p = ferry_printf("spec.dataVolumeTemplates[%zu]", i);
        bool used = false;

        if (!n || !*n) {
            cause(c, "%s.metadata.name: Required value", p);
            continue;
        }
        if (!ferry_name_is_dns1123_subdomain(n))
            cause(c, "%s.metadata.name: Invalid value: \"%s\": a lowercase RFC 1123 subdomain "
                     "must consist of lower case alphanumeric characters, '-' or '.', and must "
                     "start and end with an alphanumeric character (e.g. 'example.com', regex "
                     "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
                     "[a-z0-9])?)*')", p, n);
        for (size_t j = 0; j < alen(volumes); j++) {
            json_object *vol = aget(volumes, j);
            used |= ferry_str_eq(ferry_json_get_string(vol, "dataVolume.name"), n) ||
                    ferry_str_eq(ferry_json_get_string(vol, "persistentVolumeClaim.claimName"), n);
        }
        if (!used)
            cause(c, "%s: Required value: DataVolumeTemplate entry %s must be referenced in the "
                     "VMI template's 'volumes' list", p, p);
        if (oget(t, "spec")) {
            FERRY_AUTOFREE char *sp = ferry_printf("%s.spec", p);
            ferry_admission_check_dv_spec(c, oget(t, "spec"), sp, true);
        }
    }
}

/* metadata.labels as the API server checks them (apimachinery ValidateLabels). */
void
ferry_admission_check_labels(struct causes *c, json_object *labels, const char *path)
{
    if (!labels || !json_object_is_type(labels, json_type_object))
        return;
    json_object_object_foreach(labels, key, val) {
        const char *v = val && json_object_is_type(val, json_type_string)
                            ? json_object_get_string(val)
                            : "";
        char **why = ferry_name_qualified_name_errors(key);

        if (why) {
            FERRY_AUTOFREE char *all = join(why, "; ");
            cause(c, "%s: Invalid value: \"%s\": %s", path, key, all);
            ferry_strv_free(why);
        }
        if (strlen(v) > 63)
            cause(c, "%s: Invalid value: \"%s\": must be no more than 63 characters", path, v);
        else if (!ferry_name_is_label_value(v))
            cause(c, "%s: Invalid value: \"%s\": a valid label must be an empty string or "
                     "consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                     "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                     "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                  path, v);
    }
}

/* metadata.annotations (apimachinery ValidateAnnotations): keys are
 * qualified names (checked lower-cased), keys and values together at most
 * 256 KiB. */
#define ANNOTATIONS_MAX_BYTES (256 * 1024)

static void
check_annotations(struct causes *c, json_object *ann, const char *path)
{
    size_t total = 0;

    if (!ann || !json_object_is_type(ann, json_type_object))
        return;
    json_object_object_foreach(ann, key, val) {
        FERRY_AUTOFREE char *lower = ferry_str_lower(ferry_strdup(key));
        char **why = ferry_name_qualified_name_errors(lower);

        if (why) {
            FERRY_AUTOFREE char *all = join(why, "; ");
            cause(c, "%s: Invalid value: \"%s\": %s", path, key, all);
            ferry_strv_free(why);
        }
        total += strlen(key);
        if (val && json_object_is_type(val, json_type_string))
            total += (size_t)json_object_get_string_len(val);
    }
    if (total > ANNOTATIONS_MAX_BYTES)
        cause(c, "%s: Too long: must have at most %d bytes", path, ANNOTATIONS_MAX_BYTES);
}

/* What the API server checks in every object's metadata, whatever its kind. */
void
ferry_admission_check_metadata(struct causes *c, json_object *obj)
{
    ferry_admission_check_labels(c, ferry_json_get(obj, "metadata.labels"), "metadata.labels");
    check_annotations(c, ferry_json_get(obj, "metadata.annotations"), "metadata.annotations");
}

/* Kinds without their own rules (Namespace, Node, Event): metadata only. */
int
ferry_admission_admit_other(json_object *obj)
{
    struct causes c = { 0 };
    const char *kind = sget(obj, "kind"), *name = ferry_json_get_string(obj, "metadata.name");
    int r = 0;

    if (!json_object_is_type(obj, json_type_object))
        return 0;
    ferry_admission_check_metadata(&c, obj);
    if (c.v)
        r = report_invalid(kind ? kind : "object", name ? name : "", &c);
    ferry_strv_free(c.v);
    return r;
}
