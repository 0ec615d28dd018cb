/* reports.c — the simulator's activity reports, computed from its own records, so that tests can
 * check every number the connector publishes.
 *
 *   GET  /report/activity/metrics/  -> {"metrics":[{"key","name","description"}]}
 *   POST /report/activity/          {"type":"overview"|"comparison", "datetime_range":{"start",
 *        "end"} | "relative_range":"today"|"yesterday", "users":[ids], "metrics":[keys]}
 *     overview   -> {"aggregations":{"totals":{m:v}}, "data":[{"datetime", m:v} per bucket],
 *                    "queries":{}}: daily buckets from start (weekly when the range is longer
 *                    than report_daily_max_days, default 31: Close does not publish its choice)
 *     comparison -> {"aggregations":{"totals"}, "data":[{"user_id", m:v} per user]} (the shape
 *                    is inferred: Close does not publish it)
 *     400 {"errors":[], "field-errors":{field: message}} for a missing or unknown type, missing
 *     or unknown metrics, a missing range, an unparseable one, or start >= end.
 *   GET  /report/statuses/lead/{org_id}/: report_statuses.c
 * Parameter report_metrics=N: only the first N metrics exist (Close adding metrics later).
 * Activities count on their activity_at day (calls by direction and duration, emails sent /
 * received / opened, SMS sent / received, contacted leads = distinct leads of those), leads on
 * date_created, opportunities on date_created (created), date_won / date_lost (won / lost, with
 * their value by value_period in cents). Per user: the activity's user_id, the lead's
 * created_by, the opportunity's user_id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "close_sim.h"
#include "crm_time.h"

typedef struct metric {
    const char *key, *name, *description;
} metric;

static const metric METRICS[] = {
    {"calls.all.all.count", "All Calls - All Types", "The number of all calls made."},
    {"calls.all.all.sum_duration", "All Calls - Total Duration",
     "The total duration of all calls made."},
    {"calls.all.all.avg_duration", "All Calls - Average Duration",
     "The average duration of all calls made."},
    {"calls.outbound.all.count", "Outbound Calls - All Types",
     "The number of all outbound calls made."},
    {"calls.outbound.all.sum_duration", "Outbound Calls - Total Duration",
     "The total duration of all outbound calls made."},
    {"calls.outbound.all.avg_duration", "Outbound Calls - Average Duration",
     "The average duration of all outbound calls made."},
    {"calls.inbound.all.count", "Inbound Calls - All Types", "The number of inbound calls made."},
    {"calls.inbound.all.sum_duration", "Inbound Calls - Total Duration",
     "The total duration of inbound calls made."},
    {"calls.inbound.all.avg_duration", "Inbound Calls - Average Duration",
     "The average duration of inbound calls made."},
    {"emails.sent.all.count", "Sent Emails - All Types", "The number of all sent emails."},
    {"emails.received.all.count", "Received Emails - All Types",
     "The number of all incoming emails."},
    {"emails.opened.all.count", "Opened Emails - All Types",
     "The number of outgoing emails of all types that have been opened by the recipient."},
    {"sms.sent.all.count", "Sent SMS - All Types", "The number of all sent SMS messages."},
    {"sms.received.all.count", "Received SMS - All Types",
     "The number of all received SMS messages."},
    {"leads.created.all.count", "Created Leads", "The number of leads created."},
    {"leads.contacted.all.count", "Contacted Leads",
     "The leads that have been contacted via a call, email or SMS."},
    {"opportunities.created.all.count", "Opportunities - Created",
     "The number of opportunities created by a user."},
    {"opportunities.won.all.count", "Opportunities - Won",
     "The number of won opportunities created for/assigned to a user."},
    {"opportunities.lost.all.count", "Opportunities - Lost",
     "The number of lost opportunities created for/assigned to a user."},
    {"opportunities.won.all.sum_annualized_value", "Opportunities - Won - Annualized",
     "The annualized value of won opportunities created for/assigned to a user."},
    {"opportunities.value_won.one_time.sum_value", "Opportunities - Value Won - One Time",
     "The total value of one-time won opportunities created for/assigned to a user."},
    {"opportunities.value_won.monthly.sum_value", "Opportunities - Value Won - Monthly",
     "The total value of monthly won opportunities created for/assigned to a user."},
};
#define N_METRICS (sizeof METRICS / sizeof METRICS[0])

/* What one bucket (a day, or a user) adds up; every metric derives from it. */
typedef struct tally {
    double calls[2], duration[2]; /* [0] outbound, [1] inbound */
    double emails_sent, emails_received, emails_opened, sms_sent, sms_received;
    double leads_created, opps_created, opps_won, opps_lost;
    double won_annualized, won_one_time, won_monthly;
    json_t *contacted; /* lead id -> true */
} tally;

