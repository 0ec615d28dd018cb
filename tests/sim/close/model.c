/* model.c — the Close simulator's data: seeding, the API shape of every record, mutations and
 * the event log they write (created/updated/deleted/merged, lead deletion cascades, consolidation
 * of quick updates, 30-day retention).
 *
 * Records are stored as the API shows them, except that leads do not store their embedded
 * contacts/opportunities/tasks: close_render() adds them. Timestamps follow Close: six fraction
 * digits that are really milliseconds, dropped when zero, "+00:00"; event timestamps are naive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "close_sim.h"
#include "crm_time.h"

close_model CM;

#define PICK(arr) (arr[sim_rand_range(0, (int64_t)(sizeof arr / sizeof arr[0]) - 1)])

static const char *const COMPANIES[] = {"Acme",   "Globex", "Initech",  "Hooli", "Café Ünïcødé",
                                        "Zürich", "東京",   "O'Reilly", "Δelta", "Umbrella"};
static const char *const FIRST[] = {"Ana", "José", "Zoë", "Björn", "Chloé", "Mei", "Olu", "Priya"};
static const char *const LAST[] = {"García", "Núñez", "O'Brien", "Müller", "Nakamura", "Smith"};
static const char *const ACT_TYPES[] = {
    "Note", "Call", "Email", "SMS", "Meeting", "LeadStatusChange", "Created"};
static const char *const PRODUCTS[] = {"Subscription", "Hardware", "Support", "Training"};

/* ---- small helpers ---------------------------------------------------------------------- */

json_t *close_ts(int64_t ms, int naive)
{
    char base[32], out[48];
    crm_time_format_seconds(ms - (ms % 1000 + 1000) % 1000, base, sizeof base);
    base[19] = '\0'; /* drop the Z */
    int frac = (int)((ms % 1000 + 1000) % 1000);
    if (frac)
        snprintf(out, sizeof out, "%s.%03d000%s", base, frac, naive ? "" : "+00:00");
    else
        snprintf(out, sizeof out, "%s%s", base, naive ? "" : "+00:00");
    return json_string(out);
}

static json_t *date_only(int64_t ms)
{
    char base[32];
    crm_time_format_seconds(ms, base, sizeof base);
    base[10] = '\0';
    return json_string(base);
}

int64_t close_rec_ms(const json_t *rec, const char *field)
{
    int64_t ms;
    const char *s = json_string_value(json_object_get(rec, field));
    if (!s || crm_time_parse(s, &ms))
        return CRM_TIME_NONE;
    return ms;
}

static void new_id(const char *prefix, char *out, size_t outlen)
{
    static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t n = (size_t)snprintf(out, outlen, "%s", prefix);
    for (int i = 0; i < 22 && n + 1 < outlen; i++)
        out[n++] = B62[sim_rand() % 62];
    out[n] = '\0';
}

/* A random instant in [lo, hi]; one in ten falls on a whole second (fraction dropped). */
static int64_t rand_ms(int64_t lo, int64_t hi)
{
    int64_t ms = sim_rand_range(lo, hi);
    if (sim_rand01() < 0.1)
        ms -= ms % 1000;
    return ms < lo ? lo : ms;
}

static int64_t now_ms(void)
{
    return sim_now_ms();
}

close_coll *close_coll_get(const char *table)
{
    for (size_t i = 0; i < CM.n_colls; i++)
        if (strcmp(CM.colls[i].table, table) == 0)
            return &CM.colls[i];
    return NULL;
}

close_coll *close_coll_by_path(const char *path)
{
    for (size_t i = 0; i < CM.n_colls; i++)
        if (CM.colls[i].path && strcmp(CM.colls[i].path, path) == 0)
            return &CM.colls[i];
    return NULL;
}

json_t *close_find(const char *table, const char *id, size_t *index)
{
    close_coll *c = close_coll_get(table);
    size_t i;
    json_t *r;
    if (!c || !id)
        return NULL;
    json_array_foreach(c->recs, i, r)
    {
        const char *rid = json_string_value(json_object_get(r, "id"));
        if (rid && strcmp(rid, id) == 0) {
            if (index)
                *index = i;
            return r;
        }
    }
    return NULL;
}

static json_t *random_rec(const char *table)
{
    close_coll *c = close_coll_get(table);
    size_t n = c ? json_array_size(c->recs) : 0;
    return n ? json_array_get(c->recs, (size_t)sim_rand_range(0, (int64_t)n - 1)) : NULL;
}

static const char *str(const json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

static void set_creator(json_t *rec, const json_t *user, int created)
{
    const char *uid = str(user, "id");
    char name[128];
    snprintf(name, sizeof name, "%s %s", str(user, "first_name") ?: "",
             str(user, "last_name") ?: "");
    if (created) {
        json_object_set_new(rec, "created_by", uid ? json_string(uid) : json_null());
        json_object_set_new(rec, "created_by_name", json_string(name));
    }
    json_object_set_new(rec, "updated_by", uid ? json_string(uid) : json_null());
    json_object_set_new(rec, "updated_by_name", json_string(name));
}

/* id, organization_id, timestamps and creators: what every Close object carries. */
static json_t *base_rec(const char *prefix, int64_t created, int64_t updated)
{
    char id[64];
    new_id(prefix, id, sizeof id);
    json_t *r = json_object();
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "organization_id", json_incref(json_object_get(CM.org, "id")));
    json_object_set_new(r, "date_created", close_ts(created, 0));
    json_object_set_new(r, "date_updated", close_ts(updated, 0));
    json_t *u = random_rec("users");
    if (u)
        set_creator(r, u, 1);
    return r;
}

static void touch(json_t *rec, int64_t ms)
{
    json_object_set_new(rec, "date_updated", close_ts(ms, 0));
}

static json_t *coll_add(const char *table, json_t *rec)
{
    close_coll *c = close_coll_get(table);
    json_array_append_new(c->recs, rec);
    c->gen++;
    return rec;
}

void close_changed(void)
{
    for (size_t i = 0; i < CM.n_colls; i++)
        CM.colls[i].gen++;
}

/* lead id -> the collection's records of that lead in stored order, rebuilt after a change
 * (seeding and serving 1 M records would otherwise scan the collection once per lead). */
static json_t *by_lead(close_coll *c)
{
    if (c->by_lead && c->by_lead_gen == c->gen)
        return c->by_lead;
    json_decref(c->by_lead);
    c->by_lead = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(c->recs, i, r)
    {
        const char *lead = str(r, "lead_id") ?: "";
        json_t *list = json_object_get(c->by_lead, lead);
        if (!list) {
            list = json_array();
            json_object_set_new(c->by_lead, lead, list);
        }
        json_array_append(list, r);
    }
    c->by_lead_gen = c->gen;
    return c->by_lead;
}

