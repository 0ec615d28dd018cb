/* test_sources_diff.c — what a live reload of sources_dir changes (issue #20): against the
 * running sources, an added file starts its source, a removed one stops it, a changed one
 * (settings or a secret file's content, not comments) restarts it, a bad file or a duplicate
 * name is an error naming file:line that keeps the running source as it is; and whether the
 * settings outside the sources changed (then the whole engine restarts). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "test_files.h"
#include "config.h"
#include "config_compare.h"
#include "sources_diff.h"

static char dir[64], sdir[96], cfg_path[96];

#define KAFKA       "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
#define MAIN_SOURCE "sources = ( { type = \"testcrm\"; name = \"main1\"; } );\n"
#define SOURCE_A                                                                                   \
    "type = \"testcrm\";\nname = \"acct-a\";\npoll_interval = \"2m\";\n"                           \
    "options = { token_file = \"a.token\"; };\n"
#define SOURCE_B "type = \"testcrm\";\nname = \"acct-b\";\n"

static crm_config *load_main(const char *extra)
{
    char text[512], err[1024] = "";
    snprintf(text, sizeof(text), KAFKA "sources_dir = \"sources.d\";\n%s", extra);
    write_at(dir, "producer.cfg", text);
    crm_config *c = config_load(cfg_path, err, sizeof(err));
    if (!c)
        fprintf(stderr, "%s\n", err);
    return c;
}

/* The diff of sources_dir now against cfg's sources (running). */
static void diff_dir(const crm_config *cfg, sources_diff *d, int keep_config_sources,
                     const crm_config *now)
{
    const source_config *running[16];
    for (int i = 0; i < cfg->n_sources && i < 16; i++)
        running[i] = &cfg->sources[i];
    sources_candidates c = {.config_path = cfg_path};
    for (int i = 0; now && i < now->n_sources; i++) { /* moved out of now */
        source_config *sc = malloc(sizeof(*sc));
        *sc = now->sources[i];
        memset(&now->sources[i], 0, sizeof(*sc));
        sources_diff_add_config_source(&c, sc);
    }
    char err[512];
    CHECK(sources_diff_scan_dir(&c, sdir, err, sizeof(err)) == 0);
    sources_diff_compute(d, running, cfg->n_sources, &c, keep_config_sources);
    sources_diff_candidates_free(&c);
}

static void expect_diff(const sources_diff *d, int start, int stop, int restart, int unchanged,
                        int errors)
{
    CHECK(d->n_start == start);
    CHECK(d->n_stop == stop);
    CHECK(d->n_restart == restart);
    CHECK(d->n_unchanged == unchanged);
    CHECK(d->n_errors == errors);
    if (d->n_start != start || d->n_stop != stop || d->n_restart != restart ||
        d->n_unchanged != unchanged || d->n_errors != errors)
        fprintf(stderr, "diff: start %d stop %d restart %d unchanged %d errors %d%s%s\n",
                d->n_start, d->n_stop, d->n_restart, d->n_unchanged, d->n_errors,
                d->n_errors ? ": " : "", d->n_errors ? d->errors[0] : "");
}

static void test_unchanged_added_removed_changed(const crm_config *running)
{
    sources_diff d;
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 0, 0, 3, 0);
    CHECK(sources_diff_is_empty(&d));
    sources_diff_free(&d);
    /* comments and blank lines are no change */
    write_at(sdir, "b.cfg", "# account B\n\n" SOURCE_B);
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 0, 0, 3, 0);
    sources_diff_free(&d);
    /* a file added starts exactly its source */
    write_at(sdir, "c.cfg", "type = \"testcrm\";\nname = \"acct-c\";\n");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 1, 0, 0, 3, 0);
    if (d.n_start == 1) {
        CHECK_STR(d.start[0]->name, "acct-c");
        CHECK_CONTAINS(d.start[0]->file, "/sources.d/c.cfg");
    }
    sources_diff_free(&d);
    remove_at(sdir, "c.cfg");
    /* a file removed stops exactly its source */
    remove_at(sdir, "b.cfg");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 1, 0, 2, 0);
    if (d.n_stop == 1)
        CHECK_STR(d.stop[0], "acct-b");
    sources_diff_free(&d);
    write_at(sdir, "b.cfg", SOURCE_B);
    /* a setting changed restarts exactly that source, with the new settings */
    write_at(sdir, "a.cfg",
             "type = \"testcrm\";\nname = \"acct-a\";\npoll_interval = \"3m\";\n"
             "options = { token_file = \"a.token\"; };\n");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 0, 1, 2, 0);
    if (d.n_restart == 1) {
        CHECK_STR(d.restart[0]->name, "acct-a");
        CHECK(d.restart[0]->poll_interval_s == 180);
    }
    sources_diff_free(&d);
    write_at(sdir, "a.cfg", SOURCE_A);
    /* so does a rotated secret in its file (read again on reload) */
    write_at(sdir, "a.token", "rotated-token\n");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 0, 1, 2, 0);
    sources_diff_free(&d);
    write_at(sdir, "a.token", "token-of-a\n");
}

