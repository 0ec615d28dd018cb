/* shard_group.c — the consumer-group membership that decides which shards run on this instance
 * (shard_group.h says how and why). One thread per instance polls the group's consumer: the
 * rebalance callback records assigned shards and stops revoked ones; between polls the thread
 * starts the assigned shards one at a time. */
#include "shard_group.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"
#include "util.h"

#define RETRY_START_MS 5000
/* Bounds of the leave: waiting for a first assignment (librdkafka #4381) and for the revoke. */
#define LEAVE_WAIT_MS 30000

/* assigned -> claimed (the previous owner fenced) -> running; revoked: back to idle */
enum { SHARD_IDLE = 0, SHARD_ASSIGNED, SHARD_CLAIMED, SHARD_RUNNING };

struct shard_group {
    int shards;
    shard_group_handler h;
    char group_id[256];
    char topic[256];
    rd_kafka_t *rk;
    pthread_t thread;
    volatile int leaving;
    int rebalanced; /* a rebalance callback was served (librdkafka has our assignor state) */
    int last_poll_err;
    pthread_mutex_t lock; /* state, for shard_group_running from other threads */
    unsigned char *state;
    int64_t *start_at; /* SHARD_ASSIGNED: when to (re)try the claim and start */
};

void shard_group_topic(const kafka_config *kc, char *out, size_t len)
{
    snprintf(out, len, "%s.shards", kc->deployment);
}

void shard_group_id(const kafka_config *kc, char *out, size_t len)
{
    snprintf(out, len, "crmstream-%s", kc->deployment);
}

static void set_state(shard_group *g, int shard, int state)
{
    pthread_mutex_lock(&g->lock);
    g->state[shard] = (unsigned char)state;
    pthread_mutex_unlock(&g->lock);
}

int shard_group_running(shard_group *g, unsigned char *running)
{
    int n = 0;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->shards; i++) {
        running[i] = g->state[i] == SHARD_RUNNING;
        n += running[i];
    }
    pthread_mutex_unlock(&g->lock);
    return n;
}

const char *shard_group_describe(shard_group *g, char *out, size_t len)
{
    unsigned char *running = xcalloc((size_t)g->shards, 1);
    shard_group_running(g, running);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < g->shards && used < len; i++)
        if (running[i])
            used += (size_t)snprintf(out + used, len - used, "%s%d", used ? "," : "", i);
    if (!out[0])
        snprintf(out, len, "none");
    free(running);
    return out;
}

static void list_partitions(const rd_kafka_topic_partition_list_t *p, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; p && i < p->cnt && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%d", used ? "," : "",
                                 p->elems[i].partition);
    if (!out[0])
        snprintf(out, len, "none");
}

static void log_running(shard_group *g, const char *what, const rd_kafka_topic_partition_list_t *p)
{
    char list[512], running[512];
    list_partitions(p, list, sizeof(list));
    log_info(NULL, NULL, "shard group %s: %s shards %s; running here: %s", g->group_id, what, list,
             shard_group_describe(g, running, sizeof(running)));
}

/* ---- rebalances -------------------------------------------------------------------------- */

static int is_cooperative(rd_kafka_t *rk)
{
    return strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
}

static void record_assigned(shard_group *g, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        int s = parts->elems[i].partition;
        if (s < 0 || s >= g->shards) {
            log_warn(NULL, NULL, "shard group %s: partition %d of %s is no shard (shards = %d)",
                     g->group_id, s, g->topic, g->shards);
            continue;
        }
        g->start_at[s] = 0;
        if (g->state[s] == SHARD_IDLE)
            set_state(g, s, SHARD_ASSIGNED);
    }
}

/* The "shard N starting/stopping" lines are what tests/integration/shard_check.py orders by
 * time across instances (a shard never runs on two at once). */
static void stop_shard(shard_group *g, int s, int lost)
{
    log_info(NULL, NULL, "shard group %s: shard %d stopping%s", g->group_id, s,
             lost ? " (lost: its transaction aborts)" : "");
    g->h.stop(s, lost, g->h.u);
}

static void stop_revoked(shard_group *g, const rd_kafka_topic_partition_list_t *parts, int lost)
{
    for (int i = 0; i < parts->cnt; i++) {
        int s = parts->elems[i].partition;
        if (s < 0 || s >= g->shards)
            continue;
        if (g->state[s] == SHARD_CLAIMED || g->state[s] == SHARD_RUNNING)
            stop_shard(g, s, lost);
        set_state(g, s, SHARD_IDLE);
    }
}

