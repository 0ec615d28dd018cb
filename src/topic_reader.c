/* topic_reader.c — a group-less consumer that assigns every partition, reads to the end
 * (partition EOF at the last stable offset), and hands records to a callback in order. */
#include "topic_reader.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "util.h"

static int topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, char *err,
                            size_t errlen)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(err, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    int n = -1;
    if (e) {
        snprintf(err, errlen, "kafka metadata for %s: %s", topic, rd_kafka_err2str(e));
    } else if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        n = 0;
    } else if (md->topics[0].err) {
        snprintf(err, errlen, "kafka metadata for %s: %s", topic,
                 rd_kafka_err2str(md->topics[0].err));
    } else {
        n = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

static rd_kafka_t *reader_client(const kafka_config *kc, char *err, size_t errlen)
{
    const char *defaults[] = {"bootstrap.servers",
                              kc->bootstrap_servers,
                              "group.id",
                              "crmstream-reader",
                              "enable.auto.commit",
                              "false",
                              "enable.partition.eof",
                              "true",
                              "isolation.level",
                              "read_committed",
                              "auto.offset.reset",
                              "earliest",
                              "allow.auto.create.topics",
                              "false",
                              NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_apply(conf, kc, defaults, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka consumer: %s", errstr);
    }
    return rk;
}

/* Sets each partition's start offset: beginning, or high watermark - last_n. */
static int start_offsets(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, long last_n,
                         int timeout_ms, char *err, size_t errlen)
{
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (last_n < 0) {
            p->offset = RD_KAFKA_OFFSET_BEGINNING;
            continue;
        }
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, timeout_ms);
        if (e) {
            snprintf(err, errlen, "watermarks of %s[%d]: %s", p->topic, p->partition,
                     rd_kafka_err2str(e));
            return -1;
        }
        p->offset = hi - last_n > lo ? hi - last_n : lo;
    }
    return 0;
}

/* Marks the partitions whose position passed their end (control records of transactions are
 * never handed over, so the position tells, not the last record). */
static void reached_end(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, const int64_t *end,
                        char *eof, int *at_end)
{
    if (rd_kafka_position(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    for (int i = 0; i < parts->cnt; i++) {
        int p = parts->elems[i].partition;
        if (!eof[p] && parts->elems[i].offset >= 0 && parts->elems[i].offset >= end[p]) {
            eof[p] = 1;
            (*at_end)++;
        }
    }
}

long topic_read(const kafka_config *kc, const char *topic, long last_n, topic_visit_fn fn, void *u,
                int timeout_ms, char *err, size_t errlen)
{
    rd_kafka_t *rk = reader_client(kc, err, errlen);
    if (!rk)
        return -1;
    long count = -1;
    char *eof = NULL;
    int64_t *end = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int n = topic_partitions(rk, topic, timeout_ms, err, errlen);
    if (n <= 0) {
        count = n == 0 ? 0 : -1;
        goto out;
    }
    parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(parts, topic, i);
    if (start_offsets(rk, parts, last_n, timeout_ms, err, errlen))
        goto out;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
    if (e) {
        snprintf(err, errlen, "assign %s: %s", topic, rd_kafka_err2str(e));
        goto out;
    }
    eof = xcalloc((size_t)n, 1);
    /* The end is where the partition ended when the read began: while other producers keep
     * writing (shards of other instances), a partition EOF may never come. */
    end = xcalloc((size_t)n, sizeof(int64_t));
    for (int i = 0; i < n; i++) {
        int64_t lo = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &end[i], timeout_ms))
            end[i] = INT64_MAX; /* unknown: the EOF decides */
    }
    int at_end = 0;
    count = 0;
    int64_t deadline = now_monotonic_ms() + timeout_ms;
    while (at_end < n) {
        if (now_monotonic_ms() > deadline) {
            snprintf(err, errlen, "reading %s timed out after %d ms (%ld records)", topic,
                     timeout_ms, count);
            count = -1;
            break;
        }
        reached_end(rk, parts, end, eof, &at_end);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < n && !eof[m->partition]) {
                eof[m->partition] = 1;
                at_end++;
            }
        } else if (m->err) {
            log_warn(NULL, NULL, "reading %s: %s", topic, rd_kafka_message_errstr(m));
        } else {
            topic_record r = {m->key,
                              m->key_len,
                              m->payload,
                              m->payload ? m->len : 0,
                              m->partition,
                              m->offset,
                              rd_kafka_message_timestamp(m, NULL)};
            count++;
            if (fn(&r, u)) {
                snprintf(err, errlen, "%s record at offset %lld rejected", topic,
                         (long long)m->offset);
                count = -1;
                rd_kafka_message_destroy(m);
                break;
            }
        }
        rd_kafka_message_destroy(m);
    }
out:
    free(eof);
    free(end);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return count;
}
