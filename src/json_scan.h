/* json_scan.h — an allocation-free JSON scanner over a text buffer: skip values, find object
 * members, read strings, numbers and literals in place. It exists for the hot path (a page of
 * records encoded straight to Avro without building a jansson DOM) and for connectors that only
 * need a few envelope members of a large body. Validation is strict enough that every value it
 * accepts, jansson accepts too; anything unusual makes the caller fall back to jansson. */
#ifndef CRM_JSON_SCAN_H
#define CRM_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

typedef enum {
    JS_ERROR = 0,
    JS_OBJECT,
    JS_ARRAY,
    JS_STRING,
    JS_NUMBER,
    JS_TRUE,
    JS_FALSE,
    JS_NULL,
} js_type;

/* Skips whitespace. */
const char *js_ws(const char *p, const char *end);

/* The type of the value starting at p (after whitespace). Inline: the raw path asks it for
 * every value, usually right at its first byte. */
static inline js_type js_peek(const char *p, const char *end)
{
    if (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p = js_ws(p, end);
    if (p >= end)
        return JS_ERROR;
    switch (*p) {
    case '{':
        return JS_OBJECT;
    case '[':
        return JS_ARRAY;
    case '"':
        return JS_STRING;
    case 't':
        return JS_TRUE;
    case 'f':
        return JS_FALSE;
    case 'n':
        return JS_NULL;
    default:
        return (*p == '-' || (*p >= '0' && *p <= '9')) ? JS_NUMBER : JS_ERROR;
    }
}
/* The deepest nesting accepted, counted as jansson counts it (JSON_PARSER_MAX_DEPTH): every
 * value is one level deeper than its container, a document's top value is at depth 1. */
#define JS_MAX_DEPTH 2048

/* The end of the value starting at p, or NULL when it is not valid JSON (as jansson decides,
 * nesting included: p is a document's top value). */
const char *js_skip(const char *p, const char *end);
/* The same for a value lying at nesting `depth` inside a document (see JS_MAX_DEPTH). */
const char *js_skip_at(const char *p, const char *end, int depth);

/* The end of the array or object at p found by its brackets and quotes alone, without
 * validating what lies between (a records array whose records are validated one by one as they
 * are encoded): far cheaper than js_skip. NULL when the text ends first. */
const char *js_span(const char *p, const char *end);

/* The end of any value at p found without validating it: an object or array by js_span, a
 * string by its closing quote, anything else by the next delimiter. NULL when the text ends
 * first. For values whose content does not matter (members skipped on the way to others). */
const char *js_span_value(const char *p, const char *end);

/* A string at p (a quote): *s and *len = the raw bytes between the quotes, *escaped = 1 when they
 * hold a backslash escape (decode with js_unescape). Returns the end of the string or NULL; NULL
 * too where jansson rejects the string: invalid UTF-8, control characters, \u0000, a lone
 * surrogate. */
const char *js_string(const char *p, const char *end, const char **s, size_t *len, int *escaped);
/* Decodes the escapes of a raw string body (as returned by js_string) into out (appended).
 * -1 on an invalid escape or an unpaired surrogate. */
int js_unescape(const char *s, size_t len, buf *out);

/* A number at p: returns its end or NULL; *integer = 1 when it has no fraction or exponent.
 * NULL too where jansson rejects the number: an integer outside int64_t, a real that overflows
 * a double (1e400). */
const char *js_number(const char *p, const char *end, int *integer);

/* Object iteration: js_object_begin() at '{' (sets *first = 1); then js_object_next() returns 1
 * with the key's raw span and *value at the member's value, 0 after the closing '}' (*p past
 * it), -1 on a syntax error. Between calls the caller sets *p to the end of the value (e.g.
 * js_skip(value)). Arrays likewise. */
int js_object_begin(const char **p, const char *end, int *first);
int js_object_next(const char **p, const char *end, int *first, const char **key, size_t *keylen,
                   int *key_escaped, const char **value);
/* A member key expected next (raw key bytes without quotes, backslashes or control
 * characters), prepared once: the text `"key":` as two masked words when it fits 16 bytes. */
typedef struct js_hint {
    const char *key; /* borrowed */
    size_t len;
    int words; /* 1: word[] and mask[] hold `"key":` */
    uint64_t word[2], mask[2];
} js_hint;
void js_hint_init(js_hint *h, const char *key, size_t len);

int js_object_next_hint_slow(const char **p, const char *end, int *first, const js_hint *hint,
                             const char **key, size_t *keylen, int *key_escaped,
                             const char **value);

/* js_object_next that first tries `hint` (what a member usually is at this point): returns 2
 * when the key is exactly the hint, read without scanning it as a string. hint may be NULL.
 * Inline: the raw path asks it for every member; compact `,"key":` is two word compares. */
static inline int js_object_next_hint(const char **p, const char *end, int *first,
                                      const js_hint *hint, const char **key, size_t *keylen,
                                      int *key_escaped, const char **value)
{
    const char *q = *p;
    if (hint && hint->words && end - q >= 17 && (*first ? *q == '"' : *q == ',')) {
        const char *k = *first ? q : q + 1;
        uint64_t a, b;
        memcpy(&a, k, 8);
        memcpy(&b, k + 8, 8);
        if (((a ^ hint->word[0]) & hint->mask[0]) == 0 &&
            ((b ^ hint->word[1]) & hint->mask[1]) == 0) {
            const char *v = k + hint->len + 3;
            if (v < end && (*v == ' ' || *v == '\n' || *v == '\r' || *v == '\t'))
                v = js_ws(v, end);
            *first = 0;
            *key = k + 1;
            *keylen = hint->len;
            *key_escaped = 0;
            *value = v;
            *p = v;
            return 2;
        }
    }
    return js_object_next_hint_slow(p, end, first, hint, key, keylen, key_escaped, value);
}
int js_array_begin(const char **p, const char *end, int *first);
int js_array_next(const char **p, const char *end, int *first, const char **value);

/* The value of member `key` (unescaped key match) of the object starting at p, or NULL. */
const char *js_member(const char *p, const char *end, const char *key);

#endif
