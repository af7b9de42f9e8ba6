/* YAML <-> JSON with libyaml's event API, typed the way kubectl types YAML.
 *
 * kubectl reads manifests through sigs.k8s.io/yaml, which decodes YAML with
 * its fork of go-yaml v2 (goyaml.v2) into interface{} and marshals the result
 * as JSON.  So the typing of a plain (unquoted, untagged) scalar is go-yaml
 * v2's resolve():
 *
 *   plain scalar                                  JSON
 *   ------------------------------------------   ------------------------------
 *   "" ~ null Null NULL                           null
 *   true True TRUE  y Y yes Yes YES  on On ON     true
 *   false False FALSE  n N no No NO  off Off OFF  false
 *   123 -7 +1 1_000 0x1F 0o17 017 0b101           integer (Go ParseInt base 0,
 *                                                 '_' removed; beyond int64 but
 *                                                 within uint64: unsigned)
 *   1.5 1. .5 -2.5e3 1e3 1E-3 08 1e20              float (yaml 1.2 float syntax)
 *   .inf -.inf .nan (all cases go-yaml lists)     float, which JSON cannot hold:
 *                                                 rejected, as kubectl's
 *                                                 json.Marshal does
 *   2001-12-14 (timestamps)                       string (go-yaml keeps
 *                                                 timestamps as strings in
 *                                                 interface{})
 *   << (merge key)                                merges the mapping(s)
 *   anything else                                 string
 *
 * Quoted, literal and folded scalars are always strings.  Explicit core tags
 * (!!str, !!int, !!float, !!bool, !!null) are honoured; other tags are
 * ignored.  Mapping keys become strings as sigs.k8s.io/yaml converts them
 * (ints in decimal, bools "true"/"false", floats as Go's %g of a float32);
 * null and non-scalar keys are rejected.  Duplicate keys are refused as
 * kubectl's strict decoding refuses them ('key "name" already set in map');
 * merge keys: explicit keys win over merged ones, and among several merged
 * mappings the first wins.
 *
 * Aliases are expanded into deep copies (callers may change the tree), and
 * the expansion is bounded with go-yaml's own "excessive aliasing" rule, so a
 * billion-laughs document costs milliseconds, not gigabytes.
 *
 * The emitter drives libyaml's emitter with the same resolver in reverse: a
 * string is written plain unless a reader would type it as something else,
 * or it looks like a timestamp or a base-60 number (then double-quoted, as
 * go-yaml does), or libyaml decides plain is not allowed (then
 * single-quoted); strings with newlines become literal blocks.
 */
#include "common/yaml.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_DEPTH 512

/* ---- the resolver ------------------------------------------------------- */

enum rtype { R_STR, R_NULL, R_BOOL, R_INT, R_UINT, R_FLOAT, R_MERGE };

struct resolved {
    enum rtype type;
    bool b;
    int64_t i;
    uint64_t u;
    double d;
};

static const struct {
    const char *text;
    enum rtype type;
    int v; /* bool value, or for floats: 1 +inf, -1 -inf, 0 nan */
} resolve_map[] = {
    { "y", R_BOOL, 1 },     { "Y", R_BOOL, 1 },       { "yes", R_BOOL, 1 },
    { "Yes", R_BOOL, 1 },   { "YES", R_BOOL, 1 },     { "true", R_BOOL, 1 },
    { "True", R_BOOL, 1 },  { "TRUE", R_BOOL, 1 },    { "on", R_BOOL, 1 },
    { "On", R_BOOL, 1 },    { "ON", R_BOOL, 1 },      { "n", R_BOOL, 0 },
    { "N", R_BOOL, 0 },     { "no", R_BOOL, 0 },      { "No", R_BOOL, 0 },
    { "NO", R_BOOL, 0 },    { "false", R_BOOL, 0 },   { "False", R_BOOL, 0 },
    { "FALSE", R_BOOL, 0 }, { "off", R_BOOL, 0 },     { "Off", R_BOOL, 0 },
    { "OFF", R_BOOL, 0 },   { "", R_NULL, 0 },        { "~", R_NULL, 0 },
    { "null", R_NULL, 0 },  { "Null", R_NULL, 0 },    { "NULL", R_NULL, 0 },
    { ".nan", R_FLOAT, 0 }, { ".NaN", R_FLOAT, 0 },   { ".NAN", R_FLOAT, 0 },
    { ".inf", R_FLOAT, 1 }, { ".Inf", R_FLOAT, 1 },   { ".INF", R_FLOAT, 1 },
    { "+.inf", R_FLOAT, 1 }, { "+.Inf", R_FLOAT, 1 }, { "+.INF", R_FLOAT, 1 },
    { "-.inf", R_FLOAT, -1 }, { "-.Inf", R_FLOAT, -1 }, { "-.INF", R_FLOAT, -1 },
    { "<<", R_MERGE, 0 },
};

