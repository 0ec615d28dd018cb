/* test_http.c — the HTTP client: pure helpers (backoff, Retry-After, rate signals, redaction,
 * excerpts) and the retry policy against a tiny in-process HTTP/1.1 server (plain POSIX sockets
 * and a thread per connection on 127.0.0.1, ephemeral port) that plays scripted replies. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "http.h"
#include "ratelimit.h"
#include "util.h"

/* ---- the scripted server ---- */

typedef struct {
    int status;
    const char *headers; /* extra lines, each ending in "\r\n" */
    const char *body;
    size_t body_len; /* 0: strlen(body) */
    int delay_ms;    /* before the reply is sent */
} reply;

typedef struct {
    char head[4096]; /* request line and headers */
    char body[1024];
} seen_req;

#define MAX_SCRIPT 8
#define MAX_SEEN   32
#define MAX_CONN   64

typedef struct {
    int lfd, port;
    pthread_t accept_th;
    pthread_t conn_th[MAX_CONN];
    int n_conn;
    pthread_mutex_t mu;
    reply script[MAX_SCRIPT];
    int n_script, next;
    seen_req seen[MAX_SEEN];
    int n_seen;
    atomic_int stopping;
} server;

typedef struct {
    server *s;
    int fd;
} conn_arg;

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static size_t content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\ncontent-length:");
    return p ? (size_t)strtoul(p + 17, NULL, 10) : 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Serves one request held in `in` (head of hlen bytes, then clen body bytes). */
static int serve(server *s, int fd, const char *in, size_t hlen, size_t clen)
{
    pthread_mutex_lock(&s->mu);
    if (s->n_seen < MAX_SEEN) {
        seen_req *r = &s->seen[s->n_seen++];
        size_t n = hlen < sizeof(r->head) - 1 ? hlen : sizeof(r->head) - 1;
        memcpy(r->head, in, n);
        r->head[n] = '\0';
        n = clen < sizeof(r->body) - 1 ? clen : sizeof(r->body) - 1;
        memcpy(r->body, in + hlen, n);
        r->body[n] = '\0';
    }
    int i = s->next < s->n_script ? s->next : s->n_script - 1;
    s->next++;
    reply rp = s->script[i];
    pthread_mutex_unlock(&s->mu);

    for (int waited = 0; waited < rp.delay_ms && !atomic_load(&s->stopping); waited += 10)
        msleep(10);
    size_t blen = rp.body ? (rp.body_len ? rp.body_len : strlen(rp.body)) : 0;
    char out[4096];
    int n = snprintf(out, sizeof(out), "HTTP/1.1 %d Scripted\r\nContent-Length: %zu\r\n%s\r\n",
                     rp.status, blen, rp.headers ? rp.headers : "");
    if (n < 0 || (size_t)n + blen > sizeof(out))
        return -1;
    if (blen)
        memcpy(out + n, rp.body, blen); /* one send: no Nagle / delayed-ACK stall */
    return send_all(fd, out, (size_t)n + blen);
}

