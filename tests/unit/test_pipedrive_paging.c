/* test_pipedrive_paging.c — the checked offset walk of Pipedrive's v1 lists (pipedrive_walk.c)
 * against a model list that changes between page requests: the row served last on the previous
 * page is updated (moves to the end of the update_time order) or deleted, random rows are
 * updated, deleted and created. Every row alive when the walk ends must have been read in its
 * final version. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "connector.h"
#include "source.h"
#include "../../connectors/pipedrive_walk.h"

#define MAX_ROWS 4096

typedef struct model {
    pd_key row[MAX_ROWS];
    int alive[MAX_ROWS];
    size_t n;
    int64_t now; /* ms; whole seconds advance with every mutation */
    int64_t next_id;
} model;

static void model_init(model *m, size_t rows, int tie)
{
    memset(m, 0, sizeof(*m));
    m->now = 1700000000000LL;
    for (size_t i = 0; i < rows; i++) {
        /* a block of `tie` rows share one second, the rest are spread over seconds */
        int64_t t = (int64_t)(i < (size_t)tie ? 0 : (i / 3)) * 1000;
        m->row[i] = (pd_key){m->now + t, (int64_t)(rows - i) * 7 % 10007 + 1};
        m->alive[i] = 1;
    }
    m->n = rows;
    m->next_id = 20000;
    m->now += (int64_t)rows * 1000;
}

static int sorted_cmp(const void *a, const void *b)
{
    return pd_key_cmp(a, b);
}

/* The listing as the API serves it: (time, id) ascending, time >= since (id listings: by id). */
static size_t model_page(const model *m, int by_time, int64_t since, long start, long limit,
                         pd_key *out, int *more)
{
    static pd_key v[MAX_ROWS];
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->alive[i] && (!by_time || m->row[i].time >= since))
            v[k++] = by_time ? m->row[i] : (pd_key){0, m->row[i].id};
    qsort(v, k, sizeof(v[0]), sorted_cmp);
    size_t got = 0;
    for (size_t i = (size_t)start; i < k && (long)got < limit; i++)
        out[got++] = v[i];
    *more = (size_t)(start + limit) < k;
    return got;
}

static size_t find_id(const model *m, int64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->alive[i] && m->row[i].id == id)
            return i;
    return m->n;
}

static void mutate(model *m, int64_t boundary_id, int by_time)
{
    m->now += 1000;
    size_t b = find_id(m, boundary_id);
    switch (check_rand() % 6) {
    case 0: /* the boundary row is updated: it moves to the end */
        if (b < m->n && by_time)
            m->row[b].time = m->now;
        break;
    case 1: /* the boundary row is deleted */
        if (b < m->n)
            m->alive[b] = 0;
        break;
    case 2: { /* a random row is deleted */
        size_t i = check_rand() % m->n;
        m->alive[i] = 0;
        break;
    }
    case 3: { /* a random row is updated */
        size_t i = check_rand() % m->n;
        if (by_time)
            m->row[i].time = m->now;
        break;
    }
    case 4: /* a row is created */
        if (m->n < MAX_ROWS) {
            m->row[m->n] = (pd_key){m->now, m->next_id++};
            m->alive[m->n++] = 1;
        }
        break;
    default: /* nothing */
        break;
    }
}

/* Walks the model, mutating between pages; returns 1 when every row alive at the end was read
 * with its final key. */
static int walk_reads_everything(size_t rows, int tie, long limit, int by_time, long *pages,
                                 long *backs)
{
    static model m;
    static pd_key seen[MAX_ROWS * 8];
    size_t n_seen = 0;
    model_init(&m, rows, tie);
    pd_walk w = {0};
    w.anchored = by_time;
    w.since = by_time ? m.row[0].time : 0;
    pd_key keys[512];
    *pages = 0;
    for (;;) {
        int more;
        size_t n = model_page(&m, by_time, w.since, w.start, limit, keys, &more);
        (*pages)++;
        for (size_t i = 0; i < n; i++)
            seen[n_seen++] = keys[i];
        pd_walk_step st = pd_walk_page(&w, keys, n, more, limit);
        if (st == PD_WALK_DONE || *pages > 100000)
            break;
        /* up to three changes between two requests: more than the one-row overlap absorbs */
        for (int k = (int)(check_rand() % 4); k > 0; k--)
            mutate(&m, n ? keys[n - 1].id : -1, by_time);
    }
    *backs = w.step_backs;
    for (size_t i = 0; i < m.n; i++) {
        if (!m.alive[i])
            continue;
        pd_key want = by_time ? m.row[i] : (pd_key){0, m.row[i].id};
        int found = 0;
        for (size_t k = 0; k < n_seen && !found; k++)
            found = pd_key_cmp(&seen[k], &want) == 0;
        if (!found) {
            fprintf(stderr, "row id %lld (time %lld) was never read\n", (long long)want.id,
                    (long long)want.time);
            return 0;
        }
    }
    return 1;
}

