/* ratelimit.h — a per-source token bucket shared by all table threads of the source.
 *
 * Thread-safe. ratelimit_acquire() blocks until a token is available or the source is paused
 * (after a 429 or an exhausted budget) until a later time. */
#ifndef CRM_RATELIMIT_H
#define CRM_RATELIMIT_H

#include <stdint.h>

typedef struct ratelimit ratelimit;

/* rate: sustained requests per second (<= 0: unlimited); burst: bucket size (>= 1). */
ratelimit *ratelimit_new(double rate, int burst);
void ratelimit_free(ratelimit *rl);

/* Blocks until a request may be sent. Returns 0, or 1 when *stop became non-zero. Returns the
 * milliseconds waited in *waited_ms when non-NULL. */
int ratelimit_acquire(ratelimit *rl, volatile int *stop, int64_t *waited_ms);

/* No request of this source goes out for the next ms milliseconds (extends, never shortens). */
void ratelimit_pause(ratelimit *rl, int64_t ms);

/* For tests: the delay (ms) the next acquire would wait at monotonic time now_ms, without taking
 * a token. */
int64_t ratelimit_peek_delay(ratelimit *rl, int64_t now_ms);

#endif
