/* VMI -> libvirt domain XML (see domain.h).  One function per part of the
 * domain, in the order of KubeVirt's converter: identity and metadata,
 * memory and CPU, firmware (BIOS, EFI with secure boot, kernel boot),
 * features, disks and their controllers, interfaces, consoles, graphics and
 * the small devices.  Facts carried over from KubeVirt (code does not):
 * the domain is named <namespace>_<name>; the serial console and VNC sit on
 * unix sockets in the VMI's private directory; cache is none when O_DIRECT
 * works on the file and writethrough otherwise (a user asking for none on a
 * file without O_DIRECT is an error); io native only with cache none on
 * preallocated or block storage, else threads; discard unmap; USB controller
 * only when a disk needs it; memballoon unless autoattachMemBalloon is false.
 * Ferry choices: a disk without a bus is virtio (ARCHITECTURE.md), a cdrom
 * sata, under emulation the CPU model defaults to qemu64 (host-model needs
 * KVM), an interface without networks is the pod network with masquerade
 * (user-mode networking); masquerade ports are forwarded from 127.0.0.1:PORT
 * with qemu's hostfwd, because libvirt 9.0 forwards ports only with passt. */
#include "launcher/domain.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/quantity.h"
#include "common/util.h"
#include "common/volume.h"

#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

FERRY_DEFINE_AUTOPTR(xmlDoc, xmlFreeDoc)

struct conv {
    json_object *vmi;
    const struct ferry_domain_opts *opts;
    const char *ns;
    const char *name;
    char *vmi_dir;
    xmlDocPtr doc;
    xmlNodePtr root;
    xmlNodePtr devices;
    xmlNodePtr qemu_cmdline;
    xmlNsPtr qemu_ns;
    int next_vd, next_sd;
    bool need_scsi, need_sata, need_usb;
    int hostnet;
};

static const char *
ns_of(json_object *vmi)
{
    const char *ns = ferry_obj_namespace(vmi);
    return ns && *ns ? ns : "default";
}

char *
ferry_domain_name(json_object *vmi)
{
    return ferry_printf("%s_%s", ns_of(vmi), ferry_obj_name(vmi));
}

char *
ferry_domain_vmi_dir(const char *state_dir, json_object *vmi)
{
    return ferry_vmi_dir(state_dir, ns_of(vmi), ferry_obj_name(vmi));
}

/* An array field; NULL when absent (check_lists() refused other types). */
static json_object *
list_at(json_object *o, const char *path)
{
    json_object *a = ferry_json_get(o, path);
    return json_object_is_type(a, json_type_array) ? a : NULL;
}

static int
check_list(json_object *o, const char *path, const char *what)
{
    json_object *a = ferry_json_get(o, path);
    if (a && !json_object_is_type(a, json_type_array))
        return ferry_error(FERRY_ERR_INVALID, "%s: must be a list", what);
    for (size_t i = 0; a && i < json_object_array_length(a); i++)
        if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_object))
            return ferry_error(FERRY_ERR_INVALID, "%s[%zu]: must be an object", what, i);
    return 0;
}

/* Lists the converter walks must be lists of objects. */
static int
check_lists(json_object *vmi)
{
    static const char *const paths[] = { "spec.volumes", "spec.networks",
                                         "spec.domain.devices.disks",
                                         "spec.domain.devices.interfaces",
                                         "spec.domain.cpu.features",
                                         "spec.domain.devices.panicDevices" };
    json_object *ifaces;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(paths); i++)
        if (check_list(vmi, paths[i], paths[i]) < 0)
            return -1;
    ifaces = list_at(vmi, "spec.domain.devices.interfaces");
    for (size_t i = 0; ifaces && i < json_object_array_length(ifaces); i++)
        if (check_list(json_object_array_get_idx(ifaces, i), "ports",
                       "spec.domain.devices.interfaces[].ports") < 0)
            return -1;
    return 0;
}

static xmlNodePtr
child(xmlNodePtr parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, BAD_CAST name, text ? BAD_CAST text : NULL);
}