/* yaml.v2's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool
is_yaml_float(const char *s)
{
    const char *p = s;

    if (*p == '+' || *p == '-')
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    } else {
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

/* Go's strconv.ParseUint(s, 0, 64) on an unsigned digit string: base from
 * the prefix (0x, 0o, 0b, or a leading 0 for octal). */
static bool
parse_go_uint(const char *s, uint64_t *ret)
{
    int base = 10;
    uint64_t v = 0;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        s += 2;
    } else if (s[0] == '0' && s[1]) {
        base = 8;
        s += 1;
    }
    if (!*s)
        return false;
    for (; *s; s++) {
        int d;

        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return false;
        if (d >= base)
            return false;
        if (v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
    }
    *ret = v;
    return true;
}

/* go-yaml v2's resolve() for an untagged plain scalar. */
static void
resolve_plain(const char *in, struct resolved *r)
{
    char hint;

    memset(r, 0, sizeof *r);
    r->type = R_STR;
    for (size_t k = 0; k < FERRY_ARRAY_SIZE(resolve_map); k++)
        if (strcmp(in, resolve_map[k].text) == 0) {
            r->type = resolve_map[k].type;
            r->b = resolve_map[k].v;
            if (r->type == R_FLOAT)
                r->d = resolve_map[k].v == 0 ? NAN : resolve_map[k].v * INFINITY;
            return;
        }

    hint = in[0];
    if (hint == '.') {
        /* Go's ParseFloat on ".5", ".5e3" */
        if (is_yaml_float(in)) {
            r->type = R_FLOAT;
            r->d = strtod(in, NULL);
        }
        return;
    }
    if (!(hint == '+' || hint == '-' || isdigit((unsigned char)hint)))
        return;

    /* Integers, with underscores removed. */
    FERRY_AUTOFREE char *plain = ferry_malloc(strlen(in) + 1);
    char *o = plain;
    for (const char *p = in; *p; p++)
        if (*p != '_')
            *o++ = *p;
    *o = '\0';

    const char *digits = plain;
    bool neg = false;
    uint64_t u;

    if (*digits == '+' || *digits == '-') {
        neg = *digits == '-';
        digits++;
    }
    if (*digits != '+' && *digits != '-' && parse_go_uint(digits, &u)) {
        if (!neg && u <= INT64_MAX) {
            r->type = R_INT;
            r->i = (int64_t)u;
            return;
        }
        if (neg && u <= (uint64_t)INT64_MAX + 1) {
            r->type = R_INT;
            r->i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
            return;
        }
        if (!neg && plain[0] != '+') {
            /* ParseUint refuses a sign */
            r->type = R_UINT;
            r->u = u;
            return;
        }
    }
    if (is_yaml_float(plain)) {
        char *end;
        errno = 0;
        double d = strtod(plain, &end);
        /* Go's ParseFloat fails on overflow; yaml.v2 then keeps a string */
        if (*end == '\0' && !(errno == ERANGE && isinf(d))) {
            r->type = R_FLOAT;
            r->d = d;
        }
        return;
    }
}

/* go-yaml v2's isBase60Float: strings it quotes for YAML 1.1 readers. */
static bool
is_base60_float(const char *s)
{
    const char *p = s;

    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p) || *p == '_')
        p++;
    if (*p != ':')
        return false;
    while (*p == ':') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        if (*p > '5' && isdigit((unsigned char)p[1]))
            return false;
        p++;
        if (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p) || *p == '_')
            p++;
    }
    return *p == '\0';
}

