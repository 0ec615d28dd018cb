/* replay_pg.c — the PostgreSQL replay store (postgresql://...): libpq, prepared statements
 * per table and writer schema, native types (timestamptz, date, double precision, boolean,
 * jsonb). The password comes from an environment variable, never from the URL or a log. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "replay_columns.h"
#include "replay_store.h"
#include "util.h"

typedef struct pg_stmt {
    const void *id; /* the replay_table's cols, or a constant for deletes/offsets */
    char *table;
    char name[24];
    struct pg_stmt *next;
} pg_stmt;

typedef struct pg_store {
    replay_store base;
    PGconn *conn;
    char url[512]; /* redacted */
    pg_stmt *stmts;
    int n_stmts;
    known_table *known; /* columns as of this transaction; dropped on rollback */
    int pipelined;      /* in libpq pipeline mode: upserts and deletes are sent without waiting */
    int in_flight;      /* statements sent since the last sync */
    char (*scratch)[32];
    size_t n_scratch;
    const char **params;
    int *lengths;
} pg_store;

/* libpq's message on one line. */
static void pg_message(PGconn *c, const PGresult *r, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    char *w = out;
    for (const char *p = out; *p; p++) /* newlines and tabs to single spaces */
        if ((*p != '\n' && *p != '\t') || (w > out && w[-1] != ' ' && p[1]))
            *w++ = (*p == '\n' || *p == '\t') ? ' ' : *p;
    *w = '\0';
}

static int check(pg_store *s, PGresult *r, ExecStatusType want, const char *what, char *err,
                 size_t errlen)
{
    if (r && PQresultStatus(r) == want)
        return 0;
    char msg[512];
    pg_message(s->conn, r, msg, sizeof(msg));
    snprintf(err, errlen, "postgresql %s: %s: %s", s->url, what, msg);
    return -1;
}

static int synchronous(pg_store *s, char *err, size_t errlen);

static int exec(pg_store *s, const char *sql, char *err, size_t errlen)
{
    if (synchronous(s, err, errlen))
        return -1;
    PGresult *r = PQexec(s->conn, sql);
    int rc = check(s, r, PGRES_COMMAND_OK, sql, err, errlen);
    PQclear(r);
    return rc;
}

/* Rows are sent in pipeline mode (no round trip per row) and their results read every
 * PIPELINE_DEPTH statements; anything that needs an answer (DDL, offsets, commit) first reads
 * every pending result and leaves pipeline mode. */
#define PIPELINE_DEPTH 500

static int drain(pg_store *s, char *err, size_t errlen)
{
    if (!s->pipelined)
        return 0;
    int rc = 0;
    if (!PQpipelineSync(s->conn)) {
        snprintf(err, errlen, "postgresql %s: pipeline sync failed", s->url);
        rc = -1;
    }
    for (;;) {
        PGresult *r = PQgetResult(s->conn);
        if (!r) {
            if (PQstatus(s->conn) != CONNECTION_OK) {
                char msg[512];
                pg_message(s->conn, NULL, msg, sizeof(msg));
                snprintf(err, errlen, "postgresql %s: %s", s->url, msg);
                rc = -1;
                break;
            }
            continue; /* the end of one statement's results */
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0) {
            char msg[512];
            pg_message(s->conn, st == PGRES_PIPELINE_ABORTED ? NULL : r, msg, sizeof(msg));
            snprintf(err, errlen, "postgresql %s: %s", s->url, msg);
            rc = -1;
        }
        PQclear(r);
    }
    s->in_flight = 0;
    return rc;
}

/* Leaves pipeline mode after reading every pending result. */
static int synchronous(pg_store *s, char *err, size_t errlen)
{
    if (!s->pipelined)
        return 0;
    int rc = drain(s, err, errlen);
    if (!PQexitPipelineMode(s->conn) && rc == 0) {
        snprintf(err, errlen, "postgresql %s: cannot leave pipeline mode", s->url);
        rc = -1;
    }
    s->pipelined = 0;
    return rc;
}