/* ---- the event log ---------------------------------------------------------------------- */

static int events_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int64_t mx = close_rec_ms(x, "date_updated"), my = close_rec_ms(y, "date_updated");
    if (mx != my)
        return mx > my ? -1 : 1;
    return -strcmp(str(x, "id"), str(y, "id"));
}

json_t *close_events_visible(void)
{
    int64_t cutoff = now_ms() - 30 * CLOSE_DAY_MS;
    size_t n = json_array_size(CM.events), k = 0, i;
    json_t **v = xmalloc((n ? n : 1) * sizeof *v), *ev;
    json_array_foreach(CM.events, i, ev)
    {
        if (close_rec_ms(ev, "date_updated") >= cutoff)
            v[k++] = ev;
    }
    qsort(v, k, sizeof *v, events_cmp);
    json_t *out = json_array();
    for (i = 0; i < k; i++)
        json_array_append(out, v[i]);
    free(v);
    return out;
}

static const char *object_type_of(const char *table, const json_t *rec, char *out, size_t len)
{
    if (strcmp(table, "leads") == 0)
        return "lead";
    if (strcmp(table, "contacts") == 0)
        return "contact";
    if (strcmp(table, "opportunities") == 0)
        return "opportunity";
    if (strcmp(table, "tasks") == 0) {
        snprintf(out, len, "task.%s", str(rec, "_type") ?: "lead");
        return out;
    }
    if (strcmp(table, "activities") == 0) {
        const char *t = str(rec, "_type") ?: "Note";
        size_t n = (size_t)snprintf(out, len, "activity.");
        for (const char *p = t; *p && n + 2 < len;
             p++) { /* LeadStatusChange -> lead_status_change */
            if (*p >= 'A' && *p <= 'Z') {
                if (p != t)
                    out[n++] = '_';
                out[n++] = (char)(*p - 'A' + 'a');
            } else {
                out[n++] = *p;
            }
        }
        out[n] = '\0';
        return out;
    }
    return table;
}

static json_t *find_recent_update(const char *object_id, int64_t since)
{
    for (size_t i = json_array_size(CM.events); i-- > 0;) {
        json_t *ev = json_array_get(CM.events, i);
        if (close_rec_ms(ev, "date_updated") < since)
            return NULL;
        if (strcmp(str(ev, "object_id") ?: "", object_id) == 0 &&
            strcmp(str(ev, "action") ?: "", "updated") == 0)
            return ev;
    }
    return NULL;
}

/* Merges changed field names into an event's changed_fields. */
static void add_changed(json_t *ev, json_t *changed)
{
    json_t *cf = json_object_get(ev, "changed_fields");
    size_t i, j;
    json_t *c, *e;
    json_array_foreach(changed, i, c)
    {
        int have = 0;
        json_array_foreach(cf, j, e) have |= json_equal(c, e);
        if (!have)
            json_array_append(cf, c);
    }
}

/* Writes an event for rec of table; data = rendered record (null for deletes). Quick repeated
 * updates of the same object are consolidated into one event (param consolidate_ms). */
static json_t *log_event(const char *table, const json_t *rec, const char *action, json_t *changed,
                         json_t *previous, json_t *meta, int64_t at)
{
    char tbuf[64], id[64];
    const char *otype = object_type_of(table, rec, tbuf, sizeof tbuf);
    const char *oid = str(rec, "id");
    long long window = sim_param_int("consolidate_ms", 1000);
    json_t *data = strcmp(action, "deleted") == 0 ? json_null() : close_render(table, rec);
    if (!changed)
        changed = json_array();
    if (!previous)
        previous = json_object();
    if (strcmp(action, "updated") == 0 && window > 0) {
        json_t *ev = find_recent_update(oid, at - window);
        if (ev) {
            add_changed(ev, changed);
            json_object_set_new(ev, "data", data);
            json_object_set_new(ev, "date_updated", close_ts(at, 1));
            json_incref(ev);
            size_t i;
            json_t *e;
            json_array_foreach(CM.events, i, e) if (e == ev)
            {
                json_array_remove(CM.events, i);
                break;
            }
            json_array_append_new(CM.events, ev);
            json_decref(changed);
            json_decref(previous);
            json_decref(meta);
            return ev;
        }
    }
    new_id("ev_", id, sizeof id);
    const char *lead_id = strcmp(table, "leads") == 0 ? oid : str(rec, "lead_id");
    char req_id[64];
    new_id("req_", req_id, sizeof req_id);
    json_t *ev = json_object();
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "date_created", close_ts(at, 1));
    json_object_set_new(ev, "date_updated", close_ts(at, 1));
    json_object_set_new(ev, "organization_id", json_incref(json_object_get(CM.org, "id")));
    json_object_set_new(ev, "user_id", json_incref(json_object_get(rec, "updated_by")));
    json_object_set_new(ev, "request_id", json_string(req_id));
    json_object_set_new(ev, "api_key_id", json_null());
    json_object_set_new(ev, "object_type", json_string(otype));
    json_object_set_new(ev, "object_id", json_string(oid));
    json_object_set_new(ev, "lead_id", lead_id ? json_string(lead_id) : json_null());
    json_object_set_new(ev, "action", json_string(action));
    json_object_set_new(ev, "changed_fields", changed);
    json_object_set_new(ev, "data", data);
    json_object_set_new(ev, "previous_data", previous);
    json_object_set_new(
        ev, "meta",
        meta ? meta : json_pack("{ssss}", "request_method", "POST", "request_path", "/api/v1/"));
    json_array_append_new(CM.events, ev);
    return ev;
}

/* ---- rendering -------------------------------------------------------------------------- */

static json_t *children_of(const char *table, const char *lead_id, int open_tasks_only)
{
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(by_lead(close_coll_get(table)), lead_id), i, r)
    {
        if (open_tasks_only && json_is_true(json_object_get(r, "is_complete")))
            continue;
        json_array_append_new(out, json_deep_copy(r));
    }
    return out;
}

json_t *close_render(const char *table, const json_t *rec)
{
    json_t *out = json_deep_copy(rec);
    if (strcmp(table, "leads") == 0) {
        const char *id = str(rec, "id");
        json_object_set_new(out, "contacts", children_of("contacts", id, 0));
        json_object_set_new(out, "opportunities", children_of("opportunities", id, 0));
        json_object_set_new(out, "tasks", children_of("tasks", id, 1));
    }
    return out;
}

