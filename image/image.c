/* Probing by the format table, and the virtual size of an image file
 * (image.h).  The size comes from opening the image with its reader, so a
 * file the importer would refuse is refused here too, with its message. */
#include "image/image.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "importer/format.h"
#include "importer/importer.h"

#define HEAD_LEN (64u << 10)
#define TAIL_LEN 4096u

const struct ferry_format *
ferry_format_probe(const uint8_t *head, size_t len, int64_t size, const uint8_t *tail,
                   size_t tail_len)
{
    const struct ferry_format *best = NULL;
    int best_score = 0;

    for (size_t i = 0; ferry_formats[i]; i++) {
        const struct ferry_format *f = ferry_formats[i];
        int score = f->probe ? f->probe(head, len, size) : 0;
        if (tail && f->probe_tail) {
            int t = f->probe_tail(tail, tail_len, size);
            if (t > score)
                score = t;
        }
        if (score > best_score) {
            best = f;
            best_score = score;
        }
    }
    return best;
}

/* The extent lines of a VMDK text descriptor, "RW 41943040 SPARSE "d.vmdk"",
 * summed: the size a descriptor states when its extents are elsewhere. */
static int
descriptor_size(const char *path, const char *text, uint64_t *ret)
{
    uint64_t sectors = 0;
    bool any = false;

    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        char access[16];
        unsigned long long s;
        if (sscanf(line, " %15s %llu", access, &s) == 2 &&
            (!strcmp(access, "RW") || !strcmp(access, "RDONLY") || !strcmp(access, "NOACCESS"))) {
            if (s > FERRY_MAX_VIRTUAL_SIZE / 512 || sectors + s > FERRY_MAX_VIRTUAL_SIZE / 512)
                return ferry_error(FERRY_ERR_UNSUPPORTED,
                                   "vmdk '%s': the extents add up beyond the 64 TiB limit", path);
            sectors += s;
            any = true;
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    if (!any)
        return ferry_error(FERRY_ERR_FORMAT, "vmdk '%s': descriptor has no extent lines", path);
    *ret = sectors * 512;
    return 0;
}

int
ferry_image_file_info(const char *path, struct ferry_image_info *ret)
{
    FERRY_IMP_AUTO(ferry_source) struct ferry_source *src =
        ferry_source_new(&ferry_source_file, path);
    if (ferry_source_file.open(src, path) < 0)
        return -1;
    if (!src->seekable || src->size < 0)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "'%s': not a regular file", path);

    FERRY_AUTOFREE uint8_t *head = ferry_calloc(1, HEAD_LEN + 1);
    uint8_t tail[TAIL_LEN];
    size_t head_len = (uint64_t)src->size < HEAD_LEN ? (size_t)src->size : HEAD_LEN;
    size_t tail_len = (uint64_t)src->size < TAIL_LEN ? (size_t)src->size : TAIL_LEN;
    if (ferry_source_pread_exact(src, head, head_len, 0, "the head") < 0 ||
        ferry_source_pread_exact(src, tail, tail_len, src->size - tail_len, "the end") < 0)
        return -1;
    const struct ferry_format *fmt =
        ferry_format_probe(head, head_len, src->size, tail_len ? tail : NULL, tail_len);
    if (!fmt)
        return ferry_error(FERRY_ERR_UNSUPPORTED, "'%s': unknown image format", path);

    struct ferry_image *img = NULL;
    if (fmt->open(src, &img) < 0) {
        /* A descriptor copied without its extents (or beside placeholders)
         * still says the size, as it did before the extents were read. */
        if (strcmp(fmt->name, "vmdk") || (head_len >= 4 && !memcmp(head, "KDMV", 4)))
            return -1;
        ferry_error_reset();
        if (descriptor_size(path, (const char *)head, &ret->virtual_size) < 0)
            return -1;
        ret->format = fmt->name;
        return 0;
    }
    ret->virtual_size = fmt->virtual_size(img);
    ret->format = fmt->name;
    fmt->close(img);
    return 0;
}
