#!/usr/bin/env bash
# Engine throughput bench: a backfill of N synthetic records (default 1,000,000) from the "bench"
# simulator to a real local broker, exactly-once. Prints the crmstream process's CPU time per
# record (HTTP response bytes -> acknowledged produce, all threads), records per CPU-second, wall
# time, and peak RSS. Goals: <= 2.5 us/record and <= 64 MiB peak RSS.
# CONNECTOR=<one of `crmstream connectors`> runs bench/connector.sh instead: the connectors users
# run, on records of realistic shape.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ -z "${CONNECTOR:-}" ] || exec bench/connector.sh
N=${N:-1000000}
PAGE=${PAGE:-1000}
DELIVERY=${DELIVERY:-exactly-once}
export KAFKA_PORT=${KAFKA_PORT:-19892}
export KAFKA_DIR=$ROOT/.cache/kafka-run/bench
export TESTCRM_TOKEN=bench-token
OUT=$ROOT/bench/out
mkdir -p "$OUT"
gcc -O2 -Wall -Wextra -Werror -o "$OUT/measure" bench/measure.c

tests/kafka/broker.sh stop >/dev/null 2>&1 || true
rm -rf "$KAFKA_DIR"
tests/kafka/broker.sh start >/dev/null
SIM_PID=
trap '[ -n "$SIM_PID" ] && kill $SIM_PID 2>/dev/null; tests/kafka/broker.sh stop >/dev/null 2>&1' EXIT
rm -f "$OUT/sim.port"
build/crmsim --crm bench --port 0 --port-file "$OUT/sim.port" --param items="$N" \
    --param token=bench-token >"$OUT/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 100); do [ -s "$OUT/sim.port" ] && break; sleep 0.05; done
cat >"$OUT/bench.cfg" <<CFG
log_level = "info";
kafka = { bootstrap_servers = "127.0.0.1:$KAFKA_PORT"; topic_prefix = "bench";
          state_topic = "bench.state"; delivery = "$DELIVERY";
          properties = [ ${PROPS:-} ]; ${KAFKA_SETTINGS:-} };
sources = ( { type = "testcrm"; name = "b"; base_url = "http://127.0.0.1:$(cat "$OUT/sim.port")";
              rate_limit = 0; tables = { include = [ "items" ]; };
              options = { page_size = $PAGE; }; } );
CFG
start=$(date +%s%N)
${WRAP:-} "$OUT/measure" ./crmstream run -c "$OUT/bench.cfg" --once 2>"$OUT/run.log"
end=$(date +%s%N)
stats=$(grep '^cpu_s=' "$OUT/run.log")
cpu=$(sed 's/.*cpu_s=\([0-9.]*\).*/\1/' <<<"$stats")
rss=$(sed 's/.*maxrss_kib=\([0-9]*\).*/\1/' <<<"$stats")
grep -q "published=$N " "$OUT/run.log" || { echo "bench: not all $N records were published"; tail "$OUT/run.log"; exit 1; }
awk -v n="$N" -v cpu="$cpu" -v rss="$rss" -v wall="$(((end - start) / 1000000))" -v d="$DELIVERY" 'BEGIN {
    printf "bench engine (%s, %d records): %.2f us CPU/record, %.0f records per CPU-second, wall %.1f s, peak RSS %.1f MiB\n",
        d, n, cpu * 1e6 / n, n / cpu, wall / 1000, rss / 1024 }'
echo "goals: <= 2.5 us/record, <= 64 MiB peak RSS"