static void retry_later(shard_group *g, int s, const char *what)
{
    g->start_at[s] = now_monotonic_ms() + RETRY_START_MS;
    set_state(g, s, SHARD_ASSIGNED);
    log_warn(NULL, NULL, "shard group %s: shard %d did not %s; retrying in %d s", g->group_id, s,
             what, RETRY_START_MS / 1000);
}

/* Claims every assigned shard whose time has come, before any of them starts: the previous
 * owners' open transactions (a killed instance's, on every shard it ran) are aborted at once,
 * so that no state read waits for them to time out. */
static void claim_assigned(shard_group *g)
{
    int64_t now = now_monotonic_ms();
    for (int s = 0; s < g->shards; s++) {
        if (g->state[s] != SHARD_ASSIGNED || g->start_at[s] > now)
            continue;
        log_info(NULL, NULL, "shard group %s: shard %d starting", g->group_id, s);
        if (!g->h.claim || g->h.claim(s, g->h.u) == 0)
            set_state(g, s, SHARD_CLAIMED);
        else
            retry_later(g, s, "start (claim)");
    }
}

static void check_assign_call(shard_group *g, const char *what, rd_kafka_error_t *e,
                              rd_kafka_resp_err_t code)
{
    if (e) {
        log_error(NULL, NULL, "shard group %s: %s: %s", g->group_id, what,
                  rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (code) {
        log_error(NULL, NULL, "shard group %s: %s: %s", g->group_id, what, rd_kafka_err2str(code));
    }
}

/* The coordination topic is never read: its partitions are paused once assigned, so the
 * consumer sends no fetches. */
static void pause_quietly(shard_group *g, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t e = rd_kafka_pause_partitions(g->rk, parts);
    if (e)
        log_debug(NULL, NULL, "shard group %s: pause: %s", g->group_id, rd_kafka_err2str(e));
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    shard_group *g = opaque;
    int coop = is_cooperative(rk);
    g->rebalanced = 1;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (coop)
            check_assign_call(g, "incremental assign", rd_kafka_incremental_assign(rk, parts), 0);
        else
            check_assign_call(g, "assign", NULL, rd_kafka_assign(rk, parts));
        pause_quietly(g, parts);
        record_assigned(g, parts);
        log_running(g, "assigned", parts);
        claim_assigned(g);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        int lost = rd_kafka_assignment_lost(rk);
        /* The shards stop before the revoke completes: the next owner gets them afterwards. */
        stop_revoked(g, parts, lost);
        if (coop)
            check_assign_call(g, "incremental unassign", rd_kafka_incremental_unassign(rk, parts),
                              0);
        else
            check_assign_call(g, "unassign", NULL, rd_kafka_assign(rk, NULL));
        log_running(g, lost ? "lost" : "revoked", parts);
    } else {
        log_error(NULL, NULL, "shard group %s: rebalance failed: %s", g->group_id,
                  rd_kafka_err2str(err));
        if (!coop)
            check_assign_call(g, "unassign", NULL, rd_kafka_assign(rk, NULL));
    }
}

/* Broker trouble reaches the group as errors librdkafka retries by itself; a member that stays
 * cut off from the coordinator beyond the session timeout loses its shards (a lost revoke). */
static void on_group_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    shard_group *g = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        log_error(NULL, NULL, "shard group %s: kafka fatal error: %s", g->group_id, reason);
    else
        log_warn(NULL, NULL, "shard group %s: kafka: %s: %s", g->group_id, rd_kafka_err2name(err),
                 reason);
}

/* ---- the group's thread ------------------------------------------------------------------ */

static void poll_group(shard_group *g, int timeout_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(g->rk, timeout_ms);
    if (!m)
        return;
    if (m->err && m->err != g->last_poll_err)
        log_warn(NULL, NULL, "shard group %s: %s", g->group_id, rd_kafka_message_errstr(m));
    g->last_poll_err = m->err;
    rd_kafka_message_destroy(m);
}

