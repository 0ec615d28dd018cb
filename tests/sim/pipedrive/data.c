/* data.c — the Pipedrive simulator's records: seeded fixtures (ties, zero dates, "" times,
 * archived and deleted deals younger and older than the 30-day purge, custom fields in both
 * forms) and the "mutate" control action that changes them between polls or pages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "pd_sim.h"

pd_store PD[PD_NTABLES] = {
    [PD_DEALS] = {"deals", "update_time", 1, NULL, 0, 0, 1},
    [PD_PERSONS] = {"persons", "update_time", 1, NULL, 0, 0, 1},
    [PD_ORGS] = {"organizations", "update_time", 1, NULL, 0, 0, 1},
    [PD_ACTIVITIES] = {"activities", "update_time", 1, NULL, 0, 0, 1},
    [PD_PRODUCTS] = {"products", "update_time", 1, NULL, 0, 0, 1},
    [PD_STAGES] = {"stages", "update_time", 1, NULL, 0, 0, 1},
    [PD_PIPELINES] = {"pipelines", "update_time", 1, NULL, 0, 0, 1},
    [PD_NOTES] = {"notes", "update_time", 0, NULL, 0, 0, 1},
    [PD_USERS] = {"users", "modified", 0, NULL, 0, 0, 1},
    [PD_FILES] = {"files", "update_time", 0, NULL, 0, 0, 1},
    [PD_FILTERS] = {"filters", "update_time", 0, NULL, 0, 0, 1},
    [PD_ACTTYPES] = {"activity_types", "update_time", 0, NULL, 0, 0, 1},
    [PD_CURRENCIES] = {"currency", NULL, 0, NULL, 0, 0, 1},
    [PD_DEALPRODUCTS] = {"deal_products", "update_time", 1, NULL, 0, 0, 1},
    [PD_FLOW] = {"dealflow", "log_time", 0, NULL, 0, 0, 1},
    [PD_DEALFIELDS] = {"deal_fields", "update_time", 0, NULL, 0, 0, 1},
    [PD_PERSONFIELDS] = {"person_fields", "update_time", 0, NULL, 0, 0, 1},
    [PD_ORGFIELDS] = {"organization_fields", "update_time", 0, NULL, 0, 0, 1},
    [PD_PRODUCTFIELDS] = {"product_fields", "update_time", 0, NULL, 0, 0, 1},
};

pd_store PD_GRAVE[PD_NTABLES];
json_int_t PD_LAST_SERVED[PD_NTABLES];

char PD_CF_DEAL[4][41];
char PD_CF_PERSON[2][41];
char PD_CF_ORG[2][41];
char PD_CF_PRODUCT[1][41];

static int64_t lo_ms, hi_ms, prev_upd;

static const char *const WORDS[] = {"Acme", "Globex", "Initech", "Hooli",    "Café",  "Zürich",
                                    "東京", "Ωmega",  "Stark",   "Umbrella", "Naïve", "Wayne"};
static const char *const FIRST[] = {"Ana", "José", "Zoë", "Björn", "Chloé", "Łukasz", "Mei", "Olu"};
static const char *const LAST[] = {"García", "O'Brien", "Müller", "Nakamura", "Smith", "Dvořák"};
static const char *const CURR[] = {"EUR", "USD", "GBP"};

#define PICK(a) (a[sim_rand_range(0, (int64_t)(sizeof a / sizeof a[0]) - 1)])

/* ---- time helpers ------------------------------------------------------------------------ */

int64_t pd_now_s(void)
{
    int64_t n = sim_now_ms();
    return n - n % 1000;
}

json_t *pd_ts2(int64_t ms)
{
    char b[32];
    crm_time_format_seconds(ms, b, sizeof b);
    return json_string(b);
}

void pd_fmt1(int64_t ms, char *out, size_t len)
{
    char b[32];
    crm_time_format_seconds(ms, b, sizeof b);
    b[10] = ' ';
    b[19] = '\0';
    snprintf(out, len, "%s", b);
}

json_t *pd_ts1(int64_t ms)
{
    char b[32];
    pd_fmt1(ms, b, sizeof b);
    return json_string(b);
}

static json_t *ts_for(enum pd_table t, int64_t ms)
{
    return PD[t].v2 ? pd_ts2(ms) : pd_ts1(ms);
}

static json_t *date_json(int64_t ms)
{
    char b[32];
    crm_time_format_seconds(ms, b, sizeof b);
    b[10] = '\0';
    return json_string(b);
}

/* Random creation/update pair in the seed window; about a quarter of the updates share the
 * previous record's second exactly (same-second ties that straddle page boundaries). */
static void seed_times(int64_t *add, int64_t *upd)
{
    *add = sim_rand_range(lo_ms, hi_ms);
    *add -= *add % 1000;
    *upd = sim_rand_range(*add, hi_ms);
    *upd -= *upd % 1000;
    if (prev_upd && sim_rand01() < 0.25 && prev_upd >= *add)
        *upd = prev_upd;
    prev_upd = *upd;
}

/* ---- store ------------------------------------------------------------------------------- */

unsigned long PD_GEN;

/* Stores are kept in id order (ids are handed out ascending), so a binary search finds a record
 * in O(log n); the scan remains for a store that is not in order. */
