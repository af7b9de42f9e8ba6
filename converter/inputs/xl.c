/* Xen xl.cfg (xl.cfg(5)): "key = value" where a value is a quoted string, a
 * number or a [ list ] of strings that may span lines; '#' starts a comment.
 * No library parses it, so a small reader lives here.  Disk specs follow
 * xl-disk-configuration(5): key=value pairs (target= last) or the positional
 * form "target,format,vdev,access", including the old "phy:/dev/x,hda:cdrom,r"
 * spelling; vif specs are key=value lists (mac=, bridge=, model=, type=).
 */
#include <ctype.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "converter/inputs.h"

struct xl_entry {
    char *key;
    char **values;   /* one for scalars, several for lists */
    bool list;
};

struct xl {
    const char *name;
    struct xl_entry *e;
    size_t n;
};

static void
xl_release(struct xl *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].key);
        ferry_strv_free(c->e[i].values);
    }
    free(c->e);
}

/* Tokenizer over the whole text, tracking the line for messages. */
struct lex {
    const char *p, *end;
    unsigned line;
};

static void
skip_blank(struct lex *l, bool newlines)
{
    while (l->p < l->end) {
        if (*l->p == '#') {
            while (l->p < l->end && *l->p != '\n')
                l->p++;
        } else if (*l->p == '\n' && newlines) {
            l->line++;
            l->p++;
        } else if (*l->p != '\n' && isspace((unsigned char)*l->p)) {
            l->p++;
        } else {
            break;
        }
    }
}

static int
read_value(struct xl *c, struct lex *l, const char *key, char **ret)
{
    if (l->p < l->end && (*l->p == '"' || *l->p == '\'')) {
        char q = *l->p++;
        const char *s = l->p;
        while (l->p < l->end && *l->p != q && *l->p != '\n')
            l->p++;
        if (l->p >= l->end || *l->p != q)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: %s: unterminated string",
                               c->name, l->line, key);
        *ret = ferry_strndup(s, l->p - s);
        l->p++;
        return 0;
    }
    const char *s = l->p;
    while (l->p < l->end && (isalnum((unsigned char)*l->p) || strchr("._-+:/", *l->p)))
        l->p++;
    if (l->p == s)
        return ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: %s: expected a value", c->name,
                           l->line, key);
    *ret = ferry_strndup(s, l->p - s);
    return 0;
}

/* A bracketed list, nested to any depth, as its text. */
static int
read_nested(struct xl *c, struct lex *l, const char *key, char **ret)
{
    const char *s = l->p;
    unsigned start = l->line;
    int depth = 0;
    while (l->p < l->end) {
        char ch = *l->p;
        if (ch == '"' || ch == '\'') {
            char *v = NULL;
            if (read_value(c, l, key, &v) < 0)
                return -1;
            free(v);
            continue;
        }
        if (ch == '#') {
            skip_blank(l, false);
            continue;
        }
        if (ch == '\n')
            l->line++;
        l->p++;
        if (ch == '[')
            depth++;
        else if (ch == ']' && --depth == 0) {
            *ret = ferry_strndup(s, l->p - s);
            return 0;
        }
    }
    return ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: %s: unterminated list", c->name, start,
                       key);
}

