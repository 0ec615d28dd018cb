/* close_sim.h — internals shared by the Close simulator personality (tests/sim/close/).
 *
 * model.c owns the data (seeding, rendering, mutations, the event log), api.c serves the Close
 * REST surface, control.c the /_control/ actions. Everything runs under the framework's lock. */
#ifndef CLOSE_SIM_H
#define CLOSE_SIM_H

#include <jansson.h>
#include <stdint.h>

#include "../sim.h"

#define CLOSE_DAY_MS 86400000LL

/* A named list of records: "leads", "contacts", ..., reference tables. */
typedef struct close_coll {
    const char *table;  /* connector table name (truth) */
    const char *path;   /* API path under /api/v1, e.g. "/status/lead/"; NULL: not listed */
    const char *prefix; /* id prefix */
    int max_limit;      /* per-resource max _limit */
    json_t *recs;       /* array of records (stored form) */
    unsigned long gen;  /* bumped on every change of the collection: caches compare it */
    json_t *by_lead;    /* lead id -> [records], stored order (children_of); valid at by_lead_gen */
    unsigned long by_lead_gen;
} close_coll;

typedef struct close_model {
    close_coll *colls;
    size_t n_colls;
    json_t *events; /* every event, oldest first (retention applied when serving) */
    json_t *org;    /* organization object (without embedded lists) */
    json_t *memberships;
    long seq;
    int64_t epoch_ms;
} close_model;

extern close_model CM;

/* ---- model.c ---- */
int close_model_init(const sim_options *opts);
void close_model_free(void);
close_coll *close_coll_get(const char *table);
close_coll *close_coll_by_path(const char *path);
json_t *close_find(const char *table, const char *id, size_t *index);
/* Marks every collection changed (each mutation, before and after): list caches rebuild. */
void close_changed(void);
/* "YYYY-MM-DDTHH:MM:SS.mmm000+00:00" (fraction dropped when zero); naive: no offset. */
json_t *close_ts(int64_t ms, int naive);
int64_t close_rec_ms(const json_t *rec, const char *field);
/* The record as the API shows it (leads embed contacts/opportunities/open tasks). New ref. */
json_t *close_render(const char *table, const json_t *rec);
json_t *close_org_render(void);
/* Events visible now (30-day retention), newest first. New ref. */
json_t *close_events_visible(void);
/* Mutations (control "mutate"); return an HTTP status, *result set on error. */
int close_mutate(json_t *args, json_t **result);

/* ---- drift.c ---- */
/* Called after a list page of `table` ("event_log" for /event/) was served: the mutations the
 * drift parameters ask for. last_id: the record served last; id_listing: an ids-only list. */
void close_drift_after_page(const char *table, const char *last_id, int id_listing);

/* ---- api.c ---- */
void close_handle(const sim_request *req, sim_response *resp);
void close_rate_limited(sim_response *resp, double retry_after_s);
void close_api_free(void); /* the listing cache */

/* ---- reports.c ---- */
/* Serves /report/activity/metrics/ and POST /report/activity/; 1 when path is one of them. */
int close_reports_handle(const sim_request *req, sim_response *resp, const char *path);
/* report_statuses.c: GET /report/statuses/lead/{org}/. */
void close_report_lead_statuses(const sim_request *req, sim_response *resp, const char *org);

#endif
