/* amap_plan.h — the compiled plan's structures, private to the amap_*.c files: a tree of nodes
 * built once from a table's .avsc (amap_plan.c), walked by the DOM fill (amap_fill.c), the way
 * back to JSON (amap_to_json.c) and the raw encoder (amap_raw.c). */
#ifndef CRM_AMAP_PLAN_H
#define CRM_AMAP_PLAN_H

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "amap.h"
#include "json_scan.h"

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

enum logical { L_NONE, L_TS_MILLIS, L_TS_MICROS, L_DATE };

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

struct amap_plan {
    node *root;
    node **nodes; /* every node, for freeing */
    size_t nnodes, capnodes;
    node **named; /* named types by full name */
    size_t nnamed, capnamed;
};

/* Whether JSON j is a valid Avro default (or value written as one) for a node of type n. */
int amap_default_ok(const node *n, const json_t *j);

/* Type names for messages, by enum kind and enum logical. */
extern const char *const amap_kind_name[];
extern const char *const amap_logical_name[];

/* A cheap hash for the small sets here: the length and up to 16 bytes (the first and last 8).
 * Keys that share both ends only cost extra probes. */
static inline uint64_t amap_key_hash(const char *key, size_t len)
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

static inline int amap_keyset_find(const keyset *ks, const char *key, size_t len)
{
    if (!ks->slot)
        return -1;
    uint64_t h = amap_key_hash(key, len);
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

/* Division rounding towards minus infinity (times before 1970). */
static inline int64_t amap_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

#endif
