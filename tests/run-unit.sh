#!/usr/bin/env bash
# Runs every unit-test binary given as arguments (under valgrind when VALGRIND=1) and prints one
# closing line "unit: N passed, N failed" counting test programs. JOBS=N (default 1) runs N
# binaries at once (they share no files or ports: temporary paths carry the pid, servers take
# ephemeral ports); their outputs are then printed in order once all have ended.
set -u
JOBS=${JOBS:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Runs binary $1 (number $2), its output into $out/$2.log, its verdict into $out/$2.rc.
run_one() {
    local cmd
    if [ "${VALGRIND:-0}" = 1 ]; then
        cmd=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "$1")
    else
        cmd=("$1")
    fi
    if [ "$JOBS" -le 1 ]; then
        "${cmd[@]}"
    else
        "${cmd[@]}" >"$out/$2.log" 2>&1
    fi
    echo $? >"$out/$2.rc"
}

n=0 running=0
for t in "$@"; do
    n=$((n + 1))
    if [ "$JOBS" -le 1 ]; then
        run_one "$t" "$n"
        continue
    fi
    run_one "$t" "$n" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

pass=0 fail=0 i=0
for t in "$@"; do
    i=$((i + 1))
    [ "$JOBS" -le 1 ] || cat "$out/$i.log"
    if [ "$(cat "$out/$i.rc" 2>/dev/null)" = 0 ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAILED: $t"
    fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
