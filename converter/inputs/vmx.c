/* VMware .vmx: a line format ("key = "value""), no library parses it, so a
 * small careful reader lives here.  Rules from VMware's files in the wild, as
 * virt-v2v (input/VMX.ml) and libvirt (src/vmx/vmx.c) apply them:
 *  - keys are case-insensitive; values may be quoted, and quoted values
 *    escape bytes as |XX (hex), e.g. |22 for '"' and |7C for '|';
 *  - a `present = "FALSE"` key disables its whole namespace ("scsi0:1.*"),
 *    and a device is present only when `.present` is TRUE; a disabled
 *    controller ("scsi0.present = FALSE") disables its disks too;
 *  - IDE (and hosted-product) disks often lack deviceType: the file name
 *    decides (.iso is a CD-ROM, anything else a disk) as in libvirt;
 *  - ethernetN.addressType "static" keeps the MAC in .address, "generated"
 *    and "vpx" in .generatedAddress;
 *  - firmware = "efi", uefi.secureBoot.enabled;
 *  - disk sizes come from the referenced .vmdk when it is next to the .vmx.
 */
#include <ctype.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "converter/inputs.h"

struct vmx_entry {
    char *key;    /* lower case */
    char *value;  /* unescaped */
    unsigned line;
};

struct vmx {
    const char *name;
    struct vmx_entry *e;
    size_t n, cap;
};

static void
vmx_release(struct vmx *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->e[i].key);
        free(v->e[i].value);
    }
    free(v->e);
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Read one "key = value" line into the table (appended; vmx_read sorts the
 * table once and refuses a key set twice, as VMware does). */
static int
vmx_line(struct vmx *v, char *line, unsigned lineno)
{
    char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p || *p == '#')
        return 0;
    char *eq = strchr(p, '=');
    if (!eq)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: expected 'key = \"value\"', got '%s'",
                           v->name, lineno, p);
    char *kend = eq;
    while (kend > p && isspace((unsigned char)kend[-1]))
        kend--;
    if (kend == p)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: empty key", v->name, lineno);
    FERRY_AUTOFREE char *key = ferry_strndup(p, kend - p);
    for (char *k = key; *k; k++) {
        if (isspace((unsigned char)*k) || *k == '"')
            return ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: invalid key '%s'", v->name,
                               lineno, key);
        *k = (char)tolower((unsigned char)*k);
    }
    char *val = eq + 1;
    while (isspace((unsigned char)*val))
        val++;
    FERRY_AUTOFREE char *out = ferry_malloc(strlen(val) + 1);
    size_t o = 0;
    if (*val == '"') {
        val++;
        char *close = strrchr(val, '"');
        if (!close)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: %s: unterminated quoted value",
                               v->name, lineno, key);
        for (char *c = close + 1; *c; c++)
            if (!isspace((unsigned char)*c))
                return ferry_error(FERRY_ERR_FORMAT,
                                   "'%s': line %u: %s: text after the closing quote", v->name,
                                   lineno, key);
        *close = '\0';
        for (char *c = val; *c; c++) {
            if (*c == '|' && hexval(c[1]) >= 0 && hexval(c[2]) >= 0) {
                out[o++] = (char)(hexval(c[1]) * 16 + hexval(c[2]));
                c += 2;
            } else {
                out[o++] = *c;
            }
        }
    } else {
        size_t n = strlen(val);
        while (n && isspace((unsigned char)val[n - 1]))
            n--;
        memcpy(out, val, n);
        o = n;
    }
    out[o] = '\0';

    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->e = ferry_realloc(v->e, v->cap * sizeof(*v->e));
    }
    v->e[v->n].key = FERRY_STEAL(key);
    v->e[v->n].value = FERRY_STEAL(out);
    v->e[v->n].line = lineno;
    v->n++;
    return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
    const struct vmx_entry *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    return r ? r : (x->line > y->line) - (x->line < y->line);
}

/* Keys are stored lower case and sorted: a lookup is a binary search, so
 * that reading a file is O(n log n) however many keys it has. */