pd_rec *pd_find(enum pd_table t, json_int_t id)
{
    size_t lo = 0, hi = PD[t].n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (PD[t].r[mid].id == id)
            return &PD[t].r[mid];
        if (PD[t].r[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = 0; i < PD[t].n; i++)
        if (PD[t].r[i].id == id)
            return &PD[t].r[i];
    return NULL;
}

pd_rec *pd_add(enum pd_table t, json_int_t id, int64_t add_ms, int64_t upd_ms, json_t *o)
{
    pd_store *s = &PD[t];
    PD_GEN++;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->r = xrealloc(s->r, s->cap * sizeof *s->r);
    }
    if (!id)
        id = s->next_id;
    if (id >= s->next_id)
        s->next_id = id + 1;
    pd_rec *r = &s->r[s->n++];
    r->id = id;
    r->add_ms = add_ms;
    r->upd_ms = upd_ms;
    r->del_ms = 0;
    r->o = o;
    if (!json_object_get(o, "id") || json_is_null(json_object_get(o, "id")))
        json_object_set_new(o, "id", json_integer(id));
    if (s->upd_key && t != PD_FLOW)
        json_object_set_new(o, s->upd_key, ts_for(t, upd_ms));
    return r;
}

static int has_grave(enum pd_table t)
{
    return t == PD_PERSONS || t == PD_ORGS || t == PD_ACTIVITIES || t == PD_PRODUCTS ||
           t == PD_NOTES || t == PD_FILES;
}

void pd_remove(enum pd_table t, pd_rec *r, int64_t when)
{
    pd_store *s = &PD[t];
    size_t i = (size_t)(r - s->r);
    PD_GEN++;
    if (has_grave(t)) {
        pd_store *g = &PD_GRAVE[t];
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 16;
            g->r = xrealloc(g->r, g->cap * sizeof *g->r);
        }
        g->r[g->n] = *r;
        g->r[g->n].del_ms = when;
        if (s->v2)
            json_object_set_new(g->r[g->n].o, "is_deleted", json_true());
        else
            json_object_set_new(g->r[g->n].o, "active_flag", json_false());
        g->n++;
    } else {
        json_decref(r->o);
    }
    memmove(&s->r[i], &s->r[i + 1], (s->n - i - 1) * sizeof *s->r);
    s->n--;
}

pd_rec *pd_find_deleted(enum pd_table t, json_int_t id)
{
    for (size_t i = 0; i < PD_GRAVE[t].n; i++)
        if (PD_GRAVE[t].r[i].id == id && !pd_purged(&PD_GRAVE[t].r[i]))
            return &PD_GRAVE[t].r[i];
    return NULL;
}

int pd_store_by_name(const char *name)
{
    for (int t = 0; t < PD_NTABLES; t++)
        if (name && strcmp(PD[t].name, name) == 0)
            return t;
    return -1;
}

void pd_touch(enum pd_table t, pd_rec *r, int64_t ms)
{
    PD_GEN++;
    r->upd_ms = ms;
    if (PD[t].upd_key)
        json_object_set_new(r->o, PD[t].upd_key, ts_for(t, ms));
}

int pd_purged(const pd_rec *r)
{
    return r->del_ms && sim_now_ms() - r->del_ms > sim_param_int("purge_days", 30) * PD_DAY_MS;
}

int pd_deal_visible(const pd_rec *deal)
{
    return deal && !pd_purged(deal);
}

static json_int_t rand_id(enum pd_table t)
{
    if (!PD[t].n)
        return 0;
    return PD[t].r[sim_rand_range(0, (int64_t)PD[t].n - 1)].id;
}

static json_t *id_or_null(json_int_t id)
{
    return id ? json_integer(id) : json_null();
}

static void hex_key(char out[41])
{
    for (int i = 0; i < 40; i++)
        out[i] = "0123456789abcdef"[sim_rand() % 16];
    out[40] = '\0';
}

/* ---- fields ------------------------------------------------------------------------------ */

static json_t *field_row(const char *key, const char *name, const char *type, int custom,
                         json_t *options)
{
    return json_pack("{s:s,s:s,s:i,s:s,s:b,s:i,s:i,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,"
                     "s:o,s:o}",
                     "key", key, "name", name, "order_nr", 0, "field_type", type,
                     "json_column_flag", 0, "last_updated_by_user_id", 1, "created_by_user_id", 1,
                     "active_flag", 1, "edit_flag", custom, "index_visible_flag", 1,
                     "details_visible_flag", 1, "add_visible_flag", 1, "important_flag", 0,
                     "bulk_edit_allowed", 1, "searchable_flag", 0, "filtering_allowed", 1,
                     "sortable_flag", 1, "options", options ? options : json_null(),
                     "mandatory_flag", json_false());
}

static json_t *enum_options(int base)
{
    return json_pack("[{s:i,s:s,s:s},{s:i,s:s,s:s},{s:i,s:s}]", "id", base, "label", "Gold",
                     "color", "yellow", "id", base + 1, "label", "Silver", "color", "grey", "id",
                     base + 2, "label", "Bronze ü");
}

static void add_field(enum pd_table t, json_t *row)
{
    int64_t add, upd;
    seed_times(&add, &upd);
    json_object_set_new(row, "add_time", pd_ts1(add));
    json_object_set_new(row, "order_nr", json_integer((json_int_t)PD[t].n));
    pd_add(t, 0, add, upd, row);
}

/* Subfield rows carry parent_id and a null id; they are not listed in truth. */
static void add_subfield(enum pd_table t, const char *key, const char *suffix, const char *name)
{
    pd_rec *parent = &PD[t].r[PD[t].n - 1];
    char k[64];
    snprintf(k, sizeof k, "%s_%s", key, suffix);
    json_t *row =
        json_pack("{s:n,s:s,s:s,s:s,s:I,s:b,s:s,s:s}", "id", "key", k, "name", name, "field_type",
                  "varchar", "parent_id", (json_int_t)parent->id, "is_subfield", 1, "id_suffix",
                  suffix, "add_time", json_string_value(json_object_get(parent->o, "add_time")));
    /* Kept outside the store's id space: id 0 marks "subfield" for the API and truth. */
    pd_store *s = &PD[t];
    if (s->n == s->cap) {
        s->cap *= 2;
        s->r = xrealloc(s->r, s->cap * sizeof *s->r);
    }
    pd_rec *r = &s->r[s->n++];
    r->id = 0;
    r->add_ms = parent->add_ms;
    r->upd_ms = parent->upd_ms;
    r->del_ms = 0;
    r->o = row;
    json_object_set(row, "update_time", json_object_get(parent->o, "update_time"));
}

