/* test_shard.c — shards: the source-to-shard hash is FNV-1a 32 and stays what it is (a change
 * would move every deployment's sources to other transactional ids); the group commit queue puts
 * the requests that arrive while a transaction commits into the next one, hands each participant
 * its transaction's outcome, and serves every request exactly once (a fake commit records what it
 * saw); the layout history reads the migration records; and a shard's producer commits a group
 * against librdkafka's mock cluster. The real-broker proofs are tests/integration/77-79. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "shard.h"
#include "shard_commit.h"
#include "shard_migrate.h"
#include "util.h"

static void test_hash_is_stable(void)
{
    /* FNV-1a 32 reference values, and the shards of names the integration tests use: pinned, a
     * changed hash would move sources to other transactional ids. */
    CHECK(shard_hash("", 0) == 0x811c9dc5u);
    CHECK(shard_hash("a", 1) == 0xe40c292cu);
    CHECK(shard_hash("foobar", 6) == 0xbf9cf968u);
    CHECK(shard_of("acme", 4) == 3);
    CHECK(shard_of("a1", 4) == 3);
    CHECK(shard_of("a2", 4) == 2);
    CHECK(shard_of("s0001", 4) == 1);
    CHECK(shard_of("anything", 1) == 0);
    /* 1,000 names spread evenly enough over 4 shards */
    int per[4] = {0};
    char name[16];
    for (int i = 1; i <= 1000; i++) {
        snprintf(name, sizeof(name), "s%04d", i);
        int s = shard_of(name, 4);
        CHECK(s >= 0 && s < 4);
        per[s]++;
    }
    for (int s = 0; s < 4; s++)
        CHECK(per[s] > 200 && per[s] < 300);
    char out[24];
    shard_name(7, out, sizeof(out));
    CHECK_STR(out, "shard-7");
}

/* ---- group commit with a fake transaction ------------------------------------------------ */

#define THREADS 8
#define COMMITS 6

typedef struct fake {
    pthread_mutex_t lock;
    int rounds;
    int max_group;
    int seen[THREADS][COMMITS]; /* how many transactions held each request */
    int fail_every;             /* every fail_every-th round fails (0: none) */
    int failed_requests;        /* requests in failed rounds */
    int in_round;               /* a round is running: none may overlap */
    int overlapped;
    int missing_state; /* requests whose state batch did not reach the transaction */
    int poisoned_rounds;
    size_t max_messages; /* the queue's limit */
} fake;

static void mark_seen(const char *topic, const char *key, size_t key_len, const char *value,
                      size_t value_len, void *u)
{
    (void)topic;
    (void)value;
    (void)value_len;
    fake *f = u;
    int t = 0, c = 0;
    char k[32];
    snprintf(k, sizeof(k), "%.*s", (int)key_len, key);
    if (sscanf(k, "t%d-c%d", &t, &c) == 2 && t >= 0 && t < THREADS && c >= 0 && c < COMMITS)
        f->seen[t][c]++;
}

/* A batch holding a "poison" key: the fake producer refuses it (like a message too large). */
static void find_poison(const char *topic, const char *key, size_t key_len, const char *value,
                        size_t value_len, void *u)
{
    (void)topic;
    (void)value;
    (void)value_len;
    if (key_len >= 6 && memcmp(key, "poison", 6) == 0)
        *(int *)u = 1;
}

static kafka_result fake_commit(void *u, kafka_batch *const *data, kafka_batch *const *state,
                                size_t n, size_t *refused, volatile int *stop, char *err,
                                size_t errlen)
{
    (void)stop;
    fake *f = u;
    pthread_mutex_lock(&f->lock);
    f->overlapped += f->in_round;
    f->in_round = 1;
    int round = ++f->rounds;
    if ((int)n > f->max_group)
        f->max_group = (int)n;
    int fail = f->fail_every && round % f->fail_every == 0;
    for (size_t i = 0; i < n && !fail; i++) {
        int poison = 0;
        if (data[i])
            kafka_batch_each(data[i], find_poison, &poison);
        if (poison) {
            fail = 1;
            *refused = i;
            f->poisoned_rounds++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        f->missing_state += state[i] == NULL;
        if (!fail && data[i])
            kafka_batch_each(data[i], mark_seen, f);
    }
    if (fail)
        f->failed_requests += (int)n;
    pthread_mutex_unlock(&f->lock);
    struct timespec ts = {0, 20 * 1000000}; /* a transaction takes time: requests pile up */
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&f->lock);
    f->in_round = 0;
    pthread_mutex_unlock(&f->lock);
    if (fail) {
        snprintf(err, errlen, "round %d failed", round);
        return KAFKA_RETRY;
    }
    return KAFKA_OK;
}

