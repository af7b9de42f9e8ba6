/* OVF 0.9/1.x/2.0 descriptors (DSP0243) and OVA archives (tar, read with
 * libarchive without unpacking).  Elements are matched by local name so that
 * prefixed (ovf:Item), default-namespace and OVF 2.0 (StorageItem,
 * EthernetPortItem) spellings all work.  Traps handled here:
 *  - AllocationUnits in every spelling: "byte * 2^20", "byte*2^30",
 *    "byte * 1024", "MegaBytes", "MB", "GigaBytes" (VirtualBox and oVirt
 *    mean binary units);
 *  - DiskSection capacity with capacityAllocationUnits, or "${property}"
 *    resolved from ProductSection;
 *  - ResourceType 20 ("other storage") is SATA in VMware and VirtualBox
 *    files, NVMe only when the subtype says so;
 *  - DeploymentOptionSection: Items carrying ovf:configuration belong only
 *    to the default configuration (or the first);
 *  - VirtualSystemCollection: one VM per VirtualSystem;
 *  - firmware and secure boot in vmw:Config or vmw:ExtraConfig.
 * Envelopes ovirt-engine wrote are recognized here by content and read by
 * ovirt.c.  Inside an OVA each disk records its archive member, so that
 * --inspect can open it in place.
 */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "converter/inputs.h"
#include "converter/inputs/ovf.h"

#define OVF_MAX (16u << 20)

static bool
ovf_probe(const struct ferry_input_data *in)
{
    xmlNode *root = in->xml ? xmlDocGetRootElement(in->xml) : NULL;
    return root && !strcmp((const char *)root->name, "Envelope") && root->ns &&
           (strstr((const char *)root->ns->href, "dmtf.org/ovf/envelope") ||
            strstr((const char *)root->ns->href, "vmware.com/schema/ovf"));
}

uint64_t
ferry_ovf_alloc_units(const char *s)
{
    char buf[64];
    size_t n = 0;
    for (; *s && n < sizeof(buf) - 1; s++)
        if (!isspace((unsigned char)*s))
            buf[n++] = (char)tolower((unsigned char)*s);
    buf[n] = '\0';
    static const struct {
        const char *name;
        uint64_t mult;
    } named[] = {
        {"bytes", 1},          {"kilobytes", 1 << 10}, {"kb", 1 << 10},  {"kib", 1 << 10},
        {"megabytes", 1 << 20}, {"mb", 1 << 20},       {"mib", 1 << 20}, {"gigabytes", 1ULL << 30},
        {"gb", 1ULL << 30},    {"gib", 1ULL << 30},    {"terabytes", 1ULL << 40},
        {"tb", 1ULL << 40},    {"tib", 1ULL << 40},    {"megabyte", 1 << 20},
    };
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(named); i++)
        if (!strcmp(buf, named[i].name))
            return named[i].mult;
    if (strncmp(buf, "byte", 4))
        return 0;
    const char *p = buf + 4;
    uint64_t mult = 1;
    while (*p) {
        if (*p != '*')
            return 0;
        p++;
        char *end;
        errno = 0;
        unsigned long long base = strtoull(p, &end, 10);   /* range-checked by errno */
        if (end == p || base == 0 || errno)
            return 0;
        p = end;
        uint64_t term = base;
        if (*p == '^') {
            p++;
            unsigned long long exp = strtoull(p, &end, 10);   /* 0..63 */
            if (end == p || exp > 63)
                return 0;
            p = end;
            term = 1;
            for (unsigned long long k = 0; k < exp; k++) {
                if (term > UINT64_MAX / base)
                    return 0;
                term *= base;
            }
        }
        if (term == 0 || mult > UINT64_MAX / term)
            return 0;
        mult *= term;
    }
    return mult;
}

int
ferry_ovf_item_memory(struct ovf_ctx *c, xmlNode *it, const char *vsname, const char *where,
                      uint64_t *ret)
{
    FERRY_AUTOFREE char *qty = ferry_ovf_child(c->x, it, "VirtualQuantity");
    FERRY_AUTOFREE char *units = ferry_ovf_child(c->x, it, "AllocationUnits");
    uint64_t v, mult = 1 << 20;

    if (!ferry_parse_u64(qty, &v) || v == 0)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: VirtualQuantity '%s' is not a "
                           "memory size", c->name, vsname, where, qty ? qty : "");
    if (units && !(mult = ferry_ovf_alloc_units(units)))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: AllocationUnits '%s' is not a unit",
                           c->name, vsname, where, units);
    if (!units && !c->ovirt)
        ferry_log_warn("'%s': %s: %s: no AllocationUnits; assuming MiB", c->name, vsname, where);
    if (v > UINT64_MAX / mult)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: memory too large", c->name, vsname,
                           where);
    *ret = v * mult;
    return 0;
}

