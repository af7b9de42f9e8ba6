/* VirtualMachine emitter.  What KubeVirt forces, decided once for every
 * input format:
 *  - disk buses: KubeVirt has virtio, sata, scsi and usb.  With a guest that
 *    has virtio drivers (--compat auto resolves per guest OS, or from the
 *    source having run it on virtio devices) every disk is virtio, or scsi
 *    when it sat on paravirtual SCSI; otherwise SATA, which every OS boots
 *    from.  CD-ROMs are always
 *    SATA (KubeVirt rejects virtio CD-ROMs); floppies cannot be attached and
 *    are reported as dropped;
 *  - NIC models: the ones KubeVirt accepts are kept in legacy mode, the rest
 *    (vmxnet3, netfront ...) become e1000e; in virtio mode all are virtio;
 *  - networks: one pod network at most (masquerade), multus ones bridged;
 *  - EFI: secureBoot is stated explicitly (KubeVirt defaults it to true),
 *    and secure boot turns on the SMM feature it requires;
 *  - disks: one dataVolumeTemplate per disk and CD-ROM image, sized from the
 *    source capacity, with the requested CDI source.
 */
#include "converter/outputs/kubevirt.h"

#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/name.h"
#include "common/quantity.h"
#include "common/util.h"
#include "converter/osmap.h"

#define LABEL_PREFIX "ferry.io/"

int
ferry_kubevirt_parse_disk_source(const char *arg, struct ferry_kubevirt_opts *o)
{
    if (!strcmp(arg, "upload")) {
        o->disk_source = FERRY_DISK_SOURCE_UPLOAD;
        o->disk_base = NULL;
    } else if (ferry_str_has_prefix(arg, "http:") &&
               (ferry_str_has_prefix(arg + 5, "http://") ||
                ferry_str_has_prefix(arg + 5, "https://"))) {
        o->disk_source = FERRY_DISK_SOURCE_HTTP;
        o->disk_base = arg + 5;
    } else if (ferry_str_has_prefix(arg, "registry:") && arg[9]) {
        o->disk_source = FERRY_DISK_SOURCE_REGISTRY;
        o->disk_base = arg + 9;
        if (ferry_str_has_prefix(o->disk_base, "docker://"))
            o->disk_base += 9;
    } else {
        return ferry_error(FERRY_ERR_INVALID,
                           "--disk-source: '%s' is not upload, http:BASEURL (http:// or "
                           "https://) or registry:PREFIX",
                           arg);
    }
    return 0;
}

int
ferry_kubevirt_parse_network_map(const char *arg, struct ferry_net_map *ret)
{
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg)
        return ferry_error(FERRY_ERR_INVALID,
                           "--network-map: '%s' is not SOURCE=pod or SOURCE=multus:NS/NAME", arg);
    const char *target = eq + 1;
    memset(ret, 0, sizeof(*ret));
    if (!strcmp(target, "pod")) {
        ret->multus = NULL;
    } else if (ferry_str_has_prefix(target, "multus:")) {
        const char *nad = target + 7;
        const char *slash = strchr(nad, '/');
        const char *nname = slash ? slash + 1 : nad;
        FERRY_AUTOFREE char *ns = slash ? ferry_strndup(nad, slash - nad) : NULL;
        if (!ferry_name_is_dns1123_label(nname) || (ns && !ferry_name_is_dns1123_label(ns)))
            return ferry_error(FERRY_ERR_INVALID,
                               "--network-map: '%s': multus network must be NS/NAME or NAME of "
                               "DNS-1123 labels",
                               arg);
        ret->multus = ferry_strdup(nad);
    } else {
        return ferry_error(FERRY_ERR_INVALID,
                           "--network-map: '%s': target '%s' is not pod or multus:NS/NAME", arg,
                           target);
    }
    ret->source = ferry_strndup(arg, eq - arg);
    return 0;
}

int
ferry_kubevirt_parse_compat(const char *arg, enum ferry_compat *ret)
{
    if (!strcmp(arg, "auto"))
        *ret = FERRY_COMPAT_AUTO;
    else if (!strcmp(arg, "virtio"))
        *ret = FERRY_COMPAT_VIRTIO;
    else if (!strcmp(arg, "legacy"))
        *ret = FERRY_COMPAT_LEGACY;
    else
        return ferry_error(FERRY_ERR_INVALID, "--compat: '%s' is not auto, virtio or legacy", arg);
    return 0;
}

