#!/usr/bin/env bash
# many_sources.sh — what one process costs per CRM account (issue #20): N test-CRM sources
# (testcrm, its three tables items/users/events each) in one crmstream process, one `--once`
# pass into a real local broker, exactly-once. Prints the sources, the process's peak thread
# count (sampled from /proc/PID/status every 20 ms), its peak RSS (VmHWM) and the pass's wall time.
# One simulator serves every source: the sources differ by name only (same base URL and token),
# and the simulator's control plane adds LATENCY_MS to every API request.
#   SOURCES="10 50 150"  LATENCY_MS=50  ITEMS=250  DELIVERY=exactly-once  KAFKA_PORT=19894
# (KAFKA_PORT: the port of the broker this bench starts and stops; or BOOTSTRAP=host:port to use
# a running broker.)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOURCES=${SOURCES:-10 50 150}
LATENCY_MS=${LATENCY_MS:-50}
ITEMS=${ITEMS:-250}
DELIVERY=${DELIVERY:-exactly-once}

own_broker=
if [ -z "${BOOTSTRAP:-}" ]; then
    export KAFKA_PORT=${KAFKA_PORT:-19894}
    export KAFKA_DIR=$ROOT/.cache/kafka-run/bench-many-$KAFKA_PORT
    "$ROOT/tests/kafka/broker.sh" stop >/dev/null 2>&1 || true
    rm -rf "$KAFKA_DIR"
    "$ROOT/tests/kafka/broker.sh" start >/dev/null 2>&1
    export BOOTSTRAP=127.0.0.1:$KAFKA_PORT
    own_broker=1
fi
TEST_NAME=bench_many_sources
source "$ROOT/tests/integration/lib.sh"
# no decodability check at the end (the tests do it); the broker goes with the bench
trap 'rc=$?; CFGS=(); [ -z "$own_broker" ] || "$ROOT/tests/kafka/broker.sh" stop >/dev/null 2>&1; (exit $rc); cleanup' EXIT

start_sim testcrm --param items="$ITEMS"
sim_ctl latency "{\"ms\":$LATENCY_MS}" >/dev/null

# many_cfg FILE N — N testcrm sources s0001..sN on the simulator, each with its own topics.
many_cfg() {
    local file=$1 n=$2 i
    {
        echo 'log_level = "info";'
        echo "kafka = { bootstrap_servers = \"$BOOTSTRAP\"; topic_prefix = \"$PREFIX-$n\";"
        echo "  state_topic = \"$PREFIX-$n.state\"; delivery = \"$DELIVERY\";"
        echo '  transaction_timeout = "60s"; };'
        echo 'sources = ('
        for i in $(seq "$n"); do
            [ "$i" = 1 ] || echo ','
            printf '{ type = "testcrm"; name = "s%04d"; base_url = "%s"; poll_interval = "1h"; }' \
                "$i" "$SIM_URL"
        done
        echo ');'
    } >"$file"
}

# measure_pass CFG — runs one --once pass, samples /proc/PID/status until it exits; prints
# "threads rss_kib wall_ms".
measure_pass() {
    local cfg=$1 pid start end peak=0 hwm=0 t h rc=0
    start=$(date +%s%N)
    "$CRMSTREAM" run -c "$cfg" --once >"$WORK/run.log" 2>&1 &
    pid=$!
    while [ -r "/proc/$pid/status" ]; do
        t=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -z "$t" ] || [ "$t" -le "$peak" ] || peak=$t
        [ -z "$h" ] || [ "$h" -le "$hwm" ] || hwm=$h
        sleep 0.02
    done
    wait "$pid" || rc=$?
    end=$(date +%s%N)
    [ "$rc" = 0 ] || fail "crmstream run --once exited $rc: $(tail -n 5 "$WORK/run.log")"
    echo "$peak $hwm $(((end - start) / 1000000))"
}

echo "bench many_sources: testcrm, 3 tables/source, $ITEMS items, latency $LATENCY_MS ms/request, $DELIVERY"
printf '%8s %8s %10s %10s %10s\n' sources threads 'RSS MiB' 'wall s' published
for n in $SOURCES; do
    many_cfg "$WORK/cfg-$n" "$n"
    read -r threads rss wall < <(measure_pass "$WORK/cfg-$n")
    published=$(grep -o 'msg="pass done[^"]*published=[0-9]*' "$WORK/run.log" |
        sed 's/.*published=//' | awk '{s += $1} END {print s + 0}')
    passes=$(grep -c 'msg="pass done' "$WORK/run.log" || true)
    [ "$passes" = $((n * 3)) ] || fail "$n sources: $passes table passes done, expected $((n * 3))"
    awk -v n="$n" -v t="$threads" -v r="$rss" -v w="$wall" -v p="$published" 'BEGIN {
        printf "%8d %8d %10.1f %10.1f %10d\n", n, t, r / 1024, w / 1000, p }'
done
