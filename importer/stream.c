/* Stream layers: sources that wrap another source.  The meter counts the
 * bytes fetched and feeds the checksum; peek lets the pipeline look at the
 * first bytes of a stream and still read them; unpack runs libarchive
 * (decompression filters, tar/OVA containers) over a source; scratch copies
 * a stream to an unlinked file beside the destination when a format needs
 * random access.  Every wrapper owns its inner source and resolves
 * siblings (VMDK extents) through it. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zlib.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "importer/importer.h"

/* libarchive may have no message (a stream cut in the wrong place): never
 * print "(null)". */
#define AERR(a)                                                                                \
    (archive_error_string(a) ? archive_error_string(a)                                         \
                             : "truncated or corrupt (libarchive gives no detail)")

#define MOD "importer.stream"

/* Every wrapper's priv starts with its inner source. */
struct wrap {
    struct ferry_source *inner;
};

static int
wrap_open_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    struct wrap *w = src->priv;
    return ferry_source_open_sibling(w->inner, relname, ret);
}

static struct ferry_source *
wrap_new(const struct ferry_source_ops *ops, struct ferry_source *inner, void *priv)
{
    struct ferry_source *src = ferry_source_new(ops, inner->url);

    src->priv = priv;
    src->size = inner->size;
    src->open_sibling = wrap_open_sibling;
    return src;
}

/* ---- meter --------------------------------------------------------------- */

struct meter {
    struct ferry_source *inner;
    struct ferry_checksum *sum;
    uint64_t *counter;
};

static ssize_t
meter_read(struct ferry_source *src, void *buf, size_t len)
{
    struct meter *m = src->priv;
    ssize_t n = m->inner->ops->read(m->inner, buf, len);

    if (n > 0) {
        ferry_checksum_update(m->sum, buf, n);
        if (m->counter)
            __atomic_add_fetch(m->counter, (uint64_t)n, __ATOMIC_RELAXED);
    }
    return n;
}

static ssize_t
meter_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct meter *m = src->priv;
    return m->inner->ops->pread(m->inner, buf, len, off);
}

static void
wrap_close(struct ferry_source *src)
{
    struct wrap *w = src->priv;

    if (w) {
        ferry_source_free(w->inner);
        free(w);
    }
}

static const struct ferry_source_ops meter_ops = {
    .name = "meter",
    .read = meter_read,
    .pread = meter_pread,
    .close = wrap_close,
};

struct ferry_source *
ferry_stream_meter(struct ferry_source *inner, struct ferry_checksum *sum, uint64_t *counter)
{
    struct meter *m = ferry_calloc(1, sizeof(*m));
    struct ferry_source *src;

    m->inner = inner;
    m->sum = sum;
    m->counter = counter;
    src = wrap_new(&meter_ops, inner, m);
    /* With a checksum every byte must pass through read(): no pread. */
    src->seekable = inner->seekable && !sum;
    return src;
}

struct ferry_source *
ferry_source_base(struct ferry_source *src)
{
    while (src->ops == &meter_ops && src->seekable)
        src = ((struct meter *)src->priv)->inner;
    return src;
}

int
ferry_stream_meter_drain(struct ferry_source *meter)
{
    FERRY_AUTOFREE uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t done = 0;

    for (;;) {
        size_t want = ferry_ramp(&buf, &len, done, 1 << 20);
        ssize_t n = meter_read(meter, buf, want);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        done += (uint64_t)n;
    }
}

/* ---- peek ---------------------------------------------------------------- */

struct peek {
    struct ferry_source *inner;
    uint8_t *head;
    size_t len, pos;
};

static ssize_t
peek_read(struct ferry_source *src, void *buf, size_t len)
{
    struct peek *p = src->priv;

    if (p->pos < p->len) {
        size_t n = p->len - p->pos < len ? p->len - p->pos : len;
        memcpy(buf, p->head + p->pos, n);
        p->pos += n;
        if (p->pos == p->len) {
            free(p->head);
            p->head = NULL;
            p->len = p->pos = 0;
            p->len = 0;
            p->pos = 1;   /* drained */
        }
        return n;
    }
    return p->inner->ops->read(p->inner, buf, len);
}

