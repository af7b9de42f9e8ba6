/* The neutral VM model: lifetime, the small normalizers every parser needs
 * (MAC, UUID, paths), the libvirt disk order, and the virtual size of the
 * disk files a definition refers to, which the image library (image.h)
 * probes and reads with the importer's own format readers.
 */
#include "converter/vm_def.h"

#include <ctype.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "image/image.h"

struct ferry_vm_def *
ferry_vm_def_new(const char *source_format, const char *source_file)
{
    struct ferry_vm_def *def = ferry_calloc(1, sizeof(*def));
    def->source_format = ferry_strdup(source_format);
    def->source_file = ferry_strdup(source_file ? ferry_vm_basename(source_file) : NULL);
    return def;
}

void
ferry_vm_def_free(struct ferry_vm_def *def)
{
    if (!def)
        return;
    free(def->name);
    free(def->source_format);
    free(def->source_vendor);
    free(def->source_file);
    free(def->uuid);
    free(def->os_id);
    free(def->description);
    free(def->source_version);
    for (size_t i = 0; i < def->ndisks; i++) {
        free(def->disks[i].where);
        free(def->disks[i].file);
        free(def->disks[i].path);
        free(def->disks[i].format);
        free(def->disks[i].archive);
        free(def->disks[i].member);
    }
    free(def->disks);
    for (size_t i = 0; i < def->nnics; i++) {
        free(def->nics[i].where);
        free(def->nics[i].mac);
        free(def->nics[i].model);
        free(def->nics[i].network);
    }
    free(def->nics);
    free(def->inspect.type);
    free(def->inspect.distro);
    free(def->inspect.product);
    free(def->inspect.arch);
    free(def->inspect.osinfo);
    free(def->conversion.result);
    free(def->conversion.changes);
    free(def);
}

void
ferry_vm_list_free(struct ferry_vm_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        ferry_vm_def_free(list->vms[i]);
    free(list->vms);
    list->vms = NULL;
    list->n = 0;
}

void
ferry_vm_list_add(struct ferry_vm_list *list, struct ferry_vm_def *def)
{
    list->vms = ferry_realloc(list->vms, (list->n + 1) * sizeof(*list->vms));
    list->vms[list->n++] = def;
}

struct ferry_vm_disk *
ferry_vm_def_add_disk(struct ferry_vm_def *def)
{
    def->disks = ferry_realloc(def->disks, (def->ndisks + 1) * sizeof(*def->disks));
    struct ferry_vm_disk *d = &def->disks[def->ndisks++];
    memset(d, 0, sizeof(*d));
    d->controller = -1;
    d->unit = -1;
    return d;
}

struct ferry_vm_nic *
ferry_vm_def_add_nic(struct ferry_vm_def *def)
{
    def->nics = ferry_realloc(def->nics, (def->nnics + 1) * sizeof(*def->nics));
    struct ferry_vm_nic *n = &def->nics[def->nnics++];
    memset(n, 0, sizeof(*n));
    return n;
}

void
ferry_vm_def_sort_disks(struct ferry_vm_def *def)
{
    /* Insertion sort: stable, and definitions hold a handful of disks. */
    for (size_t i = 1; i < def->ndisks; i++) {
        struct ferry_vm_disk key = def->disks[i];
        size_t j = i;
        while (j > 0) {
            const struct ferry_vm_disk *p = &def->disks[j - 1];
            bool after = p->bus > key.bus ||
                         (p->bus == key.bus && (p->controller > key.controller ||
                                                (p->controller == key.controller &&
                                                 p->unit > key.unit)));
            if (!after)
                break;
            def->disks[j] = def->disks[j - 1];
            j--;
        }
        def->disks[j] = key;
    }
}

void
ferry_vm_def_boot_classes(struct ferry_vm_def *def, char *const *classes)
{
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i].boot_order)
            return;
    for (size_t i = 0; i < def->nnics; i++)
        if (def->nics[i].boot_order)
            return;
    int next = 1;
    for (; classes && *classes; classes++) {
        const char *c = *classes;
        if (!strcmp(c, "hd") || !strcmp(c, "cdrom")) {
            enum ferry_vm_disk_kind kind = !strcmp(c, "hd") ? FERRY_DISK_DISK : FERRY_DISK_CDROM;
            for (size_t i = 0; i < def->ndisks; i++)
                if (def->disks[i].kind == kind) {
                    if (!def->disks[i].boot_order)
                        def->disks[i].boot_order = next++;
                    break;
                }
        } else if (!strcmp(c, "network") && def->nnics && !def->nics[0].boot_order) {
            def->nics[0].boot_order = next++;
        }
    }
}

