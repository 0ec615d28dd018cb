/* table_schema.c — builds, evolves and publishes each table's writer schema (see
 * table_schema.h). The engine knows custom fields only through the connector's
 * custom_fields_spec; everything about names, types and compatibility is in custom_fields.c. */
#include "table_schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "embedded_schemas.h"
#include "engine.h"
#include "log.h"
#include "page_fetch.h"
#include "schema_registry.h"

#define MAX_DEFINITION_PAGES 200
#define MISFITS_LOGGED       5

/* ---- building ---------------------------------------------------------------------------- */

/* The record schema text: the .avsc with the custom field appended (caller frees). */
static char *record_schema(const table_run *t, const cf_history *h, char *err, size_t errlen)
{
    const char *base = embedded_schemas_find(t->def->schema_file);
    if (!base) {
        snprintf(err, errlen, "table %s: schema %s is not built in", t->def->name,
                 t->def->schema_file);
        return NULL;
    }
    if (!h || cf_history_count(h) == 0)
        return xstrdup(base);
    json_error_t je;
    json_t *rec = json_loads(base, 0, &je);
    json_t *fields = json_object_get(rec, "fields");
    json_t *custom = cf_history_avro_field(h, source_connector(t->sr->src)->name, t->def->name);
    if (!json_is_array(fields) || !custom) {
        snprintf(err, errlen, "table %s: cannot add custom fields to %s", t->def->name,
                 t->def->schema_file);
        json_decref(custom);
        json_decref(rec);
        return NULL;
    }
    json_array_append_new(fields, custom);
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (!text)
        snprintf(err, errlen, "table %s: cannot serialize its schema", t->def->name);
    return text;
}

static event_codec *codec_for(const table_run *t, const cf_history *h, char *err, size_t errlen)
{
    char *text = record_schema(t, h, err, errlen);
    if (!text)
        return NULL;
    event_codec *c =
        event_codec_new(source_connector(t->sr->src)->name, t->def->name, text, err, errlen);
    free(text);
    return c;
}

int table_schema_build(table_run *t, char *err, size_t errlen)
{
    event_codec *c = codec_for(t, t->cf, err, errlen);
    if (!c)
        return -1;
    event_codec_free(t->codec);
    t->codec = c;
    t->schema_version = 1;
    return 0;
}

int table_schema_restore(table_run *t, const char *value, size_t len, char *err, size_t errlen)
{
    if (!t->def->custom)
        return 0;
    if (!t->cf)
        t->cf = cf_history_new();
    if (!value) {
        cf_history_free(t->cf);
        t->cf = cf_history_new();
        return 0;
    }
    return cf_history_parse(t->cf, value, len, err, errlen);
}

/* ---- publishing -------------------------------------------------------------------------- */

static void add_schema_record(table_run *t, const event_codec *c, kafka_batch *b)
{
    char key[17];
    snprintf(key, sizeof(key), "%016" PRIx64, event_codec_fingerprint(c));
    const char *schema = event_codec_schema(c);
    kafka_batch_add(b, t->sr->cfg->kafka.schemas_topic, key, 16, schema, strlen(schema));
}

static void add_history_record(table_run *t, const cf_history *h, kafka_batch *b, buf *key)
{
    buf_reset(key);
    buf_printf(key, "cf/%s/%s", source_name(t->sr->src), t->def->name);
    char *v = cf_history_dump(h);
    kafka_batch_add(b, t->sr->cfg->kafka.state_topic, key->data, key->len, v, strlen(v));
    free(v);
}

/* ---- registry mode ------------------------------------------------------------------------ */

/* Registers the key schema ("string", once) and c's envelope under <topic>-key / -value and
 * switches c to Confluent framing. A rejected schema marks the table; e has the registry's
 * message (kind schema; kafka when the registry could not be reached). */
