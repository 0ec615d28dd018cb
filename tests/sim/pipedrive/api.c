/* api.c — the Pipedrive simulator's API surface: v2 lists with cursor paging and strict
 * filters, v1 lists with start/limit paging, per-deal flow and products, the batch deal-products
 * endpoint, /v1/recents, and the v2 -> v1 record conversion. */
#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "pd_sim.h"

/* ---- envelopes and errors ---------------------------------------------------------------- */

static void pd_error(sim_response *resp, int status, const char *msg)
{
    sim_json(resp, status,
             json_pack("{s:b,s:s,s:s,s:n,s:n}", "success", 0, "error", msg, "error_info",
                       "Please check developers.pipedrive.com", "data", "additional_data"));
}

static json_t *empty_data(void)
{
    return strcmp(sim_param("empty_data", "null"), "[]") == 0 ? json_array() : json_null();
}

static void v1_page(sim_response *resp, json_t *data, long start, long limit, int more,
                    json_t *related)
{
    json_t *pag = json_pack("{s:I,s:I,s:b}", "start", (json_int_t)start, "limit", (json_int_t)limit,
                            "more_items_in_collection", more);
    if (more)
        json_object_set_new(pag, "next_start", json_integer(start + limit));
    if (json_array_size(data) == 0) {
        json_decref(data);
        data = empty_data();
    }
    json_t *body = json_pack("{s:b,s:o,s:{s:o}}", "success", 1, "data", data, "additional_data",
                             "pagination", pag);
    if (related)
        json_object_set_new(body, "related_objects", related);
    sim_json(resp, 200, body);
}

static void v2_page(sim_response *resp, json_t *data, const char *next)
{
    sim_json(resp, 200,
             json_pack("{s:b,s:o,s:{s:s?}}", "success", 1, "data", data, "additional_data",
                       "next_cursor", next));
}

/* ---- parameter parsing ------------------------------------------------------------------- */

/* Strict RFC 3339 as v2 wants it: YYYY-MM-DDTHH:MM:SSZ (no fraction, no space, no offset). */
static int parse_rfc3339_strict(const char *s, int64_t *ms)
{
    if (!s || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z')
        return -1;
    for (int i = 0; i < 19; i++)
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && !isdigit((unsigned char)s[i]))
            return -1;
    return crm_time_parse(s, ms) || *ms == CRM_TIME_NONE ? -1 : 0;
}

static int parse_v1_time(const char *s, int64_t *ms)
{
    if (!s || strlen(s) != 19 || s[10] != ' ')
        return -1;
    return crm_time_parse(s, ms) || *ms == CRM_TIME_NONE ? -1 : 0;
}

static long parse_nonneg(const char *s)
{
    if (!s || !*s || strlen(s) > 9)
        return -1;
    long v = 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

struct unknown_ctx {
    const char *const *allowed;
    const char *bad;
};

static void check_known(const char *k, const char *v, void *u)
{
    struct unknown_ctx *c = u;
    (void)v;
    if (c->bad || strcmp(k, "api_token") == 0)
        return;
    for (const char *const *a = c->allowed; *a; a++)
        if (strcmp(*a, k) == 0)
            return;
    c->bad = k;
}

/* v2 validates strictly: an unknown query parameter is a 400. */
static int reject_unknown(const sim_request *req, sim_response *resp, const char *const *allowed)
{
    struct unknown_ctx c = {allowed, NULL};
    sim_query_each(req, check_known, &c);
    if (!c.bad)
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg, "Validation failed: %s: Parameter is not allowed for this request",
             c.bad);
    pd_error(resp, 400, msg);
    return 1;
}

/* Is id in the comma list s? */
static int in_list(const char *s, json_int_t id)
{
    while (s && *s) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end != s && v == id)
            return 1;
        s = strchr(s, ',');
        if (s)
            s++;
    }
    return 0;
}

static int count_list(const char *s)
{
    int n = s && *s ? 1 : 0;
    for (; s && *s; s++)
        n += *s == ',';
    return n;
}

/* ---- sorting ----------------------------------------------------------------------------- */

enum sort_key { SK_ID, SK_UPDATE, SK_ADD, SK_DUE, SK_ORDER, SK_NAME, SK_LOG };

static int64_t rec_key(const pd_rec *r, enum sort_key k)
{
    int64_t ms;
    switch (k) {
    case SK_UPDATE:
        return r->upd_ms;
    case SK_ADD:
    case SK_LOG:
        return r->add_ms;
    case SK_DUE:
        return crm_time_parse(json_string_value(json_object_get(r->o, "due_date")), &ms) ||
                       ms == CRM_TIME_NONE
                   ? 0
                   : ms;
    case SK_ORDER:
        return json_integer_value(json_object_get(r->o, "order_nr"));
    default:
        return r->id;
    }
}

static enum sort_key g_sort;
static int g_desc;

static int rec_cmp(const void *a, const void *b)
{
    const pd_rec *x = *(pd_rec *const *)a, *y = *(pd_rec *const *)b;
    int c = 0;
    if (g_sort == SK_NAME) {
        c = strcmp(json_string_value(json_object_get(x->o, "name")) ?: "",
                   json_string_value(json_object_get(y->o, "name")) ?: "");
    } else {
        int64_t kx = rec_key(x, g_sort), ky = rec_key(y, g_sort);
        c = kx < ky ? -1 : kx > ky;
    }
    if (!c)
        c = x->id < y->id ? -1 : x->id > y->id;
    return g_desc ? -c : c;
}

static void sort_recs(pd_rec **v, size_t n, enum sort_key k, int desc)
{
    g_sort = k;
    g_desc = desc;
    if (n > 1)
        qsort(v, n, sizeof *v, rec_cmp);
}

static int sort_key_by_name(const char *s, enum sort_key *k)
{
    static const struct {
        const char *name;
        enum sort_key k;
    } map[] = {{"id", SK_ID},        {"update_time", SK_UPDATE}, {"add_time", SK_ADD},
               {"due_date", SK_DUE}, {"order_nr", SK_ORDER},     {"name", SK_NAME}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, s) == 0) {
            *k = map[i].k;
            return 0;
        }
    return -1;
}

/* ---- v2 lists ---------------------------------------------------------------------------- */

typedef struct v2q {
    int64_t since, until;
    enum sort_key sort;
    int desc;
    long limit;
    long offset; /* cursor: rows of the sorted list already served (name sorts) */
    int keyset;  /* cursor: (key, id) of the last row served */
    int64_t after_key;
    json_int_t after_id;
} v2q;

