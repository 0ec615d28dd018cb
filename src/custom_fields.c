/* custom_fields.c — the history of a table's custom fields, its Avro record and value coercion
 * (see custom_fields.h for the evolution rules). Pure data: no I/O, unit-tested on its own. */
#include "custom_fields.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "util.h"

#define CF_HISTORY_VERSION 1
#define MAX_NAME           64

typedef struct cf_entry {
    char *id;
    char *name;
    char *label;
    cf_kind kind;
    int multi;
    int active;
    json_t *options; /* owned or NULL */
    char *currency;  /* owned or NULL */
} cf_entry;

struct cf_history {
    cf_entry *e;
    size_t n, cap;
};

static const char *const kind_names[] = {"string",   "number", "boolean", "date",
                                         "datetime", "money",  "enum"};

const char *cf_kind_name(cf_kind k)
{
    return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "string";
}

static int kind_from_name(const char *s, cf_kind *k)
{
    for (size_t i = 0; s && i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
        if (strcmp(s, kind_names[i]) == 0) {
            *k = (cf_kind)i;
            return 0;
        }
    return -1;
}

/* ---- descriptors ------------------------------------------------------------------------- */

void cf_desc_set(cf_desc *d, const char *id, const char *label, cf_kind kind, int multi)
{
    memset(d, 0, sizeof(*d));
    d->id = xstrdup(id);
    d->label = xstrdup(label && *label ? label : id);
    d->kind = kind;
    d->multi = multi;
}

void cf_desc_add_option(cf_desc *d, const char *id, const char *label)
{
    if (!d->options)
        d->options = json_object();
    json_object_set_new(d->options, id, json_string(label ? label : id));
}

void cf_desc_clear(cf_desc *d)
{
    free(d->id);
    free(d->label);
    free(d->currency);
    json_decref(d->options);
    memset(d, 0, sizeof(*d));
}

/* ---- history ----------------------------------------------------------------------------- */

cf_history *cf_history_new(void)
{
    return xcalloc(1, sizeof(cf_history));
}

static void entry_clear(cf_entry *e)
{
    free(e->id);
    free(e->name);
    free(e->label);
    free(e->currency);
    json_decref(e->options);
}

static void history_clear(cf_history *h)
{
    for (size_t i = 0; i < h->n; i++)
        entry_clear(&h->e[i]);
    h->n = 0;
}

void cf_history_free(cf_history *h)
{
    if (!h)
        return;
    history_clear(h);
    free(h->e);
    free(h);
}

size_t cf_history_count(const cf_history *h)
{
    return h->n;
}

const char *cf_history_name(const cf_history *h, size_t i)
{
    return h->e[i].name;
}

const char *cf_history_id(const cf_history *h, size_t i)
{
    return h->e[i].id;
}

int cf_history_active(const cf_history *h, size_t i)
{
    return h->e[i].active;
}

cf_kind cf_history_kind(const cf_history *h, size_t i)
{
    return h->e[i].kind;
}

static cf_entry *append_entry(cf_history *h)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->e = xrealloc(h->e, h->cap * sizeof(cf_entry));
    }
    cf_entry *e = &h->e[h->n++];
    memset(e, 0, sizeof(*e));
    return e;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* ---- names ------------------------------------------------------------------------------- */

/* An Avro name from free text: lowercase [a-z0-9_], no leading digit, at most MAX_NAME. */
static void slug(const char *text, char *out, size_t outlen)
{
    size_t n = 0;
    int underscore = 1; /* suppresses leading and repeated '_' */
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 1 < outlen; p++) {
        if (isalnum(*p) && *p < 128) {
            out[n++] = (char)tolower(*p);
            underscore = 0;
        } else if (!underscore) {
            out[n++] = '_';
            underscore = 1;
        }
    }
    while (n > 0 && out[n - 1] == '_')
        n--;
    out[n] = '\0';
    if (n == 0 || isdigit((unsigned char)out[0])) {
        char tmp[MAX_NAME + 1];
        snprintf(tmp, sizeof(tmp), "f_%s", out);
        snprintf(out, outlen, "%s", tmp);
    }
}

static int name_taken(const cf_history *h, const char *name)
{
    if (strcmp(name, "_invalid") == 0)
        return 1;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->e[i].name, name) == 0)
            return 1;
    return 0;
}

/* A free name: base, else base_<id slug>, else base_<id slug>_2, _3, ... */
static char *unique_name(const cf_history *h, const char *base, const char *id)
{
    buf cand;
    buf_init(&cand);
    buf_append_str(&cand, base);
    if (!name_taken(h, cand.data))
        return cand.data;
    char ids[MAX_NAME + 1];
    slug(id, ids, sizeof(ids));
    const char *tail = strlen(ids) > 8 ? ids + strlen(ids) - 8 : ids;
    buf_reset(&cand);
    buf_printf(&cand, "%s_%s", base, tail);
    for (int k = 2; name_taken(h, cand.data); k++) {
        buf_reset(&cand);
        buf_printf(&cand, "%s_%s_%d", base, tail, k);
    }
    return cand.data;
}

