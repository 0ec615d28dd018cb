/* pipedrive.c — the Pipedrive connector: Stitch's 16 tables plus the *Fields tables.
 *
 * Why each table is read the way it is (Pipedrive's API reference, developers.pipedrive.com):
 *  - deals (+ /deals/archived), persons, organizations, activities, products: API v2,
 *    updated_since (inclusive, whole seconds) + sort_by=update_time asc + cursor, limit 500.
 *    Deals ask for status=open,won,lost,deleted; deleted deals become deletes (d + tombstone).
 *    The others learn deletes from ID-reconciliation passes (reconcile_interval, default 2 h).
 *    After every page updated_since is re-anchored at the last row's second; the cursor is
 *    followed only inside a second larger than a page, which is then read again until no new
 *    id appears (anchored_advance), so even a position-like cursor skips nothing.
 *  - notes: v1 with updated_since + sort "update_time ASC, id ASC"; files: v1 by id. Both page
 *    with the checked offset walk of pipedrive_walk.c (one row of overlap, a step back when rows
 *    before the position left), so rows updated or deleted while we page cause no skips.
 *  - stages, pipelines (v2) and users, activity types, currencies, filters, files, *Fields (v1):
 *    full lists every pass; the engine publishes only changes and deletes what vanished.
 *  - Ids a reconciliation (or a full list) missed are read back before they are deleted
 *    (pd_confirm_request: v2 `ids` lists, 100 a request; deals, notes and files by id).
 *  - deal_products: the batch endpoint /api/v2/deals/products?deal_ids= (100 deals per request)
 *    over the list of live deals, instead of one request per deal.
 *  - dealflow: /v1/deals/{id}/flow for every deal updated since the log_time bookmark.
 * Never /v1/recents (it silently stops 30 days back). The token goes in the x-api-token header
 * (or the api_token query parameter with token_in_query), never into logs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connector.h"
#include "crm_time.h"
#include "json_scan.h"
#include "log.h"
#include "pipedrive_walk.h"
#include "util.h"

typedef enum {
    PK_V2_INCREMENTAL, /* v2 list, updated_since + update_time asc */
    PK_V2_FULL,        /* v2 list, everything */
    PK_V1_NOTES,       /* v1 notes, updated_since, checked offset walk (pipedrive_walk.h) */
    PK_V1_FILES,       /* v1 files by id, checked offset walk */
    PK_V1_OFFSET,      /* v1 list with start/limit paging */
    PK_V1_UNPAGED,     /* v1 list in one response */
    PK_DEAL_PRODUCTS,  /* deals list -> batch /deals/products */
    PK_DEALFLOW,       /* deals list -> /deals/{id}/flow */
} pd_kind;

/* What the Pipedrive connector knows of one table (table_def.spec, read through pd_spec_of):
 * every Pipedrive table declares one (PD_SPEC). */
typedef struct pd_spec {
    pd_kind kind;
    const char *path;  /* under /api/v2/ or the v1 prefix */
    const char *path2; /* a second phase (deals/archived), or NULL */
    long max_limit;    /* page size cap of the endpoint */
    unsigned flags;    /* PD_* below */
} pd_spec;

enum {
    /* Lists every status incl. deleted (reconciliations: live ones only); deleted rows become
     * deletes of the table; candidates are confirmed by id (a v2 `ids` list would miss archived
     * rows). */
    PD_DELETED_STATUS = 1u << 0,
};

#define PD_SPEC(...) (&(const pd_spec){__VA_ARGS__})

static const pd_spec *pd_spec_of(const table_def *t)
{
    return t->spec;
}

/* Per-source settings, resolved once in source_init. */
typedef struct pd_source {
    char *auth_line; /* "x-api-token: ..." or "Authorization: Bearer ..." (secret) */
    const char *query_token;
    char v1[16]; /* "/api/v1" (company domain) or "/v1" (api.pipedrive.com) */
    long page_size;
    long batch; /* deal ids per batch request */
    const char *flow_items;
    int64_t budget_retry_ms; /* daily budget spent: probe again at least this often */
} pd_source;

static pd_source *pds(const table_ctx *ctx)
{
    return source_state(ctx->src);
}

/* ---- source ------------------------------------------------------------------------------ */

static int base_is_bare_api_host(const char *base)
{
    const char *p = strstr(base, "://");
    p = p ? p + 3 : base;
    return strncasecmp(p, "api.pipedrive.com", 17) == 0 &&
           (p[17] == '\0' || p[17] == '/' || p[17] == ':');
}

/* The source's options (pd_options below). */
typedef struct pd_opts {
    const char *api_token_env; /* the token itself */
    const char *auth;
    int token_in_query;
    const char *v1_prefix;
    long long page_size;
    long long deal_ids_per_request;
    const char *dealflow_items;
    long long daily_budget_retry;
} pd_opts;

static int pd_init(source *src, char *err, size_t errlen)
{
    const pd_opts *o = source_options(src);
    const char *token = o->api_token_env;
    const char *mode = o->auth;
    if (!token || !*token) {
        snprintf(err, errlen, "the API token environment variable is empty");
        return -1;
    }
    int oauth = strcmp(mode, "oauth") == 0;
    if (!oauth && strcmp(mode, "api_token") != 0) {
        snprintf(err, errlen, "option auth must be \"api_token\" or \"oauth\", not \"%s\"", mode);
        return -1;
    }
    long page_size = (long)o->page_size;
    long batch = (long)o->deal_ids_per_request;
    if (page_size < 2 || page_size > 500 || batch < 1 || batch > 100) {
        /* 2: v1 walks re-read the last row of each page (pipedrive_walk.h) */
        snprintf(err, errlen, "page_size must be 2..500 and deal_ids_per_request 1..100");
        return -1;
    }
    pd_source *ps = xcalloc(1, sizeof(*ps));
    ps->page_size = page_size;
    ps->batch = batch;
    ps->flow_items = o->dealflow_items;
    const char *v1 = o->v1_prefix;
    if (strcmp(v1, "auto") == 0)
        v1 = base_is_bare_api_host(source_base_url(src)) ? "/v1" : "/api/v1";
    snprintf(ps->v1, sizeof(ps->v1), "%s", v1);
    http_auth *auth = source_auth(src);
    int in_query = o->token_in_query;
    if (!oauth && in_query) {
        ps->query_token = token;
        auth->secret_params[auth->n_secret_params++] = "api_token";
    } else {
        buf line;
        buf_init(&line);
        buf_printf(&line, oauth ? "Authorization: Bearer %s" : "x-api-token: %s", token);
        ps->auth_line = line.data;
        auth->secret_headers[auth->n_secret_headers++] = ps->auth_line;
    }
    int64_t retry = o->daily_budget_retry * 1000;
    ps->budget_retry_ms = retry > 0 && retry < 3600 * 1000 ? retry : 3600 * 1000;
    source_set_state(src, ps);
    return 0;
}

static void pd_free(source *src)
{
    pd_source *ps = source_state(src);
    if (!ps)
        return;
    free(ps->auth_line);
    free(ps);
}

/* Sets req's URL to the v1 or v2 path and adds the token when it travels in the query. */
static void pd_url(source *src, http_request *req, int v2, const char *path)
{
    pd_source *ps = source_state(src);
    char full[256];
    snprintf(full, sizeof(full), "%s/%s", v2 ? "/api/v2" : ps->v1, path);
    connector_url(src, req, full);
    if (ps->query_token)
        connector_query(req, "api_token", ps->query_token);
}

