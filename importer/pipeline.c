/* The import pipeline: source -> (meter: fetched bytes, checksum) ->
 * unpack layers (gz/xz/zstd/bz2, tar/OVA) -> format (probed by content) ->
 * sink.  Three ways through a format:
 *   random access  the source is seekable: a dispatcher walks the format's
 *                  map in windows and hands data chunks to worker threads
 *                  that read (decompress) and write them in parallel;
 *   stream         the source is a stream and the format can stream this
 *                  image (raw, iso, streamOptimized VMDK; a fixed VHD,
 *                  found by the raw and iso streams at the end): one pass;
 *   scratch        a stream of a random-access format: copied to a scratch
 *                  file beside the destination first (phase "scratch").
 * Also the command line (ferry_importer_main; main.c is only its caller). */
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/quantity.h"
#include "common/util.h"
#include "importer/importer.h"

#define MOD "importer"
#define HEAD_LEN (64u << 10)
#define TAIL_LEN 4096u
#define CHUNK (4u << 20)
#define WINDOW (UINT64_C(1) << 30)
#define MAX_LAYERS 4             /* archives in archives */
#define MAX_FILTERS 8            /* gzip layers peeled one by one */
/* A virtual size that is not whole sectors is rounded up (as qemu-img does
 * for raw and VDI; for qcow2 it rounds down and loses the last bytes). */
#define ROUND_SECTOR(x) (((x) + 511) & ~UINT64_C(511))

/* ---- the checksum of a local file, read alongside ------------------------ */

struct hasher {
    pthread_t thread;
    char *path;
    struct ferry_checksum *sum;
    int failed_errno;
};

static void *
hasher_thread(void *opaque)
{
    struct hasher *h = opaque;
    FERRY_AUTOFREE uint8_t *buf = ferry_malloc(1 << 20);
    FERRY_AUTOCLOSE int fd = open(h->path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        h->failed_errno = errno;
        return NULL;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            h->failed_errno = errno;
            return NULL;
        }
        if (n == 0)
            return NULL;
        ferry_checksum_update(h->sum, buf, n);
    }
}

/* ---- random access: dispatcher and workers ------------------------------- */

struct convert {
    const struct ferry_format *fmt;
    struct ferry_image *img;
    struct ferry_sink *sink;
    struct ferry_progress *progress;
    uint64_t vsize;

    pthread_mutex_t lock;       /* the dispatcher */
    pthread_mutex_t fmt_lock;   /* map/read of formats without parallel_read */
    uint64_t next;              /* first offset not yet mapped */
    struct ferry_extent *ext;
    size_t n, i;

    bool failed;
    struct ferry_error_saved err;   /* the first failure */
};

static void
convert_fail(struct convert *c)
{
    pthread_mutex_lock(&c->lock);
    c->failed = true;
    ferry_error_save(&c->err);
    pthread_mutex_unlock(&c->lock);
}

/* Map the next window and normalise: sorted, inside the window, gaps zero. */
static int
convert_map_window(struct convert *c)
{
    uint64_t start = c->next;
    uint64_t len = c->vsize - start < WINDOW ? c->vsize - start : WINDOW;
    struct ferry_extent *raw = NULL;
    size_t nraw = 0;
    uint64_t pos = start;
    int r;

    if (!c->fmt->parallel_read)
        pthread_mutex_lock(&c->fmt_lock);
    r = c->fmt->map(c->img, start, len, &raw, &nraw);
    if (!c->fmt->parallel_read)
        pthread_mutex_unlock(&c->fmt_lock);
    if (r < 0) {
        free(raw);
        return -1;
    }
    c->n = c->i = 0;
    for (size_t k = 0; k < nraw; k++) {
        uint64_t a = raw[k].offset, b;
        if (!ferry_add_ok(raw[k].offset, raw[k].length, &b) || a < pos || b > start + len) {
            free(raw);
            return ferry_error(FERRY_ERR_INTERNAL,
                               "%s map: extent %llu+%llu outside %llu..%llu or out of order",
                               c->fmt->name, (unsigned long long)raw[k].offset,
                               (unsigned long long)raw[k].length, (unsigned long long)pos,
                               (unsigned long long)(start + len));
        }
        ferry_extent_push(&c->ext, &c->n, pos, a - pos, FERRY_EXTENT_ZERO);
        ferry_extent_push(&c->ext, &c->n, a, b - a, raw[k].type);
        pos = b;
    }
    ferry_extent_push(&c->ext, &c->n, pos, start + len - pos, FERRY_EXTENT_ZERO);
    free(raw);
    c->next = start + len;
    return 0;
}

