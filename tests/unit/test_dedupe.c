/* test_dedupe.c — the dedupe map: unchanged records are recognized, changes are not, removals
 * and reconciliation marking work, and growth keeps every key. */
#include <stdio.h>

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

int main(void)
{
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