const char *
ferry_vm_bus_name(enum ferry_vm_bus bus)
{
    static const char *const names[] = {
        [FERRY_BUS_VIRTIO] = "virtio", [FERRY_BUS_XEN] = "xen", [FERRY_BUS_SCSI] = "scsi",
        [FERRY_BUS_SATA] = "sata",     [FERRY_BUS_IDE] = "ide", [FERRY_BUS_NVME] = "nvme",
        [FERRY_BUS_USB] = "usb",       [FERRY_BUS_FDC] = "fdc",
    };
    return bus < FERRY_ARRAY_SIZE(names) && names[bus] ? names[bus] : "?";
}

/* Collect exactly N hex digits from S, skipping separators in SEPS. */
static bool
collect_hex(const char *s, const char *seps, char *out, size_t n)
{
    size_t k = 0;
    for (; *s; s++) {
        if (isxdigit((unsigned char)*s)) {
            if (k == n)
                return false;
            out[k++] = (char)tolower((unsigned char)*s);
        } else if (!strchr(seps, *s)) {
            return false;
        }
    }
    out[k] = '\0';
    return k == n;
}

char *
ferry_vm_mac_normalize(const char *s)
{
    char hex[13];
    if (!s || !collect_hex(s, ":-. ", hex, 12))
        return NULL;
    return ferry_printf("%.2s:%.2s:%.2s:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4, hex + 6,
                        hex + 8, hex + 10);
}

char *
ferry_vm_uuid_normalize(const char *s)
{
    char hex[33];
    if (!s || !collect_hex(s, " -{}", hex, 32))
        return NULL;
    return ferry_printf("%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

bool
ferry_vm_is_host_device(const char *file)
{
    if (!file)
        return false;
    if (ferry_str_has_prefix(file, "/dev/") || ferry_str_has_prefix(file, "/vmfs/devices/") ||
        ferry_str_has_prefix(file, "\\\\.\\") ||
        !strncasecmp(file, "CD/DVD drive", 12) || !strcasecmp(file, "auto detect"))
        return true;
    /* a Windows drive letter alone: "D:" or "D:\\" */
    return isalpha((unsigned char)file[0]) && file[1] == ':' &&
           (!file[2] || (file[2] == '\\' && !file[3]));
}

bool
ferry_vm_mac_usable(const char *mac)
{
    unsigned b[6];
    if (!mac || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4],
                       &b[5]) != 6)
        return false;
    if (!(b[0] | b[1] | b[2] | b[3] | b[4] | b[5]))
        return false;
    return !(b[0] & 1);   /* multicast, broadcast */
}

const char *
ferry_vm_basename(const char *path)
{
    const char *b = path;
    for (const char *p = path; *p; p++)
        if ((*p == '/' || *p == '\\') && p[1])
            b = p + 1;
    return b;
}

char *
ferry_vm_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ferry_strdup(".");
    if (slash == path)
        return ferry_strdup("/");
    return ferry_strndup(path, slash - path);
}

char *
ferry_vm_resolve(const char *dir, const char *file)
{
    if (file[0] == '/' || !dir)
        return ferry_strdup(file);
    return ferry_printf("%s/%s", dir, file);
}

int
ferry_vm_bytes(const char *src, const char *field, uint64_t v, uint64_t unit, uint64_t *ret)
{
    uint64_t b;

    if (__builtin_mul_overflow(v, unit, &b))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %llu x %llu bytes does not fit in 64 bits",
                           src, field, (unsigned long long)v, (unsigned long long)unit);
    *ret = b;
    return 0;
}

int
ferry_vm_count(const char *src, const char *field, uint64_t v, unsigned *ret)
{
    if (v < 1 || v > FERRY_VM_MAX_VCPUS)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: %llu is out of range 1..%u", src, field,
                           (unsigned long long)v, FERRY_VM_MAX_VCPUS);
    *ret = (unsigned)v;
    return 0;
}

static int
out_of_range(const char *src, const struct ferry_vm_def *def, const char *what, const char *value,
             const char *range)
{
    return ferry_error(FERRY_ERR_FORMAT, "'%s': VM '%s': %s %s is out of range %s", src,
                       def->name ? def->name : "?", what, value, range);
}

