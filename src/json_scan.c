/* json_scan.c — the allocation-free JSON scanner (see json_scan.h). */
#include "json_scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

const char *js_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

#if !defined(__SSE2__)
/* Index of the lowest-addressed byte whose high bit is set in a word loaded with memcpy (the
 * scalar build's string scan). */
static inline size_t first_flagged(uint64_t m)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(m) >> 3;
#else
    return (size_t)__builtin_clzll(m) >> 3;
#endif
}
#endif

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex4(const char *p);

/* The end of the \\u escape at p (a backslash) when jansson takes it: four hex digits, not
 * U+0000, a high surrogate only with a low one after it, no lone low surrogate. Else NULL. */
static const char *unicode_escape(const char *p, const char *end)
{
    if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5]))
        return NULL;
    unsigned cp = hex4(p + 2);
    if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return NULL;
    if (cp < 0xD800 || cp > 0xDBFF)
        return p + 6;
    if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || !is_hex(p[8]) || !is_hex(p[9]) ||
        !is_hex(p[10]) || !is_hex(p[11]))
        return NULL;
    unsigned lo = hex4(p + 8);
    return lo >= 0xDC00 && lo <= 0xDFFF ? p + 12 : NULL;
}

const char *js_string(const char *p, const char *end, const char **s, size_t *len, int *escaped)
{
    if (p >= end || *p != '"')
        return NULL;
    const char *start = ++p;
    *escaped = 0;
    while (p < end) {
#if defined(__SSE2__)
        /* plain ASCII runs, sixteen bytes at a time: a signed compare below 0x20 flags control
         * and high bytes alike (the last bytes of the text go one by one below) */
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                        _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                           _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            unsigned mask = (unsigned)_mm_movemask_epi8(special);
            if (mask) {
                p += __builtin_ctz(mask);
                break;
            }
            p += 16;
        }
#else
        /* plain ASCII runs, eight bytes at a time: no quote, backslash, control or high byte.
         * The lowest flagged byte of a word is exact (borrows only run upwards), so the scan
         * jumps straight to the first special byte. */
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
            uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
            uint64_t special =
                (((q - ones) & ~q) | ((b - ones) & ~b) | (x - ones * 0x20) | x) & high;
            if (special) {
                p += first_flagged(special);
                break;
            }
            p += 8;
        }
#endif
        if (p >= end)
            break;
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *s = start;
            *len = (size_t)(p - start);
            return p + 1;
        }
        if (c < 0x20)
            return NULL; /* control characters must be escaped */
        if (c == '\\') {
            *escaped = 1;
            if (p + 1 >= end)
                return NULL;
            char e = p[1];
            if (e == 'u') {
                if (!(p = unicode_escape(p, end)))
                    return NULL;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return NULL;
            p += 2;
            continue;
        }
        if (c >= 0x80) {
            /* UTF-8 validation, as jansson does */
            int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : -1;
            if (n < 0 || c > 0xF4 || p + n >= end)
                return NULL;
            for (int i = 1; i <= n; i++)
                if (((unsigned char)p[i] & 0xC0) != 0x80)
                    return NULL;
            unsigned char c1 = (unsigned char)p[1];
            if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
                (c == 0xF4 && c1 >= 0x90))
                return NULL; /* overlong, surrogate or out of range */
            p += n + 1;
            continue;
        }
        p++;
    }
    return NULL;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static void put_utf8(buf *out, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(out, u, n);
}

int js_unescape(const char *s, size_t len, buf *out)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\')
            continue;
        buf_append(out, s + run, i - run);
        char e = s[++i];
        switch (e) {
        case 'b':
            buf_append(out, "\b", 1);
            break;
        case 'f':
            buf_append(out, "\f", 1);
            break;
        case 'n':
            buf_append(out, "\n", 1);
            break;
        case 'r':
            buf_append(out, "\r", 1);
            break;
        case 't':
            buf_append(out, "\t", 1);
            break;
        case 'u': {
            unsigned cp = hex4(s + i + 1);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 6 >= len || s[i + 1] != '\\' || s[i + 2] != 'u')
                    return -1;
                unsigned lo = hex4(s + i + 3);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            if (cp == 0)
                return -1; /* jansson rejects \u0000 unless JSON_ALLOW_NUL */
            put_utf8(out, cp);
            break;
        }
        default: /* " \ / */
            buf_append(out, &e, 1);
        }
        run = i + 1;
    }
    buf_append(out, s + run, len - run);
    return 0;
}

