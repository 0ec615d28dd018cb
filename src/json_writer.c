/* json_writer.c — compact JSON text for the Avro mapping: jansson values ("json_text" fields,
 * "_unmapped") and numbers, written the same way by the DOM and the raw paths. */
#include "json_writer.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Decimal text of v into out (at least 21 bytes), NUL-terminated; returns the length. */
size_t jw_format_int(json_int_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

/* Shortest "%.Ng" that reads back to d, with ".0" for integral values (as jansson writes). */
size_t jw_format_real(double d, char *out, size_t n)
{
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(out, n, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (len > 0 && (size_t)len + 2 < n && !strpbrk(out, ".eEni")) {
        out[len++] = '.';
        out[len++] = '0';
        out[len] = '\0';
    }
    return (size_t)len;
}

void jw_init(jw *w, char *stack, size_t cap)
{
    w->p = stack;
    w->len = 0;
    w->cap = cap;
    w->heap = 0;
}

void jw_put(jw *w, const char *s, size_t n)
{
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap * 2 > w->len + n + 1 ? w->cap * 2 : w->len + n + 1;
        if (w->heap) {
            w->p = xrealloc(w->p, cap);
        } else {
            char *h = xmalloc(cap);
            memcpy(h, w->p, w->len);
            w->p = h;
            w->heap = 1;
        }
        w->cap = cap;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

void jw_free(jw *w)
{
    if (w->heap)
        free(w->p);
}

void jw_string(jw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    jw_put(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        jw_put(w, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (ch) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            n = 6;
        }
        jw_put(w, esc, n);
    }
    jw_put(w, s + run, len - run);
    jw_put(w, "\"", 1);
}

/* [a,b,...] with each item written by put_item (jw_value, or jw_value_sorted). */
static void put_array(jw *w, const json_t *j, void (*put_item)(jw *, const json_t *))
{
    jw_put(w, "[", 1);
    for (size_t i = 0; i < json_array_size(j); i++) {
        if (i)
            jw_put(w, ",", 1);
        put_item(w, json_array_get(j, i));
    }
    jw_put(w, "]", 1);
}

void jw_value(jw *w, const json_t *j)
{
    char tmp[64];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *v;
        int first = 1;
        jw_put(w, "{", 1);
        json_object_keylen_foreach((json_t *)j, key, klen, v)
        {
            if (!first)
                jw_put(w, ",", 1);
            first = 0;
            jw_string(w, key, klen);
            jw_put(w, ":", 1);
            jw_value(w, v);
        }
        jw_put(w, "}", 1);
        break;
    }
    case JSON_ARRAY:
        put_array(w, j, jw_value);
        break;
    case JSON_STRING:
        jw_string(w, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        jw_put(w, tmp, jw_format_int(json_integer_value(j), tmp));
        break;
    case JSON_REAL:
        jw_put(w, tmp, jw_format_real(json_real_value(j), tmp, sizeof(tmp)));
        break;
    case JSON_TRUE:
        jw_put(w, "true", 4);
        break;
    case JSON_FALSE:
        jw_put(w, "false", 5);
        break;
    case JSON_NULL:
        jw_put(w, "null", 4);
        break;
    }
}

/* A real as jansson 2.14 writes it without dtoa: "%.17g", ".0" when it has neither a point nor
 * an exponent, no '+' or leading zeros in the exponent. */
static size_t format_real_17g(double d, char *out, size_t n)
{
    int len = snprintf(out, n, "%.17g", d);
    if (len <= 0 || (size_t)len + 3 >= n)
        return 0;
    if (!strchr(out, '.') && !strchr(out, 'e')) {
        out[len++] = '.';
        out[len++] = '0';
        out[len] = '\0';
    }
    char *e = strchr(out, 'e');
    if (e) {
        char *from = e + 1, *to = e + 1;
        if (*from == '+')
            from++;
        else if (*from == '-')
            from++, to++;
        while (*from == '0' && from[1])
            from++;
        memmove(to, from, strlen(from) + 1);
        len = (int)strlen(out);
    }
    return (size_t)len;
}

/* Whether the linked jansson writes reals as format_real_17g does (a build with dtoa writes the
 * shortest form instead): 1 yes, -1 no, 0 not known yet. */
static atomic_int reals_are_17g;

static int jansson_reals_are_17g(void)
{
    int known = atomic_load(&reals_are_17g);
    if (known)
        return known > 0;
    static const double probes[] = {0.1, 1e22, 1e-7, 100.0, -0.0, 1.5e300};
    int same = 1;
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]) && same; i++) {
        json_t *r = json_real(probes[i]);
        char *text = r ? json_dumps(r, JSON_ENCODE_ANY | JSON_COMPACT) : NULL, mine[64];
        size_t len = format_real_17g(probes[i], mine, sizeof(mine));
        same = text && len && strcmp(text, mine) == 0;
        free(text);
        json_decref(r);
    }
    atomic_store(&reals_are_17g, same ? 1 : -1);
    return same;
}

static void put_real_as_jansson(jw *w, const json_t *j)
{
    char tmp[64];
    size_t len =
        jansson_reals_are_17g() ? format_real_17g(json_real_value(j), tmp, sizeof(tmp)) : 0;
    if (len) {
        jw_put(w, tmp, len);
        return;
    }
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    if (text)
        jw_put(w, text, strlen(text));
    free(text);
}

typedef struct sorted_key {
    const char *key;
    size_t len;
    const json_t *value;
} sorted_key;

/* jansson's JSON_SORT_KEYS order: bytes, then length. */
static int compare_keys(const void *a, const void *b)
{
    const sorted_key *x = a, *y = b;
    int rc = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return rc ? rc : (x->len > y->len) - (x->len < y->len);
}

static void put_sorted_object(jw *w, const json_t *j)
{
    sorted_key stack[32], *keys = stack;
    size_t n = json_object_size(j), i = 0;
    if (n > sizeof(stack) / sizeof(stack[0]))
        keys = xmalloc(n * sizeof(*keys));
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)j, key, klen, v)
    {
        keys[i++] = (sorted_key){key, klen, v};
    }
    qsort(keys, i, sizeof(*keys), compare_keys);
    jw_put(w, "{", 1);
    for (size_t k = 0; k < i; k++) {
        if (k)
            jw_put(w, ",", 1);
        jw_string(w, keys[k].key, keys[k].len);
        jw_put(w, ":", 1);
        jw_value_sorted(w, keys[k].value);
    }
    jw_put(w, "}", 1);
    if (keys != stack)
        free(keys);
}

void jw_value_sorted(jw *w, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        put_sorted_object(w, j);
        break;
    case JSON_ARRAY:
        put_array(w, j, jw_value_sorted);
        break;
    case JSON_REAL:
        put_real_as_jansson(w, j);
        break;
    default:
        jw_value(w, j);
    }
}
