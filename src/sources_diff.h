/* sources_diff.h — what a live reload changes: the sources now described (the config file's and
 * one per file of sources_dir, read file by file so a bad file is that file's error alone)
 * compared with the running ones, by name: which to start, stop and restart, and which files
 * are bad (their running source, if any, keeps running as it is). */
#ifndef CRM_SOURCES_DIFF_H
#define CRM_SOURCES_DIFF_H

#include "config.h"

/* One source as now described: read (sc) or bad (error). */
typedef struct sources_candidate {
    char *file;        /* the sources_dir file; NULL: the config file */
    source_config *sc; /* NULL when the file is bad */
    char *error;       /* "file:line: setting: problem" when bad */
} sources_candidate;

typedef struct sources_candidates {
    sources_candidate *items;
    int n;
    const char *config_path; /* borrowed: errors name it for the config file's sources */
} sources_candidates;

/* Adds one candidate per source file of dir (config_source_files), each read alone. -1 with err
 * when dir cannot be read (nothing added). */
int sources_diff_scan_dir(sources_candidates *c, const char *dir, char *err, size_t errlen);
/* Adds source sc (taken: the list frees it) as described by the config file. */
void sources_diff_add_config_source(sources_candidates *c, source_config *sc);
void sources_diff_candidates_free(sources_candidates *c);

typedef struct sources_diff {
    source_config **start; /* new names: start them (owned by the diff until taken) */
    int n_start;
    source_config **restart; /* settings changed: restart with these (owned until taken) */
    int n_restart;
    char **stop; /* names no longer described: stop them */
    int n_stop;
    int n_unchanged; /* running as described, or kept because their file is bad */
    char **errors;   /* one line per bad file or duplicate name */
    int n_errors;
} sources_diff;

/* Compares the running sources with the candidates (taken: their sources move into d or are
 * freed). keep_config_sources: the config file was not re-read (a change of sources_dir alone),
 * so the running sources from it stay as they are. Candidates come in precedence order (the
 * config file's first, then the files by name): of two with one name, the one whose file the
 * running source came from wins, otherwise the first; the other is an error. */
void sources_diff_compute(sources_diff *d, const source_config *const *running, int n_running,
                          sources_candidates *c, int keep_config_sources);
/* 1 when the diff changes nothing (errors aside). */
int sources_diff_is_empty(const sources_diff *d);
void sources_diff_free(sources_diff *d);

#endif
