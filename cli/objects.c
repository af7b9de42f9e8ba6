/* What the object verbs share (objects.h for cmd-vm.c and cmd-upload.c,
 * object-verbs.h for cmd-apply.c, cmd-get.c, cmd-describe.c, cmd-delete.c
 * and cmd-wait.c): the store, kinds and targets as kubectl takes them,
 * manifests, kubectl's tabwriter table, durations and ages. */

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

/* ---- shared with cmd-vm.c and cmd-upload.c (objects.h) ---- */

struct ferry_store *
cli_store_open(void)
{
    struct ferry_store *st;

    if (ferry_store_open(NULL, &st) < 0) {
        fprintf(stderr, "error: %s\n", ferry_error_message());
        return NULL;
    }
    return st;
}

struct ferry_store *
cli_store_open_existing(void)
{
    struct ferry_store *st;

    if (ferry_store_open_existing(NULL, &st) < 0) {
        fprintf(stderr, "error: %s\n", ferry_error_message());
        ferry_error_reset();
        return NULL;
    }
    return st;
}

char *
cli_kind_name(const struct ferry_resource *res)
{
    return res->group[0] ? ferry_printf("%s.%s", res->singular, res->group)
                         : ferry_strdup(res->singular);
}

char *
cli_kind_plural(const struct ferry_resource *res)
{
    return res->group[0] ? ferry_printf("%s.%s", res->plural, res->group)
                         : ferry_strdup(res->plural);
}

void
cli_print_store_error(const struct ferry_resource *res, const char *name)
{
    if (ferry_error_code() == FERRY_ERR_NOTFOUND && res) {
        /* the store's own words: the object, or its namespace, not found */
        fprintf(stderr, "Error from server (NotFound): %s\n", ferry_error_message());
        (void)name;
    } else if (ferry_error_code() == FERRY_ERR_INVALID &&
               ferry_str_has_prefix(ferry_error_message(), "Request entity too large")) {
        fprintf(stderr, "Error from server (RequestEntityTooLarge): %s\n", ferry_error_message());
    } else if (ferry_error_code() == FERRY_ERR_INVALID) {
        fprintf(stderr, "Error from server (Invalid): %s\n", ferry_error_message());
    } else if (ferry_error_code() == FERRY_ERR_CONFLICT) {
        fprintf(stderr, "Error from server (Conflict): %s\n", ferry_error_message());
    } else {
        fprintf(stderr, "error: %s\n", ferry_error_message());
    }
    ferry_error_reset();
}

int64_t
cli_parse_duration_ms(const char *s)
{
    int64_t total = 0;
    const char *p = s;

    if (!s || !*s)
        return -1;
    while (*p) {
        char *end;
        double v = strtod(p, &end);

        if (end == p || v < 0)
            return -1;
        if (*end == '\0') {
            total += (int64_t)(v * 1000); /* bare number: seconds */
            break;
        }
        if (strncmp(end, "ms", 2) == 0) {
            total += (int64_t)v;
            p = end + 2;
        } else if (*end == 's') {
            total += (int64_t)(v * 1000);
            p = end + 1;
        } else if (*end == 'm') {
            total += (int64_t)(v * 60000);
            p = end + 1;
        } else if (*end == 'h') {
            total += (int64_t)(v * 3600000);
            p = end + 1;
        } else {
            return -1;
        }
    }
    return total;
}

int
cli_option_error(int c, char **argv)
{
    if (c == ':')
        fprintf(stderr, "error: flag needs an argument: '%s'\n", argv[optind - 1]);
    else
        fprintf(stderr, "error: unknown flag: '%s'\n", argv[optind - 1]);
    return 2;
}

int
cli_common_option(int c, char **argv, const char **ns, const char *usage)
{
    switch (c) {
    case 'n':
        if (!ns)
            break;
        *ns = optarg;
        return CLI_OPT_NEXT;
    case 'h':
        fputs(usage, stdout);
        return 0;
    }
    return cli_option_error(c, argv);
}

int
cli_timeout_option(const char *arg, int64_t *ret_ms)
{
    *ret_ms = cli_parse_duration_ms(arg);
    if (*ret_ms < 0) {
        fprintf(stderr, "error: invalid argument \"%s\" for \"--timeout\" flag\n", arg);
        return -1;
    }
    return 0;
}

const char *
cli_namespace(const char *opt_ns)
{
    return opt_ns ? opt_ns : "default";
}

char *
cli_self_dir(void)
{
    return ferry_strdup(ferry_cli_bindir());
}

/* ---- small pieces ---- */

