/* fuzz_sources.h — one configured source of every compiled-in connector, built the way the
 * engine builds them (config text -> config_load -> source_new), for the fuzz targets that call
 * connector code (parse_page, rate-limit signals) and for the seed tool. Secrets come from
 * environment variables set here; nothing touches the network. */
#ifndef CRM_FUZZ_SOURCES_H
#define CRM_FUZZ_SOURCES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "connector.h"
#include "source.h"
#include "util.h"

typedef struct fuzz_sources {
    crm_config *cfg;
    source *src[16];
    int n;
} fuzz_sources;

/* A value for a required option of the given type. */
static inline const char *fuzz_option_value(option_type t)
{
    switch (t) {
    case OPT_INT:
        return "2";
    case OPT_BOOL:
        return "false";
    case OPT_DURATION:
        return "\"1h\"";
    default:
        return "\"fuzz@example.com\"";
    }
}

/* Sources named after their connectors, base_url[i] (or the default when NULL; a simulator's
 * then, which the source does not pace: rate_limit 0) each, with page_size records per page. Exits
 * on failure: a harness that cannot start is broken. */
static inline void fuzz_sources_init_pages(fuzz_sources *fs, const char *const *base_urls,
                                           int page_size)
{
    buf text;
    buf_init(&text);
    buf_append_str(&text, "kafka = { bootstrap_servers = \"127.0.0.1:1\"; };\nsources = (\n");
    int i = 0;
    for (const connector *const *c = crm_connectors; *c; c++, i++) {
        buf_printf(&text, "%s{ type = \"%s\"; name = \"%s\";", i ? ",\n" : "", (*c)->name,
                   (*c)->name);
        if (base_urls && base_urls[i]) /* a simulator: no need to pace requests */
            buf_printf(&text, " base_url = \"%s\"; rate_limit = 0;", base_urls[i]);
        buf_append_str(&text, " options = {");
        for (const connector_option *o = (*c)->options; o && o->name; o++) {
            if (o->type == OPT_ENV)
                setenv(o->default_value ? o->default_value : "FUZZ_SECRET", "fuzz-secret", 1);
            if (o->type == OPT_ENV && !o->default_value)
                buf_printf(&text, " %s = \"FUZZ_SECRET\";", o->name);
            else if (!o->default_value)
                buf_printf(&text, " %s = %s;", o->name, fuzz_option_value(o->type));
            else if (o->type == OPT_INT && strstr(o->name, "page_size"))
                buf_printf(&text, " %s = %d;", o->name, page_size);
        }
        buf_append_str(&text, " }; }");
    }
    buf_append_str(&text, "\n);\n");
    char path[] = "/tmp/crmstream-fuzz-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text.data, text.len) != (ssize_t)text.len) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        exit(2);
    }
    close(fd);
    char err[1024];
    fs->cfg = config_load(path, err, sizeof(err));
    unlink(path);
    if (!fs->cfg) {
        fprintf(stderr, "fuzz: config: %s\n%s", err, text.data);
        exit(2);
    }
    buf_free(&text);
    fs->n = 0;
    for (int k = 0; k < fs->cfg->n_sources && fs->n < 16; k++) {
        source *s = source_new(&fs->cfg->sources[k], err, sizeof(err));
        if (!s) {
            fprintf(stderr, "fuzz: source %s: %s\n", fs->cfg->sources[k].name, err);
            exit(2);
        }
        fs->src[fs->n++] = s;
    }
}

/* Page sizes of 2, so that seed pages stay small. */
static inline void fuzz_sources_init(fuzz_sources *fs, const char *const *base_urls)
{
    fuzz_sources_init_pages(fs, base_urls, 2);
}

static inline void fuzz_sources_free(fuzz_sources *fs)
{
    for (int k = 0; k < fs->n; k++)
        source_free(fs->src[k]);
    config_free(fs->cfg);
    fs->n = 0;
}

/* The i-th table over all sources (wrapping), and its source. */
static inline const table_def *fuzz_table(const fuzz_sources *fs, unsigned i, source **src)
{
    unsigned total = 0;
    for (int k = 0; k < fs->n; k++)
        total += (unsigned)source_connector(fs->src[k])->n_tables;
    i %= total;
    for (int k = 0; k < fs->n; k++) {
        const connector *c = source_connector(fs->src[k]);
        if (i < c->n_tables) {
            *src = fs->src[k];
            return &c->tables[i];
        }
        i -= (unsigned)c->n_tables;
    }
    return NULL;
}

static inline unsigned fuzz_table_count(const fuzz_sources *fs)
{
    unsigned total = 0;
    for (int k = 0; k < fs->n; k++)
        total += (unsigned)source_connector(fs->src[k])->n_tables;
    return total;
}

#endif
