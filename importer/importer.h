/* Internal interfaces of ferry-importer shared between its files: source
 * helpers and stream layers (sources.c, stream.c), the sink (sink.c),
 * progress reporting (progress.c), checksums (checksum.c), archive
 * extraction (archive.c) and the pipeline that ties them (pipeline.c).
 * The plugin contract itself is format.h. */
#ifndef FERRY_IMPORTER_IMPORTER_H
#define FERRY_IMPORTER_IMPORTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/cleanup.h"
#include "importer/format.h"

/* Auto-cleanup for the importer's structs (no typedefs, STYLE.md):
 *     FERRY_IMP_AUTO(ferry_source) struct ferry_source *src = NULL; */
#define FERRY_IMP_DEFINE_AUTO(name)                                                            \
    struct name;                                                                               \
    void name##_free(struct name *p);                                                          \
    static inline void name##_freep(struct name **p)                                           \
    {                                                                                          \
        if (*p)                                                                                \
            name##_free(*p);                                                                   \
    }
#define FERRY_IMP_AUTO(name) __attribute__((cleanup(name##_freep)))

/* The whole program: parse the command line, import, return the exit code. */
int ferry_importer_main(int argc, char **argv);
/* What both entry points (ferry_importer_main, ferry_cdi_main) do first:
 * logging, the signal handlers that remove a partial destination, and the
 * open-file limit raised to its hard limit. */
void ferry_importer_process_init(void);
/* --help: generated from the format and source tables (pipeline.c). */
void ferry_importer_usage(FILE *f);

/* ---- sources (sources.c) ------------------------------------------------ */

/* Open URL with the first source of the table that handles it. */
int ferry_source_open(const char *url, struct ferry_source **ret);
/* A bare source for wrappers: ops, url copied; size -1. */
struct ferry_source *ferry_source_new(const struct ferry_source_ops *ops, const char *url);
void ferry_source_free(struct ferry_source *src);
FERRY_IMP_DEFINE_AUTO(ferry_source)
/* Read until LEN bytes or end of source; returns bytes read or -1. */
ssize_t ferry_source_read_full(struct ferry_source *src, void *buf, size_t len);
/* A read buffer that starts small: *BUF (NULL at first, *LEN 0) holds
 * FERRY_RAMP_FIRST bytes until DONE, the bytes read so far, reaches that,
 * then MAX.  Returns *LEN, what to read next.  A small stream, or one
 * refused in its first blocks, costs no MiB buffer (under ASan, fresh pages
 * and an munmap per input).  Call it only when *BUF's contents are used up:
 * they are not kept when it grows.  It replaces *BUF: call it in a
 * statement of its own, not as an argument beside *BUF (the order in which
 * arguments are evaluated is unspecified). */
#define FERRY_RAMP_FIRST (64u << 10)
size_t ferry_ramp(uint8_t **buf, size_t *len, uint64_t done, size_t max);
/* LEN cut to what SRC holds from OFF: 0 at or past its end; a source of
 * unknown size (-1) cuts nothing.  For the bounds of a pread. */
size_t ferry_source_clamp(const struct ferry_source *src, uint64_t off, size_t len);
/* Read LEN bytes at OFF, as many preads as it takes: the bytes read, fewer
 * only where the source ends, or -1. */
ssize_t ferry_source_pread_full(struct ferry_source *src, void *buf, size_t len, uint64_t off);
/* Read exactly LEN bytes at OFF; reading past the end is an error naming
 * WHAT ("qcow2 L2 table"). */
int ferry_source_pread_exact(struct ferry_source *src, void *buf, size_t len, uint64_t off,
                             const char *what);
/* The data pieces of one read call (clusters, grains), merged while each
 * continues the last in the file and in the buffer: one pread a run, not
 * one a piece.  BUF is the call's buffer, BASE the virtual offset of
 * BUF[0], WHAT names a failed read; the rest is the pending run. */