bool
ferry_kubevirt_run_strategy_valid(const char *s)
{
    static const char *const valid[] = {"Halted", "Always", "RerunOnFailure", "Manual", "Once"};
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(valid); i++)
        if (!strcmp(s, valid[i]))
            return true;
    return false;
}

/* Source NIC model -> a model KubeVirt accepts, or NULL when it has none. */
static const char *
nic_model_accepted(const char *model)
{
    static const struct {
        const char *from, *to;
    } map[] = {
        {"virtio", "virtio"},     {"virtio-net", "virtio"},  {"virtio-net-pci", "virtio"},
        {"e1000", "e1000"},       {"82540em", "e1000"},      {"82543gc", "e1000"},
        {"82545em", "e1000"},     {"e1000e", "e1000e"},      {"igb", "igb"},
        {"rtl8139", "rtl8139"},   {"ne2k_pci", "ne2k_pci"},  {"pcnet", "pcnet"},
        {"pcnet32", "pcnet"},     {"vlance", "pcnet"},       {"am79c970a", "pcnet"},
        {"am79c973", "pcnet"},
    };
    if (!model)
        return NULL;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(map); i++)
        if (!strcasecmp(model, map[i].from))
            return map[i].to;
    return NULL;
}

static json_object *
jstr(const char *s)
{
    return json_object_new_string(s);
}

static json_object *
jobj(void)
{
    return json_object_new_object();
}

static void
add(json_object *o, const char *key, json_object *v)
{
    json_object_object_add(o, key, v);
}

static char *
quantity(uint64_t bytes)
{
    return ferry_quantity_format_bytes(bytes);
}

/* "<vm>-<suffix>" cut to 63 characters without a trailing '-'. */
static char *
child_name(const char *vm, const char *suffix)
{
    size_t room = 63 - strlen(suffix) - 1;
    size_t n = strlen(vm);
    if (n > room)
        n = room;
    while (n && vm[n - 1] == '-')
        n--;
    return ferry_printf("%.*s-%s", (int)n, vm, suffix);
}

/* {KEY: {url: SCHEME BASE/NAME}} into SRC, with one slash between BASE and NAME. */
static void
add_url_source(json_object *src, const char *key, const char *scheme, const char *base,
               const char *name)
{
    json_object *o = jobj();
    size_t bl = strlen(base);
    bool slash = bl && base[bl - 1] == '/';
    FERRY_AUTOFREE char *url = ferry_printf("%s%s%s%s", scheme, base, slash ? "" : "/", name);
    add(o, "url", jstr(url));
    add(src, key, o);
}

static json_object *
dv_source(const struct ferry_vm_disk *d, const char *dvname, const struct ferry_kubevirt_opts *o)
{
    json_object *src = jobj();
    if (!d->file) {
        /* An empty disk in the source (OVF Disk without fileRef). */
        add(src, "blank", jobj());
        return src;
    }
    switch (o->disk_source) {
    case FERRY_DISK_SOURCE_UPLOAD:
        add(src, "upload", jobj());
        break;
    case FERRY_DISK_SOURCE_HTTP:
        add_url_source(src, "http", "", o->disk_base, ferry_vm_basename(d->file));
        break;
    case FERRY_DISK_SOURCE_REGISTRY:
        add_url_source(src, "registry", "docker://", o->disk_base, dvname);
        break;
    }
    return src;
}

struct emit {
    const struct ferry_vm_def *def;
    const char *src;            /* input file name for messages */
    struct ferry_os_info os;
    bool virtio;                /* resolved compat */
    bool conversion_pending;    /* the controller converts the guest before its first start */
};

/* The API server refuses an object whose annotations (keys and values
 * together) exceed 256 KiB.  Cut the longest values until they fit, at a
 * UTF-8 character boundary, saying which. */
#define ANNOTATIONS_MAX (256u << 10)
#define ANNOTATION_CUT_MARK " [cut by ferry-converter]"

static size_t
annotations_size(json_object *ann)
{
    size_t total = 0;
    json_object_object_foreach(ann, k, v) total += strlen(k) + strlen(json_object_get_string(v));
    return total;
}

