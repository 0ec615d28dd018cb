/* test_connector_tables.c — the pure parts of the Close, Pipedrive and Copper connectors as
 * tables of cases, reached only through the registry (connector_find / connector_table and the
 * table_def callbacks), never through a connector's internal symbols:
 *   - every table of every connector: the first request of a pass is a GET/POST under the
 *     source's base URL, and a 2xx page that is not JSON is an error naming it;
 *   - request cases: bookmark / paging state in -> method, path, query and body out;
 *   - page cases: paging state and page text in -> records, deletes, ids, the paging state
 *     after it, what the next request is (another page, or the end of the listing) and errors.
 * DUMP=1 prints what each case produced (to write a new case). */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "connector.h"
#include "crm_time.h"
#include "source.h"

/* ---- sources --------------------------------------------------------------------------------- */

typedef struct opened {
    crm_config *cfg;
    source *src;
} opened;

/* One source of connector `type` at base_url http://sim with `options` (libconfig text). */
static opened source_open(const char *type, const char *options)
{
    opened o = {0};
    char path[64], text[1024], err[512] = "";
    snprintf(path, sizeof(path), "/tmp/crmstream-tables-%d.cfg", (int)getpid());
    snprintf(text, sizeof(text),
             "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
             "sources = ( { type = \"%s\"; name = \"src\"; base_url = \"http://sim\";\n"
             "  options = { %s }; } );\n",
             type, options);
    setenv("CLOSE_API_KEY", "unit-secret", 1);
    setenv("PIPEDRIVE_API_TOKEN", "unit-secret", 1);
    setenv("COPPER_API_KEY", "unit-secret", 1);
    FILE *f = fopen(path, "w");
    if (!f)
        return o;
    fputs(text, f);
    fclose(f);
    o.cfg = config_load(path, err, sizeof(err));
    unlink(path);
    if (!o.cfg)
        fprintf(stderr, "config: %s\n", err);
    o.src = o.cfg ? source_new(&o.cfg->sources[0], err, sizeof(err)) : NULL;
    if (o.cfg && !o.src)
        fprintf(stderr, "source: %s\n", err);
    CHECK(o.src != NULL);
    return o;
}

static void source_close(opened *o)
{
    source_free(o->src);
    config_free(o->cfg);
    memset(o, 0, sizeof(*o));
}

static const char *options_of(const char *type)
{
    if (strcmp(type, "copper") == 0)
        return "user_email = \"ops@example.com\"; page_size = 3;";
    if (strcmp(type, "pipedrive") == 0)
        return "page_size = 3;";
    return "page_size = 3; search_page_size = 3; opportunity_page_size = 3; "
           "task_page_size = 3; activity_page_size = 3; event_page_size = 3;";
}

/* ---- one step: a request, or a page -------------------------------------------------------- */

static void ctx_init(table_ctx *ctx, source *src, const table_def *t, int64_t bookmark_ms,
                     json_t *paging)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->src = src;
    ctx->table = t;
    ctx->bookmark_ms = bookmark_ms;
    ctx->from_ms = bookmark_ms == CRM_TIME_NONE || t->method == SYNC_FULL_TABLE
                       ? CRM_TIME_NONE
                       : bookmark_ms - (int64_t)t->lookback_seconds * 1000;
    ctx->until_ms = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    ctx->paging = paging;
}

/* The request's method, path+query (without the base URL) and body, as text. */
typedef struct shown_request {
    req_result r;
    char method[8];
    char url[1024];
    char body[1024];
    char err[256];
} shown_request;

static void show_request(table_ctx *ctx, shown_request *out)
{
    http_request req;
    http_request_init(&req);
    memset(out, 0, sizeof(*out));
    out->r = ctx->table->next_request(ctx, &req, out->err, sizeof(out->err));
    if (out->r == REQ_READY) {
        const char *url = req.url.data ? req.url.data : "";
        const char *base = source_base_url(ctx->src);
        int under = strncmp(url, base, strlen(base)) == 0;
        CHECK(under);
        snprintf(out->method, sizeof(out->method), "%s", req.method ? req.method : "GET");
        snprintf(out->url, sizeof(out->url), "%s", under ? url + strlen(base) : url);
        snprintf(out->body, sizeof(out->body), "%.*s", (int)req.body.len,
                 req.body.data ? req.body.data : "");
    }
    http_request_free(&req);
}

