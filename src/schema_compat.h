/* schema_compat.h — Avro schema resolution as a compatibility check: can a reader schema read
 * data written with a writer schema (Avro specification, "Schema Resolution")? BACKWARD
 * compatibility of a new schema = the new schema reads data of the old one. Used by
 * `crmstream schemas` and by the Schema Registry simulator (tests/sim/registry.c).
 *
 * Rules: records match by full name (or a reader alias) and field by field (by name or reader
 * field alias); a reader field the writer lacks needs a default; promotions int -> long ->
 * float -> double and string <-> bytes; enums: every writer symbol must be a reader symbol
 * unless the reader enum has a default; fixed: same name and size; arrays and maps by their
 * items and values; a writer union needs every branch readable, a reader union needs one branch
 * that reads the writer. Logical types do not affect resolution. Recursive types are handled. */
#ifndef CRM_SCHEMA_COMPAT_H
#define CRM_SCHEMA_COMPAT_H

#include <jansson.h>
#include <stddef.h>

/* 1: reader can read writer's data; 0: it cannot (why names the first problem, e.g.
 * "field amount: reader type int cannot read writer type long"); -1: a schema is invalid. */
int schema_compat_can_read(const json_t *reader, const json_t *writer, char *why, size_t whylen);

/* The same on JSON schema texts. */
int schema_compat_can_read_text(const char *reader, const char *writer, char *why, size_t whylen);

#endif