static void *conn_main(void *p)
{
    conn_arg *a = p;
    server *s = a->s;
    int fd = a->fd;
    free(a);
    static __thread char in[65536];
    size_t have = 0;
    for (;;) {
        in[have] = '\0';
        char *eoh = strstr(in, "\r\n\r\n");
        if (eoh) {
            size_t hlen = (size_t)(eoh - in) + 4;
            in[hlen - 2] = '\0'; /* for content_length: stop at the blank line */
            size_t clen = content_length(in);
            in[hlen - 2] = '\r';
            if (have >= hlen + clen) {
                if (serve(s, fd, in, hlen, clen))
                    break;
                memmove(in, in + hlen + clen, have - hlen - clen);
                have -= hlen + clen;
                continue;
            }
        }
        if (atomic_load(&s->stopping) || have >= sizeof(in) - 1)
            break;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        ssize_t r = recv(fd, in + have, sizeof(in) - 1 - have, 0);
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    close(fd);
    return NULL;
}

static void *accept_main(void *p)
{
    server *s = p;
    while (!atomic_load(&s->stopping)) {
        struct pollfd pf = {s->lfd, POLLIN, 0};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        if (s->n_conn < MAX_CONN) {
            conn_arg *a = malloc(sizeof(*a));
            a->s = s;
            a->fd = fd;
            pthread_create(&s->conn_th[s->n_conn++], NULL, conn_main, a);
        } else {
            close(fd);
        }
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* Starts a server that plays `script` in order (the last reply repeats). */
static server *server_start(const reply *script, int n)
{
    server *s = calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    memcpy(s->script, script, sizeof(reply) * (size_t)n);
    s->n_script = n;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t sl = sizeof(sa);
    if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s->lfd, 16) ||
        getsockname(s->lfd, (struct sockaddr *)&sa, &sl)) {
        perror("test server");
        exit(2);
    }
    s->port = ntohs(sa.sin_port);
    pthread_create(&s->accept_th, NULL, accept_main, s);
    return s;
}

static int server_requests(server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n_seen;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int server_connections(server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n_conn;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void server_stop(server *s)
{
    atomic_store(&s->stopping, 1);
    pthread_join(s->accept_th, NULL);
    for (int i = 0; i < s->n_conn; i++)
        pthread_join(s->conn_th[i], NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* A port with nothing listening (bound, then closed). */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- stderr capture, to prove logs carry no secret ---- */

static int saved_stderr = -1;
static FILE *capture_file;

static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    saved_stderr = dup(2);
    dup2(fileno(capture_file), 2);
}

/* Returns the captured text (caller frees). */
static char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    long n = ftell(capture_file);
    if (n < 0)
        n = 0;
    char *text = calloc(1, (size_t)n + 1);
    rewind(capture_file);
    size_t got = fread(text, 1, (size_t)n, capture_file);
    text[got] = '\0';
    fclose(capture_file);
    return text;
}

/* ---- shared fixtures ---- */

#define SECRET_PW     "s3cr3t-pw"
#define SECRET_HEADER "k3y-s3cr3t"
#define SECRET_TOKEN  "tok-s3cr3t"

static http_auth secret_auth(void)
{
    http_auth a;
    memset(&a, 0, sizeof(a));
    a.basic_user = "alice";
    a.basic_password = SECRET_PW;
    a.secret_headers[0] = "X-Api-Key: " SECRET_HEADER;
    a.n_secret_headers = 1;
    a.secret_params[0] = "sig";
    a.n_secret_params = 1;
    return a;
}

static http_options fast_opts(void)
{
    http_options o;
    http_options_defaults(&o);
    o.connect_timeout_ms = 1000;
    o.timeout_ms = 2000;
    o.max_retries = 2;
    o.max_rate_waits = 3;
    o.backoff_base_ms = 10;
    o.backoff_max_ms = 40;
    return o;
}

static void set_url(http_request *req, server *s, const char *path)
{
    buf_reset(&req->url);
    buf_printf(&req->url, "http://127.0.0.1:%d%s", s ? s->port : dead_port(), path);
}

static int no_secret(const char *text)
{
    return text && !strstr(text, SECRET_PW) && !strstr(text, SECRET_HEADER) &&
           !strstr(text, SECRET_TOKEN) && !strstr(text, "YWxpY2U6czNjcjN0LXB3");
}

/* ---- pure helpers ---- */

static void test_backoff(void)
{
    http_options o;
    http_options_defaults(&o);
    CHECK(o.connect_timeout_ms == 10000 && o.timeout_ms == 60000 && o.max_retries == 6);
    CHECK(o.max_rate_waits == 30 && o.backoff_base_ms == 500 && o.backoff_max_ms == 60000);
    CHECK(o.verify_tls == 1 && o.ca_file == NULL);
    CHECK(o.user_agent && strncmp(o.user_agent, "crmstream/", 10) == 0);

    CHECK(http_backoff_ms(&o, 0, 1.0) == 500);
    CHECK(http_backoff_ms(&o, 0, 0.0) == 250);
    CHECK(http_backoff_ms(&o, 1, 1.0) == 1000);
    CHECK(http_backoff_ms(&o, 3, 1.0) == 4000);
    CHECK(http_backoff_ms(&o, 3, 0.5) == 3000);
    CHECK(http_backoff_ms(&o, 6, 1.0) == 32000);
    CHECK(http_backoff_ms(&o, 7, 1.0) == 60000); /* capped */
    CHECK(http_backoff_ms(&o, 7, 0.0) == 30000);
    CHECK(http_backoff_ms(&o, 62, 1.0) == 60000); /* no overflow */
    CHECK(http_backoff_ms(&o, 100000, 1.0) == 60000);
    CHECK(http_backoff_ms(&o, 0, -3.0) == 250); /* rand clamped to [0, 1] */
    CHECK(http_backoff_ms(&o, 0, 7.0) == 500);
    /* growth is monotonic at a fixed jitter, and every value lies in [d/2, d] */
    int ok = 1;
    int64_t prev = 0;
    for (int a = 0; a < 12; a++) {
        int64_t full = 500LL << a;
        if (full > 60000)
            full = 60000;
        int64_t hi = http_backoff_ms(&o, a, 1.0);
        if (hi < prev || hi != full)
            ok = 0;
        prev = hi;
        for (int k = 0; k <= 20; k++) {
            int64_t v = http_backoff_ms(&o, a, k / 20.0);
            if (v < full / 2 || v > full)
                ok = 0;
        }
    }
    CHECK(ok);
}

static void test_retry_after(void)
{
    int64_t now = 1445412480000LL - 5000; /* 5 s before Wed, 21 Oct 2015 07:28:00 GMT */
    CHECK(http_parse_retry_after("120", now) == 120000);
    CHECK(http_parse_retry_after("0", now) == 0);
    CHECK(http_parse_retry_after("1.5", now) == 1500);
    CHECK(http_parse_retry_after("  3 ", now) == 3000);
    CHECK(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 5000);
    CHECK(http_parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now) == 5000);
    CHECK(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 60000) == 0); /* past */
    CHECK(http_parse_retry_after("soon", now) == -1);
    CHECK(http_parse_retry_after("", now) == -1);
    CHECK(http_parse_retry_after("   ", now) == -1);
    CHECK(http_parse_retry_after(NULL, now) == -1);
    CHECK(http_parse_retry_after("-5", now) == -1);
    CHECK(http_parse_retry_after("12abc", now) == -1);
    CHECK(http_parse_retry_after("Wed, 99 Foo 2015", now) == -1);
}

/* A response with the given status and NULL-terminated "name: value" header lines. */
static void fake_response(http_response *r, long status, const char *const *lines)
{
    http_response_init(r);
    r->status = status;
    int n = 0;
    while (lines[n])
        n++;
    r->headers = calloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++)
        r->headers[i] = xstrdup(lines[i]);
    r->n_headers = n;
}

static int64_t signal_for(long status, const char *const *lines, int *budget)
{
    http_response r;
    fake_response(&r, status, lines);
    rate_signal sig = {.wait_ms = -7, .budget_exhausted = -7};
    http_default_rate_signal(&r, &sig);
    http_response_free(&r);
    if (budget)
        *budget = sig.budget_exhausted;
    return sig.wait_ms;
}

