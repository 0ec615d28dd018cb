/* sources_diff.c — what a live reload changes (sources_diff.h): the described sources against
 * the running ones, by name. Pure bookkeeping over loaded configs, so it is unit-tested without
 * an engine; sources_reload.c applies the result. */
#include "sources_diff.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_compare.h"
#include "util.h"

static sources_candidate *candidate_new(sources_candidates *c)
{
    c->items = xrealloc(c->items, ((size_t)c->n + 1) * sizeof(*c->items));
    sources_candidate *it = &c->items[c->n++];
    memset(it, 0, sizeof(*it));
    return it;
}

int sources_diff_scan_dir(sources_candidates *c, const char *dir, char *err, size_t errlen)
{
    int n = 0;
    char **paths = config_source_files(dir, &n, err, errlen);
    if (!paths)
        return -1;
    for (int i = 0; i < n; i++) {
        sources_candidate *it = candidate_new(c);
        char why[1024];
        it->file = xstrdup(paths[i]);
        it->sc = config_load_source_file(paths[i], 1, why, sizeof(why));
        if (!it->sc)
            it->error = xstrdup(why);
    }
    config_source_files_free(paths, n);
    return 0;
}

void sources_diff_add_config_source(sources_candidates *c, source_config *sc)
{
    candidate_new(c)->sc = sc;
}

void sources_diff_candidates_free(sources_candidates *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->items[i].file);
        config_source_free(c->items[i].sc);
        free(c->items[i].error);
    }
    free(c->items);
    c->items = NULL;
    c->n = 0;
}

/* ---- the comparison ---------------------------------------------------------------------- */

static int same_file(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static const source_config *running_named(const source_config *const *running, int n,
                                          const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(running[i]->name, name) == 0)
            return running[i];
    return NULL;
}

static void add_error(sources_diff *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_error(sources_diff *d, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    d->errors = xrealloc(d->errors, ((size_t)d->n_errors + 1) * sizeof(char *));
    d->errors[d->n_errors++] = xstrdup(line);
}

/* Where a source is described: "file:line". */
static void where(const sources_candidates *c, const source_config *sc, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s:%d",
             sc->file         ? sc->file
             : c->config_path ? c->config_path
                              : "the config file",
             sc->line);
}

/* The running source of a bad file keeps running: its name is not free for another file. */
static const source_config *kept_by_bad_file(const source_config *const *running, int n_running,
                                             const sources_candidates *c, const char *name)
{
    const source_config *r = running_named(running, n_running, name);
    if (!r || !r->file)
        return NULL;
    for (int i = 0; i < c->n; i++)
        if (!c->items[i].sc && same_file(c->items[i].file, r->file))
            return r;
    return NULL;
}

/* Of two candidates named alike, the loser (an error): the one the running source of that name
 * did not come from, or else the later one. Returns the index of the loser. */
static int duplicate_loser(const source_config *const *running, int n_running,
                           const sources_candidates *c, int first, int second)
{
    const source_config *r = running_named(running, n_running, c->items[second].sc->name);
    if (r && same_file(r->file, c->items[second].sc->file) &&
        !same_file(r->file, c->items[first].sc->file))
        return first;
    return second;
}

/* Marks as errors the candidates whose name another candidate (or a source kept by its bad
 * file, or with keep_config_sources a running source of the config file) holds. */
static void reject_duplicates(sources_diff *d, const source_config *const *running, int n_running,
                              sources_candidates *c, int keep_config_sources)
{
    for (int i = 0; i < c->n; i++) {
        sources_candidate *it = &c->items[i];
        if (!it->sc)
            continue;
        const source_config *holder = kept_by_bad_file(running, n_running, c, it->sc->name);
        const source_config *r = running_named(running, n_running, it->sc->name);
        if (!holder && keep_config_sources && r && !r->file && it->sc->file)
            holder = r;
        int loser = i;
        for (int j = 0; !holder && j < i; j++)
            if (c->items[j].sc && strcmp(c->items[j].sc->name, it->sc->name) == 0) {
                loser = duplicate_loser(running, n_running, c, j, i);
                holder = c->items[loser == i ? j : i].sc;
            }
        if (!holder)
            continue;
        sources_candidate *lost = &c->items[loser];
        char at[600], here[600];
        where(c, holder, at, sizeof(at));
        where(c, lost->sc, here, sizeof(here));
        add_error(d, "%s: name: duplicate source name \"%s\" (also at %s)", here, lost->sc->name,
                  at);
        config_source_free(lost->sc);
        lost->sc = NULL;
        lost->error = xstrdup(""); /* reported above */
    }
}

static source_config *take_candidate(sources_candidates *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (c->items[i].sc && strcmp(c->items[i].sc->name, name) == 0) {
            source_config *sc = c->items[i].sc;
            c->items[i].sc = NULL;
            return sc;
        }
    return NULL;
}

static void push(source_config ***list, int *n, source_config *sc)
{
    *list = xrealloc(*list, ((size_t)*n + 1) * sizeof(**list));
    (*list)[(*n)++] = sc;
}

void sources_diff_compute(sources_diff *d, const source_config *const *running, int n_running,
                          sources_candidates *c, int keep_config_sources)
{
    memset(d, 0, sizeof(*d));
    for (int i = 0; i < c->n; i++)
        if (!c->items[i].sc && c->items[i].error && c->items[i].error[0])
            add_error(d, "%s", c->items[i].error);
    reject_duplicates(d, running, n_running, c, keep_config_sources);
    for (int i = 0; i < n_running; i++) {
        const source_config *r = running[i];
        if ((keep_config_sources && !r->file) || kept_by_bad_file(running, n_running, c, r->name)) {
            d->n_unchanged++;
            continue;
        }
        source_config *now = take_candidate(c, r->name);
        if (!now) {
            d->stop = xrealloc(d->stop, ((size_t)d->n_stop + 1) * sizeof(char *));
            d->stop[d->n_stop++] = xstrdup(r->name);
        } else if (config_source_equal(r, now)) {
            config_source_free(now);
            d->n_unchanged++;
        } else {
            push(&d->restart, &d->n_restart, now);
        }
    }
    for (int i = 0; i < c->n; i++)
        if (c->items[i].sc) {
            push(&d->start, &d->n_start, c->items[i].sc);
            c->items[i].sc = NULL;
        }
}

int sources_diff_is_empty(const sources_diff *d)
{
    return d->n_start == 0 && d->n_stop == 0 && d->n_restart == 0;
}

void sources_diff_free(sources_diff *d)
{
    for (int i = 0; i < d->n_start; i++)
        config_source_free(d->start[i]);
    for (int i = 0; i < d->n_restart; i++)
        config_source_free(d->restart[i]);
    for (int i = 0; i < d->n_stop; i++)
        free(d->stop[i]);
    for (int i = 0; i < d->n_errors; i++)
        free(d->errors[i]);
    free(d->start);
    free(d->restart);
    free(d->stop);
    free(d->errors);
    memset(d, 0, sizeof(*d));
}
