/* event.c — builds each table's envelope schema and encodes/decodes change events with avro-c. */
#include "event.h"

#include <avro.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abounds.h"
#include "aenc.h"
#include "amap.h"
#include "crm_time.h"
#include "custom_fields.h"
#include "json_writer.h"
#include "schema_canon.h"

#define CRMSTREAM_EVENT_VERSION "1"

/* Envelope field indexes, in the order event_envelope_json() declares them. */
enum { F_BEFORE = 0, F_AFTER, F_SOURCE, F_OP, F_TS };
enum { S_VERSION = 0, S_CONNECTOR, S_ACCOUNT, S_TABLE, S_RKEY, S_RVALUE, S_TS };

struct event_codec {
    char *schema_text;
    uint64_t fingerprint;
    unsigned char header[10];
    size_t header_len; /* 10: single-object encoding; 5: Confluent wire format */
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    amap_plan *map;
    avro_writer_t writer;
    char *scratch;
    size_t scratch_cap;
    int custom_idx;  /* index of the typed custom fields record in the table record, or -1 */
    int custom_last; /* 1: that record is the table record's last field */
    buf raw_after;   /* the raw path: the after record's Avro bytes (event_set_after_raw) */
    int raw_ready;   /* 1: the next event_encode of c/r/u writes the envelope around raw_after */
    uint64_t legacy_hash; /* the DOM path's after image under the legacy hash (0: raw path) */
    /* The raw path's source prefix (version, connector, account, table, replication_key)
     * encoded once: those strings are the table's constant names, so the cache is keyed by
     * their addresses and rebuilt when a caller passes others. */
    buf source_prefix;
    const char *prefix_of[4];
    /* The raw path's located members (the primary and replication keys) resolved against the
     * plan, kept while the caller passes the same key strings (same addresses). */
    amap_keys located;
    int located_ready;
};

static json_t *source_schema(void)
{
    return json_pack("{s:s, s:s, s:s, s:[{s:s,s:s}, {s:s,s:s}, {s:s,s:s}, {s:s,s:s},"
                     " {s:s,s:[s,s],s:n}, {s:s,s:[s,s],s:n}, {s:s,s:[s,s],s:n}]}",
                     "type", "record", "name", "Source", "namespace", "crmstream", "fields", "name",
                     "version", "type", "string", "name", "connector", "type", "string", "name",
                     "account", "type", "string", "name", "table", "type", "string", "name",
                     "replication_key", "type", "null", "string", "default", "name",
                     "replication_value", "type", "null", "string", "default", "name", "ts_ms",
                     "type", "null", "long", "default");
}

static json_t *envelope_json(const char *connector, const char *table, json_t *record, char *err,
                             size_t errlen)
{
    char ns[256];
    snprintf(ns, sizeof(ns), "crmstream.%s.%s", connector, table);
    const char *rname = json_string_value(json_object_get(record, "name"));
    char *full =
        rname ? schema_canon_full_name(rname, json_object_get(record, "namespace"), ns) : NULL;
    if (!full) {
        snprintf(err, errlen, "schema of %s.%s: the top-level record has no name", connector,
                 table);
        return NULL;
    }
    json_t *env = json_pack("{s:s, s:s, s:s, s:[{s:s, s:[s,O], s:n}, {s:s, s:[s,s], s:n},"
                            " {s:s, s:o}, {s:s, s:s}, {s:s, s:s}]}",
                            "type", "record", "name", "Envelope", "namespace", ns, "fields", "name",
                            "before", "type", "null", record, "default", "name", "after", "type",
                            "null", full, "default", "name", "source", "type", source_schema(),
                            "name", "op", "type", "string", "name", "ts_ms", "type", "long");
    free(full);
    if (!env)
        snprintf(err, errlen, "schema of %s.%s: cannot build the envelope", connector, table);
    return env;
}

/* The typed custom fields record (custom_fields.h) is recognised by its JSON key. */
static int custom_field_index(const json_t *record)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(record, "fields"), i, f)
    {
        const char *key = json_string_value(json_object_get(f, "json"));
        if (key && strcmp(key, CF_JSON_KEY) == 0)
            return (int)i;
    }
    return -1;
}

