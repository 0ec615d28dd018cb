/* schema_resolver.h — finds the writer schema of an event value, the way any consumer would:
 * single-object encoded values (C3 01 + fingerprint) through the compacted schemas topic,
 * Confluent-framed values (00 + schema id) through the Schema Registry. For `peek`, `schemas`
 * and the test tools; the producer never needs it. */
#ifndef CRM_SCHEMA_RESOLVER_H
#define CRM_SCHEMA_RESOLVER_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "event.h"
#include "util.h"

typedef struct schema_resolver schema_resolver;

schema_resolver *resolver_new(const crm_config *cfg);
void resolver_free(schema_resolver *r);

/* The codec of the value's writer schema (borrowed; lives as long as r). NULL + err when the
 * schema cannot be found or the framing is unknown. */
event_codec *resolver_codec(schema_resolver *r, const void *value, size_t len, char *err,
                            size_t errlen);

/* Decodes a value with its writer schema (event_decode's JSON). NULL + err. */
json_t *resolver_decode(schema_resolver *r, const void *value, size_t len, char *err,
                        size_t errlen);

/* The writer schema text of the value (borrowed), or NULL. */
const char *resolver_schema_text(schema_resolver *r, const void *value, size_t len);

/* A message key as text: Confluent-framed Avro strings (registry mode) are decoded, anything
 * else is copied as it is. */
void resolver_key_text(const void *key, size_t len, buf *out);

#endif
