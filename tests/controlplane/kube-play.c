/* The cluster's parts a SQLite store lacks, for the Kubernetes-mode tests of
 * the control plane (real store writes, as a scheduler and a kubelet make
 * them on a cluster):
 *
 *   kube-play bind NS POD NODE      scheduler: spec.nodeName = NODE, then the
 *                                   kubelet: phase Running, PodScheduled True
 *   kube-play phase NS POD PHASE    kubelet: status.phase (Succeeded, Failed)
 *
 * The store is $FERRY_STATE_DIR's. */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/store/store.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

static int
set_phase(struct ferry_store *st, const char *ns, const char *name, const char *phase)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        FERRY_AUTOPTR(json_object) pod = NULL;

        if (ferry_store_get(st, ferry_resource_pod, ns, name, &pod) < 0)
            return -1;
        ferry_json_set_string(pod, "status.phase", phase);
        if (ferry_str_eq(phase, "Running"))
            ferry_condition_set(pod, "PodScheduled", "True", NULL, NULL);
        if (ferry_store_update_status(st, pod, NULL) == 0)
            return 0;
        if (ferry_error_code() != FERRY_ERR_CONFLICT)
            return -1;
        ferry_error_reset();
    }
    return -1;
}

int
main(int argc, char **argv)
{
    struct ferry_store *st = NULL;
    int r = -1;

    if (argc < 2 || ferry_store_open_existing(NULL, &st) < 0) {
        fprintf(stderr, "kube-play: %s\n", argc < 2 ? "usage: kube-play bind|phase ..."
                                                     : ferry_error_message());
        return 2;
    }
    if (strcmp(argv[1], "bind") == 0 && argc == 5) {
        for (int attempt = 0; attempt < 10 && r < 0; attempt++) {
            FERRY_AUTOPTR(json_object) pod = NULL;

            if (ferry_store_get(st, ferry_resource_pod, argv[2], argv[3], &pod) < 0)
                break;
            ferry_json_set_string(pod, "spec.nodeName", argv[4]);
            if (ferry_store_update(st, pod, NULL) == 0)
                r = 0;
            else if (ferry_error_code() == FERRY_ERR_CONFLICT)
                ferry_error_reset();
            else
                break;
        }
        if (r == 0)
            r = set_phase(st, argv[2], argv[3], "Running");
    } else if (strcmp(argv[1], "phase") == 0 && argc == 5) {
        r = set_phase(st, argv[2], argv[3], argv[4]);
    } else {
        fprintf(stderr, "kube-play: bad arguments\n");
        ferry_store_free(st);
        return 2;
    }
    if (r < 0)
        fprintf(stderr, "kube-play: %s\n", ferry_error_message());
    ferry_store_free(st);
    return r < 0 ? 1 : 0;
}
