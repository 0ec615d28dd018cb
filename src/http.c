/* http.c — the engine's HTTP client on libcurl (see http.h).
 *
 * One CURL easy handle per client, reused across requests so connections stay alive. The retry
 * policy lives in http_client_execute(): transport errors and 5xx back off exponentially with
 * jitter on this client only; 429 pauses the source's shared ratelimit so every table of the
 * source waits; rate-limit headers on other responses pause the source proactively. Nothing here
 * ever prints a credential: URLs go through http_redact_url() and auth never reaches a string.
 *
 * curl_global_init() is the caller's job (the daemon's main, or a test's main). */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#ifndef CRMSTREAM_VERSION
#define CRMSTREAM_VERSION "0.1"
#endif

#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_TIMEOUT_MS         60000L
#define DEFAULT_MAX_RATE_WAIT_MS   3600000LL
#define DEFAULT_MAX_RESPONSE_BYTES ((size_t)64 << 20)
#define MAX_REDIRECTS              5L
#define EXCERPT_MAX                200
#define REDACTED_URL_MAX           2048

/* ---- requests and responses ---- */

void http_request_init(http_request *req)
{
    memset(req, 0, sizeof(*req));
    buf_init(&req->url);
    buf_init(&req->body);
}

void http_request_free(http_request *req)
{
    buf_free(&req->url);
    buf_free(&req->body);
    for (int i = 0; i < req->n_headers; i++)
        free(req->headers[i]);
    req->n_headers = 0;
}

int http_request_add_header(http_request *req, const char *line)
{
    if (req->n_headers >= HTTP_MAX_EXTRA_HEADERS)
        return -1;
    req->headers[req->n_headers++] = xstrdup(line);
    return 0;
}

void http_response_init(http_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body);
}

static void response_clear_headers(http_response *resp)
{
    for (int i = 0; i < resp->n_headers; i++)
        free(resp->headers[i]);
    free(resp->headers);
    resp->headers = NULL;
    resp->n_headers = 0;
}

void http_response_free(http_response *resp)
{
    response_clear_headers(resp);
    buf_free(&resp->body);
    http_response_init(resp);
}

const char *http_response_header(const http_response *resp, const char *name)
{
    size_t n = strlen(name);
    for (int i = resp->n_headers - 1; i >= 0; i--) {
        const char *h = resp->headers[i];
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            const char *v = h + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
    }
    return NULL;
}

/* ---- options ---- */

void http_options_defaults(http_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    opts->timeout_ms = DEFAULT_TIMEOUT_MS;
    opts->max_retries = 6;
    opts->max_rate_waits = 30;
    opts->backoff_base_ms = 500;
    opts->backoff_max_ms = 60000;
    opts->verify_tls = 1;
    opts->ca_file = NULL;
    opts->user_agent = "crmstream/" CRMSTREAM_VERSION;
    opts->max_rate_wait_ms = DEFAULT_MAX_RATE_WAIT_MS;
    opts->max_response_bytes = DEFAULT_MAX_RESPONSE_BYTES;
}

