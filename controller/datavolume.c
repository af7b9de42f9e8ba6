/* The DataVolume reconciler (cdi-controller's import, upload and blank paths).
 *
 * The "PVC" of a DataVolume NAME is the directory <state>/volumes/<ns>/<NAME>
 * holding disk.img.  An import is one ferry-importer child writing disk.img
 * atomically; its JSON progress lines (stdout) become status.progress, its
 * stderr goes to import.log whose last line explains a failure.
 *
 * Crash safety:
 *  - one import at a time per volume: the child inherits an flock on
 *    import.lock (the controller drops its copy), so a restarted controller
 *    (or `ferry image-upload`) cannot start a second one while it runs; the
 *    child dies with the controller (PR_SET_PDEATHSIG), so none is forgotten;
 *  - success is recorded only after the child exited 0 and disk.img exists:
 *    then import.done (the DV uid) is written, then status says Succeeded.  A
 *    controller that finds import.done for the DV's uid finishes the status
 *    write; one that finds a disk.img without it imports again.
 *
 * Phases, conditions and restartCount follow CDI (import-controller.go,
 * conditions.go); unlike CDI, a failed import is retried with exponential
 * backoff only import_retries times, then the DV is Failed with the reason. */
#include "controller/internal.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/base64.h"
#include "common/object.h"
#include "common/quantity.h"
#include "common/spawn.h"
#include "common/util.h"
#include "image/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void
dvjob_free(void *p)
{
    struct dvjob *j = p;

    if (!j)
        return;
    if (j->out_fd >= 0)
        close(j->out_fd);
    free(j->uid);
    free(j->last_progress);
    free(j);
}

/* ---- the real importer: a ferry-importer child ---- */

static int
spawn_start(void *opaque, char *const argv[], int lock_fd, int log_fd, pid_t *ret_pid,
            int *ret_out_fd)
{
    /* Die with the controller: a restarted one must be able to start
     * over, and the lock we hold tells it to wait until we are gone.
     * stdout is the progress pipe, stderr the log, the lock is fd 3. */
    struct ferry_spawn_fd lock = { lock_fd, 3 };
    struct ferry_spawn_opts o = { .stdin_null = true, .pipe_stdout = true, .log_fd = log_fd,
                                  .death_signal = SIGKILL, .fds = &lock, .n_fds = 1 };
    struct ferry_child child;

    (void)opaque;
    if (ferry_spawn(argv, &o, &child) < 0)
        return -1;
    fcntl(child.stdout_fd, F_SETFL, O_NONBLOCK);
    *ret_pid = child.pid;
    *ret_out_fd = child.stdout_fd;
    return 0;
}

/* The importer by its pid alone, for spawn.c's waiting and stopping: its
 * stdout pipe is the job's (out_fd), closed by the job. */
static struct ferry_child
importer_child(pid_t pid)
{
    return (struct ferry_child){ .pid = pid, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
}

static int
spawn_poll(void *opaque, pid_t pid, int *ret_status)
{
    struct ferry_child child = importer_child(pid);

    (void)opaque;
    if (ferry_child_wait(&child, 0, ret_status) == 0)
        return 1;
    if (ferry_error_code() != FERRY_ERR_TIMEOUT)
        return -1;
    ferry_error_reset(); /* still running */
    return 0;
}

static void
spawn_cancel(void *opaque, pid_t pid)
{
    struct ferry_child child = importer_child(pid);

    (void)opaque;
    if (ferry_child_stop(&child, 0) < 0) {
        ferry_log_warn("importer pid %d: %s", (int)pid, ferry_error_message());
        ferry_error_reset();
    }
}

const struct ferry_import_ops ferry_import_ops_spawn = {
    .start = spawn_start,
    .poll = spawn_poll,
    .cancel = spawn_cancel,
};

static void
job_kill(struct ferry_controller *c, struct dvjob *j)
{
    if (j->pid > 0) {
        c->import_ops->cancel(c->import_opaque, j->pid);
        j->pid = 0;
        c->running_imports--;
    }
    if (j->out_fd >= 0) {
        close(j->out_fd);
        j->out_fd = -1;
    }
}

static void creds_remove(struct ferry_controller *c, const char *key);

static void
kill_one(const char *key, void *value, void *opaque)
{
    job_kill(opaque, value);
    creds_remove(opaque, key);
}

void
ferry_dv_kill_jobs(struct ferry_controller *c)
{
    strmap_foreach(&c->jobs, kill_one, c);
}

static void
forget_job(struct ferry_controller *c, const char *key)
{
    struct dvjob *j = strmap_get(&c->jobs, key);

    if (j) {
        job_kill(c, j);
        strmap_remove(&c->jobs, key);
    }
    /* also what a controller that died mid-import left behind */
    creds_remove(c, key);
}

/* ---- progress ---- */

static void
job_line(struct dvjob *j, const char *line)
{
    FERRY_AUTOPTR(json_object) o = NULL;

    if (ferry_json_parse(line, strlen(line), "importer progress", &o) < 0) {
        ferry_error_reset();
        return;
    }
    j->started = true;
    if (ferry_str_eq(ferry_json_get_string(o, "phase"), "done")) {
        j->saw_done = true;
        return;
    }
    /* Phases without a known total (probing, syncing) keep the last figure. */
    if (ferry_json_get_int(o, "bytes_total", 0) <= 0)
        return;
    j->bytes_done = (uint64_t)ferry_json_get_int(o, "bytes_done", 0);
    j->bytes_total = (uint64_t)ferry_json_get_int(o, "bytes_total", 0);
}

/* Read what is there; true when the pipe is at EOF. */
static bool
job_read(struct dvjob *j)
{
    char buf[4096];

    while (j->out_fd >= 0) {
        ssize_t n = read(j->out_fd, buf, sizeof buf);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false; /* EAGAIN */
        if (n == 0) {
            close(j->out_fd);
            j->out_fd = -1;
            return true;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                j->line[j->line_len] = '\0';
                job_line(j, j->line);
                j->line_len = 0;
            } else if (j->line_len < sizeof j->line - 1) {
                j->line[j->line_len++] = buf[i];
            }
        }
    }
    return true;
}