json_t *close_org_render(void)
{
    json_t *org = json_deep_copy(CM.org);
    json_object_set_new(org, "lead_statuses",
                        json_deep_copy(close_coll_get("lead_statuses")->recs));
    json_object_set_new(org, "opportunity_statuses",
                        json_deep_copy(close_coll_get("opportunity_statuses")->recs));
    json_t *active = json_array(), *inactive = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(CM.memberships, i, m)
    {
        json_array_append_new(json_is_true(json_object_get(m, "_inactive")) ? inactive : active,
                              json_deep_copy(m));
    }
    json_array_foreach(active, i, m) json_object_del(m, "_inactive");
    json_array_foreach(inactive, i, m) json_object_del(m, "_inactive");
    json_object_set_new(org, "memberships", active);
    json_object_set_new(org, "inactive_memberships", inactive);
    return org;
}

/* ---- record generators ------------------------------------------------------------------ */

static json_t *make_user(int64_t created, int64_t updated)
{
    json_t *u = base_rec("user_", created, updated);
    const char *first = PICK(FIRST), *last = PICK(LAST);
    char email[128];
    snprintf(email, sizeof email, "%s.%s@example.com", str(u, "id") + 5, "close");
    json_object_set_new(u, "first_name", json_string(first));
    json_object_set_new(u, "last_name", json_string(last));
    json_object_set_new(u, "email", json_string(email));
    json_object_set_new(u, "image", json_string("https://example.com/avatar.png"));
    json_object_set_new(u, "organizations", json_pack("[O]", json_object_get(CM.org, "id")));
    json_object_set_new(u, "last_used_timezone", json_string("Europe/Zurich"));
    json_object_set_new(u, "email_verified_at", close_ts(created, 0));
    json_object_del(u, "organization_id");
    return u;
}

static json_t *cf_ids(const char *table)
{
    return close_coll_get(table)->recs;
}

/* Whether a shared field definition applies to object (lead, contact, opportunity, activity). */
static int shared_field_applies(const json_t *def, const char *object)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(def, "associations"), i, a)
    {
        if (strcmp(str(a, "object_type") ?: "", object) == 0)
            return 1;
    }
    return 0;
}

/* One custom value of definition def: custom.<cf> and the legacy name-keyed dict. */
static void set_custom_value(json_t *rec, json_t *dict, const json_t *def, int64_t ms)
{
    const char *type = str(def, "type");
    json_t *v;
    if (strcmp(type, "number") == 0)
        v = json_integer(sim_rand_range(1, 5000));
    else if (strcmp(type, "date") == 0)
        v = date_only(ms);
    else if (json_is_true(json_object_get(def, "accepts_multiple_values")))
        v = json_pack("[ss]", PICK(PRODUCTS), PICK(PRODUCTS));
    else if (strcmp(type, "choices") == 0)
        v = json_string(PICK(PRODUCTS));
    else
        v = json_string(PICK(COMPANIES));
    char key[96];
    snprintf(key, sizeof key, "custom.%s", str(def, "id"));
    json_object_set(rec, key, v);
    if (dict)
        json_object_set(dict, str(def, "name"), v);
    json_decref(v);
}

/* Sets custom.<cf> keys (only for fields that get a value) of the object's own definitions and
 * of the shared ones associated with it, and the legacy name-keyed dict. */
static void set_custom(json_t *rec, const char *cf_table, const char *object, int64_t ms)
{
    json_t *dict = json_object();
    size_t i;
    json_t *def;
    json_array_foreach(cf_ids(cf_table), i, def)
    {
        if (sim_rand01() < 0.3)
            continue; /* unset: the key is absent */
        set_custom_value(rec, dict, def, ms);
    }
    json_array_foreach(cf_ids("shared_custom_fields"), i, def)
    {
        if (!shared_field_applies(def, object) || sim_rand01() < 0.3)
            continue;
        set_custom_value(rec, dict, def, ms);
    }
    json_object_set_new(rec, "custom", dict);
}

static json_t *make_lead(int64_t created, int64_t updated)
{
    json_t *l = base_rec("lead_", created, updated);
    char name[128], html[160];
    snprintf(name, sizeof name, "%s %s", PICK(COMPANIES), str(l, "id") + 19);
    snprintf(html, sizeof html, "https://app.close.com/lead/%s/", str(l, "id"));
    json_t *st = random_rec("lead_statuses");
    json_object_set_new(l, "name", json_string(name));
    json_object_set_new(l, "display_name", json_string(name));
    json_object_set_new(l, "description",
                        sim_rand01() < 0.5 ? json_string("Met at \"Expo\"\nfollow up")
                                           : json_string(""));
    json_object_set_new(l, "url",
                        sim_rand01() < 0.5 ? json_null() : json_string("https://example.com"));
    json_object_set_new(l, "html_url", json_string(html));
    json_object_set_new(l, "status_id", json_incref(json_object_get(st, "id")));
    json_object_set_new(l, "status_label", json_incref(json_object_get(st, "label")));
    json_object_set_new(l, "addresses",
                        sim_rand01() < 0.5
                            ? json_array()
                            : json_pack("[{ssssssssssss}]", "label", "business", "address_1",
                                        "1 Main St", "address_2", "", "city", "Zürich", "state",
                                        "ZH", "country", "CH"));
    json_object_set_new(l, "integration_links", json_array());
    set_custom(l, "custom_fields", "lead", created);
    return l;
}

static json_t *make_contact(const json_t *lead, int64_t created, int64_t updated)
{
    json_t *c = base_rec("cont_", created, updated);
    char name[128], email[128];
    snprintf(name, sizeof name, "%s %s", PICK(FIRST), PICK(LAST));
    snprintf(email, sizeof email, "%s@example.com", str(c, "id") + 5);
    json_object_set_new(c, "lead_id", json_incref(json_object_get(lead, "id")));
    json_object_set_new(c, "name", json_string(name));
    json_object_set_new(c, "display_name", json_string(name));
    json_object_set_new(c, "title", json_string(sim_rand01() < 0.5 ? "CEO" : "Head of Ops"));
    json_object_set_new(
        c, "emails",
        json_pack("[{sssssb}]", "type", "office", "email", email, "is_unsubscribed", 0));
    json_object_set_new(c, "phones",
                        json_pack("[{ssssssss}]", "type", "office", "phone", "+41441234567",
                                  "phone_formatted", "+41 44 123 45 67", "country", "CH"));
    json_object_set_new(c, "urls", json_array());
    json_object_set_new(c, "integration_links", json_array());
    set_custom(c, "contact_custom_fields", "contact", created);
    json_object_del(c, "custom");
    return c;
}

static void set_opp_value(json_t *o, json_int_t cents)
{
    char f[64];
    snprintf(f, sizeof f, "$%lld", (long long)(cents / 100));
    json_int_t conf = json_integer_value(json_object_get(o, "confidence"));
    json_object_set_new(o, "value", json_integer(cents));
    json_object_set_new(o, "value_formatted", json_string(f));
    json_object_set_new(o, "expected_value", json_integer(cents * conf / 100));
    json_object_set_new(o, "annualized_value", json_integer(cents));
    json_object_set_new(o, "annualized_expected_value", json_integer(cents * conf / 100));
}