int64_t http_backoff_ms(const http_options *opts, int attempt, double rand01)
{
    int64_t base = opts->backoff_base_ms > 0 ? opts->backoff_base_ms : 0;
    int64_t max = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : base;
    int64_t d = base;
    for (int i = 0; i < attempt && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    if (!(rand01 >= 0.0)) /* also catches NaN */
        rand01 = 0.0;
    if (rand01 > 1.0)
        rand01 = 1.0;
    return (int64_t)((double)d * (0.5 + 0.5 * rand01));
}

/* ---- header parsing ---- */

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parses a non-negative decimal number (fraction allowed) that fills the string up to trailing
 * whitespace. -1 on anything else. */
static double parse_number(const char *s)
{
    s = skip_ws(s);
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return -1;
    if (*skip_ws(end) != '\0')
        return -1;
    return v;
}

static int64_t seconds_to_ms(double secs)
{
    double ms = ceil(secs * 1000.0);
    if (ms > 9.0e15)
        ms = 9.0e15;
    return (int64_t)ms;
}

int64_t http_parse_retry_after(const char *value, int64_t now_wall_ms)
{
    if (!value)
        return -1;
    const char *v = skip_ws(value);
    if (*v == '\0')
        return -1;
    if (isdigit((unsigned char)*v)) {
        double secs = parse_number(v);
        return secs < 0 ? -1 : seconds_to_ms(secs);
    }
    /* An HTTP date (IMF-fixdate; curl also accepts the obsolete RFC 850 and asctime forms). Only
     * accept strings that look like dates: a weekday name first. */
    if (!isalpha((unsigned char)*v))
        return -1;
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    if (t <= 0)
        return 0;                                        /* before 1970: past */
    int64_t ms = seconds_to_ms((double)t) - now_wall_ms; /* clamped: a date in year 2e9 */
    return ms > 0 ? ms : 0;
}

/* RateLimit-Reset style: delta seconds, or epoch seconds when the number is implausibly large
 * for a delta (more than a year). -1 when absent or invalid. */
static int64_t parse_reset(const char *value, int64_t now_wall)
{
    if (!value)
        return -1;
    double v = parse_number(value);
    if (v < 0)
        return -1;
    if (v > 86400.0 * 365) {
        int64_t ms = seconds_to_ms(v) - now_wall;
        return ms > 0 ? ms : 0;
    }
    return seconds_to_ms(v);
}

static long long parse_count(const char *value)
{
    if (!value)
        return -1;
    const char *v = skip_ws(value);
    if (!isdigit((unsigned char)*v))
        return -1;
    return strtoll(v, NULL, 10);
}

void http_parse_ratelimit(const char *value, long long *limit, long long *remaining,
                          double *reset_s)
{
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == ';')
            p++;
        const char *key = p;
        while (*p && *p != '=' && *p != ',' && *p != ';')
            p++;
        size_t klen = (size_t)(p - key);
        while (klen && (key[klen - 1] == ' ' || key[klen - 1] == '\t'))
            klen--;
        if (*p != '=')
            continue;
        p++;
        char val[64];
        size_t n = 0;
        while (*p && *p != ',' && *p != ';') {
            if (n + 1 < sizeof(val))
                val[n++] = *p;
            p++;
        }
        val[n] = '\0';
        if (klen == 5 && strncasecmp(key, "limit", 5) == 0) {
            long long l = parse_count(val);
            if (l >= 0)
                *limit = l;
        } else if ((klen == 9 && strncasecmp(key, "remaining", 9) == 0) ||
                   (klen == 1 && (key[0] == 'r' || key[0] == 'R'))) {
            long long r = parse_count(val);
            if (r >= 0)
                *remaining = r;
        } else if ((klen == 5 && strncasecmp(key, "reset", 5) == 0) ||
                   (klen == 1 && (key[0] == 't' || key[0] == 'T'))) {
            double t = parse_number(val);
            if (t >= 0)
                *reset_s = t;
        }
    }
}

void http_default_rate_signal(const http_response *resp, rate_signal *out)
{
    out->wait_ms = 0;
    out->budget_exhausted = 0;
    int64_t now = now_wall_ms();

    int64_t retry_after = http_parse_retry_after(http_response_header(resp, "retry-after"), now);
    const char *reset_h = http_response_header(resp, "ratelimit-reset");
    if (!reset_h)
        reset_h = http_response_header(resp, "x-ratelimit-reset");
    int64_t reset = parse_reset(reset_h, now);
    const char *rem_h = http_response_header(resp, "ratelimit-remaining");
    if (!rem_h)
        rem_h = http_response_header(resp, "x-ratelimit-remaining");
    long long remaining = parse_count(rem_h);

    const char *ietf = http_response_header(resp, "ratelimit");
    if (ietf) {
        long long l = -1, r = -1;
        double t = -1;
        http_parse_ratelimit(ietf, &l, &r, &t);
        if (r >= 0 && remaining < 0)
            remaining = r;
        if (t >= 0 && reset < 0)
            reset = seconds_to_ms(t); /* the IETF reset is always delta seconds */
    }

    if (resp->status == 429) {
        if (retry_after > 0)
            out->wait_ms = retry_after;
        else if (reset > 0)
            out->wait_ms = reset;
    } else if (remaining == 0) {
        if (reset > 0)
            out->wait_ms = reset;
        else if (retry_after > 0)
            out->wait_ms = retry_after;
    }
}

/* ---- redaction and excerpts ---- */

static int name_is_secret(const char *name, size_t len, const http_auth *auth)
{
    static const char *words[] = {"token", "key", "secret", "password"};
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        size_t wl = strlen(words[w]);
        for (size_t i = 0; i + wl <= len; i++)
            if (strncasecmp(name + i, words[w], wl) == 0)
                return 1;
    }
    if (auth) {
        for (int i = 0; i < auth->n_secret_params && i < 4; i++) {
            const char *s = auth->secret_params[i];
            if (s && strlen(s) == len && strncasecmp(s, name, len) == 0)
                return 1;
        }
    }
    return 0;
}

typedef struct {
    char *out;
    size_t cap, len;
} sink;

static void sink_put(sink *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n && s->len + 1 < s->cap; i++)
        s->out[s->len++] = p[i];
    s->out[s->len] = '\0';
}

