/* ferry-controller: parse options, run the reconcile loop (controller.h)
 * until SIGTERM or SIGINT. */
#include "controller/controller.h"
#include "common/store/store.h"
#include "common/error.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/main-options.h"
#include "common/util.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    stop_requested = 1;
}

static void
usage(FILE *f)
{
    fprintf(f,
            "Usage: ferry-controller [OPTIONS]\n"
            "\n"
            "Reconcile DataVolumes (import jobs), VirtualMachines (run strategies -> VMIs)\n"
            "and VMI placement for one Ferry state directory.\n"
            "\n"
            "Options:\n"
            "  --state-dir DIR        state directory (default: $FERRY_STATE_DIR or /var/lib/ferry)\n");
    ferry_main_store_usage(f, 23);
    fprintf(f,
            "                         With the kube store: PVCs and importer Jobs for\n"
            "                         DataVolumes, launcher Pods for VMIs\n"
            "  --importer PATH        ferry-importer to run (default: beside this program)\n"
            "  --converter PATH       ferry-converter for guest conversions (default: beside\n"
            "                         this program)\n"
            "  --max-imports N        concurrent import jobs (default 2)\n"
            "  --import-retries N     failed attempts before a DataVolume is Failed (default 5)\n"
            "  --import-backoff MS    first retry delay in ms, doubling per failure (default 10000)\n"
            "  --resync MS            full resync period in ms (default 30000)\n"
            "  --vm-backoff S         first VM start-failure back-off in seconds (default 10)\n"
            "  --importer-image IMG   the importer Jobs' image (default ferry/ferry-importer:VERSION)\n"
            "  --launcher-image IMG   the launcher Pods' image (default ferry/ferry-launcher:VERSION)\n"
            "  --converter-image IMG  the guest conversion Jobs' image\n"
            "                         (default ferry/ferry-converter:VERSION)\n"
            "  --leader-elect[=BOOL]  take part in leader election over a coordination.k8s.io\n"
            "                         Lease before reconciling (default: on with a kube store,\n"
            "                         off with SQLite); a replica that loses it exits 1\n"
            "  --leader-elect-resource-namespace NS   the Lease's namespace (default\n"
            "                         $POD_NAMESPACE, else kube-system)\n"
            "  --leader-elect-resource-name NAME      the Lease's name (default ferry-controller)\n"
            "  --leader-elect-identity ID             this replica's holderIdentity (default\n"
            "                         $POD_NAME, else <hostname>_<random uuid>)\n"
            "  --leader-elect-lease-duration D        15s; --leader-elect-renew-deadline D 10s;\n"
            "  --leader-elect-retry-period D          2s (D: N, Ns or Nms)\n"
            "  --debug MODULES        debug output for these modules\n"
            "  -h, --help             show this help\n"
            "  --version              show the version\n");
}

/* "15", "15s", "500ms" -> milliseconds. */
static int
duration_arg(const char *opt, const char *s, int *ret_ms)
{
    char *end;
    long v = strtol(s, &end, 10);
    long mul = 1000;

    if (end != s && strcmp(end, "ms") == 0)
        mul = 1;
    else if (end != s && (*end == '\0' || strcmp(end, "s") == 0))
        mul = 1000;
    else
        end = NULL;
    if (!end || v <= 0 || v > INT_MAX / 1000) {
        fprintf(stderr, "ferry-controller: %s: '%s' is not a duration (N, Ns or Nms)\n", opt, s);
        return -1;
    }
    *ret_ms = (int)(v * mul);
    return 0;
}

