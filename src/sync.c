/* sync.c — the pass driver: one table's sync passes, run in turns by the engine's scheduler
 * (sync_table_turn: a turn runs pages for a slice, then yields). It requests pages through the
 * connector, hands their records to record emission (sync_emit.c), commits them with the advanced
 * bookmark (sync_work.c), and ends a pass with its reconciliation (sync_reconcile.c) and bookmark.
 *
 * Invariant: bookmarks change only after Kafka accepted the page (transaction committed, or
 * every message acknowledged before the state records). The dedupe maps change as records are
 * emitted (one lookup per record), under the table's lock, and every change is logged: a page
 * that fails, or a commit that gives up, puts them back from that log, so neither stays ahead
 * of what Kafka accepted and a failed commit rewinds to the last committed paging state.
 *
 * The table's lock is held only while a page is emitted and committed, never while a page is
 * fetched (HTTP, retries, rate-limit and budget waits): pages not committed yet wait in the page
 * work, shared state under the lock, which a change feed writing into the table commits first. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "crm_time.h"
#include "engine.h"
#include "log.h"
#include "record_key.h"
#include "page_fetch.h"
#include "sched_pool.h"
#include "sync_emit.h"
#include "sync_reconcile.h"
#include "table_schema.h"

#define PARSE_ATTEMPTS 3
/* A turn runs pages for about this long before the table yields its worker when other tables
 * are due (a backfill of one table must not hold a worker for minutes while others wait). */
#define SYNC_TURN_SLICE_MS 1000
/* A rate-limit wait longer than this yields the worker until the source may send again. */
#define SYNC_RATE_YIELD_MS 20
/* Between polls at least this far apart (s) a table keeps no connection open. */
#define SYNC_IDLE_CLOSE_S 30

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
    int64_t remaining; /* records still to come per the API's totals; -1 unknown */
    json_t *suspects;  /* the listing's unconfirmed misses (tables without confirm_request) */
    long seen;         /* records read in this pass */
    long raw_records;  /* records of the last raw page */
    buf spare_body;    /* a processed page's body, reused for the next response (no regrowth) */
    int64_t resume_at_wall_ms; /* PASS_PAUSED: when the API budget returns */
} pass;

/* pass_step's "not now": the pass waits for the API budget without holding a worker. */
#define PASS_PAUSED 3

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
    return flag_is_set(&engine_stop_requested) || flag_is_set(&t->sr->stop);
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

/* Takes the table for the page work. -1 when a change feed's commit of the pending pages
 * failed meanwhile (e): the pass fails as if it had committed them itself. */
static int lock_work(pass *p, sync_error *e)
{
    page_work *w = &p->w;
    pthread_mutex_lock(&p->t->lock);
    if (!w->flush_failed)
        return 0;
    *e = w->flush_error;
    w->flush_failed = 0;
    pthread_mutex_unlock(&p->t->lock);
    return -1;
}

/* Commits the pending pages with their bookmark and releases the table. */
static int flush_and_unlock(pass *p, sync_error *e)
{
    int rc = work_flush(&p->w, e);
    work_unlock_targets(&p->w);
    pthread_mutex_unlock(&p->t->lock);
    return rc;
}

/* What a failed page's kind does to the source or table beyond failing the pass. */
static void note_fetch_failure(table_run *t, const sync_error *e)
{
    if (e->kind == ERR_AUTH) { /* credentials rejected: the source stops */
        t->sr->auth_failed = 1;
        flag_set(&t->sr->stop, 1);
    } else if (e->kind == ERR_UNAVAILABLE) { /* not for these credentials: the table is skipped */
        t->unavailable = 1;
    }
}

/* Commits the complete pages before the pass pauses until the API budget returns (the pass
 * yields its worker until then: PASS_PAUSED). PASS_PAUSED, or -1 when the commit failed (e). */
static int pause_for_budget(pass *p, int64_t resume_at, sync_error *e)
{
    if (lock_work(p, e) || flush_and_unlock(p, e))
        return -1;
    char when[40];
    crm_time_format(resume_at, when, sizeof(when));
    log_warn(source_name(p->t->sr->src), p->t->def->name,
             "API budget spent; state is committed; pausing until %s", when);
    p->resume_at_wall_ms = resume_at;
    return PASS_PAUSED;
}