static void test_default_rate_signal(void)
{
    int budget = -1;
    CHECK(signal_for(429, (const char *[]){"retry-after: 7", NULL}, &budget) == 7000);
    CHECK(budget == 0);
    CHECK(signal_for(429, (const char *[]){NULL}, &budget) == 0);
    CHECK(budget == 0);
    CHECK(signal_for(429, (const char *[]){"x-ratelimit-reset: 30", NULL}, NULL) == 30000);
    CHECK(signal_for(429, (const char *[]){"ratelimit-reset: 2.5", NULL}, NULL) == 2500);
    /* Retry-After wins over a reset */
    CHECK(signal_for(429, (const char *[]){"ratelimit-reset: 30", "retry-after: 4", NULL}, NULL) ==
          4000);

    /* epoch seconds */
    char epoch[64];
    snprintf(epoch, sizeof(epoch), "x-ratelimit-reset: %lld",
             (long long)(now_wall_ms() / 1000 + 20));
    int64_t w = signal_for(429, (const char *[]){epoch, NULL}, NULL);
    CHECK(w > 18000 && w <= 21000);
    snprintf(epoch, sizeof(epoch), "ratelimit-reset: %lld", (long long)(now_wall_ms() / 1000 - 20));
    CHECK(signal_for(429, (const char *[]){epoch, NULL}, NULL) == 0); /* already past */

    /* remaining == 0 throttles any status */
    CHECK(signal_for(200,
                     (const char *[]){"x-ratelimit-remaining: 0", "x-ratelimit-reset: 5", NULL},
                     NULL) == 5000);
    CHECK(signal_for(200, (const char *[]){"ratelimit-remaining: 0", "ratelimit-reset: 9", NULL},
                     NULL) == 9000);
    CHECK(signal_for(200,
                     (const char *[]){"x-ratelimit-remaining: 3", "x-ratelimit-reset: 5", NULL},
                     NULL) == 0);
    CHECK(signal_for(200, (const char *[]){"x-ratelimit-remaining: 0", NULL}, NULL) == 0);
    CHECK(signal_for(200, (const char *[]){"retry-after: 5", NULL}, NULL) == 0);
    CHECK(signal_for(200, (const char *[]){"x-ratelimit-reset: 5", NULL}, NULL) == 0);

    /* IETF structured header, both draft styles */
    CHECK(signal_for(200, (const char *[]){"ratelimit: limit=100, remaining=0, reset=12", NULL},
                     NULL) == 12000);
    CHECK(signal_for(200, (const char *[]){"ratelimit: limit=100, remaining=5, reset=12", NULL},
                     NULL) == 0);
    CHECK(signal_for(200, (const char *[]){"ratelimit: \"default\";r=0;t=9", NULL}, NULL) == 9000);
    CHECK(signal_for(429, (const char *[]){"ratelimit: \"default\";r=0;t=3", NULL}, NULL) == 3000);
    CHECK(signal_for(200, (const char *[]){"ratelimit: garbage", NULL}, NULL) == 0);

    /* lookup: case-insensitive, trimmed, last occurrence wins */
    http_response r;
    fake_response(&r, 200, (const char *[]){"x-a: one", "x-b:   two", "x-a: three", NULL});
    CHECK_STR(http_response_header(&r, "X-A"), "three");
    CHECK_STR(http_response_header(&r, "x-b"), "two");
    CHECK(http_response_header(&r, "x-c") == NULL);
    CHECK(http_response_header(&r, "x") == NULL);
    http_response_free(&r);
    CHECK(r.headers == NULL && r.n_headers == 0 && r.body.data == NULL);
}

static void redact(const char *url, const http_auth *auth, char *out, size_t n)
{
    memset(out, 'Z', n);
    http_redact_url(url, auth, out, n);
}

static void test_redact(void)
{
    char out[512];
    http_auth a = secret_auth();
    redact("https://api.example.com/v1/leads?api_token=" SECRET_TOKEN "&limit=50", NULL, out,
           sizeof(out));
    CHECK_STR(out, "https://api.example.com/v1/leads?api_token=***&limit=50");
    redact("https://alice:" SECRET_PW "@api.example.com/x?a=1", NULL, out, sizeof(out));
    CHECK_STR(out, "https://***@api.example.com/x?a=1");
    redact("https://api.example.com/x?sig=abc&Access_Token=t&apiKey=k&client_secret=s&PASSWORD=p"
           "&cursor=c2",
           &a, out, sizeof(out));
    CHECK_STR(out, "https://api.example.com/x?sig=***&Access_Token=***&apiKey=***&client_secret=***"
                   "&PASSWORD=***&cursor=c2");
    redact("https://api.example.com/x?sig=abc", NULL, out, sizeof(out)); /* not secret w/o auth */
    CHECK_STR(out, "https://api.example.com/x?sig=abc");
    redact("https://h/p?flag&token=&key=v#frag?token=x", NULL, out, sizeof(out));
    CHECK_STR(out, "https://h/p?flag&token=***&key=***#frag?token=x");
    redact("https://h/path/with@sign?x=1", NULL, out, sizeof(out)); /* @ in path is not userinfo */
    CHECK_STR(out, "https://h/path/with@sign?x=1");
    redact("https://h/p", &a, out, sizeof(out));
    CHECK_STR(out, "https://h/p");
    redact("", &a, out, sizeof(out));
    CHECK_STR(out, "");

    /* truncation: always terminated, never a secret */
    const char *u = "https://h/p?api_token=" SECRET_TOKEN "&x=1";
    const char *full = "https://h/p?api_token=***&x=1";
    size_t flen = strlen(full);
    int ok = 1;
    for (size_t n = 1; n < 60; n++) {
        char small[64];
        memset(small, 'Z', sizeof(small));
        http_redact_url(u, &a, small, n);
        size_t want = n - 1 < flen ? n - 1 : flen;
        if (strlen(small) != want || strncmp(small, full, want) != 0 || strstr(small, "tok-"))
            ok = 0;
    }
    CHECK(ok);
}

