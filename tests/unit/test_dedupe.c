/* test_dedupe.c — the dedupe map: unchanged records are recognized, changes are not, removals
 * and reconciliation marking work, and growth keeps every key. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "dedupe.h"

static void count_unmarked(const char *pk, size_t len, void *u)
{
    (void)pk;
    (void)len;
    (*(int *)u)++;
}

static void remember_unmarked(const char *pk, size_t len, void *u)
{
    snprintf(u, 64, "%.*s", (int)len, pk);
}

/* A 27-byte key of round r, number i (the bench's key size). */
static size_t round_key(char *k, int r, int i)
{
    return (size_t)snprintf(k, 32, "rnd%02d_%020d", r, i);
}

/* Five rounds of full replacement (every key removed, as many new ones inserted) leave the map
 * within 1.5x the memory of the first round (the arena used to keep every removed key: 4x). */
static void check_churn(void)
{
    enum { N = 100000 };
    dedupe *d = dedupe_new();
    char k[32];
    for (int i = 0; i < N; i++)
        dedupe_put(d, k, round_key(k, 0, i), (uint64_t)i);
    size_t first = dedupe_memory(d);
    int removed = 1;
    for (int r = 1; r <= 5; r++) {
        for (int i = 0; i < N; i++)
            removed &= dedupe_remove(d, k, round_key(k, r - 1, i));
        for (int i = 0; i < N; i++)
            dedupe_put(d, k, round_key(k, r, i), (uint64_t)(r * N + i));
    }
    CHECK(removed);
    size_t last = dedupe_memory(d);
    fprintf(stderr, "  dedupe churn: %zu keys, %zu bytes after one round, %zu after six\n",
            (size_t)N, first, last);
    CHECK(last <= first + first / 2);
    int ok = dedupe_count(d) == N;
    uint64_t h;
    for (int i = 0; i < N && ok; i++)
        ok = dedupe_get(d, k, round_key(k, 5, i), &h) && h == (uint64_t)(5 * N + i) &&
             !dedupe_get(d, k, round_key(k, 4, i), NULL);
    CHECK(ok);
    dedupe_free(d);
}

/* Removing keys from the reconciliation visit, then inserting: the visited key stays valid
 * during its callback (ASan/valgrind check the reads), compaction happens on the insert. */
typedef struct take_ctx {
    dedupe *d;
    size_t taken, bytes;
} take_ctx;

static void take_unmarked(const char *pk, size_t len, void *u)
{
    take_ctx *t = u;
    t->taken += dedupe_remove(t->d, pk, len);
    for (size_t i = 0; i < len; i++) /* read after the removal */
        t->bytes += (unsigned char)pk[i] != 0;
}

static void check_remove_while_visiting(void)
{
    dedupe *d = dedupe_new();
    char k[32];
    for (int i = 0; i < 20000; i++)
        dedupe_put(d, k, round_key(k, 0, i), 1);
    dedupe_mark_begin(d);
    for (int i = 0; i < 20000; i += 10)
        dedupe_mark(d, k, round_key(k, 0, i));
    take_ctx t = {d, 0, 0};
    dedupe_each_unmarked(d, take_unmarked, &t);
    CHECK(t.taken == 18000 && t.bytes == 18000 * round_key(k, 0, 0) && dedupe_count(d) == 2000);
    size_t held = dedupe_memory(d);
    dedupe_put(d, "after", 5, 2); /* compacts: 18000 removed keys outweigh 2000 live */
    CHECK(dedupe_memory(d) < held);
    int ok = 1;
    for (int i = 0; i < 20000; i++)
        ok &= dedupe_get(d, k, round_key(k, 0, i), NULL) == (i % 10 == 0);
    CHECK(ok && dedupe_get(d, "after", 5, NULL));
    dedupe_free(d);
}

/* Keys over DEDUPE_MAX_KEY bytes: the same key on every call (insert, lookup, mark, removal). */
static void check_long_keys(void)
{
    dedupe *d = dedupe_new();
    size_t n = DEDUPE_MAX_KEY + 5000;
    char *big = malloc(n);
    memset(big, 'k', n);
    uint64_t h = 0;
    CHECK(dedupe_swap(d, big, n, 42, 0, NULL) == 0);
    CHECK(dedupe_get(d, big, n, &h) && h == 42);
    CHECK(dedupe_swap(d, big, n, 43, 0, &h) == 1 && h == 42);
    dedupe_mark_begin(d);
    CHECK(dedupe_mark(d, big, n) == 1 && dedupe_marked(d) == 1);
    big[n - 1] = 'x'; /* beyond the limit: the same key */
    CHECK(dedupe_get(d, big, n, &h) && h == 43);
    big[DEDUPE_MAX_KEY - 1] = 'x'; /* within it: another key */
    CHECK(!dedupe_get(d, big, n, NULL));
    big[DEDUPE_MAX_KEY - 1] = 'k';
    CHECK(dedupe_take(d, big, n, &h) == 1 && h == 43 && dedupe_count(d) == 0);
    CHECK(!dedupe_get(d, big, DEDUPE_MAX_KEY, NULL));
    free(big);
    dedupe_free(d);
}

/* The arena's limit: churn under it reclaims space forever; live keys beyond it are a fatal
 * error with a message, never wrapped offsets. */
