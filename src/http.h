/* http.h — the engine's HTTP client on libcurl.
 *
 * One http_client per table thread (its CURL handle keeps connections alive); every client of a
 * source shares that source's ratelimit. http_client_execute() owns retries: exponential backoff
 * with full jitter on transport errors/timeouts and 5xx, waits on 429 as told by Retry-After, the
 * standard rate-limit headers, or the connector's rate_signal_fn (every wait capped at
 * max_rate_wait_ms). Any other status is returned to the caller. Redirects are followed within the
 * request's origin only, so credentials never reach another host; a stop request aborts a transfer
 * in flight; a decoded body over max_response_bytes is an error. Secrets (auth user/password,
 * secret header lines, secret query parameters) are never written to logs or error strings: URLs
 * are redacted with http_redact_url() before printing. */
#ifndef CRM_HTTP_H
#define CRM_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"
#include "util.h"

#define HTTP_MAX_EXTRA_HEADERS 16

typedef struct http_request {
    const char *method;                    /* "GET" when NULL; "POST", "PUT" accepted */
    buf url;                               /* absolute URL with query string */
    buf body;                              /* request body (sent when len > 0 or method is POST) */
    const char *content_type;              /* defaults to application/json when a body is sent */
    char *headers[HTTP_MAX_EXTRA_HEADERS]; /* owned "Name: value" lines, not secret */
    int n_headers;
} http_request;

void http_request_init(http_request *req);
void http_request_free(http_request *req);
/* Copies `line` ("Name: value"); returns -1 when the header table is full. */
int http_request_add_header(http_request *req, const char *line);

typedef struct http_response {
    long status;    /* final HTTP status; 0 when no response was received */
    buf body;       /* decoded (gzip handled by curl) */
    char **headers; /* owned; "name: value" lines with lower-cased names */
    int n_headers;
    int attempts;    /* requests made, including retries */
    int64_t wait_ms; /* time spent in backoff and rate-limit waits */
} http_response;

void http_response_init(http_response *resp);
void http_response_free(http_response *resp);
/* Case-insensitive lookup; returns the value (trimmed) or NULL. Last occurrence wins. */
const char *http_response_header(const http_response *resp, const char *name);

/* What a connector reads from a response about rate limiting (see connector.h). */
typedef struct rate_signal {
    int64_t wait_ms;      /* > 0: the source must not send before this many ms from now */
    int budget_exhausted; /* 1: a long (e.g. daily) budget is spent; wait_ms says until when */
    /* The quota the response states for its endpoint, when the connector reads one: `limit`
     * (> 0) requests per window_ms, `remaining` (< 0: unknown) of them left. A table's endpoint
     * group limiter paces by it (ratelimit_learn); 0: none stated. */
    long long limit, remaining;
    int64_t window_ms;
} rate_signal;
/* arg: what the client was given with the function (the engine passes the source). */
typedef void (*rate_signal_fn)(void *arg, const http_response *resp, rate_signal *out);

/* Credentials applied to every request of a source. Strings are owned by the caller and must
 * outlive the clients. */
typedef struct http_auth {
    const char *basic_user;        /* HTTP Basic when non-NULL */
    const char *basic_password;    /* may be NULL (empty password) */
    const char *secret_headers[4]; /* "Name: value" lines, never logged */
    int n_secret_headers;
    const char *secret_params[4]; /* query parameter names whose values are redacted in logs */
    int n_secret_params;
} http_auth;

typedef struct http_options {
    long connect_timeout_ms;   /* default 10000 */
    long timeout_ms;           /* whole-request timeout, default 60000 */
    int max_retries;           /* transport errors and 5xx; default 6 */
    int max_rate_waits;        /* 429 responses waited out per request; default 30 */
    int64_t backoff_base_ms;   /* default 500 */
    int64_t backoff_max_ms;    /* default 60000 */
    int verify_tls;            /* default 1; only an explicit config setting turns it off */
    const char *ca_file;       /* optional CA bundle */
    const char *user_agent;    /* default "crmstream/<version>" */
    int64_t max_rate_wait_ms;  /* longest rate-limit wait an API may impose; default 1 h */
    size_t max_response_bytes; /* decoded body limit; default 64 MiB */
} http_options;

