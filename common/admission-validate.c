/* Admission: what the API server, KubeVirt's virt-api webhooks and CDI's
 * webhook do to a VirtualMachine, VirtualMachineInstance or DataVolume
 * before it is stored (see admission.h).  In the API server's order:
 *
 *  1. decoding: a field the schema does not declare is refused, as strict
 *     field validation does ("strict decoding error: unknown field ...");
 *     a quantity that does not parse is refused as the decoder refuses it;
 *  2. mutation: the defaults of kubevirt/kubevirt pkg/defaults (VM: the
 *     template's architecture and machine type, as the VM mutator; VMI on
 *     create: the full SetDefaultVirtualMachineInstance list);
 *  3. validation: the OpenAPI schema's types, enums and required fields, then
 *     KubeVirt's and CDI's rules.  All causes are collected and reported as
 *     the API server reports a field.ErrorList:
 *       The VirtualMachine "x" is invalid: <one cause>
 *       The VirtualMachine "x" is invalid: [<cause>, <cause>]
 *
 * The schema comes from the OpenAPI (Swagger 2.0) documents KubeVirt and CDI
 * publish, read once with json-c. */
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

/* Ferry's "cluster configuration", KubeVirt's defaults on amd64 except the
 * default pod interface binding: KubeVirt's built-in default is bridge, which
 * needs a pod network Ferry does not have; masquerade (NAT) is what works on
 * one machine and what KubeVirt recommends (network.defaultNetworkInterface). */
#define DEFAULT_ARCH "amd64"
#define DEFAULT_MACHINE_TYPE "q35"
#define DEFAULT_CPU_MODEL "host-model"
#define DEFAULT_DISK_BUS "sata"   /* pkg/defaults/arch/amd64.go: SATA on amd64 */
#define DEFAULT_INTERFACE_BINDING "masquerade"

#define QUANTITY_REGEX_MSG                                                                     \
    "quantities must match the regular expression "                                            \
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

/* ---- the OpenAPI documents -------------------------------------------- */

static json_object *kubevirt_defs, *cdi_defs;
static char *load_error;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static const char *
openapi_dir(void)
{
    const char *env = getenv("FERRY_OPENAPI_DIR");
    struct stat sb;

    if (env && *env)
        return env;
#ifdef FERRY_SOURCE_DIR
    if (stat(FERRY_SOURCE_DIR "/deploy/openapi/kubevirt-swagger.json", &sb) == 0)
        return FERRY_SOURCE_DIR "/deploy/openapi";
#endif
    return "/usr/share/ferry/openapi";
}

static json_object *
load_defs(const char *dir, const char *file)
{
    FERRY_AUTOFREE char *path = ferry_printf("%s/%s", dir, file);
    json_object *doc = NULL, *defs = NULL;

    if (ferry_json_read_file(path, &doc) < 0) {
        load_error = ferry_printf("admission: OpenAPI document: %s", ferry_error_message());
        return NULL;
    }
    if (!json_object_object_get_ex(doc, "definitions", &defs) ||
        !json_object_is_type(defs, json_type_object)) {
        load_error = ferry_printf("admission: OpenAPI document '%s': no definitions", path);
        json_object_put(doc);
        return NULL;
    }
    json_object_get(defs);
    json_object_put(doc);
    return defs;
}

static void
load_openapi(void)
{
    const char *dir = openapi_dir();

    kubevirt_defs = load_defs(dir, "kubevirt-swagger.json");
    if (kubevirt_defs)
        cdi_defs = load_defs(dir, "cdi-swagger.json");
}

/* ---- causes ----------------------------------------------------------- */

struct causes {
    char **v;
};

static void __attribute__((format(printf, 2, 3)))
cause(struct causes *c, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        ferry_oom();
    va_end(ap);
    ferry_strv_push(&c->v, s);
    free(s);
}

static char *
join(char **v, const char *sep)
{
    size_t len = 1;
    char *out;

    for (char **p = v; p && *p; p++)
        len += strlen(*p) + strlen(sep);
    out = ferry_malloc(len);
    out[0] = 0;
    for (char **p = v; p && *p; p++) {
        if (p != v)
            strcat(out, sep);
        strcat(out, *p);
    }
    return out;
}

