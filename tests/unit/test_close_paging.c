/* test_close_paging.c — the Close connector's pure paging steps: the keyset walk over offset
 * lists (close_keyset_advance) against a model server whose records move and vanish between
 * requests, the search walk (close_search_advance), and the confirmation parser. */
#include <stdlib.h>

#include "../../connectors/close/close_internal.h"
#include "check.h"
#include "crm_time.h"

/* ---- a model of an offset list ordered by (key, id), filtered by key__gte ---------------- */

#define MAXREC 4096

typedef struct rec {
    int64_t key;
    int id;
    int alive;
    int moved; /* updated or deleted at some point: not required to be read */
    int read;
} rec;

static rec R[MAXREC];
static int NR, NEXT_ID;
static int64_t NOW;

static int rec_cmp(const void *a, const void *b)
{
    const rec *x = *(rec *const *)a, *y = *(rec *const *)b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->id - y->id;
}

static json_t *rec_json(const rec *r)
{
    char when[40], id[32];
    crm_time_format(r->key, when, sizeof when);
    snprintf(id, sizeof id, "r%05d", r->id);
    return json_pack("{s:s, s:s}", "id", id, "date_updated", when);
}

/* Serves one page: the alive records with key >= anchor from position skip. */
static json_t *serve(const json_t *paging, int limit, int *has_more, int *last)
{
    static rec *v[MAXREC];
    int n = 0;
    json_t *a = json_object_get(paging, "anchor_ms");
    for (int i = 0; i < NR; i++)
        if (R[i].alive && (!json_is_integer(a) || R[i].key >= json_integer_value(a)))
            v[n++] = &R[i];
    qsort(v, (size_t)n, sizeof v[0], rec_cmp);
    long long skip = close_keyset_skip(paging);
    json_t *data = json_array();
    *last = -1;
    for (long long i = skip; i < n && i < skip + limit; i++) {
        json_array_append_new(data, rec_json(v[i]));
        v[i]->read = 1;
        *last = (int)(v[i] - R);
    }
    *has_more = skip + limit < n;
    return data;
}

static void add_rec(int64_t key)
{
    R[NR] = (rec){.key = key, .id = NEXT_ID++, .alive = 1};
    NR++;
}

/* Between requests: the boundary record (served last) is updated (moves to NOW) or deleted,
 * and sometimes a random record changes or a new one appears. */
static void drift(int last, int mode)
{
    NOW += 1;
    if (last >= 0 && mode) {
        int del = mode == 2 || (mode == 3 && (check_rand() & 1));
        R[last].moved = 1;
        if (del)
            R[last].alive = 0;
        else
            R[last].key = NOW;
    }
    if (mode == 3 && NR < MAXREC - 1) {
        int k = (int)(check_rand() % (unsigned)NR);
        switch (check_rand() % 3) {
        case 0:
            R[k].moved = 1;
            R[k].alive = 0;
            break;
        case 1:
            if (R[k].alive) {
                R[k].moved = 1;
                R[k].key = NOW;
            }
            break;
        default:
            add_rec(NOW);
            R[NR - 1].moved = 1; /* created during the walk: the next pass's business */
        }
    }
}

/* Seeds n records with keys drawn from `distinct` values (ties when distinct < n). */
static void seed(int n, int distinct)
{
    NR = 0;
    NEXT_ID = 1;
    NOW = 1700000000000LL;
    for (int i = 0; i < n; i++)
        add_rec(NOW + (int64_t)(check_rand() % (unsigned)distinct) * 1000);
    NOW += (int64_t)distinct * 1000 + 1000;
}

/* Walks the list to the end under drift; returns the number of unmoved records never read. */
static int walk(int limit, int mode, int *pages)
{
    json_t *paging = json_object();
    int done = 0, lost = 0;
    *pages = 0;
    while (!done && *pages < 100000) {
        int has_more, last;
        json_t *data = serve(paging, limit, &has_more, &last);
        done = close_keyset_advance(paging, data, "date_updated", has_more);
        json_decref(data);
        (*pages)++;
        if (!done)
            drift(last, mode);
    }
    for (int i = 0; i < NR; i++)
        if (R[i].alive && !R[i].moved && !R[i].read)
            lost++;
    json_decref(paging);
    CHECK(done);
    return lost;
}

