/* `ferry apply|get|describe|delete|wait`: kubectl's object verbs over the
 * store, with kubectl's habits: kinds by short name, plural or full name
 * (ferry_resource_lookup), `KIND NAME` or `KIND/NAME`, the columns kubectl
 * shows for KubeVirt's and CDI's kinds (their additionalPrinterColumns), its
 * created/configured/unchanged lines, and the API server's error wording. */
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

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

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
    if (minutes < 10) {
        if (seconds % 60 == 0)
            return ferry_printf("%lldm", (long long)minutes);
        return ferry_printf("%lldm%llds", (long long)minutes, (long long)(seconds % 60));
    }
    if (minutes < 60 * 3)
        return ferry_printf("%lldm", (long long)minutes);
    hours = seconds / 3600;
    if (hours < 8) {
        if (minutes % 60 == 0)
            return ferry_printf("%lldh", (long long)hours);
        return ferry_printf("%lldh%lldm", (long long)hours, (long long)(minutes % 60));
    }
    if (hours < 48)
        return ferry_printf("%lldh", (long long)hours);
    if (hours < 24 * 8) {
        if (hours % 24 == 0)
            return ferry_printf("%lldd", (long long)(hours / 24));
        return ferry_printf("%lldd%lldh", (long long)(hours / 24), (long long)(hours % 24));
    }
    if (hours < 24 * 365 * 2)
        return ferry_printf("%lldd", (long long)(hours / 24));
    if (hours < 24 * 365 * 8) {
        int64_t dy = (hours / 24) % 365;
        if (dy == 0)
            return ferry_printf("%lldy", (long long)(hours / 24 / 365));
        return ferry_printf("%lldy%lldd", (long long)(hours / 24 / 365), (long long)dy);
    }
    return ferry_printf("%lldy", (long long)(hours / 24 / 365));
}

/* How long ago the timestamp at PATH in OBJ was, as get prints ages. */
static char *
age_since(json_object *obj, const char *path)
{
    const char *ts = ferry_json_get_string(obj, path);
    time_t t;

    if (!ts || ferry_time_parse_rfc3339(ts, &t) < 0) {
        ferry_error_reset();
        return ferry_strdup("<unknown>");
    }
    return cli_human_duration(time(NULL) - t);
}

static const char *
or_none(const char *s)
{
    return s && *s ? s : "<none>";
}

