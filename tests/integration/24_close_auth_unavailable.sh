#!/usr/bin/env bash
# Close credentials and gated tables: with a good key `check` passes; a wrong key makes `check`
# and `run` exit 5 with the 401 named and the key never printed. An organization without
# event-log access (400 on /event/) and a plan without send-as (402) get those tables reported
# unavailable while every other table completes (exit 0).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
start_close --seed 24 --param leads=60 --param activities=200 --param event_log=0
close_cfg "$WORK/cfg" exactly-once '' 'rate_limit = 0;' \
    "$(close_tables leads contacts opportunities tasks activities event_log send_as users lead_statuses)"

rc=0
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check-ok.txt" 2>&1 || rc=$?
expect_eq "$rc" 0 "check exit code with a good key"

run_once "$WORK/cfg"
grep -q "table=event_log.*unavailable" "$WORK/run.log" || fail "event_log not reported unavailable"
grep -q "table=send_as.*unavailable" "$WORK/run.log" || fail "send_as not reported unavailable"
note "event_log and send_as reported unavailable"
compare_all "$WORK/cfg" $CLOSE_MAIN_TABLES users lead_statuses
expect_eq "$(summary_field "$WORK/cfg" event_log messages)" 0 "event_log messages"

good_key=$CLOSE_API_KEY
export CLOSE_API_KEY=api_wrong_7f3a9c1e
rc=0
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check-bad.txt" 2>&1 || rc=$?
expect_eq "$rc" 5 "check exit code with a bad key"
grep -q "HTTP 401.*could not verify" "$WORK/check-bad.txt" ||
    fail "unclear check error: $(cat "$WORK/check-bad.txt")"
run_once "$WORK/cfg" 5
grep -q "credentials rejected" "$WORK/run.log" || fail "run did not say the credentials were rejected"
for k in api_wrong_7f3a9c1e "$good_key"; do
    if grep -rqF "$k" "$WORK"/*.txt "$WORK/run.log"; then fail "a key was printed"; fi
done
note "keys never printed"