struct ferry_read_run {
    uint8_t *buf;
    uint64_t base;
    const char *what;
    struct ferry_source *src;
    uint64_t host, voff, len;   /* LEN bytes at HOST in SRC, for VOFF */
};
/* Add LEN bytes at HOST in SRC for virtual offset VOFF; the pending run is
 * read first when this piece does not continue it. */
int ferry_read_run_add(struct ferry_read_run *r, struct ferry_source *src, uint64_t host,
                       uint64_t voff, uint64_t len);
/* Read the pending run, if any. */
int ferry_read_run_flush(struct ferry_read_run *r);
/* Open a sibling through src->open_sibling, or refuse when the source has none. */
int ferry_source_open_sibling(struct ferry_source *src, const char *relname,
                              struct ferry_source **ret);

/* The file source (sources/file.c). */
extern const struct ferry_source_ops ferry_source_file;
/* A seekable file source over an open fd (scratch files; takes the fd).
 * Siblings are resolved through SIBLINGS (taken, freed on close; may be
 * NULL); a sibling that is stream-only (a VMDK extent on a server without
 * Range) is copied to a scratch file in SCRATCH_DIR too, when given. */
struct ferry_source *ferry_source_file_from_fd(int fd, const char *name,
                                               struct ferry_source *siblings,
                                               const char *scratch_dir);
/* For a file source: the next data extent at or after OFF through
 * SEEK_DATA/SEEK_HOLE (other sources: their next_data, when set).  0 with *ret_data == *ret_hole == size at the end;
 * -1 (no error set) when the file system cannot tell. */
int ferry_source_file_next_data(struct ferry_source *src, uint64_t off, uint64_t *ret_data,
                                uint64_t *ret_hole);
/* CDI's importer contract onto the vmware and imageio sources (the URLs
 * those sources read; credentials stay in IMPORTER_ACCESS_KEY_ID and
 * IMPORTER_SECRET_KEY, CA files in IMPORTER_CERT_DIR):
 *   source.imageio: IMPORTER_ENDPOINT (https://ENGINE/ovirt-engine/api)
 *   and IMPORTER_DISK_ID -> imageio://ENGINE/ovirt-engine/api/disks/ID;
 *   source.vddk, read without VDDK: IMPORTER_ENDPOINT (https://ESXI[/sdk])
 *   and IMPORTER_BACKING_FILE ("[DS] DIR/DISK.vmdk") ->
 *   vmware://ESXI/DS/DIR/DISK.vmdk (ESXi's ha-datacenter). */
int ferry_imageio_url_from_cdi(const char *endpoint, const char *disk_id, char **ret_url);
int ferry_vmware_url_from_cdi(const char *endpoint, const char *backing_file, char **ret_url);
/* An imageio daemon's /extents answer (a parsed JSON list of {start,
 * length, zero}) as contiguous, merged extents from 0; *ret_size their
 * end.  WHAT names the source in errors. */
struct json_object;
int ferry_imageio_extents(const char *what, struct json_object *list,
                          struct ferry_extent **ret_ext, size_t *ret_n, uint64_t *ret_size);
/* A sibling's relative name is acceptable: not absolute, no "..". */
int ferry_check_relname(const char *base, const char *relname);
/* The path of a file source (NULL for other sources). */
const char *ferry_source_file_path(struct ferry_source *src);
/* The directory where a file source's siblings are (NULL when it has none:
 * a pipe, a device, /dev/stdin of a pipe, or another source). */
const char *ferry_source_file_dir(struct ferry_source *src);

/* ---- stream layers (stream.c) ------------------------------------------- */

/* Counts the bytes that pass (fetched bytes) and feeds a checksum. */
struct ferry_checksum;
struct ferry_source *ferry_stream_meter(struct ferry_source *inner, struct ferry_checksum *sum,
                                        uint64_t *counter);
/* The source under transparent layers (a meter without checksum), so that
 * readers can use what the real source offers (SEEK_DATA on files). */