static void
attr(xmlNodePtr n, const char *name, const char *value)
{
    if (value)
        xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

/* A child element NAME of PARENT with the attributes that follow as name,
 * value pairs up to a NULL name; a NULL value leaves its attribute out, as
 * attr() does. */
static xmlNodePtr child_attrs(xmlNodePtr parent, const char *name, ...) __attribute__((sentinel));

static xmlNodePtr
child_attrs(xmlNodePtr parent, const char *name, ...)
{
    xmlNodePtr n = child(parent, name, NULL);
    const char *k;
    va_list ap;

    va_start(ap, name);
    while ((k = va_arg(ap, const char *)))
        attr(n, k, va_arg(ap, const char *));
    va_end(ap);
    return n;
}

static void
attr_int(xmlNodePtr n, const char *name, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    attr(n, name, buf);
}

static const char *
ovmf(const struct conv *c)
{
    return c->opts->ovmf_dir ? c->opts->ovmf_dir : "/usr/share/OVMF";
}

/* A quantity field (memory, capacity) in bytes; -1 with the field named. */
static int
quantity_bytes(json_object *o, const char *what, uint64_t *ret)
{
    const char *s = json_object_get_string(o);
    if (json_object_is_type(o, json_type_int)) {
        *ret = (uint64_t)json_object_get_int64(o);
        return 0;
    }
    if (!s || ferry_quantity_parse_bytes(s, ret) < 0)
        return ferry_error(FERRY_ERR_INVALID, "%s: '%s' is not a quantity", what, s ? s : "");
    return 0;
}

/* ---- volumes --------------------------------------------------------- */

void
ferry_volume_release(struct ferry_volume *v)
{
    free(v->path);
    v->path = NULL;
    free(v->cache);
    v->cache = NULL;
    free(v->fdgroup);
    v->fdgroup = NULL;
}

/* <state-dir>/containerdisks/<sha256 of the image reference>.img */
static char *
containerdisk_cache(const char *state_dir, const char *image)
{
    unsigned char md[32];
    char hex[65];

    SHA256((const unsigned char *)image, strlen(image), md);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    return ferry_printf("%s/containerdisks/%s.img", state_dir, hex);
}

static const char *const refused_volumes[][2] = {
    { "hostDisk", "hostDisk is not supported: Ferry runs disks from its volumes only" },
    { "ephemeral", "ephemeral volumes are not supported yet" },
    { "configMap", "configMap volumes are not supported yet" },
    { "secret", "secret volumes are not supported yet" },
    { "serviceAccount", "serviceAccount volumes are not supported" },
    { "downwardAPI", "downwardAPI volumes are not supported" },
    { "downwardMetrics", "downwardMetrics volumes are not supported" },
    { "sysprep", "sysprep volumes are not supported yet" },
    { "memoryDump", "memoryDump volumes are not supported" },
};

int
ferry_domain_volume(const struct ferry_domain_opts *opts, json_object *vmi, json_object *volume,
                    struct ferry_volume *ret)
{
    const char *vname = ferry_json_get_string(volume, "name");
    const char *ns = ns_of(vmi);
    json_object *src;
    FERRY_AUTOFREE char *dir = ferry_domain_vmi_dir(opts->state_dir, vmi);
    struct ferry_volume v = { 0 };

    if (!vname)
        return ferry_error(FERRY_ERR_INVALID, "spec.volumes: an entry has no name");
    if (!dir)
        return -1;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(refused_volumes); i++)
        if (json_object_object_get_ex(volume, refused_volumes[i][0], NULL))
            return ferry_error(FERRY_ERR_UNSUPPORTED, "volume '%s': %s", vname,
                               refused_volumes[i][1]);

    if ((src = ferry_json_get(volume, "dataVolume")) ||
        (src = ferry_json_get(volume, "persistentVolumeClaim"))) {
        const char *claim = ferry_json_get_string(src, "name");
        if (!claim)
            claim = ferry_json_get_string(src, "claimName");
        if (!claim || !*claim || strchr(claim, '/') || strcmp(claim, "..") == 0)
            return ferry_error(FERRY_ERR_INVALID, "volume '%s': missing or invalid %s", vname,
                               ferry_json_get(volume, "dataVolume") ? "dataVolume.name"
                                                                    : "persistentVolumeClaim.claimName");
        v.kind = FERRY_VOLUME_FILE;
        if (opts->pvc_root) {
            /* the launcher Pod's mount, by volume name (as KubeVirt's) */
            if (strchr(vname, '/') || strcmp(vname, "..") == 0 || strcmp(vname, ".") == 0)
                return ferry_error(FERRY_ERR_INVALID, "volume '%s': not a valid name", vname);
            v.path = ferry_printf("%s/%s/%s", opts->pvc_root, vname, FERRY_VOLUME_DISK);
            v.fdgroup = ferry_printf("ferry-%s", vname);
        } else {
            v.path = ferry_volume_file(opts->state_dir, ns, claim, FERRY_VOLUME_DISK);
        }
        if (!v.path)
            return ferry_error_prefix("volume '%s'", vname);
    } else if ((src = ferry_json_get(volume, "containerDisk"))) {
        /* KubeVirt's containerDisk: the image is imported once per node
         * (ferry-importer's registry source) and each VMI runs on its own
         * qcow2 overlay, discarded with the VMI, as KubeVirt's are. */
        const char *image = ferry_json_get_string(src, "image");
        if (!image || !*image || strchr(image, ' ') || ferry_str_has_prefix(image, "-"))
            return ferry_error(FERRY_ERR_INVALID, "volume '%s': containerDisk.image is required",
                               vname);
        if (ferry_json_get(src, "path"))
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "volume '%s': containerDisk.path is not supported: the disk is "
                               "the one file in the image's /disk", vname);
        v.kind = FERRY_VOLUME_CONTAINER_DISK;
        v.path = ferry_printf("%s/containerdisk-%s.qcow2", dir, vname);
        v.cache = containerdisk_cache(opts->state_dir, image);
    } else if ((src = ferry_json_get(volume, "emptyDisk"))) {
        json_object *cap = ferry_json_get(src, "capacity");
        if (!cap)
            return ferry_error(FERRY_ERR_INVALID, "volume '%s': emptyDisk.capacity is required",
                               vname);
        v.kind = FERRY_VOLUME_EMPTY_DISK;
        if (quantity_bytes(cap, "emptyDisk.capacity", &v.size) < 0)
            return ferry_error_prefix("volume '%s'", vname);
        v.path = ferry_printf("%s/emptydisk-%s.img", dir, vname);
    } else if ((src = ferry_json_get(volume, "cloudInitNoCloud")) ||
               (src = ferry_json_get(volume, "cloudInitConfigDrive"))) {
        static const char *const secret_keys[] = { "secretRef", "userDataSecretRef",
                                                   "networkDataSecretRef" };
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(secret_keys); i++)
            if (ferry_json_get(src, secret_keys[i]))
                return ferry_error(FERRY_ERR_UNSUPPORTED,
                                   "volume '%s': cloud-init %s is not supported (Ferry has no "
                                   "Secrets yet); put the data in userData or userDataBase64",
                                   vname, secret_keys[i]);
        v.kind = ferry_json_get(volume, "cloudInitNoCloud") ? FERRY_VOLUME_NOCLOUD
                                                            : FERRY_VOLUME_CONFIGDRIVE;
        v.path = ferry_printf("%s/cloudinit-%s.iso", dir, vname);
    } else {
        return ferry_error(FERRY_ERR_UNSUPPORTED, "volume '%s': no volume source Ferry knows",
                           vname);
    }
    v.source = src;
    *ret = v;
    return 0;
}

