/* Little- and big-endian integers read out of image headers and tables at
 * any alignment, the all-zero test of header fields and VHD's checksum: the
 * one copy the format readers (qcow2, vmdk, vdi, vhd, vhdx) share. */
#ifndef FERRY_IMPORTER_BYTES_H
#define FERRY_IMPORTER_BYTES_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* NAME(p): the TYPE stored at P, converted by TOHOST from its byte order. */
#define FERRY_BYTES_READER(name, type, tohost)                                                     \
    static inline type name(const uint8_t *p)                                                      \
    {                                                                                              \
        type v;                                                                                    \
        memcpy(&v, p, sizeof(v));                                                                  \
        return tohost(v);                                                                          \
    }

FERRY_BYTES_READER(ferry_le16, uint16_t, le16toh)
FERRY_BYTES_READER(ferry_le32, uint32_t, le32toh)
FERRY_BYTES_READER(ferry_le64, uint64_t, le64toh)
FERRY_BYTES_READER(ferry_be32, uint32_t, be32toh)
FERRY_BYTES_READER(ferry_be64, uint64_t, be64toh)

/* Are the N bytes at P all zero (a GUID or UUID that is unset)? */
static inline bool
ferry_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* VHD's footer and header checksum: the one's complement of the byte sum of
 * the LEN bytes at P, the 4-byte checksum field at FIELD counted as zero.
 * The VHD reader checks it, the tests that build VHDs write it. */
static inline uint32_t
ferry_vhd_checksum(const uint8_t *p, size_t len, size_t field)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        if (i < field || i >= field + 4)
            sum += p[i];
    return ~sum;
}

#endif