static int
report_invalid(const char *kind, const char *name, struct causes *c)
{
    FERRY_AUTOFREE char *all = join(c->v, ", ");

    if (ferry_strv_len(c->v) == 1)
        return ferry_error(FERRY_ERR_INVALID, "The %s \"%s\" is invalid: %s", kind, name, all);
    return ferry_error(FERRY_ERR_INVALID, "The %s \"%s\" is invalid: [%s]", kind, name, all);
}

/* ---- small JSON helpers ----------------------------------------------- */

static char *
child(const char *path, const char *key)
{
    return *path ? ferry_printf("%s.%s", path, key) : ferry_strdup(key);
}

static char *
index_of(const char *path, size_t i)
{
    return ferry_printf("%s[%zu]", path, i);
}

static size_t
alen(json_object *a)
{
    return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static json_object *
aget(json_object *a, size_t i)
{
    return json_object_array_get_idx(a, i);
}

static json_object *
oget(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (!o || !json_object_is_type(o, json_type_object))
        return NULL;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *
sget(json_object *o, const char *key)
{
    json_object *v = oget(o, key);

    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static json_object *
ensure(json_object *o, const char *key)
{
    json_object *v = oget(o, key);

    if (!v || !json_object_is_type(v, json_type_object)) {
        v = json_object_new_object();
        json_object_object_add(o, key, v);
    }
    return v;
}

static bool
has(json_object *o, const char *key)
{
    return oget(o, key) != NULL;
}

/* The API server drops null fields before it validates. */
static void
prune_nulls(json_object *v)
{
    if (json_object_is_type(v, json_type_object)) {
        char **nulls = NULL;
        json_object_object_foreach(v, k, x) {
            if (!x)
                ferry_strv_push(&nulls, k);
            else
                prune_nulls(x);
        }
        for (char **p = nulls; p && *p; p++)
            json_object_object_del(v, *p);
        ferry_strv_free(nulls);
    } else if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (aget(v, i))
                prune_nulls(aget(v, i));
    }
}

static const char *
type_name(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "boolean";
    case json_type_double:
        return "number";
    case json_type_int:
        return "integer";
    case json_type_object:
        return "object";
    case json_type_array:
        return "array";
    case json_type_string:
        return "string";
    }
    return "unknown";
}

/* A value as the API server quotes it in "Invalid value: ..." */
static char *
quote_value(json_object *v)
{
    if (json_object_is_type(v, json_type_string))
        return ferry_printf("\"%s\"", json_object_get_string(v));
    if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
        return ferry_printf("\"%s\"", type_name(v));
    return ferry_strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
}

/* ---- 1+3a: the schema ------------------------------------------------- */

struct walker {
    json_object *defs;
    bool required;           /* false before mutation: defaults may fill them */
    struct causes unknown;
    struct causes invalid;
};

static bool
is_type(json_object *v, const char *t)
{
    if (strcmp(t, "object") == 0)
        return json_object_is_type(v, json_type_object);
    if (strcmp(t, "array") == 0)
        return json_object_is_type(v, json_type_array);
    if (strcmp(t, "string") == 0)
        return json_object_is_type(v, json_type_string);
    if (strcmp(t, "boolean") == 0)
        return json_object_is_type(v, json_type_boolean);
    if (strcmp(t, "integer") == 0)
        return json_object_is_type(v, json_type_int) ||
               (json_object_is_type(v, json_type_double) &&
                json_object_get_double(v) == (double)(int64_t)json_object_get_double(v));
    if (strcmp(t, "number") == 0)
        return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
    if (strcmp(t, "null") == 0)
        return json_object_is_type(v, json_type_null);
    return true;
}

static void
check_quantity(struct walker *w, json_object *v, const char *path)
{
    struct ferry_quantity q;

    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
        return;
    if (!json_object_is_type(v, json_type_string)) {
        FERRY_AUTOFREE char *qv = quote_value(v);
        cause(&w->invalid, "%s: Invalid value: \"%s\": %s in body must be of type string: %s",
              path, type_name(v), path, qv);
        return;
    }
    if (ferry_quantity_parse(json_object_get_string(v), &q) < 0) {
        ferry_error_reset();
        cause(&w->invalid, "%s: Invalid value: \"%s\": %s", path, json_object_get_string(v),
              QUANTITY_REGEX_MSG);
    }
}

static void walk(struct walker *w, json_object *schema, json_object *v, const char *path);

static void
walk_object(struct walker *w, json_object *schema, json_object *v, const char *path)
{
    json_object *props = oget(schema, "properties");
    json_object *addl = oget(schema, "additionalProperties");
    json_object *req = oget(schema, "required");

    json_object_object_foreach(v, key, val) {
        FERRY_AUTOFREE char *p = child(path, key);
        json_object *ps = oget(props, key);

        if (!val)
            continue;
        if (ps)
            walk(w, ps, val, p);
        else if (addl && json_object_is_type(addl, json_type_object))
            walk(w, addl, val, p);
        else if (props && !(addl && json_object_get_boolean(addl)))
            cause(&w->unknown, "unknown field \"%s\"", p);
    }
    for (size_t i = 0; w->required && i < alen(req); i++) {
        const char *rkey = json_object_get_string(aget(req, i));
        if (!has(v, rkey)) {
            FERRY_AUTOFREE char *p = child(path, rkey);
            cause(&w->invalid, "%s: Required value", p);
        }
    }
}

static void
walk(struct walker *w, json_object *schema, json_object *v, const char *path)
{
    const char *ref;
    json_object *type, *en;
    const char *fmt;

    if (!v || json_object_is_type(v, json_type_null))
        return;
    for (int depth = 0; (ref = sget(schema, "$ref")); depth++) {
        const char *name = ferry_str_has_prefix(ref, "#/definitions/") ? ref + 14 : ref;

        if (ferry_str_has_suffix(name, "resource.Quantity")) {
            check_quantity(w, v, path);
            return;
        }
        schema = oget(w->defs, name);
        if (!schema || depth > 64)
            return; /* an unresolved reference accepts anything */
    }
    fmt = sget(schema, "format");
    if (fmt && strcmp(fmt, "int-or-string") == 0) {
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_string)) {
            FERRY_AUTOFREE char *qv = quote_value(v);
            cause(&w->invalid, "%s: Invalid value: \"%s\": %s in body must be of type "
                               "integer,string: %s", path, type_name(v), path, qv);
        }
        return;
    }
    type = oget(schema, "type");
    if (type) {
        bool ok = false;
        const char *first = NULL;
        FERRY_AUTOFREE char *want = NULL;

        if (json_object_is_type(type, json_type_array)) {
            char **names = NULL;
            for (size_t i = 0; i < alen(type); i++) {
                const char *t = json_object_get_string(aget(type, i));
                ok |= is_type(v, t);
                ferry_strv_push(&names, t);
            }
            want = join(names, ",");
            ferry_strv_free(names);
        } else {
            first = json_object_get_string(type);
            ok = is_type(v, first);
            want = ferry_strdup(first);
        }
        if (!ok) {
            FERRY_AUTOFREE char *qv = quote_value(v);
            cause(&w->invalid, "%s: Invalid value: \"%s\": %s in body must be of type %s: %s",
                  path, type_name(v), path, want, qv);
            return;
        }
    }
    en = oget(schema, "enum");
    if (en && alen(en) > 0) {
        bool found = false;
        for (size_t i = 0; i < alen(en); i++)
            found |= ferry_json_equal(aget(en, i), v);
        if (!found) {
            char **names = NULL;
            FERRY_AUTOFREE char *qv = quote_value(v);
            for (size_t i = 0; i < alen(en); i++) {
                FERRY_AUTOFREE char *q = quote_value(aget(en, i));
                ferry_strv_push(&names, q);
            }
            FERRY_AUTOFREE char *list = join(names, ", ");
            ferry_strv_free(names);
            cause(&w->invalid, "%s: Unsupported value: %s: supported values: %s", path, qv, list);
            return;
        }
    }
    if (json_object_is_type(v, json_type_object))
        walk_object(w, schema, v, path);
    else if (json_object_is_type(v, json_type_array)) {
        json_object *items = oget(schema, "items");
        if (items)
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                FERRY_AUTOFREE char *p = index_of(path, i);
                walk(w, items, aget(v, i), p);
            }
    }
}

