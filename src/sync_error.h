/* sync_error.h — why a page or a pass failed, typed: the kind (the errors_total label) is set
 * where the failure happens and travels with the message, instead of being guessed afterwards
 * from which step failed. */
#ifndef CRM_SYNC_ERROR_H
#define CRM_SYNC_ERROR_H

#include "metrics.h"

typedef struct sync_error {
    error_kind kind;
    char msg[1024];
} sync_error;

/* Sets e's kind and message (printf-style); returns -1, so a failure reads
 * `return sync_error_set(e, ERR_PARSE, "...")`. */
int sync_error_set(sync_error *e, error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
