/* test_copper_paging.c — the Copper connector's paging logic, driven in-process against a small
 * model of Copper's search (filters, sort with a hashed tie order, page 1..n, X-PW-TOTAL) whose
 * records change between page requests: the keyset by re-query on date_modified (and its nested
 * date_created keyset and offset tie levels) must end a pass having read the current version of
 * every record; a tie block of the current second edited while it is drained is read again in
 * the same pass; the activities window and the confirmation requests are checked as requests. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "connector.h"
#include "crm_time.h"
#include "source.h"

/* ---- the model ---------------------------------------------------------------------------- */

#define MAX_RECS 2048

typedef struct mrec {
    long long id, dm, dc, version;
    int alive;
} mrec;

static struct {
    mrec r[MAX_RECS];
    int n;
    long long next_id;
} M;

static long long wall_s(void)
{
    return now_wall_ms() / 1000;
}

static mrec *model_add(long long dm, long long dc)
{
    mrec *r = &M.r[M.n++];
    r->id = ++M.next_id;
    r->dm = dm;
    r->dc = dc;
    r->version = 1;
    r->alive = 1;
    return r;
}

static mrec *model_find(long long id)
{
    for (int i = 0; i < M.n; i++)
        if (M.r[i].id == id && M.r[i].alive)
            return &M.r[i];
    return NULL;
}

static const char *sort_field;

/* The order of equal sort keys: a fixed hash of the id, or (shuffle_ties) a new one for every
 * request, as an API that documents no tie order may do. */
static int shuffle_ties;
static unsigned long long tie_salt;

static unsigned long long tie_hash(long long id)
{
    unsigned long long z = ((unsigned long long)id ^ tie_salt) * 0x9E3779B97F4A7C15ULL;
    return z ^ (z >> 31);
}

static long long sort_value(const mrec *r)
{
    return strcmp(sort_field, "date_created") == 0 ? r->dc : r->dm;
}

static int model_cmp(const void *a, const void *b)
{
    const mrec *x = *(mrec *const *)a, *y = *(mrec *const *)b;
    long long u = sort_value(x), v = sort_value(y);
    if (u != v)
        return u < v ? -1 : 1;
    unsigned long long h = tie_hash(x->id), k = tie_hash(y->id);
    return h < k ? -1 : h > k;
}

static int in_bound(const json_t *body, const char *min_key, const char *max_key, long long v)
{
    const json_t *lo = json_object_get(body, min_key), *hi = json_object_get(body, max_key);
    return (!lo || v >= json_integer_value(lo)) && (!hi || v <= json_integer_value(hi));
}

/* Answers a search body: the page as JSON text, *total the matches. */
static char *model_search(const json_t *body, long long *total)
{
    sort_field = json_string_value(json_object_get(body, "sort_by"));
    if (!sort_field)
        sort_field = "date_modified";
    if (shuffle_ties)
        tie_salt = check_rand();
    mrec **hits = malloc(sizeof(*hits) * (size_t)(M.n + 1));
    int k = 0;
    for (int i = 0; i < M.n; i++) {
        mrec *r = &M.r[i];
        if (r->alive && in_bound(body, "minimum_modified_date", "maximum_modified_date", r->dm) &&
            in_bound(body, "minimum_created_date", "maximum_created_date", r->dc))
            hits[k++] = r;
    }
    qsort(hits, (size_t)k, sizeof(*hits), model_cmp);
    long long page = json_integer_value(json_object_get(body, "page_number"));
    long long size = json_integer_value(json_object_get(body, "page_size"));
    json_t *out = json_array();
    for (long long i = (page - 1) * size; i < k && i < page * size; i++)
        json_array_append_new(out, json_pack("{sIsIsIsI}", "id", hits[i]->id, "date_modified",
                                             hits[i]->dm, "date_created", hits[i]->dc, "version",
                                             hits[i]->version));
    free(hits);
    *total = k;
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return text;
}

/* ---- the connector under test --------------------------------------------------------------- */

static source *src;
static crm_config *cfg;

static void source_open(const char *options)
{
    char path[64], text[1024], err[512] = "";
    snprintf(path, sizeof(path), "/tmp/crmstream-copper-%d.cfg", (int)getpid());
    snprintf(text, sizeof(text),
             "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
             "sources = ( { type = \"copper\"; name = \"cu\"; base_url = \"http://sim/v1\";\n"
             "  options = { user_email = \"ops@example.com\"; %s }; } );\n",
             options);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    setenv("COPPER_API_KEY", "unit-secret", 1);
    cfg = config_load(path, err, sizeof(err));
    unlink(path);
    if (!cfg)
        fprintf(stderr, "config: %s\n", err);
    src = cfg ? source_new(&cfg->sources[0], err, sizeof(err)) : NULL;
    if (cfg && !src)
        fprintf(stderr, "source: %s\n", err);
}