/* Reads limit, cursor, sort_by, sort_direction, updated_since/until. 0 or -1 (400 written). */
static int v2_common(const sim_request *req, sim_response *resp, v2q *q, const char *sorts,
                     int since_ok, int until_ok)
{
    memset(q, 0, sizeof *q);
    q->since = q->until = CRM_TIME_NONE;
    q->limit = 100;
    const char *s = sim_query(req, "limit");
    if (s && ((q->limit = parse_nonneg(s)) < 1 || q->limit > 500)) {
        pd_error(resp, 400, "Validation failed: limit: Must be an integer between 1 and 500");
        return -1;
    }
    s = sim_query(req, "sort_by");
    q->sort = SK_ID;
    if (s && (!strstr(sorts, s) || sort_key_by_name(s, &q->sort))) {
        pd_error(resp, 400, "Validation failed: sort_by: Invalid value");
        return -1;
    }
    s = sim_query(req, "sort_direction");
    if (s && strcmp(s, "asc") && strcmp(s, "desc")) {
        pd_error(resp, 400, "Validation failed: sort_direction: Must be asc or desc");
        return -1;
    }
    q->desc = s && strcmp(s, "desc") == 0;
    s = sim_query(req, "updated_since");
    if (s && (!since_ok || parse_rfc3339_strict(s, &q->since))) {
        pd_error(resp, 400,
                 since_ok ? "Validation failed: updated_since: Must be RFC3339"
                          : "Validation failed: updated_since: Parameter is not "
                            "allowed for this request");
        return -1;
    }
    s = sim_query(req, "updated_until");
    if (s && (!until_ok || parse_rfc3339_strict(s, &q->until))) {
        pd_error(resp, 400, "Validation failed: updated_until: Invalid value");
        return -1;
    }
    s = sim_query(req, "cursor");
    if (s) {
        char *dec = sim_b64url_decode(s, NULL);
        long long k = 0, id = 0, off = 0;
        int sk = -1, n = -1;
        if (dec && sscanf(dec, "k%d.%lld.%lld%n", &sk, &k, &id, &n) == 3 && dec[n] == '\0' &&
            sk == (int)q->sort) {
            q->keyset = 1;
            q->after_key = k;
            q->after_id = id;
        } else if (dec && sscanf(dec, "o.%lld%n", &off, &n) == 1 && dec[n] == '\0') {
            q->offset = (long)off;
        } else {
            free(dec);
            pd_error(resp, 400, "Validation failed: cursor: Invalid cursor");
            return -1;
        }
        free(dec);
    }
    return 0;
}

static int after_cursor(const v2q *q, const pd_rec *r)
{
    if (!q->keyset)
        return 1;
    int64_t k = rec_key(r, q->sort);
    int c = k < q->after_key   ? -1
            : k > q->after_key ? 1
                               : (r->id > q->after_id) - (r->id < q->after_id);
    return q->desc ? c < 0 : c > 0;
}

static int time_ok(const v2q *q, const pd_rec *r)
{
    return (q->since == CRM_TIME_NONE || r->upd_ms >= q->since) &&
           (q->until == CRM_TIME_NONE || r->upd_ms < q->until);
}

static char *make_cursor(const v2q *q, const pd_rec *last, long served)
{
    char raw[96];
    /* cursor=offset: the cursor is a position, as an API whose cursor wraps an offset */
    if (q->sort == SK_NAME || strcmp(sim_param("cursor", "keyset"), "offset") == 0)
        snprintf(raw, sizeof raw, "o.%ld", served);
    else
        snprintf(raw, sizeof raw, "k%d.%lld.%lld", (int)q->sort, (long long)rec_key(last, q->sort),
                 (long long)last->id);
    return sim_b64url_encode(raw, strlen(raw));
}

typedef int (*rec_filter)(const sim_request *req, const pd_rec *r);

/* Adds the fields include_fields asks for, and trims custom_fields to the requested keys. */
static json_t *v2_row(const sim_request *req, const pd_rec *r)
{
    const char *inc = sim_query(req, "include_fields");
    const char *cf = sim_query(req, "custom_fields");
    if (!inc && !cf)
        return json_incref(r->o);
    json_t *o = json_deep_copy(r->o);
    for (const char *p = inc; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char k[64];
        snprintf(k, sizeof k, "%.*s", (int)(n < 63 ? n : 63), p);
        json_object_set_new(o, k, strcmp(k, "attendees") == 0 ? json_array() : json_integer(0));
        p = e ? e + 1 : NULL;
    }
    json_t *all = json_object_get(o, "custom_fields");
    if (cf && json_is_object(all)) {
        json_t *keep = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(all, k, v) if (strstr(cf, k)) json_object_set(keep, k, v);
        json_object_set_new(o, "custom_fields", keep);
    }
    return o;
}

/* ---- serving caches ---------------------------------------------------------------------------
 */

/* A store's live records sorted by one key and direction, kept until PD_GEN moves: a 1 M record
 * list used to be filtered and sorted whole for every page. Pointers into PD[t].r, which only
 * changes with PD_GEN. */
typedef struct sorted_view {
    unsigned long gen;
    int built;
    pd_rec **v;
    size_t n;
} sorted_view;

static sorted_view VIEWS[PD_NTABLES][SK_LOG + 1][2];

static const sorted_view *sorted_live(enum pd_table t, enum sort_key k, int desc)
{
    sorted_view *sv = &VIEWS[t][k][desc];
    if (sv->built && sv->gen == PD_GEN)
        return sv;
    free(sv->v);
    sv->v = xmalloc((PD[t].n + 1) * sizeof *sv->v);
    for (size_t i = 0; i < PD[t].n; i++)
        sv->v[i] = &PD[t].r[i];
    sv->n = PD[t].n;
    sort_recs(sv->v, sv->n, k, desc);
    sv->gen = PD_GEN;
    sv->built = 1;
    return sv;
}

/* The first position of the sorted view a keyset page may start at: after the cursor, and for
 * an ascending update_time sort not before updated_since (both tests are monotone along it). */
