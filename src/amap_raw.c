/* amap_raw.c — the fast path: a record's JSON text straight to Avro binary, with no jansson DOM
 * and no avro-c values, the same bytes as amap_fill + avro_value_write (see amap.h). */
#include "amap_plan.h"

#include <math.h>
#include <stdlib.h>

#include "aenc.h"
#include "crm_time.h"
#include "json_writer.h"
#include "util.h"

/* Produces exactly the bytes amap_fill + avro_value_write produce for the same record, for the
 * common shapes: records, ["null", T] unions, unions of several types when the value's JSON type
 * picks a branch, primitives, arrays, maps, enums, timestamp-millis from strings, "_unmapped".
 * Anything else — conversions (numeric strings, numbers for strings, "" as no value), defaults,
 * bytes, duplicate or escaped keys, errors —
 * returns RAW_FALLBACK and the caller uses the DOM path, which also produces the proper error
 * message. */
#define RAW_FALLBACK    1
#define RAW_MAX_UNKNOWN 32

typedef struct raw_member {
    const char *key, *value;
    size_t keylen;
    const char *value_end; /* "_unmapped" members: where the value was spanned to */
} raw_member;

/* The keys of the objects raw_jw is inside, to find a duplicate key (jansson keeps one member
 * of the name: the DOM path decides). An object with more keys than RAW_JW_MAX_KEYS goes to the
 * DOM path too (the search is quadratic). */
#define RAW_JW_MAX_KEYS 256

typedef struct rctx {
    buf *out;
    buf tmp;              /* unescaped strings */
    const char *ts_value; /* the last timestamp-millis string encoded: where its value */
    int64_t ts_ms;        /* starts, its time, and its text when canonical */
    const char *ts_text;
    int depth;        /* nesting of the record or array being encoded (root record: 1) */
    raw_member *keys; /* raw_jw's open objects' keys (heap, grown on demand) */
    size_t nkeys, keycap;
    amap_custom *custom; /* typed custom fields of the root record, or NULL */
} rctx;

/* The string value at p (unescaped if needed): *s and *len point into the input or c->tmp. */
static const char *raw_str(rctx *c, const char *p, const char *end, const char **s, size_t *len)
{
    int esc;
    const char *next = js_string(p, end, s, len, &esc);
    if (!next)
        return NULL;
    if (esc) {
        buf_reset(&c->tmp);
        if (js_unescape(*s, *len, &c->tmp))
            return NULL;
        *s = c->tmp.data ? c->tmp.data : "";
        *len = c->tmp.len;
    }
    return next;
}

static int raw_value(rctx *c, const node *n, const char *p, const char *end, const char **next);

static int raw_number(const char *p, const char *end, const char **next, int *integer, char *text,
                      size_t cap)
{
    const char *q = js_number(p, end, integer);
    if (!q || (size_t)(q - p) >= cap)
        return RAW_FALLBACK;
    memcpy(text, p, (size_t)(q - p));
    text[q - p] = '\0';
    *next = q;
    return 0;
}

/* A JSON integer text (js_number's, at most 18 characters) without strtoll. */
static int64_t int_text_value(const char *s, size_t len)
{
    int neg = *s == '-';
    int64_t v = 0;
    for (size_t i = (size_t)neg; i < len; i++)
        v = v * 10 + (s[i] - '0');
    return neg ? -v : v;
}

/* A JSON number text (js_number's) without an exponent and with at most 15 significant digits,
 * without strtod: the digits as an integer (exact below 2^53) divided by a power of ten up to
 * 10^22 (exact), one correctly rounded division, which is what strtod returns (Clinger's fast
 * path). -1: ask strtod. */
static int decimal_text_value(const char *s, size_t len, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    int neg = *s == '-', dot = 0, digits = 0, frac = 0;
    uint64_t m = 0;
    for (size_t i = (size_t)neg; i < len; i++) {
        char ch = s[i];
        if (ch == '.') {
            dot = 1;
            continue;
        }
        if (ch < '0' || ch > '9')
            return -1; /* an exponent */
        frac += dot;
        if (m == 0 && ch == '0')
            continue; /* leading zeros are not significant */
        m = m * 10 + (uint64_t)(ch - '0');
        if (++digits > 15)
            return -1;
    }
    if (frac > 22)
        return -1;
    double d = (double)m / pow10[frac];
    *out = neg ? -d : d;
    return 0;
}

