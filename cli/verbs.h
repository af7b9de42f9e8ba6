/* The ferry front door's verbs.  Each verb group lives in its own file and
 * adds its functions here; cli/ferry.c holds the one table that maps verb
 * names to them (git's builtin table). A verb gets argv with argv[0] the verb
 * itself and returns the process exit code. */
#ifndef FERRY_CLI_VERBS_H
#define FERRY_CLI_VERBS_H

/* cmd-exec.c: hand over to a sibling program, same arguments. */
int cmd_import(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* Directory holding the ferry binaries (that of /proc/self/exe). */
const char *ferry_cli_bindir(void);

#endif
