/* replay_store.h — what `crmstream replay` needs from a database, whatever it is: tables with
 * typed columns that only grow, upserts and deletes by record key, and the consumed offsets
 * (crmstream_offsets) written in the same transaction as the rows. Backends: replay_sqlite.c
 * (sqlite:PATH) and replay_pg.c (postgresql://...). */
#ifndef CRM_REPLAY_STORE_H
#define CRM_REPLAY_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    COL_TEXT = 0,
    COL_BIGINT,
    COL_DOUBLE,
    COL_BOOL,
    COL_TIMESTAMP, /* epoch milliseconds: timestamptz / ISO-8601 text */
    COL_DATE,      /* days since the epoch: date / YYYY-MM-DD text */
    COL_JSON,      /* JSON text: jsonb / text */
} col_type;

const char *col_type_name(col_type t);

typedef struct replay_column {
    char *name;
    col_type type;
} replay_column;

/* One value of a row. Text (TEXT, JSON) points into the row's arena. */
typedef struct replay_value {
    int is_null;
    int64_t i; /* BIGINT, BOOL, TIMESTAMP (ms), DATE (days) */
    double d;
    const char *s;
    size_t len;
} replay_value;

/* A table as one writer schema sees it: the key column "_key" is implicit and first. */
typedef struct replay_table {
    const char *name; /* SQL name, already safe ([a-z0-9_]) */
    const replay_column *cols;
    size_t n_cols;
} replay_table;

typedef struct replay_store replay_store;

typedef struct replay_store_ops {
    int (*begin)(replay_store *s, char *err, size_t errlen);
    int (*commit)(replay_store *s, char *err, size_t errlen);
    void (*rollback)(replay_store *s);
    /* Creates the table or adds the columns it lacks (inside the open transaction). Returns
     * how many columns were added to an existing table, or -1 + err. */
    int (*ensure_table)(replay_store *s, const replay_table *t, char *err, size_t errlen);
    /* Upserts key with the table's columns (vals[i] for t->cols[i]). */
    int (*upsert)(replay_store *s, const replay_table *t, const char *key, size_t key_len,
                  const replay_value *vals, char *err, size_t errlen);
    int (*remove)(replay_store *s, const char *table, const char *key, size_t key_len, char *err,
                  size_t errlen);
    /* The next offset stored for topic/partition, -1 when none. -2 + err on failure. */
    int64_t (*load_offset)(replay_store *s, const char *topic, int32_t partition, char *err,
                           size_t errlen);
    /* Moves the stored next offset from `expected` (-1: no row yet) to `next`. Returns 0, 1 when
     * the stored offset was not `expected` (another process moved it: roll back), -1 + err. */
    int (*save_offset)(replay_store *s, const char *topic, int32_t partition, int64_t expected,
                       int64_t next, char *err, size_t errlen);
    void (*close)(replay_store *s);
} replay_store_ops;

struct replay_store {
    const replay_store_ops *ops;
};

/* Opens the store named by url: "sqlite:PATH", "postgresql://..." / "postgres://...", or a
 * bare path (SQLite). password_env: the variable holding the PostgreSQL password (NULL: libpq's
 * PGPASSWORD). NULL + err (never containing a password) on failure. */
replay_store *replay_store_open(const char *url, const char *password_env, char *err,
                                size_t errlen);
replay_store *replay_sqlite_open(const char *path, char *err, size_t errlen);
replay_store *replay_pg_open(const char *url, const char *password_env, char *err, size_t errlen);

/* The url without its password (for messages). */
void replay_store_redact(const char *url, char *out, size_t outlen);

#endif
