/* shard_group.h — scale-out on Kafka's group protocol: the instances of one deployment share
 * its shards (kafka.coordination = "group").
 *
 * Each instance joins the consumer group "crmstream-<topic_prefix>", subscribed to the
 * coordination topic "<topic_prefix>.shards", which has one partition per shard and never holds
 * a record: the partitions the group assigns an instance are the shards it runs. The assignor is
 * cooperative-sticky, so a rebalance moves only the shards that must move, and a moving shard
 * is first revoked from its owner (which stops it) and only then assigned to the next one:
 *  - revoke: handler stop(shard, lost) returns once the shard's sources stopped and its
 *    transaction committed (lost = 0) or aborted (lost = 1: the group already gave the shard
 *    away, e.g. after this instance missed its session timeout); then the revoke completes;
 *  - assign: handler claim(shard) creates the shard's producer (init_transactions fences any
 *    previous owner, which matters after a kill -9: it never revoked), for every assigned shard
 *    at once; then start(shard) restores its sources' state and runs them, one shard at a time
 *    on the group's thread between polls; a failed claim or start is retried every 5 s while
 *    the shard stays assigned.
 * An instance killed with -9 keeps its shards until the group's session timeout
 * (kafka.group_session_timeout) expires; then the others take them over.
 *
 * librdkafka 2.0.2 specifics handled here: the consumer leaves by unsubscribing and serving the
 * revoke before rd_kafka_consumer_close (closing with an assignment pending could hang in
 * cooperative mode, librdkafka #4528), and never closes between its JoinGroup and its first
 * SyncGroup answer (the sticky assignor's state is still NULL then and destroying it asserts,
 * #4381); it commits no offsets (commits during a cooperative rebalance could lose the
 * assignment, #4059). Its sticky assignor can loop forever with more members than partitions
 * (#4783): run at most as many instances as shards (README "Scaling out"). */
#ifndef CRM_SHARD_GROUP_H
#define CRM_SHARD_GROUP_H

#include <stddef.h>

#include "config.h"

/* What the group asks of the engine. All run on the group's thread, never at once. */
typedef struct shard_group_handler {
    /* Claims shard n (may be NULL): fences its previous owner, whose open transaction aborts.
     * Every newly assigned shard is claimed before any of them starts, so a state read never
     * waits for a killed instance's other transactions to time out. 0, or -1 (having logged
     * why, nothing held) to be retried in 5 s. */
    int (*claim)(int shard, void *u);
    /* Starts claimed shard n here: 0 when it runs, -1 (having logged why and released the
     * shard, claim included) to be claimed and started again in 5 s. A revoke or a stop of the
     * group waits for it: it should give up when the engine stops. */
    int (*start)(int shard, void *u);
    /* Stops shard n (claimed or started): returns once its sources stopped and its
     * transaction committed, or aborted when lost. Within max.poll.interval.ms (librdkafka's
     * default 300 s), or the instance drops out of the group. */
    void (*stop)(int shard, int lost, void *u);
    void *u;
} shard_group_handler;

typedef struct shard_group shard_group;

/* The coordination topic "<topic_prefix>.shards" and the group id "crmstream-<topic_prefix>". */
void shard_group_topic(const kafka_config *kc, char *out, size_t len);
void shard_group_id(const kafka_config *kc, char *out, size_t len);

/* Creates the coordination topic with `shards` partitions if missing (an existing one with
 * another count is an error naming both), joins the group and starts the group's thread.
 * NULL with err on failure. */
shard_group *shard_group_start(const kafka_config *kc, int shards, const shard_group_handler *h,
                               char *err, size_t errlen);

/* Leaves the group: every running shard is stopped (handler stop, not lost) and handed over,
 * the consumer closed and g freed. NULL is a no-op. */
void shard_group_stop(shard_group *g);

/* running[0..shards) = 1 for each shard running here, 0 otherwise; returns how many run. */
int shard_group_running(shard_group *g, unsigned char *running);

/* "0,3,6,9" (or "none") for the shards running here, into out. */
const char *shard_group_describe(shard_group *g, char *out, size_t len);

/* The group as its coordinator sees it: fn once per member with its client id
 * ("crmstream-<topic_prefix>-<host name>-<pid>": in Kubernetes the pod's name), the address it
 * connects from, and the shards the group assigned it, "0,3,6,9" or "none". 0, or -1 with err.
 * Kafka's own tools show the same (kafka-consumer-groups.sh --describe --members --verbose). */
typedef void (*shard_group_member_fn)(const char *client_id, const char *host, const char *shards,
                                      void *u);
int shard_group_members(const kafka_config *kc, shard_group_member_fn fn, void *u, char *err,
                        size_t errlen);

#endif
