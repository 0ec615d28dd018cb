/* sync.c — one table's sync passes: request pages through the connector, turn records into
 * deduplicated change events and deletes, and commit each page with its bookmark.
 *
 * Invariant: bookmarks change only after Kafka accepted the page (transaction committed, or
 * every message acknowledged before the state records). The dedupe maps change as records are
 * emitted (one lookup per record), under the table's lock, and every change is logged: a page
 * that fails, or a commit that gives up, puts them back from that log, so neither stays ahead
 * of what Kafka accepted and a failed commit rewinds to the last committed paging state. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "amap.h"
#include "crm_time.h"
#include "json_scan.h"
#include "engine.h"
#include "log.h"
#include "table_run.h"
#include "table_schema.h"

#define PARSE_ATTEMPTS  3
#define COMMIT_ATTEMPTS 5
#define MAX_LOCKED      16
/* How far after the pass start a replication value may lie (clock skew between the CRM and us)
 * before it counts as "in the future": such a value moves the bookmark to the pass start only. */
#define FUTURE_SKEW_MS 60000

/* A change of a dedupe map made by the uncommitted pages (the undo log). */
typedef struct change {
    table_run *t;
    size_t key_off; /* the primary key, in page_work.change_keys */
    uint32_t len;
    uint8_t existed;   /* the key was known before, with hash `old` */
    uint8_t is_delete; /* a delete (else a publication) */
    uint64_t old;
    uint64_t hash; /* the published content hash (what the dedupe log records) */
} change;

/* Everything one page (or the end of a pass) commits together. */
typedef struct page_work {
    table_run *self;
    kafka_batch *data;
    kafka_batch *state;
    change *changes;
    size_t n_changes, cap_changes;
    buf change_keys;
    dedupe *feed_seen; /* "<table>\n<pk>" upserted by this pass's change feed (newest first) */
    table_run *locked[MAX_LOCKED];
    int n_locked;
    buf key, val;
    buf mkey; /* the message key (framed in registry mode) */
    int64_t page_max_ms;
    int64_t pass_start_ms; /* values after it + FUTURE_SKEW_MS move the bookmark to it only */
    int future_values;     /* records of the page with such a value */
    int64_t now_ms;        /* the events' ts_ms: the wall time the page's processing started */
    int snapshot;
    int mark; /* reconciliation round active: mark keys seen */
} page_work;

static void work_init(page_work *w, table_run *t)
{
    memset(w, 0, sizeof(*w));
    w->self = t;
    w->data = kafka_batch_new();
    w->state = kafka_batch_new();
    w->feed_seen = dedupe_new();
    buf_init(&w->change_keys);
    buf_init(&w->key);
    buf_init(&w->val);
    buf_init(&w->mkey);
    w->page_max_ms = CRM_TIME_NONE;
    w->pass_start_ms = CRM_TIME_NONE;
}

static void work_reset(page_work *w)
{
    kafka_batch_clear(w->data);
    kafka_batch_clear(w->state);
    w->n_changes = 0;
    buf_reset(&w->change_keys);
    w->page_max_ms = CRM_TIME_NONE;
}

static void work_free(page_work *w)
{
    work_reset(w);
    kafka_batch_free(w->data);
    kafka_batch_free(w->state);
    dedupe_free(w->feed_seen);
    free(w->changes);
    buf_free(&w->change_keys);
    buf_free(&w->key);
    buf_free(&w->val);
    buf_free(&w->mkey);
}

static void log_change(page_work *w, table_run *t, const char *pk, size_t len, int existed,
                       uint64_t old, int is_delete, uint64_t hash)
{
    if (w->n_changes == w->cap_changes) {
        w->cap_changes = w->cap_changes ? w->cap_changes * 2 : 256;
        w->changes = xrealloc(w->changes, w->cap_changes * sizeof(change));
    }
    change *c = &w->changes[w->n_changes++];
    c->t = t;
    c->key_off = w->change_keys.len;
    c->len = (uint32_t)len;
    c->existed = (uint8_t)existed;
    c->is_delete = (uint8_t)is_delete;
    c->old = old;
    c->hash = hash;
    buf_append(&w->change_keys, pk, len);
}

/* Puts the dedupe maps back as they were before change `from`, newest change first. */
static void undo_changes(page_work *w, size_t from)
{
    while (w->n_changes > from) {
        change *c = &w->changes[--w->n_changes];
        const char *pk = w->change_keys.data + c->key_off;
        if (c->existed)
            dedupe_swap(c->t->dd, pk, c->len, c->old, 0, NULL);
        else
            dedupe_remove(c->t->dd, pk, c->len);
        w->change_keys.len = c->key_off;
    }
}

/* Where a page started in the page work, so a failed page alone can be taken back. */
typedef struct work_mark {
    size_t data, state, changes;
} work_mark;

static work_mark work_mark_now(const page_work *w)
{
    return (work_mark){kafka_batch_count(w->data), kafka_batch_count(w->state), w->n_changes};
}

static void work_rewind(page_work *w, work_mark m)
{
    undo_changes(w, m.changes);
    kafka_batch_truncate(w->data, m.data);
    kafka_batch_truncate(w->state, m.state);
}

/* Locks another table of the source for the rest of the page (delete feeds). */
static int lock_target(page_work *w, table_run *target)
{
    if (target == w->self)
        return 0;
    for (int i = 0; i < w->n_locked; i++)
        if (w->locked[i] == target)
            return 0;
    if (w->n_locked == MAX_LOCKED)
        return -1;
    pthread_mutex_lock(&target->lock);
    w->locked[w->n_locked++] = target;
    return 0;
}

/* A change feed's target, ready for this page's events: the first time in the page, its custom
 * fields are refreshed (before its lock: a refresh may publish and switch its schema), so that
 * the feed types what the target's own pass would; then it stays locked for the page. */
static int feed_target(page_work *w, table_run *target, char *err, size_t errlen)
{
    int locked = target == w->self;
    for (int i = 0; !locked && i < w->n_locked; i++)
        locked = w->locked[i] == target;
    if (!locked && target->def->custom && table_schema_refresh(target, w->self->http, err, errlen))
        return -1;
    if (lock_target(w, target)) {
        snprintf(err, errlen, "a page feeds too many tables");
        return -1;
    }
    return 0;
}

