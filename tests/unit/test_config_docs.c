/* test_config_docs.c — producer.cfg.example documents every setting. Each engine setting of the
 * settings map (config_sections) and each option of each connector appears in it as
 * `name = value` (commented out or not; a connector's options inside a source block of that
 * type), and every `name = value` it shows is a setting, or an option or a table (lookback) of
 * the connector of the source block it is in. */
#include <ctype.h>
#include <stdlib.h>

#include "check.h"
#include "config.h"
#include "connector.h"
#include "secret.h"

#define EXAMPLE "producer.cfg.example"

typedef struct mention {
    char name[64];
    const connector *conn; /* the connector of the source block it is in, or NULL */
    int line;
} mention;

typedef struct mentions {
    mention *items;
    int n;
} mentions;

/* A value as the example writes one: a string, a number, a list, a group or a boolean. */
static int looks_like_value(const char *v)
{
    return *v == '"' || *v == '-' || *v == '[' || *v == '{' || *v == '(' ||
           isdigit((unsigned char)*v) || strncmp(v, "true", 4) == 0 || strncmp(v, "false", 5) == 0;
}

/* The connector a `type = "x"` assignment at p names, or NULL. */
static const connector *type_at(const char *value)
{
    char name[64];
    if (sscanf(value, "\"%63[a-z0-9_]\"", name) != 1)
        return NULL;
    return connector_find(name);
}

static void add_mention(mentions *m, const char *name, size_t len, const connector *conn, int line)
{
    m->items = realloc(m->items, (size_t)(m->n + 1) * sizeof(mention));
    mention *e = &m->items[m->n++];
    snprintf(e->name, sizeof(e->name), "%.*s", (int)len, name);
    e->conn = conn;
    e->line = line;
}

/* Every `name = value` of one line (its comment marker removed); updates the source block. */
static void scan_line(const char *text, int line, const connector **conn, mentions *m)
{
    const char *s = text;
    while (isspace((unsigned char)*s) || *s == '#')
        s++;
    if (strncmp(s, ");", 2) == 0) /* the end of the sources list */
        *conn = NULL;
    for (const char *p = s; *p; p++) {
        if (!(islower((unsigned char)*p) || *p == '_'))
            continue;
        if (p > s && !strchr(" \t{;(", p[-1]))
            continue;
        const char *end = p;
        while (islower((unsigned char)*end) || isdigit((unsigned char)*end) || *end == '_')
            end++;
        if (strncmp(end, " = ", 3) != 0 || !looks_like_value(end + 3)) {
            p = end - 1;
            continue;
        }
        if (end - p == 4 && strncmp(p, "type", 4) == 0 && type_at(end + 3))
            *conn = type_at(end + 3);
        add_mention(m, p, (size_t)(end - p), *conn, line);
        p = end - 1;
    }
}

static mentions read_example(void)
{
    mentions m = {NULL, 0};
    FILE *f = fopen(EXAMPLE, "r");
    CHECK(f != NULL);
    if (!f)
        return m;
    char text[1024];
    const connector *conn = NULL;
    for (int line = 1; fgets(text, sizeof(text), f); line++)
        scan_line(text, line, &conn, &m);
    fclose(f);
    return m;
}

static int is_engine_setting(const char *name)
{
    for (const config_section *sec = config_sections; sec->specs; sec++)
        for (const config_spec *sp = sec->specs; sp->name; sp++)
            if (strcmp(sp->name, name) == 0)
                return 1;
    return 0;
}

static int is_option(const connector *c, const char *name)
{
    for (const connector_option *o = c->options; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return 1;
    return connector_secret_file_twin(c, name) != NULL;
}

static int mentioned(const mentions *m, const char *name, const connector *conn)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->items[i].name, name) == 0 && (!conn || m->items[i].conn == conn))
            return 1;
    return 0;
}

static void test_every_setting_is_documented(const mentions *m)
{
    for (const config_section *sec = config_sections; sec->specs; sec++)
        for (const config_spec *sp = sec->specs; sp->name; sp++)
            if (!mentioned(m, sp->name, NULL)) {
                fprintf(stderr, EXAMPLE " does not show setting %s%s%s\n", sec->name,
                        *sec->name ? "." : "", sp->name);
                CHECK(0);
            }
    for (const connector *const *c = crm_connectors; *c; c++)
        for (const connector_option *o = (*c)->options; o && o->name; o++)
            if (!mentioned(m, o->name, *c)) {
                fprintf(stderr, EXAMPLE " does not show option %s in a %s source\n", o->name,
                        (*c)->name);
                CHECK(0);
            }
    /* and each secret's file twin (api_key_env -> api_key_file) */
    for (const connector *const *c = crm_connectors; *c; c++)
        for (const connector_option *o = (*c)->options; o && o->name; o++) {
            char twin[128];
            if (o->type == OPT_ENV &&
                !mentioned(m, secret_file_option(o->name, twin, sizeof(twin)), *c)) {
                fprintf(stderr, EXAMPLE " does not show option %s in a %s source\n", twin,
                        (*c)->name);
                CHECK(0);
            }
        }
}

static void test_every_mention_exists(const mentions *m)
{
    for (int i = 0; i < m->n; i++) {
        const mention *e = &m->items[i];
        int known = is_engine_setting(e->name) ||
                    (e->conn && (is_option(e->conn, e->name) || connector_table(e->conn, e->name)));
        if (!known) {
            fprintf(stderr, EXAMPLE ":%d: %s is no setting%s%s\n", e->line, e->name,
                    e->conn ? " nor option or table of " : "", e->conn ? e->conn->name : "");
            CHECK(0);
        }
    }
}

/* The scanner itself: what counts as a mention, and the source block it belongs to. */
static void test_scanner(void)
{
    mentions m = {NULL, 0};
    const connector *conn = NULL;
    scan_line("# metrics = { listen = \"0.0.0.0\"; port = 9400; };", 1, &conn, &m);
    scan_line("  (16 hex digits = the 8 bytes), acks=all, transactional.id = \"x\"", 2, &conn, &m);
    scan_line("    type = \"copper\";", 3, &conn, &m);
    scan_line("      # page_size = 200;   # records per page", 4, &conn, &m);
    scan_line(");", 5, &conn, &m);
    scan_line("# verify_tls = true;", 6, &conn, &m);
    CHECK(m.n == 6);
    if (m.n == 6) {
        CHECK_STR(m.items[0].name, "metrics");
        CHECK_STR(m.items[1].name, "listen");
        CHECK_STR(m.items[2].name, "port");
        CHECK_STR(m.items[3].name, "type");
        CHECK(m.items[3].conn == connector_find("copper"));
        CHECK_STR(m.items[4].name, "page_size");
        CHECK(m.items[4].conn == connector_find("copper"));
        CHECK(m.items[5].conn == NULL);
    }
    free(m.items);
}

int main(void)
{
    test_scanner();
    mentions m = read_example();
    CHECK(m.n > 50);
    test_every_setting_is_documented(&m);
    test_every_mention_exists(&m);
    free(m.items);
    return check_summary("config_docs");
}
