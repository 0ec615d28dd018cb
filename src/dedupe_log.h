/* dedupe_log.h — how a table's dedupe map persists in the state topic: as a log of chunks.
 *
 * Each commit that publishes or deletes records of a table writes one chunk (more when it is
 * larger than DEDUPE_LOG_CHUNK_BYTES) under dc/<source>/<table>/<seq>: the primary keys the
 * commit changed, in order, each with its content hash or a delete mark. That is one state
 * record per page instead of one per record (the dd/<source>/<table>/<pk> records of earlier
 * versions, still read back). Chunk keys are never reused, so Kafka's compaction cannot shrink
 * the log; when it holds far more entries than the live map, the table rewrites the map into
 * fresh chunks, then tombstones the dd/ records and the old chunks, oldest first, in
 * transactions of bounded size: whatever part of a rewrite committed, replaying what remains
 * gives the same map.
 *
 * Restoring replays the chunks (and dd/ values) in offset order into the table's dedupe map
 * (the state topic has one partition). Not thread-safe: guarded by the table's lock, like the
 * map. */
#ifndef CRM_DEDUPE_LOG_H
#define CRM_DEDUPE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "dedupe.h"
#include "kafka.h"
#include "util.h"

#define DEDUPE_LOG_CHUNK_BYTES (512 * 1024)

typedef struct dedupe_log dedupe_log;

dedupe_log *dedupe_log_new(void);
void dedupe_log_free(dedupe_log *l);

/* ---- chunks ---- */

/* Starts a chunk in c (cleared first), then adds entries to it. */
void dedupe_chunk_begin(buf *c);
void dedupe_chunk_put(buf *c, const char *pk, size_t len, uint64_t hash);
void dedupe_chunk_delete(buf *c, const char *pk, size_t len);
/* Calls fn for every entry of a chunk value, in order. -1 when the value is not a chunk. */
typedef void (*dedupe_chunk_fn)(const char *pk, size_t len, int is_delete, uint64_t hash, void *u);
int dedupe_chunk_each(const char *value, size_t len, dedupe_chunk_fn fn, void *u);

/* ---- restore ---- */

/* A dc/ record of the table (value NULL: a tombstone): its entries are applied to d. -1 when the
 * value is not a chunk. */
int dedupe_log_restore_chunk(dedupe_log *l, dedupe *d, uint64_t seq, const char *value, size_t len);
/* A dd/ record of the table (value NULL: a tombstone: a delete when no dc/ record came before
 * it, else a rewrite retiring the record), applied to d; remembered so that a rewrite
 * tombstones it. -1 when the value is not a dedupe value. */
int dedupe_log_restore_legacy(dedupe_log *l, dedupe *d, const char *pk, size_t len,
                              const char *value, size_t vlen);

/* ---- writing ---- */

/* Adds chunk c (begun with dedupe_chunk_begin, holding `entries` entries) to the state batch
 * under the table's next sequence number; it counts once dedupe_log_committed() is called. */
void dedupe_log_add(dedupe_log *l, kafka_batch *state, const char *state_topic, const char *source,
                    const char *table, const buf *c, size_t entries);
/* The batch holding the added chunks committed (or not: the numbers are reused). */
void dedupe_log_committed(dedupe_log *l);
void dedupe_log_abandoned(dedupe_log *l);

/* 1 when the log should be rewritten: it holds more than twice the live entries (plus slack),
 * too many chunks, or dd/ records of an earlier version. */
int dedupe_log_wants_rewrite(const dedupe_log *l, const dedupe *d);

/* Commits a state batch (shard_commit of the table's shard); 0 on success. */
typedef int (*dedupe_log_commit_fn)(kafka_batch *state, void *u, char *err, size_t errlen);

/* Rewrites the log: d's live entries as fresh chunks, then tombstones of the dd/ records and of
 * the old chunks, oldest first, committed through commit in batches of bounded size. 0 on
 * success; -1 with err (the log stays readable; the rewrite is tried again later). */
int dedupe_log_rewrite(dedupe_log *l, const dedupe *d, const char *state_topic, const char *source,
                       const char *table, dedupe_log_commit_fn commit, void *u, char *err,
                       size_t errlen);

/* For logs and `crmstream state`: chunks and entries in the log. */
size_t dedupe_log_chunks(const dedupe_log *l);
size_t dedupe_log_entries(const dedupe_log *l);

#endif
