/* avro_map.c — JSON records to Avro generic values through a plan compiled once per schema.
 *
 * The plan is a tree of nodes built from the .avsc JSON (named types are shared nodes, so
 * recursive schemas work). Filling walks the plan and the avro value side by side by field index:
 * no name lookups in the avro value, and no allocation of ours (JSON text for "json_text" fields
 * and "_unmapped" is written into stack buffers; only texts above 2-4 KB go to the heap). Which
 * keys are unknown is decided by counting: a record whose key count equals the number of schema
 * keys found has none, so the small hash set of known keys is consulted only when something is
 * left over. The plan is immutable after avro_map_new: one plan may serve several threads, each
 * with its own avro value (avro_strerror() in messages is process-global in Debian's build). */
#include "avro_map.h"
#include "avro_schema.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "json_scan.h"
#include "util.h"

enum kind {
    K_NULL,
    K_BOOLEAN,
    K_INT,
    K_LONG,
    K_FLOAT,
    K_DOUBLE,
    K_BYTES,
    K_STRING,
    K_RECORD,
    K_ENUM,
    K_ARRAY,
    K_MAP,
    K_UNION,
    K_FIXED
};

static const char *const kind_name[] = {"null",   "boolean", "int",    "long",   "float",
                                        "double", "bytes",   "string", "record", "enum",
                                        "array",  "map",     "union",  "fixed"};

enum logical { L_NONE, L_TS_MILLIS, L_TS_MICROS, L_DATE };

static const char *const logical_name[] = {"", "timestamp-millis", "timestamp-micros", "date"};

/* Field flags (from field attributes); FL_NULLABLE is set while filling a branch of a union
 * that has a null branch ("no value" inputs then become null instead of an error). */
#define F_JSON_TEXT 0x1u
#define F_UNIT_MS   0x2u
#define F_UNIT_US   0x4u
#define F_UNMAPPED  0x8u
#define FL_NULLABLE 0x100u

/* Open-addressing set of strings -> small integers (record keys, enum symbols). */
typedef struct kentry {
    const char *key;
    size_t len;
    int val;
} kentry;

typedef struct kslot {
    uint32_t tag; /* high bits of the hash: most misses end here, without a memcmp */
    int32_t ent;  /* entry index or -1 */
} kslot;

typedef struct keyset {
    kentry *ent;
    size_t n;
    kslot *slot;
    size_t mask;
} keyset;

typedef struct node node;

typedef struct field {
    char *name;
    char *key; /* JSON key: "json" attribute or name */
    size_t keylen;
    int plain_key; /* no quote, backslash or control byte: raw JSON bytes can match it as is */
    js_hint hint;  /* plain keys: the key prepared for js_object_next_hint */
    node *type;
    json_t *defval; /* NULL: no default */
    unsigned flags;
} field;

struct node {
    enum kind kind;
    enum logical logical;
    char *fullname; /* records, enums, fixed */
    /* union */
    size_t nbranches;
    node **branches;
    int null_branch;  /* -1: none */
    int value_branch; /* the only non-null branch; -1 when there are several */
    /* array items / map values */
    node *items;
    /* record */
    size_t nfields;
    field *fields;
    int unmapped; /* index of the "_unmapped" field or -1 */
    keyset keys;  /* JSON keys of the fields (not "_unmapped") */
    /* enum */
    size_t nsymbols;
    char **symbols;
    keyset syms;
    /* fixed */
    size_t size;
};

struct avro_map_plan {
    node *root;
    node **nodes; /* every node, for freeing */
    size_t nnodes, capnodes;
    node **named; /* named types by full name */
    size_t nnamed, capnamed;
};

/* ------------------------------------------------------------------------------------------ */
/* key sets                                                                                   */

static void keyset_init(keyset *ks, size_t n)
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

static void keyset_free(keyset *ks)
{
    free(ks->ent);
    free(ks->slot);
}

/* A cheap hash for the small sets here: the length and up to 16 bytes (the first and last 8).
 * Keys that share both ends only cost extra probes. */
static inline uint64_t khash(const char *key, size_t len)
{
    uint64_t a = 0, b = 0;
    if (len >= 8) { /* fixed-size copies compile to plain loads */
        memcpy(&a, key, 8);
        memcpy(&b, key + len - 8, 8);
    } else {
        for (size_t i = 0; i < len; i++)
            a = (a << 8) | (unsigned char)key[i];
    }
    uint64_t h = (a ^ (uint64_t)len) * 0x9E3779B97F4A7C15ULL;
    h ^= (b + (h >> 29)) * 0xC2B2AE3D27D4EB4FULL;
    return h ^ (h >> 31);
}

static int keyset_find(const keyset *ks, const char *key, size_t len)
{
    if (!ks->slot)
        return -1;
    uint64_t h = khash(key, len);
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & ks->mask;; i = (i + 1) & ks->mask) {
        const kslot *sl = &ks->slot[i];
        if (sl->ent < 0)
            return -1;
        if (sl->tag == tag) {
            const kentry *e = &ks->ent[sl->ent];
            if (e->len == len && memcmp(e->key, key, len) == 0)
                return e->val;
        }
    }
}

/* Adds key -> val (key is borrowed); returns -1, or the value already stored for key. */
static int keyset_put(keyset *ks, const char *key, size_t len, int val)
{
    int prev = keyset_find(ks, key, len); /* values are >= 0 */
    if (prev >= 0)
        return prev;
    uint64_t h = khash(key, len);
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
    avro_map_plan *m;
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
    avro_map_plan *m = c->m;
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

static node *find_named(const avro_map_plan *m, const char *full)
{
    for (size_t i = 0; i < m->nnamed; i++)
        if (strcmp(m->named[i]->fullname, full) == 0)
            return m->named[i];
    return NULL;
}

static void add_named(avro_map_plan *m, node *n)
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
        char *full = avro_full_name(name, NULL, ns);
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

static int default_ok(const node *n, const json_t *j);

static int record_default_ok(const node *n, const json_t *j)
{
    if (!json_is_object(j))
        return 0;
    for (size_t i = 0; i < n->nfields; i++) {
        const field *f = &n->fields[i];
        if (!f->name || !f->type) /* a recursive record still being compiled */
            continue;
        const json_t *v = json_object_get(j, f->name);
        if (v ? !default_ok(f->type, v)
              : !(f->defval || (f->type->kind == K_UNION && f->type->null_branch >= 0)))
            return 0;
    }
    return 1;
}

/* Whether j is a valid Avro default for n (a union default may match any branch here; the
 * specification wants the first, which is what a schema registry checks). */
static int default_ok(const node *n, const json_t *j)
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
               keyset_find(&n->syms, json_string_value(j), json_string_length(j)) >= 0;
    case K_ARRAY: {
        if (!json_is_array(j))
            return 0;
        for (size_t i = 0; i < json_array_size(j); i++)
            if (!default_ok(n->items, json_array_get(j, i)))
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
            if (!default_ok(n->items, v))
                return 0;
        }
        return 1;
    }
    case K_RECORD:
        return record_default_ok(n, j);
    case K_UNION:
        for (size_t i = 0; i < n->nbranches; i++)
            if (default_ok(n->branches[i], j))
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
    keyset_init(&n->keys, n->nfields);
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
            if (!default_ok(f->type, dj))
                return cerr(c, "the default does not match the type");
            f->defval = json_deep_copy(dj);
        }
        if (strcmp(name, "_unmapped") == 0) {
            if (!is_null_string_union(f->type))
                return cerr(c, "\"_unmapped\" must have type [\"null\", \"string\"]");
            f->flags |= F_UNMAPPED;
            n->unmapped = (int)i;
        } else {
            int prev = keyset_put(&n->keys, f->key, f->keylen, (int)i);
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
    char *full = avro_full_name(name, json_object_get(s, "namespace"), ns);
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
        keyset_init(&n->syms, n->nsymbols);
        for (size_t i = 0; i < n->nsymbols; i++) {
            const char *sym = json_string_value(json_array_get(syms, i));
            if (!sym)
                return cerr(c, "enum %s: symbol %zu is not a string", full, i);
            n->symbols[i] = xstrdup(sym);
            if (keyset_put(&n->syms, n->symbols[i], strlen(sym), (int)i) >= 0)
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

avro_map_plan *avro_map_new(const json_t *record_schema, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    avro_map_plan *m = xcalloc(1, sizeof(*m));
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
    avro_map_free(m);
    return NULL;
}

void avro_map_free(avro_map_plan *m)
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
        keyset_free(&n->keys);
        for (size_t s = 0; s < n->nsymbols; s++)
            free(n->symbols[s]);
        free(n->symbols);
        keyset_free(&n->syms);
        free(n->branches);
        free(n->fullname);
        free(n);
    }
    free(m->nodes);
    free(m->named);
    free(m);
}