/* `crmstream check`: /v1/currencies, the cheapest list the reference names (one unpaginated
 * page; Airbyte's check stream), readable with any token scope that can read anything. */
static int pd_check(source *src, http_request *req)
{
    pd_url(src, req, 0, "currencies");
    return 0;
}

/* ---- paging state helpers ---------------------------------------------------------------- */

static int paging_done(const table_ctx *ctx)
{
    return json_is_true(json_object_get(ctx->paging, "done"));
}

static int set_paging(table_ctx *ctx, const char *key, json_t *value)
{
    if (!value || json_object_set_new(ctx->paging, key, value))
        return -1;
    return 0;
}

static long paging_int(const table_ctx *ctx, const char *key)
{
    return (long)json_integer_value(json_object_get(ctx->paging, key));
}

static void query_long(http_request *req, const char *name, long v)
{
    char s[32];
    snprintf(s, sizeof(s), "%ld", v);
    connector_query(req, name, s);
}

static void query_since(http_request *req, const char *name, int64_t ms)
{
    char s[32];
    crm_time_format_seconds(ms, s, sizeof(s));
    connector_query(req, name, s);
}

static long page_limit(const table_ctx *ctx, const pd_spec *s)
{
    long n = pds(ctx)->page_size;
    return s->max_limit && n > s->max_limit ? s->max_limit : n;
}

/* ---- response helpers -------------------------------------------------------------------- */

/* Parses the body and returns its "data" as an array (null -> []), or NULL with err set. The
 * body is returned in *body for additional_data. */
static json_t *response_data(const http_response *resp, json_t **body, char *err, size_t errlen)
{
    *body = connector_parse_json(resp, err, errlen);
    if (!*body)
        return NULL;
    if (!json_is_object(*body)) {
        snprintf(err, errlen, "response body is %s, not an object",
                 json_is_null(*body) ? "null" : "not a JSON object");
        json_decref(*body);
        *body = NULL;
        return NULL;
    }
    if (json_is_false(json_object_get(*body, "success"))) {
        snprintf(err, errlen, "success=false: %.200s",
                 json_string_value(json_object_get(*body, "error")) ?: "?");
        json_decref(*body);
        *body = NULL;
        return NULL;
    }
    json_t *data = json_object_get(*body, "data");
    if (!data || json_is_null(data))
        return json_array();
    if (!json_is_array(data)) {
        snprintf(err, errlen, "response \"data\" is not an array");
        json_decref(*body);
        *body = NULL;
        return NULL;
    }
    return json_incref(data);
}

static const char *next_cursor(json_t *body)
{
    return json_string_value(
        json_object_get(json_object_get(body, "additional_data"), "next_cursor"));
}

/* v1 pagination: next_start when more_items_in_collection, else -1. -2 when inconsistent. */
static long v1_next_start(json_t *body)
{
    json_t *pag = json_object_get(json_object_get(body, "additional_data"), "pagination");
    if (!json_is_true(json_object_get(pag, "more_items_in_collection")))
        return -1;
    json_t *ns = json_object_get(pag, "next_start");
    return json_is_integer(ns) ? (long)json_integer_value(ns) : -2;
}

/* Array of the records' "id" values (reconciliation passes). */
static json_t *ids_of(json_t *records)
{
    json_t *ids = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r)
    {
        json_t *id = json_object_get(r, "id");
        if (ids && json_is_integer(id) && json_array_append(ids, id)) {
            json_decref(ids);
            return NULL;
        }
    }
    return ids;
}

static int64_t record_time(json_t *rec, const char *key)
{
    int64_t ms;
    const char *s = json_string_value(json_object_get(rec, key));
    return s && crm_time_parse(s, &ms) == 0 ? ms : CRM_TIME_NONE;
}

/* The anchor of a cursor: "since" for "cursor", "dsince" for "dcursor". */
static const char *anchor_key(const char *cursor_key)
{
    return cursor_key[0] == 'd' ? "dsince" : "since";
}

/* The ids read inside a second larger than a page (anchored_advance): "tie" or "dtie". */
static const char *tie_key(const char *cursor_key)
{
    return cursor_key[0] == 'd' ? "dtie" : "tie";
}

/* Moves to the next phase (deals -> deals/archived) or marks the list done. */
static int advance_phase(table_ctx *ctx, const pd_spec *s, const char *cursor_key)
{
    json_object_del(ctx->paging, cursor_key);
    json_object_del(ctx->paging, anchor_key(cursor_key));
    json_object_del(ctx->paging, tie_key(cursor_key));
    long phase = paging_int(ctx, "phase");
    if (s->path2 && phase == 0)
        return set_paging(ctx, "phase", json_integer(1));
    return set_paging(ctx,
                      s->kind == PK_V2_INCREMENTAL || s->kind == PK_V2_FULL ? "done" : "lists_done",
                      json_true());
}

/* ---- v2 lists ---------------------------------------------------------------------------- */

/* v2 lists by update_time do not trust the cursor across rows that change: after each page the
 * next request re-anchors updated_since at the second of the last row read (re-reading that
 * second's rows; dedupe drops them), whatever the cursor encodes. The cursor is followed only
 * inside a second holding more rows than a page. The anchor is kept in paging[anchor_key]. */
static int64_t anchor_of(const table_ctx *ctx, const char *cursor_key, int from_bound)
{
    json_t *a = json_object_get(ctx->paging, anchor_key(cursor_key));
    if (json_is_integer(a))
        return (int64_t)json_integer_value(a);
    return from_bound && ctx->from_ms != CRM_TIME_NONE ? ctx->from_ms : CRM_TIME_NONE;
}

/* Inside a second holding more rows than a page the cursor is followed. Should the cursor be a
 * position, rows of that second leaving it (updated, deleted) would shift the others and one
 * could be passed over; so the ids read in that second are remembered (paging[tie_key]), and
 * when the listing leaves the second it reads it again from its start, until a reading finds no
 * id it had not read (at most TIE_READINGS readings; dedupe drops what was published). */
#define TIE_READINGS 4

static int id_listed(const json_t *ids, json_int_t id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) if (json_integer_value(v) == id) return 1;
    return 0;
}

/* Adds to the tie the ids of the page's rows in its second; 1 when one of them was new. */
static int tie_note(json_t *tie, json_t *data)
{
    int64_t second = (int64_t)json_integer_value(json_object_get(tie, "second"));
    json_t *ids = json_object_get(tie, "ids");
    int fresh = 0;
    size_t i;
    json_t *r;
    json_array_foreach(data, i, r)
    {
        int64_t t = record_time(r, "update_time");
        json_t *id = json_object_get(r, "id");
        if (t == CRM_TIME_NONE || pd_whole_second(t) != second || !json_is_integer(id) ||
            id_listed(ids, json_integer_value(id)))
            continue;
        if (json_array_append(ids, id))
            return -1;
        fresh = 1;
    }
    return fresh;
}

/* The page ended a reading of a tie: 1 when the tie's second must be read again, -1 on OOM. */
static int tie_read_again(json_t *tie)
{
    json_int_t readings = json_integer_value(json_object_get(tie, "readings")) + 1;
    if (!json_is_true(json_object_get(tie, "fresh")) || readings >= TIE_READINGS)
        return 0;
    if (json_object_set_new(tie, "readings", json_integer(readings)) ||
        json_object_set_new(tie, "fresh", json_false()))
        return -1;
    return 1;
}

