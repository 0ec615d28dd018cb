/* test_shard_group.c — shard membership on librdkafka's mock cluster: three members of one
 * group share 12 shards 4/4/4, a shard never runs on two members at once, a member that leaves
 * hands its shards over (stopped before they start elsewhere) and the other two end up 6/6; a
 * coordinator unreachable beyond the session timeout stops a member's shards as lost and they
 * run again once it is back; a coordination topic whose partition count differs from shards is
 * refused. The real-broker
 * proofs (kill -9 reassignment within the session timeout, rolling restarts) are integration
 * tests 80-82. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "shard_group.h"
#include "util.h"

#define SHARDS  12
#define MEMBERS 3

/* Who runs each shard (-1: nobody), as the handlers saw it. */
static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
static int owner[SHARDS];
static int claimed_by[SHARDS]; /* -1: unclaimed */
static int running[MEMBERS];
static int double_starts, foreign_stops, lost_stops, unclaimed_starts;

typedef struct member {
    int id;
    shard_group *g;
} member;

/* Claims come before starts (the engine fences there); a claim may precede others' starts. */
static int claim_shard(int shard, void *u)
{
    member *m = u;
    pthread_mutex_lock(&owners_lock);
    claimed_by[shard] = m->id;
    pthread_mutex_unlock(&owners_lock);
    return 0;
}

static int start_shard(int shard, void *u)
{
    member *m = u;
    pthread_mutex_lock(&owners_lock);
    if (claimed_by[shard] != m->id)
        unclaimed_starts++;
    if (owner[shard] != -1)
        double_starts++;
    owner[shard] = m->id;
    running[m->id]++;
    pthread_mutex_unlock(&owners_lock);
    return 0;
}

static void stop_shard(int shard, int lost, void *u)
{
    member *m = u;
    pthread_mutex_lock(&owners_lock);
    if (owner[shard] != m->id)
        foreign_stops++;
    owner[shard] = -1;
    if (claimed_by[shard] == m->id)
        claimed_by[shard] = -1;
    running[m->id]--;
    lost_stops += lost;
    pthread_mutex_unlock(&owners_lock);
}

/* Waits up to secs for the members' running counts to equal want[]. */
static int wait_for_spread(const int *want, int secs)
{
    for (int i = 0; i < secs * 10; i++) {
        int same = 1;
        pthread_mutex_lock(&owners_lock);
        for (int m = 0; m < MEMBERS; m++)
            same = same && running[m] == want[m];
        pthread_mutex_unlock(&owners_lock);
        if (same)
            return 1;
        sleep_interruptible(100, NULL);
    }
    pthread_mutex_lock(&owners_lock);
    fprintf(stderr, "spread: %d/%d/%d\n", running[0], running[1], running[2]);
    pthread_mutex_unlock(&owners_lock);
    return 0;
}

static kafka_config group_config(const char *bootstraps)
{
    kafka_config kc;
    memset(&kc, 0, sizeof(kc));
    kc.bootstrap_servers = (char *)bootstraps;
    kc.topic_prefix = "t";
    kc.deployment = "t";
    kc.topic_partitions = 1;
    kc.replication_factor = 1;
    kc.coordination = COORDINATION_GROUP;
    kc.group_session_timeout_ms = 6000;
    return kc;
}