/* ---- the kinds -------------------------------------------------------- */

enum kind { KIND_VM, KIND_VMI, KIND_DV };

static const struct kind_info {
    const char *api_version;
    const char *kind;
    const char *definition;
    bool cdi;
} kinds[] = {
    [KIND_VM] = { "kubevirt.io/v1", "VirtualMachine", "v1.VirtualMachine", false },
    [KIND_VMI] = { "kubevirt.io/v1", "VirtualMachineInstance", "v1.VirtualMachineInstance",
                   false },
    [KIND_DV] = { "cdi.kubevirt.io/v1beta1", "DataVolume", "v1beta1.DataVolume", true },
};

/* Steps 1 and 3a for obj (status is the status subresource's business). */
static int
check_schema(const struct kind_info *ki, json_object *obj, const char *name, bool required)
{
    struct walker w = { .defs = ki->cdi ? cdi_defs : kubevirt_defs, .required = required };
    json_object *schema = oget(w.defs, ki->definition);
    FERRY_AUTOPTR(json_object) copy = ferry_json_copy(obj);
    int r = 0;

    if (!schema)
        return ferry_error(FERRY_ERR_INTERNAL, "admission: no definition %s in the OpenAPI document",
                           ki->definition);
    json_object_object_del(copy, "status");
    walk(&w, schema, copy, "");
    if (w.unknown.v) {
        FERRY_AUTOFREE char *all = join(w.unknown.v, ", ");
        const char *slash = strchr(ki->api_version, '/');
        r = ferry_error(FERRY_ERR_INVALID,
                        "%s in version \"%s\" cannot be handled as a %s: strict decoding error: %s",
                        ki->kind, slash ? slash + 1 : ki->api_version, ki->kind, all);
    } else if (w.invalid.v) {
        r = report_invalid(ki->kind, name, &w.invalid);
    }
    ferry_strv_free(w.unknown.v);
    ferry_strv_free(w.invalid.v);
    return r;
}