/* A timestamp-millis from a string (crm_time_parse_text), which is remembered in c for the
 * caller's replication key; its text too when canonical and read in place (not unescaped). */
static int raw_timestamp(rctx *c, const char *p, const char *end, const char **next)
{
    const char *s;
    size_t len;
    int64_t ms;
    if (!(*next = raw_str(c, p, end, &s, &len)) || len == 0)
        return RAW_FALLBACK;
    int canonical = crm_time_parse_text(s, len, &ms);
    if (canonical < 0 || ms == CRM_TIME_NONE)
        return RAW_FALLBACK;
    aenc_put_long(c->out, ms);
    c->ts_value = p;
    c->ts_ms = ms;
    c->ts_text = canonical == 1 && s > p && s < *next ? s : NULL;
    return 0;
}

/* A date (days since the epoch) from a string, as the DOM path reads it: crm_time's time, the
 * day it falls in. */
static int raw_date(rctx *c, const char *p, const char *end, const char **next)
{
    const char *s;
    size_t len;
    int64_t ms;
    if (!(*next = raw_str(c, p, end, &s, &len)) || len == 0 ||
        crm_time_parse_text(s, len, &ms) < 0 || ms == CRM_TIME_NONE)
        return RAW_FALLBACK;
    int64_t days = amap_floor_div(ms, 86400000);
    if (days < INT32_MIN || days > INT32_MAX)
        return RAW_FALLBACK;
    aenc_put_long(c->out, days);
    return 0;
}

static int raw_primitive(rctx *c, const node *n, const char *p, const char *end, const char **next)
{
    js_type t = js_peek(p, end);
    char num[40];
    int integer;
    switch (n->kind) {
    case K_NULL:
        if (t != JS_NULL || !(*next = js_skip(p, end)))
            return RAW_FALLBACK;
        return 0;
    case K_BOOLEAN:
        if (t != JS_TRUE && t != JS_FALSE)
            return RAW_FALLBACK;
        if (!(*next = js_skip(p, end)))
            return RAW_FALLBACK;
        buf_append(c->out, t == JS_TRUE ? "\1" : "\0", 1);
        return 0;
    case K_INT:
    case K_LONG: {
        if (n->logical == L_TS_MILLIS && n->kind == K_LONG && t == JS_STRING)
            return raw_timestamp(c, p, end, next);
        if (n->logical == L_DATE && n->kind == K_INT && t == JS_STRING)
            return raw_date(c, p, end, next);
        if (n->logical != L_NONE || t != JS_NUMBER || raw_number(p, end, next, &integer, num, 19) ||
            !integer)
            return RAW_FALLBACK;
        int64_t v = int_text_value(num, (size_t)(*next - p));
        if (n->kind == K_INT && (v < INT32_MIN || v > INT32_MAX))
            return RAW_FALLBACK;
        aenc_put_long(c->out, v);
        return 0;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        if (t != JS_NUMBER || raw_number(p, end, next, &integer, num, sizeof(num)))
            return RAW_FALLBACK;
        size_t len = (size_t)(*next - p);
        if (integer && len > 15)
            return RAW_FALLBACK; /* jansson: int64 first; keep exotic integers on the DOM path */
        double d;
        if (integer) /* as jansson reads it: an integer, then a double ("-0" is 0) */
            d = (double)int_text_value(num, len);
        else if (decimal_text_value(num, len, &d))
            d = strtod(num, NULL);
        if (!isfinite(d))
            return RAW_FALLBACK;
        if (n->kind == K_DOUBLE) {
            uint64_t bits;
            memcpy(&bits, &d, 8);
            unsigned char b[8];
            for (int i = 0; i < 8; i++)
                b[i] = (unsigned char)(bits >> (8 * i));
            buf_append(c->out, b, 8);
        } else {
            float f = (float)d;
            if (isinf(f))
                return RAW_FALLBACK;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            unsigned char b[4];
            for (int i = 0; i < 4; i++)
                b[i] = (unsigned char)(bits >> (8 * i));
            buf_append(c->out, b, 4);
        }
        return 0;
    }
    case K_STRING: {
        const char *s;
        size_t len;
        if (t != JS_STRING || !(*next = raw_str(c, p, end, &s, &len)))
            return RAW_FALLBACK;
        aenc_put_long(c->out, (int64_t)len);
        buf_append(c->out, s, len);
        return 0;
    }
    case K_ENUM: {
        const char *s;
        size_t len;
        if (t != JS_STRING || !(*next = raw_str(c, p, end, &s, &len)))
            return RAW_FALLBACK;
        int sym = amap_keyset_find(&n->syms, s, len);
        if (sym < 0)
            return RAW_FALLBACK;
        aenc_put_long(c->out, sym);
        return 0;
    }
    default:
        return RAW_FALLBACK;
    }
}

