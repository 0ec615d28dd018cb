/* close_internal.h — pieces of the Close connector shared by its files: the paging strategies
 * (paging.c) that the table list (close.c) wires to each table. */
#ifndef CRM_CLOSE_INTERNAL_H
#define CRM_CLOSE_INTERNAL_H

#include <pthread.h>

#include "connector.h"

/* Per-source state (source_state()). */
#define CLOSE_FALLBACK_TABLES 5
typedef struct close_state {
    char *api_key;
    pthread_mutex_t lock; /* guards what follows (tables' threads) */
    int event_log_denied; /* /event/ answered 400 */
    char *org_id;         /* the key's organization (from /me/): later passes ask only for it */
    int64_t fallback_due_ms[CLOSE_FALLBACK_TABLES]; /* next fallback reconciliation per table */
} close_state;

/* The source's options (close_options in close.c), resolved once by the engine. */
typedef struct close_opts {
    const char *api_key_env; /* the key itself */
    long long page_size;
    long long search_page_size;
    long long opportunity_page_size;
    long long task_page_size;
    long long activity_page_size;
    long long event_page_size;
    long long max_skip;
    long long search_walk_limit;
    long long search_cursor_ttl; /* durations in seconds */
    long long attribution_window;
    long long event_lag;
    long long deletes_fallback_interval;
    long long event_activity_window;
    long long report_window;
} close_opts;

static inline const close_opts *close_opts_of(const source *src)
{
    return source_options(src);
}
/* An integer option named by data (a table's page-size option, close_table.limit_option).
 * close_init refuses to start when a table names no integer option of Close; a name that is
 * none aborts here, naming it: a connector bug, never a silent 0. */
long long close_option_int(const source *src, const char *name);

/* Full table over an offset list (_skip/_limit) with {"data","has_more"}. */
req_result close_full_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_full_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                     size_t errlen);

/* Offset lists made keyset: filter key__gte=<anchor> ascending (opportunities, tasks,
 * activities). Each page re-reads the highest key of the page before it; _skip only walks a run
 * of equal keys longer than a page, one record short, so a shift of the run is detected. */
req_result close_keyset_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_keyset_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);
/* The pure step of the keyset walk (unit-tested): moves paging {anchor_ms, skip, tie_ids} past
 * one page of `data` ordered by `key`; 1 when the walk is complete. */
int close_keyset_advance(json_t *paging, const json_t *data, const char *key, int has_more);
/* The _skip the next request sends for this paging state. */
long long close_keyset_skip(const json_t *paging);

/* Reconciliation candidates read back by id: id__in on /task/ and /activity/ (batched), else
 * GET <path><id>/ one at a time; parse reports the ids the answer holds. */
#define CLOSE_CONFIRM_BATCH 100
req_result close_confirm_request(table_ctx *ctx, const json_t *ids, http_request *req, char *err,
                                 size_t errlen);
int close_confirm_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                        size_t errlen);

/* POST /data/search/ sorted by date_updated ascending, every page a fresh query from the highest
 * date_updated read (leads, contacts); the cursor only walks a run of one date_updated. */
req_result close_search_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_search_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);
/* The pure step of the search walk (unit-tested): paging {anchor_ms, cursor, cursor_at, walk}
 * after a page of `data` and the response's `cursor`; 1 complete, 0 go on, -1 err (a run of one
 * date_updated longer than walk_limit). */
int close_search_advance(json_t *paging, const json_t *data, const json_t *next,
                         long long walk_limit, int64_t now_ms, char *err, size_t errlen);

/* /event/ with _cursor; deleted/merged events become deletes of the affected tables. */
req_result close_events_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_events_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);

/* GET /me/ for the organization id (once per run), then /organization/{id}/ (organization,
 * memberships): after the first pass a listing is one request, so a missed membership is a
 * delete at once. */
req_result close_org_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
/* The organization id known this run (copied into ctx->paging "org_id"), or NULL: ask /me/. */
const char *close_org_recall(table_ctx *ctx);
/* Reads the organization id from /me/'s answer (an id or an {"id": ...} object), into
 * ctx->paging "org_id" and the source state. -1 with err when /me/ names none. */
int close_org_learn(table_ctx *ctx, const json_t *me, char *err, size_t errlen);
/* Sets req to <prefix><org id>/ and returns 1 when the organization is known, else to /me/ (to
 * learn it; the caller's parse hands that answer to close_org_learn) and returns 0. */
int close_org_url(table_ctx *ctx, http_request *req, const char *prefix);
int close_org_parse(table_ctx *ctx, const http_response *resp, page *out, char *err, size_t errlen);

/* Rate-limit signals: `ratelimit` (comma or semicolon), X-Rate-Limit-* with fractional resets,
 * and 429 bodies with rate_reset at the top level or under "error", number or string. */
void close_rate_signal(source *src, const http_response *resp, rate_signal *out);

/* fallback.c: deletes by ID reconciliation when the key cannot read the event log. */
/* The events table got 400 on /event/: warns once, later passes skip /event/. */
void close_event_log_denied(table_ctx *ctx);
int close_event_log_is_denied(const table_ctx *ctx);
/* A main table ends a pass: asks for its own ID reconciliation when the event log is denied and
 * deletes_fallback_interval has passed since the last one (out->reconcile_tables). */
void close_fallback_at_pass_end(table_ctx *ctx, page *out);
/* The names of the tables whose deletes the event log carries (those with a fallback_slot). */
json_t *close_fallback_tables(void);
extern const connector close_connector;

/* custom.c: typed custom fields of leads, contacts, opportunities and activities. */
extern const custom_fields_spec close_custom_leads, close_custom_contacts,
    close_custom_opportunities, close_custom_activities;

/* reports.c: activity reports as daily tables (metrics list, overview per day, comparison per
 * user per day); the metrics are the report tables' typed fields. */
#define REPORT_OVERVIEW_DAYS 7 /* days per overview request: Close answers daily rows */
typedef enum { REPORT_OVERVIEW = 0, REPORT_COMPARISON } report_kind;

/* What the Close connector knows of one table (table_def.spec, read through close_table_of):
 * every Close table declares one. */
typedef struct close_table {
    const char *path;         /* list path (with a fixed query when Close needs one) */
    const char *item_path;    /* one record by id: <item_path><id>/; NULL: the list path */
    const char *limit_option; /* option naming the page size */
    const char *key;          /* keyset: the ascending key (and _order_by) */
    const char *since;        /* keyset: extra filter taking the pass's from_ms, or NULL */
    const char *object_type;  /* Close's object type: the search's and the custom fields' */
    unsigned flags;           /* CLOSE_* below */
    int fallback_slot;        /* deletes without the event log: 1 + its index into
                                 close_state.fallback_due_ms; 0: not reconciled for deletes */
    report_kind report;
} close_table;

enum {
    CLOSE_LISTS_BY_IDS = 1u << 0,       /* the list takes id__in: confirmations are batched */
    CLOSE_ATTRIBUTION_WINDOW = 1u << 1, /* the attribution_window option overrides the lookback */
    CLOSE_EVENT_LOG = 1u << 2,          /* /event/: a 400 means the key cannot read the log */
    CLOSE_ORG_ITSELF = 1u << 3,         /* /organization/{id}/ itself (else its memberships) */
};

static inline const close_table *close_table_of(const table_def *t)
{
    return t->spec;
}
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
