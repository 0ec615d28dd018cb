/* report_statuses.c — Close's lead status change report (GET /report/statuses/lead/{org_id}/)
 * as one record per day: how many leads each status had at the start and end of the day, what
 * they gained, lost, entered and left, and the day's transitions (aggregated by from/to status,
 * and summarized per lead). A status change moves the counts of every later day, so each pass
 * recomputes the same trailing window as the activity reports (reports.c), one request per day
 * (date_start = date_end = the day: Close's dates are inclusive). The organization id comes from
 * /me/ first. The lists' search queries and UI page URLs are dropped. */
#include <stdio.h>
#include <string.h>

#include "close_internal.h"
#include "crm_time.h"

#define DAY_MS 86400000LL

static const char *const LISTS[] = {"status_overview", "status_transitions",
                                    "status_transitions_summary"};

/* A copy of the list's objects without their "_"-prefixed keys. */
static json_t *without_helpers(const json_t *list)
{
    json_t *out = json_array(), *item;
    size_t i;
    json_array_foreach(list, i, item)
    {
        json_t *copy = json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)item, k, v) if (k[0] != '_') json_object_set(copy, k, v);
        json_array_append_new(out, copy);
    }
    return out;
}

json_t *close_lead_statuses_record(const json_t *body, const char *day, char *err, size_t errlen)
{
    if (!json_is_array(json_object_get(body, "status_overview"))) {
        snprintf(err, errlen, "lead status report has no \"status_overview\" array");
        return NULL;
    }
    json_t *rec = json_pack("{s:s}", "date", day);
    for (size_t i = 0; i < sizeof(LISTS) / sizeof(LISTS[0]); i++)
        json_object_set_new(rec, LISTS[i], without_helpers(json_object_get(body, LISTS[i])));
    return rec;
}

static void day_text(int64_t day_ms, char out[11])
{
    char at[32];
    crm_time_format_seconds(day_ms, at, sizeof(at));
    snprintf(out, 11, "%.10s", at);
}

req_result close_lead_statuses_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    int64_t day = CRM_TIME_NONE;
    if (close_org_recall(ctx) && (day = close_report_next_day(ctx)) == CRM_TIME_NONE)
        return REQ_DONE;
    if (!close_org_url(ctx, req, "/report/statuses/lead/"))
        return REQ_READY; /* /me/ first, for the organization id */
    char date[11];
    day_text(day, date);
    connector_query(req, "date_start", date);
    connector_query(req, "date_end", date);
    return REQ_READY;
}

int close_lead_statuses_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                              size_t errlen)
{
    json_t *body = connector_parse_json(resp, err, errlen);
    if (!body)
        return -1;
    int rc = 0;
    if (!json_object_get(ctx->paging, "org_id")) {
        rc = close_org_learn(ctx, body, err, errlen);
    } else {
        int64_t day = json_integer_value(json_object_get(ctx->paging, "day_ms"));
        char date[11];
        day_text(day, date);
        json_t *rec = close_lead_statuses_record(body, date, err, errlen);
        if (rec) {
            out->records = json_pack("[o]", rec);
            json_object_set_new(ctx->paging, "day_ms", json_integer(day + DAY_MS));
        } else {
            rc = -1;
        }
    }
    json_decref(body);
    return rc;
}
