/* main.c — the crmstream command line: run, check, tables, state. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "engine.h"
#include "log.h"

static void on_signal(int sig)
{
    (void)sig;
    engine_stop_requested = 1;
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int usage(FILE *f)
{
    fputs("usage: crmstream COMMAND -c FILE [options]\n"
          "commands:\n"
          "  run -c FILE [--once]   poll every enabled table and publish change events\n"
          "                         (--once: one pass of every table, then exit)\n"
          "  check -c FILE          validate config, reach Kafka, test each source's credentials\n"
          "  tables -c FILE         list tables per source: method, keys, lookback, topic\n"
          "  state -c FILE          print the bookmarks stored in the state topic\n"
          "  peek -c FILE TABLE [N] decode and print the last N (default 5) events of a table\n"
          "                         (TABLE or SOURCE.TABLE)\n"
          "exit codes: 0 ok, 1 runtime error, 2 config error, 3 Kafka error, 4 fenced by another\n"
          "            instance, 5 credentials rejected\n",
          f);
    return f == stdout ? 0 : EXIT_CONFIG;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
        return usage(stdout);
    const char *path = NULL;
    int once = 0;
    const char *positional[2] = {NULL, NULL};
    int n_positional = 0;
    for (int i = 2; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--once") == 0)
            once = 1;
        else if (argv[i][0] != '-' && n_positional < 2)
            positional[n_positional++] = argv[i];
        else {
            fprintf(stderr, "crmstream: unknown argument \"%s\"\n", argv[i]);
            return usage(stderr);
        }
    }
    if (!path) {
        fprintf(stderr, "crmstream: -c FILE is required\n");
        return usage(stderr);
    }
    char err[1024];
    crm_config *cfg = config_load(path, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "crmstream: %s\n", err);
        return EXIT_CONFIG;
    }
    log_set_level(cfg->log_level);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "crmstream: curl_global_init failed\n");
        config_free(cfg);
        return EXIT_RUNTIME;
    }
    install_signal_handlers();
    int code;
    if (strcmp(cmd, "run") == 0) {
        engine_options opts = {once};
        code = engine_run(cfg, &opts);
    } else if (strcmp(cmd, "check") == 0) {
        code = cli_check(cfg);
    } else if (strcmp(cmd, "tables") == 0) {
        code = cli_tables(cfg);
    } else if (strcmp(cmd, "state") == 0) {
        code = cli_state(cfg);
    } else if (strcmp(cmd, "peek") == 0 && positional[0]) {
        code = cli_peek(cfg, positional[0], positional[1] ? atol(positional[1]) : 5);
    } else {
        fprintf(stderr, "crmstream: unknown command \"%s\"\n", cmd);
        code = usage(stderr);
    }
    config_free(cfg);
    curl_global_cleanup();
    return code;
}
