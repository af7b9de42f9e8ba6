/* oVirt / RHV OVF, as ovirt-engine writes it (OvfOvirtWriter: export
 * domains, OVF stores, virt-v2v -o rhv; OvfOvaWriter: OVA export, virt-v2v
 * -o ovirt).  ovf.c recognizes the dialect by content and hands each
 * VirtualSystem (or <Content xsi:type="ovf:VirtualSystem_Type">) here.
 * What differs from DSP0243, and is handled here:
 *  - sections are <Section xsi:type="ovf:DiskSection_Type"> etc. in the
 *    export-domain flavour;
 *  - a disk's bus and boot flag sit on DiskSection/Disk (ovf:disk-interface
 *    VirtIO, VirtIO_SCSI, IDE, SATA, SPAPR_VSCSI; ovf:boot), not on a
 *    controller Item; Item rasd:Parent is the parent *image*, not a
 *    controller; HostResource is "<image group>/<image>" or ovf:/disk/<id>;
 *  - ovf:size/ovf:actual_size are whole GiB, rounded down by the engine:
 *    the image header, when the file is here, wins;
 *  - ResourceType 20 is a monitor, 26 graphics (not SATA, not 24);
 *  - CPU topology in rasd:num_of_sockets, cpu_per_socket, threads_per_cpu;
 *  - NIC rasd:ResourceSubType is VmInterfaceType's number: 0 rtl8139_pv,
 *    1 rtl8139, 2 e1000, 3 pv (virtio), 4 spapr-vlan; the MAC is in
 *    rasd:MACAddress;
 *  - per-device <BootOrder>;
 *  - <BiosType> counts from i440fx+SeaBIOS = 0 in files (the engine's enum
 *    shifted when CLUSTER_DEFAULT became 0; OvfReader adds 1): 0 i440fx
 *    SeaBIOS, 1 q35 SeaBIOS, 2 q35 OVMF, 3 q35 secure boot; absent or -1 is
 *    the cluster's default, which the file does not say;
 *  - the OS is the engine's unique name (rhel_8x64, windows_2019x64) in the
 *    OperatingSystemSection Description, or its number in ovirt:id.
 */
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "converter/inputs.h"
#include "converter/inputs/ovf.h"

#define GiB (1ULL << 30)
#define OVIRT_NS "http://www.ovirt.org/ovf"

/* A section in either spelling: <NAME> or <Section xsi:type="ovf:NAME_Type">. */
#define SECTION(name)                                                                        \
    "*[local-name()='" name "' or (local-name()='Section' and "                              \
    "contains(@*[local-name()='type'], '" name "_Type'))]"

/* osinfo-defaults.properties: os.<unique name>.id.value, for OVA exports
 * whose Description holds the display name instead (or nothing).  The x86_64
 * ids of ovirt-engine 4.5; 36 and 37 as virt-v2v writes them for win11 and
 * win2k22 (lib/create_ovf.ml).  ppc64 (1001-1009) and s390x (2001-2005)
 * guests cannot run as converted here and are left out on purpose. */
static const struct {
    int id;
    const char *name;
} os_ids[] = {
    {0, "other"},           {1, "windows_xp"},        {3, "windows_2003"},
    {4, "windows_2008"},    {5, "other_linux"},       {7, "rhel_5"},
    {8, "rhel_4"},          {9, "rhel_3"},            {10, "windows_2003x64"},
    {11, "windows_7"},      {12, "windows_7x64"},     {13, "rhel_5x64"},
    {14, "rhel_4x64"},      {15, "rhel_3x64"},        {16, "windows_2008x64"},
    {17, "windows_2008R2x64"}, {18, "rhel_6"},        {19, "rhel_6x64"},
    {20, "windows_8"},      {21, "windows_8x64"},     {23, "windows_2012x64"},
    {24, "rhel_7x64"},      {25, "windows_2012R2x64"}, {26, "windows_10"},
    {27, "windows_10x64"},  {28, "rhel_atomic7x64"},  {29, "windows_2016x64"},
    {30, "rhel_8x64"},      {31, "windows_2019x64"},  {33, "other_linux_kernel_4"},
    {34, "rhel_9x64"},      {35, "rhcos_x64"},        {36, "windows_11"},
    {37, "windows_2022"},   {1193, "sles_11"},        {1252, "ubuntu_12_04"},
    {1253, "ubuntu_12_10"}, {1254, "ubuntu_13_04"},   {1255, "ubuntu_13_10"},
    {1256, "ubuntu_14_04"}, {1257, "ubuntu_18_04"},   {1300, "debian_7"},
    {1301, "debian_9"},     {1500, "freebsd"},        {1501, "freebsdx64"},
};

