/* fuzz_state.c — the state topic's records as a restart reads them back: bookmarks (bm/),
 * dedupe log chunks (dc/), legacy dedupe values (dd/) and custom-field histories (cf/), each
 * restored into fresh structures and written out again. Input: [kind][pk length][bytes...]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "custom_fields.h"
#include "dedupe.h"
#include "dedupe_log.h"
#include "state.h"
#include "util.h"

static void count_entry(const char *pk, size_t len, int is_delete, uint64_t hash, void *u)
{
    (void)pk;
    (void)is_delete;
    (void)hash;
    *(size_t *)u += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *value = (const char *)data + 2;
    size_t len = size - 2;
    char err[512];
    switch (data[0] % 4) {
    case 0: { /* bm/ */
        state_bookmark b;
        state_bookmark_init(&b);
        if (state_bookmark_parse(value, len, &b, err, sizeof(err)) == 0) {
            buf out;
            buf_init(&out);
            state_bookmark_format(&b, &out);
            buf_free(&out);
        }
        state_bookmark_clear(&b);
        break;
    }
    case 1: { /* dc/ */
        dedupe *d = dedupe_new();
        dedupe_log *l = dedupe_log_new();
        size_t bytes = 0;
        dedupe_chunk_each(value, len, count_entry, &bytes);
        dedupe_log_restore_chunk(l, d, data[1], value, len);
        dedupe_log_restore_chunk(l, d, (uint64_t)data[1] + 1, value, len);
        dedupe_log_wants_rewrite(l, d);
        dedupe_log_free(l);
        dedupe_free(d);
        break;
    }
    case 2: { /* dd/: the key's primary key, then the value */
        size_t pk = data[1] < len ? data[1] : len;
        uint64_t hash;
        state_dedupe_parse(value + pk, len - pk, &hash);
        dedupe *d = dedupe_new();
        dedupe_log *l = dedupe_log_new();
        dedupe_log_restore_legacy(l, d, value, pk, value + pk, len - pk);
        dedupe_log_free(l);
        dedupe_free(d);
        break;
    }
    default: { /* cf/ */
        cf_history *h = cf_history_new();
        if (cf_history_parse(h, value, len, err, sizeof(err)) == 0) {
            char *dump = cf_history_dump(h);
            free(dump);
            json_t *f = cf_history_avro_field(h, "fuzz", "table");
            json_decref(f);
        }
        cf_history_free(h);
        break;
    }
    }
    return 0;
}
