/* sync_work.h — the page work: what the uncommitted pages of a pass will commit together (the
 * data and state batches, the tables they lock) and the undo log of the dedupe map changes they
 * made, so that a failed page or a commit that gives up puts the maps back. */
#ifndef CRM_SYNC_WORK_H
#define CRM_SYNC_WORK_H

#include "sync_error.h"
#include "table_run.h"

#define MAX_LOCKED 16

/* A change of a dedupe map made by the uncommitted pages (the undo log). */
typedef struct change {
    table_run *t;
    size_t key_off; /* the primary key, in page_work.change_keys */
    uint32_t len;
    uint8_t existed;   /* the key was known before, with hash `old` */
    uint8_t is_delete; /* a delete (else a publication) */
    uint64_t old;
    uint64_t hash; /* the published content hash (what the dedupe log records) */
} change;

/* Everything one page (or the end of a pass) commits together. */
typedef struct page_work {
    table_run *self;
    kafka_batch *data;
    kafka_batch *state;
    change *changes;
    size_t n_changes, cap_changes;
    buf change_keys;
    dedupe *feed_seen; /* "<table>\n<pk>" upserted by this pass's change feed (newest first) */
    table_run *locked[MAX_LOCKED];
    int n_locked;
    buf key, val;
    buf mkey; /* the message key (framed in registry mode) */
    int64_t page_max_ms;
    int64_t pass_start_ms; /* values after it + FUTURE_SKEW_MS move the bookmark to it only */
    int future_values;     /* records of the page with such a value */
    int64_t now_ms;        /* the events' ts_ms: the wall time the page's processing started */
    int snapshot;
    int mark; /* reconciliation round active: mark keys seen */
    /* The pass's pages emitted but not committed yet and the bookmark that commits with them.
     * Shared state, guarded by self->lock like the dedupe map they changed: the pass releases
     * the lock while it fetches, and a change feed that writes into the table commits them
     * first (work_lock_target), so that its events follow them. */
    int pending;
    state_bookmark pend_bm;
    int64_t pending_since; /* monotonic ms of the first pending page */
    int flush_failed;      /* a feed's commit of them failed: the pass fails with it */
    sync_error flush_error;
} page_work;

/* Where a page started in the page work, so a failed page alone can be taken back. */
typedef struct work_mark {
    size_t data, state, changes;
} work_mark;

void work_init(page_work *w, table_run *t);
void work_reset(page_work *w);
void work_free(page_work *w);

/* Records a change of t's dedupe map (key pk) in the undo log. */
void work_log_change(page_work *w, table_run *t, const char *pk, size_t len, int existed,
                     uint64_t old, int is_delete, uint64_t hash);
/* Puts the dedupe maps back as they were before change `from`, newest change first. */
void work_undo(page_work *w, size_t from);

work_mark work_mark_now(const page_work *w);
void work_rewind(page_work *w, work_mark m);

/* Locks another table of the source for the rest of the page (change feeds), committing its
 * pending pages first. */
int work_lock_target(page_work *w, table_run *target);
void work_unlock_targets(page_work *w);

/* Commits the page's batches with bm as the new bookmark. 0 on success (changes kept); on
 * failure the dedupe maps are put back. */
int work_commit(page_work *w, state_bookmark *bm, sync_error *e);

/* Commits the pending pages with their bookmark, which becomes the table's (self->lock held). */
int work_flush(page_work *w, sync_error *e);

#endif
