/* api.c — the Copper simulator's REST surface: searches (filters, sorts, paging, the
 * reach cap), records by id, routing, auth and the rolling-window rate limit. */
#include "copper_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- search -------------------------------------------------------------------------------- */

static struct {
    const char *field;
    int desc;
    int tie; /* 0 id, 1 hash, 2 shuffle */
    uint64_t seed;
} SORT;

typedef struct hit {
    json_t *rec;
    uint64_t tie;
} hit;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int value_cmp(const json_t *a, const json_t *b)
{
    int an = !a || json_is_null(a), bn = !b || json_is_null(b);
    if (an || bn)
        return an - bn ? (an ? -1 : 1) : 0;
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return x < y ? -1 : x > y;
    }
    if (json_is_string(a) && json_is_string(b))
        return strcmp(json_string_value(a), json_string_value(b));
    return 0;
}

static int hit_cmp(const void *pa, const void *pb)
{
    const hit *a = pa, *b = pb;
    int c = value_cmp(json_object_get(a->rec, SORT.field), json_object_get(b->rec, SORT.field));
    if (c == 0)
        c = a->tie < b->tie ? -1 : a->tie > b->tie;
    return SORT.desc ? -c : c;
}

static int is_listed(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

/* A search request after validation. */
typedef struct query {
    json_int_t page, size;
    const char *sort_by;
    int desc;
    int converted, full_result;
    json_t *body;
} query;

static int unprocessable(sim_response *resp, const char *fmt, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    sim_json(resp, 422, json_pack("{ss}", "message", msg));
    return -1;
}

static int int_key(sim_response *resp, json_t *body, const char *key, json_int_t def, json_int_t lo,
                   json_int_t hi, json_int_t *out)
{
    json_t *v = json_object_get(body, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return unprocessable(resp, "Invalid value for %s", key);
    *out = json_integer_value(v);
    return 0;
}

static int check_keys(const ctable *ct, json_t *body, sim_response *resp)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        int paging = strcmp(k, "page_number") == 0 || strcmp(k, "page_size") == 0;
        int sorting = ct->sorts && (strcmp(k, "sort_by") == 0 || strcmp(k, "sort_direction") == 0);
        if (!paging && !sorting && !is_listed(ct->filters, k))
            return unprocessable(resp, "Unknown attribute: %s", k);
        if (strstr(k, "_date") && !json_is_integer(v))
            return unprocessable(resp, "Invalid value for %s", k);
        if ((strcmp(k, "include_converted_leads") == 0 || strcmp(k, "full_result") == 0) &&
            !json_is_boolean(v))
            return unprocessable(resp, "Invalid value for %s", k);
        if (strcmp(k, "ids") == 0 && !json_is_array(v))
            return unprocessable(resp, "Invalid value for %s", k);
    }
    return 0;
}

static int parse_query(const ctable *ct, json_t *body, sim_response *resp, query *q)
{
    memset(q, 0, sizeof *q);
    q->body = body;
    if (check_keys(ct, body, resp) ||
        int_key(resp, body, "page_number", 1, 1, 1000000000, &q->page) ||
        int_key(resp, body, "page_size", 20, 1, 200, &q->size))
        return -1;
    q->sort_by = ct->default_sort;
    q->desc = ct->default_desc;
    json_t *sb = json_object_get(body, "sort_by"), *sd = json_object_get(body, "sort_direction");
    if (sb) {
        if (!json_is_string(sb) || !is_listed(ct->sorts, json_string_value(sb)))
            return unprocessable(resp, "Invalid sort_by: %s",
                                 json_is_string(sb) ? json_string_value(sb) : "?");
        q->sort_by = json_string_value(sb);
        q->desc = 0;
    }
    if (sd) {
        const char *d = json_string_value(sd);
        if (!d || (strcmp(d, "asc") && strcmp(d, "desc")))
            return unprocessable(resp, "Invalid value for %s", "sort_direction");
        q->desc = strcmp(d, "desc") == 0;
    }
    q->converted = json_is_true(json_object_get(body, "include_converted_leads"));
    q->full_result = json_is_true(json_object_get(body, "full_result"));
    return 0;
}