/* ---- identity, memory, cpu ------------------------------------------- */

static bool
is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!strchr("0123456789abcdefABCDEF", s[i])) {
            return false;
        }
    }
    return true;
}

static int
conv_identity(struct conv *c)
{
    FERRY_AUTOFREE char *dname = ferry_domain_name(c->vmi);
    const char *uuid = ferry_json_get_string(c->vmi, "spec.domain.firmware.uuid");
    xmlNodePtr md, fv;
    xmlNsPtr fns;

    child(c->root, "name", dname);
    if (!uuid && is_uuid(ferry_obj_uid(c->vmi)))
        uuid = ferry_obj_uid(c->vmi);
    if (uuid) {
        if (!is_uuid(uuid))
            return ferry_error(FERRY_ERR_INVALID, "spec.domain.firmware.uuid: '%s' is not a UUID",
                               uuid);
        child(c->root, "uuid", uuid);
    }
    md = child(c->root, "metadata", NULL);
    fv = xmlNewChild(md, NULL, BAD_CAST "vmi", NULL);
    fns = xmlNewNs(fv, BAD_CAST FERRY_DOMAIN_XMLNS, BAD_CAST "ferry");
    xmlSetNs(fv, fns);
    xmlNewChild(fv, fns, BAD_CAST "namespace", BAD_CAST c->ns);
    xmlNewChild(fv, fns, BAD_CAST "name", BAD_CAST c->name);
    if (ferry_obj_uid(c->vmi))
        xmlNewChild(fv, fns, BAD_CAST "uid", BAD_CAST ferry_obj_uid(c->vmi));
    {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld",
                 (long long)ferry_json_get_int(c->vmi, "spec.terminationGracePeriodSeconds", 30));
        xmlNewChild(fv, fns, BAD_CAST "gracePeriodSeconds", BAD_CAST buf);
    }
    return 0;
}

static int
conv_memory(struct conv *c)
{
    static const char *const paths[] = { "spec.domain.memory.guest",
                                         "spec.domain.resources.requests.memory",
                                         "spec.domain.resources.limits.memory" };
    uint64_t bytes = 0;
    json_object *q = NULL;
    size_t i;
    xmlNodePtr n;

    for (i = 0; i < FERRY_ARRAY_SIZE(paths) && !q; i++)
        q = ferry_json_get(c->vmi, paths[i]);
    if (!q)
        return ferry_error(FERRY_ERR_INVALID,
                           "VMI '%s/%s': no memory: set spec.domain.memory.guest or "
                           "spec.domain.resources.requests.memory", c->ns, c->name);
    if (quantity_bytes(q, paths[i - 1], &bytes) < 0)
        return -1;
    if (bytes < 1024 * 1024)
        return ferry_error(FERRY_ERR_INVALID, "%s: %llu bytes is less than 1Mi", paths[i - 1],
                           (unsigned long long)bytes);
    n = child(c->root, "memory", NULL);
    {
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)bytes);
        xmlNodeSetContent(n, BAD_CAST buf);
    }
    attr(n, "unit", "b");
    return 0;
}

/* Topology: spec.domain.cpu; when unset, sockets = the CPU request or limit
 * rounded up (KubeVirt's defaulting), cores = threads = 1. */
static int
cpu_topology(struct conv *c, int64_t *s, int64_t *co, int64_t *t)
{
    json_object *cpu = ferry_json_get(c->vmi, "spec.domain.cpu");
    *s = ferry_json_get_int(cpu, "sockets", 0);
    *co = ferry_json_get_int(cpu, "cores", 0);
    *t = ferry_json_get_int(cpu, "threads", 0);
    if (*s == 0 && *co == 0 && *t == 0) {
        json_object *q = ferry_json_get(c->vmi, "spec.domain.resources.limits.cpu");
        if (!q)
            q = ferry_json_get(c->vmi, "spec.domain.resources.requests.cpu");
        if (q) {
            struct ferry_quantity qq;
            if (json_object_is_type(q, json_type_int))
                *s = json_object_get_int64(q);
            else if (ferry_quantity_parse(json_object_get_string(q), &qq) < 0)
                return ferry_error_prefix("spec.domain.resources cpu");
            else
                *s = qq.value;
        }
    }
    if (*s <= 0)
        *s = 1;
    if (*co <= 0)
        *co = 1;
    if (*t <= 0)
        *t = 1;
    if (*s * *co * *t > 512)
        return ferry_error(FERRY_ERR_INVALID, "spec.domain.cpu: %lld vCPUs is more than 512",
                           (long long)(*s * *co * *t));
    return 0;
}

