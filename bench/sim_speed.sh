#!/usr/bin/env bash
# sim_speed.sh — how fast the CRM simulators seed and serve at bench sizes (issue #17: a 1 M
# record bench must measure the connector, not the simulator). For one CRM it starts the
# simulator with about N records in bench/connector.sh's proportions, prints the seeding time
# (start until the port file appears) and walks the main listings with bench/sim_pages.py, which
# prints the simulator's CPU per page and a hash of the records served.
#   CRM=close|pipedrive|copper  N=1000000  SEED=71  MAX_PAGES=(all)  CRMSIM=build/crmsim
# Same data for the same seed: run it at a small N before and after a simulator change and
# compare the sha256 columns (bench/README.md, "Simulator speed").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CRM=${CRM:-close}
N=${N:-1000000}
SEED=${SEED:-71}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
case $CRM in
close) args=(--param leads=$((N / 6)) --param activities=$((N / 2)) --param history_days=90
    --param seed_events=0) ;;
pipedrive) args=(--param burst_limit=0 --param deals=$((N / 3)) --param persons=$((N / 4))
    --param organizations=$((N / 10)) --param activities=$((N / 6)) --param notes=$((N / 10))
    --param products=$((N / 20))) ;;
copper) args=(--param rate_per_min=0 --param people=$((N / 3)) --param companies=$((N / 6))
    --param leads=$((N / 10)) --param opportunities=$((N / 10)) --param tasks=$((N / 10))
    --param activities=$((N / 6))) ;;
*)
    echo "sim_speed.sh: CRM must be close, pipedrive or copper" >&2
    exit 2
    ;;
esac
port_file=$OUT/sim_speed.$CRM.$$.port
rm -f "$port_file"
start=$(date +%s%N)
"${CRMSIM:-$ROOT/build/crmsim}" --crm "$CRM" --seed "$SEED" --epoch 2026-06-01T00:00:00Z --port 0 \
    --port-file "$port_file" "${args[@]}" >"$OUT/sim_speed.$CRM.$$.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$port_file" "$OUT/sim_speed.$CRM.$$.log"' EXIT
while [ ! -s "$port_file" ]; do
    kill -0 $pid 2>/dev/null || { cat "$OUT/sim_speed.$CRM.$$.log"; exit 1; }
    sleep 0.05
done
seeded=$(date +%s%N)
rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
printf '%s N=%d seed=%s: seeded in %.2f s, simulator RSS %.0f MiB\n' "$CRM" "$N" "$SEED" \
    "$(echo "($seeded - $start) / 1000000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
python3 "$ROOT/bench/sim_pages.py" "$CRM" "http://127.0.0.1:$(cat "$port_file")" $pid ${MAX_PAGES:-}
