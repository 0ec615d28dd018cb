#!/usr/bin/env bash
# backfill.sh — backfill wall time against the rate-limit bound (issue #17 item 4). Backfills
# each CRM's simulator running at the API's DEFAULT limits (shared/reference/*-api.md) with the
# connector at its default pacing (no rate_limit/burst in the config) and prints, per table, the
# requests it made, the minimum time the limits allow for them, the time its first pass took and
# the 429s it received; then the totals per CRM. Goal: total <= 1.1 x bound, zero 429s.
#   CONNECTOR=pipedrive|copper|close (default: all three, one broker)  KAFKA_PORT=19894
#   sizes: PD_DEALS=1000 (persons, activities... scale with it), COPPER_N=50000, CLOSE_LEADS=2000
# The limits (bench/backfill_report.py computes the bounds from them):
#   pipedrive: 20 requests per rolling 2 s per token (lowest plan; sim default burst_limit=20).
#   copper:    180 requests per rolling 60 s (sim default rate_per_min=180).
#   close:     per API key and endpoint group, 20 requests/s (Close's documented example; sim
#              --param key_rps=20), org = 3 x key; groups are limited independently.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DELIVERY=${DELIVERY:-exactly-once}

if [ -z "${CONNECTOR:-}" ]; then
    export KAFKA_PORT=${KAFKA_PORT:-19894}
    export KAFKA_DIR=$ROOT/.cache/kafka-run/bench-backfill-$KAFKA_PORT
    "$ROOT/tests/kafka/broker.sh" stop >/dev/null 2>&1 || true
    rm -rf "$KAFKA_DIR"
    "$ROOT/tests/kafka/broker.sh" start >/dev/null 2>&1
    trap '"$ROOT/tests/kafka/broker.sh" stop >/dev/null 2>&1 || true' EXIT
    export BOOTSTRAP=127.0.0.1:$KAFKA_PORT
    rc=0
    for c in ${CONNECTORS:-pipedrive copper close}; do
        CONNECTOR=$c "$0" || rc=1
    done
    exit $rc
fi

: "${BOOTSTRAP:?set BOOTSTRAP, or leave CONNECTOR unset to start a broker}"
TEST_NAME=backfill_$CONNECTOR
source "$ROOT/tests/integration/lib.sh"
trap 'rc=$?; CFGS=(); (exit $rc); cleanup' EXIT # no decodability check: the tests do it
LOG_LEVEL=info
SIM_WAIT_STEPS=2400

case $CONNECTOR in
pipedrive)
    source "$ROOT/tests/integration/pipedrive_env.sh"
    D=${PD_DEALS:-1000}
    start_pipedrive --seed 81 --param deals="$D" --param persons=$((D / 2)) \
        --param organizations=$((D / 5)) --param activities=$((D / 2)) --param notes=$((D / 4)) \
        --param products=$((D / 10))
    TABLES=$PD_TABLES
    list=""
    for t in $TABLES; do list="$list${list:+, }\"$t\""; done
    write_cfg "$WORK/cfg" "$DELIVERY" "tables = { include = [ $list ]; };"
    ;;
copper)
    source "$ROOT/tests/integration/copper_env.sh"
    N=${COPPER_N:-50000}
    start_copper --seed 82 --param people=$((N / 3)) --param companies=$((N / 6)) \
        --param leads=$((N / 10)) --param opportunities=$((N / 10)) --param tasks=$((N / 10)) \
        --param activities=$((N / 6))
    TABLES="people companies leads opportunities tasks activities_search custom_field_definitions"
    list=""
    for t in $TABLES; do list="$list${list:+, }\"$t\""; done
    copper_cfg "$WORK/cfg" "$DELIVERY" 'page_size = 200;' "tables = { include = [ $list ]; };"
    ;;
close)
    source "$ROOT/tests/integration/close_env.sh"
    L=${CLOSE_LEADS:-2000}
    start_close --seed 83 --param leads="$L" --param activities=$((L * 5)) --param key_rps=20 \
        --param history_days=90 --param seed_events=0
    TABLES="leads contacts opportunities tasks activities users custom_fields lead_statuses
opportunity_statuses pipelines"
    close_cfg "$WORK/cfg" "$DELIVERY" 'search_page_size = 200;' \
        "start_date = \"$(date -u -d '-95 days' +%Y-%m-%d)\";" "$(close_tables $TABLES)"
    ;;
*)
    echo "backfill.sh: CONNECTOR must be pipedrive, copper or close" >&2
    exit 2
    ;;
esac

start=$(date +%s%N)
run_once "$WORK/cfg"
end=$(date +%s%N)
curl -fsS "${CTL_URL:-$SIM_URL}/_control/stats" >"$WORK/stats.json"
python3 "$ROOT/bench/backfill_report.py" "$CONNECTOR" "$WORK/run.log" "$WORK/stats.json" \
    "$(((end - start) / 1000000))"
