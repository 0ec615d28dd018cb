/* test_kafka.c — page commits against librdkafka's mock cluster: transactions and
 * acknowledgement-ordered commits succeed, an injected fencing error on EndTxn makes the
 * producer fatal and fenced (what makes a second instance's predecessor exit), and transient
 * produce errors are retried. The real-broker proofs are in tests/integration/. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "check.h"
#include "kafka.h"
#include "metrics.h"
#include "util.h"

static kafka_config mock_config(delivery_mode mode, kv *props)
{
    kafka_config kc;
    memset(&kc, 0, sizeof(kc));
    kc.bootstrap_servers = "127.0.0.1:1"; /* replaced by the mock cluster */
    kc.topic_prefix = "t";
    kc.deployment = "t";
    kc.state_topic = "state";
    kc.delivery = mode;
    kc.topic_partitions = 1;
    kc.replication_factor = 1;
    kc.transaction_timeout_ms = 10000;
    props[0].key = "test.mock.num.brokers";
    props[0].value = "1";
    kc.properties = props;
    kc.n_properties = 1;
    return kc;
}

static void fill(kafka_batch *data, kafka_batch *state, int n)
{
    char key[32];
    for (int i = 0; i < n; i++) {
        int k = snprintf(key, sizeof(key), "k%d", i);
        kafka_batch_add(data, "t.s.items", key, (size_t)k, "value", 5);
    }
    kafka_batch_add(data, "t.s.items", "k0", 2, NULL, 0); /* a tombstone */
    kafka_batch_add(state, "state", "bm/s/items", 10, "{\"v\":1}", 7);
}

