/* sim.h — the CRM simulator framework (tests/sim/) and the contract of a CRM personality.
 *
 * One binary, build/crmsim, serves one CRM personality chosen with --crm. The framework owns the
 * HTTP server (libmicrohttpd), seeding, latency, a generic rate limiter, fault injection, request
 * statistics and the /_control/ endpoints; a personality (tests/sim/<name>.c, or a directory
 * tests/sim/<name>/ for a large one, listed in personalities.c) owns its data and API surface.
 * Handlers run one at a time under the framework's lock, so personalities need no locking. */
#ifndef CRM_SIM_H
#define CRM_SIM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct sim_request sim_request; /* opaque, valid during handle() */

const char *sim_method(const sim_request *req);
const char *sim_path(const sim_request *req);                    /* without query string */
const char *sim_query(const sim_request *req, const char *name); /* decoded value or NULL */
/* Calls fn for every query argument (for "unknown parameter" checks). */
void sim_query_each(const sim_request *req, void (*fn)(const char *k, const char *v, void *u),
                    void *u);
const char *sim_header(const sim_request *req, const char *name); /* case-insensitive */
const char *sim_body(const sim_request *req, size_t *len);
/* The Basic-auth user of the request, or NULL. */
const char *sim_basic_user(const sim_request *req);

typedef struct sim_response {
    int status;
    buf body;
    char *headers[16]; /* owned "Name: value" lines */
    int n_headers;
} sim_response;

void sim_set_header(sim_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets status and body to the compact JSON of j (steals the reference). */
void sim_json(sim_response *resp, int status, json_t *j);

typedef struct sim_options {
    uint64_t seed;
    int64_t epoch_ms; /* the simulator's "now" at start (wall clock unless --epoch given) */
    json_t *params;   /* personality parameters from --param k=v (strings), e.g. max_skip=500 */
} sim_options;

/* The simulator's clock: epoch_ms + time elapsed since start (so mutations get newer times). */
int64_t sim_now_ms(void);
/* Deterministic PRNG (xorshift) seeded from --seed; personalities draw all data from it. */
uint64_t sim_rand(void);
double sim_rand01(void);
/* Integer parameter from --param / control, or def. */
long long sim_param_int(const char *name, long long def);
const char *sim_param(const char *name, const char *def);

typedef struct sim_crm {
    const char *name;
    int (*init)(const sim_options *opts);
    /* Serves one API request (anything not under /_control/). */
    void (*handle)(const sim_request *req, sim_response *resp);
    /* Personality control actions, called for POST /_control/<action> with the JSON body:
     *   "mutate"  {"table":t,"op":"create"|"update"|"delete"[,"id":..][,"count":n][,...]}
     *   "truth"   {"table":t} -> {"records":[current records of t]}, the ground truth for tests
     * Returns an HTTP status and sets *result (owned by the framework). */
    int (*control)(const char *action, json_t *args, json_t **result);
    /* Writes the body/headers of a 429 in the CRM's own format (NULL: generic JSON). */
    void (*rate_limited)(sim_response *resp, double retry_after_s);
    void (*free)(void);
} sim_crm;

/* ---- additions to the contract (framework helpers for personalities) ---------------------- */

/* The Basic-auth password of the request ("" when empty), or NULL without Basic auth. */
const char *sim_basic_password(const sim_request *req);
/* Sets status and a {"error": msg} JSON body. */
void sim_json_error(sim_response *resp, int status, const char *msg);
/* Uniform integer in [lo, hi] from sim_rand(). */
int64_t sim_rand_range(int64_t lo, int64_t hi);
/* The generic token bucket as of now: rate (requests/s, 0 = off), burst and tokens left, for
 * personalities that report rate-limit headers. Any pointer may be NULL. */
void sim_ratelimit_state(double *rate, double *burst, double *tokens);
/* Unpadded base64url, for opaque cursors. Both return malloc'd strings (decode adds a NUL after
 * *len bytes; len may be NULL); decode returns NULL on invalid input. */
char *sim_b64url_encode(const void *data, size_t len);
char *sim_b64url_decode(const char *s, size_t *len);

/* The compiled-in personalities (personalities.c), NULL-terminated. */
extern const sim_crm *const sim_personalities[];

#endif
