#!/usr/bin/env bash
# peer.sh — optional peer comparison (issue #17 item 5): CPU per record of a Singer tap against
# crmstream's on the same simulated data. crmstream's figure comes from bench/connector.sh
# (rate limits lifted, all threads of the process); the tap runs against a simulator started
# with the same seed and sizes, its process CPU (user + system, children included) measured by
# bench/measure.c, its records counted from its RECORD messages.
#
# You supply the tap (this machine has no network, so none is installed and this script was not
# run against a real tap; without TAP it only explains itself):
#   python3 -m venv /tmp/tapvenv && /tmp/tapvenv/bin/pip install -e /path/to/tap-closeio
#   CONNECTOR=close TAP=/tmp/tapvenv/bin/tap-closeio N=30000 bench/peer.sh
#   CONNECTOR=pipedrive TAP=/tmp/tapvenv/bin/tap-pipedrive N=30000 bench/peer.sh
# Settings: CONNECTOR (close | pipedrive), TAP (the tap's executable in its venv), N (records,
# split over the tables as bench/connector.sh does), TAP_CONFIG_EXTRA (JSON object merged into
# the tap config, e.g. '{"date_window": 30}'), TAP_CATALOG_FLAG (--catalog, or --properties for
# older taps), KAFKA_PORT (crmstream's broker, as bench/connector.sh).
# The taps hard-code their API host (api.close.com, api.pipedrive.com), so the script puts a
# sitecustomize.py on the tap's PYTHONPATH that rewrites requests' URLs for those hosts to the
# simulator; nothing in the tap checkout changes. The tap config carries the simulator's key /
# token and a start_date before the simulated history; discovery selects every stream.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONNECTOR=${CONNECTOR:-close}
N=${N:-30000}

if [ -z "${TAP:-}" ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    echo
    echo "peer.sh: no tap given (TAP=/path/to/venv/bin/tap-...): nothing measured." >&2
    exit 2
fi
[ -x "$TAP" ] || {
    echo "peer.sh: TAP=$TAP is not an executable" >&2
    exit 2
}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
gcc -O2 -Wall -Wextra -Werror -o "$OUT/measure" "$ROOT/bench/measure.c"

# crmstream on the connector's simulator (same seeds and sizes as below)
ours=$(CONNECTOR=$CONNECTOR N=$N "$ROOT/bench/connector.sh" | grep '^bench ')
echo "$ours"
ours_us=$(sed 's/.*records *\([0-9.]*\) us CPU.*/\1/' <<<"$ours")

WORK=$OUT/peer-$CONNECTOR
rm -rf "$WORK"
mkdir -p "$WORK/pyhook"
case $CONNECTOR in
close)
    key=peer-close-key
    sim=(--crm close --seed 71 --param api_key=$key --param leads=$((N / 6))
        --param activities=$((N / 2)) --param history_days=90 --param seed_events=0)
    hosts=https://api.close.com
    config="{\"api_key\": \"$key\", \"start_date\": \"$(date -u -d '-95 days' +%Y-%m-%d)\"}"
    ;;
pipedrive)
    token=0123456789abcdef0123456789abcdef01234567
    sim=(--crm pipedrive --seed 72 --param token=$token --param burst_limit=0
        --param deals=$((N / 3)) --param persons=$((N / 4)) --param organizations=$((N / 10))
        --param activities=$((N / 6)) --param notes=$((N / 10)) --param products=$((N / 20)))
    hosts=https://api.pipedrive.com,https://api-proxy.pipedrive.com
    config="{\"api_token\": \"$token\", \"start_date\": \"$(date -u -d '-400 days' +%Y-%m-%dT00:00:00Z)\"}"
    ;;
*)
    echo "peer.sh: CONNECTOR must be close or pipedrive (the taps the issue compares)" >&2
    exit 2
    ;;
esac
"$ROOT/build/crmsim" "${sim[@]}" --port 0 --port-file "$WORK/sim.port" >"$WORK/sim.log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true' EXIT
for _ in $(seq 2400); do
    [ -s "$WORK/sim.port" ] && break
    sleep 0.05
done
[ -s "$WORK/sim.port" ] || {
    echo "peer.sh: simulator did not start: $(cat "$WORK/sim.log")" >&2
    exit 1
}
sim_url=http://127.0.0.1:$(cat "$WORK/sim.port")

cat >"$WORK/pyhook/sitecustomize.py" <<'PY'
# Written by bench/peer.sh: send the tap's requests for the CRM's API hosts to the simulator.
import os

try:
    import requests

    _TARGET = os.environ["PEER_SIM_URL"]
    _HOSTS = [h for h in os.environ.get("PEER_API_HOSTS", "").split(",") if h]
    _request = requests.Session.request

    def _to_simulator(self, method, url, *args, **kwargs):
        for host in _HOSTS:
            if isinstance(url, str) and url.startswith(host):
                url = _TARGET + url[len(host):]
                break
        return _request(self, method, url, *args, **kwargs)

    requests.Session.request = _to_simulator
except ImportError:
    pass
PY
python3 - "$config" "${TAP_CONFIG_EXTRA:-{\}}" >"$WORK/config.json" <<'PY'
import json, sys
cfg = json.loads(sys.argv[1])
cfg.update(json.loads(sys.argv[2]))
print(json.dumps(cfg))
PY
export PYTHONPATH=$WORK/pyhook${PYTHONPATH:+:$PYTHONPATH} PEER_SIM_URL=$sim_url PEER_API_HOSTS=$hosts
"$TAP" --config "$WORK/config.json" --discover >"$WORK/discovered.json" 2>"$WORK/discover.log" || {
    echo "peer.sh: $TAP --discover failed: $(tail -n 5 "$WORK/discover.log")" >&2
    exit 1
}
python3 - "$WORK/discovered.json" >"$WORK/catalog.json" <<'PY'
import json, sys
cat = json.load(open(sys.argv[1]))
for s in cat.get("streams", []):
    s["selected"] = True  # older taps
    for m in s.get("metadata", []):
        if m.get("breadcrumb") == []:
            m.setdefault("metadata", {})["selected"] = True
print(json.dumps(cat))
PY
"$OUT/measure" "$TAP" --config "$WORK/config.json" "${TAP_CATALOG_FLAG:---catalog}" \
    "$WORK/catalog.json" >"$WORK/records.jsonl" 2>"$WORK/tap.log" || {
    echo "peer.sh: the tap failed: $(grep -v '^cpu_s=' "$WORK/tap.log" | tail -n 5)" >&2
    exit 1
}
stats=$(grep '^cpu_s=' "$WORK/tap.log" | tail -n 1)
cpu=$(sed 's/.*cpu_s=\([0-9.]*\).*/\1/' <<<"$stats")
records=$(grep -c '"type": *"RECORD"' "$WORK/records.jsonl" || true)
[ "${records:-0}" -gt 0 ] || {
    echo "peer.sh: the tap emitted no RECORD messages (see $WORK/tap.log)" >&2
    exit 1
}
awk -v c="$CONNECTOR" -v tap="$(basename "$TAP")" -v n="$records" -v cpu="$cpu" -v ours="$ours_us" 'BEGIN {
    theirs = cpu * 1e6 / n
    printf "peer %-9s %s: %d records  %.2f us CPU/record (process and children)\n", c, tap, n, theirs
    printf "ratio: %s uses %.1fx the CPU per record of crmstream (%.2f us/record)\n", tap, theirs / ours, ours }'