/* The next job; false when all is done (or something failed). */
static bool
convert_next_job(struct convert *c, struct ferry_extent *job)
{
    bool ok = false;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (c->failed)
            break;
        if (c->i < c->n) {
            struct ferry_extent *e = &c->ext[c->i];
            *job = *e;
            if (e->type == FERRY_EXTENT_DATA && e->length > CHUNK) {
                job->length = CHUNK - e->offset % CHUNK;
                if (job->length > e->length)
                    job->length = e->length;
                e->offset += job->length;
                e->length -= job->length;
            } else {
                c->i++;
            }
            if (job->type == FERRY_EXTENT_ZERO && !ferry_sink_is_block(c->sink)) {
                ferry_progress_add(c->progress, job->length);
                continue;
            }
            ok = true;
            break;
        }
        if (c->next >= c->vsize)
            break;
        if (convert_map_window(c) < 0) {
            c->failed = true;
            ferry_error_save(&c->err);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return ok;
}

static void *
convert_worker(void *opaque)
{
    struct convert *c = opaque;
    FERRY_AUTOFREE uint8_t *buf = NULL;
    struct ferry_extent job;

    /* Page-aligned, so that the sink can write around the page cache. */
    if (posix_memalign((void **)&buf, 4096, CHUNK) != 0)
        ferry_oom();

    while (convert_next_job(c, &job)) {
        if (job.type == FERRY_EXTENT_ZERO) {
            if (ferry_sink_zero(c->sink, job.offset, job.length) < 0)
                goto fail;
        } else {
            int r;
            if (!c->fmt->parallel_read)
                pthread_mutex_lock(&c->fmt_lock);
            r = c->fmt->read(c->img, buf, job.length, job.offset);
            if (!c->fmt->parallel_read)
                pthread_mutex_unlock(&c->fmt_lock);
            if (r < 0 || ferry_sink_write(c->sink, job.offset, buf, job.length) < 0)
                goto fail;
        }
        ferry_progress_add(c->progress, job.length);
    }
    return NULL;
fail:
    convert_fail(c);
    return NULL;
}

static unsigned
worker_count(const struct ferry_import_options *opts)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (opts->threads)
        return opts->threads;
    if (cpus < 1)
        cpus = 1;
    return cpus + 1 > 4 ? 4 : cpus + 1;
}

static int
convert_random(const struct ferry_import_options *opts, const struct ferry_format *fmt,
               struct ferry_image *img, struct ferry_sink *sink, struct ferry_progress *progress,
               uint64_t vsize)
{
    struct convert c = {
        .fmt = fmt, .img = img, .sink = sink, .progress = progress, .vsize = vsize,
    };
    unsigned nthreads = worker_count(opts);
    pthread_t threads[16];
    unsigned started = 0;

    if (nthreads > 16)
        nthreads = 16;
    pthread_mutex_init(&c.lock, NULL);
    pthread_mutex_init(&c.fmt_lock, NULL);
    ferry_progress_phase(progress, "converting", vsize, NULL);
    for (unsigned i = 0; i < nthreads; i++)
        if (pthread_create(&threads[started], NULL, convert_worker, &c) == 0)
            started++;
    if (started == 0)
        convert_worker(&c);
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    /* The tail beyond the virtual size (--size grew it) reads as zeros. */
    if (!c.failed && ferry_sink_size(sink) > vsize &&
        ferry_sink_zero(sink, vsize, ferry_sink_size(sink) - vsize) < 0)
        convert_fail(&c);
    pthread_mutex_destroy(&c.lock);
    pthread_mutex_destroy(&c.fmt_lock);
    free(c.ext);
    if (c.failed) {
        ferry_error_restore(&c.err);
        return -1;
    }
    return 0;
}

/* ---- stream -------------------------------------------------------------- */

struct emit_ctx {
    pthread_mutex_t lock;       /* formats may emit from several threads */
    struct ferry_sink *sink;
    uint64_t limit;             /* volume size; 0: none */
    uint64_t end;               /* highest byte written */
    const char *url;
    uint64_t *fetched;          /* bytes fetched so far (the compressed size) */
};