static json_t *make_opportunity(const json_t *lead, int64_t created, int64_t updated)
{
    json_t *o = base_rec("oppo_", created, updated);
    json_t *st = random_rec("opportunity_statuses");
    json_t *pipe = json_array_get(close_coll_get("pipelines")->recs, 0);
    json_t *u = random_rec("users");
    const char *type = str(st, "type");
    json_object_set_new(o, "lead_id", json_incref(json_object_get(lead, "id")));
    json_object_set_new(o, "lead_name", json_incref(json_object_get(lead, "display_name")));
    json_object_set_new(o, "contact_id", json_null());
    json_object_set_new(o, "contact_name", json_null());
    json_object_set_new(o, "user_id", json_incref(json_object_get(u, "id")));
    json_object_set_new(o, "user_name", json_incref(json_object_get(u, "first_name")));
    json_object_set_new(o, "status_id", json_incref(json_object_get(st, "id")));
    json_object_set_new(o, "status_label", json_incref(json_object_get(st, "label")));
    json_object_set_new(o, "status_display_name", json_incref(json_object_get(st, "label")));
    json_object_set_new(o, "status_type", json_string(type));
    json_object_set_new(o, "pipeline_id", json_incref(json_object_get(pipe, "id")));
    json_object_set_new(o, "pipeline_name", json_incref(json_object_get(pipe, "name")));
    json_object_set_new(o, "value_period",
                        json_string(sim_rand01() < 0.5 ? "one_time" : "monthly"));
    json_object_set_new(o, "value_currency", json_string("USD"));
    json_object_set_new(o, "confidence", json_integer(sim_rand_range(0, 100)));
    set_opp_value(o, sim_rand_range(1, 100000) * 100);
    json_object_set_new(o, "date_won", strcmp(type, "won") == 0 ? date_only(updated) : json_null());
    json_object_set_new(o, "date_lost",
                        strcmp(type, "lost") == 0 ? close_ts(updated, 0) : json_null());
    json_object_set_new(o, "note", json_string(""));
    json_object_set_new(o, "attachments", json_array());
    json_object_set_new(o, "integration_links", json_array());
    json_object_set_new(o, "is_stalled", json_false());
    set_custom(o, "opportunity_custom_fields", "opportunity", created);
    json_object_del(o, "custom");
    return o;
}

static json_t *make_task(const json_t *lead, int64_t created, int64_t updated)
{
    json_t *t = base_rec("task_", created, updated);
    json_t *u = random_rec("users");
    json_object_set_new(t, "_type", json_string("lead"));
    json_object_set_new(t, "lead_id", json_incref(json_object_get(lead, "id")));
    json_object_set_new(t, "lead_name", json_incref(json_object_get(lead, "display_name")));
    json_object_set_new(t, "contact_id", json_null());
    json_object_set_new(t, "contact_name", json_null());
    json_object_set_new(t, "assigned_to", json_incref(json_object_get(u, "id")));
    json_object_set_new(t, "assigned_to_name", json_incref(json_object_get(u, "first_name")));
    json_object_set_new(t, "text", json_string("Follow up"));
    json_object_set_new(t, "date", date_only(updated + 7 * CLOSE_DAY_MS));
    json_object_set_new(t, "due_date", date_only(updated + 7 * CLOSE_DAY_MS));
    json_object_set_new(t, "is_complete", json_boolean(sim_rand01() < 0.3));
    json_object_set_new(t, "is_dateless", json_false());
    json_object_set_new(t, "view", json_string("inbox"));
    json_object_set_new(t, "object_type", json_null());
    json_object_set_new(t, "object_id", json_null());
    return t;
}

static json_t *make_activity(const json_t *lead, const char *type, int64_t created, int64_t updated)
{
    json_t *a = base_rec("acti_", created, updated);
    json_t *u = random_rec("users");
    json_t *contact =
        json_array_get(json_object_get(by_lead(close_coll_get("contacts")), str(lead, "id")), 0);
    json_object_set_new(a, "_type", json_string(type));
    json_object_set_new(a, "lead_id", json_incref(json_object_get(lead, "id")));
    json_object_set_new(a, "contact_id",
                        contact ? json_incref(json_object_get(contact, "id")) : json_null());
    json_object_set_new(a, "user_id", json_incref(json_object_get(u, "id")));
    json_object_set_new(a, "user_name", json_incref(json_object_get(u, "first_name")));
    json_object_set_new(a, "users", json_array());
    json_object_set_new(a, "activity_at", close_ts(created, 0));
    json_object_set_new(a, "source", json_string("api"));
    if (strcmp(type, "Note") == 0) {
        json_object_set_new(a, "note", json_string("Called, left a \"message\" 📞"));
        json_object_set_new(a, "note_html", json_string("<p>Called</p>"));
        json_object_set_new(a, "title", json_string("Note"));
        json_object_set_new(a, "pinned", json_false());
    } else if (strcmp(type, "Call") == 0) {
        json_object_set_new(a, "direction", json_string("outbound"));
        json_object_set_new(a, "status", json_string("completed"));
        json_object_set_new(a, "duration", json_integer(sim_rand_range(0, 3600)));
        json_object_set_new(a, "phone", json_string("+41441234567"));
        json_object_set_new(a, "note", json_string(""));
        json_object_set_new(a, "disposition", json_string("answered"));
    } else if (strcmp(type, "Email") == 0) {
        json_object_set_new(a, "direction", json_string("outgoing"));
        json_object_set_new(a, "status", json_string("sent"));
        json_object_set_new(a, "subject", json_string("Proposal – Ünïcødé"));
        json_object_set_new(a, "sender", json_string("sales@example.com"));
        json_object_set_new(a, "to", json_pack("[s]", "buyer@example.com"));
        json_object_set_new(a, "cc", json_array());
        json_object_set_new(a, "body_text", json_string("Hi,\nplease find attached."));
        json_object_set_new(a, "date_sent", close_ts(created, 0));
        json_object_set_new(a, "opens", json_array());
    } else if (strcmp(type, "SMS") == 0) {
        json_object_set_new(a, "text", json_string("See you soon"));
        json_object_set_new(a, "direction", json_string("outbound"));
        json_object_set_new(a, "status", json_string("sent"));
        json_object_set_new(a, "local_phone", json_string("+41440000000"));
        json_object_set_new(a, "remote_phone", json_string("+41441234567"));
    } else if (strcmp(type, "Meeting") == 0) {
        json_object_set_new(a, "title", json_string("Demo"));
        json_object_set_new(a, "starts_at", close_ts(created, 0));
        json_object_set_new(a, "ends_at", close_ts(created + 1800000, 0));
        json_object_set_new(a, "duration", json_integer(1800));
        json_object_set_new(a, "attendees", json_array());
        json_object_set_new(a, "location", json_null());
        json_object_set_new(a, "status", json_string("completed"));
    } else if (strcmp(type, "LeadStatusChange") == 0) {
        json_t *st = random_rec("lead_statuses");
        json_object_set_new(a, "old_status_id", json_null());
        json_object_set_new(a, "old_status_label", json_null());
        json_object_set_new(a, "new_status_id", json_incref(json_object_get(st, "id")));
        json_object_set_new(a, "new_status_label", json_incref(json_object_get(st, "label")));
    }
    if (strcmp(type, "Note") == 0 || strcmp(type, "Call") == 0) {
        json_t *def = json_array_get(cf_ids("activity_custom_fields"), 0);
        char key[96];
        snprintf(key, sizeof key, "custom.%s", str(def, "id"));
        if (def && sim_rand01() < 0.5)
            json_object_set_new(a, key, json_string("inbound-lead"));
    }
    /* Shared fields associated with activities (the activity has no legacy dict). */
    size_t k;
    json_t *sdef;
    json_array_foreach(cf_ids("shared_custom_fields"), k, sdef)
    {
        if (shared_field_applies(sdef, "activity") && sim_rand01() < 0.5)
            set_custom_value(a, NULL, sdef, created);
    }
    return a;
}

