/* replay.c — the replay consumer: subscribes to the table topics in a consumer group, decodes
 * each value with its writer schema, applies it to the store, and commits rows and the next
 * offsets of their partitions in one database transaction. On partition assignment it seeks to
 * the offsets stored in the database, so a crash at any point leaves the store equal to a
 * prefix of the topics and the next start continues from there. The Kafka group offsets are
 * committed too, after the database, only so that lag tools see the progress. */
#include "replay.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "engine.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "ops_server.h"
#include "replay_ops.h"
#include "replay_plan.h"
#include "replay_store.h"
#include "schema_resolver.h"
#include "util.h"

#define MAX_TXN_FAILURES 5

typedef struct replay_topic {
    char *topic;
    char *sql_name; /* <source>_<table> */
    const char *source, *table;
    /* /metrics with the labels of `run`: published = rows upserted, deleted = rows deleted,
     * errors{kind="mapping"} = values it could not map, last success = last commit */
    table_metrics *metrics;
} replay_topic;

typedef struct replay_part {
    const replay_topic *t;
    int32_t partition;
    int64_t stored;  /* next offset in the store (-1: none yet) */
    int64_t pending; /* next offset after the open transaction's rows (-1: none) */
    int eof;
} replay_part;

typedef struct plan_entry {
    const event_codec *codec;
    const replay_topic *t;
    replay_plan *plan;
    replay_table table;
    unsigned ensured_txn; /* the transaction in which the table was last checked */
    struct plan_entry *next;
} plan_entry;

typedef struct replay {
    const crm_config *cfg;
    const replay_options *opts;
    replay_store *store;
    char store_name[512];
    schema_resolver *resolver;
    schema_resolver **retired; /* earlier resolvers: their codecs key the plans, so they stay */
    int n_retired;
    rd_kafka_t *rk;
    replay_topic *topics;
    int n_topics;
    replay_part *parts;
    int n_parts;
    plan_entry *plans;
    int in_txn;
    unsigned txn; /* transaction counter */
    long txn_rows;
    int64_t txn_started_ms;
    int failures; /* consecutive failed transactions */
    int fatal;    /* exit code when a callback met an error it cannot retry */
    buf key;
    unsigned char last_header[10]; /* the framing of the last value and its codec: */
    size_t last_header_len;        /* consecutive values mostly share a writer schema */
    event_codec *last_codec;
    unsigned long turns; /* loop turns, for checking the clock now and then */
    long rows;           /* applied and committed */
    int64_t started_ms;
    int64_t last_progress_ms;
    long rows_at_progress;
    int ever_assigned;
} replay;

/* ---- topics ------------------------------------------------------------------------------ */

static int wanted(const char *filter, const char *source, const char *table)
{
    if (!filter)
        return 1;
    char full[512];
    snprintf(full, sizeof(full), "%s.%s", source, table);
    for (const char *p = filter; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((strlen(full) == n && !strncmp(p, full, n)) ||
            (strlen(table) == n && !strncmp(p, table, n)))
            return 1;
        p += n + (end ? 1 : 0);
    }
    return 0;
}