char *
ferry_ovf_child(xmlXPathContext *ctx, xmlNode *node, const char *local)
{
    FERRY_AUTOFREE char *xp = ferry_printf("string(*[local-name()='%s'])", local);
    return ferry_xml_str(ctx, node, xp);
}

/* ITEM's ResourceType (-1 when missing or not a number), its InstanceID
 * (NULL when missing) and how messages name it ("Item 3 (ResourceType 17)"). */
static int
item_type(struct ovf_ctx *c, xmlNode *item, char **ret_iid, char **ret_where)
{
    FERRY_AUTOFREE char *rt = ferry_ovf_child(c->x, item, "ResourceType");
    int type = -1;

    *ret_iid = ferry_ovf_child(c->x, item, "InstanceID");
    if (rt && !ferry_parse_int(rt, 0, 65535, &type))
        type = -1;
    *ret_where = ferry_printf("Item %s (ResourceType %s)", *ret_iid ? *ret_iid : "?",
                              rt ? rt : "?");
    return type;
}

/* Is ITEM part of the selected deployment configuration? */
static bool
in_config(struct ovf_ctx *c, xmlNode *item)
{
    FERRY_AUTOFREE char *cfg = ferry_xml_attr(item, "configuration");
    if (!cfg)
        return true;
    if (!c->config)
        return true;
    FERRY_AUTOSTRV char **ids = ferry_strv_split(cfg, " ");
    for (char **p = ids; p && *p; p++)
        if (!strcmp(*p, c->config))
            return true;
    return false;
}

/* ${name} -> ProductSection Property default value. */
static char *
resolve_property(struct ovf_ctx *c, const char *value)
{
    size_t n = strlen(value);
    if (n < 4 || strncmp(value, "${", 2) || value[n - 1] != '}')
        return ferry_strdup(value);
    FERRY_AUTOFREE char *key = ferry_strndup(value + 2, n - 3);
    FERRY_AUTOFREE char *xp = ferry_printf(
        "string(//*[local-name()='Property'][@*[local-name()='key']='%s']/@*[local-name()='value'])",
        key);
    return ferry_xml_str(c->x, NULL, xp);
}

/* Fill capacity/file for "ovf:/disk/<id>" or "ovf:/file/<id>". */
static int
host_resource(struct ovf_ctx *c, const char *vsname, const char *where, const char *res,
              struct ferry_vm_disk *d)
{
    const char *id;
    bool disk = true;
    if ((id = strstr(res, "/disk/")))
        id += 6;
    else if ((id = strstr(res, "/file/"))) {
        id += 6;
        disk = false;
    } else {
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: HostResource '%s' is not "
                           "ovf:/disk/<id> or ovf:/file/<id>", c->name, vsname, where, res);
    }
    FERRY_AUTOFREE char *fileref = NULL;
    if (disk) {
        FERRY_AUTOFREE char *xp = ferry_printf(
            "//*[local-name()='DiskSection']/*[local-name()='Disk'][@*[local-name()='diskId']='%s']",
            id);
        FERRY_AUTOPTR(xmlXPathObject) o = ferry_xml_nodes(c->x, NULL, xp);
        if (!o || !o->nodesetval || !o->nodesetval->nodeNr)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: HostResource '%s': no Disk with "
                               "diskId '%s' in DiskSection", c->name, vsname, where, res, id);
        xmlNode *dn = o->nodesetval->nodeTab[0];
        FERRY_AUTOFREE char *cap_raw = ferry_xml_attr(dn, "capacity");
        FERRY_AUTOFREE char *units = ferry_xml_attr(dn, "capacityAllocationUnits");
        fileref = ferry_xml_attr(dn, "fileRef");
        d->format = ferry_xml_attr(dn, "format");
        if (d->format) {
            /* a URI such as http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized */
            char *f = d->format;
            if (strstr(f, "vmdk"))
                d->format = ferry_strdup("vmdk");
            else if (strstr(f, "qcow2") || strstr(f, "qcow"))
                d->format = ferry_strdup("qcow2");
            else if (strstr(f, "vhd"))
                d->format = ferry_strdup("vhd");
            else
                d->format = ferry_strdup("raw");
            free(f);
        }
        FERRY_AUTOFREE char *cap = cap_raw ? resolve_property(c, cap_raw) : NULL;
        uint64_t v = 0, mult = 1;
        if (!cap_raw)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': DiskSection/Disk '%s': capacity missing",
                               c->name, id);
        if (!cap || !ferry_parse_u64(cap, &v))
            return ferry_error(FERRY_ERR_FORMAT,
                               "'%s': DiskSection/Disk '%s': capacity '%s' is not a number",
                               c->name, id, cap_raw);
        if (units && !(mult = ferry_ovf_alloc_units(units)))
            return ferry_error(FERRY_ERR_FORMAT,
                               "'%s': DiskSection/Disk '%s': capacityAllocationUnits '%s' is not "
                               "a unit", c->name, id, units);
        if (v > UINT64_MAX / mult)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': DiskSection/Disk '%s': capacity too large",
                               c->name, id);
        d->capacity = v * mult;
        if (!fileref) {
            /* An empty disk: CDI creates it blank at the right size. */
            ferry_log_warn("'%s': %s: %s: disk '%s' has no file in the package; it is created "
                           "blank", c->name, vsname, where, id);
            return 0;
        }
    } else {
        fileref = ferry_strdup(id);
    }
    FERRY_AUTOFREE char *fxp = ferry_printf(
        "//*[local-name()='References']/*[local-name()='File'][@*[local-name()='id']='%s']",
        fileref);
    FERRY_AUTOPTR(xmlXPathObject) fo = ferry_xml_nodes(c->x, NULL, fxp);
    if (!fo || !fo->nodesetval || !fo->nodesetval->nodeNr)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: file '%s' is not in References",
                           c->name, vsname, where, fileref);
    xmlNode *fn = fo->nodesetval->nodeTab[0];
    d->file = ferry_xml_attr(fn, "href");
    if (!d->file)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': References/File '%s': href missing", c->name,
                           fileref);
    FERRY_AUTOFREE char *chunk = ferry_xml_attr(fn, "chunkSize");
    if (chunk)
        ferry_log_warn("'%s': %s: file '%s' is split in chunks of %s bytes; join them before "
                       "the import", c->name, vsname, d->file, chunk);
    FERRY_AUTOFREE char *comp = ferry_xml_attr(fn, "compression");
    if (comp && strcmp(comp, "identity"))
        ferry_log_warn("'%s': %s: file '%s' is %s-compressed; CDI decompresses gzip on import",
                       c->name, vsname, d->file, comp);
    if (!disk) {
        FERRY_AUTOFREE char *size = ferry_xml_attr(fn, "size");
        uint64_t v;
        if (size && ferry_parse_u64(size, &v))
            d->capacity = v;
    }
    return ferry_ovf_locate_file(c, vsname, where, d);
}