/* Reference records: a name plus the common fields, and a few kind-specific keys. */
static json_t *make_ref(const char *table, const char *prefix, int n, int64_t created,
                        int64_t updated)
{
    json_t *r = base_rec(prefix, created, updated);
    char name[96];
    snprintf(name, sizeof name, "%s %d", table, n);
    json_object_set_new(r, "name", json_string(name));
    if (strstr(table, "bulk_actions"))
        json_object_set_new(r, "status", json_string("finished"));
    if (strcmp(table, "connected_accounts") == 0)
        json_object_set_new(r, "_type", json_string(n % 2 ? "google" : "zoom"));
    if (strcmp(table, "email_templates") == 0) {
        json_object_set_new(r, "subject", json_string("Hello {{ contact.first_name }}"));
        json_object_set_new(r, "is_shared", json_true());
        json_object_set_new(r, "is_archived", json_false());
    }
    if (strcmp(table, "smart_views") == 0) { /* lead and contact views, in turn */
        json_object_set_new(r, "type", json_string(n % 2 ? "lead" : "contact"));
        json_object_set_new(r, "query", json_string(n % 2 ? "has:emails" : "object_type:contact"));
        json_object_set_new(r, "is_shared", json_boolean(n % 3 != 0));
    }
    return r;
}

static json_t *make_cf(const char *name, const char *type, int multi, int64_t created)
{
    json_t *d = base_rec("cf_", created, created);
    json_object_set_new(d, "name", json_string(name));
    json_object_set_new(d, "type", json_string(type));
    json_object_set_new(d, "description", json_string(""));
    json_object_set_new(d, "choices",
                        strcmp(type, "choices") == 0 ? json_pack("[ssss]", PRODUCTS[0], PRODUCTS[1],
                                                                 PRODUCTS[2], PRODUCTS[3])
                                                     : json_array());
    json_object_set_new(d, "accepts_multiple_values", json_boolean(multi));
    json_object_set_new(d, "is_shared", json_false());
    json_object_set_new(d, "editable_with_roles", json_array());
    return d;
}

static json_t *make_status(const char *label, const char *type, int64_t created)
{
    char id[64];
    new_id("stat_", id, sizeof id);
    json_t *s = json_pack("{sssssO}", "id", id, "label", label, "organization_id",
                          json_object_get(CM.org, "id"));
    if (type) {
        json_object_set_new(s, "type", json_string(type));
        json_object_set_new(s, "pipeline_id", json_null());
    }
    (void)created;
    return s;
}

/* ---- seeding ---------------------------------------------------------------------------- */

static const struct {
    const char *table, *path, *prefix;
    int max_limit, count;
} COLLS[] = {
    {"users", "/user/", "user_", 1000, 8},
    {"lead_statuses", "/status/lead/", "stat_", 100, 0},
    {"opportunity_statuses", "/status/opportunity/", "stat_", 100, 0},
    {"pipelines", "/pipeline/", "pipe_", 100, 0},
    {"custom_fields", "/custom_field/lead/", "cf_", 1000, 0},
    {"contact_custom_fields", "/custom_field/contact/", "cf_", 1000, 0},
    {"opportunity_custom_fields", "/custom_field/opportunity/", "cf_", 1000, 0},
    {"activity_custom_fields", "/custom_field/activity/", "cf_", 1000, 0},
    {"shared_custom_fields", "/custom_field/shared/", "cf_", 1000, 0},
    {"leads", "/lead/", "lead_", 200, 0},
    {"contacts", "/contact/", "cont_", 100, 0},
    {"opportunities", "/opportunity/", "oppo_", 250, 0},
    {"tasks", "/task/", "task_", 1000, 0},
    {"activities", "/activity/", "acti_", 100, 0},
    {"custom_activity_types", "/custom_activity/", "actitype_", 100, 2},
    {"email_templates", "/email_template/", "tmpl_", 100, 3},
    {"sequences", "/sequence/", "seq_", 1000, 2},
    {"smart_views", "/saved_search/", "save_", 600, 4},
    {"bulk_actions_email", "/bulk_action/email/", "bulkemail_", 100, 1},
    {"bulk_actions_sequence_subscription", "/bulk_action/sequence_subscription/", "bulkseq_", 100,
     1},
    {"bulk_actions_delete", "/bulk_action/delete/", "bulkdel_", 100, 1},
    {"bulk_actions_edit", "/bulk_action/edit/", "bulkedit_", 100, 1},
    {"roles", "/role/", "role_", 100, 3},
    {"connected_accounts", "/connected_account/", "emailacct_", 100, 2},
    {"send_as", "/send_as/", "sendas_", 100, 1},
    {"dialers", "/dialer/", "dialer_", 100, 1},
    {"integration_links", "/integration_link/", "intlink_", 100, 2},
    {"exports", "/export/", "expo_", 100, 2},
};