/* Digits at *p: how many (at most max), their value in *ret. */
static int
digits(const char **p, int max, int *ret)
{
    int n = 0, v = 0;

    while (n < max && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *ret = v;
    return n;
}

/* go-yaml v2's parseTimestamp: "2006-1-2", "2006-1-2T15:4:5.999999999Z07:00"
 * (also with 't'), "2006-1-2 15:4:5.999999999".  Such strings stay strings
 * when read into interface{}, but go-yaml's encoder quotes them (kubectl
 * writes creationTimestamp: "2026-11-26T15:04:05Z"), and so do we. */
static bool
is_timestamp(const char *s)
{
    const char *p = s;
    int v, sep;

    if (digits(&p, 4, &v) != 4 || *p++ != '-')
        return false;
    if (digits(&p, 2, &v) < 1 || v < 1 || v > 12 || *p++ != '-')
        return false;
    if (digits(&p, 2, &v) < 1 || v < 1 || v > 31)
        return false;
    if (!*p)
        return true;
    sep = *p++;
    if (sep != 'T' && sep != 't' && sep != ' ')
        return false;
    if (digits(&p, 2, &v) < 1 || v > 23 || *p++ != ':')
        return false;
    if (digits(&p, 2, &v) < 1 || v > 59 || *p++ != ':')
        return false;
    if (digits(&p, 2, &v) < 1 || v > 59)
        return false;
    if (*p == '.') {
        p++;
        if (digits(&p, 9, &v) < 1)
            return false;
    }
    if (sep == ' ')
        return *p == '\0';
    if (*p == 'Z')
        return p[1] == '\0';
    if (*p != '+' && *p != '-')
        return false;
    p++;
    if (digits(&p, 2, &v) != 2 || v > 23 || *p++ != ':' || digits(&p, 2, &v) != 2 || v > 59)
        return false;
    return *p == '\0';
}

/* ---- parsing ------------------------------------------------------------ */

struct anchor {
    char *name;
    json_object *node;
    size_t size; /* nodes in it */
};

struct yparse {
    yaml_parser_t parser;
    const char *source;
    const char *text;
    size_t len;
    struct anchor *anchors;
    size_t n_anchors;
    size_t decode_count; /* nodes produced, including alias expansions */
    size_t alias_count;  /* nodes produced by alias expansions */
    int depth;
};

static int
perr_at(struct yparse *y, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr_at(struct yparse *y, yaml_mark_t mark, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ferry_error(FERRY_ERR_FORMAT, "'%s': line %zu, column %zu: %s", y->source,
                       mark.line + 1, mark.column + 1, msg);
}

/* libyaml's own error, with its position (reader errors only give an offset). */
static int
perr_libyaml(struct yparse *y)
{
    yaml_parser_t *p = &y->parser;
    yaml_mark_t mark = p->problem_mark;
    const char *problem = p->problem ? p->problem : "malformed YAML";

    if (p->error == YAML_MEMORY_ERROR)
        ferry_oom();
    if (p->error == YAML_READER_ERROR) {
        mark.line = 0;
        mark.column = 0;
        for (size_t k = 0; k < p->problem_offset && k < y->len; k++) {
            if (y->text[k] == '\n') {
                mark.line++;
                mark.column = 0;
            } else {
                mark.column++;
            }
        }
    }
    if (p->context)
        return perr_at(y, mark, "%s (%s at line %zu, column %zu)", problem, p->context,
                       p->context_mark.line + 1, p->context_mark.column + 1);
    return perr_at(y, mark, "%s", problem);
}

static int
next_event(struct yparse *y, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&y->parser, ev))
        return perr_libyaml(y);
    return 0;
}

static size_t
count_nodes(json_object *o)
{
    size_t n = 1;

    switch (json_object_get_type(o)) {
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            n += count_nodes(v);
        }
        break;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            n += count_nodes(json_object_array_get_idx(o, i));
        break;
    default:
        break;
    }
    return n;
}

/* go-yaml v2's allowedAliasRatio: the share of decoded nodes that may come
 * from alias expansion, shrinking from 99% to 10% as documents grow. */
static bool
excessive_aliasing(const struct yparse *y)
{
    double ratio;

    if (y->alias_count <= 100 || y->decode_count <= 1000)
        return false;
    if (y->decode_count <= 400000)
        ratio = 0.99;
    else if (y->decode_count >= 4000000)
        ratio = 0.10;
    else
        ratio = 0.99 - 0.89 * ((double)(y->decode_count - 400000) / 3600000.0);
    return (double)y->alias_count / (double)y->decode_count > ratio;
}

static json_object *
copy_node(json_object *o)
{
    json_object *c = NULL;

    if (!o) /* an anchored null: "a: &n" */
        return NULL;
    if (json_object_deep_copy(o, &c, NULL) < 0)
        ferry_oom();
    return c;
}

static int parse_node(struct yparse *y, yaml_event_t *ev, json_object **ret, bool *ret_merge);

