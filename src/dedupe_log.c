/* dedupe_log.c — the dedupe map as a log of chunks in the state topic (see dedupe_log.h).
 *
 * Chunk value: "C1", then per entry the key length (unsigned LEB128), the key bytes, and 'p'
 * with the 8-byte little-endian content hash, or 'd' for a delete. */
#include "dedupe_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "varint.h"

#define REWRITE_BATCH_BYTES    (4 * 1024 * 1024)
#define REWRITE_BATCH_MESSAGES 4000

typedef struct chunk_ref {
    uint64_t seq;
    size_t entries;
} chunk_ref;

typedef struct chunk_list {
    chunk_ref *refs;
    size_t n, cap;
} chunk_list;

struct dedupe_log {
    chunk_list live;    /* committed chunks not tombstoned, in sequence order */
    chunk_list pending; /* added to a batch not committed yet */
    size_t entries;     /* in live chunks */
    uint64_t next_seq;
    dedupe *legacy;     /* keys with a dd/ record (value: unused), or NULL */
    int restored_chunk; /* a dc/ record (value or tombstone) was replayed */
    buf key;
};

dedupe_log *dedupe_log_new(void)
{
    dedupe_log *l = xcalloc(1, sizeof(*l));
    buf_init(&l->key);
    return l;
}

void dedupe_log_free(dedupe_log *l)
{
    if (!l)
        return;
    free(l->live.refs);
    free(l->pending.refs);
    dedupe_free(l->legacy);
    buf_free(&l->key);
    free(l);
}

static void list_push(chunk_list *cl, uint64_t seq, size_t entries)
{
    if (cl->n == cl->cap) {
        cl->cap = cl->cap ? cl->cap * 2 : 16;
        cl->refs = xrealloc(cl->refs, cl->cap * sizeof(chunk_ref));
    }
    cl->refs[cl->n++] = (chunk_ref){seq, entries};
}

/* Index of seq in cl, or -1. */
static long list_find(const chunk_list *cl, uint64_t seq)
{
    for (size_t i = cl->n; i-- > 0;)
        if (cl->refs[i].seq == seq)
            return (long)i;
    return -1;
}

/* Removes the first n refs of cl. */
static void list_drop_front(chunk_list *cl, size_t n)
{
    memmove(cl->refs, cl->refs + n, (cl->n - n) * sizeof(chunk_ref));
    cl->n -= n;
}

/* ---- chunks ------------------------------------------------------------------------------ */

void dedupe_chunk_begin(buf *c)
{
    buf_reset(c);
    buf_append(c, "C1", 2);
}

static void put_key(buf *c, const char *pk, size_t len)
{
    unsigned char v[VARINT_MAX];
    buf_append(c, v, varint_put(len, v));
    buf_append(c, pk, len);
}

void dedupe_chunk_put(buf *c, const char *pk, size_t len, uint64_t hash)
{
    put_key(c, pk, len);
    unsigned char h[9] = {'p'};
    for (int i = 0; i < 8; i++)
        h[1 + i] = (unsigned char)(hash >> (8 * i));
    buf_append(c, h, sizeof(h));
}

void dedupe_chunk_delete(buf *c, const char *pk, size_t len)
{
    put_key(c, pk, len);
    buf_append(c, "d", 1);
}

int dedupe_chunk_each(const char *value, size_t len, dedupe_chunk_fn fn, void *u)
{
    const unsigned char *p = (const unsigned char *)value, *end = p + len;
    if (len < 2 || p[0] != 'C' || p[1] != '1')
        return -1;
    p += 2;
    while (p < end) {
        size_t klen = 0;
        int shift = 0;
        for (;;) {
            if (p >= end || shift > 28)
                return -1;
            klen |= (size_t)(*p & 0x7f) << shift;
            shift += 7;
            if (!(*p++ & 0x80))
                break;
        }
        if ((size_t)(end - p) < klen + 1)
            return -1;
        const char *pk = (const char *)p;
        p += klen;
        if (*p == 'd') {
            p++;
            fn(pk, klen, 1, 0, u);
        } else if (*p == 'p' && end - p >= 9) {
            uint64_t h = 0;
            for (int i = 0; i < 8; i++)
                h |= (uint64_t)p[1 + i] << (8 * i);
            p += 9;
            fn(pk, klen, 0, h, u);
        } else {
            return -1;
        }
    }
    return 0;
}

/* ---- restore ----------------------------------------------------------------------------- */

