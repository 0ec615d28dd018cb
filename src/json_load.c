/* json_load.c — one JSON value's text as a jansson value, for the raw path's few values that
 * connectors and typed custom fields need as jansson values (paging keys, custom values):
 * built while the text is scanned once, since json_loadb sets up a lexer and a string buffer for
 * each call and reads the text a byte at a time. What jansson would read otherwise never comes
 * from here: text nested deeper than a few levels, or that the scanner refuses, goes to
 * json_loadb itself (fuzz_raw_dom compares the two). */
#include "json_load.h"

#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

/* Deeper values are left to json_loadb, which counts nesting the way jansson limits it. */
enum { NEST_MAX = 32 };

static json_t *value_at(const char *p, const char *end, const char **next, int depth);

/* An integer's text (js_number said it fits int64_t) as jansson reads it. */
static json_t *integer_of(const char *p, const char *e)
{
    int negative = *p == '-';
    uint64_t u = 0;
    for (const char *q = p + negative; q < e; q++)
        u = u * 10 + (uint64_t)(*q - '0');
    return json_integer(negative ? (json_int_t)(0 - u) : (json_int_t)u);
}

/* A real's text as jansson reads it (strtod; js_number refused what overflows). */
static json_t *real_of(const char *p, const char *e)
{
    char text[64];
    size_t len = (size_t)(e - p);
    if (len >= sizeof(text))
        return NULL;
    memcpy(text, p, len);
    text[len] = '\0';
    return json_real(strtod(text, NULL));
}

/* A string's raw body (js_string's span) as a jansson string. */
static json_t *string_of(const char *s, size_t len, int escaped)
{
    if (!escaped) /* js_string refuses what jansson refuses: valid UTF-8, no NUL */
        return json_stringn_nocheck(s, len);
    buf b;
    buf_init(&b);
    json_t *j = js_unescape(s, len, &b) == 0 ? json_stringn(b.data ? b.data : "", b.len) : NULL;
    buf_free(&b);
    return j;
}

static json_t *object_at(const char *p, const char *end, const char **next, int depth)
{
    const char *k, *v;
    size_t kl;
    int first, esc, rc;
    if (js_object_begin(&p, end, &first))
        return NULL;
    json_t *o = json_object();
    while (o && (rc = js_object_next(&p, end, &first, &k, &kl, &esc, &v)) == 1) {
        json_t *key = string_of(k, kl, esc), *val = key ? value_at(v, end, &p, depth + 1) : NULL;
        /* a later duplicate replaces the earlier value, as in jansson's parser */
        if (!val ||
            json_object_setn_new_nocheck(o, json_string_value(key), json_string_length(key), val)) {
            json_decref(o);
            o = NULL;
        }
        json_decref(key);
    }
    if (o && rc != 0) {
        json_decref(o);
        return NULL;
    }
    *next = p;
    return o;
}

static json_t *array_at(const char *p, const char *end, const char **next, int depth)
{
    const char *v;
    int first, rc;
    if (js_array_begin(&p, end, &first))
        return NULL;
    json_t *a = json_array();
    while (a && (rc = js_array_next(&p, end, &first, &v)) == 1) {
        json_t *val = value_at(v, end, &p, depth + 1);
        if (!val || json_array_append_new(a, val)) {
            json_decref(a);
            a = NULL;
        }
    }
    if (a && rc != 0) {
        json_decref(a);
        return NULL;
    }
    *next = p;
    return a;
}

/* The value at p, *next past it; NULL when not read here. */
static json_t *value_at(const char *p, const char *end, const char **next, int depth)
{
    const char *s, *e;
    size_t len;
    int escaped, integer;
    if (depth > NEST_MAX)
        return NULL;
    p = js_ws(p, end);
    switch (js_peek(p, end)) {
    case JS_STRING:
        e = js_string(p, end, &s, &len, &escaped);
        *next = e;
        return e ? string_of(s, len, escaped) : NULL;
    case JS_NUMBER:
        e = js_number(p, end, &integer);
        *next = e;
        return !e ? NULL : integer ? integer_of(p, e) : real_of(p, e);
    case JS_TRUE:
    case JS_FALSE:
    case JS_NULL:
        e = js_skip(p, end);
        *next = e;
        return !e ? NULL : *p == 't' ? json_true() : *p == 'f' ? json_false() : json_null();
    case JS_OBJECT:
        return object_at(p, end, next, depth);
    case JS_ARRAY:
        return array_at(p, end, next, depth);
    default:
        return NULL;
    }
}

json_t *jl_value(const char *v, const char *ve)
{
    const char *next = NULL;
    json_t *j = value_at(v, ve, &next, 1);
    if (j && js_ws(next, ve) == ve)
        return j;
    json_decref(j);
    return json_loadb(v, (size_t)(ve - v), JSON_DECODE_ANY, NULL);
}
