/* api.c — the Close REST surface of the simulator: Basic auth with the API key as user, paths
 * under /api/v1/ with trailing slashes, offset lists ({"data","has_more"}, per-resource max
 * _limit, max_skip -> 400), the documented filters (and their absence on /lead/ and /contact/),
 * _order_by, _fields, x-http-method-override, the event log (cursor, 50 per page, allowed filter
 * combinations, retention), POST /data/search/ (keyset cursor with a TTL and a per-walk cap),
 * per-key and per-org rate limits per endpoint group with Close's headers and 429 bodies, and
 * plan gating (402 on /send_as/, 400 on /event/ without event-log access).
 *
 * Parameters (--param k=v or POST /_control/param):
 *   api_key (api_test_key), api_keys (extra keys, comma separated), nonadmin_keys
 *   max_skip (250000), slash (accept|redirect), event_log (1; 0 = 400 on /event/)
 *   send_as_status (402), search_max_results (10000), search_cursor_ttl_s (30)
 *   key_rps (0 = off; per key and endpoint group, org = 3x), search_key_rps (key_rps)
 *   rate_body (error|top), rate_reset_string (0), legacy_headers (0), ratelimit_sep (";")
 *   retry_after (0: no Retry-After header on 429)
 *   me_org_objects (0; 1 = /me/ lists organizations as {"id","name"} objects)
 *   search_cursor (keyset: continues after the last object served; offset: counts objects
 *     served, so records that move or vanish mid-walk shift it)
 *   concurrent change between page requests: see drift.c */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "close_sim.h"
#include "crm_time.h"

#define WERKZEUG_401                                                                               \
    "The server could not verify that you are authorized to access the URL requested. You "        \
    "either supplied the wrong credentials (e.g. a bad password), or your browser doesn't "        \
    "understand how to supply the credentials required."
#define NOT_FOUND_URL                                                                              \
    "The requested URL was not found on the server. If you entered the URL manually please "       \
    "check your spelling and try again."

/* One API call: its path under /api/v1 and its parameters (query, or {"_params"} override). */
typedef struct call {
    const sim_request *req;
    sim_response *resp;
    char path[512];
    json_t *override; /* x-http-method-override: GET body params, or NULL */
    const char *key;
} call;

static const char *param(const call *c, const char *name)
{
    if (c->override) {
        json_t *v = json_object_get(c->override, name);
        return json_is_string(v) ? json_string_value(v) : NULL;
    }
    return sim_query(c->req, name);
}

static const char *str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static void field_error(call *c, const char *field, const char *msg)
{
    sim_json(c->resp, 400, json_pack("{s[]s{ss}}", "errors", "field-errors", field, msg));
}

/* ---- rate limiting ---------------------------------------------------------------------- */

typedef struct bucket {
    char name[160];
    double tokens;
    int64_t ms;
} bucket;

static bucket buckets[256];
static int n_buckets;

static bucket *bucket_get(const char *name, double cap)
{
    for (int i = 0; i < n_buckets; i++)
        if (strcmp(buckets[i].name, name) == 0)
            return &buckets[i];
    if (n_buckets == (int)(sizeof buckets / sizeof buckets[0]))
        n_buckets = 0; /* forget everything rather than fail */
    bucket *b = &buckets[n_buckets++];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->tokens = cap;
    b->ms = now_monotonic_ms();
    return b;
}

static void bucket_refill(bucket *b, double rate)
{
    int64_t now = now_monotonic_ms();
    b->tokens += (double)(now - b->ms) * rate / 1000.0;
    if (b->tokens > rate)
        b->tokens = rate; /* a one-second window */
    b->ms = now;
}

/* Endpoint group: method + first path segment ("GET lead", "POST data"). */
static void endpoint_group(const call *c, char *out, size_t len)
{
    const char *p = c->path + 1;
    size_t n = strcspn(p, "/");
    snprintf(out, len, "%s %.*s", sim_method(c->req), (int)n, p);
}

static void set_ratelimit_headers(sim_response *resp, double limit, double remaining,
                                  double reset_s)
{
    const char *sep = sim_param("ratelimit_sep", ";");
    sim_set_header(resp, "ratelimit", "limit=%.0f%s remaining=%.0f%s reset=%.0f", limit, sep,
                   floor(remaining), sep, ceil(reset_s));
    if (sim_param_int("legacy_headers", 0)) {
        sim_set_header(resp, "X-Rate-Limit-Limit", "%.0f", limit);
        sim_set_header(resp, "X-Rate-Limit-Remaining", "%.0f", floor(remaining));
        sim_set_header(resp, "X-Rate-Limit-Reset", "%.6f", reset_s);
    }
}

static void rate_body(sim_response *resp, double reset_s, double limit, const char *type,
                      const char *group)
{
    json_t *reset =
        sim_param_int("rate_reset_string", 0) ? json_sprintf("%.6f", reset_s) : json_real(reset_s);
    json_t *e = json_pack("{sssosfsiss}", "message", "API call count exceeded for this period",
                          "rate_reset", reset, "rate_limit", limit, "rate_window", 1,
                          "rate_limit_type", type);
    char hash[32];
    snprintf(hash, sizeof hash, "%08lx",
             (unsigned long)hash64(group, strlen(group)) & 0xffffffffUL);
    json_object_set_new(e, "rate_endpoint_group", json_string(hash));
    if (strcmp(sim_param("rate_body", "error"), "top") == 0)
        sim_json(resp, 429, e);
    else
        sim_json(resp, 429, json_pack("{so}", "error", e));
    if (sim_param_int("retry_after", 0))
        sim_set_header(resp, "Retry-After", "%.0f", ceil(reset_s) < 1 ? 1 : ceil(reset_s));
}