/* Starts one claimed shard; 1 when it tried one. */
static int start_one_shard(shard_group *g)
{
    claim_assigned(g);
    for (int s = 0; s < g->shards; s++) {
        if (g->state[s] != SHARD_CLAIMED)
            continue;
        if (g->h.start(s, g->h.u) == 0) {
            set_state(g, s, SHARD_RUNNING);
            char running[512];
            log_info(NULL, NULL, "shard group %s: shard %d started; running here: %s", g->group_id,
                     s, shard_group_describe(g, running, sizeof(running)));
        } else {
            retry_later(g, s, "start");
        }
        return 1;
    }
    return 0;
}

/* Hands every shard back: unsubscribing revokes them through the rebalance callback (which
 * stops them), then the consumer closes with nothing assigned (librdkafka #4528). A member that
 * joined but has had no assignment yet waits for it first (#4381). */
static void leave_group(shard_group *g)
{
    char *member = rd_kafka_memberid(g->rk); /* "" until a JoinGroup answered */
    int64_t deadline = now_monotonic_ms() + LEAVE_WAIT_MS;
    while (member && member[0] && !g->rebalanced && now_monotonic_ms() < deadline)
        poll_group(g, 100);
    if (member)
        rd_kafka_mem_free(g->rk, member);
    rd_kafka_resp_err_t e = rd_kafka_unsubscribe(g->rk);
    if (e)
        log_warn(NULL, NULL, "shard group %s: unsubscribe: %s", g->group_id, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_t *assigned = NULL;
    while (now_monotonic_ms() < deadline) {
        poll_group(g, 100);
        if (assigned)
            rd_kafka_topic_partition_list_destroy(assigned);
        assigned = NULL;
        if (rd_kafka_assignment(g->rk, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            assigned->cnt == 0)
            break;
    }
    if (assigned)
        rd_kafka_topic_partition_list_destroy(assigned);
    /* Shards the revoke never reached (no coordinator answered): stop them all the same. */
    for (int s = 0; s < g->shards; s++) {
        if (g->state[s] == SHARD_CLAIMED || g->state[s] == SHARD_RUNNING)
            stop_shard(g, s, 0);
        set_state(g, s, SHARD_IDLE);
    }
    e = rd_kafka_consumer_close(g->rk);
    if (e)
        log_warn(NULL, NULL, "shard group %s: close: %s", g->group_id, rd_kafka_err2str(e));
    log_info(NULL, NULL, "shard group %s: left", g->group_id);
}

static void *group_thread(void *arg)
{
    shard_group *g = arg;
    while (!flag_is_set(&g->leaving)) {
        poll_group(g, start_one_shard(g) ? 0 : 100);
    }
    leave_group(g);
    return NULL;
}

/* ---- the group as the coordinator sees it ------------------------------------------------- */

static void visit_members(const rd_kafka_ConsumerGroupDescription_t *gd, shard_group_member_fn fn,
                          void *u)
{
    size_t n = rd_kafka_ConsumerGroupDescription_member_count(gd);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(gd, i);
        const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
        char shards[1024];
        list_partitions(a ? rd_kafka_MemberAssignment_partitions(a) : NULL, shards, sizeof(shards));
        fn(rd_kafka_MemberDescription_client_id(m), rd_kafka_MemberDescription_host(m), shards, u);
    }
}

int shard_group_members(const kafka_config *kc, shard_group_member_fn fn, void *u, char *err,
                        size_t errlen)
{
    char group[256];
    shard_group_id(kc, group, sizeof(group));
    rd_kafka_t *rk = kafka_admin_client(kc, err, errlen);
    if (!rk)
        return -1;
    int rc = -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    const char *groups[] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    const rd_kafka_DescribeConsumerGroups_result_t *res =
        ev ? rd_kafka_event_DescribeConsumerGroups_result(ev) : NULL;
    size_t cnt = 0;
    const rd_kafka_ConsumerGroupDescription_t **gds =
        res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &cnt) : NULL;
    if (!ev)
        snprintf(err, errlen, "kafka %s: no answer describing group %s within 30 s",
                 kc->bootstrap_servers, group);
    else if (rd_kafka_event_error(ev))
        snprintf(err, errlen, "describing group %s: %s", group, rd_kafka_event_error_string(ev));
    else if (cnt != 1)
        snprintf(err, errlen, "describing group %s: %zu answers", group, cnt);
    else if (rd_kafka_ConsumerGroupDescription_error(gds[0]))
        snprintf(err, errlen, "describing group %s: %s", group,
                 rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(gds[0])));
    else
        rc = 0;
    if (rc == 0)
        visit_members(gds[0], fn, u);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- start and stop ---------------------------------------------------------------------- */

