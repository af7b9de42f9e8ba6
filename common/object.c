/* Kubernetes object helpers over json-c.  The rules are the API machinery's:
 * selectors as k8s.io/apimachinery/pkg/labels parses and matches them (and
 * metav1.LabelSelectorAsSelector for the object form), ownerReferences as
 * metav1.NewControllerRef builds them, and conditions as
 * k8s.io/apimachinery/pkg/api/meta.SetStatusCondition updates them: the
 * lastTransitionTime moves only when the status does. */
#include "common/object.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/name.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- metadata ----------------------------------------------------------- */

static const char *
meta_string(json_object *o, const char *key)
{
    json_object *md, *v;

    if (!o || !json_object_object_get_ex(o, "metadata", &md) ||
        !json_object_is_type(md, json_type_object) || !json_object_object_get_ex(md, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

const char *
ferry_obj_api_version(json_object *o)
{
    return ferry_json_get_string(o, "apiVersion");
}

const char *
ferry_obj_kind(json_object *o)
{
    return ferry_json_get_string(o, "kind");
}

const char *
ferry_obj_name(json_object *o)
{
    return meta_string(o, "name");
}

const char *
ferry_obj_namespace(json_object *o)
{
    const char *ns = meta_string(o, "namespace");

    return ns && *ns ? ns : NULL;
}

const char *
ferry_obj_uid(json_object *o)
{
    return meta_string(o, "uid");
}

const char *
ferry_obj_resource_version(json_object *o)
{
    return meta_string(o, "resourceVersion");
}

int64_t
ferry_obj_generation(json_object *o)
{
    return ferry_json_get_int(o, "metadata.generation", 0);
}

static json_object *
meta_map(json_object *o, const char *key)
{
    json_object *md, *v;

    if (!o || !json_object_object_get_ex(o, "metadata", &md) ||
        !json_object_is_type(md, json_type_object) || !json_object_object_get_ex(md, key, &v) ||
        !json_object_is_type(v, json_type_object))
        return NULL;
    return v;
}

json_object *
ferry_obj_labels(json_object *o)
{
    return meta_map(o, "labels");
}

json_object *
ferry_obj_annotations(json_object *o)
{
    return meta_map(o, "annotations");
}

static const char *
map_string(json_object *map, const char *key)
{
    json_object *v;

    if (!map || !json_object_object_get_ex(map, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

const char *
ferry_obj_label(json_object *o, const char *key)
{
    return map_string(ferry_obj_labels(o), key);
}

const char *
ferry_obj_annotation(json_object *o, const char *key)
{
    return map_string(ferry_obj_annotations(o), key);
}

/* Keys hold '.' and '/', so no dotted paths here. */
static void
meta_map_set(json_object *o, const char *which, const char *key, const char *value)
{
    json_object *md = ferry_json_ensure_object(o, "metadata");
    json_object *map;

    if (!json_object_object_get_ex(md, which, &map) || !json_object_is_type(map, json_type_object)) {
        if (!value)
            return;
        map = json_object_new_object();
        json_object_object_add(md, which, map);
    }
    if (value)
        json_object_object_add(map, key, json_object_new_string(value));
    else
        json_object_object_del(map, key);
}

void
ferry_obj_set_label(json_object *o, const char *key, const char *value)
{
    meta_map_set(o, "labels", key, value);
}

void
ferry_obj_set_annotation(json_object *o, const char *key, const char *value)
{
    meta_map_set(o, "annotations", key, value);
}

bool
ferry_obj_has_finalizer(json_object *o, const char *f)
{
    json_object *fin = ferry_json_get(o, "metadata.finalizers");

    for (size_t i = 0; fin && i < json_object_array_length(fin); i++)
        if (ferry_str_eq(json_object_get_string(json_object_array_get_idx(fin, i)), f))
            return true;
    return false;
}

bool
ferry_obj_set_finalizer(json_object *o, const char *f, bool on)
{
    json_object *fin, *nfin;

    if (ferry_obj_has_finalizer(o, f) == on)
        return false;
    fin = ferry_json_get(o, "metadata.finalizers");
    nfin = json_object_new_array();
    for (size_t i = 0; fin && i < json_object_array_length(fin); i++) {
        json_object *it = json_object_array_get_idx(fin, i);

        if (!ferry_str_eq(json_object_get_string(it), f))
            json_object_array_add(nfin, json_object_get(it));
    }
    if (on)
        json_object_array_add(nfin, json_object_new_string(f));
    if (json_object_array_length(nfin) == 0) {
        json_object_put(nfin);
        ferry_json_del(o, "metadata.finalizers");
    } else {
        ferry_json_set(o, "metadata.finalizers", nfin);
    }
    return true;
}

void
ferry_obj_split_api_version(const char *apiversion, char **ret_group, char **ret_version)
{
    const char *slash = apiversion ? strchr(apiversion, '/') : NULL;

    if (!apiversion)
        apiversion = "";
    if (ret_group)
        *ret_group = slash ? ferry_strndup(apiversion, (size_t)(slash - apiversion)) : ferry_strdup("");
    if (ret_version)
        *ret_version = ferry_strdup(slash ? slash + 1 : apiversion);
}

/* ---- label selectors ---------------------------------------------------- */

enum sel_op { OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS, OP_GT, OP_LT };

struct requirement {
    char *key;
    enum sel_op op;
    char **values; /* NULL-terminated */
};

struct ferry_selector {
    bool nothing; /* a null LabelSelector selects nothing */
    struct requirement *reqs;
    size_t n;
};

void
ferry_selector_free(struct ferry_selector *sel)
{
    if (!sel)
        return;
    for (size_t k = 0; k < sel->n; k++) {
        free(sel->reqs[k].key);
        ferry_strv_free(sel->reqs[k].values);
    }
    free(sel->reqs);
    free(sel);
}
/* for FERRY_AUTOPTR only */
typedef struct ferry_selector ferry_selector;
FERRY_DEFINE_AUTOPTR(ferry_selector, ferry_selector_free)

static struct requirement *
sel_add(struct ferry_selector *sel, const char *key, enum sel_op op)
{
    struct requirement *r;

    sel->reqs = ferry_realloc(sel->reqs, (sel->n + 1) * sizeof *sel->reqs);
    r = &sel->reqs[sel->n++];
    r->key = ferry_strdup(key);
    r->op = op;
    r->values = NULL;
    return r;
}

static int
check_key(const char *what, const char *key)
{
    if (!ferry_name_is_label_key(key))
        return ferry_error(FERRY_ERR_INVALID, "%s: invalid label key \"%s\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                           what, key);
    return 0;
}

static int
check_value(const char *what, const char *value)
{
    if (!ferry_name_is_label_value(value))
        return ferry_error(FERRY_ERR_INVALID, "%s: invalid label value: \"%s\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                           what, value);
    return 0;
}

/* The lexer of k8s.io/apimachinery/pkg/labels: identifiers run until
 * whitespace or one of the special characters. */
static bool
is_special(char c)
{
    return strchr("!=,()<>", c) != NULL;
}

static const char *
skip_ws(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

static char *
lex_ident(const char **pp)
{
    const char *p = *pp, *start = p;

    while (*p && !isspace((unsigned char)*p) && !is_special(*p))
        p++;
    *pp = p;
    return ferry_strndup(start, (size_t)(p - start));
}

static bool
word_is(const char *p, const char *word)
{
    size_t n = strlen(word);

    return strncmp(p, word, n) == 0 && (!p[n] || isspace((unsigned char)p[n]) || p[n] == '(');
}

int
ferry_selector_parse(const char *s, struct ferry_selector **ret)
{
    FERRY_AUTOPTR(ferry_selector) sel = ferry_calloc(1, sizeof *sel);
    FERRY_AUTOFREE char *what = ferry_printf("label selector \"%s\"", s ? s : "");
    const char *p = skip_ws(s ? s : "");

    if (!*p) {
        *ret = FERRY_STEAL(sel);
        return 0;
    }
    for (;;) {
        FERRY_AUTOFREE char *key = NULL;
        struct requirement *r;
        bool negated = false;

        p = skip_ws(p);
        if (*p == '!') {
            negated = true;
            p = skip_ws(p + 1);
        }
        key = lex_ident(&p);
        if (!*key)
            return ferry_error(FERRY_ERR_INVALID, "%s: expected a label key at offset %zu", what,
                               (size_t)(p - s));
        if (check_key(what, key) < 0)
            return -1;
        p = skip_ws(p);
        if (negated) {
            if (*p && *p != ',')
                return ferry_error(FERRY_ERR_INVALID, "%s: expected ',' or end after '!%s'", what, key);
            sel_add(sel, key, OP_NOTEXISTS);
        } else if (!*p || *p == ',') {
            sel_add(sel, key, OP_EXISTS);
        } else if (*p == '=' || (*p == '!' && p[1] == '=') || *p == '<' || *p == '>') {
            enum sel_op op;
            FERRY_AUTOFREE char *value = NULL;

            if (*p == '=') {
                op = OP_IN;
                p += p[1] == '=' ? 2 : 1;
            } else if (*p == '!') {
                op = OP_NOTIN;
                p += 2;
            } else {
                op = *p == '<' ? OP_LT : OP_GT;
                p++;
            }
            p = skip_ws(p);
            value = lex_ident(&p);
            if (op == OP_LT || op == OP_GT) {
                char *end;

                errno = 0;
                (void)strtoll(value, &end, 10);
                if (!*value || *end || errno)
                    return ferry_error(FERRY_ERR_INVALID, "%s: for 'Gt', 'Lt' operators, the value must be an integer, not \"%s\"",
                                       what, value);
            } else if (check_value(what, value) < 0) {
                return -1;
            }
            r = sel_add(sel, key, op);
            ferry_strv_push(&r->values, value);
        } else if (word_is(p, "in") || word_is(p, "notin")) {
            enum sel_op op = word_is(p, "in") ? OP_IN : OP_NOTIN;

            p = skip_ws(p + (op == OP_IN ? 2 : 5));
            if (*p != '(')
                return ferry_error(FERRY_ERR_INVALID, "%s: expected '(' after '%s' for key '%s'", what,
                                   op == OP_IN ? "in" : "notin", key);
            r = sel_add(sel, key, op);
            p++;
            for (;;) {
                FERRY_AUTOFREE char *value = NULL;

                p = skip_ws(p);
                value = lex_ident(&p);
                if (check_value(what, value) < 0)
                    return -1;
                ferry_strv_push(&r->values, value);
                p = skip_ws(p);
                if (*p == ',') {
                    p++;
                    continue;
                }
                if (*p == ')') {
                    p++;
                    break;
                }
                return ferry_error(FERRY_ERR_INVALID, "%s: expected ',' or ')' in the values of '%s'",
                                   what, key);
            }
        } else {
            return ferry_error(FERRY_ERR_INVALID, "%s: unexpected '%c' after key '%s' (expected =, ==, !=, in, notin)",
                               what, *p, key);
        }
        p = skip_ws(p);
        if (!*p)
            break;
        if (*p != ',')
            return ferry_error(FERRY_ERR_INVALID, "%s: expected ',' at offset %zu", what,
                               (size_t)(p - s));
        p++;
    }
    *ret = FERRY_STEAL(sel);
    return 0;
}

int
ferry_selector_from_json(json_object *ls, struct ferry_selector **ret)
{
    FERRY_AUTOPTR(ferry_selector) sel = ferry_calloc(1, sizeof *sel);
    json_object *ml, *me;
    const char *what = "labelSelector";

    if (!ls || json_object_is_type(ls, json_type_null)) {
        sel->nothing = true;
        *ret = FERRY_STEAL(sel);
        return 0;
    }
    if (!json_object_is_type(ls, json_type_object))
        return ferry_error(FERRY_ERR_INVALID, "labelSelector: must be an object");
    if (json_object_object_get_ex(ls, "matchLabels", &ml) && ml &&
        !json_object_is_type(ml, json_type_null)) {
        if (!json_object_is_type(ml, json_type_object))
            return ferry_error(FERRY_ERR_INVALID, "labelSelector.matchLabels: must be an object");
        json_object_object_foreach(ml, k, v)
        {
            struct requirement *r;

            if (!json_object_is_type(v, json_type_string))
                return ferry_error(FERRY_ERR_INVALID, "labelSelector.matchLabels.%s: must be a string", k);
            if (check_key(what, k) < 0 || check_value(what, json_object_get_string(v)) < 0)
                return -1;
            r = sel_add(sel, k, OP_IN);
            ferry_strv_push(&r->values, json_object_get_string(v));
        }
    }
    if (json_object_object_get_ex(ls, "matchExpressions", &me) && me &&
        !json_object_is_type(me, json_type_null)) {
        if (!json_object_is_type(me, json_type_array))
            return ferry_error(FERRY_ERR_INVALID, "labelSelector.matchExpressions: must be a list");
        for (size_t i = 0; i < json_object_array_length(me); i++) {
            json_object *e = json_object_array_get_idx(me, i), *vals = NULL;
            const char *key = ferry_json_get_string(e, "key");
            const char *op = ferry_json_get_string(e, "operator");
            enum sel_op sop;
            size_t nvals;
            struct requirement *r;

            if (!key || check_key(what, key) < 0)
                return key ? -1 : ferry_error(FERRY_ERR_INVALID, "labelSelector.matchExpressions[%zu].key: Required value", i);
            if (!op)
                return ferry_error(FERRY_ERR_INVALID, "labelSelector.matchExpressions[%zu].operator: Required value", i);
            if (strcmp(op, "In") == 0)
                sop = OP_IN;
            else if (strcmp(op, "NotIn") == 0)
                sop = OP_NOTIN;
            else if (strcmp(op, "Exists") == 0)
                sop = OP_EXISTS;
            else if (strcmp(op, "DoesNotExist") == 0)
                sop = OP_NOTEXISTS;
            else
                return ferry_error(FERRY_ERR_INVALID, "labelSelector.matchExpressions[%zu].operator: Unsupported value: \"%s\": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"",
                                   i, op);
            json_object_object_get_ex(e, "values", &vals);
            nvals = json_object_is_type(vals, json_type_array) ? json_object_array_length(vals) : 0;
            if ((sop == OP_IN || sop == OP_NOTIN) && nvals == 0)
                return ferry_error(FERRY_ERR_INVALID, "labelSelector.matchExpressions[%zu].values: Required value: must be specified when `operator` is 'In' or 'NotIn'", i);
            if ((sop == OP_EXISTS || sop == OP_NOTEXISTS) && nvals > 0)
                return ferry_error(FERRY_ERR_INVALID, "labelSelector.matchExpressions[%zu].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'", i);
            r = sel_add(sel, key, sop);
            for (size_t j = 0; j < nvals; j++) {
                json_object *v = json_object_array_get_idx(vals, j);

                if (!json_object_is_type(v, json_type_string))
                    return ferry_error(FERRY_ERR_INVALID, "labelSelector.matchExpressions[%zu].values[%zu]: must be a string", i, j);
                if (check_value(what, json_object_get_string(v)) < 0)
                    return -1;
                ferry_strv_push(&r->values, json_object_get_string(v));
            }
        }
    }
    *ret = FERRY_STEAL(sel);
    return 0;
}

static bool
has_value(char **values, const char *v)
{
    for (char **p = values; p && *p; p++)
        if (strcmp(*p, v) == 0)
            return true;
    return false;
}

char *
ferry_selector_to_string(const struct ferry_selector *sel)
{
    static const char *const ops[] = { " in ", " notin ", "", "!", ">", "<" };
    char *out = ferry_strdup("");

    if (!sel)
        return out;
    if (sel->nothing) {
        free(out);
        return NULL;
    }
    for (size_t k = 0; k < sel->n; k++) {
        const struct requirement *r = &sel->reqs[k];
        char *vals = ferry_strdup(""), *next;

        for (char **v = r->values; v && *v; v++) {
            next = ferry_printf("%s%s%s", vals, v == r->values ? "" : ",", *v);
            free(vals);
            vals = next;
        }
        if (r->op == OP_NOTEXISTS)
            next = ferry_printf("%s%s!%s", out, k ? "," : "", r->key);
        else if (r->op == OP_EXISTS)
            next = ferry_printf("%s%s%s", out, k ? "," : "", r->key);
        else if (r->op == OP_IN || r->op == OP_NOTIN)
            next = ferry_printf("%s%s%s%s(%s)", out, k ? "," : "", r->key, ops[r->op], vals);
        else
            next = ferry_printf("%s%s%s%s%s", out, k ? "," : "", r->key, ops[r->op], vals);
        free(vals);
        free(out);
        out = next;
    }
    return out;
}

bool
ferry_selector_matches(const struct ferry_selector *sel, json_object *labels)
{
    if (!sel || sel->nothing)
        return false;
    for (size_t k = 0; k < sel->n; k++) {
        const struct requirement *r = &sel->reqs[k];
        const char *v = map_string(json_object_is_type(labels, json_type_object) ? labels : NULL, r->key);

        switch (r->op) {
        case OP_IN:
            if (!v || !has_value(r->values, v))
                return false;
            break;
        case OP_NOTIN:
            if (v && has_value(r->values, v))
                return false;
            break;
        case OP_EXISTS:
            if (!v)
                return false;
            break;
        case OP_NOTEXISTS:
            if (v)
                return false;
            break;
        case OP_GT:
        case OP_LT: {
            char *end;
            long long have, want;

            if (!v)
                return false;
            errno = 0;
            have = strtoll(v, &end, 10);
            if (!*v || *end || errno)
                return false;
            want = strtoll(r->values[0], NULL, 10);
            if (r->op == OP_GT ? !(have > want) : !(have < want))
                return false;
            break;
        }
        }
    }
    return true;
}

/* ---- ownerReferences ---------------------------------------------------- */

void
ferry_obj_add_owner(json_object *o, json_object *owner, bool controller)
{
    json_object *md = ferry_json_ensure_object(o, "metadata");
    json_object *refs, *ref;
    const char *uid = ferry_obj_uid(owner);

    if (!json_object_object_get_ex(md, "ownerReferences", &refs) ||
        !json_object_is_type(refs, json_type_array)) {
        refs = json_object_new_array();
        json_object_object_add(md, "ownerReferences", refs);
    }
    ref = json_object_new_object();
    json_object_object_add(ref, "apiVersion", json_object_new_string(ferry_obj_api_version(owner) ?: ""));
    json_object_object_add(ref, "kind", json_object_new_string(ferry_obj_kind(owner) ?: ""));
    json_object_object_add(ref, "name", json_object_new_string(ferry_obj_name(owner) ?: ""));
    json_object_object_add(ref, "uid", json_object_new_string(uid ?: ""));
    if (controller) {
        json_object_object_add(ref, "controller", json_object_new_boolean(true));
        json_object_object_add(ref, "blockOwnerDeletion", json_object_new_boolean(true));
    }
    /* one reference per owner: replace an existing one */
    for (size_t i = 0; i < json_object_array_length(refs); i++) {
        const char *u = ferry_json_get_string(json_object_array_get_idx(refs, i), "uid");

        if (uid && ferry_str_eq(u, uid)) {
            json_object_array_put_idx(refs, i, ref);
            return;
        }
    }
    json_object_array_add(refs, ref);
}

bool
ferry_obj_is_owned_by(json_object *o, const char *owner_uid)
{
    json_object *refs = ferry_json_get(o, "metadata.ownerReferences");

    if (!owner_uid || !json_object_is_type(refs, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(refs); i++)
        if (ferry_str_eq(ferry_json_get_string(json_object_array_get_idx(refs, i), "uid"), owner_uid))
            return true;
    return false;
}

json_object *
ferry_obj_controller_ref(json_object *o)
{
    json_object *refs = ferry_json_get(o, "metadata.ownerReferences");

    if (!json_object_is_type(refs, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(refs); i++) {
        json_object *r = json_object_array_get_idx(refs, i);

        if (ferry_json_get_bool(r, "controller", false))
            return r;
    }
    return NULL;
}

/* ---- conditions --------------------------------------------------------- */

static json_object *
conditions(json_object *obj, bool create)
{
    json_object *status, *conds;

    if (!obj)
        return NULL;
    if (!json_object_object_get_ex(obj, "status", &status) ||
        !json_object_is_type(status, json_type_object)) {
        if (!create)
            return NULL;
        status = json_object_new_object();
        json_object_object_add(obj, "status", status);
    }
    if (!json_object_object_get_ex(status, "conditions", &conds) ||
        !json_object_is_type(conds, json_type_array)) {
        if (!create)
            return NULL;
        conds = json_object_new_array();
        json_object_object_add(status, "conditions", conds);
    }
    return conds;
}

json_object *
ferry_condition_get(json_object *obj, const char *type)
{
    json_object *conds = conditions(obj, false);

    if (!conds)
        return NULL;
    for (size_t i = 0; i < json_object_array_length(conds); i++) {
        json_object *c = json_object_array_get_idx(conds, i);

        if (ferry_str_eq(ferry_json_get_string(c, "type"), type))
            return c;
    }
    return NULL;
}

bool
ferry_condition_is_true(json_object *obj, const char *type)
{
    return ferry_str_eq(ferry_json_get_string(ferry_condition_get(obj, type), "status"), "True");
}

/* Set or remove (NULL) a string field; true when it changed. */
static bool
set_field(json_object *c, const char *key, const char *value)
{
    json_object *old = NULL;
    bool had = json_object_object_get_ex(c, key, &old);

    if (!value) {
        if (!had)
            return false;
        json_object_object_del(c, key);
        return true;
    }
    if (had && json_object_is_type(old, json_type_string) &&
        strcmp(json_object_get_string(old), value) == 0)
        return false;
    json_object_object_add(c, key, json_object_new_string(value));
    return true;
}

bool
ferry_condition_set(json_object *obj, const char *type, const char *status, const char *reason,
                    const char *message)
{
    json_object *c = ferry_condition_get(obj, type);
    bool changed = false;

    if (!c) {
        FERRY_AUTOFREE char *now = ferry_time_now_rfc3339();

        c = json_object_new_object();
        json_object_object_add(c, "type", json_object_new_string(type));
        json_object_object_add(c, "status", json_object_new_string(status));
        json_object_object_add(c, "lastTransitionTime", json_object_new_string(now));
        if (reason)
            json_object_object_add(c, "reason", json_object_new_string(reason));
        if (message)
            json_object_object_add(c, "message", json_object_new_string(message));
        json_object_array_add(conditions(obj, true), c);
        return true;
    }
    if (set_field(c, "status", status)) {
        FERRY_AUTOFREE char *now = ferry_time_now_rfc3339();

        json_object_object_add(c, "lastTransitionTime", json_object_new_string(now));
        changed = true;
    }
    changed |= set_field(c, "reason", reason);
    changed |= set_field(c, "message", message);
    return changed;
}

bool
ferry_condition_remove(json_object *obj, const char *type)
{
    json_object *conds = conditions(obj, false);

    if (!conds)
        return false;
    for (size_t i = 0; i < json_object_array_length(conds); i++)
        if (ferry_str_eq(ferry_json_get_string(json_object_array_get_idx(conds, i), "type"), type)) {
            json_object_array_del_idx(conds, i, 1);
            return true;
        }
    return false;
}
