# lib.sh — helpers for integration tests: simulators, configs, runs and checks against the
# real broker started by tests/run-integration.sh (BOOTSTRAP is exported by it).
# Each test gets its own topic prefix and state topic, so tests never see each other's data.
# Ports: simulators take ephemeral ones (--port 0). A test that needs a fixed port derives it
# from KAFKA_PORT within KAFKA_PORT+2 .. +9 (the broker has +0, its controller +1), because
# tests/run-integration.sh with JOBS=N runs lanes 10 ports apart at once. Taken: +2 PostgreSQL
# (replay_env.sh), +3 test 72, +4 test 84, +5/+6 test 10's late broker, +7 test 54 (nothing listens), +8/+9
# test 56.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
CRMSTREAM=${CRMSTREAM:-$ROOT/$BUILD/crmstream}
CRMSIM=$ROOT/$BUILD/crmsim
CRMTOOL=$ROOT/$BUILD/crmtool
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
WORK=$ROOT/tests/integration/out/$TEST_NAME
rm -rf "$WORK"
mkdir -p "$WORK"
PREFIX="t$(date +%s%N | tail -c 7)_${TEST_NAME//[^a-zA-Z0-9]/_}"
export TESTCRM_TOKEN=test-token
SIM_PIDS=()
CRM_PIDS=()

fail() {
    echo "FAIL [$TEST_NAME]: $*" >&2
    exit 1
}

note() {
    echo "  [$TEST_NAME] $*"
}

CFGS=()       # every config write_cfg wrote: their topics are checked at the end
AFTER_CHECK=() # commands a test needs run at exit after that check (e.g. stopping its own broker)

cleanup() {
    local status=$? hook
    # while the simulators (a registry among them) and the test's brokers still run
    if [ "$status" = 0 ] && ! (check_decodable); then status=1; fi
    for hook in "${AFTER_CHECK[@]}"; do eval "$hook" || true; done
    for p in "${CRM_PIDS[@]}" "${SIM_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    exit "$status"
}
trap cleanup EXIT

# check_decodable — every event of every table topic the test produced resolves its writer
# schema the way a consumer does (schemas topic or registry) and decodes; the test fails
# otherwise. Runs at the end of every passing test.
check_decodable() {
    local cfg seen=" " out rc
    for cfg in "${CFGS[@]}"; do
        [ -f "$cfg" ] || continue
        case "$seen" in *" $cfg "*) continue ;; esac
        seen="$seen$cfg "
        out=$("$CRMTOOL" decodable -c "$cfg" 2>&1) && rc=0 || rc=$?
        if [ "$rc" = 3 ]; then
            continue # a config that does not load (a config-error test) produced nothing
        elif [ "$rc" != 0 ]; then
            echo "FAIL [$TEST_NAME]: events a consumer cannot decode ($cfg):
$out" >&2
            exit 1
        fi
        note "$(echo "$out" | tail -n 1)"
    done
}

# start_sim NAME [crmsim args...] — starts a simulator; sets SIM_URL.
start_sim() {
    local name=$1
    shift
    rm -f "$WORK/sim.port"
    "$CRMSIM" --crm "$name" --port 0 --port-file "$WORK/sim.port" "$@" >"$WORK/sim.log" 2>&1 &
    SIM_PIDS+=($!)
    for _ in $(seq "${SIM_WAIT_STEPS:-100}"); do # 50 ms each
        [ -s "$WORK/sim.port" ] && break
        sleep 0.05
    done
    [ -s "$WORK/sim.port" ] || fail "simulator did not start: $(cat "$WORK/sim.log")"
    SIM_URL="http://127.0.0.1:$(cat "$WORK/sim.port")"
}

# sim_ctl ACTION JSON — POST /_control/ACTION.
sim_ctl() {
    curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$SIM_URL/_control/$1"
}

# truth TABLE > FILE — the simulator's current records of TABLE.
truth() {
    sim_ctl truth "{\"table\":\"$1\"}"
}

