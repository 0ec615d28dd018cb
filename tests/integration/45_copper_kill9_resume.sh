#!/usr/bin/env bash
# Copper: crmstream is killed -9 in the middle of a people backfill (inside a 120-record block
# sharing one date_modified, so inside tie paging) while records keep changing; the restart
# resumes the interrupted pass from its committed keyset state and the topic equals the truth
# with nothing published twice (exactly-once).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/copper_env.sh"
start_copper --seed 45 --param rate_per_min=0 --param tie_order=hash --param people=300 \
    --latency-ms 40
copper_cfg "$WORK/cfg" exactly-once 'page_size = 10;' 'rate_limit = 0;' \
    'tables = { include = ["people"]; };'
sim_ctl mutate '{"table":"people","op":"touch","count":120}' >/dev/null
for after in 5 14 22 30; do
    sim_ctl schedule "{\"after_requests\":$after,\"action\":\"mutate\",\"args\":{\"table\":\"people\",\"op\":\"update\",\"count\":3}}" >/dev/null
done

start_daemon "$WORK/cfg"
for _ in $(seq 300); do
    n=$(sim_get stats | grep -o '"requests":[0-9]*' | cut -d: -f2)
    [ "${n:-0}" -ge 34 ] && break
    sleep 0.05
done
kill -9 "$CRM_PID"
wait "$CRM_PID" 2>/dev/null || true
note "killed after $n requests"
grep -q "pass done" "$WORK/run.log" && fail "the pass finished before the kill: the test proves nothing"
"$CRMSTREAM" state -c "$WORK/cfg" >"$WORK/state.txt" 2>&1
grep -Eq "/people .* yes( |$)" "$WORK/state.txt" || fail "no pass in progress after the kill: $(cat "$WORK/state.txt")"

run_once "$WORK/cfg"
grep -q "resuming an interrupted pass" "$WORK/run.log" || fail "the restart did not resume the pass"
compare_table "$WORK/cfg" people
expect_eq "$(summary_field "$WORK/cfg" people duplicates)" 0 "people published twice"