static void check_arena_limit(void)
{
    dedupe *d = dedupe_new_limited((size_t)2 << 20); /* 2 MiB: ~70k keys of 27 bytes */
    char k[32];
    int ok = 1;
    for (int r = 0; r < 30; r++) {
        for (int i = 0; i < 50000; i++)
            dedupe_put(d, k, round_key(k, r % 100, i), (uint64_t)r);
        for (int i = 0; i < 50000; i += 997)
            ok &= dedupe_get(d, k, round_key(k, r % 100, i), NULL);
        for (int i = 0; i < 50000; i++)
            ok &= dedupe_remove(d, k, round_key(k, r % 100, i));
    }
    CHECK(ok && dedupe_count(d) == 0);
    dedupe_free(d);

    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        dedupe *full = dedupe_new_limited((size_t)2 << 20);
        for (int i = 0; i < 200000; i++)
            dedupe_put(full, k, round_key(k, 0, i), 1);
        _exit(0); /* not reached */
    }
    close(pipefd[1]);
    char msg[256] = "";
    ssize_t got = read(pipefd[0], msg, sizeof(msg) - 1);
    msg[got > 0 ? got : 0] = '\0';
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK_CONTAINS(msg, "dedupe key store full");
}

int main(void)
{
    check_churn();
    check_remove_while_visiting();
    check_long_keys();
    check_arena_limit();
    dedupe *d = dedupe_new();
    uint64_t h = 0;
    CHECK(!dedupe_get(d, "a", 1, &h));
    dedupe_put(d, "a", 1, 11);
    CHECK(dedupe_get(d, "a", 1, &h) && h == 11);
    dedupe_put(d, "a", 1, 12);
    CHECK(dedupe_get(d, "a", 1, &h) && h == 12);
    CHECK(dedupe_count(d) == 1);
    CHECK(!dedupe_get(d, "ab", 2, &h));
    CHECK(dedupe_remove(d, "a", 1));
    CHECK(!dedupe_remove(d, "a", 1));
    CHECK(dedupe_count(d) == 0);

    /* Many keys: growth and tombstone reuse keep every value. */
    char k[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(k, sizeof(k), "lead_%d", i);
        dedupe_put(d, k, (size_t)n, (uint64_t)i * 7);
    }
    for (int i = 0; i < 100000; i += 2) {
        int n = snprintf(k, sizeof(k), "lead_%d", i);
        dedupe_remove(d, k, (size_t)n);
    }
    CHECK(dedupe_count(d) == 50000);
    int ok = 1;
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(k, sizeof(k), "lead_%d", i);
        int found = dedupe_get(d, k, (size_t)n, &h);
        if ((i % 2 == 0) == found || (found && h != (uint64_t)i * 7))
            ok = 0;
    }
    CHECK(ok);

    /* Reconciliation: keys not marked in a round are the vanished ones. */
    dedupe_mark_begin(d);
    for (int i = 1; i < 100000; i += 2) {
        if (i == 77)
            continue;
        int n = snprintf(k, sizeof(k), "lead_%d", i);
        dedupe_mark(d, k, (size_t)n);
    }
    CHECK(!dedupe_mark(d, "unknown", 7));
    CHECK(dedupe_marked(d) == 49999);
    char vanished[64] = "";
    dedupe_each_unmarked(d, remember_unmarked, vanished);
    CHECK_STR(vanished, "lead_77");
    int unmarked = 0;
    dedupe_put(d, "new_in_round", 12, 1); /* published during the round: counts as seen */
    dedupe_each_unmarked(d, count_unmarked, &unmarked);
    CHECK(unmarked == 1);
    dedupe_mark_begin(d);
    unmarked = 0;
    dedupe_each_unmarked(d, count_unmarked, &unmarked);
    CHECK(unmarked == 50001);

    /* The hot path's single lookup: swap returns the previous hash (or inserts), marks on
     * request; take returns what it removed. Together they undo each other. */
    uint64_t old = 0;
    dedupe_prefetch(d, "lead_1", 6); /* a cache hint: no effect on the contents */
    dedupe_prefetch(d, "absent", 6);
    CHECK(dedupe_get(d, "lead_1", 6, &old) && old == 7 && !dedupe_get(d, "absent", 6, NULL));
    dedupe_mark_begin(d);
    CHECK(dedupe_swap(d, "lead_1", 6, 99, 1, &old) == 1 && old == 7);
    CHECK(dedupe_get(d, "lead_1", 6, &h) && h == 99);
    CHECK(dedupe_marked(d) == 1);
    CHECK(dedupe_swap(d, "lead_1", 6, 98, 1, &old) == 1 && old == 99 && dedupe_marked(d) == 1);
    CHECK(dedupe_swap(d, "lead_3", 6, 21, 0, NULL) == 1 && dedupe_marked(d) == 1);
    size_t before = dedupe_count(d);
    CHECK(dedupe_swap(d, "fresh", 5, 5, 0, &old) == 0 && dedupe_count(d) == before + 1);
    CHECK(dedupe_take(d, "fresh", 5, &old) == 1 && old == 5 && dedupe_count(d) == before);
    CHECK(dedupe_take(d, "fresh", 5, &old) == 0);
    CHECK(dedupe_take(d, "lead_1", 6, &old) == 1 && old == 98 && dedupe_marked(d) == 0);
    CHECK(dedupe_swap(d, "lead_1", 6, old, 0, NULL) == 0);
    CHECK(dedupe_get(d, "lead_1", 6, &h) && h == 98);
    dedupe_free(d);
    return check_summary("dedupe");
}
