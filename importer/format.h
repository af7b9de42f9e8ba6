/* The importer's plugin tables (STYLE.md "Plugins are tables"): sources
 * (where bytes come from) and formats (how a disk image lays out the virtual
 * disk).  A new source or format is one file and one line in its table.
 * Fields are only appended. */
#ifndef FERRY_IMPORTER_FORMAT_H
#define FERRY_IMPORTER_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- sources ---------------------------------------------------------- */

struct ferry_source;

/* One command-line option a source owns (nbdkit's .config): --NAME [ARG].
 * main.c takes every option of every source out of the command line and
 * hands it to that source's config(); --help prints HELP under ARG. */
struct ferry_source_option {
    const char *name;                     /* "platform" for --platform */
    const char *arg;                      /* "OS/ARCH[/VARIANT]"; NULL: a flag */
    const char *help;                     /* one or more lines, no final newline */
};

/* A config() setting a string option: *SLOT (malloc'd or NULL) becomes a
 * copy of VALUE, the last given wins. */
void ferry_source_option_string(char **slot, const char *value);

struct ferry_source_ops {
    const char *name;                     /* "file", "http" ... */
    /* true when this source handles the URL ("http://...", a path ...). */
    bool (*handles)(const char *url);
    int (*open)(struct ferry_source *src, const char *url);
    /* Sequential read; returns bytes (0 at end) or -1. */
    ssize_t (*read)(struct ferry_source *src, void *buf, size_t len);
    /* Random-access read (NULL when the source is stream-only). Short reads
     * only at end of source. */
    ssize_t (*pread)(struct ferry_source *src, void *buf, size_t len, uint64_t off);
    void (*close)(struct ferry_source *src);
    /* ---- what the source says about itself (--help, --list-sources,
     * errors, the controller's DataVolume sources) ---- */
    const char *help;                     /* one line: what the source reads */
    /* The URL prefixes it reads ("http://"; NULL-terminated); the file
     * source also reads plain paths. */
    const char *const *schemes;
    /* Its options ({NULL} terminated; may be NULL) and the callback that
     * takes one (VALUE NULL for flags): -1 with an error naming the option
     * and the value when it is malformed. */
    const struct ferry_source_option *options;
    int (*config)(const char *name, const char *value);
    /* The volume size (--size, 0: none), told before open. */
    void (*volume_size)(uint64_t size);
    /* The CDI DataVolume spec.source kind it serves ("http", "registry"),
     * NULL when none (the file source). */
    const char *dv_source;
    /* Does reading URL need the network once the importer is confined
     * (sandbox.c: sockets, resolver, CA files)?  NULL: never. */
    bool (*needs_network)(const char *url);
};

struct ferry_source {
    const struct ferry_source_ops *ops;
    char *url;
    int64_t size;                          /* -1 when unknown */
    bool seekable;                         /* pread works */
    void *priv;
    /* For formats that open sibling files (VMDK extents): resolves a
     * relative name against the source's directory or base URL, refusing
     * absolute paths and escapes. */
    int (*open_sibling)(struct ferry_source *src, const char *relname, struct ferry_source **ret);
    /* For sources that know where the data is (imageio's /extents): as
     * ferry_source_file_next_data, the next data extent at or after OFF;
     * NULL when the source cannot tell. */
    int (*next_data)(struct ferry_source *src, uint64_t off, uint64_t *ret_data,
                     uint64_t *ret_hole);
    /* The format of the content when the source knows it (imageio's raw
     * transfers: the guest's disk, whatever its first bytes look like):
     * no probing, no unpacking.  NULL: detected by content. */
    const struct ferry_format *format;
};

/* ---- formats ---------------------------------------------------------- */

/* One extent of the virtual disk as the format maps it. */
enum ferry_extent_type { FERRY_EXTENT_DATA, FERRY_EXTENT_ZERO };
struct ferry_extent {
    uint64_t offset, length;
    enum ferry_extent_type type;
};

struct ferry_image;  /* a format's open state */