static void test_keyset_boundary_cases(void)
{
    int pages;
    /* Distinct keys; the boundary record updated after every page. */
    seed(200, 1000);
    CHECK(walk(10, 1, &pages) == 0);
    /* Deleted after every page. */
    seed(200, 1000);
    CHECK(walk(10, 2, &pages) == 0);
    /* Many ties (20 keys for 300 records: runs longer than a page of 7). */
    seed(300, 20);
    CHECK(walk(7, 2, &pages) == 0);
    seed(300, 20);
    CHECK(walk(7, 1, &pages) == 0);
    /* One key for everything: the walk is all tie, deletes inside it restart it. */
    seed(60, 1);
    CHECK(walk(8, 2, &pages) == 0);
    /* No drift: every record read, pages bounded (each page re-reads at most its tie). */
    seed(500, 100000);
    CHECK(walk(25, 0, &pages) == 0);
    CHECK(pages <= 500 / 24 + 2);
}

static void test_keyset_random(void)
{
    int lost = 0, pages;
    for (int round = 0; round < 200; round++) {
        int n = 50 + (int)(check_rand() % 400), distinct = 1 + (int)(check_rand() % 600);
        int limit = 3 + (int)(check_rand() % 40), mode = (int)(check_rand() % 4);
        seed(n, distinct);
        lost += walk(limit, mode, &pages);
    }
    CHECK(lost == 0);
}

/* The tie state itself: a tie longer than a page is paged one record short, and a page whose
 * first record is not one read in the tie restarts it. */
static void test_keyset_tie_state(void)
{
    json_t *paging = json_object(), *page = json_array();
    char when[40];
    crm_time_format(1700000000000LL, when, sizeof when);
    for (int i = 0; i < 3; i++)
        json_array_append_new(page, json_pack("{s:s, s:s}", "id",
                                              i == 0   ? "a"
                                              : i == 1 ? "b"
                                                       : "c",
                                              "date_updated", when));
    CHECK(close_keyset_advance(paging, page, "date_updated", 1) == 0);
    CHECK(json_integer_value(json_object_get(paging, "anchor_ms")) == 1700000000000LL);
    CHECK(close_keyset_skip(paging) == 2); /* 3 read: re-serve the third */
    json_t *next = json_pack("[{s:s, s:s}, {s:s, s:s}]", "id", "c", "date_updated", when, "id", "d",
                             "date_updated", when);
    CHECK(close_keyset_advance(paging, next, "date_updated", 1) == 0);
    CHECK(close_keyset_skip(paging) == 3); /* a b c d read */
    json_t *shifted = json_pack("[{s:s, s:s}]", "id", "f", "date_updated", when);
    CHECK(close_keyset_advance(paging, shifted, "date_updated", 1) == 0);
    CHECK(close_keyset_skip(paging) == 0); /* f was never read: the tie is read again */
    CHECK(json_object_get(paging, "tie_ids") == NULL);
    CHECK(close_keyset_advance(paging, shifted, "date_updated", 0) == 1);
    json_decref(paging);
    json_decref(page);
    json_decref(next);
    json_decref(shifted);
}

/* ---- the search walk --------------------------------------------------------------------- */

static json_t *page_of(const int64_t *keys, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char when[40], id[16];
        crm_time_format(keys[i], when, sizeof when);
        snprintf(id, sizeof id, "lead_%d", i);
        json_array_append_new(a, json_pack("{s:s, s:s}", "id", id, "date_updated", when));
    }
    return a;
}