static void seed_reference(int64_t lo, int64_t hi)
{
    json_t *pipe = base_rec("pipe_", lo, lo);
    json_object_set_new(pipe, "name", json_string("Sales"));
    json_t *statuses = json_array();
    static const char *const LS[] = {"Potential", "Bad Fit", "Qualified", "Customer"};
    for (size_t i = 0; i < 4; i++)
        coll_add("lead_statuses", make_status(LS[i], NULL, lo));
    static const char *const OS[][2] = {{"Active", "active"}, {"Won", "won"}, {"Lost", "lost"}};
    for (size_t i = 0; i < 3; i++) {
        json_t *s = coll_add("opportunity_statuses", make_status(OS[i][0], OS[i][1], lo));
        json_object_set(s, "pipeline_id", json_object_get(pipe, "id"));
        json_array_append_new(statuses, json_pack("{sOsOsO}", "id", json_object_get(s, "id"),
                                                  "label", json_object_get(s, "label"), "type",
                                                  json_object_get(s, "type")));
    }
    json_object_set_new(pipe, "statuses", statuses);
    coll_add("pipelines", pipe);
    coll_add("custom_fields", make_cf("Industry", "text", 0, lo));
    coll_add("custom_fields", make_cf("Company Size", "number", 0, lo));
    coll_add("custom_fields", make_cf("Products", "choices", 1, lo));
    coll_add("custom_fields", make_cf("Renewal Date", "date", 0, lo));
    coll_add("contact_custom_fields", make_cf("Nickname", "text", 0, lo));
    coll_add("opportunity_custom_fields", make_cf("Seats", "number", 0, lo));
    coll_add("activity_custom_fields", make_cf("Campaign", "text", 0, lo));
    json_t *shared = make_cf("Region", "choices", 0, lo);
    json_object_set_new(shared, "is_shared", json_true());
    json_object_set_new(shared, "associations",
                        json_pack("[{s:s, s:[], s:b}]", "object_type", "lead",
                                  "editable_with_roles", "required", 0));
    coll_add("shared_custom_fields", shared);
    /* A shared field associated with contacts, opportunities and activities (not leads). */
    shared = make_cf("Channel", "text", 0, lo);
    json_object_set_new(shared, "is_shared", json_true());
    json_object_set_new(shared, "associations",
                        json_pack("[{s:s, s:[], s:b}, {s:s, s:[], s:b}, {s:s, s:[], s:b}]",
                                  "object_type", "contact", "editable_with_roles", "required", 0,
                                  "object_type", "opportunity", "editable_with_roles", "required",
                                  0, "object_type", "activity", "editable_with_roles", "required",
                                  0));
    coll_add("shared_custom_fields", shared);
    for (size_t i = 0; i < sizeof COLLS / sizeof COLLS[0]; i++) {
        if (strcmp(COLLS[i].table, "users") == 0)
            continue;
        for (int n = 1; n <= COLLS[i].count; n++) {
            int64_t c = rand_ms(lo, hi);
            coll_add(COLLS[i].table,
                     make_ref(COLLS[i].table, COLLS[i].prefix, n, c, rand_ms(c, hi)));
        }
    }
    json_t *roles = close_coll_get("roles")->recs;
    size_t i;
    json_t *u;
    json_array_foreach(close_coll_get("users")->recs, i, u)
    {
        char id[64];
        new_id("mem_", id, sizeof id);
        json_array_append_new(
            CM.memberships,
            json_pack("{sssOsOsOsOsOsOsOsb}", "id", id, "user_id", json_object_get(u, "id"),
                      "user_email", json_object_get(u, "email"), "user_first_name",
                      json_object_get(u, "first_name"), "user_last_name",
                      json_object_get(u, "last_name"), "role_id",
                      json_object_get(json_array_get(roles, i % json_array_size(roles)), "id"),
                      "date_created", json_object_get(u, "date_created"), "date_updated",
                      json_object_get(u, "date_updated"), "_inactive",
                      i == 0 && json_array_size(CM.memberships) == 0 ? 0 : (i % 7 == 6)));
    }
}

static int64_t max_ms(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* One lead with its children; the lead's date_updated covers every child change. */
static void seed_lead(int64_t lo, int64_t hi)
{
    int64_t created = rand_ms(lo, hi);
    int64_t updated = rand_ms(created, hi);
    json_t *lead = coll_add("leads", make_lead(created, updated));
    int64_t last = updated;
    int nc = (int)sim_rand_range(1, 2);
    for (int k = 0; k < nc; k++) {
        int64_t c = rand_ms(created, hi), u = rand_ms(c, hi);
        coll_add("contacts", make_contact(lead, c, u));
        last = max_ms(last, u);
    }
    if (sim_rand01() < 0.5) {
        int64_t c = rand_ms(created, hi), u = rand_ms(c, hi);
        coll_add("opportunities", make_opportunity(lead, c, u));
        last = max_ms(last, u);
    }
    if (sim_rand01() < 0.5) {
        int64_t c = rand_ms(created, hi), u = rand_ms(c, hi);
        coll_add("tasks", make_task(lead, c, u));
        last = max_ms(last, u);
    }
    touch(lead, last);
}

static void seed_activities(long long n, int64_t lo, int64_t hi)
{
    json_t *leads = close_coll_get("leads")->recs;
    size_t nl = json_array_size(leads);
    for (long long k = 0; k < n && nl; k++) {
        json_t *lead = json_array_get(leads, (size_t)sim_rand_range(0, (int64_t)nl - 1));
        int64_t lc = close_rec_ms(lead, "date_created");
        int64_t c = rand_ms(lc > lo ? lc : lo, hi);
        int64_t u = sim_rand01() < 0.7 ? c : rand_ms(c, hi);
        coll_add("activities", make_activity(lead, PICK(ACT_TYPES), c, u));
        if (u > close_rec_ms(lead, "date_updated"))
            touch(lead, u);
    }
}

/* A few historical updates in the event log, and some older than the 30-day retention. */
static void seed_events(long long n, int64_t hi)
{
    json_t *leads = close_coll_get("leads")->recs;
    for (long long k = 0; k < n && json_array_size(leads); k++) {
        json_t *lead =
            json_array_get(leads, (size_t)sim_rand_range(0, (int64_t)json_array_size(leads) - 1));
        int64_t at = k % 5 == 4 ? hi - (int64_t)sim_rand_range(31, 40) * CLOSE_DAY_MS
                                : rand_ms(hi - 29 * CLOSE_DAY_MS, hi);
        log_event("leads", lead, "updated", json_pack("[s]", "description"), json_object(), NULL,
                  at);
    }
}

int close_model_init(const sim_options *opts)
{
    memset(&CM, 0, sizeof CM);
    CM.epoch_ms = opts->epoch_ms;
    CM.n_colls = sizeof COLLS / sizeof COLLS[0];
    CM.colls = xcalloc(CM.n_colls, sizeof *CM.colls);
    for (size_t i = 0; i < CM.n_colls; i++) {
        CM.colls[i].table = COLLS[i].table;
        CM.colls[i].path = COLLS[i].path;
        CM.colls[i].prefix = COLLS[i].prefix;
        CM.colls[i].max_limit = COLLS[i].max_limit;
        CM.colls[i].recs = json_array();
    }
    CM.events = json_array();
    CM.memberships = json_array();
    long long days = sim_param_int("history_days", 60);
    int64_t hi = opts->epoch_ms - 1000, lo = opts->epoch_ms - days * CLOSE_DAY_MS;
    char id[64];
    new_id("orga_", id, sizeof id);
    CM.org = json_pack("{sssssoso}", "id", id, "name", "Simulated Org", "date_created",
                       close_ts(lo, 0), "date_updated", close_ts(lo, 0));
    long long n_users = sim_param_int("users", 8);
    for (long long k = 0; k < n_users; k++) {
        int64_t c = rand_ms(lo, hi);
        coll_add("users", make_user(c, rand_ms(c, hi)));
    }
    seed_reference(lo, hi);
    long long n_leads = sim_param_int("leads", 100);
    for (long long k = 0; k < n_leads; k++)
        seed_lead(lo, hi);
    seed_activities(sim_param_int("activities", n_leads * 5), lo, hi);
    seed_events(sim_param_int("seed_events", 20), hi);
    return 0;
}

void close_model_free(void)
{
    close_api_free();
    for (size_t i = 0; i < CM.n_colls; i++) {
        json_decref(CM.colls[i].recs);
        json_decref(CM.colls[i].by_lead);
    }
    free(CM.colls);
    json_decref(CM.events);
    json_decref(CM.org);
    json_decref(CM.memberships);
    memset(&CM, 0, sizeof CM);
}

/* ---- mutations (control "mutate") ------------------------------------------------------- */

static int fail(json_t **result, int status, const char *msg)
{
    *result = json_pack("{ss}", "error", msg);
    return status;
}

/* "Name" -> "Name (rev 1)" -> "Name (rev 2)". */
static json_t *bump_rev(const char *s)
{
    const char *suffix = s ? strstr(s, " (rev ") : NULL;
    int rev = 0;
    size_t base = s ? strlen(s) : 0;
    if (suffix && sscanf(suffix, " (rev %d)", &rev) == 1)
        base = (size_t)(suffix - s);
    else
        rev = 0;
    char out[512];
    snprintf(out, sizeof out, "%.*s (rev %d)", (int)(base < 400 ? base : 400), s ? s : "", rev + 1);
    return json_string(out);
}

static int is_main(const char *table)
{
    static const char *const MAIN[] = {"leads", "contacts", "opportunities", "tasks", "activities"};
    for (size_t i = 0; i < sizeof MAIN / sizeof MAIN[0]; i++)
        if (strcmp(table, MAIN[i]) == 0)
            return 1;
    return 0;
}

/* Children changes bump the lead's date_updated (no lead.updated event, as in Close). */
static void bump_lead_of(const json_t *rec, int64_t at)
{
    json_t *lead = close_find("leads", str(rec, "lead_id"), NULL);
    if (lead)
        touch(lead, at);
}

static void apply_set(json_t *rec, json_t *set, json_t *changed)
{
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v)
    {
        if (strcmp(k, "id") == 0 || strcmp(k, "date_created") == 0 ||
            strcmp(k, "date_updated") == 0)
            continue;
        if (json_is_null(v) && strncmp(k, "custom.", 7) == 0)
            json_object_del(rec, k); /* custom.cf_* keys exist only when set */
        else
            json_object_set(rec, k, v);
        json_array_append_new(changed, json_string(k));
    }
}