/* ---- 2: defaults (kubevirt pkg/defaults, api/core/v1/defaults.go) ----- */

static void
default_machine(json_object *spec)
{
    json_object *domain = ensure(spec, "domain");
    json_object *machine = ensure(domain, "machine");
    const char *type = sget(machine, "type");

    if (!type || !*type)
        json_object_object_add(machine, "type", json_object_new_string(DEFAULT_MACHINE_TYPE));
}

static void
default_arch(json_object *spec)
{
    const char *arch = sget(spec, "architecture");

    if (!arch || !*arch)
        json_object_object_add(spec, "architecture", json_object_new_string(DEFAULT_ARCH));
}

/* The VM mutator: architecture and machine type of the template. */
static void
default_vm(json_object *vm)
{
    json_object *tmpl = ferry_json_get(vm, "spec.template");
    json_object *spec;

    if (!tmpl || !json_object_is_type(tmpl, json_type_object))
        return; /* the validation says what is missing */
    spec = ensure(tmpl, "spec");
    default_arch(spec);
    default_machine(spec);
}

static json_object *
quantity_at(json_object *resources, const char *list, const char *what)
{
    return oget(oget(resources, list), what);
}

/* Value() of a quantity: rounded up to an integer; 0 when it does not parse. */
static int64_t
quantity_value(json_object *q)
{
    struct ferry_quantity fq;

    if (!q)
        return 0;
    if (json_object_is_type(q, json_type_int))
        return json_object_get_int64(q);
    if (ferry_quantity_parse(json_object_get_string(q), &fq) < 0) {
        ferry_error_reset();
        return 0;
    }
    return fq.value;
}

static void
set_true_default(json_object *o, const char *key)
{
    if (o && json_object_is_type(o, json_type_object) && !has(o, key))
        json_object_object_add(o, key, json_object_new_boolean(true));
}

static void
set_enabled_default(json_object *o)
{
    set_true_default(o, "enabled");
}