static void test_spread_and_handover(rd_kafka_mock_cluster_t *mc, const char *bootstraps)
{
    CHECK(rd_kafka_mock_topic_create(mc, "t.shards", SHARDS, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka_config kc = group_config(bootstraps);
    char name[64];
    shard_group_topic(&kc, name, sizeof(name));
    CHECK_STR(name, "t.shards");
    shard_group_id(&kc, name, sizeof(name));
    CHECK_STR(name, "crmstream-t");
    for (int s = 0; s < SHARDS; s++)
        owner[s] = claimed_by[s] = -1;
    member members[MEMBERS];
    char err[512] = "";
    for (int m = 0; m < MEMBERS; m++) {
        members[m].id = m;
        shard_group_handler h = {claim_shard, start_shard, stop_shard, &members[m]};
        members[m].g = shard_group_start(&kc, SHARDS, &h, err, sizeof(err));
        CHECK(members[m].g != NULL);
        if (!members[m].g) {
            fprintf(stderr, "%s\n", err);
            return;
        }
    }
    int even[MEMBERS] = {4, 4, 4};
    CHECK(wait_for_spread(even, 60));
    unsigned char shards[SHARDS];
    CHECK(shard_group_running(members[1].g, shards) == 4);
    char list[128];
    shard_group_describe(members[1].g, list, sizeof(list));
    int listed = 0;
    for (int s = 0; s < SHARDS; s++)
        if (shards[s]) {
            char one[8];
            snprintf(one, sizeof(one), "%d", s);
            listed += strstr(list, one) != NULL;
        }
    CHECK(listed == 4);

    /* Member 0 leaves: its shards stop there, then run on the other two. */
    shard_group_stop(members[0].g);
    int after[MEMBERS] = {0, 6, 6};
    CHECK(wait_for_spread(after, 60));
    pthread_mutex_lock(&owners_lock);
    for (int s = 0; s < SHARDS; s++)
        CHECK(owner[s] == 1 || owner[s] == 2);
    pthread_mutex_unlock(&owners_lock);
    shard_group_stop(members[1].g);
    shard_group_stop(members[2].g);
    int none[MEMBERS] = {0, 0, 0};
    CHECK(wait_for_spread(none, 1));
    CHECK(double_starts == 0);
    CHECK(foreign_stops == 0);
    CHECK(lost_stops == 0);
    CHECK(unclaimed_starts == 0);
}

/* The group coordinator unreachable for longer than the session timeout: the member cannot
 * know whether another took its shards, so it stops them as lost (abort, not commit); back in
 * the group it runs them again. */
static void test_coordinator_outage(rd_kafka_mock_cluster_t *mc, const char *bootstraps)
{
    CHECK(rd_kafka_mock_topic_create(mc, "v.shards", SHARDS, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka_config kc = group_config(bootstraps);
    kc.topic_prefix = "v";
    kc.deployment = "v";
    for (int s = 0; s < SHARDS; s++)
        owner[s] = claimed_by[s] = -1;
    lost_stops = 0;
    member m = {0, NULL};
    shard_group_handler h = {claim_shard, start_shard, stop_shard, &m};
    char err[512] = "";
    m.g = shard_group_start(&kc, SHARDS, &h, err, sizeof(err));
    CHECK(m.g != NULL);
    if (!m.g)
        return;
    int all[MEMBERS] = {SHARDS, 0, 0};
    CHECK(wait_for_spread(all, 60));
    CHECK(rd_kafka_mock_broker_set_down(mc, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    int none[MEMBERS] = {0, 0, 0};
    CHECK(wait_for_spread(none, 30));
    CHECK(lost_stops == SHARDS);
    CHECK(rd_kafka_mock_broker_set_up(mc, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(wait_for_spread(all, 60));
    shard_group_stop(m.g);
    CHECK(wait_for_spread(none, 1));
    CHECK(lost_stops == SHARDS); /* the clean leave stopped them as not lost */
    CHECK(double_starts == 0);
    CHECK(foreign_stops == 0);
}

static void test_partition_mismatch(rd_kafka_mock_cluster_t *mc, const char *bootstraps)
{
    CHECK(rd_kafka_mock_topic_create(mc, "u.shards", 5, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka_config kc = group_config(bootstraps);
    kc.topic_prefix = "u";
    kc.deployment = "u";
    member m = {0, NULL};
    shard_group_handler h = {claim_shard, start_shard, stop_shard, &m};
    char err[512] = "";
    CHECK(shard_group_start(&kc, SHARDS, &h, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "coordination topic u.shards has 5 partitions but shards = 12");
}

int main(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    CHECK(host != NULL);
    rd_kafka_mock_cluster_t *mc = host ? rd_kafka_mock_cluster_new(host, 1) : NULL;
    CHECK(mc != NULL);
    if (mc) {
        char *bootstraps = xstrdup(rd_kafka_mock_cluster_bootstraps(mc));
        test_spread_and_handover(mc, bootstraps);
        test_coordinator_outage(mc, bootstraps);
        test_partition_mismatch(mc, bootstraps);
        free(bootstraps);
        rd_kafka_mock_cluster_destroy(mc);
    }
    if (host)
        rd_kafka_destroy(host);
    return check_summary("test_shard_group");
}
