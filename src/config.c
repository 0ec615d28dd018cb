/* config.c — libconfig parsing with strict validation: unknown settings, wrong types, bad
 * durations, unknown source types, tables or connector options are all errors naming file:line. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "crm_time.h"
#include "util.h"

typedef struct loader {
    const char *path;
    char *err;
    size_t errlen;
    int failed;
    int crm_secrets_required; /* 0 for commands that never talk to a CRM */
} loader;

/* A CRM credential's environment variable is unset, and this command needs it. */

static int fail_at(loader *ld, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void setting_path(const config_setting_t *s, char *out, size_t outlen)
{
    if (!s || !config_setting_parent(s)) {
        snprintf(out, outlen, "%s", "(root)");
        return;
    }
    char parent[256];
    const config_setting_t *p = config_setting_parent(s);
    if (config_setting_parent(p))
        setting_path(p, parent, sizeof(parent));
    else
        parent[0] = '\0';
    const char *name = config_setting_name(s);
    if (name)
        snprintf(out, outlen, "%s%s%s", parent, parent[0] ? "." : "", name);
    else
        snprintf(out, outlen, "%s[%d]", parent, config_setting_index(s));
}

static int fail_at(loader *ld, const config_setting_t *s, const char *fmt, ...)
{
    if (ld->failed)
        return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char where[300];
    setting_path(s, where, sizeof(where));
    int line = s ? (int)config_setting_source_line(s) : 0;
    snprintf(ld->err, ld->errlen, "%s:%d: %s: %s", ld->path, line, where, msg);
    ld->failed = 1;
    return -1;
}

long long config_parse_duration(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    long long mult = 1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mult = 60, end++;
    else if (*end == 'h')
        mult = 3600, end++;
    else if (*end == 'd')
        mult = 86400, end++;
    if (*end || v > LLONG_MAX / mult)
        return -1;
    return v * mult;
}

/* Reads a duration setting given as a string ("5m") or an integer (seconds). */
static int read_duration(loader *ld, const config_setting_t *s, int *out)
{
    if (config_setting_type(s) == CONFIG_TYPE_INT) {
        int v = config_setting_get_int(s);
        if (v < 0)
            return fail_at(ld, s, "duration must not be negative");
        *out = v;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(ld, s, "expected a duration like \"30s\", \"5m\", \"24h\"");
    long long v = config_parse_duration(config_setting_get_string(s));
    if (v < 0 || v > 100LL * 365 * 86400)
        return fail_at(ld, s, "invalid duration \"%s\" (use e.g. \"30s\", \"5m\", \"24h\", \"7d\")",
                       config_setting_get_string(s));
    *out = (int)v;
    return 0;
}

/* A duration between min_s and max_s (named in the error as `range`), in milliseconds. */
static int read_duration_ms(loader *ld, const config_setting_t *s, int min_s, int max_s,
                            const char *range, int *out_ms)
{
    int secs;
    if (read_duration(ld, s, &secs))
        return -1;
    if (secs < min_s || secs > max_s)
        return fail_at(ld, s, "must be between %s", range);
    *out_ms = secs * 1000;
    return 0;
}

/* A secret from environment variable `name`: set, and free of control characters (a CR/LF in a
 * token would add a header line to every request). The error names the variable (at s), never
 * the value; `what` prefixes it ("" or "options.x: "). */
static const char *secret_env(loader *ld, const config_setting_t *s, const char *what,
                              const char *name)
{
    const char *v = getenv(name);
    if (!v) {
        fail_at(ld, s, "%senvironment variable %s is not set", what, name);
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            fail_at(ld, s,
                    "%senvironment variable %s contains a control character (byte %zu of its "
                    "value; a stray newline?)",
                    what, name, (size_t)(p - (const unsigned char *)v) + 1);
            return NULL;
        }
    return v;
}

/* A CRM credential: checked like any secret by the commands that talk to a CRM, not looked at
 * by the others (tables, state, peek). 1 when usable or not needed. */
static int crm_secret(loader *ld, const config_setting_t *s, const char *what, const char *name)
{
    return !ld->crm_secrets_required || secret_env(ld, s, what, name) != NULL;
}

static int read_string(loader *ld, const config_setting_t *s, char **out)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(ld, s, "expected a string");
    free(*out);
    *out = xstrdup(config_setting_get_string(s));
    return 0;
}

static int read_int(loader *ld, const config_setting_t *s, int min, int max, int *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_INT)
        return fail_at(ld, s, "expected an integer");
    int v = config_setting_get_int(s);
    if (v < min || v > max)
        return fail_at(ld, s, "must be between %d and %d", min, max);
    *out = v;
    return 0;
}

