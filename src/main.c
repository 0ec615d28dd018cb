/* main.c — the crmstream command line: parses it, loads the config (with the CRM credentials
 * only for commands that talk to a CRM) and runs the command. */
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
#include "connector.h"
#include "engine.h"
#include "log.h"
#include "ops_server.h"
#include "replay.h"
#include "util.h"
#include "version.h"

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
    fputs(
        "usage: crmstream COMMAND -c FILE [options]    (crmstream --version)\n"
        "commands:\n"
        "  connectors             the compiled-in connectors (a source's type), one a line\n"
        "  run -c FILE [--once]   poll every enabled table and publish change events\n"
        "                         (--once: one pass of every table, then exit)\n"
        "  validate -c FILE       load the config as `run` would: every setting, and every\n"
        "                         CRM secret variable it names set (exit 2 otherwise)\n"
        "  check -c FILE          validate config, reach Kafka, test each source's credentials\n"
        "                         (all at once, one try each: answers within ~10 s)\n"
        "  tables -c FILE         list tables per source: method, keys, lookback, topic;\n"
        "                         each source's options and every setting (type, default)\n"
        "  state -c FILE [--summary | --unhealthy] [--instance HOST:PORT,...]\n"
        "                         each table's committed state (bookmark, passes, keys, lag,\n"
        "                         last pass) and what running instances report on /status\n"
        "                         (default: the config's metrics port here): state, shard,\n"
        "                         failures in a row, last error. --unhealthy: only sources\n"
        "                         not running, failing or never synced; --summary: counts,\n"
        "                         lag percentiles and one line per unhealthy source\n"
        "  state -c FILE --reset SOURCE.TABLE\n"
        "                         forget a table's bookmark and dedupe entries: the next run\n"
        "                         re-reads it from start_date and publishes every record (r)\n"
        "  resync -c FILE SOURCE.TABLE [--from DATE] [--republish]\n"
        "                         re-read a table from DATE (default start_date) now, one pass,\n"
        "                         publishing only changed records (--republish: every record\n"
        "                         once, as r). state --reset and resync fence a running\n"
        "                         instance of the source (it exits 4; restarted, it resumes)\n"
        "  peek -c FILE TABLE [N] decode and print the last N (default 5) events of a table\n"
        "                         (SOURCE.TABLE, or TABLE when only one source has it)\n"
        "  schemas -c FILE [TABLE] each table's current schema, whether it is published, and\n"
        "                         whether the next version (from the CRM's custom field\n"
        "                         definitions now) is BACKWARD compatible (exit 1 if not)\n"
        "  replay -c FILE --to URL [--tables SOURCE.TABLE,...] [--group G] [--once]\n"
        "                         [--password-env VAR] [--batch N]\n"
        "                         materialize the table topics into sqlite:PATH (default\n"
        "                         sqlite:replay.db) or postgresql://..., exactly once\n"
        "                         (--once: stop when caught up)\n"
        "CRM credentials (environment variables) are needed by run, validate, check, schemas and\n"
        "resync only.\n"
        "exit codes: 0 ok, 1 runtime error, 2 config error, 3 Kafka error, 4 fenced by another\n"
        "            instance, 5 credentials rejected\n",
        f);
    return f == stdout ? 0 : EXIT_CONFIG;
}

/* What a command line asked for. */
typedef struct cli_args {
    const char *cmd;
    const char *path;
    int once;
    int republish;
    const char *from;
    const char *reset; /* state --reset SOURCE.TABLE */
    cli_state_options state;
    replay_options replay;
    const char *positional[2];
    int n_positional;
} cli_args;

typedef struct command {
    const char *name;
    int crm_secrets; /* talks to a CRM: its credentials must be set */
    int min_positional, max_positional;
} command;

static const command commands[] = {
    /* name, needs CRM secrets, min and max positional arguments */
    {"run", 1, 0, 0},    {"validate", 1, 0, 0}, {"check", 1, 0, 0},   {"tables", 0, 0, 0},
    {"state", 0, 0, 0},  {"peek", 0, 1, 2},     {"schemas", 1, 0, 1}, {"resync", 1, 1, 1},
    {"replay", 0, 0, 0}, {NULL, 0, 0, 0},
};

