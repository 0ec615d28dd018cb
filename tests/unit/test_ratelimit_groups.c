/* test_ratelimit_groups.c — a source's limiters keyed by endpoint group, and the learning bucket
 * a group paces by: one limiter per group name, groups independent of each other and of the
 * source's own limiter, the limit a response states adopted (lowest wins, one token of slack,
 * the API's remaining count less what is in flight), remaining 0 emptying the bucket, and
 * Close's rate signal reading the quota from its headers and 429 bodies. Delays are checked with
 * ratelimit_peek_delay at slow rates, so timing noise (valgrind) cannot move them. */
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "connector.h"
#include "http.h"
#include "ratelimit_groups.h"
#include "util.h"

static int64_t delay(ratelimit *rl)
{
    return ratelimit_peek_delay(rl, now_monotonic_ms());
}

static void test_one_limiter_per_group(void)
{
    ratelimit_groups *g = ratelimit_groups_new(ratelimit_new(10, 1), 10, 1, 1);
    ratelimit *shared = ratelimit_groups_get(g, NULL);
    CHECK(shared != NULL && ratelimit_groups_get(g, "") == shared);
    ratelimit *act = ratelimit_groups_get(g, "activity");
    ratelimit *lead = ratelimit_groups_get(g, "lead");
    CHECK(act != NULL && lead != NULL && act != lead && act != shared && lead != shared);
    CHECK(ratelimit_groups_get(g, "activity") == act);
    /* more groups than the first allocation holds: earlier ones keep their limiter */
    ratelimit *first[20];
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        first[i] = ratelimit_groups_get(g, name);
    }
    int same = 1;
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        same &= ratelimit_groups_get(g, name) == first[i] && first[i] != act;
    }
    CHECK(same);
    CHECK(ratelimit_groups_get(g, "activity") == act);

    /* a group's spent budget and its pause hold back that group only */
    /* 10/s, burst 1: the next token 100 ms after the send, which came between t1 and t2 (under
     * load or valgrind they can be far apart) */
    int64_t t1 = now_monotonic_ms();
    CHECK(ratelimit_acquire(act, NULL, NULL) == 0);
    int64_t t2 = now_monotonic_ms();
    int64_t d = ratelimit_peek_delay(act, t2);
    CHECK(d >= 100 - (t2 - t1) && d <= 100 && d > 0);
    CHECK(delay(lead) == 0);
    CHECK(delay(shared) == 0);
    ratelimit_pause(lead, 5000);
    CHECK(delay(lead) > 4000);
    CHECK(delay(ratelimit_groups_get(g, "g3")) == 0);
    CHECK(delay(shared) == 0);
    ratelimit_groups_free(g);

    /* a limit the user set holds for the whole source: every group is the shared limiter, and
     * a stated limit changes nothing */
    g = ratelimit_groups_new(ratelimit_new(10, 1), 10, 1, 0);
    shared = ratelimit_groups_get(g, NULL);
    CHECK(ratelimit_groups_get(g, "activity") == shared && ratelimit_groups_get(g, "x") == shared);
    CHECK(ratelimit_learn(ratelimit_groups_get(g, "activity"), 1000, 1000, 999) == 0);
    CHECK(ratelimit_learned(shared, NULL, NULL) == 0);
    ratelimit_groups_free(g);
}

/* Acquires n sends that must go at once, then returns the delay of the next one. */
static int64_t delay_after(ratelimit *rl, int n)
{
    int immediate = 1;
    for (int i = 0; i < n; i++) {
        immediate &= delay(rl) == 0;
        ratelimit_acquire(rl, NULL, NULL);
    }
    CHECK(immediate);
    return delay(rl);
}

static void test_learns_the_stated_limit(void)
{
    ratelimit_groups *g = ratelimit_groups_new(ratelimit_new(15, 5), 15, 5, 1);
    ratelimit *act = ratelimit_groups_get(g, "activity");
    double rate = 0;
    int burst = 0;
    CHECK(ratelimit_learned(act, NULL, NULL) == 0);
    /* the source's own limiter does not learn */
    CHECK(ratelimit_learn(ratelimit_groups_get(g, NULL), 20, 1000, 19) == 0);
    CHECK(ratelimit_learned(ratelimit_groups_get(g, NULL), NULL, NULL) == 0);
    /* 20 per 100 s, 19 left: burst 19, and 18 of them now (one token of slack) */
    CHECK(ratelimit_learn(act, 20, 100000, 19) == 1);
    CHECK(ratelimit_learned(act, &rate, &burst) == 1);
    CHECK(rate > 0.1999 && rate < 0.2001 && burst == 19);
    int64_t d = delay_after(act, 18);
    CHECK(d > 4000 && d <= 5000); /* the next token in 1 / 0.2 s */
    /* a higher limit from another endpoint of the group is ignored, a lower one wins */
    CHECK(ratelimit_learn(act, 40, 100000, 39) == 1);
    ratelimit_learned(act, &rate, &burst);
    CHECK(rate < 0.2001 && burst == 19);
    CHECK(ratelimit_learn(act, 10, 100000, -1) == 1);
    ratelimit_learned(act, &rate, &burst);
    CHECK(rate > 0.0999 && rate < 0.1001 && burst == 9);
    CHECK(delay(act) > 9000); /* what it had, nothing more */
    /* a limit of 1 still lets one request through */
    ratelimit *one = ratelimit_groups_get(g, "one");
    CHECK(ratelimit_learn(one, 1, 100000, 1) == 1);
    ratelimit_learned(one, NULL, &burst);
    CHECK(burst == 1);
    ratelimit_groups_free(g);
}

