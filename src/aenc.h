/* aenc.h — Avro binary primitives for code that writes Avro by hand (the raw path, envelopes,
 * keys): every long, length and count as a zigzag varint (varint.h). Inline: called for every
 * field of every record on the raw path. */
#ifndef CRM_AENC_H
#define CRM_AENC_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "varint.h"

/* A long as Avro writes it (zigzag, then a little-endian base-128 varint) into b, which has room
 * for VARINT_MAX bytes; returns its length. */
static inline size_t aenc_varint(int64_t v, unsigned char *b)
{
    return varint_put(((uint64_t)v << 1) ^ (uint64_t)(v >> 63), b);
}

/* A long appended to o. */
static inline void aenc_put_long(buf *o, int64_t v)
{
    if (o->len + VARINT_MAX + 1 > o->cap)
        buf_grow(o, VARINT_MAX);
    o->len += aenc_varint(v, (unsigned char *)o->data + o->len);
    o->data[o->len] = '\0';
}

/* A string (or bytes) appended to o: its length, then its bytes. */
static inline void aenc_put_string(buf *o, const char *s, size_t len)
{
    aenc_put_long(o, (int64_t)len);
    buf_append(o, s, len);
}

#endif