event_codec *event_codec_new(const char *connector, const char *table, const char *schema_json,
                             char *err, size_t errlen)
{
    json_error_t je;
    json_t *record = json_loads(schema_json, 0, &je);
    if (!record || !json_is_object(record)) {
        snprintf(err, errlen, "schema of %s.%s: invalid JSON at line %d: %s", connector, table,
                 je.line, je.text);
        json_decref(record);
        return NULL;
    }
    event_codec *c = xcalloc(1, sizeof(*c));
    c->custom_idx = custom_field_index(record);
    c->custom_last = c->custom_idx >= 0 && (size_t)c->custom_idx + 1 ==
                                               json_array_size(json_object_get(record, "fields"));
    buf_init(&c->raw_after);
    buf_init(&c->source_prefix);
    json_t *env = envelope_json(connector, table, record, err, errlen);
    if (!env)
        goto fail;
    c->map = amap_new(record, err, errlen);
    if (!c->map)
        goto fail;
    c->schema_text = json_dumps(env, JSON_COMPACT);
    buf canon;
    buf_init(&canon);
    if (!c->schema_text || schema_canon_form(env, &canon)) {
        snprintf(err, errlen, "schema of %s.%s: cannot compute canonical form", connector, table);
        buf_free(&canon);
        goto fail;
    }
    c->fingerprint = schema_canon_fingerprint64(canon.data, canon.len);
    schema_canon_single_object_header(c->fingerprint, c->header);
    c->header_len = 10;
    buf_free(&canon);
    if (avro_schema_from_json_length(c->schema_text, strlen(c->schema_text), &c->schema)) {
        snprintf(err, errlen, "schema of %s.%s: %s", connector, table, avro_strerror());
        goto fail;
    }
    c->iface = avro_generic_class_from_schema(c->schema);
    if (!c->iface || avro_generic_value_new(c->iface, &c->value)) {
        snprintf(err, errlen, "schema of %s.%s: %s", connector, table, avro_strerror());
        if (c->iface) {
            avro_value_iface_decref(c->iface);
            c->iface = NULL;
        }
        goto fail;
    }
    c->scratch_cap = 64 * 1024;
    c->scratch = xmalloc(c->scratch_cap);
    c->writer = avro_writer_memory(c->scratch, (int64_t)c->scratch_cap);
    json_decref(env);
    json_decref(record);
    return c;
fail:
    json_decref(env);
    json_decref(record);
    event_codec_free(c);
    return NULL;
}

event_codec *event_codec_from_envelope(const char *envelope_json, size_t len, char *err,
                                       size_t errlen)
{
    json_error_t je;
    json_t *env = json_loadb(envelope_json, len, 0, &je);
    const char *ns = json_string_value(json_object_get(env, "namespace"));
    json_t *before = json_array_get(json_object_get(env, "fields"), 0);
    json_t *record = json_array_get(json_object_get(before, "type"), 1);
    char connector[128], table[128];
    if (!env || !ns || !json_is_object(record) ||
        sscanf(ns, "crmstream.%127[^.].%127s", connector, table) != 2) {
        snprintf(err, errlen, "not a crmstream envelope schema%s%s", env ? "" : ": ",
                 env ? "" : je.text);
        json_decref(env);
        return NULL;
    }
    char *text = json_dumps(record, JSON_COMPACT);
    event_codec *c = text ? event_codec_new(connector, table, text, err, errlen) : NULL;
    free(text);
    json_decref(env);
    return c;
}

void event_codec_free(event_codec *c)
{
    if (!c)
        return;
    if (c->writer)
        avro_writer_free(c->writer);
    if (c->iface) {
        avro_value_decref(&c->value);
        avro_value_iface_decref(c->iface);
    }
    if (c->schema)
        avro_schema_decref(c->schema);
    amap_free(c->map);
    buf_free(&c->raw_after);
    buf_free(&c->source_prefix);
    free(c->scratch);
    free(c->schema_text);
    free(c);
}

void event_codec_use_registry_id(event_codec *c, uint32_t id)
{
    c->header[0] = 0; /* Confluent magic byte, then the schema id big-endian */
    c->header[1] = (unsigned char)(id >> 24);
    c->header[2] = (unsigned char)(id >> 16);
    c->header[3] = (unsigned char)(id >> 8);
    c->header[4] = (unsigned char)id;
    c->header_len = 5;
}

const char *event_codec_schema(const event_codec *c)
{
    return c->schema_text;
}

uint64_t event_codec_fingerprint(const event_codec *c)
{
    return c->fingerprint;
}

