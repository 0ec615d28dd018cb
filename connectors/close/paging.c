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
#include "log.h"

#define EVENT_RETENTION_MS (30LL * 86400000LL)

/* ---- endpoints ---------------------------------------------------------------------------- */

typedef struct endpoint {
    const char *table;
    const char *path;
    const char *limit_option; /* option naming the page size */
    const char *key;          /* keyset: the ascending key (and _order_by) */
    const char *since;        /* keyset: extra filter taking the pass's from_ms, or NULL */
    const char *object_type;  /* search: lead | contact */
} endpoint;

static const endpoint ENDPOINTS[] = {
    {"leads", "/data/search/", "search_page_size", NULL, NULL, "lead"},
    {"contacts", "/data/search/", "search_page_size", NULL, NULL, "contact"},
    {"opportunities", "/opportunity/", "opportunity_page_size", "date_updated", NULL, NULL},
    {"tasks", "/task/", "task_page_size", "date_created", "date_updated__gte", NULL},
    {"activities", "/activity/", "activity_page_size", "date_created", NULL, NULL},
    {"event_log", "/event/", "event_page_size", NULL, NULL, NULL},
    {"users", "/user/", "page_size", NULL, NULL, NULL},
    {"custom_fields", "/custom_field/lead/", "page_size", NULL, NULL, NULL},
    {"contact_custom_fields", "/custom_field/contact/", "page_size", NULL, NULL, NULL},
    {"opportunity_custom_fields", "/custom_field/opportunity/", "page_size", NULL, NULL, NULL},
    {"activity_custom_fields", "/custom_field/activity/", "page_size", NULL, NULL, NULL},
    {"shared_custom_fields", "/custom_field/shared/", "page_size", NULL, NULL, NULL},
    {"lead_statuses", "/status/lead/", "page_size", NULL, NULL, NULL},
    {"opportunity_statuses", "/status/opportunity/", "page_size", NULL, NULL, NULL},
    {"pipelines", "/pipeline/", "page_size", NULL, NULL, NULL},
    {"custom_activity_types", "/custom_activity/", "page_size", NULL, NULL, NULL},
    {"email_templates", "/email_template/", "page_size", NULL, NULL, NULL},
    {"sequences", "/sequence/", "page_size", NULL, NULL, NULL},
    /* without type__in, /saved_search/ lists only lead views; lead and contact are every type
     * the filter accepts */
    {"smart_views", "/saved_search/?type__in=lead%2Ccontact", "page_size", NULL, NULL, NULL},
    {"bulk_actions_email", "/bulk_action/email/", "page_size", NULL, NULL, NULL},
    {"bulk_actions_sequence_subscription", "/bulk_action/sequence_subscription/", "page_size", NULL,
     NULL, NULL},
    {"bulk_actions_delete", "/bulk_action/delete/", "page_size", NULL, NULL, NULL},
    {"bulk_actions_edit", "/bulk_action/edit/", "page_size", NULL, NULL, NULL},
    {"roles", "/role/", "page_size", NULL, NULL, NULL},
    {"connected_accounts", "/connected_account/", "page_size", NULL, NULL, NULL},
    {"send_as", "/send_as/", "page_size", NULL, NULL, NULL},
    {"dialers", "/dialer/", "page_size", NULL, NULL, NULL},
    {"integration_links", "/integration_link/", "page_size", NULL, NULL, NULL},
    {"exports", "/export/", "page_size", NULL, NULL, NULL},
};

static const endpoint *endpoint_of(const table_ctx *ctx)
{
    for (size_t i = 0; i < sizeof(ENDPOINTS) / sizeof(ENDPOINTS[0]); i++)
        if (strcmp(ENDPOINTS[i].table, ctx->table->name) == 0)
            return &ENDPOINTS[i];
    return NULL;
}

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
    return source_option_int(ctx->src, name);
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

static int64_t record_ms(const json_t *rec, const char *key)
{
    int64_t ms;
    const char *s = json_string_value(json_object_get(rec, key));
    return s && crm_time_parse(s, &ms) == 0 ? ms : CRM_TIME_NONE;
}

/* ---- full table --------------------------------------------------------------------------- */

req_result close_full_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    const endpoint *ep = endpoint_of(ctx);
    if (!ep) {
        snprintf(err, errlen, "no endpoint for table %s", ctx->table->name);
        return REQ_ERROR;
    }
    if (paging_done(ctx))
        return REQ_DONE;
    connector_url(ctx->src, req, ep->path);
    query_int(req, "_skip", paging_int(ctx, "skip", 0));
    query_int(req, "_limit", option_int(ctx, ep->limit_option));
    return REQ_READY;
}

