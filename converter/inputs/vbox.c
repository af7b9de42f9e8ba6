/* VirtualBox .vbox machine files (settings format 1.x, namespace
 * http://www.virtualbox.org/), read with libxml2 and XPath.  The current
 * state is what Machine/Hardware and Machine/StorageControllers attach;
 * snapshots are ignored.  Media are looked up by uuid anywhere in the
 * MediaRegistry, so that nested (differencing) disks are found too; those
 * need flattening before an import and say so.  Network adapters that are
 * not enabled are skipped (a .vbox lists all eight slots); DisabledModes is
 * ignored, as VirtualBox itself does when the attachment is set.
 */
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "converter/inputs.h"

static bool
vbox_probe(const struct ferry_input_data *in)
{
    xmlNode *root = in->xml ? xmlDocGetRootElement(in->xml) : NULL;
    return root && !strcmp((const char *)root->name, "VirtualBox");
}

static const struct {
    const char *type;
    enum ferry_vm_bus bus;
} controller_types[] = {
    {"PIIX3", FERRY_BUS_IDE},       {"PIIX4", FERRY_BUS_IDE},     {"ICH6", FERRY_BUS_IDE},
    {"AHCI", FERRY_BUS_SATA},       {"LsiLogic", FERRY_BUS_SCSI}, {"BusLogic", FERRY_BUS_SCSI},
    {"LsiLogicSas", FERRY_BUS_SCSI}, {"NVMe", FERRY_BUS_NVME},    {"VirtioSCSI", FERRY_BUS_SCSI},
    {"I82078", FERRY_BUS_FDC},      {"USB", FERRY_BUS_USB},
};

#define X(s) "*[local-name()='" s "']"

