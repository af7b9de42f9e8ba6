/* A small driver of the store for the multi-process script test
 * (tests/store/multiprocess.sh): each invocation is its own process with its
 * own handle, the way ferry-controller, ferry-handler and the CLI share one
 * state directory.  Not installed; the library is the product.
 *
 *   store-stress DIR incr NAME N       N read-modify-write increments of an annotation
 *   store-stress DIR create PREFIX     create PREFIX0, PREFIX1, ... until killed
 *   store-stress DIR get NAME PATH     print a field of VirtualMachine NAME
 *   store-stress DIR watch RV COUNT    print COUNT VirtualMachine events after RV
 *   store-stress DIR rv                print the store's resourceVersion
 */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/store/store.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_object *
vm(const char *name)
{
    static const char text[] =
        "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\",\"metadata\":{},"
        "\"spec\":{\"runStrategy\":\"Halted\",\"template\":{\"spec\":{\"domain\":{"
        "\"memory\":{\"guest\":\"64Mi\"},\"devices\":{}}}}}}";
    json_object *o = NULL;

    if (ferry_json_parse(text, strlen(text), "vm", &o) < 0)
        abort();
    ferry_json_set_string(o, "metadata.name", name);
    return o;
}

static int
incr(struct ferry_store *st, const char *name, long n)
{
    FERRY_AUTOPTR(json_object) fresh = vm(name);

    if (ferry_store_create(st, fresh, NULL) < 0 && ferry_error_code() != FERRY_ERR_EXISTS)
        return -1;
    for (long i = 0; i < n; i++) {
        for (;;) {
            FERRY_AUTOPTR(json_object) o = NULL;
            const char *c;
            char buf[32];

            if (ferry_store_get(st, ferry_resource_vm, "default", name, &o) < 0)
                return -1;
            c = ferry_obj_annotation(o, "count");
            snprintf(buf, sizeof buf, "%lld", (c ? atoll(c) : 0) + 1);
            ferry_obj_set_annotation(o, "count", buf);
            if (ferry_store_update(st, o, NULL) == 0)
                break;
            if (ferry_error_code() != FERRY_ERR_CONFLICT)
                return -1;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct ferry_store *st = NULL;
    int r = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: store-stress DIR incr|create|get|watch|rv ARGS...\n");
        return 2;
    }
    if (ferry_store_open(argv[1], &st) < 0) {
        fprintf(stderr, "store-stress: %s\n", ferry_error_message());
        return 1;
    }
    if (strcmp(argv[2], "incr") == 0 && argc == 5) {
        r = incr(st, argv[3], atol(argv[4]));
    } else if (strcmp(argv[2], "create") == 0 && argc == 4) {
        for (long i = 0; r == 0; i++) {
            FERRY_AUTOFREE char *name = ferry_printf("%s%ld", argv[3], i);
            FERRY_AUTOPTR(json_object) o = vm(name);
            r = ferry_store_create(st, o, NULL);
        }
    } else if (strcmp(argv[2], "get") == 0 && argc == 5) {
        FERRY_AUTOPTR(json_object) o = NULL;
        if ((r = ferry_store_get(st, ferry_resource_vm, "default", argv[3], &o)) == 0) {
            json_object *v = ferry_json_get(o, argv[4]);
            printf("%s\n", v ? json_object_get_string(v) : "");
        }
    } else if (strcmp(argv[2], "watch") == 0 && argc == 5) {
        struct ferry_watch *w = NULL;
        long want = atol(argv[4]);
        if ((r = ferry_store_watch(st, ferry_resource_vm, NULL, atoll(argv[3]), &w)) == 0) {
            for (long n = 0; n < want && r == 0; n++) {
                struct ferry_event ev;
                if (ferry_watch_next(w, 30000, &ev) != 1) {
                    r = -1;
                    if (!*ferry_error_message())
                        ferry_error(FERRY_ERR_TIMEOUT, "no event within 30 s");
                    break;
                }
                printf("%s %s %lld\n", ferry_event_type_name(ev.type),
                       ferry_json_get_string(ev.object, "metadata.name"),
                       (long long)ev.resource_version);
                fflush(stdout);
                ferry_event_release(&ev);
            }
            ferry_watch_free(w);
        }
    } else if (strcmp(argv[2], "rv") == 0) {
        int64_t rv = 0;
        if ((r = ferry_store_list(st, ferry_resource_vm, NULL, NULL, NULL, &rv)) == 0)
            printf("%lld\n", (long long)rv);
    } else {
        fprintf(stderr, "store-stress: bad arguments\n");
        r = -1;
    }
    if (r < 0)
        fprintf(stderr, "store-stress: %s\n", ferry_error_message());
    ferry_store_free(st);
    return r < 0 ? 1 : 0;
}
