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
};

int ferry_handler_run(const struct ferry_handler_opts *opts);

#define FERRY_NODE_FINALIZER "ferry.io/node-cleanup"

#endif
