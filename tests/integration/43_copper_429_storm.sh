#!/usr/bin/env bash
# Copper: a 429 storm. The simulator allows 4 requests per rolling 1.5-second window (Copper's
# rolling-minute limit, compressed) and sends no Retry-After, as Copper documents none; the
# source sends as fast as it can from 9 table threads. Every 429 is waited out with backoff
# and the topics still equal the truth.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/copper_env.sh"
start_copper --seed 43 --param rate_per_min=4 --param rate_window_ms=1500 --param people=200 \
    --param activities=150
POLL=1h copper_cfg "$WORK/cfg" exactly-once 'page_size = 20;' 'rate_limit = 0;' \
    'tables = { include = ["people", "companies", "activities_search", "users", "tags", "pipelines", "loss_reasons", "contact_types", "account"]; };'

run_scraped "$WORK/cfg"
compare_all "$WORK/cfg" people companies activities_search users tags pipelines loss_reasons \
    contact_types account
sim_get copper_stats >"$WORK/copper_stats.json"
limited=$(json_get "$WORK/copper_stats.json" rate_limited)
note "simulator answered 429 $limited times"
[ "$limited" -ge 5 ] || fail "hardly any 429s ($limited): the storm proves nothing"
# Every 429 the simulator sent was met as rate limiting (counted by the metrics, not the log).
expect_eq "$(metric_sum crmstream_http_rate_limited_total "source=\"$SOURCE_NAME\"")" "$limited" \
    "429s counted as rate limiting"
expect_eq "$(summary_field "$WORK/cfg" people duplicates)" 0 "people published twice"
