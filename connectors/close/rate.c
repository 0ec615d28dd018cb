/* rate.c — what Close's responses say about its rate limits (close-api.md §5): the quota of the
 * endpoint group a response belongs to, which the group's limiter paces by, and how long a 429
 * asks to wait.
 *
 * Close limits each endpoint group per API key (and per organization, 3x) to `limit` requests
 * per window. The quota is stated by `ratelimit: limit=N; remaining=N; reset=N` (semicolons
 * observed, commas in the official client's tests), by the legacy X-Rate-Limit-Limit/-Remaining
 * headers, and by a 429 body's rate_limit and rate_window (seconds; at the top level or under
 * "error", numbers or numeric strings). The headers name no window: it is 1 s, as in Close's
 * documented example (20 requests per second per key) and the recorded "60;w=1" policy, unless
 * a 429 body says otherwise. */
#include <math.h>
#include <stdlib.h>

#include "close_internal.h"

/* Close's window when a response does not state it. */
#define CLOSE_DEFAULT_WINDOW_MS 1000

/* Waits past this many seconds (30 years) are clamped before converting to milliseconds: a
 * header of a million digits must not overflow the conversion (the engine caps waits anyway). */
#define MAX_WAIT_SECONDS 1e9

/* A number or numeric string; -1 otherwise. */
static double seconds_value(const json_t *v)
{
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v)) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (end != json_string_value(v))
            return d;
    }
    return -1;
}

static int64_t whole_seconds_ms(double s)
{
    double up = ceil(s < MAX_WAIT_SECONDS ? s : MAX_WAIT_SECONDS);
    return (int64_t)(up < 1 ? 1 : up) * 1000;
}

/* The object of a 429 body that holds rate_reset: "error", or the body itself. */
static const json_t *rate_body_of(const json_t *body)
{
    const json_t *err = json_object_get(body, "error");
    if (json_is_object(err) && json_object_get(err, "rate_reset"))
        return err;
    return body;
}

/* The quota stated by the headers: the RateLimit header, else the legacy ones. */
static void header_quota(const http_response *resp, rate_signal *out)
{
    const char *ietf = http_response_header(resp, "ratelimit");
    long long limit = -1, remaining = -1;
    double reset = -1;
    if (ietf)
        http_parse_ratelimit(ietf, &limit, &remaining, &reset);
    if (limit <= 0) {
        const char *l = http_response_header(resp, "x-rate-limit-limit");
        const char *r = http_response_header(resp, "x-rate-limit-remaining");
        limit = l ? atoll(l) : -1;
        remaining = r && r[0] >= '0' && r[0] <= '9' ? atoll(r) : -1;
    }
    if (limit > 0) {
        out->limit = limit;
        out->remaining = remaining;
        out->window_ms = CLOSE_DEFAULT_WINDOW_MS;
    }
}

/* A 429 body: the wait it asks for (-1: none) and the quota it states. */
static double body_rate_reset(const http_response *resp, rate_signal *out)
{
    json_error_t je;
    json_t *body = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, &je);
    if (!body)
        return -1;
    const json_t *rb = rate_body_of(body);
    double s = seconds_value(json_object_get(rb, "rate_reset"));
    double limit = seconds_value(json_object_get(rb, "rate_limit"));
    double window = seconds_value(json_object_get(rb, "rate_window"));
    if (limit >= 1 && limit < 1e9 && window > 0 && window < 1e6) {
        out->limit = (long long)limit;
        out->remaining = 0;
        out->window_ms = (int64_t)ceil(window * 1000.0);
    }
    json_decref(body);
    return s;
}

void close_rate_signal(source *src, const http_response *resp, rate_signal *out)
{
    (void)src;
    out->wait_ms = 0;
    out->budget_exhausted = 0;
    header_quota(resp, out);
    const char *legacy_left = http_response_header(resp, "x-rate-limit-remaining");
    const char *legacy_reset = http_response_header(resp, "x-rate-limit-reset");
    double legacy = legacy_reset ? strtod(legacy_reset, NULL) : -1;
    if (resp->status == 429) {
        double s = body_rate_reset(resp, out);
        if (s < 0)
            s = legacy;
        if (s >= 0)
            out->wait_ms = whole_seconds_ms(s);
        return; /* else: the engine reads ratelimit / Retry-After */
    }
    if (legacy_left && atoll(legacy_left) == 0 && legacy >= 0 && legacy_left[0] == '0')
        out->wait_ms =
            (int64_t)ceil((legacy < MAX_WAIT_SECONDS ? legacy : MAX_WAIT_SECONDS) * 1000.0);
}
