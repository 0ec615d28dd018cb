/* cli.c — `validate` (the config as `run` loads it), `tables` (what each source would sync, and
 * where) and `peek` (the last events of a table, decoded). `check` is in cli_check.c, `state` in
 * cli_state.c. */
#include "cli.h"
#include "schema_resolver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_columns.h"
#include "connector.h"
#include "crm_time.h"
#include "dedupe_log.h"
#include "embedded_schemas.h"
#include "engine.h"
#include "kafka.h"
#include "secret.h"
#include "source.h"
#include "state.h"
#include "topic_reader.h"

int cli_validate(const crm_config *cfg)
{
    int tables = 0;
    for (int i = 0; i < cfg->n_sources; i++) {
        const connector *c = connector_find(cfg->sources[i].type);
        for (size_t j = 0; j < c->n_tables; j++)
            tables += config_table_enabled(&cfg->sources[i], c->tables[j].name);
    }
    printf("%s: valid, %d source%s, %d enabled tables, every secret variable set\n", cfg->path,
           cfg->n_sources, cfg->n_sources == 1 ? "" : "s", tables);
    return EXIT_OK;
}

/* The row of an OPT_ENV option's file twin (api_key_env -> api_key_file). */
static void add_secret_file_twin(cli_columns *o, const connector_option *opt)
{
    char twin[128], name[136], meaning[256];
    snprintf(name, sizeof(name), "  %s", secret_file_option(opt->name, twin, sizeof(twin)));
    snprintf(meaning, sizeof(meaning), "file holding the secret, instead of %s", opt->name);
    const char *cells[] = {name, "file", "-", meaning};
    cli_columns_add(o, cells);
}

static void print_connector_options(const connector *c)
{
    static const char *const types[] = {[OPT_STRING] = "string",
                                        [OPT_INT] = "integer",
                                        [OPT_BOOL] = "bool",
                                        [OPT_DURATION] = "duration",
                                        [OPT_ENV] = "env"};
    static const char *const oh[] = {"  OPTION", "TYPE", "DEFAULT", "MEANING"};
    cli_columns *o = cli_columns_new(4, oh);
    for (const connector_option *opt = c->options; opt && opt->name; opt++) {
        char name[128];
        snprintf(name, sizeof(name), "  %s", opt->name);
        const char *cells[] = {name, types[opt->type],
                               opt->default_value ? opt->default_value : "(required)",
                               opt->description};
        cli_columns_add(o, cells);
        if (opt->type == OPT_ENV)
            add_secret_file_twin(o, opt);
    }
    cli_columns_print(o, stdout);
    cli_columns_free(o);
}

/* Every engine setting from the config's settings map, "kafka.delivery" style. */
static void print_engine_settings(void)
{
    static const char *const sh[] = {"  SETTING", "TYPE", "DEFAULT", "RANGE", "MEANING"};
    cli_columns *t = cli_columns_new(5, sh);
    for (const config_section *sec = config_sections; sec->specs; sec++)
        for (const config_spec *sp = sec->specs; sp->name; sp++) {
            char name[160], range[128];
            snprintf(name, sizeof(name), "  %s%s%s", sec->name, *sec->name ? "." : "", sp->name);
            config_spec_range(sp, range, sizeof(range));
            const char *def = sp->default_value             ? sp->default_value
                              : (sp->flags & SPEC_REQUIRED) ? "(required)"
                                                            : "-";
            const char *cells[] = {name, config_spec_type_name(sp->type), def, range, sp->doc};
            cli_columns_add(t, cells);
        }
    cli_columns_print(t, stdout);
    cli_columns_free(t);
}

int cli_tables(const crm_config *cfg)
{
    static const char *const headers[] = {"SOURCE",      "TABLE",    "METHOD", "KEY",
                                          "REPLICATION", "LOOKBACK", "TOPIC"};
    cli_columns *t = cli_columns_new(7, headers);
    for (int i = 0; i < cfg->n_sources; i++) {
        const source_config *sc = &cfg->sources[i];
        const connector *c = connector_find(sc->type);
        for (size_t j = 0; j < c->n_tables; j++) {
            const table_def *td = &c->tables[j];
            if (!config_table_enabled(sc, td->name))
                continue;
            char lookback[32], topic[512];
            cli_format_duration(config_table_lookback(sc, td->name, td->lookback_seconds), lookback,
                                sizeof(lookback));
            snprintf(topic, sizeof(topic), "%s.%s.%s", cfg->kafka.topic_prefix, sc->name, td->name);
            const char *cells[] = {sc->name,
                                   td->name,
                                   sync_method_name(td->method),
                                   td->primary_key,
                                   td->replication_key,
                                   lookback,
                                   topic};
            cli_columns_add(t, cells);
        }
    }
    cli_columns_print(t, stdout);
    cli_columns_free(t);
    for (int i = 0; i < cfg->n_sources; i++) {
        const source_config *sc = &cfg->sources[i];
        const connector *c = connector_find(sc->type);
        printf("\n%s options (%s):\n", sc->name, c->name);
        print_connector_options(c);
    }
    printf("\nsettings (producer.cfg.example explains each):\n");
    print_engine_settings();
    return EXIT_OK;
}

/* ---- peek -------------------------------------------------------------------------------- */

static const table_def *source_table(const source_config *sc, const char *table)
{
    return connector_table(connector_find(sc->type), table);
}

static const table_def *table_topic_of(const crm_config *cfg, const source_config *sc,
                                       const table_def *t, char **topic)
{
    buf b;
    buf_init(&b);
    buf_printf(&b, "%s.%s.%s", cfg->kafka.topic_prefix, sc->name, t->name);
    *topic = b.data;
    return t;
}

const table_def *cli_table_spec(const crm_config *cfg, const char *spec,
                                const source_config **found_source, char *err, size_t errlen)
{
    /* SOURCE.TABLE first (source names may contain dots themselves) */
    for (int i = 0; i < cfg->n_sources; i++) {
        const source_config *sc = &cfg->sources[i];
        size_t n = strlen(sc->name);
        const table_def *t;
        if (strncmp(spec, sc->name, n) == 0 && spec[n] == '.' &&
            (t = source_table(sc, spec + n + 1))) {
            *found_source = sc;
            return t;
        }
    }
    /* TABLE: only when exactly one source has it */
    const table_def *found = NULL;
    buf names;
    buf_init(&names);
    int n_found = 0;
    for (int i = 0; i < cfg->n_sources; i++) {
        const table_def *t = source_table(&cfg->sources[i], spec);
        if (!t)
            continue;
        if (n_found++ == 0) {
            found = t;
            *found_source = &cfg->sources[i];
        }
        buf_printf(&names, "%s%s.%s", n_found > 1 ? ", " : "", cfg->sources[i].name, t->name);
    }
    if (n_found > 1) {
        snprintf(err, errlen, "table \"%s\" is in %d sources of %s: name one as SOURCE.TABLE (%s)",
                 spec, n_found, cfg->path, names.data);
        found = NULL;
    } else if (n_found == 0) {
        snprintf(err, errlen, "no source of %s has a table \"%s\" (use SOURCE.TABLE)", cfg->path,
                 spec);
    }
    buf_free(&names);
    return found;
}

const table_def *cli_table_topic(const crm_config *cfg, const char *spec, char **topic, char *err,
                                 size_t errlen)
{
    const source_config *sc = NULL;
    const table_def *t = cli_table_spec(cfg, spec, &sc, err, errlen);
    return t ? table_topic_of(cfg, sc, t, topic) : NULL;
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