static int pipelined(pg_store *s, char *err, size_t errlen)
{
    if (s->pipelined)
        return s->in_flight >= PIPELINE_DEPTH ? drain(s, err, errlen) : 0;
    if (!PQenterPipelineMode(s->conn)) {
        snprintf(err, errlen, "postgresql %s: cannot enter pipeline mode", s->url);
        return -1;
    }
    s->pipelined = 1;
    return 0;
}

static int pg_begin(replay_store *rs, char *err, size_t errlen)
{
    return exec((pg_store *)rs, "BEGIN", err, errlen);
}

static int pg_commit(replay_store *rs, char *err, size_t errlen)
{
    return exec((pg_store *)rs, "COMMIT", err, errlen);
}

static void pg_rollback(replay_store *rs)
{
    pg_store *s = (pg_store *)rs;
    char err[1024];
    synchronous(s, err, sizeof(err)); /* the failure being rolled back was reported already */
    PQclear(PQexec(s->conn, "ROLLBACK"));
    known_forget_all(&s->known);
}

static const replay_dialect pg_dialect = {
    {"text", "bigint", "double precision", "boolean", "timestamptz", "date", "jsonb"},
    "ADD COLUMN IF NOT EXISTS"};

static int exec_sql(void *store, const char *sql, char *err, size_t errlen)
{
    return exec(store, sql, err, errlen);
}

static known_table *read_known(pg_store *s, const char *table, char *err, size_t errlen)
{
    known_table *k = known_find(s->known, table);
    if (k)
        return k;
    const char *params[1] = {table};
    if (synchronous(s, err, errlen))
        return NULL;
    PGresult *r = PQexecParams(s->conn,
                               "SELECT column_name FROM information_schema.columns WHERE "
                               "table_schema = current_schema() AND table_name = $1",
                               1, NULL, params, NULL, NULL, 0);
    if (check(s, r, PGRES_TUPLES_OK, "read columns", err, errlen)) {
        PQclear(r);
        return NULL;
    }
    k = known_add(&s->known, table);
    for (int i = 0; i < PQntuples(r); i++)
        known_remember(k, PQgetvalue(r, i, 0));
    PQclear(r);
    return k;
}

static int pg_ensure_table(replay_store *rs, const replay_table *t, char *err, size_t errlen)
{
    pg_store *s = (pg_store *)rs;
    known_table *k = read_known(s, t->name, err, errlen);
    return k ? known_ensure(k, t, &pg_dialect, exec_sql, s, err, errlen) : -1;
}

/* The prepared statement for (id, table), prepared from sql when new (sql NULL: lookup only). */
static const char *prepared(pg_store *s, const void *id, const char *table, const buf *sql,
                            int n_params, char *err, size_t errlen)
{
    for (pg_stmt *e = s->stmts; e; e = e->next)
        if (e->id == id && !strcmp(e->table, table))
            return e->name;
    if (!sql)
        return NULL;
    if (synchronous(s, err, errlen))
        return NULL;
    pg_stmt *e = xcalloc(1, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "crm%d", ++s->n_stmts);
    PGresult *r = PQprepare(s->conn, e->name, sql->data, n_params, NULL);
    if (check(s, r, PGRES_COMMAND_OK, "prepare", err, errlen)) {
        PQclear(r);
        free(e);
        return NULL;
    }
    PQclear(r);
    e->id = id;
    e->table = xstrdup(table);
    e->next = s->stmts;
    s->stmts = e;
    return e->name;
}

static const char *upsert_stmt(pg_store *s, const replay_table *t, char *err, size_t errlen)
{
    const char *name = prepared(s, t->cols, t->name, NULL, 0, err, errlen);
    if (name)
        return name;
    buf sql;
    buf_init(&sql);
    replay_upsert_sql(t, &sql);
    name = prepared(s, t->cols, t->name, &sql, (int)t->n_cols + 1, err, errlen);
    buf_free(&sql);
    return name;
}

static void ensure_scratch(pg_store *s, size_t n)
{
    if (n <= s->n_scratch)
        return;
    s->scratch = xrealloc(s->scratch, n * sizeof(*s->scratch));
    s->params = xrealloc(s->params, n * sizeof(*s->params));
    s->lengths = xrealloc(s->lengths, n * sizeof(*s->lengths));
    s->n_scratch = n;
}