typedef struct worker {
    shard_commit_queue *q;
    int id;
    int ok, retry;
    int err_named_round; /* failures carried the transaction's error */
    int poison;          /* its pages hold a message the producer refuses */
} worker;

static void *submit_commits(void *arg)
{
    worker *w = arg;
    volatile int stop = 0;
    for (int c = 0; c < COMMITS; c++) {
        kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
        char key[32];
        int k = snprintf(key, sizeof(key), w->poison ? "poison%d" : "t%d-c%d", w->id, c);
        kafka_batch_add(data, "topic", key, (size_t)k, "v", 1);
        kafka_batch_add(state, "state", "bm/x/y", 6, "{}", 2);
        char err[512] = "";
        kafka_result r = shard_commit_queue_submit(w->q, data, state, &stop, err, sizeof(err));
        if (r == KAFKA_OK) {
            w->ok++;
        } else {
            w->retry++;
            w->err_named_round += strstr(err, "failed") != NULL;
        }
        kafka_batch_free(data);
        kafka_batch_free(state);
    }
    return NULL;
}

static void run_workers(fake *f, worker *w, shard_commit_queue **q_out, int poison_worker)
{
    shard_commit_queue *q = shard_commit_queue_new(fake_commit, f, f->max_messages);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.q = q, .id = i, .poison = i == poison_worker};
        CHECK(pthread_create(&th[i], NULL, submit_commits, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    *q_out = q;
}

static void test_group_commit_batches(void)
{
    fake f = {.lock = PTHREAD_MUTEX_INITIALIZER};
    worker w[THREADS];
    shard_commit_queue *q;
    run_workers(&f, w, &q, -1);
    int ok = 0;
    for (int i = 0; i < THREADS; i++)
        ok += w[i].ok;
    CHECK(ok == THREADS * COMMITS);
    /* every request was in exactly one transaction */
    int once = 1;
    for (int t = 0; t < THREADS; t++)
        for (int c = 0; c < COMMITS; c++)
            once &= f.seen[t][c] == 1;
    CHECK(once);
    CHECK(f.overlapped == 0);
    CHECK(f.missing_state == 0);
    /* 8 threads asking while 20 ms transactions run: they share transactions */
    CHECK(f.max_group > 1);
    CHECK(f.rounds < THREADS * COMMITS);
    CHECK(shard_commit_queue_rounds(q) == f.rounds);
    CHECK(shard_commit_queue_requests(q) == THREADS * COMMITS);
    fprintf(stderr, "group commit: %d requests in %d transactions (largest %d)\n",
            THREADS * COMMITS, f.rounds, f.max_group);
    shard_commit_queue_free(q);
}

static void test_group_commit_failure_reaches_every_participant(void)
{
    fake f = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_every = 3};
    worker w[THREADS];
    shard_commit_queue *q;
    run_workers(&f, w, &q, -1);
    int ok = 0, retry = 0, named = 0;
    for (int i = 0; i < THREADS; i++) {
        ok += w[i].ok;
        retry += w[i].retry;
        named += w[i].err_named_round;
    }
    CHECK(f.failed_requests > 0);
    CHECK(retry == f.failed_requests); /* each participant of a failed round, and only those */
    CHECK(named == retry);
    CHECK(ok + retry == THREADS * COMMITS);
    int committed = 0;
    for (int t = 0; t < THREADS; t++)
        for (int c = 0; c < COMMITS; c++)
            committed += f.seen[t][c];
    CHECK(committed == ok);
    shard_commit_queue_free(q);
}

/* A page the producer refuses fails alone: its table's commits fail, the others of its
 * transactions commit in the next one at once, none of them ever fails. */
static void test_refused_page_fails_alone(void)
{
    fake f = {.lock = PTHREAD_MUTEX_INITIALIZER};
    worker w[THREADS];
    shard_commit_queue *q;
    run_workers(&f, w, &q, 0);
    CHECK(w[0].ok == 0 && w[0].retry == COMMITS);
    int ok = 0;
    for (int i = 1; i < THREADS; i++)
        ok += w[i].ok;
    CHECK(ok == (THREADS - 1) * COMMITS);
    int once = 1;
    for (int t = 1; t < THREADS; t++)
        for (int c = 0; c < COMMITS; c++)
            once &= f.seen[t][c] == 1;
    CHECK(once);
    CHECK(f.poisoned_rounds == COMMITS);
    CHECK(shard_commit_queue_requests(q) == THREADS * COMMITS);
    shard_commit_queue_free(q);
}