static void
anchor_add(struct yparse *y, const char *name, json_object *node)
{
    /* A redefined anchor replaces the old one for later aliases. */
    for (size_t k = 0; k < y->n_anchors; k++)
        if (strcmp(y->anchors[k].name, name) == 0) {
            json_object_put(y->anchors[k].node);
            y->anchors[k].node = json_object_get(node);
            y->anchors[k].size = count_nodes(node);
            return;
        }
    y->anchors = ferry_realloc(y->anchors, (y->n_anchors + 1) * sizeof *y->anchors);
    y->anchors[y->n_anchors].name = ferry_strdup(name);
    y->anchors[y->n_anchors].node = json_object_get(node);
    y->anchors[y->n_anchors].size = count_nodes(node);
    y->n_anchors++;
}

static int
parse_alias(struct yparse *y, yaml_event_t *ev, json_object **ret)
{
    const char *name = (const char *)ev->data.alias.anchor;

    for (size_t k = y->n_anchors; k-- > 0;)
        if (strcmp(y->anchors[k].name, name) == 0) {
            y->decode_count += y->anchors[k].size;
            y->alias_count += y->anchors[k].size;
            if (excessive_aliasing(y))
                return perr_at(y, ev->start_mark, "document contains excessive aliasing");
            *ret = copy_node(y->anchors[k].node);
            return 0;
        }
    return perr_at(y, ev->start_mark, "unknown anchor '%s' referenced", name);
}

#define TAG_PREFIX "tag:yaml.org,2002:"

static json_object *
json_from_resolved(const struct resolved *r, const char *text)
{
    switch (r->type) {
    case R_NULL:
        return NULL;
    case R_BOOL:
        return json_object_new_boolean(r->b);
    case R_INT:
        return json_object_new_int64(r->i);
    case R_UINT:
        return json_object_new_uint64(r->u);
    case R_FLOAT:
        return json_object_new_double(r->d);
    case R_STR:
    case R_MERGE:
        break;
    }
    return json_object_new_string(text);
}

/* A scalar event -> resolved value, honouring quoting and core tags. */
static int
resolve_scalar(struct yparse *y, yaml_event_t *ev, struct resolved *r)
{
    const char *text = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    const char *want = NULL;

    if (strlen(text) != ev->data.scalar.length)
        return perr_at(y, ev->start_mark, "NUL character in a scalar");
    if (tag && ferry_str_has_prefix(tag, TAG_PREFIX))
        want = tag + strlen(TAG_PREFIX);
    else if (tag && strcmp(tag, "!") == 0) /* non-specific tag: a string */
        plain = false;
    else if (tag)
        plain = false; /* go-yaml: a scalar with an unknown tag is kept as its text */

    if (want && (strcmp(want, "str") == 0 || strcmp(want, "binary") == 0 ||
                 strcmp(want, "timestamp") == 0)) {
        memset(r, 0, sizeof *r);
        r->type = R_STR;
        return 0;
    }
    if (!plain && !want) {
        memset(r, 0, sizeof *r);
        r->type = R_STR;
        return 0;
    }
    resolve_plain(text, r);
    if (want) {
        bool ok = (strcmp(want, "int") == 0 && (r->type == R_INT || r->type == R_UINT)) ||
                  (strcmp(want, "float") == 0 &&
                   (r->type == R_FLOAT || r->type == R_INT || r->type == R_UINT)) ||
                  (strcmp(want, "bool") == 0 && r->type == R_BOOL) ||
                  (strcmp(want, "null") == 0 && r->type == R_NULL) ||
                  (strcmp(want, "merge") == 0 && r->type == R_MERGE);
        if (strcmp(want, "map") == 0 || strcmp(want, "seq") == 0)
            ok = false;
        else if (!ok && strcmp(want, "int") && strcmp(want, "float") && strcmp(want, "bool") &&
                 strcmp(want, "null") && strcmp(want, "merge")) {
            /* another yaml.org tag (!!set, !!omap ...): keep the text */
            memset(r, 0, sizeof *r);
            r->type = R_STR;
            return 0;
        }
        if (!ok)
            return perr_at(y, ev->start_mark, "cannot decode '%s' as a !!%s", text, want);
        if (strcmp(want, "float") == 0 && r->type == R_INT)
            r->d = (double)r->i, r->type = R_FLOAT;
        else if (strcmp(want, "float") == 0 && r->type == R_UINT)
            r->d = (double)r->u, r->type = R_FLOAT;
    }
    return 0;
}

/* Go's strconv.FormatFloat(f, 'g', -1, 32), as sigs.k8s.io/yaml names
 * float keys. */