/* jansson's range of an integer: int64_t. digits: n digits without sign or leading zeros. */
static int integer_fits(const char *digits, size_t n, int negative)
{
    if (n != 19)
        return n < 19;
    return memcmp(digits, negative ? "9223372036854775808" : "9223372036854775807", 19) <= 0;
}

/* jansson's range of a real: strtod must not overflow (underflow to 0 is fine). */
static int real_fits(const char *p, size_t n)
{
    char stack[128], *text = n < sizeof(stack) ? stack : xmalloc(n + 1);
    memcpy(text, p, n);
    text[n] = '\0';
    double d = strtod(text, NULL);
    if (text != stack)
        free(text);
    return isfinite(d);
}

const char *js_number(const char *p, const char *end, int *integer)
{
    const char *q = p, *digits;
    *integer = 1;
    if (q < end && *q == '-')
        q++;
    if (q >= end)
        return NULL;
    digits = q;
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    } else {
        return NULL;
    }
    size_t int_digits = (size_t)(q - digits);
    int exponent = 0;
    if (q < end && *q == '.') {
        *integer = 0;
        q++;
        if (q >= end || *q < '0' || *q > '9')
            return NULL;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        *integer = 0;
        exponent = 1;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q >= end || *q < '0' || *q > '9')
            return NULL;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    if (*integer)
        return integer_fits(digits, int_digits, digits != p) ? q : NULL;
    /* a real can only overflow with an exponent or more than 308 digits before the point */
    if ((exponent || int_digits > 300) && !real_fits(p, (size_t)(q - p)))
        return NULL;
    return q;
}

static const char *literal(const char *p, const char *end, const char *word, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

int js_object_begin(const char **p, const char *end, int *first)
{
    const char *q = js_ws(*p, end);
    if (q >= end || *q != '{')
        return -1;
    *p = q + 1;
    *first = 1;
    return 0;
}

int js_object_next(const char **p, const char *end, int *first, const char **key, size_t *keylen,
                   int *key_escaped, const char **value)
{
    const char *q = js_ws(*p, end);
    if (q >= end)
        return -1;
    if (*q == '}') {
        *p = q + 1;
        return 0;
    }
    if (!*first) {
        if (*q != ',')
            return -1;
        q = js_ws(q + 1, end);
    }
    *first = 0;
    q = js_string(q, end, key, keylen, key_escaped);
    if (!q)
        return -1;
    q = js_ws(q, end);
    if (q >= end || *q != ':')
        return -1;
    *value = js_ws(q + 1, end);
    *p = *value;
    return 1;
}

/* Short keys compared a word at a time, without a call into libc. */
static inline int same_bytes(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
    }
    for (; n > 0; a++, b++, n--)
        if (*a != *b)
            return 0;
    return 1;
}

void js_hint_init(js_hint *h, const char *key, size_t len)
{
    char text[16] = {0}, mask[16] = {0};
    h->key = key;
    h->len = len;
    h->words = len + 3 <= sizeof(text);
    if (h->words) {
        text[0] = '"';
        memcpy(text + 1, key, len);
        text[len + 1] = '"';
        text[len + 2] = ':';
        memset(mask, 0xff, len + 3);
    }
    memcpy(h->word, text, 16);
    memcpy(h->mask, mask, 16);
}

/* The hint compared byte by byte (long keys, the last bytes of the text, whitespace around the
 * comma), else an ordinary member. */