static void
peek_close(struct ferry_source *src)
{
    struct peek *p = src->priv;

    if (p)
        free(p->head);
    wrap_close(src);
}

static const struct ferry_source_ops peek_ops = {
    .name = "peek",
    .read = peek_read,
    .close = peek_close,
};

struct ferry_source *
ferry_stream_peek(struct ferry_source *inner, size_t want, const uint8_t **ret_head,
                  size_t *ret_len)
{
    struct peek *p = ferry_calloc(1, sizeof(*p));
    ssize_t n;

    p->inner = inner;
    p->head = ferry_malloc(want);
    n = ferry_source_read_full(inner, p->head, want);
    if (n < 0) {
        free(p->head);
        free(p);
        ferry_source_free(inner);
        return NULL;
    }
    p->len = n;
    *ret_head = p->head;
    *ret_len = n;
    return wrap_new(&peek_ops, inner, p);
}

/* ---- content sniffing ---------------------------------------------------- */

bool
ferry_stream_is_compressed(const uint8_t *h, size_t len)
{
    return (len >= 3 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 8) ||             /* gzip */
           (len >= 6 && memcmp(h, "\xfd" "7zXZ\0", 6) == 0) ||                     /* xz */
           (len >= 4 && memcmp(h, "\x28\xb5\x2f\xfd", 4) == 0) ||                  /* zstd */
           (len >= 10 && memcmp(h, "BZh", 3) == 0 && h[3] >= '1' && h[3] <= '9' &&
            memcmp(h + 4, "\x31\x41\x59\x26\x53\x59", 6) == 0);                     /* bzip2 */
}

bool
ferry_stream_is_tar(const uint8_t *h, size_t len)
{
    /* POSIX ustar and GNU tar: "ustar" at 257; the header checksum is
     * verified by libarchive. */
    return len >= 512 && memcmp(h + 257, "ustar", 5) == 0;
}

/* ---- gunzip: every member's CRC32 and ISIZE checked ---------------------- */

/* libarchive's gzip filter skips the trailer unchecked: a corrupt .gz would
 * import with a wrong byte.  Here zlib inflates the raw deflate data, the
 * header is parsed and the trailer compared with zlib's CRC32 (about 6 GB/s
 * here) and size of the output. */
#define GZ_CRC32(c, p, n) ((uint32_t)crc32_z((c), (p), (n)))

struct gunzip {
    struct ferry_source *inner;
    z_stream z;
    uint8_t *in;
    size_t in_len;              /* in's size (ferry_ramp) */
    uint64_t in_total;          /* bytes read from inner */
    bool in_eof;                /* the inner source is at its end */
    bool in_member;             /* between header and trailer */
    bool done;
    uint64_t members;
    uint32_t crc, isize;        /* of the member's output so far */
};

#define GUNZIP_BUF (1u << 20)
/* Output is produced and checked in pieces of this size (in the cache). */
#define GUNZIP_PIECE (256u << 10)

static int
gunzip_fill(struct ferry_source *src, struct gunzip *g)
{
    ssize_t n;

    if (g->z.avail_in || g->in_eof)
        return 0;
    size_t want = ferry_ramp(&g->in, &g->in_len, g->in_total, GUNZIP_BUF);
    n = g->inner->ops->read(g->inner, g->in, want);
    if (n < 0)
        return -1;
    if (n == 0)
        g->in_eof = true;
    g->in_total += (uint64_t)n;
    g->z.next_in = g->in;
    g->z.avail_in = n;
    return 0;
}

/* The next input byte; -1 at the end of the input, -2 on error. */
static int
gunzip_byte(struct ferry_source *src, struct gunzip *g)
{
    if (gunzip_fill(src, g) < 0)
        return -2;
    if (!g->z.avail_in)
        return -1;
    g->z.avail_in--;
    return *g->z.next_in++;
}

static int
gunzip_truncated(struct ferry_source *src, struct gunzip *g, const char *where)
{
    return ferry_error(FERRY_ERR_FORMAT,
                       "'%s': gzip: the stream is truncated (member %llu ends in its %s)",
                       src->url, (unsigned long long)g->members + 1, where);
}

