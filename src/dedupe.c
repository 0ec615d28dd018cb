/* dedupe.c — open-addressing hash map (linear probing, tombstones) from primary key to content
 * hash, laid out for memory and cache: packed 14-byte slots (8-byte content hash, 4-byte key
 * offset, 1-byte key tag, 1-byte reconciliation mark), so a probe touches one cache line. The
 * map is split into 64 shards by the key hash, each growing by 1.5x on its own: a growth copies
 * one shard, never the whole table, so the peak memory of a million keys stays close to the
 * live size (a single table held both the old and the 1.5x larger arrays while rehashing). Slots
 * are picked with a multiply-shift range reduction. Keys live in an arena of 1 MiB chunks (no
 * reallocation copies, no doubling slack), each prefixed by a 16-bit length; an offset is chunk
 * index << 20 | position. A removed key's bytes stay in the arena until the removed bytes
 * outweigh the live ones; then the live keys are copied into a fresh arena (compaction), so
 * the arena holds at most twice the live keys' bytes, whatever the churn. */
#include "dedupe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util.h"

#define OFF_EMPTY   UINT32_MAX
#define OFF_DELETED (UINT32_MAX - 1)
#define SHARD_BITS  6
#define N_SHARDS    (1 << SHARD_BITS)
#define MIN_CAP     16 /* per shard */

typedef struct __attribute__((packed)) slot {
    uint64_t hash; /* content hash */
    uint32_t off;  /* key offset in the arena, or OFF_EMPTY / OFF_DELETED */
    uint8_t tag;   /* 8 bits of the key hash: most probes never touch the arena */
    uint8_t mark;  /* last marking round that saw the key */
} slot;

typedef struct shard {
    slot *slots;
    size_t cap;
    size_t used; /* live + tombstones */
} shard;

/* The key arena: chunks of CHUNK_SIZE bytes (the first one starts at 4 KiB and grows). */
typedef struct arena {
    char **chunks;
    size_t n_chunks, cap_chunks;
    size_t chunk_len; /* bytes used in the last chunk */
    size_t chunk_cap; /* its size: the first chunk grows from 4 KiB, later ones are full */
} arena;

struct dedupe {
    shard shards[N_SHARDS];
    size_t live;
    uint8_t round;
    size_t marked;
    arena keys;
    size_t key_bytes;  /* arena bytes in use, removed keys included */
    size_t dead_bytes; /* of which removed keys */
    size_t max_chunks; /* the arena's limit (DEDUPE_MAX_ARENA) */
};

#define CHUNK_BITS 20
#define CHUNK_SIZE ((size_t)1 << CHUNK_BITS)
/* Compaction waits for this many removed bytes at least: small maps never bother. */
#define COMPACT_MIN_DEAD ((size_t)64 << 10)

static const char *arena_at(const dedupe *d, uint32_t off)
{
    return d->keys.chunks[off >> CHUNK_BITS] + (off & (CHUNK_SIZE - 1));
}

/* Keys are compared and stored by their first DEDUPE_MAX_KEY bytes, on every path. */
static size_t key_len(size_t len)
{
    return len > DEDUPE_MAX_KEY ? DEDUPE_MAX_KEY : len;
}

static int slot_live(const slot *s)
{
    return s->off < OFF_DELETED;
}

/* The key hash (in memory only, never persisted): eight bytes at a time. */
static uint64_t key_hash(const char *pk, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)len, w;
    while (len >= 8) {
        memcpy(&w, pk, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        pk += 8;
        len -= 8;
    }
    w = 0;
    memcpy(&w, pk, len);
    h = (h ^ w) * 0x94d049bb133111ebULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

static size_t shard_index(uint64_t h)
{
    return (size_t)(h >> (64 - SHARD_BITS));
}

static uint8_t tag_of(uint64_t h)
{
    return (uint8_t)h;
}

/* A shard's slot array of this size or more gets a mapping of its own. A growth frees the old
 * array, and freed arrays of every size a map grew through would otherwise stay in the heap as
 * holes (about twice its final slots; glibc keeps free memory in its arenas, allocator.c): the
 * 1 M-record Close backfill held 134-142 MiB for ~57 MB of keys. */
#define SLOTS_MAPPED_BYTES ((size_t)64 << 10)

static slot *slots_new(size_t cap)
{
    size_t bytes = cap * sizeof(slot);
    if (bytes < SLOTS_MAPPED_BYTES)
        return xmalloc(bytes);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fputs("crmstream: out of memory\n", stderr);
        abort(); /* like xmalloc */
    }
    return p;
}