static size_t keyset_first(const sorted_view *sv, const v2q *q)
{
    size_t lo = 0, hi = sv->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pd_rec *r = sv->v[mid];
        int past = after_cursor(q, r) && (q->sort != SK_UPDATE || q->desc ||
                                          q->since == CRM_TIME_NONE || r->upd_ms >= q->since);
        if (past)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* A keyset (or first) page from the sorted view: the same rows and cursor as filtering and
 * sorting everything, in O(log n + rows looked at). */
static void v2_list_keyset(const sim_request *req, sim_response *resp, enum pd_table t,
                           const v2q *q, rec_filter keep)
{
    const sorted_view *sv = sorted_live(t, q->sort, q->desc);
    json_t *data = json_array();
    pd_rec *last = NULL;
    size_t i = keyset_first(sv, q), served = 0, more = 0;
    for (; i < sv->n; i++) {
        pd_rec *r = sv->v[i];
        if (!time_ok(q, r) || (keep && !keep(req, r)))
            continue;
        if ((long)json_array_size(data) >= q->limit) {
            more = 1; /* a further matching row: the page gets a cursor */
            break;
        }
        json_array_append_new(data, v2_row(req, r));
        last = r;
        served++;
    }
    char *next = more && last ? make_cursor(q, last, (long)served) : NULL;
    if (last)
        PD_LAST_SERVED[t] = last->id;
    v2_page(resp, data, next);
    free(next);
    pd_churn_after_page(t, q->sort == SK_ID);
}

static void v2_list(const sim_request *req, sim_response *resp, enum pd_table t, const v2q *q,
                    rec_filter keep)
{
    /* deleted_in_ids=1: an ids-filtered list also returns deleted, unpurged rows (is_deleted) */
    int graves = sim_query(req, "ids") && sim_param_int("deleted_in_ids", 0);
    if (!graves && q->offset == 0 && q->sort != SK_NAME &&
        strcmp(sim_param("cursor", "keyset"), "offset") != 0) {
        v2_list_keyset(req, resp, t, q, keep);
        return;
    }
    pd_rec **v = xmalloc((PD[t].n + (graves ? PD_GRAVE[t].n : 0) + 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < PD[t].n; i++) {
        pd_rec *r = &PD[t].r[i];
        if (time_ok(q, r) && (!keep || keep(req, r)))
            v[n++] = r;
    }
    for (size_t i = 0; graves && i < PD_GRAVE[t].n; i++) {
        pd_rec *r = &PD_GRAVE[t].r[i];
        if (!pd_purged(r) && time_ok(q, r) && (!keep || keep(req, r)))
            v[n++] = r;
    }
    sort_recs(v, n, q->sort, q->desc);
    json_t *data = json_array();
    size_t i = q->keyset ? 0 : (size_t)q->offset;
    for (; i < n && !after_cursor(q, v[i]); i++)
        ;
    pd_rec *last = NULL;
    for (; i < n && (long)json_array_size(data) < q->limit; i++) {
        json_array_append_new(data, v2_row(req, v[i]));
        last = v[i];
    }
    char *next = i < n && last ? make_cursor(q, last, (long)i) : NULL;
    if (last)
        PD_LAST_SERVED[t] = last->id;
    v2_page(resp, data, next);
    free(next);
    free(v);
    pd_churn_after_page(t, q->sort == SK_ID);
}

static int int_filter(const sim_request *req, const pd_rec *r, const char *name)
{
    const char *s = sim_query(req, name);
    return !s || json_integer_value(json_object_get(r->o, name)) == strtoll(s, NULL, 10);
}

static int common_filters(const sim_request *req, const pd_rec *r)
{
    static const char *const keys[] = {"owner_id",    "person_id", "org_id",
                                       "pipeline_id", "stage_id",  "deal_id"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!int_filter(req, r, keys[i]))
            return 0;
    const char *ids = sim_query(req, "ids");
    return !ids || in_list(ids, r->id);
}

static int g_archived; /* the deals list being served: /deals (0) or /deals/archived (1) */

static int deal_filter(const sim_request *req, const pd_rec *r)
{
    if (pd_purged(r) || !common_filters(req, r))
        return 0;
    if (json_is_true(json_object_get(r->o, "is_archived")) != g_archived)
        return 0;
    const char *status = sim_query(req, "status");
    const char *st = json_string_value(json_object_get(r->o, "status"));
    if (!status)
        return !r->del_ms;
    return strstr(status, st) != NULL;
}

static int activity_filter(const sim_request *req, const pd_rec *r)
{
    const char *done = sim_query(req, "done");
    if (done && json_is_true(json_object_get(r->o, "done")) !=
                    (strcmp(done, "true") == 0 || strcmp(done, "1") == 0))
        return 0;
    return common_filters(req, r);
}

static int status_ok(const char *s)
{
    static const char *const ok[] = {"open", "won", "lost", "deleted"};
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s", s);
    for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ",")) {
        int found = 0;
        for (int i = 0; i < 4; i++)
            found |= strcmp(tok, ok[i]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static void v2_deals(const sim_request *req, sim_response *resp, int archived)
{
    static const char *const allowed[] = {"filter_id",
                                          "ids",
                                          "owner_id",
                                          "person_id",
                                          "org_id",
                                          "pipeline_id",
                                          "stage_id",
                                          "status",
                                          "updated_since",
                                          "updated_until",
                                          "sort_by",
                                          "sort_direction",
                                          "include_fields",
                                          "custom_fields",
                                          "limit",
                                          "cursor",
                                          NULL};
    if (reject_unknown(req, resp, allowed))
        return;
    const char *status = sim_query(req, "status");
    if (status && !status_ok(status)) {
        pd_error(resp, 400, "Validation failed: status: Invalid value");
        return;
    }
    if (count_list(sim_query(req, "ids")) > 100 ||
        count_list(sim_query(req, "custom_fields")) > 15) {
        pd_error(resp, 400, "Validation failed: too many values");
        return;
    }
    v2q q;
    if (v2_common(req, resp, &q, "id,update_time,add_time", 1, 1))
        return;
    g_archived = archived;
    v2_list(req, resp, PD_DEALS, &q, deal_filter);
}

static void v2_entities(const sim_request *req, sim_response *resp, enum pd_table t)
{
    static const char *const persons[] = {"filter_id",      "ids",
                                          "owner_id",       "org_id",
                                          "deal_id",        "updated_since",
                                          "updated_until",  "sort_by",
                                          "sort_direction", "include_fields",
                                          "custom_fields",  "limit",
                                          "cursor",         NULL};
    static const char *const orgs[] = {
        "filter_id",     "ids",     "owner_id",       "updated_since",
        "updated_until", "sort_by", "sort_direction", "include_fields",
        "custom_fields", "limit",   "cursor",         NULL};
    static const char *const acts[] = {
        "filter_id",      "ids",           "owner_id", "deal_id",
        "lead_id",        "person_id",     "org_id",   "done",
        "updated_since",  "updated_until", "sort_by",  "sort_direction",
        "include_fields", "limit",         "cursor",   NULL};
    static const char *const prods[] = {
        "filter_id",      "ids",           "owner_id", "updated_since", "sort_by",
        "sort_direction", "custom_fields", "limit",    "cursor",        NULL};
    static const char *const plain[] = {"sort_by", "sort_direction", "limit", "cursor", NULL};
    static const char *const stages[] = {"pipeline_id", "sort_by", "sort_direction",
                                         "limit",       "cursor",  NULL};
    const char *const *allowed = t == PD_PERSONS      ? persons
                                 : t == PD_ORGS       ? orgs
                                 : t == PD_ACTIVITIES ? acts
                                 : t == PD_PRODUCTS   ? prods
                                 : t == PD_STAGES     ? stages
                                                      : plain;
    /* Pipelines and stages have no updated_since: sent anyway, it is a 400. */
    int timed = t != PD_STAGES && t != PD_PIPELINES;
    if (timed && reject_unknown(req, resp, allowed))
        return;
    if (!timed && !sim_query(req, "updated_since") && reject_unknown(req, resp, allowed))
        return;
    const char *sorts = t == PD_ACTIVITIES ? "id,update_time,add_time,due_date"
                        : t == PD_PRODUCTS ? "id,name,add_time,update_time"
                        : t == PD_STAGES   ? "id,update_time,add_time,order_nr"
                                           : "id,update_time,add_time";
    v2q q;
    if (v2_common(req, resp, &q, sorts, timed, timed && t != PD_PRODUCTS))
        return;
    v2_list(req, resp, t, &q, t == PD_ACTIVITIES ? activity_filter : common_filters);
}

/* ---- deal products ----------------------------------------------------------------------- */

/* The product was deleted (and purged): its columns go null, as after Pipedrive's purge. */
static json_t *deal_product_row(const pd_rec *r)
{
    json_int_t pid = json_integer_value(json_object_get(r->o, "product_id"));
    if (pid && pd_find(PD_PRODUCTS, pid))
        return json_incref(r->o);
    json_t *o = json_deep_copy(r->o);
    json_object_set_new(o, "product_id", json_null());
    json_object_set_new(o, "name", json_null());
    json_object_set_new(o, "product_variation_id", json_null());
    return o;
}

static const char *g_deal_ids;

static int deal_products_filter(const sim_request *req, const pd_rec *r)
{
    (void)req;
    json_int_t deal = json_integer_value(json_object_get(r->o, "deal_id"));
    return in_list(g_deal_ids, deal) && pd_deal_visible(pd_find(PD_DEALS, deal));
}

static void v2_deal_products(const sim_request *req, sim_response *resp, const char *deal_ids)
{
    static const char *const batch[] = {"deal_ids", "sort_by", "sort_direction",
                                        "limit",    "cursor",  NULL};
    static const char *const single[] = {"sort_by", "sort_direction", "limit", "cursor", NULL};
    if (reject_unknown(req, resp, deal_ids ? single : batch))
        return;
    char one[32];
    if (!deal_ids) {
        deal_ids = sim_query(req, "deal_ids");
        int n = count_list(deal_ids);
        if (n < 1 || n > 100) {
            pd_error(resp, 400, "Validation failed: deal_ids: Must contain 1 to 100 ids");
            return;
        }
    } else {
        pd_rec *d = pd_find(PD_DEALS, strtoll(deal_ids, NULL, 10));
        if (!pd_deal_visible(d)) {
            pd_error(resp, d ? 410 : 404, d ? "Deal has been deleted" : "Deal not found");
            return;
        }
        snprintf(one, sizeof one, "%s", deal_ids);
        deal_ids = one;
    }
    v2q q;
    if (v2_common(req, resp, &q, "id,add_time,update_time,deal_id", 0, 0))
        return;
    g_deal_ids = deal_ids;
    pd_rec **v = xmalloc((PD[PD_DEALPRODUCTS].n + 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < PD[PD_DEALPRODUCTS].n; i++)
        if (deal_products_filter(req, &PD[PD_DEALPRODUCTS].r[i]))
            v[n++] = &PD[PD_DEALPRODUCTS].r[i];
    sort_recs(v, n, q.sort, q.desc);
    json_t *data = json_array();
    size_t i = 0;
    for (; i < n && !after_cursor(&q, v[i]); i++)
        ;
    pd_rec *last = NULL;
    for (; i < n && (long)json_array_size(data) < q.limit; i++) {
        json_array_append_new(data, deal_product_row(v[i]));
        last = v[i];
    }
    char *next = i < n && last ? make_cursor(&q, last, (long)i) : NULL;
    v2_page(resp, data, next);
    free(next);
    free(v);
}

/* ---- v1 conversion ----------------------------------------------------------------------- */

static int is_v2_ts(const char *s)
{
    return s && strlen(s) == 20 && s[10] == 'T' && s[19] == 'Z';
}

static json_t *user_link(json_int_t id)
{
    pd_rec *u = pd_find(PD_USERS, id);
    if (!u)
        return json_null();
    return json_pack("{s:I,s:O,s:O,s:b,s:n,s:b,s:I}", "id", (json_int_t)id, "name",
                     json_object_get(u->o, "name"), "email", json_object_get(u->o, "email"),
                     "has_pic", 0, "pic_hash", "active_flag", 1, "value", (json_int_t)id);
}

static json_t *named_link(enum pd_table t, json_t *idv)
{
    pd_rec *r = json_is_integer(idv) ? pd_find(t, json_integer_value(idv)) : NULL;
    if (!r)
        return json_null();
    return json_pack("{s:O,s:b,s:I}", "name", json_object_get(r->o, "name"), "active_flag", 1,
                     "value", (json_int_t)r->id);
}

/* v2 custom_fields -> v1 top-level keys: monetary key + key_currency, enum as a string id, set
 * as a comma list of ids. */
static void flatten_custom(json_t *o)
{
    json_t *cf = json_object_get(o, "custom_fields");
    const char *k;
    json_t *v;
    json_object_foreach(cf, k, v)
    {
        if (json_is_object(v) && json_object_get(v, "currency")) {
            char ck[64];
            snprintf(ck, sizeof ck, "%s_currency", k);
            json_object_set(o, k, json_object_get(v, "value"));
            json_object_set(o, ck, json_object_get(v, "currency"));
        } else if (json_is_integer(v)) {
            json_object_set_new(o, k, json_sprintf("%lld", (long long)json_integer_value(v)));
        } else if (json_is_array(v)) {
            buf b;
            buf_init(&b);
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x)
                buf_printf(&b, "%s%lld", i ? "," : "", (long long)json_integer_value(x));
            json_object_set_new(o, k, json_string(b.data ? b.data : ""));
            buf_free(&b);
        } else {
            json_object_set(o, k, v);
        }
    }
    json_object_del(o, "custom_fields");
}

json_t *pd_v1_form(enum pd_table t, const pd_rec *r, int flat)
{
    if (!PD[t].v2)
        return json_incref(r->o);
    json_t *o = json_deep_copy(r->o);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (json_is_string(v) && is_v2_ts(json_string_value(v))) {
            int64_t ms;
            if (!crm_time_parse(json_string_value(v), &ms))
                json_object_set_new(o, k, pd_ts1(ms));
        }
    }
    int deleted = json_is_true(json_object_get(o, "is_deleted"));
    json_object_del(o, "is_deleted");
    json_object_set_new(o, "active_flag", json_boolean(!deleted));
    if (json_is_integer(json_object_get(o, "visible_to")))
        json_object_set_new(
            o, "visible_to",
            json_sprintf("%lld", json_integer_value(json_object_get(o, "visible_to"))));
    json_int_t owner = json_integer_value(json_object_get(o, "owner_id"));
    if (t == PD_DEALS || t == PD_ACTIVITIES) {
        json_object_del(o, "owner_id");
        json_object_set_new(o, "user_id",
                            flat || t == PD_ACTIVITIES ? json_integer(owner) : user_link(owner));
    } else if (json_object_get(o, "owner_id") && !flat) {
        json_object_set_new(o, "owner_id", user_link(owner));
    }
    if (t == PD_DEALS) {
        json_object_set_new(o, "deleted", json_boolean(deleted));
        json_object_set_new(
            o, "active",
            json_boolean(!deleted &&
                         strcmp(json_string_value(json_object_get(o, "status")), "open") == 0));
        if (!flat) {
            json_object_set_new(o, "person_id",
                                named_link(PD_PERSONS, json_object_get(o, "person_id")));
            json_object_set_new(o, "org_id", named_link(PD_ORGS, json_object_get(o, "org_id")));
        }
        /* Legacy zero date on old won deals. */
        json_object_set_new(o, "first_won_time", json_string("0000-00-00 00:00:00"));
    }
    if (t == PD_PERSONS) {
        json_object_set(o, "email", json_object_get(o, "emails"));
        json_object_set(o, "phone", json_object_get(o, "phones"));
        json_object_del(o, "emails");
        json_object_del(o, "phones");
    }
    if (t == PD_ORGS) {
        json_t *a = json_object_get(o, "address");
        if (json_is_object(a)) {
            json_t *flat_a = json_deep_copy(a);
            json_object_foreach(flat_a, k, v)
            {
                char ak[64];
                snprintf(ak, sizeof ak, "address_%s", k);
                if (strcmp(k, "value"))
                    json_object_set(o, ak, json_is_null(v) ? json_string("") : v);
            }
            json_object_set(o, "address", json_object_get(flat_a, "value"));
            json_decref(flat_a);
        }
    }
    json_t *labels = json_object_get(o, "label_ids");
    if (labels) {
        json_object_set(o, "label",
                        json_array_size(labels) ? json_array_get(labels, 0) : json_null());
        json_object_del(o, "label_ids");
    }
    flatten_custom(o);
    return o;
}

/* ---- v1 lists ---------------------------------------------------------------------------- */

typedef struct v1q {
    long start, limit;
    enum sort_key sort;
    int desc;
    int64_t since;
} v1q;

/* sort=field [ASC|DESC][, field [ASC|DESC]]...: ties are always broken by id in the first key's
 * direction, so a later key may only be "id" in that direction. 0, or -1 when invalid. */
static int v1_sort(const char *s, v1q *q)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", s);
    int first = 1;
    for (char *save = NULL, *part = strtok_r(tmp, ",", &save); part;
         part = strtok_r(NULL, ",", &save), first = 0) {
        char field[64], dir[16] = "ASC";
        enum sort_key k;
        int n = sscanf(part, "%63s %15s", field, dir);
        if (n < 1 || sort_key_by_name(field, &k) || (k != SK_ID && k != SK_UPDATE && k != SK_ADD) ||
            (strcasecmp(dir, "ASC") && strcasecmp(dir, "DESC")))
            return -1;
        int desc = strcasecmp(dir, "DESC") == 0;
        if (first) {
            q->sort = k;
            q->desc = desc;
        } else if (k != SK_ID || desc != q->desc) {
            return -1;
        }
    }
    return first ? -1 : 0;
}

static int v1_common(const sim_request *req, sim_response *resp, v1q *q, long cap)
{
    q->start = 0;
    q->limit = 100;
    q->sort = SK_ID;
    q->desc = 0;
    q->since = CRM_TIME_NONE;
    const char *s = sim_query(req, "start");
    if (s && (q->start = parse_nonneg(s)) < 0) {
        pd_error(resp, 400, "Invalid start");
        return -1;
    }
    s = sim_query(req, "limit");
    if (s && (q->limit = parse_nonneg(s)) < 1) {
        pd_error(resp, 400, "Invalid limit");
        return -1;
    }
    if (q->limit > cap)
        q->limit = cap;
    s = sim_query(req, "sort");
    if (s && v1_sort(s, q)) {
        pd_error(resp, 400, "Invalid sort field or direction");
        return -1;
    }
    return 0;
}

static void v1_list(const sim_request *req, sim_response *resp, enum pd_table t, const v1q *q,
                    rec_filter keep, int flat)
{
    pd_rec **v = xmalloc((PD[t].n + 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < PD[t].n; i++) {
        pd_rec *r = &PD[t].r[i];
        if ((q->since == CRM_TIME_NONE || r->upd_ms >= q->since) && (!keep || keep(req, r)))
            v[n++] = r;
    }
    sort_recs(v, n, q->sort, q->desc);
    json_t *data = json_array();
    for (size_t i = (size_t)q->start; i < n && (long)json_array_size(data) < q->limit; i++)
        json_array_append_new(data, pd_v1_form(t, v[i], flat));
    int more = (size_t)(q->start + q->limit) < n;
    json_t *related = NULL;
    if (t == PD_DEALS || t == PD_ACTIVITIES || t == PD_NOTES) {
        related = json_pack("{s:{}}", "user");
        json_t *u1 = user_link(1);
        json_object_set_new(json_object_get(related, "user"), "1", u1);
    }
    size_t got = json_array_size(data);
    if (got)
        PD_LAST_SERVED[t] =
            json_integer_value(json_object_get(json_array_get(data, got - 1), "id"));
    v1_page(resp, data, q->start, q->limit, more, related);
    free(v);
    pd_churn_after_page(t, q->sort == SK_ID);
}

static void v1_unpaged(sim_response *resp, enum pd_table t)
{
    json_t *data = json_array();
    for (size_t i = 0; i < PD[t].n; i++)
        json_array_append(data, PD[t].r[i].o);
    sim_json(resp, 200, json_pack("{s:b,s:o}", "success", 1, "data", data));
}

static int v1_deal_filter(const sim_request *req, const pd_rec *r)
{
    const char *status = sim_query(req, "status");
    if (pd_purged(r) || json_is_true(json_object_get(r->o, "is_archived")) != g_archived)
        return 0;
    if (!status || strcmp(status, "all_not_deleted") == 0)
        return !r->del_ms;
    return strcmp(status, json_string_value(json_object_get(r->o, "status"))) == 0;
}

static int notes_filter(const sim_request *req, const pd_rec *r)
{
    static const char *const keys[] = {"user_id", "deal_id", "person_id", "org_id"};
    for (size_t i = 0; i < 4; i++)
        if (!int_filter(req, r, keys[i]))
            return 0;
    return 1;
}

static void v1_notes(const sim_request *req, sim_response *resp)
{
    v1q q;
    if (v1_common(req, resp, &q, 500))
        return;
    const char *s = sim_query(req, "updated_since");
    if (s && (crm_time_parse(s, &q.since) || q.since == CRM_TIME_NONE || !strchr(s, 'T'))) {
        pd_error(resp, 400, "updated_since must be an RFC3339 date-time");
        return;
    }
    v1_list(req, resp, PD_NOTES, &q, notes_filter, 0);
}

/* /v1/deals/{id}/flow: newest first; dealChange items plus the deal's notes. */
static long flow_requests;

/* A store's records by deal (flow: item_id, notes: deal_id), in store order within a deal, kept
 * until PD_GEN moves: a flow request used to scan every change and every note. */
typedef struct by_deal {
    json_int_t deal;
    size_t index;
} by_deal;

static struct {
    unsigned long gen;
    int built;
    by_deal *e;
} DEAL_INDEX[PD_NTABLES];

static int by_deal_cmp(const void *a, const void *b)
{
    const by_deal *x = a, *y = b;
    if (x->deal != y->deal)
        return x->deal < y->deal ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The entries of deal in store t's index: e[*from .. *to). */
static const by_deal *by_deal_of(enum pd_table t, const char *key, json_int_t deal, size_t *from,
                                 size_t *to)
{
    if (!DEAL_INDEX[t].built || DEAL_INDEX[t].gen != PD_GEN) {
        free(DEAL_INDEX[t].e);
        DEAL_INDEX[t].e = xmalloc((PD[t].n + 1) * sizeof *DEAL_INDEX[t].e);
        for (size_t i = 0; i < PD[t].n; i++)
            DEAL_INDEX[t].e[i] =
                (by_deal){json_integer_value(json_object_get(PD[t].r[i].o, key)), i};
        qsort(DEAL_INDEX[t].e, PD[t].n, sizeof *DEAL_INDEX[t].e, by_deal_cmp);
        DEAL_INDEX[t].gen = PD_GEN;
        DEAL_INDEX[t].built = 1;
    }
    const by_deal *e = DEAL_INDEX[t].e;
    size_t lo = 0, hi = PD[t].n;
    while (lo < hi) { /* first entry >= deal */
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].deal < deal)
            lo = mid + 1;
        else
            hi = mid;
    }
    *from = lo;
    while (hi < PD[t].n && e[hi].deal == deal)
        hi++;
    *to = hi > lo ? hi : lo;
    return e;
}

void pd_api_free(void)
{
    for (int t = 0; t < PD_NTABLES; t++) {
        free(DEAL_INDEX[t].e);
        DEAL_INDEX[t].e = NULL;
        DEAL_INDEX[t].built = 0;
        for (int k = 0; k <= SK_LOG; k++)
            for (int d = 0; d < 2; d++) {
                free(VIEWS[t][k][d].v);
                VIEWS[t][k][d] = (sorted_view){0};
            }
    }
}

static void v1_flow(const sim_request *req, sim_response *resp, pd_rec *deal)
{
    long every = (long)sim_param_int("flow_null_every", 0);
    if (every > 0 && ++flow_requests % every == 0) {
        resp->status = 200;
        buf_append_str(&resp->body, "null");
        return;
    }
    v1q q;
    if (v1_common(req, resp, &q, 500))
        return;
    const char *items = sim_query(req, "items");
    json_t *all = json_array();
    size_t from, to;
    const by_deal *fx = by_deal_of(PD_FLOW, "item_id", deal->id, &from, &to);
    for (size_t k = to; k-- > from;) { /* newest change first */
        pd_rec *f = &PD[PD_FLOW].r[fx[k].index];
        if (items && !strstr(items, "dealChange"))
            continue;
        json_array_append_new(all, json_pack("{s:s,s:O,s:O}", "object", "dealChange", "timestamp",
                                             json_object_get(f->o, "log_time"), "data", f->o));
    }
    const by_deal *nx = by_deal_of(PD_NOTES, "deal_id", deal->id, &from, &to);
    for (size_t k = from; (!items || strstr(items, "note")) && k < to; k++) {
        pd_rec *nr = &PD[PD_NOTES].r[nx[k].index];
        json_array_append_new(all, json_pack("{s:s,s:O,s:O}", "object", "note", "timestamp",
                                             json_object_get(nr->o, "add_time"), "data", nr->o));
    }
    json_t *data = json_array();
    for (size_t i = (size_t)q.start;
         i < json_array_size(all) && (long)json_array_size(data) < q.limit; i++)
        json_array_append(data, json_array_get(all, i));
    int more = (size_t)(q.start + q.limit) < json_array_size(all);
    json_decref(all);
    v1_page(resp, data, q.start, q.limit, more, NULL);
}

static void v1_deal_products(const sim_request *req, sim_response *resp, pd_rec *deal)
{
    v1q q;
    if (v1_common(req, resp, &q, 500))
        return;
    json_t *data = json_array();
    size_t seen = 0;
    int more = 0;
    for (size_t i = 0; i < PD[PD_DEALPRODUCTS].n; i++) {
        pd_rec *r = &PD[PD_DEALPRODUCTS].r[i];
        if (json_integer_value(json_object_get(r->o, "deal_id")) != deal->id)
            continue;
        if (seen++ < (size_t)q.start)
            continue;
        if ((long)json_array_size(data) == q.limit) {
            more = 1;
            break;
        }
        json_t *row = deal_product_row(r);
        pd_rec tmp = *r;
        tmp.o = row;
        json_array_append_new(data, pd_v1_form(PD_DEALPRODUCTS, &tmp, 1));
        json_decref(row);
    }
    v1_page(resp, data, q.start, q.limit, more, NULL);
}

static int field_table(const char *name)
{
    static const struct {
        const char *path;
        enum pd_table t;
    } map[] = {{"dealFields", PD_DEALFIELDS},
               {"personFields", PD_PERSONFIELDS},
               {"organizationFields", PD_ORGFIELDS},
               {"productFields", PD_PRODUCTFIELDS}};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(map[i].path, name) == 0)
            return map[i].t;
    return -1;
}

