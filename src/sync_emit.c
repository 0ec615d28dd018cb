/* sync_emit.c — record emission (sync_emit.h): every change event starts here, whichever
 * table's pass produces it (own records by the raw path or the DOM, change-feed upserts and
 * deletes, reconciliation deletes). A record is deduplicated against what the table already
 * published (one lookup, logged in the page work's undo log), and the page's highest replication
 * time, which the bookmark moves to, advances. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amap.h"
#include "crm_time.h"
#include "custom_raw.h"
#include "json_scan.h"
#include "log.h"
#include "record_key.h"
#include "sync_emit.h"
#include "table_schema.h"

/* How far after the pass start a replication value may lie (clock skew between the CRM and us)
 * before it counts as "in the future": such a value moves the bookmark to the pass start only. */
#define FUTURE_SKEW_MS 60000

/* A change feed's target, locked for the rest of the page (its custom fields were refreshed
 * before the page took any lock: the pass driver's refresh_feed_targets). */
static int feed_target(page_work *w, table_run *target, char *err, size_t errlen)
{
    if (work_lock_target(w, target)) {
        snprintf(err, errlen, "a page feeds too many tables");
        return -1;
    }
    return 0;
}

/* Replication-key value in ms: timestamp strings, or epoch seconds (ms when > 1e11). */
static int64_t json_time_ms(const json_t *v)
{
    int64_t ms;
    if (json_is_string(v))
        return crm_time_parse(json_string_value(v), &ms) ? CRM_TIME_NONE : ms;
    if (json_is_number(v)) {
        double d = json_number_value(v);
        return crm_time_from_epoch(d);
    }
    return CRM_TIME_NONE;
}

static void meta_for(const page_work *w, const table_run *t, event_meta *m, const char *rvalue,
                     int64_t rts)
{
    m->connector = source_connector(t->sr->src)->name;
    m->account = source_name(t->sr->src);
    m->table = t->def->name;
    m->replication_key = t->def->replication_key;
    m->replication_value = rvalue;
    m->source_ts_ms = rts;
    m->ts_ms = w->now_ms;
}

/* Advances the page's highest replication time (what the bookmark moves to) by a record's. A
 * value after the pass start (+ a clock skew allowance) — a CRM bug, a hostile record,
 * "9999999999" epoch seconds — would move the bookmark there and skip every later change: the
 * record is still published, but it moves the bookmark to the pass start only; it is counted,
 * and the page's first such record is logged. */
static void note_replication_time(page_work *w, table_run *t, const char *pk, size_t pklen,
                                  int64_t rts)
{
    if (w->pass_start_ms != CRM_TIME_NONE && rts > w->pass_start_ms + FUTURE_SKEW_MS) {
        atomic_fetch_add(&t->m.future_values, 1);
        if (w->future_values++ == 0) {
            char at[40], cap[40];
            crm_time_format(rts, at, sizeof(at));
            crm_time_format(w->pass_start_ms, cap, sizeof(cap));
            log_warn(source_name(t->sr->src), t->def->name,
                     "record %s=%.*s: %s %s lies after the pass start; published, but it "
                     "moves the bookmark no further than the pass start %s",
                     t->def->primary_key, (int)(pklen > 100 ? 100 : pklen), pk,
                     t->def->replication_key, at, cap);
        }
        rts = w->pass_start_ms;
    }
    if (w->page_max_ms == CRM_TIME_NONE || rts > w->page_max_ms)
        w->page_max_ms = rts;
}

/* Every event starts here, whichever table's pass produces it (own records, change-feed upserts
 * and deletes, reconciliation deletes): t's writer schema is published first
 * (table_schema_ensure_published; t->lock is held, so t->codec cannot change until the event is
 * encoded), then the message with its key is opened in the page's batch for the encoder. */
static buf *begin_event(page_work *w, table_run *t, const char *pk, size_t len, char *err,
                        size_t errlen)
{
    if (table_schema_ensure_published(t, err, errlen))
        return NULL;
    table_schema_key(t, pk, len, &w->mkey);
    return kafka_batch_begin_value(w->data, t->topic, w->mkey.data, w->mkey.len);
}

/* Closes begin_event's message: kept when the encoder succeeded, dropped otherwise. */
static int end_event(page_work *w, int encode_rc)
{
    if (encode_rc) {
        kafka_batch_truncate(w->data, kafka_batch_count(w->data) - 1);
        return -1;
    }
    kafka_batch_end_value(w->data);
    return 0;
}