static char *
format_float32_key(double d)
{
    float f = (float)d;
    char buf[64];
    int p, exp;

    if (isnan(f))
        return ferry_strdup(".nan");
    if (isinf(f))
        return ferry_strdup(f > 0 ? ".inf" : "-.inf");
    if (f == 0)
        return ferry_strdup(signbit(f) ? "-0" : "0");
    for (p = 1; p < 10; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, (double)f);
        if (strtof(buf, NULL) == f)
            break;
    }
    exp = atoi(strchr(buf, 'e') + 1);
    if (exp < -4 || exp >= 6)
        return ferry_strdup(buf);
    snprintf(buf, sizeof buf, "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0, (double)f);
    return ferry_strdup(buf);
}

static int
key_string(struct yparse *y, yaml_event_t *ev, char **ret, bool *ret_merge)
{
    struct resolved r;
    const char *text = (const char *)ev->data.scalar.value;

    *ret_merge = false;
    if (resolve_scalar(y, ev, &r) < 0)
        return -1;
    switch (r.type) {
    case R_STR:
        *ret = ferry_strdup(text);
        return 0;
    case R_MERGE:
        *ret_merge = true;
        *ret = ferry_strdup(text);
        return 0;
    case R_BOOL:
        *ret = ferry_strdup(r.b ? "true" : "false");
        return 0;
    case R_INT:
        *ret = ferry_printf("%" PRId64, r.i);
        return 0;
    case R_UINT:
        *ret = ferry_printf("%" PRIu64, r.u);
        return 0;
    case R_FLOAT:
        *ret = format_float32_key(r.d);
        return 0;
    case R_NULL:
        break;
    }
    return perr_at(y, ev->start_mark, "unsupported map key: null");
}

/* One level deeper, into the mapping or sequence that EV starts. */
static int
depth_enter(struct yparse *y, yaml_event_t *ev)
{
    if (y->depth >= MAX_DEPTH)
        return perr_at(y, ev->start_mark, "nesting deeper than %d levels", MAX_DEPTH);
    y->depth++;
    return 0;
}

/* Merge the keys of src (a mapping) into obj where obj lacks them. */
static int
merge_into(struct yparse *y, json_object *obj, json_object *src, yaml_mark_t mark)
{
    if (!json_object_is_type(src, json_type_object))
        return perr_at(y, mark, "map merge requires map or sequence of maps as the value");
    json_object_object_foreach(src, k, v)
    {
        if (json_object_object_get_ex(obj, k, NULL))
            continue;
        json_object_object_add(obj, k, json_object_get(v));
    }
    return 0;
}

static int
parse_mapping(struct yparse *y, yaml_event_t *start, json_object **ret)
{
    FERRY_AUTOPTR(json_object) obj = json_object_new_object();
    FERRY_AUTOPTR(json_object) explicit_keys = json_object_new_object();
    yaml_event_t ev;

    if (depth_enter(y, start) < 0)
        return -1;
    for (;;) {
        FERRY_AUTOFREE char *key = NULL;
        FERRY_AUTOPTR(json_object) val = NULL;
        yaml_mark_t key_mark;
        bool merge = false;

        if (next_event(y, &ev) < 0)
            return -1;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        key_mark = ev.start_mark;
        if (ev.type == YAML_SCALAR_EVENT) {
            int r = key_string(y, &ev, &key, &merge);

            if (r == 0 && ev.data.scalar.anchor) {
                /* an anchored key: aliases to it get the key's text */
                json_object *k = json_object_new_string(key);
                anchor_add(y, (const char *)ev.data.scalar.anchor, k);
                json_object_put(k);
            }
            yaml_event_delete(&ev);
            if (r < 0)
                return -1;
        } else if (ev.type == YAML_ALIAS_EVENT) {
            FERRY_AUTOPTR(json_object) k = NULL;
            int r = parse_alias(y, &ev, &k);

            yaml_event_delete(&ev);
            if (r < 0)
                return -1;
            if (json_object_is_type(k, json_type_string))
                key = ferry_strdup(json_object_get_string(k));
            else if (k && !json_object_is_type(k, json_type_object) &&
                     !json_object_is_type(k, json_type_array))
                key = ferry_strdup(json_object_to_json_string_ext(k, JSON_C_TO_STRING_PLAIN));
            else
                return perr_at(y, key_mark, "unsupported map key: %s",
                               k ? "a collection" : "null");
        } else {
            yaml_event_delete(&ev);
            return perr_at(y, key_mark, "unsupported map key: a collection");
        }
        y->decode_count++;

        if (next_event(y, &ev) < 0)
            return -1;
        {
            yaml_mark_t val_mark = ev.start_mark;
            int r = parse_node(y, &ev, &val, NULL);

            yaml_event_delete(&ev);
            if (r < 0)
                return -1;
            if (merge) {
                if (json_object_is_type(val, json_type_array)) {
                    for (size_t i = 0; i < json_object_array_length(val); i++)
                        if (merge_into(y, obj, json_object_array_get_idx(val, i), val_mark) < 0)
                            return -1;
                } else if (merge_into(y, obj, val, val_mark) < 0) {
                    return -1;
                }
                continue;
            }
        }
        if (json_object_object_get_ex(explicit_keys, key, NULL))
            return perr_at(y, key_mark, "key \"%s\" already set in map", key);
        json_object_object_add(explicit_keys, key, NULL);
        json_object_object_add(obj, key, FERRY_STEAL(val));
    }
    y->depth--;
    *ret = FERRY_STEAL(obj);
    return 0;
}

