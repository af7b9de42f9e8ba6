/* ferry-converter: legacy VM definition -> KubeVirt VirtualMachine manifests.
 * Parses options and calls the library: inputs.c (detect and parse),
 * inspect.c (optional), outputs/kubevirt.c (emit).  Output goes to stdout as
 * a multi-document YAML stream or a JSON List; warnings go to stderr.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/name.h"
#include "common/util.h"
#include "common/yaml.h"
#include "converter/guest.h"
#include "converter/inputs.h"
#include "converter/inspect.h"
#include "converter/outputs/kubevirt.h"

#define INSPECT_TIMEOUT 300

/* Unique DNS-1123 names for every VM of the input. */
static char *
vm_name(const struct ferry_vm_list *list, size_t i, char **taken)
{
    FERRY_AUTOFREE char *base = ferry_name_sanitize(list->vms[i]->name, 63);
    char *name = ferry_strdup(base);
    for (int n = 2; ; n++) {
        bool clash = false;
        for (char **t = taken; t && *t; t++)
            clash |= !strcmp(*t, name);
        if (!clash)
            return name;
        free(name);
        FERRY_AUTOFREE char *suffix = ferry_printf("-%d", n);
        name = ferry_printf("%.*s%s", (int)(63 - strlen(suffix)), base, suffix);
    }
}

