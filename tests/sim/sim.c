/* sim.c — the CRM simulator framework and main(): HTTP server (libmicrohttpd, a thread per
 * connection), the simulated clock, the seeded PRNG, latency, a token-bucket rate limiter, fault
 * injection, scheduled control actions, request statistics and the /_control/ endpoints.
 *
 * Every personality call and every piece of framework state is guarded by one global lock;
 * latency and "timeout" faults sleep outside it, so a slow request never blocks the others.
 *
 * Control endpoints (JSON bodies; a GET passes its query arguments as a JSON object of strings):
 *   GET  /_control/health                      {"ok":true,"crm":name,"now":...}
 *   POST /_control/fault     {"kind":"status","status":503[,"count":2][,"path_prefix":"/api/x"]
 *                             [,"method":"GET"][,"body":"..."][,"retry_after":secs]}
 *                            {"kind":"timeout"[,"seconds":30]}  hold, then drop without answer
 *                            {"kind":"drop"}            close the connection without an answer
 *                            {"kind":"truncate"[,"mode":"body"|"abort"]}  200, half the body
 *                              ("body": Content-Length matches the cut body, so the JSON is
 *                              invalid; "abort": Content-Length of the full body, the connection
 *                              closes half-way, a transport error for the client)
 *                            {"kind":"invalid_json"[,"body":"..."]}   200 with a garbage body
 *                            {"kind":"reset"}           clear all pending faults
 *                            count defaults to 1; count < 0 means "until reset". Faults consume
 *                            on matching API requests in the order they were added.
 *   GET  /_control/fault                       the pending faults
 *   POST /_control/latency   {"ms":N[,"jitter_ms":J]}   every API request sleeps N (+0..J) ms
 *   POST /_control/ratelimit {"rate":R[,"burst":B]}     token bucket; rate 0 = off
 *   POST /_control/schedule  {"after_requests":N,"action":A[,"args":{...}]}   runs control action
 *                            A (a personality action such as "mutate", or a framework one such as
 *                            "fault" or "clock") just before serving the Nth subsequent API
 *                            request (N <= 0: now). GET lists pending and executed schedules.
 *   GET  /_control/stats      {"requests":n,"by_status":{"200":n,..},"by_path":{..},
 *                             "rate_limited":n,"faults":n}
 *   POST /_control/stats/reset
 *   POST /_control/clock     {"advance_ms":N}   moves the simulated clock forward; GET shows it
 *   POST /_control/param     {"name":"value",...}   sets personality parameters at run time
 *   anything else            passed to the personality's control(action, args)
 */
#include "sim.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crm_time.h"

#define CONTROL_PREFIX "/_control/"
#define MAX_BODY       (16u << 20)

struct sim_request {
    struct MHD_Connection *conn;
    char *method;
    char *path;
    buf body;
    int body_too_large;
    int auth_parsed;
    char *basic_user;
    char *basic_password;
};

static struct {
    const sim_crm *crm;
    sim_options opts;
    pthread_mutex_t lock;
    volatile int stop;
    int verbose;
    int64_t start_mono;
    _Atomic int64_t clock_offset;
    uint64_t rng;
    uint64_t jitter_rng;
    int64_t latency_ms, jitter_ms;
    double rate, burst, tokens;
    int64_t bucket_ms;
    json_t *faults;     /* array of fault objects, in order */
    json_t *schedules;  /* array of {"id","remaining","action","args"} */
    json_t *sched_done; /* array of {"id","action","status","result","request"} */
    long next_sched_id;
    long requests, rate_limited, faults_injected;
    json_t *by_status, *by_path;
} S;

/* ---- requests ------------------------------------------------------------------------------ */

const char *sim_method(const sim_request *req)
{
    return req->method;
}

const char *sim_path(const sim_request *req)
{
    return req->path;
}

const char *sim_query(const sim_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct each_ctx {
    void (*fn)(const char *k, const char *v, void *u);
    void *u;
};

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct each_ctx *c = cls;
    (void)kind;
    c->fn(key, value ? value : "", c->u);
    return MHD_YES;
}

void sim_query_each(const sim_request *req, void (*fn)(const char *k, const char *v, void *u),
                    void *u)
{
    struct each_ctx c = {fn, u};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, each_arg, &c);
}