static void count_entry(const char *pk, size_t len, int is_delete, uint64_t hash, void *u)
{
    (void)pk, (void)len, (void)is_delete, (void)hash;
    (*(size_t *)u)++;
}

static void apply_entry(const char *pk, size_t len, int is_delete, uint64_t hash, void *u)
{
    if (is_delete)
        dedupe_remove(u, pk, len);
    else
        dedupe_put(u, pk, len, hash);
}

int dedupe_log_restore_chunk(dedupe_log *l, dedupe *d, uint64_t seq, const char *value, size_t len)
{
    l->restored_chunk = 1;
    if (seq >= l->next_seq)
        l->next_seq = seq + 1;
    long at = list_find(&l->live, seq);
    if (at >= 0) { /* rewritten (an at-least-once retry) or tombstoned */
        l->entries -= l->live.refs[at].entries;
        memmove(l->live.refs + at, l->live.refs + at + 1,
                (l->live.n - (size_t)at - 1) * sizeof(chunk_ref));
        l->live.n--;
    }
    if (!value)
        return 0;
    size_t entries = 0;
    if (dedupe_chunk_each(value, len, count_entry, &entries))
        return -1;
    dedupe_chunk_each(value, len, apply_entry, d);
    list_push(&l->live, seq, entries);
    l->entries += entries;
    return 0;
}

int dedupe_log_restore_legacy(dedupe_log *l, dedupe *d, const char *pk, size_t len,
                              const char *value, size_t vlen)
{
    if (!value) {
        /* Earlier versions wrote dd/ tombstones for deletes, before any chunk existed; a dd/
         * tombstone after a chunk is a rewrite retiring the record, whose key the rewrite's
         * chunks restate. (Once compaction removed those chunks, the tombstones may precede
         * every chunk: deleting then is harmless, as a later rewrite's chunks restate every
         * live key.) */
        if (!l->restored_chunk)
            dedupe_remove(d, pk, len);
        if (l->legacy)
            dedupe_remove(l->legacy, pk, len);
        return 0;
    }
    uint64_t hash;
    if (state_dedupe_parse(value, vlen, &hash))
        return -1;
    dedupe_put(d, pk, len, hash);
    if (!l->legacy)
        l->legacy = dedupe_new();
    dedupe_put(l->legacy, pk, len, 0);
    return 0;
}

/* ---- writing ----------------------------------------------------------------------------- */

static void chunk_key(dedupe_log *l, const char *source, const char *table, uint64_t seq)
{
    buf_reset(&l->key);
    buf_printf(&l->key, "dc/%s/%s/%016llu", source, table, (unsigned long long)seq);
}

void dedupe_log_add(dedupe_log *l, kafka_batch *state, const char *state_topic, const char *source,
                    const char *table, const buf *c, size_t entries)
{
    uint64_t seq = l->next_seq + l->pending.n;
    chunk_key(l, source, table, seq);
    kafka_batch_add(state, state_topic, l->key.data, l->key.len, c->data, c->len);
    list_push(&l->pending, seq, entries);
}

void dedupe_log_committed(dedupe_log *l)
{
    for (size_t i = 0; i < l->pending.n; i++) {
        list_push(&l->live, l->pending.refs[i].seq, l->pending.refs[i].entries);
        l->entries += l->pending.refs[i].entries;
    }
    l->next_seq += l->pending.n;
    l->pending.n = 0;
}

void dedupe_log_abandoned(dedupe_log *l)
{
    l->pending.n = 0;
}

int dedupe_log_wants_rewrite(const dedupe_log *l, const dedupe *d)
{
    size_t live = dedupe_count(d);
    return l->legacy != NULL || l->entries > 2 * live + 1000 || l->live.n > 64 + live / 1000;
}

size_t dedupe_log_chunks(const dedupe_log *l)
{
    return l->live.n;
}

size_t dedupe_log_entries(const dedupe_log *l)
{
    return l->entries;
}

/* A rewrite in progress: what is batched, what committed. */
typedef struct rewrite {
    dedupe_log *l;
    const char *topic, *source, *table;
    dedupe_log_commit_fn commit;
    void *u;
    kafka_batch *batch;
    buf chunk;
    size_t chunk_entries;
    chunk_list batched; /* snapshot chunks in the batch */
    chunk_list written; /* snapshot chunks committed */
    int failed;
    char *err;
    size_t errlen;
} rewrite;

