#!/usr/bin/env bash
# Copper: records edited, converted, created and deleted while a backfill pages through people
# and leads (mutations scheduled between page requests) — no record skipped, no stale image; a
# block of 130 people sharing one date_modified second (more than a page, and more than the
# reach cap of 60) and a block of 45 sharing date_modified and date_created are read completely
# without ever asking past the reach cap.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/copper_env.sh"
start_copper --seed 41 --param rate_per_min=0 --param tie_order=hash --param reach_cap=60 \
    --param people=400 --param leads=120
# One table per run, so "after N requests" lands inside that table's pass.
copper_cfg "$WORK/cfg" exactly-once 'page_size = 20; reach_cap = 60;' 'rate_limit = 0;' \
    'tables = { include = ["people"]; };'
copper_cfg "$WORK/cfg-leads" exactly-once 'page_size = 20; reach_cap = 60;' 'rate_limit = 0;' \
    'tables = { include = ["leads"]; };'

sim_ctl mutate '{"table":"people","op":"touch","count":130}' >/dev/null
sleep 1.1 # a new second: 45 people created at once share date_modified and date_created
sim_ctl mutate '{"table":"people","op":"create","count":45}' >/dev/null
truth people >"$WORK/truth-before.json"
tie=$(grep -o '"date_modified":[0-9]*' "$WORK/truth-before.json" | sort | uniq -c |
    awk '$1 > max { max = $1 } END { print max + 0 }')
[ "$tie" -ge 130 ] || fail "the simulator did not make a 130-record tie (largest block: $tie)"
note "largest block of people sharing one date_modified: $tie"

# Mutations between page requests: people updates, a mid-pass tie of 25 more, deletes and
# creates (then lead conversions and updates during the leads pass).
for after in 3 7 12 18 24 29; do
    sim_ctl schedule "{\"after_requests\":$after,\"action\":\"mutate\",\"args\":{\"table\":\"people\",\"op\":\"update\",\"count\":4}}" >/dev/null
done
sim_ctl schedule '{"after_requests":15,"action":"mutate","args":{"table":"people","op":"touch","count":25}}' >/dev/null
sim_ctl schedule '{"after_requests":22,"action":"mutate","args":{"table":"people","op":"create","count":3}}' >/dev/null
sim_ctl schedule '{"after_requests":27,"action":"mutate","args":{"table":"people","op":"delete","count":2}}' >/dev/null

run_once "$WORK/cfg"
# Right after the people pass: every edit made during it, including those made in the second
# whose tie block it was draining (that block is read again once the second closes), is in.
truth people >"$WORK/truth-people-pass1.json"
"$CRMTOOL" compare -c "$WORK/cfg" people "$WORK/truth-people-pass1.json" id >"$WORK/compare-people-pass1.txt" 2>&1 || true
grep -q "mismatches=2" "$WORK/compare-people-pass1.txt" &&
    [ "$(grep -c 'is in the topic but not in the CRM' "$WORK/compare-people-pass1.txt")" = 2 ] ||
    fail "after the people pass, people differ other than by the 2 deleted: $(cat "$WORK/compare-people-pass1.txt")"
note "after the people pass itself, people equal the truth except the 2 deleted"
sim_get schedule >"$WORK/schedule-people.json"
pending=$(tr -d '\n' <"$WORK/schedule-people.json" | grep -o '"pending":\[[^]]*\]' | grep -c '"action"' || true)
expect_eq "$pending" 0 "people mutations still pending after the people pass (all ran during it)"
sim_ctl schedule '{"after_requests":2,"action":"mutate","args":{"table":"leads","op":"convert","count":3}}' >/dev/null
sim_ctl schedule '{"after_requests":4,"action":"mutate","args":{"table":"leads","op":"update","count":5}}' >/dev/null
run_once "$WORK/cfg-leads"
sim_get schedule >"$WORK/schedule.json"
pending=$(tr -d '\n' <"$WORK/schedule.json" | grep -o '"pending":\[[^]]*\]' | grep -c '"action"' || true)
expect_eq "$pending" 0 "lead mutations still pending after the leads pass"

# Deleted people stay in the topic until a reconciliation; compare the rest, again after the
# next pass (which must publish nothing else).
compare_table "$WORK/cfg" leads
run_once "$WORK/cfg"
truth people >"$WORK/truth-people.json"
"$CRMTOOL" compare -c "$WORK/cfg" people "$WORK/truth-people.json" id >"$WORK/compare-people.txt" 2>&1 || true
grep -q "mismatches=2" "$WORK/compare-people.txt" ||
    fail "people differ other than by the 2 deleted: $(cat "$WORK/compare-people.txt")"
[ "$(grep -c 'is in the topic but not in the CRM' "$WORK/compare-people.txt")" = 2 ] ||
    fail "people mismatches are not the 2 deletes: $(cat "$WORK/compare-people.txt")"
note "people equal the truth except the 2 records deleted mid-pass"
expect_eq "$(summary_field "$WORK/cfg" people duplicates)" 0 "people published twice"

sim_get copper_stats >"$WORK/copper_stats.json"
expect_eq "$(json_get "$WORK/copper_stats.json" capped_requests)" 0 "searches past the reach cap"
note "searches made: $(json_get "$WORK/copper_stats.json" searches)"
windowed=$(json_get "$WORK/copper_stats.json" created_window_searches)
[ "$windowed" -gt 0 ] || fail "no search inside a tied second used minimum_created_date"
note "searches keyed on date_created inside a tied second: $windowed"