static int
parse_sequence(struct yparse *y, yaml_event_t *start, json_object **ret)
{
    FERRY_AUTOPTR(json_object) arr = json_object_new_array();
    yaml_event_t ev;

    if (depth_enter(y, start) < 0)
        return -1;
    for (;;) {
        json_object *val = NULL;
        int r;

        if (next_event(y, &ev) < 0)
            return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        r = parse_node(y, &ev, &val, NULL);
        yaml_event_delete(&ev);
        if (r < 0)
            return -1;
        json_object_array_add(arr, val);
    }
    y->depth--;
    *ret = FERRY_STEAL(arr);
    return 0;
}

/* ev is the node's first event (owned by the caller). */
static int
parse_node(struct yparse *y, yaml_event_t *ev, json_object **ret, bool *ret_merge)
{
    json_object *node = NULL;
    const char *anchor = NULL;
    struct resolved r;

    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return parse_alias(y, ev, ret);
    case YAML_SCALAR_EVENT:
        anchor = (const char *)ev->data.scalar.anchor;
        if (resolve_scalar(y, ev, &r) < 0)
            return -1;
        if (r.type == R_FLOAT && !isfinite(r.d))
            return perr_at(y, ev->start_mark, "'%s' cannot be represented in JSON",
                           (const char *)ev->data.scalar.value);
        node = json_from_resolved(&r, (const char *)ev->data.scalar.value);
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = (const char *)ev->data.sequence_start.anchor;
        if (parse_sequence(y, ev, &node) < 0)
            return -1;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = (const char *)ev->data.mapping_start.anchor;
        if (parse_mapping(y, ev, &node) < 0)
            return -1;
        break;
    default:
        return perr_at(y, ev->start_mark, "unexpected YAML event %d", ev->type);
    }
    y->decode_count++;   /* an alias counts its expansion in parse_alias */
    if (anchor)
        anchor_add(y, anchor, node);
    *ret = node;
    return 0;
}

static void
yparse_release(struct yparse *y)
{
    for (size_t k = 0; k < y->n_anchors; k++) {
        free(y->anchors[k].name);
        json_object_put(y->anchors[k].node);
    }
    free(y->anchors);
    y->anchors = NULL;
    y->n_anchors = 0;
    yaml_parser_delete(&y->parser);
}

static int parse_stream(const char *text, size_t len, const char *source, json_object **ret_docs,
                        bool partial);

int
ferry_yaml_parse(const char *text, size_t len, const char *source, json_object **ret_docs)
{
    return parse_stream(text, len, source, ret_docs, false);
}

int
ferry_yaml_parse_partial(const char *text, size_t len, const char *source, json_object **ret_docs)
{
    return parse_stream(text, len, source, ret_docs, true);
}

static int
parse_stream(const char *text, size_t len, const char *source, json_object **ret_docs,
             bool partial)
{
    struct yparse y = { .source = source ? source : "<input>", .text = text, .len = len };
    FERRY_AUTOPTR(json_object) docs = json_object_new_array();
    yaml_event_t ev;
    int rc = -1;

    if (!yaml_parser_initialize(&y.parser))
        ferry_oom();
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);

    for (;;) {
        if (next_event(&y, &ev) < 0)
            goto cleanup;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT) {
            json_object *doc = NULL;
            bool has_node = false;

            yaml_event_delete(&ev);
            /* anchors are per document */
            for (size_t k = 0; k < y.n_anchors; k++) {
                free(y.anchors[k].name);
                json_object_put(y.anchors[k].node);
            }
            y.n_anchors = 0;
            for (;;) {
                int r;

                if (next_event(&y, &ev) < 0) {
                    json_object_put(doc);
                    goto cleanup;
                }
                if (ev.type == YAML_DOCUMENT_END_EVENT) {
                    yaml_event_delete(&ev);
                    break;
                }
                /* an empty document is one null plain scalar "" */
                if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 &&
                    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev.data.scalar.tag) {
                    yaml_event_delete(&ev);
                    continue;
                }
                r = parse_node(&y, &ev, &doc, NULL);
                yaml_event_delete(&ev);
                if (r < 0)
                    goto cleanup;
                has_node = true;
            }
            /* "---\n~" or "null" documents carry nothing either (kubectl skips them) */
            if (has_node && doc)
                json_object_array_add(docs, doc);
            continue;
        }
        yaml_event_delete(&ev);
    }
    rc = 0;
