/* test_raw_dom_pages.c — the raw encoder (JSON text straight to Avro, amap_raw.c) against the DOM
 * path (jansson, amap_fill, avro-c's writer) on the records the simulators serve, for every table
 * of every connector: the first pages of each table are fetched from a crmsim per connector
 * (started from this binary's build directory) through the connector's own next_request and
 * parse_page, and each record's text in the response is encoded both ways with the table's
 * schema. Whatever the raw path encodes must be the DOM path's bytes exactly; what it declines
 * (the DOM fallback) is counted and printed per table, as is whether parse_page hands the
 * records on unchanged (a table whose parse_page rewrites its records cannot take the raw path
 * as is). The per-record fallback share of a table is printed, not asserted: it measures what
 * the raw path does not express yet.
 * Tables whose connector says where their typed custom values are (custom_fields_spec.
 * raw_prefix) are also checked as the engine publishes them: the custom field history built
 * from the simulator's definitions, the schema evolved with it, and each record's event (bytes,
 * dedupe hash and legacy hash) from the raw path (custom_raw.c) against the DOM path
 * (table_schema_prepare_with, event_set_after).
 * Each table's path is checked too: its records must reach the engine as text (parse_page hands
 * the body's array, or builds its own with connector_raw_add), except for the few tables listed
 * in dom_tables below, which connectors/README.md explains. All of it runs over the simulators
 * started with several seeds (RAW_DOM_SEEDS="1 2 3 ..." to choose them), unpaced (no rate limits on
 * either side). */
#include <avro.h>
#include <libgen.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "../fuzz/fuzz_sources.h"
#include "amap.h"
#include "check.h"
#include "crm_time.h"
#include "custom_raw.h"
#include "embedded_schemas.h"
#include "event.h"
#include "http.h"
#include "json_scan.h"
#include "log.h"
#include "table_schema.h"

#define PAGES     3  /* pages fetched per table */
#define PAGE_SIZE 25 /* records per page */
#define MAX_SEEDS 32
static const char *const default_seeds = "1 71 4242";

/* The tables whose records parse_page hands over as jansson records, on purpose (see "Tables on
 * the DOM path" in connectors/README.md). Any other table must hand text. */
static const char *const dom_tables[] = {
    "testcrm.users",
    "testcrm.events",
    "close.report_activity_daily",
    "close.report_activity_by_user_daily",
    "close.report_lead_statuses_daily",
    NULL,
};

static int dom_table(const connector *c, const table_def *t)
{
    char name[128];
    snprintf(name, sizeof(name), "%s.%s", c->name, t->name);
    for (size_t i = 0; dom_tables[i]; i++)
        if (strcmp(dom_tables[i], name) == 0)
            return 1;
    return 0;
}

/* One simulator per connector, in crm_connectors order (NULL name: none for that connector). */
static const struct {
    const char *connector, *crm, *path, *params[4];
} sims[] = {
    {"testcrm", "testcrm", "", {"token=fuzz-secret"}},
    {"close", "close", "/api/v1", {"api_key=fuzz-secret"}},
    {"copper",
     "copper",
     "/developer_api/v1",
     {"token=fuzz-secret", "email=fuzz@example.com", "rate_per_min=0"}},
    {"pipedrive", "pipedrive", "", {"token=fuzz-secret", "burst_limit=0"}},
};
#define N_SIMS (sizeof(sims) / sizeof(sims[0]))

static pid_t sim_pids[N_SIMS];
static const char *sim_seed = "1";

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void port_file_of(size_t i, char *port_file, size_t len)
{
    snprintf(port_file, len, "/tmp/raw-dom-%d-%zu.port", (int)getpid(), i);
}

/* Starts sims[i] from the build directory of argv0 (build/tests/x -> build/crmsim), seeded with
 * sim_seed; sim_wait says where it listens. All of a run's simulators start at once (seeding
 * their data takes most of this test's time). */
static int sim_launch(const char *argv0, size_t i)
{
    char self[4096], sim[4200], port_file[64];
    snprintf(self, sizeof(self), "%s", argv0);
    snprintf(sim, sizeof(sim), "%s/../crmsim", dirname(self));
    port_file_of(i, port_file, sizeof(port_file));
    unlink(port_file);
    fflush(stdout); /* the child's freopen would write what is buffered once more */
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(126);
        const char *argv[20] = {sim,           "--crm",   sims[i].crm, "--port", "0",
                                "--port-file", port_file, "--seed",    sim_seed};
        int n = 9;
        for (int p = 0; p < 4 && sims[i].params[p]; p++) {
            argv[n++] = "--param";
            argv[n++] = sims[i].params[p];
        }
        argv[n] = NULL;
        execv(sim, (char *const *)argv);
        _exit(127);
    }
    sim_pids[i] = pid;
    return 0;
}

