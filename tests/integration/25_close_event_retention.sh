#!/usr/bin/env bash
# Close event-log retention: when the event_log bookmark is older than Close's 30 days, deletes
# in the gap are gone from the log; crmstream warns and falls back to an ID reconciliation of
# leads, contacts, opportunities, tasks and activities, which finds the deleted lead (and its
# children) and publishes d events plus tombstones.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
# The simulated account lives 40 days in the past, so the event_log bookmark of the first sync
# is already older than the retention when the second sync starts.
start_close --seed 25 --param leads=40 --param activities=80 \
    --epoch "$(date -u -d '-40 days' +%Y-%m-%dT%H:%M:%SZ)"
close_cfg "$WORK/cfg" exactly-once '' 'rate_limit = 0;' \
    "$(close_tables leads contacts opportunities tasks activities event_log)"
run_once "$WORK/cfg"
compare_table "$WORK/cfg" leads

lead=$(truth leads | python3 -c "import json,sys; print(json.load(sys.stdin)['records'][2]['id'])")
mutate "{\"table\":\"leads\",\"op\":\"delete\",\"id\":\"$lead\"}" >/dev/null
# 31 days later the deletion event has aged out of the log.
sim_ctl clock "{\"advance_ms\": $((31 * 86400 * 1000))}" >/dev/null
start_daemon "$WORK/cfg"
wait_for_log "falling back to an ID reconciliation" 60
wait_for_log 'table=leads msg="reconciliation: ' 120
wait_for_log 'table=contacts msg="reconciliation: ' 120
kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 15
expect_eq "$EXIT_CODE" 0 "exit code after SIGTERM"
compare_table "$WORK/cfg" leads
compare_table "$WORK/cfg" contacts
expect_eq "$(summary_field "$WORK/cfg" leads ops.d)" 1 "lead deletes found by reconciliation"
expect_eq "$(summary_field "$WORK/cfg" leads tombstones)" 1 "lead tombstones"
