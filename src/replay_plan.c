/* replay_plan.c — a writer schema's `after` record as SQL columns, and decoded events as rows
 * (see replay_plan.h for the mapping rules). */
#include "replay_plan.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { PF_SCALAR, PF_MONEY, PF_FLAT, PF_JSON, PF_JSON_TEXT } pf_kind;

typedef struct pfield {
    pf_kind kind;
    col_type type;       /* PF_SCALAR */
    int micros;          /* timestamp-micros */
    size_t col;          /* the (first) column */
    struct pfield *kids; /* PF_FLAT: one per field of the nested record */
    size_t n_kids;
} pfield;

struct replay_plan {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    size_t after_idx, op_idx;
    pfield *fields;
    size_t n_fields;
    replay_column *cols;
    size_t n_cols;
    replay_value *vals;
    buf arena;
};

const char *col_type_name(col_type t)
{
    static const char *names[] = {"text",      "bigint", "double", "boolean",
                                  "timestamp", "date",   "json"};
    return names[t];
}

/* ---- building ---------------------------------------------------------------------------- */

/* Every named type of the schema under its name and its full name. */
static void collect_names(const json_t *t, const char *ns, json_t *names)
{
    if (json_is_array(t)) {
        size_t i;
        const json_t *b;
        json_array_foreach(t, i, b) collect_names(b, ns, names);
        return;
    }
    if (!json_is_object(t))
        return;
    const char *type = json_string_value(json_object_get(t, "type"));
    const char *name = json_string_value(json_object_get(t, "name"));
    const char *own_ns = json_string_value(json_object_get(t, "namespace"));
    if (own_ns)
        ns = own_ns;
    if (type && name &&
        (!strcmp(type, "record") || !strcmp(type, "enum") || !strcmp(type, "fixed"))) {
        json_object_set(names, name, (json_t *)t);
        const char *dot = strrchr(name, '.');
        if (dot) {
            json_object_set(names, dot + 1, (json_t *)t);
        } else if (ns && *ns) {
            char full[512];
            snprintf(full, sizeof(full), "%s.%s", ns, name);
            json_object_set(names, full, (json_t *)t);
        }
    }
    if (json_is_object(json_object_get(t, "type")) || json_is_array(json_object_get(t, "type")))
        collect_names(json_object_get(t, "type"), ns, names);
    collect_names(json_object_get(t, "items"), ns, names);
    collect_names(json_object_get(t, "values"), ns, names);
    const json_t *fields = json_object_get(t, "fields");
    size_t i;
    const json_t *f;
    json_array_foreach(fields, i, f) collect_names(json_object_get(f, "type"), ns, names);
}

/* The type a reference stands for (named types resolved; ["null", T] unwrapped). */
static const json_t *resolve(const json_t *t, const json_t *names)
{
    if (json_is_array(t) && json_array_size(t) == 2) {
        const json_t *a = json_array_get(t, 0), *b = json_array_get(t, 1);
        if (json_is_string(a) && !strcmp(json_string_value(a), "null"))
            return resolve(b, names);
        if (json_is_string(b) && !strcmp(json_string_value(b), "null"))
            return resolve(a, names);
    }
    if (json_is_string(t)) {
        const json_t *named = json_object_get(names, json_string_value(t));
        if (named)
            return named;
    }
    return t;
}

static int scalar_type(const char *prim, const char *logical, col_type *out, int *micros)
{
    *micros = 0;
    if (logical && (!strcmp(prim, "long") || !strcmp(prim, "int"))) {
        if (!strcmp(logical, "timestamp-millis") || !strcmp(logical, "timestamp-micros")) {
            *micros = !strcmp(logical, "timestamp-micros");
            *out = COL_TIMESTAMP;
            return 0;
        }
        if (!strcmp(logical, "date")) {
            *out = COL_DATE;
            return 0;
        }
    }
    if (!strcmp(prim, "long") || !strcmp(prim, "int"))
        *out = COL_BIGINT;
    else if (!strcmp(prim, "double") || !strcmp(prim, "float"))
        *out = COL_DOUBLE;
    else if (!strcmp(prim, "boolean"))
        *out = COL_BOOL;
    else if (!strcmp(prim, "string") || !strcmp(prim, "bytes") || !strcmp(prim, "null"))
        *out = COL_TEXT;
    else
        return -1;
    return 0;
}

