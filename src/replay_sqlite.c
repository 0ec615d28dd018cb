/* replay_sqlite.c — the SQLite replay store (sqlite:PATH): one file, WAL journal, prepared
 * statements per table and writer schema. Timestamps are ISO-8601 text, dates YYYY-MM-DD,
 * booleans 0/1, JSON as text. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "replay_columns.h"
#include "replay_store.h"
#include "util.h"

typedef struct stmt_entry {
    const void *id; /* the replay_table's cols (stable for the store's life) or a table name */
    char *table;
    sqlite3_stmt *stmt;
    struct stmt_entry *next;
} stmt_entry;

typedef struct sqlite_store {
    replay_store base;
    sqlite3 *db;
    char *path;
    stmt_entry *stmts;
    known_table *known; /* columns as of this transaction; dropped on rollback */
} sqlite_store;

static int fail(sqlite_store *s, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "sqlite %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return -1;
}

static int exec(sqlite_store *s, const char *sql, char *err, size_t errlen)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, sql, err, errlen);
    return 0;
}

static int sq_begin(replay_store *rs, char *err, size_t errlen)
{
    return exec((sqlite_store *)rs, "BEGIN IMMEDIATE", err, errlen);
}

static int sq_commit(replay_store *rs, char *err, size_t errlen)
{
    return exec((sqlite_store *)rs, "COMMIT", err, errlen);
}

static void sq_rollback(replay_store *rs)
{
    sqlite_store *s = (sqlite_store *)rs;
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    known_forget_all(&s->known); /* an ALTER TABLE may have been undone */
}

static const replay_dialect sqlite_dialect = {
    {"TEXT", "INTEGER", "REAL", "INTEGER", "TEXT", "TEXT", "TEXT"}, "ADD COLUMN"};

static int exec_sql(void *store, const char *sql, char *err, size_t errlen)
{
    return exec(store, sql, err, errlen);
}

static known_table *read_known(sqlite_store *s, const char *table, char *err, size_t errlen)
{
    known_table *k = known_find(s->known, table);
    if (k)
        return k;
    buf sql;
    buf_init(&sql);
    buf_printf(&sql, "PRAGMA table_info(\"%s\")", table);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql.data, -1, &st, NULL) != SQLITE_OK) {
        fail(s, sql.data, err, errlen);
        buf_free(&sql);
        return NULL;
    }
    buf_free(&sql);
    k = known_add(&s->known, table);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        known_remember(k, (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        fail(s, "PRAGMA table_info", err, errlen);
        return NULL;
    }
    return k;
}

static int sq_ensure_table(replay_store *rs, const replay_table *t, char *err, size_t errlen)
{
    sqlite_store *s = (sqlite_store *)rs;
    known_table *k = read_known(s, t->name, err, errlen);
    return k ? known_ensure(k, t, &sqlite_dialect, exec_sql, s, err, errlen) : -1;
}

static sqlite3_stmt *cached(sqlite_store *s, const void *id, const char *table, const buf *sql,
                            char *err, size_t errlen)
{
    for (stmt_entry *e = s->stmts; e; e = e->next)
        if (e->id == id && !strcmp(e->table, table))
            return e->stmt;
    if (!sql)
        return NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql->data, (int)sql->len, &st, NULL) != SQLITE_OK) {
        fail(s, "prepare", err, errlen);
        return NULL;
    }
    stmt_entry *e = xcalloc(1, sizeof(*e));
    e->id = id;
    e->table = xstrdup(table);
    e->stmt = st;
    e->next = s->stmts;
    s->stmts = e;
    return st;
}

static sqlite3_stmt *upsert_stmt(sqlite_store *s, const replay_table *t, char *err, size_t errlen)
{
    sqlite3_stmt *st = cached(s, t->cols, t->name, NULL, err, errlen);
    if (st)
        return st;
    buf sql;
    buf_init(&sql);
    replay_upsert_sql(t, &sql); /* $N parameters are numbered in order of appearance */
    st = cached(s, t->cols, t->name, &sql, err, errlen);
    buf_free(&sql);
    return st;
}

static int bind_value(sqlite3_stmt *st, int idx, col_type type, const replay_value *v)
{
    char text[32];
    if (v->is_null)
        return sqlite3_bind_null(st, idx);
    switch (type) {
    case COL_BIGINT:
    case COL_BOOL:
        return sqlite3_bind_int64(st, idx, v->i);
    case COL_DOUBLE:
        return sqlite3_bind_double(st, idx, v->d);
    case COL_TIMESTAMP:
        crm_time_format(v->i, text, sizeof(text));
        return sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
    case COL_DATE:
        crm_time_format(v->i * 86400000LL, text, sizeof(text));
        return sqlite3_bind_text(st, idx, text, 10, SQLITE_TRANSIENT);
    default:
        return sqlite3_bind_text(st, idx, v->s, (int)v->len, SQLITE_STATIC);
    }
}

