/* sources_watch.h — when sources_dir is re-read while running: when the directory changes
 * (inotify: files written, added, removed or renamed, and the `..data` link a Kubernetes
 * ConfigMap or Secret volume swaps on update), once a burst of changes has settled. SIGHUP is
 * the engine's (engine_reload_requested). */
#ifndef CRM_SOURCES_WATCH_H
#define CRM_SOURCES_WATCH_H

#include <stdint.h>

#include "config.h"

/* A burst of changes ends after this long without another... */
#define SOURCES_WATCH_QUIET_MS 1000
/* ...or this long after its first change, whichever comes first. */
#define SOURCES_WATCH_MAX_DELAY_MS 10000

/* The debounce alone: changes noted at times, due once they settled. */
typedef struct sources_debounce {
    int64_t first_ms; /* first change of the pending burst; 0: none pending */
    int64_t last_ms;
    int quiet_ms;
    int max_delay_ms;
} sources_debounce;

void sources_debounce_init(sources_debounce *d, int quiet_ms, int max_delay_ms);
void sources_debounce_note(sources_debounce *d, int64_t now_ms);
/* 1 (once per burst) when a burst is pending and settled at now_ms. */
int sources_debounce_due(sources_debounce *d, int64_t now_ms);

typedef struct sources_watch sources_watch;

/* Watches cfg's sources_dir (NULL without one, or when inotify is unavailable: logged, SIGHUP
 * still reloads). */
sources_watch *sources_watch_start(const crm_config *cfg);
/* The same for a directory, with the debounce's times (tests). */
sources_watch *sources_watch_dir(const char *dir, int quiet_ms, int max_delay_ms);
/* Takes the directory's pending changes (non-blocking); 1 when a reload is due at now_ms.
 * A NULL watch is never due. */
int sources_watch_due(sources_watch *w, int64_t now_ms);
void sources_watch_stop(sources_watch *w);

#endif
