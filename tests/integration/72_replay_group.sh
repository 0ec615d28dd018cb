#!/usr/bin/env bash
# Replay (#18), scale-out: two replay processes in one consumer group split the partitions of
# multi-partition topics (3 topics x 4 partitions) into one PostgreSQL. Both replay the first
# sync; then one is frozen (SIGSTOP) while a second sync publishes 24k more events, and killed
# with SIGKILL: the other takes its partitions over (group session timeout, 10 s) from the
# offsets the dead one committed to the database and replays its backlog; the result equals the
# truth. The survivor serves /healthz, /readyz and /metrics like `run`; SIGTERM then commits and
# exits 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/replay_env.sh"
start_pg
start_sim testcrm --seed 72 --param items=20000 --param max_limit=1000
write_cfg "$WORK/cfg" exactly-once 'options = { page_size = 1000; };'
sed -i 's/delivery = "exactly-once";/& topic_partitions = 4;/' "$WORK/cfg"
run_once "$WORK/cfg"
OPS_PORT=$((${KAFKA_PORT:-19392} + 3))
sed "1i metrics = { listen = \"127.0.0.1\"; port = $OPS_PORT; };" "$WORK/cfg" >"$WORK/cfg-b"

start_replay() { # NAME [CONFIG SUFFIX]
    "$CRMSTREAM" replay -c "$WORK/cfg${2:-}" --to "$PG_URL" --batch 500 >"$WORK/replay-$1.log" 2>&1 &
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
# wait_exact SECONDS — until acme_items equals the simulator's truth
wait_exact() {
    for _ in $(seq $(($1 * 5))); do
        truth items >"$WORK/truth-items.json"
        python3 "$ROOT/tests/integration/replay_check.py" "$PG_URL" acme_items "$WORK/truth-items.json" id \
            >/dev/null 2>&1 && return 0
        sleep 0.2
    done
}
start_replay a
pid_a=$!
start_replay b -b
pid_b=$!
wait_assigned a 6 40
wait_assigned b 6 40
note "two members: 6 partitions each"
wait_exact 60
replay_compare "$PG_URL" acme_items items id
offsets_before=$(sql "$PG_URL" "SELECT sum(next_offset) FROM crmstream_offsets WHERE topic = '$PREFIX.acme.items'")

kill -STOP "$pid_a"
sim_ctl mutate '{"table":"items","op":"create","count":20000}' >/dev/null
sim_ctl mutate '{"table":"items","op":"update","count":3000}' >/dev/null
sim_ctl mutate '{"table":"items","op":"delete","count":1000}' >/dev/null
run_once "$WORK/cfg"
compare_table "$WORK/cfg" items
kill -9 "$pid_a"
wait "$pid_a" 2>/dev/null || true
note "a frozen during the second sync, then killed (items offsets before: $offsets_before)"
wait_assigned b 12 40
note "b took over all 12 partitions"
wait_exact 90
replay_compare "$PG_URL" acme_items items id
replay_compare "$PG_URL" acme_users users id

OPS=http://127.0.0.1:$OPS_PORT
curl -fsS "$OPS/healthz" | grep -q '"alive": *true' || fail "/healthz: $(curl -sS "$OPS/healthz")"
curl -fsS "$OPS/readyz" | grep -q '"ready": *true' || fail "/readyz: $(curl -sS "$OPS/readyz")"
curl -fsS "$OPS/metrics" >"$WORK/metrics.txt"
upserted=$(grep '^crmstream_records_published_total{source="acme",table="items"}' "$WORK/metrics.txt" | awk '{print $2}')
deleted=$(grep '^crmstream_records_deleted_total{source="acme",table="items"}' "$WORK/metrics.txt" | awk '{print $2}')
# b alone replayed at least a's share of the second sync (a was frozen for all of it)
[ "${upserted:-0}" -gt 10000 ] && [ "${deleted:-0}" -gt 0 ] ||
    fail "b's /metrics: items upserted=$upserted deleted=$deleted"
note "/healthz, /readyz ok; /metrics: b upserted $upserted and deleted $deleted items rows"
kill -TERM "$pid_b"
wait_for_exit "$pid_b" 20
expect_eq "$EXIT_CODE" 0 "exit code of the surviving replay after SIGTERM"
