/* replay.h — `crmstream replay`: materializes the configured sources' table topics into a
 * SQL database (SQLite or PostgreSQL), exactly once: rows and the consumed offsets are written
 * in one database transaction, and the consumer starts from the stored offsets. README
 * "Replay". */
#ifndef CRM_REPLAY_H
#define CRM_REPLAY_H

#include "config.h"

typedef struct replay_options {
    const char *to;           /* sqlite:PATH (default sqlite:replay.db) or postgresql://... */
    const char *tables;       /* comma-separated SOURCE.TABLE or TABLE; NULL: every table */
    const char *group;        /* NULL: crmstream-replay-<topic_prefix> */
    const char *password_env; /* NULL: PGPASSWORD (libpq) */
    int once;                 /* stop when every assigned partition is caught up */
    int batch_rows;           /* rows per transaction at most (0: 20000) */
} replay_options;

int replay_run(const crm_config *cfg, const replay_options *opts);

#endif
