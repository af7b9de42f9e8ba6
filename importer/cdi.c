/* CDI's importer pod contract: ferry-importer run with no arguments (or only
 * klog's -v=N) and the environment CDI's import controller sets
 * (cdi:pkg/controller/import-controller.go makeImportEnv; names from
 * cdi:pkg/common/common.go), as cdi:cmd/cdi-importer/importer.go does:
 *
 *   IMPORTER_SOURCE         http, s3, registry, imageio, none (blank); gcs
 *                           and vddk when a source serves them (else an
 *                           "Unable to connect" error); anything else is
 *                           "Unknown data source: X"
 *   IMPORTER_ENDPOINT       the URL (s3: http[s]://host/bucket/key)
 *   IMPORTER_CONTENTTYPE    kubevirt, or archive (a tar extracted into /data)
 *   IMPORTER_IMAGE_SIZE     the requested size (a Kubernetes quantity)
 *   IMPORTER_ACCESS_KEY_ID, IMPORTER_SECRET_KEY   the secret's accessKeyId and
 *                           secretKey: http basic auth, s3 keys, registry
 *                           credentials
 *   IMPORTER_CERT_DIR, IMPORTER_PROXY_CERT_DIR    CA certificates added to
 *                           the system's
 *   INSECURE_TLS            registry: plain http or unverified TLS
 *   IMPORTER_CHECKSUM       ALG:HEX of the fetched bytes (a comma list: the
 *                           first)
 *   IMPORTER_EXTRA_HEADER_* and the files under /extraheaders: HTTP headers
 *   IMPORTER_REGISTRY_IMAGE_ARCHITECTURE   registry: linux/<arch>
 *   IMPORTER_READY_FILE, IMPORTER_DONE_FILE  node pull: wait for the first
 *                           (its content replaces disk.img in the endpoint),
 *                           touch the second on success
 *   IMPORTER_DISK_ID, IMPORTER_UUID           imageio / vddk
 *   PREALLOCATION           required, Go's ParseBool ("" is an error)
 *   FILESYSTEM_OVERHEAD     e.g. 0.06: the file gets at most
 *                           (1 - overhead) x the free space, whole sectors
 *   OWNER_UID               the label of the progress metric
 *   http_proxy, https_proxy, no_proxy         read by libcurl itself
 *
 * Output: /data/disk.img (filesystem volume) or /dev/cdi-block-volume when
 * it exists (block volume); /data itself for archives.  Result: the
 * termination message in /dev/termination-log, as CDI >= 1.59: exit 0 and
 * JSON ({"scratchSpaceRequired":false,"preallocationApplied":B,"message":
 * "Import Complete"}) on success, exit 0 and JSON with the message
 * "Unable to process data: ... checksum mismatch ..." for a wrong checksum
 * (the controller marks it fatal), exit 1 and one plain-text line for every
 * other error ("Unable to process data: ...", "Unable to connect to http
 * data source: ...", "Unknown data source: x").  Progress: metrics.c on
 * :8443.
 *
 * For tests only (a pod never sets them): FERRY_CDI_DATA_DIR,
 * FERRY_CDI_BLOCK_PATH and FERRY_CDI_TERMINATION_LOG move the three paths,
 * FERRY_CDI_EXTRA_HEADERS_DIR the headers' directory, FERRY_CDI_METRICS_PORT
 * and FERRY_CDI_METRICS_ADDRESS the metrics' socket, and
 * FERRY_CDI_METRICS_LINGER=S keeps serving the final value S seconds. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/quantity.h"
#include "common/util.h"
#include "image/image.h"
#include "importer/cdi.h"
#include "importer/importer.h"

#define MOD "importer"
#define TERMINATION_MAX 4096

/* ---- the environment ----------------------------------------------------- */

static const char *
env(const char *name)
{
    const char *v = getenv(name);
    return v ? v : "";
}

static const char *
env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* klog's flags, which CDI's pod passes (args: -v=N). */
static bool
klog_arg(const char *a, int *verbosity)
{
    const char *p = a;

    if (*p++ != '-')
        return false;
    if (*p == '-')
        p++;
    if (strncmp(p, "v=", 2) == 0) {
        char *end;
        long v = strtol(p + 2, &end, 10);
        if (!p[2] || *end)
            return false;
        if (verbosity)
            *verbosity = (int)v;
        return true;
    }
    return ferry_str_has_prefix(p, "logtostderr") || ferry_str_has_prefix(p, "alsologtostderr") ||
           ferry_str_has_prefix(p, "stderrthreshold");
}

