/* embedded_schemas.h — the .avsc files of avro/, compiled into the binary (embed-avro.sh). */
#ifndef CRM_EMBEDDED_SCHEMAS_H
#define CRM_EMBEDDED_SCHEMAS_H

/* The schema text of avro/<path>, or NULL. */
const char *embedded_schemas_find(const char *path);

#endif
