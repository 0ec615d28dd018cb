#!/usr/bin/env bash
# The dedupe log: each commit writes one chunk of dedupe entries per table (not one state
# record per record); once the chunks hold far more entries than the live keys, the table
# rewrites its log into fresh chunks and tombstones the old ones. A restart after the rewrite
# republishes nothing, `crmstream state` still knows every key, and what survives compaction
# is the rewrite's chunk plus the chunks of later commits.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 11 --param items=300 --param users=5
# Without the events feed: a feed page that deletes items commits the items pages pending at
# that moment first (ordering), which would split the backfill's one commit in two.
write_cfg "$WORK/cfg" exactly-once 'lookback = { items = "3650d"; };' \
    'tables = { include = ["items", "users"]; };'
keys() { "$CRMTOOL" statekeys -c "$WORK/cfg" "$1"; }

run_once "$WORK/cfg"
expect_eq "$(keys "dc/acme/items/")" 1 "items chunks after the backfill (300 records, one commit)"
expect_eq "$(keys "dd/")" 0 "per-record dedupe records"

# Every pass updates all 300 items: 300 more entries per pass; the live map stays at 300.
for pass in 1 2 3 4 5; do
    sim_ctl mutate '{"table":"items","op":"update","count":300}' >/dev/null
    run_once "$WORK/cfg"
done
grep -q "items.*dedupe log rewritten: 6 chunks / 1800 entries -> 1 / 300 (300 live keys)" \
    "$WORK/run.log" || fail "no rewrite of the items dedupe log: $(grep -i 'dedupe log' "$WORK/run.log")"
note "$(grep -o 'dedupe log rewritten.*' "$WORK/run.log" | head -n 1)"
expect_eq "$(keys "dc/acme/items/")" 1 "items chunks left after the rewrite (the rest tombstoned)"
expect_eq "$(summary_field "$WORK/cfg" items ops.u)" 1500 "item updates"

# A restart replays the rewritten log: nothing is republished, every key is known.
run_once "$WORK/cfg"
grep -q "items.*resuming:.*known=300 (dedupe log: 1 chunks, 300 entries)" "$WORK/run.log" ||
    fail "restored dedupe log: $(grep 'resuming' "$WORK/run.log" | tail -n 2)"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 1800 "items messages after the restart"
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "items published twice"
"$CRMSTREAM" state -c "$WORK/cfg" >"$WORK/state.txt" || fail "crmstream state failed"
grep -Eq "^acme/items +[^ ]+ +[0-9]+ +300 " "$WORK/state.txt" || fail "state: $(cat "$WORK/state.txt")"

# One more change after the restart: a new chunk numbered after every earlier one.
sim_ctl mutate '{"table":"items","op":"update","id":"itm_000007"}' >/dev/null
run_once "$WORK/cfg"
expect_eq "$(keys "dc/acme/items/")" 2 "items chunks after one more commit"
compare_table "$WORK/cfg" items
