/* iso: an ISO 9660 (or UDF bridge) image is imported as it is, like raw;
 * it only gets its own name so that the final report says what it was.
 * Like raw, a stream of one that ends in a fixed VHD's footer is that VHD
 * (a file of it is: the footer's probe outscores ISO's). */
#include <string.h>

#include "importer/importer.h"

extern const struct ferry_format ferry_format_raw;

static int
iso_probe(const uint8_t *head, size_t len, int64_t size)
{
    /* The primary volume descriptor at sector 16: type byte, "CD001". */
    if (len >= 0x8006 && memcmp(head + 0x8001, "CD001", 5) == 0)
        return 50;
    return 0;
}

static int
iso_open(struct ferry_source *src, struct ferry_image **ret)
{
    return ferry_format_raw.open(src, ret);
}

static uint64_t
iso_virtual_size(struct ferry_image *img)
{
    return ferry_format_raw.virtual_size(img);
}

static int
iso_map(struct ferry_image *img, uint64_t offset, uint64_t length, struct ferry_extent **extents,
        size_t *n)
{
    return ferry_format_raw.map(img, offset, length, extents, n);
}

static int
iso_read(struct ferry_image *img, void *buf, size_t len, uint64_t offset)
{
    return ferry_format_raw.read(img, buf, len, offset);
}

static void
iso_close(struct ferry_image *img)
{
    ferry_format_raw.close(img);
}

static const char *const iso_extensions[] = { ".iso", NULL };

const struct ferry_format ferry_format_iso = {
    .name = "iso",
    .help = "an ISO 9660 / UDF optical disc image, imported as is",
    .extensions = iso_extensions,
    .probe = iso_probe,
    .open = iso_open,
    .virtual_size = iso_virtual_size,
    .map = iso_map,
    .read = iso_read,
    .close = iso_close,
    .stream = ferry_raw_stream,
    .parallel_read = true,
};