/* Waits until sims[i] listens; its base URL into url. */
static int sim_wait(size_t i, char *url, size_t urllen)
{
    char port_file[64];
    port_file_of(i, port_file, sizeof(port_file));
    for (int tries = 0; sim_pids[i] > 0 && tries < 400; tries++, sleep_ms(25)) {
        FILE *f = fopen(port_file, "r");
        int port = 0;
        if (!f)
            continue;
        int n = fscanf(f, "%d", &port);
        fclose(f);
        if (n == 1 && port > 0) {
            unlink(port_file);
            snprintf(url, urllen, "http://127.0.0.1:%d%s", port, sims[i].path);
            return 0;
        }
    }
    fprintf(stderr, "raw_dom_pages: the %s simulator did not start\n", sims[i].crm);
    return -1;
}

/* A table's schema compiled both ways. */
typedef struct codec {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    amap_plan *plan;
} codec;

static int codec_open(codec *c, const table_def *t)
{
    char err[512];
    const char *text = embedded_schemas_find(t->schema_file);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    memset(c, 0, sizeof(*c));
    c->plan = j ? amap_new(j, err, sizeof(err)) : NULL;
    json_decref(j);
    if (!c->plan || avro_schema_from_json_length(text, strlen(text), &c->schema))
        return -1;
    c->iface = avro_generic_class_from_schema(c->schema);
    return c->iface ? 0 : -1;
}

static void codec_close(codec *c)
{
    amap_free(c->plan);
    if (c->iface)
        avro_value_iface_decref(c->iface);
    if (c->schema)
        avro_schema_decref(c->schema);
}

/* The DOM path's bytes for rec. -1 when it refuses the record. */
static int dom_bytes(codec *c, const json_t *rec, buf *out)
{
    char err[512];
    avro_value_t value;
    if (avro_generic_value_new(c->iface, &value))
        return -1;
    int rc = -1;
    size_t size = 0;
    if (amap_fill(c->plan, rec, &value, err, sizeof(err)) == 0 &&
        avro_value_sizeof(&value, &size) == 0) {
        buf_reset(out);
        buf_grow(out, size + 1);
        avro_writer_t w = avro_writer_memory(out->data, (int64_t)size);
        if (avro_value_write(w, &value) == 0) {
            out->len = (size_t)avro_writer_tell(w);
            rc = 0;
        }
        avro_writer_free(w);
    }
    avro_value_decref(&value);
    return rc;
}

/* The records array of a response text: the first array whose first element is an object,
 * depth-first (Close and Pipedrive's "data", Copper's bare array, ...). NULL when none. */
static const char *records_array(const char *p, const char *end, int depth)
{
    const char *k, *v, *q = p;
    size_t kl;
    int first, esc;
    if (depth > 4)
        return NULL;
    if (js_peek(p, end) == JS_ARRAY) {
        if (js_array_begin(&q, end, &first) || js_array_next(&q, end, &first, &v) != 1)
            return NULL;
        return js_peek(v, end) == JS_OBJECT ? p : NULL;
    }
    if (js_peek(p, end) != JS_OBJECT || js_object_begin(&q, end, &first))
        return NULL;
    while (js_object_next(&q, end, &first, &k, &kl, &esc, &v) == 1) {
        const char *r = records_array(v, end, depth + 1);
        if (r)
            return r;
        if (!(q = js_skip(v, end)))
            return NULL;
    }
    return NULL;
}

typedef struct tally {
    long records, raw, fallback, rewritten;
    long text_pages, dom_pages; /* pages with records, by how parse_page handed them */
} tally;

/* The records array the page's records are checked on: the text parse_page handed to the engine
 * (the body's array, or the connector's own in pg->raw), or else the jansson records it handed,
 * as text (*dumped, which the caller frees). NULL when the page has no records (a fan-out's
 * listing, a lookup). */
static const char *page_text(const http_response *resp, const page *pg, const char **end,
                             char **dumped)
{
    *dumped = NULL;
    if (pg->raw_len > 0) {
        const char *text = pg->raw_from_response ? resp->body.data : pg->raw.data;
        *end = text + pg->raw_off + pg->raw_len;
        return text + pg->raw_off;
    }
    if (json_array_size(pg->records) == 0 || !(*dumped = json_dumps(pg->records, JSON_COMPACT)))
        return NULL;
    *end = *dumped + strlen(*dumped);
    return *dumped;
}

