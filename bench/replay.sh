#!/usr/bin/env bash
# replay.sh — bench figure: `crmstream replay` throughput into SQLite and into PostgreSQL for N
# events (default 1,000,000) of the bench simulator's items table (12 columns: text, double,
# bigint, boolean, timestamps, JSON), on this machine. Prints rows/s for each store, from the
# partition assignment to the end (the replay's own final progress line); the sync that fills
# the topic is not timed. Needs a broker: BOOTSTRAP and KAFKA_PORT (PostgreSQL is started on
# KAFKA_PORT+2 by tests/pg/pg.sh). Goals: >= 100 k rows/s SQLite, >= 30 k rows/s PostgreSQL.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-1000000}
: "${BOOTSTRAP:?set BOOTSTRAP and KAFKA_PORT (a running tests/kafka/broker.sh)}"
TEST_NAME=bench_replay
source "$ROOT/tests/integration/lib.sh"
source "$ROOT/tests/integration/replay_env.sh"
start_pg
start_sim bench --param items="$N" --param token=test-token
write_cfg "$WORK/cfg" exactly-once 'rate_limit = 0;' 'tables = { include = [ "items" ]; };' \
    'options = { page_size = 1000; };'
run_once "$WORK/cfg"
for url in "$SQLITE_URL" "$PG_URL"; do
    "$CRMSTREAM" replay -c "$WORK/cfg" --to "$url" --once >"$WORK/replay-${url%%:*}.log" 2>&1 ||
        fail "replay into $url failed: $(tail -n 3 "$WORK/replay-${url%%:*}.log")"
    line=$(grep 'msg="replay: [0-9]* rows' "$WORK/replay-${url%%:*}.log" | tail -n 1)
    rows=$(echo "$line" | grep -o 'replay: [0-9]* rows' | grep -o '[0-9]*')
    rate=$(echo "$line" | grep -o '[0-9]* rows/s overall' | grep -o '^[0-9]*')
    printf 'replay into %-10s %8s rows  %7s rows/s\n' "${url%%:*}" "$rows" "$rate"
done
CFGS=() # nothing to check for decodability here
