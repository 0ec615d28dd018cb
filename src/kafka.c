/* kafka.c — librdkafka producer wrapper: page commits in transactions (exactly-once) or with
 * acknowledgement-ordered state writes (at-least-once), topic creation and reachability probes. */
#include "kafka.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

/* ---- batches ----------------------------------------------------------------------------- */

/* Messages keep offsets into one growing byte arena (keys and values back to back), so adding
 * a message costs no allocation once the batch has warmed up; clearing keeps the memory for the
 * next page. Topic names are borrowed (they live as long as the run). */
typedef struct kafka_msg {
    const char *topic;
    size_t key_off, key_len;
    size_t value_off, value_len;
    int tombstone;
} kafka_msg;

struct kafka_batch {
    kafka_msg *msgs;
    size_t n, cap;
    buf arena;
    size_t bytes;
};

kafka_batch *kafka_batch_new(void)
{
    kafka_batch *b = xcalloc(1, sizeof(kafka_batch));
    buf_init(&b->arena);
    return b;
}

void kafka_batch_clear(kafka_batch *b)
{
    b->n = 0;
    b->bytes = 0;
    buf_reset(&b->arena);
}

void kafka_batch_free(kafka_batch *b)
{
    if (!b)
        return;
    buf_free(&b->arena);
    free(b->msgs);
    free(b);
}

buf *kafka_batch_begin_value(kafka_batch *b, const char *topic, const void *key, size_t key_len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->msgs = xrealloc(b->msgs, b->cap * sizeof(kafka_msg));
    }
    kafka_msg *m = &b->msgs[b->n++];
    m->topic = topic;
    m->key_off = b->arena.len;
    m->key_len = key_len;
    buf_append(&b->arena, key, key_len);
    m->tombstone = 0;
    m->value_off = b->arena.len;
    m->value_len = 0;
    b->bytes += key_len;
    return &b->arena;
}

void kafka_batch_end_value(kafka_batch *b)
{
    kafka_msg *m = &b->msgs[b->n - 1];
    m->value_len = b->arena.len - m->value_off;
    b->bytes += m->value_len;
}

void kafka_batch_each(const kafka_batch *b, kafka_batch_fn fn, void *u)
{
    for (size_t i = 0; i < b->n; i++) {
        const kafka_msg *m = &b->msgs[i];
        fn(m->topic, b->arena.data + m->key_off, m->key_len,
           m->tombstone ? NULL : b->arena.data + m->value_off, m->value_len, u);
    }
}

void kafka_batch_truncate(kafka_batch *b, size_t n)
{
    if (n >= b->n)
        return;
    for (size_t i = n; i < b->n; i++)
        b->bytes -= b->msgs[i].key_len + b->msgs[i].value_len;
    b->arena.len = b->msgs[n].key_off;
    b->n = n;
}

size_t kafka_batch_count(const kafka_batch *b)
{
    return b->n;
}

size_t kafka_batch_bytes(const kafka_batch *b)
{
    return b->bytes;
}

void kafka_batch_add(kafka_batch *b, const char *topic, const void *key, size_t key_len,
                     const void *value, size_t value_len)
{
    buf *arena = kafka_batch_begin_value(b, topic, key, key_len);
    if (value)
        buf_append(arena, value, value_len);
    else
        b->msgs[b->n - 1].tombstone = 1;
    kafka_batch_end_value(b);
}

/* ---- delivery tracking ------------------------------------------------------------------- */

/* Heap-allocated: when a commit gives up (shutdown) before every report arrived, the tracker is
 * orphaned and the last delivery report frees it. */
typedef struct tracker {
    pthread_mutex_t lock;
    pthread_cond_t done;
    size_t pending;
    int failed;
    int orphaned;
    atomic_long *delivery_errors; /* metrics counter, or NULL */
    char error[256];
} tracker;

static tracker *tracker_new(size_t pending)
{
    tracker *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->done, NULL);
    t->pending = pending;
    return t;
}

static void tracker_destroy(tracker *t)
{
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->done);
    free(t);
}

/* Frees t now, or hands it to the last outstanding delivery report. */
static void tracker_release(tracker *t)
{
    pthread_mutex_lock(&t->lock);
    int outstanding = t->pending > 0;
    if (outstanding)
        t->orphaned = 1;
    pthread_mutex_unlock(&t->lock);
    if (!outstanding)
        tracker_destroy(t);
}

/* Waits until every message is acknowledged or failed. 0 when all succeeded. After *stop is set
 * it waits at most stop_grace_ms more. */
static int tracker_wait(tracker *t, volatile int *stop, int64_t stop_grace_ms)
{
    int64_t deadline = -1;
    pthread_mutex_lock(&t->lock);
    while (t->pending > 0) {
        if (stop && flag_is_set(stop) && deadline < 0)
            deadline = now_monotonic_ms() + stop_grace_ms;
        if (deadline >= 0 && now_monotonic_ms() > deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&t->done, &t->lock, &ts);
    }
    int ok = t->pending == 0 && !t->failed;
    pthread_mutex_unlock(&t->lock);
    return ok ? 0 : -1;
}