static void source_close(void)
{
    source_free(src);
    config_free(cfg);
    src = NULL;
    cfg = NULL;
}

static const table_def *table(const char *name)
{
    return connector_table(connector_find("copper"), name);
}

static void ctx_init(table_ctx *ctx, const char *name, json_t *paging)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->src = src;
    ctx->table = table(name);
    ctx->from_ms = CRM_TIME_NONE;
    ctx->until_ms = now_wall_ms();
    ctx->bookmark_ms = CRM_TIME_NONE;
    ctx->paging = paging;
}

static void response_set(http_response *resp, int status, const char *body, long long total)
{
    http_response_init(resp);
    resp->status = status;
    buf_append_str(&resp->body, body);
    if (total >= 0) {
        resp->headers = malloc(sizeof(char *));
        resp->headers[0] = malloc(48);
        snprintf(resp->headers[0], 48, "x-pw-total: %lld", total);
        resp->n_headers = 1;
    }
}

/* Between two requests of a pass: what the users of the CRM do. */
typedef void (*mutator)(int request_no, const json_t *last_page);

/* One pass of table `name` from min_modified (or everything when < 0). Records the version of
 * every record read in seen[id]. Returns the number of requests, -1 on a connector error. */
static int run_pass(const char *name, long long page_size_unused, mutator mutate, long long *seen)
{
    (void)page_size_unused;
    table_ctx ctx;
    json_t *paging = json_object(), *last = json_array();
    ctx_init(&ctx, name, paging);
    int requests = 0;
    for (;;) {
        http_request req;
        http_request_init(&req);
        char err[256] = "";
        req_result r = ctx.table->next_request(&ctx, &req, err, sizeof(err));
        if (r != REQ_READY) {
            http_request_free(&req);
            if (r == REQ_ERROR)
                fprintf(stderr, "request: %s\n", err);
            json_decref(paging);
            json_decref(last);
            return r == REQ_DONE ? requests : -1;
        }
        if (mutate)
            mutate(requests, last);
        json_t *body = json_loadb(req.body.data, req.body.len, 0, NULL);
        long long total = 0;
        char *text = model_search(body, &total);
        json_decref(body);
        http_request_free(&req);
        http_response resp;
        response_set(&resp, 200, text, total);
        free(text);
        page pg;
        memset(&pg, 0, sizeof(pg));
        int rc = ctx.table->parse_page(&ctx, &resp, &pg, err, sizeof(err));
        json_t *records = rc ? NULL : page_records(&resp, &pg);
        http_response_free(&resp);
        if (rc) {
            fprintf(stderr, "parse: %s\n", err);
            page_clear(&pg);
            json_decref(paging);
            json_decref(last);
            return -1;
        }
        size_t i;
        json_t *rec;
        json_array_foreach(records, i, rec)
        {
            long long id = json_integer_value(json_object_get(rec, "id"));
            if (id > 0 && id < MAX_RECS * 2)
                seen[id] = json_integer_value(json_object_get(rec, "version"));
        }
        json_decref(last);
        last = records;
        page_clear(&pg);
        ctx.page_no++;
        if (++requests > 5000) {
            fprintf(stderr, "pass does not end\n");
            json_decref(paging);
            json_decref(last);
            return -1;
        }
    }
}

/* Every live record was read at its current version. */
static int stale_or_missing(const long long *seen)
{
    int bad = 0;
    for (int i = 0; i < M.n; i++)
        if (M.r[i].alive && seen[M.r[i].id] != M.r[i].version)
            bad++;
    return bad;
}

static void model_reset(void)
{
    memset(&M, 0, sizeof(M));
}

