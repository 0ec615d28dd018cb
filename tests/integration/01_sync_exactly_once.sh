#!/usr/bin/env bash
# A first sync lands every simulator record exactly once; a re-run inside a full lookback
# republishes nothing; updates, creates and deletes (event feed and ID reconciliation) land as
# u / c / d + tombstone, and the topics equal the simulator's truth at every step.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 7 --param items=300 --param users=25
write_cfg "$WORK/cfg" exactly-once 'lookback = { items = "3650d"; };'

run_once "$WORK/cfg"
compare_table "$WORK/cfg" items
compare_table "$WORK/cfg" users
expect_eq "$(summary_field "$WORK/cfg" items messages)" 300 "items messages after backfill"
expect_eq "$(summary_field "$WORK/cfg" items ops.r)" 300 "items snapshot reads"
expect_eq "$(summary_field "$WORK/cfg" users messages)" 25 "users messages after backfill"

run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 300 "items messages after an unchanged re-read"
expect_eq "$(summary_field "$WORK/cfg" users messages)" 25 "users messages after an unchanged re-read"

for id in itm_000003 itm_000010 itm_000200; do
    sim_ctl mutate "{\"table\":\"items\",\"op\":\"update\",\"id\":\"$id\"}" >/dev/null
done
sim_ctl mutate '{"table":"items","op":"create","count":2}' >/dev/null
sim_ctl mutate '{"table":"items","op":"delete","id":"itm_000005"}' >/dev/null
sim_ctl mutate '{"table":"users","op":"delete","id":4}' >/dev/null
sim_ctl mutate '{"table":"users","op":"update","id":7}' >/dev/null

run_once "$WORK/cfg"
compare_table "$WORK/cfg" items
compare_table "$WORK/cfg" users
compare_table "$WORK/cfg" events
expect_eq "$(summary_field "$WORK/cfg" items ops.u)" 3 "item updates"
expect_eq "$(summary_field "$WORK/cfg" items ops.c)" 2 "item creates"
expect_eq "$(summary_field "$WORK/cfg" items ops.d)" 1 "item deletes"
expect_eq "$(summary_field "$WORK/cfg" items tombstones)" 1 "item tombstones"
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "items published twice"
expect_eq "$(summary_field "$WORK/cfg" users ops.d)" 1 "user deletes found by reconciliation"
expect_eq "$(summary_field "$WORK/cfg" users ops.u)" 1 "user updates"
expect_eq "$(summary_field "$WORK/cfg" users messages)" 28 "users messages"

"$CRMSTREAM" state -c "$WORK/cfg" >"$WORK/state.txt"
grep -q "acme/items" "$WORK/state.txt" || fail "crmstream state does not list acme/items"
"$CRMSTREAM" peek -c "$WORK/cfg" items 8 >"$WORK/peek.txt"
expect_eq "$(grep -c '"offset"' "$WORK/peek.txt")" 8 "events shown by peek items 8"
grep -q '"value": null' "$WORK/peek.txt" || fail "peek did not show the tombstone among the last events"
