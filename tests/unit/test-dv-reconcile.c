/* The DataVolume reconciler (controller/datavolume.c) with a fake importer
 * in place of ferry-importer (struct ferry_import_ops): the real store in a
 * temporary directory, the real reconciler, the real volume directory and
 * lock; only the child process is played by the test, which writes its
 * progress lines, its log and disk.img and decides how it ends.
 *
 * Covered: ImportScheduled -> ImportInProgress -> Succeeded with the
 * importer's arguments and the volume lock held by the job, the import
 * slots, a failure retried within the budget and then Failed with the log's
 * last line, a job that cannot start, and a DataVolume deleted while its
 * import runs.  Two cases use the real table (ferry_import_ops_spawn) with a
 * shell script, and with a missing program, as ferry-importer.  No timed
 * assertions: the 1 ms back-off is waited out by polling the reconciler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testlib.h"
#include "testlib-controller.h"

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/util.h"
#include "common/volume.h"
#include "controller/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the fake importer ---- */

#define FAKE_MAX 8

struct fake_job {
    pid_t pid;
    char *dest;
    char *args;      /* argv joined by spaces */
    int out_w;       /* our end of its progress pipe */
    int log_fd;      /* its stderr */
    int lock_fd;     /* its fd 3 */
    bool ended, cancelled;
    int status;
};

struct fake {
    struct fake_job jobs[FAKE_MAX];
    int n;
    bool refuse_start;
};

static int
fake_start(void *opaque, char *const argv[], int lock_fd, int log_fd, pid_t *ret_pid,
           int *ret_out_fd)
{
    struct fake *f = opaque;
    struct fake_job *j;
    int p[2];

    if (f->refuse_start)
        return ferry_error(FERRY_ERR_IO, "cannot run '%s': refused by the test", argv[0]);
    assert_true(f->n < FAKE_MAX);
    j = &f->jobs[f->n];
    memset(j, 0, sizeof *j);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    j->out_w = p[1];
    /* the child's copies: it holds the lock and the log while it runs */
    j->lock_fd = fcntl(lock_fd, F_DUPFD_CLOEXEC, 3);
    j->log_fd = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
    assert_true(j->lock_fd >= 0 && j->log_fd >= 0);
    j->args = ferry_strdup("");
    for (size_t i = 0; argv[i]; i++) {
        char *a = ferry_printf("%s%s%s", j->args, i ? " " : "", argv[i]);

        free(j->args);
        j->args = a;
        if (strcmp(argv[i], "--dest") == 0 && argv[i + 1])
            j->dest = ferry_strdup(argv[i + 1]);
    }
    j->pid = 1000 + f->n++;
    *ret_pid = j->pid;
    *ret_out_fd = p[0];
    return 0;
}

static struct fake_job *
fake_find(struct fake *f, pid_t pid)
{
    for (int i = 0; i < f->n; i++)
        if (f->jobs[i].pid == pid)
            return &f->jobs[i];
    fail_msg("no fake job %d", (int)pid);
    return NULL;
}

static int
fake_poll(void *opaque, pid_t pid, int *ret_status)
{
    struct fake_job *j = fake_find(opaque, pid);

    if (!j->ended)
        return 0;
    *ret_status = j->status;
    return 1;
}

static void
fake_close(struct fake_job *j)
{
    if (j->out_w >= 0)
        close(j->out_w);
    if (j->lock_fd >= 0)
        close(j->lock_fd);
    if (j->log_fd >= 0)
        close(j->log_fd);
    j->out_w = j->lock_fd = j->log_fd = -1;
}

static void
fake_cancel(void *opaque, pid_t pid)
{
    struct fake_job *j = fake_find(opaque, pid);

    assert_false(j->ended);
    j->cancelled = j->ended = true;
    j->status = 9; /* as killed by SIGKILL */
    fake_close(j);
}

static const struct ferry_import_ops fake_ops = {
    .start = fake_start,
    .poll = fake_poll,
    .cancel = fake_cancel,
};