int
ferry_ovf_locate_file(struct ovf_ctx *c, const char *vsname, const char *where,
                      struct ferry_vm_disk *d)
{
    if (c->members) {
        const char *found = NULL;
        for (char **m = c->members; *m && !found; m++)
            if (!strcmp(ferry_vm_basename(*m), ferry_vm_basename(d->file)))
                found = *m;
        if (!found) {
            ferry_log_warn("'%s': %s: %s: file '%s' is not in the archive", c->name, vsname,
                           where, d->file);
        } else if (c->archive) {
            d->archive = ferry_strdup(c->archive);
            d->member = ferry_strdup(found);
        }
    } else if (c->dir) {
        if (ferry_vm_disk_probe(d, c->dir, c->name) < 0)
            return -1;
    }
    return 0;
}

/* VirtualBox keeps the MACs only in its embedded vbox:Machine: the Nth
 * enabled adapter there is the Nth NIC Item. */
static char *
vbox_mac(struct ovf_ctx *c, xmlNode *vs, int index)
{
    FERRY_AUTOPTR(xmlXPathObject) ads = ferry_xml_nodes(
        c->x, vs, ".//*[local-name()='Machine']/*[local-name()='Hardware']/"
                  "*[local-name()='Network']/*[local-name()='Adapter']");
    int n = ads && ads->nodesetval ? ads->nodesetval->nodeNr : 0;
    for (int i = 0, k = 0; i < n; i++) {
        FERRY_AUTOFREE char *enabled = ferry_xml_attr(ads->nodesetval->nodeTab[i], "enabled");
        if (!ferry_parse_truthy(enabled))
            continue;
        if (k++ == index) {
            FERRY_AUTOFREE char *mac = ferry_xml_attr(ads->nodesetval->nodeTab[i], "MACAddress");
            return mac ? ferry_vm_mac_normalize(mac) : NULL;
        }
    }
    return NULL;
}

/* DiskSection Disks no Item attaches (an oVirt direct LUN listed only
 * there) and References Files no Disk or Item uses (an NVRAM file): each is
 * named, since it is not carried over.  An Item refers to a Disk by
 * ovf:/disk/<diskId>, by its fileRef or, in oVirt, by InstanceId. */