/* ------------------------------------------------------------------------------------------ */
/* filling                                                                                    */

#define MAX_PATH 32

enum seg_kind { SEG_FIELD, SEG_INDEX, SEG_KEY };

typedef struct seg {
    enum seg_kind kind;
    const char *name; /* field name or map key */
    size_t index;
} seg;

/* Per-call state: the error buffer, the path being filled (rendered only on error), and whether
 * an Avro default (not CRM JSON) is being written. */
typedef struct fctx {
    char *err;
    size_t errlen;
    int in_default;
    int depth;
    seg segs[MAX_PATH];
} fctx;

static inline void push_field(fctx *c, const char *name)
{
    if (c->depth < MAX_PATH) {
        c->segs[c->depth].kind = SEG_FIELD;
        c->segs[c->depth].name = name;
    }
    c->depth++;
}

static inline void push_index(fctx *c, size_t i)
{
    if (c->depth < MAX_PATH) {
        c->segs[c->depth].kind = SEG_INDEX;
        c->segs[c->depth].index = i;
    }
    c->depth++;
}

static inline void push_key(fctx *c, const char *key)
{
    if (c->depth < MAX_PATH) {
        c->segs[c->depth].kind = SEG_KEY;
        c->segs[c->depth].name = key;
    }
    c->depth++;
}

static inline void pop(fctx *c)
{
    c->depth--;
}