static int
xl_read(struct xl *c, const char *buf, size_t len)
{
    struct lex l = {.p = buf, .end = buf + len, .line = 1};
    for (;;) {
        skip_blank(&l, true);
        if (l.p >= l.end)
            return 0;
        if (*l.p == ';') {
            l.p++;
            continue;
        }
        const char *k = l.p;
        while (l.p < l.end && (isalnum((unsigned char)*l.p) || *l.p == '_'))
            l.p++;
        if (l.p == k)
            return ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: expected a key", c->name, l.line);
        FERRY_AUTOFREE char *key = ferry_strndup(k, l.p - k);
        skip_blank(&l, false);
        if (l.p >= l.end || *l.p != '=')
            return ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: %s: expected '='", c->name,
                               l.line, key);
        l.p++;
        skip_blank(&l, false);
        struct xl_entry e = {.key = FERRY_STEAL(key)};
        if (l.p < l.end && *l.p == '[') {
            l.p++;
            e.list = true;
            e.values = ferry_calloc(1, sizeof(char *));
            for (;;) {
                skip_blank(&l, true);
                if (l.p < l.end && *l.p == ']') {
                    l.p++;
                    break;
                }
                char *v = NULL;
                if (l.p < l.end && *l.p == '[') {
                    /* A nested list (vnuma = [ [...], [...] ]): valid xl
                     * syntax; kept as its text, for messages. */
                    if (read_nested(c, &l, e.key, &v) < 0) {
                        free(e.key);
                        ferry_strv_free(e.values);
                        return -1;
                    }
                } else if (l.p >= l.end || read_value(c, &l, e.key, &v) < 0) {
                    if (l.p >= l.end)
                        ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: %s: unterminated list",
                                    c->name, l.line, e.key);
                    free(e.key);
                    ferry_strv_free(e.values);
                    return -1;
                }
                ferry_strv_push(&e.values, v);
                free(v);
                skip_blank(&l, true);
                if (l.p < l.end && *l.p == ',')
                    l.p++;
            }
        } else {
            char *v = NULL;
            if (read_value(c, &l, e.key, &v) < 0) {
                free(e.key);
                return -1;
            }
            e.values = ferry_calloc(2, sizeof(char *));
            e.values[0] = v;
        }
        skip_blank(&l, false);
        if (l.p < l.end && *l.p != '\n' && *l.p != ';') {
            ferry_error(FERRY_ERR_FORMAT, "'%s': line %u: %s: unexpected text after the value",
                        c->name, l.line, e.key);
            free(e.key);
            ferry_strv_free(e.values);
            return -1;
        }
        c->e = ferry_realloc(c->e, (c->n + 1) * sizeof(*c->e));
        c->e[c->n++] = e;
    }
}

static const struct xl_entry *
xl_get(const struct xl *c, const char *key)
{
    for (size_t i = c->n; i-- > 0;)
        if (!strcmp(c->e[i].key, key))
            return &c->e[i];
    return NULL;
}

static const char *
xl_str(const struct xl *c, const char *key)
{
    const struct xl_entry *e = xl_get(c, key);
    return e && !e->list && e->values[0] ? e->values[0] : NULL;
}

static bool
xl_probe(const struct ferry_input_data *in)
{
    if (in->xml || !in->whole)
        return false;
    /* A line-level look, so that a malformed file is reported by the parser:
     * xl.cfg names the domain and says how to build it. */
    static const char *const keys[] = {"builder", "type", "kernel", "disk", "vif"};
    bool name = false, build = false;
    const char *end = in->buf + in->len, *line;
    size_t n;
    for (const char *pos = in->buf; (line = ferry_text_next_line(&pos, end, &n));) {
        const char *k = ferry_text_skip_blanks(line, end), *p = k;
        while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
            p++;
        size_t kl = p - k;
        p = ferry_text_skip_blanks(p, end);
        if (kl && p < end && *p == '=') {
            if (kl == 4 && !strncmp(k, "name", 4))
                name = true;
            for (size_t i = 0; i < FERRY_ARRAY_SIZE(keys); i++)
                if (kl == strlen(keys[i]) && !strncmp(k, keys[i], kl))
                    build = true;
        }
    }
    return name && build;
}

static bool
is_vdev(const char *s)
{
    size_t n = strcspn(s, ":");
    return n > 2 &&
           (!strncmp(s, "hd", 2) || !strncmp(s, "sd", 2) || !strncmp(s, "xvd", 3) ||
            !strncmp(s, "vd", 2)) &&
           isalpha((unsigned char)s[n - 1]) && s[0] != '/';
}

static void
set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = ferry_strdup(v);
}