static int register_version(table_run *t, event_codec *c, sync_error *e)
{
    char *err = e->msg;
    size_t errlen = sizeof(e->msg);
    char subject[600];
    uint32_t id;
    sr_result r = SR_OK;
    if (!t->key_schema_id) {
        snprintf(subject, sizeof(subject), "%s-key", t->topic);
        r = sr_register(t->sr->registry, subject, "\"string\"", &id, err, errlen);
        if (r == SR_OK)
            t->key_schema_id = id;
    }
    if (r == SR_OK) {
        snprintf(subject, sizeof(subject), "%s-value", t->topic);
        r = sr_register(t->sr->registry, subject, event_codec_schema(c), &id, err, errlen);
    }
    if (r == SR_OK) {
        event_codec_use_registry_id(c, id);
        return 0;
    }
    if (r == SR_INCOMPATIBLE)
        t->schema_rejected = 1;
    e->kind = r == SR_INCOMPATIBLE ? ERR_SCHEMA : ERR_KAFKA;
    return -1;
}

/* Tables with custom fields but no history yet wait for their first definitions: the schema
 * they start with would never describe an event (unless the definitions stay unreadable, in
 * which case table_schema_refresh publishes it). */
int table_schema_publish_all(source_run *sr, char *err, size_t errlen)
{
    if (sr->registry) {
        for (int i = 0; i < sr->n_tables; i++) {
            table_run *t = &sr->tables[i];
            if (t->def->custom && cf_history_count(t->cf) == 0)
                continue;
            sync_error rerr;
            if (register_version(t, t->codec, &rerr) == 0)
                t->schema_published = 1;
            else
                log_error(source_name(sr->src), t->def->name, "%s%s",
                          t->schema_rejected ? "schema rejected, the table stops: " : "", rerr.msg);
            t->failed = t->schema_rejected;
        }
        (void)err;
        (void)errlen;
        return 0;
    }
    kafka_batch *b = kafka_batch_new();
    for (int i = 0; i < sr->n_tables; i++) {
        table_run *t = &sr->tables[i];
        if (!t->def->custom || cf_history_count(t->cf) > 0)
            add_schema_record(t, t->codec, b);
    }
    kafka_result r = shard_commit(sr->shard, &sr->km, b, NULL, &engine_stop_requested, err, errlen);
    kafka_batch_free(b);
    for (int i = 0; r == KAFKA_OK && i < sr->n_tables; i++)
        sr->tables[i].schema_published =
            !sr->tables[i].def->custom || cf_history_count(sr->tables[i].cf) > 0;
    return r == KAFKA_OK ? 0 : -1;
}

/* Publishes the schema of c and the history h together. */
static int publish_version(table_run *t, event_codec *c, const cf_history *h, sync_error *e)
{
    if (t->sr->registry && register_version(t, c, e))
        return -1;
    kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
    buf key;
    buf_init(&key);
    if (!t->sr->registry)
        add_schema_record(t, c, data);
    if (h)
        add_history_record(t, h, state, &key);
    kafka_result r = shard_commit(t->sr->shard, &t->sr->km, data, state, &engine_stop_requested,
                                  e->msg, sizeof(e->msg));
    buf_free(&key);
    kafka_batch_free(data);
    kafka_batch_free(state);
    if (r == KAFKA_FATAL)
        flag_set(&t->sr->stop, 1);
    e->kind = ERR_KAFKA;
    return r == KAFKA_OK ? 0 : -1;
}

/* table_schema_ensure_published, its failure typed. */
static int ensure_published(table_run *t, sync_error *e)
{
    if (atomic_load(&t->schema_published))
        return 0;
    if (t->schema_rejected)
        return sync_error_set(e, ERR_SCHEMA, "table %s: the schema registry rejected its schema",
                              t->def->name);
    /* A table with custom fields whose definitions were never read yet: its first schema is
     * published here, by whichever pass produces its first event. */
    if (publish_version(t, t->codec, NULL, e))
        return -1;
    atomic_store(&t->schema_published, 1);
    log_info(source_name(t->sr->src), t->def->name,
             "schema published before its first event (fingerprint %016" PRIx64 ")",
             event_codec_fingerprint(t->codec));
    return 0;
}

int table_schema_ensure_published(table_run *t, char *err, size_t errlen)
{
    sync_error e;
    if (ensure_published(t, &e) == 0)
        return 0;
    snprintf(err, errlen, "%s", e.msg);
    return -1;
}

