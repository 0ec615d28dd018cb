/* bench.c — "bench", a synthetic testcrm for throughput benchmarks: /api/items serves param
 * `items` (default 1,000,000) generated records in testcrm's item shape without storing them,
 * so a million-record backfill costs the simulator no memory. /api/users and /api/events are
 * empty. Auth and paging are testcrm's (Bearer token; cursor = next index, opaque to clients). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_item.h"
#include "sim.h"

static long long bench_items;
static int64_t bench_base_ms;

static int bench_init(const sim_options *opts)
{
    bench_items = sim_param_int("items", 1000000);
    bench_base_ms = opts->epoch_ms - 30LL * 86400 * 1000;
    return 0;
}

static void serve_items(const sim_request *req, sim_response *resp)
{
    const char *c = sim_query(req, "cursor");
    const char *l = sim_query(req, "limit");
    long long from = c ? atoll(c) : 0;
    long long limit = l ? atoll(l) : 50;
    if (limit < 1 || limit > 1000)
        limit = 1000;
    long long to = from + limit < bench_items ? from + limit : bench_items;
    resp->status = 200;
    buf_append_str(&resp->body, "{\"data\":[");
    for (long long i = from; i < to; i++) {
        if (i > from)
            buf_append_str(&resp->body, ",");
        bench_item_append(&resp->body, i + 1, bench_base_ms);
    }
    if (to < bench_items)
        buf_printf(&resp->body, "],\"next_cursor\":\"%lld\"}", to);
    else
        buf_append_str(&resp->body, "],\"next_cursor\":null}");
    sim_set_header(resp, "Content-Type", "application/json");
}

static void bench_handle(const sim_request *req, sim_response *resp)
{
    const char *auth = sim_header(req, "Authorization");
    char want[256];
    snprintf(want, sizeof(want), "Bearer %s", sim_param("token", "test-token"));
    if (!auth || strcmp(auth, want) != 0) {
        sim_json_error(resp, 401, "invalid token");
        return;
    }
    const char *path = sim_path(req);
    if (strcmp(path, "/api/items") == 0)
        serve_items(req, resp);
    else if (strcmp(path, "/api/me") == 0)
        sim_json(resp, 200, json_pack("{s:s}", "account", "bench"));
    else if (strcmp(path, "/api/users") == 0)
        sim_json(resp, 200, json_pack("{s:[], s:b}", "data", "has_more", 0));
    else if (strcmp(path, "/api/events") == 0)
        sim_json(resp, 200, json_pack("{s:[], s:n}", "data", "next_cursor"));
    else
        sim_json_error(resp, 404, "not found");
}

static int bench_control(const char *action, json_t *args, json_t **result)
{
    (void)args;
    *result = json_pack("{s:s}", "error", "bench has no control actions");
    return strcmp(action, "truth") == 0 ? 400 : 404;
}

const sim_crm sim_bench = {
    .name = "bench",
    .init = bench_init,
    .handle = bench_handle,
    .control = bench_control,
};
