/* libvirt domain XML (virsh dumpxml, virt-manager, virt-v2v -i libvirtxml).
 * Read with libxml2 and XPath.  Traps: <memory unit=...> (KiB only when the
 * unit is absent; virt-v2v ignores the unit), firmware stated three ways
 * (os@firmware, a pflash loader, os/firmware/feature secure-boot), boot
 * order either per device (<boot order=>) or per class (<os><boot dev=>).
 * Disks keep document order: that is libvirt's own order.
 */
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "converter/inputs.h"

static bool
libvirt_probe(const struct ferry_input_data *in)
{
    xmlNode *root = in->xml ? xmlDocGetRootElement(in->xml) : NULL;
    return root && !strcmp((const char *)root->name, "domain") && !root->ns;
}

/* libvirt's scaled integers (virScaleInteger): b/bytes, KB/MB/GB/TB decimal,
 * k/KiB, M/MiB, G/GiB, T/TiB binary; default KiB. */
static int
scaled(const char *src, const char *what, const char *value, const char *unit, uint64_t *ret)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {
        {"b", 1},          {"bytes", 1},        {"kb", 1000},        {"k", 1024},
        {"kib", 1024},     {"mb", 1000000},     {"m", 1 << 20},      {"mib", 1 << 20},
        {"gb", 1000000000}, {"g", 1ULL << 30},  {"gib", 1ULL << 30}, {"tb", 1000000000000ULL},
        {"t", 1ULL << 40}, {"tib", 1ULL << 40},
    };
    uint64_t v;
    if (!ferry_parse_u64(value, &v))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: '%s' is not a number", src, what,
                           value ? value : "");
    uint64_t mult = 1024;
    if (unit) {
        mult = 0;
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(units); i++)
            if (!strcasecmp(unit, units[i].name))
                mult = units[i].mult;
        if (!mult)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s unit: '%s' is not a libvirt unit", src,
                               what, unit);
    }
    if (v > UINT64_MAX / mult)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: '%s %s' is too large", src, what, value,
                           unit ? unit : "KiB");
    *ret = v * mult;
    return 0;
}

static enum ferry_vm_bus
bus_of(const char *bus, const char *dev)
{
    static const struct {
        const char *name;
        enum ferry_vm_bus bus;
    } map[] = {
        {"virtio", FERRY_BUS_VIRTIO}, {"scsi", FERRY_BUS_SCSI}, {"sata", FERRY_BUS_SATA},
        {"ide", FERRY_BUS_IDE},       {"xen", FERRY_BUS_XEN},   {"usb", FERRY_BUS_USB},
        {"fdc", FERRY_BUS_FDC},       {"nvme", FERRY_BUS_NVME},
    };
    for (size_t i = 0; bus && i < FERRY_ARRAY_SIZE(map); i++)
        if (!strcmp(bus, map[i].name))
            return map[i].bus;
    /* No bus attribute: libvirt guesses from the target name. */
    if (dev && ferry_str_has_prefix(dev, "vd"))
        return FERRY_BUS_VIRTIO;
    if (dev && ferry_str_has_prefix(dev, "hd"))
        return FERRY_BUS_IDE;
    if (dev && ferry_str_has_prefix(dev, "xvd"))
        return FERRY_BUS_XEN;
    if (dev && ferry_str_has_prefix(dev, "fd"))
        return FERRY_BUS_FDC;
    return FERRY_BUS_SCSI;
}

