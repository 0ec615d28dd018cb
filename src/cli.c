/* cli.c — `check` (config, Kafka, credentials: one OK/error line each), `tables` (what each
 * source would sync, and where) and `state` (bookmarks in the state topic). */
#include "cli.h"
#include "schema_resolver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_embedded.h"
#include "connector.h"
#include "crm_time.h"
#include "dedupe_log.h"
#include "engine.h"
#include "kafka.h"
#include "source.h"
#include "state.h"
#include "topic_reader.h"

static int check_source(const source_config *sc)
{
    char err[1024];
    source *src = source_new(sc, err, sizeof(err));
    if (!src) {
        printf("%-28s ERROR %s\n", sc->name, err);
        return EXIT_CONFIG;
    }
    const connector *c = source_connector(src);
    http_request req;
    http_request_init(&req);
    http_response resp;
    http_response_init(&resp);
    int code = EXIT_OK;
    http_client *hc = http_client_new(source_http_options(src), source_auth(src),
                                      source_ratelimit(src), c->rate_signal, sc->name);
    if (!hc || c->check_request(src, &req)) {
        printf("source %-21s ERROR cannot build the check request\n", sc->name);
        code = EXIT_RUNTIME;
        goto out;
    }
    http_result r =
        http_client_execute(hc, &req, &resp, &engine_stop_requested, NULL, err, sizeof(err));
    char url[512], excerpt[256];
    http_redact_url(req.url.data, source_auth(src), url, sizeof(url));
    if (r != HTTP_OK) {
        printf("source %-21s ERROR %s\n", sc->name, err);
        code = EXIT_RUNTIME;
    } else if (resp.status >= 200 && resp.status < 300) {
        printf("source %-21s OK    %s %s (HTTP %ld)\n", sc->name, c->name, url, resp.status);
    } else {
        http_body_excerpt(&resp, excerpt, sizeof(excerpt));
        printf("source %-21s ERROR %s %s: HTTP %ld: %s\n", sc->name, c->name, url, resp.status,
               excerpt);
        code = resp.status == 401 || resp.status == 403 ? EXIT_AUTH : EXIT_RUNTIME;
    }
out:
    if (hc)
        http_client_free(hc);
    http_request_free(&req);
    http_response_free(&resp);
    source_free(src);
    return code;
}

int cli_check(const crm_config *cfg)
{
    int code = EXIT_OK;
    printf("%-28s OK    %s (%d source%s)\n", "config", cfg->path, cfg->n_sources,
           cfg->n_sources == 1 ? "" : "s");
    char err[1024];
    int brokers = kafka_probe(&cfg->kafka, 10000, err, sizeof(err));
    if (brokers < 0) {
        printf("%-28s ERROR %s\n", "kafka", err);
        code = EXIT_KAFKA;
    } else {
        printf("%-28s OK    %s (%d broker%s)\n", "kafka", cfg->kafka.bootstrap_servers, brokers,
               brokers == 1 ? "" : "s");
    }
    for (int i = 0; i < cfg->n_sources; i++) {
        int rc = check_source(&cfg->sources[i]);
        if (rc != EXIT_OK && code == EXIT_OK)
            code = rc;
    }
    return code;
}

int cli_tables(const crm_config *cfg)
{
    printf("%-14s %-22s %-12s %-10s %-14s %-9s %s\n", "SOURCE", "TABLE", "METHOD", "KEY",
           "REPLICATION", "LOOKBACK", "TOPIC");
    for (int i = 0; i < cfg->n_sources; i++) {
        const source_config *sc = &cfg->sources[i];
        const connector *c = connector_find(sc->type);
        for (size_t j = 0; j < c->n_tables; j++) {
            const table_def *t = &c->tables[j];
            if (!config_table_enabled(sc, t->name))
                continue;
            printf("%-14s %-22s %-12s %-10s %-14s %-9d %s.%s.%s\n", sc->name, t->name,
                   sync_method_name(t->method), t->primary_key,
                   t->replication_key ? t->replication_key : "-",
                   config_table_lookback(sc, t->name, t->lookback_seconds), cfg->kafka.topic_prefix,
                   sc->name, t->name);
        }
        printf("\n%s options (%s):\n", sc->name, c->name);
        for (const connector_option *o = c->options; o && o->name; o++)
            printf("  %-22s default %-16s %s\n", o->name,
                   o->default_value ? o->default_value : "(required)", o->description);
        printf("\n");
    }
    return EXIT_OK;
}