static double ratio(double sum, double n)
{
    return n > 0 ? sum / n : 0;
}

static double metric_value(const tally *t, const char *key)
{
    double calls = t->calls[0] + t->calls[1], dur = t->duration[0] + t->duration[1];
    const struct {
        const char *key;
        double v;
    } V[] = {
        {"calls.all.all.count", calls},
        {"calls.all.all.sum_duration", dur},
        {"calls.all.all.avg_duration", ratio(dur, calls)},
        {"calls.outbound.all.count", t->calls[0]},
        {"calls.outbound.all.sum_duration", t->duration[0]},
        {"calls.outbound.all.avg_duration", ratio(t->duration[0], t->calls[0])},
        {"calls.inbound.all.count", t->calls[1]},
        {"calls.inbound.all.sum_duration", t->duration[1]},
        {"calls.inbound.all.avg_duration", ratio(t->duration[1], t->calls[1])},
        {"emails.sent.all.count", t->emails_sent},
        {"emails.received.all.count", t->emails_received},
        {"emails.opened.all.count", t->emails_opened},
        {"sms.sent.all.count", t->sms_sent},
        {"sms.received.all.count", t->sms_received},
        {"leads.created.all.count", t->leads_created},
        {"leads.contacted.all.count", (double)json_object_size(t->contacted)},
        {"opportunities.created.all.count", t->opps_created},
        {"opportunities.won.all.count", t->opps_won},
        {"opportunities.lost.all.count", t->opps_lost},
        {"opportunities.won.all.sum_annualized_value", t->won_annualized},
        {"opportunities.value_won.one_time.sum_value", t->won_one_time},
        {"opportunities.value_won.monthly.sum_value", t->won_monthly},
    };
    for (size_t i = 0; i < sizeof V / sizeof V[0]; i++)
        if (strcmp(V[i].key, key) == 0)
            return V[i].v;
    return 0;
}

/* How many metrics exist now (report_metrics, default all). */
static size_t metrics_served(void)
{
    long long n = sim_param_int("report_metrics", (long long)N_METRICS);
    return n >= 0 && (size_t)n < N_METRICS ? (size_t)n : N_METRICS;
}

static int known_metric(const char *key)
{
    for (size_t i = 0; i < metrics_served(); i++)
        if (strcmp(METRICS[i].key, key) == 0)
            return 1;
    return 0;
}

/* Counts as a JSON integer, averages as a real (what Close's example shows for counts). */
static json_t *number(double v)
{
    return v == (double)(json_int_t)v ? json_integer((json_int_t)v) : json_real(v);
}

static void put_metrics(json_t *row, const tally *t, const json_t *keys)
{
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) json_object_set_new(
        row, json_string_value(k), number(metric_value(t, json_string_value(k))));
}

/* ---- one report ------------------------------------------------------------------------- */

typedef struct report {
    int comparison;
    int64_t start, end, step; /* overview buckets: [start + i*step, ...) within [start, end) */
    json_t *users;            /* optional filter (array of ids) or NULL */
    json_t *user_ids;         /* comparison buckets: the users, in order */
    size_t n;
    tally *t; /* n buckets, then the total */
} report;

static const char *str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static int user_allowed(const report *r, const char *user)
{
    if (!json_is_array(r->users))
        return 1;
    size_t i;
    json_t *u;
    json_array_foreach(r->users, i,
                       u) if (user && strcmp(json_string_value(u) ?: "", user) == 0) return 1;
    return 0;
}

/* The tally of the bucket holding (ms, user), or NULL when outside the report. */
static tally *bucket(report *r, int64_t ms, const char *user)
{
    if (ms == CRM_TIME_NONE || ms < r->start || ms >= r->end || !user_allowed(r, user))
        return NULL;
    if (!r->comparison)
        return &r->t[(ms - r->start) / r->step];
    size_t i;
    json_t *u;
    json_array_foreach(r->user_ids, i,
                       u) if (user && strcmp(json_string_value(u), user) == 0) return &r->t[i];
    return NULL;
}