static int fail(fctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(fctx *c, const char *fmt, ...)
{
    if (!c->err || !c->errlen)
        return -1;
    buf b;
    buf_init(&b);
    if (c->depth == 0) {
        buf_append_str(&b, "record: ");
    } else {
        buf_append_str(&b, "field ");
        int n = c->depth < MAX_PATH ? c->depth : MAX_PATH;
        for (int i = 0; i < n; i++) {
            const seg *s = &c->segs[i];
            if (s->kind == SEG_FIELD)
                buf_printf(&b, "%s%s", i ? "." : "", s->name);
            else if (s->kind == SEG_INDEX)
                buf_printf(&b, "[%zu]", s->index);
            else
                buf_printf(&b, "[\"%s\"]", s->name);
        }
        if (c->depth > MAX_PATH)
            buf_append_str(&b, "...");
        buf_append_str(&b, ": ");
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_append_str(&b, msg);
    snprintf(c->err, c->errlen, "%s", b.data);
    buf_free(&b);
    return -1;
}

static int avfail(fctx *c, const char *what)
{
    return fail(c, "avro %s: %s", what, avro_strerror());
}

/* "string \"abc\"", "integer 5", "object", ... for messages (at most ~60 characters of text). */
static const char *describe(const json_t *j, char *out, size_t n)
{
    if (!j) {
        snprintf(out, n, "nothing");
    } else if (json_is_string(j)) {
        const char *s = json_string_value(j);
        size_t len = json_string_length(j);
        int cut = len > 60;
        size_t show = cut ? 60 : len;
        while (cut && show > 0 && ((unsigned char)s[show] & 0xC0) == 0x80)
            show--; /* do not split a UTF-8 sequence */
        snprintf(out, n, "string \"%.*s%s\"", (int)show, s, cut ? "..." : "");
    } else if (json_is_integer(j)) {
        snprintf(out, n, "integer %" JSON_INTEGER_FORMAT, json_integer_value(j));
    } else if (json_is_real(j)) {
        snprintf(out, n, "real %.17g", json_real_value(j));
    } else if (json_is_true(j)) {
        snprintf(out, n, "true");
    } else if (json_is_false(j)) {
        snprintf(out, n, "false");
    } else if (json_is_null(j)) {
        snprintf(out, n, "null");
    } else if (json_is_object(j)) {
        snprintf(out, n, "object");
    } else {
        snprintf(out, n, "array");
    }
    return out;
}

static const char *type_label(const node *n, char *out, size_t len)
{
    if (n->logical != L_NONE)
        snprintf(out, len, "%s", logical_name[n->logical]);
    else if (n->fullname)
        snprintf(out, len, "%s %s", kind_name[n->kind], n->fullname);
    else
        snprintf(out, len, "%s", kind_name[n->kind]);
    return out;
}

static int mismatch(fctx *c, const node *n, const json_t *j)
{
    char want[160], got[128];
    return fail(c, "expected %s, got %s", type_label(n, want, sizeof(want)),
                describe(j, got, sizeof(got)));
}

static int fill(fctx *c, const node *n, unsigned fl, const json_t *j, avro_value_t *v);

/* Strict integer text: optional sign and digits only. */
static int parse_int_text(const char *s, int64_t *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Strict decimal number text (no hex, inf or nan, no surrounding space), finite. */
static int parse_real_text(const char *s, double *out)
{
    if (!*s)
        return -1;
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits = 1;
        else if (!strchr("+-.eE", *p))
            return -1;
    }
    if (!digits)
        return -1;
    errno = 0;
    char *end;
    double d = strtod(s, &end);
    if (*end || !isfinite(d) || errno == ERANGE)
        return -1;
    *out = d;
    return 0;
}

static int real_to_int64(double d, int64_t *out)
{
    if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return -1;
    *out = (int64_t)d;
    return 0;
}

/* A "no value" input of a non-string scalar: null when the field is nullable, else an error.
 * Returns 1 (caller selects the null branch) or -1. */
static int no_value(fctx *c, const node *n, unsigned fl, const json_t *j)
{
    if (fl & FL_NULLABLE)
        return 1;
    return mismatch(c, n, j);
}

static int conv_int64(fctx *c, const node *n, unsigned fl, const json_t *j, int64_t *out)
{
    switch (json_typeof(j)) {
    case JSON_INTEGER:
        *out = json_integer_value(j);
        return 0;
    case JSON_REAL:
        if (real_to_int64(json_real_value(j), out) == 0)
            return 0;
        break;
    case JSON_STRING: {
        const char *s = json_string_value(j);
        double d;
        if (!*s)
            return no_value(c, n, fl, j);
        if (parse_int_text(s, out) == 0 ||
            (parse_real_text(s, &d) == 0 && real_to_int64(d, out) == 0))
            return 0;
        break;
    }
    default:
        break;
    }
    return mismatch(c, n, j);
}

static int conv_double(fctx *c, const node *n, unsigned fl, const json_t *j, double *out)
{
    switch (json_typeof(j)) {
    case JSON_INTEGER:
        *out = (double)json_integer_value(j);
        return 0;
    case JSON_REAL:
        *out = json_real_value(j);
        return 0;
    case JSON_STRING:
        if (!*json_string_value(j))
            return no_value(c, n, fl, j);
        if (parse_real_text(json_string_value(j), out) == 0)
            return 0;
        break;
    default:
        break;
    }
    return mismatch(c, n, j);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* value v (integer) in unit (1 s, 1000 ms, 1000000 us) to the node's logical unit. */
static int time_from_int(const node *n, int64_t v, int64_t per_sec, int64_t *out)
{
    int64_t target = n->logical == L_TS_MICROS ? 1000000 : 1000; /* date: via ms */
    int64_t r;
    if (per_sec <= target) {
        if (__builtin_mul_overflow(v, target / per_sec, &r))
            return -1;
    } else {
        r = floor_div(v, per_sec / target);
    }
    if (n->logical == L_DATE) {
        r = floor_div(r, 86400000);
        if (r < INT32_MIN || r > INT32_MAX)
            return -1;
    }
    *out = r;
    return 0;
}

static int time_from_real(const node *n, double d, int64_t per_sec, int64_t *out)
{
    int64_t target = n->logical == L_TS_MICROS ? 1000000 : 1000;
    double x = d * ((double)target / (double)per_sec);
    if (n->logical == L_DATE)
        x = floor(x / 86400000.0);
    else
        x = nearbyint(x);
    if (!isfinite(x) || x < -9.2e18 || x > 9.2e18)
        return -1;
    if (n->logical == L_DATE && (x < INT32_MIN || x > INT32_MAX))
        return -1;
    *out = (int64_t)x;
    return 0;
}

/* Timestamps and dates: strings via crm_time (ms precision), numbers in the field's json_unit
 * (epoch seconds by default). An Avro default is the raw encoded number. */
static int conv_time(fctx *c, const node *n, unsigned fl, const json_t *j, int64_t *out)
{
    int64_t per_sec = (fl & F_UNIT_MS) ? 1000 : (fl & F_UNIT_US) ? 1000000 : 1;
    if (c->in_default && json_is_integer(j)) {
        *out = json_integer_value(j);
        return 0;
    }
    switch (json_typeof(j)) {
    case JSON_INTEGER:
        if (time_from_int(n, json_integer_value(j), per_sec, out) == 0)
            return 0;
        return fail(c, "timestamp %" JSON_INTEGER_FORMAT " is out of range", json_integer_value(j));
    case JSON_REAL:
        if (time_from_real(n, json_real_value(j), per_sec, out) == 0)
            return 0;
        return fail(c, "timestamp %.17g is out of range", json_real_value(j));
    case JSON_STRING: {
        const char *s = json_string_value(j);
        int64_t v;
        if (per_sec != 1 && parse_int_text(s, &v) == 0) {
            if (time_from_int(n, v, per_sec, out) == 0)
                return 0;
        } else if (crm_time_parse(s, &v) == 0) {
            if (v == CRM_TIME_NONE)
                return no_value(c, n, fl, j);
            if (time_from_int(n, v, 1000, out) == 0)
                return 0;
        }
        break;
    }
    default:
        break;
    }
    return mismatch(c, n, j);
}

static int set_str(fctx *c, avro_value_t *v, const char *s, size_t len)
{
    /* avro-c's length INCLUDES the terminating NUL (kafka.md §4.2): s[len] must be '\0'. */
    if (avro_value_set_string_len(v, s, len + 1))
        return avfail(c, "set_string");
    return 0;
}

/* Shortest "%.Ng" that reads back to d, with ".0" for integral values (as jansson writes). */
/* Decimal text of v into out (at least 21 bytes), NUL-terminated; returns the length. */
static size_t format_int(json_int_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

static size_t format_real(double d, char *out, size_t n)
{
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(out, n, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (len > 0 && (size_t)len + 2 < n && !strpbrk(out, ".eEni")) {
        out[len++] = '.';
        out[len++] = '0';
        out[len] = '\0';
    }
    return (size_t)len;
}

/* Compact JSON text written without allocation into a stack buffer (moving to the heap only
 * when it outgrows it). Same text as jansson's JSON_COMPACT, except that reals use the shortest
 * form that reads back to the same double ("0.1", where jansson writes "0.10000000000000001").
 * (json_dumpb would allocate a loop-detection table on every call.) */
typedef struct jw {
    char *p;
    size_t len, cap;
    int heap;
} jw;

static void jw_init(jw *w, char *stack, size_t cap)
{
    w->p = stack;
    w->len = 0;
    w->cap = cap;
    w->heap = 0;
}

static void jw_put(jw *w, const char *s, size_t n)
{
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap * 2 > w->len + n + 1 ? w->cap * 2 : w->len + n + 1;
        if (w->heap) {
            w->p = xrealloc(w->p, cap);
        } else {
            char *h = xmalloc(cap);
            memcpy(h, w->p, w->len);
            w->p = h;
            w->heap = 1;
        }
        w->cap = cap;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void jw_free(jw *w)
{
    if (w->heap)
        free(w->p);
}

static void jw_string(jw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    jw_put(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        jw_put(w, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (ch) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            n = 6;
        }
        jw_put(w, esc, n);
    }
    jw_put(w, s + run, len - run);
    jw_put(w, "\"", 1);
}

static void jw_value(jw *w, const json_t *j)
{
    char tmp[64];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *v;
        int first = 1;
        jw_put(w, "{", 1);
        json_object_keylen_foreach((json_t *)j, key, klen, v)
        {
            if (!first)
                jw_put(w, ",", 1);
            first = 0;
            jw_string(w, key, klen);
            jw_put(w, ":", 1);
            jw_value(w, v);
        }
        jw_put(w, "}", 1);
        break;
    }
    case JSON_ARRAY:
        jw_put(w, "[", 1);
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                jw_put(w, ",", 1);
            jw_value(w, json_array_get(j, i));
        }
        jw_put(w, "]", 1);
        break;
    case JSON_STRING:
        jw_string(w, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        jw_put(w, tmp, format_int(json_integer_value(j), tmp));
        break;
    case JSON_REAL:
        jw_put(w, tmp, format_real(json_real_value(j), tmp, sizeof(tmp)));
        break;
    case JSON_TRUE:
        jw_put(w, "true", 4);
        break;
    case JSON_FALSE:
        jw_put(w, "false", 5);
        break;
    case JSON_NULL:
        jw_put(w, "null", 4);
        break;
    }
}

__attribute__((noinline)) static int set_json_text(fctx *c, const json_t *j, avro_value_t *v)
{
    char stack[2048];
    jw w;
    jw_init(&w, stack, sizeof(stack));
    jw_value(&w, j);
    int rc = set_str(c, v, w.p, w.len);
    jw_free(&w);
    return rc;
}

static int fill_string(fctx *c, const node *n, unsigned fl, const json_t *j, avro_value_t *v)
{
    char tmp[64];
    switch (json_typeof(j)) {
    case JSON_STRING:
        return set_str(c, v, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: {
        size_t len = format_int(json_integer_value(j), tmp);
        return set_str(c, v, tmp, len);
    }
    case JSON_REAL:
        return set_str(c, v, tmp, format_real(json_real_value(j), tmp, sizeof(tmp)));
    case JSON_TRUE:
        return set_str(c, v, "true", 4);
    case JSON_FALSE:
        return set_str(c, v, "false", 5);
    case JSON_OBJECT:
    case JSON_ARRAY:
        if (fl & F_JSON_TEXT)
            return set_json_text(c, j, v);
        {
            char got[32];
            return fail(c,
                        "expected string, got %s (the field needs \"json_text\": true to keep "
                        "it as JSON text)",
                        describe(j, got, sizeof(got)));
        }
    default:
        return mismatch(c, n, j);
    }
}

/* Avro JSON encoding of bytes in defaults: each code point 0-255 is one byte. */
static int fill_default_bytes(fctx *c, const node *n, const json_t *j, avro_value_t *v)
{
    const unsigned char *s = (const unsigned char *)json_string_value(j);
    size_t len = json_string_length(j), o = 0;
    unsigned char *out = xmalloc(len + 1);
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) {
            out[o++] = s[i++];
        } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < len && s[i] <= 0xC3) {
            out[o++] = (unsigned char)(((s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F));
            i += 2;
        } else {
            free(out);
            return fail(c, "default of %s has a code point above 255", kind_name[n->kind]);
        }
    }
    int rc = 0;
    if (n->kind == K_FIXED && o != n->size)
        rc = fail(c, "default of fixed %s has %zu bytes, not %zu", n->fullname, o, n->size);
    else if (n->kind == K_FIXED ? avro_value_set_fixed(v, out, o) : avro_value_set_bytes(v, out, o))
        rc = avfail(c, "set_bytes");
    free(out);
    return rc;
}

static int set_null_branch(fctx *c, const node *u, avro_value_t *v)
{
    avro_value_t b;
    if (avro_value_set_branch(v, u->null_branch, &b) || avro_value_set_null(&b))
        return avfail(c, "set_null");
    return 0;
}

/* How well branch n takes j: 2 natural, 1 by conversion, 0 not at all. */
static int branch_score(const node *n, unsigned fl, const json_t *j)
{
    int64_t i;
    double d;
    switch (json_typeof(j)) {
    case JSON_NULL:
        return n->kind == K_NULL ? 2 : 0;
    case JSON_TRUE:
    case JSON_FALSE:
        return n->kind == K_BOOLEAN ? 2 : n->kind == K_STRING ? 1 : 0;
    case JSON_INTEGER:
        if (n->kind == K_LONG || (n->kind == K_INT && n->logical != L_NONE))
            return 2;
        if (n->kind == K_INT)
            return json_integer_value(j) >= INT32_MIN && json_integer_value(j) <= INT32_MAX ? 2 : 0;
        return n->kind == K_DOUBLE || n->kind == K_FLOAT || n->kind == K_STRING ? 1 : 0;
    case JSON_REAL:
        if (n->kind == K_DOUBLE || n->kind == K_FLOAT)
            return 2;
        if (n->kind == K_LONG || n->kind == K_INT)
            return n->logical != L_NONE || real_to_int64(json_real_value(j), &i) == 0 ? 1 : 0;
        return n->kind == K_STRING ? 1 : 0;
    case JSON_STRING: {
        const char *s = json_string_value(j);
        switch (n->kind) {
        case K_STRING:
            return 2;
        case K_ENUM:
            return keyset_find(&n->syms, s, json_string_length(j)) >= 0 ? 2 : 0;
        case K_BYTES:
            return 1;
        case K_FIXED:
            return json_string_length(j) == n->size ? 1 : 0;
        case K_LONG:
        case K_INT:
            if (n->logical != L_NONE)
                return crm_time_parse(s, &i) == 0 && i != CRM_TIME_NONE ? 2 : 0;
            return parse_int_text(s, &i) == 0 ? 1 : 0;
        case K_DOUBLE:
        case K_FLOAT:
            return parse_real_text(s, &d) == 0 ? 1 : 0;
        default:
            return 0;
        }
    }
    case JSON_OBJECT:
        return n->kind == K_RECORD || n->kind == K_MAP     ? 2
               : n->kind == K_STRING && (fl & F_JSON_TEXT) ? 1
                                                           : 0;
    case JSON_ARRAY:
        return n->kind == K_ARRAY ? 2 : n->kind == K_STRING && (fl & F_JSON_TEXT) ? 1 : 0;
    }
    return 0;
}

static int fill_union(fctx *c, const node *u, unsigned fl, const json_t *j, avro_value_t *v)
{
    if (!j || json_is_null(j)) {
        if (u->null_branch < 0) {
            char got[16];
            return fail(c, "expected a non-null value, got %s", describe(j, got, sizeof(got)));
        }
        return set_null_branch(c, u, v);
    }
    int bi = u->value_branch;
    if (bi < 0 || c->in_default) {
        int best = 0;
        bi = -1;
        for (size_t i = 0; i < u->nbranches; i++) {
            int s = c->in_default ? (default_ok(u->branches[i], j) ? 2 : 0)
                                  : branch_score(u->branches[i], fl, j);
            if (s > best) {
                best = s;
                bi = (int)i;
            }
        }
        if (bi < 0) {
            buf kinds;
            buf_init(&kinds);
            for (size_t i = 0; i < u->nbranches; i++) {
                char t[160];
                buf_printf(&kinds, "%s%s", i ? ", " : "", type_label(u->branches[i], t, sizeof(t)));
            }
            char got[128];
            fail(c, "expected one of [%s], got %s", kinds.data, describe(j, got, sizeof(got)));
            buf_free(&kinds);
            return -1;
        }
    }
    avro_value_t b;
    if (avro_value_set_branch(v, bi, &b))
        return avfail(c, "set_branch");
    unsigned bfl = (fl & ~FL_NULLABLE) | (u->null_branch >= 0 ? FL_NULLABLE : 0);
    int rc = fill(c, u->branches[bi], bfl, j, &b);
    if (rc == 1)
        return set_null_branch(c, u, v);
    return rc;
}

static int fill_record(fctx *c, const node *n, const json_t *j, avro_value_t *v);

static int fill(fctx *c, const node *n, unsigned fl, const json_t *j, avro_value_t *v)
{
    int rc;
    switch (n->kind) {
    case K_NULL:
        if (j && !json_is_null(j))
            return mismatch(c, n, j);
        return avro_value_set_null(v) ? avfail(c, "set_null") : 0;
    case K_BOOLEAN:
        if (json_is_boolean(j))
            return avro_value_set_boolean(v, json_is_true(j)) ? avfail(c, "set_boolean") : 0;
        if (json_is_string(j) && !*json_string_value(j))
            return no_value(c, n, fl, j);
        return mismatch(c, n, j);
    case K_INT:
    case K_LONG: {
        int64_t x;
        rc = n->logical != L_NONE ? conv_time(c, n, fl, j, &x) : conv_int64(c, n, fl, j, &x);
        if (rc)
            return rc;
        if (n->kind == K_LONG)
            return avro_value_set_long(v, x) ? avfail(c, "set_long") : 0;
        if (x < INT32_MIN || x > INT32_MAX) {
            char got[128];
            return fail(c, "%s is out of range for int", describe(j, got, sizeof(got)));
        }
        return avro_value_set_int(v, (int32_t)x) ? avfail(c, "set_int") : 0;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        double d;
        if ((rc = conv_double(c, n, fl, j, &d)))
            return rc;
        if (n->kind == K_DOUBLE)
            return avro_value_set_double(v, d) ? avfail(c, "set_double") : 0;
        if (isinf((float)d)) {
            char got[128];
            return fail(c, "%s is out of range for float", describe(j, got, sizeof(got)));
        }
        return avro_value_set_float(v, (float)d) ? avfail(c, "set_float") : 0;
    }
    case K_STRING:
        return fill_string(c, n, fl, j, v);
    case K_BYTES:
        if (!json_is_string(j))
            return mismatch(c, n, j);
        if (c->in_default)
            return fill_default_bytes(c, n, j, v);
        return avro_value_set_bytes(v, (void *)json_string_value(j), json_string_length(j))
                   ? avfail(c, "set_bytes")
                   : 0;
    case K_FIXED:
        if (!json_is_string(j))
            return mismatch(c, n, j);
        if (c->in_default)
            return fill_default_bytes(c, n, j, v);
        if (json_string_length(j) != n->size) {
            char got[128];
            return fail(c, "expected %zu bytes for fixed %s, got %s", n->size, n->fullname,
                        describe(j, got, sizeof(got)));
        }
        return avro_value_set_fixed(v, (void *)json_string_value(j), n->size)
                   ? avfail(c, "set_fixed")
                   : 0;
    case K_ENUM: {
        if (!json_is_string(j))
            return mismatch(c, n, j);
        int sym = keyset_find(&n->syms, json_string_value(j), json_string_length(j));
        if (sym < 0) {
            if (!*json_string_value(j))
                return no_value(c, n, fl, j);
            char got[128];
            return fail(c, "%s is not a symbol of enum %s", describe(j, got, sizeof(got)),
                        n->fullname);
        }
        return avro_value_set_enum(v, sym) ? avfail(c, "set_enum") : 0;
    }
    case K_ARRAY: {
        if (!json_is_array(j))
            return mismatch(c, n, j);
        size_t len = json_array_size(j);
        for (size_t i = 0; i < len; i++) {
            avro_value_t e;
            if (avro_value_append(v, &e, NULL))
                return avfail(c, "append");
            push_index(c, i);
            rc = fill(c, n->items, fl & ~FL_NULLABLE, json_array_get(j, i), &e);
            pop(c);
            if (rc)
                return -1;
        }
        return 0;
    }
    case K_MAP: {
        if (!json_is_object(j))
            return mismatch(c, n, j);
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)j, key, val)
        {
            avro_value_t e;
            if (avro_value_add(v, key, &e, NULL, NULL))
                return avfail(c, "map add");
            push_key(c, key);
            rc = fill(c, n->items, fl & ~FL_NULLABLE, val, &e);
            pop(c);
            if (rc)
                return -1;
        }
        return 0;
    }
    case K_RECORD:
        if (!json_is_object(j))
            return mismatch(c, n, j);
        return fill_record(c, n, j, v);
    case K_UNION:
        return fill_union(c, n, fl, j, v);
    }
    return fail(c, "unsupported type");
}

/* The field's key is missing (j == NULL) or JSON null. */
static int fill_absent(fctx *c, const field *f, const json_t *j, avro_value_t *v)
{
    const node *t = f->type;
    int nullable = t->kind == K_UNION && t->null_branch >= 0;
    if (j && nullable)
        return set_null_branch(c, t, v);
    if (f->defval) {
        int saved = c->in_default;
        c->in_default = 1;
        int rc = fill(c, t, f->flags, f->defval, v);
        c->in_default = saved;
        return rc;
    }
    if (nullable)
        return set_null_branch(c, t, v);
    if (!j && t->kind != K_NULL)
        return fail(c, "missing required key \"%s\"", f->key);
    return fill(c, t, f->flags, j, v);
}

__attribute__((noinline)) static int fill_unmapped(fctx *c, const node *n, const json_t *j,
                                                   size_t found, avro_value_t *v)
{
    const node *t = n->fields[n->unmapped].type;
    if (found == json_object_size(j) || c->in_default)
        return set_null_branch(c, t, v);
    char stack[4096];
    jw w;
    jw_init(&w, stack, sizeof(stack));
    jw_put(&w, "{", 1);
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach((json_t *)j, key, klen, val)
    {
        if (keyset_find(&n->keys, key, klen) >= 0)
            continue;
        if (w.len > 1)
            jw_put(&w, ",", 1);
        jw_string(&w, key, klen);
        jw_put(&w, ":", 1);
        jw_value(&w, val);
    }
    jw_put(&w, "}", 1);
    avro_value_t b;
    int rc = 0;
    if (avro_value_set_branch(v, t->value_branch, &b))
        rc = avfail(c, "set_branch");
    else
        rc = set_str(c, &b, w.p, w.len);
    jw_free(&w);
    return rc;
}

static int fill_record(fctx *c, const node *n, const json_t *j, avro_value_t *v)
{
    size_t found = 0;
    for (size_t i = 0; i < n->nfields; i++) {
        if ((int)i == n->unmapped)
            continue;
        const field *f = &n->fields[i];
        avro_value_t child;
        if (avro_value_get_by_index(v, i, &child, NULL))
            return avfail(c, "get_by_index");
        const json_t *fj =
            c->in_default ? json_object_get(j, f->name) : json_object_getn(j, f->key, f->keylen);
        push_field(c, f->name);
        int rc;
        if (fj && !json_is_null(fj)) {
            rc = fill(c, f->type, f->flags, fj, &child);
        } else {
            rc = fill_absent(c, f, fj, &child);
        }
        pop(c);
        if (rc)
            return -1;
        found += fj != NULL;
    }
    if (n->unmapped >= 0) {
        avro_value_t u;
        if (avro_value_get_by_index(v, (size_t)n->unmapped, &u, NULL))
            return avfail(c, "get_by_index");
        push_field(c, n->fields[n->unmapped].name);
        int rc = fill_unmapped(c, n, j, found, &u);
        pop(c);
        return rc;
    }
    return 0;
}

/* The value to fill: the record itself, or the record branch of a union holding it. */
static int record_value(fctx *c, const avro_map_plan *m, avro_value_t *value, avro_value_t *out,
                        int select)
{
    *out = *value;
    if (avro_value_get_type(value) == AVRO_UNION) {
        avro_schema_t us = avro_value_get_schema(value);
        const char *dot = strrchr(m->root->fullname, '.');
        const char *shortname = dot ? dot + 1 : m->root->fullname;
        int disc = -1;
        if (select) {
            for (size_t i = 0; i < avro_schema_union_size(us); i++) {
                avro_schema_t b = avro_schema_union_branch(us, (int)i);
                if (is_avro_record(b) && strcmp(avro_schema_name(b), shortname) == 0) {
                    disc = (int)i;
                    break;
                }
            }
            if (disc < 0)
                return fail(c, "the union value has no branch for record %s", m->root->fullname);
            if (avro_value_set_branch(value, disc, out))
                return avfail(c, "set_branch");
        } else if (avro_value_get_current_branch(value, out)) {
            return avfail(c, "get_current_branch");
        }
    }
    if (avro_value_get_type(out) != AVRO_RECORD)
        return fail(c, "the avro value is not a record");
    size_t size = 0;
    if (avro_value_get_size(out, &size) || size != m->root->nfields)
        return fail(c, "the avro value has %zu fields, the schema of %s %zu", size,
                    m->root->fullname, m->root->nfields);
    return 0;
}

int avro_map_fill(const avro_map_plan *m, const json_t *rec, avro_value_t *value, char *err,
                  size_t errlen)
{
    fctx c;
    c.err = err;
    c.errlen = errlen;
    c.in_default = 0;
    c.depth = 0;
    avro_value_t rv;
    if (avro_value_reset(value))
        return avfail(&c, "reset");
    if (record_value(&c, m, value, &rv, 1))
        return -1;
    if (!json_is_object(rec))
        return mismatch(&c, m->root, rec);
    return fill_record(&c, m->root, rec, &rv);
}

/* ------------------------------------------------------------------------------------------ */
/* back to JSON                                                                               */

static json_t *jfail(fctx *c, json_t *partial, const char *what)
{
    json_decref(partial);
    fail(c, "%s", what);
    return NULL;
}

/* Bytes as a JSON string: UTF-8 text as is, anything else one code point per byte. */
static json_t *bytes_json(const void *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    const unsigned char *b = p;
    char *tmp = xmalloc(2 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x80) {
            tmp[o++] = (char)b[i];
        } else {
            tmp[o++] = (char)(0xC0 | (b[i] >> 6));
            tmp[o++] = (char)(0x80 | (b[i] & 0x3F));
        }
    }
    s = json_stringn(tmp, o);
    free(tmp);
    return s;
}

