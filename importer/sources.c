/* The source table and the helpers every reader uses on a source: where the
 * bytes of an image come from.  The pipeline picks the first entry whose
 * handles() accepts the URL, so the catch-all "file" source (plain paths,
 * file://) is last.  Later sources (registry, ESXi datastore, imageio, S3)
 * are one file in sources/ and one line here. */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/importer.h"

extern const struct ferry_source_ops ferry_source_http;
extern const struct ferry_source_ops ferry_source_registry;

const struct ferry_source_ops *const ferry_sources[] = {
    &ferry_source_registry,
    &ferry_source_http,
    &ferry_source_file,
    NULL,
};

struct ferry_source *
ferry_source_new(const struct ferry_source_ops *ops, const char *url)
{
    struct ferry_source *src = ferry_calloc(1, sizeof(*src));

    src->ops = ops;
    src->url = ferry_strdup(url);
    src->size = -1;
    return src;
}

void
ferry_source_free(struct ferry_source *src)
{
    if (!src)
        return;
    if (src->ops && src->ops->close)
        src->ops->close(src);
    free(src->url);
    free(src);
}

int
ferry_source_open(const char *url, struct ferry_source **ret)
{
    for (size_t i = 0; ferry_sources[i]; i++) {
        const struct ferry_source_ops *ops = ferry_sources[i];

        if (!ops->handles(url))
            continue;
        FERRY_IMP_AUTO(ferry_source) struct ferry_source *src = ferry_source_new(ops, url);
        if (ops->open(src, url) < 0)
            return -1;
        *ret = FERRY_STEAL(src);
        return 0;
    }
    return ferry_error(FERRY_ERR_UNSUPPORTED, "source '%s': no source handles this URL", url);
}

ssize_t
ferry_source_read_full(struct ferry_source *src, void *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = src->ops->read(src, (uint8_t *)buf + done, len - done);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += n;
    }
    return done;
}

int
ferry_source_pread_exact(struct ferry_source *src, void *buf, size_t len, uint64_t off,
                         const char *what)
{
    size_t done = 0;

    if (!src->ops->pread)
        return ferry_error(FERRY_ERR_INTERNAL, "'%s': random access on a stream", src->url);
    while (done < len) {
        ssize_t n = src->ops->pread(src, (uint8_t *)buf + done, len - done, off + done);
        if (n < 0)
            return -1;
        if (n == 0)
            return ferry_error(FERRY_ERR_FORMAT,
                               "'%s': %s at offset %llu (%zu bytes) is past the end of the file",
                               src->url, what, (unsigned long long)off, len);
        done += n;
    }
    return 0;
}

int
ferry_source_open_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    if (!src->open_sibling)
        return ferry_error(FERRY_ERR_UNSUPPORTED,
                           "'%s': cannot open '%s' beside it: this source has no siblings",
                           src->url, relname);
    return src->open_sibling(src, relname, ret);
}

void
ferry_extent_push(struct ferry_extent **extents, size_t *n, uint64_t off, uint64_t len,
                  enum ferry_extent_type type)
{
    if (len == 0)
        return;
    if (*n > 0) {
        struct ferry_extent *last = &(*extents)[*n - 1];
        if (last->type == type && last->offset + last->length == off) {
            last->length += len;
            return;
        }
    }
    *extents = ferry_realloc(*extents, (*n + 1) * sizeof(**extents));
    (*extents)[*n] = (struct ferry_extent){ .offset = off, .length = len, .type = type };
    (*n)++;
}