static void add_activity(report *r, const json_t *a)
{
    int64_t at = close_rec_ms(a, "activity_at");
    if (at == CRM_TIME_NONE)
        at = close_rec_ms(a, "date_created");
    tally *t = bucket(r, at, str(a, "user_id"));
    const char *type = str(a, "_type") ?: "", *dir = str(a, "direction") ?: "";
    if (!t)
        return;
    int contacted = 1;
    if (strcmp(type, "Call") == 0) {
        int in = strcmp(dir, "inbound") == 0;
        t->calls[in] += 1;
        t->duration[in] += (double)json_integer_value(json_object_get(a, "duration"));
    } else if (strcmp(type, "Email") == 0) {
        if (strcmp(dir, "incoming") == 0) {
            t->emails_received += 1;
        } else if (strcmp(str(a, "status") ?: "", "sent") == 0) {
            t->emails_sent += 1;
            t->emails_opened += json_array_size(json_object_get(a, "opens")) > 0;
        }
    } else if (strcmp(type, "SMS") == 0) {
        if (strcmp(dir, "inbound") == 0)
            t->sms_received += 1;
        else
            t->sms_sent += 1;
    } else {
        contacted = 0;
    }
    if (contacted && str(a, "lead_id"))
        json_object_set_new(t->contacted, str(a, "lead_id"), json_true());
}

static void add_opportunity(report *r, const json_t *o)
{
    const char *user = str(o, "user_id");
    tally *t = bucket(r, close_rec_ms(o, "date_created"), user);
    if (t)
        t->opps_created += 1;
    const char *type = str(o, "status_type") ?: "";
    double value = (double)json_integer_value(json_object_get(o, "value"));
    if (strcmp(type, "won") == 0 && (t = bucket(r, close_rec_ms(o, "date_won"), user))) {
        t->opps_won += 1;
        t->won_annualized += (double)json_integer_value(json_object_get(o, "annualized_value"));
        if (strcmp(str(o, "value_period") ?: "", "monthly") == 0)
            t->won_monthly += value;
        else
            t->won_one_time += value;
    } else if (strcmp(type, "lost") == 0 && (t = bucket(r, close_rec_ms(o, "date_lost"), user))) {
        t->opps_lost += 1;
    }
}

static void total_of(report *r)
{
    tally *sum = &r->t[r->n];
    for (size_t i = 0; i < r->n; i++) {
        const tally *t = &r->t[i];
        for (int k = 0; k < 2; k++) {
            sum->calls[k] += t->calls[k];
            sum->duration[k] += t->duration[k];
        }
        sum->emails_sent += t->emails_sent;
        sum->emails_received += t->emails_received;
        sum->emails_opened += t->emails_opened;
        sum->sms_sent += t->sms_sent;
        sum->sms_received += t->sms_received;
        sum->leads_created += t->leads_created;
        sum->opps_created += t->opps_created;
        sum->opps_won += t->opps_won;
        sum->opps_lost += t->opps_lost;
        sum->won_annualized += t->won_annualized;
        sum->won_one_time += t->won_one_time;
        sum->won_monthly += t->won_monthly;
        json_object_update(sum->contacted, t->contacted);
    }
}

static void compute(report *r)
{
    size_t i;
    json_t *rec;
    json_array_foreach(close_coll_get("activities")->recs, i, rec) add_activity(r, rec);
    json_array_foreach(close_coll_get("leads")->recs, i, rec)
    {
        tally *t = bucket(r, close_rec_ms(rec, "date_created"), str(rec, "created_by"));
        if (t)
            t->leads_created += 1;
    }
    json_array_foreach(close_coll_get("opportunities")->recs, i, rec) add_opportunity(r, rec);
    total_of(r);
}

static json_t *render(const report *r, const json_t *keys)
{
    json_t *data = json_array(), *totals = json_object();
    for (size_t i = 0; i < r->n; i++) {
        json_t *row = json_object();
        if (r->comparison)
            json_object_set(row, "user_id", json_array_get(r->user_ids, i));
        else
            json_object_set_new(row, "datetime", close_ts(r->start + (int64_t)i * r->step, 0));
        put_metrics(row, &r->t[i], keys);
        json_array_append_new(data, row);
    }
    put_metrics(totals, &r->t[r->n], keys);
    json_t *out = json_pack("{s:{s:o}, s:o}", "aggregations", "totals", totals, "data", data);
    if (!r->comparison)
        json_object_set_new(out, "queries", json_object());
    return out;
}

/* ---- the request ------------------------------------------------------------------------ */

static void field_error(sim_response *resp, const char *field, const char *msg)
{
    sim_json(resp, 400, json_pack("{s[]s{ss}}", "errors", "field-errors", field, msg));
}

