/* testcrm.c — the engine's test connector, for the tests/sim testcrm simulator.
 *
 * Small on purpose, but it exercises every engine path a real CRM needs: an incremental table
 * with keyset cursors (items), an offset-paged full table whose deletes are found by ID
 * reconciliation (users), and an event feed that deletes records of another table (events). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "crm_time.h"
#include "util.h"

/* The source's options (testcrm_options below). */
typedef struct testcrm_opts {
    const char *token_env; /* the token itself */
    long long page_size;
} testcrm_opts;

static const testcrm_opts *opts_of(const source *src)
{
    return source_options(src);
}

static void query_page_size(const table_ctx *ctx, http_request *req)
{
    char limit[32];
    snprintf(limit, sizeof(limit), "%lld", opts_of(ctx->src)->page_size);
    connector_query(req, "limit", limit);
}

static int testcrm_init(source *src, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    buf line;
    buf_init(&line);
    buf_printf(&line, "Authorization: Bearer %s", opts_of(src)->token_env);
    http_auth *auth = source_auth(src);
    auth->secret_headers[auth->n_secret_headers++] = line.data;
    source_set_state(src, line.data); /* owns the header text until testcrm_free */
    return 0;
}

static void testcrm_free(source *src)
{
    free(source_state(src));
}

static int testcrm_check(source *src, http_request *req)
{
    connector_url(src, req, "/api/me");
    return 0;
}

static int paging_done(const table_ctx *ctx)
{
    return json_is_true(json_object_get(ctx->paging, "done"));
}

static void set_paging_cursor(table_ctx *ctx, json_t *next)
{
    if (json_is_string(next))
        json_object_set(ctx->paging, "cursor", next);
    else
        json_object_set_new(ctx->paging, "done", json_true());
}

static req_result keyset_request(table_ctx *ctx, http_request *req, const char *path,
                                 const char *since_param)
{
    if (paging_done(ctx))
        return REQ_DONE;
    connector_url(ctx->src, req, path);
    if (ctx->from_ms != CRM_TIME_NONE) {
        char since[32];
        crm_time_format(ctx->from_ms, since, sizeof(since));
        connector_query(req, since_param, since);
    }
    query_page_size(ctx, req);
    const char *cursor = json_string_value(json_object_get(ctx->paging, "cursor"));
    if (cursor)
        connector_query(req, "cursor", cursor);
    return REQ_READY;
}

/* Parses a {"data": [...], ...} page into out->records; returns the body (caller decrefs). */
static json_t *parse_data_page(const http_response *resp, page *out, char *err, size_t errlen)
{
    json_t *body = connector_parse_json(resp, err, errlen);
    if (!body)
        return NULL;
    json_t *data = json_object_get(body, "data");
    if (!json_is_array(data)) {
        snprintf(err, errlen, "response has no \"data\" array");
        json_decref(body);
        return NULL;
    }
    out->records = json_incref(data);
    return body;
}

/* Items pages can be large: the records go to the engine as raw JSON text (the fast path). */
static int keyset_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                        size_t errlen)
{
    json_t *envelope = NULL;
    if (connector_raw_records(resp, "data", out, &envelope, err, errlen))
        return -1;
    set_paging_cursor(ctx, json_object_get(envelope, "next_cursor"));
    json_decref(envelope);
    return 0;
}

static req_result items_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return keyset_request(ctx, req, "/api/items", "updated_since");
}

static req_result events_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return keyset_request(ctx, req, "/api/events", "since");
}

/* Item deletions become deletes of the items table. */
static int events_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                        size_t errlen)
{
    json_t *body = parse_data_page(resp, out, err, errlen); /* the feed reads its records */
    if (!body)
        return -1;
    set_paging_cursor(ctx, json_object_get(body, "next_cursor"));
    json_decref(body);
    out->deletes = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(out->records, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "type")) ?: "", "item.deleted") != 0)
            continue;
        json_t *del =
            json_pack("{s:s, s:O}", "table", "items", "id", json_object_get(ev, "object_id"));
        if (!del || json_array_append_new(out->deletes, del)) {
            snprintf(err, errlen, "out of memory building delete");
            return -1;
        }
    }
    return 0;
}

