/* model.c — the Copper simulator's data: records of every table, seeding, the reference
 * lists and the lists derived from the records (tags, pipeline stages, activity types). */
#include "copper_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- JSON helpers that never ignore a failure (out of memory aborts: it is a test tool) ---
 */

json_t *copper_must(json_t *v)
{
    if (!v) {
        fprintf(stderr, "copper: out of memory building JSON\n");
        abort();
    }
    return v;
}

void copper_jset(json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, copper_must(v))) {
        fprintf(stderr, "copper: cannot set %s\n", key);
        abort();
    }
}

void copper_jpush(json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, copper_must(v))) {
        fprintf(stderr, "copper: cannot append\n");
        abort();
    }
}

json_int_t copper_jint(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

copper_state CU;

/* ---- data ----------------------------------------------------------------------------------- */

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

ctable CU_TABLES[N_TABLES] = {
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

int64_t copper_now_s(void)
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
    json_t *recs = CU_TABLES[t].recs;
    size_t n = json_array_size(recs);
    if (!n || sim_rand01() < p_null)
        return json_null();
    return json_incref(
        json_object_get(json_array_get(recs, (size_t)sim_rand_range(0, (int64_t)n - 1)), "id"));
}

static json_t *random_tags(void)
{
    json_t *tags = copper_must(json_array());
    unsigned used = 0;
    int n = (int)sim_rand_range(0, 2);
    for (int k = 0; k < n; k++) {
        int t = (int)sim_rand_range(0, NELEM(TAGS) - 1);
        if (!(used & 1u << t))
            copper_jpush(tags, json_string(TAGS[t]));
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
    return copper_must(json_pack("{ss ss so ss ss}", "street", street, "city", PICK(CITIES),
                                 "state", sim_rand01() < 0.5 ? json_string("CA") : json_null(),
                                 "postal_code", "94110", "country", "US"));
}

static json_t *category_list(const char *key, const char *value, const char *category)
{
    json_t *a = copper_must(json_array());
    if (sim_rand01() < 0.8)
        copper_jpush(a, json_pack("{ssss}", key, value, "category", category));
    return a;
}

/* A Currency value: a number (the currency is the definition's), whole units or with cents,
 * from the draw r in [0.3, 1) that decided it is set (no draw of its own, so the simulator's other
 * data stay what they were for every seed). */
static json_t *currency_value(double r)
{
    long long cents = (long long)((r - 0.3) / 0.7 * 10000000.0);
    return cents % 3 == 0 ? json_integer(cents / 100) : json_real((double)cents / 100.0);
}

/* One custom-field value matching the definition's data_type (polymorphic on purpose). */
static json_t *custom_value(const json_t *def)
{
    const char *type = json_string_value(json_object_get(def, "data_type"));
    double r = sim_rand01();
    if (r < 0.3 && strcmp(type, "Checkbox") && strcmp(type, "MultiSelect"))
        return json_null();
    const json_t *opts = json_object_get(def, "options");
    if (strcmp(type, "Currency") == 0)
        return currency_value(r);
    if (strcmp(type, "String") == 0)
        return json_string(PICK(NOTES));
    if (strcmp(type, "Checkbox") == 0)
        return json_boolean(sim_rand01() < 0.5);
    if (strcmp(type, "Date") == 0)
        return json_integer(CU.epoch_s - sim_rand_range(0, 90) * DAY_S);
    if (strcmp(type, "Float") == 0)
        return json_real((double)sim_rand_range(0, 100000) / 100.0);
    if (strcmp(type, "Dropdown") == 0)
        return json_incref(json_object_get(
            json_array_get(opts, (size_t)sim_rand_range(0, (int64_t)json_array_size(opts) - 1)),
            "id"));
    if (strcmp(type, "Percentage") == 0)
        return json_integer((json_int_t)(r * 100));
    if (strcmp(type, "MultiSelect") != 0) /* Text, URL, Connect, and any other: text */
        return json_string(PICK(NOTES));
    json_t *a = copper_must(json_array());
    for (size_t i = 0; i < json_array_size(opts); i++)
        if (sim_rand01() < 0.4)
            copper_jpush(a, json_incref(json_object_get(json_array_get(opts, i), "id")));
    return a;
}

/* One entry per definition available on `entity`, even when empty. */
static json_t *custom_fields(const char *entity)
{
    json_t *out = copper_must(json_array());
    size_t i;
    json_t *def;
    json_array_foreach(CU_TABLES[T_CFDS].recs, i, def)
    {
        size_t k;
        json_t *on;
        json_array_foreach(json_object_get(def, "available_on"), k, on)
        {
            if (strcmp(json_string_value(on), entity) == 0)
                copper_jpush(out, json_pack("{sOso}", "custom_field_definition_id",
                                            json_object_get(def, "id"), "value",
                                            copper_must(custom_value(def))));
        }
    }
    return out;
}

void copper_stamp(json_t *rec, int64_t created, int64_t modified)
{
    copper_jset(rec, "date_created", json_integer(created));
    copper_jset(rec, "date_modified", json_integer(modified));
}

static json_t *find_record(int t, json_int_t id)
{
    return copper_find_by_id(t, id, NULL);
}

static json_t *notes(void)
{
    return maybe_null(json_string(PICK(NOTES)), 0.5);
}

static json_t *named(json_int_t id, const char *name)
{
    json_t *r = copper_must(json_object());
    copper_jset(r, "id", json_integer(id));
    copper_jset(r, "name", json_string(name));
    return r;
}

/* Fields people and leads share. */
static json_t *contact_new(json_int_t id)
{
    const char *first = PICK(FIRST), *last = PICK(LAST);
    char name[96];
    snprintf(name, sizeof name, "%s %s", first, last);
    json_t *p = named(id, name);
    copper_jset(p, "prefix", json_null());
    copper_jset(p, "first_name", json_string(first));
    copper_jset(p, "middle_name", json_null());
    copper_jset(p, "last_name", json_string(last));
    copper_jset(p, "suffix", json_null());
    copper_jset(p, "address", random_address());
    copper_jset(p, "assignee_id", random_id_of(T_USERS, 0.2));
    copper_jset(p, "details", notes());
    copper_jset(p, "socials", json_array());
    copper_jset(p, "tags", random_tags());
    copper_jset(p, "date_last_contacted", maybe_null(json_integer(CU.epoch_s - DAY_S), 0.5));
    copper_jset(p, "interaction_count", json_integer(sim_rand_range(0, 40)));
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
    copper_jset(p, "company_id", company);
    copper_jset(p, "company_name", crec ? json_incref(json_object_get(crec, "name")) : json_null());
    copper_jset(p, "contact_type_id", random_id_of(T_CONTACT_TYPES, 0.1));
    copper_jset(p, "emails", category_list("email", email, "work"));
    copper_jset(p, "phone_numbers", category_list("number", "+1 415 555 0100", "mobile"));
    copper_jset(p, "websites", category_list("url", "https://example.com", "work"));
    copper_jset(p, "title", maybe_null(json_string("Engineer"), 0.3));
    copper_jset(p, "leads_converted_from", json_array());
    copper_jset(p, "date_lead_created", json_null());
    copper_jset(p, "custom_fields", custom_fields("person"));
    return p;
}

static json_t *company_new(json_int_t id)
{
    char name[96], domain[96];
    snprintf(name, sizeof name, "%s %lld", PICK(COMPANY_WORDS), (long long)id);
    snprintf(domain, sizeof domain, "c%lld.example.com", (long long)id);
    json_t *c = named(id, name);
    copper_jset(c, "address", random_address());
    copper_jset(c, "assignee_id", random_id_of(T_USERS, 0.2));
    copper_jset(c, "contact_type_id", random_id_of(T_CONTACT_TYPES, 0.1));
    copper_jset(c, "details", notes());
    copper_jset(c, "email_domain", json_string(domain));
    copper_jset(c, "phone_numbers", category_list("number", "+1 212 555 0199", "work"));
    copper_jset(c, "socials", json_array());
    copper_jset(c, "websites", category_list("url", "https://example.org", "work"));
    copper_jset(c, "tags", random_tags());
    copper_jset(c, "primary_contact_id", json_null());
    copper_jset(c, "interaction_count", json_integer(sim_rand_range(0, 99)));
    copper_jset(c, "custom_fields", custom_fields("company"));
    return c;
}

static json_t *lead_status_pick(void)
{
    json_t *recs = CU_TABLES[T_LEAD_STATUSES].recs;
    return json_array_get(recs, (size_t)sim_rand_range(0, (int64_t)json_array_size(recs) - 1));
}

static json_t *lead_new(json_int_t id)
{
    char email[128];
    snprintf(email, sizeof email, "lead%lld@example.net", (long long)id);
    json_t *l = contact_new(id);
    json_t *st = lead_status_pick();
    copper_jset(l, "company_name", maybe_null(json_string(PICK(COMPANY_WORDS)), 0.3));
    copper_jset(l, "title", json_string("Buyer"));
    copper_jset(l, "email",
                maybe_null(json_pack("{ssss}", "email", email, "category", "work"), 0.2));
    copper_jset(l, "status", json_incref(json_object_get(st, "name")));
    copper_jset(l, "status_id", json_incref(json_object_get(st, "id")));
    copper_jset(l, "customer_source_id", random_id_of(T_CUSTOMER_SOURCES, 0.3));
    copper_jset(l, "monetary_value", maybe_null(json_integer(sim_rand_range(100, 90000)), 0.3));
    copper_jset(l, "monetary_unit", json_string("USD"));
    copper_jset(l, "converted_value", json_null());
    copper_jset(l, "converted_unit", json_null());
    copper_jset(l, "phone_numbers", category_list("number", "+44 20 7946 0000", "work"));
    copper_jset(l, "websites", json_array());
    copper_jset(l, "converted_opportunity_id", json_null());
    copper_jset(l, "converted_contact_id", json_null());
    copper_jset(l, "converted_at", json_null());
    copper_jset(l, "custom_fields", custom_fields("lead"));
    return l;
}

static json_t *pipeline_pick(json_t **stage)
{
    json_t *pls = CU_TABLES[T_PIPELINES].recs;
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
    copper_jset(o, "assignee_id", random_id_of(T_USERS, 0.2));
    copper_jset(o, "close_date", maybe_null(json_string(close), 0.2));
    copper_jset(o, "company_id", random_id_of(T_COMPANIES, 0.3));
    copper_jset(o, "company_name", json_null());
    copper_jset(o, "customer_source_id", random_id_of(T_CUSTOMER_SOURCES, 0.3));
    copper_jset(o, "details", notes());
    copper_jset(o, "loss_reason_id",
                strcmp(status, "Lost") == 0 ? random_id_of(T_LOSS_REASONS, 0) : json_null());
    copper_jset(o, "pipeline_id", json_incref(json_object_get(pl, "id")));
    copper_jset(o, "pipeline_stage_id", json_incref(json_object_get(stage, "id")));
    copper_jset(o, "primary_contact_id", random_id_of(T_PEOPLE, 0.3));
    copper_jset(o, "priority", json_string(PICK(PRIORITY)));
    copper_jset(o, "status", json_string(status));
    copper_jset(o, "tags", random_tags());
    copper_jset(o, "interaction_count", json_integer(sim_rand_range(0, 30)));
    copper_jset(o, "monetary_value", json_real((double)sim_rand_range(0, 5000000) / 100.0));
    copper_jset(o, "monetary_unit", json_string("USD"));
    copper_jset(o, "converted_value", json_null());
    copper_jset(o, "converted_unit", json_null());
    copper_jset(o, "win_probability", json_incref(json_object_get(stage, "win_probability")));
    copper_jset(o, "date_stage_changed", json_integer(CU.epoch_s - sim_rand_range(1, 30) * DAY_S));
    copper_jset(o, "date_last_contacted", json_null());
    copper_jset(o, "leads_converted_from", json_array());
    copper_jset(o, "date_lead_created", json_null());
    copper_jset(o, "custom_fields", custom_fields("opportunity"));
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
    copper_jset(p, "related_resource", related_resource());
    copper_jset(p, "assignee_id", random_id_of(T_USERS, 0.2));
    copper_jset(p, "status", json_string(sim_rand01() < 0.7 ? "Open" : "Completed"));
    copper_jset(p, "details", notes());
    copper_jset(p, "tags", random_tags());
    copper_jset(p, "custom_fields", custom_fields("project"));
    return p;
}

static json_t *task_new(json_int_t id)
{
    char name[96];
    snprintf(name, sizeof name, "Follow up %lld", (long long)id);
    int done = sim_rand01() < 0.3;
    json_t *t = named(id, name);
    copper_jset(t, "related_resource", related_resource());
    copper_jset(t, "assignee_id", random_id_of(T_USERS, 0.1));
    copper_jset(t, "due_date",
                maybe_null(json_integer(CU.epoch_s + sim_rand_range(-20, 20) * DAY_S), 0.3));
    copper_jset(t, "reminder_date", json_null());
    copper_jset(t, "completed_date", done ? json_integer(CU.epoch_s - DAY_S) : json_null());
    copper_jset(t, "priority", json_string(sim_rand01() < 0.5 ? "None" : "High"));
    copper_jset(t, "status", json_string(done ? "Completed" : "Open"));
    copper_jset(t, "details", notes());
    copper_jset(t, "tags", random_tags());
    copper_jset(t, "custom_activity_type_id", json_null());
    copper_jset(t, "custom_fields", custom_fields("task"));
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
    json_t *a = copper_must(json_object());
    copper_jset(a, "id", json_integer(id));
    copper_jset(a, "type",
                json_pack("{sIss}", "id", (json_int_t)(system ? 1 : 0), "category",
                          system ? "system" : "user"));
    copper_jset(a, "parent", activity_parent());
    copper_jset(a, "user_id", random_id_of(T_USERS, 0));
    copper_jset(a, "details", system ? json_null() : json_string(PICK(NOTES)));
    copper_jset(a, "activity_date", json_integer(activity_date));
    copper_jset(a, "old_value", system ? json_string("Open") : json_null());
    copper_jset(a, "new_value",
                system ? json_pack("{ssss}", "id", "2", "name", "Won") : json_null());
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
    copper_jset(u, "email", json_string(email));
    copper_jset(u, "groups",
                json_pack("[{sIss}]", "id", (json_int_t)(id % 2 + 1), "name",
                          id % 2 ? "Sales" : "Support"));
    return u;
}

/* A new record of table t with the next id; dates are stamped by the caller. */
json_t *copper_record_new(int t, int64_t activity_date)
{
    ctable *ct = &CU_TABLES[t];
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
        return copper_must(json_pack("{sIss}", "id", id, "name", name));
    }
    }
}

