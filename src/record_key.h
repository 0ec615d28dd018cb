/* record_key.h — a record's primary key as text, from its JSON value or straight from its JSON
 * text: the form the dedupe maps, the reconciliation marks and the message keys use. */
#ifndef CRM_RECORD_KEY_H
#define CRM_RECORD_KEY_H

#include <jansson.h>
#include <stddef.h>

#include "util.h"

/* Primary key as text appended to out: strings as they are, integers in decimal. */
int record_key_append(const json_t *v, buf *out);

/* Primary key as text (out reset first): strings as they are, integers in decimal. */
int record_key_text(const json_t *v, buf *out);

/* The primary key's text at pkv: a string without escapes, or an integer (*pk, *pklen point
 * into the record's text). -1 when the DOM path must look. */
int record_key_raw(const char *pkv, const char *end, const char **pk, size_t *pklen);

#endif
