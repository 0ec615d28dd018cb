/* page_fetch.h — one page of a table, the one way: the request executed by the HTTP client
 * (retries, rate-limit waits), a non-2xx answer judged by the connector's classify
 * (connector_classify), the body parsed by the table's parse_page. Sync passes, the
 * confirmation of vanished ids and the custom field definitions all read pages through it. */
#ifndef CRM_PAGE_FETCH_H
#define CRM_PAGE_FETCH_H

#include "sync_error.h"
#include "table_run.h"

typedef enum {
    FETCH_OK = 0,  /* pg holds the parsed page */
    FETCH_STOPPED, /* shutdown requested while waiting */
    FETCH_BUDGET,  /* the API budget is spent until *resume_at (wall ms); e says so */
    FETCH_GONE,    /* a confirmation request (ctx->confirm) answered 404/410: none exists */
    FETCH_FAILED,  /* e has the kind (transport, http, auth, unavailable, parse) and message */
} fetch_result;

/* Executes req for table ctx->table of t's source and parses the answer into pg (the caller
 * page_clear()s it). t's metrics count the retries and rate-limit waits. spare_body: NULL, or a
 * page-sized buffer the response reuses (taken). On FETCH_FAILED with kind parse, parse_page may
 * have changed ctx->paging: the caller rewinds it. The request's id stays set for the thread's
 * log lines about it: the caller clears it (log_set_request_id(0)) when done with the page. */
fetch_result page_fetch(table_run *t, http_client *http, table_ctx *ctx, const http_request *req,
                        page *pg, buf *spare_body, int64_t *resume_at, sync_error *e);

#endif