static int
emit_data(void *opaque, uint64_t off, const void *buf, size_t len)
{
    struct emit_ctx *e = opaque;
    uint64_t end;

    if (!ferry_add_ok(off, len, &end) || end > FERRY_MAX_VIRTUAL_SIZE)
        return ferry_error(FERRY_ERR_FORMAT, "data at offset %llu is beyond the 64 TiB limit",
                           (unsigned long long)off);
    if (e->limit && end > e->limit) {
        /* A stream: the whole size is not known yet, only that it is more;
         * what it came from says how much it grew (a decompression bomb). */
        FERRY_AUTOFREE char *v = ferry_size_human(end);
        FERRY_AUTOFREE char *l = ferry_size_human(e->limit);
        uint64_t got = e->fetched ? __atomic_load_n(e->fetched, __ATOMIC_RELAXED) : 0;
        FERRY_AUTOFREE char *f = ferry_size_human(got);
        return ferry_error(FERRY_ERR_INVALID,
                           "'%s': virtual size (at least %s, from the first %s fetched) is "
                           "larger than the %s volume",
                           e->url, v, f, l);
    }
    pthread_mutex_lock(&e->lock);
    if (end > e->end)
        e->end = end;
    int r = ferry_sink_stream_write(e->sink, off, buf, len);
    pthread_mutex_unlock(&e->lock);
    return r;
}

/* ---- the import ---------------------------------------------------------- */

static int
check_volume(uint64_t vsize, uint64_t volume)
{
    if (vsize > FERRY_MAX_VIRTUAL_SIZE) {
        FERRY_AUTOFREE char *v = ferry_size_human(vsize);
        return ferry_error(FERRY_ERR_UNSUPPORTED, "virtual size %s is beyond the 64 TiB limit", v);
    }
    if (volume && vsize > volume)
        return ferry_sink_error_too_small(vsize, volume);
    return 0;
}

static int
finish_checksum(struct ferry_checksum *sum, struct ferry_source *meter, struct hasher *h)
{
    if (!sum)
        return 0;
    if (h) {
        pthread_join(h->thread, NULL);
        h->thread = 0;
        if (h->failed_errno)
            return ferry_error_errno(FERRY_ERR_IO, h->failed_errno, "checksum of '%s'", h->path);
    } else if (ferry_stream_meter_drain(meter) < 0) {
        return -1;
    }
    return ferry_checksum_verify(sum);
}

struct verify_ctx {
    struct ferry_checksum *sum;
    struct ferry_source *meter;
    struct hasher *hash;
};

static int
verify_cb(void *opaque)
{
    struct verify_ctx *v = opaque;
    return finish_checksum(v->sum, v->meter, v->hash);
}

/* --checksum is the digest of the fetched bytes: a file beside the image (a
 * VMDK extent next to its descriptor) is not among them.  Extents inside
 * the same archive are, and stay allowed. */
static int
refuse_sibling_with_checksum(struct ferry_source *src, const char *relname,
                             struct ferry_source **ret)
{
    return ferry_error(FERRY_ERR_UNSUPPORTED,
                       "'%s': --checksum covers only this file, not '%s' beside it: refusing "
                       "--checksum for an image of several files (import it as an OVA or tar, "
                       "or without --checksum)",
                       src->url, relname);
}

static int
confine(const struct ferry_import_options *opts, struct ferry_source *bottom)
{
    /* The source says whether it keeps the network (its table entry). */
    struct ferry_sandbox sb = {
        .network = bottom->ops->needs_network && bottom->ops->needs_network(opts->url),
    };
    FERRY_AUTOFREE char *copy = ferry_strdup(opts->dest);
    FERRY_AUTOFREE char *scratch = ferry_sink_scratch_dir(opts->dest);
    const char *dest_dir = dirname(copy);

    sb.read_dir = ferry_source_file_dir(bottom);
    if (!sb.read_dir)
        sb.read_file = ferry_source_file_path(bottom);
    if (!opts->archive && ferry_sink_dest_is_block(opts->dest)) {
        sb.write_file = opts->dest;
        sb.write_dir[0] = scratch;
    } else {
        sb.write_dir[0] = dest_dir;
        sb.write_dir[1] = scratch;
    }
    return ferry_sandbox_confine(&sb);
}