/* After a page of an anchored list: re-anchor at the last row's second, or follow the cursor
 * inside a second larger than a page (read again if it gave new ids), or end the phase. */
static int anchored_advance(table_ctx *ctx, const pd_spec *s, json_t *data, const char *next,
                            const char *cursor_key, int from_bound)
{
    int64_t since = anchor_of(ctx, cursor_key, from_bound);
    int64_t second = since == CRM_TIME_NONE ? CRM_TIME_NONE : pd_whole_second(since);
    json_t *tie = json_object_get(ctx->paging, tie_key(cursor_key));
    if (tie && json_integer_value(json_object_get(tie, "second")) != second)
        tie = NULL; /* a tie of an earlier second (not reachable: cleared when left) */
    int fresh = tie ? tie_note(tie, data) : 0;
    if (fresh < 0 || (fresh && json_object_set_new(tie, "fresh", json_true())))
        return -1;
    int64_t last = record_time(json_array_get(data, json_array_size(data) - 1), "update_time");
    int leaves = !next || (last != CRM_TIME_NONE &&
                           (second == CRM_TIME_NONE || pd_whole_second(last) > second));
    int again = leaves && tie ? tie_read_again(tie) : 0;
    if (again) {
        json_object_del(ctx->paging, cursor_key); /* from the start of the second again */
        return again < 0 ? -1 : 0;
    }
    if (leaves)
        json_object_del(ctx->paging, tie_key(cursor_key));
    if (!next)
        return advance_phase(ctx, s, cursor_key);
    if (leaves) {
        json_object_del(ctx->paging, cursor_key);
        return set_paging(ctx, anchor_key(cursor_key), json_integer(pd_whole_second(last)));
    }
    if (!tie) {
        tie = json_pack("{s:I, s:[], s:b, s:i}", "second", (json_int_t)second, "ids", "fresh", 1,
                        "readings", 0);
        if (!tie || set_paging(ctx, tie_key(cursor_key), tie) || tie_note(tie, data) < 0)
            return -1;
    }
    return set_paging(ctx, cursor_key, json_string(next));
}

/* The deals list request shared by deals, deal_products and dealflow; anchored lists go by
 * update_time (from the pass's lower bound when from_bound), others by id. */
static void deals_list_request(table_ctx *ctx, http_request *req, const pd_spec *s,
                               const char *statuses, int anchored, int from_bound,
                               const char *cursor_key)
{
    pd_url(ctx->src, req, 1, paging_int(ctx, "phase") ? s->path2 : s->path);
    int64_t since = anchored ? anchor_of(ctx, cursor_key, from_bound) : CRM_TIME_NONE;
    if (since != CRM_TIME_NONE)
        query_since(req, "updated_since", since);
    connector_query(req, "sort_by", anchored ? "update_time" : "id");
    connector_query(req, "sort_direction", "asc");
    if (statuses)
        connector_query(req, "status", statuses);
    query_long(req, "limit", page_limit(ctx, s));
    const char *cursor = json_string_value(json_object_get(ctx->paging, cursor_key));
    if (cursor)
        connector_query(req, "cursor", cursor);
}

static int v2_anchored(const table_ctx *ctx, const pd_spec *s)
{
    return s->kind == PK_V2_INCREMENTAL && !ctx->reconcile;
}

static req_result v2_request(table_ctx *ctx, http_request *req, const pd_spec *s)
{
    int anchored = v2_anchored(ctx, s);
    int by_status = (s->flags & PD_DELETED_STATUS) != 0;
    /* Reconciliation lists live deals only: deleted ones must count as gone. */
    const char *statuses = !by_status       ? NULL
                           : ctx->reconcile ? "open,won,lost"
                                            : "open,won,lost,deleted";
    deals_list_request(ctx, req, s, statuses, anchored, anchored, "cursor");
    return REQ_READY;
}

static int is_deleted_deal(json_t *d)
{
    const char *st = json_string_value(json_object_get(d, "status"));
    return json_is_true(json_object_get(d, "is_deleted")) ||
           json_is_true(json_object_get(d, "deleted")) || (st && strcmp(st, "deleted") == 0);
}

/* Deleted deals leave the records and become deletes of the deals table. */
static int split_deleted_deals(const table_def *table, page *out)
{
    json_t *keep = json_array(), *dels = json_array();
    if (!keep || !dels)
        goto oom;
    size_t i;
    json_t *d;
    json_array_foreach(out->records, i, d)
    {
        if (!is_deleted_deal(d)) {
            if (json_array_append(keep, d))
                goto oom;
            continue;
        }
        json_t *del = json_pack("{s:s, s:O, s:O}", "table", table->name, "id",
                                json_object_get(d, "id"), "before", d);
        if (!del || json_array_append_new(dels, del))
            goto oom;
    }
    json_decref(out->records);
    out->records = keep;
    out->deletes = dels;
    return 0;
oom:
    json_decref(keep);
    json_decref(dels);
    return -1;
}

/* The page hands no raw text after all. */
static void raw_data_forget(page *out)
{
    out->raw_from_response = 0;
    out->raw_off = out->raw_len = 0;
}

/* The fast path: a success envelope's "data" array goes to the engine as raw text; paging reads
 * the records' id and update_time (and what says a deal is deleted) from a slim array
 * (returned; the envelope in *body). NULL when the page is anything else (no "data" array,
 * success=false): response_data then reads it and says what is wrong. */
static json_t *raw_data(const http_response *resp, page *out, json_t **body)
{
    static const char *const keys[] = {"id",      "update_time", "is_deleted",
                                       "deleted", "status",      NULL};
    char err[256];
    json_t *slim = NULL;
    if (connector_raw_records(resp, "data", out, body, err, sizeof(err)))
        return NULL;
    if (!json_is_false(json_object_get(*body, "success")))
        slim = connector_raw_slim(resp, out, keys, err, sizeof(err));
    if (!slim) {
        json_decref(*body);
        *body = NULL;
        raw_data_forget(out);
    }
    return slim;
}

/* The records of the page's raw "data" array whose slim twin (slim, in order) keep() accepts
 * become the page's own text (connector_raw_add); the others are parsed and appended to
 * `dropped` (when not NULL). -1 on invalid JSON or out of memory. */
static int raw_keep(const http_response *resp, page *out, const json_t *slim,
                    int (*keep)(const json_t *rec), json_t *dropped)
{
    const char *p = resp->body.data + out->raw_off, *end = p + out->raw_len, *v, *ve;
    int first, more;
    size_t i = 0;
    raw_data_forget(out);
    js_array_begin(&p, end, &first);
    while ((more = js_array_next(&p, end, &first, &v)) == 1) {
        if (!(ve = js_skip(v, end)))
            return -1;
        if (keep(json_array_get(slim, i++))) {
            if (connector_raw_add(out, v, (size_t)(ve - v)))
                return -1;
        } else if (dropped) {
            json_t *rec = json_loadb(v, (size_t)(ve - v), 0, NULL);
            if (!rec || json_array_append_new(dropped, rec))
                return -1;
        }
        p = ve;
    }
    return more;
}

static int is_live_deal(const json_t *d)
{
    return !is_deleted_deal((json_t *)d);
}