/* *Fields: paginated, subfield rows included, stored order. */
static void v1_fields(const sim_request *req, sim_response *resp, enum pd_table t)
{
    v1q q;
    if (v1_common(req, resp, &q, 500))
        return;
    json_t *data = json_array();
    size_t n = PD[t].n;
    for (size_t i = (size_t)q.start; i < n && (long)json_array_size(data) < q.limit; i++)
        json_array_append(data, PD[t].r[i].o);
    v1_page(resp, data, q.start, q.limit, (size_t)(q.start + q.limit) < n, NULL);
}

/* ---- /v1/recents ------------------------------------------------------------------------- */

static int recents_table(const char *item)
{
    static const struct {
        const char *item;
        enum pd_table t;
    } map[] = {
        {"deal", PD_DEALS},          {"person", PD_PERSONS},   {"organization", PD_ORGS},
        {"activity", PD_ACTIVITIES}, {"product", PD_PRODUCTS}, {"note", PD_NOTES},
        {"file", PD_FILES},          {"user", PD_USERS},       {"stage", PD_STAGES},
        {"pipeline", PD_PIPELINES},  {"filter", PD_FILTERS},   {"activityType", PD_ACTTYPES}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].item, item) == 0)
            return map[i].t;
    return -1;
}

static void v1_recents(const sim_request *req, sim_response *resp)
{
    int64_t since;
    const char *s = sim_query(req, "since_timestamp");
    if (!s || parse_v1_time(s, &since)) {
        pd_error(resp, 400, "since_timestamp is required (YYYY-MM-DD HH:MM:SS)");
        return;
    }
    const char *item = sim_query(req, "items");
    int t = item ? recents_table(item) : PD_DEALS;
    if (t < 0) {
        pd_error(resp, 400, "Invalid items");
        return;
    }
    /* Since 2024-12: at most ~one month back, silently. */
    int64_t floor_ms = sim_now_ms() - sim_param_int("recents_days", 30) * PD_DAY_MS;
    if (since < floor_ms)
        since = floor_ms;
    v1q q;
    if (v1_common(req, resp, &q, 500))
        return;
    pd_rec **v = xmalloc((PD[t].n + 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < PD[t].n; i++)
        if (PD[t].r[i].upd_ms > since && PD[t].r[i].id && !pd_purged(&PD[t].r[i]))
            v[n++] = &PD[t].r[i];
    sort_recs(v, n, SK_UPDATE, 0);
    json_t *data = json_array();
    char last[32] = "";
    for (size_t i = (size_t)q.start; i < n && (long)json_array_size(data) < q.limit; i++) {
        json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "item", item ? item : "deal", "id",
                                              (json_int_t)v[i]->id,
                                              pd_v1_form((enum pd_table)t, v[i], 1)));
        pd_fmt1(v[i]->upd_ms, last, sizeof last);
    }
    int more = (size_t)(q.start + q.limit) < n;
    json_t *pag = json_pack("{s:I,s:I,s:b}", "start", (json_int_t)q.start, "limit",
                            (json_int_t)q.limit, "more_items_in_collection", more);
    if (more)
        json_object_set_new(pag, "next_start", json_integer(q.start + q.limit));
    char since_s[32];
    pd_fmt1(since, since_s, sizeof since_s);
    sim_json(resp, 200,
             json_pack("{s:b,s:o,s:{s:s,s:s,s:o}}", "success", 1, "data", data, "additional_data",
                       "since_timestamp", since_s, "last_timestamp_on_page", last, "pagination",
                       pag));
    free(v);
}

