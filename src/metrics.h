/* metrics.h — the counters and gauges operators scrape: per table (records, deletes, bytes,
 * pages, requests by HTTP status, retries, 429s, rate-limit waits, errors by kind, last success,
 * bookmark, last error, failures in a row, poll lateness), per source (its state and its health
 * summed up from its tables), per shard (assigned here, its sources, its transactions) and per
 * Kafka producer (commits, aborts, delivery errors, librdkafka statistics). Writers update atomics;
 * metrics_render() writes Prometheus text exposition, metrics_status_json() the same health as JSON
 * (/status, `crmstream state`). */
#ifndef CRM_METRICS_H
#define CRM_METRICS_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum {
    ERR_HTTP = 0,    /* non-2xx after retries */
    ERR_TRANSPORT,   /* timeouts, connection errors after retries */
    ERR_PARSE,       /* unusable response body */
    ERR_MAPPING,     /* a record that does not fit its schema */
    ERR_KAFKA,       /* a page commit that failed */
    ERR_AUTH,        /* credentials rejected */
    ERR_UNAVAILABLE, /* table not available to the credentials */
    ERR_SCHEMA,      /* the schema registry rejected the table's schema */
    ERR_KINDS
} error_kind;

#define METRICS_MAX_STATUSES 24

/* The name of an error kind ("http", "auth", ...): the errors_total kind label. */
const char *metrics_error_kind_name(error_kind kind);

/* What a source is doing: polling (running), done polling (stopped: shut down, --once done,
 * every table skipped or stopped by a fatal Kafka error), or stopped because the CRM rejected
 * its credentials (auth_failed). */
typedef enum {
    SOURCE_RUNNING = 0,
    SOURCE_STOPPED,
    SOURCE_AUTH_FAILED,
    SOURCE_STATES
} source_run_state;

const char *metrics_source_state_name(source_run_state state);

struct table_metrics;
struct shard_metrics;

/* One source's registration: its tables link here, so its health is read from them. */
typedef struct source_metrics {
    const char *source;             /* borrowed label */
    atomic_int auth_failed;         /* a pass failed with kind auth (cleared by a success) */
    atomic_int shard;               /* its shard, -1 without shards */
    struct shard_metrics *in_shard; /* that shard's metrics (NULL: none): while another instance
                                       runs the shard, the source and its tables are not shown */
    struct table_metrics *tables;   /* its tables, linked by next_in_source (registry lock) */
    void *next;                     /* registry link */
} source_metrics;

/* A source's health summed up from its tables at one instant (metrics_source_health). */
typedef struct source_health {
    source_run_state state;
    int tables;                 /* registered tables */
    int failing;                /* tables whose last pass failed */
    int64_t last_success_ms;    /* the oldest of its tables' last complete pass (tables skipped as
                                   unavailable left out): 0 until each has had one */
    int64_t lag_ms;             /* the largest now - bookmark of its tables; -1: no bookmark yet */
    int64_t last_error_ms;      /* the latest failed pass of any table; 0: none */
    error_kind last_error_kind; /* that pass's kind */
    int consecutive_failures;   /* the most failed passes in a row of one of its tables */
    int64_t lateness_ms;        /* the largest lateness of its tables' last scheduled pass */
} source_health;
typedef struct table_metrics {
    const char *source; /* borrowed labels */
    const char *table;
    atomic_long published, deleted, unchanged, bytes, pages, records_seen, custom_misfits;
    atomic_long raw_fallbacks;            /* raw-page records that needed the jansson path */
    atomic_long fallback_reconciliations; /* ID reconciliations standing in for a change feed */
    atomic_long retries, rate_limited, rate_wait_ms, request_ms;
    atomic_long rate_waits_capped; /* rate-limit waits the server asked for, cut to the cap */
    atomic_long future_values;     /* replication values after the pass start (+ skew) */
    atomic_long errors[ERR_KINDS];
    atomic_llong last_success_ms;    /* wall time of the last complete pass */
    atomic_llong bookmark_ms;        /* committed bookmark (0 = none) */
    atomic_llong last_error_ms;      /* wall time of the last failed pass (0 = none) */
    atomic_int last_error_kind;      /* its error_kind */
    atomic_int consecutive_failures; /* failed passes since the last complete one */
    atomic_int running;              /* the table is being polled */
    atomic_int unavailable;          /* skipped: not available to the credentials */
    atomic_llong lateness_ms;        /* the last scheduled pass started this late (ms) */
    atomic_llong max_lateness_ms;    /* the largest lateness so far */
    char last_error[256];            /* the last failed pass's message (status_lock) */
    char *labels;                    /* source="...",table="..." as rendered */
    struct source_metrics *owner;    /* the source it belongs to, or NULL (replay) */
    struct table_metrics *next_in_source;
    pthread_mutex_t status_lock;
    long statuses[METRICS_MAX_STATUSES]; /* HTTP status (0 = transport error) */
    long status_counts[METRICS_MAX_STATUSES];
    int n_statuses;
    void *next; /* registry link (void * so one list helper serves both kinds) */
} table_metrics;