static int
conv_cpu(struct conv *c)
{
    int64_t s, co, t;
    const char *model = ferry_json_get_string(c->vmi, "spec.domain.cpu.model");
    xmlNodePtr vcpu, cpu, topo;

    if (cpu_topology(c, &s, &co, &t) < 0)
        return -1;
    vcpu = child(c->root, "vcpu", NULL);
    {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)(s * co * t));
        xmlNodeSetContent(vcpu, BAD_CAST buf);
    }
    attr(vcpu, "placement", "static");

    cpu = xmlNewNode(NULL, BAD_CAST "cpu");
    xmlAddChild(c->root, cpu); /* owned by the document from here, even on errors */
    if (!model || !*model)
        model = c->opts->kvm ? "host-model" : NULL;
    if (model && (strcmp(model, "host-model") == 0 || strcmp(model, "host-passthrough") == 0)) {
        if (!c->opts->kvm)
            model = NULL; /* needs KVM: fall back to the emulated default below */
        else
            attr(cpu, "mode", model);
    }
    if (!model || (strcmp(model, "host-model") && strcmp(model, "host-passthrough"))) {
        xmlNodePtr m;
        attr(cpu, "mode", "custom");
        attr(cpu, "match", "exact");
        m = child(cpu, "model", model ? model : "qemu64");
        attr(m, "fallback", "allow");
    }
    topo = child(cpu, "topology", NULL);
    attr_int(topo, "sockets", s);
    attr_int(topo, "dies", 1);
    attr_int(topo, "cores", co);
    attr_int(topo, "threads", t);
    {
        json_object *feats = list_at(c->vmi, "spec.domain.cpu.features");
        size_t n = feats ? json_object_array_length(feats) : 0;
        for (size_t i = 0; i < n; i++) {
            json_object *f = json_object_array_get_idx(feats, i);
            const char *fname = ferry_json_get_string(f, "name");
            const char *pol = ferry_json_get_string(f, "policy");
            xmlNodePtr fn;
            if (!fname)
                return ferry_error(FERRY_ERR_INVALID, "spec.domain.cpu.features[%zu]: no name", i);
            fn = child(cpu, "feature", NULL);
            attr(fn, "policy", pol ? pol : "require");
            attr(fn, "name", fname);
        }
    }
    return 0;
}

/* ---- firmware and features ------------------------------------------- */

static int
conv_os(struct conv *c, bool *ret_smm)
{
    json_object *fw = ferry_json_get(c->vmi, "spec.domain.firmware");
    json_object *efi = ferry_json_get(fw, "bootloader.efi");
    json_object *kb = ferry_json_get(fw, "kernelBoot");
    const char *machine = ferry_json_get_string(c->vmi, "spec.domain.machine.type");
    xmlNodePtr os, type, sysinfo, sys, e;
    const char *serial = ferry_json_get_string(fw, "serial");

    *ret_smm = false;
    if (machine && !ferry_str_has_prefix(machine, "q35") && !ferry_str_has_prefix(machine, "pc-q35"))
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "spec.domain.machine.type: '%s' is not supported; Ferry runs q35 machines",
                           machine);
    sysinfo = xmlNewNode(NULL, BAD_CAST "sysinfo");
    attr(sysinfo, "type", "smbios");
    sys = child(sysinfo, "system", NULL);
    e = child(sys, "entry", "Ferry");
    attr(e, "name", "manufacturer");
    e = child(sys, "entry", "None");
    attr(e, "name", "product");
    e = child(sys, "entry", "Ferry");
    attr(e, "name", "family");
    if (serial) {
        e = child(sys, "entry", serial);
        attr(e, "name", "serial");
    }
    xmlAddChild(c->root, sysinfo);

    os = child(c->root, "os", NULL);
    type = child(os, "type", "hvm");
    attr(type, "arch", "x86_64");
    attr(type, "machine", machine ? machine : "q35");
    if (efi) {
        bool secure = ferry_json_get_bool(efi, "secureBoot", true);
        FERRY_AUTOFREE char *code = ferry_printf("%s/%s", ovmf(c),
                                                 secure ? "OVMF_CODE_4M.secboot.fd" : "OVMF_CODE_4M.fd");
        FERRY_AUTOFREE char *vars = ferry_printf("%s/%s", ovmf(c),
                                                 secure ? "OVMF_VARS_4M.ms.fd" : "OVMF_VARS_4M.fd");
        FERRY_AUTOFREE char *nvram = ferry_printf("%s/nvram_VARS.fd", c->vmi_dir);
        xmlNodePtr l = child(os, "loader", code), nv;
        attr(l, "readonly", "yes");
        attr(l, "secure", secure ? "yes" : "no");
        attr(l, "type", "pflash");
        nv = child(os, "nvram", nvram);
        attr(nv, "template", vars);
        *ret_smm = secure;
    }
    if (kb) {
        const char *args = ferry_json_get_string(kb, "kernelArgs");
        const char *kernel = ferry_obj_annotation(c->vmi, "kernel.ferry.io/path");
        const char *initrd = ferry_obj_annotation(c->vmi, "kernel.ferry.io/initrd");
        if (!kernel)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "spec.domain.firmware.kernelBoot: kernels from a container image "
                               "need a registry source, which Ferry does not have yet; annotate "
                               "the VMI with kernel.ferry.io/path (and kernel.ferry.io/initrd) "
                               "to boot files of this node");
        if (kernel[0] != '/' || (initrd && initrd[0] != '/'))
            return ferry_error(FERRY_ERR_INVALID,
                               "kernel.ferry.io/path and kernel.ferry.io/initrd must be absolute paths");
        child(os, "kernel", kernel);
        if (initrd)
            child(os, "initrd", initrd);
        if (args)
            child(os, "cmdline", args);
    }
    if (!efi && ferry_json_get_bool(fw, "bootloader.bios.useSerial", false)) {
        xmlNodePtr b = child(os, "bios", NULL);
        attr(b, "useserial", "yes");
    }
    {
        xmlNodePtr sm = child(os, "smbios", NULL);
        attr(sm, "mode", "sysinfo");
    }
    return 0;
}

