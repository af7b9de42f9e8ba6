/* Child processes, the one way Ferry starts them: spawn with optional pipes,
 * a log fd or file, extra fds, a death signal, a new session or process
 * group; wait with a timeout; stop by pid (TERM, then KILL after a grace
 * period).  Users: the controller's import jobs (controller/datavolume.c),
 * the handler's launchers (launcher/handler.c), the launcher's helpers,
 * `ferry up` and `ferry image-upload` (cli/), and the converter's inspection
 * child and nbdkit (converter/inspect.c, through ferry_spawn_call and
 * ferry_spawn).  The pid file and supervisor helpers below are used by
 * `ferry up` (ferry_pidfile_write) and by the tests; the controller and the
 * handler keep their children in their own tables.  posix_spawn-free on
 * purpose: we need setsid, the death signal and fd control. */
#ifndef FERRY_SPAWN_H
#define FERRY_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct ferry_spawn_opts {
    char *const *env;      /* NULL: inherit; else "K=V" entries added to the inherited env */
    const char *cwd;
    bool pipe_stdin;       /* *ret_stdin gets the write end */
    bool pipe_stdout;      /* *ret_stdout gets the read end */
    bool pipe_stderr;
    const char *stdout_file; /* append stdout (and stderr unless piped) to this file */
    int log_fd;            /* > 2: stdout (and stderr unless piped) go here; the caller
                            * opened it (e.g. with a safe path) and keeps it */
    bool stdin_null;       /* stdin from /dev/null instead of ours (unless piped) */
    bool new_session;      /* setsid(): a daemon, not killed with our terminal */
    bool new_process_group;/* setpgid(0, 0) (set from both sides, no race) */
    int death_signal;      /* > 0: PR_SET_PDEATHSIG; the child also does not start
                            * when we died before it could arm it */
    const struct ferry_spawn_fd *fds; /* extra descriptors the child keeps */
    size_t n_fds;          /* at most FERRY_SPAWN_MAX_FDS */
};

/* Pass our descriptor fd to the child as child_fd (>= 3).  Any order and any
 * overlap between the two sides is fine; fd stays open here. */
struct ferry_spawn_fd {
    int fd;
    int child_fd;
};
#define FERRY_SPAWN_MAX_FDS 8

struct ferry_child {
    pid_t pid;
    int stdin_fd;          /* -1 unless piped */
    int stdout_fd;
    int stderr_fd;
};

/* argv[0] is looked up in PATH.  opts may be NULL.  An exec failure (no such
 * program, bad cwd) fails here, not as a child exiting 127.  The child has
 * only fds 0-2 (stdin inherited unless piped or stdin_null) and the extra fds,
 * with default signal handling. */
int ferry_spawn(char *const argv[], const struct ferry_spawn_opts *opts, struct ferry_child *ret);
/* Fork and run fn(opaque) in the child instead of an exec; its return value
 * is the exit status.  Same options, except that env and cwd apply to this
 * process image and the child keeps every descriptor it had and its signal
 * mask and handlers (it is a copy of us, not a new program); the extra fds
 * are still placed.  For work that must not share our address space
 * (libguestfs inspection). */
int ferry_spawn_call(int (*fn)(void *opaque), void *opaque, const struct ferry_spawn_opts *opts,
                     struct ferry_child *ret);
/* Wait up to timeout_ms (-1 forever). Returns 0 and the raw wait status, or -1
 * with FERRY_ERR_TIMEOUT. */
int ferry_child_wait(struct ferry_child *c, int timeout_ms, int *ret_status);
/* SIGTERM, wait grace_ms, then SIGKILL and reap. Closes the pipes.  A child
 * started with new_session gets the signals for its whole process group.
 * Do not call after ferry_child_wait() returned 0: the pid is reaped. */
int ferry_child_stop(struct ferry_child *c, int grace_ms);
void ferry_child_close_fds(struct ferry_child *c);
/* Run argv to completion, capturing stdout (may be NULL) and status. */
int ferry_run(char *const argv[], char **ret_stdout, int *ret_status);
/* "exited with status 3" / "killed by signal 9 (Killed)". */
char *ferry_wait_status_string(int status);

/* Whether PID is a live process: it exists and is not a zombie (ended, not
 * yet reaped by its parent). */
bool ferry_pid_alive(pid_t pid);

/* Pid files: write ours; read one and tell whether that process lives. */
int ferry_pidfile_write(const char *path, pid_t pid);
pid_t ferry_pidfile_read_alive(const char *path); /* 0 when absent or dead */
/* The same, and only when that process's argv[0] contains PROG: a pid the
 * kernel recycled for another program is not it. */
pid_t ferry_pidfile_read_program(const char *path, const char *prog);

/* The supervisor: a set of children by key; reap() collects the ones that
 * ended and reports them through the callback. */
struct ferry_supervisor;
typedef void (*ferry_supervisor_exit_fn)(const char *key, pid_t pid, int status, void *opaque);
struct ferry_supervisor *ferry_supervisor_new(ferry_supervisor_exit_fn on_exit, void *opaque);
void ferry_supervisor_free(struct ferry_supervisor *s); /* does not kill */
/* Takes over the child and its pipes; FERRY_ERR_EXISTS if key is in use. */
int ferry_supervisor_add(struct ferry_supervisor *s, const char *key, const struct ferry_child *c);
struct ferry_child *ferry_supervisor_get(struct ferry_supervisor *s, const char *key);
size_t ferry_supervisor_count(struct ferry_supervisor *s);
/* Non-blocking: waitpid(WNOHANG) each child; calls on_exit and forgets it. */
int ferry_supervisor_reap(struct ferry_supervisor *s);
/* Stop one child (ferry_child_stop) and forget it; on_exit is NOT called for
 * a deliberate stop.  stop_all gives all children one shared grace period. */
int ferry_supervisor_stop(struct ferry_supervisor *s, const char *key, int grace_ms);
void ferry_supervisor_stop_all(struct ferry_supervisor *s, int grace_ms);

#endif
