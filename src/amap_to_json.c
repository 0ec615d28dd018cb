/* amap_to_json.c — a filled record value back to source-shaped JSON (peek, tests, the
 * differential checks): the inverse of amap_fill. */
#include "amap_ctx.h"

#include <stdio.h>
#include <stdlib.h>

#include "crm_time.h"

static json_t *jfail(fctx *c, json_t *partial, const char *what)
{
    json_decref(partial);
    amap_fail(c, "%s", what);
    return NULL;
}

/* Bytes as a JSON string: UTF-8 text as is, anything else one code point per byte. */
static json_t *bytes_json(const void *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    const unsigned char *b = p;
    char *tmp = xmalloc(2 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x80) {
            tmp[o++] = (char)b[i];
        } else {
            tmp[o++] = (char)(0xC0 | (b[i] >> 6));
            tmp[o++] = (char)(0x80 | (b[i] & 0x3F));
        }
    }
    s = json_stringn(tmp, o);
    free(tmp);
    return s;
}

static json_t *time_json(const node *n, int64_t x)
{
    char out[48];
    if (n->logical == L_DATE) {
        crm_time_format(x * 86400000, out, sizeof(out));
        out[10] = '\0';
    } else if (n->logical == L_TS_MICROS) {
        crm_time_format(amap_floor_div(x, 1000), out, sizeof(out));
        char *z = strrchr(out, 'Z');
        if (z)
            snprintf(z, sizeof(out) - (size_t)(z - out), "%03dZ",
                     (int)(x - amap_floor_div(x, 1000) * 1000));
    } else {
        crm_time_format(x, out, sizeof(out));
    }
    return json_string(out);
}

static json_t *to_json(fctx *c, const node *n, unsigned fl, avro_value_t *v);

static json_t *record_json(fctx *c, const node *n, avro_value_t *v)
{
    json_t *obj = json_object();
    json_t *extra = NULL;
    for (size_t i = 0; i < n->nfields; i++) {
        const field *f = &n->fields[i];
        avro_value_t child;
        if (avro_value_get_by_index(v, i, &child, NULL))
            return jfail(c, obj, "cannot read a record field");
        amap_push_field(c, f->name);
        json_t *fj = to_json(c, f->type, f->flags, &child);
        amap_pop(c);
        if (!fj) {
            json_decref(extra);
            json_decref(obj);
            return NULL;
        }
        if ((int)i == n->unmapped) {
            if (json_is_string(fj)) {
                extra = json_loadb(json_string_value(fj), json_string_length(fj), 0, NULL);
                if (!json_is_object(extra)) {
                    json_decref(extra);
                    extra = NULL;
                    json_object_set_new(obj, f->key, fj); /* not ours: keep as is */
                    continue;
                }
            }
            json_decref(fj);
            continue;
        }
        json_object_setn_new(obj, f->key, f->keylen, fj);
    }
    if (extra) {
        json_object_update_missing(obj, extra);
        json_decref(extra);
    }
    return obj;
}

/* int, long (and their logical time types), float and double. */
static json_t *number_json(fctx *c, const node *n, avro_value_t *v)
{
    if (n->kind == K_INT) {
        int32_t x;
        if (avro_value_get_int(v, &x))
            return jfail(c, NULL, "cannot read an int");
        return n->logical == L_DATE ? time_json(n, x) : json_integer(x);
    }
    if (n->kind == K_LONG) {
        int64_t x;
        if (avro_value_get_long(v, &x))
            return jfail(c, NULL, "cannot read a long");
        return n->logical != L_NONE ? time_json(n, x) : json_integer(x);
    }
    double d;
    float f;
    if (n->kind == K_FLOAT ? avro_value_get_float(v, &f) : avro_value_get_double(v, &d))
        return jfail(c, NULL, "cannot read a number");
    if (n->kind == K_FLOAT)
        d = f;
    json_t *r = json_real(d);
    return r ? r : jfail(c, NULL, "a NaN or infinite number has no JSON form");
}