static int
parse_storage(const struct ferry_input_data *in, xmlXPathContext *x, xmlNode *machine,
              struct ferry_vm_def *def)
{
    FERRY_AUTOPTR(xmlXPathObject) ctrls =
        ferry_xml_nodes(x, machine, X("StorageControllers") "/" X("StorageController"));
    int nc = ctrls && ctrls->nodesetval ? ctrls->nodesetval->nodeNr : 0;
    int per_bus[FERRY_BUS_FDC + 1] = {0};
    for (int i = 0; i < nc; i++) {
        xmlNode *cn = ctrls->nodesetval->nodeTab[i];
        FERRY_AUTOFREE char *cname = ferry_xml_attr(cn, "name");
        FERRY_AUTOFREE char *ctype = ferry_xml_attr(cn, "type");
        int bus = -1;
        for (size_t k = 0; ctype && k < FERRY_ARRAY_SIZE(controller_types); k++)
            if (!strcmp(ctype, controller_types[k].type))
                bus = (int)controller_types[k].bus;
        if (bus < 0)
            return ferry_error(FERRY_ERR_FORMAT,
                               "'%s': StorageController '%s': type '%s' is not a known "
                               "controller", in->name, cname ? cname : "?", ctype ? ctype : "");
        int index = per_bus[bus]++;
        FERRY_AUTOPTR(xmlXPathObject) devs = ferry_xml_nodes(x, cn, X("AttachedDevice"));
        int nd = devs && devs->nodesetval ? devs->nodesetval->nodeNr : 0;
        for (int j = 0; j < nd; j++) {
            xmlNode *dn = devs->nodesetval->nodeTab[j];
            FERRY_AUTOFREE char *type = ferry_xml_attr(dn, "type");
            FERRY_AUTOFREE char *port = ferry_xml_attr(dn, "port");
            FERRY_AUTOFREE char *device = ferry_xml_attr(dn, "device");
            FERRY_AUTOFREE char *uuid = ferry_xml_str(x, dn, "string(" X("Image") "/@uuid)");
            FERRY_AUTOFREE char *host = ferry_xml_str(x, dn, "string(" X("HostDrive") "/@src)");
            FERRY_AUTOFREE char *where = ferry_printf("%s port %s device %s",
                                                      cname ? cname : "?", port ? port : "0",
                                                      device ? device : "0");
            int p = 0, dv = 0;
            if ((port && !ferry_parse_int(port, 0, FERRY_VM_MAX_SLOT, &p)) ||
                (device && !ferry_parse_int(device, 0, FERRY_VM_MAX_SLOT, &dv)))
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: port and device must be "
                                   "0..%d", in->name, where, FERRY_VM_MAX_SLOT);
            enum ferry_vm_disk_kind kind;
            if (type && !strcmp(type, "HardDisk"))
                kind = FERRY_DISK_DISK;
            else if (type && !strcmp(type, "DVD"))
                kind = FERRY_DISK_CDROM;
            else if (type && !strcmp(type, "Floppy"))
                kind = FERRY_DISK_FLOPPY;
            else
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: AttachedDevice type '%s' unknown",
                                   in->name, where, type ? type : "");
            if (!uuid && kind != FERRY_DISK_FLOPPY) {
                if (kind == FERRY_DISK_DISK)
                    return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: a hard disk needs an Image",
                                       in->name, where);
                ferry_log_warn("'%s': %s: DVD drive without an image%s%s; dropped", in->name,
                               where, host ? " (host drive " : "", host ? host : "");
                if (host)
                    ferry_log_warn("'%s': %s: host drive '%s' dropped", in->name, where, host);
                continue;
            }
            struct ferry_vm_disk *d = ferry_vm_def_add_disk(def);
            d->kind = kind;
            d->bus = (enum ferry_vm_bus)bus;
            d->controller = index;
            d->unit = bus == FERRY_BUS_IDE ? p * 2 + dv : p;
            d->where = FERRY_STEAL(where);
            d->readonly = kind == FERRY_DISK_CDROM;
            if (!uuid)
                continue;
            FERRY_AUTOFREE char *xp =
                ferry_printf("//" X("MediaRegistry") "//*[@uuid='%s']", uuid);
            FERRY_AUTOPTR(xmlXPathObject) media = ferry_xml_nodes(x, NULL, xp);
            if (!media || !media->nodesetval || !media->nodesetval->nodeNr)
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: Image uuid %s is not in the "
                                   "MediaRegistry", in->name, d->where, uuid);
            xmlNode *mn = media->nodesetval->nodeTab[0];
            d->file = ferry_xml_attr(mn, "location");
            FERRY_AUTOFREE char *fmt = ferry_xml_attr(mn, "format");
            if (fmt) {
                d->format = ferry_str_lower(FERRY_STEAL(fmt));
            }
            if (mn->parent && mn->parent->type == XML_ELEMENT_NODE &&
                !strcmp((const char *)mn->parent->name, "HardDisk"))
                ferry_log_warn("'%s': %s: '%s' is a differencing disk (a snapshot); flatten it "
                               "(VBoxManage clonemedium) before the import", in->name, d->where,
                               d->file ? d->file : uuid);
            if (!d->file)
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: medium %s has no location",
                                   in->name, d->where, uuid);
            if (ferry_vm_disk_probe(d, in->dir, in->name) < 0)
                return -1;
        }
    }
    ferry_vm_def_sort_disks(def);
    return 0;
}

static int
parse_network(const struct ferry_input_data *in, xmlXPathContext *x, xmlNode *machine,
              struct ferry_vm_def *def)
{
    FERRY_AUTOPTR(xmlXPathObject) ads =
        ferry_xml_nodes(x, machine, X("Hardware") "/" X("Network") "/" X("Adapter"));
    int n = ads && ads->nodesetval ? ads->nodesetval->nodeNr : 0;
    for (int i = 0; i < n; i++) {
        xmlNode *an = ads->nodesetval->nodeTab[i];
        FERRY_AUTOFREE char *enabled = ferry_xml_attr(an, "enabled");
        if (!ferry_parse_truthy(enabled))
            continue;
        FERRY_AUTOFREE char *slot = ferry_xml_attr(an, "slot");
        FERRY_AUTOFREE char *mac = ferry_xml_attr(an, "MACAddress");
        FERRY_AUTOFREE char *type = ferry_xml_attr(an, "type");
        struct ferry_vm_nic *nic = ferry_vm_def_add_nic(def);
        nic->where = ferry_printf("Adapter slot %s", slot ? slot : "?");
        if (mac && !(nic->mac = ferry_vm_mac_normalize(mac)))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: MACAddress '%s' is not a MAC address",
                               in->name, nic->where, mac);
        nic->mac_static = nic->mac != NULL;
        nic->model = ferry_str_lower(ferry_strdup(type ? type : "Am79C973"));
        /* The attachment is a child element other than DisabledModes. */
        for (xmlNode *ch = an->children; ch; ch = ch->next) {
            if (ch->type != XML_ELEMENT_NODE || !strcmp((const char *)ch->name, "DisabledModes"))
                continue;
            FERRY_AUTOFREE char *name = ferry_xml_attr(ch, "name");
            if (!strcmp((const char *)ch->name, "NAT"))
                nic->network = ferry_strdup("nat");
            else
                nic->network = name ? FERRY_STEAL(name) : ferry_strdup((const char *)ch->name);
            break;
        }
        if (!nic->network)
            nic->network = ferry_strdup("nat");
    }
    return 0;
}

