/* Child processes (common/spawn.c) with real children (/bin/sh -c ...):
 * pipes, environment, working directory, fd hygiene, exec failures, waits
 * with a timeout, TERM-then-KILL, process groups, pid files and the
 * supervisor.  No timed assertions: timeouts only bound how long a broken
 * implementation can hang. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/spawn.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testlib.h"

static char *
read_all(int fd)
{
    char *buf = NULL;

    assert_int_equal(ferry_fd_read(fd, "pipe", 0, &buf, NULL), 0);
    return buf;
}

/* Running, not a zombie waiting for a reaper (PID 1 here may not be init). */
#define alive ferry_pid_alive

static void
test_run_captures_output_and_status(void **state)
{
    char *argv[] = { "/bin/sh", "-c", "echo hello; echo to-stderr >&2; exit 3", NULL };
    FERRY_AUTOFREE char *out = NULL;
    FERRY_AUTOFREE char *desc = NULL;
    int status;

    assert_int_equal(ferry_run(argv, &out, &status), 0);
    assert_string_equal(out, "hello\n");
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    desc = ferry_wait_status_string(status);
    assert_string_equal(desc, "exited with status 3");

    char *quiet[] = { "true", NULL }; /* found through PATH */
    assert_int_equal(ferry_run(quiet, NULL, &status), 0);
    assert_int_equal(status, 0);
}

static void
test_exec_failure_is_reported(void **state)
{
    char *argv[] = { "/nonexistent/ferry-no-such-program", "x", NULL };
    struct ferry_child c;

    assert_int_equal(ferry_spawn(argv, NULL, &c), -1);
    assert_string_equal(ferry_error_message(),
                        "cannot run '/nonexistent/ferry-no-such-program': No such file or directory");

    char *sh[] = { "/bin/sh", "-c", "true", NULL };
    struct ferry_spawn_opts o = { .cwd = "/nonexistent-dir" };
    assert_int_equal(ferry_spawn(sh, &o, &c), -1);
    assert_non_null(strstr(ferry_error_message(), "/nonexistent-dir"));

    struct ferry_spawn_opts f = { .stdout_file = "/nonexistent-dir/log" };
    assert_int_equal(ferry_spawn(sh, &f, &c), -1);
    assert_non_null(strstr(ferry_error_message(), "cannot open '/nonexistent-dir/log'"));
    char *empty[] = { NULL };
    assert_int_equal(ferry_spawn(empty, NULL, &c), -1);
}

static void
test_pipes_env_cwd(void **state)
{
    char *env[] = { "FERRY_TEST_A=alpha", "HOME=/replaced", NULL };
    char *argv[] = { "/bin/sh", "-c",
                     "read line; echo \"got $line $FERRY_TEST_A $HOME $(pwd)\"; echo err >&2", NULL };
    struct ferry_spawn_opts o = { .env = env, .cwd = "/tmp", .pipe_stdin = true,
                                  .pipe_stdout = true, .pipe_stderr = true };
    struct ferry_child c;
    FERRY_AUTOFREE char *out = NULL;
    FERRY_AUTOFREE char *err = NULL;
    int status;

    setenv("FERRY_TEST_INHERITED", "yes", 1);
    assert_int_equal(ferry_spawn(argv, &o, &c), 0);
    assert_true(c.pid > 0);
    assert_true(c.stdin_fd >= 0 && c.stdout_fd >= 0 && c.stderr_fd >= 0);
    assert_int_equal(write(c.stdin_fd, "ping\n", 5), 5);
    close(c.stdin_fd);
    c.stdin_fd = -1;
    out = read_all(c.stdout_fd);
    err = read_all(c.stderr_fd);
    assert_int_equal(ferry_child_wait(&c, -1, &status), 0);
    ferry_child_close_fds(&c);
    assert_string_equal(out, "got ping alpha /replaced /tmp\n");
    assert_string_equal(err, "err\n");
    assert_int_equal(status, 0);

    /* added variables do not hide the inherited ones */
    char *show[] = { "/bin/sh", "-c", "echo $FERRY_TEST_INHERITED", NULL };
    FERRY_AUTOFREE char *inh = NULL;
    assert_int_equal(ferry_run(show, &inh, &status), 0);
    assert_string_equal(inh, "yes\n");
}