static void test_excerpt(void)
{
    http_response r;
    http_response_init(&r);
    char out[256];
    http_body_excerpt(&r, out, sizeof(out));
    CHECK_STR(out, "(empty body)");
    buf_append_str(&r.body, "  {\"error\":\n\t\"bad\r\nthing\"}\n");
    http_body_excerpt(&r, out, sizeof(out));
    CHECK_STR(out, "{\"error\":  \"bad  thing\"}");

    buf_reset(&r.body);
    for (int i = 0; i < 50; i++)
        buf_append_str(&r.body, "0123456789");
    http_body_excerpt(&r, out, sizeof(out));
    size_t n = strlen(out);
    CHECK(n == 200 + 3);
    CHECK(strcmp(out + 200, "\xe2\x80\xa6") == 0);
    CHECK(strncmp(out, "0123456789", 10) == 0);

    char tiny[16];
    http_body_excerpt(&r, tiny, sizeof(tiny));
    CHECK(strlen(tiny) == 15);
    CHECK(strcmp(tiny + 12, "\xe2\x80\xa6") == 0);

    int ok = 1; /* any buffer size: terminated, within bounds */
    for (size_t sz = 1; sz <= 12; sz++) {
        char *b = malloc(sz);
        http_body_excerpt(&r, b, sz);
        if (strlen(b) >= sz)
            ok = 0;
        free(b);
    }
    CHECK(ok);

    /* a multi-byte character at the cut is not split */
    buf_reset(&r.body);
    for (int i = 0; i < 199; i++)
        buf_append_str(&r.body, "a");
    for (int i = 0; i < 10; i++)
        buf_append_str(&r.body, "\xc3\xa9"); /* é */
    http_body_excerpt(&r, out, sizeof(out));
    CHECK(strlen(out) == 199 + 3);
    CHECK(strcmp(out + 199, "\xe2\x80\xa6") == 0);
    http_response_free(&r);
}

static void test_request(void)
{
    http_request req;
    http_request_init(&req);
    int rc = 0;
    for (int i = 0; i < HTTP_MAX_EXTRA_HEADERS; i++)
        rc |= http_request_add_header(&req, "X-N: 1");
    CHECK(rc == 0);
    CHECK(http_request_add_header(&req, "X-Full: 1") == -1);
    CHECK(req.n_headers == HTTP_MAX_EXTRA_HEADERS);
    http_request_free(&req);
    CHECK(req.n_headers == 0);
}

/* ---- against the server ---- */

static const unsigned char gz_body[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0x4a, 0x49, 0x2c, 0x49,
    0x54, 0xb2, 0x8a, 0xae, 0x56, 0xca, 0x4c, 0x51, 0xb2, 0x32, 0xd4, 0x51, 0xca, 0x4b, 0xcc, 0x4d,
    0x55, 0xb2, 0x52, 0x4a, 0xcc, 0x29, 0xc8, 0x48, 0x54, 0xaa, 0xd5, 0x81, 0x88, 0x1b, 0xe1, 0x10,
    0x37, 0x46, 0x17, 0x8f, 0xad, 0x05, 0x00, 0xb6, 0x80, 0xad, 0x10, 0x52, 0x00, 0x00, 0x00};
static const char plain_body[] =
    "{\"data\":[{\"id\":1,\"name\":\"alpha\"},{\"id\":2,\"name\":\"alpha\"},{\"id\":3,\"name\":"
    "\"alpha\"}]}";

typedef struct {
    http_options opts;
    http_auth auth;
    ratelimit *rl;
    http_client *c;
    http_request req;
    http_response resp;
    char err[1024];
} fixture;

static void fx_init(fixture *f, rate_signal_fn sig)
{
    memset(f, 0, sizeof(*f));
    f->opts = fast_opts();
    f->auth = secret_auth();
    f->rl = ratelimit_new(0, 1);
    f->c = http_client_new(&f->opts, &f->auth, f->rl, sig, NULL, "testsrc");
    CHECK(f->c != NULL);
    http_request_init(&f->req);
    http_response_init(&f->resp);
}

static void fx_free(fixture *f)
{
    http_client_free(f->c);
    http_request_free(&f->req);
    http_response_free(&f->resp);
    ratelimit_free(f->rl);
}

static http_result fx_run(fixture *f, volatile int *stop)
{
    return http_client_execute(f->c, &f->req, &f->resp, stop, NULL, f->err, sizeof(f->err));
}

static void test_gzip_and_keepalive(void)
{
    reply script[] = {{200,
                       "Content-Encoding: gzip\r\nContent-Type: application/json\r\n"
                       "X-Custom:   Spaced Value  \r\n",
                       (const char *)gz_body, sizeof(gz_body), 0}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, s, "/v1/items?limit=3");
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK(f.resp.status == 200);
    CHECK(f.resp.attempts == 1);
    CHECK(f.resp.body.len == strlen(plain_body));
    CHECK_STR(f.resp.body.data, plain_body);
    CHECK_STR(http_response_header(&f.resp, "Content-Type"), "application/json");
    CHECK_STR(http_response_header(&f.resp, "x-custom"), "Spaced Value");
    CHECK_STR(http_response_header(&f.resp, "content-encoding"), "gzip");
    int lower = 1;
    for (int i = 0; i < f.resp.n_headers; i++)
        for (const char *p = f.resp.headers[i]; *p && *p != ':'; p++)
            if (*p >= 'A' && *p <= 'Z')
                lower = 0;
    CHECK(lower);
    /* a second request reuses the connection */
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK_STR(f.resp.body.data, plain_body);
    CHECK(f.resp.n_headers >= 3 && f.resp.n_headers <= 6); /* not accumulated across requests */
    CHECK(server_requests(s) == 2);
    CHECK(server_connections(s) == 1);
    CHECK(strncmp(s->seen[0].head, "GET /v1/items?limit=3 HTTP/1.1\r\n", 32) == 0);
    CHECK(strcasestr(s->seen[0].head, "\r\nAccept-Encoding: ") != NULL);
    CHECK_CONTAINS(s->seen[0].head, "gzip");
    CHECK_CONTAINS(s->seen[0].head, "\r\nUser-Agent: crmstream/");
    /* a table idle until its next poll closes its connections: the next request opens one, with
     * the client's options (credentials, encoding) intact */
    CHECK(http_client_close_connections(f.c) == 0);
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK_STR(f.resp.body.data, plain_body);
    CHECK(server_requests(s) == 3);
    CHECK(server_connections(s) == 2);
    CHECK_CONTAINS(s->seen[2].head, "\r\nUser-Agent: crmstream/");
    fx_free(&f);
    server_stop(s);
}

