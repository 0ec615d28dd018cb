/* paging.c — how the Close connector walks each kind of Close endpoint.
 *
 * Every strategy keeps its position in ctx->paging (committed with each page), so a restart
 * resumes mid-pass. None of them pages with _skip beyond a run of records sharing one timestamp,
 * because Close caps _skip per resource (max_skip) and offsets shift when records change. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "close_internal.h"
#include "crm_time.h"
#include "json_scan.h"
#include "log.h"

#define EVENT_RETENTION_MS (30LL * 86400000LL)

/* ---- small helpers ------------------------------------------------------------------------ */

static int paging_done(const table_ctx *ctx)
{
    return json_is_true(json_object_get(ctx->paging, "done"));
}

static void set_done(table_ctx *ctx)
{
    json_object_set_new(ctx->paging, "done", json_true());
}

static json_int_t paging_int(const table_ctx *ctx, const char *key, json_int_t def)
{
    json_t *v = json_object_get(ctx->paging, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static void set_paging_int(table_ctx *ctx, const char *key, json_int_t v)
{
    json_object_set_new(ctx->paging, key, json_integer(v));
}

static void query_int(http_request *req, const char *name, long long v)
{
    char text[32];
    snprintf(text, sizeof(text), "%lld", v);
    connector_query(req, name, text);
}

static void query_time(http_request *req, const char *name, int64_t ms)
{
    char text[32];
    crm_time_format(ms, text, sizeof(text)); /* explicit UTC: ...Z */
    connector_query(req, name, text);
}

static long long option_int(const table_ctx *ctx, const char *name)
{
    return close_option_int(ctx->src, name);
}

/* Parses the body and returns it with its "data" array checked; NULL + err otherwise. */
static json_t *load_data(const http_response *resp, json_t **data, char *err, size_t errlen)
{
    json_t *body = connector_parse_json(resp, err, errlen);
    if (!body)
        return NULL;
    *data = json_object_get(body, "data");
    if (!json_is_array(*data)) {
        snprintf(err, errlen, "response has no \"data\" array");
        json_decref(body);
        return NULL;
    }
    return body;
}

/* The fast path: the "data" array goes to the engine as raw text (connector_raw_records); what
 * paging reads of the records, their id and key members, comes back as a slim jansson array,
 * the envelope's other members in *body (caller decrefs both). NULL + err otherwise. */
static json_t *load_raw_data(const http_response *resp, page *out, const char *key,
                             json_t **body, char *err, size_t errlen)
{
    const char *const keys[] = {"id", key, NULL};
    if (connector_raw_records(resp, "data", out, body, err, errlen))
        return NULL;
    json_t *slim = connector_raw_slim(resp, out, keys, err, errlen);
    if (!slim) {
        json_decref(*body);
        *body = NULL;
    }
    return slim;
}

static int64_t record_ms(const json_t *rec, const char *key)
{
    int64_t ms;
    const char *s = json_string_value(json_object_get(rec, key));
    return s && crm_time_parse(s, &ms) == 0 ? ms : CRM_TIME_NONE;
}

/* ---- full table --------------------------------------------------------------------------- */

req_result close_full_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    const close_table *ep = close_table_of(ctx->table);
    if (paging_done(ctx))
        return REQ_DONE;
    connector_url(ctx->src, req, ep->path);
    query_int(req, "_skip", paging_int(ctx, "skip", 0));
    query_int(req, "_limit", option_int(ctx, ep->limit_option));
    return REQ_READY;
}

int close_full_parse(table_ctx *ctx, const http_response *resp, page *out, char *err, size_t errlen)
{
    if (ctx->confirm)
        return close_confirm_parse(ctx, resp, out, err, errlen);
    json_t *body, *data = load_raw_data(resp, out, NULL, &body, err, errlen);
    if (!data)
        return -1;
    size_t n = json_array_size(data);
    set_paging_int(ctx, "skip", paging_int(ctx, "skip", 0) + (json_int_t)n);
    if (n == 0 || !json_is_true(json_object_get(body, "has_more")))
        set_done(ctx);
    json_decref(data);
    json_decref(body);
    return 0;
}

/* ---- confirming reconciliation candidates ------------------------------------------------- */

/* Tasks and activities: one list request filtered by id__in (batched, CLOSE_CONFIRM_BATCH ids);
 * every other table: GET <path><id>/ (Close documents id__in on those two lists only). */
req_result close_confirm_request(table_ctx *ctx, const json_t *ids, http_request *req, char *err,
                                 size_t errlen)
{
    const close_table *ep = close_table_of(ctx->table);
    if (json_array_size(ids) == 0) {
        snprintf(err, errlen, "nothing to confirm for table %s", ctx->table->name);
        return REQ_ERROR;
    }
    buf text;
    buf_init(&text);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (!json_is_string(id)) {
            buf_free(&text);
            snprintf(err, errlen, "table %s: a candidate id is not a string", ctx->table->name);
            return REQ_ERROR;
        }
        if (i)
            buf_append_str(&text, ",");
        buf_append_str(&text, json_string_value(id));
    }
    if (ep->flags & CLOSE_LISTS_BY_IDS) {
        connector_url(ctx->src, req, ep->path);
        connector_query(req, "id__in", text.data);
        query_int(req, "_limit", (long long)json_array_size(ids));
    } else {
        buf path;
        buf_init(&path);
        /* without its query (smart views' type__in) */
        const char *list = ep->item_path ? ep->item_path : ep->path;
        buf_append(&path, list, strcspn(list, "?"));
        buf_append_urlencoded(&path, text.data);
        buf_append_str(&path, "/");
        connector_url(ctx->src, req, path.data);
        buf_free(&path);
    }
    connector_query(req, "_fields", "id");
    buf_free(&text);
    return REQ_READY;
}

