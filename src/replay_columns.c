/* replay_columns.c — the replay stores' tables: known columns and their SQL (replay_columns.h). */
#include "replay_columns.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

known_table *known_find(known_table *list, const char *table)
{
    for (known_table *k = list; k; k = k->next)
        if (!strcmp(k->name, table))
            return k;
    return NULL;
}

known_table *known_add(known_table **list, const char *table)
{
    known_table *k = xcalloc(1, sizeof(*k));
    k->name = xstrdup(table);
    k->next = *list;
    *list = k;
    return k;
}

void known_remember(known_table *k, const char *col)
{
    k->cols = xrealloc(k->cols, (k->n_cols + 1) * sizeof(char *));
    k->cols[k->n_cols++] = xstrdup(col);
}

int known_has(const known_table *k, const char *col)
{
    for (size_t i = 0; i < k->n_cols; i++)
        if (!strcmp(k->cols[i], col))
            return 1;
    return 0;
}

void known_forget_all(known_table **list)
{
    for (known_table *k = *list, *n; k; k = n) {
        n = k->next;
        for (size_t i = 0; i < k->n_cols; i++)
            free(k->cols[i]);
        free(k->cols);
        free(k->name);
        free(k);
    }
    *list = NULL;
}

int known_ensure(known_table *k, const replay_table *t, const replay_dialect *d,
                 replay_exec_fn exec, void *store, char *err, size_t errlen)
{
    int fresh = k->n_cols == 0;
    buf sql;
    buf_init(&sql);
    int rc = 0, added = 0;
    if (fresh) {
        /* IF NOT EXISTS: another process may have created it since it was read; if with fewer
         * columns, the upsert fails, the transaction is retried and the columns read again */
        buf_printf(&sql, "CREATE TABLE IF NOT EXISTS \"%s\" (\"_key\" %s PRIMARY KEY NOT NULL",
                   t->name, d->types[COL_TEXT]);
        for (size_t i = 0; i < t->n_cols; i++)
            buf_printf(&sql, ", \"%s\" %s", t->cols[i].name, d->types[t->cols[i].type]);
        buf_append_str(&sql, ")");
        rc = exec(store, sql.data, err, errlen);
        if (rc == 0)
            known_remember(k, "_key");
        for (size_t i = 0; i < t->n_cols && rc == 0; i++)
            known_remember(k, t->cols[i].name);
    }
    for (size_t i = 0; i < t->n_cols && rc == 0 && !fresh; i++) {
        if (known_has(k, t->cols[i].name))
            continue;
        buf_reset(&sql);
        buf_printf(&sql, "ALTER TABLE \"%s\" %s \"%s\" %s", t->name, d->add_column, t->cols[i].name,
                   d->types[t->cols[i].type]);
        rc = exec(store, sql.data, err, errlen);
        if (rc == 0) {
            known_remember(k, t->cols[i].name);
            added++;
        }
    }
    buf_free(&sql);
    return rc ? -1 : added;
}

void replay_upsert_sql(const replay_table *t, buf *sql)
{
    buf_printf(sql, "INSERT INTO \"%s\" (\"_key\"", t->name);
    for (size_t i = 0; i < t->n_cols; i++)
        buf_printf(sql, ", \"%s\"", t->cols[i].name);
    buf_append_str(sql, ") VALUES ($1");
    for (size_t i = 0; i < t->n_cols; i++)
        buf_printf(sql, ", $%zu", i + 2);
    buf_append_str(sql, ") ON CONFLICT (\"_key\") DO ");
    buf_append_str(sql, t->n_cols ? "UPDATE SET " : "NOTHING");
    for (size_t i = 0; i < t->n_cols; i++)
        buf_printf(sql, "%s\"%s\" = excluded.\"%s\"", i ? ", " : "", t->cols[i].name,
                   t->cols[i].name);
}
