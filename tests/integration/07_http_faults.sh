#!/usr/bin/env bash
# 5xx, a timeout, a truncated body, invalid JSON and 429 rate limiting between pages: the sync
# retries through all of them and lands exactly the truth.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 15 --param items=400 --param users=10 --rate 4 --burst 1
write_cfg "$WORK/cfg" exactly-once 'timeout = "3s";' 'rate_limit = 0;' 'options = { page_size = 25; };'
sim_ctl fault '{"kind":"status","status":503,"count":2,"path_prefix":"/api/items"}' >/dev/null
sim_ctl fault '{"kind":"invalid_json","count":1,"path_prefix":"/api/items"}' >/dev/null
sim_ctl fault '{"kind":"truncate","count":1,"path_prefix":"/api/items"}' >/dev/null
sim_ctl fault '{"kind":"timeout","count":1,"seconds":5,"path_prefix":"/api/items"}' >/dev/null
run_once "$WORK/cfg"
compare_table "$WORK/cfg" items
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "duplicates"
curl -fsS "$SIM_URL/_control/stats" >"$WORK/stats.json"
limited=$(json_get "$WORK/stats.json" rate_limited)
note "simulator answered 429 $limited times"
[ "$limited" -gt 0 ] || fail "the rate limit was never hit, the test proves nothing"
grep -q "503" "$WORK/run.log" || fail "the 503s were not logged"