const char *sim_header(const sim_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *sim_body(const sim_request *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

static void parse_basic_auth(sim_request *req)
{
    if (req->auth_parsed)
        return;
    req->auth_parsed = 1;
    const char *h = sim_header(req, "Authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return;
    h += 6;
    while (*h == ' ')
        h++;
    /* Standard base64 -> base64url, then decode. */
    char *tmp = xstrdup(h);
    size_t n = strlen(tmp);
    while (n && (tmp[n - 1] == '=' || tmp[n - 1] == ' '))
        tmp[--n] = '\0';
    for (char *p = tmp; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    size_t len;
    char *dec = sim_b64url_decode(tmp, &len);
    free(tmp);
    if (!dec)
        return;
    char *colon = memchr(dec, ':', len);
    if (colon) {
        *colon = '\0';
        req->basic_password = xstrdup(colon + 1);
    } else {
        req->basic_password = xstrdup("");
    }
    req->basic_user = dec;
}

const char *sim_basic_user(const sim_request *req)
{
    parse_basic_auth((sim_request *)req);
    return req->basic_user;
}

const char *sim_basic_password(const sim_request *req)
{
    parse_basic_auth((sim_request *)req);
    return req->basic_password;
}

/* ---- responses ----------------------------------------------------------------------------- */

static void response_init(sim_response *resp)
{
    memset(resp, 0, sizeof *resp);
    buf_init(&resp->body);
}

static void response_free(sim_response *resp)
{
    buf_free(&resp->body);
    for (int i = 0; i < resp->n_headers; i++)
        free(resp->headers[i]);
    resp->n_headers = 0;
}

void sim_set_header(sim_response *resp, const char *name, const char *fmt, ...)
{
    buf line;
    buf_init(&line);
    buf_printf(&line, "%s: ", name);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *val = xmalloc((size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(val, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
    va_end(ap);
    buf_append_str(&line, val);
    free(val);
    size_t nl = strlen(name);
    for (int i = 0; i < resp->n_headers; i++) {
        if (strncasecmp(resp->headers[i], name, nl) == 0 && resp->headers[i][nl] == ':') {
            free(resp->headers[i]);
            resp->headers[i] = line.data;
            return;
        }
    }
    if (resp->n_headers >= (int)(sizeof resp->headers / sizeof resp->headers[0])) {
        fprintf(stderr, "crmsim: too many response headers, dropping %s\n", name);
        buf_free(&line);
        return;
    }
    resp->headers[resp->n_headers++] = line.data;
}

static int response_has_header(const sim_response *resp, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; i < resp->n_headers; i++)
        if (strncasecmp(resp->headers[i], name, nl) == 0 && resp->headers[i][nl] == ':')
            return 1;
    return 0;
}

void sim_json(sim_response *resp, int status, json_t *j)
{
    resp->status = status;
    buf_reset(&resp->body);
    if (!j)
        j = json_null();
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    json_decref(j);
    if (s) {
        buf_append_str(&resp->body, s);
        free(s);
    }
    if (!response_has_header(resp, "Content-Type"))
        sim_set_header(resp, "Content-Type", "application/json");
}

void sim_json_error(sim_response *resp, int status, const char *msg)
{
    sim_json(resp, status, json_pack("{ss}", "error", msg));
}

/* ---- clock, PRNG, parameters --------------------------------------------------------------- */

int64_t sim_now_ms(void)
{
    return S.opts.epoch_ms + (now_monotonic_ms() - S.start_mono) + atomic_load(&S.clock_offset);
}

static uint64_t xorshift64star(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* splitmix64, to turn any seed (even 0) into a good non-zero xorshift state. */
static uint64_t seed_state(uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 0x9E3779B97F4A7C15ULL;
}

uint64_t sim_rand(void)
{
    return xorshift64star(&S.rng);
}

double sim_rand01(void)
{
    return (double)(sim_rand() >> 11) * (1.0 / 9007199254740992.0);
}

int64_t sim_rand_range(int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(span ? sim_rand() % span : sim_rand());
}

const char *sim_param(const char *name, const char *def)
{
    const char *v = json_string_value(json_object_get(S.opts.params, name));
    return v ? v : def;
}

long long sim_param_int(const char *name, long long def)
{
    const char *v = sim_param(name, NULL);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end)
        return def;
    return n;
}

/* ---- base64url ----------------------------------------------------------------------------- */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *sim_b64url_encode(const void *data, size_t len)
{
    const unsigned char *p = data;
    char *out = xmalloc(len / 3 * 4 + 5);
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
        out[o++] = B64URL[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

char *sim_b64url_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4 == 1)
        return NULL;
    char *out = xmalloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *q = s[i] ? strchr(B64URL, s[i]) : NULL;
        if (!q) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)(q - B64URL);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    out[o] = '\0';
    if (len)
        *len = o;
    return out;
}

/* ---- rate limiter -------------------------------------------------------------------------- */

static void bucket_refill(void)
{
    int64_t now = now_monotonic_ms();
    S.tokens += (double)(now - S.bucket_ms) * S.rate / 1000.0;
    if (S.tokens > S.burst)
        S.tokens = S.burst;
    S.bucket_ms = now;
}

static void bucket_configure(double rate, double burst)
{
    S.rate = rate > 0 ? rate : 0;
    if (burst < 1)
        burst = S.rate > 1 ? S.rate : 1;
    S.burst = burst;
    S.tokens = burst;
    S.bucket_ms = now_monotonic_ms();
}

/* Takes a token; returns 0 and the seconds until one is available when the bucket is empty. */
static int bucket_take(double *retry_after_s)
{
    if (S.rate <= 0)
        return 1;
    bucket_refill();
    if (S.tokens >= 1) {
        S.tokens -= 1;
        return 1;
    }
    *retry_after_s = (1 - S.tokens) / S.rate;
    return 0;
}

void sim_ratelimit_state(double *rate, double *burst, double *tokens)
{
    if (S.rate > 0)
        bucket_refill();
    if (rate)
        *rate = S.rate;
    if (burst)
        *burst = S.rate > 0 ? S.burst : 0;
    if (tokens)
        *tokens = S.rate > 0 ? S.tokens : 0;
}

static long retry_after_secs(double s)
{
    long n = (long)s;
    if ((double)n < s)
        n++;
    return n < 1 ? 1 : n;
}

static void generic_rate_limited(sim_response *resp, double retry_after_s)
{
    sim_json_error(resp, 429, "rate limited");
    sim_set_header(resp, "Retry-After", "%ld", retry_after_secs(retry_after_s));
}

/* ---- control actions (called under the lock) ----------------------------------------------- */

static void count_key(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static json_t *err_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *err_json(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{ss}", "error", msg);
}

static json_t *clock_json(void)
{
    char ts[32];
    int64_t now = sim_now_ms();
    crm_time_format(now, ts, sizeof ts);
    return json_pack("{sssIsI}", "now", ts, "now_ms", (json_int_t)now, "offset_ms",
                     (json_int_t)atomic_load(&S.clock_offset));
}

/* Reads a number that may also be given as a string (GET query arguments are strings). */
static int num_arg(json_t *args, const char *key, double *out)
{
    json_t *v = json_object_get(args, key);
    if (!v)
        return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 1;
    }
    if (json_is_string(v)) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (end != json_string_value(v) && !*end) {
            *out = d;
            return 1;
        }
    }
    return -1;
}

static int control_fault(json_t *args, json_t **result)
{
    const char *kind = json_string_value(json_object_get(args, "kind"));
    if (!kind) {
        *result = err_json("fault needs \"kind\"");
        return 400;
    }
    if (strcmp(kind, "reset") == 0) {
        json_array_clear(S.faults);
        *result = json_pack("{sbsi}", "ok", 1, "pending", 0);
        return 200;
    }
    if (strcmp(kind, "status") && strcmp(kind, "timeout") && strcmp(kind, "drop") &&
        strcmp(kind, "truncate") && strcmp(kind, "invalid_json")) {
        *result = err_json("unknown fault kind \"%s\"", kind);
        return 400;
    }
    json_t *f = json_object();
    json_object_set_new(f, "kind", json_string(kind));
    double d;
    int r = num_arg(args, "count", &d);
    if (r < 0)
        goto bad;
    json_object_set_new(f, "count", json_integer(r ? (json_int_t)d : 1));
    if (strcmp(kind, "status") == 0) {
        if (num_arg(args, "status", &d) != 1 || d < 100 || d > 599)
            goto bad;
        json_object_set_new(f, "status", json_integer((json_int_t)d));
    }
    if (strcmp(kind, "timeout") == 0) {
        r = num_arg(args, "seconds", &d);
        if (r < 0 || (r && d < 0))
            goto bad;
        json_object_set_new(f, "seconds", json_real(r ? d : 30));
    }
    r = num_arg(args, "retry_after", &d);
    if (r < 0)
        goto bad;
    if (r)
        json_object_set_new(f, "retry_after", json_integer((json_int_t)d));
    const char *keys[] = {"path_prefix", "method", "body", "mode"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(args, keys[i]);
        if (v && !json_is_string(v))
            goto bad;
        if (v)
            json_object_set(f, keys[i], v);
    }
    const char *mode = json_string_value(json_object_get(f, "mode"));
    if (mode && strcmp(mode, "body") && strcmp(mode, "abort"))
        goto bad;
    json_array_append_new(S.faults, f);
    *result = json_pack("{sbsi}", "ok", 1, "pending", (int)json_array_size(S.faults));
    return 200;
bad:
    json_decref(f);
    *result = err_json("invalid fault arguments");
    return 400;
}

static int control_dispatch(const char *method, const char *action, json_t *args, json_t **result);

static int control_schedule(json_t *args, json_t **result)
{
    double n = 1;
    const char *action = json_string_value(json_object_get(args, "action"));
    json_t *a = json_object_get(args, "args");
    if (!action || num_arg(args, "after_requests", &n) < 0 || (a && !json_is_object(a))) {
        *result = err_json("schedule needs \"after_requests\", \"action\" and object \"args\"");
        return 400;
    }
    if (strcmp(action, "schedule") == 0) {
        *result = err_json("cannot schedule a schedule");
        return 400;
    }
    long id = ++S.next_sched_id;
    if (n <= 0) {
        json_t *res = NULL;
        json_t *copy = a ? json_deep_copy(a) : json_object();
        int st = control_dispatch("POST", action, copy, &res);
        json_decref(copy);
        *result = json_pack("{sbsisisO}", "ok", 1, "id", (int)id, "status", st, "result",
                            res ? res : json_null());
        json_decref(res);
        return 200;
    }
    json_array_append_new(S.schedules, json_pack("{sisIssso}", "id", (int)id, "remaining",
                                                 (json_int_t)n, "action", action, "args",
                                                 a ? json_deep_copy(a) : json_object()));
    *result = json_pack("{sbsi}", "ok", 1, "id", (int)id);
    return 200;
}

static json_t *stats_json(void)
{
    return json_pack("{sIsOsOsIsI}", "requests", (json_int_t)S.requests, "by_status", S.by_status,
                     "by_path", S.by_path, "rate_limited", (json_int_t)S.rate_limited, "faults",
                     (json_int_t)S.faults_injected);
}

static void stats_reset(void)
{
    S.requests = S.rate_limited = S.faults_injected = 0;
    json_object_clear(S.by_status);
    json_object_clear(S.by_path);
}

static int control_param(json_t *args, json_t **result)
{
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v)
    {
        if (json_is_string(v)) {
            json_object_set(S.opts.params, k, v);
        } else if (json_is_integer(v)) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
            json_object_set_new(S.opts.params, k, json_string(tmp));
        } else if (json_is_boolean(v)) {
            json_object_set_new(S.opts.params, k, json_string(json_is_true(v) ? "true" : "false"));
        } else if (json_is_null(v)) {
            json_object_del(S.opts.params, k);
        } else {
            *result = err_json("parameter \"%s\" must be a string, integer or boolean", k);
            return 400;
        }
    }
    *result = json_deep_copy(S.opts.params);
    return 200;
}

static int control_dispatch(const char *method, const char *action, json_t *args, json_t **result)
{
    int get = strcmp(method, "GET") == 0;
    double d;
    if (strcmp(action, "health") == 0) {
        json_t *clock = clock_json();
        *result = json_pack("{sbss}", "ok", 1, "crm", S.crm->name);
        json_object_update(*result, clock);
        json_decref(clock);
        return 200;
    }
    if (strcmp(action, "fault") == 0) {
        if (get) {
            *result = json_pack("{sO}", "pending", S.faults);
            return 200;
        }
        return control_fault(args, result);
    }
    if (strcmp(action, "latency") == 0) {
        if (!get) {
            int r1 = num_arg(args, "ms", &d);
            if (r1 < 0 || (r1 && d < 0))
                goto bad;
            if (r1)
                S.latency_ms = (int64_t)d;
            int r2 = num_arg(args, "jitter_ms", &d);
            if (r2 < 0 || (r2 && d < 0))
                goto bad;
            S.jitter_ms = r2 ? (int64_t)d : (r1 ? 0 : S.jitter_ms);
        }
        *result = json_pack("{sIsI}", "ms", (json_int_t)S.latency_ms, "jitter_ms",
                            (json_int_t)S.jitter_ms);
        return 200;
    }
    if (strcmp(action, "ratelimit") == 0) {
        if (!get) {
            double rate = 0, burst = 0;
            if (num_arg(args, "rate", &rate) != 1 || num_arg(args, "burst", &burst) < 0 || rate < 0)
                goto bad;
            bucket_configure(rate, burst);
        }
        double rate, burst, tokens;
        sim_ratelimit_state(&rate, &burst, &tokens);
        *result = json_pack("{sfsfsf}", "rate", rate, "burst", burst, "tokens", tokens);
        return 200;
    }
    if (strcmp(action, "schedule") == 0) {
        if (get) {
            *result = json_pack("{sOsO}", "pending", S.schedules, "done", S.sched_done);
            return 200;
        }
        return control_schedule(args, result);
    }
    if (strcmp(action, "stats") == 0) {
        *result = stats_json();
        return 200;
    }
    if (strcmp(action, "stats/reset") == 0) {
        stats_reset();
        *result = stats_json();
        return 200;
    }
    if (strcmp(action, "clock") == 0) {
        if (!get) {
            int r = num_arg(args, "advance_ms", &d);
            if (r != 1 || d < 0)
                goto bad;
            atomic_fetch_add(&S.clock_offset, (int64_t)d);
        }
        *result = clock_json();
        return 200;
    }
    if (strcmp(action, "param") == 0) {
        if (get) {
            *result = json_deep_copy(S.opts.params);
            return 200;
        }
        return control_param(args, result);
    }
    if (!S.crm->control) {
        *result = err_json("unknown control action \"%s\"", action);
        return 404;
    }
    *result = NULL;
    int st = S.crm->control(action, args, result);
    if (!*result)
        *result = st == 404 ? err_json("unknown control action \"%s\"", action) : json_object();
    return st;
bad:
    *result = err_json("invalid arguments for %s", action);
    return 400;
}

/* Runs the schedules that are due before the current API request (under the lock). */
static void run_schedules(void)
{
    json_t *due = json_array();
    for (size_t i = 0; i < json_array_size(S.schedules);) {
        json_t *s = json_array_get(S.schedules, i);
        json_int_t left = json_integer_value(json_object_get(s, "remaining")) - 1;
        json_object_set_new(s, "remaining", json_integer(left));
        if (left <= 0) {
            json_array_append(due, s);
            json_array_remove(S.schedules, i);
        } else {
            i++;
        }
    }
    size_t i;
    json_t *s;
    json_array_foreach(due, i, s)
    {
        const char *action = json_string_value(json_object_get(s, "action"));
        json_t *res = NULL;
        int st = control_dispatch("POST", action, json_object_get(s, "args"), &res);
        if (S.verbose)
            fprintf(stderr, "crmsim: schedule %lld ran %s -> %d\n",
                    (long long)json_integer_value(json_object_get(s, "id")), action, st);
        json_array_append_new(S.sched_done,
                              json_pack("{sOsssisosI}", "id", json_object_get(s, "id"), "action",
                                        action, "status", st, "result", res ? res : json_null(),
                                        "request", (json_int_t)S.requests));
    }
    json_decref(due);
}

/* Returns the first pending fault matching the request (consuming one of its count), or NULL.
 * The returned object is a new reference. */
static json_t *take_fault(const sim_request *req)
{
    size_t i;
    json_t *f;
    json_array_foreach(S.faults, i, f)
    {
        const char *prefix = json_string_value(json_object_get(f, "path_prefix"));
        const char *method = json_string_value(json_object_get(f, "method"));
        if (prefix && strncmp(req->path, prefix, strlen(prefix)) != 0)
            continue;
        if (method && strcasecmp(req->method, method) != 0)
            continue;
        json_incref(f);
        json_int_t count = json_integer_value(json_object_get(f, "count"));
        if (count > 0) {
            count--;
            json_object_set_new(f, "count", json_integer(count));
            if (count == 0)
                json_array_remove(S.faults, i);
        }
        return f;
    }
    return NULL;
}

/* ---- serving ------------------------------------------------------------------------------- */

enum outcome { SEND, SEND_ABORT_HALF, DROP };

static enum outcome serve_api(sim_request *req, sim_response *resp)
{
    pthread_mutex_lock(&S.lock);
    int64_t lat = S.latency_ms;
    if (S.jitter_ms > 0)
        lat += (int64_t)(xorshift64star(&S.jitter_rng) % (uint64_t)(S.jitter_ms + 1));
    pthread_mutex_unlock(&S.lock);
    if (lat > 0 && sleep_interruptible(lat, &S.stop))
        return DROP;

    enum outcome out = SEND;
    double hold_s = 0;
    pthread_mutex_lock(&S.lock);
    S.requests++;
    count_key(S.by_path, req->path);
    run_schedules();
    double retry_s = 0;
    json_t *f = NULL;
    if (req->body_too_large) {
        sim_json_error(resp, 413, "request body too large");
    } else if (!bucket_take(&retry_s)) {
        S.rate_limited++;
        if (S.crm->rate_limited)
            S.crm->rate_limited(resp, retry_s);
        else
            generic_rate_limited(resp, retry_s);
        if (!resp->status)
            resp->status = 429;
    } else if ((f = take_fault(req)) != NULL) {
        S.faults_injected++;
        const char *kind = json_string_value(json_object_get(f, "kind"));
        const char *body = json_string_value(json_object_get(f, "body"));
        json_t *ra = json_object_get(f, "retry_after");
        if (strcmp(kind, "status") == 0) {
            int st = (int)json_integer_value(json_object_get(f, "status"));
            if (body) {
                resp->status = st;
                buf_append_str(&resp->body, body);
                sim_set_header(resp, "Content-Type", "application/json");
            } else {
                sim_json(resp, st, json_pack("{sssi}", "error", "simulated fault", "status", st));
            }
        } else if (strcmp(kind, "timeout") == 0 || strcmp(kind, "drop") == 0) {
            out = DROP;
            hold_s = json_number_value(json_object_get(f, "seconds"));
        } else if (strcmp(kind, "invalid_json") == 0) {
            resp->status = 200;
            buf_append_str(&resp->body,
                           body ? body : "<html><body>Bad Gateway</body></html> {\"data\": [");
            sim_set_header(resp, "Content-Type", "application/json");
        } else { /* truncate: serve for real, then cut */
            S.crm->handle(req, resp);
            const char *mode = json_string_value(json_object_get(f, "mode"));
            if (mode && strcmp(mode, "abort") == 0) {
                out = SEND_ABORT_HALF;
            } else {
                resp->body.len /= 2;
                resp->body.data[resp->body.len] = '\0';
            }
            resp->status = 200;
        }
        if (ra)
            sim_set_header(resp, "Retry-After", "%lld", (long long)json_integer_value(ra));
        json_decref(f);
    } else {
        S.crm->handle(req, resp);
        if (!resp->status)
            sim_json_error(resp, 500, "personality set no response");
    }
    if (out == DROP) {
        count_key(S.by_status, hold_s > 0 ? "timeout" : "drop");
    } else {
        char st[16];
        snprintf(st, sizeof st, "%d", resp->status);
        count_key(S.by_status, st);
    }
    pthread_mutex_unlock(&S.lock);
    if (hold_s > 0)
        sleep_interruptible((int64_t)(hold_s * 1000), &S.stop);
    return out;
}

static enum MHD_Result query_to_json(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    json_object_set_new(cls, key, json_string(value ? value : ""));
    return MHD_YES;
}

static void serve_control(sim_request *req, sim_response *resp)
{
    const char *action = req->path + strlen(CONTROL_PREFIX);
    json_t *args;
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        args = json_object();
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_to_json, args);
    } else if (req->body.len == 0) {
        args = json_object();
    } else {
        json_error_t e;
        args = json_loadb(req->body.data, req->body.len, 0, &e);
        if (!json_is_object(args)) {
            json_decref(args);
            sim_json_error(resp, 400, "control body must be a JSON object");
            return;
        }
    }
    pthread_mutex_lock(&S.lock);
    json_t *result = NULL;
    int st = control_dispatch(req->method, action, args, &result);
    sim_json(resp, st, result); /* dumps under the lock: result may share personality data */
    pthread_mutex_unlock(&S.lock);
    json_decref(args);
}

