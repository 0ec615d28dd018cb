/* test_kafka.c — page commits against librdkafka's mock cluster: transactions and
 * acknowledgement-ordered commits succeed, an injected fencing error on EndTxn makes the
 * producer fatal and fenced (what makes a second instance's predecessor exit), and transient
 * produce errors are retried. The real-broker proofs are in tests/integration/. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "check.h"
#include "kafka.h"
#include "metrics.h"

static kafka_config mock_config(delivery_mode mode, kv *props)
{
    kafka_config kc;
    memset(&kc, 0, sizeof(kc));
    kc.bootstrap_servers = "127.0.0.1:1"; /* replaced by the mock cluster */
    kc.topic_prefix = "t";
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

    /* Transient produce errors are retried inside librdkafka: the commit still succeeds. */
    rd_kafka_mock_push_request_errors(mc, 0 /* Produce */, 2,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    CHECK(kafka_commit(p, data, state, &stop, err, sizeof(err)) == KAFKA_OK);

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

int main(void)
{
    test_mode(DELIVERY_EXACTLY_ONCE);
    test_mode(DELIVERY_AT_LEAST_ONCE);
    test_bad_property();
    return check_summary("kafka");
}
