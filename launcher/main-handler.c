/* ferry-handler: options, then ferry_handler_run() (handler.c). */
#include "common/error.h"
#include "common/log.h"
#include "common/main-options.h"
#include "common/store/store.h"
#include "common/util.h"
#include "launcher/handler.h"
#include "launcher/launcher.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
usage(FILE *f)
{
    fprintf(f, "Usage: ferry-handler --state-dir DIR [OPTIONS]\n"
               "\n"
               "The Ferry node agent: registers the node, runs one ferry-launcher per\n"
               "VirtualMachineInstance placed on it and writes their status.\n"
               "\n"
               "  --state-dir DIR      state directory (store, volumes/, vmis/)\n");
    ferry_main_store_usage(f, 21);
    fprintf(f, "                       With the kube store (a DaemonSet), VMIs' launchers run\n"
               "                       in their launcher Pods and the handler connects to them\n"
               "  --node-name NAME     this node's name (default: the hostname)\n"
               "  --libvirt-uri URI    libvirt connection (default qemu:///system)\n"
               "  --allow-emulation    run VMIs under TCG when /dev/kvm is missing\n"
               "                       (KubeVirt's developerConfiguration.useEmulation)\n"
               "  --force-emulation    run under TCG even when /dev/kvm exists\n"
               "  --bridge NAME        host bridge for the bridge binding (default ferry0)\n"
               "  --dhcp-leases FILE   lease file (dnsmasq format) of the bridge's DHCP server:\n"
               "                       guest addresses known before ARP sees them\n"
               "  --launcher PATH      ferry-launcher program (default: beside ferry-handler)\n"
               "  --launcher-socket-root DIR  where launcher Pods' sockets are, one directory\n"
               "                       per VMI uid (default /var/run/ferry, their shared host path)\n"
               "  --probe-kvm          only probe whether KVM runs guests, print the verdict\n"
               "                       and exit (0 it does, 3 it does not, 1 cannot tell)\n"
               "  --kvm-probe-image PATH    boot sector the probe boots (default: the\n"
               "                       installed kvm-probe.img)\n"
               "  --kvm-probe-kernel PATH   kernel the probe boots next (default: the newest\n"
               "                       /boot/vmlinuz-*; \"none\" skips it)\n"
               "  --kvm-probe-type TYPE     libvirt domain type of the probe (kvm; \"qemu\"\n"
               "                       for tests: then it runs even without /dev/kvm)\n"
               "  --kvm-probe-timeout SECONDS  bound per probe guest (default 20)\n"
               "  --debug MODULES      debug output (launcher, store, all)\n"
               "  -h, --help           this help\n"
               "  --version            the version\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        FERRY_MAIN_OPT_STATE_DIR,                      { "node-name", required_argument, NULL, 'n' },
        FERRY_LAUNCHER_DOMAIN_OPTIONS,
        { "launcher", required_argument, NULL, 'l' },  FERRY_MAIN_OPT_DEBUG,
        FERRY_MAIN_OPT_KUBECONFIG,
        { "launcher-socket-root", required_argument, NULL, 'R' },
        { "probe-kvm", no_argument, NULL, 'P' },
        { "kvm-probe-image", required_argument, NULL, 'I' },
        { "kvm-probe-kernel", required_argument, NULL, 'K' },
        { "kvm-probe-type", required_argument, NULL, 'T' },
        { "kvm-probe-timeout", required_argument, NULL, 't' },
        FERRY_MAIN_OPT_STORE,
        FERRY_MAIN_OPT_HELP,                           FERRY_MAIN_OPT_VERSION,
        FERRY_MAIN_OPT_END,
    };
    struct ferry_handler_opts o = { .pod_launchers = -1 };
    bool probe_only = false;
    const char *store = NULL, *kubeconfig = NULL;
    char *where = NULL;
    int c, rc;

    ferry_log_init("ferry-handler");
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's': o.state_dir = optarg; break;
        case 'n': o.node_name = optarg; break;
        case 'u': o.uri = optarg; break;
        case 'e': o.allow_emulation = true; break;
        case 'E': o.force_emulation = true; break;
        case 'b': o.bridge = optarg; break;
        case 'L': o.dhcp_leases = optarg; break;
        case 'l': o.launcher_path = optarg; break;
        case 'R': o.socket_root = optarg; break;
        case 'P': probe_only = true; break;
        case 'S': store = optarg; break;
        case 'k': kubeconfig = optarg; break;
        case 'I': o.kvm_probe_image = optarg; break;
        case 'K': o.kvm_probe_kernel = optarg; break;
        case 'T':
            if (strcmp(optarg, "kvm") != 0 && strcmp(optarg, "qemu") != 0) {
                fprintf(stderr, "ferry-handler: --kvm-probe-type '%s': not kvm or qemu\n", optarg);
                return 2;
            }
            o.kvm_probe_type = optarg;
            break;
        case 't':
            if (ferry_main_seconds_option("ferry-handler", "--kvm-probe-timeout", optarg, 1, 3600,
                                          &o.kvm_probe_timeout) < 0)
                return 2;
            break;
        case 'd': ferry_log_set_debug(optarg); setenv("FERRY_DEBUG", optarg, 1); break;
        default: return ferry_main_common_option("ferry-handler", c, argv, usage);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ferry-handler: unexpected argument '%s'; see --help\n", argv[optind]);
        return 2;
    }
    if (!o.state_dir) {
        o.state_dir = getenv("FERRY_STATE_DIR");
        if (!o.state_dir) {
            fprintf(stderr, "ferry-handler: --state-dir is required\n");
            return 2;
        }
    }
    if (ferry_main_store_where("ferry-handler", store, kubeconfig, &where) < 0)
        return 2;
    o.store = where;
    if (probe_only) {
        rc = ferry_handler_probe_kvm(&o);
        free(where);
        if (rc < 0)
            ferry_log_last_error();
        return rc < 0 ? 1 : rc;
    }
    rc = ferry_handler_run(&o) < 0 ? 1 : 0;
    if (rc)
        ferry_log_last_error();
    free(where);
    return rc;
}
