/* sync.c — the pass driver: one table's sync passes. It requests pages through the connector,
 * hands their records to record emission (sync_emit.c), commits them with the advanced bookmark
 * (sync_work.c), and ends a pass with its reconciliation (sync_reconcile.c) and bookmark.
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
#include "crm_time.h"
#include "engine.h"
#include "log.h"
#include "record_key.h"
#include "sync_emit.h"
#include "sync_reconcile.h"
#include "table_schema.h"

#define PARSE_ATTEMPTS 3

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

/* Commits the pending pages with their bookmark and releases the table. */
static int flush_pending(pass *p, char *err, size_t errlen)
{
    table_run *t = p->t;
    if (!p->pending)
        return 0;
    int rc = work_commit(&p->w, &p->pend_bm, err, errlen);
    if (rc == 0) {
        state_bookmark_clear(&t->bm);
        t->bm = p->pend_bm;
    } else {
        state_bookmark_clear(&p->pend_bm);
    }
    memset(&p->pend_bm, 0, sizeof(p->pend_bm));
    p->pending = 0;
    work_unlock_targets(&p->w);
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
            if (record_key_text(json_object_get(v, t->def->primary_key), &pk) == 0)
                dedupe_mark(t->dd, pk.data, pk.len);
            buf_free(&pk);
        } else if ((rc = emit_record(w, v, err, errlen)) != 0) {
            t->last_error = ERR_MAPPING;
            break;
        }
    }
    if (rc == 0 && pg->raw_len > 0) {
        long n = 0;
        rc = emit_raw_records(w, pg, p->reconcile, &n, err, errlen);
        p->seen += n;
        p->raw_records = n;
    }
    if (pg->ids) {
        buf pk;
        buf_init(&pk);
        json_array_foreach(pg->ids, i, v) if (record_key_text(v, &pk) == 0)
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
        work_unlock_targets(w);
        pthread_mutex_unlock(&t->lock);
    }
    return rc;
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
    dedupe *gone = p->full_listing ? reconcile_vanished_ids(t, p->ctx.page_no <= 1, &p->suspects,
                                                            &rc, err, errlen)
                                   : NULL;
    if (rc) /* stopped while confirming */
        return rc;
    pthread_mutex_lock(&t->lock);
    work_reset(&p->w);
    p->w.now_ms = now_wall_ms();
    size_t vanished = 0;
    if (gone) {
        int failed = reconcile_delete_vanished(&p->w, t, gone, &vanished, err, errlen);
        dedupe_free(gone);
        if (failed) {
            work_undo(&p->w, 0);
            pthread_mutex_unlock(&t->lock);
            return -1;
        }
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
    rc = work_commit(&p->w, &next, err, errlen);
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
