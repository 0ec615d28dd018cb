/* test_avro_raw.c — the raw path (JSON text straight to Avro binary) must produce exactly the
 * bytes of the DOM path (jansson -> amap_fill -> avro_value_write), and must hand back to
 * the DOM path whatever it does not handle the same way. */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amap.h"
#include "check.h"
#include "crm_time.h"
#include "embedded_schemas.h"
#include "event.h"
#include "json_scan.h"

typedef struct codec {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    amap_plan *plan;
} codec;

static int codec_init(codec *c, const char *schema_text)
{
    char err[512];
    json_t *j = json_loads(schema_text, 0, NULL);
    c->plan = amap_new(j, err, sizeof(err));
    json_decref(j);
    if (!c->plan || avro_schema_from_json_length(schema_text, strlen(schema_text), &c->schema))
        return -1;
    c->iface = avro_generic_class_from_schema(c->schema);
    return avro_generic_value_new(c->iface, &c->value);
}

static void codec_free(codec *c)
{
    avro_value_decref(&c->value);
    avro_value_iface_decref(c->iface);
    avro_schema_decref(c->schema);
    amap_free(c->plan);
}

/* DOM bytes into dom (len), -1 when the DOM path rejects the record. */
static int dom_bytes(codec *c, const char *text, char *dom, size_t cap, size_t *len)
{
    char err[512];
    json_t *j = json_loads(text, 0, NULL);
    int rc = -1;
    if (j && amap_fill(c->plan, j, &c->value, err, sizeof(err)) == 0) {
        avro_writer_t w = avro_writer_memory(dom, (int64_t)cap);
        if (avro_value_write(w, &c->value) == 0) {
            *len = (size_t)avro_writer_tell(w);
            rc = 0;
        }
        avro_writer_free(w);
    }
    json_decref(j);
    return rc;
}

static int same_as_dom(codec *c, const char *text, int must_be_raw)
{
    char dom[65536];
    size_t dlen = 0;
    int drc = dom_bytes(c, text, dom, sizeof(dom), &dlen);
    buf raw;
    buf_init(&raw);
    buf_append_str(&raw, "pre"); /* appends after what is there */
    int rrc = amap_encode_raw(c->plan, text, strlen(text), &raw);
    int ok;
    if (rrc == 0)
        ok = drc == 0 && raw.len - 3 == dlen && memcmp(raw.data + 3, dom, dlen) == 0;
    else
        ok = raw.len == 3 && !must_be_raw; /* fallback leaves out as it was */
    if (!ok)
        fprintf(stderr, "  mismatch (raw rc=%d dom rc=%d, raw %zu bytes, dom %zu): %s\n", rrc, drc,
                raw.len - 3, dlen, text);
    buf_free(&raw);
    return ok;
}

static const char *ITEM =
    "{\"id\":\"itm_0000001\",\"name\":\"Bench Gadget 1\",\"amount\":37.01,\"quantity\":1,"
    "\"active\":true,\"tags\":[\"a\",\"vip\"],\"owner\":{\"id\":1,\"email\":\"user1@example.com\"},"
    "\"note\":\"Call back next week about order 1\",\"created_at\":\"2026-10-23T11:00:00.997Z\","
    "\"updated_at\":\"2026-10-23T11:00:01.000Z\"}";

/* A JSON number text: integers and decimals of 1 to 20 digits, leading zeros after the point,
 * signs, exponents now and then. */
static void random_number(char *out, size_t cap)
{
    char digits[32];
    int n = 1 + (int)(check_rand() % 20), pos = 0;
    for (int i = 0; i < n; i++)
        digits[i] = (char)('0' + check_rand() % 10);
    if (n > 1 && digits[0] == '0')
        digits[0] = '1' + (char)(check_rand() % 9);
    digits[n] = '\0';
    const char *sign = check_rand() % 3 == 0 ? "-" : "";
    int point = (int)(check_rand() % (unsigned)(n + 1)); /* digits before the point */
    switch (check_rand() % 4) {
    case 0: /* integer */
        snprintf(out, cap, "%s%s", sign, digits);
        break;
    case 1: /* 0.000ddd */
        pos = (int)(check_rand() % 8);
        snprintf(out, cap, "%s0.%.*s%s", sign, pos, "00000000", digits);
        break;
    case 2: /* ddd.ddd */
        if (point == 0 || point == n)
            snprintf(out, cap, "%s%s.5", sign, digits);
        else
            snprintf(out, cap, "%s%.*s.%s", sign, point, digits, digits + point);
        break;
    default: /* an exponent */
        snprintf(out, cap, "%s%se%d", sign, digits, (int)(check_rand() % 40) - 20);
        break;
    }
}

/* Numbers take the raw path without strtod/strtoll when they can: every one of them must give
 * the DOM path's bytes. */
