/* state.h — bookmarks and dedupe entries in the compacted state topic.
 *
 * Keys (UTF-8):   bm/<source>/<table>       -> bookmark JSON (versioned, see state_bookmark)
 *                 dc/<source>/<table>/<seq> -> a dedupe log chunk (see dedupe_log.h)
 *                 cf/<source>/<table>       -> custom field history (see table_schema.h)
 *                 dd/<source>/<table>/<pk>  -> written by versions before the dedupe log: 16 hex
 *                                              digits of the legacy hash64 of the last published
 *                                              version; tombstone after a delete. Still read.
 * Restoring reads the topic from the beginning to its end (read_committed), streaming every
 * record to a callback in offset order, so later values win as compaction would make them. */
#ifndef CRM_STATE_H
#define CRM_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

#define STATE_VERSION 1

/* value == NULL for tombstones. Return non-zero to abort the restore. */
typedef int (*state_visit_fn)(const char *key, size_t key_len, const char *value, size_t value_len,
                              void *u);

/* Reads kc->state_topic to its end. Returns the number of records read, or -1 with err set.
 * A missing topic reads as empty. */
long state_restore(const kafka_config *kc, state_visit_fn fn, void *u, int timeout_ms, char *err,
                   size_t errlen);

/* The bookmark of one table. */
typedef struct state_bookmark {
    int64_t bookmark_ms;  /* CRM_TIME_NONE: never synced */
    int64_t pass_from_ms; /* lower bound of the pass in progress (resumed after a restart) */
    json_t *paging;       /* owned; {} when no pass is in progress */
    int64_t last_pass_ms; /* wall time the last complete pass ended */
    int64_t last_reconcile_ms;
    int passes;       /* completed passes */
    json_t *suspects; /* owned, NULL or an array of primary keys (text) the last complete
                         reconciliation listing missed but could not confirm gone (tables
                         without confirm_request: deleted when the next listing misses them too) */
} state_bookmark;

void state_bookmark_init(state_bookmark *b);
void state_bookmark_clear(state_bookmark *b);
/* Parses a bookmark value; -1 with err on a malformed or newer-version value. */
int state_bookmark_parse(const char *value, size_t len, state_bookmark *out, char *err,
                         size_t errlen);
/* Serializes to compact JSON into out. */
void state_bookmark_format(const state_bookmark *b, buf *out);

/* A dd/ value of an earlier version: the hash, with CONTENT_HASH_LEGACY set. -1 when the value
 * is not 16 hex digits. */
int state_dedupe_parse(const char *value, size_t len, uint64_t *hash);

/* Key builders: append the key to out (cleared first). */
void state_key_bookmark(buf *out, const char *source, const char *table);
void state_key_dedupe(buf *out, const char *source, const char *table, const char *pk,
                      size_t pk_len);

#endif
