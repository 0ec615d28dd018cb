/* copper.c — the Copper CRM (formerly ProsperWorks) connector: Stitch's 17 tables.
 *
 * Copper has no change feed and no tombstones, pages by offset over a mutable order and can
 * reach only the first 100,000 matches of a search, so this connector:
 *  - reads people, companies, leads (incl. converted), opportunities, projects and tasks as a
 *    keyset by re-query: sort by date_modified ascending, always ask for page 1 with
 *    minimum_modified_date = the highest date_modified seen (inclusive; the engine dedupes the
 *    re-read rows). Edits during a pass move records to the end, where the pass still finds them.
 *    When a whole page shares one second, that second is read by a nested keyset on
 *    date_created (min = max = that second, sorted by date_created), and read once more after
 *    that second has closed when it was still the current one (edits keep date_modified in it);
 *    only a page sharing both seconds is paged by offset, restarted whenever X-PW-TOTAL changes
 *    and swept again until the ids read number X-PW-TOTAL (the order of equal keys is not
 *    documented). So every search but that last resort asks for page 1 and the 100,000-match
 *    reach cap never bites;
 *  - reads activities newest first with maximum_activity_date as a downward keyset, from the
 *    older of the bookmark window and the rescan window (activities_rescan_window) up, future
 *    dates included (they never move the bookmark past the pass start), so edits and backdates
 *    inside that window show up at the next pass; a full refresh on the first pass of a process
 *    and every `activities_full_refresh` catches older ones;
 *  - reads users (POST /users/search) and the GET reference lists as full tables, whose deletes
 *    the engine finds every pass; the incremental tables find deletes in the engine's ID
 *    reconciliation passes (source setting reconcile_interval, hourly by default), and every
 *    candidate is read back by id before its delete is published (confirm_request).
 * Every parameter goes in the JSON body; the four X-PW headers go on every request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connector.h"
#include "crm_time.h"
#include "json_scan.h"
#include "log.h"
#include "util.h"

#define MAX_PAGE_SIZE 200

/* What the Copper connector knows of one table (table_def.spec, read through copper_table_of):
 * every Copper table declares one. */
typedef struct copper_table {
    const char *path;      /* the search (POST) or list (GET) path */
    const char *entity;    /* GET /{entity}/{id} reads one record (confirmations); NULL: none */
    const char *cf_entity; /* the entity in custom field definitions' available_on, or NULL */
    unsigned flags;        /* COPPER_* below */
} copper_table;

enum {
    COPPER_CONFIRM_BY_SEARCH = 1u << 0, /* the search takes `ids`: confirmations are batched */
    COPPER_CONVERTED_LEADS = 1u << 1,   /* searches ask for include_converted_leads */
    COPPER_ONE_OBJECT = 1u << 2,        /* the list answers one object, not an array */
};

#define COPPER_SPEC(...) (&(const copper_table){__VA_ARGS__})

static const copper_table *copper_table_of(const table_def *t)
{
    return t->spec;
}

typedef struct copper_state {
    char *token_header;
    char *email_header;
    int64_t last_full_refresh_ms; /* activities; 0 = not in this process */
} copper_state;

/* ---- source ------------------------------------------------------------------------------- */

static char *header_line(const char *name, const char *value)
{
    buf b;
    buf_init(&b);
    buf_printf(&b, "%s: %s", name, value);
    return b.data;
}

static int has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return 1;
    return 0;
}

/* The source's options (copper_options below). */
typedef struct copper_opts {
    const char *api_key_env; /* the key itself */
    const char *user_email;
    long long page_size;
    long long reach_cap;
    long long activities_full_refresh;
    long long activities_rescan_window;
    int full_result;
} copper_opts;

static const copper_opts *opts_of(const source *src)
{
    return source_options(src);
}

static int copper_init(source *src, char *err, size_t errlen)
{
    const char *key = opts_of(src)->api_key_env;
    const char *email = opts_of(src)->user_email;
    long long page_size = opts_of(src)->page_size;
    if (!key || !*key || has_control_chars(key)) {
        snprintf(err, errlen,
                 "the API key environment variable (option api_key_env) is empty or "
                 "holds control characters");
        return -1;
    }
    if (!email || !strchr(email, '@') || has_control_chars(email)) {
        snprintf(err, errlen, "option user_email must be the email of the API key's owner");
        return -1;
    }
    if (page_size < 1 || page_size > MAX_PAGE_SIZE) {
        snprintf(err, errlen, "option page_size must be 1-%d", MAX_PAGE_SIZE);
        return -1;
    }
    if (opts_of(src)->reach_cap < 1) {
        snprintf(err, errlen, "option reach_cap must be positive");
        return -1;
    }
    copper_state *st = xcalloc(1, sizeof(*st));
    st->token_header = header_line("X-PW-AccessToken", key);
    st->email_header = header_line("X-PW-UserEmail", email);
    http_auth *auth = source_auth(src);
    auth->secret_headers[auth->n_secret_headers++] = st->token_header;
    auth->secret_headers[auth->n_secret_headers++] = st->email_header;
    source_set_state(src, st);
    return 0;
}

static void copper_free(source *src)
{
    copper_state *st = source_state(src);
    if (!st)
        return;
    free(st->token_header);
    free(st->email_header);
    free(st);
}

/* The non-secret headers of every request. */
static int add_headers(http_request *req)
{
    return http_request_add_header(req, "X-PW-Application: developer_api") ||
           http_request_add_header(req, "Accept: application/json") ||
           http_request_add_header(req, "Content-Type: application/json");
}

