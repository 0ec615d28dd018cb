/* test_dedupe_log.c — the dedupe log: chunks round-trip, a state topic replays to the map the
 * engine holds (chunks, tombstones, dd/ records of earlier versions), a rewrite leaves a log
 * that replays to the same map before and after Kafka's compaction, and so does every partial
 * rewrite (a commit failing at any point). The topic is simulated: a list of records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dedupe.h"
#include "dedupe_log.h"
#include "kafka.h"
#include "state.h"

typedef struct record {
    char *key;
    size_t key_len;
    char *value; /* NULL: tombstone */
    size_t value_len;
} record;

typedef struct topic {
    record *r;
    size_t n, cap;
    int fail_at; /* the fail_at-th commit fails (0: never) */
    int commits;
} topic;

static void append_record(const char *t, const char *key, size_t key_len, const char *value,
                          size_t value_len, void *u)
{
    (void)t;
    topic *tp = u;
    if (tp->n == tp->cap) {
        tp->cap = tp->cap ? tp->cap * 2 : 64;
        tp->r = realloc(tp->r, tp->cap * sizeof(record));
    }
    record *r = &tp->r[tp->n++];
    r->key = malloc(key_len + 1);
    memcpy(r->key, key, key_len);
    r->key[key_len] = '\0';
    r->key_len = key_len;
    r->value = value ? malloc(value_len ? value_len : 1) : NULL;
    if (value && value_len)
        memcpy(r->value, value, value_len);
    r->value_len = value_len;
}

static int commit_to_topic(kafka_batch *b, void *u, char *err, size_t errlen)
{
    topic *tp = u;
    if (tp->fail_at && ++tp->commits == tp->fail_at) {
        snprintf(err, errlen, "simulated failure");
        return -1;
    }
    kafka_batch_each(b, append_record, tp);
    return 0;
}

static void topic_free(topic *tp)
{
    for (size_t i = 0; i < tp->n; i++) {
        free(tp->r[i].key);
        free(tp->r[i].value);
    }
    free(tp->r);
    memset(tp, 0, sizeof(*tp));
}

static void topic_copy(const topic *from, topic *to)
{
    memset(to, 0, sizeof(*to));
    for (size_t i = 0; i < from->n; i++)
        append_record(NULL, from->r[i].key, from->r[i].key_len, from->r[i].value,
                      from->r[i].value_len, to);
}

/* What Kafka's log cleaner leaves: the last record of each key, in offset order; keys whose
 * last record is a tombstone vanish (after delete.retention.ms). */
static void compact(const topic *from, topic *to)
{
    memset(to, 0, sizeof(*to));
    for (size_t i = 0; i < from->n; i++) {
        int later = 0;
        for (size_t j = i + 1; j < from->n && !later; j++)
            later = strcmp(from->r[i].key, from->r[j].key) == 0;
        if (!later && from->r[i].value)
            append_record(NULL, from->r[i].key, from->r[i].key_len, from->r[i].value,
                          from->r[i].value_len, to);
    }
}

/* The engine's restore: every record in order. */
static int replay(const topic *tp, dedupe *d, dedupe_log *l)
{
    for (size_t i = 0; i < tp->n; i++) {
        const record *r = &tp->r[i];
        const char *rest = r->key + strlen("dc/s/t/");
        size_t rest_len = r->key_len - strlen("dc/s/t/");
        int rc =
            strncmp(r->key, "dc/", 3) == 0
                ? dedupe_log_restore_chunk(l, d, strtoull(rest, NULL, 10), r->value, r->value_len)
                : dedupe_log_restore_legacy(l, d, rest, rest_len, r->value, r->value_len);
        if (rc)
            return -1;
    }
    return 0;
}

typedef struct cmp {
    const dedupe *other;
    int equal;
} cmp;

static void compare_entry(const char *pk, size_t len, uint64_t hash, void *u)
{
    cmp *c = u;
    uint64_t h;
    if (!dedupe_get(c->other, pk, len, &h) || h != hash)
        c->equal = 0;
}

static int same_map(const dedupe *a, const dedupe *b)
{
    cmp c = {b, dedupe_count(a) == dedupe_count(b)};
    dedupe_each(a, compare_entry, &c);
    return c.equal;
}

static int replays_to(const topic *tp, const dedupe *truth)
{
    dedupe *d = dedupe_new();
    dedupe_log *l = dedupe_log_new();
    int ok = replay(tp, d, l) == 0 && same_map(d, truth);
    dedupe_free(d);
    dedupe_log_free(l);
    return ok;
}

