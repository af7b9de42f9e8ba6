/* Guest inspection with libguestfs (--inspect): open a VM's local disk files
 * read-only, find the operating system and fill def->inspect (type, distro,
 * version, arch, product, libosinfo id, virtio drivers, EFI system
 * partition).  The appliance runs in a child process so that the whole
 * inspection is bounded by a timeout; any failure is returned as an error the
 * caller reports as a warning.
 */
#ifndef FERRY_CONVERTER_INSPECT_H
#define FERRY_CONVERTER_INSPECT_H

#include <stdbool.h>

#include "converter/vm_def.h"

/* Whether this build has libguestfs. */
bool ferry_inspect_available(void);

/* Inspect DEF's disks within TIMEOUT_SECONDS. */
int ferry_inspect_run(struct ferry_vm_def *def, unsigned timeout_seconds);

#endif
