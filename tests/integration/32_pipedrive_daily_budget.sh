#!/usr/bin/env bash
# Pipedrive's daily token budget runs out mid-backfill (429 while x-ratelimit-remaining > 0,
# x-daily-ratelimit-token-remaining: 0): the source commits what it has, pauses with a clear
# message instead of hammering the API, resumes when the budget is back (here after 3 s), and
# the topics end up equal to the truth with nothing lost and nothing published twice.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipedrive_env.sh"
start_pipedrive --seed 32 --param burst_limit=0 --param deals=40 --param persons=30 \
    --param activities=20 --param notes=20 --param organizations=10 --param files=5 \
    --param daily_budget=700 --param daily_reset_s=3
write_cfg "$WORK/cfg" at-least-once 'rate_limit = 0;' \
    'options = { page_size = 10; daily_budget_retry = "1s"; };'
run_once "$WORK/cfg"
compare_all "$WORK/cfg"
for t in deals persons notes deal_products dealflow; do
    expect_eq "$(summary_field "$WORK/cfg" $t duplicates)" 0 "$t published twice"
done
curl -fsS "$SIM_URL/_control/stats" >"$WORK/stats.json"
limited=$(status_count "$WORK/stats.json" 429)
note "simulator answered 429 (daily budget) ${limited:-0} times"
[ "${limited:-0}" -gt 0 ] || fail "the daily budget never ran out: the test proves nothing"
grep -q "API budget exhausted" "$WORK/run.log" || fail "no clear budget message in the log"
grep -q "pausing until" "$WORK/run.log" || fail "the source did not say it pauses"
pauses=$(grep -c "API budget exhausted" "$WORK/run.log")
requests=$(json_get "$WORK/stats.json" requests)
note "budget pauses logged: $pauses, requests: $requests"
# Paused, not hammering: at most a few probes per pause.
[ "$limited" -le $((pauses * 3 + 20)) ] || fail "$limited 429s for $pauses pauses: the source kept retrying"
