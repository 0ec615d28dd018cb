/* bench_item.c — the one generator of the bench simulator's records (see bench_item.h). */
#include "bench_item.h"

#include "crm_time.h"

void bench_item_append(buf *b, long long i, int64_t base_ms)
{
    char created[32], updated[32];
    crm_time_format(base_ms + i * 997, created, sizeof(created));
    crm_time_format(base_ms + i * 1000, updated, sizeof(updated));
    buf_printf(b,
               "{\"id\":\"itm_%07lld\",\"name\":\"Bench Gadget %lld\",\"amount\":%lld.%02lld,"
               "\"quantity\":%lld,\"active\":%s,\"tags\":[\"a\",\"vip\"],"
               "\"owner\":{\"id\":%lld,\"email\":\"user%lld@example.com\"},"
               "\"note\":\"Call back next week about order %lld\",\"created_at\":\"%s\","
               "\"updated_at\":\"%s\"%s}",
               i, i, (i * 37) % 10000, i % 100, i % 50, i % 3 ? "true" : "false", i % 40, i % 40, i,
               created, updated, i % 4 == 0 ? ",\"x_extra\":{\"k\":1}" : "");
}