static int copper_check(source *src, http_request *req)
{
    connector_url(src, req, "/account");
    return add_headers(req);
}

static http_verdict copper_classify(const table_def *table, const http_response *resp)
{
    (void)table;
    if (resp->status == 401 || resp->status == 403)
        return VERDICT_AUTH;
    return VERDICT_ERROR; /* 400/404/422 are never retried by the HTTP client either */
}

/* ---- small helpers ------------------------------------------------------------------------ */

static long long page_size(const table_ctx *ctx)
{
    long long size = opts_of(ctx->src)->page_size;
    long long cap = opts_of(ctx->src)->reach_cap;
    return size < cap ? size : cap;
}

static json_int_t paging_int(const table_ctx *ctx, const char *key, json_int_t def)
{
    json_t *v = json_object_get(ctx->paging, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static int paging_has(const table_ctx *ctx, const char *key)
{
    return json_object_get(ctx->paging, key) != NULL;
}

/* Removes a paging key; an absent key is fine (json_object_del's only failure). */
static void paging_del(table_ctx *ctx, const char *key)
{
    if (json_object_del(ctx->paging, key) && paging_has(ctx, key))
        log_warn(source_name(ctx->src), ctx->table->name, "cannot clear paging key %s", key);
}

static int set_int(json_t *obj, const char *key, json_int_t v, char *err, size_t errlen)
{
    if (json_object_set_new(obj, key, json_integer(v))) {
        snprintf(err, errlen, "out of memory setting %s", key);
        return -1;
    }
    return 0;
}

static int set_true(json_t *obj, const char *key, char *err, size_t errlen)
{
    if (json_object_set_new(obj, key, json_true())) {
        snprintf(err, errlen, "out of memory setting %s", key);
        return -1;
    }
    return 0;
}

static int mark_done(table_ctx *ctx, char *err, size_t errlen)
{
    return set_true(ctx->paging, "done", err, errlen);
}

static int paging_done(const table_ctx *ctx)
{
    return json_is_true(json_object_get(ctx->paging, "done"));
}

/* An integer that may arrive as a JSON integer, an integral real or a numeric string. */
static int json_seconds(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -9.2e18 && d < 9.2e18))
            return -1; /* beyond an int64_t: converting would be undefined */
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        char *end;
        long long n = strtoll(json_string_value(v), &end, 10);
        if (end != json_string_value(v) && *end == '\0') {
            *out = n;
            return 0;
        }
    }
    return -1;
}

/* Min and max of `field` over the records that carry a usable value; -1 when none does. */
static int page_range(const json_t *records, const char *field, int64_t *lo, int64_t *hi, char *err,
                      size_t errlen)
{
    size_t i, found = 0;
    json_t *r;
    json_array_foreach(records, i, r)
    {
        int64_t v;
        if (json_seconds(json_object_get(r, field), &v))
            continue;
        if (found == 0 || v < *lo)
            *lo = v;
        if (found == 0 || v > *hi)
            *hi = v;
        found++;
    }
    if (found == 0) {
        snprintf(err, errlen, "no record of the page has a usable %s", field);
        return -1;
    }
    return 0;
}

/* X-PW-TOTAL, or -1 when absent or unreadable. */
static json_int_t response_total(const http_response *resp)
{
    const char *h = http_response_header(resp, "x-pw-total");
    if (!h)
        return -1;
    char *end;
    long long n = strtoll(h, &end, 10);
    return end != h && *end == '\0' && n >= 0 ? n : -1;
}

/* Serialises body into a POST of path. Steals body. */
static req_result post_json(table_ctx *ctx, http_request *req, const char *path, json_t *body,
                            char *err, size_t errlen)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        snprintf(err, errlen, "out of memory building the request body");
        return REQ_ERROR;
    }
    connector_url(ctx->src, req, path);
    req->method = "POST";
    int rc = buf_append_str(&req->body, text);
    free(text);
    if (rc || add_headers(req)) {
        snprintf(err, errlen, "out of memory building the request");
        return REQ_ERROR;
    }
    return REQ_READY;
}

/* The fast path for a response that must be a bare JSON array: the body goes to the engine as
 * raw text; paging reads the records' id and keys from a slim array (returned, the caller
 * decrefs). NULL + err otherwise. */
static json_t *parse_raw_array(const http_response *resp, page *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "date_modified", "date_created", "activity_date",
                                       NULL};
    if (connector_raw_records(resp, NULL, out, NULL, err, errlen))
        return NULL;
    return connector_raw_slim(resp, out, keys, err, errlen);
}

/* How many records a full page at the current offset holds (the reach cap truncates). */
static long long expected_rows(const table_ctx *ctx, json_int_t page_number)
{
    long long size = page_size(ctx);
    long long offset = (long long)(page_number - 1) * size;
    long long cap = opts_of(ctx->src)->reach_cap;
    long long left = cap - offset;
    return left < 0 ? 0 : left < size ? left : size;
}

/* The ctx->confirm branch of every search table's parse_page (see the confirmation section). */
static int confirm_parse(const http_response *resp, page *out, char *err, size_t errlen);

