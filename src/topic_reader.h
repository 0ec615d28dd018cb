/* topic_reader.h — reads a topic from a starting point to its current end (read_committed):
 * the one consumer loop behind state restore, `crmstream peek` and the test tools. */
#ifndef CRM_TOPIC_READER_H
#define CRM_TOPIC_READER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct topic_record {
    const char *key;
    size_t key_len;
    const char *value; /* NULL for tombstones */
    size_t value_len;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
} topic_record;

/* Return non-zero to stop with an error. */
typedef int (*topic_visit_fn)(const topic_record *rec, void *u);

/* Reads `topic` to its end. last_n < 0: from the beginning; otherwise only the last last_n
 * offsets of each partition. Returns records read, or -1 with err set. A missing topic reads as
 * empty (0). */
long topic_read(const kafka_config *kc, const char *topic, long last_n, topic_visit_fn fn, void *u,
                int timeout_ms, char *err, size_t errlen);

#endif
