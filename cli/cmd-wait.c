/* `ferry wait --for=condition=...|delete|jsonpath=...`: kubectl's wait
 * over the store. */

#include "cli/object-verbs.h"
#include "cli/objects.h"
#include "cli/verbs.h"
#include "common/admission.h"
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

/* ==================================================================== wait */

enum wait_kind { WAIT_CONDITION, WAIT_DELETE, WAIT_JSONPATH };

struct wait_for {
    enum wait_kind kind;
    char *what;    /* condition type, or dotted path */
    char *value;   /* "True" / the wanted value; NULL: path exists */
};

static int
parse_for(const char *s, struct wait_for *w)
{
    if (strcmp(s, "delete") == 0) {
        w->kind = WAIT_DELETE;
        return 0;
    }
    if (ferry_str_has_prefix(s, "condition=")) {
        const char *c = s + strlen("condition=");
        const char *eq = strchr(c, '=');

        w->kind = WAIT_CONDITION;
        w->what = eq ? ferry_strndup(c, eq - c) : ferry_strdup(c);
        w->value = ferry_strdup(eq ? eq + 1 : "True");
        if (strcasecmp(w->value, "true") == 0 || strcasecmp(w->value, "false") == 0 ||
            strcasecmp(w->value, "unknown") == 0) {
            w->value[0] = (char)toupper((unsigned char)w->value[0]);
            for (char *p = w->value + 1; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        }
        return 0;
    }
    if (ferry_str_has_prefix(s, "jsonpath=")) {
        const char *p = s + strlen("jsonpath=");
        const char *close;

        w->kind = WAIT_JSONPATH;
        if (*p == '\'' || *p == '"')
            p++;
        if (*p != '{' || !(close = strchr(p, '}')))
            goto bad;
        if (p[1] == '.')
            w->what = ferry_strndup(p + 2, close - p - 2);
        else
            w->what = ferry_strndup(p + 1, close - p - 1);
        p = close + 1;
        if (*p == '\'' || *p == '"')
            p++;
        if (*p == '=') {
            w->value = ferry_strdup(p + 1);
            size_t l = strlen(w->value);

            if (l && (w->value[l - 1] == '\'' || w->value[l - 1] == '"'))
                w->value[l - 1] = '\0';
        }
        return 0;
    }
bad:
    fprintf(stderr, "error: unrecognized condition: \"%s\"\n", s);
    return -1;
}

/* Dotted path with optional [N] indexes. */
static json_object *
path_get(json_object *obj, const char *path)
{
    FERRY_AUTOSTRV char **parts = ferry_strv_split(path, ".");
    json_object *cur = obj;

    for (char **p = parts; p && *p && cur; p++) {
        char *br = strchr(*p, '[');

        if (br) {
            long idx = strtol(br + 1, NULL, 10);

            *br = '\0';
            if (**p && !json_object_object_get_ex(cur, *p, &cur))
                return NULL;
            if (!json_object_is_type(cur, json_type_array) || idx < 0 ||
                (size_t)idx >= json_object_array_length(cur))
                return NULL;
            cur = json_object_array_get_idx(cur, idx);
        } else if (!json_object_is_type(cur, json_type_object) ||
                   !json_object_object_get_ex(cur, *p, &cur)) {
            return NULL;
        }
    }
    return cur;
}

static bool
wait_met(json_object *obj, const struct wait_for *w)
{
    if (w->kind == WAIT_CONDITION) {
        json_object *c = ferry_condition_get(obj, w->what);

        return c && ferry_str_eq(ferry_json_get_string(c, "status"), w->value);
    }
    if (w->kind == WAIT_JSONPATH) {
        json_object *v = path_get(obj, w->what);

        if (!v)
            return false;
        if (!w->value)
            return true;
        return strcmp(json_object_get_string(v), w->value) == 0;
    }
    return false;
}

int
cmd_wait(int argc, char **argv)
{
    static const struct option opts[] = {
        { "for", required_argument, NULL, 'F' },
        CLI_OPT_TIMEOUT,
        CLI_OPT_NAMESPACE,
        FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_END,
    };
    struct wait_for w = { 0 };
    const char *ns = NULL;
    int64_t timeout_ms = 30000;
    const struct ferry_resource **res = NULL;
    char **names = NULL;
    size_t n = 0;
    struct ferry_store *st;
    struct sigaction sa = { .sa_handler = cli_on_int };
    bool have_for = false;
    int c, rc = 0;
    uint64_t deadline;

    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            if (parse_for(optarg, &w) < 0)
                return 2;
            have_for = true;
            break;
        case 'T':
            if (cli_timeout_option(optarg, &timeout_ms) < 0)
                return 2;
            break;
        default:
            if ((c = cli_common_option(c, argv, &ns,
                                       "Usage: ferry wait KIND/NAME... | KIND NAME... "
                                       "--for=condition=COND[=VALUE]|--for=delete|"
                                       "--for=jsonpath='{.path}'=VALUE [--timeout=30s] "
                                       "[-n NS]\n")) != CLI_OPT_NEXT)
                return c;
        }
    }
    if (!have_for) {
        fprintf(stderr, "error: --for must be set\n");
        return 2;
    }
    if (!(st = cli_open_targets(argc - optind, argv + optind, &res, &names, &n)))
        return 1;
    sigaction(SIGINT, &sa, NULL);
    deadline = ferry_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    for (size_t i = 0; i < n; i++) {
        const char *ons = res[i]->namespaced ? cli_namespace(ns) : NULL;
        FERRY_AUTOFREE char *kn = cli_kind_name(res[i]);
        bool met = false;

        for (;;) {
            FERRY_AUTOPTR(json_object) obj = NULL;

            if (ferry_store_get(st, res[i], ons, names[i], &obj) < 0) {
                if (ferry_error_code() == FERRY_ERR_NOTFOUND && w.kind == WAIT_DELETE) {
                    ferry_error_reset();
                    met = true;
                    break;
                }
                cli_print_store_error(res[i], names[i]);
                rc = 1;
                break;
            }
            if (w.kind != WAIT_DELETE && wait_met(obj, &w)) {
                met = true;
                break;
            }
            if (cli_interrupted || ferry_now_ns() >= deadline)
                break;
            usleep(100 * 1000);
        }
        if (met) {
            printf("%s/%s condition met\n", kn, names[i]);
            fflush(stdout);
        } else if (rc == 0 || !cli_interrupted) {
            if (ferry_now_ns() >= deadline || cli_interrupted) {
                fprintf(stderr, "error: timed out waiting for the condition on %s/%s\n",
                        res[i]->plural, names[i]);
                rc = 1;
            }
        }
    }
    free(w.what);
    free(w.value);
    free(res);
    ferry_strv_free(names);
    ferry_store_free(st);
    return rc;
}