static int
bool_arg(const char *opt, const char *s, int *ret)
{
    if (!s || strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *ret = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *ret = 0;
    else {
        fprintf(stderr, "ferry-controller: %s: '%s' is not true or false\n", opt, s);
        return -1;
    }
    return 0;
}

/* "--NAME" of the option whose getopt_long() answer is VAL. */
static char *
option_flag(const struct option *opts, int val)
{
    while (opts->name && opts->val != val)
        opts++;
    return ferry_printf("--%s", opts->name ? opts->name : "?");
}

int
main(int argc, char **argv)
{
    enum { O_IMPORTER = 256, O_MAX, O_RETRIES, O_BACKOFF, O_RESYNC, O_VMB, O_LE, O_LE_NS,
           O_LE_NAME, O_LE_DUR, O_LE_RENEW, O_LE_RETRY, O_LE_ID, O_IMP_IMG, O_LAU_IMG,
           O_CONVERTER, O_CONV_IMG };
    static const struct option opts[] = {
        FERRY_MAIN_OPT_STATE_DIR,
        FERRY_MAIN_OPT_STORE,
        FERRY_MAIN_OPT_KUBECONFIG,
        { "importer", required_argument, NULL, O_IMPORTER },
        { "converter", required_argument, NULL, O_CONVERTER },
        { "max-imports", required_argument, NULL, O_MAX },
        { "import-retries", required_argument, NULL, O_RETRIES },
        { "import-backoff", required_argument, NULL, O_BACKOFF },
        { "resync", required_argument, NULL, O_RESYNC },
        { "vm-backoff", required_argument, NULL, O_VMB },
        FERRY_MAIN_OPT_DEBUG,
        { "leader-elect", optional_argument, NULL, O_LE },
        { "leader-elect-resource-namespace", required_argument, NULL, O_LE_NS },
        { "leader-elect-resource-name", required_argument, NULL, O_LE_NAME },
        { "leader-elect-lease-duration", required_argument, NULL, O_LE_DUR },
        { "leader-elect-renew-deadline", required_argument, NULL, O_LE_RENEW },
        { "leader-elect-retry-period", required_argument, NULL, O_LE_RETRY },
        { "leader-elect-identity", required_argument, NULL, O_LE_ID },
        { "importer-image", required_argument, NULL, O_IMP_IMG },
        { "launcher-image", required_argument, NULL, O_LAU_IMG },
        { "converter-image", required_argument, NULL, O_CONV_IMG },
        FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_VERSION,
        FERRY_MAIN_OPT_END,
    };
    struct ferry_controller_opts o;
    /* the options that take a string or a non-negative integer, by id */
    const struct {
        int id;
        const char **str;
        int *num;
    } plain[] = {
        { 's', &o.state_dir, NULL },
        { 'S', &o.store, NULL },
        { O_IMPORTER, &o.importer, NULL },
        { O_CONVERTER, &o.converter, NULL },
        { O_LE_NS, &o.lease_namespace, NULL },
        { O_LE_NAME, &o.lease_name, NULL },
        { O_LE_ID, &o.leader_identity, NULL },
        { O_IMP_IMG, &o.importer_image, NULL },
        { O_LAU_IMG, &o.launcher_image, NULL },
        { O_CONV_IMG, &o.converter_image, NULL },
        { O_MAX, NULL, &o.max_imports },
        { O_RETRIES, NULL, &o.import_retries },
        { O_BACKOFF, NULL, &o.import_backoff_ms },
        { O_RESYNC, NULL, &o.resync_ms },
        { O_VMB, NULL, &o.vm_backoff_s },
    };
    struct ferry_controller *c;
    char *importer = NULL, *converter = NULL, *where = NULL;
    const char *kubeconfig = NULL;
    int dur_ms;
    struct sigaction sa = { .sa_handler = on_signal };
    int ch, r;

    ferry_log_init("ferry-controller");
    ferry_controller_opts_init(&o);
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        size_t i = 0;

        while (i < FERRY_ARRAY_SIZE(plain) && plain[i].id != ch)
            i++;
        if (i < FERRY_ARRAY_SIZE(plain) && plain[i].str) {
            *plain[i].str = optarg;
            continue;
        }
        if (i < FERRY_ARRAY_SIZE(plain)) {
            FERRY_AUTOFREE char *flag = option_flag(opts, ch);

            if (ferry_main_int_option("ferry-controller", flag, optarg, plain[i].num) < 0)
                return 2;
            continue;
        }
        switch (ch) {
        case 'k':
            kubeconfig = optarg;
            break;
        case 'd':
            ferry_log_set_debug(optarg);
            break;
        case O_LE:
            if (bool_arg("--leader-elect", optarg, &o.leader_elect) < 0)
                return 2;
            break;
        case O_LE_DUR:
            if (duration_arg("--leader-elect-lease-duration", optarg, &dur_ms) < 0)
                return 2;
            o.lease_duration_s = (dur_ms + 999) / 1000;
            break;
        case O_LE_RENEW:
            if (duration_arg("--leader-elect-renew-deadline", optarg, &o.renew_deadline_ms) < 0)
                return 2;
            break;
        case O_LE_RETRY:
            if (duration_arg("--leader-elect-retry-period", optarg, &o.retry_period_ms) < 0)
                return 2;
            break;
        default:
            return ferry_main_common_option("ferry-controller", ch, argv, usage);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ferry-controller: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (ferry_main_store_where("ferry-controller", o.store, kubeconfig, &where) < 0)
        return 2;
    o.store = where;
    if (!o.leader_identity && getenv("POD_NAME") && *getenv("POD_NAME"))
        o.leader_identity = getenv("POD_NAME");
    if (!o.importer && ferry_self_dir()) {
        importer = ferry_printf("%s/ferry-importer", ferry_self_dir());
        if (access(importer, X_OK) == 0)
            o.importer = importer;
    }
    if (!o.converter && ferry_self_dir()) {
        converter = ferry_printf("%s/ferry-converter", ferry_self_dir());
        if (access(converter, X_OK) == 0)
            o.converter = converter;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ferry_controller_new(&o, &c) < 0) {
        ferry_log_last_error();
        free(importer);
        free(converter);
        free(where);
        return 1;
    }
    ferry_log_info("started (state %s, store %s, up to %d imports)", o.state_dir ? o.state_dir
                   : ferry_state_dir(), o.store ? o.store : "sqlite", o.max_imports);
    r = ferry_controller_run(c, &stop_requested);
    if (r < 0)
        ferry_log_last_error();
    ferry_controller_free(c);
    free(importer);
    free(converter);
    free(where);
    ferry_log_info("stopped");
    return r < 0 ? 1 : 0;
}