/* A member's header (RFC 1952); 1 at the end of the stream. */
static int
gunzip_header(struct ferry_source *src, struct gunzip *g)
{
    uint8_t h[10];
    int c;

    /* Zeros after a member are padding (tape blocks); the end is fine. */
    do {
        c = gunzip_byte(src, g);
    } while (c == 0 && g->members > 0);
    if (c == -2)
        return -1;
    if (c == -1 && g->members > 0)
        return 1;
    h[0] = c;
    for (int i = 1; i < 10; i++) {
        c = gunzip_byte(src, g);
        if (c < 0)
            return c == -2 ? -1 : gunzip_truncated(src, g, "header");
        h[i] = c;
    }
    if (h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 || (h[3] & 0xe0))
        return ferry_error(FERRY_ERR_FORMAT, "'%s': gzip: %s after member %llu", src->url,
                           g->members ? "garbage (not another member)" : "bad header",
                           (unsigned long long)g->members);
    uint8_t flg = h[3];
    if (flg & 4) {          /* FEXTRA */
        int a = gunzip_byte(src, g), b = gunzip_byte(src, g);
        if (a < 0 || b < 0)
            return a == -2 || b == -2 ? -1 : gunzip_truncated(src, g, "header");
        for (int n = a | b << 8; n > 0; n--)
            if ((c = gunzip_byte(src, g)) < 0)
                return c == -2 ? -1 : gunzip_truncated(src, g, "header");
    }
    for (int f = 8; f <= 16; f <<= 1)   /* FNAME, FCOMMENT: NUL-terminated */
        if (flg & f)
            do
                if ((c = gunzip_byte(src, g)) < 0)
                    return c == -2 ? -1 : gunzip_truncated(src, g, "header");
            while (c != 0);
    if (flg & 2)            /* FHCRC */
        for (int i = 0; i < 2; i++)
            if ((c = gunzip_byte(src, g)) < 0)
                return c == -2 ? -1 : gunzip_truncated(src, g, "header");
    inflateReset(&g->z);
    g->crc = 0;
    g->isize = 0;
    g->in_member = true;
    return 0;
}

static int
gunzip_trailer(struct ferry_source *src, struct gunzip *g)
{
    uint8_t t[8];

    for (int i = 0; i < 8; i++) {
        int c = gunzip_byte(src, g);
        if (c < 0)
            return c == -2 ? -1 : gunzip_truncated(src, g, "CRC32 and size");
        t[i] = c;
    }
    uint32_t crc = t[0] | t[1] << 8 | t[2] << 16 | (uint32_t)t[3] << 24;
    uint32_t isize = t[4] | t[5] << 8 | t[6] << 16 | (uint32_t)t[7] << 24;
    g->members++;
    if (crc != g->crc)
        return ferry_error(FERRY_ERR_FORMAT,
                           "'%s': gzip: member %llu: incorrect data check (its CRC32 does not "
                           "match: corrupt)",
                           src->url, (unsigned long long)g->members);
    if (isize != g->isize)
        return ferry_error(FERRY_ERR_FORMAT,
                           "'%s': gzip: member %llu: incorrect length check (its size does not "
                           "match: corrupt)",
                           src->url, (unsigned long long)g->members);
    g->in_member = false;
    return 0;
}

static ssize_t
gunzip_read(struct ferry_source *src, void *buf, size_t len)
{
    struct gunzip *g = src->priv;
    size_t done = 0;

    while (done < len && !g->done) {
        if (!g->in_member) {
            int r = gunzip_header(src, g);
            if (r < 0)
                return -1;
            if (r == 1) {
                g->done = true;
                break;
            }
        }
        if (gunzip_fill(src, g) < 0)
            return -1;
        if (!g->z.avail_in && g->in_eof)
            return gunzip_truncated(src, g, "data");
        size_t piece = len - done < GUNZIP_PIECE ? len - done : GUNZIP_PIECE;
        uint8_t *out = (uint8_t *)buf + done;
        g->z.next_out = out;
        g->z.avail_out = piece;
        int zr = inflate(&g->z, Z_NO_FLUSH);
        size_t got = piece - g->z.avail_out;
        g->crc = GZ_CRC32(g->crc, out, got);
        g->isize += (uint32_t)got;
        done += got;
        if (zr == Z_STREAM_END) {
            if (gunzip_trailer(src, g) < 0)
                return -1;
        } else if (zr == Z_MEM_ERROR) {
            ferry_oom();
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            return ferry_error(FERRY_ERR_FORMAT, "'%s': gzip: member %llu: %s", src->url,
                               (unsigned long long)g->members + 1,
                               g->z.msg ? g->z.msg : "corrupt data");
        }
    }
    return done;
}

