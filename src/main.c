/* main.c — the crmstream command line: run, check, tables, state. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocator.h"
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "ops_server.h"
#include "util.h"

/* Set by the signal handler and read by other threads: flag_set/flag_is_set (util.h). */
static volatile int reload_requested;
static volatile int terminate_requested;
static volatile int run_finished; /* ends the watchdog when the run ends by itself */

static void on_signal(int sig)
{
    int saved_errno = errno; /* the interrupted code may be about to read it */
    if (sig == SIGHUP)
        flag_set(&reload_requested, 1);
    else
        flag_set(&terminate_requested, 1);
    flag_set(&engine_stop_requested, 1);
    errno = saved_errno;
}

/* SIGTERM must end the process within shutdown_grace even if Kafka is unreachable: nothing is
 * lost by exiting then, because state never runs ahead of acknowledged data and an open
 * transaction is aborted when the next instance starts. */
static void *shutdown_watchdog(void *arg)
{
    const int *grace_s = arg;
    while (!flag_is_set(&terminate_requested) && !flag_is_set(&run_finished))
        sleep_interruptible(200, NULL);
    if (sleep_interruptible((int64_t)*grace_s * 1000, &run_finished) || flag_is_set(&run_finished))
        return NULL;
    log_error(NULL, NULL,
              "shutdown took longer than shutdown_grace (%ds); exiting now, nothing "
              "uncommitted is lost",
              *grace_s);
    _exit(0);
    return NULL;
}

/* Runs the engine; on SIGHUP reloads the config (keeping the old one if the new one is bad)
 * and starts again from the state topic, so tables can be added or removed without losing
 * state. */
static int run_with_reload(crm_config **cfg, const engine_options *opts)
{
    for (;;) {
        int code = engine_run(*cfg, opts);
        if (!flag_is_set(&reload_requested) || flag_is_set(&terminate_requested))
            return code;
        flag_set(&reload_requested, 0);
        flag_set(&engine_stop_requested, 0);
        char err[1024];
        crm_config *next = config_load((*cfg)->path, err, sizeof(err));
        if (!next) {
            log_error(NULL, NULL, "SIGHUP: new config rejected, keeping the running one: %s", err);
            continue;
        }
        log_info(NULL, NULL, "SIGHUP: configuration reloaded from %s", next->path);
        config_free(*cfg);
        *cfg = next;
        log_set_level((*cfg)->log_level);
        log_set_json((*cfg)->log_json);
    }
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
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
          "  schemas -c FILE [TABLE] each table's current schema, whether it is published, and\n"
          "                         whether the next version (from the CRM's custom field\n"
          "                         definitions now) is BACKWARD compatible (exit 1 if not)\n"
          "exit codes: 0 ok, 1 runtime error, 2 config error, 3 Kafka error, 4 fenced by another\n"
          "            instance, 5 credentials rejected\n",
          f);
    return f == stdout ? 0 : EXIT_CONFIG;
}

int main(int argc, char **argv)
{
    allocator_tune_for_streaming();
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
        else if (argv[i][0] != '-' && n_positional < 2 && strcmp(cmd, "peek") == 0)
            positional[n_positional++] = argv[i]; /* peek takes TABLE [N] */
        else if (argv[i][0] != '-' && n_positional < 1 && strcmp(cmd, "schemas") == 0)
            positional[n_positional++] = argv[i]; /* schemas takes [TABLE] */
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
    log_set_json(cfg->log_json);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "crmstream: curl_global_init failed\n");
        config_free(cfg);
        return EXIT_RUNTIME;
    }
    install_signal_handlers();
    int code;
    if (strcmp(cmd, "run") == 0) {
        engine_options opts = {once};
        ops_server *ops = NULL;
        if (cfg->metrics_listen) {
            ops = ops_server_start(cfg->metrics_listen, cfg->metrics_port, engine_health, err,
                                   sizeof(err));
            if (!ops) {
                fprintf(stderr, "crmstream: %s\n", err);
                config_free(cfg);
                curl_global_cleanup();
                return EXIT_CONFIG;
            }
        }
        int grace = cfg->shutdown_grace_s;
        pthread_t watchdog;
        int watching = pthread_create(&watchdog, NULL, shutdown_watchdog, &grace) == 0;
        code = run_with_reload(&cfg, &opts);
        flag_set(&run_finished, 1);
        if (watching)
            pthread_join(watchdog, NULL);
        ops_server_stop(ops);
    } else if (strcmp(cmd, "check") == 0) {
        code = cli_check(cfg);
    } else if (strcmp(cmd, "tables") == 0) {
        code = cli_tables(cfg);
    } else if (strcmp(cmd, "state") == 0) {
        code = cli_state(cfg);
    } else if (strcmp(cmd, "schemas") == 0) {
        code = cli_schemas(cfg, positional[0]);
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
