/* json_load.h — one JSON value's text as a jansson value (see json_load.c). */
#ifndef CRM_JSON_LOAD_H
#define CRM_JSON_LOAD_H

#include <jansson.h>

/* The value whose text is [v, ve) (valid JSON, e.g. spanned by js_skip) as a new jansson value,
 * exactly what json_loadb(v, ve - v, JSON_DECODE_ANY) returns; NULL where jansson refuses it. */
json_t *jl_value(const char *v, const char *ve);

#endif
