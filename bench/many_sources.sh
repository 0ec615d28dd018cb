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
# STEADY_S=N (default 0: off) then runs the same sources as a daemon for N seconds, polling every
# POLL_S (default 60) from the state the pass left, and prints its peak threads and RSS, and how
# late the scheduled passes started (crmstream_poll_lateness_seconds: passes, p99 from the
# histogram, max; and over sources, each one's last scheduled pass: p99 and max of
# crmstream_source_poll_lateness_seconds), what one /metrics scrape costs (bytes, seconds), and
# how long `crmstream state --summary` takes against it (its first lines are shown).
# Engine settings the bench does not know (e.g. `shards = 8;`) go in SETTINGS, written at the
# config's top level verbatim; SOURCE_SETTINGS is added to every source's group.
#   SOURCES=1000 STEADY_S=240 POLL_S=60 SETTINGS='...' bench/many_sources.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOURCES=${SOURCES:-10 50 150}
LATENCY_MS=${LATENCY_MS:-50}
ITEMS=${ITEMS:-250}
DELIVERY=${DELIVERY:-exactly-once}
STEADY_S=${STEADY_S:-0}
POLL_S=${POLL_S:-60}
SETTINGS=${SETTINGS:-}
SOURCE_SETTINGS=${SOURCE_SETTINGS:-}
OPS_PORT=${OPS_PORT:-$((${KAFKA_PORT:-19894} + 4))}

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