static int within(const json_t *rec, const char *field, json_t *body, const char *min_key,
                  const char *max_key)
{
    json_t *lo = json_object_get(body, min_key), *hi = json_object_get(body, max_key);
    if (!lo && !hi)
        return 1;
    json_t *v = json_object_get(rec, field);
    if (!json_is_integer(v))
        return 0;
    json_int_t x = json_integer_value(v);
    int inclusive = sim_param_int("inclusive", 1) != 0;
    if (lo && (inclusive ? x < json_integer_value(lo) : x <= json_integer_value(lo)))
        return 0;
    return !(hi && x > json_integer_value(hi));
}

static int id_listed(const json_t *rec, const json_t *ids)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (json_is_integer(v) && json_integer_value(v) == copper_jint(rec, "id"))
            return 1;
    }
    return 0;
}

static int activity_matches(const json_t *rec, json_t *body)
{
    if (!within(rec, "activity_date", body, "minimum_activity_date", "maximum_activity_date"))
        return 0;
    json_t *parent = json_object_get(body, "parent");
    if (parent && !json_equal(parent, json_object_get(rec, "parent")))
        return 0;
    json_t *types = json_object_get(body, "activity_types");
    if (json_array_size(types)) {
        size_t i;
        json_t *t;
        json_t *rt = json_object_get(rec, "type");
        json_array_foreach(types, i, t)
        {
            if (copper_jint(t, "id") == copper_jint(rt, "id") &&
                strcmp(json_string_value(json_object_get(t, "category")) ?: "",
                       json_string_value(json_object_get(rt, "category")) ?: "") == 0)
                return 1;
        }
        return 0;
    }
    return 1;
}

/* Param hide_ids ("id,id,..."): records a drifting listing misses; searches without an `ids`
 * filter leave them out, GET by id and `ids` searches still find them. */