static json_t *time_json(const node *n, int64_t x)
{
    char out[48];
    if (n->logical == L_DATE) {
        crm_time_format(x * 86400000, out, sizeof(out));
        out[10] = '\0';
    } else if (n->logical == L_TS_MICROS) {
        crm_time_format(floor_div(x, 1000), out, sizeof(out));
        char *z = strrchr(out, 'Z');
        if (z)
            snprintf(z, sizeof(out) - (size_t)(z - out), "%03dZ",
                     (int)(x - floor_div(x, 1000) * 1000));
    } else {
        crm_time_format(x, out, sizeof(out));
    }
    return json_string(out);
}

static json_t *to_json(fctx *c, const node *n, unsigned fl, avro_value_t *v);

static json_t *record_json(fctx *c, const node *n, avro_value_t *v)
{
    json_t *obj = json_object();
    json_t *extra = NULL;
    for (size_t i = 0; i < n->nfields; i++) {
        const field *f = &n->fields[i];
        avro_value_t child;
        if (avro_value_get_by_index(v, i, &child, NULL))
            return jfail(c, obj, "cannot read a record field");
        push_field(c, f->name);
        json_t *fj = to_json(c, f->type, f->flags, &child);
        pop(c);
        if (!fj) {
            json_decref(extra);
            json_decref(obj);
            return NULL;
        }
        if ((int)i == n->unmapped) {
            if (json_is_string(fj)) {
                extra = json_loadb(json_string_value(fj), json_string_length(fj), 0, NULL);
                if (!json_is_object(extra)) {
                    json_decref(extra);
                    extra = NULL;
                    json_object_set_new(obj, f->key, fj); /* not ours: keep as is */
                    continue;
                }
            }
            json_decref(fj);
            continue;
        }
        json_object_setn_new(obj, f->key, f->keylen, fj);
    }
    if (extra) {
        json_object_update_missing(obj, extra);
        json_decref(extra);
    }
    return obj;
}