static int
parse_disks(const struct ferry_input_data *in, xmlXPathContext *ctx, struct ferry_vm_def *def)
{
    FERRY_AUTOPTR(xmlXPathObject) disks = ferry_xml_nodes(ctx, NULL, "/domain/devices/disk");
    int n = disks && disks->nodesetval ? disks->nodesetval->nodeNr : 0;
    for (int i = 0; i < n; i++) {
        xmlNode *node = disks->nodesetval->nodeTab[i];
        FERRY_AUTOFREE char *device = ferry_xml_attr(node, "device");
        FERRY_AUTOFREE char *type = ferry_xml_attr(node, "type");
        FERRY_AUTOFREE char *dev = ferry_xml_str(ctx, node, "string(target/@dev)");
        FERRY_AUTOFREE char *bus = ferry_xml_str(ctx, node, "string(target/@bus)");
        FERRY_AUTOFREE char *file = ferry_xml_str(
            ctx, node, "string(source/@file | source/@dev | source/@name | source/@volume)");
        FERRY_AUTOFREE char *srcdir = ferry_xml_str(ctx, node, "string(source/@dir)");
        FERRY_AUTOFREE char *protocol = ferry_xml_str(ctx, node, "string(source/@protocol)");
        FERRY_AUTOFREE char *sock = ferry_xml_str(ctx, node, "string(source/host/@socket)");
        if (!file && protocol && sock)
            /* NBD over a unix socket: no export name, the socket is the source */
            file = ferry_printf("%s+unix://%s", protocol, sock);
        FERRY_AUTOFREE char *fmt = ferry_xml_str(ctx, node, "string(driver/@type)");
        FERRY_AUTOFREE char *order = ferry_xml_str(ctx, node, "string(boot/@order)");
        FERRY_AUTOFREE char *where = ferry_printf("disk %s", dev ? dev : "?");
        if (!dev)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': devices/disk[%d]/target@dev: missing",
                               in->name, i + 1);
        struct ferry_vm_disk *d = ferry_vm_def_add_disk(def);
        d->kind = !device || !strcmp(device, "disk") || !strcmp(device, "lun") ? FERRY_DISK_DISK
                  : !strcmp(device, "cdrom")                                  ? FERRY_DISK_CDROM
                                                                             : FERRY_DISK_FLOPPY;
        d->bus = bus_of(bus, dev);
        d->where = FERRY_STEAL(where);
        d->file = FERRY_STEAL(file);
        d->format = FERRY_STEAL(fmt);
        d->readonly = d->kind == FERRY_DISK_CDROM;
        if (order) {
            uint64_t o;
            if (!ferry_parse_u64(order, &o) || o == 0 || o > 1000)
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: boot order: '%s' is not 1..1000",
                                   in->name, d->where, order);
            d->boot_order = (int)o;
        }
        const char *drop = NULL;
        if (srcdir)
            drop = "a host directory shown as a FAT disk (vvfat) cannot be carried over";
        else if (!d->file && d->kind == FERRY_DISK_CDROM)
            drop = "CD-ROM drive without media";
        else if (!d->file && d->kind == FERRY_DISK_FLOPPY)
            drop = "floppy drive without media";
        else if (!d->file)
            drop = "no source: nothing to carry over";
        else if (d->kind != FERRY_DISK_DISK && ferry_vm_is_host_device(d->file))
            drop = "the host's drive, not an image";
        if (drop) {
            ferry_log_warn("'%s': %s: %s%s%s%s; dropped", in->name, d->where, drop,
                           srcdir || d->file ? " ('" : "", srcdir ? srcdir : d->file ? d->file : "",
                           srcdir || d->file ? "')" : "");
            free(d->where);
            free(d->file);
            free(d->format);
            def->ndisks--;
            continue;
        }
        if (type && strcmp(type, "file") && strcmp(type, "block") && strcmp(type, "volume"))
            ferry_log_warn("'%s': %s: %s source '%s' is not a local file; its size is unknown",
                           in->name, d->where, type, d->file);
        else if (ferry_vm_disk_probe(d, in->dir, in->name) < 0)
            return -1;
    }
    return 0;
}

static int
parse_nics(const struct ferry_input_data *in, xmlXPathContext *ctx, struct ferry_vm_def *def)
{
    FERRY_AUTOPTR(xmlXPathObject) nics = ferry_xml_nodes(ctx, NULL, "/domain/devices/interface");
    int n = nics && nics->nodesetval ? nics->nodesetval->nodeNr : 0;
    for (int i = 0; i < n; i++) {
        xmlNode *node = nics->nodesetval->nodeTab[i];
        struct ferry_vm_nic *nic = ferry_vm_def_add_nic(def);
        nic->where = ferry_printf("interface[%d]", i + 1);
        FERRY_AUTOFREE char *type = ferry_xml_attr(node, "type");
        FERRY_AUTOFREE char *mac = ferry_xml_str(ctx, node, "string(mac/@address)");
        if (mac && !(nic->mac = ferry_vm_mac_normalize(mac)))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s/mac@address: '%s' is not a MAC address",
                               in->name, nic->where, mac);
        nic->mac_static = nic->mac != NULL;
        nic->model = ferry_xml_str(ctx, node, "string(model/@type)");
        nic->network = ferry_xml_str(
            ctx, node, "string(source/@network | source/@bridge | source/@dev | source/@name)");
        if (!nic->network)
            nic->network = ferry_strdup(type ? type : nic->where);
        FERRY_AUTOFREE char *link = ferry_xml_str(ctx, node, "string(link/@state)");
        if (type && !strcmp(type, "null"))
            ferry_log_warn("'%s': %s: not connected to any network in the source (type 'null'); "
                           "KubeVirt connects every interface",
                           in->name, nic->where);
        else if (link && !strcmp(link, "down"))
            ferry_log_warn("'%s': %s: link was down in the source; it comes up in KubeVirt",
                           in->name, nic->where);
        FERRY_AUTOFREE char *order = ferry_xml_str(ctx, node, "string(boot/@order)");
        uint64_t o;
        if (order && ferry_parse_u64(order, &o) && o > 0 && o <= 1000)
            nic->boot_order = (int)o;
    }
    return 0;
}

