/* amap_ctx.c — error messages naming the field path and what was found, for the DOM fill and
 * the way back to JSON (see amap_ctx.h). */
#include "amap_ctx.h"

#include <stdarg.h>
#include <stdio.h>

#include "util.h"

int amap_fail(fctx *c, const char *fmt, ...)
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

int amap_avfail(fctx *c, const char *what)
{
    return amap_fail(c, "avro %s: %s", what, avro_strerror());
}

const char *amap_describe(const json_t *j, char *out, size_t n)
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

const char *amap_type_label(const node *n, char *out, size_t len)
{
    if (n->logical != L_NONE)
        snprintf(out, len, "%s", amap_logical_name[n->logical]);
    else if (n->fullname)
        snprintf(out, len, "%s %s", amap_kind_name[n->kind], n->fullname);
    else
        snprintf(out, len, "%s", amap_kind_name[n->kind]);
    return out;
}

int amap_mismatch(fctx *c, const node *n, const json_t *j)
{
    char want[160], got[128];
    return amap_fail(c, "expected %s, got %s", amap_type_label(n, want, sizeof(want)),
                     amap_describe(j, got, sizeof(got)));
}

int amap_record_value(fctx *c, const amap_plan *m, avro_value_t *value, avro_value_t *out,
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
                return amap_fail(c, "the union value has no branch for record %s",
                                 m->root->fullname);
            if (avro_value_set_branch(value, disc, out))
                return amap_avfail(c, "set_branch");
        } else if (avro_value_get_current_branch(value, out)) {
            return amap_avfail(c, "get_current_branch");
        }
    }
    if (avro_value_get_type(out) != AVRO_RECORD)
        return amap_fail(c, "the avro value is not a record");
    size_t size = 0;
    if (avro_value_get_size(out, &size) || size != m->root->nfields)
        return amap_fail(c, "the avro value has %zu fields, the schema of %s %zu", size,
                         m->root->fullname, m->root->nfields);
    return 0;
}