static int
import_once(const struct ferry_import_options *opts, struct ferry_import_result *ret)
{
    uint64_t start_ns = ferry_now_ns();
    FERRY_IMP_AUTO(ferry_progress) struct ferry_progress *progress = NULL;
    FERRY_IMP_AUTO(ferry_checksum) struct ferry_checksum *sum = NULL;
    FERRY_IMP_AUTO(ferry_source) struct ferry_source *src = NULL;
    FERRY_IMP_AUTO(ferry_sink) struct ferry_sink *sink = NULL;
    FERRY_AUTOFREE uint8_t *head = ferry_malloc(HEAD_LEN);
    uint8_t tail[TAIL_LEN];
    size_t head_len = 0, tail_len = 0;
    struct hasher hasher = { 0 }, *hash = NULL;
    struct ferry_source *meter, *bottom;
    const struct ferry_format *fmt;
    uint64_t fetched = 0, scratched = 0, vsize = 0;
    int64_t fetch_total;
    int r = -1;

    if (opts->checksum && ferry_checksum_new(opts->checksum, &sum) < 0)
        return -1;
    if (ferry_source_open(opts->url, &bottom) < 0)
        return -1;
    if (sum)
        bottom->open_sibling = refuse_sibling_with_checksum;
    /* From here on, only the source, the destination and scratch files. */
    if (opts->confine && confine(opts, bottom) < 0) {
        ferry_source_free(bottom);
        return -1;
    }
    progress = ferry_progress_new(opts->progress);
    ferry_progress_phase(progress, "probing", 0, NULL);
    fetch_total = bottom->size;
    if (sum && ferry_source_file_path(bottom) && bottom->seekable) {
        /* A local file: hash it alongside instead of reading it in order. */
        hash = &hasher;
        hash->path = ferry_strdup(ferry_source_file_path(bottom));
        hash->sum = sum;
        if (pthread_create(&hash->thread, NULL, hasher_thread, hash) != 0) {
            free(hash->path);
            ferry_source_free(bottom);
            return ferry_error(FERRY_ERR_INTERNAL, "cannot start the checksum thread");
        }
    }
    src = meter = ferry_stream_meter(bottom, hash ? NULL : sum, &fetched);

    if (opts->archive) {
        /* gzip through zlib, which checks it; libarchive does the rest. */
        const uint8_t *h;
        size_t hl;
        src = ferry_stream_peek(FERRY_STEAL(src), 512, &h, &hl);
        if (!src)
            goto out;
        if (ferry_stream_is_gzip(h, hl))
            src = ferry_stream_gunzip(FERRY_STEAL(src));
        ferry_progress_phase(progress, "fetching", fetch_total > 0 ? fetch_total : 0, &fetched);
        struct verify_ctx v = { .sum = sum, .meter = meter, .hash = hash };
        r = ferry_archive_extract(src, opts->dest, opts->owner_set ? opts->owner_uid : -1,
                                  opts->owner_set ? opts->owner_gid : -1,
                                  sum ? verify_cb : NULL, &v);
        if (r == 0) {
            ret->virtual_size = fetched;
            ret->data_bytes = fetched;
            ret->format = "archive";
            ret->seconds = (ferry_now_ns() - start_ns) / 1e9;
            ferry_progress_done(progress, fetched, fetched, "archive", opts->dest);
        }
        goto out;
    }

    /* Peel compression and containers off, by content (unless the source
     * knows its content: imageio's raw transfers are the guest's disk). */
    for (int depth = 0, filters = 0; !bottom->format;) {
        ssize_t n;
        if (src->seekable) {
            n = src->ops->pread(src, head, HEAD_LEN, 0);
            if (n < 0)
                goto out;
        } else {
            const uint8_t *h;
            size_t hl;
            src = ferry_stream_peek(FERRY_STEAL(src), HEAD_LEN, &h, &hl);
            if (!src)
                goto out;
            memcpy(head, h, hl);
            n = hl;
        }
        head_len = n;
        if (!ferry_stream_is_compressed(head, head_len) && !ferry_stream_is_tar(head, head_len))
            break;
        if (ferry_stream_is_gzip(head, head_len)) {
            if (++filters > MAX_FILTERS) {
                ferry_error(FERRY_ERR_UNSUPPORTED, "'%s': more than %d layers of gzip",
                            opts->url, MAX_FILTERS);
                goto out;
            }
            src = ferry_stream_gunzip(FERRY_STEAL(src));
            continue;
        }
        if (depth++ == MAX_LAYERS) {
            ferry_error(FERRY_ERR_UNSUPPORTED, "'%s': more than %d layers of compression or "
                        "archives", opts->url, MAX_LAYERS);
            goto out;
        }
        if (ferry_stream_unpack(FERRY_STEAL(src), ferry_stream_is_tar(head, head_len), opts->disk,
                                &src) < 0)
            goto out;
    }
    if (src->seekable && src->size > 0) {
        tail_len = src->size < TAIL_LEN ? src->size : TAIL_LEN;
        if (ferry_source_pread_exact(src, tail, tail_len, src->size - tail_len, "the end") < 0)
            goto out;
    }
    fmt = bottom->format ? bottom->format
                         : ferry_format_probe(head, head_len, src->size, tail_len ? tail : NULL,
                                              tail_len);
    if (!fmt) {
        ferry_error(FERRY_ERR_UNSUPPORTED, "'%s': unknown image format", opts->url);
        goto out;
    }
    ferry_log_debug(MOD, "'%s': format %s, %s", src->url, fmt->name,
                    src->seekable ? "random access" : "stream");

    if (!src->seekable && fmt->stream && (!fmt->can_stream || fmt->can_stream(head, head_len))) {
        struct emit_ctx e = { .lock = PTHREAD_MUTEX_INITIALIZER, .limit = opts->size,
                              .url = opts->url, .fetched = &fetched };
        if (ferry_sink_open(opts->dest, opts->size, &sink) < 0)
            goto out;
        if (ferry_sink_is_block(sink))
            e.limit = ferry_sink_size(sink);
        e.sink = sink;
        ferry_progress_phase(progress, "fetching", fetch_total > 0 ? fetch_total : 0, &fetched);
        const struct ferry_format *found = fmt;
        if (fmt->stream(src, emit_data, &e, &vsize, &found) < 0)
            goto out;
        if (found != fmt)
            ferry_log_debug(MOD, "'%s': the %s stream turned out to be %s", src->url, fmt->name,
                            found->name);
        fmt = found;
        /* What came after the end of the disk is not part of it. */
        if (vsize < e.end && ferry_sink_discard(sink, vsize, e.end - vsize) < 0)
            goto out;
        if (check_volume(vsize, e.limit) < 0)
            goto out;
        if (!ferry_sink_is_block(sink) &&
            ferry_sink_set_size(sink, opts->size > ROUND_SECTOR(vsize) ? opts->size
                                                                       : ROUND_SECTOR(vsize)) < 0)
            goto out;
        if (ferry_sink_stream_finish(sink) < 0)
            goto out;
    } else {
        struct ferry_image *img = NULL;
        if (!src->seekable) {
            FERRY_AUTOFREE char *dir = ferry_sink_scratch_dir(opts->dest);
            FERRY_AUTOFREE char *why = NULL;
            uint64_t limit = 0, hv = 0, hmax = 0;
            /* What the header and --size allow: checked before the copy,
             * and the copy stops there. */
            if (fmt->head_bounds && fmt->head_bounds(head, head_len, &hv, &hmax) == 0) {
                if (!ferry_sink_dest_is_block(opts->dest) && check_volume(hv, opts->size) < 0)
                    goto out;
                FERRY_AUTOFREE char *v = ferry_size_human(hv);
                limit = hmax;
                why = ferry_printf("a %s of %s takes", fmt->name, v);
            } else if (opts->size) {
                FERRY_AUTOFREE char *v = ferry_size_human(opts->size);
                limit = ferry_image_file_bound(opts->size);
                why = ferry_printf("a %s for --size %s takes", fmt->name, v);
            }
            ferry_progress_phase(progress, "scratch", fetch_total > 0 ? fetch_total : 0,
                                 &fetched);
            ferry_log_debug(MOD, "'%s': %s needs random access: scratch file in '%s'", src->url,
                            fmt->name, dir);
            if (ferry_stream_scratch(FERRY_STEAL(src), dir, &scratched, limit, why, &src) < 0)
                goto out;
        }
        if (fmt->open(src, &img) < 0) {
            if (!ferry_error_message()[0])
                ferry_error(FERRY_ERR_FORMAT, "'%s': cannot open as %s", opts->url, fmt->name);
            goto out;
        }
        vsize = fmt->virtual_size(img);
        if (check_volume(vsize, opts->size) < 0 ||
            ferry_sink_open(opts->dest,
                            ferry_sink_dest_is_block(opts->dest)  ? opts->size
                            : opts->size > ROUND_SECTOR(vsize)    ? opts->size
                                                                  : ROUND_SECTOR(vsize),
                            &sink) < 0 ||
            check_volume(vsize, ferry_sink_size(sink)) < 0 ||
            convert_random(opts, fmt, img, sink, progress, vsize) < 0) {
            fmt->close(img);
            goto out;
        }
        fmt->close(img);
    }

    if (finish_checksum(sum, meter, hash) < 0)
        goto out;
    ferry_progress_phase(progress, "syncing", 0, NULL);
    if (ferry_sink_commit(sink) < 0)
        goto out;
    ret->virtual_size = ferry_sink_size(sink) > vsize ? ferry_sink_size(sink) : vsize;
    ret->data_bytes = ferry_sink_data_bytes(sink);
    ret->format = fmt->name;
    ret->seconds = (ferry_now_ns() - start_ns) / 1e9;
    ferry_progress_done(progress, ret->virtual_size, ret->data_bytes, fmt->name, opts->dest);
    r = 0;
out:
    if (hasher.thread)
        pthread_join(hasher.thread, NULL);
    free(hasher.path);
    return r;
}

