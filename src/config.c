/* config.c — libconfig parsing with strict validation: unknown settings, wrong types, bad
 * durations, unknown source types, tables or connector options are all errors naming file:line.
 * Each section's settings are one table of config_spec (root_specs, kafka_specs, metrics_specs,
 * registry_specs, source_specs, table_specs): load_section() reads a group by its table
 * (defaults, types, ranges, required settings, the "unknown setting" list), `crmstream tables`
 * lists them and test_config_docs checks producer.cfg.example shows each. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "connector.h"
#include "crm_time.h"
#include "secret.h"
#include "util.h"

typedef struct config_loader {
    const char *path;
    char *err;
    size_t errlen;
    int failed;
    int crm_secrets_required;        /* 0 for commands that never talk to a CRM */
    int settings_only;               /* sources_dir not read (config_load_settings) */
    const connector *conn;           /* of the source being read */
    const config_setting_t *options; /* its options group, read after its other settings */
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
    size_t bad = secret_control_byte(v);
    if (bad) {
        fail_at(ld, s,
                "%senvironment variable %s contains a control character (byte %zu of its value; "
                "a stray newline?)",
                what, name, bad);
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

/* Option `name` was given, as itself or (OPT_ENV) as its file twin. */
static int option_given(const source_config *sc, const char *name)
{
    for (int i = 0; i < sc->n_options; i++)
        if (strcmp(sc->options[i].key, name) == 0)
            return 1;
    for (int i = 0; i < sc->n_file_secrets; i++)
        if (strcmp(sc->file_secrets[i].key, name) == 0)
            return 1;
    return 0;
}

/* A path as written in a config file: a relative one is taken from that file's directory. */
static char *path_from_config(const loader *ld, const char *path)
{
    const char *slash = strrchr(ld->path, '/');
    if (path[0] == '/' || !slash)
        return xstrdup(path);
    buf b;
    buf_init(&b);
    buf_printf(&b, "%.*s/%s", (int)(slash - ld->path), ld->path, path);
    return b.data;
}

/* <x>_file = "path": the secret of OPT_ENV option o (<x>_env) read from that file at load, by
 * the commands that talk to a CRM; the errors name the file, never its content. */
static int load_secret_file(loader *ld, const config_setting_t *s, const connector_option *o,
                            source_config *sc)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING || !*config_setting_get_string(s))
        return fail_at(ld, s, "expected the path of a file holding the secret");
    char *secret = NULL;
    if (ld->crm_secrets_required) {
        char err[512];
        char *path = path_from_config(ld, config_setting_get_string(s));
        secret = secret_read_file(path, err, sizeof(err));
        free(path);
        if (!secret)
            return fail_at(ld, s, "%s", err);
    }
    kv *item = &sc->file_secrets[sc->n_file_secrets++];
    item->key = xstrdup(o->name);
    item->value = secret;
    item->line = (int)config_setting_source_line(s);
    return 0;
}

