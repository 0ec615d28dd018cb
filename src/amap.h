/* amap.h — JSON records to Avro generic values, driven by a table's .avsc schema.
 *
 * avro-c has no JSON decoder, so each table's record schema is compiled once into a plan
 * (field index -> JSON key, type, union branch numbers, logical type) and records are filled by
 * index. Rules (documented in README "Avro mapping"):
 *  - A field's JSON key is its name, or the field attribute "json" when present
 *    (e.g. {"name":"cf_abc","json":"custom.cf_abc",...}).
 *  - ["null", T] unions: JSON null or a missing key -> null; otherwise T. A missing key for a
 *    non-nullable field is an error, unless the field has a default.
 *  - long/int: JSON integers; integral reals; numeric strings ("123") are accepted.
 *  - long with logicalType timestamp-millis: RFC 3339 / naive / date-only strings (crm_time) or
 *    JSON numbers in epoch seconds (attribute "json_unit":"ms" for milliseconds); "" and zero
 *    dates become null when the field is nullable, an error otherwise.
 *  - double/float: JSON numbers or numeric strings. boolean: JSON true/false.
 *  - string: JSON strings; numbers and booleans become their JSON text; objects/arrays become
 *    their compact JSON text only for fields with attribute "json_text": true, else an error.
 *  - array, map, nested record and enum map structurally. bytes: JSON string bytes.
 *  - A top-level field named "_unmapped" of type ["null","string"] receives the compact JSON of
 *    every key of the record the schema does not name (so no CRM field is ever dropped), or null.
 * Errors name the field path and what was found: "field owner.id: expected long, got string
 * \"abc\"". */
#ifndef CRM_AMAP_H
#define CRM_AMAP_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The module's prefix is amap_ ("avro map"): avro-c owns the avro_ namespace (avro_map is one of
 * its functions). Files: amap_plan.c compiles the plan, amap_fill.c fills avro-c values from a
 * jansson DOM, amap_to_json.c reads them back, amap_raw.c encodes JSON text to Avro binary. */
typedef struct amap_plan amap_plan;

/* Compiles a plan for `record_schema` (the parsed .avsc, a JSON object of type "record"; borrowed,
 * only read during the call). Returns NULL with err set on an unsupported schema. */
amap_plan *amap_new(const json_t *record_schema, char *err, size_t errlen);
void amap_free(amap_plan *m);

/* Fills `value`, a generic value whose schema is the record schema (or a union branch holding
 * it), from the JSON object `rec`. Returns 0, or -1 with err set. The value is reset first. */
int amap_fill(const amap_plan *m, const json_t *rec, avro_value_t *value, char *err, size_t errlen);

/* The fast path: encodes the JSON object text [json, json + len) straight to the Avro binary of
 * the record, appended to out — the same bytes amap_fill + avro_value_write give — without
 * a jansson DOM or avro-c values. Returns 0, or 1 (out unchanged) when the record needs the DOM
 * path: conversions, defaults, maps, bytes, multi-branch unions, duplicate or escaped keys, and
 * every error (the DOM path then reports it). */
int amap_encode_raw(const amap_plan *m, const char *json, size_t len, buf *out);
/* What amap_encode_raw_at reports of a top-level member the caller asked for (its primary
 * and replication keys), so that the caller need not read them again. */
typedef struct amap_found {
    const char *value;   /* the start of the member's JSON value; NULL when absent */
    int64_t ms;          /* a timestamp-millis field read from a string: the encoded time;
                            CRM_TIME_NONE otherwise (the caller reads value itself) */
    const char *ms_text; /* with ms: the string's text when it is already crm_time's
                            canonical form (24 characters, milliseconds, Z), else NULL */
} amap_found;

/* Up to 8 top-level member keys to locate in every record, resolved against a plan once
 * (amap_resolve_keys): fields by index, other members by name. The key strings are borrowed. */
#define AMAP_MAX_KEYS   8
#define AMAP_MAX_FIELDS 128
typedef struct amap_keys {
    size_t n;
    const char *keys[AMAP_MAX_KEYS];
    size_t lens[AMAP_MAX_KEYS];
    int by_name;                      /* how many keys are not fields of the record */
    int8_t by_field[AMAP_MAX_FIELDS]; /* field index -> key index, -1: not asked for */
} amap_keys;
/* -1 when there are more than AMAP_MAX_KEYS keys. */
int amap_resolve_keys(const amap_plan *m, const char *const *keys, size_t n, amap_keys *out);

/* The same for a record starting at json inside a larger text: *next = where the record ends;
 * found[i] describes the top-level member want->keys[i] (want may be NULL: none). */
int amap_encode_raw_at(const amap_plan *m, const char *json, const char *end, buf *out,
                       const char **next, const amap_keys *want, amap_found *found);

/* Typed custom fields on the raw path (the engine's side is table_schema.c): the root record's
 * members that the schema does not name are offered to take() before "_unmapped" (1: the
 * member is consumed; 0: it is not; -1: the record needs the DOM path), and the root field at
 * index `field`, which the text does not have, is encoded from the JSON object values()
 * returns then (borrowed; NULL: the DOM path). */
typedef struct amap_custom {
    int field;
    int (*take)(void *u, const char *key, size_t keylen, const char *value, const char *value_end);
    /* Optional: offered each root member the schema names; 1 with [*text, *text + *len) the
     * member's value once custom values are taken out of it (valid until the next call), 0: as
     * it is, -1: the DOM path. */
    int (*rewrite)(void *u, const char *key, size_t keylen, const char *value,
                   const char *value_end, const char **text, size_t *len);
    const json_t *(*values)(void *u);
    void *u;
    size_t off; /* set by the encoder: where the field's bytes start, from the record's start */
} amap_custom;

/* amap_encode_raw_at with typed custom fields (custom may be NULL: none). */
int amap_encode_raw_custom_at(const amap_plan *m, const char *json, const char *end, buf *out,
                              const char **next, const amap_keys *want, amap_found *found,
                              amap_custom *custom);

/* The inverse, for peek/tests: a new JSON object from a filled record value. Timestamps come
 * back as "YYYY-MM-DDTHH:MM:SS.mmmZ", "_unmapped" keys are merged back into the object, unions
 * are unwrapped. Returns NULL with err set on failure. */
json_t *amap_to_json(const amap_plan *m, avro_value_t *value, char *err, size_t errlen);

#endif
