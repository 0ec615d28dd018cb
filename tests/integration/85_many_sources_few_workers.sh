#!/usr/bin/env bash
# Many sources on a few workers (#20 item 2): 16 testcrm sources (3 tables each, 48 tables) run
# as tasks on `workers = 3` threads, not a thread per table. Every table of every source is
# polled again on schedule (three passes each), changes made meanwhile reach every source's
# topics exactly once (topics equal the simulator, no duplicates), and a SIGTERM while every
# worker waits on a slow response stops the process within 4 s with exit 0 (the transfers abort
# within about a second, then 16 producers close).
source "$(dirname "$0")/lib.sh"
N=16
WORKERS=3
start_sim testcrm --seed 85 --param items=120 --param users=8 --latency-ms 20

# many_cfg FILE — N sources s01..sN on the simulator, polled every 3 s, on WORKERS workers.
many_cfg() {
    local i
    CFGS+=("$1")
    {
        echo 'log_level = "info";'
        echo "workers = $WORKERS;"
        echo "kafka = { bootstrap_servers = \"$BOOTSTRAP\"; topic_prefix = \"$PREFIX\";"
        echo "  state_topic = \"$PREFIX.state\"; delivery = \"exactly-once\";"
        echo '  transaction_timeout = "20s"; };'
        echo 'sources = ('
        for i in $(seq -w "$N"); do
            [ "$i" = 01 ] || echo ','
            printf '{ type = "testcrm"; name = "s%s"; base_url = "%s"; poll_interval = "3s"; }' \
                "$i" "$SIM_URL"
        done
        echo ');'
    } >"$1"
}
many_cfg "$WORK/cfg"

# passes_of SOURCE TABLE — "pass done" lines of one table so far.
passes_of() {
    grep -c "source=$1 table=$2 msg=\"pass done" "$WORK/run.log" || true
}

start_daemon "$WORK/cfg"
wait_for_log 'msg="pass done' 60
# The worker pool is the only thread the tables cost: WORKERS named threads, whatever N.
workers=$(cat /proc/"$CRM_PID"/task/*/comm 2>/dev/null | grep -c '^crm-worker$' || true)
expect_eq "$workers" "$WORKERS" "worker threads for $N sources x 3 tables"
sim_ctl mutate '{"table":"items","op":"update","count":4}' >/dev/null
sim_ctl mutate '{"table":"items","op":"create","count":2}' >/dev/null
sim_ctl mutate '{"table":"users","op":"update","count":1}' >/dev/null

# Every table of every source is polled again: three passes each, within 90 s.
deadline=$((SECONDS + 90))
for i in $(seq -w "$N"); do
    for t in items users events; do
        until [ "$(passes_of "s$i" "$t")" -ge 3 ]; do
            [ "$SECONDS" -lt "$deadline" ] ||
                fail "s$i.$t: $(passes_of "s$i" "$t") passes in 90 s; log tail: $(tail -n 5 "$WORK/run.log")"
            kill -0 "$CRM_PID" 2>/dev/null || fail "crmstream exited: $(tail -n 5 "$WORK/run.log")"
            sleep 0.5
        done
    done
done
note "every one of $((N * 3)) tables passed at least 3 times"
# how late passes started after their due time (the scheduler's figure, in every pass line)
late=$(grep -o 'msg="pass done[^"]*late_ms=[0-9]*' "$WORK/run.log" | sed 's/.*late_ms=//' |
    sort -n | awk '{ v[NR] = $1 } END { print v[int(NR * 0.5) + 1], v[NR] }')
note "pass start lateness median/max ms = $late"

# SIGTERM while every worker waits on a 35 s response: the transfers are aborted, exit 0 in 4 s.
sim_ctl latency '{"ms":35000}' >/dev/null
sleep 5 # the next passes are waiting for their responses now
start=$(date +%s%N)
kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 10
elapsed=$((($(date +%s%N) - start) / 1000000))
expect_eq "$EXIT_CODE" 0 "exit code after SIGTERM with responses in flight"
note "stopped in $elapsed ms with 35 s responses in flight"
[ "$elapsed" -le 4000 ] || fail "SIGTERM took $elapsed ms with responses in flight (limit 4000)"
sim_ctl latency '{"ms":0}' >/dev/null

# One more pass of everything: each source's topics equal the simulator, nothing twice.
run_once "$WORK/cfg"
for t in items users; do
    truth "$t" >"$WORK/truth-$t.json"
done
for i in $(seq -w "$N"); do
    for t in items users; do
        "$CRMTOOL" compare -c "$WORK/cfg" "s$i.$t" "$WORK/truth-$t.json" id >"$WORK/compare-s$i-$t.txt" 2>&1 ||
            fail "s$i.$t differs from the simulator: $(cat "$WORK/compare-s$i-$t.txt")"
        grep -q 'duplicates=0 ' "$WORK/compare-s$i-$t.txt" ||
            fail "s$i.$t has duplicates: $(cat "$WORK/compare-s$i-$t.txt")"
    done
done
note "s01: $(grep '^compare' "$WORK/compare-s01-items.txt")"
note "all $N sources' items and users equal the simulator, no duplicates"