/* Ends an array or map written from c->out->len == start on: one block as avro-c writes it
 * (its item count before the items, then 0), or just 0 when empty. */
static void close_block(rctx *c, size_t start, int64_t count)
{
    if (count > 0) {
        unsigned char cnt[VARINT_MAX];
        size_t cn = aenc_varint(count, cnt), items = c->out->len - start;
        buf_append(c->out, cnt, cn); /* room for the count */
        memmove(c->out->data + start + cn, c->out->data + start, items);
        memcpy(c->out->data + start, cnt, cn);
    }
    aenc_put_long(c->out, 0);
}

/* One pass: the items are encoded as they are read, then their count (one block) is put in
 * front of them. */
static int raw_array(rctx *c, const node *n, const char *p, const char *end, const char **next)
{
    const char *q = p, *v;
    int first, rc;
    int64_t count = 0;
    if (js_array_begin(&q, end, &first))
        return RAW_FALLBACK;
    size_t start = c->out->len;
    while ((rc = js_array_next(&q, end, &first, &v)) == 1) {
        if (raw_value(c, n->items, v, end, &q))
            return RAW_FALLBACK;
        count++;
    }
    if (rc)
        return RAW_FALLBACK;
    *next = q;
    close_block(c, start, count);
    return 0;
}

static int raw_jw_duplicate_key(rctx *c, size_t base, const char *k, size_t kl);

/* A map from an object, in one block as avro-c writes it (count, key/value pairs in the text's
 * order, which is jansson's insertion order, then 0). Escaped or duplicate keys (jansson keeps
 * one member of the name) go to the DOM path. */
static int raw_map(rctx *c, const node *n, const char *p, const char *end, const char **next)
{
    const char *q = p, *k, *v;
    size_t kl, base = c->nkeys, start = c->out->len;
    int first, esc, rc;
    int64_t count = 0;
    if (js_object_begin(&q, end, &first))
        return RAW_FALLBACK;
    while ((rc = js_object_next(&q, end, &first, &k, &kl, &esc, &v)) == 1) {
        if (esc || raw_jw_duplicate_key(c, base, k, kl))
            return RAW_FALLBACK;
        aenc_put_string(c->out, k, kl);
        if (raw_value(c, n->items, v, end, &q))
            return RAW_FALLBACK;
        count++;
    }
    c->nkeys = base;
    if (rc)
        return RAW_FALLBACK;
    *next = q;
    close_block(c, start, count);
    return 0;
}

/* Remembers key (k, kl) of the object whose keys start at c->keys[base]; 1 when the object
 * already has it, or has too many keys to look. */
static int raw_jw_duplicate_key(rctx *c, size_t base, const char *k, size_t kl)
{
    if (c->nkeys - base >= RAW_JW_MAX_KEYS)
        return 1;
    for (size_t i = base; i < c->nkeys; i++)
        if (c->keys[i].keylen == kl && memcmp(c->keys[i].key, k, kl) == 0)
            return 1;
    if (c->nkeys == c->keycap) {
        c->keycap = c->keycap ? c->keycap * 2 : 64;
        c->keys = xrealloc(c->keys, c->keycap * sizeof(*c->keys));
    }
    c->keys[c->nkeys++] = (raw_member){k, NULL, kl, NULL};
    return 0;
}

/* Compact JSON text of a raw value at nesting `depth`, written like jw_value writes the DOM
 * (same escapes, number formats). What jansson would read differently — a duplicate key, a
 * value nested deeper than it parses — goes to the DOM path. */