static bool
feature_enabled(json_object *features, const char *name, bool dflt)
{
    json_object *f = ferry_json_get(features, name);
    if (!f)
        return dflt;
    return ferry_json_get_bool(f, "enabled", true);
}

static void
conv_features(struct conv *c, bool smm)
{
    json_object *f = ferry_json_get(c->vmi, "spec.domain.features");
    xmlNodePtr feats = child(c->root, "features", NULL);
    if (feature_enabled(f, "acpi", true))
        child(feats, "acpi", NULL);
    if (feature_enabled(f, "apic", false))
        child(feats, "apic", NULL);
    if (smm || feature_enabled(f, "smm", false)) {
        xmlNodePtr s = child(feats, "smm", NULL);
        attr(s, "state", "on");
    }
    {
        const char *tz = ferry_json_get_string(c->vmi, "spec.domain.clock.timezone");
        xmlNodePtr clk = child(c->root, "clock", NULL);
        if (tz) {
            attr(clk, "offset", "timezone");
            attr(clk, "timezone", tz);
        } else {
            attr(clk, "offset", "utc");
        }
    }
    child(c->root, "on_poweroff", "destroy");
    child(c->root, "on_reboot", "restart");
    child(c->root, "on_crash", "destroy");
}

/* ---- disks ----------------------------------------------------------- */

static json_object *
find_by_name(json_object *arr, const char *name)
{
    size_t n = arr ? json_object_array_length(arr) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        if (ferry_str_eq(ferry_json_get_string(e, "name"), name))
            return e;
    }
    return NULL;
}

static char *
target_dev(struct conv *c, const char *bus)
{
    int *ctr = strcmp(bus, "virtio") == 0 ? &c->next_vd : &c->next_sd;
    const char *prefix = strcmp(bus, "virtio") == 0 ? "vd" : "sd";
    int n = (*ctr)++;
    if (n < 26)
        return ferry_printf("%s%c", prefix, 'a' + n);
    return ferry_printf("%s%c%c", prefix, 'a' + n / 26 - 1, 'a' + n % 26);
}

static int
conv_disk(struct conv *c, json_object *disk)
{
    const char *dname = ferry_json_get_string(disk, "name");
    json_object *volume = find_by_name(list_at(c->vmi, "spec.volumes"), dname);
    const char *device = "disk";
    json_object *target = ferry_json_get(disk, "disk");
    const char *bus, *cache, *io, *errpol;
    bool readonly;
    struct ferry_volume vol = { 0 };
    FERRY_AUTOFREE char *dev = NULL;
    xmlNodePtr d, n;
    int ret = -1;

    if (!dname)
        return ferry_error(FERRY_ERR_INVALID, "spec.domain.devices.disks: an entry has no name");
    if (!volume)
        return ferry_error(FERRY_ERR_INVALID, "disk '%s': no volume of that name in spec.volumes",
                           dname);
    if (ferry_json_get(disk, "cdrom")) {
        device = "cdrom";
        target = ferry_json_get(disk, "cdrom");
    } else if (ferry_json_get(disk, "lun")) {
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "disk '%s': lun needs a block volume (SCSI passthrough); Ferry's "
                           "volumes are files, use disk instead", dname);
    } else if (ferry_json_get(disk, "floppy")) {
        return ferry_error(FERRY_ERR_UNSUPPORTED, "disk '%s': floppy is not supported on q35",
                           dname);
    }
    bus = ferry_json_get_string(target, "bus");
    if (!bus)
        bus = strcmp(device, "cdrom") == 0 ? "sata" : "virtio";
    if (strcmp(bus, "virtio") && strcmp(bus, "sata") && strcmp(bus, "scsi") && strcmp(bus, "usb"))
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "disk '%s': bus '%s' is not supported (virtio, sata, scsi, usb)", dname, bus);
    if (strcmp(device, "cdrom") == 0 && strcmp(bus, "virtio") == 0)
        return ferry_error(FERRY_ERR_INVALID, "disk '%s': a cdrom cannot be on bus virtio", dname);
    readonly = ferry_json_get_bool(target, "readonly", strcmp(device, "cdrom") == 0);

    if (ferry_domain_volume(c->opts, c->vmi, volume, &vol) < 0)
        return -1;

    cache = ferry_json_get_string(disk, "cache");
    {
        bool direct = c->opts->direct_io ? c->opts->direct_io(vol.path, c->opts->opaque) : true;
        if (cache && strcmp(cache, "none") && strcmp(cache, "writethrough") &&
            strcmp(cache, "writeback")) {
            ferry_error(FERRY_ERR_INVALID,
                        "disk '%s': cache '%s' is not one of none, writethrough, writeback", dname,
                        cache);
            goto out;
        }
        if (cache && strcmp(cache, "none") == 0 && !direct) {
            ferry_error(FERRY_ERR_INVALID,
                        "disk '%s': cache none needs O_DIRECT, which '%s' does not support", dname,
                        vol.path);
            goto out;
        }
        if (!cache)
            cache = direct ? "none" : "writethrough";
    }
    io = ferry_json_get_string(disk, "io");
    if (io && strcmp(io, "native") && strcmp(io, "threads")) {
        ferry_error(FERRY_ERR_INVALID, "disk '%s': io '%s' is not native or threads", dname, io);
        goto out;
    }
    if (io && strcmp(io, "native") == 0 && strcmp(cache, "none")) {
        ferry_error(FERRY_ERR_INVALID, "disk '%s': io native needs cache none (cache is %s)", dname,
                    cache);
        goto out;
    }
    if (!io)
        io = "threads"; /* native only for preallocated or block storage: Ferry's files are sparse */
    errpol = ferry_json_get_string(disk, "errorPolicy");
    if (!errpol)
        errpol = "stop";
    if (strcmp(errpol, "stop") && strcmp(errpol, "ignore") && strcmp(errpol, "report") &&
        strcmp(errpol, "enospace")) {
        ferry_error(FERRY_ERR_INVALID, "disk '%s': errorPolicy '%s' is not stop, ignore, report or enospace",
                    dname, errpol);
        goto out;
    }

    d = child_attrs(c->devices, "disk", "type", "file", "device", device, NULL);
    child_attrs(d, "driver", "name", "qemu", "type",
                vol.kind == FERRY_VOLUME_CONTAINER_DISK ? "qcow2" : "raw", "cache", cache, "io", io,
                "discard", !readonly && strcmp(device, "cdrom") ? "unmap" : NULL, "error_policy",
                errpol, NULL);
    child_attrs(d, "source", "file", vol.path, "fdgroup", vol.fdgroup, NULL);
    dev = target_dev(c, bus);
    child_attrs(d, "target", "dev", dev, "bus", bus, NULL);
    if (readonly)
        child(d, "readonly", NULL);
    if (ferry_json_get(disk, "bootOrder")) {
        int64_t bo = ferry_json_get_int(disk, "bootOrder", 0);
        if (bo < 1) {
            ferry_error(FERRY_ERR_INVALID, "disk '%s': bootOrder %lld must be at least 1", dname,
                        (long long)bo);
            goto out;
        }
        n = child(d, "boot", NULL);
        attr_int(n, "order", bo);
    }
    if (ferry_json_get_string(disk, "serial"))
        child(d, "serial", ferry_json_get_string(disk, "serial"));
    n = child(d, "alias", NULL);
    {
        FERRY_AUTOFREE char *alias = ferry_printf("ua-%s", dname);
        attr(n, "name", alias);
    }
    if (strcmp(bus, "scsi") == 0)
        c->need_scsi = true;
    if (strcmp(bus, "sata") == 0)
        c->need_sata = true;
    if (strcmp(bus, "usb") == 0)
        c->need_usb = true;
    ret = 0;
