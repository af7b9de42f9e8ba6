/* `ferry import` and `ferry convert`: exec ferry-importer / ferry-converter
 * from the directory this binary lives in, with the same arguments, so the
 * front door and the programs can never disagree about flags. */
#include "cli/verbs.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *
ferry_cli_bindir(void)
{
    return ferry_self_dir() ? ferry_self_dir() : ".";
}

static int
exec_sibling(const char *prog, int argc, char **argv)
{
    char *path = ferry_printf("%s/%s", ferry_cli_bindir(), prog);

    argv[0] = path;
    execv(path, argv);
    /* Not beside us: try PATH (an installed ferry). */
    argv[0] = (char *)prog;
    execvp(prog, argv);
    ferry_log_error("cannot run %s: %s", prog, strerror(errno));
    free(path);
    return 127;
}

int
cmd_import(int argc, char **argv)
{
    return exec_sibling("ferry-importer", argc, argv);
}

int
cmd_convert(int argc, char **argv)
{
    return exec_sibling("ferry-converter", argc, argv);
}