static int raw_jw(rctx *c, jw *w, const char *p, const char *end, const char **next, int depth)
{
    const char *s, *v, *k;
    size_t len, kl, base;
    int first, esc, integer, rc;
    char num[64];
    if (depth > JS_MAX_DEPTH)
        return RAW_FALLBACK;
    switch (js_peek(p, end)) {
    case JS_OBJECT:
        js_object_begin(&p, end, &first);
        jw_put(w, "{", 1);
        base = c->nkeys;
        for (int i = 0; (rc = js_object_next(&p, end, &first, &k, &kl, &esc, &v)) == 1; i++) {
            if (esc || raw_jw_duplicate_key(c, base, k, kl))
                return RAW_FALLBACK;
            if (i)
                jw_put(w, ",", 1);
            jw_put(w, k - 1, kl + 2); /* an unescaped key's text is what jw_string writes */
            jw_put(w, ":", 1);
            if (raw_jw(c, w, v, end, &p, depth + 1))
                return RAW_FALLBACK;
        }
        c->nkeys = base;
        jw_put(w, "}", 1);
        *next = p;
        return rc ? RAW_FALLBACK : 0;
    case JS_ARRAY:
        js_array_begin(&p, end, &first);
        jw_put(w, "[", 1);
        for (int i = 0; (rc = js_array_next(&p, end, &first, &v)) == 1; i++) {
            if (i)
                jw_put(w, ",", 1);
            if (raw_jw(c, w, v, end, &p, depth + 1))
                return RAW_FALLBACK;
        }
        jw_put(w, "]", 1);
        *next = p;
        return rc ? RAW_FALLBACK : 0;
    case JS_STRING:
        if (!(*next = raw_str(c, p, end, &s, &len)))
            return RAW_FALLBACK;
        if (s == p + 1) /* no escapes: the text is already what jw_string writes */
            jw_put(w, p, (size_t)(*next - p));
        else
            jw_string(w, s, len);
        return 0;
    case JS_NUMBER:
        if (raw_number(p, end, next, &integer, num, sizeof(num)))
            return RAW_FALLBACK;
        if (integer) {
            if (strlen(num) > 18)
                return RAW_FALLBACK;
            char out[32];
            jw_put(w, out, jw_format_int(strtoll(num, NULL, 10), out));
        } else {
            double d = strtod(num, NULL);
            if (!isfinite(d))
                return RAW_FALLBACK;
            char out[64];
            jw_put(w, out, jw_format_real(d, out, sizeof(out)));
        }
        return 0;
    case JS_TRUE:
    case JS_FALSE:
    case JS_NULL:
        if (!(*next = js_skip(p, end)))
            return RAW_FALLBACK;
        jw_put(w, p, (size_t)(*next - p));
        return 0;
    default:
        return RAW_FALLBACK;
    }
}

/* Top-level members the caller wants located (primary and replication keys). */
/* The members the caller asked for, and where they are reported. */
typedef struct raw_want {
    const amap_keys *keys;
    amap_found *found;
} raw_want;

/* Notes member (k, kl) with value v when the caller asked for it (idx: its field, or -1); after
 * its encoding when it is a field, so that a timestamp's time is there. */
static inline void raw_note_wanted(const rctx *c, const raw_want *want, int idx, const char *k,
                                   size_t kl, const char *v)
{
    const amap_keys *rk = want->keys;
    amap_found *f = NULL;
    if (idx >= 0) {
        if (rk->by_field[idx] < 0)
            return;
        f = &want->found[rk->by_field[idx]];
    } else {
        for (size_t w = 0; w < rk->n && !f; w++)
            if (rk->lens[w] == kl && memcmp(rk->keys[w], k, kl) == 0)
                f = &want->found[w];
        if (!f)
            return;
    }
    f->value = v;
    if (c->ts_value == v) {
        f->ms = c->ts_ms;
        f->ms_text = c->ts_text;
    }
}

