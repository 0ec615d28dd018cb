/* sync_work.c — the page work (sync_work.h): the batches the uncommitted pages of a pass
 * commit together, the undo log of their dedupe map changes, and the commit itself (data, dedupe
 * log chunks and bookmark in one transaction, retried; on failure the maps are put back).
 *
 * Invariant: bookmarks change only after Kafka accepted the page; the dedupe maps change as
 * records are emitted, and every change is logged here, so neither stays ahead of Kafka. */
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "crm_time.h"
#include "engine.h"
#include "log.h"
#include "sync_work.h"

#define COMMIT_ATTEMPTS 5

void work_init(page_work *w, table_run *t)
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

void work_reset(page_work *w)
{
    kafka_batch_clear(w->data);
    kafka_batch_clear(w->state);
    w->n_changes = 0;
    buf_reset(&w->change_keys);
    w->page_max_ms = CRM_TIME_NONE;
}

void work_free(page_work *w)
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

void work_log_change(page_work *w, table_run *t, const char *pk, size_t len, int existed,
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

void work_undo(page_work *w, size_t from)
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

work_mark work_mark_now(const page_work *w)
{
    return (work_mark){kafka_batch_count(w->data), kafka_batch_count(w->state), w->n_changes};
}

void work_rewind(page_work *w, work_mark m)
{
    work_undo(w, m.changes);
    kafka_batch_truncate(w->data, m.data);
    kafka_batch_truncate(w->state, m.state);
}

int work_lock_target(page_work *w, table_run *target)
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
    page_work *tw = target->work;
    if (tw && tw->pending)
        log_debug(source_name(target->sr->src), target->def->name,
                  "committing %d pending pages before %s feeds into the table", tw->pending,
                  w->self->def->name);
    if (tw && tw->pending && !tw->flush_failed && work_flush(tw, &tw->flush_error))
        tw->flush_failed = 1;
    return 0;
}

void work_unlock_targets(page_work *w)
{
    for (int i = 0; i < w->n_locked; i++)
        pthread_mutex_unlock(&w->locked[i]->lock);
    w->n_locked = 0;
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

int work_commit(page_work *w, state_bookmark *bm, sync_error *e)
{
    table_run *t = w->self;
    source_run *sr = t->sr;
    add_dedupe_chunks(w);
    add_bookmark_state(w, bm);
    for (int attempt = 1;; attempt++) {
        kafka_result r = shard_commit(sr->shard, &sr->km, w->data, w->state, &engine_stop_requested,
                                      e->msg, sizeof(e->msg));
        if (r == KAFKA_OK) {
            end_dedupe_chunks(w, 1);
            keep_changes(w);
            atomic_fetch_add(&t->m.bytes, (long)kafka_batch_bytes(w->data));
            if (bm->bookmark_ms != CRM_TIME_NONE)
                atomic_store(&t->m.bookmark_ms, bm->bookmark_ms);
            return 0;
        }
        e->kind = ERR_KAFKA;
        if (r == KAFKA_FATAL)
            flag_set(&sr->stop, 1);
        if (r == KAFKA_FATAL || attempt >= COMMIT_ATTEMPTS || flag_is_set(&engine_stop_requested) ||
            flag_is_set(&sr->stop)) {
            end_dedupe_chunks(w, 0);
            work_undo(w, 0);
            return -1;
        }
        log_warn(source_name(sr->src), t->def->name, "commit attempt %d failed, retrying: %s",
                 attempt, e->msg);
        sleep_interruptible(2000LL * attempt, &engine_stop_requested);
    }
}

int work_flush(page_work *w, sync_error *e)
{
    table_run *t = w->self;
    if (!w->pending)
        return 0;
    int rc = work_commit(w, &w->pend_bm, e);
    if (rc == 0) {
        state_bookmark_clear(&t->bm);
        t->bm = w->pend_bm;
    } else {
        state_bookmark_clear(&w->pend_bm);
    }
    memset(&w->pend_bm, 0, sizeof(w->pend_bm));
    w->pending = 0;
    return rc;
}