/* n messages were never queued (a produce failed): they will never be reported. */
static void tracker_forget(tracker *t, size_t n)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->pending -= n < t->pending ? n : t->pending;
    t->failed = 1;
    pthread_cond_broadcast(&t->done);
    pthread_mutex_unlock(&t->lock);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    tracker *t = m->_private;
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    if (m->err && t->delivery_errors)
        atomic_fetch_add(t->delivery_errors, 1);
    if (m->err && !t->failed) {
        t->failed = 1;
        snprintf(t->error, sizeof(t->error), "delivery to %s failed: %s",
                 rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    }
    if (t->pending > 0)
        t->pending--;
    int free_now = t->pending == 0 && t->orphaned;
    if (t->pending == 0)
        pthread_cond_broadcast(&t->done);
    pthread_mutex_unlock(&t->lock);
    if (free_now)
        tracker_destroy(t);
}

/* ---- producer ---------------------------------------------------------------------------- */

/* How long one abort_transaction call may block (at most the transaction timeout); a timed-out
 * abort goes on in the background and the next commit resumes it (librdkafka refuses every
 * other transactional call until the abort completed). */
#define ABORT_TIMEOUT_MS 10000
/* Consecutive failed producer re-creations after which the source stops (exit code 3). */
#define MAX_RESTARTS 5

struct kafka_producer {
    rd_kafka_t *rk;
    const kafka_config *kc; /* borrowed: re-creating the producer after a fatal error */
    int transactional;
    int txn_timeout_ms;
    char *source; /* the producer's name (shard-<n>): its log lines' source field */
    pthread_mutex_t txn_lock;
    pthread_t poller;
    /* Flags set by librdkafka's thread (on_error) or a commit thread while others read them:
     * read and set with flag_is_set()/flag_set() only. */
    volatile int closing; /* the poll thread ends */
    volatile int fatal;   /* final: fenced, or the producer could not be made usable again */
    volatile int broken;  /* librdkafka raised a fatal error: the handle must be re-created */
    volatile int fenced;
    /* Exactly-once, guarded by txn_lock: an abort that timed out (retriable), resumed before
     * anything else; since when (monotonic ms); failed re-creations in a row. */
    int abort_pending;
    int64_t abort_pending_since;
    int failed_restarts;
    atomic_llong txn_begun_ms;   /* monotonic start of the open transaction, 0: none */
    atomic_llong excused_txn_ms; /* the txn_begun_ms whose fence error was excused */
    /* Why the producer broke or failed, written by on_error and the commit threads, read by the
     * health endpoint's thread. Guarded by reason_lock. */
    pthread_mutex_t reason_lock;
    char fatal_reason[512];
    kafka_metrics *metrics;
    /* Batch arenas librdkafka may still read: messages are produced without a copy, so after a
     * failed commit their arena is kept here (the batch goes on with a copy) until nothing is
     * queued any more. Guarded by graveyard_lock. */
    pthread_mutex_t graveyard_lock;
    char **graveyard;
    size_t n_graveyard, cap_graveyard;
    /* Topic handles by name: producing by handle skips librdkafka's per-message lookup of the
     * topic name under its handle lock. Guarded by topics_lock; handles live until the end. */
    pthread_mutex_t topics_lock;
    struct topic_handle {
        char *name;
        rd_kafka_topic_t *rkt;
    } * topics;
    size_t n_topics, cap_topics;
};

/* The handle of topic `name`, created on first use; NULL when librdkafka refuses it. */
static rd_kafka_topic_t *topic_handle(kafka_producer *p, const char *name)
{
    rd_kafka_topic_t *rkt = NULL;
    pthread_mutex_lock(&p->topics_lock);
    for (size_t i = 0; i < p->n_topics && !rkt; i++)
        if (strcmp(p->topics[i].name, name) == 0)
            rkt = p->topics[i].rkt;
    if (!rkt && (rkt = rd_kafka_topic_new(p->rk, name, NULL)) != NULL) {
        if (p->n_topics == p->cap_topics) {
            p->cap_topics = p->cap_topics ? p->cap_topics * 2 : 16;
            p->topics = xrealloc(p->topics, p->cap_topics * sizeof(*p->topics));
        }
        p->topics[p->n_topics++] = (struct topic_handle){xstrdup(name), rkt};
    }
    pthread_mutex_unlock(&p->topics_lock);
    return rkt;
}

static void free_topic_handles(kafka_producer *p)
{
    for (size_t i = 0; i < p->n_topics; i++) {
        rd_kafka_topic_destroy(p->topics[i].rkt);
        free(p->topics[i].name);
    }
    free(p->topics);
}

/* The batch keeps a copy of its arena; the original, which queued messages may still point
 * into, goes to the graveyard. */
static void retire_arena(kafka_producer *p, kafka_batch *b)
{
    if (!b || !b->arena.data)
        return;
    buf copy;
    buf_init(&copy);
    buf_append(&copy, b->arena.data, b->arena.len);
    pthread_mutex_lock(&p->graveyard_lock);
    if (p->n_graveyard == p->cap_graveyard) {
        p->cap_graveyard = p->cap_graveyard ? p->cap_graveyard * 2 : 8;
        p->graveyard = xrealloc(p->graveyard, p->cap_graveyard * sizeof(char *));
    }
    p->graveyard[p->n_graveyard++] = b->arena.data;
    pthread_mutex_unlock(&p->graveyard_lock);
    b->arena = copy;
}

