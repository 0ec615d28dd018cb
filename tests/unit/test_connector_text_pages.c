/* test_connector_text_pages.c — the pages whose records a connector picks out of the response
 * as text (connector_raw_add) rather than handing one array of the body as is: the records the
 * engine gets (page_records), and what the connector reads of the others (deletes, upserts),
 * must be what the jansson pages held before. Crafted responses, no simulator: the cases the
 * simulators rarely serve (a deal deleted in the page, a subfield row, an escaped dealChange,
 * flow rows older than the window, an inactive membership). */
#include "../fuzz/fuzz_sources.h"
#include "check.h"
#include "crm_time.h"
#include "log.h"

static fuzz_sources fs;

static source *source_of(const char *connector_name)
{
    for (int k = 0; k < fs.n; k++)
        if (strcmp(source_connector(fs.src[k])->name, connector_name) == 0)
            return fs.src[k];
    return NULL;
}

typedef struct parsed {
    int rc;
    json_t *records; /* page_records: what the engine publishes */
    int text;        /* the records came as text (no jansson records) */
    page pg;
} parsed;

/* parse_page of table `tname` of connector `cname` on a 200 answer `body`, with ctx->paging
 * `paging` (JSON text) and from_ms. */
static parsed parse(const char *cname, const char *tname, const char *paging, int64_t from_ms,
                    const char *body)
{
    parsed p;
    memset(&p, 0, sizeof(p));
    source *src = source_of(cname);
    const table_def *t = src ? connector_table(source_connector(src), tname) : NULL;
    CHECK(t != NULL);
    if (!t) {
        p.rc = -1;
        return p;
    }
    http_response resp;
    http_response_init(&resp);
    buf_append_str(&resp.body, body);
    resp.status = 200;
    table_ctx ctx = {src, t, from_ms, now_wall_ms(), CRM_TIME_NONE, json_loads(paging, 0, NULL),
                     0,   0, 0};
    char err[256];
    p.pg.bookmark_cap_ms = CRM_TIME_NONE;
    p.rc = t->parse_page(&ctx, &resp, &p.pg, err, sizeof(err));
    if (p.rc)
        fprintf(stderr, "text_pages: %s.%s: %s\n", cname, tname, err);
    p.records = p.rc ? NULL : page_records(&resp, &p.pg);
    p.text = p.pg.raw_len > 0 && json_array_size(p.pg.records) == 0;
    json_decref(ctx.paging);
    http_response_free(&resp);
    return p;
}

static void parsed_free(parsed *p)
{
    json_decref(p->records);
    page_clear(&p->pg);
}

/* The records are exactly `want` (JSON text), handed as text. */
static void check_records(const parsed *p, const char *what, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    int same = p->rc == 0 && json_equal(p->records, w);
    CHECK(same);
    CHECK(p->text);
    if (!same) {
        char *got = p->records ? json_dumps(p->records, JSON_COMPACT) : NULL;
        fprintf(stderr, "text_pages: %s: got %s\n  want %s\n", what, got ? got : "(none)", want);
        free(got);
    }
    json_decref(w);
}

#define LIVE1                                                                                      \
    "{\"id\":1,\"title\":\"a\",\"status\":\"open\",\"update_time\":\"2026-01-02T03:04:05Z\"}"
#define GONE2                                                                                      \
    "{\"id\":2,\"title\":\"b\",\"status\":\"deleted\",\"update_time\":\"2026-01-02T03:04:06Z\"}"
#define LIVE3                                                                                      \
    "{\"id\":3,\"title\":\"c\\u00e9\",\"status\":\"won\",\"update_time\":\"2026-01-02T03:04:"      \
    "07Z\"}"
#define GONE4                                                                                      \
    "{\"id\":4,\"title\":\"d\",\"is_deleted\":true,\"update_time\":\"2026-01-02T03:04:08Z\"}"