static const struct vmx_entry *
vmx_find(const struct vmx *v, const char *key)
{
    FERRY_AUTOFREE char *buf = ferry_str_lower(ferry_strdup(key));
    struct vmx_entry probe = {.key = buf};
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(v->e[mid].key, probe.key);
        if (r == 0)
            return &v->e[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const char *
vmx_raw(const struct vmx *v, const char *key)
{
    const struct vmx_entry *e = vmx_find(v, key);
    return e ? e->value : NULL;
}

static bool
is_false(const char *s)
{
    return s && (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0"));
}

/* Is namespace NS ("scsi0:1", "ethernet0") disabled by a present = FALSE on
 * itself or on a parent namespace ("scsi0" for "scsi0:1")? */
static bool
vmx_disabled(const struct vmx *v, const char *ns)
{
    FERRY_AUTOFREE char *k = ferry_printf("%s.present", ns);
    if (is_false(vmx_raw(v, k)))
        return true;
    const char *colon = strchr(ns, ':');
    if (colon) {
        FERRY_AUTOFREE char *parent = ferry_printf("%.*s.present", (int)(colon - ns), ns);
        if (is_false(vmx_raw(v, parent)))
            return true;
    }
    return false;
}

/* Value of KEY unless its namespace was disabled. */
static const char *
vmx_get(const struct vmx *v, const char *key)
{
    const char *dot = strrchr(key, '.');
    if (dot) {
        FERRY_AUTOFREE char *ns = ferry_strndup(key, dot - key);
        if (vmx_disabled(v, ns))
            return NULL;
    }
    return vmx_raw(v, key);
}

static const char *
vmx_getf(const struct vmx *v, const char *fmt, const char *ns)
{
    FERRY_AUTOFREE char *key = ferry_printf(fmt, ns);
    return vmx_get(v, key);
}

static int
vmx_uint(const struct vmx *v, const char *key, uint64_t *ret)
{
    const char *s = vmx_get(v, key);
    if (!s)
        return 0;
    if (!ferry_parse_u64(s, ret))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: '%s' is not a number", v->name, key, s);
    return 1;
}

static int
vmx_read(const char *name, const char *buf, size_t len, struct vmx *v)
{
    v->name = name;
    unsigned lineno = 0;
    const char *end = buf + len, *line;
    size_t n;
    for (const char *pos = buf; (line = ferry_text_next_line(&pos, end, &n));) {
        FERRY_AUTOFREE char *copy = ferry_strndup(line, n);
        lineno++;
        size_t l = strlen(copy);
        if (l && copy[l - 1] == '\r')
            copy[l - 1] = '\0';
        if (lineno == 1 && ferry_str_has_prefix(copy, "#!"))
            ;
        else if (vmx_line(v, copy, lineno) < 0)
            return -1;
    }
    if (v->n)
        qsort(v->e, v->n, sizeof(*v->e), entry_cmp);
    for (size_t i = 1; i < v->n; i++)
        if (!strcmp(v->e[i - 1].key, v->e[i].key))
            /* VMware refuses to open such a file: which value would it be? */
            return ferry_error(FERRY_ERR_FORMAT,
                               "'%s': line %u: %s: already set on line %u (VMware refuses a key "
                               "set twice)",
                               name, v->e[i].line, v->e[i].key, v->e[i - 1].line);
    return 0;
}

static bool
vmx_probe(const struct ferry_input_data *in)
{
    if (in->xml || !in->whole)
        return false;
    /* Every VMware product writes at least one of these keys; a line-level
     * look is enough, so that a malformed line is reported by the parser. */
    static const char *const keys[] = {"config.version", "virtualhw.version", ".encoding",
                                       "displayname", "guestos"};
    const char *end = in->buf + in->len, *line;
    size_t n;
    for (const char *pos = in->buf; (line = ferry_text_next_line(&pos, end, &n));) {
        const char *p = ferry_text_skip_blanks(line, end);
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(keys); i++) {
            size_t kl = strlen(keys[i]);
            if ((size_t)(end - p) > kl && !strncasecmp(p, keys[i], kl) &&
                (p[kl] == ' ' || p[kl] == '=' || p[kl] == '\t'))
                return true;
        }
    }
    return false;
}

/* Device type of one slot: disk, CD-ROM, or something to skip (-1). */
static int
slot_kind(const struct vmx *v, const char *ns, const char *type, const char *file,
          enum ferry_vm_bus bus)
{
    static const char *const disk_types[] = {"scsi-harddisk", "disk", "plaindisk", "rawdisk",
                                             "ata-harddisk"};
    static const char *const cd_types[] = {"cdrom-image", "cdrom-raw", "atapi-cdrom"};
    if (!type) {
        /* Hosted products and IDE disks leave deviceType out (libvirt vmx.c). */
        if (file && ferry_str_has_suffix(file, ".iso"))
            return FERRY_DISK_CDROM;
        return FERRY_DISK_DISK;
    }
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(disk_types); i++)
        if (!strcasecmp(type, disk_types[i]))
            return FERRY_DISK_DISK;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(cd_types); i++)
        if (!strcasecmp(type, cd_types[i]))
            return FERRY_DISK_CDROM;
    ferry_log_warn("'%s': %s.deviceType: '%s' (%s) cannot be converted; dropped", v->name, ns,
                   type, ferry_vm_bus_name(bus));
    return -1;
}