/* Frees the retired arenas once librdkafka holds no message (force: it is destroyed). */
static void bury_arenas(kafka_producer *p, int force)
{
    pthread_mutex_lock(&p->graveyard_lock);
    if (p->n_graveyard > 0 && (force || !p->rk || rd_kafka_outq_len(p->rk) == 0)) {
        for (size_t i = 0; i < p->n_graveyard; i++)
            free(p->graveyard[i]);
        p->n_graveyard = 0;
    }
    pthread_mutex_unlock(&p->graveyard_lock);
}

static void count(kafka_producer *p, atomic_long *counter, long n)
{
    if (p->metrics)
        atomic_fetch_add(counter, n);
}

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    kafka_producer *p = opaque;
    if (p->metrics)
        kafka_metrics_update_stats(p->metrics, json, len);
    return 0; /* librdkafka frees json */
}

/* The handle raised a fatal error. A fenced producer, or one without transactions (whose
 * commits are not serialized, so it cannot be swapped under them), is done for; a transactional
 * one is re-created by the next commit. */
static void mark_broken(kafka_producer *p)
{
    flag_set(&p->broken, 1);
    if (flag_is_set(&p->fenced) || !p->transactional)
        flag_set(&p->fatal, 1);
}

/* KAFKA_FATAL once the producer is done for, else KAFKA_RETRY. */
static kafka_result retry_or_fatal(kafka_producer *p)
{
    return flag_is_set(&p->fatal) ? KAFKA_FATAL : KAFKA_RETRY;
}

static void set_fatal_reason(kafka_producer *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_fatal_reason(kafka_producer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&p->reason_lock);
    vsnprintf(p->fatal_reason, sizeof(p->fatal_reason), fmt, ap);
    pthread_mutex_unlock(&p->reason_lock);
    va_end(ap);
}