/* Writes v into the scratch buffer, growing it as needed; returns the length or -1. */
static int64_t write_scratch(event_codec *c, avro_value_t *v, size_t offset)
{
    for (;;) {
        avro_writer_memory_set_dest(c->writer, c->scratch + offset,
                                    (int64_t)(c->scratch_cap - offset));
        if (avro_value_write(c->writer, v) == 0)
            return avro_writer_tell(c->writer);
        if (c->scratch_cap > 256 * 1024 * 1024)
            return -1;
        c->scratch_cap *= 2;
        c->scratch = xrealloc(c->scratch, c->scratch_cap);
    }
}

static int image_branch(event_codec *c, int field, int present, avro_value_t *branch, char *err,
                        size_t errlen)
{
    avro_value_t f;
    if (avro_value_get_by_index(&c->value, (size_t)field, &f, NULL) ||
        avro_value_set_branch(&f, present ? 1 : 0, branch)) {
        snprintf(err, errlen, "envelope: %s", avro_strerror());
        return -1;
    }
    if (!present && avro_value_set_null(branch)) {
        snprintf(err, errlen, "envelope: %s", avro_strerror());
        return -1;
    }
    return 0;
}

static void mix_custom_hash(event_codec *c, const void *other, size_t len, const json_t *custom,
                            uint64_t *hash);

/* The dedupe hash of a record with typed custom fields must not change when a field is merely
 * added to (or deactivated in) the schema, or every record would be republished at each
 * definition change: the record's other fields are hashed by their Avro encoding, the custom
 * values by their canonical JSON (sorted keys, absent values omitted). */
static int hash_with_custom(event_codec *c, avro_value_t *rv, const json_t *custom, uint64_t *hash,
                            char *err, size_t errlen)
{
    size_t n_fields = 0, off = 0;
    avro_value_get_size(rv, &n_fields);
    for (size_t i = 0; i < n_fields; i++) {
        avro_value_t f;
        if ((int)i == c->custom_idx)
            continue;
        int64_t n = avro_value_get_by_index(rv, i, &f, NULL) ? -1 : write_scratch(c, &f, off);
        if (n < 0) {
            snprintf(err, errlen, "record too large to encode");
            return -1;
        }
        off += (size_t)n;
    }
    mix_custom_hash(c, c->scratch, off, custom, hash);
    return 0;
}

/* The hash of a record with typed custom fields: `other` is the encoding of its other fields,
 * in order (see hash_with_custom); the legacy hash is kept in c. */
static void mix_custom_hash(event_codec *c, const void *other, size_t len, const json_t *custom,
                            uint64_t *hash)
{
    uint64_t h = content_hash(other, len), legacy = hash64(other, len);
    if (json_object_size(custom) > 0) { /* json_dumps(COMPACT | SORT_KEYS)'s text */
        char stack[2048];
        jw w;
        jw_init(&w, stack, sizeof(stack));
        jw_value_sorted(&w, custom);
        h ^= content_hash(w.p, w.len) * 0x9E3779B97F4A7C15ULL;
        legacy ^= hash64(w.p, w.len) * 0x9E3779B97F4A7C15ULL;
        jw_free(&w);
    }
    *hash = h & ~CONTENT_HASH_LEGACY;
    c->legacy_hash = legacy | CONTENT_HASH_LEGACY;
}

int event_set_after(event_codec *c, const json_t *rec, uint64_t *hash, char *err, size_t errlen)
{
    avro_value_t rv, none;
    c->raw_ready = 0;
    if (image_branch(c, F_BEFORE, 0, &none, err, errlen) ||
        image_branch(c, F_AFTER, 1, &rv, err, errlen) || amap_fill(c->map, rec, &rv, err, errlen))
        return -1;
    if (c->custom_idx >= 0)
        return hash_with_custom(c, &rv, json_object_get(rec, CF_JSON_KEY), hash, err, errlen);
    int64_t n = write_scratch(c, &rv, 0);
    if (n < 0) {
        snprintf(err, errlen, "record too large to encode");
        return -1;
    }
    *hash = content_hash(c->scratch, (size_t)n);
    c->legacy_hash = hash64(c->scratch, (size_t)n) | CONTENT_HASH_LEGACY;
    return 0;
}

uint64_t event_legacy_hash(const event_codec *c)
{
    if (c->raw_ready && c->custom_idx < 0)
        return hash64(c->raw_after.data, c->raw_after.len) | CONTENT_HASH_LEGACY;
    return c->legacy_hash;
}