static void seed_fields(void)
{
    static const char *const deal_builtin[][3] = {{"title", "Title", "varchar"},
                                                  {"value", "Value", "monetary"},
                                                  {"stage_id", "Stage", "stage"},
                                                  {"status", "Status", "status"},
                                                  {"add_time", "Deal created", "date"}};
    for (size_t i = 0; i < 5; i++)
        add_field(PD_DEALFIELDS,
                  field_row(deal_builtin[i][0], deal_builtin[i][1], deal_builtin[i][2], 0, NULL));
    add_field(PD_DEALFIELDS, field_row(PD_CF_DEAL[0], "Contract value", "monetary", 1, NULL));
    add_subfield(PD_DEALFIELDS, PD_CF_DEAL[0], "currency", "Contract value currency");
    add_field(PD_DEALFIELDS, field_row(PD_CF_DEAL[1], "Tier", "enum", 1, enum_options(11)));
    add_field(PD_DEALFIELDS, field_row(PD_CF_DEAL[2], "Regions", "set", 1, enum_options(21)));
    add_field(PD_DEALFIELDS, field_row(PD_CF_DEAL[3], "Källa / source", "varchar", 1, NULL));
    add_field(PD_PERSONFIELDS, field_row("name", "Name", "varchar", 0, NULL));
    add_field(PD_PERSONFIELDS, field_row("email", "Email", "varchar", 0, NULL));
    add_field(PD_PERSONFIELDS, field_row(PD_CF_PERSON[0], "Nickname", "varchar", 1, NULL));
    add_field(PD_PERSONFIELDS, field_row(PD_CF_PERSON[1], "Segment", "enum", 1, enum_options(31)));
    add_field(PD_ORGFIELDS, field_row("name", "Name", "varchar", 0, NULL));
    add_field(PD_ORGFIELDS, field_row("address", "Address", "address", 0, NULL));
    add_field(PD_ORGFIELDS, field_row(PD_CF_ORG[0], "VAT number", "varchar", 1, NULL));
    add_field(PD_ORGFIELDS, field_row(PD_CF_ORG[1], "Industry", "enum", 1, enum_options(41)));
    add_field(PD_PRODUCTFIELDS, field_row("name", "Name", "varchar", 0, NULL));
    add_field(PD_PRODUCTFIELDS, field_row(PD_CF_PRODUCT[0], "SKU family", "varchar", 1, NULL));
}

/* ---- small tables ------------------------------------------------------------------------ */

static void seed_users(long n)
{
    for (long i = 1; i <= n; i++) {
        int64_t add, upd;
        seed_times(&add, &upd);
        char email[64], name[96];
        snprintf(email, sizeof email, "user%ld@example.com", i);
        const char *f = PICK(FIRST);
        snprintf(name, sizeof name, "%s %s", f, PICK(LAST));
        /* user 3 never logged in: the legacy zero date */
        json_t *last_login = i == 3 ? json_string("0000-00-00 00:00:00") : pd_ts1(upd);
        json_t *u = json_pack(
            "{s:s,s:s,s:n,s:s,s:s,s:s,s:b,s:o,s:o,s:b,s:[{s:s,s:b,s:s}],s:b,s:s,s:s,s:i,s:n,"
            "s:b,s:b,s:i}",
            "name", name, "email", email, "phone", "default_currency", "EUR", "locale", "en_US",
            "lang", "1", "activated", 1, "last_login", last_login, "created", pd_ts1(add),
            "has_created_company", i == 1, "access", "app", "sales", "admin", i == 1,
            "permission_set_id", "62e0c5d0-0000-4000-8000-000000000001", "active_flag", i != n,
            "timezone_name", "Europe/Berlin", "timezone_offset", "+01:00", "role_id", 1, "icon_url",
            "is_you", i == 1, "is_deleted", 0, "is_admin", i == 1 ? 1 : 0);
        pd_add(PD_USERS, i, add, upd, u);
    }
}

static void seed_pipelines(void)
{
    static const char *const stage_names[] = {"Qualified", "Proposal", "Négociation"};
    for (int p = 1; p <= 2; p++) {
        int64_t add, upd;
        seed_times(&add, &upd);
        pd_add(PD_PIPELINES, p, add, upd,
               json_pack("{s:s,s:i,s:b,s:b,s:o,s:b}", "name", p == 1 ? "Sales" : "Partners",
                         "order_nr", p, "is_deleted", 0, "is_deal_probability_enabled", p == 1,
                         "add_time", pd_ts2(add), "is_selected", p == 1));
        for (int s = 0; s < 3; s++) {
            seed_times(&add, &upd);
            pd_add(PD_STAGES, 0, add, upd,
                   json_pack("{s:i,s:s,s:b,s:i,s:i,s:b,s:o,s:o}", "order_nr", s + 1, "name",
                             stage_names[s], "is_deleted", 0, "deal_probability", 20 + 30 * s,
                             "pipeline_id", p, "is_deal_rot_enabled", s == 2, "days_to_rotten",
                             s == 2 ? json_integer(14) : json_null(), "add_time", pd_ts2(add)));
        }
    }
}