static char *
job_progress(const struct dvjob *j)
{
    if (j->bytes_total == 0)
        return ferry_strdup("N/A");
    return ferry_printf("%.2f%%", 100.0 * (double)j->bytes_done / (double)j->bytes_total);
}

static void
poll_one(const char *key, void *value, void *opaque)
{
    struct ferry_controller *c = opaque;
    struct dvjob *j = value;
    FERRY_AUTOFREE char *p = NULL;

    if (j->pid <= 0 || j->out_fd < 0)
        return;
    job_read(j);
    p = job_progress(j);
    if (!ferry_str_eq(p, j->last_progress) || (j->started && !j->started_written))
        ctl_enqueue_key(c, Q_DV, key, 0);
}

void
ferry_dv_poll_jobs(struct ferry_controller *c)
{
    strmap_foreach(&c->jobs, poll_one, c);
}

static void
reap_one(const char *key, void *value, void *opaque)
{
    struct ferry_controller *c = opaque;
    struct dvjob *j = value;
    int status = 0, r;

    if (j->pid <= 0)
        return;
    r = c->import_ops->poll(c->import_opaque, j->pid, &status);
    if (r < 0) {
        ferry_log_warn("import %s: %s", key, ferry_error_message());
        ferry_error_reset();
        return;
    }
    if (r == 0)
        return;
    job_read(j); /* the last lines, up to EOF: the writer is gone */
    if (j->out_fd >= 0) {
        close(j->out_fd);
        j->out_fd = -1;
    }
    j->pid = 0;
    j->exited = true;
    j->status = status;
    c->running_imports--;
    creds_remove(c, key);
    ctl_enqueue_key(c, Q_DV, key, 0);
}

void
ferry_dv_reap_jobs(struct ferry_controller *c)
{
    strmap_foreach(&c->jobs, reap_one, c);
}

/* ---- status pieces ---- */

static void
set_bound(json_object *status, const char *name)
{
    FERRY_AUTOFREE char *msg = ferry_printf("PVC %s Bound", name);

    json_object_object_add(status, "claimName", json_object_new_string(name));
    ctl_status_condition(status, "Bound", "True", "Bound", msg);
}

const char *
ctl_dv_phase(json_object *status)
{
    const char *p = ferry_json_get_string(status, "phase");

    return p ? p : "";
}

void
ctl_dv_set_phase(struct ferry_controller *c, json_object *dv, json_object *status,
                 const char *phase, const char *ev_type, const char *reason, const char *msg)
{
    if (!ferry_str_eq(ctl_dv_phase(status), phase)) {
        json_object_object_add(status, "phase", json_object_new_string(phase));
        if (reason)
            ferry_store_record_event(c->st, dv, ev_type ? ev_type : "Normal", reason, msg);
    }
}

char *
ctl_dv_size_string(json_object *dv)
{
    const char *s = ferry_json_get_string(dv, "spec.storage.resources.requests.storage");

    if (!s)
        s = ferry_json_get_string(dv, "spec.pvc.resources.requests.storage");
    return ferry_strdup(s);
}

int
ctl_dv_succeed(struct ferry_controller *c, json_object *dv, json_object *status, const char *name)
{
    FERRY_AUTOFREE char *msg = ferry_printf("Successfully imported into PVC %s", name);

    ctl_dv_set_phase(c, dv, status, "Succeeded", "Normal", "ImportSucceeded", msg);
    json_object_object_add(status, "progress", json_object_new_string("100.0%"));
    ctl_status_condition(status, "Running", "False", "Completed", NULL);
    ctl_status_condition(status, "Ready", "True", NULL, NULL);
    return ctl_write_status(c, dv, status);
}

int
ctl_dv_fail(struct ferry_controller *c, json_object *dv, json_object *status, const char *reason,
            const char *msg)
{
    ctl_dv_set_phase(c, dv, status, "Failed", "Warning", reason, msg);
    ctl_status_condition(status, "Running", "False", "Error", msg);
    ctl_status_condition(status, "Ready", "False", reason, msg);
    return ctl_write_status(c, dv, status);
}

/* Last non-empty line of import.log, at most 1 KiB. */
static char *
last_log_line(const char *root, const char *ns, const char *name)
{
    FERRY_AUTOFREE char *text = NULL;
    FERRY_AUTOCLOSE int fd = ferry_volume_open(root, ns, name, FERRY_VOLUME_LOG, O_RDONLY, 0);
    size_t len = 0, cap = 1 << 20;
    ssize_t n;
    char *end, *start;

    if (fd < 0) {
        ferry_error_reset();
        return NULL;
    }
    text = ferry_malloc(cap + 1);
    while (len < cap && (n = read(fd, text + len, cap - len)) > 0)
        len += (size_t)n;
    text[len] = '\0';
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (len == 0)
        return NULL;
    end = text + len;
    start = end;
    while (start > text && start[-1] != '\n')
        start--;
    if (end - start > 1024)
        start = end - 1024;
    /* the importer logs JSON lines when not on a terminal: carry the text
     * only (no timestamp), so that conditions read well and repeated
     * failures make one Event with a count */
    return ctl_message_text(start, "import.log", "msg");
}

/* Remove leftovers of an earlier attempt: a disk.img nobody vouches for and
 * the importer's temporary files (disk.img.* / .disk.img.*). */