static int is_fence_code(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* A fence error also answers a transaction that outlived transaction.timeout.ms: the coordinator
 * aborted it and bumped the producer epoch (measured after a broker outage longer than the
 * timeout). Only the fence of a younger transaction means another instance took over; the other
 * one is handled like any fatal error (the producer is re-created). */
static void note_fence(kafka_producer *p, const char *what)
{
    int64_t begun = atomic_load(&p->txn_begun_ms);
    if (p->transactional && begun && now_monotonic_ms() - begun >= p->txn_timeout_ms) {
        /* the error callback and the failed call both report it: said once */
        if (atomic_exchange(&p->excused_txn_ms, begun) == begun)
            return;
        log_warn(p->source, NULL,
                 "kafka: %s, but the transaction was open for %lld ms, longer than "
                 "transaction_timeout: the coordinator aborted it, no other instance is involved",
                 what, (long long)(now_monotonic_ms() - begun));
        return;
    }
    flag_set(&p->fenced, 1);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_producer *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal_text[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal_text, sizeof(fatal_text));
        set_fatal_reason(p, "%s", fatal_text);
        if (is_fence_code(orig))
            note_fence(p, fatal_text);
        mark_broken(p);
        log_error(p->source, NULL, "kafka fatal error: %s", fatal_text);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && p->metrics)
        atomic_store(&p->metrics->brokers_down, 1);
    log_warn(p->source, NULL, "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *msg)
{
    (void)rk;
    log_event(level <= 3   ? LOG_ERROR
              : level <= 4 ? LOG_WARN
                           : LOG_DEBUG,
              NULL, NULL, "librdkafka %s: %s", fac, msg);
}

void kafka_conf_set_logger(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, on_log);
}

static void *poll_loop(void *arg)
{
    kafka_producer *p = arg;
    while (!flag_is_set(&p->closing))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

int kafka_conf_apply(rd_kafka_conf_t *conf, const kafka_config *kc, const char *const *defaults,
                     char *err, size_t errlen)
{
    char errstr[512];
    for (int i = 0; defaults && defaults[i]; i += 2) {
        if (rd_kafka_conf_set(conf, defaults[i], defaults[i + 1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "kafka property %s: %s", defaults[i], errstr);
            return -1;
        }
    }
    for (int i = 0; i < kc->n_properties; i++) {
        if (rd_kafka_conf_set(conf, kc->properties[i].key, kc->properties[i].value, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "line %d: kafka.properties: %s: %s", kc->properties[i].line,
                     kc->properties[i].key, errstr);
            return -1;
        }
    }
    for (int i = 0; i < kc->n_secret_properties; i++) {
        const kv *sp = &kc->secret_properties[i];
        if (rd_kafka_conf_set(conf, sp->key, sp->value, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            /* librdkafka's reason may quote the value: the secret stays out of it */
            snprintf(err, errlen, "line %d: kafka.properties_env: %s: %s", sp->line, sp->key,
                     strstr(errstr, sp->value) ? "value rejected" : errstr);
            return -1;
        }
    }
    return 0;
}

/* Creates the librdkafka handle and its poll thread, and in exactly-once mode runs
 * init_transactions (which fences an older instance and aborts its open transaction). */
static int producer_connect(kafka_producer *p, char *err, size_t errlen)
{
    const kafka_config *kc = p->kc;
    char client_id[256], txn_id[256], txn_timeout[32];
    snprintf(client_id, sizeof(client_id), "crmstream-%s", p->source);
    /* Producers of the same name (a shard, shard.h) of one deployment fence each other; other
     * deployments on the same cluster (kafka.deployment, default the topic prefix) do not. */
    kafka_transactional_id(kc, p->source, txn_id, sizeof(txn_id));
    snprintf(txn_timeout, sizeof(txn_timeout), "%d", kc->transaction_timeout_ms);
    const char *defaults[] = {"bootstrap.servers",
                              kc->bootstrap_servers,
                              "client.id",
                              client_id,
                              "statistics.interval.ms",
                              "15000",
                              "enable.idempotence",
                              "true",
                              "acks",
                              "all",
                              "linger.ms",
                              "20",
                              "compression.codec",
                              "lz4",
                              "partitioner",
                              "murmur2_random",
                              p->transactional ? "transactional.id" : NULL,
                              txn_id,
                              "transaction.timeout.ms",
                              txn_timeout,
                              NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_apply(conf, kc, defaults, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    char errstr[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka producer: %s", errstr);
        return -1;
    }
    flag_set(&p->closing, 0);
    if (pthread_create(&p->poller, NULL, poll_loop, p) != 0) {
        snprintf(err, errlen, "kafka producer: cannot start poll thread");
        rd_kafka_destroy(p->rk);
        p->rk = NULL;
        return -1;
    }
    if (p->transactional) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(p->rk, 60000);
        if (e) {
            snprintf(err, errlen, "kafka init_transactions (transactional.id %s): %s", txn_id,
                     rd_kafka_error_string(e));
            if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED ||
                rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED)
                flag_set(&p->fenced, 1);
            rd_kafka_error_destroy(e);
            flag_set(&p->closing, 1);
            pthread_join(p->poller, NULL);
            rd_kafka_destroy(p->rk);
            p->rk = NULL;
            return -1;
        }
    }
    return 0;
}

/* Destroys the librdkafka handle (flushing for at most flush_ms unless it failed fatally) and
 * everything tied to it: the poll thread, topic handles, retired arenas. */
static void producer_disconnect(kafka_producer *p, int flush_ms)
{
    if (!p->rk) /* a re-creation failed */
        return;
    if (!flag_is_set(&p->broken)) {
        rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, flush_ms);
        if (e)
            log_warn(p->source, NULL, "kafka flush on close: %s", rd_kafka_err2str(e));
    } else {
        /* Whatever is queued fails now; serving the reports frees their trackers. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 2000);
    }
    flag_set(&p->closing, 1);
    pthread_join(p->poller, NULL);
    pthread_mutex_lock(&p->topics_lock);
    free_topic_handles(p);
    p->topics = NULL;
    p->n_topics = p->cap_topics = 0;
    pthread_mutex_unlock(&p->topics_lock);
    rd_kafka_destroy(p->rk);
    p->rk = NULL;
    bury_arenas(p, 1);
}

void kafka_transactional_id(const kafka_config *kc, const char *name, char *out, size_t len)
{
    snprintf(out, len, "crmstream-%s-%s", kc->deployment, name);
}

int kafka_fence(const kafka_config *kc, const char *transactional_id, char *err, size_t errlen)
{
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", kc->transaction_timeout_ms);
    const char *defaults[] = {"bootstrap.servers",
                              kc->bootstrap_servers,
                              "client.id",
                              "crmstream-fence",
                              "transactional.id",
                              transactional_id,
                              "transaction.timeout.ms",
                              timeout,
                              NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_apply(conf, kc, defaults, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka producer: %s", errstr);
        return -1;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 60000);
    if (e) {
        snprintf(err, errlen, "kafka init_transactions (transactional.id %s): %s", transactional_id,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_destroy(rk);
    return e ? -1 : 0;
}

kafka_producer *kafka_producer_new(const kafka_config *kc, const char *name, kafka_metrics *metrics,
                                   char *err, size_t errlen)
{
    kafka_producer *p = xcalloc(1, sizeof(*p));
    p->kc = kc;
    p->metrics = metrics;
    p->source = xstrdup(name);
    p->transactional = kc->delivery == DELIVERY_EXACTLY_ONCE;
    p->txn_timeout_ms = kc->transaction_timeout_ms;
    pthread_mutex_init(&p->txn_lock, NULL);
    pthread_mutex_init(&p->graveyard_lock, NULL);
    pthread_mutex_init(&p->topics_lock, NULL);
    pthread_mutex_init(&p->reason_lock, NULL);
    if (producer_connect(p, err, errlen) == 0)
        return p;
    pthread_mutex_destroy(&p->txn_lock);
    pthread_mutex_destroy(&p->graveyard_lock);
    pthread_mutex_destroy(&p->topics_lock);
    pthread_mutex_destroy(&p->reason_lock);
    free(p->source);
    free(p);
    return NULL;
}

void kafka_producer_free(kafka_producer *p, int timeout_ms)
{
    if (!p)
        return;
    producer_disconnect(p, timeout_ms);
    bury_arenas(p, 1); /* those of commits after a failed re-creation (no handle to disconnect) */
    free(p->graveyard);
    pthread_mutex_destroy(&p->txn_lock);
    pthread_mutex_destroy(&p->graveyard_lock);
    pthread_mutex_destroy(&p->topics_lock);
    pthread_mutex_destroy(&p->reason_lock);
    free(p->source);
    free(p);
}

void *kafka_producer_handle(kafka_producer *p)
{
    return p->rk;
}

int kafka_is_fatal(kafka_producer *p)
{
    return flag_is_set(&p->fatal);
}

int kafka_is_fenced(kafka_producer *p)
{
    return flag_is_set(&p->fenced);
}

const char *kafka_fatal_reason(kafka_producer *p, char *out, size_t len)
{
    pthread_mutex_lock(&p->reason_lock);
    snprintf(out, len, "%s", p->fatal_reason);
    pthread_mutex_unlock(&p->reason_lock);
    return out;
}

/* Produces every message of b, tracked by t when non-NULL. Blocks on a full queue. The values
 * are not copied: librdkafka reads them from b's arena until they are delivered (a commit that
 * fails retires the arena, see retire_arena). */
static rd_kafka_resp_err_t produce_batch(kafka_producer *p, kafka_batch *b, tracker *t, char *err,
                                         size_t errlen)
{
    const char *topic = NULL;
    rd_kafka_topic_t *rkt = NULL;
    for (size_t i = 0; i < b->n; i++) {
        kafka_msg *m = &b->msgs[i];
        char *key = b->arena.data + m->key_off;
        char *value = m->tombstone ? NULL : b->arena.data + m->value_off;
        if (m->topic != topic) { /* runs of one topic: one lookup */
            topic = m->topic;
            rkt = topic_handle(p, topic);
        }
        for (;;) {
            rd_kafka_resp_err_t e =
                rkt ? rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, m->key_len),
                                        RD_KAFKA_V_VALUE(value, m->value_len),
                                        RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_OPAQUE(t),
                                        RD_KAFKA_V_END)
                    : RD_KAFKA_RESP_ERR__INVALID_ARG;
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !flag_is_set(&p->fatal)) {
                struct timespec ts = {0, 10 * 1000000};
                nanosleep(&ts, NULL);
                continue;
            }
            snprintf(err, errlen, "produce to %s: %s", m->topic, rd_kafka_err2str(e));
            tracker_forget(t, b->n - i);
            return e;
        }
    }
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* librdkafka refused a message of its own (too large, unknown topic): the batch holding it
 * fails whatever it is committed with; the other batches of a group need not. */
static int refuses_message(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR__INVALID_ARG ||
           e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

/* The messages of the n batches of parts (NULL entries count none). */
static size_t count_messages(kafka_batch *const *parts, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; parts && i < n; i++)
        total += parts[i] ? parts[i]->n : 0;
    return total;
}

/* Produces every message of the n batches of parts, tracked by t; on a failure the messages
 * not produced are forgotten by t, and *refused is set to i when librdkafka refused a message
 * of parts[i] itself (refuses_message). */
static int produce_batches(kafka_producer *p, kafka_batch *const *parts, size_t n, tracker *t,
                           size_t *refused, char *err, size_t errlen)
{
    for (size_t i = 0; parts && i < n; i++) {
        rd_kafka_resp_err_t e =
            parts[i] ? produce_batch(p, parts[i], t, err, errlen) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            tracker_forget(t, count_messages(parts + i + 1, n - i - 1));
            if (refuses_message(e))
                *refused = i;
            return -1;
        }
    }
    return 0;
}

static kafka_result commit_at_least_once(kafka_producer *p, kafka_batch *const *data,
                                         kafka_batch *const *state, size_t n, size_t *refused,
                                         volatile int *stop, char *err, size_t errlen)
{
    kafka_batch *const *parts[2] = {data, state};
    for (int i = 0; i < 2; i++) {
        size_t msgs = count_messages(parts[i], n);
        if (msgs == 0)
            continue;
        tracker *t = tracker_new(msgs);
        t->delivery_errors = p->metrics ? &p->metrics->delivery_errors : NULL;
        int rc = produce_batches(p, parts[i], n, t, refused, err, errlen);
        int waited = tracker_wait(t, stop, 8000);
        if (rc == 0 && waited != 0)
            snprintf(err, errlen, "%s", t->failed ? t->error : "stopped before acknowledgement");
        tracker_release(t);
        if (rc || waited)
            return retry_or_fatal(p);
    }
    return KAFKA_OK;
}

static kafka_result txn_error(kafka_producer *p, rd_kafka_error_t *e, const char *what, char *err,
                              size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, rd_kafka_error_string(e));
    if (rd_kafka_error_is_fatal(e)) {
        if (is_fence_code(rd_kafka_error_code(e)))
            note_fence(p, rd_kafka_error_string(e));
        set_fatal_reason(p, "%s", rd_kafka_error_string(e));
        mark_broken(p);
    }
    rd_kafka_error_destroy(e);
    return retry_or_fatal(p);
}