static void
gunzip_close(struct ferry_source *src)
{
    struct gunzip *g = src->priv;

    if (g) {
        inflateEnd(&g->z);
        free(g->in);
    }
    wrap_close(src);
}

static const struct ferry_source_ops gunzip_ops = {
    .name = "gunzip",
    .read = gunzip_read,
    .close = gunzip_close,
};

bool
ferry_stream_is_gzip(const uint8_t *h, size_t len)
{
    return len >= 3 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 8;
}

struct ferry_source *
ferry_stream_gunzip(struct ferry_source *inner)
{
    struct gunzip *g = ferry_calloc(1, sizeof(*g));
    struct ferry_source *src;

    g->inner = inner;
    /* Raw deflate, the largest window: the gzip framing is parsed here. */
    if (inflateInit2(&g->z, -MAX_WBITS) != Z_OK)
        ferry_oom();
    src = wrap_new(&gunzip_ops, inner, g);
    src->size = -1;
    src->seekable = false;
    return src;
}

/* ---- unpack: libarchive -------------------------------------------------- */

struct unpack {
    struct ferry_source *inner;
    struct archive *a;
    uint8_t *buf;
    size_t buf_len;
    bool failed;
    bool positional;            /* a seekable tar: pread at pos, skips are free */
    bool borrowed;              /* inner belongs to another source */
    bool tar;
    uint64_t pos;
    char *dir;                  /* the chosen member's directory in the tar ("" or "a/b/") */
    char **passed;              /* members already gone by (a stream cannot go back) */
    size_t npassed;
    bool member_open;           /* a sibling member source reads the archive now */
};

/* libarchive is fed 64 KiB blocks at first, then blocks of this size
 * (ferry_ramp). */
#define UNPACK_BUF (1u << 20)

ssize_t
ferry_archive_read_result(struct archive *a, ssize_t n, const void *buf, const void **ret,
                          bool *failed)
{
    if (n < 0) {
        *failed = true;
        archive_set_error(a, EIO, "%s", ferry_error_message());
        return -1;
    }
    *ret = buf;
    return n;
}

static la_ssize_t
unpack_cb_read(struct archive *a, void *opaque, const void **ret)
{
    struct unpack *u = opaque;

    /* The block libarchive had is no longer in use when it asks again. */
    ferry_ramp(&u->buf, &u->buf_len, u->pos, UNPACK_BUF);
    ssize_t n = u->positional ? u->inner->ops->pread(u->inner, u->buf, u->buf_len, u->pos)
                              : u->inner->ops->read(u->inner, u->buf, u->buf_len);

    if (n > 0)
        u->pos += n;
    return ferry_archive_read_result(a, n, u->buf, ret, &u->failed);
}

static la_int64_t
unpack_cb_skip(struct archive *a, void *opaque, la_int64_t request)
{
    struct unpack *u = opaque;
    int64_t left = u->inner->size - (int64_t)u->pos;

    if (request > left)
        request = left > 0 ? left : 0;
    u->pos += request;
    return request;
}

/* ---- a range of a seekable source (a disk inside an uncompressed tar) --- */

struct range {
    struct ferry_source *inner;
    uint64_t base;
    uint64_t pos;
    bool borrowed;              /* inner belongs to another source (a sibling member) */
    char *dir;                  /* the member's directory in the tar */
};

static ssize_t
range_pread(struct ferry_source *src, void *buf, size_t len, uint64_t off)
{
    struct range *r = src->priv;

    len = ferry_source_clamp(src, off, len);
    if (len == 0)
        return 0;
    return r->inner->ops->pread(r->inner, buf, len, r->base + off);
}

static ssize_t
range_read(struct ferry_source *src, void *buf, size_t len)
{
    struct range *r = src->priv;
    ssize_t n = range_pread(src, buf, len, r->pos);

    if (n > 0)
        r->pos += n;
    return n;
}

