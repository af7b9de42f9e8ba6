/* `ferry up` / `ferry down`: start and stop the embedded control plane of a
 * state directory: ferry-controller and ferry-handler, the binaries beside
 * `ferry`, as daemons (own session) with pid files in <state>/run and logs in
 * <state>/logs.  Both verbs are idempotent: a daemon whose pid file names a
 * live process of that program is left alone (up) or is the one stopped
 * (down). */
#include "cli/objects.h"
#include "cli/verbs.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/spawn.h"
#include "common/store/store.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const daemons[] = { "ferry-controller", "ferry-handler" };

static char *
pid_path(const char *prog)
{
    return ferry_printf("%s/run/%s.pid", ferry_state_dir(), prog);
}

/* The pid in PROG's pid file when that process is alive and is PROG. */
static pid_t
running_pid(const char *prog)
{
    FERRY_AUTOFREE char *path = pid_path(prog);

    return ferry_pidfile_read_program(path, prog);
}

static int
start_daemon(const char *prog, char **argv)
{
    FERRY_AUTOFREE char *logdir = ferry_printf("%s/logs", ferry_state_dir());
    FERRY_AUTOFREE char *rundir = ferry_printf("%s/run", ferry_state_dir());
    FERRY_AUTOFREE char *logp = ferry_printf("%s/%s.log", logdir, prog);
    FERRY_AUTOFREE char *pidp = pid_path(prog);
    pid_t pid;

    if (ferry_mkdir_p(logdir, 0755) < 0 || ferry_mkdir_p(rundir, 0755) < 0)
        return -1;
    {
        /* Its own session, stdin from /dev/null, output to its log: the
         * daemon outlives us (init adopts it when we exit) and a terminal
         * hang-up does not reach it.  JSON logs unless the user chose. */
        char *json_log[] = { "FERRY_LOG_FORMAT=json", NULL };
        struct ferry_spawn_opts o = { .stdin_null = true, .stdout_file = logp, .new_session = true,
                                      .env = getenv("FERRY_LOG_FORMAT") ? NULL : json_log };
        struct ferry_child child;

        if (ferry_spawn(argv, &o, &child) < 0)
            return -1;
        pid = child.pid;
        if (ferry_pidfile_write(pidp, pid) < 0) {
            ferry_child_stop(&child, 2000);
            return -1;
        }
    }
    /* Give it a moment to fail on bad options or an unusable store. */
    usleep(300 * 1000);
    if (!running_pid(prog)) {
        FERRY_AUTOFREE char *log = NULL;
        size_t len;

        if (ferry_file_read(logp, 1 << 20, &log, &len) == 0 && len > 0) {
            const char *tail = len > 2000 ? log + len - 2000 : log;

            fprintf(stderr, "%s", tail);
        }
        ferry_error_reset();
        return ferry_error(FERRY_ERR_IO, "%s exited right after the start; log: %s", prog, logp);
    }
    printf("%s started (pid %d, log %s)\n", prog, (int)running_pid(prog), logp);
    return 0;
}

/* The handler's verdict on KVM (the Node condition KVM, written once per
 * handler start after its probe guests ran; see ferry-handler(1)): wait for
 * it a while and say it, so that a node that will fail or emulate its VMs
 * says so where the user looks. */
static void
show_kvm_verdict(time_t since)
{
    char host[256];
    struct ferry_store *st = NULL;
    const struct ferry_resource *res = ferry_resource_lookup("node");

    if (gethostname(host, sizeof host) < 0 || !res || ferry_store_open(NULL, &st) < 0) {
        ferry_error_reset();
        return;
    }
    host[sizeof host - 1] = '\0';
    for (int i = 0; i < 600; i++) { /* the probe guests take up to 2 x 20 s */
        FERRY_AUTOPTR(json_object) node = NULL;
        json_object *cond = NULL;
        const char *status = NULL;

        if (ferry_store_get(st, res, NULL, host, &node) == 0) {
            /* a Node left by an earlier handler still says what that one found */
            const char *hb = ferry_json_get_string(ferry_condition_get(node, "Ready"),
                                                   "lastHeartbeatTime");
            time_t t = 0;
            if (!hb || ferry_time_parse_rfc3339(hb, &t) < 0 || t + 1 >= since) {
                cond = ferry_condition_get(node, "KVM");
                status = ferry_json_get_string(cond, "status");
            }
            ferry_error_reset();
        } else {
            ferry_error_reset();
        }
        if (status && !ferry_str_eq(ferry_json_get_string(cond, "reason"), "Probing")) {
            printf("KVM: %s\n", ferry_json_get_string(cond, "message"));
            break;
        }
        if (i % 10 == 9 && !running_pid("ferry-handler")) {
            printf("KVM: ferry-handler exited before it decided (see its log)\n");
            break;
        }
        if (i == 10)
            printf("waiting for ferry-handler's KVM probe ...\n");
        if (i == 10 || i == 599)
            fflush(stdout);
        if (i == 599)
            printf("KVM: ferry-handler has not decided yet (see its log)\n");
        usleep(100 * 1000);
    }
    ferry_store_free(st);
}

