/* testcrm.c — "testcrm", the small CRM personality the engine's own tests run against.
 *
 * Every /api/ request needs "Authorization: Bearer <token>" (param token, default "test-token");
 * otherwise 401 {"error":"invalid token"}. Only GET is allowed (405). Unknown query parameters
 * are rejected with 400 {"error":"unknown parameter: <name>"}. Unknown paths: 404.
 *
 *   GET /api/me -> {"account":"testcrm-acct"}
 *
 *   GET /api/items?updated_since=<time>&limit=N&cursor=C        (all three optional)
 *     -> {"data":[item...],"next_cursor":"..." | null}
 *     Sorted by updated_at ascending, then id ascending. updated_since is inclusive (>=) and takes
 *     anything crm_time_parse() accepts (RFC 3339 with Z or an offset; URL-encode "+" as %2B);
 *     unparseable or empty -> 400 {"error":"invalid updated_since"}. limit defaults to 50, is
 *     clamped to param max_limit (default 100); not a positive integer -> 400 {"error":"invalid
 *     limit"}. The cursor is opaque (keyset: it encodes updated_at and id of the last row served,
 *     and the next page starts strictly after that pair, still filtered by updated_since);
 *     garbage -> 400 {"error":"invalid cursor"}. next_cursor is null exactly when no row follows
 *     the page. An item updated while a client pages moves to the end of the order, so it can be
 *     served twice in one pass (before and after its change); that is expected.
 *     Item: {"id":"itm_000001","name":str,"amount":123.45,"quantity":7,"active":true,
 *            "tags":["a","b"],"owner":{"id":12,"email":"user12@example.com"}|null,
 *            "note":null|str,"created_at":"2026-01-02T03:04:05.678Z","updated_at":"...",
 *            "x_extra":{...}}          x_extra (an "unknown" field) only on some items.
 *     Timestamps are always "YYYY-MM-DDTHH:MM:SS.mmmZ". Seeded data: created/updated in the 30
 *     days before the epoch; several items share an updated_at exactly (ties broken by id) and
 *     others share its second. itm_000001's name is unicode, itm_000002's holds double quotes,
 *     itm_000003 has a backslash and a note with a newline. Ids are "itm_" + 6 digits, assigned
 *     in creation order; param deleted_items (default 3) items are created and deleted at start
 *     (so the live ids have gaps and /api/events is not empty). Param items (default 250) is the
 *     number of live items at start.
 *
 *   GET /api/users?offset=N&limit=N
 *     -> {"data":[user...],"has_more":bool}; ordered by id; offset default 0, limit default 50
 *     (clamped to max_limit). No date filter. User: {"id":1,"email":"user1@example.com",
 *     "name":str,"role":"admin"|"member"} with integer ids (param users, default 20). Deleted
 *     users just vanish (and shift later offsets, like any offset pager).
 *   GET /api/users?ids=1,2,3 -> {"data":[the live users among them, by id],"has_more":false};
 *     not combinable with offset; a malformed list -> 400 {"error":"invalid ids"}.
 *
 *   GET /api/events?since=<time>&limit=N&cursor=C
 *     -> {"data":[{"id":"ev_1","type":"item.deleted","object_id":"itm_000005","date":"..."}],
 *         "next_cursor":...}; ascending by date (then id); since inclusive (>=), bad -> 400
 *     {"error":"invalid since"}; limit/cursor as for items. Only item deletions make events.
 *
 *   429: {"error":"rate limited","retry_after":<whole seconds>} with "Retry-After: <secs>".
 *
 * Control actions (POST /_control/<action>):
 *   mutate {"table":"items","op":"update"|"touch"|"delete"|"create", ...}
 *     target: "id":"itm_000003" or "ids":[...] or neither (then "count" random live items,
 *     default 1, deterministic from the seed). update: name gets/bumps a " (rev N)" suffix, amount
 *     += 1.11, updated_at = sim now. touch: only updated_at = sim now (content unchanged).
 *     delete: removes the item and appends an item.deleted event dated sim now. create: "count"
 *     (default 1) new random items with created_at = updated_at = sim now.
 *     update and create accept "set":{field: value,...} (not id/created_at/updated_at) which
 *     replaces the default change; "x_extra":null removes x_extra.
 *   mutate {"table":"users","op":"create"|"update"|"delete", "id":7 | "ids":[..] | "count":n
 *     [, "set":{...}]}   update bumps the name's " (rev N)"; delete just removes.
 *     -> {"table":t,"op":op,"records":[affected records as they are now (deleted: as they were)]
 *         [,"events":[new events]]}; unknown id -> 404.
 *   truth {"table":"items"|"users"|"events"} (or GET /_control/truth?table=t)
 *     -> {"table":t,"count":n,"records":[...]} exactly as the API shows them; items and users
 *     sorted by id, events in feed order. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm_time.h"

#define DAY_MS 86400000LL

typedef struct item {
    char id[32];
    int64_t updated_ms;
    json_t *obj;
} item;

static struct {
    item *items; /* sorted by (updated_ms, id) */
    size_t n, cap;
    json_t *users;  /* ascending id */
    json_t *events; /* ascending date, then seq */
    long next_item, next_user, next_event;
    int64_t lo_ms, hi_ms; /* the seeded data window */
} T;

