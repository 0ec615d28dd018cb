/* test_ratelimit.c — the per-source token bucket: burst then spacing, pauses that only extend,
 * stop flags, and two threads sharing one bucket. Timing bounds are generous upwards (valgrind,
 * loaded CI machines) and strict downwards (the bucket must never be early). */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "ratelimit.h"
#include "util.h"

static void test_unlimited(void)
{
    ratelimit *rl = ratelimit_new(0, 1);
    CHECK(rl != NULL);
    int64_t t0 = now_monotonic_ms(), waited = -1;
    int rc = 0;
    for (int i = 0; i < 1000; i++)
        rc |= ratelimit_acquire(rl, NULL, &waited);
    CHECK(rc == 0);
    CHECK(waited >= 0 && waited < 50);
    CHECK(now_monotonic_ms() - t0 < 200);
    CHECK(ratelimit_peek_delay(rl, now_monotonic_ms()) == 0);
    /* a pause still applies to an unlimited bucket */
    ratelimit_pause(rl, 200);
    int64_t d = ratelimit_peek_delay(rl, now_monotonic_ms());
    CHECK(d > 150 && d <= 200);
    ratelimit_free(rl);

    ratelimit *neg = ratelimit_new(-5, 3);
    for (int i = 0; i < 100; i++)
        ratelimit_acquire(neg, NULL, NULL);
    CHECK(ratelimit_peek_delay(neg, now_monotonic_ms()) == 0);
    ratelimit_free(neg);
}

static void test_burst_then_spacing(void)
{
    ratelimit *rl = ratelimit_new(20, 3); /* one token per 50 ms */
    CHECK(ratelimit_peek_delay(rl, now_monotonic_ms()) == 0);
    int64_t t0 = now_monotonic_ms();
    for (int i = 0; i < 3; i++) {
        int64_t w = -1;
        CHECK(ratelimit_acquire(rl, NULL, &w) == 0);
        CHECK(w >= 0 && w < 20);
    }
    CHECK(now_monotonic_ms() - t0 < 40);
    int64_t now = now_monotonic_ms();
    int64_t d = ratelimit_peek_delay(rl, now);
    CHECK(d > 0 && d <= 50);
    CHECK(ratelimit_peek_delay(rl, now + 1000) == 0); /* refilled by then */
    CHECK(ratelimit_peek_delay(rl, now - 1000) > 0);  /* never before the last refill */

    /* five more: spaced by 50 ms each */
    t0 = now_monotonic_ms();
    int64_t total = 0;
    for (int i = 0; i < 5; i++) {
        int64_t w = 0;
        CHECK(ratelimit_acquire(rl, NULL, &w) == 0);
        total += w;
    }
    int64_t el = now_monotonic_ms() - t0;
    CHECK(el >= 5 * 50 - 15);
    CHECK(el < 600);
    /* the waits make up the 250 ms, less what the thread spent descheduled past them (loaded
     * machine, valgrind): el - 250 */
    CHECK(total >= 5 * 50 - 15 - (el - 5 * 50) && total <= el + 5);
    ratelimit_free(rl);

    /* burst < 1 means 1 */
    ratelimit *one = ratelimit_new(10, 0);
    CHECK(ratelimit_acquire(one, NULL, NULL) == 0);
    d = ratelimit_peek_delay(one, now_monotonic_ms());
    CHECK(d > 50 && d <= 100);
    ratelimit_free(one);
}

static void test_pause_extends(void)
{
    ratelimit *rl = ratelimit_new(100, 5);
    ratelimit_pause(rl, 300);
    int64_t d = ratelimit_peek_delay(rl, now_monotonic_ms());
    CHECK(d > 250 && d <= 300);
    ratelimit_pause(rl, 100); /* shorter: ignored */
    d = ratelimit_peek_delay(rl, now_monotonic_ms());
    CHECK(d > 250 && d <= 300);
    ratelimit_pause(rl, 0);
    ratelimit_pause(rl, -50);
    d = ratelimit_peek_delay(rl, now_monotonic_ms());
    CHECK(d > 250 && d <= 300);
    ratelimit_pause(rl, 400); /* longer: extends */
    d = ratelimit_peek_delay(rl, now_monotonic_ms());
    CHECK(d > 350 && d <= 400);

    int64_t t0 = now_monotonic_ms(), w = 0;
    CHECK(ratelimit_acquire(rl, NULL, &w) == 0);
    int64_t el = now_monotonic_ms() - t0;
    CHECK(el >= 340);
    CHECK(el < 900);
    CHECK(w >= 340 && w <= el + 5);
    /* after the pause the burst is there again (refilled during the pause) */
    CHECK(ratelimit_peek_delay(rl, now_monotonic_ms()) == 0);
    ratelimit_free(rl);
}

