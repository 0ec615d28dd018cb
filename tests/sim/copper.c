/* copper.c — "copper", a simulator of the Copper (ProsperWorks) Developer API v1, so the copper
 * connector can be tested without the real service (see shared reference copper-api.md).
 *
 * Every request under /developer_api/v1/ needs X-PW-AccessToken = param token (default
 * "copper-token"), X-PW-UserEmail = param email (default "admin@example.com") and
 * X-PW-Application = "developer_api"; otherwise 401 {"message":"..."} (param auth_message).
 * Param forbidden=1 answers 403 instead (a key without permission). Unknown paths: 404.
 *
 *   GET  /account, /contact_types, /customer_sources, /lead_statuses, /loss_reasons, /pipelines,
 *        /pipeline_stages, /custom_field_definitions, /tags, /activity_types, /users/{id|me},
 *        /{people|companies|leads|opportunities|projects|tasks|activities}/{id}   bare JSON.
 *        A deleted activity fetched by id answers {"id":N,"is_deleted":true}.
 *   DELETE /{entity}/{id}   removes the record -> {"id":N,"is_deleted":true}
 *   POST /{people|companies|leads|opportunities|projects|tasks|users|activities}/search
 *        Parameters only from the JSON body (query-string paging is ignored). Keys: page_number
 *        (default 1, >= 1), page_size (default 20, 1..200; > 200 -> 422), sort_by,
 *        sort_direction (asc|desc, default asc); people/companies/leads/opportunities/projects/
 *        tasks: minimum_/maximum_modified_date, minimum_/maximum_created_date (Unix seconds,
 *        inclusive; param inclusive=0 makes minimums exclusive); ids on people, leads,
 *        opportunities, projects; leads: include_converted_leads (converted leads are hidden by
 *        default); activities: minimum_/maximum_activity_date, parent {id,type},
 *        activity_types [{id,category}], full_result (no sort_by: always newest activity_date
 *        first). users: paging only, ordered by id. Any other key, a bad type or an unknown
 *        sort_by -> 422 {"message":"..."}. Invalid JSON -> 400.
 *        Response: a bare JSON array and "X-PW-TOTAL: <matches>". Only the first param
 *        reach_cap (default 100000) matches are reachable: deeper offsets return [] (counted in
 *        GET /_control/copper_stats as capped_requests).
 *        Default sorts: people first_name; leads, opportunities, projects name; tasks due_date;
 *        companies date_modified; activities activity_date desc. Equal sort keys are ordered by
 *        param tie_order: "id" (default, ascending id), "hash" (a fixed pseudo-random order
 *        from param tie_seed) or "shuffle" (a new random order on every request).
 *        full_result=true with an admin key (param admin, default 1) repeats every activity
 *        whose id is divisible by 5 (the API's documented duplicates).
 *   Rate limit: param rate_per_min (default 180; 0 = off) requests per rolling window of param
 *   rate_window_ms (default 60000, shorter for tests); excess -> 429 {"message":"Rate limit
 *   exceeded"}, with "Retry-After" only when param retry_after=1. Rejected requests do not
 *   count. (The framework's token bucket, --rate, answers in the same format.)
 *
 * Seed sizes (params): users 6, people 80, companies 30, leads 40 (every 8th converted),
 * opportunities 40, projects 15, tasks 40, activities 120. Records are created in the 60 days
 * before the epoch; about one in ten shares its date_modified with the previous record.
 *
 * Control actions:
 *   mutate {"table":T,"op":OP[,"id":N|"ids":[..]|"count":n][,"set":{...}][,"activity_date":s]}
 *     T: a search entity, or contact_types, customer_sources, lead_statuses, loss_reasons,
 *     custom_field_definitions. OP: create (count new records, dated now), update (name gets
 *     " (rev N)", date_modified = now), touch (date_modified = now only), delete (the record
 *     vanishes), convert (leads: converted, hidden from default searches, date_modified = now),
 *     backdate (activities: activity_date = "activity_date" or now - 10 days). create/update
 *     accept "set" (fields to overwrite) and, for activities, "activity_date". Without id/ids,
 *     "count" random records are picked (deterministic from the seed).
 *     -> {"table":T,"op":OP,"records":[affected records]}
 *   truth {"table":T} -> {"table":T,"count":n,"records":[...]} for every Stitch table name
 *     (activities_search = activities), sorted by id (tags by name); leads include converted.
 *   copper_stats -> {"capped_requests":n,"rate_limited":n,"searches":n,
 *                    "created_window_searches":n (searches with minimum_created_date),
 *                    "drift_mutations":n, "boundary_mutations":n (of them, on the record
 *                    served last), "ids_searches":n (searches with an ids filter)}
 *   Param hide_ids="id,id,...": searches without an ids filter leave those records out (a
 *   listing that drifted past them); GET by id and ids searches still find them.
 *
 * Drift (params, percent per search request, deterministic from the seed): drift_boundary
 * mutates the record the previous search of the table served last, drift_random makes a random
 * create/update/delete (activities: edits, backdates, future dates); see drift_before_search.
 */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define API_PREFIX   "/developer_api/v1"
#define DAY_S        86400LL
#define MAX_WINDOW   100000
#define FIRST_ACT_ID 3061844454LL

/* ---- JSON helpers that never ignore a failure (out of memory aborts: it is a test tool) ---
 */

static json_t *must(json_t *v)
{
    if (!v) {
        fprintf(stderr, "copper: out of memory building JSON\n");
        abort();
    }
    return v;
}

static void jset(json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, must(v))) {
        fprintf(stderr, "copper: cannot set %s\n", key);
        abort();
    }
}

static void jpush(json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, must(v))) {
        fprintf(stderr, "copper: cannot append\n");
        abort();
    }
}