/* Per (key, group) and per (org, group) = 3x buckets. Returns 0 when the call may proceed. */
static int rate_limit(call *c)
{
    char group[64], kname[160], oname[160];
    endpoint_group(c, group, sizeof group);
    double rate = (double)sim_param_int("key_rps", 0);
    if (strstr(group, " data"))
        rate = (double)sim_param_int("search_key_rps", (long long)rate);
    if (rate <= 0) {
        double r, burst, tokens;
        sim_ratelimit_state(&r, &burst, &tokens);
        if (r > 0)
            set_ratelimit_headers(c->resp, burst, tokens, tokens >= 1 ? 0 : (1 - tokens) / r);
        else
            set_ratelimit_headers(c->resp, 160, 159, 8);
        return 0;
    }
    snprintf(kname, sizeof kname, "key %s %s", c->key, group);
    snprintf(oname, sizeof oname, "org %s", group);
    bucket *k = bucket_get(kname, rate), *o = bucket_get(oname, 3 * rate);
    bucket_refill(k, rate);
    bucket_refill(o, 3 * rate);
    bucket *empty = k->tokens < 1 ? k : o->tokens < 1 ? o : NULL;
    if (empty) {
        double r = empty == k ? rate : 3 * rate;
        double reset = (1 - empty->tokens) / r;
        rate_body(c->resp, reset, r, empty == k ? "key" : "org", group);
        set_ratelimit_headers(c->resp, r, 0, reset);
        return -1;
    }
    k->tokens -= 1;
    o->tokens -= 1;
    /* reset: seconds until the key's quota is whole again (observed "limit=160; remaining=159;
     * reset=8": not 0 while requests remain) */
    set_ratelimit_headers(c->resp, rate, k->tokens, (rate - k->tokens) / rate);
    return 0;
}

void close_rate_limited(sim_response *resp, double retry_after_s)
{
    double rate;
    sim_ratelimit_state(&rate, NULL, NULL);
    rate_body(resp, retry_after_s, rate, "key", "global");
    set_ratelimit_headers(resp, rate, 0, retry_after_s);
}

/* ---- parameters ------------------------------------------------------------------------- */

/* Non-negative integer parameter; -2 when absent, -1 when invalid. */
static long long int_param(const call *c, const char *name)
{
    const char *s = param(c, name);
    if (!s)
        return -2;
    char *end;
    long long v = strtoll(s, &end, 10);
    return (*s && !*end && v >= 0) ? v : -1;
}

/* A filter date: ISO date/datetime, with or without fraction/offset; naive values are local
 * to x-tz-offset (hours) when that header is sent. */
static int parse_filter_time(const call *c, const char *s, int64_t *ms)
{
    if (crm_time_parse(s, ms) || *ms == CRM_TIME_NONE)
        return -1;
    size_t n = strlen(s);
    int has_zone = n > 10 && (strchr(s + 10, 'Z') || strchr(s + 10, '+') || strchr(s + 11, '-'));
    const char *tz = sim_header(c->req, "x-tz-offset");
    if (!has_zone && tz)
        *ms -= (int64_t)(atof(tz) * 3600000.0);
    return 0;
}

typedef struct range {
    const char *field;
    int64_t gt, gte, lt, lte;
} range;

/* Reads field__gt/gte/lt/lte. 0 ok, -1 after a 400. */
static int read_range(call *c, const char *field, range *r)
{
    static const char *const OPS[] = {"gt", "gte", "lt", "lte"};
    int64_t *slots[] = {&r->gt, &r->gte, &r->lt, &r->lte};
    r->field = field;
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s__%s", field, OPS[i]);
        *slots[i] = CRM_TIME_NONE;
        const char *v = param(c, name);
        if (v && parse_filter_time(c, v, slots[i])) {
            field_error(c, name, "Invalid date/datetime.");
            return -1;
        }
    }
    return 0;
}

static int in_range(const range *r, const json_t *rec)
{
    if (r->gt == CRM_TIME_NONE && r->gte == CRM_TIME_NONE && r->lt == CRM_TIME_NONE &&
        r->lte == CRM_TIME_NONE)
        return 1;
    int64_t v = close_rec_ms(rec, r->field);
    if (v == CRM_TIME_NONE)
        return 0;
    return (r->gt == CRM_TIME_NONE || v > r->gt) && (r->gte == CRM_TIME_NONE || v >= r->gte) &&
           (r->lt == CRM_TIME_NONE || v < r->lt) && (r->lte == CRM_TIME_NONE || v <= r->lte);
}

static int range_given(const range *r)
{
    return r->gt != CRM_TIME_NONE || r->gte != CRM_TIME_NONE || r->lt != CRM_TIME_NONE ||
           r->lte != CRM_TIME_NONE;
}

/* ---- sorting and projection ------------------------------------------------------------- */

typedef struct order {
    const char *field; /* NULL: stored order */
    int desc;
} order;

/* A record with its sort key parsed once (sorting re-parsed timestamps O(n log n) times). */
typedef struct keyed {
    json_t *rec;
    int64_t ms;
    const char *id;
} keyed;

static int keyed_desc;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = x->ms != y->ms ? (x->ms < y->ms ? -1 : 1) : strcmp(x->id, y->id);
    return keyed_desc ? -c : c;
}

/* Sorts v by (o.field, id); timestamps compare by instant, other fields as text. */
static void sort_recs(json_t **v, size_t n, order o)
{
    if (n < 2 || !o.field)
        return;
    keyed *k = xmalloc(n * sizeof *k);
    int text = 0;
    for (size_t i = 0; i < n; i++) {
        k[i].rec = v[i];
        k[i].id = str(v[i], "id") ?: "";
        k[i].ms = close_rec_ms(v[i], o.field);
        text |= k[i].ms == CRM_TIME_NONE && json_is_number(json_object_get(v[i], o.field));
    }
    if (text) /* e.g. _order_by=value or confidence: numbers, or plain strings */
        for (size_t i = 0; i < n; i++) {
            json_t *f = json_object_get(v[i], o.field);
            k[i].ms = json_is_number(f) ? (int64_t)json_number_value(f) : 0;
        }
    keyed_desc = o.desc;
    qsort(k, n, sizeof *k, keyed_cmp);
    for (size_t i = 0; i < n; i++)
        v[i] = k[i].rec;
    free(k);
}