const char *
ferry_ovirt_os_name(uint64_t id)
{
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(os_ids); i++)
        if ((uint64_t)os_ids[i].id == id)
            return os_ids[i].name;
    return NULL;
}

static char *
os_id(struct ovf_ctx *c, xmlNode *vs, const char *vsname)
{
    FERRY_AUTOFREE char *num = ferry_xml_str(
        c->x, vs, "string(" SECTION("OperatingSystemSection") "/@*[local-name()='id' and "
                  "namespace-uri()='" OVIRT_NS "'])");
    uint64_t n;
    const char *name = num && ferry_parse_u64(num, &n) ? ferry_ovirt_os_name(n) : NULL;
    if (name)
        return ferry_strdup(name);
    if (num)
        ferry_log_warn("'%s': %s: ovirt:id '%s' is not an oVirt OS id this reader knows; "
                       "falling back to the Description or the CIM ovf:id", c->name, vsname,
                       num);
    char *desc = ferry_xml_str(c->x, vs, "string(" SECTION("OperatingSystemSection")
                                         "/*[local-name()='Description'])");
    if (desc && !strchr(desc, ' '))
        return desc; /* the unique name: rhel_8x64 */
    /* OVA export: the display name ("Red Hat Enterprise Linux 8.x x64"); the
     * CIM number in ovf:id is coarser but the map knows it. */
    char *cim = ferry_xml_str(
        c->x, vs, "string(" SECTION("OperatingSystemSection") "/@*[local-name()='id' and "
                  "namespace-uri()!='" OVIRT_NS "'])");
    if (cim && ferry_parse_u64(cim, &n)) {
        free(desc);
        return cim;
    }
    free(cim);
    return desc;
}

static int
bios_type(struct ovf_ctx *c, xmlNode *vs, struct ferry_vm_def *def)
{
    FERRY_AUTOFREE char *bt = ferry_ovf_child(c->x, vs, "BiosType");
    if (!bt || !strcmp(bt, "-1")) {
        ferry_log_warn("'%s': %s: firmware is the oVirt cluster's default, which the file does "
                       "not state; assuming BIOS (--inspect finds EFI guests)",
                       c->name, def->name);
        return 0;
    }
    uint64_t v;
    if (!ferry_parse_u64(bt, &v) || v > 3)
        return ferry_error(FERRY_ERR_FORMAT,
                           "'%s': %s: BiosType '%s' is not 0 (i440fx SeaBIOS), 1 (q35 SeaBIOS), "
                           "2 (q35 OVMF) or 3 (q35 secure boot)",
                           c->name, def->name, bt);
    def->firmware_known = true;
    def->firmware = v >= 2 ? FERRY_FW_EFI : FERRY_FW_BIOS;
    def->secure_boot = v == 3;
    return 0;
}