struct ferry_source *ferry_source_base(struct ferry_source *src);
/* Read and hash the rest of a meter stream (the checksum covers every byte). */
int ferry_stream_meter_drain(struct ferry_source *meter);
/* Lets a stream-only source be peeked: *ret_head holds its first bytes
 * (up to WANT) and the returned source replays them.  Takes INNER. */
struct ferry_source *ferry_stream_peek(struct ferry_source *inner, size_t want,
                                       const uint8_t **ret_head, size_t *ret_len);
/* The head of a source's content already read by a peek layer. */
bool ferry_stream_is_compressed(const uint8_t *head, size_t len);
bool ferry_stream_is_tar(const uint8_t *head, size_t len);
bool ferry_stream_is_gzip(const uint8_t *head, size_t len);
/* gzip through zlib: every member's CRC32 and ISIZE are verified (a corrupt
 * or truncated .gz is an error, never a wrong byte).  Takes INNER. */
struct ferry_source *ferry_stream_gunzip(struct ferry_source *inner);
/* Decompression (gz, xz, zstd, bz2) and tar/OVA containers through
 * libarchive: the result streams the decompressed bytes, or the content of
 * (TAR) the DISK-th disk entry (counting from 1; 0 means the first) of a
 * tar, skipping .ovf, .mf and .cert files.
 * Takes INNER. */
int ferry_stream_unpack(struct ferry_source *inner, bool tar, unsigned disk,
                        struct ferry_source **ret);
/* Copy a stream-only source to an unlinked scratch file in DIR; the result
 * is seekable and resolves siblings through INNER.  COUNTER advances with
 * the bytes copied.  More than LIMIT bytes (0: FERRY_MAX_SCRATCH) is an
 * error that gives WHY the limit ("a qcow2 of 100 MiB takes at most ...").
 * A stream of known size needs that much free space in DIR.  Takes INNER. */
int ferry_stream_scratch(struct ferry_source *inner, const char *dir, uint64_t *counter,
                         uint64_t limit, const char *why, struct ferry_source **ret);
/* The most a scratch copy takes when neither the image's header nor --size
 * bounds it (documented in ferry-importer(1)). */
#define FERRY_MAX_SCRATCH (UINT64_C(1) << 40)

/* ---- checksum (checksum.c) ---------------------------------------------- */

/* SPEC is "ALG:HEX", ALG one of sha256 sha512 sha1 md5. */
int ferry_checksum_new(const char *spec, struct ferry_checksum **ret);
void ferry_checksum_update(struct ferry_checksum *sum, const void *buf, size_t len);
/* Compare with the expected digest; a mismatch is an error naming both. */
int ferry_checksum_verify(struct ferry_checksum *sum);
void ferry_checksum_free(struct ferry_checksum *sum);
FERRY_IMP_DEFINE_AUTO(ferry_checksum)

/* ---- sink (sink.c) ------------------------------------------------------ */

struct ferry_sink;
/* A file (written as DEST.tmp-XXXXXX, renamed on commit) or a block device
 * (written in place).  SIZE is the volume size; 0 with a file means "set
 * later" (streams of unknown length). */
int ferry_sink_open(const char *dest, uint64_t size, struct ferry_sink **ret);
bool ferry_sink_is_block(struct ferry_sink *sink);
/* Device size for block devices, else the size given. */
uint64_t ferry_sink_size(struct ferry_sink *sink);
/* Volume size for files opened with size 0 (before commit). */
int ferry_sink_set_size(struct ferry_sink *sink, uint64_t size);
/* Write data, skipping all-zero 4 KiB blocks (zeroed on block devices).
 * Thread-safe for disjoint ranges. */
int ferry_sink_write(struct ferry_sink *sink, uint64_t off, const void *buf, size_t len);
/* A range that reads as zeros: nothing on a fresh file, zeroed on a device. */
int ferry_sink_zero(struct ferry_sink *sink, uint64_t off, uint64_t len);
/* Streams (one thread, any order): as ferry_sink_write, but the ranges
 * never written are zeroed on block devices by ferry_sink_stream_finish. */
