/* ops_server.c — a small libmicrohttpd server for probes and Prometheus scrapes. Its handlers
 * only read atomics and registered metrics, so they never block the sync threads.
 *
 * It must keep answering /healthz when someone opens many slow connections (a probe that
 * fails gets the pod restarted): one epoll thread (select() stops at 1024 descriptors), at
 * most OPS_MAX_CONNECTIONS connections and OPS_MAX_PER_IP from one address (a probe comes from
 * another address than a flood), idle connections closed after OPS_IDLE_TIMEOUT_S. MHD's own
 * messages go through our logger (a line per second at most), never raw to stderr. */
#include "ops_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

#define OPS_MAX_CONNECTIONS 256
#define OPS_MAX_PER_IP      32
#define OPS_IDLE_TIMEOUT_S  5u

struct ops_server {
    struct MHD_Daemon *daemon;
    ops_health_fn health;
    int port;
};

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *type,
                                 const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (MHD_add_response_header(r, "Content-Type", type) != MHD_YES) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_health(ops_server *s, struct MHD_Connection *conn, int ready)
{
    int ok = 0;
    json_t *j = s->health(ready, &ok);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    enum MHD_Result rc = send_text(conn, ok ? 200 : 503, "application/json", text ? text : "{}",
                                   text ? strlen(text) : 2);
    free(text);
    return rc;
}

/* Every source's and table's health as JSON (metrics_status_json): what `crmstream state` shows
 * of a running instance. */
static enum MHD_Result send_status(struct MHD_Connection *conn)
{
    json_t *j = metrics_status_json();
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    enum MHD_Result rc = text ? send_text(conn, 200, "application/json", text, strlen(text))
                              : send_text(conn, 500, "text/plain", "out of memory\n", 14);
    free(text);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    ops_server *s = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_text(conn, 405, "text/plain", "method not allowed\n", 19);
    if (strcmp(url, "/metrics") == 0) {
        buf b;
        buf_init(&b);
        metrics_render(&b);
        enum MHD_Result rc =
            send_text(conn, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
        buf_free(&b);
        return rc;
    }
    if (strcmp(url, "/status") == 0)
        return send_status(conn);
    if (strcmp(url, "/healthz") == 0)
        return send_health(s, conn, 0);
    if (strcmp(url, "/readyz") == 0)
        return send_health(s, conn, 1);
    return send_text(conn, 404, "text/plain",
                     "not found: try /metrics, /status, /healthz, /readyz\n", 52);
}

/* MHD's messages (connection limit reached, a client gone...) as warnings: at most one line a
 * second, saying how many were dropped since the last, so a flood cannot flood the log. */
static void log_mhd_message(void *cls, const char *fmt, va_list ap)
{
    static _Atomic int64_t last_ms;
    static atomic_long dropped;
    (void)cls;
    int64_t now = now_monotonic_ms(), last = atomic_load(&last_ms);
    if (now - last < 1000 || !atomic_compare_exchange_strong(&last_ms, &last, now)) {
        atomic_fetch_add(&dropped, 1);
        return;
    }
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    long skipped = atomic_exchange(&dropped, 0);
    if (skipped)
        log_warn(NULL, NULL, "metrics server: %s (%ld similar messages dropped)", msg, skipped);
    else
        log_warn(NULL, NULL, "metrics server: %s", msg);
}

ops_server *ops_server_start(const char *address, int port, ops_health_fn health, char *err,
                             size_t errlen)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "metrics.listen: \"%s\" is not an IPv4 address", address);
        return NULL;
    }
    ops_server *s = xcalloc(1, sizeof(*s));
    s->health = health;
    s->daemon = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, OPS_IDLE_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)OPS_MAX_CONNECTIONS,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)OPS_MAX_PER_IP,
                                 MHD_OPTION_EXTERNAL_LOGGER, log_mhd_message, NULL, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "metrics: cannot listen on %s:%d", address, port);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    log_info(NULL, NULL, "metrics and probes on http://%s:%d (/metrics /status /healthz /readyz)",
             address, s->port);
    return s;
}

int ops_server_port(const ops_server *s)
{
    return s->port;
}

void ops_server_stop(ops_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
