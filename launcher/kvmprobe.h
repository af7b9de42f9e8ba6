/* Does this node's KVM run guests?  (kvmprobe.c)
 *
 * A /dev/kvm can exist, let qemu start and still not run a guest: a nested,
 * software-assisted KVM (kvm-pvm) runs SeaBIOS and a kernel's real-mode
 * setup, then stops the guest with "KVM internal error ... emulation
 * failure".  Starting a domain proves nothing; only a guest that runs does.
 * The probe boots throwaway transient domains and waits for what only a
 * running guest writes to its serial port:
 *   1. the boot sector of launcher/kvm-probe/probe.s (firmware, real mode,
 *      protected mode, long mode, then "FERRY-KVM-PROBE-OK" from long mode);
 *   2. a Linux kernel when one is given (by default the newest
 *      /boot/vmlinuz-*), booted through the firmware without a root disk:
 *      "Kernel panic - not syncing" on its console means it went through
 *      its whole start (decompression, paging, interrupts, timers) up to
 *      mounting root.  kvm-pvm passes step 1 and fails step 2.
 * Each guest must write its line within the bound and its domain must never
 * be paused or stopped before that. */
#ifndef FERRY_LAUNCHER_KVMPROBE_H
#define FERRY_LAUNCHER_KVMPROBE_H

struct ferry_kvm_probe_opts {
    const char *uri;          /* NULL: qemu:///system */
    const char *dir;          /* scratch directory qemu can read (payloads and serial logs) */
    const char *image;        /* boot sector disk image; NULL: skip step 1 */
    const char *kernel;       /* kernel for step 2; NULL: skip it */
    const char *domain_type;  /* NULL: "kvm"; tests use "qemu" (TCG) */
    int timeout_seconds;      /* per guest; 0: 20 */
};

#define FERRY_KVM_PROBE_MARKER "FERRY-KVM-PROBE-OK"
#define FERRY_KVM_PROBE_KERNEL_MARKER "Kernel panic - not syncing"

/* 1: every guest wrote its line (*ret_detail says what ran);
 * 0: a guest did not (*ret_detail says which, how it ended and what qemu and
 *    the host said);
 * -1: the probe could not be run (libvirt unreachable, payload unreadable),
 *    error set. */
int ferry_kvm_probe(const struct ferry_kvm_probe_opts *o, char **ret_detail);

/* The last line in qemu's log of domain NAME (qemu:///system's log folder)
 * that says why its guest stopped ("KVM internal error ..."), or NULL. */
char *ferry_kvm_probe_qemu_says(const char *name);

/* The newest /boot/vmlinuz-* or NULL. */
char *ferry_kvm_probe_default_kernel(void);

#endif