cleanup:
    if (rc == 0 || partial)
        *ret_docs = FERRY_STEAL(docs);
    yparse_release(&y);
    return rc;
}

/* Standard input is read whole before parsing, up to this much. */
#define STDIN_MAX (64u << 20)

static int
parse_file(const char *path, json_object **ret_docs, bool partial)
{
    FERRY_AUTOFREE char *buf = NULL;
    size_t len;

    if (partial)
        *ret_docs = json_object_new_array();
    if (strcmp(path, "-") == 0) {
        if (ferry_fd_read(STDIN_FILENO, "<stdin>", STDIN_MAX, &buf, &len) < 0)
            return -1;
        path = "<stdin>";
    } else if (ferry_file_read(path, 0, &buf, &len) < 0) {
        return -1;
    }
    if (partial)
        json_object_put(*ret_docs);
    return parse_stream(buf, len, path, ret_docs, partial);
}

int
ferry_yaml_parse_file(const char *path, json_object **ret_docs)
{
    return parse_file(path, ret_docs, false);
}

int
ferry_yaml_parse_file_partial(const char *path, json_object **ret_docs)
{
    return parse_file(path, ret_docs, true);
}

int
ferry_yaml_parse_one(const char *text, size_t len, const char *source, json_object **ret_doc)
{
    FERRY_AUTOPTR(json_object) docs = NULL;
    size_t n;

    if (ferry_yaml_parse(text, len, source, &docs) < 0)
        return -1;
    n = json_object_array_length(docs);
    if (n != 1)
        return ferry_error(FERRY_ERR_INVALID, "'%s': expected one YAML document, found %zu",
                           source ? source : "<input>", n);
    *ret_doc = json_object_get(json_object_array_get_idx(docs, 0));
    return 0;
}

/* ---- emitting ----------------------------------------------------------- */

struct obuf {
    char *buf;
    size_t len;
};

static int
write_handler(void *data, unsigned char *buffer, size_t size)
{
    struct obuf *o = data;

    ferry_buf_append(&o->buf, &o->len, buffer, size);
    return 1;
}

static int
emit(yaml_emitter_t *e, yaml_event_t *ev)
{
    if (!yaml_emitter_emit(e, ev)) {
        if (e->error == YAML_MEMORY_ERROR)
            ferry_oom();
        return ferry_error(FERRY_ERR_INVALID, "cannot write YAML: %s",
                           e->problem ? e->problem : "emitter error");
    }
    return 0;
}

static int
emit_plain(yaml_emitter_t *e, const char *s)
{
    yaml_event_t ev;

    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                 YAML_PLAIN_SCALAR_STYLE);
    return emit(e, &ev);
}

/* Shortest text that reads back as the same double, and as a float. */
static void
format_double(double d, char *buf, size_t size)
{
    if (isnan(d)) {
        snprintf(buf, size, ".nan");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, size, d > 0 ? ".inf" : "-.inf");
        return;
    }
    if (d == floor(d) && fabs(d) < 1e16) {
        snprintf(buf, size, "%.1f", d); /* 1000.0, not 1e+03 */
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, size, "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".eEn")) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, ".0");
    }
}

static bool
utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        int n;
        uint32_t cp;

        if (*p < 0x80) {
            p++;
            continue;
        } else if ((*p & 0xe0) == 0xc0) {
            n = 1, cp = *p & 0x1f;
        } else if ((*p & 0xf0) == 0xe0) {
            n = 2, cp = *p & 0x0f;
        } else if ((*p & 0xf8) == 0xf0) {
            n = 3, cp = *p & 0x07;
        } else {
            return false;
        }
        p++;
        for (int k = 0; k < n; k++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (*p & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return true;
}

static int
emit_string(yaml_emitter_t *e, const char *s, size_t len, bool is_key)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
    struct resolved r;

    if (strlen(s) != len)
        return ferry_error(FERRY_ERR_INVALID, "cannot write YAML: string contains a NUL byte");
    if (!utf8_valid(s))
        return ferry_error(FERRY_ERR_INVALID, "cannot write YAML: string is not valid UTF-8");
    resolve_plain(s, &r);
    if (strchr(s, '\n'))
        style = is_key ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_LITERAL_SCALAR_STYLE;
    else if (r.type != R_STR || is_base60_float(s) || is_timestamp(s))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style);
    return emit(e, &ev);
}