static void
clean_volume(const char *root, const char *ns, const char *name)
{
    int fd = ferry_volume_open(root, ns, name, NULL, O_RDONLY | O_DIRECTORY, 0);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        ferry_error_reset();
        return;
    }
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, FERRY_VOLUME_DISK) == 0 ||
            strcmp(e->d_name, FERRY_VOLUME_DONE) == 0 ||
            ferry_str_has_prefix(e->d_name, FERRY_VOLUME_DISK ".") ||
            ferry_str_has_prefix(e->d_name, "." FERRY_VOLUME_DISK))
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* ---- a DataVolume's secretRef, certConfigMap and secretExtraHeaders ----
 *
 * CDI mounts them into the importer pod; here they are written, for the
 * time of one import, into <state>/import-secrets/<ns>.<name> (0700, files
 * 0600; a namespace has no dot, so the name is the DV's alone):
 *   secret/accessKeyId, secret/secretKey   the secretRef's two keys, as
 *                                          CDI's secretKeyRef env takes them
 *   certs/<key>                            every key of the certConfigMap
 *                                          (CDI's /certs volume)
 *   headers/<n>-<key>                      every value of the n-th
 *                                          secretExtraHeaders Secret
 * and handed to ferry-importer as directories of its source's options
 * (ferry_sources_dv_option), never as values: no secret on a command line
 * or in a log.  Removed when the importer exits or is killed, when the DV
 * is forgotten, and before the next attempt writes them again. */

static char *
creds_dir(struct ferry_controller *c, const char *key)
{
    /* key is "ns/name" */
    char *d = ferry_printf("%s/import-secrets/%s", c->state_dir, key);
    char *slash = strrchr(d, '/');

    *slash = '.';
    return d;
}

static void
creds_remove(struct ferry_controller *c, const char *key)
{
    FERRY_AUTOFREE char *d = creds_dir(c, key);

    if (ferry_rm_rf(d) < 0) {
        ferry_log_warn("import %s: cannot remove its credentials: %s", key,
                       ferry_error_message());
        ferry_error_reset();
    }
}

static int
creds_file(const char *dir, const char *name, const void *data, size_t len)
{
    FERRY_AUTOFREE char *path = ferry_printf("%s/%s", dir, name);
    FERRY_AUTOCLOSE int fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    const char *p = data;

    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot write '%s'", path);
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "cannot write '%s'", path);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
creds_mkdir(const char *dir, const char *sub, char **ret)
{
    FERRY_AUTOFREE char *d = ferry_printf("%s/%s", dir, sub);

    if (mkdir(d, 0700) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot create '%s'", d);
    *ret = FERRY_STEAL(d);
    return 0;
}

static void
push_option(char ***argv, const char *name, const char *value)
{
    FERRY_AUTOFREE char *opt = ferry_printf("--%s", name);

    ferry_strv_push(argv, opt);
    ferry_strv_push(argv, value);
}

/* The object KIND NAME of the DV's namespace; FIELD names the DV's field in
 * errors ("spec.source.http.secretRef: secrets \"x\" not found"). */
static int
creds_get(struct ferry_controller *c, const struct ferry_resource *res, const char *ns,
          const char *name, const char *field, json_object **ret)
{
    if (ferry_store_get(c->st, res, ns, name, ret) < 0)
        return ferry_error_prefix("%s", field);
    return 0;
}

/* One value of a Secret's data (base64) or a ConfigMap's data/binaryData. */
static int
creds_value(json_object *obj, const char *map, const char *key, bool b64, const char *what,
            char **ret, size_t *ret_len)
{
    const char *v = ferry_json_get_string(json_object_object_get(obj, map), key);

    if (!v)
        v = json_object_get_string(json_object_object_get(json_object_object_get(obj, map), key));
    if (!v)
        return ferry_error(FERRY_ERR_NOTFOUND, "%s: no key %s", what, key);
    if (!b64) {
        *ret = ferry_strdup(v);
        *ret_len = strlen(v);
        return 0;
    }
    return ferry_base64_decode(what, v, ret, ret_len);
}

/* creds_file() of a Secret's value, wiped from memory after. */
static int
creds_secret_file(const char *dir, const char *name, char *data, size_t len)
{
    int r = creds_file(dir, name, data, len);

    explicit_bzero(data, len);
    return r;
}

/* A Secret of S3 keys: files accessKeyId and secretKey. */
static int
creds_write_keys(json_object *secret, const char *what, const char *dir)
{
    static const char *const keys[] = { "accessKeyId", "secretKey" };

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(keys); i++) {
        FERRY_AUTOFREE char *v = NULL;
        size_t len;

        if (creds_value(secret, "data", keys[i], true, what, &v, &len) < 0 ||
            creds_secret_file(dir, keys[i], v, len) < 0)
            return -1;
    }
    return 0;
}

/* A ConfigMap of certificates: a file per key of data and binaryData. */
static int
creds_write_certs(json_object *cm, const char *what, const char *dir)
{
    static const char *const maps[] = { "data", "binaryData" };

    for (size_t m = 0; m < FERRY_ARRAY_SIZE(maps); m++) {
        json_object *map = json_object_object_get(cm, maps[m]);

        if (!map || !json_object_is_type(map, json_type_object))
            continue;
        json_object_object_foreach(map, k, v) {
            FERRY_AUTOFREE char *bytes = NULL;
            size_t len;

            (void)v;
            /* keys are config keys (the store checked): file names */
            if (creds_value(cm, maps[m], k, m == 1, what, &bytes, &len) < 0 ||
                creds_file(dir, k, bytes, len) < 0)
                return -1;
        }
    }
    return 0;
}

/* The objects a DV's source names by a field of its own, each written into a
 * directory of its own for an importer option. */
struct creds_ref {
    const char *field; /* spec.source.KIND.<field> */
    const struct ferry_resource *const *res;
    const char *dir;
    enum ferry_dv_option option;
    int (*write)(json_object *obj, const char *what, const char *dir);
};

static const struct creds_ref creds_refs[] = {
    { "secretRef", &ferry_resource_secret, "secret", FERRY_DV_OPT_SECRET, creds_write_keys },
    { "certConfigMap", &ferry_resource_configmap, "certs", FERRY_DV_OPT_CA, creds_write_certs },
};

/* Whether SRC names any object of creds_refs. */
static bool
creds_any_ref(json_object *src)
{
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(creds_refs); i++)
        if (ferry_json_get_string(src, creds_refs[i].field))
            return true;
    return false;
}

/* Write what the DV's source refers to and push the importer's options. */
static int
creds_write(struct ferry_controller *c, json_object *dv, const char *kind, json_object *src,
            const char *key, char ***argv)
{
    const char *ns = ferry_obj_namespace(dv);
    json_object *sheaders = ferry_json_get(src, "secretExtraHeaders");
    json_object *headers = ferry_json_get(src, "extraHeaders");
    FERRY_AUTOFREE char *dir = creds_dir(c, key);
    FERRY_AUTOFREE char *base = ferry_printf("%s/import-secrets", c->state_dir);
    size_t nsh = sheaders && json_object_is_type(sheaders, json_type_array)
                     ? json_object_array_length(sheaders) : 0;

    if (ferry_json_get_bool(src, "insecureSkipVerify", false)) {
        /* imageio's (newer CDI): the engine's and daemon's certificates
         * not verified, as the user asked */
        FERRY_AUTOFREE char *opt = NULL;

        if (!ferry_sources_dv_option(kind, FERRY_DV_OPT_INSECURE))
            return ferry_error(FERRY_ERR_UNSUPPORTED, "spec.source.%s.insecureSkipVerify: this "
                               "ferry-importer's %s source cannot skip verification", kind, kind);
        opt = ferry_printf("--%s", ferry_sources_dv_option(kind, FERRY_DV_OPT_INSECURE));
        ferry_strv_push(argv, opt);
    }
    for (size_t i = 0; headers && json_object_is_type(headers, json_type_array) &&
                       i < json_object_array_length(headers); i++) {
        ferry_strv_push(argv, "--header");
        ferry_strv_push(argv, json_object_get_string(json_object_array_get_idx(headers, i)));
    }
    if (!creds_any_ref(src) && nsh == 0)
        return 0;
    if (mkdir(base, 0700) < 0 && errno != EEXIST)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot create '%s'", base);
    if (chmod(base, 0700) < 0 || ferry_rm_rf(dir) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot prepare '%s'", dir);
    if (mkdir(dir, 0700) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "cannot create '%s'", dir);

    for (size_t i = 0; i < FERRY_ARRAY_SIZE(creds_refs); i++) {
        const struct creds_ref *r = &creds_refs[i];
        const char *name = ferry_json_get_string(src, r->field);
        FERRY_AUTOFREE char *field = NULL;
        FERRY_AUTOFREE char *what = NULL;
        FERRY_AUTOPTR(json_object) obj = NULL;
        FERRY_AUTOFREE char *sub = NULL;

        if (!name)
            continue;
        field = ferry_printf("spec.source.%s.%s", kind, r->field);
        what = ferry_printf("%s: %s %s/%s", field, (*r->res)->kind, ns, name);
        if (creds_get(c, *r->res, ns, name, field, &obj) < 0 ||
            creds_mkdir(dir, r->dir, &sub) < 0 || r->write(obj, what, sub) < 0)
            return -1;
        push_option(argv, ferry_sources_dv_option(kind, r->option), sub);
    }
    if (nsh > 0) {
        FERRY_AUTOFREE char *sub = NULL;

        if (creds_mkdir(dir, "headers", &sub) < 0)
            return -1;
        for (size_t i = 0; i < nsh; i++) {
            const char *name = json_object_get_string(json_object_array_get_idx(sheaders, i));
            FERRY_AUTOFREE char *field =
                ferry_printf("spec.source.%s.secretExtraHeaders[%zu]", kind, i);
            FERRY_AUTOFREE char *what = ferry_printf("%s: Secret %s/%s", field, ns, name);
            FERRY_AUTOPTR(json_object) obj = NULL;
            json_object *data;

            if (creds_get(c, ferry_resource_secret, ns, name, field, &obj) < 0)
                return -1;
            data = json_object_object_get(obj, "data");
            if (!data || !json_object_is_type(data, json_type_object))
                continue;
            json_object_object_foreach(data, k, v) {
                FERRY_AUTOFREE char *bytes = NULL;
                FERRY_AUTOFREE char *file = ferry_printf("%zu-%s", i, k);
                size_t len;

                (void)v;
                if (creds_value(obj, "data", k, true, what, &bytes, &len) < 0 ||
                    creds_secret_file(sub, file, bytes, len) < 0)
                    return -1;
            }
        }
        push_option(argv, ferry_sources_dv_option(kind, FERRY_DV_OPT_HEADER_DIR), sub);
    }
    return 0;
}

/* A field of the DV's source that this build's importer cannot take, as
 * spec.source.KIND.FIELD: ..., else NULL. */
char *
ctl_dv_unsupported_field(json_object *dv, const char *kind)
{
    static const struct {
        const char *field;
        enum ferry_dv_option role;
        const char *what;
    } needs[] = {
        { "secretRef", FERRY_DV_OPT_SECRET, "credentials" },
        { "certConfigMap", FERRY_DV_OPT_CA, "CA certificates" },
        { "extraHeaders", FERRY_DV_OPT_HEADER, "extra headers" },
        { "secretExtraHeaders", FERRY_DV_OPT_HEADER_DIR, "extra headers" },
    };
    json_object *src = ferry_json_get(ferry_json_get(dv, "spec.source"), kind);

    for (size_t i = 0; src && i < FERRY_ARRAY_SIZE(needs); i++) {
        json_object *v = json_object_object_get(src, needs[i].field);

        if (!v || (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 0))
            continue;
        if (!ferry_sources_dv_option(kind, needs[i].role))
            return ferry_printf("spec.source.%s.%s: Unsupported value: this ferry-importer's %s "
                                "source takes no %s", kind, needs[i].field, kind,
                                needs[i].what);
    }
    return NULL;
}

/* Start ferry-importer for this DV with the lock fd inherited as fd 3. */
static int
spawn_importer(struct ferry_controller *c, json_object *dv, const char *dir, int lock_fd,
               struct dvjob *j)
{
    json_object *src = ferry_json_get(dv, "spec.source");
    const char *url = NULL, *checksum = ferry_json_get_string(src, "http.checksum");
    const char *ctype = ferry_json_get_string(dv, "spec.contentType");
    FERRY_AUTOFREE char *dest = ferry_volume_file(c->state_dir, ferry_obj_namespace(dv),
                                                  ferry_obj_name(dv), FERRY_VOLUME_DISK);
    FERRY_AUTOFREE char *size = ctl_dv_size_string(dv);
    FERRY_AUTOFREE char *size_bytes = NULL;
    FERRY_AUTOSTRV char **argv = NULL;
    int out_fd, logfd;
    pid_t pid;
    FERRY_AUTOFREE char *s3_url = NULL;

    const char *kind = ctl_dv_source_kind(dv);
    FERRY_AUTOFREE char *key = ferry_printf("%s/%s", ferry_obj_namespace(dv), ferry_obj_name(dv));
    FERRY_AUTOFREE char *imageio_url = NULL;
    bool creds_ok;

    json_object_object_foreach(src, k, v) {
        if (!url)
            url = ferry_json_get_string(v, "url");
        (void)k;
    }
    /* source.imageio {url: the engine's API, diskId}: imageio://ENGINE/.../disks/ID
     * (ctl_dv_check_source made sure it maps) */
    if (ferry_str_eq(kind, "imageio")) {
        if (ferry_imageio_url_from_cdi(url, ferry_json_get_string(src, "imageio.diskId"),
                                       &imageio_url) < 0)
            return -1;
        url = imageio_url;
    }
    /* source.s3.url is CDI's endpoint URL (http[s]://host/bucket/key): the
     * importer's s3 source reads it as s3+http[s]:// */
    if (url && ferry_json_get(src, "s3") &&
        (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0)) {
        s3_url = ferry_printf("s3+%s%s", url[4] == ':' ? "http" : "https", strchr(url, ':'));
        url = s3_url;
    }
    ferry_strv_push(&argv, c->importer);
    ferry_strv_push(&argv, "--url");
    ferry_strv_push(&argv, url);
    ferry_strv_push(&argv, "--dest");
    ferry_strv_push(&argv, dest);
    if (size) {
        uint64_t b;

        if (ferry_quantity_parse_bytes(size, &b) == 0) {
            size_bytes = ferry_printf("%llu", (unsigned long long)b);
            ferry_strv_push(&argv, "--size");
            ferry_strv_push(&argv, size_bytes);
        } else {
            ferry_error_reset();
        }
    }
    if (checksum) {
        ferry_strv_push(&argv, "--checksum");
        ferry_strv_push(&argv, checksum);
    }
    if (ctype) {
        ferry_strv_push(&argv, "--content-type");
        ferry_strv_push(&argv, ctype);
    }
    if (ferry_str_eq(kind, "http")) {
        /* The controller is the retry layer of an attempt that fails (its
         * budget, its backoff, restartCount as CDI's pod restarts): the
         * importer rides out blips and resumes cuts, but a server that makes
         * no progress for 30 s fails the attempt instead of holding it for
         * the importer's 10-minute default. */
        ferry_strv_push(&argv, "--retry-time");
        ferry_strv_push(&argv, "30");
    }
    if (ferry_json_get_string(src, "registry.platform.architecture")) {
        /* source.registry (its url is a docker:// or oci-archive: one). */
        FERRY_AUTOFREE char *platform = ferry_printf(
            "linux/%s", ferry_json_get_string(src, "registry.platform.architecture"));

        ferry_strv_push(&argv, "--platform");
        ferry_strv_push(&argv, platform);
    }
    /* the secretRef/certConfigMap/headers as files, their directories as
     * options; a failure (no such Secret ...) is an attempt that failed */
    creds_ok = creds_write(c, dv, kind, ferry_json_get(src, kind), key, &argv) == 0;
    ferry_strv_push(&argv, "--progress");
    ferry_strv_push(&argv, "json");

    if (!dest) {
        creds_remove(c, key);
        return -1;
    }
    (void)dir;
    logfd = ferry_volume_open(c->state_dir, ferry_obj_namespace(dv), ferry_obj_name(dv),
                              FERRY_VOLUME_LOG, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (logfd < 0) {
        creds_remove(c, key);
        return -1;
    }
    if (!creds_ok ||
        c->import_ops->start(c->import_opaque, argv, lock_fd, logfd, &pid, &out_fd) < 0) {
        creds_remove(c, key);
        /* As when the child could not exec: the reason in import.log and an
         * attempt that exited 127, counted and retried like any failure. */
        if (dprintf(logfd, "%s\n", ferry_error_message()) < 0) {
            /* the status then says "ferry-importer exited with status 127" */
        }
        ferry_log_warn("import %s/%s: %s", ferry_obj_namespace(dv), ferry_obj_name(dv),
                       ferry_error_message());
        ferry_error_reset();
        close(logfd);
        j->pid = 0;
        j->out_fd = -1;
        j->line_len = 0;
        j->bytes_done = j->bytes_total = 0;
        j->saw_done = false;
        j->exited = true;
        j->status = 127 << 8; /* W_EXITCODE(127, 0) */
        ctl_enqueue(c, Q_DV, ferry_obj_namespace(dv), ferry_obj_name(dv), 0);
        return 0;
    }
    close(logfd);
    j->pid = pid;
    j->out_fd = out_fd;
    j->line_len = 0;
    j->bytes_done = j->bytes_total = 0;
    j->exited = j->saw_done = false;
    j->status = 0;
    c->running_imports++;
    ferry_log_info("import %s/%s: started %s (pid %d)", ferry_obj_namespace(dv),
                   ferry_obj_name(dv), url, (int)pid);
    return 0;
}

static int
create_blank(const char *root, const char *ns, const char *name, uint64_t size)
{
    FERRY_AUTOCLOSE int dfd = ferry_volume_open(root, ns, name, NULL, O_RDONLY | O_DIRECTORY, 0);
    FERRY_AUTOCLOSE int fd = -1;

    if (dfd < 0)
        return -1;
    fd = openat(dfd, FERRY_VOLUME_DISK ".blank",
                O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0660);
    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "blank volume %s/%s", ns, name);
    if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0 ||
        renameat(dfd, FERRY_VOLUME_DISK ".blank", dfd, FERRY_VOLUME_DISK) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "blank volume %s/%s", ns, name);
    return 0;
}

static uint64_t
backoff_ms(struct ferry_controller *c, int failures)
{
    uint64_t ms = (uint64_t)c->o.import_backoff_ms;

    for (int i = 1; i < failures && ms < (uint64_t)c->o.import_backoff_max_ms; i++)
        ms *= 2;
    if (ms > (uint64_t)c->o.import_backoff_max_ms)
        ms = (uint64_t)c->o.import_backoff_max_ms;
    return ms;
}

/* The import (http and the other URL sources). */
static int
reconcile_import(struct ferry_controller *c, json_object *dv, json_object *status,
                 const char *key, const char *dir)
{
    const char *ns = ferry_obj_namespace(dv), *name = ferry_obj_name(dv);
    struct dvjob *j = strmap_get(&c->jobs, key);
    uint64_t now = ferry_now_ns();
    bool busy;
    int lock_fd;

    if (j && j->pid > 0) {
        FERRY_AUTOFREE char *p = NULL;

        /* ImportScheduled until the importer has said something, as CDI
         * shows it until the importer pod runs. */
        if (!j->started)
            return 0;
        p = job_progress(j);
        if (j->started_written && !ferry_str_eq(p, j->last_progress) &&
            now - j->last_write_ns < 1000000000ULL) {
            /* Throttle progress writes to one a second. */
            ctl_enqueue(c, Q_DV, ns, name,
                        (int)((1000000000ULL - (now - j->last_write_ns)) / 1000000ULL) + 1);
            return 0;
        }
        ctl_dv_set_phase(c, dv, status, "ImportInProgress", "Normal", "ImportInProgress",
                  "Import into the volume in progress");
        json_object_object_add(status, "progress", json_object_new_string(p));
        ctl_status_condition(status, "Running", "True", "Pod is running", NULL);
        ctl_status_condition(status, "Ready", "False", "TransferRunning", NULL);
        if (ctl_write_status(c, dv, status) < 0)
            return -1;
        free(j->last_progress);
        j->last_progress = FERRY_STEAL(p);
        j->last_write_ns = now;
        j->started_written = true;
        return 0;
    }
    if (j && j->exited) {
        FERRY_AUTOCLOSE int disk = ferry_volume_open(c->state_dir, ns, name, FERRY_VOLUME_DISK,
                                                     O_PATH, 0);
        bool ok = WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0 && disk >= 0;

        j->exited = false;
        if (ok) {
            if (ferry_volume_write_done(c->state_dir, ns, name, ferry_obj_uid(dv)) < 0)
                return -1;
            ferry_log_info("import %s/%s: succeeded", ns, name);
            strmap_remove(&c->jobs, key);
            return ctl_dv_succeed(c, dv, status, name);
        } else {
            FERRY_AUTOFREE char *why = last_log_line(c->state_dir, ns, name);
            FERRY_AUTOFREE char *ws = ferry_wait_status_string(j->status);
            int64_t restarts = ferry_json_get_int(status, "restartCount", 0) + 1;
            FERRY_AUTOFREE char *msg = NULL;

            if (!why)
                why = ferry_printf("ferry-importer %s", ws);
            json_object_object_add(status, "restartCount", json_object_new_int64(restarts));
            ferry_log_warn("import %s/%s: attempt %lld failed: %s", ns, name,
                           (long long)restarts, why);
            if (restarts >= c->o.import_retries) {
                strmap_remove(&c->jobs, key);
                msg = ferry_printf("Import failed after %lld attempts: %s", (long long)restarts,
                                   why);
                json_object_object_add(status, "progress", json_object_new_string("N/A"));
                return ctl_dv_fail(c, dv, status, "ImportFailed", msg);
            }
            j->retry_at_ns = now + backoff_ms(c, (int)restarts) * 1000000ULL;
            msg = ferry_printf("%s; back-off %llus restarting the import", why,
                               (unsigned long long)(backoff_ms(c, (int)restarts) / 1000));
            ferry_store_record_event(c->st, dv, "Warning", "Error", why);
            ctl_status_condition(status, "Running", "False", "CrashLoopBackOff", msg);
            ctl_status_condition(status, "Ready", "False", "TransferRunning", NULL);
            if (ctl_write_status(c, dv, status) < 0)
                return -1;
            ctl_enqueue(c, Q_DV, ns, name, (int)backoff_ms(c, (int)restarts) + 1);
            return 0;
        }
    }
    if (j && j->retry_at_ns > now) {
        ctl_enqueue(c, Q_DV, ns, name, (int)((j->retry_at_ns - now) / 1000000ULL) + 1);
        return 0;
    }
    if (c->running_imports >= c->o.max_imports) {
        ctl_dv_set_phase(c, dv, status, "ImportScheduled", "Normal", "ImportScheduled",
                  "Import into the volume scheduled");
        if (!json_object_object_get_ex(status, "progress", NULL))
            json_object_object_add(status, "progress", json_object_new_string("N/A"));
        ctl_status_condition(status, "Running", "False", "Pending", "Waiting for a free import slot");
        ctl_status_condition(status, "Ready", "False", NULL, NULL);
        ctl_enqueue(c, Q_DV, ns, name, 1000);
        return ctl_write_status(c, dv, status);
    }
    lock_fd = ferry_volume_lock(c->state_dir, ns, name, &busy);
    if (lock_fd < 0) {
        if (!busy)
            return -1;
        /* An importer of an earlier controller (or an upload) is still
         * going: it dies with its parent; look again shortly. */
        ferry_error_reset();
        ctl_enqueue(c, Q_DV, ns, name, 300);
        return 0;
    }
    clean_volume(c->state_dir, ns, name);
    if (!j) {
        j = ferry_calloc(1, sizeof *j);
        j->out_fd = -1;
        j->uid = ferry_strdup(ferry_obj_uid(dv));
        strmap_put(&c->jobs, key, j);
    }
    j->retry_at_ns = 0;
    j->started = j->started_written = false;
    if (spawn_importer(c, dv, dir, lock_fd, j) < 0) {
        close(lock_fd);
        return -1;
    }
    close(lock_fd);
    free(j->last_progress);
    j->last_progress = ferry_strdup("N/A");
    j->last_write_ns = now;
    ctl_dv_set_phase(c, dv, status, "ImportScheduled", "Normal", "ImportScheduled",
              "Import into the volume scheduled");
    json_object_object_add(status, "progress", json_object_new_string("N/A"));
    ctl_status_condition(status, "Running", "False", "ContainerCreating",
                         "the importer is starting");
    ctl_status_condition(status, "Ready", "False", "TransferRunning", NULL);
    return ctl_write_status(c, dv, status);
}

/* Which source key (http, blank, upload, registry ...) the DV uses. */
const char *
ctl_dv_source_kind(json_object *dv)
{
    json_object *src = ferry_json_get(dv, "spec.source");

    if (src && json_object_is_type(src, json_type_object)) {
        json_object_object_foreach(src, k, v) {
            (void)v;
            return k;
        }
    }
    if (ferry_json_get(dv, "spec.sourceRef"))
        return "sourceRef";
    return NULL;
}

/* The DV's source, checked as CDI's webhook and controller would: 1 when the
 * DV was failed for it (status written), 0 when it may go on (*ret_src, a
 * key of spec.source), -1 on a store error.  Also starts a new DV's status
 * at Pending.  Shared by both tables. */
int
ctl_dv_check_source(struct ferry_controller *c, json_object *dv, json_object *status,
                    const char **ret_src)
{
    const char *src;

    if (ctl_dv_phase(status)[0] == '\0') {
        json_object_object_add(status, "phase", json_object_new_string("Pending"));
        json_object_object_add(status, "progress", json_object_new_string("N/A"));
        json_object_object_add(status, "restartCount", json_object_new_int(0));
    }
    src = ctl_dv_source_kind(dv);
    if (!src)
        return ctl_dv_fail(c, dv, status, "InvalidSource", "spec.source: Required value") < 0 ? -1 : 1;
    if (ferry_str_eq(src, "vddk")) {
        /* named apart from the others: the disks have another way in */
        static const char msg[] =
            "spec.source.vddk: Unsupported value: VDDK is proprietary and ferry does not use "
            "it; ferry reads the VMDK from the ESXi/vCenter datastore over https instead: "
            "ferry-importer --url vmware://HOST/DATASTORE/PATH.vmdk --dest disk.img (see "
            "ferry-importer(1), VMWARE SOURCES), then disk.img into a DataVolume with an "
            "http (or, embedded, an upload) source";

        return ctl_dv_fail(c, dv, status, "UnsupportedSource", msg) < 0 ? -1 : 1;
    }
    if (!ferry_sources_serve_dv(src) && !ferry_str_eq(src, "upload") &&
        !ferry_str_eq(src, "blank")) {
        /* at once: no importer that could not read it, no retries */
        FERRY_AUTOFREE char *kinds = ferry_sources_dv_kinds();
        FERRY_AUTOFREE char *msg =
            ferry_printf("spec.source.%s: Unsupported value: ferry imports %s, upload and "
                         "blank sources", src, kinds);

        return ctl_dv_fail(c, dv, status, "UnsupportedSource", msg) < 0 ? -1 : 1;
    }
    if (ferry_str_eq(src, "http") || ferry_str_eq(src, "s3")) {
        /* admission refused other schemes; never hand the importer a local
         * path, whatever got into the store */
        FERRY_AUTOFREE char *field = ferry_printf("spec.source.%s.url", src);
        const char *url = ferry_json_get_string(dv, field);

        if (!url || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)) {
            FERRY_AUTOFREE char *msg = ferry_printf("%s: Invalid value: \"%s\": "
                                                    "Invalid source URL scheme", field, url ? url : "");

            return ctl_dv_fail(c, dv, status, "InvalidSource", msg) < 0 ? -1 : 1;
        }
    }
    if (ferry_str_eq(src, "imageio")) {
        /* the engine's API URL and the disk: one imageio:// URL, or refused */
        FERRY_AUTOFREE char *url = NULL;

        if (ferry_imageio_url_from_cdi(ferry_json_get_string(dv, "spec.source.imageio.url"),
                                       ferry_json_get_string(dv, "spec.source.imageio.diskId"),
                                       &url) < 0) {
            FERRY_AUTOFREE char *msg = ferry_printf("spec.source.imageio: Invalid value: %s",
                                                    ferry_error_message());

            ferry_error_reset();
            return ctl_dv_fail(c, dv, status, "InvalidSource", msg) < 0 ? -1 : 1;
        }
    }
    if (ferry_str_eq(src, "registry")) {
        /* docker:// only: an oci-archive: path would be a file on this node */
        const char *url = ferry_json_get_string(dv, "spec.source.registry.url");

        if (!url || strncmp(url, "docker://", 9) != 0) {
            FERRY_AUTOFREE char *msg =
                ferry_printf("spec.source.registry.url: Invalid value: \"%s\": ferry imports "
                             "docker:// registry sources only", url ? url : "");

            return ctl_dv_fail(c, dv, status, "InvalidSource", msg) < 0 ? -1 : 1;
        }
    }
    *ret_src = src;
    return 0;
}