static void
fit_annotations(struct emit *e, json_object *ann, const char *what)
{
    size_t total;
    while ((total = annotations_size(ann)) > ANNOTATIONS_MAX) {
        const char *longest = NULL;
        size_t len = 0;
        json_object_object_foreach(ann, k, v) {
            size_t l = strlen(json_object_get_string(v));
            if (l > len) {
                len = l;
                longest = k;
            }
        }
        size_t excess = total - ANNOTATIONS_MAX + strlen(ANNOTATION_CUT_MARK);
        if (!longest || len <= excess)
            break;   /* cannot happen: keys are short */
        FERRY_AUTOFREE char *key = ferry_strdup(longest);
        const char *val = json_object_get_string(json_object_object_get(ann, key));
        size_t keep = len - excess;
        while (keep && ((unsigned char)val[keep] & 0xc0) == 0x80)
            keep--;
        FERRY_AUTOFREE char *cut = ferry_printf("%.*s%s", (int)keep, val, ANNOTATION_CUT_MARK);
        ferry_log_warn("'%s': %s: annotation %s is %zu bytes; cut to %zu (a %s's annotations "
                       "are limited to 256 KiB in all)",
                       e->src, e->def->name, key, len, keep, what);
        json_object_object_add(ann, key, jstr(cut));
    }
}

static void
resolve_compat(struct emit *e, const struct ferry_kubevirt_opts *o)
{
    switch (o->compat) {
    case FERRY_COMPAT_VIRTIO:
        e->virtio = true;
        break;
    case FERRY_COMPAT_LEGACY:
        e->virtio = false;
        break;
    case FERRY_COMPAT_AUTO:
        if (o->guest_conversion_pending) {
            /* converted by the controller before it first runs, or never run */
            e->virtio = true;
        } else if (e->def->conversion.done) {
            /* the guest was converted (guest.c): virtio only if that worked */
            e->virtio = e->def->conversion.ok;
            if (!e->virtio)
                ferry_log_warn("'%s': %s: the guest was not converted: sata disks, emulated "
                               "NICs", e->src, e->def->name);
        } else if (e->def->virtio_seen) {
            /* the source ran it on virtio devices (a KVM platform) */
            e->virtio = true;
        } else if (e->os.family == FERRY_OS_UNKNOWN && !e->def->os_id) {
            e->virtio = true;
            ferry_log_warn("'%s': %s: guest OS unknown; assuming virtio drivers (use --compat "
                           "legacy or --inspect if it does not boot)",
                           e->src, e->def->name);
        } else if (e->os.family == FERRY_OS_UNKNOWN) {
            /* The source names an OS this converter does not know (OS/2,
             * QNX ...): emulated devices rather than drivers it may lack. */
            e->virtio = false;
            ferry_log_warn("'%s': %s: guest OS '%s' unknown; not assuming virtio drivers: sata "
                           "disks, emulated NICs (--compat virtio if it has them, or --inspect)",
                           e->src, e->def->name, e->def->os_id);
        } else if (e->os.family == FERRY_OS_OTHER && !e->os.virtio_capable) {
            e->virtio = false;
            ferry_log_warn("'%s': %s: guest OS '%s' is not known to have virtio drivers: sata "
                           "disks, emulated NICs (--compat virtio if it has them)",
                           e->src, e->def->name, e->def->os_id ? e->def->os_id : "?");
        } else {
            e->virtio = e->os.virtio_capable;
        }
        break;
    }
    if (!e->virtio && !strcmp(e->os.osinfo, "msdos"))
        ferry_log_warn("'%s': %s: MS-DOS has no SATA (AHCI) driver and KubeVirt no IDE bus: "
                       "the disks are not visible to it without a DOS AHCI driver",
                       e->src, e->def->name);
}

