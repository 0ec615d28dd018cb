/* ratelimit.c — per-source request limiter on the monotonic clock (see ratelimit.h).
 *
 * Token bucket: holds up to `burst` tokens and refills at `rate` tokens per second. Rolling
 * window: a ring of the last `window_n` send times; a send may go window_ms after the oldest.
 * Every acquire reserves its send time under the lock (reservations are handed out in call
 * order and never move backwards), then sleeps until then; a pause (after a 429 or a spent
 * budget) that began meanwhile makes it reserve again after the pause. Pauses only extend.
 * Sleeping is a loop of at most 100 ms slices, so a stop flag is noticed quickly; a stopped
 * caller gives its reservation back when nobody reserved after it.
 *
 * A learning bucket (one endpoint group's limiter, ratelimit_groups.h) starts at the connector's
 * default rate and, at the first response that states the group's limit (`limit` per window),
 * becomes a bucket of that rate with a burst one below the limit: the API counts a request when
 * it arrives, which latency can make earlier or later than its send, and one token of slack
 * absorbs that (a send is late by at most 1/rate once, at the start). Its tokens start from what
 * the API says remains. */
#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

#define RL_SLICE_MS 100

struct ratelimit {
    pthread_mutex_t lock;
    double rate;            /* bucket: tokens per second; <= 0: unlimited */
    double burst;           /* bucket size */
    double tokens;          /* tokens at last_ms */
    int64_t last_ms;        /* monotonic time of the last reservation (may be in the future) */
    int64_t pause_until_ms; /* monotonic; no request goes out before this */
    int window_n;           /* > 0: rolling window mode, at most window_n sends per window_ms */
    int64_t window_ms;
    /* ring of the last window_n sends, oldest at sent_head: reserved time, then the time the
     * response came (ratelimit_done), so server-side latency cannot crowd its window */
    int64_t *sent;
    uint64_t *sent_ticket;
    int sent_head, sent_count;
    uint64_t tickets; /* reservations handed out */
    int inflight;     /* ticketed sends reserved whose response has not come (ratelimit_done) */
    int learns;       /* a bucket that adopts the limit the API reports (ratelimit_learn) */
    int learned;      /* it has: rate and burst are the API's */
};

static ratelimit *limiter_alloc(void)
{
    ratelimit *rl = xcalloc(1, sizeof(*rl));
    if (pthread_mutex_init(&rl->lock, NULL) != 0) {
        fputs("crmstream: pthread_mutex_init failed\n", stderr);
        abort(); /* like xmalloc: no sane recovery */
    }
    rl->last_ms = now_monotonic_ms();
    return rl;
}

ratelimit *ratelimit_new(double rate, int burst)
{
    ratelimit *rl = limiter_alloc();
    rl->rate = rate > 0 && isfinite(rate) ? rate : 0;
    rl->burst = burst >= 1 ? burst : 1;
    rl->tokens = rl->burst;
    return rl;
}

ratelimit *ratelimit_new_learning(double rate, int burst)
{
    ratelimit *rl = ratelimit_new(rate, burst);
    rl->learns = 1;
    return rl;
}

ratelimit *ratelimit_new_window(int requests, int64_t window_ms)
{
    ratelimit *rl = limiter_alloc();
    rl->window_n = requests >= 1 ? requests : 1;
    rl->window_ms = window_ms > 0 ? window_ms : 1;
    rl->sent = xcalloc((size_t)rl->window_n, sizeof(*rl->sent));
    rl->sent_ticket = xcalloc((size_t)rl->window_n, sizeof(*rl->sent_ticket));
    return rl;
}

void ratelimit_free(ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->sent);
    free(rl->sent_ticket);
    free(rl);
}

/* Tokens available at t (never refilled before last_ms), capped at burst. Lock held. */
static double tokens_at(const ratelimit *rl, int64_t t)
{
    double have = rl->tokens;
    if (t > rl->last_ms)
        have += (double)(t - rl->last_ms) * rl->rate / 1000.0;
    return have > rl->burst ? rl->burst : have;
}