/* ---- definitions ------------------------------------------------------------------------- */

/* The page's records, whether parse_page handed them as JSON or as raw text, onto all. */
static int append_page_records(const page *pg, json_t *all, char *err, size_t errlen)
{
    json_t *records = page_records(NULL, pg);
    int rc = records ? json_array_extend(all, records) : -1;
    if (!records)
        snprintf(err, errlen, "invalid JSON in the records array");
    json_decref(records);
    return rc;
}

static int fetch_page_records(table_run *t, http_client *http, table_ctx *ctx, http_request *req,
                              json_t *all, char *err, size_t errlen)
{
    page pg;
    sync_error e;
    fetch_result r = page_fetch(t, http, ctx, req, &pg, NULL, NULL, &e);
    log_set_request_id(0);
    if (r != FETCH_OK) {
        snprintf(err, errlen, "%s", r == FETCH_STOPPED ? "stopped" : e.msg);
        return -1;
    }
    int rc = append_page_records(&pg, all, err, errlen);
    page_clear(&pg);
    return rc;
}

/* Every record of one definitions table (all pages), or NULL + err. */
static json_t *fetch_table(table_run *t, http_client *http, const table_def *dt, char *err,
                           size_t errlen)
{
    table_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.src = t->sr->src;
    ctx.table = dt;
    ctx.from_ms = CRM_TIME_NONE;
    ctx.until_ms = now_wall_ms();
    ctx.bookmark_ms = CRM_TIME_NONE;
    ctx.paging = json_object();
    json_t *all = json_array();
    for (;; ctx.page_no++) {
        http_request req;
        http_request_init(&req);
        req_result r =
            ctx.page_no < MAX_DEFINITION_PAGES
                ? dt->next_request(&ctx, &req, err, errlen)
                : (snprintf(err, errlen, "more than %d pages", MAX_DEFINITION_PAGES), REQ_ERROR);
        int rc = r == REQ_READY ? fetch_page_records(t, http, &ctx, &req, all, err, errlen) : 0;
        http_request_free(&req);
        if (r == REQ_DONE)
            break;
        if (r == REQ_ERROR || rc) {
            json_decref(all);
            all = NULL;
            break;
        }
    }
    json_decref(ctx.paging);
    return all;
}

/* One definitions table, from the source's cache when younger than half the poll interval.
 * When the endpoint cannot be read, its last known records stand in (said once); *stale is
 * then set, or NULL + err when there are none. */
static json_t *cached_table(table_run *t, http_client *http, const char *name, int use_cache,
                            int *stale, char *err, size_t errlen)
{
    source_run *sr = t->sr;
    const table_def *dt = connector_table(source_connector(sr->src), name);
    if (!dt) {
        snprintf(err, errlen, "no definitions table %s", name);
        return NULL;
    }
    int64_t ttl = (int64_t)sr->sc->poll_interval_s * 1000 / 2;
    pthread_mutex_lock(&sr->defs_lock);
    if (!sr->defs)
        sr->defs = json_object();
    json_t *entry = json_object_get(sr->defs, name);
    int64_t at = json_integer_value(json_object_get(entry, "at"));
    json_t *recs =
        use_cache && entry && json_object_get(entry, "records") && now_wall_ms() - at < ttl
            ? json_incref(json_object_get(entry, "records"))
            : NULL;
    if (!recs) {
        recs = fetch_table(t, http, dt, err, errlen);
        if (recs) {
            json_object_set_new(
                sr->defs, name,
                json_pack("{s:I, s:O}", "at", (json_int_t)now_wall_ms(), "records", recs));
        } else {
            char e2[600];
            snprintf(e2, sizeof(e2), "%s: %s", name, err);
            snprintf(err, errlen, "%s", e2);
            if (!entry) /* remembered, so that the failure is said once */
                json_object_set_new(sr->defs, name, entry = json_pack("{s:I}", "at", 0));
            recs = json_incref(json_object_get(entry, "records"));
            *stale = 1;
            if (!json_is_true(json_object_get(entry, "warned"))) {
                json_object_set_new(entry, "warned", json_true());
                log_warn(source_name(sr->src), t->def->name,
                         "custom field definitions unreadable, %s: %s",
                         recs ? "keeping the last known ones of that endpoint"
                              : "typing only the fields of the other endpoints",
                         err);
            }
        }
    }
    pthread_mutex_unlock(&sr->defs_lock);
    return recs;
}

