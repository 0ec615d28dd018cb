/* source.c — the engine's side of a source: option resolution (defaults, environment secrets)
 * and the objects all of the source's tables share. */
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct source {
    const source_config *cfg;
    const connector *conn;
    const char **opt_names;
    char **opt_values;
    int n_opts;
    http_auth auth;
    http_options http;
    ratelimit *rl;
    void *state;
    char *base_url;
};

static void resolve_options(source *src)
{
    const connector *c = src->conn;
    int n = 0;
    for (const connector_option *o = c->options; o && o->name; o++)
        n++;
    src->opt_names = xcalloc((size_t)n + 1, sizeof(char *));
    src->opt_values = xcalloc((size_t)n + 1, sizeof(char *));
    for (const connector_option *o = c->options; o && o->name; o++) {
        const char *value = o->default_value;
        for (int i = 0; i < src->cfg->n_options; i++)
            if (strcmp(src->cfg->options[i].key, o->name) == 0)
                value = src->cfg->options[i].value;
        if (o->type == OPT_ENV && value)
            value = getenv(value);
        if (o->type == OPT_DURATION && value) {
            char secs[32];
            snprintf(secs, sizeof(secs), "%lld", config_parse_duration(value));
            src->opt_values[src->n_opts] = xstrdup(secs);
        } else {
            src->opt_values[src->n_opts] = value ? xstrdup(value) : NULL;
        }
        src->opt_names[src->n_opts++] = o->name;
    }
}

source *source_new(const source_config *cfg, char *err, size_t errlen)
{
    const connector *c = connector_find(cfg->type);
    if (!c) {
        snprintf(err, errlen, "source %s: unknown type %s", cfg->name, cfg->type);
        return NULL;
    }
    source *src = xcalloc(1, sizeof(*src));
    src->cfg = cfg;
    src->conn = c;
    src->base_url = xstrdup(cfg->base_url ? cfg->base_url : c->default_base_url);
    resolve_options(src);
    http_options_defaults(&src->http);
    src->http.timeout_ms = (long)cfg->timeout_s * 1000;
    src->http.max_rate_wait_ms = (int64_t)cfg->max_rate_wait_s * 1000;
    src->http.max_response_bytes = (size_t)cfg->max_response_mb << 20;
    src->http.verify_tls = cfg->verify_tls;
    src->http.ca_file = cfg->ca_file;
    double rate = cfg->rate >= 0 ? cfg->rate : c->default_rate;
    int burst = cfg->burst > 0 ? cfg->burst : c->default_burst;
    if (cfg->rate < 0 && cfg->burst <= 0 && c->default_window_requests > 0)
        src->rl = ratelimit_new_window(c->default_window_requests, c->default_window_ms);
    else
        src->rl = ratelimit_new(rate, burst > 0 ? burst : 1);
    if (c->source_init && c->source_init(src, err, errlen)) {
        source_free(src);
        return NULL;
    }
    return src;
}

void source_free(source *src)
{
    if (!src)
        return;
    if (src->conn->source_free)
        src->conn->source_free(src);
    for (int i = 0; i < src->n_opts; i++)
        free(src->opt_values[i]);
    free(src->opt_values);
    free(src->opt_names);
    ratelimit_free(src->rl);
    free(src->base_url);
    free(src);
}

const char *source_name(const source *src)
{
    return src->cfg->name;
}

const char *source_base_url(const source *src)
{
    return src->base_url;
}

const char *source_option(const source *src, const char *name)
{
    for (int i = 0; i < src->n_opts; i++)
        if (strcmp(src->opt_names[i], name) == 0)
            return src->opt_values[i];
    return NULL;
}

long long source_option_int(const source *src, const char *name)
{
    const char *v = source_option(src, name);
    return v ? strtoll(v, NULL, 10) : 0;
}

int64_t source_start_ms(const source *src)
{
    return src->cfg->start_ms;
}

int source_reconcile_interval(const source *src)
{
    return src->cfg->reconcile_interval_s >= 0 ? src->cfg->reconcile_interval_s
                                               : src->conn->default_reconcile_interval_s;
}

http_auth *source_auth(source *src)
{
    return &src->auth;
}

void *source_state(const source *src)
{
    return src->state;
}

void source_set_state(source *src, void *state)
{
    src->state = state;
}

const connector *source_connector(const source *src)
{
    return src->conn;
}

const source_config *source_config_of(const source *src)
{
    return src->cfg;
}

const http_options *source_http_options(const source *src)
{
    return &src->http;
}

ratelimit *source_ratelimit(source *src)
{
    return src->rl;
}

void source_rate_signal(void *src, const http_response *resp, rate_signal *out)
{
    source *s = src;
    if (s->conn->rate_signal)
        s->conn->rate_signal(s, resp, out);
}