typedef struct {
    volatile int *flag;
    int after_ms;
} setter_arg;

static void *set_flag_later(void *p)
{
    setter_arg *a = p;
    struct timespec ts = {a->after_ms / 1000, (long)(a->after_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    flag_set(a->flag, 1);
    return NULL;
}

static void test_stop(void)
{
    ratelimit *rl = ratelimit_new(1, 1);
    volatile int stop = 1;
    int64_t w = -1;
    /* already stopped: returns at once without taking the token */
    CHECK(ratelimit_acquire(rl, &stop, &w) == 1);
    CHECK(w >= 0 && w < 20);
    CHECK(ratelimit_peek_delay(rl, now_monotonic_ms()) == 0);

    stop = 0;
    ratelimit_pause(rl, 10000);
    setter_arg a = {&stop, 150};
    pthread_t th;
    pthread_create(&th, NULL, set_flag_later, &a);
    int64_t t0 = now_monotonic_ms();
    CHECK(ratelimit_acquire(rl, &stop, &w) == 1);
    int64_t el = now_monotonic_ms() - t0;
    pthread_join(th, NULL);
    CHECK(el >= 140);
    CHECK(el < 600); /* checked at least every 100 ms */
    CHECK(w >= 140 && w < 600);

    /* waiting on tokens (not a pause) is interruptible too */
    ratelimit *slow = ratelimit_new(0.1, 1); /* one token per 10 s */
    CHECK(ratelimit_acquire(slow, NULL, NULL) == 0);
    stop = 0;
    a.after_ms = 120;
    pthread_create(&th, NULL, set_flag_later, &a);
    t0 = now_monotonic_ms();
    CHECK(ratelimit_acquire(slow, &stop, NULL) == 1);
    el = now_monotonic_ms() - t0;
    pthread_join(th, NULL);
    CHECK(el >= 110 && el < 600);
    ratelimit_free(slow);
    ratelimit_free(rl);
}

#define PER_THREAD 15

typedef struct {
    ratelimit *rl;
    pthread_mutex_t *lock;
    int64_t *stamps;
    int *n;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < PER_THREAD; i++) {
        ratelimit_acquire(a->rl, NULL, NULL);
        pthread_mutex_lock(a->lock);
        a->stamps[(*a->n)++] = now_monotonic_ms();
        pthread_mutex_unlock(a->lock);
    }
    return NULL;
}

static void test_two_threads(void)
{
    const double rate = 50; /* one token per 20 ms */
    const int burst = 2;
    ratelimit *rl = ratelimit_new(rate, burst);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    int64_t stamps[2 * PER_THREAD];
    int n = 0;
    worker_arg a = {rl, &lock, stamps, &n};
    pthread_t t1, t2;
    int64_t t0 = now_monotonic_ms();
    pthread_create(&t1, NULL, worker, &a);
    pthread_create(&t2, NULL, worker, &a);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(n == 2 * PER_THREAD);
    /* burst 2 at once, then 28 more at 20 ms each */
    int64_t el = now_monotonic_ms() - t0;
    CHECK(el >= (2 * PER_THREAD - burst) * 20 - 10);
    CHECK(el < 3000);
    /* no window of W ms ever holds more than burst + W * rate tokens (+1 for ms rounding) */
    int worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) {
            int64_t w = stamps[j] - stamps[i];
            int count = j - i + 1;
            double allowed = burst + (double)w * rate / 1000.0 + 1.0;
            if (count > allowed)
                worst++;
        }
    CHECK(worst == 0);
    ratelimit_free(rl);
}