static int raw_unmapped(rctx *c, const node *n, const raw_member *unknown, size_t n_unknown,
                        const char *end)
{
    const node *t = n->fields[n->unmapped].type;
    if (n_unknown == 0) {
        aenc_put_long(c->out, t->null_branch);
        return 0;
    }
    char stack[4096];
    jw w;
    jw_init(&w, stack, sizeof(stack));
    jw_put(&w, "{", 1);
    int rc = 0;
    for (size_t i = 0; i < n_unknown && !rc; i++) {
        if (i)
            jw_put(&w, ",", 1);
        jw_put(&w, unknown[i].key - 1, unknown[i].keylen + 2); /* unescaped: as jw_string */
        jw_put(&w, ":", 1);
        const char *after;
        rc = raw_jw(c, &w, unknown[i].value, end, &after, c->depth + 1);
        if (!rc && after != unknown[i].value_end) /* read as a value, but not the one spanned */
            rc = RAW_FALLBACK;
    }
    jw_put(&w, "}", 1);
    if (!rc) {
        aenc_put_long(c->out, t->value_branch);
        aenc_put_long(c->out, (int64_t)w.len);
        buf_append(c->out, w.p, w.len);
    }
    jw_free(&w);
    return rc;
}

/* The bytes of a field whose value is absent (!present) or JSON null: the null branch, or an
 * empty array default, as the DOM path writes them; RAW_FALLBACK when the DOM path decides. */
static int raw_missing(rctx *c, const field *f, int present)
{
    const node *t = f->type;
    if (!present && t->kind == K_ARRAY && json_is_array(f->defval) &&
        json_array_size(f->defval) == 0) {
        aenc_put_long(c->out, 0);
        return 0;
    }
    int nullable = t->kind == K_UNION && t->null_branch >= 0;
    if (!nullable || (!present && f->defval && !json_is_null(f->defval)))
        return RAW_FALLBACK;
    aenc_put_long(c->out, t->null_branch);
    return 0;
}

/* The root record's typed custom fields field (amap_custom). */
static inline int is_custom_field(const rctx *c, size_t i)
{
    return c->custom && c->depth == 1 && (int)i == c->custom->field;
}

/* The typed custom values, as JSON text, encoded with the field's type. */
static int raw_custom(rctx *c, const field *f, size_t base)
{
    const json_t *values = c->custom->values(c->custom->u);
    if (!values)
        return RAW_FALLBACK;
    char stack[2048];
    jw w;
    jw_init(&w, stack, sizeof(stack));
    jw_value(&w, values);
    const char *after;
    c->custom->off = c->out->len - base;
    c->depth++; /* the values' text is not the root record */
    int rc = raw_value(c, f->type, w.p, w.p + w.len, &after);
    c->depth--;
    jw_free(&w);
    return rc ? RAW_FALLBACK : 0;
}

/* Offers a member the root record's schema does not name to the typed custom fields: 1 when
 * they consumed it, 0 when not, -1: the DOM path decides. *p = the end of its value, spanned
 * (js_span_value): validated here only when consumed; a member they leave is validated by
 * whoever reads it next (raw_jw for "_unmapped", else js_skip_at in raw_record). */
static int raw_take_custom(rctx *c, const char *k, size_t kl, const char *v, const char *end,
                           const char **p)
{
    const char *ve = js_span_value(v, end);
    int took = ve ? c->custom->take(c->custom->u, k, kl, v, ve) : -1;
    if (took > 0 && js_skip_at(v, end, c->depth + 1) != ve)
        took = -1;
    *p = ve;
    return took < 0 ? -1 : took > 0;
}

/* An object or array for a "json_text" field: kept as its compact JSON text. */
static inline int is_json_text(const field *f, const char *v, const char *end)
{
    js_type t = js_peek(v, end);
    return (f->flags & F_JSON_TEXT) && (t == JS_OBJECT || t == JS_ARRAY);
}

/* The compact JSON text of the value at p as the string (or ["null", string]) type n, as the
 * DOM path writes it (jw_value of the parsed value). */