static int
emit_node(yaml_emitter_t *e, json_object *o, int depth)
{
    yaml_event_t ev;
    char buf[64];

    if (depth > MAX_DEPTH)
        return ferry_error(FERRY_ERR_INVALID, "cannot write YAML: nesting deeper than %d levels",
                           MAX_DEPTH);
    switch (json_object_get_type(o)) {
    case json_type_null:
        return emit_plain(e, "null");
    case json_type_boolean:
        return emit_plain(e, json_object_get_boolean(o) ? "true" : "false");
    case json_type_int:
        return emit_plain(e, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    case json_type_double:
        format_double(json_object_get_double(o), buf, sizeof buf);
        return emit_plain(e, buf);
    case json_type_string:
        return emit_string(e, json_object_get_string(o), json_object_get_string_len(o), false);
    case json_type_array:
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (emit(e, &ev) < 0)
            return -1;
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (emit_node(e, json_object_array_get_idx(o, i), depth + 1) < 0)
                return -1;
        yaml_sequence_end_event_initialize(&ev);
        return emit(e, &ev);
    case json_type_object:
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (emit(e, &ev) < 0)
            return -1;
        {
            json_object_object_foreach(o, k, v)
            {
                if (emit_string(e, k, strlen(k), true) < 0)
                    return -1;
                if (emit_node(e, v, depth + 1) < 0)
                    return -1;
            }
        }
        yaml_mapping_end_event_initialize(&ev);
        return emit(e, &ev);
    }
    return ferry_error(FERRY_ERR_INTERNAL, "cannot write YAML: unknown json type");
}

static char *
emit_docs(json_object *const *docs, size_t n)
{
    yaml_emitter_t e;
    yaml_event_t ev;
    struct obuf out = { 0 };
    int rc = -1;

    if (!yaml_emitter_initialize(&e))
        ferry_oom();
    yaml_emitter_set_output(&e, write_handler, &out);
    yaml_emitter_set_indent(&e, 2);
    yaml_emitter_set_width(&e, -1);
    yaml_emitter_set_unicode(&e, 1);

    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (emit(&e, &ev) < 0)
        goto cleanup;
    for (size_t k = 0; k < n; k++) {
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        if (emit(&e, &ev) < 0)
            goto cleanup;
        if (emit_node(&e, docs[k], 0) < 0)
            goto cleanup;
        yaml_document_end_event_initialize(&ev, 1);
        if (emit(&e, &ev) < 0)
            goto cleanup;
    }
    yaml_stream_end_event_initialize(&ev);
    if (emit(&e, &ev) < 0)
        goto cleanup;
    if (!yaml_emitter_flush(&e)) {
        ferry_error(FERRY_ERR_INTERNAL, "cannot write YAML: flush failed");
        goto cleanup;
    }
    rc = 0;
cleanup:
    yaml_emitter_delete(&e);
    if (rc < 0) {
        free(out.buf);
        return NULL;
    }
    return out.buf ? out.buf : ferry_strdup("");
}

char *
ferry_yaml_emit(json_object *doc)
{
    return emit_docs(&doc, 1);
}

char *
ferry_yaml_emit_stream(json_object *docs)
{
    size_t n;
    FERRY_AUTOFREE json_object **v = NULL;

    if (!json_object_is_type(docs, json_type_array)) {
        ferry_error(FERRY_ERR_INVALID, "cannot write YAML stream: documents must be an array");
        return NULL;
    }
    n = json_object_array_length(docs);
    v = ferry_calloc(n ? n : 1, sizeof *v);
    for (size_t k = 0; k < n; k++)
        v[k] = json_object_array_get_idx(docs, k);
    return emit_docs(v, n);
}

int
ferry_yaml_write(FILE *f, json_object *doc)
{
    FERRY_AUTOFREE char *s = ferry_yaml_emit(doc);

    if (!s)
        return -1;
    if (fputs(s, f) == EOF || fflush(f) == EOF)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot write YAML");
    return 0;
}
