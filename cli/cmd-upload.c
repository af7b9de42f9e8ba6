/* `ferry image-upload dv NAME --image-path FILE [--size SIZE]`: virtctl's
 * image-upload for the embedded mode.  There is no upload proxy: the CLI is
 * on the machine, so it writes the volume itself, with the same importer and
 * under the same lock the controller uses.  The handshake:
 *
 *   1. the CLI creates the DataVolume with source {upload: {}} when --size is
 *      given (otherwise it must exist with an upload source);
 *   2. ferry-controller creates the volume directory and sets the phase
 *      UploadScheduled, then UploadReady;
 *   3. the CLI takes the flock on <volume>/import.lock, runs
 *      `ferry-importer --url FILE --dest <volume>/disk.img --progress json`,
 *      and on exit 0 writes <volume>/import.done holding the DV's uid;
 *   4. it annotates the DataVolume ferry.io/upload=done, which wakes the
 *      controller; that one sees import.done for this uid and disk.img and
 *      sets Succeeded (progress 100.0%).
 * A crash anywhere leaves either no done record (upload again) or one the
 * controller honours on its next pass. */
#include "cli/objects.h"
#include "cli/verbs.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/quantity.h"
#include "common/spawn.h"
#include "common/util.h"
#include "common/volume.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static int
wait_phase(struct ferry_store *st, const char *ns, const char *name, const char *want,
           int64_t timeout_ms, json_object **ret)
{
    uint64_t deadline = ferry_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

    for (;;) {
        FERRY_AUTOPTR(json_object) dv = NULL;
        const char *phase;

        if (ferry_store_get(st, ferry_resource_dv, ns, name, &dv) < 0)
            return -1;
        phase = ferry_json_get_string(dv, "status.phase");
        if (ferry_str_eq(phase, want)) {
            if (ret)
                *ret = FERRY_STEAL(dv);
            return 0;
        }
        if (ferry_str_eq(phase, "Failed"))
            return ferry_error(FERRY_ERR_INVALID, "DataVolume %s/%s failed: %s", ns, name,
                               ferry_json_get_string(ferry_condition_get(dv, "Ready"), "message")
                                   ?: "see ferry describe dv");
        if (ferry_now_ns() >= deadline)
            return ferry_error(FERRY_ERR_TIMEOUT,
                               "DataVolume %s/%s did not reach %s (phase '%s'); is ferry-controller "
                               "running? (ferry up)", ns, name, want, phase ? phase : "");
        usleep(200 * 1000);
    }
}

/* Run the importer; progress lines are shown on stderr when it is a terminal. */
static int
run_importer(const char *image, const char *dest, const char *size_bytes, int lock_fd)
{
    FERRY_AUTOFREE char *bin = cli_self_dir();
    FERRY_AUTOFREE char *importer = ferry_printf("%s/ferry-importer", bin);
    char abs[PATH_MAX];
    int out_fd;
    pid_t pid;
    int status;
    FILE *in;
    char line[4096];
    bool tty = isatty(2);

    if (!realpath(image, abs))
        return ferry_error_errno(FERRY_ERR_IO, errno, "image '%s'", image);
    if (access(importer, X_OK) < 0)
        return ferry_error(FERRY_ERR_NOTFOUND, "ferry-importer not found beside ferry ('%s')",
                           importer);
    {
        /* stdout is the progress pipe; the volume lock is fd 3. */
        char *argv[12];
        int n = 0;
        struct ferry_spawn_fd lock = { lock_fd, 3 };
        struct ferry_spawn_opts o = { .pipe_stdout = true, .fds = &lock, .n_fds = 1 };
        struct ferry_child child;

        argv[n++] = importer;
        argv[n++] = "--url";
        argv[n++] = abs;
        argv[n++] = "--dest";
        argv[n++] = (char *)dest;
        if (size_bytes) {
            argv[n++] = "--size";
            argv[n++] = (char *)size_bytes;
        }
        argv[n++] = "--progress";
        argv[n++] = "json";
        argv[n] = NULL;
        if (ferry_spawn(argv, &o, &child) < 0)
            return -1;
        pid = child.pid;
        out_fd = child.stdout_fd;
    }
    in = fdopen(out_fd, "r");
    while (in && fgets(line, sizeof line, in)) {
        FERRY_AUTOPTR(json_object) o = NULL;

        if (!tty || ferry_json_parse(line, strlen(line), "progress", &o) < 0) {
            ferry_error_reset();
            continue;
        }
        if (ferry_json_get_int(o, "bytes_total", 0) > 0)
            fprintf(stderr, "\r %6.2f%% ",
                    100.0 * (double)ferry_json_get_int(o, "bytes_done", 0) /
                        (double)ferry_json_get_int(o, "bytes_total", 1));
    }
    if (tty)
        fprintf(stderr, "\n");
    if (in)
        fclose(in);
    if (waitpid(pid, &status, 0) < 0)
        return ferry_error_errno(FERRY_ERR_IO, errno, "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return ferry_error(FERRY_ERR_IO, "ferry-importer failed (%s)",
                           WIFEXITED(status) ? "non-zero exit status" : "killed by a signal");
    return 0;
}

