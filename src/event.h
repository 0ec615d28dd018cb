/* event.h — change events of one table: the Debezium-style envelope schema built around the
 * table's .avsc record, and its Avro encoding.
 *
 * Envelope (namespace crmstream.<connector>.<table>, name Envelope):
 *   before  ["null", <record>]   known image before the change (deletes, when the CRM tells)
 *   after   ["null", <record>]   the record after the change; null for deletes
 *   source  crmstream.Source {version, connector, account, table, replication_key,
 *                             replication_value, ts_ms}
 *   op      string: "r" snapshot read, "c" create, "u" update, "d" delete
 *   ts_ms   long: when crmstream produced the event
 * Values are framed with Avro single-object encoding: C3 01, the 8-byte little-endian
 * CRC-64-AVRO fingerprint of the envelope's canonical form, then the Avro binary body.
 * One codec per table thread (avro-c values are not thread-safe). */
#ifndef CRM_EVENT_H
#define CRM_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct event_codec event_codec;
typedef struct amap_found amap_found; /* amap.h */

/* schema_json: the table's .avsc text. NULL + err on a bad schema. */
event_codec *event_codec_new(const char *connector, const char *table, const char *schema_json,
                             char *err, size_t errlen);
/* A codec from a published envelope schema (the schemas topic or a registry): for readers. */
event_codec *event_codec_from_envelope(const char *envelope_json, size_t len, char *err,
                                       size_t errlen);
void event_codec_free(event_codec *c);

/* Frames values in the Confluent wire format (00 + big-endian schema id) from now on, instead
 * of single-object encoding. */
void event_codec_use_registry_id(event_codec *c, uint32_t id);

/* The envelope schema (JSON text) and its fingerprint. */
const char *event_codec_schema(const event_codec *c);
uint64_t event_codec_fingerprint(const event_codec *c);

/* Maps rec into the `after` image (and sets `before` to null) and returns the hash of its Avro
 * encoding (the dedupe key). -1 with err naming the field on a mapping error. */
int event_set_after(event_codec *c, const json_t *rec, uint64_t *hash, char *err, size_t errlen);
/* The fast path: the after image from the record's JSON text (amap_encode_raw) and its
 * hash, identical to event_set_after's; the next c/r/u event_encode writes the envelope by hand
 * around it. Returns 1 (nothing set) when the record needs event_set_after. */
int event_set_after_raw(event_codec *c, const char *json, size_t len, uint64_t *hash);
/* The same for a record inside a larger text (see amap_encode_raw_at): found[i] describes
 * member keys[i]. The codec resolves the keys once and reuses that while the same key strings
 * (same addresses, e.g. the table's constant names) are passed: never pass a reused buffer. */
int event_set_after_raw_at(event_codec *c, const char *json, const char *end, const char **next,
                           const char *const *keys, amap_found *found, size_t n_keys,
                           uint64_t *hash);
/* The same for a table with typed custom fields (amap_custom: the engine's custom_raw.c); the
 * hash is event_set_after's for the record table_schema_prepare would make. Without a custom
 * field in the schema, event_set_after_raw_at. */
typedef struct amap_custom amap_custom; /* amap.h */
int event_set_after_raw_custom_at(event_codec *c, const char *json, const char *end,
                                  const char **next, const char *const *keys, amap_found *found,
                                  size_t n_keys, amap_custom *custom, uint64_t *hash);
/* The current after image's hash as crmstream computed it before content_hash (hash64), with
 * CONTENT_HASH_LEGACY set: what a dedupe entry restored from old state is compared with (only
 * computed when such an entry is met). */
uint64_t event_legacy_hash(const event_codec *c);
/* For tools checking dedupe state: the content hash (and the legacy one) of an encoded event's
 * after image, as the engine computed it when publishing (tables without typed custom fields).
 * -1 with err for a foreign value or an event without an after image. */
int event_after_hash(event_codec *c, const void *data, size_t len, uint64_t *hash, uint64_t *legacy,
                     char *err, size_t errlen);
/* Maps rec into `before` (NULL: before = null). */
int event_set_before(event_codec *c, const json_t *rec, char *err, size_t errlen);

/* connector, account, table and replication_key are the table's constant names: the raw path
 * encodes them once per codec and reuses the bytes while the same addresses are passed. */
typedef struct event_meta {
    const char *connector;
    const char *account; /* the source name */
    const char *table;
    const char *replication_key;   /* may be NULL */
    const char *replication_value; /* may be NULL */
    int64_t source_ts_ms;          /* CRM_TIME_NONE when unknown */
    int64_t ts_ms;
} event_meta;

/* Encodes the envelope with op ('r','c','u' use the after image set last; 'd' uses after=null)
 * appended to out (the caller clears it when it reuses it), framed as single-object encoding. */
int event_encode(event_codec *c, char op, const event_meta *meta, buf *out, char *err,
                 size_t errlen);

/* Decodes a framed value back to JSON {"op","before","after","source","ts_ms"} with records as
 * source-shaped JSON (amap_to_json). For peek and tests. NULL + err on mismatch. */
json_t *event_decode(event_codec *c, const void *data, size_t len, char *err, size_t errlen);

#endif
