/* pd_sim.h — internals shared by the files of the Pipedrive simulator personality.
 *
 * Records are kept in one store per entity type. Entities that the API serves in v2 form
 * (deals, persons, organizations, activities, products, stages, pipelines, deal products) are
 * stored in their v2 shape and converted for /v1; v1-only entities (notes, users, files, ...)
 * are stored in their v1 shape. Times are whole seconds (Pipedrive has no sub-second times). */
#ifndef PD_SIM_H
#define PD_SIM_H

#include <jansson.h>
#include <stdint.h>

#include "../sim.h"

#define PD_DAY_MS 86400000LL

enum pd_table {
    PD_DEALS,
    PD_PERSONS,
    PD_ORGS,
    PD_ACTIVITIES,
    PD_PRODUCTS,
    PD_STAGES,
    PD_PIPELINES,
    PD_NOTES,
    PD_USERS,
    PD_FILES,
    PD_FILTERS,
    PD_ACTTYPES,
    PD_CURRENCIES,
    PD_DEALPRODUCTS,
    PD_FLOW,
    PD_DEALFIELDS,
    PD_PERSONFIELDS,
    PD_ORGFIELDS,
    PD_PRODUCTFIELDS,
    PD_NTABLES
};

typedef struct pd_rec {
    json_int_t id;
    int64_t add_ms, upd_ms;
    int64_t del_ms; /* 0: live; else when it was deleted (deals stay listable for 30 days) */
    json_t *o;      /* the record as the API shows it (v2 or v1 form, see above) */
} pd_rec;

typedef struct pd_store {
    const char *name;    /* truth / mutate name, e.g. "deals", "deal_fields" */
    const char *upd_key; /* "update_time", "modified", "log_time" or NULL */
    int v2;              /* stored in v2 form */
    pd_rec *r;
    size_t n, cap;
    json_int_t next_id;
} pd_store;

extern pd_store PD[PD_NTABLES];
/* Bumped by every change of any store (add, remove, touch, mutate, churn): the serving caches
 * of api.c (sorted lists, flows by deal) are rebuilt when it moved. */
extern unsigned long PD_GEN;
/* Deleted non-deal records (persons, organizations, activities, products, notes, files): gone
 * from lists, readable by id until purged (purge_days), as the reference says. */
extern pd_store PD_GRAVE[PD_NTABLES];
/* The id of the row served last by the latest list page of each table (0: none yet): the
 * "boundary" record that mutations between page requests aim at. */
extern json_int_t PD_LAST_SERVED[PD_NTABLES];

/* Custom field keys (40 lowercase hex), per entity: [0] monetary, [1] enum, [2] set, [3] text. */
extern char PD_CF_DEAL[4][41];
extern char PD_CF_PERSON[2][41];
extern char PD_CF_ORG[2][41];
extern char PD_CF_PRODUCT[1][41];

/* data.c */
int pd_seed(const sim_options *opts);
void pd_free_all(void);
pd_rec *pd_find(enum pd_table t, json_int_t id);
pd_rec *pd_add(enum pd_table t, json_int_t id, int64_t add_ms, int64_t upd_ms, json_t *o);
/* Deletes a record: into PD_GRAVE (marked deleted at `when`) for the entity tables, else freed. */
void pd_remove(enum pd_table t, pd_rec *r, int64_t when);
/* A deleted record still readable by id (not purged), or NULL. */
pd_rec *pd_find_deleted(enum pd_table t, json_int_t id);
int pd_store_by_name(const char *name);
/* Sets update_time (v2 or v1 format by store) on a record. */
void pd_touch(enum pd_table t, pd_rec *r, int64_t ms);
/* A deal is purged when deleted more than param purge_days (30) ago. */
int pd_purged(const pd_rec *r);
int pd_deal_visible(const pd_rec *deal); /* exists and not purged */
void pd_flow_change(pd_rec *deal, const char *field, json_t *old_v, json_t *new_v, int64_t ms);
int pd_control_mutate(json_t *args, json_t **result);
/* Param churn (percent): after a list page of table t (by_id: a listing sorted by id), maybe
 * mutate t (see pipedrive.c). */
void pd_churn_after_page(enum pd_table t, int by_id);
json_t *pd_churn_stats(void); /* what churn did so far */
int64_t pd_now_s(void);       /* sim now, truncated to whole seconds, in ms */

/* times */
json_t *pd_ts2(int64_t ms); /* "YYYY-MM-DDTHH:MM:SSZ" */
json_t *pd_ts1(int64_t ms); /* "YYYY-MM-DD HH:MM:SS" */
void pd_fmt1(int64_t ms, char *out, size_t len);

/* api.c */
void pd_api(const sim_request *req, sim_response *resp, const char *path, int v2);
json_t *pd_v1_form(enum pd_table t, const pd_rec *r, int flat);
json_t *pd_truth_records(const char *table, int *status);
void pd_api_free(void); /* the serving caches */

#endif