static void
fake_say(struct fake_job *j, const char *line)
{
    size_t n = strlen(line);

    assert_int_equal(write(j->out_w, line, n), (ssize_t)n);
    assert_int_equal(write(j->out_w, "\n", 1), 1);
}

/* End the job: optionally write disk.img and a log line, then exit. */
static void
fake_exit(struct fake_job *j, int code, bool write_disk, const char *log_line)
{
    if (write_disk)
        assert_int_equal(ferry_file_write_atomic(j->dest, "disk", 4, 0644), 0);
    if (log_line)
        assert_true(dprintf(j->log_fd, "%s\n", log_line) > 0);
    j->ended = true;
    j->status = code << 8; /* as WEXITSTATUS */
    fake_close(j);
}

/* ---- fixture ---- */

struct fixture {
    char *dir;
    struct fake fake;
    struct ferry_controller *c;
};

static int
setup_with(void **state, int max_imports, int retries)
{
    struct fixture *fx = ferry_calloc(1, sizeof *fx);
    struct ferry_controller_opts o;

    ferry_controller_opts_init(&o);
    o.importer = "/nonexistent/ferry-importer"; /* never run: the fake plays it */
    o.max_imports = max_imports;
    o.import_retries = retries;
    o.import_backoff_ms = 1;
    o.import_backoff_max_ms = 1;
    if (test_controller_new("dv-reconcile", &o, &fx->dir, &fx->c) < 0)
        return -1;
    fx->c->import_ops = &fake_ops;
    fx->c->import_opaque = &fx->fake;
    *state = fx;
    return 0;
}

static int
setup(void **state)
{
    return setup_with(state, 2, 5);
}

static int
setup_one_slot(void **state)
{
    return setup_with(state, 1, 5);
}

