#!/usr/bin/env bash
# close_backfill.sh — bench figure: Close backfill wall time against the simulator's rate-limit
# bound. The simulator allows RATE requests/s (token bucket, burst BURST); the source is
# configured with the same rate, as a user would set Close's per-key limit. The bound is the
# requests the backfill needed (all API requests minus 429 answers) / RATE; the ratio
# wall / bound says how close the connector runs to the API's limit (1.0 = at the limit).
# Needs a broker: BOOTSTRAP (e.g. `source /tmp/kenv`). Sizes: LEADS, ACTIVITIES, DELIVERY.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RATE=${RATE:-10}
BURST=${BURST:-5}
LEADS=${LEADS:-1000}
ACTIVITIES=${ACTIVITIES:-6000}
DELIVERY=${DELIVERY:-exactly-once}
: "${BOOTSTRAP:?set BOOTSTRAP (source /tmp/kenv)}"
source "$ROOT/tests/integration/lib.sh"
source "$ROOT/tests/integration/close_env.sh"
start_close --seed 99 --param leads="$LEADS" --param activities="$ACTIVITIES" \
    --rate "$RATE" --burst "$BURST"
close_cfg "$WORK/cfg" "$DELIVERY" 'search_page_size = 200;' "rate_limit = $RATE;" "burst = $BURST;" \
    "$(close_tables leads contacts opportunities tasks activities event_log users custom_fields lead_statuses opportunity_statuses pipelines)"
start=$(date +%s.%N)
run_once "$WORK/cfg"
wall=$(echo "$(date +%s.%N) - $start" | bc -l)
stats=$(sim_get stats | tr -d '\n')
total=$(echo "$stats" | grep -o '"requests":[0-9]*' | cut -d: -f2)
limited=$(echo "$stats" | grep -o '"rate_limited":[0-9]*' | cut -d: -f2)
needed=$((total - limited))
bound=$(echo "$needed / $RATE" | bc -l)
printf 'close backfill: leads=%s activities=%s delivery=%s rate=%s/s burst=%s\n' \
    "$LEADS" "$ACTIVITIES" "$DELIVERY" "$RATE" "$BURST"
printf '  requests needed=%d (429 answers=%d)  bound=%.1fs  wall=%.1fs  ratio=%.2f\n' \
    "$needed" "$limited" "$bound" "$wall" "$(echo "$wall / $bound" | bc -l)"
