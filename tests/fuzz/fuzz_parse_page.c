/* fuzz_parse_page.c — every table's parse_page on arbitrary response bodies, as the engine calls
 * it (after the table's next_request or confirm_request set up its paging state), then the
 * records of a raw page walked as the engine walks them. Input: [table][flags][body...];
 * flags: 1 reconcile pass, 2 confirmation request, 4 skip next_request, 8 a 404 the connector
 * classifies as VERDICT_SKIP, 0x30 page number. */
#include <stdint.h>

#include "crm_time.h"
#include "fuzz_sources.h"
#include "json_scan.h"
#include "log.h"

static fuzz_sources fs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level((log_level)(LOG_ERROR + 1)); /* connectors' warnings would slow the fuzzer */
    fuzz_sources_init(&fs, NULL);
    return 0;
}

/* The records of a raw page, one by one, as emit_raw_page reads them: the body's array, or the
 * connector's own text (connector_raw_add). */
static void walk_raw_records(const page *pg, const http_response *resp)
{
    const char *text = pg->raw_from_response ? resp->body.data : pg->raw.data;
    const char *q = text + pg->raw_off, *end = q + pg->raw_len, *v;
    int first, more;
    if (js_array_begin(&q, end, &first))
        return;
    while ((more = js_array_next(&q, end, &first, &v)) == 1)
        if (!(q = js_skip(v, end)))
            return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    source *src = NULL;
    const table_def *t = fuzz_table(&fs, data[0], &src);
    unsigned flags = data[1];
    char err[512];
    table_ctx ctx = {src,
                     t,
                     t->replication_key ? 1700000000000LL : CRM_TIME_NONE,
                     1800000000000LL,
                     (flags & 0x40) ? 1700000000000LL : CRM_TIME_NONE,
                     json_object(),
                     (flags & 1) && t->reconcile,
                     (flags & 2) && t->confirm_request,
                     (int)((flags >> 4) & 3)};
    http_request req;
    http_request_init(&req);
    if (!(flags & 4)) {
        if (ctx.confirm) {
            json_t *ids = json_pack("[s,i]", "id_1", 2);
            t->confirm_request(&ctx, ids, &req, err, sizeof(err));
            json_decref(ids);
        } else {
            t->next_request(&ctx, &req, err, sizeof(err));
        }
    }
    http_response resp;
    http_response_init(&resp);
    resp.status = 200;
    buf_append(&resp.body, data + 2, size - 2);
    if (flags & 8) {
        const connector *c = source_connector(src);
        resp.status = 404;
        if (!c->classify || c->classify(t, &resp) != VERDICT_SKIP)
            resp.status = 200;
    }
    page pg;
    memset(&pg, 0, sizeof(pg));
    pg.bookmark_cap_ms = CRM_TIME_NONE;
    if (t->parse_page(&ctx, &resp, &pg, err, sizeof(err)) == 0 && pg.raw_len > 0)
        walk_raw_records(&pg, &resp);
    page_clear(&pg);
    http_response_free(&resp);
    http_request_free(&req);
    json_decref(ctx.paging);
    return 0;
}