/* A string; a json_text field holding an object or array goes back to that JSON value. */
static json_t *string_json(fctx *c, unsigned fl, avro_value_t *v)
{
    const char *s;
    size_t size;
    if (avro_value_get_string(v, &s, &size))
        return jfail(c, NULL, "cannot read a string");
    size_t len = size ? size - 1 : 0; /* avro-c sizes include the NUL */
    if ((fl & F_JSON_TEXT) && len && (s[0] == '{' || s[0] == '[')) {
        json_t *parsed = json_loadb(s, len, JSON_DECODE_ANY, NULL);
        if (parsed)
            return parsed;
    }
    json_t *r = json_stringn(s, len);
    return r ? r : bytes_json(s, len);
}

/* An array or a map, element by element (the path follows the index or key). */
static json_t *collection_json(fctx *c, const node *n, unsigned fl, avro_value_t *v)
{
    size_t size;
    if (avro_value_get_size(v, &size))
        return jfail(c, NULL, "cannot read a collection");
    json_t *out = n->kind == K_ARRAY ? json_array() : json_object();
    if (!out)
        return jfail(c, NULL, "out of memory");
    for (size_t i = 0; i < size; i++) {
        avro_value_t e;
        const char *key = NULL;
        if (avro_value_get_by_index(v, i, &e, &key))
            return jfail(c, out, "cannot read an element");
        if (n->kind == K_ARRAY)
            amap_push_index(c, i);
        else
            amap_push_key(c, key);
        json_t *ej = to_json(c, n->items, fl, &e);
        amap_pop(c);
        if (!ej) {
            json_decref(out);
            return NULL;
        }
        int rc = n->kind == K_ARRAY ? json_array_append_new(out, ej)
                                    : json_object_set_new(out, key ? key : "", ej);
        if (rc)
            return jfail(c, out, "cannot add an element");
    }
    return out;
}

static json_t *union_json(fctx *c, const node *n, unsigned fl, avro_value_t *v)
{
    int disc;
    avro_value_t b;
    if (avro_value_get_discriminant(v, &disc) || disc < 0 || (size_t)disc >= n->nbranches ||
        avro_value_get_current_branch(v, &b))
        return jfail(c, NULL, "union without a branch");
    return to_json(c, n->branches[disc], fl, &b);
}

/* The JSON form of v (of node n's type), or NULL with the failure recorded in c. */
static json_t *to_json(fctx *c, const node *n, unsigned fl, avro_value_t *v)
{
    switch (n->kind) {
    case K_NULL:
        return json_null();
    case K_BOOLEAN: {
        int b;
        if (avro_value_get_boolean(v, &b))
            return jfail(c, NULL, "cannot read a boolean");
        return json_boolean(b);
    }
    case K_INT:
    case K_LONG:
    case K_FLOAT:
    case K_DOUBLE:
        return number_json(c, n, v);
    case K_STRING:
        return string_json(c, fl, v);
    case K_BYTES:
    case K_FIXED: {
        const void *p;
        size_t size;
        if (n->kind == K_BYTES ? avro_value_get_bytes(v, &p, &size)
                               : avro_value_get_fixed(v, &p, &size))
            return jfail(c, NULL, "cannot read bytes");
        return bytes_json(p, size);
    }
    case K_ENUM: {
        int e;
        if (avro_value_get_enum(v, &e) || e < 0 || (size_t)e >= n->nsymbols)
            return jfail(c, NULL, "cannot read an enum");
        return json_string(n->symbols[e]);
    }
    case K_ARRAY:
    case K_MAP:
        return collection_json(c, n, fl, v);
    case K_RECORD:
        return record_json(c, n, v);
    case K_UNION:
        return union_json(c, n, fl, v);
    }
    return jfail(c, NULL, "unsupported type");
}

json_t *amap_to_json(const amap_plan *m, avro_value_t *value, char *err, size_t errlen)
{
    fctx c;
    amap_ctx_init(&c, err, errlen);
    avro_value_t rv;
    if (amap_record_value(&c, m, value, &rv, 0))
        return NULL;
    return record_json(&c, m->root, &rv);
}
