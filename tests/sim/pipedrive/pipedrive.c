/* pipedrive.c — the "pipedrive" simulator personality: routing, authentication, Pipedrive's
 * burst and daily-budget rate limits with their headers, the Cloudflare HTML 403 after ignored
 * 429s, and the control actions (truth, mutate, budget), as Pipedrive's API reference
 * (developers.pipedrive.com) describes them.
 *
 * Paths: /v1/..., /api/v1/... and /api/v2/... on one host (any Host header).
 * Auth: header x-api-token, query api_token, or Authorization: Bearer (param token for the
 * first two, param oauth_token for Bearer); else 401 with Pipedrive's gateway body.
 * Params (--param k=v or POST /_control/param):
 *   token (default 0123456789abcdef0123456789abcdef01234567), oauth_token (pd-oauth-token)
 *   users 8, organizations 40, persons 80, products 20, deals 150, activities 120, notes 100,
 *   files 20, deleted_deals 4 (half younger, half older than the purge), archived_deals 5
 *   purge_days 30; delete_bumps_update 0 (deleting a non-deal keeps its update_time)
 *   empty_data "null" | "[]" (v1 empty pages); v1_gone 1: deprecated v1 endpoints -> 410
 *   recents_days 30 (silent clamp of /v1/recents); flow_null_every N (200 "null" on /flow)
 *   burst_limit 20 (requests per rolling 2 s per token; 0 = off, headers then say 10000)
 *   daily_budget 0 (tokens per day; 0 = off), daily_headers 1, daily_reset_s 0 (0: at simulated
 *   UTC midnight; N: N seconds after the budget ran out), cost_v1_list 20, cost_v1_single 2,
 *   cost_v2_list 10, cost_v2_single 1
 *   html403_after 0 (K: after K 429s answered inside one 429 window, 403 HTML for
 *   html403_seconds, default 10)
 *   mode: "" | "402" | "scope403" (every request answers that error)
 *   cursor "keyset" | "offset" (v2 cursors carry the last row's key, or a position that shifts
 *   when rows before it leave)
 *   churn 0 (percent of list pages of churn_tables after which churn_ops (2) random changes are
 *   made before the next request: the row served last updated or deleted, a random row updated
 *   or deleted, a row created; deterministic from --seed), churn_tables
 *   "deals,persons,organizations,activities,products,notes,files", churn_on "all" | "id" (only
 *   after pages of listings sorted by id: reconciliations, files), churn_kinds "all" | "delete"
 *   deleted_by_id 1 (deleted persons, organizations, activities, products, notes and files stay
 *   readable by id, marked is_deleted / active_flag false, until purged), deleted_in_ids 0 (1:
 *   v2 lists filtered by ids return them too)
 * Control: truth {"table":t}; mutate {"table":t,"op":"create|update|touch|delete|archive",
 *   "id"|"ids"|"count","set"} ("id":"last_served": the row the latest list page of that table
 *   served last); churn {} -> what churn did; budget {} -> {"used","limit","exhausted_until"}
 * ({"reset":true} refills it). Truth tables: deals persons organizations activities products stages
 * pipelines notes users files filters activity_types currency deal_products dealflow deal_fields
 *   person_fields organization_fields product_fields — records as the API the connector uses
 *   shows them (v2 for the v2 entities), deleted deals excluded, zero dates as null. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm_time.h"
#include "pd_sim.h"

#define BURST_WINDOW_MS 2000
#define MAX_BURST       4096

static struct {
    int64_t hits[MAX_BURST]; /* monotonic ms of the requests in the rolling window */
    size_t head, count;
    int64_t used;            /* daily tokens spent */
    int64_t day_start;       /* sim ms of the current budget day */
    int64_t exhausted_until; /* sim ms; 0 when the budget is not spent */
    long ignored_429;        /* 429s answered while the client should have been waiting */
    int64_t window_end;      /* monotonic ms when the last 429's wait ends */
    int64_t blocked_until;   /* monotonic ms: HTML 403 until then */
} RL;

static const char *const HTML_403 =
    "<!DOCTYPE html>\n<html><head><title>Attention Required! | Cloudflare</title></head>"
    "<body><h1>Sorry, you have been blocked</h1><p>You are unable to access pipedrive.com</p>"
    "</body></html>\n";

static void pd_err(sim_response *resp, int status, const char *msg)
{
    sim_json(resp, status,
             json_pack("{s:b,s:s,s:i,s:s}", "success", 0, "error", msg, "errorCode", status,
                       "error_info", "Please check developers.pipedrive.com"));
}

