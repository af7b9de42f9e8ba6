/* Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource):
 * "<signedNumber><suffix>", suffix a binary SI (Ki Mi Gi Ti Pi Ei), decimal SI
 * (n u m "" k M G T P E) or decimal exponent (e3, E-2).  Kept exactly as
 * milli-units in 128 bits internally; values beyond int64 are rejected. */
#ifndef FERRY_QUANTITY_H
#define FERRY_QUANTITY_H

#include <stdbool.h>
#include <stdint.h>

struct ferry_quantity {
    int64_t milli;   /* value * 1000, rounded up as Kubernetes' MilliValue() */
    int64_t value;   /* rounded up to an integer as Kubernetes' Value() */
    char format;     /* 'b' binary SI, 'd' decimal SI, 'e' decimal exponent */
};

/* Parse; the error names the string: quantity "1.5.Gi" is invalid: ... */
int ferry_quantity_parse(const char *s, struct ferry_quantity *ret);
/* Bytes for a storage/memory quantity (Value()); rejects negatives. */
int ferry_quantity_parse_bytes(const char *s, uint64_t *ret_bytes);
/* Canonical form as Kubernetes would print it ("10Gi", "1500M", "100m"). */
char *ferry_quantity_format_bytes(uint64_t bytes);  /* largest exact binary unit */

#endif