/* The common tail of a record's publication, once its after image is set in t's codec: dedupe
 * against what this page and the table already published, then the event, its key and its
 * dedupe entry. */
static int publish_after(page_work *w, table_run *t, const char *pk, size_t pklen, uint64_t hash,
                         int64_t rts, const char *rtext, int feed, char *err, size_t errlen)
{
    if (rts != CRM_TIME_NONE && !feed)
        note_replication_time(w, t, pk, pklen, rts);
    uint64_t old = 0;
    int known = dedupe_swap(t->dd, pk, pklen, hash, w->mark && !feed, &old);
    if (known &&
        (old == hash || ((old & CONTENT_HASH_LEGACY) && old == event_legacy_hash(t->codec)))) {
        atomic_fetch_add(&t->m.unchanged, 1);
        return 0;
    }
    work_log_change(w, t, pk, pklen, known, old, 0, hash);
    char rvalue[40];
    if (rts != CRM_TIME_NONE && rtext) { /* the record's own text is already the canonical one */
        memcpy(rvalue, rtext, 24);
        rvalue[24] = '\0';
    } else if (rts != CRM_TIME_NONE) {
        crm_time_format(rts, rvalue, sizeof(rvalue));
    }
    char op = known ? 'u' : (w->snapshot ? 'r' : 'c');
    event_meta m;
    meta_for(w, t, &m, rts != CRM_TIME_NONE ? rvalue : NULL, rts);
    buf *value = begin_event(w, t, pk, pklen, err, errlen);
    return value ? end_event(w, event_encode(t->codec, op, &m, value, err, errlen)) : -1;
}

/* The replication-key time of a member the raw path located (f->value NULL: absent): the time
 * the encoder read when the field is a timestamp, else read here; *rtext = its text when that is
 * already canonical. -1 when the DOM path must look. */
static int raw_replication_time(const amap_found *f, const char *end, int64_t *rts,
                                const char **rtext)
{
    *rtext = NULL;
    *rts = CRM_TIME_NONE;
    if (f->ms != CRM_TIME_NONE) {
        *rts = f->ms;
        *rtext = f->ms_text;
        return 0;
    }
    const char *v = f->value, *s;
    if (!v)
        return 0;
    char tmp[64];
    size_t n;
    int esc, integer;
    if (js_peek(v, end) == JS_STRING) {
        if (!js_string(v, end, &s, &n, &esc) || esc || n >= sizeof(tmp))
            return -1;
        int64_t ms;
        int canonical = crm_time_parse_text(s, n, &ms);
        *rts = canonical < 0 ? CRM_TIME_NONE : ms;
        if (canonical == 1)
            *rtext = s;
    } else if (js_peek(v, end) == JS_NUMBER) {
        const char *q = js_number(v, end, &integer);
        if (!q || (size_t)(q - v) >= sizeof(tmp))
            return -1;
        memcpy(tmp, v, (size_t)(q - v));
        tmp[q - v] = '\0';
        *rts = crm_time_from_epoch(strtod(tmp, NULL));
    }
    return 0;
}

static int emit_image(page_work *w, table_run *t, const json_t *rec, int feed, char *err,
                      size_t errlen);

/* A record of the page's own table from its JSON text at v: straight to Avro when the raw path
 * takes it, else parsed with jansson and published like any record. *next = its end. */
/* When the record's text starts with its primary key as a plain string (`{"id":"...",`, the
 * usual layout), starts loading its dedupe slot, so that the lookup after encoding hits. */
static void prefetch_dedupe_slot(const table_run *t, const char *v, const char *end)
{
    const char *name = t->def->primary_key;
    size_t nl = strlen(name);
    if ((size_t)(end - v) < nl + 6 || v[0] != '{' || v[1] != '"' || memcmp(v + 2, name, nl) != 0 ||
        v[nl + 2] != '"' || v[nl + 3] != ':' || v[nl + 4] != '"')
        return;
    const char *s = v + nl + 5,
               *q = memchr(s, '"', (size_t)(end - s) < 256 ? (size_t)(end - s) : 256);
    if (q && !memchr(s, '\\', (size_t)(q - s)))
        dedupe_prefetch(t->dd, s, (size_t)(q - s));
}

