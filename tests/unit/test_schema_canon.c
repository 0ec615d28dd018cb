/* test_schema_canon.c — Parsing Canonical Form, CRC-64-AVRO fingerprints, single-object header.
 *
 * The expected canonical forms and fingerprints were computed once with the Java reference
 * implementation, Apache Avro 1.11.3 from Maven Central (org.apache.avro:avro:1.11.3):
 *     Schema s = new Schema.Parser().parse(text);
 *     SchemaNormalization.toParsingForm(s);  SchemaNormalization.parsingFingerprint64(s);
 *     SchemaNormalization.fingerprint64(bytes);
 *     new BinaryMessageEncoder<GenericRecord>(GenericData.get(), s).encode(record);
 * and are hard-coded here (the Java program and jars are not part of the repository). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "schema_canon.h"
#include "util.h"

typedef struct vector {
    const char *name;
    const char *schema;
    const char *canonical;
    uint64_t fingerprint;
    /* 1 when re-reading the canonical form changes it: canonical form drops "namespace", so a
     * type in the null namespace nested in a namespaced record (Inner, E below) would inherit
     * the record's namespace when the canonical text is parsed again (Java does the same). */
    int not_reparseable;
} vector;

static const vector vectors[] = {
    {"primitive as string", "\"int\"", "\"int\"", 0x7275d51a3f395c8fULL, 0},
    {"primitive as object", "{\"type\": \"string\", \"avro.java.string\": \"String\"}",
     "\"string\"", 0x8f014872634503c7ULL, 0},
    {"logical type", "{\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}", "\"long\"",
     0xd054e14493f41db7ULL, 0},
    {"record with namespaces, enum, fixed, array, map, references, stripped attributes",
     "{\"type\": \"record\", \"name\": \"Deal\", \"namespace\": \"crm.pipedrive\", \"doc\": \"A "
     "deal "
     "\\u00e9\", \"aliases\": [\"D\"],\n"
     " \"fields\": [\n"
     "  {\"name\": \"id\", \"type\": \"long\", \"doc\": \"x\", \"default\": 0, \"order\": "
     "\"descending\"},\n"
     "  {\"name\": \"owner\", \"type\": {\"type\": \"record\", \"name\": \"Owner\", \"fields\": "
     "[{\"name\": \"id\", \"type\": \"long\"}]}},\n"
     "  {\"name\": \"status\", \"type\": {\"type\": \"enum\", \"name\": \"Status\", \"namespace\": "
     "\"crm.enums\", \"symbols\": [\"open\", \"won\", \"lost\"], \"default\": \"open\"}},\n"
     "  {\"name\": \"prev_owner\", \"type\": [\"null\", \"Owner\"], \"default\": null},\n"
     "  {\"name\": \"prev_status\", \"type\": [\"null\", \"crm.enums.Status\"], \"default\": "
     "null},\n"
     "  {\"name\": \"hash\", \"type\": {\"type\": \"fixed\", \"name\": \"x.y.Hash\", \"size\": "
     "16}},\n"
     "  {\"name\": \"h2\", \"type\": \"x.y.Hash\"},\n"
     "  {\"name\": \"tags\", \"type\": {\"type\": \"array\", \"items\": \"string\"}, \"default\": "
     "[]},\n"
     "  {\"name\": \"custom\", \"type\": {\"type\": \"map\", \"values\": [\"null\", "
     "\"string\"]}},\n"
     "  {\"name\": \"updated\", \"type\": {\"type\": \"long\", \"logicalType\": "
     "\"timestamp-millis\"}},\n"
     "  {\"name\": \"day\", \"type\": {\"type\": \"int\", \"logicalType\": \"date\"}},\n"
     "  {\"name\": \"inner\", \"type\": {\"type\": \"record\", \"name\": \"Inner\", \"namespace\": "
     "\"\", \"fields\": [\n"
     "     {\"name\": \"e\", \"type\": {\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"A\", "
     "\"B\"]}}]}},\n"
     "  {\"name\": \"inner_e\", \"type\": \"E\"}\n"
     " ]}",
     "{\"name\":\"crm.pipedrive.Deal\",\"type\":\"record\",\"fields\":[{\"name\":\"id\",\"type\":"
     "\"long\"},{\"name\":\"owner\",\"type\":{\"name\":\"crm.pipedrive.Owner\",\"type\":\"record\","
     "\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}},{\"name\":\"status\",\"type\":{\"name\":"
     "\"crm.enums.Status\",\"type\":\"enum\",\"symbols\":[\"open\",\"won\",\"lost\"]}},{\"name\":"
     "\"prev_owner\",\"type\":[\"null\",\"crm.pipedrive.Owner\"]},{\"name\":\"prev_status\","
     "\"type\":[\"null\",\"crm.enums.Status\"]},{\"name\":\"hash\",\"type\":{\"name\":\"x.y.Hash\","
     "\"type\":\"fixed\",\"size\":16}},{\"name\":\"h2\",\"type\":\"x.y.Hash\"},{\"name\":\"tags\","
     "\"type\":{\"type\":\"array\",\"items\":\"string\"}},{\"name\":\"custom\",\"type\":{\"type\":"
     "\"map\",\"values\":[\"null\",\"string\"]}},{\"name\":\"updated\",\"type\":\"long\"},"
     "{\"name\":\"day\",\"type\":\"int\"},{\"name\":\"inner\",\"type\":{\"name\":\"Inner\","
     "\"type\":\"record\",\"fields\":[{\"name\":\"e\",\"type\":{\"name\":\"E\",\"type\":\"enum\","
     "\"symbols\":[\"A\",\"B\"]}}]}},{\"name\":\"inner_e\",\"type\":\"E\"}]}",
     0x1ffb51006c337688ULL, 1},
    {"dotted name, inherited namespace, general union, recursion",
     "{\"type\": \"record\", \"name\": \"a.b.Rec\", \"namespace\": \"ignored.ns\", \"fields\": [\n"
     "  {\"name\": \"n\", \"type\": {\"type\": \"record\", \"name\": \"Nested\", \"fields\": [\n"
     "     {\"name\": \"x\", \"type\": [\"null\", \"double\", \"float\", \"boolean\", "
     "\"bytes\"]}]}},\n"
     "  {\"name\": \"m\", \"type\": {\"type\": \"map\", \"values\": {\"type\": \"array\", "
     "\"items\": \"Nested\"}}},\n"
     "  {\"name\": \"self\", \"type\": [\"null\", \"Rec\"], \"default\": null}\n"
     "]}",
     "{\"name\":\"a.b.Rec\",\"type\":\"record\",\"fields\":[{\"name\":\"n\",\"type\":{\"name\":"
     "\"a.b.Nested\",\"type\":\"record\",\"fields\":[{\"name\":\"x\",\"type\":[\"null\","
     "\"double\",\"float\",\"boolean\",\"bytes\"]}]}},{\"name\":\"m\",\"type\":{\"type\":\"map\","
     "\"values\":{\"type\":\"array\",\"items\":\"a.b.Nested\"}}},{\"name\":\"self\",\"type\":"
     "[\"null\",\"a.b.Rec\"]}]}",
     0xb9cc25c85136e67fULL, 0},
    {"top-level union",
     "[\"null\", \"string\", {\"type\": \"array\", \"items\": \"int\"}, {\"type\": \"enum\", "
     "\"name\": \"Color\", \"namespace\": \"pal\", \"symbols\": [\"RED\", \"GREEN\"]}]",
     "[\"null\",\"string\",{\"type\":\"array\",\"items\":\"int\"},{\"name\":\"pal.Color\","
     "\"type\":\"enum\",\"symbols\":[\"RED\",\"GREEN\"]}]",
     0x819714609e6d9cf9ULL, 0},
    {"fixed with aliases",
     "{\"type\": \"fixed\", \"size\": 8, \"name\": \"md5\", \"namespace\": \"org.x\", "
     "\"aliases\": [\"y\"]}",
     "{\"name\":\"org.x.md5\",\"type\":\"fixed\",\"size\":8}", 0xf860f4c1e77033c1ULL, 0},
    {"avro/testcrm/users.avsc",
     "{\n  \"type\": \"record\",\n  \"name\": \"User\",\n  \"namespace\": \"crmstream.testcrm\",\n"
     "  \"fields\": [\n    {\"name\": \"id\", \"type\": \"long\"},\n    {\"name\": \"email\", "
     "\"type\": \"string\"},\n    {\"name\": \"name\", \"type\": [\"null\", \"string\"], "
     "\"default\": null},\n    {\"name\": \"role\", \"type\": [\"null\", \"string\"], "
     "\"default\": null},\n    {\"name\": \"_unmapped\", \"type\": [\"null\", \"string\"], "
     "\"default\": null}\n  ]\n}\n",
     "{\"name\":\"crmstream.testcrm.User\",\"type\":\"record\",\"fields\":[{\"name\":\"id\","
     "\"type\":\"long\"},{\"name\":\"email\",\"type\":\"string\"},{\"name\":\"name\",\"type\":"
     "[\"null\",\"string\"]},{\"name\":\"role\",\"type\":[\"null\",\"string\"]},{\"name\":"
     "\"_unmapped\",\"type\":[\"null\",\"string\"]}]}",
     0xb18117a261bad934ULL, 0},
};