bool
ferry_cdi_mode(int argc, char **argv)
{
    if (!getenv("IMPORTER_SOURCE"))
        return false;
    for (int i = 1; i < argc; i++)
        if (!klog_arg(argv[i], NULL))
            return false;
    return true;
}

/* Go's strconv.ParseBool. */
static int
parse_bool(const char *s, bool *ret)
{
    static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True", NULL };
    static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False", NULL };

    for (size_t i = 0; t[i]; i++)
        if (strcmp(s, t[i]) == 0)
            return *ret = true, 0;
    for (size_t i = 0; f[i]; i++)
        if (strcmp(s, f[i]) == 0)
            return *ret = false, 0;
    return -1;
}

/* ---- the termination message --------------------------------------------- */

static int term_fd = -1;
static const char *term_path;

/* Opened before the importer confines itself (sandbox.c), written at the end. */
static void
termination_open(void)
{
    term_path = env_or("FERRY_CDI_TERMINATION_LOG", "/dev/termination-log");
    term_fd = open(term_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (term_fd < 0)
        ferry_log_warn("termination message '%s': %s", term_path, strerror(errno));
}

static int
termination_write(const char *text)
{
    size_t len = strlen(text);

    if (len > TERMINATION_MAX)
        return ferry_error(FERRY_ERR_INVALID,
                           "Termination message length %zu exceeds maximum length of 4096 bytes",
                           len);
    if (term_fd < 0)
        return ferry_error(FERRY_ERR_IO, "termination message '%s' is not open", term_path);
    if (ftruncate(term_fd, 0) < 0 && errno != EINVAL)
        return ferry_error_errno(FERRY_ERR_IO, errno, "termination message '%s'", term_path);
    if (pwrite(term_fd, text, len, 0) != (ssize_t)len)
        return ferry_error_errno(FERRY_ERR_IO, errno, "termination message '%s'", term_path);
    return 0;
}

/* An error: one plain-text line, exit 1. */
static int
fail_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
fail_plain(const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = ferry_vprintf(fmt, ap);
    va_end(ap);
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    if (strlen(msg) > TERMINATION_MAX)
        msg[TERMINATION_MAX] = '\0';
    ferry_log_error("%s", msg);
    if (termination_write(msg) < 0)
        ferry_log_last_error();
    free(msg);
    return 1;
}

/* The JSON message (exit 0). */
static int
finish_json(const char *message, bool with_flags, bool preallocated)
{
    json_object *o = json_object_new_object();

    if (with_flags) {
        json_object_object_add(o, "scratchSpaceRequired", json_object_new_boolean(false));
        json_object_object_add(o, "preallocationApplied", json_object_new_boolean(preallocated));
    }
    json_object_object_add(o, "message", json_object_new_string(message));
    FERRY_AUTOFREE char *text = ferry_json_to_string(o, false);
    json_object_put(o);
    if (termination_write(text) < 0) {
        ferry_log_last_error();
        return 1;
    }
    ferry_log_info("%s", message);
    return 0;
}

/* ---- progress -------------------------------------------------------------- */

static bool scratch_seen;

/* The pipeline's phases as one percentage: a scratch copy is the first
 * half when one is needed, the conversion the rest. */
static void
progress_observer(const char *phase, uint64_t done, uint64_t total)
{
    double f;

    if (total == 0)
        return;
    f = done >= total ? 1.0 : (double)done / (double)total;
    if (strcmp(phase, "scratch") == 0) {
        scratch_seen = true;
        ferry_metrics_set_progress(50 * f);
    } else if (strcmp(phase, "fetching") == 0 || strcmp(phase, "converting") == 0) {
        ferry_metrics_set_progress(scratch_seen ? 50 + 50 * f : 100 * f);
    }
}

/* ---- sources ------------------------------------------------------------- */

/* The source whose table entry serves DataVolume kind KIND, else the one
 * of that name (a source the controller does not offer for DataVolumes
 * may still serve CDI's pod: imageio). */
static const struct ferry_source_ops *
source_for_kind(const char *kind)
{
    for (size_t i = 0; ferry_sources[i]; i++)
        if (ferry_str_eq(ferry_sources[i]->dv_source, kind))
            return ferry_sources[i];
    for (size_t i = 0; ferry_sources[i]; i++)
        if (ferry_str_eq(ferry_sources[i]->name, kind))
            return ferry_sources[i];
    return NULL;
}

/* Set the first of NAMES that OPS has as an option; false when none. */
static bool
source_option(const struct ferry_source_ops *ops, const char *const *names, const char *value,
              int *ret)
{
    for (; *names; names++) {
        const struct ferry_source_option *o = NULL;
        if (ferry_sources_find_option(*names, &o) == ops) {
            *ret = ops->config(*names, value);
            return true;
        }
    }
    *ret = 0;
    return false;
}

/* The credentials' directory is removed at the end by a thread started
 * before the import confines itself: Landlock binds the thread that asks
 * for it and the threads it starts after, not this one, so the files go
 * even though TMPDIR is no longer writable by the importer. */
static char *secret_dir;
static pthread_t janitor;
static bool janitor_running;
static int janitor_pipe[2] = { -1, -1 };

static void *
janitor_thread(void *opaque)
{
    char c;

    (void)opaque;
    while (read(janitor_pipe[0], &c, 1) < 0 && errno == EINTR)
        ;
    if (secret_dir && ferry_rm_rf(secret_dir) < 0) {
        ferry_log_warn("%s", ferry_error_message());
        ferry_error_reset();
    }
    return NULL;
}

static void
secret_dir_remove(void)
{
    if (janitor_running) {
        if (write(janitor_pipe[1], "x", 1) != 1)
            ferry_log_warn("cannot wake the thread removing '%s'", secret_dir);
        pthread_join(janitor, NULL);
        janitor_running = false;
        close(janitor_pipe[0]);
        close(janitor_pipe[1]);
    } else if (secret_dir) {
        ferry_rm_rf(secret_dir);
        ferry_error_reset();
    }
    free(secret_dir);
    secret_dir = NULL;
}

/* The credentials as files accessKeyId and secretKey, as CDI's secret. */
static int
write_secret_dir(const char *acc, const char *sec)
{
    FERRY_AUTOFREE char *tmpl = ferry_printf("%s/ferry-cdi-secret.XXXXXX", env_or("TMPDIR", "/tmp"));

    if (!mkdtemp(tmpl))
        return ferry_error_errno(FERRY_ERR_IO, errno, "secret directory '%s'", tmpl);
    secret_dir = ferry_strdup(tmpl);
    if (pipe2(janitor_pipe, O_CLOEXEC) == 0 &&
        pthread_create(&janitor, NULL, janitor_thread, NULL) == 0)
        janitor_running = true;
    FERRY_AUTOFREE char *a = ferry_printf("%s/accessKeyId", secret_dir);
    FERRY_AUTOFREE char *s = ferry_printf("%s/secretKey", secret_dir);
    if (ferry_file_write_atomic(a, acc, strlen(acc), 0600) < 0 ||
        ferry_file_write_atomic(s, sec, strlen(sec), 0600) < 0)
        return -1;
    return 0;
}

/* Headers: IMPORTER_EXTRA_HEADER_0.. and each file below the secret
 * headers' directory (one header a file, as CDI mounts secretHeader keys). */
static char **
extra_headers(void)
{
    char **h = NULL;
    const char *dir = env_or("FERRY_CDI_EXTRA_HEADERS_DIR", "/extraheaders");

    for (int i = 0;; i++) {
        FERRY_AUTOFREE char *name = ferry_printf("IMPORTER_EXTRA_HEADER_%d", i);
        const char *v = getenv(name);
        if (!v)
            break;
        ferry_strv_push(&h, v);
    }
    /* A directory that is not there (none mounted) holds no header. */
    FERRY_AUTOSTRV char **subs = NULL;
    if (ferry_dir_names("extra headers", dir, &subs) < 0)
        ferry_error_reset();
    for (char **s = subs; s && *s; s++) {
        FERRY_AUTOFREE char *sub = ferry_printf("%s/%s", dir, *s);
        FERRY_AUTOSTRV char **files = NULL;
        if (ferry_dir_names("extra headers", sub, &files) < 0)
            ferry_error_reset();
        for (char **f = files; f && *f; f++) {
            FERRY_AUTOFREE char *path = ferry_printf("%s/%s", sub, *f);
            FERRY_AUTOFREE char *buf = NULL;
            size_t len;
            if (ferry_file_read(path, 8192, &buf, &len) == 0) {
                buf[strcspn(buf, "\r\n")] = '\0';
                if (buf[0])
                    ferry_strv_push(&h, buf);
            }
            ferry_error_reset();
        }
    }
    return h;
}

struct cdi {
    const char *kind;            /* IMPORTER_SOURCE */
    const struct ferry_source_ops *ops;
    char *url;
    bool archive, block, preallocation;
    double overhead;
    uint64_t requested;          /* IMPORTER_IMAGE_SIZE, 0: none */
    const char *data_dir, *block_path;
    char *dest;
};

/* Hand the environment to the source's options.  1 on an error already
 * written (exit code in *ret_exit). */
static int
configure_source(struct cdi *c, int *ret_exit)
{
    static const char *const cert_opts[] = { "ca-dir", "cert-dir", NULL };
    static const char *const header_opts[] = { "header", "http-header", "extra-header", NULL };
    static const char *const insecure_opts[] = { "insecure", "http-insecure", NULL };
    const char *acc = env("IMPORTER_ACCESS_KEY_ID"), *sec = env("IMPORTER_SECRET_KEY");
    int r;

    if (strcmp(c->kind, "s3") == 0) {
        /* The s3 source reads the keys from the environment, never argv. */
        if (*acc)
            setenv("AWS_ACCESS_KEY_ID", acc, 1);
        if (*sec)
            setenv("AWS_SECRET_ACCESS_KEY", sec, 1);
    } else if (*acc || *sec) {
        static const char *const user_opts[] = { "secret-dir", "http-secret-dir",
                                                 "imageio-secret-dir", "vmware-secret-dir", NULL };
        if (write_secret_dir(acc, sec) < 0)
            goto unable;
        if (!source_option(c->ops, user_opts, secret_dir, &r)) {
            *ret_exit = fail_plain("Unable to connect to %s data source: IMPORTER_ACCESS_KEY_ID: "
                                   "this ferry-importer's %s source takes no credentials",
                                   c->kind, c->ops->name);
            return 1;
        }
        if (r < 0)
            goto unable;
    }
    for (const char *name = "IMPORTER_CERT_DIR";;) {
        const char *dir = env(name);
        if (*dir) {
            /* The source's own CA directory option, else a process-wide
             * one (the http source's --cert-dir, which every curl handle
             * takes, when the build has it). */
            FERRY_AUTOFREE char *own1 = ferry_printf("%s-ca-dir", c->ops->name);
            FERRY_AUTOFREE char *own2 = ferry_printf("%s-cert-dir", c->ops->name);
            FERRY_AUTOFREE char *own3 = ferry_printf("%s-ca", c->ops->name);
            const struct ferry_source_option *o = NULL;
            const struct ferry_source_ops *global = ferry_sources_find_option("cert-dir", &o);
            if (!source_option(c->ops, (const char *const[]){ own1, own2, own3, NULL }, dir, &r) &&
                !source_option(c->ops, cert_opts, dir, &r) &&
                !(global && source_option(global, (const char *const[]){ "cert-dir", NULL }, dir,
                                          &r))) {
                *ret_exit = fail_plain("Unable to connect to %s data source: %s '%s': this "
                                       "ferry-importer's %s source takes no CA directory",
                                       c->kind, name, dir, c->ops->name);
                return 1;
            }
            if (r < 0)
                goto unable;
        }
        if (strcmp(name, "IMPORTER_PROXY_CERT_DIR") == 0)
            break;
        name = "IMPORTER_PROXY_CERT_DIR";
    }
    bool insecure = false;
    if (parse_bool(env("INSECURE_TLS"), &insecure) == 0 && insecure &&
        strcmp(c->kind, "registry") == 0 && source_option(c->ops, insecure_opts, NULL, &r) && r < 0)
        goto unable;
    if (strcmp(c->kind, "registry") == 0 && *env("IMPORTER_REGISTRY_IMAGE_ARCHITECTURE")) {
        FERRY_AUTOFREE char *p =
            ferry_printf("linux/%s", env("IMPORTER_REGISTRY_IMAGE_ARCHITECTURE"));
        if (source_option(c->ops, (const char *const[]){ "platform", NULL }, p, &r) && r < 0)
            goto unable;
    }
    if (strcmp(c->kind, "http") == 0) {
        FERRY_AUTOSTRV char **h = extra_headers();
        for (size_t i = 0; h && h[i]; i++) {
            if (!source_option(c->ops, header_opts, h[i], &r)) {
                *ret_exit = fail_plain("Unable to connect to http data source: extra header "
                                       "'%.*s': this ferry-importer's http source takes no "
                                       "extra headers",
                                       (int)strcspn(h[i], ":"), h[i]);
                return 1;
            }
            if (r < 0)
                goto unable;
        }
    }
    for (const char *const *v = (const char *const[]){ "IMPORTER_DISK_ID", "IMPORTER_UUID", NULL };
         *v; v++) {
        const char *val = env(*v);
        if (!*val)
            continue;
        FERRY_AUTOFREE char *o1 = ferry_printf("%s-disk-id", c->ops->name);
        if (strcmp(c->kind, "imageio") == 0 && strcmp(*v, "IMPORTER_DISK_ID") == 0)
            continue;   /* in the URL */
        if (!source_option(c->ops, (const char *const[]){ o1, "disk-id", NULL }, val, &r))
            ferry_log_warn("%s '%s': the %s source does not use it", *v, val, c->ops->name);
        else if (r < 0)
            goto unable;
    }
    return 0;
unable:
    *ret_exit = fail_plain("Unable to connect to %s data source: %s", c->kind,
                           ferry_error_message());
    return 1;
}

/* IMPORTER_READY_FILE: wait for it (60 s), and take the image's name from
 * it (node pull). */
static int
wait_ready_file(struct cdi *c, int *ret_exit)
{
    const char *ready = env("IMPORTER_READY_FILE");
    struct stat st;

    if (!*ready)
        return 0;
    for (int i = 0; stat(ready, &st) < 0; i++) {
        if (i == 60) {
            *ret_exit = fail_plain("Timeout waiting for file %s", ready);
            return 1;
        }
        sleep(1);
    }
    FERRY_AUTOFREE char *name = NULL;
    size_t len;
    if (ferry_file_read(ready, 4096, &name, &len) < 0) {
        *ret_exit = fail_plain("Failed reading file %s: %s", ready, ferry_error_message());
        return 1;
    }
    name[strcspn(name, "\r\n")] = '\0';
    if (name[0] && ferry_str_has_suffix(c->url, "disk.img")) {
        char *u = ferry_printf("%.*s%s", (int)(strlen(c->url) - 8), c->url, name);
        free(c->url);
        c->url = u;
    }
    return 0;
}

/* ---- sizes ------------------------------------------------------------------ */

/* The free bytes where the file goes (what an old disk.img holds counts:
 * it is replaced), or the block device's size. */
static int
available_space(struct cdi *c, uint64_t *ret)
{
    if (c->block) {
        FERRY_AUTOCLOSE int fd = open(c->block_path, O_RDONLY | O_CLOEXEC);
        uint64_t size = 0;
        if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0)
            return ferry_error_errno(FERRY_ERR_IO, errno, "block volume '%s': size",
                                     c->block_path);
        *ret = size;
        return 0;
    }
    struct statvfs sv;
    struct stat st;
    if (statvfs(c->data_dir, &sv) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "volume '%s'", c->data_dir);
    *ret = (uint64_t)sv.f_bavail * sv.f_frsize;
    if (c->dest && stat(c->dest, &st) == 0 && S_ISREG(st.st_mode))
        *ret += (uint64_t)st.st_blocks * 512;
    return 0;
}