/* The definitions of every endpoint of the table's custom fields. *complete = 0 when one of
 * them could only be read from memory or not at all (no field may then be deactivated). NULL +
 * err when none could be read. */
static json_t *definitions(table_run *t, http_client *http, int use_cache, int *complete, char *err,
                           size_t errlen)
{
    json_t *all = json_array();
    int read = 0;
    *complete = 1;
    for (int i = 0; i < 4 && t->def->custom->definitions[i]; i++) {
        int stale = 0;
        json_t *recs =
            cached_table(t, http, t->def->custom->definitions[i], use_cache, &stale, err, errlen);
        if (stale)
            *complete = 0;
        if (!recs)
            continue;
        read++;
        json_array_extend(all, recs);
        json_decref(recs);
    }
    if (!read) {
        json_decref(all);
        return NULL;
    }
    return all;
}

json_t *table_schema_fetch_definitions(table_run *t, char *err, size_t errlen)
{
    int complete;
    return definitions(t, t->http, 0, &complete, err, errlen);
}

static size_t describe_all(const table_run *t, const json_t *defs, cf_desc **out)
{
    size_t n = 0;
    *out = xcalloc(json_array_size(defs) + 1, sizeof(cf_desc));
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d)
    {
        if (t->def->custom->describe(t->def, d, &(*out)[n]) == 1 && (*out)[n].id)
            n++;
        else
            cf_desc_clear(&(*out)[n]);
    }
    return n;
}

static cf_history *history_copy(const cf_history *h)
{
    cf_history *c = cf_history_new();
    if (h) {
        char *text = cf_history_dump(h);
        char err[64];
        cf_history_parse(c, text, strlen(text), err, sizeof(err));
        free(text);
    }
    return c;
}

static int refresh(table_run *t, http_client *http, sync_error *e)
{
    if (!t->def->custom) /* published at start-up, or now if the registry was unreachable */
        return ensure_published(t, e);
    const char *sname = source_name(t->sr->src);
    char ferr[512];
    int complete;
    json_t *defs = definitions(t, http, 1, &complete, ferr, sizeof(ferr));
    if (!defs) { /* each endpoint's failure was said once already */
        log_debug(sname, t->def->name,
                  "custom field definitions unreadable, keeping the last known %zu fields: %s",
                  t->cf ? cf_history_count(t->cf) : 0, ferr);
        if (!t->schema_published && publish_version(t, t->codec, t->cf, e))
            return -1;
        t->schema_published = 1;
        return 0;
    }
    cf_desc *descs;
    size_t n = describe_all(t, defs, &descs);
    json_decref(defs);
    cf_history *next = history_copy(t->cf);
    int changed =
        complete ? cf_history_merge(next, descs, n) : cf_history_merge_some(next, descs, n);
    if (!t->schema_published)
        changed |= CF_CHANGED_STATE; /* publish even an unchanged (e.g. empty) first version */
    for (size_t i = 0; i < n; i++)
        cf_desc_clear(&descs[i]);
    free(descs);
    int rc = 0;
    event_codec *codec = NULL;
    if (changed & CF_CHANGED_SCHEMA) {
        codec = codec_for(t, next, e->msg, sizeof(e->msg));
        if (!codec) {
            e->kind = ERR_SCHEMA;
            rc = -1;
        }
    }
    if (!rc && changed && publish_version(t, codec ? codec : t->codec, next, e))
        rc = -1;
    if (!rc && changed) {
        pthread_mutex_lock(&t->lock);
        cf_history *old = t->cf;
        t->cf = next;
        next = old;
        t->schema_published = 1;
        if (codec) {
            event_codec *prev = t->codec;
            t->codec = codec;
            codec = prev;
            t->schema_version++;
        }
        pthread_mutex_unlock(&t->lock);
        if (changed & CF_CHANGED_SCHEMA)
            log_info(sname, t->def->name,
                     "custom fields changed: schema version %d with %zu custom fields "
                     "(fingerprint %016" PRIx64 ")",
                     t->schema_version, cf_history_count(t->cf), event_codec_fingerprint(t->codec));
    }
    event_codec_free(codec);
    cf_history_free(next);
    return rc;
}