static void
report_unreferenced(struct ovf_ctx *c)
{
    FERRY_AUTOPTR(xmlXPathObject) items = ferry_xml_nodes(
        c->x, NULL, "//*[local-name()='VirtualHardwareSection' or (local-name()='Section' and "
                    "contains(@*[local-name()='type'], 'VirtualHardwareSection'))]/*");
    int ni = items && items->nodesetval ? items->nodesetval->nodeNr : 0;
    FERRY_AUTOSTRV char **refs = NULL;   /* HostResource and InstanceId texts */
    for (int i = 0; i < ni; i++) {
        xmlNode *it = items->nodesetval->nodeTab[i];
        FERRY_AUTOFREE char *res = ferry_ovf_child(c->x, it, "HostResource");
        FERRY_AUTOFREE char *iid = ferry_ovf_child(c->x, it, "InstanceId");
        if (res)
            ferry_strv_push(&refs, res);
        if (iid)
            ferry_strv_push(&refs, iid);
    }
    FERRY_AUTOSTRV char **used_files = NULL;
    FERRY_AUTOPTR(xmlXPathObject) disks = ferry_xml_nodes(
        c->x, NULL, "//*[local-name()='DiskSection' or (local-name()='Section' and "
                    "contains(@*[local-name()='type'], 'DiskSection'))]/*[local-name()='Disk']");
    int nd = disks && disks->nodesetval ? disks->nodesetval->nodeNr : 0;
    for (int i = 0; i < nd; i++) {
        xmlNode *dn = disks->nodesetval->nodeTab[i];
        FERRY_AUTOFREE char *id = ferry_xml_attr(dn, "diskId");
        FERRY_AUTOFREE char *fref = ferry_xml_attr(dn, "fileRef");
        if (fref && !fref[0]) {
            free(fref);
            fref = NULL;
        }
        if (id && !id[0]) {
            free(id);
            id = NULL;
        }
        bool used = false;
        for (char **r = refs; r && *r && !used; r++) {
            const char *tail = strrchr(*r, '/');
            tail = tail ? tail + 1 : *r;
            used = (id && (!strcmp(tail, id) || !strcmp(*r, id))) ||
                   (fref && (!strcmp(*r, fref) || ferry_str_has_suffix(*r, fref)));
        }
        if (used) {
            if (fref)
                ferry_strv_push(&used_files, fref);
            continue;
        }
        FERRY_AUTOFREE char *alias = ferry_xml_attr(dn, "disk-alias");
        FERRY_AUTOFREE char *stype = ferry_xml_attr(dn, "disk_storage_type");
        FERRY_AUTOFREE char *detail =
            alias || stype ? ferry_printf(" (%s%s%s%s%s)", alias ? "'" : "", alias ? alias : "",
                                          alias ? "'" : "", alias && stype ? ", " : "",
                                          stype ? stype : "")
                           : ferry_strdup("");
        ferry_log_warn("'%s': DiskSection/Disk '%s'%s: no Item attaches it to a VM; not carried "
                       "over",
                       c->name, id ? id : "?", detail);
    }
    FERRY_AUTOPTR(xmlXPathObject) files = ferry_xml_nodes(
        c->x, NULL, "//*[local-name()='References']/*[local-name()='File']");
    int nf = files && files->nodesetval ? files->nodesetval->nodeNr : 0;
    for (int i = 0; i < nf; i++) {
        xmlNode *fn = files->nodesetval->nodeTab[i];
        FERRY_AUTOFREE char *id = ferry_xml_attr(fn, "id");
        FERRY_AUTOFREE char *href = ferry_xml_attr(fn, "href");
        bool used = false;
        for (char **u = used_files; u && *u && !used; u++)
            used = id && !strcmp(*u, id);
        for (char **r = refs; r && *r && !used; r++)
            used = (id && ferry_str_has_suffix(*r, id)) || (href && !strcmp(*r, href));
        if (!used)
            ferry_log_warn("'%s': References/File '%s' ('%s'): no disk uses it; not carried "
                           "over",
                           c->name, id ? id : "?", href ? href : "");
    }
}

struct controller {
    const char *id;
    enum ferry_vm_bus bus;
    int index;
};