/* Keeps only the named keys; "custom" keeps every custom.* key and the legacy dict. */
static json_t *project(json_t *rec, const json_t *names)
{
    json_t *out = json_object();
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
    {
        const char *k = json_string_value(n);
        if (!k)
            continue;
        if (strcmp(k, "custom") == 0) {
            const char *rk;
            json_t *rv;
            json_object_foreach(rec, rk, rv) if (strncmp(rk, "custom", 6) == 0)
                json_object_set(out, rk, rv);
        } else if (json_object_get(rec, k)) {
            json_object_set(out, k, json_object_get(rec, k));
        }
    }
    json_decref(rec);
    return out;
}

static json_t *fields_param(const call *c)
{
    const char *f = param(c, "_fields");
    if (!f || !*f)
        return NULL;
    json_t *names = json_array();
    const char *p = f;
    while (*p) {
        size_t n = strcspn(p, ",");
        json_array_append_new(names, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
    return names;
}

typedef int (*rec_filter)(call *c, const json_t *rec, void *u);

/* ---- listing cache ------------------------------------------------------------------------ */

/* The records a listing selects, in its order, kept while the collection is unchanged (its gen):
 * paging 1 M records re-filtered and re-sorted the whole collection for every page. Keyed by
 * everything that selects and orders (path, key, time zone, parameters but the paging ones). */
typedef struct listing {
    char *sig;
    close_coll *coll;
    unsigned long gen;
    json_t **v; /* borrowed from coll->recs: valid while gen matches */
    size_t n;
} listing;

#define LISTINGS 8
static listing listings[LISTINGS];
static int listing_next;

static json_t **listing_find(const char *sig, const close_coll *coll, size_t *n)
{
    for (int i = 0; i < LISTINGS; i++) {
        listing *l = &listings[i];
        if (l->sig && l->coll == coll && l->gen == coll->gen && strcmp(l->sig, sig) == 0) {
            *n = l->n;
            return l->v;
        }
    }
    return NULL;
}

/* Keeps v (owned from now on) under sig, replacing the oldest entry. */
static void listing_keep(const char *sig, close_coll *coll, json_t **v, size_t n)
{
    listing *l = &listings[listing_next];
    listing_next = (listing_next + 1) % LISTINGS;
    free(l->sig);
    free(l->v);
    *l = (listing){xstrdup(sig), coll, coll->gen, v, n};
}

void close_api_free(void)
{
    for (int i = 0; i < LISTINGS; i++) {
        free(listings[i].sig);
        free(listings[i].v);
        listings[i] = (listing){0};
    }
}

/* A listing's signature being written: the parameters but the paging ones and the range on
 * the sort field (cut from the cached listing, so a keyset walk moving its anchor each page
 * reuses one listing). */
typedef struct sig_writer {
    buf *b;
    const char *cut; /* "<field>__": the range on the sort field, or NULL */
} sig_writer;

static void sig_param(const char *k, const char *v, void *u)
{
    sig_writer *w = u;
    if (w->cut && strncmp(k, w->cut, strlen(w->cut)) == 0)
        return;
    if (strcmp(k, "_skip") && strcmp(k, "_limit") && strcmp(k, "_fields"))
        buf_printf(w->b, "&%s=%s", k, v);
}

static void offset_sig(const call *c, const range *cut, buf *b)
{
    const char *tz = sim_header(c->req, "x-tz-offset");
    char prefix[64];
    if (cut)
        snprintf(prefix, sizeof prefix, "%s__", cut->field);
    sig_writer w = {b, cut ? prefix : NULL};
    buf_printf(b, "%s %s tz=%s", c->path, c->key ? c->key : "", tz ? tz : "");
    if (c->override) {
        const char *k;
        json_t *v;
        json_object_foreach(c->override, k, v) if (json_is_string(v))
            sig_param(k, json_string_value(v), &w);
    } else {
        sim_query_each(c->req, sig_param, &w);
    }
}

/* 1 when the sort key of rec is below `bound` in the listing's order (ascending: less). */
static int key_before(const json_t *rec, order o, int64_t bound, int inclusive)
{
    int64_t m = close_rec_ms(rec, o.field);
    if (o.desc)
        return inclusive ? m >= bound : m > bound;
    return inclusive ? m <= bound : m < bound;
}

/* The first index of v (sorted by o.field) where key_before turns false. */
static size_t key_search(json_t **v, size_t n, order o, int64_t bound, int inclusive)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_before(v[mid], o, bound, inclusive))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The part of v (sorted by o.field, which is r's field) inside r: what filtering by r before
 * sorting selects, found by two binary searches. Records without the field are never in it. */
static json_t **range_cut(json_t **v, size_t n, order o, const range *r, size_t *count)
{
    int64_t lower = CRM_TIME_NONE + 1, upper = INT64_MAX;
    if (r->gte != CRM_TIME_NONE && r->gte > lower)
        lower = r->gte;
    if (r->gt != CRM_TIME_NONE && r->gt != INT64_MAX && r->gt + 1 > lower)
        lower = r->gt + 1;
    if (r->lte != CRM_TIME_NONE && r->lte < upper)
        upper = r->lte;
    if (r->lt != CRM_TIME_NONE && r->lt - 1 < upper)
        upper = r->lt - 1;
    size_t a, b;
    if (!o.desc) { /* ascending: [first >= lower, first > upper) */
        a = key_search(v, n, o, lower, 0);
        b = key_search(v, n, o, upper, 1);
    } else { /* descending: [first <= upper, first < lower) */
        a = key_search(v, n, o, upper, 0);
        b = key_search(v, n, o, lower, 1);
    }
    *count = b > a ? b - a : 0;
    return v + a;
}

/* The range among r[0..n) on the sort field, when one is given; NULL otherwise. */
static const range *sort_field_range(const range *r, int n, order o)
{
    for (int i = 0; o.field && i < n; i++)
        if (r[i].field && strcmp(r[i].field, o.field) == 0 && range_given(&r[i]))
            return &r[i];
    return NULL;
}

/* The records an offset list selects, sorted (cached); NULL after a filter's 400. With cut (a
 * range on the sort field that keep does not test), the cached listing holds every record keep
 * selects and the range is cut from it. */
static json_t **offset_listing(call *c, close_coll *coll, rec_filter keep, void *u, order o,
                               const range *cut, size_t *count)
{
    buf sig;
    buf_init(&sig);
    offset_sig(c, cut, &sig);
    json_t **v = listing_find(sig.data, coll, count);
    if (v) {
        buf_free(&sig);
        return cut ? range_cut(v, *count, o, cut, count) : v;
    }
    size_t n = json_array_size(coll->recs), k = 0, i;
    json_t *r;
    v = xmalloc((n ? n : 1) * sizeof *v);
    json_array_foreach(coll->recs, i, r)
    {
        int ok = keep ? keep(c, r, u) : 1;
        if (ok < 0) {
            free(v);
            buf_free(&sig);
            return NULL;
        }
        if (ok)
            v[k++] = r;
    }
    sort_recs(v, k, o);
    listing_keep(sig.data, coll, v, k);
    buf_free(&sig);
    *count = k;
    return cut ? range_cut(v, k, o, cut, count) : v;
}

/* ---- offset lists ----------------------------------------------------------------------- */

/* A list asked for ids (and a sort key) only: what a reconciliation listing reads. */
static int id_listing(const call *c)
{
    const char *f = param(c, "_fields");
    return f && strncmp(f, "id", 2) == 0 && (f[2] == '\0' || f[2] == ',');
}

/* id__in=a,b,c: the record's id is listed (or no such filter). */
static int id_in(const call *c, const json_t *rec)
{
    const char *list = param(c, "id__in"), *id = str(rec, "id");
    if (!list)
        return 1;
    size_t il = id ? strlen(id) : 0;
    for (const char *p = list; id && *p;) {
        size_t n = strcspn(p, ",");
        if (n == il && strncmp(p, id, n) == 0)
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* Filters, sorts and pages coll; envelope {"data","has_more"} (+ total_results). */
static void serve_offset(call *c, close_coll *coll, rec_filter keep, void *u, order o,
                         const range *cut, int totals)
{
    long long limit = int_param(c, "_limit"), skip = int_param(c, "_skip");
    long long max_skip = sim_param_int("max_skip", 250000);
    if (limit == -1 || skip == -1 || limit == 0) {
        field_error(c, limit == -1 || limit == 0 ? "_limit" : "_skip", "Invalid integer.");
        return;
    }
    limit = limit < 0 ? 100 : limit;
    skip = skip < 0 ? 0 : skip;
    if (limit > coll->max_limit) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "The limit you set is larger than the maximum limit for this resource "
                 "(max_limit = %d). Please use a lower _limit.",
                 coll->max_limit);
        sim_json_error(c->resp, 400, msg);
        return;
    }
    if (skip > max_skip) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "The skip you set is larger than the maximum skip for this resource "
                 "(max_skip = %lld). Please refine your search query.",
                 max_skip);
        sim_json_error(c->resp, 400, msg);
        return;
    }
    size_t k, i;
    json_t **v = offset_listing(c, coll, keep, u, o, cut, &k);
    if (!v)
        return;
    json_t *data = json_array(), *fields = fields_param(c);
    char last_id[96] = "";
    for (i = (size_t)skip; i < k && i < (size_t)(skip + limit); i++) {
        json_t *rec = close_render(coll->table, v[i]);
        snprintf(last_id, sizeof last_id, "%s", str(v[i], "id") ?: "");
        json_array_append_new(data, fields ? project(rec, fields) : rec);
    }
    json_decref(fields);
    json_t *body = json_pack("{sosb}", "data", data, "has_more", (size_t)(skip + limit) < k);
    if (totals)
        json_object_set_new(body, "total_results", json_integer((json_int_t)k));
    if (totals == 2) { /* opportunity aggregates */
        json_int_t total = 0;
        for (i = 0; i < k; i++)
            total += json_integer_value(json_object_get(v[i], "value"));
        json_object_set_new(body, "total_value_one_time", json_integer(total));
        json_object_set_new(body, "count_by_value_period",
                            json_pack("{sI}", "one_time", (json_int_t)k));
    }
    sim_json(c->resp, 200, body);
    close_drift_after_page(coll->table, last_id[0] ? last_id : NULL, id_listing(c));
}