/* cdi:pkg/util GetUsableSpace: (1 - overhead) x space, whole sectors. */
static uint64_t
usable_space(double overhead, uint64_t space)
{
    return (uint64_t)((1 - overhead) * (double)space) / 512 * 512;
}

/* ---- blank images (IMPORTER_SOURCE=none) ----------------------------------- */

static int
zero_block(const char *path, uint64_t size)
{
    FERRY_AUTOCLOSE int fd = open(path, O_WRONLY | O_CLOEXEC);
    FERRY_AUTOFREE uint8_t *buf = ferry_calloc(1, 1 << 20);

    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "block volume '%s'", path);
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < (1 << 20) ? size - off : (1 << 20);
        ssize_t w = pwrite(fd, buf, n, off);
        if (w <= 0)
            return ferry_error_errno(FERRY_ERR_IO, w < 0 ? errno : ENOSPC,
                                     "block volume '%s' at offset %llu", path,
                                     (unsigned long long)off);
        off += w;
        ferry_metrics_set_progress(100.0 * off / size);
    }
    if (fsync(fd) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "block volume '%s': fsync", path);
    return 0;
}

static int
blank_file(const char *dest, uint64_t size, bool preallocate)
{
    FERRY_AUTOFREE char *tmp = ferry_printf("%s.tmp-XXXXXX", dest);
    int fd = mkostemp(tmp, O_CLOEXEC);

    if (fd < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "destination '%s'", tmp);
    int e = 0;
    if (ftruncate(fd, size) < 0)
        e = errno;
    else if (preallocate && size > 0 && fallocate(fd, 0, 0, size) < 0)
        e = errno;
    else if (fchmod(fd, 0660) < 0 || fsync(fd) < 0)
        e = errno;
    close(fd);
    if (e || rename(tmp, dest) < 0) {
        if (!e)
            e = errno;
        unlink(tmp);
        return ferry_error_errno(FERRY_ERR_IO, e, "destination '%s': size %llu", dest,
                                 (unsigned long long)size);
    }
    if (geteuid() == 0 && chown(dest, 107, 107) < 0) {
        /* as the pipeline's files: CDI's importer runs as qemu (107) */
    }
    return 0;
}