/* How many of parse_page's jansson records differ from the records in the response's records
 * array (the connector rewrites them: such a table needs more than connector_raw_records). */
static long rewritten_records(const http_response *resp, const page *pg)
{
    const char *body = resp->body.data ? resp->body.data : "", *end = body + resp->body.len;
    const char *q = records_array(js_ws(body, end), end, 0), *v;
    int first;
    long n = 0;
    if (!q || json_array_size(pg->records) == 0 || js_array_begin(&q, end, &first))
        return 0;
    for (size_t i = 0; js_array_next(&q, end, &first, &v) == 1 && (q = js_skip(v, end)); i++) {
        json_t *rec = json_loadb(v, (size_t)(q - v), 0, NULL);
        n += !json_equal(json_array_get(pg->records, i), rec);
        json_decref(rec);
    }
    return n;
}

/* Every record of the page's records, both ways. */
static void check_page(const table_def *t, codec *c, const http_response *resp, const page *pg,
                       tally *n)
{
    char *dumped;
    const char *end, *arr = page_text(resp, pg, &end, &dumped), *q = arr, *v;
    int first;
    if (pg->raw_len > 0)
        n->text_pages++;
    else if (json_array_size(pg->records) > 0)
        n->dom_pages++;
    n->rewritten += rewritten_records(resp, pg);
    buf raw, dom;
    buf_init(&raw);
    buf_init(&dom);
    if (arr && js_array_begin(&q, end, &first) == 0) {
        for (size_t i = 0; js_array_next(&q, end, &first, &v) == 1; i++) {
            if (!(q = js_skip(v, end)))
                break;
            json_t *rec = json_loadb(v, (size_t)(q - v), 0, NULL);
            CHECK(rec != NULL);
            n->records++;
            buf_reset(&raw);
            if (amap_encode_raw(c->plan, v, (size_t)(q - v), &raw) == 0) {
                n->raw++;
                int same = dom_bytes(c, rec, &dom) == 0 && dom.len == raw.len &&
                           memcmp(dom.data, raw.data, raw.len) == 0;
                CHECK(same);
                if (!same)
                    fprintf(stderr, "raw_dom_pages: %s record %zu: raw and DOM bytes differ\n",
                            t->name, i);
            } else {
                n->fallback++;
            }
            json_decref(rec);
        }
    }
    free(dumped);
    buf_free(&raw);
    buf_free(&dom);
}

/* Up to PAGES pages of table t: fn(u, t, response, page) for each. */
typedef void (*page_fn)(void *u, const table_def *t, const http_response *resp, const page *pg);

static void walk_pages(source *src, const table_def *t, http_client *client, page_fn fn, void *u)
{
    char err[512];
    table_ctx ctx = {src,
                     t,
                     t->replication_key ? 1500000000000LL : CRM_TIME_NONE,
                     now_wall_ms(),
                     CRM_TIME_NONE,
                     json_object(),
                     0,
                     0,
                     0};
    for (int p = 0; p < PAGES; p++) {
        http_request req;
        http_response resp;
        page pg;
        http_request_init(&req);
        http_response_init(&resp);
        memset(&pg, 0, sizeof(pg));
        pg.bookmark_cap_ms = CRM_TIME_NONE;
        buf_init(&pg.raw);
        ctx.page_no = p;
        int more =
            t->next_request(&ctx, &req, err, sizeof(err)) == REQ_READY &&
            http_client_execute(client, &req, &resp, NULL, NULL, err, sizeof(err)) == HTTP_OK &&
            t->parse_page(&ctx, &resp, &pg, err, sizeof(err)) == 0;
        if (more)
            fn(u, t, &resp, &pg);
        page_clear(&pg);
        http_response_free(&resp);
        http_request_free(&req);
        if (!more)
            break;
    }
    json_decref(ctx.paging);
}

typedef struct definitions {
    const table_def *table; /* the table the definitions are for */
    cf_desc d[256];
    size_t n;
} definitions;

static void collect_definitions(void *u, const table_def *t, const http_response *resp,
                                const page *pg)
{
    (void)t;
    definitions *defs = u;
    json_t *recs = page_records(resp, pg), *r;
    size_t i;
    json_array_foreach(recs, i, r)
    {
        if (defs->n < 256 && defs->table->custom->describe(defs->table, r, &defs->d[defs->n]))
            defs->n++;
    }
    json_decref(recs);
}