void copper_convert_lead(json_t *lead, int64_t at)
{
    copper_jset(lead, "converted_at", json_integer(at));
    copper_jset(lead, "converted_opportunity_id", random_id_of(T_OPPS, 0));
    copper_jset(lead, "converted_contact_id", random_id_of(T_PEOPLE, 0));
    copper_jset(lead, "converted_value", json_incref(json_object_get(lead, "monetary_value")));
    copper_jset(lead, "converted_unit", json_string("USD"));
}

int copper_is_converted(const json_t *lead)
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
        copper_jpush(CU_TABLES[T_CONTACT_TYPES].recs,
                     json_pack("{sIss}", "id", (json_int_t)(501 + i), "name", CT[i]));
        copper_jpush(CU_TABLES[T_CUSTOMER_SOURCES].recs,
                     json_pack("{sIss}", "id", (json_int_t)(601 + i), "name", CS[i]));
        copper_jpush(CU_TABLES[T_LEAD_STATUSES].recs,
                     json_pack("{sIsssisb}", "id", (json_int_t)(701 + i), "name", LS[i], "order",
                               i + 1, "is_default", i == 0));
    }
    for (int i = 0; i < 3; i++)
        copper_jpush(CU_TABLES[T_LOSS_REASONS].recs,
                     json_pack("{sIss}", "id", (json_int_t)(801 + i), "name", LR[i]));
    copper_jpush(CU_TABLES[T_PIPELINES].recs,
                 json_pack("{sIsss[{sIsssi}{sIsssi}{sIsssi}]}", "id", (json_int_t)901, "name",
                           "Sales", "stages", "id", (json_int_t)9011, "name", "Qualified",
                           "win_probability", 10, "id", (json_int_t)9012, "name", "Proposal",
                           "win_probability", 50, "id", (json_int_t)9013, "name", "Negotiation",
                           "win_probability", 80));
    copper_jpush(CU_TABLES[T_PIPELINES].recs,
                 json_pack("{sIsss[{sIsssi}{sIsssi}]}", "id", (json_int_t)902, "name", "Renewals",
                           "stages", "id", (json_int_t)9021, "name", "Due", "win_probability", 60,
                           "id", (json_int_t)9022, "name", "Signed", "win_probability", 100));
    json_t *cfd = CU_TABLES[T_CFDS].recs;
    copper_jpush(cfd, json_pack("{sIsssss[ssss]sb}", "id", (json_int_t)1001, "name", "Region",
                                "data_type", "String", "available_on", "person", "company", "lead",
                                "opportunity", "is_filterable", 1));
    copper_jpush(cfd, json_pack("{sIsssss[ss]sbs[{sIsssi}{sIsssi}]}", "id", (json_int_t)1002,
                                "name", "Tier", "data_type", "Dropdown", "available_on", "company",
                                "opportunity", "is_filterable", 1, "options", "id",
                                (json_int_t)10021, "name", "Gold", "rank", 1, "id",
                                (json_int_t)10022, "name", "Silver", "rank", 2));
    copper_jpush(cfd, json_pack("{sIsssss[sss]sb}", "id", (json_int_t)1003, "name", "Newsletter",
                                "data_type", "Checkbox", "available_on", "person", "lead", "task",
                                "is_filterable", 1));
    copper_jpush(cfd, json_pack("{sIsssss[ss]sb}", "id", (json_int_t)1004, "name", "Renewal date",
                                "data_type", "Date", "available_on", "opportunity", "project",
                                "is_filterable", 0));
    copper_jpush(cfd, json_pack("{sIsssss[ss]sbss}", "id", (json_int_t)1005, "name", "Budget",
                                "data_type", "Currency", "available_on", "opportunity", "lead",
                                "is_filterable", 0, "currency", "USD"));
    copper_jpush(cfd, json_pack("{sIsssss[sss]sbs[{sIsssi}{sIsssi}{sIsssi}]}", "id",
                                (json_int_t)1006, "name", "Interests", "data_type", "MultiSelect",
                                "available_on", "person", "company", "project", "is_filterable", 1,
                                "options", "id", (json_int_t)10061, "name", "API", "rank", 1, "id",
                                (json_int_t)10062, "name", "Mobile", "rank", 2, "id",
                                (json_int_t)10063, "name", "Ünïcode", "rank", 3));
    copper_jpush(cfd,
                 json_pack("{sIsssss[s]sb}", "id", (json_int_t)1007, "name", "Score", "data_type",
                           "Float", "available_on", "person", "is_filterable", 1));
    for (int t = T_CONTACT_TYPES; t < N_TABLES; t++)
        CU_TABLES[t].next_id = 5000 + t * 100;
}

