/* What the object verbs (cmd-apply.c, cmd-get.c, cmd-describe.c,
 * cmd-delete.c, cmd-wait.c, cmd-vm.c, cmd-upload.c) share: the store, naming
 * kinds the way kubectl prints them, durations, and errors in the API
 * server's words.  Defined in objects.c. */
#ifndef FERRY_CLI_OBJECTS_H
#define FERRY_CLI_OBJECTS_H

#include "common/main-options.h"
#include "common/store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* Open the store of the state directory; prints the error. */
struct ferry_store *cli_store_open(void);
/* For commands that only read or change existing objects: a mistyped
 * --state-dir is an error, not a new empty store. */
struct ferry_store *cli_store_open_existing(void);
/* "virtualmachine.kubevirt.io" (singular.group; singular for core). */
char *cli_kind_name(const struct ferry_resource *res);
/* "virtualmachines.kubevirt.io" (plural.group), as in NotFound messages. */
char *cli_kind_plural(const struct ferry_resource *res);
/* Print `Error from server (NotFound): virtualmachines.kubevirt.io "x" not found`
 * or the current error otherwise, to stderr. */
void cli_print_store_error(const struct ferry_resource *res, const char *name);
/* "60s", "2m", "1h30m", "500ms", "10" (seconds) -> ms; -1 when invalid. */
int64_t cli_parse_duration_ms(const char *s);
/* getopt's answer ':' (missing value) or '?' (unknown option) as kubectl
 * words it, on stderr; returns the usage exit code 2. */
int cli_option_error(int c, char **argv);
/* The options every verb's table shares (with common/main-options.h's
 * FERRY_MAIN_OPT_HELP and FERRY_MAIN_OPT_END), and those several verbs take
 * alike: -f as apply and delete, --timeout as delete and wait, -l as get and
 * delete read them. */
#define CLI_OPT_NAMESPACE { "namespace", required_argument, NULL, 'n' }
#define CLI_OPT_FILENAME { "filename", required_argument, NULL, 'f' }
#define CLI_OPT_TIMEOUT { "timeout", required_argument, NULL, 'T' }
#define CLI_OPT_SELECTOR { "selector", required_argument, NULL, 'l' }
/* What cli_common_option() returns when parsing goes on. */
#define CLI_OPT_NEXT (-1)
/* Handle C, an answer of getopt_long() that is not the verb's own: -n
 * sets *NS (NS may be NULL when the verb has no -n), -h prints USAGE (NULL
 * when the verb answers -h itself) and
 * gives exit code 0, anything else is cli_option_error().  Returns
 * CLI_OPT_NEXT after -n, else the exit code for the verb to return. */
int cli_common_option(int c, char **argv, const char **ns, const char *usage);
/* --timeout ARG as cli_parse_duration_ms() reads it, into *RET_MS; -1
 * after saying on stderr that ARG is not a duration. */
int cli_timeout_option(const char *arg, int64_t *ret_ms);
/* The namespace to use: -n value, else "default". */
const char *cli_namespace(const char *opt_ns);

/* The directory of this ferry binary, where its sibling programs are (a
 * copy of ferry_cli_bindir(), which is common/util.h's ferry_self_dir()). */
char *cli_self_dir(void);

/* kubectl's AGE: apimachinery's HumanDuration ("45s", "3m7s", "10m", "3h5m",
 * "9h", "3d4h", "30d", "2y10d"). */
char *cli_human_duration(int64_t seconds);

#endif