struct slot {
    enum ferry_vm_bus bus;
    int controller, unit;
};

/* "scsi0:1" -> bus, 0, 1 */
static bool
parse_slot(const char *ns, struct slot *ret)
{
    static const struct {
        const char *prefix;
        enum ferry_vm_bus bus;
    } buses[] = {
        {"scsi", FERRY_BUS_SCSI},
        {"sata", FERRY_BUS_SATA},
        {"ide", FERRY_BUS_IDE},
        {"nvme", FERRY_BUS_NVME},
    };
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(buses); i++) {
        size_t pl = strlen(buses[i].prefix);
        if (strncmp(ns, buses[i].prefix, pl))
            continue;
        const char *colon = strchr(ns + pl, ':');
        FERRY_AUTOFREE char *cs = colon ? ferry_strndup(ns + pl, colon - (ns + pl)) : NULL;
        int c, u;
        if (cs && ferry_parse_int(cs, 0, FERRY_VM_MAX_SLOT, &c) &&
            ferry_parse_int(colon + 1, 0, FERRY_VM_MAX_SLOT, &u)) {
            ret->bus = buses[i].bus;
            ret->controller = c;
            ret->unit = u;
            return true;
        }
    }
    return false;
}

static int
add_slot(const struct vmx *v, const struct ferry_input_data *in, struct ferry_vm_def *def,
         const char *ns, const struct slot *s)
{
    const char *type = vmx_getf(v, "%s.devicetype", ns);
    const char *file = vmx_getf(v, "%s.filename", ns);
    int kind = slot_kind(v, ns, type, file, s->bus);
    if (kind < 0)
        return 0;
    bool empty = !file || !file[0] || !strcasecmp(file, "emptyBackingString") ||
                 !strcasecmp(file, "auto detect");
    /* A host or client drive (vSphere "atapi-cdrom", clientDevice, a
     * "CD/DVD drive 0" or /dev/cdrom name) is no image anyone can upload. */
    bool host = (type && (!strcasecmp(type, "cdrom-raw") || !strcasecmp(type, "atapi-cdrom"))) ||
                ferry_parse_truthy(vmx_getf(v, "%s.clientdevice", ns)) ||
                (file && ferry_vm_is_host_device(file));
    if (kind == FERRY_DISK_CDROM && (empty || host)) {
        ferry_log_warn("'%s': %s: CD-ROM drive without an image (%s '%s'%s) has nothing to "
                       "carry over; dropped",
                       v->name, ns, type ? type : "fileName", file ? file : "",
                       ferry_parse_truthy(vmx_getf(v, "%s.clientdevice", ns))
                           ? ", a client device"
                       : host && !empty ? ", a host device"
                                        : "");
        return 0;
    }
    if (kind == FERRY_DISK_DISK && empty)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s.fileName: a hard disk needs a file",
                           v->name, ns);
    struct ferry_vm_disk *d = ferry_vm_def_add_disk(def);
    d->kind = kind;
    d->bus = s->bus;
    d->controller = s->controller;
    d->unit = s->unit;
    d->where = ferry_strdup(ns);
    d->file = ferry_strdup(file);
    d->readonly = kind == FERRY_DISK_CDROM;
    FERRY_AUTOFREE char *where = ferry_printf("%s.fileName", ns);
    free(d->where);
    d->where = FERRY_STEAL(where);
    if (ferry_vm_disk_probe(d, in->dir, v->name) < 0)
        return -1;
    free(d->where);
    d->where = ferry_strdup(ns);
    return 0;
}

