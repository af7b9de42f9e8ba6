/* Child processes for the controller's import jobs, the handler's launchers
 * and the CLI's helpers.
 *
 * Everything the child needs (argv, the merged environment, the output file)
 * is prepared before fork(), because only async-signal-safe calls are allowed
 * between fork() and exec() in a threaded program.  Every descriptor we open
 * is O_CLOEXEC, and the child also closes everything above stderr
 * (close_range), so a launcher never inherits the controller's database or
 * another child's pipe.  exec() failures travel back over a CLOEXEC pipe, so
 * ferry_spawn() itself fails with "cannot run 'x': No such file or directory"
 * instead of a child that exits 127.
 *
 * Extra fds (the volume lock as fd 3) are first moved above every target
 * number, with everything else the child still needs, and only then placed,
 * so no mapping can overwrite another's source.  The death signal is armed
 * before anything else, then the parent is checked: a parent that died in
 * between would never send it.  ferry_spawn_call() runs a function instead
 * of exec(): the child is a copy of us, so it keeps our descriptors, signal
 * mask and dispositions (as after fork()), and the parent's pipe ends are
 * closed by hand.
 *
 * Waiting with a timeout uses a pidfd (Linux 5.3+) and falls back to polling.
 * Stopping a child that leads its own session signals the whole process
 * group (also one made with new_process_group), so "sh -c 'qemu ...'"
 * does not leave qemu behind.
 */
#include "common/spawn.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- spawning ----------------------------------------------------------- */

/* environ with opts->env entries added (replacing same-named ones). */
static char **
build_env(char *const *add)
{
    size_t n = 0, na = ferry_strv_len(add), k = 0;
    char **env;

    for (char **e = environ; e && *e; e++)
        n++;
    env = ferry_calloc(n + na + 1, sizeof *env);
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
        bool replaced = false;

        for (size_t a = 0; a < na; a++)
            if (strncmp(add[a], *e, klen) == 0 && add[a][klen] == '=') {
                replaced = true;
                break;
            }
        if (!replaced)
            env[k++] = *e;
    }
    for (size_t a = 0; a < na; a++)
        env[k++] = add[a];
    env[k] = NULL;
    return env; /* the array is ours; its strings are borrowed */
}

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* In the child: close every fd >= 3 except the n in keep (async-signal-safe). */
static void
close_other_fds(int *keep, size_t n)
{
    /* insertion sort: a handful of entries */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];

            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
#ifdef SYS_close_range
    {
        unsigned from = 3;
        bool ok = true;

        for (size_t i = 0; i < n && ok; i++) {
            if (keep[i] < 3 || (unsigned)keep[i] < from)
                continue;
            if ((unsigned)keep[i] > from && syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0) < 0)
                ok = false;
            from = (unsigned)keep[i] + 1;
        }
        if (ok && syscall(SYS_close_range, from, ~0U, 0) == 0)
            return;
    }
#endif
    {
        long max = sysconf(_SC_OPEN_MAX);

        if (max < 0 || max > 65536)
            max = 65536;
        for (int fd = 3; fd < max; fd++) {
            bool kept = false;

            for (size_t i = 0; i < n; i++)
                kept |= keep[i] == fd;
            if (!kept)
                close(fd);
        }
    }
}

/* Every descriptor the child deals with.  Parent ends are CLOEXEC; the
 * call mode (no exec) closes them by hand. */
struct child_fds {
    int in_r, in_w, out_r, out_w, err_r, err_w;
    int out_file; /* stdout_file, log_fd or -1 */
    bool out_file_ours;
    int null_fd;
    int report_r, report_w;
};

/* Move *fd above the range the extra fds land in; close the old one when it
 * is ours (a pipe end), keep it when it is the caller's. */
static int
move_above(int *fd, int hi, bool ours)
{
    int t;

    if (*fd < 0 || *fd >= hi)
        return 0;
    t = fcntl(*fd, F_DUPFD_CLOEXEC, hi);
    if (t < 0)
        return -1;
    if (ours)
        close(*fd);
    *fd = t;
    return 0;
}

