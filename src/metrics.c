/* metrics.c — registry and Prometheus rendering of the run's metrics. Names follow Prometheus
 * conventions: crmstream_ prefix, _total for counters, _seconds / _bytes units. */
#include "metrics.h"
#include "version.h"

#include <jansson.h>
#include <string.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static void *tables;    /* table_metrics, linked by next */
static void *producers; /* kafka_metrics, linked by next */

/* The registries are singly linked lists threaded through each struct's `next` field (at
 * next_off); one pair of helpers serves both kinds. */
static void **next_of(void *item, size_t next_off)
{
    return (void **)((char *)item + next_off);
}

static void registry_add(void **head, void *item, size_t next_off)
{
    pthread_mutex_lock(&registry_lock);
    void **p = head;
    while (*p)
        p = next_of(*p, next_off);
    *p = item;
    *next_of(item, next_off) = NULL;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(void **head, void *item, size_t next_off)
{
    pthread_mutex_lock(&registry_lock);
    for (void **p = head; *p; p = next_of(*p, next_off))
        if (*p == item) {
            *p = *next_of(item, next_off);
            break;
        }
    pthread_mutex_unlock(&registry_lock);
}

void table_metrics_init(table_metrics *m, const char *source, const char *table)
{
    memset(m, 0, sizeof(*m));
    m->source = source;
    m->table = table;
    pthread_mutex_init(&m->status_lock, NULL);
    registry_add(&tables, m, offsetof(table_metrics, next));
}

void table_metrics_destroy(table_metrics *m)
{
    registry_remove(&tables, m, offsetof(table_metrics, next));
    pthread_mutex_destroy(&m->status_lock);
}

void kafka_metrics_init(kafka_metrics *m, const char *source)
{
    memset(m, 0, sizeof(*m));
    m->source = source;
    registry_add(&producers, m, offsetof(kafka_metrics, next));
}

void kafka_metrics_destroy(kafka_metrics *m)
{
    registry_remove(&producers, m, offsetof(kafka_metrics, next));
}

long table_metrics_requests(table_metrics *m)
{
    long n = 0;
    pthread_mutex_lock(&m->status_lock);
    for (int i = 0; i < m->n_statuses; i++)
        n += m->status_counts[i];
    pthread_mutex_unlock(&m->status_lock);
    return n;
}

void table_metrics_observe_http(void *arg, long status, int64_t elapsed_ms)
{
    table_metrics *m = arg;
    atomic_fetch_add(&m->request_ms, (long)elapsed_ms);
    if (status == 429)
        atomic_fetch_add(&m->rate_limited, 1);
    pthread_mutex_lock(&m->status_lock);
    int i;
    for (i = 0; i < m->n_statuses; i++)
        if (m->statuses[i] == status)
            break;
    if (i == m->n_statuses && m->n_statuses < METRICS_MAX_STATUSES)
        m->statuses[m->n_statuses++] = status;
    if (i < m->n_statuses)
        m->status_counts[i]++;
    pthread_mutex_unlock(&m->status_lock);
}

static long json_long(const json_t *o, const char *k)
{
    return (long)json_integer_value(json_object_get(o, k));
}

void kafka_metrics_update_stats(kafka_metrics *m, const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    if (!j)
        return;
    atomic_store(&m->queue_msgs, json_long(j, "msg_cnt"));
    atomic_store(&m->queue_bytes, json_long(j, "msg_size"));
    long txerrs = 0, txretries = 0, timeouts = 0, rtt = 0, up = 0, n_rtt = 0;
    const char *k;
    json_t *b;
    json_object_foreach(json_object_get(j, "brokers"), k, b)
    {
        if (json_long(b, "nodeid") < 0)
            continue; /* bootstrap placeholders */
        txerrs += json_long(b, "txerrs");
        txretries += json_long(b, "txretries");
        timeouts += json_long(b, "req_timeouts");
        const char *state = json_string_value(json_object_get(b, "state"));
        if (state && strcmp(state, "UP") == 0)
            up++;
        long avg = json_long(json_object_get(b, "rtt"), "avg");
        if (avg > 0) {
            rtt += avg;
            n_rtt++;
        }
    }
    atomic_store(&m->tx_errors, txerrs);
    atomic_store(&m->tx_retries, txretries);
    atomic_store(&m->req_timeouts, timeouts);
    atomic_store(&m->rtt_avg_us, n_rtt ? rtt / n_rtt : 0);
    atomic_store(&m->brokers_up, up);
    json_decref(j);
}

static const char *error_names[ERR_KINDS] = {"http",  "transport", "parse",       "mapping",
                                             "kafka", "auth",      "unavailable", "schema"};

typedef long (*table_getter)(table_metrics *m);

static void table_family(buf *out, const char *name, const char *type, const char *help,
                         table_getter get)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (table_metrics *m = tables; m; m = m->next)
        buf_printf(out, "%s{source=\"%s\",table=\"%s\"} %ld\n", name, m->source, m->table, get(m));
}