/* The dedupe map of one table, replayed from the state topic as the engine does. */
typedef struct table_keys {
    char *name; /* "source/table" */
    dedupe *dd;
    dedupe_log *log;
} table_keys;

typedef struct state_dump {
    json_t *bookmarks; /* key -> value text */
    table_keys *tables;
    size_t n_tables;
} state_dump;

static table_keys *keys_of(state_dump *d, const char *name)
{
    for (size_t i = 0; i < d->n_tables; i++)
        if (strcmp(d->tables[i].name, name) == 0)
            return &d->tables[i];
    d->tables = xrealloc(d->tables, (d->n_tables + 1) * sizeof(table_keys));
    table_keys *t = &d->tables[d->n_tables++];
    *t = (table_keys){xstrdup(name), dedupe_new(), dedupe_log_new()};
    return t;
}

static void free_dump(state_dump *d)
{
    json_decref(d->bookmarks);
    for (size_t i = 0; i < d->n_tables; i++) {
        free(d->tables[i].name);
        dedupe_free(d->tables[i].dd);
        dedupe_log_free(d->tables[i].log);
    }
    free(d->tables);
}

static int collect_state(const char *key, size_t klen, const char *value, size_t vlen, void *u)
{
    state_dump *d = u;
    char *k = strndup(key, klen);
    if (strncmp(k, "bm/", 3) == 0) {
        if (value)
            json_object_set_new(d->bookmarks, k + 3, json_stringn(value, vlen));
        else
            json_object_del(d->bookmarks, k + 3);
    } else if (strncmp(k, "dd/", 3) == 0 || strncmp(k, "dc/", 3) == 0) {
        /* <kind>/<source>/<table>/<pk or sequence number> */
        char *slash = strchr(k + 3, '/');
        slash = slash ? strchr(slash + 1, '/') : NULL;
        if (slash) {
            *slash = '\0';
            table_keys *t = keys_of(d, k + 3);
            const char *rest = slash + 1;
            if (k[1] == 'd')
                dedupe_log_restore_legacy(t->log, t->dd, rest, klen - (size_t)(rest - k), value,
                                          vlen);
            else
                dedupe_log_restore_chunk(t->log, t->dd, strtoull(rest, NULL, 10), value, vlen);
        }
    }
    free(k);
    return 0;
}

int cli_state(const crm_config *cfg)
{
    state_dump d = {json_object(), NULL, 0};
    char err[1024];
    long n = state_restore(&cfg->kafka, collect_state, &d, 60000, err, sizeof(err));
    if (n < 0) {
        fprintf(stderr, "crmstream: %s\n", err);
        free_dump(&d);
        return EXIT_KAFKA;
    }
    printf("%-36s %-26s %-8s %-7s %s\n", "SOURCE/TABLE", "BOOKMARK", "PASSES", "KEYS",
           "IN PROGRESS");
    const char *k;
    json_t *v;
    json_object_foreach(d.bookmarks, k, v)
    {
        state_bookmark bm;
        state_bookmark_init(&bm);
        const char *text = json_string_value(v);
        if (state_bookmark_parse(text, strlen(text), &bm, err, sizeof(err))) {
            printf("%-36s (unreadable: %s)\n", k, err);
        } else {
            char when[40] = "-";
            if (bm.bookmark_ms != CRM_TIME_NONE)
                crm_time_format(bm.bookmark_ms, when, sizeof(when));
            table_keys *tk = keys_of(&d, k);
            printf("%-36s %-26s %-8d %-7zu %s\n", k, when, bm.passes, dedupe_count(tk->dd),
                   json_object_size(bm.paging) ? "yes" : "no");
        }
        state_bookmark_clear(&bm);
    }
    printf("(%ld state records read from %s)\n", n, cfg->kafka.state_topic);
    free_dump(&d);
    return EXIT_OK;
}

