/* sync_reconcile.c — reconciliation (sync_reconcile.h): a full listing marks the ids it returns;
 * the known ids it did not return may have vanished from the CRM. A listing can drift while it
 * is read (records move or vanish between its pages), so a missed id is only a candidate until
 * the CRM confirms it gone: read back by id (confirm_request), or missed by two consecutive
 * listings. Only confirmed ids that did not change meanwhile get delete events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "engine.h"
#include "json_scan.h"
#include "log.h"
#include "page_fetch.h"
#include "record_key.h"
#include "sync_emit.h"
#include "sync_reconcile.h"

/* Candidates map pk -> the hash known when collected. */
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
    json_array_foreach(pg->records, i,
                       v) if (record_key_text(json_object_get(v, t->def->primary_key), &pk) == 0)
        fn(pk.data, pk.len, u);
    json_array_foreach(pg->ids, i, v) if (record_key_text(v, &pk) == 0) fn(pk.data, pk.len, u);
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
            if (record_key_raw(js_member(r, re, t->def->primary_key), re, &key, &klen) == 0) {
                fn(key, klen, u);
            } else { /* an escaped key: ask jansson */
                json_t *rec = json_loadb(r, (size_t)(re - r), 0, NULL);
                if (rec && record_key_text(json_object_get(rec, t->def->primary_key), &pk) == 0)
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
    int rc = -1;
    if (t->def->confirm_request(&ctx, ids, &req, err, errlen) != REQ_READY) {
        if (!*err)
            snprintf(err, errlen, "no confirmation request could be built");
        goto out;
    }
    page pg;
    sync_error e;
    fetch_result r = page_fetch(t, t->http, &ctx, &req, &pg, NULL, NULL, &e);
    log_set_request_id(0);
    if (r == FETCH_STOPPED) {
        rc = 1;
    } else if (r == FETCH_GONE) {
        rc = 0; /* none of them exists */
    } else if (r == FETCH_BUDGET) {
        snprintf(err, errlen, "API budget spent while confirming deletes");
    } else if (r == FETCH_FAILED) {
        snprintf(err, errlen, "%s", e.msg);
    } else {
        rc = page_each_key(t, &pg, forget_alive, set);
        if (rc)
            snprintf(err, errlen, "invalid JSON in a confirmation answer");
        page_clear(&pg);
    }
out:
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

int reconcile_delete_vanished(page_work *w, table_run *t, dedupe *gone, size_t *n, char *err,
                              size_t errlen)
{
    vanished_ctx v = {w, t, 0, 0, err, errlen};
    dedupe_each(gone, delete_vanished, &v);
    *n = v.n;
    return v.failed ? -1 : 0;
}

dedupe *reconcile_vanished_ids(table_run *t, int single_page, json_t **suspects, int *rc, char *err,
                               size_t errlen)
{
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
        set = confirm_by_repetition(t, set, single_page, suspects);
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