out:
    ferry_volume_release(&vol);
    return ret;
}

static int
conv_disks(struct conv *c)
{
    json_object *disks = list_at(c->vmi, "spec.domain.devices.disks");
    json_object *volumes = list_at(c->vmi, "spec.volumes");
    size_t nd = disks ? json_object_array_length(disks) : 0;
    size_t nv = volumes ? json_object_array_length(volumes) : 0;

    for (size_t i = 0; i < nd; i++)
        if (conv_disk(c, json_object_array_get_idx(disks, i)) < 0)
            return -1;
    /* A volume no disk names gets a default disk (KubeVirt's SetDefaultVolumeDisk). */
    for (size_t i = 0; i < nv; i++) {
        const char *vn = ferry_json_get_string(json_object_array_get_idx(volumes, i), "name");
        if (vn && !find_by_name(disks, vn)) {
            FERRY_AUTOPTR(json_object) d = json_object_new_object();
            json_object_object_add(d, "name", json_object_new_string(vn));
            if (conv_disk(c, d) < 0)
                return -1;
        }
    }
    return 0;
}

static void
conv_controllers(struct conv *c)
{
    if (c->need_sata)
        child_attrs(c->devices, "controller", "type", "sata", "index", "0", NULL);
    if (c->need_scsi)
        child_attrs(c->devices, "controller", "type", "scsi", "index", "0", "model", "virtio-scsi",
                    NULL);
    child_attrs(c->devices, "controller", "type", "usb", "index", "0", "model",
                c->need_usb ? "qemu-xhci" : "none", NULL);
}

/* ---- interfaces ------------------------------------------------------ */

static const char *const nic_models[] = { "virtio", "e1000", "e1000e", "rtl8139", "pcnet",
                                          "ne2k_pci" };

static void
qemu_arg(struct conv *c, const char *value)
{
    xmlNodePtr a;
    if (!c->qemu_cmdline) {
        c->qemu_ns = xmlNewNs(c->root, BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0",
                              BAD_CAST "qemu");
        c->qemu_cmdline = xmlNewNode(c->qemu_ns, BAD_CAST "commandline");
    }
    a = xmlNewChild(c->qemu_cmdline, c->qemu_ns, BAD_CAST "arg", NULL);
    attr(a, "value", value);
}