static const char *const ITEM_WORDS1[] = {"Acme",  "Globex",  "Initech",  "Hooli",
                                          "Café",  "Zürich",  "Ångström", "東京",
                                          "Naïve", "Smörgås", "Ωmega",    "Stark"};
static const char *const ITEM_WORDS2[] = {"Widget",  "Gadget", "Service Plan", "Bundle",
                                          "Licence", "Crème",  "Δelta Pack",   "Проект",
                                          "Renewal", "Upsell"};
static const char *const TAGS[] = {"a", "b", "vip", "new", "churn-risk", "ünï"};
static const char *const NOTES[] = {"Call back next week", "Said \"maybe\" twice",
                                    "multi\nline\tnote", "emoji 🎉 party", ""};
static const char *const FIRST[] = {"Ana",    "José", "Zoë", "Björn", "Chloé",
                                    "Łukasz", "Mei",  "Olu", "Priya", "Sven"};
static const char *const LAST[] = {"García",      "Núñez",    "O'Brien", "Müller",
                                   "Søndergaard", "Nakamura", "Smith",   "Dvořák"};

#define PICK(arr) (arr[sim_rand_range(0, (int64_t)(sizeof arr / sizeof arr[0]) - 1)])

/* ---- helpers ------------------------------------------------------------------------------- */

static json_t *ts_json(int64_t ms)
{
    char ts[32];
    crm_time_format(ms, ts, sizeof ts);
    return json_string(ts);
}

static json_t *amount_json(int64_t cents)
{
    return json_real((double)cents / 100.0);
}

static int64_t amount_cents(json_t *v)
{
    double d = json_number_value(v) * 100.0;
    return (int64_t)(d + (d >= 0 ? 0.5 : -0.5));
}

/* "Name" -> "Name (rev 1)" -> "Name (rev 2)". */
static json_t *bump_rev(const char *name)
{
    const char *suffix = strstr(name, " (rev ");
    int rev = 0;
    size_t base = strlen(name);
    if (suffix && sscanf(suffix, " (rev %d)", &rev) == 1)
        base = (size_t)(suffix - name);
    else
        rev = 0;
    buf b;
    buf_init(&b);
    buf_append(&b, name, base);
    buf_printf(&b, " (rev %d)", rev + 1);
    json_t *s = json_string(b.data);
    buf_free(&b);
    return s;
}

static int item_cmp(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->updated_ms != y->updated_ms)
        return x->updated_ms < y->updated_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void items_sort(void)
{
    if (T.n > 1)
        qsort(T.items, T.n, sizeof *T.items, item_cmp);
}

static item *item_find(const char *id)
{
    for (size_t i = 0; i < T.n; i++)
        if (strcmp(T.items[i].id, id) == 0)
            return &T.items[i];
    return NULL;
}

static void item_set_updated(item *it, int64_t ms)
{
    it->updated_ms = ms;
    json_object_set_new(it->obj, "updated_at", ts_json(ms));
}

static json_t *user_find(json_int_t id, size_t *index)
{
    size_t i;
    json_t *u;
    json_array_foreach(T.users, i, u)
    {
        if (json_integer_value(json_object_get(u, "id")) == id) {
            if (index)
                *index = i;
            return u;
        }
    }
    return NULL;
}

/* ---- generation ---------------------------------------------------------------------------- */

