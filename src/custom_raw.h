/* custom_raw.h — typed custom fields on the raw path (see custom_raw.c). */
#ifndef CRM_CUSTOM_RAW_H
#define CRM_CUSTOM_RAW_H

#include <jansson.h>
#include <stddef.h>

#include "util.h"

#include "amap.h"
#include "connector.h"
#include "custom_fields.h"

typedef struct custom_raw {
    const cf_history *cf;
    const custom_fields_spec *spec;
    const char *prefix, *strip; /* the table's custom_fields_spec.raw_prefix / raw_strip */
    size_t prefix_len, strip_len, n;
    buf member;     /* raw_member: its value's text once the values are taken out */
    json_t **raw;   /* the values taken, by custom field history entry (n of them) */
    json_t *values; /* the coerced values object, once the encoder asked for it */
    size_t misfits; /* values that did not fit their type, and the first one's field */
    const char *misfit_field;
    amap_custom hooks; /* what the encoder calls (event_set_after_raw_custom_at) */
} custom_raw;

/* Prepares cr for one record of a table with typed custom fields spec and history cf (may be
 * NULL). 0, or -1 when its records cannot take the raw path (spec says not where the values
 * are). After the encoding, cr->misfits and cr->misfit_field are cf_history_values' (for
 * table_schema_count_misfits when the record is published). */
int custom_raw_begin(custom_raw *cr, const custom_fields_spec *spec, const cf_history *cf);
/* Frees what cr holds. */
void custom_raw_end(custom_raw *cr);

#endif