static void test_5xx_retried(void)
{
    reply script[] = {
        {503, NULL, "busy", 0, 0}, {502, NULL, "bad gw", 0, 0}, {200, NULL, "ok", 0, 0}};
    server *s = server_start(script, 3);
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, s, "/flaky");
    capture_begin();
    http_result r = fx_run(&f, NULL);
    char *log = capture_end();
    CHECK(r == HTTP_OK);
    CHECK(f.resp.status == 200);
    CHECK(f.resp.attempts == 3);
    CHECK_STR(f.resp.body.data, "ok");
    CHECK(f.resp.wait_ms >= 5 + 10); /* backoff 10*[.5,1] then 20*[.5,1] */
    CHECK(server_requests(s) == 3);
    CHECK_CONTAINS(log, "HTTP 503");
    CHECK_CONTAINS(log, "source=testsrc");
    free(log);
    fx_free(&f);
    server_stop(s);
}

static void test_5xx_exhausted_no_secret(void)
{
    reply script[] = {{503, NULL, "upstream down\n\tplease retry", 0, 0}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, s, "/fail?api_token=" SECRET_TOKEN "&x=1&sig=" SECRET_TOKEN "2");
    capture_begin();
    http_result r = fx_run(&f, NULL);
    char *log = capture_end();
    CHECK(r == HTTP_TRANSPORT);
    CHECK(f.resp.attempts == 3);
    CHECK(server_requests(s) == 3);
    char want[256];
    snprintf(want, sizeof(want),
             "GET http://127.0.0.1:%d/fail?api_token=***&x=1&sig=***: HTTP 503 after 3 attempts: "
             "upstream down  please retry",
             s->port);
    CHECK_STR(f.err, want);
    CHECK(no_secret(f.err));
    CHECK(!strstr(f.err, "alice"));
    CHECK(no_secret(log));
    CHECK_CONTAINS(log, "api_token=***");
    /* the server did get the credentials */
    CHECK_CONTAINS(s->seen[0].head, "\r\nAuthorization: Basic YWxpY2U6czNjcjN0LXB3\r\n");
    CHECK_CONTAINS(s->seen[0].head, "\r\nX-Api-Key: " SECRET_HEADER "\r\n");
    CHECK(!strstr(s->seen[0].head, "alice:")); /* not in the URL */
    free(log);
    fx_free(&f);
    server_stop(s);
}

static void test_429_retry_after(void)
{
    reply script[] = {{429, "Retry-After: 1\r\n", "{\"error\":\"slow down\"}", 0, 0},
                      {200, NULL, "fine", 0, 0}};
    server *s = server_start(script, 2);
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, s, "/limited");
    int64_t t0 = now_monotonic_ms();
    capture_begin();
    http_result r = fx_run(&f, NULL);
    char *log = capture_end();
    int64_t el = now_monotonic_ms() - t0;
    CHECK(r == HTTP_OK);
    CHECK(f.resp.status == 200);
    CHECK(f.resp.attempts == 2);
    CHECK(f.resp.wait_ms >= 950);
    CHECK(el >= 950 && el < 3000);
    CHECK_CONTAINS(log, "level=warn source=testsrc");
    CHECK_CONTAINS(log, "429");
    CHECK_CONTAINS(log, "1000 ms");
    free(log);
    fx_free(&f);
    server_stop(s);
}

/* What the scheduler asks before a page: how long the client's limiter would hold a request (a
 * table yields its worker instead of waiting that long). */
static void test_send_delay(void)
{
    fixture f;
    fx_init(&f, NULL);
    CHECK(http_client_send_delay(f.c) == 0);
    ratelimit_pause(f.rl, 300); /* e.g. a 429 of another table of the source */
    int64_t d = http_client_send_delay(f.c);
    CHECK(d > 200 && d <= 300);
    http_client *unlimited = http_client_new(&f.opts, &f.auth, NULL, NULL, NULL, "testsrc");
    CHECK(unlimited && http_client_send_delay(unlimited) == 0);
    http_client_free(unlimited);
    fx_free(&f);
}

static void test_429_exhausted(void)
{
    reply script[] = {{429, NULL, "too many", 0, 0}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, NULL);
    f.opts.max_rate_waits = 2; /* read by the client at execute time */
    set_url(&f.req, s, "/always-429");
    capture_begin();
    http_result r = fx_run(&f, NULL);
    free(capture_end());
    CHECK(r == HTTP_TRANSPORT);
    CHECK(f.resp.attempts == 3);
    CHECK(f.resp.status == 429);
    CHECK_CONTAINS(f.err, "HTTP 429 after 3 attempts");
    CHECK_CONTAINS(f.err, "too many");
    fx_free(&f);
    server_stop(s);
}