/* Between fork and exec (or fn): async-signal-safe calls only, up to fn. */
static _Noreturn void
child_run(char *const argv[], int (*fn)(void *), void *opaque, char **envp,
          const struct ferry_spawn_opts *o, struct child_fds f, pid_t parent)
{
    sigset_t all;
    int e, hi = 3, src[FERRY_SPAWN_MAX_FDS], keep[FERRY_SPAWN_MAX_FDS + 1];
    size_t nkeep = 0;

    if (!fn) {
        /* a new program starts clean; a function keeps fork()'s copy */
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, SIG_DFL);
    }

    if (o->death_signal > 0) {
        if (prctl(PR_SET_PDEATHSIG, o->death_signal) < 0)
            goto fail;
        /* we died before it was armed: nobody is left to wait for the child */
        if (getppid() != parent)
            _exit(125);
    }
    if (o->new_session && setsid() < 0)
        goto fail;
    if (o->new_process_group && !o->new_session && setpgid(0, 0) < 0)
        goto fail;
    if (o->cwd && chdir(o->cwd) < 0)
        goto fail;
    if (fn) {
        close_fd(&f.in_w), close_fd(&f.out_r), close_fd(&f.err_r), close_fd(&f.report_r);
    }

    /* Nothing we still need may sit where an extra fd lands. */
    for (size_t i = 0; i < o->n_fds; i++)
        if (o->fds[i].child_fd >= hi)
            hi = o->fds[i].child_fd + 1;
    if (move_above(&f.report_w, hi, true) < 0 || move_above(&f.in_r, hi, true) < 0 ||
        move_above(&f.out_w, hi, true) < 0 || move_above(&f.err_w, hi, true) < 0 ||
        move_above(&f.null_fd, hi, true) < 0 || move_above(&f.out_file, hi, f.out_file_ours) < 0)
        goto fail;
    for (size_t i = 0; i < o->n_fds; i++) {
        src[i] = o->fds[i].fd;
        if (move_above(&src[i], hi, false) < 0)
            goto fail;
    }

    if (f.in_r >= 0 ? dup2(f.in_r, STDIN_FILENO) < 0
                    : f.null_fd >= 0 && dup2(f.null_fd, STDIN_FILENO) < 0)
        goto fail;
    if (f.out_w >= 0 ? dup2(f.out_w, STDOUT_FILENO) < 0
                     : f.out_file >= 0 && dup2(f.out_file, STDOUT_FILENO) < 0)
        goto fail;
    if (f.err_w >= 0 ? dup2(f.err_w, STDERR_FILENO) < 0
                     : f.out_file >= 0 && dup2(f.out_file, STDERR_FILENO) < 0)
        goto fail;
    for (size_t i = 0; i < o->n_fds; i++) {
        if (dup2(src[i], o->fds[i].child_fd) < 0)
            goto fail;
        keep[nkeep++] = o->fds[i].child_fd;
    }

    if (fn) {
        /* no exec to drop the CLOEXEC copies: close what we made */
        close_fd(&f.in_r), close_fd(&f.out_w), close_fd(&f.err_w), close_fd(&f.null_fd);
        if (f.out_file_ours)
            close_fd(&f.out_file);
        for (size_t i = 0; i < o->n_fds; i++)
            if (src[i] != o->fds[i].fd)
                close(src[i]);
        if (envp)
            environ = envp;
        close_fd(&f.report_w); /* the parent's read sees EOF: started */
        _exit(fn(opaque) & 0xff);
    }
    keep[nkeep++] = f.report_w;
    close_other_fds(keep, nkeep);
    execvpe(argv[0], argv, envp);
fail:
    e = errno;
    if (write(f.report_w, &e, sizeof e) < 0) {
        /* the parent sees a short read and reports an unknown failure */
    }
    _exit(127);
}