static json_int_t jint(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* ---- data ----------------------------------------------------------------------------------- */

typedef struct ctable {
    const char *name;         /* URL segment and truth/mutate name */
    const char *default_sort; /* NULL: not searchable */
    int default_desc;
    const char *const *sorts;   /* allowed sort_by values (NULL: sort_by not accepted) */
    const char *const *filters; /* accepted body keys besides paging/sort */
    json_t *recs;               /* live records */
    json_int_t next_id;
} ctable;

static const char *const PEOPLE_SORTS[] = {
    "name",         "first_name", "last_name", "title",   "email", "phone", "date_modified",
    "date_created", "city",       "state",     "country", "zip",   NULL};
static const char *const COMPANY_SORTS[] = {"name",
                                            "phone",
                                            "contact",
                                            "contact_first_name",
                                            "contact_last_name",
                                            "date_modified",
                                            "date_created",
                                            "email_domain",
                                            "city",
                                            "state",
                                            "country",
                                            "zip",
                                            "assignee",
                                            "contact_group",
                                            "last_interaction",
                                            "interaction_count",
                                            "primary_website",
                                            NULL};
static const char *const LEAD_SORTS[] = {
    "name",          "first_name",   "last_name",     "company_name",
    "title",         "value",        "email",         "phone",
    "date_modified", "date_created", "city",          "state",
    "country",       "zip",          "inactive_days", NULL};
static const char *const OPP_SORTS[] = {"name",
                                        "account",
                                        "company_name",
                                        "value",
                                        "assignee",
                                        "customer_source_id",
                                        "date_modified",
                                        "date_created",
                                        "contact",
                                        "stage",
                                        "status",
                                        "close_date",
                                        "source",
                                        "priority",
                                        "last_interaction",
                                        "interaction_count",
                                        "deal_last_stage",
                                        "win_probability",
                                        NULL};
static const char *const PROJECT_SORTS[] = {"name",          "assigned_to",  "related_to", "status",
                                            "date_modified", "date_created", NULL};
static const char *const TASK_SORTS[] = {
    "name",          "assigned_to",    "related_to",   "status",        "priority", "due_date",
    "reminder_date", "completed_date", "date_created", "date_modified", NULL};

#define DATE_FILTERS                                                                               \
    "minimum_modified_date", "maximum_modified_date", "minimum_created_date", "maximum_created_date"
static const char *const F_IDS[] = {DATE_FILTERS, "ids", NULL};
static const char *const F_DATES[] = {DATE_FILTERS, NULL};
static const char *const F_LEADS[] = {DATE_FILTERS, "ids", "include_converted_leads", NULL};
static const char *const F_ACTS[] = {"minimum_activity_date", "maximum_activity_date", "parent",
                                     "activity_types",        "full_result",           NULL};
static const char *const F_NONE[] = {NULL};

enum {
    T_PEOPLE,
    T_COMPANIES,
    T_LEADS,
    T_OPPS,
    T_PROJECTS,
    T_TASKS,
    T_ACTIVITIES,
    T_USERS,
    T_CONTACT_TYPES,
    T_CUSTOMER_SOURCES,
    T_LEAD_STATUSES,
    T_LOSS_REASONS,
    T_CFDS,
    T_PIPELINES,
    N_TABLES
};

static ctable TABLES[N_TABLES] = {
    [T_PEOPLE] = {"people", "first_name", 0, PEOPLE_SORTS, F_IDS, NULL, 0},
    [T_COMPANIES] = {"companies", "date_modified", 0, COMPANY_SORTS, F_DATES, NULL, 0},
    [T_LEADS] = {"leads", "name", 0, LEAD_SORTS, F_LEADS, NULL, 0},
    [T_OPPS] = {"opportunities", "name", 0, OPP_SORTS, F_IDS, NULL, 0},
    [T_PROJECTS] = {"projects", "name", 0, PROJECT_SORTS, F_IDS, NULL, 0},
    [T_TASKS] = {"tasks", "due_date", 0, TASK_SORTS, F_DATES, NULL, 0},
    [T_ACTIVITIES] = {"activities", "activity_date", 1, NULL, F_ACTS, NULL, 0},
    [T_USERS] = {"users", "id", 0, NULL, F_NONE, NULL, 0},
    [T_CONTACT_TYPES] = {"contact_types", NULL, 0, NULL, NULL, NULL, 0},
    [T_CUSTOMER_SOURCES] = {"customer_sources", NULL, 0, NULL, NULL, NULL, 0},
    [T_LEAD_STATUSES] = {"lead_statuses", NULL, 0, NULL, NULL, NULL, 0},
    [T_LOSS_REASONS] = {"loss_reasons", NULL, 0, NULL, NULL, NULL, 0},
    [T_CFDS] = {"custom_field_definitions", NULL, 0, NULL, NULL, NULL, 0},
    [T_PIPELINES] = {"pipelines", NULL, 0, NULL, NULL, NULL, 0},
};

static struct {
    json_t *account;
    json_t *deleted_activities; /* deleted ids Copper still answers by id with a minimal record */
    int64_t epoch_s;
    long capped, limited, searches, windowed, drifted, boundary, id_searches;
    json_int_t last_served[N_TABLES]; /* id of the last record the latest search served; 0 */
    int64_t *window; /* rolling rate-limit window: times (ms) of accepted requests, a ring */
    size_t win_head, win_len;
    unsigned long gen; /* bumped by every change of the records: cached search hits compare it */
} C;

static const char *const FIRST[] = {"Ana",    "José", "Zoë",   "Björn", "Chloé", "Łukasz",
                                    "Mei",    "Olu",  "Priya", "Sven",  "Aiko",  "Omar",
                                    "Fatima", "Liam", "Noa",   "Ravi"};
static const char *const LAST[] = {"García",   "Núñez", "O'Brien", "Müller", "Søndergaard",
                                   "Nakamura", "Smith", "Dvořák",  "Okafor", "Haddad"};
static const char *const COMPANY_WORDS[] = {"Acme",  "Globex", "Initech", "Hooli",       "Umbrella",
                                            "Stark", "Wayne",  "Tyrell",  "Café Zürich", "東京"};
static const char *const DEAL_WORDS[] = {"Renewal", "Expansion", "Pilot",        "Licence",
                                         "Upsell",  "Migration", "Support Plan", "Δelta Pack"};
static const char *const TAGS[] = {"vip", "prospect", "churn-risk", "partner", "ünï", "q3"};
static const char *const CITIES[] = {"Berlin", "Lagos", "Osaka", "Lima", "Austin", "Kraków"};
static const char *const NOTES[] = {"Call back next week", "Said \"maybe\" twice",
                                    "multi\nline\tnote", "emoji 🎉 party", ""};

#define NELEM(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))
#define PICK(a)  ((a)[sim_rand_range(0, NELEM(a) - 1)])

static int64_t now_s(void)
{
    return sim_now_ms() / 1000;
}

static json_t *maybe_null(json_t *v, double p_null)
{
    if (sim_rand01() < p_null) {
        json_decref(v);
        return json_null();
    }
    return v;
}

static json_t *random_id_of(int t, double p_null)
{
    json_t *recs = TABLES[t].recs;
    size_t n = json_array_size(recs);
    if (!n || sim_rand01() < p_null)
        return json_null();
    return json_incref(
        json_object_get(json_array_get(recs, (size_t)sim_rand_range(0, (int64_t)n - 1)), "id"));
}

static json_t *random_tags(void)
{
    json_t *tags = must(json_array());
    unsigned used = 0;
    int n = (int)sim_rand_range(0, 2);
    for (int k = 0; k < n; k++) {
        int t = (int)sim_rand_range(0, NELEM(TAGS) - 1);
        if (!(used & 1u << t))
            jpush(tags, json_string(TAGS[t]));
        used |= 1u << t;
    }
    return tags;
}

static json_t *random_address(void)
{
    if (sim_rand01() < 0.3)
        return json_null();
    char street[64];
    snprintf(street, sizeof street, "%d Main St", (int)sim_rand_range(1, 999));
    return must(json_pack("{ss ss so ss ss}", "street", street, "city", PICK(CITIES), "state",
                          sim_rand01() < 0.5 ? json_string("CA") : json_null(), "postal_code",
                          "94110", "country", "US"));
}

static json_t *category_list(const char *key, const char *value, const char *category)
{
    json_t *a = must(json_array());
    if (sim_rand01() < 0.8)
        jpush(a, json_pack("{ssss}", key, value, "category", category));
    return a;
}

/* One custom-field value matching the definition's data_type (polymorphic on purpose). */
static json_t *custom_value(const json_t *def)
{
    const char *type = json_string_value(json_object_get(def, "data_type"));
    if (sim_rand01() < 0.3 && strcmp(type, "Checkbox") && strcmp(type, "MultiSelect"))
        return json_null();
    const json_t *opts = json_object_get(def, "options");
    if (strcmp(type, "String") == 0)
        return json_string(PICK(NOTES));
    if (strcmp(type, "Checkbox") == 0)
        return json_boolean(sim_rand01() < 0.5);
    if (strcmp(type, "Date") == 0)
        return json_integer(C.epoch_s - sim_rand_range(0, 90) * DAY_S);
    if (strcmp(type, "Float") == 0)
        return json_real((double)sim_rand_range(0, 100000) / 100.0);
    if (strcmp(type, "Dropdown") == 0)
        return json_incref(json_object_get(
            json_array_get(opts, (size_t)sim_rand_range(0, (int64_t)json_array_size(opts) - 1)),
            "id"));
    json_t *a = must(json_array()); /* MultiSelect */
    for (size_t i = 0; i < json_array_size(opts); i++)
        if (sim_rand01() < 0.4)
            jpush(a, json_incref(json_object_get(json_array_get(opts, i), "id")));
    return a;
}

/* One entry per definition available on `entity`, even when empty. */
static json_t *custom_fields(const char *entity)
{
    json_t *out = must(json_array());
    size_t i;
    json_t *def;
    json_array_foreach(TABLES[T_CFDS].recs, i, def)
    {
        size_t k;
        json_t *on;
        json_array_foreach(json_object_get(def, "available_on"), k, on)
        {
            if (strcmp(json_string_value(on), entity) == 0)
                jpush(out, json_pack("{sOso}", "custom_field_definition_id",
                                     json_object_get(def, "id"), "value", must(custom_value(def))));
        }
    }
    return out;
}

static void stamp(json_t *rec, int64_t created, int64_t modified)
{
    jset(rec, "date_created", json_integer(created));
    jset(rec, "date_modified", json_integer(modified));
}

static json_t *find_by_id(int t, json_int_t id, size_t *index);

static json_t *find_record(int t, json_int_t id)
{
    return find_by_id(t, id, NULL);
}

static json_t *notes(void)
{
    return maybe_null(json_string(PICK(NOTES)), 0.5);
}

static json_t *named(json_int_t id, const char *name)
{
    json_t *r = must(json_object());
    jset(r, "id", json_integer(id));
    jset(r, "name", json_string(name));
    return r;
}

/* Fields people and leads share. */
static json_t *contact_new(json_int_t id)
{
    const char *first = PICK(FIRST), *last = PICK(LAST);
    char name[96];
    snprintf(name, sizeof name, "%s %s", first, last);
    json_t *p = named(id, name);
    jset(p, "prefix", json_null());
    jset(p, "first_name", json_string(first));
    jset(p, "middle_name", json_null());
    jset(p, "last_name", json_string(last));
    jset(p, "suffix", json_null());
    jset(p, "address", random_address());
    jset(p, "assignee_id", random_id_of(T_USERS, 0.2));
    jset(p, "details", notes());
    jset(p, "socials", json_array());
    jset(p, "tags", random_tags());
    jset(p, "date_last_contacted", maybe_null(json_integer(C.epoch_s - DAY_S), 0.5));
    jset(p, "interaction_count", json_integer(sim_rand_range(0, 40)));
    return p;
}

static json_t *person_new(json_int_t id)
{
    char email[128];
    snprintf(email, sizeof email, "person%lld@example.com", (long long)id);
    json_t *p = contact_new(id);
    json_t *company = random_id_of(T_COMPANIES, 0.2);
    json_t *crec =
        json_is_integer(company) ? find_record(T_COMPANIES, json_integer_value(company)) : NULL;
    jset(p, "company_id", company);
    jset(p, "company_name", crec ? json_incref(json_object_get(crec, "name")) : json_null());
    jset(p, "contact_type_id", random_id_of(T_CONTACT_TYPES, 0.1));
    jset(p, "emails", category_list("email", email, "work"));
    jset(p, "phone_numbers", category_list("number", "+1 415 555 0100", "mobile"));
    jset(p, "websites", category_list("url", "https://example.com", "work"));
    jset(p, "title", maybe_null(json_string("Engineer"), 0.3));
    jset(p, "leads_converted_from", json_array());
    jset(p, "date_lead_created", json_null());
    jset(p, "custom_fields", custom_fields("person"));
    return p;
}

static json_t *company_new(json_int_t id)
{
    char name[96], domain[96];
    snprintf(name, sizeof name, "%s %lld", PICK(COMPANY_WORDS), (long long)id);
    snprintf(domain, sizeof domain, "c%lld.example.com", (long long)id);
    json_t *c = named(id, name);
    jset(c, "address", random_address());
    jset(c, "assignee_id", random_id_of(T_USERS, 0.2));
    jset(c, "contact_type_id", random_id_of(T_CONTACT_TYPES, 0.1));
    jset(c, "details", notes());
    jset(c, "email_domain", json_string(domain));
    jset(c, "phone_numbers", category_list("number", "+1 212 555 0199", "work"));
    jset(c, "socials", json_array());
    jset(c, "websites", category_list("url", "https://example.org", "work"));
    jset(c, "tags", random_tags());
    jset(c, "primary_contact_id", json_null());
    jset(c, "interaction_count", json_integer(sim_rand_range(0, 99)));
    jset(c, "custom_fields", custom_fields("company"));
    return c;
}

static json_t *lead_status_pick(void)
{
    json_t *recs = TABLES[T_LEAD_STATUSES].recs;
    return json_array_get(recs, (size_t)sim_rand_range(0, (int64_t)json_array_size(recs) - 1));
}

static json_t *lead_new(json_int_t id)
{
    char email[128];
    snprintf(email, sizeof email, "lead%lld@example.net", (long long)id);
    json_t *l = contact_new(id);
    json_t *st = lead_status_pick();
    jset(l, "company_name", maybe_null(json_string(PICK(COMPANY_WORDS)), 0.3));
    jset(l, "title", json_string("Buyer"));
    jset(l, "email", maybe_null(json_pack("{ssss}", "email", email, "category", "work"), 0.2));
    jset(l, "status", json_incref(json_object_get(st, "name")));
    jset(l, "status_id", json_incref(json_object_get(st, "id")));
    jset(l, "customer_source_id", random_id_of(T_CUSTOMER_SOURCES, 0.3));
    jset(l, "monetary_value", maybe_null(json_integer(sim_rand_range(100, 90000)), 0.3));
    jset(l, "monetary_unit", json_string("USD"));
    jset(l, "converted_value", json_null());
    jset(l, "converted_unit", json_null());
    jset(l, "phone_numbers", category_list("number", "+44 20 7946 0000", "work"));
    jset(l, "websites", json_array());
    jset(l, "converted_opportunity_id", json_null());
    jset(l, "converted_contact_id", json_null());
    jset(l, "converted_at", json_null());
    jset(l, "custom_fields", custom_fields("lead"));
    return l;
}

static json_t *pipeline_pick(json_t **stage)
{
    json_t *pls = TABLES[T_PIPELINES].recs;
    json_t *pl = json_array_get(pls, (size_t)sim_rand_range(0, (int64_t)json_array_size(pls) - 1));
    json_t *stages = json_object_get(pl, "stages");
    *stage =
        json_array_get(stages, (size_t)sim_rand_range(0, (int64_t)json_array_size(stages) - 1));
    return pl;
}

static json_t *opportunity_new(json_int_t id)
{
    static const char *const STATUS[] = {"Open", "Open", "Won", "Lost", "Abandoned"};
    static const char *const PRIORITY[] = {"None", "Low", "Medium", "High"};
    char name[96], close[16];
    snprintf(name, sizeof name, "%s %s", PICK(DEAL_WORDS), PICK(COMPANY_WORDS));
    snprintf(close, sizeof close, "%d/%d/2026", (int)sim_rand_range(1, 12),
             (int)sim_rand_range(1, 28));
    json_t *stage;
    json_t *pl = pipeline_pick(&stage);
    const char *status = PICK(STATUS);
    json_t *o = named(id, name);
    jset(o, "assignee_id", random_id_of(T_USERS, 0.2));
    jset(o, "close_date", maybe_null(json_string(close), 0.2));
    jset(o, "company_id", random_id_of(T_COMPANIES, 0.3));
    jset(o, "company_name", json_null());
    jset(o, "customer_source_id", random_id_of(T_CUSTOMER_SOURCES, 0.3));
    jset(o, "details", notes());
    jset(o, "loss_reason_id",
         strcmp(status, "Lost") == 0 ? random_id_of(T_LOSS_REASONS, 0) : json_null());
    jset(o, "pipeline_id", json_incref(json_object_get(pl, "id")));
    jset(o, "pipeline_stage_id", json_incref(json_object_get(stage, "id")));
    jset(o, "primary_contact_id", random_id_of(T_PEOPLE, 0.3));
    jset(o, "priority", json_string(PICK(PRIORITY)));
    jset(o, "status", json_string(status));
    jset(o, "tags", random_tags());
    jset(o, "interaction_count", json_integer(sim_rand_range(0, 30)));
    jset(o, "monetary_value", json_real((double)sim_rand_range(0, 5000000) / 100.0));
    jset(o, "monetary_unit", json_string("USD"));
    jset(o, "converted_value", json_null());
    jset(o, "converted_unit", json_null());
    jset(o, "win_probability", json_incref(json_object_get(stage, "win_probability")));
    jset(o, "date_stage_changed", json_integer(C.epoch_s - sim_rand_range(1, 30) * DAY_S));
    jset(o, "date_last_contacted", json_null());
    jset(o, "leads_converted_from", json_array());
    jset(o, "date_lead_created", json_null());
    jset(o, "custom_fields", custom_fields("opportunity"));
    return o;
}

static json_t *related_resource(void)
{
    if (sim_rand01() < 0.3)
        return json_null();
    int opp = sim_rand01() < 0.5;
    return json_pack("{soss}", "id", random_id_of(opp ? T_OPPS : T_PEOPLE, 0), "type",
                     opp ? "opportunity" : "person");
}

static json_t *project_new(json_int_t id)
{
    char name[96];
    snprintf(name, sizeof name, "Project %s %lld", PICK(DEAL_WORDS), (long long)id);
    json_t *p = named(id, name);
    jset(p, "related_resource", related_resource());
    jset(p, "assignee_id", random_id_of(T_USERS, 0.2));
    jset(p, "status", json_string(sim_rand01() < 0.7 ? "Open" : "Completed"));
    jset(p, "details", notes());
    jset(p, "tags", random_tags());
    jset(p, "custom_fields", custom_fields("project"));
    return p;
}

static json_t *task_new(json_int_t id)
{
    char name[96];
    snprintf(name, sizeof name, "Follow up %lld", (long long)id);
    int done = sim_rand01() < 0.3;
    json_t *t = named(id, name);
    jset(t, "related_resource", related_resource());
    jset(t, "assignee_id", random_id_of(T_USERS, 0.1));
    jset(t, "due_date", maybe_null(json_integer(C.epoch_s + sim_rand_range(-20, 20) * DAY_S), 0.3));
    jset(t, "reminder_date", json_null());
    jset(t, "completed_date", done ? json_integer(C.epoch_s - DAY_S) : json_null());
    jset(t, "priority", json_string(sim_rand01() < 0.5 ? "None" : "High"));
    jset(t, "status", json_string(done ? "Completed" : "Open"));
    jset(t, "details", notes());
    jset(t, "tags", random_tags());
    jset(t, "custom_activity_type_id", json_null());
    jset(t, "custom_fields", custom_fields("task"));
    return t;
}

static json_t *activity_parent(void)
{
    static const int TYPES[] = {T_PEOPLE, T_COMPANIES, T_LEADS, T_OPPS};
    static const char *const NAMES[] = {"person", "company", "lead", "opportunity"};
    int k = (int)sim_rand_range(0, 3);
    return json_pack("{soss}", "id", random_id_of(TYPES[k], 0), "type", NAMES[k]);
}

static json_t *activity_new(json_int_t id, int64_t activity_date)
{
    int system = sim_rand01() < 0.25;
    json_t *a = must(json_object());
    jset(a, "id", json_integer(id));
    jset(a, "type",
         json_pack("{sIss}", "id", (json_int_t)(system ? 1 : 0), "category",
                   system ? "system" : "user"));
    jset(a, "parent", activity_parent());
    jset(a, "user_id", random_id_of(T_USERS, 0));
    jset(a, "details", system ? json_null() : json_string(PICK(NOTES)));
    jset(a, "activity_date", json_integer(activity_date));
    jset(a, "old_value", system ? json_string("Open") : json_null());
    jset(a, "new_value", system ? json_pack("{ssss}", "id", "2", "name", "Won") : json_null());
    return a;
}

static json_t *user_new(json_int_t id)
{
    char email[64], name[96];
    if (id == 1)
        snprintf(email, sizeof email, "%s", sim_param("email", "admin@example.com"));
    else
        snprintf(email, sizeof email, "user%lld@example.com", (long long)id);
    snprintf(name, sizeof name, "%s %s", PICK(FIRST), PICK(LAST));
    json_t *u = named(id, name);
    jset(u, "email", json_string(email));
    jset(u, "groups",
         json_pack("[{sIss}]", "id", (json_int_t)(id % 2 + 1), "name",
                   id % 2 ? "Sales" : "Support"));
    return u;
}

/* A new record of table t with the next id; dates are stamped by the caller. */
static json_t *record_new(int t, int64_t activity_date)
{
    ctable *ct = &TABLES[t];
    json_int_t id = ct->next_id++;
    switch (t) {
    case T_PEOPLE:
        return person_new(id);
    case T_COMPANIES:
        return company_new(id);
    case T_LEADS:
        return lead_new(id);
    case T_OPPS:
        return opportunity_new(id);
    case T_PROJECTS:
        return project_new(id);
    case T_TASKS:
        return task_new(id);
    case T_ACTIVITIES:
        return activity_new(id, activity_date);
    case T_USERS:
        return user_new(id);
    default: {
        char name[64];
        snprintf(name, sizeof name, "%s %lld", ct->name, (long long)id);
        return must(json_pack("{sIss}", "id", id, "name", name));
    }
    }
}

static void convert_lead(json_t *lead, int64_t at)
{
    jset(lead, "converted_at", json_integer(at));
    jset(lead, "converted_opportunity_id", random_id_of(T_OPPS, 0));
    jset(lead, "converted_contact_id", random_id_of(T_PEOPLE, 0));
    jset(lead, "converted_value", json_incref(json_object_get(lead, "monetary_value")));
    jset(lead, "converted_unit", json_string("USD"));
}

static int is_converted(const json_t *lead)
{
    json_t *v = json_object_get(lead, "converted_at");
    return v && !json_is_null(v);
}

/* ---- seeding ------------------------------------------------------------------------------- */

static void seed_reference_lists(void)
{
    static const char *const CT[] = {"Potential Customer", "Current Customer", "Uncategorized",
                                     "Other"};
    static const char *const CS[] = {"Email", "Cold Call", "Advertising", "Partner"};
    static const char *const LS[] = {"New", "Unqualified", "Contacted", "Qualified"};
    static const char *const LR[] = {"Price", "Competitor", "No budget"};
    for (int i = 0; i < 4; i++) {
        jpush(TABLES[T_CONTACT_TYPES].recs,
              json_pack("{sIss}", "id", (json_int_t)(501 + i), "name", CT[i]));
        jpush(TABLES[T_CUSTOMER_SOURCES].recs,
              json_pack("{sIss}", "id", (json_int_t)(601 + i), "name", CS[i]));
        jpush(TABLES[T_LEAD_STATUSES].recs,
              json_pack("{sIsssisb}", "id", (json_int_t)(701 + i), "name", LS[i], "order", i + 1,
                        "is_default", i == 0));
    }
    for (int i = 0; i < 3; i++)
        jpush(TABLES[T_LOSS_REASONS].recs,
              json_pack("{sIss}", "id", (json_int_t)(801 + i), "name", LR[i]));
    jpush(TABLES[T_PIPELINES].recs,
          json_pack("{sIsss[{sIsssi}{sIsssi}{sIsssi}]}", "id", (json_int_t)901, "name", "Sales",
                    "stages", "id", (json_int_t)9011, "name", "Qualified", "win_probability", 10,
                    "id", (json_int_t)9012, "name", "Proposal", "win_probability", 50, "id",
                    (json_int_t)9013, "name", "Negotiation", "win_probability", 80));
    jpush(TABLES[T_PIPELINES].recs,
          json_pack("{sIsss[{sIsssi}{sIsssi}]}", "id", (json_int_t)902, "name", "Renewals",
                    "stages", "id", (json_int_t)9021, "name", "Due", "win_probability", 60, "id",
                    (json_int_t)9022, "name", "Signed", "win_probability", 100));
    json_t *cfd = TABLES[T_CFDS].recs;
    jpush(cfd, json_pack("{sIsssss[ssss]sb}", "id", (json_int_t)1001, "name", "Region", "data_type",
                         "String", "available_on", "person", "company", "lead", "opportunity",
                         "is_filterable", 1));
    jpush(cfd, json_pack("{sIsssss[ss]sbs[{sIsssi}{sIsssi}]}", "id", (json_int_t)1002, "name",
                         "Tier", "data_type", "Dropdown", "available_on", "company", "opportunity",
                         "is_filterable", 1, "options", "id", (json_int_t)10021, "name", "Gold",
                         "rank", 1, "id", (json_int_t)10022, "name", "Silver", "rank", 2));
    jpush(cfd,
          json_pack("{sIsssss[sss]sb}", "id", (json_int_t)1003, "name", "Newsletter", "data_type",
                    "Checkbox", "available_on", "person", "lead", "task", "is_filterable", 1));
    jpush(cfd,
          json_pack("{sIsssss[ss]sb}", "id", (json_int_t)1004, "name", "Renewal date", "data_type",
                    "Date", "available_on", "opportunity", "project", "is_filterable", 0));
    jpush(cfd, json_pack("{sIsssss[ss]sbss}", "id", (json_int_t)1005, "name", "Budget", "data_type",
                         "Currency", "available_on", "opportunity", "lead", "is_filterable", 0,
                         "currency", "USD"));
    jpush(cfd,
          json_pack("{sIsssss[sss]sbs[{sIsssi}{sIsssi}{sIsssi}]}", "id", (json_int_t)1006, "name",
                    "Interests", "data_type", "MultiSelect", "available_on", "person", "company",
                    "project", "is_filterable", 1, "options", "id", (json_int_t)10061, "name",
                    "API", "rank", 1, "id", (json_int_t)10062, "name", "Mobile", "rank", 2, "id",
                    (json_int_t)10063, "name", "Ünïcode", "rank", 3));
    jpush(cfd, json_pack("{sIsssss[s]sb}", "id", (json_int_t)1007, "name", "Score", "data_type",
                         "Float", "available_on", "person", "is_filterable", 1));
    for (int t = T_CONTACT_TYPES; t < N_TABLES; t++)
        TABLES[t].next_id = 5000 + t * 100;
}

/* Seeds n records of table t dated in the 60 days before the epoch (some sharing a second). */
static void seed_table(int t, long long n)
{
    int64_t lo = C.epoch_s - 60 * DAY_S, hi = C.epoch_s - 1, prev = 0;
    for (long long k = 0; k < n; k++) {
        int64_t created = sim_rand_range(lo, hi);
        int64_t modified = sim_rand_range(created, hi);
        if (k > 0 && sim_rand01() < 0.1 && prev >= created)
            modified = prev;
        json_t *r = record_new(t, modified);
        if (t != T_USERS)
            stamp(r, created, modified);
        if (t == T_ACTIVITIES) /* as in the 2019 examples: modified == activity_date */
            jset(r, "date_modified", json_integer(modified));
        if (t == T_LEADS && k % 8 == 7)
            convert_lead(r, modified);
        jpush(TABLES[t].recs, r);
        prev = modified;
    }
}

static int copper_init(const sim_options *opts)
{
    memset(&C, 0, sizeof C);
    C.epoch_s = opts->epoch_ms / 1000;
    C.deleted_activities = must(json_array());
    for (int t = 0; t < N_TABLES; t++)
        TABLES[t].recs = must(json_array());
    static const struct {
        int t;
        const char *param;
        long long def;
        json_int_t first_id;
    } SIZES[] = {{T_USERS, "users", 6, 1},        {T_COMPANIES, "companies", 30, 20001},
                 {T_PEOPLE, "people", 80, 10001}, {T_OPPS, "opportunities", 40, 40001},
                 {T_LEADS, "leads", 40, 30001},   {T_PROJECTS, "projects", 15, 50001},
                 {T_TASKS, "tasks", 40, 60001},   {T_ACTIVITIES, "activities", 120, FIRST_ACT_ID}};
    seed_reference_lists();
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        long long n = sim_param_int(SIZES[i].param, SIZES[i].def);
        if (n < 0 || n > 1000000 || (SIZES[i].t == T_USERS && n < 1)) {
            fprintf(stderr, "copper: invalid %s parameter\n", SIZES[i].param);
            return -1;
        }
        TABLES[SIZES[i].t].next_id = SIZES[i].first_id;
        seed_table(SIZES[i].t, n);
    }
    C.account = must(json_pack("{sIsssss{sbsb}}", "id", (json_int_t)424242, "name",
                               "Simulated Copper Account", "primary_timezone",
                               "America/Los_Angeles", "settings",
                               "setting_team_permissions_enabled", 0, "setting_enable_leads", 1));
    C.window = xcalloc(1, sizeof(int64_t));
    return 0;
}