static const char *type_suffix(cf_kind k)
{
    return k == CF_STRING ? "text" : k == CF_BOOLEAN ? "bool" : cf_kind_name(k);
}

/* ---- merge ------------------------------------------------------------------------------- */

static cf_entry *find_entry(cf_history *h, const cf_desc *d)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->e[i].id, d->id) == 0 && h->e[i].kind == d->kind && h->e[i].multi == d->multi)
            return &h->e[i];
    return NULL;
}

static const cf_entry *first_with_id(const cf_history *h, const char *id)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->e[i].id, id) == 0)
            return &h->e[i];
    return NULL;
}

static char *name_for(const cf_history *h, const cf_desc *d)
{
    const cf_entry *origin = first_with_id(h, d->id);
    buf base;
    buf_init(&base);
    if (origin) {
        buf_printf(&base, "%s_%s%s", origin->name, d->multi ? "list_" : "", type_suffix(d->kind));
    } else {
        char s[MAX_NAME + 1];
        slug(d->label, s, sizeof(s));
        buf_append_str(&base, s);
    }
    char *name = unique_name(h, base.data, d->id);
    buf_free(&base);
    return name;
}

static int update_entry(cf_entry *e, const cf_desc *d)
{
    int changed = 0;
    if (!e->active) {
        e->active = 1;
        changed |= CF_CHANGED_SCHEMA | CF_CHANGED_STATE;
    }
    if (!str_eq(e->label, d->label)) {
        free(e->label);
        e->label = xstrdup(d->label);
        changed |= CF_CHANGED_SCHEMA | CF_CHANGED_STATE;
    }
    if (!(e->options == d->options ||
          (e->options && d->options && json_equal(e->options, d->options)))) {
        json_decref(e->options);
        e->options = d->options ? json_deep_copy(d->options) : NULL;
        changed |= CF_CHANGED_STATE;
    }
    if (!str_eq(e->currency, d->currency)) {
        free(e->currency);
        e->currency = dup_or_null(d->currency);
        changed |= CF_CHANGED_STATE;
    }
    return changed;
}

static int merge(cf_history *h, const cf_desc *current, size_t n, int complete)
{
    int changed = 0;
    char *seen = xcalloc(h->n + n + 1, 1);
    for (size_t i = 0; i < n; i++) {
        const cf_desc *d = &current[i];
        if (!d->id || !*d->id)
            continue;
        cf_entry *e = find_entry(h, d);
        if (!e) {
            char *name = name_for(h, d);
            e = append_entry(h);
            e->id = xstrdup(d->id);
            e->name = name;
            e->label = xstrdup(d->label ? d->label : d->id);
            e->kind = d->kind;
            e->multi = d->multi;
            e->active = 1;
            e->options = d->options ? json_deep_copy(d->options) : NULL;
            e->currency = dup_or_null(d->currency);
            changed |= CF_CHANGED_SCHEMA | CF_CHANGED_STATE;
        } else {
            changed |= update_entry(e, d);
        }
        seen[e - h->e] = 1;
    }
    for (size_t i = 0; complete && i < h->n; i++)
        if (h->e[i].active && !seen[i]) {
            h->e[i].active = 0;
            changed |= CF_CHANGED_SCHEMA | CF_CHANGED_STATE;
        }
    free(seen);
    return changed;
}

int cf_history_merge(cf_history *h, const cf_desc *current, size_t n)
{
    return merge(h, current, n, 1);
}

int cf_history_merge_some(cf_history *h, const cf_desc *current, size_t n)
{
    return merge(h, current, n, 0);
}

/* ---- persistence ------------------------------------------------------------------------- */

char *cf_history_dump(const cf_history *h)
{
    json_t *fields = json_array();
    for (size_t i = 0; i < h->n; i++) {
        const cf_entry *e = &h->e[i];
        json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "id", e->id, "name", e->name,
                              "label", e->label, "type", cf_kind_name(e->kind), "multi", e->multi,
                              "active", e->active);
        if (!f)
            continue;
        if (e->options)
            json_object_set(f, "options", e->options);
        if (e->currency)
            json_object_set_new(f, "currency", json_string(e->currency));
        json_array_append_new(fields, f);
    }
    json_t *root = json_pack("{s:i, s:o}", "v", CF_HISTORY_VERSION, "fields", fields);
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return s ? s : xstrdup("{}");
}