static int
emit_disks(struct emit *e, const char *vmname, const struct ferry_kubevirt_opts *o,
           json_object *dvts, json_object *disks, json_object *volumes)
{
    const struct ferry_vm_def *def = e->def;
    int ndisk = 0, ncd = 0;
    bool explicit_boot = false;
    for (size_t i = 0; i < def->ndisks; i++)
        explicit_boot |= def->disks[i].boot_order > 0;
    for (size_t i = 0; i < def->nnics; i++)
        explicit_boot |= def->nics[i].boot_order > 0;
    bool first_disk = true;
    unsigned moved = 0;

    for (size_t i = 0; i < def->ndisks; i++) {
        const struct ferry_vm_disk *d = &def->disks[i];
        if (d->kind == FERRY_DISK_FLOPPY) {
            ferry_log_warn("'%s': %s: floppy drive%s%s%s cannot be attached in KubeVirt; dropped",
                           e->src, d->where, d->file ? " ('" : "", d->file ? d->file : "",
                           d->file ? "')" : "");
            continue;
        }
        bool cd = d->kind == FERRY_DISK_CDROM;
        FERRY_AUTOFREE char *vol = cd ? ferry_printf("cdrom%d", ncd++)
                                      : ferry_printf("disk%d", ndisk++);
        FERRY_AUTOFREE char *dvname = child_name(vmname, vol);

        /* A paravirtual SCSI disk (oVirt VirtIO_SCSI) stays on scsi, as
         * Forklift's oVirt builder keeps it: KubeVirt's scsi bus is
         * virtio-scsi, and the guest's device names do not change. */
        const char *bus = cd ? "sata" : !e->virtio ? "sata" : d->paravirt ? "scsi" : "virtio";
        json_object *disk = jobj();
        add(disk, "name", jstr(vol));
        json_object *target = jobj();
        add(target, "bus", jstr(bus));
        if (cd)
            add(target, "readonly", json_object_new_boolean(true));
        add(disk, cd ? "cdrom" : "disk", target);
        int boot = d->boot_order;
        if (!explicit_boot && first_disk && !cd)
            boot = 1;
        if (!cd)
            first_disk = false;
        if (boot > 0)
            add(disk, "bootOrder", json_object_new_int(boot));
        json_object_array_add(disks, disk);

        json_object *volume = jobj();
        add(volume, "name", jstr(vol));
        json_object *dvref = jobj();
        add(dvref, "name", jstr(dvname));
        add(volume, "dataVolume", dvref);
        json_object_array_add(volumes, volume);

        json_object *dvt = jobj();
        json_object *meta = jobj();
        add(meta, "name", jstr(dvname));
        json_object *ann = jobj();
        FERRY_AUTOFREE char *from = ferry_printf("%s %s%s%s", d->where, ferry_vm_bus_name(d->bus),
                                                 d->file ? " " : "", d->file ? d->file : "");
        add(ann, LABEL_PREFIX "source-disk", jstr(from));
        fit_annotations(e, ann, "DataVolume");
        add(meta, "annotations", ann);
        add(dvt, "metadata", meta);
        json_object *spec = jobj();
        add(spec, "source", dv_source(d, dvname, o));
        json_object *storage = jobj();
        if (d->capacity) {
            json_object *res = jobj(), *req = jobj();
            FERRY_AUTOFREE char *q = quantity(d->capacity);
            add(req, "storage", jstr(q));
            add(res, "requests", req);
            add(storage, "resources", res);
        } else {
            ferry_log_warn("'%s': %s: size of '%s' unknown (not readable next to the "
                           "definition); set storage.resources.requests.storage of DataVolume "
                           "template %s before applying",
                           e->src, d->where, d->file ? d->file : "", dvname);
        }
        add(spec, "storage", storage);
        add(dvt, "spec", spec);
        json_object_array_add(dvts, dvt);

        if (!cd && d->bus != FERRY_BUS_VIRTIO && d->bus != FERRY_BUS_SATA && !e->virtio)
            moved |= 1u << d->bus;
    }
    if (moved) {
        char buses[64] = "";
        for (unsigned b = 0; b <= FERRY_BUS_FDC; b++)
            if (moved & (1u << b))
                snprintf(buses + strlen(buses), sizeof(buses) - strlen(buses), "%s%s",
                         buses[0] ? ", " : "", ferry_vm_bus_name(b));
        ferry_log_warn("'%s': %s: %s disks attached as sata (%s; --compat virtio overrides)",
                       e->src, def->name, buses,
                       def->conversion.done ? "the guest was not converted"
                                            : "the guest is not known to have virtio drivers");
    }
    if (ndisk == 0)
        ferry_log_warn("'%s': %s: the VM has no hard disk", e->src, def->name);
    return 0;
}