static void seed_misc(long n_files)
{
    static const char *const types[][3] = {
        {"Call", "call", "#ffcc00"},   {"Meeting", "meeting", "#00ccff"},
        {"Task", "task", "#cccccc"},   {"Deadline", "deadline", "#ff0000"},
        {"Email", "email", "#00ff00"}, {"Lunch 🍜", "lunch", "#aaaaaa"}};
    for (int i = 0; i < 6; i++) {
        int64_t add, upd;
        seed_times(&add, &upd);
        pd_add(PD_ACTTYPES, 0, add, upd,
               json_pack("{s:s,s:s,s:s,s:i,s:s,s:b,s:b,s:o}", "name", types[i][0], "icon_key",
                         types[i][1], "color", types[i][2] + 1, "order_nr", i + 1, "key_string",
                         types[i][1], "active_flag", 1, "is_custom_flag", i == 5, "add_time",
                         pd_ts1(add)));
    }
    static const char *const cur[][3] = {{"EUR", "Euro", "€"},
                                         {"USD", "US Dollar", "$"},
                                         {"GBP", "Pound", "£"},
                                         {"XBT", "Bit", "₿"}};
    for (int i = 0; i < 4; i++)
        pd_add(PD_CURRENCIES, 0, 0, 0,
               json_pack("{s:s,s:s,s:i,s:s,s:b,s:b}", "code", cur[i][0], "name", cur[i][1],
                         "decimal_points", i == 3 ? 8 : 2, "symbol", cur[i][2], "active_flag", 1,
                         "is_custom_flag", i == 3));
    static const char *const ftypes[] = {"deals", "people", "org", "products"};
    for (int i = 0; i < 4; i++) {
        int64_t add, upd;
        seed_times(&add, &upd);
        char name[64];
        snprintf(name, sizeof name, "My %s filter", ftypes[i]);
        pd_add(PD_FILTERS, 0, add, upd,
               json_pack("{s:s,s:b,s:s,s:b,s:i,s:o,s:s,s:n}", "name", name, "active_flag", 1,
                         "type", ftypes[i], "temporary_flag", 0, "user_id", 1, "add_time",
                         pd_ts1(add), "visible_to", "1", "custom_view_id"));
    }
    for (long i = 0; i < n_files; i++) {
        int64_t add, upd;
        seed_times(&add, &upd);
        char fname[64];
        snprintf(fname, sizeof fname, "quote-%ld.pdf", i + 1);
        pd_add(PD_FILES, 0, add, upd,
               json_pack("{s:I,s:o,s:n,s:n,s:n,s:n,s:o,s:s,s:s,s:I,s:b,s:b,s:s,s:s,s:s,s:s}",
                         "user_id", (json_int_t)rand_id(PD_USERS), "deal_id",
                         id_or_null(rand_id(PD_DEALS)), "person_id", "org_id", "product_id",
                         "activity_id", "add_time", pd_ts1(add), "file_name", fname, "file_type",
                         "pdf", "file_size", (json_int_t)sim_rand_range(1000, 900000),
                         "active_flag", 1, "inline_flag", 0, "remote_location", "s3", "remote_id",
                         "", "name", fname, "url", "https://example.com/f"));
    }
}

/* ---- entities ---------------------------------------------------------------------------- */

static json_t *person_custom(void)
{
    json_t *cf = json_object();
    json_object_set_new(cf, PD_CF_PERSON[0], sim_rand01() < 0.5 ? json_string("Zé") : json_null());
    json_object_set_new(cf, PD_CF_PERSON[1],
                        sim_rand01() < 0.6 ? json_integer(sim_rand_range(31, 33)) : json_null());
    return cf;
}

static void new_org(int64_t add, int64_t upd)
{
    char name[96];
    snprintf(name, sizeof name, "%s %s GmbH", PICK(WORDS), PICK(WORDS));
    json_t *addr =
        sim_rand01() < 0.7
            ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:n,s:s}", "value",
                        "Hauptstraße 5, Zürich", "country", "Switzerland", "admin_area_level_1",
                        "Zürich", "locality", "Zürich", "route", "Hauptstraße", "street_number",
                        "5", "postal_code", "8001", "subpremise", "sublocality",
                        "formatted_address", "Hauptstraße 5, 8001 Zürich, Switzerland")
            : json_null();
    json_t *cf = json_object();
    json_object_set_new(cf, PD_CF_ORG[0], json_string("CHE-123.456.789"));
    json_object_set_new(cf, PD_CF_ORG[1], json_integer(sim_rand_range(41, 43)));
    pd_add(PD_ORGS, 0, add, upd,
           json_pack("{s:s,s:I,s:o,s:b,s:i,s:o,s:[],s:o}", "name", name, "owner_id",
                     (json_int_t)rand_id(PD_USERS), "add_time", pd_ts2(add), "is_deleted", 0,
                     "visible_to", 3, "address", addr, "label_ids", "custom_fields", cf));
}

static void new_person(int64_t add, int64_t upd)
{
    const char *f = PICK(FIRST), *l = PICK(LAST);
    char name[96], email[96];
    snprintf(name, sizeof name, "%s %s", f, l);
    snprintf(email, sizeof email, "p%lld@example.org", (long long)PD[PD_PERSONS].next_id);
    json_t *phones = sim_rand01() < 0.5 ? json_pack("[{s:s,s:b,s:s}]", "value", "+41 44 000 00 00",
                                                    "primary", 1, "label", "work")
                                        : json_array();
    pd_add(PD_PERSONS, 0, add, upd,
           json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:b,s:i,s:[i],s:n,s:[{s:s,s:b,s:s}],s:o,s:[],"
                     "s:o}",
                     "name", name, "first_name", f, "last_name", l, "owner_id",
                     (json_int_t)rand_id(PD_USERS), "org_id", id_or_null(rand_id(PD_ORGS)),
                     "add_time", pd_ts2(add), "is_deleted", 0, "visible_to", 3, "label_ids", 5,
                     "picture_id", "emails", "value", email, "primary", 1, "label", "work",
                     "phones", phones, "im", "custom_fields", person_custom()));
}