static void
range_close(struct ferry_source *src)
{
    struct range *r = src->priv;

    if (r) {
        if (!r->borrowed)
            ferry_source_free(r->inner);
        free(r->dir);
        free(r);
    }
}

static const struct ferry_source_ops range_ops = {
    .name = "range",
    .read = range_read,
    .pread = range_pread,
    .close = range_close,
};

/* Where the current entry's data starts in a seekable, uncompressed tar:
 * after its header blocks (one, or more with pax/GNU extensions), checked
 * against the first bytes libarchive returns.  -1 when not found. */
static int64_t
entry_data_offset(struct unpack *u, int64_t header_pos, const uint8_t *head, size_t len)
{
    uint8_t probe[4096];

    if (len == 0 || len > sizeof(probe))
        return -1;
    for (int k = 1; k <= 64; k++) {
        int64_t off = header_pos + 512 * k;
        if (off + (int64_t)len > u->inner->size)
            break;
        if (ferry_source_pread_exact(u->inner, probe, len, off, "tar entry") < 0) {
            ferry_error_reset();
            return -1;
        }
        if (memcmp(probe, head, len) == 0)
            return off;
    }
    return -1;
}

/* The current member's data, for the archive itself and for a sibling
 * member read through it; SRC names the reader in errors. */
static ssize_t
unpack_read_data(struct ferry_source *src, struct unpack *u, void *buf, size_t len)
{
    la_ssize_t n = archive_read_data(u->a, buf, len);

    if (n < 0) {
        if (u->failed)
            return ferry_error_prefix("'%s'", src->url);
        return ferry_error(FERRY_ERR_FORMAT, "'%s': unpacking: %s", src->url,
                           AERR(u->a));
    }
    return n;
}

static ssize_t
unpack_read(struct ferry_source *src, void *buf, size_t len)
{
    return unpack_read_data(src, src->priv, buf, len);
}

static void
unpack_close(struct ferry_source *src)
{
    struct unpack *u = src->priv;

    if (u) {
        archive_read_free(u->a);
        free(u->buf);
        free(u->dir);
        for (size_t i = 0; i < u->npassed; i++)
            free(u->passed[i]);
        free(u->passed);
        if (u->borrowed)
            u->inner = NULL;
    }
    wrap_close(src);
}

static const struct ferry_source_ops unpack_ops = {
    .name = "unpack",
    .read = unpack_read,
    .close = unpack_close,
};

static bool
skip_entry_name(const char *name)
{
    static const char *const meta[] = { ".ovf", ".mf", ".cert", ".xml", ".txt", ".md", NULL };

    for (size_t i = 0; meta[i]; i++)
        if (strlen(name) >= strlen(meta[i]) &&
            strcasecmp(name + strlen(name) - strlen(meta[i]), meta[i]) == 0)
            return true;
    return false;
}


/* A member's name without "./" prefixes. */
static const char *
member_name(const char *name)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    while (name[0] == '/')
        name++;
    return name;
}

/* The directory part of a member name, with its slash ("" at the top). */
static char *
member_dir(const char *name)
{
    const char *slash = strrchr(name, '/');
    return slash ? ferry_strndup(name, slash - name + 1) : ferry_strdup("");
}

static int unpack_open(struct ferry_source *inner, bool tar, unsigned disk, const char *member,
                       bool borrowed, struct ferry_source **ret);

/* A sibling of a disk in a seekable tar (a VMDK extent beside its
 * descriptor in an OVA): another member of the same tar, found by reading
 * the tar again from its start, never a file beside the tar. */
static int
range_open_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    struct range *r = src->priv;

    if (ferry_check_relname(src->url, relname) < 0)
        return -1;
    FERRY_AUTOFREE char *want = ferry_printf("%s%s", r->dir ? r->dir : "", relname);
    return unpack_open(r->inner, true, 0, want, true, ret);
}

/* Reading the current member of a streamed tar (a sibling found ahead). */
struct member {
    struct ferry_source *archive;   /* the unpack source (not owned) */
};

static ssize_t
member_read(struct ferry_source *src, void *buf, size_t len)
{
    struct member *m = src->priv;

    return unpack_read_data(src, m->archive->priv, buf, len);
}