/* Seeds n records of table t dated in the 60 days before the epoch (some sharing a second). */
static void seed_table(int t, long long n)
{
    int64_t lo = CU.epoch_s - 60 * DAY_S, hi = CU.epoch_s - 1, prev = 0;
    for (long long k = 0; k < n; k++) {
        int64_t created = sim_rand_range(lo, hi);
        int64_t modified = sim_rand_range(created, hi);
        if (k > 0 && sim_rand01() < 0.1 && prev >= created)
            modified = prev;
        json_t *r = copper_record_new(t, modified);
        if (t != T_USERS)
            copper_stamp(r, created, modified);
        if (t == T_ACTIVITIES) /* as in the 2019 examples: modified == activity_date */
            copper_jset(r, "date_modified", json_integer(modified));
        if (t == T_LEADS && k % 8 == 7)
            copper_convert_lead(r, modified);
        copper_jpush(CU_TABLES[t].recs, r);
        prev = modified;
    }
}

int copper_init(const sim_options *opts)
{
    memset(&CU, 0, sizeof CU);
    CU.epoch_s = opts->epoch_ms / 1000;
    CU.deleted_activities = copper_must(json_array());
    for (int t = 0; t < N_TABLES; t++)
        CU_TABLES[t].recs = copper_must(json_array());
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
        CU_TABLES[SIZES[i].t].next_id = SIZES[i].first_id;
        seed_table(SIZES[i].t, n);
    }
    CU.account = copper_must(
        json_pack("{sIsssss{sbsb}}", "id", (json_int_t)424242, "name", "Simulated Copper Account",
                  "primary_timezone", "America/Los_Angeles", "settings",
                  "setting_team_permissions_enabled", 0, "setting_enable_leads", 1));
    CU.window = xcalloc(1, sizeof(int64_t));
    return 0;
}

