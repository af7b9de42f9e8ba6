/* Little- and big-endian integers read out of image headers and tables at
 * any alignment: the one copy the format readers (qcow2, vmdk, vdi, vhd,
 * vhdx) share. */
#ifndef FERRY_IMPORTER_BYTES_H
#define FERRY_IMPORTER_BYTES_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t
ferry_le16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return le16toh(v);
}

static inline uint32_t
ferry_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

static inline uint64_t
ferry_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

static inline uint32_t
ferry_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}

static inline uint64_t
ferry_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

#endif