static void
member_close(struct ferry_source *src)
{
    struct member *m = src->priv;

    if (m)
        ((struct unpack *)m->archive->priv)->member_open = false;
    free(m);
}

static const struct ferry_source_ops member_ops = {
    .name = "member",
    .read = member_read,
    .close = member_close,
};

static int
entry_refuse_type(const char *url, const char *name, struct archive_entry *entry)
{
    if (archive_entry_filetype(entry) == AE_IFREG && !archive_entry_hardlink(entry))
        return 0;
    return ferry_error(FERRY_ERR_SECURITY,
                       "'%s': refusing the member '%s': not a regular file (a link, device "
                       "or directory)",
                       url, name);
}

/* A sibling of a disk in a streamed tar: a member further on in the same
 * stream (the archive is read forward to it); one before is gone. */
static int
unpack_open_sibling(struct ferry_source *src, const char *relname, struct ferry_source **ret)
{
    struct unpack *u = src->priv;
    struct archive_entry *entry;

    if (!u->tar)
        return wrap_open_sibling(src, relname, ret);
    if (ferry_check_relname(src->url, relname) < 0)
        return -1;
    if (u->member_open)
        return ferry_error(FERRY_ERR_INTERNAL, "'%s': two members open at once", src->url);
    FERRY_AUTOFREE char *want = ferry_printf("%s%s", u->dir ? u->dir : "", relname);
    for (size_t i = 0; i < u->npassed; i++)
        if (strcmp(u->passed[i], want) == 0)
            return ferry_error(FERRY_ERR_UNSUPPORTED,
                               "'%s': the member '%s' comes before the descriptor in the "
                               "archive, and a stream cannot go back (import it from a file)",
                               u->inner->url, want);
    for (;;) {
        int r = archive_read_next_header(u->a, &entry);
        if (r == ARCHIVE_EOF)
            return ferry_error(FERRY_ERR_NOTFOUND, "'%s': no member '%s' in the archive",
                               u->inner->url, want);
        if (r < ARCHIVE_WARN) {
            if (u->failed)
                return ferry_error_prefix("'%s'", u->inner->url);
            return ferry_error(FERRY_ERR_FORMAT, "'%s': %s", u->inner->url,
                               AERR(u->a));
        }
        const char *name = archive_entry_pathname(entry);
        if (!name)
            continue;
        name = member_name(name);
        if (strcmp(name, want) != 0) {
            u->passed = ferry_grow(u->passed, u->npassed, sizeof(*u->passed));
            u->passed[u->npassed++] = ferry_strdup(name);
            continue;
        }
        if (entry_refuse_type(u->inner->url, name, entry) < 0)
            return -1;
        struct member *m = ferry_calloc(1, sizeof(*m));
        m->archive = src;
        struct ferry_source *ms = ferry_source_new(&member_ops, "");
        free(ms->url);
        ms->url = ferry_printf("%s:%s", u->inner->url, name);
        ms->priv = m;
        ms->size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1;
        u->member_open = true;
        *ret = ms;
        return 0;
    }
}

int
ferry_stream_unpack(struct ferry_source *inner, bool tar, unsigned disk, struct ferry_source **ret)
{
    return unpack_open(inner, tar, disk, NULL, false, ret);
}

/* Open the DISK-th disk of a tar, or (MEMBER) the member of that name; a
 * BORROWED inner source is not freed with the result. */
