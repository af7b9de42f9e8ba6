/* ferry-converter's usage text, in the library so that tests/unit/test-tables.c
 * checks it names every input of the table (inputs.c). */
#include <stdio.h>

#include "converter/inputs.h"

/* The usage text; the inputs' lines come from the table (inputs.c). */
void
ferry_converter_usage(FILE *f)
{
    fprintf(f,
            "usage: ferry-converter INPUT [-o yaml|json] [--namespace NS] [--name NAME]\n"
            "                       [--disk-source upload|http:BASEURL|registry:PREFIX]\n"
            "                       [--network-map SOURCE=pod|SOURCE=multus:NS/NAME ...]\n"
            "                       [--run-strategy Halted|Always|RerunOnFailure|Manual|Once]\n"
            "                       [--compat auto|virtio|legacy] [--inspect]\n"
            "                       [--inspect-timeout SECONDS] [--debug MODULES]\n"
            "                       [--guest-disk DISK ... | --guest-conversion controller]\n"
            "       ferry-converter --convert-guest [--termination-log PATH] DISK...\n"
            "       ferry-converter --list-inputs\n"
            "\n"
            "Convert a legacy VM definition (detected by content, not by name) into\n"
            "kubevirt.io/v1 VirtualMachine manifests with cdi.kubevirt.io/v1beta1\n"
            "dataVolumeTemplates, on stdout.  INPUT is one of:\n"
            "\n");
    for (const struct ferry_input *const *p = ferry_inputs; *p; p++)
        fprintf(f, "  %-8s %s\n", (*p)->name, (*p)->description);
    fprintf(f,
            "\n"
            "  -o, --output FORMAT     yaml (multi-document stream, default) or json (a List)\n"
            "  -n, --namespace NS      set metadata.namespace\n"
            "      --name NAME         VM name (single-VM inputs); default: the source name,\n"
            "                          made DNS-1123\n"
            "      --disk-source SRC   upload (default), http:BASEURL (url = BASEURL/<file>),\n"
            "                          registry:PREFIX (url = docker://PREFIX/<dv name>)\n"
            "      --network-map MAP   SOURCE=pod or SOURCE=multus:NS/NAME; repeatable.\n"
            "                          Unmapped: the first NIC gets the pod network\n"
            "      --run-strategy RS   default Halted\n"
            "      --compat MODE       auto (default): virtio when the guest has drivers,\n"
            "                          else SATA disks and e1000e NICs\n"
            "      --inspect           inspect the guest disks with libguestfs (slow)\n"
            "      --guest-disk DISK   the VM's imported disk (raw, qcow2 ...), in the VM's\n"
            "                          order; repeatable: convert the guest on them in place\n"
            "                          (libguestfs, slow) before emitting; virtio only when\n"
            "                          that succeeded, else SATA disks and e1000 NICs\n"
            "      --guest-conversion controller\n"
            "                          annotate the VM ferry.io/guest-conversion: pending:\n"
            "                          ferry-controller converts the guest on its imported\n"
            "                          disks before the first start (virtio devices; a VM\n"
            "                          whose conversion fails does not start)\n"
            "      --convert-guest     convert the guest on the DISK arguments in place and\n"
            "                          print what changed (Linux; exit 1 when not converted)\n"
            "      --termination-log PATH\n"
            "                          with --convert-guest: also write the result, the\n"
            "                          guest, the error and the changes to PATH, cut to\n"
            "                          4096 bytes (a Kubernetes container's termination\n"
            "                          message)\n"
            "      --debug MODULES     debug output for modules (converter, all)\n"
            "      --list-inputs       the inputs: name, file extensions, description\n"
            "  -h, --help              this text\n"
            "      --version           print the version\n");
}
