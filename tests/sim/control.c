/* control.c — the simulator framework's control plane: the /_control/ endpoints that inject
 * faults, set latency and the rate limit, schedule actions, report and reset statistics, move the
 * clock and set parameters; anything else goes to the personality's control(). Tests drive the
 * simulators through it.
 *
 * Control endpoints (JSON bodies; a GET passes its query arguments as a JSON object of strings):
 *   GET  /_control/health                      {"ok":true,"crm":name,"now":...}
 *   POST /_control/fault     {"kind":"status","status":503[,"count":2][,"path_prefix":"/api/x"]
 *                             [,"method":"GET"][,"body":"..."][,"retry_after":secs]}
 *                            {"kind":"timeout"[,"seconds":30]}  hold, then drop without answer
 *                            {"kind":"drop"}            close the connection without an answer
 *                            {"kind":"truncate"[,"mode":"body"|"abort"]}  200, half the body
 *                              ("body": Content-Length matches the cut body, so the JSON is
 *                              invalid; "abort": Content-Length of the full body, the connection
 *                              closes half-way, a transport error for the client)
 *                            {"kind":"invalid_json"[,"body":"..."]}   200 with a garbage body
 *                            {"kind":"reset"}           clear all pending faults
 *                            count defaults to 1; count < 0 means "until reset". Faults consume
 *                            on matching API requests in the order they were added.
 *   GET  /_control/fault                       the pending faults
 *   POST /_control/latency   {"ms":N[,"jitter_ms":J]}   every API request sleeps N (+0..J) ms
 *   POST /_control/ratelimit {"rate":R[,"burst":B]}     token bucket; rate 0 = off
 *   POST /_control/schedule  {"after_requests":N,"action":A[,"args":{...}]}   runs control action
 *                            A (a personality action such as "mutate", or a framework one such as
 *                            "fault" or "clock") just before serving the Nth subsequent API
 *                            request (N <= 0: now). GET lists pending and executed schedules.
 *   GET  /_control/stats      {"requests":n,"by_status":{"200":n,..},"by_path":{..},
 *                             "rate_limited":n,"faults":n}
 *   POST /_control/stats/reset
 *   POST /_control/clock     {"advance_ms":N}   moves the simulated clock forward; GET shows it
 *   POST /_control/param     {"name":"value",...}   sets personality parameters at run time
 *   anything else            passed to the personality's control(action, args)
 */
#include "sim_framework.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm_time.h"

static json_t *err_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *err_json(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{ss}", "error", msg);
}

static json_t *clock_json(void)
{
    char ts[32];
    int64_t now = sim_now_ms();
    crm_time_format(now, ts, sizeof ts);
    return json_pack("{sssIsI}", "now", ts, "now_ms", (json_int_t)now, "offset_ms",
                     (json_int_t)atomic_load(&S.clock_offset));
}

/* Reads a number that may also be given as a string (GET query arguments are strings). */
static int num_arg(json_t *args, const char *key, double *out)
{
    json_t *v = json_object_get(args, key);
    if (!v)
        return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 1;
    }
    if (json_is_string(v)) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (end != json_string_value(v) && !*end) {
            *out = d;
            return 1;
        }
    }
    return -1;
}

static int control_fault(json_t *args, json_t **result)
{
    const char *kind = json_string_value(json_object_get(args, "kind"));
    if (!kind) {
        *result = err_json("fault needs \"kind\"");
        return 400;
    }
    if (strcmp(kind, "reset") == 0) {
        json_array_clear(S.faults);
        *result = json_pack("{sbsi}", "ok", 1, "pending", 0);
        return 200;
    }
    if (strcmp(kind, "status") && strcmp(kind, "timeout") && strcmp(kind, "drop") &&
        strcmp(kind, "truncate") && strcmp(kind, "invalid_json")) {
        *result = err_json("unknown fault kind \"%s\"", kind);
        return 400;
    }
    json_t *f = json_object();
    json_object_set_new(f, "kind", json_string(kind));
    double d;
    int r = num_arg(args, "count", &d);
    if (r < 0)
        goto bad;
    json_object_set_new(f, "count", json_integer(r ? (json_int_t)d : 1));
    if (strcmp(kind, "status") == 0) {
        if (num_arg(args, "status", &d) != 1 || d < 100 || d > 599)
            goto bad;
        json_object_set_new(f, "status", json_integer((json_int_t)d));
    }
    if (strcmp(kind, "timeout") == 0) {
        r = num_arg(args, "seconds", &d);
        if (r < 0 || (r && d < 0))
            goto bad;
        json_object_set_new(f, "seconds", json_real(r ? d : 30));
    }
    r = num_arg(args, "retry_after", &d);
    if (r < 0)
        goto bad;
    if (r)
        json_object_set_new(f, "retry_after", json_integer((json_int_t)d));
    const char *keys[] = {"path_prefix", "method", "body", "mode"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(args, keys[i]);
        if (v && !json_is_string(v))
            goto bad;
        if (v)
            json_object_set(f, keys[i], v);
    }
    const char *mode = json_string_value(json_object_get(f, "mode"));
    if (mode && strcmp(mode, "body") && strcmp(mode, "abort"))
        goto bad;
    json_array_append_new(S.faults, f);
    *result = json_pack("{sbsi}", "ok", 1, "pending", (int)json_array_size(S.faults));
    return 200;
bad:
    json_decref(f);
    *result = err_json("invalid fault arguments");
    return 400;
}