static int
handle_blank(struct cdi *c)
{
    uint64_t avail, size;

    if (c->archive)
        return fail_plain("Cannot create empty disk with content type archive");
    if (c->block && !c->preallocation) {
        ferry_log_info("Blank block without preallocation is exactly an empty PVC, done "
                       "populating");
        ferry_metrics_set_progress(100);
        return finish_json("Import Complete", true, false);
    }
    if (!c->requested)
        return fail_plain("Unable to create blank image: IMPORTER_IMAGE_SIZE: required for a "
                          "blank image");
    if (available_space(c, &avail) < 0)
        return fail_plain("Unable to create blank image: %s", ferry_error_message());
    size = c->requested < avail ? c->requested : avail;
    if (size < c->requested)
        ferry_log_warn("Available space less than requested size, creating blank image sized "
                       "to available space: %llu", (unsigned long long)size);
    if (c->block) {
        if (zero_block(c->block_path, size) < 0)
            return fail_plain("Unable to create blank image: %s", ferry_error_message());
    } else {
        size = usable_space(c->overhead, size);
        ferry_log_info("Space adjusted for filesystem overhead: %llu", (unsigned long long)size);
        if (blank_file(c->dest, size, c->preallocation) < 0)
            return fail_plain("Unable to create blank image: %s", ferry_error_message());
    }
    ferry_metrics_set_progress(100);
    return finish_json("Import Complete", true, c->preallocation);
}