/* A source that fails with FERRY_ERR_CONFLICT saw its bytes change under
 * the import, or lost a transfer it cannot resume safely (sources/http.c:
 * a 200 to If-Range, a cut without validator or without Range): what was
 * written may be a mix, so the whole import starts over from byte 0 (the
 * destination was removed with the failed attempt), a few times. */
#define MAX_RESTARTS 3

int
ferry_import(const struct ferry_import_options *opts, struct ferry_import_result *ret)
{
    struct ferry_import_options o = *opts;

    for (unsigned restarts = 0;; restarts++) {
        int r = import_once(&o, ret);
        if (r == 0 || ferry_error_code() != FERRY_ERR_CONFLICT)
            return r;
        if (restarts == MAX_RESTARTS) {
            FERRY_AUTOFREE char *msg = ferry_strdup(ferry_error_message());
            return ferry_error(FERRY_ERR_NETWORK, "%s (the import was started over %u times)",
                               msg, MAX_RESTARTS);
        }
        ferry_log_warn("%s: starting the import over from byte 0 (%u of %u)",
                       ferry_error_message(), restarts + 1, MAX_RESTARTS);
        ferry_error_reset();
        o.confine = false;   /* confined once, for the rest of the process */
    }
}

/* ---- the command line ---------------------------------------------------- */

