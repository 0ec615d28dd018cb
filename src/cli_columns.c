/* cli_columns.c — aligned text columns for the operator commands (see cli_columns.h). */
#include "cli_columns.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct cli_columns {
    int n_cols;
    char **cells; /* row-major; row 0 is the header */
    size_t n_rows;
};

static void append_row(cli_columns *t, const char *const *cells)
{
    t->cells = xrealloc(t->cells, (t->n_rows + 1) * (size_t)t->n_cols * sizeof(char *));
    for (int c = 0; c < t->n_cols; c++)
        t->cells[t->n_rows * (size_t)t->n_cols + (size_t)c] = xstrdup(cells[c] ? cells[c] : "-");
    t->n_rows++;
}

cli_columns *cli_columns_new(int n_cols, const char *const *headers)
{
    cli_columns *t = xcalloc(1, sizeof(*t));
    t->n_cols = n_cols;
    append_row(t, headers);
    return t;
}

void cli_columns_free(cli_columns *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_rows * (size_t)t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void cli_columns_add(cli_columns *t, const char *const *cells)
{
    append_row(t, cells);
}

size_t cli_columns_rows(const cli_columns *t)
{
    return t->n_rows - 1;
}

static int sort_cols; /* qsort has no context argument in C11 */

static int compare_rows(const void *a, const void *b)
{
    char *const *ra = a, *const *rb = b;
    for (int c = 0; c < sort_cols; c++) {
        int d = strcmp(ra[c], rb[c]);
        if (d)
            return d;
    }
    return 0;
}

void cli_columns_sort(cli_columns *t)
{
    if (t->n_rows < 3)
        return;
    /* rows are arrays of n_cols pointers: sort them as fixed-size elements */
    sort_cols = t->n_cols;
    qsort(t->cells + t->n_cols, t->n_rows - 1, (size_t)t->n_cols * sizeof(char *), compare_rows);
}

void cli_columns_print(const cli_columns *t, FILE *f)
{
    size_t *width = xcalloc((size_t)t->n_cols, sizeof(size_t));
    for (size_t r = 0; r < t->n_rows; r++)
        for (int c = 0; c < t->n_cols; c++) {
            size_t len = strlen(t->cells[r * (size_t)t->n_cols + (size_t)c]);
            if (len > width[c])
                width[c] = len;
        }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            const char *cell = t->cells[r * (size_t)t->n_cols + (size_t)c];
            if (c == t->n_cols - 1)
                fprintf(f, "%s\n", cell);
            else
                fprintf(f, "%-*s  ", (int)width[c], cell);
        }
    }
    free(width);
}

void cli_format_duration(long long seconds, char *out, size_t outlen)
{
    static const struct {
        long long secs;
        char unit;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
    /* a day reads as 24h, as configs usually write it; whole days from two on */
    if (seconds <= 0) {
        snprintf(out, outlen, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (seconds % units[i].secs == 0 && (units[i].unit != 'd' || seconds >= 2 * 86400)) {
            snprintf(out, outlen, "%lld%c", seconds / units[i].secs, units[i].unit);
            return;
        }
    snprintf(out, outlen, "%llds", seconds);
}

void cli_format_age(long long ms, char *out, size_t outlen)
{
    if (ms < 0) {
        snprintf(out, outlen, "-");
        return;
    }
    long long s = ms / 1000;
    if (s < 60)
        snprintf(out, outlen, "%llds", s);
    else if (s < 3600)
        snprintf(out, outlen, "%lldm%llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, outlen, "%lldh%lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, outlen, "%lldd%lldh", s / 86400, s % 86400 / 3600);
}
