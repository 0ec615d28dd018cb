/* cli_check.c — `crmstream check`: is the config valid, is Kafka reachable, does each source
 * accept its credentials? A check is a question, not a sync: Kafka and every source are probed
 * at the same time, each with one try and short timeouts (no retries, no rate-limit waits), so
 * the answer comes in seconds even when nothing is reachable; the summary table is the output. */
#include "cli.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_columns.h"
#include "engine.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "source.h"

/* Worst case: every probe waits its full timeout, in parallel. */
#define CHECK_KAFKA_TIMEOUT_MS   6000
#define CHECK_CONNECT_TIMEOUT_MS 4000
#define CHECK_REQUEST_TIMEOUT_MS 8000

typedef struct check_probe {
    const crm_config *cfg;
    const source_config *sc; /* NULL: the Kafka probe */
    pthread_t thread;
    int started;
    int code; /* exit code this probe stands for (EXIT_OK when fine) */
    char what[640];
    char detail[1400];
} check_probe;

/* One try, short timeouts: the check's HTTP options derived from the source's own. */
static void check_http_options(const source *src, http_options *o)
{
    *o = *source_http_options(src);
    o->max_retries = 0;
    o->max_rate_waits = 0;
    if (o->connect_timeout_ms <= 0 || o->connect_timeout_ms > CHECK_CONNECT_TIMEOUT_MS)
        o->connect_timeout_ms = CHECK_CONNECT_TIMEOUT_MS;
    if (o->timeout_ms <= 0 || o->timeout_ms > CHECK_REQUEST_TIMEOUT_MS)
        o->timeout_ms = CHECK_REQUEST_TIMEOUT_MS;
}

static void probe_source(check_probe *p, source *src)
{
    static volatile int never_stop;
    const connector *c = source_connector(src);
    http_options opts;
    check_http_options(src, &opts);
    http_request req;
    http_request_init(&req);
    http_response resp;
    http_response_init(&resp);
    http_client *hc =
        http_client_new(&opts, source_auth(src), NULL, source_rate_signal, src, p->sc->name);
    if (!hc || c->check_request(src, &req)) {
        snprintf(p->detail, sizeof(p->detail), "cannot build the check request");
        p->code = EXIT_RUNTIME;
        goto out;
    }
    char err[1024], url[512], excerpt[256];
    http_redact_url(req.url.data, source_auth(src), url, sizeof(url));
    snprintf(p->what, sizeof(p->what), "%s %s", c->name, url);
    http_result r = http_client_execute(hc, &req, &resp, &never_stop, NULL, err, sizeof(err));
    if (r != HTTP_OK) {
        /* err starts with "METHOD url: ", which the TARGET column already shows */
        const char *reason = strstr(err, url);
        reason =
            reason && strncmp(reason + strlen(url), ": ", 2) == 0 ? reason + strlen(url) + 2 : err;
        snprintf(p->detail, sizeof(p->detail), "%s", reason);
        p->code = EXIT_RUNTIME;
    } else if (resp.status >= 200 && resp.status < 300) {
        snprintf(p->detail, sizeof(p->detail), "HTTP %ld, credentials accepted", resp.status);
    } else {
        http_body_excerpt(&resp, excerpt, sizeof(excerpt));
        int auth = resp.status == 401 || resp.status == 403;
        snprintf(p->detail, sizeof(p->detail), "HTTP %ld%s: %s", resp.status,
                 auth ? " (credentials rejected)" : "", excerpt);
        p->code = auth ? EXIT_AUTH : EXIT_RUNTIME;
    }
out:
    if (hc)
        http_client_free(hc);
    http_request_free(&req);
    http_response_free(&resp);
}

static void probe_kafka(check_probe *p)
{
    char err[1024];
    snprintf(p->what, sizeof(p->what), "%s", p->cfg->kafka.bootstrap_servers);
    int brokers = kafka_probe(&p->cfg->kafka, CHECK_KAFKA_TIMEOUT_MS, err, sizeof(err));
    if (brokers < 0) {
        snprintf(p->detail, sizeof(p->detail), "%s", err);
        p->code = EXIT_KAFKA;
    } else {
        snprintf(p->detail, sizeof(p->detail), "%d broker%s", brokers, brokers == 1 ? "" : "s");
    }
}

static void *run_probe(void *arg)
{
    check_probe *p = arg;
    if (!p->sc) {
        probe_kafka(p);
        return NULL;
    }
    char err[1024];
    source *src = source_new(p->sc, err, sizeof(err));
    if (!src) {
        snprintf(p->detail, sizeof(p->detail), "%s", err);
        p->code = EXIT_CONFIG;
        return NULL;
    }
    probe_source(p, src);
    source_free(src);
    return NULL;
}

static void add_result(cli_columns *t, const char *check, const char *what, int code,
                       const char *detail)
{
    const char *cells[] = {check, code == EXIT_OK ? "OK" : "ERROR", what, detail};
    cli_columns_add(t, cells);
}

int cli_check(const crm_config *cfg)
{
    /* Every failure a probe logs is in the summary: the log lines would only bury it (kept at
     * log_level = "debug"). */
    log_level level = log_get_level();
    if (level != LOG_DEBUG)
        log_set_level((log_level)(LOG_ERROR + 1));
    int n = cfg->n_sources + 1;
    check_probe *probes = xcalloc((size_t)n, sizeof(*probes));
    for (int i = 0; i < n; i++) {
        probes[i].cfg = cfg;
        probes[i].sc = i == 0 ? NULL : &cfg->sources[i - 1];
        probes[i].code = EXIT_OK;
        probes[i].started = pthread_create(&probes[i].thread, NULL, run_probe, &probes[i]) == 0;
        if (!probes[i].started) /* no thread: probe here, one after the other */
            run_probe(&probes[i]);
    }
    for (int i = 0; i < n; i++)
        if (probes[i].started)
            pthread_join(probes[i].thread, NULL);
    log_set_level(level);

    static const char *const headers[] = {"CHECK", "RESULT", "TARGET", "DETAIL"};
    cli_columns *t = cli_columns_new(4, headers);
    char count[64];
    snprintf(count, sizeof(count), "%d source%s", cfg->n_sources, cfg->n_sources == 1 ? "" : "s");
    add_result(t, "config", cfg->path, EXIT_OK, count);
    int code = EXIT_OK;
    for (int i = 0; i < n; i++) {
        char check[160];
        snprintf(check, sizeof(check), "%s%s", i == 0 ? "kafka" : "source ",
                 i == 0 ? "" : probes[i].sc->name);
        add_result(t, check, probes[i].what[0] ? probes[i].what : "-", probes[i].code,
                   probes[i].detail);
        if (probes[i].code != EXIT_OK && code == EXIT_OK)
            code = probes[i].code;
    }
    cli_columns_print(t, stdout);
    cli_columns_free(t);
    free(probes);
    return code;
}
