/* metrics.c — registry and Prometheus rendering of the run's metrics. Names follow Prometheus
 * conventions: crmstream_ prefix, _total for counters, _seconds / _bytes units. */
#include "metrics.h"
#include "version.h"

#include <jansson.h>
#include <string.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static void *tables;    /* table_metrics, linked by next */
static void *producers; /* kafka_metrics, linked by next */
static void *sources;   /* source_metrics, linked by next */
static void *shards;    /* shard_metrics, linked by next */

/* Poll lateness of every scheduled pass: a histogram (seconds), and the largest seen. */
static const double lateness_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define LATENESS_BUCKETS (sizeof(lateness_bounds) / sizeof(lateness_bounds[0]))
static atomic_long lateness_counts[LATENESS_BUCKETS + 1]; /* the last: over every bound */
static atomic_llong lateness_sum_ms, lateness_max_ms;

/* The registries are singly linked lists threaded through each struct's `next` field (at
 * next_off); one pair of helpers serves every kind. */
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

/* Unlinks item from the list at head; registry_lock held. */
static void unlink_item(void **head, void *item, size_t next_off)
{
    for (void **p = head; *p; p = next_of(*p, next_off))
        if (*p == item) {
            *p = *next_of(item, next_off);
            break;
        }
}

static void registry_remove(void **head, void *item, size_t next_off)
{
    pthread_mutex_lock(&registry_lock);
    unlink_item(head, item, next_off);
    pthread_mutex_unlock(&registry_lock);
}

void table_metrics_init(table_metrics *m, const char *source, const char *table)
{
    memset(m, 0, sizeof(*m));
    m->source = source;
    m->table = table;
    buf labels;
    buf_init(&labels);
    buf_printf(&labels, "source=\"%s\",table=\"%s\"", source, table);
    m->labels = labels.data;
    pthread_mutex_init(&m->status_lock, NULL);
    registry_add(&tables, m, offsetof(table_metrics, next));
}

