/* varint.h — the one base-128 varint encoder (groups of 7 bits, least significant first, the
 * high bit set on every byte but the last): Avro longs after their zigzag step (aenc.h) and the
 * dedupe log's key lengths (dedupe_log.c) are written with it. */
#ifndef CRM_VARINT_H
#define CRM_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10 /* bytes of a 64-bit value */

/* z into b (room for VARINT_MAX bytes); returns the number of bytes written. */
static inline size_t varint_put(uint64_t z, unsigned char *b)
{
    size_t n = 0;
    while (z >= 0x80) {
        b[n++] = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    b[n++] = (unsigned char)z;
    return n;
}

#endif