static void test_mode(delivery_mode mode)
{
    kv props[1];
    kafka_config kc = mock_config(mode, props);
    kafka_metrics km;
    kafka_metrics_init(&km, "s");
    char err[512] = "";
    kafka_producer *p = kafka_producer_new(&kc, "s", &km, err, sizeof(err));
    CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        kafka_metrics_destroy(&km);
        return;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(kafka_producer_handle(p));
    CHECK(mc != NULL);
    CHECK(rd_kafka_mock_topic_create(mc, "t.s.items", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(rd_kafka_mock_topic_create(mc, "state", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
    fill(data, state, 50);
    CHECK(kafka_batch_count(data) == 51);
    volatile int stop = 0;
    CHECK(kafka_commit(p, data, state, &stop, err, sizeof(err)) == KAFKA_OK);
    CHECK(atomic_load(&km.txn_commits) == 1);
    CHECK(atomic_load(&km.messages) == 52);

    /* Transient produce errors are retried inside librdkafka: the commit still succeeds, and
     * the broker's error stack shows both injected errors were answered to Produce requests of
     * this commit (so the success is not one that never met an error). */
    size_t pending = 0;
    CHECK(rd_kafka_mock_broker_push_request_error_rtts(
              mc, 1, 0 /* Produce */, 2, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
              RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(rd_kafka_mock_broker_error_stack_cnt(mc, 1, 0, &pending) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          pending == 2);
    CHECK(kafka_commit(p, data, state, &stop, err, sizeof(err)) == KAFKA_OK);
    CHECK(rd_kafka_mock_broker_error_stack_cnt(mc, 1, 0, &pending) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          pending == 0);
    CHECK(atomic_load(&km.txn_commits) == 2);
    CHECK(atomic_load(&km.delivery_errors) == 0);

    if (mode == DELIVERY_EXACTLY_ONCE) {
        /* The test log would otherwise show fenced/FATAL lines that look like a failure. */
        fprintf(stderr, "test_kafka: EXPECTED below: fenced / fatal error lines from an "
                        "injected PRODUCER_FENCED (what the test checks)\n");
        rd_kafka_mock_push_request_errors(mc, 26 /* EndTxn */, 1,
                                          RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
        kafka_result r = kafka_commit(p, data, state, &stop, err, sizeof(err));
        CHECK(r == KAFKA_FATAL);
        CHECK(kafka_is_fatal(p));
        CHECK(kafka_is_fenced(p));
        CHECK_CONTAINS(err, "commit_transaction");
        /* Once fatal, nothing more is attempted. */
        CHECK(kafka_commit(p, data, state, &stop, err, sizeof(err)) == KAFKA_FATAL);
    }
    kafka_batch_free(data);
    kafka_batch_free(state);
    kafka_producer_free(p, 2000);
    kafka_metrics_destroy(&km);
}

static kafka_producer *new_producer(kafka_config *kc, kafka_metrics *km)
{
    char err[512] = "";
    kafka_producer *p = kafka_producer_new(kc, "s", km, err, sizeof(err));
    if (!p)
        fprintf(stderr, "%s\n", err);
    return p;
}

/* #15 item 1: the broker goes away while a transaction is open; its messages time out and the
 * abort times out too (retriable). Once the broker is back, the next commit resumes the abort and
 * succeeds (it used to fail for ever: "Conflicting abort_transaction API call is already in
 * progress"). */
static void test_abort_resumed_after_outage(void)
{
    kv props[1];
    kafka_config kc = mock_config(DELIVERY_EXACTLY_ONCE, props);
    kc.transaction_timeout_ms = 1000;
    kafka_metrics km;
    kafka_metrics_init(&km, "s");
    kafka_producer *p = new_producer(&kc, &km);
    CHECK(p != NULL);
    if (!p) {
        kafka_metrics_destroy(&km);
        return;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(kafka_producer_handle(p));
    CHECK(rd_kafka_mock_topic_create(mc, "t.s.items", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(rd_kafka_mock_topic_create(mc, "state", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
    fill(data, state, 5);
    volatile int stop = 0;
    char err[512] = "";
    CHECK(kafka_commit(p, data, state, &stop, err, sizeof(err)) == KAFKA_OK);
    /* Every request from now on times out: the open transaction cannot be acknowledged,
     * committed or aborted. */
    rd_kafka_mock_broker_set_rtt(mc, 1, 60000);
    CHECK(kafka_commit(p, data, state, &stop, err, sizeof(err)) == KAFKA_RETRY);
    CHECK(kafka_commit(p, data, state, &stop, err, sizeof(err)) == KAFKA_RETRY);
    CHECK_CONTAINS(err, "abort_transaction");
    rd_kafka_mock_broker_set_rtt(mc, 1, 0);
    kafka_result r = KAFKA_RETRY;
    for (int i = 0; i < 10 && r == KAFKA_RETRY; i++)
        r = kafka_commit(p, data, state, &stop, err, sizeof(err));
    CHECK(r == KAFKA_OK);
    if (r != KAFKA_OK)
        fprintf(stderr, "after the outage: %s\n", err);
    CHECK(!kafka_is_fatal(p));
    kafka_batch_free(data);
    kafka_batch_free(state);
    kafka_producer_free(p, 2000);
    kafka_metrics_destroy(&km);
}

/* A fatal error that is not a fence re-creates the producer: the next commit succeeds. */
static void test_fatal_error_recreates_producer(void)
{
    kv props[1];
    kafka_config kc = mock_config(DELIVERY_EXACTLY_ONCE, props);
    kafka_metrics km;
    kafka_metrics_init(&km, "s");
    kafka_producer *p = new_producer(&kc, &km);
    CHECK(p != NULL);
    if (!p) {
        kafka_metrics_destroy(&km);
        return;
    }
    kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
    fill(data, state, 5);
    volatile int stop = 0;
    char err[512] = "";
    CHECK(rd_kafka_test_fatal_error(kafka_producer_handle(p),
                                    RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                    "injected") == RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka_result r = KAFKA_RETRY;
    for (int i = 0; i < 3 && r == KAFKA_RETRY; i++)
        r = kafka_commit(p, data, state, &stop, err, sizeof(err));
    CHECK(r == KAFKA_OK);
    if (r != KAFKA_OK)
        fprintf(stderr, "after the fatal error: %s\n", err);
    CHECK(!kafka_is_fatal(p) && !kafka_is_fenced(p));
    CHECK(atomic_load(&km.producer_restarts) == 1);
    kafka_batch_free(data);
    kafka_batch_free(state);
    kafka_producer_free(p, 2000);
    kafka_metrics_destroy(&km);
}

/* Fails re-creation k times in a row: the borrowed config the producer re-reads on each
 * re-creation names a property librdkafka refuses, so the new handle is never made. Returns the
 * last commit's result. */
static kafka_result fail_recreations(kafka_producer *p, kafka_config *kc, kv *good, kv *bad, int k,
                                     kafka_batch *data, kafka_batch *state, char *err,
                                     size_t errlen)
{
    volatile int stop = 0;
    CHECK(rd_kafka_test_fatal_error(kafka_producer_handle(p),
                                    RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                    "injected") == RD_KAFKA_RESP_ERR_NO_ERROR);
    /* librdkafka reports the error on its poll thread: the first commit must already see it */
    char why[512] = "";
    for (int ms = 0; ms < 10000 && !strstr(kafka_fatal_reason(p, why, sizeof(why)), "injected");
         ms += 10)
        sleep_interruptible(10, NULL);
    CHECK(strstr(why, "injected") != NULL);
    kc->properties = bad;
    kafka_result r = KAFKA_OK;
    for (int i = 1; i <= k; i++) {
        r = kafka_commit(p, data, state, &stop, err, errlen);
        if (i < k) /* not fatal before the last attempt */
            CHECK(r == KAFKA_RETRY && !kafka_is_fatal(p));
    }
    kc->properties = good;
    return r;
}

/* README "Exit codes": a producer that failed fatally and could not be re-created 5 times in a
 * row is fatal (not fenced): the engine then stops every source and exits 3 (EXIT_KAFKA, from
 * kafka_is_fatal). A successful re-creation in between starts the count again. */
static void test_recreation_failing_five_times_is_fatal(void)
{
    kv props[1], bad[2];
    kafka_config kc = mock_config(DELIVERY_EXACTLY_ONCE, props);
    bad[0] = props[0];
    bad[1].key = "no.such.property";
    bad[1].value = "1";
    bad[1].line = 7;
    kafka_metrics km;
    kafka_metrics_init(&km, "s");
    kafka_producer *p = new_producer(&kc, &km);
    CHECK(p != NULL);
    if (!p) {
        kafka_metrics_destroy(&km);
        return;
    }
    kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
    fill(data, state, 5);
    volatile int stop = 0;
    char err[512] = "", why[512];
    /* 4 failures, then a re-creation that works: the count starts again */
    kc.n_properties = 2;
    CHECK(fail_recreations(p, &kc, props, bad, 4, data, state, err, sizeof(err)) == KAFKA_RETRY);
    kc.n_properties = 1;
    kafka_result r = KAFKA_RETRY;
    for (int i = 0; i < 3 && r == KAFKA_RETRY; i++)
        r = kafka_commit(p, data, state, &stop, err, sizeof(err));
    CHECK(r == KAFKA_OK);
    CHECK(atomic_load(&km.producer_restarts) == 1);
    /* 5 failures in a row: fatal, with the reason; every later commit refuses at once */
    kc.n_properties = 2;
    r = fail_recreations(p, &kc, props, bad, 5, data, state, err, sizeof(err));
    kc.n_properties = 1;
    CHECK(r == KAFKA_FATAL);
    CHECK(kafka_is_fatal(p) && !kafka_is_fenced(p));
    CHECK(strstr(kafka_fatal_reason(p, why, sizeof(why)), "no.such.property") != NULL);
    CHECK(kafka_commit(p, data, state, &stop, err, sizeof(err)) == KAFKA_FATAL);
    CHECK(strstr(err, "fatal state") != NULL);
    CHECK(atomic_load(&km.producer_restarts) == 1);
    kafka_batch_free(data);
    kafka_batch_free(state);
    kafka_producer_free(p, 2000);
    kafka_metrics_destroy(&km);
}

/* A fence error answering a transaction older than transaction.timeout.ms is the coordinator's
 * abort of a timed-out transaction (seen after a broker outage), not another instance: the
 * producer is re-created instead of the process exiting 4. A young transaction's fence is
 * genuine (test_mode). */
static void test_fence_of_timed_out_transaction(void)
{
    kv props[1];
    kafka_config kc = mock_config(DELIVERY_EXACTLY_ONCE, props);
    kc.transaction_timeout_ms = 1000;
    kafka_metrics km;
    kafka_metrics_init(&km, "s");
    kafka_producer *p = new_producer(&kc, &km);
    CHECK(p != NULL);
    if (!p) {
        kafka_metrics_destroy(&km);
        return;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(kafka_producer_handle(p));
    CHECK(rd_kafka_mock_topic_create(mc, "t.s.items", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(rd_kafka_mock_topic_create(mc, "state", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
    fill(data, state, 5);
    volatile int stop = 0;
    char err[512] = "";
    /* EndTxn is retried (coordinator loading) for more than a second, then fenced: the
     * transaction is older than its timeout by then. */
    rd_kafka_resp_err_t errs[21];
    for (int i = 0; i < 20; i++)
        errs[i] = RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    errs[20] = RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
    rd_kafka_mock_push_request_errors_array(mc, 26 /* EndTxn */, 21, errs);
    kafka_result r = kafka_commit(p, data, state, &stop, err, sizeof(err));
    CHECK(r == KAFKA_RETRY);
    CHECK(!kafka_is_fenced(p) && !kafka_is_fatal(p));
    for (int i = 0; i < 3 && r == KAFKA_RETRY; i++)
        r = kafka_commit(p, data, state, &stop, err, sizeof(err));
    CHECK(r == KAFKA_OK);
    CHECK(atomic_load(&km.producer_restarts) == 1);
    kafka_batch_free(data);
    kafka_batch_free(state);
    kafka_producer_free(p, 2000);
    kafka_metrics_destroy(&km);
}

static void test_bad_property(void)
{
    kv props[2];
    kafka_config kc = mock_config(DELIVERY_AT_LEAST_ONCE, props);
    props[1].key = "no.such.property";
    props[1].value = "1";
    props[1].line = 7;
    kc.n_properties = 2;
    char err[512] = "";
    CHECK(kafka_producer_new(&kc, "s", NULL, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "line 7: kafka.properties: no.such.property");
}

/* Secret properties (kafka.properties_env) reach librdkafka; an error never shows the value. */
static void test_secret_properties(void)
{
    kv props[1], secrets[2];
    kafka_config kc = mock_config(DELIVERY_AT_LEAST_ONCE, props);
    secrets[0] = (kv){"sasl.password", "kafka-s3cret", 4};
    kc.secret_properties = secrets;
    kc.n_secret_properties = 1;
    char err[512] = "", value[64] = "";
    size_t n = sizeof(value);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    CHECK(kafka_conf_apply(conf, &kc, NULL, err, sizeof(err)) == 0);
    CHECK(rd_kafka_conf_get(conf, "sasl.password", value, &n) == RD_KAFKA_CONF_OK);
    CHECK_STR(value, "kafka-s3cret");
    rd_kafka_conf_destroy(conf);
    secrets[1] = (kv){"security.protocol", "bogus-s3cret", 5}; /* quoted by librdkafka */
    kc.n_secret_properties = 2;
    conf = rd_kafka_conf_new();
    CHECK(kafka_conf_apply(conf, &kc, NULL, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "line 5: kafka.properties_env: security.protocol: value rejected");
    CHECK(!strstr(err, "s3cret"));
    rd_kafka_conf_destroy(conf);
}

int main(void)
{
    test_mode(DELIVERY_EXACTLY_ONCE);
    test_mode(DELIVERY_AT_LEAST_ONCE);
    test_abort_resumed_after_outage();
    test_fatal_error_recreates_producer();
    test_recreation_failing_five_times_is_fatal();
    test_fence_of_timed_out_transaction();
    test_bad_property();
    test_secret_properties();
    return check_summary("kafka");
}