/* avro/testcrm/items.avsc (nested record in a union, doc attributes), same Java run. */
static const char *const ITEMS_CANONICAL =
    "{\"name\":\"crmstream.testcrm.Item\",\"type\":\"record\",\"fields\":[{\"name\":\"id\","
    "\"type\":\"string\"},{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"amount\",\"type\":"
    "[\"null\",\"double\"]},{\"name\":\"quantity\",\"type\":[\"null\",\"long\"]},{\"name\":"
    "\"active\",\"type\":[\"null\",\"boolean\"]},{\"name\":\"tags\",\"type\":{\"type\":\"array\","
    "\"items\":\"string\"}},{\"name\":\"owner\",\"type\":[\"null\",{\"name\":"
    "\"crmstream.testcrm.Owner\",\"type\":\"record\",\"fields\":[{\"name\":\"id\",\"type\":"
    "\"long\"},{\"name\":\"email\",\"type\":[\"null\",\"string\"]}]}]},{\"name\":\"note\","
    "\"type\":[\"null\",\"string\"]},{\"name\":\"created_at\",\"type\":\"long\"},{\"name\":"
    "\"updated_at\",\"type\":\"long\"},{\"name\":\"_unmapped\",\"type\":[\"null\",\"string\"]}]}";
static const uint64_t ITEMS_FINGERPRINT = 0xf64d592a3c9b6c6eULL;

