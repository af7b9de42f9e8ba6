/* `ferry describe`: kubectl's describe, the object's fields as titled
 * sections and the events about it. */

#include "cli/object-verbs.h"
#include "cli/objects.h"
#include "cli/verbs.h"
#include "common/admission.h"
#include "common/base64.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/util.h"
#include "common/yaml.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ================================================================= describe */

/* "runStrategy" -> "Run Strategy", "apiVersion" -> "API Version". */
static char *
title_case(const char *key)
{
    static const char *const upper[] = { "api", "uid", "ip", "url", "id", "cpu", "vmi", "pvc",
                                         "dv", NULL };
    char *out = ferry_malloc(strlen(key) * 2 + 2), *o = out;
    const char *p = key;

    while (*p) {
        const char *start = p;
        size_t len;
        bool up = false;

        p++;
        while (*p && !(isupper((unsigned char)*p) && !isupper((unsigned char)p[-1])))
            p++;
        len = p - start;
        for (const char *const *u = upper; *u; u++)
            if (strlen(*u) == len && strncasecmp(*u, start, len) == 0)
                up = true;
        if (o != out)
            *o++ = ' ';
        for (size_t i = 0; i < len; i++)
            *o++ = up ? toupper((unsigned char)start[i])
                      : (i == 0 ? toupper((unsigned char)start[i]) : start[i]);
    }
    *o = '\0';
    return out;
}

static void
describe_value(json_object *v, int indent);

static void
describe_object(json_object *obj, int indent)
{
    json_object_object_foreach(obj, k, v) {
        FERRY_AUTOFREE char *t = title_case(k);

        if (v && (json_object_is_type(v, json_type_object) ||
                  json_object_is_type(v, json_type_array))) {
            if ((json_object_is_type(v, json_type_object) && json_object_object_length(v) == 0) ||
                (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0)) {
                printf("%*s%s:\n", indent, "", t);
                continue;
            }
            printf("%*s%s:\n", indent, "", t);
            describe_value(v, indent + 2);
        } else {
            printf("%*s%s:  %s\n", indent, "", t, v ? json_object_get_string(v) : "<nil>");
        }
    }
}

static void
describe_value(json_object *v, int indent)
{
    if (json_object_is_type(v, json_type_object)) {
        describe_object(v, indent);
    } else if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            json_object *it = json_object_array_get_idx(v, i);

            if (it && json_object_is_type(it, json_type_object))
                describe_object(it, indent);
            else
                printf("%*s%s\n", indent, "", it ? json_object_get_string(it) : "<nil>");
        }
    }
}

static void
describe_map(const char *title, json_object *m)
{
    bool first = true;

    if (!m || json_object_object_length(m) == 0) {
        printf("%-14s<none>\n", title);
        return;
    }
    json_object_object_foreach(m, k, v) {
        if (strcmp(k, CLI_LAST_APPLIED) == 0)
            continue;
        printf("%-14s%s=%s\n", first ? title : "", k, json_object_get_string(v));
        first = false;
    }
    if (first)
        printf("%-14s<none>\n", title);
}

static int
cmp_events(const void *a, const void *b)
{
    json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
    const char *tx = ferry_json_get_string(x, "lastTimestamp");
    const char *ty = ferry_json_get_string(y, "lastTimestamp");

    return strcmp(tx ? tx : "", ty ? ty : "");
}

static void
describe_events(struct ferry_store *st, json_object *obj)
{
    FERRY_AUTOPTR(json_object) evs = NULL;
    json_object **mine = NULL;
    size_t n = 0;
    int64_t rv;
    struct cli_table t = { 0 };
    const char *hdr[] = { "Type", "Reason", "Age", "From", "Message" };
    const char *sep[] = { "----", "------", "----", "----", "-------" };

    if (ferry_store_list(st, ferry_resource_event, ferry_obj_namespace(obj), NULL, &evs, &rv) < 0) {
        ferry_error_reset();
        printf("Events:        <none>\n");
        return;
    }
    for (size_t i = 0; i < json_object_array_length(evs); i++) {
        json_object *e = json_object_array_get_idx(evs, i);
        const char *uid = ferry_json_get_string(e, "involvedObject.uid");

        if (uid ? ferry_str_eq(uid, ferry_obj_uid(obj))
                : (ferry_str_eq(ferry_json_get_string(e, "involvedObject.name"), ferry_obj_name(obj)) &&
                   ferry_str_eq(ferry_json_get_string(e, "involvedObject.kind"), ferry_obj_kind(obj)))) {
            mine = ferry_realloc(mine, (n + 1) * sizeof *mine);
            mine[n++] = e;
        }
    }
    if (n == 0) {
        printf("Events:        <none>\n");
        free(mine);
        return;
    }
    qsort(mine, n, sizeof *mine, cmp_events);
    printf("Events:\n");
    t.ncols = 5;
    {
        char **h = ferry_calloc(5, sizeof *h), **s = ferry_calloc(5, sizeof *s);

        for (int i = 0; i < 5; i++) {
            h[i] = ferry_strdup(hdr[i]);
            s[i] = ferry_strdup(sep[i]);
        }
        cli_table_add(&t, h);
        cli_table_add(&t, s);
    }
    for (size_t i = n > 20 ? n - 20 : 0; i < n; i++) {
        char **row = ferry_calloc(5, sizeof *row);
        int64_t count = ferry_json_get_int(mine[i], "count", 1);
        FERRY_AUTOFREE char *age = cli_age_since(mine[i], "lastTimestamp");

        row[0] = cli_str_or_empty(ferry_json_get_string(mine[i], "type"));
        row[1] = cli_str_or_empty(ferry_json_get_string(mine[i], "reason"));
        row[2] = count > 1 ? ferry_printf("%s (x%lld)", age, (long long)count) : ferry_strdup(age);
        row[3] = cli_str_or_empty(ferry_json_get_string(mine[i], "source.component"));
        row[4] = cli_str_or_empty(ferry_json_get_string(mine[i], "message"));
        cli_table_add(&t, row);
    }
    /* kubectl indents the event table by two spaces. */
    {
        size_t *w = ferry_calloc(5, sizeof *w);

        for (size_t r = 0; r < t.n; r++)
            for (size_t c = 0; c < 5; c++)
                if (strlen(t.rows[r][c]) > w[c])
                    w[c] = strlen(t.rows[r][c]);
        for (size_t r = 0; r < t.n; r++) {
            printf("  ");
            for (size_t c = 0; c < 5; c++) {
                if (c < 4)
                    printf("%-*s  ", (int)w[c], t.rows[r][c]);
                else
                    printf("%s", t.rows[r][c]);
                free(t.rows[r][c]);
            }
            printf("\n");
            free(t.rows[r]);
        }
        free(t.rows);
        free(w);
    }
    free(mine);
}