/* ---- imports --------------------------------------------------------------- */

/* The pipeline's "virtual size X is larger than the Y volume" in the words
 * the controller knows (cdi:pkg/image/qemu.go; simplifyKnownMessage turns
 * it into "DataVolume too small to contain image"). */
static char *
cdi_words(const char *msg)
{
    const char *a = strstr(msg, " is larger than the ");
    const char *b = a ? strstr(a, " volume") : NULL;
    const char *y = a ? a + strlen(" is larger than the ") : NULL;

    if (!a || !b || strncmp(msg, "virtual size ", 13) != 0)
        return ferry_strdup(msg);
    return ferry_printf("Virtual image size %.*s is larger than the reported available storage "
                        "%.*s. A larger PVC is required%s",
                        (int)(a - (msg + 13)), msg + 13, (int)(b - y), y, b + 7);
}

static int
preallocate_file(const char *path)
{
    FERRY_AUTOCLOSE int fd = open(path, O_WRONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "preallocating '%s'", path);
    if (st.st_size > 0 && fallocate(fd, 0, 0, st.st_size) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "preallocating '%s'", path);
    if (fsync(fd) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "preallocating '%s': fsync", path);
    return 0;
}

static int
handle_import(struct cdi *c)
{
    struct ferry_import_options opts = {
        .url = c->url,
        .dest = c->dest,
        .archive = c->archive,
        .progress = FERRY_PROGRESS_JSON,
        .confine = !*env("IMPORTER_DONE_FILE"),   /* touched afterwards, elsewhere */
    };
    struct ferry_import_result result = { 0 };
    FERRY_AUTOFREE char *checksum = NULL;
    int exit_code;

    if (geteuid() == 0) {
        /* as ferry-importer's --owner default: CDI's importer runs as qemu */
        opts.owner_set = true;
        opts.owner_uid = opts.owner_gid = 107;
    }

    if ((strcmp(c->kind, "registry") == 0 || strcmp(c->kind, "imageio") == 0) && c->archive) {
        ferry_log_error("Unsupported content type archive when importing from %s", c->kind);
        return fail_plain("Unsupported content type archive when importing from %s", c->kind);
    }
    if (c->archive && c->block)
        return fail_plain("Unable to process data: content type archive needs a filesystem "
                          "volume, '%s' is a block volume",
                          c->block_path);
    if (configure_source(c, &exit_code))
        return exit_code;
    if (*env("IMPORTER_CHECKSUM")) {
        const char *s = env("IMPORTER_CHECKSUM");
        checksum = ferry_strndup(s, strcspn(s, ","));
        opts.checksum = checksum;
    }
    if (!c->block && !c->archive) {
        uint64_t avail;
        if (available_space(c, &avail) < 0)
            return fail_plain("Unable to process data: %s", ferry_error_message());
        opts.size = usable_space(c->overhead, avail);
        if (c->requested && c->requested < opts.size)
            opts.size = c->requested;
        if (opts.size == 0)
            return fail_plain("Unable to process data: volume '%s' has no usable space",
                              c->data_dir);
        ferry_log_debug(MOD, "volume size %llu (requested %llu, free %llu, overhead %g)",
                        (unsigned long long)opts.size, (unsigned long long)c->requested,
                        (unsigned long long)avail, c->overhead);
        ferry_sources_volume_size(opts.size);
    }
    /* CDI's data sources connect first: an unreachable endpoint is "Unable
     * to connect", not "Unable to process data". */
    if (strcmp(c->kind, "http") == 0 || strcmp(c->kind, "s3") == 0) {
        struct ferry_source *probe = NULL;
        if (ferry_source_open(c->url, &probe) < 0)
            return fail_plain("Unable to connect to %s data source: %s", c->kind,
                              ferry_error_message());
        ferry_source_free(probe);
    }
    ferry_progress_set_observer(progress_observer);
    if (ferry_import(&opts, &result) < 0) {
        FERRY_AUTOFREE char *msg = cdi_words(ferry_error_message());
        FERRY_AUTOFREE char *text = ferry_printf("Unable to process data: %s", msg);
        if (ferry_error_code() == FERRY_ERR_CHECKSUM) {
            ferry_log_error("%s", text);
            return finish_json(text, false, false);   /* fatal: no retry */
        }
        return fail_plain("%s", text);
    }
    if (!c->block && !c->archive && chmod(c->dest, 0660) < 0)
        return fail_plain("Unable to process data: '%s': %s", c->dest, strerror(errno));
    bool preallocated = false;
    if (c->preallocation && !c->archive) {
        if (c->block) {
            preallocated = true;   /* the sink wrote zeros where the image has none */
        } else if (preallocate_file(c->dest) < 0) {
            return fail_plain("Unable to process data: %s", ferry_error_message());
        } else {
            preallocated = true;
        }
    }
    const char *done = env("IMPORTER_DONE_FILE");
    if (*done) {
        int fd = open(done, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0)
            ferry_log_error("Failed creating file %s: %s", done, strerror(errno));
        else
            close(fd);
    }
    ferry_metrics_set_progress(100);
    return finish_json("Import Complete", true, preallocated);
}