void http_redact_url(const char *url, const http_auth *auth, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return;
    sink s = {out, outlen, 0};
    out[0] = '\0';
    if (!url)
        return;
    const char *p = url;
    /* scheme://[userinfo@]authority */
    const char *scheme_end = strstr(p, "://");
    if (scheme_end && !memchr(p, '?', (size_t)(scheme_end - p)) &&
        !memchr(p, '/', (size_t)(scheme_end - p))) {
        const char *auth_start = scheme_end + 3;
        size_t alen = strcspn(auth_start, "/?#");
        const char *at = NULL;
        for (size_t i = 0; i < alen; i++)
            if (auth_start[i] == '@')
                at = auth_start + i;
        sink_put(&s, p, (size_t)(auth_start - p));
        if (at) {
            sink_put(&s, "***@", 4);
            p = at + 1;
        } else {
            p = auth_start;
        }
    }
    /* path up to the query */
    size_t plen = strcspn(p, "?#");
    sink_put(&s, p, plen);
    p += plen;
    if (*p != '?') {
        sink_put(&s, p, strlen(p));
        return;
    }
    sink_put(&s, "?", 1);
    p++;
    while (*p && *p != '#') {
        size_t plen2 = strcspn(p, "&#");
        size_t nlen = strcspn(p, "=&#");
        sink_put(&s, p, nlen);
        if (nlen < plen2) { /* has a value */
            sink_put(&s, "=", 1);
            if (name_is_secret(p, nlen, auth))
                sink_put(&s, "***", 3);
            else
                sink_put(&s, p + nlen + 1, plen2 - nlen - 1);
        }
        p += plen2;
        if (*p == '&') {
            sink_put(&s, "&", 1);
            p++;
        }
    }
    sink_put(&s, p, strlen(p)); /* fragment */
}

void http_body_excerpt(const http_response *resp, char *out, size_t outlen)
{
    static const char ellipsis[] = "\xe2\x80\xa6"; /* "…" */
    if (!out || outlen == 0)
        return;
    out[0] = '\0';
    const unsigned char *b = (const unsigned char *)resp->body.data;
    size_t len = resp->body.len;
    while (len && b && isspace(*b)) {
        b++;
        len--;
    }
    while (len && isspace(b[len - 1]))
        len--;
    if (!b || len == 0) {
        snprintf(out, outlen, "(empty body)");
        return;
    }
    const size_t ell = sizeof(ellipsis) - 1;
    size_t room = outlen - 1; /* bytes available before the NUL */
    size_t n = len;
    int cut = 0;
    if (len > EXCERPT_MAX || len > room) {
        cut = 1;
        n = EXCERPT_MAX;
        if (n + ell > room) /* keep room for the ellipsis when there is any */
            n = room > ell ? room - ell : room;
        while (n > 0 && (b[n] & 0xC0) == 0x80) /* do not split a UTF-8 sequence */
            n--;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (b[i] < 0x20 || b[i] == 0x7f) ? ' ' : (char)b[i];
    out[n] = '\0';
    if (cut && n + ell <= room)
        memcpy(out + n, ellipsis, sizeof(ellipsis)); /* includes the NUL */
}

/* ---- the client ---- */

struct http_client {
    CURL *curl;
    const http_options *opts;
    const http_auth *auth;
    ratelimit *rl;
    rate_signal_fn signal;
    void *signal_arg;
    char *source;
    uint64_t rng;
    http_response *cur; /* response being filled by the callbacks */
    char errbuf[CURL_ERROR_SIZE];
    http_observer_fn observe;
    void *observe_arg;
    atomic_long *capped_waits;
    volatile int *stop; /* of the request in progress: the progress callback aborts on it */
    int too_large;      /* the body passed max_response_bytes: the write callback refused it */
};

void http_client_count_capped_waits(http_client *c, atomic_long *counter)
{
    c->capped_waits = counter;
}

void http_client_set_observer(http_client *c, http_observer_fn fn, void *arg)
{
    c->observe = fn;
    c->observe_arg = arg;
}

int64_t http_client_send_delay(http_client *c)
{
    return c->rl ? ratelimit_peek_delay(c->rl, now_monotonic_ms()) : 0;
}

static void observe_attempt(http_client *c, long status, int64_t elapsed_ms)
{
    if (c->observe)
        c->observe(c->observe_arg, status, elapsed_ms);
}

static size_t max_body(const http_client *c)
{
    return c->opts->max_response_bytes > 0 ? c->opts->max_response_bytes
                                           : DEFAULT_MAX_RESPONSE_BYTES;
}

/* Bodies arrive decoded (gzip, br...): the limit holds for what we keep in memory. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    http_client *c = userdata;
    size_t n = size * nmemb;
    if (c->cur->body.len + n > max_body(c)) {
        c->too_large = 1;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    buf_append(&c->cur->body, data, n);
    return n;
}

/* Called by curl about once a second even when nothing moves: a stop aborts the transfer. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const http_client *c = userdata;
    return c->stop && flag_is_set(c->stop);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    http_client *c = userdata;
    http_response *r = c->cur;
    size_t n = size * nmemb;
    size_t len = n;
    while (len && (data[len - 1] == '\r' || data[len - 1] == '\n'))
        len--;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response begins (redirect hop, 100-continue): keep only the final one's. */
        response_clear_headers(r);
        return n;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon || colon == data)
        return n;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1;
    const char *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    char *line = xmalloc(nlen + 2 + vlen + 1);
    for (size_t i = 0; i < nlen; i++)
        line[i] = (char)tolower((unsigned char)data[i]);
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, v, vlen);
    line[nlen + 2 + vlen] = '\0';
    r->headers = xrealloc(r->headers, sizeof(char *) * (size_t)(r->n_headers + 1));
    r->headers[r->n_headers++] = line;
    return n;
}

