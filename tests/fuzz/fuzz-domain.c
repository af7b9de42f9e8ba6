/* Fuzz target for the node's parsers of outside input: a VMI (YAML or JSON)
 * through ferry_domain_build(), and the same bytes as launcher-socket lines
 * through ferry_proto_next().  Invariants: a conversion either fails with a
 * message or yields XML that libxml2 parses back with a <domain> root; the
 * line splitter never returns a non-object and always consumes input. */
#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"
#include "common/yaml.h"
#include "launcher/domain.h"
#include "proto/proto.h"

#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
no_direct(const char *path, void *opaque)
{
    return strlen(path) % 2 == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FERRY_AUTOPTR(json_object) vmi = NULL;
    struct ferry_domain_opts opts = { .state_dir = "/var/lib/ferry", .kvm = size % 2 == 0 };
    struct ferry_proto_reader r = { 0 };
    json_object *m;
    int n;

    if (size > 65536)
        return 0;
    if (size % 3 == 0)
        opts.direct_io = no_direct;
    if (ferry_yaml_parse_one((const char *)data, size, "fuzz", &vmi) == 0 &&
        json_object_is_type(vmi, json_type_object)) {
        FERRY_AUTOFREE char *xml = NULL;
        if (ferry_domain_build(vmi, &opts, &xml) == 0) {
            xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET);
            if (!doc || !xmlDocGetRootElement(doc) ||
                !xmlStrEqual(xmlDocGetRootElement(doc)->name, BAD_CAST "domain"))
                abort();
            xmlFreeDoc(doc);
        } else if (!*ferry_error_message()) {
            abort();
        }
    }
    ferry_error_reset();

    r.buf = ferry_malloc(size + 1);
    memcpy(r.buf, data, size);
    r.len = size;
    r.cap = size + 1;
    for (;;) {
        size_t before = r.len;
        n = ferry_proto_next(&r, &m);
        if (n == 0)
            break;
        if (r.len >= before)
            abort(); /* a line was taken: the buffer must shrink */
        if (n > 0) {
            if (!json_object_is_type(m, json_type_object))
                abort();
            json_object_put(m);
        }
    }
    ferry_proto_reader_release(&r);
    return 0;
}
