/* kafka.h — a producer committing pages atomically (one per shard of sources, shard.h).
 *
 * A page is two batches: its data messages (change events, tombstones) and its state messages
 * (bookmark, dedupe entries). kafka_commit() makes them durable together:
 *  - exactly-once: one transaction holding both (transactional.id =
 * "crmstream-<topic_prefix>-<name>", so a second producer of that name fences the first);
 *  - at-least-once: data first, and only when every data message is acknowledged the state
 *    messages, so the state topic never runs ahead of acknowledged data.
 * kafka_commit_group() does the same for the pages of several tables at once. The producer is
 * shared by threads; transactions are serialized. */
#ifndef CRM_KAFKA_H
#define CRM_KAFKA_H

#include <stddef.h>

#include "util.h"

#include "config.h"

typedef struct kafka_batch kafka_batch;

kafka_batch *kafka_batch_new(void);
void kafka_batch_free(kafka_batch *b);
void kafka_batch_clear(kafka_batch *b);
/* A message whose value the caller appends to the returned buffer (the batch's own memory) before
 * any other call on b, then kafka_batch_end_value(): a value built for the batch is not copied.
 * The message is complete only after kafka_batch_end_value(); drop it with kafka_batch_truncate.
 */
buf *kafka_batch_begin_value(kafka_batch *b, const char *topic, const void *key, size_t key_len);
void kafka_batch_end_value(kafka_batch *b);
/* Visits the messages in order (value NULL: a tombstone). */
typedef void (*kafka_batch_fn)(const char *topic, const char *key, size_t key_len,
                               const char *value, size_t value_len, void *u);
void kafka_batch_each(const kafka_batch *b, kafka_batch_fn fn, void *u);
/* Drops the messages from the n-th on (a failed page's). */
void kafka_batch_truncate(kafka_batch *b, size_t n);
size_t kafka_batch_count(const kafka_batch *b);
size_t kafka_batch_bytes(const kafka_batch *b);
/* Copies key and value (value NULL = tombstone); topic is borrowed and must outlive the batch. */
void kafka_batch_add(kafka_batch *b, const char *topic, const void *key, size_t key_len,
                     const void *value, size_t value_len);

typedef struct kafka_producer kafka_producer;

typedef enum {
    KAFKA_OK = 0,
    KAFKA_RETRY = -1, /* nothing of the page is committed; the caller rewinds and retries */
    KAFKA_FATAL = -2, /* fenced or a fatal producer error: the source must stop */
} kafka_result;

/* Creates the producer named `name` (transactional.id crmstream-<deployment>-<name>, client.id
 * crmstream-<name>; it also names the producer in logs) and in exactly-once mode runs
 * init_transactions, which fences any older producer of that name and aborts its open
 * transaction. NULL + err on failure. */
struct kafka_metrics;
/* metrics (may be NULL) receives commit/abort/delivery counts and librdkafka statistics; it
 * must outlive the producer. */
kafka_producer *kafka_producer_new(const kafka_config *kc, const char *name,
                                   struct kafka_metrics *metrics, char *err, size_t errlen);
/* Flushes (bounded by timeout_ms) and destroys. */
void kafka_producer_free(kafka_producer *p, int timeout_ms);

/* "crmstream-<deployment>-<name>": the transactional.id of the producer named `name`. */
void kafka_transactional_id(const kafka_config *kc, const char *name, char *out, size_t len);
/* Runs init_transactions once with transactional_id (as is): its open transaction, if any, is
 * aborted and whichever producer holds it is fenced. 0, or -1 with err. */
int kafka_fence(const kafka_config *kc, const char *transactional_id, char *err, size_t errlen);

kafka_result kafka_commit(kafka_producer *p, kafka_batch *data, kafka_batch *state,
                          volatile int *stop, char *err, size_t errlen);
/* Commits data[i] and state[i] of i < n (any may be NULL) in one transaction (at-least-once:
 * every data batch, then every state batch). After a failure the batches hold copies of their
 * messages (librdkafka may still read the originals), and *refused (may be NULL) is the i whose
 * message librdkafka refused to queue (too large, unknown topic: it would fail any transaction),
 * else n. */
kafka_result kafka_commit_group(kafka_producer *p, kafka_batch *const *data,
                                kafka_batch *const *state, size_t n, size_t *refused,
                                volatile int *stop, char *err, size_t errlen);

/* The librdkafka handle (rd_kafka_t *), for tests that drive librdkafka's mock cluster. */
void *kafka_producer_handle(kafka_producer *p);

/* 1 after a fatal error (e.g. fenced); the message is in kafka_fatal_reason(). */
int kafka_is_fatal(kafka_producer *p);
int kafka_is_fenced(kafka_producer *p);
/* Copies the reason into buf (another thread may be writing it) and returns buf. */
const char *kafka_fatal_reason(kafka_producer *p, char *buf, size_t len);

/* Creates topics that do not exist yet (partitions/replication/configs from kc; `compact`
 * forces cleanup.policy=compact). Returns 0, or -1 with err naming the topic. */
int kafka_ensure_topics(const kafka_config *kc, const char *const *topics, int n, int compact,
                        char *err, size_t errlen);

/* Creates topic with `partitions` partitions (configs as data topics) unless it exists, and
 * returns the partition count the cluster lists for it, which for an existing topic may differ;
 * -1 with err. */
int kafka_ensure_partitioned_topic(const kafka_config *kc, const char *topic, int partitions,
                                   char *err, size_t errlen);

/* A client for admin requests and metadata (the config's connection properties apply); NULL
 * with err. Destroy it with rd_kafka_destroy. */
struct rd_kafka_s;
struct rd_kafka_s *kafka_admin_client(const kafka_config *kc, char *err, size_t errlen);

/* Broker count from a metadata request, or -1 with err set. */
int kafka_probe(const kafka_config *kc, int timeout_ms, char *err, size_t errlen);

/* Applies librdkafka properties: the given defaults, then kc->properties, then the secret ones
 * from kc->secret_properties (user wins; errors never show a secret value). */
struct rd_kafka_conf_s;
int kafka_conf_apply(struct rd_kafka_conf_s *conf, const kafka_config *kc,
                     const char *const *defaults, char *err, size_t errlen);
/* Routes the client's librdkafka log lines into crmstream's log. */
void kafka_conf_set_logger(struct rd_kafka_conf_s *conf);

#endif