/* A raw record's custom values that did not fit their type, counted as the DOM path counts. */
static void count_raw_misfits(table_run *t, const custom_raw *cr, const char *pk, size_t pklen)
{
    char pks[160];
    snprintf(pks, sizeof(pks), "%.*s", (int)(pklen < 150 ? pklen : 150), pk);
    table_schema_count_misfits(t, cr->misfits, cr->misfit_field, pks);
}

static int emit_raw_record(page_work *w, const char *v, const char *end, const char **next,
                           sync_error *e)
{
    char *err = e->msg;
    size_t errlen = sizeof(e->msg);
    e->kind = ERR_MAPPING; /* a record that does not fit, unless it is not even JSON */
    table_run *t = w->self;
    prefetch_dedupe_slot(t, v, end);
    const char *keys[2] = {t->def->primary_key, t->def->replication_key}, *pk, *rtext;
    amap_found found[2] = {{NULL, CRM_TIME_NONE, NULL}, {NULL, CRM_TIME_NONE, NULL}};
    size_t pklen;
    uint64_t hash;
    int64_t rts;
    custom_raw cr;
    int typed = t->def->custom != NULL;
    if ((!typed || custom_raw_begin(&cr, t->def->custom, t->cf) == 0) &&
        event_set_after_raw_custom_at(t->codec, v, end, next, keys, found, keys[1] ? 2 : 1,
                                      typed ? &cr.hooks : NULL, &hash) == 0 &&
        record_key_raw(found[0].value, end, &pk, &pklen) == 0 &&
        raw_replication_time(&found[1], end, &rts, &rtext) == 0) {
        if (typed && cr.misfits)
            count_raw_misfits(t, &cr, pk, pklen);
        if (typed)
            custom_raw_end(&cr);
        return publish_after(w, t, pk, pklen, hash, rts, rtext, 0, err, errlen);
    }
    if (typed)
        custom_raw_end(&cr);
    atomic_fetch_add(&t->m.raw_fallbacks, 1);
    *next = js_skip(v, end);
    if (!*next)
        return sync_error_set(e, ERR_PARSE, "invalid JSON in the records array");
    json_error_t je;
    json_t *rec = json_loadb(v, (size_t)(*next - v), 0, &je);
    if (!rec)
        return sync_error_set(e, ERR_PARSE, "invalid JSON record: %s", je.text);
    int rc = emit_image(w, t, rec, 0, err, errlen);
    json_decref(rec);
    return rc;
}

/* Publishes rec as an event of table t (the page's own table, or with `feed` another table
 * of the source fed by a change feed: no reconciliation marks, no effect on the bookmark). */
static int emit_image(page_work *w, table_run *t, const json_t *rec, int feed, char *err,
                      size_t errlen)
{
    buf pk;
    buf_init(&pk);
    int rc = -1;
    if (!json_is_object(rec) || record_key_text(json_object_get(rec, t->def->primary_key), &pk)) {
        snprintf(err, errlen, "record without a usable primary key \"%s\"", t->def->primary_key);
        goto out;
    }
    uint64_t hash;
    json_t *prepared = table_schema_prepare(t, rec);
    int mrc = event_set_after(t->codec, prepared, &hash, err, errlen);
    json_decref(prepared);
    if (mrc) {
        char e2[600];
        snprintf(e2, sizeof(e2), "record %s=%s: %s", t->def->primary_key, pk.data, err);
        snprintf(err, errlen, "%s", e2);
        goto out;
    }
    int64_t rts = t->def->replication_key
                      ? json_time_ms(json_object_get(rec, t->def->replication_key))
                      : CRM_TIME_NONE;
    rc = publish_after(w, t, pk.data, pk.len, hash, rts, NULL, feed, err, errlen);
out:
    buf_free(&pk);
    return rc;
}

int emit_record(page_work *w, const json_t *rec, char *err, size_t errlen)
{
    return emit_image(w, w->self, rec, 0, err, errlen);
}

/* Records of other tables from a change feed (e.g. an event log's snapshots), newest first:
 * the first image of a key in the pass wins, older ones of the same pass are skipped; dedupe
 * keeps an unchanged image from being published again. */
