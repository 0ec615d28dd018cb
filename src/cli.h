/* cli.h — the operator commands besides `run`: check, tables, state. */
#ifndef CRM_CLI_H
#define CRM_CLI_H

#include "config.h"
#include "connector.h"
#include "event.h"

int cli_check(const crm_config *cfg);
int cli_tables(const crm_config *cfg);
int cli_state(const crm_config *cfg);
/* Prints each table's current schema, publication and next-version compatibility
 * (cli_schemas.c). only: TABLE or SOURCE.TABLE, or NULL for all. Exit 1 when a next version is
 * not BACKWARD compatible. */
int cli_schemas(const crm_config *cfg, const char *only);
/* Prints the last n events of a table topic decoded as JSON. spec: TABLE or SOURCE.TABLE. */
int cli_peek(const crm_config *cfg, const char *spec, long n);

/* The table and topic name of a table spec (for peek and the test tools). NULL + err when
 * unknown. *topic is malloc'ed. */
const table_def *cli_table_topic(const crm_config *cfg, const char *spec, char **topic, char *err,
                                 size_t errlen);

#endif
