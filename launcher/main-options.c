/* Option plumbing of the node programs' main()s (see main-options.h): the
 * words of --help, --version and a bad option are the same in both. */
#include "launcher/main-options.h"

#include <getopt.h>
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

    if (*end || v < min || v > max) {
        fprintf(stderr, "%s: %s '%s': not %d..%d seconds\n", prog, name, arg, min, max);
        return -1;
    }
    *ret_seconds = (int)v;
    return 0;
}