/* ---- routing ----------------------------------------------------------------------------- */

/* "deals/12/flow" -> base "deals", id 12, tail "flow". */
static void split_path(const char *path, char *base, size_t blen, long long *id, char *tail,
                       size_t tlen)
{
    const char *slash = strchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : strlen(path);
    snprintf(base, blen, "%.*s", (int)n, path);
    *id = -1;
    tail[0] = '\0';
    if (!slash)
        return;
    const char *rest = slash + 1;
    char *end;
    long long v = strtoll(rest, &end, 10);
    if (end != rest && (*end == '\0' || *end == '/')) {
        *id = v;
        if (*end == '/')
            snprintf(tail, tlen, "%s", end + 1);
    } else {
        snprintf(tail, tlen, "%s", rest);
    }
}

static int entity_table(const char *base)
{
    static const struct {
        const char *path;
        enum pd_table t;
    } map[] = {{"deals", PD_DEALS},           {"persons", PD_PERSONS},   {"organizations", PD_ORGS},
               {"activities", PD_ACTIVITIES}, {"products", PD_PRODUCTS}, {"stages", PD_STAGES},
               {"pipelines", PD_PIPELINES}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].path, base) == 0)
            return map[i].t;
    return -1;
}

static void single(sim_response *resp, enum pd_table t, long long id, int v2)
{
    pd_rec *r = pd_find(t, id);
    /* deleted_by_id=1 (default): deleted records stay readable by id until purged */
    if (!r && sim_param_int("deleted_by_id", 1))
        r = pd_find_deleted(t, id);
    if (!r || pd_purged(r)) {
        pd_error(resp, 404, "Item not found");
        return;
    }
    json_t *o = v2 ? json_incref(r->o) : pd_v1_form(t, r, 0);
    sim_json(resp, 200, json_pack("{s:b,s:o}", "success", 1, "data", o));
}