int ferry_sink_stream_write(struct ferry_sink *sink, uint64_t off, const void *buf, size_t len);
int ferry_sink_stream_finish(struct ferry_sink *sink);
/* Drop what was written in [OFF, OFF+LEN): it reads as zeros
 * again, and no longer counts as data.  For a stream whose format said, at
 * its end, that the disk is shorter than what came before. */
int ferry_sink_discard(struct ferry_sink *sink, uint64_t off, uint64_t len);
/* fsync and (files) rename into place. */
int ferry_sink_commit(struct ferry_sink *sink);
uint64_t ferry_sink_data_bytes(struct ferry_sink *sink);
bool ferry_sink_dest_is_block(const char *dest);
/* The directory for scratch files: beside DEST, or $TMPDIR for devices. */
char *ferry_sink_scratch_dir(const char *dest);
/* Removes the temporary file unless committed. */
void ferry_sink_free(struct ferry_sink *sink);
FERRY_IMP_DEFINE_AUTO(ferry_sink)

/* SIGINT/SIGTERM/SIGHUP/SIGQUIT remove the temporary destination file
 * before the process dies; SIGPIPE is ignored. */
void ferry_sink_install_signal_handlers(void);
/* The same for a directory tree: NAME in PARENT_FD (an open directory) is
 * removed with everything below it; -1 forgets it. */
void ferry_sink_signal_dir(int parent_fd, const char *name);

/* Error for a volume too small: "virtual size 20 GiB is larger than the
 * 10 GiB volume". */
int ferry_sink_error_too_small(uint64_t virtual_size, uint64_t volume_size);

/* ---- progress (progress.c) ---------------------------------------------- */

enum ferry_progress_mode {
    FERRY_PROGRESS_AUTO,
    FERRY_PROGRESS_BAR,
    FERRY_PROGRESS_JSON,
    FERRY_PROGRESS_NONE,
};
struct ferry_progress;
struct ferry_progress *ferry_progress_new(enum ferry_progress_mode mode);
/* A new phase ("probing", "fetching", "scratch", "converting", "syncing");
 * TOTAL 0 when unknown.  COUNTER (may be NULL: the internal one) is read
 * atomically by the reporting thread. */
void ferry_progress_phase(struct ferry_progress *p, const char *phase, uint64_t total,
                          uint64_t *counter);
void ferry_progress_add(struct ferry_progress *p, uint64_t n);
/* The final report after success. */
void ferry_progress_done(struct ferry_progress *p, uint64_t virtual_size, uint64_t data_bytes,
                         const char *format, const char *dest);
void ferry_progress_free(struct ferry_progress *p);
/* Also tell FN each report (CDI's progress metric, cdi.c); NULL: nobody. */
void ferry_progress_set_observer(void (*fn)(const char *phase, uint64_t done, uint64_t total));
FERRY_IMP_DEFINE_AUTO(ferry_progress)

/* ---- content-type archive (archive.c) ----------------------------------- */

/* Extract the (compressed) tar read from SRC into directory DEST, refusing
 * absolute paths, ".." and links leading outside.  A missing DEST is
 * created only on success (extracted beside it, then renamed); into an
 * existing directory, entries are extracted in a temporary directory inside
 * it and moved up on success.  VERIFY (may be NULL) runs before anything
 * is put in place (the checksum). */
int ferry_archive_extract(struct ferry_source *src, const char *dest, long uid, long gid,
                          int (*verify)(void *opaque), void *opaque);

struct archive;
/* What a libarchive read callback that read N bytes into BUF from a source
 * returns (stream.c's unpack layer, and archive.c): on a read error (-1)
 * the source's error becomes the archive's and *FAILED is set. */