static int read_bool(loader *ld, const config_setting_t *s, int *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fail_at(ld, s, "expected true or false");
    *out = config_setting_get_bool(s);
    return 0;
}

static int read_string_list(loader *ld, const config_setting_t *s, char ***out, int *n)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return fail_at(ld, s, "expected a list of strings like [\"a\", \"b\"]");
    int len = config_setting_length(s);
    *out = xcalloc((size_t)len + 1, sizeof(char *));
    *n = 0;
    for (int i = 0; i < len; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail_at(ld, e, "expected a string");
        (*out)[(*n)++] = xstrdup(config_setting_get_string(e));
    }
    return 0;
}

/* "name=value" strings, as used for librdkafka properties and topic configs. */
static int read_kv_list(loader *ld, const config_setting_t *s, kv **out, int *n)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return fail_at(ld, s, "expected a list of \"name=value\" strings");
    int len = config_setting_length(s);
    *out = xcalloc((size_t)len + 1, sizeof(kv));
    *n = 0;
    for (int i = 0; i < len; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *str = config_setting_get_string(e);
        const char *eq = str ? strchr(str, '=') : NULL;
        if (!eq || eq == str)
            return fail_at(ld, e, "expected \"name=value\"");
        kv *item = &(*out)[(*n)++];
        item->key = strndup(str, (size_t)(eq - str));
        item->value = xstrdup(eq + 1);
        item->line = (int)config_setting_source_line(e);
    }
    return 0;
}

/* "property=ENV_VAR" strings: each property's value is the secret in that variable. */
static int read_secret_properties(loader *ld, const config_setting_t *s, kv **out, int *n)
{
    if (read_kv_list(ld, s, out, n))
        return -1;
    for (int i = 0; i < *n; i++) {
        const char *v =
            secret_env(ld, config_setting_get_elem(s, (unsigned)i), "", (*out)[i].value);
        if (!v)
            return -1;
        free((*out)[i].value);
        (*out)[i].value = xstrdup(v);
    }
    return 0;
}

static int expect_group(loader *ld, const config_setting_t *s)
{
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return fail_at(ld, s, "expected a group { ... }");
    return 0;
}

static int load_kafka(loader *ld, const config_setting_t *g, kafka_config *k)
{
    if (expect_group(ld, g))
        return -1;
    for (int i = 0; i < config_setting_length(g) && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *n = config_setting_name(s);
        if (strcmp(n, "bootstrap_servers") == 0)
            read_string(ld, s, &k->bootstrap_servers);
        else if (strcmp(n, "topic_prefix") == 0)
            read_string(ld, s, &k->topic_prefix);
        else if (strcmp(n, "state_topic") == 0)
            read_string(ld, s, &k->state_topic);
        else if (strcmp(n, "schemas_topic") == 0)
            read_string(ld, s, &k->schemas_topic);
        else if (strcmp(n, "delivery") == 0) {
            char *d = NULL;
            if (read_string(ld, s, &d) == 0) {
                if (strcmp(d, "exactly-once") == 0)
                    k->delivery = DELIVERY_EXACTLY_ONCE;
                else if (strcmp(d, "at-least-once") == 0)
                    k->delivery = DELIVERY_AT_LEAST_ONCE;
                else
                    fail_at(ld, s,
                            "unknown delivery mode \"%s\" (expected at-least-once or "
                            "exactly-once)",
                            d);
            }
            free(d);
        } else if (strcmp(n, "topic_partitions") == 0)
            read_int(ld, s, 1, 10000, &k->topic_partitions);
        else if (strcmp(n, "replication_factor") == 0)
            read_int(ld, s, 1, 100, &k->replication_factor);
        else if (strcmp(n, "transaction_timeout") == 0)
            read_duration_ms(ld, s, 1, 900, "1s and 15m", &k->transaction_timeout_ms);
        else if (strcmp(n, "commit_max_events") == 0)
            read_int(ld, s, 1, 1000000, &k->commit_max_events);
        else if (strcmp(n, "commit_max_age") == 0)
            read_duration_ms(ld, s, 1, 60, "1s and 60s", &k->commit_max_age_ms);
        else if (strcmp(n, "topic_config") == 0)
            read_kv_list(ld, s, &k->topic_config, &k->n_topic_config);
        else if (strcmp(n, "properties") == 0)
            read_kv_list(ld, s, &k->properties, &k->n_properties);
        else if (strcmp(n, "properties_env") == 0)
            read_secret_properties(ld, s, &k->secret_properties, &k->n_secret_properties);
        else
            fail_at(ld, s,
                    "unknown setting (expected bootstrap_servers, topic_prefix, state_topic, "
                    "schemas_topic, "
                    "delivery, topic_partitions, replication_factor, transaction_timeout, "
                    "commit_max_events, commit_max_age, topic_config, properties, "
                    "properties_env)");
    }
    if (!ld->failed && !k->bootstrap_servers)
        fail_at(ld, g, "bootstrap_servers is required");
    return ld->failed ? -1 : 0;
}