static void test_bad_files(const crm_config *running)
{
    sources_diff d;
    char where[256];
    /* a bad file is an error at its file and line; its running source is kept as it is while
     * the other files' changes apply */
    write_at(sdir, "a.cfg", "type = \"testcrm\";\nname = \"acct-a\";\npoll_intervall = \"1m\";\n");
    remove_at(sdir, "b.cfg");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 1, 0, 2, 1);
    snprintf(where, sizeof(where), "%s/a.cfg:3: poll_intervall: unknown setting", sdir);
    if (d.n_errors == 1)
        CHECK_CONTAINS(d.errors[0], where);
    sources_diff_free(&d);
    write_at(sdir, "a.cfg", "type = \"testcrm\";\nname = \"acct-a\";\noptions = { = };\n");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 1, 0, 2, 1);
    snprintf(where, sizeof(where), "%s/a.cfg:3: syntax error", sdir);
    if (d.n_errors == 1)
        CHECK_CONTAINS(d.errors[0], where);
    sources_diff_free(&d);
    write_at(sdir, "a.cfg", SOURCE_A);
    write_at(sdir, "b.cfg", SOURCE_B);
    /* a new bad file: an error, nothing else */
    write_at(sdir, "d.cfg", "type = \"nocrm\";\nname = \"acct-d\";\n");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 0, 0, 3, 1);
    snprintf(where, sizeof(where), "%s/d.cfg:1: type: unknown source type \"nocrm\"", sdir);
    if (d.n_errors == 1)
        CHECK_CONTAINS(d.errors[0], where);
    sources_diff_free(&d);
    /* a new file naming a running source: the running one stays, the new file is the error */
    write_at(sdir, "d.cfg", "type = \"testcrm\";\n\nname = \"acct-b\";\npoll_interval = \"1m\";\n");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 0, 0, 3, 1);
    snprintf(where, sizeof(where),
             "%s/d.cfg:3: name: duplicate source name \"acct-b\" (also at %s/b.cfg:2)", sdir, sdir);
    if (d.n_errors == 1)
        CHECK_CONTAINS(d.errors[0], where);
    sources_diff_free(&d);
    /* ... even when it sorts first */
    remove_at(sdir, "d.cfg");
    write_at(sdir, "0.cfg", "type = \"testcrm\";\nname = \"acct-b\";\n");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 0, 0, 3, 1);
    if (d.n_errors == 1)
        CHECK_CONTAINS(d.errors[0], "/0.cfg:2: name: duplicate source name \"acct-b\"");
    sources_diff_free(&d);
    /* and a file naming a source of the config file (not re-read on a directory change) */
    write_at(sdir, "0.cfg", "type = \"testcrm\";\nname = \"main1\";\n");
    diff_dir(running, &d, 1, NULL);
    expect_diff(&d, 0, 0, 0, 3, 1);
    snprintf(where, sizeof(where), "duplicate source name \"main1\" (also at %s:3)", cfg_path);
    if (d.n_errors == 1)
        CHECK_CONTAINS(d.errors[0], where);
    sources_diff_free(&d);
    remove_at(sdir, "0.cfg");
}

