/* The one emitter: a neutral VM model -> a kubevirt.io/v1 VirtualMachine
 * whose disks are dataVolumeTemplates (cdi.kubevirt.io/v1beta1 specs), as
 * json-c objects.  Every choice KubeVirt forces (buses it has, NIC models it
 * accepts, one pod network, secure boot needing SMM) is made here.
 */
#ifndef FERRY_CONVERTER_OUTPUTS_KUBEVIRT_H
#define FERRY_CONVERTER_OUTPUTS_KUBEVIRT_H

#include <json-c/json.h>
#include <stddef.h>

#include "converter/vm_def.h"

enum ferry_disk_source {
    FERRY_DISK_SOURCE_UPLOAD,    /* source: upload: {} */
    FERRY_DISK_SOURCE_HTTP,      /* source: http: url: BASE/<file name> */
    FERRY_DISK_SOURCE_REGISTRY,  /* source: registry: url: docker://PREFIX/<dv name> */
};

enum ferry_compat {
    FERRY_COMPAT_AUTO,     /* virtio when the guest can use it, else legacy */
    FERRY_COMPAT_VIRTIO,
    FERRY_COMPAT_LEGACY,   /* SATA disks, NIC models kept or e1000e */
};

struct ferry_net_map {
    char *source;          /* source network name, as the definition spells it */
    char *multus;          /* "NS/NAME"; NULL means the pod network */
    bool used;
};

struct ferry_kubevirt_opts {
    const char *namespace;           /* NULL: none in the manifest */
    const char *name;                /* override the VM name (one VM only) */
    enum ferry_disk_source disk_source;
    const char *disk_base;           /* BASEURL or PREFIX */
    struct ferry_net_map *maps;
    size_t nmaps;
    const char *run_strategy;        /* default Halted */
    enum ferry_compat compat;
    /* --guest-conversion controller: annotate the VM ferry.io/guest-conversion
     * "pending", so that ferry-controller converts the guest on its imported
     * disks before the first start (virtio devices: the conversion gives the
     * guest its drivers, and a VM whose conversion failed does not start) */
    bool guest_conversion_pending;
};

/* The annotation a VM to be converted by the controller carries, and its value. */
#define FERRY_KUBEVIRT_ANN_GUEST_CONVERSION "ferry.io/guest-conversion"
#define FERRY_KUBEVIRT_GUEST_CONVERSION_PENDING "pending"

/* Parse --disk-source and --network-map values; errors name the option. */
int ferry_kubevirt_parse_disk_source(const char *arg, struct ferry_kubevirt_opts *o);
int ferry_kubevirt_parse_network_map(const char *arg, struct ferry_net_map *ret);
int ferry_kubevirt_parse_compat(const char *arg, enum ferry_compat *ret);
bool ferry_kubevirt_run_strategy_valid(const char *s);

/* Build the VirtualMachine for DEF.  NAME is the final (sanitized, unique)
 * object name. */
int ferry_kubevirt_emit(const struct ferry_vm_def *def, const char *name,
                        struct ferry_kubevirt_opts *o, json_object **ret_vm);

#endif