static const char *result_name(req_result r)
{
    return r == REQ_READY ? "READY" : r == REQ_DONE ? "DONE" : "ERROR";
}

/* ---- every table ------------------------------------------------------------------------------
 */

static int tables_seen;

static void test_every_table(const char *type)
{
    const connector *c = connector_find(type);
    CHECK(c != NULL);
    if (!c)
        return;
    opened o = source_open(type, options_of(type));
    if (!o.src)
        return;
    for (size_t i = 0; i < c->n_tables; i++) {
        const table_def *t = &c->tables[i];
        CHECK(connector_table(c, t->name) == t);
        CHECK(t->next_request != NULL && t->parse_page != NULL);
        table_ctx ctx;
        json_t *paging = json_object();
        ctx_init(&ctx, o.src, t, CRM_TIME_NONE, paging);
        shown_request sr;
        show_request(&ctx, &sr);
        if (getenv("DUMP"))
            printf("%s.%s first: %s %s %s body=%s err=%s\n", type, t->name, result_name(sr.r),
                   sr.method, sr.url, sr.body, sr.err);
        CHECK(sr.r == REQ_READY);
        CHECK(strcmp(sr.method, "GET") == 0 || strcmp(sr.method, "POST") == 0);
        CHECK(sr.url[0] == '/');
        /* A 2xx answer that is not JSON fails the page with a message that says so. */
        http_response resp;
        http_response_init(&resp);
        resp.status = 200;
        buf_append_str(&resp.body, "<html>maintenance</html>");
        page pg;
        memset(&pg, 0, sizeof(pg));
        char err[256] = "";
        int rc = t->parse_page(&ctx, &resp, &pg, err, sizeof(err));
        if (getenv("DUMP"))
            printf("%s.%s not json: rc=%d err=%s\n", type, t->name, rc, err);
        CHECK(rc == -1);
        CHECK(err[0] != '\0');
        page_clear(&pg);
        http_response_free(&resp);
        json_decref(paging);
        tables_seen++;
    }
    source_close(&o);
}

/* ---- scripted passes ------------------------------------------------------------------------ */

/* One page answered to the previous request, and what must follow from it. */
typedef struct step {
    const char *body;          /* the page text */
    long status;               /* 0: 200 */
    const char *header;        /* one response header ("name: value"), or NULL */
    int rc;                    /* parse_page's return */
    const char *err;           /* rc -1: a part of the error */
    int records, deletes, ids; /* counts in the page (checked when rc is 0) */
    const char *paging;        /* members the paging state must now have (JSON object), or NULL */
    int64_t cap_ms;            /* the page's bookmark cap (0: not checked) */
    req_result next;           /* what next_request answers after this page */
    const char *next_has[4];   /* parts of "METHOD URL BODY" of that request */
    const char *next_lacks;    /* a part it must not have, or NULL */
} step;

typedef struct script {
    const char *name; /* what the case shows */
    const char *type, *table;
    int64_t bookmark_ms; /* 0: none */
    const char *paging;  /* the paging state at the start (NULL: {}) */
    int reconcile;
    const char *first_has[4];
    const char *first_lacks;
    const char *first_error; /* the first request fails with this, or NULL */
    step steps[5];
} script;

static void request_text(const shown_request *sr, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s %s %s", sr->method, sr->url, sr->body);
}

static void check_has(const script *sc, int step_no, const char *text, const char *const *has,
                      const char *lacks)
{
    for (int i = 0; i < 4 && has[i]; i++)
        if (!strstr(text, has[i])) {
            check_failed++;
            fprintf(stderr, "%s (%s.%s) step %d: request \"%s\" lacks \"%s\"\n", sc->name, sc->type,
                    sc->table, step_no, text, has[i]);
        } else {
            check_passed++;
        }
    if (lacks && strstr(text, lacks)) {
        check_failed++;
        fprintf(stderr, "%s (%s.%s) step %d: request \"%s\" has \"%s\"\n", sc->name, sc->type,
                sc->table, step_no, text, lacks);
    }
}

