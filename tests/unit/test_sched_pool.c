/* test_sched_pool.c — the engine's scheduler: due tasks run earliest first, round-robin across
 * groups (one group with many tasks does not starve the others), turns re-arm at the time they
 * return and never run early, a wake makes sleeping (and running) tasks due at once, a group
 * cannot hold more than its share of the workers, and freeing the pool stops it cleanly. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "sched_pool.h"
#include "util.h"

/* ---- a log of turns, shared by the tasks of one test ---- */

#define MAX_LOG 256

typedef struct turn_log {
    pthread_mutex_t lock;
    int n;
    int id[MAX_LOG];
    int64_t at[MAX_LOG];
    int64_t late[MAX_LOG];
} turn_log;

static turn_log tl = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {0}, {0}};

static void log_reset(void)
{
    pthread_mutex_lock(&tl.lock);
    tl.n = 0;
    pthread_mutex_unlock(&tl.lock);
}

static void log_turn(int id, int64_t late)
{
    pthread_mutex_lock(&tl.lock);
    if (tl.n < MAX_LOG) {
        tl.id[tl.n] = id;
        tl.at[tl.n] = now_monotonic_ms();
        tl.late[tl.n] = late;
        tl.n++;
    }
    pthread_mutex_unlock(&tl.lock);
}

static int logged(void)
{
    pthread_mutex_lock(&tl.lock);
    int n = tl.n;
    pthread_mutex_unlock(&tl.lock);
    return n;
}

/* A task: id (group * 100 + index), how many turns, and what each turn returns. */
typedef struct task {
    int id;
    int turns_left;
    int64_t every_ms; /* next due = now + every_ms */
    int64_t sleep_ms; /* each turn takes this long */
} task;

static int64_t turn(void *arg, int64_t late_ms)
{
    task *t = arg;
    log_turn(t->id, late_ms);
    if (t->sleep_ms > 0)
        sleep_interruptible(t->sleep_ms, NULL);
    if (--t->turns_left <= 0)
        return SCHED_DONE;
    return now_monotonic_ms() + t->every_ms;
}

/* ---- tests ---- */

/* One worker: overdue tasks run earliest due first, whatever the order they were added in. */
static void test_earliest_first(void)
{
    log_reset();
    sched *s = sched_new(1, 0);
    int64_t now = now_monotonic_ms();
    task a = {1, 1, 0, 0}, b = {2, 1, 0, 0}, c = {3, 1, 0, 0};
    sched_add(s, 0, turn, &a, now - 10);
    sched_add(s, 1, turn, &b, now - 30);
    sched_add(s, 2, turn, &c, now - 20);
    CHECK(sched_start(s) == 0);
    CHECK(sched_wait(s, 5000) == 0);
    CHECK(tl.n == 3);
    CHECK(tl.id[0] == 2 && tl.id[1] == 3 && tl.id[2] == 1);
    CHECK(tl.late[0] >= 30); /* started at least that long after its due time */
    sched_free(s);
}

/* One worker; group 0 has five tasks, groups 1 and 2 one each, all due, three turns each: the
 * groups take turns, so the lone tasks finish within the first rounds instead of waiting for
 * group 0's fifteen turns. */
static void test_round_robin_across_groups(void)
{
    log_reset();
    sched *s = sched_new(1, 0);
    int64_t now = now_monotonic_ms();
    task g0[5], g1 = {100, 3, 0, 0}, g2 = {200, 3, 0, 0};
    for (int i = 0; i < 5; i++) {
        g0[i] = (task){i, 3, 0, 0};
        sched_add(s, 0, turn, &g0[i], now - 100);
    }
    sched_add(s, 1, turn, &g1, now - 50);
    sched_add(s, 2, turn, &g2, now - 50);
    CHECK(sched_start(s) == 0);
    CHECK(sched_wait(s, 5000) == 0);
    CHECK(tl.n == 21);
    int last_lone = -1, g0_turns_before = 0;
    for (int i = 0; i < tl.n; i++)
        if (tl.id[i] >= 100)
            last_lone = i;
    for (int i = 0; i < last_lone; i++)
        g0_turns_before += tl.id[i] < 100;
    CHECK(last_lone >= 0 && last_lone < 9);   /* 0,1,2,0,1,2,0,1,2 */
    CHECK(g0_turns_before <= 3);              /* one group-0 turn per round */
    CHECK(tl.id[0] < 100 && tl.id[1] == 100); /* group 0 was due first; then group 1 */
    /* within group 0: FIFO, every task's first turn before any second turn */
    int first_seen = 0;
    for (int i = 0; i < tl.n && first_seen < 5; i++)
        if (tl.id[i] < 100)
            CHECK(tl.id[i] == first_seen++);
    sched_free(s);
}

