/* Guest OS ids -> KubeVirt: a libosinfo-style short id for labels and the
 * kubevirt/common-instancetypes cluster preference to reference.  Sources
 * spell the OS many ways (VMware guestOS / vSphere guestId, VirtualBox
 * OSType, OVF CIM OsType numbers, libosinfo URLs in libvirt metadata, and
 * libguestfs inspection); all funnel into one table modelled on Forklift's
 * (pkg/controller/plan/adapter/vsphere/builder.go osMap and the
 * forklift-vsphere-osmap / forklift-ovirt-osmap ConfigMaps).
 */
#ifndef FERRY_CONVERTER_OSMAP_H
#define FERRY_CONVERTER_OSMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "converter/vm_def.h"

struct ferry_os_info {
    enum ferry_vm_os_family family;
    char osinfo[48];          /* "win2k19", "rhel9", "ubuntu"; "" unknown */
    char preference[48];      /* "windows.2k19", "rhel.9"; "" when none fits */
    bool virtio_variant;      /* a ".virtio" flavour of the preference exists */
    unsigned min_cpus;        /* the preference's requirements */
    uint64_t min_memory;
    bool virtio_capable;      /* guest has virtio drivers out of the box */
    bool known;               /* the id was recognized */
};

/* Map one OS id as SOURCE_FORMAT spells it ("vmx", "ovf", "vbox", "libvirt",
 * "xl", "inspect"). Unknown ids give family FERRY_OS_UNKNOWN, known = false. */
void ferry_osmap_lookup(const char *source_format, const char *id, struct ferry_os_info *ret);

/* The best answer for DEF: inspection when it ran, else the source's id. */
void ferry_osmap_resolve(const struct ferry_vm_def *def, struct ferry_os_info *ret);

#endif