int event_set_before(event_codec *c, const json_t *rec, char *err, size_t errlen)
{
    avro_value_t rv;
    c->raw_ready = 0;
    if (image_branch(c, F_BEFORE, rec != NULL, &rv, err, errlen))
        return -1;
    return rec ? amap_fill(c->map, rec, &rv, err, errlen) : 0;
}

static int set_opt_string(avro_value_t *rec, int idx, const char *s)
{
    avro_value_t f, b;
    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL) ||
        avro_value_set_branch(&f, s ? 1 : 0, &b))
        return -1;
    return s ? avro_value_set_string(&b, s) : avro_value_set_null(&b);
}

static int set_string(avro_value_t *rec, int idx, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_index(rec, (size_t)idx, &f, NULL) || avro_value_set_string(&f, s);
}

static int fill_source(avro_value_t *src, const event_meta *m)
{
    avro_value_t f, b;
    if (set_string(src, S_VERSION, CRMSTREAM_EVENT_VERSION) ||
        set_string(src, S_CONNECTOR, m->connector) || set_string(src, S_ACCOUNT, m->account) ||
        set_string(src, S_TABLE, m->table) || set_opt_string(src, S_RKEY, m->replication_key) ||
        set_opt_string(src, S_RVALUE, m->replication_value))
        return -1;
    int has_ts = m->source_ts_ms != CRM_TIME_NONE;
    if (avro_value_get_by_index(src, S_TS, &f, NULL) || avro_value_set_branch(&f, has_ts, &b))
        return -1;
    return has_ts ? avro_value_set_long(&b, m->source_ts_ms) : avro_value_set_null(&b);
}

