/* metrics.h — the counters and gauges operators scrape: per table (records, deletes, bytes,
 * pages, requests by HTTP status, retries, 429s, rate-limit waits, errors by kind, last success,
 * bookmark) and per source's Kafka producer (commits, aborts, delivery errors, librdkafka
 * statistics). Writers update atomics; metrics_render() writes Prometheus text exposition. */
#ifndef CRM_METRICS_H
#define CRM_METRICS_H

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
    atomic_llong last_success_ms; /* wall time of the last complete pass */
    atomic_llong bookmark_ms;     /* committed bookmark (0 = none) */
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

/* Registration makes the structs visible to metrics_render(); unregister before freeing. */
void table_metrics_init(table_metrics *m, const char *source, const char *table);
void table_metrics_destroy(table_metrics *m);
void kafka_metrics_init(kafka_metrics *m, const char *source);
void kafka_metrics_destroy(kafka_metrics *m);

/* Counts one HTTP attempt (status 0 = transport error); usable as an http_observer_fn. */
void table_metrics_observe_http(void *m, long status, int64_t elapsed_ms);
/* HTTP responses (and transport failures) the table received: every request it sent. */
long table_metrics_requests(table_metrics *m);

/* Parses a librdkafka statistics JSON document into m. */
void kafka_metrics_update_stats(kafka_metrics *m, const char *json, size_t len);

/* Appends the Prometheus text exposition of everything registered. */
void metrics_render(buf *out);

#endif
