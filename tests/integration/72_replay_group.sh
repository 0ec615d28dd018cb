#!/usr/bin/env bash
# Replay (#18), scale-out: two replay processes in one consumer group split the partitions of
# multi-partition topics into one PostgreSQL; one is killed with SIGKILL mid-replay and the other
# takes its partitions over (group session timeout, 10 s) from the offsets the dead one committed
# to the database; the result equals the truth; SIGTERM then commits and exits 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/replay_env.sh"
start_pg
start_sim testcrm --seed 72 --param items=40000 --param max_limit=1000
write_cfg "$WORK/cfg" exactly-once 'options = { page_size = 1000; };'
sed -i 's/delivery = "exactly-once";/& topic_partitions = 4;/' "$WORK/cfg"
run_once "$WORK/cfg"
sim_ctl mutate '{"table":"items","op":"delete","count":500}' >/dev/null
sim_ctl mutate '{"table":"items","op":"update","count":500}' >/dev/null
run_once "$WORK/cfg"
compare_table "$WORK/cfg" items

start_replay() { # NAME
    "$CRMSTREAM" replay -c "$WORK/cfg" --to "$PG_URL" --batch 500 >"$WORK/replay-$1.log" 2>&1 &
    CRM_PIDS+=($!)
}
# last_assigned NAME — how many partitions the member's last assignment gave it
last_assigned() {
    grep -o 'msg="replay: assigned [0-9]* partition' "$WORK/replay-$1.log" | tail -n 1 | grep -o '[0-9]*'
}
wait_assigned() { # NAME N SECONDS
    for _ in $(seq $(($3 * 10))); do
        [ "$(last_assigned "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    fail "replay $1 never had $2 partitions: $(grep assigned "$WORK/replay-$1.log" | tail -n 3)"
}
start_replay a
pid_a=$!
start_replay b
pid_b=$!
# 3 topics x 4 partitions, split 6/6 by the group (both join in the broker's first rebalance delay)
wait_assigned a 6 30
wait_assigned b 6 30
note "two members: 6 partitions each"
sleep 0.8
kill -9 "$pid_a"
wait "$pid_a" 2>/dev/null || true
done_by_a=$(sql "$PG_URL" "SELECT count(*) FROM crmstream_offsets WHERE topic LIKE '$PREFIX.%'")
note "a killed; partitions with stored offsets: $done_by_a"
wait_assigned b 12 40
note "b took over all 12 partitions"
for _ in $(seq 300); do
    truth items >"$WORK/truth-items.json"
    python3 "$ROOT/tests/integration/replay_check.py" "$PG_URL" acme_items "$WORK/truth-items.json" id \
        >/dev/null 2>&1 && break
    sleep 0.2
done
replay_compare "$PG_URL" acme_items items id
replay_compare "$PG_URL" acme_users users id
kill -TERM "$pid_b"
wait_for_exit "$pid_b" 20
expect_eq "$EXIT_CODE" 0 "exit code of the surviving replay after SIGTERM"