/* Aborts the open transaction, or resumes an abort that timed out. 0 when it is done; -1 when it
 * timed out again (it goes on in the background, p->abort_pending says to resume it) or failed
 * (the producer is broken, err says why). */
static int abort_transaction(kafka_producer *p, char *err, size_t errlen)
{
    rd_kafka_error_t *e = rd_kafka_abort_transaction(
        p->rk, p->txn_timeout_ms < ABORT_TIMEOUT_MS ? p->txn_timeout_ms : ABORT_TIMEOUT_MS);
    if (!e || rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__STATE) { /* _STATE: none open */
        if (p->abort_pending)
            log_info(p->source, NULL, "kafka: the interrupted transaction abort completed");
        rd_kafka_error_destroy(e);
        p->abort_pending = 0;
        atomic_store(&p->txn_begun_ms, 0);
        return 0;
    }
    if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e)) {
        if (!p->abort_pending) {
            p->abort_pending = 1;
            p->abort_pending_since = now_monotonic_ms();
        }
        snprintf(err, errlen, "abort_transaction (resumed by the next commit): %s",
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -1;
    }
    /* Fatal, or an error librdkafka does not classify: only a new handle gets out of it. */
    if (!rd_kafka_error_is_fatal(e))
        set_fatal_reason(p, "abort_transaction: %s", rd_kafka_error_string(e));
    txn_error(p, e, "abort_transaction", err, errlen);
    mark_broken(p);
    return -1;
}