static int locates(const event_codec *c, const char *const *keys, size_t n)
{
    if (!c->located_ready || c->located.n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (c->located.keys[i] != keys[i])
            return 0;
    return 1;
}

/* The members the raw path locates, resolved against the plan unless they already are; -1
 * when they cannot be. */
static int resolve_located(event_codec *c, const char *const *keys, size_t n_keys)
{
    if (locates(c, keys, n_keys))
        return 0;
    if (amap_resolve_keys(c->map, keys, n_keys, &c->located))
        return -1;
    c->located_ready = 1;
    return 0;
}

int event_set_after_raw_at(event_codec *c, const char *json, const char *end, const char **next,
                           const char *const *keys, amap_found *found, size_t n_keys,
                           uint64_t *hash)
{
    c->raw_ready = 0;
    if (c->custom_idx >= 0)
        return 1;
    buf_reset(&c->raw_after);
    if (resolve_located(c, keys, n_keys))
        return 1;
    if (amap_encode_raw_at(c->map, json, end, &c->raw_after, next, &c->located, found))
        return 1;
    *hash = content_hash(c->raw_after.data, c->raw_after.len);
    c->raw_ready = 1;
    return 0;
}

int event_set_after_raw_custom_at(event_codec *c, const char *json, const char *end,
                                  const char **next, const char *const *keys, amap_found *found,
                                  size_t n_keys, amap_custom *custom, uint64_t *hash)
{
    c->raw_ready = 0;
    if (c->custom_idx < 0)
        return event_set_after_raw_at(c, json, end, next, keys, found, n_keys, hash);
    if (!custom || !c->custom_last)
        return 1;
    buf_reset(&c->raw_after);
    if (resolve_located(c, keys, n_keys))
        return 1;
    custom->field = c->custom_idx;
    custom->off = SIZE_MAX;
    if (amap_encode_raw_custom_at(c->map, json, end, &c->raw_after, next, &c->located, found,
                                  custom) ||
        custom->off == SIZE_MAX)
        return 1;
    /* the custom record is the last field: the other fields' encoding is what precedes it */
    mix_custom_hash(c, c->raw_after.data, custom->off, custom->values(custom->u), hash);
    c->raw_ready = 1;
    return 0;
}

int event_set_after_raw(event_codec *c, const char *json, size_t len, uint64_t *hash)
{
    c->raw_ready = 0;
    if (c->custom_idx >= 0)
        return 1;
    buf_reset(&c->raw_after);
    if (amap_encode_raw(c->map, json, len, &c->raw_after))
        return 1;
    *hash = content_hash(c->raw_after.data, c->raw_after.len);
    c->raw_ready = 1;
    return 0;
}

static void put_string(buf *o, const char *s)
{
    aenc_put_string(o, s, strlen(s));
}

static void put_opt_string(buf *o, const char *s)
{
    aenc_put_long(o, s ? 1 : 0);
    if (s)
        put_string(o, s);
}

static int source_prefix_is_for(const event_codec *c, const event_meta *m)
{
    return c->source_prefix.len && c->prefix_of[0] == m->connector &&
           c->prefix_of[1] == m->account && c->prefix_of[2] == m->table &&
           c->prefix_of[3] == m->replication_key;
}

static void encode_source_prefix(event_codec *c, const event_meta *m)
{
    buf *o = &c->source_prefix;
    buf_reset(o);
    put_string(o, CRMSTREAM_EVENT_VERSION);
    put_string(o, m->connector);
    put_string(o, m->account);
    put_string(o, m->table);
    put_opt_string(o, m->replication_key);
    c->prefix_of[0] = m->connector;
    c->prefix_of[1] = m->account;
    c->prefix_of[2] = m->table;
    c->prefix_of[3] = m->replication_key;
}

/* The envelope written by hand around the raw after record: the same bytes avro-c writes for
 * {before: null, after: <record>, source, op, ts_ms} (tested against it). */
static void encode_raw_envelope(event_codec *c, char op, const event_meta *m, buf *out)
{
    if (!source_prefix_is_for(c, m))
        encode_source_prefix(c, m);
    buf_append(out, c->header, c->header_len);
    aenc_put_long(out, 0); /* before: null */
    aenc_put_long(out, 1); /* after: the record branch */
    buf_append(out, c->raw_after.data, c->raw_after.len);
    buf_append(out, c->source_prefix.data, c->source_prefix.len);
    put_opt_string(out, m->replication_value);
    aenc_put_long(out, m->source_ts_ms != CRM_TIME_NONE ? 1 : 0);
    if (m->source_ts_ms != CRM_TIME_NONE)
        aenc_put_long(out, m->source_ts_ms);
    char ops[2] = {2, op}; /* the string "<op>": its length 1 (zigzag 2), then the letter */
    buf_append(out, ops, 2);
    aenc_put_long(out, m->ts_ms);
}

int event_encode(event_codec *c, char op, const event_meta *meta, buf *out, char *err,
                 size_t errlen)
{
    if (c->raw_ready && op != 'd') {
        encode_raw_envelope(c, op, meta, out);
        return 0;
    }
    avro_value_t tmp, f;
    if (op == 'd' && image_branch(c, F_AFTER, 0, &tmp, err, errlen))
        return -1;
    char ops[2] = {op, '\0'};
    if (avro_value_get_by_index(&c->value, F_SOURCE, &f, NULL) || fill_source(&f, meta) ||
        set_string(&c->value, F_OP, ops) || avro_value_get_by_index(&c->value, F_TS, &f, NULL) ||
        avro_value_set_long(&f, meta->ts_ms)) {
        snprintf(err, errlen, "envelope: %s", avro_strerror());
        return -1;
    }
    int64_t n = write_scratch(c, &c->value, 0);
    if (n < 0) {
        snprintf(err, errlen, "event too large to encode");
        return -1;
    }
    buf_append(out, c->header, c->header_len);
    buf_append(out, c->scratch, (size_t)n);
    return 0;
}

static json_t *image_json(event_codec *c, avro_value_t *env, int field, char *err, size_t errlen)
{
    avro_value_t f, b;
    int disc;
    if (avro_value_get_by_index(env, (size_t)field, &f, NULL) ||
        avro_value_get_discriminant(&f, &disc) || avro_value_get_current_branch(&f, &b))
        return NULL;
    if (disc == 0)
        return json_null();
    return amap_to_json(c->map, &b, err, errlen);
}

static json_t *opt_string_json(avro_value_t *rec, int idx)
{
    avro_value_t f, b;
    int disc;
    const char *s;
    size_t n;
    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL) ||
        avro_value_get_discriminant(&f, &disc) || disc == 0 ||
        avro_value_get_current_branch(&f, &b) || avro_value_get_string(&b, &s, &n))
        return json_null();
    return json_string(s);
}

static json_t *string_json(avro_value_t *rec, int idx)
{
    avro_value_t f;
    const char *s;
    size_t n;
    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL) || avro_value_get_string(&f, &s, &n))
        return json_null();
    return json_string(s);
}

/* A value read back from Kafka is untrusted: its lengths are checked against its bytes before
 * avro-c allocates what they claim. */
