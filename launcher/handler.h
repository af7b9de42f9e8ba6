/* ferry-handler: the node agent (virt-handler's job).  See handler.c. */
#ifndef FERRY_LAUNCHER_HANDLER_H
#define FERRY_LAUNCHER_HANDLER_H

#include <stdbool.h>

struct ferry_handler_opts {
    const char *state_dir;
    const char *node_name;      /* NULL: hostname */
    const char *uri;            /* NULL: qemu:///system */
    const char *bridge;
    const char *dhcp_leases;    /* passed to launchers: guest addresses on the bridge */
    const char *launcher_path;  /* NULL: ferry-launcher beside this program */
    bool allow_emulation;
    bool force_emulation;
    int heartbeat_seconds;      /* 0: 10 */
    /* the KVM probe (kvmprobe.h); NULL/0: the defaults */
    const char *kvm_probe_image;   /* boot sector image; default ../share/ferry/kvm-probe.img */
    const char *kvm_probe_kernel;  /* default the newest /boot/vmlinuz-*; "none": skip */
    const char *kvm_probe_type;    /* libvirt domain type, "kvm"; given (or an image): probe
                                    * even without /dev/kvm (tests) */
    int kvm_probe_timeout;         /* seconds per probe guest, 0: 20 */
    /* Kubernetes mode (DaemonSet): store "kube:..." (NULL: the state
     * directory's SQLite store).  pod_launchers: the launchers run in the
     * launcher Pods ferry-controller makes; the handler writes each VMI's
     * vmi.json and launcher-opts.json into its directory and connects to the
     * launcher's socket there, and never starts one for a running VMI (it
     * still starts a --stop launcher for a deleted VMI whose launcher is
     * gone).  On by default with a kube store; FERRY_KUBE_OBJECTS=1 turns it
     * on for a SQLite store (tests). */
    const char *store;
    int pod_launchers;             /* -1 auto, 0, 1 */
    const char *socket_root;       /* launcher Pods' sockets: <root>/<vmi uid>/launcher.sock;
                                    * NULL: /var/run/ferry (the host path they share) */
};

int ferry_handler_run(const struct ferry_handler_opts *opts);

/* Run only the KVM probe and print the verdict (the Node condition KVM's
 * status, reason and message) on stdout: 0 KVM runs guests, 3 it does not
 * (or is absent, or emulation is forced), 1 cannot tell, -1 error. */
int ferry_handler_probe_kvm(const struct ferry_handler_opts *opts);

#define FERRY_NODE_FINALIZER "ferry.io/node-cleanup"

#endif
