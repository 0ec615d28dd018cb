/* custom.c — Close's typed custom fields: definitions from /custom_field/<object>/ (and the
 * shared fields associated with the object), values in the records' "custom.<cf_id>" keys. The
 * deprecated name-keyed "custom" dict duplicates those values and is dropped once they are
 * typed. */
#include <stdio.h>
#include <string.h>

#include "close_internal.h"

static cf_kind close_kind(const char *type)
{
    if (!type)
        return CF_STRING;
    if (strcmp(type, "number") == 0)
        return CF_NUMBER;
    if (strcmp(type, "date") == 0)
        return CF_DATE;
    if (strcmp(type, "datetime") == 0)
        return CF_DATETIME;
    return CF_STRING; /* text, textarea, choices (labels), user, contact, hidden, ... */
}

/* A shared field applies when one of its associations names the table's object type (the
 * tables with custom fields declare one). */
static int shared_applies(const table_def *t, const json_t *def)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(def, "associations"), i, a)
    {
        const char *ot = json_string_value(json_object_get(a, "object_type"));
        if (ot && strcmp(ot, close_table_of(t)->object_type) == 0)
            return 1;
    }
    return 0;
}

static int close_describe(const table_def *t, const json_t *def, cf_desc *d)
{
    const char *id = json_string_value(json_object_get(def, "id"));
    if (!id)
        return 0;
    if (json_object_get(def, "associations") && !shared_applies(t, def))
        return 0;
    cf_desc_set(d, id, json_string_value(json_object_get(def, "name")),
                close_kind(json_string_value(json_object_get(def, "type"))),
                json_is_true(json_object_get(def, "accepts_multiple_values")));
    return 1;
}

static json_t *close_take(json_t *rec, const char *id, cf_kind kind)
{
    (void)kind;
    char key[160];
    snprintf(key, sizeof(key), "custom.%s", id);
    json_t *v = json_object_get(rec, key);
    if (!v)
        return NULL;
    json_incref(v);
    json_object_del(rec, key);
    return v;
}

static void close_strip(json_t *rec)
{
    if (json_is_object(json_object_get(rec, "custom")))
        json_object_del(rec, "custom");
}

const custom_fields_spec close_custom_leads = {
    .definitions = {"custom_fields", "shared_custom_fields"},
    .describe = close_describe,
    .take = close_take,
    .strip = close_strip,
    .raw_prefix = "custom.",
    .raw_strip = "custom",
};
const custom_fields_spec close_custom_contacts = {
    .definitions = {"contact_custom_fields", "shared_custom_fields"},
    .describe = close_describe,
    .take = close_take,
    .strip = close_strip,
    .raw_prefix = "custom.",
    .raw_strip = "custom",
};
const custom_fields_spec close_custom_opportunities = {
    .definitions = {"opportunity_custom_fields", "shared_custom_fields"},
    .describe = close_describe,
    .take = close_take,
    .strip = close_strip,
    .raw_prefix = "custom.",
    .raw_strip = "custom",
};
const custom_fields_spec close_custom_activities = {
    .definitions = {"activity_custom_fields", "shared_custom_fields"},
    .describe = close_describe,
    .take = close_take,
    .strip = close_strip,
    .raw_prefix = "custom.",
    .raw_strip = "custom",
};
