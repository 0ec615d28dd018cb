/* amap_plan.c — compiles a table's record schema (.avsc JSON) into the plan that every record of
 * the table is mapped with (see amap.h for the rules and amap_plan.h for the structures). Named
 * types are shared nodes, so recursive schemas work. The plan is immutable after amap_new: one
 * plan may serve several threads. */
#include "amap_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "schema_canon.h"
#include "util.h"

const char *const amap_kind_name[] = {"null",   "boolean", "int",    "long",   "float",
                                      "double", "bytes",   "string", "record", "enum",
                                      "array",  "map",     "union",  "fixed"};

const char *const amap_logical_name[] = {"", "timestamp-millis", "timestamp-micros", "date"};

/* ------------------------------------------------------------------------------------------ */
/* key sets                                                                                   */

static void amap_keyset_init(keyset *ks, size_t n)
{
    size_t cap = 16;
    while (cap < 4 * n)
        cap *= 2;
    ks->ent = xcalloc(n ? n : 1, sizeof(*ks->ent));
    ks->n = 0;
    ks->slot = xmalloc(cap * sizeof(*ks->slot));
    for (size_t i = 0; i < cap; i++)
        ks->slot[i] = (kslot){0, -1};
    ks->mask = cap - 1;
}

static void amap_keyset_free(keyset *ks)
{
    free(ks->ent);
    free(ks->slot);
}

