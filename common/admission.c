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

/* ---- the kinds -------------------------------------------------------- */

static const struct kind_info kinds[] = {
    [KIND_VM] = { "kubevirt.io/v1", "VirtualMachine", "v1.VirtualMachine", false },
    [KIND_VMI] = { "kubevirt.io/v1", "VirtualMachineInstance", "v1.VirtualMachineInstance",
                   false },
    [KIND_DV] = { "cdi.kubevirt.io/v1beta1", "DataVolume", "v1beta1.DataVolume", true },
};

/* The configuration admission runs with (KubeVirt's feature gates). */
static _Thread_local const struct ferry_admission_config *config;

bool
ferry_admission_gate_enabled(const char *gate)
{
    for (char **g = config ? config->feature_gates : NULL; g && *g; g++)
        if (strcmp(*g, gate) == 0)
            return true;
    return false;
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
        return ferry_admission_admit_other(obj);
    ki = &kinds[k];
    if (ferry_admission_openapi_load() < 0)
        return -1;

    prune_nulls(obj);
    name = ferry_json_get_string(obj, "metadata.name");
    if (!name)
        name = ferry_json_get_string(obj, "metadata.generateName");
    if (!name)
        name = "";
    if (ferry_admission_check_schema(ki, obj, name, false) < 0)
        return -1;

    /* mutation */
    if (mutate) {
        if (k == KIND_VM)
            ferry_admission_default_vm(obj);
        else if (k == KIND_VMI && is_create)
            ferry_admission_default_vmi(obj);
        else if (k == KIND_VMI && old) {
            /* an update that re-sends the spec as written: default it the
             * same way (keeping the firmware uuid) before comparing */
            json_object *spec = oget(obj, "spec");
            const char *uuid = ferry_json_get_string(old, "spec.domain.firmware.uuid");
            if (spec && uuid && !ferry_json_get(spec, "domain.firmware.uuid"))
                ferry_json_set_string(ensure(ensure(spec, "domain"), "firmware"), "uuid", uuid);
            if (spec && !ferry_json_equal(spec, oget(old, "spec"))) {
                FERRY_AUTOPTR(json_object) defaulted = ferry_json_copy(spec);
                ferry_admission_default_vmi_spec(defaulted);
                if (ferry_json_equal(defaulted, oget(old, "spec")))
                    json_object_object_add(obj, "spec", FERRY_STEAL(defaulted));
            }
        }
    }

    /* validation */
    if (ferry_admission_check_schema(ki, obj, name, true) < 0)
        return -1;
    {
        const char *n = ferry_json_get_string(obj, "metadata.name");
        if (n && *n && ferry_name_check_subdomain("metadata.name", n) < 0) {
            cause(&c, "%s", ferry_error_message());
            ferry_error_reset();
        }
    }
    ferry_admission_check_metadata(&c, obj);
    {
        static const char *const sidecar = "hooks.kubevirt.io/hookSidecars";
        json_object *a = k == KIND_VMI ? ferry_json_get(obj, "metadata.annotations")
                         : k == KIND_VM ? ferry_json_get(obj, "spec.template.metadata.annotations")
                                        : NULL;
        const char *mp = k == KIND_VM ? "spec.template.metadata" : "metadata";

        if (sget(a, sidecar) && *sget(a, sidecar) && !ferry_admission_gate_enabled("Sidecar"))
            cause(&c, "%s.annotations: sidecar feature gate is not enabled in kubevirt-config, "
                      "invalid entry %s.annotations.%s", mp, mp, sidecar);
    }
    if (k == KIND_VM)
        ferry_admission_check_labels(&c, ferry_json_get(obj, "spec.template.metadata.labels"),
                     "spec.template.metadata.labels");
    switch (k) {
    case KIND_VM:
        if (!ferry_json_get(obj, "spec.template"))
            break; /* the schema said it */
        ferry_admission_check_vm(&c, obj);
        break;
    case KIND_VMI:
        ferry_admission_check_vmi_spec(&c, oget(obj, "spec"), "spec",
                                       has(oget(obj, "spec"), "instancetype"));
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
        ferry_admission_check_dv_spec(&c, oget(obj, "spec"), "spec", false);
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