static void hits_free(void);

static void copper_free(void)
{
    hits_free();
    for (int t = 0; t < N_TABLES; t++) {
        json_decref(TABLES[t].recs);
        TABLES[t].recs = NULL;
    }
    json_decref(C.account);
    json_decref(C.deleted_activities);
    free(C.window);
}

/* ---- derived tables ------------------------------------------------------------------------ */

static json_t *pipeline_stages(void)
{
    json_t *out = must(json_array());
    size_t i, k;
    json_t *pl, *st;
    json_array_foreach(TABLES[T_PIPELINES].recs, i, pl)
    {
        json_array_foreach(json_object_get(pl, "stages"), k, st)
        {
            json_t *s = must(json_deep_copy(st));
            jset(s, "pipeline_id", json_incref(json_object_get(pl, "id")));
            jpush(out, s);
        }
    }
    return out;
}

static void count_tag(json_t *counts, const char *tag, const char *field)
{
    json_t *t = json_object_get(counts, tag);
    if (!t) {
        t = must(json_pack("{sssisisisisisisi}", "name", tag, "count", 0, "count_people", 0,
                           "count_leads", 0, "count_companies", 0, "count_opportunities", 0,
                           "count_projects", 0, "count_tasks", 0));
        jset(counts, tag, t);
    }
    jset(t, "count", json_integer(jint(t, "count") + 1));
    jset(t, field, json_integer(jint(t, field) + 1));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

/* Tags with their per-entity counts, computed from the records, sorted by name. */
static json_t *tags_list(void)
{
    static const struct {
        int t;
        const char *field;
    } SRC[] = {{T_PEOPLE, "count_people"},       {T_LEADS, "count_leads"},
               {T_COMPANIES, "count_companies"}, {T_OPPS, "count_opportunities"},
               {T_PROJECTS, "count_projects"},   {T_TASKS, "count_tasks"}};
    json_t *counts = must(json_object());
    for (size_t s = 0; s < sizeof SRC / sizeof SRC[0]; s++) {
        size_t i, k;
        json_t *r, *tag;
        json_array_foreach(TABLES[SRC[s].t].recs, i, r)
        {
            json_array_foreach(json_object_get(r, "tags"), k, tag)
                count_tag(counts, json_string_value(tag), SRC[s].field);
        }
    }
    size_t n = json_object_size(counts), i = 0;
    json_t **v = xmalloc((n ? n : 1) * sizeof *v);
    const char *k;
    json_t *t;
    json_object_foreach(counts, k, t) v[i++] = t;
    qsort(v, n, sizeof *v, by_name);
    json_t *out = must(json_array());
    for (i = 0; i < n; i++)
        jpush(out, json_incref(v[i]));
    free(v);
    json_decref(counts);
    return out;
}

static json_t *activity_types(void)
{
    return must(json_pack("{s[{sisssssbsb}{sisssssbsb}]s[{sisssssbsb}{sisssssbsb}]}", "user", "id",
                          0, "category", "user", "name", "Note", "is_disabled", 0,
                          "count_as_interaction", 0, "id", 190, "category", "user", "name",
                          "Phone Call", "is_disabled", 0, "count_as_interaction", 1, "system", "id",
                          1, "category", "system", "name", "Property Changed", "is_disabled", 0,
                          "count_as_interaction", 0, "id", 3, "category", "system", "name",
                          "Pipeline Stage Changed", "is_disabled", 0, "count_as_interaction", 0));
}

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
        if (json_is_integer(v) && json_integer_value(v) == jint(rec, "id"))
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
            if (jint(t, "id") == jint(rt, "id") &&
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
    snprintf(want, sizeof want, "%" JSON_INTEGER_FORMAT, jint(rec, "id"));
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
    if (t == T_LEADS && !q->converted && is_converted(rec))
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
    uint64_t id = (uint64_t)jint(rec, "id");
    if (SORT.tie == 0)
        return id;
    return mix64(id ^ SORT.seed);
}

/* The matching records of table t in result order (duplicates included); caller frees. */
static hit *search_hits(int t, const query *q, size_t *n)
{
    json_t *recs = TABLES[t].recs;
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
        if (dups && jint(rec, "id") % 5 == 0) {
            hits[k].rec = rec;
            hits[k].tie = hits[k - 1].tie;
            k++;
        }
    }
    qsort(hits, k, sizeof *hits, hit_cmp);
    *n = k;
    return hits;
}

