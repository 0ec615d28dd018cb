/* copper_sim.h — "copper", a simulator of the Copper (ProsperWorks) Developer API v1, so the copper
 * connector can be tested without the real service (as Copper's Developer API documentation
 * describes it).
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
 * create/update/delete (activities: edits, backdates, future dates); see drift.c.
 *
 * Files (tests/sim/copper/): model.c owns the data (records, seeding, reference lists), api.c
 * serves the REST surface (search, by id, auth, rate limit), control.c the /_control/ actions
 * and the sim_crm entry, drift.c the mutations between page requests. This header is what they
 * share; everything runs under the framework's lock. */
#ifndef COPPER_SIM_H
#define COPPER_SIM_H

#include <jansson.h>
#include <stdint.h>

#include "../sim.h"

#define API_PREFIX   "/developer_api/v1"
#define DAY_S        86400LL
#define MAX_WINDOW   100000
#define FIRST_ACT_ID 3061844454LL

#define NELEM(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))
#define PICK(a)  ((a)[sim_rand_range(0, NELEM(a) - 1)])

typedef struct ctable {
    const char *name;         /* URL segment and truth/mutate name */
    const char *default_sort; /* NULL: not searchable */
    int default_desc;
    const char *const *sorts;   /* allowed sort_by values (NULL: sort_by not accepted) */
    const char *const *filters; /* accepted body keys besides paging/sort */
    json_t *recs;               /* live records */
    json_int_t next_id;
} ctable;

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

extern ctable CU_TABLES[N_TABLES];

/* The simulator's state besides the tables. */
typedef struct copper_state {
    json_t *account;
    json_t *deleted_activities; /* deleted ids Copper still answers by id with a minimal record */
    int64_t epoch_s;
    long capped, limited, searches, windowed, drifted, boundary, id_searches;
    json_int_t last_served[N_TABLES]; /* id of the last record the latest search served; 0 */
    int64_t *window; /* rolling rate-limit window: times (ms) of accepted requests, a ring */
    size_t win_head, win_len;
    unsigned long gen; /* bumped by every change of the records: cached search hits compare it */
} copper_state;

extern copper_state CU;

/* ---- model.c ---- */
/* JSON helpers that never ignore a failure (out of memory aborts: it is a test tool). */
json_t *copper_must(json_t *v);
void copper_jset(json_t *obj, const char *key, json_t *v);
void copper_jpush(json_t *arr, json_t *v);
json_int_t copper_jint(const json_t *obj, const char *key);
int64_t copper_now_s(void); /* the simulator's clock in Unix seconds */
int copper_init(const sim_options *opts);
void copper_free(void);
/* A new record of table t with its next id (an activity dated activity_date). */
json_t *copper_record_new(int t, int64_t activity_date);
void copper_stamp(json_t *rec, int64_t created, int64_t modified);
void copper_convert_lead(json_t *lead, int64_t at);
int copper_is_converted(const json_t *lead);
/* Lists derived from the records and reference lists (new references). */
json_t *copper_pipeline_stages(void);
json_t *copper_tags_list(void);
json_t *copper_activity_types(void);

/* ---- api.c ---- */
void copper_handle(const sim_request *req, sim_response *resp);
void copper_hits_free(void); /* the search cache */
void copper_rate_limited(sim_response *resp, double retry_after_s);
json_t *copper_find_by_id(int t, json_int_t id, size_t *index);
int copper_table_by_name(const char *name, size_t len); /* T_..., or -1 */

/* ---- control.c (mutations, shared with drift.c) ---- */
int copper_mutate_one(int t, const char *op, json_t *rec, json_t *args);
int copper_mutate_create(int t, json_t *args, json_t *out, json_t **result);
void copper_remove_record(int t, json_t *rec);

/* ---- drift.c ---- */
/* The mutations the drift params ask for before a search of table t is served. */
void copper_drift_before_search(int t);

#endif