static void add_topic(replay *r, const char *source, const char *table)
{
    r->topics = xrealloc(r->topics, (size_t)(r->n_topics + 1) * sizeof(*r->topics));
    replay_topic *t = &r->topics[r->n_topics++];
    buf b;
    buf_init(&b);
    buf_printf(&b, "%s.%s.%s", r->cfg->kafka.topic_prefix, source, table);
    t->topic = b.data;
    t->source = source;
    t->table = table;
    t->metrics = NULL;
    buf_init(&b);
    buf_printf(&b, "%s_%s", source, table);
    for (char *c = b.data; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            *c = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : '_';
    t->sql_name = b.data;
}

static int collect_topics(replay *r, char *err, size_t errlen)
{
    for (int i = 0; i < r->cfg->n_sources; i++) {
        const source_config *sc = &r->cfg->sources[i];
        const connector *c = connector_find(sc->type);
        for (size_t j = 0; c && j < c->n_tables; j++) {
            const char *table = c->tables[j].name;
            if (config_table_enabled(sc, table) && wanted(r->opts->tables, sc->name, table))
                add_topic(r, sc->name, table);
        }
    }
    for (int i = 0; i < r->n_topics; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(r->topics[i].sql_name, r->topics[j].sql_name)) {
                snprintf(err, errlen, "topics %s and %s would both be table %s (rename a source)",
                         r->topics[j].topic, r->topics[i].topic, r->topics[i].sql_name);
                return -1;
            }
    for (int i = 0; i < r->n_topics; i++) {
        r->topics[i].metrics = xcalloc(1, sizeof(table_metrics));
        table_metrics_init(r->topics[i].metrics, r->topics[i].source, r->topics[i].table);
    }
    if (r->n_topics == 0) {
        snprintf(err, errlen, "--tables %s: no enabled table of %s matches",
                 r->opts->tables ? r->opts->tables : "", r->cfg->path);
        return -1;
    }
    return 0;
}

static const replay_topic *topic_named(replay *r, const char *name)
{
    for (int i = 0; i < r->n_topics; i++)
        if (!strcmp(r->topics[i].topic, name))
            return &r->topics[i];
    return NULL;
}

static replay_part *part_of(replay *r, const char *topic, int32_t partition)
{
    for (int i = 0; i < r->n_parts; i++)
        if (r->parts[i].partition == partition && !strcmp(r->parts[i].t->topic, topic))
            return &r->parts[i];
    return NULL;
}

/* ---- transactions ------------------------------------------------------------------------ */

static int begin_txn(replay *r, char *err, size_t errlen)
{
    if (r->in_txn)
        return 0;
    if (r->store->ops->begin(r->store, err, errlen))
        return -1;
    r->in_txn = 1;
    r->txn++;
    r->txn_rows = 0;
    r->txn_started_ms = now_monotonic_ms();
    return 0;
}

/* Tells the group where the store is, for lag tools (the store's offsets are what count). */
static void commit_group_offsets(replay *r)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(r->n_parts + 1);
    for (int i = 0; i < r->n_parts; i++)
        if (r->parts[i].stored >= 0)
            rd_kafka_topic_partition_list_add(l, r->parts[i].t->topic, r->parts[i].partition)
                ->offset = r->parts[i].stored;
    if (l->cnt)
        rd_kafka_commit(r->rk, l, 1); /* async; a failure only delays what lag tools see */
    rd_kafka_topic_partition_list_destroy(l);
}

/* Writes the pending offsets and commits. 1 when another process moved an offset. */
static int commit_txn(replay *r, char *err, size_t errlen)
{
    if (!r->in_txn)
        return 0;
    for (int i = 0; i < r->n_parts; i++) {
        replay_part *p = &r->parts[i];
        if (p->pending < 0)
            continue;
        int rc = r->store->ops->save_offset(r->store, p->t->topic, p->partition, p->stored,
                                            p->pending, err, errlen);
        if (rc == 1)
            snprintf(err, errlen,
                     "the stored offset of %s[%d] is no longer %lld: another replay process "
                     "wrote it",
                     p->t->topic, p->partition, (long long)p->stored);
        if (rc)
            return rc;
    }
    if (r->store->ops->commit(r->store, err, errlen))
        return -1;
    r->in_txn = 0;
    for (int i = 0; i < r->n_parts; i++) {
        replay_part *p = &r->parts[i];
        if (p->pending >= 0)
            p->stored = p->pending;
        p->pending = -1;
    }
    r->rows += r->txn_rows;
    r->failures = 0;
    for (int i = 0; i < r->n_parts; i++)
        atomic_store(&r->parts[i].t->metrics->last_success_ms, now_wall_ms());
    commit_group_offsets(r);
    return 0;
}