static int eq_param(call *c, const json_t *rec, const char *name)
{
    const char *v = param(c, name);
    return !v || strcmp(str(rec, name) ?: "", v) == 0;
}

/* Reads _order_by against the allowed names; -1 after a 400. */
static int read_order(call *c, const char *const *allowed, order *o, order def)
{
    const char *s = param(c, "_order_by");
    *o = def;
    if (!s)
        return 0;
    int desc = s[0] == '-';
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(s + desc, *a) == 0) {
            o->field = *a;
            o->desc = desc;
            return 0;
        }
    field_error(c, "_order_by", "Not a valid choice.");
    return -1;
}

typedef struct dated {
    range r[3];
    int n;
    const char *type; /* activity per-type endpoint: _type to keep */
} dated;

static int keep_dated(call *c, const json_t *rec, void *u)
{
    dated *d = u;
    for (int i = 0; i < d->n; i++)
        if (!in_range(&d->r[i], rec))
            return 0;
    if (d->type && strcmp(str(rec, "_type") ?: "", d->type) != 0)
        return 0;
    return eq_param(c, rec, "lead_id") && eq_param(c, rec, "user_id") &&
           eq_param(c, rec, "contact_id") && eq_param(c, rec, "status_id") &&
           eq_param(c, rec, "_type") && eq_param(c, rec, "assigned_to") && id_in(c, rec);
}

static const order NEWEST = {"date_created", 1};

/* An offset list of dated records: a range on the sort field is cut from the cached listing
 * rather than tested record by record (keep_dated skips it). */
static void serve_dated(call *c, close_coll *coll, dated *d, order o, int totals)
{
    const range *on_sort = sort_field_range(d->r, d->n, o);
    range cut;
    if (on_sort) {
        cut = *on_sort;
        range *r = &d->r[on_sort - d->r];
        r->gt = r->gte = r->lt = r->lte = CRM_TIME_NONE;
    }
    serve_offset(c, coll, keep_dated, d, o, on_sort ? &cut : NULL, totals);
}