/* A page of deals holding deleted ones: the live ones stay text, the deleted ones become deletes
 * of the deals table (split_deleted_deals on their parsed records). */
static int raw_split_deleted_deals(const table_def *table, const http_response *resp, page *out,
                                   const json_t *slim)
{
    json_t *deleted = json_array();
    int rc = deleted ? raw_keep(resp, out, slim, is_live_deal, deleted) : -1;
    if (rc == 0) {
        out->records = deleted; /* all deleted: split_deleted_deals moves them all to deletes */
        rc = split_deleted_deals(table, out);
        json_decref(out->records); /* the live ones are the page's text */
        out->records = NULL;
        return rc;
    }
    json_decref(deleted);
    return -1;
}

static int any_deleted_deal(const json_t *slim)
{
    size_t i;
    json_t *d;
    json_array_foreach(slim, i, d) if (is_deleted_deal(d)) return 1;
    return 0;
}

static int v2_parse(table_ctx *ctx, const http_response *resp, page *out, char *err, size_t errlen)
{
    const pd_spec *s = pd_spec_of(ctx->table);
    json_t *body;
    json_t *data = raw_data(resp, out, &body);
    int raw = data != NULL;
    if (!data)
        data = response_data(resp, &body, err, errlen);
    if (!data)
        return -1;
    const char *next = next_cursor(body);
    int rc = v2_anchored(ctx, s) ? anchored_advance(ctx, s, data, next, "cursor", 1)
             : next              ? set_paging(ctx, "cursor", json_string(next))
                                 : advance_phase(ctx, s, "cursor");
    json_decref(body);
    if (raw) { /* the engine reads the records (or, reconciling, their ids) from the text */
        if (rc == 0 && !ctx->reconcile && (s->flags & PD_DELETED_STATUS) &&
            any_deleted_deal(data) && raw_split_deleted_deals(ctx->table, resp, out, data)) {
            json_decref(data);
            snprintf(err, errlen, "invalid JSON in the records array");
            return -1;
        }
        json_decref(data);
    } else if (ctx->reconcile) {
        out->ids = ids_of(data);
        json_decref(data);
        rc |= out->ids ? 0 : -1;
    } else {
        out->records = data;
        if ((s->flags & PD_DELETED_STATUS) && split_deleted_deals(ctx->table, out))
            rc = -1;
    }
    if (rc)
        snprintf(err, errlen, "out of memory building the page");
    return rc;
}

/* ---- v1 notes and files: the checked offset walk (pipedrive_walk.h) ---------------------- */

/* Notes passes list by update_time from the pass's lower bound, re-anchoring updated_since at
 * the second of the last row read; notes reconciliations and files list by id. */
static int walk_by_time(const table_ctx *ctx, const pd_spec *s)
{
    return s->kind == PK_V1_NOTES && !ctx->reconcile;
}

