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

/* Health for /healthz (ready == 0) and /readyz (ready != 0); an ops_health_fn. */
#include <jansson.h>
json_t *engine_health(int ready, int *ok);

int engine_run(const crm_config *cfg, const engine_options *opts);

/* For inspection commands (`crmstream schemas`): sets every enabled table up as `run` would,
 * without a producer, restores the state, and calls fn for each table until it returns
 * non-zero. -1 with err when the setup or the state read fails. */
struct table_run;
typedef int (*engine_table_fn)(struct table_run *t, void *u);
int engine_each_table(const crm_config *cfg, engine_table_fn fn, void *u, char *err, size_t errlen);

#endif