static int
conv_interface(struct conv *c, json_object *iface, json_object *networks)
{
    const char *iname = ferry_json_get_string(iface, "name");
    json_object *net = find_by_name(networks, iname);
    const char *model = ferry_json_get_string(iface, "model");
    const char *mac = ferry_json_get_string(iface, "macAddress");
    json_object *ports = list_at(iface, "ports");
    const char *binding;
    bool known = false;
    xmlNodePtr n, m;

    if (!iname)
        return ferry_error(FERRY_ERR_INVALID, "spec.domain.devices.interfaces: an entry has no name");
    if (!net)
        return ferry_error(FERRY_ERR_INVALID, "interface '%s': no network of that name in spec.networks",
                           iname);
    if (!ferry_json_get(net, "pod"))
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "interface '%s': only the pod network is supported (network '%s' is not pod)",
                           iname, iname);
    if (!model)
        model = "virtio";
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(nic_models); i++)
        known |= strcmp(model, nic_models[i]) == 0;
    if (!known)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "interface '%s': model '%s' is not supported",
                           iname, model);
    if (ferry_json_get(iface, "masquerade"))
        binding = "masquerade";
    else if (ferry_json_get(iface, "bridge"))
        binding = "bridge";
    else if (ferry_json_get(iface, "slirp"))
        binding = "masquerade";
    else if (ferry_json_get(iface, "sriov") || ferry_json_get(iface, "macvtap") ||
             ferry_json_get(iface, "passt") || ferry_json_get(iface, "binding"))
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "interface '%s': only the masquerade and bridge bindings are supported",
                           iname);
    else
        binding = "masquerade";

    if (strcmp(binding, "masquerade") == 0 && ports && json_object_array_length(ports) > 0) {
        /* libvirt 9.0 forwards ports only with the passt backend: say it to qemu. */
        FERRY_AUTOFREE char *netdev = ferry_printf("user,id=ferrynet%d", c->hostnet);
        FERRY_AUTOFREE char *device = NULL;
        const char *qmodel = strcmp(model, "virtio") == 0 ? "virtio-net-pci" : model;
        for (size_t i = 0; i < json_object_array_length(ports); i++) {
            json_object *p = json_object_array_get_idx(ports, i);
            int64_t port = ferry_json_get_int(p, "port", 0);
            const char *proto = ferry_json_get_string(p, "protocol");
            char *tmp;
            if (port < 1 || port > 65535)
                return ferry_error(FERRY_ERR_INVALID, "interface '%s': ports[%zu].port %lld out of range",
                                   iname, i, (long long)port);
            if (!proto)
                proto = "TCP";
            if (strcasecmp(proto, "TCP") && strcasecmp(proto, "UDP"))
                return ferry_error(FERRY_ERR_INVALID, "interface '%s': ports[%zu].protocol '%s' is not TCP or UDP",
                                   iname, i, proto);
            tmp = ferry_printf("%s,hostfwd=%s:127.0.0.1:%lld-:%lld", netdev,
                               strcasecmp(proto, "UDP") == 0 ? "udp" : "tcp", (long long)port,
                               (long long)port);
            free(netdev);
            netdev = tmp;
        }
        /* libvirt does not know this device: place it where libvirt's q35 allocation
         * (VGA at 0x1, root ports from 0x2 up) never goes */
        if (c->hostnet > 3)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "interface '%s': at most 4 masquerade interfaces with ports", iname);
        device = ferry_printf("%s,netdev=ferrynet%d,bus=pcie.0,addr=0x%x%s%s", qmodel, c->hostnet,
                              0x1e - c->hostnet, mac ? ",mac=" : "", mac ? mac : "");
        c->hostnet++;
        qemu_arg(c, "-netdev");
        qemu_arg(c, netdev);
        qemu_arg(c, "-device");
        qemu_arg(c, device);
        return 0;
    }
    n = xmlNewChild(c->devices, NULL, BAD_CAST "interface", NULL);
    if (strcmp(binding, "masquerade") == 0) {
        attr(n, "type", "user");
    } else {
        attr(n, "type", "bridge");
        child_attrs(n, "source", "bridge", c->opts->bridge ? c->opts->bridge : "ferry0", NULL);
    }
    if (mac)
        child_attrs(n, "mac", "address", mac, NULL);
    child_attrs(n, "model", "type", model, NULL);
    if (ferry_json_get(iface, "bootOrder")) {
        m = child(n, "boot", NULL);
        attr_int(m, "order", ferry_json_get_int(iface, "bootOrder", 1));
    }
    m = child(n, "alias", NULL);
    {
        FERRY_AUTOFREE char *alias = ferry_printf("ua-%s", iname);
        attr(m, "name", alias);
    }
    return 0;
}

static int
conv_interfaces(struct conv *c)
{
    json_object *ifaces = list_at(c->vmi, "spec.domain.devices.interfaces");
    json_object *networks = list_at(c->vmi, "spec.networks");
    FERRY_AUTOPTR(json_object) dflt_ifaces = NULL;
    FERRY_AUTOPTR(json_object) dflt_nets = NULL;

    if (!ifaces && !networks &&
        ferry_json_get_bool(c->vmi, "spec.domain.devices.autoattachPodInterface", true)) {
        json_object *i = json_object_new_object(), *nw = json_object_new_object();
        json_object_object_add(i, "name", json_object_new_string("default"));
        json_object_object_add(i, "masquerade", json_object_new_object());
        json_object_object_add(nw, "name", json_object_new_string("default"));
        json_object_object_add(nw, "pod", json_object_new_object());
        dflt_ifaces = json_object_new_array();
        dflt_nets = json_object_new_array();
        json_object_array_add(dflt_ifaces, i);
        json_object_array_add(dflt_nets, nw);
        ifaces = dflt_ifaces;
        networks = dflt_nets;
    }
    for (size_t i = 0; ifaces && i < json_object_array_length(ifaces); i++)
        if (conv_interface(c, json_object_array_get_idx(ifaces, i), networks) < 0)
            return -1;
    return 0;
}

/* ---- consoles, graphics, small devices -------------------------------- */