int close_full_parse(table_ctx *ctx, const http_response *resp, page *out, char *err, size_t errlen)
{
    json_t *data, *body = load_data(resp, &data, err, errlen);
    if (!body)
        return -1;
    out->records = json_incref(data);
    size_t n = json_array_size(data);
    set_paging_int(ctx, "skip", paging_int(ctx, "skip", 0) + (json_int_t)n);
    if (n == 0 || !json_is_true(json_object_get(body, "has_more")))
        set_done(ctx);
    json_decref(body);
    return 0;
}

/* ---- keyset over offset lists ------------------------------------------------------------- */

/* Lower bound of the key walk: the anchor reached so far, else the pass's window start. The
 * attribution_window option (activities) overrides the table lookback when set. */
static int64_t keyset_start(const table_ctx *ctx, const endpoint *ep)
{
    if (ep->since)
        return CRM_TIME_NONE; /* the window applies to `since`, the key walk starts open */
    int64_t from = ctx->from_ms;
    long long window = option_int(ctx, "attribution_window");
    if (strcmp(ctx->table->name, "activities") == 0 && window > 0 &&
        ctx->bookmark_ms != CRM_TIME_NONE && !ctx->reconcile)
        from = ctx->bookmark_ms - (int64_t)window * 1000;
    return from;
}

req_result close_keyset_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    const endpoint *ep = endpoint_of(ctx);
    if (paging_done(ctx))
        return REQ_DONE;
    json_t *anchor = json_object_get(ctx->paging, "anchor_ms");
    int64_t key_from = json_is_integer(anchor) ? json_integer_value(anchor) : keyset_start(ctx, ep);
    long long skip = paging_int(ctx, "skip", 0), limit = option_int(ctx, ep->limit_option);
    if (skip + limit > option_int(ctx, "max_skip")) {
        snprintf(err, errlen,
                 "more than %lld records share %s at the anchor; refusing to page past max_skip",
                 option_int(ctx, "max_skip"), ep->key);
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
    query_int(req, "_skip", skip);
    query_int(req, "_limit", limit);
    return REQ_READY;
}

/* After a page: anchor at its highest key, skipping the records already read at that key. */
int close_keyset_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    const endpoint *ep = endpoint_of(ctx);
    json_t *data, *body = load_data(resp, &data, err, errlen);
    if (!body)
        return -1;
    out->records = json_incref(data);
    size_t n = json_array_size(data), i, at_max = 0;
    int64_t max = CRM_TIME_NONE;
    json_t *rec;
    json_array_foreach(data, i, rec)
    {
        int64_t ms = record_ms(rec, ep->key);
        if (ms == CRM_TIME_NONE)
            continue;
        if (max == CRM_TIME_NONE || ms > max) {
            max = ms;
            at_max = 0;
        }
        if (ms == max)
            at_max++;
    }
    json_t *anchor = json_object_get(ctx->paging, "anchor_ms");
    if (n == 0 || !json_is_true(json_object_get(body, "has_more"))) {
        set_done(ctx);
    } else if (max != CRM_TIME_NONE &&
               (!json_is_integer(anchor) || max > json_integer_value(anchor))) {
        set_paging_int(ctx, "anchor_ms", max);
        set_paging_int(ctx, "skip", (json_int_t)at_max);
    } else {
        set_paging_int(ctx, "skip", paging_int(ctx, "skip", 0) + (json_int_t)n);
    }
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

static json_t *search_fields(const char *object_type)
{
    const char *const *names = strcmp(object_type, "lead") == 0 ? LEAD_FIELDS : CONTACT_FIELDS;
    json_t *list = json_array();
    for (; *names; names++)
        json_array_append_new(list, json_string(*names));
    return json_pack("{s:o}", object_type, list);
}

static void search_reanchor(table_ctx *ctx)
{
    json_t *max = json_object_get(ctx->paging, "max_ms");
    if (json_is_integer(max))
        json_object_set(ctx->paging, "anchor_ms", max);
    json_object_del(ctx->paging, "cursor");
    set_paging_int(ctx, "walk", 0);
}