static void test_timeout_retried(void)
{
    reply script[] = {{200, NULL, "late", 0, 1500}, {200, NULL, "prompt", 0, 0}};
    server *s = server_start(script, 2);
    fixture f;
    fx_init(&f, NULL);
    f.opts.timeout_ms = 300;
    http_client_free(f.c); /* timeouts are applied at creation */
    f.c = http_client_new(&f.opts, &f.auth, f.rl, NULL, NULL, "testsrc");
    set_url(&f.req, s, "/slow");
    int64_t t0 = now_monotonic_ms();
    capture_begin();
    http_result r = fx_run(&f, NULL);
    char *log = capture_end();
    int64_t el = now_monotonic_ms() - t0;
    CHECK(r == HTTP_OK);
    CHECK(f.resp.status == 200);
    CHECK(f.resp.attempts == 2);
    CHECK_STR(f.resp.body.data, "prompt");
    CHECK(el >= 290 && el < 1400);
    CHECK_CONTAINS(log, "timeout");
    free(log);
    fx_free(&f);
    server_stop(s);

    /* always slow: HTTP_TRANSPORT naming the timeout */
    reply slow[] = {{200, NULL, "late", 0, 1000}};
    s = server_start(slow, 1);
    fx_init(&f, NULL);
    f.opts.timeout_ms = 200;
    f.opts.max_retries = 1;
    http_client_free(f.c);
    f.c = http_client_new(&f.opts, &f.auth, f.rl, NULL, NULL, "testsrc");
    set_url(&f.req, s, "/slower?token=" SECRET_TOKEN);
    capture_begin();
    r = fx_run(&f, NULL);
    log = capture_end();
    CHECK(r == HTTP_TRANSPORT);
    CHECK(f.resp.attempts == 2);
    CHECK(f.resp.status == 0);
    CHECK_CONTAINS(f.err, "/slower?token=***: timeout after 2 attempts (");
    CHECK_CONTAINS(f.err, "timed out");
    CHECK(no_secret(f.err) && no_secret(log));
    free(log);
    fx_free(&f);
    server_stop(s);
}

static void test_connection_refused(void)
{
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, NULL, "/nobody-home");
    capture_begin();
    http_result r = fx_run(&f, NULL);
    free(capture_end());
    CHECK(r == HTTP_TRANSPORT);
    CHECK(f.resp.attempts == 3);
    CHECK_CONTAINS(f.err, "connection failed after 3 attempts (");
    fx_free(&f);
}

static void test_401_not_retried(void)
{
    reply script[] = {{401, "WWW-Authenticate: Bearer\r\n", "{\"error\":\"unauthorized\"}", 0, 0}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, s, "/private");
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK(f.resp.status == 401);
    CHECK(f.resp.attempts == 1);
    CHECK_STR(f.resp.body.data, "{\"error\":\"unauthorized\"}");
    CHECK(server_requests(s) == 1);
    CHECK(f.err[0] == '\0');
    fx_free(&f);
    server_stop(s);
}

static void test_post_and_put(void)
{
    reply script[] = {{201, NULL, "created", 0, 0}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, NULL);
    f.req.method = "POST";
    set_url(&f.req, s, "/search");
    buf_append_str(&f.req.body, "{\"q\":1}");
    http_request_add_header(&f.req, "Accept: application/json");
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK(f.resp.status == 201);
    CHECK(strncmp(s->seen[0].head, "POST /search HTTP/1.1\r\n", 23) == 0);
    CHECK_STR(s->seen[0].body, "{\"q\":1}");
    CHECK_CONTAINS(s->seen[0].head, "\r\nContent-Type: application/json\r\n");
    CHECK_CONTAINS(s->seen[0].head, "\r\nAccept: application/json\r\n");
    CHECK_CONTAINS(s->seen[0].head, "\r\nContent-Length: 7\r\n");

    /* PUT with its own content type, then a GET on the same handle is a plain GET again */
    f.req.method = "PUT";
    f.req.content_type = "text/plain";
    buf_reset(&f.req.body);
    buf_append_str(&f.req.body, "hello");
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK(strncmp(s->seen[1].head, "PUT /search HTTP/1.1\r\n", 22) == 0);
    CHECK_STR(s->seen[1].body, "hello");
    CHECK_CONTAINS(s->seen[1].head, "\r\nContent-Type: text/plain\r\n");

    f.req.method = NULL;
    buf_reset(&f.req.body);
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK(strncmp(s->seen[2].head, "GET /search HTTP/1.1\r\n", 22) == 0);
    CHECK(!strcasestr(s->seen[2].head, "content-length"));
    CHECK(!strcasestr(s->seen[2].head, "content-type"));

    /* POST with an empty body still is a POST */
    f.req.method = "POST";
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK(strncmp(s->seen[3].head, "POST /search HTTP/1.1\r\n", 23) == 0);
    CHECK_CONTAINS(s->seen[3].head, "\r\nContent-Length: 0\r\n");
    fx_free(&f);
    server_stop(s);
}

static void test_redirect(void)
{
    reply script[] = {{301, "Location: /api/v1/lead/?_limit=5\r\nX-First: yes\r\n", "", 0, 0},
                      {200, "X-Final: yes\r\n", "leads", 0, 0}};
    server *s = server_start(script, 2);
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, s, "/api/v1/lead?_limit=5");
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK(f.resp.status == 200);
    CHECK(f.resp.attempts == 1);
    CHECK_STR(f.resp.body.data, "leads");
    CHECK(http_response_header(&f.resp, "x-first") == NULL); /* only the final response */
    CHECK_STR(http_response_header(&f.resp, "x-final"), "yes");
    CHECK(server_requests(s) == 2);
    CHECK(strncmp(s->seen[1].head, "GET /api/v1/lead/?_limit=5 HTTP/1.1\r\n", 37) == 0);
    /* same host: credentials still sent */
    CHECK_CONTAINS(s->seen[1].head, "\r\nAuthorization: Basic ");
    fx_free(&f);
    server_stop(s);

    /* a POST keeps its method and body through a 301 */
    s = server_start(script, 2);
    fx_init(&f, NULL);
    f.req.method = "POST";
    buf_append_str(&f.req.body, "{\"a\":2}");
    set_url(&f.req, s, "/api/v1/lead");
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK(f.resp.status == 200);
    CHECK(strncmp(s->seen[1].head, "POST /api/v1/lead/?_limit=5 HTTP/1.1\r\n", 38) == 0);
    CHECK_STR(s->seen[1].body, "{\"a\":2}");
    fx_free(&f);
    server_stop(s);
}