int close_confirm_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                        size_t errlen)
{
    (void)ctx;
    json_t *body = connector_parse_json(resp, err, errlen);
    if (!body)
        return -1;
    json_t *data = json_object_get(body, "data");
    out->ids = json_array();
    if (json_is_array(data)) {
        size_t i;
        json_t *rec;
        json_array_foreach(data, i, rec) if (json_is_string(json_object_get(rec, "id")))
            json_array_append(out->ids, json_object_get(rec, "id"));
    } else if (json_is_string(json_object_get(body, "id"))) {
        json_array_append(out->ids, json_object_get(body, "id"));
    } else {
        snprintf(err, errlen, "the confirmation answer has neither \"data\" nor \"id\"");
        json_decref(body);
        return -1;
    }
    json_decref(body);
    return 0;
}

/* ---- keyset over offset lists ------------------------------------------------------------- */

/* Lower bound of the key walk: the anchor reached so far, else the pass's window start. The
 * attribution_window option (activities) overrides the table lookback when set. */
static int64_t keyset_start(const table_ctx *ctx, const close_table *ep)
{
    if (ep->since)
        return CRM_TIME_NONE; /* the window applies to `since`, the key walk starts open */
    int64_t from = ctx->from_ms;
    long long window = close_opts_of(ctx->src)->attribution_window;
    if ((ep->flags & CLOSE_ATTRIBUTION_WINDOW) && window > 0 && ctx->bookmark_ms != CRM_TIME_NONE &&
        !ctx->reconcile)
        from = ctx->bookmark_ms - (int64_t)window * 1000;
    return from;
}

/* The _skip of the next keyset request: inside a tie, one record before the position reached,
 * so the first record served must be one already read (else the tie shifted). */
long long close_keyset_skip(const json_t *paging)
{
    json_int_t skip = json_integer_value(json_object_get(paging, "skip"));
    return skip > 0 ? (long long)skip - 1 : 0;
}

req_result close_keyset_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    const close_table *ep = close_table_of(ctx->table);
    if (paging_done(ctx))
        return REQ_DONE;
    json_t *anchor = json_object_get(ctx->paging, "anchor_ms");
    int64_t key_from = json_is_integer(anchor) ? json_integer_value(anchor) : keyset_start(ctx, ep);
    long long skip = close_keyset_skip(ctx->paging), limit = option_int(ctx, ep->limit_option);
    if (skip + limit > close_opts_of(ctx->src)->max_skip) {
        snprintf(err, errlen,
                 "more than %lld records share %s at the anchor; refusing to page past max_skip",
                 close_opts_of(ctx->src)->max_skip, ep->key);
        return REQ_ERROR;
    }
    connector_url(ctx->src, req, ep->path);
    connector_query(req, "_order_by", ep->key);
    if (key_from != CRM_TIME_NONE) {
        char name[64];
        snprintf(name, sizeof(name), "%s__gte", ep->key);
        query_time(req, name, key_from);
    }
    if (ep->since && ctx->from_ms != CRM_TIME_NONE)
        query_time(req, ep->since, ctx->from_ms);
    if (ctx->reconcile) { /* an id listing: the key pages it, nothing else is needed */
        char fields[64];
        snprintf(fields, sizeof(fields), "id,%s", ep->key);
        connector_query(req, "_fields", fields);
    }
    query_int(req, "_skip", skip);
    query_int(req, "_limit", limit);
    return REQ_READY;
}