static int
cpu_item(struct ovf_ctx *c, xmlNode *it, const char *where, struct ferry_vm_def *def)
{
    FERRY_AUTOFREE char *qty = ferry_ovf_child(c->x, it, "VirtualQuantity");
    const char *keys[] = {"num_of_sockets", "cpu_per_socket", "threads_per_cpu"};
    uint64_t topo[3] = {0, 0, 0};
    for (size_t k = 0; k < 3; k++) {
        FERRY_AUTOFREE char *s = ferry_ovf_child(c->x, it, keys[k]);
        if (s && (!ferry_parse_u64(s, &topo[k]) || topo[k] == 0 || topo[k] > 4096))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: %s '%s' is not a count",
                               c->name, def->name, where, keys[k], s);
    }
    uint64_t v = 0;
    if (qty && (!ferry_parse_u64(qty, &v) || v == 0 || v > 4096))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: VirtualQuantity '%s' is not a CPU "
                           "count", c->name, def->name, where, qty);
    if (!v)
        v = (topo[0] ? topo[0] : 1) * (topo[1] ? topo[1] : 1) * (topo[2] ? topo[2] : 1);
    if (v > FERRY_VM_MAX_VCPUS)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: the topology makes %llu vCPUs, "
                           "more than %u", c->name, def->name, where, (unsigned long long)v,
                           FERRY_VM_MAX_VCPUS);
    def->vcpus = (unsigned)v;                  /* each at most 4096, checked above */
    def->sockets = (unsigned)topo[0];
    def->cores = (unsigned)topo[1];
    def->threads = (unsigned)topo[2];
    return 0;
}

/* The DiskSection Disk a disk Item refers to. */
static xmlNode *
find_disk(struct ovf_ctx *c, const char *res, const char *iid)
{
    const char *id = NULL;
    const char *attr = "fileRef";
    if (res && (id = strstr(res, "/disk/"))) {
        id += 6;
        attr = "diskId";
    } else if (res) {
        id = res;
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            /* the engine's InstanceId is the image id, its Disk's diskId */
            id = iid;
            attr = "diskId";
        }
        if (!id || strchr(id, '\''))
            continue;
        FERRY_AUTOFREE char *xp = ferry_printf(
            "//" SECTION("DiskSection") "/*[local-name()='Disk'][@*[local-name()='%s']='%s']",
            attr, id);
        FERRY_AUTOPTR(xmlXPathObject) o = ferry_xml_nodes(c->x, NULL, xp);
        if (o && o->nodesetval && o->nodesetval->nodeNr)
            return o->nodesetval->nodeTab[0];
    }
    return NULL;
}

static int
disk_bus(struct ovf_ctx *c, const char *vsname, const char *where, const char *iface,
         struct ferry_vm_disk *d)
{
    static const struct {
        const char *name;
        enum ferry_vm_bus bus;
        bool paravirt;
    } map[] = {
        {"VirtIO", FERRY_BUS_VIRTIO, false}, {"VirtIO_SCSI", FERRY_BUS_SCSI, true},
        {"SPAPR_VSCSI", FERRY_BUS_SCSI, false}, {"IDE", FERRY_BUS_IDE, false},
        {"SATA", FERRY_BUS_SATA, false},
    };
    if (!iface) {
        ferry_log_warn("'%s': %s: %s: no ovf:disk-interface; assuming VirtIO", c->name, vsname,
                       where);
        d->bus = FERRY_BUS_VIRTIO;
        return 0;
    }
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(map); i++)
        if (!strcasecmp(iface, map[i].name)) {
            d->bus = map[i].bus;
            d->paravirt = map[i].paravirt;
            return 0;
        }
    return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: ovf:disk-interface '%s' is not VirtIO, "
                       "VirtIO_SCSI, SPAPR_VSCSI, IDE or SATA", c->name, vsname, where, iface);
}

/* Capacity from the Disk: ovf:capacity (+ units) when written (virt-v2v,
 * OVA export), else ovf:size in GiB, or ovf:actual_size when larger. */
