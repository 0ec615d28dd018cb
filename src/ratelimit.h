/* ratelimit.h — a per-source request limiter shared by all table threads of the source: a
 * token bucket, or a rolling window (at most N requests in any W ms, the model of Pipedrive's
 * and Copper's limits, which a bucket can only approach by giving up speed or risking 429s).
 *
 * Thread-safe and fair: each acquire reserves the earliest free send time in arrival order
 * (first come, first served), so a table that sends a request per deal cannot starve the
 * source's other tables. ratelimit_acquire() blocks until its time, or while the source is
 * paused (after a 429 or an exhausted budget). */
#ifndef CRM_RATELIMIT_H
#define CRM_RATELIMIT_H

#include <stdint.h>

typedef struct ratelimit ratelimit;

/* rate: sustained requests per second (<= 0: unlimited); burst: bucket size (>= 1). */
ratelimit *ratelimit_new(double rate, int burst);
/* A token bucket like ratelimit_new that adopts the limit the API states (ratelimit_learn). */
ratelimit *ratelimit_new_learning(double rate, int burst);
/* A rolling window: at most `requests` (>= 1) sends in any window_ms (> 0) milliseconds. */
ratelimit *ratelimit_new_window(int requests, int64_t window_ms);
void ratelimit_free(ratelimit *rl);

/* Blocks until a request may be sent. Returns 0, or 1 when *stop became non-zero. Returns the
 * milliseconds waited in *waited_ms when non-NULL. */
int ratelimit_acquire(ratelimit *rl, volatile int *stop, int64_t *waited_ms);
/* The same, with a ticket for ratelimit_done (0 when stopped). */
int ratelimit_acquire_ticket(ratelimit *rl, volatile int *stop, int64_t *waited_ms,
                             uint64_t *ticket);
/* The request of `ticket` got its response: a rolling window counts it from now on, since the
 * server counted it at its arrival, which a slow or queued request makes later than its send. */
void ratelimit_done(ratelimit *rl, uint64_t ticket);

/* A response said its endpoint allows `limit` requests per window_ms and that `remaining`
 * (< 0: unknown) are left: a learning bucket paces by that from now on (the lowest limit seen
 * wins), and when none remains it sends no request before the API has one again (1/rate from
 * now, later by one interval per request still in flight). Returns 1 when the limiter paces by
 * the stated quota (a wait of up to one window for remaining 0 is then part of its pace), 0 for
 * other limiters, which ignore it. */
int ratelimit_learn(ratelimit *rl, long long limit, int64_t window_ms, long long remaining);
/* 1 when the limiter paces by a learned limit; its rate and burst in *rate, *burst (may be NULL).
 */
int ratelimit_learned(ratelimit *rl, double *rate, int *burst);

/* No request of this source goes out for the next ms milliseconds (extends, never shortens). */
void ratelimit_pause(ratelimit *rl, int64_t ms);

/* For tests: the delay (ms) the next acquire would wait at monotonic time now_ms, without taking
 * a token. */
int64_t ratelimit_peek_delay(ratelimit *rl, int64_t now_ms);

#endif