/* One warning per <devices> child that is not carried over.  Mapped: disk,
 * interface, tpm, a tablet input, a virtio rng; provided by KubeVirt itself:
 * emulator, controller (the buses the disks name), graphics and video (its
 * VNC display), memballoon (its balloon), the guest agent's channel, and
 * the PS/2 mouse and keyboard every PC has. */
static void
report_unmapped(const struct ferry_input_data *in, xmlXPathContext *ctx, struct ferry_vm_def *def)
{
    static const char *const mapped[] = {"disk", "interface", "tpm", "emulator", "controller",
                                         "graphics", "video", "memballoon"};
    FERRY_AUTOPTR(xmlXPathObject) devs = ferry_xml_nodes(ctx, NULL, "/domain/devices/*");
    int n = devs && devs->nodesetval ? devs->nodesetval->nodeNr : 0;
    for (int i = 0; i < n; i++) {
        xmlNode *node = devs->nodesetval->nodeTab[i];
        const char *name = (const char *)node->name;
        bool skip = false;
        for (size_t k = 0; k < FERRY_ARRAY_SIZE(mapped) && !skip; k++)
            skip = !strcmp(name, mapped[k]);
        FERRY_AUTOFREE char *type = ferry_xml_attr(node, "type");
        FERRY_AUTOFREE char *bus = ferry_xml_attr(node, "bus");
        FERRY_AUTOFREE char *model = ferry_xml_attr(node, "model");
        if (!strcmp(name, "input") && bus && !strcmp(bus, "ps2"))
            skip = true;
        if (!strcmp(name, "input") && type && !strcmp(type, "tablet"))
            skip = def->tablet = true;
        if (!strcmp(name, "rng") && model && !strncmp(model, "virtio", 6))
            skip = def->rng = true;
        if (!strcmp(name, "channel")) {
            /* KubeVirt gives every VM the guest agent's channel */
            FERRY_AUTOFREE char *tname = ferry_xml_str(ctx, node, "string(target/@name)");
            skip = tname && !strcmp(tname, "org.qemu.guest_agent.0");
        }
        if (skip)
            continue;
        const char *note = !strcmp(name, "serial") || !strcmp(name, "console")
                               ? " (KubeVirt gives one serial console: virtctl console)"
                           : !strcmp(name, "hostdev") ? " (host device passthrough)"
                           : !strcmp(name, "filesystem") ? " (a shared host directory)"
                                                          : "";
        const char *detail = type ? type : model ? model : bus;
        ferry_log_warn("'%s': devices/%s%s%s%s: not carried over%s", in->name, name,
                       detail ? " (" : "", detail ? detail : "", detail ? ")" : "", note);
    }
}