/* The table's writer schema with its typed custom fields, as table_schema builds it. */
static char *evolved_schema(const connector *c, const table_def *t, const cf_history *h)
{
    json_t *record = json_loads(embedded_schemas_find(t->schema_file), 0, NULL);
    json_t *custom = cf_history_avro_field(h, c->name, t->name);
    if (custom)
        json_array_append_new(json_object_get(record, "fields"), custom);
    char *text = json_dumps(record, JSON_COMPACT);
    json_decref(record);
    return text;
}

typedef struct typed {
    event_codec *codec;
    const cf_history *cf;
    long records, raw, misfits;
} typed;

static int encode_event(event_codec *c, const table_def *t, buf *out)
{
    char err[256];
    event_meta m = {"c", "acme", t->name, NULL, NULL, CRM_TIME_NONE, 1700000000000LL};
    buf_reset(out);
    return event_encode(c, 'c', &m, out, err, sizeof(err));
}

/* Every record of the page both ways, as the engine publishes it. */
static void check_typed_page(void *u, const table_def *t, const http_response *resp, const page *pg)
{
    typed *ty = u;
    char *dumped;
    const char *end, *q = page_text(resp, pg, &end, &dumped), *v, *next;
    const char *keys[2] = {t->primary_key, t->replication_key};
    int first;
    char err[512];
    buf dom, raw;
    buf_init(&dom);
    buf_init(&raw);
    if (q && js_array_begin(&q, end, &first) == 0) {
        while (js_array_next(&q, end, &first, &v) == 1 && (q = js_skip(v, end))) {
            json_t *rec = json_loadb(v, (size_t)(q - v), 0, NULL);
            size_t misfits = 0;
            const char *field;
            json_t *prepared = table_schema_prepare_with(t->custom, ty->cf, rec, &misfits, &field);
            uint64_t h_dom = 0, h_raw = 0, l_dom = 0;
            CHECK(event_set_after(ty->codec, prepared, &h_dom, err, sizeof(err)) == 0);
            l_dom = event_legacy_hash(ty->codec);
            CHECK(encode_event(ty->codec, t, &dom) == 0);
            custom_raw cr;
            amap_found found[2];
            ty->records++;
            ty->misfits += (long)misfits;
            if (custom_raw_begin(&cr, t->custom, ty->cf) == 0 &&
                event_set_after_raw_custom_at(ty->codec, v, end, &next, keys, found,
                                              keys[1] ? 2 : 1, &cr.hooks, &h_raw) == 0) {
                ty->raw++;
                CHECK(next == q);
                CHECK(h_raw == h_dom);
                CHECK(event_legacy_hash(ty->codec) == l_dom);
                CHECK(cr.misfits == misfits);
                CHECK(encode_event(ty->codec, t, &raw) == 0);
                int same = raw.len == dom.len && memcmp(raw.data, dom.data, raw.len) == 0;
                CHECK(same);
                if (!same)
                    fprintf(stderr, "raw_dom_pages: %s: typed record differs: %.*s...\n", t->name,
                            (int)(q - v < 200 ? q - v : 200), v);
            }
            custom_raw_end(&cr);
            json_decref(prepared);
            json_decref(rec);
        }
    }
    free(dumped);
    buf_free(&dom);
    buf_free(&raw);
}

/* A table with typed custom fields on the raw path: the history from the simulator's
 * definitions, then its records both ways. */
static void check_typed_table(source *src, const table_def *t, http_client *client)
{
    const connector *c = source_connector(src);
    definitions defs;
    memset(&defs, 0, sizeof(defs));
    defs.table = t;
    for (int i = 0; i < 4 && t->custom->definitions[i]; i++) {
        const table_def *dt = connector_table(c, t->custom->definitions[i]);
        CHECK(dt != NULL);
        if (dt)
            walk_pages(src, dt, client, collect_definitions, &defs);
    }
    cf_history *h = cf_history_new();
    cf_history_merge(h, defs.d, defs.n);
    char err[512], *schema = evolved_schema(c, t, h);
    typed ty = {event_codec_new(c->name, t->name, schema, err, sizeof(err)), h, 0, 0, 0};
    CHECK(ty.codec != NULL);
    if (ty.codec)
        walk_pages(src, t, client, check_typed_page, &ty);
    printf(
        "  seed %-5s %-10s %-22s typed custom fields %3zu: records %4ld  raw %4ld  misfits %ld\n",
        sim_seed, c->name, t->name, cf_history_count(h), ty.records, ty.raw, ty.misfits);
    CHECK(cf_history_count(h) > 0); /* the simulator defines custom fields for the table */
    CHECK(ty.raw > 0);
    event_codec_free(ty.codec);
    free(schema);
    cf_history_free(h);
    for (size_t i = 0; i < defs.n; i++)
        cf_desc_clear(&defs.d[i]);
}