int
main(int argc, char **argv)
{
    enum { OPT_NAME = 256, OPT_DISK_SOURCE, OPT_NETMAP, OPT_RUN, OPT_COMPAT, OPT_INSPECT,
           OPT_INSPECT_TIMEOUT, OPT_DEBUG, OPT_VERSION, OPT_LIST_INPUTS, OPT_CONVERT_GUEST,
           OPT_GUEST_DISK, OPT_GUEST_CONVERSION, OPT_TERMINATION_LOG };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"namespace", required_argument, NULL, 'n'},
        {"name", required_argument, NULL, OPT_NAME},
        {"disk-source", required_argument, NULL, OPT_DISK_SOURCE},
        {"network-map", required_argument, NULL, OPT_NETMAP},
        {"run-strategy", required_argument, NULL, OPT_RUN},
        {"compat", required_argument, NULL, OPT_COMPAT},
        {"inspect", no_argument, NULL, OPT_INSPECT},
        {"inspect-timeout", required_argument, NULL, OPT_INSPECT_TIMEOUT},
        {"debug", required_argument, NULL, OPT_DEBUG},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"list-inputs", no_argument, NULL, OPT_LIST_INPUTS},
        {"convert-guest", no_argument, NULL, OPT_CONVERT_GUEST},
        {"guest-disk", required_argument, NULL, OPT_GUEST_DISK},
        {"guest-conversion", required_argument, NULL, OPT_GUEST_CONVERSION},
        {"termination-log", required_argument, NULL, OPT_TERMINATION_LOG},
        {NULL, 0, NULL, 0},
    };
    ferry_log_init("ferry-converter");
    struct ferry_kubevirt_opts o = {.run_strategy = "Halted"};
    const char *output = "yaml";
    bool inspect = false, convert_guest = false;
    const char *termination_log = NULL;
    FERRY_AUTOSTRV char **guest_disks = NULL;
    unsigned inspect_timeout = INSPECT_TIMEOUT;
    int rc = 1;
    struct ferry_vm_list list = {0};
    FERRY_AUTOSTRV char **taken = NULL;
    FERRY_AUTOPTR(json_object) docs = NULL;

    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (strcmp(optarg, "yaml") && strcmp(optarg, "json")) {
                fprintf(stderr, "ferry-converter: -o: '%s' is not yaml or json\n", optarg);
                return 2;
            }
            output = optarg;
            break;
        case 'n':
            if (ferry_name_check_label("--namespace", optarg) < 0)
                goto usage_error;
            o.namespace = optarg;
            break;
        case OPT_NAME:
            if (ferry_name_check_label("--name", optarg) < 0)
                goto usage_error;
            o.name = optarg;
            break;
        case OPT_DISK_SOURCE:
            if (ferry_kubevirt_parse_disk_source(optarg, &o) < 0)
                goto usage_error;
            break;
        case OPT_NETMAP:
            o.maps = ferry_realloc(o.maps, (o.nmaps + 1) * sizeof(*o.maps));
            if (ferry_kubevirt_parse_network_map(optarg, &o.maps[o.nmaps]) < 0)
                goto usage_error;
            o.nmaps++;
            break;
        case OPT_RUN:
            if (!ferry_kubevirt_run_strategy_valid(optarg)) {
                fprintf(stderr,
                        "ferry-converter: --run-strategy: '%s' is not Halted, Always, "
                        "RerunOnFailure, Manual or Once\n",
                        optarg);
                return 2;
            }
            o.run_strategy = optarg;
            break;
        case OPT_COMPAT:
            if (ferry_kubevirt_parse_compat(optarg, &o.compat) < 0)
                goto usage_error;
            break;
        case OPT_INSPECT:
            inspect = true;
            break;
        case OPT_INSPECT_TIMEOUT: {
            uint64_t t;
            if (!ferry_parse_u64(optarg, &t) || t == 0 || t > 86400) {
                fprintf(stderr, "ferry-converter: --inspect-timeout: '%s' is not 1..86400\n",
                        optarg);
                return 2;
            }
            inspect_timeout = (unsigned)t;
            break;
        }
        case OPT_DEBUG:
            ferry_log_set_debug(optarg);
            break;
        case OPT_CONVERT_GUEST:
            convert_guest = true;
            break;
        case OPT_TERMINATION_LOG:
            termination_log = optarg;
            break;
        case OPT_GUEST_DISK:
            ferry_strv_push(&guest_disks, optarg);
            break;
        case OPT_GUEST_CONVERSION:
            /* "controller": ferry-controller converts the guest on the
             * imported disks before the VM first runs (Forklift's order) */
            if (strcmp(optarg, "controller")) {
                fprintf(stderr, "ferry-converter: --guest-conversion: '%s' is not controller\n",
                        optarg);
                return 2;
            }
            o.guest_conversion_pending = true;
            break;
        case 'h':
            ferry_converter_usage(stdout);
            return 0;
        case OPT_LIST_INPUTS:
            ferry_inputs_list(stdout);
            return 0;
        case OPT_VERSION:
            printf("ferry-converter %s\n", FERRY_VERSION);
            return 0;
        case ':':
            fprintf(stderr, "ferry-converter: option '%s' needs an argument\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "ferry-converter: unknown option '%s' (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (convert_guest) {
        /* ferry-converter --convert-guest DISK...: the disks in place */
        if (optind == argc || guest_disks) {
            fprintf(stderr, "ferry-converter: --convert-guest: %s (see --help)\n",
                    guest_disks ? "takes the disks as arguments, not --guest-disk"
                                : "missing DISK");
            return 2;
        }
        return ferry_guest_main(argv + optind, (size_t)(argc - optind), termination_log);
    }
    if (termination_log) {
        fprintf(stderr, "ferry-converter: --termination-log: only with --convert-guest\n");
        return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ferry-converter: %s\n",
                optind == argc ? "missing INPUT (see --help)" : "only one INPUT is accepted");
        return 2;
    }
    const char *input = argv[optind];

    if (ferry_inputs_parse_file(input, &list) < 0)
        goto error;
    if (list.n == 0) {
        ferry_error(FERRY_ERR_FORMAT, "'%s': no virtual machine found", ferry_vm_basename(input));
        goto error;
    }
    if (o.name && list.n > 1) {
        fprintf(stderr, "ferry-converter: --name: '%s' holds %zu VMs; --name needs exactly one\n",
                ferry_vm_basename(input), list.n);
        rc = 2;
        goto out;
    }

    if (guest_disks && o.guest_conversion_pending) {
        fprintf(stderr, "ferry-converter: --guest-disk converts the guest now, --guest-conversion "
                "controller at the VM's first start: give one of them\n");
        rc = 2;
        goto out;
    }
    if (guest_disks && list.n > 1) {
        fprintf(stderr, "ferry-converter: --guest-disk: '%s' holds %zu VMs; --guest-disk needs "
                "exactly one\n", ferry_vm_basename(input), list.n);
        rc = 2;
        goto out;
    }
    if (guest_disks) {
        /* convert the guest on its imported disks; the emitter gives it
         * virtio only if that worked */
        struct ferry_vm_def *def = list.vms[0];
        /* A definition the emitter refuses is refused before the disks
         * are changed: a silent trial emission (its warnings come later). */
        json_object *trial = NULL;
        fflush(stderr);
        int saved = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (saved >= 0 && devnull >= 0)
            dup2(devnull, STDERR_FILENO);
        int trial_rc = ferry_kubevirt_emit(def, "trial", &o, &trial);
        fflush(stderr);
        if (saved >= 0) {
            dup2(saved, STDERR_FILENO);
            close(saved);
        }
        if (devnull >= 0)
            close(devnull);
        json_object_put(trial);
        if (trial_rc < 0)
            goto error;
        struct ferry_guest_report r = {0};
        def->conversion.done = true;
        def->conversion.ok =
            ferry_guest_convert(guest_disks, ferry_strv_len(guest_disks), &r) == 0;
        if (def->conversion.ok) {
            def->conversion.result = ferry_printf("converted: %s", r.os ? r.os : "?");
        } else {
            def->conversion.result = ferry_printf("not converted: %s", ferry_error_message());
            ferry_log_warn("'%s': %s: %s", ferry_vm_basename(input), def->name,
                           ferry_error_message());
            ferry_error_reset();
        }
        for (char **ch = r.changes; ch && *ch; ch++) {
            char *s = ferry_printf("%s%s%s", def->conversion.changes ? def->conversion.changes : "",
                                   def->conversion.changes ? "\n" : "", *ch);
            free(def->conversion.changes);
            def->conversion.changes = s;
        }
        for (char **n = r.notes; n && *n; n++)
            ferry_log_warn("'%s': %s: guest conversion: %s", ferry_vm_basename(input), def->name,
                           *n);
        ferry_guest_report_clear(&r);
    }

    docs = json_object_new_array();
    for (size_t i = 0; i < list.n; i++) {
        struct ferry_vm_def *def = list.vms[i];
        if (inspect) {
            if (ferry_inspect_run(def, inspect_timeout) < 0) {
                ferry_log_warn("'%s': %s; continuing without it", ferry_vm_basename(input),
                               ferry_error_message());
                ferry_error_reset();
            } else if (def->inspect.efi && !def->firmware_known &&
                       def->firmware != FERRY_FW_EFI) {
                ferry_log_warn("'%s': %s: the source does not state its firmware; the guest "
                               "has an EFI system partition: using EFI",
                               ferry_vm_basename(input), def->name);
                def->firmware = FERRY_FW_EFI;
            }
        }
        char *name = o.name ? ferry_strdup(o.name) : vm_name(&list, i, taken);
        ferry_strv_push(&taken, name);
        free(name);
        json_object *vm = NULL;
        const char *final = taken[ferry_strv_len(taken) - 1];
        if (ferry_kubevirt_emit(def, final, &o, &vm) < 0)
            goto error;
        json_object_array_add(docs, vm);
    }
    for (size_t k = 0; k < o.nmaps; k++)
        if (!o.maps[k].used)
            ferry_log_warn("--network-map: source network '%s' is not used by any NIC",
                           o.maps[k].source);

    if (!strcmp(output, "json")) {
        FERRY_AUTOPTR(json_object) lst = json_object_new_object();
        json_object_object_add(lst, "apiVersion", json_object_new_string("v1"));
        json_object_object_add(lst, "kind", json_object_new_string("List"));
        json_object_object_add(lst, "items", json_object_get(docs));
        FERRY_AUTOFREE char *s = ferry_json_to_string(lst, true);
        fputs(s, stdout);
        fputc('\n', stdout);
    } else {
        FERRY_AUTOFREE char *s = ferry_yaml_emit_stream(docs);
        if (!s)
            goto error;
        fputs(s, stdout);
    }
    if (fflush(stdout) != 0) {
        ferry_error_errno(FERRY_ERR_IO, errno, "writing the output");
        goto error;
    }
    rc = 0;
    goto out;

usage_error:
    fprintf(stderr, "ferry-converter: %s\n", ferry_error_message());
    rc = 2;
    goto out;
error:
    ferry_log_last_error();
    rc = 1;
out:
    ferry_vm_list_free(&list);
    for (size_t k = 0; k < o.nmaps; k++) {
        free(o.maps[k].source);
        free(o.maps[k].multus);
    }
    free(o.maps);
    return rc;
}