static int raw_json_text(rctx *c, const node *n, const char *p, const char *end, const char **next)
{
    if (n->kind == K_UNION) {
        if (n->value_branch < 0 || n->branches[n->value_branch]->kind != K_STRING ||
            n->branches[n->value_branch]->logical != L_NONE)
            return RAW_FALLBACK;
        aenc_put_long(c->out, n->value_branch);
    } else if (n->kind != K_STRING || n->logical != L_NONE) {
        return RAW_FALLBACK;
    }
    char stack[2048];
    jw w;
    jw_init(&w, stack, sizeof(stack));
    int rc = raw_jw(c, &w, p, end, next, c->depth + 1);
    if (!rc)
        aenc_put_string(c->out, w.p, w.len);
    jw_free(&w);
    return rc ? RAW_FALLBACK : 0;
}

/* A field's value at v (null, JSON text or its type). */
static int raw_field(rctx *c, const field *f, const char *v, const char *end, const char **next)
{
    if (js_peek(v, end) == JS_NULL)
        return !(*next = js_skip(v, end)) || raw_missing(c, f, 1) ? RAW_FALLBACK : 0;
    if (is_json_text(f, v, end))
        return raw_json_text(c, f->type, v, end, next);
    return raw_value(c, f->type, v, end, next);
}

/* A root field whose value the typed custom fields may rewrite (values taken out of it): the
 * value they leave, else the text's. */
static int raw_rewritten_field(rctx *c, const field *f, const char *k, size_t kl, const char *v,
                               const char *end, const char **next)
{
    const char *ve = js_skip_at(v, end, c->depth + 1), *text, *after;
    size_t len;
    int rc = ve ? c->custom->rewrite(c->custom->u, k, kl, v, ve, &text, &len) : -1;
    if (rc <= 0)
        return rc < 0 ? RAW_FALLBACK : raw_field(c, f, v, end, next);
    *next = ve;
    c->depth++; /* the new text is not the record's */
    rc = raw_field(c, f, text, text + len, &after);
    c->depth--;
    return rc || js_ws(after, text + len) != text + len ? RAW_FALLBACK : 0;
}

/* Where a field's encoding landed in c->out, relative to the record's start. */
typedef struct raw_span {
    uint32_t off, len;
} raw_span;

#define SEEN(bits, i) (((bits)[(i) >> 6] >> ((i)&63)) & 1)

/* Puts the fields of a record encoded in JSON order (spans) into schema order, adding the
 * absent ones and "_unmapped". Fields already in place (the usual case: APIs send their keys
 * in a fixed order, often the schema's) are not moved. */
static int raw_assemble(rctx *c, const node *n, size_t base, const raw_span *spans,
                        const uint64_t *seen, const raw_member *unknown, size_t n_unknown,
                        const char *end)
{
    buf *o = c->out;
    size_t total = o->len - base, pos = 0, i = 0;
    for (; i < n->nfields; i++) {
        if ((int)i == n->unmapped || !SEEN(seen, i) || spans[i].off != pos)
            break;
        pos += spans[i].len;
    }
    if (i == n->nfields)
        return 0;
    size_t tail = total - pos;
    char stack[2048];
    char *saved = tail <= sizeof(stack) ? stack : xmalloc(tail);
    if (tail) /* o->data is NULL while nothing was written */
        memcpy(saved, o->data + base + pos, tail);
    o->len = base + pos;
    int rc = 0;
    for (; i < n->nfields && !rc; i++) {
        if ((int)i == n->unmapped)
            rc = raw_unmapped(c, n, unknown, n_unknown, end);
        else if (is_custom_field(c, i))
            rc = raw_custom(c, &n->fields[i], base);
        else if (SEEN(seen, i))
            buf_append(o, saved + (spans[i].off - pos), spans[i].len);
        else
            rc = raw_missing(c, &n->fields[i], 0);
    }
    if (saved != stack)
        free(saved);
    return rc ? RAW_FALLBACK : 0;
}

/* One pass over the record's members: each known field is encoded as it is read (no separate
 * skip), unknown ones are remembered for "_unmapped", then raw_assemble orders the fields. */