/* SIGHUP re-reads the config file too: its sources are compared like the files'. */
static void test_config_file_sources(const crm_config *running)
{
    char err[1024] = "";
    sources_diff d;
    crm_config *now = config_load_settings(cfg_path, err, sizeof(err));
    CHECK(now != NULL);
    if (!now)
        return;
    CHECK(now->n_sources == 1); /* the directory is not read */
    CHECK(config_settings_equal(running, now));
    diff_dir(running, &d, 0, now);
    expect_diff(&d, 0, 0, 0, 3, 0);
    sources_diff_free(&d);
    config_free(now);
    /* the config file's source changed: it alone restarts */
    write_at(dir, "producer.cfg",
             KAFKA "sources_dir = \"sources.d\";\n"
                   "sources = ( { type = \"testcrm\"; name = \"main1\"; poll_interval = \"9m\"; } "
                   ");\n");
    now = config_load_settings(cfg_path, err, sizeof(err));
    CHECK(now && config_settings_equal(running, now));
    diff_dir(running, &d, 0, now);
    expect_diff(&d, 0, 0, 1, 2, 0);
    sources_diff_free(&d);
    config_free(now);
    /* removed from the config file: stopped (with keep_config_sources it would be kept) */
    write_at(dir, "producer.cfg", KAFKA "sources_dir = \"sources.d\";\n");
    now = config_load_settings(cfg_path, err, sizeof(err));
    CHECK(now && now->n_sources == 0 && config_settings_equal(running, now));
    diff_dir(running, &d, 0, now);
    expect_diff(&d, 0, 1, 0, 2, 0);
    if (d.n_stop == 1)
        CHECK_STR(d.stop[0], "main1");
    sources_diff_free(&d);
    config_free(now);
}

/* Any setting outside the sources differs: the engine restarts instead. */
static void test_settings_equal(const crm_config *running)
{
    const char *changed[] = {
        "kafka = { bootstrap_servers = \"127.0.0.1:9093\"; };\nsources_dir = \"sources.d\";\n",
        KAFKA "sources_dir = \"sources.d\";\nlog_level = \"debug\";\n",
        KAFKA "sources_dir = \"other.d\";\n",
        "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; properties = [\"linger.ms=5\"]; };\n"
        "sources_dir = \"sources.d\";\n",
        KAFKA "sources_dir = \"sources.d\";\nschema_registry = { url = \"http://r\"; };\n",
        KAFKA "sources_dir = \"sources.d\";\nmetrics = { port = 9401; };\n",
    };
    mkdir(dir, 0700);
    char other[128];
    snprintf(other, sizeof(other), "%s/other.d", dir);
    mkdir(other, 0700);
    for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
        char err[1024] = "";
        write_at(dir, "producer.cfg", changed[i]);
        crm_config *now = config_load_settings(cfg_path, err, sizeof(err));
        CHECK(now != NULL);
        if (now && config_settings_equal(running, now))
            fprintf(stderr, "not seen as changed: %s\n", changed[i]);
        CHECK(now && !config_settings_equal(running, now));
        config_free(now);
    }
    rmdir(other);
    write_at(dir, "producer.cfg", KAFKA "sources_dir = \"sources.d\";\n" MAIN_SOURCE);
}

int main(void)
{
    setenv("TESTCRM_TOKEN", "env-token", 1);
    snprintf(dir, sizeof(dir), "/tmp/crmstream-srcdiff-%d", (int)getpid());
    snprintf(sdir, sizeof(sdir), "%s/sources.d", dir);
    snprintf(cfg_path, sizeof(cfg_path), "%s/producer.cfg", dir);
    mkdir(dir, 0700);
    mkdir(sdir, 0700);
    write_at(sdir, "a.cfg", SOURCE_A);
    write_at(sdir, "a.token", "token-of-a\n");
    write_at(sdir, "b.cfg", SOURCE_B);
    crm_config *running = load_main(MAIN_SOURCE);
    CHECK(running != NULL && running->n_sources == 3);
    if (running) {
        test_unchanged_added_removed_changed(running);
        test_bad_files(running);
        test_config_file_sources(running);
        test_settings_equal(running);
    }
    config_free(running);
    const char *names[] = {"a.cfg", "b.cfg", "c.cfg", "d.cfg", "0.cfg", "a.token"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        remove_at(sdir, names[i]);
    rmdir(sdir);
    remove_at(dir, "producer.cfg");
    rmdir(dir);
    return check_summary("sources_diff");
}