/* The usage text: the fixed options here, the formats, the schemes and each
 * source's own options from the tables (formats.c, sources.c). */
void
ferry_importer_usage(FILE *f)
{
    FERRY_AUTOFREE char *formats = ferry_formats_names();
    FERRY_AUTOFREE char *schemes = ferry_sources_schemes();

    fprintf(f,
            "Usage: ferry-importer --url URL --dest PATH [OPTIONS]\n"
            "Import one disk image (%s; detected by content;\n"
            "optionally gz/xz/zstd/bz2 compressed or inside a tar/OVA) into a raw sparse\n"
            "volume.\n"
            "\n"
            "  --url URL                 a path, or a URL with a scheme of the sources:\n"
            "                            %s\n"
            "  --dest PATH               destination file (replaced on success) or block device\n"
            "  --size SIZE               volume size (Kubernetes quantity, e.g. 10Gi)\n"
            "  --checksum ALG:HEX        sha256, sha512, sha1 or md5 of the fetched bytes\n"
            "  --content-type TYPE       kubevirt (a disk image, default) or archive (a tar\n"
            "                            extracted into the directory PATH)\n"
            "  --progress MODE           auto, bar, json (lines on stdout) or none\n"
            "  --disk N                  the N-th disk (from 1) of a tar/OVA (default: first)\n"
            "  --owner UID[:GID]         owner of archive entries (default as root: 107:107,\n"
            "                            CDI's importer user; else the running user)\n"
            "  --threads N               worker threads (default: cores + 1, at most 4)\n"
            "  --debug MODULES           debug output, e.g. importer,importer.http or all\n"
            "  --list-formats            the image formats (name, extensions, description)\n"
            "  --list-sources            the sources (name, URL schemes, description)\n"
            "  -h, --help                this help\n"
            "  --version                 the version\n",
            formats, schemes);
    ferry_sources_usage(f);
}