static void
default_vmi_spec(json_object *spec)
{
    json_object *domain = ensure(spec, "domain");
    json_object *devices = ensure(domain, "devices");
    json_object *resources = oget(domain, "resources");
    json_object *cpu, *memory, *disks, *volumes, *v;

    default_arch(spec);
    default_machine(spec);

    /* resource requests: cpu request from the limit */
    if (quantity_at(resources, "limits", "cpu") && !quantity_at(resources, "requests", "cpu"))
        json_object_object_add(ensure(resources, "requests"), "cpu",
                               ferry_json_copy(quantity_at(resources, "limits", "cpu")));

    /* memory.guest from requests, limits or the hugepage size */
    memory = oget(domain, "memory");
    if (!oget(memory, "guest")) {
        json_object *from = quantity_at(resources, "requests", "memory");
        if (!from || quantity_value(from) == 0)
            from = quantity_at(resources, "limits", "memory");
        if (!from || quantity_value(from) == 0)
            from = oget(oget(memory, "hugepages"), "pageSize");
        memory = ensure(domain, "memory");
        if (from && quantity_value(from) > 0)
            json_object_object_add(memory, "guest", ferry_json_copy(from));
    }

    /* CPU topology: sockets from the cpu limit or request, else 1 */
    cpu = oget(domain, "cpu");
    if (!cpu || (ferry_json_get_int(cpu, "cores", 0) == 0 &&
                 ferry_json_get_int(cpu, "sockets", 0) == 0 &&
                 ferry_json_get_int(cpu, "threads", 0) == 0)) {
        int64_t sockets = 1;
        if (quantity_at(resources, "limits", "cpu"))
            sockets = quantity_value(quantity_at(resources, "limits", "cpu"));
        else if (quantity_at(resources, "requests", "cpu"))
            sockets = quantity_value(quantity_at(resources, "requests", "cpu"));
        cpu = ensure(domain, "cpu");
        if (sockets < 1)
            sockets = 1; /* a negative request is refused below, not defaulted from */
        ferry_json_set_int(cpu, "sockets", sockets);
        ferry_json_set_int(cpu, "cores", 1);
        ferry_json_set_int(cpu, "threads", 1);
    }
    if (!sget(cpu, "model") || !*sget(cpu, "model"))
        ferry_json_set_string(cpu, "model", DEFAULT_CPU_MODEL);

    /* containerDisk pull policy: Always for :latest or untagged images */
    volumes = oget(spec, "volumes");
    for (size_t i = 0; i < alen(volumes); i++) {
        json_object *cd = oget(aget(volumes, i), "containerDisk");
        const char *image = sget(cd, "image");
        if (cd && image && !has(cd, "imagePullPolicy"))
            ferry_json_set_string(cd, "imagePullPolicy",
                                  ferry_str_has_suffix(image, ":latest") || !strpbrk(image, ":@")
                                      ? "Always"
                                      : "IfNotPresent");
    }

    /* the default pod network when there are no interfaces and no networks */
    v = oget(devices, "autoattachPodInterface");
    if (alen(oget(devices, "interfaces")) == 0 && alen(oget(spec, "networks")) == 0 &&
        !(v && json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v))) {
        json_object *iface = json_object_new_object(), *net = json_object_new_object();
        json_object *ifaces = json_object_new_array(), *nets = json_object_new_array();

        ferry_json_set_string(iface, "name", "default");
        json_object_object_add(iface, DEFAULT_INTERFACE_BINDING, json_object_new_object());
        json_object_array_add(ifaces, iface);
        json_object_object_add(devices, "interfaces", ifaces);
        ferry_json_set_string(net, "name", "default");
        json_object_object_add(net, "pod", json_object_new_object());
        json_object_array_add(nets, net);
        json_object_object_add(spec, "networks", nets);
    }

    /* every volume gets a disk (storage/vmispec SetDefaultVolumeDisk) */
    disks = oget(devices, "disks");
    for (size_t i = 0; i < alen(volumes); i++) {
        const char *vname = sget(aget(volumes, i), "name");
        bool found = false;
        if (!vname)
            continue;
        for (size_t j = 0; j < alen(disks); j++)
            found |= ferry_str_eq(sget(aget(disks, j), "name"), vname);
        if (!found) {
            json_object *d = json_object_new_object();
            if (!disks) {
                disks = json_object_new_array();
                json_object_object_add(devices, "disks", disks);
            }
            ferry_json_set_string(d, "name", vname);
            json_object_array_add(disks, d);
        }
    }

    /* SetDefaults_VirtualMachineInstance and the generated defaulters */
    if (!oget(domain, "firmware"))
        json_object_object_add(domain, "firmware", json_object_new_object());
    if (!sget(oget(domain, "firmware"), "uuid")) {
        FERRY_AUTOFREE char *uuid = ferry_uuid_random();
        ferry_json_set_string(oget(domain, "firmware"), "uuid", uuid);
    }
    if (!oget(domain, "features"))
        json_object_object_add(domain, "features", json_object_new_object());
    {
        json_object *features = oget(domain, "features"), *hyperv;
        static const char *const states[] = { "acpi", "apic", "smm", "pvspinlock" };
        static const char *const hv[] = { "relaxed", "vapic", "vpindex", "runtime", "synic",
                                          "reset", "frequencies", "reenlightenment",
                                          "tlbflush", "ipi", "evmcs", "spinlocks", "vendorid",
                                          "synictimer" };
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(states); i++)
            set_enabled_default(oget(features, states[i]));
        hyperv = oget(features, "hyperv");
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(hv); i++)
            set_enabled_default(oget(hyperv, hv[i]));
        json_object *sl = oget(hyperv, "spinlocks");
        if (sl && json_object_is_type(sl, json_type_object) &&
            ferry_json_get_bool(sl, "enabled", true) && !has(sl, "spinlocks"))
            ferry_json_set_int(sl, "spinlocks", 4096);
        json_object *st = oget(hyperv, "synictimer");
        set_enabled_default(oget(st, "direct"));
    }
    {
        json_object *timer = ferry_json_get(domain, "clock.timer");
        static const char *const timers[] = { "hpet", "pit", "rtc", "kvm", "hyperv" };
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(timers); i++)
            set_true_default(oget(timer, timers[i]), "present"); /* json:"present" */
    }
    for (size_t i = 0; i < alen(disks); i++) {
        json_object *d = aget(disks, i), *cd;
        if (!has(d, "disk") && !has(d, "cdrom") && !has(d, "lun"))
            json_object_object_add(d, "disk", json_object_new_object());
        if ((cd = oget(d, "cdrom")) && json_object_is_type(cd, json_type_object)) {
            if (!has(cd, "readonly"))
                json_object_object_add(cd, "readonly", json_object_new_boolean(true));
            if (!has(cd, "tray"))
                ferry_json_set_string(cd, "tray", "closed");
        }
        /* amd64: SATA where no bus is given (pkg/defaults/arch/amd64.go) */
        static const char *const targets[] = { "disk", "cdrom", "lun" };
        for (size_t t = 0; t < FERRY_ARRAY_SIZE(targets); t++) {
            json_object *tg = oget(d, targets[t]);
            if (tg && json_object_is_type(tg, json_type_object) && !has(tg, "bus"))
                ferry_json_set_string(tg, "bus", DEFAULT_DISK_BUS);
        }
    }
    {
        json_object *inputs = oget(devices, "inputs");
        for (size_t i = 0; i < alen(inputs); i++) {
            if (!sget(aget(inputs, i), "bus"))
                ferry_json_set_string(aget(inputs, i), "bus", "usb");
            if (!sget(aget(inputs, i), "type"))
                ferry_json_set_string(aget(inputs, i), "type", "tablet");
        }
    }
    {
        json_object *wd = oget(devices, "watchdog");
        if (wd && json_object_is_type(wd, json_type_object)) {
            json_object *esb = oget(wd, "i6300esb");
            if (!esb && !oget(wd, "diag288"))
                json_object_object_add(wd, "i6300esb", esb = json_object_new_object());
            if (esb && !sget(esb, "action"))
                ferry_json_set_string(esb, "action", "reset");
        }
    }
    static const char *const probes[] = { "readinessProbe", "livenessProbe" };
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(probes); i++) {
        json_object *p = oget(spec, probes[i]);
        if (!p || !json_object_is_type(p, json_type_object))
            continue;
        if (ferry_json_get_int(p, "timeoutSeconds", 0) < 1)
            ferry_json_set_int(p, "timeoutSeconds", 1);
        if (ferry_json_get_int(p, "periodSeconds", 0) < 1)
            ferry_json_set_int(p, "periodSeconds", 10);
        if (ferry_json_get_int(p, "successThreshold", 0) < 1)
            ferry_json_set_int(p, "successThreshold", 1);
        if (ferry_json_get_int(p, "failureThreshold", 0) < 1)
            ferry_json_set_int(p, "failureThreshold", 3);
    }
}

