/* ferry-launcher: options, then ferry_launcher_run() (launcher.c). */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/main-options.h"
#include "common/util.h"
#include "common/volume.h"
#include "launcher/launcher.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void
usage(FILE *f)
{
    fprintf(f, "Usage: ferry-launcher --state-dir DIR --namespace NS --name NAME [OPTIONS]\n"
               "\n"
               "Run one VirtualMachineInstance as a libvirt domain (started by ferry-handler).\n"
               "Reads DIR/vmis/NS/NAME/vmi.json; control socket DIR/vmis/NS/NAME/launcher.sock.\n"
               "\n"
               "  --libvirt-uri URI    libvirt connection (default qemu:///system)\n"
               "  --allow-emulation    use TCG when /dev/kvm is missing\n"
               "  --force-emulation    use TCG even when /dev/kvm exists\n"
               "  --bridge NAME        host bridge for interfaces with the bridge binding (ferry0)\n"
               "  --dhcp-leases FILE   lease file (dnsmasq format) of the bridge's DHCP server\n"
               "  --no-kvm[=WHY]       treat /dev/kvm as absent (the handler found that KVM\n"
               "                       cannot run guests; WHY goes into the NoKVM message)\n"
               "  --stop               stop and undefine the domain, then exit (VMI deleted)\n"
               "  --wait-for-vmi SECONDS  in a launcher Pod: wait for the handler's vmi.json and\n"
               "                       take its KVM verdict from launcher-opts.json\n"
               "  --socket-dir DIR     put launcher.sock in DIR (made if missing) instead of the\n"
               "                       VMI's directory (a launcher Pod: /var/run/ferry/<vmi uid>)\n"
               "  --pvc-root DIR       dataVolume/PVC volumes are DIR/<volume>/disk.img, mounts of\n"
               "                       a launcher Pod, passed to libvirt as open files\n"
               "  --debug MODULES      debug output (launcher, all)\n"
               "  -h, --help           this help\n"
               "  --version            the version\n");
}

/* In a launcher Pod (Kubernetes mode) the launcher starts before the node's
 * handler has taken the VMI: wait for the handler's vmi.json, then take the
 * handler's KVM verdict from launcher-opts.json (kept in *ret_opts, whose
 * strings o borrows). */
static int
wait_for_vmi(struct ferry_launcher_opts *o, int seconds, json_object **ret_opts)
{
    FERRY_AUTOFREE char *dir = ferry_vmi_dir(o->state_dir, o->ns, o->name);
    FERRY_AUTOFREE char *vmi = NULL;
    FERRY_AUTOFREE char *opts = NULL;
    uint64_t end = ferry_now_ns() + (uint64_t)seconds * 1000000000ULL;
    json_object *lo = NULL;

    if (!dir)
        return -1;
    vmi = ferry_printf("%s/vmi.json", dir);
    opts = ferry_printf("%s/launcher-opts.json", dir);
    while (access(vmi, R_OK) != 0) {
        if (ferry_now_ns() >= end)
            return ferry_error(FERRY_ERR_TIMEOUT, "vmi %s/%s: no '%s' after %d s: is ferry-handler "
                               "running on this node?", o->ns, o->name, vmi, seconds);
        usleep(200 * 1000);
    }
    if (access(opts, R_OK) == 0) {
        if (ferry_json_read_file(opts, &lo) < 0)
            return -1;
        o->allow_emulation = ferry_json_get_bool(lo, "allowEmulation", o->allow_emulation);
        o->force_emulation = ferry_json_get_bool(lo, "forceEmulation", o->force_emulation);
        if (ferry_json_get_string(lo, "noKvm")) {
            o->no_kvm = true;
            o->no_kvm_reason = ferry_json_get_string(lo, "noKvm");
        }
    }
    *ret_opts = lo;
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        FERRY_MAIN_OPT_STATE_DIR,                      { "namespace", required_argument, NULL, 'n' },
        { "name", required_argument, NULL, 'N' },      FERRY_LAUNCHER_DOMAIN_OPTIONS,
        { "stop", no_argument, NULL, 'S' },
        { "no-kvm", optional_argument, NULL, 'K' },
        { "wait-for-vmi", required_argument, NULL, 'W' },
        { "socket-dir", required_argument, NULL, 'D' },
        { "pvc-root", required_argument, NULL, 'P' },
        FERRY_MAIN_OPT_DEBUG,                          FERRY_MAIN_OPT_HELP,
        FERRY_MAIN_OPT_VERSION,                        FERRY_MAIN_OPT_END,
    };
    struct ferry_launcher_opts o = { 0 };
    FERRY_AUTOPTR(json_object) lo = NULL;
    int wait_s = -1;
    int c;

    ferry_log_init("ferry-launcher");
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's': o.state_dir = optarg; break;
        case 'n': o.ns = optarg; break;
        case 'N': o.name = optarg; break;
        case 'u': o.uri = optarg; break;
        case 'e': o.allow_emulation = true; break;
        case 'E': o.force_emulation = true; break;
        case 'b': o.bridge = optarg; break;
        case 'L': o.dhcp_leases = optarg; break;
        case 'S': o.stop_only = true; break;
        case 'K': o.no_kvm = true; o.no_kvm_reason = optarg; break;
        case 'D': o.socket_dir = optarg; break;
        case 'P': o.pvc_root = optarg; break;
        case 'W':
            if (ferry_main_seconds_option("ferry-launcher", "--wait-for-vmi", optarg, 0, 86400,
                                          &wait_s) < 0)
                return 2;
            break;
        case 'd': ferry_log_set_debug(optarg); break;
        default: return ferry_main_common_option("ferry-launcher", c, argv, usage);
        }
    }
    if (!o.state_dir || !o.ns || !o.name || optind < argc) {
        fprintf(stderr, "ferry-launcher: --state-dir, --namespace and --name are required; see --help\n");
        return 2;
    }
    if (wait_s >= 0 && wait_for_vmi(&o, wait_s, &lo) < 0) {
        ferry_log_last_error();
        return 1;
    }
    if (ferry_launcher_run(&o) < 0) {
        ferry_log_last_error();
        return 1;
    }
    return 0;
}