static void slots_free(slot *slots, size_t cap)
{
    if (cap * sizeof(slot) < SLOTS_MAPPED_BYTES)
        free(slots);
    else if (munmap(slots, cap * sizeof(slot)) != 0)
        abort(); /* only a wrong address or length fails: a bug here */
}

static void alloc_slots(shard *s, size_t cap)
{
    s->cap = cap;
    s->slots = slots_new(cap);
    for (size_t i = 0; i < cap; i++) {
        s->slots[i].off = OFF_EMPTY;
        s->slots[i].mark = 0;
    }
}

dedupe *dedupe_new_limited(size_t max_arena)
{
    dedupe *d = xcalloc(1, sizeof(*d));
    for (int i = 0; i < N_SHARDS; i++)
        alloc_slots(&d->shards[i], MIN_CAP);
    if (max_arena > DEDUPE_MAX_ARENA)
        max_arena = DEDUPE_MAX_ARENA;
    d->max_chunks = max_arena / CHUNK_SIZE ? max_arena / CHUNK_SIZE : 1;
    return d;
}

dedupe *dedupe_new(void)
{
    return dedupe_new_limited(DEDUPE_MAX_ARENA);
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n_chunks; i++)
        free(a->chunks[i]);
    free(a->chunks);
    memset(a, 0, sizeof(*a));
}

void dedupe_free(dedupe *d)
{
    if (!d)
        return;
    for (int i = 0; i < N_SHARDS; i++)
        slots_free(d->shards[i].slots, d->shards[i].cap);
    arena_free(&d->keys);
    free(d);
}

size_t dedupe_memory(const dedupe *d)
{
    size_t n = sizeof(*d) + d->keys.cap_chunks * sizeof(char *);
    for (int i = 0; i < N_SHARDS; i++)
        n += d->shards[i].cap * sizeof(slot);
    for (size_t i = 0; i < d->keys.n_chunks; i++)
        n += i + 1 == d->keys.n_chunks ? d->keys.chunk_cap : CHUNK_SIZE;
    return n;
}

static const char *slot_key(const dedupe *d, const slot *s, size_t *len)
{
    uint16_t l;
    const char *k = arena_at(d, s->off);
    memcpy(&l, k, 2);
    *len = l;
    return k + 2;
}

/* 1 when a key of len bytes fits in the arena without a chunk beyond max_chunks. */
static int arena_fits(const arena *a, size_t len, size_t max_chunks)
{
    size_t need = a->chunk_len + len + 2;
    return a->n_chunks > 0 && (need <= a->chunk_cap || (a->n_chunks == 1 && need <= CHUNK_SIZE))
               ? 1
               : a->n_chunks < max_chunks;
}

static uint32_t arena_store(arena *a, const char *pk, size_t len)
{
    size_t need = a->chunk_len + len + 2;
    int first_grows = a->n_chunks == 1 && a->chunk_cap < CHUNK_SIZE;
    if (a->n_chunks == 0 || (need > a->chunk_cap && !first_grows)) {
        if (a->n_chunks == a->cap_chunks) {
            a->cap_chunks = a->cap_chunks ? a->cap_chunks * 2 : 8;
            a->chunks = xrealloc(a->chunks, a->cap_chunks * sizeof(char *));
        }
        a->chunk_cap = a->n_chunks == 0 ? 4096 : CHUNK_SIZE;
        a->chunks[a->n_chunks++] = xmalloc(a->chunk_cap);
        a->chunk_len = 0;
        need = len + 2;
    }
    if (need > a->chunk_cap) {
        /* the first chunk starts small (most maps hold few keys) and grows in place, to fit a
         * long first key too */
        while (a->chunk_cap < need)
            a->chunk_cap *= 4;
        if (a->chunk_cap > CHUNK_SIZE)
            a->chunk_cap = CHUNK_SIZE;
        a->chunks[0] = xrealloc(a->chunks[0], a->chunk_cap);
    }
    uint32_t off = (uint32_t)(((a->n_chunks - 1) << CHUNK_BITS) | a->chunk_len);
    char *k = a->chunks[a->n_chunks - 1] + a->chunk_len;
    uint16_t l = (uint16_t)len;
    memcpy(k, &l, 2);
    memcpy(k + 2, pk, len);
    a->chunk_len += len + 2;
    return off;
}