static int count_prefix(const topic *tp, const char *prefix)
{
    int n = 0;
    for (size_t i = 0; i < tp->n; i++)
        n += strncmp(tp->r[i].key, prefix, strlen(prefix)) == 0;
    return n;
}

typedef struct entry_list {
    char keys[64][300];
    int del[64];
    uint64_t hash[64];
    int n;
} entry_list;

static void remember_entry(const char *pk, size_t len, int is_delete, uint64_t hash, void *u)
{
    entry_list *e = u;
    if (e->n < 64) {
        snprintf(e->keys[e->n], sizeof(e->keys[0]), "%.*s", (int)len, pk);
        e->del[e->n] = is_delete;
        e->hash[e->n++] = hash;
    }
}

int main(void)
{
    /* Chunks round-trip, long keys (two-byte lengths) and any bytes included. */
    buf c;
    buf_init(&c);
    char long_key[200];
    memset(long_key, 'k', sizeof(long_key));
    dedupe_chunk_begin(&c);
    dedupe_chunk_put(&c, "lead_1", 6, 0x0102030405060708ULL);
    dedupe_chunk_delete(&c, "lead/2\n", 7);
    dedupe_chunk_put(&c, long_key, sizeof(long_key), 7);
    entry_list e = {0};
    CHECK(dedupe_chunk_each(c.data, c.len, remember_entry, &e) == 0);
    CHECK(e.n == 3);
    CHECK_STR(e.keys[0], "lead_1");
    CHECK(!e.del[0] && e.hash[0] == 0x0102030405060708ULL);
    CHECK_STR(e.keys[1], "lead/2\n");
    CHECK(e.del[1]);
    CHECK(strlen(e.keys[2]) == sizeof(long_key) && e.hash[2] == 7);
    CHECK(dedupe_chunk_each("C2", 2, remember_entry, &e) == -1);
    CHECK(dedupe_chunk_each(c.data, c.len - 1, remember_entry, &e) == -1); /* cut short */

    /* An earlier version's dd/ records, then commits of chunks (one abandoned). */
    topic tp = {0};
    dedupe *live = dedupe_new();
    dedupe_log *log = dedupe_log_new();
    char key[64];
    for (int i = 0; i < 50; i++) {
        int n = snprintf(key, sizeof(key), "dd/s/t/old_%d", i);
        append_record(NULL, key, (size_t)n, "0123456789abcdef", 16, &tp);
    }
    append_record(NULL, "dd/s/t/old_49", 13, NULL, 0, &tp);
    CHECK(replay(&tp, live, log) == 0);
    CHECK(dedupe_count(live) == 49);
    uint64_t h = 0;
    CHECK(dedupe_get(live, "old_3", 5, &h) && h == (0x0123456789abcdefULL | CONTENT_HASH_LEGACY));
    CHECK(dedupe_log_wants_rewrite(log, live)); /* dd/ records must go */

    kafka_batch *b = kafka_batch_new();
    for (int commit = 0; commit < 40; commit++) {
        kafka_batch_clear(b);
        dedupe_chunk_begin(&c);
        dedupe *before = dedupe_new();
        size_t entries = 0;
        int n_changes = 1 + (int)(check_rand() % 30);
        int abandon = commit == 7;
        for (int i = 0; i < n_changes; i++) {
            unsigned r = (unsigned)(check_rand() >> 32);
            int n = r % 5 == 0 ? snprintf(key, sizeof(key), "old_%u", r % 60)
                               : snprintf(key, sizeof(key), "k%u", r % 120);
            if (r % 7 == 0) {
                dedupe_chunk_delete(&c, key, (size_t)n);
                if (!abandon)
                    dedupe_remove(live, key, (size_t)n);
            } else {
                dedupe_chunk_put(&c, key, (size_t)n, r);
                if (!abandon)
                    dedupe_put(live, key, (size_t)n, r);
            }
            entries++;
        }
        dedupe_free(before);
        dedupe_log_add(log, b, "state", "s", "t", &c, entries);
        if (abandon) {
            dedupe_log_abandoned(log);
            continue;
        }
        CHECK(commit_to_topic(b, &tp, NULL, 0) == 0);
        dedupe_log_committed(log);
    }
    CHECK(dedupe_log_chunks(log) == 39);
    CHECK(count_prefix(&tp, "dc/") == 39);
    CHECK(replays_to(&tp, live));
    topic compacted;
    compact(&tp, &compacted);
    CHECK(replays_to(&compacted, live));
    topic_free(&compacted);

    /* The rewrite failing at each of its commits: whatever committed still replays to the same
     * map, before and after compaction. */
    for (int fail_at = 1; fail_at <= 3; fail_at++) {
        topic t2;
        topic_copy(&tp, &t2);
        dedupe *d2 = dedupe_new();
        dedupe_log *l2 = dedupe_log_new();
        CHECK(replay(&t2, d2, l2) == 0 && same_map(d2, live));
        t2.fail_at = fail_at;
        char err[128] = "";
        int rc =
            dedupe_log_rewrite(l2, d2, "state", "s", "t", commit_to_topic, &t2, err, sizeof(err));
        CHECK(rc == -1 || fail_at > t2.commits);
        CHECK(replays_to(&t2, live));
        compact(&t2, &compacted);
        CHECK(replays_to(&compacted, live));
        topic_free(&compacted);
        /* and the next rewrite, which succeeds, finishes the job */
        t2.fail_at = 0;
        CHECK(dedupe_log_rewrite(l2, d2, "state", "s", "t", commit_to_topic, &t2, err,
                                 sizeof(err)) == 0);
        compact(&t2, &compacted);
        CHECK(replays_to(&compacted, live));
        CHECK(count_prefix(&compacted, "dd/") == 0);
        CHECK(count_prefix(&compacted, "dc/") == (int)dedupe_log_chunks(l2));
        CHECK(!dedupe_log_wants_rewrite(l2, d2));
        topic_free(&compacted);
        topic_free(&t2);
        dedupe_free(d2);
        dedupe_log_free(l2);
    }

    /* A full rewrite: one chunk holds the live map, the rest is tombstoned. */
    char err[128] = "";
    CHECK(dedupe_log_rewrite(log, live, "state", "s", "t", commit_to_topic, &tp, err,
                             sizeof(err)) == 0);
    CHECK(dedupe_log_chunks(log) == 1 && dedupe_log_entries(log) == dedupe_count(live));
    CHECK(!dedupe_log_wants_rewrite(log, live));
    CHECK(replays_to(&tp, live));
    compact(&tp, &compacted);
    CHECK(replays_to(&compacted, live));
    CHECK(count_prefix(&compacted, "dd/") == 0 && count_prefix(&compacted, "dc/") == 1);
    /* the next commit numbers past every chunk ever written */
    kafka_batch_clear(b);
    dedupe_chunk_begin(&c);
    dedupe_chunk_put(&c, "after", 5, 1);
    dedupe_log_add(log, b, "state", "s", "t", &c, 1);
    CHECK(commit_to_topic(b, &tp, NULL, 0) == 0);
    dedupe_log_committed(log);
    dedupe_put(live, "after", 5, 1);
    topic_free(&compacted);
    compact(&tp, &compacted);
    CHECK(count_prefix(&compacted, "dc/") == 2);
    CHECK(replays_to(&compacted, live));
    /* a second rewrite: once compacted, the first rewrite's dd/ tombstones (still retained)
     * precede every chunk and read as deletes; the new chunks restate the live keys after them */
    CHECK(dedupe_log_rewrite(log, live, "state", "s", "t", commit_to_topic, &tp, err,
                             sizeof(err)) == 0);
    topic_free(&compacted);
    compact(&tp, &compacted);
    topic retained = {0}; /* the retained dd/ tombstones, then what compaction keeps */
    for (size_t i = 0; i < tp.n; i++)
        if (!tp.r[i].value && strncmp(tp.r[i].key, "dd/", 3) == 0)
            append_record(NULL, tp.r[i].key, tp.r[i].key_len, NULL, 0, &retained);
    for (size_t i = 0; i < compacted.n; i++)
        append_record(NULL, compacted.r[i].key, compacted.r[i].key_len, compacted.r[i].value,
                      compacted.r[i].value_len, &retained);
    CHECK(count_prefix(&retained, "dd/") == 50 && count_prefix(&retained, "dc/") == 1);
    CHECK(replays_to(&retained, live));
    topic_free(&retained);

    /* Thresholds: a log of a few times the live map wants a rewrite. */
    dedupe *small = dedupe_new();
    dedupe_log *sl = dedupe_log_new();
    CHECK(!dedupe_log_wants_rewrite(sl, small));
    for (int i = 0; i < 1100; i++) {
        dedupe_chunk_begin(&c);
        dedupe_chunk_put(&c, "same", 4, (uint64_t)i);
        dedupe_log_add(sl, b, "state", "s", "t", &c, 1);
        dedupe_log_committed(sl);
    }
    dedupe_put(small, "same", 4, 1099);
    CHECK(dedupe_log_wants_rewrite(sl, small));

    dedupe_free(small);
    dedupe_log_free(sl);
    topic_free(&compacted);
    topic_free(&tp);
    kafka_batch_free(b);
    dedupe_free(live);
    dedupe_log_free(log);
    buf_free(&c);
    return check_summary("dedupe_log");
}
