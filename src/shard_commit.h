/* shard_commit.h — group commit: the commits the tables of a shard ask for share transactions.
 *
 * Every table thread of a shard commits through the shard's one transactional producer, and a
 * Kafka transaction costs a round trip to the coordinator however much it holds. So while one
 * transaction is being committed, the requests that arrive meanwhile wait together and the first
 * of them, once the transaction is done, commits all of them in the next one (a leader/follower
 * queue: no thread of its own). Each participant gets the outcome of the transaction its batches
 * were in: on failure none of them is committed and each undoes its own page, as it would after a
 * failed transaction of its own. One exception keeps a bad page from failing its neighbours: when
 * the transaction failed because the producer refused a participant's own message (too large,
 * unknown topic), that participant alone gets the failure and the others go again at once. */
#ifndef CRM_SHARD_COMMIT_H
#define CRM_SHARD_COMMIT_H

#include <stddef.h>

#include "kafka.h"

/* Commits n participants' batches (any may be NULL) in one transaction: kafka_commit_group, or a
 * fake in the unit tests. On failure *refused is the participant whose own message was refused
 * (it would fail any transaction), else n. */
typedef kafka_result (*shard_commit_fn)(void *u, kafka_batch *const *data,
                                        kafka_batch *const *state, size_t n, size_t *refused,
                                        volatile int *stop, char *err, size_t errlen);

typedef struct shard_commit_queue shard_commit_queue;

/* max_messages bounds a transaction (messages of its requests beyond the first two, which always
 * go: the oldest waiting and the one committing); 0: no limit. */
shard_commit_queue *shard_commit_queue_new(shard_commit_fn fn, void *u, size_t max_messages);
void shard_commit_queue_free(shard_commit_queue *q);

/* Commits data and state (either may be NULL) in the next transaction of the queue; blocks until
 * that transaction ended. The batches are read, never changed, by whichever thread commits them
 * (a failed commit may swap their arenas for copies, see kafka_commit). err gets the
 * transaction's error. */
kafka_result shard_commit_queue_submit(shard_commit_queue *q, kafka_batch *data, kafka_batch *state,
                                       volatile int *stop, char *err, size_t errlen);

/* Transactions committed or tried, and the requests they served (rounds <= requests). */
long shard_commit_queue_rounds(shard_commit_queue *q);
long shard_commit_queue_requests(shard_commit_queue *q);

#endif