static void commit_rewrite_batch(rewrite *r)
{
    if (r->failed || kafka_batch_count(r->batch) == 0)
        return;
    if (r->commit(r->batch, r->u, r->err, r->errlen)) {
        r->failed = 1;
        return;
    }
    kafka_batch_clear(r->batch);
    for (size_t i = 0; i < r->batched.n; i++)
        list_push(&r->written, r->batched.refs[i].seq, r->batched.refs[i].entries);
    r->batched.n = 0;
}

static void seal_snapshot_chunk(rewrite *r)
{
    if (r->chunk_entries == 0)
        return;
    uint64_t seq = r->l->next_seq++;
    chunk_key(r->l, r->source, r->table, seq);
    kafka_batch_add(r->batch, r->topic, r->l->key.data, r->l->key.len, r->chunk.data, r->chunk.len);
    list_push(&r->batched, seq, r->chunk_entries);
    dedupe_chunk_begin(&r->chunk);
    r->chunk_entries = 0;
    if (kafka_batch_bytes(r->batch) >= REWRITE_BATCH_BYTES)
        commit_rewrite_batch(r);
}

static void snapshot_entry(const char *pk, size_t len, uint64_t hash, void *u)
{
    rewrite *r = u;
    if (r->failed)
        return;
    dedupe_chunk_put(&r->chunk, pk, len, hash);
    r->chunk_entries++;
    if (r->chunk.len >= DEDUPE_LOG_CHUNK_BYTES)
        seal_snapshot_chunk(r);
}

static void tombstone(rewrite *r, const char *key, size_t len)
{
    kafka_batch_add(r->batch, r->topic, key, len, NULL, 0);
    if (kafka_batch_count(r->batch) >= REWRITE_BATCH_MESSAGES)
        commit_rewrite_batch(r);
}

static void tombstone_legacy(const char *pk, size_t len, uint64_t hash, void *u)
{
    rewrite *r = u;
    (void)hash;
    if (r->failed)
        return;
    state_key_dedupe(&r->l->key, r->source, r->table, pk, len);
    tombstone(r, r->l->key.data, r->l->key.len);
}

static int by_seq(const void *a, const void *b)
{
    uint64_t x = ((const chunk_ref *)a)->seq, y = ((const chunk_ref *)b)->seq;
    return x < y ? -1 : x > y;
}

int dedupe_log_rewrite(dedupe_log *l, const dedupe *d, const char *state_topic, const char *source,
                       const char *table, dedupe_log_commit_fn commit, void *u, char *err,
                       size_t errlen)
{
    rewrite r = {l,   state_topic, source, table, commit, u,   kafka_batch_new(),
                 {0}, 0,           {0},    {0},   0,      err, errlen};
    buf_init(&r.chunk);
    dedupe_chunk_begin(&r.chunk);
    /* 1. the live map as fresh chunks: once committed, the log replays to d whatever else it
     *    holds before them */
    dedupe_each(d, snapshot_entry, &r);
    if (!r.failed)
        seal_snapshot_chunk(&r);
    commit_rewrite_batch(&r);
    size_t old = l->live.n;
    qsort(l->live.refs, old, sizeof(chunk_ref), by_seq);
    for (size_t i = 0; i < r.written.n; i++) { /* committed, even when a later batch failed */
        list_push(&l->live, r.written.refs[i].seq, r.written.refs[i].entries);
        l->entries += r.written.refs[i].entries;
    }
    if (!r.failed) {
        /* 2. tombstones, oldest records first (dd/ ones predate every chunk), so that any
         *    committed part leaves a suffix of the log that still replays to d */
        if (l->legacy)
            dedupe_each(l->legacy, tombstone_legacy, &r);
        commit_rewrite_batch(&r);
        if (!r.failed) {
            dedupe_free(l->legacy);
            l->legacy = NULL;
        }
        size_t done = 0;
        for (size_t i = 0; i < old && !r.failed; i++) {
            chunk_key(l, source, table, l->live.refs[i].seq);
            tombstone(&r, l->key.data, l->key.len);
            if (kafka_batch_count(r.batch) == 0 && !r.failed)
                done = i + 1; /* committed through this one */
        }
        commit_rewrite_batch(&r);
        if (!r.failed)
            done = old;
        for (size_t i = 0; i < done; i++)
            l->entries -= l->live.refs[i].entries;
        list_drop_front(&l->live, done);
    }
    free(r.batched.refs);
    free(r.written.refs);
    buf_free(&r.chunk);
    kafka_batch_free(r.batch);
    return r.failed ? -1 : 0;
}
