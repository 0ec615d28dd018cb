/* dedupe.c — open-addressing hash map (linear probing, tombstones) from primary key to content
 * hash, laid out for memory: parallel arrays of 8-byte content hashes, 4-byte key offsets, a
 * 1-byte key tag and a 1-byte reconciliation mark (14 bytes a slot, no padding). Capacity grows
 * by 1.5x and slots are picked with a multiply-shift range reduction, so a million keys fit in
 * about 20 MiB of slots plus their key bytes. Keys live in an append-only arena of 1 MiB chunks
 * (no reallocation copies, no doubling slack), each prefixed by a 16-bit length; an offset is
 * chunk index << 20 | position. */
#include "dedupe.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define OFF_EMPTY   UINT32_MAX
#define OFF_DELETED (UINT32_MAX - 1)
#define MIN_CAP     1024

struct dedupe {
    uint64_t *hashes; /* content hash per slot */
    uint32_t *offs;   /* key offset in the arena, or OFF_EMPTY / OFF_DELETED */
    uint8_t *tags;    /* 8 bits of the key hash: most probes never touch the arena */
    uint8_t *marks;   /* per slot: last marking round that saw the key */
    size_t cap;
    size_t live;
    size_t used; /* live + tombstones */
    uint8_t round;
    size_t marked;
    char **chunks; /* the key arena */
    size_t n_chunks, cap_chunks;
    size_t chunk_len; /* bytes used in the last chunk */
    size_t chunk_cap; /* its size: the first chunk grows from 4 KiB, later ones are full */
};

#define CHUNK_BITS 20
#define CHUNK_SIZE ((size_t)1 << CHUNK_BITS)

static const char *arena_at(const dedupe *d, uint32_t off)
{
    return d->chunks[off >> CHUNK_BITS] + (off & (CHUNK_SIZE - 1));
}

static int slot_live(const dedupe *d, size_t i)
{
    return d->offs[i] < OFF_DELETED;
}

static void alloc_slots(dedupe *d, size_t cap)
{
    d->cap = cap;
    d->hashes = xmalloc(cap * sizeof(uint64_t));
    d->offs = xmalloc(cap * sizeof(uint32_t));
    d->tags = xcalloc(cap, 1);
    d->marks = xcalloc(cap, 1);
    for (size_t i = 0; i < cap; i++)
        d->offs[i] = OFF_EMPTY;
}

static void free_slots(dedupe *d)
{
    free(d->hashes);
    free(d->offs);
    free(d->tags);
    free(d->marks);
}

dedupe *dedupe_new(void)
{
    dedupe *d = xcalloc(1, sizeof(*d));
    alloc_slots(d, MIN_CAP);
    return d;
}

void dedupe_free(dedupe *d)
{
    if (!d)
        return;
    free_slots(d);
    for (size_t i = 0; i < d->n_chunks; i++)
        free(d->chunks[i]);
    free(d->chunks);
    free(d);
}

static const char *slot_key(const dedupe *d, size_t i, size_t *len)
{
    uint16_t l;
    const char *k = arena_at(d, d->offs[i]);
    memcpy(&l, k, 2);
    *len = l;
    return k + 2;
}

static uint32_t arena_store(dedupe *d, const char *pk, size_t len)
{
    size_t need = d->chunk_len + len + 2;
    if (d->n_chunks == 1 && need > d->chunk_cap && d->chunk_cap < CHUNK_SIZE) {
        /* the first chunk starts small (most maps hold few keys) and grows in place */
        while (d->chunk_cap < need && d->chunk_cap < CHUNK_SIZE)
            d->chunk_cap *= 4;
        if (d->chunk_cap > CHUNK_SIZE)
            d->chunk_cap = CHUNK_SIZE;
        d->chunks[0] = xrealloc(d->chunks[0], d->chunk_cap);
    }
    if (d->n_chunks == 0 || need > d->chunk_cap) {
        if (d->n_chunks == d->cap_chunks) {
            d->cap_chunks = d->cap_chunks ? d->cap_chunks * 2 : 8;
            d->chunks = xrealloc(d->chunks, d->cap_chunks * sizeof(char *));
        }
        d->chunk_cap = d->n_chunks == 0 ? 4096 : CHUNK_SIZE;
        d->chunks[d->n_chunks++] = xmalloc(d->chunk_cap);
        d->chunk_len = 0;
    }
    uint32_t off = (uint32_t)(((d->n_chunks - 1) << CHUNK_BITS) | d->chunk_len);
    char *k = d->chunks[d->n_chunks - 1] + d->chunk_len;
    uint16_t l = (uint16_t)len;
    memcpy(k, &l, 2);
    memcpy(k + 2, pk, len);
    d->chunk_len += len + 2;
    return off;
}