# write_cfg FILE DELIVERY [extra source settings...] — a config with one source of type
# $SOURCE_TYPE (default testcrm) pointing at the simulator started last.
write_cfg() {
    local file=$1 delivery=$2
    shift 2
    CFGS+=("$file")
    {
        echo "log_level = \"${LOG_LEVEL:-info}\";"
        echo "kafka = { bootstrap_servers = \"$BOOTSTRAP\"; topic_prefix = \"$PREFIX\";"
        echo "  state_topic = \"$PREFIX.state\"; delivery = \"$delivery\";"
        echo "  transaction_timeout = \"20s\"; };"
        echo "sources = ( { type = \"${SOURCE_TYPE:-testcrm}\"; name = \"${SOURCE_NAME:-acme}\";"
        echo "  base_url = \"$SIM_URL\"; poll_interval = \"${POLL:-1s}\";"
        for extra in "$@"; do echo "  $extra"; done
        echo "} );"
    } >"$file"
}

# write_sources_cfg FILE DELIVERY SHARDS NAME... — a config with one testcrm source per NAME on
# the simulator started last (items and users, pages of 20, polled hourly) and kafka.shards =
# SHARDS; COMMIT_MAX_EVENTS (default 8000) pages' events share a commit.
write_sources_cfg() {
    local file=$1 delivery=$2 shards=$3 sep='' s
    shift 3
    CFGS+=("$file")
    {
        echo "log_level = \"${LOG_LEVEL:-info}\";"
        echo "kafka = { bootstrap_servers = \"$BOOTSTRAP\"; topic_prefix = \"$PREFIX\";"
        echo "  state_topic = \"$PREFIX.state\"; delivery = \"$delivery\"; transaction_timeout = \"20s\";"
        echo "  commit_max_events = ${COMMIT_MAX_EVENTS:-8000}; shards = $shards; };"
        echo 'sources = ('
        for s in "$@"; do
            echo "$sep{ type = \"testcrm\"; name = \"$s\"; base_url = \"$SIM_URL\"; poll_interval = \"1h\";"
            echo '  options = { page_size = 20; }; tables = { include = ["items", "users"]; }; }'
            sep=','
        done
        echo ');'
    } >"$file"
}

# run_once CFG [expected exit code] — one pass of every table.
run_once() {
    local cfg=$1 want=${2:-0} rc=0
    "$CRMSTREAM" run -c "$cfg" --once >>"$WORK/run.log" 2>&1 || rc=$?
    [ "$rc" = "$want" ] || fail "crmstream run --once exited $rc, expected $want; log tail:
$(tail -n 20 "$WORK/run.log")"
}

# run_scraped CFG — one pass of every table, like run_once, but as a daemon with the /metrics
# listener, so that a test asserts on counters instead of log wording: waits until every
# table's crmstream_last_success_timestamp_seconds is set (its pass completed), saves /metrics in
# $WORK/metrics.txt, then stops it with SIGTERM (exit 0). Write the config with POLL=1h so that
# no second pass starts before the scrape.
run_scraped() {
    local cfg=$1 port=$((20000 + RANDOM % 20000)) done=0
    grep -q '^metrics = ' "$cfg" || sed -i "1i metrics = { listen = \"127.0.0.1\"; port = $port; };" "$cfg"
    port=$(grep -o '^metrics = .*port = [0-9]*' "$cfg" | grep -o '[0-9]*$')
    start_daemon "$cfg"
    for _ in $(seq 1200); do
        if curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt" 2>/dev/null &&
            grep -q '^crmstream_last_success_timestamp_seconds{' "$WORK/metrics.txt" &&
            ! grep -q '^crmstream_last_success_timestamp_seconds{.*} 0.000$' "$WORK/metrics.txt"; then
            done=1
            break
        fi
        kill -0 "$CRM_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ "$done" = 1 ] || fail "not every table completed a pass within 120 s; log tail:
$(tail -n 20 "$WORK/run.log")"
    curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt" || fail "no /metrics at the end"
    kill -TERM "$CRM_PID"
    wait_for_exit "$CRM_PID" 30
    [ "$EXIT_CODE" = 0 ] || fail "crmstream exited $EXIT_CODE after SIGTERM"
}

