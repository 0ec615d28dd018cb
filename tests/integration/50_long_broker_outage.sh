#!/usr/bin/env bash
# A broker outage longer than the transaction timeout, during passes of three sources: no source
# wedges (#15 item 1). After the broker is back every source publishes again within 60 s, without
# a restart; the topics then equal the truth with no duplicates under read_committed.
# The broker is killed (OUTAGE_MODE=kill9, default; "stop" for a clean shutdown) while the
# sources commit pages (one transaction per page), so transactions are open at the coordinator
# when it goes away.
# OUTAGE_S sets the outage: default 30 s (three times the 10 s transaction timeout, so the test
# stays near a minute); the issue's 90 s: OUTAGE_S=90 (about 2 min; passed, sources back 16 s after
# the broker).
source "$(dirname "$0")/lib.sh"
OUTAGE_S=${OUTAGE_S:-30}
OUTAGE_MODE=${OUTAGE_MODE:-kill9}
start_sim testcrm --seed 16 --param items=4000 --param users=10 --latency-ms 10
cfg=$WORK/cfg
{
    echo 'log_level = "debug";'
    echo "kafka = { bootstrap_servers = \"$BOOTSTRAP\"; topic_prefix = \"$PREFIX\";"
    echo "  state_topic = \"$PREFIX.state\"; delivery = \"exactly-once\";"
    echo '  transaction_timeout = "10s"; commit_max_events = 1; };'
    sep='sources = ('
    for s in a1 a2 a3; do
        echo "$sep { type = \"testcrm\"; name = \"$s\"; base_url = \"$SIM_URL\"; poll_interval = \"1s\";"
        echo '    options = { page_size = 20; }; tables = { include = ["items"]; }; }'
        sep=','
    done
    echo ');'
} >"$cfg"
CFGS+=("$cfg") # checked for decodable events at the end (lib.sh)
start_daemon "$cfg"
for s in a1 a2 a3; do wait_for_log "source=$s table=items msg=\"page 30:" 60; done
"$ROOT/tests/kafka/broker.sh" "$OUTAGE_MODE" >/dev/null
note "broker stopped ($OUTAGE_MODE)"
sim_ctl mutate '{"table":"items","op":"update","count":25}' >/dev/null
sleep "$OUTAGE_S"
kill -0 "$CRM_PID" || fail "crmstream died while the broker was down: $(tail -n 5 "$WORK/run.log")"
mark=$(wc -l <"$WORK/run.log")
"$ROOT/tests/kafka/broker.sh" restart-keep >/dev/null
back=$SECONDS
note "broker restarted after ${OUTAGE_S}s"
sim_ctl mutate '{"table":"items","op":"update","count":25}' >/dev/null
for s in a1 a2 a3; do
    until tail -n +"$mark" "$WORK/run.log" | grep -q "source=$s table=items msg=\"pass done"; do
        kill -0 "$CRM_PID" 2>/dev/null || fail "crmstream exited after the outage: $(tail -n 5 "$WORK/run.log")"
        [ $((SECONDS - back)) -lt 60 ] || fail "source $s did not complete a pass within 60 s of the broker's return; tail:
$(tail -n 20 "$WORK/run.log")"
        sleep 0.5
    done
    note "source $s completed a pass $((SECONDS - back)) s after the broker's return"
done
kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 15
expect_eq "$EXIT_CODE" 0 "exit code after SIGTERM"
run_once "$cfg"
truth items >"$WORK/truth-items.json"
for s in a1 a2 a3; do
    "$CRMTOOL" compare -c "$cfg" "$s.items" "$WORK/truth-items.json" id >"$WORK/compare-$s.txt" 2>&1 ||
        fail "topic $s.items differs from the simulator: $(head -c 2000 "$WORK/compare-$s.txt")"
    note "$(grep '^compare' "$WORK/compare-$s.txt")"
    expect_eq "$(summary_field "$cfg" "$s.items" duplicates)" 0 "$s duplicates"
done