static json_t *to_json(fctx *c, const node *n, unsigned fl, avro_value_t *v)
{
    switch (n->kind) {
    case K_NULL:
        return json_null();
    case K_BOOLEAN: {
        int b;
        if (avro_value_get_boolean(v, &b))
            return jfail(c, NULL, "cannot read a boolean");
        return json_boolean(b);
    }
    case K_INT: {
        int32_t x;
        if (avro_value_get_int(v, &x))
            return jfail(c, NULL, "cannot read an int");
        return n->logical == L_DATE ? time_json(n, x) : json_integer(x);
    }
    case K_LONG: {
        int64_t x;
        if (avro_value_get_long(v, &x))
            return jfail(c, NULL, "cannot read a long");
        return n->logical != L_NONE ? time_json(n, x) : json_integer(x);
    }
    case K_FLOAT:
    case K_DOUBLE: {
        double d;
        float f;
        if (n->kind == K_FLOAT ? avro_value_get_float(v, &f) : avro_value_get_double(v, &d))
            return jfail(c, NULL, "cannot read a number");
        if (n->kind == K_FLOAT)
            d = f;
        json_t *r = json_real(d);
        return r ? r : jfail(c, NULL, "a NaN or infinite number has no JSON form");
    }
    case K_STRING: {
        const char *s;
        size_t size;
        if (avro_value_get_string(v, &s, &size))
            return jfail(c, NULL, "cannot read a string");
        size_t len = size ? size - 1 : 0; /* avro-c sizes include the NUL */
        if ((fl & F_JSON_TEXT) && len && (s[0] == '{' || s[0] == '[')) {
            json_t *parsed = json_loadb(s, len, JSON_DECODE_ANY, NULL);
            if (parsed)
                return parsed;
        }
        json_t *r = json_stringn(s, len);
        return r ? r : bytes_json(s, len);
    }
    case K_BYTES:
    case K_FIXED: {
        const void *p;
        size_t size;
        if (n->kind == K_BYTES ? avro_value_get_bytes(v, &p, &size)
                               : avro_value_get_fixed(v, &p, &size))
            return jfail(c, NULL, "cannot read bytes");
        return bytes_json(p, size);
    }
    case K_ENUM: {
        int e;
        if (avro_value_get_enum(v, &e) || e < 0 || (size_t)e >= n->nsymbols)
            return jfail(c, NULL, "cannot read an enum");
        return json_string(n->symbols[e]);
    }
    case K_ARRAY:
    case K_MAP: {
        size_t size;
        if (avro_value_get_size(v, &size))
            return jfail(c, NULL, "cannot read a collection");
        json_t *out = n->kind == K_ARRAY ? json_array() : json_object();
        for (size_t i = 0; i < size; i++) {
            avro_value_t e;
            const char *key = NULL;
            if (avro_value_get_by_index(v, i, &e, &key))
                return jfail(c, out, "cannot read an element");
            if (n->kind == K_ARRAY)
                push_index(c, i);
            else
                push_key(c, key);
            json_t *ej = to_json(c, n->items, fl, &e);
            pop(c);
            if (!ej) {
                json_decref(out);
                return NULL;
            }
            if (n->kind == K_ARRAY)
                json_array_append_new(out, ej);
            else
                json_object_set_new(out, key, ej);
        }
        return out;
    }
    case K_RECORD:
        return record_json(c, n, v);
    case K_UNION: {
        int disc;
        avro_value_t b;
        if (avro_value_get_discriminant(v, &disc) || disc < 0 || (size_t)disc >= n->nbranches ||
            avro_value_get_current_branch(v, &b))
            return jfail(c, NULL, "union without a branch");
        return to_json(c, n->branches[disc], fl, &b);
    }
    }
    return jfail(c, NULL, "unsupported type");
}

