/* schema_compat.c — Avro schema resolution rules as a reader/writer compatibility check (see
 * schema_compat.h). Works on the parsed JSON of the two schemas: named types are collected into a
 * table per schema, references resolved by full name. */
#include "schema_compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_canon.h"
#include "util.h"

typedef struct side {
    json_t *names; /* full name -> schema object (borrowed from the parsed schema) */
} side;

typedef struct ctx {
    side r, w;
    json_t *visiting; /* "reader|writer" record pairs being compared (recursion) */
    char *why;
    size_t whylen;
    int invalid;
} ctx;

static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

static int is_primitive(const char *t)
{
    for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
        if (strcmp(t, primitives[i]) == 0)
            return 1;
    return 0;
}

static int fail(ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(ctx *c, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->why, c->whylen, "%s%s%s", path && *path ? path : "", path && *path ? ": " : "",
             msg);
    return 0;
}

/* ---- named types ------------------------------------------------------------------------- */

static char *full_name_of(const json_t *s, const char *ns)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    return name ? schema_canon_full_name(name, json_object_get(s, "namespace"), ns) : NULL;
}

static const char *namespace_of(const char *full)
{
    static __thread char ns[512];
    const char *dot = strrchr(full, '.');
    if (!dot)
        return "";
    snprintf(ns, sizeof(ns), "%.*s", (int)(dot - full), full);
    return ns;
}

static void collect(const json_t *s, const char *ns, json_t *names)
{
    if (json_is_array(s)) {
        size_t i;
        json_t *b;
        json_array_foreach(s, i, b) collect(b, ns, names);
        return;
    }
    if (!json_is_object(s))
        return;
    const char *type = json_string_value(json_object_get(s, "type"));
    if (!type) {
        collect(json_object_get(s, "type"), ns, names);
        return;
    }
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 || strcmp(type, "enum") == 0 ||
        strcmp(type, "fixed") == 0) {
        char *full = full_name_of(s, ns);
        if (!full)
            return;
        json_object_set(names, full, (json_t *)s);
        char inner[512];
        snprintf(inner, sizeof(inner), "%s", namespace_of(full));
        free(full);
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(s, "fields"), i, f)
            collect(json_object_get(f, "type"), inner, names);
    } else if (strcmp(type, "array") == 0) {
        collect(json_object_get(s, "items"), ns, names);
    } else if (strcmp(type, "map") == 0) {
        collect(json_object_get(s, "values"), ns, names);
    }
}

/* A schema node with references replaced by the named type; *ns is updated to the namespace
 * names inside it resolve against. NULL for an unknown reference. */
static const json_t *resolve(const side *sd, const json_t *s, char *ns, size_t nslen)
{
    if (json_is_object(s) && json_is_object(json_object_get(s, "type")))
        s = json_object_get(s, "type");
    if (json_is_object(s) && json_is_array(json_object_get(s, "type")))
        s = json_object_get(s, "type");
    const char *name = json_is_string(s) ? json_string_value(s)
                       : json_is_object(s) && json_is_string(json_object_get(s, "type")) &&
                               !is_primitive(json_string_value(json_object_get(s, "type"))) &&
                               !json_object_get(s, "name") &&
                               strcmp(json_string_value(json_object_get(s, "type")), "array") &&
                               strcmp(json_string_value(json_object_get(s, "type")), "map")
                           ? json_string_value(json_object_get(s, "type"))
                           : NULL;
    if (!name || is_primitive(name))
        return s;
    char full[512];
    if (strchr(name, '.') || !*ns)
        snprintf(full, sizeof(full), "%s", name);
    else
        snprintf(full, sizeof(full), "%s.%s", ns, name);
    const json_t *t = json_object_get(sd->names, full);
    if (!t)
        t = json_object_get(sd->names, name);
    if (t) {
        char *fn = full_name_of(t, ns);
        if (fn) {
            snprintf(ns, nslen, "%s", namespace_of(fn));
            free(fn);
        }
    }
    return t;
}

/* The type tag of a resolved node: a primitive name, "record", "enum", "fixed", "array",
 * "map" or "union". */