/* ---- offset paging through one second of a sort key -------------------------------------- *
 * The last resort when a whole page shares one value of every key we can filter on. Paging
 * state: <key> (the second), page, total (X-PW-TOTAL), read (the ids read in the block since
 * total last changed, an object used as a set), sweeps and sweep_from (the set's size when the
 * sweep began). Any change of X-PW-TOTAL restarts at page 1 with an empty set: rows left or
 * entered the second, so offsets shifted (re-read rows are deduplicated by the engine). Copper
 * does not document the order of equal keys, so a sweep (page 1 to a short page) may also
 * shift: the block is done only when the set holds X-PW-TOTAL ids (of a closed second, whose
 * rows can only leave; the tie of an open second is read again once it closes), else it is
 * swept again, at most MAX_SWEEPS times. With full_result duplicates (activities), X-PW-TOTAL
 * counts them: a sweep that adds no new id ends the block there. Only the first reach_cap rows
 * of the second are reachable; more is logged. */

#define MAX_SWEEPS 30

static int offset_begin(table_ctx *ctx, const char *key, int64_t second, char *err, size_t errlen)
{
    paging_del(ctx, "total");
    paging_del(ctx, "read");
    paging_del(ctx, "sweeps");
    paging_del(ctx, "sweep_from");
    return set_int(ctx->paging, key, second, err, errlen) ||
           set_int(ctx->paging, "page", 1, err, errlen);
}

static void offset_clear(table_ctx *ctx, const char *key)
{
    paging_del(ctx, key);
    paging_del(ctx, "page");
    paging_del(ctx, "total");
    paging_del(ctx, "read");
    paging_del(ctx, "sweeps");
    paging_del(ctx, "sweep_from");
}

/* min_key = max_key = the second, and the page number. */
static int offset_filters(const table_ctx *ctx, json_t *body, const char *key, const char *min_key,
                          const char *max_key)
{
    json_int_t second = paging_int(ctx, key, 0);
    return json_object_set_new(body, min_key, json_integer(second)) ||
                   json_object_set_new(body, max_key, json_integer(second)) ||
                   json_object_set_new(body, "page_number",
                                       json_integer(paging_int(ctx, "page", 1)))
               ? -1
               : 0;
}

/* Adds the page's ids to the block's set. */
static int offset_remember(table_ctx *ctx, const json_t *records, char *err, size_t errlen)
{
    json_t *read = json_object_get(ctx->paging, "read");
    if (!read) {
        read = json_object();
        if (!read || json_object_set_new(ctx->paging, "read", read)) {
            snprintf(err, errlen, "out of memory remembering ids");
            return -1;
        }
    }
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r)
    {
        int64_t id;
        char key[32];
        if (json_seconds(json_object_get(r, "id"), &id))
            continue;
        snprintf(key, sizeof(key), "%lld", (long long)id);
        if (json_object_set_new(read, key, json_true())) {
            snprintf(err, errlen, "out of memory remembering ids");
            return -1;
        }
    }
    return 0;
}

/* A sweep of the block ended: is every row of it read? Otherwise sweep again (or give up). */
static int offset_sweep_done(table_ctx *ctx, json_int_t total, int *finished, char *err,
                             size_t errlen)
{
    long long cap = opts_of(ctx->src)->reach_cap;
    long long want = total < cap ? total : cap;
    long long have = (long long)json_object_size(json_object_get(ctx->paging, "read"));
    long long added = have - paging_int(ctx, "sweep_from", 0);
    json_int_t sweeps = paging_int(ctx, "sweeps", 0) + 1;
    int duplicates = opts_of(ctx->src)->full_result;
    if (total < 0 || have >= want || (duplicates && sweeps > 1 && added == 0)) {
        *finished = 1;
        return 0;
    }
    if (sweeps >= MAX_SWEEPS) {
        log_warn(source_name(ctx->src), ctx->table->name,
                 "%lld of %lld records sharing one second read after %d sweeps; moving on", have,
                 want, MAX_SWEEPS);
        *finished = 1;
        return 0;
    }
    return set_int(ctx->paging, "sweeps", sweeps, err, errlen) ||
           set_int(ctx->paging, "page", 1, err, errlen);
}

/* After a page of offset paging; *finished = 1 when the whole second has been read. */
static int offset_step(table_ctx *ctx, const http_response *resp, const json_t *records,
                       int *finished, char *err, size_t errlen)
{
    json_int_t page_no = paging_int(ctx, "page", 1), total = response_total(resp);
    long long cap = opts_of(ctx->src)->reach_cap;
    size_t rows = json_array_size(records);
    *finished = 0;
    if (!paging_has(ctx, "total") || total != paging_int(ctx, "total", -1)) {
        if (page_no == 1 && !paging_has(ctx, "total") && total > cap)
            log_warn(source_name(ctx->src), ctx->table->name,
                     "%lld records share every filterable second; only %lld are reachable",
                     (long long)total, cap);
        paging_del(ctx, "read");
        paging_del(ctx, "sweeps");
        if (set_int(ctx->paging, "total", total, err, errlen))
            return -1;
        if (page_no > 1) /* rows moved: re-read */
            return set_int(ctx->paging, "page", 1, err, errlen);
    }
    if (page_no == 1 &&
        set_int(ctx->paging, "sweep_from",
                (json_int_t)json_object_size(json_object_get(ctx->paging, "read")), err, errlen))
        return -1;
    if (offset_remember(ctx, records, err, errlen))
        return -1;
    if (rows > 0 && (long long)rows >= expected_rows(ctx, page_no))
        return set_int(ctx->paging, "page", page_no + 1, err, errlen);
    return offset_sweep_done(ctx, total, finished, err, errlen);
}