static int
add_disk(const struct ferry_input_data *in, struct ferry_vm_def *def, const char *spec,
         size_t index, bool hvm)
{
    FERRY_AUTOSTRV char **tok = ferry_strv_split(spec, ",");
    FERRY_AUTOFREE char *target = NULL, *format = NULL, *vdev = NULL, *devtype = NULL;
    FERRY_AUTOFREE char *backendtype = NULL;
    int pos = 0;
    for (char **t = tok; t && *t; t++) {
        char *s = *t;
        while (isspace((unsigned char)*s))
            s++;
        char *eq = strchr(s, '=');
        if (eq && !ferry_str_has_prefix(s, "target=")) {
            FERRY_AUTOFREE char *k = ferry_strndup(s, eq - s);
            const char *v = eq + 1;
            /* a repeated key: the last one wins, as in xl */
            if (!strcmp(k, "format"))
                set_str(&format, v);
            else if (!strcmp(k, "vdev"))
                set_str(&vdev, v);
            else if (!strcmp(k, "devtype"))
                set_str(&devtype, v);
            else if (!strcmp(k, "backendtype"))
                set_str(&backendtype, v);
            continue;
        }
        if (ferry_str_has_prefix(s, "target=")) {
            /* target= is last and may itself contain commas */
            const char *full = strstr(spec, "target=");
            set_str(&target, full + 7);
            break;
        }
        if (!strcmp(s, "r") || !strcmp(s, "ro") || !strcmp(s, "w") || !strcmp(s, "rw"))
            continue;
        if (!strcmp(s, "raw") || !strcmp(s, "qcow") || !strcmp(s, "qcow2") ||
            !strcmp(s, "vhd") || !strcmp(s, "qed")) {
            set_str(&format, s);
            continue;
        }
        if (!vdev && is_vdev(s)) {
            vdev = ferry_strdup(s);
            continue;
        }
        if (pos == 0 && !target)
            target = ferry_strdup(s);
        pos++;
    }
    if (vdev) {
        char *colon = strchr(vdev, ':');
        if (colon) {
            if (!strcmp(colon + 1, "cdrom"))
                set_str(&devtype, "cdrom");
            *colon = '\0';
        }
    }
    FERRY_AUTOFREE char *where = ferry_printf("disk[%zu]", index);
    if (!vdev || !is_vdev(vdev))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: '%s': no vdev (hda, xvda, sda ...)",
                           in->name, where, spec);
    bool cd = devtype && !strcmp(devtype, "cdrom");
    if (target) {
        /* Strip backend prefixes: phy:, file:, tap:aio:, tap:qcow2:, aio: */
        static const char *const prefixes[] = {"tap:aio:", "tap:qcow2:", "tap:vhd:", "phy:",
                                               "file:", "aio:", "tap2:tapdisk:aio:"};
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(prefixes); i++)
            if (ferry_str_has_prefix(target, prefixes[i])) {
                memmove(target, target + strlen(prefixes[i]),
                        strlen(target) - strlen(prefixes[i]) + 1);
                break;
            }
    }
    if (!target || !target[0]) {
        if (cd) {
            ferry_log_warn("'%s': %s: CD-ROM %s without media; dropped", in->name, where, vdev);
            return 0;
        }
        return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: '%s': no target", in->name, where, spec);
    }
    if (cd && ferry_vm_is_host_device(target)) {
        ferry_log_warn("'%s': %s: CD-ROM %s is the host's drive '%s', not an image; dropped",
                       in->name, where, vdev, target);
        return 0;
    }
    /* Network backends (qemu's rbd:pool/image, iscsi://, nbd:): not a file
     * next to the definition; the image has to be exported first. */
    static const char *const remote[] = {"rbd:", "iscsi:", "nbd:", "drbd:", "sheepdog:",
                                         "gluster:", "http:", "https:"};
    const char *proto = NULL;
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(remote) && !proto; i++)
        if (ferry_str_has_prefix(target, remote[i]))
            proto = remote[i];
    if (!proto && backendtype && !strcmp(backendtype, "qdisk") && strstr(target, "://"))
        proto = target;
    struct ferry_vm_disk *d = ferry_vm_def_add_disk(def);
    d->kind = cd ? FERRY_DISK_CDROM : FERRY_DISK_DISK;
    d->bus = ferry_str_has_prefix(vdev, "hd")   ? FERRY_BUS_IDE
             : ferry_str_has_prefix(vdev, "sd") ? FERRY_BUS_SCSI
             : ferry_str_has_prefix(vdev, "vd") ? FERRY_BUS_VIRTIO
                                                : FERRY_BUS_XEN;
    d->controller = 0;
    d->unit = islower((unsigned char)vdev[strlen(vdev) - 1]) ? vdev[strlen(vdev) - 1] - 'a' : 0;
    d->where = ferry_printf("%s %s", where, vdev);
    d->file = FERRY_STEAL(target);
    d->format = FERRY_STEAL(format);
    d->readonly = cd;
    if (proto)
        ferry_log_warn("'%s': %s: '%s' is a network (%.*s) image, not a local file; its size "
                       "is unknown: export it to a file for the import",
                       in->name, d->where, d->file, (int)strcspn(proto, ":"), proto);
    else if (!ferry_str_has_prefix(d->file, "/dev/") &&
             ferry_vm_disk_probe(d, in->dir, in->name) < 0)
        return -1;
    return 0;
}