/* The VMI mutator on create: spec defaults, then the status it fills. */
static void
default_vmi(json_object *vmi)
{
    json_object *spec = ensure(vmi, "spec");
    json_object *guest, *cpu, *status;

    default_vmi_spec(spec);
    guest = ferry_json_get(spec, "domain.memory.guest");
    cpu = ferry_json_get(spec, "domain.cpu");
    if (guest) {
        status = ensure(vmi, "status");
        json_object *mem = ensure(status, "memory");
        json_object_object_add(mem, "guestAtBoot", ferry_json_copy(guest));
        json_object_object_add(mem, "guestCurrent", ferry_json_copy(guest));
        json_object_object_add(mem, "guestRequested", ferry_json_copy(guest));
    }
    if (cpu && !ferry_json_get(vmi, "status.currentCPUTopology")) {
        json_object *topo = ensure(ensure(vmi, "status"), "currentCPUTopology");
        ferry_json_set_int(topo, "sockets", ferry_json_get_int(cpu, "sockets", 0));
        ferry_json_set_int(topo, "cores", ferry_json_get_int(cpu, "cores", 0));
        ferry_json_set_int(topo, "threads", ferry_json_get_int(cpu, "threads", 0));
    }
}

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

/* The configuration admission runs with (KubeVirt's feature gates). */
static _Thread_local const struct ferry_admission_config *config;