static int64_t paging_ms(const json_t *walk, const char *key, int64_t def)
{
    json_t *v = json_object_get(walk, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

/* The walk as persisted in ctx->paging["walk"] (a new pass starts at the pass's lower bound). */
static void walk_load(const table_ctx *ctx, const pd_spec *s, pd_walk *w)
{
    const json_t *j = json_object_get(ctx->paging, "walk");
    memset(w, 0, sizeof(*w));
    w->anchored = walk_by_time(ctx, s);
    w->since = w->anchored && ctx->from_ms != CRM_TIME_NONE ? pd_whole_second(ctx->from_ms)
                                                            : CRM_TIME_NONE;
    if (!json_is_object(j))
        return;
    w->start = (long)paging_ms(j, "start", 0);
    w->since = paging_ms(j, "since", w->since);
    w->has_last = json_is_integer(json_object_get(j, "last_id"));
    w->last.time = paging_ms(j, "last_time", 0);
    w->last.id = paging_ms(j, "last_id", 0);
    w->step_backs = (long)paging_ms(j, "step_backs", 0);
}

static int walk_save(table_ctx *ctx, const pd_walk *w)
{
    json_t *j = json_pack("{s:I, s:I, s:I}", "start", (json_int_t)w->start, "last_time",
                          (json_int_t)w->last.time, "step_backs", (json_int_t)w->step_backs);
    if (j && w->has_last && json_object_set_new(j, "last_id", json_integer(w->last.id)))
        goto fail;
    if (j && w->since != CRM_TIME_NONE && json_object_set_new(j, "since", json_integer(w->since)))
        goto fail;
    return set_paging(ctx, "walk", j);
fail:
    json_decref(j);
    return -1;
}

static req_result walk_request(table_ctx *ctx, http_request *req, const pd_spec *s)
{
    pd_walk w;
    walk_load(ctx, s, &w);
    pd_url(ctx->src, req, 0, s->path);
    if (w.anchored) {
        if (w.since != CRM_TIME_NONE)
            query_since(req, "updated_since", w.since);
        connector_query(req, "sort", "update_time ASC, id ASC");
    } else {
        connector_query(req, "sort", "id ASC");
    }
    query_long(req, "start", w.start);
    query_long(req, "limit", page_limit(ctx, s));
    return REQ_READY;
}

/* The sort keys of a page's rows, in the order served. NULL when the page is empty. */
static pd_key *page_keys(json_t *data, int by_time)
{
    size_t n = json_array_size(data);
    pd_key *keys = n ? xcalloc(n, sizeof(*keys)) : NULL;
    size_t i;
    json_t *r;
    json_array_foreach(data, i, r)
    {
        keys[i].id = (int64_t)json_integer_value(json_object_get(r, "id"));
        keys[i].time = by_time ? record_time(r, "update_time") : 0;
    }
    return keys;
}

static int walk_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                      size_t errlen)
{
    const pd_spec *s = pd_spec_of(ctx->table);
    json_t *body;
    json_t *data = raw_data(resp, out, &body);
    int raw = data != NULL;
    if (!data)
        data = response_data(resp, &body, err, errlen);
    if (!data)
        return -1;
    long next = v1_next_start(body);
    json_decref(body);
    if (next == -2) {
        json_decref(data);
        snprintf(err, errlen, "more_items_in_collection without next_start");
        return -1;
    }
    pd_walk w;
    walk_load(ctx, s, &w);
    pd_key *keys = page_keys(data, w.anchored);
    pd_walk_step step =
        pd_walk_page(&w, keys, json_array_size(data), next >= 0, page_limit(ctx, s));
    free(keys);
    if (step == PD_WALK_BACK)
        log_debug(source_name(ctx->src), ctx->table->name,
                  "rows left the listing before offset %ld: stepped back to %ld",
                  w.start + page_limit(ctx, s), w.start);
    int rc = step == PD_WALK_DONE ? set_paging(ctx, "done", json_true()) : walk_save(ctx, &w);
    if (raw) { /* the engine reads the records (or, reconciling, their ids) from the text */
        json_decref(data);
    } else if (ctx->reconcile) {
        out->ids = ids_of(data);
        json_decref(data);
        rc |= out->ids ? 0 : -1;
    } else {
        out->records = data;
    }
    if (rc)
        snprintf(err, errlen, "out of memory building the page");
    return rc;
}

/* ---- v1 offset lists and unpaginated lists ----------------------------------------------- */

static req_result v1_request(table_ctx *ctx, http_request *req, const pd_spec *s)
{
    pd_url(ctx->src, req, 0, s->path);
    if (s->kind == PK_V1_OFFSET) {
        query_long(req, "start", paging_int(ctx, "start"));
        query_long(req, "limit", page_limit(ctx, s));
    }
    return REQ_READY;
}

/* Subfield rows of *Fields (parent_id set, id null) describe a parent's parts: not records. */
static int drop_null_ids(json_t *data)
{
    for (size_t i = json_array_size(data); i-- > 0;)
        if (!json_is_integer(json_object_get(json_array_get(data, i), "id")) &&
            json_array_remove(data, i))
            return -1;
    return 0;
}

static int has_integer_id(const json_t *rec)
{
    return json_is_integer(json_object_get(rec, "id"));
}

/* The raw text of a page keeps only the records with an integer id (drop_null_ids). */
static int raw_drop_null_ids(const http_response *resp, page *out, const json_t *data)
{
    size_t i;
    json_t *r;
    int all = 1;
    json_array_foreach(data, i, r) all &= has_integer_id(r);
    return all ? 0 : raw_keep(resp, out, data, has_integer_id, NULL);
}

static int v1_parse(table_ctx *ctx, const http_response *resp, page *out, char *err, size_t errlen)
{
    const pd_spec *s = pd_spec_of(ctx->table);
    json_t *body;
    json_t *data = raw_data(resp, out, &body);
    int raw = data != NULL;
    if (!data)
        data = response_data(resp, &body, err, errlen);
    if (!data)
        return -1;
    long next = s->kind == PK_V1_OFFSET ? v1_next_start(body) : -1;
    json_decref(body);
    if (next == -2) {
        json_decref(data);
        raw_data_forget(out);
        snprintf(err, errlen, "more_items_in_collection without next_start");
        return -1;
    }
    int rc = next >= 0 ? set_paging(ctx, "start", json_integer(next))
                       : set_paging(ctx, "done", json_true());
    if (raw) {
        if (raw_drop_null_ids(resp, out, data)) {
            json_decref(data);
            snprintf(err, errlen, "invalid JSON in the records array");
            return -1;
        }
        json_decref(data);
    } else {
        rc |= drop_null_ids(data);
        out->records = data;
    }
    if (rc)
        snprintf(err, errlen, "out of memory building the page");
    return rc;
}

/* ---- fan-out over deals: deal_products and dealflow --------------------------------------- */

static json_t *queue_of(table_ctx *ctx)
{
    json_t *q = json_object_get(ctx->paging, "queue");
    if (!json_is_array(q)) {
        q = json_array();
        if (set_paging(ctx, "queue", q))
            return NULL;
    }
    return q;
}

/* Drops the first n queued deal ids. */
static int queue_pop(table_ctx *ctx, size_t n)
{
    json_t *q = queue_of(ctx);
    if (!q)
        return -1;
    for (size_t i = 0; i < n && json_array_size(q); i++)
        if (json_array_remove(q, 0))
            return -1;
    return 0;
}

static req_result batch_request(table_ctx *ctx, http_request *req, const pd_spec *s, json_t *q)
{
    buf ids;
    buf_init(&ids);
    size_t n = json_array_size(q);
    if (n > (size_t)pds(ctx)->batch)
        n = (size_t)pds(ctx)->batch;
    for (size_t i = 0; i < n; i++)
        buf_printf(&ids, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
                   json_integer_value(json_array_get(q, i)));
    pd_url(ctx->src, req, 1, "deals/products");
    connector_query(req, "deal_ids", ids.data);
    connector_query(req, "sort_by", "id");
    query_long(req, "limit", page_limit(ctx, s));
    const char *cursor = json_string_value(json_object_get(ctx->paging, "pcursor"));
    if (cursor)
        connector_query(req, "cursor", cursor);
    buf_free(&ids);
    return REQ_READY;
}

static req_result flow_request(table_ctx *ctx, http_request *req, const pd_spec *s, json_t *q)
{
    json_int_t deal = json_integer_value(json_array_get(q, 0));
    char path[64];
    snprintf(path, sizeof(path), "deals/%" JSON_INTEGER_FORMAT "/flow", deal);
    pd_url(ctx->src, req, 0, path);
    query_long(req, "start", paging_int(ctx, "start"));
    query_long(req, "limit", page_limit(ctx, s));
    const char *items = pds(ctx)->flow_items;
    if (items && *items)
        connector_query(req, "items", items);
    connector_query(req, "all_changes", "1");
    return REQ_READY;
}

static req_result fanout_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    const pd_spec *s = pd_spec_of(ctx->table);
    json_t *q = queue_of(ctx);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return REQ_ERROR;
    }
    if (json_array_size(q))
        return s->kind == PK_DEAL_PRODUCTS ? batch_request(ctx, req, s, q)
                                           : flow_request(ctx, req, s, q);
    if (json_is_true(json_object_get(ctx->paging, "lists_done")))
        return REQ_DONE;
    if (s->kind == PK_DEAL_PRODUCTS)
        deals_list_request(ctx, req, s, "open,won,lost", 1, 0, "dcursor");
    else
        deals_list_request(ctx, req, s, "open,won,lost,deleted", 1, 1, "dcursor");
    return REQ_READY;
}

/* A deals-list page of a fan-out table: queue the ids, publish nothing. */
static int fanout_parse_deals(table_ctx *ctx, const pd_spec *s, json_t *body, json_t *data,
                              page *out)
{
    json_t *q = queue_of(ctx);
    size_t i;
    json_t *d;
    if (!q)
        return -1;
    json_array_foreach(data, i, d)
    {
        json_t *id = json_object_get(d, "id");
        if (json_is_integer(id) && json_array_append(q, id))
            return -1;
    }
    const char *next = next_cursor(body);
    out->records = json_array();
    if (!out->records)
        return -1;
    return anchored_advance(ctx, s, data, next, "dcursor", s->kind == PK_DEALFLOW);
}

/* A page of deal products: its records are the "data" array's text (raw_data). */
static int batch_parse(table_ctx *ctx, json_t *body)
{
    const char *next = next_cursor(body);
    if (next)
        return set_paging(ctx, "pcursor", json_string(next));
    json_object_del(ctx->paging, "pcursor");
    return queue_pop(ctx, (size_t)pds(ctx)->batch);
}

/* The dealChange of one flow item [v, ve): its "data" object ([*change, *change_end)) when
 * "object" is "dealChange" and its log_time is not before the pass's lower bound; 0 when it is
 * not one (activities, notes, files are not changes). */
static int flow_change(const table_ctx *ctx, const char *v, const char *ve, const char **change,
                       const char **change_end, buf *text)
{
    const char *data = js_member(v, ve, "data");
    int64_t t = CRM_TIME_NONE;
    if (connector_raw_string(v, ve, "object", text) || strcmp(text->data, "dealChange") || !data ||
        js_peek(data, ve) != JS_OBJECT || !(*change_end = js_skip(data, ve)))
        return 0;
    if (connector_raw_string(data, *change_end, "log_time", text) == 0 &&
        crm_time_parse(text->data, &t))
        t = CRM_TIME_NONE;
    if (ctx->from_ms != CRM_TIME_NONE && t != CRM_TIME_NONE && t < ctx->from_ms)
        return 0;
    *change = data;
    return 1;
}

/* The dealChange rows of a flow page, from the text of its "data" array (raw_data; none when
 * the page has no such array) to the page's own text (connector_raw_add). */