static int id_listed(const json_t *ids, const json_t *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) if (json_equal(v, id)) return 1;
    return 0;
}

/* Enters (or restarts) the walk at `anchor` with nothing read at that key yet. */
static void keyset_anchor(json_t *paging, int64_t anchor)
{
    json_object_set_new(paging, "anchor_ms", json_integer(anchor));
    json_object_set_new(paging, "skip", json_integer(0));
    json_object_del(paging, "tie_ids");
}

/* Records the page's ids as read inside the tie at the anchor. */
static void keyset_extend_tie(json_t *paging, const json_t *data)
{
    json_t *ids = json_object_get(paging, "tie_ids");
    if (!json_is_array(ids)) {
        ids = json_array();
        json_object_set_new(paging, "tie_ids", ids);
    }
    size_t i;
    json_t *rec;
    json_array_foreach(data, i, rec)
    {
        json_t *id = json_object_get(rec, "id");
        if (id && !id_listed(ids, id))
            json_array_append(ids, id);
    }
    json_int_t skip = close_keyset_skip(paging) + (json_int_t)json_array_size(data);
    json_object_set_new(paging, "skip", json_integer(skip));
}

int close_keyset_advance(json_t *paging, const json_t *data, const char *key, int has_more)
{
    size_t n = json_array_size(data), i;
    if (n == 0 || !has_more)
        return 1;
    int64_t max = CRM_TIME_NONE;
    int below_max = 0, keyed = 0;
    json_t *rec;
    json_array_foreach(data, i, rec)
    {
        int64_t ms = record_ms(rec, key);
        if (ms == CRM_TIME_NONE)
            continue;
        if (keyed && ms != max)
            below_max = 1;
        if (!keyed || ms > max)
            max = ms;
        keyed = 1;
    }
    json_t *anchor_v = json_object_get(paging, "anchor_ms");
    int anchored = json_is_integer(anchor_v);
    int64_t anchor = anchored ? json_integer_value(anchor_v) : CRM_TIME_NONE;
    if (!keyed) { /* no key to anchor on (should not happen): page on by offset */
        keyset_extend_tie(paging, data);
        return 0;
    }
    if (json_integer_value(json_object_get(paging, "skip")) > 0) {
        /* Inside a tie: the request re-served the last record read; anything else in its place
         * means records of the tie moved or vanished, so the tie is read again from its start. */
        json_t *first = json_array_get(data, 0);
        if (record_ms(first, key) != anchor ||
            !id_listed(json_object_get(paging, "tie_ids"), json_object_get(first, "id"))) {
            keyset_anchor(paging, anchor);
            return 0;
        }
    }
    if (!anchored || max > anchor) {
        keyset_anchor(paging, max); /* re-read the boundary key from its first record */
        if (!below_max)             /* unless the page is one key: a tie at least a page long */
            keyset_extend_tie(paging, data);
        return 0;
    }
    keyset_extend_tie(paging, data); /* the page continued the tie at the anchor */
    return 0;
}

/* After a page: anchor at its highest key and read that key again from its first record (the
 * engine's dedupe drops what was already published), so a record updated (moved to the end) or
 * deleted between requests never shifts an unread one out of reach. Only a page that is one
 * tie is paged past with _skip, remembering the ids read in the tie to detect a shift. */
int close_keyset_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    const close_table *ep = close_table_of(ctx->table);
    if (ctx->confirm)
        return close_confirm_parse(ctx, resp, out, err, errlen);
    json_t *body, *data = load_raw_data(resp, out, ep->key, &body, err, errlen);
    if (!data)
        return -1;
    if (close_keyset_advance(ctx->paging, data, ep->key,
                             json_is_true(json_object_get(body, "has_more")))) {
        set_done(ctx);
        close_fallback_at_pass_end(ctx, out);
    }
    if (!ctx->table->sorted) /* edits made during the pass are re-read by the next one */
        out->bookmark_cap_ms = ctx->until_ms;
    json_decref(data);
    json_decref(body);
    return 0;
}

