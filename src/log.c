/* log.c — logfmt lines on stderr, serialized so concurrent table threads never interleave. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static log_level min_level = LOG_INFO;
static int json_lines;
static _Thread_local unsigned long request_id;

void log_set_json(int json)
{
    json_lines = json;
}

void log_set_request_id(unsigned long id)
{
    request_id = id;
}
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level level)
{
    min_level = level;
}

log_level log_get_level(void)
{
    return min_level;
}

int log_level_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* A JSON/logfmt string literal: quotes, backslashes and control characters escaped. */
static void write_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static void write_json_line(const char *when, long ms, log_level level, const char *source,
                            const char *table, const char *msg)
{
    fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\"", when, ms, level_names[level]);
    if (source) {
        fputs(",\"source\":", stderr);
        write_quoted(stderr, source);
    }
    if (table) {
        fputs(",\"table\":", stderr);
        write_quoted(stderr, table);
    }
    if (request_id)
        fprintf(stderr, ",\"req\":%lu", request_id);
    fputs(",\"msg\":", stderr);
    write_quoted(stderr, msg);
    fputs("}\n", stderr);
}

void log_event(log_level level, const char *source, const char *table, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    if (json_lines) {
        write_json_line(when, ts.tv_nsec / 1000000, level, source, table, msg);
        pthread_mutex_unlock(&log_lock);
        return;
    }
    fprintf(stderr, "ts=%s.%03ldZ level=%s", when, ts.tv_nsec / 1000000, level_names[level]);
    if (source)
        fprintf(stderr, " source=%s", source);
    if (table)
        fprintf(stderr, " table=%s", table);
    if (request_id)
        fprintf(stderr, " req=%lu", request_id);
    fputs(" msg=", stderr);
    write_quoted(stderr, msg);
    fputc('\n', stderr);
    pthread_mutex_unlock(&log_lock);
}
