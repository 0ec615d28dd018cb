/* table_schema.h — a table's writer schema at run time: the built-in .avsc plus, for tables
 * with typed custom fields, the `custom` record evolved from the CRM's field definitions.
 * Every schema is published (schemas topic, or the Schema Registry) before an event uses it,
 * and the custom field history is committed to the state topic with it. */
#ifndef CRM_TABLE_SCHEMA_H
#define CRM_TABLE_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "sync_error.h"
#include "table_run.h"

/* Builds t->codec from the .avsc and the (restored) custom field history. */
int table_schema_build(table_run *t, char *err, size_t errlen);

/* Handles a restored cf/<source>/<table> state record (value NULL: tombstone). */
int table_schema_restore(table_run *t, const char *value, size_t len, char *err, size_t errlen);

/* Publishes the current schema of every table of the source (at start-up). */
int table_schema_publish_all(source_run *sr, char *err, size_t errlen);

/* The one rule of every event's encoding, whichever table's pass produces it (its own records,
 * a change feed's upserts or deletes, reconciliation deletes): the table's current writer
 * schema is on the schemas topic (or registered) before an event uses it. Publishes it now when
 * it is not yet. Call with t->lock held, so that the codec cannot change until the event is
 * encoded. 0, or -1 with err (the event must not be produced). */
int table_schema_ensure_published(table_run *t, char *err, size_t errlen);

/* Before a pass, and before a change feed publishes into the table: reads the custom field
 * definitions (cached per source for half the poll interval) and, when they changed, builds,
 * publishes and switches to the next schema version. A source whose definitions cannot be read
 * keeps its last schema (warned). Requests go through http, the calling thread's client. -1 when
 * publishing failed (e: kafka, or schema when the registry rejected it). Never call with a
 * table's lock held. */
int table_schema_refresh(table_run *t, http_client *http, sync_error *e);

/* The record as the Avro mapping must see it: custom values taken out by the connector,
 * coerced and put under CF_JSON_KEY; misfits counted and logged. A new reference. Call with
 * t->lock held when t is not the calling thread's own table. */
json_t *table_schema_prepare(table_run *t, const json_t *rec);
/* The same without a table_run: spec and cf (may be NULL: rec as is); *misfits and *field as
 * cf_history_values sets them (not counted). */
json_t *table_schema_prepare_with(const custom_fields_spec *spec, const cf_history *cf,
                                  const json_t *rec, size_t *misfits, const char **field);
/* Counts (and logs the first few) values of record pk (its JSON text) that did not fit their
 * declared custom field type (cf_history_values' misfits; field: the first one's name). */
void table_schema_count_misfits(table_run *t, size_t misfits, const char *field, const char *pk);

/* The record's custom field definitions of a source, fetched now (for `crmstream schemas`);
 * NULL + err when they cannot be read. */
json_t *table_schema_fetch_definitions(table_run *t, char *err, size_t errlen);

/* What the next pass would switch to, for `crmstream schemas`: 1 with *next_codec (caller
 * frees) when the definitions changed the schema, 0 when they did not (or the table has no
 * custom fields), -1 + err when they cannot be read. */
int table_schema_next(table_run *t, event_codec **next_codec, char *err, size_t errlen);

/* The message key of a primary key: the text itself, or in registry mode the Avro string
 * framed with the table's key schema id. */
void table_schema_key(const table_run *t, const char *pk, size_t len, buf *out);

#endif