static void check_numbers(codec *c)
{
    int ok = 1;
    char num[64], rec[256];
    for (int i = 0; i < 20000 && ok; i++) {
        random_number(num, sizeof(num));
        snprintf(rec, sizeof(rec),
                 "{\"id\":\"x\",\"name\":\"n\",\"amount\":%s,\"created_at\":\"2026-01-01\","
                 "\"updated_at\":\"2026-01-01T00:00:00Z\"}",
                 num);
        ok = same_as_dom(c, rec, 0);
        if (!strchr(num, '.') && !strchr(num, 'e') && strlen(num) < 19) {
            snprintf(rec, sizeof(rec),
                     "{\"id\":\"x\",\"name\":\"n\",\"quantity\":%s,\"created_at\":\"2026-01-"
                     "01\",\"updated_at\":\"2026-01-01T00:00:00Z\"}",
                     num);
            ok = ok && same_as_dom(c, rec, 1);
        }
    }
    CHECK(ok);
    const char *edge[] = {"0",
                          "-0",
                          "0.0",
                          "-0.0",
                          "0.1",
                          "0.3",
                          "1e22",
                          "123456789012345",
                          "0.000000000000000000001",
                          "9007199254740993",
                          "2.2250738585072014"};
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        snprintf(rec, sizeof(rec),
                 "{\"id\":\"x\",\"name\":\"n\",\"amount\":%s,\"created_at\":\"2026-01-01\","
                 "\"updated_at\":\"2026-01-01T00:00:00Z\"}",
                 edge[i]);
        CHECK(same_as_dom(c, rec, 0));
    }
}

/* A random JSON value: nested arrays and objects, strings full of quotes, backslashes and
 * brackets (escaped as JSON requires), numbers and literals. */
static void random_json(buf *b, int depth)
{
    static const char *const pieces[] = {"a", "\\\"",    "\\\\", "[", "]", "{",
                                         "}", "\\u005d", ",",    ":", "é", " "};
    switch (depth > 3 ? 2 + check_rand() % 3 : check_rand() % 5) {
    case 0:
    case 1: {
        int obj = check_rand() % 2, n = (int)(check_rand() % 4);
        buf_append_str(b, obj ? "{" : "[");
        for (int i = 0; i < n; i++) {
            if (i)
                buf_append_str(b, ", ");
            if (obj)
                buf_printf(b, "\"k%d\":", i);
            random_json(b, depth + 1);
        }
        buf_append_str(b, obj ? "}" : "]");
        break;
    }
    case 2: {
        buf_append_str(b, "\"");
        for (int i = (int)(check_rand() % 12); i > 0; i--)
            buf_append_str(b, pieces[check_rand() % (sizeof(pieces) / sizeof(pieces[0]))]);
        buf_append_str(b, "\"");
        break;
    }
    case 3:
        buf_printf(b, "%lld.%d", (long long)(check_rand() % 100000) - 50000,
                   (int)(check_rand() % 100));
        break;
    default:
        buf_append_str(b, check_rand() % 2 ? "true" : "null");
        break;
    }
}

/* js_span (brackets and quotes only) ends every valid array or object where js_skip does. */
static void check_span(void)
{
    int ok = 1;
    buf b;
    buf_init(&b);
    for (int i = 0; i < 20000 && ok; i++) {
        buf_reset(&b);
        buf_append_str(&b, check_rand() % 2 ? "[" : " [");
        random_json(&b, 1);
        /* most arrays span several of js_span's 64-byte blocks */
        for (int n = (int)(check_rand() % 12); n >= 0; n--) {
            buf_append_str(&b, ",");
            random_json(&b, 0);
        }
        buf_append_str(&b, "] ,\"next\":1}");
        const char *end = b.data + b.len;
        const char *skip = js_skip(b.data, end), *span = js_span(b.data, end);
        ok = skip != NULL && skip == span;
        if (!ok)
            fprintf(stderr, "  span mismatch: %s\n", b.data);
        /* cut short anywhere: no end is found */
        size_t cut = (size_t)(check_rand() % (size_t)(skip - b.data));
        if (js_span(b.data, b.data + cut) != NULL)
            ok = 0;
    }
    CHECK(ok);
    /* runs of 1..5 backslashes and a quote at every offset around two block boundaries: the
     * escape carried from one block into the next */
    ok = 1;
    for (int pad = 0; pad < 140 && ok; pad++) {
        for (int run = 1; run <= 5 && ok; run++) {
            buf_reset(&b);
            buf_append_str(&b, "[\"");
            for (int i = 0; i < pad; i++)
                buf_append_str(&b, i % 7 == 3 ? "]" : "a");
            for (int i = 0; i < run; i++)
                buf_append_str(&b, "\\");
            /* an odd run escapes the quote: the string goes on; an even run does not */
            buf_append_str(&b, run % 2 ? "\"]{x\"" : "\",\"]{x\"");
            buf_append_str(&b, ",[{}]] ,\"next\":1}");
            const char *end = b.data + b.len;
            const char *skip = js_skip(b.data, end), *span = js_span(b.data, end);
            ok = skip != NULL && skip == span;
            if (!ok)
                fprintf(stderr, "  span mismatch (pad %d, run %d): %s\n", pad, run, b.data);
        }
    }
    CHECK(ok);
    buf_free(&b);
}

/* An items record with `member` (`"name":value` text) among its unknown members (encoded into
 * "_unmapped") or, in_owner, inside the nested owner record (which has no "_unmapped": skipped). */
static char *record_with(const char *member, int in_owner)
{
    buf b;
    buf_init(&b);
    buf_printf(&b,
               "{\"id\":\"x\",\"name\":\"n\",\"owner\":{\"id\":1%s%s},\"created_at\":\"2026-01-"
               "01\",\"updated_at\":\"2026-01-01T00:00:00Z\"%s%s}",
               in_owner ? "," : "", in_owner ? member : "", in_owner ? "" : ",",
               in_owner ? "" : member);
    return b.data;
}