/* The child sees only 0, 1 and 2, even when we hold fds without CLOEXEC. */
static void
test_no_fd_leaks(void **state)
{
    int leaky = open("/dev/null", O_RDONLY); /* deliberately inheritable */
    char *argv[] = { "/bin/sh", "-c", "ls /proc/self/fd", NULL };
    FERRY_AUTOFREE char *out = NULL;
    int status, n = 0;

    assert_true(leaky >= 0);
    assert_int_equal(ferry_run(argv, &out, &status), 0);
    close(leaky);
    /* ls lists 0 1 2 and its own directory fd */
    for (char *p = strtok(out, "\n"); p; p = strtok(NULL, "\n"))
        n++;
    assert_int_equal(n, 4);
}

static void
test_output_file(void **state)
{
    char dir[] = "/tmp/ferry-test-spawn-XXXXXX";
    struct ferry_child c;
    int status;

    assert_non_null(mkdtemp(dir));
    FERRY_AUTOFREE char *log = ferry_printf("%s/job.log", dir);
    char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2", NULL };
    struct ferry_spawn_opts o = { .stdout_file = log };

    for (int k = 0; k < 2; k++) { /* appended, not truncated */
        assert_int_equal(ferry_spawn(argv, &o, &c), 0);
        assert_int_equal(ferry_child_wait(&c, -1, &status), 0);
    }
    FERRY_AUTOFREE char *buf = NULL;
    size_t len;
    assert_int_equal(ferry_file_read(log, 0, &buf, &len), 0);
    assert_string_equal(buf, "out\nerr\nout\nerr\n");
    assert_int_equal(ferry_rm_rf(dir), 0);
}

static void
test_wait_timeout_and_stop(void **state)
{
    char *argv[] = { "/bin/sh", "-c", "exec sleep 30", NULL };
    struct ferry_child c;
    int status;

    assert_int_equal(ferry_spawn(argv, NULL, &c), 0);
    assert_int_equal(ferry_child_wait(&c, 50, &status), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_TIMEOUT);
    assert_true(alive(c.pid));
    assert_int_equal(ferry_child_stop(&c, 5000), 0);
    assert_false(alive(c.pid));
}

/* A child that ignores TERM gets KILL after the grace period. */
static void
test_stop_escalates_to_kill(void **state)
{
    /* a busy loop, not "sleep": no grandchild may outlive the test holding our stdout */
    char *argv[] = { "/bin/sh", "-c", "trap '' TERM; echo ready; while :; do :; done", NULL };
    struct ferry_spawn_opts o = { .pipe_stdout = true };
    struct ferry_child c;
    char buf[16];

    assert_int_equal(ferry_spawn(argv, &o, &c), 0);
    assert_true(read(c.stdout_fd, buf, sizeof buf) > 0); /* the trap is set */
    assert_int_equal(ferry_child_stop(&c, 100), 0);
    assert_false(alive(c.pid));
    assert_int_equal(c.stdout_fd, -1); /* stop closes the pipes */
}

/* A session leader is stopped with its whole process group. */
static void
test_stop_session_kills_group(void **state)
{
    char *argv[] = { "/bin/sh", "-c", "sleep 300 & echo $!; wait", NULL };
    struct ferry_spawn_opts o = { .pipe_stdout = true, .new_session = true };
    struct ferry_child c;
    char buf[32] = "";
    pid_t grandchild;

    assert_int_equal(ferry_spawn(argv, &o, &c), 0);
    assert_true(read(c.stdout_fd, buf, sizeof buf - 1) > 0);
    grandchild = (pid_t)atoi(buf);
    assert_true(grandchild > 0);
    assert_int_equal(getsid(c.pid), c.pid);
    assert_int_equal(ferry_child_stop(&c, 5000), 0);
    /* the grandchild is not ours to reap: wait until init has it */
    for (int k = 0; k < 500 && alive(grandchild); k++)
        usleep(10000);
    assert_false(alive(grandchild));
}