/* The text form of a value (NULL for SQL null). */
static const char *param_text(pg_store *s, size_t slot, col_type type, const replay_value *v)
{
    char *t = s->scratch[slot];
    if (v->is_null)
        return NULL;
    switch (type) {
    case COL_BIGINT:
        snprintf(t, 32, "%lld", (long long)v->i);
        return t;
    case COL_BOOL:
        return v->i ? "t" : "f";
    case COL_DOUBLE:
        snprintf(t, 32, "%.17g", v->d);
        return t;
    case COL_TIMESTAMP:
        crm_time_format(v->i, t, 32);
        return t;
    case COL_DATE:
        crm_time_format(v->i * 86400000LL, t, 32);
        t[10] = '\0';
        return t;
    default:
        return v->s;
    }
}

/* Runs a prepared statement: pipelined when no answer is needed (affected NULL). */
static int run_prepared(pg_store *s, const char *name, int n, const char *what, char *err,
                        size_t errlen, long *affected)
{
    if (!affected) {
        if (pipelined(s, err, errlen))
            return -1;
        if (!PQsendQueryPrepared(s->conn, name, n, s->params, NULL, NULL, 0)) {
            char msg[512];
            pg_message(s->conn, NULL, msg, sizeof(msg));
            snprintf(err, errlen, "postgresql %s: %s: %s", s->url, what, msg);
            return -1;
        }
        s->in_flight++;
        return 0;
    }
    if (synchronous(s, err, errlen))
        return -1;
    PGresult *r = PQexecPrepared(s->conn, name, n, s->params, NULL, NULL, 0);
    int rc = check(s, r, PGRES_COMMAND_OK, what, err, errlen);
    if (rc == 0 && affected)
        *affected = atol(PQcmdTuples(r));
    PQclear(r);
    return rc;
}

static int pg_upsert(replay_store *rs, const replay_table *t, const char *key, size_t key_len,
                     const replay_value *vals, char *err, size_t errlen)
{
    pg_store *s = (pg_store *)rs;
    (void)key_len; /* keys are text without NULs */
    const char *name = upsert_stmt(s, t, err, errlen);
    if (!name)
        return -1;
    ensure_scratch(s, t->n_cols + 1);
    s->params[0] = key;
    for (size_t i = 0; i < t->n_cols; i++)
        s->params[i + 1] = param_text(s, i + 1, t->cols[i].type, &vals[i]);
    char what[300];
    snprintf(what, sizeof(what), "upsert into %s", t->name);
    return run_prepared(s, name, (int)t->n_cols + 1, what, err, errlen, NULL);
}

static int pg_remove(replay_store *rs, const char *table, const char *key, size_t key_len,
                     char *err, size_t errlen)
{
    pg_store *s = (pg_store *)rs;
    known_table *k = read_known(s, table, err, errlen);
    if (!k)
        return -1;
    if (k->n_cols == 0)
        return 0; /* nothing was ever written to it */
    (void)key_len;
    const char *name = prepared(s, "delete", table, NULL, 0, err, errlen);
    if (!name) {
        buf sql;
        buf_init(&sql);
        buf_printf(&sql, "DELETE FROM \"%s\" WHERE \"_key\" = $1", table);
        name = prepared(s, "delete", table, &sql, 1, err, errlen);
        buf_free(&sql);
        if (!name)
            return -1;
    }
    ensure_scratch(s, 1);
    s->params[0] = key;
    char what[300];
    snprintf(what, sizeof(what), "delete from %s", table);
    return run_prepared(s, name, 1, what, err, errlen, NULL);
}

static int64_t pg_load_offset(replay_store *rs, const char *topic, int32_t partition, char *err,
                              size_t errlen)
{
    pg_store *s = (pg_store *)rs;
    char part[16];
    snprintf(part, sizeof(part), "%d", partition);
    const char *params[2] = {topic, part};
    if (synchronous(s, err, errlen))
        return -2;
    PGresult *r = PQexecParams(s->conn,
                               "SELECT next_offset FROM crmstream_offsets WHERE topic = $1 AND "
                               "\"partition\" = $2",
                               2, NULL, params, NULL, NULL, 0);
    if (check(s, r, PGRES_TUPLES_OK, "read crmstream_offsets", err, errlen)) {
        PQclear(r);
        return -2;
    }
    int64_t next = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return next;
}

