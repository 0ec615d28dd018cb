/* sim.c — the CRM simulator framework and main(): HTTP server (libmicrohttpd, a thread per
 * connection), the simulated clock, the seeded PRNG, latency, a token-bucket rate limiter, fault
 * injection, scheduled control actions and request statistics; the /_control/ endpoints that
 * drive them are in control.c (sim_framework.h is what the two share).
 *
 * Every personality call and every piece of framework state is guarded by one global lock;
 * latency and "timeout" faults sleep outside it, so a slow request never blocks the others.
 */
#include "sim_framework.h"

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

#define MAX_BODY (16u << 20)

sim_state S;

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

void sim_bucket_configure(double rate, double burst)
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

/* ---- statistics ---------------------------------------------------------------------------- */

static void count_key(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer(v ? json_integer_value(v) + 1 : 1));
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
    sim_control_run_schedules();
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
    } else if ((f = sim_control_take_fault(req)) != NULL) {
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
        sim_control_serve(req, &resp);
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
    sim_bucket_configure(rate, burst);
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