static int
add_nic(const struct vmx *v, struct ferry_vm_def *def, const char *ns)
{
    struct ferry_vm_nic *nic = ferry_vm_def_add_nic(def);
    nic->where = ferry_strdup(ns);
    const char *atype = vmx_getf(v, "%s.addresstype", ns);
    const char *mac = NULL;
    const char *field = NULL;
    if (atype && !strcasecmp(atype, "static")) {
        mac = vmx_getf(v, "%s.address", ns);
        field = "address";
        nic->mac_static = true;
        if (!mac)
            return ferry_error(FERRY_ERR_FORMAT,
                               "'%s': %s.address: addressType is static but no address is set",
                               v->name, ns);
    } else {
        mac = vmx_getf(v, "%s.generatedaddress", ns);
        field = "generatedAddress";
        if (!mac && (mac = vmx_getf(v, "%s.address", ns))) {
            field = "address";
            nic->mac_static = true;
        }
    }
    if (mac) {
        nic->mac = ferry_vm_mac_normalize(mac);
        if (!nic->mac)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s.%s: '%s' is not a MAC address",
                               v->name, ns, field, mac);
    } else {
        ferry_log_warn("'%s': %s: no MAC address; KubeVirt will generate one", v->name, ns);
    }
    const char *sc = vmx_getf(v, "%s.startconnected", ns);
    if (sc && !ferry_parse_truthy(sc))
        ferry_log_warn("'%s': %s.startConnected: FALSE (not connected at power-on); KubeVirt "
                       "connects every interface",
                       v->name, ns);
    const char *dev = vmx_getf(v, "%s.virtualdev", ns);
    if (dev) {
        nic->model = ferry_str_lower(ferry_strdup(dev));
    }
    const char *net = vmx_getf(v, "%s.networkname", ns);
    const char *ctype = vmx_getf(v, "%s.connectiontype", ns);
    if (!net && ctype && !strcasecmp(ctype, "custom"))
        net = vmx_getf(v, "%s.vnet", ns);   /* Workstation: a VMnetN of the host */
    if (!net)
        net = vmx_getf(v, "%s.connectiontype", ns);
    if (!net)
        net = vmx_getf(v, "%s.dvs.portgroupid", ns);
    nic->network = ferry_strdup(net ? net : ns);
    return 0;
}

/* bios.bootOrder = "hdd,cdrom,ethernet" and bios.hddOrder = "scsi0:1". */
static void
boot_order(const struct vmx *v, struct ferry_vm_def *def)
{
    const char *order = vmx_get(v, "bios.bootorder");
    const char *hdd = vmx_get(v, "bios.hddorder");
    if (!order && !hdd)
        return;
    FERRY_AUTOSTRV char **classes = ferry_strv_split(order ? order : "hdd", ",");
    FERRY_AUTOSTRV char **hdds = hdd ? ferry_strv_split(hdd, ",") : NULL;
    int next = 1;
    for (char **c = classes; *c; c++) {
        char *cls = *c;
        while (isspace((unsigned char)*cls))
            cls++;
        if (!strcasecmp(cls, "hdd")) {
            struct ferry_vm_disk *pick = NULL;
            for (size_t i = 0; hdds && hdds[0] && i < def->ndisks && !pick; i++)
                if (!strcasecmp(def->disks[i].where, hdds[0]))
                    pick = &def->disks[i];
            for (size_t i = 0; i < def->ndisks && !pick; i++)
                if (def->disks[i].kind == FERRY_DISK_DISK)
                    pick = &def->disks[i];
            if (pick && !pick->boot_order)
                pick->boot_order = next++;
        } else if (!strcasecmp(cls, "cdrom")) {
            for (size_t i = 0; i < def->ndisks; i++)
                if (def->disks[i].kind == FERRY_DISK_CDROM && !def->disks[i].boot_order) {
                    def->disks[i].boot_order = next++;
                    break;
                }
        } else if (!strncasecmp(cls, "ethernet", 8) || !strcasecmp(cls, "net")) {
            if (def->nnics && !def->nics[0].boot_order)
                def->nics[0].boot_order = next++;
        }
    }
}

/* Is NS a namespace this reader maps (disk slots, floppies, NICs, disk
 * controllers, the vTPM) or one KubeVirt provides by itself (PCI bridges,
 * the SVGA display, the HPET timer)? */