static const char *tag(const json_t *s)
{
    if (json_is_array(s))
        return "union";
    if (json_is_string(s))
        return json_string_value(s);
    const char *t = json_string_value(json_object_get(s, "type"));
    if (t && strcmp(t, "error") == 0)
        return "record";
    return t ? t : "?";
}

static int promotes(const char *w, const char *r)
{
    if (strcmp(w, r) == 0)
        return 1;
    if (strcmp(w, "int") == 0)
        return !strcmp(r, "long") || !strcmp(r, "float") || !strcmp(r, "double");
    if (strcmp(w, "long") == 0)
        return !strcmp(r, "float") || !strcmp(r, "double");
    if (strcmp(w, "float") == 0)
        return !strcmp(r, "double");
    if (strcmp(w, "string") == 0)
        return !strcmp(r, "bytes");
    if (strcmp(w, "bytes") == 0)
        return !strcmp(r, "string");
    return 0;
}

static int in_list(const json_t *list, const char *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i,
                       e) if (json_is_string(e) && strcmp(json_string_value(e), s) == 0) return 1;
    return 0;
}

/* Names match: full names, or the writer's full name among the reader's aliases. */
static int names_match(const json_t *r, const char *rns, const json_t *w, const char *wns)
{
    char *rf = full_name_of(r, rns), *wf = full_name_of(w, wns);
    int ok = rf && wf && strcmp(rf, wf) == 0;
    const char *wshort = wf ? (strrchr(wf, '.') ? strrchr(wf, '.') + 1 : wf) : "";
    ok = ok || (wf && (in_list(json_object_get(r, "aliases"), wf) ||
                       in_list(json_object_get(r, "aliases"), wshort)));
    free(rf);
    free(wf);
    return ok;
}

static int check(ctx *c, const json_t *r, const char *rns, const json_t *w, const char *wns,
                 const char *path);

static int check_record(ctx *c, const json_t *r, const char *rns, const json_t *w, const char *wns,
                        const char *path)
{
    char *rf = full_name_of(r, rns), *wf = full_name_of(w, wns);
    char key[1100];
    snprintf(key, sizeof(key), "%s|%s", rf ? rf : "?", wf ? wf : "?");
    char rin[512], win[512];
    snprintf(rin, sizeof(rin), "%s", rf ? namespace_of(rf) : rns);
    snprintf(win, sizeof(win), "%s", wf ? namespace_of(wf) : wns);
    free(rf);
    free(wf);
    if (json_object_get(c->visiting, key))
        return 1;
    json_object_set_new(c->visiting, key, json_true());
    int ok = 1;
    size_t i;
    json_t *rfld;
    json_array_foreach(json_object_get(r, "fields"), i, rfld)
    {
        const char *name = json_string_value(json_object_get(rfld, "name"));
        if (!name) {
            c->invalid = 1;
            ok = fail(c, path, "a field without a name");
            break;
        }
        const json_t *wfld = NULL;
        size_t k;
        json_t *x;
        json_array_foreach(json_object_get(w, "fields"), k, x)
        {
            const char *wn = json_string_value(json_object_get(x, "name"));
            if (wn && (strcmp(wn, name) == 0 || in_list(json_object_get(rfld, "aliases"), wn))) {
                wfld = x;
                break;
            }
        }
        char sub[600];
        snprintf(sub, sizeof(sub), "%s%sfield %s", path, *path ? " > " : "", name);
        if (!wfld) {
            if (!json_object_get(rfld, "default")) {
                ok = fail(c, sub,
                          "the reader's field is missing from the writer and has no default");
                break;
            }
            continue;
        }
        if (!check(c, json_object_get(rfld, "type"), rin, json_object_get(wfld, "type"), win,
                   sub)) {
            ok = 0;
            break;
        }
    }
    json_object_del(c->visiting, key);
    return ok;
}