static int body_in_bounds(const event_codec *c, const void *data, size_t len, char *err,
                          size_t errlen)
{
    char why[256];
    if (abounds_check(c->schema, (const char *)data + c->header_len, len - c->header_len, why,
                      sizeof(why)) == 0)
        return 0;
    snprintf(err, errlen, "decode: %s", why);
    return -1;
}

int event_after_hash(event_codec *c, const void *data, size_t len, uint64_t *hash, uint64_t *legacy,
                     char *err, size_t errlen)
{
    if (len < c->header_len || memcmp(data, c->header, c->header_len) != 0) {
        snprintf(err, errlen, "value is not an event with this table's schema");
        return -1;
    }
    if (body_in_bounds(c, data, len, err, errlen))
        return -1;
    avro_value_t v, f, after;
    int disc = 0, rc = -1;
    if (avro_generic_value_new(c->iface, &v)) {
        snprintf(err, errlen, "decode: %s", avro_strerror());
        return -1;
    }
    avro_reader_t r =
        avro_reader_memory((const char *)data + c->header_len, (int64_t)(len - c->header_len));
    if (avro_value_read(r, &v) || avro_value_get_by_index(&v, F_AFTER, &f, NULL) ||
        avro_value_get_discriminant(&f, &disc) || avro_value_get_current_branch(&f, &after)) {
        snprintf(err, errlen, "decode: %s", avro_strerror());
    } else if (disc == 0) {
        snprintf(err, errlen, "the event has no after image");
    } else {
        int64_t n = write_scratch(c, &after, 0);
        if (n < 0) {
            snprintf(err, errlen, "record too large to encode");
        } else {
            *hash = content_hash(c->scratch, (size_t)n);
            *legacy = hash64(c->scratch, (size_t)n) | CONTENT_HASH_LEGACY;
            rc = 0;
        }
    }
    avro_reader_free(r);
    avro_value_decref(&v);
    return rc;
}

json_t *event_decode(event_codec *c, const void *data, size_t len, char *err, size_t errlen)
{
    if (len < c->header_len || memcmp(data, c->header, c->header_len) != 0) {
        snprintf(err, errlen, "value is not %s with this table's schema",
                 c->header_len == 10 ? "single-object encoded" : "framed");
        return NULL;
    }
    if (body_in_bounds(c, data, len, err, errlen))
        return NULL;
    avro_value_t v;
    if (avro_generic_value_new(c->iface, &v)) {
        snprintf(err, errlen, "decode: %s", avro_strerror());
        return NULL;
    }
    avro_reader_t r =
        avro_reader_memory((const char *)data + c->header_len, (int64_t)(len - c->header_len));
    json_t *out = NULL;
    if (avro_value_read(r, &v)) {
        snprintf(err, errlen, "decode: %s", avro_strerror());
        goto done;
    }
    avro_value_t src, f;
    int64_t ts = 0;
    if (avro_value_get_by_index(&v, F_SOURCE, &src, NULL) ||
        avro_value_get_by_index(&v, F_TS, &f, NULL) || avro_value_get_long(&f, &ts)) {
        snprintf(err, errlen, "decode: %s", avro_strerror());
        goto done;
    }
    json_t *before = image_json(c, &v, F_BEFORE, err, errlen);
    json_t *after = before ? image_json(c, &v, F_AFTER, err, errlen) : NULL;
    if (!before || !after) {
        json_decref(before);
        goto done;
    }
    avro_value_t tsf, tsb;
    int disc = 0;
    int64_t sts = 0;
    if (!avro_value_get_by_index(&src, S_TS, &tsf, NULL) &&
        !avro_value_get_discriminant(&tsf, &disc) && disc == 1 &&
        !avro_value_get_current_branch(&tsf, &tsb))
        avro_value_get_long(&tsb, &sts);
    json_t *source = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "version", string_json(&src, S_VERSION), "connector",
        string_json(&src, S_CONNECTOR), "account", string_json(&src, S_ACCOUNT), "table",
        string_json(&src, S_TABLE), "replication_key", opt_string_json(&src, S_RKEY),
        "replication_value", opt_string_json(&src, S_RVALUE), "ts_ms",
        disc == 1 ? json_integer(sts) : json_null());
    out = json_pack("{s:o, s:o, s:o, s:o, s:I}", "op", string_json(&v, F_OP), "before", before,
                    "after", after, "source", source, "ts_ms", (json_int_t)ts);
done:
    avro_reader_free(r);
    avro_value_decref(&v);
    return out;
}