/* The earliest send time from now_ms on that the limits allow. Lock held. */
static int64_t earliest_send(const ratelimit *rl, int64_t now_ms)
{
    int64_t t = now_ms > rl->pause_until_ms ? now_ms : rl->pause_until_ms;
    if (rl->window_n > 0) {
        if (rl->sent_count == rl->window_n) {
            int64_t free_at = rl->sent[rl->sent_head] + rl->window_ms;
            if (free_at > t)
                t = free_at;
        }
        return t;
    }
    if (rl->rate <= 0)
        return t;
    if (t < rl->last_ms)
        t = rl->last_ms; /* reservations never go backwards */
    double have = tokens_at(rl, t);
    if (have < 1.0) {
        int64_t wait = (int64_t)ceil((1.0 - have) * 1000.0 / rl->rate);
        t += wait < 1 ? 1 : wait;
    }
    return t;
}

/* Takes the send at time t (from earliest_send); returns its ticket. Lock held. */
static uint64_t reserve(ratelimit *rl, int64_t t)
{
    uint64_t ticket = ++rl->tickets;
    if (rl->window_n > 0) {
        int at;
        if (rl->sent_count < rl->window_n) {
            at = (rl->sent_head + rl->sent_count) % rl->window_n;
            rl->sent_count++;
        } else {
            at = rl->sent_head;
            rl->sent_head = (rl->sent_head + 1) % rl->window_n;
        }
        rl->sent[at] = t;
        rl->sent_ticket[at] = ticket;
        return ticket;
    }
    if (rl->rate > 0) {
        rl->tokens = tokens_at(rl, t) - 1.0;
        if (t > rl->last_ms)
            rl->last_ms = t;
    }
    return ticket;
}

/* Gives back the send reserved at t if no later one was reserved since. Lock held. */
static void unreserve(ratelimit *rl, int64_t t)
{
    if (rl->window_n > 0) {
        int newest = (rl->sent_head + rl->sent_count - 1) % rl->window_n;
        if (rl->sent_count > 0 && rl->sent[newest] == t && rl->sent_count < rl->window_n)
            rl->sent_count--;
        return;
    }
    if (rl->rate > 0 && rl->last_ms == t && rl->tokens + 1.0 <= rl->burst)
        rl->tokens += 1.0;
}

int ratelimit_acquire(ratelimit *rl, volatile int *stop, int64_t *waited_ms)
{
    return ratelimit_acquire_ticket(rl, stop, waited_ms, NULL);
}

int ratelimit_acquire_ticket(ratelimit *rl, volatile int *stop, int64_t *waited_ms,
                             uint64_t *ticket)
{
    int64_t start = now_monotonic_ms();
    int rc = 0;
    uint64_t mine = 0;
    for (;;) {
        if (stop && flag_is_set(stop)) {
            rc = 1;
            break;
        }
        pthread_mutex_lock(&rl->lock);
        int64_t slot = earliest_send(rl, now_monotonic_ms());
        mine = reserve(rl, slot);
        if (ticket)
            rl->inflight++; /* reserved: counted by the API soon, until ratelimit_done */
        pthread_mutex_unlock(&rl->lock);
        int64_t now;
        while ((now = now_monotonic_ms()) < slot && !rc) {
            int64_t d = slot - now;
            rc = sleep_interruptible(d < RL_SLICE_MS ? d : RL_SLICE_MS, stop) ? 1 : 0;
        }
        pthread_mutex_lock(&rl->lock);
        int paused = rl->pause_until_ms > now_monotonic_ms();
        if (rc || paused) { /* stopped, or a 429 paused the source since: not sent at slot */
            unreserve(rl, slot);
            if (ticket)
                rl->inflight--;
        }
        pthread_mutex_unlock(&rl->lock);
        if (rc || !paused)
            break;
    }
    if (waited_ms)
        *waited_ms = now_monotonic_ms() - start;
    if (ticket)
        *ticket = rc ? 0 : mine;
    return rc;
}