static double next_rand01(http_client *c)
{
    /* xorshift64* */
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

#define SETOPT(c, opt, val)                                                                        \
    do {                                                                                           \
        CURLcode rc_ = curl_easy_setopt((c)->curl, opt, val);                                      \
        if (rc_ != CURLE_OK) {                                                                     \
            setopt_failed(c, #opt, rc_);                                                           \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static void setopt_failed(http_client *c, const char *opt, CURLcode rc)
{
    log_error(c->source, NULL, "curl_easy_setopt(%s) failed: %s", opt, curl_easy_strerror(rc));
}

/* A new easy handle with the client's options (its own connection cache). 0, or -1 logged. */
static int open_handle(http_client *c)
{
    const http_options *opts = c->opts;
    c->curl = curl_easy_init();
    if (!c->curl) {
        log_error(c->source, NULL, "curl_easy_init failed");
        return -1;
    }
    long connect_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    long total_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    SETOPT(c, CURLOPT_NOSIGNAL, 1L);
    SETOPT(c, CURLOPT_ERRORBUFFER, c->errbuf);
    SETOPT(c, CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    SETOPT(c, CURLOPT_TIMEOUT_MS, total_ms);
    /* Redirects are followed by http_client_execute(), within the origin (credentials). */
    SETOPT(c, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(c, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(c, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(c, CURLOPT_SSL_VERIFYPEER, opts->verify_tls == 0 ? 0L : 1L);
    SETOPT(c, CURLOPT_SSL_VERIFYHOST, opts->verify_tls == 0 ? 0L : 2L);
    if (opts->ca_file && *opts->ca_file)
        SETOPT(c, CURLOPT_CAINFO, opts->ca_file);
    SETOPT(c, CURLOPT_USERAGENT,
           opts->user_agent && *opts->user_agent ? opts->user_agent
                                                 : "crmstream/" CRMSTREAM_VERSION);
    SETOPT(c, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(c, CURLOPT_WRITEDATA, c);
    SETOPT(c, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(c, CURLOPT_HEADERDATA, c);
    SETOPT(c, CURLOPT_NOPROGRESS, 0L);
    SETOPT(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(c, CURLOPT_XFERINFODATA, c);
    if (c->auth && c->auth->basic_user) {
        SETOPT(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(c, CURLOPT_USERNAME, c->auth->basic_user);
        SETOPT(c, CURLOPT_PASSWORD, c->auth->basic_password ? c->auth->basic_password : "");
    }
    return 0;
fail:
    curl_easy_cleanup(c->curl);
    c->curl = NULL;
    return -1;
}

http_client *http_client_new(const http_options *opts, const http_auth *auth, ratelimit *rl,
                             rate_signal_fn signal, void *signal_arg, const char *source)
{
    http_client *c = xcalloc(1, sizeof(*c));
    c->opts = opts;
    c->auth = auth;
    c->rl = rl;
    c->signal = signal;
    c->signal_arg = signal_arg;
    c->source = xstrdup(source ? source : "-");
    c->rng = (uint64_t)now_monotonic_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)c ^
             (uint64_t)now_wall_ms();
    if (c->rng == 0)
        c->rng = 0x853c49e6748fea9bULL;
    if (open_handle(c)) {
        http_client_free(c);
        return NULL;
    }
    if (opts->verify_tls == 0)
        log_warn(c->source, NULL, "TLS certificate verification is disabled");
    return c;
}

int http_client_close_connections(http_client *c)
{
    curl_easy_cleanup(c->curl);
    c->curl = NULL;
    return open_handle(c);
}

void http_client_free(http_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->source);
    free(c);
}

static int has_header(const http_request *req, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->n_headers; i++)
        if (req->headers[i] && strncasecmp(req->headers[i], name, n) == 0 &&
            req->headers[i][n] == ':')
            return 1;
    return 0;
}

static int slist_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l)
        return -1;
    *list = l;
    return 0;
}

/* Sets the per-request options. 0, or -1 with err. */
static int prepare(http_client *c, const http_request *req, const char *method,
                   struct curl_slist **hdrs, char *err, size_t errlen)
{
    const char *what = "CURLOPT_URL";
    CURLcode rc = CURLE_OK;
    int send_body = req->body.len > 0 || strcmp(method, "POST") == 0;
    int head = strcmp(method, "HEAD") == 0;

    for (int i = 0; i < req->n_headers; i++)
        if (req->headers[i] && slist_add(hdrs, req->headers[i]))
            goto oom;
    if (send_body && !has_header(req, "Content-Type")) {
        char ct[256];
        snprintf(ct, sizeof(ct), "Content-Type: %s",
                 req->content_type ? req->content_type : "application/json");
        if (slist_add(hdrs, ct))
            goto oom;
    }
    if (send_body && slist_add(hdrs, "Expect:"))
        goto oom;
    if (c->auth)
        for (int i = 0; i < c->auth->n_secret_headers && i < 4; i++)
            if (c->auth->secret_headers[i] && slist_add(hdrs, c->auth->secret_headers[i]))
                goto oom;

#define TRY(opt, val)                                                                              \
    do {                                                                                           \
        what = #opt;                                                                               \
        if ((rc = curl_easy_setopt(c->curl, opt, val)) != CURLE_OK)                                \
            goto bad;                                                                              \
    } while (0)
    TRY(CURLOPT_URL, req->url.data ? req->url.data : "");
    TRY(CURLOPT_HTTPHEADER, *hdrs);
    TRY(CURLOPT_NOBODY, head ? 1L : 0L);
    if (!head)
        TRY(CURLOPT_HTTPGET, 1L);
    TRY(CURLOPT_CUSTOMREQUEST, (char *)NULL);
    if (head) {
        /* NOBODY already made it a HEAD request */
    } else if (send_body) {
        TRY(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
        TRY(CURLOPT_POSTFIELDS, req->body.data ? req->body.data : "");
        if (strcmp(method, "POST") != 0) /* PUT, PATCH, ...: kept across redirects too */
            TRY(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        TRY(CURLOPT_CUSTOMREQUEST, method);
    }
#undef TRY
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory building headers", method);
    return -1;
bad:
    snprintf(err, errlen, "%s: curl_easy_setopt(%s) failed: %s", method, what,
             curl_easy_strerror(rc));
    return -1;
}

/* Transport errors worth retrying, with a short name for error lines; NULL when not retryable. */
static const char *transport_kind(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_CONNECT:
        return "connection failed";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "name resolution failed";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return "connection error";
    case CURLE_PARTIAL_FILE:
        return "partial response";
    case CURLE_GOT_NOTHING:
        return "empty reply";
    case CURLE_SSL_CONNECT_ERROR:
        return "TLS handshake failed";
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return "HTTP/2 error";
    case CURLE_BAD_CONTENT_ENCODING:
        return "bad content encoding";
    default:
        return NULL;
    }
}

static void reset_attempt(http_response *resp)
{
    resp->status = 0;
    response_clear_headers(resp);
    buf_reset(&resp->body);
}

static void read_signal(http_client *c, const http_response *resp, rate_signal *sig)
{
    memset(sig, 0, sizeof(*sig));
    sig->remaining = -1;
    if (c->signal)
        c->signal(c->signal_arg, resp, sig);
    if (!c->signal || (sig->wait_ms <= 0 && !sig->budget_exhausted))
        http_default_rate_signal(resp, sig);
}

/* A wait the API asked for, cut to max_rate_wait_ms (logged and counted): a hostile or broken
 * Retry-After / reset header must not pause a source for years. */
static int64_t capped_wait(http_client *c, int64_t wait_ms, long status, const char *method,
                           const char *url)
{
    int64_t max =
        c->opts->max_rate_wait_ms > 0 ? c->opts->max_rate_wait_ms : DEFAULT_MAX_RATE_WAIT_MS;
    if (wait_ms <= max)
        return wait_ms;
    log_warn(c->source, NULL,
             "HTTP %ld from %s %s asks to wait %g s; waiting max_rate_limit_wait (%g s) instead",
             status, method, url, (double)wait_ms / 1000.0, (double)max / 1000.0);
    if (c->capped_waits)
        atomic_fetch_add(c->capped_waits, 1);
    return max;
}

static int is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* "scheme://host:port" of url, lower-cased, default ports made explicit; -1 when unparseable. */
static int url_origin(const char *url, char *out, size_t outlen)
{
    CURLU *u = curl_url();
    if (!u)
        return -1;
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        snprintf(out, outlen, "%s://%s:%s", scheme, host, port);
        for (char *p = out; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        rc = 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* One attempt: performs the request and follows redirects that stay within the request's origin
 * (same scheme, host and port), with the same method, body and credentials. A redirect to
 * another origin is refused, so the secret headers, Basic credentials and the URL's secret
 * parameters never reach another host (nor https downgrade to http). 0 with *rc (and *status
 * when CURLE_OK), or -1 with err set for a refused redirect. */
static int perform(http_client *c, const http_request *req, const char *method, const char *url,
                   CURLcode *rc, long *status, char *err, size_t errlen)
{
    char origin[512] = "", target[512];
    for (int hops = 0;; hops++) {
        *rc = curl_easy_perform(c->curl);
        if (*rc != CURLE_OK)
            return 0;
        CURLcode irc = curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
        if (irc != CURLE_OK) {
            snprintf(err, errlen, "%s %s: curl_easy_getinfo failed: %s", method, url,
                     curl_easy_strerror(irc));
            return -1;
        }
        char *next = NULL;
        if (!is_redirect(*status) ||
            curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || !next)
            return 0;
        char to[REDACTED_URL_MAX];
        http_redact_url(next, c->auth, to, sizeof(to));
        if (!origin[0] && url_origin(req->url.data ? req->url.data : "", origin, sizeof(origin)))
            snprintf(origin, sizeof(origin), "?");
        if (url_origin(next, target, sizeof(target)) || strcmp(origin, target) != 0) {
            snprintf(err, errlen,
                     "%s %s: HTTP %ld redirects to %s, another origin: refused (credentials are "
                     "sent to %s only)",
                     method, url, *status, to, origin);
            return -1;
        }
        if (hops >= (int)MAX_REDIRECTS) {
            snprintf(err, errlen, "%s %s: more than %ld redirects (last to %s)", method, url,
                     MAX_REDIRECTS, to);
            return -1;
        }
        if ((irc = curl_easy_setopt(c->curl, CURLOPT_URL, next)) != CURLE_OK) {
            snprintf(err, errlen, "%s %s: curl_easy_setopt(CURLOPT_URL) failed: %s", method, url,
                     curl_easy_strerror(irc));
            return -1;
        }
        reset_attempt(c->cur);
    }
}

/* One call's retry bookkeeping, shared by the functions that judge each attempt's outcome. */
typedef struct exec_call {
    http_client *c;
    http_response *resp;
    volatile int *stop;
    int64_t *resume_at_wall_ms;
    const char *method;
    char url[REDACTED_URL_MAX]; /* redacted: safe for logs and errors */
    int max_retries, max_rate_waits;
    int failures, rate_waits;
    char *err;
    size_t errlen;
} exec_call;

/* What the driver does after an attempt: return `result`, or wait `backoff_ms` and retry. */
typedef struct exec_step {
    int done;
    http_result result;
    int64_t backoff_ms;
} exec_step;

static exec_step step_done(http_result result)
{
    return (exec_step){.done = 1, .result = result};
}

static exec_step step_retry_after(int64_t backoff_ms)
{
    return (exec_step){.done = 0, .backoff_ms = backoff_ms};
}

static exec_step fail_stopped(exec_call *x)
{
    snprintf(x->err, x->errlen, "%s %s: stopped", x->method, x->url);
    return step_done(HTTP_STOPPED);
}

/* Fails the call with "<what>: <body excerpt>" after the method and URL. */
static exec_step fail_with_excerpt(exec_call *x, http_result result, const char *what)
{
    char ex[EXCERPT_MAX + 8];
    http_body_excerpt(x->resp, ex, sizeof(ex));
    snprintf(x->err, x->errlen, "%s %s: %s: %s", x->method, x->url, what, ex);
    return step_done(result);
}

/* curl failed (connect, timeout, reset...): retry the retriable kinds within max_retries. */
static exec_step judge_transport_failure(exec_call *x, CURLcode rc)
{
    http_client *c = x->c;
    const char *kind = transport_kind(rc);
    const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    reset_attempt(x->resp); /* a partial body is no response */
    if (!kind || ++x->failures > x->max_retries) {
        snprintf(x->err, x->errlen, "%s %s: %s after %d attempt%s (%s)", x->method, x->url,
                 kind ? kind : curl_easy_strerror(rc), x->resp->attempts,
                 x->resp->attempts == 1 ? "" : "s", detail);
        return step_done(HTTP_TRANSPORT);
    }
    int64_t backoff = http_backoff_ms(c->opts, x->failures - 1, next_rand01(c));
    log_warn(c->source, NULL, "%s %s: %s (attempt %d of %d); retrying in %lld ms", x->method,
             x->url, kind, x->failures, x->max_retries + 1, (long long)backoff);
    return step_retry_after(backoff);
}

/* The connector says a long budget (a day's quota...) is spent: pause the whole source. A good
 * response is still returned; an error response fails the call with HTTP_BUDGET. */
static exec_step judge_budget_exhausted(exec_call *x, long status, int64_t wait_ms)
{
    http_client *c = x->c;
    int64_t wait = wait_ms > 0 ? wait_ms : c->opts->backoff_max_ms;
    if (c->rl)
        ratelimit_pause(c->rl, wait);
    log_warn(c->source, NULL,
             "API budget exhausted (HTTP %ld from %s %s); source paused for %lld ms", status,
             x->method, x->url, (long long)wait);
    if (status >= 200 && status <= 299)
        return step_done(HTTP_OK); /* the response itself is good; the next request waits */
    if (x->resume_at_wall_ms)
        *x->resume_at_wall_ms = now_wall_ms() + wait;
    char what[96];
    snprintf(what, sizeof(what), "HTTP %ld, API budget exhausted for %lld s", status,
             (long long)((wait + 999) / 1000));
    return fail_with_excerpt(x, HTTP_BUDGET, what);
}

/* HTTP 429: wait what the API asks (or back off), at most max_rate_waits times. */
static exec_step judge_rate_limited(exec_call *x, int64_t wait_ms)
{
    http_client *c = x->c;
    int64_t wait = wait_ms > 0 ? wait_ms : http_backoff_ms(c->opts, x->rate_waits, next_rand01(c));
    if (++x->rate_waits > x->max_rate_waits) {
        char what[96];
        snprintf(what, sizeof(what), "HTTP 429 after %d attempts (%d rate-limit waits)",
                 x->resp->attempts, x->rate_waits - 1);
        return fail_with_excerpt(x, HTTP_TRANSPORT, what);
    }
    log_warn(c->source, NULL,
             "rate limited (HTTP 429 from %s %s); source waits %lld ms (wait %d of %d)", x->method,
             x->url, (long long)wait, x->rate_waits, x->max_rate_waits);
    if (!c->rl)
        return step_retry_after(wait);
    ratelimit_pause(c->rl, wait);
    return step_retry_after(0);
}

/* HTTP 5xx: retry within max_retries with backoff, honouring Retry-After within the cap. */
static exec_step judge_server_error(exec_call *x, long status, int64_t wait_ms)
{
    http_client *c = x->c;
    const http_options *o = c->opts;
    if (wait_ms > 0 && c->rl) /* e.g. remaining: 0 on an error response */
        ratelimit_pause(c->rl, wait_ms);
    if (++x->failures > x->max_retries) {
        char what[96];
        snprintf(what, sizeof(what), "HTTP %ld after %d attempts", status, x->resp->attempts);
        return fail_with_excerpt(x, HTTP_TRANSPORT, what);
    }
    int64_t backoff = http_backoff_ms(o, x->failures - 1, next_rand01(c));
    int64_t ra =
        http_parse_retry_after(http_response_header(x->resp, "retry-after"), now_wall_ms());
    if (ra > backoff)
        backoff = ra < o->backoff_max_ms ? ra : o->backoff_max_ms;
    log_warn(c->source, NULL, "%s %s: HTTP %ld (attempt %d of %d); retrying in %lld ms", x->method,
             x->url, status, x->failures, x->max_retries + 1, (long long)backoff);
    return step_retry_after(backoff);
}

/* A response arrived: the connector's rate signal and the status decide what comes next. */
static exec_step judge_response(exec_call *x, long status)
{
    http_client *c = x->c;
    x->resp->status = status;
    rate_signal sig;
    read_signal(c, x->resp, &sig);
    sig.wait_ms = capped_wait(c, sig.wait_ms, status, x->method, x->url);
    /* an endpoint group's limiter paces by the quota the response states */
    int paced =
        c->rl && sig.limit > 0 && ratelimit_learn(c->rl, sig.limit, sig.window_ms, sig.remaining);
    if (sig.budget_exhausted)
        return judge_budget_exhausted(x, status, sig.wait_ms);
    if (status == 429)
        return judge_rate_limited(x, sig.wait_ms);
    if (status >= 500 && status <= 599)
        return judge_server_error(x, status, sig.wait_ms);
    if (paced && sig.wait_ms <= sig.window_ms)
        sig.wait_ms = 0; /* remaining 0 within the window its limiter paces by: in its pace */
    if (sig.wait_ms > 0 && c->rl) {
        ratelimit_pause(c->rl, sig.wait_ms);
        log_info(c->source, NULL,
                 "rate-limit budget at 0 (HTTP %ld from %s %s); source waits %lld ms", status,
                 x->method, x->url, (long long)sig.wait_ms);
    }
    return step_done(HTTP_OK);
}

/* Waits for the source's rate limiter, performs one attempt (redirects included) and judges it. */
static exec_step run_attempt(exec_call *x, const http_request *req)
{
    http_client *c = x->c;
    http_response *resp = x->resp;
    int64_t waited = 0;
    uint64_t ticket = 0;
    int stopped = c->rl ? ratelimit_acquire_ticket(c->rl, x->stop, &waited, &ticket)
                        : (x->stop && flag_is_set(x->stop));
    resp->wait_ms += waited;
    if (stopped)
        return fail_stopped(x);

    reset_attempt(resp);
    c->errbuf[0] = '\0';
    c->too_large = 0;
    resp->attempts++;
    int64_t started = now_monotonic_ms();
    CURLcode rc;
    long status = 0;
    int failed = perform(c, req, x->method, x->url, &rc, &status, x->err, x->errlen);
    if (c->rl)
        ratelimit_done(c->rl, ticket); /* a window counts it until its response */
    if (failed) {
        observe_attempt(c, status, now_monotonic_ms() - started);
        return step_done(HTTP_TRANSPORT);
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        reset_attempt(resp);
        return fail_stopped(x);
    }
    observe_attempt(c, rc == CURLE_OK ? status : 0, now_monotonic_ms() - started);
    if (rc == CURLE_WRITE_ERROR && c->too_large) {
        reset_attempt(resp);
        snprintf(x->err, x->errlen,
                 "%s %s: response body larger than %zu bytes (decoded); raise "
                 "max_response_size if this is expected",
                 x->method, x->url, max_body(c));
        return step_done(HTTP_TRANSPORT);
    }
    if (rc != CURLE_OK)
        return judge_transport_failure(x, rc);
    return judge_response(x, status);
}

/* Sleeps a retry's backoff; the time counts as waiting. Non-zero when stopped meanwhile. */
static int sleep_backoff(exec_call *x, int64_t backoff_ms)
{
    if (backoff_ms <= 0)
        return 0;
    int64_t t0 = now_monotonic_ms();
    int s = sleep_interruptible(backoff_ms, x->stop);
    x->resp->wait_ms += now_monotonic_ms() - t0;
    return s;
}

static void clear_response(http_response *resp)
{
    response_clear_headers(resp);
    buf_reset(&resp->body);
    resp->status = 0;
    resp->attempts = 0;
    resp->wait_ms = 0;
}

http_result http_client_execute(http_client *c, const http_request *req, http_response *resp,
                                volatile int *stop, int64_t *resume_at_wall_ms, char *err,
                                size_t errlen)
{
    char dummy_err[8];
    if (!err || errlen == 0) {
        err = dummy_err;
        errlen = sizeof(dummy_err);
    }
    err[0] = '\0';
    exec_call x = {
        .c = c,
        .resp = resp,
        .stop = stop,
        .resume_at_wall_ms = resume_at_wall_ms,
        .method = req->method && *req->method ? req->method : "GET",
        .max_retries = c->opts->max_retries > 0 ? c->opts->max_retries : 0,
        .max_rate_waits = c->opts->max_rate_waits > 0 ? c->opts->max_rate_waits : 0,
        .err = err,
        .errlen = errlen,
    };
    http_redact_url(req->url.data ? req->url.data : "", c->auth, x.url, sizeof(x.url));
    clear_response(resp);

    struct curl_slist *hdrs = NULL;
    http_result result = HTTP_TRANSPORT;
    if (!c->curl && open_handle(c)) {
        snprintf(err, errlen, "%s %s: cannot create a curl handle", x.method, x.url);
        return HTTP_TRANSPORT;
    }
    if (prepare(c, req, x.method, &hdrs, err, errlen) == 0) {
        c->cur = resp;
        c->stop = stop;
        for (;;) {
            exec_step step = run_attempt(&x, req);
            if (step.done) {
                result = step.result;
                break;
            }
            if (sleep_backoff(&x, step.backoff_ms)) {
                result = fail_stopped(&x).result;
                break;
            }
        }
        c->cur = NULL;
        c->stop = NULL;
    }
    /* Drop the pointers into req and our list before freeing it (the handle outlives both). */
    if (curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL) != CURLE_OK)
        log_error(c->source, NULL, "curl_easy_setopt(CURLOPT_HTTPHEADER) failed");
    curl_slist_free_all(hdrs);
    return result;
}