/* ---- POST /data/search/ ------------------------------------------------------------------- */

static const char *const LEAD_FIELDS[] = {
    "id",           "name",       "display_name",    "description",     "url",
    "html_url",     "status_id",  "status_label",    "organization_id", "date_created",
    "date_updated", "created_by", "created_by_name", "updated_by",      "updated_by_name",
    "addresses",    "contacts",   "opportunities",   "tasks",           "integration_links",
    "custom",       NULL};
static const char *const CONTACT_FIELDS[] = {"id",
                                             "lead_id",
                                             "organization_id",
                                             "name",
                                             "display_name",
                                             "title",
                                             "emails",
                                             "phones",
                                             "urls",
                                             "integration_links",
                                             "date_created",
                                             "date_updated",
                                             "created_by",
                                             "created_by_name",
                                             "updated_by",
                                             "updated_by_name",
                                             "custom",
                                             NULL};

static json_t *date_updated_field(const char *object_type)
{
    return json_pack("{s:s, s:s, s:s}", "type", "regular_field", "object_type", object_type,
                     "field_name", "date_updated");
}

static json_t *search_query(const char *object_type, int64_t from_ms)
{
    json_t *parts = json_pack("[{s:s, s:s}]", "type", "object_type", "object_type", object_type);
    if (from_ms != CRM_TIME_NONE) {
        char when[32];
        crm_time_format(from_ms, when, sizeof(when));
        json_array_append_new(
            parts, json_pack("{s:s, s:o, s:{s:s, s:{s:s, s:s}}}", "type", "field_condition",
                             "field", date_updated_field(object_type), "condition", "type",
                             "moment_range", "on_or_after", "type", "fixed_utc", "value", when));
    }
    return json_pack("{s:s, s:o}", "type", "and", "queries", parts);
}

static json_t *search_fields(const table_ctx *ctx, const char *object_type)
{
    const char *const *names = strcmp(object_type, "lead") == 0 ? LEAD_FIELDS : CONTACT_FIELDS;
    json_t *list = json_array();
    static const char *const ID_FIELDS[] = {"id", "date_updated", NULL};
    if (ctx->reconcile) /* an id listing: the sort key pages it, nothing else is needed */
        names = ID_FIELDS;
    for (; *names; names++)
        json_array_append_new(list, json_string(*names));
    return json_pack("{s:o}", object_type, list);
}

/* Drops the tie walk's cursor: the next request is a fresh query from the anchor. */
static void search_drop_cursor(json_t *paging)
{
    json_object_del(paging, "cursor");
    json_object_set_new(paging, "walk", json_integer(0));
}

req_result close_search_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    const close_table *ep = close_table_of(ctx->table);
    if (paging_done(ctx))
        return REQ_DONE;
    const char *cursor = json_string_value(json_object_get(ctx->paging, "cursor"));
    if (cursor && now_wall_ms() - paging_int(ctx, "cursor_at", 0) >
                      close_opts_of(ctx->src)->search_cursor_ttl * 1000) {
        search_drop_cursor(ctx->paging); /* it may have expired: read the tie again */
        cursor = NULL;
    }
    json_t *anchor = json_object_get(ctx->paging, "anchor_ms");
    int64_t from = json_is_integer(anchor) ? json_integer_value(anchor) : ctx->from_ms;
    json_t *body =
        json_pack("{s:o, s:[{s:o, s:s}], s:I, s:o}", "query", search_query(ep->object_type, from),
                  "sort", "field", date_updated_field(ep->object_type), "direction", "asc",
                  "_limit", (json_int_t)option_int(ctx, ep->limit_option), "_fields",
                  search_fields(ctx, ep->object_type));
    if (!body) {
        snprintf(err, errlen, "cannot build the search body");
        return REQ_ERROR;
    }
    if (cursor)
        json_object_set_new(body, "cursor", json_string(cursor));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        snprintf(err, errlen, "cannot encode the search body");
        return REQ_ERROR;
    }
    connector_url(ctx->src, req, ep->path);
    req->method = "POST";
    buf_append_str(&req->body, text);
    free(text);
    return REQ_READY;
}

