/* page_fetch.c — one page of a table (page_fetch.h): HTTP, the connector's verdict on a non-2xx
 * answer, parse_page; every failure typed where it happens. */
#include "page_fetch.h"

#include <stdatomic.h>
#include <string.h>

#include "crm_time.h"
#include "engine.h"
#include "log.h"

static atomic_ulong request_ids;

/* "HTTP 503 from GET https://…?api_token=REDACTED: <body excerpt>" */
static void describe_status(const table_run *t, const http_request *req, const http_response *resp,
                            char *out, size_t outlen)
{
    char excerpt[256], url[512];
    http_body_excerpt(resp, excerpt, sizeof(excerpt));
    http_redact_url(req->url.data, source_auth(t->sr->src), url, sizeof(url));
    snprintf(out, outlen, "HTTP %ld from %s %s: %s", resp->status,
             req->method ? req->method : "GET", url, excerpt);
}

/* A final non-2xx answer: the kind the connector's verdict gives it, or 0 with a warning when
 * the verdict is to skip the request's object (parse_page sees the status). */
static int judge_status(const table_run *t, const table_ctx *ctx, const http_request *req,
                        const http_response *resp, sync_error *e)
{
    describe_status(t, req, resp, e->msg, sizeof(e->msg));
    switch (connector_classify(source_connector(t->sr->src), ctx->table, resp)) {
    case VERDICT_SKIP:
        log_warn(source_name(t->sr->src), t->def->name, "skipping one request's object: %s",
                 e->msg);
        return 0;
    case VERDICT_AUTH:
        e->kind = ERR_AUTH;
        return -1;
    case VERDICT_UNAVAILABLE:
        e->kind = ERR_UNAVAILABLE;
        return -1;
    case VERDICT_ERROR:
        break;
    }
    e->kind = ERR_HTTP;
    return -1;
}

/* parse_page on a response; the records' text moves into pg when they are the body's. */
static int parse_response(table_run *t, table_ctx *ctx, http_response *resp, page *pg,
                          sync_error *e)
{
    memset(pg, 0, sizeof(*pg));
    pg->bookmark_cap_ms = CRM_TIME_NONE;
    if (ctx->table->parse_page(ctx, resp, pg, e->msg, sizeof(e->msg))) {
        e->kind = ERR_PARSE;
        page_clear(pg);
        return -1;
    }
    atomic_store(&t->sr->authenticated, 1);
    if (pg->raw_from_response) { /* the records are the body's text: keep it */
        buf_free(&pg->raw);
        pg->raw = resp->body;
        buf_init(&resp->body);
    }
    return 0;
}

static fetch_result fetch_response(table_run *t, http_client *http, table_ctx *ctx,
                                   const http_request *req, http_response *resp, page *pg,
                                   int64_t *resume_at, sync_error *e)
{
    http_result hr =
        http_client_execute(http, req, resp, &t->sr->stop, resume_at, e->msg, sizeof(e->msg));
    if (resp->attempts > 1)
        atomic_fetch_add(&t->m.retries, resp->attempts - 1);
    atomic_fetch_add(&t->m.rate_wait_ms, (long)resp->wait_ms);
    if (hr == HTTP_STOPPED)
        return FETCH_STOPPED;
    if (hr == HTTP_BUDGET) {
        char when[40];
        crm_time_format(*resume_at, when, sizeof(when));
        sync_error_set(e, ERR_HTTP, "API budget spent until %s", when);
        return FETCH_BUDGET;
    }
    if (hr != HTTP_OK) {
        e->kind = ERR_TRANSPORT; /* the client's message says why */
        return FETCH_FAILED;
    }
    if (ctx->confirm && (resp->status == 404 || resp->status == 410))
        return FETCH_GONE;
    if ((resp->status < 200 || resp->status > 299) && judge_status(t, ctx, req, resp, e))
        return FETCH_FAILED;
    return parse_response(t, ctx, resp, pg, e) ? FETCH_FAILED : FETCH_OK;
}

fetch_result page_fetch(table_run *t, http_client *http, table_ctx *ctx, const http_request *req,
                        page *pg, buf *spare_body, int64_t *resume_at, sync_error *e)
{
    http_response resp;
    http_response_init(&resp);
    if (spare_body && spare_body->cap) { /* the last page's buffer: already the size of a page */
        resp.body = *spare_body;
        buf_init(spare_body);
        buf_reset(&resp.body);
    }
    int64_t at = 0;
    log_set_request_id(atomic_fetch_add(&request_ids, 1) + 1);
    fetch_result r = fetch_response(t, http, ctx, req, &resp, pg, resume_at ? resume_at : &at, e);
    http_response_free(&resp);
    return r;
}
