/* json_writer.h — compact JSON text written into a caller's stack buffer (see json_writer.c). */
#ifndef CRM_JSON_WRITER_H
#define CRM_JSON_WRITER_H

#include <jansson.h>
#include <stddef.h>

/* Compact JSON text written without allocation into a stack buffer (moving to the heap only
 * when it outgrows it). Same text as jansson's JSON_COMPACT, except that reals use the shortest
 * form that reads back to the same double ("0.1", where jansson writes "0.10000000000000001").
 * (json_dumpb would allocate a loop-detection table on every call.) */
typedef struct jw {
    char *p;
    size_t len, cap;
    int heap;
} jw;

void jw_init(jw *w, char *stack, size_t cap);
void jw_put(jw *w, const char *s, size_t n);
void jw_free(jw *w);
/* A JSON string literal of s[0..len), escaped as jansson escapes it. */
void jw_string(jw *w, const char *s, size_t len);
void jw_value(jw *w, const json_t *j);

/* The text json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) returns, byte for byte (reals as the
 * linked jansson writes them), without its allocations: what dedupe hashes are computed from. */
void jw_value_sorted(jw *w, const json_t *j);

/* Decimal text of v into out (at least 21 bytes), NUL-terminated; returns the length. */
size_t jw_format_int(json_int_t v, char *out);
/* Shortest "%.Ng" that reads back to d, with ".0" for integral values (as jansson writes). */
size_t jw_format_real(double d, char *out, size_t n);

#endif