static int
spawn_common(char *const argv[], int (*fn)(void *), void *opaque, const char *what,
             const struct ferry_spawn_opts *opts, struct ferry_child *ret)
{
    static const struct ferry_spawn_opts defaults;
    const struct ferry_spawn_opts *o = opts ? opts : &defaults;
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, report[2] = { -1, -1 };
    FERRY_AUTOCLOSE int file_fd = -1;
    FERRY_AUTOCLOSE int null_fd = -1;
    FERRY_AUTOFREE char **envp = NULL;
    struct child_fds f;
    pid_t pid, parent = getpid();
    int child_errno = 0;
    ssize_t n;

    if (o->n_fds > FERRY_SPAWN_MAX_FDS)
        return ferry_error(FERRY_ERR_INVALID, "spawn '%s': %zu extra descriptors (at most %d)",
                           what, o->n_fds, FERRY_SPAWN_MAX_FDS);
    for (size_t i = 0; i < o->n_fds; i++) {
        if (o->fds[i].child_fd < 3 || o->fds[i].fd < 0)
            return ferry_error(FERRY_ERR_INVALID, "spawn '%s': cannot pass fd %d as fd %d", what,
                               o->fds[i].fd, o->fds[i].child_fd);
        for (size_t j = 0; j < i; j++)
            if (o->fds[j].child_fd == o->fds[i].child_fd)
                return ferry_error(FERRY_ERR_INVALID, "spawn '%s': fd %d passed twice", what,
                                   o->fds[i].child_fd);
    }
    if (o->stdout_file) {
        file_fd = open(o->stdout_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
        if (file_fd < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "cannot open '%s' for the output of '%s'",
                                     o->stdout_file, what);
    }
    if (o->stdin_null && !o->pipe_stdin) {
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "cannot open /dev/null for '%s'", what);
    }
    if ((o->pipe_stdin && pipe2(in, O_CLOEXEC) < 0) || (o->pipe_stdout && pipe2(out, O_CLOEXEC) < 0) ||
        (o->pipe_stderr && pipe2(err, O_CLOEXEC) < 0) || pipe2(report, O_CLOEXEC) < 0) {
        int e = errno;

        close_fd(&in[0]), close_fd(&in[1]), close_fd(&out[0]), close_fd(&out[1]);
        close_fd(&err[0]), close_fd(&err[1]), close_fd(&report[0]), close_fd(&report[1]);
        return ferry_error_errno(FERRY_ERR_IO, e, "cannot create pipes for '%s'", what);
    }
    envp = o->env ? build_env(o->env) : NULL;
    f = (struct child_fds){
        .in_r = in[0], .in_w = in[1], .out_r = out[0], .out_w = out[1], .err_r = err[0],
        .err_w = err[1], .out_file = file_fd >= 0 ? file_fd : o->log_fd > 2 ? o->log_fd : -1,
        .out_file_ours = file_fd >= 0, .null_fd = null_fd, .report_r = report[0],
        .report_w = report[1],
    };

    pid = fork();
    if (pid < 0) {
        int e = errno;

        close_fd(&in[0]), close_fd(&in[1]), close_fd(&out[0]), close_fd(&out[1]);
        close_fd(&err[0]), close_fd(&err[1]), close_fd(&report[0]), close_fd(&report[1]);
        return ferry_error_errno(FERRY_ERR_IO, e, "cannot fork for '%s'", what);
    }
    if (pid == 0)
        child_run(argv, fn, opaque, envp ? envp : fn ? NULL : environ, o, f, parent);

    if (o->new_process_group && !o->new_session)
        setpgid(pid, pid); /* also here: the caller may signal the group at once */
    close_fd(&in[0]), close_fd(&out[1]), close_fd(&err[1]), close_fd(&report[1]);
    do
        n = read(report[0], &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    close_fd(&report[0]);
    if (n > 0) {
        close_fd(&in[1]), close_fd(&out[0]), close_fd(&err[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (n != sizeof child_errno)
            return ferry_error(FERRY_ERR_IO, "cannot run '%s'", what);
        if (o->cwd && child_errno == ENOENT && access(o->cwd, X_OK) < 0)
            return ferry_error_errno(FERRY_ERR_IO, child_errno, "cannot run '%s' in '%s'", what, o->cwd);
        return ferry_error_errno(FERRY_ERR_IO, child_errno, "cannot run '%s'", what);
    }
    ret->pid = pid;
    ret->stdin_fd = in[1];
    ret->stdout_fd = out[0];
    ret->stderr_fd = err[0];
    return 0;
}

int
ferry_spawn(char *const argv[], const struct ferry_spawn_opts *opts, struct ferry_child *ret)
{
    if (!argv || !argv[0])
        return ferry_error(FERRY_ERR_INVALID, "spawn: empty command");
    return spawn_common(argv, NULL, NULL, argv[0], opts, ret);
}

int
ferry_spawn_call(int (*fn)(void *opaque), void *opaque, const struct ferry_spawn_opts *opts,
                 struct ferry_child *ret)
{
    if (!fn)
        return ferry_error(FERRY_ERR_INVALID, "spawn: no function");
    return spawn_common(NULL, fn, opaque, "a child process", opts, ret);
}

void
ferry_child_close_fds(struct ferry_child *c)
{
    close_fd(&c->stdin_fd);
    close_fd(&c->stdout_fd);
    close_fd(&c->stderr_fd);
}

/* ---- waiting ------------------------------------------------------------ */

static int
pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* 1 reaped, 0 still running, 2 not our child (reaped elsewhere), -1 error */
static int
try_reap(pid_t pid, int *ret_status)
{
    int st;
    pid_t r;

    do
        r = waitpid(pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno == ECHILD)
        return 2;
    if (r < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot wait for process %d", (int)pid);
    if (r == 0)
        return 0;
    if (ret_status)
        *ret_status = st;
    return 1;
}

static int
wait_pid(pid_t pid, int timeout_ms, int *ret_status)
{
    uint64_t deadline;
    int r, pfd;

    if (pid <= 0)
        return ferry_error(FERRY_ERR_INVALID, "wait: no such child (pid %d)", (int)pid);
    if (timeout_ms < 0) {
        int st;

        while (waitpid(pid, &st, 0) < 0)
            if (errno != EINTR)
                return ferry_error_errno(FERRY_ERR_IO, errno, "cannot wait for process %d", (int)pid);
        if (ret_status)
            *ret_status = st;
        return 0;
    }
    r = try_reap(pid, ret_status);
    if (r == 2)
        return ferry_error(FERRY_ERR_INVALID, "cannot wait for process %d: not a child of ours", (int)pid);
    if (r != 0)
        return r < 0 ? -1 : 0;
    deadline = ferry_now_ns() + (uint64_t)timeout_ms * 1000000u;
    pfd = pidfd_open_(pid);
    for (;;) {
        uint64_t now = ferry_now_ns();
        int left = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);

        if (pfd >= 0) {
            struct pollfd p = { .fd = pfd, .events = POLLIN };

            if (poll(&p, 1, left) < 0 && errno != EINTR) {
                close(pfd);
                pfd = -1;
            }
        } else {
            struct timespec ts = { 0, (left < 10 ? left : 10) * 1000000L };

            nanosleep(&ts, NULL);
        }
        r = try_reap(pid, ret_status);
        if (r != 0) {
            if (pfd >= 0)
                close(pfd);
            if (r == 2)
                return ferry_error(FERRY_ERR_INVALID, "cannot wait for process %d: not a child of ours", (int)pid);
            return r < 0 ? -1 : 0;
        }
        if (ferry_now_ns() >= deadline) {
            if (pfd >= 0)
                close(pfd);
            return ferry_error(FERRY_ERR_TIMEOUT, "process %d still running after %d ms", (int)pid,
                               timeout_ms);
        }
    }
}

int
ferry_child_wait(struct ferry_child *c, int timeout_ms, int *ret_status)
{
    return wait_pid(c->pid, timeout_ms, ret_status);
}

/* A session leader gets the signal for its whole process group. */
static void
signal_child(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    if (getpgid(pid) == pid && kill(-pid, sig) == 0)
        return;
    kill(pid, sig);
}

static int
stop_pid(pid_t pid, int grace_ms, int *ret_status)
{
    int r;

    if (pid <= 0)
        return 0;
    r = try_reap(pid, ret_status);
    if (r != 0)
        return r < 0 ? -1 : 0; /* ended already, or not ours: nothing to stop */
    signal_child(pid, SIGTERM);
    if (wait_pid(pid, grace_ms < 0 ? 0 : grace_ms, ret_status) == 0)
        return 0;
    if (ferry_error_code() != FERRY_ERR_TIMEOUT)
        return -1;
    signal_child(pid, SIGKILL);
    return wait_pid(pid, -1, ret_status);
}

int
ferry_child_stop(struct ferry_child *c, int grace_ms)
{
    int r = stop_pid(c->pid, grace_ms, NULL);

    ferry_child_close_fds(c);
    return r;
}

int
ferry_run(char *const argv[], char **ret_stdout, int *ret_status)
{
    struct ferry_spawn_opts o = { .pipe_stdout = ret_stdout != NULL };
    struct ferry_child c;
    FERRY_AUTOFREE char *buf = NULL;
    int status, r = 0;

    if (ferry_spawn(argv, &o, &c) < 0)
        return -1;
    if (ret_stdout)
        r = ferry_fd_read(c.stdout_fd, argv[0], 0, &buf, NULL);
    ferry_child_close_fds(&c);
    if (ferry_child_wait(&c, -1, &status) < 0 || r < 0)
        return -1;
    if (ret_stdout)
        *ret_stdout = FERRY_STEAL(buf);
    if (ret_status)
        *ret_status = status;
    return 0;
}

char *
ferry_wait_status_string(int status)
{
    if (WIFEXITED(status))
        return ferry_printf("exited with status %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return ferry_printf("killed by signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                            WCOREDUMP(status) ? ", core dumped" : "");
    if (WIFSTOPPED(status))
        return ferry_printf("stopped by signal %d (%s)", WSTOPSIG(status), strsignal(WSTOPSIG(status)));
    return ferry_printf("unknown wait status 0x%x", status);
}

/* ---- pid files ---------------------------------------------------------- */

int
ferry_pidfile_write(const char *path, pid_t pid)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)pid);

    return ferry_file_write_atomic(path, buf, (size_t)n, 0644);
}