/* The feature gates Ferry's admission knows (KubeVirt's names). */
static const char *const known_gates[] = { "HostDisk", "Sidecar" };

/* Write LIST ("A,B", "" for none) into the KubeVirt CR kubevirt/kubevirt,
 * which admission reads (common/admission.h). */
static int
set_feature_gates(const char *list)
{
    FERRY_AUTOFREE char *copy = ferry_strdup(list);
    char *save = NULL;
    struct ferry_store *st;
    json_object *arr = json_object_new_array();
    int r = -1;

    for (char *g = strtok_r(copy, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; i < FERRY_ARRAY_SIZE(known_gates); i++)
            known |= strcmp(g, known_gates[i]) == 0;
        if (!known) {
            json_object_put(arr);
            return ferry_error(FERRY_ERR_INVALID, "--feature-gates: unknown feature gate \"%s\" "
                               "(ferry knows HostDisk, Sidecar)", g);
        }
        json_object_array_add(arr, json_object_new_string(g));
    }
    if (ferry_store_open(NULL, &st) < 0) {
        json_object_put(arr);
        return -1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        FERRY_AUTOPTR(json_object) kv = NULL;

        if (ferry_store_get(st, ferry_resource_namespace, NULL, "kubevirt", &kv) < 0) {
            FERRY_AUTOPTR(json_object) ns = json_object_new_object();

            ferry_error_reset();
            ferry_json_set_string(ns, "apiVersion", "v1");
            ferry_json_set_string(ns, "kind", "Namespace");
            ferry_json_set_string(ns, "metadata.name", "kubevirt");
            if (ferry_store_create(st, ns, NULL) < 0 && ferry_error_code() != FERRY_ERR_EXISTS)
                break;
            ferry_error_reset();
        }
        json_object_put(kv);
        kv = NULL;
        if (ferry_store_get(st, ferry_resource_kubevirt, "kubevirt", "kubevirt", &kv) < 0) {
            ferry_error_reset();
            kv = json_object_new_object();
            ferry_json_set_string(kv, "apiVersion", "kubevirt.io/v1");
            ferry_json_set_string(kv, "kind", "KubeVirt");
            ferry_json_set_string(kv, "metadata.name", "kubevirt");
            ferry_json_set_string(kv, "metadata.namespace", "kubevirt");
            ferry_json_set(kv, "spec.configuration.developerConfiguration.featureGates",
                           json_object_get(arr));
            if (ferry_store_create(st, kv, NULL) == 0) {
                r = 0;
                break;
            }
        } else {
            ferry_json_set(kv, "spec.configuration.developerConfiguration.featureGates",
                           json_object_get(arr));
            if (ferry_store_update(st, kv, NULL) == 0) {
                r = 0;
                break;
            }
        }
        if (ferry_error_code() != FERRY_ERR_CONFLICT && ferry_error_code() != FERRY_ERR_EXISTS)
            break;
        ferry_error_reset();
    }
    json_object_put(arr);
    ferry_store_free(st);
    if (r == 0)
        printf("feature gates: %s\n", *list ? list : "(none)");
    return r;
}

