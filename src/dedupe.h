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

/* Keys are compared and stored by their first DEDUPE_MAX_KEY bytes (the same on every call:
 * two keys equal in those bytes are one key). Primary keys are far shorter. */
#define DEDUPE_MAX_KEY 65535
/* The most key bytes one map holds (32-bit offsets into 1 MiB chunks, below the two reserved
 * offsets): removed keys' bytes are reclaimed before it is reached; live keys filling it
 * (~150 M keys of 27 bytes) are a fatal error, like running out of memory. */
#define DEDUPE_MAX_ARENA ((size_t)4095 << 20)

dedupe *dedupe_new(void);
/* A map whose key arena holds at most max_arena bytes (rounded down to 1 MiB chunks, at least
 * one; at most DEDUPE_MAX_ARENA): for tests of the limit. */
dedupe *dedupe_new_limited(size_t max_arena);
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
/* Bytes the map holds (slots and key arena). Removed keys' bytes are reclaimed once they
 * outweigh the live keys' (the arena is compacted), so this stays within about twice the live
 * size under any churn. */
size_t dedupe_memory(const dedupe *d);

/* Visits every key with its hash (in no particular order). fn may remove keys (the key it is
 * given stays valid) but must not insert any. */
void dedupe_each(const dedupe *d, void (*fn)(const char *pk, size_t len, uint64_t hash, void *u),
                 void *u);

/* Reconciliation: start a marking round, mark keys seen, then visit the unmarked ones (fn may
 * remove keys, not insert, as with dedupe_each). */
void dedupe_mark_begin(dedupe *d);
/* 1 when pk is known (and is now marked). */
int dedupe_mark(dedupe *d, const char *pk, size_t len);
size_t dedupe_marked(const dedupe *d);
void dedupe_each_unmarked(const dedupe *d, void (*fn)(const char *pk, size_t len, void *u),
                          void *u);

#endif