/* After a failed page: abort, logging what fails (the next commit resumes or recovers). */
static void abort_quietly(kafka_producer *p)
{
    char err[512];
    if (abort_transaction(p, err, sizeof(err)))
        log_warn(p->source, NULL, "kafka %s", err);
}

/* Replaces a broken handle by a new one (init_transactions fences nothing but the old handle:
 * same transactional.id). After MAX_RESTARTS failures in a row the producer is fatal. */
static int producer_restart(kafka_producer *p, char *err, size_t errlen)
{
    char reason[sizeof(p->fatal_reason)];
    log_warn(p->source, NULL, "kafka: re-creating the producer after: %s",
             kafka_fatal_reason(p, reason, sizeof(reason)));
    producer_disconnect(p, 0);
    flag_set(&p->broken, 0);
    p->abort_pending = 0;
    atomic_store(&p->txn_begun_ms, 0);
    if (producer_connect(p, err, errlen) == 0) {
        p->failed_restarts = 0;
        if (p->metrics)
            atomic_fetch_add(&p->metrics->producer_restarts, 1);
        log_info(p->source, NULL, "kafka: producer re-created");
        return 0;
    }
    set_fatal_reason(p, "%s", err);
    flag_set(&p->broken, 1);
    if (flag_is_set(&p->fenced) || ++p->failed_restarts >= MAX_RESTARTS)
        flag_set(&p->fatal, 1);
    log_warn(p->source, NULL, "kafka: re-creating the producer failed (%d in a row): %s",
             p->failed_restarts, err);
    return -1;
}

/* Makes the transactional producer ready for begin_transaction: resumes a timed-out abort,
 * re-creates a broken handle (also when an abort stays pending far longer than a transaction
 * may live, so nothing waits on librdkafka forever). 0 ready, else KAFKA_RETRY/KAFKA_FATAL. */
static kafka_result txn_ready(kafka_producer *p, char *err, size_t errlen)
{
    if (p->abort_pending && !flag_is_set(&p->broken) &&
        now_monotonic_ms() - p->abort_pending_since > 2LL * p->txn_timeout_ms + 60000) {
        set_fatal_reason(p, "abort_transaction pending for more than %d s",
                         (int)((2LL * p->txn_timeout_ms + 60000) / 1000));
        flag_set(&p->broken, 1);
    }
    if (flag_is_set(&p->broken) && producer_restart(p, err, errlen))
        return retry_or_fatal(p);
    if (p->abort_pending && abort_transaction(p, err, errlen))
        return retry_or_fatal(p);
    return KAFKA_OK;
}