static int
unpack_open(struct ferry_source *inner, bool tar, unsigned disk, const char *member,
            bool borrowed, struct ferry_source **ret)
{
    struct unpack *u = ferry_calloc(1, sizeof(*u));
    struct ferry_source *src;
    struct archive_entry *entry;
    unsigned seen = 0;
    int r;

    u->inner = inner;
    u->borrowed = borrowed;
    u->tar = tar;
    u->a = archive_read_new();
    /* Named filters only: filter_all would also run external programs
     * (lrzip, grzip ...) on hostile input. */
    archive_read_support_filter_gzip(u->a);
    archive_read_support_filter_xz(u->a);
    archive_read_support_filter_lzma(u->a);
    archive_read_support_filter_zstd(u->a);
    archive_read_support_filter_bzip2(u->a);
    /* Raw matches everything: one format at a time, chosen by content. */
    if (tar)
        archive_read_support_format_tar(u->a);
    else
        archive_read_support_format_raw(u->a);
    src = wrap_new(&unpack_ops, inner, u);
    src->size = -1;
    if (tar)
        src->open_sibling = unpack_open_sibling;
    /* An uncompressed tar on a seekable source is read by position, and
     * the chosen disk becomes a seekable range of it (no scratch file). */
    u->positional = tar && inner->seekable && inner->size > 0 && inner->ops->pread;
    if (u->positional)
        archive_read_set_skip_callback(u->a, unpack_cb_skip);
    archive_read_set_read_callback(u->a, unpack_cb_read);
    archive_read_set_callback_data(u->a, u);
    if (archive_read_open1(u->a) != ARCHIVE_OK) {
        ferry_error(FERRY_ERR_FORMAT, "'%s': %s", inner->url, AERR(u->a));
        ferry_source_free(src);
        return -1;
    }
    for (;;) {
        r = archive_read_next_header(u->a, &entry);
        if (r == ARCHIVE_EOF) {
            if (member)
                ferry_error(FERRY_ERR_NOTFOUND, "'%s': no member '%s' in the archive",
                            inner->url, member);
            else if (disk > 1 && seen > 0)
                ferry_error(FERRY_ERR_NOTFOUND, "'%s': --disk %u: the archive has %u disk%s",
                            inner->url, disk, seen, seen == 1 ? "" : "s");
            else
                ferry_error(FERRY_ERR_NOTFOUND, "'%s': no disk image in the archive", inner->url);
            ferry_source_free(src);
            return -1;
        }
        if (r < ARCHIVE_WARN) {
            if (u->failed)
                ferry_error_prefix("'%s'", inner->url);
            else
                ferry_error(FERRY_ERR_FORMAT, "'%s': %s", inner->url, AERR(u->a));
            ferry_source_free(src);
            return -1;
        }
        if (!tar)
            break;
        const char *name = archive_entry_pathname(entry);
        if (name && !u->positional) {
            u->passed = ferry_grow(u->passed, u->npassed, sizeof(*u->passed));
            u->passed[u->npassed++] = ferry_strdup(member_name(name));
        }
        if (member) {
            if (!name || strcmp(member_name(name), member) != 0)
                continue;
            if (entry_refuse_type(inner->url, member, entry) < 0) {
                ferry_source_free(src);
                return -1;
            }
        } else {
            if (archive_entry_filetype(entry) != AE_IFREG || !name || skip_entry_name(name))
                continue;
            seen++;
        }
        if (member || (disk <= 1 ? seen == 1 : seen == disk)) {
            ferry_log_debug(MOD, "'%s': disk %u is '%s'", inner->url, seen, name);
            if (archive_entry_size_is_set(entry))
                src->size = archive_entry_size(entry);
            free(src->url);
            src->url = ferry_printf("%s:%s", inner->url, member_name(name));
            u->dir = member_dir(member_name(name));
            if (!member && src->size == 0) {
                ferry_error(FERRY_ERR_FORMAT, "'%s': the disk member is empty (0 bytes)",
                            src->url);
                ferry_source_free(src);
                return -1;
            }
            if (u->positional && src->size > 0 && archive_entry_sparse_count(entry) == 0 &&
                archive_read_header_position(u->a) + 512 + src->size > inner->size) {
                ferry_error(FERRY_ERR_FORMAT,
                            "'%s': the tar is truncated: the member needs %lld bytes after its "
                            "header at offset %lld, the file ends at %lld",
                            src->url, (long long)src->size,
                            (long long)archive_read_header_position(u->a),
                            (long long)inner->size);
                ferry_source_free(src);
                return -1;
            }
            if (u->positional && src->size > 0 && archive_entry_sparse_count(entry) == 0) {
                int64_t hpos = archive_read_header_position(u->a);
                uint8_t head[4096];
                la_ssize_t n = archive_read_data(u->a, head,
                                                 src->size < 4096 ? (size_t)src->size : 4096);
                int64_t off = n > 0 ? entry_data_offset(u, hpos, head, n) : -1;
                if (off >= 0 && off + src->size <= inner->size) {
                    struct range *rg = ferry_calloc(1, sizeof(*rg));
                    struct ferry_source *rs = ferry_source_new(&range_ops, src->url);
                    /* The range takes the inner source; the archive goes. */
                    rg->inner = inner;
                    rg->base = off;
                    rg->borrowed = borrowed;
                    rg->dir = FERRY_STEAL(u->dir);
                    rs->priv = rg;
                    rs->size = src->size;
                    rs->seekable = true;
                    rs->open_sibling = range_open_sibling;
                    u->inner = NULL;
                    ferry_source_free(src);
                    ferry_log_debug(MOD, "'%s': at offset %lld of the tar", rs->url,
                                    (long long)off);
                    *ret = rs;
                    return 0;
                }
                ferry_error(FERRY_ERR_INTERNAL, "'%s': disk data not found in the tar", src->url);
                ferry_source_free(src);
                return -1;
            }
            if (member && u->positional) {
                /* An empty or sparse member: read through the archive. */
                ferry_error(FERRY_ERR_UNSUPPORTED,
                            "'%s': an empty or sparse member cannot be a file of the disk",
                            src->url);
                ferry_source_free(src);
                return -1;
            }
            break;
        }
    }
    src->seekable = false;
    *ret = src;
    return 0;
}