# many_cfg FILE N [POLL] — N testcrm sources s0001..sN on the simulator, each with its own
# topics, polling every POLL (default 1h; given: with the metrics listener on OPS_PORT).
many_cfg() {
    local file=$1 n=$2 poll=${3:-1h} i
    {
        echo 'log_level = "info";'
        [ -z "${3:-}" ] || echo "metrics = { listen = \"127.0.0.1\"; port = $OPS_PORT; };"
        [ -z "$SETTINGS" ] || echo "$SETTINGS"
        echo "kafka = { bootstrap_servers = \"$BOOTSTRAP\"; topic_prefix = \"$PREFIX-$n\";"
        echo "  state_topic = \"$PREFIX-$n.state\"; delivery = \"$DELIVERY\";"
        echo '  transaction_timeout = "60s"; };'
        echo 'sources = ('
        for i in $(seq "$n"); do
            [ "$i" = 1 ] || echo ','
            printf '{ type = "testcrm"; name = "s%04d"; base_url = "%s"; poll_interval = "%s"; %s }' \
                "$i" "$SIM_URL" "$poll" "$SOURCE_SETTINGS"
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

[ "$STEADY_S" -gt 0 ] || exit 0

# thread_split PID — "total workers librdkafka" threads of the process now, by thread name: the
# scheduler's pool (crm-worker, `workers`), librdkafka's (rdk:*, a set per producer) and the rest
# (main, the shutdown watchdog, one Kafka poll thread per producer).
thread_split() {
    cat /proc/"$1"/task/*/comm 2>/dev/null | awk '
        { n++ } /^crm-worker$/ { w++ } /^rdk:/ { k++ }
        END { printf "%d %d %d\n", n, w, k }'
}

# measure_steady CFG SECONDS — the daemon for SECONDS; prints "threads rss_kib"; leaves the last
# /metrics in $WORK/metrics.txt and the scrape's "bytes seconds" in $WORK/scrape.txt.
measure_steady() {
    local cfg=$1 secs=$2 pid peak=0 hwm=0 t h end
    "$CRMSTREAM" run -c "$cfg" >"$WORK/steady.log" 2>&1 &
    pid=$!
    end=$(($(date +%s) + secs))
    while [ "$(date +%s)" -lt "$end" ] && [ -r "/proc/$pid/status" ]; do
        t=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -z "$t" ] || [ "$t" -le "$peak" ] || peak=$t
        [ -z "$h" ] || [ "$h" -le "$hwm" ] || hwm=$h
        sleep 0.2
    done
    [ -r "/proc/$pid/status" ] || fail "crmstream run exited early: $(tail -n 5 "$WORK/steady.log")"
    thread_split "$pid" >"$WORK/threads.txt"
    curl -fsS -o "$WORK/metrics.txt" -w '%{size_download} %{time_total}\n' \
        "http://127.0.0.1:$OPS_PORT/metrics" >"$WORK/scrape.txt" || fail "no /metrics"
    # what an operator runs against it: `state --summary` (state topic + /status), timed
    local t0=$(date +%s%N)
    "$CRMSTREAM" state -c "$cfg" --summary >"$WORK/summary.txt" 2>&1 || fail "state --summary: $(cat "$WORK/summary.txt")"
    echo "$(((($(date +%s%N) - t0)) / 1000000))" >"$WORK/summary_ms.txt"
    kill -TERM "$pid"
    wait "$pid" || fail "crmstream run exited $? after SIGTERM: $(tail -n 5 "$WORK/steady.log")"
    echo "$peak $hwm"
}

# lateness_report — from $WORK/metrics.txt: "passes p99 max sources_p99 sources_max" (seconds;
# p99 interpolated within the histogram's bucket as Prometheus' histogram_quantile does).
lateness_report() {
    local src
    src=$(awk '/^crmstream_source_poll_lateness_seconds\{/ { print $2 }' "$WORK/metrics.txt" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.3f %.3f", v[int((NR - 1) * 0.99) + 1], v[NR]; else print "0 0" }')
    awk -v src="$src" '
        /^crmstream_poll_lateness_seconds_bucket/ {
            le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
            bound[nb] = (le == "+Inf") ? -1 : le + 0; count[nb++] = $2 + 0
        }
        /^crmstream_poll_lateness_max_seconds / { max = $2 }
        END {
            total = count[nb - 1]; p99 = 0
            if (total > 0) {
                rank = 0.99 * total; lo = 0; below = 0
                for (i = 0; i < nb; i++) {
                    if (count[i] >= rank) {
                        if (bound[i] < 0) { p99 = lo; break }
                        p99 = lo + (bound[i] - lo) * (rank - below) / (count[i] - below); break
                    }
                    lo = bound[i]; below = count[i]
                }
            }
            if (p99 > max + 0) p99 = max + 0 # interpolation may overshoot the largest
            printf "%d %.3f %.3f %s\n", total, p99, max + 0, src
        }' "$WORK/metrics.txt"
}

echo
echo "steady state: the daemon for ${STEADY_S}s, poll_interval ${POLL_S}s, from the state the pass left"
printf '%8s %8s %10s %9s %10s %9s %10s %10s %11s %9s\n' sources threads 'RSS MiB' passes \
    'p99 late s' 'max late' 'src p99 s' 'src max s' 'metrics MB' 'scrape s'
for n in $SOURCES; do
    many_cfg "$WORK/steady-$n" "$n" "${POLL_S}s"
    read -r threads rss < <(measure_steady "$WORK/steady-$n" "$STEADY_S")
    read -r passes p99 max sp99 smax < <(lateness_report)
    read -r bytes secs <"$WORK/scrape.txt"
    [ "$passes" -gt 0 ] || fail "$n sources: no scheduled pass in ${STEADY_S}s (POLL_S=$POLL_S)"
    awk -v n="$n" -v t="$threads" -v r="$rss" -v ps="$passes" -v p="$p99" -v m="$max" -v sp="$sp99" \
        -v sm="$smax" -v b="$bytes" -v s="$secs" 'BEGIN {
        printf "%8d %8d %10.1f %9d %10.3f %9.3f %10.3f %10.3f %11.1f %9.3f\n", n, t, r / 1024, ps, p, m, sp, sm, b / 1e6, s }'
    read -r total workers rdk <"$WORK/threads.txt"
    echo "         threads at the end: $total = $workers workers + $rdk librdkafka + $((total - workers - rdk)) other"
    echo "  crmstream state --summary took $(cat "$WORK/summary_ms.txt") ms:"
    sed -n '1,4p' "$WORK/summary.txt" | sed 's/^/    /'
done