/* OBJ's fields but those in SKIP (printed elsewhere), titled, at INDENT. */
static void
describe_fields(json_object *obj, const char *const *skip, int indent)
{
    json_object_object_foreach(obj, k, v) {
        FERRY_AUTOFREE char *t = NULL;
        size_t i = 0;

        while (skip[i] && strcmp(k, skip[i]))
            i++;
        if (skip[i])
            continue;
        t = title_case(k);
        if (v && (json_object_is_type(v, json_type_object) ||
                  json_object_is_type(v, json_type_array))) {
            printf("%*s%s:\n", indent, "", t);
            describe_value(v, indent + 2);
        } else {
            printf("%*s%s:  %s\n", indent, "", t, v ? json_object_get_string(v) : "<nil>");
        }
    }
}

/* kubectl's SecretDescriber: the type and each key's size, never a value. */
static void
describe_secret(json_object *obj)
{
    json_object *data = ferry_json_get(obj, "data");
    const char *type = ferry_json_get_string(obj, "type");

    printf("\nType:  %s\n\nData\n====\n", type ? type : "");
    if (!data || !json_object_is_type(data, json_type_object))
        return;
    json_object_object_foreach(data, k, v) {
        FERRY_AUTOFREE char *bytes = NULL;
        size_t len = 0;

        if (ferry_base64_decode(k, json_object_get_string(v), &bytes, &len) < 0)
            ferry_error_reset();
        else
            explicit_bzero(bytes, len);
        printf("%s:  %zu bytes\n", k, len);
    }
}

static void
describe_one(struct ferry_store *st, json_object *obj)
{
    json_object *md = ferry_json_get(obj, "metadata");

    printf("%-14s%s\n", "Name:", ferry_obj_name(obj));
    if (ferry_obj_namespace(obj))
        printf("%-14s%s\n", "Namespace:", ferry_obj_namespace(obj));
    describe_map("Labels:", ferry_obj_labels(obj));
    describe_map("Annotations:", ferry_obj_annotations(obj));
    if (ferry_resource_for_object(obj) == ferry_resource_secret) {
        describe_secret(obj);
        return;
    }
    ferry_error_reset();
    printf("%-14s%s\n", "API Version:", ferry_obj_api_version(obj));
    printf("%-14s%s\n", "Kind:", ferry_obj_kind(obj));
    if (md) {
        static const char *const shown[] = { "name", "namespace", "labels", "annotations", NULL };

        printf("Metadata:\n");
        describe_fields(md, shown, 2);
    }
    static const char *const header[] = { "metadata", "apiVersion", "kind", NULL };
    describe_fields(obj, header, 0);
    describe_events(st, obj);
}

int
cmd_describe(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_OPT_NAMESPACE,
        FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_END,
    };
    static const char usage[] = "Usage: ferry describe KIND NAME... | KIND/NAME... [-n NAMESPACE]\n\n"
                                "Show an object's fields, conditions and recent events.\n";
    const char *ns = NULL;
    const struct ferry_resource **res = NULL;
    char **names = NULL;
    size_t n = 0;
    struct ferry_store *st;
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1)
        if ((c = cli_common_option(c, argv, &ns, usage)) != CLI_OPT_NEXT)
            return c;
    if (!(st = cli_open_targets(argc - optind, argv + optind, &res, &names, &n)))
        return 1;
    for (size_t i = 0; i < n; i++) {
        FERRY_AUTOPTR(json_object) obj = NULL;

        if (ferry_store_get(st, res[i], res[i]->namespaced ? cli_namespace(ns) : NULL, names[i],
                            &obj) < 0) {
            cli_print_store_error(res[i], names[i]);
            rc = 1;
            continue;
        }
        if (i > 0)
            printf("\n\n");
        describe_one(st, obj);
    }
    free(res);
    ferry_strv_free(names);
    ferry_store_free(st);
    return rc;
}