static int add_column(replay_plan *p, const char *prefix, const char *name, const char *suffix,
                      col_type type, const char *field, char *err, size_t errlen)
{
    char col[256];
    snprintf(col, sizeof(col), "%s%s%s", prefix, name, suffix);
    for (char *c = col; *c; c++)
        *c = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '_';
    if (!strcmp(col, "_key")) {
        snprintf(err, errlen, "field %s: column \"_key\" is reserved for the record key", field);
        return -1;
    }
    for (size_t i = 0; i < p->n_cols; i++)
        if (!strcmp(p->cols[i].name, col)) {
            snprintf(err, errlen, "field %s: column \"%s\" is already taken by another field",
                     field, col);
            return -1;
        }
    p->cols = xrealloc(p->cols, (p->n_cols + 1) * sizeof(*p->cols));
    p->cols[p->n_cols].name = xstrdup(col);
    p->cols[p->n_cols].type = type;
    p->n_cols++;
    return 0;
}

static int is_money(const json_t *t)
{
    const char *name = json_string_value(json_object_get(t, "name"));
    const char *ns = json_string_value(json_object_get(t, "namespace"));
    return name && (!strcmp(name, "crmstream.Money") ||
                    (!strcmp(name, "Money") && ns && !strcmp(ns, "crmstream")));
}

static int plan_fields(replay_plan *p, const json_t *record, const char *prefix, int top,
                       const json_t *names, pfield **out, size_t *n_out, char *err, size_t errlen);

static int plan_field(replay_plan *p, const json_t *f, const char *prefix, int top,
                      const json_t *names, pfield *pf, char *err, size_t errlen)
{
    const char *name = json_string_value(json_object_get(f, "name"));
    const json_t *declared = json_object_get(f, "type");
    const json_t *t = resolve(declared, names);
    char field[300];
    snprintf(field, sizeof(field), "%s%s", top ? "" : "custom.", name ? name : "?");
    if (!name || !t) {
        snprintf(err, errlen, "field %s: no name or type", field);
        return -1;
    }
    pf->col = p->n_cols;
    const char *prim =
        json_is_string(t) ? json_string_value(t) : json_string_value(json_object_get(t, "type"));
    const char *logical = json_string_value(json_object_get(t, "logicalType"));
    if (top && !strcmp(name, "_unmapped") && prim && !strcmp(prim, "string")) {
        pf->kind = PF_JSON_TEXT;
        return add_column(p, prefix, name, "", COL_JSON, field, err, errlen);
    }
    if (json_is_array(t) || !prim) {
        pf->kind = PF_JSON; /* a union of several types */
        return add_column(p, prefix, name, "", COL_JSON, field, err, errlen);
    }
    if (!strcmp(prim, "record") && is_money(t)) {
        pf->kind = PF_MONEY;
        return add_column(p, prefix, name, "_amount", COL_DOUBLE, field, err, errlen) ||
                       add_column(p, prefix, name, "_currency", COL_TEXT, field, err, errlen)
                   ? -1
                   : 0;
    }
    if (!strcmp(prim, "record") && top && !strcmp(name, "custom")) {
        pf->kind = PF_FLAT;
        return plan_fields(p, t, "custom_", 0, names, &pf->kids, &pf->n_kids, err, errlen);
    }
    if (!strcmp(prim, "record") || !strcmp(prim, "array") || !strcmp(prim, "map") ||
        !strcmp(prim, "fixed")) {
        pf->kind = PF_JSON;
        return add_column(p, prefix, name, "", COL_JSON, field, err, errlen);
    }
    if (!strcmp(prim, "enum")) {
        pf->kind = PF_SCALAR;
        pf->type = COL_TEXT;
        return add_column(p, prefix, name, "", COL_TEXT, field, err, errlen);
    }
    pf->kind = PF_SCALAR;
    if (scalar_type(prim, logical, &pf->type, &pf->micros)) {
        snprintf(err, errlen, "field %s: type %s cannot be mapped to a column", field, prim);
        return -1;
    }
    return add_column(p, prefix, name, "", pf->type, field, err, errlen);
}

static int plan_fields(replay_plan *p, const json_t *record, const char *prefix, int top,
                       const json_t *names, pfield **out, size_t *n_out, char *err, size_t errlen)
{
    const json_t *fields = json_object_get(record, "fields");
    size_t n = json_array_size(fields);
    *out = xcalloc(n ? n : 1, sizeof(pfield));
    *n_out = n;
    for (size_t i = 0; i < n; i++)
        if (plan_field(p, json_array_get(fields, i), prefix, top, names, &(*out)[i], err, errlen))
            return -1;
    return 0;
}