static int valid_topic_part(const char *s)
{
    if (!*s || strlen(s) > 100)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static const connector_option *find_option(const connector *c, const char *name)
{
    for (const connector_option *o = c->options; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static int load_options(loader *ld, const config_setting_t *g, const connector *c,
                        source_config *sc)
{
    if (expect_group(ld, g))
        return -1;
    int len = config_setting_length(g);
    sc->options = xcalloc((size_t)len + 1, sizeof(kv));
    for (int i = 0; i < len && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const connector_option *o = find_option(c, config_setting_name(s));
        if (!o)
            return fail_at(ld, s, "unknown option for %s sources (see `crmstream tables`)",
                           c->name);
        char text[64];
        const char *value = NULL;
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_STRING:
            value = config_setting_get_string(s);
            break;
        case CONFIG_TYPE_INT:
            snprintf(text, sizeof(text), "%d", config_setting_get_int(s));
            value = text;
            break;
        case CONFIG_TYPE_BOOL:
            value = config_setting_get_bool(s) ? "true" : "false";
            break;
        default:
            return fail_at(ld, s, "expected a string, integer or boolean");
        }
        if (o->type == OPT_INT && config_setting_type(s) != CONFIG_TYPE_INT)
            return fail_at(ld, s, "expected an integer");
        if (o->type == OPT_BOOL && config_setting_type(s) != CONFIG_TYPE_BOOL)
            return fail_at(ld, s, "expected true or false");
        if (o->type == OPT_DURATION && config_parse_duration(value) < 0)
            return fail_at(ld, s, "invalid duration \"%s\"", value);
        if (o->type == OPT_ENV && !crm_secret(ld, s, "", value))
            return -1;
        kv *item = &sc->options[sc->n_options++];
        item->key = xstrdup(o->name);
        item->value = xstrdup(value);
        item->line = (int)config_setting_source_line(s);
    }
    return ld->failed ? -1 : 0;
}

static int check_required_options(loader *ld, const config_setting_t *src, const connector *c,
                                  source_config *sc)
{
    for (const connector_option *o = c->options; o && o->name; o++) {
        int given = 0;
        for (int i = 0; i < sc->n_options; i++)
            if (strcmp(sc->options[i].key, o->name) == 0)
                given = 1;
        if (given)
            continue;
        if (!o->default_value)
            return fail_at(ld, src, "option %s is required for %s sources (%s)", o->name, c->name,
                           o->description);
        char what[128];
        snprintf(what, sizeof(what), "options.%s (default %s): ", o->name, o->default_value);
        if (o->type == OPT_ENV && !crm_secret(ld, src, what, o->default_value))
            return -1;
    }
    return 0;
}

static int check_table_names(loader *ld, const config_setting_t *s, const connector *c,
                             char **names, int n)
{
    for (int i = 0; i < n; i++)
        if (!connector_table(c, names[i]))
            return fail_at(ld, s, "%s has no table \"%s\" (see `crmstream tables`)", c->name,
                           names[i]);
    return 0;
}

static int load_lookbacks(loader *ld, const config_setting_t *g, const connector *c,
                          source_config *sc)
{
    if (expect_group(ld, g))
        return -1;
    int len = config_setting_length(g);
    sc->overrides = xcalloc((size_t)len + 1, sizeof(table_override));
    for (int i = 0; i < len && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *t = config_setting_name(s);
        if (!connector_table(c, t))
            return fail_at(ld, s, "%s has no table \"%s\"", c->name, t);
        table_override *o = &sc->overrides[sc->n_overrides++];
        o->table = xstrdup(t);
        o->line = (int)config_setting_source_line(s);
        if (read_duration(ld, s, &o->lookback_s))
            return -1;
    }
    return 0;
}

static int load_tables(loader *ld, const config_setting_t *g, const connector *c, source_config *sc)
{
    if (expect_group(ld, g))
        return -1;
    for (int i = 0; i < config_setting_length(g) && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *n = config_setting_name(s);
        if (strcmp(n, "include") == 0) {
            if (read_string_list(ld, s, &sc->include, &sc->n_include) == 0)
                check_table_names(ld, s, c, sc->include, sc->n_include);
        } else if (strcmp(n, "exclude") == 0) {
            if (read_string_list(ld, s, &sc->exclude, &sc->n_exclude) == 0)
                check_table_names(ld, s, c, sc->exclude, sc->n_exclude);
        } else {
            fail_at(ld, s, "unknown setting (expected include, exclude)");
        }
    }
    return ld->failed ? -1 : 0;
}

static int load_source(loader *ld, const config_setting_t *g, source_config *sc)
{
    if (expect_group(ld, g))
        return -1;
    sc->line = (int)config_setting_source_line(g);
    sc->poll_interval_s = 300;
    sc->reconcile_interval_s = -1; /* connector default */
    sc->rate = -1;
    sc->burst = -1;
    sc->timeout_s = 60;
    sc->max_rate_wait_s = 3600;
    sc->max_response_mb = 64;
    sc->verify_tls = 1;
    sc->start_ms = CRM_TIME_NONE;

    const char *type = NULL;
    char names[256] = ""; /* the registry's connectors, for the two errors below */
    for (const connector *const *p = crm_connectors; *p; p++) {
        strncat(names, (*p)->name, sizeof(names) - strlen(names) - 3);
        if (p[1])
            strncat(names, ", ", sizeof(names) - strlen(names) - 1);
    }
    config_setting_t *ts = config_setting_get_member(g, "type");
    if (!ts || !config_setting_lookup_string(g, "type", &type))
        return fail_at(ld, g, "type is required (one of: %s)", names);
    const connector *c = connector_find(type);
    if (!c)
        return fail_at(ld, ts, "unknown source type \"%s\" (expected one of: %s)", type, names);
    sc->type = xstrdup(type);

    config_setting_t *opts = NULL;
    for (int i = 0; i < config_setting_length(g) && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *n = config_setting_name(s);
        if (strcmp(n, "type") == 0)
            continue;
        if (strcmp(n, "name") == 0) {
            if (read_string(ld, s, &sc->name) == 0 && !valid_topic_part(sc->name))
                fail_at(ld, s, "name must be 1-100 characters of [A-Za-z0-9._-]");
        } else if (strcmp(n, "base_url") == 0) {
            if (read_string(ld, s, &sc->base_url) == 0 && strncmp(sc->base_url, "http://", 7) &&
                strncmp(sc->base_url, "https://", 8))
                fail_at(ld, s, "base_url must start with http:// or https://");
            else if (sc->base_url) {
                size_t l = strlen(sc->base_url);
                while (l > 0 && sc->base_url[l - 1] == '/')
                    sc->base_url[--l] = '\0';
            }
        } else if (strcmp(n, "start_date") == 0) {
            char *d = NULL;
            if (read_string(ld, s, &d) == 0 &&
                (crm_time_parse(d, &sc->start_ms) || sc->start_ms == CRM_TIME_NONE))
                fail_at(ld, s,
                        "invalid date \"%s\" (use e.g. \"2024-01-01\" or "
                        "\"2024-01-01T00:00:00Z\")",
                        d);
            free(d);
        } else if (strcmp(n, "poll_interval") == 0) {
            if (read_duration(ld, s, &sc->poll_interval_s) == 0 && sc->poll_interval_s < 1)
                fail_at(ld, s, "must be at least 1s");
        } else if (strcmp(n, "reconcile_interval") == 0)
            read_duration(ld, s, &sc->reconcile_interval_s);
        else if (strcmp(n, "timeout") == 0) {
            if (read_duration(ld, s, &sc->timeout_s) == 0 && sc->timeout_s < 1)
                fail_at(ld, s, "must be at least 1s");
        } else if (strcmp(n, "max_rate_limit_wait") == 0) {
            if (read_duration(ld, s, &sc->max_rate_wait_s) == 0 &&
                (sc->max_rate_wait_s < 1 || sc->max_rate_wait_s > 7 * 86400))
                fail_at(ld, s, "must be between 1s and 7d");
        } else if (strcmp(n, "max_response_mb") == 0) {
            read_int(ld, s, 1, 4096, &sc->max_response_mb);
        } else if (strcmp(n, "rate_limit") == 0) {
            if (config_setting_type(s) == CONFIG_TYPE_FLOAT ||
                config_setting_type(s) == CONFIG_TYPE_INT)
                sc->rate = config_setting_type(s) == CONFIG_TYPE_FLOAT
                               ? config_setting_get_float(s)
                               : (double)config_setting_get_int(s);
            else
                fail_at(ld, s, "expected requests per second, e.g. 5.0");
            if (!ld->failed && sc->rate < 0)
                fail_at(ld, s, "must not be negative (0 = unlimited)");
        } else if (strcmp(n, "burst") == 0)
            read_int(ld, s, 1, 100000, &sc->burst);
        else if (strcmp(n, "verify_tls") == 0)
            read_bool(ld, s, &sc->verify_tls);
        else if (strcmp(n, "ca_file") == 0)
            read_string(ld, s, &sc->ca_file);
        else if (strcmp(n, "tables") == 0)
            load_tables(ld, s, c, sc);
        else if (strcmp(n, "lookback") == 0)
            load_lookbacks(ld, s, c, sc);
        else if (strcmp(n, "options") == 0)
            opts = s;
        else
            fail_at(ld, s,
                    "unknown setting (expected type, name, base_url, start_date, "
                    "poll_interval, reconcile_interval, timeout, max_rate_limit_wait, "
                    "max_response_mb, rate_limit, burst, verify_tls, ca_file, tables, lookback, "
                    "options)");
    }
    if (ld->failed)
        return -1;
    if (!sc->name)
        return fail_at(ld, g, "name is required");
    if (opts)
        load_options(ld, opts, c, sc);
    else
        sc->options = xcalloc(1, sizeof(kv));
    if (!ld->failed)
        check_required_options(ld, g, c, sc);
    return ld->failed ? -1 : 0;
}

static int load_metrics(loader *ld, const config_setting_t *g, crm_config *cfg)
{
    if (expect_group(ld, g))
        return -1;
    cfg->metrics_listen = xstrdup("0.0.0.0");
    cfg->metrics_port = 9400;
    for (int i = 0; i < config_setting_length(g) && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *n = config_setting_name(s);
        if (strcmp(n, "listen") == 0)
            read_string(ld, s, &cfg->metrics_listen);
        else if (strcmp(n, "port") == 0)
            read_int(ld, s, 0, 65535, &cfg->metrics_port);
        else
            fail_at(ld, s, "unknown setting (expected listen, port)");
    }
    return ld->failed ? -1 : 0;
}

static int load_registry(loader *ld, const config_setting_t *g, registry_config *r)
{
    if (expect_group(ld, g))
        return -1;
    r->verify_tls = 1;
    r->timeout_s = 30;
    r->line = config_setting_source_line(g);
    for (int i = 0; i < config_setting_length(g) && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *n = config_setting_name(s);
        if (strcmp(n, "url") == 0) {
            if (read_string(ld, s, &r->url) == 0 && strncmp(r->url, "http://", 7) != 0 &&
                strncmp(r->url, "https://", 8) != 0)
                fail_at(ld, s, "url must start with http:// or https://");
        } else if (strcmp(n, "username") == 0) {
            read_string(ld, s, &r->username);
        } else if (strcmp(n, "password_env") == 0) {
            if (read_string(ld, s, &r->password_env) == 0) {
                const char *v = secret_env(ld, s, "", r->password_env);
                if (v)
                    r->password = xstrdup(v);
            }
        } else if (strcmp(n, "verify_tls") == 0) {
            read_bool(ld, s, &r->verify_tls);
        } else if (strcmp(n, "ca_file") == 0) {
            read_string(ld, s, &r->ca_file);
        } else if (strcmp(n, "timeout") == 0) {
            if (read_duration(ld, s, &r->timeout_s) == 0 && r->timeout_s < 1)
                fail_at(ld, s, "must be at least 1s");
        } else {
            fail_at(ld, s,
                    "unknown setting (expected url, username, password_env, verify_tls, ca_file, "
                    "timeout)");
        }
    }
    if (!ld->failed && !r->url)
        fail_at(ld, g, "url is required");
    if (!ld->failed && r->password && !r->username)
        fail_at(ld, g, "password_env needs a username");
    return ld->failed ? -1 : 0;
}

static int load_root(loader *ld, config_t *lc, crm_config *cfg)
{
    config_setting_t *root = config_root_setting(lc);
    int have_kafka = 0;
    for (int i = 0; i < config_setting_length(root) && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *n = config_setting_name(s);
        if (strcmp(n, "kafka") == 0) {
            have_kafka = 1;
            load_kafka(ld, s, &cfg->kafka);
        } else if (strcmp(n, "log_level") == 0) {
            char *lvl = NULL;
            if (read_string(ld, s, &lvl) == 0) {
                int l = log_level_from_name(lvl);
                if (l < 0)
                    fail_at(ld, s, "unknown level \"%s\" (debug, info, warn, error)", lvl);
                else
                    cfg->log_level = (log_level)l;
            }
            free(lvl);
        } else if (strcmp(n, "log_format") == 0) {
            char *f = NULL;
            if (read_string(ld, s, &f) == 0) {
                if (strcmp(f, "json") == 0)
                    cfg->log_json = 1;
                else if (strcmp(f, "logfmt") != 0)
                    fail_at(ld, s, "unknown format \"%s\" (logfmt, json)", f);
            }
            free(f);
        } else if (strcmp(n, "shutdown_grace") == 0) {
            if (read_duration(ld, s, &cfg->shutdown_grace_s) == 0 &&
                (cfg->shutdown_grace_s < 1 || cfg->shutdown_grace_s > 3600))
                fail_at(ld, s, "must be between 1s and 1h");
        } else if (strcmp(n, "progress_interval") == 0) {
            if (read_duration(ld, s, &cfg->progress_s) == 0 && cfg->progress_s < 1)
                fail_at(ld, s, "must be at least 1s");
        } else if (strcmp(n, "metrics") == 0) {
            load_metrics(ld, s, cfg);
        } else if (strcmp(n, "schema_registry") == 0) {
            load_registry(ld, s, &cfg->registry);
        } else if (strcmp(n, "sources") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_LIST)
                return fail_at(ld, s, "expected a list of source groups: ( { ... }, { ... } )");
            int len = config_setting_length(s);
            cfg->sources = xcalloc((size_t)len + 1, sizeof(source_config));
            for (int j = 0; j < len && !ld->failed; j++) {
                config_setting_t *src = config_setting_get_elem(s, (unsigned)j);
                if (load_source(ld, src, &cfg->sources[cfg->n_sources++]) == 0) {
                    for (int k = 0; k < j; k++)
                        if (strcmp(cfg->sources[k].name, cfg->sources[j].name) == 0)
                            fail_at(ld, src, "duplicate source name \"%s\"", cfg->sources[j].name);
                }
            }
        } else {
            fail_at(ld, s,
                    "unknown setting (expected kafka, log_level, log_format, "
                    "shutdown_grace, progress_interval, metrics, schema_registry, sources)");
        }
    }
    if (!ld->failed && !have_kafka)
        fail_at(ld, root, "a kafka { bootstrap_servers = \"...\"; } group is required");
    if (!ld->failed && cfg->n_sources == 0)
        fail_at(ld, root, "sources = ( ... ) must list at least one source");
    if (!ld->failed && !valid_topic_part(cfg->kafka.topic_prefix))
        fail_at(ld, config_lookup(lc, "kafka.topic_prefix"),
                "topic_prefix must be 1-100 characters of [A-Za-z0-9._-]");
    if (!ld->failed && !valid_topic_part(cfg->kafka.schemas_topic))
        fail_at(ld, config_lookup(lc, "kafka.schemas_topic"),
                "schemas_topic must be 1-100 characters of [A-Za-z0-9._-]");
    if (!ld->failed && !valid_topic_part(cfg->kafka.state_topic))
        fail_at(ld, config_lookup(lc, "kafka.state_topic"),
                "state_topic must be 1-100 characters of [A-Za-z0-9._-]");
    return ld->failed ? -1 : 0;
}

static crm_config *load_config(const char *path, int crm_secrets_required, char *err, size_t errlen)
{
    config_t lc;
    config_init(&lc);
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read file: %s", path, strerror(errno));
        else
            snprintf(err, errlen, "%s:%d: syntax error: %s",
                     config_error_file(&lc) ? config_error_file(&lc) : path, config_error_line(&lc),
                     config_error_text(&lc));
        config_destroy(&lc);
        return NULL;
    }
    crm_config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->path = xstrdup(path);
    cfg->log_level = LOG_INFO;
    cfg->shutdown_grace_s = 25;
    cfg->progress_s = 10;
    cfg->kafka.topic_prefix = xstrdup("crm");
    cfg->kafka.state_topic = xstrdup("crmstream.state");
    cfg->kafka.schemas_topic = xstrdup("crmstream.schemas");
    cfg->kafka.delivery = DELIVERY_EXACTLY_ONCE;
    cfg->kafka.topic_partitions = 1;
    cfg->kafka.replication_factor = 1;
    cfg->kafka.transaction_timeout_ms = 60000;
    cfg->kafka.commit_max_events = 8000;
    cfg->kafka.commit_max_age_ms = 1000;
    loader ld = {path, err, errlen, 0, crm_secrets_required};
    if (load_root(&ld, &lc, cfg)) {
        config_destroy(&lc);
        config_free(cfg);
        return NULL;
    }
    config_destroy(&lc);
    return cfg;
}