void
ferry_importer_process_init(void)
{
    struct rlimit rl;

    ferry_log_init("ferry-importer");
    ferry_sink_install_signal_handlers();
    /* A twoGbMaxExtent VMDK of a large disk has an fd per extent. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
ferry_importer_main(int argc, char **argv)
{
    static const struct option options[] = {
        { "url", required_argument, NULL, 'u' },
        { "dest", required_argument, NULL, 'd' },
        { "size", required_argument, NULL, 's' },
        { "checksum", required_argument, NULL, 'c' },
        { "content-type", required_argument, NULL, 't' },
        { "progress", required_argument, NULL, 'p' },
        { "disk", required_argument, NULL, 'k' },
        { "threads", required_argument, NULL, 'j' },
        { "owner", required_argument, NULL, 'o' },
        { "debug", required_argument, NULL, 'D' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "list-formats", no_argument, NULL, 'F' },
        { "list-sources", no_argument, NULL, 'S' },
        { 0 },
    };
    struct ferry_import_options opts = { .progress = FERRY_PROGRESS_AUTO, .confine = true };
    struct ferry_import_result result = { 0 };
    int c;

    ferry_importer_process_init();
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'u':
            opts.url = optarg;
            break;
        case 'd':
            opts.dest = optarg;
            break;
        case 's':
            if (ferry_quantity_parse_bytes(optarg, &opts.size) < 0 || opts.size == 0) {
                ferry_log_error("--size '%s': not a size (e.g. 10Gi)", optarg);
                return 2;
            }
            break;
        case 'c':
            opts.checksum = optarg;
            break;
        case 't':
            if (strcmp(optarg, "kubevirt") == 0) {
                opts.archive = false;
            } else if (strcmp(optarg, "archive") == 0) {
                opts.archive = true;
            } else {
                ferry_log_error("--content-type '%s': expected kubevirt or archive", optarg);
                return 2;
            }
            break;
        case 'p':
            if (strcmp(optarg, "auto") == 0)
                opts.progress = FERRY_PROGRESS_AUTO;
            else if (strcmp(optarg, "bar") == 0)
                opts.progress = FERRY_PROGRESS_BAR;
            else if (strcmp(optarg, "json") == 0)
                opts.progress = FERRY_PROGRESS_JSON;
            else if (strcmp(optarg, "none") == 0)
                opts.progress = FERRY_PROGRESS_NONE;
            else {
                ferry_log_error("--progress '%s': expected auto, bar, json or none", optarg);
                return 2;
            }
            break;
        case 'k':
        case 'j': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || v == 0 || v > 1000) {
                ferry_log_error("--%s '%s': expected a number from 1", c == 'k' ? "disk" : "threads",
                                optarg);
                return 2;
            }
            if (c == 'k')
                opts.disk = v;
            else
                opts.threads = v;
            break;
        }
        case 'o': {
            char *end;
            unsigned long u = strtoul(optarg, &end, 10), g = u;
            if (*end == ':')
                g = strtoul(end + 1, &end, 10);
            if (!*optarg || *optarg == ':' || *end || u > 0x7fffffff || g > 0x7fffffff) {
                ferry_log_error("--owner '%s': expected UID or UID:GID (numbers)", optarg);
                return 2;
            }
            opts.owner_set = true;
            opts.owner_uid = u;
            opts.owner_gid = g;
            break;
        }
        case 'D':
            ferry_log_set_debug(optarg);
            break;
        case 'h':
            ferry_importer_usage(stdout);
            return 0;
        case 'F':
            ferry_formats_list(stdout);
            return 0;
        case 'S':
            ferry_sources_list(stdout);
            return 0;
        case 'V':
            printf("ferry-importer %s\n", FERRY_VERSION);
            return 0;
        default:
            if (optopt)
                ferry_log_error("option '-%c' is unknown or needs a value (see --help)", optopt);
            else
                ferry_log_error("option '%s' is unknown or needs a value (see --help)",
                                argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        ferry_log_error("unexpected argument '%s' (see --help)", argv[optind]);
        return 2;
    }
    if (!opts.owner_set && geteuid() == 0) {
        /* As CDI's importer, which runs as uid 107 (qemu in KubeVirt). */
        opts.owner_set = true;
        opts.owner_uid = opts.owner_gid = 107;
    }
    if (!opts.url || !opts.dest) {
        ferry_log_error("--url and --dest are required (see --help)");
        return 2;
    }
    if (ferry_import(&opts, &result) < 0) {
        ferry_log_last_error();
        return 1;
    }
    return 0;
}
