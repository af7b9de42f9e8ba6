/* ferry-launcher: one process per VMI (virt-launcher's job).  See launcher.c
 * for the lifecycle and the control protocol. */
#ifndef FERRY_LAUNCHER_LAUNCHER_H
#define FERRY_LAUNCHER_LAUNCHER_H

#include <stdbool.h>

struct ferry_launcher_opts {
    const char *state_dir;
    const char *ns;
    const char *name;
    const char *uri;          /* NULL: qemu:///system */
    const char *bridge;       /* NULL: ferry0 */
    const char *dhcp_leases;  /* the bridge DHCP server's lease file (dnsmasq format), or NULL */
    bool allow_emulation;     /* TCG when there is no /dev/kvm */
    bool force_emulation;     /* TCG even with /dev/kvm (nested hosts where KVM hangs) */
    bool no_kvm;              /* the handler found KVM unusable: treat /dev/kvm as absent */
    const char *no_kvm_reason; /* why (the handler's probe verdict), or NULL */
    bool stop_only;           /* stop and undefine the domain (VMI being deleted), then exit */
    const char *socket_dir;   /* where launcher.sock goes (a launcher Pod's host path
                               * /var/run/ferry/<vmi uid>); NULL: the VMI's directory */
    const char *pvc_root;     /* a launcher Pod's PVC mounts (domain.h); NULL: none */
};

/* The getopt_long() entries of the options ferry-handler and ferry-launcher
 * share, for the fields of the same names: --libvirt-uri ('u'),
 * --allow-emulation ('e'), --force-emulation ('E'), --bridge ('b') and
 * --dhcp-leases ('L'). */
#define FERRY_LAUNCHER_DOMAIN_OPTIONS                                                              \
    { "libvirt-uri", required_argument, NULL, 'u' },                                               \
    { "allow-emulation", no_argument, NULL, 'e' },                                                 \
    { "force-emulation", no_argument, NULL, 'E' },                                                 \
    { "bridge", required_argument, NULL, 'b' },                                                    \
    { "dhcp-leases", required_argument, NULL, 'L' }

/* Runs until the domain has ended and its final state was reported (or
 * SIGTERM/SIGINT).  0 on a clean end, -1 with the error otherwise. */
int ferry_launcher_run(const struct ferry_launcher_opts *opts);

/* Does O_DIRECT work on PATH (KubeVirt's cache mode rule)? */
bool ferry_launcher_direct_io(const char *path, void *opaque);

/* libvirt, as the launcher and the KVM probe use it: its last error's
 * message (never NULL), and its default printing of every error to stderr
 * turned off (errors are reported where they matter, with context). */
const char *ferry_virt_msg(void);
void ferry_virt_quiet(void);

#endif