static int
setup_two_tries(void **state)
{
    return setup_with(state, 2, 2);
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    ferry_controller_free(fx->c); /* cancels what still runs (through the fake) */
    for (int i = 0; i < fx->fake.n; i++) {
        fake_close(&fx->fake.jobs[i]);
        free(fx->fake.jobs[i].dest);
        free(fx->fake.jobs[i].args);
    }
    ferry_rm_rf(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

static void
create_dv(struct fixture *fx, const char *name, const char *url)
{
    FERRY_AUTOFREE char *text = ferry_printf(
        "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
        "\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\"},"
        "\"spec\":{\"source\":{\"http\":{\"url\":\"%s\"}},"
        "\"storage\":{\"resources\":{\"requests\":{\"storage\":\"1Mi\"}}}}}",
        name, url);
    FERRY_AUTOPTR(json_object) o = test_json(text);

    if (ferry_store_create(fx->c->st, o, NULL) < 0)
        fail_msg("create %s: %s", name, ferry_error_message());
}

static void
reconcile(struct fixture *fx, const char *name)
{
    if (ferry_dv_reconcile(fx->c, "default", name) < 0)
        fail_msg("reconcile %s: %s", name, ferry_error_message());
}

/* The stored DV (NULL when gone). */
static json_object *
get_dv(struct fixture *fx, const char *name)
{
    json_object *o = NULL;

    if (ferry_store_get(fx->c->st, ferry_resource_dv, "default", name, &o) < 0) {
        assert_int_equal(ferry_error_code(), FERRY_ERR_NOTFOUND);
        ferry_error_reset();
        return NULL;
    }
    return o;
}

static char *
phase(struct fixture *fx, const char *name)
{
    FERRY_AUTOPTR(json_object) o = get_dv(fx, name);

    assert_non_null(o);
    return ferry_strdup(ferry_json_get_string(o, "status.phase"));
}

/* "reason|message" of a status condition. */
static char *
condition(struct fixture *fx, const char *name, const char *type)
{
    FERRY_AUTOPTR(json_object) o = get_dv(fx, name);
    json_object *conds = ferry_json_get(o, "status.conditions");

    for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
        json_object *c = json_object_array_get_idx(conds, i);

        if (ferry_str_eq(ferry_json_get_string(c, "type"), type))
            return ferry_printf("%s|%s", ferry_json_get_string(c, "reason") ?: "",
                                ferry_json_get_string(c, "message") ?: "");
    }
    return NULL;
}

static bool
volume_locked(struct fixture *fx, const char *name)
{
    bool busy = false;
    int fd = ferry_volume_lock(fx->dir, "default", name, &busy);

    if (fd >= 0) {
        close(fd);
        return false;
    }
    ferry_error_reset();
    return busy;
}

/* The DV most tests use, dv1 (its URL answers nothing), created and
 * reconciled once: its first attempt is started. */
static void
start_dv1(struct fixture *fx)
{
    create_dv(fx, "dv1", "http://127.0.0.1:9/disk.img");
    reconcile(fx, "dv1");
}

/* DV1 reconciled after an attempt failed: not Succeeded, RESTARTS attempts
 * counted.  Its Running condition ("reason|message"). */
static char *
reconcile_failed(struct fixture *fx, int restarts)
{
    FERRY_AUTOPTR(json_object) o = NULL;

    reconcile(fx, "dv1");
    o = get_dv(fx, "dv1");
    assert_non_null(o);
    assert_false(ferry_str_eq(ferry_json_get_string(o, "status.phase"), "Succeeded"));
    assert_int_equal(ferry_json_get_int(o, "status.restartCount", -1), restarts);
    return condition(fx, "dv1", "Running");
}

/* ---- tests ---- */

static void
test_import_succeeds(void **state)
{
    struct fixture *fx = *state;
    FERRY_AUTOFREE char *p1 = NULL, *p2 = NULL, *p3 = NULL, *want_dest = NULL;
    FERRY_AUTOPTR(json_object) done = NULL;

    start_dv1(fx);
    assert_int_equal(fx->fake.n, 1);
    p1 = phase(fx, "dv1");
    assert_string_equal(p1, "ImportScheduled");
    /* the job got the url, the volume's disk.img and the size in bytes */
    want_dest = ferry_volume_file(fx->dir, "default", "dv1", FERRY_VOLUME_DISK);
    assert_string_equal(fx->fake.jobs[0].dest, want_dest);
    assert_non_null(strstr(fx->fake.jobs[0].args,
                           "--url http://127.0.0.1:9/disk.img --dest "));
    assert_non_null(strstr(fx->fake.jobs[0].args, "--size 1048576"));
    assert_non_null(strstr(fx->fake.jobs[0].args, "--progress json"));
    /* the job holds the volume lock, the controller does not */
    assert_true(volume_locked(fx, "dv1"));
    /* reconciling again while it runs starts nothing new */
    reconcile(fx, "dv1");
    assert_int_equal(fx->fake.n, 1);

    fake_say(&fx->fake.jobs[0], "{\"phase\":\"copy\",\"bytes_done\":50,\"bytes_total\":200}");
    ferry_dv_poll_jobs(fx->c);
    reconcile(fx, "dv1");
    p2 = phase(fx, "dv1");
    assert_string_equal(p2, "ImportInProgress");
    {
        FERRY_AUTOPTR(json_object) o = get_dv(fx, "dv1");

        assert_string_equal(ferry_json_get_string(o, "status.progress"), "25.00%");
    }

    fake_say(&fx->fake.jobs[0], "{\"phase\":\"done\"}");
    fake_exit(&fx->fake.jobs[0], 0, true, NULL);
    ferry_dv_reap_jobs(fx->c);
    reconcile(fx, "dv1");
    p3 = phase(fx, "dv1");
    assert_string_equal(p3, "Succeeded");
    done = get_dv(fx, "dv1");
    assert_string_equal(ferry_json_get_string(done, "status.progress"), "100.0%");
    assert_true(ferry_volume_is_done(fx->dir, "default", "dv1", ferry_obj_uid(done)));
    assert_false(volume_locked(fx, "dv1"));
    assert_int_equal(fx->c->running_imports, 0);
    /* a finished DV is left alone */
    reconcile(fx, "dv1");
    assert_int_equal(fx->fake.n, 1);
}

/* An exit 0 without disk.img is no success. */
static void
test_exit_zero_without_disk_fails(void **state)
{
    struct fixture *fx = *state;
    FERRY_AUTOFREE char *cond = NULL;

    start_dv1(fx);
    fake_exit(&fx->fake.jobs[0], 0, false, NULL);
    ferry_dv_reap_jobs(fx->c);
    cond = reconcile_failed(fx, 1);
    assert_non_null(cond);
    assert_non_null(strstr(cond, "CrashLoopBackOff|ferry-importer exited with status 0"));
}

/* max_imports: the second DV waits for a slot, then gets it. */
static void
test_import_slots(void **state)
{
    struct fixture *fx = *state;
    FERRY_AUTOFREE char *p = NULL, *cond = NULL, *p2 = NULL;

    create_dv(fx, "dv1", "http://127.0.0.1:9/a.img");
    create_dv(fx, "dv2", "http://127.0.0.1:9/b.img");
    reconcile(fx, "dv1");
    reconcile(fx, "dv2");
    assert_int_equal(fx->fake.n, 1);
    p = phase(fx, "dv2");
    assert_string_equal(p, "ImportScheduled");
    cond = condition(fx, "dv2", "Running");
    assert_string_equal(cond, "Pending|Waiting for a free import slot");

    fake_exit(&fx->fake.jobs[0], 0, true, NULL);
    ferry_dv_reap_jobs(fx->c);
    reconcile(fx, "dv1");
    reconcile(fx, "dv2");
    assert_int_equal(fx->fake.n, 2);
    assert_non_null(strstr(fx->fake.jobs[1].args, "b.img"));
    p2 = phase(fx, "dv1");
    assert_string_equal(p2, "Succeeded");
}

/* Reconcile until the fake has `want` jobs (the 1 ms back-off passes). */
static void
reconcile_until_started(struct fixture *fx, const char *name, int want)
{
    for (int i = 0; i < 5000 && fx->fake.n < want; i++) {
        reconcile(fx, name);
        if (fx->fake.n < want)
            usleep(1000);
    }
    assert_int_equal(fx->fake.n, want);
}

/* A failure is retried after the back-off; the budget's last failure makes
 * the DV Failed with the importer's last log line, and nothing restarts. */
static void
test_failure_and_retry_budget(void **state)
{
    struct fixture *fx = *state;
    FERRY_AUTOFREE char *cond = NULL, *ready = NULL, *p = NULL;
    FERRY_AUTOPTR(json_object) f = NULL;

    start_dv1(fx);
    fake_say(&fx->fake.jobs[0], "{\"phase\":\"copy\",\"bytes_done\":1,\"bytes_total\":2}");
    fake_exit(&fx->fake.jobs[0], 1, false,
              "{\"level\":\"error\",\"msg\":\"http://127.0.0.1:9/disk.img: connection refused\"}");
    ferry_dv_reap_jobs(fx->c);
    cond = reconcile_failed(fx, 1);
    assert_string_equal(cond, "CrashLoopBackOff|http://127.0.0.1:9/disk.img: connection refused; "
                              "back-off 0s restarting the import");
    assert_false(volume_locked(fx, "dv1"));

    reconcile_until_started(fx, "dv1", 2);
    assert_true(volume_locked(fx, "dv1"));
    fake_exit(&fx->fake.jobs[1], 3, false, "still refused");
    ferry_dv_reap_jobs(fx->c);
    reconcile(fx, "dv1");
    p = phase(fx, "dv1");
    assert_string_equal(p, "Failed");
    f = get_dv(fx, "dv1");
    assert_int_equal(ferry_json_get_int(f, "status.restartCount", -1), 2);
    ready = condition(fx, "dv1", "Ready");
    assert_string_equal(ready, "ImportFailed|Import failed after 2 attempts: still refused");

    /* Failed is final: no third attempt however often we look */
    for (int i = 0; i < 20; i++) {
        reconcile(fx, "dv1");
        usleep(1000);
    }
    assert_int_equal(fx->fake.n, 2);
    assert_int_equal(fx->c->running_imports, 0);
}

/* A job that cannot start counts as an attempt that exited 127, with the
 * reason in import.log, as a child that could not exec did before. */
static void
test_start_failure(void **state)
{
    struct fixture *fx = *state;
    FERRY_AUTOFREE char *cond = NULL;

    create_dv(fx, "dv1", "http://127.0.0.1:9/disk.img");
    fx->fake.refuse_start = true;
    reconcile(fx, "dv1");
    assert_int_equal(fx->c->running_imports, 0);
    assert_false(volume_locked(fx, "dv1"));
    cond = reconcile_failed(fx, 1);
    assert_string_equal(cond, "CrashLoopBackOff|cannot run '/nonexistent/ferry-importer': "
                              "refused by the test; back-off 0s restarting the import");
    fx->fake.refuse_start = false;
    reconcile_until_started(fx, "dv1", 1);
    assert_true(volume_locked(fx, "dv1"));
}

/* Deleting the DV while it imports cancels the job, removes the volume and
 * then the finalizer, so the DV is gone. */
static void
test_delete_while_importing(void **state)
{
    struct fixture *fx = *state;
    FERRY_AUTOFREE char *dir = NULL;
    FERRY_AUTOPTR(json_object) marked = NULL;
    FERRY_AUTOPTR(json_object) gone = NULL;
    struct stat sb;

    start_dv1(fx);
    fake_say(&fx->fake.jobs[0], "{\"phase\":\"copy\",\"bytes_done\":1,\"bytes_total\":4}");
    ferry_dv_poll_jobs(fx->c);
    reconcile(fx, "dv1");
    dir = ferry_volume_dir(fx->dir, "default", "dv1");
    assert_int_equal(stat(dir, &sb), 0);

    assert_int_equal(ferry_store_delete(fx->c->st, ferry_resource_dv, "default", "dv1"), 0);
    marked = get_dv(fx, "dv1"); /* held by the finalizer */
    assert_non_null(marked);
    assert_non_null(ferry_json_get_string(marked, "metadata.deletionTimestamp"));
    assert_false(fx->fake.jobs[0].cancelled);

    reconcile(fx, "dv1");
    assert_true(fx->fake.jobs[0].cancelled);
    assert_int_equal(fx->c->running_imports, 0);
    assert_int_equal(stat(dir, &sb), -1);
    gone = get_dv(fx, "dv1");
    assert_null(gone);
    /* and it does not come back */
    reconcile(fx, "dv1");
    assert_int_equal(fx->fake.n, 1);
}

/* ---- the real ops table (ferry_import_ops_spawn) ---- */

static int
setup_real(void **state)
{
    struct fixture *fx;

    if (setup(state) < 0)
        return -1;
    fx = *state;
    fx->c->import_ops = &ferry_import_ops_spawn;
    fx->c->import_opaque = NULL;
    return 0;
}

/* Poll, reap and reconcile until the DV reaches want (bounded). */
static void
run_until_phase(struct fixture *fx, const char *name, const char *want)
{
    for (int i = 0; i < 6000; i++) {
        FERRY_AUTOFREE char *p = NULL;

        ferry_dv_poll_jobs(fx->c);
        ferry_dv_reap_jobs(fx->c);
        reconcile(fx, name);
        p = phase(fx, name);
        if (ferry_str_eq(p, want))
            return;
        usleep(10000);
    }
    fail_msg("%s never reached %s", name, want);
}

/* A shell script as ferry-importer: the real spawn gives it the lock as
 * fd 3, stderr to import.log and stdout to the progress pipe. */
static void
test_real_spawn(void **state)
{
    struct fixture *fx = *state;
    FERRY_AUTOFREE char *script = ferry_printf("%s/fake-importer", fx->dir);
    FERRY_AUTOFREE char *log = NULL, *text = NULL, *disk = NULL;
    static const char body[] =
        "#!/bin/sh\n"
        "while [ $# -gt 0 ]; do case $1 in --dest) dest=$2; shift;; esac; shift; done\n"
        "echo \"fd3 $(readlink /proc/self/fd/3)\" >&2\n"
        "echo \"fd4 $(readlink /proc/self/fd/4 || echo none)\" >&2\n"
        "echo '{\"phase\":\"copy\",\"bytes_done\":1,\"bytes_total\":2}'\n"
        "printf disk > \"$dest\"\n"
        "echo '{\"phase\":\"done\"}'\n";
    size_t len;

    assert_int_equal(ferry_file_write_atomic(script, body, strlen(body), 0755), 0);
    free(fx->c->importer);
    fx->c->importer = ferry_strdup(script);
    create_dv(fx, "dv1", "http://127.0.0.1:9/disk.img");
    run_until_phase(fx, "dv1", "Succeeded");
    log = ferry_volume_file(fx->dir, "default", "dv1", FERRY_VOLUME_LOG);
    assert_int_equal(ferry_file_read(log, 65536, &text, &len), 0);
    assert_non_null(strstr(text, "/volumes/default/dv1/import.lock\n"));
    assert_non_null(strstr(text, "fd4 none\n"));
    disk = ferry_volume_file(fx->dir, "default", "dv1", FERRY_VOLUME_DISK);
    FERRY_AUTOFREE char *bytes = NULL;
    assert_int_equal(ferry_file_read(disk, 64, &bytes, &len), 0);
    assert_string_equal(bytes, "disk");
    assert_false(volume_locked(fx, "dv1"));
}

/* A missing importer: the attempt fails with the exec error and is retried. */
static void
test_real_importer_missing(void **state)
{
    struct fixture *fx = *state;
    FERRY_AUTOFREE char *cond = NULL;

    start_dv1(fx);
    reconcile(fx, "dv1");
    cond = condition(fx, "dv1", "Running");
    assert_string_equal(cond, "CrashLoopBackOff|cannot run '/nonexistent/ferry-importer': No such "
                              "file or directory; back-off 0s restarting the import");
}

/* source.imageio with secretRef and certConfigMap: the importer gets the
 * imageio:// URL from url + diskId and the directories of its options,
 * never a value; the files are there (0600 in a 0700 directory) while it
 * runs and gone when it has exited.  A Secret without secretKey fails the
 * attempt naming the field, the Secret and the key. */
static void
test_imageio_credentials(void **state)
{
    struct fixture *fx = *state;
    static const char *const objs[] = {
        "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"engine\","
        "\"namespace\":\"default\"},\"stringData\":{\"accessKeyId\":\"admin@internal\","
        "\"secretKey\":\"pa55 w0rd\"}}",
        "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"half\","
        "\"namespace\":\"default\"},\"stringData\":{\"accessKeyId\":\"admin@internal\"}}",
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"ca\","
        "\"namespace\":\"default\"},\"data\":{\"ca.crt\":\"PEM\"}}",
        "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
        "\"metadata\":{\"name\":\"iio\",\"namespace\":\"default\"},\"spec\":{\"source\":{"
        "\"imageio\":{\"url\":\"https://engine:8443/ovirt-engine/api\",\"diskId\":"
        "\"3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60\",\"secretRef\":\"engine\","
        "\"certConfigMap\":\"ca\",\"insecureSkipVerify\":true}},\"storage\":{\"resources\":{\"requests\":{\"storage\":"
        "\"1Mi\"}}}}}",
        "{\"apiVersion\":\"cdi.kubevirt.io/v1beta1\",\"kind\":\"DataVolume\","
        "\"metadata\":{\"name\":\"half\",\"namespace\":\"default\"},\"spec\":{\"source\":{"
        "\"imageio\":{\"url\":\"https://engine/ovirt-engine/api\",\"diskId\":"
        "\"3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60\",\"secretRef\":\"half\","
        "\"certConfigMap\":\"ca\"}},\"storage\":{\"resources\":{\"requests\":{\"storage\":"
        "\"1Mi\"}}}}}",
    };
    FERRY_AUTOFREE char *dir = ferry_printf("%s/import-secrets/default.iio", fx->dir);
    FERRY_AUTOFREE char *want = NULL;
    FERRY_AUTOFREE char *text = NULL;
    struct stat st;

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(objs); i++) {
        FERRY_AUTOPTR(json_object) o = test_json(objs[i]);

        if (ferry_store_create(fx->c->st, o, NULL) < 0)
            fail_msg("create: %s", ferry_error_message());
    }
    reconcile(fx, "iio");
    assert_int_equal(fx->fake.n, 1);
    assert_non_null(strstr(fx->fake.jobs[0].args,
                           "--url imageio://engine:8443/ovirt-engine/api/disks/"
                           "3f1b6a3e-6b6c-4d0a-9a53-1b2c3d4e5f60 "));
    want = ferry_printf("--imageio-secret-dir %s/secret --imageio-ca %s/certs ", dir, dir);
    assert_non_null(strstr(fx->fake.jobs[0].args, want));
    assert_null(strstr(fx->fake.jobs[0].args, "pa55"));
    assert_non_null(strstr(fx->fake.jobs[0].args, " --imageio-insecure "));
    assert_null(strstr(fx->fake.jobs[0].args, "admin@internal"));
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    free(want);
    want = ferry_printf("%s/secret/secretKey", dir);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ferry_file_read(want, 4096, &text, NULL), 0);
    assert_string_equal(text, "pa55 w0rd");
    free(text);
    text = NULL;
    free(want);
    want = ferry_printf("%s/certs/ca.crt", dir);
    assert_int_equal(ferry_file_read(want, 4096, &text, NULL), 0);
    assert_string_equal(text, "PEM");

    fake_exit(&fx->fake.jobs[0], 0, true, NULL);
    ferry_dv_reap_jobs(fx->c);
    assert_int_equal(stat(dir, &st), -1); /* removed once it exited */
    reconcile(fx, "iio");
    {
        FERRY_AUTOFREE char *p = phase(fx, "iio");
        assert_string_equal(p, "Succeeded");
    }

    /* a Secret without secretKey: no importer, the attempt fails saying so */
    reconcile(fx, "half");
    assert_int_equal(fx->fake.n, 1);
    reconcile(fx, "half");
    {
        FERRY_AUTOPTR(json_object) o = get_dv(fx, "half");
        const char *msg = ferry_json_get_string(ferry_condition_get(o, "Running"), "message");

        assert_non_null(msg);
        assert_non_null(strstr(msg, "spec.source.imageio.secretRef: Secret default/half: no key "
                                    "secretKey"));
    }
    free(want);
    want = ferry_printf("%s/import-secrets/default.half", fx->dir);
    assert_int_equal(stat(want, &st), -1);
}

#define TEST_SETUP setup
#define TEST_TEARDOWN teardown

TEST_MAIN(NULL, NULL,
          TEST_FX(test_import_succeeds),
          TEST_FX(test_exit_zero_without_disk_fails),
          cmocka_unit_test_setup_teardown(test_import_slots, setup_one_slot, teardown),
          cmocka_unit_test_setup_teardown(test_failure_and_retry_budget, setup_two_tries, teardown),
          TEST_FX(test_start_failure),
          TEST_FX(test_imageio_credentials),
          TEST_FX(test_delete_while_importing),
          cmocka_unit_test_setup_teardown(test_real_spawn, setup_real, teardown),
          cmocka_unit_test_setup_teardown(test_real_importer_missing, setup_real, teardown))