static kafka_result commit_exactly_once(kafka_producer *p, kafka_batch *const *data,
                                        kafka_batch *const *state, size_t n, size_t *refused,
                                        volatile int *stop, char *err, size_t errlen)
{
    pthread_mutex_lock(&p->txn_lock);
    kafka_result r = txn_ready(p, err, errlen);
    if (r != KAFKA_OK)
        goto out;
    bury_arenas(p, 0); /* under txn_lock: a re-creation replaces p->rk */
    rd_kafka_error_t *e = rd_kafka_begin_transaction(p->rk);
    if (e) {
        r = txn_error(p, e, "begin_transaction", err, errlen);
        goto out;
    }
    atomic_store(&p->txn_begun_ms, now_monotonic_ms());
    /* The state first: its partition and the data's are registered with the transaction in one
     * request (librdkafka 2.0.2 spins its main thread for ~1 ms around each registration). */
    tracker *t = tracker_new(count_messages(data, n) + count_messages(state, n));
    t->delivery_errors = p->metrics ? &p->metrics->delivery_errors : NULL;
    int produced = 0;
    if (produce_batches(p, state, n, t, refused, err, errlen))
        tracker_forget(t, count_messages(data, n)); /* the data is not produced at all */
    else if (produce_batches(p, data, n, t, refused, err, errlen) == 0)
        produced = 1;
    if (!produced) {
        tracker_release(t);
        abort_quietly(p);
        r = retry_or_fatal(p);
        goto out;
    }
    /* Wait for the acknowledgements before committing: commit_transaction() flushes, and while
     * it flushes librdkafka 2.0.2's broker thread polls without sleeping whenever the in-flight
     * request limit holds messages back (measured: +0.5 us of CPU per event). */
    /* Stopping with messages still unacknowledged after a short grace: abort rather than
     * commit (the pages are read again after the restart), so shutdown stays within its 10 s. */
    int waited = tracker_wait(t, stop, 5000);
    pthread_mutex_lock(&t->lock);
    int failed = waited != 0;
    if (failed)
        snprintf(err, errlen, "%s", t->failed ? t->error : "stopped before acknowledgement");
    pthread_mutex_unlock(&t->lock);
    tracker_release(t);
    if (failed) {
        abort_quietly(p);
        r = retry_or_fatal(p);
        goto out;
    }
    for (;;) {
        e = rd_kafka_commit_transaction(p->rk, 15000);
        if (!e) {
            atomic_store(&p->txn_begun_ms, 0);
            break;
        }
        if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e) &&
            !(stop && flag_is_set(stop))) {
            log_warn(p->source, NULL, "kafka commit_transaction will be retried: %s",
                     rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            continue;
        }
        int needs_abort = rd_kafka_error_txn_requires_abort(e) || rd_kafka_error_is_retriable(e);
        r = txn_error(p, e, "commit_transaction", err, errlen);
        if (!flag_is_set(&p->broken) && needs_abort)
            abort_quietly(p);
        break;
    }
out:
    pthread_mutex_unlock(&p->txn_lock);
    if (r != KAFKA_OK && flag_is_set(&p->fatal))
        r = KAFKA_FATAL;
    return r;
}

kafka_result kafka_commit_group(kafka_producer *p, kafka_batch *const *data,
                                kafka_batch *const *state, size_t n, size_t *refused,
                                volatile int *stop, char *err, size_t errlen)
{
    size_t none;
    if (!refused)
        refused = &none;
    *refused = n;
    if (flag_is_set(&p->fatal)) {
        char reason[sizeof(p->fatal_reason)];
        snprintf(err, errlen, "producer is in a fatal state: %s",
                 kafka_fatal_reason(p, reason, sizeof(reason)));
        return KAFKA_FATAL;
    }
    if (!p->transactional)
        bury_arenas(p, 0);
    kafka_result r = p->transactional
                         ? commit_exactly_once(p, data, state, n, refused, stop, err, errlen)
                         : commit_at_least_once(p, data, state, n, refused, stop, err, errlen);
    if (r != KAFKA_OK) {
        for (size_t i = 0; i < n; i++) {
            retire_arena(p, data ? data[i] : NULL);
            retire_arena(p, state ? state[i] : NULL);
        }
    }
    if (p->metrics) {
        if (r == KAFKA_OK) {
            atomic_store(&p->metrics->brokers_down, 0);
            count(p, &p->metrics->txn_commits, 1);
            count(p, &p->metrics->messages,
                  (long)(count_messages(data, n) + count_messages(state, n)));
        } else {
            count(p, &p->metrics->txn_aborts, 1);
        }
    }
    return r;
}

kafka_result kafka_commit(kafka_producer *p, kafka_batch *data, kafka_batch *state,
                          volatile int *stop, char *err, size_t errlen)
{
    return kafka_commit_group(p, &data, &state, 1, NULL, stop, err, errlen);
}

/* ---- admin ------------------------------------------------------------------------------- */

rd_kafka_t *kafka_admin_client(const kafka_config *kc, char *err, size_t errlen)
{
    const char *defaults[] = {"bootstrap.servers", kc->bootstrap_servers, "client.id",
                              "crmstream-admin", NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Only connection-related user properties matter here; producer-only ones are ignored by
     * librdkafka for this handle type, so applying them all is fine. */
    if (kafka_conf_apply(conf, kc, defaults, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka client: %s", errstr);
    }
    return rk;
}

int kafka_probe(const kafka_config *kc, int timeout_ms, char *err, size_t errlen)
{
    rd_kafka_t *rk = kafka_admin_client(kc, err, errlen);
    if (!rk)
        return -1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    int n = -1;
    if (e)
        snprintf(err, errlen, "kafka %s unreachable: %s", kc->bootstrap_servers,
                 rd_kafka_err2str(e));
    else
        n = md->broker_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return n;
}

static int set_topic_config(rd_kafka_NewTopic_t *nt, const char *k, const char *v, char *err,
                            size_t errlen)
{
    if (rd_kafka_NewTopic_set_config(nt, k, v) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "topic config %s=%s rejected", k, v);
        return -1;
    }
    return 0;
}

/* Drops from topics[0..n) those the cluster's metadata lists (they need no CreateTopics, nor the
 * right to create them; a cluster without a controller, like librdkafka's mock cluster in the
 * unit tests, answers Metadata but not CreateTopics). Returns the count left; all n when the
 * metadata request fails. */
static int topics_missing(rd_kafka_t *rk, const char **topics, int n)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return n;
    int left = 0;
    for (int i = 0; i < n; i++) {
        int listed = 0;
        for (int j = 0; j < md->topic_cnt && !listed; j++)
            listed = md->topics[j].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                     strcmp(md->topics[j].topic, topics[i]) == 0;
        if (!listed)
            topics[left++] = topics[i];
    }
    rd_kafka_metadata_destroy(md);
    return left;
}