/* "5m", or "5m30s" when there is a remainder: two units of an age. */
static char *
two_units(int64_t n, char unit, int64_t rem, char rem_unit)
{
    if (rem == 0)
        return ferry_printf("%lld%c", (long long)n, unit);
    return ferry_printf("%lld%c%lld%c", (long long)n, unit, (long long)rem, rem_unit);
}

/* apimachinery's duration.HumanDuration, which kubectl's AGE columns use. */
char *
cli_human_duration(int64_t seconds)
{
    int64_t minutes, hours;

    if (seconds < -1)
        return ferry_strdup("<invalid>");
    if (seconds < 0)
        return ferry_strdup("0s");
    if (seconds < 60 * 2)
        return ferry_printf("%llds", (long long)seconds);
    minutes = seconds / 60;
    if (minutes < 10)
        return two_units(minutes, 'm', seconds % 60, 's');
    if (minutes < 60 * 3)
        return ferry_printf("%lldm", (long long)minutes);
    hours = seconds / 3600;
    if (hours < 8)
        return two_units(hours, 'h', minutes % 60, 'm');
    if (hours < 48)
        return ferry_printf("%lldh", (long long)hours);
    if (hours < 24 * 8)
        return two_units(hours / 24, 'd', hours % 24, 'h');
    if (hours < 24 * 365 * 2)
        return ferry_printf("%lldd", (long long)(hours / 24));
    if (hours < 24 * 365 * 8)
        return two_units(hours / 24 / 365, 'y', (hours / 24) % 365, 'd');
    return ferry_printf("%lldy", (long long)(hours / 24 / 365));
}

/* How long ago the timestamp at PATH in OBJ was, as get prints ages. */
char *
cli_age_since(json_object *obj, const char *path)
{
    const char *ts = ferry_json_get_string(obj, path);
    time_t t;

    if (!ts || ferry_time_parse_rfc3339(ts, &t) < 0) {
        ferry_error_reset();
        return ferry_strdup("<unknown>");
    }
    return cli_human_duration(time(NULL) - t);
}

const char *
cli_or_none(const char *s)
{
    return s && *s ? s : "<none>";
}

/* "vm/web01" or ("vm", "web01") -> resource + name. */
int
cli_split_kind_name(const char *arg, const struct ferry_resource **ret_res, char **ret_name)
{
    const char *slash = strchr(arg, '/');
    FERRY_AUTOFREE char *kind = slash ? ferry_strndup(arg, slash - arg) : ferry_strdup(arg);
    const struct ferry_resource *res = ferry_resource_lookup(kind);

    if (!res) {
        ferry_error_reset();
        fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n", kind);
        return -1;
    }
    *ret_res = res;
    *ret_name = slash ? ferry_strdup(slash + 1) : NULL;
    return 0;
}

/* Parse "KIND/NAME ..." or "KIND NAME ..." into parallel lists. */
int
cli_parse_targets(int argc, char **argv, const struct ferry_resource ***ret_res, char ***ret_names,
                  size_t *ret_n)
{
    const struct ferry_resource **res = NULL;
    char **names = NULL;
    size_t n = 0;

    if (argc == 0) {
        fprintf(stderr, "error: you must specify the type of resource and a name\n");
        return -1;
    }
    if (strchr(argv[0], '/')) {
        for (int i = 0; i < argc; i++) {
            const struct ferry_resource *r;
            char *name;

            if (!strchr(argv[i], '/')) {
                fprintf(stderr, "error: there is no need to specify a resource type as a "
                                "separate argument when passing arguments in resource/name form\n");
                goto fail;
            }
            if (cli_split_kind_name(argv[i], &r, &name) < 0)
                goto fail;
            res = ferry_realloc(res, (n + 1) * sizeof *res);
            res[n] = r;
            ferry_strv_push(&names, name);
            free(name);
            n++;
        }
    } else {
        const struct ferry_resource *r;
        char *dummy;

        if (cli_split_kind_name(argv[0], &r, &dummy) < 0)
            goto fail;
        free(dummy);
        for (int i = 1; i < argc; i++) {
            res = ferry_realloc(res, (n + 1) * sizeof *res);
            res[n] = r;
            ferry_strv_push(&names, argv[i]);
            n++;
        }
        if (n == 0) {
            fprintf(stderr, "error: resource(s) were provided, but no name was specified\n");
            goto fail;
        }
    }
    *ret_res = res;
    *ret_names = names;
    *ret_n = n;
    return 0;
fail:
    free(res);
    ferry_strv_free(names);
    return -1;
}