static void test_search_advance(void)
{
    char err[200];
    json_t *paging = json_object(), *cur = json_string("c1");
    int64_t mixed[] = {1000, 2000, 3000}, tie[] = {3000, 3000, 3000}, later[] = {3000, 4000};
    json_t *p1 = page_of(mixed, 3), *p2 = page_of(tie, 3), *p3 = page_of(later, 2);
    /* A page with several keys: the next request is a fresh query from its highest key. */
    CHECK(close_search_advance(paging, p1, cur, 10000, 5, err, sizeof err) == 0);
    CHECK(json_integer_value(json_object_get(paging, "anchor_ms")) == 3000);
    CHECK(json_object_get(paging, "cursor") == NULL);
    /* A page that is one tie: the cursor walks it. */
    CHECK(close_search_advance(paging, p2, cur, 10000, 5, err, sizeof err) == 0);
    CHECK_STR(json_string_value(json_object_get(paging, "cursor")), "c1");
    /* Tie longer than the walk limit: an error naming it. */
    json_t *copy = json_deep_copy(paging);
    CHECK(close_search_advance(copy, p2, cur, 4, 5, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "share one date_updated");
    json_decref(copy);
    /* The tie ends inside the page: fresh query again from the new key. */
    CHECK(close_search_advance(paging, p3, cur, 10000, 5, err, sizeof err) == 0);
    CHECK(json_object_get(paging, "cursor") == NULL);
    CHECK(json_integer_value(json_object_get(paging, "anchor_ms")) == 4000);
    /* No cursor: done when nothing new came, else one more query. */
    CHECK(close_search_advance(paging, p3, json_null(), 10000, 5, err, sizeof err) == 1);
    json_t *fresh = json_object();
    CHECK(close_search_advance(fresh, p1, json_null(), 10000, 5, err, sizeof err) == 0);
    json_decref(fresh);
    json_decref(paging);
    json_decref(cur);
    json_decref(p1);
    json_decref(p2);
    json_decref(p3);
}

/* ---- confirmation answers ---------------------------------------------------------------- */

static int confirm_ids(const char *body, char *out, size_t outlen)
{
    http_response resp;
    http_response_init(&resp);
    buf_append_str(&resp.body, body);
    resp.status = 200;
    page pg;
    memset(&pg, 0, sizeof pg);
    char err[200];
    table_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.confirm = 1;
    int rc = close_confirm_parse(&ctx, &resp, &pg, err, sizeof err);
    out[0] = '\0';
    if (rc == 0) {
        char *s = json_dumps(pg.ids, JSON_COMPACT);
        snprintf(out, outlen, "%s", s);
        free(s);
    }
    json_decref(pg.ids);
    http_response_free(&resp);
    return rc;
}

static void test_confirm_parse(void)
{
    char ids[200];
    CHECK(confirm_ids("{\"data\":[{\"id\":\"task_a\"},{\"id\":\"task_c\"}],\"has_more\":false}",
                      ids, sizeof ids) == 0);
    CHECK_STR(ids, "[\"task_a\",\"task_c\"]");
    CHECK(confirm_ids("{\"id\":\"oppo_x\",\"value\":1}", ids, sizeof ids) == 0);
    CHECK_STR(ids, "[\"oppo_x\"]");
    CHECK(confirm_ids("{\"data\":[],\"has_more\":false}", ids, sizeof ids) == 0);
    CHECK_STR(ids, "[]");
    CHECK(confirm_ids("{\"error\":\"x\"}", ids, sizeof ids) == -1);
    CHECK(confirm_ids("not json", ids, sizeof ids) == -1);
}

/* Every table is one declaration: its spec holds what its callbacks read (path, page size
 * option, keyset key, custom fields' object type). */
static void test_tables_declare_specs(void)
{
    const connector *c = connector_find("close");
    for (size_t i = 0; i < c->n_tables; i++) {
        const table_def *t = &c->tables[i];
        const close_table *ct = close_table_of(t);
        CHECK(ct != NULL);
        if (!ct)
            continue;
        int lists = t->next_request == close_full_request ||
                    t->next_request == close_keyset_request ||
                    t->next_request == close_search_request;
        if (lists && (!ct->path || !ct->limit_option))
            CHECK_STR(t->name, "a list table with path and limit_option");
        if (t->next_request == close_keyset_request)
            CHECK(ct->key != NULL);
        if (t->next_request == close_search_request)
            CHECK(ct->object_type != NULL && ct->item_path != NULL);
        if (t->custom && t->custom != &close_custom_report_metrics)
            CHECK(ct->object_type != NULL);
        CHECK(ct->fallback_slot >= 0 && ct->fallback_slot <= CLOSE_FALLBACK_TABLES);
    }
    /* the tables the event log reports deletes of, each with its own fallback slot */
    json_t *names = close_fallback_tables();
    json_t *want =
        json_pack("[s,s,s,s,s]", "leads", "contacts", "opportunities", "tasks", "activities");
    CHECK(json_equal(names, want));
    for (size_t i = 0; i < json_array_size(names); i++)
        CHECK(close_table_of(connector_table(c, json_string_value(json_array_get(names, i))))
                  ->fallback_slot == (int)i + 1);
    json_decref(names);
    json_decref(want);
}

int main(void)
{
    test_tables_declare_specs();
    test_keyset_boundary_cases();
    test_keyset_random();
    test_keyset_tie_state();
    test_search_advance();
    test_confirm_parse();
    return check_summary("test_close_paging");
}
