/* Kubernetes objects as the C tests write them: for the cmocka tests and
 * for tests/kube/kube-store-test.c alike (nothing of cmocka here). */
#ifndef FERRY_TESTS_TESTLIB_OBJECTS_H
#define FERRY_TESTS_TESTLIB_OBJECTS_H

#include "common/util.h"

/* A halted VirtualMachine NAME in NS with LABELS (a JSON object; NULL: none)
 * as JSON text (free it).  Its spec has a field no schema knows,
 * x-unknown, that a store keeps as it is. */
static inline char *
test_vm_text(const char *name, const char *ns, const char *labels)
{
    return ferry_printf(
        "{\"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\",\"metadata\":{\"name\":"
        "\"%s\",\"namespace\":\"%s\",\"labels\":%s},\"spec\":{\"runStrategy\":\"Halted\","
        "\"template\":{\"spec\":{\"domain\":{\"devices\":{}}}},\"x-unknown\":{\"kept\":true}}}",
        name, ns, labels ? labels : "{}");
}

#endif