void table_metrics_destroy(table_metrics *m)
{
    pthread_mutex_lock(&registry_lock);
    unlink_item(&tables, m, offsetof(table_metrics, next));
    if (m->owner)
        unlink_item((void **)&m->owner->tables, m, offsetof(table_metrics, next_in_source));
    pthread_mutex_unlock(&registry_lock);
    pthread_mutex_destroy(&m->status_lock);
    free(m->labels);
    m->labels = NULL;
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

void source_metrics_init(source_metrics *s, const char *source)
{
    memset(s, 0, sizeof(*s));
    s->source = source;
    atomic_store(&s->shard, -1);
    registry_add(&sources, s, offsetof(source_metrics, next));
}

void source_metrics_destroy(source_metrics *s)
{
    pthread_mutex_lock(&registry_lock);
    unlink_item(&sources, s, offsetof(source_metrics, next));
    for (table_metrics *m = s->tables; m; m = m->next_in_source)
        m->owner = NULL;
    s->tables = NULL;
    pthread_mutex_unlock(&registry_lock);
}

void table_metrics_attach(table_metrics *m, source_metrics *s)
{
    pthread_mutex_lock(&registry_lock);
    m->owner = s;
    table_metrics **p = &s->tables;
    while (*p)
        p = &(*p)->next_in_source;
    *p = m;
    m->next_in_source = NULL;
    pthread_mutex_unlock(&registry_lock);
}

void shard_metrics_init(shard_metrics *m, int id)
{
    memset(m, 0, sizeof(*m));
    m->id = id;
    registry_add(&shards, m, offsetof(shard_metrics, next));
}

void shard_metrics_destroy(shard_metrics *m)
{
    registry_remove(&shards, m, offsetof(shard_metrics, next));
}

void shard_metrics_transaction(shard_metrics *m, int ok)
{
    if (ok) {
        atomic_fetch_add(&m->commits, 1);
        atomic_store(&m->last_commit_ms, now_wall_ms());
    } else {
        atomic_fetch_add(&m->aborts, 1);
    }
}

/* A source of a shard this instance does not run (coordination = group: another member runs
 * it) is that member's to show: neither the source nor its tables are rendered here. */
static int shown_here(const source_metrics *s)
{
    return !s || !s->in_shard || atomic_load(&s->in_shard->assigned);
}

/* ---- the pass lifecycle ------------------------------------------------------------------ */

void table_metrics_set_running(table_metrics *m, int running)
{
    atomic_store(&m->running, running);
}

static void count_lateness(int64_t late_ms)
{
    size_t i = 0;
    while (i < LATENESS_BUCKETS && (double)late_ms / 1000.0 > lateness_bounds[i])
        i++;
    atomic_fetch_add(&lateness_counts[i], 1);
    atomic_fetch_add(&lateness_sum_ms, late_ms);
    long long max = atomic_load(&lateness_max_ms);
    while (late_ms > max && !atomic_compare_exchange_weak(&lateness_max_ms, &max, late_ms))
        ;
}

void table_metrics_pass_started(table_metrics *m, int64_t due_ms)
{
    if (due_ms <= 0)
        return; /* no schedule: the table's first pass */
    int64_t late_ms = now_monotonic_ms() - due_ms;
    if (late_ms < 0) /* woke a little early */
        late_ms = 0;
    atomic_store(&m->lateness_ms, late_ms);
    if (late_ms > atomic_load(&m->max_lateness_ms))
        atomic_store(&m->max_lateness_ms, late_ms);
    count_lateness(late_ms);
}

void table_metrics_pass_succeeded(table_metrics *m)
{
    atomic_store(&m->last_success_ms, now_wall_ms());
    atomic_store(&m->consecutive_failures, 0);
    source_metrics *s = m->owner;
    if (s)
        atomic_store(&s->auth_failed, 0);
}

void table_metrics_pass_failed(table_metrics *m, error_kind kind, const char *msg)
{
    if ((int)kind < 0 || kind >= ERR_KINDS)
        kind = ERR_HTTP;
    atomic_fetch_add(&m->errors[kind], 1);
    pthread_mutex_lock(&m->status_lock);
    snprintf(m->last_error, sizeof(m->last_error), "%s", msg ? msg : "");
    pthread_mutex_unlock(&m->status_lock);
    atomic_store(&m->last_error_kind, (int)kind);
    atomic_store(&m->last_error_ms, now_wall_ms());
    atomic_fetch_add(&m->consecutive_failures, 1);
    if (kind == ERR_UNAVAILABLE)
        atomic_store(&m->unavailable, 1);
    source_metrics *s = m->owner;
    if (kind == ERR_AUTH && s)
        atomic_store(&s->auth_failed, 1);
}

void table_metrics_restored(table_metrics *m, int64_t bookmark_ms)
{
    if (bookmark_ms > 0)
        atomic_store(&m->bookmark_ms, bookmark_ms);
}

int64_t metrics_lag_ms(int64_t bookmark_ms, int64_t now_ms)
{
    if (bookmark_ms <= 0)
        return -1;
    return now_ms > bookmark_ms ? now_ms - bookmark_ms : 0;
}

/* s's health; registry_lock held. */
static void health_of(source_metrics *s, int64_t now_ms, source_health *h)
{
    memset(h, 0, sizeof(*h));
    h->lag_ms = -1;
    int running = 0, succeeded_all = 1;
    int64_t oldest = 0;
    for (table_metrics *m = s->tables; m; m = m->next_in_source) {
        h->tables++;
        running += atomic_load(&m->running) != 0;
        int64_t lag = metrics_lag_ms(atomic_load(&m->bookmark_ms), now_ms);
        if (lag > h->lag_ms)
            h->lag_ms = lag;
        int64_t err_at = atomic_load(&m->last_error_ms);
        if (err_at > h->last_error_ms) {
            h->last_error_ms = err_at;
            h->last_error_kind = (error_kind)atomic_load(&m->last_error_kind);
        }
        int64_t late = atomic_load(&m->lateness_ms);
        if (late > h->lateness_ms)
            h->lateness_ms = late;
        if (atomic_load(&m->unavailable))
            continue; /* skipped for good: neither failing nor waited for */
        int fails = atomic_load(&m->consecutive_failures);
        h->failing += fails > 0;
        if (fails > h->consecutive_failures)
            h->consecutive_failures = fails;
        int64_t ok_at = atomic_load(&m->last_success_ms);
        if (ok_at == 0)
            succeeded_all = 0;
        else if (oldest == 0 || ok_at < oldest)
            oldest = ok_at;
    }
    h->last_success_ms = succeeded_all ? oldest : 0;
    h->state = atomic_load(&s->auth_failed) ? SOURCE_AUTH_FAILED
               : running                    ? SOURCE_RUNNING
                                            : SOURCE_STOPPED;
}

void metrics_source_health(source_metrics *s, int64_t now_ms, source_health *out)
{
    pthread_mutex_lock(&registry_lock);
    health_of(s, now_ms, out);
    pthread_mutex_unlock(&registry_lock);
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

const char *metrics_error_kind_name(error_kind kind)
{
    return (int)kind >= 0 && kind < ERR_KINDS ? error_names[kind] : "unknown";
}

static const char *state_names[SOURCE_STATES] = {"running", "stopped", "auth_failed"};

const char *metrics_source_state_name(source_run_state state)
{
    return (int)state >= 0 && state < SOURCE_STATES ? state_names[state] : "unknown";
}

/* ---- Prometheus text: one line is name{labels} value, appended without printf -------------- */

static void family_header(buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void append_long(buf *out, long long v)
{
    char digits[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        digits[n++] = '-';
    buf_grow(out, (size_t)n);
    while (n)
        out->data[out->len++] = digits[--n];
    out->data[out->len] = '\0';
}

/* name{labels} (labels may be NULL: no braces), then the value is appended by the caller. */
static void line_start(buf *out, const char *name, const char *labels)
{
    buf_append_str(out, name);
    if (labels) {
        buf_append(out, "{", 1);
        buf_append_str(out, labels);
        buf_append(out, "} ", 2);
    } else {
        buf_append(out, " ", 1);
    }
}

static void line_long(buf *out, const char *name, const char *labels, long long v)
{
    line_start(out, name, labels);
    append_long(out, v);
    buf_append(out, "\n", 1);
}

/* Milliseconds as seconds with three decimals (exact: no floating point). */
static void line_ms_as_seconds(buf *out, const char *name, const char *labels, long long ms)
{
    line_start(out, name, labels);
    if (ms < 0) {
        buf_append(out, "-", 1);
        ms = -ms;
    }
    append_long(out, ms / 1000);
    char frac[5] = {'.', (char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10),
                    (char)('0' + ms % 10), '\n'};
    buf_append(out, frac, sizeof(frac));
}

typedef long (*table_getter)(table_metrics *m);

static void table_family(buf *out, const char *name, const char *type, const char *help,
                         table_getter get)
{
    family_header(out, name, type, help);
    for (table_metrics *m = tables; m; m = m->next)
        if (shown_here(m->owner))
            line_long(out, name, m->labels, get(m));
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
    family_header(out, name, type, help);
    int64_t now = now_wall_ms();
    for (table_metrics *m = tables; m; m = m->next) {
        if (!shown_here(m->owner))
            continue;
        long long ms;
        if (which == 0) {
            ms = atomic_load(&m->rate_wait_ms);
        } else if (which == 1) {
            ms = atomic_load(&m->request_ms);
        } else if (which == 2) {
            ms = atomic_load(&m->last_success_ms);
        } else {
            if ((ms = metrics_lag_ms(atomic_load(&m->bookmark_ms), now)) < 0)
                continue;
        }
        line_ms_as_seconds(out, name, m->labels, ms);
    }
}

static void render_statuses(buf *out)
{
    const char *name = "crmstream_http_requests_total";
    family_header(out, name, "counter", "HTTP attempts by status (0 = no response).");
    for (table_metrics *m = tables; m; m = m->next) {
        if (!shown_here(m->owner))
            continue;
        pthread_mutex_lock(&m->status_lock);
        for (int i = 0; i < m->n_statuses; i++)
            buf_printf(out, "%s{%s,status=\"%ld\"} %ld\n", name, m->labels, m->statuses[i],
                       m->status_counts[i]);
        pthread_mutex_unlock(&m->status_lock);
    }
}

static void render_errors(buf *out)
{
    const char *name = "crmstream_errors_total";
    family_header(out, name, "counter", "Failed pages and passes by kind.");
    for (table_metrics *m = tables; m; m = m->next)
        for (int k = 0; k < ERR_KINDS && shown_here(m->owner); k++) {
            buf_append_str(out, name);
            buf_append(out, "{", 1);
            buf_append_str(out, m->labels);
            buf_append(out, ",kind=\"", 7);
            buf_append_str(out, error_names[k]);
            buf_append(out, "\"} ", 3);
            append_long(out, atomic_load(&m->errors[k]));
            buf_append(out, "\n", 1);
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
    render_statuses(out);
    render_errors(out);
}

/* ---- per source: state and health summed up from its tables ------------------------------- */

typedef struct source_row {
    source_metrics *s;
    source_health h;
    char labels[160];
} source_row;

static void render_source_states(buf *out, const source_row *rows, size_t n)
{
    const char *name = "crmstream_source_state";
    family_header(out, name, "gauge",
                  "1 for the source's state: running (polling), stopped, auth_failed "
                  "(credentials rejected, the source stopped); 0 for the others.");
    for (size_t i = 0; i < n; i++)
        for (int st = 0; st < SOURCE_STATES; st++)
            buf_printf(out, "%s{%s,state=\"%s\"} %d\n", name, rows[i].labels, state_names[st],
                       rows[i].h.state == (source_run_state)st);
}

static void render_source_errors(buf *out, const source_row *rows, size_t n)
{
    const char *name = "crmstream_source_last_error_timestamp_seconds";
    family_header(out, name, "gauge",
                  "Wall time of the source's last failed pass, labelled with its kind "
                  "(kind=\"none\" and 0: no failure yet).");
    for (size_t i = 0; i < n; i++) {
        const source_health *h = &rows[i].h;
        char labels[200];
        snprintf(labels, sizeof(labels), "%s,kind=\"%s\"", rows[i].labels,
                 h->last_error_ms ? error_names[h->last_error_kind] : "none");
        line_ms_as_seconds(out, name, labels, h->last_error_ms);
    }
}

/* The per-source gauges after the state: one value of the source's health each, in seconds
 * (from milliseconds) or as a count; a negative value (lag without a bookmark) is left out. */
typedef struct source_family {
    const char *name, *help;
    long long (*get)(const source_health *h);
    int ms;
} source_family;

static long long health_last_success(const source_health *h)
{
    return h->last_success_ms;
}
static long long health_lag(const source_health *h)
{
    return h->lag_ms;
}
static long long health_consecutive_failures(const source_health *h)
{
    return h->consecutive_failures;
}
static long long health_failing(const source_health *h)
{
    return h->failing;
}
static long long health_lateness(const source_health *h)
{
    return h->lateness_ms;
}

static const source_family source_families[] = {
    {"crmstream_source_last_success_timestamp_seconds",
     "The oldest of the source's tables' last complete pass (0 until each table has had one; "
     "tables skipped as unavailable left out).",
     health_last_success, 1},
    {"crmstream_source_lag_seconds",
     "The largest now minus committed bookmark of the source's tables (absent until one has a "
     "bookmark).",
     health_lag, 1},
    {"crmstream_source_consecutive_failures",
     "The most failed passes in a row of one of the source's tables (0: its tables' last passes "
     "succeeded).",
     health_consecutive_failures, 0},
    {"crmstream_source_failing_tables", "Tables of the source whose last pass failed.",
     health_failing, 0},
    {"crmstream_source_poll_lateness_seconds",
     "How late the source's tables' last scheduled passes started (the largest).", health_lateness,
     1},
};

static void render_source_family(buf *out, const source_family *f, const source_row *rows, size_t n)
{
    family_header(out, f->name, "gauge", f->help);
    for (size_t i = 0; i < n; i++) {
        long long v = f->get(&rows[i].h);
        if (v < 0)
            continue;
        if (f->ms)
            line_ms_as_seconds(out, f->name, rows[i].labels, v);
        else
            line_long(out, f->name, rows[i].labels, v);
    }
}

static void render_sources(buf *out)
{
    size_t n = 0;
    for (source_metrics *s = sources; s; s = s->next)
        n++;
    source_row *rows = n ? xcalloc(n, sizeof(source_row)) : NULL;
    int64_t now = now_wall_ms();
    n = 0;
    for (source_metrics *s = sources; s; s = s->next) {
        if (!shown_here(s))
            continue;
        rows[n].s = s;
        health_of(s, now, &rows[n].h);
        snprintf(rows[n].labels, sizeof(rows[n].labels), "source=\"%s\"", s->source);
        n++;
    }
    render_source_states(out, rows, n);
    for (size_t f = 0; f < sizeof(source_families) / sizeof(source_families[0]); f++)
        render_source_family(out, &source_families[f], rows, n);
    render_source_errors(out, rows, n);
    free(rows);
}

/* The lateness histogram of every scheduled pass (no labels: one series set per process). */
static void render_lateness(buf *out)
{
    const char *name = "crmstream_poll_lateness_seconds";
    family_header(out, name, "histogram",
                  "How late scheduled passes started, relative to their schedule.");
    long cumulative = 0;
    for (size_t i = 0; i <= LATENESS_BUCKETS; i++) {
        cumulative += atomic_load(&lateness_counts[i]);
        if (i < LATENESS_BUCKETS)
            buf_printf(out, "%s_bucket{le=\"%g\"} %ld\n", name, lateness_bounds[i], cumulative);
        else
            buf_printf(out, "%s_bucket{le=\"+Inf\"} %ld\n", name, cumulative);
    }
    line_ms_as_seconds(out, "crmstream_poll_lateness_seconds_sum", NULL,
                       atomic_load(&lateness_sum_ms));
    line_long(out, "crmstream_poll_lateness_seconds_count", NULL, cumulative);
    family_header(out, "crmstream_poll_lateness_max_seconds", "gauge",
                  "The latest any scheduled pass started since the process started.");
    line_ms_as_seconds(out, "crmstream_poll_lateness_max_seconds", NULL,
                       atomic_load(&lateness_max_ms));
}

/* shares: the sources' shares of their shard's producer have this counter too */
/* ---- per shard ------------------------------------------------------------------------- */

static long long shard_assigned(shard_metrics *m)
{
    return atomic_load(&m->assigned);
}
static long long shard_sources(shard_metrics *m)
{
    return atomic_load(&m->sources);
}
static long long shard_commits(shard_metrics *m)
{
    return atomic_load(&m->commits);
}
static long long shard_aborts(shard_metrics *m)
{
    return atomic_load(&m->aborts);
}
static long long shard_last_commit(shard_metrics *m)
{
    return atomic_load(&m->last_commit_ms);
}

static void render_shards(buf *out)
{
    static const struct {
        const char *name, *type, *help;
        long long (*get)(shard_metrics *m);
        int ms;
    } families[] = {
        {"crmstream_shard_assigned", "gauge",
         "1 when this instance runs the shard (its transactional producer is up), else 0.",
         shard_assigned, 0},
        {"crmstream_shard_sources", "gauge", "Sources of the config that belong to the shard.",
         shard_sources, 0},
        {"crmstream_shard_transactions_committed_total", "counter",
         "Transactions the shard committed (each may hold several sources' pages).", shard_commits,
         0},
        {"crmstream_shard_transactions_aborted_total", "counter", "Transactions the shard aborted.",
         shard_aborts, 0},
        {"crmstream_shard_last_commit_timestamp_seconds", "gauge",
         "Wall time of the shard's last committed transaction (0: none yet).", shard_last_commit,
         1},
    };
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        family_header(out, families[f].name, families[f].type, families[f].help);
        for (shard_metrics *m = shards; m; m = m->next) {
            char labels[32];
            snprintf(labels, sizeof(labels), "shard=\"%d\"", m->id);
            if (families[f].ms)
                line_ms_as_seconds(out, families[f].name, labels, families[f].get(m));
            else
                line_long(out, families[f].name, labels, families[f].get(m));
        }
    }
}

static void producer_line(buf *out, const char *name, const char *type, const char *help,
                          size_t offset, int shares)
{
    family_header(out, name, type, help);
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
    family_header(out, name, "gauge", "Average broker round-trip time.");
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

static atomic_long reloads, reload_errors;

void metrics_count_reload(int errors)
{
    atomic_fetch_add(&reloads, 1);
    atomic_fetch_add(&reload_errors, errors);
}

static void render_reloads(buf *out)
{
    buf_printf(out,
               "# HELP crmstream_config_reloads_total Live reloads of the sources (SIGHUP, "
               "sources_dir changed).\n"
               "# TYPE crmstream_config_reloads_total counter\n"
               "crmstream_config_reloads_total %ld\n"
               "# HELP crmstream_config_reload_errors_total Bad source files and sources that "
               "could not start, found by reloads.\n"
               "# TYPE crmstream_config_reload_errors_total counter\n"
               "crmstream_config_reload_errors_total %ld\n",
               atomic_load(&reloads), atomic_load(&reload_errors));
}

void metrics_render(buf *out)
{
    render_build_info(out);
    render_reloads(out);
    pthread_mutex_lock(&registry_lock);
    render_tables(out);
    render_sources(out);
    render_lateness(out);
    render_shards(out);
    render_producers(out);
    pthread_mutex_unlock(&registry_lock);
}

/* ---- the same health as JSON (/status) ---------------------------------------------------- */

static json_t *table_status_json(table_metrics *m, int64_t now)
{
    char last_error[sizeof(m->last_error)];
    pthread_mutex_lock(&m->status_lock);
    memcpy(last_error, m->last_error, sizeof(last_error));
    pthread_mutex_unlock(&m->status_lock);
    int64_t err_at = atomic_load(&m->last_error_ms);
    return json_pack(
        "{s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:s, s:s, s:i, s:I}", "table", m->table, "running",
        atomic_load(&m->running), "unavailable", atomic_load(&m->unavailable), "bookmark_ms",
        (json_int_t)atomic_load(&m->bookmark_ms), "lag_ms",
        (json_int_t)metrics_lag_ms(atomic_load(&m->bookmark_ms), now), "last_success_ms",
        (json_int_t)atomic_load(&m->last_success_ms), "last_error_ms", (json_int_t)err_at,
        "last_error_kind",
        err_at ? error_names[atomic_load(&m->last_error_kind) % ERR_KINDS] : "none", "last_error",
        last_error, "consecutive_failures", atomic_load(&m->consecutive_failures), "lateness_ms",
        (json_int_t)atomic_load(&m->lateness_ms));
}

static json_t *source_status_json(source_metrics *s, int64_t now)
{
    source_health h;
    health_of(s, now, &h);
    json_t *list = json_array();
    for (table_metrics *m = s->tables; m; m = m->next_in_source)
        json_array_append_new(list, table_status_json(m, now));
    return json_pack(
        "{s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:s, s:i, s:I, s:o}", "source", s->source,
        "state", state_names[h.state], "shard", atomic_load(&s->shard), "tables", h.tables,
        "failing", h.failing, "last_success_ms", (json_int_t)h.last_success_ms, "lag_ms",
        (json_int_t)h.lag_ms, "last_error_ms", (json_int_t)h.last_error_ms, "last_error_kind",
        h.last_error_ms ? error_names[h.last_error_kind] : "none", "consecutive_failures",
        h.consecutive_failures, "lateness_ms", (json_int_t)h.lateness_ms, "table_status", list);
}

static json_t *shards_status_json(void)
{
    json_t *list = json_array();
    for (shard_metrics *m = shards; m; m = m->next)
        json_array_append_new(list, json_pack("{s:i, s:b, s:i, s:I, s:I, s:I}", "shard", m->id,
                                              "assigned", atomic_load(&m->assigned), "sources",
                                              atomic_load(&m->sources), "last_commit_ms",
                                              (json_int_t)atomic_load(&m->last_commit_ms),
                                              "commits", (json_int_t)atomic_load(&m->commits),
                                              "aborts", (json_int_t)atomic_load(&m->aborts)));
    return list;
}

json_t *metrics_status_json(void)
{
    int64_t now = now_wall_ms();
    json_t *list = json_array();
    pthread_mutex_lock(&registry_lock);
    json_t *shard_list = shards_status_json();
    for (source_metrics *s = sources; s; s = s->next) {
        if (!shown_here(s))
            continue;
        json_t *one = source_status_json(s, now);
        if (one)
            json_array_append_new(list, one);
    }
    pthread_mutex_unlock(&registry_lock);
    return json_pack("{s:I, s:o, s:o}", "now_ms", (json_int_t)now, "shards", shard_list, "sources",
                     list);
}
