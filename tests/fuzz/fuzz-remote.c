/* Fuzz target for what the vmware and imageio sources parse of what a
 * server or CDI's environment hands them (importer/sources/imageio.c,
 * vmware.c, remote-common.c): the same input is an imageio /extents
 * answer, a Content-Range header line, and two lines (endpoint, then a
 * backing file or disk id) for CDI's endpoint mappings.  Invariants: the
 * extents are contiguous from 0, merged, end at the size reported and stay
 * within 64 TiB; a parsed Content-Range has first <= last; a URL made from
 * CDI's endpoint is one the source itself accepts (opening it stops only
 * at the missing credentials, before any request). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "importer/importer.h"
#include "importer/sources/remote-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_url(int (*fn)(const char *, const char *, char **), const char *a, const char *b)
{
    char *url = NULL;
    struct ferry_source *src = NULL;

    if (fn(a, b, &url) < 0)
        return;
    /* Error messages are cut at 2 KiB and start with the URL. */
    if (strlen(url) > 1024) {
        free(url);
        return;
    }
    if (ferry_source_open(url, &src) == 0 || !strstr(ferry_error_message(), "no credentials"))
        abort();   /* a mapped URL the source refuses, or opens */
    free(url);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FERRY_AUTOFREE char *s = NULL;

    if (size > 65536)
        return 0;
    unsetenv("IMPORTER_ACCESS_KEY_ID");
    unsetenv("IMPORTER_SECRET_KEY");
    unsetenv("IMPORTER_CERT_DIR");
    unsetenv("IMPORTER_THUMBPRINT");
    s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    /* /extents */
    json_object *j = json_tokener_parse(s);
    struct ferry_extent *ext = NULL;
    size_t n = 0;
    uint64_t end = 0;
    if (j && ferry_imageio_extents("fuzz", j, &ext, &n, &end) == 0) {
        uint64_t pos = 0;
        for (size_t i = 0; i < n; i++) {
            if (ext[i].offset != pos || ext[i].length == 0 ||
                (i > 0 && ext[i].type == ext[i - 1].type))
                abort();
            pos += ext[i].length;
        }
        if (pos != end || end == 0 || end > FERRY_MAX_VIRTUAL_SIZE)
            abort();
    }
    free(ext);
    json_object_put(j);

    /* a header line */
    struct ferry_content_range cr = { .total = -1 };
    ferry_content_range_header(&cr, s, size);
    if (cr.valid && (cr.first < 0 || cr.last < cr.first))
        abort();

    /* endpoint \n second */
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        check_url(ferry_imageio_url_from_cdi, s, nl + 1);
        check_url(ferry_vmware_url_from_cdi, s, nl + 1);
    }
    ferry_error_reset();
    return 0;
}
