#!/usr/bin/env bash
# Re-sync and state tools (#19): `resync SOURCE.TABLE` re-reads the table at once and publishes
# only what changed; `resync --republish` publishes every key once more as `r`; `state --reset`
# forgets the table so the next `run --once` re-reads it as a first sync. Both take over the
# source's transactional.id first: a daemon running the source is fenced (exit 4) and cannot
# write over the rewound state.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 51 --param items=40 --param users=3
write_cfg "$WORK/cfg" exactly-once 'tables = { include = ["items"]; };' 'options = { page_size = 10; };'
item_requests() { curl -fsS "$SIM_URL/_control/stats" | tr -d '\n' | grep -o '"/api/items":[0-9]*' | cut -d: -f2; }
rewind() { "$CRMSTREAM" "$@" -c "$WORK/cfg" >>"$WORK/rewind.log" 2>&1 || fail "crmstream $*: $(tail -n 5 "$WORK/rewind.log")"; }

run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" items ops.r)" 40 "r events of the first sync"
sim_ctl stats/reset '{}' >/dev/null
run_once "$WORK/cfg"
incremental=$(item_requests)
note "an incremental pass with nothing new reads $incremental page(s)"

# resync: a full re-read (every page), only the changes published.
sim_ctl mutate '{"table":"items","op":"update","ids":["itm_000003","itm_000011"]}' >/dev/null
sim_ctl stats/reset '{}' >/dev/null
rewind resync acme.items
resync_pages=$(item_requests)
[ "$resync_pages" -ge 4 ] && [ "$resync_pages" -gt "$incremental" ] ||
    fail "resync read $resync_pages page(s): not a re-read of 40 items in pages of 10"
note "resync re-read $resync_pages pages"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 42 "messages after resync (only the 2 changes)"
expect_eq "$(summary_field "$WORK/cfg" items ops.u)" 2 "u events after resync"
grep -q "dedupe entries kept" "$WORK/rewind.log" || fail "resync did not say what it kept"

# --from: a bookmark at that date; a bad date is a usage error.
rewind resync acme.items --from 2020-06-01
grep -q "acme.items: bookmark 2020-06-01T00:00:00.000Z" "$WORK/rewind.log" || fail "--from not applied: $(tail -n 3 "$WORK/rewind.log")"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 42 "messages after resync --from (nothing changed)"
rc=0
"$CRMSTREAM" resync -c "$WORK/cfg" acme.items --from yesterday >"$WORK/bad-from.txt" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit code of resync --from with a bad date"

# --republish: every key once more, as r.
rewind resync acme.items --republish
expect_eq "$(summary_field "$WORK/cfg" items ops.r)" 80 "r events after resync --republish (40 + 40)"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 82 "messages after resync --republish"
run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 82 "messages of a run after --republish (dedupe rebuilt)"

# state --reset, then run --once: a first sync again.
rewind state --reset acme.items
"$CRMSTREAM" state -c "$WORK/cfg" >"$WORK/state-reset.txt"
if grep -q "^acme/items " "$WORK/state-reset.txt"; then fail "state --reset left the bookmark: $(cat "$WORK/state-reset.txt")"; fi
run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" items ops.r)" 120 "r events after state --reset and run --once"
"$CRMSTREAM" state -c "$WORK/cfg" >"$WORK/state-after.txt"
grep -Eq '^acme/items +[^ ]+ +1 +40 +no( |$)' "$WORK/state-after.txt" || fail "state after the re-read: $(cat "$WORK/state-after.txt")"

# Against a running daemon: state --reset fences it; the reset survives; the next run re-reads.
start_daemon "$WORK/cfg"
wait_for_log 'state restored' 30
sleep 3
rewind state --reset acme.items
wait_for_exit "$CRM_PID" 20
expect_eq "$EXIT_CODE" 4 "exit code of the daemon the reset fenced"
"$CRMSTREAM" state -c "$WORK/cfg" >"$WORK/state-fenced.txt"
if grep -q "^acme/items " "$WORK/state-fenced.txt"; then fail "the fenced daemon wrote over the reset: $(cat "$WORK/state-fenced.txt")"; fi
run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" items ops.r)" 160 "r events after the reset of a running source"
compare_table "$WORK/cfg" items