int cf_history_parse(cf_history *h, const char *json, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    json_t *fields = json_object_get(root, "fields");
    json_int_t v = json_integer_value(json_object_get(root, "v"));
    if (!root || !json_is_array(fields) || v < 1 || v > CF_HISTORY_VERSION) {
        snprintf(err, errlen, "custom field history: %s",
                 !root                    ? je.text
                 : v > CF_HISTORY_VERSION ? "written by a newer crmstream"
                                          : "malformed");
        json_decref(root);
        return -1;
    }
    history_clear(h);
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *id = json_string_value(json_object_get(f, "id"));
        const char *name = json_string_value(json_object_get(f, "name"));
        cf_kind k;
        if (!id || !name || kind_from_name(json_string_value(json_object_get(f, "type")), &k))
            continue;
        cf_entry *e = append_entry(h);
        e->id = xstrdup(id);
        e->name = xstrdup(name);
        const char *label = json_string_value(json_object_get(f, "label"));
        e->label = xstrdup(label ? label : id);
        e->kind = k;
        e->multi = json_is_true(json_object_get(f, "multi"));
        e->active = json_is_true(json_object_get(f, "active"));
        json_t *opts = json_object_get(f, "options");
        e->options = json_is_object(opts) ? json_deep_copy(opts) : NULL;
        e->currency = dup_or_null(json_string_value(json_object_get(f, "currency")));
    }
    json_decref(root);
    return 0;
}

/* ---- Avro -------------------------------------------------------------------------------- */

static json_t *money_schema(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:[s,s], s:n}, {s:s, s:[s,s], s:n}]}", "type",
                     "record", "name", "Money", "namespace", "crmstream", "doc",
                     "An amount of money and its ISO 4217 currency code.", "fields", "name",
                     "amount", "type", "null", "double", "default", "name", "currency", "type",
                     "null", "string", "default");
}

static json_t *scalar_schema(cf_kind k, int *money_defined)
{
    switch (k) {
    case CF_NUMBER:
        return json_string("double");
    case CF_BOOLEAN:
        return json_string("boolean");
    case CF_DATE:
        return json_pack("{s:s, s:s}", "type", "int", "logicalType", "date");
    case CF_DATETIME:
        return json_pack("{s:s, s:s}", "type", "long", "logicalType", "timestamp-millis");
    case CF_MONEY:
        if (*money_defined)
            return json_string("crmstream.Money");
        *money_defined = 1;
        return money_schema();
    case CF_STRING:
    case CF_ENUM:
    default:
        return json_string("string");
    }
}

static json_t *entry_field(const cf_entry *e, int *money_defined)
{
    json_t *t = scalar_schema(e->kind, money_defined);
    if (e->multi)
        t = json_pack("{s:s, s:o}", "type", "array", "items", t);
    buf doc;
    buf_init(&doc);
    buf_printf(&doc, "%s", e->label);
    if (!e->active)
        buf_printf(&doc, " (no longer defined in the CRM with this type)");
    json_t *f = json_pack("{s:s, s:[s,o], s:n, s:s, s:s, s:s, s:b}", "name", e->name, "type",
                          "null", t, "default", "doc", doc.data, "crm_id", e->id, "crm_type",
                          cf_kind_name(e->kind), "crm_active", e->active);
    buf_free(&doc);
    return f;
}

json_t *cf_history_avro_field(const cf_history *h, const char *connector, const char *table)
{
    if (h->n == 0)
        return NULL;
    json_t *fields = json_array();
    int money_defined = 0;
    for (size_t i = 0; i < h->n; i++)
        json_array_append_new(fields, entry_field(&h->e[i], &money_defined));
    json_array_append_new(
        fields, json_pack("{s:s, s:[s,{s:s,s:s}], s:n, s:s}", "name", "_invalid", "type", "null",
                          "type", "map", "values", "string", "default", "doc",
                          "Custom values that did not fit their declared type, as compact JSON "
                          "text, by field name"));
    char ns[256];
    snprintf(ns, sizeof(ns), "crmstream.%s.%s", connector, table);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "record", "name", "Custom",
                            "namespace", ns, "doc",
                            "Typed custom fields, named from their label when first seen and "
                            "pinned to the CRM's field id (crm_id)",
                            "fields", fields);
    return json_pack("{s:s, s:[s,o], s:n, s:s, s:s}", "name", "custom", "type", "null", rec,
                     "default", "json", CF_JSON_KEY, "doc",
                     "Custom field values, typed from the CRM's field definitions");
}

/* ---- coercion ---------------------------------------------------------------------------- */

static json_t *as_number(const json_t *v)
{
    if (json_is_number(v))
        return json_real(json_number_value(v));
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        double d = strtod(s, &end);
        if (*s && end != s && *end == '\0' && isfinite(d))
            return json_real(d);
    }
    return NULL;
}