/* Fetches the pass's next page with parse retries; fills pg. 0 ok, 1 stopped, PASS_PAUSED
 * (the API budget is spent: the same page is asked again after p->resume_at_wall_ms), -1 failed
 * (e). */
static int fetch_page(pass *p, http_request *req, page *pg, sync_error *e)
{
    table_run *t = p->t;
    json_t *saved = json_deep_copy(p->ctx.paging);
    int rc = -1;
    for (int attempt = 1; attempt <= PARSE_ATTEMPTS; attempt++) {
        int64_t resume_at = 0;
        fetch_result r = page_fetch(t, t->http, &p->ctx, req, pg, &p->spare_body, &resume_at, e);
        if (r == FETCH_OK || (r == FETCH_FAILED && e->kind == ERR_PARSE))
            atomic_fetch_add(&t->m.pages, 1); /* a response parse_page saw */
        if (r == FETCH_OK) {
            rc = 0;
            break;
        }
        if (r == FETCH_STOPPED) {
            rc = 1;
            break;
        }
        if (r == FETCH_BUDGET) {
            rc = pause_for_budget(p, resume_at, e);
            break;
        }
        if (r != FETCH_FAILED || e->kind != ERR_PARSE) { /* FETCH_GONE: not asked for */
            note_fetch_failure(t, e);
            break;
        }
        json_object_clear(p->ctx.paging); /* rewind what the parser changed */
        json_object_update(p->ctx.paging, saved);
        if (attempt < PARSE_ATTEMPTS) {
            log_warn(source_name(t->sr->src), t->def->name,
                     "page %d unusable (attempt %d): %s; retrying", p->ctx.page_no, attempt,
                     e->msg);
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

/* A change feed's targets are refreshed before the page takes any lock: their custom fields
 * (definitions read over HTTP, the next schema published and switched to), so that the feed
 * types what the target's own pass would, and their schema published (the registry is HTTP too)
 * before their first event; begin_event then finds it published. */
static int refresh_feed_targets(pass *p, const page *pg, sync_error *e)
{
    const json_t *lists[2] = {pg->deletes, pg->upserts};
    table_run *done[MAX_LOCKED];
    int n = 0;
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *entry;
        json_array_foreach(lists[l], i, entry)
        {
            const char *tname = json_string_value(json_object_get(entry, "table"));
            table_run *target = tname ? source_run_table(p->t->sr, tname) : NULL;
            if (!target || target == p->t || target->schema_rejected)
                continue;
            int seen = 0;
            for (int k = 0; k < n && !seen; k++)
                seen = done[k] == target;
            if (seen || n == MAX_LOCKED)
                continue;
            done[n++] = target;
            if (table_schema_refresh(target, p->t->http, e))
                return -1;
        }
    }
    return 0;
}

/* Reconciliation marks of primary keys: of records (their member pk), or of ids (pk NULL). */
static void mark_keys(table_run *t, const json_t *list, const char *pk)
{
    buf text;
    buf_init(&text);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (record_key_text(pk ? json_object_get(v, pk) : v, &text) == 0)
            dedupe_mark(t->dd, text.data, text.len);
    }
    buf_free(&text);
}

static int emit_records(page_work *w, const json_t *records, sync_error *e)
{
    size_t i;
    json_t *v;
    json_array_foreach(records, i, v)
    {
        if (emit_record(w, v, e->msg, sizeof(e->msg)) != 0) {
            e->kind = ERR_MAPPING;
            return -1;
        }
    }
    return 0;
}

/* The page's records, change-feed deletes and upserts as events in the page work (or, in a
 * reconciliation pass, its keys marked). t->lock held. */
static int emit_page(pass *p, page *pg, sync_error *e)
{
    table_run *t = p->t;
    page_work *w = &p->w;
    int rc = 0;
    if (p->reconcile)
        mark_keys(t, pg->records, t->def->primary_key);
    else
        rc = emit_records(w, pg->records, e);
    if (rc == 0 && pg->raw_len > 0) {
        long n = 0;
        rc = emit_raw_records(w, pg, p->reconcile, &n, e);
        p->seen += n;
        p->raw_records = n;
    }
    mark_keys(t, pg->ids, NULL);
    /* Deletes first: a key deleted by this page (or an earlier, newer page of the same feed)
     * is never revived by an image from an older event. */
    if (rc == 0 && pg->deletes && (rc = emit_feed_deletes(w, pg->deletes, e->msg, sizeof(e->msg))))
        e->kind = ERR_MAPPING;
    if (rc == 0 && pg->upserts && (rc = emit_feed_upserts(w, pg->upserts, e->msg, sizeof(e->msg))))
        e->kind = ERR_MAPPING;
    if (rc == 0 && pg->reconcile_tables)
        request_reconciliations(t, pg->reconcile_tables, pg->reconcile_fallback);
    return rc;
}

/* The pass's progress by the page: bookmark cap, highest replication time, records seen. */
static void note_page_progress(pass *p, const page *pg)
{
    if (pg->bookmark_cap_ms != CRM_TIME_NONE)
        p->cap_ms = p->cap_ms == CRM_TIME_NONE || pg->bookmark_cap_ms < p->cap_ms
                        ? pg->bookmark_cap_ms
                        : p->cap_ms;
    p->pass_max_ms = later(p->pass_max_ms, p->w.page_max_ms);
    int64_t got = (int64_t)json_array_size(pg->records) + (pg->raw_len > 0 ? p->raw_records : 0);
    p->seen += (long)json_array_size(pg->records);
    if (pg->total_hint > 0)
        p->remaining = pg->total_hint > got ? pg->total_hint - got : 0;
}

/* The emitted page joins the pending ones, with the bookmark it advances to. Small pages of a
 * plain table share one transaction (fewer commits, less producer overhead); pages that touch
 * other tables commit at once. The pending ones stay in the page work, and the table unlocked,
 * while the next page is fetched. Releases the table. */
static int queue_page(pass *p, const page *pg, sync_error *e)
{
    table_run *t = p->t;
    page_work *w = &p->w;
    state_bookmark next;
    copy_bookmark(w->pending ? &w->pend_bm : &t->bm, &next);
    json_decref(next.paging);
    next.paging = json_deep_copy(p->ctx.paging);
    next.pass_from_ms = p->ctx.from_ms;
    if (t->def->sorted)
        next.bookmark_ms = later(next.bookmark_ms, capped(w->page_max_ms, p->cap_ms));
    if (w->pending)
        state_bookmark_clear(&w->pend_bm);
    else
        w->pending_since = now_monotonic_ms();
    w->pend_bm = next;
    w->pending++;
    if (w->n_locked > 0 || json_array_size(pg->deletes) > 0 || json_array_size(pg->upserts) > 0 ||
        pg->reconcile_tables ||
        kafka_batch_count(w->data) >= (size_t)t->sr->cfg->kafka.commit_max_events ||
        (t->sr->cfg->kafka.commit_max_mb > 0 &&
         kafka_batch_bytes(w->data) >= ((size_t)t->sr->cfg->kafka.commit_max_mb << 20)) ||
        now_monotonic_ms() - w->pending_since >= t->sr->cfg->kafka.commit_max_age_ms)
        return flush_and_unlock(p, e);
    work_unlock_targets(w);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/* Emits the page under the table's lock and queues it for commit. */
static int process_page(pass *p, page *pg, sync_error *e)
{
    page_work *w = &p->w;
    int rc = refresh_feed_targets(p, pg, e);
    if (rc || (rc = lock_work(p, e)) != 0)
        return rc;
    if (!w->pending)
        work_reset(w);
    work_mark start = work_mark_now(w);
    w->now_ms = now_wall_ms();
    w->pass_start_ms = p->ctx.until_ms; /* until_ms: when the pass started */
    w->future_values = 0;
    rc = emit_page(p, pg, e);
    note_page_progress(p, pg);
    allocator_release_now_and_then(); /* a backfill's pass may run for hours */
    if (rc == 0 && !p->reconcile)
        return queue_page(p, pg, e);
    work_rewind(w, start);      /* a failed page publishes nothing of its own */
    sync_error ferr;            /* the page's own error is the pass's */
    flush_and_unlock(p, &ferr); /* what was complete before it still commits */
    return rc;
}

static int commit_state_batch(kafka_batch *state, void *u, char *err, size_t errlen)
{
    table_run *t = u;
    return shard_commit(t->sr->shard, &t->sr->km, NULL, state, &engine_stop_requested, err,
                        errlen) == KAFKA_OK
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

/* The bookmark a complete pass commits: advanced to the pass's highest replication time (capped),
 * paging cleared, pass counted; a full listing's reconciliation time and misses. */
static void pass_end_bookmark(pass *p, state_bookmark *next_out)
{
    table_run *t = p->t;
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
    *next_out = next;
}

/* Ends a pass: reconciliation deletes, bookmark advance, paging cleared, all in one commit. */
static int finish_pass(pass *p, sync_error *e)
{
    table_run *t = p->t;
    int rc = 0;
    dedupe *gone = p->full_listing ? reconcile_vanished_ids(t, p->ctx.page_no <= 1, &p->suspects,
                                                            &rc, e->msg, sizeof(e->msg))
                                   : NULL;
    if (rc) /* stopped while confirming */
        return rc;
    pthread_mutex_lock(&t->lock);
    work_reset(&p->w);
    p->w.now_ms = now_wall_ms();
    size_t vanished = 0;
    if (gone) {
        int failed = reconcile_delete_vanished(&p->w, t, gone, &vanished, e->msg, sizeof(e->msg));
        dedupe_free(gone);
        if (failed) {
            e->kind = ERR_MAPPING;
            work_undo(&p->w, 0);
            pthread_mutex_unlock(&t->lock);
            return -1;
        }
    }
    state_bookmark next;
    pass_end_bookmark(p, &next);
    rc = work_commit(&p->w, &next, e);
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

/* A pass of t set up: its context, its private paging state, and its page work published as
 * the table's (reconcile: an ids-only reconciliation pass). */
static void pass_begin(pass *p, table_run *t, int reconcile)
{
    memset(p, 0, sizeof(*p));
    p->t = t;
    p->reconcile = reconcile;
    p->pass_max_ms = CRM_TIME_NONE;
    p->cap_ms = CRM_TIME_NONE;
    p->remaining = -1;
    p->published_at_start = atomic_load(&t->m.published);
    work_init(&p->w, t);
    int resumed = !reconcile && json_object_size(t->bm.paging) > 0;
    p->w.snapshot = t->bm.passes == 0;
    p->full_listing =
        reconcile || (t->def->method == SYNC_FULL_TABLE && t->def->reconcile && !resumed);
    p->ctx.src = t->sr->src;
    p->ctx.table = t->def;
    p->ctx.until_ms = now_wall_ms();
    p->ctx.bookmark_ms = t->bm.bookmark_ms;
    p->ctx.reconcile = reconcile;
    /* Reconciliation passes page privately (their paging is never committed). */
    p->paging = reconcile ? json_object() : json_deep_copy(t->bm.paging);
    p->ctx.paging = p->paging;
    p->ctx.from_ms = reconcile ? CRM_TIME_NONE : pass_lower_bound(t);
    p->w.mark = p->full_listing;
    pthread_mutex_lock(&t->lock);
    t->work = &p->w; /* its pending pages are the table's shared state from now on */
    if (p->full_listing)
        dedupe_mark_begin(t->dd);
    pthread_mutex_unlock(&t->lock);
    if (resumed)
        log_info(source_name(t->sr->src), t->def->name, "resuming an interrupted pass");
}

static void pass_end(pass *p)
{
    pthread_mutex_lock(&p->t->lock);
    p->t->work = NULL;
    pthread_mutex_unlock(&p->t->lock);
    work_free(&p->w);
    buf_free(&p->spare_body);
    json_decref(p->paging);
    json_decref(p->suspects);
}

/* The pass's next page: requested, fetched, emitted and queued. 0 next, 2 no more pages, 1
 * stopped, PASS_PAUSED (asked again later), -1 failed (e). */
static int pass_step(pass *p, sync_error *e)
{
    table_run *t = p->t;
    http_request req;
    http_request_init(&req);
    req_result r = t->def->next_request(&p->ctx, &req, e->msg, sizeof(e->msg));
    if (r != REQ_READY) {
        http_request_free(&req);
        if (r == REQ_DONE)
            return 2;
        e->kind = ERR_PARSE; /* the paging state the last answer left is unusable */
        return -1;
    }
    page pg;
    int64_t t0 = now_monotonic_ms();
    int rc = fetch_page(p, &req, &pg, e);
    http_request_free(&req);
    if (rc != 0)
        return rc;
    int64_t t1 = now_monotonic_ms();
    rc = process_page(p, &pg, e);
    log_debug(source_name(t->sr->src), t->def->name,
              "page %d: records=%zu fetch_ms=%lld commit_ms=%lld", p->ctx.page_no,
              json_array_size(pg.records), (long long)(t1 - t0),
              (long long)(now_monotonic_ms() - t1));
    if (!p->spare_body.cap) {
        p->spare_body = pg.raw;
        buf_init(&pg.raw);
    }
    page_clear(&pg);
    return rc;
}

/* Ends a pass that stopped at rc (0 no more pages, 1 stopped, -1 failed): the complete pages
 * commit (also when stopped or failed after them), then a complete pass its reconciliation and
 * bookmark. 0 done, 1 stopped, -1 failed (e set). */
static int pass_close(pass *p, int rc, sync_error *e)
{
    sync_error ferr;
    if ((lock_work(p, &ferr) || flush_and_unlock(p, &ferr)) && rc == 0) {
        *e = ferr;
        rc = -1;
    }
    if (rc == 0)
        rc = finish_pass(p, e);
    pass_end(p);
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
                     long unchanged0, int64_t started, int64_t late_ms)
{
    char bm[40] = "none";
    if (t->bm.bookmark_ms != CRM_TIME_NONE)
        crm_time_format(t->bm.bookmark_ms, bm, sizeof(bm));
    log_info(source_name(t->sr->src), t->def->name,
             "%s done in %.1fs: published=%ld deleted=%ld unchanged=%ld pages=%ld bookmark=%s "
             "late_ms=%lld",
             what, (double)(now_monotonic_ms() - started) / 1000.0,
             atomic_load(&t->m.published) - published0, atomic_load(&t->m.deleted) - deleted0,
             atomic_load(&t->m.unchanged) - unchanged0, atomic_load(&t->m.pages), bm,
             (long long)late_ms);
}

/* A failed pass: counted by its kind, and said with what it means for the table. */
static void log_pass_failure(table_run *t, const sync_error *e)
{
    source_run *sr = t->sr;
    const char *sname = source_name(sr->src);
    table_metrics_pass_failed(&t->m, e->kind, e->msg);
    if (t->schema_rejected)
        log_error(sname, t->def->name,
                  "the schema registry rejected the table's schema; the table stops, its "
                  "state stays where it was: %s",
                  e->msg);
    else if (t->unavailable)
        log_error(sname, t->def->name, "table unavailable to these credentials, skipped: %s",
                  e->msg);
    else if (sr->auth_failed)
        log_error(sname, t->def->name, "credentials rejected, source stopped: %s", e->msg);
    else if (shard_is_fenced(sr->shard))
        log_error(sname, t->def->name,
                  "fenced: another crmstream instance took over source %s "
                  "(its %s, transactional.id crmstream-%s-%s); exiting",
                  sname, sr->shard->name, sr->cfg->kafka.deployment, sr->shard->name);
    else
        log_error(sname, t->def->name, "pass failed: %s", e->msg);
}

/* A table's cycle between turns: its pass (then, when due, its reconciliation pass) begun and
 * not finished. It exists only while a pass runs: an idle table costs its table_run alone. */
typedef struct table_cycle {
    pass p;
    sync_error e;
    long p0, d0, u0;       /* the counters when the cycle began */
    int64_t started;       /* monotonic: the cycle's start */
    int64_t late_ms;       /* how long after its due time the cycle began */
    int64_t pass_started;  /* monotonic: the running pass's start */
    int64_t last_progress; /* the last progress line */
} table_cycle;

static void cycle_pass_begin(table_cycle *c, table_run *t, int reconcile)
{
    pass_begin(&c->p, t, reconcile);
    c->pass_started = c->last_progress = now_monotonic_ms();
}

/* The table will not send for a while (or ever): its idle connections close, so a thousand
 * idle tables hold no thousand sockets (a server closes them after its keep-alive timeout
 * anyway, well before a poll interval of SYNC_IDLE_CLOSE_S). */
static void release_connections(table_run *t)
{
    if (http_client_close_connections(t->http))
        log_warn(source_name(t->sr->src), t->def->name,
                 "cannot re-create the HTTP handle; the next request tries again");
}

static int64_t table_done(table_run *t)
{
    release_connections(t);
    table_metrics_set_running(&t->m, 0);
    atomic_store(&t->done, 1);
    return SCHED_DONE;
}

/* The cycle's end (rc: 0 done, 1 stopped, -1 failed): said, and the table done (stopped, once
 * mode, a table that cannot go on) or due again one poll interval from now. */
static int64_t cycle_end(table_run *t, int rc)
{
    table_cycle *c = t->cycle;
    t->failed = rc < 0;
    if (rc == 0) {
        table_metrics_pass_succeeded(&t->m);
        log_pass(t, "pass", c->p0, c->d0, c->u0, c->started, c->late_ms);
    } else if (rc < 0) {
        log_pass_failure(t, &c->e);
    }
    free(c);
    t->cycle = NULL;
    if (stopping(t) || t->sr->once || t->unavailable || t->schema_rejected)
        return table_done(t);
    allocator_release_idle();
    if (t->sr->sc->poll_interval_s >= SYNC_IDLE_CLOSE_S)
        release_connections(t);
    t->due_ms = now_monotonic_ms() + (int64_t)t->sr->sc->poll_interval_s * 1000;
    return t->due_ms;
}

/* The cycle begins: counters noted, the schema refreshed, the pass begun. 0, or the cycle's
 * outcome when it ends before its pass (1 stopped, -1 failed). */
static int cycle_begin(table_run *t, int64_t late_ms)
{
    table_cycle *c = xcalloc(1, sizeof(*c));
    t->cycle = c;
    c->p0 = atomic_load(&t->m.published);
    c->d0 = atomic_load(&t->m.deleted);
    c->u0 = atomic_load(&t->m.unchanged);
    c->started = now_monotonic_ms();
    c->late_ms = late_ms;
    /* the first pass of the run has no schedule (due_ms 0: its lateness is the start-up's) */
    table_metrics_pass_started(&t->m, t->due_ms);
    int rc = table_schema_refresh(t, t->http, &c->e);
    if (rc == 0)
        cycle_pass_begin(c, t, 0);
    return rc;
}

/* Runs the cycle's pass page by page. Yields (returns the time it is due again) after a slice
 * when other tables wait for a worker (closing its connections: thousands of tables queued
 * mid-pass must not hold thousands of sockets), when the source's rate limiter or its API budget
 * would hold the next request, and between the pass and its reconciliation pass. */
static int64_t cycle_continue(table_run *t)
{
    table_cycle *c = t->cycle;
    pass *p = &c->p;
    int64_t slice_end = now_monotonic_ms() + SYNC_TURN_SLICE_MS;
    int rc;
    for (;;) {
        int64_t wait = stopping(t) ? 0 : http_client_send_delay(t->http);
        if (wait > SYNC_RATE_YIELD_MS)
            return now_monotonic_ms() + wait;
        rc = stopping(t) ? 1 : pass_step(p, &c->e);
        if (rc == PASS_PAUSED)
            return now_monotonic_ms() + (p->resume_at_wall_ms - now_wall_ms());
        if (rc != 0)
            break;
        p->ctx.page_no++;
        log_progress(p, c->pass_started, &c->last_progress);
        if (now_monotonic_ms() >= slice_end && sched_turn_contended()) {
            release_connections(t); /* the queue ahead may outlast a keep-alive */
            return now_monotonic_ms();
        }
    }
    int reconciling = p->reconcile;
    rc = pass_close(p, rc == 2 ? 0 : rc, &c->e);
    if (rc == 0 && !reconciling && reconcile_due(t)) {
        cycle_pass_begin(c, t, 1);
        return now_monotonic_ms();
    }
    return cycle_end(t, rc);
}

int64_t sync_table_turn(void *arg, int64_t late_ms)
{
    table_run *t = arg;
    if (!t->cycle) {
        if (stopping(t) || t->schema_rejected)
            return table_done(t);
        int rc = cycle_begin(t, late_ms);
        if (rc != 0)
            return cycle_end(t, rc);
    }
    return cycle_continue(t);
}
