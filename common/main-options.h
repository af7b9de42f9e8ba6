/* What the programs' main()s share in reading their options (ferry-controller,
 * ferry-handler, ferry-launcher; the ferry front door for the option table):
 * the options every program spells the same, the words of --help, --version
 * and a bad option, and the daemons' --store/--kubeconfig. */
#ifndef FERRY_COMMON_MAIN_OPTIONS_H
#define FERRY_COMMON_MAIN_OPTIONS_H

#include <getopt.h>
#include <stdio.h>

/* getopt_long() entries with the same name and letter in every program. */
#define FERRY_MAIN_OPT_STATE_DIR { "state-dir", required_argument, NULL, 's' }
#define FERRY_MAIN_OPT_DEBUG { "debug", required_argument, NULL, 'd' }
#define FERRY_MAIN_OPT_KUBECONFIG { "kubeconfig", required_argument, NULL, 'k' }
#define FERRY_MAIN_OPT_STORE { "store", required_argument, NULL, 'S' }
#define FERRY_MAIN_OPT_HELP { "help", no_argument, NULL, 'h' }
#define FERRY_MAIN_OPT_VERSION { "version", no_argument, NULL, 'V' }
#define FERRY_MAIN_OPT_END { NULL, 0, NULL, 0 }

/* Answers C, getopt_long()'s answer for -h/--help ('h'), --version ('V') or
 * a bad option (':' a missing value, anything else unknown), for program
 * PROG; USAGE prints the help.  Returns the exit code for main(): 0 after
 * --help or --version, 2 after a bad option. */
int ferry_main_common_option(const char *prog, int c, char **argv, void (*usage)(FILE *f));

/* ARG, the value of option NAME, as whole seconds MIN..MAX into *RET_SECONDS;
 * -1 after saying on stderr that it is not. */
int ferry_main_seconds_option(const char *prog, const char *name, const char *arg, int min, int max,
                              int *ret_seconds);

/* ARG, the value of option NAME, as an integer 0..INT_MAX into *RET; -1
 * after saying on stderr that it is not. */
int ferry_main_int_option(const char *prog, const char *name, const char *arg, int *ret);

/* The help of a daemon's --store and --kubeconfig, the option names in a
 * column WIDTH wide, after two spaces of indent. */
void ferry_main_store_usage(FILE *f, int width);

/* ferry_store_daemon_where() of the daemon's --store and --kubeconfig
 * (either may be NULL); -1 after saying on stderr why not. */
int ferry_main_store_where(const char *prog, const char *store, const char *kubeconfig,
                           char **ret_where);

#endif