static void
test_status_strings(void **state)
{
    char *argv[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
    FERRY_AUTOFREE char *s = NULL;
    int status;

    assert_int_equal(ferry_run(argv, NULL, &status), 0);
    assert_true(WIFSIGNALED(status));
    s = ferry_wait_status_string(status);
    assert_string_equal(s, "killed by signal 9 (Killed)");
}

static void
test_pidfile(void **state)
{
    char dir[] = "/tmp/ferry-test-pidfile-XXXXXX";
    char *argv[] = { "/bin/sh", "-c", "exit 0", NULL };
    struct ferry_child c;

    assert_non_null(mkdtemp(dir));
    FERRY_AUTOFREE char *path = ferry_printf("%s/x.pid", dir);
    assert_int_equal(ferry_pidfile_read_alive(path), 0); /* absent */
    assert_int_equal(ferry_pidfile_write(path, getpid()), 0);
    assert_int_equal(ferry_pidfile_read_alive(path), getpid());

    /* a dead process */
    assert_int_equal(ferry_spawn(argv, NULL, &c), 0);
    assert_int_equal(ferry_child_wait(&c, -1, NULL), 0);
    assert_int_equal(ferry_pidfile_write(path, c.pid), 0);
    assert_int_equal(ferry_pidfile_read_alive(path), 0);

    /* a zombie: ended, not reaped yet (waitid WNOWAIT leaves it so) */
    assert_int_equal(ferry_spawn(argv, NULL, &c), 0);
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)c.pid, &si, WEXITED | WNOWAIT), 0);
    assert_int_equal(ferry_pidfile_write(path, c.pid), 0);
    assert_false(ferry_pid_alive(c.pid));
    assert_int_equal(ferry_pidfile_read_alive(path), 0);
    assert_int_equal(ferry_child_wait(&c, -1, NULL), 0);

    /* the program named in the pid file's process (ferry up's daemons) */
    assert_int_equal(ferry_pidfile_write(path, getpid()), 0);
    assert_int_equal(ferry_pidfile_read_program(path, "test-spawn"), getpid());
    assert_int_equal(ferry_pidfile_read_program(path, "ferry-controller"), 0);

    /* garbage */
    assert_int_equal(ferry_file_write_atomic(path, "12ab\n", 5, 0644), 0);
    assert_int_equal(ferry_pidfile_read_alive(path), 0);
    assert_int_equal(ferry_rm_rf(dir), 0);
}

struct exits {
    int n;
    char keys[8][32];
    int status[8];
};

static void
on_exit_cb(const char *key, pid_t pid, int status, void *opaque)
{
    struct exits *e = opaque;

    assert_true(pid > 0);
    snprintf(e->keys[e->n], sizeof e->keys[e->n], "%s", key);
    e->status[e->n++] = status;
}