/* Seeks every assigned partition to the offset in the store. */
static int seek_to_store(replay *r, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(r->n_parts + 1);
    int rc = 0;
    for (int i = 0; i < r->n_parts && rc == 0; i++) {
        replay_part *p = &r->parts[i];
        int64_t next = r->store->ops->load_offset(r->store, p->t->topic, p->partition, err, errlen);
        if (next < -1) {
            rc = -1;
            break;
        }
        p->stored = next;
        p->pending = -1;
        p->eof = 0;
        rd_kafka_topic_partition_list_add(l, p->t->topic, p->partition)->offset =
            next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rc == 0 && l->cnt) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(r->rk, l, 10000);
        if (e) {
            snprintf(err, errlen, "seek: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            rc = -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* A failed transaction is rolled back and the partitions read again from the store's offsets;
 * after MAX_TXN_FAILURES in a row the replay stops. */
static void abandon_txn(replay *r, const char *why)
{
    if (r->in_txn)
        r->store->ops->rollback(r->store);
    r->in_txn = 0;
    r->failures++;
    if (r->failures >= MAX_TXN_FAILURES) {
        log_error(NULL, NULL, "replay: %s", why);
        r->fatal = EXIT_RUNTIME;
        return;
    }
    log_warn(NULL, NULL, "replay: %s; rolled back, reading again from the stored offsets", why);
    char err[1024];
    if (seek_to_store(r, err, sizeof(err))) {
        log_error(NULL, NULL, "replay: %s", err);
        r->fatal = EXIT_RUNTIME;
    }
}

static void flush(replay *r)
{
    char err[1024];
    int rc = commit_txn(r, err, sizeof(err));
    if (rc)
        abandon_txn(r, err);
}

/* ---- rebalancing ------------------------------------------------------------------------- */

/* Eager protocols (the default, roundrobin) hand over the whole assignment each time; the
 * cooperative one (partition.assignment.strategy=cooperative-sticky) only what changes. */
static int cooperative(replay *r)
{
    return strcmp(rd_kafka_rebalance_protocol(r->rk), "COOPERATIVE") == 0;
}

static void assign(replay *r, rd_kafka_topic_partition_list_t *parts)
{
    char err[1024];
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        const replay_topic *t = topic_named(r, tp->topic);
        int64_t next =
            r->store->ops->load_offset(r->store, tp->topic, tp->partition, err, sizeof(err));
        if (!t || next < -1) {
            log_error(NULL, NULL, "replay: %s", t ? err : "assigned a topic it did not ask for");
            r->fatal = EXIT_RUNTIME;
            next = -1;
        }
        tp->offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
        if (!t || part_of(r, tp->topic, tp->partition))
            continue;
        r->parts = xrealloc(r->parts, (size_t)(r->n_parts + 1) * sizeof(*r->parts));
        r->parts[r->n_parts++] = (replay_part){t, tp->partition, next, -1, 0};
    }
    log_info(NULL, NULL,
             "replay: assigned %d partition%s (%d in all), starting at the stored offsets",
             parts->cnt, parts->cnt == 1 ? "" : "s", r->n_parts);
    if (cooperative(r)) {
        rd_kafka_error_t *e = rd_kafka_incremental_assign(r->rk, parts);
        if (e) {
            log_error(NULL, NULL, "replay: assign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            r->fatal = EXIT_KAFKA;
        }
    } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(r->rk, parts);
        if (e) {
            log_error(NULL, NULL, "replay: assign: %s", rd_kafka_err2str(e));
            r->fatal = EXIT_KAFKA;
        }
    }
    if (!r->ever_assigned) /* rates count from the first assignment, not the group join */
        r->started_ms = r->last_progress_ms = now_monotonic_ms();
    r->ever_assigned = 1;
}

static void forget_parts(replay *r, const rd_kafka_topic_partition_list_t *parts)
{
    int kept = 0;
    for (int i = 0; i < r->n_parts; i++) {
        int revoked = 0;
        for (int j = 0; j < parts->cnt && !revoked; j++)
            revoked = parts->elems[j].partition == r->parts[i].partition &&
                      !strcmp(parts->elems[j].topic, r->parts[i].t->topic);
        if (!revoked)
            r->parts[kept++] = r->parts[i];
    }
    r->n_parts = kept;
}

static void revoke(replay *r, rd_kafka_topic_partition_list_t *parts)
{
    /* rows of revoked partitions are committed before another member gets them; if that
     * fails, they are rolled back and the next owner reads them again */
    char err[1024];
    if (commit_txn(r, err, sizeof(err))) {
        log_warn(NULL, NULL, "replay: %s; rolled back before giving the partitions up", err);
        r->store->ops->rollback(r->store);
        r->in_txn = 0;
    }
    if (cooperative(r)) {
        forget_parts(r, parts);
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(r->rk, parts);
        if (e) {
            log_warn(NULL, NULL, "replay: unassign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        r->n_parts = 0;
        rd_kafka_assign(r->rk, NULL);
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)rk;
    replay *r = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        assign(r, parts);
    else
        revoke(r, parts);
}

/* ---- applying events --------------------------------------------------------------------- */

static plan_entry *plan_for(replay *r, const replay_topic *t, const event_codec *codec, char *err,
                            size_t errlen)
{
    for (plan_entry *e = r->plans; e; e = e->next)
        if (e->codec == codec && e->t == t)
            return e;
    const char *schema = event_codec_schema(codec);
    char why[512];
    replay_plan *plan = replay_plan_new(schema, strlen(schema), why, sizeof(why));
    if (!plan) {
        snprintf(err, errlen, "topic %s: schema %016llx cannot be mapped: %s", t->topic,
                 (unsigned long long)event_codec_fingerprint(codec), why);
        return NULL;
    }
    plan_entry *e = xcalloc(1, sizeof(*e));
    e->codec = codec;
    e->t = t;
    e->plan = plan;
    e->table.name = t->sql_name;
    e->table.cols = replay_plan_columns(plan, &e->table.n_cols);
    e->next = r->plans;
    r->plans = e;
    return e;
}

/* The codec of a value's writer schema. A resolver reads the schemas topic at most twice, so a
 * long replay that meets a schema newer than its resolver's last read asks a fresh resolver
 * (once per miss); the old one is kept, since its codecs key existing plans. */
static event_codec *codec_of(replay *r, const void *value, size_t len, char *why, size_t whylen)
{
    event_codec *c = resolver_codec(r->resolver, value, len, why, whylen);
    if (c || len < 2 || ((const unsigned char *)value)[0] != 0xC3)
        return c;
    r->retired = xrealloc(r->retired, (size_t)(r->n_retired + 1) * sizeof(*r->retired));
    r->retired[r->n_retired++] = r->resolver;
    r->resolver = resolver_new(r->cfg);
    return resolver_codec(r->resolver, value, len, why, whylen);
}

/* Applies one record inside the open transaction. -1 + err: the transaction is abandoned;
 * -2: a mapping error no retry can fix. */
static int apply(replay *r, const replay_topic *t, const rd_kafka_message_t *m, char *err,
                 size_t errlen)
{
    resolver_key_text(m->key ? m->key : "", m->key ? m->key_len : 0, &r->key);
    const char *key = r->key.data ? r->key.data : "";
    if (!m->payload) /* the tombstone after a d event: the row is gone already */
        return r->store->ops->remove(r->store, t->sql_name, key, r->key.len, err, errlen);
    char why[512];
    size_t hdr = replay_frame_header_len(m->payload, m->len);
    event_codec *codec = r->last_codec;
    if (!hdr || hdr != r->last_header_len || memcmp(m->payload, r->last_header, hdr)) {
        codec = codec_of(r, m->payload, m->len, why, sizeof(why));
        r->last_codec = codec;
        r->last_header_len = codec ? hdr : 0;
        if (codec)
            memcpy(r->last_header, m->payload, hdr);
    }
    if (!codec) {
        snprintf(err, errlen, "topic %s[%d] offset %lld: %s", t->topic, m->partition,
                 (long long)m->offset, why);
        return -2;
    }
    plan_entry *e = plan_for(r, t, codec, err, errlen);
    if (!e)
        return -2;
    char op = 0;
    const replay_value *vals = NULL;
    if (replay_plan_decode(e->plan, (const char *)m->payload + hdr, m->len - hdr, &op, &vals, why,
                           sizeof(why))) {
        snprintf(err, errlen, "topic %s[%d] offset %lld: %s", t->topic, m->partition,
                 (long long)m->offset, why);
        return -2;
    }
    if (!vals) {
        atomic_fetch_add(&t->metrics->deleted, 1);
        return r->store->ops->remove(r->store, t->sql_name, key, r->key.len, err, errlen);
    }
    if (e->ensured_txn != r->txn) {
        int added = r->store->ops->ensure_table(r->store, &e->table, err, errlen);
        if (added < 0)
            return -1;
        if (added > 0)
            log_info(
                NULL, NULL,
                "replay: table %s: %d new column%s for writer schema %016llx (same transaction "
                "as its rows)",
                t->sql_name, added, added == 1 ? "" : "s",
                (unsigned long long)event_codec_fingerprint(codec));
        e->ensured_txn = r->txn;
    }
    atomic_fetch_add(&t->metrics->published, 1);
    return r->store->ops->upsert(r->store, &e->table, key, r->key.len, vals, err, errlen);
}

static void on_record(replay *r, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    replay_part *p = part_of(r, topic, m->partition);
    if (!p)
        return; /* fetched before a revoke */
    p->eof = 0;
    if (p->stored >= 0 && m->offset < p->stored)
        return;
    if (p->pending >= 0 && m->offset < p->pending)
        return;
    char err[1024];
    if (begin_txn(r, err, sizeof(err))) {
        abandon_txn(r, err);
        return;
    }
    int rc = apply(r, p->t, m, err, sizeof(err));
    if (rc == -2) {
        atomic_fetch_add(&p->t->metrics->errors[ERR_MAPPING], 1);
        log_error(NULL, NULL, "replay: %s", err);
        r->store->ops->rollback(r->store);
        r->in_txn = 0;
        r->fatal = EXIT_RUNTIME;
        return;
    }
    if (rc) {
        abandon_txn(r, err);
        return;
    }
    p->pending = m->offset + 1;
    r->txn_rows++;
}

/* ---- progress ---------------------------------------------------------------------------- */

static int64_t total_lag(replay *r)
{
    int64_t lag = 0;
    for (int i = 0; i < r->n_parts; i++) {
        int64_t lo = 0, hi = 0;
        const replay_part *p = &r->parts[i];
        if (rd_kafka_get_watermark_offsets(r->rk, p->t->topic, p->partition, &lo, &hi))
            continue;
        int64_t at = p->stored >= 0 ? p->stored : lo;
        if (hi > at)
            lag += hi - at;
    }
    return lag;
}

static void progress(replay *r, int final)
{
    int64_t now = now_monotonic_ms();
    int every = r->cfg->progress_s > 0 ? r->cfg->progress_s : 10;
    if (!final && now - r->last_progress_ms < (int64_t)every * 1000)
        return;
    double secs = (double)(now - r->last_progress_ms) / 1000.0;
    double rate = secs > 0 ? (double)(r->rows - r->rows_at_progress) / secs : 0;
    double all = (double)(now - r->started_ms) / 1000.0;
    log_info(NULL, NULL,
             "replay: %ld rows into %s (%.0f rows/s now, %.0f rows/s overall), %d partitions, lag "
             "%lld",
             r->rows, r->store_name, rate, all > 0 ? (double)r->rows / all : 0, r->n_parts,
             (long long)total_lag(r));
    r->last_progress_ms = now;
    r->rows_at_progress = r->rows;
}

/* ---- the loop ---------------------------------------------------------------------------- */

static rd_kafka_t *consumer_new(replay *r, char *err, size_t errlen)
{
    char group[512];
    if (r->opts->group)
        snprintf(group, sizeof(group), "%s", r->opts->group);
    else
        snprintf(group, sizeof(group), "crmstream-replay-%s", r->cfg->kafka.topic_prefix);
    const char *defaults[] = {"bootstrap.servers",
                              r->cfg->kafka.bootstrap_servers,
                              "group.id",
                              group,
                              "enable.auto.commit",
                              "false",
                              "enable.auto.offset.store",
                              "false",
                              "enable.partition.eof",
                              "true",
                              "isolation.level",
                              "read_committed",
                              "auto.offset.reset",
                              "earliest",
                              "allow.auto.create.topics",
                              "false",
                              "partition.assignment.strategy",
                              "roundrobin",
                              "topic.metadata.refresh.interval.ms",
                              "10000",
                              "session.timeout.ms", /* a killed member's partitions move soon */
                              "10000",
                              "max.partition.fetch.bytes", /* fewer round trips to catch up */
                              "16777216",
                              "queued.min.messages", /* keep fetching while a batch is applied */
                              "1000000",
                              NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_apply(conf, &r->cfg->kafka, defaults, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, r);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka consumer: %s", errstr);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(r->n_topics);
    for (int i = 0; i < r->n_topics; i++)
        rd_kafka_topic_partition_list_add(l, r->topics[i].topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(err, errlen, "kafka subscribe: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

static int caught_up(const replay *r)
{
    if (!r->ever_assigned || r->in_txn || r->n_parts == 0)
        return 0;
    for (int i = 0; i < r->n_parts; i++)
        if (!r->parts[i].eof)
            return 0;
    return 1;
}

static void on_message(replay *r, rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        replay_part *p = m->rkt ? part_of(r, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
        if (p)
            p->eof = 1;
    } else if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
               m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
        log_debug(NULL, NULL, "replay: %s", rd_kafka_message_errstr(m));
    } else if (m->err) {
        log_warn(NULL, NULL, "replay: kafka: %s", rd_kafka_message_errstr(m));
    } else {
        on_record(r, m);
    }
}

static void consume(replay *r)
{
    int batch = r->opts->batch_rows > 0 ? r->opts->batch_rows : 20000;
    int64_t waiting_since = now_monotonic_ms();
    while (!flag_is_set(&engine_stop_requested) && !r->fatal) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
        if (m) {
            on_message(r, m);
            rd_kafka_message_destroy(m);
        }
        int check_clock = !m || (++r->turns & 255) == 0;
        if (r->in_txn && (!m || r->txn_rows >= batch ||
                          (check_clock && now_monotonic_ms() - r->txn_started_ms > 1000)))
            flush(r);
        if (check_clock) {
            progress(r, 0);
            replay_ops_beat(r->n_parts > 0, r->failures == 0);
        }
        if (r->opts->once && caught_up(r))
            break;
        if (r->opts->once && !r->ever_assigned && now_monotonic_ms() - waiting_since > 60000) {
            log_warn(NULL, NULL, "replay: no partition assigned after 60 s (no topic yet?)");
            break;
        }
    }
    if (!r->fatal)
        flush(r);
}

static void replay_free(replay *r)
{
    for (plan_entry *e = r->plans, *n; e; e = n) {
        n = e->next;
        replay_plan_free(e->plan);
        free(e);
    }
    for (int i = 0; i < r->n_topics; i++) {
        if (r->topics[i].metrics) {
            table_metrics_destroy(r->topics[i].metrics);
            free(r->topics[i].metrics);
        }
        free(r->topics[i].topic);
        free(r->topics[i].sql_name);
    }
    free(r->topics);
    free(r->parts);
    buf_free(&r->key);
    resolver_free(r->resolver);
    for (int i = 0; i < r->n_retired; i++)
        resolver_free(r->retired[i]);
    free(r->retired);
    if (r->store)
        r->store->ops->close(r->store);
}

int replay_run(const crm_config *cfg, const replay_options *opts)
{
    replay r = {0};
    r.cfg = cfg;
    r.opts = opts;
    buf_init(&r.key);
    char err[1024];
    const char *to = opts->to ? opts->to : "sqlite:replay.db";
    replay_store_redact(to, r.store_name, sizeof(r.store_name));
    if (collect_topics(&r, err, sizeof(err))) {
        fprintf(stderr, "crmstream: %s\n", err);
        replay_free(&r);
        return EXIT_CONFIG;
    }
    r.store = replay_store_open(to, opts->password_env, err, sizeof(err));
    if (!r.store) {
        fprintf(stderr, "crmstream: replay: %s\n", err);
        replay_free(&r);
        return EXIT_RUNTIME;
    }
    ops_server *ops = NULL;
    if (cfg->metrics_listen) {
        ops = ops_server_start(cfg->metrics_listen, cfg->metrics_port, replay_health, err,
                               sizeof(err));
        if (!ops) {
            fprintf(stderr, "crmstream: %s\n", err);
            replay_free(&r);
            return EXIT_CONFIG;
        }
    }
    r.resolver = resolver_new(cfg);
    r.rk = consumer_new(&r, err, sizeof(err));
    if (!r.rk) {
        fprintf(stderr, "crmstream: replay: %s\n", err);
        ops_server_stop(ops);
        replay_free(&r);
        return EXIT_KAFKA;
    }
    r.started_ms = r.last_progress_ms = now_monotonic_ms();
    log_info(NULL, NULL, "replay: %d topic%s into %s", r.n_topics, r.n_topics == 1 ? "" : "s",
             r.store_name);
    consume(&r);
    progress(&r, 1);
    rd_kafka_consumer_close(r.rk); /* the revoke callback commits what is open */
    rd_kafka_destroy(r.rk);
    ops_server_stop(ops);
    int code = r.fatal;
    replay_free(&r);
    return code;
}
