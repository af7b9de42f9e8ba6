/* `ferry apply -f`: create or configure objects from manifests, with
 * kubectl's created/configured/unchanged lines and its last-applied
 * annotation. */

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

/* Merge an applied manifest into the stored object the way kubectl apply
 * would for our purposes: labels and the top-level fields are the applied
 * ones; annotations keep keys the last apply did not set. */
static json_object *
apply_merge(json_object *existing, json_object *doc)
{
    json_object *m = ferry_json_copy(existing);
    json_object *last_ann = NULL;
    const char *last = ferry_obj_annotation(existing, CLI_LAST_APPLIED);
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

/* apply_one's write of OBJ, a create or an update, or with DRY_RUN only its
 * line: 0 done, 1 lost a race (apply_one tries again), -1 failed (said). */
static int
apply_write(struct ferry_store *st, json_object *obj, bool create, bool dry_run,
            const struct ferry_resource *res, const char *name)
{
    FERRY_AUTOFREE char *kname = cli_kind_name(res);
    FERRY_AUTOPTR(json_object) out = NULL;
    const char *done = create ? "created" : "configured";
    int r = 0;

    if (!dry_run)
        r = create ? ferry_store_create(st, obj, &out) : ferry_store_update(st, obj, &out);
    if (r < 0)
        return lost_race(create ? FERRY_ERR_EXISTS : FERRY_ERR_CONFLICT, res, name) ? 1 : -1;
    printf("%s/%s %s%s\n", kname, name, done, dry_run ? " (dry run)" : "");
    return 0;
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
                cli_or_none(name), opt_ns ? opt_ns : "", source, cli_or_none(ferry_obj_kind(doc)),
                cli_or_none(ferry_obj_api_version(doc)));
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
        json_object_object_del(ferry_obj_annotations(clean), CLI_LAST_APPLIED);
    last = ferry_json_to_string(clean, false);
    ferry_obj_set_annotation(doc, CLI_LAST_APPLIED, last);
    free(last);

    for (int attempt = 0; attempt < 5; attempt++) {
        FERRY_AUTOPTR(json_object) merged = NULL;
        FERRY_AUTOPTR(json_object) probe = NULL;
        int r;

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
            }
            r = apply_write(st, doc, true, dry_run, res, name);
            if (r == 1)
                continue;
            return r;
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
        r = apply_write(st, merged, false, dry_run, res, name);
        if (r != 1)
            return r;
    }
    fprintf(stderr, "error: %s/%s: the object keeps changing; try again\n", kname, name);
    return -1;
}

int
cmd_apply(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_OPT_FILENAME,
        CLI_OPT_NAMESPACE,
        { "dry-run", optional_argument, NULL, 'D' },
        FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_END,
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
        case 'D':
            dry = !optarg || strcmp(optarg, "none") != 0;
            break;
        default:
            if ((c = cli_common_option(c, argv, &ns,
                                       "Usage: ferry apply -f FILE|DIR|- [-f ...] [-n NAMESPACE] "
                                       "[--dry-run]\n\n"
                                       "Create or update objects from YAML or JSON manifests "
                                       "(several documents per\n"
                                       "file, kind: List too), after validation and "
                                       "defaulting.\n")) != CLI_OPT_NEXT)
                return c;
        }
    }
    if (!paths) {
        fprintf(stderr, "error: must specify one of -f and -k\n");
        return 2;
    }
    if (cli_read_manifests(paths, &docs, &sources, &broken) < 0)
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
