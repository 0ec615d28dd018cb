/* log.h — one-line structured log events (logfmt) on stderr.
 *
 * Every line carries a level, and optionally source and table. Callers must never pass a
 * secret: secrets live only in config_source credentials and HTTP headers, which are never
 * logged (see http.c, which redacts). */
#ifndef CRM_LOG_H
#define CRM_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level level);
/* 1: one JSON object per line instead of logfmt. */
void log_set_json(int json);
/* A request id for this thread's next lines (0 = none): ties retries and errors to a request. */
void log_set_request_id(unsigned long id);
log_level log_get_level(void);
/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int log_level_from_name(const char *name);

/* Writes: ts=... level=... [source=...] [table=...] [req=...] msg="..." (or the same as JSON) */
void log_event(log_level level, const char *source, const char *table, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(src, tbl, ...) log_event(LOG_DEBUG, src, tbl, __VA_ARGS__)
#define log_info(src, tbl, ...)  log_event(LOG_INFO, src, tbl, __VA_ARGS__)
#define log_warn(src, tbl, ...)  log_event(LOG_WARN, src, tbl, __VA_ARGS__)
#define log_error(src, tbl, ...) log_event(LOG_ERROR, src, tbl, __VA_ARGS__)

#endif