static int
upload(struct ferry_store *st, const char *ns, const char *name, const char *image,
       const char *size, bool create, int64_t wait_ms)
{
    FERRY_AUTOPTR(json_object) dv = NULL;
    FERRY_AUTOFREE char *dir = NULL;
    FERRY_AUTOFREE char *dest = NULL;
    bool busy;
    FERRY_AUTOFREE char *size_bytes = NULL;
    FERRY_AUTOCLOSE int lock_fd = -1;
    const char *sz;
    uint64_t b;

    if (size && ferry_quantity_parse_bytes(size, &b) < 0)
        return -1;
    if (ferry_store_get(st, ferry_resource_dv, ns, name, &dv) < 0) {
        FERRY_AUTOPTR(json_object) out = NULL;

        if (ferry_error_code() != FERRY_ERR_NOTFOUND)
            return -1;
        ferry_error_reset();
        if (!create || !size)
            return ferry_error(FERRY_ERR_NOTFOUND,
                               "DataVolume %s/%s not found; pass --size to create it", ns, name);
        dv = json_object_new_object();
        ferry_json_set_string(dv, "apiVersion", "cdi.kubevirt.io/v1beta1");
        ferry_json_set_string(dv, "kind", "DataVolume");
        ferry_json_set_string(dv, "metadata.name", name);
        ferry_json_set_string(dv, "metadata.namespace", ns);
        ferry_json_set(dv, "spec.source.upload", json_object_new_object());
        ferry_json_set_string(dv, "spec.storage.resources.requests.storage", size);
        if (ferry_store_create(st, dv, &out) < 0)
            return -1;
        printf("DataVolume %s/%s created\n", ns, name);
    } else {
        const char *phase = ferry_json_get_string(dv, "status.phase");

        if (!ferry_json_get(dv, "spec.source.upload"))
            return ferry_error(FERRY_ERR_INVALID,
                               "DataVolume %s/%s does not have an upload source", ns, name);
        if (ferry_str_eq(phase, "Succeeded"))
            return ferry_error(FERRY_ERR_EXISTS, "DataVolume %s/%s already successfully imported",
                               ns, name);
        printf("Using existing DataVolume %s/%s\n", ns, name);
    }
    json_object_put(dv);
    dv = NULL;
    printf("Waiting for DataVolume %s/%s to be UploadReady...\n", ns, name);
    fflush(stdout);
    if (wait_phase(st, ns, name, "UploadReady", wait_ms, &dv) < 0)
        return -1;

    dir = ferry_volume_dir(ferry_state_dir(), ns, name);
    dest = ferry_volume_file(ferry_state_dir(), ns, name, FERRY_VOLUME_DISK);
    if (!dir || !dest)
        return -1;
    if (ferry_volume_mkdir(ferry_state_dir(), ns, name) < 0)
        return -1;
    lock_fd = ferry_volume_lock(ferry_state_dir(), ns, name, &busy);
    if (lock_fd < 0)
        return busy ? ferry_error(FERRY_ERR_EXISTS,
                                  "volume '%s' is busy: another upload is running", dir)
                    : -1;
    sz = size ? size : ferry_json_get_string(dv, "spec.storage.resources.requests.storage");
    if (!sz)
        sz = ferry_json_get_string(dv, "spec.pvc.resources.requests.storage");
    if (sz && ferry_quantity_parse_bytes(sz, &b) == 0)
        size_bytes = ferry_printf("%llu", (unsigned long long)b);
    ferry_error_reset();
    {
        FERRY_AUTOCLOSE int dfd = ferry_volume_open(ferry_state_dir(), ns, name, NULL,
                                                    O_RDONLY | O_DIRECTORY, 0);
        if (dfd < 0)
            return -1;
        unlinkat(dfd, FERRY_VOLUME_DONE, 0);
    }
    printf("Uploading data from %s\n", image);
    fflush(stdout);
    if (run_importer(image, dest, size_bytes, lock_fd) < 0)
        return -1;
    if (ferry_volume_write_done(ferry_state_dir(), ns, name, ferry_obj_uid(dv)) < 0)
        return -1;
    printf("Uploading data completed successfully, waiting for processing to complete\n");
    fflush(stdout);
    for (int attempt = 0; attempt < 10; attempt++) {
        FERRY_AUTOPTR(json_object) cur = NULL;
        FERRY_AUTOPTR(json_object) out = NULL;

        if (ferry_store_get(st, ferry_resource_dv, ns, name, &cur) < 0)
            return -1;
        ferry_obj_set_annotation(cur, "ferry.io/upload", "done");
        if (ferry_store_update(st, cur, &out) == 0)
            break;
        if (ferry_error_code() != FERRY_ERR_CONFLICT)
            return -1;
        ferry_error_reset();
    }
    if (wait_phase(st, ns, name, "Succeeded", wait_ms, NULL) < 0)
        return -1;
    printf("Processing completed successfully\n");
    printf("Uploading %s completed successfully\n", image);
    return 0;
}