static int control_dispatch(const char *method, const char *action, json_t *args, json_t **result);

static int control_schedule(json_t *args, json_t **result)
{
    double n = 1;
    const char *action = json_string_value(json_object_get(args, "action"));
    json_t *a = json_object_get(args, "args");
    if (!action || num_arg(args, "after_requests", &n) < 0 || (a && !json_is_object(a))) {
        *result = err_json("schedule needs \"after_requests\", \"action\" and object \"args\"");
        return 400;
    }
    if (strcmp(action, "schedule") == 0) {
        *result = err_json("cannot schedule a schedule");
        return 400;
    }
    long id = ++S.next_sched_id;
    if (n <= 0) {
        json_t *res = NULL;
        json_t *copy = a ? json_deep_copy(a) : json_object();
        int st = control_dispatch("POST", action, copy, &res);
        json_decref(copy);
        *result = json_pack("{sbsisisO}", "ok", 1, "id", (int)id, "status", st, "result",
                            res ? res : json_null());
        json_decref(res);
        return 200;
    }
    json_array_append_new(S.schedules, json_pack("{sisIssso}", "id", (int)id, "remaining",
                                                 (json_int_t)n, "action", action, "args",
                                                 a ? json_deep_copy(a) : json_object()));
    *result = json_pack("{sbsi}", "ok", 1, "id", (int)id);
    return 200;
}

static json_t *stats_json(void)
{
    return json_pack("{sIsOsOsIsI}", "requests", (json_int_t)S.requests, "by_status", S.by_status,
                     "by_path", S.by_path, "rate_limited", (json_int_t)S.rate_limited, "faults",
                     (json_int_t)S.faults_injected);
}

static void stats_reset(void)
{
    S.requests = S.rate_limited = S.faults_injected = 0;
    json_object_clear(S.by_status);
    json_object_clear(S.by_path);
}

static int control_param(json_t *args, json_t **result)
{
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v)
    {
        if (json_is_string(v)) {
            json_object_set(S.opts.params, k, v);
        } else if (json_is_integer(v)) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
            json_object_set_new(S.opts.params, k, json_string(tmp));
        } else if (json_is_boolean(v)) {
            json_object_set_new(S.opts.params, k, json_string(json_is_true(v) ? "true" : "false"));
        } else if (json_is_null(v)) {
            json_object_del(S.opts.params, k);
        } else {
            *result = err_json("parameter \"%s\" must be a string, integer or boolean", k);
            return 400;
        }
    }
    *result = json_deep_copy(S.opts.params);
    return 200;
}