/* Pipedrive deals: the live deals stay text, the deleted ones become deletes with their image. */
static void test_pipedrive_deals_split(void)
{
    parsed p = parse("pipedrive", "deals", "{}", CRM_TIME_NONE,
                     "{\"success\":true,\"data\":[" LIVE1 "," GONE2 "," LIVE3 "," GONE4
                     "],\"additional_data\":{\"next_cursor\":null}}");
    check_records(&p, "deals", "[" LIVE1 "," LIVE3 "]");
    json_t *want = json_pack("[{s:s, s:i, s:o}, {s:s, s:i, s:o}]", "table", "deals", "id", 2,
                             "before", json_loads(GONE2, 0, NULL), "table", "deals", "id", 4,
                             "before", json_loads(GONE4, 0, NULL));
    CHECK(json_equal(p.pg.deletes, want));
    json_decref(want);
    parsed_free(&p);
    /* a page of live deals only is the body's array itself */
    p = parse("pipedrive", "deals", "{}", CRM_TIME_NONE,
              "{\"success\":true,\"data\":[" LIVE1 "],\"additional_data\":{}}");
    check_records(&p, "live deals", "[" LIVE1 "]");
    CHECK(p.pg.raw_from_response);
    CHECK(json_array_size(p.pg.deletes) == 0);
    parsed_free(&p);
}

/* Pipedrive *Fields: subfield rows (no integer id) are not records. */
static void test_pipedrive_fields_subfields(void)
{
    parsed p = parse("pipedrive", "deal_fields", "{}", CRM_TIME_NONE,
                     "{\"success\":true,\"data\":[{\"id\":12,\"key\":\"title\"},"
                     "{\"id\":null,\"key\":\"addr_street\",\"parent_id\":13},{\"id\":13,\"key\":"
                     "\"addr\"}],\"additional_data\":{\"pagination\":{\"more_items_in_collection\":"
                     "false}}}");
    check_records(&p, "deal_fields",
                  "[{\"id\":12,\"key\":\"title\"},{\"id\":13,\"key\":\"addr\"}]");
    parsed_free(&p);
}

/* Pipedrive dealflow: the data of each dealChange item dated in the window, nothing else. */
static void test_pipedrive_dealflow(void)
{
    int64_t from;
    CHECK(crm_time_parse("2026-03-01T00:00:00Z", &from) == 0);
    parsed p = parse(
        "pipedrive", "dealflow", "{\"queue\":[7]}", from,
        "{\"success\":true,\"data\":["
        "{\"object\":\"dealChange\",\"data\":{\"id\":1,\"item_id\":7,\"log_time\":\"2026-03-02 "
        "10:00:00\",\"new_value\":\"x\"}},"
        "{\"object\":\"dealChange\",\"data\":{\"id\":2,\"item_id\":7,\"log_time\":\"2026-02-01 "
        "10:00:00\"}},"
        "{\"object\":\"note\",\"data\":{\"id\":3,\"content\":\"n\"}},"
        "{\"object\":\"dealChang\\u0065\",\"data\":{\"id\":4,\"item_id\":7,\"log_time\":\"2026-03-"
        "02 11:00:00\"}},"
        "{\"object\":\"dealChange\",\"data\":null}],"
        "\"additional_data\":{\"pagination\":{\"more_items_in_collection\":false}}}");
    check_records(&p, "dealflow",
                  "[{\"id\":1,\"item_id\":7,\"log_time\":\"2026-03-02 10:00:00\",\"new_value\":"
                  "\"x\"},{\"id\":4,\"item_id\":7,\"log_time\":\"2026-03-02 11:00:00\"}]");
    parsed_free(&p);
    /* a flow answering "data": null has no rows */
    p = parse("pipedrive", "dealflow", "{\"queue\":[7]}", from,
              "{\"success\":true,\"data\":null,\"additional_data\":{}}");
    CHECK(p.rc == 0 && json_array_size(p.records) == 0);
    parsed_free(&p);
}