static void list_opportunities(call *c, close_coll *coll)
{
    static const char *const ORD[] = {"date_won",   "date_updated", "date_created",
                                      "confidence", "value",        NULL};
    dated d = {.n = 2};
    order o;
    if (read_range(c, "date_updated", &d.r[0]) || read_range(c, "date_created", &d.r[1]) ||
        read_order(c, ORD, &o, NEWEST))
        return;
    serve_dated(c, coll, &d, o, 2);
}

static void list_tasks(call *c, close_coll *coll)
{
    static const char *const ORD[] = {"date", "date_created", NULL};
    dated d = {.n = 2};
    order o;
    if (read_range(c, "date_updated", &d.r[0]) || read_range(c, "date_created", &d.r[1]) ||
        read_order(c, ORD, &o, NEWEST))
        return;
    serve_dated(c, coll, &d, o, 0);
}

static void list_activities(call *c, close_coll *coll, const char *type)
{
    static const char *const ORD[] = {"date_created", "activity_at", NULL};
    dated d = {.n = 2, .type = type};
    order o;
    if (read_range(c, "date_created", &d.r[0]) || read_range(c, "activity_at", &d.r[1]) ||
        read_order(c, ORD, &o, NEWEST))
        return;
    int lead = param(c, "lead_id") != NULL;
    if (!lead && !type && (param(c, "user_id") || param(c, "contact_id") || param(c, "_type"))) {
        sim_json_error(c->resp, 400,
                       "user_id, contact_id and _type filters are only allowed together with "
                       "lead_id.");
        return;
    }
    if (!lead && o.field && strcmp(o.field, "activity_at") == 0 && o.desc) {
        field_error(c, "_order_by", "-activity_at is only allowed together with lead_id.");
        return;
    }
    if (param(c, "_order_by") && range_given(&d.r[strcmp(o.field, "date_created") == 0 ? 1 : 0])) {
        sim_json_error(c->resp, 400, "Date filters are only allowed on the field you sort on.");
        return;
    }
    serve_dated(c, coll, &d, o, 0);
}

static int keep_contact(call *c, const json_t *rec, void *u)
{
    (void)u;
    return eq_param(c, rec, "lead_id");
}

/* Smart views: `type` (default lead) or `type__in` (comma-separated) among the types the API
 * documents for the filter (lead, contact); anything else is a 400 naming the field. */
static int keep_smart_view_type(call *c, const json_t *rec, void *u)
{
    (void)u;
    const char *in = param(c, "type__in"), *one = param(c, "type");
    const char *want = in ? in : one ? one : "lead", *field = in ? "type__in" : "type";
    const char *type = str(rec, "type") ?: "lead";
    int match = 0;
    for (const char *p = want; *p;) {
        size_t n = strcspn(p, ",");
        if (!((n == 4 && strncmp(p, "lead", 4) == 0) ||
              (n == 7 && strncmp(p, "contact", 7) == 0))) {
            field_error(c, field, "Select a valid choice.");
            return -1;
        }
        match |= strlen(type) == n && strncmp(p, type, n) == 0;
        p += n + (p[n] == ',');
    }
    return match;
}

/* ---- the event log ---------------------------------------------------------------------- */

static int allowed_event_filters(unsigned mask)
{
    enum { OT = 1, OI = 2, AC = 4, LI = 8, UI = 16, RI = 32 };
    static const unsigned OK[] = {0,
                                  OT | OI,
                                  OT | AC,
                                  OI | AC,
                                  LI | OT,
                                  LI | OT | AC,
                                  LI | UI | OT,
                                  LI | UI | OT | AC,
                                  LI | UI,
                                  UI | OI,
                                  UI | OI | AC,
                                  UI | OT,
                                  UI | OT | AC,
                                  LI,
                                  UI,
                                  RI};
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++)
        if (OK[i] == mask)
            return 1;
    return 0;
}

static int key_is_nonadmin(const char *key)
{
    const char *list = sim_param("nonadmin_keys", "");
    size_t kl = strlen(key);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == kl && strncmp(p, key, n) == 0)
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

static char *event_cursor(const json_t *ev)
{
    char raw[160];
    snprintf(raw, sizeof raw, "e.%lld.%s", (long long)close_rec_ms(ev, "date_updated"),
             str(ev, "id"));
    return sim_b64url_encode(raw, strlen(raw));
}

/* Position after the cursor (newest-first order); -1 when the cursor is garbage. */
static long cursor_position(json_t *evs, const char *cursor)
{
    char *raw = sim_b64url_decode(cursor, NULL);
    long long ms;
    char id[96];
    if (!raw || sscanf(raw, "e.%lld.%95s", &ms, id) != 2) {
        free(raw);
        return -1;
    }
    free(raw);
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        int64_t m = close_rec_ms(ev, "date_updated");
        if (m < ms || (m == ms && strcmp(str(ev, "id"), id) < 0))
            return (long)i;
    }
    return (long)json_array_size(evs);
}

