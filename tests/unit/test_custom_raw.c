/* test_custom_raw.c — the raw path's reading of a raw_member (custom_raw.c) on records the
 * simulators do not serve: Copper's custom_fields array and Pipedrive's custom_fields object with
 * duplicate, escaped, missing and odd entries, and a history with two active entries of one id.
 * Each record is encoded both ways as the engine publishes it (event bytes, dedupe hash, legacy
 * hash, misfits); where the raw path declines, the test says whether it was expected to. */
#include "check.h"
#include "connector.h"
#include "crm_time.h"
#include "custom_raw.h"
#include "embedded_schemas.h"
#include "event.h"
#include "table_schema.h"

static const table_def *table_of(const char *connector_name, const char *table)
{
    const connector *c = connector_find(connector_name);
    return c ? connector_table(c, table) : NULL;
}

static char *evolved_schema(const char *connector_name, const table_def *t, const cf_history *h)
{
    json_t *record = json_loads(embedded_schemas_find(t->schema_file), 0, NULL);
    json_array_append_new(json_object_get(record, "fields"),
                          cf_history_avro_field(h, connector_name, t->name));
    char *text = json_dumps(record, JSON_COMPACT);
    json_decref(record);
    return text;
}

static int encode_event(event_codec *c, const table_def *t, buf *out)
{
    char err[256];
    event_meta m = {"c", "acme", t->name, NULL, NULL, CRM_TIME_NONE, 1700000000000LL};
    buf_reset(out);
    return event_encode(c, 'c', &m, out, err, sizeof(err));
}

/* rec both ways; raw_expected: whether the raw path must take it (else it must decline). */
static void check_record(event_codec *codec, const table_def *t, const cf_history *h,
                         const char *rec_text, int raw_expected)
{
    char err[512];
    json_t *rec = json_loads(rec_text, 0, NULL);
    CHECK(rec != NULL);
    if (!rec)
        return;
    size_t misfits = 0;
    const char *field;
    json_t *prepared = table_schema_prepare_with(t->custom, h, rec, &misfits, &field);
    uint64_t h_dom = 0, h_raw = 0;
    buf dom, raw;
    buf_init(&dom);
    buf_init(&raw);
    int dom_ok = event_set_after(codec, prepared, &h_dom, err, sizeof(err)) == 0;
    uint64_t l_dom = event_legacy_hash(codec);
    dom_ok = dom_ok && encode_event(codec, t, &dom) == 0;
    CHECK(dom_ok || !raw_expected); /* what the DOM path refuses, the raw path must decline */
    const char *keys[2] = {t->primary_key, t->replication_key}, *next;
    amap_found found[2];
    custom_raw cr;
    const char *end = rec_text + strlen(rec_text);
    int took = custom_raw_begin(&cr, t->custom, h) == 0 &&
               event_set_after_raw_custom_at(codec, rec_text, end, &next, keys, found,
                                             keys[1] ? 2 : 1, &cr.hooks, &h_raw) == 0;
    CHECK(took == raw_expected);
    if (took != raw_expected)
        fprintf(stderr, "custom_raw: %s: raw path %s: %s\n", t->name, took ? "took it" : "declined",
                rec_text);
    if (took) {
        CHECK(h_raw == h_dom);
        CHECK(event_legacy_hash(codec) == l_dom);
        CHECK(cr.misfits == misfits);
        CHECK(encode_event(codec, t, &raw) == 0);
        int same = raw.len == dom.len && memcmp(raw.data, dom.data, raw.len) == 0;
        CHECK(same);
        if (!same)
            fprintf(stderr, "custom_raw: %s: event differs: %s\n", t->name, rec_text);
    }
    custom_raw_end(&cr);
    buf_free(&dom);
    buf_free(&raw);
    json_decref(prepared);
    json_decref(rec);
}

typedef struct fixture {
    const table_def *t;
    cf_history *h;
    event_codec *codec;
    char *schema;
} fixture;

static int fixture_open(fixture *f, const char *connector_name, const char *table, cf_desc *d,
                        size_t n)
{
    char err[512];
    memset(f, 0, sizeof(*f));
    f->t = table_of(connector_name, table);
    CHECK(f->t != NULL && f->t->custom != NULL);
    if (!f->t)
        return -1;
    f->h = cf_history_new();
    cf_history_merge(f->h, d, n);
    f->schema = evolved_schema(connector_name, f->t, f->h);
    f->codec = event_codec_new(connector_name, table, f->schema, err, sizeof(err));
    CHECK(f->codec != NULL);
    return f->codec ? 0 : -1;
}

static void fixture_close(fixture *f)
{
    event_codec_free(f->codec);
    free(f->schema);
    cf_history_free(f->h);
}

/* Copper: custom_fields [{custom_field_definition_id, value}], take() removes the first entry
 * of each field's id. */