static json_t *user_new(long id)
{
    char email[64], name[128];
    snprintf(email, sizeof email, "user%ld@example.com", id);
    const char *first = PICK(FIRST);
    snprintf(name, sizeof name, "%s %s", first, PICK(LAST));
    int admin = id == 1 || sim_rand01() < 0.2;
    return json_pack("{sIssssss}", "id", (json_int_t)id, "email", email, "name", name, "role",
                     admin ? "admin" : "member");
}

/* Appends a new item with random content and the given times (not sorted yet). */
static item *item_new(int64_t created_ms, int64_t updated_ms)
{
    long seq = ++T.next_item;
    char name[160];
    if (seq == 1) {
        snprintf(name, sizeof name, "Ünïcødé Café ☕ 東京 №1");
    } else if (seq == 2) {
        snprintf(name, sizeof name, "The \"Quoted\" Widget");
    } else if (seq == 3) {
        snprintf(name, sizeof name, "Back\\slash & <angle> 'single'");
    } else {
        const char *w1 = PICK(ITEM_WORDS1);
        snprintf(name, sizeof name, "%s %s %ld", w1, PICK(ITEM_WORDS2), seq);
    }
    int64_t cents = sim_rand_range(0, 1000000);
    int64_t qty = sim_rand_range(0, 50);
    int active = sim_rand01() < 0.8;
    json_t *tags = json_array();
    int ntags = (int)sim_rand_range(0, 3);
    unsigned used = 0;
    for (int k = 0; k < ntags; k++) {
        int t = (int)sim_rand_range(0, (int64_t)(sizeof TAGS / sizeof TAGS[0]) - 1);
        if (!(used & 1u << t))
            json_array_append_new(tags, json_string(TAGS[t]));
        used |= 1u << t;
    }
    json_t *owner = json_null();
    if (json_array_size(T.users) && sim_rand01() >= 0.2) {
        json_t *u = json_array_get(
            T.users, (size_t)sim_rand_range(0, (int64_t)json_array_size(T.users) - 1));
        owner = json_pack("{sOsO}", "id", json_object_get(u, "id"), "email",
                          json_object_get(u, "email"));
    }
    json_t *note = json_null();
    if (seq == 3)
        note = json_string("line1\nline2 \\ \"q\"");
    else if (sim_rand01() < 0.5)
        note = json_string(PICK(NOTES));
    json_t *extra = NULL;
    if (sim_rand01() < 0.3) {
        if (sim_rand01() < 0.5)
            extra = json_pack("{sI}", "k", (json_int_t)sim_rand_range(0, 9));
        else
            extra = json_pack("{sis{sbs[iii]}ss}", "k", 1, "nested", "flag", 1, "list", 1, 2, 3,
                              "s", "ü");
    }

    if (T.n == T.cap) {
        T.cap = T.cap ? T.cap * 2 : 64;
        T.items = xrealloc(T.items, T.cap * sizeof *T.items);
    }
    item *it = &T.items[T.n++];
    snprintf(it->id, sizeof it->id, "itm_%06ld", seq);
    it->updated_ms = updated_ms;
    it->obj = json_object();
    json_object_set_new(it->obj, "id", json_string(it->id));
    json_object_set_new(it->obj, "name", json_string(name));
    json_object_set_new(it->obj, "amount", amount_json(cents));
    json_object_set_new(it->obj, "quantity", json_integer(qty));
    json_object_set_new(it->obj, "active", json_boolean(active));
    json_object_set_new(it->obj, "tags", tags);
    json_object_set_new(it->obj, "owner", owner);
    json_object_set_new(it->obj, "note", note);
    json_object_set_new(it->obj, "created_at", ts_json(created_ms));
    json_object_set_new(it->obj, "updated_at", ts_json(updated_ms));
    if (extra)
        json_object_set_new(it->obj, "x_extra", extra);
    return it;
}

/* Removes the item and returns its event (new reference); *record gets the item object. */
static json_t *item_delete(item *it, int64_t date_ms, json_t **record)
{
    json_t *ev = json_pack("{ssssssso}", "id", "", "type", "item.deleted", "object_id", it->id,
                           "date", ts_json(date_ms));
    long seq = ++T.next_event;
    char id[32];
    snprintf(id, sizeof id, "ev_%ld", seq);
    json_object_set_new(ev, "id", json_string(id));
    json_array_append(T.events, ev);
    *record = it->obj;
    size_t idx = (size_t)(it - T.items);
    memmove(&T.items[idx], &T.items[idx + 1], (T.n - idx - 1) * sizeof *T.items);
    T.n--;
    return ev;
}