crm_config *config_load(const char *path, char *err, size_t errlen)
{
    return load_config(path, 1, err, errlen);
}

crm_config *config_load_without_crm_secrets(const char *path, char *err, size_t errlen)
{
    return load_config(path, 0, err, errlen);
}

static void free_kvs(kv *list, int n)
{
    for (int i = 0; i < n; i++) {
        free(list[i].key);
        free(list[i].value);
    }
    free(list);
}

static void free_strings(char **list, int n)
{
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void config_free(crm_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->metrics_listen);
    free(cfg->kafka.bootstrap_servers);
    free(cfg->kafka.topic_prefix);
    free(cfg->kafka.state_topic);
    free(cfg->kafka.schemas_topic);
    free_kvs(cfg->kafka.topic_config, cfg->kafka.n_topic_config);
    free_kvs(cfg->kafka.properties, cfg->kafka.n_properties);
    free_kvs(cfg->kafka.secret_properties, cfg->kafka.n_secret_properties);
    free(cfg->registry.url);
    free(cfg->registry.username);
    free(cfg->registry.password);
    free(cfg->registry.password_env);
    free(cfg->registry.ca_file);
    for (int i = 0; i < cfg->n_sources; i++) {
        source_config *sc = &cfg->sources[i];
        free(sc->type);
        free(sc->name);
        free(sc->base_url);
        free(sc->ca_file);
        free_strings(sc->include, sc->n_include);
        free_strings(sc->exclude, sc->n_exclude);
        for (int j = 0; j < sc->n_overrides; j++)
            free(sc->overrides[j].table);
        free(sc->overrides);
        free_kvs(sc->options, sc->n_options);
    }
    free(cfg->sources);
    free(cfg);
}

int config_table_lookback(const source_config *sc, const char *table, int def)
{
    for (int i = 0; i < sc->n_overrides; i++)
        if (strcmp(sc->overrides[i].table, table) == 0)
            return sc->overrides[i].lookback_s;
    return def;
}

int config_table_enabled(const source_config *sc, const char *table)
{
    for (int i = 0; i < sc->n_exclude; i++)
        if (strcmp(sc->exclude[i], table) == 0)
            return 0;
    if (!sc->include)
        return 1;
    for (int i = 0; i < sc->n_include; i++)
        if (strcmp(sc->include[i], table) == 0)
            return 1;
    return 0;
}
