#!/usr/bin/env bash
# The main job on the embedded default: starts a local Kafka broker and the Close, Pipedrive and
# Copper simulators, runs one sync of every table with producer.cfg.example, then prints per
# table what landed and one decoded event, and ends by replaying every topic into SQLite
# (.cache/demo/crm.db) with a query a CRM user would ask. Leaves nothing running.
# Usage: scripts/demo.sh  (or `make demo`)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_DIR=${KAFKA_DIR:-$ROOT/.cache/kafka-run/demo}
export CLOSE_API_KEY=${CLOSE_API_KEY:-demo-close-key}
export PIPEDRIVE_API_TOKEN=${PIPEDRIVE_API_TOKEN:-demo-pipedrive-token}
export COPPER_API_KEY=${COPPER_API_KEY:-demo-copper-key}
WORK=$ROOT/.cache/demo
mkdir -p "$WORK"
SIM_PIDS=()

stop_all() {
    for p in "${SIM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    tests/kafka/broker.sh stop >/dev/null 2>&1 || true
}
trap stop_all EXIT

start_sim() { # NAME PORT ARGS...
    local name=$1 port=$2
    shift 2
    build/crmsim --crm "$name" --port "$port" --seed 42 "$@" >"$WORK/$name.log" 2>&1 &
    SIM_PIDS+=($!)
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$port/_control/health" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "demo: the $name simulator did not start: $(cat "$WORK/$name.log")" >&2
    exit 1
}

echo "== starting Kafka (KRaft, 127.0.0.1:$KAFKA_PORT)"
tests/kafka/broker.sh start >/dev/null
echo "== starting the Close, Pipedrive and Copper simulators (127.0.0.1:18081-18083)"
start_sim close 18081 --param api_key="$CLOSE_API_KEY"
start_sim pipedrive 18082 --param token="$PIPEDRIVE_API_TOKEN"
start_sim copper 18083 --param token="$COPPER_API_KEY" --param email=ops@example.com

sed -e "s#bootstrap_servers = \"127.0.0.1:19092\"#bootstrap_servers = \"127.0.0.1:$KAFKA_PORT\"#" \
    -e 's#state_topic = "crmstream.state"#state_topic = "crmstream.demo.state"#' \
    producer.cfg.example >"$WORK/producer.cfg"

echo "== crmstream check"
./crmstream check -c "$WORK/producer.cfg"
echo "== crmstream run --once (one pass of every table)"
start=$(date +%s)
./crmstream run -c "$WORK/producer.cfg" --once 2>"$WORK/run.log" || {
    echo "demo: the sync failed; log tail:" >&2
    tail -n 20 "$WORK/run.log" >&2
    exit 1
}
echo "   done in $(($(date +%s) - start)) s ($(grep -c 'pass done' "$WORK/run.log") table passes; log: $WORK/run.log)"
echo "== what landed (events per table, read back and decoded with read_committed)"
printf '%-42s %8s %6s %6s %6s %s\n' TABLE EVENTS KEYS DELETES TOMBST TOPIC
./crmstream tables -c "$WORK/producer.cfg" | awk 'NF == 7 && $7 == "crm." $1 "." $2 {print $1 "." $2, $7}' |
    while read -r spec topic; do
        s=$(build/crmtool summary -c "$WORK/producer.cfg" "$spec" | sed 's/,"latest":.*//')
        num() {
            local v
            v=$(grep -o "\"$1\":[0-9]*" <<<"$s" | head -n 1 | cut -d: -f2 || true)
            echo "${v:-0}"
        }
        printf '%-42s %8s %6s %6s %6s %s\n' "$spec" "$(num messages)" "$(num keys)" \
            "$(num d)" "$(num tombstones)" "$topic"
    done
echo "== bookmarks in the state topic"
./crmstream state -c "$WORK/producer.cfg" | head -n 12
echo "   ..."
echo "== one decoded event (close.leads)"
./crmstream peek -c "$WORK/producer.cfg" close.leads 1
echo "== crmstream replay into SQLite ($WORK/crm.db)"
rm -f "$WORK/crm.db" "$WORK/crm.db-wal" "$WORK/crm.db-shm"
./crmstream replay -c "$WORK/producer.cfg" --to "sqlite:$WORK/crm.db" --once \
    --group "crmstream-demo-replay-$$" 2>"$WORK/replay.log" || {
    echo "demo: the replay failed; log tail:" >&2
    tail -n 20 "$WORK/replay.log" >&2
    exit 1
}
grep -o 'replay: [0-9]* rows into [^ ]* ([0-9]* rows/s now, [0-9]* rows/s overall)' "$WORK/replay.log" | tail -n 1 | sed 's/^/   /'
echo "   $(sqlite3 "$WORK/crm.db" "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name != 'crmstream_offsets'") tables"
cf=$(sqlite3 "$WORK/crm.db" "SELECT name FROM pragma_table_info('close_opportunities') WHERE name LIKE 'custom!_%' ESCAPE '!' AND name != 'custom__invalid' ORDER BY cid LIMIT 1")
query="SELECT lead_name, count(*) AS open_opportunities, printf('%.2f', sum(value) / 100.0) AS open_value,
       group_concat(DISTINCT ${cf:-status_label}) AS ${cf:-status_label}
  FROM close_opportunities WHERE status_type = 'active'
 GROUP BY lead_name ORDER BY sum(value) DESC LIMIT 5;"
echo "== which leads have the most open pipeline? (sqlite3 $WORK/crm.db)"
echo "$query" | sed 's/^/   /'
sqlite3 -header -column "$WORK/crm.db" "$query"