static void
conv_console_graphics(struct conv *c)
{
    json_object *devs = ferry_json_get(c->vmi, "spec.domain.devices");
    xmlNodePtr n, m;

    if (ferry_json_get_bool(devs, "autoattachSerialConsole", true)) {
        FERRY_AUTOFREE char *sock = ferry_printf("%s/console.sock", c->vmi_dir);
        FERRY_AUTOFREE char *log = ferry_printf("%s/console.log", c->vmi_dir);
        n = child_attrs(c->devices, "serial", "type", "unix", NULL);
        child_attrs(n, "source", "mode", "bind", "path", sock, NULL);
        child_attrs(n, "log", "file", log, "append", "on", NULL);
        m = child_attrs(n, "target", "type", "isa-serial", "port", "0", NULL);
        child_attrs(m, "model", "name", "isa-serial", NULL);
    }
    if (ferry_json_get_bool(devs, "autoattachGraphicsDevice", true)) {
        FERRY_AUTOFREE char *sock = ferry_printf("%s/vnc.sock", c->vmi_dir);
        n = child_attrs(c->devices, "graphics", "type", "vnc", NULL);
        child_attrs(n, "listen", "type", "socket", "socket", sock, NULL);
        n = child(c->devices, "video", NULL);
        child_attrs(n, "model", "type", "vga", "vram", "16384", "heads", "1", NULL);
    }
    if (ferry_json_get(devs, "watchdog")) {
        const char *action = ferry_json_get_string(devs, "watchdog.i6300esb.action");
        child_attrs(c->devices, "watchdog", "model", "i6300esb", "action",
                    action ? action : "reset", NULL);
    }
    if (ferry_json_get(devs, "rng")) {
        n = child_attrs(c->devices, "rng", "model", "virtio", NULL);
        m = child(n, "backend", "/dev/urandom");
        attr(m, "model", "random");
    }
    child_attrs(c->devices, "memballoon", "model",
                ferry_json_get_bool(devs, "autoattachMemBalloon", true) ? "virtio" : "none", NULL);
}

/* KubeVirt's panicDevices ({model: isa|hyperv}): the guest tells qemu it
 * panicked, qemu tells libvirt, and <on_crash>destroy</on_crash> ends the
 * domain; the launcher reports the VMI Failed with reason GuestPanicked. */
static int
conv_panic(struct conv *c)
{
    json_object *pd = list_at(c->vmi, "spec.domain.devices.panicDevices");
    for (size_t i = 0; pd && i < json_object_array_length(pd); i++) {
        const char *model = ferry_json_get_string(json_object_array_get_idx(pd, i), "model");
        xmlNodePtr n;
        if (!model)
            model = "isa";
        if (strcmp(model, "isa") && strcmp(model, "hyperv"))
            return ferry_error(FERRY_ERR_INVALID,
                               "spec.domain.devices.panicDevices[%zu]: model '%s' is not isa or hyperv",
                               i, model);
        n = xmlNewChild(c->devices, NULL, BAD_CAST "panic", NULL);
        attr(n, "model", model);
    }
    return 0;
}

/* ---- entry point ------------------------------------------------------ */

int
ferry_domain_build(json_object *vmi, const struct ferry_domain_opts *opts, char **ret_xml)
{
    struct conv c = { .vmi = vmi, .opts = opts };
    FERRY_AUTOPTR(xmlDoc) doc = NULL;
    xmlBufferPtr buf;
    bool smm;
    int ret = -1;

    if (!ferry_obj_name(vmi))
        return ferry_error(FERRY_ERR_INVALID, "VMI has no metadata.name");
    if (!ferry_json_get(vmi, "spec.domain"))
        return ferry_error(FERRY_ERR_INVALID, "VMI '%s': no spec.domain", ferry_obj_name(vmi));
    if (check_lists(vmi) < 0)
        return -1;
    c.ns = ns_of(vmi);
    c.name = ferry_obj_name(vmi);
    c.vmi_dir = ferry_domain_vmi_dir(opts->state_dir, vmi);
    if (!c.vmi_dir)
        return -1;
    doc = xmlNewDoc(BAD_CAST "1.0");
    c.doc = doc;
    c.root = xmlNewNode(NULL, BAD_CAST "domain");
    xmlDocSetRootElement(doc, c.root);
    attr(c.root, "type", opts->kvm ? "kvm" : "qemu");

    if (conv_identity(&c) < 0 || conv_memory(&c) < 0 || conv_cpu(&c) < 0)
        goto out;
    /* libvirt wants <cpu> after <features>: build os/features, then move cpu. */
    {
        xmlNodePtr cpu = c.root->last;
        xmlUnlinkNode(cpu);
        if (conv_os(&c, &smm) < 0) {
            xmlFreeNode(cpu);
            goto out;
        }
        conv_features(&c, smm);
        /* insert cpu right after <features> */
        for (xmlNodePtr n = c.root->children; n; n = n->next)
            if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST "features")) {
                xmlAddNextSibling(n, cpu);
                break;
            }
    }
    c.devices = child(c.root, "devices", NULL);
    if (conv_disks(&c) < 0)
        goto out;
    conv_controllers(&c);
    if (conv_interfaces(&c) < 0)
        goto out;
    conv_console_graphics(&c);
    if (conv_panic(&c) < 0)
        goto out;
    if (c.qemu_cmdline)
        xmlAddChild(c.root, c.qemu_cmdline);

    buf = xmlBufferCreate();
    xmlNodeDump(buf, doc, c.root, 0, 1);
    *ret_xml = ferry_printf("%s\n", (const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    ret = 0;
out:
    if (c.qemu_cmdline && !c.qemu_cmdline->parent)
        xmlFreeNode(c.qemu_cmdline);
    free(c.vmi_dir);
    return ret;
}
