/* Guest conversion with libguestfs, as virt-v2v's convert_linux does it:
 * make a guest that ran on VMware, VirtualBox or Hyper-V boot on KubeVirt's
 * virtio devices.  The disks (already imported, any format qemu reads) are
 * changed in place: the work is done on qcow2 overlays that are committed
 * into the disks only when every step succeeded, so a failed conversion
 * leaves them as they were.
 *
 * Linux: the initramfs of every installed kernel is rebuilt with the guest's
 * own tool (update-initramfs, dracut or mkinitrd) to hold virtio_blk,
 * virtio_scsi, virtio_net and virtio_pci; /etc/fstab, GRUB's and other boot
 * loaders' root= and resume= name filesystems by UUID= instead of
 * /dev/sdX, /dev/hdX or /dev/xvdX; VMware Tools, open-vm-tools, the Hyper-V
 * daemons and the VirtualBox additions are removed; network configuration
 * pinned to the old MACs or interface names is fixed where it can be; an
 * SELinux guest is relabelled.  Windows: not converted (virtio-win is not
 * available), which is an error of kind FERRY_ERR_UNSUPPORTED.
 */
#ifndef FERRY_CONVERTER_GUEST_H
#define FERRY_CONVERTER_GUEST_H

#include <stdbool.h>
#include <stddef.h>

struct ferry_guest_report {
    char *os;              /* "linux debian 12.4 x86_64 (Debian GNU/Linux 12 (bookworm))" */
    char **changes;        /* one line per change made, in order */
    char **notes;          /* what was found and left alone */
};

void ferry_guest_report_clear(struct ferry_guest_report *r);

/* Whether this build has libguestfs. */
bool ferry_guest_available(void);

/* Convert the guest on DISKS (the VM's disks in its order) in place.  0 when
 * the guest can boot on virtio; -1 with the error otherwise (the disks are
 * unchanged).  *R is filled in both cases. */
int ferry_guest_convert(char *const *disks, size_t ndisks, struct ferry_guest_report *r);

/* The device-name rewrite of the conversion, apart from libguestfs.  In
 * TEXT, each /dev/sdX[N], /dev/hdX[N] or /dev/xvdX[N] that is the first
 * field of a line (FSTAB) or follows root=, resume= or RESUME= (else) is
 * replaced by MAP(OPAQUE, DISK, PARTITION): DISK counts from 0 (sda ... sdz,
 * sdaa), PARTITION is the digits ("" for a whole disk).  A NULL from MAP
 * leaves the name and appends it to *RET_LEFT; each replacement appends
 * "OLD -> NEW" to *RET_CHANGES.  The new text, or NULL when nothing changed. */
typedef char *(*ferry_guest_map_fn)(void *opaque, int disk, const char *partition);
char *ferry_guest_rewrite_devices(const char *text, bool fstab, ferry_guest_map_fn map,
                                  void *opaque, char ***ret_changes, char ***ret_left);

/* The outcome as a container's termination message (the kubelet keeps at
 * most 4096 bytes): the result, the guest and ERR (NULL: converted) first,
 * then as many changes as fit, then a count of those that did not (the pod's
 * log has them all). */
char *ferry_guest_termination_text(const struct ferry_guest_report *r, const char *err);

/* ferry-converter --convert-guest DISK...: convert, print the report on
 * stdout; the exit status (0 converted, 1 not).  TERMINATION_LOG (or NULL):
 * a file that gets the result line, the guest, the error and the changes,
 * cut to the kubelet's 4096 bytes (a Job's pod, controller/guestconv.c). */
int ferry_guest_main(char *const *disks, size_t ndisks, const char *termination_log);

#endif