/* "vm/web01" or ("vm", "web01") -> resource + name. */
static int
split_kind_name(const char *arg, const struct ferry_resource **ret_res, char **ret_name)
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
static int
parse_targets(int argc, char **argv, const struct ferry_resource ***ret_res, char ***ret_names,
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
            if (split_kind_name(argv[i], &r, &name) < 0)
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

        if (split_kind_name(argv[0], &r, &dummy) < 0)
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

/* ==================================================================== apply */

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
static int
read_manifests(char **paths, json_object **ret_docs, char ***ret_sources, bool *ret_broken)
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

/* Merge an applied manifest into the stored object the way kubectl apply
 * would for our purposes: labels and the top-level fields are the applied
 * ones; annotations keep keys the last apply did not set. */
static json_object *
apply_merge(json_object *existing, json_object *doc)
{
    json_object *m = ferry_json_copy(existing);
    json_object *last_ann = NULL;
    const char *last = ferry_obj_annotation(existing, LAST_APPLIED);
    FERRY_AUTOPTR(json_object) lastdoc = NULL;
    json_object *ann = json_object_new_object();
    json_object *old_ann = ferry_obj_annotations(existing);
    json_object *new_ann = ferry_obj_annotations(doc);
    json_object *labels = ferry_obj_labels(doc);

    if (last && ferry_json_parse(last, strlen(last), "last-applied-configuration", &lastdoc) == 0)
        last_ann = ferry_json_get(lastdoc, "metadata.annotations");
    ferry_error_reset();
    if (old_ann) {
        json_object_object_foreach(old_ann, k, v) {
            /* Dropped from the manifest since the last apply: remove. */
            if (last_ann && json_object_object_get_ex(last_ann, k, NULL) &&
                !(new_ann && json_object_object_get_ex(new_ann, k, NULL)))
                continue;
            json_object_object_add(ann, k, json_object_get(v));
        }
    }
    if (new_ann) {
        json_object_object_foreach(new_ann, k, v)
            json_object_object_add(ann, k, json_object_get(v));
    }
    ferry_json_set(m, "metadata.annotations", ann);
    ferry_json_set(m, "metadata.labels", labels ? ferry_json_copy(labels) : NULL);
    {
        json_object_object_foreach(doc, k, v) {
            if (strcmp(k, "metadata") == 0 || strcmp(k, "status") == 0)
                continue;
            json_object_object_add(m, k, ferry_json_copy(v));
        }
    }
    {
        /* Fields the manifest no longer has (spec.running vs runStrategy). */
        json_object_object_foreach(existing, k, v) {
            (void)v;
            if (strcmp(k, "metadata") && strcmp(k, "status") &&
                !json_object_object_get_ex(doc, k, NULL))
                json_object_object_del(m, k);
        }
    }
    return m;
}

/* After a failed store write: true when it lost a race to another writer
 * (the error is CODE) and is worth another attempt; otherwise the error is
 * printed. */
static bool
lost_race(enum ferry_err code, const struct ferry_resource *res, const char *name)
{
    if (ferry_error_code() == code) {
        ferry_error_reset();
        return true;
    }
    cli_print_store_error(res, name);
    return false;
}

static int
apply_one(struct ferry_store *st, json_object *doc, const char *source, const char *opt_ns,
          bool dry_run)
{
    const struct ferry_resource *res = ferry_resource_for_object(doc);
    FERRY_AUTOFREE char *kname = NULL;
    FERRY_AUTOPTR(json_object) existing = NULL;
    FERRY_AUTOPTR(json_object) clean = NULL;
    const char *name = ferry_obj_name(doc);
    const char *ns;
    char *last;

    if (!res) {
        ferry_error_reset();
        fprintf(stderr,
                "error: resource mapping not found for name: \"%s\" namespace: \"%s\" from "
                "\"%s\": no matches for kind \"%s\" in version \"%s\"\n",
                or_none(name), opt_ns ? opt_ns : "", source, or_none(ferry_obj_kind(doc)),
                or_none(ferry_obj_api_version(doc)));
        return -1;
    }
    kname = cli_kind_name(res);
    if (!name) {
        fprintf(stderr, "error: error when retrieving current configuration of resource from "
                        "\"%s\": resource name may not be empty\n", source);
        return -1;
    }
    if (res->namespaced) {
        ns = ferry_obj_namespace(doc);
        if (ns && opt_ns && strcmp(ns, opt_ns) != 0) {
            fprintf(stderr, "error: the namespace from the provided object \"%s\" does not match "
                            "the namespace \"%s\". You must pass '--namespace=%s' to perform "
                            "this operation.\n", ns, opt_ns, ns);
            return -1;
        }
        if (!ns)
            ferry_json_set_string(doc, "metadata.namespace", cli_namespace(opt_ns));
        ns = ferry_obj_namespace(doc);
    } else {
        ns = NULL;
        ferry_json_del(doc, "metadata.namespace");
    }
    /* kubectl records what was applied, without status and without itself. */
    clean = ferry_json_copy(doc);
    json_object_object_del(clean, "status");
    if (ferry_obj_annotations(clean))
        json_object_object_del(ferry_obj_annotations(clean), LAST_APPLIED);
    last = ferry_json_to_string(clean, false);
    ferry_obj_set_annotation(doc, LAST_APPLIED, last);
    free(last);

    for (int attempt = 0; attempt < 5; attempt++) {
        FERRY_AUTOPTR(json_object) merged = NULL;
        FERRY_AUTOPTR(json_object) probe = NULL;
        FERRY_AUTOPTR(json_object) out = NULL;

        json_object_put(existing);
        existing = NULL;
        if (ferry_store_get(st, res, ns, name, &existing) < 0) {
            if (ferry_error_code() != FERRY_ERR_NOTFOUND) {
                cli_print_store_error(res, name);
                return -1;
            }
            ferry_error_reset();
            if (ferry_json_get_string(doc, "metadata.resourceVersion") &&
                *ferry_json_get_string(doc, "metadata.resourceVersion")) {
                fprintf(stderr, "Error from server (Invalid): error when creating \"%s\": "
                                "resourceVersion should not be set on objects to be created\n",
                        source);
                return -1;
            }
            if (dry_run) {
                FERRY_AUTOPTR(json_object) d = ferry_json_copy(doc);

                if (ferry_store_admit(st, d, true, NULL) < 0) {
                    cli_print_store_error(res, name);
                    return -1;
                }
                printf("%s/%s created (dry run)\n", kname, name);
                return 0;
            }
            if (ferry_store_create(st, doc, &out) < 0) {
                if (lost_race(FERRY_ERR_EXISTS, res, name))
                    continue;
                return -1;
            }
            printf("%s/%s created\n", kname, name);
            return 0;
        }
        {
            /* the manifest's own preconditions, as the API server checks a patch's */
            const char *want_rv = ferry_json_get_string(doc, "metadata.resourceVersion");
            const char *want_uid = ferry_json_get_string(doc, "metadata.uid");
            FERRY_AUTOFREE char *plural = cli_kind_plural(res);

            if (want_rv && *want_rv && !ferry_str_eq(want_rv, ferry_obj_resource_version(existing))) {
                fprintf(stderr, "Error from server (Conflict): error when patching \"%s\": "
                                "Operation cannot be fulfilled on %s \"%s\": the object has been "
                                "modified; please apply your changes to the latest version and "
                                "try again\n", source, plural, name);
                return -1;
            }
            if (want_uid && *want_uid && !ferry_str_eq(want_uid, ferry_obj_uid(existing))) {
                fprintf(stderr, "Error from server (Conflict): error when patching \"%s\": "
                                "Operation cannot be fulfilled on %s \"%s\": Precondition failed: "
                                "UID in precondition: %s, UID in object meta: %s\n", source,
                        plural, name, want_uid, ferry_obj_uid(existing));
                return -1;
            }
        }
        merged = apply_merge(existing, doc);
        probe = ferry_json_copy(merged);
        if (ferry_store_admit(st, probe, false, existing) < 0) {
            cli_print_store_error(res, name);
            return -1;
        }
        if (ferry_json_equal(probe, existing)) {
            printf("%s/%s unchanged\n", kname, name);
            return 0;
        }
        if (dry_run) {
            printf("%s/%s configured (dry run)\n", kname, name);
            return 0;
        }
        if (ferry_store_update(st, merged, &out) < 0) {
            if (lost_race(FERRY_ERR_CONFLICT, res, name))
                continue;
            return -1;
        }
        printf("%s/%s configured\n", kname, name);
        return 0;
    }
    fprintf(stderr, "error: %s/%s: the object keeps changing; try again\n", kname, name);
    return -1;
}

int
cmd_apply(int argc, char **argv)
{
    static const struct option opts[] = {
        { "filename", required_argument, NULL, 'f' },
        { "namespace", required_argument, NULL, 'n' },
        { "dry-run", optional_argument, NULL, 'D' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    FERRY_AUTOSTRV char **paths = NULL;
    FERRY_AUTOSTRV char **sources = NULL;
    FERRY_AUTOPTR(json_object) docs = NULL;
    const char *ns = NULL;
    bool dry = false, broken = false;
    struct ferry_store *st;
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, ":f:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            ferry_strv_push(&paths, optarg);
            break;
        case 'n':
            ns = optarg;
            break;
        case 'D':
            dry = !optarg || strcmp(optarg, "none") != 0;
            break;
        case 'h':
            printf("Usage: ferry apply -f FILE|DIR|- [-f ...] [-n NAMESPACE] [--dry-run]\n\n"
                   "Create or update objects from YAML or JSON manifests (several documents per\n"
                   "file, kind: List too), after validation and defaulting.\n");
            return 0;
        default:
            return cli_option_error(c, argv);
        }
    }
    if (!paths) {
        fprintf(stderr, "error: must specify one of -f and -k\n");
        return 2;
    }
    if (read_manifests(paths, &docs, &sources, &broken) < 0)
        return 1;
    if (json_object_array_length(docs) == 0) {
        if (!broken)
            fprintf(stderr, "error: no objects passed to apply\n");
        return 1;
    }
    if (!(st = cli_store_open()))
        return 1;
    for (size_t i = 0; i < json_object_array_length(docs); i++)
        if (apply_one(st, json_object_array_get_idx(docs, i), sources[i], ns, dry) < 0)
            rc = 1;
    ferry_store_free(st);
    return broken ? 1 : rc;
}

/* ==================================================================== get */

struct column {
    const char *header;
    bool wide;   /* only with -o wide */
    char *(*value)(json_object *obj);
};

static char *
col_name(json_object *o)
{
    return ferry_strdup(ferry_obj_name(o));
}
static char *
col_age(json_object *o)
{
    return age_since(o, "metadata.creationTimestamp");
}
static char *
str_or_empty(const char *s)
{
    return ferry_strdup(s ? s : "");
}
static char *
col_vm_status(json_object *o)
{
    return str_or_empty(ferry_json_get_string(o, "status.printableStatus"));
}
static char *
col_vm_ready(json_object *o)
{
    return ferry_strdup(ferry_json_get_bool(o, "status.ready", false) ? "True" : "False");
}
static char *
col_phase(json_object *o)
{
    return str_or_empty(ferry_json_get_string(o, "status.phase"));
}
static char *
col_vmi_ip(json_object *o)
{
    json_object *ifs = ferry_json_get(o, "status.interfaces");

    if (ifs && json_object_is_type(ifs, json_type_array) && json_object_array_length(ifs) > 0)
        return str_or_empty(ferry_json_get_string(json_object_array_get_idx(ifs, 0), "ipAddress"));
    return ferry_strdup("");
}
static char *
col_vmi_node(json_object *o)
{
    return str_or_empty(ferry_json_get_string(o, "status.nodeName"));
}
static char *
cond_status(json_object *o, const char *type)
{
    json_object *c = ferry_condition_get(o, type);

    return str_or_empty(c ? ferry_json_get_string(c, "status") : NULL);
}
static char *
col_vmi_ready(json_object *o)
{
    return cond_status(o, "Ready");
}
static char *
col_vmi_migratable(json_object *o)
{
    return cond_status(o, "LiveMigratable");
}
static char *
col_vmi_paused(json_object *o)
{
    return cond_status(o, "Paused");
}
static char *
col_dv_progress(json_object *o)
{
    return str_or_empty(ferry_json_get_string(o, "status.progress"));
}
static char *
col_dv_restarts(json_object *o)
{
    json_object *r = ferry_json_get(o, "status.restartCount");

    return r ? ferry_printf("%lld", (long long)json_object_get_int64(r)) : ferry_strdup("");
}
static char *
col_node_status(json_object *o)
{
    json_object *c = ferry_condition_get(o, "Ready");

    return ferry_strdup(c && ferry_str_eq(ferry_json_get_string(c, "status"), "True") ? "Ready"
                                                                                      : "NotReady");
}
static char *
col_node_roles(json_object *o)
{
    return ferry_strdup("<none>");
}
static char *
col_node_version(json_object *o)
{
    return str_or_empty(ferry_json_get_string(o, "status.nodeInfo.kubeletVersion"));
}
static char *
col_ev_last(json_object *o)
{
    return age_since(o, "lastTimestamp");
}
static char *
col_ev_type(json_object *o)
{
    return str_or_empty(ferry_json_get_string(o, "type"));
}
static char *
col_ev_reason(json_object *o)
{
    return str_or_empty(ferry_json_get_string(o, "reason"));
}
static char *
col_ev_object(json_object *o)
{
    return ferry_printf("%s/%s", ferry_json_get_string(o, "involvedObject.kind"),
                        ferry_json_get_string(o, "involvedObject.name"));
}
static char *
col_ev_message(json_object *o)
{
    return str_or_empty(ferry_json_get_string(o, "message"));
}

static const struct column vm_cols[] = {
    { "NAME", false, col_name }, { "AGE", false, col_age },
    { "STATUS", false, col_vm_status }, { "READY", false, col_vm_ready }, { NULL, false, NULL },
};
static const struct column vmi_cols[] = {
    { "NAME", false, col_name }, { "AGE", false, col_age }, { "PHASE", false, col_phase },
    { "IP", false, col_vmi_ip }, { "NODENAME", false, col_vmi_node },
    { "READY", false, col_vmi_ready }, { "LIVE-MIGRATABLE", true, col_vmi_migratable },
    { "PAUSED", true, col_vmi_paused }, { NULL, false, NULL },
};
static const struct column dv_cols[] = {
    { "NAME", false, col_name }, { "PHASE", false, col_phase },
    { "PROGRESS", false, col_dv_progress }, { "RESTARTS", false, col_dv_restarts },
    { "AGE", false, col_age }, { NULL, false, NULL },
};
static const struct column node_cols[] = {
    { "NAME", false, col_name }, { "STATUS", false, col_node_status },
    { "ROLES", false, col_node_roles }, { "AGE", false, col_age },
    { "VERSION", false, col_node_version }, { NULL, false, NULL },
};
static const struct column event_cols[] = {
    { "LAST SEEN", false, col_ev_last }, { "TYPE", false, col_ev_type },
    { "REASON", false, col_ev_reason }, { "OBJECT", false, col_ev_object },
    { "MESSAGE", false, col_ev_message }, { NULL, false, NULL },
};
/* kubectl get namespaces: NAME STATUS AGE */
static const struct column ns_cols[] = {
    { "NAME", false, col_name }, { "STATUS", false, col_phase }, { "AGE", false, col_age },
    { NULL, false, NULL },
};
static const struct column generic_cols[] = {
    { "NAME", false, col_name }, { "AGE", false, col_age }, { NULL, false, NULL },
};

static const struct column *
columns_for(const struct ferry_resource *res)
{
    if (res == ferry_resource_vm)
        return vm_cols;
    if (res == ferry_resource_vmi)
        return vmi_cols;
    if (res == ferry_resource_dv)
        return dv_cols;
    if (res == ferry_resource_node)
        return node_cols;
    if (res == ferry_resource_event)
        return event_cols;
    if (res == ferry_resource_namespace)
        return ns_cols;
    return generic_cols;
}

enum out_fmt { OUT_TABLE, OUT_WIDE, OUT_YAML, OUT_JSON, OUT_NAME };

struct get_opts {
    enum out_fmt fmt;
    const char *ns;         /* NULL with -A */
    bool all_ns;
    bool no_headers;
    bool prefix_kind;       /* several kinds: NAME is kind.group/name */
    struct ferry_selector *sel;
};

/* A table: rows of cells, printed with kubectl's tabwriter padding (3). */
struct table {
    char ***rows;
    size_t n;
    size_t ncols;
};

static void
table_add(struct table *t, char **cells)
{
    t->rows = ferry_realloc(t->rows, (t->n + 1) * sizeof *t->rows);
    t->rows[t->n++] = cells;
}

static void
table_print(struct table *t, FILE *f)
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

static char **
row_for(const struct ferry_resource *res, json_object *obj, const struct get_opts *o,
        size_t *ret_ncols)
{
    const struct column *cols = columns_for(res);
    char **cells = NULL;
    size_t n = 0;

    cells = ferry_calloc(16, sizeof *cells);
    if (o->all_ns && res->namespaced)
        cells[n++] = obj ? str_or_empty(ferry_obj_namespace(obj)) : ferry_strdup("NAMESPACE");
    for (const struct column *c = cols; c->header; c++) {
        if (c->wide && o->fmt != OUT_WIDE)
            continue;
        if (!obj) {
            cells[n++] = ferry_strdup(c->header);
        } else if (c->value == col_name && o->prefix_kind) {
            FERRY_AUTOFREE char *k = cli_kind_name(res);

            cells[n++] = ferry_printf("%s/%s", k, ferry_obj_name(obj));
        } else {
            cells[n++] = c->value(obj);
        }
    }
    *ret_ncols = n;
    return cells;
}

static void
print_objects_table(const struct ferry_resource *res, json_object *items, const struct get_opts *o,
                    bool header)
{
    struct table t = { 0 };

    if (header && !o->no_headers)
        table_add(&t, row_for(res, NULL, o, &t.ncols));
    for (size_t i = 0; i < json_object_array_length(items); i++)
        table_add(&t, row_for(res, json_object_array_get_idx(items, i), o, &t.ncols));
    table_print(&t, stdout);
}

static void
print_document(json_object *doc, enum out_fmt fmt)
{
    if (fmt == OUT_JSON) {
        FERRY_AUTOFREE char *s = ferry_json_to_string(doc, true);

        printf("%s\n", s);
    } else {
        FERRY_AUTOFREE char *s = ferry_yaml_emit(doc);

        fputs(s, stdout);
    }
}

static int
parse_output(const char *s, enum out_fmt *ret)
{
    if (*s == '=')
        s++; /* -o=name, as pflag takes it */
    if (strcmp(s, "yaml") == 0)
        *ret = OUT_YAML;
    else if (strcmp(s, "json") == 0)
        *ret = OUT_JSON;
    else if (strcmp(s, "wide") == 0)
        *ret = OUT_WIDE;
    else if (strcmp(s, "name") == 0)
        *ret = OUT_NAME;
    else {
        fprintf(stderr, "error: unable to match a printer suitable for the output format \"%s\", "
                        "allowed formats are: json,name,wide,yaml\n", s);
        return -1;
    }
    return 0;
}

/* -w prints each change as a row (or document).  What it has printed is
 * remembered by namespace/name (the object as last printed), so that when
 * the watch expires (the store's 410 Gone: the history moved past it) a
 * re-list prints only what changed meanwhile, as kubectl's reflector does:
 * objects with a new resourceVersion, and the last state of those that went
 * away; then watching resumes from the list's resourceVersion. */
struct watch_seen {
    json_object *objs;      /* "ns/name" -> object as last printed */
};

static char *
seen_key(json_object *obj)
{
    return ferry_printf("%s/%s", ferry_obj_namespace(obj) ?: "", ferry_obj_name(obj));
}

static bool
watch_wanted(json_object *obj, const char *name, const struct get_opts *o)
{
    return (!name || ferry_str_eq(ferry_obj_name(obj), name)) &&
           (!o->sel || ferry_selector_matches(o->sel, ferry_obj_labels(obj)));
}

static void
watch_print(const struct ferry_resource *res, json_object *obj, const struct get_opts *o)
{
    if (o->fmt == OUT_YAML || o->fmt == OUT_JSON) {
        if (o->fmt == OUT_YAML)
            printf("---\n");
        print_document(obj, o->fmt);
    } else if (o->fmt == OUT_NAME) {
        FERRY_AUTOFREE char *k = cli_kind_name(res);

        printf("%s/%s\n", k, ferry_obj_name(obj));
    } else {
        json_object *one = json_object_new_array();

        json_object_array_add(one, json_object_get(obj));
        print_objects_table(res, one, o, false);
        json_object_put(one);
    }
    fflush(stdout);
}

/* Remember OBJ as printed (or forget it when deleted); false when it is
 * what was printed last already (same resourceVersion): nothing to print. */
static bool
seen_update(struct watch_seen *seen, json_object *obj, bool deleted)
{
    FERRY_AUTOFREE char *key = seen_key(obj);
    json_object *prev = json_object_object_get(seen->objs, key);

    if (deleted) {
        json_object_object_del(seen->objs, key);
        return true;
    }
    if (prev && ferry_str_eq(ferry_obj_resource_version(prev), ferry_obj_resource_version(obj)))
        return false;
    json_object_object_add(seen->objs, key, json_object_get(obj));
    return true;
}

/* The re-list after an expired watch: print what changed since, set *RV. */
static int
watch_relist(struct ferry_store *st, const struct ferry_resource *res, const char *name,
             const struct get_opts *o, struct watch_seen *seen, int64_t *rv)
{
    FERRY_AUTOPTR(json_object) items = NULL;
    FERRY_AUTOPTR(json_object) live = json_object_new_object();
    FERRY_AUTOSTRV char **gone = NULL;

    if (ferry_store_list(st, res, res->namespaced ? o->ns : NULL, o->sel, &items, rv) < 0)
        return -1;
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        json_object *obj = json_object_array_get_idx(items, i);
        FERRY_AUTOFREE char *key = seen_key(obj);

        if (!watch_wanted(obj, name, o))
            continue;
        json_object_object_add(live, key, NULL);
        if (seen_update(seen, obj, false))
            watch_print(res, obj, o);
    }
    json_object_object_foreach(seen->objs, key, obj) {
        (void)obj;
        if (!json_object_object_get_ex(live, key, NULL))
            ferry_strv_push(&gone, key);
    }
    for (char **k = gone; k && *k; k++) {
        FERRY_AUTOPTR(json_object) last = json_object_get(json_object_object_get(seen->objs, *k));

        json_object_object_del(seen->objs, *k);
        watch_print(res, last, o);
    }
    return 0;
}

