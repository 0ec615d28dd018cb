#!/usr/bin/env bash
# A second instance running the same source fences the first, which exits with code 4 and a
# clear message; the survivor finishes and nothing is lost or duplicated.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 13 --param items=2000 --param users=10 --latency-ms 60
LOG_LEVEL=debug write_cfg "$WORK/cfg" exactly-once 'options = { page_size = 50; };'
start_daemon "$WORK/cfg"
first=$CRM_PID
wait_for_log 'table=items msg="page 10:' 60
"$CRMSTREAM" run -c "$WORK/cfg" >"$WORK/second.log" 2>&1 &
second=$!
CRM_PIDS+=($second)
wait_for_exit "$first" 40
expect_eq "$EXIT_CODE" 4 "exit code of the fenced instance"
grep -q "fenced" "$WORK/run.log" || fail "no 'fenced' message in the first instance's log"
sleep 1
kill -0 "$second" || fail "the second instance died: $(tail -n 5 "$WORK/second.log")"
kill -TERM "$second"
wait_for_exit "$second" 15
expect_eq "$EXIT_CODE" 0 "exit code of the survivor after SIGTERM"
run_once "$WORK/cfg"
compare_table "$WORK/cfg" items
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "duplicates"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 2000 "items messages"
