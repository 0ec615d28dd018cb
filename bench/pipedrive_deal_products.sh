#!/usr/bin/env bash
# pipedrive_deal_products.sh — requests per synced deal_product: the connector's batch approach
# (/api/v2/deals/products?deal_ids=, 100 deals a request) against the anchor of the existing
# connectors (one /deals/{id}/products request per deal), on the Pipedrive simulator.
# Needs a Kafka broker: BOOTSTRAP (default 127.0.0.1:19392, or `source /tmp/kenv`).
# Usage: bench/pipedrive_deal_products.sh [DEALS]   (default 1000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEALS=${1:-1000}
BOOTSTRAP=${BOOTSTRAP:-127.0.0.1:19392}
WORK=$(mktemp -d)
TOKEN=$(printf 'bench' | sha1sum | cut -c1-40)
SIM_PID=
cleanup() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

"$ROOT/build/crmsim" --crm pipedrive --port 0 --port-file "$WORK/port" --seed 5 \
    --param token="$TOKEN" --param burst_limit=0 --param deals="$DEALS" --param products=50 \
    >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$WORK/port")"
prefix="bench$(date +%s%N | tail -c 7)"
cat >"$WORK/cfg" <<CFG
log_level = "warn";
kafka = { bootstrap_servers = "$BOOTSTRAP"; topic_prefix = "$prefix";
  state_topic = "$prefix.state"; delivery = "at-least-once"; };
sources = ( { type = "pipedrive"; name = "bench"; base_url = "$URL"; rate_limit = 0;
  tables = { include = ["deal_products"]; }; } );
CFG
stat() { curl -fsS "$URL/_control/stats" | tr ',{}' '\n\n\n' | { grep "\"$1" || true; } |
    awk -F: '{s += $NF} END {print s + 0}'; }

curl -fsS -X POST "$URL/_control/stats/reset" >/dev/null
PIPEDRIVE_API_TOKEN=$TOKEN "$ROOT/build/crmstream" run -c "$WORK/cfg" --once >"$WORK/run.log" 2>&1
batch_requests=$(stat /api/)
rows=$(curl -fsS -X POST -d '{"table":"deal_products"}' "$URL/_control/truth" |
    grep -o '"count":[0-9]*' | cut -d: -f2)
list_requests=$(stat /api/v2/deals\")
list_requests=$((list_requests + $(stat /api/v2/deals/archived)))

# The anchor, measured: the same deal list, then one request per live deal.
curl -fsS -X POST "$URL/_control/stats/reset" >/dev/null
for id in $(curl -fsS -X POST -d '{"table":"deals"}' "$URL/_control/truth" |
    grep -o '"id":[0-9]*,"update_time"' | cut -d: -f2 | cut -d, -f1); do
    curl -fsS -o /dev/null -H "x-api-token: $TOKEN" "$URL/api/v2/deals/$id/products?limit=500"
done
per_deal=$(( $(stat /api/v2/deals/) + list_requests ))

awk -v b="$batch_requests" -v p="$per_deal" -v r="$rows" -v d="$DEALS" 'BEGIN {
    printf "deals=%d deal_products=%d\n", d, r
    printf "batch (connector):  %5d requests  %.4f requests per deal_product\n", b, b / r
    printf "per deal (anchor):  %5d requests  %.4f requests per deal_product\n", p, p / r
    printf "ratio: %.1fx fewer requests\n", p / b }'