void ratelimit_done(ratelimit *rl, uint64_t ticket)
{
    if (!ticket)
        return;
    pthread_mutex_lock(&rl->lock);
    if (rl->inflight > 0)
        rl->inflight--;
    int64_t now = now_monotonic_ms();
    for (int k = 0; rl->window_n > 0 && k < rl->sent_count; k++) {
        int at = (rl->sent_head + k) % rl->window_n;
        if (rl->sent_ticket[at] == ticket) {
            if (now > rl->sent[at])
                rl->sent[at] = now;
            break;
        }
    }
    pthread_mutex_unlock(&rl->lock);
}

/* The bucket of `limit` requests per window_ms as this limiter paces it. Lock held. */
static void adopt_limit(ratelimit *rl, long long limit, int64_t window_ms, long long remaining)
{
    double burst = limit > 1 ? (double)limit - 1.0 : 1.0;
    int64_t now = now_monotonic_ms();
    double have = tokens_at(rl, now);
    if (remaining >= 0) {
        /* What the API has left after that request, less one for slack, less the sends reserved
         * and not answered yet (the API has not counted them, or will count them late): the
         * default bucket's count knew nothing of the API's; a lower limit learned later keeps
         * what this limiter has if that is less. */
        double api = (double)remaining - 1.0 - (double)rl->inflight;
        if (!rl->learned || api < have)
            have = api;
    }
    rl->rate = (double)limit * 1000.0 / (double)window_ms;
    rl->burst = burst;
    rl->tokens = have > burst ? burst : have; /* below 0: sends reserved before it knew */
    rl->last_ms = now;
    rl->learned = 1;
}

/* The API has no request left for now: none goes out before it has one again, nor before the
 * requests still in flight have taken theirs. Lock held. */
static void empty_bucket(ratelimit *rl)
{
    int64_t now = now_monotonic_ms();
    double have = tokens_at(rl, now);
    double api = -(double)rl->inflight;
    if (api < have) {
        rl->tokens = api;
        rl->last_ms = now;
    }
}

int ratelimit_learn(ratelimit *rl, long long limit, int64_t window_ms, long long remaining)
{
    if (!rl || limit < 1 || window_ms <= 0)
        return 0;
    pthread_mutex_lock(&rl->lock);
    double rate = (double)limit * 1000.0 / (double)window_ms;
    /* the lowest limit a group's endpoints report wins: the limiter is right for all of them */
    if (rl->learns &&
        (!rl->learned || rate < rl->rate || (rate == rl->rate && (double)limit - 1.0 < rl->burst)))
        adopt_limit(rl, limit, window_ms, remaining);
    else if (rl->learned && remaining == 0)
        empty_bucket(rl);
    int paced = rl->learned;
    pthread_mutex_unlock(&rl->lock);
    return paced;
}

int ratelimit_learned(ratelimit *rl, double *rate, int *burst)
{
    pthread_mutex_lock(&rl->lock);
    int learned = rl->learned;
    if (rate)
        *rate = rl->rate;
    if (burst)
        *burst = (int)rl->burst;
    pthread_mutex_unlock(&rl->lock);
    return learned;
}

void ratelimit_pause(ratelimit *rl, int64_t ms)
{
    if (ms <= 0)
        return;
    pthread_mutex_lock(&rl->lock);
    int64_t until = now_monotonic_ms() + ms;
    if (until > rl->pause_until_ms)
        rl->pause_until_ms = until;
    pthread_mutex_unlock(&rl->lock);
}

int64_t ratelimit_peek_delay(ratelimit *rl, int64_t now_ms)
{
    pthread_mutex_lock(&rl->lock);
    int64_t d = earliest_send(rl, now_ms) - now_ms;
    pthread_mutex_unlock(&rl->lock);
    return d;
}