static bool
gate_enabled(const char *gate)
{
    for (char **g = config ? config->feature_gates : NULL; g && *g; g++)
        if (strcmp(*g, gate) == 0)
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

static void
check_vmi_spec(struct causes *c, json_object *spec, const char *p, bool has_instancetype)
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
        if (has(aget(volumes, i), "hostDisk") && !gate_enabled("HostDisk"))
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

static void
check_dv_spec(struct causes *c, json_object *spec, const char *p, bool in_vm)
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

static void
check_vm(struct causes *c, json_object *vm)
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
        check_vmi_spec(c, tmpl_spec, "spec.template.spec",
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
            check_dv_spec(c, oget(t, "spec"), sp, true);
        }
    }
}

/* metadata.labels as the API server checks them (apimachinery ValidateLabels). */
static void
check_labels(struct causes *c, json_object *labels, const char *path)
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
static void
check_metadata(struct causes *c, json_object *obj)
{
    check_labels(c, ferry_json_get(obj, "metadata.labels"), "metadata.labels");
    check_annotations(c, ferry_json_get(obj, "metadata.annotations"), "metadata.annotations");
}

/* Kinds without their own rules (Namespace, Node, Event): metadata only. */
static int
admit_other(json_object *obj)
{
    struct causes c = { 0 };
    const char *kind = sget(obj, "kind"), *name = ferry_json_get_string(obj, "metadata.name");
    int r = 0;

    if (!json_object_is_type(obj, json_type_object))
        return 0;
    check_metadata(&c, obj);
    if (c.v)
        r = report_invalid(kind ? kind : "object", name ? name : "", &c);
    ferry_strv_free(c.v);
    return r;
}

/* ---- entry points ----------------------------------------------------- */

static int
kind_of(json_object *obj, enum kind *ret)
{
    const char *av = sget(obj, "apiVersion"), *k = sget(obj, "kind");

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(kinds); i++)
        if (ferry_str_eq(av, kinds[i].api_version) && ferry_str_eq(k, kinds[i].kind)) {
            *ret = (enum kind)i;
            return 1;
        }
    return 0;
}

