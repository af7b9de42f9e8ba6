/* The ferry front door's verbs.  Each verb group lives in its own file and
 * adds its functions here; cli/ferry.c holds the one table that maps verb
 * names to them (git's builtin table). A verb gets argv with argv[0] the verb
 * itself and returns the process exit code. */
#ifndef FERRY_CLI_VERBS_H
#define FERRY_CLI_VERBS_H

/* cmd-exec.c: hand over to a sibling program, same arguments. */
int cmd_import(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* cmd-apply.c, cmd-get.c, cmd-describe.c, cmd-delete.c, cmd-wait.c: kubectl's object verbs. */
int cmd_apply(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_describe(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_wait(int argc, char **argv);
/* cmd-upload.c */
int cmd_image_upload(int argc, char **argv);
/* cmd-up.c: the embedded control plane's daemons. */
int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
/* cmd-vm.c: virtctl's start/stop/restart. */
int cmd_start(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_restart(int argc, char **argv);

/* cmd-node.c: the verbs that reach a VMI on this node. */
int cmd_console(int argc, char **argv);
int cmd_vnc(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_unpause(int argc, char **argv);

/* Directory holding the ferry binaries (that of /proc/self/exe). */
const char *ferry_cli_bindir(void);

#endif