/* Adds key -> val (key is borrowed); returns -1, or the value already stored for key. */
static int amap_keyset_put(keyset *ks, const char *key, size_t len, int val)
{
    int prev = amap_keyset_find(ks, key, len); /* values are >= 0 */
    if (prev >= 0)
        return prev;
    uint64_t h = amap_key_hash(key, len);
    size_t i = (size_t)h & ks->mask;
    while (ks->slot[i].ent >= 0)
        i = (i + 1) & ks->mask;
    ks->ent[ks->n] = (kentry){key, len, val};
    ks->slot[i] = (kslot){(uint32_t)(h >> 32), (int32_t)ks->n++};
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* compiling the plan                                                                         */

typedef struct cctx {
    amap_plan *m;
    char *err;
    size_t errlen;
    buf path; /* field path for messages */
} cctx;

static node *cerr(cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static node *cerr(cctx *c, const char *fmt, ...)
{
    if (!c->err || !c->errlen)
        return NULL;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->path.len)
        snprintf(c->err, c->errlen, "schema: field %s: %s", c->path.data, msg);
    else
        snprintf(c->err, c->errlen, "schema: %s", msg);
    return NULL;
}

static node *new_node(cctx *c, enum kind k)
{
    amap_plan *m = c->m;
    if (m->nnodes == m->capnodes) {
        m->capnodes = m->capnodes ? m->capnodes * 2 : 16;
        m->nodes = xrealloc(m->nodes, m->capnodes * sizeof(*m->nodes));
    }
    node *n = xcalloc(1, sizeof(*n));
    n->kind = k;
    n->null_branch = -1;
    n->value_branch = -1;
    n->unmapped = -1;
    m->nodes[m->nnodes++] = n;
    return n;
}

static node *find_named(const amap_plan *m, const char *full)
{
    for (size_t i = 0; i < m->nnamed; i++)
        if (strcmp(m->named[i]->fullname, full) == 0)
            return m->named[i];
    return NULL;
}

static void add_named(amap_plan *m, node *n)
{
    if (m->nnamed == m->capnamed) {
        m->capnamed = m->capnamed ? m->capnamed * 2 : 8;
        m->named = xrealloc(m->named, m->capnamed * sizeof(*m->named));
    }
    m->named[m->nnamed++] = n;
}

static int primitive_kind(const char *t, enum kind *k)
{
    static const struct {
        const char *name;
        enum kind kind;
    } prims[] = {{"null", K_NULL},   {"boolean", K_BOOLEAN}, {"int", K_INT},
                 {"long", K_LONG},   {"float", K_FLOAT},     {"double", K_DOUBLE},
                 {"bytes", K_BYTES}, {"string", K_STRING}};
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (strcmp(t, prims[i].name) == 0) {
            *k = prims[i].kind;
            return 1;
        }
    return 0;
}

/* A reference to a named type: the name in the enclosing namespace first, then as written. */
static node *resolve_named(cctx *c, const char *name, const char *ns)
{
    node *n = NULL;
    if (!strchr(name, '.') && ns && *ns) {
        char *full = schema_canon_full_name(name, NULL, ns);
        n = find_named(c->m, full);
        free(full);
    }
    if (!n)
        n = find_named(c->m, name);
    if (!n)
        return cerr(c, "unknown type \"%s\"", name);
    return n;
}

static node *compile(cctx *c, const json_t *s, const char *ns);

static node *compile_union(cctx *c, const json_t *s, const char *ns)
{
    size_t nb = json_array_size(s);
    if (nb == 0)
        return cerr(c, "empty union");
    node *n = new_node(c, K_UNION);
    n->branches = xcalloc(nb, sizeof(*n->branches));
    n->nbranches = nb;
    size_t nonnull = 0;
    for (size_t i = 0; i < nb; i++) {
        node *b = compile(c, json_array_get(s, i), ns);
        if (!b)
            return NULL;
        if (b->kind == K_UNION)
            return cerr(c, "a union may not contain a union");
        n->branches[i] = b;
        if (b->kind == K_NULL) {
            if (n->null_branch >= 0)
                return cerr(c, "union has two null branches");
            n->null_branch = (int)i;
        } else {
            nonnull++;
            n->value_branch = (int)i;
        }
    }
    if (nonnull != 1)
        n->value_branch = -1;
    return n;
}

static int record_default_ok(const node *n, const json_t *j)
{
    if (!json_is_object(j))
        return 0;
    for (size_t i = 0; i < n->nfields; i++) {
        const field *f = &n->fields[i];
        if (!f->name || !f->type) /* a recursive record still being compiled */
            continue;
        const json_t *v = json_object_get(j, f->name);
        if (v ? !amap_default_ok(f->type, v)
              : !(f->defval || (f->type->kind == K_UNION && f->type->null_branch >= 0)))
            return 0;
    }
    return 1;
}

/* Whether j is a valid Avro default for n (a union default may match any branch here; the
 * specification wants the first, which is what a schema registry checks). */
int amap_default_ok(const node *n, const json_t *j)
{
    switch (n->kind) {
    case K_NULL:
        return json_is_null(j);
    case K_BOOLEAN:
        return json_is_boolean(j);
    case K_INT:
        return json_is_integer(j) && json_integer_value(j) >= INT32_MIN &&
               json_integer_value(j) <= INT32_MAX;
    case K_LONG:
        return json_is_integer(j);
    case K_FLOAT:
    case K_DOUBLE:
        return json_is_number(j);
    case K_BYTES:
    case K_STRING:
    case K_FIXED:
        return json_is_string(j);
    case K_ENUM:
        return json_is_string(j) &&
               amap_keyset_find(&n->syms, json_string_value(j), json_string_length(j)) >= 0;
    case K_ARRAY: {
        if (!json_is_array(j))
            return 0;
        for (size_t i = 0; i < json_array_size(j); i++)
            if (!amap_default_ok(n->items, json_array_get(j, i)))
                return 0;
        return 1;
    }
    case K_MAP: {
        const char *k;
        const json_t *v;
        if (!json_is_object(j))
            return 0;
        json_object_foreach((json_t *)j, k, v)
        {
            if (!amap_default_ok(n->items, v))
                return 0;
        }
        return 1;
    }
    case K_RECORD:
        return record_default_ok(n, j);
    case K_UNION:
        for (size_t i = 0; i < n->nbranches; i++)
            if (amap_default_ok(n->branches[i], j))
                return 1;
        return 0;
    }
    return 0;
}

static unsigned field_flags(cctx *c, const json_t *obj, unsigned flags, int *bad)
{
    const json_t *t = json_object_get(obj, "json_text");
    if (t && !json_is_boolean(t)) {
        cerr(c, "\"json_text\" must be true or false");
        *bad = 1;
    }
    if (json_is_true(t))
        flags |= F_JSON_TEXT;
    const json_t *u = json_object_get(obj, "json_unit");
    if (u) {
        const char *us = json_string_value(u);
        if (us && strcmp(us, "ms") == 0) {
            flags = (flags & ~F_UNIT_US) | F_UNIT_MS;
        } else if (us && strcmp(us, "us") == 0) {
            flags = (flags & ~F_UNIT_MS) | F_UNIT_US;
        } else if (us && strcmp(us, "s") == 0) {
            flags &= ~(F_UNIT_MS | F_UNIT_US);
        } else {
            cerr(c, "\"json_unit\" must be \"s\", \"ms\" or \"us\"");
            *bad = 1;
        }
    }
    return flags;
}

static int is_null_string_union(const node *t)
{
    return t->kind == K_UNION && t->nbranches == 2 && t->null_branch >= 0 && t->value_branch >= 0 &&
           t->branches[t->value_branch]->kind == K_STRING;
}

static node *compile_record(cctx *c, const json_t *s, node *n, const char *inner_ns)
{
    const json_t *fields = json_object_get(s, "fields");
    if (!json_is_array(fields))
        return cerr(c, "record %s has no \"fields\" array", n->fullname);
    n->nfields = json_array_size(fields);
    n->fields = xcalloc(n->nfields ? n->nfields : 1, sizeof(*n->fields));
    amap_keyset_init(&n->keys, n->nfields);
    size_t saved = c->path.len;
    for (size_t i = 0; i < n->nfields; i++) {
        const json_t *fj = json_array_get(fields, i);
        const char *name = json_string_value(json_object_get(fj, "name"));
        if (!name)
            return cerr(c, "record %s: field %zu has no name", n->fullname, i);
        field *f = &n->fields[i];
        f->name = xstrdup(name);
        if (saved)
            buf_append(&c->path, ".", 1);
        buf_append_str(&c->path, name);
        const json_t *tj = json_object_get(fj, "type");
        if (!tj)
            return cerr(c, "no type");
        const json_t *kj = json_object_get(fj, "json");
        if (kj && !json_is_string(kj))
            return cerr(c, "\"json\" must be a string");
        f->key = xstrdup(kj ? json_string_value(kj) : name);
        f->keylen = strlen(f->key);
        f->plain_key = 1;
        for (size_t b = 0; b < f->keylen; b++)
            if (f->key[b] == '"' || f->key[b] == '\\' || (unsigned char)f->key[b] < 0x20)
                f->plain_key = 0;
        js_hint_init(&f->hint, f->key, f->keylen);
        f->type = compile(c, tj, inner_ns);
        if (!f->type)
            return NULL;
        int bad = 0;
        f->flags = field_flags(c, fj, 0, &bad);
        if (json_is_object(tj))
            f->flags = field_flags(c, tj, f->flags, &bad);
        if (bad)
            return NULL;
        const json_t *dj = json_object_get(fj, "default");
        if (dj) {
            if (!amap_default_ok(f->type, dj))
                return cerr(c, "the default does not match the type");
            f->defval = json_deep_copy(dj);
        }
        if (strcmp(name, "_unmapped") == 0) {
            if (!is_null_string_union(f->type))
                return cerr(c, "\"_unmapped\" must have type [\"null\", \"string\"]");
            f->flags |= F_UNMAPPED;
            n->unmapped = (int)i;
        } else {
            int prev = amap_keyset_put(&n->keys, f->key, f->keylen, (int)i);
            if (prev >= 0)
                return cerr(c, "JSON key \"%s\" is already read by field %s", f->key,
                            n->fields[prev].name);
        }
        c->path.len = saved;
        if (c->path.data)
            c->path.data[saved] = '\0';
    }
    return n;
}

static node *compile_named(cctx *c, const json_t *s, const char *type, const char *ns)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    if (!name || !*name)
        return cerr(c, "a %s needs a name", type);
    char *full = schema_canon_full_name(name, json_object_get(s, "namespace"), ns);
    if (find_named(c->m, full)) {
        cerr(c, "type %s is defined twice", full);
        free(full);
        return NULL;
    }
    enum kind k = type[0] == 'e' && type[1] == 'n' ? K_ENUM : type[0] == 'f' ? K_FIXED : K_RECORD;
    node *n = new_node(c, k);
    n->fullname = full;
    add_named(c->m, n);
    if (k == K_ENUM) {
        const json_t *syms = json_object_get(s, "symbols");
        if (!json_is_array(syms) || json_array_size(syms) == 0)
            return cerr(c, "enum %s needs symbols", full);
        n->nsymbols = json_array_size(syms);
        n->symbols = xcalloc(n->nsymbols, sizeof(*n->symbols));
        amap_keyset_init(&n->syms, n->nsymbols);
        for (size_t i = 0; i < n->nsymbols; i++) {
            const char *sym = json_string_value(json_array_get(syms, i));
            if (!sym)
                return cerr(c, "enum %s: symbol %zu is not a string", full, i);
            n->symbols[i] = xstrdup(sym);
            if (amap_keyset_put(&n->syms, n->symbols[i], strlen(sym), (int)i) >= 0)
                return cerr(c, "enum %s: duplicate symbol %s", full, sym);
        }
        return n;
    }
    if (k == K_FIXED) {
        const json_t *size = json_object_get(s, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return cerr(c, "fixed %s needs a size", full);
        n->size = (size_t)json_integer_value(size);
        return n;
    }
    const char *dot = strrchr(full, '.');
    size_t nslen = dot ? (size_t)(dot - full) : 0;
    char *inner = xmalloc(nslen + 1);
    memcpy(inner, full, nslen);
    inner[nslen] = '\0';
    node *r = compile_record(c, s, n, inner);
    free(inner);
    return r;
}

static node *compile(cctx *c, const json_t *s, const char *ns)
{
    enum kind k;
    if (json_is_string(s)) {
        if (primitive_kind(json_string_value(s), &k))
            return new_node(c, k);
        return resolve_named(c, json_string_value(s), ns);
    }
    if (json_is_array(s))
        return compile_union(c, s, ns);
    if (!json_is_object(s))
        return cerr(c, "a schema must be a string, an object or an array");
    const json_t *tj = json_object_get(s, "type");
    if (json_is_object(tj) || json_is_array(tj))
        return compile(c, tj, ns);
    const char *type = json_string_value(tj);
    if (!type)
        return cerr(c, "schema object without \"type\"");
    if (primitive_kind(type, &k)) {
        node *n = new_node(c, k);
        const char *lt = json_string_value(json_object_get(s, "logicalType"));
        if (!lt)
            return n;
        if (k == K_LONG &&
            (strcmp(lt, "timestamp-millis") == 0 || strcmp(lt, "local-timestamp-millis") == 0))
            n->logical = L_TS_MILLIS;
        else if (k == K_LONG &&
                 (strcmp(lt, "timestamp-micros") == 0 || strcmp(lt, "local-timestamp-micros") == 0))
            n->logical = L_TS_MICROS;
        else if (k == K_INT && strcmp(lt, "date") == 0)
            n->logical = L_DATE;
        else if (strcmp(lt, "decimal") == 0)
            return cerr(c, "logicalType decimal is not supported");
        /* other logical types (uuid, time-millis, ...) map as their underlying type */
        return n;
    }
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 || strcmp(type, "enum") == 0 ||
        strcmp(type, "fixed") == 0) {
        const json_t *lt = json_object_get(s, "logicalType");
        if (type[0] == 'f' && json_is_string(lt) && strcmp(json_string_value(lt), "decimal") == 0)
            return cerr(c, "logicalType decimal is not supported");
        return compile_named(c, s, type, ns);
    }
    if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
        node *n = new_node(c, type[0] == 'a' ? K_ARRAY : K_MAP);
        const json_t *child = json_object_get(s, type[0] == 'a' ? "items" : "values");
        if (!child)
            return cerr(c, "%s without \"%s\"", type, type[0] == 'a' ? "items" : "values");
        n->items = compile(c, child, ns);
        return n->items ? n : NULL;
    }
    return resolve_named(c, type, ns);
}

