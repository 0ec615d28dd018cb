/* abounds.c — Avro binary walked against its schema, lengths checked (see abounds.h). */
#include "abounds.h"

#include <stdint.h>
#include <stdio.h>

typedef struct walk {
    const unsigned char *start, *p, *end;
    int depth;
    char *err;
    size_t errlen;
} walk;

static int walk_fail(walk *w, const char *what, int64_t n)
{
    snprintf(w->err, w->errlen, "invalid Avro data at byte %td: %s %lld (%td bytes left)",
             w->p - w->start, what, (long long)n, w->end - w->p);
    return -1;
}

/* A zigzag varint long; at most 10 bytes. */
static int read_long(walk *w, int64_t *out)
{
    uint64_t z = 0;
    for (int shift = 0;; shift += 7) {
        if (w->p >= w->end)
            return walk_fail(w, "truncated number, bytes read", shift / 7);
        if (shift > 63)
            return walk_fail(w, "number longer than 10 bytes", 0);
        unsigned char b = *w->p++;
        z |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 0;
}

static int skip(walk *w, int64_t n, const char *what)
{
    if (n < 0 || n > w->end - w->p)
        return walk_fail(w, what, n);
    w->p += n;
    return 0;
}

static int check_value(walk *w, avro_schema_t s);

/* Array items or map values, in blocks: a count (negative: followed by the block's size in
 * bytes), the items, until a 0 count. A count beyond the bytes left is refused (avro-c would
 * allocate it): every item takes a byte at least, but for empty types (an array of nulls, which
 * no crmstream schema has). */
static int check_blocks(walk *w, avro_schema_t items, int map)
{
    for (;;) {
        int64_t count, size;
        if (read_long(w, &count))
            return -1;
        if (count == 0)
            return 0;
        if (count < 0) {
            if (count == INT64_MIN)
                return walk_fail(w, "block count", count);
            count = -count;
            if (read_long(w, &size))
                return -1;
            if (size < 0 || size > w->end - w->p)
                return walk_fail(w, "block size", size);
        }
        if (count > w->end - w->p)
            return walk_fail(w, "block count", count);
        for (int64_t i = 0; i < count; i++) {
            int64_t keylen;
            if (map && (read_long(w, &keylen) || skip(w, keylen, "map key length")))
                return -1;
            if (check_value(w, items))
                return -1;
        }
    }
}

static int check_value(walk *w, avro_schema_t s)
{
    int64_t n;
    int rc = 0;
    if (++w->depth > ABOUNDS_MAX_DEPTH)
        return walk_fail(w, "nesting deeper than", ABOUNDS_MAX_DEPTH);
    switch (avro_typeof(s)) {
    case AVRO_STRING:
        rc = read_long(w, &n) || skip(w, n, "string length");
        break;
    case AVRO_BYTES:
        rc = read_long(w, &n) || skip(w, n, "bytes length");
        break;
    case AVRO_INT32:
        rc = read_long(w, &n);
        if (!rc && (n < INT32_MIN || n > INT32_MAX))
            rc = walk_fail(w, "int out of range:", n);
        break;
    case AVRO_INT64:
        rc = read_long(w, &n);
        break;
    case AVRO_FLOAT:
        rc = skip(w, 4, "float of size");
        break;
    case AVRO_DOUBLE:
        rc = skip(w, 8, "double of size");
        break;
    case AVRO_BOOLEAN:
        rc = skip(w, 1, "boolean of size");
        break;
    case AVRO_NULL:
        break;
    case AVRO_FIXED:
        rc = skip(w, avro_schema_fixed_size(s), "fixed of size");
        break;
    case AVRO_ENUM:
        rc = read_long(w, &n);
        if (!rc && (n < 0 || n >= avro_schema_enum_number_of_symbols(s)))
            rc = walk_fail(w, "enum symbol", n);
        break;
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s) && !rc; i++)
            rc = check_value(w, avro_schema_record_field_get_by_index(s, (int)i));
        break;
    case AVRO_UNION:
        rc = read_long(w, &n);
        if (!rc && (n < 0 || (uint64_t)n >= avro_schema_union_size(s)))
            rc = walk_fail(w, "union branch", n);
        if (!rc)
            rc = check_value(w, avro_schema_union_branch(s, (int)n));
        break;
    case AVRO_ARRAY:
        rc = check_blocks(w, avro_schema_array_items(s), 0);
        break;
    case AVRO_MAP:
        rc = check_blocks(w, avro_schema_map_values(s), 1);
        break;
    case AVRO_LINK: /* a named type used again: no nesting of its own */
        w->depth--;
        rc = check_value(w, avro_schema_link_target(s));
        w->depth++;
        break;
    }
    w->depth--;
    return rc ? -1 : 0;
}

int abounds_check(avro_schema_t schema, const void *data, size_t len, char *err, size_t errlen)
{
    walk w = {data, data, (const unsigned char *)data + len, 0, err, errlen};
    return check_value(&w, schema);
}
