#!/usr/bin/env bash
# Pipedrive at the API's default burst limit (20 requests per rolling 2 s) with the connector's
# default pacing (no rate_limit/burst set): a backfill whose dealflow sends one request per deal
# gets no 429 and no remaining=0 pause, finishes within 1.15x the minimum time the limit allows
# for its requests (bench/backfill.sh measures the same at 1,000 deals), and the source's other
# tables are not starved behind dealflow: each finishes its first pass within a fifth of it.
# Everything lands exactly the simulator's truth.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipedrive_env.sh"
start_pipedrive --seed 68 --param deals=300 --param persons=120 --param organizations=40 \
    --param activities=120 --param notes=60
write_cfg "$WORK/cfg" exactly-once

run_once "$WORK/cfg"
compare_all "$WORK/cfg"
curl -fsS "$SIM_URL/_control/stats" >"$WORK/stats.json"
expect_eq "$(status_count "$WORK/stats.json" 429)" 0 "429 answers at the default pacing"
grep -q 'rate-limit budget at 0' "$WORK/run.log" && fail "x-ratelimit-remaining reached 0"

# the requests the simulator answered; first-pass seconds per table from the run's pass lines
requests=$(tr -d '\n' <"$WORK/stats.json" | grep -o '"requests":[0-9]*' | head -n 1 | cut -d: -f2)
summed=$(grep -o 'msg="summary:[^"]*requests=[0-9]*' "$WORK/run.log" | sed 's/.*requests=//' |
    awk '{s += $1} END {print s + 0}')
expect_eq "$summed" "$requests" "requests in the tables' summary lines"
flow_s=$(grep 'table=dealflow msg="pass done in' "$WORK/run.log" | head -n 1 |
    sed 's/.*done in \([0-9.]*\)s.*/\1/')
[ -n "$flow_s" ] || fail "no dealflow pass line"
bound=$(awk -v n="$requests" 'BEGIN { b = (int((n + 19) / 20) - 1) * 2; print b }')
note "requests=$requests bound=${bound}s dealflow=${flow_s}s"
awk -v a="$flow_s" -v b="$bound" 'BEGIN { exit !(a <= 1.15 * b) }' ||
    fail "dealflow took ${flow_s}s, over 1.15 x the ${bound}s the limit allows for $requests requests"
for t in deals persons organizations activities notes stages users deal_fields; do
    s=$(grep "table=$t msg=\"pass done in" "$WORK/run.log" | head -n 1 | sed 's/.*done in \([0-9.]*\)s.*/\1/')
    [ -n "$s" ] || fail "no first pass line for $t"
    awk -v s="$s" -v f="$flow_s" 'BEGIN { exit !(s <= f / 5) }' ||
        fail "$t waited behind dealflow: its first pass took ${s}s of dealflow's ${flow_s}s"
done