static int
get_watch(struct ferry_store *st, const struct ferry_resource *res, const char *name,
          int64_t rv, const struct get_opts *o, struct watch_seen *seen)
{
    struct ferry_watch *w = NULL;

    for (;;) {
        struct ferry_event ev;
        int r;

        if (!w && ferry_store_watch(st, res, o->ns, rv, &w) < 0)
            r = -1;
        else
            r = ferry_watch_next(w, 1000, &ev);
        if (r < 0) {
            ferry_watch_free(w);
            w = NULL;
            if (ferry_error_code() != FERRY_ERR_EXPIRED) {
                cli_print_store_error(res, name);
                return 1;
            }
            ferry_log_debug("get", "watch from resourceVersion %lld expired (%s); re-listing",
                            (long long)rv, ferry_error_message());
            ferry_error_reset();
            if (watch_relist(st, res, name, o, seen, &rv) < 0) {
                cli_print_store_error(res, name);
                return 1;
            }
            continue;
        }
        if (r == 0)
            continue;
        rv = ev.resource_version;
        if (watch_wanted(ev.object, name, o) &&
            seen_update(seen, ev.object, ev.type == FERRY_EVENT_DELETED))
            watch_print(res, ev.object, o);
        ferry_event_release(&ev);
    }
}

int
cmd_get(int argc, char **argv)
{
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' },
        { "namespace", required_argument, NULL, 'n' },
        { "all-namespaces", no_argument, NULL, 'A' },
        { "watch", no_argument, NULL, 'w' },
        { "selector", required_argument, NULL, 'l' },
        { "no-headers", no_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct get_opts o = { .fmt = OUT_TABLE };
    const char *opt_ns = NULL;
    bool watch = false;
    struct ferry_store *st = NULL;
    FERRY_AUTOSTRV char **kinds = NULL;
    const struct ferry_resource *res_list[16];
    size_t nres = 0;
    char **names;
    int nnames, c, rc = 0;
    json_object *collected = json_object_new_array();
    bool printed_any = false;
    const char *kinds_arg;
    FERRY_AUTOFREE char *watch_kind = NULL;
    char *watch_name[1];

    while ((c = getopt_long(argc, argv, ":o:n:Awl:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (parse_output(optarg, &o.fmt) < 0)
                return 2;
            break;
        case 'n':
            opt_ns = optarg;
            break;
        case 'A':
            o.all_ns = true;
            break;
        case 'w':
            watch = true;
            break;
        case 'l':
            if (ferry_selector_parse(optarg, &o.sel) < 0) {
                fprintf(stderr, "error: %s\n", ferry_error_message());
                return 2;
            }
            break;
        case 'H':
            o.no_headers = true;
            break;
        case 'h':
            printf("Usage: ferry get KIND[,KIND...] [NAME...] [-o yaml|json|wide|name] "
                   "[-n NS | -A] [-l SELECTOR] [-w] [--no-headers]\n"
                   "       ferry get KIND/NAME ...\n\n"
                   "Show objects: vm, vmi, dv, node, event (short, plural or full names).\n");
            return 0;
        default:
            return cli_option_error(c, argv);
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "You must specify the type of resource to get. Use \"ferry get vm\", "
                        "\"ferry get vmi\", \"ferry get dv\" or \"ferry get node\".\n"
                        "error: Required resource not specified.\n");
        return 1;
    }
    o.ns = o.all_ns ? NULL : cli_namespace(opt_ns);
    names = argv + optind + 1;
    nnames = argc - optind - 1;
    kinds_arg = argv[optind];
    if (watch && strchr(kinds_arg, '/')) {
        /* -w watches one object of one kind: KIND/NAME is KIND NAME */
        const char *slash = strchr(kinds_arg, '/');

        if (nnames > 0) {
            fprintf(stderr, "error: watch is only supported on individual resources and "
                            "resource collections, but %d resources were found\n", nnames + 1);
            return 1;
        }
        watch_kind = ferry_strndup(kinds_arg, slash - kinds_arg);
        watch_name[0] = (char *)slash + 1;
        kinds_arg = watch_kind;
        names = watch_name;
        nnames = 1;
    }

    /* KIND/NAME arguments: one object each. */
    if (strchr(kinds_arg, '/')) {
        const struct ferry_resource **rs = NULL;
        char **nm = NULL;
        size_t n = 0;

        if (parse_targets(argc - optind, argv + optind, &rs, &nm, &n) < 0)
            return 1;
        if (!(st = cli_store_open_existing()))
            return 1;
        o.prefix_kind = true;
        for (size_t i = 0; i < n; i++) {
            FERRY_AUTOPTR(json_object) obj = NULL;
            json_object *one;

            if (ferry_store_get(st, rs[i], rs[i]->namespaced ? cli_namespace(opt_ns) : NULL,
                                nm[i], &obj) < 0) {
                cli_print_store_error(rs[i], nm[i]);
                rc = 1;
                continue;
            }
            if (o.fmt == OUT_YAML || o.fmt == OUT_JSON) {
                json_object_array_add(collected, json_object_get(obj));
                continue;
            }
            if (o.fmt == OUT_NAME) {
                FERRY_AUTOFREE char *k = cli_kind_name(rs[i]);

                printf("%s/%s\n", k, nm[i]);
                continue;
            }
            one = json_object_new_array();
            json_object_array_add(one, json_object_get(obj));
            if (printed_any && (i == 0 || rs[i] != rs[i - 1]))
                printf("\n");
            print_objects_table(rs[i], one, &o, i == 0 || rs[i] != rs[i - 1]);
            printed_any = true;
            json_object_put(one);
        }
        free(rs);
        ferry_strv_free(nm);
        goto documents;
    }

    kinds = ferry_strv_split(kinds_arg, ",");
    for (char **k = kinds; k && *k && nres < FERRY_ARRAY_SIZE(res_list); k++) {
        const struct ferry_resource *r = ferry_resource_lookup(*k);

        if (!r) {
            ferry_error_reset();
            fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n", *k);
            return 1;
        }
        res_list[nres++] = r;
    }
    if (watch && nres > 1) {
        fprintf(stderr, "error: you may only specify a single resource type\n");
        return 1;
    }
    o.prefix_kind = nres > 1;
    if (!(st = cli_store_open_existing()))
        return 1;

    for (size_t k = 0; k < nres; k++) {
        const struct ferry_resource *res = res_list[k];
        const char *ns = res->namespaced ? o.ns : NULL;
        FERRY_AUTOPTR(json_object) items = json_object_new_array();
        int64_t rv = 0;

        if (nnames > 0) {
            /* watching: the resourceVersion to start from is taken before the
             * gets, so that no change between them goes unseen */
            if (watch && nres == 1 &&
                ferry_store_list(st, res, ns, NULL, NULL, &rv) < 0) {
                cli_print_store_error(res, NULL);
                ferry_store_free(st);
                json_object_put(collected);
                return 1;
            }
            for (int i = 0; i < nnames; i++) {
                json_object *obj = NULL;

                if (ferry_store_get(st, res, res->namespaced ? cli_namespace(opt_ns) : NULL,
                                    names[i], &obj) < 0) {
                    cli_print_store_error(res, names[i]);
                    rc = 1;
                    continue;
                }
                json_object_array_add(items, obj);
            }
        } else {
            FERRY_AUTOPTR(json_object) all = NULL;

            if (ferry_store_list(st, res, ns, o.sel, &all, &rv) < 0) {
                cli_print_store_error(res, NULL);
                ferry_store_free(st);
                json_object_put(collected);
                return 1;
            }
            for (size_t i = 0; i < json_object_array_length(all); i++)
                json_object_array_add(items, json_object_get(json_object_array_get_idx(all, i)));
        }
        if (o.fmt == OUT_YAML || o.fmt == OUT_JSON) {
            for (size_t i = 0; i < json_object_array_length(items); i++)
                json_object_array_add(collected,
                                      json_object_get(json_object_array_get_idx(items, i)));
        } else if (o.fmt == OUT_NAME) {
            FERRY_AUTOFREE char *kn = cli_kind_name(res);

            for (size_t i = 0; i < json_object_array_length(items); i++)
                printf("%s/%s\n", kn, ferry_obj_name(json_object_array_get_idx(items, i)));
        } else if (json_object_array_length(items) > 0) {
            if (printed_any)
                printf("\n");
            print_objects_table(res, items, &o, true);
            printed_any = true;
        }
        if (watch && nres == 1) {
            fflush(stdout);
            if (json_object_array_length(items) == 0 && nnames == 0 && o.fmt != OUT_YAML &&
                o.fmt != OUT_JSON) {
                /* kubectl prints the header first when nothing is there yet. */
                if (!o.no_headers) {
                    struct table t = { 0 };

                    table_add(&t, row_for(res, NULL, &o, &t.ncols));
                    table_print(&t, stdout);
                    fflush(stdout);
                }
            }
            struct watch_seen seen = { .objs = json_object_new_object() };

            for (size_t i = 0; i < json_object_array_length(items); i++) {
                /* kubectl prints the current objects first, in every format */
                if (o.fmt == OUT_YAML || o.fmt == OUT_JSON)
                    watch_print(res, json_object_array_get_idx(items, i), &o);
                seen_update(&seen, json_object_array_get_idx(items, i), false);
            }
            json_object_put(collected);
            rc = get_watch(st, res, nnames == 1 ? names[0] : NULL, rv, &o, &seen);
            json_object_put(seen.objs);
            ferry_store_free(st);
            return rc;
        }
    }
    if (!printed_any && nnames == 0 && o.fmt != OUT_YAML && o.fmt != OUT_JSON &&
        o.fmt != OUT_NAME) {
        if (o.all_ns || !res_list[0]->namespaced)
            fprintf(stderr, "No resources found\n");
        else
            fprintf(stderr, "No resources found in %s namespace.\n", o.ns);
    }
documents:
    if (o.fmt == OUT_YAML || o.fmt == OUT_JSON) {
        bool single = json_object_array_length(collected) == 1 &&
                      (nnames == 1 || strchr(argv[optind], '/'));

        if (single) {
            print_document(json_object_array_get_idx(collected, 0), o.fmt);
        } else if (json_object_array_length(collected) > 0 || rc == 0) {
            FERRY_AUTOPTR(json_object) list = json_object_new_object();

            json_object_object_add(list, "apiVersion", json_object_new_string("v1"));
            json_object_object_add(list, "items", json_object_get(collected));
            json_object_object_add(list, "kind", json_object_new_string("List"));
            ferry_json_set_string(list, "metadata.resourceVersion", "");
            print_document(list, o.fmt);
        }
    }
    json_object_put(collected);
    ferry_selector_free(o.sel);
    ferry_store_free(st);
    return rc;
}

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
        if (strcmp(k, LAST_APPLIED) == 0)
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
    struct table t = { 0 };
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
        table_add(&t, h);
        table_add(&t, s);
    }
    for (size_t i = n > 20 ? n - 20 : 0; i < n; i++) {
        char **row = ferry_calloc(5, sizeof *row);
        int64_t count = ferry_json_get_int(mine[i], "count", 1);
        FERRY_AUTOFREE char *age = col_ev_last(mine[i]);

        row[0] = col_ev_type(mine[i]);
        row[1] = col_ev_reason(mine[i]);
        row[2] = count > 1 ? ferry_printf("%s (x%lld)", age, (long long)count) : ferry_strdup(age);
        row[3] = str_or_empty(ferry_json_get_string(mine[i], "source.component"));
        row[4] = col_ev_message(mine[i]);
        table_add(&t, row);
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

static void
describe_one(struct ferry_store *st, json_object *obj)
{
    json_object *md = ferry_json_get(obj, "metadata");

    printf("%-14s%s\n", "Name:", ferry_obj_name(obj));
    if (ferry_obj_namespace(obj))
        printf("%-14s%s\n", "Namespace:", ferry_obj_namespace(obj));
    describe_map("Labels:", ferry_obj_labels(obj));
    describe_map("Annotations:", ferry_obj_annotations(obj));
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
        { "namespace", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *ns = NULL;
    const struct ferry_resource **res = NULL;
    char **names = NULL;
    size_t n = 0;
    struct ferry_store *st;
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            ns = optarg;
            break;
        case 'h':
            printf("Usage: ferry describe KIND NAME... | KIND/NAME... [-n NAMESPACE]\n\n"
                   "Show an object's fields, conditions and recent events.\n");
            return 0;
        default:
            return cli_option_error(c, argv);
        }
    }
    if (parse_targets(argc - optind, argv + optind, &res, &names, &n) < 0)
        return 1;
    if (!(st = cli_store_open_existing())) {
        free(res);
        ferry_strv_free(names);
        return 1;
    }
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

/* ================================================================== delete */

static volatile sig_atomic_t interrupted;

static void
on_int(int sig)
{
    interrupted = 1;
}

/* Wait until get says NotFound: 0; 1 on timeout (timeout_ms < 0: forever). */
static int
wait_gone(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
          const char *name, int64_t timeout_ms)
{
    uint64_t deadline = ferry_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ULL;

    for (;;) {
        FERRY_AUTOPTR(json_object) obj = NULL;

        if (ferry_store_get(st, res, ns, name, &obj) < 0) {
            if (ferry_error_code() == FERRY_ERR_NOTFOUND) {
                ferry_error_reset();
                return 0;
            }
            return -1;
        }
        if (interrupted || (timeout_ms >= 0 && ferry_now_ns() >= deadline))
            return 1;
        usleep(100 * 1000);
    }
}

static int
delete_one(struct ferry_store *st, const struct ferry_resource *res, const char *ns,
           const char *name, bool wait, int64_t timeout_ms, bool ignore_nf)
{
    FERRY_AUTOFREE char *kn = cli_kind_name(res);

    if (ferry_store_delete(st, res, res->namespaced ? ns : NULL, name) < 0) {
        if (ignore_nf && ferry_error_code() == FERRY_ERR_NOTFOUND) {
            ferry_error_reset();
            return 0;
        }
        cli_print_store_error(res, name);
        return -1;
    }
    printf("%s \"%s\" deleted\n", kn, name);
    fflush(stdout);
    if (wait) {
        int r = wait_gone(st, res, res->namespaced ? ns : NULL, name, timeout_ms);

        if (r < 0) {
            cli_print_store_error(res, name);
            return -1;
        }
        if (r > 0) {
            fprintf(stderr, "error: timed out waiting for the condition on %s/%s\n",
                    res->plural, name);
            return -1;
        }
    }
    return 0;
}

int
cmd_delete(int argc, char **argv)
{
    static const struct option opts[] = {
        { "namespace", required_argument, NULL, 'n' },
        { "filename", required_argument, NULL, 'f' },
        { "wait", optional_argument, NULL, 'W' },
        { "timeout", required_argument, NULL, 'T' },
        { "ignore-not-found", optional_argument, NULL, 'I' },
        { "all", no_argument, NULL, 'a' },
        { "selector", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *ns = NULL, *selector = NULL;
    FERRY_AUTOSTRV char **files = NULL;
    bool wait = true, ignore_nf = false, all = false;
    int64_t timeout_ms = -1;
    struct ferry_store *st;
    struct sigaction sa = { .sa_handler = on_int };
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, ":n:f:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            ns = optarg;
            break;
        case 'f':
            ferry_strv_push(&files, optarg);
            break;
        case 'W':
            wait = !optarg || strcmp(optarg, "false") != 0;
            break;
        case 'T':
            timeout_ms = cli_parse_duration_ms(optarg);
            if (timeout_ms < 0) {
                fprintf(stderr, "error: invalid argument \"%s\" for \"--timeout\" flag\n", optarg);
                return 2;
            }
            if (timeout_ms == 0)
                timeout_ms = -1;
            break;
        case 'I':
            ignore_nf = !optarg || strcmp(optarg, "false") != 0;
            break;
        case 'a':
            all = true;
            break;
        case 'l':
            selector = optarg;
            break;
        case 'h':
            printf("Usage: ferry delete KIND NAME... | KIND/NAME... | -f FILE [-n NS]\n"
                   "                    [--all | -l SELECTOR] [--wait=false] [--timeout=DUR]\n"
                   "                    [--ignore-not-found]\n\n"
                   "Delete objects; by default wait until they are gone (finalizers done).\n");
            return 0;
        default:
            return cli_option_error(c, argv);
        }
    }
    sigaction(SIGINT, &sa, NULL);
    if (files) {
        FERRY_AUTOPTR(json_object) docs = NULL;
        FERRY_AUTOSTRV char **sources = NULL;

        if (read_manifests(files, &docs, &sources, NULL) < 0)
            return 1;
        if (!(st = cli_store_open_existing()))
            return 1;
        for (size_t i = 0; i < json_object_array_length(docs); i++) {
            json_object *d = json_object_array_get_idx(docs, i);
            const struct ferry_resource *res = ferry_resource_for_object(d);
            const char *dns = ferry_obj_namespace(d);

            if (!res) {
                ferry_error_reset();
                fprintf(stderr, "error: no matches for kind \"%s\" in version \"%s\"\n",
                        or_none(ferry_obj_kind(d)), or_none(ferry_obj_api_version(d)));
                rc = 1;
                continue;
            }
            if (delete_one(st, res, dns ? dns : cli_namespace(ns), ferry_obj_name(d), wait,
                           timeout_ms, ignore_nf) < 0)
                rc = 1;
        }
        ferry_store_free(st);
        return rc;
    }
    if ((all || selector) && optind < argc && !strchr(argv[optind], '/')) {
        const struct ferry_resource *res;
        char *dummy;
        FERRY_AUTOPTR(json_object) items = NULL;
        struct ferry_selector *sel = NULL;
        int64_t rv;

        if (split_kind_name(argv[optind], &res, &dummy) < 0)
            return 1;
        free(dummy);
        if (selector && ferry_selector_parse(selector, &sel) < 0) {
            fprintf(stderr, "error: %s\n", ferry_error_message());
            return 2;
        }
        if (!(st = cli_store_open_existing())) {
            ferry_selector_free(sel);
            return 1;
        }
        if (ferry_store_list(st, res, res->namespaced ? cli_namespace(ns) : NULL, sel, &items,
                             &rv) < 0) {
            cli_print_store_error(res, NULL);
            rc = 1;
        } else {
            if (json_object_array_length(items) == 0)
                fprintf(stderr, "No resources found\n");
            for (size_t i = 0; i < json_object_array_length(items); i++)
                if (delete_one(st, res, cli_namespace(ns),
                               ferry_obj_name(json_object_array_get_idx(items, i)), wait,
                               timeout_ms, true) < 0)
                    rc = 1;
        }
        ferry_selector_free(sel);
        ferry_store_free(st);
        return rc;
    }
    {
        const struct ferry_resource **res = NULL;
        char **names = NULL;
        size_t n = 0;

        if (parse_targets(argc - optind, argv + optind, &res, &names, &n) < 0)
            return 1;
        if (!(st = cli_store_open_existing())) {
            free(res);
            ferry_strv_free(names);
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            if (delete_one(st, res[i], cli_namespace(ns), names[i], wait, timeout_ms,
                           ignore_nf) < 0)
                rc = 1;
        free(res);
        ferry_strv_free(names);
        ferry_store_free(st);
    }
    return rc;
}

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
        { "timeout", required_argument, NULL, 'T' },
        { "namespace", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct wait_for w = { 0 };
    const char *ns = NULL;
    int64_t timeout_ms = 30000;
    const struct ferry_resource **res = NULL;
    char **names = NULL;
    size_t n = 0;
    struct ferry_store *st;
    struct sigaction sa = { .sa_handler = on_int };
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
            timeout_ms = cli_parse_duration_ms(optarg);
            if (timeout_ms < 0) {
                fprintf(stderr, "error: invalid argument \"%s\" for \"--timeout\" flag\n", optarg);
                return 2;
            }
            break;
        case 'n':
            ns = optarg;
            break;
        case 'h':
            printf("Usage: ferry wait KIND/NAME... | KIND NAME... --for=condition=COND[=VALUE]|"
                   "--for=delete|--for=jsonpath='{.path}'=VALUE [--timeout=30s] [-n NS]\n");
            return 0;
        default:
            return cli_option_error(c, argv);
        }
    }
    if (!have_for) {
        fprintf(stderr, "error: --for must be set\n");
        return 2;
    }
    if (parse_targets(argc - optind, argv + optind, &res, &names, &n) < 0)
        return 1;
    if (!(st = cli_store_open_existing()))
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
            if (interrupted || ferry_now_ns() >= deadline)
                break;
            usleep(100 * 1000);
        }
        if (met) {
            printf("%s/%s condition met\n", kn, names[i]);
            fflush(stdout);
        } else if (rc == 0 || !interrupted) {
            if (ferry_now_ns() >= deadline || interrupted) {
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
