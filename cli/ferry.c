/* ferry: the front door (kubectl's and virtctl's verbs for Ferry).
 *
 * Dispatch is a table of verbs in git's manner: each entry names the verb,
 * its one-line summary, and the function in the verb group's file.  Global
 * options come before the verb; everything after it belongs to the verb. */
#include "cli/verbs.h"
#include "common/error.h"
#include "common/log.h"
#include "common/main-options.h"
#include "common/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct verb verbs[] = {
    /* Manifests and objects (cmd-apply.c, cmd-get.c, cmd-describe.c, cmd-delete.c,
     * cmd-wait.c) */
    { "apply", cmd_apply, "create or update objects from manifests (-f FILE|DIR|-)" },
    { "get", cmd_get, "list objects: vm, vmi, dv, node, event" },
    { "describe", cmd_describe, "show an object with its conditions and events" },
    { "delete", cmd_delete, "delete objects" },
    { "wait", cmd_wait, "wait for a condition, a field value or deletion" },
    { "image-upload", cmd_image_upload, "upload a local image into a DataVolume" },
    { "up", cmd_up, "start ferry-controller and ferry-handler in the background" },
    { "down", cmd_down, "stop ferry-controller and ferry-handler" },
    /* Virtual machines (cmd-vm.c) */
    { "start", cmd_start, "start a VirtualMachine" },
    { "stop", cmd_stop, "stop a VirtualMachine" },
    { "restart", cmd_restart, "restart a VirtualMachine" },
    /* The node (cmd-node.c) */
    { "console", cmd_console, "attach to a VM's serial console (Ctrl-] leaves)" },
    { "vnc", cmd_vnc, "print a VM's VNC socket, or serve it on 127.0.0.1 (--port)" },
    { "pause", cmd_pause, "pause a running VM" },
    { "unpause", cmd_unpause, "resume a paused VM" },
    /* Other programs (cmd-exec.c) */
    { "import", cmd_import, "import a disk image into a volume (ferry-importer)" },
    { "convert", cmd_convert, "convert a legacy VM definition (ferry-converter)" },
    { NULL, NULL, NULL },
};

static void
usage(FILE *f)
{
    fprintf(f,
            "Usage: ferry [--state-dir DIR] [--debug MODULES] VERB [ARGS...]\n"
            "\n"
            "Run legacy virtual machines as KubeVirt VirtualMachines, on one machine.\n"
            "\n"
            "Verbs:\n");
    for (const struct verb *v = verbs; v->name; v++)
        fprintf(f, "  %-14s %s\n", v->name, v->summary);
    fprintf(f,
            "\n"
            "Options:\n"
            "  --state-dir DIR   state directory (default /var/lib/ferry as root, or $FERRY_STATE_DIR)\n"
            "  --kubeconfig FILE use the Kubernetes API server of FILE instead of the state\n"
            "                    directory's store (the kube store; KUBECONFIG alone does not)\n"
            "  --debug MODULES   debug output for these modules (comma-separated, or 'all')\n"
            "  -h, --help        show this help\n"
            "  --version         show the version\n"
            "\n"
            "'ferry VERB --help' describes a verb.\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_VERSION,
        FERRY_MAIN_OPT_STATE_DIR,
        FERRY_MAIN_OPT_DEBUG,
        FERRY_MAIN_OPT_KUBECONFIG,
        FERRY_MAIN_OPT_END,
    };
    int c;

    ferry_log_init("ferry");
    /* '+': stop at the verb; ':': we print our own message for bad options. */
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ferry %s\n", FERRY_VERSION);
            return 0;
        case 's':
            setenv("FERRY_STATE_DIR", optarg, 1);
            break;
        case 'k': {
            char *where = ferry_printf("kube:%s", optarg);
            setenv("FERRY_STORE", where, 1); /* ferry_store_open(NULL) */
            free(where);
            break;
        }
        case 'd':
            ferry_log_set_debug(optarg);
            setenv("FERRY_DEBUG", optarg, 1);
            break;
        case ':':
            fprintf(stderr, "ferry: option '%s' needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "ferry: unknown option '%s'; see 'ferry --help'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    for (const struct verb *v = verbs; v->name; v++)
        if (strcmp(v->name, argv[optind]) == 0) {
            int first = optind;

            optind = 0; /* glibc: verbs run their own getopt, reinitialized */
            return v->fn(argc - first, argv + first);
        }
    fprintf(stderr, "ferry: '%s' is not a ferry verb; see 'ferry --help'\n", argv[optind]);
    return 2;
}
