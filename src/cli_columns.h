/* cli_columns.h — aligned text columns for the operator commands' tables (`tables`, `state`,
 * `check`): rows are collected first, then printed with each column as wide as its widest cell,
 * so nothing is cut and nothing drifts. */
#ifndef CRM_CLI_COLUMNS_H
#define CRM_CLI_COLUMNS_H

#include <stdio.h>

typedef struct cli_columns cli_columns;

/* headers: n_cols column titles. */
cli_columns *cli_columns_new(int n_cols, const char *const *headers);
void cli_columns_free(cli_columns *t);
/* Adds a row of n_cols cells (copied; NULL prints "-"). */
void cli_columns_add(cli_columns *t, const char *const *cells);
/* Sorts the rows by their first cell (then the second, ...). */
void cli_columns_sort(cli_columns *t);
size_t cli_columns_rows(const cli_columns *t);
/* Prints the header and the rows, columns separated by two spaces; the last column is not
 * padded. */
void cli_columns_print(const cli_columns *t, FILE *f);

/* An age or a lag in milliseconds, two units at most: "45s", "12m30s", "5h12m", "3d4h"; "-" when
 * negative (unknown). */
void cli_format_age(long long ms, char *out, size_t outlen);

/* Seconds as the largest whole unit: "0", "90s", "5m", "24h", "36h", "7d" (days from two on). */
void cli_format_duration(long long seconds, char *out, size_t outlen);

#endif