static long field_index(const json_t *record, const char *name)
{
    const json_t *fields = json_object_get(record, "fields");
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")) ?: "",
                    name))
            return (long)i;
    return -1;
}

static int plan_build(replay_plan *p, const json_t *env, char *err, size_t errlen)
{
    json_t *names = json_object();
    collect_names(env, NULL, names);
    long after = field_index(env, "after"), op = field_index(env, "op");
    const json_t *rec =
        after < 0
            ? NULL
            : resolve(json_object_get(json_array_get(json_object_get(env, "fields"), (size_t)after),
                                      "type"),
                      names);
    int rc = -1;
    if (after < 0 || op < 0 || !json_is_object(rec) ||
        !json_is_array(json_object_get(rec, "fields")))
        snprintf(err, errlen, "not a crmstream envelope (no after record or op field)");
    else
        rc = plan_fields(p, rec, "", 1, names, &p->fields, &p->n_fields, err, errlen);
    p->after_idx = (size_t)after;
    p->op_idx = (size_t)op;
    json_decref(names);
    return rc;
}

replay_plan *replay_plan_new(const char *envelope_json, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *env = json_loadb(envelope_json, len, 0, &je);
    if (!env) {
        snprintf(err, errlen, "schema: invalid JSON: %s", je.text);
        return NULL;
    }
    replay_plan *p = xcalloc(1, sizeof(*p));
    buf_init(&p->arena);
    int rc = plan_build(p, env, err, errlen);
    json_decref(env);
    if (rc == 0 && avro_schema_from_json_length(envelope_json, len, &p->schema)) {
        snprintf(err, errlen, "schema: %s", avro_strerror());
        rc = -1;
    }
    if (rc == 0) {
        p->iface = avro_generic_class_from_schema(p->schema);
        if (!p->iface || avro_generic_value_new(p->iface, &p->value)) {
            snprintf(err, errlen, "schema: %s", avro_strerror());
            rc = -1;
        }
    }
    if (rc) {
        replay_plan_free(p);
        return NULL;
    }
    p->vals = xcalloc(p->n_cols ? p->n_cols : 1, sizeof(*p->vals));
    return p;
}

static void free_fields(pfield *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++)
        free_fields(f[i].kids, f[i].n_kids);
    free(f);
}

void replay_plan_free(replay_plan *p)
{
    if (!p)
        return;
    if (p->iface) {
        if (p->value.self)
            avro_value_decref(&p->value);
        avro_value_iface_decref(p->iface);
    }
    if (p->schema)
        avro_schema_decref(p->schema);
    free_fields(p->fields, p->n_fields);
    for (size_t i = 0; i < p->n_cols; i++)
        free(p->cols[i].name);
    free(p->cols);
    free(p->vals);
    buf_free(&p->arena);
    free(p);
}

const replay_column *replay_plan_columns(const replay_plan *p, size_t *n)
{
    *n = p->n_cols;
    return p->cols;
}

size_t replay_frame_header_len(const void *value, size_t len)
{
    const unsigned char *b = value;
    if (len >= 10 && b[0] == 0xC3 && b[1] == 0x01)
        return 10;
    if (len >= 5 && b[0] == 0x00)
        return 5;
    return 0;
}

/* ---- decoding ---------------------------------------------------------------------------- */

static void json_escape(buf *o, const char *s, size_t len)
{
    buf_append(o, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_append(o, e, 2);
        } else if (c < 0x20) {
            buf_printf(o, "\\u%04x", c);
        } else {
            buf_append(o, &s[i], 1);
        }
    }
    buf_append(o, "\"", 1);
}

static void put_double(buf *o, double d)
{
    if (isfinite(d))
        buf_printf(o, "%.17g", d);
    else
        buf_append_str(o, "null");
}

