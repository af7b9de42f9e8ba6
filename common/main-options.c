/* Option plumbing of the programs' main()s (see main-options.h): the words
 * of --help, --version, a bad option and the store options are the same in
 * all of them. */
#include "common/main-options.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/store/store.h"

#include <limits.h>
#include <stdlib.h>

int
ferry_main_common_option(const char *prog, int c, char **argv, void (*usage)(FILE *f))
{
    switch (c) {
    case 'h':
        usage(stdout);
        return 0;
    case 'V':
        printf("%s %s\n", prog, FERRY_VERSION);
        return 0;
    case ':':
        fprintf(stderr, "%s: option '%s' needs a value\n", prog, argv[optind - 1]);
        return 2;
    default:
        fprintf(stderr, "%s: unknown option '%s'; see --help\n", prog, argv[optind - 1]);
        return 2;
    }
}

int
ferry_main_seconds_option(const char *prog, const char *name, const char *arg, int min, int max,
                          int *ret_seconds)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (!*arg || *end || v < min || v > max) {
        fprintf(stderr, "%s: %s '%s': not %d..%d seconds\n", prog, name, arg, min, max);
        return -1;
    }
    *ret_seconds = (int)v;
    return 0;
}

int
ferry_main_int_option(const char *prog, const char *name, const char *arg, int *ret)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (!*arg || *end || v < 0 || v > INT_MAX) {
        fprintf(stderr, "%s: %s: '%s' is not a non-negative integer\n", prog, name, arg);
        return -1;
    }
    *ret = (int)v;
    return 0;
}

void
ferry_main_store_usage(FILE *f, int width)
{
    static const char *const lines[][2] = {
        { "--store WHERE", "store: sqlite:DIR, kube:, kube:KUBECONFIG (default: the" },
        { "", "state directory's, or kube: as below)" },
        { "--kubeconfig FILE", "use the Kubernetes API server of FILE (the kube store);" },
        { "", "without --store or --kubeconfig, $KUBECONFIG or running" },
        { "", "in a pod ($KUBERNETES_SERVICE_HOST) selects it too;" },
        { "", "--store and --kubeconfig together are refused." },
    };

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(lines); i++)
        fprintf(f, "  %-*s%s\n", width, lines[i][0], lines[i][1]);
}

int
ferry_main_store_where(const char *prog, const char *store, const char *kubeconfig,
                       char **ret_where)
{
    if (ferry_store_daemon_where(store, kubeconfig, ret_where) < 0) {
        fprintf(stderr, "%s: %s\n", prog, ferry_error_message());
        return -1;
    }
    return 0;
}