/* One warning per device the machine has that is not carried over: enabled
 * serial and parallel ports, an enabled sound card, shared folders, USB
 * controllers and device filters, the NVRAM (EFI variables) file. */
void
ferry_vbox_report_unmapped(const char *name, xmlXPathContext *x, xmlNode *m, bool in_ovf)
{
    static const struct {
        const char *xpath, *what, *detail;
        bool ovf_item;   /* an OVF export has an Item of its own for it */
    } kinds[] = {
        {X("Hardware") "/" X("UART") "/" X("Port") "[@enabled='true']",
         "serial port (KubeVirt gives one serial console: virtctl console)", "slot", false},
        {X("Hardware") "/" X("LPT") "/" X("Port") "[@enabled='true']", "parallel port", "slot", false},
        {X("Hardware") "/" X("AudioAdapter") "[@enabled='true']", "sound card", "controller",
         true},
        {X("Hardware") "/" X("SharedFolders") "/" X("SharedFolder"), "shared folder", "hostPath", false},
        {X("Hardware") "/" X("USB") "/" X("Controllers") "/" X("Controller"), "USB controller",
         "type", true},
        {X("Hardware") "/" X("USB") "/" X("DeviceFilters") "/" X("DeviceFilter"),
         "USB device filter", "name", false},
        {X("Hardware") "/" X("NVRAM") "[@path]", "firmware variable store (the boot entries "
         "start empty)", "path", false},
    };
    for (size_t k = 0; k < FERRY_ARRAY_SIZE(kinds); k++) {
        if (in_ovf && kinds[k].ovf_item)
            continue;
        FERRY_AUTOPTR(xmlXPathObject) o = ferry_xml_nodes(x, m, kinds[k].xpath);
        int n = o && o->nodesetval ? o->nodesetval->nodeNr : 0;
        for (int i = 0; i < n; i++) {
            xmlNode *node = o->nodesetval->nodeTab[i];
            FERRY_AUTOFREE char *d = ferry_xml_attr(node, kinds[k].detail);
            ferry_log_warn("'%s': Hardware/%s%s%s%s%s: %s not carried over", name,
                           (const char *)node->name, d ? " " : "", d ? kinds[k].detail : "",
                           d ? "=" : "", d ? d : "", kinds[k].what);
        }
    }
}