/* A value as compact JSON (unions unwrapped, enums as their symbol). */
static int value_json(avro_value_t *v, buf *o)
{
    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        return buf_append_str(o, "null");
    case AVRO_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        return buf_append_str(o, b ? "true" : "false");
    }
    case AVRO_INT32: {
        int32_t x = 0;
        avro_value_get_int(v, &x);
        return buf_printf(o, "%d", x);
    }
    case AVRO_INT64: {
        int64_t x = 0;
        avro_value_get_long(v, &x);
        return buf_printf(o, "%lld", (long long)x);
    }
    case AVRO_FLOAT: {
        float x = 0;
        avro_value_get_float(v, &x);
        put_double(o, x);
        return 0;
    }
    case AVRO_DOUBLE: {
        double x = 0;
        avro_value_get_double(v, &x);
        put_double(o, x);
        return 0;
    }
    case AVRO_STRING: {
        const char *s = NULL;
        size_t n = 0;
        avro_value_get_string(v, &s, &n);
        json_escape(o, s ? s : "", n ? n - 1 : 0);
        return 0;
    }
    case AVRO_BYTES:
    case AVRO_FIXED: {
        const void *s = NULL;
        size_t n = 0;
        if (avro_value_get_type(v) == AVRO_BYTES)
            avro_value_get_bytes(v, &s, &n);
        else
            avro_value_get_fixed(v, &s, &n);
        json_escape(o, s ? s : "", n);
        return 0;
    }
    case AVRO_ENUM: {
        int e = 0;
        avro_value_get_enum(v, &e);
        const char *sym = avro_schema_enum_get(avro_value_get_schema(v), e);
        json_escape(o, sym ? sym : "", sym ? strlen(sym) : 0);
        return 0;
    }
    case AVRO_UNION: {
        avro_value_t b;
        if (avro_value_get_current_branch(v, &b))
            return buf_append_str(o, "null");
        return value_json(&b, o);
    }
    case AVRO_ARRAY:
    case AVRO_MAP:
    case AVRO_RECORD: {
        avro_type_t t = avro_value_get_type(v);
        size_t n = 0;
        avro_value_get_size(v, &n);
        buf_append(o, t == AVRO_ARRAY ? "[" : "{", 1);
        avro_schema_t rs = t == AVRO_RECORD ? avro_value_get_schema(v) : NULL;
        for (size_t i = 0; i < n; i++) {
            avro_value_t e;
            const char *name = NULL;
            if (avro_value_get_by_index(v, i, &e, &name))
                return -1;
            if (i)
                buf_append(o, ",", 1);
            if (rs)
                name = avro_schema_record_field_name(rs, (int)i);
            if (t != AVRO_ARRAY) {
                json_escape(o, name ? name : "", name ? strlen(name) : 0);
                buf_append(o, ":", 1);
            }
            if (value_json(&e, o))
                return -1;
        }
        return buf_append(o, t == AVRO_ARRAY ? "]" : "}", 1);
    }
    default:
        return buf_append_str(o, "null");
    }
}

/* v with its union (if any) unwrapped; 0 when the value is null. */
static int present(avro_value_t *v, avro_value_t *out)
{
    *out = *v;
    if (avro_value_get_type(v) == AVRO_UNION && avro_value_get_current_branch(v, out))
        return 0;
    return avro_value_get_type(out) != AVRO_NULL;
}

static void set_text(replay_plan *p, size_t col, const char *s, size_t n)
{
    p->vals[col].is_null = 0;
    p->vals[col].i = (int64_t)p->arena.len; /* resolved to a pointer when the row is done */
    buf_append(&p->arena, s, n);
    buf_append(&p->arena, "", 1);
    p->vals[col].len = n;
}

static int64_t integer_of(avro_value_t *v)
{
    int32_t i32 = 0;
    int64_t i64 = 0;
    if (avro_value_get_type(v) == AVRO_INT32) {
        avro_value_get_int(v, &i32);
        return i32;
    }
    avro_value_get_long(v, &i64);
    return i64;
}

static double double_of(avro_value_t *v)
{
    float f = 0;
    double d = 0;
    if (avro_value_get_type(v) == AVRO_FLOAT) {
        avro_value_get_float(v, &f);
        return f;
    }
    if (avro_value_get_type(v) == AVRO_DOUBLE) {
        avro_value_get_double(v, &d);
        return d;
    }
    return (double)integer_of(v);
}

static void fill_scalar(replay_plan *p, const pfield *f, avro_value_t *v)
{
    replay_value *out = &p->vals[f->col];
    out->is_null = 0;
    switch (f->type) {
    case COL_BIGINT:
    case COL_DATE:
        out->i = integer_of(v);
        break;
    case COL_TIMESTAMP:
        out->i = f->micros ? integer_of(v) / 1000 : integer_of(v);
        break;
    case COL_DOUBLE:
        out->d = double_of(v);
        if (!isfinite(out->d))
            out->is_null = 1;
        break;
    case COL_BOOL: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        out->i = b != 0;
        break;
    }
    default: {
        avro_type_t t = avro_value_get_type(v);
        if (t == AVRO_STRING) {
            const char *s = NULL;
            size_t n = 0;
            avro_value_get_string(v, &s, &n);
            set_text(p, f->col, s ? s : "", n ? n - 1 : 0);
        } else if (t == AVRO_ENUM) {
            int e = 0;
            avro_value_get_enum(v, &e);
            const char *sym = avro_schema_enum_get(avro_value_get_schema(v), e);
            set_text(p, f->col, sym ? sym : "", sym ? strlen(sym) : 0);
        } else if (t == AVRO_BYTES) {
            const void *s = NULL;
            size_t n = 0;
            avro_value_get_bytes(v, &s, &n);
            set_text(p, f->col, s ? s : "", n);
        } else {
            out->is_null = 1;
        }
    }
    }
}