req_result close_search_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    const endpoint *ep = endpoint_of(ctx);
    if (paging_done(ctx))
        return REQ_DONE;
    const char *cursor = json_string_value(json_object_get(ctx->paging, "cursor"));
    if (cursor && now_wall_ms() - paging_int(ctx, "cursor_at", 0) >
                      option_int(ctx, "search_cursor_ttl") * 1000) {
        search_reanchor(ctx); /* an old cursor may have expired: restart from the max seen */
        cursor = NULL;
    }
    json_t *anchor = json_object_get(ctx->paging, "anchor_ms");
    int64_t from = json_is_integer(anchor) ? json_integer_value(anchor) : ctx->from_ms;
    json_t *body = json_pack(
        "{s:o, s:[{s:o, s:s}], s:I, s:o}", "query", search_query(ep->object_type, from), "sort",
        "field", date_updated_field(ep->object_type), "direction", "asc", "_limit",
        (json_int_t)option_int(ctx, ep->limit_option), "_fields", search_fields(ep->object_type));
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

int close_search_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    const endpoint *ep = endpoint_of(ctx);
    json_t *data, *body = load_data(resp, &data, err, errlen);
    if (!body)
        return -1;
    out->records = json_incref(data);
    size_t n = json_array_size(data), i;
    json_t *rec;
    json_int_t max = paging_int(ctx, "max_ms", CRM_TIME_NONE);
    json_array_foreach(data, i, rec)
    {
        int64_t ms = record_ms(rec, "date_updated");
        if (ms != CRM_TIME_NONE && (max == CRM_TIME_NONE || ms > max))
            max = ms;
    }
    if (max != CRM_TIME_NONE)
        set_paging_int(ctx, "max_ms", max);
    long long limit = option_int(ctx, ep->limit_option);
    json_int_t walk = paging_int(ctx, "walk", 0) + (json_int_t)n;
    json_int_t anchor = paging_int(ctx, "anchor_ms", CRM_TIME_NONE);
    json_t *next = json_object_get(body, "cursor");
    int progress = max != CRM_TIME_NONE && (anchor == CRM_TIME_NONE || max > anchor);
    if (json_is_string(next) && walk + limit <= option_int(ctx, "search_walk_limit")) {
        json_object_set(ctx->paging, "cursor", next);
        set_paging_int(ctx, "cursor_at", now_wall_ms());
        set_paging_int(ctx, "walk", walk);
    } else if (progress) {
        /* The walk ended (Close caps walks and may end them early, even on a short page) or
         * nears its cap: query again from the highest date_updated seen. The pass ends when a
         * query brings nothing newer; the overlap is deduplicated by the engine. */
        search_reanchor(ctx);
    } else if (json_is_string(next)) {
        snprintf(err, errlen, "more than %lld records share one date_updated; cannot page on",
                 option_int(ctx, "search_walk_limit"));
        json_decref(body);
        return -1;
    } else {
        set_done(ctx);
    }
    json_decref(body);
    return 0;
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

/* An activity created or edited (Close logs object types "activity.<type>") whose date_created
 * is older than the attribution window: the activities table no longer re-reads it, so the
 * event's `data` (the activity as the API returns it) is published as an upsert. Events without
 * data (non-admin keys lose it after an hour) cannot help. */
static int event_activity_upsert(const table_ctx *ctx, const json_t *ev, json_t *upserts)
{
    const char *action = json_string_value(json_object_get(ev, "action"));
    const char *otype = json_string_value(json_object_get(ev, "object_type"));
    const json_t *data = json_object_get(ev, "data");
    if (!action || !otype || strncmp(otype, "activity.", 9) != 0 || !json_is_object(data) ||
        strcmp(action, "deleted") == 0)
        return 0;
    int64_t created;
    const char *dc = json_string_value(json_object_get(data, "date_created"));
    if (!dc || crm_time_parse(dc, &created))
        return 0;
    if (created >= ctx->until_ms - option_int(ctx, "event_activity_window") * 1000)
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

req_result close_events_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (paging_done(ctx))
        return REQ_DONE;
    warn_if_beyond_retention(ctx);
    connector_url(ctx->src, req, "/event/");
    if (ctx->from_ms != CRM_TIME_NONE)
        query_time(req, "date_updated__gte", ctx->from_ms);
    query_int(req, "_limit", option_int(ctx, "event_page_size"));
    const char *cursor = json_string_value(json_object_get(ctx->paging, "cursor"));
    if (cursor)
        connector_query(req, "_cursor", cursor);
    return REQ_READY;
}

