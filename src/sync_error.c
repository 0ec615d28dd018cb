/* sync_error.c — a failure with its kind (sync_error.h). */
#include "sync_error.h"

#include <stdarg.h>
#include <stdio.h>

int sync_error_set(sync_error *e, error_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    e->kind = kind;
    return -1;
}