static int fill_fields(replay_plan *p, const pfield *fields, size_t n, avro_value_t *rec, char *err,
                       size_t errlen);

static int fill_field(replay_plan *p, const pfield *f, avro_value_t *fv, char *err, size_t errlen)
{
    avro_value_t v;
    if (!present(fv, &v))
        return 0; /* the columns stay null */
    switch (f->kind) {
    case PF_SCALAR:
        fill_scalar(p, f, &v);
        return 0;
    case PF_MONEY: {
        avro_value_t a, c, av, cv;
        if (avro_value_get_by_name(&v, "amount", &a, NULL) == 0 && present(&a, &av)) {
            p->vals[f->col].is_null = 0;
            p->vals[f->col].d = double_of(&av);
        }
        if (avro_value_get_by_name(&v, "currency", &c, NULL) == 0 && present(&c, &cv)) {
            const char *s = NULL;
            size_t n = 0;
            avro_value_get_string(&cv, &s, &n);
            set_text(p, f->col + 1, s ? s : "", n ? n - 1 : 0);
        }
        return 0;
    }
    case PF_FLAT:
        return fill_fields(p, f->kids, f->n_kids, &v, err, errlen);
    case PF_JSON_TEXT: {
        const char *s = NULL;
        size_t n = 0;
        avro_value_get_string(&v, &s, &n);
        set_text(p, f->col, s ? s : "null", n ? n - 1 : 4);
        return 0;
    }
    case PF_JSON: { /* written straight into the arena */
        size_t start = p->arena.len;
        if (value_json(&v, &p->arena)) {
            snprintf(err, errlen, "column %s: cannot write its JSON", p->cols[f->col].name);
            return -1;
        }
        p->vals[f->col].is_null = 0;
        p->vals[f->col].i = (int64_t)start;
        p->vals[f->col].len = p->arena.len - start;
        buf_append(&p->arena, "", 1);
        return 0;
    }
    }
    return 0;
}

static int fill_fields(replay_plan *p, const pfield *fields, size_t n, avro_value_t *rec, char *err,
                       size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        avro_value_t fv;
        if (avro_value_get_by_index(rec, i, &fv, NULL)) {
            snprintf(err, errlen, "decode: %s", avro_strerror());
            return -1;
        }
        if (fill_field(p, &fields[i], &fv, err, errlen))
            return -1;
    }
    return 0;
}

int replay_plan_decode(replay_plan *p, const void *body, size_t len, char *op,
                       const replay_value **vals, char *err, size_t errlen)
{
    avro_value_reset(&p->value);
    avro_reader_t r = avro_reader_memory(body, (int64_t)len);
    int rc = avro_value_read(r, &p->value);
    avro_reader_free(r);
    if (rc) {
        snprintf(err, errlen, "decode: %s", avro_strerror());
        return -1;
    }
    avro_value_t opv, afterv, rec;
    const char *ops = NULL;
    size_t opn = 0;
    if (avro_value_get_by_index(&p->value, p->op_idx, &opv, NULL) ||
        avro_value_get_string(&opv, &ops, &opn) || !ops || opn < 2 ||
        avro_value_get_by_index(&p->value, p->after_idx, &afterv, NULL)) {
        snprintf(err, errlen, "decode: no op or after image");
        return -1;
    }
    *op = ops[0];
    *vals = NULL;
    if (*op == 'd' || !present(&afterv, &rec))
        return 0;
    buf_reset(&p->arena);
    for (size_t i = 0; i < p->n_cols; i++)
        p->vals[i].is_null = 1;
    if (fill_fields(p, p->fields, p->n_fields, &rec, err, errlen))
        return -1;
    for (size_t i = 0; i < p->n_cols; i++) {
        col_type t = p->cols[i].type;
        if ((t == COL_TEXT || t == COL_JSON) && !p->vals[i].is_null)
            p->vals[i].s = p->arena.data + p->vals[i].i;
    }
    *vals = p->vals;
    return 0;
}