typedef struct plain {
    codec c;
    tally n;
} plain;

static void check_plain_page(void *u, const table_def *t, const http_response *resp, const page *pg)
{
    plain *pl = u;
    check_page(t, &pl->c, resp, pg, &pl->n);
}

/* Raw and DOM bytes of every record, and the path parse_page chose for the table. */
static void check_table(source *src, const table_def *t, http_client *client)
{
    const connector *c = source_connector(src);
    plain pl = {.n = {0, 0, 0, 0, 0, 0}};
    CHECK(codec_open(&pl.c, t) == 0);
    if (pl.c.iface)
        walk_pages(src, t, client, check_plain_page, &pl);
    const char *path = pl.n.dom_pages && pl.n.text_pages ? "mixed"
                       : pl.n.dom_pages                  ? "DOM"
                       : pl.n.text_pages                 ? "text"
                                                         : "-";
    printf("  seed %-5s %-10s %-22s path %-5s records %4ld  raw %4ld  fallback %4ld  rewritten by "
           "parse_page %4ld\n",
           sim_seed, c->name, t->name, path, pl.n.records, pl.n.raw, pl.n.fallback, pl.n.rewritten);
    int dom = dom_table(c, t);
    CHECK(dom || pl.n.dom_pages == 0);
    if (!dom && pl.n.dom_pages)
        fprintf(stderr, "raw_dom_pages: %s.%s hands jansson records (not in dom_tables)\n", c->name,
                t->name);
    CHECK(!dom || pl.n.dom_pages > 0 || pl.n.text_pages == 0);
    if (dom && !pl.n.dom_pages && pl.n.text_pages)
        fprintf(stderr, "raw_dom_pages: %s.%s is on the raw path now: drop it from dom_tables\n",
                c->name, t->name);
    codec_close(&pl.c);
}

/* One run over simulators started with sim_seed: every table of every connector. */
static long check_seed(const char *argv0)
{
    const char *urls[16] = {0};
    char url[N_SIMS][128];
    size_t i = 0;
    memset(sim_pids, 0, sizeof(sim_pids));
    for (size_t k = 0; k < N_SIMS; k++)
        sim_launch(argv0, k);
    for (const connector *const *c = crm_connectors; *c && i < 16; c++, i++)
        for (size_t k = 0; k < N_SIMS; k++)
            if (strcmp((*c)->name, sims[k].connector) == 0 &&
                sim_wait(k, url[k], sizeof(url[k])) == 0)
                urls[i] = url[k];
    fuzz_sources fs;
    fuzz_sources_init_pages(&fs, urls, PAGE_SIZE);
    long tables = 0;
    for (int k = 0; k < fs.n; k++) {
        const connector *c = source_connector(fs.src[k]);
        CHECK(urls[k] != NULL); /* every connector has its simulator here */
        if (!urls[k])
            continue;
        http_client *client = http_client_new(
            source_http_options(fs.src[k]), source_auth(fs.src[k]), source_ratelimit(fs.src[k]),
            source_rate_signal, fs.src[k], source_name(fs.src[k]));
        for (size_t t = 0; t < c->n_tables; t++, tables++) {
            check_table(fs.src[k], &c->tables[t], client);
            if (c->tables[t].custom &&
                (c->tables[t].custom->raw_prefix || c->tables[t].custom->raw_member))
                check_typed_table(fs.src[k], &c->tables[t], client);
        }
        http_client_free(client);
    }
    for (size_t k = 0; k < N_SIMS; k++)
        if (sim_pids[k] > 0) {
            kill(sim_pids[k], SIGTERM);
            waitpid(sim_pids[k], NULL, 0);
        }
    fuzz_sources_free(&fs);
    return tables;
}

int main(int argc, char **argv)
{
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);
    const char *env = getenv("RAW_DOM_SEEDS");
    char seeds[512], *save = NULL;
    snprintf(seeds, sizeof(seeds), "%s", env && *env ? env : default_seeds);
    int runs = 0;
    for (char *seed = strtok_r(seeds, " ,", &save); seed && runs < MAX_SEEDS;
         seed = strtok_r(NULL, " ,", &save), runs++) {
        sim_seed = seed;
        CHECK(check_seed(argv[0]) > 0);
    }
    CHECK(runs > 0);
    return check_summary("raw_dom_pages");
}