/* Every member of `want` (JSON object text) is equal in the paging state. */
static void check_paging(const script *sc, int step_no, const json_t *paging, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    CHECK(w != NULL);
    const char *k;
    json_t *v;
    json_object_foreach(w, k, v)
    {
        json_t *got = json_object_get(paging, k);
        if ((json_is_null(v) && !got) || (got && json_equal(got, v))) {
            check_passed++;
            continue;
        }
        char *text = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
        check_failed++;
        fprintf(stderr, "%s (%s.%s) step %d: paging.%s is %s, not as in %s\n", sc->name, sc->type,
                sc->table, step_no, k, text ? text : "(absent)", want);
        free(text);
    }
    json_decref(w);
}

static int count_of(const json_t *a)
{
    return (int)json_array_size(a);
}

static void check_count(const script *sc, int step_no, const char *what, int got, int want)
{
    if (got == want) {
        check_passed++;
        return;
    }
    check_failed++;
    fprintf(stderr, "%s (%s.%s) step %d: %d %s, want %d\n", sc->name, sc->type, sc->table, step_no,
            got, what, want);
}

static void run_script(const script *sc)
{
    const connector *c = connector_find(sc->type);
    const table_def *t = c ? connector_table(c, sc->table) : NULL;
    CHECK(t != NULL);
    if (!t)
        return;
    opened o = source_open(sc->type, options_of(sc->type));
    if (!o.src)
        return;
    json_t *paging = sc->paging ? json_loads(sc->paging, 0, NULL) : json_object();
    table_ctx ctx;
    ctx_init(&ctx, o.src, t, sc->bookmark_ms ? sc->bookmark_ms : CRM_TIME_NONE, paging);
    ctx.reconcile = sc->reconcile;
    shown_request sr;
    char text[2200];
    show_request(&ctx, &sr);
    request_text(&sr, text, sizeof(text));
    if (getenv("DUMP"))
        printf("== %s (%s.%s)\n  first: %s %s %s\n", sc->name, sc->type, sc->table,
               result_name(sr.r), text, sr.err);
    if (sc->first_error) {
        CHECK(sr.r == REQ_ERROR);
        CHECK_CONTAINS(sr.err, sc->first_error);
    } else {
        CHECK(sr.r == REQ_READY);
        check_has(sc, 0, text, sc->first_has, sc->first_lacks);
    }
    for (int i = 0; i < 5 && sc->steps[i].body; i++) {
        const step *st = &sc->steps[i];
        http_response resp;
        http_response_init(&resp);
        resp.status = st->status ? st->status : 200;
        buf_append_str(&resp.body, st->body);
        if (st->header) {
            resp.headers = malloc(sizeof(char *));
            resp.headers[0] = strdup(st->header);
            resp.n_headers = 1;
        }
        page pg;
        memset(&pg, 0, sizeof(pg));
        pg.bookmark_cap_ms = CRM_TIME_NONE;
        char err[512] = "";
        int rc = t->parse_page(&ctx, &resp, &pg, err, sizeof(err));
        /* the page's records whichever way parse_page handed them (jansson or raw text) */
        json_t *records = rc == 0 ? page_records(&resp, &pg) : NULL;
        http_response_free(&resp);
        ctx.page_no++;
        if (getenv("DUMP")) {
            char *p = json_dumps(paging, JSON_COMPACT);
            printf("  page %d: rc=%d err=%s records=%d deletes=%d ids=%d cap=%lld paging=%s\n",
                   i + 1, rc, err, count_of(records), count_of(pg.deletes), count_of(pg.ids),
                   (long long)pg.bookmark_cap_ms, p);
            free(p);
        }
        if (rc != st->rc) {
            check_failed++;
            fprintf(stderr, "%s (%s.%s) step %d: parse_page %d (%s), want %d\n", sc->name, sc->type,
                    sc->table, i + 1, rc, err, st->rc);
        } else {
            check_passed++;
        }
        if (st->err)
            CHECK_CONTAINS(err, st->err);
        if (rc == 0) {
            check_count(sc, i + 1, "records", count_of(records), st->records);
            check_count(sc, i + 1, "deletes", count_of(pg.deletes), st->deletes);
            check_count(sc, i + 1, "ids", count_of(pg.ids), st->ids);
        }
        if (st->cap_ms)
            CHECK(pg.bookmark_cap_ms == st->cap_ms);
        if (st->paging)
            check_paging(sc, i + 1, paging, st->paging);
        page_clear(&pg);
        json_decref(records);
        if (rc != 0)
            break;
        show_request(&ctx, &sr);
        request_text(&sr, text, sizeof(text));
        if (getenv("DUMP"))
            printf("  next: %s %s %s\n", result_name(sr.r), text, sr.err);
        if (sr.r != st->next) {
            check_failed++;
            fprintf(stderr, "%s (%s.%s) step %d: next request %s (%s), want %s\n", sc->name,
                    sc->type, sc->table, i + 1, result_name(sr.r), sr.err, result_name(st->next));
        } else {
            check_passed++;
        }
        if (sr.r == REQ_READY)
            check_has(sc, i + 1, text, st->next_has, st->next_lacks);
    }
    json_decref(paging);
    source_close(&o);
}