static void
local_forget(struct ferry_controller *c, const char *ns, const char *name)
{
    FERRY_AUTOFREE char *key = ferry_printf("%s/%s", ns, name);

    forget_job(c, key);
}

/* The embedded table: a volume directory and a ferry-importer child. */
static int
local_reconcile(struct ferry_controller *c, json_object *dv)
{
    /* copies: a finalizer update replaces dv's metadata */
    FERRY_AUTOFREE char *ns = ferry_strdup(ferry_obj_namespace(dv));
    FERRY_AUTOFREE char *name = ferry_strdup(ferry_obj_name(dv));
    FERRY_AUTOFREE char *key = ferry_printf("%s/%s", ns, name);
    FERRY_AUTOPTR(json_object) status = NULL;
    FERRY_AUTOFREE char *dir = NULL;
    FERRY_AUTOFREE char *uid = NULL; /* owned: metadata is replaced by finalizer updates */
    struct dvjob *j;
    const char *src, *phase;
    int r;

    uid = ferry_strdup(ferry_obj_uid(dv));
    j = strmap_get(&c->jobs, key);
    if (j && !ferry_str_eq(j->uid, uid))
        forget_job(c, key); /* a DV of the same name, recreated */
    dir = ferry_volume_dir(c->state_dir, ns, name);
    if (!dir) {
        /* only a store from before namespaces were checked holds such a
         * name: nothing of it may touch the disk, and retrying will not help */
        ferry_log_warn("datavolume %s: not reconciled: %s", key, ferry_error_message());
        ferry_error_reset();
        forget_job(c, key);
        return 0;
    }

    if (ctl_is_deleting(dv)) {
        if (!ctl_has_finalizer(dv, FERRY_FINALIZER_VOLUME))
            return 0;
        forget_job(c, key);
        if (ferry_volume_remove(c->state_dir, ns, name) < 0)
            return -1;
        ferry_log_info("datavolume %s: volume removed", key);
        return ctl_set_finalizer(c, dv, FERRY_FINALIZER_VOLUME, false);
    }
    if (ctl_set_finalizer(c, dv, FERRY_FINALIZER_VOLUME, true) < 0)
        return -1;

    status = ctl_status_copy(dv);
    phase = ctl_dv_phase(status);
    if (ferry_str_eq(phase, "Succeeded") || ferry_str_eq(phase, "Failed")) {
        forget_job(c, key);
        return 0;
    }
    r = ctl_dv_check_source(c, dv, status, &src);
    if (r != 0)
        return r < 0 ? -1 : 0;
    {
        /* a secretRef ... this importer could not take: at once, no retries */
        FERRY_AUTOFREE char *why = ctl_dv_unsupported_field(dv, src);

        if (why)
            return ctl_dv_fail(c, dv, status, "UnsupportedSource", why);
    }

    /* "Bind the PVC": the volume directory. */
    if (ferry_volume_mkdir(c->state_dir, ns, name) < 0)
        return -1;
    if (!ferry_condition_is_true(dv, "Bound"))
        ferry_store_record_event(c->st, dv, "Normal", "Bound", "PVC bound");
    set_bound(status, name);

    if (ferry_volume_is_done(c->state_dir, ns, name, uid)) {
        forget_job(c, key);
        return ctl_dv_succeed(c, dv, status, name);
    }

    if (ferry_str_eq(src, "blank")) {
        FERRY_AUTOFREE char *size = ctl_dv_size_string(dv);
        uint64_t bytes;

        if (!size)
            return ctl_dv_fail(c, dv, status, "InvalidSize",
                        "spec.storage.resources.requests.storage: Required value");
        if (ferry_quantity_parse_bytes(size, &bytes) < 0) {
            FERRY_AUTOFREE char *msg = ferry_strdup(ferry_error_message());

            ferry_error_reset();
            return ctl_dv_fail(c, dv, status, "InvalidSize", msg);
        }
        if (create_blank(c->state_dir, ns, name, bytes) < 0 ||
            ferry_volume_write_done(c->state_dir, ns, name, uid) < 0)
            return -1;
        return ctl_dv_succeed(c, dv, status, name);
    }

    if (ferry_str_eq(src, "upload")) {
        /* `ferry image-upload` waits for UploadReady, writes disk.img under
         * import.lock, records import.done and annotates the DV
         * ferry.io/upload=done, which brings us back here. */
        if (ferry_str_eq(ctl_dv_phase(status), "Pending") || !ctl_dv_phase(status)[0]) {
            ctl_dv_set_phase(c, dv, status, "UploadScheduled", "Normal", "UploadScheduled",
                      "Upload into the volume scheduled");
            ctl_status_condition(status, "Running", "False", "Pending", NULL);
            ctl_status_condition(status, "Ready", "False", NULL, NULL);
            return ctl_write_status(c, dv, status);
        }
        ctl_dv_set_phase(c, dv, status, "UploadReady", "Normal", "UploadReady",
                  "Upload into the volume is ready");
        ctl_status_condition(status, "Running", "True", "Pod is running", NULL);
        ctl_status_condition(status, "Ready", "False", "TransferRunning", NULL);
        return ctl_write_status(c, dv, status);
    }

    return reconcile_import(c, dv, status, key, dir);
}

const struct ferry_dv_ops ferry_dv_ops_local = {
    .name = "local",
    .reconcile = local_reconcile,
    .forget = local_forget,
};

int
ferry_dv_reconcile(struct ferry_controller *c, const char *ns, const char *name)
{
    FERRY_AUTOPTR(json_object) dv = NULL;

    if (ctl_get_copy(c, ferry_resource_dv, ns, name, &dv) < 0) {
        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        c->dv_ops->forget(c, ns, name);
        return 0;
    }
    return c->dv_ops->reconcile(c, dv);
}