/* A turn's return is its next due time: the next turn is never early, and not much late. */
static void test_rearm_at_returned_time(void)
{
    log_reset();
    sched *s = sched_new(2, 0);
    task a = {1, 4, 100, 0};
    sched_add(s, 0, turn, &a, now_monotonic_ms());
    CHECK(sched_start(s) == 0);
    CHECK(sched_wait(s, 5000) == 0);
    CHECK(tl.n == 4);
    for (int i = 1; i < tl.n; i++) {
        int64_t gap = tl.at[i] - tl.at[i - 1];
        CHECK(gap >= 100);
        CHECK(gap < 1000);
        CHECK(tl.late[i] >= 0 && tl.late[i] < 900);
    }
    sched_free(s);
}

/* A task armed an hour ahead: sched_wait times out with it live; a wake runs it at once; a task
 * woken during its turn runs again right after it instead of an hour later. */
static void test_wake(void)
{
    log_reset();
    sched *s = sched_new(2, 0);
    int64_t now = now_monotonic_ms();
    task sleeper = {1, 2, 3600000, 0}, busy = {2, 2, 3600000, 300};
    sched_add(s, 0, turn, &sleeper, now + 3600000);
    sched_add(s, 1, turn, &busy, now);
    CHECK(sched_start(s) == 0);
    CHECK(sched_wait(s, 100) == 2); /* busy runs its first turn; sleeper waits */
    sched_wake_all(s);              /* during busy's turn */
    /* sleeper runs once and re-arms an hour ahead; busy runs again at once, then is done */
    int64_t t0 = now_monotonic_ms();
    while (logged() < 3 && now_monotonic_ms() - t0 < 5000)
        sleep_interruptible(10, NULL);
    CHECK(logged() == 3);
    int live;
    while ((live = sched_wait(s, 20)) > 1 && now_monotonic_ms() - t0 < 5000)
        ; /* busy's second turn ends */
    CHECK(live == 1);
    CHECK(now_monotonic_ms() - t0 < 5000);
    sched_wake_group(s, 1); /* another group: sleeper stays asleep */
    CHECK(sched_wait(s, 200) == 1);
    CHECK(logged() == 3);
    sched_wake_group(s, 0);
    CHECK(sched_wait(s, 5000) == 0);
    CHECK(logged() == 4);
    sched_free(s);
    int sleeper_turns = 0, busy_turns = 0;
    for (int i = 0; i < tl.n; i++) {
        sleeper_turns += tl.id[i] == 1;
        busy_turns += tl.id[i] == 2;
    }
    CHECK(sleeper_turns == 2 && busy_turns == 2);
}

/* ---- a turn asks whether others wait ---- */

static atomic_int contended_seen[2];

static int64_t asking_turn(void *arg, int64_t late_ms)
{
    (void)late_ms;
    int *n = arg;
    atomic_store(&contended_seen[(*n)++], sched_turn_contended() + 1);
    return *n < 2 ? now_monotonic_ms() + 200 : SCHED_DONE;
}

static int64_t short_turn(void *arg, int64_t late_ms)
{
    (void)arg, (void)late_ms;
    return SCHED_DONE;
}

/* One worker: a turn with another task due behind it is contended; alone (the other done, the
 * next turn 200 ms later) it is not; outside a worker never. */
static void test_turn_contended(void)
{
    CHECK(sched_turn_contended() == 0);
    sched *s = sched_new(1, 0);
    int64_t now = now_monotonic_ms();
    int n = 0;
    sched_add(s, 0, asking_turn, &n, now - 10);
    sched_add(s, 1, short_turn, NULL, now);
    CHECK(sched_start(s) == 0);
    CHECK(sched_wait(s, 5000) == 0);
    CHECK(atomic_load(&contended_seen[0]) == 2); /* 1 + 1: the other task was waiting */
    CHECK(atomic_load(&contended_seen[1]) == 1); /* 0 + 1: nothing else due */
    sched_free(s);
}

