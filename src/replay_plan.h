/* replay_plan.h — how one writer schema of a table topic becomes SQL columns, and how its
 * events become rows. Built from the envelope schema text (for names and logical types) and
 * applied to avro-c values decoded with that schema.
 *
 * Columns (README "Replay"): each top-level field of the `after` record is a column of its
 * name; primitives map to native types (long/int -> BIGINT, timestamp-millis -> TIMESTAMP,
 * date -> DATE, double/float -> DOUBLE, boolean -> BOOL, string/enum/bytes -> TEXT);
 * crmstream.Money becomes <name>_amount (DOUBLE) and <name>_currency (TEXT); the typed custom
 * fields record (field "custom") is flattened into custom_<name> columns by the same rules;
 * nested records, arrays, maps, other unions and the `_unmapped` JSON text are JSON. */
#ifndef CRM_REPLAY_PLAN_H
#define CRM_REPLAY_PLAN_H

#include <avro.h>
#include <stddef.h>

#include "replay_store.h"
#include "util.h"

typedef struct replay_plan replay_plan;

/* NULL + err naming the field and its type when the schema cannot be mapped. */
replay_plan *replay_plan_new(const char *envelope_json, size_t len, char *err, size_t errlen);
void replay_plan_free(replay_plan *p);

const replay_column *replay_plan_columns(const replay_plan *p, size_t *n);

/* An event value decoded: op ('c','u','r','d') and, unless 'd', the row's values (one per
 * column; valid until the next decode). `body` is the Avro binary after the framing header. */
int replay_plan_decode(replay_plan *p, const void *body, size_t len, char *op,
                       const replay_value **vals, char *err, size_t errlen);

/* The length of a value's framing header: 10 (single-object), 5 (Confluent) or 0 (unknown). */
size_t replay_frame_header_len(const void *value, size_t len);

#endif