int close_search_advance(json_t *paging, const json_t *data, const json_t *next,
                         long long walk_limit, int64_t now_ms, char *err, size_t errlen)
{
    size_t n = json_array_size(data), i;
    int64_t max = CRM_TIME_NONE;
    int below_max = 0;
    json_t *rec;
    json_array_foreach(data, i, rec)
    {
        int64_t ms = record_ms(rec, "date_updated");
        if (ms == CRM_TIME_NONE)
            continue;
        if (max != CRM_TIME_NONE && ms != max)
            below_max = 1;
        if (max == CRM_TIME_NONE || ms > max)
            max = ms;
    }
    json_t *anchor_v = json_object_get(paging, "anchor_ms");
    int progress =
        max != CRM_TIME_NONE && (!json_is_integer(anchor_v) || max > json_integer_value(anchor_v));
    if (progress)
        json_object_set_new(paging, "anchor_ms", json_integer(max));
    if (!json_is_string(next) || n == 0) {
        /* The query is exhausted (or Close ended the walk early): one more query from the new
         * anchor when this page moved it, else the pass is complete. */
        search_drop_cursor(paging);
        return progress ? 0 : 1;
    }
    if (below_max) { /* the next page is a fresh query re-reading the boundary key */
        search_drop_cursor(paging);
        return 0;
    }
    /* The whole page shares one date_updated: walk that tie with the cursor. */
    json_int_t walk = json_integer_value(json_object_get(paging, "walk")) + (json_int_t)n;
    if (walk + (json_int_t)n > walk_limit) {
        snprintf(err, errlen, "more than %lld records share one date_updated; cannot page on",
                 walk_limit);
        return -1;
    }
    json_object_set(paging, "cursor", (json_t *)next);
    json_object_set_new(paging, "cursor_at", json_integer(now_ms));
    json_object_set_new(paging, "walk", json_integer(walk));
    return 0;
}

/* Each page is a fresh query from the highest date_updated read so far (re-reading that key;
 * the engine's dedupe drops what was already published), so whatever moves or vanishes between
 * requests, and however Close's cursor counts, no unread record is passed over. The cursor only
 * walks a run of records sharing one date_updated that fills a whole page. */
int close_search_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    if (ctx->confirm)
        return close_confirm_parse(ctx, resp, out, err, errlen);
    json_t *body, *data = load_raw_data(resp, out, "date_updated", &body, err, errlen);
    if (!data)
        return -1;
    int rc = close_search_advance(ctx->paging, data, json_object_get(body, "cursor"),
                                  close_opts_of(ctx->src)->search_walk_limit, now_wall_ms(), err,
                                  errlen);
    if (rc == 1) {
        set_done(ctx);
        close_fallback_at_pass_end(ctx, out);
    }
    json_decref(data);
    json_decref(body);
    return rc < 0 ? -1 : 0;
}

/* ---- the event log ------------------------------------------------------------------------ */

static const char *table_of_object(const char *object_type)
{
    static const char *const MAP[][2] = {{"lead", "leads"},
                                         {"contact", "contacts"},
                                         {"opportunity", "opportunities"},
                                         {"task", "tasks"},
                                         {"activity", "activities"}};
    if (!object_type)
        return NULL;
    size_t n = strcspn(object_type, ".");
    for (size_t i = 0; i < sizeof(MAP) / sizeof(MAP[0]); i++)
        if (strlen(MAP[i][0]) == n && strncmp(object_type, MAP[i][0], n) == 0)
            return MAP[i][1];
    return NULL;
}

static int add_delete(json_t *deletes, const char *table, json_t *id, json_t *ts)
{
    if (!table || !json_is_string(id))
        return 0;
    json_t *d = json_pack("{s:s, s:O}", "table", table, "id", id);
    if (d && json_is_string(ts))
        json_object_set(d, "ts", ts);
    return d ? json_array_append_new(deletes, d) : -1;
}

/* deleted -> delete of the object; merged -> delete of the merge source lead. */
static int event_deletes(const json_t *ev, json_t *deletes)
{
    const char *action = json_string_value(json_object_get(ev, "action"));
    json_t *ts = json_object_get(ev, "date_updated");
    if (action && strcmp(action, "deleted") == 0)
        return add_delete(deletes,
                          table_of_object(json_string_value(json_object_get(ev, "object_type"))),
                          json_object_get(ev, "object_id"), ts);
    if (action && strcmp(action, "merged") == 0)
        return add_delete(deletes, "leads",
                          json_object_get(json_object_get(ev, "meta"), "merge_source_lead_id"), ts);
    return 0;
}

