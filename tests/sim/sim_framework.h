/* sim_framework.h — the simulator framework's internals shared by sim.c (the HTTP server, clock,
 * PRNG, rate limiter and request path) and control.c (the /_control/ endpoints that configure
 * them). Personalities use sim.h only. All of it is guarded by S.lock. */
#ifndef CRM_SIM_FRAMEWORK_H
#define CRM_SIM_FRAMEWORK_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sim.h"

#define CONTROL_PREFIX "/_control/"

struct sim_request {
    struct MHD_Connection *conn;
    char *method;
    char *path;
    buf body;
    int body_too_large;
    int auth_parsed;
    char *basic_user;
    char *basic_password;
};

typedef struct sim_state {
    const sim_crm *crm;
    sim_options opts;
    pthread_mutex_t lock;
    volatile int stop;
    int verbose;
    int64_t start_mono;
    _Atomic int64_t clock_offset;
    uint64_t rng;
    uint64_t jitter_rng;
    int64_t latency_ms, jitter_ms;
    double rate, burst, tokens;
    int64_t bucket_ms;
    json_t *faults;     /* array of fault objects, in order */
    json_t *schedules;  /* array of {"id","remaining","action","args"} */
    json_t *sched_done; /* array of {"id","action","status","result","request"} */
    long next_sched_id;
    long requests, rate_limited, faults_injected;
    json_t *by_status, *by_path;
} sim_state;

/* The framework's state (sim.c). */
extern sim_state S;

/* ---- sim.c ---- */
/* Replaces the generic token bucket's rate (requests/s, 0 = off) and burst. */
void sim_bucket_configure(double rate, double burst);

/* ---- control.c ---- */
/* Serves a request under CONTROL_PREFIX (takes the lock). */
void sim_control_serve(sim_request *req, sim_response *resp);
/* Runs the scheduled control actions due before the current API request (under the lock). */
void sim_control_run_schedules(void);
/* The first pending fault matching the request, consuming one of its count (new reference), or
 * NULL (under the lock). */
json_t *sim_control_take_fault(const sim_request *req);

#endif