static void unlock_targets(page_work *w)
{
    for (int i = 0; i < w->n_locked; i++)
        pthread_mutex_unlock(&w->locked[i]->lock);
    w->n_locked = 0;
}

/* Primary key as text appended to out: strings as they are, integers in decimal. */
static int pk_text_append(const json_t *v, buf *out)
{
    if (json_is_string(v))
        return buf_append(out, json_string_value(v), json_string_length(v));
    if (json_is_integer(v))
        return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return -1;
}

/* Primary key as text: strings as they are, integers in decimal. */
static int pk_text(const json_t *v, buf *out)
{
    buf_reset(out);
    if (json_is_string(v))
        return buf_append(out, json_string_value(v), json_string_length(v));
    if (json_is_integer(v))
        return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return -1;
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
    log_change(w, t, pk, pklen, known, old, 0, hash);
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

/* The primary key's text at pkv: a string without escapes, or an integer (*pk, *pklen point
 * into the record's text). -1 when the DOM path must look. */
static int raw_primary_key(const char *pkv, const char *end, const char **pk, size_t *pklen)
{
    int esc, integer;
    if (!pkv)
        return -1;
    if (js_peek(pkv, end) == JS_STRING)
        return js_string(pkv, end, pk, pklen, &esc) && !esc ? 0 : -1;
    if (js_peek(pkv, end) != JS_NUMBER)
        return -1;
    const char *q = js_number(pkv, end, &integer);
    if (!q || !integer || q - pkv > 18 || (q - pkv > 1 && pkv[0] == '-' && pkv[1] == '0'))
        return -1;
    *pk = pkv;
    *pklen = (size_t)(q - pkv);
    return 0;
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

static int emit_raw_record(page_work *w, const char *v, const char *end, const char **next,
                           char *err, size_t errlen)
{
    table_run *t = w->self;
    prefetch_dedupe_slot(t, v, end);
    const char *keys[2] = {t->def->primary_key, t->def->replication_key}, *pk, *rtext;
    amap_found found[2] = {{NULL, CRM_TIME_NONE, NULL}, {NULL, CRM_TIME_NONE, NULL}};
    size_t pklen;
    uint64_t hash;
    int64_t rts;
    if (!t->def->custom &&
        event_set_after_raw_at(t->codec, v, end, next, keys, found, keys[1] ? 2 : 1, &hash) == 0 &&
        raw_primary_key(found[0].value, end, &pk, &pklen) == 0 &&
        raw_replication_time(&found[1], end, &rts, &rtext) == 0)
        return publish_after(w, t, pk, pklen, hash, rts, rtext, 0, err, errlen);
    atomic_fetch_add(&t->m.raw_fallbacks, 1);
    *next = js_skip(v, end);
    if (!*next) {
        snprintf(err, errlen, "invalid JSON in the records array");
        return -1;
    }
    json_error_t je;
    json_t *rec = json_loadb(v, (size_t)(*next - v), 0, &je);
    if (!rec) {
        snprintf(err, errlen, "invalid JSON record: %s", je.text);
        return -1;
    }
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
    if (!json_is_object(rec) || pk_text(json_object_get(rec, t->def->primary_key), &pk)) {
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

static int emit_record(page_work *w, const json_t *rec, char *err, size_t errlen)
{
    return emit_image(w, w->self, rec, 0, err, errlen);
}

/* Records of other tables from a change feed (e.g. an event log's snapshots), newest first:
 * the first image of a key in the pass wins, older ones of the same pass are skipped; dedupe
 * keeps an unchanged image from being published again. */
static int emit_feed_upserts(page_work *w, const json_t *upserts, char *err, size_t errlen)
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
        if (pk_text_append(json_object_get(rec, target->def->primary_key), &key))
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

/* A delete event plus a tombstone for a key the target table has published. */
static int emit_delete(page_work *w, table_run *target, const char *pk, size_t len,
                       const json_t *before, char *err, size_t errlen)
{
    uint64_t old;
    if (!dedupe_take(target->dd, pk, len, &old))
        return 0; /* never published (or already deleted): nothing to retract */
    log_change(w, target, pk, len, 1, old, 1, 0);
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

static int emit_feed_deletes(page_work *w, const json_t *deletes, char *err, size_t errlen)
{
    size_t i;
    json_t *d;
    buf pk;
    buf_init(&pk);
    json_array_foreach(deletes, i, d)
    {
        const char *tname = json_string_value(json_object_get(d, "table"));
        table_run *target = tname ? source_run_table(w->self->sr, tname) : NULL;
        if (!target || target->schema_rejected || pk_text(json_object_get(d, "id"), &pk))
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

/* Marks tables for an ID-reconciliation pass after their current pass (any method with
 * reconcile support; full tables reconcile on every pass anyway). A fallback (standing in for a
 * change feed the credentials cannot read) is routine: counted, logged at info. */
static void request_reconciliations(table_run *self, const json_t *names, int fallback)
{
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
    {
        table_run *t = json_is_string(n) ? source_run_table(self->sr, json_string_value(n)) : NULL;
        if (!t || !t->def->reconcile || atomic_exchange(&t->force_reconcile, 1))
            continue;
        if (fallback) {
            atomic_fetch_add(&t->m.fallback_reconciliations, 1);
            log_info(source_name(self->sr->src), t->def->name,
                     "an ID reconciliation finds deletes instead of the change feed");
        } else
            log_warn(source_name(self->sr->src), t->def->name,
                     "an ID reconciliation was requested by %s", self->def->name);
    }
}

static void add_bookmark_state(page_work *w, const state_bookmark *bm)
{
    table_run *t = w->self;
    state_key_bookmark(&w->key, source_name(t->sr->src), t->def->name);
    state_bookmark_format(bm, &w->val);
    kafka_batch_add(w->state, t->sr->cfg->kafka.state_topic, w->key.data, w->key.len, w->val.data,
                    w->val.len);
}

/* The changes are committed: count them, forget how to undo them. */
static void keep_changes(page_work *w)
{
    for (size_t i = 0; i < w->n_changes; i++) {
        change *c = &w->changes[i];
        atomic_fetch_add(c->is_delete ? &c->t->m.deleted : &c->t->m.published, 1);
    }
    w->n_changes = 0;
    buf_reset(&w->change_keys);
}

/* The tables whose dedupe maps this page work may change: its own and the locked targets. */
static int touched_tables(page_work *w, table_run **out)
{
    int n = 0;
    out[n++] = w->self;
    for (int i = 0; i < w->n_locked; i++)
        out[n++] = w->locked[i];
    return n;
}

/* The dedupe log chunks of the changes, one table after the other, in the state batch. */
static void add_dedupe_chunks(page_work *w)
{
    table_run *tables[MAX_LOCKED + 1];
    int n = touched_tables(w, tables);
    for (int k = 0; k < n; k++) {
        table_run *t = tables[k];
        const char *state_topic = t->sr->cfg->kafka.state_topic, *src = source_name(t->sr->src);
        size_t entries = 0;
        dedupe_chunk_begin(&w->val);
        for (size_t i = 0; i < w->n_changes; i++) {
            const change *c = &w->changes[i];
            if (c->t != t)
                continue;
            const char *pk = w->change_keys.data + c->key_off;
            if (c->is_delete)
                dedupe_chunk_delete(&w->val, pk, c->len);
            else
                dedupe_chunk_put(&w->val, pk, c->len, c->hash);
            if (++entries, w->val.len >= DEDUPE_LOG_CHUNK_BYTES) {
                dedupe_log_add(t->dlog, w->state, state_topic, src, t->def->name, &w->val, entries);
                entries = 0;
                dedupe_chunk_begin(&w->val);
            }
        }
        if (entries)
            dedupe_log_add(t->dlog, w->state, state_topic, src, t->def->name, &w->val, entries);
    }
}

static void end_dedupe_chunks(page_work *w, int committed)
{
    table_run *tables[MAX_LOCKED + 1];
    int n = touched_tables(w, tables);
    for (int k = 0; k < n; k++) {
        if (committed)
            dedupe_log_committed(tables[k]->dlog);
        else
            dedupe_log_abandoned(tables[k]->dlog);
    }
}

/* Commits the page's batches with bm as the new bookmark. 0 on success (changes kept); on
 * failure the dedupe maps are put back. */
static int commit_page(page_work *w, state_bookmark *bm, char *err, size_t errlen)
{
    table_run *t = w->self;
    source_run *sr = t->sr;
    add_dedupe_chunks(w);
    add_bookmark_state(w, bm);
    for (int attempt = 1;; attempt++) {
        kafka_result r =
            kafka_commit(sr->producer, w->data, w->state, &engine_stop_requested, err, errlen);
        if (r == KAFKA_OK) {
            end_dedupe_chunks(w, 1);
            keep_changes(w);
            atomic_fetch_add(&t->m.bytes, (long)kafka_batch_bytes(w->data));
            if (bm->bookmark_ms != CRM_TIME_NONE)
                atomic_store(&t->m.bookmark_ms, bm->bookmark_ms);
            return 0;
        }
        t->last_error = ERR_KAFKA;
        if (r == KAFKA_FATAL)
            sr->stop = 1;
        if (r == KAFKA_FATAL || attempt >= COMMIT_ATTEMPTS || engine_stop_requested || sr->stop) {
            end_dedupe_chunks(w, 0);
            undo_changes(w, 0);
            return -1;
        }
        log_warn(source_name(sr->src), t->def->name, "commit attempt %d failed, retrying: %s",
                 attempt, err);
        sleep_interruptible(2000LL * attempt, &engine_stop_requested);
    }
}

typedef struct pass {
    table_run *t;
    table_ctx ctx;
    page_work w;
    int reconcile;    /* an ids-only reconciliation pass */
    int full_listing; /* this pass lists every record from the start: unmarked keys vanished */
    int64_t pass_max_ms;
    int64_t cap_ms;
    json_t *paging; /* working paging state; committed copies go into the bookmark */
    long published_at_start;
    int64_t remaining;      /* records still to come per the API's totals; -1 unknown */
    json_t *suspects;       /* the listing's unconfirmed misses (tables without confirm_request) */
    long seen;              /* records read in this pass */
    int pending;            /* pages emitted but not committed yet (t->lock is held) */
    state_bookmark pend_bm; /* the bookmark that commits with them */
    int64_t pending_since;  /* monotonic ms of the first pending page */
    long raw_records;       /* records of the last raw page */
    buf spare_body; /* a processed page's body, reused for the next response (no regrowth) */
} pass;

/* A steady progress line during long passes (backfills), never per record. */
static void log_progress(pass *p, int64_t started, int64_t *last)
{
    int64_t now = now_monotonic_ms();
    if (now - *last < (int64_t)p->t->sr->cfg->progress_s * 1000)
        return;
    *last = now;
    table_run *t = p->t;
    long published = atomic_load(&t->m.published) - p->published_at_start;
    double secs = (double)(now - started) / 1000.0;
    char at[40] = "-";
    if (p->pass_max_ms != CRM_TIME_NONE)
        crm_time_format(p->pass_max_ms, at, sizeof(at));
    double rate = secs > 0 ? (double)p->seen / secs : 0.0;
    char eta[64] = "";
    if (p->remaining >= 0 && rate > 0)
        snprintf(eta, sizeof(eta), " remaining=%lld eta=%.0fs", (long long)p->remaining,
                 (double)p->remaining / rate);
    log_info(source_name(t->sr->src), t->def->name,
             "progress: pages=%d records=%ld published=%ld rate=%.0f/s elapsed=%.0fs reached=%s%s",
             p->ctx.page_no, p->seen, published, rate, secs, at, eta);
}

static int stopping(const table_run *t)
{
    return engine_stop_requested || t->sr->stop;
}

static int64_t pass_lower_bound(const table_run *t)
{
    const source_config *sc = t->sr->sc;
    if (t->def->method == SYNC_FULL_TABLE)
        return CRM_TIME_NONE;
    if (json_object_size(t->bm.paging) > 0 && t->bm.pass_from_ms != CRM_TIME_NONE)
        return t->bm.pass_from_ms; /* resume the interrupted pass with its own window */
    int64_t from = sc->start_ms;
    if (t->bm.bookmark_ms != CRM_TIME_NONE) {
        from = t->bm.bookmark_ms - (int64_t)t->lookback_s * 1000;
        if (sc->start_ms != CRM_TIME_NONE && from < sc->start_ms)
            from = sc->start_ms;
    }
    return from;
}

/* Executes one request with parse retries; fills pg. 0 ok, 1 stopped, -1 failed. */
static atomic_ulong request_ids;

static int fetch_page(pass *p, http_request *req, page *pg, char *err, size_t errlen)
{
    table_run *t = p->t;
    const char *sname = source_name(t->sr->src);
    const connector *conn = source_connector(t->sr->src);
    json_t *saved = json_deep_copy(p->ctx.paging);
    int rc = -1;
    for (int attempt = 1; attempt <= PARSE_ATTEMPTS; attempt++) {
        http_response resp;
        http_response_init(&resp);
        if (p->spare_body.cap) { /* the last page's buffer: already the size of a page */
            resp.body = p->spare_body;
            buf_init(&p->spare_body);
            buf_reset(&resp.body);
        }
        int64_t resume_at = 0;
        log_set_request_id(atomic_fetch_add(&request_ids, 1) + 1);
        http_result hr = http_client_execute(t->http, req, &resp, &engine_stop_requested,
                                             &resume_at, err, errlen);
        if (resp.attempts > 1)
            atomic_fetch_add(&t->m.retries, resp.attempts - 1);
        atomic_fetch_add(&t->m.rate_wait_ms, (long)resp.wait_ms);
        if (hr == HTTP_STOPPED) {
            http_response_free(&resp);
            rc = 1;
            break;
        }
        if (hr == HTTP_BUDGET) {
            char when[40];
            crm_time_format(resume_at, when, sizeof(when));
            log_warn(sname, t->def->name, "API budget spent; state is committed; pausing until %s",
                     when);
            http_response_free(&resp);
            sleep_interruptible(resume_at - now_wall_ms(), &engine_stop_requested);
            attempt--;
            if (stopping(t)) {
                rc = 1;
                break;
            }
            continue;
        }
        if (hr != HTTP_OK) {
            t->last_error = ERR_TRANSPORT;
            http_response_free(&resp);
            break;
        }
        http_verdict v = VERDICT_ERROR;
        if (resp.status < 200 || resp.status > 299) {
            v = conn->classify                               ? conn->classify(t->def, &resp)
                : resp.status == 401                         ? VERDICT_AUTH
                : (resp.status == 402 || resp.status == 403) ? VERDICT_UNAVAILABLE
                                                             : VERDICT_ERROR;
            char excerpt[256], url[512];
            http_body_excerpt(&resp, excerpt, sizeof(excerpt));
            http_redact_url(req->url.data, source_auth(t->sr->src), url, sizeof(url));
            snprintf(err, errlen, "HTTP %ld from %s %s: %s", resp.status,
                     req->method ? req->method : "GET", url, excerpt);
        }
        if (v == VERDICT_SKIP) {
            log_warn(sname, t->def->name, "skipping one request's object: %s", err);
        } else if (resp.status < 200 || resp.status > 299) {
            t->last_error = ERR_HTTP;
            if (v == VERDICT_AUTH) {
                t->sr->auth_failed = 1;
                t->sr->stop = 1;
                t->last_error = ERR_AUTH;
            } else if (v == VERDICT_UNAVAILABLE) {
                t->unavailable = 1;
                t->last_error = ERR_UNAVAILABLE;
            }
            http_response_free(&resp);
            break;
        }
        memset(pg, 0, sizeof(*pg));
        pg->bookmark_cap_ms = CRM_TIME_NONE;
        int prc = t->def->parse_page(&p->ctx, &resp, pg, err, errlen);
        atomic_fetch_add(&t->m.pages, 1);
        if (prc == 0)
            atomic_store(&t->sr->authenticated, 1);
        if (prc == 0 && pg->raw_from_response) { /* the records are the body's text: keep it */
            buf_free(&pg->raw);
            pg->raw = resp.body;
            buf_init(&resp.body);
        }
        http_response_free(&resp);
        if (prc == 0) {
            rc = 0;
            break;
        }
        t->last_error = ERR_PARSE;
        page_clear(pg);
        json_object_clear(p->ctx.paging); /* rewind what the parser changed */
        json_object_update(p->ctx.paging, saved);
        if (attempt < PARSE_ATTEMPTS) {
            log_warn(sname, t->def->name, "page %d unusable (attempt %d): %s; retrying",
                     p->ctx.page_no, attempt, err);
            sleep_interruptible(1000LL * attempt, &engine_stop_requested);
        }
    }
    if (rc != 0) {
        json_object_clear(p->ctx.paging);
        json_object_update(p->ctx.paging, saved);
    }
    log_set_request_id(0);
    json_decref(saved);
    return rc;
}

static void copy_bookmark(const state_bookmark *from, state_bookmark *to)
{
    *to = *from;
    to->paging = json_deep_copy(from->paging);
    to->suspects = from->suspects ? json_deep_copy(from->suspects) : NULL;
}

static int64_t capped(int64_t v, int64_t cap)
{
    return (cap != CRM_TIME_NONE && v != CRM_TIME_NONE && v > cap) ? cap : v;
}

static int64_t later(int64_t a, int64_t b)
{
    if (a == CRM_TIME_NONE)
        return b;
    if (b == CRM_TIME_NONE)
        return a;
    return a > b ? a : b;
}

/* The records of a raw page (page.raw): reconciliation marks or raw events. */
static int emit_raw_page(pass *p, page *pg, char *err, size_t errlen)
{
    table_run *t = p->t;
    const char *q = pg->raw.data + pg->raw_off, *end = q + pg->raw_len, *v;
    int first, more;
    long n = 0;
    js_array_begin(&q, end, &first);
    while ((more = js_array_next(&q, end, &first, &v)) == 1) {
        n++;
        if (p->reconcile) {
            const char *ve = js_skip(v, end),
                       *pkv = ve ? js_member(v, ve, t->def->primary_key) : NULL;
            if (!ve) {
                snprintf(err, errlen, "invalid JSON in the records array");
                return -1;
            }
            const char *pk;
            size_t pklen;
            if (raw_primary_key(pkv, ve, &pk, &pklen) == 0)
                dedupe_mark(t->dd, pk, pklen);
            q = ve;
        } else if (emit_raw_record(&p->w, v, end, &q, err, errlen) != 0) {
            t->last_error = ERR_MAPPING;
            return -1;
        }
    }
    p->seen += n;
    p->raw_records = n;
    if (more < 0) {
        snprintf(err, errlen, "invalid JSON in the records array after record %ld", n);
        t->last_error = ERR_MAPPING;
        return -1;
    }
    return 0;
}

/* Emits the page's records and deletes and commits them with the advanced bookmark. */
/* Commits the pending pages with their bookmark and releases the table. */
static int flush_pending(pass *p, char *err, size_t errlen)
{
    table_run *t = p->t;
    if (!p->pending)
        return 0;
    int rc = commit_page(&p->w, &p->pend_bm, err, errlen);
    if (rc == 0) {
        state_bookmark_clear(&t->bm);
        t->bm = p->pend_bm;
    } else {
        state_bookmark_clear(&p->pend_bm);
    }
    memset(&p->pend_bm, 0, sizeof(p->pend_bm));
    p->pending = 0;
    unlock_targets(&p->w);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int process_page(pass *p, page *pg, char *err, size_t errlen)
{
    table_run *t = p->t;
    page_work *w = &p->w;
    size_t i;
    json_t *v;
    int rc = 0;
    if (!p->pending) {
        pthread_mutex_lock(&t->lock);
        work_reset(w);
    }
    work_mark start = work_mark_now(w);
    w->now_ms = now_wall_ms();
    w->pass_start_ms = p->ctx.until_ms; /* until_ms: when the pass started */
    w->future_values = 0;
    json_array_foreach(pg->records, i, v)
    {
        if (p->reconcile) {
            buf pk;
            buf_init(&pk);
            if (pk_text(json_object_get(v, t->def->primary_key), &pk) == 0)
                dedupe_mark(t->dd, pk.data, pk.len);
            buf_free(&pk);
        } else if ((rc = emit_record(w, v, err, errlen)) != 0) {
            t->last_error = ERR_MAPPING;
            break;
        }
    }
    if (rc == 0 && pg->raw_len > 0)
        rc = emit_raw_page(p, pg, err, errlen);
    if (pg->ids) {
        buf pk;
        buf_init(&pk);
        json_array_foreach(pg->ids, i, v) if (pk_text(v, &pk) == 0)
            dedupe_mark(t->dd, pk.data, pk.len);
        buf_free(&pk);
    }
    /* Deletes first: a key deleted by this page (or an earlier, newer page of the same feed)
     * is never revived by an image from an older event. */
    if (rc == 0 && pg->deletes)
        rc = emit_feed_deletes(w, pg->deletes, err, errlen);
    if (rc == 0 && pg->upserts)
        rc = emit_feed_upserts(w, pg->upserts, err, errlen);
    if (rc == 0 && pg->reconcile_tables)
        request_reconciliations(t, pg->reconcile_tables, pg->reconcile_fallback);
    if (pg->bookmark_cap_ms != CRM_TIME_NONE)
        p->cap_ms = p->cap_ms == CRM_TIME_NONE || pg->bookmark_cap_ms < p->cap_ms
                        ? pg->bookmark_cap_ms
                        : p->cap_ms;
    p->pass_max_ms = later(p->pass_max_ms, w->page_max_ms);
    int64_t got = (int64_t)json_array_size(pg->records) + (pg->raw_len > 0 ? p->raw_records : 0);
    p->seen += (long)json_array_size(pg->records);
    if (pg->total_hint > 0)
        p->remaining = pg->total_hint > got ? pg->total_hint - got : 0;
    if (rc == 0 && !p->reconcile) {
        state_bookmark next;
        copy_bookmark(p->pending ? &p->pend_bm : &t->bm, &next);
        json_decref(next.paging);
        next.paging = json_deep_copy(p->ctx.paging);
        next.pass_from_ms = p->ctx.from_ms;
        if (t->def->sorted)
            next.bookmark_ms = later(next.bookmark_ms, capped(w->page_max_ms, p->cap_ms));
        if (p->pending)
            state_bookmark_clear(&p->pend_bm);
        else
            p->pending_since = now_monotonic_ms();
        p->pend_bm = next;
        p->pending++;
        /* Small pages of a plain table share one transaction (fewer commits, less producer
         * overhead); pages that touch other tables commit at once. */
        if (w->n_locked > 0 || json_array_size(pg->deletes) > 0 ||
            json_array_size(pg->upserts) > 0 || pg->reconcile_tables ||
            kafka_batch_count(w->data) >= (size_t)t->sr->cfg->kafka.commit_max_events ||
            now_monotonic_ms() - p->pending_since >= t->sr->cfg->kafka.commit_max_age_ms)
            rc = flush_pending(p, err, errlen);
        return rc;
    }
    work_rewind(w, start); /* a failed page publishes nothing of its own */
    if (p->pending)        /* what was complete before it still commits */
        flush_pending(p, err, errlen);
    else {
        unlock_targets(w);
        pthread_mutex_unlock(&t->lock);
    }
    return rc;
}

/* ---- reconciliation: ids a full listing missed, confirmed gone before they are deleted ---- */

/* A listing can drift while it is read (records move or vanish between its pages), so an id it
 * did not return is only a candidate. Candidates map pk -> the hash known when collected. */
static void collect_candidate(const char *pk, size_t len, void *u)
{
    void **ctx = u; /* {candidates, dd} */
    uint64_t hash = 0;
    dedupe_get(ctx[1], pk, len, &hash);
    dedupe_put(ctx[0], pk, len, hash);
}

/* Every primary key a page reports (records, raw records, ids), as text. -1 on invalid JSON. */
static int page_each_key(const table_run *t, const page *pg,
                         void (*fn)(const char *pk, size_t len, void *u), void *u)
{
    buf pk;
    buf_init(&pk);
    size_t i;
    json_t *v;
    json_array_foreach(pg->records, i, v) if (pk_text(json_object_get(v, t->def->primary_key),
                                                      &pk) == 0) fn(pk.data, pk.len, u);
    json_array_foreach(pg->ids, i, v) if (pk_text(v, &pk) == 0) fn(pk.data, pk.len, u);
    int rc = 0;
    if (pg->raw_len > 0) {
        const char *q = pg->raw.data + pg->raw_off, *end = q + pg->raw_len, *r;
        int first, more;
        js_array_begin(&q, end, &first);
        while ((more = js_array_next(&q, end, &first, &r)) == 1) {
            const char *re = js_skip(r, end), *key;
            size_t klen;
            if (!re) {
                more = -1;
                break;
            }
            if (raw_primary_key(js_member(r, re, t->def->primary_key), re, &key, &klen) == 0) {
                fn(key, klen, u);
            } else { /* an escaped key: ask jansson */
                json_t *rec = json_loadb(r, (size_t)(re - r), 0, NULL);
                if (rec && pk_text(json_object_get(rec, t->def->primary_key), &pk) == 0)
                    fn(pk.data, pk.len, u);
                json_decref(rec);
            }
            q = re;
        }
        rc = more < 0 ? -1 : 0;
    }
    buf_free(&pk);
    return rc;
}

static void forget_alive(const char *pk, size_t len, void *u)
{
    dedupe_remove(u, pk, len);
}

/* A candidate as confirm_request sees it: integers (canonical decimal text) as JSON integers,
 * anything else as a string, as the records have them. */
static void append_id(const char *pk, size_t len, uint64_t hash, void *u)
{
    (void)hash;
    char tmp[24];
    int integer = len > 0 && len < 19 && (pk[0] != '0' || len == 1);
    for (size_t i = 0; integer && i < len; i++)
        integer = pk[i] >= '0' && pk[i] <= '9';
    if (integer) {
        memcpy(tmp, pk, len);
        tmp[len] = '\0';
        json_array_append_new(u, json_integer(strtoll(tmp, NULL, 10)));
    } else {
        json_array_append_new(u, json_stringn(pk, len));
    }
}

/* One confirmation request of the ids: those the answer reports alive leave `set`. 0, 1
 * stopped, -1 failed (err). */
static int confirm_batch(table_run *t, json_t *ids, dedupe *set, char *err, size_t errlen)
{
    table_ctx ctx = {.src = t->sr->src,
                     .table = t->def,
                     .from_ms = CRM_TIME_NONE,
                     .until_ms = now_wall_ms(),
                     .bookmark_ms = t->bm.bookmark_ms,
                     .paging = json_object(),
                     .confirm = 1};
    http_request req;
    http_request_init(&req);
    http_response resp;
    http_response_init(&resp);
    int rc = -1;
    int64_t resume_at = 0;
    if (t->def->confirm_request(&ctx, ids, &req, err, errlen) != REQ_READY) {
        if (!*err)
            snprintf(err, errlen, "no confirmation request could be built");
        goto out;
    }
    http_result hr =
        http_client_execute(t->http, &req, &resp, &engine_stop_requested, &resume_at, err, errlen);
    if (resp.attempts > 1)
        atomic_fetch_add(&t->m.retries, resp.attempts - 1);
    atomic_fetch_add(&t->m.rate_wait_ms, (long)resp.wait_ms);
    if (hr == HTTP_STOPPED) {
        rc = 1;
    } else if (hr == HTTP_BUDGET) {
        snprintf(err, errlen, "API budget spent while confirming deletes");
    } else if (hr != HTTP_OK) {
        /* err says why */
    } else if (resp.status == 404 || resp.status == 410) {
        rc = 0; /* none of them exists */
    } else if (resp.status < 200 || resp.status > 299) {
        char excerpt[256], url[512];
        http_body_excerpt(&resp, excerpt, sizeof(excerpt));
        http_redact_url(req.url.data, source_auth(t->sr->src), url, sizeof(url));
        snprintf(err, errlen, "HTTP %ld from %s %s: %s", resp.status,
                 req.method ? req.method : "GET", url, excerpt);
    } else {
        page pg;
        memset(&pg, 0, sizeof(pg));
        pg.bookmark_cap_ms = CRM_TIME_NONE;
        if (t->def->parse_page(&ctx, &resp, &pg, err, errlen) == 0) {
            if (pg.raw_from_response) { /* the records are the body's text */
                buf_free(&pg.raw);
                pg.raw = resp.body;
                buf_init(&resp.body);
            }
            rc = page_each_key(t, &pg, forget_alive, set);
            if (rc)
                snprintf(err, errlen, "invalid JSON in a confirmation answer");
        }
        page_clear(&pg);
    }
out:
    http_response_free(&resp);
    http_request_free(&req);
    json_decref(ctx.paging);
    return rc;
}

/* Reads the candidates back by id (confirm_request), batch by batch; those the CRM still has
 * leave `set`. 0, 1 stopped, -1 failed: nothing may be deleted this pass. */
static int confirm_by_id(table_run *t, dedupe *set, char *err, size_t errlen)
{
    json_t *all = json_array();
    dedupe_each(set, append_id, all);
    size_t batch = t->def->confirm_batch > 0 ? (size_t)t->def->confirm_batch : 1,
           n = json_array_size(all);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += batch) {
        json_t *ids = json_array();
        for (size_t j = i; j < n && j < i + batch; j++)
            json_array_append(ids, json_array_get(all, j));
        err[0] = '\0';
        rc = confirm_batch(t, ids, set, err, errlen);
        json_decref(ids);
    }
    json_decref(all);
    return rc;
}

/* Without confirm_request: a candidate is gone when two consecutive complete listings missed
 * it (the bookmark's suspects hold the last listing's misses), or when the listing was a single
 * page. */
typedef struct repetition {
    dedupe *before; /* the last listing's suspects */
    int single_page;
    dedupe *confirmed;
    json_t *missed; /* the new suspects */
} repetition;

static void sort_candidate(const char *pk, size_t len, uint64_t hash, void *u)
{
    repetition *r = u;
    if (r->single_page || dedupe_get(r->before, pk, len, NULL))
        dedupe_put(r->confirmed, pk, len, hash);
    else
        json_array_append_new(r->missed, json_stringn(pk, len)); /* until the next listing */
}

/* Consumes set; returns the confirmed candidates and, in *suspects, the new suspects. */
static dedupe *confirm_by_repetition(const table_run *t, dedupe *set, int single_page,
                                     json_t **suspects)
{
    repetition r = {dedupe_new(), single_page, dedupe_new(), json_array()};
    size_t i;
    json_t *k;
    json_array_foreach(t->bm.suspects, i, k) if (json_is_string(k))
        dedupe_put(r.before, json_string_value(k), json_string_length(k), 0);
    dedupe_each(set, sort_candidate, &r);
    dedupe_free(set);
    dedupe_free(r.before);
    *suspects = r.missed;
    return r.confirmed;
}

typedef struct vanished_ctx {
    page_work *w;
    table_run *t;
    size_t n;
    int failed;
    char *err;
    size_t errlen;
} vanished_ctx;

/* A confirmed candidate: deleted unless it changed since it was collected (a change feed
 * published it meanwhile, so it exists). */
static void delete_vanished(const char *pk, size_t len, uint64_t hash, void *u)
{
    vanished_ctx *v = u;
    uint64_t now;
    if (v->failed || !dedupe_get(v->t->dd, pk, len, &now) || now != hash)
        return;
    if (emit_delete(v->w, v->t, pk, len, NULL, v->err, v->errlen))
        v->failed = 1;
    v->n++;
}

/* The ids the pass's full listing missed and the CRM confirms gone (a new map, maybe empty),
 * or NULL: delete nothing (stopped, or confirmation failed: err, *rc). */
static dedupe *vanished_ids(pass *p, int *rc, char *err, size_t errlen)
{
    table_run *t = p->t;
    dedupe *set = dedupe_new();
    *rc = 0;
    pthread_mutex_lock(&t->lock);
    size_t known = dedupe_count(t->dd), seen = dedupe_marked(t->dd);
    if (seen == 0 && known > 0) {
        log_warn(source_name(t->sr->src), t->def->name,
                 "reconciliation listed no ids while %zu are known; not deleting anything", known);
    } else {
        void *ctx[2] = {set, t->dd};
        dedupe_each_unmarked(t->dd, collect_candidate, ctx);
    }
    pthread_mutex_unlock(&t->lock);
    size_t candidates = dedupe_count(set);
    if (candidates == 0)
        return set;
    if (!t->def->confirm_request) {
        set = confirm_by_repetition(t, set, p->ctx.page_no <= 1, &p->suspects);
    } else if ((*rc = confirm_by_id(t, set, err, errlen)) != 0) {
        if (*rc < 0)
            log_warn(source_name(t->sr->src), t->def->name,
                     "reconciliation: %zu ids missing from the listing could not be confirmed "
                     "gone; deleting none this pass: %s",
                     candidates, err);
        dedupe_free(set);
        *rc = *rc > 0 ? 1 : 0; /* a failed confirmation only postpones the deletes */
        return NULL;
    }
    if (dedupe_count(set) < candidates)
        log_info(source_name(t->sr->src), t->def->name,
                 "reconciliation: %zu ids missing from the listing, %zu still exist (the listing "
                 "drifted, or a second listing must confirm them)",
                 candidates, candidates - dedupe_count(set));
    return set;
}

static int commit_state_batch(kafka_batch *state, void *u, char *err, size_t errlen)
{
    table_run *t = u;
    return kafka_commit(t->sr->producer, NULL, state, &engine_stop_requested, err, errlen) ==
                   KAFKA_OK
               ? 0
               : -1;
}

/* The dedupe log holds far more than the live map: rewrite it (under the table lock). A failure
 * leaves a readable log; the rewrite is tried again after the next pass. */
static void rewrite_dedupe_log(table_run *t)
{
    char err[512];
    size_t chunks = dedupe_log_chunks(t->dlog), entries = dedupe_log_entries(t->dlog);
    int64_t started = now_monotonic_ms();
    if (dedupe_log_rewrite(t->dlog, t->dd, t->sr->cfg->kafka.state_topic, source_name(t->sr->src),
                           t->def->name, commit_state_batch, t, err, sizeof(err))) {
        log_warn(source_name(t->sr->src), t->def->name,
                 "dedupe log rewrite failed (tried again after the next pass): %s", err);
        return;
    }
    log_info(source_name(t->sr->src), t->def->name,
             "dedupe log rewritten: %zu chunks / %zu entries -> %zu / %zu (%zu live keys) in "
             "%lld ms",
             chunks, entries, dedupe_log_chunks(t->dlog), dedupe_log_entries(t->dlog),
             dedupe_count(t->dd), (long long)(now_monotonic_ms() - started));
}

/* Ends a pass: reconciliation deletes, bookmark advance, paging cleared, all in one commit. */
static int finish_pass(pass *p, char *err, size_t errlen)
{
    table_run *t = p->t;
    int rc = 0;
    dedupe *gone = p->full_listing ? vanished_ids(p, &rc, err, errlen) : NULL;
    if (rc) /* stopped while confirming */
        return rc;
    pthread_mutex_lock(&t->lock);
    work_reset(&p->w);
    p->w.now_ms = now_wall_ms();
    size_t vanished = 0;
    if (gone) {
        vanished_ctx v = {&p->w, t, 0, 0, err, errlen};
        dedupe_each(gone, delete_vanished, &v);
        dedupe_free(gone);
        if (v.failed) {
            undo_changes(&p->w, 0);
            pthread_mutex_unlock(&t->lock);
            return -1;
        }
        vanished = v.n;
    }
    state_bookmark next;
    copy_bookmark(&t->bm, &next);
    if (!p->reconcile) {
        next.bookmark_ms = later(next.bookmark_ms, capped(p->pass_max_ms, p->cap_ms));
        json_decref(next.paging);
        next.paging = json_object();
        next.pass_from_ms = CRM_TIME_NONE;
        next.last_pass_ms = now_wall_ms();
        /* The reconciliation clock starts with the first complete pass (a backfill has just
         * listed everything), so the first sync does not list every table twice. */
        if (next.passes == 0 && next.last_reconcile_ms == 0)
            next.last_reconcile_ms = next.last_pass_ms;
        next.passes++;
    }
    if (p->full_listing) {
        next.last_reconcile_ms = now_wall_ms();
        if (!t->def->confirm_request) { /* this listing's misses, confirmed by the next one */
            json_decref(next.suspects);
            next.suspects = p->suspects;
            p->suspects = NULL;
        }
    }
    rc = commit_page(&p->w, &next, err, errlen);
    if (rc == 0) {
        state_bookmark_clear(&t->bm);
        t->bm = next;
        if (vanished)
            log_info(source_name(t->sr->src), t->def->name,
                     "reconciliation: %zu records vanished from the CRM; published deletes",
                     vanished);
        if (dedupe_log_wants_rewrite(t->dlog, t->dd))
            rewrite_dedupe_log(t);
    } else {
        state_bookmark_clear(&next);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* One pass. 0 done, 1 stopped, -1 failed (err set). */
static int run_pass(table_run *t, int reconcile, char *err, size_t errlen)
{
    pass p;
    memset(&p, 0, sizeof(p));
    p.t = t;
    p.reconcile = reconcile;
    p.pass_max_ms = CRM_TIME_NONE;
    p.cap_ms = CRM_TIME_NONE;
    work_init(&p.w, t);
    int resumed = !reconcile && json_object_size(t->bm.paging) > 0;
    p.w.snapshot = t->bm.passes == 0;
    p.full_listing =
        reconcile || (t->def->method == SYNC_FULL_TABLE && t->def->reconcile && !resumed);
    p.ctx.src = t->sr->src;
    p.ctx.table = t->def;
    p.ctx.until_ms = now_wall_ms();
    p.ctx.bookmark_ms = t->bm.bookmark_ms;
    p.ctx.reconcile = reconcile;
    /* Reconciliation passes page privately (their paging is never committed). */
    p.paging = reconcile ? json_object() : json_deep_copy(t->bm.paging);
    p.ctx.paging = p.paging;
    p.ctx.from_ms = reconcile ? CRM_TIME_NONE : pass_lower_bound(t);
    p.w.mark = p.full_listing;
    if (p.full_listing) {
        pthread_mutex_lock(&t->lock);
        dedupe_mark_begin(t->dd);
        pthread_mutex_unlock(&t->lock);
    }
    if (resumed)
        log_info(source_name(t->sr->src), t->def->name, "resuming an interrupted pass");
    int rc = 0;
    int64_t pass_started = now_monotonic_ms(), last_progress = pass_started;
    long published_at_start = atomic_load(&t->m.published);
    p.published_at_start = published_at_start;
    p.remaining = -1;
    for (;;) {
        if (stopping(t)) {
            rc = 1;
            break;
        }
        http_request req;
        http_request_init(&req);
        req_result r = t->def->next_request(&p.ctx, &req, err, errlen);
        if (r == REQ_DONE) {
            http_request_free(&req);
            break;
        }
        if (r == REQ_ERROR) {
            http_request_free(&req);
            rc = -1;
            break;
        }
        page pg;
        int64_t t0 = now_monotonic_ms();
        rc = fetch_page(&p, &req, &pg, err, errlen);
        http_request_free(&req);
        if (rc != 0)
            break;
        int64_t t1 = now_monotonic_ms();
        rc = process_page(&p, &pg, err, errlen);
        log_debug(source_name(t->sr->src), t->def->name,
                  "page %d: records=%zu fetch_ms=%lld commit_ms=%lld", p.ctx.page_no,
                  json_array_size(pg.records), (long long)(t1 - t0),
                  (long long)(now_monotonic_ms() - t1));
        if (!p.spare_body.cap) {
            p.spare_body = pg.raw;
            buf_init(&pg.raw);
        }
        page_clear(&pg);
        if (rc != 0)
            break;
        p.ctx.page_no++;
        log_progress(&p, pass_started, &last_progress);
    }
    if (p.pending) { /* stopped or failed after complete pages: they still commit */
        char ferr[512];
        if (flush_pending(&p, ferr, sizeof(ferr)) && rc == 0) {
            snprintf(err, errlen, "%s", ferr);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = finish_pass(&p, err, errlen);
    work_free(&p.w);
    buf_free(&p.spare_body);
    json_decref(p.paging);
    json_decref(p.suspects);
    return rc;
}

static int reconcile_due(table_run *t)
{
    int interval = source_reconcile_interval(t->sr->src);
    if (!t->def->reconcile || t->def->method == SYNC_FULL_TABLE)
        return 0;
    if (atomic_exchange(&t->force_reconcile, 0))
        return 1;
    if (interval <= 0)
        return 0;
    return now_wall_ms() - t->bm.last_reconcile_ms >= (int64_t)interval * 1000;
}

static void log_pass(table_run *t, const char *what, long published0, long deleted0,
                     long unchanged0, int64_t started)
{
    char bm[40] = "none";
    if (t->bm.bookmark_ms != CRM_TIME_NONE)
        crm_time_format(t->bm.bookmark_ms, bm, sizeof(bm));
    log_info(source_name(t->sr->src), t->def->name,
             "%s done in %.1fs: published=%ld deleted=%ld unchanged=%ld pages=%ld bookmark=%s",
             what, (double)(now_monotonic_ms() - started) / 1000.0,
             atomic_load(&t->m.published) - published0, atomic_load(&t->m.deleted) - deleted0,
             atomic_load(&t->m.unchanged) - unchanged0, atomic_load(&t->m.pages), bm);
}

void *sync_table_thread(void *arg)
{
    table_run *t = arg;
    source_run *sr = t->sr;
    const char *sname = source_name(sr->src);
    char err[1024];
    while (!stopping(t) && !t->schema_rejected) {
        long p0 = atomic_load(&t->m.published), d0 = atomic_load(&t->m.deleted),
             u0 = atomic_load(&t->m.unchanged);
        int64_t started = now_monotonic_ms();
        int rc = table_schema_refresh(t, t->http, err, sizeof(err));
        if (rc == 0)
            rc = run_pass(t, 0, err, sizeof(err));
        if (rc == 0 && reconcile_due(t))
            rc = run_pass(t, 1, err, sizeof(err));
        t->failed = rc < 0;
        if (rc < 0)
            atomic_fetch_add(&t->m.errors[t->last_error], 1);
        if (rc == 0) {
            atomic_store(&t->m.last_success_ms, now_wall_ms());
            log_pass(t, "pass", p0, d0, u0, started);
        } else if (rc < 0 && t->schema_rejected)
            log_error(sname, t->def->name,
                      "the schema registry rejected the table's schema; the table stops, its "
                      "state stays where it was: %s",
                      err);
        else if (rc < 0 && t->unavailable)
            log_error(sname, t->def->name, "table unavailable to these credentials, skipped: %s",
                      err);
        else if (rc < 0 && sr->auth_failed)
            log_error(sname, t->def->name, "credentials rejected, source stopped: %s", err);
        else if (rc < 0 && kafka_is_fenced(sr->producer))
            log_error(sname, t->def->name,
                      "fenced: another crmstream instance took over source %s "
                      "(transactional.id crmstream-%s-%s); exiting",
                      sname, t->sr->cfg->kafka.topic_prefix, sname);
        else if (rc < 0)
            log_error(sname, t->def->name, "pass failed: %s", err);
        if (sr->once || t->unavailable || t->schema_rejected)
            break;
        allocator_release_idle();
        sleep_interruptible((int64_t)sr->sc->poll_interval_s * 1000, &engine_stop_requested);
    }
    atomic_store(&t->done, 1);
    return NULL;
}
