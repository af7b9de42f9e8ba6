/* libferry-image (target ferry-image): what a disk image is, for every
 * program that reads one.  It owns the format table and its readers
 * (importer/formats.c, importer/formats/ -- their contract is
 * importer/format.h), the source table with the stream layers the readers
 * use (importer/sources.c, sources/, stream.c, blockmap.c, checksum.c),
 * probing by content (ferry_format_probe, declared beside the table users in
 * importer/importer.h), and the virtual size of an image file (below).  The
 * importer's pipeline and the converter link it; nothing else reads image
 * headers. */
#ifndef FERRY_IMAGE_IMAGE_H
#define FERRY_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

struct ferry_image_info {
    const char *format;        /* static: "qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso", "raw" */
    uint64_t virtual_size;     /* bytes */
};

/* Probe the regular file PATH by content, as the importer does (its head and
 * its tail), and read its virtual size with that format's own reader, which
 * checks what it reads (limits, overflow, 64 TiB).  A VMDK text descriptor
 * the reader cannot open with its extents (a definition is usually copied
 * without its disks) is sized by its extent lines.  Errors name the file. */
int ferry_image_file_info(const char *path, struct ferry_image_info *ret);

/* For the controller (generated from the source table, importer/sources.c,
 * where each source names the CDI DataVolume spec.source kind it serves):
 * does ferry-importer import spec.source.KIND ("http", "registry"; false
 * for "s3", "gcs", NULL)?  And those kinds in alphabetical order, "http, registry" (malloc'd),
 * for its "Unsupported value" message. */
bool ferry_sources_serve_dv(const char *kind);
char *ferry_sources_dv_kinds(void);
/* The option (name without "--") of the source serving spec.source.KIND
 * that takes ROLE, or NULL when this build's source has none:
 *   FERRY_DV_OPT_SECRET      a directory with files accessKeyId, secretKey
 *                            (the DV's secretRef);
 *   FERRY_DV_OPT_CA          a directory of PEM files added to the system
 *                            roots (certConfigMap): the source's own, else
 *                            a process-wide one of another source;
 *   FERRY_DV_OPT_HEADER      one "Name: value" header, repeatable
 *                            (http.extraHeaders);
 *   FERRY_DV_OPT_HEADER_DIR  a directory of such headers, one a file
 *                            (http.secretExtraHeaders).
 * Found by name in the table (KIND-secret-dir, secret-dir, ...), so a
 * source gains DataVolume credentials by having the option. */
enum ferry_dv_option { FERRY_DV_OPT_SECRET, FERRY_DV_OPT_CA, FERRY_DV_OPT_HEADER,
                       FERRY_DV_OPT_HEADER_DIR,
                       FERRY_DV_OPT_INSECURE /* a flag: no TLS verification
                                              * (imageio.insecureSkipVerify) */ };
const char *ferry_sources_dv_option(const char *kind, enum ferry_dv_option role);
/* spec.source.imageio's url and diskId -> the imageio:// URL ferry-importer
 * reads (importer/importer.h; FERRY_ERR_INVALID naming both otherwise). */
int ferry_imageio_url_from_cdi(const char *endpoint, const char *disk_id, char **ret_url);

#endif