/* ---- incremental searches on date_modified ----------------------------------------------- *
 * Paging state: min (keyset on date_modified). When a full page shares one date_modified
 * second: tie (that second) and cmin, a nested keyset on date_created inside it (sorted by
 * date_created). When a full page shares both seconds: ctie, offset paging through them. Every
 * search but the last resort asks for page 1, so the reach cap never bites. */

static int64_t floor_seconds(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

/* Whether the CRM's clock may still be in `second` (ours, a second either side for skew and
 * the second boundary). A record edited now keeps date_modified = now, so a tie block of an open
 * second can still change behind the date_created keyset that drained it; a block of a past
 * second can only lose records (edits move them to a later second, creations are dated now). */
static int second_still_open(int64_t second)
{
    int64_t now = floor_seconds(now_wall_ms());
    return second >= now - 1 && second <= now + 1;
}

/* Waits (at most 3 s) until `second` is closed. */
static void wait_second_closed(int64_t second)
{
    while (second_still_open(second)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The filters and sort of the current keyset level. */
static int modified_filters(const table_ctx *ctx, json_t *body)
{
    if (!paging_has(ctx, "tie")) {
        int rc = json_object_set_new(body, "sort_by", json_string("date_modified")) ||
                 json_object_set_new(body, "page_number", json_integer(1));
        if (!rc && paging_has(ctx, "min"))
            rc = json_object_set_new(body, "minimum_modified_date",
                                     json_integer(paging_int(ctx, "min", 0)));
        return rc ? -1 : 0;
    }
    json_int_t tie = paging_int(ctx, "tie", 0);
    int rc = json_object_set_new(body, "sort_by", json_string("date_created")) ||
             json_object_set_new(body, "minimum_modified_date", json_integer(tie)) ||
             json_object_set_new(body, "maximum_modified_date", json_integer(tie));
    if (!rc && paging_has(ctx, "ctie"))
        return offset_filters(ctx, body, "ctie", "minimum_created_date", "maximum_created_date");
    if (!rc)
        rc = json_object_set_new(body, "page_number", json_integer(1));
    if (!rc && paging_has(ctx, "cmin"))
        rc = json_object_set_new(body, "minimum_created_date",
                                 json_integer(paging_int(ctx, "cmin", 0)));
    return rc ? -1 : 0;
}

static req_result modified_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    if (paging_done(ctx))
        return REQ_DONE;
    if (!paging_has(ctx, "min") && ctx->from_ms != CRM_TIME_NONE &&
        set_int(ctx->paging, "min", floor_seconds(ctx->from_ms), err, errlen))
        return REQ_ERROR;
    if (paging_has(ctx, "settle")) {
        wait_second_closed(paging_int(ctx, "settle", 0));
        paging_del(ctx, "settle");
    }
    json_t *body =
        json_pack("{s:I, s:s}", "page_size", (json_int_t)page_size(ctx), "sort_direction", "asc");
    int rc = body ? 0 : -1;
    if (!rc && (copper_table_of(ctx->table)->flags & COPPER_CONVERTED_LEADS))
        rc = json_object_set_new(body, "include_converted_leads", json_true());
    if (!rc)
        rc = modified_filters(ctx, body);
    if (rc) {
        json_decref(body);
        snprintf(err, errlen, "out of memory building the search");
        return REQ_ERROR;
    }
    return post_json(ctx, req, copper_table_of(ctx->table)->path, body, err, errlen);
}

/* One keyset level: a short page ends it (*level_done); a full page advances the keyset key
 * to its highest value, or, when the whole page shares one value, returns it in *tied. */
static int keyset_step(table_ctx *ctx, const json_t *records, const char *field,
                       const char *keyset_key, int *level_done, int64_t *tied, char *err,
                       size_t errlen)
{
    size_t n = json_array_size(records);
    *level_done = 0;
    *tied = CRM_TIME_NONE;
    if (n == 0 || (long long)n < expected_rows(ctx, 1)) {
        *level_done = 1;
        return 0;
    }
    int64_t lo = 0, hi = 0;
    if (page_range(records, field, &lo, &hi, err, errlen))
        return -1;
    if (lo == hi) {
        *tied = hi;
        return 0;
    }
    return set_int(ctx->paging, keyset_key, hi, err, errlen);
}

/* The date_modified second `tie` has been read completely: continue after it. While that second
 * is still open, edits made in it as it was drained may sit behind the keyset: then the block is
 * read once more, from the top, as soon as the second has closed (paging key settle), so this
 * pass reads them (one extra read of the block, at most 3 s later). */
static int modified_tie_done(table_ctx *ctx, char *err, size_t errlen)
{
    json_int_t tie = paging_int(ctx, "tie", 0);
    paging_del(ctx, "tie");
    paging_del(ctx, "cmin");
    if (second_still_open(tie))
        return set_int(ctx->paging, "settle", tie, err, errlen) ||
               set_int(ctx->paging, "min", tie, err, errlen);
    return set_int(ctx->paging, "min", tie + 1, err, errlen);
}

static int modified_step(table_ctx *ctx, const http_response *resp, const json_t *records,
                         char *err, size_t errlen)
{
    int done;
    int64_t tied;
    if (paging_has(ctx, "ctie")) { /* offset through one (modified, created) pair */
        if (offset_step(ctx, resp, records, &done, err, errlen))
            return -1;
        if (!done)
            return 0;
        json_int_t ctie = paging_int(ctx, "ctie", 0);
        offset_clear(ctx, "ctie");
        return set_int(ctx->paging, "cmin", ctie + 1, err, errlen);
    }
    if (paging_has(ctx, "tie")) { /* created keyset inside one modified second */
        if (keyset_step(ctx, records, "date_created", "cmin", &done, &tied, err, errlen))
            return -1;
        if (done)
            return modified_tie_done(ctx, err, errlen);
        return tied == CRM_TIME_NONE ? 0 : offset_begin(ctx, "ctie", tied, err, errlen);
    }
    if (keyset_step(ctx, records, "date_modified", "min", &done, &tied, err, errlen))
        return -1;
    if (done)
        return mark_done(ctx, err, errlen);
    if (tied == CRM_TIME_NONE)
        return 0;
    paging_del(ctx, "cmin");
    return set_int(ctx->paging, "tie", tied, err, errlen);
}

static int modified_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                          size_t errlen)
{
    if (ctx->confirm)
        return confirm_parse(resp, out, err, errlen);
    json_t *records = parse_raw_array(resp, out, err, errlen);
    if (!records)
        return -1;
    /* Each request restarts at the highest value seen: X-PW-TOTAL counts what is left. */
    json_int_t total = response_total(resp);
    out->total_hint = total > 0 ? total : 0;
    int rc = modified_step(ctx, resp, records, err, errlen);
    json_decref(records);
    return rc;
}

/* ---- activities: newest first, downward keyset on activity_date -------------------------- */

static int activities_full_due(const table_ctx *ctx)
{
    const copper_state *st = source_state(ctx->src);
    long long every = opts_of(ctx->src)->activities_full_refresh;
    if (ctx->reconcile || ctx->bookmark_ms == CRM_TIME_NONE)
        return 1;
    if (every <= 0)
        return 0;
    return st->last_full_refresh_ms == 0 ||
           now_wall_ms() - st->last_full_refresh_ms >= every * 1000LL;
}

/* The lower bound of an incremental pass: the bookmark window (from), widened to the rescan
 * window before the pass start (activities_rescan_window), never before start_date. */
static int64_t activities_window_start(const table_ctx *ctx)
{
    int64_t lo = ctx->from_ms;
    long long rescan = opts_of(ctx->src)->activities_rescan_window;
    if (rescan > 0) {
        int64_t recent = ctx->until_ms - rescan * 1000LL;
        int64_t start = source_start_ms(ctx->src);
        if (lo == CRM_TIME_NONE || recent < lo)
            lo = recent;
        if (start != CRM_TIME_NONE && lo < start)
            lo = start;
    }
    return lo;
}

/* A new pass. Incremental: activity_date >= lo (the bookmark window or the rescan window,
 * whichever is older), unbounded above so future-dated rows are read every pass; edits and
 * backdates inside the rescan window show up at the next pass. Full refresh: no bounds, for
 * edits and backdates older than that. The bookmark stays capped at the pass start either way;
 * hi moves down as the keyset advances. */
static int activities_begin(table_ctx *ctx, char *err, size_t errlen)
{
    if (set_true(ctx->paging, "started", err, errlen))
        return -1;
    if (activities_full_due(ctx)) {
        if (!ctx->reconcile && ctx->bookmark_ms != CRM_TIME_NONE)
            log_info(source_name(ctx->src), ctx->table->name,
                     "full refresh (catches backdated activities)");
        return set_true(ctx->paging, "full", err, errlen);
    }
    int64_t lo = activities_window_start(ctx);
    if (lo != CRM_TIME_NONE)
        return set_int(ctx->paging, "lo", floor_seconds(lo), err, errlen);
    return 0;
}

static req_result activities_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    if (paging_done(ctx))
        return REQ_DONE;
    if (!paging_has(ctx, "started") && activities_begin(ctx, err, errlen))
        return REQ_ERROR;
    json_t *body = json_pack("{s:I}", "page_size", (json_int_t)page_size(ctx));
    int rc = body ? 0 : -1;
    if (!rc && opts_of(ctx->src)->full_result)
        rc = json_object_set_new(body, "full_result", json_true());
    if (!rc && paging_has(ctx, "tie")) {
        rc = offset_filters(ctx, body, "tie", "minimum_activity_date", "maximum_activity_date");
    } else if (!rc) {
        rc = json_object_set_new(body, "page_number", json_integer(1));
        if (!rc && paging_has(ctx, "hi"))
            rc = json_object_set_new(body, "maximum_activity_date",
                                     json_integer(paging_int(ctx, "hi", 0)));
        if (!rc && paging_has(ctx, "lo"))
            rc = json_object_set_new(body, "minimum_activity_date",
                                     json_integer(paging_int(ctx, "lo", 0)));
    }
    if (rc) {
        json_decref(body);
        snprintf(err, errlen, "out of memory building the search");
        return REQ_ERROR;
    }
    return post_json(ctx, req, copper_table_of(ctx->table)->path, body, err, errlen);
}

