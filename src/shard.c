/* shard.c — shards of sources and their shared transactional producers (shard.h). */
#include "shard.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

uint32_t shard_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

int shard_of(const char *source_name, int shards)
{
    if (shards <= 1)
        return 0;
    return (int)(shard_hash(source_name, strlen(source_name)) % (uint32_t)shards);
}

void shard_name(int id, char *out, size_t len)
{
    snprintf(out, len, "shard-%d", id);
}

/* A transaction of the shard holds at most this many messages (beyond two pages): half of
 * librdkafka's default queue (queue.buffering.max.messages 100000), so producing a round never
 * waits for the queue to drain, and a round of hundreds of tables stays far within the
 * transaction timeout. */
#define SHARD_ROUND_MAX_MESSAGES 50000

/* The group commit queue's transaction: the shard's producer commits the round. */
static kafka_result commit_round(void *u, kafka_batch *const *data, kafka_batch *const *state,
                                 size_t n, size_t *refused, volatile int *stop, char *err,
                                 size_t errlen)
{
    shard *s = u;
    if (!s->producer) {
        snprintf(err, errlen, "%s is stopped", s->name);
        return KAFKA_FATAL;
    }
    kafka_result r = kafka_commit_group(s->producer, data, state, n, refused, stop, err, errlen);
    shard_metrics_transaction(&s->mx, r == KAFKA_OK);
    return r;
}

void shard_init(shard *s, const kafka_config *kc, int id)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->kc = kc;
    shard_name(id, s->name, sizeof(s->name));
    s->queue = shard_commit_queue_new(commit_round, s, SHARD_ROUND_MAX_MESSAGES);
    shard_metrics_init(&s->mx, id);
}

void shard_destroy(shard *s)
{
    shard_stop(s, 5000);
    shard_commit_queue_free(s->queue);
    s->queue = NULL;
    shard_metrics_destroy(&s->mx);
}

int shard_start(shard *s, char *err, size_t errlen)
{
    if (s->producer)
        return 0;
    kafka_metrics_init(&s->km, s->name);
    s->producer = kafka_producer_new(s->kc, s->name, &s->km, err, errlen);
    if (!s->producer) {
        kafka_metrics_destroy(&s->km);
        return -1;
    }
    atomic_store(&s->mx.assigned, 1);
    return 0;
}

void shard_stop(shard *s, int flush_ms)
{
    if (!s->producer)
        return;
    atomic_store(&s->mx.assigned, 0);
    kafka_producer_free(s->producer, flush_ms);
    s->producer = NULL;
    kafka_metrics_destroy(&s->km);
}

int shard_is_running(const shard *s)
{
    return s->producer != NULL;
}

kafka_result shard_commit(shard *s, kafka_metrics *source_km, kafka_batch *data, kafka_batch *state,
                          volatile int *stop, char *err, size_t errlen)
{
    kafka_result r = shard_commit_queue_submit(s->queue, data, state, stop, err, errlen);
    if (!source_km)
        return r;
    if (r == KAFKA_OK) {
        atomic_fetch_add(&source_km->txn_commits, 1);
        atomic_fetch_add(&source_km->messages, (long)((data ? kafka_batch_count(data) : 0) +
                                                      (state ? kafka_batch_count(state) : 0)));
    } else {
        atomic_fetch_add(&source_km->txn_aborts, 1);
    }
    return r;
}

int shard_is_fatal(const shard *s)
{
    return s->producer && kafka_is_fatal(s->producer);
}

int shard_is_fenced(const shard *s)
{
    return s->producer && kafka_is_fenced(s->producer);
}

const char *shard_fatal_reason(const shard *s, char *out, size_t len)
{
    if (!s->producer) {
        snprintf(out, len, "%s is stopped", s->name);
        return out;
    }
    return kafka_fatal_reason(s->producer, out, len);
}