/* CreateTopics for topics[0..n) (none of which exists yet): `partitions` each (0: the data
 * topics' topic_partitions), compacted ones with one partition and cleanup.policy=compact. */
static int create_topics(rd_kafka_t *rk, const kafka_config *kc, const char **topics, int n,
                         int partitions, int compact, char *err, size_t errlen)
{
    int rc = -1;
    rd_kafka_NewTopic_t **nts = xcalloc((size_t)n, sizeof(*nts));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    char errstr[512];
    if (rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, errstr, sizeof(errstr)) ||
        rd_kafka_AdminOptions_set_request_timeout(opts, 30000, errstr, sizeof(errstr))) {
        snprintf(err, errlen, "admin options: %s", errstr);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        nts[i] = rd_kafka_NewTopic_new(topics[i],
                                       compact      ? 1
                                       : partitions ? partitions
                                                    : kc->topic_partitions,
                                       kc->replication_factor, errstr, sizeof(errstr));
        if (!nts[i]) {
            snprintf(err, errlen, "topic %s: %s", topics[i], errstr);
            goto out;
        }
        if (compact && set_topic_config(nts[i], "cleanup.policy", "compact", err, errlen))
            goto out;
        for (int j = 0; !compact && j < kc->n_topic_config; j++)
            if (set_topic_config(nts[i], kc->topic_config[j].key, kc->topic_config[j].value, err,
                                 errlen))
                goto out;
    }
    rd_kafka_CreateTopics(rk, nts, (size_t)n, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 40000);
    if (!ev) {
        snprintf(err, errlen, "kafka %s: no answer to CreateTopics within 40 s",
                 kc->bootstrap_servers);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "kafka CreateTopics: %s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        goto out;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **trs = rd_kafka_CreateTopics_result_topics(res, &cnt);
    rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t te = rd_kafka_topic_result_error(trs[i]);
        if (te == RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_info(NULL, NULL, "created topic %s", rd_kafka_topic_result_name(trs[i]));
        } else if (te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(err, errlen, "cannot create topic %s: %s", rd_kafka_topic_result_name(trs[i]),
                     rd_kafka_topic_result_error_string(trs[i]) ?: rd_kafka_err2str(te));
            rc = -1;
        }
    }
    rd_kafka_event_destroy(ev);
out:
    for (int i = 0; i < n; i++)
        if (nts[i])
            rd_kafka_NewTopic_destroy(nts[i]);
    free(nts);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    return rc;
}

int kafka_ensure_topics(const kafka_config *kc, const char *const *wanted, int n, int compact,
                        char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    rd_kafka_t *rk = kafka_admin_client(kc, err, errlen);
    if (!rk)
        return -1;
    const char **topics = xcalloc((size_t)n, sizeof(*topics));
    memcpy(topics, wanted, (size_t)n * sizeof(*topics));
    n = topics_missing(rk, topics, n);
    int rc = n == 0 ? 0 : create_topics(rk, kc, topics, n, 0, compact, err, errlen);
    free(topics);
    rd_kafka_destroy(rk);
    return rc;
}

/* The partition count the cluster's metadata lists for topic; 0 when it does not list it, -1
 * when the request fails. */
static int topic_partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int n = 0;
    for (int j = 0; j < md->topic_cnt; j++)
        if (md->topics[j].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            strcmp(md->topics[j].topic, topic) == 0)
            n = md->topics[j].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

int kafka_ensure_partitioned_topic(const kafka_config *kc, const char *topic, int partitions,
                                   char *err, size_t errlen)
{
    rd_kafka_t *rk = kafka_admin_client(kc, err, errlen);
    if (!rk)
        return -1;
    int n = topic_partition_count(rk, topic);
    if (n == 0 && create_topics(rk, kc, &topic, 1, partitions, 0, err, errlen) == 0)
        /* a new topic reaches the metadata of every broker shortly after CreateTopics */
        for (int tries = 0; tries < 50 && (n = topic_partition_count(rk, topic)) == 0; tries++)
            sleep_interruptible(100, NULL);
    else if (n == 0)
        n = -1; /* err says why the creation failed */
    if (n == 0)
        snprintf(err, errlen, "topic %s: created but not in the cluster's metadata after 5 s",
                 topic);
    else if (n < 0 && !err[0])
        snprintf(err, errlen, "kafka %s: no metadata for topic %s", kc->bootstrap_servers, topic);
    rd_kafka_destroy(rk);
    return n > 0 ? n : -1;
}
