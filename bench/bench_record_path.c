/* bench_record_path.c — CPU cost per record of the engine's record path without Kafka or HTTP,
 * so changes to it can be measured on a busy machine (bench/run.sh mixes in librdkafka and the
 * broker, and its noise is larger than most single improvements).
 *
 * Records are the bench simulator's (tests/sim/bench_item.c), 1000 to a page. Phases
 * (N records each, default 1,000,000; `bench_record_path N`):
 *   1 validate   connector_raw_records over each page (what the connector costs)
 *   2 encode     event_set_after_raw_at + event_encode per record (JSON text to framed Avro)
 *   3 dedupe     the engine's one lookup per record (dedupe_swap) into the table map
 * Prints ns per record for each phase (thread CPU time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amap.h"
#include "bench_item.h"
#include "connector.h"
#include "dedupe.h"
#include "embedded_schemas.h"
#include "event.h"
#include "json_scan.h"
#include "util.h"

#define PAGE 1000

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One page of the bench simulator's body, records [from, from + PAGE). */
static void make_page(buf *b, long long from, int64_t base_ms)
{
    buf_reset(b);
    buf_append_str(b, "{\"data\":[");
    for (long long i = from; i < from + PAGE; i++) {
        if (i > from)
            buf_append_str(b, ",");
        bench_item_append(b, i + 1, base_ms);
    }
    buf_printf(b, "],\"next_cursor\":\"%lld\"}", from + PAGE);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long pages = n / PAGE;
    char err[512];
    const char *schema = embedded_schemas_find("testcrm/items.avsc");
    event_codec *codec =
        schema ? event_codec_new("testcrm", "items", schema, err, sizeof(err)) : NULL;
    if (!codec) {
        fprintf(stderr, "bench_record_path: %s\n", schema ? err : "no items schema");
        return 1;
    }
    int64_t base_ms = 1700000000000LL;
    http_response resp;
    memset(&resp, 0, sizeof(resp));
    buf_init(&resp.body);
    buf out;
    buf_init(&out);
    double t_validate = 0, t_encode = 0, t_dedupe = 0;
    dedupe *table = dedupe_new();
    long fallbacks = 0;
    for (long pg = 0; pg < pages; pg++) {
        make_page(&resp.body, pg * PAGE, base_ms);
        page parsed;
        memset(&parsed, 0, sizeof(parsed));
        double t0 = cpu_now();
        json_t *env = NULL;
        if (connector_raw_records(&resp, "data", &parsed, &env, err, sizeof(err))) {
            fprintf(stderr, "bench_record_path: %s\n", err);
            return 1;
        }
        json_decref(env);
        double t1 = cpu_now();
        const char *q = resp.body.data + parsed.raw_off, *end = q + parsed.raw_len, *v;
        const char *keys[2] = {"id", "updated_at"};
        amap_found found[2];
        char pks[PAGE][16];
        size_t pkl[PAGE];
        uint64_t hashes[PAGE];
        int first, i = 0;
        js_array_begin(&q, end, &first);
        while (js_array_next(&q, end, &first, &v) == 1 && i < PAGE) {
            if (event_set_after_raw_at(codec, v, end, &q, keys, found, 2, &hashes[i])) {
                fallbacks++;
                q = js_skip(v, end);
                continue;
            }
            event_meta m = {"testcrm", "b",    "items", "updated_at", "2024-01-01T00:00:00.000Z",
                            base_ms,   base_ms};
            buf_reset(&out);
            event_encode(codec, 'r', &m, &out, err, sizeof(err));
            const char *s;
            int esc;
            js_string(found[0].value, end, &s, &pkl[i], &esc);
            memcpy(pks[i], s, pkl[i] < 16 ? pkl[i] : 16);
            i++;
        }
        double t2 = cpu_now();
        for (int k = 0; k < i; k++) {
            uint64_t old;
            dedupe_swap(table, pks[k], pkl[k], hashes[k], 0, &old);
        }
        double t3 = cpu_now();
        t_validate += t1 - t0;
        t_encode += t2 - t1;
        t_dedupe += t3 - t2;
        page_clear(&parsed);
    }
    long done = pages * PAGE;
    printf("records %ld (fallbacks %ld, table keys %zu)\n", done, fallbacks, dedupe_count(table));
    printf("validate %.0f ns/record\nencode   %.0f ns/record\ndedupe   %.0f ns/record\n",
           t_validate * 1e9 / (double)done, t_encode * 1e9 / (double)done,
           t_dedupe * 1e9 / (double)done);
    dedupe_free(table);
    buf_free(&out);
    buf_free(&resp.body);
    event_codec_free(codec);
    return 0;
}
