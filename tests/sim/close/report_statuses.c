/* report_statuses.c — the simulator's lead status change report, computed from its leads and
 * their LeadStatusChange activities, so tests can check every count.
 *
 *   GET /report/statuses/lead/{org_id}/?date_start=YYYY-MM-DD&date_end=YYYY-MM-DD
 *     (inclusive UTC dates; without them: from the beginning, to now) ->
 *     {"status_overview":[per lead status: status_id, status_label, status_is_deleted, started,
 *       ended, change, change_percent, gained, lost, entered, left, _queries, _leads_page_urls],
 *      "status_transitions":[from_status_*, to_status_*, count, _query, _leads_page_url],
 *      "status_transitions_summary":[same shape]}
 *     400 field-errors for an unparseable date or date_start after date_end; 404 for another
 *     organization.
 * A lead's status at an instant is the new status of its last status change before it, else
 * (once created) its status_id. Transitions are the period's status changes plus its created
 * leads (from null to the status they were created with; a change that records no old status
 * left the lead's status before it); the summary pairs each lead's status
 * at the start (null when created in the period) with its status at the end, when they differ. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "close_sim.h"
#include "crm_time.h"

typedef struct change {
    int64_t at;
    const char *lead, *from, *to;
} change;

typedef struct period {
    int64_t start, end;
    change *ch; /* every LeadStatusChange, by time */
    size_t n;
} period;

