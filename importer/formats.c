/* The format table (STYLE.md "Plugins are tables"): every disk-image reader
 * the importer knows.  Detection is by content only: the pipeline asks each
 * entry's probe() and the highest score wins, so order here only breaks ties.
 *
 * Adding a format:
 *   1. write formats/NAME.c defining `const struct ferry_format
 *      ferry_format_NAME` (importer/format.h) with .name "NAME", .help (one
 *      line), .extensions (".NAME", NULL) and the reader's callbacks;
 *   2. add one extern and one `&ferry_format_NAME,` line in the table below.
 * Nothing else: the build globs formats/, tests/importer-formats.cmake makes
 * the fuzz target fuzz-NAME from the `&ferry_format_NAME,` lines here, and
 * --help, --list-formats and tests/unit/test-tables.c read the table (the
 * fuzz seed corpus for NAME comes from tests/importer-formats/make-corpus.sh;
 * without seeds fuzz-NAME replays nothing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/util.h"
#include "importer/format.h"

extern const struct ferry_format ferry_format_raw;
extern const struct ferry_format ferry_format_iso;
extern const struct ferry_format ferry_format_qcow2;
extern const struct ferry_format ferry_format_vmdk;
/* Written by the formats helper (formats/vdi.c, vhd.c, vhdx.c). */
extern const struct ferry_format ferry_format_vdi;
extern const struct ferry_format ferry_format_vhd;
extern const struct ferry_format ferry_format_vhdx;

const struct ferry_format *const ferry_formats[] = {
    &ferry_format_qcow2,
    &ferry_format_vmdk,
    &ferry_format_vdi,
    &ferry_format_vhd,   /* also probe_tail: a fixed VHD is only a footer at the end */
    &ferry_format_vhdx,
    &ferry_format_iso,
    &ferry_format_raw,  /* probes 1: the fallback */
    NULL,
};

char *
ferry_formats_names(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    if (!f)
        ferry_oom();
    for (size_t i = 0; ferry_formats[i]; i++)
        fprintf(f, "%s%s", i ? ", " : "", ferry_formats[i]->name);
    fclose(f);
    return buf;
}

void
ferry_list_line(FILE *f, int name_width, int words_width, const char *name,
                const char *const *words, const char *help)
{
    FERRY_AUTOFREE char *joined = ferry_strv_join(words, " ");

    fprintf(f, "%-*s %-*s %s\n", name_width, name, words_width, joined, help ? help : "");
}

void
ferry_formats_list(FILE *f)
{
    for (size_t i = 0; ferry_formats[i]; i++)
        ferry_list_line(f, 8, 20, ferry_formats[i]->name, ferry_formats[i]->extensions,
                        ferry_formats[i]->help);
}