/* ---- auth -------------------------------------------------------------------------------- */

static int authorised(const sim_request *req)
{
    const char *token = sim_param("token", "0123456789abcdef0123456789abcdef01234567");
    const char *h = sim_header(req, "x-api-token");
    if (h)
        return strcmp(h, token) == 0;
    const char *q = sim_query(req, "api_token");
    if (q)
        return strcmp(q, token) == 0;
    const char *auth = sim_header(req, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        return strcmp(auth + 7, sim_param("oauth_token", "pd-oauth-token")) == 0;
    return 0;
}

/* ---- rate limits ------------------------------------------------------------------------- */

static void burst_expire(int64_t now)
{
    while (RL.count && RL.hits[RL.head] <= now - BURST_WINDOW_MS) {
        RL.head = (RL.head + 1) % MAX_BURST;
        RL.count--;
    }
}

static long burst_limit(void)
{
    long long n = sim_param_int("burst_limit", 20);
    return n > MAX_BURST ? MAX_BURST : (long)n;
}

/* Seconds until the oldest request leaves the window. */
static long burst_reset_s(int64_t now)
{
    if (!RL.count)
        return 2;
    int64_t ms = RL.hits[RL.head] + BURST_WINDOW_MS - now;
    long s = (long)((ms + 999) / 1000);
    return s < 1 ? 1 : s;
}

static void rate_headers(sim_response *resp, int64_t now)
{
    long limit = burst_limit();
    if (limit <= 0)
        limit = 10000; /* burst limit off: headers still say how much room is left */
    long remaining = limit - (long)RL.count;
    sim_set_header(resp, "x-ratelimit-limit", "%ld", limit);
    sim_set_header(resp, "x-ratelimit-remaining", "%ld", remaining < 0 ? 0 : remaining);
    sim_set_header(resp, "x-ratelimit-reset", "%ld", burst_reset_s(now));
    long long budget = sim_param_int("daily_budget", 0);
    if (budget > 0 && sim_param_int("daily_headers", 1)) {
        long long left = RL.exhausted_until ? 0 : budget - RL.used;
        sim_set_header(resp, "x-daily-ratelimit-token-limit", "%lld", budget);
        sim_set_header(resp, "x-daily-ratelimit-token-remaining", "%lld", left < 0 ? 0 : left);
    }
}

static long long request_cost(const char *path, int v2)
{
    const char *last = strrchr(path, '/');
    int single = last && last[1] >= '0' && last[1] <= '9';
    if (v2)
        return single ? sim_param_int("cost_v2_single", 1) : sim_param_int("cost_v2_list", 10);
    return single ? sim_param_int("cost_v1_single", 2) : sim_param_int("cost_v1_list", 20);
}

static int64_t next_midnight(int64_t ms)
{
    return ms - ms % PD_DAY_MS + PD_DAY_MS;
}

/* Rolls the budget day over (simulated midnight, or daily_reset_s after exhaustion). */
static void budget_roll(int64_t sim_now)
{
    if (RL.exhausted_until && sim_now >= RL.exhausted_until) {
        RL.exhausted_until = 0;
        RL.used = 0;
        RL.day_start = sim_now;
    }
    if (!RL.exhausted_until && sim_now >= next_midnight(RL.day_start)) {
        RL.used = 0;
        RL.day_start = sim_now;
    }
}

/* 1 when the request may spend `cost` tokens (and spends them). */
static int budget_take(long long cost)
{
    long long budget = sim_param_int("daily_budget", 0);
    int64_t sim_now = sim_now_ms();
    budget_roll(sim_now);
    if (budget <= 0)
        return 1;
    if (!RL.exhausted_until && RL.used + cost <= budget) {
        RL.used += cost;
        return 1;
    }
    if (!RL.exhausted_until) {
        long long after = sim_param_int("daily_reset_s", 0);
        RL.exhausted_until = after > 0 ? sim_now + after * 1000 : next_midnight(sim_now);
    }
    return 0;
}

static void too_many(sim_response *resp, int64_t now, int burst)
{
    pd_err(resp, 429, "Request over limit");
    rate_headers(resp, now);
    if (burst) {
        sim_set_header(resp, "x-ratelimit-remaining", "0");
        if (now < RL.window_end)
            RL.ignored_429++;
        RL.window_end = now + burst_reset_s(now) * 1000;
        long k = (long)sim_param_int("html403_after", 0);
        if (k > 0 && RL.ignored_429 >= k)
            RL.blocked_until = now + sim_param_int("html403_seconds", 10) * 1000;
    }
}

/* Applies the limits; 0 when the request may be served (its hit is recorded). */
static int limited(sim_response *resp, const char *path, int v2)
{
    int64_t now = now_monotonic_ms();
    if (now < RL.blocked_until) {
        resp->status = 403;
        buf_append_str(&resp->body, HTML_403);
        sim_set_header(resp, "Content-Type", "text/html; charset=UTF-8");
        sim_set_header(resp, "Server", "cloudflare");
        return 1;
    }
    burst_expire(now);
    long limit = burst_limit();
    if (limit > 0 && (long)RL.count >= limit) {
        too_many(resp, now, 1);
        return 1;
    }
    if (!budget_take(request_cost(path, v2))) {
        /* Daily budget: the burst window still has room, the day does not. */
        too_many(resp, now, 0);
        return 1;
    }
    RL.ignored_429 = 0;
    if (limit > 0) {
        RL.hits[(RL.head + RL.count) % MAX_BURST] = now;
        RL.count++;
    }
    return 0;
}

/* ---- serving ----------------------------------------------------------------------------- */

static void pd_handle(const sim_request *req, sim_response *resp)
{
    const char *path = sim_path(req);
    int v2 = 0;
    if (strncmp(path, "/api/v2/", 8) == 0) {
        v2 = 1;
        path += 8;
    } else if (strncmp(path, "/api/v1/", 8) == 0) {
        path += 8;
    } else if (strncmp(path, "/v1/", 4) == 0) {
        path += 4;
    } else {
        pd_err(resp, 404, "Unknown method .");
        return;
    }
    if (!authorised(req)) {
        sim_json(resp, 401,
                 json_pack("{s:b,s:s,s:i,s:s}", "success", 0, "error", "unauthorized access",
                           "errorCode", 401, "error_info",
                           "Please check developers.pipedrive.com"));
        sim_set_header(resp, "x-401-by-gw", "true");
        return;
    }
    const char *mode = sim_param("mode", "");
    if (strcmp(mode, "402") == 0) {
        pd_err(resp, 402, "Company account is not open");
        return;
    }
    if (strcmp(mode, "scope403") == 0) {
        pd_err(resp, 403, "Scope and URL mismatch");
        return;
    }
    if (limited(resp, path, v2))
        return;
    pd_api(req, resp, path, v2);
    rate_headers(resp, now_monotonic_ms());
}

static void pd_rate_limited(sim_response *resp, double retry_after_s)
{
    pd_err(resp, 429, "Request over limit");
    sim_set_header(resp, "x-ratelimit-remaining", "0");
    sim_set_header(resp, "x-ratelimit-reset", "%ld",
                   (long)ceil(retry_after_s < 1 ? 1 : retry_after_s));
}

/* ---- control ----------------------------------------------------------------------------- */

static int control_truth(json_t *args, json_t **result)
{
    const char *table = json_string_value(json_object_get(args, "table"));
    int status;
    json_t *recs = table ? pd_truth_records(table, &status) : NULL;
    if (!recs) {
        *result = json_pack("{s:s}", "error", "truth needs a known \"table\"");
        return 400;
    }
    *result = json_pack("{s:s,s:I,s:o}", "table", table, "count", (json_int_t)json_array_size(recs),
                        "records", recs);
    return 200;
}

static int control_budget(json_t *args, json_t **result)
{
    if (json_is_true(json_object_get(args, "reset"))) {
        RL.used = 0;
        RL.exhausted_until = 0;
        RL.day_start = sim_now_ms();
    }
    *result = json_pack("{s:I,s:I,s:I}", "used", (json_int_t)RL.used, "limit",
                        (json_int_t)sim_param_int("daily_budget", 0), "exhausted_until",
                        (json_int_t)RL.exhausted_until);
    return 200;
}

static int pd_control(const char *action, json_t *args, json_t **result)
{
    if (strcmp(action, "truth") == 0)
        return control_truth(args, result);
    if (strcmp(action, "mutate") == 0)
        return pd_control_mutate(args, result);
    if (strcmp(action, "budget") == 0)
        return control_budget(args, result);
    if (strcmp(action, "churn") == 0) {
        (void)args;
        *result = pd_churn_stats();
        return 200;
    }
    return 404;
}

static int pd_init(const sim_options *opts)
{
    memset(&RL, 0, sizeof RL);
    RL.day_start = opts->epoch_ms;
    return pd_seed(opts);
}

const sim_crm sim_pipedrive = {
    .name = "pipedrive",
    .init = pd_init,
    .handle = pd_handle,
    .control = pd_control,
    .rate_limited = pd_rate_limited,
    .free = pd_free_all,
};