/* ---- the cases ---------------------------------------------------------------------------- */

#define BM 1767139200000LL /* a committed bookmark: 2025-12-31T00:00:00Z */
#define CL3                                                                                        \
    "{\"data\":[{\"id\":\"a\",\"date_updated\":\"2025-12-31T00:00:01Z\"},"                         \
    "{\"id\":\"b\",\"date_updated\":\"2025-12-31T00:00:02Z\"},"                                    \
    "{\"id\":\"c\",\"date_updated\":\"2025-12-31T00:00:03Z\"}],\"has_more\":true}"
#define CL_TIE3                                                                                    \
    "{\"data\":[{\"id\":\"a\",\"date_updated\":\"2025-12-31T00:00:01Z\"},"                         \
    "{\"id\":\"b\",\"date_updated\":\"2025-12-31T00:00:01Z\"},"                                    \
    "{\"id\":\"c\",\"date_updated\":\"2025-12-31T00:00:01Z\"}],\"cursor\":\"CUR1\"}"
#define CL_EVENTS                                                                                  \
    "{\"data\":[{\"id\":\"ev1\",\"object_type\":\"lead\",\"object_id\":\"lead_1\",\"action\":"     \
    "\"deleted\",\"date_updated\":\"2025-12-31T00:00:05Z\",\"previous_data\":{\"id\":\"lead_1\"}}" \
    ","                                                                                            \
    "{\"id\":\"ev2\",\"object_type\":\"lead\",\"object_id\":\"lead_2\",\"action\":\"updated\","    \
    "\"date_updated\":\"2025-12-31T00:00:06Z\"}],\"cursor_next\":\"N1\"}"
#define PD_V2_2                                                                                    \
    "{\"success\":true,\"data\":[{\"id\":1,\"update_time\":\"2025-12-31T00:00:01Z\"},"             \
    "{\"id\":2,\"update_time\":\"2025-12-31T00:00:02Z\"}],"                                        \
    "\"additional_data\":{\"next_cursor\":\"NX\"}}"
#define PD_V2_END "{\"success\":true,\"data\":[],\"additional_data\":{\"next_cursor\":null}}"
#define PD_V1_3                                                                                    \
    "{\"success\":true,\"data\":[{\"id\":1,\"update_time\":\"2025-12-31 00:00:01\"},"              \
    "{\"id\":2,\"update_time\":\"2025-12-31 00:00:02\"},"                                          \
    "{\"id\":3,\"update_time\":\"2025-12-31 00:00:03\"}],\"additional_data\":{\"pagination\":"     \
    "{\"start\":0,\"limit\":3,\"more_items_in_collection\":true,\"next_start\":3}}}"
#define PD_V1_END                                                                                  \
    "{\"success\":true,\"data\":null,\"additional_data\":{\"pagination\":"                         \
    "{\"more_items_in_collection\":false}}}"
