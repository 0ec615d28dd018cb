/* reports.c — Close's activity reports (POST /report/activity/) as daily tables.
 *
 * Close computes its reports on request and keeps no history of them, so each pass asks again
 * for a trailing window of days (the table lookback, or the report_window option) plus today;
 * the engine's dedupe publishes only the rows whose numbers changed (backdated activities,
 * late edits). The first pass backfills from start_date. Every metric that
 * /report/activity/metrics/ lists is requested and typed as a custom field (a double) of the
 * report tables, so the schema grows BACKWARD-compatibly when Close adds metrics.
 *
 *  - report_activity_daily: `overview` reports of at most REPORT_OVERVIEW_DAYS days, whose rows
 *    are one per day ({"datetime", <metric>: value}); keyed by the day.
 *  - report_activity_by_user_daily: one `comparison` report per day, whose rows are one per
 *    user ({"user_id", <metric>: value}); keyed by day and user.
 * Close does not publish the bucket size it picks for longer ranges, nor the comparison
 * response's shape (README "Close reports"): an overview answer that is not one row per
 * requested day fails the pass rather than publish rows of another granularity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "close_internal.h"
#include "crm_time.h"

#define DAY_MS 86400000LL

/* ---- pure helpers (unit-tested) ----------------------------------------------------------- */

int64_t close_report_day(int64_t ms)
{
    int64_t r = ms % DAY_MS;
    return ms - (r < 0 ? r + DAY_MS : r);
}

report_kind close_report_kind(const table_def *t)
{
    return close_table_of(t)->report;
}

/* Days per request: overview rows are daily up to a week (Close's example); comparison rows
 * are per user, one request per day. */
static int report_chunk_days(report_kind kind)
{
    return kind == REPORT_COMPARISON ? 1 : REPORT_OVERVIEW_DAYS;
}

char *close_report_body(report_kind kind, int64_t start_ms, int64_t end_ms, const json_t *metrics)
{
    char start[32], end[32];
    crm_time_format_seconds(start_ms, start, sizeof(start));
    crm_time_format_seconds(end_ms, end, sizeof(end));
    json_t *body = json_pack("{s:s, s:{s:s, s:s}, s:O}", "type",
                             kind == REPORT_COMPARISON ? "comparison" : "overview",
                             "datetime_range", "start", start, "end", end, "metrics", metrics);
    if (!body)
        return NULL;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

json_t *close_report_metric_keys(const json_t *body, char *err, size_t errlen)
{
    json_t *list = json_object_get(body, "metrics"), *keys = json_array(), *m;
    size_t i;
    json_array_foreach(list, i, m)
    {
        json_t *key = json_object_get(m, "key");
        if (json_is_string(key))
            json_array_append(keys, key);
    }
    if (json_array_size(keys) == 0) {
        snprintf(err, errlen, "/report/activity/metrics/ lists no metric keys");
        json_decref(keys);
        return NULL;
    }
    return keys;
}

/* "YYYY-MM-DD" of a row's datetime as Close wrote it (its own day, whatever the offset). */
static int row_day(const json_t *row, char day[11], int64_t *day_ms)
{
    const char *dt = json_string_value(json_object_get(row, "datetime"));
    if (!dt || strlen(dt) < 10)
        return -1;
    memcpy(day, dt, 10);
    day[10] = '\0';
    return crm_time_parse(day, day_ms) == 0 && *day_ms != CRM_TIME_NONE ? 0 : -1;
}

static int overview_rows(const json_t *data, int64_t start_ms, int64_t end_ms, json_t *out,
                         char *err, size_t errlen)
{
    size_t i, want = (size_t)((end_ms - start_ms) / DAY_MS);
    json_t *row;
    if (json_array_size(data) != want) {
        snprintf(err, errlen,
                 "the overview report answered %zu rows for %zu days: not one row per day",
                 json_array_size(data), want);
        return -1;
    }
    json_array_foreach(data, i, row)
    {
        char day[11];
        int64_t ms;
        if (!json_is_object(row) || row_day(row, day, &ms) ||
            ms != start_ms + (int64_t)i * DAY_MS) {
            snprintf(err, errlen, "overview row %zu is not the day %zu of the requested range", i,
                     i + 1);
            return -1;
        }
        json_t *rec = json_copy(row);
        json_object_set_new(rec, "date", json_string(day));
        json_array_append_new(out, rec);
    }
    return 0;
}

static int comparison_rows(const json_t *data, int64_t day_ms, json_t *out, char *err,
                           size_t errlen)
{
    char day[32], at[32];
    crm_time_format_seconds(day_ms, at, sizeof(at));
    snprintf(day, sizeof(day), "%.10s", at);
    size_t i;
    json_t *row;
    json_array_foreach(data, i, row)
    {
        const char *user = json_string_value(json_object_get(row, "user_id"));
        if (!user) {
            snprintf(err, errlen, "comparison row %zu has no user_id", i);
            return -1;
        }
        json_t *rec = json_copy(row);
        char id[256];
        snprintf(id, sizeof(id), "%s/%s", day, user);
        json_object_set_new(rec, "id", json_string(id));
        json_object_set_new(rec, "date", json_string(day));
        json_object_set_new(rec, "datetime", json_string(at));
        json_array_append_new(out, rec);
    }
    return 0;
}

json_t *close_report_rows(report_kind kind, const json_t *body, int64_t start_ms, int64_t end_ms,
                          char *err, size_t errlen)
{
    const json_t *data = json_object_get(body, "data");
    if (!json_is_array(data)) {
        snprintf(err, errlen, "report response has no \"data\" array");
        return NULL;
    }
    json_t *out = json_array();
    int rc = kind == REPORT_COMPARISON ? comparison_rows(data, start_ms, out, err, errlen)
                                       : overview_rows(data, start_ms, end_ms, out, err, errlen);
    if (rc) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- the metrics table -------------------------------------------------------------------- */

req_result close_metrics_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (json_is_true(json_object_get(ctx->paging, "done")))
        return REQ_DONE;
    connector_url(ctx->src, req, "/report/activity/metrics/");
    return REQ_READY;
}

int close_metrics_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                        size_t errlen)
{
    if (connector_raw_records(resp, "metrics", out, NULL, err, errlen))
        return -1;
    json_object_set_new(ctx->paging, "done", json_true());
    return 0;
}