/* A size limit splits the waiting requests over several transactions, each served once. */
static void test_round_size_is_bounded(void)
{
    fake f = {.lock = PTHREAD_MUTEX_INITIALIZER, .max_messages = 4};
    worker w[THREADS];
    shard_commit_queue *q;
    run_workers(&f, w, &q, -1);
    int ok = 0;
    for (int i = 0; i < THREADS; i++)
        ok += w[i].ok;
    CHECK(ok == THREADS * COMMITS);
    int once = 1;
    for (int t = 0; t < THREADS; t++)
        for (int c = 0; c < COMMITS; c++)
            once &= f.seen[t][c] == 1;
    CHECK(once);
    CHECK(f.max_group == 2); /* 2 messages a request: the oldest and the committer, no third */
    CHECK(f.rounds >= THREADS * COMMITS / 2);
    shard_commit_queue_free(q);
}

static void test_lone_requests_commit_alone(void)
{
    fake f = {.lock = PTHREAD_MUTEX_INITIALIZER};
    shard_commit_queue *q = shard_commit_queue_new(fake_commit, &f, 0);
    worker w = {.q = q, .id = 0};
    submit_commits(&w);
    CHECK(w.ok == COMMITS);
    CHECK(f.rounds == COMMITS && f.max_group == 1);
    shard_commit_queue_free(q);
}

/* ---- layout history ------------------------------------------------------------------------ */

typedef struct history_feed {
    shard_history *h;
    const kafka_config *kc;
} history_feed;

static void feed_history(const char *topic, const char *key, size_t key_len, const char *value,
                         size_t value_len, void *u)
{
    (void)topic;
    history_feed *f = u;
    shard_history_visit(f->h, f->kc, key, key_len, value, value_len);
}

static void visit(shard_history *h, const kafka_config *kc, const char *key, const char *value)
{
    shard_history_visit(h, kc, key, strlen(key), value, value ? strlen(value) : 0);
}

static void test_history_and_stale_names(void)
{
    /* per-source ids of earlier versions are named by the topic prefix, shard ids by the
     * deployment */
    kafka_config kc = {.topic_prefix = "crm", .deployment = "dep", .shards = 4};
    shard_history h;
    shard_history_init(&h);
    CHECK(shard_history_visit(&h, &kc, "bm/a/items", 10, "{}", 2) == 0);
    visit(&h, &kc, "mg/a", "crmstream-crm-a");
    visit(&h, &kc, "mg/b", "crmstream-crm-b");
    visit(&h, &kc, "mg/b", NULL);                         /* tombstoned: not migrated */
    visit(&h, &kc, "mg/c", "crmstream-other-c");          /* another prefix's id */
    visit(&h, &kc, "sl/other", "{\"v\":1,\"shards\":9}"); /* another deployment's */
    CHECK(shard_history_migrated(&h, "a"));
    CHECK(!shard_history_migrated(&h, "b"));
    CHECK(!shard_history_migrated(&h, "c"));
    CHECK(h.shards == 0);
    const char *sources[] = {"a", "b", "c"};
    int running[4] = {1, 0, 1, 0};
    char **names = NULL;
    int n = 0;
    shard_migrate_stale_names(&kc, &h, sources, 3, running, &names, &n);
    CHECK(n == 2);
    CHECK(n == 2 && strcmp(names[0], "crmstream-crm-b") == 0 &&
          strcmp(names[1], "crmstream-crm-c") == 0);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    /* the deployment ran with 6 shards: shards 1, 3, 4 and 5 may still run elsewhere */
    visit(&h, &kc, "sl/dep", "{\"v\":1,\"shards\":6}");
    CHECK(h.shards == 6);
    names = NULL;
    n = 0;
    shard_migrate_stale_names(&kc, &h, sources, 1, running, &names, &n);
    CHECK(n == 4);
    CHECK(n == 4 && strcmp(names[0], "crmstream-dep-shard-1") == 0 &&
          strcmp(names[1], "crmstream-dep-shard-3") == 0 &&
          strcmp(names[2], "crmstream-dep-shard-4") == 0 &&
          strcmp(names[3], "crmstream-dep-shard-5") == 0);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    /* same count: nothing */
    visit(&h, &kc, "sl/dep", "{\"v\":1,\"shards\":4}");
    names = NULL;
    n = 0;
    shard_migrate_stale_names(&kc, &h, sources, 1, running, &names, &n);
    CHECK(n == 0);
    free(names);
    /* the records read back */
    kafka_batch *b = kafka_batch_new();
    shard_migrate_add_source_record(&kc, b, "z");
    shard_migrate_add_layout_record(&kc, b);
    CHECK(kafka_batch_count(b) == 2);
    shard_history_free(&h);
    history_feed feed = {&h, &kc};
    kafka_batch_each(b, feed_history, &feed);
    CHECK(shard_history_migrated(&h, "z"));
    CHECK(h.shards == 4);
    kafka_batch_free(b);
    shard_history_free(&h);
}

/* ---- a shard's producer on librdkafka's mock cluster ---------------------------------------- */

