/* test_cli_columns.c — the operator commands' text tables: columns aligned to their widest
 * cell, rows sorted, durations with their unit; and the config loaded without CRM secrets for
 * commands that never talk to a CRM (`tables`, `state`, `peek`). */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "cli_columns.h"
#include "config.h"

static char *render(const cli_columns *t)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_columns_print(t, f);
    fclose(f);
    return text;
}

static void test_alignment_and_sort(void)
{
    static const char *const headers[] = {"SOURCE/TABLE", "BOOKMARK", "KEYS"};
    cli_columns *t = cli_columns_new(3, headers);
    const char *r1[] = {"pipedrive/deal_products", "2026-01-01T00:00:00.000Z", "12"};
    const char *r2[] = {"close/leads", NULL, "3"};
    cli_columns_add(t, r1);
    cli_columns_add(t, r2);
    CHECK(cli_columns_rows(t) == 2);
    cli_columns_sort(t);
    char *text = render(t);
    CHECK_STR(text, "SOURCE/TABLE             BOOKMARK                  KEYS\n"
                    "close/leads              -                         3\n"
                    "pipedrive/deal_products  2026-01-01T00:00:00.000Z  12\n");
    free(text);
    cli_columns_free(t);
}

static void test_durations(void)
{
    char out[32];
    cli_format_duration(0, out, sizeof(out));
    CHECK_STR(out, "0");
    cli_format_duration(90, out, sizeof(out));
    CHECK_STR(out, "90s");
    cli_format_duration(300, out, sizeof(out));
    CHECK_STR(out, "5m");
    cli_format_duration(86400, out, sizeof(out));
    CHECK_STR(out, "24h");
    cli_format_duration(3 * 3600 + 60, out, sizeof(out));
    CHECK_STR(out, "181m");
    cli_format_duration(7 * 86400, out, sizeof(out));
    CHECK_STR(out, "7d");
}

static void test_config_without_crm_secrets(void)
{
    char path[64], err[1024] = "";
    snprintf(path, sizeof(path), "/tmp/crmstream-cols-%d.cfg", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
          "sources = ( { type = \"testcrm\"; name = \"s1\";\n"
          "  options = { token_env = \"CRMSTREAM_COLS_UNSET\"; }; },\n"
          "  { type = \"close\"; name = \"c1\"; } );\n",
          f);
    fclose(f);
    unsetenv("CRMSTREAM_COLS_UNSET");
    unsetenv("CLOSE_API_KEY");
    crm_config *c = config_load(path, err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, "CRMSTREAM_COLS_UNSET is not set");
    config_free(c);
    c = config_load_without_crm_secrets(path, err, sizeof(err));
    CHECK(c != NULL);
    CHECK(c && c->n_sources == 2);
    config_free(c);
    unlink(path);
}

int main(void)
{
    test_alignment_and_sort();
    test_durations();
    test_config_without_crm_secrets();
    return check_summary("cli_columns");
}