/* ---- scratch ------------------------------------------------------------- */

int
ferry_stream_scratch(struct ferry_source *inner, const char *dir, uint64_t *counter,
                     uint64_t limit, const char *why, struct ferry_source **ret)
{
    FERRY_AUTOFREE uint8_t *buf = NULL;
    size_t buf_len = 0;
    FERRY_AUTOCLOSE int fd = -1;
    uint64_t off = 0;
    struct statvfs vfs;

    if (!limit) {
        limit = FERRY_MAX_SCRATCH;
        why = "the maximum without --size";
    }
    /* A stream of known size (no compression): that much room first. */
    if (inner->size > 0 && statvfs(dir, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)inner->size) {
        FERRY_AUTOFREE char *need = ferry_size_human(inner->size);
        FERRY_AUTOFREE char *have = ferry_size_human((uint64_t)vfs.f_bavail * vfs.f_frsize);
        ferry_source_free(inner);
        return ferry_error(FERRY_ERR_IO,
                           "scratch file in '%s': the image needs %s, only %s are free", dir,
                           need, have);
    }
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        FERRY_AUTOFREE char *tmp = ferry_printf("%s/.ferry-scratch-XXXXXX", dir);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
            ferry_source_free(inner);
            return ferry_error_errno(FERRY_ERR_IO, errno, "scratch file in '%s'", dir);
        }
        unlink(tmp);
    }
    for (;;) {
        size_t want = ferry_ramp(&buf, &buf_len, off, UNPACK_BUF);
        ssize_t n = ferry_source_read_full(inner, buf, want);
        if (n < 0) {
            ferry_source_free(inner);
            return -1;
        }
        if (n == 0)
            break;
        if ((uint64_t)n > limit - off) {
            FERRY_AUTOFREE char *l = ferry_size_human(limit);
            int r = ferry_error(FERRY_ERR_FORMAT,
                                "'%s': the image goes on beyond %s, more than %s (refusing the "
                                "rest: garbage after the image, or a decompression bomb?)",
                                inner->url, l, why);
            ferry_source_free(inner);
            return r;
        }
        bool zero = buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0;
        if (!zero && pwrite(fd, buf, n, off) != n) {
            int e = errno;
            ferry_source_free(inner);
            return ferry_error_errno(FERRY_ERR_IO, e, "writing the scratch file in '%s'", dir);
        }
        off += n;
        if (counter)
            __atomic_add_fetch(counter, (uint64_t)n, __ATOMIC_RELAXED);
    }
    if (ftruncate(fd, off) < 0) {
        int e = errno;
        ferry_source_free(inner);
        return ferry_error_errno(FERRY_ERR_IO, e, "scratch file in '%s'", dir);
    }
    *ret = ferry_source_file_from_fd(FERRY_STEAL_FD(fd), inner->url, inner, dir);
    return 0;
}
