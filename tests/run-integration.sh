#!/usr/bin/env bash
# Runs every tests/integration/[0-9]*.sh against one real Kafka broker (tests/kafka/broker.sh),
# then prints "integration: N passed, N failed". TESTS="name1 name2" runs a subset.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export KAFKA_PORT=${KAFKA_PORT:-19392}
export KAFKA_DIR=${KAFKA_DIR:-$ROOT/.cache/kafka-run/itest-$KAFKA_PORT}
export BOOTSTRAP=127.0.0.1:$KAFKA_PORT
BROKER=$ROOT/tests/kafka/broker.sh

"$BROKER" stop >/dev/null 2>&1 || true
rm -rf "$KAFKA_DIR"
"$BROKER" start || { echo "integration: 0 passed, 1 failed (broker did not start)"; exit 1; }
trap '"$BROKER" stop >/dev/null 2>&1' EXIT

pass=0 fail=0 failed=()
for t in "$ROOT"/tests/integration/[0-9]*.sh; do
    name=$(basename "$t" .sh)
    if [ -n "${TESTS:-}" ] && [[ " $TESTS " != *" $name "* ]]; then continue; fi
    start=$(date +%s)
    if bash "$t"; then
        pass=$((pass + 1))
        echo "ok   $name ($(($(date +%s) - start))s)"
    else
        fail=$((fail + 1))
        failed+=("$name")
        echo "FAIL $name ($(($(date +%s) - start))s)"
    fi
done
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]}"
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
