/* What ferry-handler's and ferry-launcher's main() share in reading their
 * options (main-handler.c, main-launcher.c). */
#ifndef FERRY_LAUNCHER_MAIN_OPTIONS_H
#define FERRY_LAUNCHER_MAIN_OPTIONS_H

#include <stdio.h>

/* Answers C, getopt_long()'s answer for -h/--help ('h'), --version ('V') or
 * a bad option (':' a missing value, anything else unknown), for program
 * PROG; USAGE prints the help.  Returns the exit code for main(): 0 after
 * --help or --version, 2 after a bad option. */
int ferry_main_common_option(const char *prog, int c, char **argv, void (*usage)(FILE *f));

/* ARG, the value of option NAME, as whole seconds MIN..MAX into *RET_SECONDS;
 * -1 after saying on stderr that it is not. */
int ferry_main_seconds_option(const char *prog, const char *name, const char *arg, int min, int max,
                              int *ret_seconds);

#endif
