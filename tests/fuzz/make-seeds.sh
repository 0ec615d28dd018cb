#!/usr/bin/env bash
# Regenerates the committed seed corpora (tests/fuzz/corpus/) from the simulators: starts one
# crmsim per connector on an ephemeral loopback port and runs build/fuzz-seeds against them
# (`make fuzz-seeds`). The config seeds are the example config and the test configs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
SECRET=fuzz-secret
start() { # start NAME [args...]: prints the base URL
    local name=$1
    shift
    "$BUILD/crmsim" --crm "$name" --port 0 --port-file "$WORK/$name.port" "$@" \
        >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do [ -s "$WORK/$name.port" ] && break; sleep 0.05; done
    [ -s "$WORK/$name.port" ] || { echo "make-seeds: $name did not start" >&2; exit 1; }
}
url() { echo "http://127.0.0.1:$(cat "$WORK/$1.port")$2"; }
# One simulator per connector, in the registry's order (fuzz-seeds takes the URLs in that order).
URLS=()
for c in $("$BUILD/crmstream" connectors); do
    case $c in
    testcrm) start testcrm --param token=$SECRET && URLS+=("$(url testcrm '')") ;;
    close) start close --param api_key=$SECRET && URLS+=("$(url close /api/v1)") ;;
    copper)
        start copper --param token=$SECRET --param email=fuzz@example.com --param rate_per_min=0
        URLS+=("$(url copper /developer_api/v1)")
        ;;
    pipedrive) start pipedrive --param token=$SECRET && URLS+=("$(url pipedrive '')") ;;
    *)
        echo "make-seeds: no simulator setup for connector $c here: its tables get no seeds" >&2
        URLS+=(-)
        ;;
    esac
done
rm -rf tests/fuzz/corpus/fuzz_parse_page tests/fuzz/corpus/fuzz_raw_dom \
    tests/fuzz/corpus/fuzz_avro_peek tests/fuzz/corpus/fuzz_ratelimit tests/fuzz/corpus/fuzz_state
mkdir -p tests/fuzz/corpus
"$BUILD/fuzz-seeds" "${URLS[@]}"
mkdir -p tests/fuzz/corpus/fuzz_config
cp producer.cfg.example tests/fuzz/corpus/fuzz_config/producer.cfg.example
for f in deploy/*.cfg deploy/*/*.cfg; do
    [ -f "$f" ] && cp "$f" "tests/fuzz/corpus/fuzz_config/$(basename "$f")"
done
for d in tests/fuzz/corpus/*; do echo "$(basename "$d"): $(ls "$d" | wc -l) seeds, $(du -sk "$d" | cut -f1) KiB"; done