json_t *avro_map_to_json(const avro_map_plan *m, avro_value_t *value, char *err, size_t errlen)
{
    fctx c;
    c.err = err;
    c.errlen = errlen;
    c.in_default = 0;
    c.depth = 0;
    avro_value_t rv;
    if (record_value(&c, m, value, &rv, 0))
        return NULL;
    return record_json(&c, m->root, &rv);
}

/* ------------------------------------------------------------------------------------------ */
/* raw path: JSON text straight to Avro binary (no jansson DOM, no avro-c values)              */
/*                                                                                            */
/* Produces exactly the bytes avro_map_fill + avro_value_write produce for the same record,  */
/* for the common shapes: records, ["null", T] unions, primitives, arrays, enums, timestamp- */
/* millis from strings, "_unmapped". Anything else — conversions (numeric strings, numbers   */
/* for strings, "" as no value), defaults, maps, bytes, multi-branch unions, duplicate or     */
/* escaped keys, errors — returns RAW_FALLBACK and the caller uses the DOM path, which also   */
/* produces the proper error message.                                                         */

#define RAW_FALLBACK    1
#define RAW_MAX_UNKNOWN 32

typedef struct raw_member {
    const char *key, *value;
    size_t keylen;
} raw_member;

/* The keys of the objects raw_jw is inside, to find a duplicate key (jansson keeps one member
 * of the name: the DOM path decides). An object with more keys than RAW_JW_MAX_KEYS goes to the
 * DOM path too (the search is quadratic). */
#define RAW_JW_MAX_KEYS 256

typedef struct rctx {
    buf *out;
    buf tmp;              /* unescaped strings */
    const char *ts_value; /* the last timestamp-millis string encoded: where its value */
    int64_t ts_ms;        /* starts, its time, and its text when canonical */
    const char *ts_text;
    int depth;        /* nesting of the record or array being encoded (root record: 1) */
    raw_member *keys; /* raw_jw's open objects' keys (heap, grown on demand) */
    size_t nkeys, keycap;
} rctx;