static int
parse_system(struct ovf_ctx *c, xmlNode *vs, struct ferry_vm_list *list)
{
    FERRY_AUTOPTR(ferry_vm_def_auto) def =
        ferry_vm_def_new(c->members ? "ova" : "ovf", c->in->name);
    def->name = ferry_ovf_child(c->x, vs, "Name");
    if (!def->name)
        def->name = ferry_xml_attr(vs, "id");
    if (!def->name)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': VirtualSystem without Name or ovf:id",
                           c->name);
    const char *vsname = def->name;
    def->source_vendor = ferry_strdup(c->vbox ? "virtualbox" : "vmware");
    def->description = ferry_xml_str(c->x, vs, "string(*[local-name()='AnnotationSection']/"
                                                "*[local-name()='Annotation'])");

    /* OS: vSphere guestId, VirtualBox OSType, else the CIM number. */
    def->os_id = ferry_xml_str(c->x, vs, "string(*[local-name()='OperatingSystemSection']/"
                                         "@*[local-name()='osType'])");
    if (!def->os_id)
        def->os_id = ferry_xml_str(c->x, vs, "string(*[local-name()='OperatingSystemSection']/"
                                             "*[local-name()='OSType'])");
    if (!def->os_id) {
        def->os_id = ferry_xml_str(c->x, vs, "string(*[local-name()='OperatingSystemSection']/"
                                             "@*[local-name()='id'])");
    } else {
        /* the map tells VMware and VirtualBox spellings apart by source */
        if (c->vbox) {
            free(def->source_format);
            def->source_format = ferry_strdup("vbox");
        }
    }

    FERRY_AUTOPTR(xmlXPathObject) items = ferry_xml_nodes(
        c->x, vs, "*[local-name()='VirtualHardwareSection']/*[local-name()='Item' or "
                  "local-name()='StorageItem' or local-name()='EthernetPortItem']");
    int n = items && items->nodesetval ? items->nodesetval->nodeNr : 0;
    struct controller ctrls[64];
    size_t nctrl = 0;
    FERRY_AUTOSTRV char **ctrl_ids = NULL;   /* owns ctrls[].id */
    int per_bus[FERRY_BUS_FDC + 1] = {0};
    bool have_mem = false, have_cpu = false;

    /* First pass: controllers, CPU, memory. */
    for (int i = 0; i < n; i++) {
        xmlNode *it = items->nodesetval->nodeTab[i];
        if (!in_config(c, it))
            continue;
        FERRY_AUTOFREE char *iid = NULL, *where = NULL;
        int type = item_type(c, it, &iid, &where);
        FERRY_AUTOFREE char *sub = ferry_ovf_child(c->x, it, "ResourceSubType");
        FERRY_AUTOFREE char *qty = ferry_ovf_child(c->x, it, "VirtualQuantity");
        FERRY_AUTOFREE char *addr = ferry_ovf_child(c->x, it, "Address");
        if (type == 3) {
            uint64_t v;
            if (!ferry_parse_u64(qty, &v) || v == 0)
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: VirtualQuantity '%s' is not "
                                   "a CPU count", c->name, vsname, where, qty ? qty : "");
            FERRY_AUTOFREE char *field = ferry_printf("%s: %s: VirtualQuantity", vsname, where);
            if (ferry_vm_count(c->name, field, v, &def->vcpus) < 0)
                return -1;
            FERRY_AUTOFREE char *cps = ferry_ovf_child(c->x, it, "CoresPerSocket");
            uint64_t k;
            if (cps && ferry_parse_range(cps, 1, v, &k) && v % k == 0) {
                def->cores = (unsigned)k;              /* at most vcpus */
                def->sockets = (unsigned)(v / k);
                def->threads = 1;
            }
            have_cpu = true;
        } else if (type == 4) {
            if (ferry_ovf_item_memory(c, it, vsname, where, &def->memory) < 0)
                return -1;
            have_mem = true;
        } else if (type == 5 || type == 6 || type == 20 || type == 7) {
            if (nctrl == FERRY_ARRAY_SIZE(ctrls))
                continue;
            enum ferry_vm_bus bus = type == 5 ? FERRY_BUS_IDE : type == 6 ? FERRY_BUS_SCSI
                                                                          : FERRY_BUS_SATA;
            if (type == 20 && sub && strcasestr(sub, "nvme"))
                bus = FERRY_BUS_NVME;
            if (type == 7)
                bus = FERRY_BUS_SCSI; /* Fibre Channel HBA: SCSI disks */
            int index;
            if (!addr || !ferry_parse_int(addr, 0, FERRY_VM_MAX_SLOT, &index))
                index = per_bus[bus];
            per_bus[bus]++;
            ferry_strv_push(&ctrl_ids, iid ? iid : "");
            ctrls[nctrl].id = ctrl_ids[ferry_strv_len(ctrl_ids) - 1];
            ctrls[nctrl].bus = bus;
            ctrls[nctrl].index = index;
            nctrl++;
        }
    }
    if (!have_mem) {
        ferry_log_warn("'%s': %s: no memory Item (ResourceType 4); assuming 1 GiB", c->name,
                       vsname);
        def->memory = 1ULL << 30;
    }
    if (!have_cpu)
        def->vcpus = 1;

    /* Second pass: disks, CD-ROMs, floppies, NICs, in document order. */
    int nic_index = 0;
    for (int i = 0; i < n; i++) {
        xmlNode *it = items->nodesetval->nodeTab[i];
        if (!in_config(c, it))
            continue;
        FERRY_AUTOFREE char *iid = NULL, *where = NULL;
        int type = item_type(c, it, &iid, &where);
        if (type == 17 || type == 15 || type == 16 || type == 14) {
            FERRY_AUTOFREE char *parent = ferry_ovf_child(c->x, it, "Parent");
            FERRY_AUTOFREE char *aop = ferry_ovf_child(c->x, it, "AddressOnParent");
            FERRY_AUTOFREE char *res = ferry_ovf_child(c->x, it, "HostResource");
            struct ferry_vm_disk d = {.controller = -1, .unit = -1};
            d.kind = type == 17 ? FERRY_DISK_DISK : type == 14 ? FERRY_DISK_FLOPPY
                                                               : FERRY_DISK_CDROM;
            d.bus = type == 14 ? FERRY_BUS_FDC : FERRY_BUS_IDE;
            bool found = type == 14 || !parent;
            for (size_t k = 0; k < nctrl && parent; k++)
                if (!strcmp(ctrls[k].id, parent)) {
                    d.bus = ctrls[k].bus;
                    d.controller = ctrls[k].index;
                    found = true;
                }
            if (!found)
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: Parent '%s' is not a disk "
                                   "controller Item", c->name, vsname, where, parent);
            if (!aop || !ferry_parse_int(aop, 0, FERRY_VM_MAX_SLOT, &d.unit))
                d.unit = 0;
            FERRY_AUTOFREE char *sub = ferry_ovf_child(c->x, it, "ResourceSubType");
            if (d.kind == FERRY_DISK_CDROM && res && sub &&
                (strcasestr(sub, "passthrough") || strcasestr(sub, "atapi") ||
                 strcasestr(sub, "remote"))) {
                /* vSphere's host or client drive: vmware.cdrom.remotepassthrough ... */
                ferry_log_warn("'%s': %s: %s: CD-ROM drive is a host or client device (%s), "
                               "not an image; dropped",
                               c->name, vsname, where, sub);
                continue;
            }
            if (d.kind != FERRY_DISK_DISK && !res) {
                if (d.kind == FERRY_DISK_CDROM)
                    ferry_log_warn("'%s': %s: %s: CD-ROM drive without an image%s%s%s; dropped",
                                   c->name, vsname, where, sub ? " (" : "", sub ? sub : "",
                                   sub ? ")" : "");
                else
                    ferry_log_warn("'%s': %s: %s: floppy drive cannot be attached in KubeVirt; "
                                   "dropped", c->name, vsname, where);
                continue;
            }
            if (!res)
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: a disk needs HostResource",
                                   c->name, vsname, where);
            struct ferry_vm_disk *dd = ferry_vm_def_add_disk(def);
            *dd = d;
            dd->where = FERRY_STEAL(where);
            dd->readonly = d.kind == FERRY_DISK_CDROM;
            if (host_resource(c, vsname, dd->where, res, dd) < 0)
                return -1;
        } else if (type == 10) {
            struct ferry_vm_nic *nic = ferry_vm_def_add_nic(def);
            nic->where = ferry_printf("Item %s (NIC %d)", iid ? iid : "?", nic_index++);
            FERRY_AUTOFREE char *mac = ferry_ovf_child(c->x, it, "Address");
            if (mac && !(nic->mac = ferry_vm_mac_normalize(mac)))
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: Address '%s' is not a MAC "
                                   "address", c->name, vsname, nic->where, mac);
            if (!mac && c->vbox)
                nic->mac = vbox_mac(c, vs, nic_index - 1);
            nic->mac_static = nic->mac != NULL;
            nic->model = ferry_str_lower(ferry_ovf_child(c->x, it, "ResourceSubType"));
            nic->network = ferry_ovf_child(c->x, it, "Connection");
            if (!nic->network)
                nic->network = ferry_printf("eth%d", nic_index - 1);
        } else if (type != 3 && type != 4 && type != 5 && type != 6 && type != 7 && type != 20 &&
                   type != 24) {
            /* PCI passthrough and vGPUs (ResourceType 1 vmware.pci.*), sound,
             * serial and parallel ports, USB, VMCI ...  The graphics card (24)
             * is KubeVirt's own VGA display. */
            FERRY_AUTOFREE char *ename = ferry_ovf_child(c->x, it, "ElementName");
            FERRY_AUTOFREE char *sub = ferry_ovf_child(c->x, it, "ResourceSubType");
            ferry_log_warn("'%s': %s: %s: '%s'%s%s%s not carried over", c->name, vsname, where,
                           ename ? ename : "", sub ? " (" : "", sub ? sub : "", sub ? ")" : "");
        }
    }
    ferry_vm_def_sort_disks(def);

    /* Firmware: vmw:Config or vmw:ExtraConfig key=firmware; secure boot flags. */
    FERRY_AUTOFREE char *fw = ferry_xml_str(
        c->x, vs, "string(*[local-name()='VirtualHardwareSection']/*[(local-name()='Config' or "
                  "local-name()='ExtraConfig') and @*[local-name()='key']='firmware']/"
                  "@*[local-name()='value'])");
    FERRY_AUTOFREE char *sb = ferry_xml_str(
        c->x, vs, "string(*[local-name()='VirtualHardwareSection']/*[(local-name()='Config' or "
                  "local-name()='ExtraConfig') and (@*[local-name()='key']='uefi.secureBoot."
                  "enabled' or @*[local-name()='key']='bootOptions.efiSecureBootEnabled')]/"
                  "@*[local-name()='value'])");
    if (c->vbox) {
        FERRY_AUTOPTR(xmlXPathObject) mo = ferry_xml_nodes(c->x, vs, ".//*[local-name()='Machine']");
        if (mo && mo->nodesetval && mo->nodesetval->nodeNr)
            ferry_vbox_report_unmapped(c->name, c->x, mo->nodesetval->nodeTab[0], true);
    }
    if (!fw && c->vbox) {
        FERRY_AUTOFREE char *vfw = ferry_xml_str(
            c->x, vs, "string(.//*[local-name()='Machine']/*[local-name()='Hardware']/"
                      "*[local-name()='Firmware']/@type)");
        if (vfw && !strncasecmp(vfw, "EFI", 3))
            fw = ferry_strdup("efi");
    }
    if (fw) {
        def->firmware_known = true;
        if (!strcasecmp(fw, "efi"))
            def->firmware = FERRY_FW_EFI;
        else if (strcasecmp(fw, "bios"))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: firmware: '%s' is not efi or bios",
                               c->name, vsname, fw);
    }
    if (ferry_parse_truthy(sb) && def->firmware == FERRY_FW_EFI)
        def->secure_boot = true;

    ferry_vm_list_add(list, FERRY_STEAL(def));
    return 0;
}