static const char *str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int by_time(const void *a, const void *b)
{
    const change *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void load_changes(period *p)
{
    json_t *acts = close_coll_get("activities")->recs, *a;
    size_t i;
    p->ch = xcalloc(json_array_size(acts) + 1, sizeof(change));
    json_array_foreach(acts, i, a)
    {
        if (strcmp(str(a, "_type") ?: "", "LeadStatusChange") != 0 || !str(a, "lead_id"))
            continue;
        int64_t at = close_rec_ms(a, "activity_at");
        change *c = &p->ch[p->n++];
        c->at = at == CRM_TIME_NONE ? close_rec_ms(a, "date_created") : at;
        c->lead = str(a, "lead_id");
        c->from = str(a, "old_status_id");
        c->to = str(a, "new_status_id");
    }
    qsort(p->ch, p->n, sizeof(change), by_time);
}

/* The lead's status just before instant t; NULL when it did not exist yet. */
static const char *status_before(const period *p, const json_t *lead, int64_t t)
{
    if (close_rec_ms(lead, "date_created") >= t)
        return NULL;
    const char *s = str(lead, "status_id"), *id = str(lead, "id");
    for (size_t i = 0; i < p->n && p->ch[i].at < t; i++)
        if (strcmp(p->ch[i].lead, id) == 0)
            s = p->ch[i].to;
    return s;
}

/* The status a change left: its old_status_id, else (activities that do not record it) the
 * lead's status just before the change. */
static const char *change_from(const period *p, const change *c)
{
    if (c->from)
        return c->from;
    json_t *lead = close_find("leads", c->lead, NULL);
    return lead ? status_before(p, lead, c->at) : NULL;
}

static int created_in(const period *p, const json_t *lead)
{
    int64_t c = close_rec_ms(lead, "date_created");
    return c >= p->start && c < p->end;
}

static json_t *status_label(const char *id, int *deleted)
{
    json_t *st = id ? close_find("lead_statuses", id, NULL) : NULL;
    *deleted = id && !st;
    return st ? json_incref(json_object_get(st, "label")) : json_null();
}

/* {"<from>|<to>": {transition}} counting one more (from, to). */
static void count_transition(json_t *acc, const char *from, const char *to)
{
    char key[256];
    snprintf(key, sizeof key, "%s|%s", from ?: "", to ?: "");
    json_t *t = json_object_get(acc, key);
    if (!t) {
        int fd, td;
        json_t *fl = status_label(from, &fd), *tl = status_label(to, &td);
        t = json_pack("{s:o, s:o, s:o, s:s?, s:o, s:b, s:i, s:s, s:s}", "from_status_id",
                      from ? json_string(from) : json_null(), "from_status_label", fl,
                      "from_status_is_deleted", from ? json_boolean(fd) : json_null(),
                      "to_status_id", to, "to_status_label", tl, "to_status_is_deleted", td,
                      "count", 0, "_query", "lead_status_change(...)", "_leads_page_url",
                      "/search/...");
        json_object_set_new(acc, key, t);
    }
    json_object_set_new(t, "count",
                        json_integer(json_integer_value(json_object_get(t, "count")) + 1));
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The accumulated transitions, ordered by key. */
static json_t *sorted_values(json_t *acc)
{
    json_t *out = json_array();
    size_t n = json_object_size(acc), i = 0;
    const char **keys = xcalloc(n + 1, sizeof(char *));
    const char *k;
    json_t *v;
    json_object_foreach(acc, k, v) keys[i++] = k;
    qsort(keys, n, sizeof(char *), cmp_str_ptr);
    for (i = 0; i < n; i++)
        json_array_append(out, json_object_get(acc, keys[i]));
    free(keys);
    json_decref(acc);
    return out;
}

static json_t *transitions(const period *p)
{
    json_t *acc = json_object(), *lead;
    for (size_t i = 0; i < p->n; i++)
        if (p->ch[i].at >= p->start && p->ch[i].at < p->end)
            count_transition(acc, change_from(p, &p->ch[i]), p->ch[i].to);
    size_t i;
    json_array_foreach(close_coll_get("leads")->recs, i, lead) if (created_in(p, lead))
        count_transition(acc, NULL, status_before(p, lead, close_rec_ms(lead, "date_created") + 1));
    return sorted_values(acc);
}

static json_t *summary(const period *p)
{
    json_t *acc = json_object(), *lead;
    size_t i;
    json_array_foreach(close_coll_get("leads")->recs, i, lead)
    {
        const char *b = status_before(p, lead, p->end);
        const char *a = created_in(p, lead) ? NULL : status_before(p, lead, p->start);
        if (b && !same(a, b))
            count_transition(acc, a, b);
    }
    return sorted_values(acc);
}

static json_t *overview_of(const period *p, const json_t *st)
{
    const char *sid = str(st, "id");
    long started = 0, ended = 0, gained = 0, lost = 0, entered = 0, left = 0;
    size_t i;
    json_t *lead;
    json_array_foreach(close_coll_get("leads")->recs, i, lead)
    {
        int at_start = same(status_before(p, lead, p->start), sid);
        int at_end = same(status_before(p, lead, p->end), sid);
        started += at_start;
        ended += at_end;
        gained += !at_start && at_end;
        lost += at_start && !at_end;
        int in = created_in(p, lead) &&
                 same(status_before(p, lead, close_rec_ms(lead, "date_created") + 1), sid);
        int out = 0;
        for (size_t k = 0; k < p->n; k++) {
            const change *c = &p->ch[k];
            if (c->at < p->start || c->at >= p->end || strcmp(c->lead, str(lead, "id")) != 0)
                continue;
            in |= same(c->to, sid);
            out |= same(change_from(p, c), sid);
        }
        entered += in;
        left += out;
    }
    long delta = ended - started;
    return json_pack("{s:s, s:O, s:b, s:i, s:i, s:i, s:I, s:i, s:i, s:i, s:i, s:{}, s:{}}",
                     "status_id", sid, "status_label", json_object_get(st, "label"),
                     "status_is_deleted", 0, "started", (int)started, "ended", (int)ended, "change",
                     (int)delta, "change_percent",
                     (json_int_t)(started ? lround(100.0 * (double)delta / (double)started) : 0),
                     "gained", (int)gained, "lost", (int)lost, "entered", (int)entered, "left",
                     (int)left, "_queries", "_leads_page_urls");
}

/* A date parameter as midnight UTC; 0 ok (def when absent), -1 after a 400. */
static int read_date(const sim_request *req, sim_response *resp, const char *name, int64_t def,
                     int64_t *ms)
{
    const char *v = sim_query(req, name);
    *ms = def;
    if (!v)
        return 0;
    if (crm_time_parse(v, ms) || *ms == CRM_TIME_NONE) {
        sim_json(resp, 400,
                 json_pack("{s[]s{ss}}", "errors", "field-errors", name, "Enter a valid date."));
        return -1;
    }
    *ms -= ((*ms % CLOSE_DAY_MS) + CLOSE_DAY_MS) % CLOSE_DAY_MS;
    return 0;
}

void close_report_lead_statuses(const sim_request *req, sim_response *resp, const char *org)
{
    if (strcmp(org, str(CM.org, "id")) != 0) {
        sim_json_error(resp, 404, "Empty query: Organization matching query does not exist.");
        return;
    }
    period p;
    memset(&p, 0, sizeof p);
    int64_t last;
    if (read_date(req, resp, "date_start", 0, &p.start) ||
        read_date(req, resp, "date_end", sim_now_ms(), &last))
        return;
    p.end = sim_query(req, "date_end") ? last + CLOSE_DAY_MS : sim_now_ms();
    if (p.start >= p.end) {
        sim_json(resp, 400,
                 json_pack("{s[]s{ss}}", "errors", "field-errors", "date_start",
                           "date_start must not be after date_end."));
        return;
    }
    load_changes(&p);
    json_t *overview = json_array(), *st;
    size_t i;
    json_array_foreach(close_coll_get("lead_statuses")->recs, i, st)
        json_array_append_new(overview, overview_of(&p, st));
    sim_json(resp, 200,
             json_pack("{s:o, s:o, s:o}", "status_overview", overview, "status_transitions",
                       transitions(&p), "status_transitions_summary", summary(&p)));
    free(p.ch);
}