static void api_v2(const sim_request *req, sim_response *resp, const char *path)
{
    char base[64], tail[64];
    long long id;
    split_path(path, base, sizeof base, &id, tail, sizeof tail);
    int t = entity_table(base);
    if (t < 0) {
        pd_error(resp, 404, "Unknown method .");
        return;
    }
    if (t == PD_DEALS && id < 0 && strcmp(tail, "archived") == 0)
        v2_deals(req, resp, 1);
    else if (t == PD_DEALS && id < 0 && strcmp(tail, "products") == 0)
        v2_deal_products(req, resp, NULL);
    else if (t == PD_DEALS && id >= 0 && strcmp(tail, "products") == 0) {
        char ids[32];
        snprintf(ids, sizeof ids, "%lld", id);
        v2_deal_products(req, resp, ids);
    } else if (id >= 0 && !tail[0])
        single(resp, (enum pd_table)t, id, 1);
    else if (id < 0 && !tail[0] && t == PD_DEALS)
        v2_deals(req, resp, 0);
    else if (id < 0 && !tail[0])
        v2_entities(req, resp, (enum pd_table)t);
    else
        pd_error(resp, 404, "Unknown method .");
}

static int v1_retired(const char *base, long long id, const char *tail)
{
    if (!sim_param_int("v1_gone", 0))
        return 0;
    if (strcmp(base, "deals") == 0 && id >= 0 && strcmp(tail, "flow") == 0)
        return 0; /* not deprecated */
    return entity_table(base) >= 0;
}