static void test_proactive_throttle(void)
{
    reply script[] = {
        {200, "X-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: 2\r\n", "last one", 0, 0}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, s, "/x");
    capture_begin();
    http_result r = fx_run(&f, NULL);
    free(capture_end());
    CHECK(r == HTTP_OK);
    CHECK(f.resp.status == 200);
    CHECK(f.resp.attempts == 1);
    int64_t d = ratelimit_peek_delay(f.rl, now_monotonic_ms());
    CHECK(d > 1500 && d <= 2000);
    fx_free(&f);
    server_stop(s);
}

static void daily_budget_signal(void *arg, const http_response *resp, rate_signal *out)
{
    (void)arg;
    const char *v = http_response_header(resp, "x-daily-remaining");
    if (v && strcmp(v, "0") == 0) {
        out->budget_exhausted = 1;
        out->wait_ms = 3600 * 1000;
    }
}

static void test_budget(void)
{
    reply script[] = {{429, "X-Daily-Remaining: 0\r\n", "daily limit", 0, 0}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, daily_budget_signal);
    set_url(&f.req, s, "/x");
    int64_t resume = 0;
    capture_begin();
    http_result r = http_client_execute(f.c, &f.req, &f.resp, NULL, &resume, f.err, sizeof(f.err));
    free(capture_end());
    CHECK(r == HTTP_BUDGET);
    CHECK(f.resp.attempts == 1);
    int64_t left = resume - now_wall_ms();
    CHECK(left > 3590 * 1000 && left <= 3600 * 1000);
    CHECK_CONTAINS(f.err, "budget");
    CHECK_CONTAINS(f.err, "daily limit");
    CHECK(ratelimit_peek_delay(f.rl, now_monotonic_ms()) > 3590 * 1000);
    fx_free(&f);
    server_stop(s);

    /* budget spent on a good response: the response is returned, the source is paused */
    reply script3[] = {{200, "X-Daily-Remaining: 0\r\n", "last page", 0, 0},
                       {403, "X-Daily-Remaining: 0\r\n", "daily limit", 0, 0}};
    s = server_start(script3, 2);
    fx_init(&f, daily_budget_signal);
    set_url(&f.req, s, "/z");
    resume = 0;
    capture_begin();
    r = http_client_execute(f.c, &f.req, &f.resp, NULL, &resume, f.err, sizeof(f.err));
    free(capture_end());
    CHECK(r == HTTP_OK);
    CHECK(f.resp.status == 200);
    CHECK_STR(f.resp.body.data, "last page");
    CHECK(ratelimit_peek_delay(f.rl, now_monotonic_ms()) > 3590 * 1000);
    /* ... and a non-2xx with a spent budget is HTTP_BUDGET whatever the status */
    ratelimit_free(f.rl); /* a fresh bucket so the request goes out */
    f.rl = ratelimit_new(0, 1);
    http_client_free(f.c);
    f.c = http_client_new(&f.opts, &f.auth, f.rl, daily_budget_signal, NULL, "testsrc");
    capture_begin();
    r = http_client_execute(f.c, &f.req, &f.resp, NULL, &resume, f.err, sizeof(f.err));
    free(capture_end());
    CHECK(r == HTTP_BUDGET);
    CHECK(f.resp.status == 403);
    CHECK(resume > now_wall_ms() + 3590 * 1000);
    fx_free(&f);
    server_stop(s);

    /* a connector signal that says nothing falls back to the default headers */
    reply script2[] = {{429, "Retry-After: 0.2\r\n", "", 0, 0}, {200, NULL, "ok", 0, 0}};
    s = server_start(script2, 2);
    fx_init(&f, daily_budget_signal);
    set_url(&f.req, s, "/y");
    capture_begin();
    r = fx_run(&f, NULL);
    free(capture_end());
    CHECK(r == HTTP_OK);
    CHECK(f.resp.attempts == 2);
    CHECK(f.resp.wait_ms >= 190);
    fx_free(&f);
    server_stop(s);
}

static void *stop_later(void *p)
{
    msleep(200);
    flag_set((volatile int *)p, 1);
    return NULL;
}

static void test_stop(void)
{
    reply script[] = {{429, "Retry-After: 30\r\n", "wait", 0, 0}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, s, "/x");

    volatile int stop = 1; /* already stopped: nothing is sent */
    CHECK(fx_run(&f, &stop) == HTTP_STOPPED);
    CHECK(f.resp.attempts == 0);
    CHECK(server_requests(s) == 0);

    stop = 0;
    /* a second client of the same source sees the pause the first one set */
    http_client *other = http_client_new(&f.opts, &f.auth, f.rl, NULL, NULL, "testsrc");
    int64_t t0 = now_monotonic_ms();
    capture_begin();
    pthread_t th;
    pthread_create(&th, NULL, stop_later, (void *)&stop); /* sets the flag after 200 ms */
    http_result r = fx_run(&f, &stop);
    pthread_join(th, NULL);
    free(capture_end());
    int64_t el = now_monotonic_ms() - t0;
    CHECK(r == HTTP_STOPPED);
    CHECK(f.resp.attempts == 1);
    CHECK(el >= 190 && el < 1000);
    CHECK(ratelimit_peek_delay(f.rl, now_monotonic_ms()) > 25000);
    http_response other_resp;
    http_response_init(&other_resp);
    CHECK(http_client_execute(other, &f.req, &other_resp, &stop, NULL, NULL, 0) == HTTP_STOPPED);
    CHECK(other_resp.attempts == 0);
    http_response_free(&other_resp);
    http_client_free(other);
    fx_free(&f);
    server_stop(s);
}

/* #15 item 7: a redirect to another origin is refused; the other host never sees a request (so
 * neither the secret header, the Basic credentials nor the secret parameters). */