static const command *find_command(const char *name)
{
    for (const command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* 1 when the option belongs to this command (each option belongs to one). */
static int option_applies(const char *cmd, const char *opt)
{
    if (strcmp(opt, "--once") == 0)
        return strcmp(cmd, "run") == 0 || strcmp(cmd, "replay") == 0;
    if (strcmp(opt, "--to") == 0 || strcmp(opt, "--tables") == 0 || strcmp(opt, "--group") == 0 ||
        strcmp(opt, "--password-env") == 0 || strcmp(opt, "--batch") == 0)
        return strcmp(cmd, "replay") == 0;
    if (strcmp(opt, "--republish") == 0 || strcmp(opt, "--from") == 0)
        return strcmp(cmd, "resync") == 0;
    if (strcmp(opt, "--reset") == 0 || strcmp(opt, "--summary") == 0 ||
        strcmp(opt, "--unhealthy") == 0 || strcmp(opt, "--instance") == 0)
        return strcmp(cmd, "state") == 0;
    return 0;
}

/* The options of `replay` that take a value (option_applies said they are replay's). */
static void replay_option(replay_options *o, const char *name, const char *value)
{
    if (strcmp(name, "--to") == 0)
        o->to = value;
    else if (strcmp(name, "--tables") == 0)
        o->tables = value;
    else if (strcmp(name, "--group") == 0)
        o->group = value;
    else if (strcmp(name, "--password-env") == 0)
        o->password_env = value;
    else
        o->batch_rows = atoi(value);
}

/* 0, or an exit code after printing what is wrong. */
static int parse_args(int argc, char **argv, const command *c, cli_args *a)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        int has_value = i + 1 < argc;
        if ((strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) && has_value) {
            a->path = argv[++i];
        } else if (arg[0] == '-' && option_applies(c->name, arg)) {
            if (strcmp(arg, "--once") == 0)
                a->once = 1;
            else if (strcmp(arg, "--republish") == 0)
                a->republish = 1;
            else if (strcmp(arg, "--summary") == 0)
                a->state.view = STATE_VIEW_SUMMARY;
            else if (strcmp(arg, "--unhealthy") == 0)
                a->state.view = STATE_VIEW_UNHEALTHY;
            else if (!has_value) {
                fprintf(stderr, "crmstream: %s needs a value\n", arg);
                return usage(stderr);
            } else if (strcmp(arg, "--from") == 0)
                a->from = argv[++i];
            else if (strcmp(arg, "--reset") == 0)
                a->reset = argv[++i];
            else if (strcmp(arg, "--instance") == 0)
                a->state.instances = argv[++i];
            else
                replay_option(&a->replay, arg, argv[++i]);
        } else if (arg[0] != '-' && a->n_positional < c->max_positional) {
            a->positional[a->n_positional++] = arg;
        } else {
            fprintf(stderr, "crmstream: unknown argument \"%s\" for %s\n", arg, c->name);
            return usage(stderr);
        }
    }
    if (a->n_positional < c->min_positional) {
        fprintf(stderr, "crmstream: %s needs %s\n", c->name,
                strcmp(c->name, "peek") == 0 ? "a TABLE (SOURCE.TABLE)" : "SOURCE.TABLE");
        return usage(stderr);
    }
    if (!a->path) {
        fprintf(stderr, "crmstream: -c FILE is required\n");
        return usage(stderr);
    }
    return 0;
}

static int run_daemon(crm_config **cfg, int once)
{
    char err[1024];
    engine_options opts = {once};
    ops_server *ops = NULL;
    if ((*cfg)->metrics_listen) {
        ops = ops_server_start((*cfg)->metrics_listen, (*cfg)->metrics_port, engine_health, err,
                               sizeof(err));
        if (!ops) {
            fprintf(stderr, "crmstream: %s\n", err);
            return EXIT_CONFIG;
        }
    }
    int grace = (*cfg)->shutdown_grace_s;
    pthread_t watchdog;
    int watching = pthread_create(&watchdog, NULL, shutdown_watchdog, &grace) == 0;
    int code = run_with_reload(cfg, &opts);
    flag_set(&run_finished, 1);
    if (watching)
        pthread_join(watchdog, NULL);
    ops_server_stop(ops);
    return code;
}

static int dispatch(crm_config **cfg, const cli_args *a)
{
    const char *cmd = a->cmd;
    if (strcmp(cmd, "run") == 0)
        return run_daemon(cfg, a->once);
    if (strcmp(cmd, "validate") == 0)
        return cli_validate(*cfg);
    if (strcmp(cmd, "check") == 0)
        return cli_check(*cfg);
    if (strcmp(cmd, "tables") == 0)
        return cli_tables(*cfg);
    if (strcmp(cmd, "state") == 0)
        return a->reset ? cli_state_reset(*cfg, a->reset) : cli_state(*cfg, &a->state);
    if (strcmp(cmd, "schemas") == 0)
        return cli_schemas(*cfg, a->positional[0]);
    if (strcmp(cmd, "replay") == 0) {
        replay_options opts = a->replay;
        opts.once = a->once;
        return replay_run(*cfg, &opts);
    }
    if (strcmp(cmd, "peek") == 0)
        return cli_peek(*cfg, a->positional[0], a->positional[1] ? atol(a->positional[1]) : 5);
    return cli_resync(*cfg, a->positional[0], a->from, a->republish);
}

int main(int argc, char **argv)
{
    allocator_tune_for_streaming();
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
        return usage(stdout);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("crmstream %s\n", CRMSTREAM_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "connectors") == 0) { /* needs no config: scripts and tests list CRMs */
        for (const connector *const *p = crm_connectors; *p; p++)
            puts((*p)->name);
        return EXIT_OK;
    }
    const command *c = find_command(cmd);
    if (!c) { /* before the config is read: a typo is not a config problem */
        fprintf(stderr, "crmstream: unknown command \"%s\"\n", cmd);
        return usage(stderr);
    }
    cli_args a = {.cmd = c->name};
    int rc = parse_args(argc, argv, c, &a);
    if (rc)
        return rc;
    char err[1024];
    crm_config *cfg = c->crm_secrets ? config_load(a.path, err, sizeof(err))
                                     : config_load_without_crm_secrets(a.path, err, sizeof(err));
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
    int code = dispatch(&cfg, &a);
    config_free(cfg);
    curl_global_cleanup();
    return code;
}
