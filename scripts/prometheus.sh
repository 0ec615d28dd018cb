#!/usr/bin/env bash
# prometheus.sh — a throwaway Prometheus (Debian package `prometheus`) scraping one crmstream, so
# that the dashboard's queries and the alert rules run on what crmstream really serves: used by
# scripts/demo.sh (the README's dashboard picture) and tests/integration/56_dashboards_alerts.sh.
#   prometheus.sh start DIR PORT TARGET [INTERVAL]   TARGET host:port of crmstream's /metrics
#   prometheus.sh stop DIR
# Loads deploy/prometheus/alerts.yml. Logs in DIR/prometheus.log.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR PORT TARGET [INTERVAL] | stop DIR" >&2; exit 2; }
case "$cmd" in
start)
    port=$3 target=$4 interval=${5:-2s}
    command -v prometheus >/dev/null || { echo "prometheus.sh: prometheus is not installed (make deps)" >&2; exit 1; }
    mkdir -p "$dir"
    cp "$ROOT/deploy/prometheus/alerts.yml" "$dir/alerts.yml"
    cat >"$dir/prometheus.yml" <<YML
global: { scrape_interval: $interval, evaluation_interval: $interval }
rule_files: [ alerts.yml ]
scrape_configs:
  - job_name: crmstream
    static_configs: [ { targets: [ "$target" ] } ]
YML
    prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" >"$dir/prometheus.log" 2>&1 &
    echo $! >"$dir/prometheus.pid"
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && exit 0
        sleep 0.1
    done
    echo "prometheus.sh: Prometheus did not start: $(tail -n 5 "$dir/prometheus.log")" >&2
    exit 1
    ;;
stop)
    [ -f "$dir/prometheus.pid" ] || exit 0
    pid=$(cat "$dir/prometheus.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/prometheus.pid"
    ;;
*)
    echo "usage: $0 start DIR PORT TARGET [INTERVAL] | stop DIR" >&2
    exit 2
    ;;
esac