static void
test_supervisor(void **state)
{
    struct exits ex = { 0 };
    struct ferry_supervisor *s = ferry_supervisor_new(on_exit_cb, &ex);
    char *quick[] = { "/bin/sh", "-c", "exit 7", NULL };
    char *slow[] = { "/bin/sh", "-c", "exec sleep 300", NULL };
    struct ferry_child c;

    assert_int_equal(ferry_spawn(quick, NULL, &c), 0);
    assert_int_equal(ferry_supervisor_add(s, "import/default/dv1", &c), 0);
    assert_int_equal(ferry_supervisor_add(s, "import/default/dv1", &c), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_EXISTS);
    assert_int_equal(ferry_spawn(slow, NULL, &c), 0);
    assert_int_equal(ferry_supervisor_add(s, "launcher/vm1", &c), 0);
    assert_int_equal(ferry_spawn(slow, NULL, &c), 0);
    assert_int_equal(ferry_supervisor_add(s, "launcher/vm2", &c), 0);
    assert_int_equal(ferry_supervisor_count(s), 3);
    assert_non_null(ferry_supervisor_get(s, "launcher/vm1"));
    assert_null(ferry_supervisor_get(s, "nope"));

    /* reap until the quick one is reported (no sleeps asserted) */
    for (int k = 0; k < 1000 && ex.n == 0; k++) {
        if (ferry_supervisor_reap(s) == 0)
            usleep(5000);
    }
    assert_int_equal(ex.n, 1);
    assert_string_equal(ex.keys[0], "import/default/dv1");
    assert_true(WIFEXITED(ex.status[0]) && WEXITSTATUS(ex.status[0]) == 7);
    assert_int_equal(ferry_supervisor_count(s), 2);

    /* a deliberate stop is not reported through on_exit */
    pid_t vm1 = ferry_supervisor_get(s, "launcher/vm1")->pid;
    assert_int_equal(ferry_supervisor_stop(s, "launcher/vm1", 5000), 0);
    assert_false(alive(vm1));
    assert_int_equal(ferry_supervisor_stop(s, "launcher/vm1", 5000), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
    assert_int_equal(ferry_supervisor_count(s), 1);

    pid_t vm2 = ferry_supervisor_get(s, "launcher/vm2")->pid;
    ferry_supervisor_stop_all(s, 5000);
    assert_false(alive(vm2));
    assert_int_equal(ferry_supervisor_count(s), 0);
    assert_int_equal(ex.n, 1);
    ferry_supervisor_free(s);
    ferry_supervisor_free(NULL);
}

/* Extra fds land where asked, also when a source sits on another's target
 * (the controller passes its lock as fd 3, which may be a pipe here). */
static void
test_extra_fds(void **state)
{
    int a[2], b[2];
    struct ferry_child c;
    int status;

    assert_int_equal(pipe2(a, O_CLOEXEC), 0);
    assert_int_equal(pipe2(b, O_CLOEXEC), 0);
    /* swap-like mapping: a's write end to 4, b's to 3, whatever they are now */
    struct ferry_spawn_fd fds[] = { { a[1], 4 }, { b[1], 3 } };
    struct ferry_spawn_opts o = { .fds = fds, .n_fds = 2 };
    char *argv[] = { "/bin/sh", "-c", "echo four >&4; echo three >&3; ls /proc/self/fd | wc -l",
                     NULL };
    o.pipe_stdout = true;
    assert_int_equal(ferry_spawn(argv, &o, &c), 0);
    close(a[1]);
    close(b[1]);
    FERRY_AUTOFREE char *fa = read_all(a[0]);
    FERRY_AUTOFREE char *fb = read_all(b[0]);
    FERRY_AUTOFREE char *n = read_all(c.stdout_fd);
    assert_string_equal(fa, "four\n");
    assert_string_equal(fb, "three\n");
    /* 0, 1, 2, 3, 4 and ls's own directory fd */
    assert_string_equal(n, "6\n");
    assert_int_equal(ferry_child_wait(&c, -1, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ferry_child_close_fds(&c);
    close(a[0]);
    close(b[0]);

    /* refusals */
    struct ferry_spawn_fd bad[] = { { 0, 2 } };
    struct ferry_spawn_opts ob = { .fds = bad, .n_fds = 1 };
    assert_int_equal(ferry_spawn(argv, &ob, &c), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    struct ferry_spawn_fd twice[] = { { 0, 5 }, { 1, 5 } };
    struct ferry_spawn_opts ot = { .fds = twice, .n_fds = 2 };
    assert_int_equal(ferry_spawn(argv, &ot, &c), -1);
    assert_int_equal(ferry_error_code(), FERRY_ERR_INVALID);
    ferry_error_reset();
}

/* log_fd takes stdout and stderr, or only stderr when stdout is piped;
 * stdin_null gives an immediate end of input. */
static void
test_log_fd_and_stdin_null(void **state)
{
    char path[] = "/tmp/test-spawn-logXXXXXX";
    int fd = mkstemp(path);
    struct ferry_child c;
    int status;

    assert_true(fd > 2);
    struct ferry_spawn_opts o = { .log_fd = fd, .stdin_null = true };
    char *argv[] = { "/bin/sh", "-c", "cat; echo out; echo err >&2", NULL };
    assert_int_equal(ferry_spawn(argv, &o, &c), 0);
    assert_int_equal(ferry_child_wait(&c, 60000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    struct ferry_spawn_opts p = { .log_fd = fd, .stdin_null = true, .pipe_stdout = true };
    char *argv2[] = { "/bin/sh", "-c", "echo piped; echo err2 >&2", NULL };
    assert_int_equal(ferry_spawn(argv2, &p, &c), 0);
    FERRY_AUTOFREE char *got = read_all(c.stdout_fd);
    assert_string_equal(got, "piped\n");
    assert_int_equal(ferry_child_wait(&c, 60000, &status), 0);
    ferry_child_close_fds(&c);
    /* the caller's fd stays open */
    assert_true(fcntl(fd, F_GETFD) >= 0);
    close(fd);

    FERRY_AUTOFREE char *text = NULL;
    size_t len;
    assert_int_equal(ferry_file_read(path, 4096, &text, &len), 0);
    assert_string_equal(text, "out\nerr\nerr2\n");
    unlink(path);
}

/* A new process group, not a new session; ferry_child_stop takes the group. */
static void
test_process_group(void **state)
{
    struct ferry_child c;
    struct ferry_spawn_opts o = { .new_process_group = true, .pipe_stdout = true };
    char *argv[] = { "/bin/sh", "-c", "sleep 1000 & echo $!; wait", NULL };

    (void)state;
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    assert_int_equal(ferry_spawn(argv, &o, &c), 0);
    assert_int_equal(getpgid(c.pid), c.pid);
    assert_int_equal(getsid(c.pid), getsid(0));
    FILE *f = fdopen(dup(c.stdout_fd), "r");
    int grandchild = 0;
    assert_int_equal(fscanf(f, "%d", &grandchild), 1);
    fclose(f);
    assert_int_equal(getpgid(grandchild), c.pid);
    assert_int_equal(ferry_child_stop(&c, 5000), 0);
    /* as the subreaper we get the orphan and see the group's signal */
    int status;
    assert_int_equal(waitpid(grandchild, &status, 0), grandchild);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/* The death signal: a child whose parent dies is killed.  We are the
 * subreaper, so the orphan comes to us and we read how it ended. */
static void
test_death_signal(void **state)
{
    int p[2];
    pid_t mid, orphan = 0;
    int status;

    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    assert_int_equal(pipe(p), 0);
    mid = fork();
    assert_true(mid >= 0);
    if (mid == 0) {
        struct ferry_child c;
        struct ferry_spawn_opts o = { .death_signal = SIGKILL };
        char *argv[] = { "sleep", "1000", NULL };

        close(p[0]);
        if (ferry_spawn(argv, &o, &c) < 0)
            _exit(1);
        if (write(p[1], &c.pid, sizeof c.pid) != sizeof c.pid)
            _exit(2);
        _exit(0); /* without stopping the child */
    }
    close(p[1]);
    assert_int_equal(read(p[0], &orphan, sizeof orphan), (ssize_t)sizeof orphan);
    close(p[0]);
    assert_int_equal(waitpid(mid, &status, 0), mid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(waitpid(orphan, &status, 0), orphan);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

struct call_arg {
    int fd;
    const char *word;
};

static int
call_child(void *opaque)
{
    struct call_arg *a = opaque;
    const char *env = getenv("SPAWN_CALL_TEST");
    char buf[128];
    struct sigaction usr1;
    int n;

    sigaction(SIGUSR1, NULL, &usr1);
    n = snprintf(buf, sizeof buf, "%s %s %d %s\n", a->word, env ? env : "-", getpgid(0) == getpid(),
                 usr1.sa_handler == SIG_IGN ? "ign" : "dfl");

    if (write(a->fd, buf, (size_t)n) != n)
        return 1;
    if (write(STDOUT_FILENO, "stdout\n", 7) != 7)
        return 1;
    return 42;
}

/* ferry_spawn_call: a function in a forked child, with the same options. */
static void
test_spawn_call(void **state)
{
    int p[2];
    struct ferry_child c;
    int status;
    char *env[] = { "SPAWN_CALL_TEST=yes", NULL };

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct call_arg a = { .fd = 5, .word = "hello" };
    struct ferry_spawn_fd fds[] = { { p[1], 5 } };
    struct ferry_spawn_opts o = { .fds = fds, .n_fds = 1, .env = env, .new_process_group = true,
                                  .pipe_stdout = true, .stdin_null = true };

    /* a copy of us: our signal dispositions stay (an exec'd child gets defaults) */
    signal(SIGUSR1, SIG_IGN);
    assert_int_equal(ferry_spawn_call(call_child, &a, &o, &c), 0);
    signal(SIGUSR1, SIG_DFL);
    close(p[1]);
    FERRY_AUTOFREE char *got = read_all(p[0]);
    FERRY_AUTOFREE char *out = read_all(c.stdout_fd);
    assert_string_equal(got, "hello yes 1 ign\n");
    assert_string_equal(out, "stdout\n");
    assert_null(getenv("SPAWN_CALL_TEST"));
    assert_int_equal(ferry_child_wait(&c, -1, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 42);
    ferry_child_close_fds(&c);
    close(p[0]);
}

TEST_MAIN(NULL, NULL,
          cmocka_unit_test(test_run_captures_output_and_status),
          cmocka_unit_test(test_exec_failure_is_reported),
          cmocka_unit_test(test_pipes_env_cwd),
          cmocka_unit_test(test_no_fd_leaks),
          cmocka_unit_test(test_output_file),
          cmocka_unit_test(test_wait_timeout_and_stop),
          cmocka_unit_test(test_stop_escalates_to_kill),
          cmocka_unit_test(test_stop_session_kills_group),
          cmocka_unit_test(test_status_strings),
          cmocka_unit_test(test_pidfile),
          cmocka_unit_test(test_supervisor),
          cmocka_unit_test(test_extra_fds),
          cmocka_unit_test(test_log_fd_and_stdin_null),
          cmocka_unit_test(test_process_group),
          cmocka_unit_test(test_death_signal),
          cmocka_unit_test(test_spawn_call))