static int activities_finish(table_ctx *ctx, char *err, size_t errlen)
{
    if (json_is_true(json_object_get(ctx->paging, "full")) && !ctx->reconcile) {
        copper_state *st = source_state(ctx->src);
        st->last_full_refresh_ms = now_wall_ms();
    }
    return mark_done(ctx, err, errlen);
}

static int activities_advance(table_ctx *ctx, const json_t *records, char *err, size_t errlen)
{
    size_t n = json_array_size(records);
    if ((long long)n < expected_rows(ctx, 1) || n == 0)
        return activities_finish(ctx, err, errlen);
    int64_t lo = 0, hi = 0;
    if (page_range(records, "activity_date", &lo, &hi, err, errlen))
        return -1;
    if (lo == hi)
        return offset_begin(ctx, "tie", lo, err, errlen);
    return set_int(ctx->paging, "hi", lo, err, errlen);
}

static int activities_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                            size_t errlen)
{
    if (ctx->confirm)
        return confirm_parse(resp, out, err, errlen);
    json_t *records = parse_raw_array(resp, out, err, errlen);
    if (!records)
        return -1;
    out->bookmark_cap_ms = ctx->until_ms; /* a future-dated activity must not poison it */
    int rc;
    if (paging_has(ctx, "tie")) {
        int finished;
        rc = offset_step(ctx, resp, records, &finished, err, errlen);
        if (!rc && finished) {
            json_int_t tie = paging_int(ctx, "tie", 0);
            offset_clear(ctx, "tie");
            rc = set_int(ctx->paging, "hi", tie - 1, err, errlen);
            if (!rc && paging_has(ctx, "lo") && tie - 1 < paging_int(ctx, "lo", 0))
                rc = activities_finish(ctx, err, errlen);
        }
    } else {
        rc = activities_advance(ctx, records, err, errlen);
    }
    json_decref(records);
    return rc;
}

