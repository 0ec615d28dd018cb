/* secret.c — CRM credentials from an environment variable or from a file (secret.h). A file
 * serves a mounted Kubernetes Secret (one file per key), where an environment variable would
 * need the Deployment to list every account's secret. */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

size_t secret_control_byte(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return (size_t)(p - (const unsigned char *)v) + 1;
    return 0;
}

char *secret_file_option(const char *env_option, char *out, size_t outlen)
{
    size_t n = strlen(env_option);
    if (n > 4 && strcmp(env_option + n - 4, "_env") == 0)
        n -= 4;
    snprintf(out, outlen, "%.*s_file", (int)n, env_option);
    return out;
}

/* Reads at most SECRET_FILE_MAX bytes of f into b; -1 with err set (naming path, never the
 * content) when it holds more, a NUL byte, or cannot be read. */
static int read_bounded(FILE *f, const char *path, buf *b, char *err, size_t errlen)
{
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > SECRET_FILE_MAX) {
            snprintf(err, errlen, "secret file %s is larger than 64 KiB (not a credential?)", path);
            return -1;
        }
        if (memchr(chunk, '\0', n)) {
            snprintf(err, errlen, "secret file %s contains a NUL byte", path);
            return -1;
        }
        buf_append(b, chunk, n);
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read secret file %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void strip_trailing_newlines(buf *b)
{
    while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
        b->data[--b->len] = '\0';
}

static int check_content(const buf *b, const char *path, char *err, size_t errlen)
{
    if (b->len == 0) {
        snprintf(err, errlen, "secret file %s is empty", path);
        return -1;
    }
    size_t bad = secret_control_byte(b->data);
    if (bad) {
        snprintf(err, errlen,
                 "secret file %s contains a control character (byte %zu of its content; a stray "
                 "newline?)",
                 path, bad);
        return -1;
    }
    return 0;
}

char *secret_read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read secret file %s: %s", path, strerror(errno));
        return NULL;
    }
    buf b;
    buf_init(&b);
    buf_append(&b, "", 0);
    int rc = read_bounded(f, path, &b, err, errlen);
    fclose(f);
    if (rc == 0)
        strip_trailing_newlines(&b);
    if (rc || check_content(&b, path, err, errlen)) {
        buf_free(&b);
        return NULL;
    }
    return b.data;
}