int js_object_next_hint_slow(const char **p, const char *end, int *first, const js_hint *hint,
                             const char **key, size_t *keylen, int *key_escaped, const char **value)
{
    const char *q = *p;
    if (hint && q < end && *q == ',' && !*first)
        q++; /* the usual compact layout: `,"key":` */
    else if (hint && q < end && *q == '"' && *first)
        ; /* the first member, no whitespace */
    else
        return js_object_next(p, end, first, key, keylen, key_escaped, value);
    size_t hint_len = hint->len;
    if ((size_t)(end - q) < hint_len + 3 || *q != '"' || q[hint_len + 1] != '"' ||
        !same_bytes(q + 1, hint->key, hint_len))
        return js_object_next(p, end, first, key, keylen, key_escaped, value);
    const char *c = js_ws(q + hint_len + 2, end);
    if (c >= end || *c != ':')
        return -1;
    *first = 0;
    *key = q + 1;
    *keylen = hint_len;
    *key_escaped = 0;
    *value = js_ws(c + 1, end);
    *p = *value;
    return 2;
}

int js_array_begin(const char **p, const char *end, int *first)
{
    const char *q = js_ws(*p, end);
    if (q >= end || *q != '[')
        return -1;
    *p = q + 1;
    *first = 1;
    return 0;
}

int js_array_next(const char **p, const char *end, int *first, const char **value)
{
    const char *q = js_ws(*p, end);
    if (q >= end)
        return -1;
    if (*q == ']') {
        *p = q + 1;
        return 0;
    }
    if (!*first) {
        if (*q != ',')
            return -1;
        q = js_ws(q + 1, end);
    }
    *first = 0;
    *value = q;
    *p = q;
    return 1;
}

const char *js_skip_at(const char *p, const char *end, int depth)
{
    p = js_ws(p, end);
    const char *s, *v;
    size_t n;
    int esc, first, integer, rc;
    if (depth > JS_MAX_DEPTH)
        return NULL;
    switch (js_peek(p, end)) {
    case JS_OBJECT:
        if (js_object_begin(&p, end, &first))
            return NULL;
        while ((rc = js_object_next(&p, end, &first, &s, &n, &esc, &v)) == 1)
            if (!(p = js_skip_at(v, end, depth + 1)))
                return NULL;
        return rc == 0 ? p : NULL;
    case JS_ARRAY:
        if (js_array_begin(&p, end, &first))
            return NULL;
        while ((rc = js_array_next(&p, end, &first, &v)) == 1)
            if (!(p = js_skip_at(v, end, depth + 1)))
                return NULL;
        return rc == 0 ? p : NULL;
    case JS_STRING:
        return js_string(p, end, &s, &n, &esc);
    case JS_NUMBER:
        return js_number(p, end, &integer);
    case JS_TRUE:
        return literal(p, end, "true", 4);
    case JS_FALSE:
        return literal(p, end, "false", 5);
    case JS_NULL:
        return literal(p, end, "null", 4);
    default:
        return NULL;
    }
}

const char *js_skip(const char *p, const char *end)
{
    return js_skip_at(p, end, 1);
}

/* ---- js_span: 64 bytes a step -------------------------------------------------------------
 * Each 64-byte block becomes bit masks (bit i = byte i): quotes, backslashes, opening and closing
 * brackets. Escaped quotes are dropped, a prefix XOR of the quotes marks the bytes inside strings,
 * and the brackets outside strings move the depth; only a block in which the depth could reach 0
 * is walked bracket by bracket. */

typedef struct block_masks {
    uint64_t quote, backslash, open, close;
} block_masks;

#if defined(__SSE2__)
static inline block_masks masks_of_block(const char *p)
{
    block_masks m = {0, 0, 0, 0};
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i lower = _mm_set1_epi8(0x20), open = _mm_set1_epi8('{'),
                  close = _mm_set1_epi8('}');
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
        __m128i folded = _mm_or_si128(v, lower); /* '[' -> '{', ']' -> '}', nothing else */
        unsigned shift = 16u * (unsigned)i;
        m.quote |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) << shift;
        m.backslash |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, backslash)) << shift;
        m.open |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(folded, open)) << shift;
        m.close |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(folded, close)) << shift;
    }
    return m;
}
#else
static inline block_masks masks_of_block(const char *p)
{
    block_masks m = {0, 0, 0, 0};
    for (unsigned i = 0; i < 64; i++) {
        uint64_t bit = 1ULL << i;
        char c = p[i];
        m.quote |= c == '"' ? bit : 0;
        m.backslash |= c == '\\' ? bit : 0;
        m.open |= (c == '[' || c == '{') ? bit : 0;
        m.close |= (c == ']' || c == '}') ? bit : 0;
    }
    return m;
}
#endif

