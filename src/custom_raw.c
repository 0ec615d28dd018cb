/* custom_raw.c — typed custom fields on the raw path. table_schema_prepare reads a record's
 * custom values out of its jansson DOM with the connector's take/strip callbacks; a connector
 * that says where they are as data lets the encoder take them from the record's text as it
 * meets them: top-level members raw_prefix + id (Close), or inside one member (raw_member:
 * Pipedrive's custom_fields object keyed by field id, Copper's array of {id, value} entries),
 * read from its text with what take() leaves of it handed back as text. Only the values taken
 * are parsed with jansson. The values are coerced by cf_history_values exactly as on the DOM
 * path and encoded as the record's custom field; the bytes and the dedupe hash are the DOM
 * path's (test_raw_dom_pages and test_custom_raw check it). */
#include "custom_raw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "custom_fields.h"
#include "json_load.h"
#include "json_scan.h"
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
    cr->raw[i] = jl_value(value, value_end);
    return cr->raw[i] ? 1 : -1;
}

/* Field entry i takes the value [v, ve) (NULL v: null, an entry without a value): 0, or -1
 * when it is already taken (a duplicate: the DOM path decides) or cannot be read. */
static int take_value(custom_raw *cr, long i, const char *v, const char *ve)
{
    if (cr->raw[i])
        return -1;
    cr->raw[i] = v ? jl_value(v, ve) : json_null();
    return cr->raw[i] ? 0 : -1;
}

/* What take() leaves of the member: its kept pieces, comma-separated, in cr->member. */
static void keep_piece(custom_raw *cr, const char *s, const char *e)
{
    if (cr->member.len > 1)
        buf_append(&cr->member, ",", 1);
    buf_append(&cr->member, s, (size_t)(e - s));
}

/* An object keyed by field id: take() removes member[id] of every active field. */
static int rewrite_keyed(custom_raw *cr, const char *p, const char *end)
{
    const char *k, *v;
    size_t kl;
    int first, esc, rc;
    if (js_object_begin(&p, end, &first))
        return -1;
    buf_append(&cr->member, "{", 1);
    while ((rc = js_object_next(&p, end, &first, &k, &kl, &esc, &v)) == 1) {
        const char *ve = js_span_value(v, end);
        if (!ve || esc) /* an escaped key may name a field once decoded */
            return -1;
        long i = active_entry(cr, k, kl);
        if (i < 0)
            keep_piece(cr, k - 1, ve);
        else if (take_value(cr, i, v, ve))
            return -1;
        p = ve;
    }
    buf_append(&cr->member, "}", 1);
    return rc == 0 ? 1 : -1;
}

/* The integer id of an entry's id member [v, ve) as jansson would print it, in out: 0, or -1
 * when it is not an integer (such an entry matches no field). */
static int entry_id_text(const char *v, const char *ve, char *out, size_t cap)
{
    int integer = 0;
    const char *ne = js_peek(v, ve) == JS_NUMBER ? js_number(v, ve, &integer) : NULL;
    size_t len = ne ? (size_t)(ne - v) : 0;
    if (!integer || len == 0 || len >= cap)
        return -1;
    if (len == 2 && memcmp(v, "-0", 2) == 0) /* jansson reads -0 as the integer 0 */
        v++, len--;
    memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

/* One entry [v, ve) of an array of entries: the first active field of its id that has no value
 * yet takes its value. 1 taken, 0 kept, -1 the DOM path decides (a duplicate or escaped key). */
static int take_entry(custom_raw *cr, const char *v, const char *ve)
{
    const custom_fields_spec *sp = cr->spec;
    const char *p = v, *k, *mv, *id = NULL, *id_end = NULL, *val = NULL, *val_end = NULL;
    size_t kl;
    int first, esc, rc;
    if (js_peek(v, ve) != JS_OBJECT || js_object_begin(&p, ve, &first))
        return 0;
    while ((rc = js_object_next(&p, ve, &first, &k, &kl, &esc, &mv)) == 1) {
        const char *me = js_span_value(mv, ve);
        if (!me || esc)
            return -1;
        int is_id = kl == strlen(sp->raw_entry_id) && memcmp(k, sp->raw_entry_id, kl) == 0;
        int is_val = kl == strlen(sp->raw_entry_value) && memcmp(k, sp->raw_entry_value, kl) == 0;
        if ((is_id && id) || (is_val && val)) /* jansson keeps the last of duplicate keys */
            return -1;
        if (is_id)
            id = mv, id_end = me;
        if (is_val)
            val = mv, val_end = me;
        p = me;
    }
    char text[32];
    if (rc != 0 || !id || entry_id_text(id, id_end, text, sizeof(text)))
        return rc != 0 ? -1 : 0;
    size_t len = strlen(text);
    for (size_t i = 0; i < cr->n; i++) {
        const char *e = cf_history_id(cr->cf, i);
        if (cf_history_active(cr->cf, i) && !cr->raw[i] && strlen(e) == len &&
            memcmp(e, text, len) == 0)
            return take_value(cr, (long)i, val, val_end) ? -1 : 1;
    }
    return 0;
}

/* An array of entries {raw_entry_id, raw_entry_value}: take() removes the taken entries. */
static int rewrite_entries(custom_raw *cr, const char *p, const char *end)
{
    const char *v;
    int first, rc;
    if (js_array_begin(&p, end, &first))
        return -1;
    buf_append(&cr->member, "[", 1);
    while ((rc = js_array_next(&p, end, &first, &v)) == 1) {
        const char *ve = js_span_value(v, end);
        int took = ve ? take_entry(cr, v, ve) : -1;
        if (took < 0)
            return -1;
        if (!took)
            keep_piece(cr, v, ve);
        p = ve;
    }
    buf_append(&cr->member, "]", 1);
    return rc == 0 ? 1 : -1;
}

/* raw_member: take() applied to the member's text, for every active field (as
 * table_schema_prepare_with does on the whole record): what it leaves of the member is handed
 * back as text. The encoder validated the member before (js_skip_at): its values are only
 * spanned here. A member of another shape is left as it is (take() finds nothing in it). */
static int rewrite_member(void *u, const char *key, size_t kl, const char *value,
                          const char *value_end, const char **text, size_t *len)
{
    custom_raw *cr = u;
    const custom_fields_spec *sp = cr->spec;
    const char *m = sp->raw_member;
    if (strlen(m) != kl || memcmp(m, key, kl) != 0)
        return 0;
    js_type want = sp->raw_entry_id ? JS_ARRAY : JS_OBJECT;
    if (want == JS_OBJECT && active_entry(cr, m, kl) >= 0)
        return -1; /* take() would read the member itself as that field's value */
    if (js_peek(value, value_end) != want)
        return 0;
    buf_reset(&cr->member);
    int rc = want == JS_ARRAY ? rewrite_entries(cr, value, value_end)
                              : rewrite_keyed(cr, value, value_end);
    *text = cr->member.data;
    *len = cr->member.len;
    return rc;
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
