/* amap_fill.c — a jansson record (the DOM path) into an avro-c generic value, walking the plan
 * and the value side by side by field index: no name lookups in the avro value, and no
 * allocation of ours (JSON text for "json_text" fields and "_unmapped" is written into stack
 * buffers; only texts above 2-4 KB go to the heap). Which keys are unknown is decided by
 * counting: a record whose key count equals the number of schema keys found has none, so the
 * small hash set of known keys is consulted only when something is left over. Each call has its
 * own context (avro_strerror() in messages is process-global in Debian's build). */
#include "amap_ctx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "crm_time.h"
#include "json_writer.h"
#include "util.h"

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
    return amap_mismatch(c, n, j);
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
    return amap_mismatch(c, n, j);
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
    return amap_mismatch(c, n, j);
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
        r = amap_floor_div(v, per_sec / target);
    }
    if (n->logical == L_DATE) {
        r = amap_floor_div(r, 86400000);
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
        return amap_fail(c, "timestamp %" JSON_INTEGER_FORMAT " is out of range",
                         json_integer_value(j));
    case JSON_REAL:
        if (time_from_real(n, json_real_value(j), per_sec, out) == 0)
            return 0;
        return amap_fail(c, "timestamp %.17g is out of range", json_real_value(j));
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
    return amap_mismatch(c, n, j);
}

static int set_str(fctx *c, avro_value_t *v, const char *s, size_t len)
{
    /* avro-c's string length INCLUDES the terminating NUL: s[len] must be '\0'. */
    if (avro_value_set_string_len(v, s, len + 1))
        return amap_avfail(c, "set_string");
    return 0;
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
        size_t len = jw_format_int(json_integer_value(j), tmp);
        return set_str(c, v, tmp, len);
    }
    case JSON_REAL:
        return set_str(c, v, tmp, jw_format_real(json_real_value(j), tmp, sizeof(tmp)));
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
            return amap_fail(c,
                             "expected string, got %s (the field needs \"json_text\": true to keep "
                             "it as JSON text)",
                             amap_describe(j, got, sizeof(got)));
        }
    default:
        return amap_mismatch(c, n, j);
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
            return amap_fail(c, "default of %s has a code point above 255",
                             amap_kind_name[n->kind]);
        }
    }
    int rc = 0;
    if (n->kind == K_FIXED && o != n->size)
        rc = amap_fail(c, "default of fixed %s has %zu bytes, not %zu", n->fullname, o, n->size);
    else if (n->kind == K_FIXED ? avro_value_set_fixed(v, out, o) : avro_value_set_bytes(v, out, o))
        rc = amap_avfail(c, "set_bytes");
    free(out);
    return rc;
}

static int set_null_branch(fctx *c, const node *u, avro_value_t *v)
{
    avro_value_t b;
    if (avro_value_set_branch(v, u->null_branch, &b) || avro_value_set_null(&b))
        return amap_avfail(c, "set_null");
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
            return amap_keyset_find(&n->syms, s, json_string_length(j)) >= 0 ? 2 : 0;
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
            return amap_fail(c, "expected a non-null value, got %s",
                             amap_describe(j, got, sizeof(got)));
        }
        return set_null_branch(c, u, v);
    }
    int bi = u->value_branch;
    if (bi < 0 || c->in_default) {
        int best = 0;
        bi = -1;
        for (size_t i = 0; i < u->nbranches; i++) {
            int s = c->in_default ? (amap_default_ok(u->branches[i], j) ? 2 : 0)
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
                buf_printf(&kinds, "%s%s", i ? ", " : "",
                           amap_type_label(u->branches[i], t, sizeof(t)));
            }
            char got[128];
            amap_fail(c, "expected one of [%s], got %s", kinds.data,
                      amap_describe(j, got, sizeof(got)));
            buf_free(&kinds);
            return -1;
        }
    }
    avro_value_t b;
    if (avro_value_set_branch(v, bi, &b))
        return amap_avfail(c, "set_branch");
    unsigned bfl = (fl & ~FL_NULLABLE) | (u->null_branch >= 0 ? FL_NULLABLE : 0);
    int rc = fill(c, u->branches[bi], bfl, j, &b);
    if (rc == 1)
        return set_null_branch(c, u, v);
    return rc;
}