static void test_vectors(void)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const vector *v = &vectors[i];
        json_error_t je;
        json_t *s = json_loads(v->schema, JSON_DECODE_ANY, &je);
        CHECK(s != NULL);
        if (!s) {
            fprintf(stderr, "%s: %s\n", v->name, je.text);
            continue;
        }
        buf out;
        buf_init(&out);
        CHECK(schema_canon_form(s, &out) == 0);
        CHECK_STR(out.data, v->canonical);
        CHECK(schema_canon_fingerprint64(out.data, out.len) == v->fingerprint);
        /* the canonical form is its own canonical form */
        if (v->not_reparseable) {
            buf_free(&out);
            json_decref(s);
            continue;
        }
        json_t *again = json_loads(out.data, JSON_DECODE_ANY, NULL);
        buf out2;
        buf_init(&out2);
        CHECK(again && schema_canon_form(again, &out2) == 0);
        CHECK_STR(out2.data, v->canonical);
        json_decref(again);
        buf_free(&out2);
        buf_free(&out);
        json_decref(s);
    }
}

static void test_items_file(void)
{
    json_error_t je;
    json_t *s = json_load_file("avro/testcrm/items.avsc", 0, &je);
    if (!s) {
        fprintf(stderr, "(skipping items.avsc: run from the repository root)\n");
        return;
    }
    buf out;
    buf_init(&out);
    CHECK(schema_canon_form(s, &out) == 0);
    CHECK_STR(out.data, ITEMS_CANONICAL);
    CHECK(schema_canon_fingerprint64(out.data, out.len) == ITEMS_FINGERPRINT);
    buf_free(&out);
    json_decref(s);
}

