/* test_custom_fields.c — custom field history: names, evolution rules, persistence, the Avro
 * record (compiled by avro-c and by our mapping, values filled and read back) and coercion with
 * misfits. */
#include <avro.h>
#include <stdlib.h>
#include <string.h>

#include "amap.h"
#include "check.h"
#include "custom_fields.h"
#include "event.h"

static cf_desc desc(const char *id, const char *label, cf_kind kind, int multi)
{
    cf_desc d;
    cf_desc_set(&d, id, label, kind, multi);
    return d;
}

static void clear_all(cf_desc *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cf_desc_clear(&d[i]);
}

static json_t *field_named(const json_t *custom_field, const char *name)
{
    json_t *rec = json_array_get(json_object_get(custom_field, "type"), 1);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(rec, "fields"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            return f;
    }
    return NULL;
}

static void test_names_and_evolution(void)
{
    cf_history *h = cf_history_new();
    cf_desc v1[3] = {desc("cf_A1", "Company Size", CF_NUMBER, 0),
                     desc("cf_B2", "Company size!", CF_STRING, 0), /* same slug: suffixed */
                     desc("cf_C3", "1st contact", CF_DATE, 0)};
    CHECK(cf_history_merge(h, v1, 3) == (CF_CHANGED_SCHEMA | CF_CHANGED_STATE));
    CHECK(cf_history_count(h) == 3);
    CHECK_STR(cf_history_name(h, 0), "company_size");
    CHECK_STR(cf_history_name(h, 1), "company_size_cf_b2");
    CHECK_STR(cf_history_name(h, 2), "f_1st_contact");
    CHECK(cf_history_merge(h, v1, 3) == 0); /* nothing changed */

    /* renamed label: same name, the doc follows */
    cf_desc v2[3] = {desc("cf_A1", "Headcount", CF_NUMBER, 0),
                     desc("cf_B2", "Company size!", CF_STRING, 0),
                     desc("cf_C3", "1st contact", CF_DATETIME, 0)}; /* retyped */
    int changed = cf_history_merge(h, v2, 3);
    CHECK(changed & CF_CHANGED_SCHEMA);
    CHECK_STR(cf_history_name(h, 0), "company_size");
    CHECK(cf_history_count(h) == 4);
    CHECK_STR(cf_history_name(h, 3), "f_1st_contact_datetime");
    CHECK(!cf_history_active(h, 2) && cf_history_active(h, 3));
    json_t *f = cf_history_avro_field(h, "close", "leads");
    CHECK_STR(json_string_value(json_object_get(field_named(f, "company_size"), "doc")),
              "Headcount");
    CHECK(json_is_false(json_object_get(field_named(f, "f_1st_contact"), "crm_active")));
    json_decref(f);

    /* removed, then back with its first type: the old entry is reactivated, no new name */
    changed = cf_history_merge(h, v2, 2);
    CHECK(changed & CF_CHANGED_SCHEMA);
    CHECK(!cf_history_active(h, 3));
    cf_desc v3[1] = {desc("cf_C3", "1st contact", CF_DATE, 0)};
    cf_history_merge(h, v3, 1);
    CHECK(cf_history_count(h) == 4 && cf_history_active(h, 2) && !cf_history_active(h, 0));

    /* a partial view (another endpoint unreadable) adds fields but deactivates none */
    {
        cf_history *p = cf_history_new();
        cf_desc both[2] = {desc("cf_P1", "Own", CF_STRING, 0),
                           desc("cf_P2", "Shared", CF_STRING, 0)};
        cf_history_merge(p, both, 2);
        cf_desc own[1] = {desc("cf_P1", "Own", CF_STRING, 0)};
        CHECK(cf_history_merge_some(p, own, 1) == 0);
        CHECK(cf_history_active(p, 0) && cf_history_active(p, 1));
        cf_desc added[1] = {desc("cf_P3", "New", CF_NUMBER, 0)};
        CHECK(cf_history_merge_some(p, added, 1) == (CF_CHANGED_SCHEMA | CF_CHANGED_STATE));
        CHECK(cf_history_count(p) == 3 && cf_history_active(p, 1) && cf_history_active(p, 2));
        CHECK(cf_history_merge(p, own, 1) & CF_CHANGED_SCHEMA); /* a complete view does */
        CHECK(!cf_history_active(p, 1) && !cf_history_active(p, 2));
        for (int i = 0; i < 2; i++)
            cf_desc_clear(&both[i]);
        cf_desc_clear(&own[0]);
        cf_desc_clear(&added[0]);
        cf_history_free(p);
    }

    /* options change: state, not schema */
    cf_desc v4[1] = {desc("cf_C3", "1st contact", CF_DATE, 0)};
    cf_desc_add_option(&v4[0], "1", "x");
    CHECK(cf_history_merge(h, v4, 1) == CF_CHANGED_STATE);

    /* persistence round trip */
    char *text = cf_history_dump(h);
    cf_history *back = cf_history_new();
    char err[256];
    CHECK(cf_history_parse(back, text, strlen(text), err, sizeof(err)) == 0);
    char *again = cf_history_dump(back);
    CHECK_STR(again, text);
    CHECK(cf_history_parse(back, "{\"v\":99,\"fields\":[]}", 20, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "newer crmstream");
    CHECK(cf_history_parse(back, "{oops", 5, err, sizeof(err)) == -1);
    free(text);
    free(again);
    cf_history_free(back);
    clear_all(v1, 3);
    clear_all(v2, 3);
    clear_all(v3, 1);
    clear_all(v4, 1);
    cf_history_free(h);
}

/* The record schema of a table with every kind of custom field, through event_codec (which
 * compiles it with avro-c and our mapping) and back. */
static void test_avro_and_values(void)
{
    cf_history *h = cf_history_new();
    cf_desc d[8] = {desc("1", "Text", CF_STRING, 0),   desc("2", "Amount", CF_NUMBER, 0),
                    desc("3", "Flag", CF_BOOLEAN, 0),  desc("4", "Day", CF_DATE, 0),
                    desc("5", "When", CF_DATETIME, 0), desc("6", "Budget", CF_MONEY, 0),
                    desc("7", "Tier", CF_ENUM, 0),     desc("8", "Regions", CF_ENUM, 1)};
    cf_desc_add_option(&d[6], "11", "Gold");
    cf_desc_add_option(&d[6], "12", "Silver");
    cf_desc_add_option(&d[7], "21", "EMEA");
    cf_desc_add_option(&d[7], "22", "APAC");
    d[5].currency = strdup("USD");
    cf_history_merge(h, d, 8);
    cf_desc second_money = desc("9", "Cost", CF_MONEY, 0); /* Money is defined once, reused */
    cf_desc all[9];
    memcpy(all, d, sizeof(d));
    all[8] = second_money;
    cf_history_merge(h, all, 9);

    json_t *record = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "type", "record", "name", "Item",
                               "fields", "name", "id", "type", "string");
    json_array_append_new(json_object_get(record, "fields"),
                          cf_history_avro_field(h, "testcrm", "items"));
    char *schema = json_dumps(record, JSON_COMPACT);
    char err[512];
    event_codec *c = event_codec_new("testcrm", "items", schema, err, sizeof(err));
    CHECK(c != NULL);
    if (!c)
        fprintf(stderr, "%s\n%s\n", err, schema);

    json_t *raw[9] = {json_integer(42),
                      json_string("3.5"),
                      json_string("true"),
                      json_integer(1515744000),
                      json_string("2026-01-02T03:04:05Z"),
                      json_real(99.5),
                      json_string("12"),
                      json_string("21,22"),
                      json_pack("{s:s, s:s}", "value", "7", "currency", "EUR")};
    size_t misfits = 99;
    const char *which = NULL;
    json_t *v = cf_history_values(h, raw, &misfits, &which);
    CHECK(misfits == 0 && which == NULL);
    CHECK_STR(json_string_value(json_object_get(v, "text")), "42");
    CHECK(json_real_value(json_object_get(v, "amount")) == 3.5);
    CHECK(json_is_true(json_object_get(v, "flag")));
    CHECK_STR(json_string_value(json_object_get(v, "day")), "2018-01-12");
    CHECK_STR(json_string_value(json_object_get(v, "tier")), "Silver");
    CHECK_STR(json_string_value(json_array_get(json_object_get(v, "regions"), 1)), "APAC");
    CHECK_STR(json_string_value(json_object_get(json_object_get(v, "budget"), "currency")), "USD");
    CHECK_STR(json_string_value(json_object_get(json_object_get(v, "cost"), "currency")), "EUR");

    /* through Avro and back */
    json_t *rec = json_pack("{s:s, s:O}", "id", "itm_1", CF_JSON_KEY, v);
    uint64_t hash = 0;
    if (c) {
        CHECK(event_set_after(c, rec, &hash, err, sizeof(err)) == 0);
        buf out;
        buf_init(&out);
        event_meta m = {"testcrm", "acme", "items", NULL, NULL, INT64_MIN, 1};
        CHECK(event_encode(c, 'c', &m, &out, err, sizeof(err)) == 0);
        json_t *ev = event_decode(c, out.data, out.len, err, sizeof(err));
        json_t *back = json_object_get(json_object_get(ev, "after"), CF_JSON_KEY);
        CHECK(json_integer_value(json_object_get(back, "day")) == 17543 ||
              json_is_string(json_object_get(back, "day")));
        CHECK(json_real_value(json_object_get(json_object_get(back, "cost"), "amount")) == 7.0);
        CHECK_STR(json_string_value(json_object_get(back, "tier")), "Silver");
        json_decref(ev);
        buf_free(&out);

        /* the dedupe hash ignores a field merely added to the schema */
        cf_desc more[10];
        memcpy(more, all, sizeof(all));
        more[9] = desc("10", "New one", CF_STRING, 0);
        cf_history_merge(h, more, 10);
        json_t *rec2 = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "type", "record", "name", "Item",
                                 "fields", "name", "id", "type", "string");
        json_array_append_new(json_object_get(rec2, "fields"),
                              cf_history_avro_field(h, "testcrm", "items"));
        char *schema2 = json_dumps(rec2, JSON_COMPACT);
        event_codec *c2 = event_codec_new("testcrm", "items", schema2, err, sizeof(err));
        uint64_t hash2 = 1;
        CHECK(c2 && event_set_after(c2, rec, &hash2, err, sizeof(err)) == 0);
        if (!c2)
            fprintf(stderr, "%s\n", err);
        CHECK(hash2 == hash);
        CHECK(c2 && event_codec_fingerprint(c2) != event_codec_fingerprint(c));
        event_codec_free(c2);
        free(schema2);
        json_decref(rec2);
        cf_desc_clear(&more[9]);
    }
    json_decref(rec);
    json_decref(v);

    /* misfits: kept as JSON text, counted, the first one named */
    json_t *bad[10] = {json_pack("{}"),
                       json_string("12 apples"),
                       json_string("yes"),
                       json_string("not a date"),
                       NULL,
                       json_true(),
                       json_string("99"),
                       json_pack("[s, i]", "21", 99),
                       NULL,
                       NULL};
    v = cf_history_values(h, bad, &misfits, &which);
    CHECK(misfits == 7);
    CHECK_STR(which, "text");
    json_t *inv = json_object_get(v, "_invalid");
    CHECK_STR(json_string_value(json_object_get(inv, "amount")), "\"12 apples\"");
    CHECK_STR(json_string_value(json_object_get(inv, "regions")), "[\"21\",99]");
    CHECK(json_object_get(v, "amount") == NULL);
    json_decref(v);

    for (int i = 0; i < 10; i++) {
        if (i < 9)
            json_decref(raw[i]);
        json_decref(bad[i]);
    }
    event_codec_free(c);
    free(schema);
    json_decref(record);
    clear_all(all, 9);
    cf_history_free(h);
}

int main(void)
{
    test_names_and_evolution();
    test_avro_and_values();
    return check_summary("custom_fields");
}