static int raw_record(rctx *c, const node *n, const char *p, const char *end, const char **next,
                      const raw_want *want)
{
    if (n->nfields > AMAP_MAX_FIELDS)
        return RAW_FALLBACK;
    raw_span spans[AMAP_MAX_FIELDS];
    uint64_t seen[AMAP_MAX_FIELDS / 64] = {0};
    raw_member unknown[RAW_MAX_UNKNOWN];
    size_t n_unknown = 0, base = c->out->len, next_field = 0;
    const char *k, *v;
    size_t kl;
    int first, esc, rc;
    if (js_object_begin(&p, end, &first))
        return RAW_FALLBACK;
    for (;;) {
        /* APIs send their members in a fixed order: the field after the last one comes first */
        const js_hint *hint = next_field < n->nfields && (int)next_field != n->unmapped &&
                                      n->fields[next_field].plain_key
                                  ? &n->fields[next_field].hint
                                  : NULL;
        rc = js_object_next_hint(&p, end, &first, hint, &k, &kl, &esc, &v);
        if (rc <= 0)
            break;
        if (esc)
            return RAW_FALLBACK;
        int idx = rc == 2 ? (int)next_field : amap_keyset_find(&n->keys, k, kl);
        if (idx >= 0 && is_custom_field(c, (size_t)idx))
            return RAW_FALLBACK; /* the text has the engine's own key: the DOM path decides */
        if (idx >= 0) {
            next_field = (size_t)idx + 1;
            if (SEEN(seen, idx))
                return RAW_FALLBACK; /* duplicate key: jansson keeps the last one */
            seen[idx >> 6] |= 1ULL << (idx & 63);
            size_t start = c->out->len;
            if (c->custom && c->depth == 1 && c->custom->rewrite) {
                if (raw_rewritten_field(c, &n->fields[idx], k, kl, v, end, &p))
                    return RAW_FALLBACK;
            } else if (raw_field(c, &n->fields[idx], v, end, &p)) {
                return RAW_FALLBACK;
            }
            spans[idx] = (raw_span){(uint32_t)(start - base), (uint32_t)(c->out->len - start)};
            if (want)
                raw_note_wanted(c, want, idx, k, kl, v);
            continue;
        }
        if (want && want->keys->by_name)
            raw_note_wanted(c, want, -1, k, kl, v);
        const char *spanned = NULL;
        if (c->custom && c->depth == 1) {
            int took = raw_take_custom(c, k, kl, v, end, &spanned);
            if (took < 0)
                return RAW_FALLBACK;
            if (took) {
                p = spanned;
                continue;
            }
        }
        if (n->unmapped >= 0) {
            for (size_t i = 0; i < n_unknown; i++)
                if (unknown[i].keylen == kl && memcmp(unknown[i].key, k, kl) == 0)
                    return RAW_FALLBACK;
            if (n_unknown == RAW_MAX_UNKNOWN)
                return RAW_FALLBACK;
        }
        /* a member kept for "_unmapped" is validated as raw_jw writes it: only spanned here */
        p = n->unmapped < 0 ? js_skip_at(v, end, c->depth + 1)
            : spanned       ? spanned
                            : js_span_value(v, end);
        if (!p)
            return RAW_FALLBACK;
        if (n->unmapped >= 0)
            unknown[n_unknown++] = (raw_member){k, v, kl, p};
    }
    if (rc)
        return RAW_FALLBACK;
    *next = p;
    return raw_assemble(c, n, base, spans, seen, unknown, n_unknown, end);
}

/* A record one level deeper than the record or array containing it (c->depth). */
static int raw_nested_record(rctx *c, const node *n, const char *p, const char *end,
                             const char **next, const raw_want *want)
{
    c->depth++;
    int rc = raw_record(c, n, p, end, next, want);
    c->depth--;
    return rc;
}

/* The branch of a union of several non-null types that amap_fill's branch_score ranks first
 * for the non-null value at p, when one matches its JSON type exactly (score 2); -1 otherwise
 * (a conversion, or a string an enum or a timestamp may take: the DOM path decides). */
