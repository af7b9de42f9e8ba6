/* Admission steps 1 and 3a (see admission.c): the OpenAPI (Swagger 2.0)
 * documents KubeVirt and CDI publish, read once with json-c, and the walk of
 * an object against its definition: unknown fields (strict decoding), types,
 * enums, required fields and quantities. */

#include "common/admission-internal.h"
#include "common/admission.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/name.h"
#include "common/quantity.h"
#include "common/util.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define QUANTITY_REGEX_MSG                                                                     \
    "quantities must match the regular expression "                                            \
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

/* ---- the OpenAPI documents -------------------------------------------- */

static json_object *kubevirt_defs, *cdi_defs;
static char *load_error;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static bool
has_openapi(const char *dir)
{
    FERRY_AUTOFREE char *path = ferry_printf("%s/kubevirt-swagger.json", dir);
    struct stat sb;

    return stat(path, &sb) == 0;
}

/* Where the OpenAPI documents are, first found: $FERRY_OPENAPI_DIR; the
 * installed layout relative to the running program (<prefix>/bin/ferry ->
 * <prefix>/share/ferry/openapi), so that a copy installed under any prefix
 * finds its own; the source tree a build-tree program came from; the
 * configured install prefix; /usr/share/ferry/openapi.  When none has them,
 * the program-relative directory, so that the error names where an
 * installed copy should have them. */
static const char *
openapi_dir(void)
{
    static char relative[PATH_MAX + 32];
    const char *env = getenv("FERRY_OPENAPI_DIR");
    FERRY_AUTOFREE char *beside = ferry_self_data_path("openapi");

    if (env && *env)
        return env;
    if (beside) {
        snprintf(relative, sizeof relative, "%s", beside);
        if (has_openapi(relative))
            return relative;
    }
#ifdef FERRY_SOURCE_DIR
    if (has_openapi(FERRY_SOURCE_DIR "/deploy/openapi"))
        return FERRY_SOURCE_DIR "/deploy/openapi";
#endif
#ifdef FERRY_OPENAPI_INSTALL_DIR
    if (has_openapi(FERRY_OPENAPI_INSTALL_DIR))
        return FERRY_OPENAPI_INSTALL_DIR;
#endif
    if (has_openapi("/usr/share/ferry/openapi") || !relative[0])
        return "/usr/share/ferry/openapi";
    return relative;
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

/* Read the OpenAPI documents once; -1 with the reason when they are missing. */
int
ferry_admission_openapi_load(void)
{
    pthread_once(&load_once, load_openapi);
    if (!kubevirt_defs || !cdi_defs)
        return ferry_error(FERRY_ERR_IO, "%s", load_error ? load_error : "admission: no OpenAPI");
    return 0;
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

/* Steps 1 and 3a for obj (status is the status subresource's business). */
int
ferry_admission_check_schema(const struct kind_info *ki, json_object *obj, const char *name,
                             bool required)
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
