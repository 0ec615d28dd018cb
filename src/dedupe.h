/* dedupe.h — per-table memory of what was published: primary key -> 64-bit content hash.
 *
 * A record re-read inside a lookback window, or after a restart (the map is rebuilt from the
 * state topic), is published again only when its hash changed. The map also knows every primary
 * key ever published, which is what ID reconciliation compares against. Compact on purpose
 * (14 bytes a slot plus the key bytes) so millions of records fit in tens of MiB. Not
 * thread-safe: each table thread owns its map. */
#ifndef CRM_DEDUPE_H
#define CRM_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dedupe dedupe;

dedupe *dedupe_new(void);
void dedupe_free(dedupe *d);

/* 1 and *hash when pk is known, else 0. */
int dedupe_get(const dedupe *d, const char *pk, size_t len, uint64_t *hash);
void dedupe_put(dedupe *d, const char *pk, size_t len, uint64_t hash);
/* One lookup for the hot path: sets pk's hash (inserting pk when absent) and, when `mark`,
 * marks it for the current reconciliation round. 1 with *old = the previous hash when pk was
 * known (old may be NULL), 0 when it was inserted. */
int dedupe_swap(dedupe *d, const char *pk, size_t len, uint64_t hash, int mark, uint64_t *old);
/* Starts loading pk's slot into the cache (the lookup that follows soon is then a hit). */
void dedupe_prefetch(const dedupe *d, const char *pk, size_t len);
/* 1 when pk was known and is now removed. */
int dedupe_remove(dedupe *d, const char *pk, size_t len);
/* dedupe_remove that also returns the removed hash (*old, may be NULL). */
int dedupe_take(dedupe *d, const char *pk, size_t len, uint64_t *old);
size_t dedupe_count(const dedupe *d);

/* Visits every key with its hash (in no particular order). */
void dedupe_each(const dedupe *d, void (*fn)(const char *pk, size_t len, uint64_t hash, void *u),
                 void *u);

/* Reconciliation: start a marking round, mark keys seen, then visit the unmarked ones. */
void dedupe_mark_begin(dedupe *d);
/* 1 when pk is known (and is now marked). */
int dedupe_mark(dedupe *d, const char *pk, size_t len);
size_t dedupe_marked(const dedupe *d);
void dedupe_each_unmarked(const dedupe *d, void (*fn)(const char *pk, size_t len, void *u),
                          void *u);

#endif