static int fill_record(fctx *c, const node *n, const json_t *j, avro_value_t *v);

/* int and long, from a number or a timestamp (logical types). */
static int fill_integer(fctx *c, const node *n, unsigned fl, const json_t *j, avro_value_t *v)
{
    int64_t x;
    int rc = n->logical != L_NONE ? conv_time(c, n, fl, j, &x) : conv_int64(c, n, fl, j, &x);
    if (rc)
        return rc;
    if (n->kind == K_LONG)
        return avro_value_set_long(v, x) ? amap_avfail(c, "set_long") : 0;
    if (x < INT32_MIN || x > INT32_MAX) {
        char got[128];
        return amap_fail(c, "%s is out of range for int", amap_describe(j, got, sizeof(got)));
    }
    return avro_value_set_int(v, (int32_t)x) ? amap_avfail(c, "set_int") : 0;
}

/* float and double. */
static int fill_real(fctx *c, const node *n, unsigned fl, const json_t *j, avro_value_t *v)
{
    double d;
    int rc = conv_double(c, n, fl, j, &d);
    if (rc)
        return rc;
    if (n->kind == K_DOUBLE)
        return avro_value_set_double(v, d) ? amap_avfail(c, "set_double") : 0;
    if (isinf((float)d)) {
        char got[128];
        return amap_fail(c, "%s is out of range for float", amap_describe(j, got, sizeof(got)));
    }
    return avro_value_set_float(v, (float)d) ? amap_avfail(c, "set_float") : 0;
}

static int fill_bytes(fctx *c, const node *n, const json_t *j, avro_value_t *v)
{
    if (!json_is_string(j))
        return amap_mismatch(c, n, j);
    if (c->in_default)
        return fill_default_bytes(c, n, j, v);
    return avro_value_set_bytes(v, (void *)json_string_value(j), json_string_length(j))
               ? amap_avfail(c, "set_bytes")
               : 0;
}

static int fill_fixed(fctx *c, const node *n, const json_t *j, avro_value_t *v)
{
    if (!json_is_string(j))
        return amap_mismatch(c, n, j);
    if (c->in_default)
        return fill_default_bytes(c, n, j, v);
    if (json_string_length(j) != n->size) {
        char got[128];
        return amap_fail(c, "expected %zu bytes for fixed %s, got %s", n->size, n->fullname,
                         amap_describe(j, got, sizeof(got)));
    }
    return avro_value_set_fixed(v, (void *)json_string_value(j), n->size)
               ? amap_avfail(c, "set_fixed")
               : 0;
}

static int fill_enum(fctx *c, const node *n, unsigned fl, const json_t *j, avro_value_t *v)
{
    if (!json_is_string(j))
        return amap_mismatch(c, n, j);
    int sym = amap_keyset_find(&n->syms, json_string_value(j), json_string_length(j));
    if (sym < 0) {
        if (!*json_string_value(j))
            return no_value(c, n, fl, j);
        char got[128];
        return amap_fail(c, "%s is not a symbol of enum %s", amap_describe(j, got, sizeof(got)),
                         n->fullname);
    }
    return avro_value_set_enum(v, sym) ? amap_avfail(c, "set_enum") : 0;
}

static int fill_array(fctx *c, const node *n, unsigned fl, const json_t *j, avro_value_t *v)
{
    if (!json_is_array(j))
        return amap_mismatch(c, n, j);
    size_t len = json_array_size(j);
    for (size_t i = 0; i < len; i++) {
        avro_value_t e;
        if (avro_value_append(v, &e, NULL))
            return amap_avfail(c, "append");
        amap_push_index(c, i);
        int rc = fill(c, n->items, fl & ~FL_NULLABLE, json_array_get(j, i), &e);
        amap_pop(c);
        if (rc)
            return -1;
    }
    return 0;
}

