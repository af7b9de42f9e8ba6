/* The verbs that reach a VMI on this node (virtctl's console, vnc, pause,
 * unpause).  They talk to the node directly: the serial console and VNC are
 * unix sockets made by qemu in <state-dir>/vmis/<ns>/<name>/, pause and
 * unpause go to the VMI's ferry-launcher over launcher.sock (protocol in
 * launcher/launcher.c); the handler then writes the Paused condition. */
#include "cli/objects.h"
#include "cli/verbs.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/object.h"
#include "common/store/store.h"
#include "common/util.h"
#include "common/volume.h"
#include "proto/console.h"
#include "proto/proto.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node_args {
    const char *ns;
    const char *name;
    int timeout;     /* seconds, 0 none */
    int port;        /* vnc --port */
    double linger;   /* console: seconds of output after stdin EOF */
    bool proxy_only;
};

static int
parse(int argc, char **argv, const char *usage, bool console, bool vnc, struct node_args *a)
{
    static const struct option opts[] = {
        CLI_OPT_NAMESPACE,                             { "timeout", required_argument, NULL, 't' },
        { "port", required_argument, NULL, 'p' },      { "linger", required_argument, NULL, 'l' },
        { "proxy-only", no_argument, NULL, 'P' },      FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_END,
    };
    int c;

    a->ns = "default";
    a->linger = 2;
    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': a->ns = optarg; break;
        case 't':
            if (!console) goto bad;
            a->timeout = atoi(optarg);
            break;
        case 'l':
            if (!console) goto bad;
            a->linger = atof(optarg);
            break;
        case 'p':
            if (!vnc) goto bad;
            a->port = atoi(optarg);
            if (a->port <= 0 || a->port > 65535) {
                fprintf(stderr, "ferry %s: --port '%s' is not a TCP port\n", argv[0], optarg);
                return -1;
            }
            break;
        case 'P':
            if (!vnc) goto bad;
            a->proxy_only = true;
            break;
        case 'h': printf("%s", usage); exit(0);
        case ':': fprintf(stderr, "ferry %s: option '%s' needs a value\n", argv[0], argv[optind - 1]); return -1;
        default:
        bad:
            fprintf(stderr, "ferry %s: unknown option '%s'; see 'ferry %s --help'\n", argv[0],
                    argv[optind - 1], argv[0]);
            return -1;
        }
    }
    /* virtctl style: "pause vm NAME" / "pause vmi NAME" */
    if (optind < argc && (strcmp(argv[optind], "vm") == 0 || strcmp(argv[optind], "vmi") == 0) &&
        optind + 1 < argc)
        optind++;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s", usage);
        return -1;
    }
    a->name = argv[optind];
    /* ns and name become a path under the state directory: refuse what the
     * store would never hold before anything is looked up */
    if (ferry_state_check(a->ns, a->name) < 0) {
        fprintf(stderr, "ferry %s: %s\n", argv[0], ferry_error_message());
        return -1;
    }
    return 0;
}

static char *
vmi_path(const struct node_args *a, const char *file)
{
    return ferry_state_path(ferry_state_dir(), FERRY_AREA_VMIS, a->ns, a->name, file);
}

/* A clear message when the socket is not there: no such VMI, or not running here. */
static int
not_running(const struct node_args *a, const char *what)
{
    struct ferry_store *st = NULL;
    FERRY_AUTOPTR(json_object) vmi = NULL;

    if (ferry_store_open_existing(NULL, &st) < 0) {
        fprintf(stderr, "ferry: %s\n", ferry_error_message());
        ferry_error_reset();
        return 1;
    }
    if (ferry_store_get(st, ferry_resource_lookup("vmi"), a->ns, a->name, &vmi) < 0 &&
        ferry_error_code() == FERRY_ERR_NOTFOUND) {
        ferry_store_free(st);
        fprintf(stderr, "ferry: virtualmachineinstance '%s/%s' not found\n", a->ns, a->name);
        return 1;
    }
    ferry_store_free(st);
    fprintf(stderr, "ferry: VMI '%s/%s' has no %s on this node (phase %s)\n", a->ns, a->name, what,
            vmi && ferry_json_get_string(vmi, "status.phase") ? ferry_json_get_string(vmi, "status.phase")
                                                               : "unknown");
    return 1;
}

/* The verb's arguments into *A, and into *RET_SOCK the path of the VMI's
 * socket FILE when it is there; else the verb's exit code: 2 for bad
 * arguments, 1 when the VMI has no WHAT on this node (said on stderr). */
