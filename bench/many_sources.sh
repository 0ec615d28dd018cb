#!/usr/bin/env bash
# many_sources.sh — what one process costs per CRM account (issue #20): N test-CRM sources
# (testcrm, its three tables items/users/events each) in one crmstream process on the shared
# worker pool (`workers`), into a real local broker, exactly-once. Two runs per N:
#   1. one `--once` pass (the backfill): peak thread count and peak RSS (VmHWM), sampled from
#      /proc/PID/status every 20 ms, and the pass's wall time;
#   2. the daemon for RUN_S seconds polling every POLL (state restored from run 1, so its passes
#      are incremental): threads at the end, split by name into the worker pool (crm-worker),
#      librdkafka's (rdk:*, one set per producer) and the rest; peak RSS; how many sources had
#      every table polled at least twice; and the poll lateness (how long after its due time a
#      pass started: late_ms of the pass lines) over the passes after each table's first (the
#      first is due at start, so it measures the start-up queue instead: its max is printed too).
# One simulator serves every source: the sources differ by name only (same base URL and token),
# and the simulator's control plane adds LATENCY_MS to every API request.
#   SOURCES="10 50 150"  LATENCY_MS=50  ITEMS=250  DELIVERY=exactly-once  WORKERS=8  POLL=30
#   RUN_S=100 (0: no daemon run)  KAFKA_PORT=19894
# (KAFKA_PORT: the port of the broker this bench starts and stops; or BOOTSTRAP=host:port to use
# a running broker.)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOURCES=${SOURCES:-10 50 150}
LATENCY_MS=${LATENCY_MS:-50}
ITEMS=${ITEMS:-250}
DELIVERY=${DELIVERY:-exactly-once}
WORKERS=${WORKERS:-8}
POLL=${POLL:-30}
RUN_S=${RUN_S:-100}

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
        echo "workers = $WORKERS;"
        echo "kafka = { bootstrap_servers = \"$BOOTSTRAP\"; topic_prefix = \"$PREFIX-$n\";"
        echo "  state_topic = \"$PREFIX-$n.state\"; delivery = \"$DELIVERY\";"
        echo '  transaction_timeout = "60s"; };'
        echo 'sources = ('
        for i in $(seq "$n"); do
            [ "$i" = 1 ] || echo ','
            printf '{ type = "testcrm"; name = "s%04d"; base_url = "%s"; poll_interval = "%ss"; }' \
                "$i" "$SIM_URL" "$POLL"
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

# thread_split PID — "total workers librdkafka" threads of the process, by thread name.
thread_split() {
    cat /proc/"$1"/task/*/comm 2>/dev/null | awk '
        { n++ } /^crm-worker$/ { w++ } /^rdk:/ { k++ }
        END { printf "%d %d %d\n", n, w, k }'
}

# measure_daemon CFG — the daemon for RUN_S seconds, then SIGTERM; samples peak RSS; prints
# "threads workers rdk_threads rss_kib" (threads at the end).
measure_daemon() {
    local cfg=$1 pid end h hwm=0 split=
    "$CRMSTREAM" run -c "$cfg" >"$WORK/daemon.log" 2>&1 &
    pid=$!
    end=$((SECONDS + RUN_S))
    while [ "$SECONDS" -lt "$end" ] && [ -r "/proc/$pid/status" ]; do
        h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -z "$h" ] || [ "$h" -le "$hwm" ] || hwm=$h
        sleep 0.5
    done
    [ -r "/proc/$pid/status" ] || fail "crmstream run exited early: $(tail -n 5 "$WORK/daemon.log")"
    split=$(thread_split "$pid")
    kill -TERM "$pid"
    wait "$pid" || fail "crmstream run exited $? after SIGTERM: $(tail -n 5 "$WORK/daemon.log")"
    echo "$split $hwm"
}

# lateness — from the daemon's pass lines: "polled first_max p50 p99 max" (ms; polled: sources
# whose three tables each passed at least twice).
lateness() {
    grep -o 'source=s[0-9]* table=[a-z]* msg="pass done[^"]*late_ms=[0-9]*' "$WORK/daemon.log" |
        sed 's/source=\([^ ]*\) table=\([^ ]*\) .*late_ms=/\1 \2 /' >"$WORK/late.txt"
    awk '{ k = $1 " " $2; if (++seen[k] > 1) print $3 }' "$WORK/late.txt" | sort -n >"$WORK/later.txt"
    local polled first
    polled=$(awk '{ k = $1 " " $2; if (++seen[k] == 2) twice[$1]++ }
        END { for (s in twice) if (twice[s] == 3) n++; print n + 0 }' "$WORK/late.txt")
    first=$(awk '{ k = $1 " " $2; if (++seen[k] == 1 && $3 > m) m = $3 } END { print m + 0 }' "$WORK/late.txt")
    awk -v p="$polled" -v f="$first" '{ v[NR] = $1 }
        END { q = int(NR * 0.99) + 1; if (q > NR) q = NR
              if (NR) printf "%d %d %d %d %d\n", p, f, v[int(NR * 0.5) + 1], v[q], v[NR]
              else printf "%d %d -1 -1 -1\n", p, f }' "$WORK/later.txt"
}

echo "bench many_sources: testcrm, 3 tables/source, $ITEMS items, latency $LATENCY_MS ms/request, $DELIVERY, workers $WORKERS"
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
    [ "$RUN_S" -gt 0 ] || continue
    read -r total workers rdk rss < <(measure_daemon "$WORK/cfg-$n")
    read -r polled first p50 p99 max < <(lateness)
    echo "  daemon ${RUN_S}s, poll ${POLL}s: threads $total (workers $workers, librdkafka $rdk," \
        "other $((total - workers - rdk))), peak RSS $(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1024 }') MiB;" \
        "sources polled twice+ $polled/$n; lateness ms: first pass max $first," \
        "later passes p50 $p50 p99 $p99 max $max"
done