static int ev_date_cmp(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "date"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "date"));
    return strcmp(x, y); /* same fixed-width format, so text order is time order */
}

static int testcrm_init(const sim_options *opts)
{
    long long n_items = sim_param_int("items", 250);
    long long n_deleted = sim_param_int("deleted_items", 3);
    long long n_users = sim_param_int("users", 20);
    if (n_items < 0 || n_deleted < 0 || n_users < 0 || n_items + n_deleted > 999999) {
        fprintf(stderr, "testcrm: invalid items/deleted_items/users parameter\n");
        return -1;
    }
    memset(&T, 0, sizeof T);
    T.users = json_array();
    T.events = json_array();
    for (long i = 1; i <= n_users; i++)
        json_array_append_new(T.users, user_new(i));
    T.next_user = (long)n_users;

    T.lo_ms = opts->epoch_ms - 30 * DAY_MS;
    T.hi_ms = opts->epoch_ms - 1000;
    int64_t prev = 0, third = 0;
    for (long long s = 1; s <= n_items + n_deleted; s++) {
        int64_t created = sim_rand_range(T.lo_ms, T.hi_ms);
        int64_t updated = sim_rand_range(created, T.hi_ms);
        double r = sim_rand01();
        if (s == 4 || s == 5) {
            updated = third; /* exact ties with itm_000003 */
        } else if (s == 6) {
            updated = third - third % 1000 + (third % 1000 + 500) % 1000; /* same second */
        } else if (s > 1 && r < 0.08) {
            updated = prev;
        } else if (s > 1 && r < 0.16) {
            updated = prev - prev % 1000 + sim_rand_range(0, 999);
        }
        if (created > updated)
            created = updated - sim_rand_range(0, updated - T.lo_ms > 0 ? updated - T.lo_ms : 0);
        item_new(created, updated);
        if (s == 3)
            third = updated;
        prev = updated;
    }
    /* Items deleted before the epoch: gaps in the ids and a non-empty delete feed. */
    for (long long k = 0; k < n_deleted && T.n; k++) {
        /* Keep the hand-made items (itm_000001..6, the ties) when there are others. */
        item *it = &T.items[sim_rand_range(0, (int64_t)T.n - 1)];
        for (int tries = 0; tries < 100 && T.n > 6 && strcmp(it->id, "itm_000006") <= 0; tries++)
            it = &T.items[sim_rand_range(0, (int64_t)T.n - 1)];
        json_t *rec;
        json_decref(item_delete(it, sim_rand_range(it->updated_ms, T.hi_ms), &rec));
        json_decref(rec);
    }
    /* Order the seeded events by date and number them in that order. */
    size_t ne = json_array_size(T.events);
    json_t **evs = xmalloc((ne ? ne : 1) * sizeof *evs);
    for (size_t i = 0; i < ne; i++)
        evs[i] = json_incref(json_array_get(T.events, i));
    qsort(evs, ne, sizeof *evs, ev_date_cmp);
    json_array_clear(T.events);
    for (size_t i = 0; i < ne; i++) {
        char id[32];
        snprintf(id, sizeof id, "ev_%zu", i + 1);
        json_object_set_new(evs[i], "id", json_string(id));
        json_array_append_new(T.events, evs[i]);
    }
    free(evs);
    items_sort();
    return 0;
}

static void testcrm_free(void)
{
    for (size_t i = 0; i < T.n; i++)
        json_decref(T.items[i].obj);
    free(T.items);
    json_decref(T.users);
    json_decref(T.events);
    memset(&T, 0, sizeof T);
}

/* ---- API ----------------------------------------------------------------------------------- */

struct allowed {
    const char *const *names;
    const char *bad;
};

static void check_param(const char *k, const char *v, void *u)
{
    struct allowed *a = u;
    (void)v;
    if (a->bad)
        return;
    for (const char *const *n = a->names; *n; n++)
        if (strcmp(*n, k) == 0)
            return;
    a->bad = k;
}

static int reject_unknown(const sim_request *req, sim_response *resp, const char *const *names)
{
    struct allowed a = {names, NULL};
    sim_query_each(req, check_param, &a);
    if (!a.bad)
        return 0;
    buf msg;
    buf_init(&msg);
    buf_printf(&msg, "unknown parameter: %s", a.bad);
    sim_json_error(resp, 400, msg.data);
    buf_free(&msg);
    return 1;
}