static int
emit_nics(struct emit *e, struct ferry_kubevirt_opts *o, json_object *ifaces,
          json_object *networks)
{
    const struct ferry_vm_def *def = e->def;
    bool pod_used = false;
    FERRY_AUTOFREE char *unmapped = NULL;
    size_t nunmapped = 0;

    for (size_t i = 0; i < def->nnics; i++) {
        const struct ferry_vm_nic *nic = &def->nics[i];
        struct ferry_net_map *m = NULL;
        for (size_t k = 0; k < o->nmaps && !m; k++)
            if (nic->network && !strcasecmp(o->maps[k].source, nic->network))
                m = &o->maps[k];
        bool pod;
        if (m) {
            m->used = true;
            pod = m->multus == NULL;
            if (pod && pod_used)
                return ferry_error(FERRY_ERR_INVALID,
                                   "'%s': %s: network '%s' mapped to pod, but another interface "
                                   "already uses the pod network (KubeVirt allows one)",
                                   e->src, nic->where, nic->network);
        } else if (!pod_used && nunmapped == 0) {
            pod = true;
        } else {
            char *n = ferry_printf("%s%s'%s' (%s)", unmapped ? unmapped : "",
                                   unmapped ? ", " : "", nic->network ? nic->network : "",
                                   nic->where);
            free(unmapped);
            unmapped = n;
            nunmapped++;
            continue;
        }
        if (pod)
            pod_used = true;

        FERRY_AUTOFREE char *name = ferry_printf("net%zu", i);
        json_object *iface = jobj();
        add(iface, "name", jstr(name));
        add(iface, pod ? "masquerade" : "bridge", jobj());
        const char *model = e->virtio ? "virtio" : nic_model_accepted(nic->model);
        if (!model) {
            /* e1000 where the guest is older or rarer than Windows and Linux:
             * DOS, NetWare, Solaris and the BSDs have drivers for it. */
            model = (e->os.family == FERRY_OS_WINDOWS || e->os.family == FERRY_OS_LINUX) &&
                            !(e->def->conversion.done && !e->def->conversion.ok)
                        ? "e1000e"
                        : "e1000";
            ferry_log_warn("'%s': %s: NIC model '%s' has no KubeVirt equivalent; using %s",
                           e->src, nic->where, nic->model ? nic->model : "(unset)", model);
        } else if (e->virtio && nic->model && strcasecmp(nic->model, "virtio")) {
            ferry_log_debug("converter", "%s: NIC model %s -> virtio", nic->where, nic->model);
        }
        add(iface, "model", jstr(model));
        if (nic->mac && ferry_vm_mac_usable(nic->mac))
            add(iface, "macAddress", jstr(nic->mac));
        else if (nic->mac)
            /* 00:00:00:00:00:00 is VMware's "no address" (libvirt reads such a
             * NIC as unconnected); a multicast MAC cannot be an interface's. */
            ferry_log_warn("'%s': %s: MAC address %s is not usable by a NIC; KubeVirt will "
                           "generate one",
                           e->src, nic->where, nic->mac);
        if (nic->boot_order > 0)
            add(iface, "bootOrder", json_object_new_int(nic->boot_order));
        json_object_array_add(ifaces, iface);

        json_object *net = jobj();
        add(net, "name", jstr(name));
        if (pod) {
            add(net, "pod", jobj());
        } else {
            json_object *mu = jobj();
            add(mu, "networkName", jstr(m->multus));
            add(net, "multus", mu);
        }
        json_object_array_add(networks, net);
    }
    if (nunmapped)
        return ferry_error(FERRY_ERR_INVALID,
                           "'%s': %s: %zu network%s not mapped: %s; the first interface took the "
                           "pod network; add --network-map 'SOURCE=multus:NS/NAME' for %s",
                           e->src, def->name, nunmapped, nunmapped > 1 ? "s" : "", unmapped,
                           nunmapped > 1 ? "each" : "it");
    return 0;
}