static json_t *as_time(const json_t *v, int date_only)
{
    int64_t ms;
    if (json_is_string(v)) {
        if (crm_time_parse(json_string_value(v), &ms) || ms == CRM_TIME_NONE)
            return NULL;
    } else if (json_is_integer(v) || json_is_real(v)) {
        ms = crm_time_from_epoch(json_number_value(v));
    } else {
        return NULL;
    }
    char out[40];
    crm_time_format(ms, out, sizeof(out));
    if (date_only)
        out[10] = '\0'; /* YYYY-MM-DD */
    return json_string(out);
}

static json_t *as_boolean(const json_t *v)
{
    if (json_is_boolean(v))
        return json_incref((json_t *)v);
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        return json_boolean(json_integer_value(v));
    if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0)
        return json_true();
    if (json_is_string(v) && strcmp(json_string_value(v), "false") == 0)
        return json_false();
    return NULL;
}

static json_t *as_string(const json_t *v)
{
    if (json_is_string(v))
        return json_incref((json_t *)v);
    if (json_is_number(v) || json_is_boolean(v)) {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        json_t *r = s ? json_string(s) : NULL;
        free(s);
        return r;
    }
    return NULL;
}

static json_t *as_option(const cf_entry *e, const json_t *v)
{
    if (!e->options)
        return as_string(v);
    char key[64];
    if (json_is_string(v))
        snprintf(key, sizeof(key), "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        return NULL;
    json_t *label = json_object_get(e->options, key);
    if (json_is_string(label))
        return json_incref(label);
    const char *k;
    json_t *l;
    if (json_is_string(v))
        json_object_foreach(e->options, k, l) if (json_equal(l, v)) return json_incref(l);
    return NULL;
}

static json_t *as_money(const cf_entry *e, const json_t *v)
{
    json_t *amount, *currency = NULL;
    if (json_is_object(v)) {
        const json_t *a = json_object_get(v, "amount");
        if (!a)
            a = json_object_get(v, "value");
        amount = a && !json_is_null(a) ? as_number(a) : json_null();
        const json_t *c = json_object_get(v, "currency");
        if (c && !json_is_null(c) && !json_is_string(c)) {
            json_decref(amount);
            return NULL;
        }
        if (json_is_string(c))
            currency = json_incref((json_t *)c);
    } else {
        amount = as_number(v);
    }
    if (!amount)
        return NULL;
    if (!currency)
        currency = e->currency ? json_string(e->currency) : json_null();
    return json_pack("{s:o, s:o}", "amount", amount, "currency", currency);
}

static json_t *coerce_scalar(const cf_entry *e, const json_t *v)
{
    switch (e->kind) {
    case CF_NUMBER:
        return as_number(v);
    case CF_BOOLEAN:
        return as_boolean(v);
    case CF_DATE:
        return as_time(v, 1);
    case CF_DATETIME:
        return as_time(v, 0);
    case CF_MONEY:
        return as_money(e, v);
    case CF_ENUM:
        return as_option(e, v);
    case CF_STRING:
    default:
        return as_string(v);
    }
}

/* Multi-value: arrays element by element; a comma-separated string of option ids (Pipedrive
 * v1 "set") is split; a lone scalar becomes a one-element array. */
static json_t *coerce_multi(const cf_entry *e, const json_t *v)
{
    json_t *items = NULL;
    if (json_is_array(v)) {
        items = json_incref((json_t *)v);
    } else if (json_is_string(v) && e->kind == CF_ENUM && e->options &&
               !json_object_get(e->options, json_string_value(v))) {
        items = json_array();
        char *copy = xstrdup(json_string_value(v)), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            json_array_append_new(items, json_string(tok));
        free(copy);
    } else {
        items = json_pack("[O]", v);
    }
    json_t *out = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *c = json_is_null(it) ? NULL : coerce_scalar(e, it);
        if (!c) {
            json_decref(out);
            out = NULL;
            break;
        }
        json_array_append_new(out, c);
    }
    json_decref(items);
    return out;
}

json_t *cf_history_values(const cf_history *h, json_t *const *raw, size_t *misfits,
                          const char **misfit_field)
{
    json_t *out = json_object();
    json_t *invalid = NULL;
    *misfits = 0;
    if (misfit_field)
        *misfit_field = NULL;
    for (size_t i = 0; i < h->n; i++) {
        const cf_entry *e = &h->e[i];
        const json_t *v = raw[i];
        if (!e->active || !v || json_is_null(v))
            continue;
        json_t *c = e->multi ? coerce_multi(e, v) : coerce_scalar(e, v);
        if (c) {
            json_object_set_new(out, e->name, c);
            continue;
        }
        if (!invalid)
            invalid = json_object();
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        json_object_set_new(invalid, e->name, json_string(text ? text : "?"));
        free(text);
        if (misfit_field && !*misfit_field)
            *misfit_field = e->name;
        (*misfits)++;
    }
    if (invalid)
        json_object_set_new(out, "_invalid", invalid);
    return out;
}