static int
libvirt_parse(const struct ferry_input_data *in, struct ferry_vm_list *list)
{
    FERRY_AUTOPTR(xmlXPathContext) ctx = xmlXPathNewContext(in->xml);
    FERRY_AUTOPTR(ferry_vm_def_auto) def = ferry_vm_def_new("libvirt", in->name);
    FERRY_AUTOFREE char *dtype = ferry_xml_str(ctx, NULL, "string(/domain/@type)");
    def->source_vendor = ferry_strdup(dtype && !strcmp(dtype, "xen") ? "xen" : "kvm");
    def->name = ferry_xml_str(ctx, NULL, "string(/domain/name)");
    if (!def->name)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': /domain/name: missing", in->name);
    FERRY_AUTOFREE char *uuid = ferry_xml_str(ctx, NULL, "string(/domain/uuid)");
    if (uuid && !(def->uuid = ferry_vm_uuid_normalize(uuid)))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': /domain/uuid: '%s' is not a UUID", in->name,
                           uuid);
    def->description = ferry_xml_str(ctx, NULL, "string(/domain/description)");
    def->os_id = ferry_xml_str(ctx, NULL,
                               "string(/domain/metadata/*[local-name()='libosinfo']"
                               "/*[local-name()='os']/@id)");

    FERRY_AUTOFREE char *mem = ferry_xml_str(ctx, NULL, "string(/domain/memory)");
    FERRY_AUTOFREE char *unit = ferry_xml_str(ctx, NULL, "string(/domain/memory/@unit)");
    if (!mem)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': /domain/memory: missing", in->name);
    if (scaled(in->name, "/domain/memory", mem, unit, &def->memory) < 0)
        return -1;
    FERRY_AUTOFREE char *vcpu = ferry_xml_str(ctx, NULL, "string(/domain/vcpu)");
    uint64_t v = 1;
    if (vcpu && (!ferry_parse_u64(vcpu, &v) || v == 0))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': /domain/vcpu: '%s' is not a positive number",
                           in->name, vcpu);
    if (ferry_vm_count(in->name, "/domain/vcpu", v, &def->vcpus) < 0)
        return -1;
    static const char *const topo[] = {"sockets", "cores", "threads"};
    unsigned *dst[] = {&def->sockets, &def->cores, &def->threads};
    for (size_t i = 0; i < 3; i++) {
        FERRY_AUTOFREE char *xp = ferry_printf("string(/domain/cpu/topology/@%s)", topo[i]);
        FERRY_AUTOFREE char *s = ferry_xml_str(ctx, NULL, xp);
        uint64_t t;
        if (s && (!ferry_parse_u64(s, &t) || t == 0))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': /domain/cpu/topology@%s: '%s' is not a "
                               "positive number", in->name, topo[i], s);
        FERRY_AUTOFREE char *field = ferry_printf("/domain/cpu/topology@%s", topo[i]);
        if (s && ferry_vm_count(in->name, field, t, dst[i]) < 0)
            return -1;
    }

    FERRY_AUTOFREE char *fw = ferry_xml_str(ctx, NULL, "string(/domain/os/@firmware)");
    FERRY_AUTOFREE char *loader_type = ferry_xml_str(ctx, NULL, "string(/domain/os/loader/@type)");
    FERRY_AUTOFREE char *loader = ferry_xml_str(ctx, NULL, "string(/domain/os/loader)");
    FERRY_AUTOFREE char *secure = ferry_xml_str(ctx, NULL, "string(/domain/os/loader/@secure)");
    FERRY_AUTOFREE char *sbfeat = ferry_xml_str(
        ctx, NULL, "string(/domain/os/firmware/feature[@name='secure-boot']/@enabled)");
    if ((fw && !strcmp(fw, "efi")) || (loader_type && !strcmp(loader_type, "pflash")) ||
        (loader && (strstr(loader, "OVMF") || strstr(loader, "edk2")))) {
        def->firmware = FERRY_FW_EFI;
        def->firmware_known = true;
        def->secure_boot = (secure && !strcmp(secure, "yes")) || (sbfeat && !strcmp(sbfeat, "yes"));
    } else if (fw) {
        def->firmware_known = true;
    }

    FERRY_AUTOPTR(xmlXPathObject) tpm = ferry_xml_nodes(ctx, NULL, "/domain/devices/tpm");
    def->tpm = tpm && tpm->nodesetval && tpm->nodesetval->nodeNr > 0;

    if (parse_disks(in, ctx, def) < 0 || parse_nics(in, ctx, def) < 0)
        return -1;
    report_unmapped(in, ctx, def);
    FERRY_AUTOFREE char *nvram = ferry_xml_str(ctx, NULL, "string(/domain/os/nvram)");
    if (nvram)
        ferry_log_warn("'%s': os/nvram: firmware variable store '%s' not carried over (the "
                       "boot entries start empty)",
                       in->name, nvram);

    FERRY_AUTOPTR(xmlXPathObject) boots = ferry_xml_nodes(ctx, NULL, "/domain/os/boot/@dev");
    FERRY_AUTOSTRV char **classes = NULL;
    for (int i = 0; boots && boots->nodesetval && i < boots->nodesetval->nodeNr; i++) {
        xmlChar *s = xmlNodeGetContent(boots->nodesetval->nodeTab[i]);
        ferry_strv_push(&classes, (const char *)s);
        xmlFree(s);
    }
    ferry_vm_def_boot_classes(def, classes);
    ferry_vm_list_add(list, FERRY_STEAL(def));
    return 0;
}

static const char *const libvirt_extensions[] = { ".xml", NULL };

const struct ferry_input ferry_input_libvirt = {
    .name = "libvirt",
    .description = "libvirt domain XML",
    .title = "libvirt XML",
    .extensions = libvirt_extensions,
    .xml_root = "a libvirt domain",
    .probe = libvirt_probe,
    .parse = libvirt_parse,
};