static bool
ns_mapped(const char *ns)
{
    struct slot s;
    int n;
    if (parse_slot(ns, &s))
        return true;
    static const char *const numbered[] = {"floppy", "ethernet", "scsi", "sata", "ide", "nvme",
                                           "pcibridge"};
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(numbered); i++) {
        size_t pl = strlen(numbered[i]);
        if (!strncmp(ns, numbered[i], pl) && ferry_parse_int(ns + pl, 0, FERRY_VM_MAX_SLOT, &n))
            return true;
    }
    return !strcmp(ns, "svga") || !strcmp(ns, "vtpm") || !strcmp(ns, "hpet0");
}

/* One warning per device the VM has that is not carried over: every
 * "<ns>.present = TRUE" outside what ns_mapped knows, and the NVRAM file. */
static void
report_unmapped(const struct vmx *v)
{
    static const struct {
        const char *prefix, *what;
    } kinds[] = {
        {"serial", "serial port (KubeVirt gives one serial console: virtctl console)"},
        {"parallel", "parallel port"},
        {"sound", "sound card"},
        {"usb_xhci", "USB 3 controller"},
        {"usb:", "USB device"},
        {"usb", "USB controller"},
        {"ehci", "USB 2 controller"},
        {"pcipassthru", "PCI passthrough device"},
        {"sharedfolder", "shared folder"},
        {"vmci", "VMware VMCI device"},
        {"vmotion", "vMotion setting"},
    };
    for (size_t i = 0; i < v->n; i++) {
        const char *key = v->e[i].key;
        const char *dot = strrchr(key, '.');
        if (!dot || strcmp(dot, ".present") || !ferry_parse_truthy(v->e[i].value))
            continue;
        FERRY_AUTOFREE char *ns = ferry_strndup(key, dot - key);
        if (ns_mapped(ns) || vmx_disabled(v, ns))
            continue;
        const char *what = "device";
        for (size_t k = 0; k < FERRY_ARRAY_SIZE(kinds); k++)
            if (ferry_str_has_prefix(ns, kinds[k].prefix)) {
                what = kinds[k].what;
                break;
            }
        const char *detail = vmx_getf(v, "%s.vgpu", ns);   /* a vGPU profile */
        if (!detail && ferry_str_has_prefix(ns, "pcipassthru"))
            detail = vmx_getf(v, "%s.id", ns);            /* the host's PCI address */
        if (!detail)
            detail = vmx_getf(v, "%s.virtualdev", ns);
        if (!detail)
            detail = vmx_getf(v, "%s.hostpath", ns);
        if (!detail)
            detail = vmx_getf(v, "%s.filename", ns);
        ferry_log_warn("'%s': %s: %s%s%s%s not carried over", v->name, ns, what,
                       detail ? " ('" : "", detail ? detail : "", detail ? "')" : "");
    }
    const char *nvram = vmx_get(v, "nvram");
    if (nvram)
        ferry_log_warn("'%s': nvram: firmware variable store '%s' not carried over (the boot "
                       "entries start empty)",
                       v->name, nvram);
}