static int
size_out_of_range(const char *src, const struct ferry_vm_def *def, const char *what,
                  uint64_t v, const char *range)
{
    FERRY_AUTOFREE char *human = ferry_size_human(v);
    FERRY_AUTOFREE char *value = v < 1024 ? ferry_printf("%llu bytes", (unsigned long long)v)
                                          : ferry_printf("%llu bytes (%s)",
                                                         (unsigned long long)v, human);
    return out_of_range(src, def, what, value, range);
}

static int
int_out_of_range(const char *src, const struct ferry_vm_def *def, const char *what,
                 long long v, const char *range)
{
    FERRY_AUTOFREE char *value = ferry_printf("%lld", v);
    return out_of_range(src, def, what, value, range);
}

int
ferry_vm_def_validate(const struct ferry_vm_def *def, const char *src)
{
    const unsigned max = FERRY_VM_MAX_VCPUS;
    FERRY_AUTOFREE char *cpus = ferry_printf("1..%u", max);

    if (def->vcpus < 1 || def->vcpus > max)
        return int_out_of_range(src, def, "vCPUs", def->vcpus, cpus);
    if (def->sockets > max || def->cores > max || def->threads > max ||
        (uint64_t)(def->sockets ? def->sockets : 1) * (def->cores ? def->cores : 1) *
                (def->threads ? def->threads : 1) > max) {
        FERRY_AUTOFREE char *topo = ferry_printf("%u sockets x %u cores x %u threads",
                                                 def->sockets, def->cores, def->threads);
        return out_of_range(src, def, "CPU topology", topo, cpus);
    }
    if (def->memory < (UINT64_C(1) << 20) || def->memory > FERRY_VM_MAX_MEMORY)
        return size_out_of_range(src, def, "memory", def->memory, "1 MiB..64 TiB");
    for (size_t i = 0; i < def->ndisks; i++) {
        const struct ferry_vm_disk *d = &def->disks[i];
        FERRY_AUTOFREE char *what = NULL;
        if (d->capacity > FERRY_VM_MAX_DISK) {
            what = ferry_printf("disk %s: size", d->where ? d->where : "?");
            return size_out_of_range(src, def, what, d->capacity, "0..64 TiB");
        }
        if (d->boot_order < 0 || d->boot_order > FERRY_VM_MAX_BOOT_ORDER) {
            what = ferry_printf("disk %s: boot order", d->where ? d->where : "?");
            return int_out_of_range(src, def, what, d->boot_order, "1..1000");
        }
        if (d->controller < -1 || d->controller > FERRY_VM_MAX_SLOT || d->unit < -1 ||
            d->unit > FERRY_VM_MAX_SLOT) {
            what = ferry_printf("disk %s: controller:unit", d->where ? d->where : "?");
            FERRY_AUTOFREE char *slot = ferry_printf("%d:%d", d->controller, d->unit);
            return out_of_range(src, def, what, slot, "0..65535");
        }
    }
    for (size_t i = 0; i < def->nnics; i++) {
        const struct ferry_vm_nic *n = &def->nics[i];
        if (n->boot_order < 0 || n->boot_order > FERRY_VM_MAX_BOOT_ORDER) {
            FERRY_AUTOFREE char *what =
                ferry_printf("NIC %s: boot order", n->where ? n->where : "?");
            return int_out_of_range(src, def, what, n->boot_order, "1..1000");
        }
    }
    return 0;
}

int
ferry_vm_disk_probe(struct ferry_vm_disk *disk, const char *dir, const char *source)
{
    if (!disk->file || !disk->file[0])
        return 0;
    FERRY_AUTOFREE char *path = ferry_vm_resolve(dir, disk->file);
    struct stat st;
    if (stat(path, &st) < 0 && disk->file[0] == '/') {
        /* Absolute datastore paths (/vmfs/volumes/...) rarely exist here;
         * try the file name next to the definition, as it is usually copied. */
        free(path);
        path = ferry_vm_resolve(dir, ferry_vm_basename(disk->file));
    }
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0; /* the emitter reports an unknown size */
    struct ferry_image_info info;
    if (ferry_image_file_info(path, &info) < 0)
        return ferry_error_prefix("'%s': %s", source, disk->where);
    if (!disk->capacity)
        disk->capacity = info.virtual_size;
    if (!disk->format)
        disk->format = ferry_strdup(info.format);
    disk->path = FERRY_STEAL(path);
    return 0;
}