#define GETTER(field)                                                                              \
    static long get_##field(table_metrics *m)                                                      \
    {                                                                                              \
        return atomic_load(&m->field);                                                             \
    }
GETTER(published)
GETTER(deleted)
GETTER(unchanged)
GETTER(custom_misfits)
GETTER(raw_fallbacks)
GETTER(fallback_reconciliations)
GETTER(bytes)
GETTER(pages)
GETTER(retries)
GETTER(rate_limited)
GETTER(rate_waits_capped)
GETTER(future_values)

static void seconds_family(buf *out, const char *name, const char *type, const char *help,
                           int which)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    int64_t now = now_wall_ms();
    for (table_metrics *m = tables; m; m = m->next) {
        double v;
        if (which == 0) {
            v = atomic_load(&m->rate_wait_ms) / 1000.0;
        } else if (which == 1) {
            v = atomic_load(&m->request_ms) / 1000.0;
        } else if (which == 2) {
            v = atomic_load(&m->last_success_ms) / 1000.0;
        } else {
            long long bm = atomic_load(&m->bookmark_ms);
            if (!bm)
                continue;
            v = (double)(now - bm) / 1000.0;
        }
        buf_printf(out, "%s{source=\"%s\",table=\"%s\"} %.3f\n", name, m->source, m->table, v);
    }
}

static void render_tables(buf *out)
{
    table_family(out, "crmstream_records_published_total", "counter",
                 "Change events published (c, u, r).", get_published);
    table_family(out, "crmstream_records_deleted_total", "counter",
                 "Delete events published (each followed by a tombstone).", get_deleted);
    table_family(out, "crmstream_records_unchanged_total", "counter",
                 "Records re-read unchanged and not published again.", get_unchanged);
    table_family(out, "crmstream_custom_field_misfits_total", "counter",
                 "Custom field values that did not fit their declared type (kept as text in "
                 "custom._invalid).",
                 get_custom_misfits);
    table_family(out, "crmstream_raw_fallbacks_total", "counter",
                 "Records of raw (text) pages that the raw encoder declined and jansson parsed "
                 "(the DOM path).",
                 get_raw_fallbacks);
    table_family(out, "crmstream_fallback_reconciliations_total", "counter",
                 "ID reconciliations requested because the change feed that reports this "
                 "table's deletes is not readable with these credentials.",
                 get_fallback_reconciliations);
    table_family(out, "crmstream_published_bytes_total", "counter",
                 "Bytes of keys and values published.", get_bytes);
    table_family(out, "crmstream_pages_total", "counter", "API pages read.", get_pages);
    table_family(out, "crmstream_http_retries_total", "counter",
                 "HTTP attempts that were retried (transport errors, 5xx, 429).", get_retries);
    table_family(out, "crmstream_http_rate_limited_total", "counter", "HTTP 429 responses.",
                 get_rate_limited);
    table_family(out, "crmstream_rate_limit_waits_capped_total", "counter",
                 "Rate-limit waits asked for by the API (Retry-After, reset headers) that were "
                 "longer than max_rate_limit_wait and cut to it.",
                 get_rate_waits_capped);
    table_family(out, "crmstream_future_replication_values_total", "counter",
                 "Records whose replication value lay after the pass start (+ skew): published, "
                 "but the bookmark did not move past the pass start.",
                 get_future_values);
    seconds_family(out, "crmstream_rate_limit_wait_seconds_total", "counter",
                   "Time spent waiting for the rate limiter and backoff.", 0);
    seconds_family(out, "crmstream_http_request_seconds_total", "counter",
                   "Time spent in HTTP requests.", 1);
    seconds_family(out, "crmstream_last_success_timestamp_seconds", "gauge",
                   "Wall time of the last complete pass.", 2);
    seconds_family(out, "crmstream_bookmark_age_seconds", "gauge",
                   "Now minus the committed bookmark (freshness lag).", 3);
    const char *name = "crmstream_http_requests_total";
    buf_printf(out, "# HELP %s HTTP attempts by status (0 = no response).\n# TYPE %s counter\n",
               name, name);
    for (table_metrics *m = tables; m; m = m->next) {
        pthread_mutex_lock(&m->status_lock);
        for (int i = 0; i < m->n_statuses; i++)
            buf_printf(out, "%s{source=\"%s\",table=\"%s\",status=\"%ld\"} %ld\n", name, m->source,
                       m->table, m->statuses[i], m->status_counts[i]);
        pthread_mutex_unlock(&m->status_lock);
    }
    name = "crmstream_errors_total";
    buf_printf(out, "# HELP %s Failed pages and passes by kind.\n# TYPE %s counter\n", name, name);
    for (table_metrics *m = tables; m; m = m->next)
        for (int k = 0; k < ERR_KINDS; k++)
            buf_printf(out, "%s{source=\"%s\",table=\"%s\",kind=\"%s\"} %ld\n", name, m->source,
                       m->table, error_names[k], atomic_load(&m->errors[k]));
}