ssize_t ferry_archive_read_result(struct archive *a, ssize_t n, const void *buf,
                                  const void **ret, bool *failed);

/* ---- sandbox (sandbox.c) ------------------------------------------------ */

/* What the confined importer may still touch. */
struct ferry_sandbox {
    bool network;               /* an http(s) source: sockets, resolver, CA files */
    const char *read_dir;       /* the source's directory (siblings), or NULL */
    const char *read_file;      /* the source itself when it has no directory */
    const char *write_dir[2];   /* the destination's directory, the scratch directory */
    const char *write_file;     /* a block device destination */
};
/* Landlock + seccomp for the rest of the process's life (see sandbox.c);
 * called before the importer starts its threads. */
int ferry_sandbox_confine(const struct ferry_sandbox *sb);

/* ---- pipeline (pipeline.c) ---------------------------------------------- */

struct ferry_import_options {
    const char *url;
    const char *dest;
    uint64_t size;             /* 0: none given */
    const char *checksum;      /* "ALG:HEX" or NULL */
    bool archive;              /* --content-type archive */
    enum ferry_progress_mode progress;
    unsigned disk;             /* --disk N (1-based), 0: first */
    unsigned threads;          /* 0: automatic */
    bool confine;              /* Landlock + seccomp once the source is open (the
                                * program; not a unit test sharing the process) */
    bool owner_set;            /* archive entries get owner_uid:owner_gid */
    long owner_uid, owner_gid; /* (else the running user owns them) */
};
/* What was imported, for the final report and tests. */
struct ferry_import_result {
    uint64_t virtual_size;
    uint64_t data_bytes;
    const char *format;        /* static */
    double seconds;
};
int ferry_import(const struct ferry_import_options *opts, struct ferry_import_result *ret);

/* Probe: the best format for a head (and tail when given). */
const struct ferry_format *ferry_format_probe(const uint8_t *head, size_t len, int64_t size,
                                              const uint8_t *tail, size_t tail_len);

/* ---- helpers for format readers ----------------------------------------- */

/* a + b and a * b without overflow: false on overflow. */
static inline bool
ferry_add_ok(uint64_t a, uint64_t b, uint64_t *ret)
{
    return !__builtin_add_overflow(a, b, ret);
}
static inline bool
ferry_mul_ok(uint64_t a, uint64_t b, uint64_t *ret)
{
    return !__builtin_mul_overflow(a, b, ret);
}
/* Append an extent, merging with the previous one of the same type.  The
 * array is one that ferry_extent_push built (or NULL with *n == 0): it
 * grows by doubling, so its room follows from *n. */
void ferry_extent_push(struct ferry_extent **extents, size_t *n, uint64_t off, uint64_t len,
                       enum ferry_extent_type type);

/* A fixed VHD read as a stream (vhd.c): no head magic, so the raw and ISO
 * streams hold back the last 512 bytes and ask whether FOOTER, the end of a
 * stream of SIZE bytes that began with HEAD (its first 512 bytes), is a VHD
 * footer; vhd_open decides, as for a file.  1 and
 * *ret_vsize (at most SIZE - 512: the disk is the first *ret_vsize bytes)
 * when it is a fixed disk's; 0, no error, when it is no VHD footer at all
 * (the stream is what it seemed); -1, error set, when a file of the same
 * bytes would be refused (a bad checksum, a size beyond the data ...). */
int ferry_vhd_stream_footer(const char *url, const uint8_t *head, const uint8_t *footer,
                            uint64_t size, uint64_t *ret_vsize);
extern const struct ferry_format ferry_format_vhd;

/* The raw stream, which also finds a fixed VHD at the end (raw.c; ISO's
 * stream too). */
int ferry_raw_stream(struct ferry_source *src,
                     int (*emit)(void *opaque, uint64_t off, const void *buf, size_t len),
                     void *opaque, uint64_t *ret_virtual_size,
                     const struct ferry_format **ret_format);

#endif