static int
vbox_parse(const struct ferry_input_data *in, struct ferry_vm_list *list)
{
    FERRY_AUTOPTR(xmlXPathContext) x = xmlXPathNewContext(in->xml);
    FERRY_AUTOPTR(xmlXPathObject) mo = ferry_xml_nodes(x, NULL, "/" X("VirtualBox") "/" X("Machine"));
    if (!mo || !mo->nodesetval || !mo->nodesetval->nodeNr)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': /VirtualBox/Machine: missing (a global "
                           "VirtualBox.xml is not a machine)", in->name);
    xmlNode *m = mo->nodesetval->nodeTab[0];
    FERRY_AUTOPTR(ferry_vm_def_auto) def = ferry_vm_def_new("vbox", in->name);
    def->source_vendor = ferry_strdup("virtualbox");
    def->name = ferry_xml_attr(m, "name");
    if (!def->name)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': Machine@name: missing", in->name);
    FERRY_AUTOFREE char *uuid = ferry_xml_attr(m, "uuid");
    if (uuid && !(def->uuid = ferry_vm_uuid_normalize(uuid)))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': Machine@uuid: '%s' is not a UUID", in->name,
                           uuid);
    def->os_id = ferry_xml_attr(m, "OSType");
    def->description = ferry_xml_str(x, m, "string(" X("Description") ")");

    FERRY_AUTOFREE char *count = ferry_xml_str(x, m, "string(" X("Hardware") "/" X("CPU") "/@count)");
    uint64_t v = 1;
    if (count && (!ferry_parse_u64(count, &v) || v == 0))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': Hardware/CPU@count: '%s' is not a positive "
                           "number", in->name, count);
    if (ferry_vm_count(in->name, "Hardware/CPU@count", v, &def->vcpus) < 0)
        return -1;
    FERRY_AUTOFREE char *ram =
        ferry_xml_str(x, m, "string(" X("Hardware") "/" X("Memory") "/@RAMSize)");
    if (!ram || !ferry_parse_u64(ram, &v) || v == 0)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': Hardware/Memory@RAMSize: '%s' is not a size "
                           "in MiB", in->name, ram ? ram : "");
    if (ferry_vm_bytes(in->name, "Hardware/Memory@RAMSize", v, 1 << 20, &def->memory) < 0)
        return -1;
    FERRY_AUTOFREE char *fw =
        ferry_xml_str(x, m, "string(" X("Hardware") "/" X("Firmware") "/@type)");
    if (fw) {
        def->firmware_known = true;
        if (!strncmp(fw, "EFI", 3))
            def->firmware = FERRY_FW_EFI;
        else if (strcmp(fw, "BIOS"))
            ferry_log_warn("'%s': Firmware@type: '%s' unknown; assuming BIOS", in->name, fw);
    }
    FERRY_AUTOFREE char *sb = ferry_xml_str(
        x, m, "string(" X("Hardware") "/" X("NVRAM") "/@*[local-name()='secureBoot'] | "
              X("Hardware") "/" X("Firmware") "/@secureBoot)");
    def->secure_boot = def->firmware == FERRY_FW_EFI && ferry_parse_truthy(sb);

    FERRY_AUTOFREE char *tpm =
        ferry_xml_str(x, m, "string(" X("Hardware") "/" X("TrustedPlatformModule") "/@type)");
    def->tpm = tpm && strcmp(tpm, "None");

    if (parse_storage(in, x, m, def) < 0 || parse_network(in, x, m, def) < 0)
        return -1;
    ferry_vbox_report_unmapped(in->name, x, m, false);

    /* Boot/Order@position,@device: HardDisk, DVD, Network, Floppy, None. */
    FERRY_AUTOPTR(xmlXPathObject) order =
        ferry_xml_nodes(x, m, X("Hardware") "/" X("Boot") "/" X("Order"));
    int no = order && order->nodesetval ? order->nodesetval->nodeNr : 0;
    FERRY_AUTOSTRV char **classes = NULL;
    for (int pos = 1; pos <= 8; pos++) {
        for (int i = 0; i < no; i++) {
            FERRY_AUTOFREE char *p = ferry_xml_attr(order->nodesetval->nodeTab[i], "position");
            FERRY_AUTOFREE char *dev = ferry_xml_attr(order->nodesetval->nodeTab[i], "device");
            int at;
            if (!ferry_parse_int(p, 1, 8, &at) || at != pos || !dev)
                continue;
            const char *cls = !strcmp(dev, "HardDisk") ? "hd"
                              : !strcmp(dev, "DVD")    ? "cdrom"
                              : !strcmp(dev, "Network") ? "network"
                                                        : NULL;
            if (cls)
                ferry_strv_push(&classes, cls);
        }
    }
    if (classes)
        ferry_vm_def_boot_classes(def, classes);
    ferry_vm_list_add(list, FERRY_STEAL(def));
    return 0;
}

static const char *const vbox_extensions[] = { ".vbox", NULL };

const struct ferry_input ferry_input_vbox = {
    .name = "vbox",
    .description = "VirtualBox .vbox machine settings",
    .title = ".vbox",
    .extensions = vbox_extensions,
    .xml_root = "a VirtualBox machine",
    .probe = vbox_probe,
    .parse = vbox_parse,
};
