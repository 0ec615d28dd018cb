/* dedupe.c — open-addressing hash map (linear probing, tombstones) from primary key to content
 * hash. Keys live in an append-only arena, each prefixed by a 16-bit length. */
#include "dedupe.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TAG_EMPTY   0u
#define TAG_DELETED 1u

typedef struct slot {
    uint64_t hash; /* content hash */
    uint32_t off;  /* key offset in the arena */
    uint32_t tag;  /* high 32 bits of the key hash, never 0 or 1 for a live slot */
} slot;

struct dedupe {
    slot *slots;
    uint8_t *marks; /* per slot: last marking round that saw the key */
    size_t cap;     /* power of two */
    size_t live;
    size_t used; /* live + tombstones */
    uint8_t round;
    size_t marked;
    char *arena;
    size_t arena_len, arena_cap;
};

static uint32_t key_tag(uint64_t h)
{
    uint32_t t = (uint32_t)(h >> 32);
    return t < 2 ? t + 2 : t;
}

dedupe *dedupe_new(void)
{
    dedupe *d = xcalloc(1, sizeof(*d));
    d->cap = 1024;
    d->slots = xcalloc(d->cap, sizeof(slot));
    d->marks = xcalloc(d->cap, 1);
    return d;
}

void dedupe_free(dedupe *d)
{
    if (!d)
        return;
    free(d->slots);
    free(d->marks);
    free(d->arena);
    free(d);
}

static const char *slot_key(const dedupe *d, const slot *s, size_t *len)
{
    uint16_t l;
    memcpy(&l, d->arena + s->off, 2);
    *len = l;
    return d->arena + s->off + 2;
}

static uint32_t arena_store(dedupe *d, const char *pk, size_t len)
{
    if (d->arena_len + len + 2 > d->arena_cap) {
        size_t cap = d->arena_cap ? d->arena_cap : 4096;
        while (cap < d->arena_len + len + 2)
            cap *= 2;
        d->arena = xrealloc(d->arena, cap);
        d->arena_cap = cap;
    }
    uint32_t off = (uint32_t)d->arena_len;
    uint16_t l = (uint16_t)len;
    memcpy(d->arena + off, &l, 2);
    memcpy(d->arena + off + 2, pk, len);
    d->arena_len += len + 2;
    return off;
}

/* Index of pk's slot, or of the slot where it would go (first tombstone or empty) when absent;
 * *found tells which. */
static size_t find_slot(const dedupe *d, const char *pk, size_t len, int *found)
{
    uint64_t h = hash64(pk, len);
    uint32_t tag = key_tag(h);
    size_t mask = d->cap - 1;
    size_t i = (size_t)h & mask;
    size_t first_free = (size_t)-1;
    for (;;) {
        const slot *s = &d->slots[i];
        if (s->tag == TAG_EMPTY) {
            *found = 0;
            return first_free != (size_t)-1 ? first_free : i;
        }
        if (s->tag == TAG_DELETED) {
            if (first_free == (size_t)-1)
                first_free = i;
        } else if (s->tag == tag) {
            size_t klen;
            const char *k = slot_key(d, s, &klen);
            if (klen == len && memcmp(k, pk, len) == 0) {
                *found = 1;
                return i;
            }
        }
        i = (i + 1) & mask;
    }
}

static void grow(dedupe *d)
{
    slot *old = d->slots;
    uint8_t *old_marks = d->marks;
    size_t old_cap = d->cap;
    /* Only grow when live keys need it; otherwise rehash in place to drop tombstones. */
    if (d->live * 2 >= d->cap)
        d->cap *= 2;
    d->slots = xcalloc(d->cap, sizeof(slot));
    d->marks = xcalloc(d->cap, 1);
    d->used = d->live;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].tag < 2)
            continue;
        size_t klen;
        const char *k = slot_key(d, &old[i], &klen);
        int found;
        size_t j = find_slot(d, k, klen, &found);
        d->slots[j] = old[i];
        d->marks[j] = old_marks[i];
    }
    free(old);
    free(old_marks);
}

int dedupe_get(const dedupe *d, const char *pk, size_t len, uint64_t *hash)
{
    int found;
    size_t i = find_slot(d, pk, len, &found);
    if (found && hash)
        *hash = d->slots[i].hash;
    return found;
}

void dedupe_put(dedupe *d, const char *pk, size_t len, uint64_t hash)
{
    if (len > 65535)
        len = 65535; /* primary keys are short; truncation keeps the map consistent */
    int found;
    size_t i = find_slot(d, pk, len, &found);
    if (found) {
        d->slots[i].hash = hash;
        return;
    }
    if ((d->used + 1) * 4 > d->cap * 3) {
        grow(d);
        i = find_slot(d, pk, len, &found);
    }
    slot *s = &d->slots[i];
    if (s->tag == TAG_EMPTY)
        d->used++;
    s->hash = hash;
    s->off = arena_store(d, pk, len);
    s->tag = key_tag(hash64(pk, len));
    d->marks[i] = d->round;
    if (d->round)
        d->marked++;
    d->live++;
}

int dedupe_remove(dedupe *d, const char *pk, size_t len)
{
    int found;
    size_t i = find_slot(d, pk, len, &found);
    if (!found)
        return 0;
    if (d->round && d->marks[i] == d->round)
        d->marked--;
    d->slots[i].tag = TAG_DELETED;
    d->marks[i] = 0;
    d->live--;
    return 1;
}

size_t dedupe_count(const dedupe *d)
{
    return d->live;
}

void dedupe_mark_begin(dedupe *d)
{
    d->round++;
    if (d->round == 0) { /* wrapped: clear all marks */
        memset(d->marks, 0, d->cap);
        d->round = 1;
    }
    d->marked = 0;
}

int dedupe_mark(dedupe *d, const char *pk, size_t len)
{
    int found;
    size_t i = find_slot(d, pk, len, &found);
    if (!found)
        return 0;
    if (d->marks[i] != d->round) {
        d->marks[i] = d->round;
        d->marked++;
    }
    return 1;
}

size_t dedupe_marked(const dedupe *d)
{
    return d->marked;
}

void dedupe_each_unmarked(const dedupe *d, void (*fn)(const char *pk, size_t len, void *u), void *u)
{
    for (size_t i = 0; i < d->cap; i++) {
        if (d->slots[i].tag < 2 || d->marks[i] == d->round)
            continue;
        size_t klen;
        const char *k = slot_key(d, &d->slots[i], &klen);
        fn(k, klen, u);
    }
}
