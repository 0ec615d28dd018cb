#!/usr/bin/env bash
# connector.sh — CPU per record of the connectors users run (issue #17): a backfill of about N
# records of realistic shape from one CRM's simulator (rate limits lifted) into a real local
# broker, exactly-once, with every table of that CRM's main data. Prints the crmstream process's
# CPU time per published record (all threads), peak RSS, records, pages and requests.
#   CONNECTOR=<one of `crmstream connectors`>  N=20000  DELIVERY=exactly-once  KAFKA_PORT=19893
#   WRAP: a profiler the run goes under, e.g. WRAP="valgrind --tool=callgrind --trace-children=yes
#   --separate-threads=yes --callgrind-out-file=/tmp/cg.%p" (instructions per thread: unlike CPU
#   time, they do not move with the host's load) or WRAP="perf record -g -o /tmp/perf.data"
# Shapes: Close leads with embedded contacts/opportunities/tasks and custom fields plus
# activities of every type (half of N); Pipedrive deals with custom fields, persons,
# organizations, activities, notes, products; Copper people and companies with custom_fields
# arrays, leads, opportunities, tasks, activities; testcrm the engine's bench items.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONNECTOR=${CONNECTOR:-close}
N=${N:-20000}
DELIVERY=${DELIVERY:-exactly-once}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
gcc -O2 -Wall -Wextra -Werror -o "$OUT/measure" "$ROOT/bench/measure.c"

own_broker=
if [ -z "${BOOTSTRAP:-}" ]; then
    export KAFKA_PORT=${KAFKA_PORT:-19893}
    export KAFKA_DIR=$ROOT/.cache/kafka-run/bench-connector-$KAFKA_PORT
    "$ROOT/tests/kafka/broker.sh" stop >/dev/null 2>&1 || true
    rm -rf "$KAFKA_DIR"
    "$ROOT/tests/kafka/broker.sh" start >/dev/null 2>&1
    export BOOTSTRAP=127.0.0.1:$KAFKA_PORT
    own_broker=1
fi
TEST_NAME=bench_$CONNECTOR
source "$ROOT/tests/integration/lib.sh"
# no decodability check at the end (the tests do it); the broker goes with the bench
trap 'rc=$?; CFGS=(); [ -z "$own_broker" ] || "$ROOT/tests/kafka/broker.sh" stop >/dev/null 2>&1; (exit $rc); cleanup' EXIT
LOG_LEVEL=info
SIM_WAIT_STEPS=2400 # seeding large simulators takes a while

case $CONNECTOR in
close)
    source "$ROOT/tests/integration/close_env.sh"
    start_close --seed 71 --param leads=$((N / 6)) --param activities=$((N / 2)) \
        --param history_days=90 --param seed_events=0
    close_cfg "$WORK/cfg" "$DELIVERY" 'search_page_size = 200; activity_page_size = 100;' \
        "start_date = \"$(date -u -d '-95 days' +%Y-%m-%d)\";" 'rate_limit = 0;' \
        "$(close_tables leads contacts opportunities tasks activities users custom_fields contact_custom_fields opportunity_custom_fields activity_custom_fields shared_custom_fields)"
    ;;
pipedrive)
    source "$ROOT/tests/integration/pipedrive_env.sh"
    start_pipedrive --seed 72 --param burst_limit=0 --param deals=$((N / 3)) \
        --param persons=$((N / 4)) --param organizations=$((N / 10)) \
        --param activities=$((N / 6)) --param notes=$((N / 10)) --param products=$((N / 20))
    write_cfg "$WORK/cfg" "$DELIVERY" 'rate_limit = 0;' \
        'tables = { include = ["deals", "persons", "organizations", "activities", "notes", "products", "deal_fields", "person_fields", "organization_fields", "product_fields"]; };'
    ;;
copper)
    source "$ROOT/tests/integration/copper_env.sh"
    start_copper --seed 73 --param rate_per_min=0 --param people=$((N / 3)) \
        --param companies=$((N / 6)) --param leads=$((N / 10)) --param opportunities=$((N / 10)) \
        --param tasks=$((N / 10)) --param activities=$((N / 6))
    copper_cfg "$WORK/cfg" "$DELIVERY" 'page_size = 200;' 'rate_limit = 0;' \
        'tables = { include = ["people", "companies", "leads", "opportunities", "tasks", "activities_search", "custom_field_definitions"]; };'
    ;;
testcrm)
    start_sim bench --param items="$N" --param token=test-token
    write_cfg "$WORK/cfg" "$DELIVERY" 'rate_limit = 0;' 'options = { page_size = 1000; };' \
        'tables = { include = ["items"]; };'
    ;;
*)
    echo "connector.sh: no bench setup for CONNECTOR=$CONNECTOR (connectors: $("$CRMSTREAM" connectors | tr '\n' ' '))" >&2
    exit 2
    ;;
esac

start=$(date +%s%N)
${WRAP:-} "$OUT/measure" "$CRMSTREAM" run -c "$WORK/cfg" --once >"$WORK/run.log" 2>&1 ||
    fail "crmstream run --once failed: $(tail -n 5 "$WORK/run.log")"
end=$(date +%s%N)
stats=$(grep '^cpu_s=' "$WORK/run.log")
cpu=$(sed 's/.*cpu_s=\([0-9.]*\).*/\1/' <<<"$stats")
rss=$(sed 's/.*maxrss_kib=\([0-9]*\).*/\1/' <<<"$stats")
records=$(grep -o 'msg="pass done[^"]*published=[0-9]*' "$WORK/run.log" | sed 's/.*published=//' |
    awk '{s += $1} END {print s + 0}')
pages=$(grep -o 'msg="pass done[^"]*pages=[0-9]*' "$WORK/run.log" | sed 's/.*pages=//' |
    awk '{s += $1} END {print s + 0}')
requests=$(curl -fsS "$SIM_URL/_control/stats" 2>/dev/null | grep -o '"requests":[0-9]*' | head -n 1 | cut -d: -f2)
[ "$records" -gt 0 ] || fail "nothing was published"
awk -v c="$CONNECTOR" -v n="$records" -v cpu="$cpu" -v rss="$rss" -v pages="$pages" \
    -v req="${requests:-?}" -v wall="$(((end - start) / 1000000))" -v d="$DELIVERY" 'BEGIN {
    printf "bench %-9s (%s): %7d records  %6.2f us CPU/record  peak RSS %6.1f MiB  pages %d  requests %s  wall %.1f s\n",
        c, d, n, cpu * 1e6 / n, rss / 1024, pages, req, wall / 1000 }'