struct abort_body {
    char *data;
    size_t cut;
};

static ssize_t abort_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct abort_body *ab = cls;
    if (pos >= ab->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = ab->cut - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(out, ab->data + pos, n);
    return (ssize_t)n;
}

static void abort_free(void *cls)
{
    struct abort_body *ab = cls;
    free(ab->data);
    free(ab);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, sim_response *resp,
                                     int abort_half)
{
    struct MHD_Response *mr;
    if (abort_half && resp->body.len > 1) {
        struct abort_body *ab = xmalloc(sizeof *ab);
        ab->data = xmalloc(resp->body.len);
        memcpy(ab->data, resp->body.data, resp->body.len);
        ab->cut = resp->body.len / 2;
        mr = MHD_create_response_from_callback(resp->body.len, 4096, abort_reader, ab, abort_free);
    } else {
        mr = MHD_create_response_from_buffer(resp->body.len, resp->body.data ? resp->body.data : "",
                                             MHD_RESPMEM_MUST_COPY);
    }
    if (!mr)
        return MHD_NO;
    for (int i = 0; i < resp->n_headers; i++) {
        char *line = xstrdup(resp->headers[i]);
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            MHD_add_response_header(mr, line, v);
        }
        free(line);
    }
    if (!response_has_header(resp, "Content-Type"))
        MHD_add_response_header(mr, "Content-Type", "application/json");
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    sim_request *req = *con_cls;
    if (!req) {
        req = xcalloc(1, sizeof *req);
        req->conn = conn;
        req->method = xstrdup(method);
        req->path = xstrdup(url);
        buf_init(&req->body);
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (req->body.len + *upload_data_size > MAX_BODY)
            req->body_too_large = 1;
        else
            buf_append(&req->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    sim_response resp;
    response_init(&resp);
    enum outcome out = SEND;
    int control = strncmp(req->path, CONTROL_PREFIX, strlen(CONTROL_PREFIX)) == 0;
    if (control)
        serve_control(req, &resp);
    else
        out = serve_api(req, &resp);
    if (S.verbose)
        fprintf(stderr, "crmsim: %s %s -> %s%d\n", req->method, req->path,
                out == DROP ? "dropped " : "", resp.status);
    enum MHD_Result r = MHD_NO;
    if (out != DROP)
        r = send_response(conn, &resp, out == SEND_ABORT_HALF);
    response_free(&resp);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    sim_request *req = *con_cls;
    if (!req)
        return;
    free(req->method);
    free(req->path);
    buf_free(&req->body);
    free(req->basic_user);
    free(req->basic_password);
    free(req);
    *con_cls = NULL;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void on_signal(int sig)
{
    (void)sig; /* never runs: the signals are blocked and taken by sigwait() */
}

/* libmicrohttpd's own messages (e.g. a dropped connection, which faults cause on purpose). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!S.verbose)
        return;
    fputs("crmsim: mhd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: crmsim --crm NAME [--port N] [--port-file F] [--seed S] "
                 "[--epoch RFC3339]\n"
                 "              [--latency-ms N] [--rate R [--burst B]] [--param k=v]... "
                 "[--verbose]\n"
                 "       crmsim --list\npersonalities:");
    for (int i = 0; sim_personalities[i]; i++)
        fprintf(out, " %s", sim_personalities[i]->name);
    fputc('\n', out);
}

static int parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return !errno && end != s && !*end ? 0 : -1;
}

static int write_port_file(const char *path, unsigned port)
{
    buf tmp;
    buf_init(&tmp);
    buf_printf(&tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp.data, "w");
    int rc = -1;
    if (f) {
        fprintf(f, "%u\n", port);
        rc = fclose(f) == 0 && rename(tmp.data, path) == 0 ? 0 : -1;
    }
    if (rc)
        unlink(tmp.data);
    buf_free(&tmp);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"crm", required_argument, NULL, 'c'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"port-file", required_argument, NULL, 'f'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"epoch", required_argument, NULL, 'e'},
                                             {"latency-ms", required_argument, NULL, 'l'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"burst", required_argument, NULL, 'b'},
                                             {"param", required_argument, NULL, 'P'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"list", no_argument, NULL, 'L'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *crm_name = NULL, *port_file = NULL;
    double port = 0, rate = 0, burst = 0, latency = 0, d;
    uint64_t seed = 1;
    int64_t epoch = CRM_TIME_NONE;
    int rc = 2;

    pthread_mutex_init(&S.lock, NULL);
    S.opts.params = json_object();
    int opt;
    while ((opt = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            crm_name = optarg;
            break;
        case 'p':
            if (parse_num(optarg, &port) || port < 0 || port > 65535) {
                fprintf(stderr, "crmsim: invalid --port %s\n", optarg);
                goto out;
            }
            break;
        case 'f':
            port_file = optarg;
            break;
        case 's': {
            char *end;
            errno = 0;
            seed = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end) {
                fprintf(stderr, "crmsim: invalid --seed %s\n", optarg);
                goto out;
            }
            break;
        }
        case 'e':
            if (crm_time_parse(optarg, &epoch) || epoch == CRM_TIME_NONE) {
                fprintf(stderr, "crmsim: invalid --epoch %s\n", optarg);
                goto out;
            }
            break;
        case 'l':
            if (parse_num(optarg, &latency) || latency < 0) {
                fprintf(stderr, "crmsim: invalid --latency-ms %s\n", optarg);
                goto out;
            }
            break;
        case 'r':
            if (parse_num(optarg, &rate) || rate < 0) {
                fprintf(stderr, "crmsim: invalid --rate %s\n", optarg);
                goto out;
            }
            break;
        case 'b':
            if (parse_num(optarg, &d) || d < 1) {
                fprintf(stderr, "crmsim: invalid --burst %s\n", optarg);
                goto out;
            }
            burst = d;
            break;
        case 'P': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "crmsim: --param wants k=v, got %s\n", optarg);
                goto out;
            }
            char *k = xstrdup(optarg);
            k[eq - optarg] = '\0';
            json_object_set_new(S.opts.params, k, json_string(eq + 1));
            free(k);
            break;
        }
        case 'v':
            S.verbose = 1;
            break;
        case 'L':
            for (int i = 0; sim_personalities[i]; i++)
                printf("%s\n", sim_personalities[i]->name);
            rc = 0;
            goto out;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc || !crm_name) {
        usage(stderr);
        goto out;
    }
    for (int i = 0; sim_personalities[i]; i++)
        if (strcmp(sim_personalities[i]->name, crm_name) == 0)
            S.crm = sim_personalities[i];
    if (!S.crm) {
        fprintf(stderr, "crmsim: unknown personality \"%s\"\n", crm_name);
        usage(stderr);
        goto out;
    }

    rc = 1;
    S.opts.seed = seed;
    S.opts.epoch_ms = epoch != CRM_TIME_NONE ? epoch : now_wall_ms();
    S.start_mono = now_monotonic_ms();
    S.rng = seed_state(seed);
    S.jitter_rng = seed_state(seed ^ 0x6A09E667F3BCC909ULL);
    S.latency_ms = (int64_t)latency;
    bucket_configure(rate, burst);
    S.faults = json_array();
    S.schedules = json_array();
    S.sched_done = json_array();
    S.by_status = json_object();
    S.by_path = json_object();

    if (S.crm->init && S.crm->init(&S.opts) != 0) {
        fprintf(stderr, "crmsim: %s: init failed\n", S.crm->name);
        S.crm = NULL; /* nothing to free */
        goto out;
    }

    /* Worker threads inherit this mask, so only sigwait() below sees the signals. A background
     * job of a non-interactive shell starts with SIGINT ignored, and an ignored signal is
     * discarded even when blocked, so install a handler first. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d_ = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!d_) {
        fprintf(stderr, "crmsim: cannot listen on 127.0.0.1:%u: %s\n", (unsigned)port,
                strerror(errno));
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d_, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : 0;
    if (!bound) {
        const union MHD_DaemonInfo *fdi = MHD_get_daemon_info(d_, MHD_DAEMON_INFO_LISTEN_FD);
        struct sockaddr_in sa;
        socklen_t sl = sizeof sa;
        if (fdi && getsockname(fdi->listen_fd, (struct sockaddr *)&sa, &sl) == 0)
            bound = ntohs(sa.sin_port);
    }
    if (port_file && write_port_file(port_file, bound) != 0) {
        fprintf(stderr, "crmsim: cannot write %s: %s\n", port_file, strerror(errno));
        S.stop = 1;
        MHD_stop_daemon(d_);
        goto out;
    }
    printf("crmsim: %s listening on http://127.0.0.1:%u\n", S.crm->name, bound);
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    if (S.verbose)
        fprintf(stderr, "crmsim: signal %d, stopping\n", sig);
    S.stop = 1;
    MHD_stop_daemon(d_);
    rc = 0;

out:
    if (S.crm && S.crm->free && S.faults)
        S.crm->free();
    json_decref(S.faults);
    json_decref(S.schedules);
    json_decref(S.sched_done);
    json_decref(S.by_status);
    json_decref(S.by_path);
    json_decref(S.opts.params);
    pthread_mutex_destroy(&S.lock);
    return rc;
}