/* ---- the report tables -------------------------------------------------------------------- */

/* The first day a pass recomputes: the engine's window start (bookmark - lookback, else
 * start_date), or bookmark - report_window when that option is set; a first pass goes back
 * report_history at most when that option is set; without any, the lookback before now. */
static int64_t report_first_day(const table_ctx *ctx)
{
    const close_opts *o = close_opts_of(ctx->src);
    int64_t from = ctx->from_ms;
    if (o->report_window > 0 && ctx->bookmark_ms != CRM_TIME_NONE)
        from = ctx->bookmark_ms - (int64_t)o->report_window * 1000;
    int64_t start = source_start_ms(ctx->src);
    if (from != CRM_TIME_NONE && start != CRM_TIME_NONE && from < start)
        from = start;
    int64_t history_start = ctx->until_ms - (int64_t)o->report_history * 1000;
    if (o->report_history > 0 && ctx->bookmark_ms == CRM_TIME_NONE &&
        (from == CRM_TIME_NONE || from < history_start))
        from = history_start;
    if (from == CRM_TIME_NONE)
        from = ctx->until_ms - (int64_t)ctx->table->lookback_seconds * 1000;
    return close_report_day(from);
}

static int64_t paging_ms(const table_ctx *ctx, const char *key)
{
    json_t *v = json_object_get(ctx->paging, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : CRM_TIME_NONE;
}

/* The range of the next request: [day_ms, chunk end), never past today's end. */
static int64_t report_chunk_end(const table_ctx *ctx, int64_t day)
{
    int64_t end = paging_ms(ctx, "end_ms");
    int64_t chunk = day + report_chunk_days(close_report_kind(ctx->table)) * DAY_MS;
    return chunk < end ? chunk : end;
}

int64_t close_report_next_day(table_ctx *ctx)
{
    if (paging_ms(ctx, "day_ms") == CRM_TIME_NONE) {
        json_object_set_new(ctx->paging, "day_ms", json_integer(report_first_day(ctx)));
        json_object_set_new(ctx->paging, "end_ms",
                            json_integer(close_report_day(ctx->until_ms) + DAY_MS));
    }
    int64_t day = paging_ms(ctx, "day_ms");
    return day < paging_ms(ctx, "end_ms") ? day : CRM_TIME_NONE;
}

req_result close_report_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    json_t *metrics = json_object_get(ctx->paging, "metrics");
    if (!json_is_array(metrics)) { /* first the metric keys: every one of them is requested */
        connector_url(ctx->src, req, "/report/activity/metrics/");
        return REQ_READY;
    }
    int64_t day = close_report_next_day(ctx);
    if (day == CRM_TIME_NONE)
        return REQ_DONE;
    char *text =
        close_report_body(close_report_kind(ctx->table), day, report_chunk_end(ctx, day), metrics);
    if (!text) {
        snprintf(err, errlen, "cannot encode the report request");
        return REQ_ERROR;
    }
    connector_url(ctx->src, req, "/report/activity/");
    req->method = "POST";
    buf_append_str(&req->body, text);
    free(text);
    return REQ_READY;
}

int close_report_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    json_t *body = connector_parse_json(resp, err, errlen);
    if (!body)
        return -1;
    int rc = 0;
    if (!json_is_array(json_object_get(ctx->paging, "metrics"))) {
        json_t *keys = close_report_metric_keys(body, err, errlen);
        if (keys)
            json_object_set_new(ctx->paging, "metrics", keys);
        else
            rc = -1;
    } else {
        int64_t day = paging_ms(ctx, "day_ms"), end = report_chunk_end(ctx, day);
        out->records =
            close_report_rows(close_report_kind(ctx->table), body, day, end, err, errlen);
        if (out->records)
            json_object_set_new(ctx->paging, "day_ms", json_integer(end));
        else
            rc = -1;
    }
    json_decref(body);
    return rc;
}

/* ---- metrics as typed fields -------------------------------------------------------------- */

static int report_describe(const table_def *t, const json_t *metric, cf_desc *d)
{
    (void)t;
    const char *key = json_string_value(json_object_get(metric, "key"));
    if (!key)
        return 0;
    cf_desc_set(d, key, json_string_value(json_object_get(metric, "name")), CF_NUMBER, 0);
    return 1;
}

static json_t *report_take(json_t *rec, const char *id, cf_kind kind)
{
    (void)kind;
    json_t *v = json_object_get(rec, id);
    if (!v)
        return NULL;
    json_incref(v);
    json_object_del(rec, id);
    return v;
}

const custom_fields_spec close_custom_report_metrics = {
    .definitions = {"report_activity_metrics"},
    .describe = report_describe,
    .take = report_take,
};
