/* table_run.h — the engine's runtime state of one table and one source (shared by engine.c,
 * which orchestrates, and sync.c, which runs a table's passes). */
#ifndef CRM_TABLE_RUN_H
#define CRM_TABLE_RUN_H

#include <pthread.h>

#include "config.h"
#include "connector.h"
#include "custom_fields.h"
#include "dedupe.h"
#include "dedupe_log.h"
#include "event.h"
#include "http.h"
#include "kafka.h"
#include "metrics.h"
#include "shard.h"
#include "source.h"
#include "state.h"

struct source_run;

typedef struct table_run {
    struct source_run *sr;
    const table_def *def;
    char *topic;
    int lookback_s;
    event_codec *codec; /* swapped under lock when the custom fields evolve */
    cf_history *cf;     /* custom field history (tables with def->custom), guarded by lock */
    int schema_version; /* how many schemas this run built for the table (1 = the initial) */
    atomic_int schema_published; /* the current codec's schema is on the schemas topic /
                                    registry (table_schema_ensure_published) */
    int schema_rejected;         /* the registry refused the table's schema: the table stops */
    uint32_t key_schema_id;      /* registry mode: id of the "string" key schema (<topic>-key) */
    dedupe *dd;
    dedupe_log *dlog; /* how dd persists in the state topic; guarded by lock like dd */
    state_bookmark bm;
    http_client *http;
    struct table_cycle *cycle;   /* the pass in progress between the table's turns (sync.c) */
    int64_t due_ms;              /* monotonic: when the next pass is due; 0 before the first */
    pthread_mutex_t lock;        /* guards dd, dlog, bm and work: change feeds of other tables
                                    touch them */
    struct page_work *work;      /* the running pass's page work (sync_work.h), or NULL */
    pthread_mutex_t schema_lock; /* serializes table_schema_refresh: the table's own thread and
                                    change feeds publishing into it both refresh (taken before
                                    lock, never while holding this table's lock) */
    int unavailable;
    int failed;                 /* last pass failed */
    table_metrics m;            /* counters, also scraped from /metrics */
    atomic_int done;            /* the table's task is finished (stopped, or once mode) */
    atomic_int force_reconcile; /* a delete feed asked for an ID reconciliation */
} table_run;

typedef struct source_run {
    const crm_config *cfg;
    const source_config *sc;
    source_config *own_sc; /* sc when the source was added while running (freed with it) */
    source *src;
    struct shard *shard;      /* commits go through its shared producer (shard.h) */
    kafka_metrics km;         /* what this source committed (the producer's own is the shard's) */
    source_metrics sm;        /* its state and health, summed up from its tables' metrics */
    atomic_int authenticated; /* a request of this source succeeded */
    table_run *tables;
    int n_tables;
    volatile int stop; /* this source stops: auth failure, fatal Kafka error, removed by a
                          reload, or the whole run stopping; its tables' waits look at it */
    int auth_failed;
    int once;
    int sched_group; /* its tables' group in the scheduler (stable while sources come and go) */
    int woken;       /* stopped on its own and its tables woken to end (engine.c) */
    struct sr_client *registry; /* borrowed; NULL without schema_registry */
    pthread_mutex_t defs_lock;  /* guards defs */
    json_t *defs; /* custom field definitions cache: {table: {"at": wall ms, "records": [...]}} */
} source_run;

table_run *source_run_table(source_run *sr, const char *name);

/* One turn of the table's task on the engine's scheduler (a sched_turn_fn; arg: the table):
 * begins a pass when none runs, runs its pages for a slice, and returns when the table is due
 * again (SCHED_DONE: stopped, or once mode after one pass). late_ms goes into the pass line. */
int64_t sync_table_turn(void *arg, int64_t late_ms);

#endif