/* ---- users: offset paging, restarted when X-PW-TOTAL changes ----------------------------- */

static req_result users_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    if (paging_done(ctx))
        return REQ_DONE;
    json_t *body = json_pack("{s:I, s:I}", "page_number", paging_int(ctx, "page", 1), "page_size",
                             (json_int_t)page_size(ctx));
    return post_json(ctx, req, copper_table_of(ctx->table)->path, body, err, errlen);
}

static int users_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen)
{
    if (ctx->confirm)
        return confirm_parse(resp, out, err, errlen);
    json_t *records = parse_raw_array(resp, out, err, errlen);
    if (!records)
        return -1;
    size_t n = json_array_size(records);
    json_decref(records);
    json_int_t page_no = paging_int(ctx, "page", 1), total = response_total(resp);
    if (page_no > 1 && total != paging_int(ctx, "total", -1)) /* someone left or joined */
        return set_int(ctx->paging, "page", 1, err, errlen);
    if (page_no == 1 && set_int(ctx->paging, "total", total, err, errlen))
        return -1;
    if ((long long)n < expected_rows(ctx, page_no) || n == 0)
        return mark_done(ctx, err, errlen);
    return set_int(ctx->paging, "page", page_no + 1, err, errlen);
}

/* ---- GET reference lists: one request, whole list ---------------------------------------- */

static req_result list_request(table_ctx *ctx, http_request *req, char *err, size_t errlen)
{
    if (paging_done(ctx))
        return REQ_DONE;
    connector_url(ctx->src, req, copper_table_of(ctx->table)->path);
    if (add_headers(req)) {
        snprintf(err, errlen, "out of memory building the request");
        return REQ_ERROR;
    }
    return REQ_READY;
}

/* The body of a COPPER_ONE_OBJECT list as the page's one record (raw text): 0, or -1 when the
 * body is not one object. */
static int one_object(const http_response *resp, page *out)
{
    const char *body = resp->body.data ? resp->body.data : "", *end = body + resp->body.len;
    const char *p = js_ws(body, end), *q;
    if (js_peek(p, end) != JS_OBJECT || !(q = js_span(p, end)) || js_ws(q, end) != end)
        return -1;
    return connector_raw_add(out, p, (size_t)(q - p));
}

static int list_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                      size_t errlen)
{
    if (!(copper_table_of(ctx->table)->flags & COPPER_ONE_OBJECT) || one_object(resp, out)) {
        if (connector_raw_records(resp, NULL, out, NULL, err, errlen)) {
            snprintf(err + strlen(err), errlen - strlen(err), " (GET %s)",
                     copper_table_of(ctx->table)->path);
            return -1;
        }
    }
    return mark_done(ctx, err, errlen);
}

/* ---- confirmation of reconciliation candidates ------------------------------------------ *
 * Copper reports no deletes, so an id a reconciliation listing missed is read back before its
 * delete is published: people, leads, opportunities and projects by a search with the `ids`
 * filter (up to 200 per request, page_size = the number of ids so none is cut off); companies,
 * tasks, activities and users, whose searches have no `ids` filter, by GET /{entity}/{id}, where
 * 404 = gone (the engine's rule) and a deleted activity answers {"id":N,"is_deleted":true}. */

static int confirm_by_search(const table_def *t)
{
    return (copper_table_of(t)->flags & COPPER_CONFIRM_BY_SEARCH) != 0;
}

static req_result confirm_request(table_ctx *ctx, const json_t *ids, http_request *req, char *err,
                                  size_t errlen)
{
    size_t n = json_array_size(ids);
    if (n == 0 || (!confirm_by_search(ctx->table) && n != 1) || n > MAX_PAGE_SIZE) {
        snprintf(err, errlen, "cannot confirm %zu ids of %s in one request", n, ctx->table->name);
        return REQ_ERROR;
    }
    if (confirm_by_search(ctx->table)) {
        json_t *body = json_pack("{s:O, s:I, s:I}", "ids", ids, "page_size", (json_int_t)n,
                                 "page_number", (json_int_t)1);
        if (body && (copper_table_of(ctx->table)->flags & COPPER_CONVERTED_LEADS) &&
            json_object_set_new(body, "include_converted_leads", json_true())) {
            json_decref(body);
            body = NULL;
        }
        return post_json(ctx, req, copper_table_of(ctx->table)->path, body, err, errlen);
    }
    const json_t *id = json_array_get(ids, 0);
    int64_t v;
    if (json_seconds(id, &v)) {
        snprintf(err, errlen, "a %s id to confirm is not a number", ctx->table->name);
        return REQ_ERROR;
    }
    char path[96];
    snprintf(path, sizeof(path), "/%s/%lld", copper_table_of(ctx->table)->entity, (long long)v);
    connector_url(ctx->src, req, path);
    if (add_headers(req)) {
        snprintf(err, errlen, "out of memory building the request");
        return REQ_ERROR;
    }
    return REQ_READY;
}

