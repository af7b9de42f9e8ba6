/* Admission step 2 (see admission.c): the defaults of kubevirt/kubevirt
 * pkg/defaults and api/core/v1/defaults.go, as admission.h lists them. */

#include "common/admission-internal.h"
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
void
ferry_admission_default_vm(json_object *vm)
{
    json_object *tmpl = ferry_json_get(vm, "spec.template");
    json_object *spec;

    if (!tmpl || !json_object_is_type(tmpl, json_type_object))
        return; /* the validation says what is missing */
    spec = ensure(tmpl, "spec");
    default_arch(spec);
    default_machine(spec);
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

void
ferry_admission_default_vmi_spec(json_object *spec)
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
void
ferry_admission_default_vmi(json_object *vmi)
{
    json_object *spec = ensure(vmi, "spec");
    json_object *guest, *cpu, *status;

    ferry_admission_default_vmi_spec(spec);
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
