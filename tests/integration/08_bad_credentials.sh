#!/usr/bin/env bash
# A rejected token: `check` and `run` fail with exit code 5 and a clear message naming the HTTP
# status and body; the token never appears in any output.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 16 --param items=20
write_cfg "$WORK/cfg" exactly-once
rc=0
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check-ok.txt" 2>&1 || rc=$?
expect_eq "$rc" 0 "check exit code with a good token"
grep -q "^source acme .* OK" "$WORK/check-ok.txt" || fail "no OK line: $(cat "$WORK/check-ok.txt")"
grep -q "^kafka .* OK" "$WORK/check-ok.txt" || fail "no kafka OK line"

export TESTCRM_TOKEN=wrong-secret-7f3a9
rc=0
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check-bad.txt" 2>&1 || rc=$?
expect_eq "$rc" 5 "check exit code with a bad token"
grep -q "ERROR .*HTTP 401.*invalid token" "$WORK/check-bad.txt" ||
    fail "unclear check error: $(cat "$WORK/check-bad.txt")"
run_once "$WORK/cfg" 5
grep -q "credentials rejected" "$WORK/run.log" || fail "run did not say the credentials were rejected"
if grep -rq "wrong-secret-7f3a9" "$WORK"/*.txt "$WORK/run.log"; then fail "the token was printed"; fi
note "token never printed"