/* A rolling window of 4 sends per 150 ms: 4 at once, then each send 150 ms after the one four
 * before it; no 150-ms window ever holds 5. */
static void test_window(void)
{
    ratelimit *rl = ratelimit_new_window(4, 150);
    /* asked[i]: before send i asks (its slot is no earlier); stamps[i]: after it got the slot
     * (no earlier than the slot). Under valgrind the two can be ms apart. */
    int64_t stamps[8], asked[8], t0 = now_monotonic_ms();
    for (int i = 0; i < 8; i++) {
        asked[i] = now_monotonic_ms();
        if (i < 4) /* the first four at once: each may go the moment it asks */
            CHECK(ratelimit_peek_delay(rl, asked[i]) == 0);
        CHECK(ratelimit_acquire(rl, NULL, NULL) == 0);
        stamps[i] = now_monotonic_ms();
    }
    CHECK(stamps[4] - asked[0] >= 150); /* never early */
    CHECK(stamps[7] - t0 >= 150 && stamps[7] - t0 < 1500);
    for (int i = 4; i < 8; i++)
        CHECK(stamps[i] - asked[i - 4] >= 150);
    /* the next send waits for the window after the fifth one, which got its slot between
     * asked[4] and stamps[4] */
    int64_t tp = now_monotonic_ms();
    int64_t d = ratelimit_peek_delay(rl, tp);
    CHECK(d >= asked[4] + 150 - tp && d <= stamps[4] + 150 - tp && d > 0);
    /* a pause holds the window back too */
    ratelimit_pause(rl, 400);
    d = ratelimit_peek_delay(rl, now_monotonic_ms());
    CHECK(d > 350 && d <= 400);
    ratelimit_free(rl);
}

/* A window counts a request from its response on (ratelimit_done): a server that saw it late
 * (queued, slow) must not see the next window's requests early. */
static void test_window_counts_from_response(void)
{
    ratelimit *rl = ratelimit_new_window(2, 100);
    uint64_t first = 0, second = 0;
    CHECK(ratelimit_acquire_ticket(rl, NULL, NULL, &first) == 0 && first != 0);
    CHECK(ratelimit_acquire_ticket(rl, NULL, NULL, &second) == 0 && second != first);
    struct timespec ts = {0, 80 * 1000000L};
    nanosleep(&ts, NULL);
    ratelimit_done(rl, first); /* its response came 80 ms after the send */
    int64_t d = ratelimit_peek_delay(rl, now_monotonic_ms());
    CHECK(d > 80 && d <= 100); /* 100 ms after the response, not after the send */
    ratelimit_done(rl, 0);     /* no ticket: nothing */
    ratelimit_free(rl);
}

typedef struct {
    ratelimit *rl;
    int64_t waited_max;
} late_arg;

static void *late_single(void *p)
{
    late_arg *a = p;
    for (int i = 0; i < 3; i++) {
        int64_t w = 0;
        ratelimit_acquire(a->rl, NULL, &w);
        if (w > a->waited_max)
            a->waited_max = w;
    }
    return NULL;
}

/* First come, first served: a table that keeps the limiter busy (a request per deal) does not
 * starve another one arriving later; its requests wait at most about one interval each. */
static void test_fair_to_late_comer(void)
{
    ratelimit *rl = ratelimit_new(20, 1); /* one send per 50 ms */
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    int64_t stamps[2 * PER_THREAD];
    int n = 0;
    worker_arg busy = {rl, &lock, stamps, &n};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, worker, &busy);
    struct timespec ts = {0, 120 * 1000000L};
    nanosleep(&ts, NULL);
    late_arg late = {rl, 0};
    pthread_create(&t2, NULL, late_single, &late);
    pthread_join(t2, NULL);
    pthread_join(t1, NULL);
    CHECK(late.waited_max <= 2 * 50 + 30);
    ratelimit_free(rl);
}

int main(void)
{
    test_unlimited();
    test_burst_then_spacing();
    test_pause_extends();
    test_stop();
    test_two_threads();
    test_window();
    test_window_counts_from_response();
    test_fair_to_late_comer();
    return check_summary("ratelimit");
}