/* The bytes escaped by a backslash: each backslash that is not itself escaped escapes the next
 * byte. *carry = 1 when the block's last byte starts an escape (the next block's first byte is
 * escaped). A loop per escape: blocks with backslashes are rare. */
static inline uint64_t escaped_bytes(uint64_t backslash, int *carry)
{
    uint64_t escaped = 0;
    if (*carry) {
        escaped = 1;
        backslash &= ~1ULL;
    }
    *carry = 0;
    while (backslash) {
        unsigned i = (unsigned)__builtin_ctzll(backslash);
        if (i == 63) {
            *carry = 1;
            break;
        }
        escaped |= 1ULL << (i + 1);
        backslash &= ~(3ULL << i);
    }
    return escaped;
}

/* Bit i = XOR of bits 0..i: with the quote bits, the bytes from an opening quote up to (not
 * including) its closing quote. */
static inline uint64_t prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* The number of set bits: the instruction when the build targets it, else a few word
 * operations (libgcc's fallback is a call and a table lookup per byte). */
static inline uint64_t bits_set(uint64_t x)
{
#ifdef __POPCNT__
    return (uint64_t)__builtin_popcountll(x);
#else
    x -= (x >> 1) & 0x5555555555555555ULL;
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (x * 0x0101010101010101ULL) >> 56;
#endif
}

const char *js_span(const char *p, const char *end)
{
    p = js_ws(p, end);
    if (p >= end || (*p != '[' && *p != '{'))
        return NULL;
    uint64_t depth = 0, inside = 0; /* inside: all ones when a string runs into this block */
    int carry = 0;
    char last[64];
    for (;; p += 64) {
        size_t avail = (size_t)(end - p);
        const char *block = p;
        if (avail < 64) { /* the last bytes, padded with spaces (no structure) */
            memset(last, ' ', sizeof(last));
            memcpy(last, p, avail);
            block = last;
        }
        block_masks m = masks_of_block(block);
        uint64_t quotes = m.quote;
        if (m.backslash | (uint64_t)carry)
            quotes &= ~escaped_bytes(m.backslash, &carry);
        uint64_t in_string = prefix_xor(quotes) ^ inside;
        inside = (uint64_t)((int64_t)in_string >> 63);
        uint64_t open = m.open & ~in_string, close = m.close & ~in_string;
        uint64_t closes = bits_set(close);
        if (depth > closes) { /* the depth stays above 0 in this block */
            depth += bits_set(open) - closes;
        } else {
            for (uint64_t brackets = open | close; brackets; brackets &= brackets - 1) {
                unsigned i = (unsigned)__builtin_ctzll(brackets);
                if ((open >> i) & 1)
                    depth++;
                else if (--depth == 0)
                    return p + i + 1;
            }
        }
        if (avail <= 64)
            return NULL;
    }
}

const char *js_span_value(const char *p, const char *end)
{
    p = js_ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == '{' || *p == '[')
        return js_span(p, end);
    if (*p == '"') {
        for (const char *q = p + 1; (q = memchr(q, '"', (size_t)(end - q))) != NULL; q++) {
            const char *b = q;
            while (b > p + 1 && b[-1] == '\\')
                b--;
            if ((q - b) % 2 == 0) /* not escaped: an even run of backslashes before it */
                return q + 1;
        }
        return NULL;
    }
    const char *q = p;
    while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' && *q != '\n' &&
           *q != '\r' && *q != '\t')
        q++;
    return q > p ? q : NULL;
}

const char *js_member(const char *p, const char *end, const char *key)
{
    int first, esc;
    const char *k, *v;
    size_t kl, want = strlen(key);
    if (js_object_begin(&p, end, &first))
        return NULL;
    while (js_object_next(&p, end, &first, &k, &kl, &esc, &v) == 1) {
        if (!esc && kl == want && memcmp(k, key, kl) == 0)
            return v;
        if (!(p = js_skip(v, end)))
            return NULL;
    }
    return NULL;
}