int close_events_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    json_t *data, *body = load_data(resp, &data, err, errlen);
    if (!body)
        return -1;
    out->records = json_incref(data);
    out->deletes = json_array();
    out->upserts = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(data, i, ev)
    {
        if (event_deletes(ev, out->deletes) || event_activity_upsert(ctx, ev, out->upserts)) {
            snprintf(err, errlen, "out of memory building deletes");
            json_decref(body);
            return -1;
        }
    }
    if (beyond_retention(ctx))
        out->reconcile_tables =
            json_pack("[s,s,s,s,s]", "leads", "contacts", "opportunities", "tasks", "activities");
    /* Events become visible late and get consolidated: never bookmark the last minutes. */
    out->bookmark_cap_ms = ctx->until_ms - option_int(ctx, "event_lag") * 1000;
    json_t *next = json_object_get(body, "cursor_next");
    if (json_is_string(next) && json_array_size(data) > 0)
        json_object_set(ctx->paging, "cursor", next);
    else
        set_done(ctx);
    json_decref(body);
    return 0;
}

/* ---- organization and memberships --------------------------------------------------------- */

req_result close_org_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (paging_done(ctx))
        return REQ_DONE;
    const char *org = json_string_value(json_object_get(ctx->paging, "org_id"));
    if (!org) {
        connector_url(ctx->src, req, "/me/");
        return REQ_READY;
    }
    buf path;
    buf_init(&path);
    buf_append_str(&path, "/organization/");
    buf_append_urlencoded(&path, org);
    buf_append_str(&path, "/");
    connector_url(ctx->src, req, path.data);
    buf_free(&path);
    return REQ_READY;
}

int close_org_parse(table_ctx *ctx, const http_response *resp, page *out, char *err, size_t errlen)
{
    json_t *body = connector_parse_json(resp, err, errlen);
    if (!body)
        return -1;
    int rc = 0;
    if (!json_object_get(ctx->paging, "org_id")) {
        json_t *org = json_array_get(json_object_get(body, "organizations"), 0);
        if (json_is_string(org))
            json_object_set(ctx->paging, "org_id", org);
        else {
            snprintf(err, errlen, "/me/ lists no organization");
            rc = -1;
        }
    } else if (strcmp(ctx->table->name, "organization") == 0) {
        out->records = json_pack("[O]", body);
        set_done(ctx);
    } else {
        out->records = json_array();
        json_array_extend(out->records, json_object_get(body, "memberships"));
        json_array_extend(out->records, json_object_get(body, "inactive_memberships"));
        set_done(ctx);
    }
    json_decref(body);
    return rc;
}

/* ---- rate-limit signals ------------------------------------------------------------------- */

/* A number or numeric string; -1 otherwise. */
static double seconds_value(const json_t *v)
{
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v)) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (end != json_string_value(v))
            return d;
    }
    return -1;
}

/* Waits past this many seconds (30 years) are clamped before converting to milliseconds: a
 * header of a million digits must not overflow the conversion (the engine caps waits anyway). */
#define MAX_WAIT_SECONDS 1e9

static int64_t whole_seconds_ms(double s)
{
    double up = ceil(s < MAX_WAIT_SECONDS ? s : MAX_WAIT_SECONDS);
    return (int64_t)(up < 1 ? 1 : up) * 1000;
}

static double body_rate_reset(const http_response *resp)
{
    json_error_t je;
    json_t *body = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, &je);
    if (!body)
        return -1;
    json_t *err = json_object_get(body, "error");
    double s = seconds_value(json_object_get(err, "rate_reset"));
    if (s < 0)
        s = seconds_value(json_object_get(body, "rate_reset"));
    json_decref(body);
    return s;
}

void close_rate_signal(const http_response *resp, rate_signal *out)
{
    out->wait_ms = 0;
    out->budget_exhausted = 0;
    const char *legacy_left = http_response_header(resp, "x-rate-limit-remaining");
    const char *legacy_reset = http_response_header(resp, "x-rate-limit-reset");
    double legacy = legacy_reset ? strtod(legacy_reset, NULL) : -1;
    if (resp->status == 429) {
        double s = body_rate_reset(resp);
        if (s < 0)
            s = legacy;
        if (s >= 0)
            out->wait_ms = whole_seconds_ms(s);
        return; /* else: the engine reads ratelimit / Retry-After */
    }
    if (legacy_left && atoll(legacy_left) == 0 && legacy >= 0 && legacy_left[0] == '0')
        out->wait_ms =
            (int64_t)ceil((legacy < MAX_WAIT_SECONDS ? legacy : MAX_WAIT_SECONDS) * 1000.0);
}