static void api_v1(const sim_request *req, sim_response *resp, const char *path)
{
    char base[64], tail[64];
    long long id;
    split_path(path, base, sizeof base, &id, tail, sizeof tail);
    if (v1_retired(base, id, tail)) {
        pd_error(resp, 410, "This endpoint is no longer supported; use API v2");
        return;
    }
    int t = entity_table(base), ft = field_table(base);
    v1q q;
    if (strcmp(base, "users") == 0 && strcmp(tail, "me") == 0) {
        single(resp, PD_USERS, 1, 0);
    } else if (strcmp(base, "users") == 0 && id < 0) {
        v1_unpaged(resp, PD_USERS);
    } else if (strcmp(base, "currencies") == 0) {
        v1_unpaged(resp, PD_CURRENCIES);
    } else if (strcmp(base, "activityTypes") == 0) {
        v1_unpaged(resp, PD_ACTTYPES);
    } else if (strcmp(base, "filters") == 0) {
        v1_unpaged(resp, PD_FILTERS);
    } else if (strcmp(base, "notes") == 0 && id < 0) {
        v1_notes(req, resp);
    } else if ((strcmp(base, "notes") == 0 || strcmp(base, "files") == 0) && id >= 0 && !tail[0]) {
        single(resp, base[0] == 'n' ? PD_NOTES : PD_FILES, id, 0);
    } else if (strcmp(base, "files") == 0 && id < 0) {
        if (!v1_common(req, resp, &q, 100))
            v1_list(req, resp, PD_FILES, &q, NULL, 0);
    } else if (strcmp(base, "recents") == 0) {
        v1_recents(req, resp);
    } else if (ft >= 0 && id < 0) {
        v1_fields(req, resp, (enum pd_table)ft);
    } else if (t == PD_DEALS && id >= 0 && tail[0]) {
        pd_rec *d = pd_find(PD_DEALS, id);
        if (!pd_deal_visible(d))
            pd_error(resp, d ? 410 : 404, d ? "Deal has been deleted" : "Deal not found");
        else if (strcmp(tail, "flow") == 0)
            v1_flow(req, resp, d);
        else if (strcmp(tail, "products") == 0)
            v1_deal_products(req, resp, d);
        else
            pd_error(resp, 404, "Unknown method .");
    } else if (t >= 0 && id >= 0 && !tail[0]) {
        single(resp, (enum pd_table)t, id, 0);
    } else if (t >= 0 && id < 0 && (!tail[0] || (t == PD_DEALS && !strcmp(tail, "archived")))) {
        if (v1_common(req, resp, &q, 500))
            return;
        g_archived = tail[0] != '\0';
        v1_list(req, resp, (enum pd_table)t, &q, t == PD_DEALS ? v1_deal_filter : NULL, 0);
    } else {
        pd_error(resp, 404, "Unknown method .");
    }
}

