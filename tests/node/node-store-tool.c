/* A test helper for the node tests: plays the controller's part against the
 * store (create a VMI already Scheduled on a node, with the node-cleanup
 * finalizer), reads objects and waits for conditions, so the handler can be
 * tested before and without ferry-controller.
 *
 *   node-store-tool STATE create FILE.yaml NODE
 *   node-store-tool STATE get NS NAME [resource]        JSON on stdout
 *   node-store-tool STATE delete NS NAME
 *   node-store-tool STATE wait-phase NS NAME PHASE SECONDS
 *   node-store-tool STATE wait-cond NS NAME TYPE STATUS SECONDS
 *   node-store-tool STATE wait-gone NS NAME SECONDS
 *   node-store-tool STATE create-many FILE.yaml NODE COUNT   names NAME-0..COUNT-1
 *   node-store-tool STATE shutdown-fs PATH   shut down the ext4 filesystem holding PATH:
 *                                            from then on every read and write fails with EIO
 */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/object.h"
#include "common/store/store.h"
#include "common/util.h"
#include "common/yaml.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <string.h>
#include <unistd.h>

static const struct ferry_resource *vmi_res;

static int
create_one(struct ferry_store *st, json_object *src, const char *name, const char *node)
{
    FERRY_AUTOPTR(json_object) obj = ferry_json_copy(src);
    FERRY_AUTOPTR(json_object) created = NULL;
    FERRY_AUTOPTR(json_object) updated = NULL;
    json_object *fin = json_object_new_array();

    if (name)
        ferry_json_set_string(obj, "metadata.name", name);
    json_object_array_add(fin, json_object_new_string("ferry.io/node-cleanup"));
    ferry_json_set(obj, "metadata.finalizers", fin);
    if (ferry_store_create(st, obj, &created) < 0)
        return -1;
    ferry_json_set_string(created, "status.phase", "Scheduled");
    ferry_json_set_string(created, "status.nodeName", node);
    return ferry_store_update_status(st, created, &updated);
}

int
main(int argc, char **argv)
{
    struct ferry_store *st = NULL;
    const char *cmd;
    int rc = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: see the source\n");
        return 2;
    }
    cmd = argv[2];
    if (strcmp(cmd, "shutdown-fs") == 0 && argc == 4) {
        /* EXT4_IOC_SHUTDOWN, EXT4_GOING_FLAGS_NOLOGFLUSH (linux/fs/ext4/ext4.h) */
        uint32_t how = 2;
        int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ioctl(fd, _IOR('X', 125, uint32_t), &how) < 0) {
            perror(argv[3]);
            return 1;
        }
        close(fd);
        return 0;
    }
    if (ferry_store_open(argv[1], &st) < 0)
        goto err;
    vmi_res = ferry_resource_lookup("vmi");
    if (strcmp(cmd, "create") == 0 && argc == 5) {
        FERRY_AUTOPTR(json_object) docs = NULL;
        if (ferry_yaml_parse_file(argv[3], &docs) < 0 ||
            create_one(st, json_object_array_get_idx(docs, 0), NULL, argv[4]) < 0)
            goto err;
        rc = 0;
    } else if (strcmp(cmd, "create-many") == 0 && argc == 6) {
        FERRY_AUTOPTR(json_object) docs = NULL;
        int n = atoi(argv[5]);
        if (ferry_yaml_parse_file(argv[3], &docs) < 0)
            goto err;
        json_object *doc = json_object_array_get_idx(docs, 0);
        for (int i = 0; i < n; i++) {
            FERRY_AUTOFREE char *name = ferry_printf("%s-%d", ferry_obj_name(doc), i);
            if (create_one(st, doc, name, argv[4]) < 0)
                goto err;
        }
        rc = 0;
    } else if (strcmp(cmd, "get") == 0 && argc >= 5) {
        FERRY_AUTOPTR(json_object) obj = NULL;
        const struct ferry_resource *res = argc > 5 ? ferry_resource_lookup(argv[5]) : vmi_res;
        if (ferry_store_get(st, res, res->namespaced ? argv[3] : NULL, argv[4], &obj) < 0)
            goto err;
        FERRY_AUTOFREE char *s = ferry_json_to_string(obj, true);
        printf("%s\n", s);
        rc = 0;
    } else if (strcmp(cmd, "delete") == 0 && argc == 5) {
        if (ferry_store_delete(st, vmi_res, argv[3], argv[4]) < 0)
            goto err;
        rc = 0;
    } else if ((strcmp(cmd, "wait-phase") == 0 && argc == 7) ||
               (strcmp(cmd, "wait-cond") == 0 && argc == 8) ||
               (strcmp(cmd, "wait-gone") == 0 && argc == 6)) {
        int secs = atoi(argv[argc - 1]);
        uint64_t deadline = ferry_now_ns() + (uint64_t)secs * 1000000000ULL;
        const char *last = "";
        FERRY_AUTOFREE char *lastbuf = NULL;
        for (;;) {
            FERRY_AUTOPTR(json_object) obj = NULL;
            int g = ferry_store_get(st, vmi_res, argv[3], argv[4], &obj);
            if (cmd[5] == 'g') {
                if (g < 0 && ferry_error_code() == FERRY_ERR_NOTFOUND) {
                    rc = 0;
                    break;
                }
            } else if (g == 0 && cmd[5] == 'p') {
                const char *p = ferry_json_get_string(obj, "status.phase");
                free(lastbuf);
                lastbuf = ferry_strdup(p ? p : "");
                last = lastbuf;
                if (ferry_str_eq(p, argv[5])) {
                    rc = 0;
                    break;
                }
                if (ferry_str_eq(p, "Failed") && strcmp(argv[5], "Failed")) {
                    FERRY_AUTOFREE char *s = ferry_json_to_string(ferry_json_get(obj, "status"), true);
                    fprintf(stderr, "VMI failed: %s\n", s);
                    break;
                }
            } else if (g == 0) {
                json_object *c = ferry_condition_get(obj, argv[5]);
                const char *s = c ? ferry_json_get_string(c, "status") : NULL;
                if (ferry_str_eq(s, argv[6]) || (!c && strcmp(argv[6], "absent") == 0)) {
                    rc = 0;
                    break;
                }
            }
            if (ferry_now_ns() >= deadline) {
                fprintf(stderr, "%s %s/%s: not reached within %d s (phase '%s')\n", cmd, argv[3],
                        argv[4], secs, last);
                break;
            }
            usleep(20000);
        }
    } else {
        fprintf(stderr, "node-store-tool: bad command\n");
        rc = 2;
    }
    ferry_store_free(st);
    return rc;
err:
    fprintf(stderr, "node-store-tool: %s\n", ferry_error_message());
    ferry_store_free(st);
    return 1;
}