/* The home slot of a key hash: a multiply-shift reduction onto [0, cap). */
static size_t home_slot(uint64_t h, size_t cap)
{
    return (size_t)(((unsigned __int128)h * cap) >> 64);
}

/* Index of pk's slot, or of the slot where it would go (first tombstone or empty) when absent;
 * *found tells which. */
static size_t find_slot(const dedupe *d, const char *pk, size_t len, int *found)
{
    uint64_t h = hash64(pk, len);
    uint8_t tag = (uint8_t)(h >> 56);
    size_t i = home_slot(h, d->cap);
    size_t first_free = (size_t)-1;
    for (;;) {
        uint32_t off = d->offs[i];
        if (off == OFF_EMPTY) {
            *found = 0;
            return first_free != (size_t)-1 ? first_free : i;
        }
        if (off == OFF_DELETED) {
            if (first_free == (size_t)-1)
                first_free = i;
        } else if (d->tags[i] == tag) {
            size_t klen;
            const char *k = slot_key(d, i, &klen);
            if (klen == len && memcmp(k, pk, len) == 0) {
                *found = 1;
                return i;
            }
        }
        if (++i == d->cap)
            i = 0;
    }
}

/* Rehashes into a table 1.5x larger, or the same size when tombstones are what filled it. */
static void grow(dedupe *d)
{
    dedupe old = *d;
    size_t cap = d->live * 2 >= d->cap ? d->cap + d->cap / 2 : d->cap;
    alloc_slots(d, cap);
    d->used = d->live;
    for (size_t i = 0; i < old.cap; i++) {
        if (!slot_live(&old, i))
            continue;
        uint16_t l; /* the key, read through the old offsets from the shared arena */
        const char *k = arena_at(d, old.offs[i]);
        memcpy(&l, k, 2);
        int found;
        size_t j = find_slot(d, k + 2, l, &found);
        d->hashes[j] = old.hashes[i];
        d->offs[j] = old.offs[i];
        d->tags[j] = old.tags[i];
        d->marks[j] = old.marks[i];
    }
    free_slots(&old);
}

int dedupe_get(const dedupe *d, const char *pk, size_t len, uint64_t *hash)
{
    int found;
    size_t i = find_slot(d, pk, len, &found);
    if (found && hash)
        *hash = d->hashes[i];
    return found;
}

void dedupe_put(dedupe *d, const char *pk, size_t len, uint64_t hash)
{
    if (len > 65535)
        len = 65535; /* primary keys are short; truncation keeps the map consistent */
    int found;
    size_t i = find_slot(d, pk, len, &found);
    if (found) {
        d->hashes[i] = hash;
        return;
    }
    if ((d->used + 1) * 5 > d->cap * 4) { /* load factor 0.8 */
        grow(d);
        i = find_slot(d, pk, len, &found);
    }
    if (d->offs[i] == OFF_EMPTY)
        d->used++;
    d->hashes[i] = hash;
    d->offs[i] = arena_store(d, pk, len);
    d->tags[i] = (uint8_t)(hash64(pk, len) >> 56);
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
    d->offs[i] = OFF_DELETED;
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
        if (!slot_live(d, i) || d->marks[i] == d->round)
            continue;
        size_t klen;
        const char *k = slot_key(d, i, &klen);
        fn(k, klen, u);
    }
}