int emit_feed_upserts(page_work *w, const json_t *upserts, char *err, size_t errlen)
{
    size_t i;
    json_t *u;
    buf key;
    buf_init(&key);
    int rc = 0;
    json_array_foreach(upserts, i, u)
    {
        const char *tname = json_string_value(json_object_get(u, "table"));
        const json_t *rec = json_object_get(u, "record");
        table_run *target = tname ? source_run_table(w->self->sr, tname) : NULL;
        if (!target || !json_is_object(rec) || target->schema_rejected)
            continue; /* table not enabled here, or stopped (its registry schema rejected) */
        buf_reset(&key);
        buf_printf(&key, "%s\n", tname);
        if (record_key_append(json_object_get(rec, target->def->primary_key), &key))
            continue;
        if (dedupe_get(w->feed_seen, key.data, key.len, NULL))
            continue; /* an older image of a key this pass already published */
        if ((rc = feed_target(w, target, err, errlen)) != 0)
            break;
        if ((rc = emit_image(w, target, rec, 1, err, errlen)) != 0)
            break;
        dedupe_put(w->feed_seen, key.data, key.len, 1);
    }
    buf_free(&key);
    return rc;
}

int emit_delete(page_work *w, table_run *target, const char *pk, size_t len, const json_t *before,
                char *err, size_t errlen)
{
    uint64_t old;
    if (!dedupe_take(target->dd, pk, len, &old))
        return 0; /* never published (or already deleted): nothing to retract */
    work_log_change(w, target, pk, len, 1, old, 1, 0);
    json_t *image = json_is_object(before) ? table_schema_prepare(target, before) : NULL;
    int brc = event_set_before(target->codec, image, err, errlen);
    json_decref(image);
    if (brc) {
        /* A partial before image must not block the delete: publish it without. */
        log_warn(source_name(target->sr->src), target->def->name,
                 "delete of %.*s: before image dropped: %s", (int)len, pk, err);
        if (event_set_before(target->codec, NULL, err, errlen))
            return -1;
    }
    event_meta m;
    meta_for(w, target, &m, NULL, CRM_TIME_NONE);
    m.replication_key = NULL;
    buf *value = begin_event(w, target, pk, len, err, errlen);
    if (!value || end_event(w, event_encode(target->codec, 'd', &m, value, err, errlen)))
        return -1;
    kafka_batch_add(w->data, target->topic, w->mkey.data, w->mkey.len, NULL, 0);
    return 0;
}

int emit_feed_deletes(page_work *w, const json_t *deletes, char *err, size_t errlen)
{
    size_t i;
    json_t *d;
    buf pk;
    buf_init(&pk);
    json_array_foreach(deletes, i, d)
    {
        const char *tname = json_string_value(json_object_get(d, "table"));
        table_run *target = tname ? source_run_table(w->self->sr, tname) : NULL;
        if (!target || target->schema_rejected || record_key_text(json_object_get(d, "id"), &pk))
            continue; /* table not enabled or stopped here, or no usable id */
        if (feed_target(w, target, err, errlen)) {
            buf_free(&pk);
            return -1;
        }
        if (emit_delete(w, target, pk.data, pk.len, json_object_get(d, "before"), err, errlen)) {
            buf_free(&pk);
            return -1;
        }
        /* older images of a deleted key (later pages of a newest-first feed) must not revive it */
        buf seen;
        buf_init(&seen);
        buf_printf(&seen, "%s\n%.*s", tname, (int)pk.len, pk.data);
        dedupe_put(w->feed_seen, seen.data, seen.len, 1);
        buf_free(&seen);
    }
    buf_free(&pk);
    return 0;
}

/* The records of a raw page (page.raw): reconciliation marks or raw events. Their text was only
 * spanned by parse_page: invalid JSON found here is a parse error, like parse_page's own. */
int emit_raw_records(page_work *w, const page *pg, int reconcile, long *n, sync_error *e)
{
    table_run *t = w->self;
    const char *q = pg->raw.data + pg->raw_off, *end = q + pg->raw_len, *v;
    int first, more;
    *n = 0;
    js_array_begin(&q, end, &first);
    while ((more = js_array_next(&q, end, &first, &v)) == 1) {
        ++*n;
        if (reconcile) {
            const char *ve = js_skip(v, end),
                       *pkv = ve ? js_member(v, ve, t->def->primary_key) : NULL;
            if (!ve)
                return sync_error_set(e, ERR_PARSE, "invalid JSON in the records array");
            const char *pk;
            size_t pklen;
            if (record_key_raw(pkv, ve, &pk, &pklen) == 0)
                dedupe_mark(t->dd, pk, pklen);
            q = ve;
        } else if (emit_raw_record(w, v, end, &q, e) != 0) {
            return -1;
        }
    }
    if (more < 0)
        return sync_error_set(e, ERR_PARSE, "invalid JSON in the records array after record %ld",
                              *n);
    return 0;
}