/* shares: the sources' shares of their shard's producer have this counter too */
static void producer_line(buf *out, const char *name, const char *type, const char *help,
                          size_t offset, int shares)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (kafka_metrics *m = producers; m; m = m->next)
        if (shares || !m->source_share)
            buf_printf(out, "%s{source=\"%s\"} %ld\n", name, m->source,
                       atomic_load((atomic_long *)((char *)m + offset)));
}

static void render_producers(buf *out)
{
    producer_line(out, "crmstream_kafka_transactions_committed_total", "counter",
                  "Kafka transactions committed (exactly-once) or pages acknowledged.",
                  offsetof(kafka_metrics, txn_commits), 1);
    producer_line(out, "crmstream_kafka_transactions_aborted_total", "counter",
                  "Kafka transactions aborted or pages failed.",
                  offsetof(kafka_metrics, txn_aborts), 1);
    producer_line(out, "crmstream_kafka_producer_restarts_total", "counter",
                  "Producers re-created after a fatal librdkafka error (not a fence).",
                  offsetof(kafka_metrics, producer_restarts), 0);
    producer_line(out, "crmstream_kafka_delivery_errors_total", "counter",
                  "Messages Kafka did not acknowledge.", offsetof(kafka_metrics, delivery_errors),
                  0);
    producer_line(out, "crmstream_kafka_messages_total", "counter",
                  "Messages produced (events, tombstones and state).",
                  offsetof(kafka_metrics, messages), 1);
    producer_line(out, "crmstream_kafka_queue_messages", "gauge",
                  "Messages waiting in the producer queue (librdkafka msg_cnt).",
                  offsetof(kafka_metrics, queue_msgs), 0);
    producer_line(out, "crmstream_kafka_queue_bytes", "gauge",
                  "Bytes waiting in the producer queue (librdkafka msg_size).",
                  offsetof(kafka_metrics, queue_bytes), 0);
    producer_line(out, "crmstream_kafka_broker_tx_errors_total", "counter",
                  "Broker transmission errors (librdkafka txerrs).",
                  offsetof(kafka_metrics, tx_errors), 0);
    producer_line(out, "crmstream_kafka_broker_tx_retries_total", "counter",
                  "Broker request retries (librdkafka txretries).",
                  offsetof(kafka_metrics, tx_retries), 0);
    producer_line(out, "crmstream_kafka_request_timeouts_total", "counter",
                  "Broker request timeouts (librdkafka req_timeouts).",
                  offsetof(kafka_metrics, req_timeouts), 0);
    producer_line(out, "crmstream_kafka_brokers_up", "gauge", "Brokers in state UP.",
                  offsetof(kafka_metrics, brokers_up), 0);
    const char *name = "crmstream_kafka_rtt_seconds";
    buf_printf(out, "# HELP %s Average broker round-trip time.\n# TYPE %s gauge\n", name, name);
    for (kafka_metrics *m = producers; m; m = m->next)
        if (!m->source_share)
            buf_printf(out, "%s{source=\"%s\"} %.6f\n", name, m->source,
                       atomic_load(&m->rtt_avg_us) / 1e6);
}

static void render_build_info(buf *out)
{
    buf_printf(out,
               "# HELP crmstream_build_info The crmstream version serving these metrics.\n"
               "# TYPE crmstream_build_info gauge\n"
               "crmstream_build_info{version=\"%s\"} 1\n",
               CRMSTREAM_VERSION);
}

void metrics_render(buf *out)
{
    render_build_info(out);
    pthread_mutex_lock(&registry_lock);
    render_tables(out);
    render_producers(out);
    pthread_mutex_unlock(&registry_lock);
}
