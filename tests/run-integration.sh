#!/usr/bin/env bash
# Runs every tests/integration/[0-9]*.sh against a real Kafka broker (tests/kafka/broker.sh),
# then prints "integration: N passed, N failed". TESTS="name1 name2" runs a subset.
#
# JOBS=N (default 1) runs the tests in N lanes at once, each lane with its own broker on its own
# ports: lane i uses KAFKA_PORT + i*LANE_PORT_STEP (default 10) and the ports a test derives from
# it (KAFKA_PORT+1 .. +9, see tests/integration/lib.sh), its own KAFKA_DIR, its own simulators
# (ephemeral ports). Most tests wait rather than compute, so two lanes on two cores take about
# half the time. Lanes get the longest tests first, each to the lane with the least work so far
# (durations of the previous run, kept in tests/integration/out/durations; without one, the
# estimates below). A lane prints each test's output only when it ends, with
# its "ok"/"FAIL" line, so lanes do not interleave within a test.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE_PORT=${KAFKA_PORT:-19392}
JOBS=${JOBS:-1}
LANE_PORT_STEP=${LANE_PORT_STEP:-10}
BROKER=$ROOT/tests/kafka/broker.sh
OUT=$ROOT/tests/integration/out
DURATIONS=$OUT/durations
# Without a previous run's durations: the long ones, in seconds (JOBS=2 on a loaded 2-core
# machine); any other test counts 20 s.
KNOWN_LONG="57_readme_running_it 400 11_java_interop 130 28_close_deletes 100 20_close_backfill 80
50_long_broker_outage 80 34_pipedrive_concurrent_change 70 29_close_every_event_decodable 60
46_copper_concurrent_change 60 36_pipedrive_delete_defaults 50"

selected_tests() {
    local t name
    for t in "$ROOT"/tests/integration/[0-9]*.sh; do
        name=$(basename "$t" .sh)
        if [ -n "${TESTS:-}" ] && [[ " $(echo $TESTS) " != *" $name "* ]]; then continue; fi
        echo "$name"
    done
}

# Expected seconds of test $1: the previous run's, else a guess.
expected_seconds() {
    local s
    s=$(awk -v n="$1" '$1 == n { print $2 }' "$DURATIONS" 2>/dev/null | tail -n 1)
    [ -n "$s" ] || s=$(echo $KNOWN_LONG | tr ' ' '\n' | awk -v n="$1" 'prev == n { print; exit } { prev = $0 }')
    echo "${s:-20}"
}

# Prints "lane name" lines: longest first, each to the least loaded lane.
assign_lanes() {
    local jobs=$1 name secs i best
    shift
    local load=()
    for ((i = 0; i < jobs; i++)); do load[i]=0; done
    for name in "$@"; do echo "$(expected_seconds "$name") $name"; done | sort -k1,1nr -k2 |
        while read -r secs name; do
            best=0
            for ((i = 1; i < jobs; i++)); do [ "${load[i]}" -lt "${load[best]}" ] && best=$i; done
            load[best]=$((load[best] + secs + 1))
            echo "$best $name"
        done
}

# A fresh broker for this lane. A second try when the first fails: once in CI a broker died
# mid-startup with nothing in its logs (broker.sh now says how it ended), and two tests failed
# for want of a broker, not for anything they test.
start_lane_broker() {
    local try
    for try in 1 2; do
        "$BROKER" stop >/dev/null 2>&1 || true
        rm -rf "$KAFKA_DIR"
        "$BROKER" start >/dev/null && return 0
        echo "broker on port $KAFKA_PORT did not start (try $try of 2)" >&2
    done
    return 1
}

# Runs tests $2.. on a fresh broker at port $1, in order. Each result goes to $RESULTS as
# "ok|FAIL name seconds". With BUFFER=1 a test's output is held until it ends.
run_lane() {
    local port=$1 name start rc log secs
    shift
    export KAFKA_PORT=$port
    export KAFKA_DIR=$ROOT/.cache/kafka-run/itest-$port
    export BOOTSTRAP=127.0.0.1:$port
    if ! start_lane_broker; then
        for name in "$@"; do
            echo "FAIL $name (broker on port $port did not start)"
            echo "FAIL $name 0" >>"$RESULTS"
        done
        return
    fi
    for name in "$@"; do
        start=$(date +%s)
        if [ "$BUFFER" = 1 ]; then
            log=$OUT/.lane-$port.log
            bash "$ROOT/tests/integration/$name.sh" >"$log" 2>&1
            rc=$?
        else
            bash "$ROOT/tests/integration/$name.sh"
            rc=$?
        fi
        secs=$(($(date +%s) - start))
        {
            flock 9
            [ "$BUFFER" = 1 ] && cat "$log"
            if [ "$rc" = 0 ]; then echo "ok   $name (${secs}s)"; else echo "FAIL $name (${secs}s)"; fi
            echo "$([ "$rc" = 0 ] && echo ok || echo FAIL) $name $secs" >>"$RESULTS"
        } 9>>"$OUT/.print.lock"
    done
    "$BROKER" stop >/dev/null 2>&1
}

# Keeps the durations of this run, and the previous ones of tests it did not run.
save_durations() {
    local tmp=$DURATIONS.tmp.$$
    {
        awk '{ print $2, $3 }' "$RESULTS"
        if [ -f "$DURATIONS" ]; then
            awk 'NR == FNR { ran[$2] = 1; next } !($1 in ran)' "$RESULTS" "$DURATIONS"
        fi
    } | sort >"$tmp" && mv "$tmp" "$DURATIONS"
}

mkdir -p "$OUT"
mapfile -t names < <(selected_tests)
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
[ "$JOBS" -le "${#names[@]}" ] || JOBS=${#names[@]}
[ "$JOBS" -ge 1 ] || JOBS=1
RESULTS=$OUT/.results.$$
: >"$RESULTS"
pids=()
stop_lanes() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait
    for ((i = 0; i < JOBS; i++)); do
        KAFKA_PORT=$((BASE_PORT + i * LANE_PORT_STEP)) KAFKA_DIR=$ROOT/.cache/kafka-run/itest-$((BASE_PORT + i * LANE_PORT_STEP)) \
            "$BROKER" stop >/dev/null 2>&1
    done
    rm -f "$RESULTS"
}
trap stop_lanes EXIT
trap 'exit 130' INT TERM

if [ "$JOBS" = 1 ]; then
    BUFFER=0 run_lane "$BASE_PORT" "${names[@]}"
else
    declare -A lane_of
    while read -r lane name; do lane_of[$name]=$lane; done < <(assign_lanes "$JOBS" "${names[@]}")
    for ((i = 0; i < JOBS; i++)); do
        mine=()
        for name in "${names[@]}"; do [ "${lane_of[$name]}" = "$i" ] && mine+=("$name"); done
        BUFFER=1 run_lane $((BASE_PORT + i * LANE_PORT_STEP)) "${mine[@]}" &
        pids+=($!)
    done
    wait "${pids[@]}"
    pids=()
fi

pass=$(grep -c '^ok ' "$RESULTS")
fail=$(grep -c '^FAIL ' "$RESULTS")
failed=$(awk '$1 == "FAIL" { printf "%s%s", sep, $2; sep = " " }' "$RESULTS")
save_durations
[ -z "$failed" ] || echo "failed: $failed"
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$((pass + fail))" -eq "${#names[@]}" ]
