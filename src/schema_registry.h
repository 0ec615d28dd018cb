/* schema_registry.h — the producer's client of a Confluent Schema Registry (REST): registers
 * schemas under subjects, caches ids, looks schemas up by id, and frames payloads in the
 * Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body).
 * One client serves every table thread (a mutex guards the caches and the HTTP handle); the
 * HTTP client retries 5xx and timeouts with backoff. The password is never printed. */
#ifndef CRM_SCHEMA_REGISTRY_H
#define CRM_SCHEMA_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

typedef struct sr_client sr_client;

typedef enum {
    SR_OK = 0,
    SR_INCOMPATIBLE = -1, /* the registry rejected the schema (409 / 422): err has its message */
    SR_UNAVAILABLE = -2,  /* transport errors or 5xx after retries */
    SR_ERROR = -3,        /* anything else (401, 404, bad responses) */
    SR_NOT_FOUND = -4,    /* sr_lookup: the subject does not have this schema */
} sr_result;

/* cfg must outlive the client. NULL + err when the client cannot be created. */
sr_client *sr_new(const registry_config *cfg, char *err, size_t errlen);
void sr_free(sr_client *c);

/* Registers schema_json under subject (POST /subjects/{subject}/versions) and returns its id;
 * a (subject, schema) pair registered before is answered from the cache without a request. */
sr_result sr_register(sr_client *c, const char *subject, const char *schema_json, uint32_t *id,
                      char *err, size_t errlen);

/* The schema text of an id (GET /schemas/ids/{id}), cached; borrowed, lives as long as c. */
sr_result sr_schema_by_id(sr_client *c, uint32_t id, const char **schema_json, char *err,
                          size_t errlen);

/* The id and version of schema_json under subject (POST /subjects/{subject}); SR_NOT_FOUND
 * when it is not registered there. */
sr_result sr_lookup(sr_client *c, const char *subject, const char *schema_json, uint32_t *id,
                    int *version, char *err, size_t errlen);

/* Is schema_json compatible with the latest version of subject under the subject's level
 * (POST /compatibility/subjects/{subject}/versions/latest)? *compatible = 1/0; a subject
 * without versions counts as compatible. */
sr_result sr_check_compatibility(sr_client *c, const char *subject, const char *schema_json,
                                 int *compatible, char *err, size_t errlen);

/* Wire format: out (cleared first) = 00, id big-endian, body. */
void sr_frame(buf *out, uint32_t id, const void *body, size_t len);
/* Splits a framed payload; -1 with err on a short buffer or a magic byte other than 0. */
int sr_unframe(const void *data, size_t len, uint32_t *id, const void **body, size_t *body_len,
               char *err, size_t errlen);

/* The Avro encoding of a string (zigzag varint length + bytes) appended to out: the body of a
 * key whose schema is "string". */
void sr_avro_string(buf *out, const char *s, size_t len);

#endif
