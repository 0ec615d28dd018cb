#!/usr/bin/env bash
# The broker stops mid-sync: crmstream does not crash, commits nothing it cannot, and completes
# once the broker is back; the topics then equal the truth with no duplicates.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 14 --param items=1500 --param users=10 --latency-ms 40
LOG_LEVEL=debug write_cfg "$WORK/cfg" exactly-once 'options = { page_size = 50; };'
start_daemon "$WORK/cfg"
wait_for_log 'table=items msg="page 10:' 60
"$ROOT/tests/kafka/broker.sh" stop >/dev/null
note "broker stopped"
sleep 8
kill -0 "$CRM_PID" || fail "crmstream died while the broker was down: $(tail -n 5 "$WORK/run.log")"
"$ROOT/tests/kafka/broker.sh" restart-keep >/dev/null
note "broker restarted"
wait_for_log "table=items msg=\"pass done" 120
kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 15
expect_eq "$EXIT_CODE" 0 "exit code after SIGTERM"
run_once "$WORK/cfg"
compare_table "$WORK/cfg" items
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "duplicates"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 1500 "items messages"