/* The default edit of a record: a " (rev N)" bump of its most visible text field. */
static void default_edit(const char *table, json_t *rec, json_t *changed, json_t *previous)
{
    static const char *const FIELDS[] = {"note", "subject", "text",       "title",
                                         "name", "label",   "first_name", "source"};
    if (strcmp(table, "opportunities") == 0) {
        json_object_set(previous, "value", json_object_get(rec, "value"));
        set_opp_value(rec, json_integer_value(json_object_get(rec, "value")) + 10000);
        json_array_append_new(changed, json_string("value"));
        return;
    }
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        json_t *v = json_object_get(rec, FIELDS[i]);
        if (!json_is_string(v))
            continue;
        json_object_set(previous, FIELDS[i], v);
        json_object_set_new(rec, FIELDS[i], bump_rev(json_string_value(v)));
        json_array_append_new(changed, json_string(FIELDS[i]));
        if (strcmp(table, "leads") == 0 && strcmp(FIELDS[i], "name") == 0)
            json_object_set(rec, "display_name", json_object_get(rec, "name"));
        return;
    }
}

static void update_one(const char *table, json_t *rec, json_t *set, int64_t at)
{
    json_t *changed = json_array(), *previous = json_object();
    if (set)
        apply_set(rec, set, changed);
    else
        default_edit(table, rec, changed, previous);
    close_changed(); /* e.g. a new lead_id */
    if (json_object_get(rec, "date_updated"))
        touch(rec, at);
    if (is_main(table)) {
        if (strcmp(table, "leads") != 0)
            bump_lead_of(rec, at);
        log_event(table, rec, "updated", changed, previous, NULL, at);
    } else {
        json_decref(changed);
        json_decref(previous);
    }
}

static void remove_rec(const char *table, const char *id)
{
    size_t idx;
    if (close_find(table, id, &idx))
        json_array_remove(close_coll_get(table)->recs, idx);
    close_changed();
}

static void delete_children(const char *lead_id, int64_t at)
{
    static const char *const KIDS[] = {"contacts", "opportunities", "tasks", "activities"};
    for (size_t k = 0; k < sizeof KIDS / sizeof KIDS[0]; k++) {
        json_t *recs = close_coll_get(KIDS[k])->recs;
        for (size_t i = 0; i < json_array_size(recs);) {
            json_t *r = json_array_get(recs, i);
            if (strcmp(str(r, "lead_id") ?: "", lead_id) != 0) {
                i++;
                continue;
            }
            log_event(KIDS[k], r, "deleted", NULL, NULL, NULL, at);
            json_array_remove(recs, i);
        }
    }
}

static void delete_one(const char *table, json_t *rec, int64_t at)
{
    char id[96];
    snprintf(id, sizeof id, "%s", str(rec, "id"));
    if (strcmp(table, "leads") == 0)
        delete_children(id, at);
    else if (is_main(table))
        bump_lead_of(rec, at);
    if (is_main(table))
        log_event(table, rec, "deleted", NULL, NULL, NULL, at);
    remove_rec(table, id);
}

