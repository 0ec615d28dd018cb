/* test_state.c — bookmark values round-trip, reject newer versions, and keys are stable. */
#include "check.h"
#include "crm_time.h"
#include "state.h"

int main(void)
{
    state_bookmark b;
    state_bookmark_init(&b);
    CHECK(b.bookmark_ms == CRM_TIME_NONE);
    b.bookmark_ms = 1704164645123LL;
    b.pass_from_ms = 1704164000000LL;
    json_object_set_new(b.paging, "cursor", json_string("abc"));
    b.passes = 3;
    b.last_pass_ms = 1704164646000LL;
    buf out;
    buf_init(&out);
    state_bookmark_format(&b, &out);
    CHECK_CONTAINS(out.data, "\"v\":1");
    CHECK_CONTAINS(out.data, "\"bookmark\":\"2024-01-02T03:04:05.123Z\"");
    state_bookmark r;
    state_bookmark_init(&r);
    char err[256];
    CHECK(state_bookmark_parse(out.data, out.len, &r, err, sizeof(err)) == 0);
    CHECK(r.bookmark_ms == b.bookmark_ms);
    CHECK(r.pass_from_ms == b.pass_from_ms);
    CHECK(r.passes == 3);
    CHECK(r.last_pass_ms == b.last_pass_ms);
    CHECK_STR(json_string_value(json_object_get(r.paging, "cursor")), "abc");
    CHECK(r.suspects == NULL); /* none written when there are none */

    /* a reconciliation listing's unconfirmed misses survive a restart */
    b.suspects = json_pack("[ss]", "17", "lead_x");
    state_bookmark_format(&b, &out);
    CHECK_CONTAINS(out.data, "\"suspects\":[\"17\",\"lead_x\"]");
    CHECK(state_bookmark_parse(out.data, out.len, &r, err, sizeof(err)) == 0);
    CHECK(json_array_size(r.suspects) == 2);
    CHECK_STR(json_string_value(json_array_get(r.suspects, 1)), "lead_x");
    CHECK(state_bookmark_parse("{\"v\":1}", 7, &r, err, sizeof(err)) == 0 && r.suspects == NULL);
    CHECK(state_bookmark_parse("{\"v\":99}", 8, &r, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "version 99");
    CHECK(state_bookmark_parse("nope", 4, &r, err, sizeof(err)) == -1);
    state_key_bookmark(&out, "src", "leads");
    CHECK_STR(out.data, "bm/src/leads");
    state_key_dedupe(&out, "src", "leads", "lead_a/b", 8);
    CHECK_STR(out.data, "dd/src/leads/lead_a/b");

    /* dd/ values of earlier versions: 16 hex digits, flagged as legacy hashes. */
    uint64_t hv = 0;
    CHECK(state_dedupe_parse("fedcba9876543210", 16, &hv) == 0 &&
          hv == (0xfedcba9876543210ULL | CONTENT_HASH_LEGACY));
    CHECK(state_dedupe_parse("0000000000000001", 16, &hv) == 0 && hv == (1 | CONTENT_HASH_LEGACY));
    CHECK(state_dedupe_parse("2:0123456789abcdef", 18, &hv) == -1);
    CHECK(state_dedupe_parse("xyz0000000000000", 16, &hv) == -1);
    buf_free(&out);
    state_bookmark_clear(&b);
    state_bookmark_clear(&r);
    return check_summary("state");
}