/* ovirt-engine's OVF: the envelope namespace with a trailing slash (kept
 * "for forward compatibility"), the ovirt namespace (OVA export, virt-v2v
 * -o ovirt), or xsi:type'd Section/Content elements (export domain, OVF
 * store, virt-v2v -o rhv). */
static bool
is_ovirt(xmlXPathContext *x, xmlNode *root)
{
    if (root->ns && ferry_str_has_suffix((const char *)root->ns->href, "/envelope/1/"))
        return true;
    for (xmlNs *ns = root->nsDef; ns; ns = ns->next)
        if (strstr((const char *)ns->href, "ovirt.org/ovf"))
            return true;
    FERRY_AUTOPTR(xmlXPathObject) o = ferry_xml_nodes(
        x, NULL, "/*/*[local-name()='Content' and contains(@*[local-name()='type'], "
                 "'VirtualSystem_Type')]");
    return o && o->nodesetval && o->nodesetval->nodeNr > 0;
}

static int
parse_envelope(const struct ferry_input_data *in, xmlDoc *doc, const char *dir, char **members,
               const char *archive, struct ferry_vm_list *list)
{
    FERRY_AUTOPTR(xmlXPathContext) x = xmlXPathNewContext(doc);
    struct ovf_ctx c = {.in = in, .name = in->name, .dir = dir, .x = x, .members = members,
                        .archive = archive};
    xmlNode *root = xmlDocGetRootElement(doc);
    for (xmlNs *ns = root->nsDef; ns; ns = ns->next)
        if (strstr((const char *)ns->href, "virtualbox.org"))
            c.vbox = true;
    c.ovirt = is_ovirt(x, root);

    FERRY_AUTOPTR(xmlXPathObject) configs = ferry_xml_nodes(
        x, NULL, "//*[local-name()='DeploymentOptionSection']/*[local-name()='Configuration']");
    int nc = configs && configs->nodesetval ? configs->nodesetval->nodeNr : 0;
    for (int i = 0; i < nc && !c.config; i++) {
        FERRY_AUTOFREE char *dflt = ferry_xml_attr(configs->nodesetval->nodeTab[i], "default");
        if (ferry_parse_truthy(dflt))
            c.config = ferry_xml_attr(configs->nodesetval->nodeTab[i], "id");
    }
    if (!c.config && nc)
        c.config = ferry_xml_attr(configs->nodesetval->nodeTab[0], "id");
    if (nc > 1)
        ferry_log_warn("'%s': deployment options: %d configurations; using '%s'", in->name, nc,
                       c.config);

    FERRY_AUTOPTR(xmlXPathObject) systems = ferry_xml_nodes(
        x, NULL, "//*[local-name()='VirtualSystem' or (local-name()='Content' and "
                 "contains(@*[local-name()='type'], 'VirtualSystem_Type'))]");
    int r = 0;
    int ns = systems && systems->nodesetval ? systems->nodesetval->nodeNr : 0;
    if (ns == 0)
        r = ferry_error(FERRY_ERR_FORMAT, "'%s': no VirtualSystem in the envelope", in->name);
    for (int i = 0; i < ns && r == 0; i++)
        r = c.ovirt ? ferry_ovf_ovirt_parse_system(&c, systems->nodesetval->nodeTab[i], list)
                    : parse_system(&c, systems->nodesetval->nodeTab[i], list);
    if (r == 0)
        report_unreferenced(&c);
    free(c.config);
    return r;
}