/* Copies the live keys into a fresh arena, slot by slot (the slots keep their places: only
 * their offsets change), and frees the old one. */
static void compact(dedupe *d)
{
    arena fresh = {0};
    for (int k = 0; k < N_SHARDS; k++) {
        shard *s = &d->shards[k];
        for (size_t i = 0; i < s->cap; i++) {
            slot *sl = &s->slots[i];
            if (!slot_live(sl))
                continue;
            size_t klen;
            const char *key = slot_key(d, sl, &klen);
            sl->off = arena_store(&fresh, key, klen);
        }
    }
    arena_free(&d->keys);
    d->keys = fresh;
    d->key_bytes -= d->dead_bytes;
    d->dead_bytes = 0;
}

/* Compacts when removed keys outweigh the live ones. Only inserts compact: the key pointers
 * dedupe_each and dedupe_each_unmarked hand out stay valid while their callback removes keys. */
static void compact_when_worth_it(dedupe *d)
{
    if (d->dead_bytes >= COMPACT_MIN_DEAD && d->dead_bytes > d->key_bytes - d->dead_bytes)
        compact(d);
}

/* Stores a key, compacting first when the arena is at its limit; a map whose live keys alone
 * fill DEDUPE_MAX_ARENA is a fatal error (as running out of memory is). */
static uint32_t store_key(dedupe *d, const char *pk, size_t len)
{
    compact_when_worth_it(d);
    if (!arena_fits(&d->keys, len, d->max_chunks) && d->dead_bytes > 0)
        compact(d);
    if (!arena_fits(&d->keys, len, d->max_chunks)) {
        fprintf(stderr, "crmstream: dedupe key store full (%zu live keys, %zu MiB of key bytes)\n",
                d->live, d->key_bytes >> 20);
        abort();
    }
    d->key_bytes += len + 2;
    return arena_store(&d->keys, pk, len);
}

/* The home slot of a key hash in a shard: a multiply-shift reduction onto [0, cap) of the bits
 * below the shard number. */
static size_t home_slot(uint64_t h, size_t cap)
{
    return (size_t)(((unsigned __int128)(h << SHARD_BITS) * cap) >> 64);
}

/* Index of pk's slot in s, or of the slot where it would go (first tombstone or empty) when
 * absent; *found tells which. */
static size_t find_slot(const dedupe *d, const shard *s, const char *pk, size_t len, uint64_t h,
                        int *found)
{
    uint8_t tag = tag_of(h);
    size_t i = home_slot(h, s->cap);
    size_t first_free = (size_t)-1;
    for (;;) {
        const slot *sl = &s->slots[i];
        uint32_t off = sl->off;
        if (off == OFF_EMPTY) {
            *found = 0;
            return first_free != (size_t)-1 ? first_free : i;
        }
        if (off == OFF_DELETED) {
            if (first_free == (size_t)-1)
                first_free = i;
        } else if (sl->tag == tag) {
            size_t klen;
            const char *k = slot_key(d, sl, &klen);
            if (klen == len && memcmp(k, pk, len) == 0) {
                *found = 1;
                return i;
            }
        }
        if (++i == s->cap)
            i = 0;
    }
}

/* Rehashes a shard into 1.5x the slots, or as many when tombstones are what filled it. */
static void grow(dedupe *d, shard *s)
{
    shard old = *s;
    size_t live = 0;
    for (size_t i = 0; i < old.cap; i++)
        live += slot_live(&old.slots[i]);
    alloc_slots(s, live * 2 >= old.cap ? old.cap + old.cap / 2 : old.cap);
    s->used = live;
    for (size_t i = 0; i < old.cap; i++) {
        const slot *o = &old.slots[i];
        /* the keys are read from the arena in slot order, i.e. at random: ask for the key of a
         * slot a few places ahead while this one is placed */
        if (i + 8 < old.cap && slot_live(&old.slots[i + 8]))
            __builtin_prefetch(arena_at(d, old.slots[i + 8].off));
        if (!slot_live(o))
            continue;
        uint16_t l; /* the key, read through the old offset from the shared arena */
        const char *k = arena_at(d, o->off);
        memcpy(&l, k, 2);
        int found;
        size_t j = find_slot(d, s, k + 2, l, key_hash(k + 2, l), &found);
        s->slots[j] = *o;
    }
    slots_free(old.slots, old.cap);
}

