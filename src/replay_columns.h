/* replay_columns.h — the tables of a replay store, for both backends (replay_sqlite.c,
 * replay_pg.c): which columns each has as of the open transaction (read once per table from the
 * database by the backend, grown by CREATE TABLE and ALTER TABLE, dropped on rollback, which may
 * undo them), and the SQL that creates, grows and writes them in either dialect. */
#ifndef CRM_REPLAY_COLUMNS_H
#define CRM_REPLAY_COLUMNS_H

#include <stddef.h>

#include "replay_store.h"
#include "util.h"

typedef struct known_table {
    char *name;
    char **cols;
    size_t n_cols; /* 0: the table does not exist */
    struct known_table *next;
} known_table;

known_table *known_find(known_table *list, const char *table);
/* A new entry with no columns, at the head of *list. */
known_table *known_add(known_table **list, const char *table);
void known_remember(known_table *k, const char *col);
int known_has(const known_table *k, const char *col);
void known_forget_all(known_table **list);

/* What differs between the SQL of the backends. */
typedef struct replay_dialect {
    const char *types[COL_JSON + 1]; /* the column type of each col_type */
    const char *add_column;          /* "ADD COLUMN" or "ADD COLUMN IF NOT EXISTS" */
} replay_dialect;

typedef int (*replay_exec_fn)(void *store, const char *sql, char *err, size_t errlen);

/* Creates t (k has no columns) or adds the columns k lacks, with exec, and remembers them.
 * Returns how many columns were added to an existing table, or -1 + err. */
int known_ensure(known_table *k, const replay_table *t, const replay_dialect *d,
                 replay_exec_fn exec, void *store, char *err, size_t errlen);

/* INSERT ... ON CONFLICT ("_key") DO UPDATE of t's columns, parameters $1 (the key), $2... */
void replay_upsert_sql(const replay_table *t, buf *sql);

#endif