static int flow_parse(table_ctx *ctx, const http_response *resp, json_t *body, int raw, page *out)
{
    const char *p = raw ? resp->body.data + out->raw_off : NULL;
    const char *end = raw ? p + out->raw_len : NULL, *v, *ve, *c, *ce;
    int first, more = 0;
    buf text;
    buf_init(&text);
    raw_data_forget(out);
    if (raw && js_array_begin(&p, end, &first) == 0) {
        while ((more = js_array_next(&p, end, &first, &v)) == 1) {
            if (!(ve = js_skip(v, end)) || (flow_change(ctx, v, ve, &c, &ce, &text) &&
                                            connector_raw_add(out, c, (size_t)(ce - c))))
                break;
            p = ve;
        }
    }
    buf_free(&text);
    if (more != 0)
        return -1;
    long next = v1_next_start(body);
    if (next >= 0)
        return set_paging(ctx, "start", json_integer(next));
    json_object_del(ctx->paging, "start");
    return queue_pop(ctx, 1);
}

static int fanout_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                        size_t errlen)
{
    const pd_spec *s = pd_spec_of(ctx->table);
    json_t *q = queue_of(ctx);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int listing = json_array_size(q) == 0; /* the same choice fanout_request made */
    if (!listing && (resp->status == 404 || resp->status == 410)) {
        /* The deal was purged after the deal list was read (VERDICT_SKIP): move past it. */
        json_object_del(ctx->paging, "start");
        out->records = json_array();
        if (!out->records ||
            queue_pop(ctx, s->kind == PK_DEAL_PRODUCTS ? (size_t)pds(ctx)->batch : 1)) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    /* the fast path (raw_data), or response_data, which says what is wrong or reads a null
     * "data" as no rows */
    json_t *body;
    json_t *data = raw_data(resp, out, &body);
    int raw = data != NULL;
    if (!data)
        data = response_data(resp, &body, err, errlen);
    if (!data) {
        if (!listing && s->kind == PK_DEALFLOW && strstr(err, "null"))
            snprintf(err, errlen, "deal flow answered 200 with a null body");
        return -1;
    }
    int rc;
    if (listing) { /* ids to queue, nothing to publish */
        raw_data_forget(out);
        rc = fanout_parse_deals(ctx, s, body, data, out);
    } else if (s->kind == PK_DEAL_PRODUCTS) {
        rc = batch_parse(ctx, body);
    } else {
        rc = flow_parse(ctx, resp, body, raw, out);
    }
    json_decref(body);
    json_decref(data);
    if (rc)
        snprintf(err, errlen, "out of memory or invalid JSON building the page");
    return rc;
}

/* ---- confirming reconciliation candidates ------------------------------------------------- */

/* Reconciliation listings can drift; the engine reads the ids they missed back before deleting
 * them. v2 persons, organizations, activities and products: one list filtered by `ids` (up to
 * 100; v2 lists leave deleted rows out). Deals: /api/v2/deals/{id} (an `ids` list of /deals would
 * miss archived deals). Notes and files (v1): /v1/{notes,files}/{id}. Deleted records that are
 * still readable (is_deleted, status deleted, active_flag false) are not alive; 404/410 = gone. */
static int confirm_by_id(const pd_spec *s)
{
    return s->kind != PK_V2_INCREMENTAL || (s->flags & PD_DELETED_STATUS);
}

static req_result pd_confirm_request(table_ctx *ctx, const json_t *ids, http_request *req,
                                     char *err, size_t errlen)
{
    const pd_spec *s = pd_spec_of(ctx->table);
    if (!json_array_size(ids)) {
        snprintf(err, errlen, "nothing to confirm for table %s", ctx->table->name);
        return REQ_ERROR;
    }
    buf list;
    buf_init(&list);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (!json_is_integer(id) || (confirm_by_id(s) && i > 0)) {
            buf_free(&list);
            snprintf(err, errlen, "confirmation ids of %s must be integers (one per request)",
                     ctx->table->name);
            return REQ_ERROR;
        }
        buf_printf(&list, "%s%" JSON_INTEGER_FORMAT, i ? "," : "", json_integer_value(id));
    }
    if (confirm_by_id(s)) {
        char path[96];
        snprintf(path, sizeof(path), "%s/%s", s->path, list.data);
        pd_url(ctx->src, req, s->kind == PK_V2_INCREMENTAL, path);
    } else {
        pd_url(ctx->src, req, 1, s->path);
        connector_query(req, "ids", list.data);
        query_long(req, "limit", 500);
    }
    buf_free(&list);
    return REQ_READY;
}

static int is_deleted_record(json_t *r)
{
    json_t *active = json_object_get(r, "active_flag");
    return is_deleted_deal(r) || json_is_false(active) ||
           (json_is_integer(active) && json_integer_value(active) == 0);
}

/* A confirmation answer: the ids of the records it shows alive (data is one record for a
 * by-id read, an array for an ids list). */
static int confirm_parse(const http_response *resp, page *out, char *err, size_t errlen)
{
    json_t *body = connector_parse_json(resp, err, errlen);
    if (!body)
        return -1;
    json_t *data = json_object_get(body, "data");
    if (!json_is_object(body) || json_is_false(json_object_get(body, "success")) ||
        !(json_is_object(data) || json_is_array(data) || json_is_null(data))) {
        snprintf(err, errlen, "confirmation answer is not a Pipedrive success envelope");
        json_decref(body);
        return -1;
    }
    out->ids = json_array();
    json_t *one = json_is_object(data) ? json_pack("[O]", data) : json_incref(data);
    size_t i;
    json_t *r;
    int rc = out->ids && (one || json_is_null(data)) ? 0 : -1;
    json_array_foreach(one, i, r)
    {
        json_t *id = json_object_get(r, "id");
        if (rc == 0 && json_is_integer(id) && !is_deleted_record(r))
            rc = json_array_append(out->ids, id);
    }
    json_decref(one);
    json_decref(body);
    if (rc)
        snprintf(err, errlen, "out of memory building the page");
    return rc;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static req_result pd_next_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    const pd_spec *s = pd_spec_of(ctx->table);
    if (paging_done(ctx))
        return REQ_DONE;
    switch (s->kind) {
    case PK_V2_INCREMENTAL:
    case PK_V2_FULL:
        return v2_request(ctx, req, s);
    case PK_V1_NOTES:
    case PK_V1_FILES:
        return walk_request(ctx, req, s);
    case PK_V1_OFFSET:
    case PK_V1_UNPAGED:
        return v1_request(ctx, req, s);
    default:
        return fanout_request(ctx, req, err, errlen);
    }
}

static int pd_parse_page(table_ctx *ctx, const http_response *resp, page *out, char *err,
                         size_t errlen)
{
    const pd_spec *s = pd_spec_of(ctx->table);
    if (ctx->confirm)
        return confirm_parse(resp, out, err, errlen);
    switch (s->kind) {
    case PK_V2_INCREMENTAL:
    case PK_V2_FULL:
        return v2_parse(ctx, resp, out, err, errlen);
    case PK_V1_NOTES:
    case PK_V1_FILES:
        return walk_parse(ctx, resp, out, err, errlen);
    case PK_V1_OFFSET:
    case PK_V1_UNPAGED:
        return v1_parse(ctx, resp, out, err, errlen);
    default:
        return fanout_parse(ctx, resp, out, err, errlen);
    }
}

