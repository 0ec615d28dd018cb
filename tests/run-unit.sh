#!/usr/bin/env bash
# Runs every unit-test binary given as arguments (under valgrind when VALGRIND=1) and prints one
# closing line "unit: N passed, N failed" counting test programs.
set -u
pass=0 fail=0
for t in "$@"; do
    if [ "${VALGRIND:-0}" = 1 ]; then
        cmd=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "$t")
    else
        cmd=("$t")
    fi
    if "${cmd[@]}"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t"; fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