struct ferry_format {
    const char *name;                      /* "qcow2", "vmdk" ... */
    /* One line for --help and --list-formats: what the format is. */
    const char *help;
    /* File name extensions the format usually has (".qcow2"; NULL-
     * terminated).  Documentation only: detection is by content. */
    const char *const *extensions;
    /* Decide from the first bytes (at least 4096 or the whole source if
     * shorter) and the size; never by file name.  Higher wins; 0: not mine. */
    int (*probe)(const uint8_t *head, size_t len, int64_t size);
    /* Needs pread on the source (random access)? */
    bool needs_random_access;
    int (*open)(struct ferry_source *src, struct ferry_image **ret);
    uint64_t (*virtual_size)(struct ferry_image *img);
    /* Extents covering [offset, offset+length): data or zero.  Appends to
     * *extents (realloc'd, *n updated).  May return coarser or finer extents
     * than the format stores; zero extents are never written. */
    int (*map)(struct ferry_image *img, uint64_t offset, uint64_t length,
               struct ferry_extent **extents, size_t *n);
    /* Read virtual disk bytes (any offset, any length inside the disk). */
    int (*read)(struct ferry_image *img, void *buf, size_t len, uint64_t offset);
    void (*close)(struct ferry_image *img);
    /* Streaming formats (VMDK streamOptimized, raw, qcow2 ordered streams):
     * when set and the source is stream-only, the pipeline calls this
     * instead of map/read: it pushes (offset, data) runs in any order,
     * and may call emit from several threads at once.  Bytes emitted at or
     * beyond *ret_virtual_size are not part of the disk: the pipeline drops
     * them (a fixed VHD's footer, read last, may say the disk is shorter
     * than the data before it).  A stream that turns out at its end to be
     * another format (raw and ISO: a fixed VHD, whose only magic is a footer
     * after the data) sets *ret_format to it, so the report names it; it is
     * left alone when the stream is this format. */
    int (*stream)(struct ferry_source *src,
                  int (*emit)(void *opaque, uint64_t off, const void *buf, size_t len),
                  void *opaque, uint64_t *ret_virtual_size,
                  const struct ferry_format **ret_format);
    /* Formats whose only magic is at the end (fixed VHD: a 512-byte
     * "conectix" footer and nothing else).  The pipeline calls it, when set
     * and the source is seekable with a known size, with the last
     * min(size, 4096) bytes of the source (TAIL ends at the end of the
     * source); the score competes with probe()'s of all formats (highest
     * wins).  Stream-only sources: not called; the raw and ISO streams
     * look for a fixed VHD's footer at the end themselves (stream). */
    int (*probe_tail)(const uint8_t *tail, size_t len, int64_t size);
    /* true when map() and read() may be called from several threads at
     * once on the same image (the pipeline then reads chunks in parallel,
     * e.g. to decompress clusters on every core).  false: the pipeline
     * serialises map/read under one lock (reads still overlap writes). */
    bool parallel_read;
    /* With stream set: can this particular image be streamed (HEAD is the
     * first bytes of the source, as for probe)?  NULL means always.  false
     * sends a stream-only source through a scratch file instead (e.g. a
     * monolithicSparse VMDK, whose grain tables come before grains but are
     * not ordered for streaming). */
    bool (*can_stream)(const uint8_t *head, size_t len);
    /* Random-access formats read from a stream go through a scratch file:
     * what the first bytes of the image (HEAD, as for probe) say about its
     * virtual size and the most bytes an image file of it can take (data,
     * tables, snapshots).  0 when the head tells; -1 when it does not (the
     * pipeline then bounds the copy by --size or a fixed maximum).  NULL:
     * never tells. */
    int (*head_bounds)(const uint8_t *head, size_t len, uint64_t *ret_virtual_size,
                       uint64_t *ret_max_file_size);
};

/* The most bytes an image file of a disk of VIRTUAL_SIZE bytes sensibly
 * takes: the data, plus 1/64 for tables, plus 64 MiB for headers. */
static inline uint64_t
ferry_image_file_bound(uint64_t virtual_size)
{
    return virtual_size + virtual_size / 64 + (UINT64_C(64) << 20);
}

/* The tables, NULL-terminated (importer/sources.c, importer/formats.c). */
extern const struct ferry_source_ops *const ferry_sources[];
extern const struct ferry_format *const ferry_formats[];

/* ---- text generated from the tables (sources.c, formats.c) ------------- */

/* "raw, iso, qcow2, ..." in table order (malloc'd). */
char *ferry_formats_names(void);
/* "file, http, https, docker, oci-archive": every scheme of every source
 * (malloc'd). */
char *ferry_sources_schemes(void);
/* --list-formats / --list-sources: one entry a line, NAME  EXTENSIONS or
 * SCHEMES  HELP. */
void ferry_formats_list(FILE *f);
void ferry_sources_list(FILE *f);
/* One line of either list: NAME and WORDS (NULL-terminated, may be NULL)
 * in columns of the given widths, then HELP (may be NULL). */
void ferry_list_line(FILE *f, int name_width, int words_width, const char *name,
                     const char *const *words, const char *help);
/* The options of every source, for --help. */
void ferry_sources_usage(FILE *f);
/* The source owning option NAME and the option's descriptor, or NULL. */
const struct ferry_source_ops *ferry_sources_find_option(const char *name,
                                                        const struct ferry_source_option **ret);
/* Tell every source the volume size (--size). */
void ferry_sources_volume_size(uint64_t size);
/* The DataVolume source kinds the sources serve: image/image.h. */

/* Limits every reader enforces (hostile input). */
#define FERRY_MAX_VIRTUAL_SIZE (UINT64_C(64) << 40)  /* 64 TiB */

/* A head_bounds answer for a disk of VIRTUAL_SIZE bytes whose image holds
 * the data at most COPIES times (qcow2's internal snapshots): -1 when the
 * size is beyond FERRY_MAX_VIRTUAL_SIZE. */
static inline int
ferry_image_head_bounds(uint64_t virtual_size, uint64_t copies, uint64_t *ret_virtual_size,
                        uint64_t *ret_max_file_size)
{
    if (virtual_size > FERRY_MAX_VIRTUAL_SIZE)
        return -1;
    *ret_virtual_size = virtual_size;
    *ret_max_file_size = ferry_image_file_bound(virtual_size) * copies;
    return 0;
}

#endif
