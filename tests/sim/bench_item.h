/* bench_item.h — the bench simulator's synthetic record, shared with bench/bench_record_path.c
 * so the simulator and the record-path benchmark measure the same bytes. */
#ifndef CRM_SIM_BENCH_ITEM_H
#define CRM_SIM_BENCH_ITEM_H

#include <stdint.h>

#include "util.h"

/* Appends record i (1-based) in testcrm's item shape: created_at and updated_at derive from
 * base_ms and i; every fourth record carries an extra field the schema does not know. */
void bench_item_append(buf *b, long long i, int64_t base_ms);

#endif