static int
disk_capacity(struct ovf_ctx *c, const char *vsname, const char *where, xmlNode *dn,
              struct ferry_vm_disk *d)
{
    FERRY_AUTOFREE char *cap = ferry_xml_attr(dn, "capacity");
    FERRY_AUTOFREE char *units = ferry_xml_attr(dn, "capacityAllocationUnits");
    uint64_t v, mult = 1;
    if (cap) {
        if (!ferry_parse_u64(cap, &v))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: ovf:capacity '%s' is not a "
                               "number", c->name, vsname, where, cap);
        if (units && !(mult = ferry_ovf_alloc_units(units)))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: capacityAllocationUnits '%s' "
                               "is not a unit", c->name, vsname, where, units);
    } else {
        FERRY_AUTOFREE char *size = ferry_xml_attr(dn, "size");
        FERRY_AUTOFREE char *actual = ferry_xml_attr(dn, "actual_size");
        if (!size)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: Disk has neither ovf:size nor "
                               "ovf:capacity", c->name, vsname, where);
        if (!ferry_parse_u64(size, &v))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: ovf:size '%s' is not a number "
                               "of GiB", c->name, vsname, where, size);
        uint64_t a;
        if (actual && ferry_parse_u64(actual, &a) && a > v)
            v = a;
        mult = GiB;
    }
    if (v > UINT64_MAX / mult)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: disk capacity too large", c->name,
                           vsname, where);
    d->capacity = v * mult;
    return 0;
}

/* The image file: next to the OVF, in the OVA, or where an export domain
 * keeps it (<domain>/images/<group>/<image>, the OVF being in
 * <domain>/master/vms/<vm>/). */
static int
disk_file(struct ovf_ctx *c, const char *vsname, const char *where, struct ferry_vm_disk *d)
{
    if (c->members || !c->dir)
        return ferry_ovf_locate_file(c, vsname, where, d);
    uint64_t from_ovf = d->capacity;
    d->capacity = 0; /* the image header knows better than whole GiB */
    if (ferry_vm_disk_probe(d, c->dir, c->name) < 0)
        return -1;
    if (!d->path) {
        FERRY_AUTOFREE char *dom = ferry_printf("%s/../../../images", c->dir);
        if (ferry_vm_disk_probe(d, dom, c->name) < 0)
            return -1;
    }
    if (!d->capacity)
        d->capacity = from_ovf;
    return 0;
}

static int
item_boot_order(struct ovf_ctx *c, xmlNode *it)
{
    FERRY_AUTOFREE char *bo = ferry_ovf_child(c->x, it, "BootOrder");
    int v;
    return bo && ferry_parse_int(bo, 1, FERRY_VM_MAX_BOOT_ORDER - 1, &v) ? v : 0;
}

