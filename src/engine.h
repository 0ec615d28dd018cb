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

#endif