static void new_product(int64_t add, int64_t upd)
{
    char name[96];
    json_int_t id = PD[PD_PRODUCTS].next_id;
    snprintf(name, sizeof name, "%s licence %lld", PICK(WORDS), (long long)id);
    json_t *cf = json_object();
    json_object_set_new(cf, PD_CF_PRODUCT[0], json_string("LIC"));
    pd_add(PD_PRODUCTS, 0, add, upd,
           json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:b,s:b,s:i,s:I,s:o,s:s,s:n,"
                     "s:[{s:I,s:s,s:f,s:f,s:f,s:n}],s:o}",
                     "name", name, "code", "SKU-1", "description", "A product", "unit", "seat",
                     "tax", 7.7, "category", "1", "is_deleted", 0, "is_linkable", 1, "visible_to",
                     3, "owner_id", (json_int_t)rand_id(PD_USERS), "add_time", pd_ts2(add),
                     "billing_frequency", "one-time", "billing_frequency_cycles", "prices",
                     "product_id", id, "currency", "EUR", "price", (double)sim_rand_range(10, 500),
                     "cost", 5.0, "direct_cost", 0.0, "notes", "custom_fields", cf));
}

static json_t *deal_custom(void)
{
    json_t *cf = json_object();
    json_object_set_new(cf, PD_CF_DEAL[0],
                        sim_rand01() < 0.5
                            ? json_pack("{s:f,s:s}", "value", (double)sim_rand_range(1, 9999),
                                        "currency", PICK(CURR))
                            : json_null());
    json_object_set_new(cf, PD_CF_DEAL[1],
                        sim_rand01() < 0.7 ? json_integer(sim_rand_range(11, 13)) : json_null());
    json_object_set_new(cf, PD_CF_DEAL[2],
                        sim_rand01() < 0.5 ? json_pack("[i,i]", 21, 23) : json_null());
    json_object_set_new(cf, PD_CF_DEAL[3], json_string("Inbound \"web\" form"));
    return cf;
}

void pd_flow_change(pd_rec *deal, const char *field, json_t *old_v, json_t *new_v, int64_t ms)
{
    json_t *o = json_pack(
        "{s:I,s:I,s:s,s:o,s:o,s:b,s:o,s:s,s:n,s:{}}", "item_id", (json_int_t)deal->id, "user_id",
        (json_int_t)1, "field_key", field, "old_value", old_v ? old_v : json_null(), "new_value",
        new_v ? new_v : json_null(), "is_bulk_update_flag", 0, "log_time", pd_ts1(ms),
        "change_source", "app", "change_source_user_agent", "additional_data");
    pd_add(PD_FLOW, 0, ms, ms, o);
}

static void new_deal(int64_t add, int64_t upd)
{
    char title[128];
    json_int_t id = PD[PD_DEALS].next_id;
    snprintf(title, sizeof title, "%s deal #%lld", PICK(WORDS), (long long)id);
    if (id == 1)
        snprintf(title, sizeof title, "Ünïcødé \"quoted\" \\ deal ☕");
    json_int_t stage = sim_rand_range(1, (int64_t)PD[PD_STAGES].n);
    json_int_t pipeline = stage <= 3 ? 1 : 2;
    double r = sim_rand01();
    const char *status = r < 0.7 ? "open" : r < 0.85 ? "won" : "lost";
    int won = strcmp(status, "won") == 0, lost = strcmp(status, "lost") == 0;
    json_t *d = json_pack(
        "{s:s,s:I,s:I,s:o,s:o,s:I,s:I,s:f,s:s,s:o,s:o,s:n,s:b,s:b,s:s,s:n,s:o,s:i,s:o,s:o,"
        "s:o,s:o,s:o,s:o,s:o,s:[],s:s,s:n,s:n,s:n,s:n,s:n,s:n,s:o}",
        "title", title, "creator_user_id", (json_int_t)1, "owner_id", (json_int_t)rand_id(PD_USERS),
        "person_id", id_or_null(rand_id(PD_PERSONS)), "org_id", id_or_null(rand_id(PD_ORGS)),
        "pipeline_id", pipeline, "stage_id", stage, "value",
        (double)sim_rand_range(0, 100000) / 4.0, "currency", PICK(CURR), "add_time", pd_ts2(add),
        "stage_change_time", pd_ts2(add), "archive_time", "is_deleted", 0, "is_archived", 0,
        "status", status, "probability", "lost_reason",
        lost ? json_string("Too expensive") : json_null(), "visible_to", 3, "close_time",
        won || lost ? pd_ts2(upd) : json_null(), "won_time", won ? pd_ts2(upd) : json_null(),
        "lost_time", lost ? pd_ts2(upd) : json_null(), "local_won_date",
        won ? date_json(upd) : json_null(), "local_lost_date", lost ? date_json(upd) : json_null(),
        "local_close_date", won || lost ? date_json(upd) : json_null(), "expected_close_date",
        sim_rand01() < 0.5 ? date_json(upd + 30 * PD_DAY_MS) : json_null(), "label_ids", "origin",
        "ManuallyCreated", "origin_id", "channel", "channel_id", "acv", "arr", "mrr",
        "custom_fields", deal_custom());
    pd_rec *deal = pd_add(PD_DEALS, 0, add, upd, d);
    pd_flow_change(deal, "add_time", NULL, pd_ts1(add), add);
    if (upd > add)
        pd_flow_change(deal, "stage_id", json_string("1"), json_sprintf("%lld", (long long)stage),
                       upd);
    int n_products = (int)sim_rand_range(0, 3);
    for (int k = 0; k < n_products && PD[PD_PRODUCTS].n; k++) {
        pd_rec *p = &PD[PD_PRODUCTS].r[sim_rand_range(0, (int64_t)PD[PD_PRODUCTS].n - 1)];
        double price = (double)sim_rand_range(10, 900);
        int qty = (int)sim_rand_range(1, 5);
        pd_add(PD_DEALPRODUCTS, 0, add, add,
               json_pack("{s:I,s:I,s:O,s:f,s:i,s:f,s:s,s:f,s:s,s:f,s:s,s:b,s:o,s:n,s:n,s:s,"
                         "s:n}",
                         "deal_id", (json_int_t)deal->id, "product_id", (json_int_t)p->id, "name",
                         json_object_get(p->o, "name"), "item_price", price, "quantity", qty,
                         "discount", 0.0, "discount_type", "percentage", "sum", price * qty,
                         "currency", "EUR", "tax", 7.7, "tax_method", "inclusive", "is_enabled", 1,
                         "add_time", pd_ts2(add), "comments", "product_variation_id",
                         "billing_frequency", "one-time", "billing_start_date"));
    }
}