/* At most this many activities wait to be read by id (the queue is committed with every page). */
#define ACTIVITY_READS_MAX 2000

/* Remembers an activity to read by id once the event walk is done. Not on the first pass of the
 * log: the activities table's own backfill reads every activity as it is now. */
static void queue_activity_read(table_ctx *ctx, json_t *id)
{
    if (ctx->bookmark_ms == CRM_TIME_NONE || !json_is_string(id))
        return;
    json_t *q = json_object_get(ctx->paging, "activity_reads");
    if (!json_is_array(q)) {
        q = json_array();
        json_object_set_new(ctx->paging, "activity_reads", q);
    }
    if (id_listed(q, id))
        return;
    if (json_array_size(q) >= ACTIVITY_READS_MAX) {
        if (!json_is_true(json_object_get(ctx->paging, "reads_capped")))
            log_warn(source_name(ctx->src), ctx->table->name,
                     "more than %d activity events without data in one pass: only the first %d "
                     "activities are read by id; edits of the others older than the attribution "
                     "window are not seen this pass",
                     ACTIVITY_READS_MAX, ACTIVITY_READS_MAX);
        json_object_set_new(ctx->paging, "reads_capped", json_true());
        return;
    }
    json_array_append(q, id);
}

/* An activity created or edited (Close logs object types "activity.<type>") whose date_created
 * is older than the attribution window: the activities table no longer re-reads it, so the
 * event's `data` (the activity as the API returns it) is published as an upsert. An event
 * without data (non-admin keys lose it after an hour) cannot tell how old the activity is: the
 * activity is read by id after the walk (activity_reads_request). */
static int event_activity_upsert(table_ctx *ctx, const json_t *ev, json_t *upserts)
{
    const char *action = json_string_value(json_object_get(ev, "action"));
    const char *otype = json_string_value(json_object_get(ev, "object_type"));
    const json_t *data = json_object_get(ev, "data");
    if (!action || !otype || strncmp(otype, "activity.", 9) != 0 || strcmp(action, "deleted") == 0)
        return 0;
    if (!json_is_object(data)) {
        queue_activity_read(ctx, json_object_get(ev, "object_id"));
        return 0;
    }
    int64_t created;
    const char *dc = json_string_value(json_object_get(data, "date_created"));
    if (!dc || crm_time_parse(dc, &created))
        return 0;
    if (created >= ctx->until_ms - close_opts_of(ctx->src)->event_activity_window * 1000)
        return 0; /* inside the window: the activities table has it */
    json_t *u = json_pack("{s:s, s:O}", "table", "activities", "record", data);
    return u ? json_array_append_new(upserts, u) : -1;
}

static int beyond_retention(const table_ctx *ctx)
{
    return ctx->page_no == 0 && ctx->bookmark_ms != CRM_TIME_NONE &&
           ctx->until_ms - ctx->bookmark_ms > EVENT_RETENTION_MS;
}

static void warn_if_beyond_retention(const table_ctx *ctx)
{
    if (!beyond_retention(ctx))
        return;
    char bm[32];
    crm_time_format(ctx->bookmark_ms, bm, sizeof(bm));
    log_warn(source_name(ctx->src), ctx->table->name,
             "the event-log bookmark %s is older than Close's 30-day retention: deletes in the "
             "gap are gone from the log; falling back to an ID reconciliation of leads, "
             "contacts, opportunities, tasks and activities",
             bm);
}

/* Activities queued by events without data: up to CLOSE_CONFIRM_BATCH per request. */
static size_t activity_read_batch(const table_ctx *ctx)
{
    size_t n = json_array_size(json_object_get(ctx->paging, "activity_reads"));
    return n < CLOSE_CONFIRM_BATCH ? n : CLOSE_CONFIRM_BATCH;
}

static req_result activity_reads_request(table_ctx *ctx, http_request *req)
{
    json_t *q = json_object_get(ctx->paging, "activity_reads");
    buf ids;
    buf_init(&ids);
    for (size_t i = 0; i < activity_read_batch(ctx); i++) {
        if (i)
            buf_append_str(&ids, ",");
        buf_append_str(&ids, json_string_value(json_array_get(q, i)));
    }
    connector_url(ctx->src, req, "/activity/");
    connector_query(req, "id__in", ids.data);
    query_int(req, "_limit", (long long)activity_read_batch(ctx));
    buf_free(&ids);
    return REQ_READY;
}

