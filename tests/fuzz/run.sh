#!/usr/bin/env bash
# Runs each libFuzzer target of $BUILD/fuzz (all, or those named as arguments) for FUZZ_SECONDS
# from its committed seeds (tests/fuzz/corpus/<target>/), keeping what it finds in
# $BUILD/corpus/<target>/ and crashes in $BUILD/artifacts/. Prints one line per target (runs,
# coverage, corpus size) and fails when any target crashed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
mkdir -p "$BUILD/artifacts"
export LSAN_OPTIONS="suppressions=$ROOT/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
failed=0
for t in "${targets[@]}"; do
    bin=$BUILD/fuzz/$t
    [ -x "$bin" ] || { echo "fuzz: $bin is not built (make SAN=fuzz fuzz-build)"; failed=1; continue; }
    mkdir -p "$BUILD/corpus/$t" "tests/fuzz/corpus/$t"
    log=$BUILD/artifacts/$t.log
    "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" \
        "$BUILD/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1)
    corp=$(ls "$BUILD/corpus/$t" | wc -l)
    if [ $rc -ne 0 ]; then
        failed=1
        echo "fuzz: $t CRASHED after ${runs:-?} runs (log $log):"
        grep -m 5 -E 'ERROR|SUMMARY|abort|runtime error' "$log"
        ls "$BUILD/artifacts/$t-"* 2>/dev/null | head -3
    else
        echo "fuzz: $t ${SECONDS_EACH}s: ${runs:-?} runs, ${cov:-cov: ?}, ${ft:-ft: ?}, corpus $corp"
    fi
done
exit $failed