/* ---- rate limits and error classes ------------------------------------------------------- */

static long long header_int(const http_response *resp, const char *name)
{
    const char *v = http_response_header(resp, name);
    if (!v || !*v)
        return -1;
    char *end;
    long long n = strtoll(v, &end, 10);
    return end == v ? -1 : n;
}

/* Next UTC midnight, capped by daily_budget_retry (the budget resets at midnight server time,
 * which we cannot see: probe again at least that often). */
static int64_t budget_wait_ms(const pd_source *ps)
{
    int64_t now = now_wall_ms();
    int64_t midnight = now - now % 86400000LL + 86400000LL;
    int64_t wait = midnight - now;
    return wait > ps->budget_retry_ms ? ps->budget_retry_ms : wait;
}

static void pd_rate_signal(source *src, const http_response *resp, rate_signal *out)
{
    long long remaining = header_int(resp, "x-ratelimit-remaining");
    long long reset = header_int(resp, "x-ratelimit-reset"); /* relative seconds */
    long long daily_left = header_int(resp, "x-daily-ratelimit-token-remaining");
    out->wait_ms = 0;
    out->budget_exhausted = 0;
    if (daily_left == 0 || (resp->status == 429 && remaining > 0)) {
        out->budget_exhausted = 1;
        out->wait_ms = budget_wait_ms(source_state(src));
        return;
    }
    if (resp->status == 429 || remaining == 0) {
        long long s = reset > 0 ? reset : 2;
        out->wait_ms = (s > 300 ? 300 : s) * 1000;
    }
}

static int body_is_json(const http_response *resp)
{
    const char *p = resp->body.data ? resp->body.data : "";
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return *p == '{' || *p == '[';
}

static http_verdict pd_classify(const table_def *table, const http_response *resp)
{
    switch (resp->status) {
    case 401:
    case 402: /* company account not open: nothing works until billing is fixed */
        return VERDICT_AUTH;
    case 403:
        /* JSON 403 = this token may not read this table; an HTML 403 is Cloudflare blocking
         * after too many 429s: transient, retry at the next poll. */
        return body_is_json(resp) ? VERDICT_UNAVAILABLE : VERDICT_ERROR;
    case 404:
    case 410:
        /* A deal purged between the deal list and its flow: skip that deal only. */
        return pd_spec_of(table)->kind == PK_DEALFLOW ? VERDICT_SKIP : VERDICT_ERROR;
    default:
        return VERDICT_ERROR;
    }
}

/* ---- typed custom fields ----------------------------------------------------------------- */

/* Custom fields are the *Fields rows with edit_flag true (their keys are 40-hex hashes).
 * Composite types (address, daterange, timerange, time) are left untyped: their parts stay in
 * the raw custom_fields JSON, so nothing is lost. */
static int pd_describe(const table_def *t, const json_t *def, cf_desc *d)
{
    (void)t;
    static const struct {
        const char *type;
        cf_kind kind;
        int multi;
    } types[] = {{"varchar", CF_STRING, 0}, {"varchar_auto", CF_STRING, 0}, {"text", CF_STRING, 0},
                 {"phone", CF_STRING, 0},   {"user", CF_STRING, 0},         {"org", CF_STRING, 0},
                 {"people", CF_STRING, 0},  {"double", CF_NUMBER, 0},       {"int", CF_NUMBER, 0},
                 {"monetary", CF_MONEY, 0}, {"date", CF_DATE, 0},           {"enum", CF_ENUM, 0},
                 {"set", CF_ENUM, 1}};
    const char *key = json_string_value(json_object_get(def, "key"));
    const char *type = json_string_value(json_object_get(def, "field_type"));
    if (!key || !type || !json_is_true(json_object_get(def, "edit_flag")) ||
        json_object_get(def, "parent_id"))
        return 0;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(type, types[i].type) != 0)
            continue;
        cf_desc_set(d, key, json_string_value(json_object_get(def, "name")), types[i].kind,
                    types[i].multi);
        size_t k;
        json_t *opt;
        json_array_foreach(json_object_get(def, "options"), k, opt)
        {
            char oid[32];
            snprintf(oid, sizeof(oid), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(opt, "id")));
            cf_desc_add_option(d, oid, json_string_value(json_object_get(opt, "label")));
        }
        return 1;
    }
    return 0;
}

/* v2: custom_fields {"<key>": value} (monetary {value, currency}); v1: top-level keys, with the
 * currency of a monetary field in "<key>_currency". */
static json_t *pd_take(json_t *rec, const char *key, cf_kind kind)
{
    const json_t *cf = json_object_get(rec, "custom_fields");
    if (json_is_object(cf) && json_object_get(cf, key)) {
        json_t *value = json_incref(json_object_get(cf, key));
        json_t *rest = json_copy((json_t *)cf);
        json_object_del(rest, key);
        json_object_set_new(rec, "custom_fields", rest);
        return value;
    }
    json_t *value = json_object_get(rec, key);
    if (!value)
        return NULL;
    json_incref(value);
    json_object_del(rec, key);
    char ckey[64];
    snprintf(ckey, sizeof(ckey), "%s_currency", key);
    const json_t *currency = json_object_get(rec, ckey);
    if (kind == CF_MONEY && currency) {
        json_t *money = json_pack("{s:O, s:O}", "value", value, "currency", currency);
        json_decref(value);
        value = money;
        json_object_del(rec, ckey);
    }
    return value;
}

static const custom_fields_spec pd_custom_deals = {.definitions = {"deal_fields"},
                                                   .describe = pd_describe,
                                                   .take = pd_take,
                                                   .raw_member = "custom_fields"};
static const custom_fields_spec pd_custom_persons = {.definitions = {"person_fields"},
                                                     .describe = pd_describe,
                                                     .take = pd_take,
                                                     .raw_member = "custom_fields"};
static const custom_fields_spec pd_custom_orgs = {.definitions = {"organization_fields"},
                                                  .describe = pd_describe,
                                                  .take = pd_take,
                                                  .raw_member = "custom_fields"};
static const custom_fields_spec pd_custom_products = {.definitions = {"product_fields"},
                                                      .describe = pd_describe,
                                                      .take = pd_take,
                                                      .raw_member = "custom_fields"};

/* ---- tables ------------------------------------------------------------------------------ */

#define INCR(n, desc, cf, batch, ...)                                                              \
    {                                                                                              \
        .name = n, .primary_key = "id", .replication_key = "update_time",                          \
        .method = SYNC_INCREMENTAL, .lookback_seconds = 60, .schema_file = "pipedrive/" n ".avsc", \
        .sorted = 1, .reconcile = 1, .description = desc, .next_request = pd_next_request,         \
        .parse_page = pd_parse_page, .custom = cf, .confirm_request = pd_confirm_request,          \
        .confirm_batch = batch, .spec = PD_SPEC(__VA_ARGS__)                                       \
    }

#define FULL(n, rk, desc, ...)                                                                     \
    {                                                                                              \
        .name = n, .primary_key = "id", .replication_key = rk, .method = SYNC_FULL_TABLE,          \
        .schema_file = "pipedrive/" n ".avsc", .reconcile = 1, .description = desc,                \
        .next_request = pd_next_request, .parse_page = pd_parse_page, .spec = PD_SPEC(__VA_ARGS__) \
    }