static int
disk_item(struct ovf_ctx *c, xmlNode *it, const char *iid, struct ferry_vm_def *def,
          int *per_bus, bool *boot_flag)
{
    const char *vsname = def->name;
    FERRY_AUTOFREE char *res = ferry_ovf_child(c->x, it, "HostResource");
    xmlNode *dn = find_disk(c, res, iid);
    if (!dn)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: Item %s: disk '%s' is not in the "
                           "DiskSection", c->name, vsname, iid ? iid : "?",
                           res ? res : iid ? iid : "");
    FERRY_AUTOFREE char *disk_id = ferry_xml_attr(dn, "diskId");
    FERRY_AUTOFREE char *alias = ferry_xml_attr(dn, "disk-alias");
    FERRY_AUTOFREE char *stype = ferry_xml_attr(dn, "disk_storage_type");
    FERRY_AUTOFREE char *where = ferry_printf("disk '%s'", alias ? alias : disk_id);
    if (stype && !strcasecmp(stype, "LUN")) {
        ferry_log_warn("'%s': %s: %s: a direct LUN has no image to import; dropped", c->name,
                       vsname, where);
        return 0;
    }
    FERRY_AUTOFREE char *parent = ferry_xml_attr(dn, "parentRef");
    if (parent && parent[0])
        ferry_log_warn("'%s': %s: %s: a snapshot layer over '%s'; flatten the chain "
                       "(qemu-img convert) before the import", c->name, vsname, where, parent);

    struct ferry_vm_disk *d = ferry_vm_def_add_disk(def);
    d->kind = FERRY_DISK_DISK;
    d->where = FERRY_STEAL(where);
    FERRY_AUTOFREE char *iface = ferry_xml_attr(dn, "disk-interface");
    if (disk_bus(c, vsname, d->where, iface, d) < 0)
        return -1;
    d->controller = 0;
    d->unit = per_bus[d->bus]++;
    FERRY_AUTOFREE char *ro = ferry_xml_attr(dn, "read-only");
    d->readonly = ferry_parse_truthy(ro);
    FERRY_AUTOFREE char *boot = ferry_xml_attr(dn, "boot");
    if (ferry_parse_truthy(boot)) {
        if (*boot_flag)
            ferry_log_warn("'%s': %s: %s: a second disk marked bootable; the first keeps "
                           "boot order 1", c->name, vsname, d->where);
        else
            d->boot_order = -1; /* resolved once every BootOrder is known */
        *boot_flag = true;
    }
    int bo = item_boot_order(c, it);
    if (bo)
        d->boot_order = bo;

    FERRY_AUTOFREE char *vfmt = ferry_xml_attr(dn, "volume-format");
    if (vfmt && !strcasecmp(vfmt, "COW"))
        d->format = ferry_strdup("qcow2");
    else if (vfmt && !strcasecmp(vfmt, "RAW"))
        d->format = ferry_strdup("raw");
    if (disk_capacity(c, vsname, d->where, dn, d) < 0)
        return -1;

    FERRY_AUTOFREE char *fileref = ferry_xml_attr(dn, "fileRef");
    if (fileref && !strchr(fileref, '\'')) {
        FERRY_AUTOFREE char *xp = ferry_printf(
            "string(//*[local-name()='References']/*[local-name()='File'][@*[local-name()='id']="
            "'%s' or @*[local-name()='href']='%s']/@*[local-name()='href'])",
            fileref, fileref);
        d->file = ferry_xml_str(c->x, NULL, xp);
        if (!d->file)
            d->file = FERRY_STEAL(fileref);
    }
    if (!d->file) {
        ferry_log_warn("'%s': %s: %s: no file in the export; it is created blank", c->name,
                       vsname, d->where);
        return 0;
    }
    return disk_file(c, vsname, d->where, d);
}

static void
cdrom_item(struct ovf_ctx *c, xmlNode *it, const char *iid, struct ferry_vm_def *def,
           int *per_bus)
{
    FERRY_AUTOFREE char *file = ferry_ovf_child(c->x, it, "HostResource");
    if (!file)
        file = ferry_xml_str(c->x, it, "string(*[local-name()='SpecParams']/"
                                       "*[local-name()='path'])");
    if (!file) {
        ferry_log_warn("'%s': %s: Item %s: CD-ROM without an image; dropped", c->name,
                       def->name, iid ? iid : "?");
        return;
    }
    /* The ISO lives on an ISO domain or data domain, not in the export:
     * keep the drive only when the image was copied next to the OVF, else a
     * DataVolume without a size would not apply. */
    struct ferry_vm_disk cd = {
        .kind = FERRY_DISK_CDROM,
        .bus = FERRY_BUS_IDE, /* oVirt's cdInterface on x86 */
        .file = file,
    };
    if (c->dir)
        ferry_vm_disk_probe(&cd, c->dir, c->name);
    if (!cd.path) {
        ferry_log_warn("'%s': %s: Item %s: CD-ROM image '%s' is on an oVirt storage domain, "
                       "not next to the export; dropped", c->name, def->name,
                       iid ? iid : "?", file);
        free(cd.format);
        return;
    }
    struct ferry_vm_disk *d = ferry_vm_def_add_disk(def);
    *d = cd;
    d->controller = 0;
    d->unit = per_bus[FERRY_BUS_IDE]++;
    d->readonly = true;
    d->where = ferry_printf("CD-ROM '%s'", ferry_vm_basename(file));
    d->file = FERRY_STEAL(file);
    d->boot_order = item_boot_order(c, it);
}