/* The activities read by id become upserts of the activities table (a deleted one is absent). */
static int activity_reads_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                                size_t errlen)
{
    json_t *data, *body = load_data(resp, &data, err, errlen);
    if (!body)
        return -1;
    out->upserts = json_array();
    size_t i;
    json_t *rec;
    json_array_foreach(data, i, rec) json_array_append_new(
        out->upserts, json_pack("{s:s, s:O}", "table", "activities", "record", rec));
    json_t *q = json_object_get(ctx->paging, "activity_reads");
    for (size_t n = activity_read_batch(ctx); n > 0; n--)
        json_array_remove(q, 0);
    if (json_array_size(q) == 0)
        set_done(ctx);
    out->bookmark_cap_ms = ctx->until_ms - close_opts_of(ctx->src)->event_lag * 1000;
    json_decref(body);
    return 0;
}

/* Whether an event makes a delete or an activity upsert (event_deletes, event_activity_upsert),
 * which read the whole event: its action and object type (from its text [v, ve)) say. */
static int event_needs_reading(const char *v, const char *ve, buf *text)
{
    if (connector_raw_string(v, ve, "action", text) == 0 &&
        (strcmp(text->data, "deleted") == 0 || strcmp(text->data, "merged") == 0))
        return 1;
    return connector_raw_string(v, ve, "object_type", text) == 0 &&
           strncmp(text->data, "activity.", 9) == 0;
}

/* The events of a page (its raw "data" array) stay text for the engine; the few that make
 * deletes or activity upserts are parsed for them. The number of events, or -1 on invalid JSON
 * or out of memory. */
static long events_read(table_ctx *ctx, const http_response *resp, const page *out)
{
    const char *p = resp->body.data + out->raw_off, *end = p + out->raw_len, *v, *ve;
    int first, more;
    long n = 0;
    buf text;
    buf_init(&text);
    js_array_begin(&p, end, &first);
    while ((more = js_array_next(&p, end, &first, &v)) == 1 && (ve = js_skip(v, end))) {
        n++;
        if (event_needs_reading(v, ve, &text)) {
            json_t *ev = json_loadb(v, (size_t)(ve - v), 0, NULL);
            int rc = !ev || event_deletes(ev, out->deletes) ||
                     event_activity_upsert(ctx, ev, out->upserts);
            json_decref(ev);
            if (rc)
                break;
        }
        p = ve;
    }
    buf_free(&text);
    return more == 0 ? n : -1;
}

req_result close_events_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (paging_done(ctx) || close_event_log_is_denied(ctx))
        return REQ_DONE;
    if (json_is_true(json_object_get(ctx->paging, "reading")))
        return activity_reads_request(ctx, req);
    warn_if_beyond_retention(ctx);
    connector_url(ctx->src, req, "/event/");
    if (ctx->from_ms != CRM_TIME_NONE)
        query_time(req, "date_updated__gte", ctx->from_ms);
    query_int(req, "_limit", close_opts_of(ctx->src)->event_page_size);
    const char *cursor = json_string_value(json_object_get(ctx->paging, "cursor"));
    if (cursor)
        connector_query(req, "_cursor", cursor);
    return REQ_READY;
}

int close_events_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    if (resp->status == 400) { /* no event-log access (close_classify) */
        close_event_log_denied(ctx);
        set_done(ctx);
        return 0;
    }
    if (json_is_true(json_object_get(ctx->paging, "reading")))
        return activity_reads_parse(ctx, resp, out, err, errlen);
    json_t *body;
    if (connector_raw_records(resp, "data", out, &body, err, errlen))
        return -1;
    out->deletes = json_array();
    out->upserts = json_array();
    long events = events_read(ctx, resp, out);
    if (events < 0) {
        snprintf(err, errlen, "invalid JSON in the events, or out of memory building deletes");
        json_decref(body);
        return -1;
    }
    if (beyond_retention(ctx))
        out->reconcile_tables = close_fallback_tables();
    /* Events become visible late and get consolidated: never bookmark the last minutes. */
    out->bookmark_cap_ms = ctx->until_ms - close_opts_of(ctx->src)->event_lag * 1000;
    json_t *next = json_object_get(body, "cursor_next");
    if (json_is_string(next) && events > 0)
        json_object_set(ctx->paging, "cursor", next);
    else if (activity_read_batch(ctx) > 0)
        json_object_set_new(ctx->paging, "reading", json_true());
    else
        set_done(ctx);
    json_decref(body);
    return 0;
}

