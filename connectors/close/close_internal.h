/* close_internal.h — pieces of the Close connector shared by its files: the paging strategies
 * (paging.c) that the table list (close.c) wires to each table. */
#ifndef CRM_CLOSE_INTERNAL_H
#define CRM_CLOSE_INTERNAL_H

#include "connector.h"

/* Full table over an offset list (_skip/_limit) with {"data","has_more"}. */
req_result close_full_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_full_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                     size_t errlen);

/* Offset lists made keyset: filter key__gte=<anchor> ascending, _skip only within a run of equal
 * keys (opportunities, tasks, activities). */
req_result close_keyset_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_keyset_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);

/* POST /data/search/ sorted by date_updated, re-anchored at the highest date_updated seen when a
 * walk nears its cap or its cursor ages (leads, contacts). */
req_result close_search_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_search_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);

/* /event/ with _cursor; deleted/merged events become deletes of the affected tables. */
req_result close_events_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_events_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);

/* GET /me/ for the organization id, then /organization/{id}/ (organization, memberships). */
req_result close_org_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_org_parse(table_ctx *ctx, const http_response *resp, page *out, char *err, size_t errlen);

/* Rate-limit signals: `ratelimit` (comma or semicolon), X-Rate-Limit-* with fractional resets,
 * and 429 bodies with rate_reset at the top level or under "error", number or string. */
void close_rate_signal(const http_response *resp, rate_signal *out);

/* custom.c: typed custom fields of leads, contacts, opportunities and activities. */
extern const custom_fields_spec close_custom_leads, close_custom_contacts,
    close_custom_opportunities, close_custom_activities;

/* reports.c: activity reports as daily tables (metrics list, overview per day, comparison per
 * user per day); the metrics are the report tables' typed fields. */
#define REPORT_OVERVIEW_DAYS 7 /* days per overview request: Close answers daily rows */
typedef enum { REPORT_OVERVIEW = 0, REPORT_COMPARISON } report_kind;
req_result close_metrics_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_metrics_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                        size_t errlen);
req_result close_report_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_report_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);
extern const custom_fields_spec close_custom_report_metrics;
/* The day the pass's next report request covers (the range starts at the window's first day and
 * ends with today, kept in ctx->paging "day_ms"/"end_ms"); CRM_TIME_NONE when done. */
int64_t close_report_next_day(table_ctx *ctx);
/* report_statuses.c: the lead status change report, one record per day. */
req_result close_lead_statuses_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_lead_statuses_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                              size_t errlen);
/* The record of one day's answer: "date" and the three lists without their UI helpers (keys
 * starting with "_": search queries and page URLs). NULL + err without status_overview. */
json_t *close_lead_statuses_record(const json_t *body, const char *day, char *err, size_t errlen);
/* Midnight UTC of the day holding ms. */
int64_t close_report_day(int64_t ms);
report_kind close_report_kind(const table_def *t);
/* The POST /report/activity/ body for [start_ms, end_ms) (caller frees). */
char *close_report_body(report_kind kind, int64_t start_ms, int64_t end_ms, const json_t *metrics);
/* The "key"s of a /report/activity/metrics/ answer; NULL + err when there are none. */
json_t *close_report_metric_keys(const json_t *body, char *err, size_t errlen);
/* The table records of a report answer for [start_ms, end_ms): overview rows gain "date" (one
 * row per day required), comparison rows "date", "datetime" and "id" = "<date>/<user_id>".
 * NULL + err on another shape. */
json_t *close_report_rows(report_kind kind, const json_t *body, int64_t start_ms, int64_t end_ms,
                          char *err, size_t errlen);

#endif