static int
ovf_parse(const struct ferry_input_data *in, struct ferry_vm_list *list)
{
    return parse_envelope(in, in->xml, in->dir, NULL, NULL, list);
}

static const char *const ovf_extensions[] = { ".ovf", NULL };

const struct ferry_input ferry_input_ovf = {
    .name = "ovf",
    .description = "OVF 0.9/1.x/2.0 descriptor",
    .title = "OVF",
    .extensions = ovf_extensions,
    .xml_root = "an OVF envelope",
    .probe = ovf_probe,
    .parse = ovf_parse,
};

/* --- OVA: a tar whose first .ovf member is the descriptor. --- */

typedef struct archive ferry_archive; /* FERRY_AUTOPTR wants one identifier */
static void
archive_free_(struct archive *a)
{
    archive_read_free(a);
}
FERRY_DEFINE_AUTOPTR(ferry_archive, archive_free_)

static bool
ova_probe(const struct ferry_input_data *in)
{
    return in->len >= 262 && !memcmp(in->buf + 257, "ustar", 5);
}

static int
ova_parse(const struct ferry_input_data *in, struct ferry_vm_list *list)
{
    FERRY_AUTOPTR(ferry_archive) a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_filter_all(a);
    if (archive_read_open_filename(a, in->path, 1 << 16) != ARCHIVE_OK)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s", in->name, archive_error_string(a));
    FERRY_AUTOSTRV char **members = NULL;
    FERRY_AUTOFREE char *ovf = NULL;
    FERRY_AUTOFREE char *ovf_name = NULL;
    size_t ovf_len = 0;
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name)
            continue;
        ferry_strv_push(&members, name);
        if (!ovf && ferry_str_has_suffix(name, ".ovf")) {
            int64_t size = archive_entry_size(e);
            if (size <= 0)
                return ferry_error(FERRY_ERR_FORMAT, "'%s': member '%s': empty descriptor",
                                   in->name, name);
            if (size > OVF_MAX)
                return ferry_error(FERRY_ERR_FORMAT,
                                   "'%s': member '%s': %lld bytes; larger than the %u MiB an OVF "
                                   "descriptor may have",
                                   in->name, name, (long long)size, OVF_MAX >> 20);
            ovf = ferry_malloc((size_t)size + 1);
            la_ssize_t got = archive_read_data(a, ovf, (size_t)size);
            if (got != size)
                return ferry_error(FERRY_ERR_FORMAT, "'%s': member '%s': short read", in->name,
                                   name);
            ovf[size] = '\0';
            ovf_len = (size_t)size;
            ovf_name = ferry_strdup(name);
        }
    }
    if (r != ARCHIVE_EOF)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s", in->name, archive_error_string(a));
    if (!ovf)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': no .ovf descriptor in the archive", in->name);
    FERRY_AUTOFREE char *label = ferry_printf("%s/%s", in->name, ovf_name);
    FERRY_AUTOPTR(xmlDoc) doc = NULL;
    if (ferry_xml_parse(label, ovf, ovf_len, &doc) < 0)
        return -1;
    struct ferry_input_data sub = *in;
    sub.xml = doc;
    if (!ovf_probe(&sub))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': '%s' is not an OVF envelope", in->name,
                           ovf_name);
    FERRY_AUTOFREE char *abs = realpath(in->path, NULL);
    return parse_envelope(&sub, doc, NULL, members, abs ? abs : in->path, list);
}

static const char *const ova_extensions[] = { ".ova", NULL };

const struct ferry_input ferry_input_ova = {
    .name = "ova",
    .description = "OVA archive (tar) holding an OVF descriptor and its disks",
    .title = "OVA",
    .extensions = ova_extensions,
    .archive = true,
    .probe = ova_probe,
    .parse = ova_parse,
};