/* The API's remaining count is what is left after that request: the sends reserved and not
 * answered yet take theirs from it too. */
static void test_remaining_less_in_flight(void)
{
    ratelimit_groups *g = ratelimit_groups_new(ratelimit_new(100, 50), 100, 50, 1);
    ratelimit *search = ratelimit_groups_get(g, "search");
    uint64_t t[3];
    for (int i = 0; i < 3; i++)
        CHECK(ratelimit_acquire_ticket(search, NULL, NULL, &t[i]) == 0);
    CHECK(ratelimit_learn(search, 20, 100000, 10) == 1); /* 10 left - 1 slack - 3 in flight */
    for (int i = 0; i < 3; i++)
        ratelimit_done(search, t[i]);
    CHECK(delay_after(search, 6) > 4000);

    /* remaining 0: no send before the API has a token again, one interval more per send in
     * flight (10/s: 100 ms each) */
    ratelimit *ev = ratelimit_groups_get(g, "event");
    CHECK(ratelimit_learn(ev, 10, 1000, 9) == 1);
    CHECK(delay(ev) == 0);
    uint64_t a, b;
    CHECK(ratelimit_acquire_ticket(ev, NULL, NULL, &a) == 0);
    CHECK(ratelimit_acquire_ticket(ev, NULL, NULL, &b) == 0);
    CHECK(delay(ev) == 0); /* the bucket still has tokens */
    CHECK(ratelimit_learn(ev, 10, 1000, 0) == 1);
    int64_t d = delay(ev);
    CHECK(d > 200 && d <= 300);
    ratelimit_done(ev, a);
    ratelimit_done(ev, b);
    ratelimit_groups_free(g);
}

static void fake_response(http_response *r, long status, char **lines, const char *body)
{
    http_response_init(r);
    r->status = status;
    int n = 0;
    while (lines[n])
        n++;
    r->headers = lines;
    r->n_headers = n;
    if (body)
        buf_append(&r->body, body, strlen(body));
}

static rate_signal close_signal(long status, char **lines, const char *body)
{
    const connector *c = connector_find("close");
    http_response r;
    fake_response(&r, status, lines, body);
    rate_signal sig = {.remaining = -1};
    c->rate_signal(NULL, &r, &sig);
    r.headers = NULL;
    r.n_headers = 0;
    http_response_free(&r);
    return sig;
}

static void test_close_states_its_quota(void)
{
    rate_signal s =
        close_signal(200, (char *[]){"ratelimit: limit=20; remaining=17; reset=1", NULL}, NULL);
    CHECK(s.limit == 20 && s.remaining == 17 && s.window_ms == 1000 && s.wait_ms == 0);
    s = close_signal(200, (char *[]){"ratelimit: limit=16, remaining=0, reset=1", NULL}, NULL);
    CHECK(s.limit == 16 && s.remaining == 0 && s.window_ms == 1000);
    s = close_signal(200,
                     (char *[]){"x-rate-limit-limit: 240", "x-rate-limit-remaining: 239",
                                "x-rate-limit-reset: 0.595956", NULL},
                     NULL);
    CHECK(s.limit == 240 && s.remaining == 239 && s.wait_ms == 0);
    s = close_signal(200, (char *[]){"content-type: application/json", NULL}, NULL);
    CHECK(s.limit == 0);
    /* a 429 body names the window: 320 per 8 s */
    s = close_signal(429, (char *[]){"ratelimit: limit=320; remaining=0; reset=1", NULL},
                     "{\"error\": {\"message\": \"API call count exceeded for this period\", "
                     "\"rate_reset\": \"0.595956\", \"rate_limit\": 320, \"rate_window\": 8, "
                     "\"rate_limit_type\": \"key\", \"rate_endpoint_group\": \"abc\"}}");
    CHECK(s.limit == 320 && s.remaining == 0 && s.window_ms == 8000 && s.wait_ms == 1000);
    s = close_signal(429, (char *[]){NULL},
                     "{\"message\": \"x\", \"rate_reset\": 2.5, \"rate_limit\": \"40\", "
                     "\"rate_window\": \"2\"}");
    CHECK(s.limit == 40 && s.window_ms == 2000 && s.wait_ms == 3000);
}

int main(void)
{
    test_one_limiter_per_group();
    test_learns_the_stated_limit();
    test_remaining_less_in_flight();
    test_close_states_its_quota();
    return check_summary("ratelimit_groups");
}