static int sq_upsert(replay_store *rs, const replay_table *t, const char *key, size_t key_len,
                     const replay_value *vals, char *err, size_t errlen)
{
    sqlite_store *s = (sqlite_store *)rs;
    sqlite3_stmt *st = upsert_stmt(s, t, err, errlen);
    if (!st)
        return -1;
    int rc = sqlite3_bind_text(st, 1, key, (int)key_len, SQLITE_STATIC);
    for (size_t i = 0; i < t->n_cols && rc == SQLITE_OK; i++)
        rc = bind_value(st, (int)i + 2, t->cols[i].type, &vals[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "sqlite %s: upsert into %s: %s", s->path, t->name,
                 sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static int sq_remove(replay_store *rs, const char *table, const char *key, size_t key_len,
                     char *err, size_t errlen)
{
    sqlite_store *s = (sqlite_store *)rs;
    known_table *k = read_known(s, table, err, errlen);
    if (!k)
        return -1;
    if (k->n_cols == 0)
        return 0; /* nothing was ever written to it */
    sqlite3_stmt *st = cached(s, "delete", table, NULL, err, errlen);
    if (!st) {
        buf sql;
        buf_init(&sql);
        buf_printf(&sql, "DELETE FROM \"%s\" WHERE \"_key\" = ?", table);
        st = cached(s, "delete", table, &sql, err, errlen);
        buf_free(&sql);
        if (!st)
            return -1;
    }
    int rc = sqlite3_bind_text(st, 1, key, (int)key_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "sqlite %s: delete from %s: %s", s->path, table,
                 sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static int64_t sq_load_offset(replay_store *rs, const char *topic, int32_t partition, char *err,
                              size_t errlen)
{
    sqlite_store *s = (sqlite_store *)rs;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT next_offset FROM crmstream_offsets WHERE topic = ? AND "
                           "\"partition\" = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        fail(s, "read crmstream_offsets", err, errlen);
        return -2;
    }
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, partition);
    int rc = sqlite3_step(st);
    int64_t next = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        fail(s, "read crmstream_offsets", err, errlen);
        return -2;
    }
    return next;
}

static int sq_save_offset(replay_store *rs, const char *topic, int32_t partition, int64_t expected,
                          int64_t next, char *err, size_t errlen)
{
    sqlite_store *s = (sqlite_store *)rs;
    const char *sql = expected < 0 ? "INSERT INTO crmstream_offsets (next_offset, topic, "
                                     "\"partition\") VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
                                   : "UPDATE crmstream_offsets SET next_offset = ? WHERE topic = "
                                     "? AND \"partition\" = ? AND next_offset = ?";
    sqlite3_stmt *st = cached(s, sql, "crmstream_offsets", NULL, err, errlen);
    if (!st) {
        buf b;
        buf_init(&b);
        buf_append_str(&b, sql);
        st = cached(s, sql, "crmstream_offsets", &b, err, errlen);
        buf_free(&b);
        if (!st)
            return -1;
    }
    sqlite3_bind_int64(st, 1, next);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    if (expected >= 0)
        sqlite3_bind_int64(st, 4, expected);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fail(s, "write crmstream_offsets", err, errlen);
    return sqlite3_changes(s->db) == 1 ? 0 : 1;
}

static void sq_close(replay_store *rs)
{
    sqlite_store *s = (sqlite_store *)rs;
    if (!s)
        return;
    for (stmt_entry *e = s->stmts, *n; e; e = n) {
        n = e->next;
        sqlite3_finalize(e->stmt);
        free(e->table);
        free(e);
    }
    known_forget_all(&s->known);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

static const replay_store_ops sqlite_ops = {sq_begin,        sq_commit,      sq_rollback,
                                            sq_ensure_table, sq_upsert,      sq_remove,
                                            sq_load_offset,  sq_save_offset, sq_close};

replay_store *replay_sqlite_open(const char *path, char *err, size_t errlen)
{
    sqlite_store *s = xcalloc(1, sizeof(*s));
    s->base.ops = &sqlite_ops;
    s->path = xstrdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        fail(s, "open", err, errlen);
        sq_close(&s->base);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 30000);
    if (exec(s, "PRAGMA journal_mode=WAL", err, errlen) ||
        exec(s, "PRAGMA synchronous=NORMAL", err, errlen) ||
        exec(s,
             "CREATE TABLE IF NOT EXISTS crmstream_offsets (topic TEXT NOT NULL, \"partition\" "
             "INTEGER NOT NULL, next_offset INTEGER NOT NULL, PRIMARY KEY (topic, \"partition\"))",
             err, errlen)) {
        sq_close(&s->base);
        return NULL;
    }
    return &s->base;
}