static void check_static_walks(void)
{
    /* Nothing changes: one request per page plus the one-row overlap, never a step back. */
    pd_walk w = {0};
    pd_key keys[3] = {{0, 1}, {0, 2}, {0, 3}};
    CHECK(pd_walk_page(&w, keys, 3, 1, 3) == PD_WALK_NEXT);
    CHECK(w.start == 2 && w.has_last && w.last.id == 3);
    pd_key next[3] = {{0, 3}, {0, 4}, {0, 5}};
    CHECK(pd_walk_page(&w, next, 3, 1, 3) == PD_WALK_NEXT);
    CHECK(w.start == 4 && w.last.id == 5 && w.step_backs == 0);
    /* The row read last was deleted: the page starts after it -> step back a page. */
    pd_key shifted[2] = {{0, 6}, {0, 7}};
    CHECK(pd_walk_page(&w, shifted, 2, 0, 3) == PD_WALK_BACK);
    CHECK(w.start == 1 && w.step_backs == 1 && w.last.id == 5);
    /* An empty page past the position, too. */
    w.start = 2;
    CHECK(pd_walk_page(&w, keys, 0, 0, 3) == PD_WALK_BACK);
    CHECK(w.start == 0);
    /* At offset 0 there is nothing before the page to lose. */
    CHECK(pd_walk_page(&w, shifted, 2, 0, 3) == PD_WALK_DONE);

    /* updated_since: the walk re-anchors at the last row's second, offset = its place there. */
    pd_walk a = {0};
    a.anchored = 1;
    a.since = 10000;
    pd_key t[4] = {{10000, 9}, {11000, 3}, {12000, 1}, {12500, 2}};
    CHECK(pd_walk_page(&a, t, 4, 1, 4) == PD_WALK_NEXT);
    CHECK(a.since == 12000 && a.start == 1 && a.last.id == 2);
    /* A page inside one second (a tie larger than a page): the offset grows inside the tie. */
    pd_key tie[4] = {{12000, 2}, {12000, 4}, {12000, 5}, {12000, 8}};
    CHECK(pd_walk_page(&a, tie, 4, 1, 4) == PD_WALK_NEXT);
    CHECK(a.since == 12000 && a.start == 4 && a.last.id == 8);
    CHECK(pd_whole_second(12999) == 12000 && pd_whole_second(-1) == -1000);
    CHECK(pd_whole_second(INT64_MIN) == INT64_MIN);
}

/* A table is one declaration: every Pipedrive table carries its spec (paths, paging kind...). */
static void test_tables_declare_specs(void)
{
    const connector *c = connector_find("pipedrive");
    CHECK(c != NULL && c->n_tables > 0);
    for (size_t i = 0; c && i < c->n_tables; i++)
        if (!c->tables[i].spec)
            CHECK_STR(c->tables[i].name, "a table with a spec");
}

/* The daily-budget pause is capped per source: two Pipedrive sources with different
 * daily_budget_retry each wait at most their own (it was process-wide: the smallest won). */
static void test_budget_retry_per_source(void)
{
    char path[64], err[512] = "";
    snprintf(path, sizeof(path), "/tmp/crmstream-pd-budget-%d.cfg", (int)getpid());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
          "sources = ( { type = \"pipedrive\"; name = \"short\"; base_url = \"http://sim\";\n"
          "    options = { daily_budget_retry = \"2s\"; }; },\n"
          "  { type = \"pipedrive\"; name = \"long\"; base_url = \"http://sim\";\n"
          "    options = { daily_budget_retry = \"30m\"; }; } );\n",
          f);
    fclose(f);
    setenv("PIPEDRIVE_API_TOKEN", "unit-secret", 1);
    crm_config *cfg = config_load(path, err, sizeof(err));
    unlink(path);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "config: %s\n", err);
        return;
    }
    source *shortsrc = source_new(&cfg->sources[0], err, sizeof(err));
    source *longsrc = source_new(&cfg->sources[1], err, sizeof(err));
    CHECK(shortsrc != NULL && longsrc != NULL);
    const connector *c = connector_find("pipedrive");
    /* a 429 while the burst budget remains: the daily budget is spent */
    char *headers[] = {"x-ratelimit-remaining: 5", "x-ratelimit-reset: 2"};
    http_response resp;
    http_response_init(&resp);
    resp.status = 429;
    resp.headers = headers;
    resp.n_headers = 2;
    rate_signal a = {0}, b = {0};
    int64_t now = now_wall_ms(), to_midnight = 86400000LL - now % 86400000LL;
    if (shortsrc && longsrc) {
        c->rate_signal(shortsrc, &resp, &a);
        c->rate_signal(longsrc, &resp, &b);
        CHECK(a.budget_exhausted && b.budget_exhausted);
        CHECK(a.wait_ms > 0 && a.wait_ms <= 2000);
        if (to_midnight > 10000) /* else midnight caps both */
            CHECK(b.wait_ms > 2000 && b.wait_ms <= 1800000);
    }
    resp.headers = NULL;
    resp.n_headers = 0;
    http_response_free(&resp);
    source_free(shortsrc);
    source_free(longsrc);
    config_free(cfg);
}

int main(void)
{
    test_tables_declare_specs();
    test_budget_retry_per_source();
    check_static_walks();
    long pages, backs, total_backs = 0;
    /* updated_since walks (notes): ties larger than a page, small and odd page sizes */
    for (int round = 0; round < 40; round++) {
        long limit = 2 + (long)(check_rand() % 9);
        int tie = round % 2 ? 0 : (int)(limit * 3);
        CHECK(walk_reads_everything(120 + (size_t)round, tie, limit, 1, &pages, &backs));
        total_backs += backs;
    }
    /* id walks (reconciliation listings of notes, the files list) */
    for (int round = 0; round < 40; round++) {
        long limit = 2 + (long)(check_rand() % 9);
        CHECK(walk_reads_everything(150, 0, limit, 0, &pages, &backs));
        total_backs += backs;
    }
    CHECK(total_backs > 0); /* the mutations did shift the listings */
    return check_summary("pipedrive_paging");
}
