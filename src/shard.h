/* shard.h — sources share transactional producers by shard.
 *
 * A source belongs to shard shard_of(name) = FNV-1a 32 of its name modulo kafka.shards: the same
 * name always lands on the same shard, whatever the other sources, the process or the machine.
 * Each shard has one transactional producer (transactional.id crmstream-<topic_prefix>-shard-<n>)
 * and one group commit queue (shard_commit.h): the pages of all its sources' tables commit
 * through it, several per transaction. The shard is also the unit of ownership: starting it
 * (init_transactions) fences whichever process ran it before and aborts that one's open
 * transaction; a fenced shard cannot commit again and its sources must stop. */
#ifndef CRM_SHARD_H
#define CRM_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "kafka.h"
#include "metrics.h"
#include "shard_commit.h"

/* FNV-1a 32 of len bytes of s. */
uint32_t shard_hash(const char *s, size_t len);
/* The shard of a source (0 <= shard < shards). */
int shard_of(const char *source_name, int shards);
/* "shard-<id>": the shard's producer name (its transactional.id is crmstream-<prefix>-<name>). */
void shard_name(int id, char *out, size_t len);

typedef struct shard {
    int id;
    char name[24];
    const kafka_config *kc;
    int n_sources;            /* sources of the config assigned to it */
    kafka_producer *producer; /* NULL while stopped */
    kafka_metrics km;         /* the producer's (registered while it runs) */
    shard_metrics mx;         /* assigned here, sources, transactions (/metrics, /status) */
    shard_commit_queue *queue;
} shard;

void shard_init(shard *s, const kafka_config *kc, int id);
/* Stops the shard if it runs (see shard_stop) and frees it. */
void shard_destroy(shard *s);

/* Creates the shard's producer: init_transactions fences any previous owner of the shard and
 * aborts its open transaction. 0, or -1 with err. */
int shard_start(shard *s, char *err, size_t errlen);
/* Flushes (at most flush_ms) and destroys the producer. Its sources must have stopped
 * committing. */
void shard_stop(shard *s, int flush_ms);
int shard_is_running(const shard *s);

/* Commits data and state (either may be NULL) in the shard's next transaction, together with
 * what other tables of the shard commit meanwhile; blocks until it ended. source_km (may be
 * NULL) counts the commit for the source. KAFKA_FATAL on a stopped shard. */
kafka_result shard_commit(shard *s, kafka_metrics *source_km, kafka_batch *data, kafka_batch *state,
                          volatile int *stop, char *err, size_t errlen);

/* The shard's producer is done for: fenced by a newer owner (shard_is_fenced) or failed beyond
 * repair. Its sources must stop. */
int shard_is_fatal(const shard *s);
int shard_is_fenced(const shard *s);
const char *shard_fatal_reason(const shard *s, char *out, size_t len);

#endif