static int fill_map(fctx *c, const node *n, unsigned fl, const json_t *j, avro_value_t *v)
{
    if (!json_is_object(j))
        return amap_mismatch(c, n, j);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)j, key, val)
    {
        avro_value_t e;
        if (avro_value_add(v, key, &e, NULL, NULL))
            return amap_avfail(c, "map add");
        amap_push_key(c, key);
        int rc = fill(c, n->items, fl & ~FL_NULLABLE, val, &e);
        amap_pop(c);
        if (rc)
            return -1;
    }
    return 0;
}

/* Fills v (of node n's type) from JSON j, or fails with the field's path. */
static int fill(fctx *c, const node *n, unsigned fl, const json_t *j, avro_value_t *v)
{
    switch (n->kind) {
    case K_NULL:
        if (j && !json_is_null(j))
            return amap_mismatch(c, n, j);
        return avro_value_set_null(v) ? amap_avfail(c, "set_null") : 0;
    case K_BOOLEAN:
        if (json_is_boolean(j))
            return avro_value_set_boolean(v, json_is_true(j)) ? amap_avfail(c, "set_boolean") : 0;
        if (json_is_string(j) && !*json_string_value(j))
            return no_value(c, n, fl, j);
        return amap_mismatch(c, n, j);
    case K_INT:
    case K_LONG:
        return fill_integer(c, n, fl, j, v);
    case K_FLOAT:
    case K_DOUBLE:
        return fill_real(c, n, fl, j, v);
    case K_STRING:
        return fill_string(c, n, fl, j, v);
    case K_BYTES:
        return fill_bytes(c, n, j, v);
    case K_FIXED:
        return fill_fixed(c, n, j, v);
    case K_ENUM:
        return fill_enum(c, n, fl, j, v);
    case K_ARRAY:
        return fill_array(c, n, fl, j, v);
    case K_MAP:
        return fill_map(c, n, fl, j, v);
    case K_RECORD:
        if (!json_is_object(j))
            return amap_mismatch(c, n, j);
        return fill_record(c, n, j, v);
    case K_UNION:
        return fill_union(c, n, fl, j, v);
    }
    return amap_fail(c, "unsupported type");
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
        return amap_fail(c, "missing required key \"%s\"", f->key);
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
        if (amap_keyset_find(&n->keys, key, klen) >= 0)
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
        rc = amap_avfail(c, "set_branch");
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
            return amap_avfail(c, "get_by_index");
        const json_t *fj =
            c->in_default ? json_object_get(j, f->name) : json_object_getn(j, f->key, f->keylen);
        amap_push_field(c, f->name);
        int rc;
        if (fj && !json_is_null(fj)) {
            rc = fill(c, f->type, f->flags, fj, &child);
        } else {
            rc = fill_absent(c, f, fj, &child);
        }
        amap_pop(c);
        if (rc)
            return -1;
        found += fj != NULL;
    }
    if (n->unmapped >= 0) {
        avro_value_t u;
        if (avro_value_get_by_index(v, (size_t)n->unmapped, &u, NULL))
            return amap_avfail(c, "get_by_index");
        amap_push_field(c, n->fields[n->unmapped].name);
        int rc = fill_unmapped(c, n, j, found, &u);
        amap_pop(c);
        return rc;
    }
    return 0;
}

int amap_fill(const amap_plan *m, const json_t *rec, avro_value_t *value, char *err, size_t errlen)
{
    fctx c;
    amap_ctx_init(&c, err, errlen);
    avro_value_t rv;
    if (avro_value_reset(value))
        return amap_avfail(&c, "reset");
    if (amap_record_value(&c, m, value, &rv, 1))
        return -1;
    if (!json_is_object(rec))
        return amap_mismatch(&c, m->root, rec);
    return fill_record(&c, m->root, rec, &rv);
}
