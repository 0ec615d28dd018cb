#!/usr/bin/env bash
# Upgrade from a version before the dedupe log: the state topic holds one dd/ record per key with
# the old (FNV) content hash. The new version reads them, republishes only what changed (the old
# hash of each re-read record is compared), and its first rewrite retires the dd/ records.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 5 --param items=200 --param users=5
write_cfg "$WORK/cfg" exactly-once 'lookback = { items = "3650d"; };'
keys() { "$CRMTOOL" statekeys -c "$WORK/cfg" "$1"; }

run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 200 "items messages after the backfill"
# What the old version would have left: dd/ records with the old hashes, no dc/ chunks.
expect_eq "$("$CRMTOOL" legacy-state -c "$WORK/cfg" items)" 200 "legacy dd/ records written"
expect_eq "$(keys "dc/acme/items/")" 0 "items chunks before the upgrade"
expect_eq "$(keys "dd/acme/items/")" 200 "items dd/ records before the upgrade"

for id in itm_000002 itm_000050 itm_000123; do
    sim_ctl mutate "{\"table\":\"items\",\"op\":\"update\",\"id\":\"$id\"}" >/dev/null
done
run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" items ops.u)" 3 "items republished after the upgrade (the changed ones)"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 203 "items messages after the upgrade"
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "items published twice"
grep -q "items.*dedupe log rewritten" "$WORK/run.log" ||
    fail "the dd/ records were not retired: $(grep -i 'dedupe log' "$WORK/run.log")"
expect_eq "$(keys "dd/acme/items/")" 0 "items dd/ records after the first rewrite"
expect_eq "$(keys "dc/acme/items/")" 1 "items chunks after the first rewrite"

run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 203 "items messages after a restart"
compare_table "$WORK/cfg" items