/* A long as Avro writes it (zigzag, then a little-endian base-128 varint) into b; its length. */
static size_t zigzag_varint(int64_t v, unsigned char *b)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z & ~0x7fULL) {
        b[n++] = (unsigned char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    b[n++] = (unsigned char)z;
    return n;
}

/* The string value at p (unescaped if needed): *s and *len point into the input or c->tmp. */
static const char *raw_str(rctx *c, const char *p, const char *end, const char **s, size_t *len)
{
    int esc;
    const char *next = js_string(p, end, s, len, &esc);
    if (!next)
        return NULL;
    if (esc) {
        buf_reset(&c->tmp);
        if (js_unescape(*s, *len, &c->tmp))
            return NULL;
        *s = c->tmp.data ? c->tmp.data : "";
        *len = c->tmp.len;
    }
    return next;
}

static int raw_value(rctx *c, const node *n, const char *p, const char *end, const char **next);

static int raw_number(const char *p, const char *end, const char **next, int *integer, char *text,
                      size_t cap)
{
    const char *q = js_number(p, end, integer);
    if (!q || (size_t)(q - p) >= cap)
        return RAW_FALLBACK;
    memcpy(text, p, (size_t)(q - p));
    text[q - p] = '\0';
    *next = q;
    return 0;
}

/* A JSON integer text (js_number's, at most 18 characters) without strtoll. */
static int64_t int_text_value(const char *s, size_t len)
{
    int neg = *s == '-';
    int64_t v = 0;
    for (size_t i = (size_t)neg; i < len; i++)
        v = v * 10 + (s[i] - '0');
    return neg ? -v : v;
}

/* A JSON number text (js_number's) without an exponent and with at most 15 significant digits,
 * without strtod: the digits as an integer (exact below 2^53) divided by a power of ten up to
 * 10^22 (exact), one correctly rounded division, which is what strtod returns (Clinger's fast
 * path). -1: ask strtod. */
static int decimal_text_value(const char *s, size_t len, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    int neg = *s == '-', dot = 0, digits = 0, frac = 0;
    uint64_t m = 0;
    for (size_t i = (size_t)neg; i < len; i++) {
        char ch = s[i];
        if (ch == '.') {
            dot = 1;
            continue;
        }
        if (ch < '0' || ch > '9')
            return -1; /* an exponent */
        frac += dot;
        if (m == 0 && ch == '0')
            continue; /* leading zeros are not significant */
        m = m * 10 + (uint64_t)(ch - '0');
        if (++digits > 15)
            return -1;
    }
    if (frac > 22)
        return -1;
    double d = (double)m / pow10[frac];
    *out = neg ? -d : d;
    return 0;
}

/* A timestamp-millis from a string (crm_time_parse_text), which is remembered in c for the
 * caller's replication key; its text too when canonical and read in place (not unescaped). */
static int raw_timestamp(rctx *c, const char *p, const char *end, const char **next)
{
    const char *s;
    size_t len;
    int64_t ms;
    if (!(*next = raw_str(c, p, end, &s, &len)) || len == 0)
        return RAW_FALLBACK;
    int canonical = crm_time_parse_text(s, len, &ms);
    if (canonical < 0 || ms == CRM_TIME_NONE)
        return RAW_FALLBACK;
    avro_put_long(c->out, ms);
    c->ts_value = p;
    c->ts_ms = ms;
    c->ts_text = canonical == 1 && s > p && s < *next ? s : NULL;
    return 0;
}

static int raw_primitive(rctx *c, const node *n, const char *p, const char *end, const char **next)
{
    js_type t = js_peek(p, end);
    char num[40];
    int integer;
    switch (n->kind) {
    case K_NULL:
        if (t != JS_NULL || !(*next = js_skip(p, end)))
            return RAW_FALLBACK;
        return 0;
    case K_BOOLEAN:
        if (t != JS_TRUE && t != JS_FALSE)
            return RAW_FALLBACK;
        if (!(*next = js_skip(p, end)))
            return RAW_FALLBACK;
        buf_append(c->out, t == JS_TRUE ? "\1" : "\0", 1);
        return 0;
    case K_INT:
    case K_LONG: {
        if (n->logical == L_TS_MILLIS && n->kind == K_LONG && t == JS_STRING)
            return raw_timestamp(c, p, end, next);
        if (n->logical != L_NONE || t != JS_NUMBER || raw_number(p, end, next, &integer, num, 19) ||
            !integer)
            return RAW_FALLBACK;
        int64_t v = int_text_value(num, (size_t)(*next - p));
        if (n->kind == K_INT && (v < INT32_MIN || v > INT32_MAX))
            return RAW_FALLBACK;
        avro_put_long(c->out, v);
        return 0;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        if (t != JS_NUMBER || raw_number(p, end, next, &integer, num, sizeof(num)))
            return RAW_FALLBACK;
        size_t len = (size_t)(*next - p);
        if (integer && len > 15)
            return RAW_FALLBACK; /* jansson: int64 first; keep exotic integers on the DOM path */
        double d;
        if (integer) /* as jansson reads it: an integer, then a double ("-0" is 0) */
            d = (double)int_text_value(num, len);
        else if (decimal_text_value(num, len, &d))
            d = strtod(num, NULL);
        if (!isfinite(d))
            return RAW_FALLBACK;
        if (n->kind == K_DOUBLE) {
            uint64_t bits;
            memcpy(&bits, &d, 8);
            unsigned char b[8];
            for (int i = 0; i < 8; i++)
                b[i] = (unsigned char)(bits >> (8 * i));
            buf_append(c->out, b, 8);
        } else {
            float f = (float)d;
            if (isinf(f))
                return RAW_FALLBACK;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            unsigned char b[4];
            for (int i = 0; i < 4; i++)
                b[i] = (unsigned char)(bits >> (8 * i));
            buf_append(c->out, b, 4);
        }
        return 0;
    }
    case K_STRING: {
        const char *s;
        size_t len;
        if (t != JS_STRING || !(*next = raw_str(c, p, end, &s, &len)))
            return RAW_FALLBACK;
        avro_put_long(c->out, (int64_t)len);
        buf_append(c->out, s, len);
        return 0;
    }
    case K_ENUM: {
        const char *s;
        size_t len;
        if (t != JS_STRING || !(*next = raw_str(c, p, end, &s, &len)))
            return RAW_FALLBACK;
        int sym = keyset_find(&n->syms, s, len);
        if (sym < 0)
            return RAW_FALLBACK;
        avro_put_long(c->out, sym);
        return 0;
    }
    default:
        return RAW_FALLBACK;
    }
}

/* One pass: the items are encoded as they are read, then their count (one block) is put in
 * front of them. */
static int raw_array(rctx *c, const node *n, const char *p, const char *end, const char **next)
{
    const char *q = p, *v;
    int first, rc;
    int64_t count = 0;
    if (js_array_begin(&q, end, &first))
        return RAW_FALLBACK;
    size_t start = c->out->len;
    while ((rc = js_array_next(&q, end, &first, &v)) == 1) {
        if (raw_value(c, n->items, v, end, &q))
            return RAW_FALLBACK;
        count++;
    }
    if (rc)
        return RAW_FALLBACK;
    *next = q;
    if (count == 0) {
        avro_put_long(c->out, 0);
        return 0;
    }
    unsigned char cnt[10];
    size_t cn = zigzag_varint(count, cnt), items = c->out->len - start;
    buf_append(c->out, cnt, cn); /* room for the count */
    memmove(c->out->data + start + cn, c->out->data + start, items);
    memcpy(c->out->data + start, cnt, cn);
    avro_put_long(c->out, 0);
    return 0;
}

/* Remembers key (k, kl) of the object whose keys start at c->keys[base]; 1 when the object
 * already has it, or has too many keys to look. */
static int raw_jw_duplicate_key(rctx *c, size_t base, const char *k, size_t kl)
{
    if (c->nkeys - base >= RAW_JW_MAX_KEYS)
        return 1;
    for (size_t i = base; i < c->nkeys; i++)
        if (c->keys[i].keylen == kl && memcmp(c->keys[i].key, k, kl) == 0)
            return 1;
    if (c->nkeys == c->keycap) {
        c->keycap = c->keycap ? c->keycap * 2 : 64;
        c->keys = xrealloc(c->keys, c->keycap * sizeof(*c->keys));
    }
    c->keys[c->nkeys++] = (raw_member){k, NULL, kl};
    return 0;
}

/* Compact JSON text of a raw value at nesting `depth`, written like jw_value writes the DOM
 * (same escapes, number formats). What jansson would read differently — a duplicate key, a
 * value nested deeper than it parses — goes to the DOM path. */
static int raw_jw(rctx *c, jw *w, const char *p, const char *end, const char **next, int depth)
{
    const char *s, *v, *k;
    size_t len, kl, base;
    int first, esc, integer, rc;
    char num[64];
    if (depth > JS_MAX_DEPTH)
        return RAW_FALLBACK;
    switch (js_peek(p, end)) {
    case JS_OBJECT:
        js_object_begin(&p, end, &first);
        jw_put(w, "{", 1);
        base = c->nkeys;
        for (int i = 0; (rc = js_object_next(&p, end, &first, &k, &kl, &esc, &v)) == 1; i++) {
            if (esc || raw_jw_duplicate_key(c, base, k, kl))
                return RAW_FALLBACK;
            if (i)
                jw_put(w, ",", 1);
            jw_string(w, k, kl);
            jw_put(w, ":", 1);
            if (raw_jw(c, w, v, end, &p, depth + 1))
                return RAW_FALLBACK;
        }
        c->nkeys = base;
        jw_put(w, "}", 1);
        *next = p;
        return rc ? RAW_FALLBACK : 0;
    case JS_ARRAY:
        js_array_begin(&p, end, &first);
        jw_put(w, "[", 1);
        for (int i = 0; (rc = js_array_next(&p, end, &first, &v)) == 1; i++) {
            if (i)
                jw_put(w, ",", 1);
            if (raw_jw(c, w, v, end, &p, depth + 1))
                return RAW_FALLBACK;
        }
        jw_put(w, "]", 1);
        *next = p;
        return rc ? RAW_FALLBACK : 0;
    case JS_STRING:
        if (!(*next = raw_str(c, p, end, &s, &len)))
            return RAW_FALLBACK;
        jw_string(w, s, len);
        return 0;
    case JS_NUMBER:
        if (raw_number(p, end, next, &integer, num, sizeof(num)))
            return RAW_FALLBACK;
        if (integer) {
            if (strlen(num) > 18)
                return RAW_FALLBACK;
            char out[32];
            jw_put(w, out, format_int(strtoll(num, NULL, 10), out));
        } else {
            double d = strtod(num, NULL);
            if (!isfinite(d))
                return RAW_FALLBACK;
            char out[64];
            jw_put(w, out, format_real(d, out, sizeof(out)));
        }
        return 0;
    case JS_TRUE:
    case JS_FALSE:
    case JS_NULL:
        if (!(*next = js_skip(p, end)))
            return RAW_FALLBACK;
        jw_put(w, p, (size_t)(*next - p));
        return 0;
    default:
        return RAW_FALLBACK;
    }
}

/* Top-level members the caller wants located (primary and replication keys). */
/* The members the caller asked for, and where they are reported. */
typedef struct raw_want {
    const raw_keys *keys;
    raw_found *found;
} raw_want;

/* Notes member (k, kl) with value v when the caller asked for it (idx: its field, or -1); after
 * its encoding when it is a field, so that a timestamp's time is there. */
static inline void raw_note_wanted(const rctx *c, const raw_want *want, int idx, const char *k,
                                   size_t kl, const char *v)
{
    const raw_keys *rk = want->keys;
    raw_found *f = NULL;
    if (idx >= 0) {
        if (rk->by_field[idx] < 0)
            return;
        f = &want->found[rk->by_field[idx]];
    } else {
        for (size_t w = 0; w < rk->n && !f; w++)
            if (rk->lens[w] == kl && memcmp(rk->keys[w], k, kl) == 0)
                f = &want->found[w];
        if (!f)
            return;
    }
    f->value = v;
    if (c->ts_value == v) {
        f->ms = c->ts_ms;
        f->ms_text = c->ts_text;
    }
}

static int raw_unmapped(rctx *c, const node *n, const raw_member *unknown, size_t n_unknown,
                        const char *end)
{
    const node *t = n->fields[n->unmapped].type;
    if (n_unknown == 0) {
        avro_put_long(c->out, t->null_branch);
        return 0;
    }
    char stack[4096];
    jw w;
    jw_init(&w, stack, sizeof(stack));
    jw_put(&w, "{", 1);
    int rc = 0;
    for (size_t i = 0; i < n_unknown && !rc; i++) {
        if (i)
            jw_put(&w, ",", 1);
        jw_string(&w, unknown[i].key, unknown[i].keylen);
        jw_put(&w, ":", 1);
        const char *after;
        rc = raw_jw(c, &w, unknown[i].value, end, &after, c->depth + 1);
    }
    jw_put(&w, "}", 1);
    if (!rc) {
        avro_put_long(c->out, t->value_branch);
        avro_put_long(c->out, (int64_t)w.len);
        buf_append(c->out, w.p, w.len);
    }
    jw_free(&w);
    return rc;
}

/* The bytes of a field whose value is absent (!present) or JSON null: the null branch, or an
 * empty array default, as the DOM path writes them; RAW_FALLBACK when the DOM path decides. */
static int raw_missing(rctx *c, const field *f, int present)
{
    const node *t = f->type;
    if (!present && t->kind == K_ARRAY && json_is_array(f->defval) &&
        json_array_size(f->defval) == 0) {
        avro_put_long(c->out, 0);
        return 0;
    }
    int nullable = t->kind == K_UNION && t->null_branch >= 0;
    if (!nullable || (!present && f->defval && !json_is_null(f->defval)))
        return RAW_FALLBACK;
    avro_put_long(c->out, t->null_branch);
    return 0;
}

/* Where a field's encoding landed in c->out, relative to the record's start. */
typedef struct raw_span {
    uint32_t off, len;
} raw_span;

#define SEEN(bits, i) (((bits)[(i) >> 6] >> ((i)&63)) & 1)

/* Puts the fields of a record encoded in JSON order (spans) into schema order, adding the
 * absent ones and "_unmapped". Fields already in place (the usual case: APIs send their keys
 * in a fixed order, often the schema's) are not moved. */
static int raw_assemble(rctx *c, const node *n, size_t base, const raw_span *spans,
                        const uint64_t *seen, const raw_member *unknown, size_t n_unknown,
                        const char *end)
{
    buf *o = c->out;
    size_t total = o->len - base, pos = 0, i = 0;
    for (; i < n->nfields; i++) {
        if ((int)i == n->unmapped || !SEEN(seen, i) || spans[i].off != pos)
            break;
        pos += spans[i].len;
    }
    if (i == n->nfields)
        return 0;
    size_t tail = total - pos;
    char stack[2048];
    char *saved = tail <= sizeof(stack) ? stack : xmalloc(tail);
    if (tail) /* o->data is NULL while nothing was written */
        memcpy(saved, o->data + base + pos, tail);
    o->len = base + pos;
    int rc = 0;
    for (; i < n->nfields && !rc; i++) {
        if ((int)i == n->unmapped)
            rc = raw_unmapped(c, n, unknown, n_unknown, end);
        else if (SEEN(seen, i))
            buf_append(o, saved + (spans[i].off - pos), spans[i].len);
        else
            rc = raw_missing(c, &n->fields[i], 0);
    }
    if (saved != stack)
        free(saved);
    return rc ? RAW_FALLBACK : 0;
}

/* One pass over the record's members: each known field is encoded as it is read (no separate
 * skip), unknown ones are remembered for "_unmapped", then raw_assemble orders the fields. */
static int raw_record(rctx *c, const node *n, const char *p, const char *end, const char **next,
                      const raw_want *want)
{
    if (n->nfields > RAW_MAX_FIELDS)
        return RAW_FALLBACK;
    raw_span spans[RAW_MAX_FIELDS];
    uint64_t seen[RAW_MAX_FIELDS / 64] = {0};
    raw_member unknown[RAW_MAX_UNKNOWN];
    size_t n_unknown = 0, base = c->out->len, next_field = 0;
    const char *k, *v;
    size_t kl;
    int first, esc, rc;
    if (js_object_begin(&p, end, &first))
        return RAW_FALLBACK;
    for (;;) {
        /* APIs send their members in a fixed order: the field after the last one comes first */
        const js_hint *hint = next_field < n->nfields && (int)next_field != n->unmapped &&
                                      n->fields[next_field].plain_key
                                  ? &n->fields[next_field].hint
                                  : NULL;
        rc = js_object_next_hint(&p, end, &first, hint, &k, &kl, &esc, &v);
        if (rc <= 0)
            break;
        if (esc)
            return RAW_FALLBACK;
        int idx = rc == 2 ? (int)next_field : keyset_find(&n->keys, k, kl);
        if (idx >= 0) {
            next_field = (size_t)idx + 1;
            if (SEEN(seen, idx))
                return RAW_FALLBACK; /* duplicate key: jansson keeps the last one */
            seen[idx >> 6] |= 1ULL << (idx & 63);
            size_t start = c->out->len;
            if (js_peek(v, end) == JS_NULL) {
                if (!(p = js_skip(v, end)) || raw_missing(c, &n->fields[idx], 1))
                    return RAW_FALLBACK;
            } else if (raw_value(c, n->fields[idx].type, v, end, &p)) {
                return RAW_FALLBACK;
            }
            spans[idx] = (raw_span){(uint32_t)(start - base), (uint32_t)(c->out->len - start)};
            if (want)
                raw_note_wanted(c, want, idx, k, kl, v);
            continue;
        }
        if (want && want->keys->by_name)
            raw_note_wanted(c, want, -1, k, kl, v);
        if (n->unmapped >= 0) {
            for (size_t i = 0; i < n_unknown; i++)
                if (unknown[i].keylen == kl && memcmp(unknown[i].key, k, kl) == 0)
                    return RAW_FALLBACK;
            if (n_unknown == RAW_MAX_UNKNOWN)
                return RAW_FALLBACK;
            unknown[n_unknown++] = (raw_member){k, v, kl};
        }
        if (!(p = js_skip_at(v, end, c->depth + 1)))
            return RAW_FALLBACK;
    }
    if (rc)
        return RAW_FALLBACK;
    *next = p;
    return raw_assemble(c, n, base, spans, seen, unknown, n_unknown, end);
}

/* A record one level deeper than the record or array containing it (c->depth). */
static int raw_nested_record(rctx *c, const node *n, const char *p, const char *end,
                             const char **next, const raw_want *want)
{
    c->depth++;
    int rc = raw_record(c, n, p, end, next, want);
    c->depth--;
    return rc;
}

static int raw_value(rctx *c, const node *n, const char *p, const char *end, const char **next)
{
    int rc;
    switch (n->kind) {
    case K_UNION:
        if (js_peek(p, end) == JS_NULL) {
            if (n->null_branch < 0 || !(*next = js_skip(p, end)))
                return RAW_FALLBACK;
            avro_put_long(c->out, n->null_branch);
            return 0;
        }
        if (n->value_branch < 0)
            return RAW_FALLBACK;
        avro_put_long(c->out, n->value_branch);
        return raw_value(c, n->branches[n->value_branch], p, end, next);
    case K_RECORD:
        return raw_nested_record(c, n, p, end, next, NULL);
    case K_ARRAY:
        c->depth++;
        rc = raw_array(c, n, p, end, next);
        c->depth--;
        return rc;
    default:
        return raw_primitive(c, n, p, end, next);
    }
}

int avro_map_raw_keys(const avro_map_plan *m, const char *const *keys, size_t n, raw_keys *out)
{
    const node *root = m->root;
    if (n > RAW_MAX_KEYS)
        return -1;
    out->n = n;
    out->by_name = 0;
    memset(out->by_field, -1, sizeof(out->by_field));
    for (size_t i = 0; i < n; i++) {
        out->keys[i] = keys[i];
        out->lens[i] = strlen(keys[i]);
        int idx = keyset_find(&root->keys, keys[i], out->lens[i]);
        if (idx >= 0 && idx < RAW_MAX_FIELDS && idx != root->unmapped)
            out->by_field[idx] = (int8_t)i;
        else
            out->by_name++;
    }
    return 0;
}

int avro_map_encode_raw_at(const avro_map_plan *m, const char *json, const char *end, buf *out,
                           const char **next, const raw_keys *want, raw_found *found)
{
    rctx c = {out, {0}, NULL, 0, NULL, 0, NULL, 0, 0};
    buf_init(&c.tmp);
    size_t start = out->len;
    for (size_t i = 0; want && i < want->n; i++)
        found[i] = (raw_found){NULL, CRM_TIME_NONE, NULL};
    raw_want w = {want, found};
    int rc = raw_nested_record(&c, m->root, json, end, next, want ? &w : NULL);
    if (rc)
        out->len = start;
    buf_free(&c.tmp);
    free(c.keys);
    return rc ? RAW_FALLBACK : 0;
}

int avro_map_encode_raw(const avro_map_plan *m, const char *json, size_t len, buf *out)
{
    const char *end = json + len, *next;
    size_t start = out->len;
    int rc = avro_map_encode_raw_at(m, json, end, out, &next, NULL, NULL);
    if (!rc && js_ws(next, end) != end) {
        out->len = start;
        rc = RAW_FALLBACK;
    }
    return rc;
}