static int pg_save_offset(replay_store *rs, const char *topic, int32_t partition, int64_t expected,
                          int64_t next, char *err, size_t errlen)
{
    pg_store *s = (pg_store *)rs;
    static const char insert_sql[] = "INSERT INTO crmstream_offsets (next_offset, topic, "
                                     "\"partition\") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
    static const char update_sql[] = "UPDATE crmstream_offsets SET next_offset = $1 WHERE topic = "
                                     "$2 AND \"partition\" = $3 AND next_offset = $4";
    const char *sql = expected < 0 ? insert_sql : update_sql;
    int n = expected < 0 ? 3 : 4;
    const char *name = prepared(s, sql, "crmstream_offsets", NULL, 0, err, errlen);
    if (!name) {
        buf b;
        buf_init(&b);
        buf_append_str(&b, sql);
        name = prepared(s, sql, "crmstream_offsets", &b, n, err, errlen);
        buf_free(&b);
        if (!name)
            return -1;
    }
    ensure_scratch(s, 4);
    snprintf(s->scratch[0], 32, "%lld", (long long)next);
    snprintf(s->scratch[2], 32, "%d", partition);
    snprintf(s->scratch[3], 32, "%lld", (long long)expected);
    s->params[0] = s->scratch[0];
    s->params[1] = topic;
    s->params[2] = s->scratch[2];
    s->params[3] = s->scratch[3];
    long affected = 0;
    if (run_prepared(s, name, n, "write crmstream_offsets", err, errlen, &affected))
        return -1;
    return affected == 1 ? 0 : 1;
}

static void pg_close(replay_store *rs)
{
    pg_store *s = (pg_store *)rs;
    if (!s)
        return;
    for (pg_stmt *e = s->stmts, *n; e; e = n) {
        n = e->next;
        free(e->table);
        free(e);
    }
    known_forget_all(&s->known);
    if (s->conn)
        PQfinish(s->conn);
    free(s->scratch);
    free(s->params);
    free(s->lengths);
    free(s);
}

static const replay_store_ops pg_ops = {pg_begin,        pg_commit,      pg_rollback,
                                        pg_ensure_table, pg_upsert,      pg_remove,
                                        pg_load_offset,  pg_save_offset, pg_close};

replay_store *replay_pg_open(const char *url, const char *password_env, char *err, size_t errlen)
{
    pg_store *s = xcalloc(1, sizeof(*s));
    s->base.ops = &pg_ops;
    replay_store_redact(url, s->url, sizeof(s->url));
    const char *password = password_env ? getenv(password_env) : NULL;
    if (password_env && !password) {
        snprintf(err, errlen, "postgresql %s: environment variable %s (password_env) is not set",
                 s->url, password_env);
        free(s);
        return NULL;
    }
    const char *keys[] = {"dbname", "password", "application_name", NULL};
    const char *vals[] = {url, password, "crmstream-replay", NULL};
    if (!password) { /* libpq then reads PGPASSWORD / .pgpass itself */
        keys[1] = "application_name";
        vals[1] = "crmstream-replay";
        keys[2] = NULL;
    }
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        char msg[512];
        pg_message(s->conn, NULL, msg, sizeof(msg));
        snprintf(err, errlen, "postgresql %s: cannot connect: %s", s->url, msg);
        pg_close(&s->base);
        return NULL;
    }
    PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
    /* two processes starting at once may race to create it: the loser's second try sees it */
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc; attempt++)
        rc =
            exec(s,
                 "CREATE TABLE IF NOT EXISTS crmstream_offsets (topic text NOT NULL, \"partition\" "
                 "integer NOT NULL, next_offset bigint NOT NULL, PRIMARY KEY (topic, "
                 "\"partition\"))",
                 err, errlen);
    if (rc) {
        pg_close(&s->base);
        return NULL;
    }
    return &s->base;
}