static int raw_union_branch(const node *u, const char *p, const char *end)
{
    js_type t = js_peek(p, end);
    int64_t v = 0;
    if (t == JS_NUMBER) {
        int integer;
        char num[24];
        const char *q;
        if (raw_number(p, end, &q, &integer, num, 19))
            return -1;
        if (integer)
            v = int_text_value(num, (size_t)(q - p));
        else
            t = JS_NULL; /* stands for a real below */
    }
    for (size_t i = 0; i < u->nbranches; i++) {
        const node *b = u->branches[i];
        int timestamp = (b->kind == K_INT || b->kind == K_LONG) && b->logical != L_NONE;
        switch (t) {
        case JS_TRUE:
        case JS_FALSE:
            if (b->kind == K_BOOLEAN)
                return (int)i;
            break;
        case JS_NUMBER:
            if (b->kind == K_LONG ||
                (b->kind == K_INT && (timestamp || (v >= INT32_MIN && v <= INT32_MAX))))
                return (int)i;
            break;
        case JS_NULL: /* a real */
            if (b->kind == K_DOUBLE || b->kind == K_FLOAT)
                return (int)i;
            break;
        case JS_STRING:
            if (b->kind == K_ENUM || timestamp)
                return -1;
            if (b->kind == K_STRING)
                return (int)i;
            break;
        case JS_OBJECT:
            if (b->kind == K_RECORD || b->kind == K_MAP)
                return (int)i;
            break;
        case JS_ARRAY:
            if (b->kind == K_ARRAY)
                return (int)i;
            break;
        default:
            return -1;
        }
    }
    return -1;
}

static int raw_value(rctx *c, const node *n, const char *p, const char *end, const char **next)
{
    int rc, bi;
    switch (n->kind) {
    case K_UNION:
        if (js_peek(p, end) == JS_NULL) {
            if (n->null_branch < 0 || !(*next = js_skip(p, end)))
                return RAW_FALLBACK;
            aenc_put_long(c->out, n->null_branch);
            return 0;
        }
        bi = n->value_branch >= 0 ? n->value_branch : raw_union_branch(n, p, end);
        if (bi < 0)
            return RAW_FALLBACK;
        aenc_put_long(c->out, bi);
        return raw_value(c, n->branches[bi], p, end, next);
    case K_RECORD:
        return raw_nested_record(c, n, p, end, next, NULL);
    case K_ARRAY:
    case K_MAP:
        c->depth++;
        rc = n->kind == K_ARRAY ? raw_array(c, n, p, end, next) : raw_map(c, n, p, end, next);
        c->depth--;
        return rc;
    default:
        return raw_primitive(c, n, p, end, next);
    }
}

int amap_resolve_keys(const amap_plan *m, const char *const *keys, size_t n, amap_keys *out)
{
    const node *root = m->root;
    if (n > AMAP_MAX_KEYS)
        return -1;
    out->n = n;
    out->by_name = 0;
    memset(out->by_field, -1, sizeof(out->by_field));
    for (size_t i = 0; i < n; i++) {
        out->keys[i] = keys[i];
        out->lens[i] = strlen(keys[i]);
        int idx = amap_keyset_find(&root->keys, keys[i], out->lens[i]);
        if (idx >= 0 && idx < AMAP_MAX_FIELDS && idx != root->unmapped)
            out->by_field[idx] = (int8_t)i;
        else
            out->by_name++;
    }
    return 0;
}

int amap_encode_raw_at(const amap_plan *m, const char *json, const char *end, buf *out,
                       const char **next, const amap_keys *want, amap_found *found)
{
    return amap_encode_raw_custom_at(m, json, end, out, next, want, found, NULL);
}

int amap_encode_raw_custom_at(const amap_plan *m, const char *json, const char *end, buf *out,
                              const char **next, const amap_keys *want, amap_found *found,
                              amap_custom *custom)
{
    rctx c = {out, {0}, NULL, 0, NULL, 0, NULL, 0, 0, custom};
    buf_init(&c.tmp);
    size_t start = out->len;
    for (size_t i = 0; want && i < want->n; i++)
        found[i] = (amap_found){NULL, CRM_TIME_NONE, NULL};
    raw_want w = {want, found};
    int rc = raw_nested_record(&c, m->root, json, end, next, want ? &w : NULL);
    if (rc)
        out->len = start;
    buf_free(&c.tmp);
    free(c.keys);
    return rc ? RAW_FALLBACK : 0;
}

int amap_encode_raw(const amap_plan *m, const char *json, size_t len, buf *out)
{
    const char *end = json + len, *next;
    size_t start = out->len;
    int rc = amap_encode_raw_at(m, json, end, out, &next, NULL, NULL);
    if (!rc && js_ws(next, end) != end) {
        out->len = start;
        rc = RAW_FALLBACK;
    }
    return rc;
}