static int check_topic(const kafka_config *kc, shard_group *g, char *err, size_t errlen)
{
    int n = kafka_ensure_partitioned_topic(kc, g->topic, g->shards, err, errlen);
    if (n < 0)
        return -1;
    if (n != g->shards) {
        snprintf(err, errlen,
                 "coordination topic %s has %d partitions but shards = %d: every instance "
                 "must use the same shards, and the topic one partition per shard (stop every "
                 "instance and delete the topic, it holds no data; the next start creates it)",
                 g->topic, n, g->shards);
        return -1;
    }
    return 0;
}

static rd_kafka_t *group_consumer(const kafka_config *kc, shard_group *g, char *err, size_t errlen)
{
    char session[32], heartbeat[32], client_id[300];
    int hb = kc->group_session_timeout_ms / 3 < 3000 ? kc->group_session_timeout_ms / 3 : 3000;
    snprintf(session, sizeof(session), "%d", kc->group_session_timeout_ms);
    snprintf(heartbeat, sizeof(heartbeat), "%d", hb);
    char host[64] = "";
    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
        snprintf(host, sizeof(host), "unknown");
    /* names the pod in Kubernetes, so the group's description says who runs which shard */
    snprintf(client_id, sizeof(client_id), "%s-%s-%ld", g->group_id, host, (long)getpid());
    const char *defaults[] = {"bootstrap.servers",
                              kc->bootstrap_servers,
                              "client.id",
                              client_id,
                              "group.id",
                              g->group_id,
                              "partition.assignment.strategy",
                              "cooperative-sticky",
                              "session.timeout.ms",
                              session,
                              "heartbeat.interval.ms",
                              heartbeat,
                              "enable.auto.commit",
                              "false",
                              "enable.auto.offset.store",
                              "false",
                              "auto.offset.reset",
                              "latest",
                              NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_apply(conf, kc, defaults, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, g);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_error_cb(conf, on_group_error);
    kafka_conf_set_logger(conf);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "shard group consumer: %s", errstr);
    }
    return rk;
}

static int subscribe(shard_group *g, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_poll_set_consumer(g->rk);
    if (e) {
        snprintf(err, errlen, "shard group consumer: %s", rd_kafka_err2str(e));
        return -1;
    }
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, g->topic, RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(g->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(err, errlen, "shard group %s: subscribe to %s: %s", g->group_id, g->topic,
                 rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static void group_free(shard_group *g)
{
    if (g->rk)
        rd_kafka_destroy(g->rk);
    pthread_mutex_destroy(&g->lock);
    free(g->state);
    free(g->start_at);
    free(g);
}

shard_group *shard_group_start(const kafka_config *kc, int shards, const shard_group_handler *h,
                               char *err, size_t errlen)
{
    shard_group *g = xcalloc(1, sizeof(*g));
    g->shards = shards;
    g->h = *h;
    shard_group_id(kc, g->group_id, sizeof(g->group_id));
    shard_group_topic(kc, g->topic, sizeof(g->topic));
    pthread_mutex_init(&g->lock, NULL);
    g->state = xcalloc((size_t)shards, 1);
    g->start_at = xcalloc((size_t)shards, sizeof(int64_t));
    if (check_topic(kc, g, err, errlen) || !(g->rk = group_consumer(kc, g, err, errlen)) ||
        subscribe(g, err, errlen)) {
        group_free(g);
        return NULL;
    }
    if (pthread_create(&g->thread, NULL, group_thread, g) != 0) {
        snprintf(err, errlen, "shard group %s: cannot start its thread", g->group_id);
        rd_kafka_consumer_close(g->rk);
        group_free(g);
        return NULL;
    }
    log_info(NULL, NULL,
             "shard group %s: joining on %s (%d shards, session timeout %d ms, "
             "cooperative-sticky)",
             g->group_id, g->topic, shards, kc->group_session_timeout_ms);
    return g;
}

void shard_group_stop(shard_group *g)
{
    if (!g)
        return;
    flag_set(&g->leaving, 1);
    pthread_join(g->thread, NULL);
    group_free(g);
}
