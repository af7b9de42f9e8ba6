/* VMI -> libvirt domain XML, the way KubeVirt's virt-launcher converter
 * (pkg/virt-launcher/virtwrap/converter) maps a VirtualMachineInstance, for
 * one Ferry node.  Pure: everything the mapping needs from the host comes in
 * through ferry_domain_opts, so golden tests pin it (tests/golden/domain/).
 *
 * Where things live on the node (the handler/launcher contract):
 *   <state-dir>/volumes/<ns>/<NAME>/disk.img   dataVolume NAME, persistentVolumeClaim NAME
 *   <state-dir>/vmis/<ns>/<name>/              what the VMI owns: emptyDisk files,
 *       cloud-init ISOs, NVRAM, console.sock, console.log, vnc.sock, launcher.sock
 */
#ifndef FERRY_LAUNCHER_DOMAIN_H
#define FERRY_LAUNCHER_DOMAIN_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

struct ferry_domain_opts {
    const char *state_dir;   /* required */
    bool kvm;                /* domain type kvm; false: qemu (TCG emulation) */
    const char *bridge;      /* host bridge for the bridge binding; NULL: "ferry0" */
    const char *ovmf_dir;    /* NULL: /usr/share/OVMF */
    /* Whether O_DIRECT works on PATH (cache none); NULL: assume it does. */
    bool (*direct_io)(const char *path, void *opaque);
    void *opaque;
    /* Kubernetes mode: dataVolume / persistentVolumeClaim volumes are the
     * launcher Pod's mounts <pvc_root>/<volume>/disk.img (KubeVirt's
     * /var/run/kubevirt-private/vmi-disks), which the node's libvirtd cannot
     * see: the disk gets fdgroup "ferry-<volume>" and the launcher hands
     * libvirt the open file (virDomainFDAssociate).  NULL: the state
     * directory's volumes. */
    const char *pvc_root;
};

/* The libvirt domain name of a VMI: "<namespace>_<name>" as KubeVirt names it. */
char *ferry_domain_name(json_object *vmi);
/* <state-dir>/vmis/<ns>/<name> */
char *ferry_domain_vmi_dir(const char *state_dir, json_object *vmi);

/* What backs one entry of spec.volumes on this node. */
enum ferry_volume_kind {
    FERRY_VOLUME_FILE,          /* dataVolume / persistentVolumeClaim: existing raw file */
    FERRY_VOLUME_EMPTY_DISK,    /* sparse raw file created with the VMI, size in bytes */
    FERRY_VOLUME_NOCLOUD,       /* ISO9660 "cidata" written by the launcher */
    FERRY_VOLUME_CONFIGDRIVE,   /* ISO9660 "config-2" written by the launcher */
    FERRY_VOLUME_CONTAINER_DISK, /* qcow2 overlay (path) over the image imported into
                                    the node's cache (cache) */
};
struct ferry_volume {
    enum ferry_volume_kind kind;
    char *path;
    uint64_t size;              /* emptyDisk capacity */
    json_object *source;        /* borrowed: the volume's source object */
    char *cache;                /* containerDisk: <state-dir>/containerdisks/<sha256>.img */
    char *fdgroup;              /* opened by the launcher, passed as a file descriptor */
};
void ferry_volume_release(struct ferry_volume *v);
/* Resolve one spec.volumes entry; refuses (FERRY_ERR_UNSUPPORTED) what Ferry
 * cannot back: hostDisk, secretRef cloud-init, ... */
int ferry_domain_volume(const struct ferry_domain_opts *opts, json_object *vmi,
                        json_object *volume, struct ferry_volume *ret);

/* The domain XML for VMI (a kubevirt.io/v1 VirtualMachineInstance). */
int ferry_domain_build(json_object *vmi, const struct ferry_domain_opts *opts, char **ret_xml);

/* The metadata namespace Ferry writes into <metadata> (uid of the VMI, grace period). */
#define FERRY_DOMAIN_XMLNS "https://ferry.io/xmlns/domain/1"

#endif
