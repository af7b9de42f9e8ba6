/* The source table and the helpers every reader uses on a source: where the
 * bytes of an image come from.  The pipeline picks the first entry whose
 * handles() accepts the URL, so the catch-all "file" source (plain paths,
 * file://) is last.
 *
 * Adding a source (ESXi datastore, imageio, S3 ...):
 *   1. write sources/NAME.c defining `const struct ferry_source_ops
 *      ferry_source_NAME` (importer/format.h) with .name, .help (one line),
 *      .schemes ("s3://", NULL), and when it has options, .options (a
 *      {NULL}-terminated array of struct ferry_source_option) and .config;
 *      .volume_size when it wants --size; .dv_source when it serves a CDI
 *      DataVolume spec.source kind; .needs_network when it reads over the
 *      network after the importer is confined (sandbox.c);
 *   2. add one extern and one line in the table below (before "file").
 * Nothing else: the build globs sources/, and --help, --list-sources, the
 * "unsupported scheme" error, option parsing (main.c), the controller's
 * DataVolume source check and tests/unit/test-tables.c read the table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "image/image.h"
#include "importer/importer.h"

extern const struct ferry_source_ops ferry_source_http;
extern const struct ferry_source_ops ferry_source_registry;
extern const struct ferry_source_ops ferry_source_s3;
extern const struct ferry_source_ops ferry_source_vmware;
extern const struct ferry_source_ops ferry_source_imageio;

const struct ferry_source_ops *const ferry_sources[] = {
    &ferry_source_registry,
    &ferry_source_vmware,
    &ferry_source_imageio,
    &ferry_source_http,
    &ferry_source_s3,
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
    size_t n = strcspn(url, ":");
    FERRY_AUTOFREE char *schemes = ferry_sources_schemes();
    return ferry_error(FERRY_ERR_UNSUPPORTED,
                       "source '%s': unsupported scheme '%.*s': ferry-importer reads %s", url,
                       (int)n, url, schemes);
}

void
ferry_source_option_string(char **slot, const char *value)
{
    free(*slot);
    *slot = ferry_strdup(value);
}

/* ---- text generated from the table -------------------------------------- */

/* "http://" -> "http", "oci-archive:" -> "oci-archive". */
static int
scheme_len(const char *scheme)
{
    return (int)strcspn(scheme, ":");
}

char *
ferry_sources_schemes(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    const char *sep = "";

    if (!f)
        ferry_oom();
    for (size_t i = 0; ferry_sources[i]; i++)
        for (const char *const *s = ferry_sources[i]->schemes; s && *s; s++) {
            fprintf(f, "%s%.*s", sep, scheme_len(*s), *s);
            sep = ", ";
        }
    fclose(f);
    return buf;
}

void
ferry_sources_list(FILE *f)
{
    for (size_t i = 0; ferry_sources[i]; i++)
        ferry_list_line(f, 10, 28, ferry_sources[i]->name, ferry_sources[i]->schemes,
                        ferry_sources[i]->help);
}

