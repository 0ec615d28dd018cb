/* test_avro_map.c — the JSON -> Avro mapping: types, nulls, defaults, errors, timestamps, nested
 * values, unicode, the avro-c string-length trap, "_unmapped" and the JSON round trip. Values are
 * checked after a real binary round trip (avro_value_write to memory, avro_value_read back). */
#include <avro.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amap.h"
#include "check.h"

typedef struct fx {
    amap_plan *plan;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    avro_value_t back; /* the value decoded from the binary encoding */
    int have_back;
    char enc[65536];
    size_t enclen;
    char err[512];
} fx;

static int fx_open(fx *f, const char *schema_json)
{
    memset(f, 0, sizeof(*f));
    json_error_t je;
    json_t *js = json_loads(schema_json, 0, &je);
    if (!js) {
        fprintf(stderr, "bad test schema: %s\n", je.text);
        return -1;
    }
    f->plan = amap_new(js, f->err, sizeof(f->err));
    json_decref(js);
    if (!f->plan) {
        fprintf(stderr, "amap_new: %s\n", f->err);
        return -1;
    }
    if (avro_schema_from_json_length(schema_json, strlen(schema_json), &f->schema)) {
        fprintf(stderr, "avro schema: %s\n", avro_strerror());
        return -1;
    }
    f->iface = avro_generic_class_from_schema(f->schema);
    avro_generic_value_new(f->iface, &f->value);
    return 0;
}

static void fx_close(fx *f)
{
    if (f->have_back)
        avro_value_decref(&f->back);
    if (f->iface) {
        avro_value_decref(&f->value);
        avro_value_iface_decref(f->iface);
    }
    if (f->schema)
        avro_schema_decref(f->schema);
    amap_free(f->plan);
}

/* Encodes f->value, decodes it into f->back and checks both are equal. */
static int fx_roundtrip(fx *f)
{
    avro_writer_t w = avro_writer_memory(f->enc, sizeof(f->enc));
    if (avro_value_write(w, &f->value)) {
        fprintf(stderr, "write: %s\n", avro_strerror());
        avro_writer_free(w);
        return -1;
    }
    f->enclen = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    if (f->have_back)
        avro_value_decref(&f->back);
    avro_generic_value_new(f->iface, &f->back);
    f->have_back = 1;
    avro_reader_t r = avro_reader_memory(f->enc, (int64_t)f->enclen);
    int rc = avro_value_read(r, &f->back);
    avro_reader_free(r);
    if (rc) {
        fprintf(stderr, "read: %s\n", avro_strerror());
        return -1;
    }
    return avro_value_equal(&f->value, &f->back) ? 0 : -1;
}

/* Fills from JSON text; returns the amap_fill result (err in f->err). */
static int fx_fill(fx *f, const char *rec_json)
{
    json_error_t je;
    json_t *rec = json_loads(rec_json, JSON_ALLOW_NUL, &je);
    if (!rec) {
        fprintf(stderr, "bad test record %s: %s\n", rec_json, je.text);
        return -2;
    }
    f->err[0] = '\0';
    int rc = amap_fill(f->plan, rec, &f->value, f->err, sizeof(f->err));
    json_decref(rec);
    return rc;
}

/* Fills, round-trips through binary and returns the decoded record as JSON (caller decrefs). */
static json_t *fx_json(fx *f, const char *rec_json)
{
    if (fx_fill(f, rec_json)) {
        fprintf(stderr, "fill %s: %s\n", rec_json, f->err);
        return NULL;
    }
    if (fx_roundtrip(f))
        return NULL;
    json_t *out = amap_to_json(f->plan, &f->back, f->err, sizeof(f->err));
    if (!out)
        fprintf(stderr, "to_json: %s\n", f->err);
    return out;
}

static avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t v;
    memset(&v, 0, sizeof(v));
    avro_value_get_by_name(rec, name, &v, NULL);
    return v;
}

/* Discriminant of a union field (-1 on error). */
static int branch_of(avro_value_t *rec, const char *name)
{
    avro_value_t u = field(rec, name);
    int d = -1;
    avro_value_get_discriminant(&u, &d);
    return d;
}

static int64_t long_of(avro_value_t *rec, const char *name)
{
    avro_value_t u = field(rec, name), b;
    int64_t x = INT64_MIN;
    if (avro_value_get_type(&u) == AVRO_UNION) {
        avro_value_get_current_branch(&u, &b);
        avro_value_get_long(&b, &x);
    } else {
        avro_value_get_long(&u, &x);
    }
    return x;
}

static const char *string_of(avro_value_t *rec, const char *name, size_t *size)
{
    avro_value_t u = field(rec, name), b;
    const char *s = NULL;
    size_t n = 0;
    if (avro_value_get_type(&u) == AVRO_UNION) {
        if (avro_value_get_current_branch(&u, &b))
            return NULL;
        u = b;
    }
    if (avro_value_get_string(&u, &s, &n))
        return NULL;
    if (size)
        *size = n;
    return s;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* JSON text equality (order-insensitive), printing both on mismatch. */
static int json_same(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_ALLOW_NUL, NULL);
    int eq = got && want && json_equal(got, want);
    if (!eq) {
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        char *w = want ? json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        fprintf(stderr, "JSON differs:\n got  %s\n want %s\n", g ? g : "(null)", w ? w : "(bad)");
        free(g);
        free(w);
    }
    json_decref(want);
    return eq;
}

/* ---------------------------------------------------------------------------------------- */

static const char *DEAL =
    "{\"type\":\"record\",\"name\":\"Deal\",\"namespace\":\"crm.test\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"title\",\"type\":\"string\"},"
    "{\"name\":\"count\",\"type\":\"int\"},"
    "{\"name\":\"value\",\"type\":\"double\"},"
    "{\"name\":\"ratio\",\"type\":\"float\"},"
    "{\"name\":\"won\",\"type\":\"boolean\"},"
    "{\"name\":\"blob\",\"type\":\"bytes\"},"
    "{\"name\":\"org\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"prob\",\"type\":[\"double\",\"null\"]},"
    "{\"name\":\"pipeline\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"flag\",\"type\":[\"null\",\"boolean\"],\"default\":null}"
    "]}";