static int check(ctx *c, const json_t *r0, const char *rns0, const json_t *w0, const char *wns0,
                 const char *path)
{
    char rns[512], wns[512];
    snprintf(rns, sizeof(rns), "%s", rns0);
    snprintf(wns, sizeof(wns), "%s", wns0);
    const json_t *r = resolve(&c->r, r0, rns, sizeof(rns));
    const json_t *w = resolve(&c->w, w0, wns, sizeof(wns));
    if (!r || !w) {
        c->invalid = 1;
        return fail(c, path, "unknown type reference in the %s schema", !r ? "reader" : "writer");
    }
    const char *rt = tag(r), *wt = tag(w);
    if (strcmp(wt, "union") == 0) {
        size_t i;
        json_t *b;
        json_array_foreach(w, i, b)
        {
            if (!check(c, r, rns, b, wns, path))
                return 0;
        }
        return 1;
    }
    if (strcmp(rt, "union") == 0) {
        char saved[512];
        snprintf(saved, sizeof(saved), "%s", c->why);
        size_t i;
        json_t *b;
        json_array_foreach(r, i, b)
        {
            char bns[512];
            snprintf(bns, sizeof(bns), "%s", rns);
            const json_t *rb = resolve(&c->r, b, bns, sizeof(bns));
            if (!rb)
                continue;
            const char *bt = tag(rb);
            int candidate = strcmp(bt, wt) == 0 || promotes(wt, bt);
            if (candidate && check(c, rb, bns, w, wns, path)) {
                snprintf(c->why, c->whylen, "%s", saved);
                return 1;
            }
        }
        return fail(c, path, "no branch of the reader's union can read the writer's %s", wt);
    }
    if (is_primitive(wt) || is_primitive(rt)) {
        if (promotes(wt, rt))
            return 1;
        return fail(c, path, "reader type %s cannot read writer type %s", rt, wt);
    }
    if (strcmp(rt, wt) != 0)
        return fail(c, path, "reader type %s cannot read writer type %s", rt, wt);
    if (strcmp(rt, "array") == 0)
        return check(c, json_object_get(r, "items"), rns, json_object_get(w, "items"), wns, path);
    if (strcmp(rt, "map") == 0)
        return check(c, json_object_get(r, "values"), rns, json_object_get(w, "values"), wns, path);
    if (!names_match(r, rns, w, wns))
        return fail(c, path, "reader %s %s cannot read writer %s %s", rt,
                    json_string_value(json_object_get(r, "name")), wt,
                    json_string_value(json_object_get(w, "name")));
    if (strcmp(rt, "record") == 0)
        return check_record(c, r, rns, w, wns, path);
    if (strcmp(rt, "enum") == 0) {
        if (json_object_get(r, "default"))
            return 1;
        size_t i;
        json_t *sym;
        json_array_foreach(json_object_get(w, "symbols"), i, sym)
        {
            if (!in_list(json_object_get(r, "symbols"), json_string_value(sym)))
                return fail(c, path, "the writer's enum symbol %s is missing from the reader",
                            json_string_value(sym));
        }
        return 1;
    }
    if (strcmp(rt, "fixed") == 0) {
        if (json_integer_value(json_object_get(r, "size")) ==
            json_integer_value(json_object_get(w, "size")))
            return 1;
        return fail(c, path, "fixed sizes differ");
    }
    c->invalid = 1;
    return fail(c, path, "unknown type %s", rt);
}

int schema_compat_can_read(const json_t *reader, const json_t *writer, char *why, size_t whylen)
{
    char dummy[8];
    ctx c = {{json_object()},
             {json_object()},
             json_object(),
             why ? why : dummy,
             why ? whylen : sizeof(dummy),
             0};
    c.why[0] = '\0';
    collect(reader, "", c.r.names);
    collect(writer, "", c.w.names);
    int ok = check(&c, reader, "", writer, "", "");
    json_decref(c.r.names);
    json_decref(c.w.names);
    json_decref(c.visiting);
    return c.invalid ? -1 : ok;
}

int schema_compat_can_read_text(const char *reader, const char *writer, char *why, size_t whylen)
{
    json_error_t je;
    json_t *r = json_loads(reader, JSON_DECODE_ANY, &je);
    json_t *w = r ? json_loads(writer, JSON_DECODE_ANY, &je) : NULL;
    int rc;
    if (!r || !w) {
        snprintf(why, whylen, "invalid %s schema JSON: %s", r ? "writer" : "reader", je.text);
        rc = -1;
    } else {
        rc = schema_compat_can_read(r, w, why, whylen);
    }
    json_decref(r);
    json_decref(w);
    return rc;
}
