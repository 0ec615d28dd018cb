/* source.c — the engine's side of a source: option resolution (defaults, secrets from
 * environment variables or files)
 * and the objects all of the source's tables share. */
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct source {
    const source_config *cfg;
    const connector *conn;
    void *options;      /* the connector's options struct */
    char **opt_strings; /* what its string members point at */
    int n_opts;
    http_auth auth;
    http_options http;
    ratelimit_groups *limiters; /* the source's own (requests of no group) and each group's */
    void *state;
    char *base_url;
};

/* The value of option o as configured, or its default (OPT_ENV: the variable's name). */
static const char *configured_value(const source *src, const connector_option *o)
{
    for (int i = 0; i < src->cfg->n_options; i++)
        if (strcmp(src->cfg->options[i].key, o->name) == 0)
            return src->cfg->options[i].value;
    return o->default_value;
}

/* An OPT_ENV option's secret: the one read at load from its file twin when that is configured,
 * else the one in the variable the option names. */
static const char *option_secret(const source *src, const connector_option *o, const char *var)
{
    for (int i = 0; i < src->cfg->n_file_secrets; i++)
        if (strcmp(src->cfg->file_secrets[i].key, o->name) == 0)
            return src->cfg->file_secrets[i].value;
    return var ? getenv(var) : NULL;
}

static size_t option_member_size(option_type t)
{
    switch (t) {
    case OPT_INT:
    case OPT_DURATION:
        return sizeof(long long);
    case OPT_BOOL:
        return sizeof(int);
    default:
        return sizeof(const char *);
    }
}

/* Fills the connector's options struct once; -1 with err when the connector's table does not
 * fit its struct (a connector bug, reported at start rather than as a wrong value later). */
static int resolve_options(source *src, char *err, size_t errlen)
{
    const connector *c = src->conn;
    int n = 0;
    for (const connector_option *o = c->options; o && o->name; o++) {
        if (o->offset + option_member_size(o->type) > c->options_size) {
            snprintf(err, errlen, "connector %s: option %s lies outside its options struct",
                     c->name, o->name);
            return -1;
        }
        n++;
    }
    src->options = xcalloc(1, c->options_size ? c->options_size : 1);
    src->opt_strings = xcalloc((size_t)n + 1, sizeof(char *));
    for (const connector_option *o = c->options; o && o->name; o++) {
        const char *value = configured_value(src, o);
        char *member = (char *)src->options + o->offset;
        if (o->type == OPT_ENV)
            value = option_secret(src, o, value);
        switch (o->type) {
        case OPT_INT:
            *(long long *)member = value ? strtoll(value, NULL, 10) : 0;
            break;
        case OPT_DURATION:
            *(long long *)member = value ? config_parse_duration(value) : 0;
            break;
        case OPT_BOOL:
            *(int *)member = value && strcmp(value, "true") == 0;
            break;
        case OPT_STRING:
        case OPT_ENV:
            src->opt_strings[src->n_opts] = value ? xstrdup(value) : NULL;
            *(const char **)member = src->opt_strings[src->n_opts++];
            break;
        }
    }
    return 0;
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
    if (resolve_options(src, err, errlen)) {
        source_free(src);
        return NULL;
    }
    http_options_defaults(&src->http);
    src->http.timeout_ms = (long)cfg->timeout_s * 1000;
    src->http.max_rate_wait_ms = (int64_t)cfg->max_rate_wait_s * 1000;
    src->http.max_response_bytes = (size_t)cfg->max_response_mb << 20;
    src->http.verify_tls = cfg->verify_tls;
    src->http.ca_file = cfg->ca_file;
    double rate = cfg->rate >= 0 ? cfg->rate : c->default_rate;
    int burst = cfg->burst > 0 ? cfg->burst : c->default_burst;
    int configured = cfg->rate >= 0 || cfg->burst > 0;
    ratelimit *shared;
    if (!configured && c->default_window_requests > 0)
        shared = ratelimit_new_window(c->default_window_requests, c->default_window_ms);
    else
        shared = ratelimit_new(rate, burst > 0 ? burst : 1);
    /* an endpoint group paces by the limit its responses state, unless the config sets a limit
     * for the whole source */
    src->limiters = ratelimit_groups_new(shared, rate, burst > 0 ? burst : 1, !configured);
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
        free(src->opt_strings[i]);
    free(src->opt_strings);
    free(src->options);
    ratelimit_groups_free(src->limiters);
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

const void *source_options(const source *src)
{
    return src->options;
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
    return ratelimit_groups_get(src->limiters, NULL);
}

ratelimit *source_ratelimit_for(source *src, const char *group)
{
    return ratelimit_groups_get(src->limiters, group);
}

void source_rate_signal(void *src, const http_response *resp, rate_signal *out)
{
    source *s = src;
    if (s->conn->rate_signal)
        s->conn->rate_signal(s, resp, out);
}