/* n nested arrays around a 1 (or nothing when empty). */
static char *nested_arrays(size_t n, int empty)
{
    char *s = malloc(2 * n + 2);
    memset(s, '[', n);
    size_t k = n;
    if (!empty)
        s[k++] = '1';
    memset(s + k, ']', n);
    s[k + n] = '\0';
    return s;
}

/* Hostile values (issue 15 items 9 and 10): whatever the raw path accepts, jansson accepts with
 * the same bytes; nesting deeper than jansson's 2048 levels is refused without a crash. */
static void check_hostile(codec *c)
{
    /* js_skip counts depth as jansson does: a top value at 1, JS_MAX_DEPTH the deepest */
    for (size_t n = JS_MAX_DEPTH - 1; n <= JS_MAX_DEPTH + 1; n++) {
        char *e = nested_arrays(n, 1), *one = nested_arrays(n, 0);
        CHECK((js_skip(e, e + strlen(e)) != NULL) == (n <= JS_MAX_DEPTH));
        CHECK((js_skip(one, one + strlen(one)) != NULL) == (n < JS_MAX_DEPTH));
        json_t *j = json_loads(one, 0, NULL);
        CHECK((j != NULL) == (n < JS_MAX_DEPTH));
        json_decref(j);
        free(e);
        free(one);
    }
    /* 100,000 levels: refused by both paths, no stack overflow */
    char *deep = nested_arrays(100000, 0);
    buf m;
    buf_init(&m);
    for (int owner = 0; owner <= 1; owner++) {
        buf_reset(&m);
        buf_printf(&m, "\"x_deep\":%s", deep);
        char *rec = record_with(m.data, owner);
        CHECK(same_as_dom(c, rec, 0));
        CHECK(js_skip(rec, rec + strlen(rec)) == NULL);
        free(rec);
    }
    CHECK(js_skip(deep, deep + strlen(deep)) == NULL);
    free(deep);
    /* the record is at depth 1, a member's value at 2: 2046 arrays around a 1 is the most */
    for (size_t n = JS_MAX_DEPTH - 4; n <= JS_MAX_DEPTH; n++) {
        char *v = nested_arrays(n, 0);
        for (int owner = 0; owner <= 1; owner++) {
            buf_reset(&m);
            buf_printf(&m, "\"x_deep\":%s", v);
            char *rec = record_with(m.data, owner);
            int fits = n + 1 + (size_t)owner < JS_MAX_DEPTH;
            CHECK(same_as_dom(c, rec, fits));
            buf raw;
            buf_init(&raw);
            CHECK((amap_encode_raw(c->plan, rec, strlen(rec), &raw) == 0) == fits);
            buf_free(&raw);
            free(rec);
        }
        free(v);
    }
    buf_free(&m);

    /* duplicate keys: jansson keeps the last value, at the first one's place; the raw path
     * leaves "_unmapped" to the DOM path (a skipped value may keep them: it is not written) */
    const char *duplicates[] = {
        "\"x\":{\"k\":1,\"k\":2}",
        "\"x\":{\"a\":{\"k\":1,\"b\":[],\"k\":3}}",
        "\"x\":[{\"k\":1,\"k\":1}]",
    };
    for (size_t i = 0; i < sizeof(duplicates) / sizeof(duplicates[0]); i++) {
        for (int owner = 0; owner <= 1; owner++) {
            char *rec = record_with(duplicates[i], owner);
            buf raw;
            buf_init(&raw);
            CHECK(owner || amap_encode_raw(c->plan, rec, strlen(rec), &raw) != 0);
            CHECK(same_as_dom(c, rec, owner));
            buf_free(&raw);
            free(rec);
        }
    }
    /* values jansson rejects: the raw path must not take them */
    const char *refused[] = {
        "\"x\":\"\\u0000\"",
        "\"x\":[\"a\\u0000b\"]",
        "\"x\":{\"\\u0000\":1}",
        "\"x\":\"\\ud800\"",
        "\"x\":\"\\udc00\"",
        "\"x\":\"\\ud800\\u0041\"",
        "\"x\":\"\\ud800x\"",
        "\"x\":\"\\uDBFF\\uDBFF\"",
        "\"x\":1e400",
        "\"x\":-1e400",
        "\"x\":[1.5e309]",
        "\"x\":9223372036854775808",
        "\"x\":-9223372036854775809",
        "\"x\":123456789012345678901234567890",
        /* malformed values an "_unmapped" member is only spanned over before raw_jw reads it */
        "\"x\":12abc",
        "\"x\":tru",
        "\"x\":nulls",
        "\"x\":01",
        "\"x\":-",
        "\"x\":[1,]",
        "\"x\":{\"a\" 1}",
        "\"x\":{\"a\":1,}",
        "\"x\":\"\\q\"",
        "\"x\":[\"a\" \"b\"]",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        for (int owner = 0; owner <= 1; owner++) {
            char *rec = record_with(refused[i], owner);
            buf raw;
            buf_init(&raw);
            int rrc = amap_encode_raw(c->plan, rec, strlen(rec), &raw);
            if (rrc == 0)
                fprintf(stderr, "  raw path took: %s\n", rec);
            CHECK(rrc != 0);
            CHECK(same_as_dom(c, rec, 0));
            CHECK(js_skip(rec, rec + strlen(rec)) == NULL);
            buf_free(&raw);
            free(rec);
        }
    }
    /* their valid neighbours stay on the raw path, with the DOM bytes */
    const char *kept[] = {
        "\"x\":{\"k\":1,\"a\":{\"k\":2},\"b\":[{\"k\":3},{\"k\":4}]}",
        "\"x\":\"\\u0001\\ud834\\udd1e\\uDBFF\\uDFFF\"",
        "\"x\":1e308",
        "\"x\":1e-400",
        "\"x\":-2.5E+3",
        "\"x\":9223372036854775807",
        "\"x\":-9223372036854775808",
        "\"x\":[900719925474099,-1]",
    };
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        for (int owner = 0; owner <= 1; owner++) {
            char *rec = record_with(kept[i], owner);
            /* numbers of 19 digits in "_unmapped" go to the DOM path (formatting), still equal */
            CHECK(same_as_dom(c, rec, owner || !strstr(kept[i], "922337")));
            free(rec);
        }
    }
}