/* Waits for the start of a fresh second, so a scenario's fast requests share it. */
static void fresh_second(void)
{
    long long s = wall_s();
    while (wall_s() == s) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---- scenarios ------------------------------------------------------------------------------ */

static long long edit_second;
static long long edited_id;

/* After the second request (inside the tie block of the current second), the record the first
 * tie page served first is edited in that same second: date_modified does not move. */
static void edit_inside_open_tie(int request_no, const json_t *last_page)
{
    if (request_no != 2 || json_array_size(last_page) == 0)
        return;
    mrec *r = model_find(json_integer_value(json_object_get(json_array_get(last_page, 0), "id")));
    if (!r)
        return;
    r->version++;
    r->dm = edit_second;
    edited_id = r->id;
}

static void test_open_tie_edit_read_same_pass(void)
{
    source_open("page_size = 5;");
    CHECK(src != NULL);
    if (!src)
        return;
    model_reset();
    fresh_second();
    long long now = wall_s();
    edit_second = now;
    for (int i = 0; i < 12; i++) /* 12 > a page, one date_modified, distinct date_created */
        model_add(now, now - 100 + i);
    static long long seen[MAX_RECS * 2];
    memset(seen, 0, sizeof(seen));
    int64_t t0 = now_wall_ms();
    int requests = run_pass("people", 5, edit_inside_open_tie, seen);
    CHECK(requests > 0);
    CHECK(edited_id > 0);
    CHECK(seen[edited_id] == 2); /* the edit made in the open second is read by this pass */
    CHECK(stale_or_missing(seen) == 0);
    CHECK(now_wall_ms() - t0 < 4000); /* the wait for the second to close is bounded */
    source_close();
}

static void test_closed_tie_moves_on(void)
{
    source_open("page_size = 5;");
    if (!src)
        return;
    model_reset();
    long long past = wall_s() - 3600;
    for (int i = 0; i < 12; i++)
        model_add(past, past - 100 + i);
    for (int i = 0; i < 3; i++)
        model_add(past + 10 + i, past + i);
    static long long seen[MAX_RECS * 2];
    memset(seen, 0, sizeof(seen));
    int64_t t0 = now_wall_ms();
    int requests = run_pass("people", 5, NULL, seen);
    /* page 1 ties, 3 created-keyset pages (5, 5, 2), the rest: no re-read of a past second */
    CHECK(requests == 5);
    CHECK(stale_or_missing(seen) == 0);
    CHECK(now_wall_ms() - t0 < 500);
    source_close();
}

/* Randomized: records in a few crowded past seconds (ties of both keys), and between requests
 * the record served last on the previous page is updated or deleted, plus random updates,
 * deletes and creations; every other pair of rounds with ties in a new order on every request. The
 * model's clock is a day behind and advances a second per request (as a rate-limited pass does), so
 * every tie block is of a closed second and the test runs fast; the open second has its own
 * scenario above. The pass must end with every live record read at its current version. */
static int drift_budget;
static long long model_now;

static void random_drift(int request_no, const json_t *last_page)
{
    (void)request_no;
    long long now = ++model_now;
    if (drift_budget <= 0)
        return;
    drift_budget--;
    size_t n = json_array_size(last_page);
    if (n && check_rand() % 100 < 60) {
        mrec *r =
            model_find(json_integer_value(json_object_get(json_array_get(last_page, n - 1), "id")));
        if (r && check_rand() % 3 == 0) {
            r->alive = 0;
        } else if (r) {
            r->version++;
            r->dm = now;
        }
    }
    int pick = (int)(check_rand() % 10);
    if (pick < 3 && M.n < MAX_RECS) {
        model_add(now, now);
    } else if (pick < 7) {
        mrec *r = &M.r[check_rand() % (unsigned)M.n];
        if (r->alive) {
            r->version++;
            r->dm = now;
        }
    } else if (pick < 8) {
        M.r[check_rand() % (unsigned)M.n].alive = 0;
    }
}

static void test_randomized_drift(void)
{
    source_open("page_size = 4;");
    if (!src)
        return;
    for (int round = 0; round < 20; round++) {
        model_reset();
        shuffle_ties = round % 4 >= 2;
        long long base = wall_s() - 86400;
        for (int i = 0; i < 120; i++) {
            long long dm = base + (long long)(check_rand() % 6) * 60; /* 6 crowded seconds */
            long long dc = dm - 1000 - (long long)(check_rand() % 3);
            model_add(dm, dc);
        }
        drift_budget = 40;
        model_now = base + 3600;
        static long long seen[MAX_RECS * 2];
        memset(seen, 0, sizeof(seen));
        int requests = run_pass(round % 2 ? "leads" : "tasks", 4, random_drift, seen);
        CHECK(requests > 0);
        int bad = stale_or_missing(seen);
        CHECK(bad == 0);
        if (bad)
            fprintf(stderr, "round %d: %d records stale or missing\n", round, bad);
    }
    shuffle_ties = 0;
    tie_salt = 0;
    source_close();
}

/* ---- activities window ------------------------------------------------------------------------
 */

static json_t *first_request_body(table_ctx *ctx)
{
    http_request req;
    http_request_init(&req);
    char err[256];
    req_result r = ctx->table->next_request(ctx, &req, err, sizeof(err));
    json_t *body = r == REQ_READY ? json_loadb(req.body.data, req.body.len, 0, NULL) : NULL;
    http_request_free(&req);
    return body;
}

static void test_activities_rescan_window(void)
{
    source_open("activities_rescan_window = \"2d\"; activities_full_refresh = \"0\";");
    if (!src)
        return;
    table_ctx ctx;
    json_t *paging = json_object();
    ctx_init(&ctx, "activities_search", paging);
    ctx.bookmark_ms = ctx.until_ms - 60 * 1000;
    ctx.from_ms = ctx.bookmark_ms - 3600 * 1000;
    json_t *body = first_request_body(&ctx);
    CHECK(body != NULL);
    long long want = (ctx.until_ms - 2 * 86400 * 1000LL) / 1000;
    CHECK(json_integer_value(json_object_get(body, "minimum_activity_date")) == want);
    CHECK(json_object_get(body, "maximum_activity_date") == NULL); /* future-dated rows too */
    json_decref(body);
    json_decref(paging);

    /* A bookmark window older than the rescan window wins. */
    paging = json_object();
    ctx_init(&ctx, "activities_search", paging);
    ctx.bookmark_ms = ctx.until_ms - 5 * 86400 * 1000LL;
    ctx.from_ms = ctx.bookmark_ms;
    body = first_request_body(&ctx);
    CHECK(json_integer_value(json_object_get(body, "minimum_activity_date")) == ctx.from_ms / 1000);
    json_decref(body);
    json_decref(paging);
    source_close();
}

/* An activities tie block with full_result duplicates: X-PW-TOTAL counts the repeated row, so
 * the ids never add up to it; the block ends after a sweep that found nothing new, not after 30. */
static int activities_page(table_ctx *ctx, const char *records, long long total, json_t **body)
{
    http_request req;
    http_request_init(&req);
    char err[256] = "";
    int rc = -1;
    if (ctx->table->next_request(ctx, &req, err, sizeof(err)) == REQ_READY) {
        *body = json_loadb(req.body.data, req.body.len, 0, NULL);
        http_response resp;
        response_set(&resp, 200, records, total);
        page pg;
        memset(&pg, 0, sizeof(pg));
        rc = ctx->table->parse_page(ctx, &resp, &pg, err, sizeof(err));
        page_clear(&pg);
        http_response_free(&resp);
    }
    http_request_free(&req);
    return rc;
}

static void test_activities_tie_with_duplicates(void)
{
    source_open("page_size = 3; full_result = true;");
    if (!src)
        return;
    table_ctx ctx;
    json_t *paging = json_object(), *body = NULL;
    ctx_init(&ctx, "activities_search", paging); /* first pass: a full read */
    const char *tied = "[{\"id\":1,\"activity_date\":500},{\"id\":2,\"activity_date\":500},"
                       "{\"id\":3,\"activity_date\":500}]";
    const char *rest = "[{\"id\":3,\"activity_date\":500},{\"id\":4,\"activity_date\":500}]";
    CHECK(activities_page(&ctx, tied, 5, &body) == 0);
    json_decref(body);
    int sweeps = 0, requests = 0;
    while (json_object_get(paging, "tie") && requests < 100) {
        int first = json_integer_value(json_object_get(paging, "page")) == 1;
        CHECK(activities_page(&ctx, first ? tied : rest, 5, &body) == 0);
        CHECK(json_integer_value(json_object_get(body, "minimum_activity_date")) == 500);
        json_decref(body);
        sweeps += first;
        requests++;
    }
    CHECK(sweeps == 2); /* one to read, one to see that nothing new comes */
    CHECK(json_integer_value(json_object_get(paging, "hi")) == 499);
    json_decref(paging);
    source_close();
}

/* ---- confirmation ------------------------------------------------------------------------------
 */

static void test_confirm_requests(void)
{
    source_open("page_size = 20;");
    if (!src)
        return;
    table_ctx ctx;
    json_t *paging = json_object();
    ctx_init(&ctx, "leads", paging);
    ctx.confirm = 1;
    CHECK(ctx.table->confirm_request != NULL && ctx.table->confirm_batch == 200);
    json_t *ids = json_array();
    for (int i = 0; i < 150; i++)
        json_array_append_new(ids, json_integer(30000 + i));
    http_request req;
    http_request_init(&req);
    char err[256] = "";
    CHECK(ctx.table->confirm_request(&ctx, ids, &req, err, sizeof(err)) == REQ_READY);
    json_t *body = json_loadb(req.body.data, req.body.len, 0, NULL);
    CHECK_CONTAINS(req.url.data, "/leads/search");
    CHECK(json_array_size(json_object_get(body, "ids")) == 150);
    /* every id fits in the one page, whatever the page_size option */
    CHECK(json_integer_value(json_object_get(body, "page_size")) == 150);
    CHECK(json_is_true(json_object_get(body, "include_converted_leads")));
    json_decref(body);
    http_request_free(&req);

    http_response resp;
    page pg;
    memset(&pg, 0, sizeof(pg));
    response_set(&resp, 200, "[{\"id\":30001,\"name\":\"a\"},{\"id\":30007}]", 2);
    CHECK(ctx.table->parse_page(&ctx, &resp, &pg, err, sizeof(err)) == 0);
    CHECK(json_array_size(pg.ids) == 2 && pg.records == NULL);
    CHECK(json_integer_value(json_array_get(pg.ids, 1)) == 30007);
    page_clear(&pg);
    http_response_free(&resp);
    json_decref(ids);

    /* Companies and activities have no ids filter: GET by id, one at a time. */
    ctx_init(&ctx, "activities_search", paging);
    ctx.confirm = 1;
    CHECK(ctx.table->confirm_batch == 1);
    ids = json_pack("[I]", (json_int_t)3061844454LL);
    http_request_init(&req);
    CHECK(ctx.table->confirm_request(&ctx, ids, &req, err, sizeof(err)) == REQ_READY);
    CHECK_STR(req.url.data, "http://sim/v1/activities/3061844454");
    CHECK(req.method == NULL || strcmp(req.method, "GET") == 0);
    http_request_free(&req);
    json_decref(ids);
    memset(&pg, 0, sizeof(pg));
    response_set(&resp, 200, "{\"id\":3061844454,\"is_deleted\":true}", -1);
    CHECK(ctx.table->parse_page(&ctx, &resp, &pg, err, sizeof(err)) == 0);
    CHECK(pg.ids != NULL &&
          json_array_size(pg.ids) == 0); /* a deleted record's remains are not alive */
    page_clear(&pg);
    http_response_free(&resp);

    ctx_init(&ctx, "companies", paging);
    ctx.confirm = 1;
    ids = json_pack("[II]", (json_int_t)1, (json_int_t)2);
    http_request_init(&req);
    CHECK(ctx.table->confirm_request(&ctx, ids, &req, err, sizeof(err)) == REQ_ERROR);
    http_request_free(&req);
    json_decref(ids);
    ids = json_pack("[I]", (json_int_t)20001);
    http_request_init(&req);
    CHECK(ctx.table->confirm_request(&ctx, ids, &req, err, sizeof(err)) == REQ_READY);
    CHECK_STR(req.url.data, "http://sim/v1/companies/20001");
    http_request_free(&req);
    json_decref(ids);
    memset(&pg, 0, sizeof(pg));
    response_set(&resp, 200, "{\"id\":20001,\"name\":\"Acme\"}", -1);
    CHECK(ctx.table->parse_page(&ctx, &resp, &pg, err, sizeof(err)) == 0);
    CHECK(json_array_size(pg.ids) == 1);
    page_clear(&pg);
    http_response_free(&resp);

    CHECK(table("users")->confirm_request != NULL);
    CHECK(table("tags")->confirm_request == NULL); /* single-page listings need none */
    json_decref(paging);
    source_close();
}

/* A table is one declaration: every Copper table carries its spec (paths, paging kind...). */
static void test_tables_declare_specs(void)
{
    const connector *c = connector_find("copper");
    CHECK(c != NULL && c->n_tables > 0);
    for (size_t i = 0; c && i < c->n_tables; i++)
        if (!c->tables[i].spec)
            CHECK_STR(c->tables[i].name, "a table with a spec");
}

int main(void)
{
    test_tables_declare_specs();
    test_closed_tie_moves_on();
    test_open_tie_edit_read_same_pass();
    test_randomized_drift();
    test_activities_rescan_window();
    test_activities_tie_with_duplicates();
    test_confirm_requests();
    return check_summary("test_copper_paging");
}
