#!/usr/bin/env bash
# The main job on the embedded default: starts a local Kafka broker and the test CRM simulator,
# runs one sync of every table, then prints per table what landed and one decoded event.
# Leaves nothing running. Usage: scripts/demo.sh  (or `make demo`)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_DIR=${KAFKA_DIR:-$ROOT/.cache/kafka-run/demo}
export TESTCRM_TOKEN=${TESTCRM_TOKEN:-demo-token}
WORK=$ROOT/.cache/demo
mkdir -p "$WORK"
SIM_PID=

stop_all() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
    tests/kafka/broker.sh stop >/dev/null 2>&1 || true
}
trap stop_all EXIT

echo "== starting Kafka (KRaft, 127.0.0.1:$KAFKA_PORT)"
tests/kafka/broker.sh start
echo "== starting the test CRM simulator"
rm -f "$WORK/sim.port"
build/crmsim --crm testcrm --port 0 --port-file "$WORK/sim.port" --seed 42 \
    --param token="$TESTCRM_TOKEN" --param items=500 --param users=25 >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 100); do [ -s "$WORK/sim.port" ] && break; sleep 0.05; done
SIM_URL=http://127.0.0.1:$(cat "$WORK/sim.port")

sed -e "s#bootstrap_servers = \"127.0.0.1:19092\"#bootstrap_servers = \"127.0.0.1:$KAFKA_PORT\"#" \
    -e "s#base_url = \"http://127.0.0.1:18080\"#base_url = \"$SIM_URL\"#" \
    -e 's#state_topic = "crmstream.state"#state_topic = "crmstream.demo.state"#' \
    producer.cfg.example >"$WORK/producer.cfg"

echo "== crmstream check"
./crmstream check -c "$WORK/producer.cfg"
echo "== crmstream run --once"
./crmstream run -c "$WORK/producer.cfg" --once 2>&1 | grep -E "pass done|summary|error" || true
echo "== what landed"
./crmstream state -c "$WORK/producer.cfg"
for table in items users events; do
    build/crmtool summary -c "$WORK/producer.cfg" "$table" |
        sed -e 's/,"latest":.*//' -e "s/^{/$table: {/"
done
echo "== one decoded event (crm.demo.items)"
./crmstream peek -c "$WORK/producer.cfg" items 1
