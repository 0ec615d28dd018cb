/* sync_emit.h — record emission: a page's records, change-feed upserts and deletes become
 * deduplicated change events in the page work. */
#ifndef CRM_SYNC_EMIT_H
#define CRM_SYNC_EMIT_H

#include "sync_work.h"

/* A record of the page's own table (its JSON value). */
int emit_record(page_work *w, const json_t *rec, char *err, size_t errlen);

/* The records of a raw page (page.raw): reconciliation marks (reconcile) or raw events; *n =
 * the records read. */
int emit_raw_records(page_work *w, const page *pg, int reconcile, long *n, sync_error *e);

/* Records of other tables from a change feed, newest first. */
int emit_feed_upserts(page_work *w, const json_t *upserts, char *err, size_t errlen);
int emit_feed_deletes(page_work *w, const json_t *deletes, char *err, size_t errlen);

/* A delete event plus a tombstone for a key the target table has published. */
int emit_delete(page_work *w, table_run *target, const char *pk, size_t len, const json_t *before,
                char *err, size_t errlen);

#endif