static void serve_events(call *c)
{
    if (!sim_param_int("event_log", 1)) {
        sim_json_error(c->resp, 400, "Your organization does not have access to the event log.");
        return;
    }
    if (param(c, "_skip")) {
        field_error(c, "_skip", "Skip is not supported on this endpoint; use _cursor.");
        return;
    }
    static const char *const F[] = {"object_type", "object_id", "action",
                                    "lead_id",     "user_id",   "request_id"};
    unsigned mask = 0;
    for (unsigned i = 0; i < 6; i++)
        if (param(c, F[i]))
            mask |= 1u << i;
    if (!allowed_event_filters(mask)) {
        sim_json_error(c->resp, 400, "This combination of filters is not supported.");
        return;
    }
    range r;
    if (read_range(c, "date_updated", &r))
        return;
    long long limit = int_param(c, "_limit");
    if (limit == -1 || limit == 0) {
        field_error(c, "_limit", "Invalid integer.");
        return;
    }
    limit = limit < 0 || limit > 50 ? 50 : limit;
    json_t *evs = close_events_visible();
    long start = 0;
    const char *cur = param(c, "_cursor");
    if (cur && (start = cursor_position(evs, cur)) < 0) {
        json_decref(evs);
        field_error(c, "_cursor", "Invalid cursor.");
        return;
    }
    int hide = key_is_nonadmin(c->key);
    int64_t hour_ago = sim_now_ms() - 3600000;
    json_t *data = json_array(), *last = NULL, *first = NULL;
    size_t i;
    int more = 0;
    for (i = (size_t)start; i < json_array_size(evs); i++) {
        json_t *ev = json_array_get(evs, i);
        int keep = in_range(&r, ev);
        for (unsigned f = 0; f < 6 && keep; f++)
            keep = eq_param(c, ev, F[f]);
        if (!keep)
            continue;
        if ((long long)json_array_size(data) == limit) {
            more = 1;
            break;
        }
        json_t *copy = json_deep_copy(ev);
        if (hide && close_rec_ms(ev, "date_updated") < hour_ago) {
            json_object_set_new(copy, "data", json_null());
            json_object_set_new(copy, "previous_data", json_null());
        }
        json_array_append_new(data, copy);
        last = ev;
        first = first ? first : ev;
    }
    char *next = more && last ? event_cursor(last) : NULL;
    char *prev = first ? event_cursor(first) : NULL;
    sim_json(c->resp, 200,
             json_pack("{soso?so?}", "data", data, "cursor_next", next ? json_string(next) : NULL,
                       "cursor_previous", prev ? json_string(prev) : NULL));
    free(next);
    free(prev);
    json_decref(evs);
    close_drift_after_page("event_log", NULL, 0);
}

/* ---- POST /data/search/ ----------------------------------------------------------------- */

typedef struct search {
    const char *object_type;
    range ranges[4];
    int n_ranges;
    char err[160];
} search;

static int moment(const json_t *m, int64_t *ms)
{
    const char *t = str(m, "type"), *v = str(m, "value");
    if (!t || !v || (strcmp(t, "fixed_utc") && strcmp(t, "fixed_local_date")))
        return -1;
    return crm_time_parse(v, ms) || *ms == CRM_TIME_NONE ? -1 : 0;
}

/* Compiles the supported subset of Advanced Filtering; -1 with s->err. */
static int compile_query(const json_t *q, search *s)
{
    const char *type = str(q, "type");
    if (!type) {
        snprintf(s->err, sizeof s->err, "query: missing \"type\"");
        return -1;
    }
    if (strcmp(type, "and") == 0) {
        size_t i;
        json_t *sub;
        json_array_foreach(json_object_get(q, "queries"), i,
                           sub) if (compile_query(sub, s)) return -1;
        return 0;
    }
    if (strcmp(type, "object_type") == 0) {
        s->object_type = str(q, "object_type");
        return 0;
    }
    if (strcmp(type, "field_condition") == 0 && s->n_ranges < 4) {
        json_t *f = json_object_get(q, "field"), *cond = json_object_get(q, "condition");
        const char *name = str(f, "field_name");
        if (!name || (strcmp(name, "date_updated") && strcmp(name, "date_created")) ||
            strcmp(str(cond, "type") ?: "", "moment_range") != 0) {
            snprintf(s->err, sizeof s->err, "query: unsupported field_condition");
            return -1;
        }
        range *r = &s->ranges[s->n_ranges++];
        r->field = strcmp(name, "date_updated") == 0 ? "date_updated" : "date_created";
        r->gt = r->lt = r->lte = r->gte = CRM_TIME_NONE;
        json_t *after = json_object_get(cond, "on_or_after"),
               *before = json_object_get(cond, "before");
        if ((after && moment(after, &r->gte)) || (before && moment(before, &r->lt))) {
            snprintf(s->err, sizeof s->err, "query: invalid moment");
            return -1;
        }
        return 0;
    }
    snprintf(s->err, sizeof s->err, "query: unsupported type \"%s\"", type);
    return -1;
}

static void search_fail(call *c, const char *msg)
{
    sim_json_error(c->resp, 400, msg);
}

/* The records a search selects, in its order (cached like the offset lists, a range on the
 * sort field cut from the cached listing). */
static json_t **search_listing(const search *s, close_coll *coll, order o, size_t *count)
{
    const range *cut = sort_field_range(s->ranges, s->n_ranges, o);
    buf sig;
    buf_init(&sig);
    buf_printf(&sig, "search %s %s %d", coll->table, o.field ? o.field : "", o.desc);
    for (int q = 0; q < s->n_ranges; q++) {
        const range *r = &s->ranges[q];
        if (r != cut)
            buf_printf(&sig, " %s %lld %lld %lld %lld", r->field, (long long)r->gt,
                       (long long)r->gte, (long long)r->lt, (long long)r->lte);
    }
    json_t **v = listing_find(sig.data, coll, count);
    if (v) {
        buf_free(&sig);
        return cut ? range_cut(v, *count, o, cut, count) : v;
    }
    size_t n = json_array_size(coll->recs), k = 0, i;
    json_t *r;
    v = xmalloc((n ? n : 1) * sizeof *v);
    json_array_foreach(coll->recs, i, r)
    {
        int ok = 1;
        for (int q = 0; q < s->n_ranges && ok; q++)
            ok = &s->ranges[q] == cut || in_range(&s->ranges[q], r);
        if (ok)
            v[k++] = r;
    }
    sort_recs(v, k, o);
    listing_keep(sig.data, coll, v, k);
    buf_free(&sig);
    *count = k;
    return cut ? range_cut(v, k, o, cut, count) : v;
}

/* 1 when v[i] comes strictly after (last_ms, last_id) in the search's order. */
static int after_key(json_t *rec, order o, long long last_ms, const char *last_id)
{
    int64_t m = o.field ? close_rec_ms(rec, o.field) : 0;
    int c1 = m == last_ms ? strcmp(str(rec, "id"), last_id) : (m < last_ms ? -1 : 1);
    return o.desc ? c1 < 0 : c1 > 0;
}

/* The first record after the keyset cursor: a binary search when v is sorted by the key (the
 * test is then false...true along v), else the first such record in stored order. */