static int hidden_from_listing(const json_t *rec, const query *q)
{
    const char *list = sim_param("hide_ids", "");
    if (!*list || json_object_get(q->body, "ids"))
        return 0;
    char want[32];
    snprintf(want, sizeof want, "%" JSON_INTEGER_FORMAT, copper_jint(rec, "id"));
    size_t n = strlen(want);
    for (const char *p = list; (p = strstr(p, want)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

static int matches(int t, const json_t *rec, const query *q)
{
    if (hidden_from_listing(rec, q))
        return 0;
    if (t == T_ACTIVITIES)
        return activity_matches(rec, q->body);
    if (t == T_USERS)
        return 1;
    if (t == T_LEADS && !q->converted && copper_is_converted(rec))
        return 0;
    json_t *ids = json_object_get(q->body, "ids");
    if (ids && !id_listed(rec, ids))
        return 0;
    return within(rec, "date_modified", q->body, "minimum_modified_date",
                  "maximum_modified_date") &&
           within(rec, "date_created", q->body, "minimum_created_date", "maximum_created_date");
}

static uint64_t tie_key(const json_t *rec)
{
    uint64_t id = (uint64_t)copper_jint(rec, "id");
    if (SORT.tie == 0)
        return id;
    return mix64(id ^ SORT.seed);
}

/* The matching records of table t in result order (duplicates included); caller frees. */
static hit *search_hits(int t, const query *q, size_t *n)
{
    json_t *recs = CU_TABLES[t].recs;
    size_t cap = json_array_size(recs) * 2 + 1, k = 0, i;
    hit *hits = xmalloc(cap * sizeof *hits);
    json_t *rec;
    const char *tie = sim_param("tie_order", "id");
    SORT.field = strcmp(q->sort_by, "value") == 0 ? "monetary_value" : q->sort_by;
    SORT.desc = q->desc;
    SORT.tie = strcmp(tie, "hash") == 0 ? 1 : strcmp(tie, "shuffle") == 0 ? 2 : 0;
    SORT.seed = SORT.tie == 2 ? sim_rand() : (uint64_t)sim_param_int("tie_seed", 12345);
    int dups = t == T_ACTIVITIES && q->full_result && sim_param_int("admin", 1);
    json_array_foreach(recs, i, rec)
    {
        if (!matches(t, rec, q))
            continue;
        hits[k].rec = rec;
        hits[k++].tie = tie_key(rec);
        if (dups && copper_jint(rec, "id") % 5 == 0) {
            hits[k].rec = rec;
            hits[k].tie = hits[k - 1].tie;
            k++;
        }
    }
    qsort(hits, k, sizeof *hits, hit_cmp);
    *n = k;
    return hits;
}

/* Mutations between page requests (params drift_*; see the control section). */

/* The hits of the latest search of each table, kept while the records (CU.gen), the query but
 * its paging, and the params that select or order are unchanged: a 1 M record table used to be
 * filtered and sorted whole for every page. tie_order=shuffle re-draws every time, uncached. */
static struct {
    char *sig;
    unsigned long gen;
    hit *hits;
    size_t n;
} HITS[N_TABLES];

void copper_hits_free(void)
{
    for (int t = 0; t < N_TABLES; t++) {
        free(HITS[t].hits);
        free(HITS[t].sig);
        HITS[t].hits = NULL;
        HITS[t].sig = NULL;
    }
}

static char *search_sig(const query *q)
{
    json_t *sel = copper_must(json_deep_copy(q->body));
    json_object_del(sel, "page_number");
    json_object_del(sel, "page_size");
    char *body = json_dumps(sel, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(sel);
    char *sig = NULL;
    if (!body || asprintf(&sig, "%s|%s|%d|%d|%d|%s|%s|%lld|%lld", body, q->sort_by, q->desc,
                          q->converted, q->full_result, sim_param("hide_ids", ""),
                          sim_param("tie_order", "id"), sim_param_int("tie_seed", 12345),
                          sim_param_int("inclusive", 1) * 2 + sim_param_int("admin", 1)) < 0)
        abort();
    free(body);
    return sig;
}

/* The date filter on the field a search sorts by, if the search has one: its bounds are cut
 * from the cached hits (sorted by that field) instead of being part of the cached query, so a
 * keyset walk whose minimum moves every page reuses one sorted listing. */
typedef struct date_cut {
    const char *field, *min_key, *max_key;
    json_t *lo, *hi; /* borrowed from the query's body */
} date_cut;

static int sort_date_cut(int t, const query *q, date_cut *c)
{
    static const char *const CUTS[][3] = {
        {"date_modified", "minimum_modified_date", "maximum_modified_date"},
        {"date_created", "minimum_created_date", "maximum_created_date"},
        {"activity_date", "minimum_activity_date", "maximum_activity_date"},
    };
    for (size_t i = 0; i < sizeof CUTS / sizeof CUTS[0]; i++) {
        int activity = strcmp(CUTS[i][0], "activity_date") == 0;
        if (strcmp(q->sort_by, CUTS[i][0]) != 0 || activity != (t == T_ACTIVITIES))
            continue;
        c->field = CUTS[i][0];
        c->min_key = CUTS[i][1];
        c->max_key = CUTS[i][2];
        c->lo = json_object_get(q->body, c->min_key);
        c->hi = json_object_get(q->body, c->max_key);
        return c->lo || c->hi;
    }
    return 0;
}

/* 1 while hit h comes before the cut's range in the hits' order (below it, ascending). */
static int before_range(const hit *h, const date_cut *c, int upper)
{
    json_t *v = json_object_get(h->rec, c->field);
    int below, above;
    if (!json_is_integer(v)) { /* sorted first ascending, last descending; never in range */
        below = 1;
        above = 0;
    } else {
        json_int_t x = json_integer_value(v);
        int inclusive = sim_param_int("inclusive", 1) != 0;
        below =
            c->lo && (inclusive ? x < json_integer_value(c->lo) : x <= json_integer_value(c->lo));
        above = c->hi && x > json_integer_value(c->hi);
    }
    if (!SORT.desc)
        return upper ? !above : below;
    return upper ? !below && json_is_integer(v) : above;
}

static size_t range_edge(const hit *hits, size_t n, const date_cut *c, int upper)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (before_range(&hits[mid], c, upper))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const hit *cached_hits(int t, const query *q, size_t *n)
{
    date_cut cut;
    query whole = *q;
    int cutting = sort_date_cut(t, q, &cut);
    if (cutting) { /* the query without the cut's bounds */
        whole.body = copper_must(json_copy(q->body));
        json_object_del(whole.body, cut.min_key);
        json_object_del(whole.body, cut.max_key);
    }
    char *sig = strcmp(sim_param("tie_order", "id"), "shuffle") == 0 ? NULL : search_sig(&whole);
    if (!(sig && HITS[t].sig && HITS[t].gen == CU.gen && strcmp(HITS[t].sig, sig) == 0)) {
        free(HITS[t].hits);
        free(HITS[t].sig);
        HITS[t].hits = search_hits(t, &whole, &HITS[t].n);
        HITS[t].sig = sig;
        HITS[t].gen = CU.gen;
        sig = NULL;
    }
    free(sig);
    if (cutting)
        json_decref(whole.body);
    *n = HITS[t].n;
    if (!cutting)
        return HITS[t].hits;
    SORT.field = cut.field; /* the hits are sorted by it, in this direction */
    SORT.desc = q->desc;
    size_t a = range_edge(HITS[t].hits, HITS[t].n, &cut, 0);
    size_t b = range_edge(HITS[t].hits, HITS[t].n, &cut, 1);
    *n = b > a ? b - a : 0;
    return HITS[t].hits + a;
}

static void api_search(int t, const sim_request *req, sim_response *resp)
{
    size_t len;
    const char *text = sim_body(req, &len);
    json_error_t je;
    json_t *body = len ? json_loadb(text, len, 0, &je) : json_object();
    if (!json_is_object(body)) {
        json_decref(body);
        sim_json(resp, 400, json_pack("{ss}", "message", "Request body must be a JSON object"));
        return;
    }
    query q;
    if (parse_query(&CU_TABLES[t], body, resp, &q)) {
        json_decref(body);
        return;
    }
    CU.searches++;
    if (json_object_get(body, "minimum_created_date"))
        CU.windowed++;
    copper_drift_before_search(t);
    if (json_object_get(body, "ids"))
        CU.id_searches++;
    size_t n;
    const hit *hits = cached_hits(t, &q, &n);
    long long cap = sim_param_int("reach_cap", MAX_WINDOW);
    long long offset = (long long)(q.page - 1) * q.size;
    json_t *out = copper_must(json_array());
    if (offset >= cap && (size_t)offset < n)
        CU.capped++;
    for (long long i = offset; i < (long long)n && i < offset + q.size && i < cap; i++)
        copper_jpush(out, json_incref(hits[i].rec));
    if (json_array_size(out))
        CU.last_served[t] = copper_jint(json_array_get(out, json_array_size(out) - 1), "id");
    sim_json(resp, 200, out);
    sim_set_header(resp, "X-PW-TOTAL", "%zu", n);
    json_decref(body);
}

/* ---- GET / DELETE by id --------------------------------------------------------------------- */

/* Records are kept in id order (appended with ascending ids, removed in place), so a binary
 * search finds one in O(log n) (seeding 1 M people looked up each one's company by a scan);
 * the scan remains for a table that is not in order. */
json_t *copper_find_by_id(int t, json_int_t id, size_t *index)
{
    size_t i, lo = 0, hi = json_array_size(CU_TABLES[t].recs);
    json_t *r;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        json_int_t m = copper_jint(json_array_get(CU_TABLES[t].recs, mid), "id");
        if (m == id) {
            if (index)
                *index = mid;
            return json_array_get(CU_TABLES[t].recs, mid);
        }
        if (m < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    json_array_foreach(CU_TABLES[t].recs, i, r)
    {
        if (copper_jint(r, "id") == id) {
            if (index)
                *index = i;
            return r;
        }
    }
    return NULL;
}

static int parse_id(const char *s, json_int_t *id)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v < 0)
        return -1;
    *id = (json_int_t)v;
    return 0;
}

static void not_found(sim_response *resp)
{
    sim_json(resp, 404, json_pack("{ss}", "message", "Resource not found"));
}

static void api_record(int t, const char *idtext, const char *method, sim_response *resp)
{
    json_int_t id;
    if (t == T_USERS && strcmp(idtext, "me") == 0)
        id = 1;
    else if (parse_id(idtext, &id)) {
        not_found(resp);
        return;
    }
    size_t idx;
    json_t *rec = copper_find_by_id(t, id, &idx);
    int deleted_act = 0;
    if (!rec && t == T_ACTIVITIES) {
        size_t i;
        json_t *v;
        json_array_foreach(CU.deleted_activities, i, v) deleted_act |= json_integer_value(v) == id;
    }
    if (!rec && !deleted_act) {
        not_found(resp);
        return;
    }
    if (strcmp(method, "DELETE") == 0 && rec) {
        if (t == T_ACTIVITIES)
            copper_jpush(CU.deleted_activities, json_integer(id));
        if (json_array_remove(CU_TABLES[t].recs, idx))
            abort();
        rec = NULL;
        deleted_act = 1;
    }
    if (rec)
        sim_json(resp, 200, json_incref(rec));
    else
        sim_json(resp, 200, json_pack("{sIsb}", "id", id, "is_deleted", 1));
}

/* ---- routing, auth, rate limit --------------------------------------------------------------- */

static int auth_ok(const sim_request *req, sim_response *resp)
{
    const char *token = sim_header(req, "X-PW-AccessToken");
    const char *email = sim_header(req, "X-PW-UserEmail");
    const char *app = sim_header(req, "X-PW-Application");
    if (!token || !email || !app || strcmp(token, sim_param("token", "copper-token")) ||
        strcasecmp(email, sim_param("email", "admin@example.com")) ||
        strcmp(app, "developer_api")) {
        sim_json(resp, 401,
                 json_pack("{ss}", "message",
                           sim_param("auth_message", "Invalid credentials provided")));
        return 0;
    }
    if (sim_param_int("forbidden", 0)) {
        sim_json(resp, 403, json_pack("{ss}", "message", "Forbidden: insufficient permissions"));
        return 0;
    }
    return 1;
}

void copper_rate_limited(sim_response *resp, double retry_after_s)
{
    sim_json(resp, 429, json_pack("{ss}", "message", "Rate limit exceeded"));
    if (sim_param_int("retry_after", 0)) {
        long s = (long)retry_after_s + 1;
        sim_set_header(resp, "Retry-After", "%ld", s);
    }
}

/* Rolling 60-second window of accepted requests; 0 when this one is over the limit. */
static int rate_ok(sim_response *resp)
{
    long long limit = sim_param_int("rate_per_min", 180);
    if (limit <= 0)
        return 1;
    int64_t now = sim_now_ms();
    static size_t cap;
    if (cap != (size_t)limit) { /* (re)size the ring; forget history on a change */
        free(CU.window);
        cap = (size_t)limit;
        CU.window = xcalloc(cap, sizeof(int64_t));
        CU.win_head = CU.win_len = 0;
    }
    int64_t span = sim_param_int("rate_window_ms", 60000);
    while (CU.win_len && now - CU.window[CU.win_head] >= span) {
        CU.win_head = (CU.win_head + 1) % cap;
        CU.win_len--;
    }
    if (CU.win_len >= cap) {
        CU.limited++;
        copper_rate_limited(resp, (double)(CU.window[CU.win_head] + span - now) / 1000.0);
        return 0;
    }
    CU.window[(CU.win_head + CU.win_len) % cap] = now;
    CU.win_len++;
    return 1;
}

int copper_table_by_name(const char *name, size_t len)
{
    for (int t = 0; t < N_TABLES; t++)
        if (strlen(CU_TABLES[t].name) == len && strncmp(CU_TABLES[t].name, name, len) == 0)
            return t;
    return -1;
}

static void api_list(const char *path, sim_response *resp)
{
    int t = copper_table_by_name(path, strlen(path));
    if (t >= T_CONTACT_TYPES)
        sim_json(resp, 200, json_incref(CU_TABLES[t].recs));
    else if (strcmp(path, "account") == 0)
        sim_json(resp, 200, json_incref(CU.account));
    else if (strcmp(path, "pipeline_stages") == 0)
        sim_json(resp, 200, copper_pipeline_stages());
    else if (strcmp(path, "tags") == 0)
        sim_json(resp, 200, copper_tags_list());
    else if (strcmp(path, "activity_types") == 0)
        sim_json(resp, 200, copper_activity_types());
    else
        not_found(resp);
}

void copper_handle(const sim_request *req, sim_response *resp)
{
    const char *path = sim_path(req), *method = sim_method(req);
    size_t plen = strlen(API_PREFIX);
    if (strncmp(path, API_PREFIX "/", plen + 1) != 0) {
        not_found(resp);
        return;
    }
    if (!auth_ok(req, resp) || !rate_ok(resp))
        return;
    path += plen + 1;
    const char *slash = strchr(path, '/');
    int t = copper_table_by_name(path, slash ? (size_t)(slash - path) : strlen(path));
    int post = strcmp(method, "POST") == 0;
    if (slash && t >= 0 && t <= T_USERS && strcmp(slash, "/search") == 0) {
        if (post)
            api_search(t, req, resp);
        else
            sim_json(resp, 405, json_pack("{ss}", "message", "Method not allowed"));
    } else if (slash && t >= 0 && t <= T_USERS && !strchr(slash + 1, '/') &&
               (strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0)) {
        api_record(t, slash + 1, method, resp);
    } else if (!slash && strcmp(method, "GET") == 0) {
        api_list(path, resp);
    } else {
        not_found(resp);
    }
}