static int load_options(loader *ld, const config_setting_t *g, const connector *c,
                        source_config *sc)
{
    if (expect_group(ld, g))
        return -1;
    int len = config_setting_length(g);
    sc->options = xcalloc((size_t)len + 1, sizeof(kv));
    sc->file_secrets = xcalloc((size_t)len + 1, sizeof(kv));
    for (int i = 0; i < len && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const connector_option *o = find_option(c, config_setting_name(s));
        const connector_option *twin =
            o ? NULL : connector_secret_file_twin(c, config_setting_name(s));
        if (!o && !twin)
            return fail_at(ld, s, "unknown option for %s sources (see `crmstream tables`)",
                           c->name);
        char twin_name[128];
        const connector_option *secret = o ? o : twin;
        if (secret->type == OPT_ENV && option_given(sc, secret->name))
            return fail_at(ld, s, "set %s or %s, not both", secret->name,
                           secret_file_option(secret->name, twin_name, sizeof(twin_name)));
        if (twin) {
            load_secret_file(ld, s, twin, sc);
            continue;
        }
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
        if (option_given(sc, o->name))
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

/* ---- the settings map: reading one setting by its spec --------------------------------- */

#define FIELD(base, off, type) ((type *)((char *)(base) + (off)))

/* A range bound as errors name it: "1s", "60s", "15m", "1h", "7d". */
static void format_bound(long long secs, char *out, size_t outlen)
{
    if (secs >= 86400 && secs % 86400 == 0)
        snprintf(out, outlen, "%lldd", secs / 86400);
    else if (secs >= 3600 && secs % 3600 == 0)
        snprintf(out, outlen, "%lldh", secs / 3600);
    else if (secs > 60 && secs % 60 == 0)
        snprintf(out, outlen, "%lldm", secs / 60);
    else
        snprintf(out, outlen, "%llds", secs);
}

static int check_duration_range(loader *ld, const config_setting_t *s, const config_spec *sp,
                                int secs)
{
    char lo[32], hi[32];
    format_bound(sp->min, lo, sizeof(lo));
    format_bound(sp->max, hi, sizeof(hi));
    if (sp->max && (secs < sp->min || secs > sp->max))
        return fail_at(ld, s, "must be between %s and %s", lo, hi);
    if (secs < sp->min)
        return fail_at(ld, s, "must be at least %s", lo);
    return 0;
}

static int read_url(loader *ld, const config_setting_t *s, const config_spec *sp, char **out)
{
    if (read_string(ld, s, out))
        return -1;
    if (strncmp(*out, "http://", 7) && strncmp(*out, "https://", 8))
        return fail_at(ld, s, "%s must start with http:// or https://", sp->name);
    if (sp->flags & SPEC_TRIM_SLASH) {
        size_t l = strlen(*out);
        while (l > 0 && (*out)[l - 1] == '/')
            (*out)[--l] = '\0';
    }
    return 0;
}

static int read_name(loader *ld, const config_setting_t *s, const config_spec *sp, char **out)
{
    if (read_string(ld, s, out))
        return -1;
    if (!valid_topic_part(*out))
        return fail_at(ld, s, "%s must be 1-100 characters of [A-Za-z0-9._-]", sp->name);
    return 0;
}

static int read_rate(loader *ld, const config_setting_t *s, double *out)
{
    if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
        *out = config_setting_get_float(s);
    else if (config_setting_type(s) == CONFIG_TYPE_INT)
        *out = (double)config_setting_get_int(s);
    else
        return fail_at(ld, s, "expected requests per second, e.g. 5.0");
    if (*out < 0)
        return fail_at(ld, s, "must not be negative (0 = unlimited)");
    return 0;
}

static int read_date(loader *ld, const config_setting_t *s, int64_t *out)
{
    char *d = NULL;
    int rc = read_string(ld, s, &d);
    if (rc == 0 && (crm_time_parse(d, out) || *out == CRM_TIME_NONE))
        rc = fail_at(
            ld, s, "invalid date \"%s\" (use e.g. \"2024-01-01\" or \"2024-01-01T00:00:00Z\")", d);
    free(d);
    return rc;
}

static int choice_value(const config_choices *ch, const char *name, int *out)
{
    for (int i = 0; ch->names[i]; i++)
        if (strcmp(ch->names[i], name) == 0) {
            *out = ch->values[i];
            return 0;
        }
    return -1;
}

static int read_choice(loader *ld, const config_setting_t *s, const config_choices *ch, int *out)
{
    char *v = NULL;
    int rc = read_string(ld, s, &v);
    if (rc == 0 && choice_value(ch, v, out))
        rc = fail_at(ld, s, "unknown %s \"%s\" (%s)", ch->noun, v, ch->hint);
    free(v);
    return rc;
}

/* password_env: the variable's name at offset, its secret at aux_offset. */
static int read_secret_env(loader *ld, const config_setting_t *s, const config_spec *sp, void *base)
{
    char **name = FIELD(base, sp->offset, char *);
    if (read_string(ld, s, name))
        return -1;
    const char *v = secret_env(ld, s, "", *name);
    if (!v)
        return -1;
    char **secret = FIELD(base, sp->aux_offset, char *);
    free(*secret);
    *secret = xstrdup(v);
    return 0;
}

/* A secret in a file (secret.h): the path as written at offset, the secret at aux_offset. A
 * relative path is taken from the config file's directory; errors name the file, never the
 * content. */
static int read_secret_file(loader *ld, const config_setting_t *s, const config_spec *sp,
                            void *base)
{
    char **path = FIELD(base, sp->offset, char *);
    if (read_string(ld, s, path))
        return -1;
    if (!**path)
        return fail_at(ld, s, "expected the path of a file holding the secret");
    char err[512];
    char *full = path_from_config(ld, *path);
    char *v = secret_read_file(full, err, sizeof(err));
    free(full);
    if (!v)
        return fail_at(ld, s, "%s", err);
    char **secret = FIELD(base, sp->aux_offset, char *);
    free(*secret);
    *secret = v;
    return 0;
}

/* include/exclude: names of tables of the source's connector. */
static int read_table_list(loader *ld, const config_setting_t *s, const config_spec *sp, void *base)
{
    char ***names = FIELD(base, sp->offset, char **);
    int *n = FIELD(base, sp->aux_offset, int);
    if (read_string_list(ld, s, names, n))
        return -1;
    return check_table_names(ld, s, ld->conn, *names, *n);
}

static int read_spec(loader *ld, const config_setting_t *s, const config_spec *sp, void *base)
{
    void *dest = FIELD(base, sp->offset, char);
    int secs;
    switch (sp->type) {
    case SPEC_STRING:
        return read_string(ld, s, dest);
    case SPEC_URL:
        return read_url(ld, s, sp, dest);
    case SPEC_NAME:
        return read_name(ld, s, sp, dest);
    case SPEC_INT:
        return read_int(ld, s, (int)sp->min, (int)sp->max, dest);
    case SPEC_BOOL:
        return read_bool(ld, s, dest);
    case SPEC_RATE:
        return read_rate(ld, s, dest);
    case SPEC_DURATION:
    case SPEC_DURATION_MS:
        if (read_duration(ld, s, &secs) || check_duration_range(ld, s, sp, secs))
            return -1;
        *(int *)dest = sp->type == SPEC_DURATION_MS ? secs * 1000 : secs;
        return 0;
    case SPEC_DATE:
        return read_date(ld, s, dest);
    case SPEC_CHOICE:
        return read_choice(ld, s, sp->choices, dest);
    case SPEC_KV_LIST:
        return read_kv_list(ld, s, dest, FIELD(base, sp->aux_offset, int));
    case SPEC_SECRET_KV_LIST:
        return read_secret_properties(ld, s, dest, FIELD(base, sp->aux_offset, int));
    case SPEC_SECRET_ENV:
        return read_secret_env(ld, s, sp, base);
    case SPEC_SECRET_FILE:
        return read_secret_file(ld, s, sp, base);
    case SPEC_TABLE_LIST:
        return read_table_list(ld, s, sp, base);
    case SPEC_GROUP:
        return sp->group(ld, s, base);
    }
    return fail_at(ld, s, "unsupported setting type");
}

/* Every setting of a section starts at its default ("connector default" numbers at -1). */
static void apply_defaults(const config_spec *specs, void *base)
{
    for (const config_spec *sp = specs; sp->name; sp++) {
        void *dest = FIELD(base, sp->offset, char);
        const char *d = sp->default_value;
        switch (sp->type) {
        case SPEC_STRING:
        case SPEC_URL:
        case SPEC_NAME:
            if (d)
                *(char **)dest = xstrdup(d);
            break;
        case SPEC_INT:
            *(int *)dest = d ? atoi(d) : -1;
            break;
        case SPEC_BOOL:
            *(int *)dest = d && strcmp(d, "true") == 0;
            break;
        case SPEC_RATE:
            *(double *)dest = d ? strtod(d, NULL) : -1;
            break;
        case SPEC_DURATION:
        case SPEC_DURATION_MS:
            *(int *)dest =
                d ? (int)config_parse_duration(d) * (sp->type == SPEC_DURATION ? 1 : 1000) : -1;
            break;
        case SPEC_DATE:
            *(int64_t *)dest = CRM_TIME_NONE;
            break;
        case SPEC_CHOICE:
            if (d)
                choice_value(sp->choices, d, dest);
            break;
        default:
            break;
        }
    }
}

static const config_spec *find_spec(const config_spec *specs, const char *name)
{
    for (const config_spec *sp = specs; sp->name; sp++)
        if (strcmp(sp->name, name) == 0)
            return sp;
    return NULL;
}

static int unknown_setting(loader *ld, const config_setting_t *s, const config_spec *specs)
{
    char names[1024] = "";
    for (const config_spec *sp = specs; sp->name; sp++) {
        if (sp != specs)
            strncat(names, ", ", sizeof(names) - strlen(names) - 1);
        strncat(names, sp->name, sizeof(names) - strlen(names) - 1);
    }
    return fail_at(ld, s, "unknown setting (expected %s)", names);
}

/* Reads group g into base by its specs: defaults, each setting, then the required ones. */
static int load_section(loader *ld, const config_setting_t *g, const config_spec *specs, void *base)
{
    if (expect_group(ld, g))
        return -1;
    apply_defaults(specs, base);
    for (int i = 0; i < config_setting_length(g) && !ld->failed; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const config_spec *sp = find_spec(specs, config_setting_name(s));
        if (!sp)
            unknown_setting(ld, s, specs);
        else
            read_spec(ld, s, sp, base);
    }
    for (const config_spec *sp = specs; sp->name && !ld->failed; sp++)
        if ((sp->flags & SPEC_REQUIRED) && !config_setting_get_member(g, sp->name))
            fail_at(ld, g, "%s is required", sp->name);
    return ld->failed ? -1 : 0;
}

static int load_lookback_group(loader *ld, const config_setting_t *g, void *base)
{
    return load_lookbacks(ld, g, ld->conn, base);
}

/* Connector options are read after the source's other settings (see load_source). */
static int defer_options(loader *ld, const config_setting_t *g, void *base)
{
    (void)base;
    ld->options = g;
    return 0;
}

static const config_spec table_specs[] = {
    {.type = SPEC_TABLE_LIST,
     .name = "include",
     .offset = offsetof(source_config, include),
     .aux_offset = offsetof(source_config, n_include),
     .doc = "tables to sync (default: all of the connector's)"},
    {.type = SPEC_TABLE_LIST,
     .name = "exclude",
     .offset = offsetof(source_config, exclude),
     .aux_offset = offsetof(source_config, n_exclude),
     .doc = "tables not to sync (wins over include)"},
    {0},
};

static int load_table_group(loader *ld, const config_setting_t *g, void *base)
{
    return load_section(ld, g, table_specs, base);
}

#define SRC(f) offsetof(source_config, f)
static const config_spec source_specs[] = {
    {.type = SPEC_STRING,
     .name = "type",
     .offset = SRC(type),
     .flags = SPEC_REQUIRED,
     .doc = "the connector (its options are listed per source above)"},
    {.type = SPEC_NAME,
     .name = "name",
     .offset = SRC(name),
     .flags = SPEC_REQUIRED,
     .doc = "part of topic names and of the transactional.id; must stay stable"},
    {.type = SPEC_URL,
     .name = "base_url",
     .offset = SRC(base_url),
     .flags = SPEC_TRIM_SLASH,
     .doc = "API base URL (default: the connector's)"},
    {.type = SPEC_DATE,
     .name = "start_date",
     .offset = SRC(start_ms),
     .doc = "incremental tables start here on their first pass (default: everything)"},
    {.type = SPEC_DURATION,
     .name = "poll_interval",
     .default_value = "5m",
     .offset = SRC(poll_interval_s),
     .min = 1,
     .doc = "how often each table is polled"},
    {.type = SPEC_DURATION,
     .name = "reconcile_interval",
     .offset = SRC(reconcile_interval_s),
     .doc = "ID reconciliation of incremental tables; 0 = never (default: the connector's)"},
    {.type = SPEC_DURATION,
     .name = "timeout",
     .default_value = "60s",
     .offset = SRC(timeout_s),
     .min = 1,
     .doc = "per request"},
    {.type = SPEC_DURATION,
     .name = "max_rate_limit_wait",
     .default_value = "1h",
     .offset = SRC(max_rate_wait_s),
     .min = 1,
     .max = 7 * 86400,
     .doc = "the longest wait a response may impose; longer ones are cut to this"},
    {.type = SPEC_INT,
     .name = "max_response_mb",
     .default_value = "64",
     .offset = SRC(max_response_mb),
     .min = 1,
     .max = 4096,
     .doc = "largest decoded response body, in MiB"},
    {.type = SPEC_RATE,
     .name = "rate_limit",
     .offset = SRC(rate),
     .doc = "requests per second for the source; 0 = unlimited (default: the connector's)"},
    {.type = SPEC_INT,
     .name = "burst",
     .offset = SRC(burst),
     .min = 1,
     .max = 100000,
     .doc = "rate-limit burst allowance (default: the connector's)"},
    {.type = SPEC_BOOL,
     .name = "verify_tls",
     .default_value = "true",
     .offset = SRC(verify_tls),
     .doc = "TLS certificate verification"},
    {.type = SPEC_STRING,
     .name = "ca_file",
     .offset = SRC(ca_file),
     .doc = "CA bundle (default: the system store)"},
    {.type = SPEC_GROUP,
     .name = "tables",
     .group = load_table_group,
     .doc = "{ include = [...]; exclude = [...]; }"},
    {.type = SPEC_GROUP,
     .name = "lookback",
     .group = load_lookback_group,
     .doc = "{ <table> = <duration>; } (default: each table's, `crmstream tables`)"},
    {.type = SPEC_GROUP,
     .name = "options",
     .group = defer_options,
     .doc = "connector options (listed per source above)"},
    {0},
};
#undef SRC

static int load_source(loader *ld, const config_setting_t *g, source_config *sc)
{
    if (expect_group(ld, g))
        return -1;
    sc->line = (int)config_setting_source_line(g);
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
    ld->conn = c;
    ld->options = NULL;
    if (load_section(ld, g, source_specs, sc))
        return -1;
    if (ld->options)
        load_options(ld, ld->options, c, sc);
    else
        sc->options = xcalloc(1, sizeof(kv));
    if (!sc->file_secrets)
        sc->file_secrets = xcalloc(1, sizeof(kv));
    if (!ld->failed)
        check_required_options(ld, g, c, sc);
    return ld->failed ? -1 : 0;
}

static int load_sources(loader *ld, const config_setting_t *s, void *base)
{
    crm_config *cfg = base;
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
    return ld->failed ? -1 : 0;
}

#define KAFKA(f) offsetof(kafka_config, f)
static const config_choices delivery_choices = {
    "delivery mode",
    "expected at-least-once or exactly-once",
    {"exactly-once", "at-least-once", NULL},
    {DELIVERY_EXACTLY_ONCE, DELIVERY_AT_LEAST_ONCE},
};

static const config_choices coordination_choices = {
    "coordination",
    "expected static or group",
    {"static", "group", NULL},
    {COORDINATION_STATIC, COORDINATION_GROUP},
};

static const config_spec kafka_specs[] = {
    {.type = SPEC_STRING,
     .name = "bootstrap_servers",
     .offset = KAFKA(bootstrap_servers),
     .flags = SPEC_REQUIRED,
     .doc = "comma-separated host:port list"},
    {.type = SPEC_STRING,
     .name = "topic_prefix",
     .default_value = "crm",
     .offset = KAFKA(topic_prefix),
     .doc = "topics are <topic_prefix>.<source name>.<table>"},
    {.type = SPEC_STRING,
     .name = "deployment",
     .offset = KAFKA(deployment),
     .doc = "names this deployment's producers (transactional.id crmstream-<deployment>-shard-<n>), "
            "group and coordination topic; default the topic_prefix"},
    {.type = SPEC_STRING,
     .name = "state_topic",
     .default_value = "crmstream.state",
     .offset = KAFKA(state_topic),
     .doc = "compacted topic of bookmarks and dedupe entries"},
    {.type = SPEC_STRING,
     .name = "schemas_topic",
     .default_value = "crmstream.schemas",
     .offset = KAFKA(schemas_topic),
     .doc = "compacted topic of writer schemas, keyed by fingerprint"},
    {.type = SPEC_CHOICE,
     .name = "delivery",
     .default_value = "exactly-once",
     .offset = KAFKA(delivery),
     .choices = &delivery_choices,
     .doc = "exactly-once (transactions) or at-least-once (idempotent producer)"},
    {.type = SPEC_INT,
     .name = "topic_partitions",
     .default_value = "1",
     .offset = KAFKA(topic_partitions),
     .min = 1,
     .max = 10000,
     .doc = "partitions of data topics crmstream creates"},
    {.type = SPEC_INT,
     .name = "replication_factor",
     .default_value = "1",
     .offset = KAFKA(replication_factor),
     .min = 1,
     .max = 100,
     .doc = "replication factor of topics crmstream creates"},
    {.type = SPEC_DURATION_MS,
     .name = "transaction_timeout",
     .default_value = "60s",
     .offset = KAFKA(transaction_timeout_ms),
     .min = 1,
     .max = 900,
     .doc = "Kafka transaction timeout (exactly-once)"},
    {.type = SPEC_INT,
     .name = "commit_max_events",
     .default_value = "8000",
     .offset = KAFKA(commit_max_events),
     .min = 1,
     .max = 1000000,
     .doc = "pages of a table share a commit until it holds this many events"},
    {.type = SPEC_DURATION_MS,
     .name = "commit_max_age",
     .default_value = "1s",
     .offset = KAFKA(commit_max_age_ms),
     .min = 1,
     .max = 60,
     .doc = "... or until its first page is this old"},
    {.type = SPEC_INT,
     .name = "commit_max_mb",
     .default_value = "2",
     .offset = KAFKA(commit_max_mb),
     .min = 1,
     .max = 1024,
     .doc = "... or until its events hold this many MiB (what a table keeps in memory until the "
            "commit)"},
    {.type = SPEC_INT,
     .name = "shards",
     .default_value = "4",
     .offset = KAFKA(shards),
     .min = 1,
     .max = 1024,
     .doc = "sources share this many transactional producers (by a hash of their name)"},
    {.type = SPEC_KV_LIST,
     .name = "topic_config",
     .offset = KAFKA(topic_config),
     .aux_offset = KAFKA(n_topic_config),
     .doc = "\"name=value\" topic configs of data topics crmstream creates"},
    {.type = SPEC_KV_LIST,
     .name = "properties",
     .offset = KAFKA(properties),
     .aux_offset = KAFKA(n_properties),
     .doc = "\"name=value\" librdkafka properties (never a secret)"},
    {.type = SPEC_SECRET_KV_LIST,
     .name = "properties_env",
     .offset = KAFKA(secret_properties),
     .aux_offset = KAFKA(n_secret_properties),
     .doc = "\"property=ENV_VAR\": secret librdkafka properties from the environment"},
    {.type = SPEC_KV_LIST,
     .name = "properties_file",
     .offset = KAFKA(file_properties),
     .aux_offset = KAFKA(n_file_properties),
     .doc = "\"property=path\": secret librdkafka properties from files"},
    {.type = SPEC_CHOICE,
     .name = "coordination",
     .default_value = "static",
     .offset = KAFKA(coordination),
     .choices = &coordination_choices,
     .doc = "static (this instance runs every shard) or group (instances share the shards)"},
    {.type = SPEC_DURATION_MS,
     .name = "group_session_timeout",
     .default_value = "10s",
     .offset = KAFKA(group_session_timeout_ms),
     .min = 6,
     .max = 1800,
     .doc = "coordination = group: a silent instance's shards move after this"},
    {0},
};
#undef KAFKA

static int secret_property_index(const kafka_config *k, const char *key)
{
    for (int i = 0; i < k->n_secret_properties; i++)
        if (strcmp(k->secret_properties[i].key, key) == 0)
            return i;
    return -1;
}

/* properties_file: each "property=path" read like any secret file and added to the secret
 * properties; a property given twice (here or in properties_env) is an error. */
static int load_file_properties(loader *ld, const config_setting_t *g, kafka_config *k)
{
    const config_setting_t *list = config_setting_get_member(g, "properties_file");
    if (k->n_file_properties == 0)
        return 0;
    k->secret_properties =
        xrealloc(k->secret_properties,
                 ((size_t)k->n_secret_properties + (size_t)k->n_file_properties + 1) * sizeof(kv));
    for (int i = 0; i < k->n_file_properties; i++) {
        const kv *fp = &k->file_properties[i];
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (secret_property_index(k, fp->key) >= 0)
            return fail_at(ld, e, "%s is set twice (properties_env and properties_file)", fp->key);
        char err[512];
        char *path = path_from_config(ld, fp->value);
        char *v = secret_read_file(path, err, sizeof(err));
        free(path);
        if (!v)
            return fail_at(ld, e, "%s: %s", fp->key, err);
        kv *item = &k->secret_properties[k->n_secret_properties++];
        item->key = xstrdup(fp->key);
        item->value = v;
        item->line = fp->line;
    }
    return 0;
}

static int load_kafka(loader *ld, const config_setting_t *g, void *base)
{
    kafka_config *k = &((crm_config *)base)->kafka;
    if (load_section(ld, g, kafka_specs, k))
        return -1;
    return load_file_properties(ld, g, k);
}

static const config_spec metrics_specs[] = {
    {.type = SPEC_STRING,
     .name = "listen",
     .default_value = "0.0.0.0",
     .offset = offsetof(crm_config, metrics_listen),
     .doc = "IPv4 address of the /metrics, /healthz, /readyz listener"},
    {.type = SPEC_INT,
     .name = "port",
     .default_value = "9400",
     .offset = offsetof(crm_config, metrics_port),
     .max = 65535,
     .doc = "its port"},
    {0},
};

static int load_metrics(loader *ld, const config_setting_t *g, void *base)
{
    return load_section(ld, g, metrics_specs, base);
}

#define REG(f) offsetof(registry_config, f)
static const config_spec registry_specs[] = {
    {.type = SPEC_URL,
     .name = "url",
     .offset = REG(url),
     .flags = SPEC_REQUIRED,
     .doc = "Confluent Schema Registry URL"},
    {.type = SPEC_STRING, .name = "username", .offset = REG(username), .doc = "basic auth user"},
    {.type = SPEC_SECRET_ENV,
     .name = "password_env",
     .offset = REG(password_env),
     .aux_offset = REG(password),
     .doc = "environment variable holding the basic auth password"},
    {.type = SPEC_SECRET_FILE,
     .name = "password_file",
     .offset = REG(password_file),
     .aux_offset = REG(password),
     .doc = "or: a file holding it (e.g. a mounted Kubernetes Secret)"},
    {.type = SPEC_BOOL,
     .name = "verify_tls",
     .default_value = "true",
     .offset = REG(verify_tls),
     .doc = "TLS certificate verification"},
    {.type = SPEC_STRING,
     .name = "ca_file",
     .offset = REG(ca_file),
     .doc = "CA bundle (default: the system store)"},
    {.type = SPEC_DURATION,
     .name = "timeout",
     .default_value = "30s",
     .offset = REG(timeout_s),
     .min = 1,
     .doc = "per request"},
    {0},
};
#undef REG

static int load_registry(loader *ld, const config_setting_t *g, void *base)
{
    registry_config *r = &((crm_config *)base)->registry;
    r->line = config_setting_source_line(g);
    if (load_section(ld, g, registry_specs, r))
        return -1;
    if (r->password_env && r->password_file)
        return fail_at(ld, config_setting_get_member(g, "password_file"),
                       "set password_env or password_file, not both");
    if (r->password && !r->username)
        return fail_at(ld, g, "%s needs a username",
                       r->password_file ? "password_file" : "password_env");
    return 0;
}

static const config_choices level_choices = {
    "level",
    "debug, info, warn, error",
    {"debug", "info", "warn", "error", NULL},
    {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR},
};

static const config_choices format_choices = {
    "format",
    "logfmt, json",
    {"logfmt", "json", NULL},
    {0, 1},
};

#define CFG(f) offsetof(crm_config, f)
static const config_spec root_specs[] = {
    {.type = SPEC_GROUP,
     .name = "kafka",
     .group = load_kafka,
     .doc = "the Kafka cluster (required)"},
    {.type = SPEC_CHOICE,
     .name = "log_level",
     .default_value = "info",
     .offset = CFG(log_level),
     .choices = &level_choices,
     .doc = "debug, info, warn or error"},
    {.type = SPEC_CHOICE,
     .name = "log_format",
     .default_value = "logfmt",
     .offset = CFG(log_json),
     .choices = &format_choices,
     .doc = "logfmt or json lines on stderr"},
    {.type = SPEC_DURATION,
     .name = "shutdown_grace",
     .default_value = "25s",
     .offset = CFG(shutdown_grace_s),
     .min = 1,
     .max = 3600,
     .doc = "SIGTERM: exit within this"},
    {.type = SPEC_DURATION,
     .name = "progress_interval",
     .default_value = "10s",
     .offset = CFG(progress_s),
     .min = 1,
     .doc = "cadence of the progress line of long passes"},
    {.type = SPEC_INT,
     .name = "workers",
     .default_value = "8",
     .offset = CFG(workers),
     .min = 1,
     .max = 1024,
     .doc = "threads that run the tables' passes, shared by every source"},
    {.type = SPEC_GROUP,
     .name = "metrics",
     .group = load_metrics,
     .doc = "operator HTTP listener (off when absent)"},
    {.type = SPEC_GROUP,
     .name = "schema_registry",
     .group = load_registry,
     .doc = "Confluent Schema Registry (off when absent)"},
    {.type = SPEC_GROUP,
     .name = "sources",
     .group = load_sources,
     .doc = "( { source }, ... ): one group per CRM account"},
    {.type = SPEC_STRING,
     .name = "sources_dir",
     .offset = CFG(sources_dir),
     .doc = "directory of *.cfg files of one source each (also); re-read on change"},
    {0},
};
#undef CFG

const config_section config_sections[] = {
    {"", root_specs},
    {"kafka", kafka_specs},
    {"metrics", metrics_specs},
    {"schema_registry", registry_specs},
    {"sources[]", source_specs},
    {"sources[].tables", table_specs},
    {NULL, NULL},
};

const char *config_spec_type_name(config_spec_type t)
{
    static const char *const names[] = {
        [SPEC_STRING] = "string",     [SPEC_URL] = "url",
        [SPEC_NAME] = "name",         [SPEC_INT] = "integer",
        [SPEC_BOOL] = "bool",         [SPEC_RATE] = "number",
        [SPEC_DURATION] = "duration", [SPEC_DURATION_MS] = "duration",
        [SPEC_DATE] = "date",         [SPEC_CHOICE] = "choice",
        [SPEC_KV_LIST] = "list",      [SPEC_SECRET_KV_LIST] = "list",
        [SPEC_SECRET_ENV] = "env",    [SPEC_TABLE_LIST] = "tables",
        [SPEC_SECRET_FILE] = "file",  [SPEC_GROUP] = "group",
    };
    return names[t];
}

void config_spec_range(const config_spec *sp, char *out, size_t outlen)
{
    char lo[32], hi[32];
    format_bound(sp->min, lo, sizeof(lo));
    format_bound(sp->max, hi, sizeof(hi));
    out[0] = '\0';
    if (sp->type == SPEC_INT)
        snprintf(out, outlen, "%lld..%lld", sp->min, sp->max);
    else if ((sp->type == SPEC_DURATION || sp->type == SPEC_DURATION_MS) && sp->max)
        snprintf(out, outlen, "%s..%s", lo, hi);
    else if ((sp->type == SPEC_DURATION || sp->type == SPEC_DURATION_MS) && sp->min)
        snprintf(out, outlen, ">= %s", lo);
    else if (sp->type == SPEC_RATE)
        snprintf(out, outlen, ">= 0");
    else if (sp->type == SPEC_CHOICE)
        for (int i = 0; sp->choices->names[i]; i++)
            snprintf(out + strlen(out), outlen - strlen(out), "%s%s", i ? "|" : "",
                     sp->choices->names[i]);
}

/* Reads a libconfig file; 0, or -1 with err naming the file (and the line of a syntax error). */
static int read_config_file(config_t *lc, const char *path, char *err, size_t errlen)
{
    if (config_read_file(lc, path) == CONFIG_TRUE)
        return 0;
    if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
        snprintf(err, errlen, "%s: cannot read file: %s", path, strerror(errno));
    else
        snprintf(err, errlen, "%s:%d: syntax error: %s",
                 config_error_file(lc) ? config_error_file(lc) : path, config_error_line(lc),
                 config_error_text(lc));
    return -1;
}

/* Where source sc was read: "file:line". */
static void source_origin(const loader *ld, const source_config *sc, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s:%d", sc->file ? sc->file : ld->path, sc->line);
}

/* One file of sources_dir into sc: its top level is one source's settings (type, name,
 * options, ...), as inside a group of sources = ( ... ); errors name that file. The file's
 * libconfig tree stays in lc (the caller destroys it) for errors about its settings. */
static int read_source_file(loader *ld, config_t *lc, const char *path, source_config *sc)
{
    if (read_config_file(lc, path, ld->err, ld->errlen)) {
        ld->failed = 1;
        return -1;
    }
    sc->file = xstrdup(path);
    loader sub = *ld;
    sub.path = sc->file;
    int rc = load_source(&sub, config_root_setting(lc), sc);
    ld->failed = sub.failed;
    const config_setting_t *name = config_setting_get_member(config_root_setting(lc), "name");
    if (name) /* the file's root group has no line: the source is where its name is */
        sc->line = (int)config_setting_source_line(name);
    return rc;
}

/* A source file at start: one more source of cfg, whose name no earlier one has. */
static int load_source_file(loader *ld, const char *path, crm_config *cfg)
{
    config_t lc;
    config_init(&lc);
    source_config *sc = &cfg->sources[cfg->n_sources++];
    int rc = read_source_file(ld, &lc, path, sc);
    for (int k = 0; rc == 0 && k < cfg->n_sources - 1; k++)
        if (strcmp(cfg->sources[k].name, sc->name) == 0) {
            char first[600];
            source_origin(ld, &cfg->sources[k], first, sizeof(first));
            loader sub = *ld;
            sub.path = sc->file;
            rc = fail_at(&sub, config_setting_get_member(config_root_setting(&lc), "name"),
                         "duplicate source name \"%s\" (also at %s)", sc->name, first);
            ld->failed = 1;
        }
    config_destroy(&lc);
    return rc;
}

source_config *config_load_source_file(const char *path, int crm_secrets_required, char *err,
                                       size_t errlen)
{
    loader ld = {
        .path = path, .err = err, .errlen = errlen, .crm_secrets_required = crm_secrets_required};
    source_config *sc = xcalloc(1, sizeof(*sc));
    config_t lc;
    config_init(&lc);
    int rc = read_source_file(&ld, &lc, path, sc);
    config_destroy(&lc);
    if (rc) {
        config_source_free(sc);
        return NULL;
    }
    return sc;
}

static int is_source_file(const char *dir, const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.' || n < 5 || strcmp(name + n - 4, ".cfg") != 0)
        return 0;
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode); /* a ConfigMap's files are symlinks */
}

static void free_strings(char **list, int n);

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **config_source_files(const char *dir, int *n, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot read directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    char **paths = xcalloc(1, sizeof(char *));
    *n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (is_source_file(dir, e->d_name)) {
            buf b;
            buf_init(&b);
            buf_printf(&b, "%s/%s", dir, e->d_name);
            paths = xrealloc(paths, ((size_t)*n + 2) * sizeof(char *));
            paths[(*n)++] = b.data;
        }
    closedir(d);
    if (*n > 1)
        qsort(paths, (size_t)*n, sizeof(char *), compare_names);
    paths[*n] = NULL;
    return paths;
}

void config_source_files_free(char **paths, int n)
{
    free_strings(paths, n);
}

char *config_sources_dir_path(const crm_config *cfg)
{
    if (!cfg->sources_dir)
        return NULL;
    loader ld = {.path = cfg->path};
    return path_from_config(&ld, cfg->sources_dir);
}

/* The *.cfg files of sources_dir (hidden ones skipped), in name order, each one source. */
static int load_sources_dir(loader *ld, const config_setting_t *s, crm_config *cfg)
{
    char *dir = path_from_config(ld, cfg->sources_dir);
    char why[1024];
    int n = 0;
    char **paths = config_source_files(dir, &n, why, sizeof(why));
    free(dir);
    if (!paths)
        return fail_at(ld, s, "%s", why);
    cfg->sources =
        xrealloc(cfg->sources, ((size_t)cfg->n_sources + (size_t)n + 1) * sizeof(source_config));
    memset(cfg->sources + cfg->n_sources, 0, ((size_t)n + 1) * sizeof(source_config));
    for (int i = 0; i < n && !ld->failed; i++)
        load_source_file(ld, paths[i], cfg);
    free_strings(paths, n);
    return ld->failed ? -1 : 0;
}

static int load_root(loader *ld, config_t *lc, crm_config *cfg)
{
    config_setting_t *root = config_root_setting(lc);
    if (load_section(ld, root, root_specs, cfg))
        return -1;
    if (!cfg->kafka.bootstrap_servers)
        return fail_at(ld, root, "a kafka { bootstrap_servers = \"...\"; } group is required");
    /* config_load_settings: sources_dir is the caller's, and may hold every source */
    if (!ld->settings_only && cfg->sources_dir &&
        load_sources_dir(ld, config_lookup(lc, "sources_dir"), cfg))
        return -1;
    if (cfg->n_sources == 0 && !ld->settings_only)
        return fail_at(ld, root,
                       cfg->sources_dir ? "no source: sources = ( ... ) lists none and sources_dir "
                                          "holds no *.cfg file"
                                        : "sources = ( ... ) must list at least one source");
    if (!cfg->kafka.deployment)
        cfg->kafka.deployment = xstrdup(cfg->kafka.topic_prefix);
    static const char *const topics[] = {"topic_prefix", "schemas_topic", "state_topic",
                                         "deployment"};
    const char *values[] = {cfg->kafka.topic_prefix, cfg->kafka.schemas_topic,
                            cfg->kafka.state_topic, cfg->kafka.deployment};
    for (int i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof(path), "kafka.%s", topics[i]);
        if (!valid_topic_part(values[i]))
            return fail_at(ld, config_lookup(lc, path),
                           "%s must be 1-100 characters of [A-Za-z0-9._-]", topics[i]);
    }
    return 0;
}