static const table_def pd_tables[] = {
    {.name = "deals",
     .primary_key = "id",
     .replication_key = "update_time",
     .method = SYNC_INCREMENTAL,
     .lookback_seconds = 60,
     .schema_file = "pipedrive/deals.avsc",
     .sorted = 1,
     .reconcile = 1,
     .delete_feed = 1,
     .description = "v2 /deals + /deals/archived, all statuses; deleted deals -> d + tombstone",
     .next_request = pd_next_request,
     .parse_page = pd_parse_page,
     .custom = &pd_custom_deals,
     .confirm_request = pd_confirm_request,
     .confirm_batch = 1,
     .spec = PD_SPEC(.kind = PK_V2_INCREMENTAL, .path = "deals", .path2 = "deals/archived",
                     .max_limit = 500, .flags = PD_DELETED_STATUS)},
    INCR("persons", "v2 /persons on update_time; deletes by ID reconciliation", &pd_custom_persons,
         100, .kind = PK_V2_INCREMENTAL, .path = "persons", .max_limit = 500),
    INCR("organizations", "v2 /organizations on update_time; deletes by ID reconciliation",
         &pd_custom_orgs, 100, .kind = PK_V2_INCREMENTAL, .path = "organizations",
         .max_limit = 500),
    INCR("activities", "v2 /activities on update_time; deletes by ID reconciliation", NULL, 100,
         .kind = PK_V2_INCREMENTAL, .path = "activities", .max_limit = 500),
    INCR("products", "v2 /products on update_time; deletes by ID reconciliation",
         &pd_custom_products, 100, .kind = PK_V2_INCREMENTAL, .path = "products", .max_limit = 500),
    INCR("notes", "v1 /notes with updated_since; deletes by ID reconciliation", NULL, 1,
         .kind = PK_V1_NOTES, .path = "notes", .max_limit = 500),
    FULL("stages", "update_time", "v2 /stages, full table", .kind = PK_V2_FULL, .path = "stages",
         .max_limit = 500),
    FULL("pipelines", "update_time", "v2 /pipelines, full table", .kind = PK_V2_FULL,
         .path = "pipelines", .max_limit = 500),
    FULL("users", "modified", "v1 /users, full table", .kind = PK_V1_UNPAGED, .path = "users"),
    FULL("activity_types", "update_time", "v1 /activityTypes, full table", .kind = PK_V1_UNPAGED,
         .path = "activityTypes"),
    FULL("currency", NULL, "v1 /currencies, full table", .kind = PK_V1_UNPAGED,
         .path = "currencies"),
    FULL("filters", "update_time", "v1 /filters, full table", .kind = PK_V1_UNPAGED,
         .path = "filters"),
    {.name = "files",
     .primary_key = "id",
     .replication_key = "update_time",
     .method = SYNC_FULL_TABLE,
     .schema_file = "pipedrive/files.avsc",
     .reconcile = 1,
     .description = "v1 /files by id (limit 100), full table; vanished ids read back by id",
     .next_request = pd_next_request,
     .parse_page = pd_parse_page,
     .confirm_request = pd_confirm_request,
     .confirm_batch = 1,
     .spec = PD_SPEC(.kind = PK_V1_FILES, .path = "files", .max_limit = 100)},
    FULL("deal_fields", "update_time", "v1 /dealFields, all pages, subfield rows dropped",
         .kind = PK_V1_OFFSET, .path = "dealFields", .max_limit = 500),
    FULL("person_fields", "update_time", "v1 /personFields, all pages", .kind = PK_V1_OFFSET,
         .path = "personFields", .max_limit = 500),
    FULL("organization_fields", "update_time", "v1 /organizationFields, all pages",
         .kind = PK_V1_OFFSET, .path = "organizationFields", .max_limit = 500),
    FULL("product_fields", "update_time", "v1 /productFields, all pages", .kind = PK_V1_OFFSET,
         .path = "productFields", .max_limit = 500),
    FULL("deal_products", "update_time",
         "v2 batch /deals/products?deal_ids= (100 deals a request) over live deals",
         .kind = PK_DEAL_PRODUCTS, .path = "deals", .path2 = "deals/archived", .max_limit = 500),
    {.name = "dealflow",
     .primary_key = "id",
     .replication_key = "log_time",
     .method = SYNC_INCREMENTAL,
     .lookback_seconds = 3 * 3600,
     .schema_file = "pipedrive/dealflow.avsc",
     .description = "v1 /deals/{id}/flow dealChange rows of deals updated since the log_time "
                    "bookmark (lookback 3h)",
     .next_request = pd_next_request,
     .parse_page = pd_parse_page,
     .spec = PD_SPEC(.kind = PK_DEALFLOW, .path = "deals", .path2 = "deals/archived",
                     .max_limit = 500)},
};

#define PD_OPTION(type, field, def, doc) CONNECTOR_OPTION(pd_opts, type, field, def, doc)
static const connector_option pd_options[] = {
    PD_OPTION(OPT_ENV, api_token_env, "PIPEDRIVE_API_TOKEN",
              "environment variable holding the API token (or the OAuth access token)"),
    PD_OPTION(OPT_STRING, auth, "api_token", "api_token (x-api-token header) or oauth (Bearer)"),
    PD_OPTION(OPT_BOOL, token_in_query, "false",
              "send the API token as the api_token query parameter instead of the header"),
    PD_OPTION(OPT_STRING, v1_prefix, "auto",
              "v1 path prefix: auto (/v1 on api.pipedrive.com, else /api/v1), /v1 or /api/v1"),
    PD_OPTION(OPT_INT, page_size, "500", "records per page (v1 start/limit and v2 limit; max 500)"),
    PD_OPTION(OPT_INT, deal_ids_per_request, "100",
              "deal ids per batch deal-products request (max 100)"),
    PD_OPTION(OPT_STRING, dealflow_items, "dealChange",
              "items= filter of /deals/{id}/flow (\"\": all)"),
    PD_OPTION(OPT_DURATION, daily_budget_retry, "1h",
              "when the daily token budget is spent, pause until UTC midnight or this long, "
              "whichever is sooner, then probe again"),
    {0},
};
#undef PD_OPTION

const connector pipedrive_connector = {
    .name = "pipedrive",
    .description = "Pipedrive (API v2 where it exists, v1 elsewhere)",
    .default_base_url = "https://api.pipedrive.com",
    .default_rate = 9, /* the lowest plan: 20 requests per rolling 2 s, with headroom */
    .default_burst = 10,
    /* The API's own model: 20 requests per rolling 2 s (lowest plan). 19 keeps
     * x-ratelimit-remaining above 0 (at 0 the connector sleeps the whole-second reset). The
     * window counts each request until its response, so latency cannot crowd it: no 429
     * (bench/backfill.sh). */
    .default_window_requests = 19,
    .default_window_ms = 2000,
    /* Only deals come with their deletes: persons, organizations, activities, products and notes
     * are re-listed by id every 2 h (README: the delete table, and its token cost). */
    .default_reconcile_interval_s = 2 * 3600,
    .options = pd_options,
    .options_size = sizeof(pd_opts),
    .tables = pd_tables,
    .n_tables = sizeof(pd_tables) / sizeof(pd_tables[0]),
    .source_init = pd_init,
    .source_free = pd_free,
    .check_request = pd_check,
    .rate_signal = pd_rate_signal,
    .classify = pd_classify,
};