int
cmd_image_upload(int argc, char **argv)
{
    static const struct option opts[] = {
        { "image-path", required_argument, NULL, 'i' },
        { "size", required_argument, NULL, 's' },
        CLI_OPT_NAMESPACE,
        { "no-create", no_argument, NULL, 'N' },
        { "wait-secs", required_argument, NULL, 'w' },
        { "insecure", no_argument, NULL, 'k' },
        { "uploadproxy-url", required_argument, NULL, 'u' },
        { "force-bind", no_argument, NULL, 'b' },
        FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_END,
    };
    const char *image = NULL, *size = NULL, *ns = NULL;
    bool create = true;
    int64_t wait_ms = 300000;
    struct ferry_store *st;
    int c, r;

    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            image = optarg;
            break;
        case 's':
            size = optarg;
            break;
        case 'N':
            create = false;
            break;
        case 'w':
            wait_ms = (int64_t)atoi(optarg) * 1000;
            break;
        case 'k':
        case 'u':
        case 'b':
            break; /* virtctl flags with no meaning without an upload proxy */
        default:
            if ((c = cli_common_option(c, argv, &ns,
                                       "Usage: ferry image-upload dv NAME --image-path FILE "
                                       "[--size SIZE] [-n NS]\n"
                                       "                          [--no-create] [--wait-secs N]\n\n"
                                       "Write a local disk image into a DataVolume with an upload "
                                       "source; with --size\n"
                                       "the DataVolume is created.  ferry-controller must be "
                                       "running (ferry up).\n")) != CLI_OPT_NEXT)
                return c;
        }
    }
    if (argc - optind != 2 || (strcmp(argv[optind], "dv") != 0 &&
                               strcmp(argv[optind], "pvc") != 0)) {
        fprintf(stderr, "error: usage: ferry image-upload dv NAME --image-path FILE [--size SIZE]\n");
        return 2;
    }
    if (!image) {
        fprintf(stderr, "error: --image-path is required\n");
        return 2;
    }
    if (!(st = cli_store_open()))
        return 1;
    r = upload(st, cli_namespace(ns), argv[optind + 1], image, size, create, wait_ms);
    if (r < 0) {
        fprintf(stderr, "error: %s\n", ferry_error_message());
        ferry_error_reset();
    }
    ferry_store_free(st);
    return r < 0 ? 1 : 0;
}