typedef struct mock_worker {
    shard *s;
    kafka_metrics km; /* the source's */
    int id, ok;
} mock_worker;

static void *commit_pages(void *arg)
{
    mock_worker *w = arg;
    volatile int stop = 0;
    for (int c = 0; c < 5; c++) {
        kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
        char key[32];
        for (int i = 0; i < 10; i++) {
            int k = snprintf(key, sizeof(key), "w%d-%d-%d", w->id, c, i);
            kafka_batch_add(data, "t.s.items", key, (size_t)k, "value", 5);
        }
        kafka_batch_add(state, "state", "bm/s/items", 10, "{\"v\":1}", 7);
        char err[512] = "";
        if (shard_commit(w->s, &w->km, data, state, &stop, err, sizeof(err)) == KAFKA_OK)
            w->ok++;
        else
            fprintf(stderr, "commit: %s\n", err);
        kafka_batch_free(data);
        kafka_batch_free(state);
    }
    return NULL;
}

static void test_shard_producer_commits_groups(void)
{
    kv props[2] = {{"test.mock.num.brokers", "1", 1}, {"message.max.bytes", "20000", 2}};
    kafka_config kc = {.bootstrap_servers = "127.0.0.1:1",
                       .topic_prefix = "t",
                       .deployment = "t",
                       .state_topic = "state",
                       .delivery = DELIVERY_EXACTLY_ONCE,
                       .topic_partitions = 1,
                       .replication_factor = 1,
                       .transaction_timeout_ms = 10000,
                       .properties = props,
                       .n_properties = 2,
                       .shards = 2};
    shard s;
    shard_init(&s, &kc, 1);
    char err[512] = "";
    CHECK(!shard_is_running(&s));
    volatile int stop = 0;
    CHECK(shard_commit(&s, NULL, NULL, NULL, &stop, err, sizeof(err)) == KAFKA_FATAL);
    CHECK_CONTAINS(err, "shard-1 is stopped");
    CHECK(shard_start(&s, err, sizeof(err)) == 0);
    if (!shard_is_running(&s)) {
        fprintf(stderr, "%s\n", err);
        shard_destroy(&s);
        return;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(kafka_producer_handle(s.producer));
    CHECK(rd_kafka_mock_topic_create(mc, "t.s.items", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(rd_kafka_mock_topic_create(mc, "state", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    mock_worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (mock_worker){.s = &s, .id = i};
        kafka_metrics_init(&w[i].km, "src");
        CHECK(pthread_create(&th[i], NULL, commit_pages, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    long txns = atomic_load(&s.km.txn_commits);
    for (int i = 0; i < 4; i++) {
        CHECK(w[i].ok == 5);
        CHECK(atomic_load(&w[i].km.txn_commits) == 5);   /* each source counts its commits */
        CHECK(atomic_load(&w[i].km.messages) == 5 * 11); /* and its messages */
        kafka_metrics_destroy(&w[i].km);
    }
    CHECK(txns >= 1 && txns <= 20); /* the producer's transactions: at most one per commit */
    CHECK(atomic_load(&s.km.messages) == 20 * 11);
    CHECK(shard_commit_queue_requests(s.queue) == 21); /* with the one on the stopped shard */
    fprintf(stderr, "mock shard: 20 commits in %ld transactions\n", txns);
    CHECK(!shard_is_fatal(&s) && !shard_is_fenced(&s));

    /* A message larger than message.max.bytes: the group fails, naming the batch that holds it. */
    kafka_batch *ok = kafka_batch_new(), *big = kafka_batch_new();
    kafka_batch_add(ok, "t.s.items", "k", 1, "value", 5);
    char *huge = xcalloc(1, 40000);
    memset(huge, 'x', 39999);
    kafka_batch_add(big, "t.s.items", "k", 1, huge, 39999);
    free(huge);
    kafka_batch *data[2] = {ok, big}, *state[2] = {NULL, NULL};
    size_t refused = 0;
    CHECK(kafka_commit_group(s.producer, data, state, 2, &refused, &stop, err, sizeof(err)) ==
          KAFKA_RETRY);
    CHECK(refused == 1);
    CHECK_CONTAINS(err, "produce to t.s.items");
    CHECK(kafka_commit_group(s.producer, data, state, 1, &refused, &stop, err, sizeof(err)) ==
          KAFKA_OK);
    CHECK(refused == 1); /* n on success */
    kafka_batch_free(ok);
    kafka_batch_free(big);
    shard_destroy(&s);
}

int main(void)
{
    test_hash_is_stable();
    test_lone_requests_commit_alone();
    test_group_commit_batches();
    test_group_commit_failure_reaches_every_participant();
    test_refused_page_fails_alone();
    test_round_size_is_bounded();
    test_history_and_stale_names();
    test_shard_producer_commits_groups();
    return check_summary("shard");
}