/* ---- main ----------------------------------------------------------------- */

static const char *const cdi_kinds[] = { "http", "s3", "gcs", "registry", "imageio", "vddk",
                                         "none", NULL };

int
ferry_cdi_main(int argc, char **argv)
{
    struct cdi c = { .kind = env("IMPORTER_SOURCE") };
    const char *ctype = env("IMPORTER_CONTENTTYPE");
    int verbosity = 0, code;
    struct stat st;

    ferry_importer_process_init();
    for (int i = 1; i < argc; i++)
        klog_arg(argv[i], &verbosity);
    if (verbosity >= 3)
        ferry_log_set_debug("importer,importer.http,importer.s3,importer.registry,"
                            "importer.metrics");

    /* The metric first, as CDI's importer. */
    const char *port_s = env_or("FERRY_CDI_METRICS_PORT", "8443");
    char *end;
    long port = strtol(port_s, &end, 10);
    if (*end || port < 0 || port > 65535 ||
        ferry_metrics_start(env("FERRY_CDI_METRICS_ADDRESS"), (int)port, env("OWNER_UID")) < 0) {
        if (!ferry_error_message()[0])
            ferry_error(FERRY_ERR_INVALID, "FERRY_CDI_METRICS_PORT '%s': not a port", port_s);
        ferry_log_warn("no progress metric: %s", ferry_error_message());
        ferry_error_reset();
    }
    termination_open();
    ferry_log_info("Starting importer");

    if (parse_bool(env("PREALLOCATION"), &c.preallocation) < 0) {
        code = fail_plain("the PREALLOCATION environment variable is with a wrong value \"%s\"; "
                          "should be \"true\" or \"false\"",
                          env("PREALLOCATION"));
        goto out;
    }
    c.overhead = strtod(env("FILESYSTEM_OVERHEAD"), &end);
    if (*end || c.overhead < 0 || c.overhead >= 1)
        c.overhead = 0;   /* Go's ParseFloat error is ignored: no overhead */
    if (*env("IMPORTER_IMAGE_SIZE") &&
        ferry_quantity_parse_bytes(env("IMPORTER_IMAGE_SIZE"), &c.requested) < 0) {
        code = fail_plain("IMPORTER_IMAGE_SIZE '%s': %s", env("IMPORTER_IMAGE_SIZE"),
                          ferry_error_message());
        goto out;
    }
    if (*ctype && strcmp(ctype, "kubevirt") != 0 && strcmp(ctype, "archive") != 0) {
        code = fail_plain("Unsupported content type %s when importing from %s", ctype, c.kind);
        goto out;
    }
    c.archive = strcmp(ctype, "archive") == 0;
    c.data_dir = env_or("FERRY_CDI_DATA_DIR", "/data");
    c.block_path = env_or("FERRY_CDI_BLOCK_PATH", "/dev/cdi-block-volume");
    c.block = stat(c.block_path, &st) == 0;
    c.dest = c.block     ? ferry_strdup(c.block_path)
             : c.archive ? ferry_strdup(c.data_dir)
                         : ferry_printf("%s/disk.img", c.data_dir);
    if (c.block && !S_ISBLK(st.st_mode)) {
        code = fail_plain("Unable to process data: '%s' is not a block device", c.block_path);
        goto out;
    }
    /* A block volume's scratch files (a stream of a qcow2) go to TMPDIR: to
     * CDI's scratch volume when the pod has one. */
    struct stat sst;
    if (c.block && !getenv("TMPDIR") && stat("/scratch", &sst) == 0 && S_ISDIR(sst.st_mode))
        setenv("TMPDIR", "/scratch", 1);

    if (strcmp(c.kind, "none") == 0) {
        code = handle_blank(&c);
        goto out;
    }
    bool known = false;
    for (size_t i = 0; cdi_kinds[i]; i++)
        known |= strcmp(cdi_kinds[i], c.kind) == 0;
    if (!known) {
        code = fail_plain("Unknown data source: %s", c.kind);
        goto out;
    }
    c.ops = source_for_kind(c.kind);
    if (!c.ops) {
        FERRY_AUTOFREE char *kinds = ferry_sources_dv_kinds();
        code = fail_plain("Unable to connect to %s data source: ferry-importer has no %s source "
                          "(it imports %s and blank)",
                          c.kind, c.kind, kinds);
        goto out;
    }
    const char *ep = env("IMPORTER_ENDPOINT");
    if (strcmp(c.kind, "s3") == 0 &&
        (ferry_str_has_prefix(ep, "http://") || ferry_str_has_prefix(ep, "https://"))) {
        c.url = ferry_printf("s3+%s", ep);   /* CDI's S3 endpoint: a path-style URL */
    } else if (strcmp(c.kind, "imageio") == 0 && ferry_str_has_prefix(ep, "https://")) {
        /* CDI's engine API URL (https://ENGINE/ovirt-engine/api) and disk
         * id: the imageio source's imageio://ENGINE/PREFIX/api/disks/ID */
        const char *id = env("IMPORTER_DISK_ID");
        size_t n = strlen(ep);
        while (n > 8 && ep[n - 1] == '/')
            n--;
        if (!*id || strspn(id, "0123456789abcdefABCDEF-") != strlen(id)) {
            code = fail_plain("Unable to connect to imageio data source: IMPORTER_DISK_ID '%s': "
                              "expected a disk id (a UUID)",
                              id);
            goto out;
        }
        c.url = ferry_printf("imageio://%.*s/disks/%s", (int)(n - 8), ep + 8, id);
    } else {
        c.url = ferry_strdup(ep);
    }
    if (wait_ready_file(&c, &code))
        goto out;
    /* The endpoint is the kind's, never a path of the pod (the file source). */
    if (!c.ops->handles(c.url)) {
        FERRY_AUTOFREE char *schemes = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&schemes, &len);
        if (!f)
            ferry_oom();
        for (const char *const *sc = c.ops->schemes; sc && *sc; sc++)
            fprintf(f, "%s%s", sc == c.ops->schemes ? "" : ", ", *sc);
        fclose(f);
        code = fail_plain("Unable to connect to %s data source: endpoint '%s': expected a URL "
                          "starting with %s",
                          c.kind, c.url, strcmp(c.kind, "s3") == 0 ? "http://, https://, s3://"
                                                                   : schemes);
        goto out;
    }
    code = handle_import(&c);
out:
    secret_dir_remove();
    const char *linger = env("FERRY_CDI_METRICS_LINGER");
    if (*linger && atoi(linger) > 0)
        sleep(atoi(linger));
    ferry_metrics_stop();
    if (term_fd >= 0)
        close(term_fd);
    free(c.url);
    free(c.dest);
    return code;
}
