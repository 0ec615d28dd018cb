/* cli_schemas.c — `crmstream schemas`: each table's current writer schema (built-in .avsc plus
 * the custom fields restored from the state topic), whether it is published (schemas topic or
 * registry), and what the CRM's field definitions would change at the next pass: a new version,
 * and whether it is BACKWARD compatible with the current one (our own Avro resolution check,
 * and the registry's verdict in registry mode). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine.h"
#include "schema_compat.h"
#include "schema_registry.h"
#include "table_run.h"
#include "table_schema.h"
#include "topic_reader.h"

typedef struct schemas_ctx {
    const crm_config *cfg;
    const char *only;  /* TABLE or SOURCE.TABLE, or NULL */
    json_t *published; /* fingerprints on the schemas topic */
    sr_client *registry;
    int tables, incompatible;
} schemas_ctx;

static int note_fingerprint(const topic_record *r, void *u)
{
    if (r->value && r->key_len == 16)
        json_object_setn_new(u, r->key, 16, json_true());
    return 0;
}

static int wanted(const schemas_ctx *c, const table_run *t)
{
    if (!c->only)
        return 1;
    char full[300];
    snprintf(full, sizeof(full), "%s.%s", t->sr->sc->name, t->def->name);
    return strcmp(c->only, t->def->name) == 0 || strcmp(c->only, full) == 0;
}

static void published_status(schemas_ctx *c, table_run *t, char *out, size_t outlen)
{
    if (!c->registry) {
        char fp[17];
        snprintf(fp, sizeof(fp), "%016" PRIx64, event_codec_fingerprint(t->codec));
        snprintf(out, outlen, "%s", json_object_get(c->published, fp) ? "yes" : "no");
        return;
    }
    char subject[600], err[512];
    snprintf(subject, sizeof(subject), "%s-value", t->topic);
    uint32_t id;
    int version;
    sr_result r = sr_lookup(c->registry, subject, event_codec_schema(t->codec), &id, &version, err,
                            sizeof(err));
    if (r == SR_OK)
        snprintf(out, outlen, "%s version %d (id %" PRIu32 ")", subject, version, id);
    else if (r == SR_NOT_FOUND)
        snprintf(out, outlen, "not in %s", subject);
    else
        snprintf(out, outlen, "unknown (%s)", err);
}

static void next_status(schemas_ctx *c, table_run *t, char *out, size_t outlen)
{
    event_codec *next = NULL;
    char err[512];
    int rc = table_schema_next(t, &next, err, sizeof(err));
    if (rc == 0) {
        snprintf(out, outlen, "unchanged");
        return;
    }
    if (rc < 0) {
        snprintf(out, outlen, "unknown: definitions unreadable: %s", err);
        return;
    }
    char why[512] = "";
    int ok = schema_compat_can_read_text(event_codec_schema(next), event_codec_schema(t->codec),
                                         why, sizeof(why));
    char verdict[700] = "";
    if (c->registry) {
        char subject[600];
        snprintf(subject, sizeof(subject), "%s-value", t->topic);
        int compatible = 0;
        if (sr_check_compatibility(c->registry, subject, event_codec_schema(next), &compatible, err,
                                   sizeof(err)) == SR_OK)
            snprintf(verdict, sizeof(verdict), "; registry: %s",
                     compatible ? "compatible" : "INCOMPATIBLE");
        else
            snprintf(verdict, sizeof(verdict), "; registry: %s", err);
        ok = ok == 1 && compatible;
    }
    snprintf(out, outlen, "new version %016" PRIx64 ", %s%s%s%s", event_codec_fingerprint(next),
             ok == 1 ? "BACKWARD compatible" : "NOT BACKWARD compatible", *why ? ": " : "", why,
             verdict);
    if (ok != 1)
        c->incompatible++;
    event_codec_free(next);
}

static int print_table(table_run *t, void *u)
{
    schemas_ctx *c = u;
    if (!wanted(c, t))
        return 0;
    c->tables++;
    char pub[700], next[1500];
    published_status(c, t, pub, sizeof(pub));
    next_status(c, t, next, sizeof(next));
    size_t n = t->cf ? cf_history_count(t->cf) : 0, active = 0;
    for (size_t i = 0; i < n; i++)
        active += (size_t)cf_history_active(t->cf, i);
    printf("%s.%s  fingerprint=%016" PRIx64 "  custom_fields=%zu (%zu active)  published=%s  "
           "next=%s\n",
           t->sr->sc->name, t->def->name, event_codec_fingerprint(t->codec), n, active, pub, next);
    printf("  %s\n", event_codec_schema(t->codec));
    return 0;
}

int cli_schemas(const crm_config *cfg, const char *only)
{
    schemas_ctx c = {cfg, only, json_object(), NULL, 0, 0};
    char err[1024];
    int code = EXIT_OK;
    if (cfg->registry.url) {
        c.registry = sr_new(&cfg->registry, err, sizeof(err));
        if (!c.registry) {
            fprintf(stderr, "crmstream: %s\n", err);
            json_decref(c.published);
            return EXIT_CONFIG;
        }
    } else if (topic_read(&cfg->kafka, cfg->kafka.schemas_topic, -1, note_fingerprint, c.published,
                          30000, err, sizeof(err)) < 0) {
        fprintf(stderr, "crmstream: %s\n", err);
        code = EXIT_KAFKA;
    }
    if (code == EXIT_OK && engine_each_table(cfg, print_table, &c, err, sizeof(err))) {
        fprintf(stderr, "crmstream: %s\n", err);
        code = EXIT_KAFKA;
    }
    if (code == EXIT_OK && only && c.tables == 0) {
        fprintf(stderr, "crmstream: no enabled table \"%s\" in %s\n", only, cfg->path);
        code = EXIT_CONFIG;
    }
    if (code == EXIT_OK && c.incompatible)
        code = EXIT_RUNTIME;
    json_decref(c.published);
    sr_free(c.registry);
    return code;
}
