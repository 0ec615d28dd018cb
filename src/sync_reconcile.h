/* sync_reconcile.h — the ids a full listing missed, confirmed gone before they are deleted. */
#ifndef CRM_SYNC_RECONCILE_H
#define CRM_SYNC_RECONCILE_H

#include "sync_work.h"

/* The ids the pass's full listing missed (keys t->dd left unmarked) and the CRM confirms gone:
 * a new map (maybe empty), or NULL: delete nothing (stopped, *rc = 1; or confirmation failed,
 * logged). single_page: the listing was one page. Tables without confirm_request confirm by a
 * second listing: *suspects = this listing's misses. */
dedupe *reconcile_vanished_ids(table_run *t, int single_page, json_t **suspects, int *rc, char *err,
                               size_t errlen);

/* Publishes deletes in w for the confirmed ids that did not change since they were collected;
 * *n = how many. -1 failed (err). */
int reconcile_delete_vanished(page_work *w, table_run *t, dedupe *gone, size_t *n, char *err,
                              size_t errlen);

#endif