static void test_copper_entries(void)
{
    cf_desc d[3];
    memset(d, 0, sizeof(d));
    cf_desc_set(&d[0], "11", "Size", CF_NUMBER, 0);
    cf_desc_set(&d[1], "12", "Note", CF_STRING, 0);
    cf_desc_set(&d[2], "0", "Zero", CF_STRING, 0);
    fixture f;
    if (fixture_open(&f, "copper", "people", d, 3) == 0) {
        const char *base = "{\"id\":1,\"name\":\"A\",\"date_modified\":1700000000,";
        const struct {
            const char *custom_fields;
            int raw;
        } cases[] = {
            {"[]", 1},
            {"null", 1},
            {"{\"a\":1}", 0}, /* not the schema's array: the DOM path refuses it too */
            {"[{\"custom_field_definition_id\":11,\"value\":3.5},"
             "{\"custom_field_definition_id\":12,\"value\":\"x\"}]",
             1},
            /* unknown definitions stay, in order; the second entry of an id stays too */
            {"[{\"custom_field_definition_id\":99,\"value\":1},"
             "{\"custom_field_definition_id\":11,\"value\":2},"
             "{\"custom_field_definition_id\":11,\"value\":7},"
             "{\"custom_field_definition_id\":98,\"value\":null}]",
             1},
            /* no value member: null; -0 is 0; a real or string id matches nothing (then the
             * entry stays, and the schema's long id needs a conversion: the DOM path's) */
            {"[{\"custom_field_definition_id\":12}]", 1},
            {"[{\"custom_field_definition_id\":-0,\"value\":\"z\"}]", 1},
            {"[{\"custom_field_definition_id\":11.0,\"value\":1}]", 0},
            {"[{\"custom_field_definition_id\":\"11\",\"value\":1}]", 0},
            {"[ { \"value\" : 1 , \"custom_field_definition_id\" : 11 } ,\n "
             "{\"custom_field_definition_id\" : 98} ]",
             1},
            {"[{\"custom_field_definition_id\":11,\"value\":\"not a number\"}]", 1},
            {"[{\"custom_field_definition_id\":11,\"value\":[1,2]}]", 1},
            /* what jansson would read differently: the DOM path decides */
            {"[{\"custom_field_definition_id\":11,\"value\":1,\"value\":2}]", 0},
            {"[{\"custom_field_definition_id\":11,\"custom_field_definition_id\":12}]", 0},
            {"[{\"custom_field_definition_id\":11,\"val\\u0075e\":1}]", 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char rec[1024];
            snprintf(rec, sizeof(rec), "%s\"custom_fields\":%s}", base, cases[i].custom_fields);
            check_record(f.codec, f.t, f.h, rec, cases[i].raw);
        }
        fixture_close(&f);
    }
    for (int i = 0; i < 3; i++)
        cf_desc_clear(&d[i]);
}

/* Two active history entries with one id (a field that changed type keeps its old entry
 * inactive, so this only arises from a restored history; take() is still asked for each). */
static void test_copper_history_twice(void)
{
    cf_desc d[1];
    memset(d, 0, sizeof(d));
    cf_desc_set(&d[0], "11", "Size", CF_NUMBER, 0);
    fixture f;
    if (fixture_open(&f, "copper", "people", d, 1) == 0) {
        check_record(f.codec, f.t, f.h,
                     "{\"id\":2,\"custom_fields\":[{\"custom_field_definition_id\":11,\"value\":"
                     "1},{\"custom_field_definition_id\":11,\"value\":2}]}",
                     1);
        fixture_close(&f);
    }
    cf_desc_clear(&d[0]);
}

/* Pipedrive v2: custom_fields {"<key>": value}, take() removes member[key]. */
static void test_pipedrive_keyed(void)
{
    cf_desc d[2];
    memset(d, 0, sizeof(d));
    cf_desc_set(&d[0], "abc", "Budget", CF_MONEY, 0);
    cf_desc_set(&d[1], "def", "Rank", CF_NUMBER, 0);
    fixture f;
    if (fixture_open(&f, "pipedrive", "deals", d, 2) == 0) {
        const char *base = "{\"id\":1,\"title\":\"T\",\"update_time\":\"2026-01-01T00:00:00Z\",";
        const struct {
            const char *custom_fields;
            int raw;
        } cases[] = {
            {"{}", 1},
            {"null", 1},
            {"[1,2]", 1},
            {"{\"abc\":{\"value\":5,\"currency\":\"EUR\"},\"def\":2.5,\"zzz\":\"kept\"}", 1},
            {"{ \"zzz\" : [1, {\"a\" : 2}] , \"def\" : null }", 1},
            {"{\"def\":\"two\"}", 1},
            {"{\"abc\":null,\"other\":1,\"another\":{}}", 1},
            {"{\"def\":1,\"def\":2}", 0},
            {"{\"d\\u0065f\":1}", 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char rec[1024];
            snprintf(rec, sizeof(rec), "%s\"custom_fields\":%s}", base, cases[i].custom_fields);
            check_record(f.codec, f.t, f.h, rec, cases[i].raw);
        }
        fixture_close(&f);
    }
    for (int i = 0; i < 2; i++)
        cf_desc_clear(&d[i]);
}

int main(void)
{
    test_copper_entries();
    test_copper_history_twice();
    test_pipedrive_keyed();
    return check_summary("custom_raw");
}
