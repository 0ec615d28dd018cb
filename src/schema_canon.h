/* schema_canon.h — Avro schema identity: Parsing Canonical Form and the CRC-64-AVRO fingerprint
 * used by single-object encoding (C3 01 + 8-byte little-endian fingerprint + body).
 * Both follow the Avro specification ("Parsing Canonical Form", "Schema Fingerprints"). */
#ifndef CRM_SCHEMA_CANON_H
#define CRM_SCHEMA_CANON_H

#include <jansson.h>
#include <stdint.h>

#include "util.h"

/* Appends the Parsing Canonical Form of `schema` (a jansson schema: string, object or array) to
 * out. Returns 0, or -1 on a malformed schema. */
int schema_canon_form(const json_t *schema, buf *out);

/* The full name of a type defined with `name` (and optional `namespace` attribute nsattr) inside
 * the enclosing namespace ns ("" or NULL: the null namespace), per the spec. Caller frees. */
char *schema_canon_full_name(const char *name, const json_t *nsattr, const char *ns);

/* CRC-64-AVRO (Rabin) fingerprint of bytes; fingerprint of "" is 0xc15d213aa4d7a795. */
uint64_t schema_canon_fingerprint64(const void *data, size_t len);

/* Writes the 10-byte single-object header for fingerprint fp into out. */
void schema_canon_single_object_header(uint64_t fp, unsigned char out[10]);

#endif
