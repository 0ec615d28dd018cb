/* ratelimit.c — per-source token bucket on the monotonic clock (see ratelimit.h).
 *
 * The bucket holds up to `burst` tokens and refills at `rate` tokens per second. A pause (after a
 * 429 or a spent budget) blocks every acquire until its end; pauses only ever extend. Waiting is a
 * sleep loop of at most 100 ms slices, so a stop flag is noticed quickly and a pause set by another
 * thread while we sleep is picked up on the next slice. */
#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

#define RL_SLICE_MS 100

struct ratelimit {
    pthread_mutex_t lock;
    double rate;            /* tokens per second; <= 0: unlimited */
    double burst;           /* bucket size */
    double tokens;          /* tokens at last_ms */
    int64_t last_ms;        /* monotonic time of the last refill */
    int64_t pause_until_ms; /* monotonic; no token is handed out before this */
};

ratelimit *ratelimit_new(double rate, int burst)
{
    ratelimit *rl = xcalloc(1, sizeof(*rl));
    if (pthread_mutex_init(&rl->lock, NULL) != 0) {
        fputs("crmstream: pthread_mutex_init failed\n", stderr);
        abort(); /* like xmalloc: no sane recovery */
    }
    rl->rate = rate > 0 && isfinite(rate) ? rate : 0;
    rl->burst = burst >= 1 ? burst : 1;
    rl->tokens = rl->burst;
    rl->last_ms = now_monotonic_ms();
    rl->pause_until_ms = 0;
    return rl;
}

void ratelimit_free(ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

/* Tokens available at now_ms (never before last_ms), capped at burst. Lock held. */
static double tokens_at(const ratelimit *rl, int64_t now_ms)
{
    double t = rl->tokens;
    if (now_ms > rl->last_ms)
        t += (double)(now_ms - rl->last_ms) * rl->rate / 1000.0;
    return t > rl->burst ? rl->burst : t;
}

/* Milliseconds until a token may be taken at now_ms; 0 when one may be taken now. Lock held. */
static int64_t delay_at(const ratelimit *rl, int64_t now_ms)
{
    int64_t pause = rl->pause_until_ms > now_ms ? rl->pause_until_ms - now_ms : 0;
    if (rl->rate <= 0)
        return pause;
    double have = tokens_at(rl, now_ms);
    int64_t token = 0;
    if (have < 1.0) {
        token = (int64_t)ceil((1.0 - have) * 1000.0 / rl->rate);
        if (token < 1)
            token = 1;
    }
    return pause > token ? pause : token;
}

int ratelimit_acquire(ratelimit *rl, volatile int *stop, int64_t *waited_ms)
{
    int64_t start = now_monotonic_ms();
    int rc = 0;
    for (;;) {
        if (stop && flag_is_set(stop)) {
            rc = 1;
            break;
        }
        pthread_mutex_lock(&rl->lock);
        int64_t now = now_monotonic_ms();
        int64_t delay = delay_at(rl, now);
        if (delay == 0) {
            if (rl->rate > 0) {
                rl->tokens = tokens_at(rl, now) - 1.0;
                if (now > rl->last_ms)
                    rl->last_ms = now;
            }
            pthread_mutex_unlock(&rl->lock);
            break;
        }
        pthread_mutex_unlock(&rl->lock);
        if (sleep_interruptible(delay < RL_SLICE_MS ? delay : RL_SLICE_MS, stop)) {
            rc = 1;
            break;
        }
    }
    if (waited_ms)
        *waited_ms = now_monotonic_ms() - start;
    return rc;
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
    int64_t d = delay_at(rl, now_ms);
    pthread_mutex_unlock(&rl->lock);
    return d;
}