void http_options_defaults(http_options *opts);

typedef struct http_client http_client;

/* The client keeps pointers to opts, auth, rl and signal_arg: they must outlive it. signal (may
 * be NULL) is called with signal_arg. `source` is for logs. */
http_client *http_client_new(const http_options *opts, const http_auth *auth, ratelimit *rl,
                             rate_signal_fn signal, void *signal_arg, const char *source);
void http_client_free(http_client *c);

typedef enum {
    HTTP_OK = 0,         /* a response arrived; look at resp->status (may be 4xx) */
    HTTP_TRANSPORT = -1, /* retries exhausted on transport errors / 5xx; err says why */
    HTTP_STOPPED = -2,   /* *stop became non-zero while waiting */
    HTTP_BUDGET = -3,    /* the connector said a long budget is spent; resp->wait_ms... see err */
} http_result;

/* Performs req with retries. `stop` may be NULL. On HTTP_BUDGET, *resume_at_wall_ms (when not
 * NULL) is set to the wall-clock time at which the budget resets. err gets a one-line reason that
 * names the HTTP status and a body excerpt, never a secret. */
http_result http_client_execute(http_client *c, const http_request *req, http_response *resp,
                                volatile int *stop, int64_t *resume_at_wall_ms, char *err,
                                size_t errlen);

/* Closes the client's idle connections (a table idle until its next poll keeps no socket open,
 * which a server closes after its keep-alive timeout anyway). 0, or -1 logged when no new handle
 * could be made (the next request tries again). */
int http_client_close_connections(http_client *c);

/* How long (ms) the client's rate limiter would hold its next request now; 0 without one. */
int64_t http_client_send_delay(http_client *c);

/* Called after every attempt (retries included) with the HTTP status, or 0 for a transport
 * error, and the attempt's duration: the hook metrics count requests by status with. */
typedef void (*http_observer_fn)(void *arg, long status, int64_t elapsed_ms);
void http_client_set_observer(http_client *c, http_observer_fn fn, void *arg);
/* Counts (in *counter, may be NULL) rate-limit waits cut to opts->max_rate_wait_ms. */
void http_client_count_capped_waits(http_client *c, atomic_long *counter);

/* Backoff for attempt n (0-based): min(max, base * 2^n) scaled by a jitter factor in [0.5, 1.0]
 * taken from `rand01` (0..1). Pure, for unit tests. */
int64_t http_backoff_ms(const http_options *opts, int attempt, double rand01);

/* Parses Retry-After (delta seconds or an HTTP date) relative to now_wall_ms; -1 when invalid. */
int64_t http_parse_retry_after(const char *value, int64_t now_wall_ms);

/* Parses the IETF RateLimit header, both drafts ("limit=100, remaining=0, reset=30", `;` or `,`
 * between them, and "\"policy\";r=0;t=30"): fills *limit, *remaining, *reset_s (seconds) for
 * what it finds and leaves the others untouched. */
void http_parse_ratelimit(const char *value, long long *limit, long long *remaining,
                          double *reset_s);
/* Engine defaults for rate signals: Retry-After, RateLimit-Reset / X-RateLimit-Reset
 * (delta seconds, or epoch seconds when larger than a year), and a remaining count of 0. */
void http_default_rate_signal(const http_response *resp, rate_signal *out);

/* Copies url to out with the values of auth's secret params (and any param whose name contains
 * "token", "key", "secret" or "password") replaced by "***". */
void http_redact_url(const char *url, const http_auth *auth, char *out, size_t outlen);

/* Appends up to max bytes of body to out, with control characters replaced, for error lines. */
void http_body_excerpt(const http_response *resp, char *out, size_t outlen);

#endif