static int
nic_item(struct ovf_ctx *c, xmlNode *it, const char *iid, struct ferry_vm_def *def, int index)
{
    static const char *const models[] = {"rtl8139", "rtl8139", "e1000", "virtio",
                                         "spapr-vlan"};
    struct ferry_vm_nic *nic = ferry_vm_def_add_nic(def);
    FERRY_AUTOFREE char *name = ferry_ovf_child(c->x, it, "Name");
    nic->where = ferry_printf("NIC '%s'", name ? name : iid ? iid : "?");
    FERRY_AUTOFREE char *sub = ferry_ovf_child(c->x, it, "ResourceSubType");
    uint64_t t;
    if (sub && ferry_parse_u64(sub, &t)) {
        if (t >= FERRY_ARRAY_SIZE(models))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: ResourceSubType '%s' is not an "
                               "oVirt NIC type (0 rtl8139_pv, 1 rtl8139, 2 e1000, 3 pv, "
                               "4 spaprVlan)", c->name, def->name, nic->where, sub);
        nic->model = ferry_strdup(models[t]);
    } else if (sub) {
        ferry_str_lower(sub); /* a name: "pv", "e1000" */
        nic->model = ferry_strdup(!strcmp(sub, "pv") ? "virtio"
                                  : !strcmp(sub, "rtl8139_pv") ? "rtl8139" : sub);
    }
    if (nic->model && !strcmp(nic->model, "virtio"))
        def->virtio_seen = true;
    FERRY_AUTOFREE char *mac = ferry_ovf_child(c->x, it, "MACAddress");
    if (mac && !(nic->mac = ferry_vm_mac_normalize(mac)))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %s: MACAddress '%s' is not a MAC "
                           "address", c->name, def->name, nic->where, mac);
    nic->mac_static = nic->mac != NULL; /* from oVirt's MAC pool, pinned to the VM */
    nic->network = ferry_ovf_child(c->x, it, "Connection");
    if (!nic->network) {
        ferry_log_warn("'%s': %s: %s: not connected to a network in oVirt (empty vNIC "
                       "profile); it takes the next free network", c->name, def->name,
                       nic->where);
        nic->network = ferry_printf("eth%d", index);
    }
    FERRY_AUTOFREE char *linked = ferry_ovf_child(c->x, it, "Linked");
    if (linked && !ferry_parse_truthy(linked))
        ferry_log_warn("'%s': %s: %s: link was down in oVirt; it comes up in KubeVirt",
                       c->name, def->name, nic->where);
    nic->boot_order = item_boot_order(c, it);
    return 0;
}