static crm_config *load_config(const char *path, int crm_secrets_required, int settings_only,
                               char *err, size_t errlen)
{
    config_t lc;
    config_init(&lc);
    if (read_config_file(&lc, path, err, errlen)) {
        config_destroy(&lc);
        return NULL;
    }
    crm_config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->path = xstrdup(path);
    loader ld = {
        .path = path,
        .err = err,
        .errlen = errlen,
        .crm_secrets_required = crm_secrets_required,
        .settings_only = settings_only,
    };
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
    return load_config(path, 1, 0, err, errlen);
}

crm_config *config_load_settings(const char *path, char *err, size_t errlen)
{
    return load_config(path, 1, 1, err, errlen);
}

crm_config *config_load_without_crm_secrets(const char *path, char *err, size_t errlen)
{
    return load_config(path, 0, 0, err, errlen);
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

static void source_config_clear(source_config *sc)
{
    free(sc->type);
    free(sc->name);
    free(sc->file);
    free(sc->base_url);
    free(sc->ca_file);
    free_strings(sc->include, sc->n_include);
    free_strings(sc->exclude, sc->n_exclude);
    for (int j = 0; j < sc->n_overrides; j++)
        free(sc->overrides[j].table);
    free(sc->overrides);
    free_kvs(sc->options, sc->n_options);
    free_kvs(sc->file_secrets, sc->n_file_secrets);
}

void config_source_free(source_config *sc)
{
    if (!sc)
        return;
    source_config_clear(sc);
    free(sc);
}

void config_free(crm_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->metrics_listen);
    free(cfg->kafka.bootstrap_servers);
    free(cfg->kafka.topic_prefix);
    free(cfg->kafka.deployment);
    free(cfg->kafka.state_topic);
    free(cfg->kafka.schemas_topic);
    free_kvs(cfg->kafka.topic_config, cfg->kafka.n_topic_config);
    free_kvs(cfg->kafka.properties, cfg->kafka.n_properties);
    free_kvs(cfg->kafka.secret_properties, cfg->kafka.n_secret_properties);
    free_kvs(cfg->kafka.file_properties, cfg->kafka.n_file_properties);
    free(cfg->registry.url);
    free(cfg->registry.username);
    free(cfg->registry.password);
    free(cfg->registry.password_env);
    free(cfg->registry.password_file);
    free(cfg->registry.ca_file);
    for (int i = 0; i < cfg->n_sources; i++)
        source_config_clear(&cfg->sources[i]);
    free(cfg->sources);
    free(cfg->sources_dir);
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