static void
set_labels(struct emit *e, json_object *meta, const char *vmname)
{
    const struct ferry_vm_def *def = e->def;
    json_object *labels = jobj();
    add(labels, "app", jstr(vmname));
    add(labels, LABEL_PREFIX "source-format", jstr(def->source_format));
    if (def->source_vendor)
        add(labels, LABEL_PREFIX "source-vendor", jstr(def->source_vendor));
    if (e->os.osinfo[0]) {
        FERRY_AUTOFREE char *k = ferry_printf("os.template.kubevirt.io/%s", e->os.osinfo);
        if (ferry_name_is_label_key(k))
            add(labels, k, jstr("true"));
    }
    add(meta, "labels", labels);

    json_object *ann = jobj();
    add(ann, LABEL_PREFIX "original-name", jstr(def->name));
    add(ann, LABEL_PREFIX "source-file", jstr(def->source_file));
    if (def->os_id)
        add(ann, LABEL_PREFIX "source-os", jstr(def->os_id));
    if (def->uuid)
        add(ann, LABEL_PREFIX "source-uuid", jstr(def->uuid));
    if (def->source_version)
        add(ann, LABEL_PREFIX "source-version", jstr(def->source_version));
    if (e->os.osinfo[0])
        add(ann, "vm.kubevirt.io/os", jstr(e->os.osinfo));
    add(ann, LABEL_PREFIX "compat", jstr(e->virtio ? "virtio" : "legacy"));
    if (def->inspect.done) {
        FERRY_AUTOFREE char *s =
            ferry_printf("%s %s %d.%d %s%s", def->inspect.type ? def->inspect.type : "unknown",
                         def->inspect.distro ? def->inspect.distro : "unknown",
                         def->inspect.major, def->inspect.minor,
                         def->inspect.arch ? def->inspect.arch : "",
                         def->inspect.virtio ? " virtio" : "");
        add(ann, LABEL_PREFIX "inspection", jstr(s));
        if (def->inspect.product)
            add(ann, LABEL_PREFIX "inspection-product", jstr(def->inspect.product));
    }
    if (e->conversion_pending) {
        add(ann, FERRY_KUBEVIRT_ANN_GUEST_CONVERSION, jstr(FERRY_KUBEVIRT_GUEST_CONVERSION_PENDING));
    } else if (def->conversion.done) {
        add(ann, LABEL_PREFIX "guest-conversion", jstr(def->conversion.result));
        if (def->conversion.changes)
            add(ann, LABEL_PREFIX "guest-conversion-changes", jstr(def->conversion.changes));
    }
    if (def->description)
        add(ann, LABEL_PREFIX "description", jstr(def->description));
    fit_annotations(e, ann, "VirtualMachine");
    add(meta, "annotations", ann);
}

static void
emit_cpu_memory(struct emit *e, json_object *domain)
{
    const struct ferry_vm_def *def = e->def;
    unsigned sockets = def->sockets, cores = def->cores, threads = def->threads;
    unsigned vcpus = def->vcpus ? def->vcpus : 1;
    if (!sockets && !cores && !threads) {
        sockets = vcpus;
        cores = threads = 1;
    } else {
        if (!sockets)
            sockets = 1;
        if (!cores)
            cores = 1;
        if (!threads)
            threads = 1;
        if (sockets * cores * threads != vcpus)
            ferry_log_warn("'%s': %s: topology %u sockets x %u cores x %u threads != %u vCPUs; "
                           "keeping the topology",
                           e->src, def->name, sockets, cores, threads, vcpus);
    }
    json_object *cpu = jobj();
    add(cpu, "sockets", json_object_new_int((int)sockets));
    add(cpu, "cores", json_object_new_int((int)cores));
    add(cpu, "threads", json_object_new_int((int)threads));
    add(domain, "cpu", cpu);

    json_object *mem = jobj();
    FERRY_AUTOFREE char *q = quantity(def->memory);
    add(mem, "guest", jstr(q));
    add(domain, "memory", mem);

    json_object *fw = jobj();
    json_object *bl = jobj();
    if (def->firmware == FERRY_FW_EFI) {
        json_object *efi = jobj();
        add(efi, "secureBoot", json_object_new_boolean(def->secure_boot));
        add(bl, "efi", efi);
    } else {
        add(bl, "bios", jobj());
    }
    add(fw, "bootloader", bl);
    if (def->uuid)
        add(fw, "serial", jstr(def->uuid));
    add(domain, "firmware", fw);
    if (def->firmware == FERRY_FW_EFI && def->secure_boot) {
        json_object *feat = jobj(), *smm = jobj();
        add(smm, "enabled", json_object_new_boolean(true));
        add(feat, "smm", smm);
        add(domain, "features", feat);
    }
}