/* The hits of the latest search of each table, kept while the records (C.gen), the query but
 * its paging, and the params that select or order are unchanged: a 1 M record table used to be
 * filtered and sorted whole for every page. tie_order=shuffle re-draws every time, uncached. */
static struct {
    char *sig;
    unsigned long gen;
    hit *hits;
    size_t n;
} HITS[N_TABLES];

static void hits_free(void)
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
    json_t *sel = must(json_deep_copy(q->body));
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

static const hit *cached_hits(int t, const query *q, size_t *n)
{
    if (strcmp(sim_param("tie_order", "id"), "shuffle") == 0) {
        free(HITS[t].hits);
        free(HITS[t].sig);
        HITS[t].hits = search_hits(t, q, n);
        HITS[t].sig = NULL;
        return HITS[t].hits;
    }
    char *sig = search_sig(q);
    if (HITS[t].sig && HITS[t].gen == C.gen && strcmp(HITS[t].sig, sig) == 0) {
        free(sig);
        *n = HITS[t].n;
        return HITS[t].hits;
    }
    free(HITS[t].hits);
    free(HITS[t].sig);
    HITS[t].hits = search_hits(t, q, &HITS[t].n);
    HITS[t].sig = sig;
    HITS[t].gen = C.gen;
    *n = HITS[t].n;
    return HITS[t].hits;
}