static void test_primitives(void)
{
    fx f;
    CHECK(fx_open(&f, DEAL) == 0);
    json_t *j = fx_json(&f, "{\"id\":9007199254740993,\"title\":\"Big deal\",\"count\":-7,"
                            "\"value\":1234.5,\"ratio\":0.25,\"won\":true,\"blob\":\"raw\","
                            "\"org\":\"Acme\",\"prob\":0.75,\"pipeline\":3,\"flag\":false}");
    CHECK(json_same(j, "{\"id\":9007199254740993,\"title\":\"Big deal\",\"count\":-7,"
                       "\"value\":1234.5,\"ratio\":0.25,\"won\":true,\"blob\":\"raw\","
                       "\"org\":\"Acme\",\"prob\":0.75,\"pipeline\":3,\"flag\":false}"));
    CHECK(long_of(&f.back, "id") == 9007199254740993LL);
    CHECK(branch_of(&f.back, "org") == 1);  /* ["null","string"]: string is branch 1 */
    CHECK(branch_of(&f.back, "prob") == 0); /* ["double","null"]: double is branch 0 */
    json_decref(j);
    fx_close(&f);
}

static void test_nulls_and_missing(void)
{
    fx f;
    CHECK(fx_open(&f, DEAL) == 0);
    /* explicit nulls and missing keys in nullable fields, both union orders */
    json_t *j = fx_json(&f, "{\"id\":1,\"title\":\"t\",\"count\":0,\"value\":0,\"ratio\":0,"
                            "\"won\":false,\"blob\":\"\",\"org\":null,\"prob\":null}");
    CHECK(json_same(j, "{\"id\":1,\"title\":\"t\",\"count\":0,\"value\":0.0,\"ratio\":0.0,"
                       "\"won\":false,\"blob\":\"\",\"org\":null,\"prob\":null,\"pipeline\":null,"
                       "\"flag\":null}"));
    CHECK(branch_of(&f.back, "org") == 0);
    CHECK(branch_of(&f.back, "prob") == 1); /* null is branch 1 of ["double","null"] */
    CHECK(branch_of(&f.back, "pipeline") == 0);
    json_decref(j);

    /* missing required key */
    CHECK(fx_fill(&f, "{\"id\":1,\"count\":0,\"value\":0,\"ratio\":0,\"won\":false,"
                      "\"blob\":\"\"}") == -1);
    CHECK_STR(f.err, "field title: missing required key \"title\"");
    /* null in a required field */
    CHECK(fx_fill(&f, "{\"id\":null,\"title\":\"t\",\"count\":0,\"value\":0,\"ratio\":0,"
                      "\"won\":false,\"blob\":\"\"}") == -1);
    CHECK_STR(f.err, "field id: expected long, got null");
    /* not an object */
    CHECK(fx_fill(&f, "[1,2]") == -1);
    CHECK_STR(f.err, "record: expected record crm.test.Deal, got array");
    fx_close(&f);
}