/* Random hostile values (duplicate keys, NUL and surrogate escapes, huge numbers, nesting)
 * among the unknown members: the raw path and jansson agree on every one. */
static void hostile_json(buf *b, int depth)
{
    static const char *const leaves[] = {"\"\\u0000\"",
                                         "\"\\ud800\"",
                                         "\"\\udc00\\ud800\"",
                                         "\"\\ud83d\\ude00\"",
                                         "1e400",
                                         "1e-400",
                                         "-0",
                                         "9223372036854775807",
                                         "9223372036854775808",
                                         "-9223372036854775809",
                                         "0.1",
                                         "\"é\"",
                                         "true",
                                         "null"};
    if (depth < 4 && check_rand() % 3) {
        int obj = check_rand() % 2, n = (int)(check_rand() % 4);
        buf_append_str(b, obj ? "{" : "[");
        for (int i = 0; i < n; i++) {
            if (i)
                buf_append_str(b, ",");
            if (obj)
                buf_printf(b, "\"k%d\":", (int)(check_rand() % 3));
            hostile_json(b, depth + 1);
        }
        buf_append_str(b, obj ? "}" : "]");
    } else {
        buf_append_str(b, leaves[check_rand() % (sizeof(leaves) / sizeof(leaves[0]))]);
    }
}

static void check_hostile_random(codec *c)
{
    int ok = 1, raw_taken = 0;
    buf m;
    buf_init(&m);
    for (int i = 0; i < 5000 && ok; i++) {
        buf_reset(&m);
        buf_append_str(&m, "\"x_h\":");
        hostile_json(&m, 0);
        char *rec = record_with(m.data, i % 2);
        ok = same_as_dom(c, rec, 0);
        buf raw;
        buf_init(&raw);
        raw_taken += amap_encode_raw(c->plan, rec, strlen(rec), &raw) == 0;
        buf_free(&raw);
        free(rec);
    }
    buf_free(&m);
    CHECK(ok);
    CHECK(raw_taken > 500); /* the generator also makes valid values */
}

/* Maps (the typed custom fields' "_invalid") and unions of several types (Copper's
 * custom_fields[].value): raw when the value's JSON type picks the branch amap_fill picks, the
 * DOM path's bytes exactly; conversions, strings an enum may take, escaped or duplicate keys go
 * to the DOM path. */
static void check_maps_and_unions(void)
{
    codec c;
    CHECK(codec_init(
              &c,
              "{\"type\":\"record\",\"name\":\"MU\",\"fields\":["
              "{\"name\":\"m\",\"type\":[\"null\",{\"type\":\"map\",\"values\":\"string\"}],"
              "\"default\":null},"
              "{\"name\":\"v\",\"type\":[\"null\",\"boolean\",\"long\",\"double\",\"string\","
              "{\"type\":\"array\",\"items\":[\"null\",\"long\",\"string\"]}],\"default\":null},"
              "{\"name\":\"i\",\"type\":[\"null\",\"int\",\"long\"],\"default\":null},"
              "{\"name\":\"e\",\"type\":[\"null\",{\"type\":\"enum\",\"name\":\"E\",\"symbols\":"
              "[\"A\",\"B\"]},\"string\"],\"default\":null},"
              "{\"name\":\"r\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"R\",\"fields\":"
              "[{\"name\":\"x\",\"type\":\"long\"}]},{\"type\":\"map\",\"values\":\"long\"}],"
              "\"default\":null},"
              "{\"name\":\"mm\",\"type\":[\"null\",{\"type\":\"map\",\"values\":{\"type\":\"map\","
              "\"values\":[\"null\",\"long\"]}}],\"default\":null}]}") == 0);
    const char *raw_ok[] = {
        "{\"m\":{\"Budget\":\"[]\",\"Zoë\":\"q\\u00eb\\\"\"},\"v\":true}",
        "{\"m\":{},\"v\":false,\"i\":7,\"e\":null,\"r\":{\"x\":-1}}",
        "{\"v\":-42,\"i\":2147483648,\"mm\":{\"a\":{\"b\":1,\"c\":null},\"d\":{}}}",
        "{\"v\":-2147483649,\"i\":-2147483648}",
        "{\"v\":12.5,\"i\":null,\"m\":null}",
        "{\"v\":\"multi\\nline\",\"r\":null}",
        "{\"v\":[],\"mm\":{}}",
        "{\"v\":[1,null,\"x\",-9]}",
        "{\"v\":null,\"i\":0,\"m\":{\"k\":\"\"}}",
    };
    for (size_t i = 0; i < sizeof(raw_ok) / sizeof(raw_ok[0]); i++)
        CHECK(same_as_dom(&c, raw_ok[i], 1));
    const char *fallback[] = {
        "{\"e\":\"A\"}",                     /* the enum may take a string */
        "{\"e\":\"zzz\"}",                   /* ... or not: the DOM path says */
        "{\"r\":{\"y\":1}}",                 /* the record branch, which fails */
        "{\"m\":{\"k\":\"a\",\"k\":\"b\"}}", /* duplicate map key */
        "{\"m\":{\"k\\u00e9\":\"a\"}}",      /* escaped map key */
        "{\"m\":{\"k\":1}}",                 /* a conversion */
        "{\"v\":{\"k\":1}}",                 /* no branch fits */
        "{\"i\":1.5}",                       /* a real for integers: conversion */
        "{\"v\":12345678901234567890}",      /* beyond int64 */
        "{\"mm\":{\"a\":{\"b\":\"1\"}}}",    /* a string for a long */
    };
    for (size_t i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++)
        CHECK(same_as_dom(&c, fallback[i], 0));
    /* a map of 200 entries: a two-byte count */
    buf rec;
    buf_init(&rec);
    buf_append_str(&rec, "{\"m\":{");
    for (int i = 0; i < 200; i++)
        buf_printf(&rec, "%s\"k%d\":\"v%d\"", i ? "," : "", i, i);
    buf_append_str(&rec, "}}");
    CHECK(same_as_dom(&c, rec.data, 1));
    buf_free(&rec);
    codec_free(&c);
}