# metric_sum NAME LABELS [ALSO] — the value of one series of the last run_scraped: LABELS is the
# start of its label list as rendered ("source=\"acme\",table=\"items\""), ALSO a label that
# must follow (status=\"502\"); a sum over the series that match (e.g. every table of a source
# when LABELS names only the source), 0 when none does.
metric_sum() {
    awk -v want="$1{$2" -v also="${3:-}" '
        index($0, want) == 1 && index($0, also) > 0 { s += $2; n++ }
        END { if (n) printf "%d\n", s + 0.5; else print 0 }' "$WORK/metrics.txt"
}

# state_cell CFG SOURCE/TABLE COLUMN — one cell of `crmstream state` (the committed state):
# 2 BOOKMARK, 3 PASSES, 4 KEYS, 5 IN PROGRESS; "absent" when the table has no state.
state_cell() {
    "$CRMSTREAM" state -c "$1" >"$WORK/state.txt" 2>&1 || fail "crmstream state: $(cat "$WORK/state.txt")"
    awk -v t="$2" -v c="$3" '$1 == t { v = $c; n++ } END { print n ? v : "absent" }' "$WORK/state.txt"
}

# start_daemon CFG — crmstream run in the background; sets CRM_PID.
start_daemon() {
    "$CRMSTREAM" run -c "$1" >>"$WORK/run.log" 2>&1 &
    CRM_PID=$!
    CRM_PIDS+=($CRM_PID)
}

# compare_table CFG TABLE [PK] — the topic's latest images equal the simulator's truth.
compare_table() {
    local cfg=$1 table=$2 pk=${3:-id}
    truth "$table" >"$WORK/truth-$table.json"
    "$CRMTOOL" compare -c "$cfg" "$table" "$WORK/truth-$table.json" "$pk" >"$WORK/compare-$table.txt" 2>&1 ||
        fail "topic $table differs from the simulator:
$(cat "$WORK/compare-$table.txt")"
    note "$(grep '^compare' "$WORK/compare-$table.txt")"
}

# summary CFG TABLE FIELD — a number from crmtool summary (messages, tombstones, duplicates, keys)
# or ops.X for an op count.
summary_field() {
    local cfg=$1 table=$2 field=$3
    if ! "$CRMTOOL" summary -c "$cfg" "$table" >"$WORK/summary-$table.json" 2>"$WORK/summary-$table.err"; then
        # An impossible value, so that no assertion can pass on a failed read.
        echo "crmtool-failed:$(head -c 200 "$WORK/summary-$table.err" | tr '\n' ' ')"
        return 0
    fi
    json_get "$WORK/summary-$table.json" "$field"
}

# json_get FILE PATH — a scalar at a dotted path (numbers only), 0 when absent.
json_get() {
    local v
    v=$(tr -d '\n' <"$1" | grep -o "\"${2##*.}\":[0-9]*" | head -n 1 | cut -d: -f2)
    if [[ "$2" == ops.* ]]; then
        v=$(tr -d '\n' <"$1" | grep -o '"ops":{[^}]*}' | grep -o "\"${2#ops.}\":[0-9]*" | cut -d: -f2)
    fi
    echo "${v:-0}"
}

expect_eq() {
    [ "$1" = "$2" ] || fail "$3: got $1, expected $2"
    note "$3 = $1"
}

wait_for_exit() { # PID SECONDS -> sets EXIT_CODE, fails on timeout
    local pid=$1 secs=$2
    for _ in $(seq $((secs * 10))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            EXIT_CODE=0
            wait "$pid" || EXIT_CODE=$?
            return 0
        fi
        sleep 0.1
    done
    fail "process $pid still running after ${secs}s"
}

# wait_for_log PATTERN SECONDS
wait_for_log() {
    for _ in $(seq $(($2 * 10))); do
        grep -q "$1" "$WORK/run.log" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "log never showed '$1'; tail:
$(tail -n 20 "$WORK/run.log")"
}
