/* The source table: where the bytes of an image come from.  The pipeline
 * picks the first entry whose handles() accepts the URL, so the catch-all
 * "file" source (plain paths, file://) is last.  Later sources (registry,
 * ESXi datastore, imageio, S3) are one file in sources/ and one line here. */
#include "importer/format.h"

extern const struct ferry_source_ops ferry_source_http;
extern const struct ferry_source_ops ferry_source_file;

const struct ferry_source_ops *const ferry_sources[] = {
    &ferry_source_http,
    &ferry_source_file,
    NULL,
};
