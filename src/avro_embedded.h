/* avro_embedded.h — the .avsc files of avro/, compiled into the binary (scripts/embed-avro.sh). */
#ifndef CRM_AVRO_EMBEDDED_H
#define CRM_AVRO_EMBEDDED_H

/* The schema text of avro/<path>, or NULL. */
const char *avro_embedded_schema(const char *path);

#endif