static void new_activity(int64_t add, int64_t upd)
{
    static const char *const types[] = {"call", "meeting", "task", "deadline", "email", "lunch"};
    char subject[96];
    snprintf(subject, sizeof subject, "Follow up %lld", (long long)PD[PD_ACTIVITIES].next_id);
    int done = sim_rand01() < 0.4;
    json_int_t person = rand_id(PD_PERSONS);
    pd_add(PD_ACTIVITIES, 0, add, upd,
           json_pack(
               "{s:s,s:s,s:I,s:I,s:b,s:o,s:o,s:n,s:o,s:o,s:n,s:o,s:o,s:o,s:b,s:b,s:o,"
               "s:n,s:o,s:s,s:n,s:s}",
               "subject", subject, "type", PICK(types), "owner_id", (json_int_t)rand_id(PD_USERS),
               "creator_user_id", (json_int_t)1, "is_deleted", 0, "add_time", pd_ts2(add),
               "deal_id", id_or_null(rand_id(PD_DEALS)), "lead_id", "person_id", id_or_null(person),
               "org_id", id_or_null(rand_id(PD_ORGS)), "project_id", "due_date",
               date_json(upd + 3 * PD_DAY_MS), "due_time",
               sim_rand01() < 0.5 ? json_string("10:30") : json_string(""), "duration",
               json_string(sim_rand01() < 0.5 ? "01:00" : ""), "busy", 1, "done", done,
               "marked_as_done_time", done ? pd_ts2(upd) : json_null(), "location", "participants",
               person ? json_pack("[{s:I,s:b}]", "person_id", person, "primary", 1) : json_array(),
               "public_description", "", "priority", "note", "<p>Call <b>back</b></p>"));
}

static void new_note(int64_t add, int64_t upd)
{
    json_int_t deal = rand_id(PD_DEALS), person = rand_id(PD_PERSONS);
    pd_rec *d = deal ? pd_find(PD_DEALS, deal) : NULL;
    pd_rec *p = person ? pd_find(PD_PERSONS, person) : NULL;
    pd_add(PD_NOTES, 0, add, upd,
           json_pack("{s:I,s:o,s:o,s:n,s:n,s:n,s:s,s:o,s:b,s:b,s:b,s:b,s:b,s:b,s:I,s:o,s:o,"
                     "s:n,s:{s:s,s:s,s:n,s:b}}",
                     "user_id", (json_int_t)1, "deal_id", id_or_null(deal), "person_id",
                     id_or_null(person), "org_id", "lead_id", "project_id", "content",
                     "<p>Spoke to them — “maybe” next week</p>", "add_time", pd_ts1(add),
                     "active_flag", 1, "pinned_to_deal_flag", 0, "pinned_to_person_flag", 0,
                     "pinned_to_organization_flag", 0, "pinned_to_lead_flag", 0,
                     "pinned_to_project_flag", 0, "last_update_user_id", (json_int_t)1, "deal",
                     d ? json_pack("{s:O}", "title", json_object_get(d->o, "title")) : json_null(),
                     "person",
                     p ? json_pack("{s:O}", "name", json_object_get(p->o, "name")) : json_null(),
                     "organization", "user", "email", "user1@example.com", "name", "Ana García",
                     "icon_url", "is_you", 1));
}

typedef void (*new_fn)(int64_t add, int64_t upd);

static void seed_entities(new_fn fn, long n)
{
    for (long i = 0; i < n; i++) {
        int64_t add, upd;
        seed_times(&add, &upd);
        fn(add, upd);
    }
}

/* A deal deleted `days_ago` days before the epoch: it stays listable with status=deleted for
 * 30 days, then it is purged from every endpoint. */
static void delete_deal(pd_rec *d, int64_t when)
{
    d->del_ms = when;
    json_object_set_new(d->o, "is_deleted", json_true());
    json_object_set_new(d->o, "status", json_string("deleted"));
    pd_touch(PD_DEALS, d, when);
}

static void archive_deal(pd_rec *d, int64_t when)
{
    json_object_set_new(d->o, "is_archived", json_true());
    json_object_set_new(d->o, "archive_time", pd_ts2(when));
    pd_touch(PD_DEALS, d, when);
}

static void seed_deal_states(int64_t epoch, long n_deleted, long n_archived)
{
    size_t n = PD[PD_DEALS].n;
    for (long k = 0; k < n_deleted && (size_t)k + 2 < n; k++) {
        pd_rec *d = &PD[PD_DEALS].r[n - 1 - (size_t)k];
        int64_t days = k % 2 ? 40 : 10; /* half are already purged */
        delete_deal(d, epoch - days * PD_DAY_MS - k * 1000);
    }
    for (long k = 0; k < n_archived && (size_t)(n_deleted + k) + 2 < n; k++) {
        pd_rec *d = &PD[PD_DEALS].r[n - 1 - (size_t)(n_deleted + k)];
        archive_deal(d, epoch - 5 * PD_DAY_MS - k * 60000);
    }
}

