#!/usr/bin/env bash
# Close 429 storms and 5xx: first a global limit of 8 req/s (burst 2) answered with Close's 429
# body (rate_reset as a string at the top level, legacy X-Rate-Limit-* headers, no Retry-After),
# then per-key/per-endpoint-group limits with the "error"-wrapped body, plus injected 500/502/503/
# 504, a dropped connection and a non-JSON 502 body. Every table completes and equals the truth;
# no request gave up.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
start_close --seed 23 --param leads=150 --param activities=600 --rate 8 --burst 2 \
    --param rate_body=top --param rate_reset_string=1 --param legacy_headers=1 \
    --param ratelimit_sep=,
POLL=1h close_cfg "$WORK/cfg" exactly-once 'activity_page_size = 50;' 'rate_limit = 0;' \
    "$(close_tables leads contacts opportunities tasks activities event_log users pipelines)"
sim_ctl fault '{"kind":"status","status":503,"count":2,"path_prefix":"/api/v1/activity/"}' >/dev/null
sim_ctl fault '{"kind":"status","status":502,"count":1,"path_prefix":"/api/v1/data/search/","body":"<html>Bad Gateway</html>"}' >/dev/null
sim_ctl fault '{"kind":"status","status":500,"count":1,"path_prefix":"/api/v1/opportunity/"}' >/dev/null
sim_ctl fault '{"kind":"drop","count":1,"path_prefix":"/api/v1/task/"}' >/dev/null
run_scraped "$WORK/cfg"
compare_all "$WORK/cfg" $CLOSE_MAIN_TABLES users event_log
limited=$(sim_get stats | tr -d '\n' | grep -o '"rate_limited":[0-9]*' | cut -d: -f2)
[ "${limited:-0}" -ge 5 ] || fail "only ${limited:-0} requests were rate limited: no storm"
note "429 answers (global limit) = $limited"
expect_eq "$(stat_count 503)" 2 "503 answers"
# What the connector met, as the metrics count it: every 429 as rate limiting, the 502 answer.
src="source=\"$SOURCE_NAME\""
expect_eq "$(metric_sum crmstream_http_rate_limited_total "$src")" "$limited" "429s counted as rate limiting"
expect_eq "$(metric_sum crmstream_http_requests_total "$src" 'status="502"')" 1 "502 answers counted"

# Per key and endpoint group (org = 3x key): 3 req/s, 429 bodies under "error" with a number.
sim_ctl ratelimit '{"rate":0}' >/dev/null
sim_ctl param '{"key_rps":"3","rate_body":"error","rate_reset_string":"0","legacy_headers":"0","ratelimit_sep":";"}' >/dev/null
sim_ctl stats/reset '{}' >/dev/null
sim_ctl fault '{"kind":"status","status":504,"count":2,"path_prefix":"/api/v1/data/search/"}' >/dev/null
mutate '{"table":"leads","op":"update","count":40}' >/dev/null
mutate '{"table":"activities","op":"create","count":120}' >/dev/null
run_once "$WORK/cfg"
compare_all "$WORK/cfg" leads contacts activities
expect_eq "$(stat_count 504)" 2 "504 answers"
note "429 answers (per key and group) = $(stat_count 429)"
grep -q "gave up\|pass failed" "$WORK/run.log" && fail "a pass failed: $(grep 'pass failed' "$WORK/run.log" | head -3)"
true
