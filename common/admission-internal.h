/* Admission's parts, as libvirt splits parse / post-parse / validate:
 * admission-schema.c (steps 1 and 3a: the OpenAPI documents and the walk of
 * an object against them), admission-defaults.c (step 2: KubeVirt's
 * defaults), admission-validate.c (step 3b: KubeVirt's and CDI's rules) and
 * admission.c (the entry points of admission.h, which run them in the API
 * server's order).  Internal to common/admission*.c: nothing else includes
 * it.  The causes and JSON helpers are small and inline, so the parts share
 * one copy of the source. */
#ifndef FERRY_ADMISSION_INTERNAL_H
#define FERRY_ADMISSION_INTERNAL_H

#include "common/admission.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/quantity.h"
#include "common/util.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- causes ----------------------------------------------------------- */

struct causes {
    char **v;
};

static inline void __attribute__((format(printf, 2, 3)))
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

static inline char *
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

static inline int
report_invalid(const char *kind, const char *name, struct causes *c)
{
    FERRY_AUTOFREE char *all = join(c->v, ", ");

    if (ferry_strv_len(c->v) == 1)
        return ferry_error(FERRY_ERR_INVALID, "The %s \"%s\" is invalid: %s", kind, name, all);
    return ferry_error(FERRY_ERR_INVALID, "The %s \"%s\" is invalid: [%s]", kind, name, all);
}


/* ---- small JSON helpers ----------------------------------------------- */

static inline char *
child(const char *path, const char *key)
{
    return *path ? ferry_printf("%s.%s", path, key) : ferry_strdup(key);
}

static inline char *
index_of(const char *path, size_t i)
{
    return ferry_printf("%s[%zu]", path, i);
}

static inline size_t
alen(json_object *a)
{
    return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static inline json_object *
aget(json_object *a, size_t i)
{
    return json_object_array_get_idx(a, i);
}

static inline json_object *
oget(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (!o || !json_object_is_type(o, json_type_object))
        return NULL;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static inline const char *
sget(json_object *o, const char *key)
{
    json_object *v = oget(o, key);

    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static inline json_object *
ensure(json_object *o, const char *key)
{
    json_object *v = oget(o, key);

    if (!v || !json_object_is_type(v, json_type_object)) {
        v = json_object_new_object();
        json_object_object_add(o, key, v);
    }
    return v;
}

static inline bool
has(json_object *o, const char *key)
{
    return oget(o, key) != NULL;
}

/* The API server drops null fields before it validates. */
static inline void
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

static inline const char *
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
static inline char *
quote_value(json_object *v)
{
    if (json_object_is_type(v, json_type_string))
        return ferry_printf("\"%s\"", json_object_get_string(v));
    if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
        return ferry_printf("\"%s\"", type_name(v));
    return ferry_strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
}


/* ---- quantities (defaults and rules) ---------------------------------- */

static inline json_object *
quantity_at(json_object *resources, const char *list, const char *what)
{
    return oget(oget(resources, list), what);
}

/* Value() of a quantity: rounded up to an integer; 0 when it does not parse. */
static inline int64_t
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

/* ---- the kinds -------------------------------------------------------- */

enum kind { KIND_VM, KIND_VMI, KIND_DV };

struct kind_info {
    const char *api_version;
    const char *kind;
    const char *definition;
    bool cdi;
};

/* ---- admission-schema.c: steps 1 and 3a -------------------------------- */

/* Read the OpenAPI documents once; -1 with the reason when they are missing. */
int ferry_admission_openapi_load(void);
/* Steps 1 and 3a for obj (status is the status subresource's business). */
int ferry_admission_check_schema(const struct kind_info *ki, json_object *obj, const char *name,
                                 bool required);

/* ---- admission-defaults.c: step 2 ------------------------------------- */

void ferry_admission_default_vm(json_object *vm);
void ferry_admission_default_vmi_spec(json_object *spec);
void ferry_admission_default_vmi(json_object *vmi);

/* ---- admission-validate.c: step 3b ------------------------------------ */

void ferry_admission_check_vmi_spec(struct causes *c, json_object *spec, const char *p,
                                    bool has_instancetype);
void ferry_admission_check_dv_spec(struct causes *c, json_object *spec, const char *p,
                                   bool in_vm);
void ferry_admission_check_vm(struct causes *c, json_object *vm);
void ferry_admission_check_labels(struct causes *c, json_object *labels, const char *path);
void ferry_admission_check_metadata(struct causes *c, json_object *obj);
/* Objects of other kinds: only the metadata rules. */
int ferry_admission_admit_other(json_object *obj);

/* ---- admission.c ------------------------------------------------------- */

/* Whether the configuration admission runs with enables GATE. */
bool ferry_admission_gate_enabled(const char *gate);

#endif