int pd_seed(const sim_options *opts)
{
    lo_ms = opts->epoch_ms - 60 * PD_DAY_MS;
    hi_ms = opts->epoch_ms - 2 * PD_DAY_MS;
    prev_upd = 0;
    for (int i = 0; i < 4; i++)
        hex_key(PD_CF_DEAL[i]);
    hex_key(PD_CF_PERSON[0]);
    hex_key(PD_CF_PERSON[1]);
    hex_key(PD_CF_ORG[0]);
    hex_key(PD_CF_ORG[1]);
    hex_key(PD_CF_PRODUCT[0]);
    long long users = sim_param_int("users", 8);
    if (users < 3) {
        fprintf(stderr, "pipedrive: users must be >= 3\n");
        return -1;
    }
    seed_fields();
    seed_users(users);
    seed_pipelines();
    seed_entities(new_org, sim_param_int("organizations", 40));
    seed_entities(new_person, sim_param_int("persons", 80));
    seed_entities(new_product, sim_param_int("products", 20));
    seed_entities(new_deal, sim_param_int("deals", 150));
    seed_entities(new_activity, sim_param_int("activities", 120));
    seed_entities(new_note, sim_param_int("notes", 100));
    seed_misc(sim_param_int("files", 20));
    /* A block of ten deals updated in the very same second: a tie that spans any page size. */
    int64_t tie = hi_ms - 3600000;
    tie -= tie % 1000;
    for (size_t i = 0; i < 10 && i < PD[PD_DEALS].n; i++)
        if (PD[PD_DEALS].r[i].add_ms <= tie)
            pd_touch(PD_DEALS, &PD[PD_DEALS].r[i], tie);
    seed_deal_states(opts->epoch_ms, sim_param_int("deleted_deals", 4),
                     sim_param_int("archived_deals", 5));
    /* Deleted persons and a deleted product: gone from lists (v2 lists hide deleted rows). */
    for (int k = 0; k < 2 && PD[PD_PERSONS].n > 4; k++)
        pd_remove(PD_PERSONS, &PD[PD_PERSONS].r[PD[PD_PERSONS].n / 2], opts->epoch_ms);
    return 0;
}

static void store_free(pd_store *s)
{
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->r[i].o);
    free(s->r);
    s->r = NULL;
    s->n = s->cap = 0;
}

void pd_free_all(void)
{
    pd_api_free();
    for (int t = 0; t < PD_NTABLES; t++) {
        store_free(&PD[t]);
        store_free(&PD_GRAVE[t]);
        PD_LAST_SERVED[t] = 0;
    }
}

/* ---- mutate ------------------------------------------------------------------------------ */

static int merr(json_t **result, int status, const char *msg)
{
    *result = json_pack("{ss}", "error", msg);
    return status;
}

/* Target ids: "id", "ids" or "count" random live records. */
static json_t *mutate_targets(enum pd_table t, json_t *args)
{
    json_t *out = json_array();
    json_t *id = json_object_get(args, "id"), *ids = json_object_get(args, "ids");
    if (json_is_string(id) && strcmp(json_string_value(id), "last_served") == 0) {
        if (PD_LAST_SERVED[t])
            json_array_append_new(out, json_integer(PD_LAST_SERVED[t]));
    } else if (id) {
        json_array_append(out, id);
    } else if (json_is_array(ids)) {
        json_array_extend(out, ids);
    } else {
        json_int_t count = json_integer_value(json_object_get(args, "count"));
        if (count < 1)
            count = 1;
        for (json_int_t k = 0; k < count * 4 && (json_int_t)json_array_size(out) < count; k++) {
            pd_rec *r = &PD[t].r[sim_rand_range(0, (int64_t)PD[t].n - 1)];
            int dup = 0;
            size_t i;
            json_t *v;
            json_array_foreach(out, i, v) dup |= json_integer_value(v) == r->id;
            if (!dup && r->id && !r->del_ms)
                json_array_append_new(out, json_integer(r->id));
        }
    }
    return out;
}

static void default_change(enum pd_table t, pd_rec *r, int64_t now)
{
    const char *key = t == PD_DEALS          ? "title"
                      : t == PD_ACTIVITIES   ? "subject"
                      : t == PD_NOTES        ? "content"
                      : t == PD_CURRENCIES   ? "name"
                      : t == PD_DEALPRODUCTS ? "comments"
                      : t == PD_FLOW         ? "change_source"
                                             : "name";
    const char *old = json_string_value(json_object_get(r->o, key));
    char *next = xmalloc(strlen(old ? old : "") + 16);
    sprintf(next, "%s*", old ? old : "");
    if (t == PD_DEALS) {
        double v = json_number_value(json_object_get(r->o, "value"));
        json_object_set_new(r->o, "value", json_real(v + 100));
        pd_flow_change(r, "value", json_real(v), json_real(v + 100), now);
    }
    json_object_set_new(r->o, key, json_string(next));
    free(next);
}

static int mutate_one(enum pd_table t, const char *op, json_int_t id, json_t *set, json_t *recs,
                      json_t **result)
{
    pd_rec *r = pd_find(t, id);
    if (!r || pd_purged(r))
        return merr(result, 404, "no such record");
    int64_t now = pd_now_s();
    if (strcmp(op, "delete") == 0) {
        json_array_append(recs, r->o);
        if (t == PD_DEALS) {
            delete_deal(r, now);
        } else {
            if (sim_param_int("delete_bumps_update", 0))
                pd_touch(t, r, now);
            pd_remove(t, r, now);
        }
        return 200;
    }
    if (strcmp(op, "archive") == 0 && t == PD_DEALS) {
        archive_deal(r, now);
    } else if (strcmp(op, "update") == 0) {
        if (set)
            json_object_update(r->o, set);
        else
            default_change(t, r, now);
        if (t != PD_FLOW)
            pd_touch(t, r, now);
    } else if (strcmp(op, "touch") == 0) {
        pd_touch(t, r, now);
    } else {
        return merr(result, 400, "ops: create, update, touch, delete, archive (deals)");
    }
    json_array_append(recs, r->o);
    return 200;
}

