#!/usr/bin/env bash
# The main job on the embedded default: starts a local Kafka broker and the Close, Pipedrive and
# Copper simulators, runs `crmstream check` and one sync of every table with
# producer.cfg.example, then prints per table what landed (and why a table landed nothing), the
# bookmarks, one decoded event, and renders the Grafana dashboard's queries as a PNG from a
# throwaway Prometheus that scraped the run. Leaves nothing running (unless --keep).
# Usage: scripts/demo.sh [--keep]   (or `make demo`)
#   --keep   leave the broker and simulators running, so the README's "Running it" commands work
#            as written; `scripts/demo.sh --stop` stops them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_DIR=${KAFKA_DIR:-$ROOT/.cache/kafka-run/demo}
export CLOSE_API_KEY=${CLOSE_API_KEY:-demo-close-key}
export PIPEDRIVE_API_TOKEN=${PIPEDRIVE_API_TOKEN:-demo-pipedrive-token}
export COPPER_API_KEY=${COPPER_API_KEY:-demo-copper-key}
METRICS_PORT=${METRICS_PORT:-19400}
PROM_PORT=${PROM_PORT:-19490}
WORK=$ROOT/.cache/demo
mkdir -p "$WORK"
KEEP=0
case "${1:-}" in
--keep) KEEP=1 ;;
--stop)
    [ -f "$WORK/sim.pids" ] && kill $(cat "$WORK/sim.pids") 2>/dev/null || true
    rm -f "$WORK/sim.pids"
    tests/kafka/broker.sh stop >/dev/null 2>&1 || true
    echo "demo: stopped"
    exit 0
    ;;
"") ;;
*) echo "usage: $0 [--keep | --stop]" >&2; exit 2 ;;
esac
SIM_PIDS=()

stop_all() {
    scripts/prometheus.sh stop "$WORK/prom" >/dev/null 2>&1 || true
    if [ "$KEEP" = 1 ]; then
        echo "${SIM_PIDS[*]}" >"$WORK/sim.pids"
        return
    fi
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

echo "== building (make; output in $WORK/build.log)"
make -j2 all >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log" >&2
    exit 1
}
echo "== starting Kafka (KRaft, 127.0.0.1:$KAFKA_PORT)"
tests/kafka/broker.sh start >/dev/null
echo "== starting the Close, Pipedrive and Copper simulators (127.0.0.1:18081-18083)"
start_sim close 18081 --param api_key="$CLOSE_API_KEY"
start_sim pipedrive 18082 --param token="$PIPEDRIVE_API_TOKEN"
start_sim copper 18083 --param token="$COPPER_API_KEY" --param email=ops@example.com

{
    echo "metrics = { listen = \"127.0.0.1\"; port = $METRICS_PORT; };"
    sed -e "s#bootstrap_servers = \"127.0.0.1:19092\"#bootstrap_servers = \"127.0.0.1:$KAFKA_PORT\"#" \
        -e 's#state_topic = "crmstream.state"#state_topic = "crmstream.demo.state"#' \
        producer.cfg.example
} >"$WORK/producer.cfg"
CFG=$WORK/producer.cfg

echo "== crmstream check"
./crmstream check -c "$CFG"
PROM=0
PY=/usr/bin/python3 # Debian's, which python3-matplotlib serves (not a python3 earlier in PATH)
[ -x "$PY" ] || PY=python3
if command -v prometheus >/dev/null && "$PY" -c 'import matplotlib' 2>/dev/null &&
    scripts/prometheus.sh start "$WORK/prom" "$PROM_PORT" "127.0.0.1:$METRICS_PORT" 1s; then
    PROM=1
fi
n_tables=$(./crmstream tables -c "$CFG" | grep -c " crm\.")
echo "== crmstream run --once (one pass of each of the $n_tables tables, sources in parallel)"
start=$(date +%s)
./crmstream run -c "$CFG" --once 2>"$WORK/run.log" || {
    echo "demo: the sync failed; log tail:" >&2
    tail -n 20 "$WORK/run.log" >&2
    exit 1
}
end=$(date +%s)
done_passes=$(grep -c 'msg="pass done' "$WORK/run.log" || true)
unavailable=$(grep -c 'msg="table unavailable' "$WORK/run.log" || true)
failed=$(grep -c 'msg="pass failed' "$WORK/run.log" || true)
echo "   done in $((end - start)) s: of $n_tables tables, $done_passes completed their pass," \
    "$unavailable unavailable to the demo accounts (plan-gated, skipped), $failed failed" \
    "(log: $WORK/run.log)"

echo "== what landed (events per table, read back and decoded with read_committed)"
printf '%-42s %7s %6s %7s %6s  %s\n' SOURCE.TABLE EVENTS KEYS DELETES TOMBST "WHY NOTHING"
./crmstream tables -c "$CFG" | awk '$NF == "crm." $1 "." $2 {print $1, $2}' |
    while read -r src table; do
        s=$(build/crmtool summary -c "$CFG" "$src.$table" | sed 's/,"latest":.*//')
        num() {
            local v
            v=$(grep -o "\"$1\":[0-9]*" <<<"$s" | head -n 1 | cut -d: -f2 || true)
            echo "${v:-0}"
        }
        why=""
        if [ "$(num messages)" = 0 ]; then
            line=$(grep "source=$src table=$table msg=" "$WORK/run.log" | grep -E 'unavailable|failed' | head -n 1 || true)
            if [ -n "$line" ]; then
                # "... skipped: HTTP 402 from GET url: {"error":"..."}" -> "HTTP 402: ..."
                why=$(sed -E 's/.*msg="//; s/"$//; s/\\"/"/g; s/table unavailable to these credentials, skipped: /unavailable, /;
                    s/ from (GET|POST) [^ ]*:/:/; s/\{"error":"([^"]*)"\}/\1/' <<<"$line" | cut -c1-90)
            else
                why="the CRM has no records"
            fi
        fi
        printf '%-42s %7s %6s %7s %6s  %s\n' "$src.$table" "$(num messages)" "$(num keys)" \
            "$(num d)" "$(num tombstones)" "$why"
    done

echo "== bookmarks in the state topic (sorted; tables with a bookmark)"
./crmstream state -c "$CFG" >"$WORK/state.txt"
awk 'NR == 1 || $2 != "-"' "$WORK/state.txt" | grep -v '^(' || true
echo "   ($(awk 'NR > 1 && $2 == "-"' "$WORK/state.txt" | grep -vc '^(' || true) full-table reads without a bookmark left out;" \
    "all: ./crmstream state -c $CFG)"

echo "== one decoded event (close.leads, the first fields of its after image)"
./crmstream peek -c "$CFG" close.leads 1 | jq -c '{key, op: .value.op,
    source: (.value.source | {connector, account, table, replication_value}),
    after: (.value.after | to_entries | .[:5] | from_entries),
    more_fields: ((.value.after | length) - 5)}'

if [ "$PROM" = 1 ]; then
    echo "== the dashboard's queries over the run (deploy/grafana/crmstream.json on Prometheus)"
    "$PY" scripts/dashboard_png.py --prometheus "http://127.0.0.1:$PROM_PORT" --rate-interval 5s \
        --start "$start" --end "$(($(date +%s) + 1))" --out "$WORK/dashboard.png" | sed 's/^/   /'
else
    echo "== (no dashboard picture: make deps installs prometheus and python3-matplotlib)"
fi
if [ "$KEEP" = 1 ]; then
    echo "== kept running: Kafka 127.0.0.1:$KAFKA_PORT, simulators 127.0.0.1:18081-18083;" \
        "scripts/demo.sh --stop stops them"
fi