static void test_defaults(void)
{
    fx f;
    CHECK(
        fx_open(
            &f,
            "{\"type\":\"record\",\"name\":\"D\",\"fields\":["
            "{\"name\":\"n\",\"type\":\"long\",\"default\":7},"
            "{\"name\":\"s\",\"type\":\"string\",\"default\":\"x\"},"
            "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},"
            "\"default\":[]},"
            "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]},"
            "\"default\":\"B\"},"
            "{\"name\":\"when\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},"
            "\"default\":86400000},"
            "{\"name\":\"opt\",\"type\":[\"string\",\"null\"],\"default\":\"dflt\"},"
            "{\"name\":\"sub\",\"type\":{\"type\":\"record\",\"name\":\"S\",\"fields\":["
            "{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":[\"null\",\"string\"]}]},"
            "\"default\":{\"a\":5}},"
            "{\"name\":\"raw\",\"type\":\"bytes\",\"default\":\"\\u00ff\\u0001\"}"
            "]}") == 0);
    /* everything missing: every default applies; a missing [T,"null"] key takes its default */
    json_t *j = fx_json(&f, "{}");
    CHECK(json_same(j, "{\"n\":7,\"s\":\"x\",\"tags\":[],\"e\":\"B\","
                       "\"when\":\"1970-01-02T00:00:00.000Z\",\"opt\":\"dflt\","
                       "\"sub\":{\"a\":5,\"b\":null},\"raw\":\"\\u00ff\\u0001\"}"));
    json_decref(j);
    /* bytes defaults are code points 0-255: 0xff 0x01 on the wire (length 2) */
    avro_value_t raw = field(&f.back, "raw");
    const void *p;
    size_t n;
    CHECK(avro_value_get_bytes(&raw, &p, &n) == 0 && n == 2 && memcmp(p, "\xff\x01", 2) == 0);
    /* JSON null in a non-nullable field with a default takes the default; in a nullable one, null
     */
    j = fx_json(&f, "{\"n\":null,\"tags\":null,\"opt\":null}");
    CHECK(json_is_integer(json_object_get(j, "n")) &&
          json_integer_value(json_object_get(j, "n")) == 7);
    CHECK(json_is_array(json_object_get(j, "tags")));
    CHECK(json_is_null(json_object_get(j, "opt")));
    json_decref(j);
    fx_close(&f);

    /* a default that does not match its type is a schema error */
    json_t *bad = json_loads("{\"type\":\"record\",\"name\":\"B\",\"fields\":["
                             "{\"name\":\"n\",\"type\":\"long\",\"default\":\"seven\"}]}",
                             0, NULL);
    char err[256];
    CHECK(amap_new(bad, err, sizeof(err)) == NULL);
    CHECK_STR(err, "schema: field n: the default does not match the type");
    json_decref(bad);
}

static void test_wrong_types(void)
{
    fx f;
    CHECK(fx_open(&f,
                  "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                  "{\"name\":\"id\",\"type\":\"long\"},"
                  "{\"name\":\"owner\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Owner\","
                  "\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"
                  "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}}]}],"
                  "\"default\":null},"
                  "{\"name\":\"custom\",\"type\":{\"type\":\"map\",\"values\":\"long\"},"
                  "\"default\":{}},"
                  "{\"name\":\"n\",\"type\":\"int\",\"default\":0},"
                  "{\"name\":\"ok\",\"type\":\"boolean\",\"default\":false},"
                  "{\"name\":\"st\",\"type\":{\"type\":\"enum\",\"name\":\"St\","
                  "\"symbols\":[\"open\",\"won\"]},\"default\":\"open\"},"
                  "{\"name\":\"s\",\"type\":\"string\",\"default\":\"\"},"
                  "{\"name\":\"d\",\"type\":\"double\",\"default\":0}"
                  "]}") == 0);
    CHECK(fx_fill(&f, "{\"id\":\"abc\"}") == -1);
    CHECK_STR(f.err, "field id: expected long, got string \"abc\"");
    CHECK(fx_fill(&f, "{\"id\":1,\"owner\":{\"id\":\"abc\",\"tags\":[]}}") == -1);
    CHECK_STR(f.err, "field owner.id: expected long, got string \"abc\"");
    CHECK(fx_fill(&f, "{\"id\":1,\"owner\":{\"id\":2,\"tags\":[\"a\",{\"x\":1}]}}") == -1);
    CHECK_CONTAINS(f.err, "field owner.tags[1]: expected string, got object");
    CHECK(fx_fill(&f, "{\"id\":1,\"owner\":{\"id\":2}}") == -1);
    CHECK_STR(f.err, "field owner.tags: missing required key \"tags\"");
    CHECK(fx_fill(&f, "{\"id\":1,\"custom\":{\"a\":1,\"b\":1.5}}") == -1);
    CHECK_STR(f.err, "field custom[\"b\"]: expected long, got real 1.5");
    CHECK(fx_fill(&f, "{\"id\":1,\"n\":3000000000}") == -1);
    CHECK_STR(f.err, "field n: integer 3000000000 is out of range for int");
    CHECK(fx_fill(&f, "{\"id\":1,\"ok\":1}") == -1);
    CHECK_STR(f.err, "field ok: expected boolean, got integer 1");
    CHECK(fx_fill(&f, "{\"id\":1,\"ok\":\"true\"}") == -1);
    CHECK_STR(f.err, "field ok: expected boolean, got string \"true\"");
    CHECK(fx_fill(&f, "{\"id\":1,\"st\":\"lost\"}") == -1);
    CHECK_STR(f.err, "field st: string \"lost\" is not a symbol of enum St");
    CHECK(fx_fill(&f, "{\"id\":1,\"st\":3}") == -1);
    CHECK_STR(f.err, "field st: expected enum St, got integer 3");
    CHECK(fx_fill(&f, "{\"id\":1,\"s\":{\"a\":1}}") == -1);
    CHECK_CONTAINS(f.err, "field s: expected string, got object");
    CHECK(fx_fill(&f, "{\"id\":1,\"d\":\"1.5x\"}") == -1);
    CHECK_STR(f.err, "field d: expected double, got string \"1.5x\"");
    CHECK(fx_fill(&f, "{\"id\":1,\"d\":\"nan\"}") == -1);
    CHECK(fx_fill(&f, "{\"id\":1,\"d\":\"0x10\"}") == -1);
    CHECK(fx_fill(&f, "{\"id\":1,\"owner\":[1]}") == -1);
    CHECK_STR(f.err, "field owner: expected record Owner, got array");
    /* a long string is cut in the message */
    CHECK(
        fx_fill(&f,
                "{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}") == -1);
    CHECK_CONTAINS(f.err, "aaa...\"");
    CHECK(strlen(f.err) < 120);
    /* after failures the value is reset and reusable */
    json_t *j = fx_json(&f, "{\"id\":5,\"owner\":{\"id\":6,\"tags\":[\"x\"]}}");
    CHECK(json_same(j, "{\"id\":5,\"owner\":{\"id\":6,\"tags\":[\"x\"]},\"custom\":{},\"n\":0,"
                       "\"ok\":false,\"st\":\"open\",\"s\":\"\",\"d\":0.0}"));
    json_decref(j);
    /* a small error buffer truncates safely */
    char small[12];
    json_t *rec = json_loads("{\"id\":\"abc\"}", 0, NULL);
    CHECK(amap_fill(f.plan, rec, &f.value, small, sizeof(small)) == -1);
    CHECK_STR(small, "field id: e");
    json_decref(rec);
    fx_close(&f);
}

static void test_numeric_strings(void)
{
    fx f;
    CHECK(fx_open(&f, "{\"type\":\"record\",\"name\":\"N\",\"fields\":["
                      "{\"name\":\"l\",\"type\":\"long\"},"
                      "{\"name\":\"i\",\"type\":\"int\"},"
                      "{\"name\":\"d\",\"type\":\"double\"},"
                      "{\"name\":\"ol\",\"type\":[\"null\",\"long\"]},"
                      "{\"name\":\"od\",\"type\":[\"null\",\"double\"]},"
                      "{\"name\":\"ob\",\"type\":[\"null\",\"boolean\"]},"
                      "{\"name\":\"s\",\"type\":[\"null\",\"string\"]}"
                      "]}") == 0);
    json_t *j = fx_json(&f, "{\"l\":\"-123\",\"i\":\"42\",\"d\":\"3.25\",\"ol\":\"12.0\","
                            "\"od\":\"1e3\",\"ob\":true,\"s\":12}");
    CHECK(json_same(j, "{\"l\":-123,\"i\":42,\"d\":3.25,\"ol\":12,\"od\":1000.0,\"ob\":true,"
                       "\"s\":\"12\"}"));
    json_decref(j);
    /* integral reals into long; numbers and booleans into strings as their JSON text */
    j = fx_json(&f, "{\"l\":5.0,\"i\":-1,\"d\":7,\"ol\":\"+8\",\"od\":2,\"ob\":false,\"s\":0.1}");
    CHECK(json_same(j, "{\"l\":5,\"i\":-1,\"d\":7.0,\"ol\":8,\"od\":2.0,\"ob\":false,"
                       "\"s\":\"0.1\"}"));
    json_decref(j);
    j = fx_json(&f, "{\"l\":1,\"i\":1,\"d\":1,\"s\":100.0}");
    CHECK_STR(jstr(j, "s"), "100.0");
    json_decref(j);
    j = fx_json(&f, "{\"l\":1,\"i\":1,\"d\":1,\"s\":true}");
    CHECK_STR(jstr(j, "s"), "true");
    json_decref(j);
    /* "" in a nullable number or boolean is null; in a required one an error */
    j = fx_json(&f, "{\"l\":1,\"i\":1,\"d\":1,\"ol\":\"\",\"od\":\"\",\"ob\":\"\",\"s\":\"\"}");
    CHECK(json_same(j, "{\"l\":1,\"i\":1,\"d\":1.0,\"ol\":null,\"od\":null,\"ob\":null,"
                       "\"s\":\"\"}"));
    json_decref(j);
    CHECK(fx_fill(&f, "{\"l\":\"\",\"i\":1,\"d\":1}") == -1);
    CHECK_STR(f.err, "field l: expected long, got string \"\"");
    CHECK(fx_fill(&f, "{\"l\":\"99999999999999999999\",\"i\":1,\"d\":1}") == -1);
    CHECK(fx_fill(&f, "{\"l\":\" 12\",\"i\":1,\"d\":1}") == -1);
    CHECK(fx_fill(&f, "{\"l\":1.5,\"i\":1,\"d\":1}") == -1);
    CHECK_STR(f.err, "field l: expected long, got real 1.5");
    CHECK(fx_fill(&f, "{\"l\":1,\"i\":\"2147483648\",\"d\":1}") == -1);
    CHECK_STR(f.err, "field i: string \"2147483648\" is out of range for int");
    fx_close(&f);
}

static void test_timestamps(void)
{
    fx f;
    CHECK(fx_open(
              &f,
              "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
              "{\"name\":\"t\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
              "{\"name\":\"o\",\"type\":[\"null\",{\"type\":\"long\","
              "\"logicalType\":\"timestamp-millis\"}],\"default\":null},"
              "{\"name\":\"ms\",\"type\":[\"null\",{\"type\":\"long\","
              "\"logicalType\":\"timestamp-millis\"}],\"json_unit\":\"ms\",\"default\":null},"
              "{\"name\":\"us\",\"type\":[\"null\",{\"type\":\"long\","
              "\"logicalType\":\"timestamp-micros\"}],\"default\":null},"
              "{\"name\":\"day\",\"type\":[\"null\",{\"type\":\"int\","
              "\"logicalType\":\"date\"}],\"default\":null}"
              "]}") == 0);
    static const struct {
        const char *in;
        int64_t ms;
    } cases[] = {
        {"\"2024-03-05T10:20:30Z\"", 1709634030000LL},
        {"\"2024-03-05T10:20:30.123+02:00\"", 1709626830123LL},
        {"\"2024-03-05T12:20:30.123+0200\"", 1709634030123LL},
        {"\"2024-03-05 10:20:30\"", 1709634030000LL},
        {"\"2024-03-05T10:20:30\"", 1709634030000LL},
        {"\"2024-03-05\"", 1709596800000LL},
        {"1709634030", 1709634030000LL},
        {"1709634030.5", 1709634030500LL},
        {"\"1709634030\"", 1709634030000LL},
        {"0", 0},
        {"-1", -1000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char rec[256];
        snprintf(rec, sizeof(rec), "{\"t\":%s,\"o\":%s}", cases[i].in, cases[i].in);
        CHECK(fx_fill(&f, rec) == 0);
        CHECK(fx_roundtrip(&f) == 0);
        CHECK(long_of(&f.back, "t") == cases[i].ms);
        CHECK(long_of(&f.back, "o") == cases[i].ms);
        if (long_of(&f.back, "t") != cases[i].ms)
            fprintf(stderr, "  case %s: got %lld\n", cases[i].in, (long long)long_of(&f.back, "t"));
    }
    /* "" and zero dates: null when nullable, an error otherwise */
    CHECK(fx_fill(&f, "{\"t\":1,\"o\":\"\"}") == 0);
    CHECK(branch_of(&f.value, "o") == 0);
    CHECK(fx_fill(&f, "{\"t\":1,\"o\":\"0000-00-00 00:00:00\"}") == 0);
    CHECK(branch_of(&f.value, "o") == 0);
    CHECK(fx_fill(&f, "{\"t\":1,\"o\":\"0000-00-00\"}") == 0);
    CHECK(branch_of(&f.value, "o") == 0);
    CHECK(fx_fill(&f, "{\"t\":\"\"}") == -1);
    CHECK_STR(f.err, "field t: expected timestamp-millis, got string \"\"");
    CHECK(fx_fill(&f, "{\"t\":\"0000-00-00 00:00:00\"}") == -1);
    CHECK_STR(f.err, "field t: expected timestamp-millis, got string \"0000-00-00 00:00:00\"");
    CHECK(fx_fill(&f, "{\"t\":1,\"o\":\"yesterday\"}") == -1);
    CHECK_STR(f.err, "field o: expected timestamp-millis, got string \"yesterday\"");
    CHECK(fx_fill(&f, "{\"t\":true}") == -1);
    CHECK_STR(f.err, "field t: expected timestamp-millis, got true");
    CHECK(fx_fill(&f, "{\"t\":1e300}") == -1);
    CHECK_CONTAINS(f.err, "field t: timestamp");
    CHECK_CONTAINS(f.err, "out of range");

    /* json_unit ms: numbers and integer strings are milliseconds; dates still parse */
    json_t *j = fx_json(&f, "{\"t\":\"2024-03-05T10:20:30.123Z\",\"ms\":1709634030123,"
                            "\"us\":\"2024-03-05T10:20:30.123Z\",\"day\":\"2024-03-05\"}");
    CHECK(json_same(j, "{\"t\":\"2024-03-05T10:20:30.123Z\",\"o\":null,"
                       "\"ms\":\"2024-03-05T10:20:30.123Z\",\"us\":\"2024-03-05T10:20:30.123000Z\","
                       "\"day\":\"2024-03-05\"}"));
    CHECK(long_of(&f.back, "us") == 1709634030123000LL);
    json_decref(j);
    CHECK(fx_fill(&f, "{\"t\":0,\"ms\":\"1709634030123\",\"us\":1.5,\"day\":-1}") == 0);
    CHECK(fx_roundtrip(&f) == 0);
    CHECK(long_of(&f.back, "ms") == 1709634030123LL);
    CHECK(long_of(&f.back, "us") == 1500000);
    {
        avro_value_t u = field(&f.back, "day"), b;
        int32_t d = 0;
        avro_value_get_current_branch(&u, &b);
        avro_value_get_int(&b, &d);
        CHECK(d == -1); /* 1969-12-31: floor, not truncation */
    }
    CHECK(fx_fill(&f, "{\"t\":0,\"day\":\"2024-03-05T23:59:59Z\"}") == 0);
    {
        avro_value_t u = field(&f.value, "day"), b;
        int32_t d = 0;
        avro_value_get_current_branch(&u, &b);
        avro_value_get_int(&b, &d);
        CHECK(d == 19787);
    }
    fx_close(&f);
}

static void test_nested(void)
{
    fx f;
    CHECK(fx_open(
              &f,
              "{\"type\":\"record\",\"name\":\"Lead\",\"namespace\":\"crm.close\",\"fields\":["
              "{\"name\":\"id\",\"type\":\"string\"},"
              "{\"name\":\"contacts\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
              "\"name\":\"Contact\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"},"
              "{\"name\":\"emails\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
              "\"name\":\"Email\",\"fields\":[{\"name\":\"email\",\"type\":\"string\"},"
              "{\"name\":\"type\",\"type\":[\"null\",{\"type\":\"enum\",\"name\":\"Kind\","
              "\"symbols\":[\"office\",\"home\"]}],\"default\":null}]}}}]}}},"
              "{\"name\":\"custom\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"string\"]}},"
              "{\"name\":\"scores\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\","
              "\"items\":\"double\"}}},"
              "{\"name\":\"main\",\"type\":[\"null\",\"Contact\"],\"default\":null},"
              "{\"name\":\"next\",\"type\":[\"null\",\"Lead\"],\"default\":null}"
              "]}") == 0);
    const char *in =
        "{\"id\":\"lead_1\",\"contacts\":[{\"name\":\"Ann\",\"emails\":[{\"email\":\"a@x.io\","
        "\"type\":\"office\"},{\"email\":\"ann@home.io\",\"type\":\"home\"}]},{\"name\":\"Bob\","
        "\"emails\":[]}],\"custom\":{\"Company Size\":\"12\",\"empty\":null},"
        "\"scores\":{\"q1\":[1.5,2.5],\"q2\":[]},\"main\":{\"name\":\"Ann\",\"emails\":[]},"
        "\"next\":{\"id\":\"lead_2\",\"contacts\":[],\"custom\":{},\"scores\":{},\"main\":null,"
        "\"next\":null}}";
    json_t *j = fx_json(&f, in);
    CHECK(json_same(j, "{\"id\":\"lead_1\",\"contacts\":[{\"name\":\"Ann\",\"emails\":[{"
                       "\"email\":\"a@x.io\",\"type\":\"office\"},{\"email\":\"ann@home.io\","
                       "\"type\":\"home\"}]},{\"name\":\"Bob\",\"emails\":[]}],"
                       "\"custom\":{\"Company Size\":\"12\",\"empty\":null},"
                       "\"scores\":{\"q1\":[1.5,2.5],\"q2\":[]},"
                       "\"main\":{\"name\":\"Ann\",\"emails\":[]},"
                       "\"next\":{\"id\":\"lead_2\",\"contacts\":[],\"custom\":{},\"scores\":{},"
                       "\"main\":null,\"next\":null}}"));
    json_decref(j);
    /* error paths inside arrays of records and maps */
    CHECK(fx_fill(&f, "{\"id\":\"x\",\"contacts\":[{\"name\":\"A\",\"emails\":[{\"email\":\"e\","
                      "\"type\":\"fax\"}]}],\"custom\":{},\"scores\":{}}") == -1);
    CHECK_STR(f.err, "field contacts[0].emails[0].type: string \"fax\" is not a symbol of enum "
                     "crm.close.Kind");
    CHECK(
        fx_fill(&f, "{\"id\":\"x\",\"contacts\":[],\"custom\":{},\"scores\":{\"q\":[1,\"z\"]}}") ==
        -1);
    CHECK_STR(f.err, "field scores[\"q\"][1]: expected double, got string \"z\"");
    CHECK(fx_fill(&f, "{\"id\":\"x\",\"contacts\":[],\"custom\":{},\"scores\":{},"
                      "\"next\":{\"id\":7,\"contacts\":5,\"custom\":{},\"scores\":{}}}") == -1);
    CHECK_STR(f.err, "field next.contacts: expected array, got integer 5");
    /* arrays shrink on reuse (the value is reset) */
    CHECK(fx_fill(&f, in) == 0);
    CHECK(fx_fill(&f, "{\"id\":\"y\",\"contacts\":[{\"name\":\"C\",\"emails\":[]}],\"custom\":{},"
                      "\"scores\":{}}") == 0);
    avro_value_t contacts = field(&f.value, "contacts");
    size_t n = 0;
    avro_value_get_size(&contacts, &n);
    CHECK(n == 1);
    fx_close(&f);
}

/* Checks that s survives fill -> binary -> read -> to_json, byte for byte. */
static void check_string_roundtrip(fx *f, const char *s, size_t len)
{
    json_t *rec = json_pack("{s:s%}", "s", s, len);
    CHECK(rec != NULL);
    if (!rec)
        return;
    CHECK(amap_fill(f->plan, rec, &f->value, f->err, sizeof(f->err)) == 0);
    CHECK(fx_roundtrip(f) == 0);
    size_t size = 0;
    const char *got = string_of(&f->back, "s", &size);
    CHECK(got && size == len + 1 && memcmp(got, s, len) == 0 && got[len] == '\0');
    /* the wire form: zigzag varint length then exactly the bytes */
    CHECK(f->enclen >= len + 1 && memcmp(f->enc + f->enclen - len, s, len) == 0);
    json_t *back = amap_to_json(f->plan, &f->back, f->err, sizeof(f->err));
    CHECK(back && json_equal(back, rec));
    json_decref(back);
    json_decref(rec);
}

static void test_strings(void)
{
    fx f;
    CHECK(fx_open(&f, "{\"type\":\"record\",\"name\":\"S\",\"fields\":["
                      "{\"name\":\"s\",\"type\":\"string\"}]}") == 0);
    /* the NUL trap: "abc" must encode as 06 61 62 63 (length 3), not 04 61 62 */
    CHECK(fx_fill(&f, "{\"s\":\"abc\"}") == 0);
    CHECK(fx_roundtrip(&f) == 0);
    CHECK(f.enclen == 4 && memcmp(f.enc,
                                  "\x06"
                                  "abc",
                                  4) == 0);
    size_t size = 0;
    CHECK_STR(string_of(&f.back, "s", &size), "abc");
    CHECK(size == 4);
    /* the empty string: 00 */
    CHECK(fx_fill(&f, "{\"s\":\"\"}") == 0);
    CHECK(fx_roundtrip(&f) == 0);
    CHECK(f.enclen == 1 && f.enc[0] == 0);

    static const char *const samples[] = {
        "plain",
        "h\xc3\xa9llo w\xc3\xb6rld",                 /* héllo wörld */
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",      /* 日本語 */
        "emoji \xf0\x9f\x98\x80 check \xe2\x9c\x93", /* 😀 ✓ */
        "say \"hi\" \\ back\\slash / 'single'",      /* quotes and backslashes */
        "tab\tnewline\ncr\r\x01\x1f",                /* control characters */
        "{\"looks\":\"like json\"}",
        "\357\273\277bom", /* a UTF-8 byte order mark */
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        check_string_roundtrip(&f, samples[i], strlen(samples[i]));
    /* a long string (beyond any stack buffer) */
    char *big = malloc(100001);
    for (size_t i = 0; i < 100000; i++)
        big[i] = (char)('a' + i % 26);
    big[100000] = '\0';
    json_t *rec = json_pack("{s:s}", "s", big);
    CHECK(amap_fill(f.plan, rec, &f.value, f.err, sizeof(f.err)) == 0);
    size = 0;
    CHECK(string_of(&f.value, "s", &size) && size == 100001);
    json_decref(rec);
    free(big);
    /* embedded NUL (JSON "\u0000", only with JSON_ALLOW_NUL): kept whole on the wire */
    check_string_roundtrip(&f, "a\0b", 3);
    CHECK(f.enclen == 4 && memcmp(f.enc,
                                  "\x06"
                                  "a\0b",
                                  4) == 0);
    fx_close(&f);
}

static void test_unmapped(void)
{
    fx f;
    CHECK(fx_open(&f,
                  "{\"type\":\"record\",\"name\":\"Lead\",\"fields\":["
                  "{\"name\":\"id\",\"type\":\"string\"},"
                  "{\"name\":\"cf_abc\",\"json\":\"custom.cf_abc\",\"type\":[\"null\",\"long\"],"
                  "\"default\":null},"
                  "{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null},"
                  "{\"name\":\"_unmapped\",\"type\":[\"null\",\"string\"],\"default\":null}"
                  "]}") == 0);
    /* all keys known (including the "json" key) -> null */
    CHECK(fx_fill(&f, "{\"id\":\"l1\",\"custom.cf_abc\":1250,\"name\":null}") == 0);
    CHECK(branch_of(&f.value, "_unmapped") == 0);
    json_t *j = fx_json(&f, "{\"id\":\"l1\",\"custom.cf_abc\":1250}");
    CHECK(json_same(j, "{\"id\":\"l1\",\"custom.cf_abc\":1250,\"name\":null}"));
    CHECK(json_object_get(j, "cf_abc") == NULL);
    json_decref(j);
    /* unknown keys, in their order, as compact JSON; the schema name of a "json" field is unknown
     */
    const char *in = "{\"id\":\"l2\",\"status\":\"Hot \\\"lead\\\"\",\"custom\":{\"Size\":12},"
                     "\"cf_abc\":3,\"name\":\"N\",\"tags\":[1,null,true],\"_unmapped\":\"x\","
                     "\"\xc3\xa9t\xc3\xa9\":1.5}";
    CHECK(fx_fill(&f, in) == 0);
    CHECK(fx_roundtrip(&f) == 0);
    CHECK_STR(string_of(&f.back, "_unmapped", NULL),
              "{\"status\":\"Hot \\\"lead\\\"\",\"custom\":{\"Size\":12},\"cf_abc\":3,"
              "\"tags\":[1,null,true],\"_unmapped\":\"x\",\"\xc3\xa9t\xc3\xa9\":1.5}");
    /* to_json merges them back: the original record comes back exactly */
    j = amap_to_json(f.plan, &f.back, f.err, sizeof(f.err));
    CHECK(json_same(j, "{\"id\":\"l2\",\"status\":\"Hot \\\"lead\\\"\",\"custom\":{\"Size\":12},"
                       "\"cf_abc\":3,\"name\":\"N\",\"tags\":[1,null,true],\"_unmapped\":\"x\","
                       "\"\xc3\xa9t\xc3\xa9\":1.5,\"custom.cf_abc\":null}"));
    json_decref(j);
    /* a record with a null key present still counts the key as known */
    CHECK(fx_fill(&f, "{\"id\":\"l3\",\"name\":null,\"x\":null}") == 0);
    CHECK(fx_roundtrip(&f) == 0);
    CHECK_STR(string_of(&f.back, "_unmapped", NULL), "{\"x\":null}");
    /* the text is exactly jansson's compact JSON (reals aside: shortest round-trip form) */
    const char *tricky = "{\"id\":\"l4\",\"ctl\":\"a\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f/\","
                         "\"k\\\"q\\\\\":[{},[],{\"a\":[null,false,-9223372036854775808]}],"
                         "\"\\u2028\\ud83d\\ude00\":\"\\u00e9\",\"big\":123456789012345}";
    json_t *tj = json_loads(tricky, 0, NULL);
    CHECK(fx_fill(&f, tricky) == 0);
    json_object_del(tj, "id");
    char *want = json_dumps(tj, JSON_COMPACT);
    CHECK_STR(string_of(&f.value, "_unmapped", NULL), want);
    free(want);
    json_decref(tj);
    /* reals: the shortest text that reads back to the same double */
    CHECK(fx_fill(&f, "{\"id\":\"l5\",\"r\":[0.1,1e300,-2.5,100.0,1e-7]}") == 0);
    CHECK_STR(string_of(&f.value, "_unmapped", NULL), "{\"r\":[0.1,1e+300,-2.5,100.0,1e-07]}");
    fx_close(&f);

    /* nested records with their own "_unmapped" catch their own keys */
    CHECK(fx_open(&f, "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
                      "{\"name\":\"o\",\"type\":{\"type\":\"record\",\"name\":\"O\",\"fields\":["
                      "{\"name\":\"id\",\"type\":\"long\"},"
                      "{\"name\":\"_unmapped\",\"type\":[\"null\",\"string\"],\"default\":null}]}}"
                      "]}") == 0);
    j = fx_json(&f, "{\"o\":{\"id\":1,\"extra\":\"e\"},\"top\":1}");
    CHECK(json_same(j, "{\"o\":{\"id\":1,\"extra\":\"e\"}}")); /* no top-level catch-all */
    json_decref(j);
    fx_close(&f);
}

static void test_json_text_and_unions(void)
{
    fx f;
    CHECK(fx_open(&f, "{\"type\":\"record\",\"name\":\"J\",\"fields\":["
                      "{\"name\":\"raw\",\"type\":[\"null\",\"string\"],\"json_text\":true},"
                      "{\"name\":\"any\",\"type\":[\"null\",\"long\",\"double\",\"string\","
                      "{\"type\":\"array\",\"items\":\"long\"},"
                      "{\"type\":\"map\",\"values\":\"string\"}]},"
                      "{\"name\":\"b\",\"type\":[\"null\",\"bytes\"]},"
                      "{\"name\":\"fx\",\"type\":[\"null\",{\"type\":\"fixed\",\"name\":\"F4\","
                      "\"size\":4}]}"
                      "]}") == 0);
    CHECK(fx_fill(&f, "{\"raw\":{\"a\":[1,2,{\"b\":\"\\u00e9\"}],\"c\":null},\"any\":5}") == 0);
    CHECK(fx_roundtrip(&f) == 0);
    CHECK_STR(string_of(&f.back, "raw", NULL), "{\"a\":[1,2,{\"b\":\"\xc3\xa9\"}],\"c\":null}");
    CHECK(branch_of(&f.back, "any") == 1);
    json_t *j = amap_to_json(f.plan, &f.back, f.err, sizeof(f.err));
    CHECK(json_same(j, "{\"raw\":{\"a\":[1,2,{\"b\":\"\\u00e9\"}],\"c\":null},\"any\":5,"
                       "\"b\":null,\"fx\":null}"));
    json_decref(j);
    /* a large JSON text (above the stack buffer) */
    json_t *big = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(big, json_integer(i));
    json_t *rec = json_pack("{s:O,s:n}", "raw", big, "any");
    CHECK(amap_fill(f.plan, rec, &f.value, f.err, sizeof(f.err)) == 0);
    CHECK(fx_roundtrip(&f) == 0);
    j = amap_to_json(f.plan, &f.back, f.err, sizeof(f.err));
    CHECK(j && json_equal(json_object_get(j, "raw"), big));
    json_decref(j);
    json_decref(rec);
    json_decref(big);
    /* general unions pick the branch by JSON type */
    CHECK(fx_fill(&f, "{\"any\":1.5}") == 0);
    CHECK(branch_of(&f.value, "any") == 2);
    CHECK(fx_fill(&f, "{\"any\":\"text\"}") == 0);
    CHECK(branch_of(&f.value, "any") == 3);
    CHECK(fx_fill(&f, "{\"any\":[1,2]}") == 0);
    CHECK(branch_of(&f.value, "any") == 4);
    CHECK(fx_fill(&f, "{\"any\":{\"k\":\"v\"}}") == 0);
    CHECK(branch_of(&f.value, "any") == 5);
    CHECK(fx_fill(&f, "{\"any\":true}") == 0); /* a boolean becomes the string "true" */
    CHECK(branch_of(&f.value, "any") == 3);
    /* bytes and fixed */
    j = fx_json(&f, "{\"b\":\"bin\\u00e9\",\"fx\":\"abcd\"}");
    CHECK(json_same(j, "{\"raw\":null,\"any\":null,\"b\":\"bin\\u00e9\",\"fx\":\"abcd\"}"));
    json_decref(j);
    CHECK(fx_fill(&f, "{\"fx\":\"abc\"}") == -1);
    CHECK_STR(f.err, "field fx: expected 4 bytes for fixed F4, got string \"abc\"");
    CHECK(fx_fill(&f, "{\"any\":{\"k\":[1]}}") == -1);
    CHECK_CONTAINS(f.err, "field any[\"k\"]: expected string, got array");
    CHECK(fx_fill(&f, "{\"any\":[\"x\"]}") == -1);
    CHECK_STR(f.err, "field any[0]: expected long, got string \"x\"");
    fx_close(&f);
}

static void test_schema_errors(void)
{
    static const struct {
        const char *schema;
        const char *err;
    } cases[] = {
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
         "schema: the top level must be a record"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"Nope\"}]}",
         "schema: field x: unknown type \"Nope\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":{\"type\":"
         "\"bytes\",\"logicalType\":\"decimal\",\"precision\":4}}]}",
         "schema: field x: logicalType decimal is not supported"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"},"
         "{\"name\":\"b\",\"json\":\"a\",\"type\":\"long\"}]}",
         "schema: field b: JSON key \"a\" is already read by field a"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"_unmapped\",\"type\":"
         "\"string\"}]}",
         "schema: field _unmapped: \"_unmapped\" must have type [\"null\", \"string\"]"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"t\",\"type\":\"long\","
         "\"json_unit\":\"h\"}]}",
         "schema: field t: \"json_unit\" must be \"s\", \"ms\" or \"us\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"u\",\"type\":[\"null\","
         "[\"long\"]]}]}",
         "schema: field u: a union may not contain a union"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"o\",\"type\":{\"type\":"
         "\"record\",\"name\":\"O\",\"fields\":[{\"name\":\"x\",\"type\":\"strin\"}]}}]}",
         "schema: field o.x: unknown type \"strin\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":"
         "\"record\",\"name\":\"R\",\"fields\":[]}}]}",
         "schema: field a: type R is defined twice"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *s = json_loads(cases[i].schema, 0, NULL);
        char err[256] = "";
        amap_plan *p = amap_new(s, err, sizeof(err));
        CHECK(p == NULL);
        CHECK_STR(err, cases[i].err);
        amap_free(p);
        json_decref(s);
    }
}

/* The value handed to fill may be the union ["null", Record] holding the record (as in the
 * event envelope's before/after). */
static void test_union_holder(void)
{
    const char *env = "{\"type\":\"record\",\"name\":\"Env\",\"namespace\":\"crmstream.t\","
                      "\"fields\":[{\"name\":\"after\",\"type\":[\"null\",{\"type\":\"record\","
                      "\"name\":\"User\",\"namespace\":\"crmstream.testcrm\",\"fields\":["
                      "{\"name\":\"id\",\"type\":\"long\"},"
                      "{\"name\":\"email\",\"type\":\"string\"}]}]}]}";
    const char *rec = "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"crmstream.testcrm\","
                      "\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"
                      "{\"name\":\"email\",\"type\":\"string\"}]}";
    avro_schema_t s;
    CHECK(avro_schema_from_json_length(env, strlen(env), &s) == 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(s);
    avro_value_t v, after;
    avro_generic_value_new(iface, &v);
    avro_value_get_by_index(&v, 0, &after, NULL);
    json_t *rs = json_loads(rec, 0, NULL);
    char err[256];
    amap_plan *p = amap_new(rs, err, sizeof(err));
    CHECK(p != NULL);
    json_t *in = json_loads("{\"id\":3,\"email\":\"u@x.io\"}", 0, NULL);
    CHECK(amap_fill(p, in, &after, err, sizeof(err)) == 0);
    int d = -1;
    avro_value_get_discriminant(&after, &d);
    CHECK(d == 1);
    json_t *out = amap_to_json(p, &after, err, sizeof(err));
    CHECK(out && json_equal(out, in));
    json_decref(out);
    json_decref(in);
    json_decref(rs);
    amap_free(p);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(s);
}

/* The project's own test CRM schema, read from the repository. */
static void test_testcrm_items(void)
{
    FILE *fp = fopen("avro/testcrm/items.avsc", "rb");
    if (!fp) {
        fprintf(stderr, "(skipping items.avsc: run from the repository root)\n");
        return;
    }
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    fx f;
    CHECK(fx_open(&f, text) == 0);
    json_t *j = fx_json(&f, "{\"id\":\"it_1\",\"name\":\"Widget\",\"amount\":\"12.50\","
                            "\"quantity\":3,\"active\":true,\"tags\":[\"a\",\"b\"],"
                            "\"owner\":{\"id\":\"77\",\"email\":null},\"note\":\"\","
                            "\"created_at\":\"2024-01-02 03:04:05\","
                            "\"updated_at\":\"2024-01-02T03:04:05.678+00:00\",\"color\":\"red\"}");
    CHECK(json_same(j, "{\"id\":\"it_1\",\"name\":\"Widget\",\"amount\":12.5,\"quantity\":3,"
                       "\"active\":true,\"tags\":[\"a\",\"b\"],\"owner\":{\"id\":77,"
                       "\"email\":null},\"note\":\"\",\"created_at\":\"2024-01-02T03:04:05.000Z\","
                       "\"updated_at\":\"2024-01-02T03:04:05.678Z\",\"color\":\"red\"}"));
    json_decref(j);
    fx_close(&f);
}

/* Full round trip: records already in canonical form come back identical. */
static void test_roundtrip(void)
{
    fx f;
    CHECK(fx_open(&f, DEAL) == 0);
    static const char *const recs[] = {
        "{\"id\":-9223372036854775808,\"title\":\"\\u65e5\\u672c \\\"q\\\"\",\"count\":2147483647,"
        "\"value\":-0.5,\"ratio\":1.5,\"won\":false,\"blob\":\"x\",\"org\":\"\",\"prob\":1e-300,"
        "\"pipeline\":0,\"flag\":true}",
        "{\"id\":9223372036854775807,\"title\":\"\",\"count\":-2147483648,\"value\":1e300,"
        "\"ratio\":-3.0,\"won\":true,\"blob\":\"\",\"org\":null,\"prob\":null,\"pipeline\":null,"
        "\"flag\":null}",
    };
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        json_t *j = fx_json(&f, recs[i]);
        CHECK(json_same(j, recs[i]));
        json_decref(j);
    }
    fx_close(&f);
}

int main(void)
{
    test_primitives();
    test_nulls_and_missing();
    test_defaults();
    test_wrong_types();
    test_numeric_strings();
    test_timestamps();
    test_nested();
    test_strings();
    test_unmapped();
    test_json_text_and_unions();
    test_schema_errors();
    test_union_holder();
    test_testcrm_items();
    test_roundtrip();
    return check_summary("avro_map");
}