static int control_dispatch(const char *method, const char *action, json_t *args, json_t **result)
{
    int get = strcmp(method, "GET") == 0;
    double d;
    if (strcmp(action, "health") == 0) {
        json_t *clock = clock_json();
        *result = json_pack("{sbss}", "ok", 1, "crm", S.crm->name);
        json_object_update(*result, clock);
        json_decref(clock);
        return 200;
    }
    if (strcmp(action, "fault") == 0) {
        if (get) {
            *result = json_pack("{sO}", "pending", S.faults);
            return 200;
        }
        return control_fault(args, result);
    }
    if (strcmp(action, "latency") == 0) {
        if (!get) {
            int r1 = num_arg(args, "ms", &d);
            if (r1 < 0 || (r1 && d < 0))
                goto bad;
            if (r1)
                S.latency_ms = (int64_t)d;
            int r2 = num_arg(args, "jitter_ms", &d);
            if (r2 < 0 || (r2 && d < 0))
                goto bad;
            S.jitter_ms = r2 ? (int64_t)d : (r1 ? 0 : S.jitter_ms);
        }
        *result = json_pack("{sIsI}", "ms", (json_int_t)S.latency_ms, "jitter_ms",
                            (json_int_t)S.jitter_ms);
        return 200;
    }
    if (strcmp(action, "ratelimit") == 0) {
        if (!get) {
            double rate = 0, burst = 0;
            if (num_arg(args, "rate", &rate) != 1 || num_arg(args, "burst", &burst) < 0 || rate < 0)
                goto bad;
            sim_bucket_configure(rate, burst);
        }
        double rate, burst, tokens;
        sim_ratelimit_state(&rate, &burst, &tokens);
        *result = json_pack("{sfsfsf}", "rate", rate, "burst", burst, "tokens", tokens);
        return 200;
    }
    if (strcmp(action, "schedule") == 0) {
        if (get) {
            *result = json_pack("{sOsO}", "pending", S.schedules, "done", S.sched_done);
            return 200;
        }
        return control_schedule(args, result);
    }
    if (strcmp(action, "stats") == 0) {
        *result = stats_json();
        return 200;
    }
    if (strcmp(action, "stats/reset") == 0) {
        stats_reset();
        *result = stats_json();
        return 200;
    }
    if (strcmp(action, "clock") == 0) {
        if (!get) {
            int r = num_arg(args, "advance_ms", &d);
            if (r != 1 || d < 0)
                goto bad;
            atomic_fetch_add(&S.clock_offset, (int64_t)d);
        }
        *result = clock_json();
        return 200;
    }
    if (strcmp(action, "param") == 0) {
        if (get) {
            *result = json_deep_copy(S.opts.params);
            return 200;
        }
        return control_param(args, result);
    }
    if (!S.crm->control) {
        *result = err_json("unknown control action \"%s\"", action);
        return 404;
    }
    *result = NULL;
    int st = S.crm->control(action, args, result);
    if (!*result)
        *result = st == 404 ? err_json("unknown control action \"%s\"", action) : json_object();
    return st;
bad:
    *result = err_json("invalid arguments for %s", action);
    return 400;
}

void sim_control_run_schedules(void)
{
    json_t *due = json_array();
    for (size_t i = 0; i < json_array_size(S.schedules);) {
        json_t *s = json_array_get(S.schedules, i);
        json_int_t left = json_integer_value(json_object_get(s, "remaining")) - 1;
        json_object_set_new(s, "remaining", json_integer(left));
        if (left <= 0) {
            json_array_append(due, s);
            json_array_remove(S.schedules, i);
        } else {
            i++;
        }
    }
    size_t i;
    json_t *s;
    json_array_foreach(due, i, s)
    {
        const char *action = json_string_value(json_object_get(s, "action"));
        json_t *res = NULL;
        int st = control_dispatch("POST", action, json_object_get(s, "args"), &res);
        if (S.verbose)
            fprintf(stderr, "crmsim: schedule %lld ran %s -> %d\n",
                    (long long)json_integer_value(json_object_get(s, "id")), action, st);
        json_array_append_new(S.sched_done,
                              json_pack("{sOsssisosI}", "id", json_object_get(s, "id"), "action",
                                        action, "status", st, "result", res ? res : json_null(),
                                        "request", (json_int_t)S.requests));
    }
    json_decref(due);
}

json_t *sim_control_take_fault(const sim_request *req)
{
    size_t i;
    json_t *f;
    json_array_foreach(S.faults, i, f)
    {
        const char *prefix = json_string_value(json_object_get(f, "path_prefix"));
        const char *method = json_string_value(json_object_get(f, "method"));
        if (prefix && strncmp(req->path, prefix, strlen(prefix)) != 0)
            continue;
        if (method && strcasecmp(req->method, method) != 0)
            continue;
        json_incref(f);
        json_int_t count = json_integer_value(json_object_get(f, "count"));
        if (count > 0) {
            count--;
            json_object_set_new(f, "count", json_integer(count));
            if (count == 0)
                json_array_remove(S.faults, i);
        }
        return f;
    }
    return NULL;
}

static enum MHD_Result query_to_json(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    json_object_set_new(cls, key, json_string(value ? value : ""));
    return MHD_YES;
}

void sim_control_serve(sim_request *req, sim_response *resp)
{
    const char *action = req->path + strlen(CONTROL_PREFIX);
    json_t *args;
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        args = json_object();
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_to_json, args);
    } else if (req->body.len == 0) {
        args = json_object();
    } else {
        json_error_t e;
        args = json_loadb(req->body.data, req->body.len, 0, &e);
        if (!json_is_object(args)) {
            json_decref(args);
            sim_json_error(resp, 400, "control body must be a JSON object");
            return;
        }
    }
    pthread_mutex_lock(&S.lock);
    json_t *result = NULL;
    int st = control_dispatch(req->method, action, args, &result);
    sim_json(resp, st, result); /* dumps under the lock: result may share personality data */
    pthread_mutex_unlock(&S.lock);
    json_decref(args);
}