static int
add_vif(const struct ferry_input_data *in, struct ferry_vm_def *def, const char *spec,
        size_t index, bool hvm)
{
    FERRY_AUTOSTRV char **tok = ferry_strv_split(spec, ",");
    struct ferry_vm_nic *nic = ferry_vm_def_add_nic(def);
    nic->where = ferry_printf("vif[%zu]", index);
    FERRY_AUTOFREE char *type = NULL;
    for (char **t = tok; t && *t; t++) {
        char *s = *t;
        while (isspace((unsigned char)*s))
            s++;
        char *eq = strchr(s, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *v = eq + 1;
        if (!strcmp(s, "mac")) {
            free(nic->mac);
            if (!(nic->mac = ferry_vm_mac_normalize(v)))
                return ferry_error(FERRY_ERR_FORMAT, "'%s': %s: mac: '%s' is not a MAC address",
                                   in->name, nic->where, v);
            nic->mac_static = true;
        } else if (!strcmp(s, "bridge")) {
            set_str(&nic->network, v);
        } else if (!strcmp(s, "model")) {
            set_str(&nic->model, v);
        } else if (!strcmp(s, "type")) {
            set_str(&type, v);
        }
    }
    if (!nic->model)
        /* HVM guests get qemu's emulated rtl8139 unless type=vif (PV only). */
        nic->model = ferry_strdup(hvm && !(type && !strcmp(type, "vif")) ? "rtl8139" : "netfront");
    if (!nic->network)
        nic->network = ferry_strdup("xenbr0");
    return 0;
}

/* Keys this reader maps, and those whose effect KubeVirt has by itself or
 * that only say how Xen runs the domain (its device model, its toolstack's
 * reactions); every other key set in the file gets a warning. */
static const char *const xl_mapped[] = {
    "name", "uuid", "builder", "type", "memory", "vcpus", "viridian", "bios", "disk", "vif",
    "boot", "acpi", "apic", "pae", "hap", "device_model_version", "device_model_override",
    "on_poweroff", "on_reboot", "on_crash", "on_watchdog", "vnc", "vnclisten", "vncdisplay",
    "vncunused", "vncconsole", "sdl", "opengl", "stdvga", "vga", "videoram", "xen_platform_pci",
    "localtime", "rtc_timeoffset", "keymap", "cpu_weight", "cpu_cap", "seclabel", "nographic",
    "kernel", "ramdisk", "extra", "root", "cmdline", "bootloader", "bootloader_args",
    "shadow_memory", "timer_mode", "hpet", "nestedhvm", "nx", "pool", "tsc_mode", "driver_domain",
};

static void
report_unmapped(const struct xl *c, bool hvm)
{
    (void)hvm;
    for (size_t i = 0; i < c->n; i++) {
        const char *key = c->e[i].key;
        bool known = false;
        for (size_t k = 0; k < FERRY_ARRAY_SIZE(xl_mapped) && !known; k++)
            known = !strcmp(key, xl_mapped[k]);
        /* a later assignment of the same key replaced this one */
        for (size_t j = i + 1; j < c->n && !known; j++)
            known = !strcmp(key, c->e[j].key);
        if (known)
            continue;
        if (!strcmp(key, "usbdevice") && !c->e[i].list && !strcmp(c->e[i].values[0], "tablet"))
            continue;   /* mapped: the tablet input */
        const char *what = !strcmp(key, "maxmem")
                               ? " (memory hotplug ceiling; the guest gets 'memory')"
                           : !strcmp(key, "maxvcpus") ? " (vCPU hotplug ceiling; the guest gets 'vcpus')"
                           : !strcmp(key, "pci") ? " (PCI passthrough)"
                           : !strcmp(key, "serial") ? " (KubeVirt gives one serial console: virtctl console)"
                           : !strcmp(key, "soundhw") ? " (sound card)"
                           : !strcmp(key, "usb") || !strcmp(key, "usbdevice") || !strcmp(key, "usbctrl")
                               ? " (USB)"
                               : "";
        FERRY_AUTOFREE char *val = c->e[i].list ? NULL : ferry_strdup(c->e[i].values[0]);
        ferry_log_warn("'%s': %s%s%s%s: not carried over%s", c->name, key, val ? " = '" : "",
                       val ? val : "", val ? "'" : "", what);
    }
}

static int
xl_parse(const struct ferry_input_data *in, struct ferry_vm_list *list)
{
    struct xl c = {.name = in->name};
    FERRY_AUTOPTR(ferry_vm_def_auto) def = ferry_vm_def_new("xl", in->name);
    int r = -1;
    if (xl_read(&c, in->buf, in->len) < 0)
        goto cleanup;
    def->source_vendor = ferry_strdup("xen");
    def->name = ferry_strdup(xl_str(&c, "name"));
    if (!def->name) {
        ferry_error(FERRY_ERR_FORMAT, "'%s': name: missing", in->name);
        goto cleanup;
    }
    const char *uuid = xl_str(&c, "uuid");
    if (uuid && !(def->uuid = ferry_vm_uuid_normalize(uuid))) {
        ferry_error(FERRY_ERR_FORMAT, "'%s': uuid: '%s' is not a UUID", in->name, uuid);
        goto cleanup;
    }
    const char *builder = xl_str(&c, "builder");
    const char *type = xl_str(&c, "type");
    bool hvm = (builder && !strcmp(builder, "hvm")) || (type && !strcmp(type, "hvm"));
    if (!hvm)
        ferry_log_warn("'%s': a paravirtual (%s) guest boots a Xen kernel on xvd* disks; it "
                       "needs virt-v2v's kernel and device conversion", in->name,
                       type ? type : "pv");
    uint64_t mem = 128, vcpus = 1;
    const char *m = xl_str(&c, "memory"), *v = xl_str(&c, "vcpus");
    if (m && !ferry_parse_u64(m, &mem)) {
        ferry_error(FERRY_ERR_FORMAT, "'%s': memory: '%s' is not a size in MiB", in->name, m);
        goto cleanup;
    }
    if (v && (!ferry_parse_u64(v, &vcpus) || vcpus == 0)) {
        ferry_error(FERRY_ERR_FORMAT, "'%s': vcpus: '%s' is not a positive number", in->name, v);
        goto cleanup;
    }
    if (ferry_vm_bytes(in->name, "memory", mem, 1 << 20, &def->memory) < 0 ||
        ferry_vm_count(in->name, "vcpus", vcpus, &def->vcpus) < 0)
        goto cleanup;
    /* Hyper-V enlightenments are for Windows guests. */
    const char *viridian = xl_str(&c, "viridian");
    if (viridian && (ferry_parse_truthy(viridian) || !strcmp(viridian, "default")))
        def->os_id = ferry_strdup("windows");
    const char *bios = xl_str(&c, "bios");
    if (bios) {
        def->firmware_known = true;
        if (!strcmp(bios, "ovmf"))
            def->firmware = FERRY_FW_EFI;
    }
    const struct xl_entry *disks = xl_get(&c, "disk");
    for (size_t i = 0; disks && disks->values[i]; i++)
        if (add_disk(in, def, disks->values[i], i, hvm) < 0)
            goto cleanup;
    ferry_vm_def_sort_disks(def);
    const struct xl_entry *vifs = xl_get(&c, "vif");
    for (size_t i = 0; vifs && vifs->values[i]; i++)
        if (add_vif(in, def, vifs->values[i], i, hvm) < 0)
            goto cleanup;
    const char *boot = xl_str(&c, "boot");
    if (boot) {
        FERRY_AUTOSTRV char **classes = NULL;
        for (const char *b = boot; *b; b++)
            ferry_strv_push(&classes, *b == 'c' ? "hd" : *b == 'd' ? "cdrom"
                                      : *b == 'n'               ? "network"
                                                                : "other");
        ferry_vm_def_boot_classes(def, classes);
    }
    const char *usbdev = xl_str(&c, "usbdevice");
    def->tablet = usbdev && !strcmp(usbdev, "tablet");
    report_unmapped(&c, hvm);
    ferry_vm_list_add(list, FERRY_STEAL(def));
    r = 0;
cleanup:
    xl_release(&c);
    return r;
}

static const char *const xl_extensions[] = { ".cfg", ".xl", NULL };

const struct ferry_input ferry_input_xl = {
    .name = "xl",
    .description = "Xen xl.cfg",
    .title = "xl.cfg",
    .extensions = xl_extensions,
    .probe = xl_probe,
    .parse = xl_parse,
};