/* Mutations between page requests (params drift_*; see the control section). */
static void drift_before_search(int t);

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
    if (parse_query(&TABLES[t], body, resp, &q)) {
        json_decref(body);
        return;
    }
    C.searches++;
    if (json_object_get(body, "minimum_created_date"))
        C.windowed++;
    drift_before_search(t);
    if (json_object_get(body, "ids"))
        C.id_searches++;
    size_t n;
    const hit *hits = cached_hits(t, &q, &n);
    long long cap = sim_param_int("reach_cap", MAX_WINDOW);
    long long offset = (long long)(q.page - 1) * q.size;
    json_t *out = must(json_array());
    if (offset >= cap && (size_t)offset < n)
        C.capped++;
    for (long long i = offset; i < (long long)n && i < offset + q.size && i < cap; i++)
        jpush(out, json_incref(hits[i].rec));
    if (json_array_size(out))
        C.last_served[t] = jint(json_array_get(out, json_array_size(out) - 1), "id");
    sim_json(resp, 200, out);
    sim_set_header(resp, "X-PW-TOTAL", "%zu", n);
    json_decref(body);
}

/* ---- GET / DELETE by id --------------------------------------------------------------------- */

/* Records are kept in id order (appended with ascending ids, removed in place), so a binary
 * search finds one in O(log n) (seeding 1 M people looked up each one's company by a scan);
 * the scan remains for a table that is not in order. */
