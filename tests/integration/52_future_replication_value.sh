#!/usr/bin/env bash
# A record whose replication value lies far in the future (Copper date_modified 9999999999, year
# 2286) is published but does not move the bookmark past the pass start (#15 item 4): a change
# made afterwards is still picked up (without the cap: 5 mismatches); the record is logged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/copper_env.sh"
start_copper --seed 18 --param rate_per_min=0
copper_cfg "$WORK/cfg" exactly-once 'page_size = 25;' 'rate_limit = 0;' \
    'tables = { include = ["companies"]; };'
run_once "$WORK/cfg"
sim_ctl mutate '{"table":"companies","op":"create","set":{"name":"From the future","date_modified":9999999999}}' >/dev/null
run_once "$WORK/cfg"
grep -q 'table=companies msg="record id=[0-9]*: date_modified 2286-11-20T17:46:39.000Z lies after the pass start' "$WORK/run.log" ||
    fail "no warning about the future date_modified: $(grep -i 'future\|2286' "$WORK/run.log" | tail -n 3)"
# The committed bookmark (state topic) stays at or before the pass start, i.e. before now.
bookmark=$(state_cell "$WORK/cfg" "$SOURCE_NAME/companies" 2)
# (both to the millisecond: at whole seconds a bookmark in the current second compared after it)
now=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
[[ "$bookmark" == 20* ]] && [[ ! "$bookmark" > "$now" ]] ||
    fail "the committed bookmark is $bookmark, not at or before $now: $(cat "$WORK/state.txt")"
note "committed bookmark $bookmark"
sleep 1
sim_ctl mutate '{"table":"companies","op":"update","count":3}' >/dev/null
sim_ctl mutate '{"table":"companies","op":"create","count":2}' >/dev/null
run_once "$WORK/cfg"
compare_table "$WORK/cfg" companies
expect_eq "$(summary_field "$WORK/cfg" companies duplicates)" 0 "duplicates"
