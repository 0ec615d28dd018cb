/* sources_reload.h — a live reload of the sources: the config file (on SIGHUP) and sources_dir
 * read again, compared with what runs (sources_diff.h), and exactly the sources that changed
 * stopped, started or restarted through the engine's API; one log line per source and a
 * summary; counted in metrics. */
#ifndef CRM_SOURCES_RELOAD_H
#define CRM_SOURCES_RELOAD_H

struct engine;

/* A setting outside the sources changed: the caller restarts the engine. */
#define SOURCES_RELOAD_RESTART 1

/* Reloads the running sources of e. config_file: re-read the config file too (SIGHUP), else
 * sources_dir alone (it changed). 0, or SOURCES_RELOAD_RESTART (nothing applied). Problems are
 * logged (file:line, setting) and leave the sources concerned as they run. */
int sources_reload(struct engine *e, int config_file);

#endif
