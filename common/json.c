/* json-c helpers; see json.h. */
#include "common/json.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"

#include <string.h>

/* Walk all but the last path component; returns the parent and the last key. */
static json_object *
walk(json_object *obj, const char *path, bool create, const char **ret_last)
{
    const char *p = path, *dot;

    while ((dot = strchr(p, '.'))) {
        FERRY_AUTOFREE char *key = ferry_strndup(p, dot - p);
        json_object *next = NULL;

        if (!obj || !json_object_is_type(obj, json_type_object))
            return NULL;
        if (!json_object_object_get_ex(obj, key, &next) ||
            !json_object_is_type(next, json_type_object)) {
            if (!create)
                return NULL;
            next = json_object_new_object();
            json_object_object_add(obj, key, next);
        }
        obj = next;
        p = dot + 1;
    }
    *ret_last = p;
    return obj && json_object_is_type(obj, json_type_object) ? obj : NULL;
}

json_object *
ferry_json_get(json_object *obj, const char *path)
{
    const char *last;
    json_object *v = NULL;

    if (!path || !*path)
        return obj;
    obj = walk(obj, path, false, &last);
    if (!obj || !json_object_object_get_ex(obj, last, &v))
        return NULL;
    return v;
}

const char *
ferry_json_get_string(json_object *obj, const char *path)
{
    json_object *v = ferry_json_get(obj, path);

    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int64_t
ferry_json_get_int(json_object *obj, const char *path, int64_t dflt)
{
    json_object *v = ferry_json_get(obj, path);

    if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return json_object_get_int64(v);
    return dflt;
}

bool
ferry_json_get_bool(json_object *obj, const char *path, bool dflt)
{
    json_object *v = ferry_json_get(obj, path);

    return v && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : dflt;
}

json_object *
ferry_json_ensure_object(json_object *obj, const char *path)
{
    const char *last;
    json_object *parent = walk(obj, path, true, &last), *v = NULL;

    if (!parent)
        ferry_oom(); /* obj itself was not an object: a programming error */
    if (json_object_object_get_ex(parent, last, &v) && json_object_is_type(v, json_type_object))
        return v;
    v = json_object_new_object();
    json_object_object_add(parent, last, v);
    return v;
}

void
ferry_json_set(json_object *obj, const char *path, json_object *val)
{
    const char *last;
    json_object *parent = walk(obj, path, val != NULL, &last);

    if (!parent) {
        json_object_put(val);
        return;
    }
    if (val)
        json_object_object_add(parent, last, val);
    else
        json_object_object_del(parent, last);
}

void
ferry_json_set_string(json_object *obj, const char *path, const char *s)
{
    ferry_json_set(obj, path, s ? json_object_new_string(s) : NULL);
}

void
ferry_json_set_int(json_object *obj, const char *path, int64_t v)
{
    ferry_json_set(obj, path, json_object_new_int64(v));
}

void
ferry_json_set_bool(json_object *obj, const char *path, bool v)
{
    ferry_json_set(obj, path, json_object_new_boolean(v));
}

void
ferry_json_del(json_object *obj, const char *path)
{
    ferry_json_set(obj, path, NULL);
}

bool
ferry_json_copy_string(json_object *dst, const char *dpath, json_object *src, const char *spath)
{
    const char *v = ferry_json_get_string(src, spath);

    if (v)
        ferry_json_set_string(dst, dpath, v);
    return v != NULL;
}

json_object *
ferry_json_new_string_array(const char *const *v)
{
    json_object *a = json_object_new_array();

    for (; *v; v++)
        json_object_array_add(a, json_object_new_string(*v));
    return a;
}

json_object *
ferry_json_copy(json_object *obj)
{
    json_object *copy = NULL;

    if (!obj)
        return NULL;
    if (json_object_deep_copy(obj, &copy, NULL) < 0)
        ferry_oom();
    return copy;
}

bool
ferry_json_equal(json_object *a, json_object *b)
{
    return json_object_equal(a, b) != 0;
}

int
ferry_json_parse(const char *text, size_t len, const char *source, json_object **ret)
{
    json_tokener *tok = json_tokener_new();
    json_object *o;
    enum json_tokener_error jerr;
    size_t off;

    if (!tok)
        ferry_oom();
    o = json_tokener_parse_ex(tok, text, (int)len);
    jerr = json_tokener_get_error(tok);
    off = json_tokener_get_parse_end(tok);
    if (!o && jerr == json_tokener_continue) {
        /* A bare number or literal ends only at the end of input: say so. */
        o = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        off = len;
    }
    json_tokener_free(tok);
    if (!o || jerr != json_tokener_success) {
        json_object_put(o);
        return ferry_error(FERRY_ERR_FORMAT, "'%s': invalid JSON at offset %zu: %s", source, off,
                           json_tokener_error_desc(jerr == json_tokener_success ? json_tokener_continue : jerr));
    }
    /* Only whitespace may follow the value. */
    for (; off < len; off++)
        if (!strchr(" \t\r\n", text[off])) {
            json_object_put(o);
            return ferry_error(FERRY_ERR_FORMAT, "'%s': trailing data at offset %zu", source, off);
        }
    *ret = o;
    return 0;
}

int
ferry_json_read_file(const char *path, json_object **ret)
{
    FERRY_AUTOFREE char *buf = NULL;
    size_t len;

    if (ferry_file_read(path, 0, &buf, &len) < 0)
        return -1;
    return ferry_json_parse(buf, len, path, ret);
}

char *
ferry_json_to_string(json_object *obj, bool pretty)
{
    int flags = pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN;

    return ferry_strdup(json_object_to_json_string_ext(obj, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
}