int main(void)
{
    check_span();
    check_maps_and_unions();
    codec c;
    CHECK(codec_init(&c, embedded_schemas_find("testcrm/items.avsc")) == 0);
    check_numbers(&c);
    check_hostile(&c);
    check_hostile_random(&c);
    /* a record that writes nothing into an empty buffer (no memcpy from its NULL data: UBSan) */
    buf empty;
    buf_init(&empty);
    CHECK(amap_encode_raw(c.plan, "{}", 2, &empty) != 0 && empty.len == 0);
    buf_free(&empty);
    /* must take the raw path and equal the DOM bytes */
    const char *raw_ok[] = {
        ITEM,
        "{\"id\":\"x\",\"name\":\"n\",\"created_at\":\"2026-01-01\",\"updated_at\":\"2026-01-01 "
        "10:00:00\"}",
        "{ \"id\" : \"x\" , \"name\" : \"Zo\\u00eb \\\"q\\\" \\\\ \\t\\n\\ud834\\udd1e ✓\", "
        "\"amount\": -0.5e3,"
        " \"quantity\": -42, \"active\": false, \"tags\": [], \"owner\": null, \"note\": null,"
        " \"created_at\": \"2026-01-01T00:00:00+02:00\", \"updated_at\": "
        "\"2026-01-01T00:00:00.123456Z\" }",
        "{\"id\":\"x\",\"name\":\"n\",\"amount\":12,\"created_at\":\"2026-01-01T00:00:00Z\","
        "\"updated_at\":\"2026-01-01T00:00:00Z\",\"x_extra\":{\"k\":1,\"nested\":{\"a\":[1,2.5,"
        "null,true,\"s\\n\"]},"
        "\"big\":900719925474099,\"neg\":-0.001,\"r\":0.1},\"x_new\":[{\"k\":\"v\"}],\"zz\":"
        "\"Zo\\u00eb\"}",
        "{\"id\":\"x\",\"name\":\"n\",\"owner\":{\"id\":7},\"created_at\":\"2026-01-01T00:00:00Z\","
        "\"updated_at\":\"2026-01-01T00:00:00Z\",\"tags\":[\"a\",\"b\",\"c\"]}",
    };
    for (size_t i = 0; i < sizeof(raw_ok) / sizeof(raw_ok[0]); i++)
        CHECK(same_as_dom(&c, raw_ok[i], 1));
    /* handed back to the DOM path (which converts or rejects them) */
    const char *fallback[] = {
        "{\"id\":\"x\",\"name\":\"n\",\"quantity\":\"7\",\"created_at\":\"2026-01-01\",\"updated_"
        "at\":\"2026-01-01\"}",
        "{\"id\":\"x\",\"name\":123,\"created_at\":\"2026-01-01\",\"updated_at\":\"2026-01-01\"}",
        "{\"id\":\"x\",\"name\":\"n\",\"created_at\":1700000000,\"updated_at\":\"2026-01-01\"}",
        "{\"id\":\"x\",\"name\":\"n\",\"created_at\":\"\",\"updated_at\":\"2026-01-01\"}",
        "{\"id\":\"x\",\"name\":\"n\",\"updated_at\":\"2026-01-01\"}",
        "{\"id\":\"x\",\"id\":\"y\",\"name\":\"n\",\"created_at\":\"2026-01-01\",\"updated_at\":"
        "\"2026-01-01\"}",
        "{\"id\":\"x\",\"name\":\"n\",\"active\":\"\",\"created_at\":\"2026-01-01\",\"updated_at\":"
        "\"2026-01-01\"}",
        "{\"id\":\"x\",\"name\":\"n\",\"quantity\":1.0,\"created_at\":\"2026-01-01\",\"updated_"
        "at\":\"2026-01-01\"}",
        "{\"id\":\"x\",\"name\":\"n\",\"created_at\":\"2026-01-01\",\"updated_at\":\"2026-01-01\"",
        "{\"id\":\"x\",\"name\":\"n\",\"created_at\":\"2026-01-01\",\"updated_at\":\"2026-01-01\"} "
        "x",
        "{\"id\":\"x\",\"name\":\"\\u0000\",\"created_at\":\"2026-01-01\",\"updated_at\":\"2026-01-"
        "01\"}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++)
        CHECK(same_as_dom(&c, fallback[i], 0));
    /* a thousand generated items, the bench shape with variations */
    int all = 1;
    for (int i = 1; i <= 1000; i++) {
        char rec[1024];
        snprintf(
            rec, sizeof(rec),
            "{\"id\":\"itm_%07d\",\"name\":\"Bench Gadget %d\",\"amount\":%d.%02d,\"quantity\":%d,"
            "\"active\":%s,\"tags\":[\"a\",\"vip\"],\"owner\":{\"id\":%d,\"email\":\"user%d@"
            "example.com\"},"
            "\"note\":\"Call back %d\",\"created_at\":\"2026-10-%02dT11:%02d:00.%03dZ\","
            "\"updated_at\":\"2026-10-23T11:00:01.000Z\"%s}",
            i, i, (i * 37) % 10000, i % 100, i % 50, i % 3 ? "true" : "false", i % 40, i % 40, i,
            1 + i % 28, i % 60, i % 1000, i % 4 == 0 ? ",\"x_extra\":{\"k\":1}" : "");
        all &= same_as_dom(&c, rec, 1);
    }
    CHECK(all);

    /* the one-pass encoder puts fields in schema order whatever the JSON order: members
     * shuffled (unknown ones and nulls among them), nested records shuffled too */
    const char *members[] = {
        "\"id\":\"itm_1\"",
        "\"name\":\"Zo\\u00eb \\\"q\\\" ✓\"",
        "\"amount\":-12.5",
        "\"quantity\":null",
        "\"active\":false",
        "\"tags\":[\"a\",\"b\\n\",\"\"]",
        "\"owner\":{\"email\":\"o@x.io\",\"id\":-3,\"extra\":1}",
        "\"note\":null",
        "\"created_at\":\"2026-01-01T00:00:00Z\"",
        "\"updated_at\":\"2026-01-01 10:00:00\"",
        "\"x_a\":{\"k\":[1,2]}",
        "\"x_b\":\"v\"",
    };
    size_t n_members = sizeof(members) / sizeof(members[0]);
    unsigned seed = 12345;
    all = 1;
    for (int round = 0; round < 300; round++) {
        size_t order[16];
        for (size_t i = 0; i < n_members; i++)
            order[i] = i;
        for (size_t i = n_members - 1; i > 0; i--) {
            seed = seed * 1103515245u + 12345u;
            size_t j = (seed >> 8) % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        /* some rounds leave optional members out */
        buf rec;
        buf_init(&rec);
        buf_append_str(&rec, "{");
        int first = 1;
        for (size_t i = 0; i < n_members; i++) {
            size_t m = order[i];
            if (round % 3 == 1 && (m == 2 || m == 5 || m == 6 || m == 10))
                continue;
            if (!first)
                buf_append_str(&rec, round % 2 ? " , " : ",");
            buf_append_str(&rec, members[m]);
            first = 0;
        }
        buf_append_str(&rec, "}");
        all &= same_as_dom(&c, rec.data, 1);
        buf_free(&rec);
    }
    CHECK(all);

    /* long arrays (multi-byte counts) and strings with a special byte at every offset of the
     * eight-byte scanner */
    {
        buf rec;
        buf_init(&rec);
        buf_append_str(&rec, "{\"id\":\"x\",\"name\":\"n\",\"tags\":[");
        for (int i = 0; i < 300; i++)
            buf_printf(&rec, "%s\"t%d\"", i ? "," : "", i);
        buf_append_str(&rec, "],\"created_at\":\"2026-01-01\",\"updated_at\":\"2026-01-01\"}");
        CHECK(same_as_dom(&c, rec.data, 1));
        buf_free(&rec);
        all = 1;
        const char *specials[] = {"\\\"", "\\n", "é", "✓", "\\u00e9", "\\/"};
        for (size_t sp = 0; sp < sizeof(specials) / sizeof(specials[0]); sp++)
            for (int off = 0; off < 20; off++) {
                buf_init(&rec);
                buf_printf(&rec, "{\"id\":\"x\",\"name\":\"%.*s%s%.*s\",\"note\":\"%.*s\",", off,
                           "abcdefghijklmnopqrstuvwxyz", specials[sp], 20 - off,
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ", off, "0123456789abcdefghijklmn");
                buf_append_str(&rec,
                               "\"created_at\":\"2026-01-01\",\"updated_at\":\"2026-01-01\"}");
                all &= same_as_dom(&c, rec.data, 1);
                buf_free(&rec);
            }
        CHECK(all);
    }
    codec_free(&c);

    /* every built-in schema with an empty-ish record: raw or fallback, never different bytes */
    const char *tables[] = {"close/leads.avsc", "pipedrive/deals.avsc", "copper/people.avsc",
                            "close/activities.avsc", "testcrm/users.avsc"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        codec k;
        CHECK(codec_init(&k, embedded_schemas_find(tables[i])) == 0);
        CHECK(same_as_dom(
            &k, "{\"id\":\"a1\",\"name\":\"x\",\"date_updated\":\"2026-01-01T00:00:00Z\"}", 0));
        CHECK(same_as_dom(&k, "{\"id\":5,\"name\":\"x\"}", 0));
        codec_free(&k);
    }

    /* the members the caller asks for: where their values start, and the time the encoder
     * read for a timestamp field (with its text when canonical), so they are not read again */
    {
        codec k;
        CHECK(codec_init(&k, embedded_schemas_find("testcrm/items.avsc")) == 0);
        const char *keys[3] = {"id", "updated_at", "name"};
        amap_keys rk;
        CHECK(amap_resolve_keys(k.plan, keys, 3, &rk) == 0);
        struct {
            const char *text;
            int64_t ms;
            int canonical;
        } cases[] = {
            {"{\"id\":\"a\",\"name\":\"n\",\"created_at\":\"2026-10-23T11:00:00Z\","
             "\"updated_at\":\"2026-10-23T11:00:01.000Z\"}",
             1792753201000LL, 1},
            {"{\"updated_at\":\"2026-10-23T11:00:01Z\",\"created_at\":\"2026-10-23T11:00:00Z\","
             "\"name\":\"n\",\"id\":\"a\"}",
             1792753201000LL, 0},
            {"{\"id\":\"a\",\"name\":\"n\",\"created_at\":\"2026-10-23T11:00:00Z\","
             "\"updated_at\":\"2026-10-23T11:00:01.000\\u005a\"}",
             1792753201000LL, 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const char *text = cases[i].text, *next = NULL;
            amap_found f[3];
            buf o;
            buf_init(&o);
            CHECK(amap_encode_raw_at(k.plan, text, text + strlen(text), &o, &next, &rk, f) == 0);
            CHECK(next == text + strlen(text));
            CHECK(f[0].value && strncmp(f[0].value, "\"a\"", 3) == 0 && f[0].ms == CRM_TIME_NONE);
            CHECK(f[1].value && f[1].value[0] == '"' && f[1].ms == cases[i].ms);
            CHECK(cases[i].canonical ? f[1].ms_text == f[1].value + 1 : f[1].ms_text == NULL);
            CHECK(f[2].value && f[2].ms == CRM_TIME_NONE); /* a string field */
            CHECK(same_as_dom(&k, text, 1));
            buf_free(&o);
        }
        /* an absent member is NULL; an unmapped one is located too */
        const char *text = "{\"id\":7,\"name\":\"n\",\"created_at\":\"2026-10-23T11:00:00Z\","
                           "\"updated_at\":\"2026-10-23T11:00:01Z\",\"extra\":{\"a\":1}}",
                   *next;
        const char *keys2[2] = {"extra", "note"};
        CHECK(amap_resolve_keys(k.plan, keys2, 2, &rk) == 0);
        CHECK(rk.by_name == 1); /* "extra" is not a field */
        amap_found f[2];
        buf o;
        buf_init(&o);
        CHECK(amap_encode_raw_at(k.plan, text, text + strlen(text), &o, &next, &rk, f) ==
              1); /* a numeric id for a string field: the DOM path */
        buf_reset(&o);
        text = "{\"id\":\"7\",\"name\":\"n\",\"created_at\":\"2026-10-23T11:00:00Z\","
               "\"updated_at\":\"2026-10-23T11:00:01Z\",\"extra\":{\"a\":1}}";
        CHECK(amap_encode_raw_at(k.plan, text, text + strlen(text), &o, &next, &rk, f) == 0);
        CHECK(f[0].value && f[0].value[0] == '{' && f[0].ms == CRM_TIME_NONE);
        CHECK(f[1].value == NULL && f[1].ms == CRM_TIME_NONE && f[1].ms_text == NULL);
        buf_free(&o);
        const char *many[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
        CHECK(amap_resolve_keys(k.plan, many, 9, &rk) == -1);
        codec_free(&k);
    }

    /* the envelope written by hand equals avro-c's, in both framings, with and without the
     * optional source fields; the hashes agree */
    char err[512];
    event_codec *ec = event_codec_new(
        "testcrm", "items", embedded_schemas_find("testcrm/items.avsc"), err, sizeof(err));
    CHECK(ec != NULL);
    for (int framing = 0; ec && framing < 2; framing++) {
        if (framing)
            event_codec_use_registry_id(ec, 70000);
        /* the same codec with other source names in turn (its cached source prefix follows) */
        static const char *accounts[] = {"acme", "acme", "globex-industries", "acme"};
        for (int variant = 0; variant < 4; variant++) {
            int rk = variant == 1 || variant == 2;
            event_meta m = {"testcrm",
                            accounts[variant],
                            "items",
                            rk ? "updated_at" : NULL,
                            rk ? "2026-10-23T11:00:01.000Z" : NULL,
                            rk ? 1792753201000LL : CRM_TIME_NONE,
                            1792753299123LL};
            json_t *rec = json_loads(ITEM, 0, NULL);
            uint64_t h1 = 0, h2 = 1;
            buf a, b;
            buf_init(&a);
            buf_init(&b);
            CHECK(event_set_after(ec, rec, &h1, err, sizeof(err)) == 0);
            CHECK(event_encode(ec, 'u', &m, &a, err, sizeof(err)) == 0);
            CHECK(event_set_after_raw(ec, ITEM, strlen(ITEM), &h2) == 0);
            CHECK(event_encode(ec, 'u', &m, &b, err, sizeof(err)) == 0);
            CHECK(h1 == h2);
            CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
            /* a delete after a raw event goes through avro-c again */
            CHECK(event_set_before(ec, NULL, err, sizeof(err)) == 0);
            buf_reset(&b);
            CHECK(event_encode(ec, 'd', &m, &b, err, sizeof(err)) == 0);
            json_t *d = event_decode(ec, b.data, b.len, err, sizeof(err));
            CHECK(d && json_is_null(json_object_get(d, "after")));
            json_decref(d);
            json_decref(rec);
            buf_free(&a);
            buf_free(&b);
        }
    }
    /* a codec locates the members its caller asks for, other keys when asked for others */
    if (ec) {
        const char *k1[2] = {"id", "updated_at"}, *k2[1] = {"name"}, *next;
        amap_found f[2];
        uint64_t h;
        const char *end = ITEM + strlen(ITEM);
        CHECK(event_set_after_raw_at(ec, ITEM, end, &next, k1, f, 2, &h) == 0);
        CHECK(f[0].value && strncmp(f[0].value, "\"itm_0000001\"", 13) == 0);
        CHECK(f[1].ms == 1792753201000LL && f[1].ms_text == f[1].value + 1);
        CHECK(event_set_after_raw_at(ec, ITEM, end, &next, k2, f, 1, &h) == 0);
        CHECK(f[0].value && strncmp(f[0].value, "\"Bench Gadget 1\"", 16) == 0);
        CHECK(event_set_after_raw_at(ec, ITEM, end, &next, k1, f, 1, &h) == 0);
        CHECK(f[0].value && strncmp(f[0].value, "\"itm_0000001\"", 13) == 0);
    }
    event_codec_free(ec);

    /* the expected key: matched by words up to 13 bytes, byte by byte beyond, never a key it
     * only prefixes, whitespace after the colon skipped, the text's last bytes done safely */
    {
        struct {
            const char *text, *hint;
            int first, rc;
            const char *key, *value;
        } hc[] = {
            {",\"name\":\"x\",\"pad\":\"padding\"}", "name", 0, 2, "name", "\"x\""},
            {"\"name\":\"x\",\"pad\":\"padding\"}", "name", 1, 2, "name", "\"x\""},
            {",\"names\":\"x\",\"pad\":\"padding\"}", "name", 0, 1, "names", "\"x\""},
            {",\"nam\":\"x\",\"pad\":\"padding\"}", "name", 0, 1, "nam", "\"x\""},
            {",\"abcdefghijklm\":1,\"pad\":\"padding\"}", "abcdefghijklm", 0, 2, "abcdefghijklm",
             "1"},
            {",\"abcdefghijklmn\":1,\"pad\":\"padding\"}", "abcdefghijklmn", 0, 2, "abcdefghijklmn",
             "1"},
            {",\"abcdefghijklmn\":1,\"pad\":\"padding\"}", "abcdefghijklmo", 0, 1, "abcdefghijklmn",
             "1"},
            {",\"name\": \t\"x\",\"pad\":\"padding\"}", "name", 0, 2, "name", "\"x\""},
            {",\"name\" :\"x\",\"pad\":\"padding\"}", "name", 0, 2, "name", "\"x\""},
            {", \"name\":\"x\",\"pad\":\"padding\"}", "name", 0, 1, "name", "\"x\""},
            {",\"id\":1}", "id", 0, 2, "id", "1"},
            {",\"i\\u0064\":1,\"pad\":\"padding\"}", "id", 0, 1, "i\\u0064", "1"},
        };
        for (size_t i = 0; i < sizeof(hc) / sizeof(hc[0]); i++) {
            /* the text alone in a buffer of its own size: reads past it would show under ASan */
            size_t tl = strlen(hc[i].text);
            char *t = malloc(tl);
            memcpy(t, hc[i].text, tl);
            js_hint h;
            js_hint_init(&h, hc[i].hint, strlen(hc[i].hint));
            const char *p = t, *k = NULL, *v = NULL;
            size_t kl = 0;
            int first = hc[i].first, esc = 0;
            int rc = js_object_next_hint(&p, t + tl, &first, &h, &k, &kl, &esc, &v);
            int ok = rc == hc[i].rc && k && kl == strlen(hc[i].key) &&
                     memcmp(k, hc[i].key, kl) == 0 && v &&
                     strncmp(v, hc[i].value, strlen(hc[i].value)) == 0 && p == v && first == 0;
            if (!ok)
                fprintf(stderr, "  hint case %zu: rc=%d\n", i, rc);
            CHECK(ok);
            free(t);
        }
    }

    /* the scanner on its own */
    const char *body = "{\"data\":[1,2],\"next_cursor\":\"abc\",\"n\":null}";
    const char *v = js_member(body, body + strlen(body), "next_cursor");
    CHECK(v && strncmp(v, "\"abc\"", 5) == 0);
    CHECK(js_member(body, body + strlen(body), "missing") == NULL);
    const char *nested = "[1,{\"a\":[true,false,null]}]";
    CHECK(js_skip(nested, nested + strlen(nested)) != NULL);
    const char *bad = "[1,]";
    CHECK(js_skip(bad, bad + 4) == NULL);
    return check_summary("avro_raw");
}