struct ferry_store *
cli_open_targets(int argc, char **argv, const struct ferry_resource ***ret_res, char ***ret_names,
                 size_t *ret_n)
{
    struct ferry_store *st;

    if (cli_parse_targets(argc, argv, ret_res, ret_names, ret_n) < 0)
        return NULL;
    if (!(st = cli_store_open_existing())) {
        free(*ret_res);
        *ret_res = NULL;
        ferry_strv_free(*ret_names);
        *ret_names = NULL;
    }
    return st;
}


static int
collect_files(const char *path, char ***files)
{
    struct stat sb;

    if (strcmp(path, "-") == 0) {
        ferry_strv_push(files, path);
        return 0;
    }
    if (stat(path, &sb) < 0) {
        fprintf(stderr, "error: the path \"%s\" does not exist\n", path);
        return -1;
    }
    if (S_ISDIR(sb.st_mode)) {
        struct dirent **ents;
        int n = scandir(path, &ents, NULL, alphasort);

        if (n < 0) {
            fprintf(stderr, "error: cannot read directory \"%s\": %s\n", path, strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            const char *nm = ents[i]->d_name;

            if (ferry_str_has_suffix(nm, ".yaml") || ferry_str_has_suffix(nm, ".yml") ||
                ferry_str_has_suffix(nm, ".json")) {
                FERRY_AUTOFREE char *p = ferry_printf("%s/%s", path, nm);

                ferry_strv_push(files, p);
            }
            free(ents[i]);
        }
        free(ents);
        return 0;
    }
    ferry_strv_push(files, path);
    return 0;
}

/* Documents of all files, with kind: List expanded.  A file that does not
 * parse to its end ends the reading: the documents before the broken one
 * are returned with *ret_broken set (and the error reported), as kubectl
 * applies what it read before the error and then reports it. */
int
cli_read_manifests(char **paths, json_object **ret_docs, char ***ret_sources, bool *ret_broken)
{
    FERRY_AUTOSTRV char **files = NULL;
    json_object *all = json_object_new_array();
    char **sources = NULL;

    for (char **p = paths; p && *p; p++)
        if (collect_files(*p, &files) < 0)
            goto fail;
    for (char **f = files; f && *f; f++) {
        FERRY_AUTOPTR(json_object) docs = NULL;

        bool broken = false;

        if (ferry_yaml_parse_file_partial(*f, &docs) < 0) {
            fprintf(stderr, "error: %s\n", ferry_error_message());
            ferry_error_reset();
            if (!ret_broken || !docs)
                goto fail;
            broken = *ret_broken = true;
        }
        for (size_t i = 0; i < json_object_array_length(docs); i++) {
            json_object *d = json_object_array_get_idx(docs, i);
            json_object *items = ferry_json_get(d, "items");

            if (!json_object_is_type(d, json_type_object))
                continue;
            if (ferry_str_has_suffix(ferry_obj_kind(d), "List") && items &&
                json_object_is_type(items, json_type_array)) {
                for (size_t k = 0; k < json_object_array_length(items); k++) {
                    json_object_array_add(all, json_object_get(json_object_array_get_idx(items, k)));
                    ferry_strv_push(&sources, *f);
                }
            } else {
                json_object_array_add(all, json_object_get(d));
                ferry_strv_push(&sources, *f);
            }
        }
        if (broken)
            break;
    }
    *ret_docs = all;
    *ret_sources = sources;
    return 0;
fail:
    json_object_put(all);
    ferry_strv_free(sources);
    return -1;
}

char *
cli_str_or_empty(const char *s)
{
    return ferry_strdup(s ? s : "");
}

void
cli_table_add(struct cli_table *t, char **cells)
{
    t->rows = ferry_realloc(t->rows, (t->n + 1) * sizeof *t->rows);
    t->rows[t->n++] = cells;
}

void
cli_table_print(struct cli_table *t, FILE *f)
{
    size_t *w = ferry_calloc(t->ncols, sizeof *w);

    for (size_t r = 0; r < t->n; r++)
        for (size_t c = 0; c < t->ncols; c++)
            if (strlen(t->rows[r][c]) > w[c])
                w[c] = strlen(t->rows[r][c]);
    for (size_t r = 0; r < t->n; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            if (c + 1 < t->ncols)
                fprintf(f, "%-*s   ", (int)w[c], t->rows[r][c]);
            else
                fprintf(f, "%s", t->rows[r][c]);
        }
        fputc('\n', f);
        for (size_t c = 0; c < t->ncols; c++)
            free(t->rows[r][c]);
        free(t->rows[r]);
    }
    free(t->rows);
    free(w);
    t->rows = NULL;
    t->n = 0;
}

volatile sig_atomic_t cli_interrupted;

void
cli_on_int(int sig)
{
    cli_interrupted = 1;
}
