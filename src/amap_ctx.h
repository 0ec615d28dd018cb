/* amap_ctx.h — what filling a value from JSON (amap_fill.c) and reading it back to JSON
 * (amap_to_json.c) share: the path being walked, rendered only into error messages, and the
 * record value inside an optional union. Private to the amap_*.c files. */
#ifndef CRM_AMAP_CTX_H
#define CRM_AMAP_CTX_H

#include <avro.h>

#include "amap_plan.h"

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

/* At the root, writing CRM JSON (segs are set as the path grows: not cleared here). */
static inline void amap_ctx_init(fctx *c, char *err, size_t errlen)
{
    c->err = err;
    c->errlen = errlen;
    c->in_default = 0;
    c->depth = 0;
}

static inline void amap_push_field(fctx *c, const char *name)
{
    if (c->depth < MAX_PATH) {
        c->segs[c->depth].kind = SEG_FIELD;
        c->segs[c->depth].name = name;
    }
    c->depth++;
}

static inline void amap_push_index(fctx *c, size_t i)
{
    if (c->depth < MAX_PATH) {
        c->segs[c->depth].kind = SEG_INDEX;
        c->segs[c->depth].index = i;
    }
    c->depth++;
}

static inline void amap_push_key(fctx *c, const char *key)
{
    if (c->depth < MAX_PATH) {
        c->segs[c->depth].kind = SEG_KEY;
        c->segs[c->depth].name = key;
    }
    c->depth++;
}

static inline void amap_pop(fctx *c)
{
    c->depth--;
}

int amap_fail(fctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* amap_fail with avro_strerror() for the avro-c call `what`. */
int amap_avfail(fctx *c, const char *what);
/* "string \"abc\"", "integer 5", "object", ... for messages (at most ~60 characters of text). */
const char *amap_describe(const json_t *j, char *out, size_t n);
const char *amap_type_label(const node *n, char *out, size_t len);
/* "expected <type of n>, got <j>". */
int amap_mismatch(fctx *c, const node *n, const json_t *j);
/* The value to fill: the record itself, or the record branch of a union holding it. */
int amap_record_value(fctx *c, const amap_plan *m, avro_value_t *value, avro_value_t *out,
                      int select);

#endif
