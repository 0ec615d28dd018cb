/* json_writer.c — compact JSON text for the Avro mapping: jansson values ("json_text" fields,
 * "_unmapped") and numbers, written the same way by the DOM and the raw paths. */
#include "json_writer.h"

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
        jw_put(w, "[", 1);
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                jw_put(w, ",", 1);
            jw_value(w, json_array_get(j, i));
        }
        jw_put(w, "]", 1);
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