pid_t
ferry_pidfile_read_alive(const char *path)
{
    FERRY_AUTOFREE char *buf = NULL;
    size_t len;
    char *end;
    long v;

    if (access(path, F_OK) < 0)
        return 0;
    if (ferry_file_read(path, 64, &buf, &len) < 0) {
        ferry_error_reset();
        return 0;
    }
    errno = 0;
    v = strtol(buf, &end, 10);
    while (*end == '\n' || *end == ' ' || *end == '\r')
        end++;
    if (errno || end == buf || *end || v <= 0 || v > INT_MAX)
        return 0;
    return ferry_pid_alive((pid_t)v) ? (pid_t)v : 0;
}

bool
ferry_pid_alive(pid_t pid)
{
    char path[64];
    FERRY_AUTOFREE char *st = NULL;
    size_t len;
    const char *rp;

    if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
        return false;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (ferry_file_read(path, 4096, &st, &len) < 0) {
        ferry_error_reset();
        return true;    /* no /proc: kill() said it exists */
    }
    /* "pid (comm) S ...": comm may hold spaces and parentheses. */
    rp = strrchr(st, ')');
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

pid_t
ferry_pidfile_read_program(const char *path, const char *prog)
{
    pid_t pid = ferry_pidfile_read_alive(path);
    char cmdpath[64];
    FERRY_AUTOFREE char *cmd = NULL;
    size_t len;

    if (!pid)
        return 0;
    snprintf(cmdpath, sizeof cmdpath, "/proc/%d/cmdline", (int)pid);
    if (ferry_file_read(cmdpath, 4096, &cmd, &len) < 0) {
        ferry_error_reset();
        return 0;
    }
    return strstr(cmd, prog) ? pid : 0;   /* argv[0]: the text up to its NUL */
}

/* ---- the supervisor ----------------------------------------------------- */

struct entry {
    char *key;
    struct ferry_child child;
};

struct ferry_supervisor {
    ferry_supervisor_exit_fn on_exit;
    void *opaque;
    struct entry **v; /* pointers, so ferry_supervisor_get() results stay valid */
    size_t n;
};

struct ferry_supervisor *
ferry_supervisor_new(ferry_supervisor_exit_fn on_exit, void *opaque)
{
    struct ferry_supervisor *s = ferry_calloc(1, sizeof *s);

    s->on_exit = on_exit;
    s->opaque = opaque;
    return s;
}

static void
entry_free(struct entry *e)
{
    ferry_child_close_fds(&e->child);
    free(e->key);
    free(e);
}

void
ferry_supervisor_free(struct ferry_supervisor *s)
{
    if (!s)
        return;
    for (size_t k = 0; k < s->n; k++)
        entry_free(s->v[k]);
    free(s->v);
    free(s);
}

static ssize_t
find(struct ferry_supervisor *s, const char *key)
{
    for (size_t k = 0; k < s->n; k++)
        if (strcmp(s->v[k]->key, key) == 0)
            return (ssize_t)k;
    return -1;
}

static void
remove_at(struct ferry_supervisor *s, size_t k)
{
    s->v[k] = s->v[--s->n];
}

int
ferry_supervisor_add(struct ferry_supervisor *s, const char *key, const struct ferry_child *c)
{
    struct entry *e;

    if (find(s, key) >= 0)
        return ferry_error(FERRY_ERR_EXISTS, "supervisor: a child for '%s' is already running", key);
    e = ferry_calloc(1, sizeof *e);
    e->key = ferry_strdup(key);
    e->child = *c; /* the supervisor owns the child's pipes from now on */
    s->v = ferry_realloc(s->v, (s->n + 1) * sizeof *s->v);
    s->v[s->n++] = e;
    return 0;
}

struct ferry_child *
ferry_supervisor_get(struct ferry_supervisor *s, const char *key)
{
    ssize_t k = find(s, key);

    return k < 0 ? NULL : &s->v[k]->child;
}

size_t
ferry_supervisor_count(struct ferry_supervisor *s)
{
    return s ? s->n : 0;
}

int
ferry_supervisor_reap(struct ferry_supervisor *s)
{
    struct entry **done = NULL;
    int *statuses = NULL;
    size_t nd = 0;

    /* Collect first, call back after: the callback may add or stop children. */
    for (size_t k = 0; k < s->n;) {
        int st = 0, r = try_reap(s->v[k]->child.pid, &st);

        if (r <= 0) {
            if (r < 0)
                ferry_error_reset();
            k++;
            continue;
        }
        /* r == 2: reaped by someone else; report it as gone with status 0 */
        done = ferry_realloc(done, (nd + 1) * sizeof *done);
        statuses = ferry_realloc(statuses, (nd + 1) * sizeof *statuses);
        done[nd] = s->v[k];
        statuses[nd++] = st;
        remove_at(s, k);
    }
    for (size_t k = 0; k < nd; k++) {
        if (s->on_exit)
            s->on_exit(done[k]->key, done[k]->child.pid, statuses[k], s->opaque);
        entry_free(done[k]);
    }
    free(done);
    free(statuses);
    return (int)nd;
}

/* A deliberate stop is not reported through on_exit: the caller knows. */
int
ferry_supervisor_stop(struct ferry_supervisor *s, const char *key, int grace_ms)
{
    ssize_t k = find(s, key);
    struct entry *e;
    int r;

    if (k < 0)
        return ferry_error(FERRY_ERR_NOTFOUND, "supervisor: no child for '%s'", key);
    e = s->v[k];
    remove_at(s, (size_t)k);
    r = ferry_child_stop(&e->child, grace_ms);
    entry_free(e);
    return r;
}

void
ferry_supervisor_stop_all(struct ferry_supervisor *s, int grace_ms)
{
    uint64_t deadline = ferry_now_ns() + (uint64_t)(grace_ms < 0 ? 0 : grace_ms) * 1000000u;

    for (size_t k = 0; k < s->n; k++)
        signal_child(s->v[k]->child.pid, SIGTERM);
    /* one grace period for all of them, not one each */
    while (s->n > 0) {
        for (size_t k = 0; k < s->n;) {
            if (try_reap(s->v[k]->child.pid, NULL) != 0) {
                ferry_error_reset();
                entry_free(s->v[k]);
                remove_at(s, k);
            } else {
                k++;
            }
        }
        if (s->n == 0 || ferry_now_ns() >= deadline)
            break;
        {
            struct timespec ts = { 0, 10 * 1000000L };

            nanosleep(&ts, NULL);
        }
    }
    while (s->n > 0) {
        struct entry *e = s->v[s->n - 1];

        signal_child(e->child.pid, SIGKILL);
        wait_pid(e->child.pid, -1, NULL);
        ferry_error_reset();
        entry_free(e);
        s->n--;
    }
}