void pd_api(const sim_request *req, sim_response *resp, const char *path, int v2)
{
    if (strcmp(sim_method(req), "GET") != 0) {
        pd_error(resp, 405, "Method not allowed (the simulator is read-only)");
        return;
    }
    if (v2)
        api_v2(req, resp, path);
    else
        api_v1(req, resp, path);
}

/* ---- truth ------------------------------------------------------------------------------- */

/* Legacy zero dates carry no instant: the truth shows them as null, as the topics do. */
static json_t *normalised(json_t *o)
{
    json_t *c = json_deep_copy(o);
    const char *k;
    json_t *v;
    json_object_foreach(c, k, v)
    {
        if (json_is_string(v) && strncmp(json_string_value(v), "0000-00-00", 10) == 0)
            json_object_set_new(c, k, json_null());
    }
    return c;
}

json_t *pd_truth_records(const char *table, int *status)
{
    int t = pd_store_by_name(table);
    *status = 200;
    if (t < 0) {
        *status = 400;
        return NULL;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < PD[t].n; i++) {
        pd_rec *r = &PD[t].r[i];
        if (!r->id)
            continue; /* *Fields subfield rows */
        if (t == PD_DEALS && r->del_ms)
            continue;
        if (t == PD_DEALPRODUCTS) {
            pd_rec *d = pd_find(PD_DEALS, json_integer_value(json_object_get(r->o, "deal_id")));
            if (!d || d->del_ms)
                continue;
            json_array_append_new(out, deal_product_row(r));
            continue;
        }
        if (t == PD_FLOW && !pd_deal_visible(pd_find(
                                PD_DEALS, json_integer_value(json_object_get(r->o, "item_id")))))
            continue;
        json_array_append_new(out, normalised(r->o));
    }
    return out;
}