/* A confirmation answer (a search's array or one record): the ids of the records that exist;
 * a record marked is_deleted does not. */
static int confirm_parse(const http_response *resp, page *out, char *err, size_t errlen)
{
    json_t *body = connector_parse_json(resp, err, errlen);
    if (!body)
        return -1;
    if (!json_is_array(body) && !json_is_object(body)) {
        snprintf(err, errlen, "expected a JSON array or object confirming ids");
        json_decref(body);
        return -1;
    }
    json_t *alive = json_array();
    size_t i, n = json_is_array(body) ? json_array_size(body) : 1;
    for (i = 0; alive && i < n; i++) {
        const json_t *rec = json_is_array(body) ? json_array_get(body, i) : body;
        const json_t *id = json_object_get(rec, "id");
        if (!json_is_integer(id) && !json_is_string(id))
            continue;
        if (json_is_true(json_object_get(rec, "is_deleted")))
            continue;
        if (json_array_append(alive, (json_t *)id)) {
            json_decref(alive);
            alive = NULL;
        }
    }
    json_decref(body);
    if (!alive) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    out->ids = alive;
    return 0;
}

/* ---- typed custom fields ----------------------------------------------------------------- */

static cf_kind copper_kind(const char *data_type, int *multi)
{
    static const struct {
        const char *name;
        cf_kind kind;
    } types[] = {{"Float", CF_NUMBER},     {"Percentage", CF_NUMBER}, {"Currency", CF_MONEY},
                 {"Checkbox", CF_BOOLEAN}, {"Date", CF_DATE},         {"Dropdown", CF_ENUM},
                 {"MultiSelect", CF_ENUM}};
    *multi = data_type && strcmp(data_type, "MultiSelect") == 0;
    for (size_t i = 0; data_type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(data_type, types[i].name) == 0)
            return types[i].kind;
    return CF_STRING; /* String, Text, URL, Connect and anything new */
}

static int copper_describe(const table_def *t, const json_t *def, cf_desc *d)
{
    const char *entity = copper_table_of(t)->cf_entity;
    int applies = 0;
    size_t i;
    json_t *on;
    json_array_foreach(json_object_get(def, "available_on"), i, on) applies |=
        entity && json_is_string(on) && strcmp(json_string_value(on), entity) == 0;
    const json_t *idj = json_object_get(def, "id");
    if (!applies || !json_is_integer(idj))
        return 0;
    char id[32];
    snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT, json_integer_value(idj));
    int multi;
    cf_kind kind = copper_kind(json_string_value(json_object_get(def, "data_type")), &multi);
    cf_desc_set(d, id, json_string_value(json_object_get(def, "name")), kind, multi);
    json_t *opt;
    json_array_foreach(json_object_get(def, "options"), i, opt)
    {
        char oid[32];
        snprintf(oid, sizeof(oid), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(opt, "id")));
        cf_desc_add_option(d, oid, json_string_value(json_object_get(opt, "name")));
    }
    const char *currency = json_string_value(json_object_get(def, "currency"));
    if (kind == CF_MONEY && currency)
        d->currency = xstrdup(currency);
    return 1;
}

/* Values live in custom_fields[{custom_field_definition_id, value}]; the entries taken out
 * leave a new, shorter array (entries of unknown definitions stay there). */
static json_t *copper_take(json_t *rec, const char *id, cf_kind kind)
{
    (void)kind;
    const json_t *list = json_object_get(rec, "custom_fields");
    if (!json_is_array(list))
        return NULL;
    json_t *rest = json_array(), *value = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const json_t *did = json_object_get(e, "custom_field_definition_id");
        char text[32] = "";
        if (json_is_integer(did))
            snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(did));
        if (!value && strcmp(text, id) == 0) {
            const json_t *v = json_object_get(e, "value");
            value = json_incref((json_t *)(v ? v : json_null()));
        } else {
            json_array_append(rest, e);
        }
    }
    json_object_set_new(rec, "custom_fields", rest);
    return value;
}

static const custom_fields_spec copper_custom = {
    .definitions = {"custom_field_definitions"},
    .describe = copper_describe,
    .take = copper_take,
    .raw_member = "custom_fields",
    .raw_entry_id = "custom_field_definition_id",
    .raw_entry_value = "value",
};

/* ---- tables ------------------------------------------------------------------------------- */

#define MODIFIED_TABLE(n, what, cf_name, batch, confirm_flags)                                     \
    {                                                                                              \
        .name = n, .primary_key = "id", .replication_key = "date_modified",                        \
        .method = SYNC_INCREMENTAL, .lookback_seconds = 300, .schema_file = "copper/" n ".avsc",   \
        .sorted = 1, .reconcile = 1,                                                               \
        .description = what ", keyset by re-query on date_modified; deletes by reconciliation",    \
        .next_request = modified_request, .parse_page = modified_parse, .custom = &copper_custom,  \
        .confirm_request = confirm_request, .confirm_batch = batch,                                \
        .spec = COPPER_SPEC(.path = "/" n "/search", .entity = n, .cf_entity = cf_name,            \
                            .flags = confirm_flags),                                               \
    }