/* ---- peek -------------------------------------------------------------------------------- */

const table_def *cli_table_topic(const crm_config *cfg, const char *spec, char **topic, char *err,
                                 size_t errlen)
{
    /* spec: "table" (first source having it) or "source.table" */
    const char *dot = strchr(spec, '.');
    for (int i = 0; i < cfg->n_sources; i++) {
        const source_config *sc = &cfg->sources[i];
        const char *table = spec;
        if (dot) {
            if (strlen(sc->name) != (size_t)(dot - spec) ||
                strncmp(sc->name, spec, (size_t)(dot - spec)))
                continue;
            table = dot + 1;
        }
        const table_def *t = connector_table(connector_find(sc->type), table);
        if (!t)
            continue;
        buf b;
        buf_init(&b);
        buf_printf(&b, "%s.%s.%s", cfg->kafka.topic_prefix, sc->name, t->name);
        *topic = b.data;
        return t;
    }
    snprintf(err, errlen, "no source of %s has a table \"%s\" (use SOURCE.TABLE)", cfg->path, spec);
    return NULL;
}

/* Transaction markers take offsets too, so peek reads a margin before the last n offsets and
 * keeps the last n records it saw. */
typedef struct peek_ctx {
    schema_resolver *resolver;
    json_t *ring; /* the last n events, oldest first */
    long n;
} peek_ctx;

static int keep_event(const topic_record *r, void *u)
{
    peek_ctx *p = u;
    char err[512];
    buf key;
    buf_init(&key);
    resolver_key_text(r->key ? r->key : "", r->key ? r->key_len : 0, &key);
    json_t *ev = NULL;
    if (r->value) {
        ev = resolver_decode(p->resolver, r->value, r->value_len, err, sizeof(err));
        if (!ev)
            ev = json_pack("{s:s}", "error", err);
    }
    json_t *line = json_pack("{s:I, s:I, s:s%, s:o}", "partition", (json_int_t)r->partition,
                             "offset", (json_int_t)r->offset, "key", key.data ? key.data : "",
                             key.len, "value", ev ? ev : json_null());
    buf_free(&key);
    if (line && json_array_append_new(p->ring, line) == 0 && (long)json_array_size(p->ring) > p->n)
        json_array_remove(p->ring, 0);
    return 0;
}

int cli_peek(const crm_config *cfg, const char *spec, long n)
{
    char err[1024];
    char *topic = NULL;
    if (!cli_table_topic(cfg, spec, &topic, err, sizeof(err))) {
        fprintf(stderr, "crmstream: %s\n", err);
        return EXIT_CONFIG;
    }
    peek_ctx p = {resolver_new(cfg), json_array(), n > 0 ? n : 1};
    long margin = p.n * 2 + 1000;
    long rc = topic_read(&cfg->kafka, topic, p.n + margin, keep_event, &p, 30000, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "crmstream: %s\n", err);
    else if (rc == 0)
        fprintf(stderr, "crmstream: %s is empty\n", topic);
    size_t i;
    json_t *line;
    json_array_foreach(p.ring, i, line)
    {
        char *s = json_dumps(line, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        if (s)
            printf("%s\n", s);
        free(s);
    }
    json_decref(p.ring);
    resolver_free(p.resolver);
    free(topic);
    return rc < 0 ? EXIT_KAFKA : EXIT_OK;
}