/* Parses a non-negative decimal integer; -1 when invalid. */
static long long parse_uint(const char *s)
{
    if (!s || !*s || strlen(s) > 12)
        return -1;
    long long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* limit query argument: default 50, clamped to max_limit; 0 on error (400 written). */
static long long get_limit(const sim_request *req, sim_response *resp)
{
    const char *s = sim_query(req, "limit");
    long long limit = s ? parse_uint(s) : 50;
    if (limit <= 0) {
        sim_json_error(resp, 400, "invalid limit");
        return 0;
    }
    long long max = sim_param_int("max_limit", 100);
    return limit > max && max > 0 ? max : limit;
}

/* Time filter argument: CRM_TIME_NONE when absent; returns -1 (400 written) when invalid. */
static int get_since(const sim_request *req, sim_response *resp, const char *name, int64_t *ms)
{
    *ms = CRM_TIME_NONE;
    const char *s = sim_query(req, name);
    if (!s)
        return 0;
    if (crm_time_parse(s, ms) != 0 || *ms == CRM_TIME_NONE) {
        buf msg;
        buf_init(&msg);
        buf_printf(&msg, "invalid %s", name);
        sim_json_error(resp, 400, msg.data);
        buf_free(&msg);
        return -1;
    }
    return 0;
}

static void api_items(const sim_request *req, sim_response *resp)
{
    static const char *const names[] = {"updated_since", "limit", "cursor", NULL};
    if (reject_unknown(req, resp, names))
        return;
    int64_t since;
    if (get_since(req, resp, "updated_since", &since))
        return;
    long long limit = get_limit(req, resp);
    if (!limit)
        return;
    /* start: first row with updated >= since, and (updated, id) > cursor */
    size_t lo = 0, hi = T.n;
    if (since != CRM_TIME_NONE) {
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (T.items[mid].updated_ms < since)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    size_t start = lo;
    const char *cursor = sim_query(req, "cursor");
    if (cursor) {
        char *dec = sim_b64url_decode(cursor, NULL);
        item key;
        long long ms;
        int n = -1;
        if (dec && sscanf(dec, "i1.%lld.%31s%n", &ms, key.id, &n) == 2 && n > 0 && dec[n] == '\0') {
            key.updated_ms = ms;
            lo = 0;
            hi = T.n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (item_cmp(&T.items[mid], &key) <= 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo > start)
                start = lo;
        } else {
            n = -1;
        }
        free(dec);
        if (n < 0) {
            sim_json_error(resp, 400, "invalid cursor");
            return;
        }
    }
    json_t *data = json_array();
    size_t end = start;
    for (; end < T.n && (long long)(end - start) < limit; end++)
        json_array_append(data, T.items[end].obj);
    json_t *next = json_null();
    if (end < T.n && end > start) {
        char raw[64];
        snprintf(raw, sizeof raw, "i1.%lld.%s", (long long)T.items[end - 1].updated_ms,
                 T.items[end - 1].id);
        char *c = sim_b64url_encode(raw, strlen(raw));
        next = json_string(c);
        free(c);
    }
    sim_json(resp, 200, json_pack("{soso}", "data", data, "next_cursor", next));
}

/* GET /api/users?ids=...: the live users among the ids. */
static void api_users_by_id(const char *ids, sim_response *resp)
{
    json_t *data = json_array();
    for (const char *p = ids; *p;) {
        char *end;
        long long id = strtoll(p, &end, 10);
        if (end == p || (*end && *end != ',')) {
            json_decref(data);
            sim_json_error(resp, 400, "invalid ids");
            return;
        }
        size_t i;
        json_t *u;
        json_array_foreach(T.users, i, u)
        {
            if (json_integer_value(json_object_get(u, "id")) == id)
                json_array_append(data, u);
        }
        p = *end ? end + 1 : end;
    }
    sim_json(resp, 200, json_pack("{sosb}", "data", data, "has_more", 0));
}

static void api_users(const sim_request *req, sim_response *resp)
{
    static const char *const names[] = {"offset", "limit", "ids", NULL};
    if (reject_unknown(req, resp, names))
        return;
    if (sim_query(req, "ids")) {
        api_users_by_id(sim_query(req, "ids"), resp);
        return;
    }
    const char *s = sim_query(req, "offset");
    long long offset = s ? parse_uint(s) : 0;
    if (offset < 0) {
        sim_json_error(resp, 400, "invalid offset");
        return;
    }
    long long limit = get_limit(req, resp);
    if (!limit)
        return;
    long long total = (long long)json_array_size(T.users);
    json_t *data = json_array();
    for (long long i = offset; i < total && i < offset + limit; i++)
        json_array_append(data, json_array_get(T.users, (size_t)i));
    sim_json(resp, 200, json_pack("{sosb}", "data", data, "has_more", offset + limit < total));
}

static void api_events(const sim_request *req, sim_response *resp)
{
    static const char *const names[] = {"since", "limit", "cursor", NULL};
    if (reject_unknown(req, resp, names))
        return;
    int64_t since;
    if (get_since(req, resp, "since", &since))
        return;
    long long limit = get_limit(req, resp);
    if (!limit)
        return;
    long long after = 0;
    const char *cursor = sim_query(req, "cursor");
    if (cursor) {
        char *dec = sim_b64url_decode(cursor, NULL);
        int n = -1;
        if (!dec || sscanf(dec, "e1.%lld%n", &after, &n) != 1 || n < 0 || dec[n] != '\0')
            n = -1;
        free(dec);
        if (n < 0) {
            sim_json_error(resp, 400, "invalid cursor");
            return;
        }
    }
    json_t *data = json_array();
    size_t i, total = json_array_size(T.events);
    long long last = 0;
    for (i = 0; i < total; i++) {
        json_t *ev = json_array_get(T.events, i);
        long long seq = atoll(json_string_value(json_object_get(ev, "id")) + 3);
        int64_t date;
        if (seq <= after ||
            (since != CRM_TIME_NONE &&
             (crm_time_parse(json_string_value(json_object_get(ev, "date")), &date) ||
              date < since)))
            continue;
        if ((long long)json_array_size(data) == limit)
            break;
        json_array_append(data, ev);
        last = seq;
    }
    json_t *next = json_null();
    if (i < total) {
        char raw[32];
        snprintf(raw, sizeof raw, "e1.%lld", last);
        char *c = sim_b64url_encode(raw, strlen(raw));
        next = json_string(c);
        free(c);
    }
    sim_json(resp, 200, json_pack("{soso}", "data", data, "next_cursor", next));
}

static void testcrm_handle(const sim_request *req, sim_response *resp)
{
    const char *auth = sim_header(req, "Authorization");
    const char *token = sim_param("token", "test-token");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || strcmp(auth + 7, token) != 0) {
        sim_json_error(resp, 401, "invalid token");
        return;
    }
    const char *path = sim_path(req);
    void (*fn)(const sim_request *, sim_response *) = NULL;
    if (strcmp(path, "/api/items") == 0)
        fn = api_items;
    else if (strcmp(path, "/api/users") == 0)
        fn = api_users;
    else if (strcmp(path, "/api/events") == 0)
        fn = api_events;
    else if (strcmp(path, "/api/me") != 0) {
        sim_json_error(resp, 404, "not found");
        return;
    }
    if (strcmp(sim_method(req), "GET") != 0) {
        sim_json_error(resp, 405, "method not allowed");
        return;
    }
    if (fn)
        fn(req, resp);
    else
        sim_json(resp, 200, json_pack("{ss}", "account", "testcrm-acct"));
}

static void testcrm_rate_limited(sim_response *resp, double retry_after_s)
{
    long secs = (long)retry_after_s;
    if ((double)secs < retry_after_s)
        secs++;
    if (secs < 1)
        secs = 1;
    sim_json(resp, 429,
             json_pack("{sssI}", "error", "rate limited", "retry_after", (json_int_t)secs));
    sim_set_header(resp, "Retry-After", "%ld", secs);
}

/* ---- control ------------------------------------------------------------------------------- */

static int err(json_t **result, int status, const char *msg)
{
    *result = json_pack("{ss}", "error", msg);
    return status;
}

static int id_str_cmp(const void *a, const void *b)
{
    return strcmp((*(const item *const *)a)->id, (*(const item *const *)b)->id);
}

static int control_truth(json_t *args, json_t **result)
{
    const char *table = json_string_value(json_object_get(args, "table"));
    json_t *recs = json_array();
    if (table && strcmp(table, "items") == 0) {
        item **v = xmalloc((T.n ? T.n : 1) * sizeof *v);
        for (size_t i = 0; i < T.n; i++)
            v[i] = &T.items[i];
        qsort(v, T.n, sizeof *v, id_str_cmp);
        for (size_t i = 0; i < T.n; i++)
            json_array_append_new(recs, json_deep_copy(v[i]->obj));
        free(v);
    } else if (table && (strcmp(table, "users") == 0 || strcmp(table, "events") == 0)) {
        json_decref(recs);
        recs = json_deep_copy(strcmp(table, "users") == 0 ? T.users : T.events);
    } else {
        json_decref(recs);
        return err(result, 400, "truth needs \"table\": items, users or events");
    }
    *result = json_pack("{sssIso}", "table", table, "count", (json_int_t)json_array_size(recs),
                        "records", recs);
    return 200;
}

/* Checks "set" (absent, or an object naming no read-only field); 0 or -1. */
static int set_ok(json_t *set, const char *const *readonly)
{
    const char *k;
    json_t *v;
    if (!set)
        return 0;
    if (!json_is_object(set))
        return -1;
    json_object_foreach(set, k, v)
    {
        for (const char *const *r = readonly; *r; r++)
            if (strcmp(k, *r) == 0)
                return -1;
    }
    return 0;
}

/* Applies a checked "set" to a record. */
static void apply_set(json_t *obj, json_t *set)
{
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v)
    {
        if (strcmp(k, "x_extra") == 0 && json_is_null(v))
            json_object_del(obj, k);
        else
            json_object_set(obj, k, v);
    }
}

