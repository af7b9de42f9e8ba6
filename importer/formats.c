/* The format table (STYLE.md "Plugins are tables"): every disk-image reader
 * the importer knows.  Detection is by content only: the pipeline asks each
 * entry's probe() and the highest score wins, so order here only breaks ties.
 * A new format is one file in formats/ and one line below. */
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
