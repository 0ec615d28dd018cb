/* cli.h — the operator commands besides `run`: check, tables, state, peek, schemas, resync. */
#ifndef CRM_CLI_H
#define CRM_CLI_H

#include "config.h"
#include "connector.h"
#include "event.h"

int cli_check(const crm_config *cfg);
/* `validate`: the config loaded with its CRM secrets (main did that); prints what it holds. */
int cli_validate(const crm_config *cfg);
int cli_tables(const crm_config *cfg);
/* `state` (cli_state.c): every table's committed state (bookmark, passes, keys, a pass in
 * progress, lag, last pass) with what running instances report on /status (state, shard,
 * failures in a row, last error); or only the unhealthy sources' tables; or a summary. */
typedef enum { STATE_VIEW_TABLES = 0, STATE_VIEW_UNHEALTHY, STATE_VIEW_SUMMARY } state_view_kind;
typedef struct cli_state_options {
    state_view_kind view;
    const char *instances; /* --instance: comma-separated HOST:PORT or URLs; NULL: the config's
                              metrics listener on this host, when it has one */
} cli_state_options;
int cli_state(const crm_config *cfg, const cli_state_options *o);
/* Prints each table's current schema, publication and next-version compatibility
 * (cli_schemas.c). only: TABLE or SOURCE.TABLE, or NULL for all. Exit 1 when a next version is
 * not BACKWARD compatible. */
int cli_schemas(const crm_config *cfg, const char *only);
/* Rewinds one table (cli_resync.c; both take over the source's transactional.id first, fencing
 * a running instance of it). state --reset: bookmark and dedupe entries removed. resync: the
 * bookmark moved to `from` (NULL: start_date) then one pass of the table; republish: the dedupe
 * entries dropped too, so every key is published once as `r`. */
int cli_state_reset(const crm_config *cfg, const char *spec);
int cli_resync(const crm_config *cfg, const char *spec, const char *from, int republish);
/* Prints the last n events of a table topic decoded as JSON. spec: TABLE or SOURCE.TABLE. */
int cli_peek(const crm_config *cfg, const char *spec, long n);

/* The table a spec names: SOURCE.TABLE, or TABLE when exactly one source has it
 * (otherwise err lists the SOURCE.TABLE names to choose from). *source gets its source. */
const table_def *cli_table_spec(const crm_config *cfg, const char *spec,
                                const source_config **source, char *err, size_t errlen);

/* The table and topic name of a table spec (for peek and the test tools). NULL + err when
 * unknown. *topic is malloc'ed. */
const table_def *cli_table_topic(const crm_config *cfg, const char *spec, char **topic, char *err,
                                 size_t errlen);

#endif
