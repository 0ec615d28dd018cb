/* config_compare.c — whether two loaded configurations differ, setting by setting, driven by the
 * settings map (config_sections): a live reload restarts only the sources whose settings
 * changed, and restarts the whole engine only when a setting outside the sources did. A setting
 * added to a section's table is compared without a change here. */
#include "config_compare.h"

#include <string.h>

#define FIELD(base, off, type) ((const type *)((const char *)(base) + (off)))

static const config_spec *section_specs(const char *name)
{
    for (const config_section *s = config_sections; s->specs; s++)
        if (strcmp(s->name, name) == 0)
            return s->specs;
    return NULL;
}

static int strings_equal(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int kvs_equal(const kv *a, const kv *b, int n)
{
    for (int i = 0; i < n; i++)
        if (!strings_equal(a[i].key, b[i].key) || !strings_equal(a[i].value, b[i].value))
            return 0;
    return 1;
}

static int string_lists_equal(const char *const *a, const char *const *b, int n)
{
    for (int i = 0; i < n; i++)
        if (!strings_equal(a[i], b[i]))
            return 0;
    return 1;
}

static int overrides_equal(const source_config *a, const source_config *b)
{
    if (a->n_overrides != b->n_overrides)
        return 0;
    for (int i = 0; i < a->n_overrides; i++)
        if (!strings_equal(a->overrides[i].table, b->overrides[i].table) ||
            a->overrides[i].lookback_s != b->overrides[i].lookback_s)
            return 0;
    return 1;
}

/* Connector options as written, and the secrets of their file twins. */
static int options_equal(const source_config *a, const source_config *b)
{
    return a->n_options == b->n_options && kvs_equal(a->options, b->options, a->n_options) &&
           a->n_file_secrets == b->n_file_secrets &&
           kvs_equal(a->file_secrets, b->file_secrets, a->n_file_secrets);
}

static int section_equal(const config_spec *specs, const void *a, const void *b);

/* A group setting: the section it reads, at the struct it reads into. */
static int group_equal(const config_spec *sp, const void *a, const void *b)
{
    const char *n = sp->name;
    if (strcmp(n, "sources") == 0) /* the sources are compared one by one */
        return 1;
    if (strcmp(n, "kafka") == 0)
        return section_equal(section_specs("kafka"), &((const crm_config *)a)->kafka,
                             &((const crm_config *)b)->kafka);
    if (strcmp(n, "schema_registry") == 0)
        return section_equal(section_specs("schema_registry"), &((const crm_config *)a)->registry,
                             &((const crm_config *)b)->registry);
    if (strcmp(n, "metrics") == 0)
        return section_equal(section_specs("metrics"), a, b);
    if (strcmp(n, "tables") == 0)
        return section_equal(section_specs("sources[].tables"), a, b);
    if (strcmp(n, "lookback") == 0)
        return overrides_equal(a, b);
    if (strcmp(n, "options") == 0)
        return options_equal(a, b);
    return 0; /* a group this file does not know: assume it changed */
}

static int setting_equal(const config_spec *sp, const void *a, const void *b)
{
    size_t o = sp->offset, x = sp->aux_offset;
    switch (sp->type) {
    case SPEC_STRING:
    case SPEC_URL:
    case SPEC_NAME:
        return strings_equal(*FIELD(a, o, char *), *FIELD(b, o, char *));
    case SPEC_INT:
    case SPEC_BOOL:
    case SPEC_DURATION:
    case SPEC_DURATION_MS:
    case SPEC_CHOICE:
        return *FIELD(a, o, int) == *FIELD(b, o, int);
    case SPEC_RATE:
        return *FIELD(a, o, double) == *FIELD(b, o, double);
    case SPEC_DATE:
        return *FIELD(a, o, int64_t) == *FIELD(b, o, int64_t);
    case SPEC_KV_LIST:
    case SPEC_SECRET_KV_LIST:
        return *FIELD(a, x, int) == *FIELD(b, x, int) &&
               kvs_equal(*FIELD(a, o, kv *), *FIELD(b, o, kv *), *FIELD(a, x, int));
    case SPEC_SECRET_ENV:
    case SPEC_SECRET_FILE: /* where the secret comes from, and the secret */
        return strings_equal(*FIELD(a, o, char *), *FIELD(b, o, char *)) &&
               strings_equal(*FIELD(a, x, char *), *FIELD(b, x, char *));
    case SPEC_TABLE_LIST:
        return *FIELD(a, x, int) == *FIELD(b, x, int) &&
               string_lists_equal(*FIELD(a, o, char **), *FIELD(b, o, char **), *FIELD(a, x, int));
    case SPEC_GROUP:
        return group_equal(sp, a, b);
    }
    return 0;
}

static int section_equal(const config_spec *specs, const void *a, const void *b)
{
    if (!specs)
        return 0;
    for (const config_spec *sp = specs; sp->name; sp++)
        if (!setting_equal(sp, a, b))
            return 0;
    return 1;
}

int config_source_equal(const source_config *a, const source_config *b)
{
    return strings_equal(a->file, b->file) && section_equal(section_specs("sources[]"), a, b);
}

int config_settings_equal(const crm_config *a, const crm_config *b)
{
    return section_equal(section_specs(""), a, b);
}