void
ferry_sources_usage(FILE *f)
{
    for (size_t i = 0; ferry_sources[i]; i++) {
        const struct ferry_source_ops *ops = ferry_sources[i];

        if (!ops->options || !ops->options[0].name)
            continue;
        fprintf(f, "\nOptions of the %s source (", ops->name);
        for (const char *const *s = ops->schemes; s && *s; s++)
            fprintf(f, "%s%s", s == ops->schemes ? "" : ", ", *s);
        fprintf(f, "):\n");
        for (const struct ferry_source_option *o = ops->options; o->name; o++) {
            FERRY_AUTOFREE char *head =
                ferry_printf("--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
            const char *h = o->help;
            size_t n = strcspn(h, "\n");

            /* "  --opt ARG" padded to the 28 columns pipeline.c's lines use */
            if (strlen(head) <= 24)
                fprintf(f, "  %-24s  %.*s\n", head, (int)n, h);
            else
                fprintf(f, "  %s\n  %-24s  %.*s\n", head, "", (int)n, h);
            for (h += n; *h == '\n'; h += n) {
                h++;
                n = strcspn(h, "\n");
                fprintf(f, "  %-24s  %.*s\n", "", (int)n, h);
            }
        }
    }
}

const struct ferry_source_ops *
ferry_sources_find_option(const char *name, const struct ferry_source_option **ret)
{
    for (size_t i = 0; ferry_sources[i]; i++)
        for (const struct ferry_source_option *o = ferry_sources[i]->options; o && o->name; o++)
            if (strcmp(o->name, name) == 0) {
                *ret = o;
                return ferry_sources[i];
            }
    return NULL;
}

void
ferry_sources_volume_size(uint64_t size)
{
    for (size_t i = 0; ferry_sources[i]; i++)
        if (ferry_sources[i]->volume_size)
            ferry_sources[i]->volume_size(size);
}

bool
ferry_sources_serve_dv(const char *kind)
{
    for (size_t i = 0; kind && ferry_sources[i]; i++)
        if (ferry_str_eq(ferry_sources[i]->dv_source, kind))
            return true;
    return false;
}

/* In alphabetical order, so that the controller's message does not move
 * when the table's probe order does. */
char *
ferry_sources_dv_kinds(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    const char *sep = "", *last = "";

    if (!f)
        ferry_oom();
    for (;;) {
        const char *next = NULL;

        for (size_t i = 0; ferry_sources[i]; i++) {
            const char *k = ferry_sources[i]->dv_source;
            if (k && strcmp(k, last) > 0 && (!next || strcmp(k, next) < 0))
                next = k;
        }
        if (!next)
            break;
        fprintf(f, "%s%s", sep, next);
        sep = ", ";
        last = next;
    }
    fclose(f);
    return buf;
}

/* The first of NAMES that OPS has. */
static const char *
own_option(const struct ferry_source_ops *ops, const char *const *names)
{
    for (; *names; names++)
        for (const struct ferry_source_option *o = ops->options; o && o->name; o++)
            if (strcmp(o->name, *names) == 0)
                return o->name;
    return NULL;
}

const char *
ferry_sources_dv_option(const char *kind, enum ferry_dv_option role)
{
    const struct ferry_source_ops *ops = NULL;
    const char *name = NULL;

    for (size_t i = 0; kind && ferry_sources[i]; i++)
        if (ferry_str_eq(ferry_sources[i]->dv_source, kind))
            ops = ferry_sources[i];
    if (!ops)
        return NULL;
    switch (role) {
    case FERRY_DV_OPT_SECRET: {
        FERRY_AUTOFREE char *own = ferry_printf("%s-secret-dir", ops->name);

        name = own_option(ops, (const char *const[]){ own, "secret-dir", NULL });
        break;
    }
    case FERRY_DV_OPT_CA: {
        FERRY_AUTOFREE char *a = ferry_printf("%s-ca-dir", ops->name);
        FERRY_AUTOFREE char *b = ferry_printf("%s-cert-dir", ops->name);
        FERRY_AUTOFREE char *c = ferry_printf("%s-ca", ops->name);
        const struct ferry_source_option *o = NULL;

        name = own_option(ops, (const char *const[]){ a, b, c, "ca-dir", "cert-dir", NULL });
        /* a process-wide CA directory (every curl handle), when one source
         * has it */
        if (!name && ferry_sources_find_option("cert-dir", &o))
            name = o->name;
        break;
    }
    case FERRY_DV_OPT_HEADER:
        name = own_option(ops, (const char *const[]){ "header", NULL });
        break;
    case FERRY_DV_OPT_HEADER_DIR:
        name = own_option(ops, (const char *const[]){ "header-dir", NULL });
        break;
    case FERRY_DV_OPT_INSECURE: {
        FERRY_AUTOFREE char *own = ferry_printf("%s-insecure", ops->name);

        name = own_option(ops, (const char *const[]){ own, NULL });
        break;
    }
    }
    return name;
}

/* LEN bytes, as many reads as it takes (preads from *OFF when OFF is not
 * NULL): the bytes read, fewer only where the source ends, or -1. */
static ssize_t
read_until_end(struct ferry_source *src, void *buf, size_t len, const uint64_t *off)
{
    size_t done = 0;

    while (done < len) {
        uint8_t *p = (uint8_t *)buf + done;
        ssize_t n = off ? src->ops->pread(src, p, len - done, *off + done)
                        : src->ops->read(src, p, len - done);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += n;
    }
    return done;
}

size_t
ferry_ramp(uint8_t **buf, size_t *len, uint64_t done, size_t max)
{
    size_t want = done < FERRY_RAMP_FIRST || max < FERRY_RAMP_FIRST ? FERRY_RAMP_FIRST : max;

    if (!*buf || *len < want) {
        free(*buf);
        *buf = ferry_malloc(want);
        *len = want;
    }
    return *len;
}

ssize_t
ferry_source_read_full(struct ferry_source *src, void *buf, size_t len)
{
    return read_until_end(src, buf, len, NULL);
}

size_t
ferry_source_clamp(const struct ferry_source *src, uint64_t off, size_t len)
{
    if (src->size < 0)
        return len;
    if (off >= (uint64_t)src->size)
        return 0;
    return len < (uint64_t)src->size - off ? len : (size_t)((uint64_t)src->size - off);
}

ssize_t
ferry_source_pread_full(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    if (!src->ops->pread)
        return ferry_error(FERRY_ERR_INTERNAL, "'%s': random access on a stream", src->url);
    return read_until_end(src, buf, len, &off);
}

int
ferry_source_pread_exact(struct ferry_source *src, void *buf, size_t len, uint64_t off,
                         const char *what)
{
    ssize_t n = ferry_source_pread_full(src, buf, len, off);

    if (n < 0)
        return -1;
    if ((size_t)n < len)
        return ferry_error(FERRY_ERR_FORMAT,
                           "'%s': %s at offset %llu (%zu bytes) is past the end of the file",
                           src->url, what, (unsigned long long)off, len);
    return 0;
}

int
ferry_read_run_flush(struct ferry_read_run *r)
{
    if (!r->len)
        return 0;
    if (ferry_source_pread_exact(r->src, r->buf + (r->voff - r->base), r->len, r->host,
                                 r->what) < 0)
        return -1;
    r->len = 0;
    return 0;
}

int
ferry_read_run_add(struct ferry_read_run *r, struct ferry_source *src, uint64_t host,
                   uint64_t voff, uint64_t len)
{
    if (r->len && r->src == src && r->host + r->len == host && r->voff + r->len == voff) {
        r->len += len;
        return 0;
    }
    if (ferry_read_run_flush(r) < 0)
        return -1;
    r->src = src;
    r->host = host;
    r->voff = voff;
    r->len = len;
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
    *extents = ferry_grow(*extents, *n, sizeof(**extents));
    (*extents)[*n] = (struct ferry_extent){ .offset = off, .length = len, .type = type };
    (*n)++;
}