int
ferry_ovf_ovirt_parse_system(struct ovf_ctx *c, xmlNode *vs, struct ferry_vm_list *list)
{
    FERRY_AUTOPTR(ferry_vm_def_auto) def =
        ferry_vm_def_new(c->members ? "ova" : "ovf", c->in->name);
    def->source_vendor = ferry_strdup("ovirt");
    def->name = ferry_ovf_child(c->x, vs, "Name");
    if (!def->name)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': oVirt VirtualSystem without Name", c->name);
    const char *vsname = def->name;
    def->description = ferry_ovf_child(c->x, vs, "Description");
    if (!def->description)
        def->description = ferry_ovf_child(c->x, vs, "Comment");
    def->source_version = ferry_ovf_child(c->x, vs, "ClusterCompatibilityVersion");
    FERRY_AUTOFREE char *id = ferry_xml_attr(vs, "id");
    def->uuid = id ? ferry_vm_uuid_normalize(id) : NULL;
    if (!def->uuid) {
        /* export domain: Content's id is "out"; the VM id is on the OS section */
        FERRY_AUTOFREE char *osid = ferry_xml_str(
            c->x, vs, "string(" SECTION("OperatingSystemSection") "/@*[local-name()='id'])");
        def->uuid = osid ? ferry_vm_uuid_normalize(osid) : NULL;
    }
    def->os_id = os_id(c, vs, vsname);
    if (bios_type(c, vs, def) < 0)
        return -1;

    FERRY_AUTOPTR(xmlXPathObject) items = ferry_xml_nodes(
        c->x, vs, SECTION("VirtualHardwareSection") "/*[local-name()='Item']");
    int n = items && items->nodesetval ? items->nodesetval->nodeNr : 0;
    int per_bus[FERRY_BUS_FDC + 1] = {0};
    bool have_mem = false, boot_flag = false;
    int nics = 0;
    for (int i = 0; i < n; i++) {
        xmlNode *it = items->nodesetval->nodeTab[i];
        FERRY_AUTOFREE char *rt = ferry_ovf_child(c->x, it, "ResourceType");
        FERRY_AUTOFREE char *iid = ferry_ovf_child(c->x, it, "InstanceId");
        if (!iid)
            iid = ferry_ovf_child(c->x, it, "InstanceID");
        FERRY_AUTOFREE char *type = ferry_ovf_child(c->x, it, "Type");
        FERRY_AUTOFREE char *device = ferry_ovf_child(c->x, it, "Device");
        uint64_t code;
        if (!rt || !ferry_parse_u64(rt, &code))
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: Item %s: ResourceType '%s' is not "
                               "a number", c->name, vsname, iid ? iid : "?", rt ? rt : "");
        FERRY_AUTOFREE char *where = ferry_printf("Item %s (ResourceType %s)",
                                                  iid ? iid : "?", rt);
        int r = 0;
        switch (code) {
        case 3:
            r = cpu_item(c, it, where, def);
            break;
        case 4:
            r = ferry_ovf_item_memory(c, it, vsname, where, &def->memory);
            have_mem = r == 0;
            break;
        case 17:
            r = disk_item(c, it, iid, def, per_bus, &boot_flag);
            break;
        case 15:
        case 16:
            cdrom_item(c, it, iid, def, per_bus);
            break;
        case 14:
            ferry_log_warn("'%s': %s: %s: floppy drive cannot be attached in KubeVirt; "
                           "dropped", c->name, vsname, where);
            break;
        case 10:
            r = nic_item(c, it, iid, def, nics++);
            break;
        default:
            /* 0 other (controllers, balloon, rng, tpm ...), 20/32768 monitor,
             * 23 USB, 26 graphics */
            if ((type && !strcasecmp(type, "tpm")) || (device && !strcasecmp(device, "tpm")))
                def->tpm = true;
            else if (type && !strcasecmp(type, "rng") && device && !strcasecmp(device, "virtio"))
                def->rng = true;
            else if (type && !strcasecmp(type, "hostdev"))
                ferry_log_warn("'%s': %s: %s: host device passthrough ('%s') is not carried "
                               "over", c->name, vsname, where, device ? device : "");
            else if (type && (!strcasecmp(type, "sound") || !strcasecmp(type, "smartcard") ||
                              !strcasecmp(type, "redir") || !strcasecmp(type, "watchdog") ||
                              !strcasecmp(type, "rng") || !strcasecmp(type, "console") ||
                              !strcasecmp(type, "serial")))
                ferry_log_warn("'%s': %s: %s: %s device '%s' not carried over", c->name, vsname,
                               where, type, device ? device : "");
            break;
        }
        if (r < 0)
            return -1;
    }
    if (!have_mem)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: no memory Item (ResourceType 4)",
                           c->name, vsname);
    if (!def->vcpus)
        def->vcpus = 1;

    /* Boot: the engine's per-device BootOrder when any is written; else the
     * disk flagged ovf:boot goes first. */
    bool explicit_order = false;
    for (size_t i = 0; i < def->ndisks; i++)
        explicit_order |= def->disks[i].boot_order > 0;
    for (size_t i = 0; i < def->nnics; i++)
        explicit_order |= def->nics[i].boot_order > 0;
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i].boot_order < 0)
            def->disks[i].boot_order = explicit_order ? 0 : 1;
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i].kind == FERRY_DISK_DISK &&
            (def->disks[i].bus == FERRY_BUS_VIRTIO || def->disks[i].paravirt))
            def->virtio_seen = true;
    ferry_vm_def_sort_disks(def);
    ferry_vm_list_add(list, FERRY_STEAL(def));
    return 0;
}
