/* shard_migrate.h — taking over from earlier producer layouts.
 *
 * Versions before shards had one transactional producer per source (transactional.id
 * crmstream-<topic_prefix>-<source>); a change of kafka.shards moves sources between shard ids.
 * Before a process runs its shards it must make sure no producer of an earlier layout can still
 * commit a source it now runs, or an open transaction of the old layout could commit after the
 * state was read (duplicates). init_transactions with an old id does that: it aborts the id's open
 * transaction and fences it. The state topic records what was done so that it is done once:
 *   mg/<source>        -> "crmstream-<topic_prefix>-<source>": that per-source id was fenced
 *   sl/<deployment>    -> {"v":1,"shards":N}: the shard count the deployment last ran with
 * Fencing runs in parallel (one short-lived producer per id), so a first start of 1,000
 * migrated sources costs seconds, and later starts nothing. */
#ifndef CRM_SHARD_MIGRATE_H
#define CRM_SHARD_MIGRATE_H

#include <stddef.h>

#include "config.h"
#include "kafka.h"

/* What the state topic says about earlier layouts. */
typedef struct shard_history {
    int shards;      /* the shard count recorded for this deployment; 0: none */
    char **migrated; /* sources whose per-source id was fenced */
    size_t n_migrated, cap_migrated;
} shard_history;

void shard_history_init(shard_history *h);
void shard_history_free(shard_history *h);
/* Takes a state record in (restore order: later values win). 1 when it is a layout record
 * (mg/ or sl/), else 0. */
int shard_history_visit(shard_history *h, const kafka_config *kc, const char *key, size_t klen,
                        const char *value, size_t vlen);
int shard_history_migrated(const shard_history *h, const char *source);

/* The transactional ids an earlier layout may still commit with, appended to *names (n, grown):
 * the per-source ids (crmstream-<topic_prefix>-<source>) of the sources not migrated, and, when
 * the recorded shard count differs from kc->shards, the shard ids (crmstream-<deployment>-
 * shard-<n>) below the larger count that are not running here (running[id] non-zero: started by
 * this process, which fenced them already). */
void shard_migrate_stale_names(const kafka_config *kc, const shard_history *h,
                               const char *const *sources, int n_sources, const int *running,
                               char ***names, int *n);

/* Fences each transactional id (kafka_fence), up to 16 at a time. 0, or -1 with err naming the
 * first that failed. */
int shard_migrate_fence(const kafka_config *kc, char *const *names, int n, char *err,
                        size_t errlen);

/* The records saying so: mg/<source> for a source, sl/<deployment> for the layout. */
void shard_migrate_add_source_record(const kafka_config *kc, kafka_batch *state,
                                     const char *source);
void shard_migrate_add_layout_record(const kafka_config *kc, kafka_batch *state);

#endif