/* ---- organization and memberships --------------------------------------------------------- */

const char *close_org_recall(table_ctx *ctx)
{
    if (!json_object_get(ctx->paging, "org_id")) {
        close_state *st = source_state(ctx->src);
        pthread_mutex_lock(&st->lock);
        if (st->org_id)
            json_object_set_new(ctx->paging, "org_id", json_string(st->org_id));
        pthread_mutex_unlock(&st->lock);
    }
    return json_string_value(json_object_get(ctx->paging, "org_id"));
}

int close_org_learn(table_ctx *ctx, const json_t *me, char *err, size_t errlen)
{
    json_t *org = json_array_get(json_object_get(me, "organizations"), 0);
    if (json_is_object(org)) /* some keys list {"id": ..., ...} objects instead of ids */
        org = json_object_get(org, "id");
    if (!json_is_string(org)) {
        snprintf(err, errlen, "/me/ lists no organization");
        return -1;
    }
    json_object_set(ctx->paging, "org_id", org);
    close_state *st = source_state(ctx->src);
    pthread_mutex_lock(&st->lock);
    if (!st->org_id)
        st->org_id = xstrdup(json_string_value(org));
    pthread_mutex_unlock(&st->lock);
    return 0;
}

int close_org_url(table_ctx *ctx, http_request *req, const char *prefix)
{
    const char *org = close_org_recall(ctx);
    if (!org) {
        connector_url(ctx->src, req, "/me/");
        return 0;
    }
    buf path;
    buf_init(&path);
    buf_append_str(&path, prefix);
    buf_append_urlencoded(&path, org);
    buf_append_str(&path, "/");
    connector_url(ctx->src, req, path.data);
    buf_free(&path);
    return 1;
}

req_result close_org_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (paging_done(ctx))
        return REQ_DONE;
    close_org_url(ctx, req, "/organization/");
    return REQ_READY;
}

/* The objects of the array member `key` of the organization [org, org_end) as the page's text
 * records (none when it has no such array). -1 when an element is not an object. */
static int org_members(page *out, const char *org, const char *org_end, const char *key)
{
    const char *p = js_member(org, org_end, key), *v, *ve;
    int first, more = 0;
    if (!p || js_array_begin(&p, org_end, &first))
        return 0;
    while ((more = js_array_next(&p, org_end, &first, &v)) == 1 && (ve = js_skip(v, org_end)) &&
           connector_raw_add(out, v, (size_t)(ve - v)) == 0)
        p = ve;
    return more == 0 ? 0 : -1;
}

/* /organization/{id}/ as the page's text: the organization itself, or its memberships (active,
 * then inactive). */
static int org_records(const table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    const char *body = resp->body.data ? resp->body.data : "", *end = body + resp->body.len;
    const char *org = js_ws(body, end), *org_end = js_skip(org, end);
    if (js_peek(org, end) != JS_OBJECT || !org_end || js_ws(org_end, end) != end) {
        json_t *j = connector_parse_json(resp, err, errlen); /* says where it is invalid */
        if (j)
            snprintf(err, errlen, "the organization is not a JSON object");
        json_decref(j);
        return -1;
    }
    int rc = close_table_of(ctx->table)->flags & CLOSE_ORG_ITSELF
                 ? connector_raw_add(out, org, (size_t)(org_end - org))
                 : org_members(out, org, org_end, "memberships") ||
                       org_members(out, org, org_end, "inactive_memberships");
    if (rc)
        snprintf(err, errlen, "the organization's memberships hold a non-object");
    return rc ? -1 : 0;
}

int close_org_parse(table_ctx *ctx, const http_response *resp, page *out, char *err, size_t errlen)
{
    if (json_object_get(ctx->paging, "org_id")) {
        if (org_records(ctx, resp, out, err, errlen))
            return -1;
        set_done(ctx);
        return 0;
    }
    json_t *me = connector_parse_json(resp, err, errlen);
    int rc = me ? close_org_learn(ctx, me, err, errlen) : -1;
    json_decref(me);
    return rc;
}