static json_t *create_one(const char *table, json_t *args, int64_t at)
{
    const char *lead_id = str(args, "lead_id");
    json_t *lead = lead_id ? close_find("leads", lead_id, NULL) : random_rec("leads");
    json_t *rec = NULL;
    if (strcmp(table, "leads") == 0) {
        rec = coll_add(table, make_lead(at, at));
        log_event("contacts", coll_add("contacts", make_contact(rec, at, at)), "created", NULL,
                  NULL, NULL, at);
    } else if (strcmp(table, "users") == 0) {
        rec = coll_add(table, make_user(at, at));
    } else if (!is_main(table)) {
        close_coll *c = close_coll_get(table);
        rec =
            coll_add(table, make_ref(table, c->prefix, (int)json_array_size(c->recs) + 1, at, at));
    } else if (!lead) {
        return NULL;
    } else if (strcmp(table, "contacts") == 0) {
        rec = coll_add(table, make_contact(lead, at, at));
    } else if (strcmp(table, "opportunities") == 0) {
        rec = coll_add(table, make_opportunity(lead, at, at));
    } else if (strcmp(table, "tasks") == 0) {
        rec = coll_add(table, make_task(lead, at, at));
    } else {
        /* Client-set date_created: backdated (imports) or future-dated activities. */
        int64_t created = at;
        const char *dc = str(args, "date_created");
        if (dc && crm_time_parse(dc, &created))
            created = at;
        const char *type = str(args, "type");
        rec = coll_add(table, make_activity(lead, type ? type : "Note", created, at));
    }
    json_t *set = json_object_get(args, "set");
    if (json_is_object(set)) {
        json_t *changed = json_array();
        apply_set(rec, set, changed);
        json_decref(changed);
    }
    if (is_main(table)) {
        if (strcmp(table, "leads") != 0)
            bump_lead_of(rec, at);
        log_event(table, rec, "created", NULL, NULL, NULL, at);
    }
    return rec;
}

/* Moves every child of src to dst, deletes src; events carry the merge ids in meta. */
static int merge_leads(json_t *args, json_t *recs, json_t **result, int64_t at)
{
    const char *sid = str(args, "source"), *did = str(args, "destination");
    json_t *src = close_find("leads", sid, NULL), *dst = close_find("leads", did, NULL);
    if (!src || !dst || src == dst)
        return fail(result, 404, "merge needs existing, different \"source\" and \"destination\"");
    char s_id[96], d_id[96];
    snprintf(s_id, sizeof s_id, "%s", sid);
    snprintf(d_id, sizeof d_id, "%s", did);
    json_t *meta =
        json_pack("{sssssss}", "request_method", "POST", "request_path", "/api/v1/lead/merge/",
                  "merge_source_lead_id", s_id, "merge_destination_lead_id", d_id);
    static const char *const KIDS[] = {"contacts", "opportunities", "tasks", "activities"};
    for (size_t k = 0; k < sizeof KIDS / sizeof KIDS[0]; k++) {
        size_t i;
        json_t *r;
        json_array_foreach(close_coll_get(KIDS[k])->recs, i, r)
        {
            if (strcmp(str(r, "lead_id") ?: "", s_id) != 0)
                continue;
            json_object_set_new(r, "lead_id", json_string(d_id));
            close_changed();
            if (json_object_get(r, "lead_name"))
                json_object_set(r, "lead_name", json_object_get(dst, "display_name"));
            touch(r, at);
            log_event(KIDS[k], r, "updated", json_pack("[s]", "lead_id"),
                      json_pack("{ss}", "lead_id", s_id), json_deep_copy(meta), at);
        }
    }
    log_event("leads", src, "deleted", NULL, NULL, json_deep_copy(meta), at);
    remove_rec("leads", s_id);
    touch(dst, at);
    log_event("leads", dst, "merged", json_array(), json_object(), meta, at);
    json_array_append_new(recs, close_render("leads", dst));
    return 200;
}

/* Target records of update/delete: "id", "ids", or "count" random ones. */
static json_t *targets(const char *table, json_t *args)
{
    json_t *out = json_array(), *id = json_object_get(args, "id"),
           *ids = json_object_get(args, "ids");
    if (json_is_string(id)) {
        json_array_append(out, id);
    } else if (json_is_array(ids)) {
        json_array_extend(out, ids);
    } else {
        json_t *c = json_object_get(args, "count");
        json_int_t n = json_is_integer(c) ? json_integer_value(c) : 1;
        json_t *recs = close_coll_get(table)->recs;
        for (json_int_t k = 0; k < n * 4 && (json_int_t)json_array_size(out) < n; k++) {
            json_t *r = random_rec(table), *rid = json_object_get(r, "id");
            size_t i;
            json_t *e;
            int dup = 0;
            json_array_foreach(out, i, e) dup |= json_equal(e, rid);
            if (rid && !dup)
                json_array_append(out, rid);
        }
        (void)recs;
    }
    return out;
}

static int mutate(json_t *args, json_t **result);

int close_mutate(json_t *args, json_t **result)
{
    close_changed();
    int status = mutate(args, result);
    close_changed();
    return status;
}

static int mutate(json_t *args, json_t **result)
{
    const char *table = str(args, "table"), *op = str(args, "op");
    if (!table || !op || !close_coll_get(table))
        return fail(result, 400, "mutate needs a known \"table\" and an \"op\"");
    int64_t at = now_ms();
    size_t ev0 = json_array_size(CM.events);
    json_t *recs = json_array();
    int status = 200;
    if (strcmp(op, "merge") == 0) {
        status = strcmp(table, "leads") == 0 ? merge_leads(args, recs, result, at)
                                             : fail(result, 400, "only leads merge");
    } else if (strcmp(op, "create") == 0) {
        json_t *c = json_object_get(args, "count");
        json_int_t n = json_is_integer(c) ? json_integer_value(c) : 1;
        for (json_int_t k = 0; k < n && status == 200; k++) {
            json_t *r = create_one(table, args, at);
            if (!r)
                status = fail(result, 404, "no such lead");
            else
                json_array_append_new(recs, close_render(table, r));
        }
    } else if (strcmp(op, "update") == 0 || strcmp(op, "delete") == 0) {
        int del = op[0] == 'd';
        json_t *ids = targets(table, args), *set = json_object_get(args, "set");
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id) if (!close_find(table, json_string_value(id), NULL))
        {
            status = fail(result, 404, "no such record");
        }
        json_array_foreach(ids, i, id)
        {
            json_t *r = status == 200 ? close_find(table, json_string_value(id), NULL) : NULL;
            if (!r)
                continue;
            if (del) {
                json_array_append_new(recs, close_render(table, r));
                delete_one(table, r, at);
            } else {
                update_one(table, r, json_is_object(set) ? set : NULL, at);
                json_array_append_new(recs, close_render(table, r));
            }
        }
        json_decref(ids);
    } else {
        status = fail(result, 400, "ops: create, update, delete, merge (leads)");
    }
    if (status == 200) {
        json_t *evs = json_array();
        for (size_t i = ev0; i < json_array_size(CM.events); i++)
            json_array_append(evs, json_object_get(json_array_get(CM.events, i), "id"));
        *result = json_pack("{sssssOso}", "table", table, "op", op, "records", recs, "events", evs);
    }
    json_decref(recs);
    return status;
}
