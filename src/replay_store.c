/* replay_store.c — picks the replay store backend from the --to URL, and the URL as it may be
 * shown (without a password). */
#include "replay_store.h"

#include <stdio.h>
#include <string.h>

static int is_postgres(const char *url)
{
    return !strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11);
}

replay_store *replay_store_open(const char *url, const char *password_env, char *err, size_t errlen)
{
    if (is_postgres(url))
        return replay_pg_open(url, password_env, err, errlen);
    if (!strncmp(url, "sqlite:", 7))
        url += 7;
    if (!*url || strstr(url, "://")) {
        snprintf(err, errlen, "--to %s: expected sqlite:PATH or postgresql://...", url);
        return NULL;
    }
    return replay_sqlite_open(url, err, errlen);
}

void replay_store_redact(const char *url, char *out, size_t outlen)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!colon) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
}