int table_schema_refresh(table_run *t, http_client *http, sync_error *e)
{
    pthread_mutex_lock(&t->schema_lock);
    int rc = refresh(t, http, e);
    pthread_mutex_unlock(&t->schema_lock);
    return rc;
}

/* ---- records ----------------------------------------------------------------------------- */

json_t *table_schema_prepare(table_run *t, const json_t *rec)
{
    size_t misfits = 0;
    const char *field = NULL;
    json_t *copy = table_schema_prepare_with(t->def->custom, t->cf, rec, &misfits, &field);
    if (misfits) {
        const json_t *pk = json_object_get(rec, t->def->primary_key);
        char *pks = pk ? json_dumps(pk, JSON_ENCODE_ANY) : NULL;
        table_schema_count_misfits(t, misfits, field, pks);
        free(pks);
    }
    return copy;
}

json_t *table_schema_prepare_with(const custom_fields_spec *spec, const cf_history *cf,
                                  const json_t *rec, size_t *misfits, const char **field)
{
    *misfits = 0;
    if (!spec || !cf || cf_history_count(cf) == 0 || !json_is_object(rec))
        return json_incref((json_t *)rec);
    json_t *copy = json_copy((json_t *)rec);
    if (spec->strip)
        spec->strip(copy);
    size_t n = cf_history_count(cf);
    json_t **raw = xcalloc(n + 1, sizeof(json_t *));
    for (size_t i = 0; i < n; i++)
        if (cf_history_active(cf, i))
            raw[i] = spec->take(copy, cf_history_id(cf, i), cf_history_kind(cf, i));
    json_t *values = cf_history_values(cf, raw, misfits, field);
    for (size_t i = 0; i < n; i++)
        json_decref(raw[i]);
    free(raw);
    json_object_set_new(copy, CF_JSON_KEY, values);
    return copy;
}

void table_schema_count_misfits(table_run *t, size_t misfits, const char *field, const char *pk)
{
    long before = atomic_fetch_add(&t->m.custom_misfits, (long)misfits);
    if (before < MISFITS_LOGGED)
        log_warn(source_name(t->sr->src), t->def->name,
                 "record %s=%s: custom field %s does not fit its declared type; kept as text "
                 "in custom._invalid",
                 t->def->primary_key, pk ? pk : "?", field);
}

int table_schema_next(table_run *t, event_codec **next_codec, char *err, size_t errlen)
{
    *next_codec = NULL;
    if (!t->def->custom)
        return 0;
    int complete;
    json_t *defs = definitions(t, t->http, 0, &complete, err, errlen);
    if (!defs)
        return -1;
    cf_desc *descs;
    size_t n = describe_all(t, defs, &descs);
    json_decref(defs);
    cf_history *next = history_copy(t->cf);
    int changed =
        complete ? cf_history_merge(next, descs, n) : cf_history_merge_some(next, descs, n);
    for (size_t i = 0; i < n; i++)
        cf_desc_clear(&descs[i]);
    free(descs);
    int rc = 0;
    if (changed & CF_CHANGED_SCHEMA) {
        *next_codec = codec_for(t, next, err, errlen);
        rc = *next_codec ? 1 : -1;
    }
    cf_history_free(next);
    return rc;
}

void table_schema_key(const table_run *t, const char *pk, size_t len, buf *out)
{
    buf_reset(out);
    if (!t->sr->registry) {
        buf_append(out, pk, len);
        return;
    }
    buf body;
    buf_init(&body);
    sr_avro_string(&body, pk, len);
    sr_frame(out, t->key_schema_id, body.data, body.len);
    buf_free(&body);
}