typedef struct kafka_metrics {
    const char *source; /* a source's name, or a shard's (shard-<n>) for its producer */
    int source_share;   /* a source's commits through its shard's producer: only txn_commits,
                           txn_aborts and messages are rendered (the rest is the shard's) */
    atomic_long txn_commits, txn_aborts, delivery_errors, messages, bytes;
    atomic_long producer_restarts; /* handles re-created after a fatal librdkafka error */
    atomic_int brokers_down;       /* librdkafka reported all brokers down since the last commit */
    /* from librdkafka statistics (statistics.interval.ms) */
    atomic_long queue_msgs, queue_bytes, tx_errors, tx_retries, req_timeouts, rtt_avg_us,
        brokers_up;
    void *next; /* registry link */
} kafka_metrics;

/* One shard (shard.h) as this process sees it. */
typedef struct shard_metrics {
    int id;
    atomic_int assigned;         /* this instance runs the shard: its producer is up */
    atomic_int sources;          /* the config's sources that belong to it */
    atomic_llong last_commit_ms; /* wall time of its last committed transaction (0: none) */
    atomic_long commits, aborts; /* its transactions (each may hold several sources' pages) */
    void *next;                  /* registry link */
} shard_metrics;

void shard_metrics_init(shard_metrics *m, int id);
void shard_metrics_destroy(shard_metrics *m);
/* One transaction of the shard ended: committed (ok) or aborted. */
void shard_metrics_transaction(shard_metrics *m, int ok);

/* Registration makes the structs visible to metrics_render(); unregister before freeing. */
void table_metrics_init(table_metrics *m, const char *source, const char *table);
void table_metrics_destroy(table_metrics *m);
void kafka_metrics_init(kafka_metrics *m, const char *source);
void kafka_metrics_destroy(kafka_metrics *m);

void source_metrics_init(source_metrics *s, const char *source);
void source_metrics_destroy(source_metrics *s);
/* Makes m one of s's tables (s's health reads it) until table_metrics_destroy. */
void table_metrics_attach(table_metrics *m, source_metrics *s);

/* The pass lifecycle, as the pass loop sees it. set_running(1) when the table starts being
 * polled, (0) when it stops. pass_started: due_ms is when the pass was scheduled to start
 * (now_monotonic_ms() clock), or 0 for a pass without a schedule (a table's first pass of the
 * run, which waits for the start-up instead): lateness = now - due, an early start counts as 0.
 * pass_failed counts the error by kind and keeps it as the last error. */
void table_metrics_set_running(table_metrics *m, int running);
void table_metrics_pass_started(table_metrics *m, int64_t due_ms);
void table_metrics_pass_succeeded(table_metrics *m);
void table_metrics_pass_failed(table_metrics *m, error_kind kind, const char *msg);
/* The bookmark the state topic held at start (0 or CRM_TIME_NONE: none), so that the lag is
 * known before this process commits. (The last success stays this process's: 0 until its first
 * complete pass.) */
void table_metrics_restored(table_metrics *m, int64_t bookmark_ms);

/* now - bookmark in ms: how far behind the committed state is; -1 without a bookmark. */
int64_t metrics_lag_ms(int64_t bookmark_ms, int64_t now_ms);
/* s's health at now_ms (wall clock) from its tables. */
void metrics_source_health(source_metrics *s, int64_t now_ms, source_health *out);

/* Counts one HTTP attempt (status 0 = transport error); usable as an http_observer_fn. */
void table_metrics_observe_http(void *m, long status, int64_t elapsed_ms);
/* HTTP responses (and transport failures) the table received: every request it sent. */
long table_metrics_requests(table_metrics *m);

/* Parses a librdkafka statistics JSON document into m. */
void kafka_metrics_update_stats(kafka_metrics *m, const char *json, size_t len);

/* Appends the Prometheus text exposition of everything registered. */
void metrics_render(buf *out);
/* Every registered source and its tables' health, as JSON (the /status body):
 * {"now_ms":ms,"shards":[{"shard","assigned","sources","last_commit_ms","commits","aborts"}],
 * "sources":[{"source","state","shard","tables","failing","last_success_ms","lag_ms",
 * "last_error_ms","last_error_kind","consecutive_failures","lateness_ms","table_status":[{"table",
 * "running","unavailable","bookmark_ms","lag_ms","last_success_ms","last_error_ms",
 * "last_error_kind","last_error","consecutive_failures","lateness_ms"}]}]} */
json_t *metrics_status_json(void);

/* Live reloads of the sources (sources_reload.c): one more reload, with `errors` problems (bad
 * source files, sources that could not start); crmstream_config_reloads_total and
 * crmstream_config_reload_errors_total. */
void metrics_count_reload(int errors);

#endif
