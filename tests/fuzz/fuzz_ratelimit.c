/* fuzz_ratelimit.c — rate-limit signals read from response headers: the engine's defaults
 * (Retry-After, RateLimit-Reset, X-RateLimit-*) and every connector's own reader, on arbitrary
 * header lines. Input: [status selector]["name: value\n" lines...]. */
#include <stdint.h>

#include "fuzz_sources.h"
#include "http.h"
#include "log.h"

static fuzz_sources fs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level((log_level)(LOG_ERROR + 1));
    fuzz_sources_init(&fs, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const long statuses[] = {200, 429, 403, 503};
    http_response resp;
    http_response_init(&resp);
    resp.status = statuses[data[0] % 4];
    /* header lines as http.c stores them: "name: value", the name lower-cased */
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    char *lines[32];
    int n = 0;
    while (p < end && n < 32) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char *line = xmalloc(l + 1);
        memcpy(line, p, l);
        line[l] = '\0';
        for (char *c = line; *c && *c != ':'; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        lines[n++] = line;
        const char *colon = strchr(line, ':');
        if (colon)
            http_parse_retry_after(colon + 1, 1800000000000LL);
        p += l + 1;
    }
    resp.headers = lines;
    resp.n_headers = n;
    rate_signal sig;
    memset(&sig, 0, sizeof(sig));
    http_default_rate_signal(&resp, &sig);
    for (int k = 0; k < fs.n; k++) {
        const connector *c = source_connector(fs.src[k]);
        if (c->rate_signal) {
            memset(&sig, 0, sizeof(sig));
            c->rate_signal(fs.src[k], &resp, &sig);
        }
    }
    for (int i = 0; i < n; i++)
        free(lines[i]);
    resp.headers = NULL;
    resp.n_headers = 0;
    http_response_free(&resp);
    return 0;
}