void dedupe_prefetch(const dedupe *d, const char *pk, size_t len)
{
    len = key_len(len);
    uint64_t h = key_hash(pk, len);
    const shard *s = &d->shards[shard_index(h)];
    __builtin_prefetch(&s->slots[home_slot(h, s->cap)]);
}

int dedupe_get(const dedupe *d, const char *pk, size_t len, uint64_t *hash)
{
    len = key_len(len);
    uint64_t h = key_hash(pk, len);
    const shard *s = &d->shards[shard_index(h)];
    int found;
    size_t i = find_slot(d, s, pk, len, h, &found);
    if (found && hash)
        *hash = s->slots[i].hash;
    return found;
}

int dedupe_swap(dedupe *d, const char *pk, size_t len, uint64_t hash, int mark, uint64_t *old)
{
    len = key_len(len);
    uint64_t h = key_hash(pk, len);
    shard *s = &d->shards[shard_index(h)];
    int found;
    size_t i = find_slot(d, s, pk, len, h, &found);
    if (found) {
        slot *sl = &s->slots[i];
        if (old)
            *old = sl->hash;
        sl->hash = hash;
        if (mark && sl->mark != d->round) {
            sl->mark = d->round;
            d->marked++;
        }
        return 1;
    }
    if ((s->used + 1) * 5 > s->cap * 4) { /* load factor 0.8 */
        grow(d, s);
        i = find_slot(d, s, pk, len, h, &found);
    }
    slot *sl = &s->slots[i];
    if (sl->off == OFF_EMPTY)
        s->used++;
    sl->hash = hash;
    sl->off = store_key(d, pk, len);
    sl->tag = tag_of(h);
    sl->mark = d->round;
    if (d->round)
        d->marked++;
    d->live++;
    return 0;
}

void dedupe_put(dedupe *d, const char *pk, size_t len, uint64_t hash)
{
    dedupe_swap(d, pk, len, hash, 0, NULL);
}

int dedupe_take(dedupe *d, const char *pk, size_t len, uint64_t *old)
{
    len = key_len(len);
    uint64_t h = key_hash(pk, len);
    shard *s = &d->shards[shard_index(h)];
    int found;
    size_t i = find_slot(d, s, pk, len, h, &found);
    if (!found)
        return 0;
    slot *sl = &s->slots[i];
    if (old)
        *old = sl->hash;
    if (d->round && sl->mark == d->round)
        d->marked--;
    sl->off = OFF_DELETED;
    sl->mark = 0;
    d->live--;
    d->dead_bytes += len + 2; /* reclaimed by the next insert (keys handed to fn stay valid) */
    return 1;
}

int dedupe_remove(dedupe *d, const char *pk, size_t len)
{
    return dedupe_take(d, pk, len, NULL);
}

size_t dedupe_count(const dedupe *d)
{
    return d->live;
}

void dedupe_mark_begin(dedupe *d)
{
    d->round++;
    if (d->round == 0) { /* wrapped: clear all marks */
        for (int k = 0; k < N_SHARDS; k++)
            for (size_t i = 0; i < d->shards[k].cap; i++)
                d->shards[k].slots[i].mark = 0;
        d->round = 1;
    }
    d->marked = 0;
}

int dedupe_mark(dedupe *d, const char *pk, size_t len)
{
    len = key_len(len);
    uint64_t h = key_hash(pk, len);
    shard *s = &d->shards[shard_index(h)];
    int found;
    size_t i = find_slot(d, s, pk, len, h, &found);
    if (!found)
        return 0;
    slot *sl = &s->slots[i];
    if (sl->mark != d->round) {
        sl->mark = d->round;
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
    for (int k = 0; k < N_SHARDS; k++) {
        const shard *s = &d->shards[k];
        for (size_t i = 0; i < s->cap; i++) {
            const slot *sl = &s->slots[i];
            if (!slot_live(sl) || sl->mark == d->round)
                continue;
            size_t klen;
            const char *key = slot_key(d, sl, &klen);
            fn(key, klen, u);
        }
    }
}

void dedupe_each(const dedupe *d, void (*fn)(const char *pk, size_t len, uint64_t hash, void *u),
                 void *u)
{
    for (int k = 0; k < N_SHARDS; k++) {
        const shard *s = &d->shards[k];
        for (size_t i = 0; i < s->cap; i++) {
            const slot *sl = &s->slots[i];
            if (!slot_live(sl))
                continue;
            size_t klen;
            const char *key = slot_key(d, sl, &klen);
            fn(key, klen, sl->hash, u);
        }
    }
}