int
cmd_up(int argc, char **argv)
{
    static const struct option opts[] = {
        { "allow-emulation", no_argument, NULL, 'e' },
        { "libvirt-uri", required_argument, NULL, 'u' },
        { "feature-gates", required_argument, NULL, 'g' },
        FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_END,
    };
    const char *uri = NULL, *gates = NULL;
    bool emulation = false;
    const char *state = ferry_state_dir();
    time_t started = 0;
    bool handler_started = false;
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            emulation = true;
            break;
        case 'u':
            uri = optarg;
            break;
        case 'g':
            gates = optarg;
            break;
        case 'h':
            printf("Usage: ferry up [--allow-emulation] [--libvirt-uri URI] [--feature-gates "
                   "LIST]\n\n"
                   "Start ferry-controller and ferry-handler for the state directory (%s)\n"
                   "in the background; logs in <state>/logs, pid files in <state>/run.\n"
                   "--feature-gates HostDisk,Sidecar turns on KubeVirt's feature gates of those\n"
                   "names (stored in the KubeVirt CR kubevirt/kubevirt; \"\" turns all off;\n"
                   "without the option the stored gates stay as they are).\n", state);
            return 0;
        default:
            return cli_option_error(c, argv);
        }
    }
    if (ferry_mkdir_p(state, 0755) < 0) {
        fprintf(stderr, "error: %s\n", ferry_error_message());
        return 1;
    }
    {
        /* the store exists once `ferry up` returns: readers do not create one */
        struct ferry_store *st = NULL;

        if (ferry_store_open(NULL, &st) < 0) {
            fprintf(stderr, "error: %s\n", ferry_error_message());
            return 1;
        }
        ferry_store_free(st);
    }
    if (gates && set_feature_gates(gates) < 0) {
        fprintf(stderr, "error: %s\n", ferry_error_message());
        return 1;
    }
    for (size_t i = 0; i < FERRY_ARRAY_SIZE(daemons); i++) {
        const char *prog = daemons[i];
        if (i == 1)
            started = time(NULL);
        FERRY_AUTOFREE char *dir = cli_self_dir();
        FERRY_AUTOFREE char *path = ferry_printf("%s/%s", dir, prog);
        FERRY_AUTOSTRV char **args = NULL;
        pid_t pid = running_pid(prog);

        if (pid) {
            printf("%s is already running (pid %d)\n", prog, (int)pid);
            continue;
        }
        if (access(path, X_OK) < 0) {
            printf("%s is missing (not built or not installed beside ferry: %s); not started\n",
                   prog, path);
            if (i == 0)
                rc = 1;
            continue;
        }
        ferry_strv_push(&args, path);
        ferry_strv_push(&args, "--state-dir");
        ferry_strv_push(&args, state);
        {
            /* the embedded store, also when KUBECONFIG is in our environment
             * (it would select the kube store for the daemons) */
            FERRY_AUTOFREE char *where = ferry_printf("sqlite:%s", state);
            ferry_strv_push(&args, "--store");
            ferry_strv_push(&args, where);
        }
        if (i == 1) {
            if (emulation)
                ferry_strv_push(&args, "--allow-emulation");
            if (uri) {
                ferry_strv_push(&args, "--libvirt-uri");
                ferry_strv_push(&args, uri);
            }
        }
        if (start_daemon(prog, args) < 0) {
            fprintf(stderr, "error: %s\n", ferry_error_message());
            ferry_error_reset();
            rc = 1;
        } else if (i == 1) {
            handler_started = true;
        }
    }
    if (running_pid("ferry-handler"))
        show_kvm_verdict(handler_started ? started : 0);
    return rc;
}

int
cmd_down(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("Usage: ferry down\n\nStop the ferry-handler and ferry-controller of the state "
               "directory (SIGTERM, SIGKILL after 15 s).\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "error: unknown argument '%s'\n", argv[1]);
        return 2;
    }
    for (size_t k = FERRY_ARRAY_SIZE(daemons); k-- > 0;) {
        const char *prog = daemons[k];
        FERRY_AUTOFREE char *pidp = pid_path(prog);
        pid_t pid = running_pid(prog);

        if (!pid) {
            printf("%s is not running\n", prog);
            unlink(pidp);
            continue;
        }
        kill(pid, SIGTERM);
        for (int i = 0; i < 150 && running_pid(prog) == pid; i++)
            usleep(100 * 1000);
        if (running_pid(prog) == pid) {
            kill(pid, SIGKILL);
            for (int i = 0; i < 50 && running_pid(prog) == pid; i++)
                usleep(100 * 1000);
        }
        unlink(pidp);
        printf("%s stopped (pid %d)\n", prog, (int)pid);
    }
    return 0;
}