static json_t *find_by_id(int t, json_int_t id, size_t *index)
{
    size_t i, lo = 0, hi = json_array_size(TABLES[t].recs);
    json_t *r;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        json_int_t m = jint(json_array_get(TABLES[t].recs, mid), "id");
        if (m == id) {
            if (index)
                *index = mid;
            return json_array_get(TABLES[t].recs, mid);
        }
        if (m < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    json_array_foreach(TABLES[t].recs, i, r)
    {
        if (jint(r, "id") == id) {
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
    json_t *rec = find_by_id(t, id, &idx);
    int deleted_act = 0;
    if (!rec && t == T_ACTIVITIES) {
        size_t i;
        json_t *v;
        json_array_foreach(C.deleted_activities, i, v) deleted_act |= json_integer_value(v) == id;
    }
    if (!rec && !deleted_act) {
        not_found(resp);
        return;
    }
    if (strcmp(method, "DELETE") == 0 && rec) {
        if (t == T_ACTIVITIES)
            jpush(C.deleted_activities, json_integer(id));
        if (json_array_remove(TABLES[t].recs, idx))
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

static void copper_rate_limited(sim_response *resp, double retry_after_s)
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
        free(C.window);
        cap = (size_t)limit;
        C.window = xcalloc(cap, sizeof(int64_t));
        C.win_head = C.win_len = 0;
    }
    int64_t span = sim_param_int("rate_window_ms", 60000);
    while (C.win_len && now - C.window[C.win_head] >= span) {
        C.win_head = (C.win_head + 1) % cap;
        C.win_len--;
    }
    if (C.win_len >= cap) {
        C.limited++;
        copper_rate_limited(resp, (double)(C.window[C.win_head] + span - now) / 1000.0);
        return 0;
    }
    C.window[(C.win_head + C.win_len) % cap] = now;
    C.win_len++;
    return 1;
}

static int table_by_name(const char *name, size_t len)
{
    for (int t = 0; t < N_TABLES; t++)
        if (strlen(TABLES[t].name) == len && strncmp(TABLES[t].name, name, len) == 0)
            return t;
    return -1;
}

static void api_list(const char *path, sim_response *resp)
{
    int t = table_by_name(path, strlen(path));
    if (t >= T_CONTACT_TYPES)
        sim_json(resp, 200, json_incref(TABLES[t].recs));
    else if (strcmp(path, "account") == 0)
        sim_json(resp, 200, json_incref(C.account));
    else if (strcmp(path, "pipeline_stages") == 0)
        sim_json(resp, 200, pipeline_stages());
    else if (strcmp(path, "tags") == 0)
        sim_json(resp, 200, tags_list());
    else if (strcmp(path, "activity_types") == 0)
        sim_json(resp, 200, activity_types());
    else
        not_found(resp);
}

static void copper_handle(const sim_request *req, sim_response *resp)
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
    int t = table_by_name(path, slash ? (size_t)(slash - path) : strlen(path));
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

/* ---- control -------------------------------------------------------------------------------- */

static int cerr(json_t **result, int status, const char *msg)
{
    *result = json_pack("{ss}", "error", msg);
    return status;
}

static int by_id(const void *a, const void *b)
{
    json_int_t x = jint(*(json_t *const *)a, "id"), y = jint(*(json_t *const *)b, "id");
    return x < y ? -1 : x > y;
}

static json_t *sorted_copy(json_t *recs)
{
    size_t n = json_array_size(recs);
    json_t **v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(recs, i);
    qsort(v, n, sizeof *v, by_id);
    json_t *out = must(json_array());
    for (size_t i = 0; i < n; i++)
        jpush(out, json_deep_copy(v[i]));
    free(v);
    return out;
}

static int control_truth(json_t *args, json_t **result)
{
    const char *name = json_string_value(json_object_get(args, "table"));
    if (!name)
        return cerr(result, 400, "truth needs \"table\"");
    json_t *recs;
    int t = table_by_name(name, strlen(name));
    if (strcmp(name, "activities_search") == 0)
        t = T_ACTIVITIES;
    if (t >= 0)
        recs = sorted_copy(TABLES[t].recs);
    else if (strcmp(name, "account") == 0)
        recs = must(json_pack("[O]", C.account));
    else if (strcmp(name, "pipeline_stages") == 0) {
        json_t *st = pipeline_stages();
        recs = sorted_copy(st);
        json_decref(st);
    } else if (strcmp(name, "tags") == 0)
        recs = tags_list();
    else
        return cerr(result, 400, "unknown table");
    *result = must(json_pack("{sssIso}", "table", name, "count", (json_int_t)json_array_size(recs),
                             "records", recs));
    return 200;
}

/* "id", "ids" or "count" random records of table t (indexes into recs are not kept). */
static json_t *mutation_targets(int t, json_t *args, json_t **result, int *status)
{
    json_t *recs = TABLES[t].recs, *out = must(json_array());
    json_t *id = json_object_get(args, "id"), *ids = json_object_get(args, "ids");
    if (id || ids) {
        json_t *list = id ? must(json_pack("[O]", id)) : json_incref(ids);
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            json_t *r = json_is_integer(v) ? find_by_id(t, json_integer_value(v), NULL) : NULL;
            if (!r) {
                json_decref(list);
                json_decref(out);
                *status = cerr(result, 404, "no such record");
                return NULL;
            }
            jpush(out, json_incref(r));
        }
        json_decref(list);
        return out;
    }
    json_int_t count = json_is_integer(json_object_get(args, "count"))
                           ? json_integer_value(json_object_get(args, "count"))
                           : 1;
    size_t n = json_array_size(recs);
    size_t *idx = xmalloc((n ? n : 1) * sizeof *idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = 0; i < n && (json_int_t)i < count; i++) {
        size_t j = i + (size_t)sim_rand_range(0, (int64_t)(n - i) - 1);
        size_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
        jpush(out, json_incref(json_array_get(recs, idx[i])));
    }
    free(idx);
    return out;
}

static void bump_name(json_t *rec)
{
    const char *name = json_string_value(json_object_get(rec, "name"));
    if (!name)
        return;
    const char *suffix = strstr(name, " (rev ");
    int rev = 0;
    size_t base = strlen(name);
    if (suffix && sscanf(suffix, " (rev %d)", &rev) == 1)
        base = (size_t)(suffix - name);
    char out[512];
    snprintf(out, sizeof out, "%.*s (rev %d)", (int)(base < 400 ? base : 400), name, rev + 1);
    jset(rec, "name", json_string(out));
}

static int apply_set(json_t *rec, json_t *set)
{
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v)
    {
        if (strcmp(k, "id") == 0)
            return -1;
        jset(rec, k, json_incref(v));
    }
    return 0;
}

static int has_dates(int t)
{
    return t <= T_ACTIVITIES;
}

static int mutate_one(int t, const char *op, json_t *rec, json_t *args)
{
    int64_t now = now_s();
    json_t *set = json_object_get(args, "set");
    json_t *ad = json_object_get(args, "activity_date");
    if (strcmp(op, "update") == 0) {
        if (set) {
            if (apply_set(rec, set))
                return -1;
        } else {
            bump_name(rec);
            if (t == T_ACTIVITIES)
                jset(rec, "details", json_string("edited"));
        }
        if (t == T_ACTIVITIES && json_is_integer(ad))
            jset(rec, "activity_date", json_incref(ad));
    } else if (strcmp(op, "convert") == 0 && t == T_LEADS) {
        convert_lead(rec, now);
    } else if (strcmp(op, "backdate") == 0 && t == T_ACTIVITIES) {
        jset(rec, "activity_date",
             json_is_integer(ad) ? json_incref(ad) : json_integer(now - 10 * DAY_S));
    } else if (strcmp(op, "touch") != 0) {
        return -1;
    }
    if (has_dates(t))
        jset(rec, "date_modified", json_integer(now));
    return 0;
}

static int mutate_create(int t, json_t *args, json_t *out, json_t **result)
{
    json_t *c = json_object_get(args, "count"), *set = json_object_get(args, "set");
    json_t *ad = json_object_get(args, "activity_date");
    json_int_t count = json_is_integer(c) ? json_integer_value(c) : 1;
    if (count < 1 || count > 200000)
        return cerr(result, 400, "invalid count");
    int64_t now = now_s();
    for (json_int_t k = 0; k < count; k++) {
        json_t *r = record_new(t, json_is_integer(ad) ? json_integer_value(ad) : now);
        if (has_dates(t))
            stamp(r, now, now);
        if (set && apply_set(r, set)) {
            json_decref(r);
            return cerr(result, 400, "\"set\" must not name id");
        }
        jpush(TABLES[t].recs, r);
        jpush(out, json_deep_copy(r));
    }
    return 200;
}

static void remove_record(int t, json_t *rec)
{
    size_t idx;
    json_int_t id = jint(rec, "id");
    if (!find_by_id(t, id, &idx))
        return;
    if (t == T_ACTIVITIES)
        jpush(C.deleted_activities, json_integer(id));
    if (json_array_remove(TABLES[t].recs, idx))
        abort();
    C.gen++;
}

static int control_mutate(json_t *args, json_t **result)
{
    const char *name = json_string_value(json_object_get(args, "table"));
    const char *op = json_string_value(json_object_get(args, "op"));
    if (!name || !op)
        return cerr(result, 400, "mutate needs \"table\" and \"op\"");
    int t =
        strcmp(name, "activities_search") == 0 ? T_ACTIVITIES : table_by_name(name, strlen(name));
    if (t < 0 || t == T_PIPELINES)
        return cerr(result, 400, "table cannot be mutated");
    json_t *set = json_object_get(args, "set");
    if (set && !json_is_object(set))
        return cerr(result, 400, "\"set\" must be an object");
    json_t *out = must(json_array());
    int status = 200;
    if (strcmp(op, "create") == 0) {
        status = mutate_create(t, args, out, result);
    } else {
        json_t *targets = mutation_targets(t, args, result, &status);
        size_t i;
        json_t *rec;
        json_array_foreach(targets, i, rec)
        {
            if (strcmp(op, "delete") == 0) {
                jpush(out, json_deep_copy(rec));
                remove_record(t, rec);
            } else if (mutate_one(t, op, rec, args)) {
                status = cerr(result, 400, "unknown op for this table, or \"set\" names id");
                break;
            } else {
                jpush(out, json_deep_copy(rec));
            }
        }
        json_decref(targets);
    }
    if (status == 200)
        *result = must(json_pack("{sssssO}", "table", name, "op", op, "records", out));
    json_decref(out);
    return status;
}

/* ---- drift: mutations between page requests ------------------------------------------------ *
 * Before serving a search of a people/companies/leads/opportunities/projects/tasks/activities
 * table (pages of syncs, reconciliation listings and confirmations alike), with percent chances
 * from params, all drawn from the seeded PRNG:
 *   drift_boundary  the record served LAST by the previous search of that table is updated,
 *                   touched or deleted (activities: edited, backdated, future-dated or deleted);
 *   drift_random    a random create, update or delete in that table (activities: also created
 *                   backdated or future-dated).
 * Backdates go up to param drift_backdate_days (default 5) into the past, future dates up to 10
 * days ahead. Every mutation is dated now, so a fast sync sees many in the current second.
 * Counted in copper_stats as drift_mutations. */

static int drift_roll(const char *param)
{
    long long pct = sim_param_int(param, 0);
    return pct > 0 && sim_rand_range(0, 99) < pct;
}

/* An activity_date for a drifted activity: backdated (within drift_backdate_days) or future. */
static json_t *drift_activity_date(int future)
{
    int64_t now = now_s(), days = sim_param_int("drift_backdate_days", 5);
    if (future)
        return json_integer(now + sim_rand_range(60, 10 * DAY_S));
    return json_integer(now - sim_rand_range(60, (days > 0 ? days : 1) * DAY_S));
}

static void drift_mutate(int t, json_t *rec)
{
    int pick = (int)sim_rand_range(0, 9);
    if (pick < 3) {
        remove_record(t, rec);
    } else if (t == T_ACTIVITIES && pick >= 7) {
        json_t *args = must(json_pack("{so}", "activity_date", drift_activity_date(pick == 9)));
        if (mutate_one(t, "backdate", rec, args))
            abort();
        json_decref(args);
    } else {
        json_t *args = must(json_object());
        if (mutate_one(t, pick < 5 ? "update" : "touch", rec, args))
            abort();
        json_decref(args);
    }
    C.drifted++;
    C.gen++;
}

static void drift_create(int t)
{
    json_t *args = must(json_object()), *out = must(json_array()), *result = NULL;
    if (t == T_ACTIVITIES && sim_rand01() < 0.5)
        jset(args, "activity_date", drift_activity_date(sim_rand01() < 0.5));
    if (mutate_create(t, args, out, &result) != 200)
        abort();
    json_decref(result);
    json_decref(out);
    json_decref(args);
    C.drifted++;
    C.gen++;
}

static void drift_before_search(int t)
{
    if (t > T_ACTIVITIES)
        return;
    json_t *rec = C.last_served[t] ? find_by_id(t, C.last_served[t], NULL) : NULL;
    if (rec && drift_roll("drift_boundary")) {
        drift_mutate(t, rec);
        C.boundary++;
    }
    if (!drift_roll("drift_random"))
        return;
    size_t n = json_array_size(TABLES[t].recs);
    if (n == 0 || sim_rand01() < 0.34)
        drift_create(t);
    else
        drift_mutate(t, json_array_get(TABLES[t].recs, (size_t)sim_rand_range(0, (int64_t)n - 1)));
}

static int copper_control(const char *action, json_t *args, json_t **result)
{
    if (strcmp(action, "truth") == 0)
        return control_truth(args, result);
    if (strcmp(action, "mutate") == 0) {
        int status = control_mutate(args, result);
        C.gen++;
        return status;
    }
    if (strcmp(action, "copper_stats") == 0) {
        *result = must(json_pack(
            "{sIsIsIsIsIsIsI}", "capped_requests", (json_int_t)C.capped, "rate_limited",
            (json_int_t)C.limited, "searches", (json_int_t)C.searches, "created_window_searches",
            (json_int_t)C.windowed, "drift_mutations", (json_int_t)C.drifted, "boundary_mutations",
            (json_int_t)C.boundary, "ids_searches", (json_int_t)C.id_searches));
        return 200;
    }
    return 404;
}

const sim_crm sim_copper = {
    .name = "copper",
    .init = copper_init,
    .handle = copper_handle,
    .control = copper_control,
    .rate_limited = copper_rate_limited,
    .free = copper_free,
};