static int
admit(json_object *obj, bool is_create, json_object *old, bool mutate)
{
    enum kind k;
    const struct kind_info *ki;
    const char *name;
    struct causes c = { 0 };
    int r = 0;

    if (!obj)
        return 0;
    if (!kind_of(obj, &k))
        return admit_other(obj);
    ki = &kinds[k];
    pthread_once(&load_once, load_openapi);
    if (!kubevirt_defs || !cdi_defs)
        return ferry_error(FERRY_ERR_IO, "%s", load_error ? load_error : "admission: no OpenAPI");

    prune_nulls(obj);
    name = ferry_json_get_string(obj, "metadata.name");
    if (!name)
        name = ferry_json_get_string(obj, "metadata.generateName");
    if (!name)
        name = "";
    if (check_schema(ki, obj, name, false) < 0)
        return -1;

    /* mutation */
    if (mutate) {
        if (k == KIND_VM)
            default_vm(obj);
        else if (k == KIND_VMI && is_create)
            default_vmi(obj);
        else if (k == KIND_VMI && old) {
            /* an update that re-sends the spec as written: default it the
             * same way (keeping the firmware uuid) before comparing */
            json_object *spec = oget(obj, "spec");
            const char *uuid = ferry_json_get_string(old, "spec.domain.firmware.uuid");
            if (spec && uuid && !ferry_json_get(spec, "domain.firmware.uuid"))
                ferry_json_set_string(ensure(ensure(spec, "domain"), "firmware"), "uuid", uuid);
            if (spec && !ferry_json_equal(spec, oget(old, "spec"))) {
                FERRY_AUTOPTR(json_object) defaulted = ferry_json_copy(spec);
                default_vmi_spec(defaulted);
                if (ferry_json_equal(defaulted, oget(old, "spec")))
                    json_object_object_add(obj, "spec", FERRY_STEAL(defaulted));
            }
        }
    }

    /* validation */
    if (check_schema(ki, obj, name, true) < 0)
        return -1;
    {
        const char *n = ferry_json_get_string(obj, "metadata.name");
        if (n && *n && ferry_name_check_subdomain("metadata.name", n) < 0) {
            cause(&c, "%s", ferry_error_message());
            ferry_error_reset();
        }
    }
    check_metadata(&c, obj);
    {
        static const char *const sidecar = "hooks.kubevirt.io/hookSidecars";
        json_object *a = k == KIND_VMI ? ferry_json_get(obj, "metadata.annotations")
                         : k == KIND_VM ? ferry_json_get(obj, "spec.template.metadata.annotations")
                                        : NULL;
        const char *mp = k == KIND_VM ? "spec.template.metadata" : "metadata";

        if (sget(a, sidecar) && *sget(a, sidecar) && !gate_enabled("Sidecar"))
            cause(&c, "%s.annotations: sidecar feature gate is not enabled in kubevirt-config, "
                      "invalid entry %s.annotations.%s", mp, mp, sidecar);
    }
    if (k == KIND_VM)
        check_labels(&c, ferry_json_get(obj, "spec.template.metadata.labels"),
                     "spec.template.metadata.labels");
    switch (k) {
    case KIND_VM:
        if (!ferry_json_get(obj, "spec.template"))
            break; /* the schema said it */
        check_vm(&c, obj);
        break;
    case KIND_VMI:
        check_vmi_spec(&c, oget(obj, "spec"), "spec", has(oget(obj, "spec"), "instancetype"));
        if (old && !is_create && !ferry_json_equal(oget(obj, "spec"), oget(old, "spec")))
            cause(&c, "spec: Forbidden: update of VMI object is restricted");
        break;
    case KIND_DV: {
        /* the DataVolume's name becomes a PVC's and a pod label's: CDI keeps
         * it to a label's length */
        const char *n = ferry_json_get_string(obj, "metadata.name");
        if (n && strlen(n) > 63)
            cause(&c, "metadata.name: Invalid value: \"%s\": Name cannot be longer than 63 "
                      "characters", n);
        check_dv_spec(&c, oget(obj, "spec"), "spec", false);
        if (old && !is_create && !ferry_json_equal(oget(obj, "spec"), oget(old, "spec")))
            cause(&c, "spec: Forbidden: Cannot update DataVolume Spec");
        break;
    }
    }
    if (c.v)
        r = report_invalid(ki->kind, name, &c);
    ferry_strv_free(c.v);
    return r;
}

int
ferry_admission_admit(json_object *obj, bool is_create, json_object *old)
{
    return ferry_admission_admit_config(obj, is_create, old, NULL);
}

int
ferry_admission_admit_config(json_object *obj, bool is_create, json_object *old,
                             const struct ferry_admission_config *cfg)
{
    const struct ferry_admission_config *saved = config;
    int r;

    config = cfg;
    r = admit(obj, is_create, old, true);
    config = saved;
    return r;
}

int
ferry_admission_validate(json_object *obj, bool is_create, json_object *old)
{
    FERRY_AUTOPTR(json_object) copy = ferry_json_copy(obj);

    return admit(copy, is_create, old, false);
}

/* KubeVirt CR: spec.configuration.developerConfiguration.featureGates */
void
ferry_admission_config_from_kubevirt(json_object *kv, struct ferry_admission_config *ret)
{
    json_object *gates = ferry_json_get(kv, "spec.configuration.developerConfiguration.featureGates");

    ret->feature_gates = NULL;
    for (size_t i = 0; i < alen(gates); i++) {
        json_object *g = aget(gates, i);
        if (g && json_object_is_type(g, json_type_string))
            ferry_strv_push(&ret->feature_gates, json_object_get_string(g));
    }
}

void
ferry_admission_config_release(struct ferry_admission_config *cfg)
{
    if (!cfg)
        return;
    ferry_strv_free(cfg->feature_gates);
    cfg->feature_gates = NULL;
}
