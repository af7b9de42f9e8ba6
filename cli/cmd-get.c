/* `ferry get`: kubectl's get over the store, with kubectl's habits: kinds by
 * short name, plural or full name (ferry_resource_lookup), `KIND NAME` or
 * `KIND/NAME`, the columns kubectl shows for KubeVirt's and CDI's kinds
 * (their additionalPrinterColumns, as data below), -o, -l, -A and -w. */

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

/* ==================================================================== get */

/* kubectl's printer columns of a kind (KubeVirt's and CDI's
 * additionalPrinterColumns) as data: a header, the JSON path of a string
 * printed as is ("" when absent), the type of a condition whose status is
 * printed, or a formatter for the others, and whether only -o wide shows
 * it. */
struct column {
    const char *header;
    const char *path;   /* or NULL: value() formats the cell */
    char *(*value)(json_object *obj);
    bool wide;          /* only with -o wide */
    const char *condition; /* with path and value NULL: status.conditions[type=].status */
};

static char *
col_name(json_object *o)
{
    return ferry_strdup(ferry_obj_name(o));
}
static char *
col_age(json_object *o)
{
    return cli_age_since(o, "metadata.creationTimestamp");
}
static char *
col_vm_ready(json_object *o)
{
    return ferry_strdup(ferry_json_get_bool(o, "status.ready", false) ? "True" : "False");
}
static char *
col_vmi_ip(json_object *o)
{
    json_object *ifs = ferry_json_get(o, "status.interfaces");

    if (ifs && json_object_is_type(ifs, json_type_array) && json_object_array_length(ifs) > 0)
        return cli_str_or_empty(
            ferry_json_get_string(json_object_array_get_idx(ifs, 0), "ipAddress"));
    return ferry_strdup("");
}
static char *
cond_status(json_object *o, const char *type)
{
    json_object *c = ferry_condition_get(o, type);

    return cli_str_or_empty(c ? ferry_json_get_string(c, "status") : NULL);
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
col_ev_last(json_object *o)
{
    return cli_age_since(o, "lastTimestamp");
}
static char *
col_ev_object(json_object *o)
{
    return ferry_printf("%s/%s", ferry_json_get_string(o, "involvedObject.kind"),
                        ferry_json_get_string(o, "involvedObject.name"));
}

#define COL_NAME { "NAME", NULL, col_name, false, NULL }
#define COL_AGE { "AGE", NULL, col_age, false, NULL }
#define COL_END { NULL, NULL, NULL, false, NULL }

static const struct column vm_cols[] = {
    COL_NAME,
    COL_AGE,
    { "STATUS", "status.printableStatus", NULL, false, NULL },
    { "READY", NULL, col_vm_ready, false, NULL },
    COL_END,
};
static const struct column vmi_cols[] = {
    COL_NAME,
    COL_AGE,
    { "PHASE", "status.phase", NULL, false, NULL },
    { "IP", NULL, col_vmi_ip, false, NULL },
    { "NODENAME", "status.nodeName", NULL, false, NULL },
    { "READY", NULL, NULL, false, "Ready" },
    { "LIVE-MIGRATABLE", NULL, NULL, true, "LiveMigratable" },
    { "PAUSED", NULL, NULL, true, "Paused" },
    COL_END,
};
static const struct column dv_cols[] = {
    COL_NAME,
    { "PHASE", "status.phase", NULL, false, NULL },
    { "PROGRESS", "status.progress", NULL, false, NULL },
    { "RESTARTS", NULL, col_dv_restarts, false, NULL },
    COL_AGE,
    COL_END,
};
static const struct column node_cols[] = {
    COL_NAME,
    { "STATUS", NULL, col_node_status, false, NULL },
    { "ROLES", NULL, col_node_roles, false, NULL },
    COL_AGE,
    { "VERSION", "status.nodeInfo.kubeletVersion", NULL, false, NULL },
    COL_END,
};
static const struct column event_cols[] = {
    { "LAST SEEN", NULL, col_ev_last, false, NULL },
    { "TYPE", "type", NULL, false, NULL },
    { "REASON", "reason", NULL, false, NULL },
    { "OBJECT", NULL, col_ev_object, false, NULL },
    { "MESSAGE", "message", NULL, false, NULL },
    COL_END,
};
/* kubectl get namespaces: NAME STATUS AGE */
static const struct column ns_cols[] = {
    COL_NAME,
    { "STATUS", "status.phase", NULL, false, NULL },
    COL_AGE,
    COL_END,
};
/* kubectl's: secrets NAME TYPE DATA AGE, configmaps NAME DATA AGE (DATA
 * counts keys, of binaryData too; never a value) */
static char *
col_data(json_object *o)
{
    json_object *d = ferry_json_get(o, "data"), *b = ferry_json_get(o, "binaryData");
    int n = 0;

    if (d && json_object_is_type(d, json_type_object))
        n += json_object_object_length(d);
    if (b && json_object_is_type(b, json_type_object))
        n += json_object_object_length(b);
    return ferry_printf("%d", n);
}
static const struct column secret_cols[] = {
    COL_NAME,
    { "TYPE", "type", NULL, false, NULL },
    { "DATA", NULL, col_data, false, NULL },
    COL_AGE,
    COL_END,
};
static const struct column configmap_cols[] = {
    COL_NAME,
    { "DATA", NULL, col_data, false, NULL },
    COL_AGE,
    COL_END,
};
static const struct column generic_cols[] = {
    COL_NAME,
    COL_AGE,
    COL_END,
};

/* Which columns a kind prints; the others print generic_cols. */
static const struct {
    const struct ferry_resource *const *res;
    const struct column *cols;
} printers[] = {
    { &ferry_resource_vm, vm_cols },
    { &ferry_resource_vmi, vmi_cols },
    { &ferry_resource_dv, dv_cols },
    { &ferry_resource_node, node_cols },
    { &ferry_resource_event, event_cols },
    { &ferry_resource_namespace, ns_cols },
    { &ferry_resource_secret, secret_cols },
    { &ferry_resource_configmap, configmap_cols },
};

static const struct column *
columns_for(const struct ferry_resource *res)
{
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(printers); i++)
        if (*printers[i].res == res)
            return printers[i].cols;
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

static char **
row_for(const struct ferry_resource *res, json_object *obj, const struct get_opts *o,
        size_t *ret_ncols)
{
    const struct column *cols = columns_for(res);
    char **cells = NULL;
    size_t n = 0;

    cells = ferry_calloc(16, sizeof *cells);
    if (o->all_ns && res->namespaced)
        cells[n++] = obj ? cli_str_or_empty(ferry_obj_namespace(obj)) : ferry_strdup("NAMESPACE");
    for (const struct column *c = cols; c->header; c++) {
        if (c->wide && o->fmt != OUT_WIDE)
            continue;
        if (!obj) {
            cells[n++] = ferry_strdup(c->header);
        } else if (c->value == col_name && o->prefix_kind) {
            FERRY_AUTOFREE char *k = cli_kind_name(res);

            cells[n++] = ferry_printf("%s/%s", k, ferry_obj_name(obj));
        } else if (c->path) {
            cells[n++] = cli_str_or_empty(ferry_json_get_string(obj, c->path));
        } else if (c->condition) {
            cells[n++] = cond_status(obj, c->condition);
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
    struct cli_table t = { 0 };

    if (header && !o->no_headers)
        cli_table_add(&t, row_for(res, NULL, o, &t.ncols));
    for (size_t i = 0; i < json_object_array_length(items); i++)
        cli_table_add(&t, row_for(res, json_object_array_get_idx(items, i), o, &t.ncols));
    cli_table_print(&t, stdout);
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
        CLI_OPT_NAMESPACE,
        { "all-namespaces", no_argument, NULL, 'A' },
        { "watch", no_argument, NULL, 'w' },
        CLI_OPT_SELECTOR,
        { "no-headers", no_argument, NULL, 'H' },
        FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_END,
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
        default:
            if ((c = cli_common_option(c, argv, &opt_ns,
                                       "Usage: ferry get KIND[,KIND...] [NAME...] "
                                       "[-o yaml|json|wide|name] [-n NS | -A] [-l SELECTOR] [-w] "
                                       "[--no-headers]\n"
                                       "       ferry get KIND/NAME ...\n\n"
                                       "Show objects: vm, vmi, dv, node, event (short, plural or "
                                       "full names).\n")) != CLI_OPT_NEXT)
                return c;
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

        if (cli_parse_targets(argc - optind, argv + optind, &rs, &nm, &n) < 0)
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
                    struct cli_table t = { 0 };

                    cli_table_add(&t, row_for(res, NULL, &o, &t.ncols));
                    cli_table_print(&t, stdout);
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
