/* custom_fields.h — typed custom fields: from a CRM's field definitions to a nested Avro record.
 *
 * A connector describes each definition as a cf_desc (stable id, label, kind, multi-value,
 * option labels, fixed currency). The engine keeps, per table, a cf_history: every custom field
 * ever seen, in order of first appearance, with the Avro name it was given then. The history
 * only grows, which is what keeps every new schema BACKWARD compatible:
 *  - a new field is appended, nullable with default null;
 *  - a renamed label keeps the field's name (derived once from the label, pinned to the id);
 *    only its `doc` changes;
 *  - a removed field stays in the schema (nullable; values are null from then on);
 *  - a type change deactivates the old entry and appends a new field "<name>_<type>".
 * The history is persisted in the state topic (cf/<source>/<table>) so names survive restarts.
 *
 * Values are coerced to the declared type before the Avro mapping; a value that does not fit
 * is kept as its compact JSON text in the record's "_invalid" map (name -> text) and counted.
 * Avro shape (namespace crmstream.<connector>.<table>):
 *   "custom": ["null", {"type":"record","name":"Custom","fields":[
 *       {"name":"company_size","type":["null","double"],"default":null,
 *        "doc":"Company Size","crm_id":"cf_abc","crm_type":"number"}, ...,
 *       {"name":"_invalid","type":["null",{"type":"map","values":"string"}],"default":null}]}]
 * Money is the named record crmstream.Money {amount: ["null","double"], currency:
 * ["null","string"]}; multi-value fields are arrays of their type. */
#ifndef CRM_CUSTOM_FIELDS_H
#define CRM_CUSTOM_FIELDS_H

#include <jansson.h>
#include <stddef.h>

typedef enum {
    CF_STRING = 0, /* text, textarea, url, phone, references: string */
    CF_NUMBER,     /* double */
    CF_BOOLEAN,
    CF_DATE,     /* int, logicalType date */
    CF_DATETIME, /* long, logicalType timestamp-millis */
    CF_MONEY,    /* crmstream.Money {amount, currency} */
    CF_ENUM,     /* option id or label -> the option's label (string) */
} cf_kind;

/* The JSON key under which the engine hands the coerced custom object to the Avro mapping. */
#define CF_JSON_KEY "$custom"

/* One definition as a connector describes it. Strings are copied by cf_desc_set*. */
typedef struct cf_desc {
    char *id;    /* stable id or key of the field in the CRM */
    char *label; /* the human label (may change) */
    cf_kind kind;
    int multi;       /* multi-value: an array of kind */
    json_t *options; /* owned: {"<option id>": "<label>"} for CF_ENUM, or NULL */
    char *currency;  /* fixed currency of a money field, or NULL (currency comes with values) */
} cf_desc;

void cf_desc_set(cf_desc *d, const char *id, const char *label, cf_kind kind, int multi);
/* Adds an option (id as text) to d->options. */
void cf_desc_add_option(cf_desc *d, const char *id, const char *label);
void cf_desc_clear(cf_desc *d);
const char *cf_kind_name(cf_kind k);

typedef struct cf_history cf_history;

cf_history *cf_history_new(void);
void cf_history_free(cf_history *h);
/* Number of entries (active or not). */
size_t cf_history_count(const cf_history *h);
/* Entry i: its Avro name, CRM id and whether the CRM still defines it with this type. */
const char *cf_history_name(const cf_history *h, size_t i);
const char *cf_history_id(const cf_history *h, size_t i);
int cf_history_active(const cf_history *h, size_t i);
cf_kind cf_history_kind(const cf_history *h, size_t i);

/* Restores a persisted history (replacing h's content); -1 with err on a bad value. */
int cf_history_parse(cf_history *h, const char *json, size_t len, char *err, size_t errlen);
/* The persisted form (compact JSON, versioned); caller frees. */
char *cf_history_dump(const cf_history *h);

/* Bits of cf_history_merge's result. */
#define CF_CHANGED_SCHEMA 1 /* fields added, renamed (doc), deactivated or reactivated */
#define CF_CHANGED_STATE  2 /* anything persisted changed (schema or options) */

/* Brings h up to date with the current definitions (n of them). Returns CF_CHANGED_* bits. */
int cf_history_merge(cf_history *h, const cf_desc *current, size_t n);
/* The same for a partial view (one definitions endpoint could not be read): adds and updates,
 * but deactivates nothing. */
int cf_history_merge_some(cf_history *h, const cf_desc *current, size_t n);

/* The Avro field "custom" for the table's record (new reference), or NULL when h is empty. */
json_t *cf_history_avro_field(const cf_history *h, const char *connector, const char *table);

/* Coerces raw values (raw[i] for entry i, NULL when absent; inactive entries are ignored) into
 * the custom JSON object the Avro mapping expects. Values that do not fit go to "_invalid";
 * *misfits receives their count and, when misfit_field is given, the first misfit's name.
 * Returns a new object. */
json_t *cf_history_values(const cf_history *h, json_t *const *raw, size_t *misfits,
                          const char **misfit_field);

#endif
