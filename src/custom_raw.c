/* custom_raw.c — typed custom fields on the raw path. table_schema_prepare reads a record's
 * custom values out of its jansson DOM with the connector's take/strip callbacks; a connector
 * that says where they are as data lets the encoder take them from the record's text as it
 * meets them: top-level members raw_prefix + id (Close), or one member (raw_member: Pipedrive's
 * custom_fields object, Copper's array) parsed alone and handed to the connector's take(). The
 * values are coerced by cf_history_values exactly as on the DOM path and encoded as the
 * record's custom field; the bytes and the dedupe hash are the DOM path's (test_raw_dom_pages
 * checks it). */
#include "custom_raw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "custom_fields.h"
#include "json_scan.h"
#include "json_writer.h"
#include "util.h"

/* The member strip() removes: raw_strip, when its value is an object. */
static int is_stripped(const custom_raw *cr, const char *key, size_t kl, const char *value,
                       const char *end)
{
    return cr->strip && kl == cr->strip_len && memcmp(key, cr->strip, kl) == 0 &&
           js_peek(value, end) == JS_OBJECT;
}

/* The active history entry whose id is [id, id + len), or -1 (take() is only asked for them). */
static long active_entry(const custom_raw *cr, const char *id, size_t len)
{
    for (size_t i = 0; i < cr->n; i++) {
        const char *e = cf_history_id(cr->cf, i);
        if (cf_history_active(cr->cf, i) && strlen(e) == len && memcmp(e, id, len) == 0)
            return (long)i;
    }
    return -1;
}

static int take_member(void *u, const char *key, size_t kl, const char *value,
                       const char *value_end)
{
    custom_raw *cr = u;
    if (!cr->prefix) /* raw_member: a top-level member named like a field is the DOM path's */
        return active_entry(cr, key, kl) >= 0 ? -1 : 0;
    if (is_stripped(cr, key, kl, value, value_end))
        return 1;
    if (kl <= cr->prefix_len || memcmp(key, cr->prefix, cr->prefix_len) != 0)
        return 0;
    long i = active_entry(cr, key + cr->prefix_len, kl - cr->prefix_len);
    if (i < 0)
        return 0;
    if (cr->raw[i])
        return -1; /* a duplicate key: the DOM path decides */
    cr->raw[i] = json_loadb(value, (size_t)(value_end - value), JSON_DECODE_ANY, NULL);
    return cr->raw[i] ? 1 : -1;
}

/* raw_member: take() applied to the member alone, in a record of its own, for every active
 * field in history order (as table_schema_prepare_with does on the whole record); what it
 * leaves of the member is handed back as text. */
static int rewrite_member(void *u, const char *key, size_t kl, const char *value,
                          const char *value_end, const char **text, size_t *len)
{
    custom_raw *cr = u;
    const char *m = cr->spec->raw_member;
    if (!m || strlen(m) != kl || memcmp(m, key, kl) != 0)
        return 0;
    json_t *v = json_loadb(value, (size_t)(value_end - value), JSON_DECODE_ANY, NULL);
    json_t *alone = v ? json_object() : NULL;
    if (!alone || json_object_set_new(alone, m, v)) {
        json_decref(alone);
        return -1;
    }
    for (size_t i = 0; i < cr->n; i++)
        if (cf_history_active(cr->cf, i) && !cr->raw[i])
            cr->raw[i] =
                cr->spec->take(alone, cf_history_id(cr->cf, i), cf_history_kind(cr->cf, i));
    char stack[1024];
    jw w;
    jw_init(&w, stack, sizeof(stack));
    jw_value(&w, json_object_get(alone, m));
    buf_reset(&cr->member);
    buf_append(&cr->member, w.p, w.len);
    jw_free(&w);
    json_decref(alone);
    *text = cr->member.data;
    *len = cr->member.len;
    return 1;
}

static const json_t *coerced_values(void *u)
{
    custom_raw *cr = u;
    if (!cr->values)
        cr->values = cf_history_values(cr->cf, cr->raw, &cr->misfits, &cr->misfit_field);
    return cr->values;
}

int custom_raw_begin(custom_raw *cr, const custom_fields_spec *spec, const cf_history *cf)
{
    memset(cr, 0, sizeof(*cr));
    if (!spec || (!spec->raw_prefix && !spec->raw_member))
        return -1;
    cr->spec = spec;
    cr->cf = cf;
    buf_init(&cr->member);
    cr->prefix = spec->raw_prefix;
    cr->prefix_len = spec->raw_prefix ? strlen(spec->raw_prefix) : 0;
    cr->strip = spec->raw_strip;
    cr->strip_len = spec->raw_strip ? strlen(spec->raw_strip) : 0;
    cr->n = cf ? cf_history_count(cf) : 0;
    cr->raw = xcalloc(cr->n + 1, sizeof(json_t *));
    cr->hooks = (amap_custom){
        -1, take_member, spec->raw_member ? rewrite_member : NULL, coerced_values, cr, 0};
    return 0;
}

void custom_raw_end(custom_raw *cr)
{
    for (size_t i = 0; i < cr->n; i++)
        json_decref(cr->raw[i]);
    free(cr->raw);
    json_decref(cr->values);
    buf_free(&cr->member);
    memset(cr, 0, sizeof(*cr));
}