amap_plan *amap_new(const json_t *record_schema, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    amap_plan *m = xcalloc(1, sizeof(*m));
    cctx c = {m, err, errlen, {NULL, 0, 0}};
    const json_t *type = json_object_get(record_schema, "type");
    if (!json_is_object(record_schema) || !json_is_string(type) ||
        (strcmp(json_string_value(type), "record") != 0 &&
         strcmp(json_string_value(type), "error") != 0)) {
        cerr(&c, "the top level must be a record");
        goto fail;
    }
    m->root = compile(&c, record_schema, "");
    if (!m->root)
        goto fail;
    buf_free(&c.path);
    return m;
fail:
    buf_free(&c.path);
    amap_free(m);
    return NULL;
}

void amap_free(amap_plan *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nnodes; i++) {
        node *n = m->nodes[i];
        for (size_t f = 0; f < n->nfields; f++) {
            free(n->fields[f].name);
            free(n->fields[f].key);
            json_decref(n->fields[f].defval);
        }
        free(n->fields);
        amap_keyset_free(&n->keys);
        for (size_t s = 0; s < n->nsymbols; s++)
            free(n->symbols[s]);
        free(n->symbols);
        amap_keyset_free(&n->syms);
        free(n->branches);
        free(n->fullname);
        free(n);
    }
    free(m->nodes);
    free(m->named);
    free(m);
}
