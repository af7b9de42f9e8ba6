/* `ferry delete`: by KIND NAME, -f manifests or --all, waiting for the
 * finalizers unless --wait=false. */

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

/* ================================================================== delete */

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
        if (cli_interrupted || (timeout_ms >= 0 && ferry_now_ns() >= deadline))
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
        CLI_OPT_NAMESPACE,
        CLI_OPT_FILENAME,
        { "wait", optional_argument, NULL, 'W' },
        CLI_OPT_TIMEOUT,
        { "ignore-not-found", optional_argument, NULL, 'I' },
        { "all", no_argument, NULL, 'a' },
        CLI_OPT_SELECTOR,
        FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_END,
    };
    const char *ns = NULL, *selector = NULL;
    FERRY_AUTOSTRV char **files = NULL;
    bool wait = true, ignore_nf = false, all = false;
    int64_t timeout_ms = -1;
    struct ferry_store *st;
    struct sigaction sa = { .sa_handler = cli_on_int };
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, ":n:f:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            ferry_strv_push(&files, optarg);
            break;
        case 'W':
            wait = !optarg || strcmp(optarg, "false") != 0;
            break;
        case 'T':
            if (cli_timeout_option(optarg, &timeout_ms) < 0)
                return 2;
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
        default:
            if ((c = cli_common_option(c, argv, &ns,
                                       "Usage: ferry delete KIND NAME... | KIND/NAME... | -f FILE "
                                       "[-n NS]\n"
                                       "                    [--all | -l SELECTOR] [--wait=false] "
                                       "[--timeout=DUR]\n"
                                       "                    [--ignore-not-found]\n\n"
                                       "Delete objects; by default wait until they are gone "
                                       "(finalizers done).\n")) != CLI_OPT_NEXT)
                return c;
        }
    }
    sigaction(SIGINT, &sa, NULL);
    if (files) {
        FERRY_AUTOPTR(json_object) docs = NULL;
        FERRY_AUTOSTRV char **sources = NULL;

        if (cli_read_manifests(files, &docs, &sources, NULL) < 0)
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
                        cli_or_none(ferry_obj_kind(d)), cli_or_none(ferry_obj_api_version(d)));
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

        if (cli_split_kind_name(argv[optind], &res, &dummy) < 0)
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

        if (cli_parse_targets(argc - optind, argv + optind, &res, &names, &n) < 0)
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