#define ORG                                                                                        \
    "{\"id\":\"orga_1\",\"name\":\"Acme\",\"memberships\":[{\"id\":\"mem_1\",\"user_id\":\"u1\"}," \
    "{\"id\":\"mem_2\",\"user_id\":\"u2\"}],\"inactive_memberships\":[{\"id\":\"mem_3\"}]}"

/* Close organization and memberships: the organization itself; its active then inactive
 * memberships. */
static void test_close_organization(void)
{
    parsed p = parse("close", "organization", "{\"org_id\":\"orga_1\"}", CRM_TIME_NONE, ORG);
    check_records(&p, "organization", "[" ORG "]");
    parsed_free(&p);
    p = parse("close", "memberships", "{\"org_id\":\"orga_1\"}", CRM_TIME_NONE, ORG);
    check_records(&p, "memberships",
                  "[{\"id\":\"mem_1\",\"user_id\":\"u1\"},{\"id\":\"mem_2\",\"user_id\":\"u2\"},"
                  "{\"id\":\"mem_3\"}]");
    parsed_free(&p);
    p = parse("close", "memberships", "{\"org_id\":\"orga_1\"}", CRM_TIME_NONE,
              "{\"id\":\"orga_1\",\"memberships\":[1]}");
    CHECK(p.rc == -1); /* a membership that is not an object */
    parsed_free(&p);
}

/* Close event log: every event is a record (text); deleted and merged events make deletes. */
static void test_close_event_log(void)
{
    const char *events =
        "[{\"id\":\"ev_1\",\"action\":\"deleted\",\"object_type\":\"lead\",\"object_id\":\"lead_"
        "a\",\"date_updated\":\"2026-03-01T00:00:00Z\"},"
        "{\"id\":\"ev_2\",\"action\":\"updated\",\"object_type\":\"lead\",\"object_id\":\"lead_b\"}"
        ","
        "{\"id\":\"ev_3\",\"action\":\"merg\\u0065d\",\"object_type\":\"lead\",\"object_id\":"
        "\"lead_c\",\"meta\":{\"merge_source_lead_id\":\"lead_d\"}}]";
    char body[1024];
    snprintf(body, sizeof(body), "{\"data\":%s,\"cursor_next\":null}", events);
    parsed p = parse("close", "event_log", "{}", CRM_TIME_NONE, body);
    check_records(&p, "event_log", events);
    json_t *want = json_pack("[{s:s, s:s, s:s}, {s:s, s:s}]", "table", "leads", "id", "lead_a",
                             "ts", "2026-03-01T00:00:00Z", "table", "leads", "id", "lead_d");
    CHECK(json_equal(p.pg.deletes, want));
    if (!json_equal(p.pg.deletes, want)) {
        char *got = json_dumps(p.pg.deletes, JSON_COMPACT);
        fprintf(stderr, "text_pages: event_log deletes %s\n", got ? got : "(none)");
        free(got);
    }
    json_decref(want);
    parsed_free(&p);
}

/* Copper GET /account: one object, the table's one record. */
static void test_copper_account(void)
{
    parsed p = parse("copper", "account", "{}", CRM_TIME_NONE,
                     " {\"id\":17,\"name\":\"Acme\",\"settings\":{\"setting_team_permissions_"
                     "enabled\":false}}\n");
    check_records(&p, "account",
                  "[{\"id\":17,\"name\":\"Acme\",\"settings\":{\"setting_team_permissions_"
                  "enabled\":false}}]");
    parsed_free(&p);
    p = parse("copper", "account", "{}", CRM_TIME_NONE, "{\"id\":17,");
    CHECK(p.rc == -1);
    parsed_free(&p);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    fuzz_sources_init_pages(&fs, NULL, 25);
    test_pipedrive_deals_split();
    test_pipedrive_fields_subfields();
    test_pipedrive_dealflow();
    test_close_organization();
    test_close_event_log();
    test_copper_account();
    fuzz_sources_free(&fs);
    return check_summary("connector_text_pages");
}