static int mutate_create(enum pd_table t, json_t *args, json_t *recs, json_t **result)
{
    static const new_fn makers[PD_NTABLES] = {
        [PD_DEALS] = new_deal,          [PD_PERSONS] = new_person,   [PD_ORGS] = new_org,
        [PD_ACTIVITIES] = new_activity, [PD_PRODUCTS] = new_product, [PD_NOTES] = new_note};
    if (!makers[t])
        return merr(result, 400,
                    "create is supported for deals, persons, organizations, "
                    "activities, products and notes");
    json_int_t count = json_integer_value(json_object_get(args, "count"));
    if (count < 1)
        count = 1;
    int64_t now = pd_now_s();
    for (json_int_t k = 0; k < count; k++) {
        makers[t](now, now);
        json_t *set = json_object_get(args, "set");
        if (json_is_object(set))
            json_object_update(PD[t].r[PD[t].n - 1].o, set);
        json_array_append(recs, PD[t].r[PD[t].n - 1].o);
    }
    return 200;
}

/* ---- churn: changes between page requests ------------------------------------------------ */

static struct {
    long pages, changes, boundary_updates, boundary_deletes, updates, deletes, creates;
} CHURN;

static int churn_table(enum pd_table t)
{
    const char *list = sim_param("churn_tables", "deals,persons,organizations,activities,products,"
                                                 "notes,files");
    size_t n = strlen(PD[t].name);
    for (const char *p = list; (p = strstr(p, PD[t].name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

/* A random live record's id (0 when the table is too small to lose one more). */
static json_int_t random_live(enum pd_table t)
{
    for (int k = 0; k < 8 && PD[t].n > 4; k++) {
        pd_rec *r = &PD[t].r[sim_rand_range(0, (int64_t)PD[t].n - 1)];
        if (r->id && !r->del_ms)
            return r->id;
    }
    return 0;
}

static void churn_one(enum pd_table t)
{
    static const new_fn makers[PD_NTABLES] = {
        [PD_DEALS] = new_deal,          [PD_PERSONS] = new_person,   [PD_ORGS] = new_org,
        [PD_ACTIVITIES] = new_activity, [PD_PRODUCTS] = new_product, [PD_NOTES] = new_note};
    json_t *recs = json_array(), *res = NULL;
    json_int_t boundary = PD_LAST_SERVED[t];
    pd_rec *b = boundary ? pd_find(t, boundary) : NULL;
    int live_boundary = b && !b->del_ms && PD[t].n > 4;
    int64_t pick = sim_rand_range(0, 4);
    if (strcmp(sim_param("churn_kinds", "all"), "delete") == 0)
        pick = pick % 2 ? 1 : 3; /* deletes only: the boundary row or a random one */
    switch (pick) {
    case 0: /* the row served last is updated: it moves to the end of an update_time order */
        if (live_boundary && mutate_one(t, "update", boundary, NULL, recs, &res) == 200)
            CHURN.boundary_updates++;
        break;
    case 1: /* the row served last is deleted */
        if (live_boundary && mutate_one(t, "delete", boundary, NULL, recs, &res) == 200)
            CHURN.boundary_deletes++;
        break;
    case 2: {
        json_int_t id = random_live(t);
        if (id && mutate_one(t, "update", id, NULL, recs, &res) == 200)
            CHURN.updates++;
        break;
    }
    case 3: {
        json_int_t id = random_live(t);
        if (id && mutate_one(t, "delete", id, NULL, recs, &res) == 200)
            CHURN.deletes++;
        break;
    }
    default:
        if (makers[t]) {
            int64_t now = pd_now_s();
            makers[t](now, now);
            CHURN.creates++;
        }
        break;
    }
    json_decref(recs);
    json_decref(res);
}

void pd_churn_after_page(enum pd_table t, int by_id)
{
    long long percent = sim_param_int("churn", 0);
    if (percent <= 0 || !churn_table(t))
        return;
    if (strcmp(sim_param("churn_on", "all"), "id") == 0 && !by_id)
        return;
    CHURN.pages++;
    if (sim_rand_range(1, 100) > percent)
        return;
    for (long long k = sim_param_int("churn_ops", 2); k > 0; k--) {
        churn_one(t);
        CHURN.changes++;
        PD_GEN++;
    }
}

json_t *pd_churn_stats(void)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "pages", (json_int_t)CHURN.pages, "changes",
                     (json_int_t)CHURN.changes, "boundary_updates",
                     (json_int_t)CHURN.boundary_updates, "boundary_deletes",
                     (json_int_t)CHURN.boundary_deletes, "updates", (json_int_t)CHURN.updates,
                     "deletes", (json_int_t)CHURN.deletes, "creates", (json_int_t)CHURN.creates);
}

int pd_control_mutate(json_t *args, json_t **result)
{
    const char *table = json_string_value(json_object_get(args, "table"));
    const char *op = json_string_value(json_object_get(args, "op"));
    int t = pd_store_by_name(table);
    if (t < 0 || !op)
        return merr(result, 400, "mutate needs a known \"table\" and \"op\"");
    json_t *set = json_object_get(args, "set");
    if (set && !json_is_object(set))
        return merr(result, 400, "\"set\" must be an object");
    json_t *recs = json_array();
    int status = 200;
    if (strcmp(op, "create") == 0) {
        status = mutate_create((enum pd_table)t, args, recs, result);
    } else {
        json_t *ids = mutate_targets((enum pd_table)t, args);
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id)
        {
            status = mutate_one((enum pd_table)t, op, json_integer_value(id), set, recs, result);
            PD_GEN++; /* "set" may have moved a record (e.g. a note's deal_id) */
            if (status != 200)
                break;
        }
        json_decref(ids);
    }
    PD_GEN++;
    if (status == 200)
        *result = json_pack("{s:s,s:s,s:O}", "table", table, "op", op, "records", recs);
    json_decref(recs);
    return status;
}