static req_result users_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (paging_done(ctx))
        return REQ_DONE;
    char offset[32];
    snprintf(offset, sizeof(offset), "%lld",
             (long long)json_integer_value(json_object_get(ctx->paging, "offset")));
    connector_url(ctx->src, req, "/api/users");
    connector_query(req, "offset", offset);
    query_page_size(ctx, req);
    return REQ_READY;
}

/* Reconciliation candidates read back by id (GET /api/users?ids=...): what answers is alive. */
static req_result users_confirm_request(table_ctx *ctx, const json_t *ids, http_request *req,
                                        char *err, size_t errlen)
{
    buf list;
    buf_init(&list);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (!json_is_integer(id)) {
            snprintf(err, errlen, "user id is not an integer");
            buf_free(&list);
            return REQ_ERROR;
        }
        buf_printf(&list, "%s%" JSON_INTEGER_FORMAT, i ? "," : "", json_integer_value(id));
    }
    connector_url(ctx->src, req, "/api/users");
    connector_query(req, "ids", list.data ? list.data : "");
    buf_free(&list);
    return REQ_READY;
}

static int users_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    json_t *body = parse_data_page(resp, out, err, errlen);
    if (!body)
        return -1;
    json_t *data = out->records;
    json_int_t offset = json_integer_value(json_object_get(ctx->paging, "offset"));
    json_object_set_new(ctx->paging, "offset",
                        json_integer(offset + (json_int_t)json_array_size(data)));
    if (!json_is_true(json_object_get(body, "has_more")))
        json_object_set_new(ctx->paging, "done", json_true());
    json_decref(body);
    return 0;
}

static const table_def testcrm_tables[] = {
    {
        .name = "items",
        .primary_key = "id",
        .replication_key = "updated_at",
        .method = SYNC_INCREMENTAL,
        .lookback_seconds = 0,
        .schema_file = "testcrm/items.avsc",
        .sorted = 1,
        .description = "items, incremental on updated_at with keyset cursors",
        .next_request = items_request,
        .parse_page = keyset_parse,
    },
    {
        .name = "users",
        .primary_key = "id",
        .method = SYNC_FULL_TABLE,
        .schema_file = "testcrm/users.avsc",
        .reconcile = 1,
        .description = "users, full table with offset paging; deletes by ID reconciliation",
        .next_request = users_request,
        .parse_page = users_parse,
        .confirm_request = users_confirm_request,
        .confirm_batch = 50,
    },
    {
        .name = "events",
        .primary_key = "id",
        .replication_key = "date",
        .method = SYNC_INCREMENTAL,
        .schema_file = "testcrm/events.avsc",
        .sorted = 1,
        .delete_feed = 1,
        .description = "event feed; item.deleted events delete items",
        .next_request = events_request,
        .parse_page = events_parse,
    },
};

static const connector_option testcrm_options[] = {
    CONNECTOR_OPTION(testcrm_opts, OPT_ENV, token_env, "TESTCRM_TOKEN",
                     "environment variable holding the API token"),
    CONNECTOR_OPTION(testcrm_opts, OPT_INT, page_size, "50", "records per page"),
    {0},
};

const connector testcrm_connector = {
    .name = "testcrm",
    .description = "the engine's test CRM (tests/sim testcrm personality)",
    .default_base_url = "http://127.0.0.1:8080",
    .default_rate = 50,
    .default_burst = 10,
    .options = testcrm_options,
    .options_size = sizeof(testcrm_opts),
    .tables = testcrm_tables,
    .n_tables = sizeof(testcrm_tables) / sizeof(testcrm_tables[0]),
    .source_init = testcrm_init,
    .source_free = testcrm_free,
    .check_request = testcrm_check,
    .rate_signal = NULL,
};