/* Resolves the target ids of update/delete/touch: "id", "ids" or "count" random ones. The
 * returned array holds strings (items) or integers (users). */
static json_t *targets(json_t *args, int users, json_t **result, int *status)
{
    json_t *id = json_object_get(args, "id"), *ids = json_object_get(args, "ids");
    json_t *out = json_array();
    if (id) {
        json_array_append(out, id);
    } else if (ids) {
        if (!json_is_array(ids)) {
            *status = err(result, 400, "\"ids\" must be an array");
            json_decref(out);
            return NULL;
        }
        json_array_extend(out, ids);
    } else {
        json_int_t count = json_is_integer(json_object_get(args, "count"))
                               ? json_integer_value(json_object_get(args, "count"))
                               : 1;
        size_t total = users ? json_array_size(T.users) : T.n;
        size_t *idx = xmalloc((total ? total : 1) * sizeof *idx);
        for (size_t i = 0; i < total; i++)
            idx[i] = i;
        for (size_t i = 0; i < total && (json_int_t)i < count; i++) {
            size_t j = i + (size_t)sim_rand_range(0, (int64_t)(total - i) - 1);
            size_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            if (users)
                json_array_append(out, json_object_get(json_array_get(T.users, idx[i]), "id"));
            else
                json_array_append_new(out, json_string(T.items[idx[i]].id));
        }
        free(idx);
    }
    /* Users' ids may arrive as numeric strings (GET); normalise. */
    size_t i;
    json_t *v;
    json_array_foreach(out, i, v)
    {
        if (users && json_is_string(v)) {
            long long n = parse_uint(json_string_value(v));
            json_array_set_new(out, i, n >= 0 ? json_integer(n) : json_null());
            v = json_array_get(out, i);
        }
        if (users ? !json_is_integer(v) : !json_is_string(v)) {
            *status = err(result, 400, users ? "user ids are integers" : "item ids are strings");
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static int mutate_items(const char *op, json_t *args, json_t *recs, json_t *events, json_t **result)
{
    static const char *const readonly[] = {"id", "created_at", "updated_at", NULL};
    json_t *set = json_object_get(args, "set");
    if (set_ok(set, readonly))
        return err(result, 400, "\"set\" must be an object without id, created_at, updated_at");
    int64_t now = sim_now_ms();
    if (strcmp(op, "create") == 0) {
        json_t *c = json_object_get(args, "count");
        json_int_t count = json_is_integer(c) ? json_integer_value(c) : 1;
        if (count < 1 || count > 100000)
            return err(result, 400, "invalid count");
        for (json_int_t k = 0; k < count; k++) {
            item *it = item_new(now, now);
            if (set)
                apply_set(it->obj, set);
            json_array_append_new(recs, json_deep_copy(it->obj));
        }
        items_sort();
        return 200;
    }
    int update = strcmp(op, "update") == 0, touch = strcmp(op, "touch") == 0;
    int del = strcmp(op, "delete") == 0;
    if (!update && !touch && !del)
        return err(result, 400, "items ops: create, update, touch, delete");
    int status = 200;
    json_t *ids = targets(args, 0, result, &status);
    if (!ids)
        return status;
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (!item_find(json_string_value(id))) {
            json_decref(ids);
            return err(result, 404, "no such item");
        }
    }
    json_array_foreach(ids, i, id)
    {
        item *it = item_find(json_string_value(id));
        if (!it)
            continue; /* listed twice and already deleted */
        if (del) {
            json_t *rec, *ev = item_delete(it, now, &rec);
            json_array_append_new(events, json_deep_copy(ev));
            json_decref(ev);
            json_array_append_new(recs, rec);
            continue;
        }
        if (update && set) {
            apply_set(it->obj, set);
        } else if (update) {
            json_object_set_new(it->obj, "name",
                                bump_rev(json_string_value(json_object_get(it->obj, "name"))));
            json_object_set_new(
                it->obj, "amount",
                amount_json(amount_cents(json_object_get(it->obj, "amount")) + 111));
        }
        item_set_updated(it, now);
        json_array_append_new(recs, json_deep_copy(it->obj));
    }
    json_decref(ids);
    items_sort();
    return status;
}

static int mutate_users(const char *op, json_t *args, json_t *recs, json_t **result)
{
    static const char *const readonly[] = {"id", NULL};
    json_t *set = json_object_get(args, "set");
    if (set_ok(set, readonly))
        return err(result, 400, "\"set\" must be an object without id");
    if (strcmp(op, "create") == 0) {
        json_t *c = json_object_get(args, "count");
        json_int_t count = json_is_integer(c) ? json_integer_value(c) : 1;
        if (count < 1 || count > 100000)
            return err(result, 400, "invalid count");
        for (json_int_t k = 0; k < count; k++) {
            json_t *u = user_new(++T.next_user);
            json_array_append_new(T.users, u);
            if (set)
                apply_set(u, set);
            json_array_append_new(recs, json_deep_copy(u));
        }
        return 200;
    }
    int update = strcmp(op, "update") == 0, del = strcmp(op, "delete") == 0;
    if (!update && !del)
        return err(result, 400, "users ops: create, update, delete");
    int status = 200;
    json_t *ids = targets(args, 1, result, &status);
    if (!ids)
        return status;
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (!user_find(json_integer_value(id), NULL)) {
            json_decref(ids);
            return err(result, 404, "no such user");
        }
    }
    json_array_foreach(ids, i, id)
    {
        size_t idx;
        json_t *u = user_find(json_integer_value(id), &idx);
        if (!u)
            continue;
        if (del) {
            json_array_append(recs, u);
            json_array_remove(T.users, idx);
            continue;
        }
        if (set) {
            apply_set(u, set);
        } else {
            json_object_set_new(u, "name", bump_rev(json_string_value(json_object_get(u, "name"))));
        }
        json_array_append_new(recs, json_deep_copy(u));
    }
    json_decref(ids);
    return status;
}

static int control_mutate(json_t *args, json_t **result)
{
    const char *table = json_string_value(json_object_get(args, "table"));
    const char *op = json_string_value(json_object_get(args, "op"));
    if (!table || !op)
        return err(result, 400, "mutate needs \"table\" and \"op\"");
    json_t *recs = json_array(), *events = json_array();
    int status;
    if (strcmp(table, "items") == 0)
        status = mutate_items(op, args, recs, events, result);
    else if (strcmp(table, "users") == 0)
        status = mutate_users(op, args, recs, result);
    else
        status = err(result, 400, "mutate tables: items, users");
    if (status == 200) {
        *result = json_pack("{sssssO}", "table", table, "op", op, "records", recs);
        if (json_array_size(events))
            json_object_set(*result, "events", events);
    }
    json_decref(recs);
    json_decref(events);
    return status;
}

static int testcrm_control(const char *action, json_t *args, json_t **result)
{
    if (strcmp(action, "truth") == 0)
        return control_truth(args, result);
    if (strcmp(action, "mutate") == 0)
        return control_mutate(args, result);
    return 404;
}

const sim_crm sim_testcrm = {
    .name = "testcrm",
    .init = testcrm_init,
    .handle = testcrm_handle,
    .control = testcrm_control,
    .rate_limited = testcrm_rate_limited,
    .free = testcrm_free,
};