/* Fills r's range from datetime_range or relative_range; 0, or -1 after a 400. */
static int read_range(const json_t *body, report *r, sim_response *resp)
{
    const json_t *dr = json_object_get(body, "datetime_range");
    const char *rel = str(body, "relative_range");
    if (rel && !dr) {
        int64_t today = sim_now_ms() - (sim_now_ms() % CLOSE_DAY_MS);
        if (strcmp(rel, "today") == 0)
            r->start = today;
        else if (strcmp(rel, "yesterday") == 0)
            r->start = today - CLOSE_DAY_MS;
        else {
            field_error(resp, "relative_range", "The simulator serves today and yesterday.");
            return -1;
        }
        r->end = r->start + CLOSE_DAY_MS;
        return 0;
    }
    if (!json_is_object(dr)) {
        field_error(resp, "datetime_range", "Either datetime_range or relative_range is required.");
        return -1;
    }
    const char *s = str(dr, "start"), *e = str(dr, "end");
    if (!s || crm_time_parse(s, &r->start) || r->start == CRM_TIME_NONE || !e ||
        crm_time_parse(e, &r->end) || r->end == CRM_TIME_NONE) {
        field_error(resp, "datetime_range", "start and end must be valid datetimes.");
        return -1;
    }
    if (r->start >= r->end) {
        field_error(resp, "datetime_range", "start must be before end.");
        return -1;
    }
    return 0;
}

/* The requested metric keys; NULL after a 400. */
static const json_t *read_metrics(const json_t *body, sim_response *resp)
{
    const json_t *keys = json_object_get(body, "metrics");
    if (!json_is_array(keys) || json_array_size(keys) == 0) {
        field_error(resp, "metrics", "This field is required.");
        return NULL;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (!json_is_string(k) || !known_metric(json_string_value(k))) {
            char msg[256];
            snprintf(msg, sizeof msg, "Unknown metric: %.200s",
                     json_is_string(k) ? json_string_value(k) : "(not a string)");
            field_error(resp, "metrics", msg);
            return NULL;
        }
    }
    return keys;
}

static void report_buckets(report *r)
{
    if (r->comparison) {
        r->user_ids = json_array();
        size_t i;
        json_t *u;
        json_array_foreach(close_coll_get("users")->recs, i, u) if (user_allowed(r, str(u, "id")))
            json_array_append(r->user_ids, json_object_get(u, "id"));
        r->n = json_array_size(r->user_ids);
    } else {
        long long max_days = sim_param_int("report_daily_max_days", 31);
        r->step = r->end - r->start > max_days * CLOSE_DAY_MS ? 7 * CLOSE_DAY_MS : CLOSE_DAY_MS;
        r->n = (size_t)((r->end - r->start + r->step - 1) / r->step);
    }
    r->t = xcalloc(r->n + 1, sizeof(tally));
    for (size_t i = 0; i <= r->n; i++)
        r->t[i].contacted = json_object();
}

static void report_free(report *r)
{
    for (size_t i = 0; r->t && i <= r->n; i++)
        json_decref(r->t[i].contacted);
    free(r->t);
    json_decref(r->user_ids);
}

static void serve_report(const sim_request *req, sim_response *resp)
{
    size_t len;
    const char *text = sim_body(req, &len);
    json_error_t je;
    json_t *body = json_loadb(text ? text : "", len, 0, &je);
    report r;
    memset(&r, 0, sizeof r);
    const char *type = str(body, "type");
    const json_t *keys = NULL;
    if (!json_is_object(body))
        sim_json_error(resp, 400, "The request body must be a JSON object.");
    else if (!type || (strcmp(type, "overview") != 0 && strcmp(type, "comparison") != 0))
        field_error(resp, "type", "Must be one of: overview, comparison.");
    else if ((keys = read_metrics(body, resp)) && read_range(body, &r, resp) == 0) {
        r.comparison = strcmp(type, "comparison") == 0;
        r.users = json_object_get(body, "users");
        report_buckets(&r);
        compute(&r);
        sim_json(resp, 200, render(&r, keys));
    }
    report_free(&r);
    json_decref(body);
}

static void serve_metrics(sim_response *resp)
{
    json_t *list = json_array();
    for (size_t i = 0; i < metrics_served(); i++)
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s}", "description", METRICS[i].description,
                                        "key", METRICS[i].key, "name", METRICS[i].name));
    sim_json(resp, 200, json_pack("{s:o}", "metrics", list));
}

int close_reports_handle(const sim_request *req, sim_response *resp, const char *path)
{
    const char *method = sim_method(req);
    if (strcmp(path, "/report/activity/metrics/") == 0 && strcmp(method, "GET") == 0)
        serve_metrics(resp);
    else if (strcmp(path, "/report/activity/") == 0 && strcmp(method, "POST") == 0)
        serve_report(req, resp);
    else if (strncmp(path, "/report/statuses/lead/", 22) == 0 && strcmp(method, "GET") == 0) {
        char org[128];
        snprintf(org, sizeof org, "%.*s", (int)strcspn(path + 22, "/"), path + 22);
        close_report_lead_statuses(req, resp, org);
    } else
        return 0;
    return 1;
}
