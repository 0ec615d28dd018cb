#!/usr/bin/env bash
# A new instance running only one of an old instance's sources fences that source: the old
# process exits 4 within 10 s (#15 item 2), its other source's poll sleep (60 s here) waking on
# the fence; nothing is lost or duplicated.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 17 --param items=300 --param users=10 --latency-ms 5
# source_block NAME POLL
source_block() {
    echo "{ type = \"testcrm\"; name = \"$1\"; base_url = \"$SIM_URL\"; poll_interval = \"$2\";"
    echo '  options = { page_size = 50; }; tables = { include = ["items"]; }; }'
}
header() {
    echo 'log_level = "info";'
    echo "kafka = { bootstrap_servers = \"$BOOTSTRAP\"; topic_prefix = \"$PREFIX\";"
    echo "  state_topic = \"$PREFIX.state\"; delivery = \"exactly-once\"; };"
}
{ header; echo 'sources = ('; source_block a1 1s; echo ','; source_block a2 60s; echo ');'; } >"$WORK/old.cfg"
{ header; echo 'sources = ('; source_block a1 1s; echo ');'; } >"$WORK/new.cfg"
CFGS+=("$WORK/old.cfg") # checked for decodable events at the end (lib.sh)
start_daemon "$WORK/old.cfg"
old=$CRM_PID
wait_for_log 'source=a2 table=items msg="pass done' 60
wait_for_log 'source=a1 table=items msg="pass done' 60
"$CRMSTREAM" run -c "$WORK/new.cfg" >"$WORK/new.log" 2>&1 &
new=$!
CRM_PIDS+=($new)
for _ in $(seq 600); do
    grep -q 'msg="state restored' "$WORK/new.log" && break
    kill -0 "$new" 2>/dev/null || fail "the new instance died: $(tail -n 5 "$WORK/new.log")"
    sleep 0.1
done
fenced_at=$SECONDS
note "the new instance fenced a1"
wait_for_exit "$old" 10
expect_eq "$EXIT_CODE" 4 "exit code of the partly fenced instance"
note "the old instance exited $((SECONDS - fenced_at)) s after the fence"
grep -q "fenced" "$WORK/run.log" || fail "no 'fenced' message in the old instance's log"
kill -0 "$new" || fail "the new instance died: $(tail -n 5 "$WORK/new.log")"
sim_ctl mutate '{"table":"items","op":"update","count":10}' >/dev/null
sleep 3
kill -TERM "$new"
wait_for_exit "$new" 15
expect_eq "$EXIT_CODE" 0 "exit code of the new instance after SIGTERM"
run_once "$WORK/old.cfg"
truth items >"$WORK/truth-items.json"
for s in a1 a2; do
    "$CRMTOOL" compare -c "$WORK/old.cfg" "$s.items" "$WORK/truth-items.json" id >"$WORK/compare-$s.txt" 2>&1 ||
        fail "topic $s.items differs from the simulator: $(head -c 2000 "$WORK/compare-$s.txt")"
    note "$(grep '^compare' "$WORK/compare-$s.txt")"
    expect_eq "$(summary_field "$WORK/old.cfg" "$s.items" duplicates)" 0 "$s duplicates"
done
