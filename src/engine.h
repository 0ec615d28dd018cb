/* engine.h — runs every enabled table of every source: restore state, poll, dedupe, encode,
 * publish, commit bookmarks; stops cleanly on request. */
#ifndef CRM_ENGINE_H
#define CRM_ENGINE_H

#include "config.h"

/* Process exit codes (documented in README "Exit codes"). */
#define EXIT_OK      0
#define EXIT_RUNTIME 1
/* EXIT_CONFIG (2) is in config.h */
#define EXIT_KAFKA  3
#define EXIT_FENCED 4
#define EXIT_AUTH   5

typedef struct engine_options {
    int once; /* one pass of every table, then exit */
} engine_options;

/* Set from signal handlers: stop polling, finish the page in flight, commit, exit. */
extern volatile int engine_stop_requested;
/* Set from the SIGHUP handler: the running engine re-reads the config file and sources_dir and
 * starts, stops and restarts exactly the sources that changed (sources_reload.h). */
extern volatile int engine_reload_requested;
/* Set by the engine when a reload found a setting outside the sources changed: engine_run
 * returns, and its caller loads the config again and runs anew from the state topic. */
extern volatile int engine_restart_requested;

/* Health for /healthz (ready == 0) and /readyz (ready != 0); an ops_health_fn. */
#include <jansson.h>
json_t *engine_health(int ready, int *ok);

int engine_run(const crm_config *cfg, const engine_options *opts);

/* ---- sources added and removed while running (a live reload; main thread only) ---------- */
struct engine;
const crm_config *engine_config(const struct engine *e);
/* The settings of every running source, in a malloc'd array (*out, free it); their count. */
int engine_running_sources(const struct engine *e, const source_config ***out);
/* Starts the sources of scs (taken: each is freed with its source): producer, topics, state,
 * schemas, table threads, as at start. A source that cannot start is logged and left out (its
 * config freed). Returns how many started. */
int engine_add_sources(struct engine *e, source_config **scs, int n);
/* Stops source `name` alone: its tables abort their HTTP request in flight, commit what they
 * hold (or abort the transaction), their threads are joined and its producer closed. The other
 * sources are not touched. -1 when no source has that name. */
int engine_remove_source(struct engine *e, const char *name);

/* For inspection commands (`crmstream schemas`): sets every enabled table up as `run` would,
 * without a producer, restores the state, and calls fn for each table until it returns
 * non-zero. -1 with err when the setup or the state read fails. */
struct table_run;
typedef int (*engine_table_fn)(struct table_run *t, void *u);
int engine_each_table(const crm_config *cfg, engine_table_fn fn, void *u, char *err, size_t errlen);

#endif