int
ferry_kubevirt_emit(const struct ferry_vm_def *def, const char *name,
                    struct ferry_kubevirt_opts *o, json_object **ret_vm)
{
    struct emit e = {.def = def, .src = def->source_file ? def->source_file : "input",
                     .conversion_pending = o->guest_conversion_pending};
    ferry_osmap_resolve(def, &e.os);
    resolve_compat(&e, o);
    if (def->memory == 0)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: memory size is 0", e.src, def->name);

    FERRY_AUTOPTR(json_object) vm = jobj();
    add(vm, "apiVersion", jstr("kubevirt.io/v1"));
    add(vm, "kind", jstr("VirtualMachine"));
    json_object *meta = jobj();
    add(meta, "name", jstr(name));
    if (o->namespace)
        add(meta, "namespace", jstr(o->namespace));
    set_labels(&e, meta, name);
    add(vm, "metadata", meta);

    json_object *spec = jobj();
    add(spec, "runStrategy", jstr(o->run_strategy ? o->run_strategy : "Halted"));
    if (e.os.preference[0]) {
        FERRY_AUTOFREE char *pref =
            ferry_printf("%s%s", e.os.preference,
                         e.os.virtio_variant && e.virtio ? ".virtio" : "");
        unsigned vcpus = def->vcpus ? def->vcpus : 1;
        if (vcpus < e.os.min_cpus || def->memory < e.os.min_memory) {
            FERRY_AUTOFREE char *need = quantity(e.os.min_memory);
            ferry_log_warn("'%s': %s: preference %s requires %u vCPUs and %s memory; not set",
                           e.src, def->name, pref, e.os.min_cpus, need);
        } else {
            json_object *pm = jobj();
            add(pm, "name", jstr(pref));
            add(spec, "preference", pm);
        }
    }
    json_object *dvts = json_object_new_array();
    add(spec, "dataVolumeTemplates", dvts);

    json_object *tmpl = jobj();
    json_object *tmeta = jobj();
    json_object *tlabels = jobj();
    add(tlabels, "kubevirt.io/domain", jstr(name));
    add(tmeta, "labels", tlabels);
    add(tmpl, "metadata", tmeta);
    json_object *tspec = jobj();
    json_object *domain = jobj();
    emit_cpu_memory(&e, domain);
    json_object *devices = jobj();
    json_object *disks = json_object_new_array();
    json_object *ifaces = json_object_new_array();
    json_object *networks = json_object_new_array();
    json_object *volumes = json_object_new_array();
    add(devices, "disks", disks);
    add(devices, "interfaces", ifaces);
    add(domain, "devices", devices);
    add(tspec, "domain", domain);
    add(tspec, "networks", networks);
    add(tspec, "volumes", volumes);
    add(tmpl, "spec", tspec);
    add(spec, "template", tmpl);
    add(vm, "spec", spec);

    if (emit_disks(&e, name, o, dvts, disks, volumes) < 0 ||
        emit_nics(&e, o, ifaces, networks) < 0)
        return -1;
    if (def->tpm) {
        /* A fresh vTPM: the source's TPM state (BitLocker keys ...) stays behind. */
        add(devices, "tpm", jobj());
        ferry_log_warn("'%s': %s: virtual TPM added empty; the source TPM's state is not "
                       "carried over (suspend BitLocker or similar before migrating)",
                       e.src, def->name);
    }
    if (def->tablet) {
        json_object *inputs = json_object_new_array(), *tablet = jobj();
        add(tablet, "name", jstr("tablet"));
        add(tablet, "type", jstr("tablet"));
        add(tablet, "bus", jstr(e.virtio ? "virtio" : "usb"));
        json_object_array_add(inputs, tablet);
        add(devices, "inputs", inputs);
    }
    if (def->rng)
        add(devices, "rng", jobj());
    if (def->nnics == 0)
        /* Without this KubeVirt would add a pod interface the source never had. */
        add(devices, "autoattachPodInterface", json_object_new_boolean(false));
    if (json_object_array_length(dvts) == 0)
        json_object_object_del(spec, "dataVolumeTemplates");
    *ret_vm = FERRY_STEAL(vm);
    return 0;
}