static int
vmi_socket(int argc, char **argv, const char *usage, bool console, bool vnc, const char *file,
           const char *what, struct node_args *a, char **ret_sock)
{
    FERRY_AUTOFREE char *sock = NULL;

    if (parse(argc, argv, usage, console, vnc, a) < 0)
        return 2;
    sock = vmi_path(a, file);
    if (access(sock, F_OK) != 0)
        return not_running(a, what);
    *ret_sock = FERRY_STEAL(sock);
    return 0;
}

int
cmd_console(int argc, char **argv)
{
    static const char usage[] =
        "Usage: ferry console [-n NAMESPACE] [--timeout SECONDS] [--linger SECONDS] VM\n"
        "\n"
        "Attach to the serial console of VM's running instance.  On a terminal: raw\n"
        "mode, Ctrl-] leaves.  With a pipe: stdin goes to the guest, the guest's output\n"
        "to stdout; after stdin ends the output is shown for --linger seconds (2).\n"
        "--timeout ends the session after that many seconds.\n";
    struct node_args a = { 0 };
    FERRY_AUTOFREE char *sock = NULL;
    int rc =
        vmi_socket(argc, argv, usage, true, false, "console.sock", "serial console", &a, &sock);

    if (rc)
        return rc;
    if (ferry_console_attach(sock, 0, 1, a.timeout * 1000, (int)(a.linger * 1000)) < 0) {
        ferry_log_last_error();
        return 1;
    }
    return 0;
}

int
cmd_vnc(int argc, char **argv)
{
    static const char usage[] =
        "Usage: ferry vnc [-n NAMESPACE] [--port PORT] VM\n"
        "\n"
        "Without --port: print the path of VM's VNC unix socket (for a VNC viewer\n"
        "that speaks unix sockets).  With --port: serve it on 127.0.0.1:PORT until\n"
        "interrupted.\n";
    struct node_args a = { 0 };
    FERRY_AUTOFREE char *sock = NULL;
    int rc = vmi_socket(argc, argv, usage, false, true, "vnc.sock", "VNC display", &a, &sock);

    if (rc)
        return rc;
    if (!a.port) {
        printf("%s\n", sock);
        return 0;
    }
    fprintf(stderr, "ferry vnc: serving %s/%s's display on 127.0.0.1:%d (Ctrl-C stops)\n", a.ns,
            a.name, a.port);
    if (ferry_console_proxy_tcp(sock, a.port) < 0) {
        ferry_log_last_error();
        return 1;
    }
    return 0;
}

static int
pause_op(int argc, char **argv, const char *op, const char *cond_status)
{
    FERRY_AUTOFREE char *usage = ferry_printf("Usage: ferry %s [-n NAMESPACE] [vm|vmi] NAME\n"
                                              "\n%s the running instance of a VM (virtctl %s).\n",
                                              op, strcmp(op, "pause") == 0 ? "Pause" : "Resume", op);
    struct node_args a = { 0 };
    FERRY_AUTOFREE char *sock = NULL;
    FERRY_AUTOPTR(json_object) req = json_object_new_object();
    FERRY_AUTOPTR(json_object) reply = NULL;
    struct ferry_store *st = NULL;
    int rc = vmi_socket(argc, argv, usage, false, false, "launcher.sock", "launcher", &a, &sock);

    if (rc)
        return rc;
    json_object_object_add(req, "op", json_object_new_string(op));
    if (ferry_proto_call(sock, req, 30000, &reply) < 0) {
        ferry_log_last_error();
        return 1;
    }
    /* Wait (briefly) until the handler has written the Paused condition. */
    if (ferry_store_open_existing(NULL, &st) == 0) {
        uint64_t deadline = ferry_now_ns() + 10ULL * 1000000000ULL;
        while (ferry_now_ns() < deadline) {
            FERRY_AUTOPTR(json_object) vmi = NULL;
            if (ferry_store_get(st, ferry_resource_lookup("vmi"), a.ns, a.name, &vmi) < 0)
                break;
            if ((cond_status != NULL) == ferry_condition_is_true(vmi, "Paused"))
                break;
            usleep(50000);
        }
        ferry_store_free(st);
    }
    printf("VMI %s was scheduled to %s\n", a.name, op);
    return 0;
}

int
cmd_pause(int argc, char **argv)
{
    return pause_op(argc, argv, "pause", "True");
}

int
cmd_unpause(int argc, char **argv)
{
    return pause_op(argc, argv, "unpause", NULL);
}