static size_t keyset_start(json_t **v, size_t k, order o, long long last_ms, const char *last_id)
{
    size_t lo = 0, hi = k;
    if (!o.field) {
        while (lo < k && !after_key(v[lo], o, last_ms, last_id))
            lo++;
        return lo;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (after_key(v[mid], o, last_ms, last_id))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void serve_search(call *c)
{
    size_t blen;
    const char *b = sim_body(c->req, &blen);
    json_error_t je;
    json_t *body = json_loadb(b, blen, 0, &je);
    search s;
    memset(&s, 0, sizeof s);
    if (!json_is_object(body) || compile_query(json_object_get(body, "query"), &s)) {
        search_fail(c, json_is_object(body) ? s.err : "Invalid JSON body.");
        json_decref(body);
        return;
    }
    const char *table = s.object_type && strcmp(s.object_type, "lead") == 0      ? "leads"
                        : s.object_type && strcmp(s.object_type, "contact") == 0 ? "contacts"
                                                                                 : NULL;
    json_t *lim = json_object_get(body, "_limit");
    json_int_t limit = json_is_integer(lim) ? json_integer_value(lim) : 10;
    if (!table || limit < 1 || limit > 200) {
        search_fail(c, !table ? "query: object_type must be lead or contact"
                              : "_limit must be between 1 and 200");
        json_decref(body);
        return;
    }
    json_t *sort0 = json_array_get(json_object_get(body, "sort"), 0);
    const char *sf = str(json_object_get(sort0, "field"), "field_name");
    order o = {NULL, 0};
    if (sf && (strcmp(sf, "date_updated") == 0 || strcmp(sf, "date_created") == 0))
        o.field = strcmp(sf, "date_updated") == 0 ? "date_updated" : "date_created";
    o.desc = strcmp(str(sort0, "direction") ?: "asc", "desc") == 0;
    if (!o.field)
        o.field = "id";
    /* Cursor: "s.<issued_ms>.<served>.<last sort ms>.<last id>" */
    long long issued = 0, served = 0, last_ms = 0;
    char last_id[96] = "";
    const char *cur = str(body, "cursor");
    if (cur) {
        char *raw = sim_b64url_decode(cur, NULL);
        int ok =
            raw && sscanf(raw, "s.%lld.%lld.%lld.%95s", &issued, &served, &last_ms, last_id) == 4;
        free(raw);
        if (!ok) {
            search_fail(c, "Invalid cursor.");
            json_decref(body);
            return;
        }
        if (sim_now_ms() - issued > sim_param_int("search_cursor_ttl_s", 30) * 1000) {
            search_fail(c, "The cursor has expired. Please restart your search.");
            json_decref(body);
            return;
        }
    }
    close_coll *coll = close_coll_get(table);
    if (strcmp(o.field, "id") == 0)
        o.field = NULL;
    size_t k, i;
    json_t **v = search_listing(&s, coll, o, &k);
    size_t start = 0;
    if (cur && strcmp(sim_param("search_cursor", "keyset"), "offset") == 0)
        start = (size_t)served < k ? (size_t)served : k; /* a cursor that counts, like _skip */
    else if (cur) /* keyset: strictly after (last_ms, last_id) in the sort order */
        start = keyset_start(v, k, o, last_ms, last_id);
    long long cap = sim_param_int("search_max_results", 10000);
    json_t *fields = json_object_get(json_object_get(body, "_fields"), s.object_type);
    json_t *data = json_array(), *bare = json_pack("[s]", "id");
    for (i = start; i < k && (json_int_t)json_array_size(data) < limit && served < cap;
         i++, served++) {
        json_t *rec = close_render(table, v[i]);
        if (json_is_array(fields))
            rec = project(rec, fields);
        else
            rec = project(rec, bare);
        json_array_append_new(data, rec);
    }
    json_decref(bare);
    char served_last[96] = "";
    if (i > start)
        snprintf(served_last, sizeof served_last, "%s", str(v[i - 1], "id") ?: "");
    int ids_only = !json_is_array(fields) || json_array_size(fields) <= 2;
    json_t *next = json_null();
    if (i < k && served < cap && i > start) {
        char raw[200];
        snprintf(raw, sizeof raw, "s.%lld.%lld.%lld.%s", (long long)sim_now_ms(), served,
                 (long long)(o.field ? close_rec_ms(v[i - 1], o.field) : 0), str(v[i - 1], "id"));
        char *enc = sim_b64url_encode(raw, strlen(raw));
        next = json_string(enc);
        free(enc);
    }
    json_decref(body);
    sim_json(c->resp, 200, json_pack("{soso}", "data", data, "cursor", next));
    close_drift_after_page(table, served_last[0] ? served_last : NULL, ids_only);
}

/* ---- routing ---------------------------------------------------------------------------- */

static const struct {
    const char *slug, *type;
} ACT_SLUGS[] = {{"note", "Note"},
                 {"call", "Call"},
                 {"email", "Email"},
                 {"sms", "SMS"},
                 {"meeting", "Meeting"},
                 {"created", "Created"},
                 {"status_change/lead", "LeadStatusChange"}};

static const char *model_name(const char *table)
{
    static const char *const N[][2] = {
        {"leads", "Lead"}, {"contacts", "Contact"},    {"opportunities", "Opportunity"},
        {"tasks", "Task"}, {"activities", "Activity"}, {"users", "User"}};
    for (size_t i = 0; i < sizeof N / sizeof N[0]; i++)
        if (strcmp(N[i][0], table) == 0)
            return N[i][1];
    return "Object";
}

/* GET <collection path><id>/ for the main collections. 1 when handled. */
static int serve_one(call *c)
{
    for (size_t i = 0; i < CM.n_colls; i++) {
        close_coll *coll = &CM.colls[i];
        size_t pl = strlen(coll->path);
        if (strncmp(c->path, coll->path, pl) != 0 ||
            strncmp(c->path + pl, coll->prefix, strlen(coll->prefix)) != 0)
            continue;
        char id[128];
        size_t n = strcspn(c->path + pl, "/");
        snprintf(id, sizeof id, "%.*s", (int)(n < 127 ? n : 127), c->path + pl);
        json_t *r = close_find(coll->table, id, NULL);
        if (!r) {
            char msg[160];
            snprintf(msg, sizeof msg, "Empty query: %s matching query does not exist.",
                     model_name(coll->table));
            sim_json_error(c->resp, 404, msg);
        } else {
            sim_json(c->resp, 200, close_render(coll->table, r));
        }
        return 1;
    }
    return 0;
}

static void serve_me(call *c)
{
    json_t *u = json_deep_copy(json_array_get(close_coll_get("users")->recs, 0));
    if (!u)
        u = json_object();
    json_t *org = json_object_get(CM.org, "id");
    json_object_set_new(
        u, "organizations",
        sim_param_int("me_org_objects", 0)
            ? json_pack("[{s:O, s:O}]", "id", org, "name", json_object_get(CM.org, "name"))
            : json_pack("[O]", org));
    sim_json(c->resp, 200, u);
}

static void serve_get(call *c)
{
    const char *p = c->path;
    if (strcmp(p, "/me/") == 0)
        return serve_me(c);
    if (strcmp(p, "/event/") == 0)
        return serve_events(c);
    if (strcmp(p, "/send_as/") == 0 && sim_param_int("send_as_status", 402) >= 400) {
        int st = (int)sim_param_int("send_as_status", 402);
        sim_json_error(c->resp, st,
                       st == 402 ? "This feature requires a paid plan upgrade."
                                 : "You don't have permission to do this.");
        return;
    }
    if (strncmp(p, "/organization/", 14) == 0) {
        const char *oid = str(CM.org, "id");
        if (strncmp(p + 14, oid, strlen(oid)) == 0 && strcmp(p + 14 + strlen(oid), "/") == 0)
            sim_json(c->resp, 200, close_org_render());
        else
            sim_json_error(c->resp, 404,
                           "Empty query: Organization matching query does not exist.");
        return;
    }
    for (size_t i = 0; i < sizeof ACT_SLUGS / sizeof ACT_SLUGS[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/activity/%s/", ACT_SLUGS[i].slug);
        if (strcmp(p, path) == 0)
            return list_activities(c, close_coll_get("activities"), ACT_SLUGS[i].type);
    }
    close_coll *coll = close_coll_by_path(p);
    if (!coll) {
        if (!serve_one(c))
            sim_json_error(c->resp, 404, NOT_FOUND_URL);
        return;
    }
    if (strcmp(coll->table, "opportunities") == 0)
        return list_opportunities(c, coll);
    if (strcmp(coll->table, "tasks") == 0)
        return list_tasks(c, coll);
    if (strcmp(coll->table, "activities") == 0)
        return list_activities(c, coll, NULL);
    if (strcmp(coll->table, "contacts") == 0)
        return serve_offset(c, coll, keep_contact, NULL, NEWEST, NULL, 0);
    if (strcmp(coll->table, "leads") == 0)
        return serve_offset(c, coll, NULL, NULL, NEWEST, NULL, 1); /* no date filters */
    if (strcmp(coll->table, "smart_views") == 0)
        return serve_offset(c, coll, keep_smart_view_type, NULL, NEWEST, NULL, 0);
    order stored = {NULL, 0};
    serve_offset(c, coll, NULL, NULL, strcmp(coll->table, "users") == 0 ? NEWEST : stored, NULL, 0);
}

static int key_ok(const char *user, const char *password)
{
    if (!user || !password || *password)
        return 0;
    if (strcmp(user, sim_param("api_key", "api_test_key")) == 0)
        return 1;
    const char *list = sim_param("api_keys", "");
    size_t ul = strlen(user);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == ul && strncmp(p, user, n) == 0)
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* Path under /api/v1 with a trailing slash; 0 when the call may proceed. */
static int resolve_path(call *c)
{
    const char *p = sim_path(c->req);
    if (strncmp(p, "/api/v1/", 8) != 0 && strcmp(p, "/api/v1") != 0) {
        sim_json_error(c->resp, 404, NOT_FOUND_URL);
        return -1;
    }
    snprintf(c->path, sizeof c->path, "%s", p + 7);
    size_t n = strlen(c->path);
    if (n && c->path[n - 1] != '/') {
        if (strcmp(sim_param("slash", "accept"), "redirect") == 0) {
            c->resp->status = 308;
            sim_set_header(c->resp, "Location", "%s/", p);
            return -1;
        }
        if (n + 1 < sizeof c->path)
            strcat(c->path, "/");
    }
    return 0;
}

void close_handle(const sim_request *req, sim_response *resp)
{
    call c = {.req = req, .resp = resp};
    const char *user = sim_basic_user(req);
    if (!key_ok(user, sim_basic_password(req))) {
        sim_json_error(resp, 401, WERKZEUG_401);
        set_ratelimit_headers(resp, 160, 159, 8);
        return;
    }
    c.key = user;
    if (resolve_path(&c))
        return;
    const char *method = sim_method(req);
    const char *ov = sim_header(req, "x-http-method-override");
    int get = strcmp(method, "GET") == 0;
    if (strcmp(method, "POST") == 0 && ov && strcasecmp(ov, "GET") == 0) {
        size_t len;
        const char *b = sim_body(req, &len);
        json_error_t je;
        json_t *body = json_loadb(b, len, 0, &je);
        c.override = json_incref(json_object_get(body, "_params"));
        json_decref(body);
        if (!json_is_object(c.override)) {
            json_decref(c.override);
            sim_json_error(resp, 400, "x-http-method-override needs a {\"_params\": {...}} body");
            return;
        }
        get = 1;
    }
    if (rate_limit(&c) == 0) {
        if (!c.override && close_reports_handle(req, resp, c.path)) {
            /* answered by reports.c */
        } else if (strcmp(c.path, "/data/search/") == 0 && strcmp(method, "POST") == 0 &&
                   !c.override)
            serve_search(&c);
        else if (get)
            serve_get(&c);
        else
            sim_json_error(resp, 405, "The method is not allowed for the requested URL.");
    }
    json_decref(c.override);
}
