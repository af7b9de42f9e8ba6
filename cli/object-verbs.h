/* What the files of the object verbs (cmd-apply.c, cmd-get.c,
 * cmd-describe.c, cmd-delete.c, cmd-wait.c) share beyond objects.h:
 * targets as kubectl takes them, manifests, the tabwriter table, ages and
 * the Ctrl-C flag.  Defined in objects.c; not for the other commands. */
#ifndef FERRY_CLI_OBJECT_VERBS_H
#define FERRY_CLI_OBJECT_VERBS_H

#include "common/store/store.h"

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CLI_LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* How long ago the timestamp at PATH in OBJ was, as get prints ages. */
char *cli_age_since(json_object *obj, const char *path);
/* S, or "<none>" when it is NULL or empty. */
const char *cli_or_none(const char *s);
/* A copy of S, or of "" when it is NULL. */
char *cli_str_or_empty(const char *s);
/* "vm/web01" or ("vm", "web01") -> resource + name. */
int cli_split_kind_name(const char *arg, const struct ferry_resource **ret_res, char **ret_name);
/* Parse "KIND/NAME ..." or "KIND NAME ..." into parallel lists. */
int cli_parse_targets(int argc, char **argv, const struct ferry_resource ***ret_res,
                      char ***ret_names, size_t *ret_n);
/* cli_parse_targets(), then cli_store_open_existing(): the store, or NULL
 * (said on stderr) with nothing left to free. */
struct ferry_store *cli_open_targets(int argc, char **argv, const struct ferry_resource ***ret_res,
                                     char ***ret_names, size_t *ret_n);
/* Documents of all files (-f), with kind: List expanded; see objects.c. */
int cli_read_manifests(char **paths, json_object **ret_docs, char ***ret_sources,
                       bool *ret_broken);

/* A table: rows of cells, printed with kubectl's tabwriter padding (3). */
struct cli_table {
    char ***rows;
    size_t n;
    size_t ncols;
};

/* Append a row (the table owns CELLS, ncols of them). */
void cli_table_add(struct cli_table *t, char **cells);
/* Print and free the rows. */
void cli_table_print(struct cli_table *t, FILE *f);

/* Set by cli_on_int, the SIGINT handler of delete --wait and wait. */
extern volatile sig_atomic_t cli_interrupted;
void cli_on_int(int sig);

#endif