void copper_free(void)
{
    copper_hits_free();
    for (int t = 0; t < N_TABLES; t++) {
        json_decref(CU_TABLES[t].recs);
        CU_TABLES[t].recs = NULL;
    }
    json_decref(CU.account);
    json_decref(CU.deleted_activities);
    free(CU.window);
}

/* ---- derived tables ------------------------------------------------------------------------ */

json_t *copper_pipeline_stages(void)
{
    json_t *out = copper_must(json_array());
    size_t i, k;
    json_t *pl, *st;
    json_array_foreach(CU_TABLES[T_PIPELINES].recs, i, pl)
    {
        json_array_foreach(json_object_get(pl, "stages"), k, st)
        {
            json_t *s = copper_must(json_deep_copy(st));
            copper_jset(s, "pipeline_id", json_incref(json_object_get(pl, "id")));
            copper_jpush(out, s);
        }
    }
    return out;
}

static void count_tag(json_t *counts, const char *tag, const char *field)
{
    json_t *t = json_object_get(counts, tag);
    if (!t) {
        t = copper_must(json_pack("{sssisisisisisisi}", "name", tag, "count", 0, "count_people", 0,
                                  "count_leads", 0, "count_companies", 0, "count_opportunities", 0,
                                  "count_projects", 0, "count_tasks", 0));
        copper_jset(counts, tag, t);
    }
    copper_jset(t, "count", json_integer(copper_jint(t, "count") + 1));
    copper_jset(t, field, json_integer(copper_jint(t, field) + 1));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

/* Tags with their per-entity counts, computed from the records, sorted by name. */
json_t *copper_tags_list(void)
{
    static const struct {
        int t;
        const char *field;
    } SRC[] = {{T_PEOPLE, "count_people"},       {T_LEADS, "count_leads"},
               {T_COMPANIES, "count_companies"}, {T_OPPS, "count_opportunities"},
               {T_PROJECTS, "count_projects"},   {T_TASKS, "count_tasks"}};
    json_t *counts = copper_must(json_object());
    for (size_t s = 0; s < sizeof SRC / sizeof SRC[0]; s++) {
        size_t i, k;
        json_t *r, *tag;
        json_array_foreach(CU_TABLES[SRC[s].t].recs, i, r)
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
    json_t *out = copper_must(json_array());
    for (i = 0; i < n; i++)
        copper_jpush(out, json_incref(v[i]));
    free(v);
    json_decref(counts);
    return out;
}

json_t *copper_activity_types(void)
{
    return copper_must(json_pack(
        "{s[{sisssssbsb}{sisssssbsb}]s[{sisssssbsb}{sisssssbsb}]}", "user", "id", 0, "category",
        "user", "name", "Note", "is_disabled", 0, "count_as_interaction", 0, "id", 190, "category",
        "user", "name", "Phone Call", "is_disabled", 0, "count_as_interaction", 1, "system", "id",
        1, "category", "system", "name", "Property Changed", "is_disabled", 0,
        "count_as_interaction", 0, "id", 3, "category", "system", "name", "Pipeline Stage Changed",
        "is_disabled", 0, "count_as_interaction", 0));
}
