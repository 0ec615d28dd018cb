/* test_json_writer.c — jw_value_sorted against jansson's json_dumps(JSON_COMPACT |
 * JSON_SORT_KEYS) on random values (dedupe hashes of typed custom fields are computed from that
 * text, so the two must agree byte for byte): nested objects whose keys share prefixes or hold
 * NUL, control and non-ASCII bytes, reals drawn from all bit patterns, integers at the limits. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "json_writer.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double random_real(void)
{
    for (;;) {
        uint64_t bits = next_random();
        double d;
        switch (next_random() % 4) {
        case 0:
            memcpy(&d, &bits, sizeof(d)); /* any finite double */
            break;
        case 1:
            d = (double)(int64_t)(bits % 2000001) - 1000000.0; /* integral */
            break;
        case 2:
            d = (double)(bits % 100000) / 100.0; /* money-like */
            break;
        default:
            d = ldexp((double)(bits % 1000), (int)(next_random() % 200) - 100);
        }
        if (isfinite(d))
            return d;
    }
}

static size_t random_text(char *out, size_t cap)
{
    static const char alphabet[] = "ab\"\\/\n\t\x01\x1f\x7f z\xc3\xa9";
    size_t n = next_random() % (cap < 6 ? cap : 6);
    for (size_t i = 0; i < n; i++) {
        char c = alphabet[next_random() % (sizeof(alphabet) - 1)];
        if ((unsigned char)c == 0xc3 && i + 1 < n) { /* keep UTF-8 valid: é */
            out[i++] = c;
            out[i] = (char)0xa9;
        } else {
            out[i] = (unsigned char)c >= 0x80 ? 'x' : c;
        }
    }
    size_t at = n ? next_random() % n : 0;
    if (n && next_random() % 16 == 0 && (unsigned char)out[at] < 0x80)
        out[at] = '\0'; /* jansson keys and strings may hold NUL */
    return n;
}

static json_t *random_value(int depth)
{
    char text[8];
    switch (next_random() % (depth < 3 ? 8 : 6)) {
    case 0:
        return json_real(random_real());
    case 1: {
        static const json_int_t edges[] = {0, -1, 1, INT64_MAX, INT64_MIN};
        return json_integer(next_random() % 2 ? edges[next_random() % 5]
                                              : (json_int_t)next_random());
    }
    case 2: {
        size_t n = random_text(text, sizeof(text));
        return json_stringn(text, n);
    }
    case 3:
        return json_true();
    case 4:
        return json_false();
    case 5:
        return json_null();
    case 6: {
        json_t *a = json_array();
        for (size_t i = next_random() % 4; i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (size_t i = next_random() % 7; i > 0; i--) {
            size_t n = random_text(text, sizeof(text));
            json_object_setn_new(o, text, n, random_value(depth + 1));
        }
        return o;
    }
    }
}

static void check_same(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY), stack[64];
    jw w;
    jw_init(&w, stack, sizeof(stack));
    jw_value_sorted(&w, v);
    int same = want && strlen(want) == w.len && memcmp(want, w.p, w.len) == 0;
    CHECK(same);
    if (!same)
        fprintf(stderr, "json_writer: jansson %s, ours %.*s\n", want ? want : "(null)", (int)w.len,
                w.p);
    jw_free(&w);
    free(want);
}

int main(void)
{
    for (int i = 0; i < 20000; i++) {
        json_t *v = random_value(0);
        CHECK(v != NULL);
        if (v)
            check_same(v);
        json_decref(v);
    }
    /* keys one a prefix of another, and many keys (more than the writer keeps on its stack) */
    json_t *o = json_object();
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", (i * 37) % 100);
        json_object_set_new(o, key, json_real(i / 3.0));
    }
    json_object_set_new(o, "k", json_integer(1));
    json_object_set_new(o, "", json_integer(2));
    check_same(o);
    json_decref(o);
    return check_summary("json_writer");
}