/* ---- a group cannot take every worker ---- */

static atomic_int other_ran;
static atomic_int concurrent, max_concurrent;

/* A group-0 turn that blocks until the other group's task ran (or 3 s). */
static int64_t blocking_turn(void *arg, int64_t late_ms)
{
    (void)arg, (void)late_ms;
    int c = atomic_fetch_add(&concurrent, 1) + 1;
    int m = atomic_load(&max_concurrent);
    while (c > m && !atomic_compare_exchange_weak(&max_concurrent, &m, c))
        ;
    int64_t end = now_monotonic_ms() + 3000;
    while (!atomic_load(&other_ran) && now_monotonic_ms() < end)
        sleep_interruptible(5, NULL);
    atomic_fetch_sub(&concurrent, 1);
    return SCHED_DONE;
}

static int64_t other_turn(void *arg, int64_t late_ms)
{
    (void)arg, (void)late_ms;
    atomic_store(&other_ran, 1);
    return SCHED_DONE;
}

static void test_group_limit(void)
{
    atomic_store(&other_ran, 0);
    atomic_store(&concurrent, 0);
    atomic_store(&max_concurrent, 0);
    sched *s = sched_new(4, 0); /* default limit: half the workers */
    int64_t now = now_monotonic_ms();
    for (int i = 0; i < 6; i++)
        sched_add(s, 0, blocking_turn, NULL, now - 100);
    sched_add(s, 1, other_turn, NULL, now + 100); /* after group 0 took its workers */
    int64_t t0 = now_monotonic_ms();
    CHECK(sched_start(s) == 0);
    CHECK(sched_wait(s, 10000) == 0);
    CHECK(atomic_load(&max_concurrent) == 2);
    CHECK(now_monotonic_ms() - t0 < 2500); /* the other group ran without waiting them out */
    sched_free(s);
}

/* Tasks added while the workers run (a shard starting); waiting for one group's tasks (a shard
 * stopping) returns when they are done, whatever the others do. */
static void test_group_wait_while_running(void)
{
    log_reset();
    sched *s = sched_new(2, 0);
    CHECK(sched_start(s) == 0);
    task a = {301, 2, 50, 0}, b = {302, 1, 0, 0}, other = {401, 1, 0, 0};
    int64_t now = now_monotonic_ms();
    sched_add(s, 4, turn, &other, now + 3600000);
    sched_add(s, 3, turn, &a, now);
    sched_add(s, 3, turn, &b, now);
    CHECK(sched_wait_group(s, 3, 5000) == 0);
    CHECK(logged() == 3); /* a twice, b once; other not yet */
    CHECK(sched_wait_group(s, 4, 50) == 1);
    CHECK(sched_wait_group(s, 9, 50) == 0); /* a group never used */
    task again = {303, 1, 0, 0};            /* the group starts again */
    sched_add(s, 3, turn, &again, now_monotonic_ms());
    CHECK(sched_wait_group(s, 3, 5000) == 0);
    CHECK(logged() == 4);
    CHECK(sched_wait(s, 50) == 1);
    sched_free(s);
}

/* Freeing a pool with tasks still armed (a stop) frees them without running them. */
static void test_free_with_armed_tasks(void)
{
    log_reset();
    sched *s = sched_new(3, 0);
    task a = {1, 5, 0, 0}, b = {2, 5, 0, 0};
    sched_add(s, 0, turn, &a, now_monotonic_ms() + 3600000);
    sched_add(s, 1, turn, &b, now_monotonic_ms() + 3600000);
    CHECK(sched_start(s) == 0);
    CHECK(sched_workers(s) == 3);
    CHECK(sched_wait(s, 50) == 2);
    sched_free(s);
    CHECK(tl.n == 0);
    sched_free(NULL);
}

int main(void)
{
    test_earliest_first();
    test_round_robin_across_groups();
    test_rearm_at_returned_time();
    test_wake();
    test_turn_contended();
    test_group_limit();
    test_group_wait_while_running();
    test_free_with_armed_tasks();
    return check_summary("sched_pool");
}