#define LIST_TABLE(n, pk, what, list_flags)                                                        \
    {                                                                                              \
        .name = n, .primary_key = pk, .method = SYNC_FULL_TABLE,                                   \
        .schema_file = "copper/" n ".avsc", .reconcile = 1, .description = what,                   \
        .next_request = list_request, .parse_page = list_parse,                                    \
        .spec = COPPER_SPEC(.path = "/" n, .flags = list_flags),                                   \
    }

static const table_def copper_tables[] = {
    LIST_TABLE("account", "id", "GET /account, full table", COPPER_ONE_OBJECT),
    {
        .name = "activities_search",
        .primary_key = "id",
        .replication_key = "activity_date",
        .method = SYNC_INCREMENTAL,
        .lookback_seconds = 3600,
        .schema_file = "copper/activities_search.avsc",
        .reconcile = 1,
        .description = "activities, newest first by activity_date capped at the pass start; "
                       "periodic full refresh",
        .next_request = activities_request,
        .parse_page = activities_parse,
        .confirm_request = confirm_request,
        .confirm_batch = 1,
        .spec = COPPER_SPEC(.path = "/activities/search", .entity = "activities"),
    },
    MODIFIED_TABLE("companies", "companies", "company", 1, 0),
    LIST_TABLE("contact_types", "id", "GET /contact_types, full table", 0),
    LIST_TABLE("custom_field_definitions", "id", "GET /custom_field_definitions, full table", 0),
    LIST_TABLE("customer_sources", "id", "GET /customer_sources, full table", 0),
    LIST_TABLE("lead_statuses", "id", "GET /lead_statuses, full table", 0),
    MODIFIED_TABLE("leads", "leads incl. converted", "lead", MAX_PAGE_SIZE,
                   COPPER_CONFIRM_BY_SEARCH | COPPER_CONVERTED_LEADS),
    LIST_TABLE("loss_reasons", "id", "GET /loss_reasons, full table", 0),
    MODIFIED_TABLE("opportunities", "opportunities", "opportunity", MAX_PAGE_SIZE,
                   COPPER_CONFIRM_BY_SEARCH),
    MODIFIED_TABLE("people", "people", "person", MAX_PAGE_SIZE, COPPER_CONFIRM_BY_SEARCH),
    LIST_TABLE("pipeline_stages", "id", "GET /pipeline_stages, full table", 0),
    LIST_TABLE("pipelines", "id", "GET /pipelines, full table", 0),
    MODIFIED_TABLE("projects", "projects", "project", MAX_PAGE_SIZE, COPPER_CONFIRM_BY_SEARCH),
    LIST_TABLE("tags", "name", "GET /tags, full table keyed by name", 0),
    MODIFIED_TABLE("tasks", "tasks", "task", 1, 0),
    {
        .name = "users",
        .primary_key = "id",
        .method = SYNC_FULL_TABLE,
        .schema_file = "copper/users.avsc",
        .reconcile = 1,
        .description = "POST /users/search, full table",
        .next_request = users_request,
        .parse_page = users_parse,
        .confirm_request = confirm_request,
        .confirm_batch = 1,
        .spec = COPPER_SPEC(.path = "/users/search", .entity = "users"),
    },
};

#define COPPER_OPTION(type, field, def, doc) CONNECTOR_OPTION(copper_opts, type, field, def, doc)
static const connector_option copper_options[] = {
    COPPER_OPTION(OPT_ENV, api_key_env, "COPPER_API_KEY",
                  "environment variable holding the API key"),
    COPPER_OPTION(OPT_STRING, user_email, NULL,
                  "email of the user who owns the API key (use an admin)"),
    COPPER_OPTION(OPT_INT, page_size, "200", "records per search page (1-200)"),
    COPPER_OPTION(OPT_INT, reach_cap, "100000", "matches a single Copper search can reach"),
    COPPER_OPTION(OPT_DURATION, activities_full_refresh, "24h",
                  "full re-read of activities this often (and on start) to catch edits and "
                  "backdates older than the rescan window; 0 = never"),
    COPPER_OPTION(OPT_DURATION, activities_rescan_window, "7d",
                  "every pass re-reads activities dated this far back (and all future-dated "
                  "ones), so their edits and backdates show up at the next pass; 0 = the "
                  "bookmark window only"),
    COPPER_OPTION(OPT_BOOL, full_result, "false",
                  "send full_result=true on activity searches (admin keys; may return "
                  "duplicates)"),
    {0},
};
#undef COPPER_OPTION

const connector copper_connector = {
    .name = "copper",
    .description = "Copper CRM (Developer API v1)",
    .default_base_url = "https://api.copper.com/developer_api/v1",
    .default_rate = 3.0,
    .default_burst = 2,
    /* The API's own model: 180 requests per rolling minute (counted until each response). */
    .default_window_requests = 180,
    .default_window_ms = 60000,
    .default_reconcile_interval_s = 3600, /* Copper reports no deletes: list ids hourly */
    .options = copper_options,
    .options_size = sizeof(copper_opts),
    .tables = copper_tables,
    .n_tables = sizeof(copper_tables) / sizeof(copper_tables[0]),
    .source_init = copper_init,
    .source_free = copper_free,
    .check_request = copper_check,
    .rate_signal = NULL,
    .classify = copper_classify,
};
