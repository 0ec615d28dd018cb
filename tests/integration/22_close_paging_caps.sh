#!/usr/bin/env bash
# Close paging limits mid-backfill: the simulator caps _skip at 150 (400 beyond) and ends every
# /data/search/ walk after 250 objects (cursor null on a full page), while leads, opportunities
# and activities change between page requests. The connector never pages past max_skip (no 400
# at all), restarts each search walk from the highest date_updated seen, and the topics equal
# the truth afterwards.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
start_close --seed 22 --param leads=700 --param activities=1500 --param max_skip=150 \
    --param search_max_results=250
close_cfg "$WORK/cfg" exactly-once 'search_page_size = 100; opportunity_page_size = 100;' \
    'rate_limit = 0;' "$(close_tables leads contacts opportunities tasks activities)"

# Changes while the first pass pages: every few requests, records move to the end of the order.
for n in 4 9 14 19 24; do
    sim_ctl schedule "{\"after_requests\":$n,\"action\":\"mutate\",\"args\":{\"table\":\"leads\",\"op\":\"update\",\"count\":15}}" >/dev/null
    sim_ctl schedule "{\"after_requests\":$((n + 1)),\"action\":\"mutate\",\"args\":{\"table\":\"opportunities\",\"op\":\"update\",\"count\":5}}" >/dev/null
    sim_ctl schedule "{\"after_requests\":$((n + 2)),\"action\":\"mutate\",\"args\":{\"table\":\"activities\",\"op\":\"create\",\"count\":3}}" >/dev/null
done
run_once "$WORK/cfg"
pending=$(sim_get schedule | tr -d '\n' | grep -o '"pending":\[[^]]*\]' | grep -c '"id"' || true)
expect_eq "$pending" 0 "schedules still pending after the pass"
# Records moved while paging are never lost: every key is there after one pass (records changed
# after their table's pass ended are caught by the next pass below).
for t in leads contacts opportunities; do
    want=$(truth "$t" | python3 -c "import json,sys; print(json.load(sys.stdin)['count'])")
    expect_eq "$(summary_field "$WORK/cfg" "$t" keys)" "$want" "$t keys after the first pass"
done
expect_eq "$(stat_count 400)" 0 "HTTP 400 answers (max_skip never hit)"
searches=$(stat_count /api/v1/data/search/)
[ "$searches" -ge 16 ] || fail "only $searches search requests: the walks were not restarted"
note "search requests = $searches (700+ leads and 1000+ contacts in walks capped at 250)"

# A second pass catches up whatever changed after the first one read it.
mutate '{"table":"leads","op":"update","count":30}' >/dev/null
run_once "$WORK/cfg"
compare_all "$WORK/cfg" $CLOSE_MAIN_TABLES
expect_eq "$(summary_field "$WORK/cfg" leads duplicates)" 0 "leads published twice"
expect_eq "$(stat_count 400)" 0 "HTTP 400 answers after the second pass"
# The cap is live: a plain offset walk would have failed mid-backfill.
code=$(curl -s -o "$WORK/skip.json" -w '%{http_code}' -u "$CLOSE_API_KEY:" "$CTL_URL/api/v1/activity/?_skip=200")
expect_eq "$code" 400 "status of _skip=200 with max_skip=150"
grep -q 'max_skip = 150' "$WORK/skip.json" || fail "no max_skip sentence: $(cat "$WORK/skip.json")"