static void test_fingerprint(void)
{
    /* the spec's EMPTY constant, and Java's SchemaNormalization.fingerprint64 of "abc" */
    CHECK(schema_canon_fingerprint64("", 0) == 0xc15d213aa4d7a795ULL);
    CHECK(schema_canon_fingerprint64("abc", 3) == 0x1bef875ce2963804ULL);
    /* the table-driven code equals the bitwise definition of the spec on arbitrary data */
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 131 + 7);
    for (size_t len = 0; len <= sizeof(data); len += 97) {
        uint64_t fp = 0xc15d213aa4d7a795ULL;
        for (size_t i = 0; i < len; i++) {
            fp ^= data[i];
            for (int b = 0; b < 8; b++)
                fp = (fp >> 1) ^ (0xc15d213aa4d7a795ULL & (0 - (fp & 1)));
        }
        CHECK(schema_canon_fingerprint64(data, len) == fp);
    }
}

static void test_header(void)
{
    unsigned char h[10];
    schema_canon_single_object_header(0xb18117a261bad934ULL, h);
    /* Java BinaryMessageEncoder output for users.avsc and {id:42, email:"a@b.c", name:null,
     * role:"admin", _unmapped:null}:
     *   c30134d9ba61a21781b1 540a6140622e6300020a61646d696e00 */
    static const unsigned char want[10] = {0xc3, 0x01, 0x34, 0xd9, 0xba,
                                           0x61, 0xa2, 0x17, 0x81, 0xb1};
    CHECK(memcmp(h, want, sizeof(want)) == 0);
    schema_canon_single_object_header(0x0102030405060708ULL, h);
    static const unsigned char want2[10] = {0xc3, 0x01, 8, 7, 6, 5, 4, 3, 2, 1};
    CHECK(memcmp(h, want2, sizeof(want2)) == 0);
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "\"Unknown\"",                                        /* undefined name */
        "{\"type\":\"record\",\"name\":\"R\"}",               /* no fields */
        "{\"type\":\"record\",\"fields\":[]}",                /* no name */
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[1]}", /* bad symbol */
        "{\"type\":\"fixed\",\"name\":\"F\"}",                /* no size */
        "{\"type\":\"array\"}",                               /* no items */
        "{\"name\":\"x\"}",                                   /* no type */
        "42",                                                 /* not a schema */
        "[\"null\",{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\"}]}]",
        ("[{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]},"
         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"B\"]}]"), /* redefinition */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *s = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        buf out;
        buf_init(&out);
        CHECK(s && schema_canon_form(s, &out) == -1);
        buf_free(&out);
        json_decref(s);
    }
    /* size given as a string with a leading zero: [INTEGERS] */
    json_t *s = json_loads("{\"type\":\"fixed\",\"name\":\"F\",\"size\":\"016\"}", 0, NULL);
    buf out;
    buf_init(&out);
    CHECK(schema_canon_form(s, &out) == 0);
    CHECK_STR(out.data, "{\"name\":\"F\",\"type\":\"fixed\",\"size\":16}");
    buf_free(&out);
    json_decref(s);
    /* appends to what the buffer already holds */
    s = json_string("null");
    buf_init(&out);
    buf_append_str(&out, "x=");
    CHECK(schema_canon_form(s, &out) == 0);
    CHECK_STR(out.data, "x=\"null\"");
    buf_free(&out);
    json_decref(s);
}

int main(void)
{
    test_vectors();
    test_items_file();
    test_fingerprint();
    test_header();
    test_malformed();
    return check_summary("schema_canon");
}
