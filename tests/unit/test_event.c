/* test_event.c — change events: the envelope around a table schema, single-object framing,
 * decode back to the source JSON, delete events, and dedupe hashes that change exactly when the
 * record's content does. */
#include "check.h"
#include "crm_time.h"
#include "embedded_schemas.h"
#include "event.h"
#include "schema_canon.h"

static json_t *item(const char *name, double amount)
{
    return json_pack("{s:s, s:s, s:f, s:i, s:b, s:[s], s:{s:i, s:s}, s:n, s:s, s:s, s:{s:i}}", "id",
                     "itm_1", "name", name, "amount", amount, "quantity", 3, "active", 1, "tags",
                     "a", "owner", "id", 7, "email", "o@example.com", "note", "created_at",
                     "2024-01-02T03:04:05.006Z", "updated_at", "2024-01-03 00:00:00", "x_extra",
                     "k", 1);
}

/* A deep copy of v whose objects list their keys in reverse order (jansson keeps insertion
 * order). */
static json_t *reversed_keys(const json_t *v)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(a, reversed_keys(e));
        return a;
    }
    if (!json_is_object(v))
        return json_deep_copy(v);
    const char *keys[64];
    size_t n = 0;
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e) if (n < 64) keys[n++] = k;
    json_t *o = json_object();
    while (n > 0) {
        n--;
        json_object_set_new(o, keys[n], reversed_keys(json_object_get(v, keys[n])));
    }
    return o;
}

int main(void)
{
    char err[512] = "";
    const char *schema = embedded_schemas_find("testcrm/items.avsc");
    CHECK(schema != NULL);
    event_codec *c = event_codec_new("testcrm", "items", schema, err, sizeof(err));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return check_summary("event");
    }
    CHECK_CONTAINS(event_codec_schema(c), "\"name\":\"Envelope\"");
    CHECK_CONTAINS(event_codec_schema(c), "crmstream.testcrm.items");

    json_t *rec = item("Widget", 1.5);
    uint64_t h1, h2, h3;
    CHECK(event_set_after(c, rec, &h1, err, sizeof(err)) == 0);
    event_meta m = {
        "testcrm",       "acme",         "items", "updated_at", "2024-01-03T00:00:00.000Z",
        1704240000000LL, 1700000000000LL};
    buf out;
    buf_init(&out);
    CHECK(event_encode(c, 'c', &m, &out, err, sizeof(err)) == 0);
    CHECK((unsigned char)out.data[0] == 0xC3 && (unsigned char)out.data[1] == 0x01);
    unsigned char header[10];
    schema_canon_single_object_header(event_codec_fingerprint(c), header);
    CHECK(memcmp(out.data, header, 10) == 0);

    json_t *ev = event_decode(c, out.data, out.len, err, sizeof(err));
    CHECK(ev != NULL);
    CHECK_STR(json_string_value(json_object_get(ev, "op")), "c");
    CHECK(json_is_null(json_object_get(ev, "before")));
    json_t *after = json_object_get(ev, "after");
    CHECK_STR(json_string_value(json_object_get(after, "name")), "Widget");
    CHECK(json_real_value(json_object_get(after, "amount")) == 1.5);
    CHECK_STR(json_string_value(json_object_get(after, "updated_at")), "2024-01-03T00:00:00.000Z");
    CHECK(json_integer_value(json_object_get(json_object_get(after, "x_extra"), "k")) == 1);
    json_t *src = json_object_get(ev, "source");
    CHECK_STR(json_string_value(json_object_get(src, "account")), "acme");
    CHECK(json_integer_value(json_object_get(src, "ts_ms")) == 1704240000000LL);
    CHECK(json_integer_value(json_object_get(ev, "ts_ms")) == 1700000000000LL);
    json_decref(ev);

    /* Same content -> same hash; any change -> another hash; key order does not matter: the
     * copy lists every key (nested ones too) in reverse order, and its text differs. */
    json_t *same = reversed_keys(rec);
    char *rec_text = json_dumps(rec, JSON_COMPACT), *same_text = json_dumps(same, JSON_COMPACT);
    CHECK(rec_text && same_text && strcmp(rec_text, same_text) != 0);
    CHECK(event_set_after(c, same, &h2, err, sizeof(err)) == 0);
    CHECK(h1 == h2);
    uint64_t raw2 = 0;
    CHECK(event_set_after_raw(c, same_text, strlen(same_text), &raw2) == 0);
    CHECK(raw2 == h1);
    free(rec_text);
    free(same_text);
    json_t *changed = item("Widget", 1.51);
    CHECK(event_set_after(c, changed, &h3, err, sizeof(err)) == 0);
    CHECK(h1 != h3);

    /* The persisted hashes never change: content_hash and the legacy hash64 are pinned; new
     * hashes never carry the legacy bit; the raw path hashes (new and legacy) like the DOM. */
    CHECK(content_hash("crmstream content hash", 22) == 0x501c8befcca7ea21ULL);
    CHECK(content_hash("", 0) == 0x1a64a9ff5526a048ULL);
    CHECK(hash64("crmstream content hash", 22) == 0x3a62d70ccd600e04ULL);
    CHECK((h1 & CONTENT_HASH_LEGACY) == 0 && (h3 & CONTENT_HASH_LEGACY) == 0);
    uint64_t legacy3 = event_legacy_hash(c), raw3 = 0;
    CHECK((legacy3 & CONTENT_HASH_LEGACY) && legacy3 != (h3 | CONTENT_HASH_LEGACY));
    char *changed_text = json_dumps(changed, JSON_COMPACT);
    CHECK(event_set_after_raw(c, changed_text, strlen(changed_text), &raw3) == 0);
    CHECK(raw3 == h3);
    CHECK(event_legacy_hash(c) == legacy3);
    free(changed_text);

    /* A delete: before image, no after. */
    CHECK(event_set_before(c, rec, err, sizeof(err)) == 0);
    buf_reset(&out);
    CHECK(event_encode(c, 'd', &m, &out, err, sizeof(err)) == 0);
    ev = event_decode(c, out.data, out.len, err, sizeof(err));
    CHECK_STR(json_string_value(json_object_get(ev, "op")), "d");
    CHECK(json_is_null(json_object_get(ev, "after")));
    CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "before"), "id")), "itm_1");
    json_decref(ev);

    /* A record that does not fit: a clear error naming the field, nothing encoded. */
    json_t *bad = item("Widget", 1.5);
    json_object_set_new(bad, "quantity", json_string("many"));
    CHECK(event_set_after(c, bad, &h3, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "quantity");

    /* Foreign bytes are refused. */
    CHECK(event_decode(c, "\x00\x01\x02", 3, err, sizeof(err)) == NULL);
    /* lengths in a value read back from Kafka are checked before avro-c allocates them (issue 15
     * item 14): no before image, the after branch, then an id claiming 2 GiB */
    buf huge;
    buf_init(&huge);
    buf_append(&huge, header, 10);
    buf_append(&huge,
               "\x00\x02\xfe\xff\xff\xff\x0f"
               "abc",
               10);
    CHECK(event_decode(c, huge.data, huge.len, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "string length 2147483647");
    uint64_t hh, hl;
    CHECK(event_after_hash(c, huge.data, huge.len, &hh, &hl, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "string length 2147483647");
    buf_free(&huge);

    json_decref(rec);
    json_decref(same);
    json_decref(changed);
    json_decref(bad);
    buf_free(&out);
    event_codec_free(c);
    return check_summary("event");
}