static void test_redirect_other_origin(void)
{
    reply thief_script[] = {{200, NULL, "stolen", 0, 0}};
    server *thief = server_start(thief_script, 1);
    char location[128];
    snprintf(location, sizeof(location), "Location: http://127.0.0.1:%d/collect\r\n", thief->port);
    reply script[] = {{302, location, "", 0, 0}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, NULL);
    set_url(&f.req, s, "/api/items?sig=" SECRET_TOKEN);
    capture_begin();
    http_result r = fx_run(&f, NULL);
    char *log = capture_end();
    CHECK(r == HTTP_TRANSPORT);
    CHECK(server_requests(thief) == 0);
    CHECK(server_requests(s) == 1);
    CHECK_CONTAINS(f.err, "another origin: refused");
    CHECK_CONTAINS(f.err, "/collect");
    CHECK(no_secret(f.err) && no_secret(log));
    free(log);
    fx_free(&f);
    server_stop(s);

    /* "localhost" is another host than "127.0.0.1", even on the same port */
    snprintf(location, sizeof(location), "Location: http://localhost:%d/x\r\n", thief->port);
    reply script2[] = {{301, location, "", 0, 0}};
    s = server_start(script2, 1);
    fx_init(&f, NULL);
    set_url(&f.req, s, "/a");
    CHECK(fx_run(&f, NULL) == HTTP_TRANSPORT);
    CHECK(server_requests(thief) == 0);
    fx_free(&f);
    server_stop(s);
    server_stop(thief);
}

/* #15 item 3: a stop request aborts a transfer in flight (a 35 s response) within about a
 * second, instead of waiting for the response or the request timeout. */
static void test_stop_in_flight(void)
{
    reply script[] = {{200, NULL, "too late", 0, 35000}};
    server *s = server_start(script, 1);
    fixture f;
    fx_init(&f, NULL);
    f.opts.timeout_ms = 60000;
    http_client_free(f.c);
    f.c = http_client_new(&f.opts, &f.auth, f.rl, NULL, NULL, "testsrc");
    set_url(&f.req, s, "/slow");
    volatile int stop = 0;
    pthread_t th;
    pthread_create(&th, NULL, stop_later, (void *)&stop);
    int64_t t0 = now_monotonic_ms();
    http_result r = fx_run(&f, &stop);
    int64_t el = now_monotonic_ms() - t0;
    pthread_join(th, NULL);
    CHECK(r == HTTP_STOPPED);
    CHECK(el >= 190 && el < 1700);
    CHECK_CONTAINS(f.err, "stopped");
    fx_free(&f);
    server_stop(s);
}

/* #15 item 8: the decoded body is limited (gzip cannot inflate past it). */
static void test_response_size_limit(void)
{
    reply script[] = {
        {200, NULL, plain_body, 0, 0},
        {200, "Content-Encoding: gzip\r\n", (const char *)gz_body, sizeof(gz_body), 0}};
    server *s = server_start(script, 2);
    fixture f;
    fx_init(&f, NULL);
    f.opts.max_response_bytes = 50;
    set_url(&f.req, s, "/big");
    CHECK(fx_run(&f, NULL) == HTTP_TRANSPORT);
    CHECK_CONTAINS(f.err, "response body larger than 50 bytes");
    CHECK(f.resp.body.len == 0);
    CHECK(fx_run(&f, NULL) == HTTP_TRANSPORT); /* 63 bytes on the wire, 85 decoded */
    CHECK_CONTAINS(f.err, "response body larger than 50 bytes");
    CHECK(server_requests(s) == 2); /* not retried */
    f.opts.max_response_bytes = strlen(plain_body);
    CHECK(fx_run(&f, NULL) == HTTP_OK);
    CHECK_STR(f.resp.body.data, plain_body);
    fx_free(&f);
    server_stop(s);
}

/* #15 item 5: rate-limit waits are capped (logged, counted). */
static void test_rate_wait_capped(void)
{
    reply script[] = {
        {429, "Retry-After: 99999999\r\n", "slow down", 0, 0},
        {200, "X-RateLimit-Remaining: 0\r\nX-RateLimit-Reset: 99999999999\r\n", "ok", 0, 0}};
    server *s = server_start(script, 2);
    fixture f;
    fx_init(&f, NULL);
    f.opts.max_rate_wait_ms = 300;
    atomic_long capped = 0;
    http_client_count_capped_waits(f.c, &capped);
    set_url(&f.req, s, "/x");
    int64_t t0 = now_monotonic_ms();
    capture_begin();
    http_result r = fx_run(&f, NULL);
    char *log = capture_end();
    int64_t el = now_monotonic_ms() - t0;
    CHECK(r == HTTP_OK);
    CHECK(f.resp.attempts == 2);
    CHECK(el >= 290 && el < 2000);
    CHECK(atomic_load(&capped) == 2);
    CHECK_CONTAINS(log, "asks to wait 1e+08 s; waiting max_rate_limit_wait (0.3 s)");
    int64_t d = ratelimit_peek_delay(f.rl, now_monotonic_ms());
    CHECK(d > 0 && d <= 300);
    free(log);
    fx_free(&f);
    server_stop(s);
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        return 2;
    }
    test_backoff();
    test_retry_after();
    test_default_rate_signal();
    test_redact();
    test_excerpt();
    test_request();
    test_gzip_and_keepalive();
    test_5xx_retried();
    test_5xx_exhausted_no_secret();
    test_429_retry_after();
    test_send_delay();
    test_429_exhausted();
    test_timeout_retried();
    test_connection_refused();
    test_401_not_retried();
    test_post_and_put();
    test_redirect();
    test_proactive_throttle();
    test_budget();
    test_stop();
    test_redirect_other_origin();
    test_stop_in_flight();
    test_response_size_limit();
    test_rate_wait_capped();
    curl_global_cleanup();
    return check_summary("http");
}