static int
vmx_parse(const struct ferry_input_data *in, struct ferry_vm_list *list)
{
    struct vmx v = {0};
    FERRY_AUTOPTR(ferry_vm_def_auto) def = ferry_vm_def_new("vmx", in->name);
    int r = -1;
    if (vmx_read(in->name, in->buf, in->len, &v) < 0)
        goto cleanup;
    def->source_vendor = ferry_strdup("vmware");

    const char *name = vmx_get(&v, "displayname");
    if (name && name[0]) {
        def->name = ferry_strdup(name);
    } else {
        def->name = ferry_strdup(in->name);
        char *dot = strrchr(def->name, '.');
        if (dot && dot != def->name)
            *dot = '\0';
        ferry_log_warn("'%s': displayName: not set; using the file name '%s'", in->name,
                       def->name);
    }
    def->os_id = ferry_strdup(vmx_get(&v, "guestos"));
    def->description = ferry_strdup(vmx_get(&v, "annotation"));
    const char *uuid = vmx_get(&v, "uuid.bios");
    if (uuid && !(def->uuid = ferry_vm_uuid_normalize(uuid)))
        ferry_log_warn("'%s': uuid.bios: '%s' is not a UUID; ignored", in->name, uuid);

    uint64_t mem = 32, vcpus = 1, cps = 0;
    if (vmx_uint(&v, "memsize", &mem) < 0 || vmx_uint(&v, "numvcpus", &vcpus) < 0 ||
        vmx_uint(&v, "cpuid.corespersocket", &cps) < 0)
        goto cleanup;
    if (mem == 0 || vcpus == 0) {
        ferry_error(FERRY_ERR_FORMAT, "'%s': %s: must be at least 1", in->name,
                    mem == 0 ? "memsize" : "numvcpus");
        goto cleanup;
    }
    if (ferry_vm_bytes(in->name, "memsize", mem, 1 << 20, &def->memory) < 0 ||
        ferry_vm_count(in->name, "numvcpus", vcpus, &def->vcpus) < 0)
        goto cleanup;
    if (cps) {
        if (vcpus % cps) {
            ferry_error(FERRY_ERR_FORMAT,
                        "'%s': cpuid.coresPerSocket: %llu does not divide numvcpus %llu",
                        in->name, (unsigned long long)cps, (unsigned long long)vcpus);
            goto cleanup;
        }
        if (ferry_vm_count(in->name, "cpuid.coresPerSocket", cps, &def->cores) < 0)
            goto cleanup;
        def->sockets = (unsigned)(vcpus / cps);   /* at most numvcpus */
        def->threads = 1;
    }

    const char *fw = vmx_get(&v, "firmware");
    if (fw) {
        def->firmware_known = true;
        if (!strcasecmp(fw, "efi"))
            def->firmware = FERRY_FW_EFI;
        else if (strcasecmp(fw, "bios"))
            ferry_log_warn("'%s': firmware: '%s' unknown; assuming BIOS", in->name, fw);
    }
    const char *sb = vmx_get(&v, "uefi.secureboot.enabled");
    if (ferry_parse_truthy(sb)) {
        if (def->firmware != FERRY_FW_EFI)
            ferry_log_warn("'%s': uefi.secureBoot.enabled: set without firmware = \"efi\"; "
                           "ignored",
                           in->name);
        else
            def->secure_boot = true;
    }

    def->tpm = ferry_parse_truthy(vmx_get(&v, "vtpm.present"));

    /* Disks: every present slot on every controller kind. */
    for (size_t i = 0; i < v.n; i++) {
        const char *key = v.e[i].key;
        const char *dot = strrchr(key, '.');
        if (!dot || strcmp(dot, ".present") || !ferry_parse_truthy(v.e[i].value))
            continue;
        FERRY_AUTOFREE char *ns = ferry_strndup(key, dot - key);
        struct slot s;
        if (parse_slot(ns, &s)) {
            if (vmx_disabled(&v, ns)) {
                ferry_log_warn("'%s': %s: its controller is not present; dropped", in->name, ns);
                continue;
            }
            if (add_slot(&v, in, def, ns, &s) < 0)
                goto cleanup;
        } else if (!strncmp(ns, "floppy", 6) &&
                   ferry_parse_int(ns + 6, 0, FERRY_VM_MAX_SLOT, &s.unit)) {
            struct ferry_vm_disk *d = ferry_vm_def_add_disk(def);
            d->kind = FERRY_DISK_FLOPPY;
            d->bus = FERRY_BUS_FDC;
            d->controller = 0;
            d->unit = s.unit;
            d->where = ferry_strdup(ns);
            d->file = ferry_strdup(vmx_getf(&v, "%s.filename", ns));
        }
    }
    ferry_vm_def_sort_disks(def);

    /* NICs in slot order. */
    for (int n = 0; n < 100; n++) {
        FERRY_AUTOFREE char *ns = ferry_printf("ethernet%d", n);
        FERRY_AUTOFREE char *pk = ferry_printf("%s.present", ns);
        if (!ferry_parse_truthy(vmx_raw(&v, pk)))
            continue;
        if (add_nic(&v, def, ns) < 0)
            goto cleanup;
    }
    boot_order(&v, def);
    report_unmapped(&v);

    ferry_vm_list_add(list, FERRY_STEAL(def));
    r = 0;
cleanup:
    vmx_release(&v);
    return r;
}

static const char *const vmx_extensions[] = { ".vmx", NULL };

const struct ferry_input ferry_input_vmx = {
    .name = "vmx",
    .description = "VMware .vmx (ESXi, Workstation, Fusion)",
    .title = "VMX",
    .extensions = vmx_extensions,
    .probe = vmx_probe,
    .parse = vmx_parse,
};