#define PD_DEALS                                                                                   \
    "{\"success\":true,\"data\":[{\"id\":11,\"update_time\":\"2025-12-31T00:00:01Z\"},"            \
    "{\"id\":12,\"update_time\":\"2025-12-31T00:00:02Z\"}],"                                       \
    "\"additional_data\":{\"next_cursor\":null}}"
#define CU3                                                                                        \
    "[{\"id\":1,\"date_modified\":1767139201},{\"id\":2,\"date_modified\":1767139202},"            \
    "{\"id\":3,\"date_modified\":1767139203}]"

static const script CASES[] = {
    /* ---- Close ---- */
    {.name = "full list: offset pages until has_more is false",
     .type = "close",
     .table = "users",
     .first_has = {"GET /user/?", "_skip=0", "_limit=3"},
     .steps = {{.body = CL3,
                .records = 3,
                .paging = "{\"skip\":3}",
                .next = REQ_READY,
                .next_has = {"_skip=3", "_limit=3"}},
               {.body = "{\"data\":[{\"id\":\"d\"}],\"has_more\":false}",
                .records = 1,
                .paging = "{\"skip\":4}",
                .next = REQ_DONE}}},
    {.name = "full list: an empty page ends it even when has_more says otherwise",
     .type = "close",
     .table = "roles",
     .first_has = {"GET /role/?"},
     .steps = {{.body = "{\"data\":[],\"has_more\":true}", .next = REQ_DONE}}},
    {.name = "full list: a page without data is an error",
     .type = "close",
     .table = "users",
     .first_has = {"/user/"},
     .steps = {{.body = "{\"has_more\":false}", .rc = -1, .err = "data"}}},
    {.name = "full list: resumed from a stored offset",
     .type = "close",
     .table = "pipelines",
     .paging = "{\"skip\":6}",
     .first_has = {"/pipeline/?", "_skip=6"}},
    {.name = "offset list from the bookmark: date_updated__gte = bookmark - lookback",
     .type = "close",
     .table = "opportunities",
     .bookmark_ms = BM,
     .first_has = {"GET /opportunity/?", "date_updated__gte=2025-12-30T23%3A59%3A00",
                   "_order_by=date_updated"},
     .steps = {{.body = CL3,
                .records = 3,
                .paging = "{\"anchor_ms\":1767139203000,\"skip\":0}",
                .next = REQ_READY,
                .next_has = {"date_updated__gte=2025-12-31T00%3A00%3A03", "_skip=0"}},
               {.body = "{\"data\":[],\"has_more\":false}", .next = REQ_DONE}}},
    {.name = "offset list: paging past max_skip is refused",
     .type = "close",
     .table = "tasks",
     .paging = "{\"anchor_ms\":1767139200000,\"skip\":249999}",
     .first_error = "refusing to page past max_skip"},
    {.name = "search: the first query, then a fresh query from the page's highest key",
     .type = "close",
     .table = "leads",
     .bookmark_ms = BM,
     .first_has = {"POST /data/search/", "\"on_or_after\"", "\"_limit\":3"},
     .first_lacks = "cursor",
     .steps = {{.body = CL3,
                .records = 3,
                .paging = "{\"anchor_ms\":1767139203000}",
                .next = REQ_READY,
                .next_has = {"POST /data/search/", "\"value\":\"2025-12-31T00:00:03.000Z\""},
                .next_lacks = "cursor"},
               {.body = "{\"data\":[],\"cursor\":null}", .next = REQ_DONE}}},
    {.name = "search: a page that is one tie is walked with the cursor",
     .type = "close",
     .table = "contacts",
     .first_has = {"POST /data/search/"},
     .steps = {{.body = CL_TIE3,
                .records = 3,
                .paging = "{\"cursor\":\"CUR1\",\"anchor_ms\":1767139201000,\"walk\":3}",
                .next = REQ_READY,
                .next_has = {"\"cursor\":\"CUR1\""}}}},
    {.name = "search: a page without data is an error",
     .type = "close",
     .table = "leads",
     .steps = {{.body = "{\"cursor\":null}", .rc = -1, .err = "data"}}},
    {.name = "search, reconciliation: asks for the ids and the sort key only",
     .type = "close",
     .table = "leads",
     .reconcile = 1,
     .first_has = {"\"_fields\":{\"lead\":[\"id\",\"date_updated\"]}"},
     .steps = {{.body = "{\"data\":[{\"id\":\"a\",\"date_updated\":\"2025-12-31T00:00:01Z\"}],"
                        "\"cursor\":null}",
                .records = 1,
                .next = REQ_READY},
               {.body = "{\"data\":[],\"cursor\":null}", .next = REQ_DONE}}},
    {.name = "event log: deletes, the bookmark capped at now - event_lag, the cursor",
     .type = "close",
     .table = "event_log",
     .bookmark_ms = BM,
     .first_has = {"GET /event/?", "date_updated__gte=2025-12-31T00%3A00%3A00", "_limit=3"},
     .steps = {{.body = CL_EVENTS,
                .records = 2,
                .deletes = 1,
                .paging = "{\"cursor\":\"N1\"}",
                .cap_ms = 1767225600000LL - 300000,
                .next = REQ_READY,
                .next_has = {"_cursor=N1"}},
               {.body = "{\"data\":[],\"cursor_next\":null}", .next = REQ_DONE}}},
    {.name = "event log: 400 (no access) ends the table quietly",
     .type = "close",
     .table = "event_log",
     .first_has = {"/event/"},
     .steps = {{.body = "{\"error\":\"not allowed\"}", .status = 400, .next = REQ_DONE}}},
    {.name = "organization: /me/ first, then the organization",
     .type = "close",
     .table = "organization",
     .first_has = {"GET /me/"},
     .steps = {{.body = "{\"id\":\"user_1\",\"organizations\":[\"orga_1\"]}",
                .paging = "{\"org_id\":\"orga_1\"}",
                .next = REQ_READY,
                .next_has = {"GET /organization/orga_1/"}},
               {.body = "{\"id\":\"orga_1\",\"name\":\"Acme\"}", .records = 1, .next = REQ_DONE}}},
    {.name = "organization: /me/ without an organization is an error",
     .type = "close",
     .table = "organization",
     .first_has = {"GET /me/"},
     .steps = {{.body = "{\"id\":\"user_1\",\"organizations\":[]}",
                .rc = -1,
                .err = "no organization"}}},
    /* ---- Pipedrive ---- */
    {.name = "v2 list from the bookmark: keyset on updated_since, the cursor unused",
     .type = "pipedrive",
     .table = "persons",
     .bookmark_ms = BM,
     .first_has = {"GET /api/v2/persons?", "updated_since=2025-12-30T23%3A59%3A00Z", "limit=3"},
     .first_lacks = "cursor=",
     .steps = {{.body = PD_V2_2,
                .records = 2,
                .paging = "{\"since\":1767139202000}",
                .next = REQ_READY,
                .next_has = {"updated_since=2025-12-31T00%3A00%3A02Z"},
                .next_lacks = "cursor"},
               {.body = PD_V2_END, .next = REQ_DONE}}},
    {.name = "v2 list: success false is an error",
     .type = "pipedrive",
     .table = "deals",
     .first_has = {"/api/v2/deals?"},
     .steps = {{.body = "{\"success\":false,\"error\":\"boom\"}", .rc = -1}}},
    {.name = "v1 walk: start/limit pages",
     .type = "pipedrive",
     .table = "notes",
     .first_has = {"GET /api/v1/notes?", "start=0", "limit=3"},
     .steps = {{.body = PD_V1_3,
                .records = 3,
                .paging = "{\"walk\":{\"start\":0,\"last_time\":1767139203000,\"step_backs\":0,"
                          "\"last_id\":3,\"since\":1767139203000}}",
                .next = REQ_READY,
                .next_has = {"/api/v1/notes?", "updated_since=2025-12-31T00%3A00%3A03Z",
                             "start=0"}},
               {.body = PD_V1_END, .next = REQ_DONE}}},
    {.name = "v1 single-page list",
     .type = "pipedrive",
     .table = "users",
     .first_has = {"GET /api/v1/users"},
     .steps = {{.body = "{\"success\":true,\"data\":[{\"id\":1,\"modified\":\"2025-12-31 "
                        "00:00:01\"}]}",
                .records = 1,
                .next = REQ_DONE}}},
    {.name = "deal products: the deals, a batch by their ids, then the archived deals",
     .type = "pipedrive",
     .table = "deal_products",
     .first_has = {"GET /api/v2/deals?"},
     .steps = {{.body = PD_DEALS,
                .paging = "{\"queue\":[11,12]}",
                .next = REQ_READY,
                .next_has = {"GET /api/v2/deals/products?", "deal_ids=11%2C12"}},
               {.body = "{\"success\":true,\"data\":[{\"id\":5,\"deal_id\":11}],"
                        "\"additional_data\":{\"next_cursor\":null}}",
                .records = 1,
                .paging = "{\"queue\":[]}",
                .next = REQ_READY,
                .next_has = {"GET /api/v2/deals/archived?"}},
               {.body = PD_V2_END, .next = REQ_DONE}}},
    /* ---- Copper ---- */
    {.name = "search from the bookmark: re-queried from the last page's highest key",
     .type = "copper",
     .table = "companies",
     .bookmark_ms = BM,
     .first_has = {"POST /companies/search", "\"minimum_modified_date\":1767138900",
                   "\"page_number\":1"},
     .steps = {{.body = CU3,
                .header = "x-pw-total: 5",
                .records = 3,
                .paging = "{\"min\":1767139203}",
                .next = REQ_READY,
                .next_has = {"POST /companies/search", "\"minimum_modified_date\":1767139203",
                             "\"page_number\":1"}},
               {.body = "[{\"id\":4,\"date_modified\":1767139204},"
                        "{\"id\":5,\"date_modified\":1767139205}]",
                .header = "x-pw-total: 5",
                .records = 2,
                .next = REQ_DONE}}},
    {.name = "search: a full page inside one second walks that second by date_created",
     .type = "copper",
     .table = "opportunities",
     .first_has = {"POST /opportunities/search"},
     .steps = {{.body = "[{\"id\":1,\"date_modified\":1767139201,\"date_created\":100},"
                        "{\"id\":2,\"date_modified\":1767139201,\"date_created\":200},"
                        "{\"id\":3,\"date_modified\":1767139201,\"date_created\":300}]",
                .header = "x-pw-total: 9",
                .records = 3,
                .paging = "{\"tie\":1767139201}",
                .next = REQ_READY,
                .next_has = {"\"minimum_modified_date\":1767139201",
                             "\"maximum_modified_date\":1767139201",
                             "\"sort_by\":\"date_created\""}}}},
    {.name = "search: an empty first page ends the pass",
     .type = "copper",
     .table = "people",
     .first_has = {"POST /people/search"},
     .steps = {{.body = "[]", .header = "x-pw-total: 0", .next = REQ_DONE}}},
    {.name = "search: an object instead of the array is an error",
     .type = "copper",
     .table = "tasks",
     .first_has = {"POST /tasks/search"},
     .steps = {{.body = "{\"success\":false}", .rc = -1}}},
    {.name = "account: one object, one record",
     .type = "copper",
     .table = "account",
     .first_has = {"GET /account"},
     .steps = {{.body = "{\"id\":7,\"name\":\"Acme\"}", .records = 1, .next = REQ_DONE}}},
    {.name = "plain list: one page",
     .type = "copper",
     .table = "tags",
     .first_has = {"GET /tags"},
     .steps = {{.body = "[{\"name\":\"vip\"},{\"name\":\"new\"}]",
                .records = 2,
                .next = REQ_DONE}}},
    {.name = "users: pages by page_number",
     .type = "copper",
     .table = "users",
     .first_has = {"POST /users/search", "\"page_number\":1"},
     .steps = {{.body = "[{\"id\":1},{\"id\":2},{\"id\":3}]",
                .records = 3,
                .paging = "{\"page\":2}",
                .next = REQ_READY,
                .next_has = {"\"page_number\":2"}},
               {.body = "[]", .next = REQ_DONE}}},
};

int main(void)
{
    test_every_table("close");
    test_every_table("pipedrive");
    test_every_table("copper");
    CHECK(tables_seen >= 70);
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++)
        run_script(&CASES[i]);
    return check_summary("connector_tables");
}
