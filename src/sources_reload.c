/* sources_reload.c — a live reload of the sources (sources_reload.h): what changed comes from
 * sources_diff, the starting and stopping from the engine's API, so a reload touches exactly
 * the sources that changed; the others keep running without a pause. Runs on the engine's main
 * loop, between two of its turns. */
#include "sources_reload.h"

#include <stdlib.h>
#include <string.h>

#include "config_compare.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "sources_diff.h"
#include "util.h"

/* The sources of the config file, moved out of `now` into candidates. */
static void take_config_sources(sources_candidates *c, crm_config *now)
{
    for (int i = 0; i < now->n_sources; i++) {
        source_config *sc = xcalloc(1, sizeof(*sc));
        *sc = now->sources[i];
        memset(&now->sources[i], 0, sizeof(*sc));
        sources_diff_add_config_source(c, sc);
    }
}

/* A setting outside the sources changed: the engine restarts with the whole configuration,
 * which must load as a start would (every source file included), or nothing changes. */
static int restart_if_loadable(const char *path, const char *why)
{
    char err[1024];
    crm_config *all = config_load(path, err, sizeof(err));
    if (!all) {
        log_error(NULL, NULL,
                  "%s: settings outside the sources changed in %s, but the configuration is "
                  "rejected, nothing changed: %s",
                  why, path, err);
        return -1;
    }
    config_free(all);
    log_info(NULL, NULL,
             "%s: settings outside the sources changed in %s: restarting every source from the "
             "state topic",
             why, path);
    return SOURCES_RELOAD_RESTART;
}

/* What the sources should be now, compared with what runs. -1 when nothing can be compared
 * (config file or directory unreadable: logged), SOURCES_RELOAD_RESTART when a setting outside
 * the sources changed. */
static int describe(struct engine *e, int config_file, const char *why, sources_diff *d)
{
    const crm_config *cfg = engine_config(e);
    char err[1024];
    sources_candidates c = {.config_path = cfg->path};
    crm_config *now = NULL;
    if (config_file) {
        if (!(now = config_load_settings(cfg->path, err, sizeof(err)))) {
            log_error(NULL, NULL, "%s: config file rejected, nothing changed: %s", why, err);
            return -1;
        }
        if (!config_settings_equal(cfg, now)) {
            config_free(now);
            return restart_if_loadable(cfg->path, why);
        }
        take_config_sources(&c, now);
        config_free(now);
    }
    char *dir = config_sources_dir_path(cfg);
    int rc = dir ? sources_diff_scan_dir(&c, dir, err, sizeof(err)) : 0;
    free(dir);
    if (rc) {
        log_error(NULL, NULL, "sources_dir: %s; nothing changed", err);
        sources_diff_candidates_free(&c);
        return -1;
    }
    const source_config **running = NULL;
    int n = engine_running_sources(e, &running);
    sources_diff_compute(d, running, n, &c, !config_file);
    free(running);
    sources_diff_candidates_free(&c);
    return 0;
}

static int is_running(struct engine *e, const char *name)
{
    const source_config **running = NULL;
    int n = engine_running_sources(e, &running), found = 0;
    for (int i = 0; i < n && !found; i++)
        found = strcmp(running[i]->name, name) == 0;
    free(running);
    return found;
}

/* Starts scs (taken) and logs each source that runs now as `what`; how many did not start. */
static int start_logged(struct engine *e, source_config **scs, int n, const char *what,
                        const char *why)
{
    char **names = xcalloc((size_t)n + 1, sizeof(char *));
    char **files = xcalloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++) {
        names[i] = xstrdup(scs[i]->name);
        files[i] = xstrdup(scs[i]->file ? scs[i]->file : engine_config(e)->path);
    }
    int started = engine_add_sources(e, scs, n);
    for (int i = 0; i < n; i++) {
        if (is_running(e, names[i]))
            log_info(names[i], NULL, "source %s (%s): %s", what, why, files[i]);
        free(names[i]);
        free(files[i]);
    }
    free(names);
    free(files);
    return n - started;
}

/* Applies d; how many of its restarts (failed[0]) and starts (failed[1]) did not start. */
static void apply(struct engine *e, sources_diff *d, const char *why, int failed[2])
{
    for (int i = 0; i < d->n_errors; i++)
        log_error(NULL, NULL, "%s: %s (a source running from this file keeps running as it was)",
                  why, d->errors[i]);
    for (int i = 0; i < d->n_stop; i++)
        if (engine_remove_source(e, d->stop[i]) == 0)
            log_info(d->stop[i], NULL, "source stopped (%s): no longer configured", why);
    for (int i = 0; i < d->n_restart; i++)
        engine_remove_source(e, d->restart[i]->name);
    failed[0] = start_logged(e, d->restart, d->n_restart, "restarted with changed settings", why);
    d->n_restart = 0; /* taken */
    failed[1] = start_logged(e, d->start, d->n_start, "started", why);
    d->n_start = 0;
}

int sources_reload(struct engine *e, int config_file)
{
    const char *why = config_file ? "SIGHUP" : "sources_dir changed";
    sources_diff d;
    memset(&d, 0, sizeof(d));
    int rc = describe(e, config_file, why, &d);
    if (rc) {
        metrics_count_reload(rc < 0);
        return rc < 0 ? 0 : rc;
    }
    int started = d.n_start, stopped = d.n_stop, restarted = d.n_restart, failed[2] = {0, 0};
    apply(e, &d, why, failed);
    int errors = d.n_errors + failed[0] + failed[1];
    log_info(NULL, NULL,
             "%s: configuration reloaded from %s: sources started=%d stopped=%d restarted=%d "
             "unchanged=%d errors=%d",
             why, config_file ? engine_config(e)->path : "sources_dir", started - failed[1],
             stopped, restarted - failed[0], d.n_unchanged, errors);
    metrics_count_reload(errors);
    sources_diff_free(&d);
    return 0;
}
