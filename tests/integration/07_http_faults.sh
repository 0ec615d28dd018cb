#!/usr/bin/env bash
# 5xx, a timeout, a truncated body, invalid JSON and 429 rate limiting between pages: the sync
# retries through all of them and lands exactly the truth.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 15 --param items=400 --param users=10 --rate 4 --burst 1
POLL=1h write_cfg "$WORK/cfg" exactly-once 'timeout = "3s";' 'rate_limit = 0;' 'options = { page_size = 25; };'
sim_ctl fault '{"kind":"status","status":503,"count":2,"path_prefix":"/api/items"}' >/dev/null
sim_ctl fault '{"kind":"invalid_json","count":1,"path_prefix":"/api/items"}' >/dev/null
sim_ctl fault '{"kind":"truncate","count":1,"path_prefix":"/api/items"}' >/dev/null
sim_ctl fault '{"kind":"timeout","count":1,"seconds":5,"path_prefix":"/api/items"}' >/dev/null
run_scraped "$WORK/cfg"
compare_table "$WORK/cfg" items
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "duplicates"
curl -fsS "$SIM_URL/_control/stats" >"$WORK/stats.json"
limited=$(json_get "$WORK/stats.json" rate_limited)
note "simulator answered 429 $limited times"
[ "$limited" -gt 0 ] || fail "the rate limit was never hit, the test proves nothing"
# Each fault was answered and retried, as the metrics count them (not as the log words them).
items='source="acme",table="items"'
expect_eq "$(metric_sum crmstream_http_requests_total "$items,status=\"503\"")" 2 "items 503 answers"
[ "$(metric_sum crmstream_http_requests_total "$items,status=\"0\"")" -ge 1 ] ||
    fail "the timeout was not counted as an attempt without a response"
expect_eq "$(metric_sum crmstream_http_rate_limited_total 'source="acme"')" "$limited" "429s counted"
[ "$(metric_sum crmstream_http_retries_total "$items")" -ge 4 ] ||
    fail "fewer retries than faults: $(grep '^crmstream_http_retries_total' "$WORK/metrics.txt")"
